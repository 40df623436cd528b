//! Multi-member clusters as separate processes on loopback, driven with
//! Debian's etcdctl 3.4 and asserted on what it prints. Every case runs
//! against a real etcd 3.4 cluster, which shows the assertions describe
//! etcd's behaviour, and against a keeld cluster, which must behave the same.
//!
//! ```text
//!  cluster_suite!(etcd, Flavor::Etcd)   one module of #[test]s per flavor
//!     leader_failover ......... SIGKILL the leader under writes through the
//!                               others: a new leader within 2 election
//!                               timeouts (+ slack); no acknowledged write
//!                               lost, on any member, linearizable or not
//!     follower_catch_up ....... a follower down while the cluster writes past
//!                               --snapshot-count: it catches up (raft index,
//!                               keys, hashkv)
//!     membership .............. member add + start with --initial-cluster-state
//!                               existing; member remove; member add --learner,
//!                               what a learner refuses, member promote
//!     hashkv_after_workload ... puts, deletes, txns, a lease with keys, a
//!                               compaction: `endpoint hashkv --cluster` agrees
//!     all_endpoints_client .... etcdctl with every --endpoints keeps working
//!                               while the first of them is killed
//!     tables .................. `member list -w table`, `endpoint status
//!                               --cluster -w table`, with a member down
//!     five_member_quorum ...... 5 members: writes with 3 up, a clear error
//!                               (no hang) with 2 up, writes again with 3
//!     lease_ttl_leader_change . a lease's remaining TTL across a leader kill:
//!                               keeld resumes it, etcd 3.4 resets it
//!     writes_wait_out_an_election  100 etcdctl puts through the survivors of a
//!                               leader kill, one after another: at least 95
//!                               acknowledged, each readable; a lone member
//!                               refuses `hasleader: true` requests at once
//! ```
//!
//! Every member runs with etcd's default timing (100 ms heartbeat, 1 s
//! election timeout); every wait has a deadline. Run one flavor with
//! `cargo test -p keel-tests --test cluster etcd::`.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(
    clippy::disallowed_methods,
    reason = "tests measure real time and run their own writer threads"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keel_proto::etcdserverpb::{kv_client::KvClient, PutRequest};
use keel_tests::cluster::LEARNER_NOT_READY;
use keel_tests::format::{base64_decode, table_rows};
use keel_tests::{Cluster, Etcdctl, Flavor, Output};
use serde_json::Value;
use tonic::transport::Channel;

/// etcd's default `--election-timeout`, which the clusters run with.
const ELECTION_TIMEOUT: Duration = Duration::from_secs(1);
/// What a failover may take on top of two election timeouts: process
/// starts, an in-flight request's timeout, a loaded 2-core machine.
const FAILOVER_SLACK: Duration = Duration::from_secs(3);
/// How long [`eventually`] polls.
const EVENTUALLY_TIMEOUT: Duration = Duration::from_secs(30);
/// Keys the catch-up case writes while a follower is down: past
/// `--snapshot-count` 1000 and past the 5000 entries etcd's leader keeps
/// after a snapshot for slow followers, so etcd has to send a snapshot.
const CATCH_UP_KEYS: usize = 7_000;
/// How long `member list` may take to show a change everywhere.
const MEMBER_LIST_TIMEOUT: Duration = Duration::from_secs(10);
/// The header of `member list -w table`.
const MEMBER_LIST_HEADER: [&str; 6] = [
    "ID",
    "STATUS",
    "NAME",
    "PEER ADDRS",
    "CLIENT ADDRS",
    "IS LEARNER",
];
/// The header of `endpoint status -w table`.
const ENDPOINT_STATUS_HEADER: [&str; 10] = [
    "ENDPOINT",
    "ID",
    "VERSION",
    "DB SIZE",
    "IS LEADER",
    "IS LEARNER",
    "RAFT TERM",
    "RAFT INDEX",
    "RAFT APPLIED INDEX",
    "ERRORS",
];

/// One `#[test]` per case, against `$flavor`, in module `$name`.
macro_rules! cluster_suite {
    ($name:ident, $flavor:expr) => {
        mod $name {
            use keel_tests::Flavor;

            #[test]
            fn leader_failover() {
                crate::leader_failover($flavor);
            }

            #[test]
            fn follower_catch_up() {
                crate::follower_catch_up($flavor);
            }

            #[test]
            fn membership() {
                crate::membership($flavor);
            }

            #[test]
            fn hashkv_after_workload() {
                crate::hashkv_after_workload($flavor);
            }

            #[test]
            fn all_endpoints_client() {
                crate::all_endpoints_client($flavor);
            }

            #[test]
            fn tables() {
                crate::tables($flavor);
            }

            #[test]
            fn five_member_quorum() {
                crate::five_member_quorum($flavor);
            }

            #[test]
            fn lease_ttl_leader_change() {
                crate::lease_ttl_leader_change($flavor);
            }

            #[test]
            fn writes_wait_out_an_election() {
                crate::writes_wait_out_an_election($flavor);
            }
        }
    };
}

cluster_suite!(etcd, Flavor::Etcd);
cluster_suite!(keeld, Flavor::Keeld);

// ---------------------------------------------------------------- helpers

/// `put key value`, asserting etcdctl's `OK`.
#[track_caller]
fn put(ctl: &Etcdctl, key: &str, value: &str) {
    ctl.run(&["put", key, value]).assert_stdout("OK\n");
}

/// Polls `probe` every 100 ms until it returns `Some`, for up to
/// [`EVENTUALLY_TIMEOUT`]; panics naming `what` if it never does.
#[track_caller]
fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    poll(what, || probe().ok_or_else(String::new))
}

