//! Writes awaited: what a controller wrote for one of its objects and
//! must see in its pod cache before it creates or deletes for that object
//! again, so that a slow watch never makes it create or delete twice.
//!
//! ```text
//!   create ok (resourceVersion R) ─► created(key, R)     awaited: cache revision ≥ R
//!   delete sent                   ─► deleting(key, pod)  awaited: pod gone from the cache,
//!                                                         or shown with a deletionTimestamp
//!   next sync: satisfied(key, cache revision, shows_deleted)? ─ yes: act, forget
//!                                                             └ no: status only
//! ```
//!
//! This is Kubernetes' `UIDTrackingControllerExpectations`
//! (`pkg/controller/controller_utils.go`) checked against the cache
//! instead of counted from informer callbacks: keel's controller runner
//! hands a reconcile its key, not the pod event that woke it, and the
//! cache tells the same thing exactly. Every write awaited here changes
//! a pod the controller owns, so the event that satisfies it also wakes
//! the controller's key; no timeout is needed. (The count-based
//! [`crate::replicaset::expectations::Expectations`] is for a runner that
//! does see each event.)
//!
//! [`AwaitedWrites`] is pure data; [`Awaited`] is the one a controller's
//! workers share, checked against its pod cache (the ReplicaSet and Job
//! controllers use it).

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use keel_runtime::{Cache, ObjectKey};
use serde_json::Value;

use super::resource_version_of;
use crate::pods::{is_being_deleted, uid_of, ObjectRef};

/// What one key waits for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Pending {
    /// The cache must be current at this revision (the last create's).
    revision: i64,
    /// These pods must show as deleted.
    deletions: Vec<ObjectRef>,
}

/// The writes awaited, by controller key.
#[derive(Debug, Clone, Default)]
pub struct AwaitedWrites {
    by_key: BTreeMap<ObjectKey, Pending>,
}

impl AwaitedWrites {
    /// Nothing awaited.
    pub fn new() -> Self {
        Self::default()
    }

    /// `key` created a pod, stored at `revision`.
    pub fn created(&mut self, key: &ObjectKey, revision: i64) {
        let pending = self.by_key.entry(key.clone()).or_default();
        pending.revision = pending.revision.max(revision);
    }

    /// `key` is about to delete `pod`.
    pub fn deleting(&mut self, key: &ObjectKey, pod: ObjectRef) {
        let pending = self.by_key.entry(key.clone()).or_default();
        if !pending.deletions.contains(&pod) {
            pending.deletions.push(pod);
        }
    }

    /// Whether `key` may act: its cache is current at `cache_revision`,
    /// and `shows_deleted` tells whether the cache shows a pod as deleted
    /// (absent, another uid, or a deletionTimestamp). What is seen is
    /// forgotten.
    pub fn satisfied(
        &mut self,
        key: &ObjectKey,
        cache_revision: i64,
        shows_deleted: impl Fn(&ObjectRef) -> bool,
    ) -> bool {
        let Some(pending) = self.by_key.get_mut(key) else {
            return true;
        };
        pending.deletions.retain(|pod| !shows_deleted(pod));
        let seen = cache_revision >= pending.revision && pending.deletions.is_empty();
        if seen {
            self.by_key.remove(key);
        }
        seen
    }

    /// Forgets `key` (its object was deleted).
    pub fn forget(&mut self, key: &ObjectKey) {
        self.by_key.remove(key);
    }

    /// How many keys await writes.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Whether no key awaits anything.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

/// The writes awaited of one controller, shared by its workers.
#[derive(Debug, Default)]
pub struct Awaited(Mutex<AwaitedWrites>);

impl Awaited {
    /// Nothing awaited.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, AwaitedWrites> {
        self.0.lock().expect("no sync panics holding the lock")
    }

    /// Whether every write awaited for `key` is in the pod cache `pods`.
    /// The revision is read before the pods are, so the pods read are at
    /// least that new.
    pub fn seen(&self, pods: &Cache, key: &ObjectKey) -> bool {
        let revision = pods.revision();
        self.lock()
            .satisfied(key, revision, |pod| shows_deleted(pods, pod))
    }

    /// `key` created `pods` (as stored).
    pub fn created(&self, key: &ObjectKey, pods: &[Value]) {
        let mut awaited = self.lock();
        for pod in pods {
            awaited.created(key, resource_version_of(pod));
        }
    }

    /// `key` is about to delete `pods`.
    pub fn deleting(&self, key: &ObjectKey, pods: &[ObjectRef]) {
        let mut awaited = self.lock();
        for pod in pods {
            awaited.deleting(key, pod.clone());
        }
    }

    /// Forgets `key` (its object was deleted).
    pub fn forget(&self, key: &ObjectKey) {
        self.lock().forget(key);
    }
}

/// Whether the pod cache shows `pod` deleted: absent, another uid, or
/// being deleted.
pub fn shows_deleted(pods: &Cache, pod: &ObjectRef) -> bool {
    pods.get(&pod.namespace, &pod.name)
        .is_none_or(|cached| uid_of(&cached) != pod.uid || is_being_deleted(&cached))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str) -> ObjectRef {
        ObjectRef {
            namespace: "ns".into(),
            name: name.into(),
            uid: format!("{name}-uid"),
        }
    }

    #[test]
    fn creations_wait_for_the_cache_to_reach_their_revision() {
        let key = ObjectKey::new("ns", "rs");
        let mut awaited = AwaitedWrites::new();
        assert!(awaited.satisfied(&key, 0, |_| false), "nothing awaited");
        awaited.created(&key, 10);
        awaited.created(&key, 12);
        awaited.created(&key, 11);
        assert!(!awaited.satisfied(&key, 11, |_| false), "a slow watch");
        assert!(awaited.satisfied(&key, 12, |_| false));
        assert!(awaited.is_empty(), "seen, forgotten");
    }

    #[test]
    fn deletions_wait_until_each_pod_shows_deleted() {
        let key = ObjectKey::new("ns", "rs");
        let mut awaited = AwaitedWrites::new();
        awaited.deleting(&key, pod("a"));
        awaited.deleting(&key, pod("b"));
        awaited.deleting(&key, pod("a"));
        assert!(!awaited.satisfied(&key, 100, |p| p.name == "a"));
        assert_eq!(awaited.len(), 1);
        assert!(
            awaited.satisfied(&key, 100, |p| p.name == "b"),
            "a was seen before"
        );
        awaited.deleting(&key, pod("c"));
        awaited.forget(&key);
        assert!(awaited.satisfied(&key, 0, |_| false));
    }
}
