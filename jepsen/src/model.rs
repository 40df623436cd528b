//! Sequential specifications the linearizability checker runs operations
//! against.
//!
//! [`EtcdModel`] is the whole store as the workload sees it: the revision,
//! every key's record (value, create and mod revisions, version, lease) and
//! the set of live leases. [`KeyModel`] is one key seen alone: a
//! relaxation of `EtcdModel` that accepts every behaviour the whole model
//! accepts (it only knows that revisions never go back and that writes
//! raise them), so a projection it rejects proves the whole history is not
//! linearizable — with a witness on one key, which is far smaller.
//!
//! A model's [`Model::step`] takes a request and the response seen (`None`
//! when the outcome is unknown: any response goes) and returns every state
//! the store could be in afterwards; none means the response is impossible.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;

use crate::history::{KeyValue, LeaseId, Request, Response};

/// A sequential specification.
pub trait Model: Clone + Eq + Hash + std::fmt::Debug {
    /// The states after `request` answered with `response` (`None`: the
    /// answer is unknown); empty if that answer is impossible here.
    fn step(&self, request: &Request, response: Option<&Response>) -> Vec<Self>;
}

/// The etcd store, as far as the workload's requests reach.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EtcdModel {
    /// The store's revision (1 when empty, as etcd starts).
    pub revision: i64,
    /// Every existing key's record.
    pub keys: BTreeMap<String, KeyValue>,
    /// The live leases.
    pub leases: BTreeSet<LeaseId>,
}

impl Default for EtcdModel {
    fn default() -> Self {
        Self {
            revision: 1,
            keys: BTreeMap::new(),
            leases: BTreeSet::new(),
        }
    }
}

impl EtcdModel {
    /// Runs `request` and returns etcd's answer.
    pub fn apply(&mut self, request: &Request) -> Response {
        match request {
            Request::Get { key } => Response::Get {
                revision: self.revision,
                kv: self.keys.get(key).cloned(),
            },
            Request::Put { key, value, lease } => {
                if *lease != 0 && !self.leases.contains(lease) {
                    return Response::LeaseNotFound;
                }
                self.put(key, value, *lease);
                Response::Put {
                    revision: self.revision,
                }
            }
            Request::Delete { key } => {
                let deleted = i64::from(self.keys.remove(key).is_some());
                self.revision += deleted;
                Response::Delete {
                    revision: self.revision,
                    deleted,
                }
            }
            Request::CompareAndPut {
                key,
                expected_mod_revision,
                value,
            } => {
                let current = self.keys.get(key).map_or(0, |kv| kv.mod_revision);
                let succeeded = current == *expected_mod_revision;
                if succeeded {
                    self.put(key, value, 0);
                }
                Response::CompareAndPut {
                    revision: self.revision,
                    succeeded,
                }
            }
            Request::LeaseGrant { id, .. } => {
                if !self.leases.insert(*id) {
                    return Response::LeaseExists;
                }
                Response::LeaseGrant {
                    revision: self.revision,
                }
            }
            Request::LeaseRevoke { id } => {
                if !self.leases.remove(id) {
                    return Response::LeaseNotFound;
                }
                let before = self.keys.len();
                self.keys.retain(|_, kv| kv.lease != *id);
                if self.keys.len() != before {
                    self.revision += 1;
                }
                Response::LeaseRevoke {
                    revision: self.revision,
                }
            }
        }
    }

    fn put(&mut self, key: &str, value: &str, lease: LeaseId) {
        self.revision += 1;
        let revision = self.revision;
        let kv = self.keys.entry(key.to_owned()).or_insert_with(|| KeyValue {
            key: key.to_owned(),
            create_revision: revision,
            ..KeyValue::default()
        });
        value.clone_into(&mut kv.value);
        kv.mod_revision = revision;
        kv.version += 1;
        kv.lease = lease;
    }
}

impl Model for EtcdModel {
    fn step(&self, request: &Request, response: Option<&Response>) -> Vec<Self> {
        let mut next = self.clone();
        let answer = next.apply(request);
        match response {
            Some(seen) if *seen != answer => Vec::new(),
            _ => vec![next],
        }
    }
}

/// One key of the store, seen without the others.
///
/// Fields the projection cannot know (the revision an unknown-outcome put
/// got) are `None` and match anything until a read pins them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct KeyModel {
    /// The key's value, `None` while it does not exist.
    pub value: Option<String>,
    /// The key's lease (known whenever the key exists).
    pub lease: LeaseId,
    /// Its mod_revision, if known.
    pub mod_revision: Option<i64>,
    /// Its create_revision, if known.
    pub create_revision: Option<i64>,
    /// Its version, if known.
    pub version: Option<i64>,
    /// The revision of the last response placed: later ones never go
    /// below it, and writes go above it.
    pub floor: i64,
}

