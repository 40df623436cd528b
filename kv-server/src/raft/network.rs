//! openraft's network: keel's peer protocol (`keelpb.RaftPeer`) over tonic,
//! one lazily connected channel per peer.
//!
//! ```text
//!  openraft ──stream_append──► PeerClient ──StreamAppend: requests back to back, answers in order──► peer
//!           ──append / vote / pre_vote / transfer_leader──► PeerClient ──unary RPC──► peer
//!           ──full_snapshot──► PeerClient ──InstallSnapshot stream: header, chunks, done──► peer
//! ```
//!
//! Every call is bounded by openraft's soft TTL. A peer that cannot be
//! reached (connection refused, no route) is reported `Unreachable`, so
//! openraft backs off before trying it again; any other failure is a
//! `Network` error that openraft retries at once.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use keel_proto::keelpb::{self, raft_peer_client::RaftPeerClient};
use openraft::base::{BoxFuture, BoxStream};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult,
    TransferLeaderRequest, TransferLeaderResponse, VoteRequest, VoteResponse,
};
use openraft::type_config::alias::SnapshotOf;
use openraft::OptionalSend;
use parking_lot::Mutex;
use tonic::transport::{Channel, Endpoint};

use super::codec::{log_id_to_pb, vote_to_pb};
use super::rpc_codec::{
    append_request_to_pb, append_response_from_pb, snapshot_meta_to_pb, snapshot_response_from_pb,
    stream_result_from_pb, vote_request_to_pb, vote_response_from_pb,
};
use super::snapshot::SnapshotFile;
use super::{Member, TypeConfig, Vote};
use crate::metrics::{Metrics, Stopwatch};

/// Bytes of snapshot data per InstallSnapshot message: well below the
/// peer service's message limit, large enough that a GiB snapshot is a
/// thousand messages.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;
/// How long a connection attempt to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a snapshot receiver waits for the next message of a transfer.
pub const SNAPSHOT_CHUNK_TIMEOUT: Duration = Duration::from_secs(30);

/// Creates a [`PeerClient`] per target.
#[derive(Debug, Clone)]
pub struct PeerNetwork {
    metrics: Arc<Metrics>,
}

impl PeerNetwork {
    /// A network that records round trips and failures in `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl RaftNetworkFactory<TypeConfig> for PeerNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &Member) -> Self::Network {
        PeerClient {
            target,
            client: peer_channel(&node.peer_urls).map(RaftPeerClient::new),
            metrics: Arc::clone(&self.metrics),
        }
    }
}

/// A lazily connected channel to the first of `peer_urls` that parses.
pub fn peer_channel(peer_urls: &[String]) -> Option<Channel> {
    peer_urls.iter().find_map(|url| {
        Endpoint::from_shared(url.clone()).ok().map(|endpoint| {
            endpoint
                .connect_timeout(CONNECT_TIMEOUT)
                .tcp_nodelay(true)
                .connect_lazy()
        })
    })
}

/// openraft's client for one peer.
#[derive(Debug, Clone)]
pub struct PeerClient {
    target: u64,
    /// `None` when the member has no usable peer URL.
    client: Option<RaftPeerClient<Channel>>,
    metrics: Arc<Metrics>,
}

/// How a failed peer call is reported to openraft.
fn call_error(target: u64, status: &tonic::Status) -> RPCError<TypeConfig> {
    let message = format!("peer {target:x}: {status}");
    if matches!(
        status.code(),
        tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
    ) {
        RPCError::Unreachable(Unreachable::from_string(message))
    } else {
        RPCError::Network(NetworkError::from_string(message))
    }
}

fn decode_error(target: u64, error: &std::io::Error) -> RPCError<TypeConfig> {
    RPCError::Network(NetworkError::from_string(format!(
        "peer {target:x} answered something undecodable: {error}"
    )))
}

/// The requests of one StreamAppend stream still waiting for their
/// answers, oldest first: when each was sent and whether it was a heartbeat
/// (whose round trip is the peer round-trip metric).
#[derive(Default)]
struct Waiting {
    sent: Mutex<VecDeque<(tokio::time::Instant, bool)>>,
    /// Signalled on every send, so an idle stream starts the clock.
    pushed: tokio::sync::Notify,
}

impl Waiting {
    fn sent(&self, heartbeat: bool) {
        self.sent
            .lock()
            .push_back((tokio::time::Instant::now(), heartbeat));
        self.pushed.notify_one();
    }

