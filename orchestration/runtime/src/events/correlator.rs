//! `events_cache.go`'s `EventCorrelator`: similar events are aggregated,
//! repeated ones become a count on the first, and a source that floods one
//! object is held back.

use std::collections::BTreeSet;

use keel_api::k8s_openapi::api::core::v1::Event;
use keel_api::k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use keel_api::k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

use super::event_name;
use super::lru::Lru;

/// The prefix of an aggregated event's message.
pub const AGGREGATED_MESSAGE_PREFIX: &str = "(combined from similar events): ";

/// The correlator's bounds and windows, as `events_cache.go` sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorrelatorLimits {
    /// Entries each cache keeps (`maxLruCacheEntries`, 4096).
    pub cache_entries_max: usize,
    /// Different messages for one object and reason before they are
    /// aggregated (`defaultAggregateMaxEvents`, 10).
    pub aggregate_events_max: usize,
    /// The window those messages are counted in
    /// (`defaultAggregateIntervalInSeconds`, 600 s).
    pub aggregate_interval: SignedDuration,
    /// Events one source may record about one object at once
    /// (`defaultSpamBurst`, 25).
    pub spam_burst: u32,
    /// The time it takes to earn one more (`defaultSpamQPS` = 1/300 s).
    pub spam_refill_every: SignedDuration,
}

impl Default for CorrelatorLimits {
    fn default() -> Self {
        Self {
            cache_entries_max: 4096,
            aggregate_events_max: 10,
            aggregate_interval: SignedDuration::from_secs(600),
            spam_burst: 25,
            spam_refill_every: SignedDuration::from_secs(300),
        }
    }
}

/// What to do with an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Correlation {
    /// Create this Event.
    Create(Event),
    /// Patch the existing Event (a strategic merge patch of `patch`:
    /// count, lastTimestamp and message).
    Patch {
        /// The Event's namespace.
        namespace: String,
        /// The Event's name.
        name: String,
        /// `{"count": .., "lastTimestamp": .., "message": ..}`.
        patch: Value,
        /// The Event as it is after the patch (what to create instead if
        /// the patch finds it gone, as the recorder does).
        event: Event,
    },
    /// Drop it: its source is flooding the object.
    Drop,
}

#[derive(Debug, Clone)]
struct AggregateRecord {
    messages: BTreeSet<String>,
    last: Timestamp,
}

#[derive(Debug, Clone)]
pub(super) struct Observation {
    count: i32,
    first_timestamp: Option<Time>,
    name: String,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Whole tokens left.
    tokens: f64,
    last: Timestamp,
}

/// The correlator's state: three bounded caches.
#[derive(Debug, Clone)]
pub struct Correlator {
    limits: CorrelatorLimits,
    aggregates: Lru<AggregateRecord>,
    pub(super) observations: Lru<Observation>,
    spam: Lru<Bucket>,
}

fn text(field: Option<&String>) -> &str {
    field.map_or("", String::as_str)
}

fn object_key(event: &Event) -> Vec<&str> {
    let source = event.source.as_ref();
    let object = &event.involved_object;
    vec![
        text(source.and_then(|s| s.component.as_ref())),
        text(source.and_then(|s| s.host.as_ref())),
        text(object.kind.as_ref()),
        text(object.namespace.as_ref()),
        text(object.name.as_ref()),
        text(object.uid.as_ref()),
        text(object.api_version.as_ref()),
    ]
}

/// `getEventKey`: everything that makes two events the same one.
fn event_key(event: &Event) -> String {
    let mut parts = object_key(event);
    parts.insert(5, text(event.involved_object.field_path.as_ref()));
    parts.extend([
        text(event.type_.as_ref()),
        text(event.reason.as_ref()),
        text(event.message.as_ref()),
    ]);
    parts.concat()
}

/// `EventAggregatorByReasonFunc`'s key: the same object and reason,
/// whatever the message.
fn aggregate_key(event: &Event) -> String {
    let mut parts = object_key(event);
    parts.extend([
        text(event.type_.as_ref()),
        text(event.reason.as_ref()),
        text(event.reporting_component.as_ref()),
        text(event.reporting_instance.as_ref()),
    ]);
    parts.concat()
}