impl KeyModel {
    fn matches(&self, kv: Option<&KeyValue>) -> bool {
        let known = |field: Option<i64>, seen: i64| field.is_none_or(|v| v == seen);
        match (kv, &self.value) {
            (None, None) => true,
            (Some(kv), Some(value)) => {
                kv.value == *value
                    && kv.lease == self.lease
                    && known(self.mod_revision, kv.mod_revision)
                    && known(self.create_revision, kv.create_revision)
                    && known(self.version, kv.version)
            }
            _ => false,
        }
    }

    fn pin(&mut self, kv: Option<&KeyValue>, revision: i64) {
        if let Some(kv) = kv {
            self.mod_revision = Some(kv.mod_revision);
            self.create_revision = Some(kv.create_revision);
            self.version = Some(kv.version);
        }
        self.floor = revision;
    }

    /// The key after a put at `revision` (`None`: unknown).
    fn put(&self, value: &str, lease: LeaseId, revision: Option<i64>) -> Self {
        let existed = self.value.is_some();
        Self {
            value: Some(value.to_owned()),
            lease,
            mod_revision: revision,
            create_revision: if existed {
                self.create_revision
            } else {
                revision
            },
            version: if existed {
                self.version.map(|v| v + 1)
            } else {
                Some(1)
            },
            floor: revision.unwrap_or(self.floor),
        }
    }

    fn deleted(&self, revision: Option<i64>) -> Self {
        Self {
            floor: revision.unwrap_or(self.floor),
            ..Self::default()
        }
    }

    fn compare(&self, expected: i64) -> Option<bool> {
        match (&self.value, self.mod_revision) {
            (None, _) => Some(expected == 0),
            (Some(_), Some(current)) => Some(current == expected),
            (Some(_), None) if expected == 0 => Some(false),
            (Some(_), None) => None,
        }
    }
}

impl Model for KeyModel {
    fn step(&self, request: &Request, response: Option<&Response>) -> Vec<Self> {
        let above = |revision: i64| revision > self.floor;
        let at_least = |revision: i64| revision >= self.floor;
        match (request, response) {
            (Request::Get { .. }, Some(Response::Get { revision, kv })) => {
                if !at_least(*revision) || !self.matches(kv.as_ref()) {
                    return Vec::new();
                }
                let mut next = self.clone();
                next.pin(kv.as_ref(), *revision);
                vec![next]
            }
            (Request::Put { value, lease, .. }, Some(Response::Put { revision })) => {
                if above(*revision) {
                    vec![self.put(value, *lease, Some(*revision))]
                } else {
                    Vec::new()
                }
            }
            // A read that may not have happened, a put refused for its lease.
            (Request::Get { .. }, None) | (Request::Put { .. }, Some(Response::LeaseNotFound)) => {
                vec![self.clone()]
            }
            (Request::Put { value, lease, .. }, None) => {
                let mut states = vec![self.put(value, *lease, None)];
                if *lease != 0 {
                    states.push(self.clone());
                }
                states
            }
            (Request::Delete { .. }, Some(Response::Delete { revision, deleted })) => {
                match (*deleted, &self.value) {
                    (1, Some(_)) if above(*revision) => vec![self.deleted(Some(*revision))],
                    (0, None) if at_least(*revision) => {
                        let mut next = self.clone();
                        next.floor = *revision;
                        vec![next]
                    }
                    _ => Vec::new(),
                }
            }
            (Request::Delete { .. }, None) => vec![self.deleted(None)],
            (
                Request::CompareAndPut { value, .. },
                Some(Response::CompareAndPut {
                    revision,
                    succeeded: true,
                }),
            ) if above(*revision) && self.compare_may_hold(request) => {
                vec![self.put(value, 0, Some(*revision))]
            }
            (
                Request::CompareAndPut { .. },
                Some(Response::CompareAndPut {
                    revision,
                    succeeded: false,
                }),
            ) if at_least(*revision) && self.compare_may_fail(request) => {
                let mut next = self.clone();
                next.floor = *revision;
                vec![next]
            }
            (Request::CompareAndPut { value, .. }, None) => {
                let mut states = Vec::new();
                if self.compare_may_hold(request) {
                    states.push(self.put(value, 0, None));
                }
                if self.compare_may_fail(request) {
                    states.push(self.clone());
                }
                states
            }
            (Request::LeaseRevoke { id }, Some(Response::LeaseRevoke { revision })) => {
                if self.value.is_some() && self.lease == *id {
                    if above(*revision) {
                        vec![self.deleted(Some(*revision))]
                    } else {
                        Vec::new()
                    }
                } else if at_least(*revision) {
                    let mut next = self.clone();
                    next.floor = *revision;
                    vec![next]
                } else {
                    Vec::new()
                }
            }
            // The key holds the lease, so the lease exists.
            (Request::LeaseRevoke { id }, Some(Response::LeaseNotFound)) => {
                if self.value.is_some() && self.lease == *id {
                    Vec::new()
                } else {
                    vec![self.clone()]
                }
            }
            (Request::LeaseRevoke { id }, None) => {
                if self.value.is_some() && self.lease == *id {
                    vec![self.deleted(None)]
                } else {
                    vec![self.clone()]
                }
            }
            // Lease grants do not touch a key; other pairs are impossible.
            (Request::LeaseGrant { .. }, _) => vec![self.clone()],
            _ => Vec::new(),
        }
    }
}

