//! cgroups: which hierarchies this machine really offers, and one
//! container's cgroup in each (`<hierarchy>/<parent>/pod<uid>/<id>`).
//!
//! Only cgroup v1 hierarchies are used. A cgroup2 mount is reported, with
//! the controllers its root lists, but a mount alone proves nothing (it may
//! list none, or only ones the runtime does not use), and limits through
//! cgroup v2 are not written yet.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::runtime::{Limits, RuntimeError, Stats};

/// The CFS period every container's quota is a share of: 100 ms, as
/// Kubernetes uses.
pub const CPU_PERIOD_MICROS: u64 = 100_000;
/// The smallest CFS quota the kernel takes (1 ms).
const CPU_QUOTA_MICROS_MIN: u64 = 1_000;
/// The smallest `cpu.shares` the kernel takes.
const CPU_SHARES_MIN: u64 = 2;
/// How long removing a cgroup waits for its last processes to be gone
/// (the kernel frees a cgroup a little after its last task exits).
const REMOVE_PATIENCE: Duration = Duration::from_secs(5);

/// A cgroup v1 controller the runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Controller {
    /// Memory limit, usage and the OOM killer's count.
    Memory,
    /// CFS quota and shares.
    Cpu,
    /// CPU time used.
    Cpuacct,
    /// The number of processes.
    Pids,
    /// Freezing (not used yet; detected for the future).
    Freezer,
}

impl Controller {
    /// Every controller the runtime looks for.
    pub const ALL: [Controller; 5] = [
        Controller::Memory,
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Pids,
        Controller::Freezer,
    ];

    /// The controller's name in `/proc/cgroups` and mount options.
    pub fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Pids => "pids",
            Controller::Freezer => "freezer",
        }
    }
}

/// The cgroup hierarchies this machine offers, as detected at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cgroups {
    /// The usable v1 hierarchies: controller → its mount point (a child
    /// directory could be made in it).
    pub v1: BTreeMap<Controller, PathBuf>,
    /// The cgroup2 mount, if any, with the controllers its root lists
    /// (unused so far).
    pub unified: Option<(PathBuf, Vec<String>)>,
}

impl fmt::Display for Cgroups {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.v1.keys().map(|controller| controller.name()).collect();
        write!(
            f,
            "cgroup v1: {}",
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(" ")
            }
        )?;
        match &self.unified {
            Some((path, controllers)) => write!(
                f,
                "; cgroup2 at {} lists [{}] (unused)",
                path.display(),
                controllers.join(" ")
            ),
            None => f.write_str("; no cgroup2 mount"),
        }
    }
}

/// One cgroup mount of `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// `cgroup` (v1) or `cgroup2`.
    pub filesystem: String,
    /// Its super options (v1: the controllers, `rw`, `name=...`).
    pub options: Vec<String>,
}

/// The cgroup mounts listed in a `/proc/self/mountinfo` text.
pub fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    text.lines()
        .filter_map(|line| {
            // `id parent major:minor root mount_point options [optional...] - fstype source super_options`
            let (before, after) = line.split_once(" - ")?;
            let mount_point = before.split(' ').nth(4)?;
            let mut after = after.split(' ');
            let filesystem = after.next()?;
            if filesystem != "cgroup" && filesystem != "cgroup2" {
                return None;
            }
            let options = after
                .nth(1)
                .unwrap_or("")
                .split(',')
                .map(str::to_owned)
                .collect();
            Some(CgroupMount {
                mount_point: PathBuf::from(unescape_octal(mount_point)),
                filesystem: filesystem.to_owned(),
                options,
            })
        })
        .collect()
}

/// mountinfo writes a space as `\040` and so on.
fn unescape_octal(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = bytes.get(index + 1..index + 4).filter(|digits| {
            bytes[index] == b'\\' && digits.iter().all(|digit| (b'0'..=b'7').contains(digit))
        });
        if let Some(digits) = escaped {
            out.push(digits.iter().fold(0u8, |value, digit| {
                value.wrapping_mul(8).wrapping_add(digit - b'0')
            }));
            index += 4;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Cgroups {
    /// Reads `/proc/self/mountinfo` and keeps the v1 hierarchies in which
    /// a directory can really be made.
    pub fn detect() -> Result<Self, RuntimeError> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|source| io_error("reading /proc/self/mountinfo", source))?;
        let mut cgroups = Cgroups::default();
        for mount in parse_mountinfo(&mountinfo) {
            if mount.filesystem == "cgroup2" {
                let listed = std::fs::read_to_string(mount.mount_point.join("cgroup.controllers"))
                    .unwrap_or_default();
                let controllers = listed.split_whitespace().map(str::to_owned).collect();
                cgroups.unified = Some((mount.mount_point, controllers));
                continue;
            }
            for controller in Controller::ALL {
                if mount
                    .options
                    .iter()
                    .any(|option| option == controller.name())
                    && !cgroups.v1.contains_key(&controller)
                    && can_make_child(&mount.mount_point)
                {
                    cgroups.v1.insert(controller, mount.mount_point.clone());
                }
            }
        }
        Ok(cgroups)
    }

    /// The directories of container `id` of pod `pod_uid` under `parent`,
    /// one per usable controller.
    pub fn container_dirs(
        &self,
        parent: &str,
        pod_uid: &str,
        id: &str,
    ) -> BTreeMap<Controller, PathBuf> {
        self.v1
            .iter()
            .map(|(controller, root)| {
                (
                    *controller,
                    root.join(parent).join(format!("pod{pod_uid}")).join(id),
                )
            })
            .collect()
    }
}

