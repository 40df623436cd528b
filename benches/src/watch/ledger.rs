//! The accounting of the watch benchmark, as plain data: when each put was
//! sent (by the revision its response reported), when each watcher received
//! each revision, and what joining the two gives: latencies, and the events
//! missing, duplicated or unexpected.
//!
//! ```text
//!  writer ──(revision, sent µs)──► PutLog ──┐
//!                                           ├─ tally ──► Tally { latencies µs, missing, duplicates, ... }
//!  stream ──(watcher, revision, µs)──► Ledger (one per stream) ┘
//! ```
//!
//! Both sides index a [`Window`] of revisions: the `puts` revisions that
//! follow the server's revision when the write phase starts. While the
//! writer is the only client writing, its puts take exactly those
//! revisions; an event outside the window, or inside it but for a revision
//! no put of ours reported, is counted as unexpected.

use std::num::NonZeroU32;

/// The revisions the write phase is expected to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first put's revision: the server's revision before it, plus one.
    pub first_revision: i64,
    /// How many puts (and so revisions).
    pub len: usize,
}

impl Window {
    /// The slot of `revision`, if it lies inside.
    fn slot(self, revision: i64) -> Option<usize> {
        let offset = usize::try_from(revision.checked_sub(self.first_revision)?).ok()?;
        (offset < self.len).then_some(offset)
    }
}

/// A time in microseconds since the run's origin, stored as receipt + 1 so
/// that 0 (none yet) costs no extra byte: `Option<NonZeroU32>` is 4 bytes.
type Stamp = Option<NonZeroU32>;

fn stamp(micros: u32) -> Stamp {
    NonZeroU32::new(micros.saturating_add(1))
}

fn unstamp(stamp: NonZeroU32) -> u32 {
    stamp.get() - 1
}

/// When each put of the write phase was sent, by revision.
#[derive(Debug, Clone)]
pub struct PutLog {
    window: Window,
    sent: Vec<Stamp>,
    /// Puts whose response reported a revision outside the window (another
    /// client wrote during the run), or a revision already reported.
    pub misplaced: u64,
}

impl PutLog {
    /// An empty log over `window`.
    pub fn new(window: Window) -> Self {
        Self {
            window,
            sent: vec![None; window.len],
            misplaced: 0,
        }
    }

    /// Put sent at `sent_micros` was answered with `revision`.
    pub fn record(&mut self, revision: i64, sent_micros: u32) {
        match self.window.slot(revision) {
            Some(slot) if self.sent[slot].is_none() => self.sent[slot] = stamp(sent_micros),
            _ => self.misplaced += 1,
        }
    }

    /// How many puts have a revision in the window.
    pub fn placed(&self) -> usize {
        self.sent.iter().filter(|sent| sent.is_some()).count()
    }
}

/// What one event did to a [`Ledger`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// First receipt of this revision by this watcher.
    New,
    /// This watcher had already received this revision.
    Duplicate,
    /// Not a revision of the window, or not a watcher of the stream.
    Unexpected,
}

/// The receipts of one stream's watchers: a `watchers × window.len` matrix
/// of 4-byte stamps, so memory is fixed when the stream opens (10,000
/// watchers × 2,000 puts is 80 MB in all).
#[derive(Debug, Clone)]
pub struct Ledger {
    window: Window,
    watchers: usize,
    receipts: Vec<Stamp>,
    /// Distinct (watcher, revision) receipts inside the window.
    pub received: u64,
    /// Receipts of a (watcher, revision) already received.
    pub duplicates: u64,
    /// Events outside the window, or for an unknown watcher.
    pub unexpected: u64,
}

impl Ledger {
    /// An empty ledger for `watchers` watchers over `window`.
    pub fn new(watchers: usize, window: Window) -> Self {
        Self {
            window,
            watchers,
            receipts: vec![None; watchers * window.len],
            received: 0,
            duplicates: 0,
            unexpected: 0,
        }
    }

    /// Watcher number `watcher` (0-based within the stream) received an
    /// event of `revision` at `micros`. The first receipt is kept.
    pub fn record(&mut self, watcher: usize, revision: i64, micros: u32) -> Recorded {
        let Some(slot) = self
            .window
            .slot(revision)
            .filter(|_| watcher < self.watchers)
        else {
            self.unexpected += 1;
            return Recorded::Unexpected;
        };
        let receipt = &mut self.receipts[watcher * self.window.len + slot];
        if receipt.is_some() {
            self.duplicates += 1;
            return Recorded::Duplicate;
        }
        *receipt = stamp(micros);
        self.received += 1;
        Recorded::New
    }

    /// An event of no watcher this stream knows, or one that is not a put.
    pub fn record_unexpected(&mut self) {
        self.unexpected += 1;
    }

    /// Whether every watcher has every revision of the window.
    pub fn is_complete(&self) -> bool {
        self.received == (self.watchers * self.window.len) as u64
    }
}

