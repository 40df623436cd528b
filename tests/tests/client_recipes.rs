//! keel-client's recipes against etcd 3.4 and keeld:
//!
//! ```text
//!  recipe_suite!(etcd, Flavor::Etcd)
//!     mutex_under_contention ..... contenders take turns on one Mutex: never
//!                                  two in the critical section, every
//!                                  increment kept, fencing revisions grow
//!                                  from holder to holder
//!     fencing_refuses_lost_holder  a holder whose lease is gone (revoked, as
//!                                  if it expired while the holder paused)
//!                                  cannot write through its fence; the next
//!                                  holder's fence is higher
//!     informer_relists ........... an informer behind a cuttable proxy; while
//!                                  cut, the store changes and is compacted;
//!                                  once mended, the informer's resumed watch
//!                                  is compacted, it relists, its cache
//!                                  equals the store, and it follows on
//! ```

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests measure real time")]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keel_client::{
    Client, ClientOptions, GetOptions, Informer, Mutex, Session, Txn, TxnOp, Update,
};
use keel_tests::proxy::Proxy;
use keel_tests::{Flavor, Server};

/// Sessions contending for the mutex.
const CONTENDERS: usize = 4;
/// Turns each contender takes.
const TURNS: usize = 5;
/// The sessions' TTL.
const SESSION_TTL_SECS: i64 = 10;
/// How long the informer may take to see what happened.
const INFORMER_TIMEOUT: Duration = Duration::from_secs(20);

macro_rules! recipe_suite {
    ($name:ident, $flavor:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn mutex_under_contention() {
                super::mutex_under_contention($flavor);
            }

            #[test]
            fn fencing_refuses_lost_holder() {
                super::fencing_refuses_lost_holder($flavor);
            }

            #[test]
            fn informer_relists() {
                super::informer_relists($flavor);
            }
        }
    };
}

recipe_suite!(etcd, Flavor::Etcd);
recipe_suite!(keeld, Flavor::Keeld);

async fn connect(endpoint: String) -> Client {
    Client::connect([endpoint], ClientOptions::new())
        .await
        .unwrap()
}

/// The counter's value and the revision it was read at.
async fn counter(client: &Client) -> i64 {
    let got = client.get("counter", None).await.unwrap();
    got.kvs.first().map_or(0, |kv| {
        String::from_utf8(kv.value.clone())
            .unwrap()
            .parse()
            .unwrap()
    })
}

/// See the module docs: `mutex_under_contention`.
pub fn mutex_under_contention(flavor: Flavor) {
    let server = Server::start(flavor);
    let runtime = keel_tests::runtime();
    let client = runtime.block_on(connect(server.endpoint()));
    let inside = Arc::new(AtomicBool::new(false));
    let contenders: Vec<_> = (0..CONTENDERS)
        .map(|_| {
            let (client, inside) = (client.clone(), Arc::clone(&inside));
            runtime.spawn(async move {
                let session = Session::new(&client, SESSION_TTL_SECS).await.unwrap();
                let mut mutex = Mutex::new(&session, "/locks/counter");
                let mut fences = Vec::new();
                for _ in 0..TURNS {
                    let fence = mutex.lock(&session).await.unwrap();
                    assert!(!inside.swap(true, Ordering::SeqCst), "two holders at once");
                    let next = counter(&client).await + 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    let written = client
                        .txn(Txn::new().when([mutex.is_owner()]).and_then([
                            TxnOp::put("counter", next.to_string(), None),
                            TxnOp::put(format!("fences/{fence:020}"), "", None),
                        ]))
                        .await
                        .unwrap();
                    assert!(written.succeeded, "the holder's fenced write goes through");
                    inside.store(false, Ordering::SeqCst);
                    mutex.unlock(&session).await.unwrap();
                    fences.push(fence);
                }
                session.close().await.unwrap();
                fences
            })
        })
        .collect();
    let mut fences = Vec::new();
    for contender in contenders {
        fences.extend(runtime.block_on(contender).unwrap());
    }
    assert_eq!(
        runtime.block_on(counter(&client)),
        (CONTENDERS * TURNS) as i64,
        "[{flavor}] every increment under the lock is kept"
    );
    // In the order the holders wrote (mod revision), their fences grow.
    let log = runtime
        .block_on(client.get("fences/", Some(GetOptions::new().with_prefix())))
        .unwrap();
    let mut by_write: Vec<(i64, String)> = log
        .kvs
        .into_iter()
        .map(|kv| (kv.mod_revision, String::from_utf8(kv.key).unwrap()))
        .collect();
    by_write.sort();
    let in_write_order: Vec<i64> = by_write
        .iter()
        .map(|(_, key)| key["fences/".len()..].parse().unwrap())
        .collect();
    let mut sorted = in_write_order.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(
        in_write_order.len(),
        CONTENDERS * TURNS,
        "one fence per turn"
    );
    assert_eq!(
        in_write_order, sorted,
        "[{flavor}] fences grow from holder to holder"
    );
    fences.sort_unstable();
    assert_eq!(fences, sorted);
}

