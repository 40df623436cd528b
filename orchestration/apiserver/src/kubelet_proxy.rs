//! `pods/log` and `pods/exec`: answered by the pod's kubelet, reached as
//! kube-apiserver reaches it.
//!
//! ```text
//!   GET pods/<name>/log?container&follow&...
//!     the pod ─► its container (the only one, kubectl's default-container
//!     annotation, or ?container) ─► its node ─► InternalIP and
//!     status.daemonEndpoints.kubeletEndpoint.Port
//!     ─► GET /containerLogs/<ns>/<pod>/<container>?... on the kubelet
//!     ─► its text streamed back (chunked: `kubectl logs -f` follows)
//!   GET|POST pods/<name>/exec?container&command&stdin&... (an upgrade)
//!     ─► the same request, path /exec/<ns>/<pod>/<container>, on a new
//!        connection to the kubelet ─► its 101 relayed ─► bytes both ways
//!        (whatever the upgraded protocol: WebSocket now)
//! ```
//!
//! The kubelet's refusals (plain text) become a `metav1.Status` with its
//! code, as kube-apiserver's response checker makes them.

use axum::body::Body;
use axum::extract::{Query, Request};
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use keel_api::k8s_openapi::api::core::v1::{Node, Pod};
use keel_api::resources;
use keel_runtime::Store;
use serde_json::Value;

use crate::failure::Failure;

/// The most of a kubelet's refusal that is read (kube-apiserver reads
/// 4 KiB of a backend's error; a kubelet's messages are one line).
const KUBELET_REFUSAL_MAX: usize = 4 * 1024;

/// The kubelet's port when its Node does not say (the kubelet's default).
const KUBELET_PORT_DEFAULT: u64 = 10250;

/// The annotation kubectl reads a pod's default container from.
const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

/// `GET pods/<name>/log`.
pub(crate) async fn log(
    store: &Store,
    namespace: &str,
    name: &str,
    method: &Method,
    uri: &Uri,
) -> Response {
    match answer_log(store, namespace, name, method, uri).await {
        Ok(response) => response,
        Err(failure) => failure.into_response(),
    }
}

/// `GET|POST pods/<name>/exec`.
pub(crate) async fn exec(store: &Store, namespace: &str, name: &str, request: Request) -> Response {
    match answer_exec(store, namespace, name, request).await {
        Ok(response) => response,
        Err(failure) => failure.into_response(),
    }
}

async fn answer_log(
    store: &Store,
    namespace: &str,
    name: &str,
    method: &Method,
    uri: &Uri,
) -> Result<Response, Failure> {
    if method != Method::GET {
        return Err(Failure::method_not_allowed(method.as_str()));
    }
    let pod = store.get(resources::of::<Pod>(), namespace, name).await?;
    let container = container_of(&pod, query_param(uri, "container").as_deref())?;
    let Some(node) = node_of(&pod) else {
        // kube-apiserver's LogLocation: a pod not yet on a node has no
        // logs, and no error.
        return Ok(plain_text(Body::empty()));
    };
    let kubelet = kubelet_address(store, node).await?;
    let path = format!(
        "/containerLogs/{namespace}/{name}/{container}{}",
        query_suffix(uri)
    );
    let request = axum::http::Request::get(path)
        .header(header::HOST, &kubelet)
        .body(Body::empty())
        .map_err(|error| Failure::bad_request(error.to_string()))?;
    let response = send(&kubelet, request).await?;
    if !response.status().is_success() {
        return Err(refusal(response).await);
    }
    Ok(plain_text(Body::new(response.into_body())))
}

