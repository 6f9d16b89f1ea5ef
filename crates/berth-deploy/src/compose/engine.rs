//! Driving the Docker engine through the Compose CLI (`docker compose`, or the older
//! `docker-compose`) and `docker inspect`.

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Why a Compose command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeError {
    /// Neither `docker compose` nor `docker-compose` runs here.
    #[error("neither `docker compose` nor `docker-compose` can be run (is Docker installed?)")]
    NoCompose,
    /// A command could not be started.
    #[error("cannot run `{program}`")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A command failed.
    #[error("`{command}` failed:\n{output}")]
    Failed {
        /// The command line, without secrets (none are ever on it).
        command: String,
        /// What it printed.
        output: String,
    },
    /// A secret value cannot go into an env file.
    #[error("secret `{0}` holds a line break, which an env file cannot carry")]
    Multiline(String),
    /// The env file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Services did not become ready in time.
    #[error("not ready after {}s: {}", waited.as_secs(), not_ready.iter().map(|(s, why)| format!("{s} ({why})")).collect::<Vec<_>>().join("; "))]
    NotReady {
        /// How long was waited.
        waited: Duration,
        /// Each service not ready, and why.
        not_ready: Vec<(String, String)>,
    },
    /// A service stopped while being waited for.
    #[error("service `{service}` stopped: {why}")]
    Stopped {
        /// The service.
        service: String,
        /// Exit code, health output or logs.
        why: String,
    },
}

/// A stack's Compose project.
#[derive(Debug, Clone)]
pub struct Compose {
    program: Vec<String>,
    project: String,
    file: PathBuf,
    env_file: Option<PathBuf>,
}

/// What the engine says about one service's container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceState {
    /// The service.
    pub service: String,
    /// Container id, when one exists.
    pub container: Option<String>,
    /// `running`, `exited`, `restarting`, … or `absent`.
    pub status: String,
    /// `healthy`, `unhealthy` or `starting`, for services with a health check.
    pub health: Option<String>,
    /// Exit code of a stopped container.
    pub exit_code: Option<i64>,
    /// Output of the last health probe.
    pub last_probe: Option<String>,
}

impl ServiceState {
    /// Whether it is running and, when it has a health check, healthy.
    pub fn ready(&self) -> bool {
        self.status == "running" && self.health.as_deref().is_none_or(|h| h == "healthy")
    }

    /// Why it is not ready, in a few words.
    pub fn why(&self) -> String {
        match (&self.status[..], &self.health) {
            ("absent", _) => "no container".into(),
            ("running", Some(h)) => match &self.last_probe {
                Some(p) if !p.trim().is_empty() => format!("{h}: {}", p.trim()),
                _ => h.clone(),
            },
            (s, _) => match self.exit_code {
                Some(code) => format!("{s}, exit code {code}"),
                None => s.to_owned(),
            },
        }
    }
}

