//! A typed informer: the objects of one resource (in one namespace, or in
//! all), decoded, cached with indexes, and told as Kubernetes' informers
//! tell them: added, modified (old and new), deleted (the last state seen),
//! and listed, after which a controller reconciles everything.
//!
//! ```text
//!   keel_client::Informer over resource.prefix(namespace)
//!     Changed { changes } ──► decode (from_stored: resourceVersion =
//!                             mod_revision) ──► cache ──► Added / Modified / Deleted
//!     Relisted           ──► diff the new list against the cache ──► ... + Listed
//!     error              ──► Err; the next call lists again (as a relist)
//!
//!   Cache: a handle on the cache (IndexedObjects + revision), cloned to
//!          the readers (controllers, their reconciles) while the informer writes
//! ```
//!
//! The start is a list into an empty cache, so it is told like a relist:
//! an `Added` per object, then `Listed`. After a relist, changes in between
//! were not seen one by one: the diff tells what differs, coalesced
//! (client-go's reflector tells a `Replace` the same way, with deletions
//! of what vanished).
//!
//! An object that does not decode (not JSON, not an object, or under a key
//! that is not one of the resource's) is skipped with a warning: the cache
//! keeps the last state it could read, and the informer runs on.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use keel_api::{object, ResourceInfo};
use keel_client::proto::mvccpb::KeyValue;
use keel_client::{Change, Client, Update};
use serde_json::Value;

use crate::index::{Index, IndexedObjects, ObjectKey};

/// Why an informer could not go on (for now: call `next` again to list
/// anew).
#[derive(Debug, thiserror::Error)]
pub enum InformerError {
    /// keel answered with an error (or did not answer).
    #[error(transparent)]
    Keel(#[from] keel_client::Error),
}

/// What an informer tells.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An object appeared.
    Added(Value),
    /// An object changed.
    Modified {
        /// The object as the cache had it.
        old: Value,
        /// The object as it is now.
        new: Value,
    },
    /// An object was deleted; this is the last state the cache had.
    Deleted(Value),
    /// The cache was listed (at the start) or listed again (after the
    /// watch fell behind a compaction, or broke), at `revision`; the
    /// events before this one told the differences. Reconcile everything.
    Listed {
        /// The revision the list was read at.
        revision: i64,
    },
}

impl Event {
    /// The key of the object the event is about (`None` for `Listed`).
    pub fn key(&self) -> Option<ObjectKey> {
        match self {
            Event::Added(object) | Event::Modified { new: object, .. } | Event::Deleted(object) => {
                Some(ObjectKey::of(object))
            }
            Event::Listed { .. } => None,
        }
    }
}

/// The cache and the revision it is current at.
#[derive(Debug, Default)]
pub(crate) struct Cached {
    pub(crate) objects: IndexedObjects,
    pub(crate) revision: i64,
}

/// A read handle on an informer's cache; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Cache {
    shared: Arc<RwLock<Cached>>,
}

impl Cache {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cached> {
        // Poisoned only if a writer panicked, which is a bug.
        self.shared
            .read()
            .expect("the cache's writer did not panic")
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cached> {
        self.shared
            .write()
            .expect("the cache's writer did not panic")
    }

    /// The object `name` in `namespace` ("" for a cluster-scoped kind).
    pub fn get(&self, namespace: &str, name: &str) -> Option<Value> {
        self.get_key(&ObjectKey::new(namespace, name))
    }

    /// The object under `key`.
    pub fn get_key(&self, key: &ObjectKey) -> Option<Value> {
        self.read().objects.get(key).cloned()
    }

