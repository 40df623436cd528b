//! etcd's `(key, range_end)` convention as a type.

/// The keys a `(key, range_end)` pair names:
/// - `range_end` empty: the single key `key`;
/// - `range_end == [0]`: every key `>= key`;
/// - otherwise `[key, range_end)`, empty when `range_end <= key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRange {
    /// First key in the range.
    pub start: Vec<u8>,
    /// The end bound.
    pub end: RangeEnd,
}

/// Where a [`KeyRange`] stops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeEnd {
    /// Only `start` itself.
    Single,
    /// Every key `>= start`.
    Unbounded,
    /// Keys `< end`.
    Before(Vec<u8>),
}

impl KeyRange {
    /// Reads etcd's convention.
    pub fn new(key: &[u8], range_end: &[u8]) -> Self {
        let end = match range_end {
            [] => RangeEnd::Single,
            [0] => RangeEnd::Unbounded,
            end => RangeEnd::Before(end.to_vec()),
        };
        Self {
            start: key.to_vec(),
            end,
        }
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && !self.is_past_end(key)
    }

    /// Whether `key` (assumed `>= start`) lies beyond the range's end.
    pub fn is_past_end(&self, key: &[u8]) -> bool {
        match &self.end {
            RangeEnd::Single => key != self.start.as_slice(),
            RangeEnd::Unbounded => false,
            RangeEnd::Before(end) => key >= end.as_slice(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_etcds_range_end_convention() {
        let single = KeyRange::new(b"b", b"");
        assert!(single.contains(b"b"));
        assert!(!single.contains(b"b\0"));
        let from = KeyRange::new(b"b", b"\0");
        assert!(from.contains(b"b") && from.contains(b"\xff\xff"));
        assert!(!from.contains(b"a"));
        let half_open = KeyRange::new(b"b", b"d");
        assert!(half_open.contains(b"c\xff"));
        assert!(!half_open.contains(b"d"));
        let backwards = KeyRange::new(b"d", b"b");
        assert!(!backwards.contains(b"d"));
    }
}
