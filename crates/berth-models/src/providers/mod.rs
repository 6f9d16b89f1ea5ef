//! Embedding providers, one module each.

pub mod builtin;
pub mod http;
pub mod openai;
pub mod tei;
