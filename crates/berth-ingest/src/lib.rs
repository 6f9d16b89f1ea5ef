//! berth ingestion: keeps an index exactly in step with a changing document collection.
//!
//! # Brief overview
//!
//! - [`parsers`]: raw bytes → [`document::ParsedDocument`] (text plus structure), one
//!   module per format, each run contained on a worker thread.
//! - [`chunkers`]: parsed document → chunks (byte ranges of its text), one module per
//!   strategy, sizes in tokens of a [`tokenize::Tokenizer`].
//!
//! This crate does not embed or search; those are `berth-models` and `berth-index`.

pub mod chunkers;
pub mod continuous;
pub mod document;
pub mod metrics;
pub mod parsers;
pub mod pipeline;
pub mod runner;
pub mod sources;
pub mod state;
pub mod tokenize;
