//! What the controllers' adapters share: the thin I/O around each pure
//! core, so that every controller's `run.rs` only reads its caches, calls
//! its core and applies the plan.
//!
//! ```text
//!   core (pure) ◄── decode (JSON ─► k8s-openapi), wall_clock, the caches
//!        │
//!        ▼ plan ──► writes:  create_pods (slow start) · delete_pods · delete_object
//!                            adopt · release · write_status
//!                   awaited: what a key wrote and must see in its pod cache
//!                            before it creates or deletes again
//!                   encode (k8s-openapi ─► JSON), wait_of (a requeue)
//! ```
//!
//! - [`writes`]: the store writes several controllers make.
//! - [`awaited`]: the writes a controller awaits from its pod cache.

pub mod awaited;
pub mod writes;

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use keel_api::object::ObjectError;
use keel_runtime::{Cache, Index, StoreError};
use serde_json::Value;

use crate::pods::controller_uid_of;

/// The wall clock: the one reading of it an adapter makes per sync (the
/// cores take the time as an argument).
pub fn wall_clock() -> Timestamp {
    Timestamp::now()
}

/// `object` as k8s-openapi's `K`.
pub fn decode<K: serde::de::DeserializeOwned>(object: &Value) -> Result<K, StoreError> {
    serde_json::from_value(object.clone())
        .map_err(|error| StoreError::Object(ObjectError::Decode(error.to_string())))
}

/// `value` as JSON (k8s-openapi's types always serialize).
pub fn encode<K: serde::Serialize>(value: &K) -> Value {
    serde_json::to_value(value).expect("a k8s-openapi object serializes")
}

/// A signed duration as a wait (negative ones are no wait).
pub fn wait_of(duration: SignedDuration) -> Duration {
    Duration::try_from(duration).unwrap_or(Duration::ZERO)
}

/// The resourceVersion of a stored object (0 when missing).
pub fn resource_version_of(object: &Value) -> i64 {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

/// A write's answer with "not found" taken as done: the object is gone
/// already, so there is nothing left to write.
pub fn gone_is_done<T>(written: Result<T, StoreError>) -> Result<(), StoreError> {
    match written {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(error) => Err(error),
    }
}

/// The objects in `cache` whose controller is the owner of uid
/// `owner_uid` (the owner index holds every owner reference; this keeps
/// the controlling ones).
pub fn controlled_by(cache: &Cache, owner_uid: &str) -> Vec<Value> {
    cache
        .by_index(Index::Owner, owner_uid)
        .into_iter()
        .filter(|object| controller_uid_of(object) == Some(owner_uid))
        .collect()
}
