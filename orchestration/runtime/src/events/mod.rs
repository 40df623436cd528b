//! Events as kube-controller-manager's recorder makes them
//! (`staging/src/k8s.io/client-go/tools/record/event.go`) and folds them
//! together (`events_cache.go`'s `EventCorrelator`).
//!
//! ```text
//!   Notice (type, reason, message) on an object
//!     │ make_event: name <object>.<hex unix nanos>, count 1, first = last = now
//!     ▼
//!   Correlator::correlate(event, now)
//!     │ aggregate: 10 different messages for one (source, object, type,
//!     │            reason) within 10 min ─► one "(combined from similar
//!     │            events): ..." event from then on
//!     │ dedupe:    the same event again ─► patch count + 1, lastTimestamp
//!     │ spam:      25 events per (source, object), 1 more per 5 min
//!     ▼
//!   Correlation::{Create(Event), Patch{..}, Drop}
//! ```
//!
//! The correlator is plain state fed with `now`; the adapter writes what
//! it answers (create, or a merge patch of the named event).

mod correlator;
mod lru;

#[cfg(test)]
mod tests;

use keel_api::k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use keel_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use keel_api::k8s_openapi::jiff::Timestamp;

pub use correlator::{Correlation, Correlator, CorrelatorLimits};

/// An Event's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Nothing is wrong (`v1.EventTypeNormal`).
    Normal,
    /// Something may need a look (`v1.EventTypeWarning`).
    Warning,
}

impl EventType {
    /// The type as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

/// What a controller wants recorded about an object: a controller's
/// `recorder.Event(object, type, reason, message)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Normal or Warning.
    pub type_: EventType,
    /// A short CamelCase reason ("SuccessfulCreate").
    pub reason: String,
    /// The human-readable message.
    pub message: String,
}

impl Notice {
    /// A Normal notice.
    pub fn normal(reason: &str, message: &str) -> Self {
        Self {
            type_: EventType::Normal,
            reason: reason.to_owned(),
            message: message.to_owned(),
        }
    }

    /// A Warning notice.
    pub fn warning(reason: &str, message: &str) -> Self {
        Self {
            type_: EventType::Warning,
            reason: reason.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// Who records events: kube-controller-manager's controllers name
/// themselves ("job-controller") and leave the host empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// The component ("replicaset-controller").
    pub component: String,
    /// The host (empty for the controllers).
    pub host: String,
}

/// The name an event made at `now` gets: `<object name>.<unix nanoseconds
/// in lowercase hex>`.
pub fn event_name(object_name: &str, now: Timestamp) -> String {
    format!("{object_name}.{:x}", now.as_nanosecond())
}

/// A new Event about `involved`, as the recorder's `makeEvent` and
/// `generateEvent` build it: in the object's namespace ("default" for a
/// cluster-scoped object), count 1, first and last timestamps `now`.
pub fn make_event(
    involved: &ObjectReference,
    notice: &Notice,
    source: &Source,
    now: Timestamp,
) -> Event {
    let namespace = involved
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned());
    let non_empty = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    Event {
        metadata: ObjectMeta {
            name: Some(event_name(involved.name.as_deref().unwrap_or(""), now)),
            namespace: Some(namespace),
            ..ObjectMeta::default()
        },
        involved_object: involved.clone(),
        reason: Some(notice.reason.clone()),
        message: Some(notice.message.clone()),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        count: Some(1),
        type_: Some(notice.type_.as_str().to_owned()),
        source: Some(EventSource {
            component: non_empty(&source.component),
            host: non_empty(&source.host),
        }),
        reporting_component: Some(source.component.clone()),
        reporting_instance: Some(source.host.clone()),
        ..Event::default()
    }
}
