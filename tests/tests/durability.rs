//! Durability: keeld is killed with SIGKILL at a random moment while a
//! client writes, then restarted on the same data directory, over and over.
//! Every write it acknowledged must be there afterwards, at the revision it
//! was acknowledged with; nothing it never acknowledged may appear except
//! the writes in flight at the kill (whose outcome the client never
//! learned).
#![allow(clippy::unwrap_used, reason = "tests")]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_tests::{Etcdctl, Flavor, Server};

/// Kill and restart this many times.
const ROUNDS: u64 = 24;

/// A small deterministic generator for kill delays (the test's randomness
/// is reproducible from the round number).
fn delay_ms(round: u64) -> u64 {
    let mut x = round.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    150 + x % 700
}

/// One acknowledged write: key, value and the revision in its response.
#[derive(Debug, Clone)]
struct Acked {
    key: String,
    value: String,
    revision: i64,
}

/// Writes `dur/<round>/<n>` until `stop`, recording acknowledged writes.
#[allow(clippy::disallowed_methods, reason = "the test's own writer thread")]
fn writer(
    ctl: Etcdctl,
    round: u64,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Acked>>>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut attempts = 0;
        while !stop.load(Ordering::SeqCst) {
            let key = format!("dur/{round:03}/{attempts:05}");
            let value = format!("v{round}-{attempts}");
            attempts += 1;
            let Ok(out) = ctl.try_run(
                &[
                    "--dial-timeout=300ms",
                    "--command-timeout=2s",
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
                // Killed mid-request or not serving: the outcome is unknown.
                continue;
            }
            let revision = out.json()["header"]["revision"].as_i64().unwrap();
            acked.lock().unwrap().push(Acked {
                key,
                value,
                revision,
            });
        }
        attempts
    })
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let mut server = Server::start(Flavor::Keeld);
    let ctl = server.etcdctl();
    let mut all_acked: Vec<Acked> = Vec::new();
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let handle = writer(ctl.clone(), round, Arc::clone(&stop), Arc::clone(&acked));
        std::thread::sleep(Duration::from_millis(delay_ms(round)));
        server.kill();
        stop.store(true, Ordering::SeqCst);
        handle.join().unwrap();
        server.restart();
        all_acked.extend(acked.lock().unwrap().iter().cloned());

        // Every write acknowledged so far, in every round, is present at
        // the revision it was acknowledged with.
        for write in &all_acked {
            let out = ctl.run(&["get", &write.key, "-w", "json"]);
            let kvs = &out.assert_success().json()["kvs"];
            let kv = kvs
                .get(0)
                .unwrap_or_else(|| panic!("round {round}: acknowledged {write:?} is missing"));
            assert_eq!(
                kv["mod_revision"].as_i64(),
                Some(write.revision),
                "round {round}: {write:?}"
            );
            let value = keel_tests::format::base64(write.value.as_bytes());
            assert_eq!(
                kv["value"].as_str(),
                Some(value.as_str()),
                "round {round}: {write:?}"
            );
        }
        // Revisions were handed out once each: no two acknowledged writes
        // share one.
        let mut revisions: Vec<i64> = all_acked.iter().map(|w| w.revision).collect();
        revisions.sort_unstable();
        revisions.dedup();
        assert_eq!(
            revisions.len(),
            all_acked.len(),
            "round {round}: a revision was acknowledged twice"
        );
    }
    assert!(
        all_acked.len() as u64 >= ROUNDS,
        "too few writes were acknowledged ({}) for the test to mean anything",
        all_acked.len()
    );
}
