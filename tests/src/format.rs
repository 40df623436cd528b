//! Readers for etcdctl's output formats, and the base64 its JSON uses.

/// The rows of a `-w table` output (header row first), each a list of
/// trimmed cells; the `+---+` rule lines are dropped.
///
/// ```
/// let table = "+---+----+\n| A | BB |\n+---+----+\n| 1 |  2 |\n+---+----+\n";
/// assert_eq!(keel_tests::format::table_rows(table), [["A", "BB"], ["1", "2"]]);
/// ```
pub fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|line| line.starts_with('|'))
        .map(|line| {
            let inner = line.trim_start_matches('|').trim_end_matches('|');
            inner
                .split('|')
                .map(|cell| cell.trim().to_owned())
                .collect()
        })
        .collect()
}

/// The `(name, value)` pairs of a `-w fields` output, in order, names
/// unquoted and values as printed (strings keep their quotes). The empty
/// lines that end each endpoint's block (endpoint status, hashkv, health)
/// are skipped.
///
/// ```
/// let fields = "\"Revision\" : 5\n\"Key\" : \"k\"\n";
/// assert_eq!(
///     keel_tests::format::fields(fields),
///     [("Revision".to_owned(), "5".to_owned()), ("Key".to_owned(), "\"k\"".to_owned())]
/// );
/// ```
#[track_caller]
pub fn fields(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, value) = line
                .split_once(" : ")
                .or_else(|| line.strip_suffix(" :").map(|name| (name, "")))
                .unwrap_or_else(|| panic!("not a fields line: {line:?}"));
            (name.trim_matches('"').to_owned(), value.to_owned())
        })
        .collect()
}

/// Standard base64 with padding, as Go's `encoding/json` prints `[]byte`.
///
/// ```
/// assert_eq!(keel_tests::format::base64(b"foo"), "Zm9v");
/// assert_eq!(keel_tests::format::base64(b"p/a"), "cC9h");
/// assert_eq!(keel_tests::format::base64(b"v"), "dg==");
/// ```
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let group = chunk
            .iter()
            .enumerate()
            .fold(0_u32, |group, (index, &byte)| {
                group | u32::from(byte) << (16 - 8 * index)
            });
        for position in 0..4 {
            if position <= chunk.len() {
                let sextet = (group >> (18 - 6 * position)) & 0x3f;
                text.push(char::from(ALPHABET[sextet as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// Decodes standard base64 (padding optional), as etcdctl's JSON prints
/// keys and values; `None` if `text` is not base64.
///
/// ```
/// use keel_tests::format::{base64, base64_decode};
/// assert_eq!(base64_decode("Zm9v").as_deref(), Some(&b"foo"[..]));
/// assert_eq!(base64_decode("dg==").as_deref(), Some(&b"v"[..]));
/// assert_eq!(base64_decode(&base64(b"lock/1a2b")).as_deref(), Some(&b"lock/1a2b"[..]));
/// assert_eq!(base64_decode("not base64!"), None);
/// ```
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let digits = text.trim_end_matches('=');
    if text.len() - digits.len() > 2 {
        return None;
    }
    let mut bytes = Vec::with_capacity(digits.len() * 3 / 4);
    let mut group = 0_u32;
    let mut bits = 0;
    for byte in digits.bytes() {
        let sextet = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        group = (group << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((group >> bits) as u8);
            group &= (1 << bits) - 1;
        }
    }
    Some(bytes)
}
