//! kubectl 1.33, 1.32 and 1.20 against one `keel up`: a user's session
//! with each, side by side, each version in a namespace of its own.
//!
//! ```text
//!   keel up ◄── kubeconfig ── kubectl 1.33 ─ namespace e2e-1-33 ┐
//!      (one for the file)  ── kubectl 1.32 ─ namespace e2e-1-32 ├ in parallel
//!                          ── kubectl 1.20 ─ namespace e2e-1-20 ┘
//!   each: apply (created / unchanged / configured) → get (tables, -o
//!   wide/yaml/json/jsonpath/name, -l, --field-selector, -A) → get -w →
//!   scale, label, annotate, patch ×3 → describe → typed creates (protobuf)
//!   → delete → the errors, as kubectl prints them
//! ```
//!
//! The expected text is Kubernetes': kubectl's printers and messages
//! around kube-apiserver's Status messages, table columns and defaults
//! (the comments name the sources). Where kubectl 1.20 behaves otherwise
//! (client-side validation, older error printing) the test expects what
//! 1.20 does against a Kubernetes server.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(
    clippy::disallowed_methods,
    reason = "tests wait in real time, write files and run kubectl in threads"
)]

#[path = "kubectl_e2e/errors.rs"]
mod errors;
#[path = "kubectl_e2e/reads.rs"]
mod reads;
#[path = "kubectl_e2e/writes.rs"]
mod writes;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keel_tests::binaries::{kubectl, kubectl_1_20};
use keel_tests::kube::{write_manifest, KeelUp, Kubectl, FRONT_ONLY};
use serde_json::Value;

/// How long a watch may take to print a line.
const WATCH_LINE_TIMEOUT: Duration = Duration::from_secs(20);

/// One kubectl version's session: its binary, namespace and files.
struct Session {
    kubectl: Kubectl,
    /// The minor version (33, 32, 20).
    minor: u32,
    namespace: String,
    dir: PathBuf,
}

impl Session {
    fn new(up: &KeelUp, minor: u32, program: PathBuf, scratch: &Path) -> Self {
        let dir = scratch.join(format!("1.{minor}"));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            kubectl: Kubectl::for_keel_up(program, up, &dir),
            minor,
            namespace: format!("e2e-1-{minor}"),
            dir,
        }
    }

    /// kubectl's stdout, `-n <namespace>` added; it must succeed.
    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        self.kubectl.ok(&self.in_namespace(args))
    }

    /// kubectl's stderr, `-n <namespace>` added; it must fail.
    #[track_caller]
    fn fails(&self, args: &[&str]) -> String {
        self.kubectl.fails(&self.in_namespace(args))
    }

    fn in_namespace<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = args.to_vec();
        all.extend(["-n", &self.namespace]);
        all
    }

    /// Writes a manifest; answers its path.
    fn manifest(&self, name: &str, text: &str) -> String {
        write_manifest(&self.dir, name, text)
    }

    /// The object as `-o json` prints it.
    #[track_caller]
    fn json(&self, kind: &str, name: &str) -> Value {
        serde_json::from_str(&self.ok(&["get", kind, name, "-o", "json"])).unwrap()
    }

    /// Whether this kubectl asks the server to validate (1.27 and later
    /// find `fieldValidation` in OpenAPI v3); 1.20 validates client-side.
    fn server_validates(&self) -> bool {
        self.minor >= 27
    }
}

/// The manifest `kubectl apply` starts from: a Namespace, a ConfigMap, a
/// Deployment and a Service, as one multi-document file.
fn application(namespace: &str, mode: &str) -> String {
    format!(
        "apiVersion: v1
kind: Namespace
metadata:
  name: {namespace}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: {namespace}
  labels: {{app: web, tier: config}}
data:
  mode: {mode}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {namespace}
  labels: {{app: web}}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {namespace}
  labels: {{app: web}}
spec:
  selector: {{app: web}}
  ports:
  - port: 80
    targetPort: 80
"
    )
}

/// A table's lines, each split into its columns.
fn rows(table: &str) -> Vec<Vec<&str>> {
    table
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect()
}

/// Whether `text` is an AGE cell as kubectl's tables print one
/// (`duration.HumanDuration`: "5s", "2m", "3m4s"...).
fn is_age(text: &str) -> bool {
    !text.is_empty()
        && text.starts_with(|c: char| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || "smhdy".contains(c))
}

/// The row `row` with its AGE cell (at `age`) checked and blanked, so the
/// rest compares exactly.
#[track_caller]
fn without_age<'a>(row: &[&'a str], age: usize) -> Vec<&'a str> {
    assert!(is_age(row[age]), "no age in {row:?}");
    let mut row = row.to_vec();
    row[age] = "<age>";
    row
}

/// A text's lines with runs of blanks as one space (kubectl's tabwriter
/// pads columns to the longest cell).
fn squeezed(text: &str) -> Vec<String> {
    text.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
fn kubectl_1_33_1_32_and_1_20_against_keel_up() {
    let dir = tempfile::tempdir().unwrap();
    // The front's own behaviour, with nothing moving the objects (as
    // kube-apiserver's integration tests run without a controller
    // manager): no controllers, no scheduler.
    let up = KeelUp::start_with(&dir.path().join("keel"), FRONT_ONLY);
    let began = Instant::now();
    let sessions = [
        Session::new(&up, 33, kubectl(33), dir.path()),
        Session::new(&up, 32, kubectl(32), dir.path()),
        Session::new(&up, 20, kubectl_1_20(), dir.path()),
    ];
    std::thread::scope(|scope| {
        for session in &sessions {
            // Named, so that a failure says which kubectl it was.
            let thread = std::thread::Builder::new().name(format!("kubectl 1.{}", session.minor));
            thread
                .spawn_scoped(scope, move || {
                    reads::discovery(session);
                    reads::apply(session);
                    reads::tables(session);
                    reads::formats(session);
                    reads::watch(session);
                    writes::edits(session);
                    writes::patches(session);
                    reads::describe(session);
                    writes::typed_creates(session);
                    errors::errors(session);
                    writes::namespace_deletion(session);
                })
                .unwrap();
        }
    });
    // Shown with --nocapture: the CI budget is about 40 s.
    println!("three kubectl sessions took {:?}", began.elapsed());
    up.stop();
}
