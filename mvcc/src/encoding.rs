//! Byte layouts of the three tables. `mvcc/FORMAT.md` is the spec; this file
//! is its only implementation.
//!
//! ```text
//! versions:  escape(key) ‖ 0x00 0x00 ‖ !main (u64 BE) ‖ !sub (u64 BE)
//!            → flags u8 ‖ create_revision i64 BE ‖ version i64 BE ‖ lease i64 BE ‖ value
//! revisions: main (u64 BE) ‖ sub (u64 BE) → kind u8 ‖ key
//! meta:      ASCII name → value (see `META_*`)
//! ```
//!
//! `escape` doubles every 0x00 as 0x00 0xFF and the key ends with 0x00 0x00,
//! so byte order of encoded keys equals byte order of user keys, no key's
//! encoding is a prefix of another's, and all versions of one key are
//! contiguous. Revisions are stored inverted so the newest version of a key
//! comes first: "latest version at or below revision R" is one seek.

use crate::backend::BackendError;
use crate::types::{KeyValue, LeaseRecord, Revision};

/// Bytes after the escaped key in a `versions` key: the terminator and the
/// inverted revision.
const REVISION_SUFFIX_LEN: usize = 2 + 16;
/// Bytes before the value in a `versions` value.
const RECORD_HEADER_LEN: usize = 1 + 8 + 8 + 8;
/// `flags` bit: this version is a deletion tombstone.
const FLAG_TOMBSTONE: u8 = 1;

/// Meta key: the current main revision (i64 BE).
pub const META_CURRENT_REVISION: &[u8] = b"current_revision";
/// Meta key: the compacted main revision (i64 BE).
pub const META_COMPACTED_REVISION: &[u8] = b"compacted_revision";
/// Meta key: the caller's metadata of the last applied command.
pub const META_APPLIED: &[u8] = b"applied";
/// Meta key: present while [`crate::Store::import`] is replacing the
/// content; a store that still holds it was cut off mid-import.
pub const META_IMPORTING: &[u8] = b"importing";

/// Appends the order-preserving escape of `key` and its terminator.
fn escape_into(key: &[u8], out: &mut Vec<u8>) {
    for &byte in key {
        out.push(byte);
        if byte == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

/// The `versions` key prefix shared by all versions of `key`.
pub fn key_prefix(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + REVISION_SUFFIX_LEN);
    escape_into(key, &mut out);
    out
}

/// The `versions` key of `key` at `revision`.
pub fn version_key(key: &[u8], revision: Revision) -> Vec<u8> {
    let mut out = key_prefix(key);
    push_inverted(&mut out, revision);
    out
}

/// The `versions` key at which a scan of `key` finds its newest version with
/// main revision `<= main`.
pub fn version_seek_key(key: &[u8], main: i64) -> Vec<u8> {
    version_key(
        key,
        Revision {
            main,
            sub: i64::MAX,
        },
    )
}

/// The smallest `versions` key greater than every version of `key`.
pub fn after_key(key: &[u8]) -> Vec<u8> {
    version_seek_key(key, 0)
}

/// Where a scan of the key range starting at `key` begins.
pub fn range_start(key: &[u8]) -> Vec<u8> {
    key_prefix(key)
}

fn push_inverted(out: &mut Vec<u8>, revision: Revision) {
    out.extend_from_slice(&(!(revision.main as u64)).to_be_bytes());
    out.extend_from_slice(&(!(revision.sub as u64)).to_be_bytes());
}

/// Splits a `versions` key into the user key and the revision.
pub fn decode_version_key(encoded: &[u8]) -> Result<(Vec<u8>, Revision), BackendError> {
    let corrupt = || BackendError::Corrupt(format!("bad version key {encoded:02x?}"));
    if encoded.len() < REVISION_SUFFIX_LEN {
        return Err(corrupt());
    }
    let (escaped, inverted) = encoded.split_at(encoded.len() - 16);
    let mut key = Vec::with_capacity(escaped.len());
    let mut bytes = escaped.iter();
    loop {
        match bytes.next() {
            Some(0) => match bytes.next() {
                Some(0xFF) => key.push(0),
                Some(0) if bytes.as_slice().is_empty() => break,
                _ => return Err(corrupt()),
            },
            Some(&byte) => key.push(byte),
            None => return Err(corrupt()),
        }
    }
    let main = !u64::from_be_bytes(inverted[..8].try_into().map_err(|_| corrupt())?);
    let sub = !u64::from_be_bytes(inverted[8..].try_into().map_err(|_| corrupt())?);
    Ok((
        key,
        Revision {
            main: main as i64,
            sub: sub as i64,
        },
    ))
}

/// One stored version: a live value or a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// The key holds this value from the version's revision on.
    Live(KeyValue),
    /// The key was deleted at this revision.
    Tombstone,
}

