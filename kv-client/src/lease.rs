//! The Lease service, and keep-alive in the background.
//!
//! [`Client::keep_alive`] starts a task that renews a lease every third of
//! its TTL over a LeaseKeepAlive stream, moving to another member when the
//! stream breaks. The [`KeepAlive`] handle it returns tells the caller the
//! lease's state: alive (with the TTL of the last renewal) or lost. The
//! lease counts as lost when the server says it is gone (TTL 0 in an
//! answer) or when no renewal succeeded for a whole TTL, after which the
//! server has let it expire, as etcd's own client judges it.

use std::time::Duration;

use keel_proto::etcdserverpb::{
    lease_client::LeaseClient, LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest,
    LeaseKeepAliveResponse, LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest,
    LeaseRevokeResponse, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use crate::client::Client;
use crate::error::{Error, Safety};

fn grpc(channel: Channel) -> LeaseClient<Channel> {
    LeaseClient::new(channel)
}

/// Keep-alive requests queued for the stream: one is sent per renewal
/// period, so one queued is all there ever is.
const KEEP_ALIVE_QUEUED_MAX: usize = 1;
/// The shortest renewal period, for leases of a TTL under 3 s.
const RENEW_PERIOD_MIN: Duration = Duration::from_millis(500);
/// The pause before reopening a broken keep-alive stream elsewhere.
const REOPEN_PAUSE: Duration = Duration::from_millis(100);

/// What a [`KeepAlive`] knows about its lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseState {
    /// Renewed; the last renewal granted this TTL.
    Alive {
        /// The TTL, in seconds, of the last renewal.
        ttl_secs: i64,
    },
    /// The lease is gone: it expired, was revoked, or could not be renewed
    /// within its TTL. Keys attached to it are (or will shortly be) deleted.
    Lost,
}

/// A lease kept alive in the background. Dropping it stops the renewals
/// (the lease then expires after its TTL).
#[derive(Debug)]
pub struct KeepAlive {
    id: i64,
    state: watch::Receiver<LeaseState>,
    task: tokio::task::JoinHandle<()>,
}

impl KeepAlive {
    /// The lease's ID.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// The lease's state now.
    pub fn state(&self) -> LeaseState {
        self.state.borrow().clone()
    }

    /// A receiver of the lease's state changes.
    pub fn state_watch(&self) -> watch::Receiver<LeaseState> {
        self.state.clone()
    }