/// See the module docs: `fencing_refuses_lost_holder`.
pub fn fencing_refuses_lost_holder(flavor: Flavor) {
    let server = Server::start(flavor);
    let runtime = keel_tests::runtime();
    runtime.block_on(async {
        let client = connect(server.endpoint()).await;
        let first = Session::new(&client, SESSION_TTL_SECS).await.unwrap();
        let mut first_lock = Mutex::new(&first, "/locks/job");
        let first_fence = first_lock.lock(&first).await.unwrap();

        let second = Session::new(&client, SESSION_TTL_SECS).await.unwrap();
        let mut second_lock = Mutex::new(&second, "/locks/job");
        let waiting = tokio::spawn(async move {
            let fence = second_lock.lock(&second).await.unwrap();
            (second, second_lock, fence)
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "[{flavor}] the lock is held");

        // The first holder's lease ends behind its back.
        client.lease_revoke(first.lease_id()).await.unwrap();
        let (second, second_lock, second_fence) = tokio::time::timeout(INFORMER_TIMEOUT, waiting)
            .await
            .unwrap()
            .unwrap();
        assert!(second_fence > first_fence, "[{flavor}] fences grow");

        let stale = client
            .txn(
                Txn::new()
                    .when([first_lock.is_owner()])
                    .and_then([TxnOp::put("job/output", "from the old holder", None)]),
            )
            .await
            .unwrap();
        assert!(
            !stale.succeeded,
            "[{flavor}] the lost holder's write is refused"
        );
        let current = client
            .txn(
                Txn::new()
                    .when([second_lock.is_owner()])
                    .and_then([TxnOp::put("job/output", "from the holder", None)]),
            )
            .await
            .unwrap();
        assert!(
            current.succeeded,
            "[{flavor}] the holder's write goes through"
        );
        let output = client.get("job/output", None).await.unwrap();
        assert_eq!(output.kvs[0].value, b"from the holder");
        second.close().await.unwrap();
    });
}

/// The informer's next update that is not a progress notification.
async fn next_change(informer: &mut Informer) -> Update {
    loop {
        let update = tokio::time::timeout(INFORMER_TIMEOUT, informer.next())
            .await
            .expect("an informer update in time")
            .unwrap();
        if !matches!(update, Update::Progress { .. }) {
            return update;
        }
    }
}

/// The store's keys under `prefix` with their values, read at `revision`.
async fn stored(client: &Client, prefix: &str, revision: i64) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let got = client
        .get(
            prefix,
            Some(GetOptions::new().with_prefix().with_revision(revision)),
        )
        .await
        .unwrap();
    got.kvs.into_iter().map(|kv| (kv.key, kv.value)).collect()
}

fn cached(informer: &Informer) -> BTreeMap<Vec<u8>, Vec<u8>> {
    informer
        .cache()
        .iter()
        .map(|(key, kv)| (key.clone(), kv.value.clone()))
        .collect()
}

/// See the module docs: `informer_relists`.
pub fn informer_relists(flavor: Flavor) {
    let server = Server::start(flavor);
    let proxy = Proxy::start(&server.endpoint());
    let runtime = keel_tests::runtime();
    let writer = runtime.block_on(connect(server.endpoint()));
    let reader = runtime.block_on(connect(proxy.endpoint()));
    runtime.block_on(async {
        writer.put("pods/a", "1", None).await.unwrap();
        writer.put("pods/b", "1", None).await.unwrap();
    });
    let _in_runtime = runtime.enter();
    let mut informer = runtime.block_on(Informer::start(&reader, "pods/")).unwrap();
    assert_eq!(informer.cache().len(), 2);
    runtime.block_on(writer.put("pods/c", "1", None)).unwrap();
    let Update::Changed { changes, .. } = runtime.block_on(next_change(&mut informer)) else {
        panic!("[{flavor}] a put is a change");
    };
    assert_eq!(changes.len(), 1);

    // The informer loses the server; meanwhile the store changes and its
    // history is compacted past where the informer's watch stands.
    proxy.cut();
    let compacted = runtime.block_on(async {
        writer.delete("pods/a", None).await.unwrap();
        writer.put("pods/new", "1", None).await.unwrap();
        writer.put("pods/b", "2", None).await.unwrap();
        let last = writer.put("other/x", "1", None).await.unwrap();
        let revision = last.header.unwrap().revision;
        writer.compact(revision, true).await.unwrap();
        revision
    });
    proxy.mend();
    runtime.block_on(async {
        let Update::Relisted { revision } = next_change(&mut informer).await else {
            panic!("[{flavor}] a watch resumed into compacted history relists");
        };
        assert!(
            revision >= compacted,
            "[{flavor}] relisted after compaction"
        );
        let truth = stored(&writer, "pods/", revision).await;
        assert_eq!(
            cached(&informer),
            truth,
            "[{flavor}] the cache is the store at revision {revision}"
        );
        // It follows changes again after the relist.
        writer.put("pods/after", "1", None).await.unwrap();
        let Update::Changed { changes, .. } = next_change(&mut informer).await else {
            panic!("[{flavor}] a put after the relist is a change");
        };
        assert_eq!(changes.len(), 1);
        assert!(informer.cache().contains_key(b"pods/after".as_slice()));
    });
}
