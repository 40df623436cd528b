//! The watchable store: watchers on a key or a range, fed with every change
//! in revision order, from any uncompacted revision, without ever blocking
//! a writer.
//!
//! ```text
//!   Store::apply ──notify(rev, events)──► WatchHub ── synced watchers ──offer──► WatchSink
//!                                            │  (a full sink sets its watcher aside)        (one per
//!                                            ▼                                               stream,
//!                                      unsynced watchers ◄──sync_round── history.rs ◄──     bounded)
//!                                            │             (reads the change log from the store)
//!                                            └── caught up (next revision > notified) ──► synced
//! ```
//!
//! - A watcher is **synced** when it has every matching event up to the
//!   last revision the hub was told of (`notified`). Each applied command
//!   offers its events to the synced watchers it matches, all events of one
//!   revision in one message. Offering never waits: a sink that is full
//!   sets its watcher aside as **unsynced**, at the revision it missed.
//! - [`WatchHub::sync_round`] serves the unsynced watchers from history:
//!   it reads the store's change log once for all of them, from the lowest
//!   revision any of them needs (bounded per round), and hands each its
//!   part while its sink has room. A watcher whose next revision is past
//!   `notified` rejoins the synced group; one whose next revision was
//!   compacted away gets [`WatchMessage::Compacted`] and is dropped.
//! - Every watcher remembers the next revision it needs, and nothing below
//!   it is ever offered to it: that one rule keeps delivery ordered and free
//!   of duplicates however the synced and unsynced paths interleave.
//! - Memory is bounded by the sinks (each holds a named number of
//!   messages) and by one history window per round; events are shared
//!   (`Arc`) by every watcher and sink that holds them.
//!
//! A sink is the server's end of one watch stream. This crate has no
//! runtime: the server implements [`WatchSink`] over its own bounded
//! channel, and drives [`WatchHub::sync_round`] and
//! [`WatchHub::progress_notify_round`] from its own timers.

mod history;
mod hub;

use std::sync::Arc;

pub use hub::{HubCounts, SyncRound, WatchHub, CATCHUP_BYTES_MAX, CATCHUP_EVENTS_MAX};

use crate::range_bounds::KeyRange;
use crate::types::Event;

/// A watch stream, as the server numbers them.
pub type StreamId = u64;
/// A watcher within its stream (etcd's `watch_id`).
pub type WatchId = i64;
/// The `watch_id` of a progress notification that speaks for every watcher
/// of the stream (etcd's `InvalidWatchID`).
pub const STREAM_PROGRESS_WATCH_ID: WatchId = -1;

/// What a watcher watches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "one flag per field of etcd's WatchCreateRequest"
)]
pub struct WatchSpec {
    /// The key or range.
    pub range: KeyRange,
    /// The first revision to deliver; 0 means "the next change".
    pub start_revision: i64,
    /// Leave out put events (etcd's `NOPUT` filter).
    pub filter_puts: bool,
    /// Leave out delete events (etcd's `NODELETE` filter).
    pub filter_deletes: bool,
    /// Deliver each event's previous key-value.
    pub prev_kv: bool,
    /// Receive periodic progress notifications while synced.
    pub progress_notify: bool,
}

impl WatchSpec {
    /// Whether `event` is one this watcher delivers.
    pub fn wants(&self, event: &Event) -> bool {
        let kind_wanted = match event.kind {
            crate::types::EventKind::Put => !self.filter_puts,
            crate::types::EventKind::Delete => !self.filter_deletes,
        };
        kind_wanted && self.range.contains(&event.kv.key)
    }
}

/// What the hub hands a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchMessage {
    /// Events for one watcher: every matching event of every revision up to
    /// and including `revision` that it had not had yet, in order. A
    /// revision's events are never split across messages.
    Events {
        /// The watcher.
        watch_id: WatchId,
        /// The watcher has every matching event up to this revision.
        revision: i64,
        /// The events, in revision order.
        events: Vec<Arc<Event>>,
        /// Whether the watcher asked for previous key-values (the events
        /// carry them regardless; the sink leaves them out if not).
        prev_kv: bool,
    },
    /// The watcher's next revision was compacted away: it is cancelled.
    Compacted {
        /// The watcher.
        watch_id: WatchId,
        /// The store's compacted revision.
        compact_revision: i64,
    },
    /// Every matching event up to `revision` has been delivered, to the one
    /// watcher, or to every watcher of the stream when `watch_id` is
    /// [`STREAM_PROGRESS_WATCH_ID`].
    Progress {
        /// The watcher, or [`STREAM_PROGRESS_WATCH_ID`].
        watch_id: WatchId,
        /// The revision the stream is complete through.
        revision: i64,
    },
}

/// What became of a message offered to a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Queued for the stream.
    Sent,
    /// The stream's buffer is full; nothing was queued.
    Full,
    /// The stream is gone; its watchers can be dropped.
    Closed,
}

/// The server's end of one watch stream: a bounded queue towards the
/// client. Implementations must never block.
pub trait WatchSink: Send + Sync {
    /// Queues `message` if there is room.
    fn offer(&self, message: WatchMessage) -> Offer;

    /// Whether a message offered now would be queued.
    fn has_room(&self) -> bool;
}

/// Why a watcher could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// The stream already has a watcher with this ID.
    #[error("duplicate watch ID")]
    DuplicateId,
}
