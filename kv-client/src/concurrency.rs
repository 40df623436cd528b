//! Sessions, mutexes and elections built from leases, revisions and watch,
//! the recipes etcd's `clientv3/concurrency` package made standard (and
//! `etcdctl lock` / `elect` use), so keel's and etcd's clients can contend
//! for the same locks.
//!
//! ```text
//!  Session: a lease kept alive ──────────────┐ its keys vanish when the holder dies
//!  Mutex / Election under <prefix>/:          ▼
//!     <prefix>/<lease id hex>  created in a txn (if absent) on the session's lease
//!     the key with the lowest create_revision holds the lock / leads
//!     a waiter watches the next lower key until it is deleted (no herd)
//! ```
//!
//! The holder's key's create revision is its **fencing revision**: it only
//! grows from one holder to the next, so a resource that remembers the
//! highest it has seen can refuse a holder that lost the lock without
//! knowing (a paused process whose lease expired). In keel itself, guard a
//! write with [`Mutex::is_owner`], a compare on that revision.

use keel_proto::mvccpb::{event::EventType, KeyValue};
use tokio::sync::mpsc;

use crate::client::Client;
use crate::error::Error;
use crate::kv::{Compare, CompareOp, GetOptions, PutOptions, SortOrder, SortTarget, Txn, TxnOp};
use crate::lease::{KeepAlive, LeaseState};
use crate::watch::WatchOptions;

/// The TTL of a session's lease when none is given, etcd's default.
pub const SESSION_TTL_SECS_DEFAULT: i64 = 60;
/// Leader changes queued for an [`Election::observe`] caller.
const OBSERVED_BUFFERED_MAX: usize = 16;

/// A lease kept alive for as long as its holder lives: the liveness that
/// mutexes and elections hang their keys on.
#[derive(Debug)]
pub struct Session {
    client: Client,
    keep_alive: KeepAlive,
}

impl Session {
    /// Grants a lease of `ttl_secs` and keeps it alive in the background.
    /// Call it within a Tokio runtime.
    pub async fn new(client: &Client, ttl_secs: i64) -> Result<Self, Error> {
        let granted = client.lease_grant(ttl_secs, 0).await?;
        Ok(Self {
            client: client.clone(),
            keep_alive: client.keep_alive(granted.id, granted.ttl),
        })
    }

    /// The session's lease.
    pub fn lease_id(&self) -> i64 {
        self.keep_alive.id()
    }

    /// Whether the lease is still renewed.
    pub fn is_alive(&self) -> bool {
        self.keep_alive.state() != LeaseState::Lost
    }

    /// Waits until the session's lease is lost.
    pub async fn lost(&mut self) {
        self.keep_alive.lost().await;
    }

    /// Ends the session: revokes the lease, which deletes every key on it
    /// (releasing its locks and leaderships).
    pub async fn close(self) -> Result<(), Error> {
        self.client.lease_revoke(self.lease_id()).await?;
        Ok(())
    }