fn run(mut cmd: Command, shown: &str) -> Result<Output, ComposeError> {
    let out = cmd.output().map_err(|source| ComposeError::Spawn {
        program: shown.to_owned(),
        source,
    })?;
    if !out.status.success() {
        return Err(ComposeError::Failed {
            command: shown.to_owned(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .trim()
            .to_owned(),
        });
    }
    Ok(out)
}

impl Compose {
    /// The project `project` of the compose file `file`; `env_file` holds the secrets.
    /// Finds the Compose CLI: the `docker compose` plugin, else `docker-compose`.
    pub fn new(
        project: &str,
        file: &Path,
        env_file: Option<&Path>,
    ) -> Result<Compose, ComposeError> {
        let works = |program: &[&str]| {
            Command::new(program[0])
                .args(&program[1..])
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
        };
        let program: Vec<String> = if works(&["docker", "compose"]) {
            vec!["docker".into(), "compose".into()]
        } else if works(&["docker-compose"]) {
            vec!["docker-compose".into()]
        } else {
            return Err(ComposeError::NoCompose);
        };
        Ok(Compose {
            program,
            project: project.to_owned(),
            file: file.to_path_buf(),
            env_file: env_file.map(Path::to_path_buf),
        })
    }

    /// The project name.
    pub fn project(&self) -> &str {
        &self.project
    }

    fn compose(&self, args: &[&str]) -> Result<Output, ComposeError> {
        let mut cmd = Command::new(&self.program[0]);
        cmd.args(&self.program[1..]).args(["-p", &self.project]);
        cmd.arg("-f").arg(&self.file);
        if let Some(env) = &self.env_file {
            cmd.arg("--env-file").arg(env);
        }
        cmd.args(args);
        let shown = format!("{} {}", self.program.join(" "), args.join(" "));
        run(cmd, &shown)
    }

    /// Checks the file as Compose reads it (`config -q`).
    pub fn check(&self) -> Result<(), ComposeError> {
        self.compose(&["config", "-q"]).map(|_| ())
    }

    /// Creates and starts every service (and only those: orphans are removed); services
    /// already running with the same configuration are left alone.
    pub fn up(&self) -> Result<(), ComposeError> {
        self.compose(&["up", "-d", "--remove-orphans"]).map(|_| ())
    }

    /// Stops and removes the containers and the network; with `volumes`, the named volumes
    /// too.
    pub fn down(&self, volumes: bool) -> Result<(), ComposeError> {
        let mut args = vec!["down", "--remove-orphans"];
        if volumes {
            args.push("--volumes");
        }
        self.compose(&args).map(|_| ())
    }

    /// The container of a service, if one exists (running or not).
    pub fn container(&self, service: &str) -> Result<Option<String>, ComposeError> {
        let out = self.compose(&["ps", "-a", "-q", service])?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(str::to_owned))
    }

    /// The state of a service's container.
    pub fn state(&self, service: &str) -> Result<ServiceState, ComposeError> {
        let Some(id) = self.container(service)? else {
            return Ok(ServiceState {
                service: service.to_owned(),
                container: None,
                status: "absent".into(),
                health: None,
                exit_code: None,
                last_probe: None,
            });
        };
        let mut cmd = Command::new("docker");
        cmd.args(["inspect", "--format", "{{json .State}}", &id]);
        let out = run(cmd, "docker inspect")?;
        let state: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        let health = state["Health"]["Status"].as_str().map(str::to_owned);
        let last_probe = state["Health"]["Log"]
            .as_array()
            .and_then(|l| l.last())
            .and_then(|l| l["Output"].as_str())
            .map(str::to_owned);
        let status = state["Status"].as_str().unwrap_or("unknown").to_owned();
        let exit_code = (status != "running")
            .then(|| state["ExitCode"].as_i64())
            .flatten();
        Ok(ServiceState {
            service: service.to_owned(),
            container: Some(id),
            status,
            health,
            exit_code,
            last_probe,
        })
    }

    /// The last lines a service printed.
    pub fn logs(&self, service: &str, lines: usize) -> Result<String, ComposeError> {
        let tail = lines.to_string();
        let out = self.compose(&["logs", "--no-color", "--tail", &tail, service])?;
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    /// Waits until each service is ready, in `order` (dependencies first), at most
    /// `timeout` in all. `progress` hears each state change. A container that exits is an
    /// error at once, with its last log lines.
    pub fn wait_ready(
        &self,
        order: &[String],
        timeout: Duration,
        progress: &mut dyn FnMut(&ServiceState),
    ) -> Result<(), ComposeError> {
        let start = Instant::now();
        let mut last: BTreeMap<String, String> = BTreeMap::new();
        for service in order {
            loop {
                let state = self.state(service)?;
                let shown = format!("{}/{:?}", state.status, state.health);
                if last.get(service) != Some(&shown) {
                    progress(&state);
                    last.insert(service.clone(), shown);
                }
                if state.ready() {
                    break;
                }
                // A crash loop shows as `restarting`: report it now, not at the timeout.
                if matches!(
                    &state.status[..],
                    "exited" | "dead" | "absent" | "restarting"
                ) {
                    let logs = self.logs(service, 20).unwrap_or_default();
                    return Err(ComposeError::Stopped {
                        service: service.clone(),
                        why: format!("{}\n{}", state.why(), logs.trim_end()),
                    });
                }
                if start.elapsed() >= timeout {
                    let mut not_ready = vec![(service.clone(), state.why())];
                    let at = order.iter().position(|s| s == service).unwrap_or(0);
                    for later in &order[at + 1..] {
                        let s = self.state(later)?;
                        if !s.ready() {
                            not_ready.push((later.clone(), s.why()));
                        }
                    }
                    return Err(ComposeError::NotReady {
                        waited: start.elapsed(),
                        not_ready,
                    });
                }
                // Polling the engine for a state change, bounded by the timeout above.
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        Ok(())
    }
}

/// Writes the secrets Compose interpolates into an env file only the owner can read.
pub fn write_env_file(path: &Path, values: &BTreeMap<String, String>) -> Result<(), ComposeError> {
    let mut text = String::from("# Secrets for docker compose, written by berth. Do not commit.\n");
    for (k, v) in values {
        if v.contains('\n') || v.contains('\r') {
            return Err(ComposeError::Multiline(k.clone()));
        }
        text.push_str(&format!("{k}={v}\n"));
    }
    let wrote = |source| ComposeError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(wrote)?;
    }
    let _ = std::fs::remove_file(path);
    #[cfg(unix)]
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(wrote)?;
        f.write_all(text.as_bytes()).map_err(wrote)?;
    }
    #[cfg(not(unix))]
    std::fs::write(path, text).map_err(wrote)?;
    Ok(())
}
