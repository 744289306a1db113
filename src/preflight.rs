//! What `handoff check` verifies beyond the file itself: that this host can run the config. A
//! config can be valid TOML with valid values and still stop a run: an audit path whose directory
//! does not exist, a cpu the host lacks, a port something else holds. Each problem is reported
//! like a config error, `file:line:col: message`, at the key it comes from.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;

use crate::config::{Config, ConfigError, line_column};

/// Every reason this host could not run `config` (parsed from `text`, shown as `file`). Empty
/// when nothing stands in the way. Binds and releases the SIP and admin ports to test them.
pub fn host_problems(config: &Config, text: &str, file: &str) -> Vec<ConfigError> {
    let at = |key: &str, message: String| {
        let (line, column) = line_column(text, sbc_value_offset(text, key));
        ConfigError {
            file: file.to_owned(),
            line,
            column,
            message,
        }
    };
    let mut problems = Vec::new();
    let sbc = &config.sbc;
    if let Some(message) = audit_problem(&sbc.audit) {
        problems.push(at("audit", message));
    }
    if !sbc.cpus.is_empty() {
        let online = online_cpus();
        let missing: Vec<String> = sbc
            .cpus
            .iter()
            .filter(|cpu| !online.contains(cpu))
            .map(ToString::to_string)
            .collect();
        if !missing.is_empty() {
            let have: Vec<String> = online.iter().map(ToString::to_string).collect();
            problems.push(at(
                "cpus",
                format!(
                    "sbc.cpus: this host has no cpu {} (cpus available to handoff: {})",
                    missing.join(", "),
                    have.join(", ")
                ),
            ));
        }
    }
    if let Err(error) = UdpSocket::bind(sbc.listen) {
        problems.push(at(
            "listen",
            format!("sbc.listen: cannot bind UDP {}: {error}", sbc.listen),
        ));
    }
    if let Some(admin) = sbc.admin {
        // Off loopback without a token is a config error already (config.rs).
        if let Err(error) = TcpListener::bind(admin) {
            problems.push(at(
                "admin",
                format!("sbc.admin: cannot bind TCP {admin}: {error}"),
            ));
        }
    }
    if let Some(message) = media_ports_problem(sbc.listen, sbc.media_ports) {
        problems.push(at("media_ports", message));
    }
    problems
}

/// Whether the audit file could be opened for appending, without creating it.
fn audit_problem(path: &str) -> Option<String> {
    if path == "-" {
        return None;
    }
    let file = Path::new(path);
    if file.is_dir() {
        return Some(format!("sbc.audit: {path} is a directory, not a file"));
    }
    if file.exists() {
        return writable(file)
            .err()
            .map(|error| format!("sbc.audit: cannot write {path}: {error}"));
    }
    let dir = match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Some(format!(
            "sbc.audit: the directory {} of {path} does not exist (create it, or give a path in an existing directory)",
            dir.display()
        ));
    }
    writable(dir).err().map(|error| {
        format!(
            "sbc.audit: cannot create {path} in {}: {error}",
            dir.display()
        )
    })
}

fn writable(path: &Path) -> std::io::Result<()> {
    Ok(nix::unistd::access(path, nix::unistd::AccessFlags::W_OK)?)
}

/// The cpus this process may run on (its affinity mask).
pub fn online_cpus() -> Vec<usize> {
    use nix::sched::{CpuSet, sched_getaffinity};
    match sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|&cpu| set.is_set(cpu).unwrap_or(false))
            .collect(),
        Err(_) => (0..std::thread::available_parallelism().map_or(1, usize::from)).collect(),
    }
}

/// The first and last media port pair, bound on the SIP address: a range another program
/// occupies fails there first.
fn media_ports_problem(listen: SocketAddr, (start, end): (u16, u16)) -> Option<String> {
    let last = end.checked_sub(2)?;
    for port in [start, start + 1, last, last + 1] {
        if let Err(error) = UdpSocket::bind(SocketAddr::new(listen.ip(), port)) {
            return Some(format!(
                "sbc.media_ports: cannot bind UDP {}:{port}: {error}",
                listen.ip()
            ));
        }
    }
    None
}

/// Byte offset of `key`'s value in the `[sbc]` table of `text`, or of the table itself, or 0.
fn sbc_value_offset(text: &str, key: &str) -> usize {
    let mut offset = 0;
    let mut in_sbc = false;
    let mut table = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_sbc = trimmed.starts_with("[sbc]");
            if in_sbc {
                table = Some(offset + line.len() - trimmed.len());
            }
        } else if in_sbc
            && let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            let after_eq = rest.trim_start()[1..].trim_start();
            return offset + line.len() - after_eq.len();
        }
        offset += line.len();
    }
    table.unwrap_or(0)
}
