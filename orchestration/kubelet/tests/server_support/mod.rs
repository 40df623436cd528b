//! What the kubelet endpoint's tests share (server.rs, server_kubectl.rs):
//! a Linux runtime of their own with a busybox image, the endpoint served
//! from the test's process, and clients for its logs and exec.
//!
//! Each test has its own runtime state, logs directory, busybox image and
//! cgroup parent (`keel-server-test-<pid>-<n>`); its [`Fixture`] kills
//! whatever is left in those cgroups and removes them, also when the test
//! fails.

#![allow(dead_code, reason = "each test file uses a part of this module")]
#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests of real containers: real files and time; a panic is the failure report"
)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use keel_kubelet::runtime::linux::{LinuxOptions, LinuxRuntime};
use keel_kubelet::runtime::{ContainerId, ContainerRuntime, ContainerSpec, Limits, PodRef};
use keel_kubelet::server::{self, ServerState};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const BUSYBOX: &str = "/usr/bin/busybox";
const APPLETS: [&str; 7] = ["sh", "echo", "sleep", "cat", "printf", "stty", "true"];
/// How long a test waits for what should take well under a second.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// How long cleaning up waits for the kernel to let go of a cgroup.
const CLEANUP_PATIENCE: Duration = Duration::from_secs(10);

static NEXT: AtomicU32 = AtomicU32::new(0);

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One test's runtime, image, kubelet directory and endpoint.
pub struct Fixture {
    pub runtime: Arc<LinuxRuntime>,
    root_dir: PathBuf,
    rootfs: PathBuf,
    /// The endpoint's `host:port`.
    pub address: String,
    cgroup_roots: Vec<PathBuf>,
    _temp: tempfile::TempDir,
}

impl Fixture {
    /// Inside a tokio runtime: the endpoint is served by a task of it.
    pub async fn new() -> Self {
        let temp = tempfile::tempdir().unwrap();
        let rootfs = temp.path().join("image");
        make_image(&rootfs);
        let options = LinuxOptions {
            state_dir: temp.path().join("containers"),
            helper: vec![env!("CARGO_BIN_EXE_keel-container-init").into()],
            cgroup_parent: unique("keel-server-test"),
        };
        let runtime = Arc::new(LinuxRuntime::new(options.clone()).expect("root and cgroup v1"));
        let cgroup_roots = runtime
            .cgroups()
            .v1
            .values()
            .map(|root| root.join(&options.cgroup_parent))
            .collect();
        let root_dir = temp.path().join("kubelet");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let state = ServerState {
            root_dir: root_dir.clone(),
            runtime: runtime.clone(),
        };
        tokio::spawn(server::serve(listener, state));
        Self {
            runtime,
            root_dir,
            rootfs,
            address,
            cgroup_roots,
            _temp: temp,
        }
    }

    /// Run `attempt` of container `main` of pod `default/<pod>` (uid
    /// `uid`), running `argv`, its log where the kubelet puts it.
    pub fn spec(&self, pod: &str, uid: &str, attempt: u32, argv: &[&str]) -> ContainerSpec {
        ContainerSpec {
            id: ContainerId::new(uid, "main", attempt),
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
            log_path: self
                .root_dir
                .join("logs")
                .join(format!("default_{pod}_{uid}"))
                .join("main")
                .join(format!("{attempt}.log")),
        }
    }

    /// Starts `argv` as run `attempt` of a pod's container.
    pub async fn start(&self, pod: &str, uid: &str, attempt: u32, argv: &[&str]) -> ContainerSpec {
        let spec = self.spec(pod, uid, attempt, argv);
        self.runtime.start(&spec).await.unwrap();
        spec
    }

    /// Runs `argv` to its end as run `attempt` of a pod's container.
    pub async fn run(&self, pod: &str, uid: &str, attempt: u32, argv: &[&str]) {
        let spec = self.start(pod, uid, attempt, argv).await;
        self.runtime.wait(&spec.id).await.unwrap();
    }

