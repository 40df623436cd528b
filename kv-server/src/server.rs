//! Assembling keeld: start the member, serve the gRPC services on every
//! client URL, run automatic compaction, and stop cleanly on a signal.

use std::sync::Arc;
use std::time::Duration;

use keel_proto::etcdserverpb::cluster_server::ClusterServer;
use keel_proto::etcdserverpb::kv_server::KvServer;
use keel_proto::etcdserverpb::lease_server::LeaseServer;
use keel_proto::etcdserverpb::maintenance_server::MaintenanceServer;
use keel_proto::etcdserverpb::watch_server::WatchServer;
use keel_proto::grpc::health::v1::health_server::HealthServer;
use keel_proto::keelpb;
use keel_proto::v3electionpb::election_server::ElectionServer;
use keel_proto::v3lockpb::lock_server::LockServer;
use tracing::{info, warn};

use crate::api::cluster::ClusterApi;
use crate::api::election::ElectionApi;
use crate::api::health::HealthApi;
use crate::api::kv::KvApi;
use crate::api::lease::LeaseApi;
use crate::api::lock::LockApi;
use crate::api::maintenance::MaintenanceApi;
use crate::api::peer::PeerApi;
use crate::api::watch::{self, WatchApi};
use crate::clock::SystemClock;
use crate::config::{listen_address, AutoCompaction, Config, GRPC_OVERHEAD_BYTES};
use crate::node::{Node, NodeOptions};
use keel_proto::keelpb::raft_peer_server::RaftPeerServer;

/// The largest peer message: an AppendEntries carries at most
/// `MAX_PAYLOAD_ENTRIES` (see node.rs) entries of at most
/// `--max-request-bytes` (1.5 MiB by default) each.
const PEER_MESSAGE_BYTES_MAX: usize = 256 << 20;
/// How long a starting member waits to become ready (see [`become_ready`])
/// before it serves clients anyway.
const READY_WAIT_MAX: Duration = Duration::from_secs(10);
/// The pause between two catch-up attempts of a starting member.
const CATCH_UP_RETRY: Duration = Duration::from_millis(100);

