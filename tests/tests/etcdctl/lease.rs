//! Leases: grant (and etcd's TTL limits), revoke, list, timetolive,
//! keep-alive, keys attached with `put --lease`, and a lease that expires
//! by itself. Lease ids are the server's choice: cases read them from
//! `lease grant` and check how etcdctl spells them (16 hex digits).
//!
//! The JSON of the lease commands puts the response header's fields at
//! the top level, next to the response's own (`ID`/`TTL` for grant and
//! keep-alive, `id`/`ttl`/`granted-ttl`/`keys` for timetolive).

use std::collections::BTreeSet;
use std::time::Duration;

use keel_tests::format::base64;
use keel_tests::{cases, run_cases, Etcdctl, Flavor, Header, Server};
use serde_json::{json, Value};

use crate::support::{put, Stopwatch};

const NOT_FOUND: &str = "etcdserver: requested lease not found";
const TOO_LARGE: &str = "etcdserver: too large lease TTL";
/// etcd's lease TTL floor with its default `--election-timeout=1000`:
/// 1.5 election timeouts, rounded up to whole seconds.
const MIN_TTL: i64 = 2;

/// Starts one server and runs every lease case on it; the first case
/// lists the leases of a fresh server.
pub fn suite(flavor: Flavor) {
    let server = Server::start(flavor);
    run_cases(
        &server,
        cases![
            grant_revoke_and_list,
            ttl_limits,
            timetolive_and_attached_keys,
            unknown_lease,
            keep_alive,
            expiry,
        ],
    );
}

/// Runs `lease grant <args>` and checks etcdctl's line, `lease <16 lower
/// case hex digits> granted with TTL(<ttl>s)`; returns the lease id.
#[track_caller]
fn grant(ctl: &Etcdctl, args: &[&str], ttl: i64) -> u64 {
    let args = [&["lease", "grant"], args].concat();
    let out = ctl.run(&args);
    let id = out
        .stdout
        .strip_prefix("lease ")
        .and_then(|rest| rest.split_once(' '))
        .and_then(|(hex, _)| u64::from_str_radix(hex, 16).ok())
        .unwrap_or_else(|| panic!("no lease id\n{out}"));
    out.assert_stdout(&format!("lease {id:016x} granted with TTL({ttl}s)\n"));
    assert_ne!(id, 0, "0 means no lease");
    id
}

/// The lease ids of `lease list`: `found <n> leases`, then one id a line,
/// in no particular order.
#[track_caller]
fn listed(ctl: &Etcdctl) -> BTreeSet<u64> {
    let out = ctl.run(&["lease", "list"]);
    out.assert_success();
    let mut lines = out.stdout.lines();
    let count: usize = lines
        .next()
        .and_then(|line| line.strip_prefix("found "))
        .and_then(|line| line.strip_suffix(" leases"))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no `found <n> leases` line\n{out}"));
    let ids: Vec<u64> = lines
        .map(|line| {
            let id = u64::from_str_radix(line, 16).unwrap_or_else(|_| panic!("{line:?}\n{out}"));
            assert_eq!(line, format!("{id:016x}"), "16 hex digits\n{out}");
            id
        })
        .collect();
    assert_eq!(ids.len(), count, "{out}");
    let distinct: BTreeSet<u64> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "{out}");
    distinct
}

/// The response header's fields, flattened into a lease command's JSON.
fn header_fields(header: &Header, revision: i64) -> serde_json::Map<String, Value> {
    match header.json_at(revision) {
        Value::Object(fields) => fields,
        _ => unreachable!("json_at builds an object"),
    }
}

/// `fields` (a header's) with `more` added.
fn with(mut fields: serde_json::Map<String, Value>, more: Value) -> Value {
    if let Value::Object(more) = more {
        fields.extend(more);
    }
    Value::Object(fields)
}

