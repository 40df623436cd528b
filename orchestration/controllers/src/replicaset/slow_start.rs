//! Slow-start batches: creations go out in batches of 1, 2, 4, ... and stop
//! at the first batch with a failure, so a ReplicaSet over quota sends one
//! failing request rather than hundreds (`slowStartBatch` in
//! `pkg/controller/replicaset/replica_set.go`).
//!
//! ```text
//!   SlowStart::new(10): next_batch 1 ─► record ─► 2 ─► record ─► 4 ─► record ─► 3 ─► done
//!                       a batch with a failure ─► done; skipped() = never made
//! ```
//!
//! The adapter runs each batch's calls at once, records how many
//! succeeded, and lowers its creation expectations by [`SlowStart::skipped`]
//! (those pods will never show on the watch).

/// The first batch's size (Kubernetes' `SlowStartInitialBatchSize`).
pub const SLOW_START_INITIAL_BATCH: usize = 1;

/// The progress of one slow-started run of `count` calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowStart {
    remaining: usize,
    batch: usize,
    successes: usize,
    count: usize,
    failed: bool,
}

impl SlowStart {
    /// A run of `count` calls.
    pub fn new(count: usize) -> Self {
        Self {
            remaining: count,
            batch: SLOW_START_INITIAL_BATCH.min(count),
            successes: 0,
            count,
            failed: false,
        }
    }

    /// The size of the next batch, or `None` when the run is over (all
    /// done, or a batch failed).
    pub fn next_batch(&self) -> Option<usize> {
        (!self.failed && self.batch > 0).then_some(self.batch)
    }

    /// Records the outcome of the batch [`Self::next_batch`] gave:
    /// `succeeded` of its calls worked.
    pub fn record(&mut self, succeeded: usize) {
        let batch = self.batch;
        assert!(succeeded <= batch, "more successes than calls in the batch");
        self.successes += succeeded;
        self.remaining -= batch;
        if succeeded < batch {
            self.failed = true;
            return;
        }
        self.batch = (2 * batch).min(self.remaining);
    }

    /// The calls that succeeded so far.
    pub fn successes(&self) -> usize {
        self.successes
    }

    /// The calls that did not succeed: failed, or never made.
    pub fn skipped(&self) -> usize {
        self.count - self.successes
    }
}

/// The batch sizes of a run of `count` calls that all succeed.
pub fn batch_sizes(count: usize) -> Vec<usize> {
    let mut run = SlowStart::new(count);
    let mut sizes = Vec::new();
    while let Some(size) = run.next_batch() {
        sizes.push(size);
        run.record(size);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_double_up_to_what_remains() {
        assert_eq!(batch_sizes(0), Vec::<usize>::new());
        assert_eq!(batch_sizes(1), vec![1]);
        assert_eq!(batch_sizes(3), vec![1, 2]);
        assert_eq!(batch_sizes(10), vec![1, 2, 4, 3]);
        assert_eq!(batch_sizes(500), vec![1, 2, 4, 8, 16, 32, 64, 128, 245]);
    }

    #[test]
    fn the_first_batch_with_a_failure_ends_the_run() {
        let mut run = SlowStart::new(10);
        run.record(1);
        run.record(2);
        assert_eq!(run.next_batch(), Some(4));
        run.record(3);
        assert_eq!(run.next_batch(), None);
        assert_eq!(run.successes(), 6);
        assert_eq!(run.skipped(), 4, "one failed, three never made");
    }
}
