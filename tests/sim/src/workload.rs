//! The etcd-like client workload: clients that get, put, delete, compare
//! and put, grant and revoke leases and put with them, each operation
//! recorded with its call and return times; and watchers that record every
//! response they get.
//!
//! Histories stay checkable as testing.md asks: few keys, unique values,
//! one operation at a time per client id, and a fresh client id after an
//! operation whose outcome is unknown.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use keel_client::{Client, Compare, CompareOp, Error, PutOptions, Txn, TxnOp, WatchOptions};
use keel_jepsen::history::{
    EventKind, KeyValue, Operation, Outcome, Request, Response, WatchEvent, WatchRecord,
    WatchResponse,
};
use madsim::rand::Rng;
use parking_lot::Mutex;

use crate::recorder::Recorder;

/// Keys the workload touches (`k0` .. `k7`).
pub const KEYS: usize = 8;
/// TTL of the workload's leases: longer than any run, so leases end only
/// by revocation and the model need not guess expiry.
const LEASE_TTL_SECS: i64 = 3600;
/// Most leases a client keeps granted.
const LEASES_PER_CLIENT_MAX: usize = 3;

/// What the workload's clients did.
#[derive(Default)]
pub struct Log {
    /// Every completed (or abandoned) operation.
    pub operations: Mutex<Vec<Operation>>,
    /// Every watcher's record.
    pub watches: Mutex<Vec<WatchRecord>>,
}

/// One workload client: a logical client id (fresh after an unknown
/// outcome), the leases it granted, and the mod revisions it last read.
struct Worker {
    client: Client,
    id: u64,
    stride: u64,
    recorder: Arc<Recorder>,
    log: Arc<Log>,
    leases: Vec<i64>,
    lease_serial: i64,
    writes: u64,
    seen_mod_revisions: BTreeMap<String, i64>,
}

fn key(index: usize) -> String {
    format!("k{index}")
}

/// A server refusal the model knows as a definite answer.
fn definite(error: &Error) -> Option<Response> {
    let Error::Server { status } = error else {
        return None;
    };
    match status.message() {
        "etcdserver: requested lease not found" => Some(Response::LeaseNotFound),
        "etcdserver: lease already exists" => Some(Response::LeaseExists),
        _ => None,
    }
}

fn kv_of(kv: &keel_client::proto::mvccpb::KeyValue) -> KeyValue {
    KeyValue {
        key: String::from_utf8_lossy(&kv.key).into_owned(),
        value: String::from_utf8_lossy(&kv.value).into_owned(),
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        lease: kv.lease,
    }
}

fn revision_of(header: Option<&keel_client::proto::etcdserverpb::ResponseHeader>) -> i64 {
    header.map_or(0, |h| h.revision)
}

impl Worker {
    fn choose(&mut self) -> Request {
        let mut rng = madsim::rand::thread_rng();
        let key = key(rng.gen_range(0..KEYS));
        self.writes += 1;
        let value = format!("c{}-{}", self.id, self.writes);
        match rng.gen_range(0..100) {
            0..=34 => Request::Get { key },
            35..=54 => Request::Put {
                key,
                value,
                lease: 0,
            },
            55..=64 => Request::Delete { key },
            65..=79 => {
                let expected = self.seen_mod_revisions.get(&key).copied().unwrap_or(0);
                Request::CompareAndPut {
                    key,
                    expected_mod_revision: expected,
                    value,
                }
            }
            80..=86 if self.leases.len() < LEASES_PER_CLIENT_MAX => {
                self.lease_serial += 1;
                // Each worker's own range of ids (its ids are its index
                // plus multiples of the stride), so that two workers never
                // grant the same lease.
                let worker = (self.id % self.stride) as i64;
                Request::LeaseGrant {
                    id: (worker + 1) * 1_000_000 + self.lease_serial,
                    ttl_secs: LEASE_TTL_SECS,
                }
            }
            80..=94 if !self.leases.is_empty() => Request::Put {
                key,
                value,
                lease: self.leases[rng.gen_range(0..self.leases.len())],
            },
            95..=99 if !self.leases.is_empty() => {
                let id = self.leases.remove(rng.gen_range(0..self.leases.len()));
                Request::LeaseRevoke { id }
            }
            _ => Request::Get { key },
        }
    }

