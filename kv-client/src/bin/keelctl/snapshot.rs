//! Reading a saved keel snapshot (kv-server/FORMAT.md, "Snapshot file" and
//! "Restoring") for `snapshot status`: the file, optionally followed by
//! the padding and sha256 trailer a streamed snapshot carries, is checked
//! whole before anything is reported.

use sha2::{Digest as _, Sha256};

const MAGIC: &[u8; 8] = b"KEELSNAP";
const VERSION: u32 = 1;
/// The `meta` table's tag, and the key of the store's revision in it.
const META_TABLE: u8 = 3;
const CURRENT_REVISION: &[u8] = b"current_revision";
/// Frames and trailers come in these units.
const TRAILER_BLOCK: usize = 512;
const SHA256_BYTES: usize = 32;

/// What `snapshot status` reports.
#[derive(Debug, PartialEq, Eq)]
pub struct Status {
    /// The file's own crc32 (IEEE), its last four bytes.
    pub hash: u32,
    /// The store's revision when the snapshot was taken.
    pub revision: i64,
    /// How many table entries it holds (keys' versions, change-log
    /// entries, leases, ...), as etcdctl counts every bucket's keys.
    pub total_keys: u64,
    /// The snapshot's size without the trailer.
    pub total_size: u64,
}

/// Checks `bytes` and reports what they hold.
pub fn status(bytes: &[u8]) -> Result<Status, String> {
    let body = strip_trailer(bytes)?;
    if body.len() < 12 + 1 + 8 || &body[..8] != MAGIC {
        return Err("not a keel snapshot (etcd's snapshots are bbolt files: \
                    use etcdctl snapshot status)"
            .into());
    }
    let version = u32::from_be_bytes(body[8..12].try_into().map_err(|_| "short header")?);
    if version != VERSION {
        return Err(format!(
            "keel snapshot format {version}; this keelctl reads {VERSION}"
        ));
    }
    let (content, crc) = body.split_at(body.len() - 4);
    let crc = u32::from_be_bytes(crc.try_into().map_err(|_| "short file")?);
    if crc32fast::hash(content) != crc {
        return Err("the snapshot's crc32 does not match: the file is damaged".into());
    }
    let mut at = 12;
    let mut total_keys = 0;
    let mut revision = 1;
    let damaged = || "a frame runs past the end: the file is damaged".to_string();
    loop {
        let tag = *content.get(at).ok_or_else(damaged)?;
        at += 1;
        if tag == 0 {
            break;
        }
        let length = |at: usize| -> Result<usize, String> {
            let field = content.get(at..at + 4).ok_or_else(damaged)?;
            Ok(u32::from_be_bytes(field.try_into().map_err(|_| damaged())?) as usize)
        };
        let (key_length, value_length) = (length(at)?, length(at + 4)?);
        at += 8;
        let key = content.get(at..at + key_length).ok_or_else(damaged)?;
        let value = content
            .get(at + key_length..at + key_length + value_length)
            .ok_or_else(damaged)?;
        at += key_length + value_length;
        if tag == META_TABLE && key == CURRENT_REVISION {
            revision = i64::from_be_bytes(value.try_into().map_err(|_| damaged())?);
        }
        total_keys += 1;
    }
    let metadata_length = content.len().checked_sub(at + 4).ok_or_else(damaged)?;
    let stated = u32::from_be_bytes(
        content[content.len() - 4..]
            .try_into()
            .map_err(|_| damaged())?,
    ) as usize;
    if stated != metadata_length {
        return Err("the metadata's length does not match: the file is damaged".into());
    }
    Ok(Status {
        hash: crc,
        revision,
        total_keys,
        total_size: body.len() as u64,
    })
}

/// The snapshot without its trailer, checked, when it has one (a multiple
/// of 512 bytes plus a sha256, as keeld streams it); the bytes as they are
/// otherwise (a file from a member's `snap` directory).
fn strip_trailer(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < SHA256_BYTES + 4 || !(bytes.len() - SHA256_BYTES).is_multiple_of(TRAILER_BLOCK)
    {
        return Ok(bytes);
    }
    let (padded, digest) = bytes.split_at(bytes.len() - SHA256_BYTES);
    if Sha256::digest(padded).as_slice() != digest {
        if bytes.starts_with(MAGIC) {
            return Err("the sha256 trailer does not match: the file is damaged".into());
        }
        return Ok(bytes);
    }
    let (rest, zeros) = padded.split_at(padded.len() - 4);
    let zeros = u32::from_be_bytes(zeros.try_into().map_err(|_| "short trailer")?) as usize;
    rest.len()
        .checked_sub(zeros)
        .map(|length| &rest[..length])
        .ok_or_else(|| "the trailer's padding is longer than the file".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot of one meta entry (revision 7) and one other entry.
    fn snapshot() -> Vec<u8> {
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&VERSION.to_be_bytes());
        for (tag, key, value) in [
            (1u8, b"k".as_slice(), b"v".as_slice()),
            (META_TABLE, CURRENT_REVISION, &7i64.to_be_bytes()),
        ] {
            file.push(tag);
            file.extend_from_slice(&(key.len() as u32).to_be_bytes());
            file.extend_from_slice(&(value.len() as u32).to_be_bytes());
            file.extend_from_slice(key);
            file.extend_from_slice(value);
        }
        file.push(0);
        file.extend_from_slice(b"meta");
        file.extend_from_slice(&4u32.to_be_bytes());
        let crc = crc32fast::hash(&file);
        file.extend_from_slice(&crc.to_be_bytes());
        file
    }

    /// `file` with the trailer keeld streams after it.
    fn with_trailer(file: &[u8]) -> Vec<u8> {
        let zeros = (TRAILER_BLOCK - (file.len() + 4) % TRAILER_BLOCK) % TRAILER_BLOCK;
        let mut out = file.to_vec();
        out.resize(file.len() + zeros, 0);
        out.extend_from_slice(&(zeros as u32).to_be_bytes());
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    #[test]
    fn a_snapshot_reports_its_revision_and_entries() {
        let file = snapshot();
        let expected = Status {
            hash: crc32fast::hash(&file[..file.len() - 4]),
            revision: 7,
            total_keys: 2,
            total_size: file.len() as u64,
        };
        assert_eq!(status(&file), Ok(expected));
        let streamed = with_trailer(&file);
        assert_eq!(status(&streamed).unwrap().total_size, file.len() as u64);
    }

    #[test]
    fn damage_is_refused() {
        let mut file = snapshot();
        file[14] ^= 1;
        assert!(status(&file).unwrap_err().contains("crc32"));
        let mut streamed = with_trailer(&snapshot());
        streamed[20] ^= 1;
        assert!(status(&streamed).unwrap_err().contains("sha256"));
        assert!(status(b"bbolt file")
            .unwrap_err()
            .contains("not a keel snapshot"));
    }
}
