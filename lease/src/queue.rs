//! A deadline queue with O(log n) insert, remove and pop of the earliest.

use std::collections::BTreeSet;

use crate::LeaseId;

/// Leases ordered by a deadline in milliseconds, ties broken by ID.
///
/// Unlike a binary heap with lazy deletion, every lease is in the queue at
/// most once: moving a deadline removes the old entry, so the queue never
/// holds more entries than there are leases, however often leases are
/// renewed. The caller remembers each lease's current deadline (it needs it
/// to remove the entry).
#[derive(Debug, Default, Clone)]
pub(crate) struct DeadlineQueue {
    entries: BTreeSet<(u64, LeaseId)>,
}

impl DeadlineQueue {
    /// Adds `id` at `deadline_ms`. Panics if that exact entry is present:
    /// the caller must remove a lease's old entry before adding a new one.
    pub(crate) fn insert(&mut self, deadline_ms: u64, id: LeaseId) {
        let fresh = self.entries.insert((deadline_ms, id));
        assert!(fresh, "lease {id} already queued at {deadline_ms}");
    }

    /// Removes the entry of `id` at `deadline_ms`. Panics if it is absent:
    /// the caller's record of the deadline disagrees with the queue.
    pub(crate) fn remove(&mut self, deadline_ms: u64, id: LeaseId) {
        let present = self.entries.remove(&(deadline_ms, id));
        assert!(present, "lease {id} not queued at {deadline_ms}");
    }

    /// Moves `id` from `old_ms` to `new_ms`.
    pub(crate) fn reschedule(&mut self, id: LeaseId, old_ms: u64, new_ms: u64) {
        self.remove(old_ms, id);
        self.insert(new_ms, id);
    }

    /// The earliest entry, if any.
    pub(crate) fn first(&self) -> Option<(u64, LeaseId)> {
        self.entries.first().copied()
    }

    /// Removes and returns the earliest entry if its deadline is at or
    /// before `now_ms`.
    pub(crate) fn pop_due(&mut self, now_ms: u64) -> Option<(u64, LeaseId)> {
        let (deadline_ms, _) = self.first()?;
        if deadline_ms > now_ms {
            return None;
        }
        self.entries.pop_first()
    }

    /// Whether `id` is queued at `deadline_ms` (for invariant checks).
    pub(crate) fn contains(&self, deadline_ms: u64, id: LeaseId) -> bool {
        self.entries.contains(&(deadline_ms, id))
    }

    /// How many entries are queued.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::DeadlineQueue;

    #[test]
    fn pops_earliest_first_and_only_when_due() {
        let mut queue = DeadlineQueue::default();
        queue.insert(20, 1);
        queue.insert(10, 2);
        queue.insert(10, 1);
        assert_eq!(queue.pop_due(9), None);
        assert_eq!(queue.pop_due(10), Some((10, 1)));
        assert_eq!(queue.pop_due(10), Some((10, 2)));
        assert_eq!(queue.pop_due(19), None);
        queue.reschedule(1, 20, 5);
        assert_eq!(queue.first(), Some((5, 1)));
        assert_eq!(queue.len(), 1);
    }

    #[test]
    #[should_panic(expected = "not queued")]
    fn removing_an_absent_entry_is_a_bug() {
        let mut queue = DeadlineQueue::default();
        queue.insert(1, 1);
        queue.remove(2, 1);
    }
}
