//! PATCH as kube-apiserver applies it (staging/src/k8s.io/apiserver/pkg/
//! endpoints/handlers/patch.go): one pure function from the stored object,
//! the patch type and the body to the patched object, or to the error
//! kube-apiserver would answer.
//!
//! ```text
//!   Content-Type ─► PatchType::from_content_type
//!                      │ Json ──────────► json      (RFC 6902, json-patch crate)
//!   apply(resource, ───┼ Merge ─────────► merge     (RFC 7386, as evanphx/json-patch v4)
//!     object, body)    └ StrategicMerge ► strategic (+ merge_keys: the Go types' tags,
//!                                                     list_order: the merged lists' order)
//!                        errors ─► error::PatchError (code, reason, message)
//! ```
//!
//! The caller (the HTTP front) does the rest of kube-apiserver's PATCH:
//! preconditions on resourceVersion, decoding the result as the kind,
//! defaults, validation and storage. The result may not even be an object
//! of the kind (a JSON patch can replace the whole document); decoding it
//! is what catches that.
//!
//! Bodies are decoded as kube-apiserver does under its default field
//! validation (`Warn`, and kubectl's `Strict`): a body that is not JSON is
//! answered with Go's decoder's words. Not done: the unknown-field and
//! duplicate-field warnings (`Warn`) or errors (`Strict`) of that decoding.

mod error;
mod go_text;
mod json;
mod list_order;
mod merge;
mod merge_keys;
mod strategic;

#[cfg(test)]
mod tests;

use serde_json::Value;

pub use error::{PatchError, JSON_PATCH_OPERATIONS_MAX};
pub use merge_keys::{merge_lists, MergeList};

use crate::resources::ResourceInfo;

/// The patch types keel accepts, by their Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`: RFC 6902 operations.
    Json,
    /// `application/merge-patch+json`: RFC 7386 JSON merge patch.
    Merge,
    /// `application/strategic-merge-patch+json`: Kubernetes' strategic
    /// merge patch.
    StrategicMerge,
}

impl PatchType {
    /// The patch type of a Content-Type header, `None` for any other (which
    /// kube-apiserver answers with [`PatchError::UnsupportedMediaType`]).
    /// As patch.go does, parameters after the first `;` are dropped and
    /// nothing else is forgiven: no trimming, no case folding.
    pub fn from_content_type(content_type: &str) -> Option<PatchType> {
        let media_type = match content_type.find(';') {
            Some(index) if index > 0 => &content_type[..index],
            _ => content_type,
        };
        match media_type {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::StrategicMerge),
            _ => None,
        }
    }

    /// The Content-Type of the patch type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json-patch+json",
            Self::Merge => "application/merge-patch+json",
            Self::StrategicMerge => "application/strategic-merge-patch+json",
        }
    }
}

/// Applies patch `body` of `patch_type` to `original`, a stored object of
/// `resource`'s kind, as kube-apiserver does; `original` is left as it is.
///
/// A patch that changes nothing returns the object unchanged: that is no
/// error in Kubernetes (200, same resourceVersion).
pub fn apply(
    resource: &ResourceInfo,
    original: &Value,
    patch_type: PatchType,
    body: &[u8],
) -> Result<Value, PatchError> {
    match patch_type {
        PatchType::Json => json::apply(original, body),
        PatchType::Merge => merge::apply(original, body),
        PatchType::StrategicMerge => strategic::apply(resource, original, body),
    }
}
