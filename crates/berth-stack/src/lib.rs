//! The berth stack file, the catalog, and resolution into a [`Plan`](plan::Plan).
//!
//! A stack file states each fact of an LLM pipeline once: which components run (each an
//! instance of a catalog entry), which logical models route to them, which documents are
//! ingested and which apps answer questions. This crate reads that file, checks it
//! against the catalog and resolves it into a Plan — pure data that every target (local,
//! compose, Kubernetes) consumes.
//!
//! # Brief overview
//!
//! - [`stack::StackFile`] is the file as written, with a position for every value.
//!   [`StackFile::parse`](stack::StackFile::parse) reports every problem it finds at
//!   once and still returns what it could read.
//! - [`catalog::Catalog`] holds the entries: image, ports, probes, resources, accelerator
//!   and GPU-memory rules, settings, and the typed contracts each entry `provides` and
//!   `needs`. The built-in entries are embedded in the binary.
//! - [`Environment`] is everything outside the file that a plan depends on (ports in use,
//!   recorded ports, environment variables), gathered by the caller.
//! - [`resolve`] binds every need to a provider, orders the components, publishes one
//!   connection record per contract, gives out host ports, renders configuration and
//!   checks GPU compatibility; it returns a [`Resolved`] plan or every
//!   [`Diagnostic`](diagnostic::Diagnostic) found.
//!
//! ```
//! use berth_stack::{catalog::Catalog, stack::StackFile, resolve, Environment};
//!
//! let text = "stack: demo\ntarget: compose\ncomponents:\n  vectors: { uses: qdrant }\n";
//! let (file, diagnostics) = StackFile::parse("berth.yaml", text);
//! assert!(diagnostics.is_empty());
//! let catalog = Catalog::builtin().map_err(|d| d.to_string())?;
//! let resolved = resolve(&file.unwrap(), &catalog, &Environment::default())
//!     .map_err(|d| d.to_string())?;
//! let url = &resolved.plan.connections["vectors/vector-store/qdrant"].url;
//! assert_eq!(url, "http://vectors:6333");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What this crate does not do
//!
//! No I/O of any kind: no files, network, processes, clock or environment variables.
//! Callers read files and gather the [`Environment`]; the same inputs always give the same
//! Plan, byte for byte.

pub mod catalog;
pub mod diagnostic;
mod environment;
pub mod plan;
mod resolve;
pub mod stack;
pub mod text;
pub mod units;
pub mod yaml;

pub use environment::Environment;
pub use resolve::{Resolved, resolve};
