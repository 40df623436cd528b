//! keelctl's golden tests: keelctl and Debian's etcdctl 3.4 run the same
//! commands against one server (etcd 3.4, and keeld), and must print the
//! same bytes. Reads are compared as they are; a write is compared with the
//! same write by etcdctl to a twin key, with the twin's name swapped back.

#![allow(clippy::unwrap_used, reason = "tests")]

use std::time::Duration;

use keel_tests::{Background, Etcdctl, Flavor, Output, Server, Stream};

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
            fn txn_prints_as_etcdctl_prints_it() {
                super::txn_prints_as_etcdctl_prints_it($flavor);
            }

            #[test]
            fn watch_prints_as_etcdctl_prints_it() {
                super::watch_prints_as_etcdctl_prints_it($flavor);
            }

            #[test]
            fn maintenance_commands_print_as_etcdctl_prints_them() {
                super::maintenance_commands_print_as_etcdctl_prints_them($flavor);
            }

            #[test]
            fn member_changes_print_as_etcdctl_prints_them() {
                super::member_changes_print_as_etcdctl_prints_them($flavor);
            }

            #[test]
            fn lock_and_elect_interoperate_with_etcdctl() {
                super::lock_and_elect_interoperate_with_etcdctl($flavor);
            }

            #[test]
            fn check_perf_reports_and_cleans_up() {
                super::check_perf_reports_and_cleans_up($flavor);
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
    // etcdctl's idiom for every key: clientv3 sends the empty key as "\0".
    &["get", "", "--prefix"],
    &["get", "", "--prefix", "--keys-only", "-w", "json"],
    &["get", "", "--from-key", "--limit", "2"],
    &["get", "fruit/apple", "--rev", "2"],
    &["get", "fruit/", "--prefix", "--consistency", "s"],
    &["get", "missing"],
    &["get", "fruit/apple", "-w", "json"],
    &["get", "fruit/", "--prefix", "-w", "json"],
    &["get", "fruit/", "--prefix", "--limit", "1", "-w", "json"],
    &["get", "missing", "-w", "json"],
    &["get", "fruit/", "--prefix", "-w", "fields"],
    &["get", "fruit/apple", "--rev", "2", "-w", "fields"],
    &[
        "get",
        "fruit/",
        "--prefix",
        "--sort-by=VALUE",
        "--order=DESCEND",
    ],
    &["member", "list", "-w", "fields"],
    &["member", "list", "-w", "table"],
    &["endpoint", "status"],
    &["endpoint", "status", "-w", "json"],
    &["endpoint", "status", "-w", "fields"],
    &["endpoint", "status", "-w", "table"],
    &["endpoint", "status", "--cluster", "-w", "table"],
    &["endpoint", "hashkv"],
    &["endpoint", "hashkv", "-w", "json"],
    &["endpoint", "hashkv", "-w", "fields"],
    &["endpoint", "hashkv", "--cluster", "-w", "table"],
    &["alarm", "list"],
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
        same_as_etcdctl(flavor, &etcdctl, &keelctl, args);
    }
}

