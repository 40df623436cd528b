//! `keel controllers`: kube-controller-manager's part of keel, leader
//! elected so that several copies can run (one acts).
//!
//! ```text
//!   connect ─► LeaderElector("kube-controller-manager", identity, ttl)
//!          ─► manager::run_elected: while leading, every controller of
//!             keel_controllers::manager::CONTROLLERS; Ctrl-C ─► resign
//! ```

use std::time::Duration;

use clap::Args;
use keel_controllers::manager::{self, ManagerOptions};
use keel_runtime::LeaderElector;

use crate::{connect, duration};

/// The flags of `keel controllers`: the election's, and the manager's.
#[derive(Args)]
pub struct Controllers {
    /// keel's client URLs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    endpoints: Vec<String>,
    /// This copy's name in the election (default: host name and process id).
    #[arg(long)]
    identity: Option<String>,
    /// How long the leadership outlives a copy that stops renewing it.
    #[arg(long, default_value_t = 15)]
    lease_ttl_secs: i64,
    #[command(flatten)]
    manager: ManagerFlags,
}

/// One flag per field of [`ManagerOptions`] (`keel controllers` and
/// `keel up` share them).
#[derive(Args)]
pub struct ManagerFlags {
    /// Reconciles at once per controller (--concurrent-*-syncs).
    #[arg(long, default_value_t = keel_runtime::controller::WORKERS_DEFAULT)]
    workers: usize,
    /// How long a node may go without renewing its Lease before it is Unknown.
    #[arg(long, default_value = "50s", value_parser = duration)]
    node_monitor_grace_period: Duration,
    /// How often node health is checked.
    #[arg(long, default_value = "5s", value_parser = duration)]
    node_monitor_period: Duration,
    /// How long a new node may take to post its status.
    #[arg(long, default_value = "60s", value_parser = duration)]
    node_startup_grace_period: Duration,
    /// The pod network nodes get their podCIDRs from (none: no node IPAM).
    #[arg(long)]
    cluster_cidr: Option<String>,
    /// The prefix length of each node's podCIDR.
    #[arg(long, default_value_t = 24)]
    node_cidr_mask_size: u8,
    /// The Job controller's first delay before replacing a failed pod.
    #[arg(long, default_value = "10s", value_parser = duration)]
    job_pod_failure_backoff: Duration,
    /// How often the pod garbage collector looks for pods to remove.
    #[arg(long, default_value = "20s", value_parser = duration)]
    pod_gc_period: Duration,
    /// How long a node is missing before its pods are deleted by force.
    #[arg(long, default_value = "40s", value_parser = duration)]
    pod_gc_quarantine: Duration,
    /// Finished pods kept before the oldest are deleted (0: no limit).
    #[arg(long, default_value_t = 12_500)]
    terminated_pod_gc_threshold: usize,
    /// Which controllers run, comma-separated, as kube-controller-manager
    /// reads it: `*` all, `-<name>` not that one; a list without `*` runs
    /// only those it names (`--controllers=` runs none). Names:
    /// replicaset-controller, deployment-controller, job-controller,
    /// daemonset-controller, node-lifecycle-controller,
    /// taint-eviction-controller, endpoints-controller,
    /// node-ipam-controller, garbage-collector-controller,
    /// namespace-controller, pod-garbage-collector-controller.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    controllers: Vec<String>,
}

impl ManagerFlags {
    /// The manager's options these flags say.
    pub fn options(&self) -> ManagerOptions {
        ManagerOptions {
            node_monitor_grace_period: self.node_monitor_grace_period,
            node_monitor_period: self.node_monitor_period,
            node_startup_grace_period: self.node_startup_grace_period,
            cluster_cidr: self.cluster_cidr.clone(),
            node_cidr_mask_size: self.node_cidr_mask_size,
            workers: self.workers,
            job_pod_failure_backoff: self.job_pod_failure_backoff,
            pod_gc_period: self.pod_gc_period,
            pod_gc_quarantine: self.pod_gc_quarantine,
            terminated_pod_gc_threshold: self.terminated_pod_gc_threshold,
            controllers: self.controllers.clone(),
        }
    }
}

/// The identity of this copy when none is given: host name and pid.
fn default_identity() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "keel".to_owned());
    format!("{host}_{}", std::process::id())
}

/// Runs the controllers until Ctrl-C.
pub async fn run(args: Controllers) -> Result<(), String> {
    let client = connect(&args.endpoints).await?;
    let identity = args.identity.unwrap_or_else(default_identity);
    let stop = async {
        // Ctrl-C that cannot be listened for stops at once.
        let _ = tokio::signal::ctrl_c().await;
    };
    elected(
        &client,
        &identity,
        args.lease_ttl_secs,
        &args.manager.options(),
        stop,
    )
    .await
}

/// Campaigns as `identity` and runs the controllers while leading, until
/// `stop` resolves.
pub async fn elected(
    client: &keel_client::Client,
    identity: &str,
    lease_ttl_secs: i64,
    options: &ManagerOptions,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let mut elector = LeaderElector::new(client, manager::ELECTION, identity, lease_ttl_secs)
        .await
        .map_err(|error| format!("cannot join the election: {error}"))?;
    manager::run_elected(client, &mut elector, options, stop).await;
    Ok(())
}
