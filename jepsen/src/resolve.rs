//! Settles unknown outcomes from what the watchers saw, before the
//! linearizability search.
//!
//! A write whose answer was lost (a timeout, a connection cut by a kill)
//! may have taken effect at any time after its call, or never. The search
//! must try both, at every point, for every such write: with a few dozen of
//! them in flight at once it grows past any budget. etcd's robustness tests
//! shrink it from what was persisted; keel does the same from the watch
//! streams, which carry every write in their range:
//!
//! ```text
//!   unknown put / compare-and-put of a unique value, key watched
//!     ├─ the value is in some watcher's events at revision r, first
//!     │  received at t ───────────► it happened: answered with r, returned by t
//!     ├─ not there, and a watcher saw every event of the range through the
//!     │  highest revision any answer showed ─► it never happened, or after
//!     │                                        everything observed: dropped
//!     └─ otherwise ───────────────► left unknown
//! ```
//!
//! Both are sound. A watcher received the write's event after the write
//! took effect, so its linearization point is before `t`, at revision `r`.
//! A write absent from a complete watch either never happened or happened
//! at a revision above every one observed, where no answer depends on it:
//! placing it last or never is the same to the search. Values must be
//! unique per write (the workloads make them so); a value written twice is
//! left unknown.
//!
//! Deletes and lease grants carry no unique value, but two of them can be
//! shown to have changed nothing: a delete whose key shows, after its
//! call, no delete event that a definite delete does not account for (it
//! never ran, or found the key gone), and a grant of a lease no other
//! operation names. Both are dropped. Revokes stay unknown.

use std::collections::{BTreeMap, BTreeSet};

use crate::history::{EventKind, History, Outcome, Request, Response, WatchRecord};

/// What [`resolve`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Unknown writes found in the watches, now answered.
    pub happened: usize,
    /// Unknown writes absent from a complete watch, dropped.
    pub dropped: usize,
    /// Unknown operations left as they were.
    pub unknown: usize,
}

/// Where and when a written value was first seen.
struct Seen {
    revision: i64,
    received_ns: u64,
}

/// One watcher's range and how far its stream is complete.
struct Coverage<'a> {
    key: &'a str,
    range_end: &'a str,
    /// Every event of the range up to this revision was received.
    through: i64,
}

impl Coverage<'_> {
    fn contains(&self, key: &str) -> bool {
        match self.range_end {
            "" => key == self.key,
            "\0" => key >= self.key,
            end => key >= self.key && key < end,
        }
    }
}

/// How far each watcher that started at the first revision saw its range
/// without a gap: through its last event or progress notification before
/// it ended (a compacted watch ends where it was cancelled).
fn coverages(watches: &[WatchRecord]) -> Vec<Coverage<'_>> {
    watches
        .iter()
        .filter(|watch| watch.start_revision <= 1)
        .map(|watch| {
            let mut through = 0;
            for response in &watch.responses {
                if response.canceled {
                    break;
                }
                through = through.max(response.complete_through());
            }
            Coverage {
                key: &watch.key,
                range_end: &watch.range_end,
                through,
            }
        })
        .collect()
}

/// The `(key, value)` of every put event, with its revision and when it
/// was first received; values seen at two revisions are left out.
fn seen_puts(watches: &[WatchRecord]) -> BTreeMap<(&str, &str), Seen> {
    let mut seen: BTreeMap<(&str, &str), Seen> = BTreeMap::new();
    let mut ambiguous = BTreeSet::new();
    for response in watches.iter().flat_map(|w| &w.responses) {
        for event in response.events.iter().filter(|e| e.kind == EventKind::Put) {
            let at = (event.kv.key.as_str(), event.kv.value.as_str());
            let entry = seen.entry(at).or_insert(Seen {
                revision: event.kv.mod_revision,
                received_ns: response.received_ns,
            });
            if entry.revision != event.kv.mod_revision {
                ambiguous.insert(at);
            }
            entry.received_ns = entry.received_ns.min(response.received_ns);
        }
    }
    seen.retain(|at, _| !ambiguous.contains(at));
    seen
}

