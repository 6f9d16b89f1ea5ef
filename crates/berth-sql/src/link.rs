//! Schema linking: which tables a question needs, within a token budget.
//!
//! Each table is scored against the question (and its instructions) by lexical overlap —
//! table-name words (with a bonus when the question names the whole name), column-name
//! words, description words and sample values (matched as phrases and weighted by how few
//! tables hold them), with snake_case/camelCase split, light stemming and IDF weighting over
//! the schema's tables — plus, when an [`Embedder`] is given, the cosine similarity between
//! the question and a short text about the table (spread over 0..1 between the least and the
//! most similar table). The best tables are the seeds; seeds are then joined along the join
//! graph (declared foreign keys, plus joins inferred from key-like column names and from
//! descriptions that say "references the X table"), so bridge tables that no word points at
//! are included; finally the other relevant tables are added, best first, each together
//! with its cheapest join path to what is chosen, while the budget allows. Tables that only
//! bridge and that no word points at are not added for their own sake. Small schemas are
//! included whole.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use berth_models::Embedder;
use serde::Serialize;

use crate::error::Error;
use crate::schema::{Schema, Table, estimate_tokens, render_table};

/// How linking chooses.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkOptions {
    /// Schemas with at most this many tables are included whole. Default 10.
    pub whole_schema_tables: usize,
    /// The most estimated tokens the linked tables may take in the prompt; a schema that
    /// fits is included whole. Default 4,000.
    pub max_tokens: usize,
    /// A further cap as a share of the whole schema's tokens, for schemas that would fit
    /// `max_tokens` but should still be cut (`None`: no such cap, so a schema within
    /// `max_tokens` is included whole). Default `Some(0.5)`: a question over a schema of
    /// more than `whole_schema_tables` tables sees at most half of it (the share actually
    /// used is usually well below, since only relevant tables are added).
    pub max_share: Option<f32>,
    /// A table is a seed when its score is at least this share of the best score.
    /// Default 0.6.
    pub seed_ratio: f32,
    /// The most seeds. Default 5.
    pub max_seeds: usize,
    /// Other tables whose score is at least this share of the best score are added, best
    /// first and each with its cheapest join path to the chosen tables, while the budget
    /// allows. Default 0.35.
    pub neighbour_ratio: f32,
    /// Weight of the embedding score next to the lexical score (both scaled to 0..1).
    /// Default 0.5.
    pub embedding_weight: f32,
}

impl Default for LinkOptions {
    fn default() -> LinkOptions {
        LinkOptions {
            whole_schema_tables: 10,
            max_tokens: 4_000,
            max_share: Some(0.5),
            seed_ratio: 0.6,
            max_seeds: 5,
            neighbour_ratio: 0.35,
            embedding_weight: 0.5,
        }
    }
}

/// The tables chosen for a question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Linked {
    /// Indexes into the schema's tables, sorted.
    pub tables: Vec<usize>,
    /// Whether the whole schema was taken (small schema or within budget).
    pub whole: bool,
    /// Every table's score, by name (lexical plus weighted embedding score).
    pub scores: BTreeMap<String, f32>,
    /// Estimated prompt tokens of the chosen tables.
    pub tokens: usize,
    /// Estimated prompt tokens of the whole schema.
    pub full_tokens: usize,
}

/// What linking precomputes about a schema (terms, join graph, table embeddings).
/// Build it once per schema; linking a question is then cheap.
pub struct SchemaIndex {
    tables: Vec<TableTerms>,
    idf: HashMap<String, f32>,
    /// IDF of each sample value (as a phrase) over the tables.
    value_idf: HashMap<Vec<String>, f32>,
    graph: Vec<BTreeSet<usize>>,
    tokens: Vec<usize>,
    full_tokens: usize,
    embeddings: Option<Vec<Vec<f32>>>,
}

struct TableTerms {
    name: BTreeSet<String>,
    columns: BTreeSet<String>,
    descriptions: BTreeSet<String>,
    /// Sample values as term sequences (matched as phrases).
    values: Vec<Vec<String>>,
}