    async fn execute(&self, request: &Request) -> Result<Response, Error> {
        let client = &self.client;
        Ok(match request {
            Request::Get { key } => {
                let answer = client.get(key.as_str(), None).await?;
                Response::Get {
                    revision: revision_of(answer.header.as_ref()),
                    kv: answer.kvs.first().map(kv_of),
                }
            }
            Request::Put { key, value, lease } => {
                let options = (*lease != 0).then(|| PutOptions::new().with_lease(*lease));
                let answer = client.put(key.as_str(), value.as_str(), options).await?;
                Response::Put {
                    revision: revision_of(answer.header.as_ref()),
                }
            }
            Request::Delete { key } => {
                let answer = client.delete(key.as_str(), None).await?;
                Response::Delete {
                    revision: revision_of(answer.header.as_ref()),
                    deleted: answer.deleted,
                }
            }
            Request::CompareAndPut {
                key,
                expected_mod_revision,
                value,
            } => {
                let txn = Txn::new()
                    .when([Compare::mod_revision(
                        key.as_str(),
                        CompareOp::Equal,
                        *expected_mod_revision,
                    )])
                    .and_then([TxnOp::put(key.as_str(), value.as_str(), None)]);
                let answer = client.txn(txn).await?;
                Response::CompareAndPut {
                    revision: revision_of(answer.header.as_ref()),
                    succeeded: answer.succeeded,
                }
            }
            Request::LeaseGrant { id, ttl_secs } => {
                let answer = client.lease_grant(*ttl_secs, *id).await?;
                Response::LeaseGrant {
                    revision: revision_of(answer.header.as_ref()),
                }
            }
            Request::LeaseRevoke { id } => {
                let answer = client.lease_revoke(*id).await?;
                Response::LeaseRevoke {
                    revision: revision_of(answer.header.as_ref()),
                }
            }
        })
    }

    /// Runs one operation and records it.
    async fn step(&mut self) {
        let request = self.choose();
        let call_ns = self.recorder.now_ns();
        let result = self.execute(&request).await;
        let return_ns = self.recorder.now_ns();
        let outcome = match result {
            Ok(response) => Outcome::Ok(response),
            Err(error) => match definite(&error) {
                Some(response) => Outcome::Ok(response),
                // A failed read changed nothing, whatever happened to it.
                None if matches!(request, Request::Get { .. }) => Outcome::Failed,
                // Anything else may have been applied.
                None => Outcome::Unknown,
            },
        };
        self.learn(&request, &outcome);
        let unknown = matches!(outcome, Outcome::Unknown);
        self.log.operations.lock().push(Operation {
            client: self.id,
            call_ns,
            return_ns,
            request,
            outcome,
        });
        if unknown {
            // The unknown operation stays open for ever in the history.
            self.id += self.stride;
        }
    }

    /// Remembers what later operations build on: granted leases, read
    /// revisions for compare-and-put.
    fn learn(&mut self, request: &Request, outcome: &Outcome) {
        match (request, outcome) {
            (
                Request::LeaseGrant { id, .. },
                Outcome::Ok(Response::LeaseGrant { .. }) | Outcome::Unknown,
            ) => {
                self.leases.push(*id);
            }
            (Request::Get { key }, Outcome::Ok(Response::Get { kv, .. })) => {
                let revision = kv.as_ref().map_or(0, |kv| kv.mod_revision);
                self.seen_mod_revisions.insert(key.clone(), revision);
            }
            (
                Request::Put { key, .. } | Request::CompareAndPut { key, .. },
                Outcome::Ok(
                    Response::Put { revision }
                    | Response::CompareAndPut {
                        revision,
                        succeeded: true,
                    },
                ),
            ) => {
                self.seen_mod_revisions.insert(key.clone(), *revision);
            }
            _ => {}
        }
    }
}

