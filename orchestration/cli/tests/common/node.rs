//! A real node for the kubelet's end-to-end tests: [`NodeGuard`], the
//! harness's node (unique names, a reserved pod network, clean-up also
//! when the test fails) with `keel up`'s and `keel kubelet`'s flags for
//! it; the busybox images; a second machine as a network namespace.

use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use keel_tests::binaries::keel;
use keel_tests::node::{Node, TESTS};
use keel_tests::ports::free_port;

/// Builds a busybox image from Debian's busybox-static under `tags` with
/// `scripts/busybox-image.sh` and imports it with `keel image import`;
/// answers the image store's directory.
pub fn busybox_images(dir: &Path, tags: &[&str]) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/busybox-image.sh");
    keel_tests::node::busybox_images(&keel(), &script, dir, tags).unwrap()
}

/// A test's kubelet node ([`Node`], which it derefs to): its names, and
/// the clean-up of what it made when it is dropped.
pub struct NodeGuard {
    node: Node,
}

impl Deref for NodeGuard {
    type Target = Node;

    fn deref(&self) -> &Node {
        &self.node
    }
}

impl NodeGuard {
    /// Fresh names and a pod network of its own.
    pub fn new() -> Self {
        Self {
            node: Node::new(&TESTS),
        }
    }

    /// `keel up`'s flags for a kubelet of this node, with images from
    /// `images` and its files in `dir`.
    pub fn kubelet_flags(&self, images: &Path, dir: &Path) -> Vec<String> {
        vec![
            "--kubelet=true".into(),
            format!("--node-name={}", self.name),
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

impl NodeGuard {
    /// `keel kubelet`'s flags for this node: [`NodeGuard::kubelet_flags`]
    /// without the two only `keel up` takes (`--kubelet=`, and
    /// `--cluster-cidr=`, which belongs to the controllers' node IPAM).
    pub fn agent_flags(&self, images: &Path, dir: &Path) -> Vec<String> {
        self.kubelet_flags(images, dir)
            .into_iter()
            .filter(|flag| !flag.starts_with("--kubelet=") && !flag.starts_with("--cluster-cidr="))
            .collect()
    }
}

/// A second machine on this one: a network namespace joined to the host
/// by a veth pair on a /30 of its own (host side `.1`, namespace side
/// `.2`). The namespace and the host's end of the pair (the other end
/// goes with the namespace) are removed on drop, after every process
/// still in the namespace is killed.
pub struct Machine {
    /// The namespace's name (`/run/netns/<name>`).
    pub namespace: String,
    /// The host's address on the pair.
    pub host_ip: String,
    /// The machine's address on the pair.
    pub ip: String,
    /// The host's end of the pair.
    host_link: String,
}

impl Machine {
    /// A machine named after `node`'s tag.
    pub fn new(node: &NodeGuard) -> Self {
        let tag = node.tag;
        // 10.250.0.0/16 in /30s; the tests' cluster CIDRs are 10.100-199.
        let [third, fourth] = [(tag >> 6) & 0xff, (tag & 0x3f) * 4];
        let machine = Self {
            namespace: format!("km{tag:06x}"),
            host_ip: format!("10.250.{third}.{}", fourth + 1),
            ip: format!("10.250.{third}.{}", fourth + 2),
            host_link: format!("kh{tag:06x}"),
        };
        let inside = format!("ki{tag:06x}");
        let ns = machine.namespace.as_str();
        ip(&["netns", "add", ns]);
        ip(&[
            "link",
            "add",
            &machine.host_link,
            "type",
            "veth",
            "peer",
            "name",
            &inside,
        ]);
        ip(&["link", "set", &inside, "netns", ns]);
        ip(&[
            "addr",
            "add",
            &format!("{}/30", machine.host_ip),
            "dev",
            &machine.host_link,
        ]);
        ip(&["link", "set", &machine.host_link, "up"]);
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{}/30", machine.ip),
            "dev",
            &inside,
        ]);
        ip(&["-n", ns, "link", "set", &inside, "up"]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
        machine
    }

    /// `program args` run inside the machine's network namespace: the
    /// program and arguments for `nsenter`. Not `ip netns exec`, which
    /// mounts a fresh /sys and so hides the cgroup hierarchies under
    /// /sys/fs/cgroup from the kubelet.
    pub fn inside(&self, program: &Path, args: &[String]) -> (PathBuf, Vec<String>) {
        let mut all = vec![
            format!("--net=/run/netns/{}", self.namespace),
            program.display().to_string(),
        ];
        all.extend_from_slice(args);
        (PathBuf::from("nsenter"), all)
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        let pids = Command::new("ip")
            .args(["netns", "pids", &self.namespace])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        for pid in pids.split_whitespace() {
            drop(Command::new("kill").args(["-9", pid]).status());
        }
        drop(
            Command::new("ip")
                .args(["netns", "delete", &self.namespace])
                .output(),
        );
        drop(
            Command::new("ip")
                .args(["link", "delete", &self.host_link])
                .output(),
        );
    }
}

/// Runs `ip args`, which must succeed.
fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
