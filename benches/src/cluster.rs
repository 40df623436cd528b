//! `keel-bench cluster`: a 3-member keeld cluster beside a 3-member etcd
//! cluster on the same machine, measured in one run.
//!
//! ```text
//!  both clusters started (keel-tests' Cluster harness: same flags, same disk)
//!  round r, every case, etcd first (r even) or keeld first (r odd):
//!    put at 1, 64 and 512 clients ──► the leader
//!    range, linearizable and serializable ──► every member in turn
//!  then, for each cluster, `failovers` times:
//!    writers put through the followers ─ SIGKILL the leader ─ the first
//!    put sent after the kill that succeeds ends the measurement;
//!    the killed member is restarted and the cluster waits for a leader
//! ```
//!
//! Both clusters run with the flags their servers default to (an fsync per
//! write batch on every member, heartbeat 100 ms, election 1 s) and an
//! 8 GiB quota. Their members keep their data under `TMPDIR`; point it at
//! the disk to measure.

use std::time::Duration;

use keel_proto::etcdserverpb::{kv_client::KvClient, PutRequest};
use keel_tests::{Cluster, Flavor};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::compare::{self, LoadRow, KINDS};
use crate::load::{self, LoadOptions, Report, Workload};
use crate::servers::Kind;
use crate::show::ms;

/// What `keel-bench cluster` measures.
#[derive(Debug, Clone)]
pub struct ClusterShape {
    /// Members per cluster.
    pub members: usize,
    /// Rounds of the load cases; each row shows the median round.
    pub rounds: usize,
    /// Measured time per case, server and round.
    pub duration: Duration,
    /// Leader kills per cluster.
    pub failovers: usize,
}

/// The key the range cases read.
const READ_KEY: &[u8] = b"bench/read";
/// Concurrent writers during a failover, spread over the followers.
const FAILOVER_WRITERS: usize = 16;
/// How long one put of a failover writer may take before it is abandoned
/// and the writer sends the next.
const FAILOVER_PUT_TIMEOUT: Duration = Duration::from_millis(250);
/// How long a failover may take before the run gives up on it.
const FAILOVER_LIMIT: Duration = Duration::from_secs(60);

fn flavor(kind: Kind) -> Flavor {
    match kind {
        Kind::Etcd => Flavor::Etcd,
        Kind::Keeld => Flavor::Keeld,
    }
}

/// Runs a blocking harness call (it polls with etcdctl and sleeps) without
/// stalling the runtime's other tasks.
fn blocking<T>(call: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(call)
}

/// One load case of the table.
struct Case {
    workload: Workload,
    clients: usize,
    conns: usize,
    /// Against the leader only, or every member.
    leader_only: bool,
}

impl Case {
    fn label(&self) -> String {
        let target = if self.leader_only {
            "leader"
        } else {
            "all members"
        };
        format!("{} → {target}", self.workload)
    }

    fn endpoint(&self, cluster: &mut Cluster) -> String {
        if self.leader_only {
            let leader = blocking(|| cluster.leader());
            cluster.endpoint(leader)
        } else {
            cluster.endpoints()
        }
    }
}

fn cases() -> Vec<Case> {
    let put = compare::COMPARED_PUT;
    let range = |serializable| Workload::Range {
        key: READ_KEY.to_vec(),
        serializable,
    };
    let case = |workload: &Workload, clients, conns, leader_only| Case {
        workload: workload.clone(),
        clients,
        conns,
        leader_only,
    };
    vec![
        case(&put, 1, 1, true),
        case(&put, 64, 8, true),
        case(&put, 512, 32, true),
        case(&range(false), 64, 9, false),
        case(&range(true), 64, 9, false),
    ]
}

