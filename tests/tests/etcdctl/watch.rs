//! `watch`: events as other etcdctl runs write, from a revision (history),
//! over prefixes and ranges, with previous values, as JSON, interactive
//! (`watch -i`, commands on stdin, `progress`), and from a compacted
//! revision. Each case owns a key prefix and computes its revisions from
//! the revision it starts at; the compaction case runs last.
//!
//! What etcdctl 3.4 prints for each event, in the simple format:
//!
//! ```text
//!  PUT          DELETE        (with --prev-kv, the previous key and value
//!  <key>        <key>          come between the type and the key, when
//!  <value>      <empty line>   there was one)
//! ```
//!
//! A watch without `--rev` only sees what is written once the server has
//! registered it, and nothing tells when that is: such cases write probes
//! first ([`sync_watch`]).

use keel_tests::format::base64;
use keel_tests::{cases, run_cases, Flavor, Server};
use serde_json::{json, Value};

use crate::support::{kv_json, put, sync_watch};

const COMPACTED_STDERR: &str = "watch was canceled (etcdserver: mvcc: required revision has been compacted)\nError: watch is canceled by the server\n";

/// Starts one server and runs every watch case on it.
pub fn suite(flavor: Flavor) {
    let server = Server::start(flavor);
    run_cases(
        &server,
        cases![
            put_and_delete_events,
            rev_replays_history,
            prefix_and_range,
            prev_kv,
            json_output,
            interactive,
            compacted_revision,
        ],
    );
}

/// One PUT event as the simple format prints it.
fn put_event(key: &str, value: &str) -> String {
    format!("PUT\n{key}\n{value}\n")
}

/// One DELETE event as the simple format prints it: the value line is empty.
fn delete_event(key: &str) -> String {
    format!("DELETE\n{key}\n\n")
}

/// One watch response as `watch -w json` prints it: the clientv3
/// `WatchResponse`, `Header` with the revision the response was sent at.
fn response_json(header: &Value, events: &Value) -> Value {
    json!({
        "Header": header,
        "Events": events,
        "CompactRevision": 0,
        "Canceled": false,
        "Created": false,
    })
}

/// A DELETE event in JSON: type 1, and a kv with only key and mod_revision.
fn delete_json(key: &str, revision: i64) -> Value {
    json!({"type": 1, "kv": {"key": base64(key.as_bytes()), "mod_revision": revision}})
}

fn put_and_delete_events(server: &Server) {
    let ctl = server.etcdctl();
    // Written before the watch starts: never shown without --rev.
    put(&ctl, "wpd/k", "before");
    let mut watch = ctl.spawn(&["watch", "wpd/k"]);
    let probes = sync_watch(&ctl, &mut watch, "wpd/k");
    put(&ctl, "wpd/k", "v1");
    put(&ctl, "wpd/k", "v2");
    ctl.run(&["del", "wpd/k"]).assert_stdout("1\n");
    // Deleting a missing key is no event; other keys are not watched.
    ctl.run(&["del", "wpd/k"]).assert_stdout("0\n");
    put(&ctl, "wpd/other", "x");
    put(&ctl, "wpd/k", "v3");
    let events = [
        put_event("wpd/k", "v1"),
        put_event("wpd/k", "v2"),
        delete_event("wpd/k"),
        put_event("wpd/k", "v3"),
    ]
    .concat();
    watch.expect_stdout(&events);
    // watch runs until killed and has no SIGTERM handler.
    let out = watch.terminate();
    assert_eq!(out.stdout, probes + &events, "{out}");
    assert_eq!(out.stderr, "", "{out}");
    ctl.run(&["del", "wpd/", "--prefix"]).assert_stdout("2\n");
}

