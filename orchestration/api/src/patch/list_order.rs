//! The order of a list after a strategic merge, as strategicpatch fixes it
//! (`normalizeElementOrder`, `mergeSortedSlice`; design proposal
//! "preserve-order-in-strategic-merge-patch"): the items the patch names
//! come in the patch's order (or `$setElementOrder`'s), the others in the
//! object's order, and the two are interleaved by the object's order where
//! both are known. An item the object did not have goes before the
//! object's items that follow it, which puts a new container first.
//!
//! ```text
//!   merged ─► partition: named by the patch │ server-only
//!                 sort by patch order       │ sort by object order
//!                          └──── interleave by object order ────┘
//! ```

use std::collections::HashMap;

use serde_json::Value;

use super::error::unknown;
use super::PatchError;

/// Lists this short are sorted as Go's `sort.SliceStable` sorts them, by
/// insertion, which matters for strategicpatch's comparator when an item is
/// missing from the order (it then calls the item "less" both ways).
const INSERTION_SORT_LEN_MAX: usize = 20;

/// How items of one list are told apart.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Identity<'k> {
    /// A list of primitives: each item by itself.
    Primitives,
    /// A list of maps: each by its merge key's value.
    ByKey(&'k str),
    /// A list of maps with no merge key, which strategicpatch cannot tell
    /// apart (it looks for the key "").
    MapsWithoutKey,
}

impl Identity<'_> {
    /// What identifies `item`; `None` for a map without the merge key,
    /// which Go compares as `nil`, equal to any other such item.
    fn of(self, item: &Value) -> Option<&Value> {
        match self {
            Self::Primitives => Some(item),
            Self::ByKey(merge_key) => item.as_object()?.get(merge_key),
            Self::MapsWithoutKey => item.as_object()?.get(""),
        }
    }

    /// A hashable form of what identifies `item`.
    fn key(self, item: &Value) -> String {
        // Serialized JSON is never empty, so "" stands for Go's nil.
        self.of(item).map(Value::to_string).unwrap_or_default()
    }

    /// Checks every item of `list` is a map holding the merge key
    /// (`validateMergeKeyInLists`); primitives need no check.
    fn validate(self, list: &[Value]) -> Result<(), PatchError> {
        let merge_key = match self {
            Self::Primitives => return Ok(()),
            Self::ByKey(merge_key) => merge_key,
            Self::MapsWithoutKey => "",
        };
        for item in list {
            let Some(fields) = item.as_object() else {
                return Err(unknown::bad_arg_type("map[string]interface {}", item));
            };
            if !fields.contains_key(merge_key) {
                return Err(unknown::no_merge_key(item, merge_key));
            }
        }
        Ok(())
    }
}

/// Where each item stands in an order list: the index of its first match.
struct Positions(HashMap<String, usize>);

impl Positions {
    fn new(order: &[Value], identity: Identity<'_>) -> Self {
        let mut first = HashMap::new();
        for (index, item) in order.iter().enumerate() {
            first.entry(identity.key(item)).or_insert(index);
        }
        Self(first)
    }

    fn of(&self, item: &Value, identity: Identity<'_>) -> Option<usize> {
        self.0.get(&identity.key(item)).copied()
    }
}

/// Sorts `items` by where they stand in `order` (`normalizeSliceOrder`),
/// keeping `$patch: delete` items of a list of maps at the end.
fn sort_by_order(
    items: Vec<Value>,
    order: &[Value],
    identity: Identity<'_>,
) -> Result<Vec<Value>, PatchError> {
    let (mut items, deletes) = if let Identity::Primitives = identity {
        (items, Vec::new())
    } else {
        identity.validate(&items)?;
        identity.validate(order)?;
        items
            .into_iter()
            .partition(|item| item.get("$patch") != Some(&Value::from("delete")))
    };
    let positions = Positions::new(order, identity);
    let mut keyed: Vec<(Option<usize>, Value)> = items
        .drain(..)
        .map(|item| (positions.of(&item, identity), item))
        .collect();
    // strategicpatch's comparator: by position when both are in the
    // order, otherwise "less".
    let less = |left: Option<usize>, right: Option<usize>| match (left, right) {
        (Some(left), Some(right)) => left < right,
        _ => true,
    };
    if keyed.len() <= INSERTION_SORT_LEN_MAX {
        for i in 1..keyed.len() {
            let mut j = i;
            while j > 0 && less(keyed[j].0, keyed[j - 1].0) {
                keyed.swap(j, j - 1);
                j -= 1;
            }
        }
    } else {
        // Longer lists: a stable sort, which agrees with Go's whenever
        // every item is in the order (the case strategicpatch relies on).
        keyed.sort_by_key(|(position, _)| position.unwrap_or(usize::MAX));
    }
    let mut sorted: Vec<Value> = keyed.into_iter().map(|(_, item)| item).collect();
    sorted.extend(deletes);
    Ok(sorted)
}

