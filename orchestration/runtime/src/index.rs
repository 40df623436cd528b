//! An informer's cache: the objects of one resource by their key, with
//! indexes kept current through every put and delete, as client-go's
//! `cache.Indexer` (tools/cache/thread_safe_store.go) keeps them. Pure
//! data; the informer owns one and shares it read-only.
//!
//! ```text
//!   put(object) ─► objects[namespace/name] = object
//!                  for each index: drop the old object's values, add the new one's
//!   delete(key) ─► drop the object and its values
//!
//!   indexes[Index][value] = {keys}        by_index(Index::Label, "app=web")
//!     Namespace  metadata.namespace       "default"
//!     NodeName   spec.nodeName            "node-1"
//!     Owner      ownerReferences[*].uid   "6f1c…"
//!     Label      metadata.labels          "app=web" (one value per label)
//! ```
//!
//! An index entry that loses its last key is removed, so the indexes are
//! always exactly those rebuilt from the objects (the proptest below
//! checks it).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

/// Where an object is: its namespace ("" for a cluster-scoped kind) and
/// name. Orders as kube-apiserver lists: by namespace, then name.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// The namespace; empty for a cluster-scoped object.
    pub namespace: String,
    /// The name.
    pub name: String,
}

impl ObjectKey {
    /// The key of `name` in `namespace`.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of `object`, from its `metadata.namespace` and
    /// `metadata.name` (empty strings where missing).
    pub fn of(object: &Value) -> Self {
        let field = |pointer| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        Self::new(field("/metadata/namespace"), field("/metadata/name"))
    }
}

/// `namespace/name`, or `name` for a cluster-scoped object, as client-go's
/// `MetaNamespaceKeyFunc` writes keys.
impl fmt::Display for ObjectKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            formatter.write_str(&self.name)
        } else {
            write!(formatter, "{}/{}", self.namespace, self.name)
        }
    }
}

/// The indexes every cache keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Index {
    /// By `metadata.namespace` (client-go's `cache.NamespaceIndex`);
    /// cluster-scoped objects are in no entry.
    Namespace,
    /// By `spec.nodeName`, the node a pod is bound to; unbound pods are in
    /// no entry.
    NodeName,
    /// By the `uid` of each of `metadata.ownerReferences`.
    Owner,
    /// By each of `metadata.labels`, as `key=value`.
    Label,
}

impl Index {
    /// Every index, in order.
    pub const ALL: [Index; 4] = [
        Index::Namespace,
        Index::NodeName,
        Index::Owner,
        Index::Label,
    ];

    /// The values `object` has in this index (none, one, or several).
    pub fn values_of(self, object: &Value) -> Vec<String> {
        let text = |pointer| {
            object
                .pointer(pointer)
                .and_then(Value::as_str)
                .filter(|text| !text.is_empty())
                .map(str::to_owned)
        };
        match self {
            Index::Namespace => text("/metadata/namespace").into_iter().collect(),
            Index::NodeName => text("/spec/nodeName").into_iter().collect(),
            Index::Owner => object
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|owner| owner.get("uid").and_then(Value::as_str))
                .filter(|uid| !uid.is_empty())
                .map(str::to_owned)
                .collect(),
            Index::Label => object
                .pointer("/metadata/labels")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(key, value)| Some(format!("{key}={}", value.as_str()?)))
                .collect(),
        }
    }
}

/// The keys under each value of each index.
type Entries = BTreeMap<Index, BTreeMap<String, BTreeSet<ObjectKey>>>;

/// Objects by key, with their [`Index`]es.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexedObjects {
    objects: BTreeMap<ObjectKey, Value>,
    entries: Entries,
}

impl IndexedObjects {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache of `objects`, each under its [`ObjectKey::of`].
    pub fn from_objects(objects: impl IntoIterator<Item = Value>) -> Self {
        let mut cache = Self::new();
        for object in objects {
            cache.put(ObjectKey::of(&object), object);
        }
        cache
    }

