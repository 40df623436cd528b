//! Namespaces as kube-apiserver keeps them: the system namespaces exist
//! from the start (its bootstrap and system-namespaces controllers), and
//! the NamespaceLifecycle admission plugin refuses new objects in a
//! namespace that does not exist or is being terminated, and the deletion
//! of the namespaces that must stay
//! (`plugin/pkg/admission/namespace/lifecycle/admission.go`).
//!
//! ```text
//!   front starts ─► create default, kube-system, kube-public, kube-node-lease
//!                   (those that are missing)
//!   create in ns ─► ns missing: 404 NotFound; ns Terminating: 403 Forbidden
//!   delete default | kube-system | kube-public ─► 403 Forbidden
//! ```

use axum::http::StatusCode;
use keel_api::k8s_openapi::api::core::v1::Namespace;
use keel_api::resources::of;
use keel_api::ResourceInfo;
use keel_runtime::{Store, StoreError};
use serde_json::{json, Value};

use crate::failure::Failure;

/// The namespaces that may not be deleted.
pub const IMMORTAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// The namespaces that exist from the start.
pub const SYSTEM_NAMESPACES: &[&str] =
    &["default", "kube-system", "kube-public", "kube-node-lease"];

/// Creates the system namespaces that do not exist.
pub async fn ensure_system_namespaces(store: &Store) -> Result<(), StoreError> {
    for name in SYSTEM_NAMESPACES {
        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        match store.create(of::<Namespace>(), "", namespace).await {
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// NamespaceLifecycle's check of a create of `name` (of `resource`) in
/// `namespace`.
pub(crate) async fn admit_create(
    store: &Store,
    resource: &ResourceInfo,
    namespace: &str,
    name: &str,
) -> Result<(), Failure> {
    if !resource.namespaced {
        return Ok(());
    }
    let found: Value = store.get(of::<Namespace>(), "", namespace).await?;
    let terminating = found
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
        || found.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating");
    if terminating {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                resource.qualified()
            ),
        ));
    }
    Ok(())
}
