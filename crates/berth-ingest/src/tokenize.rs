//! Token counting for chunk sizes.
//!
//! Chunk sizes are in tokens of a named tokenizer: a Hugging Face `tokenizer.json` (the
//! embedding model's own, so a chunk fits the model's window), or the built-in `words`
//! tokenizer — a fast approximation that counts words and punctuation marks, used when
//! none is named.

use std::ops::Range;
use std::path::Path;

/// Splits text into tokens, reporting each token's byte range.
pub trait Tokenizer: Send + Sync {
    /// The tokenizer's name, part of the pipeline fingerprint.
    fn name(&self) -> &str;

    /// The byte ranges of the tokens of `text`, in order. Ranges fall on character
    /// boundaries.
    fn tokens(&self, text: &str) -> Vec<Range<usize>>;

    /// How many tokens `text` has.
    fn count(&self, text: &str) -> usize {
        self.tokens(text).len()
    }
}

/// The built-in tokenizer: each run of letters or digits is a token, and so is each other
/// non-space character. Close to what subword tokenizers give for English prose, and
/// very fast.
#[derive(Debug, Clone, Copy, Default)]
pub struct WordTokenizer;

impl Tokenizer for WordTokenizer {
    fn name(&self) -> &str {
        "words"
    }

    fn tokens(&self, text: &str) -> Vec<Range<usize>> {
        let mut out = Vec::with_capacity(text.len() / 5);
        let mut start: Option<usize> = None;
        for (i, c) in text.char_indices() {
            if c.is_alphanumeric() {
                if start.is_none() {
                    start = Some(i);
                }
                continue;
            }
            if let Some(s) = start.take() {
                out.push(s..i);
            }
            if !c.is_whitespace() {
                out.push(i..i + c.len_utf8());
            }
        }
        if let Some(s) = start {
            out.push(s..text.len());
        }
        out
    }

    fn count(&self, text: &str) -> usize {
        let mut n = 0;
        let mut in_word = false;
        for c in text.chars() {
            if c.is_alphanumeric() {
                if !in_word {
                    n += 1;
                    in_word = true;
                }
            } else {
                in_word = false;
                if !c.is_whitespace() {
                    n += 1;
                }
            }
        }
        n
    }
}

/// A Hugging Face tokenizer loaded from a local `tokenizer.json` (never downloaded).
pub struct HfTokenizer {
    name: String,
    inner: tokenizers::Tokenizer,
}

impl std::fmt::Debug for HfTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HfTokenizer")
            .field("name", &self.name)
            .finish()
    }
}

impl HfTokenizer {
    /// Loads `tokenizer.json` from a file, or from a model directory holding one.
    pub fn load(path: &Path) -> Result<HfTokenizer, String> {
        let file = if path.is_dir() {
            path.join("tokenizer.json")
        } else {
            path.to_path_buf()
        };
        let mut inner = tokenizers::Tokenizer::from_file(&file)
            .map_err(|e| format!("cannot load tokenizer {}: {e}", file.display()))?;
        // Count every token: no truncation, no padding, no special tokens added.
        let _ = inner.with_truncation(None);
        inner.with_padding(None);
        Ok(HfTokenizer {
            name: format!("hf:{}", file.display()),
            inner,
        })
    }
}

impl Tokenizer for HfTokenizer {
    fn name(&self) -> &str {
        &self.name
    }

    fn tokens(&self, text: &str) -> Vec<Range<usize>> {
        match self.inner.encode(text, false) {
            Ok(enc) => enc
                .get_offsets()
                .iter()
                .filter(|(s, e)| e > s)
                .map(|&(s, e)| {
                    // Offsets are byte offsets; keep them on character boundaries.
                    let s = floor_char_boundary(text, s);
                    let e = ceil_char_boundary(text, e);
                    s..e
                })
                .collect(),
            // Tokenizing never fails for valid UTF-8 in practice; fall back to words.
            Err(_) => WordTokenizer.tokens(text),
        }
    }
}

/// The largest character boundary at or before `i`.
pub fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest character boundary at or after `i`.
pub fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_punctuation_are_tokens() {
        let t = WordTokenizer;
        let text = "Hello, wörld! 42 日本";
        let toks: Vec<&str> = t.tokens(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(toks, ["Hello", ",", "wörld", "!", "42", "日本"]);
        assert_eq!(t.count(text), 6);
    }

    proptest::proptest! {
        #[test]
        fn count_agrees_with_tokens(s in "\\PC{0,200}") {
            proptest::prop_assert_eq!(WordTokenizer.count(&s), WordTokenizer.tokens(&s).len());
        }
    }
}
