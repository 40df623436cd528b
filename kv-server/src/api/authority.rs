//! Tolerating grpc-go clients that put a URL in `:authority`.
//!
//! etcd 3.4's clientv3 dials an endpoint given with a scheme
//! (`etcdctl --endpoints=http://127.0.0.1:2379`, and every `--cluster`
//! command, which dials the members' advertised client URLs) with the whole
//! URL as the HTTP/2 `:authority`. grpc-go's server accepts that; the Rust
//! HTTP/2 stack (h2, under hyper and tonic) resets the stream as malformed
//! (`PROTOCOL_ERROR`), and its maintainers keep it strict (hyperium/h2#525).
//!
//! So keeld reads each client connection through [`AuthorityFix`], which
//! rewrites the header blocks the client sends before h2 sees them:
//!
//! ```text
//!  client bytes ─► preface ─► frames ──┬─ HEADERS / CONTINUATION: collect one header block
//!                                      │     HPACK-decode (the client's dynamic table)
//!                                      │     ":authority: http://h:p/" → ":authority: h:p"
//!                                      │     HPACK-encode (h2's dynamic table) ─► HEADERS [+ CONTINUATION]
//!                                      └─ any other frame: as it is ──────────────────────► h2
//!  server bytes ◄──────────────────────────── as they are ◄─────────────────────────────── h2
//! ```
//!
//! Every header block is re-encoded, not only the ones it changes: the
//! two HPACK contexts (client → fix, fix → h2) are then each consistent by
//! construction. Both use HPACK's default table size of 4096 bytes, the
//! only size keeld's HTTP/2 server ever advertises.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, BytesMut};
use loona_hpack::{Decoder, Encoder};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE_LEN: usize = 24;
/// Bytes of an HTTP/2 frame header.
const FRAME_HEADER_LEN: usize = 9;
/// Frames this layer writes towards h2 carry at most this much payload:
/// HTTP/2's default SETTINGS_MAX_FRAME_SIZE, which every server accepts.
const OUT_FRAME_PAYLOAD_MAX: usize = 16_384;
/// A header block being collected may not grow past this (a client that
/// sends endless CONTINUATION frames is cut off; h2's own limit on the
/// decoded header list is 16 KiB by default).
const HEADER_BLOCK_BYTES_MAX: usize = 1 << 20;
/// Bytes read from the socket per read call.
const READ_CHUNK: usize = 16 << 10;

const TYPE_HEADERS: u8 = 0x1;
const TYPE_CONTINUATION: u8 = 0x9;
const FLAG_END_STREAM: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;

/// A header block whose CONTINUATION frames are still coming.
struct Pending {
    stream_id: u32,
    end_stream: bool,
    priority: Option<[u8; 5]>,
    block: Vec<u8>,
}

/// The rewriting state of one connection.
struct Rewriter {
    preface_left: usize,
    input: BytesMut,
    output: BytesMut,
    pending: Option<Pending>,
    decoder: Decoder<'static>,
    encoder: Encoder<'static>,
}

fn protocol_error(reason: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("HTTP/2 from client: {reason}"),
    )
}

/// The value `:authority` should have had: the URL's host and port when it
/// was a URL, the value itself when it was already fine, or `None` (drop the
/// header: h2 accepts a request without one) when nothing usable is left.
pub fn fixed_authority(value: &[u8]) -> Option<Vec<u8>> {
    if http::uri::Authority::try_from(value).is_ok() {
        return Some(value.to_vec());
    }
    let text = std::str::from_utf8(value).ok()?;
    let without_scheme = text.split_once("://").map_or(text, |(_, rest)| rest);
    let host_port = without_scheme.split('/').next().unwrap_or_default();
    http::uri::Authority::try_from(host_port)
        .ok()
        .map(|authority| authority.as_str().as_bytes().to_vec())
}

impl Rewriter {
    fn new() -> Self {
        Self {
            preface_left: PREFACE_LEN,
            input: BytesMut::new(),
            output: BytesMut::new(),
            pending: None,
            decoder: Decoder::new(),
            encoder: Encoder::new(),
        }
    }