/// Why keeld stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A flag is wrong.
    #[error("invalid flag {0}")]
    Config(#[from] crate::config::ConfigError),
    /// A URL cannot be served.
    #[error("cannot serve {0}")]
    Url(String),
    /// The member failed to start.
    #[error(transparent)]
    Start(#[from] crate::node::StartError),
    /// Restoring a snapshot failed.
    #[error("restoring {path}: {message}")]
    Restore {
        /// The snapshot file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A listener failed.
    #[error("serving clients: {0}")]
    Transport(String),
}

/// The member options the flags describe.
pub fn node_options(config: &Config) -> Result<NodeOptions, ServeError> {
    Ok(NodeOptions {
        name: config.name.clone(),
        data_dir: config.data_dir(),
        peer_urls: config.initial_advertise_peer_urls.clone(),
        initial_cluster: config.initial_members()?,
        new_cluster: config.initial_cluster_state == crate::config::ClusterState::New,
        client_urls: config.advertise_client_urls(),
        cluster_token: config.initial_cluster_token.clone(),
        snapshot_count: config.snapshot_count,
        snapshot_catchup_entries: config.experimental_snapshot_catchup_entries,
        heartbeat_ms: config.heartbeat_interval,
        election_ms: config.election_timeout_ms()?,
        quota_backend_bytes: config.quota_backend_bytes(),
        max_txn_ops: config.max_txn_ops,
        max_request_bytes: config.max_request_bytes,
        watch_progress_notify_interval: config.experimental_watch_progress_notify_interval,
        lease_checkpoint_interval: config.lease_checkpoint_interval,
    })
}

/// Runs keeld until SIGINT or SIGTERM.
pub async fn run(config: Config) -> Result<(), ServeError> {
    run_on(config, Arc::new(keel_raft_log::RealDisk)).await
}

/// [`run`] with the member's files on `disk` (the simulation runs each
/// member on its own crashable disk).
pub async fn run_on(config: Config, disk: Arc<dyn keel_raft_log::Disk>) -> Result<(), ServeError> {
    let compaction = config.auto_compaction()?;
    let addresses = config
        .listen_client_urls
        .iter()
        .map(|url| listen_address(url))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ServeError::Url)?;
    let options = node_options(&config)?;
    let peer_addresses = config
        .listen_peer_urls
        .iter()
        .map(|url| listen_address(url))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ServeError::Url)?;
    if let Some(snapshot) = &config.restore_snapshot {
        let mut progress = RestoreProgress::new(config.restore_only);
        let mut report = |done, total| progress.report(done, total);
        crate::restore::restore(snapshot, &options, &mut report).map_err(|message| {
            ServeError::Restore {
                path: snapshot.clone(),
                message,
            }
        })?;
        info!(snapshot = %snapshot.display(), data_dir = %options.data_dir.display(), "restored the data directory from a snapshot");
        if config.restore_only {
            return Ok(());
        }
    }
    info!(
        version = env!("CARGO_PKG_VERSION"),
        name = %options.name,
        data_dir = %options.data_dir.display(),
        "starting keeld"
    );
    let mut peer_listeners = Vec::new();
    for address in peer_addresses {
        peer_listeners.push((address, bind(address).await?));
    }
    #[cfg(not(madsim))]
    let metrics_listeners = crate::metrics::http::bind(&config.listen_metrics_urls)
        .await
        .map_err(ServeError::Url)?;
    let node = Node::start_on(options, Arc::new(SystemClock::new()), disk).await?;
    info!(
        member_id = %format!("{:x}", node.member_id()),
        cluster_id = %format!("{:x}", node.cluster_id()),
        "member started"
    );
    tokio::spawn(crate::metrics::member::follow_raft(
        Arc::clone(node.metrics()),
        Arc::clone(&node),
    ));
    #[cfg(not(madsim))]
    for (_, listener) in metrics_listeners {
        tokio::spawn(crate::metrics::http::serve(
            listener,
            Arc::clone(node.metrics()),
            Arc::clone(&node),
            shutdown_signal(),
        ));
    }
    // Listening for the signal from now on: the servers' graceful stop
    // waits for open streams (watches), which only their clients end.
    let grace = shutdown_grace();
    // Peers first: the election that gives this member a leader needs them.
    let mut servers = Vec::new();
    for (address, listener) in peer_listeners {
        info!(%address, "serving peers");
        let router = tonic::transport::Server::builder().add_service(
            RaftPeerServer::new(PeerApi::new(Arc::clone(&node)))
                .max_decoding_message_size(PEER_MESSAGE_BYTES_MAX)
                .max_encoding_message_size(PEER_MESSAGE_BYTES_MAX),
        );
        #[cfg(not(madsim))]
        let serving = router.serve_with_incoming_shutdown(
            nodelay(tokio_stream::wrappers::TcpListenerStream::new(listener)),
            shutdown_signal(),
        );
        #[cfg(madsim)]
        let serving = router.serve_with_shutdown(listener, shutdown_signal());
        servers.push(tokio::spawn(serving));
    }
    become_ready(&node).await;
    if compaction != AutoCompaction::Off {
        tokio::spawn(auto_compact(Arc::clone(&node), compaction));
    }
    tokio::spawn(crate::lease::run_lessor(Arc::clone(&node)));
    tokio::spawn(watch::run_catchup(Arc::clone(&node)));
    tokio::spawn(watch::run_progress_notify(Arc::clone(&node)));

    let max_message = config.max_request_bytes + GRPC_OVERHEAD_BYTES;
    for address in addresses {
        let listener = bind(address).await?;
        info!(%address, "serving client requests");
        // grpc-go's codes for requests the transport refuses (the
        // simulator has no transport to refuse them).
        #[cfg(not(madsim))]
        let mut builder = tonic::transport::Server::builder()
            .layer(tower::util::MapResponseLayer::new(
                crate::api::transport_status::rewrite::<tonic::body::Body>,
            ))
            .layer(crate::api::require_leader::RequireLeaderLayer::new(
                Arc::clone(&node),
            ));
        #[cfg(madsim)]
        let mut builder = tonic::transport::Server::builder();
        let router = builder
            .add_service(
                KvServer::new(KvApi::new(Arc::clone(&node))).max_decoding_message_size(max_message),
            )
            .add_service(
                MaintenanceServer::new(MaintenanceApi::new(Arc::clone(&node)))
                    .max_decoding_message_size(max_message),
            )
            .add_service(ClusterServer::new(ClusterApi::new(Arc::clone(&node))))
            .add_service(
                WatchServer::new(WatchApi::new(Arc::clone(&node)))
                    .max_decoding_message_size(max_message),
            )
            .add_service(
                LeaseServer::new(LeaseApi::new(Arc::clone(&node)))
                    .max_decoding_message_size(max_message),
            )
            .add_service(
                LockServer::new(LockApi::new(Arc::clone(&node)))
                    .max_decoding_message_size(max_message),
            )
            .add_service(
                ElectionServer::new(ElectionApi::new(Arc::clone(&node)))
                    .max_decoding_message_size(max_message),
            )
            .add_service(HealthServer::new(HealthApi::new(Arc::clone(&node))));
        // grpc-go clients dialing a URL send it as :authority; h2 would
        // refuse every such request (api/authority.rs).
        #[cfg(not(madsim))]
        let serving = router.serve_with_incoming_shutdown(
            tokio_stream::StreamExt::map(
                nodelay(tokio_stream::wrappers::TcpListenerStream::new(listener)),
                |stream| stream.map(crate::api::authority::AuthorityFix::new),
            ),
            shutdown_signal(),
        );
        #[cfg(madsim)]
        let serving = router.serve_with_shutdown(listener, shutdown_signal());
        servers.push(tokio::spawn(serving));
    }
    let failure = stop_servers(servers, grace).await;
    info!("stopping");
    node.shutdown().await;
    match failure {
        Some(message) => Err(ServeError::Transport(message)),
        None => Ok(()),
    }
}

