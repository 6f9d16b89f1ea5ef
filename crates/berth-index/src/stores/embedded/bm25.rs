//! The keyword side: a tantivy index of the chunks, searched with BM25.
//!
//! Text goes through one analyzer, [`analyzer`], at indexing and at query time. Queries are
//! never parsed as query syntax: the query text is analyzed into terms, and each distinct
//! term becomes an optional clause, so any input is a valid query. Permissions, sources and
//! metadata are raw-token fields that the query *requires*, with a constant score of zero, so
//! filtered BM25 scores equal unfiltered ones and `k` filtered hits come back whenever `k`
//! permitted chunks match.
//!
//! tantivy also holds what a hit returns (text, headings, pages), in its document store.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, INDEXED, IndexRecordOption, NumericOptions, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions, Value,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term,
};

use crate::error::IndexError;
use crate::principal::Principal;
use crate::stores::embedded::catalog::metadata_token;
use crate::stores::{Filter, IndexChunk};

/// The directory inside the index directory.
pub(crate) const TANTIVY_DIR: &str = "tantivy";

/// The name the analyzer is registered under.
const ANALYZER: &str = "berth_en";

/// Tokens longer than this many bytes (base64 blobs, hashes) are not indexed.
const MAX_TOKEN_BYTES: usize = 40;

/// Memory the writer may use per indexing thread before it flushes a segment.
const WRITER_HEAP_PER_THREAD: usize = 64 << 20;

/// The analyzer of chunk text and query text: split on non-alphanumerics, drop very long
/// tokens, lowercase, drop English stop words, Porter2 (snowball English) stemming.
pub(crate) fn analyzer() -> TextAnalyzer {
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser);
    match StopWordFilter::new(Language::English) {
        Some(stop_words) => builder
            .filter(stop_words)
            .filter(Stemmer::new(Language::English))
            .build(),
        // tantivy ships an English list; without it we still stem.
        None => builder.filter(Stemmer::new(Language::English)).build(),
    }
}

/// The distinct terms BM25 indexes for `text`, in order of first appearance.
///
/// A query matches a chunk under BM25 exactly when they share one of these terms.
pub fn bm25_terms(text: &str) -> Vec<String> {
    terms_with(&mut analyzer(), text)
}

fn terms_with(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut terms = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        let text = &stream.token().text;
        if seen.insert(text.clone()) {
            terms.push(text.clone());
        }
    }
    terms
}

/// The schema's fields.
#[derive(Debug, Clone, Copy)]
struct Fields {
    key: Field,
    chunk_id: Field,
    document_id: Field,
    source: Field,
    access: Field,
    metadata: Field,
    ordinal: Field,
    text: Field,
    heading: Field,
    page_start: Field,
    page_end: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text_options = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        )
        .set_stored();
    let stored_u64 = NumericOptions::default().set_stored();
    let fields = Fields {
        key: builder.add_u64_field("key", NumericOptions::from(INDEXED).set_fast()),
        chunk_id: builder.add_text_field("chunk_id", STRING | STORED),
        document_id: builder.add_text_field("document_id", STRING | STORED),
        source: builder.add_text_field("source", STRING | STORED),
        access: builder.add_text_field("access", STRING),
        metadata: builder.add_text_field("metadata", STRING),
        ordinal: builder.add_u64_field("ordinal", stored_u64.clone()),
        text: builder.add_text_field("text", text_options),
        heading: builder.add_text_field("heading", STORED),
        page_start: builder.add_u64_field("page_start", stored_u64.clone()),
        page_end: builder.add_u64_field("page_end", stored_u64),
    };
    (builder.build(), fields)
}

/// One BM25 hit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bm25Hit {
    /// The chunk's key.
    pub key: u64,
    /// Its BM25 score.
    pub score: f32,
    /// Where tantivy keeps it (valid for the searcher that found it).
    pub address: DocAddress,
}

/// What a hit shows, read from the document store.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoredChunk {
    pub chunk_id: String,
    pub document_id: String,
    pub source: String,
    pub ordinal: u32,
    pub text: String,
    pub heading_path: Vec<String>,
    pub page_start: Option<u32>,
    pub page_end: Option<u32>,
}

/// The tantivy index with its reader, analyzer and (once something is written) writer.
pub(crate) struct Bm25 {
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    writer: Option<IndexWriter>,
    fields: Fields,
    analyzer: TextAnalyzer,
}

impl std::fmt::Debug for Bm25 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bm25")
            .field("docs", &self.reader.searcher().num_docs())
            .field("writing", &self.writer.is_some())
            .finish()
    }
}

