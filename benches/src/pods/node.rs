//! The real node a `pods` round runs: names unique to the round (node,
//! bridge, cgroup parent, pod network), the busybox image in the round's
//! own image store, the container monitors it runs, and a guard that
//! removes every process, cgroup, network namespace and bridge the
//! kubelet made, also when the round fails.
//!
//! ```text
//!   busybox_images: scripts/busybox-image.sh ─► busybox.tar ─► keel image import ─► images/
//!   Node::new ─► kb-<tag>, bridge kb<tag>, cgroups keel-bench-<tag>, 10.<200+n>.0.0/16
//!   monitors(runtime dir) ─► pids of `keel container-init monitor <runtime dir>/…`
//!   drop: kill -9 what is left in the cgroups, rmdir them, ip netns delete kb<tag>-*,
//!         ip link delete kb<tag>
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "the node's clean-up reads /sys and /proc and runs ip and kill"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The cgroup v1 hierarchies the kubelet's runtime may use.
const HIERARCHIES: &[&str] = &[
    "memory", "cpu", "cpuacct", "pids", "freezer", "cpuset", "blkio", "devices",
];
/// How many times the guard kills what is left in the cgroups before it
/// removes them anyway.
const KILL_ROUNDS_MAX: usize = 20;
/// The pause between those rounds, for the kernel to reap the killed.
const KILL_PAUSE: Duration = Duration::from_millis(100);

/// Builds a busybox image tagged `tag` with `script`
/// (scripts/busybox-image.sh) and imports it into `dir/images` with
/// `keel image import`; answers the image store's directory.
pub fn busybox_images(
    keel: &Path,
    script: &Path,
    dir: &Path,
    tag: &str,
) -> Result<PathBuf, String> {
    let archive = dir.join("busybox.tar");
    let built = Command::new("bash")
        .arg(script)
        .arg(&archive)
        .arg(tag)
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !built.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&built.stderr)
        ));
    }
    let images = dir.join("images");
    let imported = Command::new(keel)
        .arg("image")
        .arg("import")
        .arg(format!("--images-dir={}", images.display()))
        .arg(&archive)
        .output()
        .map_err(|e| format!("running keel image import: {e}"))?;
    if !imported.status.success() {
        return Err(format!(
            "keel image import failed: {}",
            String::from_utf8_lossy(&imported.stderr)
        ));
    }
    Ok(images)
}

/// A kubelet's names, unique to one round, and the clean-up of what it
/// made.
pub struct Node {
    /// The Node's name.
    pub name: String,
    /// The pod network's bridge (≤ 15 characters).
    pub bridge: String,
    /// The cgroup pods go under.
    pub cgroup_parent: String,
    /// The cluster's pod network (the node's /24 comes from it).
    pub cluster_cidr: String,
}

impl Node {
    /// Fresh names.
    pub fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let tag = (std::process::id() ^ nanos) & 0xff_ffff;
        Self {
            name: format!("kb-{tag:06x}"),
            bridge: format!("kb{tag:06x}"),
            cgroup_parent: format!("keel-bench-{tag:06x}"),
            // Beside the tests' 10.100-199.0.0/16 and keel's 10.244.0.0/16.
            cluster_cidr: format!("10.{}.0.0/16", 200 + tag % 40),
        }
    }

    /// The processes left in the node's cgroups.
    pub fn processes(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for hierarchy in HIERARCHIES {
            let root = Path::new("/sys/fs/cgroup")
                .join(hierarchy)
                .join(&self.cgroup_parent);
            visit(&root, &mut |dir| {
                let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                pids.extend(procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
            });
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// The network namespaces of the node's pods.
    pub fn namespaces(&self) -> Vec<String> {
        let listed = Command::new("ip")
            .args(["netns", "list"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let prefix = format!("{}-", self.bridge);
        listed
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .filter(|name| name.starts_with(&prefix))
            .map(str::to_owned)
            .collect()
    }
}

impl Default for Node {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for _ in 0..KILL_ROUNDS_MAX {
            let pids = self.processes();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                drop(Command::new("kill").arg("-9").arg(pid.to_string()).status());
            }
            std::thread::sleep(KILL_PAUSE);
        }
        for hierarchy in HIERARCHIES {
            let root = Path::new("/sys/fs/cgroup")
                .join(hierarchy)
                .join(&self.cgroup_parent);
            visit(&root, &mut |dir| drop(std::fs::remove_dir(dir)));
        }
        for name in self.namespaces() {
            drop(Command::new("ip").args(["netns", "delete", &name]).status());
        }
        drop(
            Command::new("ip")
                .args(["link", "delete", &self.bridge])
                .output(),
        );
    }
}

/// Calls `each` on `dir` and every directory below it, deepest first.
fn visit(dir: &Path, each: &mut dyn FnMut(&Path)) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                visit(&entry.path(), each);
            }
        }
    }
    if dir.is_dir() {
        each(dir);
    }
}

/// The container monitors (`keel container-init monitor <state dir>`)
/// whose state is under `runtime_dir`: one per running container.
pub fn monitors(runtime_dir: &Path) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let under = runtime_dir.to_string_lossy().into_owned();
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            is_monitor(&cmdline, &under)
        })
        .collect()
}

/// Whether a `/proc/<pid>/cmdline` is a monitor's of a container under
/// `runtime_dir`.
pub fn is_monitor(cmdline: &[u8], runtime_dir: &str) -> bool {
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    args.windows(3).any(|window| {
        window[0] == b"container-init"
            && window[1] == b"monitor"
            && window[2].starts_with(runtime_dir.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitor_is_known_by_its_arguments_and_its_state_dir() {
        let monitor = b"/proc/self/exe\0container-init\0monitor\0/tmp/r/run/abc\0";
        assert!(is_monitor(monitor, "/tmp/r/run"));
        assert!(!is_monitor(monitor, "/tmp/other"));
        let start = b"keel\0container-init\0start\0/tmp/r/run/abc\0";
        assert!(!is_monitor(start, "/tmp/r/run"));
    }

    #[test]
    fn names_fit_the_kernel_and_stay_off_the_tests_networks() {
        let node = Node::new();
        assert!(node.bridge.len() <= 15);
        let second: u32 = node
            .cluster_cidr
            .split('.')
            .nth(1)
            .unwrap_or("")
            .parse()
            .unwrap_or(0);
        assert!((200..240).contains(&second), "{}", node.cluster_cidr);
    }
}
