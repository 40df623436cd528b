//! Watches over HTTP, streamed as kube-apiserver streams them: one JSON
//! event per line, `{"type": "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"
//! | "ERROR", "object": ...}`, on a chunked 200 answer.
//!
//! ```text
//!   resourceVersion unset or "0" ─► list now: ADDED for each object ─┐
//!   resourceVersion = N ──────────────────────────────────────────────┤
//!                                                                     ▼
//!   keel watch from R + 1 (prev_kv) ─► selectors (moved in: ADDED, moved
//!        out: DELETED) ─► events ─► the client, until timeoutSeconds
//!   compacted ─► ERROR 410 Expired "too old resource version", end
//!   allowWatchBookmarks ─► BOOKMARK every minute and 2 s before the end,
//!        from keel's progress notifications
//! ```

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use keel_api::ResourceInfo;
use keel_runtime::{ListOptions, ObjectEvent, Store};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::failure::Failure;
use crate::objects::Selection;
use crate::output::{self, Form};

/// How often a watch that asked for bookmarks gets one (kube-apiserver's
/// cacher: "roughly every minute").
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);
/// A bookmark is also sent this long before a watch's timeout, so that the
/// client resumes from a recent revision (kube-apiserver: 2 s).
const BOOKMARK_BEFORE_END: Duration = Duration::from_secs(2);
/// A watch without timeoutSeconds ends after this long (kube-apiserver's
/// minimum request timeout, 1800 s; it picks between that and twice it).
const TIMEOUT_DEFAULT: Duration = Duration::from_secs(1800);
/// Encoded events queued for a slow client before the watch waits for it.
const EVENTS_QUEUED_MAX: usize = 64;
/// The annotation of the bookmark that ends a watch's initial events.
const INITIAL_EVENTS_END: &str = "k8s.io/initial-events-end";

/// A watch request, as its query parameters ask.
pub struct WatchRequest {
    /// The kind watched.
    pub resource: &'static ResourceInfo,
    /// The namespace ("" for all).
    pub namespace: String,
    /// `resourceVersion`: events after it; `None` for "unset" or "0".
    pub after: Option<i64>,
    /// Which objects.
    pub selection: Selection,
    /// `allowWatchBookmarks`.
    pub bookmarks: bool,
    /// `sendInitialEvents`, when given.
    pub send_initial_events: Option<bool>,
    /// `timeoutSeconds`.
    pub timeout: Option<Duration>,
    /// Objects, or one-row Tables (`kubectl get -w`).
    pub form: Form,
}

/// The stream's answer: 200 and events as they come.
pub async fn serve(store: &Store, request: WatchRequest) -> Response {
    let (sender, receiver) = mpsc::channel::<Result<Bytes, Infallible>>(EVENTS_QUEUED_MAX);
    let (start, initial) = match starting_point(store, &request).await {
        Ok(start) => start,
        Err(failure) => return failure.into_response(),
    };
    let store = store.clone();
    tokio::spawn(async move {
        stream(&store, request, start, initial, &sender).await;
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// The revision the watch follows from and the objects it first reports
/// as ADDED (every selected object now, unless the client named a
/// resourceVersion or declined initial events).
async fn starting_point(
    store: &Store,
    request: &WatchRequest,
) -> Result<(i64, Vec<Value>), Failure> {
    let send_initial = request
        .send_initial_events
        .unwrap_or(request.after.is_none());
    if !send_initial {
        if let Some(after) = request.after {
            return Ok((after, Vec::new()));
        }
    }
    let mut initial = Vec::new();
    let mut options = ListOptions::default();
    loop {
        let page = store
            .list(request.resource, &request.namespace, &options)
            .await?;
        if send_initial {
            initial.extend(
                page.items
                    .into_iter()
                    .filter(|object| request.selection.matches(request.resource, object)),
            );
        }
        match page.continue_token {
            Some(token) if send_initial => {
                options.continue_token = Some(token);
            }
            _ => return Ok((page.resource_version, initial)),
        }
    }
}

/// One event's line, its object in `form` (a Table of one row for
/// `kubectl get -w`; bookmarks and errors stay as they are).
fn object_line(resource: &ResourceInfo, kind: &str, object: Value, form: Form) -> Bytes {
    match output::one(resource, object, form) {
        Ok(object) => event_line(kind, &object),
        Err(failure) => event_line("ERROR", &failure.status()),
    }
}

/// One encoded event line.
fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object}))
        .expect("a JSON value serializes");
    line.push(b'\n');
    Bytes::from(line)
}

/// A BOOKMARK's object: the kind, and metadata with only the revision
/// (and annotations, for the end of initial events).
fn bookmark(resource: &ResourceInfo, revision: i64, initial_end: bool) -> Bytes {
    let mut metadata = json!({"resourceVersion": revision.to_string()});
    if initial_end {
        metadata["annotations"] = json!({INITIAL_EVENTS_END: "true"});
    }
    event_line(
        "BOOKMARK",
        &json!({"kind": resource.kind, "apiVersion": resource.api_version, "metadata": metadata}),
    )
}

