//! The harness's crash and restart: what the durability tests build on.

use keel_tests::{Flavor, Server};

use crate::support::put;

/// An acknowledged write survives `kill -9` and a restart on the same data
/// dir, at the same revision; the member keeps its identity.
pub fn kill_and_restart(flavor: Flavor) {
    let mut server = Server::start(flavor);
    let ctl = server.etcdctl();
    put(&ctl, "rs/k", "v");
    let before = ctl.header();

    server.kill();
    assert!(!server.is_running());
    let out = ctl.run(&[
        "--dial-timeout=500ms",
        "--command-timeout=1s",
        "get",
        "rs/k",
    ]);
    assert!(!out.success(), "a killed server answered\n{out}");

    server.restart();
    assert!(server.is_running());
    ctl.run(&["get", "rs/k"]).assert_stdout("rs/k\nv\n");
    let after = ctl.header();
    assert_eq!(after.revision, before.revision);
    assert_eq!(after.cluster_id, before.cluster_id);
    assert_eq!(after.member_id, before.member_id);
    put(&ctl, "rs/k", "w");
    ctl.run(&["get", "rs/k"]).assert_stdout("rs/k\nw\n");
}
