//! The log: appends with group commit, reads, truncation, purge, and the
//! vote / committed blobs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::disk::{child, Disk, DiskFile};
use crate::error::LogError;
use crate::frame::{self, decode, Decoded, Record};
use crate::meta::{Meta, META_TEMP_FILE};
use crate::segment::{self, parse_segment_name, Segment};
use crate::RecordId;

/// Tuning for [`RaftLog::open`].
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// A segment stops taking appends once it reaches this size. 64 MiB
    /// keeps purge granular (a purge deletes whole segments) while rolling
    /// rarely (each roll costs a file create and a directory sync).
    pub segment_bytes_max: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            segment_bytes_max: 64 << 20,
        }
    }
}

/// State behind the main lock.
struct Inner {
    segments: Vec<Segment>,
    meta: Meta,
    /// Files written since their last sync (the open segment, and one just
    /// rolled away from).
    unsynced: Vec<Arc<dyn DiskFile>>,
    /// Bumped by truncation, so a sync that started before it does not
    /// claim durability for records it removed.
    epoch: u64,
    /// Set when a write or sync failed: the bytes on disk are unknown.
    poisoned: bool,
}

impl Inner {
    /// Passes `result` through, poisoning the log if it is an error.
    fn poison_on_error<T>(&mut self, result: Result<T, LogError>) -> Result<T, LogError> {
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn first_index(&self) -> u64 {
        let after_purge = self.meta.purged.map_or(1, |id| id.index + 1);
        let first_record = self
            .segments
            .iter()
            .find(|s| !s.offsets.is_empty())
            .map_or(after_purge, |s| s.first_index);
        first_record.max(after_purge)
    }

    fn last_index(&self) -> u64 {
        let purged = self.meta.purged.map_or(0, |id| id.index);
        self.segments
            .last()
            .map_or(purged, Segment::last_index)
            .max(purged)
    }
}

/// Group-commit state, behind its own lock so appenders keep writing while
/// one of them syncs.
struct SyncState {
    /// Every record up to this index is durable.
    durable_index: u64,
    /// Whether some thread is syncing now.
    syncing: bool,
    /// Number of sync rounds run.
    rounds: u64,
}

/// A durable, segmented Raft log. See the crate docs.
///
/// Lock order: `inner`, then `sync`. `sync_through` never holds both.
pub struct RaftLog {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    options: Options,
    inner: Mutex<Inner>,
    sync: Mutex<SyncState>,
    synced: Condvar,
}

impl std::fmt::Debug for RaftLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftLog")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl RaftLog {
    /// Opens the log in `dir`, creating it if needed, and recovers it: a
    /// torn last record is cut off; any other damage refuses to open with
    /// the file and offset.
    pub fn open(disk: Arc<dyn Disk>, dir: &Path, options: Options) -> Result<Self, LogError> {
        disk.create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
        let meta = Meta::load(disk.as_ref(), dir)?;
        let names = disk.list(dir).map_err(|e| LogError::io(dir, e))?;
        if names.iter().any(|name| name == META_TEMP_FILE) {
            // A meta write that never reached its rename.
            let temp = child(dir, META_TEMP_FILE);
            disk.remove(&temp).map_err(|e| LogError::io(&temp, e))?;
        }
        let mut firsts: Vec<u64> = names
            .iter()
            .filter_map(|name| parse_segment_name(name))
            .collect();
        firsts.sort_unstable();

        let purged_index = meta.purged.map_or(0, |id| id.index);
        let mut segments: Vec<Segment> = Vec::new();
        for (position, first) in firsts.iter().enumerate() {
            let next_first = firsts.get(position + 1).copied();
            let path = child(dir, &segment::segment_name(*first));
            // A segment wholly at or below the purge point outlived a purge
            // interrupted by a crash: finish the purge.
            if next_first.is_some_and(|next| next <= purged_index + 1) {
                disk.remove(&path).map_err(|e| LogError::io(&path, e))?;
                continue;
            }
            let is_last = next_first.is_none();
            let recovered = segment::recover(disk.as_ref(), &path, *first, is_last)?;
            if let Some(previous) = segments.last() {
                if recovered.first_index != previous.last_index() + 1 {
                    return Err(LogError::Corrupt {
                        path,
                        offset: 0,
                        reason: "segment does not continue the previous one",
                    });
                }
            }
            segments.push(recovered);
        }
        // A last segment wholly at or below the purge point: a purge past
        // the last record that a crash interrupted.
        if meta.purged.is_some()
            && segments
                .last()
                .is_some_and(|last| last.last_index() <= purged_index)
        {
            let stale = segments.pop().expect("checked non-empty");
            disk.remove(&stale.path)
                .map_err(|e| LogError::io(&stale.path, e))?;
        }
        // What recovery read may still sit in the page cache only; it is
        // reported durable below, so make it so.
        if let Some(last) = segments.last() {
            last.file
                .sync_data()
                .map_err(|e| LogError::io(&last.path, e))?;
        }
        disk.sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
        let last_index = segments
            .last()
            .map_or(purged_index, Segment::last_index)
            .max(purged_index);
        Ok(Self {
            disk,
            dir: dir.to_path_buf(),
            options,
            inner: Mutex::new(Inner {
                segments,
                meta,
                unsynced: Vec::new(),
                epoch: 0,
                poisoned: false,
            }),
            sync: Mutex::new(SyncState {
                durable_index: last_index,
                syncing: false,
                rounds: 0,
            }),
            synced: Condvar::new(),
        })
    }

