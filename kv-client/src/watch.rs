//! Watches that survive the loss of the member serving them.
//!
//! ```text
//!  Watcher::next ◄── bounded queue ◄── watch task ──► Watch stream on the current member
//!                                         │   broken stream: next member,
//!                                         │   WatchCreate from `Resume::next_revision`
//!                                         ▼
//!                                      Resume (pure): which revision comes next,
//!                                      and what each answer means
//! ```
//!
//! Each watch runs one task and one gRPC stream. The task remembers, in
//! [`Resume`], the revision that must come next: the start revision, then
//! one past the last event or progress notification delivered. When the
//! stream breaks (the member died, lost its leader, or the connection
//! dropped), the task opens a stream on the next member that starts at that
//! revision, so the caller sees every event once, in order, with no gap.
//! A compacted start revision ends the watch with [`Error::Compacted`].

use std::time::Duration;

use keel_proto::etcdserverpb::{
    watch_client::WatchClient, watch_create_request::FilterType, watch_request::RequestUnion,
    ResponseHeader, WatchCreateRequest, WatchProgressRequest, WatchRequest, WatchResponse,
};
use keel_proto::mvccpb::Event;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use crate::client::Client;
use crate::error::Error;
use crate::kv::Span;

/// Updates queued between the watch task and the caller. A caller that falls
/// behind stops the task reading, and the server then holds the events (it
/// sets a slow watcher aside without stalling writers).
const WATCH_UPDATES_BUFFERED_MAX: usize = 64;
/// Requests queued for one watch stream: its create and progress requests.
const WATCH_REQUESTS_QUEUED_MAX: usize = 4;
/// The first pause before reopening a broken stream; it doubles up to
/// [`REOPEN_PAUSE_MAX`] while streams keep breaking.
const REOPEN_PAUSE_FIRST: Duration = Duration::from_millis(50);
/// The longest pause between attempts to reopen a stream.
const REOPEN_PAUSE_MAX: Duration = Duration::from_secs(1);

/// Options of [`Client::watch`].
#[derive(Clone, Debug, Default)]
pub struct WatchOptions {
    span: Span,
    request: WatchCreateRequest,
}

impl WatchOptions {
    /// A watch of one key from the next revision on.
    pub fn new() -> Self {
        Self::default()
    }
    crate::kv::span_options!();
    /// Starts at `revision` (0: the next one), replaying history from there.
    #[must_use]
    pub fn with_start_revision(mut self, revision: i64) -> Self {
        self.request.start_revision = revision;
        self
    }
    /// Events carry the key's previous value.
    #[must_use]
    pub fn with_prev_key(mut self) -> Self {
        self.request.prev_kv = true;
        self
    }
    /// The server sends progress notifications while nothing happens.
    #[must_use]
    pub fn with_progress_notify(mut self) -> Self {
        self.request.progress_notify = true;
        self
    }
    /// Leaves out put events.
    #[must_use]
    pub fn with_no_put(mut self) -> Self {
        self.request.filters.push(FilterType::Noput as i32);
        self
    }
    /// Leaves out delete events.
    #[must_use]
    pub fn with_no_delete(mut self) -> Self {
        self.request.filters.push(FilterType::Nodelete as i32);
        self
    }

    fn create_request(&self, key: &[u8], start_revision: i64) -> WatchCreateRequest {
        let (key, range_end) = self.span.bounds(key.to_vec());
        WatchCreateRequest {
            key,
            range_end,
            start_revision,
            ..self.request.clone()
        }
    }
}

/// What a watch delivers: the events of one or more whole revisions, or
/// (with no events) a progress notification.
#[derive(Clone, Debug, PartialEq)]
pub struct WatchUpdate {
    /// The store's revision when the server sent this: every event up to it
    /// has been delivered.
    pub revision: i64,
    /// The whole header of the answer this came in (the member that sent
    /// it, its raft term), for those who print it as etcdctl does.
    pub header: ResponseHeader,
    /// The events, in revision order; empty for a progress notification.
    pub events: Vec<Event>,
}

impl WatchUpdate {
    /// Whether this is a progress notification.
    pub fn is_progress(&self) -> bool {
        self.events.is_empty()
    }
}

/// What one answer on a watch stream means.
#[derive(Debug, PartialEq)]
enum Answer {
    /// The watch was created (or re-created after a reconnect).
    Created,
    /// Deliver this.
    Deliver(WatchUpdate),
    /// Nothing new (the events were all seen before a reconnect).
    Nothing,
    /// The requested revision was compacted: the watch ends.
    Compacted { compact_revision: i64 },
    /// The server cancelled the watch for another reason: the watch ends.
    Canceled { reason: String },
}

/// Which revision a watch needs next, and what each answer means for it.
#[derive(Debug)]
struct Resume {
    /// The first revision not yet delivered; 0 until the server says what
    /// "from now on" means.
    next_revision: i64,
}

impl Resume {
    fn new(start_revision: i64) -> Self {
        Self {
            next_revision: start_revision.max(0),
        }
    }

    /// The start revision for a (re)opened stream.
    fn start_revision(&self) -> i64 {
        self.next_revision
    }