async fn answer_exec(
    store: &Store,
    namespace: &str,
    name: &str,
    mut request: Request,
) -> Result<Response, Failure> {
    if request.method() != Method::GET && request.method() != Method::POST {
        return Err(Failure::method_not_allowed(request.method().as_str()));
    }
    let pod = store.get(resources::of::<Pod>(), namespace, name).await?;
    let container = container_of(&pod, query_param(request.uri(), "container").as_deref())?;
    let node = node_of(&pod)
        .ok_or_else(|| Failure::bad_request(format!("pod {name} does not have a host assigned")))?;
    let kubelet = kubelet_address(store, node).await?;
    let path = format!(
        "/exec/{namespace}/{name}/{container}{}",
        query_suffix(request.uri())
    );
    // The client's side of the upgrade, once this answer is a 101.
    let from_client = hyper::upgrade::on(&mut request);
    let (parts, body) = request.into_parts();
    let mut forwarded = axum::http::Request::builder()
        .method(parts.method)
        .uri(path)
        .body(body)
        .map_err(|error| Failure::bad_request(error.to_string()))?;
    *forwarded.headers_mut() = parts.headers;
    forwarded.headers_mut().insert(
        header::HOST,
        HeaderValue::from_str(&kubelet).map_err(|error| Failure::bad_request(error.to_string()))?,
    );
    let mut response = send(&kubelet, forwarded).await?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The kubelet refused the upgrade: its answer, as it is.
        let (parts, body) = response.into_parts();
        return Ok(Response::from_parts(parts, Body::new(body)));
    }
    let to_kubelet = hyper::upgrade::on(&mut response);
    tokio::spawn(async move {
        let (Ok(client), Ok(kubelet)) = tokio::join!(from_client, to_kubelet) else {
            return;
        };
        let _ =
            tokio::io::copy_bidirectional(&mut TokioIo::new(client), &mut TokioIo::new(kubelet))
                .await;
    });
    let (parts, _) = response.into_parts();
    Ok(Response::from_parts(parts, Body::empty()))
}

/// Sends `request` to the kubelet at `address` on a new connection, which
/// lives as long as the answer (and its upgrade) does.
async fn send(
    address: &str,
    request: axum::http::Request<Body>,
) -> Result<axum::http::Response<hyper::body::Incoming>, Failure> {
    let dial_failure = |error: &dyn std::fmt::Display| {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("error dialing backend: {error}"),
        )
    };
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|error| dial_failure(&error))?;
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| dial_failure(&error))?;
    tokio::spawn(connection.with_upgrades());
    sender
        .send_request(request)
        .await
        .map_err(|error| dial_failure(&error))
}

/// A kubelet's refusal as kube-apiserver's response checker turns it
/// into a Status.
async fn refusal(response: axum::http::Response<hyper::body::Incoming>) -> Failure {
    let code = response.status();
    let text = axum::body::to_bytes(Body::new(response.into_body()), KUBELET_REFUSAL_MAX)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim_end().to_owned())
        .unwrap_or_default();
    kubelet_failure(code, text)
}

/// The Status of a kubelet's `code` and message `text`.
fn kubelet_failure(code: StatusCode, text: String) -> Failure {
    match code {
        StatusCode::BAD_REQUEST => Failure::bad_request(text),
        StatusCode::NOT_FOUND => Failure::new(code, "NotFound", text),
        StatusCode::INTERNAL_SERVER_ERROR => Failure::new(
            code,
            "InternalError",
            format!("Internal error occurred: {text}"),
        ),
        _ => Failure::new(code, "", text),
    }
}

fn plain_text(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

/// A query parameter of `uri`, if given and not empty.
fn query_param(uri: &Uri, name: &str) -> Option<String> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri).ok()?;
    pairs
        .into_iter()
        .find(|(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value)
}

/// `?<query>` as the client sent it, or nothing (the kubelet ignores what
/// it does not read, `container` included).
fn query_suffix(uri: &Uri) -> String {
    uri.query()
        .map(|query| format!("?{query}"))
        .unwrap_or_default()
}

/// The node the pod is bound to.
fn node_of(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|node| !node.is_empty())
}