    /// Waits until the lease is lost.
    pub async fn lost(&mut self) {
        // An error means the task ended, which it does only once the lease
        // is lost (or the handle is dropped, which cannot be while borrowed).
        let _ = self
            .state
            .wait_for(|state| *state == LeaseState::Lost)
            .await;
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Client {
    /// Grants a lease of `ttl_secs` seconds; `id` 0 lets the server choose
    /// the ID.
    pub async fn lease_grant(&self, ttl_secs: i64, id: i64) -> Result<LeaseGrantResponse, Error> {
        let request = LeaseGrantRequest { ttl: ttl_secs, id };
        let granted = self
            .call(Safety::Mutating, |channel| async move {
                Ok(grpc(channel).lease_grant(request).await?.into_inner())
            })
            .await?;
        if !granted.error.is_empty() {
            return Err(Error::Server {
                status: tonic::Status::unknown(granted.error),
            });
        }
        Ok(granted)
    }

    /// Revokes lease `id`, deleting its keys.
    pub async fn lease_revoke(&self, id: i64) -> Result<LeaseRevokeResponse, Error> {
        self.call(Safety::Mutating, |channel| async move {
            let request = LeaseRevokeRequest { id };
            Ok(grpc(channel).lease_revoke(request).await?.into_inner())
        })
        .await
    }

    /// Lease `id`'s remaining TTL (-1 when it does not exist) and, with
    /// `keys`, its keys.
    pub async fn lease_time_to_live(
        &self,
        id: i64,
        keys: bool,
    ) -> Result<LeaseTimeToLiveResponse, Error> {
        self.call(Safety::Idempotent, |channel| async move {
            let request = LeaseTimeToLiveRequest { id, keys };
            Ok(grpc(channel)
                .lease_time_to_live(request)
                .await?
                .into_inner())
        })
        .await
    }

    /// Every lease.
    pub async fn lease_leases(&self) -> Result<LeaseLeasesResponse, Error> {
        self.call(Safety::Idempotent, |channel| async move {
            let request = LeaseLeasesRequest {};
            Ok(grpc(channel).lease_leases(request).await?.into_inner())
        })
        .await
    }

    /// Renews lease `id` once; the answer has its new TTL in seconds.
    /// [`Error::LeaseLost`] when the lease is gone.
    pub async fn lease_keep_alive_once(&self, id: i64) -> Result<LeaseKeepAliveResponse, Error> {
        let answer = self
            .call(Safety::Idempotent, |channel| async move {
                renew_once(channel, id).await
            })
            .await?;
        if answer.ttl <= 0 {
            return Err(Error::LeaseLost { id });
        }
        Ok(answer)
    }

    /// Keeps lease `id` (granted with `ttl_secs`) alive in the background
    /// until the handle is dropped or the lease is lost. Call it within a
    /// Tokio runtime: the renewals run as a task on it.
    pub fn keep_alive(&self, id: i64, ttl_secs: i64) -> KeepAlive {
        let (report, state) = watch::channel(LeaseState::Alive { ttl_secs });
        let client = self.clone();
        let task = tokio::spawn(async move { client.renew_forever(id, ttl_secs, &report).await });
        KeepAlive { id, state, task }
    }

    /// The keep-alive task: renew over a stream, reopen it elsewhere when it
    /// breaks, and report the lease lost when it is.
    async fn renew_forever(&self, id: i64, ttl_secs: i64, report: &watch::Sender<LeaseState>) {
        let mut renewal = Renewal {
            id,
            ttl: Duration::from_secs(ttl_secs.max(1) as u64),
            expires: Instant::now() + Duration::from_secs(ttl_secs.max(1) as u64),
        };
        loop {
            let (index, channel) = self.channel();
            match renewal.on_stream(channel, report).await {
                StreamEnd::Gone | StreamEnd::Expired => break,
                StreamEnd::Broken => {
                    self.endpoint_failed(index);
                    if Instant::now() + REOPEN_PAUSE >= renewal.expires {
                        break;
                    }
                    tokio::time::sleep(REOPEN_PAUSE).await;
                }
            }
        }
        let _ = report.send(LeaseState::Lost);
    }
}

/// How often a lease of `ttl` is renewed: every third of it, as etcd's
/// client does.
fn renew_period(ttl: Duration) -> Duration {
    (ttl / 3).max(RENEW_PERIOD_MIN)
}

/// One renewal over a fresh LeaseKeepAlive stream; the TTL it answers.
async fn renew_once(channel: Channel, id: i64) -> Result<LeaseKeepAliveResponse, tonic::Status> {
    let request = LeaseKeepAliveRequest { id };
    let mut answers = grpc(channel)
        .lease_keep_alive(tokio_stream::once(request))
        .await?
        .into_inner();
    match answers.next().await {
        Some(answer) => answer,
        None => Err(tonic::Status::unavailable("keep-alive stream ended")),
    }
}

/// Why a keep-alive stream ended.
enum StreamEnd {
    /// The server answered TTL 0: the lease does not exist any more.
    Gone,
    /// Nothing renewed the lease for a whole TTL.
    Expired,
    /// The stream broke; another member may renew.
    Broken,
}

/// A lease being renewed, and until when the last renewal holds.
struct Renewal {
    id: i64,
    /// The TTL the last renewal granted.
    ttl: Duration,
    /// When the lease expires unless renewed before.
    expires: Instant,
}

impl Renewal {
    /// Renews over one stream until it ends, pushing `expires` out by the
    /// TTL of each answer.
    async fn on_stream(
        &mut self,
        channel: Channel,
        report: &watch::Sender<LeaseState>,
    ) -> StreamEnd {
        let (requests, queued) = mpsc::channel(KEEP_ALIVE_QUEUED_MAX);
        let opened = tokio::time::timeout(
            self.expires.saturating_duration_since(Instant::now()),
            grpc(channel).lease_keep_alive(ReceiverStream::new(queued)),
        )
        .await;
        let mut answers = match opened {
            Err(_) => return StreamEnd::Expired,
            Ok(Err(_)) => return StreamEnd::Broken,
            Ok(Ok(answers)) => answers.into_inner(),
        };
        let mut next_renewal = Instant::now();
        loop {
            tokio::select! {
                // In this order, so one seed replays one schedule (tokio picks a random order otherwise).
                biased;
                () = tokio::time::sleep_until(self.expires) => return StreamEnd::Expired,
                () = tokio::time::sleep_until(next_renewal) => {
                    let request = LeaseKeepAliveRequest { id: self.id };
                    if requests.send(request).await.is_err() {
                        return StreamEnd::Broken;
                    }
                    next_renewal = Instant::now() + renew_period(self.ttl);
                }
                answer = answers.next() => {
                    let Some(Ok(answer)) = answer else {
                        return StreamEnd::Broken;
                    };
                    if answer.ttl <= 0 {
                        return StreamEnd::Gone;
                    }
                    self.ttl = Duration::from_secs(answer.ttl as u64);
                    self.expires = Instant::now() + self.ttl;
                    let _ = report.send(LeaseState::Alive { ttl_secs: answer.ttl });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_renewed_every_third_of_their_ttl() {
        assert_eq!(renew_period(Duration::from_secs(9)), Duration::from_secs(3));
        assert_eq!(renew_period(Duration::from_secs(1)), RENEW_PERIOD_MIN);
    }
}
