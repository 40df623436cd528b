//! Strategic merge patch (`application/strategic-merge-patch+json`) as
//! kube-apiserver applies it to the kinds keel serves
//! (k8s.io/apimachinery v0.33 `pkg/util/strategicpatch/patch.go`,
//! `StrategicMergeMapPatch`): a JSON merge patch that knows, from the Go
//! types' tags ([`merge_keys`](super::merge_keys)), which lists merge item
//! by item, and that obeys directives.
//!
//! ```text
//!   map:  $patch replace|delete ─► $retainKeys ─► $setElementOrder/<list>
//!         ─► each key: null deletes │ new: added without nulls/directives
//!                      maps merge   │ lists: merge strategy? ─► merge_list
//!                      else the patch's value replaces
//!   merge list of maps:  $patch delete|replace items ─► merge by key ─► order
//!   merge list of primitives: union (or $deleteFromPrimitiveList) ─► order
//! ```

use serde_json::{Map, Value};

use super::error::{
    unknown, PatchError, BAD_PRIMITIVE_LIST, BAD_RETAIN_KEYS, BAD_SET_ELEMENT_ORDER,
    NO_LIST_OF_LISTS,
};
use super::go_text;
use super::list_order::{self, find_by_key, Identity};
use super::merge::without_nulls;
use super::merge_keys::{ListStrategy, Schema};
use crate::resources::ResourceInfo;

/// `$patch`: what to do with the map or list item holding it.
const DIRECTIVE: &str = "$patch";
/// `$retainKeys`: the keys a map keeps; the others are cleared.
const RETAIN_KEYS: &str = "$retainKeys";
/// `$deleteFromPrimitiveList/<list>`: values to take out of a list.
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
/// `$setElementOrder/<list>`: the order the merged list takes.
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

type Object = Map<String, Value>;

/// Applies strategic merge patch `body` to `original`, an object of
/// `resource`'s kind.
pub(crate) fn apply(
    resource: &ResourceInfo,
    original: &Value,
    body: &[u8],
) -> Result<Value, PatchError> {
    if let Some(message) = go_text::syntax_error(body) {
        return Err(PatchError::BadRequest(message));
    }
    let patch = match serde_json::from_slice(body)
        .map_err(|error| PatchError::BadRequest(error.to_string()))?
    {
        Value::Object(patch) => patch,
        // Go decodes `null` into a nil map, which patches nothing.
        Value::Null => return Ok(original.clone()),
        other => {
            return Err(PatchError::BadRequest(go_text::unmarshal_type_error(
                &other,
                "map[string]interface {}",
            )))
        }
    };
    let original = original.as_object().cloned().unwrap_or_default();
    merge_map(original, patch, Schema::of(resource)).map(Value::Object)
}

/// The Go type a decoded JSON value has; values of different types never
/// merge (strategicpatch compares `reflect.TypeOf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GoType {
    Nil,
    Bool,
    Int,
    Float,
    String,
    Map,
    Slice,
}

fn go_type(value: &Value) -> GoType {
    match value {
        Value::Null => GoType::Nil,
        Value::Bool(_) => GoType::Bool,
        Value::Number(n) if n.as_i64().is_some() => GoType::Int,
        Value::Number(_) => GoType::Float,
        Value::String(_) => GoType::String,
        Value::Object(_) => GoType::Map,
        Value::Array(_) => GoType::Slice,
    }
}

