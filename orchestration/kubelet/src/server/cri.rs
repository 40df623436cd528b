//! The CRI log format, read back as the kubelet reads it (pure: bytes and
//! options in, bytes out).
//!
//! ```text
//!   2016-10-06T00:17:09.669794202Z stdout P hello,
//!   2016-10-06T00:17:09.669794203Z stdout F  world      ─► "hello, world\n"
//!   <RFC 3339 nanos> <stdout|stderr> <F full | P partial: the next entry continues it> <text>
//! ```
//!
//! [`LogOptions`] are the kubelet's query options (`follow`, `previous`,
//! `tailLines`, `sinceSeconds`, `sinceTime`, `timestamps`, `limitBytes`);
//! [`tail_start`] finds where the last lines begin; [`LogFormatter`] turns
//! entries into what `kubectl logs` prints.

use jiff::fmt::temporal::DateTimePrinter;
use jiff::{SignedDuration, Timestamp};

/// Which output of the container an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Its standard output.
    Stdout,
    /// Its standard error.
    Stderr,
}

/// One line of a CRI log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// When the runtime read it.
    pub time: Timestamp,
    /// Which output it comes from.
    pub stream: Stream,
    /// `P`: the line goes on in the next entry; `F`: it ends here.
    pub partial: bool,
    /// The text, without the line's end.
    pub content: &'a [u8],
}

/// Why a line of a log file is not a CRI log entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// The line ends before the named field.
    #[error("the log entry has no {0}")]
    Missing(&'static str),
    /// The time is not RFC 3339.
    #[error("the log entry's time {0:?} is not RFC 3339")]
    Time(String),
    /// The stream is neither stdout nor stderr.
    #[error("the log entry's stream {0:?} is neither stdout nor stderr")]
    Stream(String),
}

/// Parses one line of a CRI log file (without its `\n`).
pub fn parse_entry(line: &[u8]) -> Result<Entry<'_>, EntryError> {
    let mut fields = line.splitn(4, |byte| *byte == b' ');
    let time = fields.next().filter(|f| !f.is_empty());
    let time = time.ok_or(EntryError::Missing("time"))?;
    let time_text = String::from_utf8_lossy(time);
    let time = time_text
        .parse::<Timestamp>()
        .map_err(|_| EntryError::Time(time_text.clone().into_owned()))?;
    let stream = match fields.next().ok_or(EntryError::Missing("stream"))? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        other => return Err(EntryError::Stream(String::from_utf8_lossy(other).into())),
    };
    // Tags are `:`-separated; the first says full or partial.
    let tags = fields.next().ok_or(EntryError::Missing("tag"))?;
    let partial = tags.split(|byte| *byte == b':').next() == Some(b"P");
    // A full line with no text may end right after its tag.
    let content = fields.next().unwrap_or(b"");
    Ok(Entry {
        time,
        stream,
        partial,
        content,
    })
}

/// The kubelet's `PodLogOptions`, read from its query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Stream new lines as they are written, until the run has ended.
    pub follow: bool,
    /// The run before the current one.
    pub previous: bool,
    /// Prefix each line with its time (RFC 3339, nanoseconds).
    pub timestamps: bool,
    /// Only the last lines, this many.
    pub tail_lines: Option<u64>,
    /// Only lines written at or after this time (`sinceTime`, or now less
    /// `sinceSeconds`).
    pub since: Option<Timestamp>,
    /// Stop after this many bytes of output.
    pub limit_bytes: Option<u64>,
}

impl LogOptions {
    /// Reads the query's pairs as the kubelet does (Go's booleans, positive
    /// numbers), relative to `now` for `sinceSeconds`. `Err` is the
    /// message of a 400.
    pub fn from_query(query: &[(String, String)], now: Timestamp) -> Result<Self, String> {
        let mut options = Self::default();
        let mut since_seconds = None;
        let mut since_time = None;
        for (name, value) in query {
            match name.as_str() {
                "follow" => options.follow = parse_bool(name, value)?,
                "previous" => options.previous = parse_bool(name, value)?,
                "timestamps" => options.timestamps = parse_bool(name, value)?,
                "tailLines" => options.tail_lines = Some(parse_number(name, value, 0)?),
                "limitBytes" => options.limit_bytes = Some(parse_number(name, value, 1)?),
                "sinceSeconds" => since_seconds = Some(parse_number(name, value, 1)?),
                "sinceTime" => {
                    since_time = Some(value.parse::<Timestamp>().map_err(|_| {
                        format!("sinceTime: Invalid value: {value:?}: must be RFC 3339")
                    })?);
                }
                _ => {}
            }
        }
        options.since = match (since_seconds, since_time) {
            (Some(_), Some(_)) => {
                return Err("at most one of `sinceTime` or `sinceSeconds` may be specified".into())
            }
            (Some(seconds), None) => {
                let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
                Some(
                    now.checked_sub(SignedDuration::from_secs(seconds))
                        .unwrap_or(Timestamp::MIN),
                )
            }
            (None, since_time) => since_time,
        };
        Ok(options)
    }
}

