//! `lock` and `elect`. etcdctl 3.4 implements both on the client, with
//! clientv3's concurrency recipes (no v3lock or v3election RPC): a session
//! (a lease kept alive: TTL 10 s for lock, `--ttl`; 60 s for elect), one
//! key `<name>/<lease id in hex, no leading zeros>` attached to it, put by
//! a txn if its create revision is 0, and the oldest key under `<name>/`
//! (by create revision) holds the lock or leads. A waiter watches the key
//! created just before its own until it is deleted.
//!
//! ```text
//!  lock <name>           prints "<key>\n\n" (key, empty value) once it holds
//!                        the lock, until SIGTERM: then deletes the key, exit 0
//!  lock <name> -- cmd    runs cmd holding the lock (ETCD_LOCK_KEY and
//!                        ETCD_LOCK_REV in its environment), then unlocks
//!  elect <name> <value>  prints "<key>\n<value>\n" once it leads, until
//!                        SIGTERM: then resigns (deletes the key), exit 0
//!  elect -l <name>       prints the leader's key and value, and each next one
//! ```
//!
//! Neither revokes its session's lease on the way out: it lingers until
//! its TTL runs out.

use std::time::Duration;

use keel_tests::{cases, run_cases, Flavor, Server};

use crate::support::{eventually, keys_under, StoredKey};

/// How long a waiter must stay silent while the lock or leadership is
/// taken: it would have won within this if it did not wait.
const STILL_WAITING: Duration = Duration::from_secs(1);

/// Starts one server and runs the lock and election cases on it.
pub fn suite(flavor: Flavor) {
    let server = Server::start(flavor);
    run_cases(
        &server,
        cases![
            lock_waits_for_holder,
            lock_runs_command,
            lock_waiter_gives_up,
            lock_of_killed_holder,
            elect_and_observe,
            bad_arguments,
        ],
    );
}

/// The one key under `prefix`, checked to be `<prefix><lease:x>` with
/// `value`, attached to a lease of `ttl` seconds.
#[track_caller]
fn session_key(server: &Server, key: &StoredKey, prefix: &str, value: &str, ttl: i64) {
    assert_eq!(key.key, format!("{prefix}{:x}", key.lease), "{key:?}");
    assert_eq!(key.value, value, "{key:?}");
    let out = server
        .etcdctl()
        .run(&["lease", "timetolive", &format!("{:x}", key.lease)]);
    let granted = format!("lease {:016x} granted with TTL({ttl}s), ", key.lease);
    assert!(
        out.assert_success().stdout.starts_with(&granted),
        "expected {granted:?}...\n{out}"
    );
}

/// Waits until `prefix` holds `count` keys, and returns them oldest first.
#[track_caller]
fn wait_for_keys(server: &Server, prefix: &str, count: usize) -> Vec<StoredKey> {
    let ctl = server.etcdctl();
    eventually(&format!("{count} keys under {prefix}"), || {
        let keys = keys_under(&ctl, prefix);
        (keys.len() == count).then_some(keys)
    })
}

fn lock_waits_for_holder(server: &Server) {
    let ctl = server.etcdctl();
    let mut holder = ctl.spawn(&["lock", "lw"]);
    let printed = holder.read_stdout(2);
    let keys = keys_under(&ctl, "lw/");
    assert_eq!(keys.len(), 1, "{keys:?}");
    let held = &keys[0];
    assert_eq!(printed, format!("{}\n\n", held.key), "{holder}");
    session_key(server, held, "lw/", "", 10);

    let mut waiter = ctl.spawn(&["lock", "lw"]);
    let keys = wait_for_keys(server, "lw/", 2);
    assert_eq!(&keys[0], held);
    let waiting = keys[1].clone();
    assert!(waiting.create_revision > held.create_revision);
    session_key(server, &waiting, "lw/", "", 10);
    waiter.assert_no_stdout_for(STILL_WAITING);

    // SIGTERM: the holder unlocks (deletes its key) and exits 0.
    holder
        .terminate()
        .assert_stdout(&format!("{}\n\n", held.key));
    waiter.expect_stdout(&format!("{}\n\n", waiting.key));
    assert_eq!(keys_under(&ctl, "lw/"), std::slice::from_ref(&waiting));
    waiter
        .terminate()
        .assert_stdout(&format!("{}\n\n", waiting.key));
    assert_eq!(keys_under(&ctl, "lw/"), []);
}

fn lock_runs_command(server: &Server) {
    let ctl = server.etcdctl();
    let report = ["sh", "-c", "echo \"$ETCD_LOCK_KEY $ETCD_LOCK_REV\""];
    // Uncontended: the command runs at once; ETCD_LOCK_REV is the revision
    // the lock was taken at (the key's creation), and the key is deleted
    // when the command ends.
    let out = ctl.run(&[&["lock", "lc", "--"], &report[..]].concat());
    let (key, rev) = out
        .assert_success()
        .stdout
        .strip_suffix('\n')
        .and_then(|line| line.split_once(' '))
        .unwrap_or_else(|| panic!("expected \"<key> <rev>\"\n{out}"));
    let lease = key
        .strip_prefix("lc/")
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .unwrap_or_else(|| panic!("not lc/<hex>: {key}\n{out}"));
    assert_eq!(key, format!("lc/{lease:x}"), "{out}");
    let revision = ctl.revision();
    assert_eq!(
        rev,
        (revision - 1).to_string(),
        "taken, then one delete\n{out}"
    );
    assert_eq!(keys_under(&ctl, "lc/"), []);

    // The command's failure is etcdctl's: exit 1, and the lock is released.
    ctl.run(&["lock", "lc", "--", "sh", "-c", "exit 3"])
        .assert_client_error(1, "Error: exit status 3\n");
    assert_eq!(keys_under(&ctl, "lc/"), []);

    // Contended: the command runs once the holder has unlocked;
    // ETCD_LOCK_REV is then the revision of the holder's unlock.
    let mut holder = ctl.spawn(&["lock", "lc"]);
    let printed = holder.read_stdout(2);
    let mut waiter = ctl.spawn(&[&["lock", "lc", "--"], &report[..]].concat());
    let keys = wait_for_keys(server, "lc/", 2);
    assert_eq!(printed, format!("{}\n\n", keys[0].key));
    waiter.assert_no_stdout_for(STILL_WAITING);
    holder.terminate().assert_success();
    let unlocked = keys[1].create_revision + 1;
    let out = waiter.wait();
    out.assert_stdout(&format!("{} {unlocked}\n", keys[1].key));
    assert_eq!(keys_under(&ctl, "lc/"), []);
    assert_eq!(ctl.revision(), unlocked + 1, "the waiter's unlock");
}

