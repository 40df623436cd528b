//! The watch checker: what every watcher received must be one consistent,
//! complete view of the store's revision history.
//!
//! Each [`WatchRecord`] holds a watcher's responses in arrival order. A
//! response with `canceled` set (the watch asked for compacted revisions)
//! ends the record: it and everything after it are ignored. An event's
//! revision is its `kv.mod_revision`. A start revision below 1 is taken as 1.
//!
//! Properties, each reported as `watch: <name>`:
//!
//! - **in range**: every event's key lies in `[key, range_end)` (an empty
//!   `range_end` means just `key`, `"\0"` means every key from `key` on).
//! - **resumable**: no event is older than the watch's `start_revision`.
//! - **ordered**: within one watcher, event revisions never decrease.
//! - **unique**: one watcher never delivers the same (revision, key) twice.
//! - **atomic**: all of a revision's events reach a watcher in one response.
//! - **progress never ahead**: a response's header revision is at least
//!   each of its events' revisions, and after a progress notification (a
//!   response with no events) at header revision `h`, no event at a revision
//!   `<= h` arrives.
//! - **agreement**: the union of all streams is the reference history. Each
//!   (revision, key) event is identical in every watcher that delivered it
//!   (`prev_kv` compared only between watchers that asked for it), and a
//!   watcher that delivered a revision delivered all of that revision's
//!   reference events in its range (no split revision).
//! - **agrees with acked writes**: a write acknowledged in the history (a
//!   Put, a succeeded CompareAndPut, a Delete that deleted a key) happened at
//!   its response's revision: no event at that revision contradicts it (a
//!   different value, lease or kind, or another key), and every watcher
//!   covering that revision whose range holds the key delivered it.
//! - **reliable**: a watcher covers revisions from its start revision up to
//!   the larger of its last response's header revision and its last event's
//!   revision. It must have delivered every reference event in that span and
//!   in its key range.
//! - **prev_kv**: for a watcher that asked for prev_kv, an event's prev_kv is
//!   the kv of the key's previous reference event if that was a Put, and
//!   absent if it was a Delete or there was none. Checked only where the
//!   reference is complete for the key: some watcher started at revision 1,
//!   covers the key, and covers the event's revision.
//! - **kv consistent**: a Put's kv has `version >= 1`, `create_revision <=
//!   mod_revision`, and `create_revision == mod_revision` at version 1; where
//!   the reference is complete, a Put after a Put has the next version and
//!   the same create_revision, and a Put after a Delete (or first) has
//!   version 1.
//!
//! Checks run in the order above, and the first violation found is returned.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap};

use crate::history::{
    EventKind, History, Operation, Outcome, Request, Response, WatchEvent, WatchRecord,
};
use crate::Violation;

/// One watcher's stream, cut at its first canceled response.
struct Stream<'a> {
    rec: &'a WatchRecord,
    /// First covered revision.
    lower: i64,
    /// Last covered revision (`lower - 1` when it covers nothing).
    coverage: i64,
    /// Every delivered event by (revision, key).
    events: BTreeMap<(i64, &'a str), &'a WatchEvent>,
}

impl Stream<'_> {
    fn covers(&self, revision: i64, key: &str) -> bool {
        self.lower <= revision && revision <= self.coverage && in_range(self.rec, key)
    }
}

/// An event of the reference history and who delivered it.
struct RefEvent<'a> {
    event: &'a WatchEvent,
    watcher: u64,
    with_prev: bool,
}

/// A write the history acknowledged.
struct Acked<'a> {
    revision: i64,
    key: &'a str,
    kind: EventKind,
    value: Option<&'a str>,
    lease: Option<i64>,
    op: &'a Operation,
}

impl Acked<'_> {
    fn matches(&self, event: &WatchEvent) -> bool {
        event.kind == self.kind
            && event.kv.key == self.key
            && self.value.is_none_or(|v| event.kv.value == v)
            && self.lease.is_none_or(|l| event.kv.lease == l)
    }
}

