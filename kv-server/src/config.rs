//! keeld's command line: etcd's flags, spelled as etcd spells them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// etcd's default `--max-request-bytes`: 1.5 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1536 * 1024;
/// etcd's default backend quota: 2 GiB.
pub const DEFAULT_QUOTA_BACKEND_BYTES: u64 = 2 << 30;
/// gRPC accepts messages this much larger than `--max-request-bytes`, as
/// etcd does, so an oversized request reaches the server and gets etcd's
/// "request is too large" rather than a transport error.
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// keeld: keel's etcd-compatible key-value server.
///
/// With no flags it starts a one-member cluster that serves etcd's v3 API on
/// http://127.0.0.1:2379, with its data in ./default.keel. Any etcd v3
/// client works against it, etcdctl included.
#[derive(Debug, Clone, Parser)]
#[command(name = "keeld", version, about, long_about = None, max_term_width = 100)]
pub struct Config {
    /// Human-readable name of this member.
    #[arg(long, default_value = "default", env = "ETCD_NAME")]
    pub name: String,

    /// Directory for the member's data (Raft log, store, snapshots).
    /// Default: "<name>.keel" in the working directory.
    #[arg(long, env = "ETCD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// URLs to serve client traffic on, comma-separated.
    #[arg(
        long,
        default_value = "http://127.0.0.1:2379",
        value_delimiter = ',',
        env = "ETCD_LISTEN_CLIENT_URLS"
    )]
    pub listen_client_urls: Vec<String>,

    /// Client URLs of this member as other members and clients should use
    /// them, comma-separated. Default: the listen client URLs.
    #[arg(long, value_delimiter = ',', env = "ETCD_ADVERTISE_CLIENT_URLS")]
    pub advertise_client_urls: Vec<String>,

    /// URLs to serve peer (member-to-member) traffic on, comma-separated.
    #[arg(
        long,
        default_value = "http://localhost:2380",
        value_delimiter = ',',
        env = "ETCD_LISTEN_PEER_URLS"
    )]
    pub listen_peer_urls: Vec<String>,

    /// URLs to serve /metrics and /health on (plain HTTP), comma-separated.
    /// None by default.
    #[arg(long, value_delimiter = ',', env = "ETCD_LISTEN_METRICS_URLS")]
    pub listen_metrics_urls: Vec<String>,

    /// Peer URLs of this member as the other members should use them,
    /// comma-separated. With the cluster token they determine the member ID.
    #[arg(
        long,
        default_value = "http://localhost:2380",
        value_delimiter = ',',
        env = "ETCD_INITIAL_ADVERTISE_PEER_URLS"
    )]
    pub initial_advertise_peer_urls: Vec<String>,

    /// The initial cluster, as name=peer-url pairs, comma-separated. keeld
    /// runs one-member clusters for now. Default: "<name>=<advertised peer
    /// URLs>".
    #[arg(long, env = "ETCD_INITIAL_CLUSTER")]
    pub initial_cluster: Option<String>,

    /// Whether this member starts a new cluster or joins an existing one.
    #[arg(long, value_enum, default_value_t = ClusterState::New, env = "ETCD_INITIAL_CLUSTER_STATE")]
    pub initial_cluster_state: ClusterState,

    /// Token that tells clusters apart; it goes into the member and cluster
    /// IDs.
    #[arg(
        long,
        default_value = "etcd-cluster",
        env = "ETCD_INITIAL_CLUSTER_TOKEN"
    )]
    pub initial_cluster_token: String,

    /// Largest client request accepted, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_REQUEST_BYTES, env = "ETCD_MAX_REQUEST_BYTES")]
    pub max_request_bytes: usize,

    /// Most operations in one transaction.
    #[arg(long, default_value_t = 128, env = "ETCD_MAX_TXN_OPS")]
    pub max_txn_ops: usize,

    /// Size of the store above which writes are refused and the NOSPACE
    /// alarm is raised, in bytes. 0 means the default (2 GiB).
    #[arg(long, default_value_t = 0, env = "ETCD_QUOTA_BACKEND_BYTES")]
    pub quota_backend_bytes: u64,

    /// How --auto-compaction-retention is read.
    #[arg(long, value_enum, default_value_t = CompactionMode::Periodic, env = "ETCD_AUTO_COMPACTION_MODE")]
    pub auto_compaction_mode: CompactionMode,

    /// History to keep when compacting automatically: in periodic mode a
    /// duration ("1h", "30m", or a bare number of hours), in revision mode a
    /// number of revisions. 0 turns automatic compaction off.
    #[arg(long, default_value = "0", env = "ETCD_AUTO_COMPACTION_RETENTION")]
    pub auto_compaction_retention: String,

    /// Applied entries between two snapshots of the store (after which the
    /// Raft log before the snapshot may be purged).
    #[arg(long, default_value_t = 100_000, env = "ETCD_SNAPSHOT_COUNT")]
    pub snapshot_count: u64,

    /// Entries kept in the Raft log after a snapshot, so a slightly lagging
    /// member catches up from the log rather than from a snapshot.
    #[arg(
        long,
        default_value_t = 5000,
        env = "ETCD_EXPERIMENTAL_SNAPSHOT_CATCHUP_ENTRIES"
    )]
    pub experimental_snapshot_catchup_entries: u64,

    /// Time between leader heartbeats, in milliseconds.
    #[arg(long, default_value_t = 100, env = "ETCD_HEARTBEAT_INTERVAL")]
    pub heartbeat_interval: u64,

    /// Time a follower waits for a heartbeat before it campaigns, in
    /// milliseconds.
    #[arg(long, default_value_t = 1000, env = "ETCD_ELECTION_TIMEOUT")]
    pub election_timeout: u64,

    /// How often a watcher that asked for progress notifications gets one
    /// while it is up to date (a Go duration: "10m", "30s").
    #[arg(
        long,
        default_value = "10m",
        value_parser = duration_flag,
        env = "ETCD_EXPERIMENTAL_WATCH_PROGRESS_NOTIFY_INTERVAL"
    )]
    pub experimental_watch_progress_notify_interval: Duration,

    /// How often the leader records each lease's remaining TTL in the log,
    /// so that a restart or a leader change does not give leases their
    /// whole TTL again (etcd does). Leases whose TTL is at most this are
    /// not recorded: they gain at most their TTL. A Go duration ("5m").
    #[arg(long, default_value = "5m", value_parser = duration_flag)]
    pub lease_checkpoint_interval: Duration,

    /// Log verbosity.
    #[arg(long, value_enum, default_value_t = LogLevel::Info, env = "ETCD_LOG_LEVEL")]
    pub log_level: LogLevel,

    /// Create the data directory from a snapshot file (as saved by
    /// `etcdctl snapshot save` from a keel member), then start. The data
    /// directory must not exist yet. The restored member starts a new
    /// one-member cluster holding the snapshot's keys and revisions.
    #[arg(long, value_name = "FILE")]
    pub restore_snapshot: Option<PathBuf>,

    /// With --restore-snapshot: create the data directory, then exit
    /// instead of starting (what `keelctl snapshot restore` runs).
    #[arg(long, requires = "restore_snapshot")]
    pub restore_only: bool,
}

