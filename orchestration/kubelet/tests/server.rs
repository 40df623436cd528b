//! The kubelet's endpoint against real containers of the Linux runtime:
//! `/containerLogs` (tail, timestamps, limits, previous, follow until the
//! run ends) and `/exec` over WebSocket (output, exit codes, stdin and its
//! v5 close, a terminal with resize, refusals). Root only, as in CI.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests of real containers: real files and time; a panic is the failure report"
)]

mod server_support;
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use keel_kubelet::runtime::{ContainerId, ContainerRuntime};
use serde_json::Value;
use server_support::{unique, Fixture, PATIENCE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn exit_code(status: &Value) -> Option<&str> {
    status
        .pointer("/details/causes/0/message")
        .and_then(Value::as_str)
}

#[tokio::test]
async fn exec_runs_in_the_container_and_reports_its_exit_code() {
    let fixture = Fixture::new().await;
    let uid = unique("uid");
    let spec = fixture.start("web", &uid, 0, &["sleep", "100"]).await;

    let exec = fixture
        .exec(
            "web",
            "command=echo&command=hi&stdout=1&stderr=1",
            Vec::new(),
        )
        .await;
    assert_eq!(exec.stdout, "hi\n");
    assert_eq!(exec.stderr, "");
    assert_eq!(
        exec.status,
        serde_json::json!({"metadata": {}, "status": "Success"})
    );
    assert_eq!(exec.closed, Some(1000));

    let exec = fixture
        .exec(
            "web",
            "command=sh&command=-c&command=echo+oops+%3E%262%3B+exit+3&stdout=true&stderr=true",
            Vec::new(),
        )
        .await;
    assert_eq!(exec.stderr, "oops\n");
    assert_eq!(exec.status["status"], "Failure");
    assert_eq!(exec.status["reason"], "NonZeroExitCode");
    assert_eq!(exit_code(&exec.status), Some("3"));

    // The container's own hostname: the command runs inside it.
    let exec = fixture
        .exec(
            "web",
            "command=cat&command=/proc/sys/kernel/hostname&stdout=1",
            Vec::new(),
        )
        .await;
    assert_eq!(exec.stdout, "web\n");

    fixture
        .runtime
        .stop(&spec.id, Duration::ZERO)
        .await
        .unwrap();
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn exec_stdin_ends_with_the_v5_close_channel() {
    let fixture = Fixture::new().await;
    let uid = unique("uid");
    let spec = fixture.start("web", &uid, 0, &["sleep", "100"]).await;
    let exec = fixture
        .exec(
            "web",
            "command=cat&stdin=1&stdout=1",
            vec![
                b"\x00hello ".to_vec(),
                b"\x00world\n".to_vec(),
                vec![255, 0],
            ],
        )
        .await;
    assert_eq!(exec.stdout, "hello world\n");
    assert_eq!(exec.status["status"], "Success");
    fixture
        .runtime
        .stop(&spec.id, Duration::ZERO)
        .await
        .unwrap();
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn exec_with_a_tty_is_resized() {
    let fixture = Fixture::new().await;
    let uid = unique("uid");
    let spec = fixture.start("web", &uid, 0, &["sleep", "100"]).await;
    // The size is set before the line that lets the command go on.
    let exec = fixture
        .exec(
            "web",
            "command=sh&command=-c&command=read+line%3B+stty+size%3B+exit+5&stdin=1&stdout=1&tty=1",
            vec![
                b"\x04{\"Width\":123,\"Height\":45}".to_vec(),
                b"\x00go\n".to_vec(),
            ],
        )
        .await;
    assert!(exec.stdout.contains("45 123\r\n"), "{:?}", exec.stdout);
    assert_eq!(exit_code(&exec.status), Some("5"));
    fixture
        .runtime
        .stop(&spec.id, Duration::ZERO)
        .await
        .unwrap();
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn exec_refusals() {
    let fixture = Fixture::new().await;
    // No such pod, no such container: the kubelet's 404s, before any
    // look at the upgrade.
    assert_eq!(
        fixture
            .exec_refused("nothing", "command=true&stdout=1")
            .await,
        (404, "pod does not exist".to_owned())
    );
    let uid = unique("uid");
    let spec = fixture.start("web", &uid, 0, &["sleep", "100"]).await;
    assert_eq!(
        fixture
            .exec_refused("web/other", "command=true&stdout=1")
            .await,
        (404, "container not found (\"other\")".to_owned())
    );
    // Not an upgrade (a plain GET): refused before anything runs.
    let (status, body) = fixture
        .get("/exec/default/web/main?command=true&stdout=1")
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.starts_with("Upgrade request required"), "{body}");
    let (status, body) = fixture.get("/exec/default/web/main?stdout=1").await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            "you must specify at least one command for the container"
        )
    );
    fixture
        .runtime
        .stop(&spec.id, Duration::ZERO)
        .await
        .unwrap();
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn logs_of_a_run_with_tail_timestamps_and_previous() {
    let fixture = Fixture::new().await;
    let uid = unique("uid");
    let (status, body) = fixture.get("/containerLogs/default/web/main").await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            "container \"main\" in pod \"web\" is waiting to start: ContainerCreating"
        )
    );
    fixture
        .run(
            "web",
            &uid,
            0,
            // stdout and stderr are read apart: a pause keeps their order.
            &[
                "sh",
                "-c",
                "echo zero; sleep 0.1; echo one >&2; sleep 0.1; echo two",
            ],
        )
        .await;
    let (status, body) = fixture.get("/containerLogs/default/web/main").await;
    assert_eq!((status, body.as_str()), (200, "zero\none\ntwo\n"));
    let (_, body) = fixture
        .get("/containerLogs/default/web/main?tailLines=2")
        .await;
    assert_eq!(body, "one\ntwo\n");
    let (_, body) = fixture
        .get("/containerLogs/default/web/main?limitBytes=7")
        .await;
    assert_eq!(body, "zero\non");

    let (_, body) = fixture
        .get("/containerLogs/default/web/main?timestamps=true&tailLines=1")
        .await;
    let (time, text) = body.split_once(' ').unwrap();
    assert_eq!(text, "two\n");
    assert_eq!(time.len(), "2016-10-06T00:17:09.669794202Z".len(), "{time}");
    assert!(time.parse::<jiff::Timestamp>().is_ok(), "{time}");

    let (status, body) = fixture
        .get("/containerLogs/default/web/main?previous=true")
        .await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            "previous terminated container \"main\" in pod \"web\" not found"
        )
    );
    // A restart: the current run is the new one, the previous the old.
    fixture.run("web", &uid, 1, &["echo", "restarted"]).await;
    let (_, body) = fixture.get("/containerLogs/default/web/main").await;
    assert_eq!(body, "restarted\n");
    let (_, body) = fixture
        .get("/containerLogs/default/web/main?previous=1")
        .await;
    assert_eq!(body, "zero\none\ntwo\n");

    let (status, body) = fixture
        .get("/containerLogs/default/web/main?tailLines=-1")
        .await;
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            "tailLines: Invalid value: -1: must be greater than or equal to 0"
        )
    );
    for id in [
        ContainerId::new(&uid, "main", 0),
        ContainerId::new(&uid, "main", 1),
    ] {
        fixture.runtime.remove(&id).await.unwrap();
    }
}