/// Tells the probes of one process apart: two runtimes detecting at once
/// (tests do) must not take each other's probe for a refusal.
static PROBES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn can_make_child(root: &Path) -> bool {
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let probe = root.join(format!("keel-probe-{}-{n}", std::process::id()));
    let made = std::fs::create_dir(&probe).is_ok();
    if made {
        // A cgroup directory without tasks is removed with rmdir.
        let _ = std::fs::remove_dir(&probe);
    }
    made
}

/// What to write in which controller's files for `limits`, in order.
pub fn limit_writes(limits: &Limits) -> Vec<(Controller, &'static str, String)> {
    let mut writes = Vec::new();
    if let Some(bytes) = limits.memory_bytes {
        writes.push((
            Controller::Memory,
            "memory.limit_in_bytes",
            bytes.to_string(),
        ));
    }
    if let Some(millis) = limits.cpu_millis {
        let quota = (millis * CPU_PERIOD_MICROS / 1000).max(CPU_QUOTA_MICROS_MIN);
        writes.push((
            Controller::Cpu,
            "cpu.cfs_period_us",
            CPU_PERIOD_MICROS.to_string(),
        ));
        writes.push((Controller::Cpu, "cpu.cfs_quota_us", quota.to_string()));
    }
    if let Some(millis) = limits.cpu_request_millis {
        let shares = (millis * 1024 / 1000).max(CPU_SHARES_MIN);
        writes.push((Controller::Cpu, "cpu.shares", shares.to_string()));
    }
    if let Some(pids) = limits.pids {
        writes.push((Controller::Pids, "pids.max", pids.to_string()));
    }
    writes
}

/// Makes a container's cgroup directories and writes its limits. A limit
/// whose controller is missing is an error: the container would run
/// unconfined.
pub fn create(dirs: &BTreeMap<Controller, PathBuf>, limits: &Limits) -> Result<(), RuntimeError> {
    for dir in dirs.values() {
        std::fs::create_dir_all(dir)
            .map_err(|source| io_error(format!("creating cgroup {}", dir.display()), source))?;
    }
    for (controller, file, value) in limit_writes(limits) {
        let Some(dir) = dirs.get(&controller) else {
            return Err(RuntimeError::Unsupported(format!(
                "{file} is asked for, but the {} cgroup controller is not usable",
                controller.name()
            )));
        };
        write_file(&dir.join(file), &value)?;
    }
    // Without swap accounting memsw does not exist; with it, a memory
    // limit must also hold swap, or the container would swap instead of
    // meeting the OOM killer.
    if let (Some(bytes), Some(dir)) = (limits.memory_bytes, dirs.get(&Controller::Memory)) {
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            write_file(&memsw, &bytes.to_string())?;
        }
    }
    Ok(())
}

fn write_file(path: &Path, value: &str) -> Result<(), RuntimeError> {
    std::fs::write(path, value)
        .map_err(|source| io_error(format!("writing {value} to {}", path.display()), source))
}

/// Moves the process `pid` (as the writer's pid namespace numbers it) into
/// every one of `dirs`.
pub fn join(dirs: &BTreeMap<Controller, PathBuf>, pid: u32) -> io::Result<()> {
    for dir in dirs.values() {
        std::fs::write(dir.join("cgroup.procs"), pid.to_string()).map_err(|error| {
            io::Error::new(error.kind(), format!("joining {}: {error}", dir.display()))
        })?;
    }
    Ok(())
}