    /// Appends `records` and returns once they are durable. Concurrent
    /// callers share fsyncs (group commit).
    pub fn append(&self, records: &[Record]) -> Result<u64, LogError> {
        let last = self.append_buffered(records)?;
        self.sync_through(last)?;
        Ok(last)
    }

    /// Writes `records` without waiting for durability; returns the last
    /// index. Pair with [`RaftLog::sync_through`].
    pub fn append_buffered(&self, records: &[Record]) -> Result<u64, LogError> {
        let mut inner = self.inner.lock();
        if inner.poisoned {
            return Err(LogError::Poisoned);
        }
        let Some(first) = records.first() else {
            return Ok(inner.last_index());
        };
        let last_index = inner.last_index();
        for (position, record) in records.iter().enumerate() {
            let expected = last_index + 1 + position as u64;
            if record.index != expected {
                return Err(LogError::NotContiguous {
                    expected_after: expected - 1,
                    got: record.index,
                });
            }
        }
        assert_eq!(first.index, last_index + 1, "checked above");
        let needs_new_segment = inner
            .segments
            .last()
            .is_none_or(|segment| segment.len >= self.options.segment_bytes_max);
        if needs_new_segment {
            if let Some(previous) = inner.segments.last() {
                let file = Arc::clone(&previous.file);
                inner.unsynced.push(file);
            }
            let created = segment::create(self.disk.as_ref(), &self.dir, first.index);
            let created = inner.poison_on_error(created)?;
            inner.segments.push(created);
        }
        let mut buffer = Vec::with_capacity(
            records
                .iter()
                .map(|r| frame::HEADER_LEN + r.payload.len())
                .sum(),
        );
        let segment = inner
            .segments
            .last_mut()
            .expect("a segment was ensured above");
        let mut offset = segment.len;
        let mut new_offsets = Vec::with_capacity(records.len());
        for record in records {
            new_offsets.push(offset);
            let before = buffer.len();
            frame::encode(record, &mut buffer);
            offset += (buffer.len() - before) as u64;
        }
        let written = segment.file.write_all_at(segment.len, &buffer);
        let path = segment.path.clone();
        if let Err(error) = written {
            inner.poisoned = true;
            return Err(LogError::io(&path, error));
        }
        let segment = inner
            .segments
            .last_mut()
            .expect("a segment was ensured above");
        segment.offsets.extend(new_offsets);
        segment.len = offset;
        segment.last_term = records.last().map(|record| record.term);
        let file = Arc::clone(&segment.file);
        if !inner
            .unsynced
            .iter()
            .any(|pending| Arc::ptr_eq(pending, &file))
        {
            inner.unsynced.push(file);
        }
        Ok(records.last().expect("non-empty").index)
    }

