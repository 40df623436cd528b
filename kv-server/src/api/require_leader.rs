//! etcd's `hasleader` requirement, as a layer around every client service.
//!
//! A client that would rather fail than wait for an election sends the
//! gRPC metadata `hasleader: true` (clientv3's `WithRequireLeader`). etcd's
//! interceptors refuse such a request with `etcdserver: no leader` when the
//! member knows no leader; keel's layer does the same before any service
//! sees the request, and otherwise runs the request with the requirement
//! known to [`crate::leader_wait`], so that it never waits out an election
//! either.
//!
//! The simulator's gRPC server takes no layers; the simulated clients never
//! send the requirement.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::Status;

use crate::error::EtcdError;
use crate::node::Node;

/// The metadata key and value of etcd's requirement.
const REQUIRE_LEADER_KEY: &str = "hasleader";
const REQUIRE_LEADER_VALUE: &str = "true";

/// Whether a request's headers carry etcd's `hasleader: true`.
pub fn requires_leader(headers: &http::HeaderMap) -> bool {
    headers
        .get(REQUIRE_LEADER_KEY)
        .is_some_and(|value| value == REQUIRE_LEADER_VALUE)
}

/// Wraps the client services in [`RequireLeader`].
#[derive(Clone)]
pub struct RequireLeaderLayer {
    node: Arc<Node>,
}

impl RequireLeaderLayer {
    /// The layer for `node`'s services.
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

impl<S> tower::Layer<S> for RequireLeaderLayer {
    type Service = RequireLeader<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireLeader {
            inner,
            node: Arc::clone(&self.node),
        }
    }
}

/// See the module docs.
#[derive(Clone)]
pub struct RequireLeader<S> {
    inner: S,
    node: Arc<Node>,
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for RequireLeader<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let required = requires_leader(request.headers());
        if required && !self.node.has_leader() {
            let refused = Status::from(EtcdError::NoLeader).into_http();
            return Box::pin(async move { Ok(refused) });
        }
        let answer = self.inner.call(request);
        Box::pin(crate::leader_wait::with_requirement(required, answer))
    }
}
