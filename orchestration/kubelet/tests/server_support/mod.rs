//! What the kubelet endpoint's tests share (server.rs, server_kubectl.rs):
//! a Linux runtime of their own with a busybox image, the endpoint served
//! from the test's process, and clients for its logs and exec.
//!
//! Each test has its own runtime state, logs directory, busybox image and
//! cgroup parent (`keel-server-test-<pid>-<n>`): the `support` module's
//! sandbox, which kills whatever is left in those cgroups and removes
//! them, also when the test fails.

#![allow(dead_code, reason = "each test file uses a part of this module")]
#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests of real containers: real files and time; a panic is the failure report"
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use keel_kubelet::runtime::linux::LinuxRuntime;
use keel_kubelet::runtime::{ContainerRuntime, ContainerSpec};
use keel_kubelet::server::{self, ServerState};
use serde_json::Value;

pub use crate::support::unique;
use crate::support::Sandbox;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// How long a test waits for what should take well under a second.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// One test's runtime, image, kubelet directory and endpoint.
pub struct Fixture {
    pub runtime: Arc<LinuxRuntime>,
    root_dir: PathBuf,
    /// The endpoint's `host:port`.
    pub address: String,
    sandbox: Sandbox,
}

impl Fixture {
    /// Inside a tokio runtime: the endpoint is served by a task of it.
    pub async fn new() -> Self {
        let sandbox = Sandbox::new("keel-server-test");
        let runtime = Arc::clone(&sandbox.runtime);
        let root_dir = sandbox.temp.path().join("kubelet");
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
            address,
            sandbox,
        }
    }

    /// Run `attempt` of container `main` of pod `default/<pod>` (uid
    /// `uid`), running `argv`, its log where the kubelet puts it.
    pub fn spec(&self, pod: &str, uid: &str, attempt: u32, argv: &[&str]) -> ContainerSpec {
        let mut spec = self.sandbox.spec_of(pod, uid, attempt, argv);
        spec.log_path = self
            .root_dir
            .join("logs")
            .join(format!("default_{pod}_{uid}"))
            .join("main")
            .join(format!("{attempt}.log"));
        spec
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
