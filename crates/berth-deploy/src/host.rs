//! Facts about this machine that plans depend on.

use berth_stack::Environment;
use berth_stack::stack::{StackFile, Target};
use std::collections::{BTreeMap, BTreeSet};

/// TCP ports in the LISTEN state on this machine, any address, IPv4 and IPv6.
///
/// On Linux this reads `/proc/net/tcp` and `/proc/net/tcp6`; elsewhere it tries to bind
/// each unprivileged port on the loopback and wildcard addresses.
pub fn listening_ports() -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    let mut read_any = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(table) {
            read_any = true;
            ports.extend(parse_proc_net_tcp(&text));
        }
    }
    if !read_any {
        ports.extend((1024..=u16::MAX).filter(|&p| {
            std::net::TcpListener::bind(("127.0.0.1", p)).is_err()
                || std::net::TcpListener::bind(("0.0.0.0", p)).is_err()
        }));
    }
    ports
}

/// The listening ports in the text of a `/proc/net/tcp` table.
pub fn parse_proc_net_tcp(text: &str) -> BTreeSet<u16> {
    const LISTEN: &str = "0A";
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            if state != LISTEN {
                return None;
            }
            let port = local.rsplit(':').next()?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

/// The peak resident memory of this process so far, in bytes (Linux; `None` elsewhere).
pub fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Gathers the environment a stack's plan depends on: listening ports (when `scan_ports`;
/// commands to which host ports do not matter skip the scan), the values of the variables
/// its `${env:…}` references name, the recorded ports of `target`.
pub fn environment(
    stack: &StackFile,
    target: Option<Target>,
    recorded_ports: BTreeMap<String, u16>,
    scan_ports: bool,
) -> Environment {
    let vars = stack
        .env_references()
        .into_iter()
        .filter_map(|name| std::env::var(&name).ok().map(|v| (name, v)))
        .collect();
    Environment {
        listening_ports: if scan_ports {
            listening_ports()
        } else {
            Default::default()
        },
        recorded_ports,
        vars,
        target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_listen_entries() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1 0000000000000000 100 0 0 10 0\n   1: 0100007F:A2C4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 2 1 0000000000000000 20 4 30 10 -1\n";
        assert_eq!(parse_proc_net_tcp(text), BTreeSet::from([8080]));
    }

    #[test]
    fn peak_memory_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(peak_memory().unwrap() > 1024 * 1024);
        }
    }

    #[test]
    fn a_listener_we_open_is_seen() {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(listening_ports().contains(&port));
    }
}
