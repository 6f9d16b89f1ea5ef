//! What a question produces: the SQL, the rows, and the record of every attempt.

use serde::Serialize;

use crate::value::Value;

/// One try: the SQL the model wrote (as extracted) and what went wrong, if anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attempt {
    /// The SQL extracted from the model's answer (`None`: the answer held no SQL).
    pub sql: Option<String>,
    /// The refusal or database error; `None` for the attempt that worked.
    pub error: Option<String>,
}

/// Milliseconds spent in each phase (summed over attempts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Timings {
    /// Schema linking.
    pub link_ms: u64,
    /// Waiting for the model.
    pub generate_ms: u64,
    /// Validating.
    pub validate_ms: u64,
    /// Executing.
    pub execute_ms: u64,
}

/// The answer to a question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    /// The question asked.
    pub question: String,
    /// The SQL that ran (validated, limit in place).
    pub sql: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Value>>,
    /// Whether the row cap was reached (more rows may exist).
    pub truncated: bool,
    /// The tables put in the prompt.
    pub linked_tables: Vec<String>,
    /// Every attempt in order; the last one worked.
    pub attempts: Vec<Attempt>,
    /// Where the time went.
    pub timings: Timings,
}