type Reference<'a> = BTreeMap<i64, BTreeMap<&'a str, RefEvent<'a>>>;

fn in_range(rec: &WatchRecord, key: &str) -> bool {
    if rec.range_end.is_empty() {
        key == rec.key
    } else if rec.range_end == "\0" {
        key >= rec.key.as_str()
    } else {
        key >= rec.key.as_str() && key < rec.range_end.as_str()
    }
}

fn line(watcher: u64, event: &WatchEvent) -> String {
    format!(
        "watcher {watcher} revision {}: {event:?}",
        event.kv.mod_revision
    )
}

fn property(name: &str) -> String {
    format!("watch: {name}")
}

/// Checks the watch streams `watches` against each other and against the
/// writes `history` acknowledged; see the module docs for the properties.
pub fn check(history: &History, watches: &[WatchRecord]) -> Result<(), Violation> {
    let mut streams = Vec::with_capacity(watches.len());
    for rec in watches {
        streams.push(check_stream(rec)?);
    }
    let reference = build_reference(&streams)?;
    check_acked(history, &streams, &reference)?;
    check_reliable(&streams, &reference)?;
    check_prev_kv_and_kvs(&streams, &reference)
}

/// Cuts a record at its first canceled response and checks the properties
/// of one stream alone: in range, resumable, ordered, unique, atomic and
/// progress never ahead.
fn check_stream(rec: &WatchRecord) -> Result<Stream<'_>, Violation> {
    let end = rec
        .responses
        .iter()
        .position(|r| r.canceled)
        .unwrap_or(rec.responses.len());
    let responses = &rec.responses[..end];
    let id = rec.watcher;
    let lower = rec.start_revision.max(1);
    let mut events: BTreeMap<(i64, &str), &WatchEvent> = BTreeMap::new();
    let mut previous: Option<&WatchEvent> = None;
    let mut response_of: HashMap<i64, usize> = HashMap::new();
    let mut promised: Option<i64> = None;
    for (index, resp) in responses.iter().enumerate() {
        if resp.events.is_empty() {
            promised = Some(promised.map_or(resp.header_revision, |p| p.max(resp.header_revision)));
            continue;
        }
        for ev in &resp.events {
            let rev = ev.kv.mod_revision;
            if !in_range(rec, &ev.kv.key) {
                return Err(Violation::new(
                    property("in range"),
                    format!(
                        "watcher {id} on [{:?}, {:?}) got an event for key {:?}",
                        rec.key, rec.range_end, ev.kv.key
                    ),
                )
                .with_offending([line(id, ev)]));
            }
            if rev < rec.start_revision {
                return Err(Violation::new(
                    property("resumable"),
                    format!(
                        "watcher {id} started at revision {} got an event at revision {rev}",
                        rec.start_revision
                    ),
                )
                .with_offending([line(id, ev)]));
            }
            if resp.header_revision < rev {
                return Err(Violation::new(
                    property("progress never ahead"),
                    format!(
                        "watcher {id} got a response with header revision {} carrying an event at revision {rev}",
                        resp.header_revision
                    ),
                )
                .with_offending([line(id, ev)]));
            }
            if let Some(prev) = previous {
                if rev < prev.kv.mod_revision {
                    return Err(Violation::new(
                        property("ordered"),
                        format!(
                            "watcher {id} got revision {rev} after revision {}",
                            prev.kv.mod_revision
                        ),
                    )
                    .with_offending([line(id, prev), line(id, ev)]));
                }
            }
            previous = Some(ev);
            match events.entry((rev, ev.kv.key.as_str())) {
                Entry::Occupied(seen) => {
                    return Err(Violation::new(
                        property("unique"),
                        format!(
                            "watcher {id} got key {:?} at revision {rev} twice",
                            ev.kv.key
                        ),
                    )
                    .with_offending([line(id, seen.get()), line(id, ev)]));
                }
                Entry::Vacant(slot) => {
                    slot.insert(ev);
                }
            }
            let first = *response_of.entry(rev).or_insert(index);
            if first != index {
                let earlier = responses[first]
                    .events
                    .iter()
                    .filter(|e| e.kv.mod_revision == rev)
                    .map(|e| format!("response {first}: {}", line(id, e)));
                return Err(Violation::new(
                    property("atomic"),
                    format!(
                        "watcher {id} got revision {rev} split across responses {first} and {index}"
                    ),
                )
                .with_offending(earlier.chain([format!("response {index}: {}", line(id, ev))])));
            }
            if let Some(h) = promised {
                if rev <= h {
                    return Err(Violation::new(
                        property("progress never ahead"),
                        format!(
                            "watcher {id} got revision {rev} after a progress notification at revision {h}"
                        ),
                    )
                    .with_offending([
                        format!("watcher {id} progress notification: header revision {h}"),
                        line(id, ev),
                    ]));
                }
            }
        }
    }
    let last_header = responses.last().map_or(0, |r| r.header_revision);
    let last_event = previous.map_or(0, |e| e.kv.mod_revision);
    let coverage = if responses.is_empty() {
        lower - 1
    } else {
        last_header.max(last_event)
    };
    Ok(Stream {
        rec,
        lower,
        coverage,
        events,
    })
}