    /// The next answer, with the round trip if it answers a heartbeat;
    /// `Ok(None)` when the follower ended the stream, `Err(None)` when the
    /// oldest waiting request saw no progress within `ttl` of its send or
    /// of `progress` (the previous answer), whichever is later.
    async fn next_answer<A>(
        &self,
        responses: &mut (impl futures::Stream<Item = Result<A, tonic::Status>> + Unpin),
        progress: tokio::time::Instant,
        ttl: Duration,
    ) -> Result<Option<(A, Option<Duration>)>, Option<tonic::Status>> {
        loop {
            let oldest = self.sent.lock().front().map(|(at, _)| *at);
            let answer = match oldest {
                Some(at) => {
                    // `timeout` (not `timeout_at`): the simulator has only the former.
                    let left = (at.max(progress) + ttl)
                        .saturating_duration_since(tokio::time::Instant::now());
                    tokio::time::timeout(left, responses.next())
                        .await
                        .map_err(|_| None)?
                }
                None => {
                    // Nothing waits for an answer: no clock runs until a
                    // request goes out (or the follower ends the stream).
                    tokio::select! {
                        biased;
                        answer = responses.next() => answer,
                        () = self.pushed.notified() => continue,
                    }
                }
            };
            return match answer.transpose() {
                Ok(Some(response)) => {
                    let round_trip = self
                        .sent
                        .lock()
                        .pop_front()
                        .and_then(|(at, heartbeat)| heartbeat.then(|| at.elapsed()));
                    Ok(Some((response, round_trip)))
                }
                Ok(None) => Ok(None),
                Err(status) => Err(Some(status)),
            };
        }
    }
}

impl PeerClient {
    fn client(&self) -> Result<RaftPeerClient<Channel>, RPCError<TypeConfig>> {
        self.client.clone().ok_or_else(|| {
            RPCError::Unreachable(Unreachable::from_string(format!(
                "member {:x} has no usable peer URL",
                self.target
            )))
        })
    }

    /// A Vote (or, with `pre`, a PreVote) round trip.
    async fn ask_vote(
        &self,
        rpc: &VoteRequest<TypeConfig>,
        option: &RPCOption,
        pre: bool,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut client = self.client()?;
        let request = vote_request_to_pb(rpc);
        let response = if pre {
            self.call(option, client.pre_vote(request)).await?
        } else {
            self.call(option, client.vote(request)).await?
        };
        vote_response_from_pb(&response).map_err(|e| decode_error(self.target, &e))
    }

    /// Runs one unary call within the soft TTL.
    async fn call<T>(
        &self,
        option: &RPCOption,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, RPCError<TypeConfig>> {
        let outcome = match tokio::time::timeout(option.soft_ttl(), call).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(call_error(self.target, &status)),
            Err(_) => Err(RPCError::Unreachable(Unreachable::from_string(format!(
                "peer {:x} did not answer within {:?}",
                self.target,
                option.soft_ttl()
            )))),
        };
        if outcome.is_err() {
            self.metrics.record_peer_send_failure(self.target);
        }
        outcome
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotFile;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut client = self.client()?;
        let request = append_request_to_pb(&rpc);
        let heartbeat = rpc.entries.is_empty();
        let round_trip = Stopwatch::start();
        let response = self.call(&option, client.append_entries(request)).await?;
        if heartbeat {
            self.metrics
                .record_peer_rtt(self.target, round_trip.elapsed());
        }
        append_response_from_pb(&response).map_err(|e| decode_error(self.target, &e))
    }