#[tokio::test]
async fn follow_streams_until_the_run_ends() {
    let fixture = Fixture::new().await;
    let uid = unique("uid");
    let spec = fixture
        .start(
            "web",
            &uid,
            0,
            &[
                "sh",
                "-c",
                "echo first; sleep 1; echo second; sleep 1; echo third",
            ],
        )
        .await;
    let started = Instant::now();
    let (status, body) = fixture
        .get("/containerLogs/default/web/main?follow=true")
        .await;
    assert_eq!((status, body.as_str()), (200, "first\nsecond\nthird\n"));
    // It followed the run to its end (about 2 s), not just what was there.
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert!(fixture.runtime.wait(&spec.id).await.is_ok());
    fixture.runtime.remove(&spec.id).await.unwrap();
}

/// Whether this process has `path` open.
fn is_open(path: &Path) -> bool {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == path))
}

/// Waits until `done` holds (checked every 20 ms), at most PATIENCE.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn follow_ends_when_the_client_goes_away() {
    let fixture = Fixture::new().await;
    let uid = unique("uid");
    let spec = fixture
        .start("web", &uid, 0, &["sh", "-c", "echo first; sleep 100"])
        .await;
    let mut stream = tokio::net::TcpStream::connect(&fixture.address)
        .await
        .unwrap();
    stream
        .write_all(
            b"GET /containerLogs/default/web/main?follow=true HTTP/1.1\r\nHost: kubelet\r\n\r\n",
        )
        .await
        .unwrap();
    let mut read = Vec::new();
    let mut buffer = [0u8; 1024];
    while !String::from_utf8_lossy(&read).contains("first\n") {
        let count = tokio::time::timeout(PATIENCE, stream.read(&mut buffer))
            .await
            .expect("the first line comes")
            .unwrap();
        assert!(
            count > 0,
            "the answer ended early: {:?}",
            String::from_utf8_lossy(&read)
        );
        read.extend_from_slice(&buffer[..count]);
    }
    // The follower holds the log open while it follows...
    wait_until("the follower opens the log", || is_open(&spec.log_path)).await;
    drop(stream);
    // ...and lets go of it once its client has gone, though the container
    // runs on.
    wait_until("the follower closes the log", || !is_open(&spec.log_path)).await;
    let (status, _) = fixture.get("/containerLogs/default/web/main").await;
    assert_eq!(status, 200);
    fixture
        .runtime
        .stop(&spec.id, Duration::ZERO)
        .await
        .unwrap();
    fixture.runtime.remove(&spec.id).await.unwrap();
}