/// Builds the reference history from the union of the streams, checking
/// that they agree.
fn build_reference<'a>(streams: &[Stream<'a>]) -> Result<Reference<'a>, Violation> {
    let mut reference: Reference<'a> = BTreeMap::new();
    for s in streams {
        let id = s.rec.watcher;
        for (&(rev, key), &ev) in &s.events {
            match reference.entry(rev).or_default().entry(key) {
                Entry::Vacant(slot) => {
                    slot.insert(RefEvent {
                        event: ev,
                        watcher: id,
                        with_prev: s.rec.prev_kv,
                    });
                }
                Entry::Occupied(mut seen) => {
                    let r = seen.get();
                    let differ = r.event.kind != ev.kind
                        || r.event.kv != ev.kv
                        || (r.with_prev && s.rec.prev_kv && r.event.prev_kv != ev.prev_kv);
                    if differ {
                        return Err(Violation::new(
                            property("agreement"),
                            format!(
                                "watchers {} and {id} disagree on key {key:?} at revision {rev}",
                                r.watcher
                            ),
                        )
                        .with_offending([line(r.watcher, r.event), line(id, ev)]));
                    }
                    if !r.with_prev && s.rec.prev_kv {
                        seen.insert(RefEvent {
                            event: ev,
                            watcher: id,
                            with_prev: true,
                        });
                    }
                }
            }
        }
    }
    // No split revision: a watcher that delivered a revision delivered all
    // of it that lies in its range.
    for s in streams {
        let id = s.rec.watcher;
        let mut delivered: Vec<i64> = s.events.keys().map(|&(rev, _)| rev).collect();
        delivered.dedup();
        for rev in delivered {
            let Some(at) = reference.get(&rev) else {
                continue;
            };
            for (&key, r) in at {
                if in_range(s.rec, key) && !s.events.contains_key(&(rev, key)) {
                    let mine = s
                        .events
                        .range((rev, "")..)
                        .take_while(|((r2, _), _)| *r2 == rev)
                        .map(|(_, e)| line(id, e));
                    return Err(Violation::new(
                        property("agreement"),
                        format!(
                            "revision {rev} split: watcher {id} delivered it without key {key:?}, which watcher {} delivered",
                            r.watcher
                        ),
                    )
                    .with_offending(std::iter::once(line(r.watcher, r.event)).chain(mine)));
                }
            }
        }
    }
    Ok(reference)
}

