//! The stack's state directory (`.berth/` beside the stack file).

use crate::{Error, Result};
use berth_stack::Environment;
use berth_stack::plan::Plan;
use berth_stack::stack::Target;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name of the state directory, beside the stack file.
pub const STATE_DIR: &str = ".berth";

/// The environment variable that moves the state directory.
pub const STATE_DIR_ENV: &str = "BERTH_STATE_DIR";

/// A stack's state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

/// Host ports given out, per target, by `component/port`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PortsFile {
    #[serde(default)]
    ports: BTreeMap<String, BTreeMap<String, u16>>,
}

impl StateDir {
    /// The state directory of the stack file at `stack_file`.
    /// `BERTH_STATE_DIR`, when set, puts it elsewhere: in a container the stack
    /// directory is mounted read-only and the state lives in a volume.
    pub fn for_stack(stack_file: &Path) -> StateDir {
        if let Some(dir) = std::env::var_os(STATE_DIR_ENV).filter(|d| !d.is_empty()) {
            return StateDir {
                root: PathBuf::from(dir),
            };
        }
        let dir = stack_file.parent().unwrap_or(Path::new("."));
        StateDir {
            root: dir.join(STATE_DIR),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The ingestion state store (SQLite).
    pub fn database(&self) -> PathBuf {
        self.root.join("state.db")
    }

    fn ports_path(&self) -> PathBuf {
        self.root.join("ports.json")
    }

    fn read_ports(&self) -> Result<PortsFile> {
        let path = self.ports_path();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                serde_json::from_str(&text).map_err(|source| Error::CorruptState { path, source })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PortsFile::default()),
            Err(source) => Err(Error::Read { path, source }),
        }
    }

    /// The host ports recorded for a target.
    pub fn recorded_ports(&self, target: Target) -> Result<BTreeMap<String, u16>> {
        Ok(self
            .read_ports()?
            .ports
            .remove(target.as_str())
            .unwrap_or_default())
    }

    /// Records the host ports of a plan, so the next plan for the same target keeps them.
    /// Writes only when something changed, atomically (write, then rename).
    pub fn record_ports(&self, plan: &Plan) -> Result<()> {
        let mut file = self.read_ports()?;
        let current: BTreeMap<String, u16> = plan
            .components
            .iter()
            .flat_map(|(name, c)| {
                c.ports
                    .iter()
                    .filter_map(move |p| p.host.map(|h| (Environment::port_key(name, &p.name), h)))
            })
            .collect();
        let slot = file
            .ports
            .entry(plan.target.as_str().to_string())
            .or_default();
        if *slot == current {
            return Ok(());
        }
        *slot = current;
        std::fs::create_dir_all(&self.root).map_err(|source| Error::Write {
            path: self.root.clone(),
            source,
        })?;
        let path = self.ports_path();
        let tmp = self.root.join("ports.json.tmp");
        let text = serde_json::to_string_pretty(&file).expect("ports serialise");
        std::fs::write(&tmp, text + "\n").map_err(|source| Error::Write {
            path: tmp.clone(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| Error::Write { path, source })
    }
}