impl Correlator {
    /// An empty correlator.
    pub fn new(limits: CorrelatorLimits) -> Self {
        Self {
            limits,
            aggregates: Lru::new(limits.cache_entries_max),
            observations: Lru::new(limits.cache_entries_max),
            spam: Lru::new(limits.cache_entries_max),
        }
    }

    /// Decides what becomes of `event` (as [`super::make_event`] made it)
    /// at `now`.
    pub fn correlate(&mut self, event: Event, now: Timestamp) -> Correlation {
        let (event, key) = self.aggregate(event, now);
        let (event, patch) = self.observe(event, key);
        if !self.allow(&event, now) {
            return Correlation::Drop;
        }
        match patch {
            None => Correlation::Create(event),
            Some(patch) => Correlation::Patch {
                namespace: event.metadata.namespace.clone().unwrap_or_default(),
                name: event.metadata.name.clone().unwrap_or_default(),
                patch,
                event,
            },
        }
    }

    /// `EventAggregator.EventAggregate`.
    fn aggregate(&mut self, event: Event, now: Timestamp) -> (Event, String) {
        let key = aggregate_key(&event);
        let mut record = match self.aggregates.get(&key) {
            Some(r) if now.duration_since(r.last) <= self.limits.aggregate_interval => r.clone(),
            _ => AggregateRecord {
                messages: BTreeSet::new(),
                last: now,
            },
        };
        record
            .messages
            .insert(text(event.message.as_ref()).to_owned());
        record.last = now;
        let similar = record.messages.len();
        if similar >= self.limits.aggregate_events_max {
            // Do not grow the set past the limit.
            record.messages.pop_first();
        }
        self.aggregates.insert(key.clone(), record);
        if similar < self.limits.aggregate_events_max {
            let own_key = event_key(&event);
            return (event, own_key);
        }
        let object = &event.involved_object;
        let combined = Event {
            metadata: ObjectMeta {
                name: Some(event_name(text(object.name.as_ref()), now)),
                namespace: event.metadata.namespace.clone(),
                ..ObjectMeta::default()
            },
            count: Some(1),
            first_timestamp: Some(Time(now)),
            last_timestamp: Some(Time(now)),
            message: Some(format!(
                "{AGGREGATED_MESSAGE_PREFIX}{}",
                text(event.message.as_ref())
            )),
            involved_object: event.involved_object.clone(),
            type_: event.type_.clone(),
            reason: event.reason.clone(),
            source: event.source.clone(),
            ..Event::default()
        };
        (combined, key)
    }

    /// `eventLogger.eventObserve`: a repeat takes the first one's name
    /// and firstTimestamp, and one more count.
    fn observe(&mut self, mut event: Event, key: String) -> (Event, Option<Value>) {
        let mut patch = None;
        if let Some(last) = self.observations.get(&key).filter(|o| o.count > 0).cloned() {
            event.metadata.name = Some(last.name);
            event.first_timestamp = last.first_timestamp;
            event.count = Some(last.count + 1);
            patch = Some(json!({
                "count": event.count,
                "lastTimestamp": event.last_timestamp,
                "message": event.message,
            }));
        }
        self.observations.insert(
            key,
            Observation {
                count: event.count.unwrap_or(1),
                first_timestamp: event.first_timestamp.clone(),
                name: event.metadata.name.clone().unwrap_or_default(),
            },
        );
        (event, patch)
    }

    /// `EventSourceObjectSpamFilter.Filter`: a token bucket per source
    /// and object.
    fn allow(&mut self, event: &Event, now: Timestamp) -> bool {
        let key = object_key(event).concat();
        let burst = f64::from(self.limits.spam_burst);
        let mut bucket = self.spam.get(&key).copied().unwrap_or(Bucket {
            tokens: burst,
            last: now,
        });
        let refill = self.limits.spam_refill_every.as_secs_f64();
        if refill > 0.0 {
            let earned = now.duration_since(bucket.last).as_secs_f64().max(0.0) / refill;
            bucket.tokens = (bucket.tokens + earned).min(burst);
        }
        bucket.last = now;
        let allowed = bucket.tokens >= 1.0;
        if allowed {
            bucket.tokens -= 1.0;
        }
        self.spam.insert(key, bucket);
        allowed
    }
}
