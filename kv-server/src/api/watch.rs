//! `etcdserverpb.Watch`: many watchers multiplexed on one bidirectional
//! stream, over the store's [`WatchHub`](keel_mvcc::watch::WatchHub).
//!
//! ```text
//!  client ──WatchRequest──► request task ──create/cancel──► WatchHub
//!                              │ control answers (created, canceled)   │ offer (never waits)
//!                              ▼                                       ▼
//!                         bounded channel (WATCH_STREAM_BUFFER_MAX messages) ──► WatchResponse
//!                                                                 (fragmented if asked and too big)
//! ```
//!
//! The hub offers events into the stream's channel without waiting; when
//! it is full (the client reads slowly) the watcher is set aside and
//! catches up from history later, driven by [`run_catchup`]. Control
//! answers go through the same channel, so a watcher's `created` always
//! precedes its events.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use keel_mvcc::watch::{
    Offer, SyncRound, WatchId, WatchMessage, WatchSink, WatchSpec, STREAM_PROGRESS_WATCH_ID,
};
use keel_mvcc::KeyRange;
use keel_proto::etcdserverpb::{self as pb, watch_server::Watch};
use keel_proto::mvccpb;
use parking_lot::Mutex;
use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::warn;

use crate::convert;
use crate::error::EtcdError;
use crate::node::Node;

/// Messages one watch stream buffers towards its client: etcd's
/// `chanBufLen`. A full buffer sets the stream's watchers aside to catch up
/// from history, so this bounds memory per stream, not correctness.
pub const WATCH_STREAM_BUFFER_MAX: usize = 128;
/// How often unsynced watchers are looked at when nothing wakes the
/// catch-up loop sooner (etcd syncs every 100 ms).
const CATCHUP_INTERVAL_MS: u64 = 100;
/// How often a stream retries an unanswered progress request, and checks
/// for a lost leader when the client asked for `hasleader`.
const STREAM_TICK_MS: u64 = 100;
/// A stream that requires a leader ends after this many election timeouts
/// without one (etcd: 3).
const NO_LEADER_ELECTIONS_MAX: u64 = 3;

/// What a stream's channel carries.
enum Outbound {
    /// Events, progress or compaction from the hub.
    Hub(WatchMessage),
    /// A created or canceled answer.
    Control(pb::WatchResponse),
    /// The stream ends with this status.
    Fail(Status),
}

/// The hub's end of a stream's channel.
struct StreamSink {
    sender: mpsc::Sender<Outbound>,
}

impl WatchSink for StreamSink {
    fn offer(&self, message: WatchMessage) -> Offer {
        match self.sender.try_send(Outbound::Hub(message)) {
            Ok(()) => Offer::Sent,
            Err(mpsc::error::TrySendError::Full(_)) => Offer::Full,
            Err(mpsc::error::TrySendError::Closed(_)) => Offer::Closed,
        }
    }

    fn has_room(&self) -> bool {
        self.sender.capacity() > 0
    }
}

/// The watchers of one stream, as the stream knows them.
#[derive(Default)]
struct StreamWatchers {
    /// IDs in use.
    ids: HashSet<WatchId>,
    /// Those that asked for fragmented responses.
    fragment: HashSet<WatchId>,
    /// The next ID to try when the client lets the server choose.
    next_auto: WatchId,
}

/// The Watch service.
#[derive(Debug, Clone)]
pub struct WatchApi {
    node: Arc<Node>,
}

impl WatchApi {
    /// The service over `node`.
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Watch for WatchApi {
    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        self.node.refuse_learner()?;
        let requires_leader =
            crate::api::require_leader::requires_leader(request.metadata().as_ref());
        if requires_leader && !self.node.has_leader() {
            return Err(EtcdError::NoLeader.into());
        }
        let requests = request.into_inner();
        let (sender, receiver) = mpsc::channel(WATCH_STREAM_BUFFER_MAX);
        let stream = StreamState {
            node: Arc::clone(&self.node),
            id: self.node.next_watch_stream(),
            sink: Arc::new(StreamSink {
                sender: sender.clone(),
            }),
            sender,
            watchers: Arc::new(Mutex::new(StreamWatchers::default())),
            requires_leader,
        };
        let watchers = Arc::clone(&stream.watchers);
        tokio::spawn(stream.serve(requests));
        let node = Arc::clone(&self.node);
        let responses = ReceiverStream::new(receiver)
            .flat_map(move |outbound| futures::stream::iter(responses(&node, &watchers, outbound)));
        Ok(Response::new(Box::pin(responses)))
    }
}

