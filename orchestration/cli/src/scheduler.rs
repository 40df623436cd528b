//! `keel scheduler`: the scheduler against a keel cluster, leader-elected
//! so that several copies can run (see keel-scheduler's `run`).

use std::time::Duration;

use clap::Args;

/// The arguments of `keel scheduler`.
#[derive(Args)]
pub struct Scheduler {
    /// keel's client URLs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    endpoints: Vec<String>,
    /// This copy's name in the leader election (default: keel-scheduler-
    /// and the process ID).
    #[arg(long)]
    identity: Option<String>,
    /// Seconds the leadership outlives a copy that stopped renewing it
    /// (kube-scheduler's --leader-elect-lease-duration).
    #[arg(long, default_value_t = keel_scheduler::run::LEASE_TTL_SECS_DEFAULT)]
    lease_ttl_secs: i64,
    /// Backoff after a pod's first failed attempt; it doubles per failure.
    #[arg(long, default_value = "1s", value_parser = crate::duration)]
    initial_backoff: Duration,
    /// The longest backoff.
    #[arg(long, default_value = "10s", value_parser = crate::duration)]
    max_backoff: Duration,
    /// Percentage of the nodes searched for feasible ones before scoring
    /// (kube-scheduler's percentageOfNodesToScore; 0: adaptive, 50 % of
    /// 100 nodes down to 5 % of 5,625 and more, never fewer than 100).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100))]
    percentage_of_nodes_to_score: u32,
    /// The seed of the tie-breaks among equally good nodes (default: from
    /// the clock), to replay a run.
    #[arg(long)]
    seed: Option<u64>,
    /// Binds under way at once.
    #[arg(long, default_value_t = keel_scheduler::run::BINDS_IN_FLIGHT_MAX)]
    binds_in_flight: usize,
}

/// Runs the scheduler until Ctrl-C, then resigns the leadership.
pub async fn run(args: Scheduler) -> Result<(), String> {
    let client = crate::connect(&args.endpoints).await?;
    let options = keel_scheduler::run::Options {
        identity: args
            .identity
            .unwrap_or_else(|| format!("keel-scheduler-{}", std::process::id())),
        lease_ttl_secs: args.lease_ttl_secs,
        queue: keel_scheduler::QueueConfig {
            initial_backoff: args.initial_backoff,
            max_backoff: args.max_backoff,
            ..keel_scheduler::QueueConfig::default()
        },
        percentage_of_nodes_to_score: args.percentage_of_nodes_to_score,
        seed: args
            .seed
            .unwrap_or_else(keel_scheduler::run::seed_from_clock),
        binds_in_flight: args.binds_in_flight,
        ..keel_scheduler::run::Options::default()
    };
    let stop = async {
        // Ctrl-C that cannot be listened for stops at once.
        let _ = tokio::signal::ctrl_c().await;
    };
    keel_scheduler::run::run(&client, &options, stop)
        .await
        .map_err(|error| format!("the scheduler stopped: {error}"))
}
