//! openraft's log storage over the raft-log WAL.
//!
//! Appends are written at once and acknowledged by a flusher that runs
//! group commit: it takes every append waiting for durability, fsyncs once
//! through the highest of them, and then tells openraft they are flushed.
//! So openraft keeps appending (and replicating) while an fsync is in
//! flight, and one fsync covers many appends under load.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use keel_raft_log::{LogError, RaftLog};
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::OptionalSend;

use super::codec::{
    decode_vote, encode_vote, entry_from_record, entry_to_record, log_id_of_record, record_id,
    record_index,
};
use super::{Entry, LogId, TypeConfig, Vote};

fn io_error(error: LogError) -> io::Error {
    io::Error::other(error)
}

/// An append waiting for its fsync.
struct PendingFlush {
    /// raft-log record index that must be durable.
    through: u64,
    callback: IOFlushed<TypeConfig>,
}

/// Appends that may wait for the flusher at once. openraft appends one
/// batch at a time and has at most a few batches in flight, so the bound
/// is reached only if fsync stalls; `append` then waits, which is the
/// backpressure a stalled disk should exert.
const PENDING_FLUSHES_MAX: usize = 1024;

/// openraft's `RaftLogStorage` over a [`RaftLog`].
pub struct LogStore {
    log: Arc<RaftLog>,
    flusher: tokio::sync::mpsc::Sender<PendingFlush>,
}

impl LogStore {
    /// Wraps an open log and starts its flusher.
    pub fn new(log: Arc<RaftLog>, metrics: Arc<crate::metrics::Metrics>) -> Self {
        let (flusher, pending) = tokio::sync::mpsc::channel(PENDING_FLUSHES_MAX);
        let flush_log = Arc::clone(&log);
        #[cfg(not(madsim))]
        tokio::task::spawn_blocking(move || run_flusher(&flush_log, pending, &metrics));
        #[cfg(madsim)]
        tokio::spawn(run_sim_flusher(flush_log, pending, metrics));
        Self { log, flusher }
    }

    /// The log underneath.
    pub fn log(&self) -> &Arc<RaftLog> {
        &self.log
    }
}

/// Group commit: each round takes every waiting append, syncs through the
/// highest, and completes them all. Ends when the store is dropped.
#[cfg(not(madsim))]
fn run_flusher(
    log: &RaftLog,
    mut pending: tokio::sync::mpsc::Receiver<PendingFlush>,
    metrics: &crate::metrics::Metrics,
) {
    while let Some(first) = pending.blocking_recv() {
        let round = take_round(first, &mut pending);
        let result = sync_round(log, &round, metrics);
        complete(round, &result);
    }
}

/// The flusher on the simulator: a task, whose fsync takes simulated time
/// (so a crash can land between an append and its fsync), and where the
/// injected bug [`Bug::AckBeforeFsync`](crate::bugs::Bug) acknowledges an
/// append before syncing it.
#[cfg(madsim)]
async fn run_sim_flusher(
    log: Arc<RaftLog>,
    mut pending: tokio::sync::mpsc::Receiver<PendingFlush>,
    metrics: Arc<crate::metrics::Metrics>,
) {
    use crate::bugs::{is_injected, Bug};
    while let Some(first) = pending.recv().await {
        let round = take_round(first, &mut pending);
        if is_injected(Bug::AckBeforeFsync) {
            // Acknowledged now, synced lazily: the periodic fsync of a WAL
            // that does not sync per commit.
            complete(round, &Ok(()));
            tokio::time::sleep(crate::bugs::sim_fsync_latency() * 50).await;
            let _ = log.sync_through(log.last_index());
            continue;
        }
        tokio::time::sleep(crate::bugs::sim_fsync_latency()).await;
        let result = sync_round(&log, &round, &metrics);
        complete(round, &result);
    }
}

/// `first` and every other append already waiting.
fn take_round(
    first: PendingFlush,
    pending: &mut tokio::sync::mpsc::Receiver<PendingFlush>,
) -> Vec<PendingFlush> {
    let mut round = vec![first];
    while let Ok(next) = pending.try_recv() {
        round.push(next);
    }
    round
}

/// Syncs the log through the highest append of `round`.
fn sync_round(
    log: &RaftLog,
    round: &[PendingFlush],
    metrics: &crate::metrics::Metrics,
) -> Result<(), LogError> {
    let highest = round.iter().map(|p| p.through).max().unwrap_or(0);
    // A truncation may have removed records an append wrote; syncing
    // through what is left makes the truncation's outcome durable too.
    let through = highest.min(log.last_index());
    metrics.time_wal_fsync(|| log.sync_through(through))
}

/// Tells openraft how each append of `round` ended.
fn complete(round: Vec<PendingFlush>, result: &Result<(), LogError>) {
    for flush in round {
        let outcome = match result {
            Ok(()) => Ok(()),
            Err(error) => Err(io::Error::other(error.to_string())),
        };
        flush.callback.io_completed(outcome);
    }
}

/// openraft's `RaftLogReader` over a shared [`RaftLog`].
#[derive(Clone)]
pub struct LogReader {
    log: Arc<RaftLog>,
}

impl LogReader {
    /// Entries with raft indexes in `range`, clamped to what the log holds.
    fn entries<RB: RangeBounds<u64>>(&self, range: &RB) -> io::Result<Vec<Entry>> {
        let start = match range.start_bound() {
            Bound::Included(&start) => start,
            Bound::Excluded(&start) => start + 1,
            Bound::Unbounded => 0,
        };
        // Exclusive end, as a raft index; the log's last record index is
        // one past its last raft index.
        let held_end = self.log.last_index();
        let end = match range.end_bound() {
            Bound::Included(&end) => end.saturating_add(1),
            Bound::Excluded(&end) => end,
            Bound::Unbounded => held_end,
        }
        .min(held_end);
        let first_held = self.log.first_index().saturating_sub(1);
        let start = start.max(first_held);
        if start >= end {
            return Ok(Vec::new());
        }
        let records = self
            .log
            .read(record_index(start), record_index(end))
            .map_err(io_error)?;
        records.iter().map(entry_from_record).collect()
    }
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        self.entries(&range)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.log.vote().map(|bytes| decode_vote(&bytes)).transpose()
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        self.get_log_reader().await.entries(&range)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        self.log.vote().map(|bytes| decode_vote(&bytes)).transpose()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        Ok(LogState {
            last_purged_log_id: self.log.purged().map(log_id_of_record),
            last_log_id: self.log.last_id().map(log_id_of_record),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader {
            log: Arc::clone(&self.log),
        }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        self.log.save_vote(&encode_vote(vote)).map_err(io_error)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let records: Vec<_> = entries.into_iter().map(|e| entry_to_record(&e)).collect();
        let through = self.log.append_buffered(&records).map_err(io_error)?;
        self.flusher
            .send(PendingFlush { through, callback })
            .await
            .map_err(|_| io::Error::other("the log flusher has stopped"))
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let from = last_log_id.map_or(0, |id| id.index + 1);
        let from = record_index(from).max(self.log.first_index());
        self.log.truncate_from(from).map_err(io_error)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.log.purge_through(record_id(&log_id)).map_err(io_error)
    }
}