/// The highest revision any answer in `history` showed.
fn highest_observed(history: &History) -> i64 {
    history
        .operations
        .iter()
        .filter_map(|op| match &op.outcome {
            Outcome::Ok(
                Response::Get { revision, .. }
                | Response::Put { revision }
                | Response::Delete { revision, .. }
                | Response::CompareAndPut { revision, .. }
                | Response::LeaseGrant { revision }
                | Response::LeaseRevoke { revision },
            ) => Some(*revision),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// Delete events no definite delete accounts for: `(key, received_ns)`.
/// A delete that removed the key accounts for the event at its revision.
/// A revoke never does: one that deleted nothing answers the current
/// revision, which may be that of a delete event made by another request
/// (compaction_3, seed 30198: an unknown delete removed k7 at revision 43,
/// and a revoke of k7's lease, sent after the event was seen, found no key
/// and answered 43), and its answer does not say which.
fn unexplained_deletes(history: &History, watches: &[WatchRecord]) -> Vec<(String, u64)> {
    let mut deleted_at: BTreeSet<(&str, i64)> = BTreeSet::new();
    for op in &history.operations {
        if let (Request::Delete { key }, Outcome::Ok(Response::Delete { revision, deleted })) =
            (&op.request, &op.outcome)
        {
            if *deleted > 0 {
                deleted_at.insert((key, *revision));
            }
        }
    }
    let mut unexplained = Vec::new();
    for response in watches.iter().flat_map(|w| &w.responses) {
        for event in response
            .events
            .iter()
            .filter(|e| e.kind == EventKind::Delete)
        {
            if !deleted_at.contains(&(event.kv.key.as_str(), event.kv.mod_revision)) {
                unexplained.push((event.kv.key.clone(), response.received_ns));
            }
        }
    }
    unexplained
}

/// How many operations name each lease.
fn lease_mentions(history: &History) -> BTreeMap<i64, usize> {
    let mut mentions = BTreeMap::new();
    for op in &history.operations {
        let lease = match &op.request {
            Request::Put { lease, .. } if *lease != 0 => *lease,
            Request::LeaseGrant { id, .. } | Request::LeaseRevoke { id } => *id,
            _ => continue,
        };
        *mentions.entry(lease).or_default() += 1;
    }
    mentions
}

/// `history` with the unknown writes the watches settle settled (see the
/// module docs), and what was done.
pub fn resolve(history: &History, watches: &[WatchRecord]) -> (History, Resolved) {
    let seen = seen_puts(watches);
    let observed = highest_observed(history);
    let complete: Vec<Coverage<'_>> = coverages(watches)
        .into_iter()
        .filter(|coverage| coverage.through >= observed)
        .collect();
    let unexplained = unexplained_deletes(history, watches);
    let mentions = lease_mentions(history);
    let mut written: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for op in &history.operations {
        if let Request::Put { key, value, .. } | Request::CompareAndPut { key, value, .. } =
            &op.request
        {
            *written.entry((key.as_str(), value.as_str())).or_default() += 1;
        }
    }
    let mut resolved = Resolved::default();
    let mut operations = Vec::with_capacity(history.operations.len());
    for op in &history.operations {
        if op.outcome != Outcome::Unknown {
            operations.push(op.clone());
            continue;
        }
        let (key, value, compare) = match &op.request {
            Request::Put { key, value, .. } => (key.as_str(), value.as_str(), false),
            Request::CompareAndPut { key, value, .. } => (key.as_str(), value.as_str(), true),
            // A delete that removed nothing changed nothing: one whose key
            // shows no delete event after its call that a definite answer
            // does not account for can be dropped.
            Request::Delete { key }
                if complete.iter().any(|c| c.contains(key))
                    && !unexplained
                        .iter()
                        .any(|(deleted, at)| deleted == key && *at >= op.call_ns) =>
            {
                resolved.dropped += 1;
                continue;
            }
            // A grant of a lease no other operation names changes nothing
            // any answer depends on.
            Request::LeaseGrant { id, .. } if mentions.get(id) == Some(&1) => {
                resolved.dropped += 1;
                continue;
            }
            _ => {
                resolved.unknown += 1;
                operations.push(op.clone());
                continue;
            }
        };
        let unique = written.get(&(key, value)) == Some(&1);
        match seen.get(&(key, value)) {
            Some(at) if unique && at.received_ns >= op.call_ns => {
                let response = if compare {
                    Response::CompareAndPut {
                        revision: at.revision,
                        succeeded: true,
                    }
                } else {
                    Response::Put {
                        revision: at.revision,
                    }
                };
                let mut settled = op.clone();
                settled.outcome = Outcome::Ok(response);
                settled.return_ns = at.received_ns;
                operations.push(settled);
                resolved.happened += 1;
            }
            None if unique && complete.iter().any(|c| c.contains(key)) => resolved.dropped += 1,
            _ => {
                resolved.unknown += 1;
                operations.push(op.clone());
            }
        }
    }
    (History { operations }, resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{KeyValue, Operation, WatchEvent, WatchResponse};
    use crate::linearizability::{check, Verdict};

    fn put(client: u64, call_ns: u64, value: &str, outcome: Outcome) -> Operation {
        Operation {
            client,
            call_ns,
            return_ns: call_ns + 10,
            request: Request::Put {
                key: "k".into(),
                value: value.into(),
                lease: 0,
            },
            outcome,
        }
    }

    fn get(call_ns: u64, revision: i64, value: Option<&str>, mod_revision: i64) -> Operation {
        Operation {
            client: 99,
            call_ns,
            return_ns: call_ns + 10,
            request: Request::Get { key: "k".into() },
            outcome: Outcome::Ok(Response::Get {
                revision,
                kv: value.map(|value| KeyValue {
                    key: "k".into(),
                    value: value.into(),
                    create_revision: 2,
                    mod_revision,
                    version: mod_revision - 1,
                    lease: 0,
                }),
            }),
        }
    }

    fn unknown_delete(client: u64, call_ns: u64) -> Operation {
        Operation {
            client,
            call_ns,
            return_ns: call_ns + 10,
            request: Request::Delete { key: "k".into() },
            outcome: Outcome::Unknown,
        }
    }

    /// A response with the delete of `k` at revision 3, received at 40.
    fn k_deleted_at_3(prev_kv: Option<KeyValue>) -> WatchResponse {
        WatchResponse {
            header_revision: 3,
            events: vec![WatchEvent {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: "k".into(),
                    mod_revision: 3,
                    ..KeyValue::default()
                },
                prev_kv,
            }],
            compact_revision: 0,
            canceled: false,
            received_ns: 40,
        }
    }

    fn watch(events: &[(&str, i64, u64)], progress: i64) -> WatchRecord {
        let mut responses: Vec<WatchResponse> = events
            .iter()
            .map(|&(value, revision, received_ns)| WatchResponse {
                header_revision: revision,
                events: vec![WatchEvent {
                    kind: EventKind::Put,
                    kv: KeyValue {
                        key: "k".into(),
                        value: value.into(),
                        create_revision: 2,
                        mod_revision: revision,
                        version: revision - 1,
                        lease: 0,
                    },
                    prev_kv: None,
                }],
                compact_revision: 0,
                canceled: false,
                received_ns,
            })
            .collect();
        responses.push(WatchResponse {
            header_revision: progress,
            events: Vec::new(),
            compact_revision: 0,
            canceled: false,
            received_ns: 1_000_000,
        });
        WatchRecord {
            watcher: 0,
            key: "k".into(),
            range_end: "l".into(),
            start_revision: 1,
            prev_kv: true,
            responses,
        }
    }

    #[test]
    fn a_watched_write_happened_and_an_unwatched_one_did_not() {
        let history = History {
            operations: vec![
                put(1, 0, "a", Outcome::Ok(Response::Put { revision: 2 })),
                put(2, 20, "b", Outcome::Unknown),
                put(3, 30, "c", Outcome::Unknown),
                get(500, 3, Some("b"), 3),
            ],
        };
        let watches = [watch(&[("a", 2, 15), ("b", 3, 100)], 3)];
        let (settled, resolved) = resolve(&history, &watches);
        assert_eq!(
            resolved,
            Resolved {
                happened: 1,
                dropped: 1,
                unknown: 0
            }
        );
        let b = &settled.operations[1];
        assert_eq!(b.outcome, Outcome::Ok(Response::Put { revision: 3 }));
        assert_eq!(b.return_ns, 100, "returned by the time its event arrived");
        assert_eq!(settled.operations.len(), 3, "c dropped");
        assert_eq!(check(&settled), Verdict::Linearizable);
    }

    #[test]
    fn a_delete_that_removed_nothing_and_an_unused_grant_are_dropped() {
        let grant = |client, id| Operation {
            client,
            call_ns: 40,
            return_ns: 50,
            request: Request::LeaseGrant { id, ttl_secs: 60 },
            outcome: Outcome::Unknown,
        };
        let mut history = History {
            operations: vec![
                put(1, 0, "a", Outcome::Ok(Response::Put { revision: 2 })),
                unknown_delete(2, 20),
                grant(3, 7),
                grant(4, 8),
                put(5, 60, "b", Outcome::Ok(Response::Put { revision: 3 })),
            ],
        };
        // Lease 8 is named again later: its grant's outcome matters.
        if let Request::Put { lease, .. } = &mut history.operations[4].request {
            *lease = 8;
        }
        let watches = [watch(&[("a", 2, 15), ("b", 3, 70)], 3)];
        let (settled, resolved) = resolve(&history, &watches);
        assert_eq!(resolved.dropped, 2, "{settled:?}");
        assert_eq!(resolved.unknown, 1);
        assert!(settled
            .operations
            .iter()
            .all(|op| !matches!(op.request, Request::Delete { .. })));
    }

    #[test]
    fn a_delete_an_unexplained_event_may_be_stays_unknown() {
        let mut watches = [watch(&[("a", 2, 15)], 3)];
        watches[0].responses.insert(1, k_deleted_at_3(None));
        let history = History {
            operations: vec![
                put(1, 0, "a", Outcome::Ok(Response::Put { revision: 2 })),
                unknown_delete(2, 20),
                get(50, 3, None, 0),
            ],
        };
        let (settled, resolved) = resolve(&history, &watches);
        assert_eq!(resolved.unknown, 1);
        assert_eq!(check(&settled), Verdict::Linearizable);
    }

    #[test]
    fn a_revoke_that_deleted_nothing_does_not_account_for_a_delete() {
        // Seed 30143 of isolate_leader_3, as first settled: an unknown
        // delete of k made revision 3, a revoke of a lease without keys
        // answered that same revision, and taking the revoke for the
        // delete's cause dropped the delete, so a later read of no key
        // looked impossible.
        let mut watches = [watch(&[("a", 2, 15)], 3)];
        let prev_kv = KeyValue {
            key: "k".into(),
            value: "a".into(),
            create_revision: 2,
            mod_revision: 2,
            version: 1,
            lease: 0,
        };
        watches[0]
            .responses
            .insert(1, k_deleted_at_3(Some(prev_kv)));
        let history = History {
            operations: vec![
                Operation {
                    client: 3,
                    call_ns: 1,
                    return_ns: 5,
                    request: Request::LeaseGrant {
                        id: 9,
                        ttl_secs: 60,
                    },
                    outcome: Outcome::Ok(Response::LeaseGrant { revision: 1 }),
                },
                put(1, 0, "a", Outcome::Ok(Response::Put { revision: 2 })),
                unknown_delete(2, 20),
                Operation {
                    client: 3,
                    call_ns: 25,
                    return_ns: 45,
                    request: Request::LeaseRevoke { id: 9 },
                    outcome: Outcome::Ok(Response::LeaseRevoke { revision: 3 }),
                },
                get(50, 3, None, 0),
            ],
        };
        let (settled, resolved) = resolve(&history, &watches);
        assert_eq!(resolved.dropped, 0);
        assert_eq!(check(&settled), Verdict::Linearizable);
    }

    #[test]
    fn a_watch_that_stops_short_drops_nothing() {
        // Revision 4 was observed, the watch only promises through 3: an
        // unknown write not seen may be revision 4.
        let history = History {
            operations: vec![
                put(1, 0, "a", Outcome::Ok(Response::Put { revision: 2 })),
                put(2, 20, "b", Outcome::Unknown),
                put(3, 30, "c", Outcome::Ok(Response::Put { revision: 4 })),
            ],
        };
        let watches = [watch(&[("a", 2, 15)], 3)];
        let (settled, resolved) = resolve(&history, &watches);
        assert_eq!(resolved.dropped, 0);
        assert_eq!(resolved.unknown, 1);
        assert_eq!(settled.operations[1].outcome, Outcome::Unknown);
    }

    #[test]
    fn a_value_seen_before_its_write_was_called_settles_nothing() {
        // A watch cannot show a write before it was sent: leave it to the
        // checkers (the linearizability search rejects such a history).
        let history = History {
            operations: vec![put(2, 200, "b", Outcome::Unknown)],
        };
        let watches = [watch(&[("b", 2, 100)], 2)];
        let (_, resolved) = resolve(&history, &watches);
        assert_eq!(resolved.unknown, 1);
    }

    #[test]
    fn a_lost_write_a_read_saw_is_still_a_violation_after_settling() {
        // The watch misses "b" yet a read returned it: dropping "b" must not
        // hide the read of a value that was never written.
        let history = History {
            operations: vec![
                put(1, 0, "a", Outcome::Ok(Response::Put { revision: 2 })),
                put(2, 20, "b", Outcome::Unknown),
                get(500, 3, Some("b"), 3),
            ],
        };
        let watches = [watch(&[("a", 2, 15)], 3)];
        let (settled, resolved) = resolve(&history, &watches);
        assert_eq!(resolved.dropped, 1);
        assert!(matches!(check(&settled), Verdict::Violation(_)));
    }
}
