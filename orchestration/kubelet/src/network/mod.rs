//! Pod networking: a network namespace per pod, a veth into the node's
//! bridge, an address from the node's `spec.podCIDR`.
//!
//! ```text
//!   kubelet's network namespace (the machine's, or a "machine" of its own)
//!     keel0 (bridge, 10.244.0.1/24, forwarding off: no route off the node)
//!       ├── kv1a2b3c4d ══ veth ══ eth0 10.244.0.2/24 ┐ /run/netns/<prefix><uid>-<hash>
//!       │                         lo up              │ default via 10.244.0.1
//!       └── kv5e6f7a8b ══ veth ══ eth0 10.244.0.3/24 ┘
//!   state dir: <uid>.json per pod (namespace, veth, ip), so that a restarted
//!   kubelet finds its pods' addresses again
//! ```
//!
//! - [`cidr`]: the pod range and the choice of the lowest free address
//!   (pure).
//! - [`state`]: the per-pod records on disk.
//! - `ip`: iproute2's `ip`, which does the plumbing.
//!
//! Every `ip` command runs in the kubelet's own network namespace, so a
//! kubelet started inside a namespace of its own (a second "machine")
//! gets its bridge and its pods' host-side veths there. `ip netns` names
//! are global to the machine, hence the namespace prefix.
//!
//! Lock order: `pod_locks` (briefly, to find a pod's lock), then a pod's
//! lock (held across its plumbing), then `records` (briefly, never across
//! an await).

pub mod cidr;
mod ip;
pub mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use self::cidr::{CidrError, PodCidr};
use self::state::PodRecord;

/// Where `ip netns add` puts its namespaces.
pub const NETNS_DIR: &str = "/run/netns";
/// The pod's end of its veth pair, inside its namespace.
pub const POD_INTERFACE: &str = "eth0";
/// The longest Linux interface name (IFNAMSIZ less its NUL).
pub const INTERFACE_NAME_LEN_MAX: usize = 15;
/// How much of a pod uid a namespace name shows (a UUID's first group).
const NAMESPACE_UID_CHARS: usize = 8;
/// The longest namespace prefix: leaves room for the uid part in a file
/// name.
const NAMESPACE_PREFIX_LEN_MAX: usize = 64;
/// The longest pod uid accepted (a Kubernetes name's limit; a UUID is 36).
const POD_UID_LEN_MAX: usize = 253;

/// How a node's pod network is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkOptions {
    /// The bridge's name (`keel0`): at most 15 characters.
    pub bridge: String,
    /// The node's `spec.podCIDR` (`10.244.0.0/24`), IPv4.
    pub pod_cidr: String,
    /// Where each pod's address is recorded; survives kubelet restarts.
    pub state_dir: PathBuf,
    /// Network namespaces are named `<prefix><short pod uid>`, so that
    /// several kubelets (or tests) on one machine do not clash.
    pub namespace_prefix: String,
}

/// A pod's place on the node network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetwork {
    /// Its network namespace (`/run/netns/<name>`), for the runtime to
    /// join.
    pub namespace: PathBuf,
    /// Its address (the pod's `status.podIP`).
    pub ip: Ipv4Addr,
    /// Its default gateway: the bridge's address, the node's on the pod
    /// network.
    pub gateway: Ipv4Addr,
}

