//! The lease benchmarks behind `keel-bench lease`, both driven by
//! [`load::drive`] so they report like `put` and `range`:
//!
//! - **grant**: `clients` clients over `conns` connections granting leases
//!   of `ttl_secs` (each a replicated write);
//! - **keep-alive**: `leases` leases granted first, then `clients` clients,
//!   each on its own `LeaseKeepAlive` stream, sending one keep-alive and
//!   waiting for its answer, round-robin over the leases (answered on the
//!   leader from its lessor, no write).
//!
//! ```text
//!  GrantCaller ──LeaseGrant──► server          KeepAliveCaller ──req──► stream ──answer──► (next)
//! ```

use std::sync::Arc;

use keel_proto::etcdserverpb::{
    lease_client::LeaseClient, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
};
use tokio::sync::mpsc;
// tonic re-exports tokio-stream for its generated code; using it here spares
// the crate a dependency of its own.
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Status, Streaming};

use crate::load::{self, Caller, LoadOptions, Report};

/// The TTL the benchmark grants, in seconds: long enough that no lease
/// expires during a run (the keep-alive phase must not renew dead leases,
/// and expiries would add revokes to the measured load).
pub const LEASE_TTL_SECS: i64 = 60;
/// Clients of each lease workload by default: the load shape of the
/// `put`/`range` rows (etcd's benchmark default is 50 over 1), so the lease
/// rows read beside them.
pub const LEASE_CLIENTS: usize = 64;
/// Connections those clients share, as for `put`/`range`.
pub const LEASE_CONNS: usize = 8;
/// Leases the keep-alive workload renews by default: enough that clients
/// rarely renew the same lease at once, as many as a mid-size Kubernetes
/// cluster's node and leader-election leases.
pub const KEPT_ALIVE_LEASES: usize = 1_000;
/// Keep-alive requests queued towards one stream: the benchmark keeps one
/// in flight per client and waits for its answer before the next.
const KEEPALIVE_REQUESTS_BUFFERED_MAX: usize = 1;
/// Attempts at a first keep-alive before the measurement, one every
/// [`READY_RETRY_MS`]: a fresh keeld answers "not leader" until its lease
/// driver has promoted the lessor, up to half a second after the member
/// became leader; 10 s is far more than either server needs.
const READY_ATTEMPTS_MAX: u32 = 100;
/// The pause between those attempts.
const READY_RETRY_MS: u64 = 100;
/// Concurrent grants when granting the keep-alive phase's leases: enough to
/// share fsyncs (group commit), so 1,000 leases take about a second.
const PREGRANT_CLIENTS: usize = 16;

/// The shape of a lease run.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// Connections, clients, warm-up and measured time.
    pub load: LoadOptions,
    /// The TTL of every granted lease.
    pub ttl_secs: i64,
    /// Leases the keep-alive phase renews, round-robin.
    pub leases: usize,
}

/// A client granting leases.
struct GrantCaller {
    client: LeaseClient<Channel>,
    ttl_secs: i64,
}

impl Caller for GrantCaller {
    async fn call(&mut self, _n: u64) -> Result<(), Status> {
        let response = self
            .client
            .lease_grant(LeaseGrantRequest {
                ttl: self.ttl_secs,
                id: 0,
            })
            .await?
            .into_inner();
        if response.error.is_empty() {
            Ok(())
        } else {
            Err(Status::internal(response.error))
        }
    }
}

/// A client renewing leases on its own keep-alive stream.
struct KeepAliveCaller {
    requests: mpsc::Sender<LeaseKeepAliveRequest>,
    answers: Streaming<LeaseKeepAliveResponse>,
    leases: Arc<Vec<i64>>,
}

impl KeepAliveCaller {
    /// Opens a keep-alive stream on `channel`, renewing `leases[first]`
    /// once: etcd sends the response headers with its first answer, so the
    /// stream is only usable once a request went through.
    async fn open(channel: Channel, leases: Arc<Vec<i64>>, first: usize) -> Result<Self, String> {
        let (requests, queue) = mpsc::channel(KEEPALIVE_REQUESTS_BUFFERED_MAX);
        let id = leases[first % leases.len()];
        requests
            .send(LeaseKeepAliveRequest { id })
            .await
            .map_err(|e| e.to_string())?;
        let mut answers = LeaseClient::new(channel)
            .lease_keep_alive(ReceiverStream::new(queue))
            .await
            .map_err(|status| format!("opening a keep-alive stream: {status}"))?
            .into_inner();
        expect_renewed(id, answers.message().await).map_err(|status| status.to_string())?;
        Ok(Self {
            requests,
            answers,
            leases,
        })
    }
}

