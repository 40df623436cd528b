//! The client handle, its options, and the one retry loop every unary
//! request goes through.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::Channel;
use tonic::Status;

use crate::endpoints::Endpoints;
use crate::error::{judge, Error, Safety, Verdict};

/// The first pause after every endpoint failed once; it doubles per round.
const BACKOFF_FIRST: Duration = Duration::from_millis(25);
/// The longest pause between rounds over the endpoints: short enough to
/// notice a new leader within one election timeout of etcd's default.
const BACKOFF_MAX: Duration = Duration::from_millis(500);

/// How a [`Client`] connects and how long it tries.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// How long one request may take, all retries included (etcdctl's
    /// `--command-timeout`). Default 5 s.
    pub request_timeout: Duration,
    /// How long dialling one endpoint may take (etcdctl's
    /// `--dial-timeout`). Default 2 s.
    pub connect_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

impl ClientOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`ClientOptions::request_timeout`].
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets [`ClientOptions::connect_timeout`].
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

/// A client of a keel (or etcd) cluster. Cheap to clone: clones share the
/// endpoints and their connections.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) endpoints: Endpoints,
    pub(crate) options: ClientOptions,
}

impl Client {
    /// A client of the cluster whose members serve at `endpoints`
    /// (`host:port` or `http://host:port`). It dials them in order and
    /// starts with the first that answers a status request, so a member
    /// that is down at start costs one dial, not one per request.
    pub async fn connect<E, S>(endpoints: E, options: ClientOptions) -> Result<Self, Error>
    where
        E: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = endpoints.into_iter().map(Into::into).collect();
        let endpoints = Endpoints::new(&names, options.connect_timeout)?;
        let client = Self {
            inner: Arc::new(Inner { endpoints, options }),
        };
        client.pick_healthy().await?;
        Ok(client)
    }

    /// Makes the first endpoint that answers a status request the current
    /// one.
    async fn pick_healthy(&self) -> Result<(), Error> {
        let endpoints = &self.inner.endpoints;
        let mut last = None;
        for index in 0..endpoints.len() {
            let channel = endpoints.channel_at(index);
            let mut maintenance = crate::maintenance::grpc(channel);
            let request = keel_proto::etcdserverpb::StatusRequest {};
            let answer = tokio::time::timeout(
                self.inner.options.connect_timeout,
                maintenance.status(request),
            )
            .await;
            match answer {
                Ok(Ok(_)) => {
                    endpoints.prefer(index);
                    return Ok(());
                }
                Ok(Err(status)) => last = Some(status),
                Err(_) => last = Some(Status::deadline_exceeded("dial timed out")),
            }
        }
        let last = last.unwrap_or_else(|| Status::unavailable("no endpoints"));
        Err(self.unavailable(endpoints.len() as u32, last))
    }

    /// The client's options.
    pub fn options(&self) -> &ClientOptions {
        &self.inner.options
    }

    /// The endpoint requests go to now.
    pub fn current_endpoint(&self) -> &str {
        let (index, _) = self.inner.endpoints.current();
        self.inner.endpoints.name(index)
    }

    /// Runs one unary request with failover: `attempt` is called with the
    /// current endpoint's channel, and again with the next endpoint's after
    /// each failure [`judge`] allows, pausing between rounds over all
    /// endpoints, until it succeeds or the request's deadline passes.
    pub(crate) async fn call<T, F, Fut>(&self, safety: Safety, attempt: F) -> Result<T, Error>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        self.call_within(self.inner.options.request_timeout, safety, attempt)
            .await
    }

    /// [`Client::call`] with its own deadline, for requests that wait by
    /// design (Lock, Campaign).
    pub(crate) async fn call_within<T, F, Fut>(
        &self,
        timeout: Duration,
        safety: Safety,
        mut attempt: F,
    ) -> Result<T, Error>
    where
        F: FnMut(Channel) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let endpoints = &self.inner.endpoints;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut attempts: u32 = 0;
        let mut backoff = BACKOFF_FIRST;
        loop {
            let (index, channel) = endpoints.current();
            attempts += 1;
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let status = match tokio::time::timeout(left, attempt(channel)).await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err(status)) => status,
                Err(_) => Status::deadline_exceeded("request deadline passed"),
            };
            let out_of_time = tokio::time::Instant::now() >= deadline;
            match judge(&status, safety) {
                Verdict::Refused => return Err(Error::Server { status }),
                Verdict::Unknown => {
                    // The next request should not meet the same broken
                    // connection or deposed leader.
                    endpoints.failed(index);
                    return Err(Error::UnknownOutcome {
                        endpoint: endpoints.name(index).to_string(),
                        status,
                    });
                }
                Verdict::TryNext if out_of_time => {
                    return Err(self.unavailable(attempts, status));
                }
                Verdict::TryNext => endpoints.failed(index),
            }
            if (attempts as usize).is_multiple_of(endpoints.len()) {
                let pause = backoff.min(deadline - tokio::time::Instant::now());
                tokio::time::sleep(pause).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }

    fn unavailable(&self, attempts: u32, last: Status) -> Error {
        Error::Unavailable {
            endpoints: self.inner.endpoints.names().to_vec(),
            attempts,
            last,
        }
    }

    /// A channel to the current endpoint, for streams that do their own
    /// failover (watch, keep-alive): the index says which endpoint it is.
    pub(crate) fn channel(&self) -> (usize, Channel) {
        self.inner.endpoints.current()
    }

    /// Tells the client that the endpoint at `index` failed a stream.
    pub(crate) fn endpoint_failed(&self, index: usize) {
        self.inner.endpoints.failed(index);
    }
}
