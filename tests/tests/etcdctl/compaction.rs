//! `compaction` with and without `--physical`, and reads at compacted and
//! future revisions. A compaction affects the whole store, so this runs on
//! a server of its own, from a fresh store at revision 1.

use keel_tests::{Flavor, Server};
use serde_json::json;

use crate::support::{assert_serving, put};

const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
const FUTURE: &str = "etcdserver: mvcc: required revision is a future revision";

/// Compacts a fresh server step by step, checking what each revision reads.
pub fn suite(flavor: Flavor) {
    let server = Server::start(flavor);
    let ctl = server.etcdctl();
    assert_eq!(ctl.revision(), 1, "an empty store is at revision 1");
    for value in ["v1", "v2", "v3", "v4", "v5"] {
        put(&ctl, "c/k", value); // revisions 2..=6
    }
    let get_at = |revision: i64| ctl.run(&["get", "c/k", "--rev", &revision.to_string()]);
    let compact = |revision: i64, physical: bool| {
        let revision = revision.to_string();
        let mut args = vec!["compaction", revision.as_str()];
        if physical {
            args.push("--physical");
        }
        ctl.run(&args)
    };

    compact(3, false).assert_stdout("compacted revision 3\n");
    assert_eq!(ctl.revision(), 6, "compaction does not bump the revision");
    get_at(1).assert_server_error("OutOfRange", COMPACTED);
    get_at(2).assert_server_error("OutOfRange", COMPACTED);
    // The compaction revision itself is still readable...
    get_at(3).assert_stdout("c/k\nv2\n");
    // ...but HashKV refuses it: it needs rev > compact revision.
    ctl.run(&["endpoint", "hashkv", "--rev=3"])
        .assert_server_error("OutOfRange", COMPACTED);
    let out = ctl.run(&["endpoint", "hashkv", "--rev=4", "-w", "json"]);
    assert_eq!(
        out.assert_success().json()[0]["HashKV"]["compact_revision"],
        json!(3)
    );
    // Compacting at or below the compaction revision again is refused.
    compact(3, false).assert_server_error("OutOfRange", COMPACTED);
    compact(2, false).assert_server_error("OutOfRange", COMPACTED);

    // --physical waits until the compaction is done on disk; same answer.
    compact(5, true).assert_stdout("compacted revision 5\n");
    get_at(4).assert_server_error("OutOfRange", COMPACTED);
    get_at(5).assert_stdout("c/k\nv4\n");
    // Above the current revision (6).
    get_at(7).assert_server_error("OutOfRange", FUTURE);
    get_at(1000).assert_server_error("OutOfRange", FUTURE);
    compact(7, false).assert_server_error("OutOfRange", FUTURE);
    // Up to the current revision is allowed.
    compact(6, true).assert_stdout("compacted revision 6\n");
    get_at(6).assert_stdout("c/k\nv5\n");
    ctl.run(&["get", "c/k"]).assert_stdout("c/k\nv5\n");
    assert_eq!(ctl.revision(), 6);

    assert_serving(&server);
    get_at(7).assert_stdout("c/k\nv5\n");
    get_at(6).assert_stdout("c/k\nv5\n");
    get_at(5).assert_server_error("OutOfRange", COMPACTED);
}
