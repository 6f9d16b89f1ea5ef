//! berth ingestion: keeps an index exactly in step with a changing document collection.
//!
//! # Brief overview
//!
//! - [`parsers`]: raw bytes → [`document::ParsedDocument`] (text plus structure), one
//!   module per format, each run contained on a worker thread.
//! - [`chunkers`]: parsed document → chunks (byte ranges of its text), one module per
//!   strategy, sizes in tokens of a [`tokenize::Tokenizer`].
//! - [`runner`]: one incremental, crash-safe run of a [`pipeline::Pipeline`]: list,
//!   compare, parse, chunk, embed (through a `berth-models` embedder), commit to the
//!   [`state`] store.
//! - [`index`]: keeps the pipeline's `berth-index` retrieval index in step with the state
//!   store, rebuilding it when needed.
//! - [`stores`]: which state store and vector store a stack's bindings select.
//!
//! This crate does not run models or answer searches itself; `berth-models` embeds and
//! `berth-index` searches.

pub mod chunkers;
pub mod continuous;
pub mod document;
pub mod index;
pub mod knowledge;
pub mod metrics;
pub mod parsers;
pub mod pipeline;
pub mod runner;
pub mod sources;
pub mod state;
pub mod stores;
pub mod tokenize;