/// Runs `args` with etcdctl, keelctl, and etcdctl again: keelctl's output
/// must be one of etcdctl's (a status's raft index or DB size may move
/// between two runs, never in a way keelctl could fake).
fn same_as_etcdctl(flavor: Flavor, etcdctl: &Etcdctl, keelctl: &Etcdctl, args: &[&str]) {
    let before = etcdctl.run(args);
    before.assert_success();
    let got = keelctl.run(args);
    got.assert_success();
    if got.stdout == before.stdout {
        return;
    }
    let after = etcdctl.run(args);
    assert_eq!(
        got.stdout, after.stdout,
        "[{flavor}] keelctl {args:?} prints what etcdctl prints (before: {:?})",
        before.stdout
    );
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
        &["put", "KEY", "v5", "-w", "fields"],
        &["put", "KEY", "v6", "--prev-kv", "-w", "fields"],
        &["del", "KEY", "--prev-kv", "-w", "fields"],
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
/// and revisions (one apart between the twins) by `REV`: JSON's
/// `revision`, `create_revision`, `mod_revision` and the fields format's
/// `Revision`, `CreateRevision`, `PrevModRevision`, ...
fn normalize(output: &str, key: &str) -> String {
    let encoded = keel_tests::format::base64(key.as_bytes());
    let text = output.replace(key, "KEY").replace(&encoded, "KEY");
    let mut normalized = String::new();
    let mut rest = text.as_str();
    loop {
        let next = ["evision\":", "evision\" : "]
            .iter()
            .filter_map(|field| rest.find(field).map(|at| at + field.len()))
            .min();
        let Some(end) = next else { break };
        normalized.push_str(&rest[..end]);
        rest = &rest[end..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        normalized.push_str("REV");
        rest = &rest[digits..];
    }
    normalized.push_str(rest);
    normalized
}

/// The transactions compared, `KEY` standing for the twin key.
const TXNS: &[&str] = &[
    "version(\"KEY\") = \"0\"\n\nput KEY t1\n\nput KEY never\n\n",
    "value(\"KEY\") = \"t1\"\n\nget KEY\nput KEY t2 --prev-kv\nget KEY --prefix --keys-only\n\n\n",
    "mod(\"KEY\") < \"0\"\nvalue(\"KEY\") != \"x\"\n\nput KEY no\n\ndel KEY --prev-kv\nget KEY\n\n",
    "create(\"KEY\") = \"0\"\n\nput KEY \"two words\"\n\n\n",
];

/// See the module docs; each transaction in each format.
pub fn txn_prints_as_etcdctl_prints_it(flavor: Flavor) {
    let server = Server::start(flavor);
    let etcdctl = server.etcdctl();
    let keelctl = Etcdctl::keelctl(server.endpoint());
    for format in ["simple", "json", "fields"] {
        for txn in TXNS {
            let args = ["txn", "-w", format];
            let expected =
                etcdctl.run_with_stdin(&args, txn.replace("KEY", "etcdctl-key").as_bytes());
            expected.assert_success();
            let got = keelctl.run_with_stdin(&args, txn.replace("KEY", "keelctl-key").as_bytes());
            got.assert_success();
            assert_eq!(
                normalize(&got.stdout, "keelctl-key"),
                normalize(&expected.stdout, "etcdctl-key"),
                "[{flavor}] keelctl txn -w {format} of {txn:?}"
            );
        }
    }
    for bad in [
        "bad\n\n\n",
        "version(\"k\") = \"x\"\n\n\n",
        "size(\"k\") = \"1\"\n\n\n",
        "\nfrob k\n\n",
        // Input that ends before the failure requests' blank line is
        // etcdctl's "Error: EOF", exit 3.
        "",
        "version(\"k\") = \"0\"",
        "version(\"k\") = \"0\"\n\nput k v\n",
        "version(\"k\") = \"0\"\n\nput k v\n\nput k w\n",
        "version(\"k\") = \"0\"\n\n\nput k w",
    ] {
        let expected = etcdctl.run_with_stdin(&["txn"], bad.as_bytes());
        assert_ne!(expected.code(), Some(0), "etcdctl refuses {bad:?}");
        let got = keelctl.run_with_stdin(&["txn"], bad.as_bytes());
        assert_eq!(
            ending(&got),
            ending(&expected),
            "[{flavor}] keelctl txn refuses {bad:?} as etcdctl does"
        );
    }
}

/// How a failed run ended: its exit status and its last line on standard
/// error (etcdctl logs its retries before it).
fn ending(output: &Output) -> (Option<i32>, Option<&str>) {
    (output.code(), output.stderr.lines().last())
}

/// Everything a long-running command printed until it went quiet for a
/// second (after its first line), then stops it.
fn until_quiet(mut running: Background) -> String {
    let mut text = running.read_stdout(1);
    while let Some(line) = running.next_line(Stream::Stdout, Duration::from_secs(1)) {
        text.push_str(&line);
    }
    running.kill();
    text
}

/// See the module docs: a watch replaying history (puts, a put with a
/// previous value, a delete) in each format, and a watch of a compacted
/// revision.
pub fn watch_prints_as_etcdctl_prints_it(flavor: Flavor) {
    let server = Server::start(flavor);
    let etcdctl = server.etcdctl();
    let keelctl = Etcdctl::keelctl(server.endpoint());
    let first = etcdctl.revision() + 1;
    for (key, value) in [("w/a", "1"), ("w/b", "2"), ("w/a", "3")] {
        etcdctl.run(&["put", key, value]).assert_success();
    }
    etcdctl.run(&["del", "w/b"]).assert_success();
    let from = first.to_string();
    for format in ["simple", "json", "fields"] {
        let args = [
            "watch",
            "w/",
            "--prefix",
            "--prev-kv",
            "--rev",
            &from,
            "-w",
            format,
        ];
        let expected = until_quiet(etcdctl.spawn(&args));
        let got = until_quiet(keelctl.spawn(&args));
        assert_eq!(got, expected, "[{flavor}] keelctl watch -w {format}");
    }
    let compact_to = etcdctl.revision();
    etcdctl
        .run(&["compaction", &compact_to.to_string()])
        .assert_success();
    let args = ["watch", "w/a", "--rev", &from];
    let expected = etcdctl.run(&args);
    let got = keelctl.run(&args);
    assert_eq!(
        (got.stdout.as_str(), ending(&got)),
        (expected.stdout.as_str(), ending(&expected)),
        "[{flavor}] a watch of a compacted revision ends as etcdctl's does"
    );
}

/// `endpoint health`'s output with the measured time replaced by `TOOK`.
fn without_took(output: &str) -> String {
    let mut text = String::new();
    for line in output.lines() {
        let marked = ["took = ", "\"took\":\"", "\"Took\" : "]
            .iter()
            .find_map(|marker| line.find(marker).map(|at| at + marker.len()));
        match marked {
            Some(start) => {
                let end = line[start..]
                    .find(['"', ','])
                    .map_or(line.len(), |end| start + end);
                text.push_str(&line[..start]);
                text.push_str("TOOK");
                text.push_str(&line[end..]);
            }
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

/// See the module docs: health, compaction, defrag, move-leader and
/// snapshot save.
pub fn maintenance_commands_print_as_etcdctl_prints_them(flavor: Flavor) {
    let server = Server::start(flavor);
    let etcdctl = server.etcdctl();
    let keelctl = Etcdctl::keelctl(server.endpoint());
    etcdctl.run(&["put", "m/a", "1"]).assert_success();
    let health = |ctl: &Etcdctl, format: &str| {
        // The simple lines go to standard error.
        let out = ctl
            .try_run(&["endpoint", "health", "-w", format], None)
            .unwrap();
        assert!(out.success(), "[{flavor}] {out:?}");
        without_took(&format!("{}{}", out.stdout, out.stderr))
    };
    for format in ["simple", "json", "fields"] {
        assert_eq!(
            health(&keelctl, format),
            health(&etcdctl, format),
            "[{flavor}] keelctl endpoint health -w {format}"
        );
    }
    for args in [
        vec!["defrag"],
        vec!["defrag", "--cluster"],
        vec!["alarm", "list", "-w", "json"],
        vec!["alarm", "disarm"],
    ] {
        same_as_etcdctl(flavor, &etcdctl, &keelctl, &args);
    }
    let member = etcdctl.header().member_id;
    same_as_etcdctl(
        flavor,
        &etcdctl,
        &keelctl,
        &["move-leader", &format!("{member:x}")],
    );

    let first = etcdctl.revision();
    etcdctl.run(&["put", "m/a", "2"]).assert_success();
    let second = etcdctl.revision();
    etcdctl
        .run(&["compaction", &first.to_string()])
        .assert_stdout(&format!("compacted revision {first}\n"));
    keelctl
        .run(&["compaction", &second.to_string(), "--physical"])
        .assert_stdout(&format!("compacted revision {second}\n"));
    let expected = etcdctl.run(&["compaction", &first.to_string()]);
    let got = keelctl.run(&["compaction", &first.to_string()]);
    assert_eq!(
        ending(&got),
        ending(&expected),
        "[{flavor}] compacting an old revision fails as in etcdctl"
    );

    let directory = tempfile::tempdir().unwrap();
    let by_etcdctl = directory.path().join("etcdctl.snap");
    let by_keelctl = directory.path().join("keelctl.snap");
    let by_etcdctl = by_etcdctl.to_str().unwrap();
    let by_keelctl = by_keelctl.to_str().unwrap();
    // etcdctl logs its progress on standard error.
    let saved = etcdctl
        .try_run(&["snapshot", "save", by_etcdctl], None)
        .unwrap();
    assert_eq!(saved.stdout, format!("Snapshot saved at {by_etcdctl}\n"));
    keelctl
        .run(&["snapshot", "save", by_keelctl])
        .assert_stdout(&format!("Snapshot saved at {by_keelctl}\n"));
    let (expected, got) = (
        std::fs::read(by_etcdctl).unwrap(),
        std::fs::read(by_keelctl).unwrap(),
    );
    // etcd streams the same bytes twice; keeld's snapshots differ in their
    // metadata's snapshot ID (a counter per Maintenance.Snapshot call) and
    // so in the sha256 trailer, nowhere else.
    let differing = got.iter().zip(&expected).filter(|(a, b)| a != b).count();
    let allowed = match flavor {
        Flavor::Etcd => 0,
        Flavor::Keeld => 32 + 8,
    };
    assert!(
        got.len() == expected.len() && differing <= allowed,
        "[{flavor}] keelctl saves what etcdctl saves ({} and {} bytes, {differing} differ)",
        got.len(),
        expected.len()
    );
    assert!(
        !std::path::Path::new(&format!("{by_keelctl}.part")).exists(),
        "[{flavor}] no partial file is left behind"
    );
    snapshot_status(flavor, &keelctl, by_keelctl, etcdctl.revision());
}

/// keelctl's `snapshot status` of a file saved at `revision`: keel's
/// format read and checked (etcd's bbolt files are etcdctl's to read), in
/// etcdctl's layout, and a damaged file refused.
fn snapshot_status(flavor: Flavor, keelctl: &Etcdctl, path: &str, revision: i64) {
    let status = keelctl.run(&["snapshot", "status", path, "-w", "json"]);
    if flavor == Flavor::Etcd {
        assert!(
            status.stderr.contains("not a keel snapshot") && !status.success(),
            "[{flavor}] {status:?}"
        );
        return;
    }
    let json = status.assert_success().json();
    assert_eq!(json["revision"], revision, "[{flavor}] {json}");
    let size = std::fs::metadata(path).unwrap().len();
    let total_size = json["totalSize"].as_u64().unwrap();
    assert!(
        total_size > 12 && total_size + 32 <= size,
        "[{flavor}] {json} of {size} bytes"
    );
    let simple = keelctl.run(&["snapshot", "status", path]);
    let fields: Vec<String> = simple
        .assert_success()
        .stdout
        .trim_end()
        .split(", ")
        .map(str::to_owned)
        .collect();
    assert_eq!(
        fields[..3],
        [
            format!("{:x}", json["hash"].as_u64().unwrap()),
            revision.to_string(),
            json["totalKey"].to_string()
        ],
        "[{flavor}] {simple:?}"
    );
    let table = keelctl.run(&["snapshot", "status", path, "-w", "table"]);
    assert!(
        table.assert_success().stdout.contains("| TOTAL KEYS |"),
        "[{flavor}] {table:?}"
    );
    // Restored (by keeld, beside keelctl), the file serves its keys again.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    keelctl
        .run(&["snapshot", "restore", path, "--data-dir", data])
        .assert_stdout("");
    let again = keelctl.run(&["snapshot", "restore", path, "--data-dir", data]);
    assert!(
        !again.success() && again.stderr.contains("already holds a member"),
        "[{flavor}] a second restore into one directory is refused: {again:?}"
    );
    let restored = Server::start_in(flavor, dir, &[]);
    let restored_ctl = restored.etcdctl();
    restored_ctl
        .run(&["get", "m/a", "--print-value-only"])
        .assert_stdout("2\n");
    assert_eq!(
        restored_ctl.revision(),
        revision,
        "[{flavor}] the snapshot's revision"
    );
    drop(restored);

    let mut damaged = std::fs::read(path).unwrap();
    damaged[20] ^= 0xff;
    let damaged_path = format!("{path}.damaged");
    std::fs::write(&damaged_path, damaged).unwrap();
    let refused = keelctl.run(&["snapshot", "status", &damaged_path]);
    assert!(
        !refused.success() && refused.stderr.contains("damaged"),
        "[{flavor}] {refused:?}"
    );
}

/// A member change's output with the member's ID, name and peer URL
/// replaced by placeholders. The ID is random: `%16x` pads a short one
/// with a space, and it decides where the member comes in the initial
/// cluster, so the padding goes and the initial cluster is sorted.
fn member_output(output: &Output, id: &str, name: &str, url: &str) -> String {
    let text = format!(
        "{}{}",
        output.stdout,
        output.stderr.lines().last().unwrap_or("")
    )
    .replace(&format!("{id:>16}"), "ID")
    .replace(name, "NAME")
    .replace(url, "URL");
    text.lines()
        .map(|line| match line.strip_prefix("ETCD_INITIAL_CLUSTER=") {
            Some(members) => {
                let mut members: Vec<&str> = members.trim_matches('"').split(',').collect();
                members.sort_unstable();
                format!("ETCD_INITIAL_CLUSTER={}\n", members.join(","))
            }
            None => format!("{line}\n"),
        })
        .collect()
}

/// The hex ID in `Member <id> added to cluster ...`.
fn added_id(output: &Output) -> String {
    output.assert_success();
    output.stdout.split_whitespace().nth(1).unwrap().to_string()
}

/// See the module docs: a learner added, promoted too early (refused),
/// updated and removed, by each tool.
pub fn member_changes_print_as_etcdctl_prints_them(flavor: Flavor) {
    let server = Server::start(flavor);
    let run = |ctl: &Etcdctl, name: &str, ports: [u16; 2]| {
        let url = format!("http://127.0.0.1:{}", ports[0]);
        let moved = format!("http://127.0.0.1:{}", ports[1]);
        let added = ctl.run(&[
            "member",
            "add",
            name,
            &format!("--peer-urls={url}"),
            "--learner",
        ]);
        let id = added_id(&added);
        let outputs = [
            added,
            ctl.run(&["member", "promote", &id]),
            ctl.run(&["member", "update", &id, &format!("--peer-urls={moved}")]),
            ctl.run(&["member", "remove", &id]),
        ];
        outputs
            .iter()
            .map(|output| member_output(output, &id, name, &url).replace(&moved, "MOVED"))
            .collect::<Vec<_>>()
    };
    let expected = run(&server.etcdctl(), "by-etcdctl", [1001, 1002]);
    let got = run(
        &Etcdctl::keelctl(server.endpoint()),
        "by-keelctl",
        [1003, 1004],
    );
    assert_eq!(
        got, expected,
        "[{flavor}] member add, promote, update, remove"
    );
}

/// See the module docs: keelctl's lock and election keys are etcdctl's,
/// so each waits for the other.
pub fn lock_and_elect_interoperate_with_etcdctl(flavor: Flavor) {
    let server = Server::start(flavor);
    let etcdctl = server.etcdctl();
    let keelctl = Etcdctl::keelctl(server.endpoint());
    let mut holder = keelctl.spawn(&["lock", "shared"]);
    let key = holder.read_stdout(2);
    assert!(
        key.starts_with("shared/") && key.ends_with("\n\n"),
        "[{flavor}] keelctl lock prints its key and empty value: {key:?}"
    );
    let mut waiter = etcdctl.spawn(&["lock", "shared"]);
    waiter.assert_no_stdout_for(Duration::from_secs(1));
    holder.terminate().assert_success();
    let next = waiter.read_stdout(2);
    assert!(
        next.starts_with("shared/") && next != key,
        "[{flavor}] {next:?}"
    );
    waiter.terminate();
    // Held, the lock's key prints as `get` prints it, in any of its formats.
    let mut fielded = keelctl.spawn(&["lock", "fielded", "-w", "fields"]);
    let fields = fielded.read_stdout(12);
    assert!(
        fields.starts_with("\"ClusterID\" : ")
            && fields.contains("\"Key\" : \"fielded/")
            && fields.ends_with("\"More\" : false\n\"Count\" : 1\n"),
        "[{flavor}] {fields:?}"
    );
    fielded.terminate().assert_success();
    let ran = keelctl.run(&["lock", "shared", "sh", "-c", "echo \"$ETCD_LOCK_KEY\""]);
    ran.assert_success();
    assert!(
        ran.stdout.starts_with("shared/"),
        "[{flavor}] the command sees the lock's key: {:?}",
        ran.stdout
    );

    let mut leader = keelctl.spawn(&["elect", "chosen", "by-keelctl"]);
    let led = leader.read_stdout(2);
    let mut listener = etcdctl.spawn(&["elect", "chosen", "--listen"]);
    assert_eq!(
        listener.read_stdout(2),
        led,
        "[{flavor}] etcdctl sees keelctl lead"
    );
    listener.kill();
    let mut listener = keelctl.spawn(&["elect", "chosen", "--listen"]);
    assert_eq!(listener.read_stdout(2), led, "[{flavor}] keelctl --listen");
    listener.kill();
    assert!(led.ends_with("\nby-keelctl\n"), "[{flavor}] {led:?}");
    leader.terminate().assert_success();
}

/// `check perf` prints etcdctl's four verdict lines (whether they pass is
/// the machine's business: speed belongs in benchmarks), deletes its keys,
/// and refuses a prefix that holds keys.
pub fn check_perf_reports_and_cleans_up(flavor: Flavor) {
    let server = Server::start(flavor);
    let etcdctl = server.etcdctl();
    let keelctl = Etcdctl::keelctl(server.endpoint());
    let out = keelctl
        .try_run(
            &["check", "perf", "--duration", "2s", "--auto-compact"],
            None,
        )
        .unwrap();
    let lines: Vec<&str> = out.stdout.lines().collect();
    let verdicts = ["Throughput", "Slowest request", "Stddev"];
    assert!(
        lines.len() == 4
            && lines
                .iter()
                .zip(verdicts)
                .all(|(line, what)| line.contains(what))
            && (lines[3] == "PASS") == out.success(),
        "[{flavor}] {out:?}"
    );
    etcdctl
        .run(&["get", "/etcdctl-check-perf/", "--prefix", "--keys-only"])
        .assert_stdout("");
    etcdctl.run(&["put", "used/x", "1"]).assert_success();
    let refused = keelctl.run(&["check", "perf", "--prefix", "used/", "--duration", "1s"]);
    assert_eq!(refused.code(), Some(3), "[{flavor}] {refused:?}");
    assert!(
        refused.stderr.contains("delete it first"),
        "[{flavor}] {refused:?}"
    );
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
    let table = keelctl.run(&["get", "k", "-w", "table"]);
    assert_eq!(table.code(), Some(4), "[{flavor}] {table:?}");
    assert!(table
        .stderr
        .contains("table not supported as output format"));
    let unhealthy = Etcdctl::keelctl("127.0.0.1:1").run(&[
        "endpoint",
        "health",
        "--dial-timeout",
        "1s",
        "--command-timeout",
        "2s",
    ]);
    assert_eq!(unhealthy.code(), Some(1), "[{flavor}] {unhealthy:?}");
    assert!(
        unhealthy.stderr.contains("127.0.0.1:1 is unhealthy")
            && unhealthy.stderr.contains("Error: unhealthy cluster"),
        "[{flavor}] {unhealthy:?}"
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
    for args in [
        vec!["lease", "timetolive", keelctl_id.as_str()],
        vec!["lease", "timetolive", keelctl_id.as_str(), "--keys"],
        vec!["lease", "timetolive", "1234abcd"],
        vec!["lease", "keep-alive", "--once", keelctl_id.as_str()],
        vec![
            "lease",
            "timetolive",
            keelctl_id.as_str(),
            "--keys",
            "-w",
            "json",
        ],
        vec!["lease", "timetolive", keelctl_id.as_str(), "-w", "fields"],
        vec!["lease", "timetolive", "1234abcd", "-w", "json"],
        vec![
            "lease",
            "keep-alive",
            "--once",
            keelctl_id.as_str(),
            "-w",
            "json",
        ],
        vec![
            "lease",
            "keep-alive",
            "--once",
            keelctl_id.as_str(),
            "-w",
            "fields",
        ],
    ] {
        // The remaining TTL is whole seconds: a second may tick over
        // between two runs, so keelctl must match etcdctl's before or after.
        same_as_etcdctl(flavor, &etcdctl, &keelctl, &args);
    }
    // etcd lists a lease's keys in no fixed order, so the second comes
    // after the comparisons.
    etcdctl
        .run(&["put", "leased/b", "1", "--lease", &keelctl_id])
        .assert_success();
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