const W_NAME: f32 = 3.0;
const W_COLUMN: f32 = 1.5;
const W_DESCRIPTION: f32 = 0.6;
const W_VALUE: f32 = 2.0;
const W_WHOLE_NAME: f32 = 2.0;
const NEIGHBOUR_BONUS: f32 = 0.25;

impl SchemaIndex {
    /// Indexes `schema`; with an embedder, embeds one text per table.
    pub fn build(schema: &Schema, embedder: Option<&dyn Embedder>) -> Result<SchemaIndex, Error> {
        let mut tables: Vec<TableTerms> = schema.tables.iter().map(table_terms).collect();
        split_compounds(&mut tables);
        let n = tables.len().max(1) as f32;
        let mut df: HashMap<String, usize> = HashMap::new();
        for t in &tables {
            let mut all: BTreeSet<&String> = BTreeSet::new();
            all.extend(&t.name);
            all.extend(&t.columns);
            all.extend(&t.descriptions);
            for v in &t.values {
                all.extend(v);
            }
            for term in all {
                *df.entry(term.clone()).or_default() += 1;
            }
        }
        let idf = df
            .into_iter()
            .map(|(k, d)| (k, (1.0 + n / d as f32).ln()))
            .collect();
        let mut value_df: HashMap<Vec<String>, usize> = HashMap::new();
        for t in &tables {
            for v in &t.values {
                *value_df.entry(v.clone()).or_default() += 1;
            }
        }
        let value_idf = value_df
            .into_iter()
            .map(|(k, d)| (k, (1.0 + n / d as f32).ln()))
            .collect();
        let tokens: Vec<usize> = schema
            .tables
            .iter()
            .map(|t| estimate_tokens(&render_table(t)) + 1)
            .collect();
        let full_tokens = schema.tokens();
        let embeddings = match embedder {
            Some(e) => {
                let texts: Vec<String> = schema.tables.iter().map(table_text).collect();
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                Some(e.embed(&refs)?)
            }
            None => None,
        };
        Ok(SchemaIndex {
            tables,
            idf,
            value_idf,
            graph: join_graph(schema),
            tokens,
            full_tokens,
            embeddings,
        })
    }