/// Encodes a `versions` value. The key and mod revision live in the key.
pub fn encode_version(version: &Version) -> Vec<u8> {
    match version {
        Version::Tombstone => {
            let mut out = vec![FLAG_TOMBSTONE];
            out.extend_from_slice(&[0; RECORD_HEADER_LEN - 1]);
            out
        }
        Version::Live(kv) => {
            let mut out = Vec::with_capacity(RECORD_HEADER_LEN + kv.value.len());
            out.push(0);
            out.extend_from_slice(&kv.create_revision.to_be_bytes());
            out.extend_from_slice(&kv.version.to_be_bytes());
            out.extend_from_slice(&kv.lease.to_be_bytes());
            out.extend_from_slice(&kv.value);
            out
        }
    }
}

/// What a version decodes to, given the key and revision from its key.
/// With `with_value` false the value is left empty (keys-only and counting
/// reads skip the copy).
pub fn decode_version(
    key: Vec<u8>,
    mod_revision: i64,
    bytes: &[u8],
    with_value: bool,
) -> Result<Version, BackendError> {
    if bytes.len() < RECORD_HEADER_LEN {
        return Err(BackendError::Corrupt(format!(
            "version record of {} bytes",
            bytes.len()
        )));
    }
    if bytes[0] & FLAG_TOMBSTONE != 0 {
        return Ok(Version::Tombstone);
    }
    let field = |at: usize| {
        // The slice is exactly 8 bytes: the length was checked above.
        i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8-byte field"))
    };
    Ok(Version::Live(KeyValue {
        key,
        create_revision: field(1),
        mod_revision,
        version: field(9),
        lease: field(17),
        value: if with_value {
            bytes[RECORD_HEADER_LEN..].to_vec()
        } else {
            Vec::new()
        },
    }))
}

/// The kind of change a `revisions` entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A put.
    Put = 0,
    /// A deletion.
    Delete = 1,
}

/// Encodes a `revisions` key.
pub fn revision_key(revision: Revision) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&(revision.main as u64).to_be_bytes());
    out.extend_from_slice(&(revision.sub as u64).to_be_bytes());
    out
}

/// Decodes a `revisions` key.
pub fn decode_revision_key(bytes: &[u8]) -> Result<Revision, BackendError> {
    let corrupt = || BackendError::Corrupt(format!("bad revision key {bytes:02x?}"));
    if bytes.len() != 16 {
        return Err(corrupt());
    }
    let main = u64::from_be_bytes(bytes[..8].try_into().map_err(|_| corrupt())?);
    let sub = u64::from_be_bytes(bytes[8..].try_into().map_err(|_| corrupt())?);
    Ok(Revision {
        main: main as i64,
        sub: sub as i64,
    })
}

/// Encodes a `revisions` value.
pub fn encode_change(kind: ChangeKind, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + key.len());
    out.push(kind as u8);
    out.extend_from_slice(key);
    out
}

/// Decodes a `revisions` value.
pub fn decode_change(bytes: &[u8]) -> Result<(ChangeKind, &[u8]), BackendError> {
    match bytes.split_first() {
        Some((0, key)) => Ok((ChangeKind::Put, key)),
        Some((1, key)) => Ok((ChangeKind::Delete, key)),
        _ => Err(BackendError::Corrupt(format!("bad change {bytes:02x?}"))),
    }
}

/// The `leases` key of lease `id` (also the prefix of its `lease_keys`
/// entries): the ID with its sign bit flipped, big-endian, so keys sort in
/// ID order.
pub fn lease_key(id: i64) -> [u8; 8] {
    ((id as u64) ^ (1 << 63)).to_be_bytes()
}

fn decode_lease_id(bytes: &[u8]) -> Result<i64, BackendError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| BackendError::Corrupt(format!("bad lease id {bytes:02x?}")))?;
    Ok((u64::from_be_bytes(array) ^ (1 << 63)) as i64)
}

/// Encodes a `leases` value: granted TTL ‖ remaining TTL (i64 BE each).
pub fn encode_lease(record: &LeaseRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&record.granted_ttl_secs.to_be_bytes());
    out.extend_from_slice(&record.remaining_ttl_secs.to_be_bytes());
    out
}

/// Decodes a `leases` entry.
pub fn decode_lease(key: &[u8], value: &[u8]) -> Result<LeaseRecord, BackendError> {
    let id = decode_lease_id(key)?;
    if value.len() != 16 {
        return Err(BackendError::Corrupt(format!(
            "lease {id:x}: record of {} bytes",
            value.len()
        )));
    }
    Ok(LeaseRecord {
        id,
        granted_ttl_secs: decode_i64(&value[..8])?,
        remaining_ttl_secs: decode_i64(&value[8..])?,
    })
}

/// The `lease_keys` key recording that `key` is attached to lease `id`.
pub fn lease_attachment_key(id: i64, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&lease_key(id));
    out.extend_from_slice(key);
    out
}