/// The writes the history acknowledged, with the revision each happened at.
fn acked_writes(history: &History) -> Vec<Acked<'_>> {
    let mut acked = Vec::new();
    for op in &history.operations {
        let Outcome::Ok(response) = &op.outcome else {
            continue;
        };
        let write = match (&op.request, response) {
            (Request::Put { key, value, lease }, Response::Put { revision }) => Acked {
                revision: *revision,
                key,
                kind: EventKind::Put,
                value: Some(value),
                lease: Some(*lease),
                op,
            },
            (
                Request::CompareAndPut { key, value, .. },
                Response::CompareAndPut {
                    revision,
                    succeeded: true,
                },
            ) => Acked {
                revision: *revision,
                key,
                kind: EventKind::Put,
                value: Some(value),
                lease: None,
                op,
            },
            (Request::Delete { key }, Response::Delete { revision, deleted }) if *deleted == 1 => {
                Acked {
                    revision: *revision,
                    key,
                    kind: EventKind::Delete,
                    value: None,
                    lease: None,
                    op,
                }
            }
            _ => continue,
        };
        acked.push(write);
    }
    acked
}

/// Checks the streams against the acknowledged writes.
fn check_acked(
    history: &History,
    streams: &[Stream<'_>],
    reference: &Reference<'_>,
) -> Result<(), Violation> {
    let acked = acked_writes(history);
    for a in &acked {
        let Some(at) = reference.get(&a.revision) else {
            continue;
        };
        for (&key, r) in at {
            if key != a.key || !a.matches(r.event) {
                return Err(Violation::new(
                    property("agrees with acked writes"),
                    format!(
                        "an event at revision {} contradicts the write acknowledged at that revision",
                        a.revision
                    ),
                )
                .with_offending([a.op.to_string(), line(r.watcher, r.event)]));
            }
        }
    }
    for a in &acked {
        for s in streams {
            if s.covers(a.revision, a.key) && !s.events.contains_key(&(a.revision, a.key)) {
                return Err(Violation::new(
                    property("agrees with acked writes"),
                    format!(
                        "watcher {} covers revision {} but never delivered the write acknowledged there",
                        s.rec.watcher, a.revision
                    ),
                )
                .with_offending([
                    a.op.to_string(),
                    format!(
                        "watcher {} covers revisions {}..={} of [{:?}, {:?})",
                        s.rec.watcher, s.lower, s.coverage, s.rec.key, s.rec.range_end
                    ),
                ]));
            }
        }
    }
    Ok(())
}

/// Checks that every watcher delivered every reference event it covers.
fn check_reliable(streams: &[Stream<'_>], reference: &Reference<'_>) -> Result<(), Violation> {
    for s in streams {
        if s.coverage < s.lower {
            continue;
        }
        for (&rev, at) in reference.range(s.lower..=s.coverage) {
            let missing: Vec<&RefEvent<'_>> = at
                .iter()
                .filter(|(&key, _)| in_range(s.rec, key) && !s.events.contains_key(&(rev, key)))
                .map(|(_, r)| r)
                .collect();
            if !missing.is_empty() {
                return Err(Violation::new(
                    property("reliable"),
                    format!(
                        "watcher {} covers revisions {}..={} but missed revision {rev}",
                        s.rec.watcher, s.lower, s.coverage
                    ),
                )
                .with_offending(missing.iter().map(|r| {
                    format!(
                        "missing from watcher {}: {}",
                        s.rec.watcher,
                        line(r.watcher, r.event)
                    )
                })));
            }
        }
    }
    Ok(())
}

/// Checks prev_kv and the kv fields of Puts against the reference.
fn check_prev_kv_and_kvs(
    streams: &[Stream<'_>],
    reference: &Reference<'_>,
) -> Result<(), Violation> {
    let mut per_key: BTreeMap<&str, BTreeMap<i64, &RefEvent<'_>>> = BTreeMap::new();
    for (&rev, at) in reference {
        for (&key, r) in at {
            per_key.entry(key).or_default().insert(rev, r);
        }
    }
    let complete = |key: &str, rev: i64| {
        streams
            .iter()
            .any(|s| s.rec.start_revision <= 1 && s.covers(rev, key))
    };
    let previous = |key: &str, rev: i64| {
        per_key
            .get(key)
            .and_then(|revs| revs.range(..rev).next_back().map(|(_, r)| *r))
    };
    for s in streams.iter().filter(|s| s.rec.prev_kv) {
        let id = s.rec.watcher;
        for (&(rev, key), &ev) in &s.events {
            if !complete(key, rev) {
                continue;
            }
            let prev = previous(key, rev);
            let expected =
                prev.and_then(|p| (p.event.kind == EventKind::Put).then_some(&p.event.kv));
            if ev.prev_kv.as_ref() != expected {
                let mut offending = vec![line(id, ev)];
                offending.extend(prev.map(|p| format!("previous: {}", line(p.watcher, p.event))));
                return Err(Violation::new(
                    property("prev_kv"),
                    format!(
                        "watcher {id} got prev_kv {:?} for key {key:?} at revision {rev}, expected {expected:?}",
                        ev.prev_kv
                    ),
                )
                .with_offending(offending));
            }
        }
    }
    for (&rev, at) in reference {
        for (&key, r) in at {
            let ev = r.event;
            if ev.kind != EventKind::Put {
                continue;
            }
            let kv = &ev.kv;
            let mut wrong = kv.version < 1
                || kv.create_revision > kv.mod_revision
                || (kv.version == 1 && kv.create_revision != kv.mod_revision);
            let mut prev = None;
            if !wrong && complete(key, rev) {
                prev = previous(key, rev);
                wrong = match prev {
                    Some(p) if p.event.kind == EventKind::Put => {
                        kv.version != p.event.kv.version + 1
                            || kv.create_revision != p.event.kv.create_revision
                    }
                    _ => kv.version != 1 || kv.create_revision != kv.mod_revision,
                };
            }
            if wrong {
                let mut offending = vec![line(r.watcher, ev)];
                offending.extend(prev.map(|p| format!("previous: {}", line(p.watcher, p.event))));
                return Err(Violation::new(
                    property("kv consistent"),
                    format!(
                        "the Put of key {key:?} at revision {rev} has version {} and create_revision {}",
                        kv.version, kv.create_revision
                    ),
                )
                .with_offending(offending));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::history::{
        EventKind, History, KeyValue, Operation, Outcome, Request, Response, WatchEvent,
        WatchRecord, WatchResponse,
    };

    fn kv(key: &str, value: &str, rev: i64, create: i64, version: i64) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            create_revision: create,
            mod_revision: rev,
            version,
            lease: 0,
        }
    }

    fn put(key: &str, value: &str, rev: i64, create: i64, version: i64) -> WatchEvent {
        WatchEvent {
            kind: EventKind::Put,
            kv: kv(key, value, rev, create, version),
            prev_kv: None,
        }
    }

    fn del(key: &str, rev: i64) -> WatchEvent {
        WatchEvent {
            kind: EventKind::Delete,
            kv: KeyValue {
                key: key.into(),
                mod_revision: rev,
                ..KeyValue::default()
            },
            prev_kv: None,
        }
    }

    fn with_prev(mut ev: WatchEvent, prev: KeyValue) -> WatchEvent {
        ev.prev_kv = Some(prev);
        ev
    }

    fn resp(header: i64, events: Vec<WatchEvent>) -> WatchResponse {
        WatchResponse {
            header_revision: header,
            events,
            compact_revision: 0,
            canceled: false,
            received_ns: 0,
        }
    }

    fn progress(header: i64) -> WatchResponse {
        resp(header, Vec::new())
    }

    fn record(
        watcher: u64,
        key: &str,
        range_end: &str,
        prev_kv: bool,
        responses: Vec<WatchResponse>,
    ) -> WatchRecord {
        WatchRecord {
            watcher,
            key: key.into(),
            range_end: range_end.into(),
            start_revision: 1,
            prev_kv,
            responses,
        }
    }

    fn acked_put(key: &str, value: &str, revision: i64) -> Operation {
        Operation {
            client: 1,
            call_ns: 0,
            return_ns: 1,
            request: Request::Put {
                key: key.into(),
                value: value.into(),
                lease: 0,
            },
            outcome: Outcome::Ok(Response::Put { revision }),
        }
    }

    fn acked_delete(key: &str, revision: i64) -> Operation {
        Operation {
            client: 2,
            call_ns: 0,
            return_ns: 1,
            request: Request::Delete { key: key.into() },
            outcome: Outcome::Ok(Response::Delete {
                revision,
                deleted: 1,
            }),
        }
    }

    /// Revision 2: put a=1; 3: put b=1; 4: put a=2; 5: delete a and b
    /// together (as a lease revoke does); 6: delete a again is not there.
    fn events_with_prev() -> Vec<WatchEvent> {
        vec![
            put("a", "1", 2, 2, 1),
            put("b", "1", 3, 3, 1),
            with_prev(put("a", "2", 4, 2, 2), kv("a", "1", 2, 2, 1)),
            with_prev(del("a", 5), kv("a", "2", 4, 2, 2)),
            with_prev(del("b", 5), kv("b", "1", 3, 3, 1)),
        ]
    }

    fn good_records() -> Vec<WatchRecord> {
        let e = events_with_prev();
        vec![
            record(
                1,
                "a",
                "c",
                true,
                vec![
                    resp(3, e[..2].to_vec()),
                    resp(4, vec![e[2].clone()]),
                    progress(4),
                    resp(5, e[3..].to_vec()),
                    progress(5),
                ],
            ),
            record(2, "a", "c", true, vec![resp(5, e.clone())]),
            record(
                3,
                "a",
                "",
                false,
                vec![
                    resp(2, vec![put("a", "1", 2, 2, 1)]),
                    progress(3),
                    resp(4, vec![put("a", "2", 4, 2, 2)]),
                    resp(5, vec![del("a", 5)]),
                ],
            ),
        ]
    }

    fn good_history() -> History {
        History {
            operations: vec![
                acked_put("a", "1", 2),
                acked_put("b", "1", 3),
                acked_put("a", "2", 4),
            ],
        }
    }

    fn property_of(history: &History, records: &[WatchRecord]) -> String {
        match check(history, records) {
            Ok(()) => "accepted".into(),
            Err(v) => {
                assert!(!v.offending.is_empty(), "no offending lines: {v}");
                v.property
            }
        }
    }

    #[test]
    fn good_history_is_accepted() {
        assert_eq!(check(&good_history(), &good_records()), Ok(()));
        assert_eq!(check(&History::default(), &good_records()), Ok(()));
        assert_eq!(check(&good_history(), &[]), Ok(()));
    }

    #[test]
    fn acked_delete_is_accepted() {
        let records = vec![record(
            1,
            "a",
            "",
            false,
            vec![
                resp(2, vec![put("a", "1", 2, 2, 1)]),
                resp(3, vec![del("a", 3)]),
            ],
        )];
        let history = History {
            operations: vec![acked_put("a", "1", 2), acked_delete("a", 3)],
        };
        assert_eq!(check(&history, &records), Ok(()));
    }

    #[test]
    fn duplicated_event_is_rejected() {
        let mut records = good_records();
        records[0].responses.push(resp(5, vec![del("a", 5)]));
        assert_eq!(property_of(&good_history(), &records), "watch: unique");
    }

    #[test]
    fn missing_event_is_rejected() {
        let mut records = good_records();
        records[1].responses[0].events.remove(1);
        assert_eq!(
            property_of(&History::default(), &records),
            "watch: reliable"
        );
    }

    #[test]
    fn reordered_events_are_rejected() {
        let mut records = good_records();
        records[1].responses[0].events.swap(1, 2);
        assert_eq!(property_of(&good_history(), &records), "watch: ordered");
    }

    #[test]
    fn revision_split_across_responses_is_rejected() {
        let mut records = good_records();
        let e = events_with_prev();
        records[1].responses = vec![resp(5, e[..4].to_vec()), resp(5, vec![e[4].clone()])];
        assert_eq!(property_of(&good_history(), &records), "watch: atomic");
    }

    #[test]
    fn split_revision_across_watchers_is_rejected() {
        let mut records = good_records();
        records[1].responses[0].events.pop();
        assert_eq!(property_of(&good_history(), &records), "watch: agreement");
    }

    #[test]
    fn disagreeing_watchers_are_rejected() {
        let mut records = good_records();
        records[2].responses[2].events[0].kv.value = "other".into();
        assert_eq!(
            property_of(&History::default(), &records),
            "watch: agreement"
        );
    }

    #[test]
    fn wrong_prev_kv_is_rejected() {
        let mut records = good_records();
        for r in &mut records[..2] {
            for resp in &mut r.responses {
                for ev in &mut resp.events {
                    if ev.kv.mod_revision == 4 {
                        ev.prev_kv = None;
                    }
                }
            }
        }
        assert_eq!(property_of(&good_history(), &records), "watch: prev_kv");
    }

    #[test]
    fn wrong_version_is_rejected() {
        let mut records = good_records();
        records[2].responses[2].events[0].kv.version = 3;
        records[2].prev_kv = false;
        let mut only = vec![records.remove(2)];
        only[0].watcher = 9;
        assert_eq!(
            property_of(&History::default(), &only),
            "watch: kv consistent"
        );
    }

    #[test]
    fn progress_notification_ahead_is_rejected() {
        let mut records = good_records();
        records[0].responses.insert(1, progress(4));
        assert_eq!(
            property_of(&good_history(), &records),
            "watch: progress never ahead"
        );
    }

    #[test]
    fn header_behind_its_events_is_rejected() {
        let mut records = good_records();
        records[1].responses[0].header_revision = 4;
        assert_eq!(
            property_of(&good_history(), &records),
            "watch: progress never ahead"
        );
    }

    #[test]
    fn lost_acknowledged_write_is_rejected() {
        let records = vec![record(
            1,
            "a",
            "",
            false,
            vec![resp(4, vec![put("a", "1", 4, 4, 1)]), progress(6)],
        )];
        let history = History {
            operations: vec![acked_put("a", "1", 4), acked_put("a", "2", 5)],
        };
        assert_eq!(
            property_of(&history, &records),
            "watch: agrees with acked writes"
        );
        // A watcher that stopped before revision 5 does not cover it.
        let short = vec![record(
            1,
            "a",
            "",
            false,
            vec![resp(4, vec![put("a", "1", 4, 4, 1)])],
        )];
        assert_eq!(check(&history, &short), Ok(()));
    }

    #[test]
    fn event_contradicting_acked_put_is_rejected() {
        let history = History {
            operations: vec![acked_put("a", "other", 2)],
        };
        assert_eq!(
            property_of(&history, &good_records()),
            "watch: agrees with acked writes"
        );
    }

    #[test]
    fn out_of_range_event_is_rejected() {
        let mut records = good_records();
        records[2].responses[0].events[0].kv.key = "b".into();
        assert_eq!(
            property_of(&History::default(), &records),
            "watch: in range"
        );
    }

    #[test]
    fn canceled_response_stops_checking() {
        let mut records = good_records();
        let mut canceled = resp(100, vec![put("a", "x", 1, 1, 1), put("a", "x", 1, 1, 1)]);
        canceled.canceled = true;
        canceled.compact_revision = 3;
        records[0].responses.insert(2, canceled);
        records[0]
            .responses
            .push(resp(90, vec![put("z", "x", 90, 90, 1)]));
        assert_eq!(check(&good_history(), &records), Ok(()));
        // Without the cancel, the same responses are a violation.
        records[0].responses[2].canceled = false;
        assert_ne!(property_of(&good_history(), &records), "accepted");
    }
}
