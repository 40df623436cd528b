//! A real node for the kubelet's end-to-end tests: names unique to the
//! test (node, bridge, cgroup parent, pod CIDR), the busybox images, and a
//! guard that removes every process, cgroup, network namespace and bridge
//! the kubelet made, also when the test fails; a second machine as a
//! network namespace, and `keel up` reachable from it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keel_tests::binaries::keel;
use keel_tests::kube::KeelUp;
use keel_tests::ports::free_port;
use keel_tests::{Background, Stream};

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

    /// The tag in this node's names (six hex digits).
    fn tag(&self) -> u32 {
        u32::from_str_radix(&self.bridge[2..], 16).unwrap()
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
        let tag = node.tag();
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

/// `keel up` as [`KeelUp::start_with`] starts it, but with keeld's
/// client URL on `host_ip` (so that a kubelet on another machine reaches
/// it); the front stays on loopback.
pub fn keel_up_on(dir: &Path, host_ip: &str, extra: &[&str]) -> KeelUp {
    let [client, peer, front] = [free_port(), free_port(), free_port()];
    let etcd_url = format!("http://{host_ip}:{client}");
    let args = [
        "up".to_owned(),
        format!("--data-dir={}", dir.display()),
        format!("--client-url={etcd_url}"),
        format!("--peer-url=http://127.0.0.1:{peer}"),
        format!("--listen=127.0.0.1:{front}"),
    ];
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend_from_slice(extra);
    let mut process = Background::spawn_program(&keel(), &args);
    let deadline = Duration::from_secs(30);
    let banner = process.next_line(Stream::Stdout, deadline);
    assert!(
        banner
            .as_deref()
            .is_some_and(|l| l.starts_with("keel is up: ")),
        "{banner:?}\n{process}"
    );
    let export = process.next_line(Stream::Stdout, deadline).unwrap();
    let kubeconfig = PathBuf::from(
        export
            .trim_end()
            .strip_prefix("export KUBECONFIG=")
            .unwrap(),
    );
    let began = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", front)).is_err() {
        assert!(began.elapsed() < deadline, "no front on {front}\n{process}");
        std::thread::sleep(Duration::from_millis(100));
    }
    KeelUp {
        process,
        etcd_url,
        kubeconfig,
    }
}