/// The outcome of a run: one latency per (watcher, put) pair delivered,
/// and the accounting of the rest.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Receipt − sent, in microseconds, one per delivered pair (unsorted).
    pub latencies_micros: Vec<u32>,
    /// Watchers × puts placed in the window.
    pub expected: u64,
    /// Pairs delivered (each counted once).
    pub delivered: u64,
    /// Expected pairs never received.
    pub missing: u64,
    /// Receipts of a pair already received.
    pub duplicates: u64,
    /// Events for no put of ours (or no watcher of ours).
    pub unexpected: u64,
    /// The latest receipt of a delivered pair, µs since the origin.
    pub last_receipt_micros: u32,
}

/// Joins the ledgers with the put log. Ledgers are consumed one at a time,
/// so the peak is one matrix plus the latencies, not both in full.
pub fn tally(ledgers: impl IntoIterator<Item = Ledger>, puts: &PutLog) -> Tally {
    let mut tally = Tally::default();
    for ledger in ledgers {
        assert_eq!(ledger.window, puts.window, "one window for the whole run");
        tally.duplicates += ledger.duplicates;
        tally.unexpected += ledger.unexpected;
        for receipts in ledger.receipts.chunks(ledger.window.len.max(1)) {
            for (receipt, sent) in receipts.iter().zip(&puts.sent) {
                match (receipt, sent) {
                    (Some(receipt), Some(sent)) => {
                        let received = unstamp(*receipt);
                        tally
                            .latencies_micros
                            .push(received.saturating_sub(unstamp(*sent)));
                        tally.last_receipt_micros = tally.last_receipt_micros.max(received);
                        tally.delivered += 1;
                    }
                    (None, Some(_)) => tally.missing += 1,
                    (Some(_), None) => tally.unexpected += 1,
                    (None, None) => {}
                }
            }
        }
        tally.expected += (ledger.watchers * puts.placed()) as u64;
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Window = Window {
        first_revision: 11,
        len: 3,
    };

    #[test]
    fn stamps_are_four_bytes_and_keep_zero() {
        assert_eq!(std::mem::size_of::<Stamp>(), 4);
        assert_eq!(stamp(0).map(unstamp), Some(0));
        assert_eq!(
            stamp(u32::MAX).map(unstamp),
            Some(u32::MAX - 1),
            "saturates"
        );
    }

    #[test]
    fn windows_place_only_their_revisions() {
        assert_eq!(WINDOW.slot(11), Some(0));
        assert_eq!(WINDOW.slot(13), Some(2));
        assert_eq!(WINDOW.slot(14), None);
        assert_eq!(WINDOW.slot(10), None);
        assert_eq!(WINDOW.slot(i64::MIN), None);
    }

    #[test]
    fn receipts_are_new_duplicate_or_unexpected() {
        let mut ledger = Ledger::new(2, WINDOW);
        assert_eq!(ledger.record(0, 11, 100), Recorded::New);
        assert_eq!(ledger.record(0, 11, 150), Recorded::Duplicate);
        assert_eq!(ledger.record(1, 11, 120), Recorded::New);
        assert_eq!(ledger.record(0, 14, 130), Recorded::Unexpected);
        assert_eq!(
            ledger.record(2, 12, 130),
            Recorded::Unexpected,
            "no such watcher"
        );
        ledger.record_unexpected();
        assert_eq!(
            (ledger.received, ledger.duplicates, ledger.unexpected),
            (2, 1, 3)
        );
        assert!(!ledger.is_complete());
        for revision in 12..=13 {
            ledger.record(0, revision, 200);
            ledger.record(1, revision, 200);
        }
        assert!(ledger.is_complete());
    }

    #[test]
    fn tally_joins_receipts_with_sends_and_counts_the_rest() {
        let mut puts = PutLog::new(WINDOW);
        puts.record(11, 1_000);
        puts.record(12, 2_000);
        // Revision 13 never reported (a failed put, say); 12 reported twice.
        puts.record(12, 2_500);
        puts.record(99, 3_000);
        assert_eq!((puts.placed(), puts.misplaced), (2, 2));

        let mut first = Ledger::new(2, WINDOW);
        first.record(0, 11, 1_500); // 500 µs
        first.record(0, 12, 2_100); // 100 µs
        first.record(0, 12, 2_200); // duplicate
        first.record(1, 11, 4_000); // 3000 µs; watcher 1 misses 12
        first.record(1, 13, 4_100); // no put of ours at 13
        let mut second = Ledger::new(1, WINDOW);
        second.record(0, 12, 2_050); // 50 µs; misses 11

        let mut tally = tally([first, second], &puts);
        tally.latencies_micros.sort_unstable();
        assert_eq!(tally.latencies_micros, vec![50, 100, 500, 3_000]);
        assert_eq!(tally.expected, 6, "3 watchers × 2 placed puts");
        assert_eq!(tally.delivered, 4);
        assert_eq!(tally.missing, 2);
        assert_eq!(tally.duplicates, 1);
        assert_eq!(tally.unexpected, 1);
        assert_eq!(tally.last_receipt_micros, 4_000);
        assert_eq!(tally.delivered + tally.missing, tally.expected);
    }

    #[test]
    fn a_receipt_before_its_send_counts_as_zero_latency() {
        let mut puts = PutLog::new(WINDOW);
        puts.record(11, 500);
        let mut ledger = Ledger::new(1, WINDOW);
        ledger.record(0, 11, 400);
        assert_eq!(tally([ledger], &puts).latencies_micros, vec![0]);
    }
}
