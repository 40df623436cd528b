//! The watcher groups and the two delivery paths: `notify` for synced
//! watchers, `sync_round` for the ones catching up from history.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;

use super::history::{self, Read};
use super::{
    Offer, StreamId, WatchError, WatchId, WatchMessage, WatchSink, WatchSpec,
    STREAM_PROGRESS_WATCH_ID,
};
use crate::backend::Backend;
use crate::error::MvccError;
use crate::range_bounds::RangeEnd;
use crate::store::Store;
use crate::types::Event;

/// Most events one catch-up round reads from history (a revision is never
/// cut, so a round may read more when one revision is bigger). etcd reads
/// its unsynced watchers' history in batches of 1000 revisions; counting
/// events bounds the memory of a round more directly.
pub const CATCHUP_EVENTS_MAX: usize = 1000;
/// Most bytes of values one catch-up round holds (again never cutting a
/// revision): with values up to the 1.5 MiB request limit, the event count
/// alone would let a round hold 1.5 GB.
pub const CATCHUP_BYTES_MAX: usize = 8 << 20;

type WatcherKey = (StreamId, WatchId);

struct Watcher {
    spec: WatchSpec,
    sink: Arc<dyn WatchSink>,
    /// The lowest revision not yet delivered: nothing below it is ever
    /// offered again.
    next_revision: i64,
}

impl Watcher {
    fn is_single_key(&self) -> bool {
        self.spec.range.end == RangeEnd::Single
    }
}

#[derive(Default)]
struct Groups {
    /// The last revision [`WatchHub::notify`] handled.
    notified: i64,
    /// Watchers with every matching event through `notified`.
    synced: BTreeMap<WatcherKey, Watcher>,
    /// Watchers behind `notified`, served by `sync_round`.
    unsynced: BTreeMap<WatcherKey, Watcher>,
    /// Synced single-key watchers, by key.
    by_key: HashMap<Vec<u8>, BTreeSet<WatcherKey>>,
    /// Synced watchers of a range.
    ranged: BTreeSet<WatcherKey>,
}

impl Groups {
    fn contains(&self, key: WatcherKey) -> bool {
        self.synced.contains_key(&key) || self.unsynced.contains_key(&key)
    }

    fn insert_synced(&mut self, key: WatcherKey, watcher: Watcher) {
        if watcher.is_single_key() {
            self.by_key
                .entry(watcher.spec.range.start.clone())
                .or_default()
                .insert(key);
        } else {
            self.ranged.insert(key);
        }
        self.synced.insert(key, watcher);
    }

    fn remove_synced(&mut self, key: WatcherKey) -> Option<Watcher> {
        let watcher = self.synced.remove(&key)?;
        if watcher.is_single_key() {
            let start = &watcher.spec.range.start;
            if let Some(keys) = self.by_key.get_mut(start) {
                keys.remove(&key);
                if keys.is_empty() {
                    self.by_key.remove(start);
                }
            }
        } else {
            self.ranged.remove(&key);
        }
        Some(watcher)
    }

    /// Files a watcher under synced or unsynced by its next revision.
    fn place(&mut self, key: WatcherKey, watcher: Watcher) {
        if watcher.next_revision > self.notified {
            self.insert_synced(key, watcher);
        } else {
            self.unsynced.insert(key, watcher);
        }
    }
}

/// How many watchers are in each group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HubCounts {
    /// Watchers at the head of history.
    pub synced: usize,
    /// Watchers catching up.
    pub unsynced: usize,
}

/// What one [`WatchHub::sync_round`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRound {
    /// No unsynced watcher could take anything (none, or their sinks are
    /// full): wait before the next round.
    Idle,
    /// Something was delivered or decided: run another round soon.
    Progressed,
}

/// Every watcher of one store. See the module docs.
pub struct WatchHub {
    groups: Mutex<Groups>,
}

impl std::fmt::Debug for WatchHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchHub")
            .field("counts", &self.counts())
            .finish_non_exhaustive()
    }
}

impl WatchHub {
    /// A hub over a store whose current revision is `current`.
    pub fn new(current: i64) -> Self {
        Self {
            groups: Mutex::new(Groups {
                notified: current,
                ..Groups::default()
            }),
        }
    }

