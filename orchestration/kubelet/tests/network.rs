//! The node network against the real kernel: bridges, network namespaces,
//! veths, pings and a TCP connection (root only, as the kubelet is).
//!
//! Every test uses its own bridge, namespace prefix and 10.123.<n>.0/24,
//! and a [`Cleanup`] guard that removes by name whatever the test may
//! have made, also when it fails.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command as StdCommand;
use std::time::Duration;

use keel_kubelet::network::{NetworkError, NetworkOptions, NodeNetwork, PodNetwork};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

const BUSYBOX: &str = "/usr/bin/busybox";
/// Set in the child process of `works_inside_a_network_namespace_of_its_own`:
/// the parent's bridge name, and its network namespace (`net:[inode]`).
const CHILD_ENV: &str = "KEEL_NETWORK_TEST_MACHINE";
const PARENT_NETNS_ENV: &str = "KEEL_NETWORK_TEST_PARENT_NETNS";

/// Names unique to one test of one test process: `kt<pid><tag>`.
struct Names {
    bridge: String,
    prefix: String,
    cidr: String,
}

impl Names {
    fn new(tag: u8) -> Self {
        let pid = std::process::id() % 100_000;
        let bridge = format!("kt{pid}t{tag}");
        assert!(bridge.len() <= 15);
        Self {
            prefix: format!("{bridge}-"),
            cidr: format!("10.123.{tag}.0/24"),
            bridge,
        }
    }
}

/// Removes, by name, every namespace with the test's prefix, every link
/// on its bridge, and the bridge: whatever the code under test did or
/// failed to do.
struct Cleanup {
    bridge: String,
    prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let links = ip_output(&["-o", "link", "show", "master", &self.bridge]);
        for line in links.lines() {
            // "7: kv1a2b3c4d@if2: <...> ..."
            if let Some(name) = line.split(": ").nth(1) {
                let name = name.split('@').next().unwrap_or(name);
                ip_output(&["link", "del", name]);
            }
        }
        if let Ok(entries) = Path::new("/run/netns").read_dir() {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(&self.prefix) {
                    ip_output(&["netns", "del", &name]);
                }
            }
        }
        ip_output(&["link", "del", &self.bridge]);
    }
}

/// Deletes a network namespace made by a test itself.
struct NamespaceGuard(String);

impl NamespaceGuard {
    fn add(name: String) -> Self {
        assert!(ip_succeeds(&["netns", "add", &name]), "ip netns add {name}");
        Self(name)
    }
}

impl Drop for NamespaceGuard {
    fn drop(&mut self) {
        ip_output(&["netns", "del", &self.0]);
    }
}

/// Runs `ip <args>` and answers its stdout, whatever its exit status.
fn ip_output(args: &[&str]) -> String {
    let output = StdCommand::new("ip").args(args).output().expect("ip runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn ip_succeeds(args: &[&str]) -> bool {
    StdCommand::new("ip")
        .args(args)
        .output()
        .expect("ip runs")
        .status
        .success()
}

struct Fixture {
    network: NodeNetwork,
    names: Names,
    state_dir: tempfile::TempDir,
    // Last: dropped after the network.
    _cleanup: Cleanup,
}

impl Fixture {
    fn new(tag: u8) -> Self {
        Self::with_names(Names::new(tag))
    }

    fn with_names(names: Names) -> Self {
        let cleanup = Cleanup {
            bridge: names.bridge.clone(),
            prefix: names.prefix.clone(),
        };
        let state_dir = tempfile::tempdir().unwrap();
        let network = NodeNetwork::new(options(&names, state_dir.path())).unwrap();
        Self {
            network,
            names,
            state_dir,
            _cleanup: cleanup,
        }
    }

    /// A second NodeNetwork over the same state: a restarted kubelet.
    fn reopen(&self) -> NodeNetwork {
        NodeNetwork::new(options(&self.names, self.state_dir.path())).unwrap()
    }
}

fn options(names: &Names, state_dir: &Path) -> NetworkOptions {
    NetworkOptions {
        bridge: names.bridge.clone(),
        pod_cidr: names.cidr.clone(),
        state_dir: state_dir.to_owned(),
        namespace_prefix: names.prefix.clone(),
    }
}

fn ip(last: u8, tag: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 123, tag, last)
}

