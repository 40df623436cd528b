//! The kubelet's own HTTP endpoint: what kube-apiserver proxies
//! `kubectl logs` and `kubectl exec` to.
//!
//! ```text
//!   GET /containerLogs/{ns}/{pod}/{container}?follow&previous&tailLines&...
//!        find.rs: the pod's runs (runtime.recover(), the logs directory)
//!        ─► logs.rs: the CRI log file ─► cri.rs (pure: entries, tail, since,
//!           limit, timestamps) ─► text/plain, streamed while following
//!   GET /exec/{ns}/{pod}/{container}?command=..&stdin&stdout&stderr&tty
//!        find.rs: the running container ─► runtime.exec(argv, tty)
//!        ─► exec.rs: WebSocket, v5/v4.channel.k8s.io (channel.rs, pure:
//!           frames in, the final Status out); pipes, or a pty with resize
//! ```
//!
//! Errors are plain text with the kubelet's messages, in one table
//! ([`Refusal`]);
//! kube-apiserver (keel's front) wraps them in a `metav1.Status`.

pub mod channel;
pub mod cri;
mod exec;
mod find;
mod logs;

use std::path::PathBuf;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::runtime::ContainerRuntime;

/// What the endpoint reads: the logs under `root_dir`, the containers of
/// `runtime`.
#[derive(Clone)]
pub struct ServerState {
    /// The kubelet's root directory (`logs/<ns>_<pod>_<uid>/<container>/<attempt>.log`).
    pub root_dir: PathBuf,
    /// The runtime running the node's containers.
    pub runtime: Arc<dyn ContainerRuntime>,
}

/// The kubelet endpoint's routes.
pub fn router(state: ServerState) -> Router {
    Router::new()
        .route(
            "/containerLogs/{namespace}/{pod}/{container}",
            get(logs::container_logs),
        )
        .route(
            "/exec/{namespace}/{pod}/{container}",
            get(exec::exec).post(exec::exec),
        )
        .with_state(state)
}

/// Serves the endpoint on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, state: ServerState) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

/// Why the endpoint refuses a request: every answer that is not a log or
/// an exec, in one table with the kubelet's status codes and messages
/// (plain text; the front wraps them in a `metav1.Status`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: a query option the kubelet does not read as given (the
    /// message names it).
    #[error("{0}")]
    BadQuery(String),
    /// 400: no run of the container has written a log yet.
    #[error("container {container:?} in pod {pod:?} is waiting to start: ContainerCreating")]
    WaitingToStart {
        /// The pod's name.
        pod: String,
        /// The container's name.
        container: String,
    },
    /// 400: `previous` asked of a container that has not restarted.
    #[error("previous terminated container {container:?} in pod {pod:?} not found")]
    NoPrevious {
        /// The pod's name.
        pod: String,
        /// The container's name.
        container: String,
    },
    /// 404: exec in a pod with no container on this node.
    #[error("pod does not exist")]
    PodNotFound,
    /// 404: exec in a container that does not run.
    #[error("container not found ({0:?})")]
    ContainerNotRunning(String),
    /// 400: exec asked without a WebSocket upgrade (SPDY is not served).
    #[error("Upgrade request required: exec is served over WebSocket ({protocols}) only: {0}", protocols = channel::PROTOCOLS.join(", "))]
    NotWebSocket(String),
    /// 400: exec with none of the channel protocols served.
    #[error("requested protocol(s) are not supported: [{requested}]; supports [{supported}]", requested = .0.join(" "), supported = channel::PROTOCOLS.join(" "))]
    Protocols(Vec<String>),
    /// 500: the runtime or the disk failed (says how).
    #[error("{0}")]
    Internal(String),
}

impl Refusal {
    /// The HTTP status it is answered with.
    pub fn code(&self) -> StatusCode {
        match self {
            Self::BadQuery(_)
            | Self::WaitingToStart { .. }
            | Self::NoPrevious { .. }
            | Self::NotWebSocket(_)
            | Self::Protocols(_) => StatusCode::BAD_REQUEST,
            Self::PodNotFound | Self::ContainerNotRunning(_) => StatusCode::NOT_FOUND,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (
            self.code(),
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.to_string(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kubelet's words, as kubectl shows them after `Error from
    /// server (BadRequest): `.
    #[test]
    fn refusals_are_the_kubelets() {
        let names = || ("web".to_owned(), "app".to_owned());
        let (pod, container) = names();
        let table = [
            (Refusal::BadQuery("tailLines: x".into()), 400, "tailLines: x"),
            (
                Refusal::WaitingToStart { pod, container },
                400,
                "container \"app\" in pod \"web\" is waiting to start: ContainerCreating",
            ),
            (
                Refusal::NoPrevious {
                    pod: names().0,
                    container: names().1,
                },
                400,
                "previous terminated container \"app\" in pod \"web\" not found",
            ),
            (Refusal::PodNotFound, 404, "pod does not exist"),
            (
                Refusal::ContainerNotRunning("app".into()),
                404,
                "container not found (\"app\")",
            ),
            (
                Refusal::NotWebSocket("no upgrade".into()),
                400,
                "Upgrade request required: exec is served over WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) only: no upgrade",
            ),
            (
                Refusal::Protocols(vec!["v3.channel.k8s.io".into(), "x".into()]),
                400,
                "requested protocol(s) are not supported: [v3.channel.k8s.io x]; supports [v5.channel.k8s.io v4.channel.k8s.io]",
            ),
            (Refusal::Internal("disk".into()), 500, "disk"),
        ];
        for (refusal, code, message) in table {
            assert_eq!(refusal.code().as_u16(), code, "{refusal:?}");
            assert_eq!(refusal.to_string(), message);
        }
    }
}