    /// Blocks until every record up to `index` is durable. If no sync is
    /// running, the caller runs one for everything written so far; if one
    /// is running, the caller waits for it and checks again.
    pub fn sync_through(&self, index: u64) -> Result<(), LogError> {
        let mut state = self.sync.lock();
        loop {
            if state.durable_index >= index {
                return Ok(());
            }
            if state.syncing {
                self.synced.wait(&mut state);
                continue;
            }
            state.syncing = true;
            drop(state);
            let outcome = self.sync_round();
            state = self.sync.lock();
            state.syncing = false;
            state.rounds += 1;
            self.synced.notify_all();
            match outcome {
                Ok(Some(reached)) => state.durable_index = state.durable_index.max(reached),
                Ok(None) => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Syncs every file written since the last round. Returns the index now
    /// durable, or `None` if a truncation raced the round.
    fn sync_round(&self) -> Result<Option<u64>, LogError> {
        let (files, target, epoch) = {
            let mut inner = self.inner.lock();
            if inner.poisoned {
                return Err(LogError::Poisoned);
            }
            let target = inner.last_index();
            (std::mem::take(&mut inner.unsynced), target, inner.epoch)
        };
        for file in &files {
            if let Err(error) = file.sync_data() {
                let mut inner = self.inner.lock();
                inner.poisoned = true;
                return Err(LogError::io(&self.dir, error));
            }
        }
        let inner = self.inner.lock();
        Ok((inner.epoch == epoch).then_some(target))
    }

    /// Records `[start, end)`, checksums verified.
    pub fn read(&self, start: u64, end: u64) -> Result<Vec<Record>, LogError> {
        let inner = self.inner.lock();
        let first = inner.first_index();
        let last = inner.last_index();
        if start >= end {
            return Ok(Vec::new());
        }
        if start < first || end > last + 1 {
            let index = if start < first { start } else { end - 1 };
            return Err(LogError::OutOfRange { index, first, last });
        }
        let mut records = Vec::with_capacity((end - start) as usize);
        for segment in &inner.segments {
            if segment.offsets.is_empty()
                || segment.last_index() < start
                || segment.first_index >= end
            {
                continue;
            }
            let from = start.max(segment.first_index);
            let to = end.min(segment.last_index() + 1);
            let begin = segment.offsets[(from - segment.first_index) as usize];
            let finish = if to > segment.last_index() {
                segment.len
            } else {
                segment.offsets[(to - segment.first_index) as usize]
            };
            let mut bytes = vec![0; (finish - begin) as usize];
            segment
                .file
                .read_exact_at(begin, &mut bytes)
                .map_err(|e| LogError::io(&segment.path, e))?;
            let mut at = 0;
            for expected in from..to {
                match decode(&bytes[at..]) {
                    Decoded::Record { record, len } if record.index == expected => {
                        records.push(record);
                        at += len;
                    }
                    Decoded::Record { .. } => {
                        return Err(corrupt(
                            segment,
                            begin + at as u64,
                            "index mismatch on read",
                        ))
                    }
                    Decoded::Torn => {
                        return Err(corrupt(segment, begin + at as u64, "short record on read"))
                    }
                    Decoded::Corrupt(reason) => {
                        return Err(corrupt(segment, begin + at as u64, reason))
                    }
                }
            }
        }
        Ok(records)
    }

    /// Removes `index` and every later record, durably.
    pub fn truncate_from(&self, index: u64) -> Result<(), LogError> {
        let mut inner = self.inner.lock();
        if inner.poisoned {
            return Err(LogError::Poisoned);
        }
        let first = inner.first_index();
        let last = inner.last_index();
        if index > last {
            return Ok(());
        }
        if index < first {
            return Err(LogError::OutOfRange { index, first, last });
        }
        inner.epoch += 1;
        inner.unsynced.clear();
        // Drop whole segments from the back first, so a crash part-way
        // leaves a contiguous log.
        while inner
            .segments
            .last()
            .is_some_and(|segment| segment.first_index >= index && inner.segments.len() > 1)
        {
            let segment = inner.segments.pop().expect("checked non-empty");
            self.delete_segment(&mut inner, &segment)?;
        }
        self.sync_dir(&mut inner)?;
        let segment = inner
            .segments
            .last_mut()
            .expect("truncation keeps one segment");
        let keep = (index.max(segment.first_index) - segment.first_index) as usize;
        if keep < segment.offsets.len() {
            let new_len = segment.offsets[keep];
            segment.offsets.truncate(keep);
            segment.len = new_len;
            let path = segment.path.clone();
            let file = Arc::clone(&segment.file);
            let cut = file
                .set_len(new_len)
                .and_then(|()| file.sync_data())
                .map_err(|e| LogError::io(&path, e));
            inner.poison_on_error(cut)?;
            let segment = inner
                .segments
                .last_mut()
                .expect("truncation keeps one segment");
            segment.last_term = match keep {
                0 => None,
                _ => Some(read_term(segment, segment.last_index())?),
            };
        }
        let new_last = inner.last_index();
        let mut state = self.sync.lock();
        state.durable_index = state.durable_index.min(new_last);
        Ok(())
    }

    /// Purges every record up to and including `id.index`: reads below it
    /// fail, and whole segments below it are deleted. `id` may lie beyond
    /// the last record (after a snapshot install): the log is then empty and
    /// its next index is `id.index + 1`.
    pub fn purge_through(&self, id: RecordId) -> Result<(), LogError> {
        let mut inner = self.inner.lock();
        if inner.poisoned {
            return Err(LogError::Poisoned);
        }
        if inner
            .meta
            .purged
            .is_some_and(|purged| purged.index >= id.index)
        {
            return Ok(());
        }
        let last = inner.last_index();
        let mut meta = inner.meta.clone();
        meta.purged = Some(id);
        let stored = meta.store(self.disk.as_ref(), &self.dir);
        inner.poison_on_error(stored)?;
        inner.meta = meta;
        // Delete the segments wholly covered. If the purge passes the last
        // record, every segment goes and the next append starts a new one.
        let beyond_last = id.index >= last;
        while !inner.segments.is_empty() {
            let covered = beyond_last
                || inner
                    .segments
                    .get(1)
                    .is_some_and(|next| next.first_index <= id.index + 1);
            if !covered {
                break;
            }
            let segment = inner.segments.remove(0);
            self.delete_segment(&mut inner, &segment)?;
        }
        self.sync_dir(&mut inner)?;
        if beyond_last {
            let mut state = self.sync.lock();
            state.durable_index = state.durable_index.max(id.index);
        }
        Ok(())
    }

    /// Saves the vote durably.
    pub fn save_vote(&self, vote: &[u8]) -> Result<(), LogError> {
        self.update_meta(|meta| meta.vote = Some(vote.to_vec()))
    }

    /// The last saved vote.
    pub fn vote(&self) -> Option<Vec<u8>> {
        self.inner.lock().meta.vote.clone()
    }

    /// Saves the committed id durably.
    pub fn save_committed(&self, committed: &[u8]) -> Result<(), LogError> {
        self.update_meta(|meta| meta.committed = Some(committed.to_vec()))
    }

    /// The last saved committed id.
    pub fn committed(&self) -> Option<Vec<u8>> {
        self.inner.lock().meta.committed.clone()
    }

    /// The purge point, if anything was purged.
    pub fn purged(&self) -> Option<RecordId> {
        self.inner.lock().meta.purged
    }

    /// The first readable index (one past the purge point when the log is
    /// empty).
    pub fn first_index(&self) -> u64 {
        self.inner.lock().first_index()
    }

    /// The last record's index, or the purge point's when empty (0 when
    /// nothing was ever written).
    pub fn last_index(&self) -> u64 {
        self.inner.lock().last_index()
    }

    /// The last record's id, else the purge point, else `None`.
    pub fn last_id(&self) -> Option<RecordId> {
        let inner = self.inner.lock();
        inner
            .segments
            .iter()
            .rev()
            .find_map(Segment::last_id)
            .or(inner.meta.purged)
    }

    /// Number of group-commit sync rounds run (each syncs the written files
    /// once).
    pub fn sync_rounds(&self) -> u64 {
        self.sync.lock().rounds
    }

    /// Deletes a segment's file (durable after [`Self::sync_dir`]),
    /// poisoning the log on failure.
    fn delete_segment(&self, inner: &mut Inner, segment: &Segment) -> Result<(), LogError> {
        inner
            .unsynced
            .retain(|file| !Arc::ptr_eq(file, &segment.file));
        let removed = self
            .disk
            .remove(&segment.path)
            .map_err(|e| LogError::io(&segment.path, e));
        inner.poison_on_error(removed)
    }

    /// Makes the log directory's entries durable, poisoning the log on
    /// failure.
    fn sync_dir(&self, inner: &mut Inner) -> Result<(), LogError> {
        let synced = self
            .disk
            .sync_dir(&self.dir)
            .map_err(|e| LogError::io(&self.dir, e));
        inner.poison_on_error(synced)
    }

    fn update_meta(&self, change: impl FnOnce(&mut Meta)) -> Result<(), LogError> {
        let mut inner = self.inner.lock();
        if inner.poisoned {
            return Err(LogError::Poisoned);
        }
        let mut meta = inner.meta.clone();
        change(&mut meta);
        let stored = meta.store(self.disk.as_ref(), &self.dir);
        inner.poison_on_error(stored)?;
        inner.meta = meta;
        Ok(())
    }
}

fn corrupt(segment: &Segment, offset: u64, reason: &'static str) -> LogError {
    LogError::Corrupt {
        path: segment.path.clone(),
        offset,
        reason,
    }
}

fn read_term(segment: &Segment, index: u64) -> Result<u64, LogError> {
    let offset = segment.offsets[(index - segment.first_index) as usize];
    let mut header = [0; frame::HEADER_LEN];
    segment
        .file
        .read_exact_at(offset, &mut header)
        .map_err(|e| LogError::io(&segment.path, e))?;
    frame::header_term(&header).ok_or_else(|| corrupt(segment, offset, "header checksum mismatch"))
}
