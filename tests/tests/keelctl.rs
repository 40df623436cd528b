//! keelctl's golden tests: keelctl and Debian's etcdctl 3.4 run the same
//! commands against one server (etcd 3.4, and keeld), and must print the
//! same bytes. Reads are compared as they are; a write is compared with the
//! same write by etcdctl to a twin key, with the twin's name swapped back.

#![allow(clippy::unwrap_used, reason = "tests")]

use keel_tests::{Etcdctl, Flavor, Server};

macro_rules! keelctl_suite {
    ($name:ident, $flavor:expr) => {
        mod $name {
            use keel_tests::Flavor;

            #[test]
            fn reads_print_as_etcdctl_prints_them() {
                super::reads_print_as_etcdctl_prints_them($flavor);
            }

            #[test]
            fn writes_print_as_etcdctl_prints_them() {
                super::writes_print_as_etcdctl_prints_them($flavor);
            }

            #[test]
            fn lease_commands_print_as_etcdctl_prints_them() {
                super::lease_commands_print_as_etcdctl_prints_them($flavor);
            }

            #[test]
            fn failures_exit_non_zero_with_a_hint() {
                super::failures_exit_non_zero_with_a_hint($flavor);
            }
        }
    };
}

keelctl_suite!(etcd, Flavor::Etcd);
keelctl_suite!(keeld, Flavor::Keeld);

/// The reads compared, each as etcdctl takes it.
const READS: &[&[&str]] = &[
    &["member", "list"],
    &["member", "list", "-w", "json"],
    &["get", "fruit/apple"],
    &["get", "fruit/", "--prefix"],
    &["get", "fruit/", "--prefix", "--keys-only"],
    &["get", "fruit/", "--prefix", "--print-value-only"],
    &["get", "fruit/", "--prefix", "--limit", "2"],
    &["get", "fruit/apple", "fruit/cherry"],
    &["get", "fruit/b", "--from-key"],
    &["get", "fruit/apple", "--rev", "2"],
    &["get", "fruit/", "--prefix", "--consistency", "s"],
    &["get", "missing"],
    &["get", "fruit/apple", "-w", "json"],
    &["get", "fruit/", "--prefix", "-w", "json"],
    &["get", "fruit/", "--prefix", "--limit", "1", "-w", "json"],
    &["get", "missing", "-w", "json"],
];

/// See the module docs.
pub fn reads_print_as_etcdctl_prints_them(flavor: Flavor) {
    let server = Server::start(flavor);
    let etcdctl = server.etcdctl();
    let keelctl = Etcdctl::keelctl(server.endpoint());
    for (key, value) in [
        ("fruit/apple", "red"),
        ("fruit/banana", "yellow"),
        ("fruit/cherry", "dark red"),
        ("fruit/apple", "green"),
    ] {
        etcdctl.run(&["put", key, value]).assert_success();
    }
    for args in READS {
        let expected = etcdctl.run(args);
        expected.assert_success();
        let got = keelctl.run(args);
        got.assert_success();
        assert_eq!(
            got.stdout, expected.stdout,
            "[{flavor}] keelctl {args:?} prints what etcdctl prints"
        );
    }
}

/// See the module docs.
pub fn writes_print_as_etcdctl_prints_them(flavor: Flavor) {
    let server = Server::start(flavor);
    let etcdctl = server.etcdctl();
    let keelctl = Etcdctl::keelctl(server.endpoint());
    let writes: &[&[&str]] = &[
        &["put", "KEY", "v1"],
        &["put", "KEY", "v2", "--prev-kv"],
        &["put", "KEY", "v3", "--prev-kv", "-w", "json"],
        &["del", "KEY", "--prev-kv"],
        &["put", "KEY", "v4"],
        &["del", "KEY", "-w", "json"],
        &["del", "KEY"],
    ];
    for args in writes {
        let by_etcdctl: Vec<&str> = args
            .iter()
            .map(|arg| if *arg == "KEY" { "etcdctl-key" } else { arg })
            .collect();
        let by_keelctl: Vec<&str> = args
            .iter()
            .map(|arg| if *arg == "KEY" { "keelctl-key" } else { arg })
            .collect();
        let expected = etcdctl.run(&by_etcdctl);
        expected.assert_success();
        let got = keelctl.run(&by_keelctl);
        got.assert_success();
        let expected = normalize(&expected.stdout, "etcdctl-key");
        let got = normalize(&got.stdout, "keelctl-key");
        assert_eq!(got, expected, "[{flavor}] keelctl {args:?}");
    }
}

