//! `keel-bench`: load an etcd-API server (keeld or etcd) and report
//! throughput and latency, or compare keeld with etcd side by side.
//!
//! ```sh
//! keel-bench put --endpoint 127.0.0.1:2379 --clients 64 --conns 8
//! keel-bench range greeting --consistency s --clients 64 --conns 8
//! keel-bench compare --rounds 3 --check-perf   # the table in docs/benchmarks.md
//! keel-bench watch-latency --endpoint 127.0.0.1:2379 --watchers 10000 --streams 100
//! keel-bench lease --endpoint 127.0.0.1:2379 --clients 64 --conns 8
//! keel-bench compare --rounds 3 --watch --leases   # and --slow for unread watchers
//! keel-bench cluster --rounds 3 --failovers 5      # 3-member keeld beside 3-member etcd
//! keel-bench kube                                  # the Kubernetes HTTP front (keel apiserver)
//! keel-bench schedule --nodes 5000 --pods 10000    # the scheduler's binds per second
//! keel-bench rollout --nodes 100 --replicas 1000    # a Deployment to all Ready; the controllers' RSS
//! keel-bench pods --count 100 --rounds 3           # real pods on a real kubelet (root): start-up latency
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use keel_benches::cluster;
use keel_benches::compare::{self, LeaseShape, LoadRow};
use keel_benches::defrag;
use keel_benches::kube::front::FrontBinaries;
use keel_benches::kube::watch::DeliveryOptions;
use keel_benches::kube::{self, KubeOptions};
use keel_benches::lease::{self, LeaseOptions};
use keel_benches::load::{self, LoadOptions, Report, Workload};
use keel_benches::pods::{self, PodsOptions};
use keel_benches::rollout::{self, RolloutOptions};
use keel_benches::schedule::{self, ScheduleOptions};
use keel_benches::servers::{self, Binaries, Kind, Server};
use keel_benches::show::{mib, ms};
use keel_benches::watch::{self, WatchOptions};
use keel_proto::etcdserverpb::{kv_client::KvClient, PutRequest};