/// `--initial-cluster-state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClusterState {
    /// Start a new cluster.
    New,
    /// Join an existing cluster.
    Existing,
}

/// `--auto-compaction-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompactionMode {
    /// Keep a window of time.
    Periodic,
    /// Keep a number of revisions.
    Revision,
}

/// `--log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything.
    Debug,
    /// Normal operation.
    Info,
    /// Problems only.
    Warn,
    /// Failures only.
    Error,
}

impl LogLevel {
    /// The tracing filter directive for this level.
    pub fn directive(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// Automatic compaction, as the flags ask for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Off.
    Off,
    /// Keep this much time of history.
    Periodic(Duration),
    /// Keep this many revisions of history.
    Revision(i64),
}

/// A flag value that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag}: {message}")]
pub struct ConfigError {
    /// The flag.
    pub flag: &'static str,
    /// What is wrong, and what would be right.
    pub message: String,
}

/// clap's reader of duration flags.
fn duration_flag(text: &str) -> Result<Duration, String> {
    match parse_duration(text) {
        Some(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(format!(
            "{text:?} is not a positive duration (write it as Go does: 10m, 30s, 500ms)"
        )),
    }
}

fn config_error(flag: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        flag,
        message: message.into(),
    }
}

/// Parses a Go-style duration ("1h30m", "90s", "500ms") or a bare number of
/// hours, as etcd reads `--auto-compaction-retention` in periodic mode.
pub fn parse_retention_duration(text: &str) -> Option<Duration> {
    if let Ok(hours) = text.parse::<u64>() {
        return Some(Duration::from_secs(hours * 3600));
    }
    parse_duration(text)
}

/// Parses a Go-style duration: numbers with units `h`, `m`, `s` or `ms`
/// ("1h30m", "90s", "500ms").
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += Duration::from_secs_f64(number * seconds);
    }
    Some(total)
}

