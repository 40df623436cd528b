//! The CRI log reading: entries, options, tail, since, limits, timestamps.

use super::*;

fn time(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn options(pairs: &[(&str, &str)]) -> Result<LogOptions, String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect();
    LogOptions::from_query(&pairs, time("2026-01-01T00:01:00Z"))
}

/// What `data` prints with `options`, from `tail_start` as the endpoint
/// reads it.
fn printed(data: &str, options: &LogOptions) -> String {
    let start = options
        .tail_lines
        .map_or(0, |lines| tail_start(data.as_bytes(), lines));
    let mut out = Vec::new();
    LogFormatter::new(options).write_entries(&data.as_bytes()[start..], &mut out);
    String::from_utf8(out).unwrap()
}

const LOG: &str = "\
2026-01-01T00:00:01.000000001Z stdout F one
2026-01-01T00:00:02Z stderr F two
2026-01-01T00:00:03.5Z stdout P thr
2026-01-01T00:00:04Z stdout F ee
2026-01-01T00:00:05Z stdout F four
";

#[test]
fn entries_are_parsed() {
    let entry = parse_entry(b"2016-10-06T00:17:09.669794202Z stdout F text with  spaces").unwrap();
    assert_eq!(entry.time, time("2016-10-06T00:17:09.669794202Z"));
    assert_eq!(entry.stream, Stream::Stdout);
    assert!(!entry.partial);
    assert_eq!(entry.content, b"text with  spaces");

    let entry = parse_entry(b"2016-10-06T00:17:09Z stderr P part").unwrap();
    assert_eq!(entry.stream, Stream::Stderr);
    assert!(entry.partial);
    // Tags after the first are ignored; an empty line may end at its tag.
    assert!(
        !parse_entry(b"2016-10-06T00:17:09Z stdout F:x ")
            .unwrap()
            .partial
    );
    assert_eq!(
        parse_entry(b"2016-10-06T00:17:09Z stdout F")
            .unwrap()
            .content,
        b""
    );

    assert_eq!(parse_entry(b""), Err(EntryError::Missing("time")));
    assert_eq!(
        parse_entry(b"2016-10-06T00:17:09Z"),
        Err(EntryError::Missing("stream"))
    );
    assert_eq!(
        parse_entry(b"yesterday stdout F x"),
        Err(EntryError::Time("yesterday".into()))
    );
    assert_eq!(
        parse_entry(b"2016-10-06T00:17:09Z stdin F x"),
        Err(EntryError::Stream("stdin".into()))
    );
}

#[test]
fn partial_entries_are_joined() {
    assert_eq!(
        printed(LOG, &LogOptions::default()),
        "one\ntwo\nthree\nfour\n"
    );
}

#[test]
fn timestamps_prefix_each_line_with_nine_digits() {
    let options = options(&[("timestamps", "true")]).unwrap();
    assert_eq!(
        printed(LOG, &options),
        "2026-01-01T00:00:01.000000001Z one\n\
         2026-01-01T00:00:02.000000000Z two\n\
         2026-01-01T00:00:03.500000000Z three\n\
         2026-01-01T00:00:05.000000000Z four\n"
    );
}

#[test]
fn tail_counts_joined_lines() {
    let tail = |lines: u64| {
        printed(
            LOG,
            &LogOptions {
                tail_lines: Some(lines),
                ..LogOptions::default()
            },
        )
    };
    assert_eq!(tail(0), "");
    assert_eq!(tail(1), "four\n");
    assert_eq!(tail(2), "three\nfour\n");
    assert_eq!(tail(4), "one\ntwo\nthree\nfour\n");
    assert_eq!(tail(10), "one\ntwo\nthree\nfour\n");
    assert_eq!(tail_start(b"", 3), 0);
    // A line still being written (partial, or not yet ended by `\n`) is
    // the last one; bytes after the last `\n` are never a line start.
    let writing =
        "2026-01-01T00:00:01Z stdout F a\n2026-01-01T00:00:02Z stdout P b\n2026-01-01T00:00:0";
    assert_eq!(tail_start(writing.as_bytes(), 1), 32);
    assert_eq!(tail_start(writing.as_bytes(), 0), 64);
}

#[test]
fn since_skips_older_lines() {
    let options = options(&[("sinceTime", "2026-01-01T00:00:03Z")]).unwrap();
    assert_eq!(printed(LOG, &options), "three\nfour\n");
    // sinceSeconds counts back from now (00:01:00 here).
    let options = options_since_seconds(57);
    assert_eq!(printed(LOG, &options), "three\nfour\n");
}

fn options_since_seconds(seconds: u64) -> LogOptions {
    options(&[("sinceSeconds", &seconds.to_string())]).unwrap()
}

#[test]
fn limit_bytes_cuts_the_output() {
    let options = options(&[("limitBytes", "6")]).unwrap();
    assert_eq!(printed(LOG, &options), "one\ntw");
    let mut formatter = LogFormatter::new(&options);
    let mut out = Vec::new();
    formatter.write_entries(LOG.as_bytes(), &mut out);
    assert!(formatter.is_done());
}

#[test]
fn write_entries_leaves_a_line_being_written() {
    let data = b"2026-01-01T00:00:01Z stdout F a\n2026-01-01T00:00:02Z std";
    let mut out = Vec::new();
    let consumed = LogFormatter::new(&LogOptions::default()).write_entries(data, &mut out);
    assert_eq!(consumed, 32);
    assert_eq!(out, b"a\n");
}

#[test]
fn options_are_read_as_the_kubelet_reads_them() {
    let read = options(&[
        ("follow", "true"),
        ("previous", "1"),
        ("timestamps", "false"),
        ("tailLines", "10"),
        ("limitBytes", "100"),
        ("container", "ignored"),
    ])
    .unwrap();
    assert_eq!(
        read,
        LogOptions {
            follow: true,
            previous: true,
            timestamps: false,
            tail_lines: Some(10),
            since: None,
            limit_bytes: Some(100),
        }
    );
    assert_eq!(
        options(&[("tailLines", "-1")]),
        Err("tailLines: Invalid value: -1: must be greater than or equal to 0".into())
    );
    assert_eq!(
        options(&[("limitBytes", "0")]),
        Err("limitBytes: Invalid value: 0: must be greater than 0".into())
    );
    assert_eq!(
        options(&[("follow", "maybe")]),
        Err("follow: Invalid value: \"maybe\": must be a boolean".into())
    );
    assert_eq!(
        options(&[("sinceSeconds", "5"), ("sinceTime", "2026-01-01T00:00:00Z")]),
        Err("at most one of `sinceTime` or `sinceSeconds` may be specified".into())
    );
}
