//! An informer: a local copy of every key under a prefix, kept current by a
//! watch, the way Kubernetes' informers keep their caches.
//!
//! ```text
//!  start:   get prefix ──► cache at revision R ──► watch from R + 1 (prev_kv, progress)
//!  next():  watch update ──► apply to cache ──► Changed { revision, changes }
//!           progress      ──► Progress { revision }
//!           compacted     ──► get prefix again (relist) ──► Relisted { revision }
//!                             and watch from the new revision + 1
//! ```
//!
//! The cache is always the state of the prefix at [`Informer::revision`]:
//! a watch update holds whole revisions, and a relist replaces the cache in
//! one step. After `Relisted`, changes in between were not seen one by one;
//! a controller then reconciles everything against the cache.

use std::collections::BTreeMap;

use keel_proto::mvccpb::{event::EventType, KeyValue};

use crate::client::Client;
use crate::error::Error;
use crate::kv::GetOptions;
use crate::watch::{WatchOptions, Watcher};

/// One change an informer applied to its cache.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A key was created or updated; `previous` is what the cache held.
    Put {
        /// The key as it is now.
        current: KeyValue,
        /// The key as it was, when it existed.
        previous: Option<KeyValue>,
    },
    /// A key was deleted; `previous` is what the cache held.
    Deleted {
        /// The deleted key's name.
        key: Vec<u8>,
        /// The key as it was, when the cache had it.
        previous: Option<KeyValue>,
    },
}

/// What [`Informer::next`] reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Update {
    /// These changes were applied; the cache is now at `revision`.
    Changed {
        /// The revision the cache is at.
        revision: i64,
        /// The changes, in revision order.
        changes: Vec<Change>,
    },
    /// Nothing changed up to `revision`.
    Progress {
        /// The revision the cache is at.
        revision: i64,
    },
    /// History was compacted past the watch: the cache was listed anew at
    /// `revision`. Reconcile everything.
    Relisted {
        /// The revision the cache was listed at.
        revision: i64,
    },
}

/// A local cache of every key under a prefix.
#[derive(Debug)]
pub struct Informer {
    client: Client,
    prefix: Vec<u8>,
    cache: BTreeMap<Vec<u8>, KeyValue>,
    revision: i64,
    watcher: Watcher,
}

impl Informer {
    /// Lists `prefix` and starts following it. Call it within a Tokio
    /// runtime.
    pub async fn start(client: &Client, prefix: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let prefix = prefix.into();
        let (cache, revision) = list(client, &prefix).await?;
        let watcher = follow(client, &prefix, revision);
        Ok(Self {
            client: client.clone(),
            prefix,
            cache,
            revision,
            watcher,
        })
    }

    /// Every key under the prefix, as of [`Informer::revision`].
    pub fn cache(&self) -> &BTreeMap<Vec<u8>, KeyValue> {
        &self.cache
    }

    /// The revision the cache is at.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Waits for the next change, progress notification or relist, and
    /// applies it to the cache.
    pub async fn next(&mut self) -> Result<Update, Error> {
        match self.watcher.next().await {
            Some(Ok(update)) if update.is_progress() => {
                self.revision = self.revision.max(update.revision);
                Ok(Update::Progress {
                    revision: self.revision,
                })
            }
            Some(Ok(update)) => {
                let changes = update
                    .events
                    .into_iter()
                    .map(|event| self.apply(event))
                    .collect();
                Ok(Update::Changed {
                    revision: self.revision,
                    changes,
                })
            }
            Some(Err(Error::Compacted { .. })) => self.relist().await,
            Some(Err(error)) => Err(error),
            None => Err(Error::InvalidArgument("the informer's watch ended".into())),
        }
    }

    /// Asks the server for a progress notification, so that
    /// [`Informer::next`] reports the revision the cache is current at.
    pub fn request_progress(&self) {
        self.watcher.request_progress();
    }

    /// Applies one event to the cache.
    fn apply(&mut self, event: keel_proto::mvccpb::Event) -> Change {
        let deleted = event.r#type() == EventType::Delete;
        let kv = event.kv.unwrap_or_default();
        assert!(
            kv.mod_revision >= self.revision,
            "watch events arrive in revision order"
        );
        self.revision = kv.mod_revision;
        if deleted {
            let previous = self.cache.remove(&kv.key);
            Change::Deleted {
                key: kv.key,
                previous,
            }
        } else {
            let previous = self.cache.insert(kv.key.clone(), kv.clone());
            Change::Put {
                current: kv,
                previous,
            }
        }
    }

    /// Lists the prefix again and watches on from there.
    async fn relist(&mut self) -> Result<Update, Error> {
        let (cache, revision) = list(&self.client, &self.prefix).await?;
        self.cache = cache;
        self.revision = revision;
        self.watcher = follow(&self.client, &self.prefix, revision);
        Ok(Update::Relisted { revision })
    }
}

/// Every key under `prefix` and the revision they were read at.
async fn list(client: &Client, prefix: &[u8]) -> Result<(BTreeMap<Vec<u8>, KeyValue>, i64), Error> {
    let listed = client
        .get(prefix.to_vec(), Some(GetOptions::new().with_prefix()))
        .await?;
    let revision = listed.header.as_ref().map_or(0, |header| header.revision);
    let cache = listed
        .kvs
        .into_iter()
        .map(|kv| (kv.key.clone(), kv))
        .collect();
    Ok((cache, revision))
}

/// A watch of `prefix` from the revision after `revision`.
fn follow(client: &Client, prefix: &[u8], revision: i64) -> Watcher {
    client.watch(
        prefix.to_vec(),
        Some(
            WatchOptions::new()
                .with_prefix()
                .with_start_revision(revision + 1)
                .with_progress_notify(),
        ),
    )
}
