//! The default container runtime: Linux namespaces, cgroups and pivot_root,
//! root only, no daemon.
//!
//! ```text
//!   kubelet ──spawn──► keel container-init monitor <state dir>     (one per container, in
//!     │                  │ unshares mnt/uts/ipc, joins the pod's netns,  its own session:
//!     │                  │ mounts the rootfs (overlay), /dev, /sys,     it survives the
//!     │                  │ the volumes; unshares pid; writes state.json  kubelet)
//!     │                  │ (or start-error), copies output to the CRI
//!     │                  │ log, writes exit.json, exits
//!     │                  └─spawn──► keel container-init start <state dir>   (pid 1: joins
//!     │                               the cgroups, own mount ns, /proc, pivot_root, exec)
//!     └─ exec ─────────► keel container-init exec <state dir> -- argv   (setns ipc, uts,
//!                          net, pid, mnt; chroot; argv as its child; its status)
//! ```
//!
//! - State is on disk under `<state_dir>/<id>/` (spec.json, launch.json,
//!   state.json, start-error, exit.json, monitor.log — the monitor's own
//!   stderr —, and the writable layer `upper/` + `work/`), so a restarted
//!   kubelet finds its containers with [`ContainerRuntime::recover`] and
//!   waits for them through a pidfd on their monitor, which is then no
//!   longer its child. The runtime keeps no state in memory.
//! - The cgroups are `<hierarchy>/<cgroup_parent>/pod<uid>/<id>` in each
//!   usable cgroup v1 hierarchy (see [`cgroups`]); the monitor is not in
//!   them, only the container (and `exec`'s processes).
//! - The mounts exist only in the container's mount namespace, and go with
//!   its last process: nothing is left to unmount on the host.
//! - `start` answers once argv has been executed (`state.json`), or with
//!   [`RuntimeError::Start`] and nothing left behind when it could not be
//!   (`exec: "foo": executable file not found in $PATH`).
//! - `remove` kills a container that still runs, then removes its cgroups
//!   (and its pod's when that is empty) and its state directory, not its
//!   log.
//!
//! Behaviours of the kernel worth knowing:
//! - argv is pid 1 of its pid namespace, and the kernel delivers to a pid 1
//!   only the signals it handles: a `sleep` as pid 1 ignores SIGTERM and
//!   [`ContainerRuntime::stop`] ends it with SIGKILL once the grace has
//!   passed (exit code 137), as Docker and Kubernetes do without an init.
//! - pid 1 ending ends every process of its pid namespace; the monitor
//!   dying ends pid 1 (its parent-death signal is SIGKILL), and `wait`
//!   then reports exit code 137.
//! - a process that has unshared its pid namespace may not start threads,
//!   so the monitor starts its two log threads before.

#![allow(
    clippy::disallowed_methods,
    reason = "this module is the seam to the OS itself: real files, cgroups, processes and threads"
)]

mod capabilities;
pub mod cgroups;
mod exec;
mod files;
pub mod helper;
mod lifecycle;
pub mod log;
mod monitor;
mod start;

use std::collections::HashSet;
use std::ffi::OsString;
use std::io;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use nix::sys::signal::Signal;

use self::cgroups::io_error;
pub use self::cgroups::{Cgroups, Controller};
use self::files::{write_json, ContainerDir, Launch};
use self::lifecycle::{blocking, exit_of, forget, known_of, monitor_ended, send, wait_started};
use super::{ContainerId, ContainerRuntime, ContainerSpec, Exit, Known, RuntimeError, Stats};

/// How a [`LinuxRuntime`] is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxOptions {
    /// Where each container's state directory goes (`/run/keel/containers`;
    /// a relative path is taken from the current directory).
    pub state_dir: PathBuf,
    /// The program and leading arguments that run [`helper::main`]:
    /// `["/proc/self/exe", "container-init"]` from keel.
    pub helper: Vec<OsString>,
    /// The cgroup every pod's cgroup goes under, in each hierarchy (`keel`).
    pub cgroup_parent: String,
}

