//! What the kubelet's tests of real containers share (runtime.rs,
//! server.rs, server_kubectl.rs): a Linux runtime of the test's own, with
//! a busybox image made from the machine's busybox-static, a builder of
//! container specs, and the clean-up of its cgroups and monitors.
//!
//! Each [`Sandbox`] has its own state directory, image and cgroup parent
//! (`<prefix>-<pid>-<n>`); dropped, it kills whatever is left in those
//! cgroups, removes them and waits for the monitors to end, also when the
//! test fails.

#![allow(dead_code, reason = "each test file uses a part of this module")]
#![allow(
    clippy::disallowed_methods,
    reason = "tests of real containers: real files and time"
)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_kubelet::runtime::linux::{LinuxOptions, LinuxRuntime};
use keel_kubelet::runtime::{ContainerId, ContainerSpec, Limits, PodRef};

const BUSYBOX: &str = "/usr/bin/busybox";
/// The applets the image links to busybox.
const APPLETS: [&str; 24] = [
    "sh", "echo", "sleep", "cat", "ls", "hostname", "ps", "head", "tail", "dd", "true", "false",
    "env", "pwd", "printf", "wc", "grep", "kill", "mkdir", "id", "readlink", "mount", "stty",
    "test",
];
/// How long cleaning up waits for the kernel to let go of a cgroup, and
/// for the monitors to end.
const CLEANUP_PATIENCE: Duration = Duration::from_secs(10);

static NEXT: AtomicU32 = AtomicU32::new(0);

/// `<prefix>-<pid>-<n>`, unique to this call.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One test's runtime, image and directories; cleans up on drop.
pub struct Sandbox {
    pub runtime: Arc<LinuxRuntime>,
    pub options: LinuxOptions,
    /// The busybox image's root file system.
    pub rootfs: PathBuf,
    pub temp: tempfile::TempDir,
    cgroup_roots: Vec<PathBuf>,
}

impl Sandbox {
    /// A runtime whose cgroup parent is `unique(cgroup_prefix)`.
    pub fn new(cgroup_prefix: &str) -> Self {
        let temp = tempfile::tempdir().expect("a temporary directory");
        let rootfs = temp.path().join("image");
        make_image(&rootfs);
        let options = LinuxOptions {
            state_dir: temp.path().join("containers"),
            helper: vec![env!("CARGO_BIN_EXE_keel-container-init").into()],
            cgroup_parent: unique(cgroup_prefix),
        };
        let runtime =
            LinuxRuntime::new(options.clone()).expect("the runtime runs here (root, cgroup v1)");
        let cgroup_roots = runtime
            .cgroups()
            .v1
            .values()
            .map(|root| root.join(&options.cgroup_parent))
            .collect();
        Self {
            runtime: Arc::new(runtime),
            options,
            rootfs,
            temp,
            cgroup_roots,
        }
    }

    /// Run `attempt` of container `main` of pod `default/<pod>` (uid
    /// `uid`) running `argv` in the busybox image, its log at
    /// `<temp>/logs/<id>.log`.
    pub fn spec_of(&self, pod: &str, uid: &str, attempt: u32, argv: &[&str]) -> ContainerSpec {
        let id = ContainerId::new(uid, "main", attempt);
        ContainerSpec {
            log_path: self.temp.path().join("logs").join(format!("{id}.log")),
            id,
            pod: PodRef {
                namespace: "default".into(),
                name: pod.into(),
                uid: uid.into(),
            },
            name: "main".into(),
            attempt,
            image: "busybox:test".into(),
            rootfs: self.rootfs.clone(),
            argv: argv.iter().map(|arg| (*arg).to_owned()).collect(),
            env: vec![("PATH".into(), "/bin".into())],
            working_dir: String::new(),
            hostname: pod.into(),
            mounts: Vec::new(),
            limits: Limits::default(),
            network_namespace: None,
        }
    }

    /// The cgroups of `spec`'s container, one per hierarchy.
    pub fn container_cgroups(&self, spec: &ContainerSpec) -> Vec<PathBuf> {
        self.cgroup_roots
            .iter()
            .map(|root| root.join(format!("pod{}", spec.pod.uid)).join(&spec.id.0))
            .collect()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let deadline = Instant::now() + CLEANUP_PATIENCE;
        for root in &self.cgroup_roots {
            let mut dirs = Vec::new();
            collect_dirs(root, &mut dirs);
            // Deepest first: a cgroup is removed after its children.
            dirs.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
            for dir in dirs {
                remove_cgroup(&dir, deadline);
            }
        }
        // The monitors end with their containers; wait for them so that
        // none writes into the temporary directory as it goes.
        for entry in std::fs::read_dir(&self.options.state_dir)
            .into_iter()
            .flatten()
            .flatten()
        {
            let Ok(text) = std::fs::read_to_string(entry.path().join("state.json")) else {
                continue;
            };
            let Ok(state) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if let Some(pid) = state["monitor_pid"].as_i64() {
                while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

/// Kills what runs in cgroup `dir` and removes it, trying until
/// `deadline`.
fn remove_cgroup(dir: &Path, deadline: Instant) {
    loop {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|pid| pid.trim().parse().ok()) {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return,
            Err(error) if Instant::now() >= deadline => {
                eprintln!("cleanup: cannot remove {}: {error}", dir.display());
                return;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if !dir.is_dir() {
        return;
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            collect_dirs(&entry.path(), out);
        }
    }
    out.push(dir.to_path_buf());
}

/// A busybox image: `/bin/busybox`, its applets as symlinks, the usual
/// directories, and `/etc/marker`.
fn make_image(rootfs: &Path) {
    for dir in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(rootfs.join(dir)).expect("an image directory");
    }
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("busybox-static at /usr/bin/busybox");
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
            .expect("an applet link");
    }
    std::fs::write(rootfs.join("etc/marker"), "from the image\n").expect("/etc/marker");
}
