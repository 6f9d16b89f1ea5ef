//! Text helpers of the apps: token estimates for budgets, the question's language, SQL-
//! free sentence picking for extractive answers, and citation markers.

use berth_ingest::tokenize::{Tokenizer, WordTokenizer};
use std::collections::BTreeSet;

/// Whether `c` is written without spaces between words (Han, kana, Hangul syllables, Thai),
/// so that each character counts as a token of its own.
fn is_unspaced(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // CJK extension A
        | 0x4E00..=0x9FFF    // CJK unified ideographs
        | 0xF900..=0xFAFF    // CJK compatibility ideographs
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0x0E00..=0x0E7F    // Thai
        | 0x20000..=0x2FA1F) // CJK extensions B–F
}

/// An estimate of how many tokens a chat model's tokenizer makes of `text`: words and
/// punctuation marks, plus one per character of scripts written without spaces (a word
/// count would see a whole Chinese sentence as one token). Errs on the high side for
/// English prose, which is the safe side for a budget.
pub(crate) fn estimate_tokens(text: &str) -> usize {
    let unspaced = text.chars().filter(|&c| is_unspaced(c)).count();
    let spaced: String = text
        .chars()
        .map(|c| if is_unspaced(c) { ' ' } else { c })
        .collect();
    WordTokenizer.count(&spaced) + unspaced
}

/// The longest prefix of `text` within `budget` estimated tokens, cut at a character
/// boundary (at a sentence or word end when one is near).
pub(crate) fn truncate_to_tokens(text: &str, budget: usize) -> &str {
    if estimate_tokens(text) <= budget {
        return text;
    }
    // Binary search on character offsets.
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let (mut lo, mut hi) = (0usize, bounds.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if estimate_tokens(&text[..bounds.get(mid).copied().unwrap_or(text.len())]) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let cut = bounds.get(lo).copied().unwrap_or(text.len());
    let head = &text[..cut];
    match head.rfind(['.', '。', '!', '?', '\n']) {
        Some(i) if i > cut / 2 => &text[..i + head[i..].chars().next().map_or(1, char::len_utf8)],
        _ => match head.rfind(char::is_whitespace) {
            Some(i) if i > cut / 2 => &text[..i],
            _ => head,
        },
    }
}

/// The language to answer in, named for the model's instructions, from the script the
/// question is written in; `None` for Latin script and anything unrecognised (the model
/// is then told to answer in the question's language).
pub(crate) fn language_of(question: &str) -> Option<&'static str> {
    let (mut han, mut kana, mut hangul, mut cyrillic, mut arabic, mut greek, mut hebrew) =
        (0, 0, 0, 0, 0, 0, 0);
    let (mut thai, mut devanagari, mut letters) = (0, 0, 0);
    for c in question.chars() {
        if !c.is_alphabetic() {
            continue;
        }
        letters += 1;
        match c as u32 {
            0x3040..=0x30FF => kana += 1,
            0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F => han += 1,
            0xAC00..=0xD7AF | 0x1100..=0x11FF => hangul += 1,
            0x0400..=0x04FF => cyrillic += 1,
            0x0600..=0x06FF => arabic += 1,
            0x0370..=0x03FF => greek += 1,
            0x0590..=0x05FF => hebrew += 1,
            0x0E00..=0x0E7F => thai += 1,
            0x0900..=0x097F => devanagari += 1,
            _ => {}
        }
    }
    if letters == 0 {
        return None;
    }
    let share = |n: usize| n * 3 >= letters; // a third of the letters decides
    if kana > 0 && share(kana + han) {
        Some("Japanese")
    } else if share(hangul) {
        Some("Korean")
    } else if share(han) {
        Some("Chinese")
    } else if share(cyrillic) {
        Some("Russian")
    } else if share(arabic) {
        Some("Arabic")
    } else if share(greek) {
        Some("Greek")
    } else if share(hebrew) {
        Some("Hebrew")
    } else if share(thai) {
        Some("Thai")
    } else if share(devanagari) {
        Some("Hindi")
    } else {
        None
    }
}

/// Splits a passage into sentences (on `.`, `!`, `?`, their CJK forms, and blank lines),
/// keeping each sentence's own text.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let end = i + c.len_utf8();
        let boundary = match c {
            '。' | '！' | '？' => true,
            '.' | '!' | '?' => chars.peek().is_none_or(|(_, n)| n.is_whitespace()),
            // A blank line ends a paragraph; a line of a table or list ends its item.
            '\n' => {
                let line = text[start..i].trim_start();
                let next = text[end..].trim_start();
                chars.peek().is_some_and(|(_, n)| *n == '\n')
                    || line.starts_with(['|', '-', '*'])
                    || line.contains(" | ")
                    || next.starts_with(['|', '-', '*'])
            }
            _ => false,
        };
        if boundary {
            let s = text[start..end].trim();
            if !s.is_empty() {
                out.push(s);
            }
            start = end;
        }
    }
    let s = text[start..].trim();
    if !s.is_empty() {
        out.push(s);
    }
    out
}

