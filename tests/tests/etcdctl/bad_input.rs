//! Requests a server must refuse with etcd's exact error, and keep serving
//! afterwards. Some refusals happen in etcdctl itself; those are marked
//! client-side: they never reach the server, but they pin down what a user
//! sees.

use keel_tests::{cases, run_cases, Flavor, Server};

use crate::support::{assert_serving, incompressible_text, put, txn_script};

const DUPLICATE_KEY: &str = "etcdserver: duplicate key given in txn request";
const TOO_MANY_OPS: &str = "etcdserver: too many operations in txn request";
const TOO_LARGE: &str = "etcdserver: request is too large";

/// Default limits: 128 ops per txn, 1.5 MiB per request.
pub fn suite(flavor: Flavor) {
    let server = Server::start(flavor);
    run_cases(
        &server,
        cases![
            invalid_sort,
            empty_key,
            duplicate_key_in_txn,
            too_many_txn_ops,
            oversized_request,
            malformed_grpc_frames
        ],
    );
}

/// Client-side: etcdctl checks --sort-by and --order before sending.
fn invalid_sort(server: &Server) {
    let ctl = server.etcdctl();
    ctl.run(&["get", "bi/", "--prefix", "--sort-by=BOGUS"])
        .assert_client_error(4, "Error: bad sort target BOGUS\n");
    ctl.run(&["get", "bi/", "--prefix", "--order=BOGUS"])
        .assert_client_error(4, "Error: bad sort order BOGUS\n");
    assert_serving(server);
}

fn empty_key(server: &Server) {
    let ctl = server.etcdctl();
    let message = "etcdserver: key is not provided";
    ctl.run(&["put", "", "v"])
        .assert_server_error("InvalidArgument", message);
    ctl.run(&["get", ""])
        .assert_server_error("InvalidArgument", message);
    ctl.run(&["del", ""])
        .assert_server_error("InvalidArgument", message);
    assert_serving(server);
}