/// A waiter stopped by SIGTERM gives up: `context canceled`, exit 1, and
/// its key is deleted; the holder keeps the lock.
fn lock_waiter_gives_up(server: &Server) {
    let ctl = server.etcdctl();
    let mut holder = ctl.spawn(&["lock", "lg"]);
    let printed = holder.read_stdout(2);
    let waiter = ctl.spawn(&["lock", "lg"]);
    let keys = wait_for_keys(server, "lg/", 2);
    waiter
        .terminate()
        .assert_client_error(1, "Error: context canceled\n");
    assert_eq!(keys_under(&ctl, "lg/"), [keys[0].clone()]);
    holder.terminate().assert_stdout(&printed);
    assert_eq!(keys_under(&ctl, "lg/"), []);
}

/// A holder killed with SIGKILL does not unlock: its key goes when its
/// session's lease expires (`--ttl=5`), and the waiter gets the lock then.
fn lock_of_killed_holder(server: &Server) {
    let ctl = server.etcdctl();
    let mut holder = ctl.spawn(&["lock", "--ttl=5", "lk"]);
    let printed = holder.read_stdout(2);
    let mut waiter = ctl.spawn(&["lock", "lk"]);
    let keys = wait_for_keys(server, "lk/", 2);
    assert_eq!(printed, format!("{}\n\n", keys[0].key));
    session_key(server, &keys[0], "lk/", "", 5);
    waiter.assert_no_stdout_for(STILL_WAITING);
    let out = holder.kill();
    assert_eq!(out.stdout, printed, "{out}");
    waiter.expect_stdout(&format!("{}\n\n", keys[1].key));
    assert_eq!(keys_under(&ctl, "lk/"), [keys[1].clone()]);
    ctl.run(&["lease", "timetolive", &format!("{:x}", keys[0].lease)])
        .assert_stdout(&format!("lease {:016x} already expired\n", keys[0].lease));
    waiter.terminate().assert_success();
    assert_eq!(keys_under(&ctl, "lk/"), []);
}

fn elect_and_observe(server: &Server) {
    let ctl = server.etcdctl();
    // An observer started before there is a leader prints the first one.
    let mut observer = ctl.spawn(&["elect", "-l", "el"]);
    let mut alice = ctl.spawn(&["elect", "el", "alice"]);
    let alice_said = alice.read_stdout(2);
    let keys = keys_under(&ctl, "el/");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(alice_said, format!("{}\nalice\n", keys[0].key));
    session_key(server, &keys[0], "el/", "alice", 60);
    observer.expect_stdout(&alice_said);

    // A second candidate waits for the leader to go.
    let mut bob = ctl.spawn(&["elect", "el", "bob"]);
    let keys = wait_for_keys(server, "el/", 2);
    session_key(server, &keys[1], "el/", "bob", 60);
    bob.assert_no_stdout_for(STILL_WAITING);
    // An observer started now prints the current leader.
    let mut late_observer = ctl.spawn(&["elect", "-l", "el"]);
    late_observer.expect_stdout(&alice_said);

    // SIGTERM: alice resigns (deletes her key) and exits 0; bob leads.
    alice.terminate().assert_stdout(&alice_said);
    let bob_said = format!("{}\nbob\n", keys[1].key);
    bob.expect_stdout(&bob_said);
    observer.expect_stdout(&bob_said);
    late_observer.expect_stdout(&bob_said);
    assert_eq!(keys_under(&ctl, "el/"), [keys[1].clone()]);

    // Without a leader, observers print nothing; SIGTERM ends them, exit 0.
    bob.terminate().assert_stdout(&bob_said);
    assert_eq!(keys_under(&ctl, "el/"), []);
    observer.assert_no_stdout_for(STILL_WAITING);
    observer
        .terminate()
        .assert_stdout(&format!("{alice_said}{bob_said}"));
    late_observer
        .terminate()
        .assert_stdout(&format!("{alice_said}{bob_said}"));
}

/// Client-side: etcdctl checks the arguments before connecting.
fn bad_arguments(server: &Server) {
    let ctl = server.etcdctl();
    ctl.run(&["lock"]).assert_client_error(
        128,
        "Error: lock takes a lock name argument and an optional command to execute\n",
    );
    ctl.run(&["elect"]).assert_client_error(
        128,
        "Error: elect takes one election name argument and an optional proposal argument\n",
    );
    ctl.run(&["elect", "el"])
        .assert_client_error(128, "Error: no proposal argument but -l not set\n");
    ctl.run(&["elect", "-l", "el", "x"])
        .assert_client_error(128, "Error: proposal given but -l is set\n");
}
