//! SIGTERM stops the server even while clients hold streams open, as etcd
//! stops after its grace period: a watch that never ends must not keep
//! the server (or `keel up`, which runs one) alive.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::disallowed_methods, reason = "tests wait in real time")]

use std::process::Command;
use std::time::{Duration, Instant};

use keel_tests::{Flavor, Server};

/// How long the server may take to exit after SIGTERM: its grace for
/// open streams is 2 s (etcd's is shorter), plus its own shutdown.
const EXIT_WITHIN: Duration = Duration::from_secs(10);

fn stops_with_a_watch_open(flavor: Flavor) {
    let mut server = Server::start(flavor);
    server.etcdctl().run(&["put", "k", "v"]).assert_success();
    // From revision 1, so the put is replayed however late the watch
    // starts.
    let mut watch = server.etcdctl().spawn(&["watch", "k", "--rev=1"]);
    assert!(watch
        .next_line(keel_tests::Stream::Stdout, Duration::from_secs(10))
        .is_some());
    let pid = server.pid().unwrap().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let sent = Instant::now();
    while server.is_running() {
        assert!(
            sent.elapsed() < EXIT_WITHIN,
            "{flavor:?} still runs {EXIT_WITHIN:?} after SIGTERM with a watch open"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(watch.kill());
}

#[test]
fn keeld_stops_with_a_watch_open() {
    stops_with_a_watch_open(Flavor::Keeld);
}

#[test]
fn etcd_stops_with_a_watch_open() {
    stops_with_a_watch_open(Flavor::Etcd);
}