fn duplicate_key_in_txn(server: &Server) {
    let ctl = server.etcdctl();
    put(&ctl, "dup/a", "0");
    let revision = ctl.revision();
    // Two writes to one key in one branch, whichever kinds they are, and
    // even in the branch that is not taken.
    let scripts = [
        txn_script(&[], &["put dup/a 1", "put dup/a 2"], &[]),
        txn_script(&[], &["put dup/a 1", "del dup/a"], &[]),
        txn_script(&[], &["put dup/a 1", "del dup/ --prefix"], &[]),
        txn_script(
            &[r#"value("dup/a") = "0""#],
            &[],
            &["put dup/b 1", "put dup/b 2"],
        ),
        txn_script(
            &[r#"value("dup/a") = "9""#],
            &["put dup/b 1", "put dup/b 2"],
            &[],
        ),
    ];
    for script in &scripts {
        ctl.run_with_stdin(&["txn"], script.as_bytes())
            .assert_server_error("InvalidArgument", DUPLICATE_KEY);
    }
    assert_eq!(ctl.revision(), revision, "a refused txn writes nothing");
    // Reading a key the txn writes is fine; so are two deletes of one key.
    let script = txn_script(&[], &["put dup/a 1", "get dup/a"], &[]);
    ctl.run_with_stdin(&["txn"], script.as_bytes())
        .assert_stdout("SUCCESS\n\nOK\n\ndup/a\n1\n");
    let script = txn_script(&[], &["del dup/a", "del dup/ --prefix"], &[]);
    ctl.run_with_stdin(&["txn"], script.as_bytes())
        .assert_stdout("SUCCESS\n\n1\n\n0\n");
    assert_serving(server);
}

fn puts(prefix: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|index| format!("put {prefix}{index:03} v"))
        .collect()
}

#[track_caller]
fn txn_of_puts(server: &Server, prefix: &str, count: usize) -> keel_tests::Output {
    let ops = puts(prefix, count);
    let ops: Vec<&str> = ops.iter().map(String::as_str).collect();
    server
        .etcdctl()
        .run_with_stdin(&["txn"], txn_script(&[], &ops, &[]).as_bytes())
}

fn too_many_txn_ops(server: &Server) {
    let ctl = server.etcdctl();
    let revision = ctl.revision();
    txn_of_puts(server, "ops/", 129).assert_server_error("InvalidArgument", TOO_MANY_OPS);
    assert_eq!(ctl.revision(), revision);
    // 128 is the default limit, inclusive; all 128 writes share a revision.
    txn_of_puts(server, "ops/", 128).assert_stdout(&format!("SUCCESS\n{}", "\nOK\n".repeat(128)));
    assert_eq!(ctl.revision(), revision + 1);
    let out = ctl.run(&["get", "ops/", "--prefix", "--sort-by=MODIFY", "-w", "json"]);
    let json = out.assert_success().json();
    assert_eq!(json["count"], 128);
    assert!(json["kvs"]
        .as_array()
        .expect("kvs")
        .iter()
        .all(|kv| kv["mod_revision"] == revision + 1));
    ctl.run(&["del", "ops/", "--prefix"]).assert_stdout("128\n");
    assert_serving(server);
}

fn oversized_request(server: &Server) {
    let ctl = server.etcdctl();
    // --max-request-bytes defaults to 1.5 MiB (1,572,864 bytes); the exact
    // edge depends on the request's encoding, so stay clear of it.
    let fits = incompressible_text(1_500_000, 1);
    ctl.run_with_stdin(&["put", "big/fits"], &fits)
        .assert_stdout("OK\n");
    let out = ctl.run(&["get", "big/fits", "--print-value-only"]);
    assert!(
        out.success() && out.stdout.len() == fits.len() + 1,
        "{}",
        out.stdout.len()
    );
    for length in [1_600_000, 2_000_000] {
        ctl.run_with_stdin(&["put", "big/refused"], &incompressible_text(length, 2))
            .assert_server_error("InvalidArgument", TOO_LARGE);
    }
    // Client-side: over 2 MiB, etcdctl's gRPC client refuses to send.
    let out = ctl.run_with_stdin(&["put", "big/refused"], &incompressible_text(2_200_000, 3));
    assert_eq!(out.code(), Some(1), "{out}");
    let (code, message) = out.grpc_error().expect("a gRPC error");
    assert_eq!(code, "ResourceExhausted");
    assert!(
        message.starts_with("trying to send message larger than max (")
            && message.ends_with(" vs. 2097152)"),
        "{out}"
    );
    ctl.run(&["get", "big/refused"]).assert_stdout("");
    ctl.run(&["del", "big/", "--prefix"]).assert_stdout("1\n");
    assert_serving(server);
}

/// The same limits set by flags: `--max-txn-ops=4 --max-request-bytes=102400`.
pub fn limit_flags_suite(flavor: Flavor) {
    let server =
        Server::start_with_args(flavor, &["--max-txn-ops=4", "--max-request-bytes=102400"]);
    let ctl = server.etcdctl();
    txn_of_puts(&server, "lf/", 5).assert_server_error("InvalidArgument", TOO_MANY_OPS);
    txn_of_puts(&server, "lf/", 4).assert_stdout(&format!("SUCCESS\n{}", "\nOK\n".repeat(4)));
    // The compares count too.
    let compares = [r#"version("lf/000") = "1""#; 5];
    ctl.run_with_stdin(&["txn"], txn_script(&compares, &[], &[]).as_bytes())
        .assert_server_error("InvalidArgument", TOO_MANY_OPS);
    ctl.run_with_stdin(&["put", "lf/big"], &incompressible_text(150_000, 4))
        .assert_server_error("InvalidArgument", TOO_LARGE);
    ctl.run_with_stdin(&["put", "lf/fits"], &incompressible_text(90_000, 5))
        .assert_stdout("OK\n");
    assert_serving(&server);
}

/// Hand-written gRPC frames that no client library would send. The
/// answers are grpc-go's, since it is etcd's gRPC library that refuses
/// them; keeld gives the same codes, and the same messages except where
/// they quote the protobuf decoder's own words.
fn malformed_grpc_frames(server: &Server) {
    use keel_tests::raw_grpc::{call, frame};
    const INTERNAL: u32 = 13;
    const UNKNOWN: u32 = 2;
    const RESOURCE_EXHAUSTED: u32 = 8;
    let endpoint = server.endpoint();
    let range = "/etcdserverpb.KV/Range";
    // A RangeRequest for key "a".
    let request = [0x0a, 0x01, 0x61];
    let cases: [(&str, Vec<u8>, u32, &str); 5] = [
        (
            "a message that does not decode",
            frame(false, 3, &[0xff, 0xff, 0xff]),
            INTERNAL,
            "grpc: error unmarshalling request: ",
        ),
        (
            "the compressed flag without grpc-encoding",
            frame(true, 3, &request),
            INTERNAL,
            "grpc: compressed flag set with identity or empty encoding",
        ),
        (
            "a length prefix longer than the message",
            frame(false, 100, &request),
            UNKNOWN,
            "unexpected EOF",
        ),
        (
            "a length prefix over the limit",
            frame(false, u32::MAX, &request),
            RESOURCE_EXHAUSTED,
            "grpc: received message larger than max (4294967295 vs. 2097152)",
        ),
        (
            "half a length prefix",
            vec![0, 0, 0],
            UNKNOWN,
            "unexpected EOF",
        ),
    ];
    for (name, body, code, message) in cases {
        let reply = call(&endpoint, range, body);
        assert_eq!(reply.http_status, 200, "{name}: {reply:?}");
        assert_eq!(reply.grpc_status, Some(code), "{name}: {reply:?}");
        let text = reply.grpc_message.as_deref().unwrap_or_default();
        let matches = if message.ends_with(": ") {
            text.starts_with(message)
        } else {
            text == message
        };
        assert!(matches, "{name}: expected {message:?}, got {reply:?}");
        assert!(reply.body.is_empty(), "{name}: {reply:?}");
    }
    // The well-formed request still works on the same server.
    let reply = call(&endpoint, range, frame(false, 3, &request));
    assert_eq!(reply.grpc_status, Some(0), "{reply:?}");
    assert_serving(server);
}
