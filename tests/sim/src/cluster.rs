//! A simulated keel cluster: each member is a madsim node running the real
//! `keeld` (`keel_server::server::run_on`) on its own crashable [`SimDisk`],
//! plus the faults the nemeses inject into it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use keel_client::{Client, ClientOptions};
use keel_raft_log::SimDisk;
use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};

/// Members' heartbeat interval, in milliseconds (keeld's default).
pub const HEARTBEAT_MS: u64 = 100;
/// Members' election timeout, in milliseconds (keeld's default).
pub const ELECTION_MS: u64 = 1000;
/// Applied entries between two snapshots: small, so runs take snapshots.
pub const SNAPSHOT_COUNT: u64 = 200;
/// Entries kept after a snapshot: small, so a member that was down for a
/// few seconds of writes catches up by a snapshot install.
pub const SNAPSHOT_CATCHUP_ENTRIES: u64 = 50;
/// The cluster token every member shares.
const CLUSTER_TOKEN: &str = "keel-sim";

/// One member, running or not.
pub struct Member {
    /// Its `--name`, `n1`, `n2`, ...
    pub name: String,
    /// Its address on the simulated network.
    pub ip: IpAddr,
    /// Its Raft member ID.
    pub member_id: u64,
    /// Whether its process runs (not killed).
    pub alive: bool,
    /// Whether its tasks are paused.
    pub paused: bool,
    /// Whether it was ever started.
    pub started: bool,
    disk: SimDisk,
    node: Option<NodeHandle>,
}

impl Member {
    /// Its client URL.
    pub fn client_url(&self) -> String {
        format!("http://{}:2379", self.ip)
    }

    /// Its peer URL.
    pub fn peer_url(&self) -> String {
        format!("http://{}:2380", self.ip)
    }

    /// The madsim node it runs on (once started).
    pub fn node_id(&self) -> Option<madsim::task::NodeId> {
        self.node.as_ref().map(NodeHandle::id)
    }
}

/// A cluster of `voters` founding members and room for `spares` more.
pub struct Cluster {
    handle: Handle,
    /// Every member slot, founders first.
    pub members: Vec<Member>,
    /// How many founded the cluster.
    pub founders: usize,
    /// Called with a member's ID before each of its starts (incarnations).
    on_start: Arc<dyn Fn(u64) + Send + Sync>,
}

impl Cluster {
    /// Starts a cluster of `founders` members, with `spares` more slots
    /// for members added later. `on_start` hears each member's start.
    pub fn start(founders: usize, spares: usize, on_start: Arc<dyn Fn(u64) + Send + Sync>) -> Self {
        let handle = Handle::current();
        let members = (1..=founders + spares)
            .map(|i| {
                let ip: IpAddr = [10, 0, 0, i as u8].into();
                let peer_url = format!("http://{ip}:2380");
                Member {
                    name: format!("n{i}"),
                    ip,
                    member_id: keel_server::ids::member_id(&[peer_url], CLUSTER_TOKEN),
                    alive: false,
                    paused: false,
                    started: false,
                    disk: SimDisk::new(),
                    node: None,
                }
            })
            .collect();
        let mut cluster = Self {
            handle,
            members,
            founders,
            on_start,
        };
        let initial: Vec<usize> = (0..founders).collect();
        for index in 0..founders {
            cluster.launch(index, &initial, true);
        }
        cluster
    }