/// Parses a URL list entry into the socket address to listen on.
pub fn listen_address(url: &str) -> Result<SocketAddr, String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!("{url:?}: only http:// URLs are served (TLS is not supported yet)")
    })?;
    let host_port = rest.trim_end_matches('/');
    let (host, port) = host_port
        .rsplit_once(':')
        .ok_or_else(|| format!("{url:?}: a port is required, as in http://127.0.0.1:2379"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{url:?}: {port:?} is not a port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip = match host {
        "localhost" => std::net::IpAddr::from([127, 0, 0, 1]),
        "" => std::net::IpAddr::from([0, 0, 0, 0]),
        other => other
            .parse()
            .map_err(|_| format!("{url:?}: {other:?} is not an IP address (or localhost)"))?,
    };
    Ok(SocketAddr::new(ip, port))
}

impl Config {
    /// The data directory: `--data-dir`, or "<name>.keel".
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{}.keel", self.name)))
    }

    /// The advertised client URLs: `--advertise-client-urls`, or the listen
    /// client URLs.
    pub fn advertise_client_urls(&self) -> Vec<String> {
        if self.advertise_client_urls.is_empty() {
            self.listen_client_urls.clone()
        } else {
            self.advertise_client_urls.clone()
        }
    }

    /// The backend quota in bytes (0 means etcd's default).
    pub fn quota_backend_bytes(&self) -> u64 {
        if self.quota_backend_bytes == 0 {
            DEFAULT_QUOTA_BACKEND_BYTES
        } else {
            self.quota_backend_bytes
        }
    }

    /// `--election-timeout` in milliseconds, checked as etcd checks it: at
    /// least five heartbeats, so a follower does not campaign over one
    /// late heartbeat.
    pub fn election_timeout_ms(&self) -> Result<u64, ConfigError> {
        if self.election_timeout < 5 * self.heartbeat_interval {
            return Err(config_error(
                "--election-timeout",
                format!(
                    "--election-timeout[{}ms] should be at least as 5 times as \
                     --heartbeat-interval[{}ms]",
                    self.election_timeout, self.heartbeat_interval
                ),
            ));
        }
        Ok(self.election_timeout)
    }

    /// The automatic compaction the flags ask for.
    pub fn auto_compaction(&self) -> Result<AutoCompaction, ConfigError> {
        let text = self.auto_compaction_retention.trim();
        match self.auto_compaction_mode {
            CompactionMode::Revision => {
                let revisions: i64 = text.parse().map_err(|_| {
                    config_error(
                        "--auto-compaction-retention",
                        format!("{text:?} is not a number of revisions (revision mode)"),
                    )
                })?;
                if revisions < 0 {
                    return Err(config_error(
                        "--auto-compaction-retention",
                        "must not be negative",
                    ));
                }
                Ok(if revisions == 0 {
                    AutoCompaction::Off
                } else {
                    AutoCompaction::Revision(revisions)
                })
            }
            CompactionMode::Periodic => {
                let window = parse_retention_duration(text).ok_or_else(|| {
                    config_error(
                        "--auto-compaction-retention",
                        format!("{text:?} is not a duration such as 1h, 30m or 90s, or a number of hours"),
                    )
                })?;
                Ok(if window.is_zero() {
                    AutoCompaction::Off
                } else {
                    AutoCompaction::Periodic(window)
                })
            }
        }
    }

    /// The founding members `--initial-cluster` names, each with its peer
    /// URLs, in the order given; checked against this member: it must be
    /// among them, with its advertised peer URLs. Without the flag, this
    /// member alone.
    pub fn initial_members(&self) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
        let Some(cluster) = &self.initial_cluster else {
            return Ok(vec![(
                self.name.clone(),
                self.initial_advertise_peer_urls.clone(),
            )]);
        };
        let mut members: Vec<(String, Vec<String>)> = Vec::new();
        for pair in cluster.split(',').filter(|p| !p.trim().is_empty()) {
            let (name, url) = pair.split_once('=').ok_or_else(|| {
                config_error(
                    "--initial-cluster",
                    format!("{pair:?} is not name=peer-url, as in default=http://localhost:2380"),
                )
            })?;
            match members.iter_mut().find(|(n, _)| n == name.trim()) {
                Some((_, urls)) => urls.push(url.trim().to_string()),
                None => members.push((name.trim().to_string(), vec![url.trim().to_string()])),
            }
        }
        let Some((_, urls)) = members.iter().find(|(name, _)| name == &self.name) else {
            let names: Vec<&str> = members.iter().map(|(name, _)| name.as_str()).collect();
            return Err(config_error(
                "--initial-cluster",
                format!(
                    "it names members {names:?}, but not this member (--name {:?})",
                    self.name
                ),
            ));
        };
        let mut urls = urls.clone();
        urls.sort();
        let mut advertised = self.initial_advertise_peer_urls.clone();
        advertised.sort();
        if urls != advertised {
            return Err(config_error(
                "--initial-cluster",
                format!(
                    "member {:?} has peer URLs {urls:?} there, but --initial-advertise-peer-urls says {advertised:?}",
                    self.name
                ),
            ));
        }
        Ok(members)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        Config::try_parse_from(std::iter::once("keeld").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_start_a_local_single_member() {
        let config = parse(&[]);
        assert_eq!(config.name, "default");
        assert_eq!(config.data_dir(), PathBuf::from("default.keel"));
        assert_eq!(config.listen_client_urls, vec!["http://127.0.0.1:2379"]);
        assert_eq!(
            config.advertise_client_urls(),
            vec!["http://127.0.0.1:2379"]
        );
        assert_eq!(config.quota_backend_bytes(), DEFAULT_QUOTA_BACKEND_BYTES);
        assert_eq!(config.auto_compaction().unwrap(), AutoCompaction::Off);
        assert_eq!(
            config.initial_members().unwrap(),
            vec![(
                "default".to_string(),
                vec!["http://localhost:2380".to_string()]
            )]
        );
    }

    #[test]
    fn etcd_spellings_parse() {
        let config = parse(&[
            "--name=n1",
            "--data-dir",
            "/tmp/x",
            "--listen-client-urls=http://127.0.0.1:1,http://127.0.0.1:2",
            "--initial-advertise-peer-urls=http://127.0.0.1:3",
            "--initial-cluster=n1=http://127.0.0.1:3",
            "--auto-compaction-mode=revision",
            "--auto-compaction-retention=1000",
        ]);
        assert_eq!(config.listen_client_urls.len(), 2);
        config.initial_members().unwrap();
        assert_eq!(
            config.auto_compaction().unwrap(),
            AutoCompaction::Revision(1000)
        );
    }

    #[test]
    fn initial_cluster_must_hold_this_member() {
        let other = parse(&["--initial-cluster=x=http://localhost:2380"]);
        assert!(other
            .initial_members()
            .unwrap_err()
            .message
            .contains("\"x\""));
        let two =
            parse(&["--initial-cluster=default=http://localhost:2380,b=http://localhost:2381"]);
        assert_eq!(
            two.initial_members().unwrap(),
            vec![
                (
                    "default".to_string(),
                    vec!["http://localhost:2380".to_string()]
                ),
                ("b".to_string(), vec!["http://localhost:2381".to_string()]),
            ]
        );
        let urls = parse(&["--initial-cluster=default=http://localhost:9999"]);
        assert!(urls.initial_members().is_err());
        let quick = parse(&["--heartbeat-interval", "100", "--election-timeout", "400"]);
        let error = quick.election_timeout_ms().unwrap_err();
        assert_eq!(error.flag, "--election-timeout");
        assert!(error.message.contains("at least as 5 times"), "{error}");
        let fine = parse(&["--heartbeat-interval", "100", "--election-timeout", "500"]);
        assert_eq!(fine.election_timeout_ms().unwrap(), 500);
    }

    #[test]
    fn retention_durations_read_like_etcd() {
        assert_eq!(
            parse_retention_duration("1"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            parse_retention_duration("1h30m"),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(
            parse_retention_duration("90s"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retention_duration("500ms"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_retention_duration("5x"), None);
        assert_eq!(parse_retention_duration(""), None);
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(
            listen_address("http://127.0.0.1:2379").unwrap(),
            "127.0.0.1:2379".parse().unwrap()
        );
        assert_eq!(
            listen_address("http://localhost:1/").unwrap(),
            "127.0.0.1:1".parse().unwrap()
        );
        assert!(listen_address("https://127.0.0.1:2379").is_err());
        assert!(listen_address("http://127.0.0.1").is_err());
    }
}