/// The pids in a container's cgroups, host-numbered.
pub fn pids(dirs: &BTreeMap<Controller, PathBuf>) -> Vec<i32> {
    let mut pids: Vec<i32> = dirs
        .values()
        .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|line| line.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Whether the kernel's OOM killer killed a process of the cgroup.
pub fn oom_killed(dirs: &BTreeMap<Controller, PathBuf>) -> bool {
    let Some(dir) = dirs.get(&Controller::Memory) else {
        return false;
    };
    let text = std::fs::read_to_string(dir.join("memory.oom_control")).unwrap_or_default();
    text.lines()
        .filter_map(|line| line.strip_prefix("oom_kill "))
        .any(|count| count.trim().parse::<u64>().is_ok_and(|count| count > 0))
}

/// What the container uses now: the working set (usage without inactive
/// file pages), CPU time and processes.
pub fn stats(dirs: &BTreeMap<Controller, PathBuf>) -> Result<Stats, RuntimeError> {
    let mut stats = Stats::default();
    if let Some(dir) = dirs.get(&Controller::Memory) {
        let usage = read_number(&dir.join("memory.usage_in_bytes"))?;
        let memory_stat = std::fs::read_to_string(dir.join("memory.stat")).map_err(|source| {
            io_error(
                format!("reading {}", dir.join("memory.stat").display()),
                source,
            )
        })?;
        let inactive_file = memory_stat
            .lines()
            .find_map(|line| line.strip_prefix("total_inactive_file "))
            .and_then(|value| value.trim().parse::<u64>().ok())
            .unwrap_or(0);
        stats.memory_bytes = usage.saturating_sub(inactive_file);
    }
    if let Some(dir) = dirs.get(&Controller::Cpuacct) {
        stats.cpu_nanos = read_number(&dir.join("cpuacct.usage"))?;
    }
    if let Some(dir) = dirs.get(&Controller::Pids) {
        stats.pids = read_number(&dir.join("pids.current"))?;
    }
    Ok(stats)
}

fn read_number(path: &Path) -> Result<u64, RuntimeError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| io_error(format!("reading {}", path.display()), source))?;
    text.trim().parse().map_err(|error| {
        io_error(
            format!("reading {}", path.display()),
            io::Error::new(io::ErrorKind::InvalidData, format!("{error}")),
        )
    })
}

/// Removes a container's cgroup directories (waiting a little for the
/// kernel to let go of exited tasks), then its pod's directory when that
/// is empty. Directories already gone are fine.
pub fn remove(dirs: &BTreeMap<Controller, PathBuf>) -> Result<(), RuntimeError> {
    for dir in dirs.values() {
        remove_dir_patiently(dir)?;
        if let Some(pod_dir) = dir.parent() {
            // Busy or not empty: another container of the pod still has one.
            let _ = std::fs::remove_dir(pod_dir);
        }
    }
    Ok(())
}

fn remove_dir_patiently(dir: &Path) -> Result<(), RuntimeError> {
    let started = std::time::Instant::now();
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) if started.elapsed() >= REMOVE_PATIENCE => {
                return Err(io_error(
                    format!("removing cgroup {}", dir.display()),
                    error,
                ));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

pub(crate) fn io_error(what: impl Into<String>, source: io::Error) -> RuntimeError {
    RuntimeError::Io {
        what: what.into(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_gives_cgroup_mounts_only() {
        let text = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                    32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                    33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n\
                    41 31 0:38 / /sys/fs/cgroup/my\\040dir rw,relatime - cgroup2 cgroup2 rw\n";
        let mounts = parse_mountinfo(text);
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[0].mount_point, PathBuf::from("/sys/fs/cgroup/cpu"));
        assert_eq!(mounts[0].options, vec!["rw", "cpu"]);
        assert_eq!(mounts[1].options, vec!["rw", "cpu", "cpuacct"]);
        assert_eq!(mounts[2].filesystem, "cgroup2");
        assert_eq!(
            mounts[2].mount_point,
            PathBuf::from("/sys/fs/cgroup/my dir")
        );
    }

    #[test]
    fn limits_become_cgroup_v1_values() {
        let limits = Limits {
            memory_bytes: Some(20 << 20),
            cpu_millis: Some(250),
            cpu_request_millis: Some(1),
            pids: Some(64),
        };
        let writes = limit_writes(&limits);
        let value = |file: &str| {
            writes
                .iter()
                .find(|write| write.1 == file)
                .map(|write| write.2.clone())
        };
        assert_eq!(value("memory.limit_in_bytes").as_deref(), Some("20971520"));
        assert_eq!(value("cpu.cfs_period_us").as_deref(), Some("100000"));
        assert_eq!(value("cpu.cfs_quota_us").as_deref(), Some("25000"));
        // 1 milli is 1 share, below the kernel's least.
        assert_eq!(value("cpu.shares").as_deref(), Some("2"));
        assert_eq!(value("pids.max").as_deref(), Some("64"));
        assert!(limit_writes(&Limits::default()).is_empty());
    }
}
