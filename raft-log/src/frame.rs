//! The record frame (see `FORMAT.md`):
//!
//! ```text
//! payload_len u32 ‖ index u64 ‖ term u64 ‖ payload_crc u32 ‖ header_crc u32 ‖ payload
//! ```
//!
//! The header has its own checksum, so a flipped length bit is caught as
//! corruption instead of passing for a record cut off by a crash.

/// Bytes of a frame before its payload.
pub const HEADER_LEN: usize = 28;
/// Largest payload accepted: 64 MiB, far above etcd's 1.5 MiB request limit,
/// and small enough that a corrupt length can't make recovery allocate
/// without bound.
pub const PAYLOAD_LEN_MAX: usize = 64 << 20;

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The Raft log index.
    pub index: u64,
    /// The Raft term.
    pub term: u64,
    /// Opaque bytes.
    pub payload: Vec<u8>,
}

/// Appends the frame of `record` to `out`.
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    assert!(
        record.payload.len() <= PAYLOAD_LEN_MAX,
        "payload over PAYLOAD_LEN_MAX"
    );
    let start = out.len();
    out.extend_from_slice(&(record.payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&record.index.to_le_bytes());
    out.extend_from_slice(&record.term.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&record.payload).to_le_bytes());
    let header_crc = crc32fast::hash(&out[start..start + 24]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&record.payload);
}

/// What the bytes at an offset hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A whole, valid record spanning `len` bytes.
    Record {
        /// The record.
        record: Record,
        /// Its frame length.
        len: usize,
    },
    /// The bytes end inside a frame, or the header was never written (all
    /// zeros): what a crash mid-append leaves.
    Torn,
    /// Checksums disagree: the bytes were damaged after being written.
    Corrupt(&'static str),
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// The term in a frame header, if the header's checksum holds.
pub fn header_term(header: &[u8; HEADER_LEN]) -> Option<u64> {
    (crc32fast::hash(&header[..24]) == u32_at(header, 24)).then(|| u64_at(header, 12))
}

/// Decodes the frame at the start of `bytes`.
pub fn decode(bytes: &[u8]) -> Decoded {
    if bytes.len() < HEADER_LEN {
        return Decoded::Torn;
    }
    let header = &bytes[..HEADER_LEN];
    if header.iter().all(|&byte| byte == 0) {
        return Decoded::Torn;
    }
    if crc32fast::hash(&header[..24]) != u32_at(header, 24) {
        return Decoded::Corrupt("header checksum mismatch");
    }
    let payload_len = u32_at(header, 0) as usize;
    if payload_len > PAYLOAD_LEN_MAX {
        return Decoded::Corrupt("payload length over the maximum");
    }
    let Some(payload) = bytes.get(HEADER_LEN..HEADER_LEN + payload_len) else {
        return Decoded::Torn;
    };
    if crc32fast::hash(payload) != u32_at(header, 20) {
        return Decoded::Corrupt("payload checksum mismatch");
    }
    Decoded::Record {
        record: Record {
            index: u64_at(header, 4),
            term: u64_at(header, 12),
            payload: payload.to_vec(),
        },
        len: HEADER_LEN + payload_len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            index: 7,
            term: 3,
            payload: b"payload".to_vec(),
        }
    }

    #[test]
    fn round_trips() {
        let mut bytes = Vec::new();
        encode(&record(), &mut bytes);
        assert_eq!(bytes.len(), HEADER_LEN + 7);
        assert_eq!(
            decode(&bytes),
            Decoded::Record {
                record: record(),
                len: bytes.len()
            }
        );
    }

    #[test]
    fn every_prefix_is_torn_and_every_bit_flip_is_corrupt() {
        let mut bytes = Vec::new();
        encode(&record(), &mut bytes);
        for cut in 0..bytes.len() {
            assert_eq!(
                decode(&bytes[..cut]),
                Decoded::Torn,
                "prefix of {cut} bytes"
            );
        }
        for offset in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.clone();
                flipped[offset] ^= 1 << bit;
                assert!(
                    matches!(decode(&flipped), Decoded::Corrupt(_)),
                    "flip at {offset}:{bit}"
                );
            }
        }
        assert_eq!(
            decode(&[0; HEADER_LEN + 4]),
            Decoded::Torn,
            "an unwritten header"
        );
    }
}