impl KeyModel {
    fn expected(request: &Request) -> i64 {
        match request {
            Request::CompareAndPut {
                expected_mod_revision,
                ..
            } => *expected_mod_revision,
            _ => 0,
        }
    }

    fn compare_may_hold(&self, request: &Request) -> bool {
        self.compare(Self::expected(request)) != Some(false)
    }

    fn compare_may_fail(&self, request: &Request) -> bool {
        self.compare(Self::expected(request)) != Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(key: &str, value: &str, lease: LeaseId) -> Request {
        Request::Put {
            key: key.into(),
            value: value.into(),
            lease,
        }
    }

    #[test]
    fn etcd_model_counts_revisions_and_versions_as_etcd() {
        let mut store = EtcdModel::default();
        assert_eq!(
            store.apply(&put("a", "1", 0)),
            Response::Put { revision: 2 }
        );
        assert_eq!(
            store.apply(&put("a", "2", 0)),
            Response::Put { revision: 3 }
        );
        let Response::Get { revision, kv } = store.apply(&Request::Get { key: "a".into() }) else {
            panic!("a get answers a get");
        };
        assert_eq!(revision, 3);
        let kv = kv.expect("a exists");
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
        assert_eq!(
            store.apply(&Request::Delete { key: "b".into() }),
            Response::Delete {
                revision: 3,
                deleted: 0
            }
        );
        assert_eq!(
            store.apply(&Request::CompareAndPut {
                key: "a".into(),
                expected_mod_revision: 2,
                value: "x".into()
            }),
            Response::CompareAndPut {
                revision: 3,
                succeeded: false
            }
        );
    }

    #[test]
    fn etcd_model_leases_attach_and_revoke_in_one_revision() {
        let mut store = EtcdModel::default();
        assert_eq!(store.apply(&put("a", "1", 7)), Response::LeaseNotFound);
        let grant = Request::LeaseGrant {
            id: 7,
            ttl_secs: 60,
        };
        assert_eq!(store.apply(&grant), Response::LeaseGrant { revision: 1 });
        assert_eq!(store.apply(&grant), Response::LeaseExists);
        store.apply(&put("a", "1", 7));
        store.apply(&put("b", "1", 7));
        assert_eq!(
            store.apply(&Request::LeaseRevoke { id: 7 }),
            Response::LeaseRevoke { revision: 4 }
        );
        assert!(store.keys.is_empty());
        assert_eq!(
            store.apply(&Request::LeaseRevoke { id: 7 }),
            Response::LeaseNotFound
        );
    }

    #[test]
    fn key_model_leaves_an_unknown_put_revision_open_until_read() {
        let key = KeyModel::default();
        let after = key.step(&put("a", "1", 0), None);
        assert_eq!(after.len(), 1);
        let seen = KeyValue {
            key: "a".into(),
            value: "1".into(),
            create_revision: 9,
            mod_revision: 9,
            version: 1,
            lease: 0,
        };
        let read = Request::Get { key: "a".into() };
        let ok = Response::Get {
            revision: 9,
            kv: Some(seen.clone()),
        };
        assert_eq!(after[0].step(&read, Some(&ok)).len(), 1);
        let stale = Response::Get {
            revision: 9,
            kv: Some(KeyValue { version: 2, ..seen }),
        };
        assert!(after[0].step(&read, Some(&stale)).is_empty());
    }
}
