//! The official Kubernetes Python client (PyPI's `kubernetes`, in the
//! virtualenv `tests/prereqs.sh` makes) against one `keel up`: the whole of
//! `tests/python/test_client.py`, a plain unittest script, in one run.
//!
//! ```text
//!   keel up (keeld + front, on free ports) ──► kubeconfig it printed
//!        │                                         │
//!        └─ etcd API ◄── etcdctl compact ── test_client.py (KUBECONFIG,
//!                                            KEEL_ETCD_URL, ETCDCTL)
//!                                                  │
//!   this test ◄── exit status, unittest's verbose report on stderr
//! ```
//!
//! The script holds the expectations (Kubernetes' behaviour, through the
//! client's typed API: CRUD and its errors, the three patch types, watches
//! with resume, 410 Gone and bookmarks, 20 concurrent updaters of one
//! counter). This side starts the stack, runs it once with a deadline,
//! and checks that every test ran and none failed; tests the front cannot
//! pass yet are `unittest.expectedFailure` in the script, each with the
//! reason, and turn this test red once they pass (an unexpected success
//! fails the run), so the marks are taken off as the front catches up.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(
    clippy::disallowed_methods,
    reason = "tests wait in real time and write files"
)]

use std::fs::File;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use keel_tests::binaries::{etcdctl, python_with_kubernetes};
use keel_tests::kube::{KeelUp, FRONT_ONLY};

/// How many tests `test_client.py` holds: a script that stops early (an
/// import error, a renamed class) must not pass as a shorter run.
const SCRIPT_TESTS: usize = 23;
/// How long the whole script may take; it takes about 20 s.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(120);

/// Runs the script to its end (or kills it at the deadline); answers its
/// exit status, stdout and stderr.
fn run_script(dir: &Path, kubeconfig: &Path, etcd_url: &str) -> (ExitStatus, String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/test_client.py");
    // Files, not pipes: nothing to drain while it runs, however much a
    // failing run prints.
    let stdout_path = dir.join("python.stdout");
    let stderr_path = dir.join("python.stderr");
    let mut child = Command::new(python_with_kubernetes())
        .arg("-u")
        .arg(&script)
        .env("KUBECONFIG", kubeconfig)
        .env("KEEL_ETCD_URL", etcd_url)
        .env("ETCDCTL", etcdctl())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).unwrap())
        .stderr(File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + SCRIPT_DEADLINE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!(
                "test_client.py still ran after {SCRIPT_DEADLINE:?}:\n{}",
                std::fs::read_to_string(&stderr_path).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (
        status,
        std::fs::read_to_string(stdout_path).unwrap(),
        std::fs::read_to_string(stderr_path).unwrap(),
    )
}

#[test]
fn the_python_client_against_keel_up() {
    let dir = tempfile::tempdir().unwrap();
    // The front's own behaviour, with nothing moving the objects (as
    // kube-apiserver's integration tests run without a controller
    // manager): no controllers, no scheduler.
    let up = KeelUp::start_with(&dir.path().join("keel"), FRONT_ONLY);
    let began = Instant::now();
    let (status, stdout, stderr) = run_script(dir.path(), &up.kubeconfig, &up.etcd_url);
    let took = began.elapsed();
    // Shown with --nocapture: each test's outcome and the updaters' count
    // of conflicts.
    println!("test_client.py took {took:?}\n{stdout}{stderr}");
    assert!(
        status.success(),
        "test_client.py failed ({status}):\n{stdout}{stderr}\nkeel up:\n{}",
        up.process
    );

    // unittest's verbose lines: "<test> (<module>.<class>.<test>) ... <outcome>".
    let outcomes: Vec<&str> = stderr
        .lines()
        .filter_map(|line| line.split_once(" ... ").map(|(_, outcome)| outcome))
        .collect();
    assert!(
        stderr.contains(&format!("\nRan {SCRIPT_TESTS} tests in ")),
        "not {SCRIPT_TESTS} tests:\n{stderr}"
    );
    assert_eq!(outcomes.len(), SCRIPT_TESTS, "{stderr}");
    assert!(
        outcomes
            .iter()
            .all(|outcome| *outcome == "ok" || *outcome == "expected failure"),
        "{stderr}"
    );
    up.stop();
}