/// Starts one cluster of each kind, runs the load table and the failovers,
/// and returns the Markdown to print.
pub async fn run(shape: &ClusterShape) -> Result<String, String> {
    let extra = format!("--quota-backend-bytes={}", 8u64 << 30);
    let mut clusters = blocking(|| {
        KINDS.map(|kind| Cluster::start(flavor(kind), shape.members, &[extra.as_str()]))
    });
    for cluster in &mut clusters {
        let leader = blocking(|| cluster.leader());
        put_once(&cluster.endpoint(leader), READ_KEY, 256).await?;
    }
    let table = load_table(&mut clusters, shape).await?;
    let mut failovers = [Vec::new(), Vec::new()];
    for (index, cluster) in clusters.iter_mut().enumerate() {
        for attempt in 1..=shape.failovers {
            let took = failover(cluster).await?;
            eprintln!("failover {attempt}: {} {took:?}", KINDS[index]);
            failovers[index].push(took);
        }
    }
    Ok(format!("{table}\n{}", failover_table(shape, &failovers)))
}

async fn put_once(endpoint: &str, key: &[u8], value_size: usize) -> Result<(), String> {
    let channel = load::connect(endpoint, 1).await?.remove(0);
    KvClient::new(channel)
        .put(PutRequest {
            key: key.to_vec(),
            value: vec![b'r'; value_size],
            ..PutRequest::default()
        })
        .await
        .map(drop)
        .map_err(|status| format!("put to {endpoint}: {status}"))
}

async fn load_table(clusters: &mut [Cluster; 2], shape: &ClusterShape) -> Result<String, String> {
    let cases = cases();
    // results[case][server] = one report per round.
    let mut results: Vec<[Vec<Report>; 2]> = cases.iter().map(|_| [vec![], vec![]]).collect();
    for round in 0..shape.rounds {
        for (case, result) in cases.iter().zip(&mut results) {
            for index in compare::order(round) {
                let options = LoadOptions {
                    endpoint: case.endpoint(&mut clusters[index]),
                    conns: case.conns,
                    clients: case.clients,
                    warmup: Duration::from_secs(1),
                    duration: shape.duration,
                };
                let report = load::run(&case.workload, &options).await?;
                let label = format!("{} {} clients", case.label(), case.clients);
                compare::log_round(round, &label, KINDS[index], &report);
                result[index].push(report);
            }
        }
    }
    let rows: Vec<LoadRow> = cases
        .iter()
        .zip(results)
        .map(|(case, reports)| LoadRow {
            label: case.label(),
            clients: case.clients,
            conns: case.conns,
            reports,
        })
        .collect();
    let errors = compare::errors(&rows);
    Ok(format!(
        "{}-member clusters; {} rounds of {} s per case and cluster; median round shown; {errors} failed requests in all.\n\n{}",
        shape.members,
        shape.rounds,
        shape.duration.as_secs(),
        compare::load_table(&rows),
    ))
}