    /// Adds a watcher. Start revision 0 means the next change; a revision
    /// at or below the current one replays history from there (and, if it
    /// was compacted, the watcher is told so by [`WatchHub::sync_round`]);
    /// a future one waits for it.
    pub fn watch(
        &self,
        stream: StreamId,
        watch_id: WatchId,
        spec: WatchSpec,
        sink: Arc<dyn WatchSink>,
    ) -> Result<(), WatchError> {
        let mut groups = self.groups.lock();
        let key = (stream, watch_id);
        if groups.contains(key) {
            return Err(WatchError::DuplicateId);
        }
        let next_revision = if spec.start_revision <= 0 {
            groups.notified + 1
        } else {
            spec.start_revision
        };
        let watcher = Watcher {
            spec,
            sink,
            next_revision,
        };
        groups.place(key, watcher);
        Ok(())
    }

    /// Removes a watcher; whether it existed.
    pub fn cancel(&self, stream: StreamId, watch_id: WatchId) -> bool {
        let mut groups = self.groups.lock();
        let key = (stream, watch_id);
        groups.remove_synced(key).is_some() || groups.unsynced.remove(&key).is_some()
    }

    /// Removes every watcher of a stream.
    pub fn close_stream(&self, stream: StreamId) {
        let mut groups = self.groups.lock();
        let range = (stream, WatchId::MIN)..=(stream, WatchId::MAX);
        let synced: Vec<WatcherKey> = groups
            .synced
            .range(range.clone())
            .map(|(k, _)| *k)
            .collect();
        for key in synced {
            groups.remove_synced(key);
        }
        let unsynced: Vec<WatcherKey> = groups.unsynced.range(range).map(|(k, _)| *k).collect();
        for key in unsynced {
            groups.unsynced.remove(&key);
        }
    }

    /// How many watchers are synced and unsynced.
    pub fn counts(&self) -> HubCounts {
        let groups = self.groups.lock();
        HubCounts {
            synced: groups.synced.len(),
            unsynced: groups.unsynced.len(),
        }
    }

    /// The changes of revision `revision`, just written: offered to every
    /// synced watcher they match. Called by the store, in revision order,
    /// under its writer lock.
    pub(crate) fn notify(&self, revision: i64, events: Vec<Event>) {
        let events: Vec<Arc<Event>> = events.into_iter().map(Arc::new).collect();
        let mut groups = self.groups.lock();
        assert!(
            revision > groups.notified,
            "revision {revision} notified after {}",
            groups.notified
        );
        let mut matched: BTreeMap<WatcherKey, Vec<Arc<Event>>> = BTreeMap::new();
        for event in &events {
            if let Some(keys) = groups.by_key.get(&event.kv.key) {
                for key in keys {
                    if groups.synced[key].spec.wants(event) {
                        matched.entry(*key).or_default().push(Arc::clone(event));
                    }
                }
            }
        }
        for key in &groups.ranged {
            let spec = &groups.synced[key].spec;
            for event in &events {
                if spec.wants(event) {
                    matched.entry(*key).or_default().push(Arc::clone(event));
                }
            }
        }
        for (key, events) in matched {
            let watcher = groups
                .synced
                .get_mut(&key)
                .expect("matched watchers are synced");
            if watcher.next_revision > revision {
                continue;
            }
            let message = WatchMessage::Events {
                watch_id: key.1,
                revision,
                events,
                prev_kv: watcher.spec.prev_kv,
            };
            match watcher.sink.offer(message) {
                Offer::Sent => watcher.next_revision = revision + 1,
                Offer::Full => {
                    // It has everything before this revision; history will
                    // give it the rest.
                    let mut watcher = groups.remove_synced(key).expect("synced");
                    watcher.next_revision = revision;
                    groups.unsynced.insert(key, watcher);
                }
                Offer::Closed => {
                    groups.remove_synced(key);
                }
            }
        }
        groups.notified = revision;
    }

    /// The store's whole content was replaced (a snapshot was installed) and
    /// is now at `current`: every watcher catches up from the new history.
    pub(crate) fn reset(&self, current: i64) {
        let mut groups = self.groups.lock();
        let complete_through = groups.notified;
        let synced: Vec<WatcherKey> = groups.synced.keys().copied().collect();
        for key in synced {
            let mut watcher = groups.remove_synced(key).expect("listed");
            watcher.next_revision = watcher.next_revision.max(complete_through + 1);
            groups.unsynced.insert(key, watcher);
        }
        groups.by_key.clear();
        groups.ranged.clear();
        groups.notified = current;
    }

