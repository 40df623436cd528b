//! Leader election for components that run in several copies (the
//! scheduler, the controller manager): one copy acts, the others wait to
//! take over.
//!
//! ```text
//!   LeaderElector::new ── Session (a lease, kept alive) ─┐
//!   campaign() ── Election under /keel/elections/<name>/ ┴─ waits until leader
//!   lost()     ── resolves when the lease is lost or the key is gone: stop acting
//!   resign()   ── deletes the key: the next candidate leads
//! ```
//!
//! Built on keel-client's `Election` (etcd's `concurrency` recipe), not on a
//! coordination.k8s.io Lease object as client-go's leaderelection does: keel
//! expires a session's lease by itself, so no copy judges another's
//! `renewTime` with its own clock (client-go's election relies on clocks
//! running at the same rate and on `leaseDuration` polling); a waiting copy
//! is woken by a watch when the leader's key goes, not by a retry period;
//! and the leader's key's create revision is a fencing token for its writes.
//! What it gives up: the leader is not a Lease object kubectl can show.

use keel_client::proto::mvccpb::event::EventType;
use keel_client::{Client, Election, Session, WatchOptions};

/// Where elections keep their candidates' keys, outside kube-apiserver's
/// `/registry/`.
pub const ELECTIONS_PREFIX: &str = "/keel/elections/";

/// Why an election step failed.
#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    /// keel answered with an error (or did not answer), or the session's
    /// lease was lost while campaigning.
    #[error(transparent)]
    Keel(#[from] keel_client::Error),
}

/// One candidate of an election.
#[derive(Debug)]
pub struct LeaderElector {
    client: Client,
    name: String,
    identity: String,
    ttl_secs: i64,
    session: Session,
    election: Election,
    leading: bool,
}

impl LeaderElector {
    /// A candidate `identity` (its host name, say) for the election
    /// `name` ("kube-scheduler"), whose leadership ends `ttl_secs` after
    /// its process stops renewing it. Call it within a Tokio runtime.
    pub async fn new(
        client: &Client,
        name: &str,
        identity: &str,
        ttl_secs: i64,
    ) -> Result<Self, ElectionError> {
        let session = Session::new(client, ttl_secs).await?;
        let election = Election::new(&session, &prefix_of(name));
        Ok(Self {
            client: client.clone(),
            name: name.to_owned(),
            identity: identity.to_owned(),
            ttl_secs,
            session,
            election,
            leading: false,
        })
    }

    /// Waits until this candidate leads. A candidate whose session was lost
    /// starts a new one first.
    pub async fn campaign(&mut self) -> Result<(), ElectionError> {
        if !self.session.is_alive() {
            self.session = Session::new(&self.client, self.ttl_secs).await?;
            self.election = Election::new(&self.session, &prefix_of(&self.name));
        }
        self.election
            .campaign(&self.session, &self.identity)
            .await?;
        self.leading = true;
        Ok(())
    }

    /// Whether this candidate campaigned successfully and has not seen its
    /// leadership end (see [`LeaderElector::lost`], the prompt way to learn
    /// it).
    pub fn is_leader(&self) -> bool {
        self.leading && self.session.is_alive()
    }

    /// Resolves when the leadership is lost: the session's lease expired or
    /// was revoked, the candidate's key was deleted, or keel could not be
    /// asked (leadership that cannot be checked is not counted on). The
    /// component stops acting then, and may campaign again. Resolves at
    /// once when this candidate does not lead.
    pub async fn lost(&mut self) {
        if !self.leading {
            return;
        }
        let key = self.election.key().to_owned();
        let session = &mut self.session;
        tokio::select! {
            biased;
            () = session.lost() => {}
            () = key_deleted(&self.client, &key) => {}
        }
        self.leading = false;
    }

    /// Gives up leadership (or candidacy): the next candidate leads.
    pub async fn resign(&mut self) -> Result<(), ElectionError> {
        self.leading = false;
        self.election.resign(&self.session).await?;
        Ok(())
    }

    /// The session's lease (revoking it ends the leadership).
    pub fn lease_id(&self) -> i64 {
        self.session.lease_id()
    }

    /// This candidate's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The identity of the leader of election `name`, if one leads.
    pub async fn leader(client: &Client, name: &str) -> Result<Option<String>, ElectionError> {
        match Election::leader(client, &prefix_of(name)).await {
            Ok(leader) => Ok(Some(String::from_utf8_lossy(&leader.value).into_owned())),
            Err(keel_client::Error::Server { status }) if status.message() == NO_LEADER => Ok(None),
            Err(error) => Err(error.into()),
        }
    }
}

/// How a component that runs in several copies does its work: campaign,
/// run `work` while leading, stop it (by resolving the future it was
/// given) as soon as the leadership is lost, and campaign again, until
/// `stop` resolves; then resign so another copy takes over at once.
/// Errors of keel while campaigning are retried after `retry`.
pub async fn lead<W, Fut>(
    elector: &mut LeaderElector,
    retry: std::time::Duration,
    mut work: W,
    stop: impl std::future::Future<Output = ()>,
) where
    W: FnMut(tokio::sync::oneshot::Receiver<()>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            campaigned = elector.campaign() => {
                if let Err(error) = campaigned {
                    tracing::warn!(%error, "campaigning failed; trying again");
                    tokio::time::sleep(retry).await;
                    continue;
                }
            }
        }
        tracing::info!(identity = elector.identity(), "leading");
        let (end, ended) = tokio::sync::oneshot::channel();
        let working = work(ended);
        let mut working = std::pin::pin!(working);
        let (finished, stopping) = tokio::select! {
            () = &mut working => (true, false),
            () = elector.lost() => {
                tracing::warn!(identity = elector.identity(), "leadership lost; stopping");
                (false, false)
            }
            () = &mut stop => (false, true),
        };
        let _ = end.send(());
        if finished {
            tracing::warn!("the work ended by itself; starting it again after a pause");
            tokio::time::sleep(retry).await;
        } else {
            working.await;
        }
        if stopping {
            break;
        }
    }
    if let Err(error) = elector.resign().await {
        tracing::warn!(%error, "resigning failed; the leadership ends with the session");
    }
}

/// What keel-client's `Election::leader` answers when nobody leads (etcd's
/// `ErrElectionNoLeader`).
const NO_LEADER: &str = "election: no leader";

/// The prefix of election `name`'s candidates' keys.
fn prefix_of(name: &str) -> String {
    format!("{ELECTIONS_PREFIX}{name}")
}

/// Resolves once `key` does not exist (at once if it does not now). An
/// error of keel's ends the wait as well: leadership that cannot be
/// checked is not counted on.
async fn key_deleted(client: &Client, key: &str) {
    let Ok(now) = client.get(key, None).await else {
        return;
    };
    if now.kvs.is_empty() {
        return;
    }
    let since = now.header.as_ref().map_or(0, |header| header.revision) + 1;
    let mut watcher = client.watch(key, Some(WatchOptions::new().with_start_revision(since)));
    while let Some(update) = watcher.next().await {
        let Ok(update) = update else { return };
        if update
            .events
            .iter()
            .any(|event| event.r#type() == EventType::Delete)
        {
            return;
        }
    }
}