/// Why the node network could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The pod CIDR was refused.
    #[error("pod CIDR {cidr:?}: {reason}")]
    InvalidCidr {
        /// The text given.
        cidr: String,
        /// Why it was refused.
        reason: CidrError,
    },
    /// An option or a pod uid cannot be used as a name.
    #[error("{what} {value:?}: {reason}")]
    InvalidName {
        /// What it names (`bridge name`, `pod uid`, ...).
        what: &'static str,
        /// The text given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// Every address of the pod range is in use.
    #[error("no free pod address left in {cidr}: all {capacity} are in use")]
    AddressesExhausted {
        /// The pod range.
        cidr: String,
        /// How many pods it holds.
        capacity: u32,
    },
    /// An `ip` command failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it wrote to stderr.
        stderr: String,
    },
    /// A file operation, or starting `ip`, failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The state directory holds something this code did not write.
    #[error("network state {path}: {reason}")]
    CorruptState {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// The pod network of one node: its bridge, and the pods attached to it.
#[derive(Debug)]
pub struct NodeNetwork {
    bridge: String,
    cidr: PodCidr,
    state_dir: PathBuf,
    namespace_prefix: String,
    /// The state directory's records by pod uid: read at start, then
    /// written through.
    records: Mutex<BTreeMap<String, PodRecord>>,
    /// One lock per pod being attached or detached, so that two calls for
    /// one pod never plumb at once while different pods proceed in
    /// parallel.
    pod_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl NodeNetwork {
    /// Checks `options` and reads what the state directory records
    /// (creating it if missing). Touches no interface.
    pub fn new(options: NetworkOptions) -> Result<Self, NetworkError> {
        let cidr =
            PodCidr::parse(&options.pod_cidr).map_err(|reason| NetworkError::InvalidCidr {
                cidr: options.pod_cidr.clone(),
                reason,
            })?;
        check_interface_name("bridge name", &options.bridge)?;
        check_name(
            "namespace prefix",
            &options.namespace_prefix,
            NAMESPACE_PREFIX_LEN_MAX,
        )?;
        let records = state::load_all(&options.state_dir)?;
        let records = check_records(&options.state_dir, cidr, records)?;
        Ok(Self {
            bridge: options.bridge,
            cidr,
            state_dir: options.state_dir,
            namespace_prefix: options.namespace_prefix,
            records: Mutex::new(records),
            pod_locks: Mutex::new(HashMap::new()),
        })
    }

    /// The bridge's name.
    pub fn bridge(&self) -> &str {
        &self.bridge
    }

    /// The pods' gateway: the bridge's address.
    pub fn gateway(&self) -> Ipv4Addr {
        self.cidr.gateway()
    }

    /// Creates the bridge if missing, gives it the gateway address, sets
    /// it up, and turns IPv4 forwarding off for what arrives on it (pods
    /// reach the node and each other, never beyond). Idempotent. A later
    /// write to `net.ipv4.ip_forward` or `conf/all/forwarding` (a Docker
    /// daemon starting, say) turns forwarding on for every interface
    /// again; calling this again turns it off.
    pub async fn ensure_bridge(&self) -> Result<(), NetworkError> {
        if !ip::link_exists(None, &self.bridge).await? {
            // A MAC address of its own: a bridge without one takes the
            // lowest of its ports', which changes as pods come and go and
            // leaves stale gateway entries in the pods' ARP caches.
            let mac = bridge_mac(&self.bridge, self.cidr);
            // A concurrent call may have made it meanwhile: that is fine.
            ip::run_unless_gone(
                &[
                    "link",
                    "add",
                    "name",
                    &self.bridge,
                    "address",
                    &mac,
                    "type",
                    "bridge",
                ],
                &["File exists"],
            )
            .await?;
        }
        let address = format!("{}/{}", self.cidr.gateway(), self.cidr.prefix_len());
        ip::run(&["addr", "replace", &address, "dev", &self.bridge]).await?;
        ip::run(&["link", "set", &self.bridge, "up"]).await?;
        // Per-interface forwarding: packets that pods send through the
        // bridge are not routed on, even where the machine forwards.
        let forwarding = format!("/proc/sys/net/ipv4/conf/{}/forwarding", self.bridge);
        tokio::fs::write(&forwarding, b"0")
            .await
            .map_err(|source| NetworkError::Io {
                what: format!("write 0 to {forwarding}"),
                source,
            })
    }

    /// Gives the pod `pod_uid` its network namespace, veth and address
    /// (the lowest free one), recording the address first; the bridge
    /// must be there ([`NodeNetwork::ensure_bridge`]). Idempotent: a
    /// second call, also from a restarted kubelet, answers the same
    /// namespace and address and repairs what is missing. When the
    /// plumbing fails the address stays recorded for the pod; a retry
    /// reuses it and [`NodeNetwork::detach`] frees it.
    pub async fn attach(&self, pod_uid: &str) -> Result<PodNetwork, NetworkError> {
        check_name("pod uid", pod_uid, POD_UID_LEN_MAX)?;
        let pod_lock = self.pod_lock(pod_uid);
        let _plumbing = pod_lock.lock().await;
        let (record, is_new) = self.reserve(pod_uid)?;
        assert_eq!(record.uid, pod_uid, "a pod's record is its own");
        assert!(
            self.cidr.holds_pod_address(record.ip),
            "a pod's address is in the range"
        );
        if is_new {
            if let Err(error) = state::save(&self.state_dir, &record).await {
                self.lock_records().remove(pod_uid);
                return Err(error);
            }
        }
        self.plumb(&record).await?;
        Ok(self.pod_network(&record))
    }

    /// Removes the pod's network namespace and veth, and frees its
    /// address. Idempotent: detaching a pod not attached is Ok.
    pub async fn detach(&self, pod_uid: &str) -> Result<(), NetworkError> {
        check_name("pod uid", pod_uid, POD_UID_LEN_MAX)?;
        let pod_lock = self.pod_lock(pod_uid);
        {
            let _plumbing = pod_lock.lock().await;
            let record = self.lock_records().get(pod_uid).cloned();
            if let Some(record) = record {
                unplumb(&record).await?;
                state::remove(&self.state_dir, pod_uid).await?;
                self.lock_records().remove(pod_uid);
            }
        }
        self.forget_pod_lock(pod_uid, &pod_lock);
        Ok(())
    }

    /// The pods attached, by uid, as the state directory records them.
    pub fn attached(&self) -> Vec<(String, PodNetwork)> {
        self.lock_records()
            .values()
            .map(|record| (record.uid.clone(), self.pod_network(record)))
            .collect()
    }

    /// Detaches every pod, then deletes the bridge: for tests and a clean
    /// stop of `keel up`. Goes on past failures and answers the first.
    pub async fn teardown_all(&self) -> Result<(), NetworkError> {
        let uids: Vec<String> = self.lock_records().keys().cloned().collect();
        let mut first_error = None;
        for uid in uids {
            if let Err(error) = self.detach(&uid).await {
                first_error.get_or_insert(error);
            }
        }
        let deleted = ip::run_unless_gone(
            &["link", "del", &self.bridge],
            &["Cannot find device", "does not exist"],
        )
        .await;
        if let Err(error) = deleted {
            first_error.get_or_insert(error);
        }
        first_error.map_or(Ok(()), Err)
    }

    /// The pod's record: the one on file, or a new one with the lowest
    /// free address (`true`), entered before the lock is let go so that
    /// no other attach takes the same address.
    fn reserve(&self, pod_uid: &str) -> Result<(PodRecord, bool), NetworkError> {
        let mut records = self.lock_records();
        if let Some(record) = records.get(pod_uid) {
            return Ok((record.clone(), false));
        }
        let used: BTreeSet<Ipv4Addr> = records.values().map(|record| record.ip).collect();
        let ip = self
            .cidr
            .lowest_free(&used)
            .ok_or_else(|| NetworkError::AddressesExhausted {
                cidr: self.cidr.to_string(),
                capacity: self.cidr.pod_capacity(),
            })?;
        let names = PodNames::new(&self.namespace_prefix, pod_uid);
        if let Some(other) = records.values().find(|record| record.veth == names.veth) {
            // Two uids whose 32-bit hashes collide: refuse rather than
            // share a veth.
            return Err(NetworkError::InvalidName {
                what: "pod uid",
                value: pod_uid.to_owned(),
                reason: format!("its veth name {} is pod {}'s", names.veth, other.uid),
            });
        }
        let record = PodRecord {
            uid: pod_uid.to_owned(),
            namespace: names.namespace,
            veth: names.veth,
            ip,
        };
        records.insert(pod_uid.to_owned(), record.clone());
        Ok((record, true))
    }

    /// Makes the pod's namespace, veth, addresses and routes what the
    /// record says, creating only what is missing.
    async fn plumb(&self, record: &PodRecord) -> Result<(), NetworkError> {
        let namespace = record.namespace.as_str();
        if !namespace_usable(namespace).await? {
            // A file left without its mount (its mount namespace gone)
            // would make `ip netns add` fail: clear it first.
            let path = Path::new(NETNS_DIR).join(namespace);
            if tokio::fs::try_exists(&path).await.unwrap_or(true) {
                ip::run_unless_gone(&["netns", "del", namespace], &["No such file"]).await?;
            }
            ip::run(&["netns", "add", namespace]).await?;
        }
        let pod_end = ip::link_exists(Some(namespace), POD_INTERFACE).await?;
        let host_end = ip::link_exists(None, &record.veth).await?;
        if !(pod_end && host_end) {
            if host_end {
                ip::run(&["link", "del", &record.veth]).await?;
            }
            if pod_end {
                ip::run(&["-n", namespace, "link", "del", POD_INTERFACE]).await?;
            }
            // Made with its pod end inside the namespace, named eth0
            // there at once (no clash with the host's own eth0).
            ip::run(&[
                "link",
                "add",
                &record.veth,
                "type",
                "veth",
                "peer",
                "name",
                POD_INTERFACE,
                "netns",
                namespace,
            ])
            .await?;
        }
        ip::run(&["link", "set", &record.veth, "master", &self.bridge, "up"]).await?;
        let address = format!("{}/{}", record.ip, self.cidr.prefix_len());
        let gateway = self.cidr.gateway();
        ip::run_batch_in(
            namespace,
            &[
                "link set lo up".to_owned(),
                format!("addr replace {address} dev {POD_INTERFACE}"),
                format!("link set {POD_INTERFACE} up"),
                format!("route replace default via {gateway} dev {POD_INTERFACE}"),
            ],
        )
        .await
    }

    fn pod_network(&self, record: &PodRecord) -> PodNetwork {
        PodNetwork {
            namespace: Path::new(NETNS_DIR).join(&record.namespace),
            ip: record.ip,
            gateway: self.cidr.gateway(),
        }
    }

    fn lock_records(&self) -> MutexGuard<'_, BTreeMap<String, PodRecord>> {
        // A panic while holding it is a bug that already failed loudly;
        // the map itself stays consistent (every change is one call).
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn pod_lock(&self, pod_uid: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .pod_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(locks.entry(pod_uid.to_owned()).or_default())
    }

    /// Drops the pod's lock from the map unless another call holds it
    /// too, so that the map holds only pods in use.
    fn forget_pod_lock(&self, pod_uid: &str, pod_lock: &Arc<tokio::sync::Mutex<()>>) {
        let mut locks = self
            .pod_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Ours and the map's: nobody else waits on it.
        if Arc::strong_count(pod_lock) == 2 {
            locks.remove(pod_uid);
        }
    }
}

/// Deletes the pod's veth (both ends; the kernel frees a deleted
/// namespace's interfaces only later), then its namespace.
async fn unplumb(record: &PodRecord) -> Result<(), NetworkError> {
    ip::run_unless_gone(
        &["link", "del", &record.veth],
        &["Cannot find device", "does not exist"],
    )
    .await?;
    ip::run_unless_gone(&["netns", "del", &record.namespace], &["No such file"]).await
}

/// Whether `ip -n <namespace>` can enter the namespace.
async fn namespace_usable(namespace: &str) -> Result<bool, NetworkError> {
    match ip::run(&["-n", namespace, "link", "show", "lo"]).await {
        Ok(_) => Ok(true),
        Err(NetworkError::Command { .. }) => Ok(false),
        Err(error) => Err(error),
    }
}

/// A pod's names on the node: its namespace and the host end of its veth.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PodNames {
    namespace: String,
    veth: String,
}

impl PodNames {
    /// `<prefix><first 8 of uid>-<hash>` and `kv<hash>`, the hash being
    /// 8 hex digits of SHA-256 over prefix and uid: stable across
    /// restarts, distinct between kubelets with different prefixes.
    fn new(prefix: &str, pod_uid: &str) -> Self {
        let digest = Sha256::new()
            .chain_update(prefix.as_bytes())
            .chain_update([0])
            .chain_update(pod_uid.as_bytes())
            .finalize();
        let hash = format!(
            "{:08x}",
            u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
        );
        let short_uid: String = pod_uid.chars().take(NAMESPACE_UID_CHARS).collect();
        let veth = format!("kv{hash}");
        debug_assert!(veth.len() <= INTERFACE_NAME_LEN_MAX);
        Self {
            namespace: format!("{prefix}{short_uid}-{hash}"),
            veth,
        }
    }
}

/// A locally administered unicast MAC address for the bridge, stable for
/// a bridge name and range: `02:` and 5 bytes of SHA-256 over both.
fn bridge_mac(bridge: &str, cidr: PodCidr) -> String {
    let digest = Sha256::new()
        .chain_update(bridge.as_bytes())
        .chain_update([0])
        .chain_update(cidr.to_string().as_bytes())
        .finalize();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        digest[0], digest[1], digest[2], digest[3], digest[4]
    )
}

