//! etcdctl's four output formats, as building blocks: Go's encoding/json
//! (`json`), the `"Name" : value` lines of `fields`, tablewriter's boxes
//! (`table`), and the pieces the `simple` lines share.

use std::fmt::{Display, Write as _};
use std::time::Duration;

use base64::Engine as _;
use keel_client::proto::etcdserverpb::ResponseHeader;
use keel_client::proto::mvccpb::KeyValue;

/// etcdctl's simple lines for one key: the key, then the value.
pub fn simple_kv(kv: &KeyValue, value_only: bool) -> String {
    let mut text = String::new();
    if !value_only {
        text.push_str(&String::from_utf8_lossy(&kv.key));
        text.push('\n');
    }
    text.push_str(&String::from_utf8_lossy(&kv.value));
    text.push('\n');
    text
}

/// A JSON object written field by field in the order given, as Go's
/// encoding/json writes a struct (etcdctl's `-w json`), zero numbers and
/// empty fields left out (`omitempty`) unless written with [`Object::raw`].
#[derive(Default)]
pub struct Object(Vec<(&'static str, String)>);

impl Object {
    /// A field whose value is already JSON, written even when empty.
    pub fn raw(&mut self, name: &'static str, json: String) {
        self.0.push((name, json));
    }
    /// A number field, left out when zero.
    pub fn number<N: Display + Default + PartialEq + Copy>(
        &mut self,
        name: &'static str,
        number: N,
    ) {
        if number != N::default() {
            self.0.push((name, number.to_string()));
        }
    }
    /// A `true` field, left out when false.
    pub fn flag(&mut self, name: &'static str, set: bool) {
        if set {
            self.0.push((name, "true".into()));
        }
    }
    /// A bytes field in base64, left out when empty.
    pub fn bytes(&mut self, name: &'static str, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.0.push((name, base64_json(bytes)));
        }
    }
    /// A string field, left out when empty.
    pub fn string(&mut self, name: &'static str, text: &str) {
        if !text.is_empty() {
            self.0.push((name, quoted(text)));
        }
    }
    /// A list of strings, left out when empty.
    pub fn strings(&mut self, name: &'static str, texts: &[String]) {
        if !texts.is_empty() {
            self.0
                .push((name, array(texts.iter().map(|text| quoted(text)))));
        }
    }
    /// The response header's fields in place, as Go writes an embedded
    /// `*ResponseHeader` (clientv3's lease answers).
    pub fn flat_header(&mut self, header: Option<&ResponseHeader>) {
        let header = header.copied().unwrap_or_default();
        self.number("cluster_id", header.cluster_id);
        self.number("member_id", header.member_id);
        self.number("revision", header.revision);
        self.number("raft_term", header.raft_term);
    }
    /// The object as JSON.
    pub fn render(&self) -> String {
        let fields: Vec<String> = self
            .0
            .iter()
            .map(|(name, value)| format!("\"{name}\":{value}"))
            .collect();
        format!("{{{}}}", fields.join(","))
    }
    /// The object as one line of output.
    pub fn line(&self) -> String {
        format!("{}\n", self.render())
    }
}

/// Bytes as a JSON string in base64, as Go writes `[]byte`.
pub fn base64_json(bytes: &[u8]) -> String {
    format!(
        "\"{}\"",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A JSON string as Go's encoding/json writes it: quotes, backslashes and
/// control characters escaped, and `<`, `>`, `&` too (Go's HTML-safe
/// default).
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON array of already-JSON items.
pub fn array(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(","))
}

/// A response header as etcdctl's JSON prints it.
pub fn header_json(header: Option<&ResponseHeader>) -> String {
    let mut object = Object::default();
    object.flat_header(header);
    object.render()
}

/// A key-value pair as etcdctl's JSON prints it.
pub fn kv_json(kv: &KeyValue) -> String {
    let mut object = Object::default();
    object.bytes("key", &kv.key);
    object.number("create_revision", kv.create_revision);
    object.number("mod_revision", kv.mod_revision);
    object.number("version", kv.version);
    object.bytes("value", &kv.value);
    object.number("lease", kv.lease);
    object.render()
}

/// Bytes as Go's `%q` writes a string: printable characters as they are,
/// `\n`-style escapes, and `\x..` for other bytes (invalid UTF-8 included).
pub fn go_quoted(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if ('\u{80}'..='\u{9f}').contains(&c) => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out.push('"');
    out
}

/// etcdctl's `-w fields` lines: `"Name" : value`.
#[derive(Default)]
pub struct Fields(String);

impl Fields {
    /// A field printed as Go's `fmt.Println` prints the value.
    pub fn field(&mut self, name: &str, value: impl Display) -> &mut Self {
        let _ = writeln!(self.0, "\"{name}\" : {value}");
        self
    }
    /// A field printed as Go's `%q`.
    pub fn quoted(&mut self, name: &str, value: &[u8]) -> &mut Self {
        self.field(name, go_quoted(value))
    }
    /// The response header's four fields.
    pub fn header(&mut self, header: Option<&ResponseHeader>) -> &mut Self {
        let header = header.copied().unwrap_or_default();
        self.field("ClusterID", header.cluster_id)
            .field("MemberID", header.member_id)
            .field("Revision", header.revision)
            .field("RaftTerm", header.raft_term)
    }
    /// A key-value pair's six fields, their names prefixed (`Prev`).
    pub fn kv(&mut self, prefix: &str, kv: &KeyValue) -> &mut Self {
        self.quoted(&format!("{prefix}Key"), &kv.key)
            .field(&format!("{prefix}CreateRevision"), kv.create_revision)
            .field(&format!("{prefix}ModRevision"), kv.mod_revision)
            .field(&format!("{prefix}Version"), kv.version)
            .quoted(&format!("{prefix}Value"), &kv.value)
            .field(&format!("{prefix}Lease"), kv.lease)
    }
    /// An empty line, as etcdctl ends each member or endpoint.
    pub fn blank(&mut self) -> &mut Self {
        self.0.push('\n');
        self
    }
    /// The lines printed.
    pub fn done(&mut self) -> String {
        std::mem::take(&mut self.0)
    }
}

/// A table as etcdctl draws one with tablewriter: headers upper-cased and
/// centred, cells right-aligned, one space of padding.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|name| name.to_uppercase()).collect(),
            rows: Vec::new(),
        }
    }
    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
    /// The table drawn.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|column| {
                std::iter::once(&self.header[column])
                    .chain(self.rows.iter().filter_map(|row| row.get(column)))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut rule = String::new();
        for width in &widths {
            rule.push('+');
            rule.push_str(&"-".repeat(width + 2));
        }
        rule.push_str("+\n");
        let mut out = rule.clone();
        for (name, width) in self.header.iter().zip(&widths) {
            let gap = width - name.chars().count();
            let left = gap / 2;
            let _ = write!(
                out,
                "| {}{name}{} ",
                " ".repeat(left),
                " ".repeat(gap - left)
            );
        }
        out.push_str("|\n");
        out.push_str(&rule);
        for row in &self.rows {
            for (cell, width) in row.iter().zip(&widths) {
                let _ = write!(out, "| {cell:>width$} ");
            }
            out.push_str("|\n");
        }
        if !self.rows.is_empty() {
            out.push_str(&rule);
        }
        out
    }
}