/// One stream's request side.
struct StreamState {
    node: Arc<Node>,
    id: u64,
    sink: Arc<StreamSink>,
    sender: mpsc::Sender<Outbound>,
    watchers: Arc<Mutex<StreamWatchers>>,
    requires_leader: bool,
}

impl StreamState {
    /// Reads the client's requests until the stream ends, then drops the
    /// stream's watchers.
    async fn serve(self, mut requests: Streaming<pb::WatchRequest>) {
        let mut progress_pending = false;
        let mut ticker = tokio::time::interval(Duration::from_millis(STREAM_TICK_MS));
        let mut leaderless_ms = 0;
        let leaderless_max_ms = NO_LEADER_ELECTIONS_MAX * self.node.options().election_ms;
        loop {
            tokio::select! {
                // In this order, so one seed replays one schedule (tokio picks a random order otherwise).
                biased;
                request = requests.message() => match request {
                    Ok(Some(request)) => {
                        if !self.handle(request, &mut progress_pending).await {
                            break;
                        }
                    }
                    Ok(None) | Err(_) => break,
                },
                _ = ticker.tick() => {
                    if progress_pending {
                        progress_pending = !self.node.store().watch_hub().request_progress(self.id, self.sink.as_ref());
                    }
                    if self.requires_leader {
                        leaderless_ms = if self.node.has_leader() { 0 } else { leaderless_ms + STREAM_TICK_MS };
                        if leaderless_ms > leaderless_max_ms {
                            let _ = self.sender.send(Outbound::Fail(EtcdError::NoLeader.into())).await;
                            break;
                        }
                    }
                    if self.sender.is_closed() {
                        break;
                    }
                }
            }
        }
        self.node.store().watch_hub().close_stream(self.id);
    }

    /// Handles one request; `false` once the client is gone.
    async fn handle(&self, request: pb::WatchRequest, progress_pending: &mut bool) -> bool {
        use pb::watch_request::RequestUnion;
        match request.request_union {
            Some(RequestUnion::CreateRequest(create)) => self.create(create).await,
            Some(RequestUnion::CancelRequest(cancel)) => {
                let hub = self.node.store().watch_hub();
                if !hub.cancel(self.id, cancel.watch_id) {
                    return true;
                }
                {
                    let mut watchers = self.watchers.lock();
                    watchers.ids.remove(&cancel.watch_id);
                    watchers.fragment.remove(&cancel.watch_id);
                }
                self.control(pb::WatchResponse {
                    header: Some(self.node.current_header()),
                    watch_id: cancel.watch_id,
                    canceled: true,
                    ..pb::WatchResponse::default()
                })
                .await
            }
            Some(RequestUnion::ProgressRequest(_)) => {
                *progress_pending = !self
                    .node
                    .store()
                    .watch_hub()
                    .request_progress(self.id, self.sink.as_ref());
                true
            }
            None => true,
        }
    }

    async fn control(&self, response: pb::WatchResponse) -> bool {
        self.sender.send(Outbound::Control(response)).await.is_ok()
    }

