//! The controller manager: what `keel controllers` runs while it leads.
//! One shared informer per resource, one store, and every controller on
//! the runtime's runner, all stopped together.
//!
//! ```text
//!   Context::start ─► SharedInformers (pods, nodes, leases, replicasets, ...)
//!        │             Store, ManagerOptions (timings, CIDRs)
//!        ▼
//!   run ─► for each of CONTROLLERS: spawn (name, start)(context, stop)
//!          stop resolves ─► every controller's stop resolves; run waits for them
//!
//!   run_elected ─► campaign (election "kube-controller-manager") ─► run while leading
//!                  leadership lost ─► stop, campaign again; stop ─► resign
//! ```
//!
//! A controller is a function from the context and a [`Stop`] to a future
//! that runs until the stop resolves (usually `Controller::new(..).owns(..)
//! .run(reconcile, options, stop.wait())`). Its reconcile reads the shared
//! caches and writes through the store; what it decides is a plain function
//! of its own module.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use keel_api::k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, Deployment, ReplicaSet};
use keel_api::k8s_openapi::api::batch::v1::Job;
use keel_api::k8s_openapi::api::coordination::v1::Lease;
use keel_api::k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use keel_api::resources::of;
use keel_client::Client;
use keel_runtime::events::Source;
use keel_runtime::{InformerError, Recorder, SharedInformer, Store};
use tokio::sync::watch;

/// The manager's timings and ranges; every one a flag of `keel
/// controllers`, so tests set short ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerOptions {
    /// How long a node may go without renewing its Lease before it is
    /// Unknown (kube-controller-manager's `--node-monitor-grace-period`,
    /// 50 s since 1.32).
    pub node_monitor_grace_period: Duration,
    /// How often node health is checked (`--node-monitor-period`, 5 s).
    pub node_monitor_period: Duration,
    /// How long a new node may take to post its status before it is
    /// Unknown (`--node-startup-grace-period`, 60 s).
    pub node_startup_grace_period: Duration,
    /// The pod network nodes get their podCIDRs from (`--cluster-cidr`);
    /// `None`: no node IPAM.
    pub cluster_cidr: Option<String>,
    /// The size of each node's podCIDR (`--node-cidr-mask-size`, 24).
    pub node_cidr_mask_size: u8,
    /// Reconciles at once per controller (`--concurrent-*-syncs`, 5).
    pub workers: usize,
    /// The Job controller's delay before replacing a failed pod, doubling
    /// with each failure (`DefaultJobPodFailureBackOff`, 10 s).
    pub job_pod_failure_backoff: Duration,
    /// How often the pod garbage collector makes a pass (its
    /// `gcCheckPeriod`, 20 s).
    pub pod_gc_period: Duration,
    /// How long a node may be missing from the cache before the pod
    /// garbage collector reads it from keel and, if it is gone, collects
    /// its pods (its `quarantineTime`, 40 s).
    pub pod_gc_quarantine: Duration,
    /// How many finished pods may remain before the oldest are deleted
    /// (`--terminated-pod-gc-threshold`, 12,500; 0: no limit).
    pub terminated_pod_gc_threshold: usize,
    /// Which controllers run, as kube-controller-manager's `--controllers`
    /// reads its list: `*` runs every one not named `-<name>`; a list
    /// without `*` runs only the names it holds (so an empty name runs
    /// none).
    pub controllers: Vec<String>,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        Self {
            node_monitor_grace_period: Duration::from_secs(50),
            node_monitor_period: Duration::from_secs(5),
            node_startup_grace_period: Duration::from_secs(60),
            cluster_cidr: None,
            node_cidr_mask_size: 24,
            workers: keel_runtime::controller::WORKERS_DEFAULT,
            job_pod_failure_backoff: Duration::from_secs(10),
            pod_gc_period: Duration::from_secs(20),
            pod_gc_quarantine: Duration::from_secs(40),
            terminated_pod_gc_threshold: 12_500,
            controllers: vec!["*".to_owned()],
        }
    }
}