/// Merges `patch` into map `original` (`mergeMap`).
fn merge_map(
    mut original: Object,
    mut patch: Object,
    schema: Schema,
) -> Result<Object, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => {
                patch.remove(DIRECTIVE);
                Ok(patch)
            }
            Some("delete") => Ok(Object::new()),
            _ => Err(unknown::bad_patch_type(
                directive,
                &Value::Object(patch.clone()),
            )),
        };
    }
    retain_keys(&mut original, &mut patch)?;
    merge_ordered_lists(&mut original, &mut patch, schema)?;
    for (key, patch_value) in patch {
        let (key, delete_list) = if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            (field_of(&key, DELETE_FROM_PRIMITIVE_LIST)?, true)
        } else {
            (key, false)
        };
        if patch_value.is_null() {
            original.remove(&key);
            continue;
        }
        let Some(current) = original.remove(&key) else {
            if !delete_list {
                original.extend(added(patch_value).map(|value| (key, value)));
            }
            continue;
        };
        let merged =
            match (current, patch_value) {
                (current, patch_value) if go_type(&current) != go_type(&patch_value) => {
                    if delete_list {
                        Some(current)
                    } else {
                        added(patch_value)
                    }
                }
                (Value::Object(current), Value::Object(patch_value)) => Some(Value::Object(
                    merge_map(current, patch_value, schema.object(&key))?,
                )),
                (Value::Array(current), Value::Array(patch_value)) => {
                    let (strategy, items) = schema.list(&key);
                    Some(Value::Array(merge_list(
                        current,
                        patch_value,
                        strategy,
                        items,
                        delete_list,
                    )?))
                }
                (_, primitive) => Some(primitive),
            };
        original.extend(merged.map(|value| (key, value)));
    }
    Ok(original)
}

/// The list field a `$deleteFromPrimitiveList/...` or `$setElementOrder/...`
/// key names (`extractKey`).
fn field_of(key: &str, prefix: &str) -> Result<String, PatchError> {
    match key.split_once('/') {
        Some((head, field)) if head == prefix => Ok(field.to_owned()),
        _ => Err(PatchError::BadRequest(
            if prefix == DELETE_FROM_PRIMITIVE_LIST {
                BAD_PRIMITIVE_LIST
            } else {
                BAD_SET_ELEMENT_ORDER
            }
            .to_owned(),
        )),
    }
}

/// A patch value for a key the object lacks, or whose value is of another
/// type: without its `null` members (`discardNullValuesFromPatch`) and
/// without maps holding a `$patch` directive (`removeDirectives`); `None`
/// when the value itself is such a map.
fn added(value: Value) -> Option<Value> {
    without_directives(without_nulls(value))
}

fn without_directives(value: Value) -> Option<Value> {
    match value {
        Value::Object(fields) if fields.contains_key(DIRECTIVE) => None,
        Value::Object(fields) => Some(Value::Object(
            fields
                .into_iter()
                .filter_map(|(key, field)| Some((key, without_directives(field)?)))
                .collect(),
        )),
        Value::Array(items) => Some(Value::Array(
            items.into_iter().filter_map(without_directives).collect(),
        )),
        other => Some(other),
    }
}

/// Applies a `$retainKeys` directive (`applyRetainKeysDirective`): every
/// key the patch sets must be listed, and `original` keeps only the listed
/// keys.
fn retain_keys(original: &mut Object, patch: &mut Object) -> Result<(), PatchError> {
    let Some(retained) = patch.remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let bad_format = || PatchError::BadRequest(BAD_RETAIN_KEYS.to_owned());
    let Value::Array(retained) = retained else {
        return Err(bad_format());
    };
    let listed = |key: &str| retained.iter().any(|item| item.as_str() == Some(key));
    let unlisted_set = patch.iter().any(|(key, value)| {
        !value.is_null()
            && !key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            && !key.starts_with(SET_ELEMENT_ORDER)
            && !listed(key)
    });
    if unlisted_set {
        return Err(bad_format());
    }
    original.retain(|key, _| listed(key));
    Ok(())
}

/// The list under `field` of `object`, if any; an error if it is no list.
fn list_at(object: &Object, field: &str) -> Result<Option<Vec<Value>>, PatchError> {
    match object.get(field) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.clone())),
        Some(other) => Err(unknown::bad_arg_type("[]interface {}", other)),
    }
}