/// Interleaves `server_only` (in the object's order) with `patch_items`
/// (in the patch's order) by `server_order` (`mergeSortedSlice`).
fn interleave(
    server_only: Vec<Value>,
    patch_items: Vec<Value>,
    server_order: &[Value],
    identity: Identity<'_>,
) -> Vec<Value> {
    let positions = Positions::new(server_order, identity);
    let mut merged = Vec::with_capacity(server_only.len() + patch_items.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = patch_items.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (positions.of(l, identity), positions.of(r, identity)),
                (Some(l), Some(r)) if l < r
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        merged.extend(next);
    }
    merged
}

/// Puts the items of a merged list in order (`normalizeElementOrder`):
/// `patch_items` by `patch_order`, `server_only` by `server_order`, then
/// interleaved.
pub(crate) fn normalize(
    patch_items: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    identity: Identity<'_>,
) -> Result<Vec<Value>, PatchError> {
    let patch_items = sort_by_order(patch_items, patch_order, identity)?;
    let server_only = sort_by_order(server_only, server_order, identity)?;
    Ok(interleave(server_only, patch_items, server_order, identity))
}

/// Splits `merged` into the items `named` also has and the others
/// (`partitionPrimitivesByPresentInList`, `partitionMapsByPresentInList`).
pub(crate) fn partition(
    merged: Vec<Value>,
    named: &[Value],
    identity: Identity<'_>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    match identity {
        Identity::ByKey(merge_key) => {
            let mut in_patch = Vec::new();
            let mut server_only = Vec::new();
            for item in merged {
                let Some(fields) = item.as_object() else {
                    return Err(unknown::bad_arg_type("map[string]interface {}", &item));
                };
                let Some(value) = fields.get(merge_key) else {
                    return Err(unknown::no_merge_key(&item, merge_key));
                };
                if find_by_key(named, merge_key, value)?.is_some() {
                    in_patch.push(item);
                } else {
                    server_only.push(item);
                }
            }
            Ok((in_patch, server_only))
        }
        Identity::MapsWithoutKey if merged.iter().chain(named).any(Value::is_object) => {
            Err(unknown::unhashable_items())
        }
        _ => {
            let named: std::collections::HashSet<String> =
                named.iter().map(Value::to_string).collect();
            Ok(merged
                .into_iter()
                .partition(|item| named.contains(&item.to_string())))
        }
    }
}

/// The index of the first map of `list` whose `merge_key` is `value`
/// (`findMapInSliceBasedOnKeyValue`, which fails on an item that is no
/// map).
pub(crate) fn find_by_key(
    list: &[Value],
    merge_key: &str,
    value: &Value,
) -> Result<Option<usize>, PatchError> {
    for (index, item) in list.iter().enumerate() {
        let Some(fields) = item.as_object() else {
            return Err(unknown::not_a_map(index));
        };
        if fields.get(merge_key) == Some(value) {
            return Ok(Some(index));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(list: &[Value]) -> Vec<&str> {
        list.iter()
            .map(|item| item["name"].as_str().expect("named"))
            .collect()
    }

    #[test]
    fn a_new_item_goes_before_the_objects_items() {
        // kubectl's task page: adding patch-demo-ctr-2 to a pod template
        // with patch-demo-ctr lists the new container first.
        let original = vec![json!({"name": "patch-demo-ctr"})];
        let patch = vec![json!({"name": "patch-demo-ctr-2"})];
        let merged = [original.clone(), patch.clone()].concat();
        let identity = Identity::ByKey("name");
        let (in_patch, server_only) = partition(merged, &patch, identity).expect("maps");
        let ordered =
            normalize(in_patch, server_only, &patch, &original, identity).expect("ordered");
        assert_eq!(names(&ordered), ["patch-demo-ctr-2", "patch-demo-ctr"]);
    }

    #[test]
    fn items_the_object_has_keep_their_place_among_its_others() {
        let original = vec![
            json!({"name": "a"}),
            json!({"name": "b"}),
            json!({"name": "c"}),
        ];
        let patch = vec![json!({"name": "c"}), json!({"name": "a"})];
        let identity = Identity::ByKey("name");
        let (in_patch, server_only) = partition(original.clone(), &patch, identity).expect("maps");
        let ordered =
            normalize(in_patch, server_only, &patch, &original, identity).expect("ordered");
        // c before a as the patch orders them; b, which the object has
        // before c, comes first.
        assert_eq!(names(&ordered), ["b", "c", "a"]);
    }

    #[test]
    fn items_without_the_merge_key_are_refused() {
        let identity = Identity::ByKey("name");
        let error = sort_by_order(vec![json!({"image": "nginx"})], &[], identity)
            .expect_err("no merge key");
        assert_eq!(
            error.message(),
            "map: map[image:nginx] does not contain declared merge key: name"
        );
        assert_eq!(error.code(), 500);
    }
}
