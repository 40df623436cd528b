//! Owner references as the garbage collector follows them
//! (`attemptToDeleteItem`, `processDeletingDependentsItem`,
//! `orphanDependents`).

use std::collections::HashMap;

use keel_api::deletion::{Propagation, FOREGROUND, ORPHAN};
use serde_json::Value;

use super::{deleting, deleting_dependents, has_finalizer, orphaning, ObjectId};

/// One owner reference of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The owner's uid.
    pub uid: String,
    /// Whether it blocks the owner's foreground deletion.
    pub block_owner_deletion: bool,
}

fn references(object: &Value) -> Vec<Reference> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| Reference {
            uid: r
                .get("uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            block_owner_deletion: r.get("blockOwnerDeletion").and_then(Value::as_bool)
                == Some(true),
        })
        .collect()
}

/// A write the garbage collector makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GcAction {
    /// Delete the object with this propagation (and a uid precondition).
    Delete {
        /// The object.
        object: ObjectId,
        /// How its own dependents go.
        propagation: Propagation,
    },
    /// Remove the owner references to these uids from the object.
    RemoveOwnerReferences {
        /// The dependent.
        object: ObjectId,
        /// The owners to forget.
        owner_uids: Vec<String>,
    },
    /// Remove a finalizer ("foregroundDeletion" or "orphan") from the
    /// object, which lets its deletion finish. Comes after the writes to
    /// its dependents in the list.
    RemoveFinalizer {
        /// The owner.
        object: ObjectId,
        /// The finalizer.
        finalizer: &'static str,
    },
}

/// The garbage collector's writes over a snapshot of `objects` (every
/// object that owns or is owned, of every kind).
pub fn plan(objects: &[Value]) -> Vec<GcAction> {
    let by_uid: HashMap<&str, &Value> = objects
        .iter()
        .filter_map(|o| Some((o.pointer("/metadata/uid")?.as_str()?, o)))
        .collect();
    let mut dependents: HashMap<String, Vec<(&Value, Reference)>> = HashMap::new();
    for object in objects {
        for reference in references(object) {
            dependents
                .entry(reference.uid.clone())
                .or_default()
                .push((object, reference));
        }
    }
    let mut actions = Vec::new();
    for object in objects {
        if deleting(object) {
            owner_being_deleted(object, &dependents, &mut actions);
        } else {
            dependent(object, &by_uid, &dependents, &mut actions);
        }
    }
    actions
}

/// A live dependent: is any owner left, or is an owner waiting for it?
fn dependent(
    object: &Value,
    by_uid: &HashMap<&str, &Value>,
    dependents: &HashMap<String, Vec<(&Value, Reference)>>,
    actions: &mut Vec<GcAction>,
) {
    let references = references(object);
    if references.is_empty() {
        return;
    }
    let namespace = ObjectId::of(object).namespace;
    let (mut solid, mut dangling, mut waiting) = (0, Vec::new(), Vec::new());
    for reference in references {
        // An owner in another namespace is no owner at all.
        let owner = by_uid.get(reference.uid.as_str()).filter(|owner| {
            let owner_namespace = ObjectId::of(owner).namespace;
            owner_namespace.is_empty() || owner_namespace == namespace
        });
        match owner {
            None => dangling.push(reference.uid),
            Some(owner) if deleting_dependents(owner) => waiting.push(reference.uid),
            Some(_) => solid += 1,
        }
    }
    let id = ObjectId::of(object);
    if solid > 0 {
        if !dangling.is_empty() || !waiting.is_empty() {
            dangling.extend(waiting);
            actions.push(GcAction::RemoveOwnerReferences {
                object: id,
                owner_uids: dangling,
            });
        }
        return;
    }
    let has_dependents = dependents.get(&id.uid).is_some_and(|d| !d.is_empty());
    let propagation = if !waiting.is_empty() && has_dependents {
        Propagation::Foreground
    } else if has_finalizer(object, ORPHAN) {
        Propagation::Orphan
    } else if has_finalizer(object, FOREGROUND) {
        Propagation::Foreground
    } else {
        Propagation::Background
    };
    actions.push(GcAction::Delete {
        object: id,
        propagation,
    });
}

/// An owner being deleted: orphan its dependents, or wait for the
/// blocking ones to go.
fn owner_being_deleted(
    object: &Value,
    dependents: &HashMap<String, Vec<(&Value, Reference)>>,
    actions: &mut Vec<GcAction>,
) {
    let id = ObjectId::of(object);
    let own = dependents.get(&id.uid).map_or(&[][..], Vec::as_slice);
    if orphaning(object) {
        for (dependent, _) in own {
            actions.push(GcAction::RemoveOwnerReferences {
                object: ObjectId::of(dependent),
                owner_uids: vec![id.uid.clone()],
            });
        }
        actions.push(GcAction::RemoveFinalizer {
            object: id,
            finalizer: ORPHAN,
        });
        return;
    }
    if deleting_dependents(object) && !own.iter().any(|(_, r)| r.block_owner_deletion) {
        actions.push(GcAction::RemoveFinalizer {
            object: id,
            finalizer: FOREGROUND,
        });
    }
}