    /// `GET path` on the endpoint: its status and body (HTTP/1.0, so the
    /// body ends with the connection).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let mut stream = tokio::net::TcpStream::connect(&self.address).await.unwrap();
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: kubelet\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
            .await
            .expect("the answer ends")
            .unwrap();
        let answer = String::from_utf8(answer).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_owned())
    }

    /// Execs in `default/<pod>`'s container `main` over WebSocket
    /// (v5.channel.k8s.io), sending `input` messages once it is up;
    /// answers the stdout and stderr read and the final Status.
    pub async fn exec(&self, pod: &str, query: &str, input: Vec<Vec<u8>>) -> Exec {
        let (mut socket, response) =
            tokio_tungstenite::connect_async(self.exec_request(pod, query))
                .await
                .unwrap();
        assert_eq!(
            response.headers()["sec-websocket-protocol"],
            "v5.channel.k8s.io"
        );
        for message in input {
            socket.send(Message::Binary(message.into())).await.unwrap();
        }
        let mut exec = Exec::default();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while let Some(message) = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("the session ends")
        {
            match message.unwrap() {
                Message::Binary(data) => match data.first() {
                    Some(1) => exec.stdout.push_str(&String::from_utf8_lossy(&data[1..])),
                    Some(2) => exec.stderr.push_str(&String::from_utf8_lossy(&data[1..])),
                    Some(3) => exec.status = serde_json::from_slice(&data[1..]).unwrap(),
                    other => panic!("a message on channel {other:?}"),
                },
                Message::Close(frame) => {
                    exec.closed = frame.map(|frame| u16::from(frame.code));
                }
                _ => {}
            }
        }
        exec
    }
}

impl Fixture {
    /// The WebSocket request of an exec in `pod`'s container `main` (or
    /// `pod/container`'s).
    pub fn exec_request(
        &self,
        pod: &str,
        query: &str,
    ) -> tokio_tungstenite::tungstenite::handshake::client::Request {
        let target = if pod.contains('/') {
            pod.to_owned()
        } else {
            format!("{pod}/main")
        };
        let url = format!("ws://{}/exec/default/{target}?{query}", self.address);
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "v5.channel.k8s.io".parse().unwrap(),
        );
        request
    }

    /// The status and message of an exec the endpoint refuses to upgrade.
    pub async fn exec_refused(&self, pod: &str, query: &str) -> (u16, String) {
        match tokio_tungstenite::connect_async(self.exec_request(pod, query)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => (
                response.status().as_u16(),
                String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                    .into_owned(),
            ),
            other => panic!("not refused: {other:?}"),
        }
    }
}

/// What an exec printed and how it ended.
#[derive(Debug, Default)]
pub struct Exec {
    pub stdout: String,
    pub stderr: String,
    pub status: Value,
    /// The close frame's code.
    pub closed: Option<u16>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let deadline = Instant::now() + CLEANUP_PATIENCE;
        for root in &self.cgroup_roots {
            let mut dirs = Vec::new();
            collect_dirs(root, &mut dirs);
            // Deepest first: a cgroup is removed after its children.
            dirs.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
            for dir in dirs {
                loop {
                    let procs =
                        std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                    for pid in procs.lines().filter_map(|pid| pid.trim().parse().ok()) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(pid),
                            nix::sys::signal::SIGKILL,
                        );
                    }
                    match std::fs::remove_dir(&dir) {
                        Ok(()) => break,
                        Err(error) if error.kind() == std::io::ErrorKind::NotFound => break,
                        Err(error) if Instant::now() >= deadline => {
                            eprintln!("cleanup: cannot remove {}: {error}", dir.display());
                            break;
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            }
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

/// A busybox image: `/bin/busybox` and a few applets.
fn make_image(rootfs: &Path) {
    for dir in ["bin", "proc", "dev", "sys", "tmp", "etc"] {
        std::fs::create_dir_all(rootfs.join(dir)).unwrap();
    }
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).expect("busybox-static at /usr/bin/busybox");
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
}