    /// The join graph: for each table, the tables it joins with directly.
    pub fn neighbours(&self, table: usize) -> impl Iterator<Item = usize> + '_ {
        self.graph.get(table).into_iter().flatten().copied()
    }

    /// Chooses the tables for `question` (include any instructions in the text). The
    /// embedder must be the one the index was built with (or `None`).
    pub fn link(
        &self,
        schema: &Schema,
        question: &str,
        embedder: Option<&dyn Embedder>,
        options: &LinkOptions,
    ) -> Result<Linked, Error> {
        let n = schema.tables.len();
        let lexical = self.lexical_scores(question);
        let mut scores = scale(&lexical);
        if let (Some(e), Some(table_vectors)) = (embedder, &self.embeddings) {
            let q = e.embed(&[question])?;
            if let Some(qv) = q.first() {
                let cos: Vec<f32> = table_vectors.iter().map(|tv| cosine(qv, tv)).collect();
                let cos = scale_range(&cos);
                for (s, c) in scores.iter_mut().zip(cos) {
                    *s += options.embedding_weight * c;
                }
            }
        }
        let by_name = schema
            .tables
            .iter()
            .zip(&scores)
            .map(|(t, s)| (t.name.to_string(), *s))
            .collect();
        let budget = match options.max_share {
            Some(share) => options
                .max_tokens
                .min((share.clamp(0.0, 1.0) * self.full_tokens as f32) as usize),
            None => options.max_tokens,
        };
        if n <= options.whole_schema_tables || self.full_tokens <= budget {
            return Ok(Linked {
                tables: (0..n).collect(),
                whole: true,
                scores: by_name,
                tokens: self.full_tokens,
                full_tokens: self.full_tokens,
            });
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b)));
        let best = scores[order[0]].max(f32::MIN_POSITIVE);
        let mut chosen: BTreeSet<usize> = BTreeSet::new();
        let mut used = 0usize;
        let fits = |used: usize, t: usize| used + self.tokens[t] <= budget;
        // Seeds.
        for &t in order.iter().take(options.max_seeds) {
            if (chosen.is_empty() || (scores[t] >= options.seed_ratio * best && scores[t] > 0.0))
                && (fits(used, t) || chosen.is_empty())
            {
                used += self.tokens[t];
                chosen.insert(t);
            }
        }
        // Join the seeds along the cheapest join paths (bridge tables first, then paths
        // through relevant tables).
        let seeds: Vec<usize> = chosen.iter().copied().collect();
        for &s in seeds.iter().skip(1) {
            if let Some(path) = self.path_to_set(s, &chosen, &scores) {
                let extra: usize = path
                    .iter()
                    .filter(|t| !chosen.contains(t))
                    .map(|t| self.tokens[*t])
                    .sum();
                if used + extra <= budget {
                    for t in path {
                        if chosen.insert(t) {
                            used += self.tokens[t];
                        }
                    }
                }
            }
        }
        // Fill the budget: the relevant tables, best first (neighbours of what is chosen
        // slightly preferred), each with the cheapest join path to what is chosen; a table
        // whose path does not fit is skipped.
        let mut skipped: BTreeSet<usize> = BTreeSet::new();
        loop {
            let mut best_pick: Option<(f32, usize)> = None;
            for (t, &score) in scores.iter().enumerate() {
                if chosen.contains(&t) || skipped.contains(&t) || !fits(used, t) {
                    continue;
                }
                if score < options.neighbour_ratio * best || score <= 0.0 {
                    continue;
                }
                let links = self.neighbours(t).filter(|x| chosen.contains(x)).count();
                let priority = score / best + if links >= 1 { NEIGHBOUR_BONUS } else { 0.0 };
                if best_pick.is_none_or(|(p, _)| priority > p) {
                    best_pick = Some((priority, t));
                }
            }
            let Some((_, t)) = best_pick else { break };
            let path = if self.neighbours(t).any(|x| chosen.contains(&x)) {
                vec![t]
            } else {
                self.path_to_set(t, &chosen, &scores)
                    .unwrap_or_else(|| vec![t])
            };
            let extra: usize = path
                .iter()
                .filter(|x| !chosen.contains(x))
                .map(|x| self.tokens[*x])
                .sum();
            if used + extra <= budget {
                for x in path {
                    if chosen.insert(x) {
                        used += self.tokens[x];
                    }
                }
            } else {
                skipped.insert(t);
            }
        }
        let tables: Vec<usize> = chosen.into_iter().collect();
        let tokens = schema.subset(&tables).tokens();
        Ok(Linked {
            tables,
            whole: false,
            scores: by_name,
            tokens,
            full_tokens: self.full_tokens,
        })
    }

    /// The lexical score of every table for the question.
    fn lexical_scores(&self, question: &str) -> Vec<f32> {
        let q_terms: Vec<String> = terms(question);
        let q_set: BTreeSet<&String> = q_terms.iter().collect();
        self.tables
            .iter()
            .map(|t| {
                let mut score = 0.0;
                for q in &q_set {
                    let idf = self.idf.get(*q).copied().unwrap_or(0.0);
                    let w = if t.name.contains(*q) {
                        W_NAME
                    } else if t.columns.contains(*q) {
                        W_COLUMN
                    } else if t.descriptions.contains(*q) {
                        W_DESCRIPTION
                    } else {
                        0.0
                    };
                    score += w * idf;
                }
                // A table whose whole name the question names beats one that shares a word.
                if !t.name.is_empty() {
                    let covered = t.name.iter().filter(|w| q_set.contains(w)).count();
                    score += W_NAME * covered as f32 / t.name.len() as f32;
                    if covered == t.name.len() {
                        score += W_WHOLE_NAME;
                    }
                }
                // Values: a value whose words all appear in order in the question, weighted
                // by how few tables hold it.
                let mut hits: Vec<f32> = t
                    .values
                    .iter()
                    .filter(|v| !v.is_empty() && contains_phrase(&q_terms, v))
                    .map(|v| self.value_idf.get(v).copied().unwrap_or(0.0))
                    .collect();
                hits.sort_by(|a, b| b.total_cmp(a));
                score + W_VALUE * hits.iter().take(3).sum::<f32>()
            })
            .collect()
    }

    /// The cheapest join path from `from` to any table of `set` (both ends included):
    /// each table on the way costs 1 plus its irrelevance, so among equally short paths the
    /// one through relevant tables wins.
    fn path_to_set(
        &self,
        from: usize,
        set: &BTreeSet<usize>,
        scores: &[f32],
    ) -> Option<Vec<usize>> {
        let best = scores.iter().copied().fold(f32::MIN_POSITIVE, f32::max);
        let n = self.graph.len();
        let mut dist = vec![f32::INFINITY; n];
        let mut prev: Vec<Option<usize>> = vec![None; n];
        let mut done = vec![false; n];
        dist[from] = 0.0;
        loop {
            let mut cur = None;
            for t in 0..n {
                if !done[t] && dist[t].is_finite() && cur.is_none_or(|c: usize| dist[t] < dist[c]) {
                    cur = Some(t);
                }
            }
            let t = cur?;
            done[t] = true;
            if t != from && set.contains(&t) {
                let mut path = vec![t];
                let mut c = t;
                while let Some(p) = prev[c] {
                    path.push(p);
                    c = p;
                }
                return Some(path);
            }
            for nb in self.neighbours(t) {
                let cost = 1.0 + (1.0 - (scores[nb] / best).clamp(0.0, 1.0)) * 0.5;
                if dist[t] + cost < dist[nb] {
                    dist[nb] = dist[t] + cost;
                    prev[nb] = Some(t);
                }
            }
        }
    }
}

