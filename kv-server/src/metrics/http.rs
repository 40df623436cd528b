//! The metrics listener: HTTP/1 on each `--listen-metrics-urls` address,
//! answering as `respond.rs` says. Compiled out under madsim (the simulator
//! has no sockets to serve).
//!
//! ```text
//!  TcpListener ──accept (≤ METRICS_CONNECTIONS_MAX at once)──► hyper http1, one request per
//!  connection, headers within METRICS_HEADER_READ_TIMEOUT ──► respond::answer ──► close
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

use super::health::HealthSource;
use super::{respond, Metrics};
use crate::config::listen_address;

/// Most connections served at once. Scrapers and load-balancer probes
/// open a handful; past this, new connections wait in the kernel's
/// backlog instead of each costing a task.
pub const METRICS_CONNECTIONS_MAX: usize = 64;

/// How long a client may take to send its request headers, so an idle or
/// trickling connection cannot hold one of the slots for long.
pub const METRICS_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one connection may last in all: its single request, a health
/// check (at most a second's quorum read) and the answer.
pub const METRICS_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// Pause after a failed accept (out of file descriptors, say) before the
/// next, so the loop does not spin.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Binds every metrics URL (`http://host:port`), before the member starts,
/// so a bad or taken address fails keeld at once.
pub async fn bind(urls: &[String]) -> Result<Vec<(SocketAddr, TcpListener)>, String> {
    let mut listeners = Vec::with_capacity(urls.len());
    for url in urls {
        let address = listen_address(url)?;
        let listener = TcpListener::bind(address)
            .await
            .map_err(|e| format!("{address}: {e}"))?;
        listeners.push((address, listener));
    }
    Ok(listeners)
}

/// Serves `/metrics` and `/health` on `listener` until `shutdown`
/// resolves. Connections in flight then finish on their own (each is
/// bounded by [`METRICS_CONNECTION_TIMEOUT`]).
pub async fn serve<S: HealthSource>(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    source: Arc<S>,
    shutdown: impl Future<Output = ()>,
) {
    if let Ok(address) = listener.local_addr() {
        info!(%address, "serving /metrics and /health");
    }
    let slots = Arc::new(tokio::sync::Semaphore::new(METRICS_CONNECTIONS_MAX));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => return,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                // The semaphore is never closed.
                Err(_) => return,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    warn!(%error, "accepting a metrics connection failed");
                    tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                    continue;
                }
            },
        };
        let metrics = Arc::clone(&metrics);
        let source = Arc::clone(&source);
        tokio::spawn(async move {
            let _slot = slot;
            serve_connection(stream, metrics, source).await;
        });
    }
}

/// Answers the one request of a connection and closes it.
async fn serve_connection<S: HealthSource>(
    stream: tokio::net::TcpStream,
    metrics: Arc<Metrics>,
    source: Arc<S>,
) {
    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let metrics = Arc::clone(&metrics);
        let source = Arc::clone(&source);
        async move {
            let response =
                respond::answer(&metrics, &*source, request.method(), request.uri().path()).await;
            Ok::<_, Infallible>(response.map(|body| Full::new(Bytes::from(body))))
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(METRICS_HEADER_READ_TIMEOUT)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(METRICS_CONNECTION_TIMEOUT, connection).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => debug!(%error, "a metrics connection failed"),
        Err(_) => debug!("a metrics connection took too long and was closed"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::metrics::health::{Health, Unhealthy};

    /// A member whose leader can be taken away.
    struct Switch(AtomicBool);

    impl HealthSource for Switch {
        async fn health(&self) -> Health {
            if self.0.load(Ordering::SeqCst) {
                Health::Healthy
            } else {
                Health::Unhealthy(Unhealthy::NoLeader)
            }
        }
    }

    /// One raw HTTP/1.1 exchange: the whole answer as text.
    async fn fetch(address: SocketAddr, method: &str, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let request = format!("{method} {path} HTTP/1.1\r\nHost: keel\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        // The listener closes every connection after its one answer.
        stream.read_to_end(&mut answer).await.unwrap();
        String::from_utf8(answer).unwrap()
    }

    fn body(answer: &str) -> &str {
        answer.split_once("\r\n\r\n").unwrap().1
    }

    #[tokio::test]
    async fn serves_metrics_and_health_over_tcp() {
        let (address, listener) = bind(&["http://127.0.0.1:0".to_string()])
            .await
            .unwrap()
            .pop()
            .unwrap();
        let address = listener.local_addr().unwrap_or(address);
        let metrics = Arc::new(Metrics::new(0x8e9e_05c5_2164_694d));
        metrics.set_leader(Some(0x8e9e_05c5_2164_694d));
        let source = Arc::new(Switch(AtomicBool::new(true)));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            Arc::clone(&metrics),
            Arc::clone(&source),
            async move {
                let _ = stopped.await;
            },
        ));

        let answer = fetch(address, "GET", "/metrics").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(
            answer.contains("content-type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            "{answer}"
        );
        assert!(body(&answer)
            .contains("# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 1\n"));
        assert!(body(&answer).contains("etcd_server_id{server_id=\"8e9e05c52164694d\"} 1\n"));

        let answer = fetch(address, "GET", "/health").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert_eq!(body(&answer), r#"{"health":"true"}"#);

        source.0.store(false, Ordering::SeqCst);
        let answer = fetch(address, "GET", "/health?serializable=true").await;
        assert!(
            answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{answer}"
        );
        assert!(
            answer.contains("x-content-type-options: nosniff\r\n"),
            "{answer}"
        );
        assert_eq!(body(&answer), "{\"health\":\"false\"}\n");

        let answer = fetch(address, "POST", "/health").await;
        assert!(
            answer.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{answer}"
        );
        assert!(answer.contains("allow: GET\r\n"), "{answer}");

        let answer = fetch(address, "GET", "/nothing").await;
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
        assert_eq!(body(&answer), "404 page not found\n");

        let text = body(&fetch(address, "GET", "/metrics").await).to_string();
        assert!(text.contains("\netcd_server_health_success 1\n"), "{text}");
        assert!(text.contains("\netcd_server_health_failures 1\n"), "{text}");

        stop.send(()).unwrap();
        server.await.unwrap();
    }

    #[tokio::test]
    async fn a_bad_or_taken_address_is_refused_at_bind() {
        assert!(bind(&["https://127.0.0.1:0".to_string()]).await.is_err());
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", taken.local_addr().unwrap());
        assert!(bind(&[url]).await.is_err());
    }
}