    /// Stores `object` under `key`, replacing what was there (answered),
    /// and moves the key between index entries as its values changed.
    pub fn put(&mut self, key: ObjectKey, object: Value) -> Option<Value> {
        for index in Index::ALL {
            add_entries(&mut self.entries, index, &key, index.values_of(&object));
        }
        if let Some(previous) = self.objects.get(&key) {
            for index in Index::ALL {
                let kept: BTreeSet<String> = index.values_of(&object).into_iter().collect();
                let gone = index
                    .values_of(previous)
                    .into_iter()
                    .filter(|value| !kept.contains(value));
                remove_entries(&mut self.entries, index, &key, gone);
            }
        }
        self.objects.insert(key, object)
    }

    /// Removes the object under `key`, answering it.
    pub fn delete(&mut self, key: &ObjectKey) -> Option<Value> {
        let previous = self.objects.remove(key)?;
        for index in Index::ALL {
            remove_entries(&mut self.entries, index, key, index.values_of(&previous));
        }
        Some(previous)
    }

    /// The object under `key`.
    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// Every object, in key order.
    pub fn objects(&self) -> impl Iterator<Item = (&ObjectKey, &Value)> {
        self.objects.iter()
    }

    /// Every key, in order.
    pub fn keys(&self) -> impl Iterator<Item = &ObjectKey> {
        self.objects.keys()
    }

    /// The keys from `start` on, in order.
    pub fn keys_from(&self, start: &ObjectKey) -> impl Iterator<Item = &ObjectKey> {
        self.objects.range(start..).map(|(key, _)| key)
    }

    /// How many objects there are.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The keys of the objects whose `index` has `value`, in order.
    pub fn keys_by_index(&self, index: Index, value: &str) -> impl Iterator<Item = &ObjectKey> {
        self.entries
            .get(&index)
            .and_then(|values| values.get(value))
            .into_iter()
            .flatten()
    }

    /// The objects whose `index` has `value` (`by_index(Index::Label,
    /// "app=web")`), in key order.
    pub fn by_index(&self, index: Index, value: &str) -> Vec<Value> {
        self.keys_by_index(index, value)
            .map(|key| self.objects[key].clone())
            .collect()
    }

    /// The values `index` has entries for, in order.
    pub fn index_values(&self, index: Index) -> impl Iterator<Item = &str> {
        self.entries
            .get(&index)
            .into_iter()
            .flat_map(BTreeMap::keys)
            .map(String::as_str)
    }
}

fn add_entries(entries: &mut Entries, index: Index, key: &ObjectKey, values: Vec<String>) {
    for value in values {
        entries
            .entry(index)
            .or_default()
            .entry(value)
            .or_default()
            .insert(key.clone());
    }
}

