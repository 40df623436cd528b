//! keel-client against real 3-member clusters on loopback, both etcd 3.4
//! and keeld, so the client's assumptions are shown to hold for etcd too:
//!
//! ```text
//!  client_suite!(etcd, Flavor::Etcd)
//!     failover_under_leader_kill .. one client over every member, writing;
//!                                   SIGKILL the member it talks to (the
//!                                   leader): writes resume without the
//!                                   caller retrying, every acknowledged
//!                                   write is kept, every write reported as
//!                                   not applied is absent
//!     watch_resumes_across_kill ... a prefix watch through one member while
//!                                   another client writes; SIGKILL that
//!                                   member: the watch moves on and delivers
//!                                   every write once, in order
//! ```

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests measure real time")]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keel_client::{Client, ClientOptions, Error, GetOptions, WatchOptions};
use keel_tests::{Cluster, Flavor};

/// Acknowledged writes before the kill, and again after it.
const WRITES_EACH_SIDE: usize = 40;
/// How long the writes after a kill may take to come: two election
/// timeouts (2 s) plus the slack of a loaded 2-core machine.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(15);
/// Puts the watch case makes.
const WATCHED_PUTS: usize = 200;

macro_rules! client_suite {
    ($name:ident, $flavor:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn failover_under_leader_kill() {
                super::failover_under_leader_kill($flavor);
            }

            #[test]
            fn watch_resumes_across_kill() {
                super::watch_resumes_across_kill($flavor);
            }
        }
    };
}

client_suite!(etcd, Flavor::Etcd);
client_suite!(keeld, Flavor::Keeld);

/// The endpoints of `cluster` with member `first` first: the client starts
/// on it.
fn endpoints_from(cluster: &Cluster, first: usize) -> Vec<String> {
    let mut endpoints = vec![cluster.endpoint(first)];
    endpoints.extend(
        (0..cluster.len())
            .filter(|&index| index != first)
            .map(|index| cluster.endpoint(index)),
    );
    endpoints
}

/// How one put ended.
#[derive(Debug)]
enum Outcome {
    Acked { revision: i64 },
    Unknown,
    NotApplied(String),
}