    /// The client the session was made with.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// This session's key under `prefix`, as etcd's recipes name it.
fn own_key(prefix: &str, lease_id: i64) -> String {
    format!("{}/{lease_id:x}", prefix.trim_end_matches('/'))
}

/// The directory of a recipe's keys, with its trailing slash.
fn directory(prefix: &str) -> String {
    format!("{}/", prefix.trim_end_matches('/'))
}

/// Creates this session's key under `prefix` (unless it exists) and says
/// which key it is now: `(create revision, current value, header revision)`.
async fn create_own_key(
    session: &Session,
    key: &str,
    value: &str,
) -> Result<(i64, Vec<u8>, i64), Error> {
    let lease = PutOptions::new().with_lease(session.lease_id());
    let answer = session
        .client
        .txn(
            Txn::new()
                .when([Compare::create_revision(key, CompareOp::Equal, 0)])
                .and_then([TxnOp::put(key, value, Some(lease))])
                .or_else([TxnOp::get(key, None)]),
        )
        .await?;
    let revision = answer.header.as_ref().map_or(0, |header| header.revision);
    if answer.succeeded {
        return Ok((revision, value.as_bytes().to_vec(), revision));
    }
    let existing = first_range_kv(&answer).ok_or_else(|| {
        Error::InvalidArgument(format!("{key} vanished while it was being created"))
    })?;
    Ok((existing.create_revision, existing.value.clone(), revision))
}

/// The first key of the first range answer in a transaction's answer.
fn first_range_kv(answer: &keel_proto::etcdserverpb::TxnResponse) -> Option<&KeyValue> {
    use keel_proto::etcdserverpb::response_op::Response;
    answer.responses.iter().find_map(|op| match &op.response {
        Some(Response::ResponseRange(range)) => range.kvs.first(),
        _ => None,
    })
}

/// Waits until no key under `directory` was created before `revision`:
/// watches the newest such key until it is deleted, again and again.
async fn wait_for_older_keys(client: &Client, directory: &str, revision: i64) -> Result<(), Error> {
    loop {
        let older = client
            .get(
                directory,
                Some(
                    GetOptions::new()
                        .with_prefix()
                        .with_max_create_revision(revision - 1)
                        .with_sort(SortTarget::Create, SortOrder::Descend)
                        .with_limit(1),
                ),
            )
            .await?;
        let Some(next) = older.kvs.first() else {
            return Ok(());
        };
        let since = older.header.as_ref().map_or(0, |header| header.revision) + 1;
        wait_deleted(client, next.key.clone(), since).await?;
    }
}

/// Waits until `key` is deleted at or after revision `since`.
async fn wait_deleted(client: &Client, key: Vec<u8>, since: i64) -> Result<(), Error> {
    let mut watcher = client.watch(key, Some(WatchOptions::new().with_start_revision(since)));
    while let Some(update) = watcher.next().await {
        let deleted = update?
            .events
            .iter()
            .any(|event| event.r#type() == EventType::Delete);
        if deleted {
            return Ok(());
        }
    }
    Err(Error::InvalidArgument("the watch ended".into()))
}

/// The holder of the recipe's keys under `directory` (the key created
/// first, if any) and the revision it was read at.
async fn first_created(client: &Client, directory: &str) -> Result<(Option<KeyValue>, i64), Error> {
    let answer = client
        .get(
            directory,
            Some(
                GetOptions::new()
                    .with_prefix()
                    .with_sort(SortTarget::Create, SortOrder::Ascend)
                    .with_limit(1),
            ),
        )
        .await?;
    let revision = answer.header.as_ref().map_or(0, |header| header.revision);
    Ok((answer.kvs.into_iter().next(), revision))
}

/// A distributed mutex under a key prefix, held by a [`Session`].
#[derive(Debug)]
pub struct Mutex {
    prefix: String,
    key: String,
    /// The create revision of the held key; 0 while not held.
    revision: i64,
}

impl Mutex {
    /// A mutex under `prefix` (`/locks/jobs`); not yet locked.
    pub fn new(session: &Session, prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            key: own_key(prefix, session.lease_id()),
            revision: 0,
        }
    }

    /// Waits until this session holds the lock, and answers its fencing
    /// revision. A session lost while waiting ends the wait with
    /// [`Error::LeaseLost`].
    pub async fn lock(&mut self, session: &Session) -> Result<i64, Error> {
        let (revision, _, _) = create_own_key(session, &self.key, "").await?;
        let waited = wait_turn(session, &self.prefix, revision).await;
        if let Err(error) = waited {
            // Leave no key behind to block others.
            let _ = session.client.delete(self.key.as_str(), None).await;
            return Err(error);
        }
        self.revision = revision;
        Ok(revision)
    }

    /// Releases the lock.
    pub async fn unlock(&mut self, session: &Session) -> Result<(), Error> {
        session.client.delete(self.key.as_str(), None).await?;
        self.revision = 0;
        Ok(())
    }

    /// The key this session holds the lock with.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The fencing revision of the held lock (0: not held).
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// A transaction condition that holds only while this session still
    /// holds the lock: put it in every write the lock guards.
    pub fn is_owner(&self) -> Compare {
        Compare::create_revision(self.key.as_str(), CompareOp::Equal, self.revision)
    }
}

/// Waits until the key created at `revision` is the oldest under `prefix`,
/// or the session is lost.
async fn wait_turn(session: &Session, prefix: &str, revision: i64) -> Result<(), Error> {
    let directory = directory(prefix);
    tokio::select! {
        // In this order, so one seed replays one schedule (tokio picks a random order otherwise).
        biased;
        waited = wait_for_older_keys(&session.client, &directory, revision) => waited,
        () = lease_lost(session) => Err(Error::LeaseLost { id: session.lease_id() }),
    }
}

/// Resolves once the session's lease is lost.
async fn lease_lost(session: &Session) {
    let mut state = session.keep_alive.state_watch();
    let _ = state.wait_for(|state| *state == LeaseState::Lost).await;
}

/// A leader election under a key prefix: candidates campaign with a value
/// (their address, say); the leader may change it (proclaim) and resign;
/// anyone may ask who leads and observe every change.
#[derive(Debug)]
pub struct Election {
    prefix: String,
    key: String,
    /// The create revision of this candidate's key once it leads.
    revision: i64,
}

impl Election {
    /// An election under `prefix` for `session`'s candidate.
    pub fn new(session: &Session, prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            key: own_key(prefix, session.lease_id()),
            revision: 0,
        }
    }