/// [`eventually`] for a probe that says what it saw when it is not there
/// yet (`Err`): the last of those is in the panic message.
#[track_caller]
fn poll<T>(what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + EVENTUALLY_TIMEOUT;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "{what}: not within {EVENTUALLY_TIMEOUT:?}\n{seen}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The members other than `index`.
fn others(cluster: &Cluster, index: usize) -> Vec<usize> {
    cluster
        .members()
        .into_iter()
        .filter(|&other| other != index)
        .collect()
}

/// The cluster ID in hex (`%x`), from a member's header.
#[track_caller]
fn cluster_id_hex(ctl: &Etcdctl) -> String {
    format!("{:x}", ctl.header().cluster_id)
}

/// An ID as etcdctl's `member add/remove/promote` lines print it: `%16x`,
/// hex padded with spaces (not zeros) to 16 characters.
fn padded(hex: &str) -> String {
    format!("{hex:>16}")
}

/// `get <prefix> --prefix -w json` (serializable if asked): the header's
/// revision and `key → (value, mod_revision)`.
#[track_caller]
fn read_prefix(
    ctl: &Etcdctl,
    prefix: &str,
    serializable: bool,
) -> (i64, BTreeMap<String, (String, i64)>) {
    let mut args = vec!["get", prefix, "--prefix", "-w", "json"];
    if serializable {
        args.push("--consistency=s");
    }
    let out = ctl.run(&args);
    let json = out.assert_success().json();
    let text = |value: &Value| {
        String::from_utf8(base64_decode(value.as_str().unwrap_or_default()).unwrap()).unwrap()
    };
    let kvs = json["kvs"]
        .as_array()
        .map(|kvs| {
            kvs.iter()
                .map(|kv| {
                    (
                        text(&kv["key"]),
                        (text(&kv["value"]), kv["mod_revision"].as_i64().unwrap()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (json["header"]["revision"].as_i64().unwrap(), kvs)
}

/// The `N` of `remaining(Ns)` in `lease timetolive`'s line.
#[track_caller]
fn remaining_ttl(out: &Output) -> i64 {
    out.assert_success()
        .stdout
        .split_once("remaining(")
        .and_then(|(_, rest)| rest.split_once("s)"))
        .and_then(|(seconds, _)| seconds.parse().ok())
        .unwrap_or_else(|| panic!("no remaining TTL\n{out}"))
}

/// `lease grant <ttl>`: the lease ID as etcdctl prints it (`%016x`).
#[track_caller]
fn grant(ctl: &Etcdctl, ttl: u32) -> String {
    let out = ctl.run(&["lease", "grant", &ttl.to_string()]);
    let id = out
        .stdout
        .strip_prefix("lease ")
        .and_then(|rest| rest.split_once(' '))
        .map_or_else(|| panic!("no lease ID\n{out}"), |(id, _)| id.to_owned());
    out.assert_stdout(&format!("lease {id} granted with TTL({ttl}s)\n"));
    id
}

/// `(hash, revision, compact revision)` of each reply of `endpoint
/// hashkv -w json`, or the run if it failed.
fn hashkv_replies(out: &Output) -> Result<Vec<(u64, i64, i64)>, String> {
    if !out.success() {
        return Err(out.to_string());
    }
    let json: Value = serde_json::from_str(&out.stdout).map_err(|_| out.to_string())?;
    let replies = json.as_array().ok_or_else(|| out.to_string())?;
    Ok(replies
        .iter()
        .map(|reply| {
            let hashkv = &reply["HashKV"];
            (
                hashkv["hash"].as_u64().unwrap_or_default(),
                hashkv["header"]["revision"].as_i64().unwrap_or_default(),
                hashkv["compact_revision"].as_i64().unwrap_or_default(),
            )
        })
        .collect())
}

/// Polls `endpoint hashkv -w json` on every member until they report the
/// same hash at the same revision and compact revision (each applies at
/// its own pace), then checks that `endpoint hashkv --cluster` (which
/// finds the members through `member list`) says the same. Returns that
/// compact revision.
#[track_caller]
fn wait_hashkv_agree(cluster: &mut Cluster) -> i64 {
    let ctl = cluster.etcdctl_running();
    let members = cluster.members().len();
    let agreed = poll("hashkv equal on all members", || {
        let out = ctl.run(&["endpoint", "hashkv", "-w", "json"]);
        let replies = hashkv_replies(&out)?;
        let seen: BTreeSet<_> = replies.iter().copied().collect();
        if replies.len() == members && seen.len() == 1 {
            Ok(replies[0])
        } else {
            Err(format!(
                "(hash, revision, compact revision): {seen:?}\n{out}"
            ))
        }
    });
    eprintln!(
        "[{}] hashkv agrees on {members} members: hash {} at revision {}",
        cluster.flavor(),
        agreed.0,
        agreed.1
    );
    assert_ne!(agreed.0, 0, "a zero hash means no hash");
    let out = ctl.run(&["endpoint", "hashkv", "--cluster", "-w", "json"]);
    let replies = hashkv_replies(&out).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        replies,
        vec![agreed; members],
        "endpoint hashkv --cluster: every member, one hash\n{out}"
    );
    agreed.2
}

/// `member list -w table`'s rows (header checked, then dropped).
#[track_caller]
fn member_list(ctl: &Etcdctl) -> Vec<Vec<String>> {
    let out = ctl.run(&["member", "list", "-w", "table"]);
    let rows = table_rows(&out.assert_success().stdout);
    assert_eq!(rows[0], MEMBER_LIST_HEADER, "member list header\n{out}");
    rows[1..].to_vec()
}

/// Polls `member list -w table` until its rows are `expected`, for up to
/// [`MEMBER_LIST_TIMEOUT`]: a member publishes its name and client URLs
/// through the log as it starts, and each member answers from what it has
/// applied.
#[track_caller]
fn assert_member_list(ctl: &Etcdctl, expected: &[Vec<String>], what: &str) {
    let deadline = Instant::now() + MEMBER_LIST_TIMEOUT;
    loop {
        let rows = member_list(ctl);
        if rows == expected {
            return;
        }
        if Instant::now() >= deadline {
            assert_eq!(
                rows, expected,
                "member list ({what}), for {MEMBER_LIST_TIMEOUT:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `member list -w table` rows etcd prints for the started members of
/// `cluster` (plus `unstarted`: (ID, peer URL, learner) of members added
/// but not started), sorted by member ID as etcd sorts them.
#[track_caller]
fn expected_member_rows(
    cluster: &mut Cluster,
    unstarted: &[(&str, String, bool)],
) -> Vec<Vec<String>> {
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    for index in cluster.members() {
        let id = cluster.member_id(index);
        rows.push((
            id,
            vec![
                format!("{id:x}"),
                "started".to_owned(),
                cluster.name(index).to_owned(),
                cluster.peer_url(index),
                cluster.client_url(index),
                cluster.is_learner(index).to_string(),
            ],
        ));
    }
    for (id, peer_url, learner) in unstarted {
        rows.push((
            u64::from_str_radix(id, 16).unwrap(),
            vec![
                (*id).to_owned(),
                "unstarted".to_owned(),
                String::new(),
                peer_url.clone(),
                String::new(),
                learner.to_string(),
            ],
        ));
    }
    rows.sort();
    rows.into_iter().map(|(_, row)| row).collect()
}

/// Checks `member add`'s output: etcd's four `ETCD_*` lines for the new
/// member, whose `ETCD_INITIAL_CLUSTER` names exactly `expected_cluster`
/// (`name=peer-url` pairs, in any order).
#[track_caller]
fn assert_member_added(
    cluster: &Cluster,
    index: usize,
    added_id: &str,
    cluster_id: &str,
    expected_cluster: &BTreeSet<String>,
    out: &Output,
) {
    let initial_cluster = out
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("ETCD_INITIAL_CLUSTER=\""))
        .and_then(|value| value.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no ETCD_INITIAL_CLUSTER\n{out}"));
    let pairs: BTreeSet<String> = initial_cluster.split(',').map(str::to_owned).collect();
    assert_eq!(&pairs, expected_cluster, "ETCD_INITIAL_CLUSTER\n{out}");
    out.assert_stdout(&format!(
        "Member {} added to cluster {}\n\n\
         ETCD_NAME=\"{}\"\n\
         ETCD_INITIAL_CLUSTER=\"{initial_cluster}\"\n\
         ETCD_INITIAL_ADVERTISE_PEER_URLS=\"{}\"\n\
         ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n",
        padded(added_id),
        padded(cluster_id),
        cluster.name(index),
        cluster.peer_url(index),
    ));
}

/// `name=peer-url` of every member of `cluster` plus member `extra`.
fn initial_cluster_pairs(cluster: &Cluster, extra: usize) -> BTreeSet<String> {
    cluster
        .members()
        .into_iter()
        .chain([extra])
        .map(|index| format!("{}={}", cluster.name(index), cluster.peer_url(index)))
        .collect()
}

/// One acknowledged write.
#[derive(Debug, Clone)]
struct Acked {
    key: String,
    value: String,
    revision: i64,
    /// When the put that was acknowledged was started, and when it returned.
    started: Instant,
    returned: Instant,
}

/// Writes `<prefix><n>` = `v<n>` through `ctl` until `stop`, recording
/// every acknowledged write; a failed or timed-out put is not retried (its
/// outcome is unknown) and the next key is written.
fn writer(
    ctl: Etcdctl,
    prefix: String,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Acked>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut n = 0_u64;
        while !stop.load(Ordering::SeqCst) {
            let key = format!("{prefix}{n:05}");
            let value = format!("v{n}");
            n += 1;
            let started = Instant::now();
            let Ok(out) = ctl.try_run(
                &[
                    "--dial-timeout=1s",
                    "--command-timeout=1s",
                    "put",
                    &key,
                    &value,
                    "-w",
                    "json",
                ],
                None,
            ) else {
                continue;
            };
            if !out.success() {
                continue;
            }
            let revision = out.json()["header"]["revision"].as_i64().unwrap();
            acked.lock().unwrap().push(Acked {
                key,
                value,
                revision,
                started,
                returned: Instant::now(),
            });
        }
    })
}

/// Sets its flag when dropped: writer threads stop even when the case
/// panics before it stops them itself.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Every write in `acked` is on member `index` with its value, at the
/// revision it was acknowledged with, read linearizably and (the member
/// has caught up) serializably; every other key under `prefix` holds the
/// value its writer gave it (an unacknowledged put may have happened).
#[track_caller]
fn assert_acked_on(cluster: &mut Cluster, index: usize, prefix: &str, acked: &[Acked]) {
    cluster.wait_caught_up(index);
    let ctl = cluster.etcdctl(index);
    for serializable in [false, true] {
        let (_, kvs) = read_prefix(&ctl, prefix, serializable);
        for write in acked {
            let found = kvs.get(&write.key);
            assert_eq!(
                found,
                Some(&(write.value.clone(), write.revision)),
                "[{}] m{index} (serializable: {serializable}) lost an acknowledged write {write:?}",
                cluster.flavor()
            );
        }
        for (key, (value, _)) in &kvs {
            let n: u64 = key.rsplit('/').next().unwrap().parse().unwrap();
            assert_eq!(
                value,
                &format!("v{n}"),
                "m{index}: {key} holds a value never written"
            );
        }
    }
}

/// Puts `<prefix><n>` = `<n>` for `n` in `0..count` straight over gRPC,
/// 64 at a time: etcdctl's one process per put would take minutes.
fn bulk_put(endpoint: &str, prefix: &str, count: usize) {
    const IN_FLIGHT: usize = 64;
    let runtime = keel_tests::runtime();
    runtime.block_on(async {
        let channel = Channel::from_shared(format!("http://{endpoint}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let workers: Vec<_> = (0..IN_FLIGHT)
            .map(|worker| {
                let mut kv = KvClient::new(channel.clone());
                let prefix = prefix.to_owned();
                tokio::spawn(async move {
                    for n in (worker..count).step_by(IN_FLIGHT) {
                        let request = PutRequest {
                            key: format!("{prefix}{n:05}").into_bytes(),
                            value: n.to_string().into_bytes(),
                            ..PutRequest::default()
                        };
                        kv.put(request).await.unwrap();
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.unwrap();
        }
    });
}

// ------------------------------------------------------------------ cases

/// The leader is killed with SIGKILL while one writer per other member
/// puts through it. The first put begun after the kill is acknowledged
/// within two election timeouts (plus slack); every acknowledged write is
/// then on every member, the old leader (restarted) included. The
/// measurement has the writers' 1 s command timeout as its grain: a put
/// sent before there is a new leader waits that long before the next one.
pub fn leader_failover(flavor: Flavor) {
    let mut cluster = Cluster::start(flavor, 3, &[]);
    let leader = cluster.leader();
    let stop = Arc::new(AtomicBool::new(false));
    // Stops the writers if the case fails half-way, too.
    let _stop_on_drop = StopOnDrop(Arc::clone(&stop));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let writers: Vec<_> = others(&cluster, leader)
        .into_iter()
        .map(|index| {
            writer(
                cluster.etcdctl(index).with_timeout(Duration::from_secs(20)),
                format!("fo/{index}/"),
                Arc::clone(&stop),
                Arc::clone(&acked),
            )
        })
        .collect();
    let acked_count = || acked.lock().unwrap().len();
    eventually("writes before the kill", || {
        (acked_count() >= 10).then_some(())
    });

    let killed_at = Instant::now();
    cluster.kill(leader);
    let failover = eventually("a write acknowledged after the kill", || {
        acked
            .lock()
            .unwrap()
            .iter()
            .filter(|write| write.started >= killed_at)
            .map(|write| write.returned - killed_at)
            .min()
    });
    let after_kill = acked_count();
    eventually("writes under the new leader", || {
        (acked_count() >= after_kill + 10).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.join().unwrap();
    }
    let bound = 2 * ELECTION_TIMEOUT + FAILOVER_SLACK;
    eprintln!(
        "[{flavor}] leader m{leader} killed: the first write begun after the kill was \
         acknowledged {:.0} ms later (bound {} ms); {} writes acknowledged",
        failover.as_secs_f64() * 1000.0,
        bound.as_millis(),
        acked_count()
    );
    assert!(
        failover <= bound,
        "[{flavor}] no write acknowledged within {bound:?} of killing the leader ({failover:?})"
    );
    let new_leader = cluster.leader();
    assert_ne!(new_leader, leader, "a killed member cannot lead");

    let acked = acked.lock().unwrap().clone();
    let mut revisions: Vec<i64> = acked.iter().map(|write| write.revision).collect();
    revisions.sort_unstable();
    revisions.dedup();
    assert_eq!(
        revisions.len(),
        acked.len(),
        "a revision was acknowledged twice"
    );
    cluster.restart(leader);
    for index in cluster.members() {
        assert_acked_on(&mut cluster, index, "fo/", &acked);
    }
}

/// A follower is down while the cluster writes past `--snapshot-count`
/// (and past what etcd's leader keeps of its log for slow followers); once
/// restarted it catches up: its raft index reaches the leader's, it serves
/// every key, and `endpoint hashkv` agrees with the others.
pub fn follower_catch_up(flavor: Flavor) {
    let mut cluster = Cluster::start(flavor, 3, &["--snapshot-count", "1000"]);
    let leader = cluster.leader();
    let follower = others(&cluster, leader)[0];
    put(&cluster.etcdctl_all(), "cu/before", "1");
    cluster.kill(follower);

    let started = Instant::now();
    bulk_put(&cluster.endpoint(leader), "cu/", CATCH_UP_KEYS);
    eprintln!(
        "[{flavor}] {CATCH_UP_KEYS} puts with m{follower} down took {:?}",
        started.elapsed()
    );
    let leader_status = cluster.status(leader);
    assert!(
        leader_status.raft_index > CATCH_UP_KEYS as u64,
        "every put is a raft entry: {leader_status:?}"
    );

    let started = Instant::now();
    cluster.restart(follower);
    cluster.wait_caught_up(follower);
    let status = cluster.status(follower);
    eprintln!(
        "[{flavor}] m{follower} caught up in {:?}: {status:?}",
        started.elapsed()
    );
    assert!(status.raft_index >= leader_status.raft_index);
    let out = cluster.etcdctl(follower).run(&[
        "get",
        "cu/",
        "--prefix",
        "--keys-only",
        "--consistency=s",
        "-w",
        "json",
    ]);
    assert_eq!(
        out.assert_success().json()["count"].as_u64(),
        Some(CATCH_UP_KEYS as u64 + 1),
        "m{follower} serves every key written while it was down\n{out}"
    );
    cluster
        .etcdctl(follower)
        .run(&["get", "cu/06999", "--consistency=s"])
        .assert_stdout("cu/06999\n6999\n");
    // Both caught the follower up from a snapshot, so the case exercises
    // snapshot installs, not only log replication.
    let installed = match flavor {
        Flavor::Etcd => "finished applying incoming snapshot",
        Flavor::Keeld => "installed a snapshot from the leader",
    };
    assert!(
        cluster.log(follower).contains(installed),
        "[{flavor}] the follower was not sent a snapshot; the case no longer tests one"
    );
    wait_hashkv_agree(&mut cluster);
}

/// `member add`, and the new member started with `--initial-cluster-state
/// existing` from what it printed; `member remove`; `member add --learner`,
/// what a learner serves and refuses, and `member promote` once it is in
/// sync. `member list` shows each step.
pub fn membership(flavor: Flavor) {
    let mut cluster = Cluster::start(flavor, 3, &[]);
    let all = cluster.etcdctl_all();
    put(&all, "mb/before", "1");
    let cluster_id = cluster_id_hex(&all);

    // A voting member joins.
    let added = cluster.member_add("m3", false);
    let expected_pairs = initial_cluster_pairs(&cluster, added.index);
    assert_member_added(
        &cluster,
        added.index,
        &added.id,
        &cluster_id,
        &expected_pairs,
        &added.output,
    );
    let pending = [(added.id.as_str(), cluster.peer_url(added.index), false)];
    let expected = expected_member_rows(&mut cluster, &pending);
    assert_member_list(&all, &expected, "an added member is unstarted");
    cluster.start_added(added.index);
    let joined = cluster.etcdctl(added.index);
    joined
        .run(&["get", "mb/before"])
        .assert_stdout("mb/before\n1\n");
    put(&joined, "mb/joined", "2");
    assert_eq!(
        cluster_id_hex(&joined),
        cluster_id,
        "the new member is in the same cluster"
    );
    assert_eq!(
        cluster.member_id_hex(added.index),
        added.id,
        "the member runs with the ID member add gave it"
    );
    let expected = expected_member_rows(&mut cluster, &[]);
    assert_eq!(expected.len(), 4);
    assert_member_list(&all, &expected, "the new member has started");

    // A follower of the first three leaves.
    let leader = cluster.leader();
    let removed = (0..3).find(|&index| index != leader).unwrap();
    let removed_id = cluster.member_id_hex(removed);
    cluster.remove_member(removed).assert_stdout(&format!(
        "Member {} removed from cluster {}\n",
        padded(&removed_id),
        padded(&cluster_id)
    ));
    let ctl = cluster.etcdctl_running();
    ctl.run(&["member", "remove", &removed_id])
        .assert_server_error("NotFound", "etcdserver: member not found");
    let expected = expected_member_rows(&mut cluster, &[]);
    assert_eq!(expected.len(), 3);
    assert_member_list(&ctl, &expected, "the member is removed");
    put(&ctl, "mb/after-remove", "3");

    // A learner joins; it cannot be promoted before it has caught up.
    let learner = cluster.member_add("m4", true);
    let expected_pairs = initial_cluster_pairs(&cluster, learner.index);
    assert_member_added(
        &cluster,
        learner.index,
        &learner.id,
        &cluster_id,
        &expected_pairs,
        &learner.output,
    );
    let pending = [(learner.id.as_str(), cluster.peer_url(learner.index), true)];
    let expected = expected_member_rows(&mut cluster, &pending);
    assert_member_list(&ctl, &expected, "a learner is added");
    ctl.run(&["member", "promote", &learner.id])
        .assert_server_error("FailedPrecondition", LEARNER_NOT_READY);
    cluster.start_added(learner.index);
    let expected = expected_member_rows(&mut cluster, &[]);
    assert_member_list(&ctl, &expected, "the learner has started");

    // A learner serves serializable reads, and refuses writes and
    // linearizable reads.
    let learner_ctl = cluster.etcdctl(learner.index);
    eventually(
        "the learner serves what was written before it joined",
        || {
            let out = learner_ctl.run(&["get", "mb/after-remove", "--consistency=s"]);
            (out.success() && out.stdout == "mb/after-remove\n3\n").then_some(())
        },
    );
    let short = ["--command-timeout=2s"];
    for args in [&["put", "mb/learner", "x"][..], &["get", "mb/before"][..]] {
        let out = learner_ctl.run(&[&short[..], args].concat());
        assert_eq!(out.code(), Some(1), "a learner refuses {args:?}\n{out}");
        assert_eq!(
            out.grpc_error(),
            Some((
                "Unavailable".to_owned(),
                "etcdserver: rpc not supported for learner".to_owned()
            )),
            "{out}"
        );
        assert!(
            out.error_message() == Some("etcdserver: rpc not supported for learner")
                || out.error_message() == Some("context deadline exceeded"),
            "{out}"
        );
    }
    let status_rows = endpoint_status_rows(&cluster.etcdctl_all(), false);
    assert_eq!(status_rows.len(), 4, "{status_rows:?}");
    let learner_row = status_rows
        .iter()
        .find(|row| row[1] == learner.id)
        .unwrap_or_else(|| panic!("no status row for the learner: {status_rows:?}"));
    assert_eq!(learner_row[0], cluster.endpoint(learner.index));
    assert!(
        status_rows
            .iter()
            .all(|row| (row[5] == "true") == (row[1] == learner.id)),
        "one learner: {status_rows:?}"
    );
    assert_eq!(learner_row[4], "false", "a learner does not lead");
    assert_eq!(learner_row[5], "true", "IS LEARNER");

    // Promoted once in sync, it votes and takes writes.
    cluster.wait_caught_up(learner.index);
    cluster.promote(learner.index).assert_stdout(&format!(
        "Member {} promoted in cluster {}\n",
        padded(&learner.id),
        padded(&cluster_id)
    ));
    ctl.run(&["member", "promote", &learner.id])
        .assert_server_error(
            "FailedPrecondition",
            "etcdserver: can only promote a learner member",
        );
    let expected = expected_member_rows(&mut cluster, &[]);
    assert_eq!(expected.len(), 4);
    assert!(expected.iter().all(|row| row[5] == "false"), "{expected:?}");
    assert_member_list(&ctl, &expected, "the learner is promoted");
    put(&learner_ctl, "mb/promoted", "4");
    learner_ctl
        .run(&["get", "mb/", "--prefix", "--keys-only"])
        .assert_stdout("mb/after-remove\n\nmb/before\n\nmb/joined\n\nmb/promoted\n\n");
    wait_hashkv_agree(&mut cluster);
}

/// A mixed workload through different members (puts, deletes, txns on
/// both branches, a lease with keys, a revoked lease, a compaction, more
/// writes after it): `endpoint hashkv --cluster` then agrees on every
/// member, at the compacted revision the cluster was compacted to.
pub fn hashkv_after_workload(flavor: Flavor) {
    let mut cluster = Cluster::start(flavor, 3, &[]);
    let (a, b, c) = (cluster.etcdctl(0), cluster.etcdctl(1), cluster.etcdctl(2));
    put(&a, "hk/a", "1");
    put(&b, "hk/b", "2");
    put(&c, "hk/c/1", "3");
    put(&c, "hk/c/2", "4");
    put(&b, "hk/a", "11");
    a.run(&["del", "hk/b"]).assert_stdout("1\n");
    let txn = "value(\"hk/a\") = \"11\"\n\nput hk/t yes\n\nput hk/t no\n\n";
    b.run_with_stdin(&["txn"], txn.as_bytes())
        .assert_stdout("SUCCESS\n\nOK\n");
    let txn = "value(\"hk/a\") = \"1\"\n\nput hk/t yes\n\ndel hk/c/1\n\n";
    c.run_with_stdin(&["txn"], txn.as_bytes())
        .assert_stdout("FAILURE\n\n1\n");
    let lease = grant(&c, 600);
    a.run(&["put", "hk/l1", "x", &format!("--lease={lease}")])
        .assert_stdout("OK\n");
    b.run(&["put", "hk/l2", "y", &format!("--lease={lease}")])
        .assert_stdout("OK\n");
    let revoked = grant(&a, 600);
    b.run(&["put", "hk/r", "z", &format!("--lease={revoked}")])
        .assert_stdout("OK\n");
    c.run(&["lease", "revoke", &revoked])
        .assert_stdout(&format!("lease {revoked} revoked\n"));
    let compact_at = a.revision() - 2;
    b.run(&["compaction", &compact_at.to_string()])
        .assert_stdout(&format!("compacted revision {compact_at}\n"));
    put(&c, "hk/after", "5");
    a.run(&["del", "hk/c/", "--prefix"]).assert_stdout("1\n");
    c.run(&["lease", "timetolive", &lease, "--keys"])
        .assert_success();

    for ctl in [&a, &b, &c] {
        ctl.run(&["get", "hk/", "--prefix", "--keys-only"])
            .assert_stdout("hk/a\n\nhk/after\n\nhk/l1\n\nhk/l2\n\nhk/t\n\n");
    }
    let compacted = wait_hashkv_agree(&mut cluster);
    assert_eq!(
        compacted, compact_at,
        "hashkv's compact revision is the compaction's"
    );
}

/// etcdctl given every member's endpoint, the first of them a follower
/// that is then killed: puts and gets (linearizable and serializable) keep
/// working, each on its first try; the member catches up on restart.
pub fn all_endpoints_client(flavor: Flavor) {
    let mut cluster = Cluster::start(flavor, 3, &[]);
    let leader = cluster.leader();
    let victim = others(&cluster, leader)[0];
    let order: Vec<usize> = [victim]
        .into_iter()
        .chain(others(&cluster, victim))
        .collect();
    let ctl = Etcdctl::new(cluster.join_endpoints(&order));
    put(&ctl, "ep/before", "0");
    cluster.kill(victim);

    for n in 1..=5 {
        let (key, value) = (format!("ep/{n}"), format!("v{n}"));
        put(&ctl, &key, &value);
        ctl.run(&["get", &key])
            .assert_stdout(&format!("{key}\n{value}\n"));
        ctl.run(&["get", "ep/before", "--consistency=s"])
            .assert_stdout("ep/before\n0\n");
    }
    cluster.restart(victim);
    cluster.wait_caught_up(victim);
    cluster
        .etcdctl(victim)
        .run(&["get", "ep/5", "--consistency=s"])
        .assert_stdout("ep/5\nv5\n");
}

/// `endpoint status [--cluster] -w table`'s rows (header checked,
/// dropped), asserting success.
#[track_caller]
fn endpoint_status_rows(ctl: &Etcdctl, cluster_wide: bool) -> Vec<Vec<String>> {
    let mut args = vec!["--command-timeout=2s", "endpoint", "status", "-w", "table"];
    if cluster_wide {
        args.push("--cluster");
    }
    let out = ctl.run(&args);
    let rows = table_rows(&out.assert_success().stdout);
    assert_eq!(rows[0], ENDPOINT_STATUS_HEADER, "status header\n{out}");
    rows[1..].to_vec()
}

/// `member list -w table` and `endpoint status --cluster -w table` name
/// the right members (IDs, names, URLs, one leader, no learner, one term),
/// in member ID order; with a member down, `endpoint status --cluster`
/// lists the others and fails naming it.
pub fn tables(flavor: Flavor) {
    let mut cluster = Cluster::start(flavor, 3, &[]);
    let ctl = cluster.etcdctl_all();
    let leader = cluster.leader();
    let leader_id = cluster.member_id_hex(leader);
    let members = expected_member_rows(&mut cluster, &[]);
    assert_member_list(&ctl, &members, "a new cluster");

    let rows = endpoint_status_rows(&ctl, true);
    assert_eq!(rows.len(), 3, "{rows:?}");
    for (row, member) in rows.iter().zip(&members) {
        // Listed in member list order, at each member's client URL.
        assert_eq!(row[0], member[4], "{row:?}");
        assert_eq!(row[1], member[0], "{row:?}");
        assert_eq!(
            row[4],
            (row[1] == leader_id).to_string(),
            "IS LEADER {row:?}"
        );
        assert_eq!(row[5], "false", "IS LEARNER {row:?}");
        assert_eq!(row[6], rows[0][6], "one raft term: {rows:?}");
        assert!(
            row[7].parse::<u64>().is_ok_and(|index| index > 0),
            "{row:?}"
        );
        assert!(row[8].parse::<u64>().is_ok(), "{row:?}");
        assert_eq!(row[9], "", "ERRORS {row:?}");
    }
    assert_eq!(
        rows.iter().filter(|row| row[4] == "true").count(),
        1,
        "exactly one leader: {rows:?}"
    );

    let victim = others(&cluster, leader)[0];
    cluster.kill(victim);
    let out = cluster.etcdctl_running().run(&[
        "--command-timeout=2s",
        "endpoint",
        "status",
        "--cluster",
        "-w",
        "table",
    ]);
    assert_eq!(out.code(), Some(1), "a member is down\n{out}");
    assert!(
        out.stderr.contains(&format!(
            "Failed to get the status of endpoint {} (context deadline exceeded)",
            cluster.client_url(victim)
        )),
        "{out}"
    );
    let rows = table_rows(&out.stdout);
    let listed: Vec<&str> = rows[1..].iter().map(|row| row[0].as_str()).collect();
    let expected: Vec<String> = members
        .iter()
        .map(|member| member[4].clone())
        .filter(|url| *url != cluster.client_url(victim))
        .collect();
    assert_eq!(listed, expected, "the members still up\n{out}");
    let members_now = member_list(&cluster.etcdctl_running());
    assert_eq!(members_now, members, "a member down is still a member");
}

/// Five members: with two killed, writes go on; with a third killed, a
/// write fails with a clear error within the command timeout instead of
/// hanging, while serializable reads still work; one restarted, writes
/// work again and every acknowledged one is there.
pub fn five_member_quorum(flavor: Flavor) {
    const COMMAND_TIMEOUT: Duration = Duration::from_secs(3);
    const REFUSAL_SLACK: Duration = Duration::from_secs(5);
    // etcd's request timeout at the default 1 s election timeout.
    const SERVER_REQUEST_TIMEOUT: Duration = Duration::from_secs(7);
    let mut cluster = Cluster::start(flavor, 5, &[]);
    let ctl = cluster.etcdctl_all();
    put(&ctl, "q/0", "0");
    let leader = cluster.leader();
    let followers = others(&cluster, leader);
    cluster.kill(followers[0]);
    cluster.kill(followers[1]);
    put(&ctl, "q/1", "1");
    ctl.run(&["get", "q/1"]).assert_stdout("q/1\n1\n");

    cluster.kill(followers[2]);
    let short = Etcdctl::new(cluster.endpoints()).with_timeout(Duration::from_secs(30));
    let started = Instant::now();
    let out = short.run(&["--command-timeout=3s", "put", "q/lost", "x"]);
    let took = started.elapsed();
    eprintln!(
        "[{flavor}] put with 2 of 5 members up: {:?} after {took:?}",
        out.error_message()
    );
    assert_eq!(out.code(), Some(1), "no quorum, no write\n{out}");
    let known = [
        "context deadline exceeded",
        "etcdserver: request timed out",
        "etcdserver: no leader",
        "etcdserver: leader changed",
    ];
    assert!(
        out.error_message()
            .is_some_and(|error| known.contains(&error)),
        "expected one of {known:?}\n{out}"
    );
    assert!(
        took <= COMMAND_TIMEOUT + REFUSAL_SLACK,
        "the refusal took {took:?}\n{out}"
    );
    // The server gives up by itself, as etcd does after its request
    // timeout (5 s + 2 election timeouts): a client that would wait a
    // minute still gets an answer.
    let patient = Etcdctl::new(cluster.endpoint(leader)).with_timeout(Duration::from_secs(90));
    let started = Instant::now();
    let out = patient.run(&["--command-timeout=60s", "put", "q/lost", "y"]);
    let took = started.elapsed();
    eprintln!(
        "[{flavor}] patient put with 2 of 5 members up: {:?} after {took:?}",
        out.error_message()
    );
    assert_eq!(out.code(), Some(1), "no quorum, no write\n{out}");
    // etcd's server answers its own timeout as code Unknown, "context
    // deadline exceeded"; keeld answers "etcdserver: request timed out", or
    // "no leader" as soon as the leader steps down without a quorum.
    let servers = [
        "rpc error: code = Unknown desc = context deadline exceeded",
        "etcdserver: request timed out",
        "etcdserver: no leader",
        "etcdserver: leader changed",
    ];
    assert!(
        out.error_message()
            .is_some_and(|error| servers.contains(&error)),
        "the server's own error, one of {servers:?}\n{out}"
    );
    assert!(
        took <= SERVER_REQUEST_TIMEOUT + REFUSAL_SLACK,
        "the server gave up after {took:?}\n{out}"
    );
    cluster
        .etcdctl(leader)
        .run(&["get", "q/1", "--consistency=s"])
        .assert_stdout("q/1\n1\n");

    cluster.restart(followers[2]);
    eventually("a write with 3 of 5 members up", || {
        let out = ctl.run(&["put", "q/2", "2"]);
        (out.success() && out.stdout == "OK\n").then_some(())
    });
    let (_, kvs) = read_prefix(&ctl, "q/", false);
    for (key, value) in [("q/0", "0"), ("q/1", "1"), ("q/2", "2")] {
        assert_eq!(
            kvs.get(key).map(|(value, _)| value.as_str()),
            Some(value),
            "{kvs:?}"
        );
    }
}

/// A lease granted 60 s, 8 s before the leader is killed: on keeld
/// (`--lease-checkpoint-interval 1s`) the new leader reports at most the
/// remaining TTL it had before the kill (+2 s); etcd 3.4 (no checkpoints
/// by default) gives it its whole TTL again, as this case shows.
pub fn lease_ttl_leader_change(flavor: Flavor) {
    const TTL: u32 = 60;
    const AGE: Duration = Duration::from_secs(8);
    let args: &[&str] = match flavor {
        Flavor::Keeld => &["--lease-checkpoint-interval", "1s"],
        // etcd 3.4 has no such flag (its checkpoints are an experimental
        // switch, off by default).
        Flavor::Etcd => &[],
    };
    let mut cluster = Cluster::start(flavor, 3, args);
    let leader = cluster.leader();
    let lease = grant(&cluster.etcdctl(leader), TTL);
    cluster
        .etcdctl_all()
        .run(&["put", "lt/k", "v", &format!("--lease={lease}")])
        .assert_stdout("OK\n");
    std::thread::sleep(AGE);
    let before = remaining_ttl(
        &cluster
            .etcdctl(leader)
            .run(&["lease", "timetolive", &lease]),
    );
    cluster.kill(leader);
    let new_leader = cluster.leader();
    let out = cluster
        .etcdctl(new_leader)
        .run(&["lease", "timetolive", &lease, "--keys"]);
    let after = remaining_ttl(&out);
    eprintln!(
        "[{flavor}] lease TTL {TTL}s: remaining {before}s before the leader kill, \
         {after}s on the new leader m{new_leader}"
    );
    assert!(
        out.stdout.ends_with("attached keys([lt/k])\n"),
        "the lease keeps its key\n{out}"
    );
    match flavor {
        Flavor::Keeld => assert!(
            after <= before + 2 && after > 0,
            "keeld resumes the remaining TTL: {before}s before, {after}s after"
        ),
        Flavor::Etcd => assert!(
            after >= i64::from(TTL) - 2,
            "etcd 3.4 gives the lease its whole TTL again: {before}s before, {after}s after"
        ),
    }
}

/// The leader of three is killed, and 100 puts follow through the two
/// survivors, one after another, each an etcdctl with a 2 s command
/// timeout. etcdctl (like Go's clientv3 and kube-apiserver) does not retry
/// a write the server refused with "no leader", so each one the server did
/// not hold until the election was over would be an error in the
/// application. etcd holds them: only the put in flight at the kill times
/// out. At least 95 must be acknowledged, and each acknowledged put must
/// then be read back from both survivors. Then the second survivor is
/// killed too, and the last member, which knows no leader, must refuse a
/// put that carries etcd's `hasleader: true` at once, with "no leader".
pub fn writes_wait_out_an_election(flavor: Flavor) {
    const PUTS: usize = 100;
    const ACKED_MIN: usize = 95;
    let mut cluster = Cluster::start(flavor, 3, &[]);
    let leader = cluster.leader();
    let survivors = others(&cluster, leader);
    put(&cluster.etcdctl(survivors[0]), "el/before", "x");
    cluster.kill(leader);
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    for n in 0..PUTS {
        let ctl = cluster
            .etcdctl(survivors[n % 2])
            .with_timeout(Duration::from_secs(20));
        let key = format!("el/{n:03}");
        let out = ctl.run(&["--command-timeout=2s", "put", &key, &format!("v{n}")]);
        if out.success() {
            acked.push(key);
        } else {
            refused.push(format!("{key}: {:?}", out.error_message()));
        }
    }
    eprintln!(
        "[{flavor}] {} of {PUTS} puts acknowledged through a leader kill; refused: {refused:?}",
        acked.len()
    );
    assert!(
        acked.len() >= ACKED_MIN,
        "[{flavor}] only {} of {PUTS} puts acknowledged; refused: {refused:?}",
        acked.len()
    );
    for &index in &survivors {
        let (_, kvs) = read_prefix(&cluster.etcdctl(index), "el/", false);
        for key in &acked {
            let n: usize = key["el/".len()..].parse().unwrap();
            assert_eq!(
                kvs.get(key).map(|(value, _)| value.clone()),
                Some(format!("v{n}")),
                "[{flavor}] m{index} lost the acknowledged put of {key}"
            );
        }
    }

    cluster.kill(survivors[1]);
    // Past the election timeouts: the last member campaigns in vain.
    std::thread::sleep(3 * ELECTION_TIMEOUT);
    let (status, took) = put_requiring_leader(&cluster.endpoint(survivors[0]));
    eprintln!("[{flavor}] hasleader put on a lone member: {status:?} after {took:?}");
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "etcdserver: no leader", "{status:?}");
    // keeld would hold a put without the requirement for its request
    // timeout (7 s here); this one must not wait for an election.
    assert!(
        took < 3 * ELECTION_TIMEOUT,
        "[{flavor}] the refusal took {took:?}"
    );
}

/// A put to `endpoint` with etcd's `hasleader: true` metadata (clientv3's
/// `WithRequireLeader`) that must fail: its status, and how long it took.
fn put_requiring_leader(endpoint: &str) -> (tonic::Status, Duration) {
    keel_tests::runtime().block_on(async {
        let channel = Channel::from_shared(format!("http://{endpoint}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut request = tonic::Request::new(PutRequest {
            key: b"el/lone".to_vec(),
            value: b"x".to_vec(),
            ..PutRequest::default()
        });
        request
            .metadata_mut()
            .insert("hasleader", "true".parse().unwrap());
        request.set_timeout(Duration::from_secs(20));
        let started = Instant::now();
        let answer = KvClient::new(channel).put(request).await;
        (answer.unwrap_err(), started.elapsed())
    })
}
