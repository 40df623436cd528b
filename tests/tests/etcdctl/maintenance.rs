//! The Maintenance service through etcdctl: endpoint status, health and
//! hashkv, alarm list and disarm, defrag, snapshot save, and the NOSPACE
//! alarm. Values etcd chooses freely (ids, raft indexes, sizes, hashes) are
//! checked for type and consistency, not value.

use keel_tests::format::{fields, table_rows};
use keel_tests::{cases, run_cases, Flavor, Server};
use serde_json::{json, Value};

use crate::support::{incompressible_text, is_go_duration, is_v3_version, put};

/// One server, the maintenance cases one after the other (hashkv needs a
/// server nobody else writes to).
pub fn suite(flavor: Flavor) {
    let server = Server::start(flavor);
    run_cases(
        &server,
        cases![
            endpoint_health,
            endpoint_status,
            endpoint_hashkv,
            alarm_list_and_disarm,
            defrag,
            snapshot
        ],
    );
}

fn endpoint_health(server: &Server) {
    let ctl = server.etcdctl();
    let endpoint = server.endpoint();
    // The simple format writes the verdict to stderr, not stdout.
    let out = ctl.run(&["endpoint", "health"]);
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout, "", "{out}");
    let prefix = format!("{endpoint} is healthy: successfully committed proposal: took = ");
    let took = out
        .stderr
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix('\n'))
        .unwrap_or_else(|| panic!("unexpected health line\n{out}"));
    assert!(is_go_duration(took), "{out}");

    let out = ctl.run(&["endpoint", "health", "-w", "json"]);
    let health = out.assert_success().json();
    let took = health[0]["took"].as_str().unwrap_or_default().to_owned();
    assert!(is_go_duration(&took), "{out}");
    assert_eq!(
        health,
        json!([{"endpoint": endpoint, "health": true, "took": took}])
    );

    let out = ctl.run(&["endpoint", "health", "-w", "table"]);
    let rows = table_rows(&out.assert_success().stdout);
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!(rows[0], ["ENDPOINT", "HEALTH", "TOOK", "ERROR"]);
    assert_eq!(
        [&rows[1][0], &rows[1][1], &rows[1][3]],
        [&endpoint, "true", ""]
    );
    assert!(is_go_duration(&rows[1][2]), "{out}");
}

/// Checks one `Status` object of `endpoint status -w json` (keys camelCase,
/// header snake_case) and returns it.
#[track_caller]
fn check_status_json(status: &Value, member_id: u64, raft_term: u64, revision: i64) {
    let header = keel_tests::Header::from_json(&status["header"]);
    assert_eq!(header.member_id, member_id);
    assert_eq!(header.raft_term, raft_term);
    assert_eq!(header.revision, revision);
    let version = status["version"].as_str().unwrap_or_default();
    assert!(
        is_v3_version(version),
        "version {version:?} is not 3.x.y: {status}"
    );
    let db_size = status["dbSize"].as_u64().expect("dbSize");
    assert!(db_size > 0, "{status}");
    assert_eq!(
        status["leader"],
        json!(member_id),
        "a single node leads itself"
    );
    assert_eq!(status["raftTerm"], json!(raft_term));
    let raft_index = status["raftIndex"].as_u64().expect("raftIndex");
    let applied = status["raftAppliedIndex"]
        .as_u64()
        .expect("raftAppliedIndex");
    assert!(0 < applied && applied <= raft_index, "{status}");
    if let Some(in_use) = status.get("dbSizeInUse") {
        assert!(in_use.as_u64().expect("dbSizeInUse") <= db_size, "{status}");
    }
    // Zero values are left out: a voter has no isLearner, a healthy member no errors.
    assert!(status.get("isLearner").is_none(), "{status}");
    assert!(status.get("errors").is_none(), "{status}");
    let known = [
        "header",
        "version",
        "dbSize",
        "leader",
        "raftIndex",
        "raftTerm",
        "raftAppliedIndex",
        "dbSizeInUse",
    ];
    for key in status.as_object().expect("Status is an object").keys() {
        assert!(
            known.contains(&key.as_str()),
            "unexpected Status field {key}: {status}"
        );
    }
}

