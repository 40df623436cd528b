//! The CRI log format the monitor writes a container's output in, one
//! line per record:
//!
//! ```text
//!   2016-10-06T00:17:09.669794202Z stdout F the line
//!   2016-10-06T00:17:09.669794202Z stderr P the first 16 KiB of a longer line
//! ```
//!
//! `F` ends a line; `P` is a part of one: a line longer than
//! [`LINE_BYTES_MAX`] is cut into parts, and output that ends without a
//! newline ends with a `P` record.

use std::io::{Read, Write};
use std::sync::Mutex;

use jiff::Timestamp;

/// The longest record, as the CRI's own runtimes cut lines (containerd's
/// default `max_container_log_line_size`).
pub const LINE_BYTES_MAX: usize = 16 * 1024;
/// How much output is read at a time.
const READ_BYTES: usize = 32 * 1024;

/// A piece of output ready to be a record: a whole line or a part of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// The bytes, without the newline.
    pub bytes: Vec<u8>,
    /// It ends a line (`F`), or not (`P`).
    pub full: bool,
}

/// Cuts a stream of output into [`Piece`]s.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Takes more output; answers the pieces it completes.
    pub fn push(&mut self, mut bytes: &[u8]) -> Vec<Piece> {
        let mut pieces = Vec::new();
        while !bytes.is_empty() {
            let room = LINE_BYTES_MAX - self.pending.len();
            let window = &bytes[..bytes.len().min(room)];
            if let Some(newline) = window.iter().position(|byte| *byte == b'\n') {
                self.pending.extend_from_slice(&window[..newline]);
                pieces.push(Piece {
                    bytes: std::mem::take(&mut self.pending),
                    full: true,
                });
                bytes = &bytes[newline + 1..];
            } else {
                self.pending.extend_from_slice(window);
                bytes = &bytes[window.len()..];
                if self.pending.len() == LINE_BYTES_MAX {
                    pieces.push(Piece {
                        bytes: std::mem::take(&mut self.pending),
                        full: false,
                    });
                }
            }
        }
        debug_assert!(self.pending.len() < LINE_BYTES_MAX);
        pieces
    }

    /// The stream ended: what is left, a part of a line.
    pub fn finish(&mut self) -> Option<Piece> {
        (!self.pending.is_empty()).then(|| Piece {
            bytes: std::mem::take(&mut self.pending),
            full: false,
        })
    }
}

/// One record of the log, with its newline.
pub fn record(at: Timestamp, stream: &str, piece: &Piece) -> Vec<u8> {
    let tag = if piece.full { 'F' } else { 'P' };
    let mut line = format!("{at:.9} {stream} {tag} ").into_bytes();
    line.extend_from_slice(&piece.bytes);
    line.push(b'\n');
    line
}

/// Copies `input` (a container's stdout or stderr, named `stream`) into
/// `log` as records until it ends. Each record is one write under the
/// lock, so the two streams' records never mix.
pub fn copy<R: Read, W: Write>(mut input: R, stream: &str, log: &Mutex<W>) -> std::io::Result<()> {
    let mut splitter = LineSplitter::default();
    let mut buffer = vec![0u8; READ_BYTES];
    loop {
        let read = match input.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        for piece in splitter.push(&buffer[..read]) {
            write_record(log, stream, &piece)?;
        }
    }
    if let Some(piece) = splitter.finish() {
        write_record(log, stream, &piece)?;
    }
    Ok(())
}

fn write_record<W: Write>(log: &Mutex<W>, stream: &str, piece: &Piece) -> std::io::Result<()> {
    let bytes = record(Timestamp::now(), stream, piece);
    // A poisoned lock is a writer that panicked mid-record: keep logging.
    let mut log = log
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    log.write_all(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full(text: &str) -> Piece {
        Piece {
            bytes: text.as_bytes().to_vec(),
            full: true,
        }
    }

    #[test]
    fn lines_split_across_reads_are_joined() {
        let mut splitter = LineSplitter::default();
        assert_eq!(splitter.push(b"hel"), vec![]);
        assert_eq!(
            splitter.push(b"lo\nworld\n\nx"),
            vec![full("hello"), full("world"), full("")]
        );
        assert_eq!(
            splitter.finish(),
            Some(Piece {
                bytes: b"x".to_vec(),
                full: false
            })
        );
        assert_eq!(splitter.finish(), None);
    }

    #[test]
    fn long_lines_are_cut_into_partial_records() {
        let mut splitter = LineSplitter::default();
        let mut input = vec![b'a'; LINE_BYTES_MAX * 2 + 5];
        input.push(b'\n');
        let pieces = splitter.push(&input);
        assert_eq!(pieces.len(), 3);
        assert!(!pieces[0].full && pieces[0].bytes.len() == LINE_BYTES_MAX);
        assert!(!pieces[1].full && pieces[1].bytes.len() == LINE_BYTES_MAX);
        assert!(pieces[2].full && pieces[2].bytes.len() == 5);
        assert_eq!(splitter.finish(), None);
    }

    #[test]
    fn a_record_is_cri_formatted() {
        let at: Timestamp = "2016-10-06T00:17:09.669794202Z".parse().unwrap();
        let line = record(at, "stdout", &full("the line"));
        assert_eq!(line, b"2016-10-06T00:17:09.669794202Z stdout F the line\n");
        let at: Timestamp = "2016-10-06T00:17:09Z".parse().unwrap();
        let line = record(
            at,
            "stderr",
            &Piece {
                bytes: b"part".to_vec(),
                full: false,
            },
        );
        assert_eq!(line, b"2016-10-06T00:17:09.000000000Z stderr P part\n");
    }
}
