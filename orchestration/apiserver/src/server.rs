//! The HTTP front's router: the paths kubectl calls, answered as
//! kube-apiserver answers them.
//!
//! ```text
//!   /version, /api, /api/v1, /apis, /apis/<group>/<version> ─► discovery
//!   /openapi/v2, /openapi/v3, /openapi/v3/<group version> ─► openapi
//!   /api/v1/..., /apis/<group>/<version>/... (paths) ─► objects ─► store
//!   anything else ─► 404, a metav1.Status "NotFound"
//! ```

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use keel_runtime::Store;

use crate::{discovery, objects, openapi, paths};

/// The largest request body read: kube-apiserver's 3 MiB (an object keel
/// cannot store, over its 1.5 MiB request limit, is refused by keel).
const BODY_MAX: usize = 3 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
struct Front {
    /// `host:port` clients reach this front at.
    address: String,
    /// Where objects live.
    store: Store,
}

/// A metav1.Status failure, as kube-apiserver answers errors.
pub fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    (code, Json(status_body(code, reason, message))).into_response()
}

/// The body of a metav1.Status failure.
pub fn status_body(code: StatusCode, reason: &str, message: &str) -> serde_json::Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {},
        "code": code.as_u16(),
    })
}

/// 404 for a path nothing is served at, as kube-apiserver answers it.
pub(crate) fn not_found() -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
    )
}

/// The router of a front that clients reach at `address` (`host:port`),
/// keeping objects in `store`.
pub fn router(address: String, store: Store) -> Router {
    Router::new()
        .route("/version", get(|| async { Json(discovery::version()) }))
        .route(
            "/api",
            get(|State(front): State<Front>| async move {
                Json(discovery::core_versions(&front.address))
            }),
        )
        .route("/api/{version}", get(core_resources))
        .route("/apis", get(|| async { Json(discovery::group_list()) }))
        .route("/apis/{group}/{version}", get(group_resources))
        .route("/openapi/v2", get(openapi::serve_v2))
        .route("/openapi/v3", get(openapi::serve_v3_root))
        .route(
            "/openapi/v3/{*group_version}",
            get(openapi::serve_v3_group_version),
        )
        .fallback(resource_path)
        .layer(DefaultBodyLimit::max(BODY_MAX))
        .with_state(Front { address, store })
}

async fn core_resources(Path(version): Path<String>) -> Response {
    match discovery::resource_list("", &version) {
        Some(list) => Json(list).into_response(),
        None => not_found(),
    }
}

async fn group_resources(Path((group, version)): Path<(String, String)>) -> Response {
    match discovery::resource_list(&group, &version) {
        Some(list) => Json(list).into_response(),
        None => not_found(),
    }
}

async fn resource_path(
    State(front): State<Front>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    // Bodies are JSON. Protobuf (which kubectl's typed commands, such as
    // `create configmap`, send) is not read yet: 415, as kube-apiserver
    // answers a media type it does not know.
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("application/json");
    if !body.is_empty() && !content_type.starts_with("application/json") {
        return status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: application/json",
        );
    }
    match paths::parse(uri.path()) {
        Ok(target) => objects::handle(&front.store, &method, target, &query, &body).await,
        Err(paths::PathError::NotFound) => not_found(),
    }
}

/// Serves the front on `listener`, keeping objects in `store`, until the
/// task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, store: Store) -> std::io::Result<()> {
    let address = listener.local_addr()?.to_string();
    crate::namespaces::ensure_system_namespaces(&store)
        .await
        .map_err(std::io::Error::other)?;
    axum::serve(listener, router(address, store)).await
}