/// Load an etcd-API server and report throughput and latency.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Put values under scattered keys.
    Put {
        #[command(flatten)]
        load: LoadArgs,
        /// Bytes per key.
        #[arg(long, default_value_t = 8)]
        key_size: usize,
        /// Bytes per value.
        #[arg(long, default_value_t = 256)]
        value_size: usize,
        /// Distinct keys the puts touch.
        #[arg(long, default_value_t = 100_000)]
        key_space: u64,
    },
    /// Get one key over and over.
    Range {
        /// The key to read.
        key: String,
        #[command(flatten)]
        load: LoadArgs,
        /// l: linearizable (a read index per batch of reads); s: serializable
        /// (the member's local state).
        #[arg(long, value_enum, default_value_t = Consistency::L)]
        consistency: Consistency,
    },
    /// Start etcd and keeld side by side on this machine and measure both:
    /// put with 1 and 64 clients, linearizable and serializable range with
    /// 64 clients, optionally `etcdctl check perf`. Prints Markdown tables.
    Compare {
        /// The etcd binary.
        #[arg(long, default_value = "etcd")]
        etcd: PathBuf,
        /// The keeld binary (build it with `cargo build --release`).
        #[arg(long, default_value = "target/release/keeld")]
        keeld: PathBuf,
        /// The etcdctl binary, for --check-perf.
        #[arg(long, default_value = "etcdctl")]
        etcdctl: PathBuf,
        /// Where the servers keep their data (a fresh temporary directory
        /// if absent). Use the same disk for a fair comparison.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Measured seconds per workload and server, per round.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Rounds; each workload's figure is the median round. The order of
        /// the two servers alternates from round to round.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Also run `etcdctl check perf --load=s` (60 s) against each.
        #[arg(long)]
        check_perf: bool,
        /// Also fill each server with this many 1 KiB keys written twice,
        /// compact, and measure puts while Defragment runs (0: skip).
        #[arg(long, default_value_t = 0)]
        defrag_keys: u64,
        /// Skip the put and range table (to run only the extras).
        #[arg(long)]
        skip_kv: bool,
        /// Also measure watch delivery latency and memory per watcher (the
        /// shape below), on a fresh server per round.
        #[arg(long)]
        watch: bool,
        /// Also measure lease keep-alives and grants (64 clients over 8
        /// connections), on a fresh server per round.
        #[arg(long)]
        leases: bool,
        /// Measured seconds per lease workload and server, per round.
        #[arg(long, default_value_t = 10)]
        lease_duration: u64,
        #[command(flatten, next_help_heading = "Watch benchmarks (--watch, --slow)")]
        watch_shape: WatchArgs,
    },
    /// Start a keeld cluster and an etcd cluster side by side on this machine
    /// (keeld from this binary's directory, or KEELD_BIN; members' data
    /// under TMPDIR) and measure both: puts to the leader at 1, 64 and 512
    /// clients, linearizable and serializable ranges over every member, and
    /// failover time (SIGKILL the leader, until the first successful put).
    /// Prints Markdown tables.
    Cluster {
        /// Members per cluster.
        #[arg(long, default_value_t = 3)]
        members: usize,
        /// Measured seconds per case, cluster and round.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Rounds of the load cases; each row is the median round. The
        /// order of the two clusters alternates from round to round.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Leader kills per cluster.
        #[arg(long, default_value_t = 5)]
        failovers: usize,
    },
    /// Watchers on one prefix, one writer putting under it at a fixed rate:
    /// delivery latency from each put's send to each watcher's receipt,
    /// with the events missing or duplicated; with --slow, watchers whose
    /// streams are never read, and the server's RSS as the puts go on.
    WatchLatency {
        /// `host:port` of the server's client URL.
        #[arg(long, default_value = "127.0.0.1:2379")]
        endpoint: String,
        /// The server's process ID, to report its RSS (memory per watcher)
        /// and CPU time; only for a server on this machine.
        #[arg(long)]
        server_pid: Option<u32>,
        #[command(flatten)]
        shape: WatchArgs,
    },
    /// Start a keeld and keel's Kubernetes HTTP front (`keel apiserver`,
    /// its own process) and measure the front: pod creates in closed loops
    /// and at a fixed offered rate, lists of many pods, watch delivery to
    /// many watchers, and the RSS of the front and of keeld. Prints
    /// Markdown tables.
    Kube(KubeArgs),
    /// Start a keeld, register --nodes simulated nodes, create --pods
    /// pending pods, then start the scheduler (`keel scheduler`, its own
    /// process, or --in-process) and measure pods bound per second (first
    /// to last bind seen through a watch), its peak RSS and CPU. A fresh
    /// keeld per round. Prints a Markdown table.
    Schedule(ScheduleArgs),
    /// Start a keeld, `keel sim-nodes --count <nodes>` (pods written
    /// Running and Ready), `keel scheduler` and `keel controllers`, each its
    /// own process; once the nodes are Ready, create a Deployment of
    /// --replicas and measure the time to every replica ready and
    /// available, when its pods were created, bound and Ready, and the
    /// peak RSS and CPU of each process. A fresh keeld per round. Prints a
    /// Markdown table.
    Rollout(RolloutArgs),
    /// Real pods on one real node (root): `keel up --kubelet=false` and
    /// `keel kubelet` as its own process, with the busybox image built by
    /// scripts/busybox-image.sh in its own image store; create --count
    /// busybox `sleep 3600` pods at once and measure each one's time from
    /// its create to Running and Ready (seen by a watch), then the
    /// kubelet's CPU and memory over a quiet window with the pods running,
    /// and the container monitors' memory. A fresh node per round; every
    /// pod, process, cgroup, network namespace and the bridge removed
    /// after. Prints Markdown tables.
    Pods(PodsArgs),
    /// Lease keep-alives (each client on its own stream, one request in
    /// flight, round-robin over pre-granted leases), then lease grants.
    Lease {
        /// `host:port` of the server's client URL.
        #[arg(long, default_value = "127.0.0.1:2379")]
        endpoint: String,
        /// HTTP/2 connections.
        #[arg(long, default_value_t = lease::LEASE_CONNS)]
        conns: usize,
        /// Requests kept in flight (keep-alive: one stream each).
        #[arg(long, default_value_t = lease::LEASE_CLIENTS)]
        clients: usize,
        /// Measured seconds per workload.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Seconds of load before measuring.
        #[arg(long, default_value_t = 1)]
        warmup: u64,
        /// Leases granted first and renewed round-robin.
        #[arg(long, default_value_t = lease::KEPT_ALIVE_LEASES)]
        leases: usize,
        /// TTL of every granted lease, in seconds.
        #[arg(long, default_value_t = lease::LEASE_TTL_SECS)]
        ttl: i64,
    },
}

