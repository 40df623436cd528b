//! A real node for the kubelet's end-to-end tests: names unique to the
//! test (node, bridge, cgroup parent, pod CIDR), the busybox images, and a
//! guard that removes every process, cgroup, network namespace and bridge
//! the kubelet made, also when the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keel_tests::binaries::keel;
use keel_tests::ports::free_port;

/// The cgroup v1 hierarchies the runtime may use.
const HIERARCHIES: &[&str] = &[
    "memory", "cpu", "cpuacct", "pids", "freezer", "cpuset", "blkio", "devices",
];

/// Builds a busybox image from Debian's busybox-static under `tags` with
/// `scripts/busybox-image.sh` and imports it with `keel image import`;
/// answers the image store's directory.
pub fn busybox_images(dir: &Path, tags: &[&str]) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/busybox-image.sh");
    let archive = dir.join("busybox.tar");
    let built = Command::new("bash")
        .arg(&script)
        .arg(&archive)
        .args(tags)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let images = dir.join("images");
    let imported = Command::new(keel())
        .arg("image")
        .arg("import")
        .arg(format!("--images-dir={}", images.display()))
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    images
}

/// A kubelet's names, unique to one test, and the clean-up of what it made.
pub struct NodeGuard {
    /// The Node's name.
    pub node_name: String,
    /// The pod network's bridge (≤ 15 characters).
    pub bridge: String,
    /// The cgroup pods go under.
    pub cgroup_parent: String,
    /// The cluster's pod network.
    pub cluster_cidr: String,
}

impl NodeGuard {
    /// Fresh names.
    pub fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let tag = (std::process::id() ^ nanos) & 0xff_ffff;
        Self {
            node_name: format!("kt-{tag:06x}"),
            bridge: format!("kt{tag:06x}"),
            cgroup_parent: format!("keel-test-{tag:06x}"),
            cluster_cidr: format!("10.{}.0.0/16", 100 + tag % 100),
        }
    }

    /// `keel up`'s flags for a kubelet of this node, with images from
    /// `images` and its files in `dir`.
    pub fn kubelet_flags(&self, images: &Path, dir: &Path) -> Vec<String> {
        vec![
            "--kubelet=true".into(),
            format!("--node-name={}", self.node_name),
            format!("--images-dir={}", images.display()),
            format!("--kubelet-dir={}", dir.display()),
            format!("--runtime-dir={}", dir.join("run").display()),
            format!("--cgroup-parent={}", self.cgroup_parent),
            format!("--bridge={}", self.bridge),
            format!("--cluster-cidr={}", self.cluster_cidr),
            format!("--kubelet-port={}", free_port()),
            // Build trees fill the disk; the tests are not about it.
            "--eviction-hard=nodefs.available<1%".into(),
        ]
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

    /// After a clean stop, nothing of the node's pods runs.
    pub fn assert_no_containers_left(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !self.processes().is_empty() {
            let described: Vec<String> = self
                .processes()
                .iter()
                .map(|pid| {
                    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    format!(
                        "{pid}: {}",
                        String::from_utf8_lossy(&cmdline).replace('\0', " ")
                    )
                })
                .collect();
            assert!(
                std::time::Instant::now() < deadline,
                "left running: {described:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Default for NodeGuard {
    fn default() -> Self {
        Self::new()
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

impl Drop for NodeGuard {
    fn drop(&mut self) {
        for _ in 0..20 {
            let pids = self.processes();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                drop(Command::new("kill").arg("-9").arg(pid.to_string()).status());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for hierarchy in HIERARCHIES {
            let root = Path::new("/sys/fs/cgroup")
                .join(hierarchy)
                .join(&self.cgroup_parent);
            visit(&root, &mut |dir| drop(std::fs::remove_dir(dir)));
        }
        let namespaces = Command::new("ip").args(["netns", "list"]).output();
        let listed = namespaces
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let prefix = format!("{}-", self.bridge);
        for line in listed.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if name.starts_with(&prefix) {
                drop(Command::new("ip").args(["netns", "delete", name]).status());
            }
        }
        drop(
            Command::new("ip")
                .args(["link", "delete", &self.bridge])
                .output(),
        );
    }
}
