//! A multi-member cluster (etcd or keeld) as child processes on loopback.
//!
//! ```text
//!  Cluster::start(flavor, size, extra) ──► members m0 .. m<size-1>, each:
//!        │   tempdir/ ── data/       the --data-dir
//!        │            └─ member.log  stdout+stderr, appended across restarts
//!        │   all with the same flags: --initial-cluster m0=..,m1=..
//!        │   --initial-cluster-state new --initial-cluster-token <unique>;
//!        │   started together, then each waited for (endpoint health)
//!        ├─ endpoints(), etcdctl(i), etcdctl_all(),  clients: one member, all
//!        │  etcdctl_running(), etcdctl_voting(..)    (killed ones too), alive,
//!        │                                           alive and not learners
//!        ├─ status(i), leader(), wait_caught_up(i)   `endpoint status -w json`
//!        ├─ kill(i)     SIGKILL + reap; restart(i) same flags, waits until it serves
//!        ├─ member_add(name, learner) ── `etcdctl member add` ──► Added
//!        │    start_added(i)   --initial-cluster from its ETCD_INITIAL_CLUSTER,
//!        │                     --initial-cluster-state existing
//!        │    add_member(name) both
//!        ├─ remove_member(i)   `member remove`, then the process is killed
//!        ├─ promote(i)         `member promote`, retried while not in sync
//!        └─ stop() / Drop      kills every member; Drop prints every
//!                              member's log tail if the test is panicking
//! ```
//!
//! Members are numbered in the order they were created: `m0 .. m<size-1>`
//! by [`Cluster::start`], then one more per [`Cluster::member_add`]; a
//! removed member keeps its number (and its log) but is no client's
//! endpoint any more. A restart keeps the flags a member first started
//! with, `--initial-cluster-state` included: etcd ignores it once the data
//! dir exists, and keeld must too.

use std::fmt;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::etcdctl::{Etcdctl, Output};
use crate::ports;
use crate::server::{Flavor, START_TIMEOUT};

/// How long a leader may take to appear (after a start or a kill) before
/// [`Cluster::leader`] gives up: far above any election on a loaded machine.
pub const LEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a member may take to catch up with the leader.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long membership changes are retried while the cluster refuses them
/// for now: etcd adds a member only once every voting member has been
/// connected for 5 s, and promotes a learner only once it is in sync.
pub const RECONFIGURE_TIMEOUT: Duration = Duration::from_secs(30);
/// What etcd 3.4 answers a `member add` while some voting member has not
/// been connected to the leader for 5 s (`Unavailable`).
pub const UNHEALTHY_CLUSTER: &str = "etcdserver: unhealthy cluster";
/// What etcd 3.4 answers a `member promote` of a learner that has not
/// caught up with the leader (`FailedPrecondition`).
pub const LEARNER_NOT_READY: &str =
    "etcdserver: can only promote a learner member which is in sync with leader";
/// Attempts at a first start: a port can be taken between the allocator's
/// check and a member's bind (another process on the machine).
const START_ATTEMPTS_MAX: usize = 3;
/// Each member's last log bytes shown in failure messages.
const LOG_TAIL_BYTES: usize = 8 * 1024;
/// Pause between two polls of a member.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Clusters started by this process, for unique cluster tokens.
static CLUSTERS: AtomicU32 = AtomicU32::new(0);

/// One member's process and identity.
struct Member {
    name: String,
    dir: TempDir,
    client_port: u16,
    peer_port: u16,
    /// `--initial-cluster`.
    initial_cluster: String,
    /// `--initial-cluster-state`: `new` or `existing`.
    initial_state: &'static str,
    /// Added with `--learner` and not promoted since.
    learner: bool,
    /// Removed from the cluster with `member remove`.
    removed: bool,
    /// The member ID, once known (from `member add` or a status).
    id: Option<u64>,
    child: Option<Child>,
    /// Whether the process has ever been started.
    started: bool,
    /// The log's length when the current process was started.
    log_offset: usize,
}

impl Member {
    fn new(flavor: Flavor, name: String, initial_state: &'static str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("keel-cluster-{flavor}-{name}-"))
            .tempdir()
            .expect("a temporary directory for a member");
        Self {
            name,
            dir,
            client_port: ports::free_port(),
            peer_port: ports::free_port(),
            initial_cluster: String::new(),
            initial_state,
            learner: false,
            removed: false,
            id: None,
            child: None,
            started: false,
            log_offset: 0,
        }
    }

    fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("member.log")
    }

    fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let mut start = log.len().saturating_sub(LOG_TAIL_BYTES);
        while !log.is_char_boundary(start) {
            start += 1;
        }
        log[start..].to_owned()
    }

    fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error means it has already exited: reaping is all that is left.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the current process failed to start because a port was
    /// taken (Go says "address already in use", Rust "Address already in use").
    fn lost_port_race(&self) -> bool {
        self.log()
            .get(self.log_offset..)
            .unwrap_or_default()
            .to_lowercase()
            .contains("address already in use")
    }
}

/// The part of `etcdctl endpoint status -w json` the tests look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The member that answered.
    pub member_id: u64,
    /// The leader it knows of, 0 if none.
    pub leader: u64,
    /// Its raft term.
    pub raft_term: u64,
    /// Its raft (committed) index.
    pub raft_index: u64,
    /// Its applied index.
    pub raft_applied_index: u64,
    /// Whether it is a learner.
    pub is_learner: bool,
    /// Its store's revision.
    pub revision: i64,
    /// The errors it reports (`etcdserver: no leader`, alarms).
    pub errors: Vec<String>,
}

impl Status {
    /// Reads one `Status` object of `endpoint status -w json`.
    #[track_caller]
    pub fn from_json(status: &Value) -> Self {
        let unsigned = |value: &Value, what: &str| {
            value
                .as_u64()
                .unwrap_or_else(|| panic!("status {what} is not an unsigned number: {status}"))
        };
        let optional = |key: &str| status.get(key).map_or(0, |value| unsigned(value, key));
        Self {
            member_id: unsigned(&status["header"]["member_id"], "header.member_id"),
            leader: optional("leader"),
            raft_term: optional("raftTerm"),
            raft_index: optional("raftIndex"),
            raft_applied_index: optional("raftAppliedIndex"),
            is_learner: status
                .get("isLearner")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            revision: status["header"]["revision"].as_i64().unwrap_or(0),
            errors: status
                .get("errors")
                .and_then(Value::as_array)
                .map(|errors| {
                    errors
                        .iter()
                        .map(|error| error.as_str().unwrap_or_default().to_owned())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

/// A member added with `etcdctl member add`, not started yet.
#[derive(Debug, Clone)]
pub struct Added {
    /// Its number in the cluster.
    pub index: usize,
    /// Its member ID in hex (`%x`, as `member list` prints it and `member
    /// promote` takes it; `member add` pads it to 16 characters).
    pub id: String,
    /// The successful `member add` run.
    pub output: Output,
}

/// A cluster of etcd or keeld members on loopback. Every member is killed
/// on drop.
pub struct Cluster {
    flavor: Flavor,
    token: String,
    extra_args: Vec<String>,
    members: Vec<Member>,
    /// Set once a failure message has shown the logs, so Drop does not
    /// print them a second time.
    logs_shown: bool,
}

impl Cluster {
    /// Starts a new cluster of `size` members (`m0`, `m1`, ...), all with
    /// `extra_args` (`--snapshot-count`, `1000`), and waits until each
    /// serves (`etcdctl endpoint health` succeeds on it).
    ///
    /// Panics, printing every member's log, if they do not.
    #[track_caller]
    pub fn start(flavor: Flavor, size: usize, extra_args: &[&str]) -> Self {
        assert!(size > 0, "a cluster has members");
        let token = format!(
            "keel-test-{}-{}",
            std::process::id(),
            CLUSTERS.fetch_add(1, Ordering::Relaxed)
        );
        let mut cluster = Self {
            flavor,
            token,
            extra_args: extra_args.iter().map(|&arg| arg.to_owned()).collect(),
            members: Vec::new(),
            logs_shown: false,
        };
        for attempt in 1..=START_ATTEMPTS_MAX {
            cluster.members = (0..size)
                .map(|index| Member::new(flavor, format!("m{index}"), "new"))
                .collect();
            let initial_cluster = cluster
                .members
                .iter()
                .map(|member| format!("{}={}", member.name, member.peer_url()))
                .collect::<Vec<_>>()
                .join(",");
            for member in &mut cluster.members {
                member.initial_cluster.clone_from(&initial_cluster);
            }
            let started = (0..size)
                .try_for_each(|index| cluster.spawn(index))
                .and_then(|()| (0..size).try_for_each(|index| cluster.wait_serving(index)));
            match started {
                Ok(()) => return cluster,
                Err(error)
                    if attempt < START_ATTEMPTS_MAX
                        && cluster.members.iter().any(Member::lost_port_race) =>
                {
                    eprintln!("{flavor} cluster lost a port race ({error}), retrying on new ports");
                    cluster.stop();
                }
                Err(error) => cluster.fail(&error),
            }
        }
        unreachable!("the last attempt either returns or fails")
    }

    /// Which implementation this is.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// How many members were ever created, removed ones included: member
    /// numbers go from 0 to this.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the cluster has no members (never: [`Cluster::start`]
    /// starts at least one).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The `--initial-cluster-token`, unique per cluster.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Member `index`'s `--name`.
    pub fn name(&self, index: usize) -> &str {
        &self.members[index].name
    }

    /// Member `index`'s client endpoint as etcdctl takes it: `127.0.0.1:<port>`.
    pub fn endpoint(&self, index: usize) -> String {
        self.members[index].endpoint()
    }

    /// Member `index`'s client URL: `http://127.0.0.1:<port>`.
    pub fn client_url(&self, index: usize) -> String {
        self.members[index].client_url()
    }

    /// Member `index`'s peer URL: `http://127.0.0.1:<port>`.
    pub fn peer_url(&self, index: usize) -> String {
        self.members[index].peer_url()
    }

    /// Member `index`'s `--data-dir`.
    pub fn data_dir(&self, index: usize) -> PathBuf {
        self.members[index].data_dir()
    }

    /// Member `index`'s whole log so far.
    pub fn log(&self, index: usize) -> String {
        self.members[index].log()
    }

    /// Whether member `index` was added as a learner and not promoted since.
    pub fn is_learner(&self, index: usize) -> bool {
        self.members[index].learner
    }

    /// Whether member `index` was removed from the cluster.
    pub fn is_removed(&self, index: usize) -> bool {
        self.members[index].removed
    }

    /// Whether member `index`'s process is alive.
    pub fn is_running(&mut self, index: usize) -> bool {
        self.members[index].is_running()
    }

    /// The members in the cluster (started at least once, not removed), by
    /// number.
    pub fn members(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&index| self.members[index].started && !self.members[index].removed)
            .collect()
    }

    /// The members whose process is alive, by number.
    pub fn running(&mut self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&index| !self.members[index].removed && self.members[index].is_running())
            .collect()
    }

    /// Every member's client endpoint, killed ones included (a client is
    /// configured with all of them), comma-separated for etcdctl's
    /// `--endpoints`.
    pub fn endpoints(&self) -> String {
        self.join_endpoints(&self.members())
    }

    /// The client endpoints of `indices`, comma-separated.
    pub fn join_endpoints(&self, indices: &[usize]) -> String {
        indices
            .iter()
            .map(|&index| self.endpoint(index))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// An etcdctl pointed at member `index` alone.
    pub fn etcdctl(&self, index: usize) -> Etcdctl {
        Etcdctl::new(self.endpoint(index))
    }

    /// An etcdctl pointed at every member ([`Cluster::endpoints`]).
    pub fn etcdctl_all(&self) -> Etcdctl {
        Etcdctl::new(self.endpoints())
    }

    /// An etcdctl pointed at the members whose process is alive.
    pub fn etcdctl_running(&mut self) -> Etcdctl {
        let running = self.running();
        Etcdctl::new(self.join_endpoints(&running))
    }

    /// An etcdctl pointed at the running voting members other than
    /// `except`: a learner refuses every request but `endpoint status` and
    /// serializable reads, membership changes included, and clientv3 does
    /// not retry those elsewhere.
    pub fn etcdctl_voting(&mut self, except: Option<usize>) -> Etcdctl {
        let voting: Vec<usize> = self
            .running()
            .into_iter()
            .filter(|&index| !self.members[index].learner && Some(index) != except)
            .collect();
        Etcdctl::new(self.join_endpoints(&voting))
    }

    /// Member `index`'s `endpoint status -w json`, or the failed run.
    pub fn try_status(&mut self, index: usize) -> Result<Status, String> {
        let out = self
            .etcdctl(index)
            .with_timeout(Duration::from_secs(10))
            .try_run(
                &[
                    "--dial-timeout=1s",
                    "--command-timeout=2s",
                    "endpoint",
                    "status",
                    "-w",
                    "json",
                ],
                None,
            )
            .map_err(|error| error.to_string())?;
        if !out.success() {
            return Err(out.to_string());
        }
        let json: Value = serde_json::from_str(&out.stdout)
            .map_err(|error| format!("status is not JSON: {error}\n{out}"))?;
        let status = Status::from_json(&json[0]["Status"]);
        self.members[index].id = Some(status.member_id);
        Ok(status)
    }

    /// Member `index`'s `endpoint status -w json`; panics with the logs if
    /// it fails.
    #[track_caller]
    pub fn status(&mut self, index: usize) -> Status {
        self.try_status(index)
            .unwrap_or_else(|error| self.fail(&format!("status of m{index}: {error}")))
    }

    /// Member `index`'s ID (from `member add` or its status).
    #[track_caller]
    pub fn member_id(&mut self, index: usize) -> u64 {
        match self.members[index].id {
            Some(id) => id,
            None => self.status(index).member_id,
        }
    }

    /// Member `index`'s ID as etcdctl prints it (`%x`).
    #[track_caller]
    pub fn member_id_hex(&mut self, index: usize) -> String {
        format!("{:x}", self.member_id(index))
    }

    /// The number of the leader: the running member whose ID equals the
    /// leader in its own `endpoint status`. Waits up to [`LEADER_TIMEOUT`]
    /// for exactly one such member, then panics with every member's status.
    #[allow(
        clippy::disallowed_methods,
        reason = "test support: a wall-clock deadline on an election"
    )]
    #[track_caller]
    pub fn leader(&mut self) -> usize {
        let deadline = Instant::now() + LEADER_TIMEOUT;
        loop {
            let mut leaders = Vec::new();
            let mut seen = Vec::new();
            for index in self.running() {
                match self.try_status(index) {
                    Ok(status) => {
                        if status.leader == status.member_id && !status.is_learner {
                            leaders.push(index);
                        }
                        seen.push(format!("m{index}: {status:?}"));
                    }
                    Err(error) => seen.push(format!("m{index}: {error}")),
                }
            }
            if let [leader] = leaders[..] {
                return leader;
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "no single leader within {LEADER_TIMEOUT:?} (leaders: {leaders:?})\n{}",
                    seen.join("\n")
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits until member `index` has caught up with the leader: its raft
    /// index and applied index reach the leader's raft index as it was
    /// when the wait began. Panics after [`CATCH_UP_TIMEOUT`].
    #[allow(
        clippy::disallowed_methods,
        reason = "test support: a wall-clock deadline on a catch-up"
    )]
    #[track_caller]
    pub fn wait_caught_up(&mut self, index: usize) {
        let leader = self.leader();
        let target = self.status(leader).raft_index;
        let deadline = Instant::now() + CATCH_UP_TIMEOUT;
        loop {
            let status = self.try_status(index);
            if let Ok(status) = &status {
                if status.raft_index >= target && status.raft_applied_index >= target {
                    return;
                }
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "m{index} did not reach the leader's (m{leader}) raft index {target} \
                     within {CATCH_UP_TIMEOUT:?}: {status:?}"
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Kills member `index` with SIGKILL, as `kill -9` would, and reaps it.
    /// A no-op if it is not running.
    pub fn kill(&mut self, index: usize) {
        self.members[index].kill();
    }

    /// Starts member `index` again on its data dir, flags and ports,
    /// killing it first if it still runs, and waits until it serves.
    #[track_caller]
    pub fn restart(&mut self, index: usize) {
        self.kill(index);
        if let Err(error) = self.spawn(index).and_then(|()| self.wait_serving(index)) {
            self.fail(&error);
        }
    }

    /// Kills every member.
    pub fn stop(&mut self) {
        for member in &mut self.members {
            member.kill();
        }
    }

    /// `etcdctl member add <name> --peer-urls=<new peer URL> [--learner]`
    /// through the running voting members, retried while the cluster answers
    /// [`UNHEALTHY_CLUSTER`]. The new member is recorded with the
    /// `ETCD_INITIAL_CLUSTER` the command printed and
    /// `--initial-cluster-state existing`, not started
    /// ([`Cluster::start_added`]). Panics if the command fails otherwise.
    #[track_caller]
    pub fn member_add(&mut self, name: &str, learner: bool) -> Added {
        let mut member = Member::new(self.flavor, name.to_owned(), "existing");
        member.learner = learner;
        let peer_urls = format!("--peer-urls={}", member.peer_url());
        let mut args = vec!["member", "add", name, &peer_urls];
        if learner {
            args.push("--learner");
        }
        let ctl = self.etcdctl_voting(None);
        let out = Self::reconfigure(&ctl, &args);
        if !out.success() {
            self.fail(&format!("member add failed\n{out}"));
        }
        let id = out
            .stdout
            .lines()
            .next()
            .and_then(|line| line.strip_prefix("Member "))
            // `%16x`: padded with spaces to 16 characters.
            .and_then(|rest| rest.trim_start().split_once(' '))
            .map_or_else(
                || self.fail(&format!("no member ID in\n{out}")),
                |(id, _)| id.to_owned(),
            );
        member.id = u64::from_str_radix(&id, 16).ok();
        member.initial_cluster = out
            .stdout
            .lines()
            .find_map(|line| line.strip_prefix("ETCD_INITIAL_CLUSTER="))
            .map_or_else(
                || self.fail(&format!("no ETCD_INITIAL_CLUSTER in\n{out}")),
                |value| value.trim_matches('"').to_owned(),
            );
        self.members.push(member);
        Added {
            index: self.members.len() - 1,
            id,
            output: out,
        }
    }

    /// Starts a member recorded by [`Cluster::member_add`] and waits until
    /// it serves (a learner: until its status names a leader, since it
    /// refuses the linearizable read of `endpoint health`).
    #[track_caller]
    pub fn start_added(&mut self, index: usize) {
        assert!(
            !self.members[index].started,
            "m{index} has been started already: restart() it"
        );
        if let Err(error) = self.spawn(index).and_then(|()| self.wait_serving(index)) {
            self.fail(&error);
        }
    }

    /// [`Cluster::member_add`] a voting member and [`Cluster::start_added`] it.
    #[track_caller]
    pub fn add_member(&mut self, name: &str) -> Added {
        let added = self.member_add(name, false);
        self.start_added(added.index);
        added
    }

    /// `etcdctl member remove <id of index>` through the other running
    /// voting members, retried while the cluster answers [`UNHEALTHY_CLUSTER`]
    /// (etcd removes a member only if enough of the rest have been
    /// connected for 5 s). On success the member is marked removed and killed (etcd
    /// exits by itself once it learns it was removed). Returns the run.
    #[track_caller]
    pub fn remove_member(&mut self, index: usize) -> Output {
        let id = self.member_id_hex(index);
        let ctl = self.etcdctl_voting(Some(index));
        let out = Self::reconfigure(&ctl, &["member", "remove", &id]);
        if out.success() {
            self.members[index].removed = true;
            self.members[index].kill();
        }
        out
    }

    /// Runs a membership change (`member add`, `member remove`) through
    /// `ctl`, again every 500 ms while the cluster answers
    /// [`UNHEALTHY_CLUSTER`], for up to [`RECONFIGURE_TIMEOUT`]; returns
    /// the last run.
    #[allow(
        clippy::disallowed_methods,
        reason = "test support: a wall-clock deadline on a reconfiguration"
    )]
    fn reconfigure(ctl: &Etcdctl, args: &[&str]) -> Output {
        let deadline = Instant::now() + RECONFIGURE_TIMEOUT;
        loop {
            let out = ctl.run(args);
            if out.success()
                || out.error_message() != Some(UNHEALTHY_CLUSTER)
                || Instant::now() >= deadline
            {
                return out;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// `etcdctl member promote <id of index>` through the running voting
    /// members,
    /// retried while the cluster answers [`LEARNER_NOT_READY`], up to
    /// [`RECONFIGURE_TIMEOUT`]. Returns the last run; on success the
    /// member counts as a voting member from then on.
    #[allow(
        clippy::disallowed_methods,
        reason = "test support: a wall-clock deadline on a reconfiguration"
    )]
    #[track_caller]
    pub fn promote(&mut self, index: usize) -> Output {
        let id = self.member_id_hex(index);
        let deadline = Instant::now() + RECONFIGURE_TIMEOUT;
        loop {
            let out = self
                .etcdctl_voting(Some(index))
                .run(&["member", "promote", &id]);
            if out.success() {
                self.members[index].learner = false;
                return out;
            }
            if out.error_message() != Some(LEARNER_NOT_READY) || Instant::now() >= deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Member `index`'s command line.
    pub fn args(&self, index: usize) -> Vec<String> {
        let member = &self.members[index];
        let mut args = vec![
            format!("--name={}", member.name),
            format!("--data-dir={}", member.data_dir().display()),
            format!("--listen-client-urls={}", member.client_url()),
            format!("--advertise-client-urls={}", member.client_url()),
            format!("--listen-peer-urls={}", member.peer_url()),
            format!("--initial-advertise-peer-urls={}", member.peer_url()),
            format!("--initial-cluster={}", member.initial_cluster),
            format!("--initial-cluster-state={}", member.initial_state),
            format!("--initial-cluster-token={}", self.token),
        ];
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// Starts member `index`'s process, its output appended to its log.
    #[allow(
        clippy::disallowed_methods,
        reason = "test support: a member's log file"
    )]
    fn spawn(&mut self, index: usize) -> Result<(), String> {
        let args = self.args(index);
        let binary = self.flavor.binary();
        let member = &mut self.members[index];
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(member.log_path())
            .map_err(|error| format!("opening {}: {error}", member.log_path().display()))?;
        member.log_offset = member.log().len();
        let log_for_stderr = log.try_clone().map_err(|error| error.to_string())?;
        let mut command = Command::new(&binary);
        // The caller's ETCD_* settings (and the harness's own ETCD_BIN)
        // must not reach the members: both flavors read them as flags.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ETCD_") {
                command.env_remove(key);
            }
        }
        let child = command
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .spawn()
            .map_err(|error| format!("spawning {}: {error}", binary.display()))?;
        member.child = Some(child);
        member.started = true;
        Ok(())
    }

    /// Waits until member `index` serves: `endpoint health` succeeds on it
    /// (a learner: its `endpoint status` names a leader).
    #[allow(
        clippy::disallowed_methods,
        reason = "test support: a wall-clock start timeout"
    )]
    fn wait_serving(&mut self, index: usize) -> Result<(), String> {
        let probe = self.etcdctl(index).with_timeout(Duration::from_secs(10));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if !self.members[index].is_running() {
                self.members[index].kill();
                return Err(format!("{} m{index} exited before serving", self.flavor));
            }
            let serving = if self.members[index].learner {
                self.try_status(index)
                    .is_ok_and(|status| status.leader != 0)
            } else {
                probe
                    .try_run(
                        &[
                            "--dial-timeout=1s",
                            "--command-timeout=2s",
                            "endpoint",
                            "health",
                        ],
                        None,
                    )
                    .is_ok_and(|output| output.success())
            };
            if serving {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} m{index} did not serve within {START_TIMEOUT:?}",
                    self.flavor
                ));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Every member's command line and log tail, for failure messages.
    fn logs(&self) -> String {
        let binary = self.flavor.binary();
        (0..self.members.len())
            .map(|index| {
                let member = &self.members[index];
                format!(
                    "--- {} m{index} ({}{}) ---\ncommand: {} {}\n--- {} (tail) ---\n{}",
                    self.flavor,
                    member.endpoint(),
                    if member.removed { ", removed" } else { "" },
                    binary.display(),
                    self.args(index).join(" "),
                    member.log_path().display(),
                    member.log_tail()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Panics with `error` and every member's log tail.
    #[track_caller]
    pub fn fail(&mut self, error: &str) -> ! {
        self.logs_shown = true;
        panic!("{error}\n{}", self.logs())
    }
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("flavor", &self.flavor)
            .field("token", &self.token)
            .field("endpoints", &self.endpoints())
            .finish_non_exhaustive()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() && !self.logs_shown {
            eprintln!(
                "--- {} cluster logs of the failed test ---\n{}",
                self.flavor,
                self.logs()
            );
        }
    }
}
