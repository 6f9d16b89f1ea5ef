//! Everything that acts on a [`Plan`](berth_stack::plan::Plan) or on the machine it runs
//! on, kept out of `berth-stack` so that resolution stays pure.
//!
//! # Brief overview
//!
//! - [`load`] reads a stack file and the catalogs it names from disk.
//! - [`host`] gathers the [`Environment`](berth_stack::Environment): ports listening now,
//!   environment variables the stack refers to.
//! - [`state`] keeps the stack's state directory (`.berth/` beside the stack file): the
//!   host ports given out, so addresses stay stable across runs.
//!
//! - [`image`] builds berth's own container image, with no base image to pull.
//! - [`compose`] renders a Plan as a compose file and drives the engine.
//! - [`kubernetes`] renders a Plan as typed Kubernetes objects and applies them.
//!
//! This crate does not parse or resolve stack files; that is `berth-stack`'s job.

pub mod compose;
pub mod host;
pub mod image;
pub mod kubernetes;
pub mod load;
pub mod state;

use std::path::PathBuf;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A state file is not what berth wrote.
    #[error("{} is corrupt", path.display())]
    CorruptState {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
