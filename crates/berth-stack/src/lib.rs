//! scratch
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