    /// Every object, in key order.
    pub fn list(&self) -> Vec<Value> {
        self.read()
            .objects
            .objects()
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// Every key, in order.
    pub fn keys(&self) -> Vec<ObjectKey> {
        self.read().objects.keys().cloned().collect()
    }

    /// At most `limit` keys from `start` on, in order.
    pub fn keys_from(&self, start: &ObjectKey, limit: usize) -> Vec<ObjectKey> {
        self.read()
            .objects
            .keys_from(start)
            .take(limit)
            .cloned()
            .collect()
    }

    /// How many objects the cache holds.
    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The objects whose `index` has `value`, in key order.
    pub fn by_index(&self, index: Index, value: &str) -> Vec<Value> {
        self.read().objects.by_index(index, value)
    }

    /// The revision the cache is current at: every change up to it is in.
    pub fn revision(&self) -> i64 {
        self.read().revision
    }
}

/// An informer of one resource.
pub struct Informer {
    client: Client,
    resource: &'static ResourceInfo,
    prefix: String,
    /// The informer of raw keys underneath; `None` until the first list
    /// and after an error, when the next call lists anew.
    raw: Option<keel_client::Informer>,
    cache: Cache,
    /// Events told by one update of the cache and not yet answered: at most
    /// one watch answer's changes, or one list's differences.
    pending: VecDeque<Event>,
}

impl std::fmt::Debug for Informer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Informer")
            .field("prefix", &self.prefix)
            .field("revision", &self.cache.revision())
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl Informer {
    /// Lists `resource`'s objects in `namespace` (all namespaces if empty,
    /// or if the kind is cluster-scoped) and starts following them. The
    /// first events are an `Added` per listed object, then `Listed`. Call
    /// it within a Tokio runtime.
    pub async fn start(
        client: &Client,
        resource: &'static ResourceInfo,
        namespace: &str,
    ) -> Result<Self, InformerError> {
        let mut informer = Self {
            client: client.clone(),
            resource,
            prefix: resource.prefix(namespace),
            raw: None,
            cache: Cache::default(),
            pending: VecDeque::new(),
        };
        informer.list().await?;
        Ok(informer)
    }

    /// Forgets the events not yet told (the first list's, for a shared
    /// informer whose subscribers each start from a `Listed` of the cache).
    pub(crate) fn discard_pending(&mut self) {
        self.pending.clear();
    }

    /// A read handle on the cache.
    pub fn cache(&self) -> Cache {
        self.cache.clone()
    }

    /// The resource informed of.
    pub fn resource(&self) -> &'static ResourceInfo {
        self.resource
    }

    /// The next event, waiting for a change when none is pending. After an
    /// error the informer lists again on the next call (which tells the
    /// differences and `Listed`); the caller decides how long to wait
    /// before calling.
    ///
    /// Not cancel-safe while it lists: run it in a task of its own, not in
    /// a `select!` that drops it.
    pub async fn next(&mut self) -> Result<Event, InformerError> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            let Some(raw) = self.raw.as_mut() else {
                self.list().await?;
                continue;
            };
            match raw.next().await {
                Ok(Update::Changed { revision, changes }) => {
                    let mut cached = self.cache.write();
                    for change in changes {
                        if let Some(event) = apply(self.resource, &mut cached.objects, change) {
                            self.pending.push_back(event);
                        }
                    }
                    cached.revision = revision;
                }
                Ok(Update::Progress { revision }) => self.cache.write().revision = revision,
                Ok(Update::Relisted { revision }) => {
                    let listed = decode_all(self.resource, raw.cache().values());
                    replace(&self.cache, listed, revision, &mut self.pending);
                }
                Err(error) => {
                    self.raw = None;
                    return Err(error.into());
                }
            }
        }
    }

    /// Lists anew with a fresh informer underneath.
    async fn list(&mut self) -> Result<(), InformerError> {
        let raw = keel_client::Informer::start(&self.client, self.prefix.as_bytes()).await?;
        let listed = decode_all(self.resource, raw.cache().values());
        replace(&self.cache, listed, raw.revision(), &mut self.pending);
        self.raw = Some(raw);
        Ok(())
    }
}

/// The object stored in `kv`, under its key; `None` (with a warning) when
/// it cannot be read.
fn decode(resource: &ResourceInfo, kv: &KeyValue) -> Option<(ObjectKey, Value)> {
    let key = String::from_utf8_lossy(&kv.key);
    let Some((namespace, name)) = resource.parse_key(&key) else {
        tracing::warn!(%key, "skipping a key that is not one of {}'s objects", resource.qualified());
        return None;
    };
    match object::from_stored(&kv.value, kv.mod_revision) {
        Ok(object) => Some((ObjectKey::new(namespace, name), object)),
        Err(error) => {
            tracing::warn!(%key, revision = kv.mod_revision, %error, "skipping an object that does not decode");
            None
        }
    }
}

/// Every readable object of a list.
fn decode_all<'kv>(
    resource: &ResourceInfo,
    kvs: impl Iterator<Item = &'kv KeyValue>,
) -> Vec<(ObjectKey, Value)> {
    kvs.filter_map(|kv| decode(resource, kv)).collect()
}

/// Applies one watched change to `objects`, answering the event it tells.
fn apply(resource: &ResourceInfo, objects: &mut IndexedObjects, change: Change) -> Option<Event> {
    match change {
        Change::Put { current, .. } => {
            let (key, new) = decode(resource, &current)?;
            Some(match objects.put(key, new.clone()) {
                None => Event::Added(new),
                Some(old) => Event::Modified { old, new },
            })
        }
        Change::Deleted { key, .. } => {
            let key = String::from_utf8_lossy(&key);
            let (namespace, name) = resource.parse_key(&key)?;
            objects
                .delete(&ObjectKey::new(namespace, name))
                .map(Event::Deleted)
        }
    }
}