/// Merges each list a `$setElementOrder/<list>` directive names, and puts
/// it in that order (`mergePatchIntoOriginal`); the list then leaves the
/// patch.
fn merge_ordered_lists(
    original: &mut Object,
    patch: &mut Object,
    schema: Schema,
) -> Result<(), PatchError> {
    let keys: Vec<String> = patch
        .keys()
        .filter(|key| key.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for key in keys {
        let Some(order) = patch.remove(&key) else {
            continue;
        };
        let Value::Array(order) = order else {
            return Err(unknown::bad_arg_type("[]interface {}", &order));
        };
        let field = field_of(&key, SET_ELEMENT_ORDER)?;
        let original_list = list_at(original, &field)?;
        let patch_list = list_at(patch, &field)?;
        let (strategy, items) = schema.list(&field);
        let merge_key = match strategy {
            ListStrategy::Merge { merge_key } => merge_key,
            ListStrategy::Replace => None,
        };
        validate_order(patch_list.as_deref().unwrap_or_default(), &order, merge_key)?;
        let merged = match (original_list.clone(), patch_list.clone()) {
            (Some(current), None) => current,
            (None, Some(added_list)) => added_list
                .into_iter()
                .filter_map(without_directives)
                .collect(),
            (Some(current), Some(patch_items)) => {
                merge_list(current, patch_items, strategy, items, false)?
            }
            (None, None) => continue,
        };
        let partition_by = match merge_key {
            Some(merge_key) => Identity::ByKey(merge_key),
            None if merged.iter().any(Value::is_object) => Identity::MapsWithoutKey,
            None => Identity::Primitives,
        };
        let (named, server_only) = list_order::partition(merged, &order, partition_by)?;
        let original_list = original_list.unwrap_or_default();
        let item_type = item_type(&[&original_list, patch_list.as_deref().unwrap_or_default()])?;
        let identity = match (item_type, merge_key) {
            (GoType::Map, Some(merge_key)) => Identity::ByKey(merge_key),
            (GoType::Map, None) => Identity::MapsWithoutKey,
            _ => Identity::Primitives,
        };
        let ordered = list_order::normalize(named, server_only, &order, &original_list, identity)?;
        original.insert(field.clone(), Value::Array(ordered));
        patch.remove(&field);
    }
    Ok(())
}

/// Checks the patch list names its items in the `$setElementOrder` list's
/// order, and names no other (`validatePatchWithSetOrderList`).
fn validate_order(
    patch_list: &[Value],
    order: &[Value],
    merge_key: Option<&str>,
) -> Result<(), PatchError> {
    if patch_list.is_empty() || order.is_empty() {
        return Ok(());
    }
    let mut named = Vec::with_capacity(patch_list.len());
    for item in patch_list {
        if merge_key.is_some() {
            if !item.is_object() {
                return Err(unknown::bad_arg_type("map[string]interface {}", item));
            }
            if item.get(DIRECTIVE).and_then(Value::as_str) == Some("delete") {
                continue;
            }
        }
        named.push(item);
    }
    let (mut patch_index, mut order_index) = (0, 0);
    while patch_index < named.len() && order_index < order.len() {
        if named[patch_index].get(DIRECTIVE).is_some() {
            patch_index += 1;
            continue;
        }
        if same_key(named[patch_index], &order[order_index], merge_key)? {
            patch_index += 1;
        }
        order_index += 1;
    }
    if patch_index < named.len() {
        return Err(unknown::order_mismatch(
            &Value::Array(patch_list.to_vec()),
            &Value::Array(order.to_vec()),
        ));
    }
    Ok(())
}

/// Whether two items are the same by `merge_key`, or equal for a list of
/// primitives (`mergeKeyValueEqual`).
fn same_key(left: &Value, right: &Value, merge_key: Option<&str>) -> Result<bool, PatchError> {
    let Some(merge_key) = merge_key else {
        return Ok(left == right);
    };
    let mut values = [left, right].into_iter().map(|item| {
        let fields = item
            .as_object()
            .ok_or_else(|| unknown::bad_arg_type("map[string]interface {}", item))?;
        fields
            .get(merge_key)
            .ok_or_else(|| unknown::no_merge_key(item, merge_key))
    });
    let left = values.next().expect("two items")?;
    let right = values.next().expect("two items")?;
    Ok(left == right)
}

/// The Go type of every item of `lists` (`sliceElementType`): they must
/// all be of one type, and not lists.
fn item_type(lists: &[&[Value]]) -> Result<GoType, PatchError> {
    let mut first = None;
    for item in lists.iter().flat_map(|list| list.iter()) {
        match first {
            None if go_type(item) == GoType::Slice => {
                return Err(PatchError::Unprocessable {
                    cause: NO_LIST_OF_LISTS.to_owned(),
                });
            }
            None => first = Some(go_type(item)),
            Some(first) if first != go_type(item) => {
                return Err(unknown::mixed_item_types(lists));
            }
            Some(_) => {}
        }
    }
    first.ok_or_else(unknown::no_items)
}

/// Merges list `patch` into list `original` by the field's strategy
/// (`mergeSliceHandler`): a delete list always merges, a list without the
/// merge strategy is replaced by the patch's as it is.
fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    strategy: ListStrategy,
    items: Schema,
    delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    match strategy {
        ListStrategy::Merge { merge_key } => {
            merge_slice(original, patch, merge_key, items, delete_list)
        }
        ListStrategy::Replace if delete_list => merge_slice(original, patch, None, items, true),
        ListStrategy::Replace => Ok(patch),
    }
}