/// Up to `max` sentences of `passage` sharing the most (stemmed) terms with the
/// question, in passage order; the passage's opening when none shares any. Lines that
/// only repeat one of the passage's `headings` are not sentences.
pub(crate) fn best_sentences(
    passage: &str,
    question: &str,
    headings: &[String],
    max: usize,
) -> String {
    let wanted: BTreeSet<String> = berth_index::bm25_terms(question).into_iter().collect();
    let mut all = sentences(passage);
    if all.len() > 1 {
        all.retain(|s| !headings.iter().any(|h| h.trim() == *s));
    }
    let mut scored: Vec<(usize, usize)> = all
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let terms: BTreeSet<String> = berth_index::bm25_terms(s).into_iter().collect();
            (terms.intersection(&wanted).count(), i)
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut chosen: Vec<usize> = scored
        .iter()
        .filter(|(score, _)| *score > 0)
        .take(max)
        .map(|&(_, i)| i)
        .collect();
    if chosen.is_empty() {
        chosen = (0..all.len().min(max)).collect();
    }
    chosen.sort_unstable();
    let picked: Vec<&str> = chosen.iter().map(|&i| all[i]).collect();
    let text = picked.join(" ");
    let cut = truncate_to_tokens(&text, 100);
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        text
    }
}

/// The citation numbers `[n]` (also `[n, m]` and `[n][m]`) that occur in `answer`.
pub(crate) fn cited_numbers(answer: &str) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    let mut rest = answer;
    while let Some(open) = rest.find('[') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find(']') else { break };
        let inside = &rest[..close];
        if inside.len() <= 40
            && inside
                .chars()
                .all(|c| c.is_ascii_digit() || c == ',' || c == ' ')
        {
            out.extend(
                inside
                    .split(',')
                    .filter_map(|n| n.trim().parse::<usize>().ok()),
            );
        }
        rest = &rest[close..];
    }
    out
}

/// A snippet of a passage for citations: its opening, cut at a word, with an ellipsis.
pub(crate) fn snippet(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut = truncate_to_tokens(&flat, 48);
    if cut.len() < flat.len() {
        format!("{cut}…")
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cjk_characters_count_one_token_each() {
        assert_eq!(estimate_tokens("hello world"), 2);
        assert_eq!(estimate_tokens("你好世界"), 4);
        assert_eq!(estimate_tokens("berth 的网关"), 4);
    }

    #[test]
    fn truncation_stays_within_budget_on_char_boundaries() {
        let text = "第一句话。第二句话很长很长。Third sentence here. Fourth one!";
        for budget in 0..40 {
            let cut = truncate_to_tokens(text, budget);
            assert!(estimate_tokens(cut) <= budget, "{budget}: {cut}");
            assert!(text.starts_with(cut));
        }
    }

    #[test]
    fn languages_by_script() {
        assert_eq!(language_of("网关如何选择端口？"), Some("Chinese"));
        assert_eq!(
            language_of("ゲートウェイはどのポートを使いますか"),
            Some("Japanese")
        );
        assert_eq!(
            language_of("게이트웨이는 어떤 포트를 사용합니까"),
            Some("Korean")
        );
        assert_eq!(language_of("Как выбирается порт?"), Some("Russian"));
        assert_eq!(language_of("How are ports chosen?"), None);
        assert_eq!(language_of("Wie werden Ports gewählt?"), None);
    }

    #[test]
    fn best_sentences_prefer_the_question_terms() {
        let passage = "Berth is a tool. Host ports are chosen from a free range. The sky is blue.";
        let best = best_sentences(passage, "how are host ports chosen", &[], 1);
        assert_eq!(best, "Host ports are chosen from a free range.");
        let headed = format!("Host ports\n\n{passage}");
        let best = best_sentences(
            &headed,
            "how are host ports chosen",
            &["Host ports".into()],
            2,
        );
        // The heading line shares every term but is not a sentence of the passage.
        assert_eq!(best, "Host ports are chosen from a free range.");
        let none = best_sentences(passage, "zebra", &[], 1);
        assert_eq!(none, "Berth is a tool.");
    }

    #[test]
    fn citation_markers_are_found() {
        let cited = cited_numbers("A [1]. B [2, 3][4]. Not [x] nor [12a]. Ends [");
        assert_eq!(cited.into_iter().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    }
}