/// Checks the records read at start against the range they were made in.
fn check_records(
    dir: &Path,
    cidr: PodCidr,
    records: Vec<PodRecord>,
) -> Result<BTreeMap<String, PodRecord>, NetworkError> {
    let mut by_uid = BTreeMap::new();
    let mut used = BTreeSet::new();
    for record in records {
        let path = dir.join(format!("{}.json", record.uid));
        if !cidr.holds_pod_address(record.ip) {
            return Err(NetworkError::CorruptState {
                path,
                reason: format!("address {} is not a pod address of {cidr}", record.ip),
            });
        }
        if !used.insert(record.ip) {
            return Err(NetworkError::CorruptState {
                path,
                reason: format!("address {} is recorded for two pods", record.ip),
            });
        }
        by_uid.insert(record.uid.clone(), record);
    }
    Ok(by_uid)
}

/// A name that goes into file names and `ip` arguments: 1 to `len_max`
/// of ASCII letters, digits, `-`, `_` and `.`, not starting with `.` or
/// `-`.
fn check_name(what: &'static str, value: &str, len_max: usize) -> Result<(), NetworkError> {
    let refuse = |reason: String| NetworkError::InvalidName {
        what,
        value: value.to_owned(),
        reason,
    };
    if value.is_empty() || value.len() > len_max {
        return Err(refuse(format!("must be 1 to {len_max} characters")));
    }
    if value.starts_with(['.', '-']) {
        return Err(refuse("must not start with '.' or '-'".to_owned()));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(refuse(format!(
            "{bad:?} is not allowed (letters, digits, '-', '_', '.')"
        )));
    }
    Ok(())
}