fn endpoint_status(server: &Server) {
    let ctl = server.etcdctl();
    let endpoint = server.endpoint();
    put(&ctl, "st/k", "v");
    let header = ctl.header();
    let member_hex = format!("{:x}", header.member_id);

    let out = ctl.run(&["endpoint", "status", "-w", "json"]);
    let json = out.assert_success().json();
    assert_eq!(json.as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(json[0]["Endpoint"], json!(endpoint));
    assert_eq!(
        json[0].as_object().map(serde_json::Map::len),
        Some(2),
        "{out}"
    );
    check_status_json(
        &json[0]["Status"],
        header.member_id,
        header.raft_term,
        header.revision,
    );

    // Simple: endpoint, id in hex, version, db size, is leader, is learner,
    // raft term, raft index, raft applied index, errors (empty).
    let out = ctl.run(&["endpoint", "status"]);
    let line = out
        .assert_success()
        .stdout
        .strip_suffix('\n')
        .expect("one line");
    let columns: Vec<&str> = line.split(", ").collect();
    assert_eq!(columns.len(), 10, "{out}");
    check_status_row(&columns, &endpoint, &member_hex, header.raft_term);
    assert_eq!(columns[9], "", "{out}");

    let out = ctl.run(&["endpoint", "status", "-w", "table"]);
    let rows = table_rows(&out.assert_success().stdout);
    assert_eq!(rows.len(), 2, "{out}");
    let titles = [
        "ENDPOINT",
        "ID",
        "VERSION",
        "DB SIZE",
        "IS LEADER",
        "IS LEARNER",
        "RAFT TERM",
        "RAFT INDEX",
        "RAFT APPLIED INDEX",
        "ERRORS",
    ];
    assert_eq!(rows[0], titles);
    let cells: Vec<&str> = rows[1].iter().map(String::as_str).collect();
    check_status_row(&cells, &endpoint, &member_hex, header.raft_term);
    assert_eq!(cells[9], "");

    let out = ctl.run(&["endpoint", "status", "-w", "fields"]);
    let pairs = fields(&out.assert_success().stdout);
    let names: Vec<&str> = pairs.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "ClusterID",
            "MemberID",
            "Revision",
            "RaftTerm",
            "Version",
            "DBSize",
            "Leader",
            "IsLearner",
            "RaftIndex",
            "RaftTerm",
            "RaftAppliedIndex",
            "Errors",
            "Endpoint",
        ]
    );
    let value = |index: usize| pairs[index].1.as_str();
    assert_eq!(value(0), header.cluster_id.to_string());
    assert_eq!(value(1), header.member_id.to_string());
    assert_eq!(value(2), header.revision.to_string());
    assert!(is_v3_version(value(4).trim_matches('"')), "{out}");
    assert!(value(5).parse::<u64>().is_ok_and(|size| size > 0), "{out}");
    assert_eq!(value(6), header.member_id.to_string());
    assert_eq!(value(7), "false");
    assert_eq!(value(11), "[]");
    assert_eq!(value(12), format!("\"{endpoint}\""));
}

/// The columns shared by the simple and table formats of endpoint status.
#[track_caller]
fn check_status_row(columns: &[&str], endpoint: &str, member_hex: &str, raft_term: u64) {
    assert_eq!(columns[0], endpoint);
    assert_eq!(
        columns[1], member_hex,
        "the member id in hex, not zero-padded"
    );
    assert!(is_v3_version(columns[2]), "{columns:?}");
    // Humanised size: "25 kB".
    assert!(
        columns[3].ends_with('B') && columns[3].contains(' '),
        "{columns:?}"
    );
    assert_eq!(columns[4], "true");
    assert_eq!(columns[5], "false");
    assert_eq!(columns[6], raft_term.to_string());
    let index: u64 = columns[7].parse().expect("raft index");
    let applied: u64 = columns[8].parse().expect("raft applied index");
    assert!(0 < applied && applied <= index, "{columns:?}");
}