fn scale(v: &[f32]) -> Vec<f32> {
    let max = v.iter().copied().fold(f32::MIN, f32::max);
    let min = v.iter().copied().fold(f32::MAX, f32::min).min(0.0);
    if max.partial_cmp(&min) != Some(std::cmp::Ordering::Greater) {
        return vec![0.0; v.len()];
    }
    v.iter().map(|x| (x - min) / (max - min)).collect()
}

/// Scales to 0..1 between the lowest and the highest value (cosines between a question
/// and tables crowd into a narrow band; their spread is what tells tables apart).
fn scale_range(v: &[f32]) -> Vec<f32> {
    let max = v.iter().copied().fold(f32::MIN, f32::max);
    let min = v.iter().copied().fold(f32::MAX, f32::min);
    if max.partial_cmp(&min) != Some(std::cmp::Ordering::Greater) {
        return vec![0.0; v.len()];
    }
    v.iter().map(|x| (x - min) / (max - min)).collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

fn contains_phrase(haystack: &[String], needle: &[String]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Words worth matching: lower case, split at non-alphanumerics and camelCase, stemmed,
/// without stop words and one-letter words.
pub fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in split_words(text) {
        let w = word.to_lowercase();
        if w.len() < 2 || STOP_WORDS.contains(&w.as_str()) {
            continue;
        }
        out.push(stem(&w));
    }
    out
}

/// Words of a value, for phrase matching (no stop-word removal, so "Bank of America"
/// still matches as a phrase).
fn value_terms(text: &str) -> Vec<String> {
    split_words(text).map(|w| stem(&w.to_lowercase())).collect()
}

fn split_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .flat_map(|chunk| {
            // camelCase and digit boundaries: sbCustName → sb Cust Name
            let mut parts = Vec::new();
            let mut cur = String::new();
            let chars: Vec<char> = chunk.chars().collect();
            for (i, &c) in chars.iter().enumerate() {
                let boundary = i > 0 && {
                    let p = chars[i - 1];
                    (c.is_uppercase() && p.is_lowercase())
                        || (c.is_ascii_digit() != p.is_ascii_digit())
                        || (c.is_uppercase()
                            && p.is_uppercase()
                            && chars.get(i + 1).is_some_and(|n| n.is_lowercase()))
                };
                if boundary && !cur.is_empty() {
                    parts.push(std::mem::take(&mut cur));
                }
                cur.push(c);
            }
            if !cur.is_empty() {
                parts.push(cur);
            }
            parts
        })
}