fn grant_revoke_and_list(server: &Server) {
    let ctl = server.etcdctl();
    ctl.run(&["lease", "list"])
        .assert_stdout("found 0 leases\n");
    let header = ctl.header();
    let a = grant(&ctl, &["60"], 60);
    let b = grant(&ctl, &["120"], 120);
    assert_ne!(a, b);
    assert_eq!(listed(&ctl), BTreeSet::from([a, b]));
    // Leases are not keys: granting does not change the revision.
    assert_eq!(ctl.revision(), header.revision);

    let out = ctl.run(&["lease", "grant", "30", "-w", "json"]);
    let json = out.assert_success().json();
    let c = json["ID"]
        .as_u64()
        .unwrap_or_else(|| panic!("no ID\n{out}"));
    assert_eq!(
        json,
        with(
            header_fields(&header, header.revision),
            json!({"ID": c, "TTL": 30, "Error": ""})
        )
    );
    let out = ctl.run(&["lease", "list", "-w", "json"]);
    let mut json = out.assert_success().json();
    let mut leases: Vec<u64> = json["leases"]
        .as_array()
        .unwrap_or_else(|| panic!("no leases\n{out}"))
        .iter()
        .map(|lease| {
            assert_eq!(
                lease.as_object().map(serde_json::Map::len),
                Some(1),
                "{out}"
            );
            lease["id"].as_u64().expect("id")
        })
        .collect();
    leases.sort_unstable();
    assert_eq!(
        leases,
        BTreeSet::from([a, b, c]).into_iter().collect::<Vec<_>>()
    );
    json["leases"] = json!("checked");
    assert_eq!(
        json,
        with(
            header_fields(&header, header.revision),
            json!({"leases": "checked"})
        )
    );

    ctl.run(&["lease", "revoke", &format!("{a:016x}")])
        .assert_stdout(&format!("lease {a:016x} revoked\n"));
    // The id is read as hex, leading zeros or not.
    ctl.run(&["lease", "revoke", &format!("{b:x}")])
        .assert_stdout(&format!("lease {b:016x} revoked\n"));
    assert_eq!(listed(&ctl), BTreeSet::from([c]));
    let out = ctl.run(&["lease", "revoke", &format!("{c:x}"), "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        json!({"header": header.json_at(header.revision)})
    );
    ctl.run(&["lease", "list"])
        .assert_stdout("found 0 leases\n");
    // A lease without keys is revoked without a write.
    assert_eq!(ctl.revision(), header.revision);
}

fn ttl_limits(server: &Server) {
    let ctl = server.etcdctl();
    // Below the minimum, etcd grants the minimum, and says so.
    let short = grant(&ctl, &["1"], MIN_TTL);
    grant(&ctl, &["0"], MIN_TTL);
    grant(&ctl, &["--", "-5"], MIN_TTL);
    let out = ctl.run(&["lease", "timetolive", &format!("{short:x}"), "-w", "json"]);
    assert_eq!(
        out.assert_success().json()["granted-ttl"],
        json!(MIN_TTL),
        "{out}"
    );
    // etcd's maximum TTL is 9,000,000,000 s; one more is refused.
    ctl.run(&["lease", "grant", "9000000001"])
        .assert_wrapped_server_error(
            "OutOfRange",
            TOO_LARGE,
            &format!("failed to grant lease ({TOO_LARGE})"),
        );
    let longest = grant(&ctl, &["9000000000"], 9_000_000_000);
    ctl.run(&["lease", "revoke", &format!("{longest:x}")])
        .assert_stdout(&format!("lease {longest:016x} revoked\n"));
    // Client-side.
    ctl.run(&["lease", "grant", "abc"]).assert_client_error(
        128,
        "Error: bad TTL (strconv.ParseInt: parsing \"abc\": invalid syntax)\n",
    );
    ctl.run(&["lease", "grant"])
        .assert_client_error(128, "Error: lease grant command needs TTL argument\n");
    // The short leases expire by themselves (see `expiry`).
}

/// Parses `lease <id> granted with TTL(<ttl>s), remaining(<n>s)<rest>`
/// for lease `id` granted `ttl`; returns `(n, rest)`. The remaining time
/// is truncated to whole seconds, so a fresh lease shows `ttl - 1`.
#[track_caller]
fn remaining(stdout: &str, id: u64, ttl: i64) -> (i64, &str) {
    let prefix = format!("lease {id:016x} granted with TTL({ttl}s), remaining(");
    let (seconds, rest) = stdout
        .strip_prefix(&prefix)
        .and_then(|rest| rest.split_once("s)"))
        .unwrap_or_else(|| panic!("expected {prefix:?}...: {stdout:?}"));
    let seconds: i64 = seconds
        .parse()
        .unwrap_or_else(|_| panic!("remaining({seconds}s): {stdout:?}"));
    assert!(0 < seconds && seconds <= ttl, "{stdout:?}");
    (seconds, rest)
}

fn timetolive_and_attached_keys(server: &Server) {
    let ctl = server.etcdctl();
    let header = ctl.header();
    let id = grant(&ctl, &["60"], 60);
    let hex = format!("{id:016x}");
    let lease_flag = format!("--lease={id:x}");
    for (key, value) in [("lt/a", "1"), ("lt/b", "2")] {
        ctl.run(&["put", &lease_flag, key, value])
            .assert_stdout("OK\n");
    }
    put(&ctl, "lt/c", "3");
    let base = ctl.revision();
    assert_eq!(base, header.revision + 3);
    let out = ctl.run(&["get", "lt/a", "-w", "json"]);
    let kv = &out.assert_success().json()["kvs"][0];
    assert_eq!(kv["lease"], json!(id), "{out}");

    let out = ctl.run(&["lease", "timetolive", &hex]);
    let (_, rest) = remaining(&out.assert_success().stdout, id, 60);
    assert_eq!(rest, "\n", "{out}");
    // --keys: the attached keys, in no particular order.
    let out = ctl.run(&["lease", "timetolive", &hex, "--keys"]);
    let (_, rest) = remaining(&out.assert_success().stdout, id, 60);
    let keys: BTreeSet<&str> = rest
        .strip_prefix(", attached keys([")
        .and_then(|rest| rest.strip_suffix("])\n"))
        .unwrap_or_else(|| panic!("no attached keys\n{out}"))
        .split(' ')
        .collect();
    assert_eq!(keys, BTreeSet::from(["lt/a", "lt/b"]), "{out}");
    let out = ctl.run(&["lease", "timetolive", &hex, "--keys", "-w", "json"]);
    let mut json = out.assert_success().json();
    let ttl = json["ttl"].as_i64().unwrap_or_default();
    assert!(0 < ttl && ttl <= 60, "{out}");
    let mut keys: Vec<String> = json["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys\n{out}"))
        .iter()
        .map(|key| key.as_str().expect("base64").to_owned())
        .collect();
    keys.sort();
    assert_eq!(keys, [base64(b"lt/a"), base64(b"lt/b")], "{out}");
    json["keys"] = json!("checked");
    assert_eq!(
        json,
        with(
            header_fields(&header, base),
            json!({"id": id, "ttl": ttl, "granted-ttl": 60, "keys": "checked"})
        )
    );

    ctl.run(&["lease", "keep-alive", "--once", &hex])
        .assert_stdout(&format!("lease {hex} keepalived with TTL(60)\n"));
    let out = ctl.run(&["lease", "keep-alive", "--once", &hex, "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        with(header_fields(&header, base), json!({"ID": id, "TTL": 60}))
    );

    // Revoking deletes the attached keys, all in one revision: a watch
    // gets one response with a DELETE for each, in key order.
    let rev = (base + 1).to_string();
    let mut watch = ctl.spawn(&["watch", "lt/", "--prefix", "-w", "json", "--rev", &rev]);
    ctl.run(&["lease", "revoke", &hex])
        .assert_stdout(&format!("lease {hex} revoked\n"));
    assert_eq!(ctl.revision(), base + 1);
    let line = watch.read_stdout(1);
    let response: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line:?}"));
    let delete = |key: &str| json!({"type": 1, "kv": {"key": base64(key.as_bytes()), "mod_revision": base + 1}});
    assert_eq!(
        response,
        json!({
            "Header": header.json_at(base + 1),
            "Events": [delete("lt/a"), delete("lt/b")],
            "CompactRevision": 0,
            "Canceled": false,
            "Created": false,
        })
    );
    let out = watch.terminate();
    assert_eq!(out.stdout.lines().count(), 1, "{out}");
    ctl.run(&["get", "lt/", "--prefix"])
        .assert_stdout("lt/c\n3\n");

    // A revoked lease is "already expired", not an error.
    let expired = format!("lease {hex} already expired\n");
    ctl.run(&["lease", "timetolive", &hex])
        .assert_stdout(&expired);
    ctl.run(&["lease", "timetolive", &hex, "--keys"])
        .assert_stdout(&expired);
    let out = ctl.run(&["lease", "timetolive", &hex, "--keys", "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        with(
            header_fields(&header, base + 1),
            json!({"id": id, "ttl": -1, "granted-ttl": 0, "keys": null})
        )
    );
    assert!(!listed(&ctl).contains(&id));
    ctl.run(&["del", "lt/c"]).assert_stdout("1\n");
}

