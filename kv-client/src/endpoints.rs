//! The members a client may talk to, and which one it talks to now.
//!
//! Every endpoint gets one lazily connected gRPC channel, made once and kept:
//! tonic reconnects a channel by itself after its connection drops. The
//! client sends every request to the *current* endpoint; a failed attempt
//! that [`judge`](crate::error) says may go elsewhere moves the current
//! endpoint on to the next one, round-robin. Concurrent requests that fail
//! on the same endpoint move it on once, not once each.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::error::Error;

/// The largest message the client accepts from a server: a range over many
/// keys may be large, and etcd's Go client accepts up to `math.MaxInt32`
/// bytes by default too.
pub(crate) const MESSAGE_BYTES_MAX: usize = i32::MAX as usize;

/// The client's endpoints and the one in use.
#[derive(Debug)]
pub(crate) struct Endpoints {
    /// The endpoints as the caller wrote them, for messages.
    names: Vec<String>,
    /// One channel per endpoint, in the same order.
    channels: Vec<Channel>,
    /// The index of the endpoint requests go to.
    current: AtomicUsize,
}

impl Endpoints {
    /// Channels to every endpoint. An endpoint is `host:port` or a URL
    /// (`http://host:port`); nothing is dialled until the first request.
    pub(crate) fn new(names: &[String], connect_timeout: Duration) -> Result<Self, Error> {
        if names.is_empty() {
            return Err(Error::InvalidArgument("no endpoints given".into()));
        }
        let mut channels = Vec::with_capacity(names.len());
        for name in names {
            let endpoint =
                Endpoint::from_shared(url_of(name)).map_err(|error| Error::InvalidEndpoint {
                    endpoint: name.clone(),
                    reason: error.to_string(),
                })?;
            channels.push(
                endpoint
                    .connect_timeout(connect_timeout)
                    .tcp_nodelay(true)
                    .connect_lazy(),
            );
        }
        Ok(Self {
            names: names.to_vec(),
            channels,
            current: AtomicUsize::new(0),
        })
    }

    /// How many endpoints there are.
    pub(crate) fn len(&self) -> usize {
        self.channels.len()
    }

    /// The endpoint requests go to now: its index and a handle on its
    /// channel.
    pub(crate) fn current(&self) -> (usize, Channel) {
        let index = self.current.load(Ordering::Acquire);
        (index, self.channels[index].clone())
    }

    /// A handle on the channel of the endpoint at `index`.
    pub(crate) fn channel_at(&self, index: usize) -> Channel {
        self.channels[index].clone()
    }

    /// The endpoint at `index`, as the caller wrote it.
    pub(crate) fn name(&self, index: usize) -> &str {
        &self.names[index]
    }

    /// Every endpoint, as the caller wrote them.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// Makes `index` the current endpoint (the caller found it healthy).
    pub(crate) fn prefer(&self, index: usize) {
        assert!(index < self.channels.len());
        self.current.store(index, Ordering::Release);
    }

    /// Moves on from `failed` to the next endpoint, unless another request
    /// already moved on from it.
    pub(crate) fn failed(&self, failed: usize) {
        let next = next_after(failed, self.channels.len());
        let _ = self
            .current
            .compare_exchange(failed, next, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// The endpoint after `index`, round-robin over `len` endpoints.
fn next_after(index: usize, len: usize) -> usize {
    assert!(len > 0);
    (index + 1) % len
}

/// A dialable URL for an endpoint: etcdctl accepts both `host:port` and
/// `http://host:port`, and so does keel's client.
fn url_of(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[tokio::test]
    async fn a_failure_moves_on_once_however_many_requests_saw_it() {
        let endpoints = Endpoints::new(
            &names(&["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"]),
            Duration::from_secs(1),
        )
        .expect("valid endpoints");
        assert_eq!(endpoints.current().0, 0);
        endpoints.failed(0);
        endpoints.failed(0);
        assert_eq!(endpoints.current().0, 1);
        endpoints.failed(1);
        endpoints.failed(2);
        assert_eq!(endpoints.current().0, 0, "round-robin wraps around");
    }

    #[tokio::test]
    async fn endpoints_may_be_urls_or_host_ports() {
        let endpoints = Endpoints::new(
            &names(&["http://127.0.0.1:2379", "localhost:2379"]),
            Duration::from_secs(1),
        )
        .expect("valid endpoints");
        assert_eq!(endpoints.names()[1], "localhost:2379");
        assert!(matches!(
            Endpoints::new(&[], Duration::from_secs(1)),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            Endpoints::new(&names(&["http://bad host"]), Duration::from_secs(1)),
            Err(Error::InvalidEndpoint { .. })
        ));
    }
}