/// Light English stemming: plural and common verb endings.
pub fn stem(w: &str) -> String {
    if let Some((_, lemma)) = IRREGULAR.iter().find(|(form, _)| *form == w) {
        return (*lemma).to_string();
    }
    let n = w.len();
    if !w.is_ascii() {
        return w.to_string();
    }
    if n > 4 && w.ends_with("ies") {
        return format!("{}y", &w[..n - 3]);
    }
    if n > 4
        && (w.ends_with("sses") || w.ends_with("shes") || w.ends_with("ches") || w.ends_with("xes"))
    {
        return w[..n - 2].to_string();
    }
    if n > 3 && w.ends_with('s') && !w.ends_with("ss") && !w.ends_with("us") && !w.ends_with("is") {
        return w[..n - 1].to_string();
    }
    if n > 5 && w.ends_with("ing") {
        return w[..n - 3].to_string();
    }
    if n > 4 && w.ends_with("ed") && !w.ends_with("eed") {
        return w[..n - 2].to_string();
    }
    w.to_string()
}

/// Irregular English forms common in questions, mapped to the stem of their base form.
const IRREGULAR: &[(&str, &str)] = &[
    ("written", "write"),
    ("wrote", "write"),
    ("writing", "write"),
    ("taught", "teach"),
    ("taken", "take"),
    ("took", "take"),
    ("bought", "buy"),
    ("sold", "sell"),
    ("paid", "pay"),
    ("made", "make"),
    ("gave", "give"),
    ("given", "give"),
    ("held", "hold"),
    ("flew", "fly"),
    ("flown", "fly"),
    ("flies", "fly"),
    ("ate", "eat"),
    ("eaten", "eat"),
    ("ran", "run"),
    ("spent", "spend"),
    ("sent", "send"),
    ("built", "build"),
    ("won", "win"),
    ("lost", "lose"),
    ("met", "meet"),
    ("found", "find"),
    ("known", "know"),
    ("seen", "see"),
    ("saw", "see"),
    ("children", "child"),
    ("people", "person"),
    ("men", "man"),
    ("women", "woman"),
    ("began", "begin"),
    ("begun", "begin"),
    ("chose", "choose"),
    ("chosen", "choose"),
    ("drove", "drive"),
    ("driven", "drive"),
    ("led", "lead"),
    ("leaves", "leave"),
    ("left", "leave"),
    ("cited", "cite"),
    ("citing", "cite"),
];

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "been", "by", "can", "did", "do", "does", "each",
    "for", "from", "give", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its",
    "list", "many", "me", "much", "of", "on", "or", "per", "please", "return", "show", "so",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those",
    "to", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "whose", "why",
    "with", "would", "you", "your", "all", "any", "get", "find", "tell", "number", "total",
    "count", "also", "only", "should", "use", "using", "not", "no", "null", "table", "column",
    "value", "values", "id", "ids", "data", "between", "about", "our",
];

/// The text embedded for a table: its name and its columns with their descriptions.
fn table_text(t: &Table) -> String {
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| match c.description.as_ref().or(c.comment.as_ref()) {
            Some(d) => format!(
                "{} ({})",
                split_words(&c.name).collect::<Vec<_>>().join(" "),
                d
            ),
            None => split_words(&c.name).collect::<Vec<_>>().join(" "),
        })
        .collect();
    let mut text = format!(
        "{}: {}",
        split_words(&t.name.name).collect::<Vec<_>>().join(" "),
        cols.join(", ")
    );
    if let Some(c) = &t.comment {
        text.push_str(". ");
        text.push_str(c);
    }
    text
}

/// Splits names written as one word (`paperkeyphrase`, `paperid`) into words the schema
/// uses elsewhere (`paper`, `keyphrase`), keeping the compound too.
fn split_compounds(tables: &mut [TableTerms]) {
    let vocab: BTreeSet<String> = tables
        .iter()
        .flat_map(|t| t.name.iter().chain(&t.columns))
        .filter(|w| w.len() >= 3)
        .cloned()
        .collect();
    let split = |w: &str| -> Option<(String, String)> {
        if !w.is_ascii() {
            return None;
        }
        (3..w.len().saturating_sub(1)).find_map(|i| {
            let (a, b) = w.split_at(i);
            let b = stem(b);
            (vocab.contains(a) && (vocab.contains(&b) || b == "id") && a != w)
                .then(|| (a.to_string(), b))
        })
    };
    for t in tables.iter_mut() {
        for set in [&mut t.name, &mut t.columns] {
            let extra: Vec<String> = set
                .iter()
                .filter_map(|w| split(w))
                .flat_map(|(a, b)| [a, b])
                .filter(|w| w != "id")
                .collect();
            set.extend(extra);
        }
    }
}

