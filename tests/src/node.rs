//! A real kubelet node for a test or a benchmark round: names unique to it
//! (node, bridge, cgroup parent, pod network), the busybox image built
//! and imported into an image store of its own, and a guard that removes
//! every process, cgroup, network namespace and bridge the kubelet made,
//! also when the test fails or the kubelet was killed mid-way.
//!
//! ```text
//!   busybox_images: scripts/busybox-image.sh ─► busybox.tar ─► keel image import ─► images/
//!   Node::new(&TESTS) ─► kt-<tag>, bridge kt<tag>, cgroups keel-test-<tag>,
//!                        10.<octet>.0.0/16 reserved in /tmp/keel-test-networks/<octet>
//!   drop: kill -9 what is left in the cgroups, rmdir them, ip netns delete <bridge>-*
//!         and ip link delete <bridge> until both are gone, release the reservation
//! ```
//!
//! Pod networks are reserved, not drawn: tests of one binary run side by
//! side, and two bridges holding one address break both clusters.

#![allow(
    clippy::disallowed_methods,
    reason = "the node's clean-up reads /sys and /proc, runs ip and kill, and waits in real time"
)]

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The cgroup v1 hierarchies the kubelet's runtime may use.
const HIERARCHIES: &[&str] = &[
    "memory", "cpu", "cpuacct", "pids", "freezer", "cpuset", "blkio", "devices",
];
/// How many times the guard kills what is left in the cgroups (or deletes
/// the namespaces and the bridge) before it gives up.
const CLEAN_ROUNDS_MAX: usize = 20;
/// The pause between those rounds, for the kernel to reap the killed.
const CLEAN_PAUSE: Duration = Duration::from_millis(100);
/// Where pod networks are reserved: a file per second octet of
/// `10.<octet>.0.0/16`, holding the pid of the process that uses it.
const RESERVATIONS: &str = "/tmp/keel-test-networks";

/// How one user of nodes names them.
pub struct Naming {
    /// The node's name is `<short>-<tag>`, its bridge `<short><tag>`
    /// (two characters, so the bridge fits the kernel's 15).
    pub short: &'static str,
    /// The cgroup parent is `<cgroup>-<tag>`.
    pub cgroup: &'static str,
    /// The second octets its pod networks take.
    pub octets: Range<u32>,
}

/// The end-to-end tests' nodes.
pub const TESTS: Naming = Naming {
    short: "kt",
    cgroup: "keel-test",
    octets: 100..200,
};

/// `keel-bench pods`' nodes, beside the tests' and keel's 10.244.0.0/16.
pub const BENCH: Naming = Naming {
    short: "kb",
    cgroup: "keel-bench",
    octets: 200..240,
};