/// Waits (polling) until `count` is at least `target`.
fn wait_count(count: &AtomicUsize, target: usize, timeout: Duration, what: &str) {
    let deadline = Instant::now() + timeout;
    while count.load(Ordering::SeqCst) < target {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// See the module docs: `failover_under_leader_kill`.
pub fn failover_under_leader_kill(flavor: Flavor) {
    let mut cluster = Cluster::start(flavor, 3, &[]);
    let leader = cluster.leader();
    let runtime = keel_tests::runtime();
    let client = runtime
        .block_on(Client::connect(
            endpoints_from(&cluster, leader),
            ClientOptions::new(),
        ))
        .unwrap();
    assert_eq!(client.current_endpoint(), cluster.endpoint(leader));

    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = runtime.spawn({
        let (client, acked, stop) = (client.clone(), Arc::clone(&acked), Arc::clone(&stop));
        async move {
            let mut outcomes = BTreeMap::new();
            let mut n = 0_u32;
            while !stop.load(Ordering::SeqCst) {
                let key = format!("failover/{n:05}");
                let outcome = match client.put(key.clone(), format!("v{n}"), None).await {
                    Ok(put) => {
                        acked.fetch_add(1, Ordering::SeqCst);
                        Outcome::Acked {
                            revision: put.header.unwrap().revision,
                        }
                    }
                    Err(error @ Error::UnknownOutcome { .. }) => {
                        eprintln!("{key}: {error}");
                        Outcome::Unknown
                    }
                    Err(error) => Outcome::NotApplied(error.to_string()),
                };
                outcomes.insert(key, outcome);
                n += 1;
            }
            outcomes
        }
    });

    wait_count(
        &acked,
        WRITES_EACH_SIDE,
        RECOVERY_TIMEOUT,
        "writes before the kill",
    );
    let before_kill = acked.load(Ordering::SeqCst);
    cluster.kill(leader);
    wait_count(
        &acked,
        before_kill + WRITES_EACH_SIDE,
        RECOVERY_TIMEOUT,
        &format!("[{flavor}] writes after killing the leader m{leader}"),
    );
    stop.store(true, Ordering::SeqCst);
    let outcomes = runtime.block_on(writer).unwrap();

    assert_ne!(
        client.current_endpoint(),
        cluster.endpoint(leader),
        "the client moved off the killed member"
    );
    let stored = runtime
        .block_on(client.get("failover/", Some(GetOptions::new().with_prefix())))
        .unwrap();
    let stored: BTreeMap<String, (String, i64)> = stored
        .kvs
        .into_iter()
        .map(|kv| {
            let key = String::from_utf8(kv.key).unwrap();
            (key, (String::from_utf8(kv.value).unwrap(), kv.mod_revision))
        })
        .collect();
    let mut unknown = 0;
    for (key, outcome) in &outcomes {
        match outcome {
            Outcome::Acked { revision } => assert_eq!(
                stored.get(key).map(|(_, mod_revision)| *mod_revision),
                Some(*revision),
                "[{flavor}] acknowledged write {key} lost"
            ),
            Outcome::NotApplied(error) => assert!(
                !stored.contains_key(key),
                "[{flavor}] {key} was reported not applied ({error}) but is stored"
            ),
            Outcome::Unknown => unknown += 1,
        }
    }
    eprintln!(
        "[{flavor}] {} puts, {unknown} with an unknown outcome",
        outcomes.len()
    );
    // One writer sends one put at a time: only a put in flight at the kill,
    // or sent to a member before it knew the leader was gone, can end
    // unknown; most of the failover must be invisible to the caller.
    assert!(
        unknown <= outcomes.len() / 4,
        "[{flavor}] {unknown} of {} puts unknown",
        outcomes.len()
    );
}

/// See the module docs: `watch_resumes_across_kill`.
pub fn watch_resumes_across_kill(flavor: Flavor) {
    let mut cluster = Cluster::start(flavor, 3, &[]);
    let leader = cluster.leader();
    let watched = (leader + 1) % 3;
    let runtime = keel_tests::runtime();
    let watching = runtime
        .block_on(Client::connect(
            endpoints_from(&cluster, watched),
            ClientOptions::new(),
        ))
        .unwrap();
    let writing = runtime
        .block_on(Client::connect(
            [cluster.endpoint(leader)],
            ClientOptions::new(),
        ))
        .unwrap();
    let start = runtime
        .block_on(writing.put("watched/start", "", None))
        .unwrap()
        .header
        .unwrap()
        .revision;
    let _in_runtime = runtime.enter();
    let mut watcher = watching.watch(
        "watched/",
        Some(
            WatchOptions::new()
                .with_prefix()
                .with_start_revision(start + 1),
        ),
    );

    let written = Arc::new(AtomicUsize::new(0));
    let writer = runtime.spawn({
        let written = Arc::clone(&written);
        async move {
            let mut revisions = Vec::new();
            for n in 0..WATCHED_PUTS {
                let put = writing
                    .put(format!("watched/{n:04}"), format!("v{n}"), None)
                    .await
                    .unwrap();
                revisions.push(put.header.unwrap().revision);
                written.fetch_add(1, Ordering::SeqCst);
            }
            revisions
        }
    });
    wait_count(
        &written,
        WATCHED_PUTS / 3,
        RECOVERY_TIMEOUT,
        "writes before the kill",
    );
    cluster.kill(watched);
    let revisions = runtime.block_on(writer).unwrap();

    let seen = runtime.block_on(async {
        let mut seen = Vec::new();
        while seen.len() < WATCHED_PUTS {
            let update = tokio::time::timeout(RECOVERY_TIMEOUT, watcher.next())
                .await
                .unwrap_or_else(|_| panic!("[{flavor}] watch stalled after {} events", seen.len()))
                .expect("the watch goes on")
                .expect("no watch error");
            for event in update.events {
                let kv = event.kv.unwrap();
                seen.push((String::from_utf8(kv.key).unwrap(), kv.mod_revision));
            }
        }
        seen
    });
    let expected: Vec<(String, i64)> = revisions
        .iter()
        .enumerate()
        .map(|(n, revision)| (format!("watched/{n:04}"), *revision))
        .collect();
    assert_eq!(
        seen, expected,
        "[{flavor}] every write seen once, in order, across the kill of m{watched}"
    );
}
