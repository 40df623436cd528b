//! How kube-apiserver answers a PATCH it cannot apply, in one table: each
//! failure's HTTP code, metav1 Status `reason` and `message`, as
//! staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go makes them
//! (`applyJSPatch`, `strategicPatchObject`,
//! `interpretStrategicMergePatchError`) from k8s.io/apimachinery's errors
//! (`api/errors/errors.go`, `util/mergepatch/errors.go`).
//!
//! ```text
//!   body is not JSON / not the patch's shape ─► 400 BadRequest
//!   JSON patch over 10000 operations ─────────► 413 RequestEntityTooLarge
//!   JSON patch operation fails ───────────────► 422 Invalid (generic words)
//!   strategic merge: bad directive format ────► 400 BadRequest
//!   strategic merge: list of lists ───────────► 422 Invalid (generic words)
//!   strategic merge: anything else ───────────► 500, no reason (a plain Go
//!                                               error reaching the handler)
//! ```
//!
//! A patch that changes nothing is no error: kube-apiserver answers 200
//! with the object as it was, and storage keeps its resourceVersion.

/// `mergepatch.ErrNoListOfLists`'s words.
pub(crate) const NO_LIST_OF_LISTS: &str = "lists of lists are not supported";
/// `mergepatch.ErrBadPatchFormatForPrimitiveList`'s words.
pub(crate) const BAD_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
/// `mergepatch.ErrBadPatchFormatForRetainKeys`'s words.
pub(crate) const BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
/// `mergepatch.ErrBadPatchFormatForSetElementOrderList`'s words.
pub(crate) const BAD_SET_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";
/// evanphx/json-patch v4's `ErrBadJSONPatch`, for a merge patch of `null`.
pub(crate) const BAD_JSON_PATCH: &str = "Invalid JSON Patch";

/// At most this many operations in one JSON patch (patch.go's
/// `maxJSONPatchOperations`): a bound on the work one request can ask for.
pub const JSON_PATCH_OPERATIONS_MAX: usize = 10_000;

/// The words of `NewGenericServerResponse` for code 422, which is what
/// kube-apiserver answers for a failing JSON patch operation, whatever the
/// operation's own error said.
const UNPROCESSABLE: &str = "the server rejected our request due to an error in our request";

/// Why a patch could not be applied, as kube-apiserver answers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// 400 BadRequest (`errors.NewBadRequest`): the body is not JSON, not
    /// of the patch type's shape, or a strategic merge directive is
    /// malformed. The message is the whole Status message.
    #[error("{0}")]
    BadRequest(String),
    /// 413 RequestEntityTooLarge: a JSON patch of more than
    /// [`JSON_PATCH_OPERATIONS_MAX`] operations.
    #[error(
        "Request entity too large: The allowed maximum operations in a JSON patch is {max}, got {operations}",
        max = JSON_PATCH_OPERATIONS_MAX
    )]
    TooManyOperations {
        /// How many operations the patch has.
        operations: usize,
    },
    /// 422 Invalid, with `NewGenericServerResponse`'s words and empty
    /// `details`: a JSON patch operation failed (a `test` that did not
    /// match, a path that is missing...), or a strategic merge met a list
    /// of lists. `cause` is the failure itself, for logs only: Kubernetes
    /// does not put it on the wire.
    #[error("{UNPROCESSABLE}")]
    Unprocessable {
        /// What failed, not part of the answer.
        cause: String,
    },
    /// 500 with no reason (`StatusReasonUnknown`): strategicpatch's other
    /// errors, which reach the handler as plain Go errors (a list item
    /// without its merge key, an unknown `$patch` directive...). The
    /// message is the Go error's text.
    #[error("{0}")]
    Unknown(String),
    /// 415 UnsupportedMediaType: a Content-Type that is none of the patch
    /// types keel accepts. kube-apiserver's list (negotiation's
    /// `errUnsupportedMediaType`) also names `application/apply-patch+yaml`,
    /// which keel does not serve yet, so it is left out here.
    #[error(
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json"
    )]
    UnsupportedMediaType,
}

impl PatchError {
    /// The HTTP status code, also the Status `code`.
    pub fn code(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::TooManyOperations { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::Unprocessable { .. } => 422,
            Self::Unknown(_) => 500,
        }
    }

    /// The Status `reason` ("" is `StatusReasonUnknown`, which Kubernetes
    /// leaves out of the JSON).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "BadRequest",
            Self::TooManyOperations { .. } => "RequestEntityTooLarge",
            Self::UnsupportedMediaType => "UnsupportedMediaType",
            Self::Unprocessable { .. } => "Invalid",
            Self::Unknown(_) => "",
        }
    }

    /// The Status `message`.
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// strategicpatch's plain Go errors (500, no reason), worded as
/// k8s.io/apimachinery's `strategicpatch/patch.go` and
/// `mergepatch/errors.go` word them.
pub(crate) mod unknown {
    use serde_json::Value;