    /// Reads one answer, moving the next revision past what it delivers.
    fn answer(&mut self, response: WatchResponse) -> Answer {
        let header = response.header.unwrap_or_default();
        let revision = header.revision;
        if response.compact_revision > 0 {
            return Answer::Compacted {
                compact_revision: response.compact_revision,
            };
        }
        if response.canceled {
            return Answer::Canceled {
                reason: response.cancel_reason,
            };
        }
        if response.created {
            if self.next_revision == 0 {
                // "From now on" is the revision after the one the watch
                // was created at.
                self.next_revision = revision + 1;
            }
            return Answer::Created;
        }
        let next = self.next_revision;
        let had_events = !response.events.is_empty();
        let events: Vec<Event> = response
            .events
            .into_iter()
            .filter(|event| mod_revision(event) >= next)
            .collect();
        if let Some(last) = events.last() {
            let last_revision = mod_revision(last);
            assert!(
                events
                    .windows(2)
                    .all(|pair| mod_revision(&pair[0]) <= mod_revision(&pair[1])),
                "a watch answer's events are in revision order"
            );
            self.next_revision = last_revision + 1;
            return Answer::Deliver(WatchUpdate {
                revision,
                header,
                events,
            });
        }
        if !had_events && revision >= next - 1 && revision > 0 {
            // A progress notification: every event up to `revision` has
            // been sent, so the watch resumes after it. One that only
            // confirms the last delivered revision is delivered too: a
            // caller that asked for progress is waiting for it.
            self.next_revision = revision + 1;
            return Answer::Deliver(WatchUpdate {
                revision,
                header,
                events: Vec::new(),
            });
        }
        Answer::Nothing
    }
}

fn mod_revision(event: &Event) -> i64 {
    event.kv.as_ref().map_or(0, |kv| kv.mod_revision)
}

/// A running watch. Dropping it cancels the watch.
#[derive(Debug)]
pub struct Watcher {
    updates: mpsc::Receiver<Result<WatchUpdate, Error>>,
    progress: mpsc::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Watcher {
    /// The next update; `None` after the watch ended with an error.
    pub async fn next(&mut self) -> Option<Result<WatchUpdate, Error>> {
        self.updates.recv().await
    }

    /// Asks the server for a progress notification now.
    pub fn request_progress(&self) {
        // A full queue already holds a request, which will do.
        let _ = self.progress.try_send(());
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Why a watch stream ended.
enum StreamEnd {
    /// The watch is over (compacted, cancelled, or the caller left).
    Done,
    /// The stream broke; reopen it on another member.
    Broken,
}

impl Client {
    /// Watches `key` (or, with options, a range or prefix) and follows the
    /// cluster's members as they come and go. Call it within a Tokio
    /// runtime: the watch runs as a task on it.
    pub fn watch(&self, key: impl Into<Vec<u8>>, options: Option<WatchOptions>) -> Watcher {
        let key = key.into();
        let options = options.unwrap_or_default();
        let (deliver, updates) = mpsc::channel(WATCH_UPDATES_BUFFERED_MAX);
        let (progress, progress_asked) = mpsc::channel(1);
        let client = self.clone();
        let task = tokio::spawn(async move {
            client
                .watch_forever(&key, &options, &deliver, progress_asked)
                .await;
        });
        Watcher {
            updates,
            progress,
            task,
        }
    }

    async fn watch_forever(
        &self,
        key: &[u8],
        options: &WatchOptions,
        deliver: &mpsc::Sender<Result<WatchUpdate, Error>>,
        mut progress_asked: mpsc::Receiver<()>,
    ) {
        let mut resume = Resume::new(options.request.start_revision);
        let mut pause = REOPEN_PAUSE_FIRST;
        loop {
            let (index, channel) = self.channel();
            let create = options.create_request(key, resume.start_revision());
            match watch_on_stream(
                channel,
                create,
                &mut resume,
                deliver,
                &mut progress_asked,
                &mut pause,
            )
            .await
            {
                StreamEnd::Done => return,
                StreamEnd::Broken => {
                    self.endpoint_failed(index);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(REOPEN_PAUSE_MAX);
                }
            }
        }
    }
}

/// Follows one watch stream until it ends. `pause` is reset once the stream
/// is working again.
async fn watch_on_stream(
    channel: Channel,
    create: WatchCreateRequest,
    resume: &mut Resume,
    deliver: &mpsc::Sender<Result<WatchUpdate, Error>>,
    progress_asked: &mut mpsc::Receiver<()>,
    pause: &mut Duration,
) -> StreamEnd {
    let requested = create.start_revision;
    let (requests, queued) = mpsc::channel(WATCH_REQUESTS_QUEUED_MAX);
    let create = WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(create)),
    };
    if requests.send(create).await.is_err() {
        return StreamEnd::Broken;
    }
    let mut open = tonic::Request::new(ReceiverStream::new(queued));
    // Members that lose their leader end the stream, so the watch moves to
    // a member that still hears from one (etcd's `WithRequireLeader`).
    open.metadata_mut().insert(
        "hasleader",
        tonic::metadata::MetadataValue::from_static("true"),
    );
    let Ok(answers) = WatchClient::new(channel).watch(open).await else {
        return StreamEnd::Broken;
    };
    let mut answers = answers.into_inner();
    loop {
        let answer = tokio::select! {
            // In this order, so one seed replays one schedule (tokio picks a random order otherwise).
            biased;
            answer = answers.next() => answer,
            asked = progress_asked.recv() => {
                if asked.is_some() {
                    let progress = WatchRequest {
                        request_union: Some(RequestUnion::ProgressRequest(WatchProgressRequest {})),
                    };
                    let _ = requests.try_send(progress);
                }
                continue;
            }
        };
        let Some(Ok(response)) = answer else {
            return StreamEnd::Broken;
        };
        let update = match resume.answer(response) {
            Answer::Created => {
                *pause = REOPEN_PAUSE_FIRST;
                continue;
            }
            Answer::Nothing => continue,
            Answer::Deliver(update) => Ok(update),
            Answer::Compacted { compact_revision } => Err(Error::Compacted {
                requested,
                compact_revision,
            }),
            Answer::Canceled { reason } => Err(Error::Server {
                status: tonic::Status::cancelled(reason),
            }),
        };
        let ends = update.is_err();
        if deliver.send(update).await.is_err() || ends {
            return StreamEnd::Done;
        }
    }
}

#[cfg(test)]
mod tests {
    use keel_proto::etcdserverpb::ResponseHeader;
    use keel_proto::mvccpb::KeyValue;