    /// `name=peer-url` for each of `indexes`.
    fn initial_cluster(&self, indexes: &[usize]) -> String {
        indexes
            .iter()
            .map(|&i| format!("{}={}", self.members[i].name, self.members[i].peer_url()))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Creates member `index`'s node and starts keeld on it.
    fn launch(&mut self, index: usize, initial: &[usize], new_cluster: bool) {
        let member = &self.members[index];
        let client_url = member.client_url();
        let peer_url = member.peer_url();
        let args = vec![
            "keeld".to_string(),
            format!("--name={}", member.name),
            format!("--data-dir=/sim/{}", member.name),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster={}", self.initial_cluster(initial)),
            format!(
                "--initial-cluster-state={}",
                if new_cluster { "new" } else { "existing" }
            ),
            format!("--initial-cluster-token={CLUSTER_TOKEN}"),
            format!("--heartbeat-interval={HEARTBEAT_MS}"),
            format!("--election-timeout={ELECTION_MS}"),
            format!("--snapshot-count={SNAPSHOT_COUNT}"),
            format!("--experimental-snapshot-catchup-entries={SNAPSHOT_CATCHUP_ENTRIES}"),
        ];
        let config = keel_server::config::Config::try_parse_from(&args)
            .expect("the simulation's flags parse");
        let disk = member.disk.clone();
        let member_id = member.member_id;
        let on_start = Arc::clone(&self.on_start);
        let node = self
            .handle
            .create_node()
            .name(member.name.clone())
            .ip(member.ip)
            .init(move || {
                let config = config.clone();
                let disk = disk.clone();
                on_start(member_id);
                async move {
                    if let Err(error) = keel_server::server::run_on(config, Arc::new(disk)).await {
                        // A member that cannot start is a finding: the
                        // checks after healing report it unavailable.
                        tracing::error!(%error, "keeld stopped");
                    }
                }
            })
            .build();
        let member = &mut self.members[index];
        member.node = Some(node);
        member.alive = true;
        member.started = true;
    }

    /// Client URLs of every member slot (the client skips those down).
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::client_url).collect()
    }

    /// Indexes of the members that run.
    pub fn alive(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| self.members[i].alive)
            .collect()
    }

    /// Kills member `index` as a power cut would: its process stops and its
    /// disk loses what was not fsynced (tearing a last unsynced write).
    pub fn kill(&mut self, index: usize) {
        let member = &mut self.members[index];
        if let Some(id) = member.node_id() {
            if member.alive {
                self.handle.kill(id);
                member.disk.crash(true);
            }
        }
        member.alive = false;
        member.paused = false;
    }

    /// Stops every member at the end of a run, so that madsim frees their
    /// tasks.
    pub fn stop_all(&mut self) {
        for member in &mut self.members {
            if let Some(id) = member.node_id() {
                self.handle.kill(id);
            }
            member.alive = false;
        }
    }

    /// Starts a killed member again on what its disk kept.
    pub fn restart(&mut self, index: usize) {
        let member = &mut self.members[index];
        if let Some(id) = member.node_id() {
            if !member.alive {
                self.handle.restart(id);
                member.alive = true;
            }
        }
    }

    /// Stops scheduling member `index`'s tasks (SIGSTOP).
    pub fn pause(&mut self, index: usize) {
        let member = &mut self.members[index];
        if let (Some(id), true) = (member.node_id(), member.alive) {
            self.handle.pause(id);
            member.paused = true;
        }
    }

    /// Resumes a paused member (SIGCONT).
    pub fn resume(&mut self, index: usize) {
        let member = &mut self.members[index];
        if let (Some(id), true) = (member.node_id(), member.paused) {
            self.handle.resume(id);
            member.paused = false;
        }
    }

    /// Cuts every link between members of different `groups` (both ways).
    pub fn partition(&self, groups: &[Vec<usize>]) {
        for (a, group) in groups.iter().enumerate() {
            for other in &groups[a + 1..] {
                for &i in group {
                    for &j in other {
                        self.clog(i, j);
                        self.clog(j, i);
                    }
                }
            }
        }
    }

    /// Drops what member `from` sends to member `to` (one way).
    pub fn clog(&self, from: usize, to: usize) {
        if let (Some(a), Some(b)) = (self.members[from].node_id(), self.members[to].node_id()) {
            NetSim::current().clog_link(a, b);
        }
    }

    /// Members `i` and `j` cannot reach each other.
    fn cut_pair(&self, i: usize, j: usize) {
        self.clog(i, j);
        self.clog(j, i);
    }

    /// The majorities ring: each member reaches only its neighbours on a
    /// ring, so every member sees a majority, but no two majorities agree.
    pub fn majorities_ring(&self, members: &[usize]) {
        let n = members.len();
        for a in 0..n {
            for b in a + 1..n {
                let adjacent = b == a + 1 || (a == 0 && b == n - 1);
                if !adjacent {
                    self.cut_pair(members[a], members[b]);
                }
            }
        }
    }

    /// Message loss and latency on every link.
    pub fn degrade_network(&self, loss_rate: f64, latency: std::ops::Range<Duration>) {
        NetSim::current().update_config(|config| {
            config.packet_loss_rate = loss_rate;
            config.send_latency = latency;
        });
    }

    /// Ends every network fault and resumes paused members (killed ones stay
    /// down: see [`Cluster::heal`]).
    pub fn heal_network(&mut self) {
        let net = NetSim::current();
        net.update_config(|config| *config = madsim::net::Config::default());
        let ids: Vec<_> = self.members.iter().filter_map(Member::node_id).collect();
        for &a in &ids {
            net.unclog_node(a);
            for &b in &ids {
                net.unclog_link(a, b);
            }
        }
        for index in 0..self.members.len() {
            self.resume(index);
        }
    }

    /// Must-heal: every fault ends and every member that should run runs.
    pub fn heal(&mut self, members: &[usize]) {
        self.heal_network();
        for &index in members {
            self.restart(index);
        }
    }

    /// Adds member `index` as a learner through the cluster, then starts it.
    pub async fn add_learner(&mut self, client: &Client, index: usize) -> Result<(), String> {
        let peer_url = self.members[index].peer_url();
        client
            .member_add(vec![peer_url], true)
            .await
            .map_err(|e| format!("member add: {e}"))?;
        let mut initial = self.alive();
        initial.push(index);
        initial.sort_unstable();
        initial.dedup();
        self.launch(index, &initial, false);
        Ok(())
    }

    /// A client of member `index` alone.
    pub async fn client_of(&self, index: usize) -> Result<Client, keel_client::Error> {
        Client::connect([self.members[index].client_url()], client_options()).await
    }

    /// The member that leads, as the members that answer say.
    pub async fn leader(&self) -> Option<usize> {
        for index in self.alive() {
            let Ok(client) = self.client_of(index).await else {
                continue;
            };
            let Ok(status) = client.status().await else {
                continue;
            };
            let leader = status.leader;
            if let Some(found) = self.members.iter().position(|m| m.member_id == leader) {
                return Some(found);
            }
        }
        None
    }
}

/// The workload's client options: short timeouts, as a test wants.
pub fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_request_timeout(Duration::from_secs(3))
        .with_connect_timeout(Duration::from_millis(500))
}
