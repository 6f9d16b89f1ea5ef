//! What the outside world contributes to a Plan, gathered by the caller and passed in as
//! plain data, so that resolution stays pure: same inputs, same Plan, byte for byte.

use crate::stack::Target;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Facts about the machine and the stack's recorded state that resolution depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// TCP ports something is listening on now; new host ports avoid them.
    pub listening_ports: BTreeSet<u16>,
    /// Host ports given out by earlier runs, by `component/port`; kept when still
    /// unclaimed so that addresses stay stable across runs.
    pub recorded_ports: BTreeMap<String, u16>,
    /// Values of the environment variables the stack names in `${env:…}` references.
    pub vars: BTreeMap<String, String>,
    /// A target chosen on the command line, overriding the stack file's.
    pub target: Option<Target>,
}

impl Environment {
    /// The key under which a component's port is recorded.
    pub fn port_key(component: &str, port: &str) -> String {
        format!("{component}/{port}")
    }
}