/// Merges two lists of a merge field (`mergeSlice`).
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: Option<&str>,
    items: Schema,
    delete_list: bool,
) -> Result<Vec<Value>, PatchError> {
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    if item_type(&[&original, &patch])? != GoType::Map {
        if delete_list {
            return Ok(original
                .into_iter()
                .filter(|item| !patch.contains(item))
                .collect());
        }
        let mut union: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for item in original.iter().chain(&patch) {
            if !union.contains(item) {
                union.push(item.clone());
            }
        }
        let identity = Identity::Primitives;
        let (named, server_only) = list_order::partition(union, &patch, identity)?;
        return list_order::normalize(named, server_only, &patch, &original, identity);
    }
    let Some(merge_key) = merge_key else {
        return Err(unknown::no_merge_key_declared());
    };
    let (original, patch) = apply_item_directives(original, patch, merge_key)?;
    let merged = merge_by_key(original.clone(), &patch, merge_key, items)?;
    let identity = Identity::ByKey(merge_key);
    let (named, server_only) = list_order::partition(merged, &patch, identity)?;
    list_order::normalize(named, server_only, &patch, &original, identity)
}

/// Acts on the `$patch` items of a patch list of maps
/// (`mergeSliceWithSpecialElements`): `delete` takes the item of that key
/// out of `original`; `replace` makes the patch's other items the whole
/// list. Returns the list to merge into and the items left to merge.
fn apply_item_directives(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut rest = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.get(DIRECTIVE) else {
            rest.push(item);
            continue;
        };
        match directive.as_str() {
            Some("delete") => {
                let Some(value) = item.get(merge_key) else {
                    return Err(unknown::no_merge_key(&item, merge_key));
                };
                while let Some(index) = find_by_key(&original, merge_key, value)? {
                    original.remove(index);
                }
            }
            Some("replace") => replace = true,
            Some("merge") => return Err(unknown::list_merge_directive()),
            _ => return Err(unknown::bad_patch_type(directive, &item)),
        }
    }
    Ok(if replace {
        (rest, Vec::new())
    } else {
        (original, rest)
    })
}

/// Merges each patch item into the item of `original` with the same merge
/// key, or appends it (`mergeSliceWithoutSpecialElements`).
fn merge_by_key(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    items: Schema,
) -> Result<Vec<Value>, PatchError> {
    for item in patch {
        let Some(value) = item.get(merge_key) else {
            return Err(unknown::no_merge_key(item, merge_key));
        };
        match find_by_key(&original, merge_key, value)? {
            Some(index) => {
                let current = original[index].as_object().cloned().unwrap_or_default();
                let patch_item = item.as_object().cloned().unwrap_or_default();
                original[index] = Value::Object(merge_map(current, patch_item, items)?);
            }
            None => original.push(item.clone()),
        }
    }
    Ok(original)
}