fn namespace_name(pod: &PodNetwork) -> String {
    pod.namespace
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Whether one ping from the pod's namespace to `to` is answered; tries
/// three times, so a first ARP exchange cannot make it flaky.
async fn pings(pod: &PodNetwork, to: Ipv4Addr) -> bool {
    for _ in 0..3 {
        let status = Command::new("ip")
            .args(["netns", "exec", &namespace_name(pod), BUSYBOX, "ping"])
            .args(["-c1", "-W1", &to.to_string()])
            .output()
            .await
            .unwrap()
            .status;
        if status.success() {
            return true;
        }
    }
    false
}

/// Whether a single ping from the pod's namespace to `to` is answered
/// within a second: for addresses that must not answer.
async fn pings_once(pod: &PodNetwork, to: Ipv4Addr) -> bool {
    Command::new("ip")
        .args(["netns", "exec", &namespace_name(pod), BUSYBOX, "ping"])
        .args(["-c1", "-W1", &to.to_string()])
        .output()
        .await
        .unwrap()
        .status
        .success()
}

/// From inside the pod, connects to a TCP server listening on `to` in
/// the test's own namespace, sends a line and reads the answer.
async fn talks_tcp(pod: &PodNetwork, to: Ipv4Addr) -> String {
    let listener = tokio::net::TcpListener::bind((to, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut stream, peer) = listener.accept().await.unwrap();
        let mut line = [0_u8; 6];
        stream.read_exact(&mut line).await.unwrap();
        assert_eq!(&line, b"hello\n");
        stream
            .write_all(format!("hi {}\n", peer.ip()).as_bytes())
            .await
            .unwrap();
        // Dropping the stream closes it, which ends the client.
    });
    let mut client = Command::new("ip")
        .args([
            "netns",
            "exec",
            &namespace_name(pod),
            BUSYBOX,
            "nc",
            "-w",
            "3",
        ])
        .args([to.to_string(), port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = client.stdin.take().unwrap();
    stdin.write_all(b"hello\n").await.unwrap();
    let output = tokio::time::timeout(Duration::from_secs(10), client.wait_with_output())
        .await
        .expect("the client ends within 10 s")
        .unwrap();
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server ends within 10 s")
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// What `ip -n <pod's namespace> <args>` prints.
fn ip_in(pod: &PodNetwork, args: &[&str]) -> String {
    let name = namespace_name(pod);
    let mut all = vec!["-n", name.as_str()];
    all.extend(args);
    ip_output(&all)
}

async fn two_pods_reach_each_other_and_the_node(fixture: &Fixture, tag: u8) {
    let network = &fixture.network;
    network.ensure_bridge().await.unwrap();
    network.ensure_bridge().await.unwrap(); // idempotent
    let a = network.attach("pod-a").await.unwrap();
    let b = network.attach("pod-b").await.unwrap();
    assert_eq!(a.ip, ip(2, tag));
    assert_eq!(b.ip, ip(3, tag));
    assert_eq!(a.gateway, ip(1, tag));
    assert_eq!(b.gateway, ip(1, tag));
    assert!(a.namespace.exists(), "{}", a.namespace.display());
    assert!(namespace_name(&a).starts_with(&fixture.names.prefix));
    assert_ne!(a.namespace, b.namespace);

    let bridge = ip_output(&["-o", "-4", "addr", "show", "dev", &fixture.names.bridge]);
    assert!(
        bridge.contains(&format!("inet {}/24", ip(1, tag))),
        "{bridge}"
    );
    let eth0 = ip_in(&a, &["-o", "-4", "addr", "show", "dev", "eth0"]);
    assert!(eth0.contains(&format!("inet {}/24", ip(2, tag))), "{eth0}");
    let lo = ip_in(&a, &["-o", "link", "show", "lo"]);
    assert!(lo.contains("UP,LOWER_UP"), "{lo}");
    let routes = ip_in(&a, &["-4", "route", "show", "default"]);
    assert!(
        routes.contains(&format!("default via {} dev eth0", ip(1, tag))),
        "{routes}"
    );
    let forwarding = std::fs::read_to_string(format!(
        "/proc/sys/net/ipv4/conf/{}/forwarding",
        fixture.names.bridge
    ))
    .unwrap();
    assert_eq!(forwarding.trim(), "0", "pods get no route off the node");

    assert!(pings(&a, b.ip).await, "a pings b");
    assert!(pings(&b, a.ip).await, "b pings a");
    assert!(pings(&a, a.gateway).await, "a pings the node");
    assert!(pings(&b, b.gateway).await, "b pings the node");
    assert_eq!(
        talks_tcp(&a, a.gateway).await,
        format!("hi {}\n", a.ip),
        "a reaches a TCP server on the node, which sees a's address"
    );

    network.teardown_all().await.unwrap();
    assert!(!a.namespace.exists());
    assert!(!b.namespace.exists());
    assert!(!ip_succeeds(&[
        "link",
        "show",
        "dev",
        &fixture.names.bridge
    ]));
    assert!(network.attached().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_reach_each_other_and_the_node() {
    let tag = 1;
    let fixture = Fixture::new(tag);
    two_pods_reach_each_other_and_the_node(&fixture, tag).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_is_idempotent_and_detach_frees_the_address() {
    let tag = 2;
    let fixture = Fixture::new(tag);
    let network = &fixture.network;
    network.ensure_bridge().await.unwrap();
    let a = network.attach("pod-a").await.unwrap();
    assert_eq!(network.attach("pod-a").await.unwrap(), a);
    let b = network.attach("pod-b").await.unwrap();
    assert_eq!((a.ip, b.ip), (ip(2, tag), ip(3, tag)));
    let a_veths = ip_output(&["-o", "link", "show", "master", &fixture.names.bridge]);
    assert_eq!(a_veths.lines().count(), 2, "one veth per pod: {a_veths}");

    network.detach("pod-a").await.unwrap();
    assert!(!a.namespace.exists(), "the namespace is gone");
    let veths = ip_output(&["-o", "link", "show", "master", &fixture.names.bridge]);
    assert_eq!(veths.lines().count(), 1, "a's veth is gone: {veths}");
    network.detach("pod-a").await.unwrap();
    network.detach("never-attached").await.unwrap();
    let uids: Vec<String> = network.attached().into_iter().map(|(uid, _)| uid).collect();
    assert_eq!(uids, ["pod-b"]);

    let c = network.attach("pod-c").await.unwrap();
    assert_eq!(c.ip, ip(2, tag), "a's address is reused");
    assert!(pings(&c, b.ip).await);
    network.teardown_all().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_kubelet_finds_its_pods_and_repairs_them() {
    let tag = 3;
    let fixture = Fixture::new(tag);
    fixture.network.ensure_bridge().await.unwrap();
    let a = fixture.network.attach("pod-a").await.unwrap();
    let b = fixture.network.attach("pod-b").await.unwrap();

    let restarted = fixture.reopen();
    assert_eq!(
        restarted.attached(),
        [
            ("pod-a".to_owned(), a.clone()),
            ("pod-b".to_owned(), b.clone())
        ]
    );
    assert_eq!(restarted.attach("pod-a").await.unwrap(), a);
    assert_eq!(restarted.attach("pod-c").await.unwrap().ip, ip(4, tag));

    // A veth lost meanwhile (deleted by hand) is made again on attach.
    let veth_line = ip_output(&["-o", "link", "show", "master", &fixture.names.bridge]);
    let veth = veth_line
        .lines()
        .next()
        .and_then(|line| line.split(": ").nth(1))
        .and_then(|name| name.split('@').next())
        .unwrap()
        .to_owned();
    assert!(ip_succeeds(&["link", "del", &veth]));
    assert_eq!(restarted.attach("pod-a").await.unwrap(), a);
    assert_eq!(restarted.attach("pod-b").await.unwrap(), b);
    assert!(pings(&a, b.ip).await, "repaired");
    restarted.teardown_all().await.unwrap();
    assert!(fixture.reopen().attached().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_attaches_get_distinct_addresses() {
    let tag = 4;
    let fixture = Fixture::new(tag);
    fixture.network.ensure_bridge().await.unwrap();
    let uids: Vec<String> = (0..8).map(|n| format!("pod-{n}")).collect();
    let pods = futures::future::try_join_all(uids.iter().map(|uid| fixture.network.attach(uid)))
        .await
        .unwrap();
    let mut addresses: Vec<Ipv4Addr> = pods.iter().map(|pod| pod.ip).collect();
    addresses.sort();
    assert_eq!(
        addresses,
        (2..10).map(|last| ip(last, tag)).collect::<Vec<_>>()
    );
    // Twice the same pod at once: one namespace, one address.
    let (first, second) = tokio::join!(
        fixture.network.attach("pod-x"),
        fixture.network.attach("pod-x")
    );
    assert_eq!(first.unwrap(), second.unwrap());
    assert_eq!(fixture.network.attached().len(), 9);
    fixture.network.teardown_all().await.unwrap();
}

#[test]
fn a_bad_cidr_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    for (cidr, message) in [
        (
            "10.123.0.0/33",
            "pod CIDR \"10.123.0.0/33\": prefix length \"33\" is not a number from 0 to 32",
        ),
        (
            "fd00::/64",
            "pod CIDR \"fd00::/64\": an IPv6 range; only IPv4 pod ranges are supported",
        ),
        (
            "pods",
            "pod CIDR \"pods\": not an IPv4 CIDR of the form a.b.c.d/n",
        ),
        (
            "10.123.0.1/24",
            "pod CIDR \"10.123.0.1/24\": host bits are set; did you mean 10.123.0.0/24?",
        ),
        (
            "10.123.0.0/31",
            "pod CIDR \"10.123.0.0/31\": a /31 is too small: a pod range needs a /30 or wider \
             (network, gateway, one pod, broadcast)",
        ),
    ] {
        let error = NodeNetwork::new(NetworkOptions {
            bridge: "kt0".into(),
            pod_cidr: cidr.into(),
            state_dir: dir.path().to_owned(),
            namespace_prefix: "kt0-".into(),
        })
        .unwrap_err();
        assert!(
            matches!(error, NetworkError::InvalidCidr { .. }),
            "{error:?}"
        );
        assert_eq!(error.to_string(), message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slash_30_runs_out_after_one_pod() {
    let tag = 5;
    let mut names = Names::new(tag);
    names.cidr = "10.123.5.4/30".into();
    let fixture = Fixture::with_names(names);
    fixture.network.ensure_bridge().await.unwrap();
    let a = fixture.network.attach("pod-a").await.unwrap();
    assert_eq!(a.ip, ip(6, tag));
    assert_eq!(a.gateway, ip(5, tag));
    let error = fixture.network.attach("pod-b").await.unwrap_err();
    assert!(
        matches!(error, NetworkError::AddressesExhausted { .. }),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "no free pod address left in 10.123.5.4/30: all 1 are in use"
    );
    assert_eq!(fixture.network.attached().len(), 1);
    assert!(pings(&a, a.gateway).await);
    fixture.network.detach("pod-a").await.unwrap();
    assert_eq!(
        fixture.network.attach("pod-b").await.unwrap().ip,
        ip(6, tag)
    );
    fixture.network.teardown_all().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_command_names_itself_and_its_stderr() {
    let tag = 6;
    let fixture = Fixture::new(tag);
    // No bridge yet: the veth cannot join it.
    let error = fixture.network.attach("pod-a").await.unwrap_err();
    let NetworkError::Command {
        command, stderr, ..
    } = &error
    else {
        panic!("{error:?}");
    };
    assert!(
        command.contains(&format!("master {}", fixture.names.bridge)),
        "{command}"
    );
    assert!(!stderr.is_empty(), "{error}");
    // The address stays the pod's: the retry, once the bridge is there,
    // completes with it.
    fixture.network.ensure_bridge().await.unwrap();
    let a = fixture.network.attach("pod-a").await.unwrap();
    assert_eq!(a.ip, ip(2, tag));
    assert!(pings(&a, a.gateway).await);
    fixture.network.teardown_all().await.unwrap();
}

/// A second "machine": this test process runs again, inside a network
/// namespace of its own, the pods test of the first; its bridge and veths
/// live there, not here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn works_inside_a_network_namespace_of_its_own() {
    let tag = 7;
    let names = Names::new(tag);
    // Not under the prefix: the child's guard removes those.
    let machine = NamespaceGuard::add(format!("{}m", names.bridge));
    let _cleanup = Cleanup {
        bridge: names.bridge.clone(),
        prefix: names.prefix.clone(),
    };
    let output = Command::new("ip")
        .args(["netns", "exec", &machine.0])
        .arg(std::env::current_exe().unwrap())
        .args([
            "machine_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &names.bridge)
        .env(
            PARENT_NETNS_ENV,
            std::fs::read_link("/proc/self/ns/net").unwrap(),
        )
        .output()
        .await
        .unwrap();
    let shown = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains("1 passed"), "the child ran: {shown}");
    assert!(
        !ip_succeeds(&["link", "show", "dev", &names.bridge]),
        "no bridge here"
    );
    let left: Vec<String> = Path::new("/run/netns")
        .read_dir()
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(&names.prefix))
        .collect();
    assert!(
        left.is_empty(),
        "the child removed its pods' namespaces: {left:?}"
    );
}

/// Run by `works_inside_a_network_namespace_of_its_own` only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run inside its own network namespace by works_inside_a_network_namespace_of_its_own"]
async fn machine_child() {
    assert!(std::env::var(CHILD_ENV).is_ok(), "run by the parent");
    let own = std::fs::read_link("/proc/self/ns/net").unwrap();
    let parent = std::env::var(PARENT_NETNS_ENV).unwrap();
    assert_ne!(
        own.to_string_lossy(),
        parent,
        "not in the parent's network namespace"
    );
    let tag = 7;
    // The parent's names, so that its guard also cleans up after a crash
    // here.
    let mut names = Names::new(tag);
    names.bridge = std::env::var(CHILD_ENV).unwrap();
    names.prefix = format!("{}-", names.bridge);
    let fixture = Fixture::with_names(names);
    two_pods_reach_each_other_and_the_node(&fixture, tag).await;
    pods_get_no_route_off_the_node(&fixture).await;
}

/// In the child's own network namespace, where it may turn forwarding on
/// without touching the machine: an "outside" namespace on another
/// interface of the node, with a route back to the pods. A pod reaches
/// the node's address there, but not the outside, however the node
/// forwards.
async fn pods_get_no_route_off_the_node(fixture: &Fixture) {
    let prefix = &fixture.names.prefix;
    let outside = format!("{prefix}out");
    let node_side = format!("{prefix}o");
    let _outside = NamespaceGuard::add(outside.clone());
    assert!(ip_succeeds(&[
        "link", "add", &node_side, "type", "veth", "peer", "name", "eth0", "netns", &outside,
    ]));
    assert!(ip_succeeds(&[
        "addr",
        "add",
        "192.0.2.1/24",
        "dev",
        &node_side
    ]));
    assert!(ip_succeeds(&["link", "set", &node_side, "up"]));
    assert!(ip_succeeds(&[
        "-n",
        &outside,
        "addr",
        "add",
        "192.0.2.2/24",
        "dev",
        "eth0"
    ]));
    assert!(ip_succeeds(&["-n", &outside, "link", "set", "eth0", "up"]));
    assert!(ip_succeeds(&[
        "-n",
        &outside,
        "route",
        "add",
        &fixture.names.cidr,
        "via",
        "192.0.2.1",
    ]));
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").unwrap();

    let network = &fixture.network;
    network.ensure_bridge().await.unwrap();
    let pod = network.attach("pod-out").await.unwrap();
    let outside_address = Ipv4Addr::new(192, 0, 2, 2);
    assert!(
        pings(&pod, Ipv4Addr::new(192, 0, 2, 1)).await,
        "the node's other address"
    );
    assert!(
        !pings_once(&pod, outside_address).await,
        "no route off the node"
    );

    // The check can fail: with forwarding on for the bridge, the ping
    // goes through; ensure_bridge turns it off again.
    let forwarding = format!(
        "/proc/sys/net/ipv4/conf/{}/forwarding",
        fixture.names.bridge
    );
    std::fs::write(&forwarding, "1").unwrap();
    assert!(pings(&pod, outside_address).await, "forwarded when allowed");
    network.ensure_bridge().await.unwrap();
    assert!(
        !pings_once(&pod, outside_address).await,
        "not forwarded again"
    );

    ip_output(&["link", "del", &node_side]);
    network.teardown_all().await.unwrap();
}