    async fn create(&self, create: pb::WatchCreateRequest) -> bool {
        let header = self.node.current_header();
        let id = {
            let mut watchers = self.watchers.lock();
            let id = if create.watch_id == 0 {
                // etcd's AutoWatchID: the next unused ID from 0.
                while watchers.ids.contains(&watchers.next_auto) {
                    watchers.next_auto += 1;
                }
                Some(watchers.next_auto)
            } else if watchers.ids.contains(&create.watch_id) {
                None
            } else {
                Some(create.watch_id)
            };
            if let Some(id) = id {
                watchers.ids.insert(id);
                if create.fragment {
                    watchers.fragment.insert(id);
                }
            }
            id
        };
        let Some(id) = id else {
            return self
                .control(pb::WatchResponse {
                    header: Some(header),
                    watch_id: STREAM_PROGRESS_WATCH_ID,
                    created: true,
                    canceled: true,
                    cancel_reason: "mvcc: duplicate watch ID provided on the WatchStream"
                        .to_string(),
                    ..pb::WatchResponse::default()
                })
                .await;
        };
        let filters = |filter: pb::watch_create_request::FilterType| {
            create.filters.contains(&(filter as i32))
        };
        let spec = WatchSpec {
            range: KeyRange::new(&create.key, &create.range_end),
            start_revision: create.start_revision.max(0),
            filter_puts: filters(pb::watch_create_request::FilterType::Noput),
            filter_deletes: filters(pb::watch_create_request::FilterType::Nodelete),
            prev_kv: create.prev_kv,
            progress_notify: create.progress_notify,
        };
        let replays = spec.start_revision != 0 && spec.start_revision <= header.revision;
        // The created answer goes first, then the hub may offer events.
        if !self
            .control(pb::WatchResponse {
                header: Some(header),
                watch_id: id,
                created: true,
                ..pb::WatchResponse::default()
            })
            .await
        {
            return false;
        }
        let sink: Arc<dyn WatchSink> = Arc::clone(&self.sink) as Arc<dyn WatchSink>;
        if self
            .node
            .store()
            .watch_hub()
            .watch(self.id, id, spec, sink)
            .is_err()
        {
            warn!(stream = self.id, watch_id = id, "watch ID taken in the hub");
        }
        if replays {
            self.node.wake_watch_catchup();
        }
        true
    }
}

/// The responses one channel item becomes.
fn responses(
    node: &Node,
    watchers: &Mutex<StreamWatchers>,
    outbound: Outbound,
) -> Vec<Result<pb::WatchResponse, Status>> {
    match outbound {
        Outbound::Control(response) => vec![Ok(response)],
        Outbound::Fail(status) => vec![Err(status)],
        Outbound::Hub(WatchMessage::Progress { watch_id, revision }) => {
            vec![Ok(pb::WatchResponse {
                header: Some(node.header(revision)),
                watch_id,
                ..pb::WatchResponse::default()
            })]
        }
        Outbound::Hub(WatchMessage::Compacted {
            watch_id,
            compact_revision,
        }) => {
            {
                let mut watchers = watchers.lock();
                watchers.ids.remove(&watch_id);
                watchers.fragment.remove(&watch_id);
            }
            // etcd's header here carries no revision.
            vec![Ok(pb::WatchResponse {
                header: Some(node.header(0)),
                watch_id,
                canceled: true,
                compact_revision,
                ..pb::WatchResponse::default()
            })]
        }
        Outbound::Hub(WatchMessage::Events {
            watch_id,
            revision,
            events,
            prev_kv,
        }) => {
            let events: Vec<mvccpb::Event> = events
                .iter()
                .map(|event| event_pb(event, prev_kv))
                .collect();
            let response = pb::WatchResponse {
                header: Some(node.header(revision)),
                watch_id,
                events,
                ..pb::WatchResponse::default()
            };
            let fragment = watchers.lock().fragment.contains(&watch_id);
            if fragment {
                fragments(response, node.options().max_request_bytes)
                    .into_iter()
                    .map(Ok)
                    .collect()
            } else {
                vec![Ok(response)]
            }
        }
    }
}

fn event_pb(event: &keel_mvcc::Event, with_prev: bool) -> mvccpb::Event {
    let kind = match event.kind {
        keel_mvcc::EventKind::Put => mvccpb::event::EventType::Put,
        keel_mvcc::EventKind::Delete => mvccpb::event::EventType::Delete,
    };
    mvccpb::Event {
        r#type: kind as i32,
        kv: Some(convert::key_value(event.kv.clone())),
        prev_kv: if with_prev {
            event.prev_kv.clone().map(convert::key_value)
        } else {
            None
        },
    }
}