/// The names of the containers under `path` of a pod.
fn names<'a>(pod: &'a Value, path: &str) -> Vec<&'a str> {
    pod.pointer(path)
        .and_then(Value::as_array)
        .map(|containers| {
            containers
                .iter()
                .filter_map(|container| container["name"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// The container a request is about: the one asked for (which must be
/// the pod's), else the only one, else kubectl's default-container
/// annotation; refused as kube-apiserver's `validateContainer` refuses.
pub(crate) fn container_of(pod: &Value, asked: Option<&str>) -> Result<String, Failure> {
    let pod_name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let containers = names(pod, "/spec/containers");
    // As podutil.VisitContainers: init containers, containers, ephemeral.
    let mut all = names(pod, "/spec/initContainers");
    all.extend(&containers);
    all.extend(names(pod, "/spec/ephemeralContainers"));
    if let Some(asked) = asked {
        return if all.contains(&asked) {
            Ok(asked.to_owned())
        } else {
            Err(Failure::bad_request(format!(
                "container {asked} is not valid for pod {pod_name}"
            )))
        };
    }
    let annotated = pod
        .pointer("/metadata/annotations")
        .and_then(|annotations| annotations.get(DEFAULT_CONTAINER_ANNOTATION))
        .and_then(Value::as_str)
        .filter(|name| all.contains(name));
    match (containers.as_slice(), annotated) {
        ([only], _) => Ok((*only).to_owned()),
        (_, Some(annotated)) => Ok(annotated.to_owned()),
        ([], None) => Err(Failure::bad_request(format!(
            "a container name must be specified for pod {pod_name}"
        ))),
        (_, None) => Err(Failure::bad_request(format!(
            "a container name must be specified for pod {pod_name}, choose one of: [{}]",
            all.join(" ")
        ))),
    }
}

/// `host:port` of the kubelet on `node`: its InternalIP (else its first
/// address) and its Node's kubelet endpoint port.
async fn kubelet_address(store: &Store, node: &str) -> Result<String, Failure> {
    let node = store.get(resources::of::<Node>(), "", node).await?;
    let addresses = node
        .pointer("/status/addresses")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let address = addresses
        .iter()
        .find(|address| address["type"] == "InternalIP")
        .or_else(|| addresses.first())
        .and_then(|address| address["address"].as_str())
        .ok_or_else(|| {
            Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                format!(
                    "Internal error occurred: node {:?} has no address",
                    node.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                ),
            )
        })?;
    let port = node
        .pointer("/status/daemonEndpoints/kubeletEndpoint/Port")
        .and_then(Value::as_u64)
        .filter(|port| *port > 0)
        .unwrap_or(KUBELET_PORT_DEFAULT);
    Ok(if address.contains(':') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(result: Result<String, Failure>) -> String {
        match result {
            Ok(name) => name,
            Err(failure) => format!("{} {}", failure.code.as_u16(), failure.message),
        }
    }

    #[test]
    fn the_container_is_chosen_as_kube_apiserver_chooses() {
        let one = json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "app"}]}});
        assert_eq!(message(container_of(&one, None)), "app");
        assert_eq!(message(container_of(&one, Some("app"))), "app");
        assert_eq!(
            message(container_of(&one, Some("db"))),
            "400 container db is not valid for pod web"
        );
        let two = json!({"metadata": {"name": "web"}, "spec": {
            "initContainers": [{"name": "setup"}],
            "containers": [{"name": "app"}, {"name": "sidecar"}],
        }});
        assert_eq!(
            message(container_of(&two, None)),
            "400 a container name must be specified for pod web, choose one of: [setup app sidecar]"
        );
        assert_eq!(message(container_of(&two, Some("setup"))), "setup");
        let mut annotated = two.clone();
        annotated["metadata"]["annotations"] = json!({DEFAULT_CONTAINER_ANNOTATION: "sidecar"});
        assert_eq!(message(container_of(&annotated, None)), "sidecar");
        let none = json!({"metadata": {"name": "web"}, "spec": {"containers": []}});
        assert_eq!(
            message(container_of(&none, None)),
            "400 a container name must be specified for pod web"
        );
    }

    #[test]
    fn kubelet_refusals_become_statuses() {
        let failure = kubelet_failure(
            StatusCode::BAD_REQUEST,
            "previous terminated container \"app\" in pod \"web\" not found".into(),
        );
        assert_eq!(failure.reason, "BadRequest");
        assert_eq!(
            failure.message,
            "previous terminated container \"app\" in pod \"web\" not found"
        );
        let failure = kubelet_failure(StatusCode::INTERNAL_SERVER_ERROR, "disk".into());
        assert_eq!(failure.message, "Internal error occurred: disk");
    }

    #[test]
    fn query_parameters() {
        let uri: Uri = "/api/v1/namespaces/d/pods/p/log?container=app&follow=true"
            .parse()
            .unwrap();
        assert_eq!(query_param(&uri, "container").as_deref(), Some("app"));
        assert_eq!(query_param(&uri, "tailLines"), None);
        assert_eq!(query_suffix(&uri), "?container=app&follow=true");
        assert_eq!(query_suffix(&"/x".parse().unwrap()), "");
    }
}