impl Bm25 {
    /// Creates an empty index in `dir/tantivy` (which must not hold one).
    pub(crate) fn create(dir: &Path) -> Result<Self, IndexError> {
        let path = dir.join(TANTIVY_DIR);
        std::fs::create_dir_all(&path).map_err(|source| IndexError::Io {
            path: path.clone(),
            source,
        })?;
        let (schema, fields) = schema();
        let index = Index::create_in_dir(&path, schema)?;
        Self::with_index(dir, index, fields)
    }

    /// Opens `dir/tantivy`; anything unreadable or unexpected is [`IndexError::Corrupt`].
    pub(crate) fn open(dir: &Path) -> Result<Self, IndexError> {
        let corrupt = |reason: String| IndexError::Corrupt {
            dir: dir.to_owned(),
            reason,
        };
        let path = dir.join(TANTIVY_DIR);
        if !path.is_dir() {
            return Err(corrupt(format!("{TANTIVY_DIR}/ is missing")));
        }
        let directory = MmapDirectory::open(&path)
            .map_err(|e| corrupt(format!("{TANTIVY_DIR}/ cannot be opened: {e}")))?;
        let index = Index::open(directory)
            .map_err(|e| corrupt(format!("{TANTIVY_DIR}/ is not a readable index: {e}")))?;
        let (schema, fields) = schema();
        if index.schema() != schema {
            return Err(corrupt(format!("{TANTIVY_DIR}/ has an unexpected schema")));
        }
        Self::with_index(dir, index, fields)
            .map_err(|e| corrupt(format!("{TANTIVY_DIR}/ cannot be read: {e}")))
    }

