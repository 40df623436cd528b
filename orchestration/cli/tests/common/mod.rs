//! What the end-to-end tests of the orchestration half share: simulated
//! nodes as `keel sim-nodes` processes, polling with kubectl, and a
//! `kubectl get --watch` whose events the test reads one by one.

#![allow(dead_code, reason = "each test file uses its own part")]

pub mod node;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use keel_tests::binaries::keel;
use keel_tests::kube::{KeelUp, Kubectl};
use keel_tests::{Background, Stream};
use serde_json::Value;

/// How long anything the tests wait for may take.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// `keel sim-nodes` against `up`: `count` nodes named `<prefix>-<i>`, 4
/// cpus and 16Gi each, renewing their Leases every 500 ms.
pub fn sim_nodes(up: &KeelUp, prefix: &str, count: usize) -> Background {
    let args = [
        "sim-nodes".to_owned(),
        format!("--endpoints={}", up.etcd_url),
        format!("--prefix={prefix}"),
        format!("--count={count}"),
        "--cpu=4".to_owned(),
        "--memory=16Gi".to_owned(),
        "--renew-interval=500ms".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Background::spawn_program(&keel(), &args)
}

/// Polls `check` every 200 ms until it answers `Some`.
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The objects `kubectl get <args> -o json` lists.
pub fn items(kubectl: &Kubectl, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend(["-o", "json"]);
    let list: Value = serde_json::from_str(&kubectl.ok(&all)).unwrap();
    list["items"].as_array().unwrap().clone()
}

/// The object `kubectl get <kind> <name> -o json` prints.
pub fn object(kubectl: &Kubectl, kind: &str, name: &str) -> Value {
    serde_json::from_str(&kubectl.ok(&["get", kind, name, "-o", "json"])).unwrap()
}

/// The string at `pointer`, or "".
pub fn text<'v>(object: &'v Value, pointer: &str) -> &'v str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The status of condition `kind`, or "".
pub fn condition<'v>(object: &'v Value, kind: &str) -> &'v str {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind)
        .map_or("", |c| text(c, "/status"))
}

/// Whether a pod is being deleted.
pub fn is_terminating(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp").is_some()
}

/// `kubectl get <args> --watch --output-watch-events -o json`, running in
/// the background: the events it prints, read one at a time (kubectl
/// 1.33 prints each on a line of its own; an event over several lines is
/// read until it parses).
pub struct WatchEvents {
    kubectl: Background,
    /// The lines of an event not yet printed whole.
    partial: String,
}

/// One event of a watch.
pub struct WatchEvent {
    /// ADDED, MODIFIED or DELETED.
    pub kind: String,
    /// The object as it is after the event (as it was, for DELETED).
    pub object: Value,
}

impl WatchEvents {
    /// Starts the watch.
    pub fn start(kubectl: &Kubectl, args: &[&str]) -> Self {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend(["--watch", "--output-watch-events", "-o", "json"]);
        Self {
            kubectl: kubectl.spawn(&all),
            partial: String::new(),
        }
    }

    /// The next event, waiting up to `timeout` for each of its lines;
    /// `None` if it did not come in time (what came of it is kept).
    pub fn next(&mut self, timeout: Duration) -> Option<WatchEvent> {
        loop {
            let line = self.kubectl.next_line(Stream::Stdout, timeout)?;
            self.partial.push_str(&line);
            match serde_json::from_str::<Value>(&self.partial) {
                Ok(event) => {
                    self.partial.clear();
                    return Some(WatchEvent {
                        kind: text(&event, "/type").to_owned(),
                        object: event["object"].clone(),
                    });
                }
                Err(error) if error.is_eof() => {}
                Err(error) => panic!("a watch event: {error}: {}", self.partial),
            }
        }
    }

    /// The next event, which must come within [`PATIENCE`].
    pub fn expect(&mut self) -> WatchEvent {
        self.next(PATIENCE)
            .unwrap_or_else(|| panic!("no watch event within {PATIENCE:?}\n{}", self.kubectl))
    }

    /// Every event printed so far, without waiting long for more.
    pub fn ready(&mut self) -> Vec<WatchEvent> {
        std::iter::from_fn(|| self.next(Duration::from_millis(200))).collect()
    }
}

/// Follows a Deployment's pods event by event and checks the rolling
/// update's bounds in every state it sees: pods not being deleted never
/// more than `replicas + max_surge`, Ready ones among them never fewer
/// than `replicas - max_unavailable`.
pub struct RolloutChecker {
    replicas: usize,
    max_surge: usize,
    max_unavailable: usize,
    /// The pods, by UID.
    pods: BTreeMap<String, Value>,
    /// States checked.
    pub states: usize,
    /// What broke the bounds, and after which event.
    pub violations: Vec<String>,
}

impl RolloutChecker {
    /// A checker of `replicas` pods with the strategy's two bounds.
    pub fn new(replicas: usize, max_surge: usize, max_unavailable: usize) -> Self {
        Self {
            replicas,
            max_surge,
            max_unavailable,
            pods: BTreeMap::new(),
            states: 0,
            violations: Vec::new(),
        }
    }

    /// (pods not being deleted, Ready ones among them).
    pub fn counts(&self) -> (usize, usize) {
        let live: Vec<&Value> = self.pods.values().filter(|p| !is_terminating(p)).collect();
        let ready = live
            .iter()
            .filter(|p| condition(p, "Ready") == "True")
            .count();
        (live.len(), ready)
    }

    /// Applies `event` without checking (the state before the rollout).
    pub fn apply(&mut self, event: WatchEvent) {
        let uid = text(&event.object, "/metadata/uid").to_owned();
        if event.kind == "DELETED" {
            self.pods.remove(&uid);
        } else {
            self.pods.insert(uid, event.object);
        }
    }

    /// Applies `event` and checks the state it leaves.
    pub fn check(&mut self, event: WatchEvent) {
        let what = format!("{} {}", event.kind, text(&event.object, "/metadata/name"));
        self.apply(event);
        self.states += 1;
        let (live, ready) = self.counts();
        if live > self.replicas + self.max_surge {
            self.violations.push(format!("{live} pods after {what}"));
        }
        if ready + self.max_unavailable < self.replicas {
            self.violations
                .push(format!("{ready} available pods after {what}"));
        }
    }
}
