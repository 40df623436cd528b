//! One unary gRPC call written by hand over HTTP/2, so a test can send what
//! no gRPC library would: a message that does not decode, a frame whose
//! length prefix lies, a compressed flag with no encoding.
//!
//! A gRPC message on the wire is a 5-byte prefix (a compressed flag and a
//! big-endian u32 length) and then the message; the status comes back in
//! the `grpc-status` and `grpc-message` trailers (or headers, for a
//! trailers-only reply).

use std::time::Duration;

use bytes::Bytes;

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status of the response headers.
    pub http_status: u16,
    /// `grpc-status`: 0 is OK, 13 Internal, and so on.
    pub grpc_status: Option<u32>,
    /// `grpc-message`, percent-decoded.
    pub grpc_message: Option<String>,
    /// The response's data frames, concatenated.
    pub body: Vec<u8>,
}

/// The 5-byte gRPC message prefix followed by `message`, with the given
/// flag and declared length.
pub fn frame(compressed: bool, declared_len: u32, message: &[u8]) -> Vec<u8> {
    let mut bytes = vec![u8::from(compressed)];
    bytes.extend_from_slice(&declared_len.to_be_bytes());
    bytes.extend_from_slice(message);
    bytes
}

/// Sends `body` as the whole request stream of a call to `path` (such as
/// `/etcdserverpb.KV/Range`) on `endpoint` (`host:port`), and returns the
/// reply. Panics on transport failure or after 10 s.
pub fn call(endpoint: &str, path: &str, body: Vec<u8>) -> Reply {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), exchange(endpoint, path, body))
            .await
            .unwrap_or_else(|_| panic!("{path} on {endpoint}: no reply within 10 s"))
            .unwrap_or_else(|error| panic!("{path} on {endpoint}: {error}"))
    })
}

async fn exchange(endpoint: &str, path: &str, body: Vec<u8>) -> Result<Reply, h2::Error> {
    let tcp = tokio::net::TcpStream::connect(endpoint)
        .await
        .unwrap_or_else(|error| panic!("connecting to {endpoint}: {error}"));
    let (client, connection) = h2::client::handshake(tcp).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await?;
    let request = http::Request::builder()
        .method("POST")
        .uri(format!("http://{endpoint}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("a valid request");
    let (response, mut send) = client.send_request(request, false)?;
    send.send_data(Bytes::from(body), true)?;
    let response = response.await?;
    let http_status = response.status().as_u16();
    let (parts, mut received) = response.into_parts();
    let mut reply = Reply {
        http_status,
        grpc_status: None,
        grpc_message: None,
        body: Vec::new(),
    };
    read_status(&parts.headers, &mut reply);
    while let Some(chunk) = received.data().await {
        let chunk = chunk?;
        let _ = received.flow_control().release_capacity(chunk.len());
        reply.body.extend_from_slice(&chunk);
    }
    if let Some(trailers) = received.trailers().await? {
        read_status(&trailers, &mut reply);
    }
    Ok(reply)
}

fn read_status(headers: &http::HeaderMap, reply: &mut Reply) {
    if let Some(status) = headers.get("grpc-status") {
        reply.grpc_status = status.to_str().ok().and_then(|s| s.parse().ok());
    }
    if let Some(message) = headers.get("grpc-message") {
        reply.grpc_message = Some(percent_decode(message.as_bytes()));
    }
}

/// gRPC percent-encodes `grpc-message`.
fn percent_decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
