//! HTTP/1.1 to the front, as kubectl speaks it: one keep-alive connection
//! per client with one request in flight, JSON bodies, and watches read
//! line by line as their chunks arrive.
//!
//! ```text
//!   Connection::open ─► hyper http1 handshake (its driver on a task)
//!   Connection::call  ─► request ─► whole answer (status, body)
//!   Connection::watch ─► request ─► WatchLines: one JSON event per line,
//!                                   each stamped with its chunk's arrival
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark stamps arrivals with the wall clock"
)]

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{header, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;

/// A finished request's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The whole body.
    pub body: Bytes,
}

impl Answer {
    /// `Ok(self)` if the status is `expected`, else an error quoting the
    /// body (a metav1.Status, whose message says why).
    pub fn expect(self, expected: StatusCode) -> Result<Self, String> {
        if self.status == expected {
            Ok(self)
        } else {
            Err(format!(
                "HTTP {} (expected {expected}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            ))
        }
    }
}

/// One keep-alive HTTP/1.1 connection to the front.
pub struct Connection {
    address: String,
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    /// Connects to `address` (`host:port`), with Nagle off as Go's
    /// net/http turns it off.
    pub async fn open(address: &str) -> Result<Self, String> {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|e| format!("connecting to {address}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, driver) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP/1.1 handshake with {address}: {e}"))?;
        tokio::spawn(async move {
            // The connection ends when the sender is dropped or the server
            // closes it; either way its error has been seen by the caller.
            let _ = driver.await;
        });
        Ok(Self {
            address: address.to_string(),
            sender,
        })
    }

    /// Sends `method path` with a JSON `body` (none if empty) and returns
    /// the answer's head with its unread body.
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<hyper::Response<Incoming>, String> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.address)
            .header(header::ACCEPT, "application/json");
        if !body.is_empty() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        self.sender.ready().await.map_err(|e| e.to_string())?;
        self.sender
            .send_request(request)
            .await
            .map_err(|e| format!("{path}: {e}"))
    }

    /// Sends `method path` with a JSON `body` (none if empty) and reads
    /// the whole answer.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Answer, String> {
        let response = self.send(method, path, body).await?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{path}: reading the answer: {e}"))?
            .to_bytes();
        Ok(Answer { status, body })
    }

    /// Starts a watch (`path` has `watch=true`): the connection is the
    /// watch's from then on.
    pub async fn watch(mut self, path: &str) -> Result<WatchLines, String> {
        let response = self.send(Method::GET, path, Vec::new()).await?;
        if response.status() != StatusCode::OK {
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map(http_body_util::Collected::to_bytes);
            return Err(format!("watch {path}: HTTP {status}: {body:?}"));
        }
        Ok(WatchLines {
            body: response.into_body(),
            pending: BytesMut::new(),
            _connection: self,
        })
    }
}

/// A watch's events, one JSON line at a time.
pub struct WatchLines {
    body: Incoming,
    pending: BytesMut,
    /// Kept so the connection lives as long as the watch.
    _connection: Connection,
}

impl WatchLines {
    /// The next complete lines, with the moment their last chunk arrived;
    /// `Ok(None)` when the server ended the watch.
    pub async fn next_lines(&mut self) -> Result<Option<(Instant, Vec<Bytes>)>, String> {
        loop {
            let Some(frame) = self.body.frame().await else {
                return Ok(None);
            };
            let arrived = Instant::now();
            let frame = frame.map_err(|e| format!("reading a watch: {e}"))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            self.pending.extend_from_slice(&data);
            let lines = split_lines(&mut self.pending);
            if !lines.is_empty() {
                return Ok(Some((arrived, lines)));
            }
        }
    }
}

/// Takes every complete (`\n`-ended) line off the front of `pending`,
/// without their line ends, leaving a partial last line in place.
pub fn split_lines(pending: &mut BytesMut) -> Vec<Bytes> {
    let mut lines = Vec::new();
    while let Some(end) = pending.iter().position(|byte| *byte == b'\n') {
        let line = pending.split_to(end + 1).freeze();
        lines.push(line.slice(..end));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_lines_are_taken_and_a_partial_one_waits() {
        let mut pending = BytesMut::from(&b"{\"a\":1}\n{\"b\":2}\n{\"c\""[..]);
        let lines = split_lines(&mut pending);
        assert_eq!(
            lines,
            vec![Bytes::from("{\"a\":1}"), Bytes::from("{\"b\":2}")]
        );
        assert_eq!(&pending[..], b"{\"c\"");
        pending.extend_from_slice(b":3}\n");
        assert_eq!(split_lines(&mut pending), vec![Bytes::from("{\"c\":3}")]);
        assert!(pending.is_empty());
        assert!(split_lines(&mut pending).is_empty());
    }
}