/// The shared informers, one per resource the controllers read.
#[derive(Debug)]
pub struct Informers {
    /// Pods, all namespaces.
    pub pods: SharedInformer,
    /// Nodes.
    pub nodes: SharedInformer,
    /// coordination.k8s.io Leases (the nodes' heartbeats).
    pub leases: SharedInformer,
    /// ReplicaSets.
    pub replica_sets: SharedInformer,
    /// Deployments.
    pub deployments: SharedInformer,
    /// Jobs.
    pub jobs: SharedInformer,
    /// DaemonSets.
    pub daemon_sets: SharedInformer,
    /// ControllerRevisions.
    pub controller_revisions: SharedInformer,
    /// Services.
    pub services: SharedInformer,
    /// Endpoints.
    pub endpoints: SharedInformer,
    /// Namespaces.
    pub namespaces: SharedInformer,
}

impl Informers {
    /// Lists and follows every resource.
    pub async fn start(client: &Client) -> Result<Self, InformerError> {
        Ok(Self {
            pods: SharedInformer::start(client, of::<Pod>(), "").await?,
            nodes: SharedInformer::start(client, of::<Node>(), "").await?,
            leases: SharedInformer::start(client, of::<Lease>(), "").await?,
            replica_sets: SharedInformer::start(client, of::<ReplicaSet>(), "").await?,
            deployments: SharedInformer::start(client, of::<Deployment>(), "").await?,
            jobs: SharedInformer::start(client, of::<Job>(), "").await?,
            daemon_sets: SharedInformer::start(client, of::<DaemonSet>(), "").await?,
            controller_revisions: SharedInformer::start(client, of::<ControllerRevision>(), "")
                .await?,
            services: SharedInformer::start(client, of::<Service>(), "").await?,
            endpoints: SharedInformer::start(client, of::<Endpoints>(), "").await?,
            namespaces: SharedInformer::start(client, of::<Namespace>(), "").await?,
        })
    }
}

/// What every controller is given.
#[derive(Debug)]
pub struct Context {
    /// Reads and writes of objects.
    pub store: Store,
    /// The shared caches and their events.
    pub informers: Informers,
    /// Timings and ranges.
    pub options: ManagerOptions,
}

impl Context {
    /// Starts the informers. Call it within a Tokio runtime.
    pub async fn start(
        client: &Client,
        options: ManagerOptions,
    ) -> Result<Arc<Self>, InformerError> {
        Ok(Arc::new(Self {
            store: Store::new(client.clone()),
            informers: Informers::start(client).await?,
            options,
        }))
    }

    /// A recorder of events as `component` ("replicaset-controller").
    pub fn recorder(&self, component: &str) -> Recorder {
        Recorder::new(
            self.store.clone(),
            Source {
                component: component.to_owned(),
                host: String::new(),
            },
        )
    }

    /// The runner's options for one controller.
    pub fn controller_options(&self) -> keel_runtime::ControllerOptions {
        keel_runtime::ControllerOptions {
            workers: self.options.workers.max(1),
            ..keel_runtime::ControllerOptions::default()
        }
    }
}

/// A stop signal every controller holds a clone of.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// A signal and its trigger.
    pub fn new() -> (watch::Sender<bool>, Self) {
        let (sender, receiver) = watch::channel(false);
        (sender, Self(receiver))
    }

    /// Resolves once stopped (or once the trigger is gone).
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }
}

/// A controller's body.
pub type Start = fn(Arc<Context>, Stop) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every controller the manager runs, by the name kube-controller-manager
/// gives it.
pub const CONTROLLERS: &[(&str, Start)] = &[
    ("replicaset-controller", crate::replicaset::run::start),
    ("deployment-controller", crate::deployment::run::start),
    ("job-controller", crate::job::run::start),
    ("daemonset-controller", crate::daemonset::run::start),
    (
        "node-lifecycle-controller",
        crate::nodes::run::start_node_lifecycle,
    ),
    (
        "taint-eviction-controller",
        crate::nodes::run::start_taint_eviction,
    ),
    ("endpoints-controller", crate::endpoints::run::start),
    ("node-ipam-controller", crate::ipam::run::start),
    (
        "garbage-collector-controller",
        crate::gc::run::start_garbage_collector,
    ),
    ("namespace-controller", crate::gc::run::start_namespace),
    ("pod-garbage-collector-controller", crate::podgc::run::start),
];