fn rev_replays_history(server: &Server) {
    let ctl = server.etcdctl();
    let base = ctl.revision();
    put(&ctl, "wr/k", "a"); // base + 1
    put(&ctl, "wr/k", "b"); // base + 2
    ctl.run(&["del", "wr/k"]).assert_stdout("1\n"); // base + 3
    put(&ctl, "wr/k", "c"); // base + 4
    put(&ctl, "wr/other", "x"); // base + 5
    let history = [
        put_event("wr/k", "a"),
        put_event("wr/k", "b"),
        delete_event("wr/k"),
        put_event("wr/k", "c"),
    ];

    // From the key's first revision: all of its history, then what follows.
    let rev = (base + 1).to_string();
    let mut watch = ctl.spawn(&["watch", "wr/k", "--rev", &rev]);
    watch.expect_stdout(&history.concat());
    put(&ctl, "wr/k", "d"); // base + 6
    watch.expect_stdout(&put_event("wr/k", "d"));
    let out = watch.terminate();
    assert_eq!(
        out.stdout,
        history.concat() + &put_event("wr/k", "d"),
        "{out}"
    );

    // From the middle: the delete onwards.
    let rev = (base + 3).to_string();
    let mut watch = ctl.spawn(&["watch", "wr/k", "--rev", &rev]);
    let expected = [
        delete_event("wr/k"),
        put_event("wr/k", "c"),
        put_event("wr/k", "d"),
    ]
    .concat();
    watch.expect_stdout(&expected);
    assert_eq!(watch.terminate().stdout, expected);

    // A future revision: nothing until the store gets there.
    let rev = (base + 8).to_string();
    let mut watch = ctl.spawn(&["watch", "wr/k", "--rev", &rev]);
    put(&ctl, "wr/k", "e"); // base + 7: before the watch's start
    put(&ctl, "wr/k", "f"); // base + 8
    watch.expect_stdout(&put_event("wr/k", "f"));
    let out = watch.terminate();
    assert_eq!(out.stdout, put_event("wr/k", "f"), "{out}");
    assert_eq!(out.stderr, "", "{out}");
    ctl.run(&["del", "wr/", "--prefix"]).assert_stdout("2\n");
}

fn prefix_and_range(server: &Server) {
    let ctl = server.etcdctl();
    let mut watch = ctl.spawn(&["watch", "--prefix", "wp/"]);
    let probes = sync_watch(&ctl, &mut watch, "wp/sync");
    put(&ctl, "wp/a", "1");
    // Outside the prefix: "wp" itself and "wpx" (no slash).
    put(&ctl, "wp", "2");
    put(&ctl, "wpx", "3");
    put(&ctl, "wp/b/c", "4");
    ctl.run(&["del", "wp/a"]).assert_stdout("1\n");
    // One delete of two keys: two events, in key order.
    ctl.run(&["del", "wp/", "--prefix"]).assert_stdout("2\n");
    let events = [
        put_event("wp/a", "1"),
        put_event("wp/b/c", "4"),
        delete_event("wp/a"),
        delete_event("wp/b/c"),
        delete_event("wp/sync"),
    ]
    .concat();
    watch.expect_stdout(&events);
    let out = watch.terminate();
    assert_eq!(out.stdout, probes + &events, "{out}");
    ctl.run(&["del", "wp", "--prefix"]).assert_stdout("2\n");

    // An explicit [key, range_end), from a revision.
    let base = ctl.revision();
    put(&ctl, "wq/a", "1");
    put(&ctl, "wq/b", "2");
    put(&ctl, "wq/c", "3"); // the range's end: outside it
    let rev = (base + 1).to_string();
    let mut watch = ctl.spawn(&["watch", "wq/a", "wq/c", "--rev", &rev]);
    watch.expect_stdout(&[put_event("wq/a", "1"), put_event("wq/b", "2")].concat());
    put(&ctl, "wq/c", "4");
    put(&ctl, "wq/b", "5");
    watch.expect_stdout(&put_event("wq/b", "5"));
    let out = watch.terminate();
    let expected = [
        put_event("wq/a", "1"),
        put_event("wq/b", "2"),
        put_event("wq/b", "5"),
    ]
    .concat();
    assert_eq!(out.stdout, expected, "{out}");
    ctl.run(&["del", "wq/", "--prefix"]).assert_stdout("3\n");
}