/// What a keel event is to a watcher with `selection`: moving into the
/// selection is ADDED, moving out of it DELETED.
fn selected(
    resource: &ResourceInfo,
    selection: &Selection,
    event: ObjectEvent,
) -> Option<(&'static str, Value)> {
    let matches = |object: &Value| selection.matches(resource, object);
    match event {
        ObjectEvent::Added(object) => matches(&object).then_some(("ADDED", object)),
        ObjectEvent::Deleted(object) => matches(&object).then_some(("DELETED", object)),
        ObjectEvent::Modified { object, previous } => {
            match (matches(&object), matches(&previous)) {
                (true, true) => Some(("MODIFIED", object)),
                (true, false) => Some(("ADDED", object)),
                (false, true) => {
                    let mut gone = previous;
                    if let Some(rv) = object.pointer("/metadata/resourceVersion") {
                        gone["metadata"]["resourceVersion"] = rv.clone();
                    }
                    Some(("DELETED", gone))
                }
                (false, false) => None,
            }
        }
        ObjectEvent::Progress { .. } => None,
    }
}

/// Follows keel and sends events until the timeout, an error, or the
/// client leaving.
async fn stream(
    store: &Store,
    request: WatchRequest,
    start: i64,
    initial: Vec<Value>,
    sender: &mpsc::Sender<Result<Bytes, Infallible>>,
) {
    let resource = request.resource;
    let send = |line: Bytes| async move { sender.send(Ok(line)).await.is_ok() };
    for object in initial {
        if !send(object_line(resource, "ADDED", object, request.form)).await {
            return;
        }
    }
    if request.bookmarks
        && request.send_initial_events == Some(true)
        && !send(bookmark(resource, start, true)).await
    {
        return;
    }
    let mut watch = store.watch(resource, &request.namespace, start);
    let end = Instant::now() + request.timeout.unwrap_or(TIMEOUT_DEFAULT);
    let last_bookmark = end.checked_sub(BOOKMARK_BEFORE_END).unwrap_or(end);
    let mut next_bookmark = (Instant::now() + BOOKMARK_EVERY).min(last_bookmark);
    let mut revision = start;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(end) => return,
            () = sender.closed() => return,
            () = tokio::time::sleep_until(next_bookmark), if request.bookmarks => {
                watch.request_progress();
                next_bookmark = if next_bookmark >= last_bookmark {
                    end + BOOKMARK_EVERY
                } else {
                    (next_bookmark + BOOKMARK_EVERY).min(last_bookmark)
                };
            }
            event = watch.next() => {
                let line = match event {
                    None => return,
                    // Compaction past the watch: 410 Expired, and the
                        // client lists again.
                    Some(Err(error)) => {
                        let status = Failure::from(error).status();
                        let _ = sender.send(Ok(event_line("ERROR", &status))).await;
                        return;
                    }
                    Some(Ok(ObjectEvent::Progress { revision: at })) => {
                        revision = revision.max(at);
                        if !request.bookmarks {
                            continue;
                        }
                        bookmark(resource, revision, false)
                    }
                    Some(Ok(event)) => {
                        let Some((kind, object)) = selected(resource, &request.selection, event) else {
                            continue;
                        };
                        object_line(resource, kind, object, request.form)
                    }
                };
                if !send(line).await {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_api::k8s_openapi::api::core::v1::Pod;
    use keel_api::resources::of;
    use keel_api::selector::{FieldSelector, LabelSelector};

    fn pod(name: &str, app: &str, rv: &str) -> Value {
        json!({"metadata": {"name": name, "labels": {"app": app}, "resourceVersion": rv}})
    }

    #[test]
    fn objects_moving_in_and_out_of_a_selection_are_added_and_deleted() {
        let selection = Selection {
            labels: LabelSelector::parse("app=web").expect("valid"),
            fields: FieldSelector::default(),
        };
        let pods = of::<Pod>();
        let moved_in = ObjectEvent::Modified {
            object: pod("a", "web", "9"),
            previous: pod("a", "db", "8"),
        };
        assert_eq!(
            selected(pods, &selection, moved_in),
            Some(("ADDED", pod("a", "web", "9")))
        );
        let moved_out = ObjectEvent::Modified {
            object: pod("a", "db", "10"),
            previous: pod("a", "web", "9"),
        };
        assert_eq!(
            selected(pods, &selection, moved_out),
            Some(("DELETED", pod("a", "web", "10"))),
            "the object as it was, at the revision it left"
        );
        let elsewhere = ObjectEvent::Modified {
            object: pod("b", "db", "11"),
            previous: pod("b", "db", "10"),
        };
        assert_eq!(selected(pods, &selection, elsewhere), None);
        let changed = ObjectEvent::Modified {
            object: pod("a", "web", "12"),
            previous: pod("a", "web", "11"),
        };
        assert_eq!(
            selected(pods, &selection, changed).map(|(kind, _)| kind),
            Some("MODIFIED")
        );
    }

    #[test]
    fn bookmarks_carry_only_the_kind_and_revision() {
        let line = bookmark(of::<Pod>(), 42, true);
        let event: Value = serde_json::from_slice(&line).expect("JSON");
        assert_eq!(
            event,
            json!({"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1",
                   "metadata": {"resourceVersion": "42",
                                "annotations": {"k8s.io/initial-events-end": "true"}}}})
        );
        assert!(line.ends_with(b"\n"));
    }
}