/// Where an orchestration benchmark (`kube`, `schedule`, `rollout`) finds
/// keel's programs and keeps its files.
#[derive(Args, Debug, Clone)]
struct Programs {
    /// The keeld binary (default: beside this one).
    #[arg(long)]
    keeld: Option<PathBuf>,
    /// The keel binary (default: beside this one).
    #[arg(long)]
    keel: Option<PathBuf>,
    /// Where keeld keeps its data and the logs go (a fresh temporary
    /// directory if absent).
    #[arg(long)]
    dir: Option<PathBuf>,
}

impl Programs {
    /// keeld's path.
    fn keeld(&self) -> Result<PathBuf, String> {
        self.keeld.clone().map_or_else(|| beside("keeld"), Ok)
    }

    /// keel's path.
    fn keel(&self) -> Result<PathBuf, String> {
        self.keel.clone().map_or_else(|| beside("keel"), Ok)
    }

    /// The run's directory: --dir, or a fresh temporary one (removed when
    /// the guard answered beside it is dropped).
    fn dir(&self) -> Result<(Option<tempfile::TempDir>, PathBuf), String> {
        if let Some(dir) = &self.dir {
            return Ok((None, dir.clone()));
        }
        let temp =
            tempfile::tempdir().map_err(|e| format!("creating a temporary directory: {e}"))?;
        let path = temp.path().to_path_buf();
        Ok((Some(temp), path))
    }
}

/// The shape of a `kube` run.
#[derive(Args, Debug, Clone)]
struct KubeArgs {
    #[command(flatten)]
    programs: Programs,
    /// Client counts of the closed-loop creates, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    clients: Vec<usize>,
    /// Measured seconds of each closed loop.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of load before each closed loop is measured.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
    /// Creates per second of the open loop.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds of the open loop.
    #[arg(long, default_value_t = 30)]
    rate_duration: u64,
    /// Pods created, then listed.
    #[arg(long, default_value_t = 10_000)]
    list_pods: u64,
    /// Clients that create them.
    #[arg(long, default_value_t = 32)]
    fill_clients: usize,
    /// Lists of each kind (whole and paged).
    #[arg(long, default_value_t = 5)]
    list_repeats: usize,
    /// Items per page of the paged lists.
    #[arg(long, default_value_t = 500)]
    page_limit: u64,
    /// Watchers, one connection each.
    #[arg(long, default_value_t = 100)]
    watchers: usize,
    /// Pods created while they watch.
    #[arg(long, default_value_t = 200)]
    watch_creates: u64,
    /// Creates per second while they watch.
    #[arg(long, default_value_t = 20.0)]
    watch_rate: f64,
}

impl KubeArgs {
    fn options(self, dir: PathBuf) -> Result<KubeOptions, String> {
        Ok(KubeOptions {
            binaries: FrontBinaries {
                keeld: self.programs.keeld()?,
                keel: self.programs.keel()?,
            },
            dir,
            clients: self.clients,
            warmup: Duration::from_secs(self.warmup),
            duration: Duration::from_secs(self.duration),
            rate_per_sec: self.rate,
            rate_duration: Duration::from_secs(self.rate_duration),
            list_pods: self.list_pods,
            fill_clients: self.fill_clients,
            list_repeats: self.list_repeats,
            page_limit: self.page_limit,
            delivery: DeliveryOptions {
                watchers: self.watchers,
                creates: self.watch_creates,
                rate_per_sec: self.watch_rate,
                drain: Duration::from_secs(30),
            },
        })
    }
}

