//! scratch
pub mod yaml;