/// Checks a keep-alive answer for lease `id`: a TTL of 0 means the server
/// does not know the lease.
fn expect_renewed(
    id: i64,
    answer: Result<Option<LeaseKeepAliveResponse>, Status>,
) -> Result<(), Status> {
    let answer = answer?.ok_or_else(|| Status::unavailable("the keep-alive stream ended"))?;
    if answer.id != id {
        return Err(Status::internal(format!(
            "asked to renew lease {id:x}, answered for {:x}",
            answer.id
        )));
    }
    if answer.ttl <= 0 {
        return Err(Status::not_found(format!("lease {id:x} not found")));
    }
    Ok(())
}

impl Caller for KeepAliveCaller {
    async fn call(&mut self, n: u64) -> Result<(), Status> {
        let id = self.leases[n as usize % self.leases.len()];
        self.requests
            .send(LeaseKeepAliveRequest { id })
            .await
            .map_err(|_| Status::unavailable("the keep-alive stream closed"))?;
        expect_renewed(id, self.answers.message().await)
    }
}

/// Measures lease grants. See the module docs.
pub async fn grant(options: &LeaseOptions) -> Result<Report, String> {
    let channels = load::connect(&options.load.endpoint, options.load.conns).await?;
    let callers = (0..options.load.clients.max(1))
        .map(|client| GrantCaller {
            client: LeaseClient::new(channels[client % channels.len()].clone()),
            ttl_secs: options.ttl_secs,
        })
        .collect();
    load::drive(callers, &options.load).await
}

/// Grants `count` leases of `ttl_secs` over `channels`, `PREGRANT_CLIENTS`
/// at a time.
async fn grant_many(channels: &[Channel], count: usize, ttl_secs: i64) -> Result<Vec<i64>, String> {
    let mut tasks = Vec::with_capacity(PREGRANT_CLIENTS);
    for client in 0..PREGRANT_CLIENTS {
        let mut lease = LeaseClient::new(channels[client % channels.len()].clone());
        let mine = (client..count).step_by(PREGRANT_CLIENTS).count();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::with_capacity(mine);
            for _ in 0..mine {
                let granted = lease
                    .lease_grant(LeaseGrantRequest {
                        ttl: ttl_secs,
                        id: 0,
                    })
                    .await
                    .map_err(|status| format!("granting a lease: {status}"))?
                    .into_inner();
                ids.push(granted.id);
            }
            Ok::<_, String>(ids)
        }));
    }
    let mut ids = Vec::with_capacity(count);
    for task in tasks {
        ids.extend(task.await.map_err(|e| e.to_string())??);
    }
    Ok(ids)
}

/// Waits until the server renews a lease (on a stream of its own, since a
/// refused keep-alive ends its stream); returns the refusals before that.
async fn wait_until_renewing(channel: &Channel, leases: &Arc<Vec<i64>>) -> Result<u32, String> {
    let mut refused = 0;
    loop {
        match KeepAliveCaller::open(channel.clone(), Arc::clone(leases), 0).await {
            Ok(_) => return Ok(refused),
            Err(error) if refused + 1 >= READY_ATTEMPTS_MAX => {
                return Err(format!("the server never renewed a lease: {error}"));
            }
            Err(_) => refused += 1,
        }
        tokio::time::sleep(std::time::Duration::from_millis(READY_RETRY_MS)).await;
    }
}

/// Measures keep-alives. See the module docs.
pub async fn keep_alive(options: &LeaseOptions) -> Result<Report, String> {
    let channels = load::connect(&options.load.endpoint, options.load.conns).await?;
    let leases = Arc::new(grant_many(&channels, options.leases.max(1), options.ttl_secs).await?);
    let refused = wait_until_renewing(&channels[0], &leases).await?;
    if refused > 0 {
        eprintln!(
            "lease: the server refused {refused} keep-alives ({READY_RETRY_MS} ms apart) before renewing"
        );
    }
    let mut callers = Vec::with_capacity(options.load.clients.max(1));
    for client in 0..options.load.clients.max(1) {
        let channel = channels[client % channels.len()].clone();
        callers.push(KeepAliveCaller::open(channel, Arc::clone(&leases), client).await?);
    }
    load::drive(callers, &options.load).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: i64, ttl: i64) -> LeaseKeepAliveResponse {
        LeaseKeepAliveResponse {
            header: None,
            id,
            ttl,
        }
    }

    #[test]
    fn keep_alive_answers_must_renew_the_asked_lease() {
        assert!(expect_renewed(7, Ok(Some(answer(7, 60)))).is_ok());
        assert_eq!(
            expect_renewed(7, Ok(Some(answer(7, 0)))).map_err(|s| s.code()),
            Err(tonic::Code::NotFound),
            "TTL 0: the lease is unknown"
        );
        assert_eq!(
            expect_renewed(7, Ok(Some(answer(8, 60)))).map_err(|s| s.code()),
            Err(tonic::Code::Internal)
        );
        assert_eq!(
            expect_renewed(7, Ok(None)).map_err(|s| s.code()),
            Err(tonic::Code::Unavailable)
        );
    }
}
