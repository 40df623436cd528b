//! `keel up` as a user runs it: it prints the kubeconfig to export,
//! kubectl works through it, Ctrl-C (SIGTERM) stops it cleanly, and what
//! was written is there after the next `keel up` on the same directory.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(
    clippy::disallowed_methods,
    reason = "tests wait in real time and write files"
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use keel_tests::ports::free_port;
use keel_tests::{Background, Stream};

/// The ports `keel up` runs on: client, peer, HTTP front.
fn free_ports() -> [u16; 3] {
    [free_port(), free_port(), free_port()]
}

/// Starts `keel up` on `dir` and `ports`; answers it and the kubeconfig
/// path it printed.
fn up(dir: &Path, [client, peer, front]: [u16; 3]) -> (Background, PathBuf) {
    let args = [
        "up".to_owned(),
        format!("--data-dir={}", dir.display()),
        format!("--client-url=http://127.0.0.1:{client}"),
        format!("--peer-url=http://127.0.0.1:{peer}"),
        format!("--listen=127.0.0.1:{front}"),
        // The store and the front only: a kubelet needs root.
        "--kubelet=false".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut keel = Background::spawn_program(Path::new(env!("CARGO_BIN_EXE_keel")), &args);
    // The banner comes once keeld and the front answer.
    let banner = keel.next_line(Stream::Stdout, Duration::from_secs(30));
    assert!(
        banner
            .as_deref()
            .is_some_and(|b| b.starts_with("keel is up: ")),
        "{banner:?}\n{keel}"
    );
    let export = keel
        .next_line(Stream::Stdout, Duration::from_secs(30))
        .unwrap();
    let path = export
        .trim_end()
        .strip_prefix("export KUBECONFIG=")
        .unwrap();
    (keel, PathBuf::from(path))
}

/// kubectl with `kubeconfig`, retried while the front is still starting.
fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = Command::new(keel_tests::binaries::kubectl(33))
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .output()
            .unwrap();
        if output.status.success() {
            return String::from_utf8(output.stdout).unwrap();
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            Instant::now() < deadline && stderr.contains("refused"),
            "kubectl {args:?}: {stderr}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn keel_up_serves_kubectl_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    // The same ports both times: keeld derives its member ID from its peer
    // URL (see the issue notes), so a restart on another peer port would
    // not find itself in its own membership.
    let ports = free_ports();
    let (keel, kubeconfig) = up(dir.path(), ports);
    assert!(
        kubeconfig.starts_with(dir.path()),
        "{}",
        kubeconfig.display()
    );
    // `kubectl create configmap` sends protobuf, which the front does not
    // read yet: a manifest goes as JSON.
    let manifest = dir.path().join("app.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  a: b\n",
    )
    .unwrap();
    let manifest = manifest.to_str().unwrap();
    assert_eq!(
        kubectl(&kubeconfig, &["create", "--validate=false", "-f", manifest]),
        "configmap/app created\n"
    );
    let output = keel.terminate();
    assert!(output.status.success(), "{output}");

    let (keel, kubeconfig) = up(dir.path(), ports);
    assert_eq!(
        kubectl(
            &kubeconfig,
            &["get", "configmap", "app", "-o", "jsonpath={.data.a}"]
        ),
        "b"
    );
    let output = keel.terminate();
    assert!(output.status.success(), "{output}");
}