    /// Pipelined replication: requests go out back to back on one
    /// StreamAppend stream and the follower answers each in order, so the
    /// leader does not wait a round trip per batch. openraft keeps a
    /// replication stream open while it leads and feeds it as entries
    /// arrive, so the stream may idle: only a request waiting for its
    /// answer runs a clock. The follower must make progress (open the
    /// stream, or answer the oldest waiting request) within the soft TTL
    /// of that request's send or of its previous answer.
    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<
        's,
        Result<
            BoxStream<'s, Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>>,
            RPCError<TypeConfig>,
        >,
    >
    where
        S: futures::Stream<Item = AppendEntriesRequest<TypeConfig>>
            + OptionalSend
            + Unpin
            + 'static,
    {
        Box::pin(async move {
            let mut client = self.client()?;
            let target = self.target;
            let ttl = option.soft_ttl();
            let metrics = self.metrics.clone();
            let waiting = Arc::new(Waiting::default());
            let requests = {
                let waiting = waiting.clone();
                input.map(move |request| {
                    waiting.sent(request.entries.is_empty());
                    append_request_to_pb(&request)
                })
            };
            let opened = match tokio::time::timeout(ttl, client.stream_append(requests)).await {
                Ok(Ok(response)) => Ok(response.into_inner()),
                Ok(Err(status)) => Err(call_error(target, &status)),
                Err(_) => Err(RPCError::Unreachable(Unreachable::from_string(format!(
                    "peer {target:x} did not open a replication stream within {ttl:?}"
                )))),
            };
            let responses = opened.inspect_err(|_| metrics.record_peer_send_failure(target))?;
            let progress = tokio::time::Instant::now();
            let results = futures::stream::unfold(Some((responses, progress)), move |state| {
                let (metrics, waiting) = (metrics.clone(), waiting.clone());
                async move {
                    let (mut responses, progress) = state?;
                    let outcome = match waiting.next_answer(&mut responses, progress, ttl).await {
                        Ok(Some((response, heartbeat))) => {
                            if let Some(round_trip) = heartbeat {
                                metrics.record_peer_rtt(target, round_trip);
                            }
                            stream_result_from_pb(&response).map_err(|e| decode_error(target, &e))
                        }
                        Ok(None) => return None,
                        Err(Some(status)) => Err(call_error(target, &status)),
                        Err(None) => Err(RPCError::Unreachable(Unreachable::from_string(format!(
                            "peer {target:x} did not answer a replicated batch within {ttl:?}"
                        )))),
                    };
                    if outcome.is_err() {
                        metrics.record_peer_send_failure(target);
                    }
                    // After an error or a refusal (conflict, higher vote)
                    // the stream is over.
                    let go_on = matches!(outcome, Ok(Ok(_)));
                    let next = go_on.then(|| (responses, tokio::time::Instant::now()));
                    Some((outcome, next))
                }
            });
            let results: BoxStream<'s, _> = Box::pin(results);
            Ok(results)
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.ask_vote(&rpc, &option, false).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.ask_vote(&rpc, &option, true).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: SnapshotOf<TypeConfig, SnapshotFile>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let mut client = self.client().map_err(streaming_error)?;
        let file = snapshot.snapshot;
        let data = file
            .disk
            .open(&file.path, false)
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let size = data
            .byte_len()
            .map_err(|e| StreamingError::Network(NetworkError::new(&e)))?;
        let header = keelpb::InstallSnapshotRequest {
            part: Some(keelpb::install_snapshot_request::Part::Header(
                keelpb::SnapshotHeader {
                    vote: Some(vote_to_pb(&vote)),
                    meta: Some(snapshot_meta_to_pb(&snapshot.meta)),
                    size_bytes: size,
                },
            )),
        };
        let chunks = snapshot_chunks(data, size, self.target);
        let requests = futures::stream::once(async move { header }).chain(chunks);
        let target = self.target;
        let send = async move {
            match client.install_snapshot(requests).await {
                Ok(response) => snapshot_response_from_pb(&response.into_inner()).map_err(|e| {
                    StreamingError::Network(NetworkError::from_string(format!(
                        "peer {target:x}: {e}"
                    )))
                }),
                Err(status) => Err(streaming_error(call_error(target, &status))),
            }
        };
        tokio::select! {
            // In this order, so one seed replays one schedule (tokio picks a random order otherwise).
            biased;
            result = send => result,
            closed = cancel => Err(StreamingError::Closed(closed)),
        }
    }

    async fn transfer_leader(
        &mut self,
        request: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RPCError<TypeConfig>> {
        let mut client = self.client()?;
        let pb = keelpb::TransferLeaderRequest {
            from_leader: Some(vote_to_pb(request.from_leader())),
            to_node_id: *request.to_node_id(),
            last_log_id: request.last_log_id().map(log_id_to_pb),
        };
        self.call(&option, client.transfer_leader(pb)).await?;
        Ok(Ok(()))
    }
}

fn streaming_error(error: RPCError<TypeConfig>) -> StreamingError<TypeConfig> {
    match error {
        RPCError::Unreachable(unreachable) => StreamingError::Unreachable(unreachable),
        RPCError::Timeout(timeout) => StreamingError::Timeout(timeout),
        other => StreamingError::Network(NetworkError::from_string(other.to_string())),
    }
}

/// The chunks of a snapshot file and the final `done` with its crc32.
/// Reads one chunk at a time; a read error ends the stream early, which
/// the receiver rejects (size and checksum will not match).
fn snapshot_chunks(
    data: std::sync::Arc<dyn keel_raft_log::DiskFile>,
    size: u64,
    target: u64,
) -> impl futures::Stream<Item = keelpb::InstallSnapshotRequest> + Send + 'static {
    use keelpb::install_snapshot_request::Part;
    struct Cursor {
        data: std::sync::Arc<dyn keel_raft_log::DiskFile>,
        offset: u64,
        crc: crc32fast::Hasher,
        done: bool,
    }
    let cursor = Cursor {
        data,
        offset: 0,
        crc: crc32fast::Hasher::new(),
        done: false,
    };
    futures::stream::unfold(cursor, move |mut cursor| async move {
        if cursor.done {
            return None;
        }
        if cursor.offset >= size {
            cursor.done = true;
            let crc32 = cursor.crc.clone().finalize();
            let done = Part::Done(keelpb::SnapshotDone { crc32 });
            return Some((keelpb::InstallSnapshotRequest { part: Some(done) }, cursor));
        }
        let length = (size - cursor.offset).min(SNAPSHOT_CHUNK_BYTES as u64) as usize;
        let mut bytes = vec![0; length];
        if let Err(error) = cursor.data.read_exact_at(cursor.offset, &mut bytes) {
            tracing::warn!(peer = %format!("{target:x}"), %error, "reading the snapshot to send failed");
            return None;
        }
        cursor.crc.update(&bytes);
        let chunk = Part::Chunk(keelpb::SnapshotChunk {
            offset: cursor.offset,
            data: bytes,
        });
        cursor.offset += length as u64;
        Some((keelpb::InstallSnapshotRequest { part: Some(chunk) }, cursor))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_millis(50);

    type Answer = Result<u32, tonic::Status>;

    /// A replication stream's answers, fed by hand.
    fn answers() -> (
        futures::channel::mpsc::UnboundedSender<Answer>,
        futures::channel::mpsc::UnboundedReceiver<Answer>,
    ) {
        futures::channel::mpsc::unbounded()
    }

    /// openraft keeps a replication stream open while it leads: one that
    /// idles with nothing sent must not time out (the first streamed
    /// version did, every 75 ms, and stalled membership commits).
    #[tokio::test]
    async fn an_idle_stream_runs_no_clock() {
        let waiting = Waiting::default();
        let (tx, mut rx) = answers();
        let progress = tokio::time::Instant::now();
        let idle = tokio::time::timeout(TTL * 4, waiting.next_answer(&mut rx, progress, TTL)).await;
        assert!(idle.is_err(), "an idle stream gave {idle:?}");
        // A heartbeat goes out long after the last progress and is
        // answered: the answer counts, with its round trip.
        waiting.sent(true);
        tx.unbounded_send(Ok(7)).unwrap();
        let answer = waiting.next_answer(&mut rx, progress, TTL).await.unwrap();
        let (value, round_trip) = answer.unwrap();
        assert_eq!(value, 7);
        assert!(
            round_trip.is_some(),
            "a heartbeat's answer has a round trip"
        );
        // A batch of entries has none.
        waiting.sent(false);
        tx.unbounded_send(Ok(8)).unwrap();
        let answer = waiting
            .next_answer(&mut rx, tokio::time::Instant::now(), TTL)
            .await;
        assert_eq!(
            answer.unwrap().map(|(value, rtt)| (value, rtt.is_some())),
            Some((8, false))
        );
        // The follower ending the stream ends it.
        drop(tx);
        assert!(matches!(
            waiting
                .next_answer(&mut rx, tokio::time::Instant::now(), TTL)
                .await,
            Ok(None)
        ));
    }

    /// A request sent while the stream idles starts the clock, and no
    /// answer within the TTL is a timeout.
    #[tokio::test]
    async fn a_request_sent_while_idle_times_out_unanswered() {
        let waiting = Arc::new(Waiting::default());
        let (_tx, mut rx) = answers();
        let sender = {
            let waiting = waiting.clone();
            tokio::spawn(async move {
                tokio::time::sleep(TTL * 2).await;
                waiting.sent(false);
            })
        };
        let progress = tokio::time::Instant::now();
        let outcome = tokio::time::timeout(TTL * 40, waiting.next_answer(&mut rx, progress, TTL))
            .await
            .expect("the clock started by the send ran out");
        assert!(matches!(outcome, Err(None)), "{outcome:?}");
        sender.await.unwrap();
    }

    /// A follower's error status is passed on as it is.
    #[tokio::test]
    async fn a_status_is_passed_on() {
        let waiting = Waiting::default();
        let (tx, mut rx) = answers();
        waiting.sent(false);
        tx.unbounded_send(Err(tonic::Status::unavailable("going away")))
            .unwrap();
        let outcome = waiting
            .next_answer(&mut rx, tokio::time::Instant::now(), TTL)
            .await;
        assert!(
            matches!(&outcome, Err(Some(status)) if status.message() == "going away"),
            "{outcome:?}"
        );
    }
}