/// How a restore reports its progress: with `--restore-only`, a line
/// `restored <done> of <total> bytes` on standard output for each
/// hundredth of the snapshot (what `keelctl snapshot restore` draws its bar
/// from); otherwise nothing.
struct RestoreProgress {
    enabled: bool,
    printed: u64,
}

impl RestoreProgress {
    fn new(enabled: bool) -> Self {
        Self {
            enabled,
            printed: 0,
        }
    }

    fn report(&mut self, done: u64, total: u64) {
        let step = (total / 100).max(1);
        if self.enabled && (done >= self.printed + step || (done == total && done > self.printed)) {
            self.printed = done;
            println!("restored {done} of {total} bytes");
        }
    }
}

/// Waits, up to [`READY_WAIT_MAX`], until this member may serve clients.
/// An etcd member serves clients only once it has published its name and
/// client URLs through raft and applied that entry: until then `member
/// list` shows it unstarted (and `--cluster` commands skip it), and a
/// restarted member would answer serializable reads and resume watches
/// from before what it missed. keeld publishes the same way (a membership
/// change, which a restarted member finds already made), then passes a
/// ReadIndex barrier, so it has applied what the cluster had committed when
/// it started. A member that cannot get there in time (no quorum) serves
/// anyway, so it answers status and "no leader", and keeps publishing in
/// the background.
async fn become_ready(node: &Arc<Node>) {
    let publish = tokio::spawn(crate::api::cluster::run_publish(Arc::clone(node)));
    let ready = async {
        // The task ends only once published; it does not panic.
        let _ = publish.await;
        while let Err(error) = node.linearizable_barrier().await {
            tracing::debug!(%error, "catching up before serving clients");
            tokio::time::sleep(CATCH_UP_RETRY).await;
        }
    };
    if tokio::time::timeout(READY_WAIT_MAX, ready).await.is_err() {
        warn!(
            has_leader = node.has_leader(),
            "not published and caught up after {READY_WAIT_MAX:?}; serving anyway, \
             requests that need a leader will fail"
        );
    }
}