/// Removes `key` from `index`'s `values`, and every entry left empty.
fn remove_entries(
    entries: &mut Entries,
    index: Index,
    key: &ObjectKey,
    values: impl IntoIterator<Item = String>,
) {
    let Some(by_value) = entries.get_mut(&index) else {
        return;
    };
    for value in values {
        if let Some(keys) = by_value.get_mut(&value) {
            keys.remove(key);
            if keys.is_empty() {
                by_value.remove(&value);
            }
        }
    }
    if by_value.is_empty() {
        entries.remove(&index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn pod(name: &str, node: &str, owner: &str, labels: &[(&str, &str)]) -> Value {
        let labels: serde_json::Map<String, Value> = labels
            .iter()
            .map(|(key, value)| ((*key).to_owned(), Value::from(*value)))
            .collect();
        json!({
            "metadata": {
                "namespace": "default", "name": name, "labels": labels,
                "ownerReferences": [{"uid": owner, "kind": "ReplicaSet", "name": "rs"}],
            },
            "spec": {"nodeName": node},
        })
    }

    fn names(objects: &[Value]) -> Vec<&str> {
        objects
            .iter()
            .map(|object| object["metadata"]["name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn keys_read_as_client_go_writes_them() {
        assert_eq!(ObjectKey::new("default", "web").to_string(), "default/web");
        assert_eq!(ObjectKey::new("", "node-1").to_string(), "node-1");
        assert_eq!(
            ObjectKey::of(&pod("web", "", "", &[])),
            ObjectKey::new("default", "web")
        );
    }

    #[test]
    fn each_index_finds_its_objects() {
        let cache = IndexedObjects::from_objects([
            pod("a", "node-1", "rs-1", &[("app", "web"), ("tier", "front")]),
            pod("b", "node-2", "rs-1", &[("app", "web")]),
            pod("c", "", "rs-2", &[("app", "db")]),
        ]);
        assert_eq!(
            names(&cache.by_index(Index::Namespace, "default")),
            ["a", "b", "c"]
        );
        assert_eq!(names(&cache.by_index(Index::NodeName, "node-2")), ["b"]);
        assert_eq!(names(&cache.by_index(Index::Owner, "rs-1")), ["a", "b"]);
        assert_eq!(names(&cache.by_index(Index::Label, "app=web")), ["a", "b"]);
        assert_eq!(names(&cache.by_index(Index::Label, "tier=front")), ["a"]);
        assert!(cache.by_index(Index::Label, "app").is_empty());
        assert_eq!(
            cache.index_values(Index::NodeName).collect::<Vec<_>>(),
            ["node-1", "node-2"],
            "an unbound pod is under no node"
        );
    }

    #[test]
    fn an_object_whose_labels_change_moves_between_entries() {
        let mut cache = IndexedObjects::from_objects([pod("a", "n", "o", &[("app", "web")])]);
        let key = ObjectKey::new("default", "a");
        cache.put(key.clone(), pod("a", "n", "o", &[("app", "db")]));
        assert!(cache.by_index(Index::Label, "app=web").is_empty());
        assert_eq!(names(&cache.by_index(Index::Label, "app=db")), ["a"]);
        assert_eq!(
            cache.index_values(Index::Label).collect::<Vec<_>>(),
            ["app=db"]
        );

        cache.delete(&key);
        assert!(cache.is_empty());
        assert_eq!(cache, IndexedObjects::new(), "no empty entries stay behind");
    }

    /// One step of a cache's life.
    #[derive(Debug, Clone)]
    enum Step {
        Put {
            name: u8,
            node: u8,
            owners: Vec<u8>,
            labels: Vec<(u8, u8)>,
        },
        Delete {
            name: u8,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        // Few names and values, so puts replace and entries are shared.
        prop_oneof![
            (
                0..6u8,
                0..3u8,
                prop::collection::vec(0..3u8, 0..3),
                prop::collection::vec((0..3u8, 0..3u8), 0..4)
            )
                .prop_map(|(name, node, owners, labels)| Step::Put {
                    name,
                    node,
                    owners,
                    labels
                }),
            (0..6u8).prop_map(|name| Step::Delete { name }),
        ]
    }

    fn object_of(name: u8, node: u8, owners: &[u8], labels: &[(u8, u8)]) -> Value {
        let labels: serde_json::Map<String, Value> = labels
            .iter()
            .map(|(key, value)| (format!("l{key}"), Value::from(format!("v{value}"))))
            .collect();
        let owners: Vec<Value> = owners
            .iter()
            .map(|owner| json!({"uid": format!("uid-{owner}")}))
            .collect();
        // Node 0 stands for "not bound".
        let node = if node == 0 {
            String::new()
        } else {
            format!("node-{node}")
        };
        json!({
            "metadata": {
                "namespace": format!("ns-{}", name % 2), "name": format!("o{name}"),
                "labels": labels, "ownerReferences": owners,
            },
            "spec": {"nodeName": node},
        })
    }

    proptest! {
        #[test]
        fn indexes_equal_those_rebuilt_from_the_final_objects(
            steps in prop::collection::vec(step(), 0..60)
        ) {
            let mut cache = IndexedObjects::new();
            for step in steps {
                match step {
                    Step::Put { name, node, owners, labels } => {
                        let object = object_of(name, node, &owners, &labels);
                        cache.put(ObjectKey::of(&object), object);
                    }
                    Step::Delete { name } => {
                        let key = ObjectKey::of(&object_of(name, 0, &[], &[]));
                        cache.delete(&key);
                    }
                }
            }
            let rebuilt = IndexedObjects::from_objects(
                cache.objects().map(|(_, object)| object.clone()),
            );
            prop_assert_eq!(&cache, &rebuilt);
        }
    }
}