/// `endpoint hashkv -w json` → (hash, the whole HashKV object).
#[track_caller]
fn hashkv(server: &Server, revision: Option<i64>) -> (u64, Value) {
    let mut args = vec![
        "endpoint".to_owned(),
        "hashkv".to_owned(),
        "-w".to_owned(),
        "json".to_owned(),
    ];
    if let Some(revision) = revision {
        args.push(format!("--rev={revision}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = server.etcdctl().run(&args);
    let json = out.assert_success().json();
    assert_eq!(json.as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(json[0]["Endpoint"], json!(server.endpoint()));
    let hashkv = json[0]["HashKV"].clone();
    let hash = hashkv["hash"].as_u64().expect("hash");
    assert!(u32::try_from(hash).is_ok(), "the hash is a uint32: {out}");
    (hash, hashkv)
}

fn endpoint_hashkv(server: &Server) {
    let ctl = server.etcdctl();
    let endpoint = server.endpoint();
    put(&ctl, "hk/a", "1");
    let header = ctl.header();
    let (hash, object) = hashkv(server, None);
    // Never compacted: etcd reports compact_revision -1.
    assert_eq!(
        object,
        json!({"header": header.json_at(header.revision), "hash": hash, "compact_revision": -1})
    );
    ctl.run(&["endpoint", "hashkv"])
        .assert_stdout(&format!("{endpoint}, {hash}\n"));
    let out = ctl.run(&["endpoint", "hashkv", "-w", "table"]);
    assert_eq!(
        table_rows(&out.assert_success().stdout),
        [["ENDPOINT", "HASH"], [endpoint.as_str(), &hash.to_string()]]
    );
    ctl.run(&["endpoint", "hashkv", "-w", "fields"])
        .assert_stdout(&format!(
            "{}\"Endpoint\" : \"{endpoint}\"\n\"Hash\" : {hash}\n\n",
            header.fields_at(header.revision)
        ));

    // No-ops leave the hash alone.
    ctl.run(&["get", "hk/a"]).assert_stdout("hk/a\n1\n");
    ctl.run(&["del", "hk/missing"]).assert_stdout("0\n");
    assert_eq!(
        hashkv(server, None).0,
        hash,
        "reads and no-op deletes change nothing"
    );

    // A write changes it; the hash at an old revision stays what it was.
    put(&ctl, "hk/a", "2");
    let after_put = hashkv(server, None).0;
    assert_ne!(after_put, hash, "a put changes the hash");
    ctl.run(&["del", "hk/a"]).assert_stdout("1\n");
    let after_del = hashkv(server, None).0;
    assert_ne!(after_del, after_put, "a delete changes the hash");
    assert_eq!(hashkv(server, Some(header.revision)).0, hash);
    assert_eq!(hashkv(server, Some(header.revision + 1)).0, after_put);
}

fn alarm_list_and_disarm(server: &Server) {
    let ctl = server.etcdctl();
    ctl.run(&["alarm", "list"]).assert_stdout("");
    ctl.run(&["alarm", "disarm"]).assert_stdout("");
    for command in ["list", "disarm"] {
        let out = ctl.run(&["alarm", command, "-w", "json"]);
        check_alarm_json(&out.assert_success().json(), &[]);
    }
}

/// An AlarmResponse as JSON. etcd 3.4 sends it without a header (prints
/// `{}` when there is no alarm); a header, if sent, must be well formed.
#[track_caller]
fn check_alarm_json(json: &Value, alarms: &[Value]) {
    let object = json.as_object().expect("an object");
    for key in object.keys() {
        assert!(
            ["header", "alarms"].contains(&key.as_str()),
            "unexpected field {key}: {json}"
        );
    }
    if let Some(header) = object.get("header") {
        keel_tests::Header::from_json(header);
    }
    let listed = object.get("alarms").cloned().unwrap_or(json!([]));
    assert_eq!(listed, json!(alarms), "{json}");
}

fn defrag(server: &Server) {
    let ctl = server.etcdctl();
    put(&ctl, "df/k", "v");
    let revision = ctl.revision();
    let (hash, _) = hashkv(server, None);
    let done = format!(
        "Finished defragmenting etcd member[{}]\n",
        server.endpoint()
    );
    ctl.run(&["defrag"]).assert_stdout(&done);
    // No other format: always this line.
    ctl.run(&["defrag", "-w", "json"]).assert_stdout(&done);
    assert_eq!(
        hashkv(server, None).0,
        hash,
        "defrag does not change the data"
    );
    assert_eq!(ctl.revision(), revision);
    ctl.run(&["get", "df/k"]).assert_stdout("df/k\nv\n");
}

fn snapshot(server: &Server) {
    let ctl = server.etcdctl();
    for key in ["sn/a", "sn/b", "sn/c"] {
        put(&ctl, key, "v");
    }
    let revision = ctl.revision();
    let path = server.dir().join("snapshot.db");
    let path_text = path.display().to_string();
    let out = ctl.run(&["snapshot", "save", &path_text]);
    // etcdctl logs its progress on stderr.
    assert!(out.success(), "{out}");
    assert_eq!(
        out.stdout,
        format!("Snapshot saved at {path_text}\n"),
        "{out}"
    );
    let size = std::fs::metadata(&path).expect("the snapshot file").len();
    // etcdctl keeps the stream's sha256 trailer in the file, and accepts
    // the stream only if its length is 32 past a multiple of 512.
    assert_eq!(size % 512, 32, "a sha256 trailer at a sector boundary");
    assert!(
        !server.dir().join("snapshot.db.part").exists(),
        "the .part file was renamed"
    );

    if server.flavor() == Flavor::Keeld {
        // keeld streams its own snapshot format (kv-server/FORMAT.md), not a
        // bbolt file, so `etcdctl snapshot status` cannot read it; the proof
        // that the file is complete is restoring a new member from it.
        let arg = format!("--restore-snapshot={path_text}");
        let restored = Server::start_with_args(Flavor::Keeld, &[arg.as_str()]);
        let restored_ctl = restored.etcdctl();
        restored_ctl
            .run(&["get", "sn/", "--prefix", "--keys-only"])
            .assert_stdout("sn/a\n\nsn/b\n\nsn/c\n\n");
        assert_eq!(
            restored_ctl.revision(),
            revision,
            "the restored member is at the snapshot's revision"
        );
        drop(restored);
        refuses_a_damaged_snapshot(server, &path);
        return;
    }

    // `snapshot status` reads the file itself (a bbolt database in etcd's
    // layout): the last revision of its "key" bucket, and its key count over
    // all buckets (so more than the puts; the exact number is etcd's).
    let out = ctl.run(&["snapshot", "status", &path_text, "-w", "json"]);
    let status = out.assert_success().json();
    let object = status.as_object().expect("an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["hash", "revision", "totalKey", "totalSize"], "{out}");
    assert_eq!(status["revision"], json!(revision), "{out}");
    let total_keys = status["totalKey"].as_u64().expect("totalKey");
    assert!(total_keys >= 3, "{out}");
    let total_size = status["totalSize"].as_u64().expect("totalSize");
    assert!(0 < total_size && total_size <= size, "{out}");
    let hash = status["hash"].as_u64().expect("hash");

    // Simple: hash in hex, revision, total keys, humanised size.
    let out = ctl.run(&["snapshot", "status", &path_text]);
    let line = out
        .assert_success()
        .stdout
        .strip_suffix('\n')
        .expect("one line");
    let columns: Vec<&str> = line.split(", ").collect();
    assert_eq!(columns.len(), 4, "{out}");
    assert_eq!(columns[0], format!("{hash:x}"));
    assert_eq!(columns[1], revision.to_string());
    assert_eq!(columns[2], total_keys.to_string());
    assert!(columns[3].ends_with('B'), "{out}");
}

/// The NOSPACE alarm on a server with a 1 MiB quota: writes fail, reads and
/// deletes work, and compact + defrag + disarm recover.
pub fn nospace_suite(flavor: Flavor) {
    const QUOTA_BYTES: usize = 1024 * 1024;
    const VALUE_BYTES: usize = 100 * 1024;
    const NOSPACE: &str = "etcdserver: mvcc: database space exceeded";
    let server =
        Server::start_with_args(flavor, &[&format!("--quota-backend-bytes={QUOTA_BYTES}")]);
    let ctl = server.etcdctl();
    let member_id = ctl.header().member_id;

    let mut accepted = 0;
    for index in 0..(4 * QUOTA_BYTES / VALUE_BYTES) {
        let key = format!("ns/{index:02}");
        let value = incompressible_text(VALUE_BYTES, index as u64);
        let out = ctl.run_with_stdin(&["put", &key], &value);
        if !out.success() {
            out.assert_server_error("ResourceExhausted", NOSPACE);
            break;
        }
        out.assert_stdout("OK\n");
        accepted += 1;
    }
    assert!(accepted > 0, "the first value fits the quota");
    assert!(
        accepted < 4 * QUOTA_BYTES / VALUE_BYTES,
        "the quota was never hit"
    );

    let alarm_line = format!("memberID:{member_id} alarm:NOSPACE \n");
    ctl.run(&["alarm", "list"]).assert_stdout(&alarm_line);
    let out = ctl.run(&["alarm", "list", "-w", "json"]);
    // The alarm type is the enum's number: NOSPACE = 1.
    check_alarm_json(
        &out.assert_success().json(),
        &[json!({"memberID": member_id, "alarm": 1})],
    );
    let out = ctl.run(&["endpoint", "status", "-w", "json"]);
    assert_eq!(
        out.assert_success().json()[0]["Status"]["errors"],
        json!([alarm_line.trim_end_matches('\n')])
    );

    // Even a small write is refused while the alarm is raised...
    ctl.run(&["put", "ns/small", "v"])
        .assert_server_error("ResourceExhausted", NOSPACE);
    // ...but reads, deletes, compaction and defrag work.
    ctl.run(&["get", "ns/00", "--keys-only"])
        .assert_stdout("ns/00\n\n");
    let out = ctl.run(&["del", "ns/", "--prefix"]);
    let deleted: usize = out.assert_success().stdout.trim().parse().expect("a count");
    // etcd applies the write that crossed the quota, and reports it failed.
    assert!(deleted == accepted || deleted == accepted + 1, "{out}");
    let revision = ctl.revision();
    ctl.run(&["compaction", &revision.to_string(), "--physical"])
        .assert_stdout(&format!("compacted revision {revision}\n"));
    ctl.run(&["defrag"]).assert_stdout(&format!(
        "Finished defragmenting etcd member[{}]\n",
        server.endpoint()
    ));
    // The alarm stays until disarmed; disarm prints what it cleared.
    ctl.run(&["alarm", "list"]).assert_stdout(&alarm_line);
    ctl.run(&["alarm", "disarm"]).assert_stdout(&alarm_line);
    ctl.run(&["alarm", "list"]).assert_stdout("");
    put(&ctl, "ns/small", "v");
    ctl.run(&["get", "ns/small"]).assert_stdout("ns/small\nv\n");
    let out = ctl.run(&["endpoint", "status", "-w", "json"]);
    assert!(
        out.assert_success().json()[0]["Status"]
            .get("errors")
            .is_none(),
        "{out}"
    );
}

/// `keeld --restore-snapshot` checks the sha256 trailer: a file with one
/// byte changed is refused with a clear error, and nothing is restored.
fn refuses_a_damaged_snapshot(server: &Server, saved: &std::path::Path) {
    let mut bytes = std::fs::read(saved).expect("the saved snapshot");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    let damaged = server.dir().join("damaged.db");
    std::fs::write(&damaged, &bytes).expect("writing the damaged copy");
    let data_dir = server.dir().join("restored-from-damaged");
    let out = std::process::Command::new(keel_tests::binaries::keeld())
        .arg(format!("--restore-snapshot={}", damaged.display()))
        .arg(format!("--data-dir={}", data_dir.display()))
        .arg(format!(
            "--listen-client-urls=http://127.0.0.1:{}",
            keel_tests::ports::free_port()
        ))
        .arg(format!(
            "--listen-peer-urls=http://127.0.0.1:{}",
            keel_tests::ports::free_port()
        ))
        .output()
        .expect("running keeld");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "keeld refused the file\n{stderr}");
    assert!(
        stderr.contains("sha256 trailer does not match"),
        "the error names the trailer\n{stderr}"
    );
    assert!(
        !data_dir.join("member").exists(),
        "nothing was restored\n{stderr}"
    );
}
