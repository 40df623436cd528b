//! Two schedulers and two controller managers at once, each its own
//! process, against one `keel up` that runs neither: exactly one of each
//! acts, killing it hands over to the other within its lease's TTL, and no
//! pod is ever bound twice or made twice.
//!
//! ```text
//!   keel up --scheduler=false --controllers=      ◄── kubectl 1.33
//!      ▲      ▲                                         get --watch (every pod event)
//!      │      └── keel sim-nodes --count 3
//!      ├── keel scheduler   --identity s-a | s-b   (--lease-ttl-secs 3)
//!      └── keel controllers --identity c-a | c-b   (--lease-ttl-secs 3)
//! ```
//!
//! A Deployment of 6 rolls out under the first leaders (6 pods, not 12:
//! the standby manager makes none); both leaders are killed (SIGKILL: no
//! resignation, the leadership ends with the lease); the standbys lead
//! within the TTL and scale the Deployment to 9. Every pod the watch saw
//! was bound once, to one node, and 9 pods were ever made.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests wait in real time")]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{condition, eventually, is_terminating, items, sim_nodes, text, WatchEvents};
use keel_tests::binaries::{keel, kubectl};
use keel_tests::kube::{write_manifest, KeelUp, Kubectl, FRONT_ONLY};
use keel_tests::{Background, Stream};

/// The leadership's TTL for every copy.
const TTL_SECS: u64 = 3;

const WEB: &str = r"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 6
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
";

/// `keel <command>` (scheduler or controllers) as `identity`.
fn copy(up: &KeelUp, command: &str, identity: &str) -> Background {
    let args = [
        command.to_owned(),
        format!("--endpoints={}", up.etcd_url),
        format!("--identity={identity}"),
        format!("--lease-ttl-secs={TTL_SECS}"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Background::spawn_program(&keel(), &args)
}

/// Whether a copy has said it leads (the election logs "leading").
fn leads(copy: &mut Background) -> bool {
    copy.received(Stream::Stderr).contains("leading")
}

/// Waits until exactly one of two copies leads; answers (leader,
/// standby).
fn one_leads(mut copies: Vec<Background>, what: &str) -> (Background, Background) {
    let leader = eventually(&format!("one {what} to lead"), || {
        let leading: Vec<usize> = (0..copies.len())
            .filter(|&i| leads(&mut copies[i]))
            .collect();
        (leading.len() == 1).then(|| leading[0])
    });
    let leader = copies.swap_remove(leader);
    (leader, copies.pop().unwrap())
}

/// Kills `leader` and answers how long `standby` took to lead.
fn hand_over(leader: Background, standby: &mut Background) -> Duration {
    assert!(!leads(standby), "the standby led alongside:\n{standby}");
    let killed = Instant::now();
    drop(leader.kill());
    eventually("the standby to lead", || leads(standby).then_some(()));
    killed.elapsed()
}

/// Waits for `count` Ready pods of the Deployment, none being deleted.
fn serving(kubectl: &Kubectl, count: usize) {
    eventually(&format!("{count} web pods Ready"), || {
        let pods = items(kubectl, &["pods", "-l", "app=web"]);
        let ready = pods
            .iter()
            .filter(|p| !is_terminating(p) && condition(p, "Ready") == "True")
            .count();
        (pods.len() == count && ready == count).then_some(())
    });
}

#[test]
fn one_scheduler_and_one_manager_act_and_hand_over() {
    let dir = tempfile::tempdir().unwrap();
    let up = KeelUp::start_with(&dir.path().join("keel"), FRONT_ONLY);
    let kubectl = Kubectl::for_keel_up(kubectl(33), &up, dir.path());
    let _nodes = sim_nodes(&up, "n", 3);
    let schedulers = vec![copy(&up, "scheduler", "s-a"), copy(&up, "scheduler", "s-b")];
    let managers = vec![
        copy(&up, "controllers", "c-a"),
        copy(&up, "controllers", "c-b"),
    ];
    let (scheduler, mut standby_scheduler) = one_leads(schedulers, "scheduler");
    let (manager, mut standby_manager) = one_leads(managers, "controller manager");
    let mut watch = WatchEvents::start(&kubectl, &["pods", "-l", "app=web"]);

    let web = write_manifest(dir.path(), "web.yaml", WEB);
    kubectl.ok(&["apply", "-f", &web]);
    kubectl.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    serving(&kubectl, 6);

    let scheduler_handover = hand_over(scheduler, &mut standby_scheduler);
    let manager_handover = hand_over(manager, &mut standby_manager);
    // The leadership outlives a SIGKILL by up to the TTL; the standby
    // then wins at its next campaign step.
    eprintln!("hand-over: scheduler {scheduler_handover:?}, manager {manager_handover:?}");
    let limit = Duration::from_secs(TTL_SECS + 2);
    assert!(
        scheduler_handover <= limit,
        "the standby scheduler led {scheduler_handover:?} after the kill"
    );
    assert!(
        manager_handover <= limit,
        "the standby manager led {manager_handover:?} after the kill"
    );

    kubectl.ok(&["scale", "deployment/web", "--replicas=9"]);
    kubectl.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    serving(&kubectl, 9);

    // Every node each pod was ever seen bound to.
    let mut bound: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for event in watch.ready() {
        let node = text(&event.object, "/spec/nodeName");
        let seen = bound
            .entry(text(&event.object, "/metadata/uid").to_owned())
            .or_default();
        if !node.is_empty() {
            seen.insert(node.to_owned());
        }
    }
    assert_eq!(bound.len(), 9, "pods ever made: {bound:?}");
    for (uid, nodes) in &bound {
        assert_eq!(nodes.len(), 1, "pod {uid} bound to {nodes:?}");
    }
    up.stop();
}