/// Builds a busybox image under `tags` with `script`
/// (scripts/busybox-image.sh) and imports it into `dir/images` with
/// `keel image import`; answers the image store's directory.
pub fn busybox_images(
    keel: &Path,
    script: &Path,
    dir: &Path,
    tags: &[&str],
) -> Result<PathBuf, String> {
    let archive = dir.join("busybox.tar");
    let built = Command::new("bash")
        .arg(script)
        .arg(&archive)
        .args(tags)
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

/// A kubelet's names, unique to one test or round, and the clean-up of
/// what it made.
pub struct Node {
    /// The Node's name.
    pub name: String,
    /// The pod network's bridge (≤ 15 characters).
    pub bridge: String,
    /// The cgroup pods go under.
    pub cgroup_parent: String,
    /// The cluster's pod network (the node's /24 comes from it), reserved
    /// for this node until it is dropped.
    pub cluster_cidr: String,
    /// The tag in the names (24 bits).
    pub tag: u32,
    /// The reservation of the pod network.
    reservation: PathBuf,
}

impl Node {
    /// Fresh names, and a pod network of `naming`'s no one else holds.
    ///
    /// # Panics
    /// When every network of `naming` is held or routed.
    pub fn new(naming: &Naming) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.subsec_nanos());
        let tag = (std::process::id() ^ nanos) & 0xff_ffff;
        let (octet, reservation) = reserve_network(&naming.octets, tag)
            .unwrap_or_else(|| panic!("no free 10.{:?}.0.0/16 for a pod network", naming.octets));
        Self {
            name: format!("{}-{tag:06x}", naming.short),
            bridge: format!("{}{tag:06x}", naming.short),
            cgroup_parent: format!("{}-{tag:06x}", naming.cgroup),
            cluster_cidr: format!("10.{octet}.0.0/16"),
            tag,
            reservation,
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

    /// Whether the node's bridge exists.
    fn has_bridge(&self) -> bool {
        Path::new("/sys/class/net").join(&self.bridge).exists()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for _ in 0..CLEAN_ROUNDS_MAX {
            let pids = self.processes();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                drop(Command::new("kill").arg("-9").arg(pid.to_string()).status());
            }
            std::thread::sleep(CLEAN_PAUSE);
        }
        for hierarchy in HIERARCHIES {
            let root = Path::new("/sys/fs/cgroup")
                .join(hierarchy)
                .join(&self.cgroup_parent);
            visit(&root, &mut |dir| drop(std::fs::remove_dir(dir)));
        }
        // A kubelet killed mid-way may have been making a pod's network:
        // delete until nothing of it is left.
        for _ in 0..CLEAN_ROUNDS_MAX {
            let (namespaces, bridge) = (self.namespaces(), self.has_bridge());
            if namespaces.is_empty() && !bridge {
                break;
            }
            for name in namespaces {
                drop(Command::new("ip").args(["netns", "delete", &name]).output());
            }
            if bridge {
                drop(
                    Command::new("ip")
                        .args(["link", "delete", &self.bridge])
                        .output(),
                );
            }
            std::thread::sleep(CLEAN_PAUSE);
        }
        drop(std::fs::remove_file(&self.reservation));
    }
}

/// Reserves a second octet of `octets` for a pod network, starting at
/// `tag`: one no other live process holds and no route of this machine
/// reaches. A reservation whose process is gone is taken over. Answers
/// the octet and its reservation file.
fn reserve_network(octets: &Range<u32>, tag: u32) -> Option<(u32, PathBuf)> {
    std::fs::create_dir_all(RESERVATIONS).ok()?;
    let routes = Command::new("ip")
        .args(["-4", "route", "show", "table", "all"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let span = octets.end - octets.start;
    (0..span).find_map(|step| {
        let octet = octets.start + (tag + step) % span;
        if routes.contains(&format!("10.{octet}.")) {
            return None;
        }
        let file = Path::new(RESERVATIONS).join(octet.to_string());
        if claim(&file) {
            return Some((octet, file));
        }
        let holder = std::fs::read_to_string(&file).unwrap_or_default();
        let holder = holder.trim();
        let gone = !holder.is_empty() && !Path::new("/proc").join(holder).exists();
        // Of two takers of a stale reservation, one removes it and both
        // race to claim it again: one wins.
        (gone && std::fs::remove_file(&file).is_ok() && claim(&file)).then_some((octet, file))
    })
}

/// Creates `file` with this process's pid in it, unless it exists.
fn claim(file: &Path) -> bool {
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(file);
    created.is_ok_and(|mut created| {
        std::io::Write::write_all(&mut created, std::process::id().to_string().as_bytes()).is_ok()
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_kernel_and_networks_are_not_shared() {
        let nodes: Vec<Node> = (0..5).map(|_| Node::new(&BENCH)).collect();
        let mut networks: Vec<&str> = nodes.iter().map(|n| n.cluster_cidr.as_str()).collect();
        networks.sort_unstable();
        networks.dedup();
        assert_eq!(networks.len(), 5, "{networks:?}");
        for node in &nodes {
            assert!(node.bridge.len() <= 15, "{}", node.bridge);
            let second: u32 = node
                .cluster_cidr
                .split('.')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            assert!(BENCH.octets.contains(&second), "{}", node.cluster_cidr);
            assert!(node.reservation.exists());
        }
        let reservation = nodes[0].reservation.clone();
        drop(nodes);
        assert!(!reservation.exists());
    }
}