/// Runs `clients` workload clients against `endpoints` until `stop_ns`.
pub async fn run_clients(
    endpoints: Vec<String>,
    clients: u64,
    recorder: Arc<Recorder>,
    log: Arc<Log>,
    stop_ns: u64,
) {
    let mut tasks = Vec::new();
    for index in 0..clients {
        let endpoints = endpoints.clone();
        let recorder = Arc::clone(&recorder);
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            let client = connect(endpoints, &recorder, stop_ns).await?;
            let mut worker = Worker {
                client,
                id: index,
                stride: clients,
                recorder,
                log,
                leases: Vec::new(),
                lease_serial: 0,
                writes: 0,
                seen_mod_revisions: BTreeMap::new(),
            };
            while worker.recorder.now_ns() < stop_ns {
                worker.step().await;
                let pause = madsim::rand::thread_rng().gen_range(0..20);
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            Some(())
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// A client of the cluster, retrying until one member answers.
async fn connect(endpoints: Vec<String>, recorder: &Recorder, stop_ns: u64) -> Option<Client> {
    // The client rotates from the first endpoint that answers; start each
    // at a different member so load spreads.
    loop {
        match Client::connect(endpoints.clone(), crate::cluster::client_options()).await {
            Ok(client) => return Some(client),
            Err(_) if recorder.now_ns() < stop_ns => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => return None,
        }
    }
}

/// Runs a watcher of every workload key from revision 1 until `stop_ns`,
/// recording each response; ends early if the watch is compacted away.
pub async fn run_watcher(
    endpoints: Vec<String>,
    watcher: u64,
    recorder: Arc<Recorder>,
    log: Arc<Log>,
    stop_ns: u64,
    drain: Arc<Drain>,
) {
    let Some(client) = connect(endpoints, &recorder, stop_ns).await else {
        return;
    };
    let options = WatchOptions::new()
        .with_range("l")
        .with_start_revision(1)
        .with_prev_key()
        .with_progress_notify();
    let mut watch = client.watch("k", Some(options));
    let mut record = WatchRecord {
        watcher,
        key: "k".into(),
        range_end: "l".into(),
        start_revision: 1,
        prev_kv: true,
        responses: Vec::new(),
    };
    let drain_until_ns = stop_ns + DRAIN_MAX.as_nanos() as u64;
    let mut through = 0;
    loop {
        let now_ns = recorder.now_ns();
        let wait = if now_ns < stop_ns {
            Duration::from_nanos(stop_ns - now_ns)
        } else {
            // Past the workload: ask for progress until the stream has
            // reached the revision the members settled on.
            if drain.reached(through) || now_ns >= drain_until_ns {
                break;
            }
            watch.request_progress();
            DRAIN_TICK
        };
        let Ok(next) = tokio::time::timeout(wait, watch.next()).await else {
            continue;
        };
        match next {
            Some(Ok(update)) => {
                let response = WatchResponse {
                    header_revision: update.revision,
                    events: update.events.iter().map(event_of).collect(),
                    compact_revision: 0,
                    canceled: false,
                    received_ns: recorder.now_ns(),
                };
                through = through.max(response.complete_through());
                record.responses.push(response);
            }
            Some(Err(Error::Compacted {
                compact_revision, ..
            })) => {
                record.responses.push(WatchResponse {
                    header_revision: 0,
                    events: Vec::new(),
                    compact_revision,
                    canceled: true,
                    received_ns: recorder.now_ns(),
                });
                break;
            }
            Some(Err(_)) | None => break,
        }
    }
    log.watches.lock().push(record);
}

/// How long watchers go on after the workload stops, at most, to reach
/// the revision the members settle on: the quiesce's bound and a margin.
const DRAIN_MAX: Duration = Duration::from_secs(30);
/// How often a draining watcher asks for a progress notification.
const DRAIN_TICK: Duration = Duration::from_millis(200);

/// The revision the members settled on once the workload stopped, which
/// the watchers drain to, so that their records hold every write the
/// linearizability checker may have to account for
/// (`keel_jepsen::resolve`).
#[derive(Default)]
pub struct Drain {
    /// 0 until the members settle; -1 if they never do (stop at once).
    settled: std::sync::atomic::AtomicI64,
}

impl Drain {
    /// Sets the revision to drain to (`None`: the members did not settle).
    pub fn settle(&self, revision: Option<i64>) {
        self.settled
            .store(revision.unwrap_or(-1), std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether a watcher whose stream is complete through `through` is done.
    fn reached(&self, through: i64) -> bool {
        match self.settled.load(std::sync::atomic::Ordering::SeqCst) {
            0 => false,
            -1 => true,
            settled => through >= settled,
        }
    }
}

fn event_of(event: &keel_client::proto::mvccpb::Event) -> WatchEvent {
    let kind = if event.r#type == 1 {
        EventKind::Delete
    } else {
        EventKind::Put
    };
    WatchEvent {
        kind,
        kv: event.kv.as_ref().map(kv_of).unwrap_or_default(),
        prev_kv: event.prev_kv.as_ref().map(kv_of),
    }
}