    /// Moves whatever complete frames `input` holds to `output`.
    fn process(&mut self) -> io::Result<()> {
        if self.preface_left > 0 {
            let take = self.preface_left.min(self.input.len());
            let preface = self.input.split_to(take);
            self.output.extend_from_slice(&preface);
            self.preface_left -= take;
            if self.preface_left > 0 {
                return Ok(());
            }
        }
        while self.input.len() >= FRAME_HEADER_LEN {
            let length = (usize::from(self.input[0]) << 16)
                | (usize::from(self.input[1]) << 8)
                | usize::from(self.input[2]);
            if self.input.len() < FRAME_HEADER_LEN + length {
                return Ok(());
            }
            let kind = self.input[3];
            let flags = self.input[4];
            let stream_id =
                u32::from_be_bytes([self.input[5], self.input[6], self.input[7], self.input[8]])
                    & 0x7fff_ffff;
            let frame = self.input.split_to(FRAME_HEADER_LEN + length);
            let payload = &frame[FRAME_HEADER_LEN..];
            match kind {
                TYPE_HEADERS => self.headers(stream_id, flags, payload)?,
                TYPE_CONTINUATION => self.continuation(stream_id, flags, payload)?,
                _ => {
                    if self.pending.is_some() {
                        return Err(protocol_error("a frame inside a header block"));
                    }
                    self.output.extend_from_slice(&frame);
                }
            }
        }
        Ok(())
    }

    fn headers(&mut self, stream_id: u32, flags: u8, payload: &[u8]) -> io::Result<()> {
        if self.pending.is_some() {
            return Err(protocol_error("HEADERS inside a header block"));
        }
        let mut body = payload;
        if flags & FLAG_PADDED != 0 {
            let (&pad, rest) = body
                .split_first()
                .ok_or_else(|| protocol_error("padded HEADERS without a pad length"))?;
            body = rest
                .get(..rest.len().saturating_sub(usize::from(pad)))
                .filter(|_| usize::from(pad) <= rest.len())
                .ok_or_else(|| protocol_error("HEADERS padding longer than the frame"))?;
        }
        let priority = if flags & FLAG_PRIORITY != 0 {
            let (fields, rest) = body
                .split_first_chunk::<5>()
                .ok_or_else(|| protocol_error("HEADERS priority cut short"))?;
            body = rest;
            Some(*fields)
        } else {
            None
        };
        self.pending = Some(Pending {
            stream_id,
            end_stream: flags & FLAG_END_STREAM != 0,
            priority,
            block: body.to_vec(),
        });
        if flags & FLAG_END_HEADERS != 0 {
            self.finish_block()?;
        }
        Ok(())
    }

    fn continuation(&mut self, stream_id: u32, flags: u8, payload: &[u8]) -> io::Result<()> {
        let pending = self
            .pending
            .as_mut()
            .filter(|pending| pending.stream_id == stream_id)
            .ok_or_else(|| protocol_error("CONTINUATION outside a header block"))?;
        if pending.block.len() + payload.len() > HEADER_BLOCK_BYTES_MAX {
            return Err(protocol_error("header block too large"));
        }
        pending.block.extend_from_slice(payload);
        if flags & FLAG_END_HEADERS != 0 {
            self.finish_block()?;
        }
        Ok(())
    }

