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
//! Errors are plain text with the kubelet's messages ([`Refusal`]);
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

/// A request the endpoint refuses: its HTTP status and the kubelet's
/// message, answered as plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The HTTP status.
    pub code: StatusCode,
    /// The message.
    pub message: String,
}

impl Refusal {
    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            code: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            code: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    /// 500 with `message`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            code: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (
            self.code,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.message,
        )
            .into_response()
    }
}
