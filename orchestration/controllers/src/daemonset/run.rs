//! The DaemonSet controller at work: [`super::sync`] over the shared
//! caches, its plan written through the store.
//!
//! ```text
//!   DaemonSets ─┬─ owns pods, owns ControllerRevisions
//!               └─ watches nodes (any node change: every DaemonSet)
//!   reconcile: sync ─► history ─► delete pods ─► create pods ─► status
//! ```
//!
//! A pod just created shows in the cache only once its watch event
//! arrives; until then (at most [`CREATION_PATIENCE`]) the controller
//! does not create another for the same node, so a slow watch never
//! doubles a daemon pod (client-go's expectations, kept per node).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_api::deletion::DeleteOptions;
use keel_api::k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use keel_api::k8s_openapi::api::core::v1::Pod;
use keel_api::resources::of;
use keel_runtime::events::Notice;
use keel_runtime::{Action, Controller, ObjectKey, Part, Recorder, StoreError};
use serde_json::Value;
use tokio::time::Instant;

use super::sync::{pod_for, sync, DaemonSetInput};
use crate::adapter::{controlled_by, gone_is_done, wall_clock};
use crate::manager::{Context, Stop};
use crate::pods::{name_of, uid_of};

/// How long a created pod may take to show in the cache before the
/// controller creates another for its node.
pub const CREATION_PATIENCE: Duration = Duration::from_secs(30);

/// The controller, as the manager starts it.
pub fn start(context: Arc<Context>, stop: Stop) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        let informers = &context.informers;
        let daemon_sets = informers.daemon_sets.cache();
        let controller = Controller::new(&informers.daemon_sets)
            .owns(&informers.pods, "DaemonSet")
            .owns(&informers.controller_revisions, "DaemonSet")
            .watches(&informers.nodes, move |_| daemon_sets.keys());
        let worker = Arc::new(Worker {
            recorder: context.recorder("daemonset-controller"),
            created: Mutex::new(HashMap::new()),
            context: Arc::clone(&context),
        });
        let options = context.controller_options();
        controller
            .run(
                move |key, daemon_set| {
                    let worker = Arc::clone(&worker);
                    async move { worker.reconcile(&key, daemon_set).await }
                },
                options,
                stop.wait(),
            )
            .await;
    })
}

struct Worker {
    context: Arc<Context>,
    recorder: Recorder,
    /// When a pod was last created for (DaemonSet, node).
    created: Mutex<HashMap<(ObjectKey, String), Instant>>,
}

impl Worker {
    async fn reconcile(
        &self,
        key: &ObjectKey,
        daemon_set: Option<Value>,
    ) -> Result<Action, StoreError> {
        let Some(daemon_set) = daemon_set else {
            // Its pods and revisions go with the garbage collector.
            return Ok(Action::Done);
        };
        if daemon_set.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(Action::Done);
        }
        let informers = &self.context.informers;
        let uid = uid_of(&daemon_set);
        let pods = controlled_by(&informers.pods.cache(), uid);
        let revisions = controlled_by(&informers.controller_revisions.cache(), uid);
        let nodes = informers.nodes.cache().list();
        let plan = sync(DaemonSetInput {
            daemon_set: &daemon_set,
            nodes: &nodes,
            pods: &pods,
            revisions: &revisions,
            now: wall_clock(),
        });
        self.write_history(key, &plan.history).await?;
        for name in &plan.delete {
            self.delete_pod(&daemon_set, &key.namespace, name).await?;
        }
        for node in self.due_creations(key, &plan.create_on) {
            let created = self
                .context
                .store
                .create(of::<Pod>(), &key.namespace, pod_for(&daemon_set, &node))
                .await?;
            self.recorder.record(
                &daemon_set,
                Notice::normal(
                    "SuccessfulCreate",
                    &format!("Created pod: {}", name_of(&created)),
                ),
            );
        }
        let status = plan.status;
        self.context
            .store
            .update_part_with(
                of::<DaemonSet>(),
                &key.namespace,
                &key.name,
                Part::Status,
                |current, _| {
                    let mut new = current.clone();
                    new["status"] = status.clone();
                    Ok::<_, StoreError>(new)
                },
            )
            .await?;
        Ok(Action::Done)
    }

    /// The nodes of `create_on` whose last creation is not still on its
    /// way; forgets the nodes that need nothing any more.
    fn due_creations(&self, key: &ObjectKey, create_on: &[String]) -> Vec<String> {
        let now = Instant::now();
        let mut created = self.created.lock().expect("not poisoned");
        created.retain(|(ds, node), _| ds != key || create_on.contains(node));
        create_on
            .iter()
            .filter(|node| {
                let entry = created.entry((key.clone(), (*node).clone()));
                match entry {
                    std::collections::hash_map::Entry::Occupied(mut at)
                        if now.duration_since(*at.get()) >= CREATION_PATIENCE =>
                    {
                        at.insert(now);
                        true
                    }
                    std::collections::hash_map::Entry::Occupied(_) => false,
                    std::collections::hash_map::Entry::Vacant(vacant) => {
                        vacant.insert(now);
                        true
                    }
                }
            })
            .cloned()
            .collect()
    }

    async fn write_history(
        &self,
        key: &ObjectKey,
        history: &super::history::HistoryPlan,
    ) -> Result<(), StoreError> {
        let store = &self.context.store;
        let revisions = of::<ControllerRevision>();
        if let Some(revision) = &history.create {
            match store
                .create(revisions, &key.namespace, revision.clone())
                .await
            {
                Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        if let Some((name, number)) = &history.renumber {
            store
                .update_with(revisions, &key.namespace, name, |current, _| {
                    let mut new = current.clone();
                    new["revision"] = (*number).into();
                    Ok::<_, StoreError>(new)
                })
                .await?;
        }
        for name in &history.delete {
            gone_is_done(store.delete(revisions, &key.namespace, name, None).await)?;
        }
        Ok(())
    }

    async fn delete_pod(
        &self,
        daemon_set: &Value,
        namespace: &str,
        name: &str,
    ) -> Result<(), StoreError> {
        let pods = of::<Pod>();
        let deleted = self
            .context
            .store
            .delete_as_planned(
                pods,
                namespace,
                name,
                &DeleteOptions::default(),
                wall_clock(),
            )
            .await;
        match deleted {
            Ok(_) => {
                self.recorder.record(
                    daemon_set,
                    Notice::normal("SuccessfulDelete", &format!("Deleted pod: {name}")),
                );
                Ok(())
            }
            Err(StoreError::NotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }
}