    /// One round of catch-up for the unsynced watchers whose sinks have
    /// room: cancels those whose next revision was compacted, reads one
    /// window of history from the lowest next revision among the rest, and
    /// hands each watcher its part. Never holds the hub's lock while
    /// reading the store.
    pub fn sync_round<B: Backend>(&self, store: &Store<B>) -> Result<SyncRound, MvccError> {
        let (from, with_prev) = {
            let mut groups = self.groups.lock();
            let cancelled = cancel_compacted(&mut groups, store.compacted_revision());
            let ready = groups
                .unsynced
                .values()
                .filter(|watcher| watcher.sink.has_room());
            let mut from = None::<i64>;
            let mut with_prev = false;
            for watcher in ready {
                from = Some(from.map_or(watcher.next_revision, |f| f.min(watcher.next_revision)));
                with_prev |= watcher.spec.prev_kv;
            }
            match from {
                Some(from) => (from, with_prev),
                None if cancelled => return Ok(SyncRound::Progressed),
                None => return Ok(SyncRound::Idle),
            }
        };
        let window = match history::read(
            store,
            from,
            CATCHUP_EVENTS_MAX,
            CATCHUP_BYTES_MAX,
            with_prev,
        )? {
            Read::Window(window) => window,
            // The next round cancels whoever was compacted away.
            Read::Compacted => return Ok(SyncRound::Progressed),
        };
        let mut groups = self.groups.lock();
        let mut progressed = false;
        let keys: Vec<WatcherKey> = groups.unsynced.keys().copied().collect();
        for key in keys {
            let watcher = groups.unsynced.get_mut(&key).expect("listed");
            // Only watchers whose next revision lies inside the window: the
            // window holds nothing from before `from`.
            if watcher.next_revision < from
                || watcher.next_revision > window.through
                || !watcher.sink.has_room()
            {
                continue;
            }
            let events: Vec<Arc<Event>> = window
                .events
                .iter()
                .filter(|event| {
                    event.revision() >= watcher.next_revision && watcher.spec.wants(event)
                })
                .cloned()
                .collect();
            let offer = if events.is_empty() {
                Offer::Sent
            } else {
                watcher.sink.offer(WatchMessage::Events {
                    watch_id: key.1,
                    revision: window.through,
                    events,
                    prev_kv: watcher.spec.prev_kv,
                })
            };
            match offer {
                Offer::Sent => {
                    progressed = true;
                    watcher.next_revision = window.through + 1;
                    if watcher.next_revision > groups.notified {
                        let watcher = groups.unsynced.remove(&key).expect("listed");
                        groups.insert_synced(key, watcher);
                    }
                }
                Offer::Full => {}
                Offer::Closed => {
                    progressed = true;
                    groups.unsynced.remove(&key);
                }
            }
        }
        Ok(if progressed {
            SyncRound::Progressed
        } else {
            SyncRound::Idle
        })
    }

    /// etcd's on-demand progress: if every watcher of `stream` is synced,
    /// offers `sink` a [`WatchMessage::Progress`] for the whole stream
    /// (watch ID −1) at the last notified revision, and returns whether the
    /// request is answered. A stream with a watcher still catching up gets
    /// `false`: ask again later.
    pub fn request_progress(&self, stream: StreamId, sink: &dyn WatchSink) -> bool {
        let groups = self.groups.lock();
        let mut watchers = groups
            .unsynced
            .range((stream, WatchId::MIN)..=(stream, WatchId::MAX));
        if watchers.next().is_some() {
            return false;
        }
        let message = WatchMessage::Progress {
            watch_id: STREAM_PROGRESS_WATCH_ID,
            revision: groups.notified,
        };
        sink.offer(message) != Offer::Full
    }

    /// Offers a progress notification to every synced watcher that asked
    /// for them. A full sink skips this one (its stream is busy anyway).
    pub fn progress_notify_round(&self) {
        let groups = self.groups.lock();
        for (key, watcher) in &groups.synced {
            if watcher.spec.progress_notify {
                let _ = watcher.sink.offer(WatchMessage::Progress {
                    watch_id: key.1,
                    revision: groups.notified,
                });
            }
        }
    }
}

/// Tells every unsynced watcher whose next revision is below `compacted`
/// that it was compacted, and drops it once told. Returns whether any was.
fn cancel_compacted(groups: &mut Groups, compacted: i64) -> bool {
    let doomed: Vec<WatcherKey> = groups
        .unsynced
        .iter()
        .filter(|(_, watcher)| watcher.next_revision < compacted)
        .map(|(key, _)| *key)
        .collect();
    let mut any = false;
    for key in doomed {
        let watcher = &groups.unsynced[&key];
        let offer = watcher.sink.offer(WatchMessage::Compacted {
            watch_id: key.1,
            compact_revision: compacted,
        });
        if offer != Offer::Full {
            groups.unsynced.remove(&key);
            any = true;
        }
    }
    any
}