/// The Linux container runtime (see the module's documentation).
#[derive(Debug)]
pub struct LinuxRuntime {
    options: LinuxOptions,
    cgroups: Cgroups,
    /// The containers this runtime is starting now: their state is half
    /// written, and `recover` must neither report nor clean them up (a
    /// start that never completed is a leftover only for a runtime that
    /// did not make it, after the kubelet's restart).
    starting: Arc<Mutex<HashSet<String>>>,
}

/// A container's place in [`LinuxRuntime::starting`], given back when
/// its start ends, however it ends.
struct Starting {
    set: Arc<Mutex<HashSet<String>>>,
    id: String,
}

impl Starting {
    fn new(set: &Arc<Mutex<HashSet<String>>>, id: &ContainerId) -> Self {
        lock(set).insert(id.0.clone());
        Self {
            set: Arc::clone(set),
            id: id.0.clone(),
        }
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        lock(&self.set).remove(&self.id);
    }
}

/// The set, also after a panic elsewhere held its lock (a set of names
/// stays whole).
fn lock(set: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    set.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LinuxRuntime {
    /// A runtime with `options`; fails unless it runs as root with at
    /// least one usable cgroup hierarchy.
    pub fn new(options: LinuxOptions) -> Result<Self, RuntimeError> {
        if !nix::unistd::geteuid().is_root() {
            return Err(RuntimeError::Unsupported(
                "the kubelet must run as root to make namespaces, mounts and cgroups".to_owned(),
            ));
        }
        if options.helper.is_empty() {
            return Err(RuntimeError::Unsupported(
                "no helper program to run containers with".to_owned(),
            ));
        }
        if !is_file_name(&options.cgroup_parent) {
            return Err(RuntimeError::Unsupported(format!(
                "bad cgroup parent {:?}",
                options.cgroup_parent
            )));
        }
        let mut options = options;
        // The monitors run in / and are recognized by their argv: paths
        // they are given must not depend on the kubelet's directory.
        options.state_dir = std::path::absolute(&options.state_dir).map_err(|source| {
            io_error(format!("resolving {}", options.state_dir.display()), source)
        })?;
        if let Some(program) = options.helper.first_mut() {
            let path = std::path::Path::new(program);
            if path.is_relative() && path.components().count() > 1 {
                *program = std::path::absolute(path)
                    .map_err(|source| io_error(format!("resolving {}", path.display()), source))?
                    .into_os_string();
            }
        }
        let cgroups = Cgroups::detect()?;
        if cgroups.v1.is_empty() {
            return Err(RuntimeError::Unsupported(format!(
                "no usable cgroup v1 hierarchy (cgroup v2 is not supported yet): {cgroups}"
            )));
        }
        std::fs::create_dir_all(&options.state_dir).map_err(|source| {
            io_error(format!("creating {}", options.state_dir.display()), source)
        })?;
        Ok(Self {
            options,
            cgroups,
            starting: Arc::default(),
        })
    }

    /// The cgroup hierarchies found at start.
    pub fn cgroups(&self) -> &Cgroups {
        &self.cgroups
    }

    /// What the runtime was set up with.
    pub fn options(&self) -> &LinuxOptions {
        &self.options
    }

    /// Removes the cgroup directories of pod `pod_uid` once no container
    /// of it has one (`remove` does it already after the pod's last one).
    pub fn remove_pod_cgroup(&self, pod_uid: &str) -> Result<(), RuntimeError> {
        for root in self.cgroups.v1.values() {
            let dir = root
                .join(&self.options.cgroup_parent)
                .join(format!("pod{pod_uid}"));
            match std::fs::remove_dir(&dir) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => {
                    return Err(io_error(
                        format!("removing cgroup {}", dir.display()),
                        error,
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn dir(&self, id: &ContainerId) -> Result<ContainerDir, RuntimeError> {
        if !is_file_name(&id.0) {
            return Err(RuntimeError::NotFound(id.clone()));
        }
        Ok(ContainerDir::new(self.options.state_dir.join(&id.0)))
    }

    /// The state directory of a container that exists.
    fn existing(&self, id: &ContainerId) -> Result<ContainerDir, RuntimeError> {
        let dir = self.dir(id)?;
        if dir.spec().exists() {
            Ok(dir)
        } else {
            Err(RuntimeError::NotFound(id.clone()))
        }
    }

    fn spawn_monitor(&self, dir: &ContainerDir) -> Result<tokio::process::Child, RuntimeError> {
        let log = std::fs::File::create(dir.monitor_log())
            .map_err(|source| io_error("creating monitor.log", source))?;
        let (program, leading) = self
            .options
            .helper
            .split_first()
            .expect("new() refuses an empty helper");
        tokio::process::Command::new(program)
            .args(leading)
            .arg("monitor")
            .arg(dir.path())
            // Not the kubelet's: the monitor outlives it.
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|source| {
                io_error(format!("running the monitor {}", program.display()), source)
            })
    }
}

/// Writes a new container's files and makes its cgroups.
fn prepare(dir: &ContainerDir, spec: &ContainerSpec, launch: &Launch) -> Result<(), RuntimeError> {
    write_json(&dir.spec(), spec).map_err(|source| io_error("writing spec.json", source))?;
    write_json(&dir.launch(), launch).map_err(|source| io_error("writing launch.json", source))?;
    cgroups::create(&launch.cgroups, &spec.limits)
}

/// A name usable as one path component.
fn is_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

#[async_trait]
impl ContainerRuntime for LinuxRuntime {
    async fn start(&self, spec: &ContainerSpec) -> Result<Timestamp, RuntimeError> {
        if spec.argv.is_empty() {
            return Err(RuntimeError::Start(
                "the container has no command".to_owned(),
            ));
        }
        let dir = self
            .dir(&spec.id)
            .map_err(|_| RuntimeError::Start(format!("bad container id {:?}", spec.id.0)))?;
        // It names the pod's cgroup directory.
        if !is_file_name(&spec.pod.uid) {
            return Err(RuntimeError::Start(format!(
                "bad pod uid {:?}",
                spec.pod.uid
            )));
        }
        // Made here, atomically: a second start of the same id stops here
        // and does not clean up what the first one made.
        std::fs::create_dir_all(&self.options.state_dir).map_err(|source| {
            io_error(
                format!("creating {}", self.options.state_dir.display()),
                source,
            )
        })?;
        match std::fs::create_dir(dir.path()) {
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                return Err(RuntimeError::Start(format!(
                    "container {} exists already",
                    spec.id
                )));
            }
            other => other
                .map_err(|source| io_error(format!("creating {}", dir.path().display()), source))?,
        }
        // Before its spec is written: from here until the start ends,
        // `recover` leaves the directory alone.
        let _starting = Starting::new(&self.starting, &spec.id);
        let launch = Launch {
            helper: self.options.helper.clone(),
            cgroups: self.cgroups.container_dirs(
                &self.options.cgroup_parent,
                &spec.pod.uid,
                &spec.id.0,
            ),
        };
        if let Err(error) = prepare(&dir, spec, &launch) {
            let _ = forget(&dir, &launch.cgroups);
            return Err(error);
        }
        let mut monitor = match self.spawn_monitor(&dir) {
            Ok(monitor) => monitor,
            Err(error) => {
                let _ = forget(&dir, &launch.cgroups);
                return Err(error);
            }
        };
        match wait_started(&dir, &mut monitor).await {
            Ok(started) => {
                // Reaps the monitor when it ends, so it is never a zombie.
                tokio::spawn(async move {
                    let _ = monitor.wait().await;
                });
                Ok(started.started_at)
            }
            Err(error) => {
                let _ = monitor.start_kill();
                let _ = monitor.wait().await;
                let cleanup = blocking(move || forget(&dir, &launch.cgroups)).await;
                if let Err(cleanup) = cleanup {
                    tracing::warn!(id = %spec.id, "cleaning up after a failed start: {cleanup}");
                }
                Err(error)
            }
        }
    }

    async fn wait(&self, id: &ContainerId) -> Result<Exit, RuntimeError> {
        let dir = self.existing(id)?;
        if let Some(exit) = dir
            .read_exit()
            .map_err(|source| io_error("reading exit.json", source))?
        {
            return Ok(exit);
        }
        let Some(started) = dir
            .read_started()
            .map_err(|source| io_error("reading state.json", source))?
        else {
            return Err(RuntimeError::Start(format!(
                "container {id} has not started"
            )));
        };
        monitor_ended(started.monitor_pid, &dir).await?;
        exit_of(&dir, dir.read_launch().ok().as_ref())
    }

    async fn signal(&self, id: &ContainerId, signal: i32) -> Result<(), RuntimeError> {
        let dir = self.existing(id)?;
        let signal = Signal::try_from(signal).map_err(|error| {
            io_error(
                format!("signal {signal}"),
                io::Error::new(io::ErrorKind::InvalidInput, error),
            )
        })?;
        // A container that has ended takes no signal, and that is no error.
        send(&dir, signal).map(|_| ())
    }

    async fn stop(&self, id: &ContainerId, grace: Duration) -> Result<Exit, RuntimeError> {
        let dir = self.existing(id)?;
        let first = if grace.is_zero() {
            Signal::SIGKILL
        } else {
            Signal::SIGTERM
        };
        if send(&dir, first)? && first != Signal::SIGKILL {
            if let Ok(exit) = tokio::time::timeout(grace, self.wait(id)).await {
                return exit;
            }
            send(&dir, Signal::SIGKILL)?;
        }
        self.wait(id).await
    }

    fn exec(
        &self,
        id: &ContainerId,
        argv: &[String],
        tty: bool,
    ) -> Result<tokio::process::Command, RuntimeError> {
        let dir = self.existing(id)?;
        if argv.is_empty() {
            return Err(RuntimeError::Start("exec: no command".to_owned()));
        }
        // The helper checks it again when it runs; this answers early.
        if !dir.started().exists() || dir.exit().exists() {
            return Err(RuntimeError::Start(format!(
                "container {id} is not running"
            )));
        }
        let (program, leading) = self
            .options
            .helper
            .split_first()
            .expect("new() refuses an empty helper");
        let mut command = tokio::process::Command::new(program);
        command.args(leading).arg("exec").arg(dir.path());
        if tty {
            command.arg("--tty");
        }
        command.arg("--").args(argv);
        Ok(command)
    }

    /// Call it before starting containers: a container whose start is
    /// under way looks like one whose start never completed, and is
    /// removed.
    async fn recover(&self) -> Result<Vec<Known>, RuntimeError> {
        let state_dir = self.options.state_dir.clone();
        let entries = match std::fs::read_dir(&state_dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io_error(format!("reading {}", state_dir.display()), error)),
        };
        let mut known = Vec::new();
        for entry in entries {
            let entry = entry
                .map_err(|source| io_error(format!("reading {}", state_dir.display()), source))?;
            let starting =
                lock(&self.starting).contains(entry.file_name().to_string_lossy().as_ref());
            if entry.file_type().is_ok_and(|kind| kind.is_dir()) && !starting {
                let dir = ContainerDir::new(entry.path());
                known.extend(known_of(&dir)?);
            }
        }
        known.sort_by(|a, b| a.spec.id.cmp(&b.spec.id));
        Ok(known)
    }

    async fn stats(&self, id: &ContainerId) -> Result<Stats, RuntimeError> {
        let dir = self.existing(id)?;
        let launch = dir
            .read_launch()
            .map_err(|source| io_error("reading launch.json", source))?;
        cgroups::stats(&launch.cgroups)
    }

    async fn remove(&self, id: &ContainerId) -> Result<(), RuntimeError> {
        let dir = self.existing(id)?;
        // A container still running is killed first.
        if send(&dir, Signal::SIGKILL)? {
            self.wait(id).await?;
        }
        let cgroup_dirs = dir
            .read_launch()
            .map(|launch| launch.cgroups)
            .unwrap_or_default();
        blocking(move || forget(&dir, &cgroup_dirs)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_are_container_ids() {
        assert!(is_file_name("uid_main_0"));
        for bad in ["", ".", "..", "a/b", "a\0b"] {
            assert!(!is_file_name(bad), "{bad:?}");
        }
    }
}
