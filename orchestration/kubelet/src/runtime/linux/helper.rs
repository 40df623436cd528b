//! `keel container-init`: the processes that set a container up. The
//! runtime runs this as its own program (re-executing keel, or the
//! crate's `keel-container-init` binary), so every system call that needs
//! a fresh, single-threaded process happens in one:
//!
//! - `monitor <state dir>`: one per container, in its own session; see
//!   `monitor.rs`.
//! - `start <state dir>`: pid 1 of the container, run by the monitor; see
//!   `start.rs`.
//! - `exec <state dir> [--tty] -- argv...`: a command inside a running
//!   container; see `exec.rs`.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

/// Where a program is looked for when the container's environment has no
/// `PATH` (runc's and Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The exit code of a helper that could not run what it was asked to.
const EXIT_USAGE: i32 = 2;

/// Runs the helper with its arguments (without the program name);
/// answers the process's exit code.
pub fn main(args: Vec<OsString>) -> i32 {
    let mut args = args.into_iter();
    let stage = args.next();
    let Some(dir) = args.next().map(PathBuf::from) else {
        return usage();
    };
    match stage.as_ref().and_then(|stage| stage.to_str()) {
        Some("monitor") => super::monitor::main(&dir),
        Some("start") => super::start::main(&dir),
        Some("exec") => {
            let mut rest: Vec<OsString> = args.collect();
            let tty = rest.first().is_some_and(|arg| arg == "--tty");
            if tty {
                rest.remove(0);
            }
            if rest.first().is_none_or(|arg| arg != "--") || rest.len() < 2 {
                return usage();
            }
            let argv: Vec<String> = rest[1..]
                .iter()
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect();
            super::exec::main(&dir, tty, &argv)
        }
        _ => usage(),
    }
}

fn usage() -> i32 {
    eprintln!(
        "usage: keel container-init monitor <state dir>\n\
         \x20      keel container-init start <state dir>\n\
         \x20      keel container-init exec <state dir> [--tty] -- <argv>..."
    );
    EXIT_USAGE
}

/// Finds `program` as `execvp` would, in the current root: a name with a
/// `/` as it is, any other in the directories of `path` (the container's
/// `PATH`, or [`DEFAULT_PATH`]).
pub fn resolve_program(program: &str, path: Option<&str>) -> Result<PathBuf, String> {
    if program.is_empty() {
        return Err("exec: \"\": empty command".to_owned());
    }
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    path.unwrap_or(DEFAULT_PATH)
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| format!("exec: \"{program}\": executable file not found in $PATH"))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The `PATH` of an environment, the last one winning.
pub fn path_of(env: &[(String, String)]) -> Option<&str> {
    env.iter()
        .rev()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| value.as_str())
}

/// An exit status as Kubernetes reports it: the code, or 128 + the signal.
pub fn exit_code(status: ExitStatus) -> (i32, Option<i32>) {
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, None),
        (None, Some(signal)) => (128 + signal, Some(signal)),
        // Neither exited nor killed: stopped or continued, which `wait`
        // does not report for a child it was not asked to trace.
        (None, None) => (128, None),
    }
}

/// Adds what was being done to an error.
pub trait Context<T> {
    /// `Err(e)` becomes `Err("<what>: <e>")`.
    fn context(self, what: impl FnOnce() -> String) -> Result<T, String>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T, String> {
        self.map_err(|error| format!("{}: {error}", what()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_in_path_or_reported_as_docker_does() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("tool");
        std::fs::write(&program, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        let path = format!("/nonexistent:{}", dir.path().display());
        assert_eq!(resolve_program("tool", Some(&path)).unwrap(), program);
        assert_eq!(
            resolve_program("plain", Some(&path)).unwrap_err(),
            "exec: \"plain\": executable file not found in $PATH"
        );
        assert_eq!(
            resolve_program("./x", Some(&path)).unwrap(),
            PathBuf::from("./x")
        );
        let env = vec![
            ("PATH".to_owned(), "/a".to_owned()),
            ("PATH".to_owned(), "/b".to_owned()),
        ];
        assert_eq!(path_of(&env), Some("/b"));
    }
}