fn unknown_lease(server: &Server) {
    let ctl = server.etcdctl();
    let revision = ctl.revision();
    ctl.run(&["put", "--lease=1234abcd", "lu/k", "v"])
        .assert_server_error("NotFound", NOT_FOUND);
    ctl.run(&["get", "lu/k"]).assert_stdout("");
    assert_eq!(ctl.revision(), revision);
    ctl.run(&["lease", "revoke", "1234abcd"])
        .assert_wrapped_server_error(
            "NotFound",
            NOT_FOUND,
            &format!("failed to revoke lease ({NOT_FOUND})"),
        );
    // Keep-alive is a stream: no retry log, and exit 2 (bad connection).
    ctl.run(&["lease", "keep-alive", "--once", "1234abcd"])
        .assert_client_error(2, &format!("Error: {NOT_FOUND}\n"));
    // TimeToLive of an unknown lease succeeds: TTL -1.
    ctl.run(&["lease", "timetolive", "1234abcd"])
        .assert_stdout("lease 000000001234abcd already expired\n");
    // Client-side: ids are hex.
    let bad = "(strconv.ParseInt: parsing \"zz\": invalid syntax), expecting ID in Hex";
    ctl.run(&["put", "--lease=zz", "lu/k", "v"])
        .assert_client_error(128, &format!("Error: bad lease ID {bad}\n"));
    for command in ["revoke", "timetolive", "keep-alive"] {
        ctl.run(&["lease", command, "zz"])
            .assert_client_error(128, &format!("Error: bad lease ID arg {bad}\n"));
    }
    ctl.run(&["lease", "revoke"])
        .assert_client_error(128, "Error: lease revoke command needs 1 argument\n");
    ctl.run(&["lease", "timetolive"]).assert_client_error(
        128,
        "Error: lease timetolive command needs lease ID as argument\n",
    );
}