    use super::*;

    fn put(key: &str, revision: i64) -> Event {
        Event {
            kv: Some(KeyValue {
                key: key.into(),
                mod_revision: revision,
                ..KeyValue::default()
            }),
            ..Event::default()
        }
    }

    fn response(revision: i64, events: Vec<Event>) -> WatchResponse {
        WatchResponse {
            header: Some(ResponseHeader {
                revision,
                ..ResponseHeader::default()
            }),
            events,
            ..WatchResponse::default()
        }
    }

    fn created(revision: i64) -> WatchResponse {
        WatchResponse {
            created: true,
            ..response(revision, Vec::new())
        }
    }

    #[test]
    fn a_watch_from_now_resumes_after_the_revision_it_was_created_at() {
        let mut resume = Resume::new(0);
        assert_eq!(resume.answer(created(7)), Answer::Created);
        assert_eq!(resume.start_revision(), 8);
        let Answer::Deliver(update) = resume.answer(response(9, vec![put("a", 8), put("b", 9)]))
        else {
            panic!("events are delivered");
        };
        assert_eq!(update.events.len(), 2);
        assert_eq!(resume.start_revision(), 10);
    }

    #[test]
    fn a_reopened_stream_repeats_nothing_and_skips_nothing() {
        let mut resume = Resume::new(5);
        resume.answer(created(9));
        assert_eq!(resume.start_revision(), 5, "an explicit start is kept");
        resume.answer(response(9, vec![put("a", 5), put("a", 6)]));
        // The stream breaks; the next one starts at 7. Should a server send
        // 6 again, it is dropped, and 7 comes through.
        assert_eq!(resume.start_revision(), 7);
        resume.answer(created(9));
        let Answer::Deliver(update) = resume.answer(response(9, vec![put("a", 6), put("a", 7)]))
        else {
            panic!("the new event is delivered");
        };
        assert_eq!(update.events, vec![put("a", 7)]);
        assert_eq!(
            resume.answer(response(9, vec![put("a", 7)])),
            Answer::Nothing,
            "a revision already delivered is not delivered twice"
        );
    }

    #[test]
    fn progress_moves_the_resume_point_and_compaction_ends_the_watch() {
        let mut resume = Resume::new(0);
        resume.answer(created(3));
        let Answer::Deliver(progress) = resume.answer(response(12, Vec::new())) else {
            panic!("progress is delivered");
        };
        assert!(progress.is_progress());
        assert_eq!(resume.start_revision(), 13);
        let Answer::Deliver(again) = resume.answer(response(12, Vec::new())) else {
            panic!("progress that confirms the last revision is delivered");
        };
        assert_eq!(again.revision, 12);
        assert_eq!(resume.start_revision(), 13);
        assert_eq!(
            resume.answer(response(11, Vec::new())),
            Answer::Nothing,
            "progress behind what was delivered is not"
        );
        let compacted = WatchResponse {
            compact_revision: 20,
            canceled: true,
            ..response(25, Vec::new())
        };
        assert_eq!(
            resume.answer(compacted),
            Answer::Compacted {
                compact_revision: 20
            }
        );
    }

    #[test]
    fn options_become_a_create_request() {
        let create = WatchOptions::new()
            .with_prefix()
            .with_prev_key()
            .with_no_delete()
            .create_request(b"jobs/", 4);
        assert_eq!(create.range_end, b"jobs0");
        assert_eq!(create.start_revision, 4);
        assert!(create.prev_kv);
        assert_eq!(create.filters, vec![FilterType::Nodelete as i32]);
    }
}
