//! JSON merge patch (RFC 7386, `application/merge-patch+json`) as
//! kube-apiserver applies it with evanphx/json-patch v4's `MergePatch`:
//! objects merge key by key, `null` deletes a key, anything else (lists
//! included) replaces what was there. Where a patch object lands on
//! something that is not an object (or on nothing), its `null`s are dropped
//! first, down through nested objects and lists.
//!
//! ```text
//!   body ─► Go's JSON syntax ─► an object? ─► merge into the object
//!            400 "error decoding patch: ..."   (null: 400 "Invalid JSON Patch")
//! ```

use serde_json::{Map, Value};

use super::error::{PatchError, BAD_JSON_PATCH};
use super::go_text;

/// Applies JSON merge patch `body` to `original`.
pub(crate) fn apply(original: &Value, body: &[u8]) -> Result<Value, PatchError> {
    let patch = decode(body)?;
    Ok(merge_value(original.clone(), patch))
}

/// The patch object of `body`, with the errors of kube-apiserver's strict
/// decoding into `map[string]interface{}` and then evanphx's.
fn decode(body: &[u8]) -> Result<Map<String, Value>, PatchError> {
    let decoding =
        |message: String| PatchError::BadRequest(format!("error decoding patch: {message}"));
    if let Some(message) = go_text::syntax_error(body) {
        return Err(decoding(message));
    }
    match serde_json::from_slice(body).map_err(|error| decoding(error.to_string()))? {
        Value::Object(patch) => Ok(patch),
        Value::Null => Err(PatchError::BadRequest(BAD_JSON_PATCH.to_owned())),
        other => Err(decoding(go_text::unmarshal_type_error(
            &other,
            "map[string]interface {}",
        ))),
    }
}

/// Merges patch object `patch` into `target` (evanphx's `merge`).
pub(crate) fn merge_value(target: Value, patch: Map<String, Value>) -> Value {
    match target {
        Value::Object(target) => Value::Object(merge_objects(target, patch)),
        _ => without_nulls(Value::Object(patch)),
    }
}

/// Merges `patch` into `target` key by key (evanphx's `mergeDocs`).
fn merge_objects(mut target: Map<String, Value>, patch: Map<String, Value>) -> Map<String, Value> {
    for (key, patch_value) in patch {
        if patch_value.is_null() {
            target.remove(&key);
            continue;
        }
        match target.get_mut(&key) {
            Some(current) if !current.is_null() => {
                let merged = match (current.take(), patch_value) {
                    (current, Value::Object(patch)) => merge_value(current, patch),
                    // evanphx replaces an object by a non-object as it is,
                    // and anything else by the patch without its nulls.
                    (Value::Object(_), other) => other,
                    (_, other) => without_nulls(other),
                };
                *current = merged;
            }
            _ => {
                target.insert(key, without_nulls(patch_value));
            }
        }
    }
    target
}

/// `value` without the `null` members of its objects, at every depth
/// (evanphx's `pruneNulls`; `null` items of lists stay).
pub(crate) fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(_, field)| !field.is_null())
                .map(|(key, field)| (key, without_nulls(field)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn rfc_7386_appendix_a() {
        // The RFC's examples, as (target, patch, result).
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (target, patch, result) in cases {
            let Value::Object(patch) = patch else {
                unreachable!("objects above")
            };
            assert_eq!(
                merge_value(target.clone(), patch.clone()),
                result,
                "{target} + {patch:?}"
            );
        }
    }

    #[test]
    fn a_list_is_replaced_whole() {
        // The task page's JSON merge patch: the containers list is replaced,
        // so only patch-demo-ctr-3 is left.
        let deployment = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "patch-demo-ctr", "image": "nginx"},
            {"name": "patch-demo-ctr-2", "image": "redis"}
        ]}}}});
        let body = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "patch-demo-ctr-3", "image": "gcr.io/google-samples/hello-app:2.0"}
        ]}}}});
        let patched = apply(&deployment, body.to_string().as_bytes()).expect("applies");
        assert_eq!(
            patched["spec"]["template"]["spec"]["containers"],
            json!([{"name": "patch-demo-ctr-3", "image": "gcr.io/google-samples/hello-app:2.0"}])
        );
    }

    #[test]
    fn bodies_that_are_not_objects_are_400() {
        let object = json!({"a": 1});
        let cases: &[(&str, &str)] = &[
            ("{", "error decoding patch: unexpected end of JSON input"),
            (
                "[]",
                "error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}",
            ),
            (
                "\"a\"",
                "error decoding patch: json: cannot unmarshal string into Go value of type map[string]interface {}",
            ),
            ("null", "Invalid JSON Patch"),
        ];
        for (body, message) in cases {
            let error = apply(&object, body.as_bytes()).expect_err("400");
            assert_eq!(
                (error.code(), error.message().as_str()),
                (400, *message),
                "{body}"
            );
        }
    }

    /// JSON without `null` members in objects (a merge patch cannot set
    /// one), nested a few levels.
    pub(crate) fn json_without_null_members() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(Value::from),
            (-50i64..50).prop_map(Value::from),
            "[a-c]{0,2}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                prop::collection::btree_map("[a-d]", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    pub(crate) fn object_without_null_members() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::btree_map("[a-d]", json_without_null_members(), 0..4)
            .prop_map(|map| map.into_iter().collect())
    }

    /// The merge patch that turns object `from` into object `to`.
    fn diff(from: &Map<String, Value>, to: &Map<String, Value>) -> Map<String, Value> {
        let mut patch = Map::new();
        for key in from.keys().filter(|key| !to.contains_key(*key)) {
            patch.insert(key.clone(), Value::Null);
        }
        for (key, wanted) in to {
            match (from.get(key), wanted) {
                (Some(have), wanted) if have == wanted => {}
                (Some(Value::Object(have)), Value::Object(wanted)) => {
                    patch.insert(key.clone(), Value::Object(diff(have, wanted)));
                }
                _ => {
                    patch.insert(key.clone(), wanted.clone());
                }
            }
        }
        patch
    }

    proptest! {
        #[test]
        fn the_diff_of_two_objects_patches_one_into_the_other(
            from in object_without_null_members(),
            to in object_without_null_members(),
        ) {
            let patched = merge_value(Value::Object(from.clone()), diff(&from, &to));
            prop_assert_eq!(patched, Value::Object(to));
        }

        #[test]
        fn applying_a_merge_patch_twice_is_applying_it_once(
            target in object_without_null_members(),
            patch in prop::collection::btree_map(
                "[a-d]",
                prop_oneof![Just(Value::Null), json_without_null_members()],
                0..4,
            ),
        ) {
            let patch: Map<String, Value> = patch.into_iter().collect();
            let once = merge_value(Value::Object(target), patch.clone());
            let Value::Object(patch) = Value::Object(patch) else { unreachable!() };
            let twice = merge_value(once.clone(), patch);
            prop_assert_eq!(twice, once);
        }
    }
}