/// `lease keep-alive` (without --once) renews every TTL/3 until killed,
/// one line each time; a revoked lease ends it.
fn keep_alive(server: &Server) {
    let ctl = server.etcdctl();
    let id = grant(&ctl, &["10"], 10);
    let hex = format!("{id:016x}");
    ctl.run(&["put", &format!("--lease={hex}"), "lka/k", "v"])
        .assert_stdout("OK\n");
    let mut keeper = ctl.spawn(&["lease", "keep-alive", &hex]);
    let renewed = format!("lease {hex} keepalived with TTL(10)\n");
    keeper.expect_stdout(&renewed);
    // Past the TTL, the key is still there.
    std::thread::sleep(Duration::from_secs(13));
    ctl.run(&["get", "lka/k"]).assert_stdout("lka/k\nv\n");
    let out = ctl.run(&["lease", "timetolive", &hex]);
    remaining(&out.assert_success().stdout, id, 10);

    ctl.run(&["lease", "revoke", &hex])
        .assert_stdout(&format!("lease {hex} revoked\n"));
    // Renewals already on their way may still be printed; then the next
    // renewal finds no lease, and keep-alive says so and exits 0.
    let ended = format!("lease {hex} expired or revoked.\n");
    loop {
        let line = keeper.read_stdout(1);
        if line == ended {
            break;
        }
        assert_eq!(line, renewed, "{keeper}");
    }
    let out = keeper.wait();
    assert!(out.success(), "{out}");
    assert_eq!(out.stderr, "", "{out}");
    assert!(out.stdout.ends_with(&ended), "{out}");
    ctl.run(&["get", "lka/k"]).assert_stdout("");
}

/// A lease nobody keeps alive expires after its TTL (the minimum here):
/// its keys are deleted, which a watch sees, and it is gone.
fn expiry(server: &Server) {
    let ctl = server.etcdctl();
    let base = ctl.revision();
    let stopwatch = Stopwatch::start();
    let id = grant(&ctl, &["1"], MIN_TTL);
    let hex = format!("{id:016x}");
    ctl.run(&["put", &format!("--lease={hex}"), "le/k", "v"])
        .assert_stdout("OK\n");
    let rev = (base + 1).to_string();
    let mut watch = ctl.spawn(&["watch", "le/k", "--rev", &rev]);
    watch.expect_stdout("PUT\nle/k\nv\n");
    watch.expect_stdout("DELETE\nle/k\n\n");
    // Not before its TTL (which started after the stopwatch did).
    let lived = stopwatch.elapsed();
    assert!(
        lived >= Duration::from_millis(1500),
        "the key went after {lived:?}, before the lease's {MIN_TTL} s"
    );
    ctl.run(&["get", "le/k"]).assert_stdout("");
    assert_eq!(ctl.revision(), base + 2, "the expiry is one delete");
    ctl.run(&["lease", "timetolive", &hex])
        .assert_stdout(&format!("lease {hex} already expired\n"));
    assert!(!listed(&ctl).contains(&id));
    let out = watch.terminate();
    assert_eq!(out.stdout, "PUT\nle/k\nv\nDELETE\nle/k\n\n", "{out}");
}