fn table_terms(t: &Table) -> TableTerms {
    let name: BTreeSet<String> = terms(&t.name.name).into_iter().collect();
    let mut columns = BTreeSet::new();
    let mut descriptions = BTreeSet::new();
    let mut values = Vec::new();
    for c in &t.columns {
        columns.extend(terms(&c.name));
        for d in [&c.description, &c.comment].into_iter().flatten() {
            descriptions.extend(terms(d));
        }
        for s in c.samples.iter().chain(&c.link_values) {
            if s.chars().any(|ch| ch.is_alphabetic()) && !s.ends_with('…') {
                let v = value_terms(s);
                if !v.is_empty() {
                    values.push(v);
                }
            }
        }
    }
    if let Some(c) = &t.comment {
        descriptions.extend(terms(c));
    }
    values.sort();
    values.dedup();
    TableTerms {
        name,
        columns,
        descriptions,
        values,
    }
}

/// Which tables join: declared foreign keys, key-like column names shared by two tables,
/// `x_id`-style columns naming another table, and descriptions that say a column
/// references another table.
fn join_graph(schema: &Schema) -> Vec<BTreeSet<usize>> {
    let n = schema.tables.len();
    let mut g = vec![BTreeSet::new(); n];
    let add = |a: usize, b: usize, g: &mut Vec<BTreeSet<usize>>| {
        if a != b {
            g[a].insert(b);
            g[b].insert(a);
        }
    };
    // Table-name stems, for x_id columns and descriptions.
    let stems: Vec<String> = schema
        .tables
        .iter()
        .map(|t| stem(&t.name.name.to_lowercase()))
        .collect();
    for (i, t) in schema.tables.iter().enumerate() {
        for fk in &t.foreign_keys {
            if let Some(j) = schema.tables.iter().position(|u| {
                u.name.name.eq_ignore_ascii_case(&fk.references.name)
                    && (fk.references.schema.is_none()
                        || u.name.schema.as_deref().map(str::to_lowercase)
                            == fk.references.schema.as_deref().map(str::to_lowercase))
            }) {
                add(i, j, &mut g);
            }
        }
        for c in &t.columns {
            let lc = c.name.to_lowercase();
            // x_id / xid → table x
            let base = lc
                .strip_suffix("_id")
                .or_else(|| lc.strip_suffix("_code"))
                .or_else(|| lc.strip_suffix("id"));
            if let Some(base) = base {
                let base = stem(base.trim_end_matches('_'));
                if base.len() >= 3 {
                    for (j, s) in stems.iter().enumerate() {
                        if *s == base {
                            add(i, j, &mut g);
                        }
                    }
                }
            }
            // Descriptions: "references the author table", "referencing the 'did' column of the 'domain'".
            if let Some(d) = c.description.as_ref().or(c.comment.as_ref()) {
                let dl = d.to_lowercase();
                if dl.contains("referenc") || dl.contains("foreign key") {
                    let words: BTreeSet<String> = terms(&dl).into_iter().collect();
                    for (j, s) in stems.iter().enumerate() {
                        if j != i && words.contains(s) {
                            add(i, j, &mut g);
                        }
                    }
                }
            }
        }
    }
    // Shared key-like columns.
    let mut by_column: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, t) in schema.tables.iter().enumerate() {
        for c in &t.columns {
            let lc = c.name.to_lowercase();
            let key_like = lc.ends_with("id")
                || lc.ends_with("_code")
                || lc.ends_with("_key")
                || t.primary_key
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(&c.name));
            if key_like {
                by_column.entry(lc).or_default().push(i);
            }
        }
    }
    for tables in by_column.values() {
        if tables.len() > 1 && tables.len() <= n.max(4) {
            for a in 0..tables.len() {
                for b in a + 1..tables.len() {
                    add(tables[a], tables[b], &mut g);
                }
            }
        }
    }
    g
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, ForeignKey, TableName};
    use crate::url::Dialect;

    fn table(name: &str, cols: &[&str], fks: &[(&str, &str)]) -> Table {
        Table {
            name: TableName::new(name),
            comment: None,
            columns: cols
                .iter()
                .map(|c| Column {
                    name: c.to_string(),
                    data_type: "text".into(),
                    nullable: true,
                    comment: None,
                    description: None,
                    samples: vec![],
                    link_values: vec![],
                })
                .collect(),
            primary_key: vec![cols[0].to_string()],
            foreign_keys: fks
                .iter()
                .map(|(c, t)| ForeignKey {
                    columns: vec![c.to_string()],
                    references: TableName::new(*t),
                    referenced_columns: vec![],
                })
                .collect(),
        }
    }

    fn shop() -> Schema {
        let mut product = table("product", &["product_id", "label", "price"], &[]);
        product.columns[1].link_values = vec!["Blue Widget".into(), "Red Gadget".into()];
        let mut tables = vec![
            table("customer", &["customer_id", "name", "city"], &[]),
            table(
                "orders",
                &["order_id", "customer_id", "placed_at"],
                &[("customer_id", "customer")],
            ),
            table(
                "order_item",
                &["order_id", "product_id", "quantity"],
                &[("order_id", "orders"), ("product_id", "product")],
            ),
            product,
            table(
                "product_review",
                &["review_id", "product_id", "rating", "review_text"],
                &[("product_id", "product")],
            ),
            table(
                "supplier",
                &["supplier_id", "supplier_name", "country"],
                &[],
            ),
            table("warehouse", &["warehouse_id", "location", "capacity"], &[]),
            table(
                "employee",
                &["employee_id", "full_name", "department_id"],
                &[],
            ),
            table("department", &["department_id", "title", "budget"], &[]),
            table("region", &["region_id", "region_name"], &[]),
            table("shipment", &["shipment_id", "order_id", "carrier"], &[]),
            table("invoice", &["invoice_id", "order_id", "amount"], &[]),
        ];
        tables.sort_by(|a, b| a.name.name.cmp(&b.name.name));
        Schema {
            dialect: Dialect::Postgres,
            tables,
            notes: None,
        }
    }

    fn linked_names(schema: &Schema, question: &str) -> (Vec<String>, Linked) {
        let index = SchemaIndex::build(schema, None).unwrap();
        let linked = index
            .link(schema, question, None, &LinkOptions::default())
            .unwrap();
        let names = linked
            .tables
            .iter()
            .map(|i| schema.tables[*i].name.name.clone())
            .collect();
        (names, linked)
    }

    #[test]
    fn links_values_join_paths_and_stays_within_half_the_schema() {
        let schema = shop();
        let (names, linked) = linked_names(&schema, "Which customers bought a Blue Widget?");
        for want in ["customer", "orders", "order_item", "product"] {
            assert!(
                names.contains(&want.to_string()),
                "{want} missing: {names:?}"
            );
        }
        for unwanted in ["employee", "department", "region", "warehouse"] {
            assert!(!names.contains(&unwanted.to_string()), "{names:?}");
        }
        assert!(!linked.whole);
        assert!(linked.tokens * 2 <= linked.full_tokens, "{linked:?}");
    }

    #[test]
    fn a_whole_table_name_beats_a_shared_word() {
        let schema = shop();
        let (_, linked) = linked_names(&schema, "What is the price of each product?");
        assert!(linked.scores["product"] > linked.scores["product_review"]);
    }

    #[test]
    fn words_split_and_stem() {
        assert_eq!(terms("sbCustName"), vec!["sb", "cust", "name"]);
        assert_eq!(terms("Which cities have flights?"), vec!["city", "flight"]);
        assert_eq!(terms("domain_author"), vec!["domain", "author"]);
        assert_eq!(stem("addresses"), "address");
        assert_eq!(stem("status"), "status");
    }
}