/// Replaces the cache with `listed` at `revision`, queueing the events
/// that tell the differences, then `Listed`.
fn replace(
    cache: &Cache,
    listed: Vec<(ObjectKey, Value)>,
    revision: i64,
    pending: &mut VecDeque<Event>,
) {
    let mut cached = cache.write();
    let mut old = std::mem::take(&mut cached.objects);
    let mut new = IndexedObjects::new();
    for (key, object) in listed {
        match old.delete(&key) {
            None => pending.push_back(Event::Added(object.clone())),
            Some(previous) if resource_version(&previous) != resource_version(&object) => {
                pending.push_back(Event::Modified {
                    old: previous,
                    new: object.clone(),
                });
            }
            Some(_) => {}
        }
        new.put(key, object);
    }
    let vanished: Vec<ObjectKey> = old.keys().cloned().collect();
    for key in vanished {
        pending.extend(old.delete(&key).map(Event::Deleted));
    }
    cached.objects = new;
    cached.revision = revision;
    pending.push_back(Event::Listed { revision });
}

/// The object's `metadata.resourceVersion`, its key's mod_revision.
fn resource_version(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_api::k8s_openapi::api::core;
    use keel_api::resources::of;
    use serde_json::json;

    fn kv(key: &str, value: &Value, revision: i64) -> KeyValue {
        KeyValue {
            key: key.as_bytes().to_vec(),
            value: object::to_stored(value),
            mod_revision: revision,
            ..KeyValue::default()
        }
    }

    fn pod(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"namespace": "default", "name": name}})
    }

    #[test]
    fn changes_become_events_and_undecodable_ones_are_skipped() {
        let pods = of::<core::v1::Pod>();
        let mut objects = IndexedObjects::new();
        let put = |value: &Value, revision| Change::Put {
            current: kv("/registry/pods/default/a", value, revision),
            previous: None,
        };
        let added = apply(pods, &mut objects, put(&pod("a"), 5)).unwrap();
        let Event::Added(added) = added else {
            panic!("{added:?}")
        };
        assert_eq!(added["metadata"]["resourceVersion"], "5");

        let garbage = Change::Put {
            current: KeyValue {
                key: b"/registry/pods/default/a".to_vec(),
                value: b"not json".to_vec(),
                mod_revision: 6,
                ..KeyValue::default()
            },
            previous: None,
        };
        assert_eq!(apply(pods, &mut objects, garbage), None);
        assert_eq!(
            objects.get(&ObjectKey::new("default", "a")).unwrap(),
            &added,
            "the last state read stays"
        );
        let stray = Change::Put {
            current: kv("/registry/pods/a/b/c", &pod("c"), 7),
            previous: None,
        };
        assert_eq!(apply(pods, &mut objects, stray), None);

        let modified = apply(pods, &mut objects, put(&pod("a"), 8)).unwrap();
        assert!(matches!(modified, Event::Modified { ref old, .. } if *old == added));
        let deleted = Change::Deleted {
            key: b"/registry/pods/default/a".to_vec(),
            previous: None,
        };
        let Some(Event::Deleted(last)) = apply(pods, &mut objects, deleted) else {
            panic!("a delete")
        };
        assert_eq!(last["metadata"]["resourceVersion"], "8");
        assert!(objects.is_empty());
    }

    #[test]
    fn a_relist_tells_the_differences_then_listed() {
        let cache = Cache::default();
        let mut pending = VecDeque::new();
        let at = |name, revision| {
            let mut object = pod(name);
            object::set_resource_version(&mut object, revision);
            (ObjectKey::new("default", name), object)
        };
        replace(&cache, vec![at("a", 2), at("b", 3)], 3, &mut pending);
        assert_eq!(pending.len(), 3, "{pending:?}");
        assert_eq!(pending.pop_back(), Some(Event::Listed { revision: 3 }));
        pending.clear();

        replace(&cache, vec![at("b", 9), at("c", 8)], 10, &mut pending);
        let told: Vec<_> = pending
            .iter()
            .map(|event| (event_name(event), event.key()))
            .collect();
        assert_eq!(
            told,
            [
                ("modified", Some(ObjectKey::new("default", "b"))),
                ("added", Some(ObjectKey::new("default", "c"))),
                ("deleted", Some(ObjectKey::new("default", "a"))),
                ("listed", None),
            ]
        );
        assert_eq!(cache.revision(), 10);
        assert_eq!(cache.keys().len(), 2);
    }

    fn event_name(event: &Event) -> &'static str {
        match event {
            Event::Added(_) => "added",
            Event::Modified { .. } => "modified",
            Event::Deleted(_) => "deleted",
            Event::Listed { .. } => "listed",
        }
    }
}