fn prev_kv(server: &Server) {
    let ctl = server.etcdctl();
    let base = ctl.revision();
    put(&ctl, "wv/k", "v1");
    put(&ctl, "wv/k", "v2");
    ctl.run(&["del", "wv/k"]).assert_stdout("1\n");
    put(&ctl, "wv/k", "v3");
    let rev = (base + 1).to_string();
    let mut watch = ctl.spawn(&["watch", "wv/k", "--prev-kv", "--rev", &rev]);
    // A creation has no previous key; an update and a delete show it
    // between the event type and the key.
    let replayed = [
        "PUT\nwv/k\nv1\n",
        "PUT\nwv/k\nv1\nwv/k\nv2\n",
        "DELETE\nwv/k\nv2\nwv/k\n\n",
        "PUT\nwv/k\nv3\n",
    ]
    .concat();
    watch.expect_stdout(&replayed);
    // Live events get it too.
    put(&ctl, "wv/k", "v4");
    watch.expect_stdout("PUT\nwv/k\nv3\nwv/k\nv4\n");
    let out = watch.terminate();
    assert_eq!(out.stdout, replayed + "PUT\nwv/k\nv3\nwv/k\nv4\n", "{out}");
    ctl.run(&["del", "wv/k"]).assert_stdout("1\n");
}

fn json_output(server: &Server) {
    let ctl = server.etcdctl();
    let header = ctl.header();
    let base = header.revision;
    put(&ctl, "wj/k", "v"); // base + 1
    let rev = (base + 1).to_string();
    let mut watch = ctl.spawn(&["watch", "wj/k", "-w", "json", "--rev", &rev]);
    let parse = |line: &str| -> Value {
        serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line:?}"))
    };
    // One JSON object per response, on one line.
    let first = parse(&watch.read_stdout(1));
    let put_json = json!({"kv": kv_json("wj/k", Some("v"), base + 1, base + 1, 1)});
    assert_eq!(
        first,
        response_json(&header.json_at(base + 1), &json!([put_json]))
    );
    // Live: one response per revision, at that revision.
    ctl.run(&["del", "wj/k"]).assert_stdout("1\n"); // base + 2
    let second = parse(&watch.read_stdout(1));
    assert_eq!(
        second,
        response_json(
            &header.json_at(base + 2),
            &json!([delete_json("wj/k", base + 2)])
        )
    );
    watch.terminate();

    // A replay of several revisions comes as one response, at the store's
    // current revision.
    put(&ctl, "wj/other", "x"); // base + 3
    let mut watch = ctl.spawn(&["watch", "wj/k", "-w", "json", "--rev", &rev]);
    let replay = parse(&watch.read_stdout(1));
    assert_eq!(
        replay,
        response_json(
            &header.json_at(base + 3),
            &json!([put_json, delete_json("wj/k", base + 2)])
        )
    );
    let out = watch.terminate();
    assert_eq!(out.stdout.lines().count(), 1, "{out}");
    ctl.run(&["del", "wj/other"]).assert_stdout("1\n");
}

