//! Segment files: naming, and the recovery scan that turns a file's bytes
//! into record offsets, cutting a torn tail and refusing corruption.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::disk::{child, read_all, Disk, DiskFile};
use crate::error::LogError;
use crate::frame::{decode, Decoded};
use crate::RecordId;

/// Suffix of segment file names.
const SEGMENT_SUFFIX: &str = ".wal";

/// An open segment: the file and where each of its records starts.
pub struct Segment {
    /// Index of the segment's first record (also in its name).
    pub first_index: u64,
    /// The file's path.
    pub path: PathBuf,
    /// The open file.
    pub file: Arc<dyn DiskFile>,
    /// Byte offset of each record; record `first_index + i` starts at
    /// `offsets[i]`.
    pub offsets: Vec<u64>,
    /// Term of the last record, if any.
    pub last_term: Option<u64>,
    /// Bytes of valid records: where the next append goes.
    pub len: u64,
}

impl Segment {
    /// Index of the last record, or `first_index - 1` when empty.
    pub fn last_index(&self) -> u64 {
        self.first_index + self.offsets.len() as u64 - 1
    }

    /// The last record's id, if any.
    pub fn last_id(&self) -> Option<RecordId> {
        self.last_term.map(|term| RecordId {
            index: self.last_index(),
            term,
        })
    }
}

/// The file name of the segment starting at `first_index`.
pub fn segment_name(first_index: u64) -> String {
    format!("{first_index:020}{SEGMENT_SUFFIX}")
}

/// The first index a segment file name encodes, if it is one.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

/// Creates an empty segment (durably, directory entry included).
pub fn create(disk: &dyn Disk, dir: &Path, first_index: u64) -> Result<Segment, LogError> {
    let path = child(dir, &segment_name(first_index));
    let file = disk.open(&path, true).map_err(|e| LogError::io(&path, e))?;
    file.set_len(0).map_err(|e| LogError::io(&path, e))?;
    file.sync_data().map_err(|e| LogError::io(&path, e))?;
    disk.sync_dir(dir).map_err(|e| LogError::io(dir, e))?;
    Ok(Segment {
        first_index,
        path,
        file,
        offsets: Vec::new(),
        last_term: None,
        len: 0,
    })
}

/// Opens and scans a segment. In the last segment (`is_last`) a torn tail
/// is cut off, durably; anywhere else, and for any checksum mismatch, the
/// scan fails with the file and offset.
pub fn recover(
    disk: &dyn Disk,
    path: &Path,
    first_index: u64,
    is_last: bool,
) -> Result<Segment, LogError> {
    let file = disk.open(path, false).map_err(|e| LogError::io(path, e))?;
    let bytes = read_all(file.as_ref()).map_err(|e| LogError::io(path, e))?;
    let corrupt = |offset: usize, reason| LogError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    };
    let mut offsets = Vec::new();
    let mut last_term = None;
    let mut at = 0;
    while at < bytes.len() {
        match decode(&bytes[at..]) {
            Decoded::Record { record, len } => {
                if record.index != first_index + offsets.len() as u64 {
                    return Err(corrupt(at, "record index out of sequence"));
                }
                if last_term.is_some_and(|term| record.term < term) {
                    return Err(corrupt(at, "record term goes backwards"));
                }
                offsets.push(at as u64);
                last_term = Some(record.term);
                at += len;
            }
            Decoded::Torn => {
                if !is_last {
                    return Err(corrupt(at, "incomplete record before the end of the log"));
                }
                file.set_len(at as u64).map_err(|e| LogError::io(path, e))?;
                file.sync_data().map_err(|e| LogError::io(path, e))?;
                break;
            }
            Decoded::Corrupt(reason) => return Err(corrupt(at, reason)),
        }
    }
    Ok(Segment {
        first_index,
        path: path.to_path_buf(),
        file,
        len: at as u64,
        offsets,
        last_term,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_index() {
        assert_eq!(parse_segment_name(&segment_name(42)), Some(42));
        assert!(segment_name(9) < segment_name(10));
        assert_eq!(parse_segment_name("meta"), None);
        assert_eq!(parse_segment_name("12.wal"), None);
    }
}