    use super::PatchError;
    use crate::patch::go_text;

    /// `mergepatch.ErrBadArgType`: `actual` is not of Go type `expected`.
    pub(crate) fn bad_arg_type(expected: &str, actual: &Value) -> PatchError {
        PatchError::Unknown(format!(
            "expected a {expected}, but received a {}",
            go_text::type_name(actual)
        ))
    }

    /// `mergepatch.ErrNoMergeKey`: list item `item` lacks the list's merge
    /// key.
    pub(crate) fn no_merge_key(item: &Value, merge_key: &str) -> PatchError {
        PatchError::Unknown(format!(
            "map: {} does not contain declared merge key: {merge_key}",
            go_text::value(item)
        ))
    }

    /// `mergepatch.ErrBadPatchType`: a `$patch` directive that is not
    /// `replace` or `delete` (in a map) or also `merge` (in a list item).
    pub(crate) fn bad_patch_type(directive: &Value, holder: &Value) -> PatchError {
        PatchError::Unknown(format!(
            "unknown patch type: {} in map: {}",
            go_text::value_as_s(directive),
            go_text::value(holder)
        ))
    }

    /// `$patch: merge` in a list item.
    pub(crate) fn list_merge_directive() -> PatchError {
        PatchError::Unknown("merging lists cannot yet be specified in the patch".to_owned())
    }

    /// `findMapInSliceBasedOnKeyValue` met item `index` that is no map.
    pub(crate) fn not_a_map(index: usize) -> PatchError {
        PatchError::Unknown(format!("value for key {index} is not a map."))
    }

    /// `sliceElementType`: the items of the lists are of different types.
    pub(crate) fn mixed_item_types(lists: &[&[Value]]) -> PatchError {
        let lists: Vec<Value> = lists
            .iter()
            .map(|list| Value::Array(list.to_vec()))
            .collect();
        PatchError::Unknown(format!(
            "list element types are not identical: {}",
            go_text::value(&Value::Array(lists))
        ))
    }

    /// `sliceElementType` of lists that are all empty.
    pub(crate) fn no_items() -> PatchError {
        PatchError::Unknown("no elements in any of the given slices".to_owned())
    }

    /// `mergeSlice` on a list of maps whose field has no merge key
    /// (`$deleteFromPrimitiveList` aimed at such a list); Go names the
    /// items' kind, a struct for every such field keel serves.
    pub(crate) fn no_merge_key_declared() -> PatchError {
        PatchError::Unknown("cannot merge lists without merge key for struct".to_owned())
    }

    /// `validatePatchWithSetOrderList`: the patch list's order is not the
    /// `$setElementOrder` list's.
    pub(crate) fn order_mismatch(patch_list: &Value, order: &Value) -> PatchError {
        PatchError::Unknown(format!(
            "The order in patch list:\n{}\n doesn't match $setElementOrder list:\n{}\n",
            go_text::value(patch_list),
            go_text::value(order)
        ))
    }

    /// Go panics hashing a map when `$setElementOrder` names a list of
    /// maps that has no merge key; keel answers that as an error.
    pub(crate) fn unhashable_items() -> PatchError {
        PatchError::Unknown(
            "runtime error: hash of unhashable type map[string]interface {}".to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_table_is_kube_apiservers() {
        // (error, code, reason, message) as kube-apiserver 1.33 answers.
        let cases = [
            (
                PatchError::BadRequest("unexpected end of JSON input".into()),
                400,
                "BadRequest",
                "unexpected end of JSON input",
            ),
            (
                PatchError::TooManyOperations { operations: 10_001 },
                413,
                "RequestEntityTooLarge",
                "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001",
            ),
            (
                PatchError::Unprocessable {
                    cause: "testing value /metadata/name failed".into(),
                },
                422,
                "Invalid",
                "the server rejected our request due to an error in our request",
            ),
            (
                PatchError::Unknown("unknown patch type: merge in map: map[$patch:merge]".into()),
                500,
                "",
                "unknown patch type: merge in map: map[$patch:merge]",
            ),
            (
                PatchError::UnsupportedMediaType,
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json",
            ),
        ];
        for (error, code, reason, message) in cases {
            assert_eq!(
                (error.code(), error.reason(), error.message().as_str()),
                (code, reason, message)
            );
        }
    }
}