/// The shape of a `schedule` run.
#[derive(Args, Debug, Clone)]
struct ScheduleArgs {
    #[command(flatten)]
    programs: Programs,
    /// keel's client URLs, instead of a fresh keeld per round (the nodes
    /// and pods are created there: use an empty cluster).
    #[arg(long)]
    endpoints: Option<String>,
    /// Simulated nodes.
    #[arg(long, default_value_t = 5_000)]
    nodes: usize,
    /// Pending pods.
    #[arg(long, default_value_t = 10_000)]
    pods: usize,
    /// Rounds; the figure is the median round's.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Run the nodes' kubelet stages (`keel sim-nodes`): every bound pod
    /// is then written Running, as on a real cluster.
    #[arg(long)]
    pod_stages: bool,
    /// Run the scheduler in this process (its counters show where its time
    /// goes) instead of as `keel scheduler` (its RSS and CPU).
    #[arg(long)]
    in_process: bool,
    /// The scheduler's binds in flight.
    #[arg(long, default_value_t = keel_scheduler::run::BINDS_IN_FLIGHT_MAX)]
    binds_in_flight: usize,
    /// With --in-process: read each pod before its bind's compare-and-swap
    /// (two round trips, as pods/binding), to compare.
    #[arg(long, requires = "in_process")]
    bind_reads_first: bool,
}

/// The shape of a `rollout` run.
#[derive(Args, Debug, Clone)]
struct RolloutArgs {
    #[command(flatten)]
    programs: Programs,
    /// Simulated nodes.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// The Deployment's replicas.
    #[arg(long, default_value_t = 1_000)]
    replicas: usize,
    /// Rounds; the figure is the median round's.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// How long a round waits for the rollout before it reports how far
    /// it got, seconds.
    #[arg(long, default_value_t = 1_200)]
    wait_secs: u64,
    /// A flag for `keel controllers`, as it is (repeat for more):
    /// --controllers-arg=--node-monitor-grace-period=10m.
    #[arg(long, allow_hyphen_values = true)]
    controllers_arg: Vec<String>,
}

/// The shape of a `pods` run.
#[derive(Args, Debug, Clone)]
struct PodsArgs {
    #[command(flatten)]
    programs: Programs,
    /// Pods created at once.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Rounds, each on a fresh keel up and kubelet.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The quiet window with the pods running over which the kubelet's
    /// CPU is counted, seconds.
    #[arg(long, default_value_t = 30)]
    quiet_secs: u64,
    /// How long the pods may take to be Running and Ready, seconds.
    #[arg(long, default_value_t = 300)]
    wait_secs: u64,
    /// The script that builds the busybox image.
    #[arg(long, default_value = "scripts/busybox-image.sh")]
    image_script: PathBuf,
}

/// The shape of a watch run, shared by `watch-latency` and `compare`.
#[derive(Args, Debug, Clone)]
struct WatchArgs {
    /// Watchers in all, on one prefix.
    #[arg(long, default_value_t = 10_000)]
    watchers: usize,
    /// Watch streams the watchers are spread over.
    #[arg(long, default_value_t = 100)]
    streams: usize,
    /// HTTP/2 connections the streams are spread over (the writer has one
    /// more of its own).
    #[arg(long = "watch-conns", default_value_t = 10)]
    conns: usize,
    /// Puts of the write phase.
    #[arg(long, default_value_t = 2_000)]
    puts: u64,
    /// Puts per second, on an open-loop schedule (each put is sent when due,
    /// answered or not, up to 1,000 in flight).
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Bytes per value.
    #[arg(long = "watch-value-size", default_value_t = 256)]
    value_size: usize,
    /// The watched prefix.
    #[arg(long, default_value = "bench/watch/")]
    prefix: String,
    /// Seconds to wait after the last put for every event to arrive.
    #[arg(long, default_value_t = 60)]
    drain: u64,
    /// Slow watchers: never read the streams after creating the watchers,
    /// and report the server's RSS at 0, half and all of the puts (in
    /// compare: an extra table).
    #[arg(long)]
    slow: bool,
}

impl WatchArgs {
    fn options(&self, endpoint: String, server_pid: Option<u32>) -> WatchOptions {
        WatchOptions {
            endpoint,
            watchers: self.watchers,
            streams: self.streams,
            conns: self.conns,
            puts: self.puts,
            rate_per_sec: self.rate,
            value_size: self.value_size,
            prefix: self.prefix.clone().into_bytes(),
            drain: Duration::from_secs(self.drain),
            server_pid,
        }
    }
}