/// A size as go-humanize's `Bytes` writes it (SI units: `20 kB`, `1.2 MB`).
pub fn human_bytes(size: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if size < 10 {
        return format!("{size} B");
    }
    let exponent = ((size as f64).ln() / 1000f64.ln()).floor() as usize;
    let exponent = exponent.min(UNITS.len() - 1);
    let value = (size as f64 / 1000f64.powi(exponent as i32) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[exponent])
    } else {
        format!("{value:.0} {}", UNITS[exponent])
    }
}

/// A duration as Go's `time.Duration.String` writes it: `3.132896ms`,
/// `1.5s`, `2m0.5s`.
pub fn go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    let trimmed = |whole: u128, fraction: u128, digits: usize, unit: &str| {
        let fraction = format!("{fraction:0digits$}");
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() {
            format!("{whole}{unit}")
        } else {
            format!("{whole}.{fraction}{unit}")
        }
    };
    match nanos {
        0 => "0s".into(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => trimmed(n / 1_000, n % 1_000, 3, "µs"),
        n if n < 1_000_000_000 => trimmed(n / 1_000_000, n % 1_000_000, 6, "ms"),
        n => {
            let seconds = n / 1_000_000_000;
            let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
            let rest = trimmed(seconds, n % 1_000_000_000, 9, "s");
            match (hours, minutes) {
                (0, 0) => rest,
                (0, m) => format!("{m}m{rest}"),
                (h, m) => format!("{h}h{m}m{rest}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_go_humanize_writes_them() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(9), "9 B");
        assert_eq!(human_bytes(20480), "20 kB");
        assert_eq!(human_bytes(1_234_567), "1.2 MB");
        assert_eq!(human_bytes(25_000_000), "25 MB");
    }

    #[test]
    fn durations_read_as_go_writes_them() {
        assert_eq!(go_duration(Duration::from_nanos(3_132_896)), "3.132896ms");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_micros(12)), "12µs");
        assert_eq!(go_duration(Duration::from_millis(120_500)), "2m0.5s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn go_quoting_escapes_what_go_escapes() {
        assert_eq!(go_quoted(b"a\"b\n"), "\"a\\\"b\\n\"");
        assert_eq!(go_quoted(b"\x01\xff"), "\"\\x01\\xff\"");
        assert_eq!(go_quoted("é".as_bytes()), "\"é\"");
    }

    #[test]
    fn tables_pad_as_tablewriter_does() {
        let mut table = Table::new(&["endpoint", "hash"]);
        table.row(vec!["127.0.0.1:42379".into(), "1827592406".into()]);
        assert_eq!(
            table.render(),
            "+-----------------+------------+\n\
             |    ENDPOINT     |    HASH    |\n\
             +-----------------+------------+\n\
             | 127.0.0.1:42379 | 1827592406 |\n\
             +-----------------+------------+\n"
        );
    }
}