    /// Decodes the collected block, fixes `:authority`, and writes the block
    /// re-encoded as HEADERS and CONTINUATION frames.
    fn finish_block(&mut self) -> io::Result<()> {
        let Some(pending) = self.pending.take() else {
            return Ok(());
        };
        let fields = self
            .decoder
            .decode(&pending.block)
            .map_err(|e| protocol_error(&format!("undecodable header block: {e}")))?;
        let fields: Vec<(Vec<u8>, Vec<u8>)> = fields
            .into_iter()
            .filter_map(|(name, value)| {
                if name == b":authority" {
                    fixed_authority(&value).map(|value| (name, value))
                } else {
                    Some((name, value))
                }
            })
            .collect();
        let block = self
            .encoder
            .encode(fields.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        let mut rest: &[u8] = &block;
        let mut first = true;
        loop {
            let room = if first && pending.priority.is_some() {
                OUT_FRAME_PAYLOAD_MAX - 5
            } else {
                OUT_FRAME_PAYLOAD_MAX
            };
            let take = rest.len().min(room);
            let (chunk, after) = rest.split_at(take);
            rest = after;
            let last = rest.is_empty();
            let mut flags = if last { FLAG_END_HEADERS } else { 0 };
            let (kind, priority) = if first {
                if pending.end_stream {
                    flags |= FLAG_END_STREAM;
                }
                if pending.priority.is_some() {
                    flags |= FLAG_PRIORITY;
                }
                (TYPE_HEADERS, pending.priority)
            } else {
                (TYPE_CONTINUATION, None)
            };
            let length = chunk.len() + priority.map_or(0, |p| p.len());
            self.output.put_uint(length as u64, 3);
            self.output.put_u8(kind);
            self.output.put_u8(flags);
            self.output.put_u32(pending.stream_id);
            if let Some(priority) = priority {
                self.output.extend_from_slice(&priority);
            }
            self.output.extend_from_slice(chunk);
            first = false;
            if last {
                return Ok(());
            }
        }
    }
}

/// A client connection whose header blocks are rewritten on the way in
/// (see the module docs); writes pass through untouched.
pub struct AuthorityFix<S> {
    inner: S,
    rewriter: Box<Rewriter>,
}

impl<S> AuthorityFix<S> {
    /// Wraps a freshly accepted connection.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            rewriter: Box::new(Rewriter::new()),
        }
    }

    /// The connection underneath.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityFix<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.rewriter.output.is_empty() {
                let take = this.rewriter.output.len().min(buf.remaining());
                buf.put_slice(&this.rewriter.output[..take]);
                this.rewriter.output.advance(take);
                return Poll::Ready(Ok(()));
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.inner).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Ready(Ok(())) if read.filled().is_empty() => {
                    // End of stream: a frame cut short is h2's to report.
                    let rest = std::mem::take(&mut this.rewriter.input);
                    if rest.is_empty() {
                        return Poll::Ready(Ok(()));
                    }
                    this.rewriter.output.extend_from_slice(&rest);
                }
                Poll::Ready(Ok(())) => {
                    this.rewriter.input.extend_from_slice(read.filled());
                    if let Err(error) = this.rewriter.process() {
                        return Poll::Ready(Err(error));
                    }
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityFix<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(not(madsim))]
impl tonic::transport::server::Connected for AuthorityFix<tokio::net::TcpStream> {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.put_uint(payload.len() as u64, 3);
        out.put_u8(kind);
        out.put_u8(flags);
        out.put_u32(stream);
        out.extend_from_slice(payload);
        out
    }

    /// Splits `bytes` into frames (after the preface).
    fn frames(bytes: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
        let mut rest = &bytes[PREFACE_LEN..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let length =
                (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
            let stream = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]);
            out.push((rest[3], rest[4], stream, rest[9..9 + length].to_vec()));
            rest = &rest[9 + length..];
        }
        out
    }

    fn run(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut rewriter = Rewriter::new();
        for piece in input.chunks(chunk) {
            rewriter.input.extend_from_slice(piece);
            rewriter.process().unwrap();
        }
        assert!(rewriter.input.is_empty(), "every frame was complete");
        rewriter.output.to_vec()
    }

    const PREFACE: &[u8; PREFACE_LEN] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    #[test]
    fn urls_in_authority_become_host_and_port() {
        assert_eq!(
            fixed_authority(b"http://127.0.0.1:2379").unwrap(),
            b"127.0.0.1:2379"
        );
        assert_eq!(
            fixed_authority(b"https://etcd.example:2379/").unwrap(),
            b"etcd.example:2379"
        );
        assert_eq!(
            fixed_authority(b"127.0.0.1:2379").unwrap(),
            b"127.0.0.1:2379"
        );
        assert_eq!(fixed_authority(b"http:// bad"), None);
    }

    #[test]
    fn header_blocks_are_rewritten_and_other_frames_pass() {
        let mut client = Encoder::new();
        let request: [(&[u8], &[u8]); 5] = [
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", b"/etcdserverpb.KV/Range"),
            (b":authority", b"http://127.0.0.1:2379"),
            (b"content-type", b"application/grpc"),
        ];
        let mut input = PREFACE.to_vec();
        input.extend(frame(0x4, 0, 0, &[0, 3, 0, 0, 0, 100])); // SETTINGS
                                                               // HEADERS, padded and with priority, split over a CONTINUATION.
        let block = client.encode(request);
        let (first, second) = block.split_at(10);
        let mut padded = vec![3];
        padded.extend_from_slice(&[0, 0, 0, 0, 16]);
        padded.extend_from_slice(first);
        padded.extend_from_slice(&[0, 0, 0]);
        input.extend(frame(TYPE_HEADERS, FLAG_PADDED | FLAG_PRIORITY, 1, &padded));
        input.extend(frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 1, second));
        input.extend(frame(0x0, FLAG_END_STREAM, 1, b"grpc-body")); // DATA
                                                                    // A second request reuses the client's dynamic table.
        let again = client.encode(request);
        input.extend(frame(
            TYPE_HEADERS,
            FLAG_END_HEADERS | FLAG_END_STREAM,
            3,
            &again,
        ));

        for chunk in [1, 7, input.len()] {
            let output = run(&input, chunk);
            assert_eq!(&output[..PREFACE_LEN], PREFACE);
            let frames = frames(&output);
            assert_eq!(frames.len(), 4, "chunk {chunk}");
            assert_eq!(frames[0].0, 0x4, "SETTINGS as it was");
            assert_eq!(
                (frames[1].0, frames[1].1),
                (TYPE_HEADERS, FLAG_END_HEADERS | FLAG_PRIORITY)
            );
            assert_eq!(&frames[1].3[..5], &[0, 0, 0, 0, 16], "priority kept");
            assert_eq!(frames[2], (0x0, FLAG_END_STREAM, 1, b"grpc-body".to_vec()));
            assert_eq!(frames[3].1, FLAG_END_HEADERS | FLAG_END_STREAM);
            // What h2 would decode, with its own table.
            let mut server = Decoder::new();
            for block in [&frames[1].3[5..], &frames[3].3[..]] {
                let fields = server.decode(block).unwrap();
                let authority = fields.iter().find(|(n, _)| n == b":authority").unwrap();
                assert_eq!(authority.1, b"127.0.0.1:2379");
                assert_eq!(fields.len(), request.len());
            }
        }
    }

    #[test]
    fn a_big_block_is_cut_into_continuations() {
        let mut client = Encoder::new();
        let big = vec![b'x'; 40_000];
        let fields: [(&[u8], &[u8]); 2] = [(b":authority", b"http://h:1"), (b"x-big", &big)];
        let block = client.encode(fields);
        let mut input = PREFACE.to_vec();
        input.extend(frame(TYPE_HEADERS, FLAG_END_HEADERS, 5, &block));
        let frames = frames(&run(&input, input.len()));
        assert!(frames.len() >= 3);
        assert_eq!(frames[0].0, TYPE_HEADERS);
        assert!(frames[1..].iter().all(|f| f.0 == TYPE_CONTINUATION));
        assert!(frames.iter().all(|f| f.3.len() <= OUT_FRAME_PAYLOAD_MAX));
        assert_eq!(frames.last().unwrap().1, FLAG_END_HEADERS);
        let joined: Vec<u8> = frames.iter().flat_map(|f| f.3.clone()).collect();
        let fields = Decoder::new().decode(&joined).unwrap();
        assert_eq!(fields[0].1, b"h:1");
        assert_eq!(fields[1].1, big);
    }

    #[test]
    fn broken_framing_is_refused() {
        let mut rewriter = Rewriter::new();
        rewriter.input.extend_from_slice(PREFACE);
        rewriter
            .input
            .extend(frame(TYPE_CONTINUATION, FLAG_END_HEADERS, 1, b"x"));
        assert!(rewriter.process().is_err());
        let mut rewriter = Rewriter::new();
        rewriter.input.extend_from_slice(PREFACE);
        rewriter.input.extend(frame(TYPE_HEADERS, 0, 1, &[0x82]));
        rewriter.input.extend(frame(0x0, 0, 1, b"data"));
        assert!(rewriter.process().is_err(), "DATA inside a header block");
    }
}