fn check_interface_name(what: &'static str, value: &str) -> Result<(), NetworkError> {
    check_name(what, value, INTERFACE_NAME_LEN_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_names_are_stable_short_and_differ_by_prefix() {
        let uid = "6f1c2a3b-0000-4000-8000-000000000001";
        let names = PodNames::new("keel-", uid);
        assert_eq!(names, PodNames::new("keel-", uid));
        assert!(names.veth.starts_with("kv"));
        assert_eq!(names.veth.len(), 10);
        assert!(names.namespace.starts_with("keel-6f1c2a3b-"));
        assert_eq!(
            names.namespace,
            format!("keel-6f1c2a3b-{}", &names.veth[2..])
        );
        let other = PodNames::new("node2-", uid);
        assert_ne!(names.veth, other.veth);
        assert_ne!(names.namespace, other.namespace);
    }

    #[test]
    fn the_bridge_mac_is_local_unicast_and_stable() {
        let cidr = PodCidr::parse("10.244.0.0/24").unwrap();
        let mac = bridge_mac("keel0", cidr);
        assert_eq!(mac, bridge_mac("keel0", cidr));
        assert_eq!(mac.len(), 17);
        assert!(mac.starts_with("02:"));
        assert_ne!(mac, bridge_mac("keel1", cidr));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("pod uid", "abc-123_x.y", 253).is_ok());
        for bad in ["", ".hidden", "-flag", "a/b", "a b", "ü"] {
            assert!(check_name("pod uid", bad, 253).is_err(), "{bad:?}");
        }
        assert!(check_interface_name("bridge name", "keel0").is_ok());
        let error = check_interface_name("bridge name", "a-bridge-name-too-long").unwrap_err();
        assert_eq!(
            error.to_string(),
            "bridge name \"a-bridge-name-too-long\": must be 1 to 15 characters"
        );
    }

    #[test]
    fn records_outside_the_range_or_sharing_an_address_are_refused() {
        let cidr = PodCidr::parse("10.9.0.0/24").unwrap();
        let record = |uid: &str, last: u8| PodRecord {
            uid: uid.to_owned(),
            namespace: format!("t{uid}"),
            veth: format!("kv{uid}"),
            ip: Ipv4Addr::new(10, 9, 0, last),
        };
        let dir = Path::new("/nowhere");
        assert!(check_records(dir, cidr, vec![record("a", 2), record("b", 3)]).is_ok());
        assert!(check_records(dir, cidr, vec![record("a", 2), record("b", 2)]).is_err());
        assert!(check_records(dir, cidr, vec![record("a", 1)]).is_err());
    }
}
