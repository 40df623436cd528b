//! One container's life as the runtime sees it from outside: waiting for
//! its monitor's answers, signalling pid 1, what its files say of its
//! state (the pure [`classify`]), and forgetting it.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;

use super::cgroups::{self, io_error, Controller};
use super::files::{write_json, ContainerDir, Launch, StartRecord};
use crate::runtime::{Exit, Known, RuntimeError, State};

/// How long `start` waits for the monitor to run argv or to fail: setting
/// up mounts takes milliseconds, but a loaded machine may be slow.
const START_PATIENCE: Duration = Duration::from_secs(60);
/// How often `start` looks for the monitor's answer.
const START_POLL: Duration = Duration::from_millis(5);
/// The exit code reported for a container whose monitor died without
/// telling how the container ended (as if killed by SIGKILL).
const EXIT_CODE_UNKNOWN: i32 = 137;

/// Waits until the monitor has run argv (`state.json`) or failed to.
pub(super) async fn wait_started(
    dir: &ContainerDir,
    monitor: &mut tokio::process::Child,
) -> Result<StartRecord, RuntimeError> {
    let deadline = tokio::time::Instant::now() + START_PATIENCE;
    loop {
        let monitor_ended = monitor
            .try_wait()
            .map_err(|source| io_error("waiting for the monitor", source))?;
        if let Some(started) = dir
            .read_started()
            .map_err(|source| io_error("reading state.json", source))?
        {
            return Ok(started);
        }
        if let Some(message) = dir
            .read_start_error()
            .map_err(|source| io_error("reading start-error", source))?
        {
            return Err(RuntimeError::Start(message));
        }
        if let Some(status) = monitor_ended {
            let log = std::fs::read_to_string(dir.monitor_log()).unwrap_or_default();
            return Err(RuntimeError::Start(format!(
                "the container's monitor ended ({status}) before starting it: {}",
                log.trim()
            )));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(RuntimeError::Start(format!(
                "the container did not start within {START_PATIENCE:?}"
            )));
        }
        tokio::time::sleep(START_POLL).await;
    }
}

/// Whether `pid` is the monitor of the container in `dir` (and not a
/// process that took a dead monitor's pid).
pub(super) fn is_monitor(pid: i32, dir: &ContainerDir) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let args: Vec<&[u8]> = cmdline.split(|byte| *byte == 0).collect();
    let dir_bytes = dir.path().as_os_str().as_encoded_bytes();
    args.windows(2)
        .any(|pair| pair[0] == b"monitor" && pair[1] == dir_bytes)
}

/// Returns once the monitor `pid` of `dir` has ended (at once if it has).
pub(super) async fn monitor_ended(pid: i32, dir: &ContainerDir) -> Result<(), RuntimeError> {
    let Some(pid) = rustix::process::Pid::from_raw(pid) else {
        return Ok(());
    };
    let pidfd = match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
        Ok(pidfd) => pidfd,
        Err(rustix::io::Errno::SRCH) => return Ok(()),
        Err(error) => return Err(io_error("pidfd_open on the monitor", error.into())),
    };
    // Checked after opening: the pidfd is the process the check saw, or
    // the monitor ended between the two (and wrote exit.json first).
    if !is_monitor(pid.as_raw_nonzero().get(), dir) {
        return Ok(());
    }
    // Deprecated as unsound for a type whose fd may change or close while
    // registered; an OwnedFd moved in cannot, and the only other way is
    // the `unsafe` `register` the workspace forbids.
    #[expect(deprecated, reason = "sound for an OwnedFd, and register() is unsafe")]
    let pidfd =
        AsyncFd::new(pidfd).map_err(|source| io_error("polling the monitor's pidfd", source))?;
    let _ready = pidfd
        .readable()
        .await
        .map_err(|source| io_error("polling the monitor's pidfd", source))?;
    Ok(())
}

/// What is known of a container's end, writing a stand-in `exit.json` for
/// one whose monitor died without writing one (so every later answer is
/// the same).
pub(super) fn exit_of(dir: &ContainerDir, launch: Option<&Launch>) -> Result<Exit, RuntimeError> {
    if let Some(exit) = dir
        .read_exit()
        .map_err(|source| io_error("reading exit.json", source))?
    {
        return Ok(exit);
    }
    tracing::warn!(dir = %dir.path().display(), "the container's monitor ended without telling how it did; reporting exit code {EXIT_CODE_UNKNOWN}");
    let exit = Exit {
        code: EXIT_CODE_UNKNOWN,
        signal: None,
        oom_killed: launch.is_some_and(|launch| cgroups::oom_killed(&launch.cgroups)),
        finished_at: Timestamp::now(),
    };
    write_json(&dir.exit(), &exit).map_err(|source| io_error("writing exit.json", source))?;
    Ok(exit)
}