/// The controllers' tasks, aborted if `run` is dropped before they end
/// (a manager cancelled is a manager gone: none of its controllers may
/// act on).
struct Running(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Whether the `--controllers` list `enabled` runs any controller at all
/// (`--controllers=` runs none: then there is no manager to elect).
pub fn any_enabled(enabled: &[String]) -> bool {
    CONTROLLERS
        .iter()
        .any(|(name, _)| is_enabled(name, enabled))
}

/// Whether the controller `name` runs under the `--controllers` list
/// `enabled` (kube-controller-manager's `IsControllerEnabled`: the first
/// entry naming it decides; else `*` runs it).
pub fn is_enabled(name: &str, enabled: &[String]) -> bool {
    let mut star = false;
    for entry in enabled {
        if entry == name {
            return true;
        }
        if entry.strip_prefix('-') == Some(name) {
            return false;
        }
        star |= entry == "*";
    }
    star
}

/// Runs every controller until `stop` resolves, then waits for them.
pub async fn run(context: Arc<Context>, stop: impl Future<Output = ()> + Send) {
    let (trigger, signal) = Stop::new();
    let mut running = Running(
        CONTROLLERS
            .iter()
            .filter(|(name, _)| is_enabled(name, &context.options.controllers))
            .map(|(name, start)| {
                tracing::info!(controller = name, "starting");
                tokio::spawn(start(Arc::clone(&context), signal.clone()))
            })
            .collect(),
    );
    stop.await;
    let _ = trigger.send(true);
    for controller in &mut running.0 {
        if let Err(error) = controller.await {
            tracing::error!(%error, "a controller panicked");
        }
    }
}

/// The election the controller managers campaign in (kube-controller-
/// manager's lease name).
pub const ELECTION: &str = "kube-controller-manager";

/// The pause before campaigning again after keel failed to answer, or
/// before starting the controllers again after their informers failed to
/// list.
pub const ELECTION_RETRY: Duration = Duration::from_secs(1);

/// What `keel controllers` runs: campaigns as `elector`'s candidate, runs
/// every controller (over informers started anew) while it leads, stops
/// them as soon as the leadership is lost, and campaigns again, until
/// `stop` resolves; then resigns so another copy takes over at once.
pub async fn run_elected(
    client: &Client,
    elector: &mut keel_runtime::LeaderElector,
    options: &ManagerOptions,
    stop: impl Future<Output = ()>,
) {
    keel_runtime::election::lead(
        elector,
        ELECTION_RETRY,
        |ended| async move {
            let context = match Context::start(client, options.clone()).await {
                Ok(context) => context,
                Err(error) => {
                    tracing::warn!(%error, "the informers could not list; starting again after a pause");
                    // The runner pauses (ELECTION_RETRY) before it starts the work again.
                    return;
                }
            };
            run(context, async {
                let _ = ended.await;
            })
            .await;
        },
        stop,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|e| (*e).to_owned()).collect()
    }

    #[test]
    fn the_controllers_list_reads_as_kube_controller_managers() {
        assert!(is_enabled("job-controller", &list(&["*"])));
        assert!(!is_enabled(
            "job-controller",
            &list(&["*", "-job-controller"])
        ));
        assert!(is_enabled("job-controller", &list(&["job-controller"])));
        assert!(!is_enabled(
            "deployment-controller",
            &list(&["job-controller"])
        ));
        assert!(!is_enabled("job-controller", &list(&[""])));
        // Every name in the table is one a list can name.
        for (name, _) in CONTROLLERS {
            assert!(is_enabled(name, &list(&[name])));
        }
        assert!(any_enabled(&list(&["*"])));
        assert!(any_enabled(&list(&["job-controller"])));
        assert!(!any_enabled(&list(&[""])));
        assert!(!any_enabled(&list(&["no-such-controller"])));
    }
}
