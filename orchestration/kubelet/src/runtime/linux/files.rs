//! The files of one container's state directory, `<state_dir>/<id>/`:
//!
//! ```text
//!   spec.json     the ContainerSpec             (the runtime, before the monitor)
//!   launch.json   helper argv + cgroup dirs     (the runtime, before the monitor)
//!   monitor.log   the monitor's own stderr      (the monitor)
//!   state.json    started_at, pid, monitor_pid  (the monitor, once argv runs)
//!   start-error   why argv could not start      (the monitor, instead of state.json)
//!   exit.json     the Exit                      (the monitor, once argv ended)
//!   upper/ work/  the container's writable layer (overlayfs)
//!   rootfs/       where the overlay is mounted, in the container's mount namespace only
//! ```
//!
//! Every JSON file is written to a temporary name and renamed, so that a
//! reader sees it whole or not at all.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::cgroups::Controller;
use crate::runtime::{ContainerSpec, Exit};

/// What the runtime tells the helper besides the spec.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Launch {
    /// The program and leading arguments that run the helper.
    pub helper: Vec<OsString>,
    /// The container's cgroup directory in each controller's hierarchy.
    pub cgroups: BTreeMap<Controller, PathBuf>,
}

/// What the monitor writes once the container's argv runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StartRecord {
    /// When argv was executed.
    pub started_at: Timestamp,
    /// The container's pid 1, as the host sees it.
    pub pid: i32,
    /// The monitor's pid.
    pub monitor_pid: i32,
}

/// One container's state directory.
#[derive(Debug, Clone)]
pub(crate) struct ContainerDir {
    path: PathBuf,
}

impl ContainerDir {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn spec(&self) -> PathBuf {
        self.path.join("spec.json")
    }

    pub fn launch(&self) -> PathBuf {
        self.path.join("launch.json")
    }

    pub fn started(&self) -> PathBuf {
        self.path.join("state.json")
    }

    pub fn start_error(&self) -> PathBuf {
        self.path.join("start-error")
    }

    pub fn exit(&self) -> PathBuf {
        self.path.join("exit.json")
    }

    pub fn monitor_log(&self) -> PathBuf {
        self.path.join("monitor.log")
    }

    pub fn upper(&self) -> PathBuf {
        self.path.join("upper")
    }

    pub fn work(&self) -> PathBuf {
        self.path.join("work")
    }

    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }

    pub fn read_spec(&self) -> io::Result<ContainerSpec> {
        read_json(&self.spec())
    }

    pub fn read_launch(&self) -> io::Result<Launch> {
        read_json(&self.launch())
    }

    /// `None` while the container has not started (or never will).
    pub fn read_started(&self) -> io::Result<Option<StartRecord>> {
        optional(read_json(&self.started()))
    }

    /// `None` while the container runs (or its monitor died).
    pub fn read_exit(&self) -> io::Result<Option<Exit>> {
        optional(read_json(&self.exit()))
    }

    /// `None` unless the start failed.
    pub fn read_start_error(&self) -> io::Result<Option<String>> {
        optional(std::fs::read_to_string(self.start_error()))
    }
}

/// Writes `value` as JSON to `path`, atomically (a temporary file renamed).
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(io::Error::other)?;
    write_atomic(path, &bytes)
}

/// Writes `bytes` to `path`, atomically (a temporary file renamed).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

fn read_json<T: DeserializeOwned>(path: &Path) -> io::Result<T> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|error| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {error}", path.display()),
        )
    })
}

fn optional<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}