#[tokio::test]
async fn a_log_larger_than_one_read_comes_whole() {
    let fixture = Fixture::new().await;
    let uid = unique("uid");
    // About 1.7 MB of CRI log: more than one read of the file (1 MiB), so
    // an entry is cut between two reads.
    let script = "i=0; while [ $i -lt 40000 ]; do echo line-$i; i=$((i+1)); done";
    fixture.run("web", &uid, 0, &["sh", "-c", script]).await;
    let (status, body) = fixture.get("/containerLogs/default/web/main").await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len(), 40000);
    assert!(
        lines
            .iter()
            .enumerate()
            .all(|(index, line)| *line == format!("line-{index}")),
        "lines out of order or cut"
    );
    fixture
        .runtime
        .remove(&ContainerId::new(&uid, "main", 0))
        .await
        .unwrap();
}

#[tokio::test]
async fn exec_answers_pings() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let fixture = Fixture::new().await;
    let uid = unique("uid");
    let spec = fixture.start("web", &uid, 0, &["sleep", "100"]).await;
    // kubectl's heartbeat: a ping every 5 s, the session dropped when no
    // pong comes back in time.
    let request = fixture.exec_request("web", "command=sleep&command=1&stdout=1");
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::Ping(b"heartbeat"[..].into()))
        .await
        .unwrap();
    let mut ponged = false;
    while let Some(message) = tokio::time::timeout(PATIENCE, socket.next())
        .await
        .expect("the session ends")
    {
        if let Message::Pong(payload) = message.unwrap() {
            ponged = &payload[..] == b"heartbeat";
        }
    }
    assert!(ponged, "no pong to the ping");
    fixture
        .runtime
        .stop(&spec.id, Duration::ZERO)
        .await
        .unwrap();
    fixture.runtime.remove(&spec.id).await.unwrap();
}