    fn with_index(dir: &Path, index: Index, fields: Fields) -> Result<Self, IndexError> {
        let analyzer = analyzer();
        index.tokenizers().register(ANALYZER, analyzer.clone());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            dir: dir.to_owned(),
            index,
            reader,
            writer: None,
            fields,
            analyzer,
        })
    }

    /// The payload of the last commit (the generation), if any.
    pub(crate) fn payload(&self) -> Result<Option<String>, IndexError> {
        Ok(self.index.load_metas()?.payload)
    }

    /// Number of documents visible to searches.
    pub(crate) fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// A consistent snapshot for one search.
    pub(crate) fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// The writer, created on first use (it locks the directory against other writers,
    /// which read-only users such as the gateway never need).
    fn writer(&mut self) -> Result<&mut IndexWriter, IndexError> {
        let writer = match self.writer.take() {
            Some(writer) => writer,
            None => {
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
                let writer = self
                    .index
                    .writer_with_num_threads(threads, threads * WRITER_HEAP_PER_THREAD)?;
                // A writer killed between writing a segment's delete file and committing
                // leaves that file behind, under the very name the next commit picks:
                // files the last commit does not use go before anything is written.
                writer.garbage_collect_files().wait()?;
                writer
            }
        };
        Ok(self.writer.insert(writer))
    }

    /// Queues the removal of every chunk of the document (visible after commit).
    pub(crate) fn delete_document(&mut self, document_id: &str) -> Result<(), IndexError> {
        let term = Term::from_field_text(self.fields.document_id, document_id);
        self.writer()?.delete_term(term);
        Ok(())
    }

    /// Queues a chunk (visible after commit).
    pub(crate) fn add_chunk(&mut self, key: u64, chunk: &IndexChunk) -> Result<(), IndexError> {
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_u64(f.key, key);
        doc.add_text(f.chunk_id, &chunk.id);
        doc.add_text(f.document_id, &chunk.document_id);
        doc.add_text(f.source, &chunk.source);
        for token in chunk.acl.tokens() {
            doc.add_text(f.access, token);
        }
        for (k, v) in &chunk.metadata {
            doc.add_text(f.metadata, metadata_token(k, v));
        }
        doc.add_u64(f.ordinal, u64::from(chunk.ordinal));
        doc.add_text(f.text, &chunk.text);
        for heading in &chunk.heading_path {
            doc.add_text(f.heading, heading);
        }
        if let Some(page) = chunk.page_start {
            doc.add_u64(f.page_start, u64::from(page));
        }
        if let Some(page) = chunk.page_end {
            doc.add_u64(f.page_end, u64::from(page));
        }
        self.writer()?.add_document(doc)?;
        Ok(())
    }

    /// Commits with `generation` as payload and makes the commit visible to searches.
    pub(crate) fn commit(&mut self, generation: u64) -> Result<(), IndexError> {
        let payload = generation.to_string();
        let writer = self.writer()?;
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// The best `limit` chunks for `text` that the principal may see and the filter admits.
    pub(crate) fn search(
        &self,
        searcher: &Searcher,
        text: &str,
        principal: &Principal,
        filter: &Filter,
        limit: usize,
    ) -> Result<Vec<Bm25Hit>, IndexError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let terms = terms_with(&mut self.analyzer.clone(), text);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let f = self.fields;
        let text_query = any_of(
            terms
                .iter()
                .map(|t| Term::from_field_text(f.text, t))
                .map(|t| {
                    Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs)) as Box<dyn Query>
                })
                .collect(),
        );
        let mut clauses = vec![(Occur::Must, text_query)];
        let raw = |field: Field, token: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, token),
                IndexRecordOption::Basic,
            ))
        };
        let access = principal
            .tokens()
            .iter()
            .map(|t| raw(f.access, t))
            .collect();
        clauses.push((Occur::Must, zero_scored(any_of(access))));
        if !filter.sources.is_empty() {
            let sources = filter.sources.iter().map(|s| raw(f.source, s)).collect();
            clauses.push((Occur::Must, zero_scored(any_of(sources))));
        }
        for (k, v) in &filter.metadata {
            clauses.push((
                Occur::Must,
                zero_scored(raw(f.metadata, &metadata_token(k, v))),
            ));
        }
        let query = BooleanQuery::new(clauses);
        let top = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score())?;

        let mut columns = Vec::new();
        for reader in searcher.segment_readers() {
            columns.push(reader.fast_fields().u64("key")?);
        }
        top.into_iter()
            .map(|(score, address)| {
                let key = columns
                    .get(address.segment_ord as usize)
                    .and_then(|c| c.first(address.doc_id))
                    .ok_or_else(|| IndexError::Corrupt {
                        dir: self.dir.clone(),
                        reason: "a tantivy document has no key".to_owned(),
                    })?;
                Ok(Bm25Hit {
                    key,
                    score,
                    address,
                })
            })
            .collect()
    }

    /// Where the live chunk with this key is stored, if anywhere.
    pub(crate) fn address_of(
        &self,
        searcher: &Searcher,
        key: u64,
    ) -> Result<Option<DocAddress>, IndexError> {
        use tantivy::DocSet;
        let term = Term::from_field_u64(self.fields.key, key);
        for (segment_ord, reader) in searcher.segment_readers().iter().enumerate() {
            let inverted = reader.inverted_index(self.fields.key)?;
            let Some(mut postings) = inverted
                .read_postings(&term, IndexRecordOption::Basic)
                .map_err(tantivy::TantivyError::from)?
            else {
                continue;
            };
            let mut doc = postings.doc();
            while doc != tantivy::TERMINATED {
                if !reader.is_deleted(doc) {
                    return Ok(Some(DocAddress::new(segment_ord as u32, doc)));
                }
                doc = postings.advance();
            }
        }
        Ok(None)
    }

    /// Reads what a hit shows.
    pub(crate) fn stored(
        &self,
        searcher: &Searcher,
        address: DocAddress,
    ) -> Result<StoredChunk, IndexError> {
        let f = self.fields;
        let doc: TantivyDocument = searcher.doc(address)?;
        let text = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        let number = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_u64())
                .and_then(|n| u32::try_from(n).ok())
        };
        Ok(StoredChunk {
            chunk_id: text(f.chunk_id),
            document_id: text(f.document_id),
            source: text(f.source),
            ordinal: number(f.ordinal).unwrap_or_default(),
            text: text(f.text),
            heading_path: doc
                .get_all(f.heading)
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            page_start: number(f.page_start),
            page_end: number(f.page_end),
        })
    }
}

/// One clause as is, several as a disjunction.
fn any_of(mut queries: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    if queries.len() == 1 {
        return queries.remove(0);
    }
    Box::new(BooleanQuery::new(
        queries.into_iter().map(|q| (Occur::Should, q)).collect(),
    ))
}

/// A required clause that filters without adding to the score.
fn zero_scored(query: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(query, 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_analyzer_stems_lowercases_and_drops_stop_words() {
        assert_eq!(
            bm25_terms("The Running dogs ran, and the dog RUNS!"),
            ["run", "dog", "ran"]
        );
        assert!(bm25_terms("the and of").is_empty());
        assert!(bm25_terms("").is_empty());
        assert!(bm25_terms(&"x".repeat(100)).is_empty());
        assert_eq!(bm25_terms("Größe straße"), ["größe", "straße"]);
    }
}
