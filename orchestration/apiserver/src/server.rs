//! The HTTP front's router: the paths kubectl calls, answered as
//! kube-apiserver answers them.
//!
//! ```text
//!   /version, /api, /api/v1, /apis, /apis/<group>/<version> ─► discovery
//!   /openapi/v2, /openapi/v3, /openapi/v3/<group version> ─► openapi
//!   /api/v1/namespaces/<ns>/pods/<name>/log, .../exec ─► kubelet_proxy ─► the kubelet
//!   /api/v1/..., /apis/<group>/<version>/... (paths) ─► objects ─► store
//!   anything else ─► 404, a metav1.Status "NotFound"
//! ```

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::json;

use keel_runtime::Store;

use crate::failure::Failure;
use crate::{discovery, kubelet_proxy, objects, openapi, paths};

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

/// 404 for a path nothing is served at, as kube-apiserver answers it.
pub(crate) fn not_found() -> Response {
    Failure::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource",
    )
    .into_response()
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
        .route(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            get(no_custom_resources),
        )
        .route("/openapi/v2", get(openapi::serve_v2))
        .route("/openapi/v3", get(openapi::serve_v3_root))
        .route(
            "/openapi/v3/{*group_version}",
            get(openapi::serve_v3_group_version),
        )
        .route(
            "/api/v1/namespaces/{namespace}/pods/{name}/log",
            any(pod_log),
        )
        .route(
            "/api/v1/namespaces/{namespace}/pods/{name}/exec",
            any(pod_exec),
        )
        .fallback(resource_path)
        // Bodies are read up to BODY_MAX by the handler, which refuses
        // larger ones with kube-apiserver's Status rather than axum's.
        .layer(DefaultBodyLimit::disable())
        .with_state(Front { address, store })
}

/// keel serves no custom resources; kubectl 1.27+ lists their
/// definitions when a manifest's kind is not in the OpenAPI documents, and
/// reads an empty list as "not a custom resource either" (the server then
/// answers for the kind itself).
async fn no_custom_resources(State(front): State<Front>) -> Response {
    let revision = front
        .store
        .list(
            keel_api::resources::of::<keel_api::k8s_openapi::api::core::v1::Namespace>(),
            "",
            &keel_runtime::ListOptions {
                limit: 1,
                ..keel_runtime::ListOptions::default()
            },
        )
        .await
        .map_or(0, |list| list.resource_version);
    Json(json!({
        "kind": "CustomResourceDefinitionList",
        "apiVersion": "apiextensions.k8s.io/v1",
        "metadata": {"resourceVersion": revision.to_string()},
        "items": [],
    }))
    .into_response()
}

/// `pods/log`, from the pod's kubelet.
async fn pod_log(
    State(front): State<Front>,
    Path((namespace, name)): Path<(String, String)>,
    method: Method,
    uri: Uri,
) -> Response {
    kubelet_proxy::log(&front.store, &namespace, &name, &method, &uri).await
}

/// `pods/exec`, an upgrade relayed to the pod's kubelet.
async fn pod_exec(
    State(front): State<Front>,
    Path((namespace, name)): Path<(String, String)>,
    request: Request,
) -> Response {
    kubelet_proxy::exec(&front.store, &namespace, &name, request).await
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
    body: Body,
) -> Response {
    let header = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let Ok(body) = axum::body::to_bytes(body, BODY_MAX).await else {
        return Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {BODY_MAX}"),
        )
        .into_response();
    };
    match paths::parse(uri.path()) {
        Ok(target) => {
            let request = objects::Request {
                method,
                target,
                query,
                content_type: header(header::CONTENT_TYPE),
                accept: header(header::ACCEPT),
                body,
            };
            objects::handle(&front.store, request).await
        }
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