/// Sets TCP_NODELAY on every accepted connection. Without it, Nagle's
/// algorithm holds a small response until the client acknowledges the
/// previous one, and the client's delayed ACK makes that ~40 ms: reads ran
/// at 64 / 40 ms.
#[cfg(not(madsim))]
fn nodelay(
    incoming: tokio_stream::wrappers::TcpListenerStream,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    tokio_stream::StreamExt::map(incoming, |stream| {
        let stream = stream?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}

/// A bound listener: a socket, or under the simulator the address itself
/// (madsim's gRPC server binds as it starts serving).
#[cfg(not(madsim))]
type Listener = tokio::net::TcpListener;
#[cfg(madsim)]
type Listener = std::net::SocketAddr;

/// Binds `address` for serving.
#[cfg(not(madsim))]
async fn bind(address: std::net::SocketAddr) -> Result<Listener, ServeError> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| ServeError::Url(format!("{address}: {e}")))
}

#[cfg(madsim)]
#[allow(clippy::unused_async)]
async fn bind(address: std::net::SocketAddr) -> Result<Listener, ServeError> {
    Ok(address)
}

/// How long the servers may take to stop after the signal before the
/// streams still open (watches, keep-alives of clients that stay) are cut,
/// as etcd's `stopServers` cuts them after its grace period.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// Resolves [`SHUTDOWN_GRACE`] after the shutdown signal; listening starts
/// at once.
fn shutdown_grace() -> tokio::sync::oneshot::Receiver<()> {
    let (over, grace) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        shutdown_signal().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
        let _ = over.send(());
    });
    grace
}

/// Waits for the servers to stop gracefully, and stops those still serving
/// open streams once the grace is over; answers the first failure.
async fn stop_servers<T>(
    servers: Vec<tokio::task::JoinHandle<Result<(), T>>>,
    mut grace: tokio::sync::oneshot::Receiver<()>,
) -> Option<String>
where
    T: std::fmt::Display,
{
    let mut failure = None;
    let mut grace_over = false;
    for mut server in servers {
        let stopped = if grace_over {
            server.abort();
            server.await
        } else {
            tokio::select! {
                stopped = &mut server => stopped,
                _ = &mut grace => {
                    grace_over = true;
                    tracing::warn!(?SHUTDOWN_GRACE, "clients still hold streams open; closing them");
                    server.abort();
                    server.await
                }
            }
        };
        match stopped {
            Ok(Ok(())) => {}
            Err(error) if error.is_cancelled() => {}
            Ok(Err(error)) => failure = Some(error.to_string()),
            Err(error) => failure = Some(error.to_string()),
        }
    }
    failure
}

/// Resolves on Ctrl-C (the simulator's only signal).
#[cfg(madsim)]
async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Resolves on SIGINT or SIGTERM.
#[cfg(not(madsim))]
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let Ok(mut terminate) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Compacts history in the background as `--auto-compaction-*` ask.
///
/// - revision mode: every 5 minutes, compact to (current revision −
///   retention);
/// - periodic mode: sample the current revision every tenth of the window,
///   and compact to the revision sampled one window ago.
async fn auto_compact(node: Arc<Node>, compaction: AutoCompaction) {
    let (interval, keep_samples) = match compaction {
        AutoCompaction::Off => return,
        AutoCompaction::Revision(_) => (Duration::from_secs(300), 0),
        AutoCompaction::Periodic(window) => ((window / 10).max(Duration::from_secs(1)), 10),
    };
    let mut samples = std::collections::VecDeque::new();
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let current = node.store().current_revision();
        let target = match compaction {
            AutoCompaction::Revision(keep) => current - keep,
            AutoCompaction::Periodic(_) => {
                samples.push_back(current);
                if samples.len() <= keep_samples {
                    continue;
                }
                samples.pop_front().unwrap_or(0)
            }
            AutoCompaction::Off => return,
        };
        if target <= node.store().compacted_revision() || target <= 0 {
            continue;
        }
        let request = keel_proto::etcdserverpb::CompactionRequest {
            revision: target,
            physical: false,
        };
        match node
            .propose(keelpb::command::Request::Compaction(request))
            .await
        {
            Ok(_) => info!(revision = target, "auto-compacted"),
            Err(error) => warn!(revision = target, %error, "auto-compaction failed"),
        }
    }
}
