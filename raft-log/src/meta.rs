//! The meta file: the vote, the committed id and the purge point, replaced
//! crash-atomically (write `meta.tmp`, sync it, rename over `meta`, sync the
//! directory).

use std::path::Path;

use crate::disk::{child, read_all, Disk};
use crate::error::LogError;
use crate::RecordId;

/// Name of the meta file.
pub const META_FILE: &str = "meta";
/// Name the meta file is written under before its rename.
pub const META_TEMP_FILE: &str = "meta.tmp";
const MAGIC: &[u8; 8] = b"KEELMETA";
const VERSION: u32 = 1;

/// What the meta file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// The last saved vote, opaque.
    pub vote: Option<Vec<u8>>,
    /// The last saved committed id, opaque.
    pub committed: Option<Vec<u8>>,
    /// Everything up to and including this record is purged.
    pub purged: Option<RecordId>,
}

fn put_blob(out: &mut Vec<u8>, blob: Option<&Vec<u8>>) {
    match blob {
        None => out.push(0),
        Some(bytes) => {
            out.push(1);
            out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            out.extend_from_slice(bytes);
        }
    }
}

impl Meta {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&VERSION.to_le_bytes());
        put_blob(&mut out, self.vote.as_ref());
        put_blob(&mut out, self.committed.as_ref());
        match self.purged {
            None => out.push(0),
            Some(id) => {
                out.push(1);
                out.extend_from_slice(&id.index.to_le_bytes());
                out.extend_from_slice(&id.term.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses the file's bytes; `None` if they are damaged.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
            return None;
        }
        let mut reader = Reader { bytes: body };
        if reader.take(8)? != MAGIC || reader.u32()? != VERSION {
            return None;
        }
        let vote = reader.blob()?;
        let committed = reader.blob()?;
        let purged = match reader.take(1)?[0] {
            0 => None,
            _ => Some(RecordId {
                index: reader.u64()?,
                term: reader.u64()?,
            }),
        };
        reader.bytes.is_empty().then_some(Meta {
            vote,
            committed,
            purged,
        })
    }

    /// Loads the meta file of `dir` (an absent file is an empty meta).
    pub fn load(disk: &dyn Disk, dir: &Path) -> Result<Self, LogError> {
        let path = child(dir, META_FILE);
        if !disk
            .list(dir)
            .map_err(|e| LogError::io(dir, e))?
            .iter()
            .any(|name| name == META_FILE)
        {
            return Ok(Meta::default());
        }
        let file = disk
            .open(&path, false)
            .map_err(|e| LogError::io(&path, e))?;
        let bytes = read_all(file.as_ref()).map_err(|e| LogError::io(&path, e))?;
        Meta::decode(&bytes).ok_or_else(|| LogError::Corrupt {
            path: path.clone(),
            offset: 0,
            reason: "meta file checksum or layout mismatch",
        })
    }

    /// Replaces the meta file of `dir` durably and atomically.
    pub fn store(&self, disk: &dyn Disk, dir: &Path) -> Result<(), LogError> {
        let temp = child(dir, META_TEMP_FILE);
        let bytes = self.encode();
        let file = disk.open(&temp, true).map_err(|e| LogError::io(&temp, e))?;
        file.set_len(0).map_err(|e| LogError::io(&temp, e))?;
        file.write_all_at(0, &bytes)
            .map_err(|e| LogError::io(&temp, e))?;
        file.sync_data().map_err(|e| LogError::io(&temp, e))?;
        let path = child(dir, META_FILE);
        disk.rename(&temp, &path)
            .map_err(|e| LogError::io(&path, e))?;
        disk.sync_dir(dir).map_err(|e| LogError::io(dir, e))
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.bytes.split_at_checked(n)?;
        self.bytes = rest;
        Some(head)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    /// Outer `None`: the bytes do not parse; inner `None`: no blob stored.
    #[allow(
        clippy::option_option,
        reason = "parse failure and an absent blob are different answers"
    )]
    fn blob(&mut self) -> Option<Option<Vec<u8>>> {
        if self.take(1)?[0] == 0 {
            return Some(None);
        }
        let len = self.u32()? as usize;
        Some(Some(self.take(len)?.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_every_bit_flip() {
        let meta = Meta {
            vote: Some(b"vote".to_vec()),
            committed: None,
            purged: Some(RecordId { index: 9, term: 2 }),
        };
        let bytes = meta.encode();
        assert_eq!(Meta::decode(&bytes), Some(meta));
        for offset in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[offset] ^= 0x10;
            assert_eq!(Meta::decode(&flipped), None, "flip at {offset}");
        }
    }
}
