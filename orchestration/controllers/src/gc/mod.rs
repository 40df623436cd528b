//! The garbage collector (`pkg/controller/garbagecollector/`) and the
//! namespace deleter (`pkg/controller/namespace/deletion/`), Kubernetes
//! 1.33, over a snapshot of objects (JSON, any kind). keel-api's
//! `deletion` module decides what a delete does; these decide which
//! deletes and updates to make.
//!
//! ```text
//!   objects (uid, ownerReferences, finalizers, deletionTimestamp)
//!     │ owners::plan
//!     │   every owner gone ─► delete the dependent (its own finalizers
//!     │                       pick the propagation; default Background)
//!     │   an owner deleting in the foreground ─► delete it Foreground
//!     │   a live owner besides ─► drop the references to the others
//!     │   owner "foregroundDeletion", no blocking dependents left ─► drop the finalizer
//!     │   owner "orphan" ─► drop its reference from each dependent, then the finalizer
//!   Terminating namespace + its objects ─► namespace::plan
//!     │ delete what is not being deleted; conditions saying what remains;
//!     ▼ nothing left ─► remove the "kubernetes" finalizer (/finalize)
//! ```

mod namespace;
mod owners;
pub mod run;

#[cfg(test)]
mod tests;

use keel_api::deletion::{finalizers, FOREGROUND, ORPHAN};
use serde_json::Value;

pub use namespace::{plan as namespace_plan, NamespacePlan, NAMESPACE_FINALIZER};
pub use owners::{plan, GcAction, Reference};

/// Who an object is: enough to find it, write it and name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectId {
    /// `apiVersion` ("apps/v1").
    pub api_version: String,
    /// `kind` ("ReplicaSet").
    pub kind: String,
    /// The namespace ("" for a cluster-scoped object).
    pub namespace: String,
    /// The name.
    pub name: String,
    /// The uid.
    pub uid: String,
}

impl ObjectId {
    /// The identity of a stored object.
    pub fn of(object: &Value) -> Self {
        let text = |pointer: &str| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        Self {
            api_version: text("/apiVersion"),
            kind: text("/kind"),
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
            uid: text("/metadata/uid"),
        }
    }
}

fn deleting(object: &Value) -> bool {
    object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
}

fn has_finalizer(object: &Value, finalizer: &str) -> bool {
    finalizers(object).iter().any(|f| f == finalizer)
}

/// Whether the object is being deleted in the foreground
/// (`isDeletingDependents`).
fn deleting_dependents(object: &Value) -> bool {
    deleting(object) && has_finalizer(object, FOREGROUND)
}

/// Whether the object is being deleted and orphans its dependents.
fn orphaning(object: &Value) -> bool {
    deleting(object) && has_finalizer(object, ORPHAN)
}