/// `watch -i`: one command a line on stdin, `watch [options] <key>` or
/// `progress`; the watches share the process's stdout. etcdctl refuses
/// other lines on stderr and goes on; end of file on stdin ends it.
fn interactive(server: &Server) {
    let ctl = server.etcdctl();
    let mut watch = ctl.spawn(&["watch", "-i"]);
    watch.write_line("watch iw/k");
    let mut printed = sync_watch(&ctl, &mut watch, "iw/k");
    watch.write_line("watch --prefix iw/p/");
    printed += &sync_watch(&ctl, &mut watch, "iw/p/sync");
    put(&ctl, "iw/k", "v");
    watch.expect_stdout(&put_event("iw/k", "v"));
    put(&ctl, "iw/p/x", "w");
    watch.expect_stdout(&put_event("iw/p/x", "w"));
    printed += &put_event("iw/k", "v");
    printed += &put_event("iw/p/x", "w");

    // `progress` asks the server for a progress notification on the
    // watch stream; every watch of the stream prints it, with the
    // store's current revision.
    let revision = ctl.revision();
    watch.write_line("progress");
    let progress = format!("progress notify: {revision}\n").repeat(2);
    watch.expect_stdout(&progress);
    printed += &progress;

    // Lines it refuses, on stderr; the watches go on.
    watch.write_line("bogus");
    watch.expect_stderr("Invalid command bogus (only support watch)\n");
    watch.write_line("watch");
    watch.expect_stderr("Invalid command watch (command type or key is not provided)\n");
    watch.write_line("");
    watch.expect_stderr("Invalid command:  (watch and progress supported)\n");
    watch.write_line("watch a b --prefix");
    watch.expect_stderr(
        "Invalid command watch a b --prefix (`range_end` and `--prefix` are mutually exclusive)\n",
    );
    put(&ctl, "iw/p/y", "z");
    watch.expect_stdout(&put_event("iw/p/y", "z"));
    printed += &put_event("iw/p/y", "z");
    let revision = ctl.revision();
    watch.write_line("progress");
    let progress = format!("progress notify: {revision}\n").repeat(2);
    watch.expect_stdout(&progress);
    printed += &progress;

    // End of file on stdin: exit 3 (invalid input).
    watch.close_stdin();
    let out = watch.wait();
    assert_eq!(out.code(), Some(3), "{out}");
    assert_eq!(out.stdout, printed, "{out}");
    assert_eq!(
        out.stderr,
        "Invalid command bogus (only support watch)\n\
         Invalid command watch (command type or key is not provided)\n\
         Invalid command:  (watch and progress supported)\n\
         Invalid command watch a b --prefix (`range_end` and `--prefix` are mutually exclusive)\n\
         Error: Error reading watch request line: EOF\n",
        "{out}"
    );
    ctl.run(&["del", "iw/", "--prefix"]).assert_stdout("4\n");
}

/// A watch from below the compaction revision is cancelled by the server:
/// etcdctl says so on stderr and exits 5. Compacts the whole store: last.
fn compacted_revision(server: &Server) {
    let ctl = server.etcdctl();
    let header = ctl.header();
    let base = header.revision;
    for value in ["1", "2", "3"] {
        put(&ctl, "wc/k", value); // base + 1 ..= base + 3
    }
    let compact = base + 2;
    ctl.run(&["compaction", &compact.to_string()])
        .assert_stdout(&format!("compacted revision {compact}\n"));

    // From the compaction revision itself: still there.
    let mut watch = ctl.spawn(&["watch", "wc/k", "--rev", &compact.to_string()]);
    let expected = [put_event("wc/k", "2"), put_event("wc/k", "3")].concat();
    watch.expect_stdout(&expected);
    assert_eq!(watch.terminate().stdout, expected);

    // Below it: cancelled, nothing on stdout, exit 5 (interrupted).
    for rev in [base + 1, 1] {
        let out = ctl.run(&["watch", "wc/k", "--rev", &rev.to_string()]);
        assert_eq!(out.code(), Some(5), "{out}");
        assert_eq!(out.stdout, "", "{out}");
        assert_eq!(out.stderr, COMPACTED_STDERR, "{out}");
    }
    // The cancelling response: the compaction revision, no events, and a
    // header without a revision (0, left out).
    let out = ctl.run(&["watch", "wc/k", "--rev", "1", "-w", "json"]);
    assert_eq!(out.code(), Some(5), "{out}");
    assert_eq!(out.stderr, COMPACTED_STDERR, "{out}");
    assert_eq!(
        out.json(),
        json!({
            "Header": {
                "cluster_id": header.cluster_id,
                "member_id": header.member_id,
                "raft_term": header.raft_term,
            },
            "Events": [],
            "CompactRevision": compact,
            "Canceled": true,
            "Created": false,
        })
    );
    ctl.run(&["del", "wc/k"]).assert_stdout("1\n");
}