/// Splits a `lease_keys` key into the lease ID and the user key.
pub fn decode_lease_attachment_key(bytes: &[u8]) -> Result<(i64, &[u8]), BackendError> {
    if bytes.len() < 8 {
        return Err(BackendError::Corrupt(format!(
            "bad lease attachment {bytes:02x?}"
        )));
    }
    let (id, key) = bytes.split_at(8);
    Ok((decode_lease_id(id)?, key))
}

/// Encodes an i64 meta value.
pub fn encode_i64(value: i64) -> Vec<u8> {
    value.to_be_bytes().to_vec()
}

/// Decodes an i64 meta value.
pub fn decode_i64(bytes: &[u8]) -> Result<i64, BackendError> {
    let array: [u8; 8] = bytes
        .try_into()
        .map_err(|_| BackendError::Corrupt(format!("bad i64 {bytes:02x?}")))?;
    Ok(i64::from_be_bytes(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(main: i64, sub: i64) -> Revision {
        Revision { main, sub }
    }

    #[test]
    fn escaped_keys_keep_byte_order_and_never_prefix_each_other() {
        let keys: Vec<&[u8]> = vec![
            b"",
            b"\0",
            b"\0\0",
            b"\0\x01",
            b"a",
            b"a\0",
            b"a\0b",
            b"a\x01",
            b"ab",
            b"\xff",
            b"\xff\xff",
        ];
        for pair in keys.windows(2) {
            assert!(pair[0] < pair[1]);
            let (low, high) = (
                version_key(pair[0], rev(1, 0)),
                version_key(pair[1], rev(1, 0)),
            );
            assert!(low < high, "{:?} vs {:?}", pair[0], pair[1]);
            // Every version of the lower key sorts before every version of the higher.
            assert!(after_key(pair[0]) <= version_key(pair[1], rev(i64::MAX, i64::MAX)));
        }
    }

    #[test]
    fn newer_versions_sort_first_and_seek_finds_latest_at_or_below() {
        let newer = version_key(b"k", rev(5, 0));
        let older = version_key(b"k", rev(4, 3));
        assert!(newer < older);
        assert!(version_seek_key(b"k", 5) <= newer);
        assert!(version_seek_key(b"k", 4) > newer);
        assert!(version_seek_key(b"k", 4) <= older);
        assert!(after_key(b"k") > older);
    }

    #[test]
    fn version_keys_round_trip() {
        for key in [&b""[..], b"\0", b"a\0\0b", b"\xff\0"] {
            let encoded = version_key(key, rev(42, 7));
            assert_eq!(
                decode_version_key(&encoded).unwrap(),
                (key.to_vec(), rev(42, 7))
            );
        }
        assert!(decode_version_key(b"short").is_err());
    }

    #[test]
    fn records_round_trip() {
        let kv = KeyValue {
            key: b"k".to_vec(),
            create_revision: 3,
            mod_revision: 9,
            version: 4,
            lease: 77,
            value: b"value".to_vec(),
        };
        let bytes = encode_version(&Version::Live(kv.clone()));
        assert_eq!(
            decode_version(b"k".to_vec(), 9, &bytes, true).unwrap(),
            Version::Live(kv)
        );
        let tomb = encode_version(&Version::Tombstone);
        assert_eq!(
            decode_version(b"k".to_vec(), 9, &tomb, true).unwrap(),
            Version::Tombstone
        );
        assert!(decode_version(b"k".to_vec(), 9, &[0, 1], true).is_err());
        let change = encode_change(ChangeKind::Delete, b"key");
        assert_eq!(
            decode_change(&change).unwrap(),
            (ChangeKind::Delete, &b"key"[..])
        );
        assert_eq!(
            decode_revision_key(&revision_key(rev(9, 2))).unwrap(),
            rev(9, 2)
        );
    }

    #[test]
    fn lease_keys_sort_by_id_and_round_trip() {
        let ids = [i64::MIN, -5, -1, 1, 2, 0x694d_0000, i64::MAX];
        for pair in ids.windows(2) {
            assert!(lease_key(pair[0]) < lease_key(pair[1]));
        }
        let record = LeaseRecord {
            id: 0x694d_71dd_bfb1_a10a,
            granted_ttl_secs: 60,
            remaining_ttl_secs: 42,
        };
        assert_eq!(
            decode_lease(&lease_key(record.id), &encode_lease(&record)).unwrap(),
            record
        );
        assert!(decode_lease(&lease_key(1), &[0; 15]).is_err());
        let attachment = lease_attachment_key(-7, b"k\0ey");
        assert_eq!(
            decode_lease_attachment_key(&attachment).unwrap(),
            (-7, &b"k\0ey"[..])
        );
        // Every attachment of a lease sorts after its record key and before
        // the next lease's.
        assert!(attachment.as_slice() > &lease_key(-7)[..]);
        assert!(attachment.as_slice() < &lease_key(-6)[..]);
    }
}