/// Output with the twin key's name (plain and in base64) replaced by `KEY`
/// and JSON revisions (one apart between the twins) replaced by `REV`.
fn normalize(output: &str, key: &str) -> String {
    let encoded = keel_tests::format::base64(key.as_bytes());
    let mut text = output.replace(key, "KEY").replace(&encoded, "KEY");
    for field in ["\"revision\":", "\"create_revision\":", "\"mod_revision\":"] {
        let mut normalized = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find(field) {
            normalized.push_str(&rest[..at + field.len()]);
            rest = &rest[at + field.len()..];
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            normalized.push_str("REV");
            rest = &rest[digits..];
        }
        normalized.push_str(rest);
        text = normalized;
    }
    text
}

/// See the module docs.
pub fn failures_exit_non_zero_with_a_hint(flavor: Flavor) {
    let server = Server::start(flavor);
    let keelctl = Etcdctl::keelctl(server.endpoint());
    let bad_lease = keelctl.run(&["put", "k", "v", "--lease", "zz"]);
    assert!(!bad_lease.success());
    assert!(
        bad_lease
            .stderr
            .contains("bad lease ID (zz), expecting ID in Hex"),
        "[{flavor}] {}",
        bad_lease.stderr
    );
    let nowhere = Etcdctl::keelctl("127.0.0.1:1").run(&["get", "k", "--dial-timeout", "1s"]);
    assert!(!nowhere.success());
    assert!(
        nowhere.stderr.contains("check --endpoints"),
        "[{flavor}] an unreachable endpoint says what to check: {}",
        nowhere.stderr
    );
}

/// The hex lease ID in `lease <id> granted with TTL(...)`.
fn granted_id(output: &str) -> String {
    output.split_whitespace().nth(1).unwrap().to_string()
}

/// See the module docs.
pub fn lease_commands_print_as_etcdctl_prints_them(flavor: Flavor) {
    let server = Server::start(flavor);
    let etcdctl = server.etcdctl();
    let keelctl = Etcdctl::keelctl(server.endpoint());
    let by_etcdctl = etcdctl.run(&["lease", "grant", "1000"]);
    let by_keelctl = keelctl.run(&["lease", "grant", "1000"]);
    let (etcdctl_id, keelctl_id) = (
        granted_id(&by_etcdctl.stdout),
        granted_id(&by_keelctl.stdout),
    );
    assert_eq!(
        by_keelctl.stdout.replace(&keelctl_id, "ID"),
        by_etcdctl.stdout.replace(&etcdctl_id, "ID"),
        "[{flavor}] lease grant"
    );
    etcdctl
        .run(&["put", "leased/a", "1", "--lease", &keelctl_id])
        .assert_success();
    etcdctl
        .run(&["put", "leased/b", "1", "--lease", &keelctl_id])
        .assert_success();
    for args in [
        vec!["lease", "timetolive", keelctl_id.as_str()],
        vec!["lease", "timetolive", keelctl_id.as_str(), "--keys"],
        vec!["lease", "timetolive", "1234abcd"],
        vec!["lease", "keep-alive", "--once", keelctl_id.as_str()],
    ] {
        // The remaining TTL is whole seconds: a second may tick over
        // between two runs, so keelctl must match etcdctl's before or after.
        let before = etcdctl.run(&args).stdout;
        let got = keelctl.run(&args);
        got.assert_success();
        let after = etcdctl.run(&args).stdout;
        assert!(
            got.stdout == before || got.stdout == after,
            "[{flavor}] keelctl {args:?}: {:?}, etcdctl: {before:?} / {after:?}",
            got.stdout
        );
    }
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    assert_eq!(
        sorted(&keelctl.run(&["lease", "list"]).stdout),
        sorted(&etcdctl.run(&["lease", "list"]).stdout),
        "[{flavor}] lease list"
    );
    let revoked = keelctl.run(&["lease", "revoke", &keelctl_id]);
    assert_eq!(revoked.stdout, format!("lease {keelctl_id} revoked\n"));
    let expected = etcdctl.run(&["lease", "revoke", &etcdctl_id]);
    assert_eq!(expected.stdout, format!("lease {etcdctl_id} revoked\n"));
    let gone = etcdctl.run(&["get", "leased/", "--prefix", "--count-only", "-w", "json"]);
    assert!(
        !gone.stdout.contains("\"count\""),
        "[{flavor}] revoke deletes the lease's keys"
    );
}
