//! The Event recorder of a component: what its controllers notice about
//! objects becomes core/v1 Events in keel, folded as client-go's
//! recorder folds them (see [`crate::events`]).
//!
//! ```text
//!   record(object, notice) ── try_send ──► bounded channel ──► task:
//!     (never waits; a full channel          correlate(event, now)
//!      drops the event, as client-go's         Create ─► store.create
//!      broadcaster does)                       Patch  ─► merge patch (create if gone)
//!                                              Drop   ─► nothing
//! ```
//!
//! Writing an event never fails a reconcile: errors are logged.

use std::sync::Arc;

use keel_api::k8s_openapi::api::core::v1::{Event, ObjectReference};
use keel_api::patch::PatchType;
use keel_api::resources;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::events::{make_event, Correlation, Correlator, CorrelatorLimits, Notice, Source};
use crate::store::{Store, StoreError};

/// Events waiting to be written: client-go's broadcaster queues 1000
/// before it drops.
pub const EVENTS_BUFFERED_MAX: usize = 1000;

/// A component's recorder; clones share its task.
#[derive(Debug, Clone)]
pub struct Recorder {
    sender: mpsc::Sender<(ObjectReference, Notice)>,
    _task: Arc<AbortOnDrop>,
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Recorder {
    /// A recorder writing through `store` as `source` ("replicaset-
    /// controller", "default-scheduler"). Call it within a Tokio runtime.
    pub fn new(store: Store, source: Source) -> Self {
        let (sender, receiver) = mpsc::channel(EVENTS_BUFFERED_MAX);
        let task = tokio::spawn(write(store, source, receiver));
        Self {
            sender,
            _task: Arc::new(AbortOnDrop(task)),
        }
    }

    /// Records `notice` about `object` (as stored: apiVersion, kind,
    /// metadata); never waits.
    pub fn record(&self, object: &Value, notice: Notice) {
        if self.sender.try_send((reference(object), notice)).is_err() {
            tracing::warn!("the event recorder is behind; an event is dropped");
        }
    }
}

/// An object's reference, as an Event's `involvedObject` names it.
pub fn reference(object: &Value) -> ObjectReference {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_owned)
    };
    ObjectReference {
        api_version: text("/apiVersion"),
        kind: text("/kind"),
        namespace: text("/metadata/namespace"),
        name: text("/metadata/name"),
        uid: text("/metadata/uid"),
        resource_version: text("/metadata/resourceVersion"),
        field_path: None,
    }
}

/// The wall clock: the recorder's one reading of it.
fn now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

async fn write(
    store: Store,
    source: Source,
    mut receiver: mpsc::Receiver<(ObjectReference, Notice)>,
) {
    let mut correlator = Correlator::new(CorrelatorLimits::default());
    let events = resources::of::<Event>();
    while let Some((involved, notice)) = receiver.recv().await {
        let at = now();
        let event = make_event(&involved, &notice, &source, at);
        let written = match correlator.correlate(event, at) {
            Correlation::Create(event) => create(&store, event).await,
            Correlation::Patch {
                namespace,
                name,
                patch,
                event,
            } => {
                let body = patch.to_string();
                match store
                    .patch(events, &namespace, &name, PatchType::Merge, body.as_bytes())
                    .await
                {
                    Err(StoreError::NotFound { .. }) => create(&store, event).await,
                    other => other.map(drop),
                }
            }
            Correlation::Drop => Ok(()),
        };
        if let Err(error) = written {
            tracing::warn!(%error, reason = %notice.reason, "an event could not be written");
        }
    }
}

async fn create(store: &Store, event: Event) -> Result<(), StoreError> {
    let namespace = event.metadata.namespace.clone().unwrap_or_default();
    let mut object = serde_json::to_value(&event).expect("an Event serializes");
    object["apiVersion"] = "v1".into();
    object["kind"] = "Event".into();
    store
        .create(resources::of::<Event>(), &namespace, object)
        .await
        .map(drop)
}