/// etcd's `sendFragments`: a response above `limit` bytes with more than one
/// event is cut into responses of at most `limit` bytes each (a single
/// event can exceed it), all marked `fragment` but the last.
fn fragments(response: pb::WatchResponse, limit: usize) -> Vec<pb::WatchResponse> {
    if response.encoded_len() < limit || response.events.len() < 2 {
        return vec![response];
    }
    let mut parts = Vec::new();
    let mut current = pb::WatchResponse {
        events: Vec::new(),
        ..response.clone()
    };
    let mut size = current.encoded_len();
    for event in response.events {
        let event_size = event.encoded_len() + 4;
        if !current.events.is_empty() && size + event_size > limit {
            let next = pb::WatchResponse {
                events: Vec::new(),
                ..current.clone()
            };
            current.fragment = true;
            parts.push(std::mem::replace(&mut current, next));
            size = current.encoded_len();
        }
        size += event_size;
        current.events.push(event);
    }
    parts.push(current);
    parts
}

/// Serves unsynced watchers from history until the process ends: runs
/// catch-up rounds back to back while they deliver, then waits until a
/// watcher wants history or [`CATCHUP_INTERVAL_MS`] passes.
pub async fn run_catchup(node: Arc<Node>) {
    loop {
        let round = {
            let node = Arc::clone(&node);
            crate::blocking::run(move || node.store().watch_hub().sync_round(node.store())).await
        };
        match round {
            Ok(Ok(SyncRound::Progressed)) => {
                tokio::task::yield_now().await;
                continue;
            }
            Ok(Ok(SyncRound::Idle)) => {}
            Ok(Err(error)) => warn!(%error, "watch catch-up failed; retrying"),
            Err(error) => warn!(%error, "watch catch-up task failed; retrying"),
        }
        tokio::select! {
            // In this order, so one seed replays one schedule (tokio picks a random order otherwise).
            biased;
            () = tokio::time::sleep(Duration::from_millis(CATCHUP_INTERVAL_MS)) => {}
            () = node.watch_catchup_wanted() => {}
        }
    }
}

/// Sends progress notifications to the watchers that asked for them, every
/// `--experimental-watch-progress-notify-interval`.
pub async fn run_progress_notify(node: Arc<Node>) {
    let interval = node.options().watch_progress_notify_interval;
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        node.store().watch_hub().progress_notify_round();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(key: &str, value_len: usize) -> mvccpb::Event {
        mvccpb::Event {
            kv: Some(mvccpb::KeyValue {
                key: key.as_bytes().to_vec(),
                value: vec![b'v'; value_len],
                ..mvccpb::KeyValue::default()
            }),
            ..mvccpb::Event::default()
        }
    }

    #[test]
    fn big_responses_are_cut_into_fragments_below_the_limit() {
        let response = pb::WatchResponse {
            watch_id: 3,
            events: (0..10).map(|n| event(&format!("k{n}"), 100)).collect(),
            ..pb::WatchResponse::default()
        };
        let parts = fragments(response.clone(), 350);
        assert!(parts.len() > 1);
        assert!(parts.iter().all(|part| part.encoded_len() <= 350));
        assert!(parts[..parts.len() - 1].iter().all(|part| part.fragment));
        assert!(!parts.last().unwrap().fragment);
        assert!(parts.iter().all(|part| part.watch_id == 3));
        let events: Vec<_> = parts.into_iter().flat_map(|part| part.events).collect();
        assert_eq!(events, response.events, "every event once, in order");
        let small = pb::WatchResponse {
            events: vec![event("k", 1000)],
            ..pb::WatchResponse::default()
        };
        assert_eq!(
            fragments(small.clone(), 10),
            vec![small],
            "one event is never cut"
        );
    }
}