#[derive(Args, Debug, Clone)]
struct LoadArgs {
    /// `host:port` of the server's client URL.
    #[arg(long, default_value = "127.0.0.1:2379")]
    endpoint: String,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 1)]
    conns: usize,
    /// Requests kept in flight.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 1)]
    warmup: u64,
}

impl LoadArgs {
    fn options(&self) -> LoadOptions {
        LoadOptions {
            endpoint: self.endpoint.clone(),
            conns: self.conns,
            clients: self.clients,
            warmup: Duration::from_secs(self.warmup),
            duration: Duration::from_secs(self.duration),
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum Consistency {
    /// Linearizable.
    L,
    /// Serializable.
    S,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keel-bench: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Put {
            load,
            key_size,
            value_size,
            key_space,
        } => {
            let workload = Workload::Put {
                key_size,
                value_size,
                key_space,
            };
            print_report(&workload, &load::run(&workload, &load.options()).await?);
            Ok(())
        }
        Command::Range {
            key,
            load,
            consistency,
        } => {
            let workload = Workload::Range {
                key: key.into_bytes(),
                serializable: matches!(consistency, Consistency::S),
            };
            print_report(&workload, &load::run(&workload, &load.options()).await?);
            Ok(())
        }
        Command::Compare {
            etcd,
            keeld,
            etcdctl,
            dir,
            duration,
            rounds,
            check_perf,
            defrag_keys,
            skip_kv,
            watch,
            leases,
            lease_duration,
            watch_shape,
        } => {
            let binaries = Binaries {
                etcd,
                keeld,
                etcdctl,
            };
            let extras = Extras {
                kv: !skip_kv,
                check_perf,
                defrag_keys,
            };
            let temp;
            let dir = if let Some(dir) = dir {
                dir
            } else {
                temp = tempfile::tempdir().map_err(|e| e.to_string())?;
                temp.path().to_path_buf()
            };
            if extras.kv || extras.check_perf || extras.defrag_keys > 0 {
                compare(&binaries, &dir, duration, rounds, extras).await?;
            }
            let shape = watch_shape.options(String::new(), None);
            if leases {
                let shape = LeaseShape {
                    clients: lease::LEASE_CLIENTS,
                    conns: lease::LEASE_CONNS,
                    duration: Duration::from_secs(lease_duration),
                    leases: lease::KEPT_ALIVE_LEASES,
                };
                let rows = compare::leases(&binaries, &dir, rounds, shape).await?;
                let errors = compare::errors(&rows);
                println!();
                print!("{}", compare::load_table(&rows));
                println!();
                println!("{rounds} rounds of {lease_duration} s per workload and server, each round on a fresh server; median round shown; {errors} failed requests in all.");
            }
            if watch {
                let reports = compare::watch_latency(&binaries, &dir, rounds, &shape).await?;
                println!();
                print!("{}", compare::watch_table(&shape, &reports));
            }
            if watch_shape.slow {
                let reports = compare::slow_watchers(&binaries, &dir, rounds, &shape).await?;
                println!();
                print!("{}", compare::slow_table(&shape, &reports));
            }
            Ok(())
        }
        Command::Cluster {
            members,
            duration,
            rounds,
            failovers,
        } => {
            let shape = cluster::ClusterShape {
                members,
                rounds,
                duration: Duration::from_secs(duration),
                failovers,
            };
            print!("{}", cluster::run(&shape).await?);
            Ok(())
        }
        Command::WatchLatency {
            endpoint,
            server_pid,
            shape,
        } => {
            let options = shape.options(endpoint, server_pid);
            if shape.slow {
                print!("{}", watch::run_slow(&options).await?.summary(&options));
            } else {
                print!("{}", watch::run_latency(&options).await?.summary(&options));
            }
            Ok(())
        }
        Command::Kube(args) => {
            let (_temp, dir) = args.programs.dir()?;
            let options = args.options(dir)?;
            let report = kube::run(&options).await?;
            print!("{}", report.summary(&options));
            Ok(())
        }
        Command::Schedule(args) => {
            let (_temp, dir) = args.programs.dir()?;
            let options = ScheduleOptions {
                keeld: args.programs.keeld()?,
                keel: args.programs.keel()?,
                endpoints: args.endpoints,
                dir,
                nodes: args.nodes,
                pods: args.pods,
                rounds: args.rounds,
                pod_stages: args.pod_stages,
                in_process: args.in_process,
                binds_in_flight: args.binds_in_flight,
                bind_reads_first: args.bind_reads_first,
            };
            let rounds = schedule::run(&options).await?;
            print!("{}", schedule::summary(&options, &rounds));
            Ok(())
        }
        Command::Rollout(args) => {
            let (_temp, dir) = args.programs.dir()?;
            let options = RolloutOptions {
                keeld: args.programs.keeld()?,
                keel: args.programs.keel()?,
                dir,
                nodes: args.nodes,
                replicas: args.replicas,
                rounds: args.rounds,
                wait: Duration::from_secs(args.wait_secs),
                controllers_args: args.controllers_arg,
            };
            let rounds = rollout::run(&options).await?;
            print!("{}", rollout::summary(&options, &rounds));
            Ok(())
        }
        Command::Pods(args) => {
            let (_temp, dir) = args.programs.dir()?;
            let options = PodsOptions {
                keel: args.programs.keel()?,
                image_script: args.image_script,
                dir,
                count: args.count,
                rounds: args.rounds,
                quiet: Duration::from_secs(args.quiet_secs),
                wait: Duration::from_secs(args.wait_secs),
            };
            let rounds = pods::run(&options).await?;
            print!("{}", pods::summary(&options, &rounds));
            Ok(())
        }
        Command::Lease {
            endpoint,
            conns,
            clients,
            duration,
            warmup,
            leases,
            ttl,
        } => {
            let options = LeaseOptions {
                load: LoadOptions {
                    endpoint,
                    conns,
                    clients,
                    warmup: Duration::from_secs(warmup),
                    duration: Duration::from_secs(duration),
                },
                ttl_secs: ttl,
                leases,
            };
            print_named_report(
                &format!("lease keep-alive ({leases} leases)"),
                &lease::keep_alive(&options).await?,
            );
            print_named_report(
                &format!("lease grant (TTL {ttl} s)"),
                &lease::grant(&options).await?,
            );
            Ok(())
        }
    }
}

/// The program `name` in this one's directory.
fn beside(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("finding keel-bench's path: {e}"))?;
    Ok(exe.with_file_name(name))
}

fn print_report(workload: &Workload, report: &Report) {
    print_named_report(&workload.to_string(), report);
}

fn print_named_report(name: &str, report: &Report) {
    let l = &report.latency;
    println!(
        "{name}: {:.0} req/s ({} requests, {} errors), latency p50 {:?} p90 {:?} p99 {:?} p99.9 {:?} max {:?}",
        report.per_second, report.requests, report.errors, l.p50, l.p90, l.p99, l.p999, l.max
    );
    if let Some(error) = &report.first_error {
        println!("  first error: {error}");
    }
}

/// One row of the comparison: a workload and its load shape.
struct Case {
    workload: Workload,
    clients: usize,
    conns: usize,
}

/// The optional parts of a comparison.
struct Extras {
    /// The put and range table.
    kv: bool,
    check_perf: bool,
    defrag_keys: u64,
}

async fn compare(
    binaries: &Binaries,
    dir: &std::path::Path,
    duration: u64,
    rounds: usize,
    extras: Extras,
) -> Result<(), String> {
    let etcd = Server::start(Kind::Etcd, &binaries.etcd, &dir.join("etcd")).await?;
    let keeld = Server::start(Kind::Keeld, &binaries.keeld, &dir.join("keeld")).await?;
    let read_key = b"bench/read".to_vec();
    for server in [&etcd, &keeld] {
        let mut kv = KvClient::connect(format!("http://{}", server.endpoint()))
            .await
            .map_err(|e| e.to_string())?;
        kv.put(PutRequest {
            key: read_key.clone(),
            value: vec![b'r'; 256],
            ..PutRequest::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    }
    if extras.kv {
        compare_kv(&etcd, &keeld, read_key, duration, rounds).await?;
    }
    if extras.check_perf {
        println!();
        println!("| `etcdctl check perf --load=s` | etcd | keeld |");
        println!("|---|---|---|");
        let etcd_perf = servers::check_perf(&binaries.etcdctl, &etcd)?;
        let keeld_perf = servers::check_perf(&binaries.etcdctl, &keeld)?;
        for (name, pick) in [
            (
                "throughput",
                (|c: &servers::CheckPerf| c.throughput.clone())
                    as fn(&servers::CheckPerf) -> String,
            ),
            ("slowest request", |c| c.slowest.clone()),
            ("stddev", |c| c.stddev.clone()),
            ("verdict", |c| c.verdict.clone()),
        ] {
            println!("| {name} | {} | {} |", pick(&etcd_perf), pick(&keeld_perf));
        }
    }
    if extras.defrag_keys > 0 {
        compare_defrag(&etcd, &keeld, extras.defrag_keys).await?;
    }
    Ok(())
}

/// The put and range table: every case on both servers, alternating which
/// goes first from round to round.
async fn compare_kv(
    etcd: &Server,
    keeld: &Server,
    read_key: Vec<u8>,
    duration: u64,
    rounds: usize,
) -> Result<(), String> {
    let put = compare::COMPARED_PUT;
    let range = |serializable| Workload::Range {
        key: read_key.clone(),
        serializable,
    };
    let cases = [
        Case {
            workload: put.clone(),
            clients: 1,
            conns: 1,
        },
        Case {
            workload: put,
            clients: 64,
            conns: 8,
        },
        Case {
            workload: range(false),
            clients: 64,
            conns: 8,
        },
        Case {
            workload: range(true),
            clients: 64,
            conns: 8,
        },
    ];
    // results[case][server] = one report per round.
    let mut results: Vec<[Vec<Report>; 2]> = cases.iter().map(|_| [vec![], vec![]]).collect();
    for round in 0..rounds {
        for (case, result) in cases.iter().zip(&mut results) {
            for index in compare::order(round) {
                let server = [&etcd, &keeld][index];
                let options = LoadOptions {
                    endpoint: server.endpoint().to_string(),
                    conns: case.conns,
                    clients: case.clients,
                    warmup: Duration::from_secs(1),
                    duration: Duration::from_secs(duration),
                };
                let report = load::run(&case.workload, &options).await?;
                let label = format!("{} {} clients", case.workload, case.clients);
                compare::log_round(round, &label, server.kind(), &report);
                result[index].push(report);
            }
        }
    }
    let rows: Vec<LoadRow> = cases
        .iter()
        .zip(results)
        .map(|(case, reports)| LoadRow {
            label: case.workload.to_string(),
            clients: case.clients,
            conns: case.conns,
            reports,
        })
        .collect();
    print!("{}", compare::load_table(&rows));
    let errors = compare::errors(&rows);
    println!();
    println!("{rounds} rounds of {duration} s per workload and server; median round shown; {errors} failed requests in all.");
    Ok(())
}

/// A row of the Defragment table: its name and how to show a report.
type DefragRow = (&'static str, fn(&defrag::DefragReport) -> String);

async fn compare_defrag(etcd: &Server, keeld: &Server, keys: u64) -> Result<(), String> {
    let mut reports = Vec::new();
    for server in [etcd, keeld] {
        eprintln!("defrag: filling {} with {keys} keys, twice", server.kind());
        let report = defrag::measure(server.endpoint(), keys, 20).await?;
        eprintln!("defrag: {}: {report:?}", server.kind());
        reports.push(report);
    }
    println!();
    println!(
        "Puts from 64 clients while Defragment runs, after {keys} keys of 1 KiB were written twice and the first versions compacted away:"
    );
    println!();
    println!("| | etcd | keeld |");
    println!("|---|---|---|");
    let rows: [DefragRow; 7] = [
        ("db size before Defragment", |r| mib(r.size_before)),
        ("db size after Defragment", |r| mib(r.size_after)),
        ("Defragment took", |r| ms(r.took)),
        ("puts/s before", |r| format!("{:.0}", r.puts_before)),
        ("puts/s while it ran", |r| format!("{:.0}", r.puts_during)),
        ("slowest put before", |r| ms(r.worst_before)),
        ("slowest put in flight while it ran", |r| ms(r.worst_during)),
    ];
    for (name, show) in rows {
        println!("| {name} | {} | {} |", show(&reports[0]), show(&reports[1]));
    }
    Ok(())
}