/// A boolean as Go's `strconv.ParseBool` reads it (empty is true: `?follow`).
fn parse_bool(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "" | "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!(
            "{name}: Invalid value: {value:?}: must be a boolean"
        )),
    }
}

/// A whole number at least `least`.
fn parse_number(name: &str, value: &str, least: u64) -> Result<u64, String> {
    let number = value
        .parse::<i64>()
        .map_err(|_| format!("{name}: Invalid value: {value:?}: must be a number"))?;
    u64::try_from(number)
        .ok()
        .filter(|number| *number >= least)
        .ok_or_else(|| {
            if least == 0 {
                format!("{name}: Invalid value: {number}: must be greater than or equal to 0")
            } else {
                format!("{name}: Invalid value: {number}: must be greater than 0")
            }
        })
}

/// Where, in `data` (whole lines of a CRI log file), the last `lines`
/// lines begin. A line is a run of entries ending with a full one
/// (partial entries are joined); a line still partial at the end counts
/// as the last. An unreadable entry counts as a line of its own.
pub fn tail_start(data: &[u8], lines: u64) -> usize {
    // Where each line begins: at 0, and after each full entry.
    let mut starts = vec![0usize];
    let mut offset = 0;
    while let Some(newline) = data[offset..].iter().position(|byte| *byte == b'\n') {
        let end = offset + newline + 1;
        let full = parse_entry(&data[offset..end - 1]).map_or(true, |entry| !entry.partial);
        if full {
            starts.push(end);
        }
        offset = end;
    }
    // After the last full entry a line begins only if partial entries
    // follow it.
    if starts.last() == Some(&offset) {
        starts.pop();
    }
    let count = starts.len() as u64;
    if lines == 0 {
        offset
    } else if lines >= count {
        0
    } else {
        starts[(count - lines) as usize]
    }
}

/// Kubernetes' `RFC3339NanoFixed`: always nine digits of nanoseconds.
fn format_time(time: Timestamp) -> String {
    DateTimePrinter::new()
        .precision(Some(9))
        .timestamp_to_string(&time)
}

/// Turns entries into `kubectl logs` output: partial entries joined,
/// `sinceTime` and `limitBytes` applied, each line prefixed with its time
/// when asked.
#[derive(Debug, Clone)]
pub struct LogFormatter {
    timestamps: bool,
    since: Option<Timestamp>,
    bytes_left: Option<u64>,
    /// The next entry begins a line (the last one was full).
    at_line_start: bool,
}

impl LogFormatter {
    /// A formatter for `options`.
    pub fn new(options: &LogOptions) -> Self {
        Self {
            timestamps: options.timestamps,
            since: options.since,
            bytes_left: options.limit_bytes,
            at_line_start: true,
        }
    }

    /// Whether `limitBytes` has been written: nothing more will be.
    pub fn is_done(&self) -> bool {
        self.bytes_left == Some(0)
    }

    /// Appends what `entry` prints to `out`.
    pub fn write(&mut self, entry: &Entry<'_>, out: &mut Vec<u8>) {
        let starts_line = self.at_line_start;
        self.at_line_start = !entry.partial;
        if self.since.is_some_and(|since| entry.time < since) {
            return;
        }
        let mut text = Vec::with_capacity(entry.content.len() + 32);
        if self.timestamps && starts_line {
            text.extend_from_slice(format_time(entry.time).as_bytes());
            text.push(b' ');
        }
        text.extend_from_slice(entry.content);
        if !entry.partial {
            text.push(b'\n');
        }
        if let Some(left) = self.bytes_left.as_mut() {
            let kept = text.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
            text.truncate(kept);
            *left -= kept as u64;
        }
        out.extend_from_slice(&text);
    }

    /// Appends what the whole entries of `data` print to `out`, skipping
    /// unreadable ones; answers how many bytes of `data` were whole
    /// entries (the rest is a line still being written).
    pub fn write_entries(&mut self, data: &[u8], out: &mut Vec<u8>) -> usize {
        let mut consumed = 0;
        while let Some(newline) = data[consumed..].iter().position(|byte| *byte == b'\n') {
            if self.is_done() {
                break;
            }
            let line = &data[consumed..consumed + newline];
            if let Ok(entry) = parse_entry(line) {
                self.write(&entry, out);
            }
            consumed += newline + 1;
        }
        consumed
    }
}

#[cfg(test)]
mod tests;