/// Kills every process left in a container's cgroups, then removes them
/// and its state directory.
pub(super) fn forget(
    dir: &ContainerDir,
    cgroup_dirs: &BTreeMap<Controller, PathBuf>,
) -> Result<(), RuntimeError> {
    for pid in cgroups::pids(cgroup_dirs) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    cgroups::remove(cgroup_dirs)?;
    remove_state_dir(dir.path())
}

pub(super) fn remove_state_dir(path: &Path) -> Result<(), RuntimeError> {
    match std::fs::remove_dir_all(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            Err(io_error(format!("removing {}", path.display()), error))
        }
        _ => Ok(()),
    }
}

pub(super) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RuntimeError> + Send + 'static,
) -> Result<T, RuntimeError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| io_error("a blocking task", io::Error::other(error)))?
}

/// Sends `signal` to the container's pid 1; `false` if it had ended.
pub(super) fn send(dir: &ContainerDir, signal: Signal) -> Result<bool, RuntimeError> {
    if dir.exit().exists() {
        return Ok(false);
    }
    let Some(started) = dir
        .read_started()
        .map_err(|source| io_error("reading state.json", source))?
    else {
        return Ok(false);
    };
    if !is_monitor(started.monitor_pid, dir) {
        return Ok(false);
    }
    match kill(Pid::from_raw(started.pid), signal) {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::ESRCH) => Ok(false),
        Err(error) => Err(io_error(
            format!("sending {signal} to {}", started.pid),
            error.into(),
        )),
    }
}

/// What a container's files say of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Found {
    /// Its monitor runs: so does the container.
    Running(StartRecord),
    /// It ended, and its monitor wrote how (or never started, but
    /// exit.json says how it ended).
    Exited { started_at: Timestamp, exit: Exit },
    /// It started, but its monitor is gone without writing exit.json.
    MonitorGone(StartRecord),
    /// Its start never completed (the kubelet died in the middle).
    NeverStarted,
}

/// Reads a container's state from its files and whether its monitor runs.
pub(super) fn classify(
    started: Option<StartRecord>,
    exit: Option<Exit>,
    monitor_runs: bool,
) -> Found {
    match (started, exit) {
        (Some(started), None) if monitor_runs => Found::Running(started),
        (Some(started), None) => Found::MonitorGone(started),
        (Some(started), Some(exit)) => Found::Exited {
            started_at: started.started_at,
            exit,
        },
        (None, Some(exit)) => Found::Exited {
            started_at: exit.finished_at,
            exit,
        },
        (None, None) => Found::NeverStarted,
    }
}

/// What `recover` tells of the container in `dir`; `None` for a
/// directory that holds no container, or one whose start never completed
/// (which is removed, cgroups and all).
pub(super) fn known_of(dir: &ContainerDir) -> Result<Option<Known>, RuntimeError> {
    let Ok(spec) = dir.read_spec() else {
        return Ok(None);
    };
    let launch = dir.read_launch().ok();
    let started = dir
        .read_started()
        .map_err(|source| io_error("reading state.json", source))?;
    let exit = dir
        .read_exit()
        .map_err(|source| io_error("reading exit.json", source))?;
    let monitor_runs = started.is_some_and(|started| is_monitor(started.monitor_pid, dir));
    let state = match classify(started, exit, monitor_runs) {
        Found::Running(started) => State::Running {
            started_at: started.started_at,
        },
        Found::Exited { started_at, exit } => State::Exited { started_at, exit },
        Found::MonitorGone(started) => State::Exited {
            started_at: started.started_at,
            exit: exit_of(dir, launch.as_ref())?,
        },
        Found::NeverStarted => {
            tracing::warn!(id = %spec.id, "removing a container whose start never completed");
            forget(
                dir,
                &launch.map(|launch| launch.cgroups).unwrap_or_default(),
            )?;
            return Ok(None);
        }
    };
    Ok(Some(Known { spec, state }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn files_and_a_live_monitor_tell_the_state() {
        let started = StartRecord {
            started_at: at("2026-01-01T00:00:00Z"),
            pid: 10,
            monitor_pid: 9,
        };
        let exit = Exit {
            code: 3,
            signal: None,
            oom_killed: false,
            finished_at: at("2026-01-01T00:01:00Z"),
        };
        assert_eq!(classify(Some(started), None, true), Found::Running(started));
        assert_eq!(
            classify(Some(started), None, false),
            Found::MonitorGone(started)
        );
        // exit.json wins over a pid that some other process took.
        assert_eq!(
            classify(Some(started), Some(exit.clone()), true),
            Found::Exited {
                started_at: started.started_at,
                exit: exit.clone()
            }
        );
        assert_eq!(
            classify(None, Some(exit.clone()), false),
            Found::Exited {
                started_at: exit.finished_at,
                exit
            }
        );
        assert_eq!(classify(None, None, false), Found::NeverStarted);
    }
}