/// Kills the leader with SIGKILL while writers put through the other
/// members, and returns the time from the kill (the leader reaped) to the
/// first successful put sent after it. Then restarts the killed member and waits for a leader.
async fn failover(cluster: &mut Cluster) -> Result<Duration, String> {
    let leader = blocking(|| cluster.leader());
    let survivors: Vec<String> = blocking(|| cluster.running())
        .into_iter()
        .filter(|&member| member != leader)
        .map(|member| cluster.endpoint(member))
        .collect();
    let channels = load::connect(&survivors.join(","), FAILOVER_WRITERS).await?;
    let (killed_tx, killed_rx) = tokio::sync::watch::channel(None::<Instant>);
    let (done_tx, mut done_rx) = mpsc::channel::<Instant>(FAILOVER_WRITERS);
    let writers: Vec<_> = channels
        .into_iter()
        .enumerate()
        .map(|(writer, channel)| {
            let killed_rx = killed_rx.clone();
            let done_tx = done_tx.clone();
            tokio::spawn(async move {
                let mut kv = KvClient::new(channel);
                for n in 0u64.. {
                    let sent = Instant::now();
                    let put = kv.put(PutRequest {
                        key: format!("bench/failover/{writer}").into_bytes(),
                        value: n.to_be_bytes().to_vec(),
                        ..PutRequest::default()
                    });
                    let acked = matches!(
                        tokio::time::timeout(FAILOVER_PUT_TIMEOUT, put).await,
                        Ok(Ok(_))
                    );
                    let killed = *killed_rx.borrow();
                    if acked && killed.is_some_and(|killed| sent >= killed) {
                        let _ = done_tx.send(Instant::now()).await;
                        return;
                    }
                    if !acked {
                        // A refused put ("no leader") comes back at once:
                        // do not spin on it.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            })
        })
        .collect();
    // Writes flow before the kill.
    tokio::time::sleep(Duration::from_millis(500)).await;
    blocking(|| cluster.kill(leader));
    // The clock starts once the leader is dead and reaped: a put sent
    // before then could still have been acknowledged by the old leader.
    let killed = Instant::now();
    let _ = killed_tx.send(Some(killed));
    let first = tokio::time::timeout(FAILOVER_LIMIT, done_rx.recv()).await;
    for writer in &writers {
        writer.abort();
    }
    let took = match first {
        Ok(Some(done)) => done - killed,
        _ => {
            return Err(format!(
                "no put succeeded within {FAILOVER_LIMIT:?} of the leader's kill"
            ))
        }
    };
    blocking(|| {
        cluster.restart(leader);
        cluster.leader();
    });
    // Let the restarted member catch up before the next kill.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(took)
}

/// The failover table: the median, fastest and slowest of each cluster's
/// failovers.
fn failover_table(shape: &ClusterShape, failovers: &[Vec<Duration>; 2]) -> String {
    let stats = |times: &Vec<Duration>| {
        let mut sorted = times.clone();
        sorted.sort_unstable();
        (
            sorted.get(sorted.len() / 2).copied().unwrap_or_default(),
            sorted.first().copied().unwrap_or_default(),
            sorted.last().copied().unwrap_or_default(),
        )
    };
    let [etcd, keeld] = [stats(&failovers[0]), stats(&failovers[1])];
    let row = |name: &str, etcd: Duration, keeld: Duration| {
        format!(
            "| {name} | {} | {} | {:.2} |\n",
            ms(etcd),
            ms(keeld),
            keeld.as_secs_f64() / etcd.as_secs_f64().max(f64::MIN_POSITIVE)
        )
    };
    format!(
        "Failover: {} times per cluster, SIGKILL the leader while {FAILOVER_WRITERS} writers put through the other members (each put abandoned after {}), until the first put sent after the kill succeeds:\n\n| | etcd | keeld | keeld / etcd |\n|---|---|---|---|\n{}{}{}",
        shape.failovers,
        ms(FAILOVER_PUT_TIMEOUT),
        row("median", etcd.0, keeld.0),
        row("fastest", etcd.1, keeld.1),
        row("slowest", etcd.2, keeld.2),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failover_tables_show_median_fastest_and_slowest() {
        let shape = ClusterShape {
            members: 3,
            rounds: 1,
            duration: Duration::from_secs(1),
            failovers: 3,
        };
        let secs = |list: [u64; 3]| list.map(Duration::from_secs).to_vec();
        let table = failover_table(&shape, &[secs([3, 1, 2]), secs([2, 4, 1])]);
        assert!(
            table.contains("| median | 2000.00 ms | 2000.00 ms | 1.00 |"),
            "{table}"
        );
        assert!(
            table.contains("| fastest | 1000.00 ms | 1000.00 ms | 1.00 |"),
            "{table}"
        );
        assert!(
            table.contains("| slowest | 3000.00 ms | 4000.00 ms | 1.33 |"),
            "{table}"
        );
    }

    #[test]
    fn puts_go_to_the_leader_and_reads_to_every_member() {
        let cases = cases();
        let puts: Vec<usize> = cases
            .iter()
            .filter(|case| case.leader_only)
            .map(|case| case.clients)
            .collect();
        assert_eq!(puts, [1, 64, 512]);
        assert!(cases
            .iter()
            .filter(|case| !case.leader_only)
            .all(|case| matches!(case.workload, Workload::Range { .. })));
    }
}