    /// This candidate's key (`<prefix>/<lease ID in hex>`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Waits until this candidate leads, with `value` as its proclamation.
    pub async fn campaign(&mut self, session: &Session, value: &str) -> Result<(), Error> {
        let (revision, current, _) = create_own_key(session, &self.key, value).await?;
        self.revision = revision;
        if current != value.as_bytes() {
            self.proclaim(session, value).await?;
        }
        let waited = wait_turn(session, &self.prefix, revision).await;
        if let Err(error) = waited {
            let _ = self.resign(session).await;
            return Err(error);
        }
        Ok(())
    }

    /// Changes the leader's value without giving up leadership. Fails with
    /// etcd's "election: not leader" when this candidate does not lead.
    pub async fn proclaim(&self, session: &Session, value: &str) -> Result<(), Error> {
        let lease = PutOptions::new().with_lease(session.lease_id());
        let answer = session
            .client
            .txn(Txn::new().when([self.is_leader()]).and_then([TxnOp::put(
                self.key.as_str(),
                value,
                Some(lease),
            )]))
            .await?;
        if !answer.succeeded || self.revision == 0 {
            return Err(Error::Server {
                status: tonic::Status::unknown("election: not leader"),
            });
        }
        Ok(())
    }

    /// A transaction condition that holds only while this candidate's key
    /// is the one it campaigned with (as [`Mutex::is_owner`] for a lock).
    fn is_leader(&self) -> Compare {
        Compare::create_revision(self.key.as_str(), CompareOp::Equal, self.revision)
    }

    /// Gives up leadership (or candidacy).
    pub async fn resign(&mut self, session: &Session) -> Result<(), Error> {
        if self.revision == 0 {
            return Ok(());
        }
        session
            .client
            .txn(
                Txn::new()
                    .when([self.is_leader()])
                    .and_then([TxnOp::delete(self.key.as_str(), None)]),
            )
            .await?;
        self.revision = 0;
        Ok(())
    }

    /// The current leader's key and value; etcd's "election: no leader"
    /// when nobody leads.
    pub async fn leader(client: &Client, prefix: &str) -> Result<KeyValue, Error> {
        first_created(client, &directory(prefix))
            .await?
            .0
            .ok_or_else(|| Error::Server {
                status: tonic::Status::unknown("election: no leader"),
            })
    }

    /// Every leader the election has from now on: the current one first
    /// (once there is one), then each new leader or new value. Call it
    /// within a Tokio runtime; dropping the receiver stops the observing.
    pub fn observe(client: &Client, prefix: &str) -> mpsc::Receiver<Result<KeyValue, Error>> {
        let (sender, observed) = mpsc::channel(OBSERVED_BUFFERED_MAX);
        let client = client.clone();
        let directory = directory(prefix);
        tokio::spawn(async move {
            if let Err(error) = observe_leaders(&client, &directory, &sender).await {
                let _ = sender.send(Err(error)).await;
            }
        });
        observed
    }
}

/// Sends the election's leaders to `sender` until it is dropped.
async fn observe_leaders(
    client: &Client,
    directory: &str,
    sender: &mpsc::Sender<Result<KeyValue, Error>>,
) -> Result<(), Error> {
    let mut last_sent: Option<(Vec<u8>, i64)> = None;
    loop {
        let (leader, read_at) = first_created(client, directory).await?;
        let since = read_at + 1;
        let Some(leader) = leader else {
            // Nobody leads: wait for the first candidate's put.
            let mut watcher = client.watch(
                directory,
                Some(WatchOptions::new().with_prefix().with_start_revision(since)),
            );
            let _ = watcher.next().await.transpose()?;
            continue;
        };
        let seen = (leader.key.clone(), leader.mod_revision);
        if last_sent.as_ref() != Some(&seen) {
            if sender.send(Ok(leader.clone())).await.is_err() {
                return Ok(());
            }
            last_sent = Some(seen);
        }
        // Follow the leader's key: a new value is sent, a delete means a
        // new leader (if any) is looked up.
        let mut watcher = client.watch(
            leader.key.clone(),
            Some(WatchOptions::new().with_start_revision(since)),
        );
        'leader: while let Some(update) = watcher.next().await {
            for event in update?.events {
                if event.r#type() == EventType::Delete {
                    break 'leader;
                }
                let Some(kv) = event.kv else { continue };
                last_sent = Some((kv.key.clone(), kv.mod_revision));
                if sender.send(Ok(kv)).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_named_as_etcds_recipes_name_them() {
        assert_eq!(
            own_key("/locks/jobs", 0x694d_7c3a_d6ae_1b0c),
            "/locks/jobs/694d7c3ad6ae1b0c"
        );
        assert_eq!(own_key("/locks/jobs/", 255), "/locks/jobs/ff");
        assert_eq!(directory("/locks/jobs"), "/locks/jobs/");
    }
}
