//! JSON patch (RFC 6902, `application/json-patch+json`) as kube-apiserver
//! applies it (patch.go `applyJSPatch`): the body is decoded as a list of
//! operations, at most [`JSON_PATCH_OPERATIONS_MAX`] of them, then applied in
//! order to the object; when one fails, nothing is applied.
//!
//! ```text
//!   body ─► Go's JSON syntax ─► [{op, path, from, value}...] ─► count ─► apply all or none
//!            400 "error decoding patch: ..."          413           422
//! ```

use serde_json::Value;

use super::error::{PatchError, JSON_PATCH_OPERATIONS_MAX};
use super::go_text;

/// The Go type kube-apiserver decodes a JSON patch into, as its decoding
/// errors name it.
const OPERATIONS_TYPE: &str = "[]handlers.jsonPatchOp";
const OPERATION_TYPE: &str = "handlers.jsonPatchOp";

/// Applies JSON patch `body` to `original`.
pub(crate) fn apply(original: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let operations = decode(body)?;
    let Some(operations) = operations else {
        // `null` decodes to no operations.
        return Ok(original.clone());
    };
    if operations.len() > JSON_PATCH_OPERATIONS_MAX {
        return Err(PatchError::TooManyOperations {
            operations: operations.len(),
        });
    }
    // Operations that kube-apiserver's decoder takes but its JSON patch
    // library then refuses (an unknown `op`, a missing `path`) fail as
    // applying does.
    let patch: json_patch::Patch =
        serde_json::from_value(Value::Array(operations)).map_err(|error| {
            PatchError::Unprocessable {
                cause: error.to_string(),
            }
        })?;
    let mut patched = original.clone();
    json_patch::patch_unsafe(&mut patched, &patch).map_err(|error| PatchError::Unprocessable {
        cause: error.to_string(),
    })?;
    Ok(patched)
}

/// The operations of `body`, `None` for `null`, with the errors of
/// kube-apiserver's strict decoding into `[]jsonPatchOp`.
fn decode(body: &[u8]) -> Result<Option<Vec<Value>>, PatchError> {
    let decoding =
        |message: String| PatchError::BadRequest(format!("error decoding patch: {message}"));
    if let Some(message) = go_text::syntax_error(body) {
        return Err(decoding(message));
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| decoding(error.to_string()))?;
    let operations = match value {
        Value::Null => return Ok(None),
        Value::Array(operations) => operations,
        other => {
            return Err(decoding(go_text::unmarshal_type_error(
                &other,
                OPERATIONS_TYPE,
            )))
        }
    };
    for operation in &operations {
        match operation {
            Value::Null => {}
            Value::Object(fields) => {
                // op, path and from are Go strings; value takes anything.
                for name in ["op", "path", "from"] {
                    match fields.get(name) {
                        None | Some(Value::Null | Value::String(_)) => {}
                        Some(other) => {
                            return Err(decoding(go_text::unmarshal_field_error(
                                other,
                                "jsonPatchOp",
                                name,
                                "string",
                            )));
                        }
                    }
                }
            }
            other => {
                return Err(decoding(go_text::unmarshal_type_error(
                    other,
                    OPERATION_TYPE,
                )))
            }
        }
    }
    Ok(Some(operations))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]}
        })
    }

    fn apply_json(body: &Value) -> Result<Value, PatchError> {
        apply(&pod(), body.to_string().as_bytes())
    }

    #[test]
    fn add_remove_replace_and_test_apply_in_order() {
        let patched = apply_json(&json!([
            {"op": "test", "path": "/metadata/name", "value": "web"},
            {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
            {"op": "remove", "path": "/metadata/labels/app"},
            {"op": "replace", "path": "/spec/containers/0/image", "value": "nginx:1.27"},
            {"op": "add", "path": "/spec/containers/-", "value": {"name": "log", "image": "busybox"}}
        ]))
        .expect("applies");
        assert_eq!(patched["metadata"]["labels"], json!({"tier": "front"}));
        assert_eq!(patched["spec"]["containers"][0]["image"], "nginx:1.27");
        assert_eq!(patched["spec"]["containers"][1]["name"], "log");
    }

    #[test]
    fn a_failing_test_changes_nothing_and_answers_422() {
        // The first operation would apply; the failing test undoes it all,
        // and kube-apiserver answers NewGenericServerResponse(422).
        let error = apply_json(&json!([
            {"op": "replace", "path": "/metadata/name", "value": "other"},
            {"op": "test", "path": "/metadata/labels/app", "value": "db"}
        ]))
        .expect_err("the test fails");
        assert_eq!((error.code(), error.reason()), (422, "Invalid"));
        assert_eq!(
            error.message(),
            "the server rejected our request due to an error in our request"
        );
    }

    #[test]
    fn missing_paths_and_unknown_operations_are_422() {
        for body in [
            json!([{"op": "remove", "path": "/metadata/annotations/x"}]),
            json!([{"op": "replace", "path": "/spec/nodeName", "value": "n1"}]),
            json!([{"op": "frobnicate", "path": "/spec"}]),
            json!([{"op": "add", "path": "/no/such/parent", "value": 1}]),
        ] {
            let error = apply_json(&body).expect_err("fails");
            assert_eq!(error.code(), 422, "{body}");
        }
    }

    #[test]
    fn bodies_that_are_not_operations_are_400() {
        let cases: &[(&str, &str)] = &[
            ("[{", "error decoding patch: unexpected end of JSON input"),
            (
                "{\"op\":\"add\"}",
                "error decoding patch: json: cannot unmarshal object into Go value of type []handlers.jsonPatchOp",
            ),
            (
                "[1]",
                "error decoding patch: json: cannot unmarshal number into Go value of type handlers.jsonPatchOp",
            ),
            (
                "[{\"op\":5,\"path\":\"/a\"}]",
                "error decoding patch: json: cannot unmarshal number into Go struct field jsonPatchOp.op of type string",
            ),
        ];
        for (body, message) in cases {
            let error = apply(&pod(), body.as_bytes()).expect_err("400");
            assert_eq!(
                (error.code(), error.message().as_str()),
                (400, *message),
                "{body}"
            );
        }
    }

    #[test]
    fn null_and_empty_lists_change_nothing() {
        assert_eq!(apply(&pod(), b"null").expect("no-op"), pod());
        assert_eq!(apply(&pod(), b"[]").expect("no-op"), pod());
    }

    #[test]
    fn too_many_operations_is_413() {
        let operation = json!({"op": "test", "path": "/kind", "value": "Pod"});
        let body = Value::Array(vec![operation; JSON_PATCH_OPERATIONS_MAX + 1]);
        let error = apply_json(&body).expect_err("too many");
        assert_eq!(error.code(), 413);
        assert_eq!(
            error.message(),
            "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
        );
    }
}
