//! put, get and del: ranges, revisions, sorting, projections, prev_kv and
//! the output formats. Each case owns a key prefix and computes its
//! expected revisions from the revision it starts at, so the cases share
//! one server but must run one after the other (`run_cases` does).

use keel_tests::{cases, run_cases, Flavor, Server};
use serde_json::json;

use crate::support::{kv_fields, kv_json, put, simple};

/// Starts one server and runs every KV case on it.
pub fn suite(flavor: Flavor) {
    let server = Server::start(flavor);
    run_cases(
        &server,
        cases![
            put_get_del,
            prefix_and_range,
            from_key,
            limit_and_count,
            rev,
            sort,
            keys_only,
            print_value_only,
            prev_kv,
            json_output,
            fields_output,
            table_output,
            endpoint_with_a_scheme,
        ],
    );
}

/// `--endpoints=http://host:port`, as users often write it (and as every
/// `--cluster` command dials the advertised client URLs): etcdctl 3.4 then
/// sends the whole URL as the HTTP/2 `:authority`, which etcd accepts.
fn endpoint_with_a_scheme(server: &Server) {
    let url = server.client_url();
    assert!(url.starts_with("http://"), "{url}");
    let ctl = keel_tests::Etcdctl::new(url);
    put(&ctl, "scheme/k", "v");
    ctl.run(&["get", "scheme/k", "--print-value-only"])
        .assert_stdout("v\n");
    let status = ctl.run(&["endpoint", "status", "--cluster", "-w", "json"]);
    let members = status.json();
    assert_eq!(members.as_array().map(Vec::len), Some(1), "{status}");
    assert_eq!(members[0]["Endpoint"], server.client_url(), "{status}");
}

fn put_get_del(server: &Server) {
    let ctl = server.etcdctl();
    let base = ctl.revision();
    put(&ctl, "basic/k", "v1");
    ctl.run(&["get", "basic/k"]).assert_stdout("basic/k\nv1\n");
    assert_eq!(ctl.revision(), base + 1, "a put bumps the revision by one");
    ctl.run(&["get", "basic/missing"]).assert_stdout("");
    put(&ctl, "basic/k", "v2");
    ctl.run(&["get", "basic/k"]).assert_stdout("basic/k\nv2\n");
    put(&ctl, "basic/spaced key", "a value with spaces");
    ctl.run(&["get", "basic/spaced key"])
        .assert_stdout("basic/spaced key\na value with spaces\n");
    // Without a value argument, put reads the value from stdin, all of it.
    ctl.run_with_stdin(&["put", "basic/stdin"], b"line one\nline two")
        .assert_stdout("OK\n");
    ctl.run(&["get", "basic/stdin"])
        .assert_stdout("basic/stdin\nline one\nline two\n");
    assert_eq!(ctl.revision(), base + 4);

    ctl.run(&["del", "basic/k"]).assert_stdout("1\n");
    assert_eq!(ctl.revision(), base + 5);
    // Deleting a missing key changes nothing, not even the revision.
    ctl.run(&["del", "basic/k"]).assert_stdout("0\n");
    assert_eq!(ctl.revision(), base + 5);
    ctl.run(&["get", "basic/k"]).assert_stdout("");

    // A re-created key starts a new life: version 1, new create_revision.
    put(&ctl, "basic/k", "v3");
    let out = ctl.run(&["get", "basic/k", "-w", "json"]);
    let kvs = &out.assert_success().json()["kvs"];
    assert_eq!(
        kvs,
        &json!([kv_json("basic/k", Some("v3"), base + 6, base + 6, 1)])
    );
    ctl.run(&["del", "basic/", "--prefix"]).assert_stdout("3\n");
}

fn prefix_and_range(server: &Server) {
    let ctl = server.etcdctl();
    // "px0" is the end of the "px/" range ('/' + 1 = '0'): outside it.
    for (key, value) in [
        ("px", "short"),
        ("px/a", "1"),
        ("px/b", "2"),
        ("px/c", "3"),
        ("px0", "after"),
    ] {
        put(&ctl, key, value);
    }
    let abc = simple(&[("px/a", "1"), ("px/b", "2"), ("px/c", "3")]);
    ctl.run(&["get", "px/", "--prefix"]).assert_stdout(&abc);
    // An explicit [key, range_end).
    ctl.run(&["get", "px/", "px0"]).assert_stdout(&abc);
    ctl.run(&["get", "px/a", "px/c"])
        .assert_stdout(&simple(&[("px/a", "1"), ("px/b", "2")]));
    ctl.run(&["del", "px/a", "px/c"]).assert_stdout("2\n");
    ctl.run(&["get", "px", "--prefix"]).assert_stdout(&simple(&[
        ("px", "short"),
        ("px/c", "3"),
        ("px0", "after"),
    ]));
    ctl.run(&["del", "px", "--prefix"]).assert_stdout("3\n");
    ctl.run(&["get", "px", "--prefix"]).assert_stdout("");
}

fn from_key(server: &Server) {
    let ctl = server.etcdctl();
    // '~' sorts after every other case's keys: "keys >= ~fk/b" are exactly
    // this case's.
    for (key, value) in [("~fk/a", "1"), ("~fk/b", "2"), ("~fk/c", "3")] {
        put(&ctl, key, value);
    }
    ctl.run(&["get", "~fk/b", "--from-key"])
        .assert_stdout(&simple(&[("~fk/b", "2"), ("~fk/c", "3")]));
    ctl.run(&["get", "~fk/b", "--from-key", "--limit", "1"])
        .assert_stdout(&simple(&[("~fk/b", "2")]));
    ctl.run(&["del", "~fk/b", "--from-key"])
        .assert_stdout("2\n");
    ctl.run(&["get", "~fk/", "--prefix"])
        .assert_stdout(&simple(&[("~fk/a", "1")]));
    ctl.run(&["del", "~fk/a"]).assert_stdout("1\n");
}

fn limit_and_count(server: &Server) {
    let ctl = server.etcdctl();
    let base = ctl.revision();
    let header = ctl.header();
    let keys = ["lim/a", "lim/b", "lim/c", "lim/d", "lim/e"];
    for (index, key) in keys.iter().enumerate() {
        put(&ctl, key, &(index + 1).to_string());
    }
    let rev = base + 5;
    let kv = |index: usize| {
        let value = (index + 1).to_string();
        let revision = base + 1 + index as i64;
        kv_json(keys[index], Some(&value), revision, revision, 1)
    };

    ctl.run(&["get", "lim/", "--prefix", "--limit", "2"])
        .assert_stdout(&simple(&[("lim/a", "1"), ("lim/b", "2")]));
    // `count` is the size of the whole range, whatever the limit; `more`
    // says the limit cut it (and is left out when false).
    let out = ctl.run(&["get", "lim/", "--prefix", "--limit", "2", "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        json!({"header": header.json_at(rev), "kvs": [kv(0), kv(1)], "more": true, "count": 5})
    );
    let all = json!({"header": header.json_at(rev), "kvs": (0..5).map(kv).collect::<Vec<_>>(), "count": 5});
    for limit in ["5", "0", "100"] {
        let out = ctl.run(&["get", "lim/", "--prefix", "--limit", limit, "-w", "json"]);
        assert_eq!(out.assert_success().json(), all, "--limit {limit}");
    }
    // The limit applies after the order.
    ctl.run(&[
        "get", "lim/", "--prefix", "--limit", "2", "--order", "DESCEND",
    ])
    .assert_stdout(&simple(&[("lim/e", "5"), ("lim/d", "4")]));
    // An empty range: no kvs, count 0, both left out.
    let out = ctl.run(&["get", "lim/none/", "--prefix", "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        json!({"header": header.json_at(rev)})
    );

    // etcdctl 3.4 has no --count-only (3.5 added it): it refuses the flag
    // itself. With a newer etcdctl the server must answer count only.
    let out = ctl.run(&["get", "lim/", "--prefix", "--count-only", "-w", "json"]);
    if out.stderr.contains("unknown flag: --count-only") {
        assert_eq!(out.code(), Some(1), "{out}");
    } else {
        assert_eq!(
            out.assert_success().json(),
            json!({"header": header.json_at(rev), "count": 5})
        );
    }
    ctl.run(&["del", "lim/", "--prefix"]).assert_stdout("5\n");
}

fn rev(server: &Server) {
    let ctl = server.etcdctl();
    let header = ctl.header();
    let first = header.revision + 1;
    put(&ctl, "rv/k", "v1"); // first
    put(&ctl, "rv/k", "v2"); // first + 1
    ctl.run(&["del", "rv/k"]).assert_stdout("1\n"); // first + 2
    put(&ctl, "rv/k", "v3"); // first + 3
    put(&ctl, "rv/other", "x"); // first + 4

    let at = |revision: i64| ctl.run(&["get", "rv/k", "--rev", &revision.to_string()]);
    at(first - 1).assert_stdout("");
    at(first).assert_stdout("rv/k\nv1\n");
    at(first + 1).assert_stdout("rv/k\nv2\n");
    at(first + 2).assert_stdout("");
    at(first + 3).assert_stdout("rv/k\nv3\n");
    // 0 means the current revision.
    at(0).assert_stdout("rv/k\nv3\n");

    // The header carries the current revision, not the one read at.
    let out = ctl.run(&[
        "get",
        "rv/k",
        "--rev",
        &(first + 1).to_string(),
        "-w",
        "json",
    ]);
    assert_eq!(
        out.assert_success().json(),
        json!({
            "header": header.json_at(first + 4),
            "kvs": [kv_json("rv/k", Some("v2"), first, first + 1, 2)],
            "count": 1,
        })
    );
    let out = ctl.run(&[
        "get",
        "rv/",
        "--prefix",
        "--rev",
        &(first + 3).to_string(),
        "-w",
        "json",
    ]);
    assert_eq!(
        out.assert_success().json(),
        json!({
            "header": header.json_at(first + 4),
            "kvs": [kv_json("rv/k", Some("v3"), first + 3, first + 3, 1)],
            "count": 1,
        })
    );
    ctl.run(&["del", "rv/", "--prefix"]).assert_stdout("2\n");
}

/// The keys of the sort case and their values; every sort target orders
/// them differently, and no target has ties.
const SORT_VALUES: [(&str, &str); 4] = [("so/a", "3"), ("so/b", "4"), ("so/c", "2"), ("so/d", "1")];

fn sort(server: &Server) {
    let ctl = server.etcdctl();
    let value = |key: &str| SORT_VALUES.iter().find(|(k, _)| *k == key).unwrap().1;
    // Created c, a, d, b; then written d, b, b, c, b, d. Versions: a 1,
    // c 2, d 3, b 4. Last modified: a, c, b, d.
    for key in ["c", "a", "d", "b", "d", "b", "b", "c", "b", "d"] {
        let key = format!("so/{key}");
        put(&ctl, &key, value(&key));
    }
    let ascending: [(&str, [&str; 4]); 5] = [
        ("KEY", ["a", "b", "c", "d"]),
        ("CREATE", ["c", "a", "d", "b"]),
        ("MODIFY", ["a", "c", "b", "d"]),
        ("VALUE", ["d", "c", "a", "b"]),
        ("VERSION", ["a", "c", "d", "b"]),
    ];
    let expect = |order: &mut dyn Iterator<Item = &&str>| {
        let pairs: Vec<(String, &str)> = order
            .map(|key| {
                let key = format!("so/{key}");
                let value = value(&key);
                (key, value)
            })
            .collect();
        let pairs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(key, value)| (key.as_str(), *value))
            .collect();
        simple(&pairs)
    };
    for (target, order) in ascending {
        let sort_by = format!("--sort-by={target}");
        let up = expect(&mut order.iter());
        let down = expect(&mut order.iter().rev());
        // Without --order a sort target sorts ascending.
        ctl.run(&["get", "so/", "--prefix", &sort_by])
            .assert_stdout(&up);
        ctl.run(&["get", "so/", "--prefix", &sort_by, "--order=ASCEND"])
            .assert_stdout(&up);
        ctl.run(&["get", "so/", "--prefix", &sort_by, "--order=DESCEND"])
            .assert_stdout(&down);
        // Sorting happens before the limit cuts.
        ctl.run(&[
            "get",
            "so/",
            "--prefix",
            &sort_by,
            "--order=DESCEND",
            "--limit=2",
        ])
        .assert_stdout(&expect(&mut order.iter().rev().take(2)));
        ctl.run(&[
            "get",
            "so/",
            "--prefix",
            &sort_by,
            "--order=ASCEND",
            "--limit=2",
        ])
        .assert_stdout(&expect(&mut order.iter().take(2)));
    }
    // --order alone sorts by key.
    ctl.run(&["get", "so/", "--prefix", "--order=DESCEND"])
        .assert_stdout(&expect(&mut ["d", "c", "b", "a"].iter()));
    ctl.run(&["del", "so/", "--prefix"]).assert_stdout("4\n");
}

fn keys_only(server: &Server) {
    let ctl = server.etcdctl();
    let header = ctl.header();
    let first = header.revision + 1;
    put(&ctl, "ko/a", "1");
    put(&ctl, "ko/b", "2");
    // Each key is followed by its (empty) value line.
    ctl.run(&["get", "ko/", "--prefix", "--keys-only"])
        .assert_stdout("ko/a\n\nko/b\n\n");
    let out = ctl.run(&["get", "ko/", "--prefix", "--keys-only", "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        json!({
            "header": header.json_at(first + 1),
            "kvs": [kv_json("ko/a", None, first, first, 1), kv_json("ko/b", None, first + 1, first + 1, 1)],
            "count": 2,
        })
    );
    ctl.run(&["del", "ko/", "--prefix"]).assert_stdout("2\n");
}

fn print_value_only(server: &Server) {
    let ctl = server.etcdctl();
    put(&ctl, "pv/a", "1");
    put(&ctl, "pv/b", "2");
    ctl.run(&["get", "pv/", "--prefix", "--print-value-only"])
        .assert_stdout("1\n2\n");
    ctl.run(&["get", "pv/a", "--print-value-only"])
        .assert_stdout("1\n");
    // Client-side: etcdctl refuses it with another format (exit 128).
    ctl.run(&["get", "pv/", "--prefix", "--print-value-only", "-w", "json"])
        .assert_client_error(
            128,
            "Error: print-value-only is only for `--write-out=simple`\n",
        );
    ctl.run(&["del", "pv/", "--prefix"]).assert_stdout("2\n");
}

fn prev_kv(server: &Server) {
    let ctl = server.etcdctl();
    let header = ctl.header();
    let first = header.revision + 1;
    // A new key has no previous kv: nothing more than OK.
    ctl.run(&["put", "pk/a", "v1", "--prev-kv"])
        .assert_stdout("OK\n");
    ctl.run(&["put", "pk/a", "v2", "--prev-kv"])
        .assert_stdout("OK\npk/a\nv1\n");
    let out = ctl.run(&["put", "pk/a", "v3", "--prev-kv", "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        json!({
            "header": header.json_at(first + 2),
            "prev_kv": kv_json("pk/a", Some("v2"), first, first + 1, 2),
        })
    );
    ctl.run(&["put", "pk/a", "v4", "--prev-kv", "-w", "fields"])
        .assert_stdout(&format!(
            "{}{}",
            header.fields_at(first + 3),
            kv_fields("Prev", "pk/a", "v3", first, first + 2, 3)
        ));
    put(&ctl, "pk/b", "x"); // first + 4
    ctl.run(&["del", "pk/", "--prefix", "--prev-kv"])
        .assert_stdout("2\npk/a\nv4\npk/b\nx\n"); // first + 5
    put(&ctl, "pk/c", "y"); // first + 6
    let out = ctl.run(&["del", "pk/c", "--prev-kv", "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        json!({
            "header": header.json_at(first + 7),
            "deleted": 1,
            "prev_kvs": [kv_json("pk/c", Some("y"), first + 6, first + 6, 1)],
        })
    );
    put(&ctl, "pk/d", "z"); // first + 8
    ctl.run(&["del", "pk/d", "--prev-kv", "-w", "fields"])
        .assert_stdout(&format!(
            "{}\"Deleted\" : 1\n{}",
            header.fields_at(first + 9),
            kv_fields("Prev", "pk/d", "z", first + 8, first + 8, 1)
        ));
    // Nothing deleted: `deleted` and `prev_kvs` are left out.
    let out = ctl.run(&["del", "pk/c", "--prev-kv", "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        json!({"header": header.json_at(first + 9)})
    );
    ctl.run(&["del", "pk/c", "--prev-kv"]).assert_stdout("0\n");
}

fn json_output(server: &Server) {
    let ctl = server.etcdctl();
    let header = ctl.header();
    let first = header.revision + 1;
    let out = ctl.run(&["put", "js/k", "v", "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        json!({"header": header.json_at(first)})
    );
    let out = ctl.run(&["get", "js/k", "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        json!({
            "header": header.json_at(first),
            "kvs": [kv_json("js/k", Some("v"), first, first, 1)],
            "count": 1,
        })
    );
    // An empty value is left out like every zero value.
    ctl.run(&["put", "js/empty", ""]).assert_stdout("OK\n");
    let out = ctl.run(&["get", "js/empty", "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        json!({
            "header": header.json_at(first + 1),
            "kvs": [kv_json("js/empty", None, first + 1, first + 1, 1)],
            "count": 1,
        })
    );
    ctl.run(&["get", "js/empty"]).assert_stdout("js/empty\n\n");
    let out = ctl.run(&["get", "js/missing", "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        json!({"header": header.json_at(first + 1)})
    );
    let out = ctl.run(&["del", "js/", "--prefix", "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        json!({"header": header.json_at(first + 2), "deleted": 2})
    );
    let out = ctl.run(&["del", "js/k", "-w", "json"]);
    assert_eq!(
        out.assert_success().json(),
        json!({"header": header.json_at(first + 2)})
    );
}

fn fields_output(server: &Server) {
    let ctl = server.etcdctl();
    let header = ctl.header();
    let first = header.revision + 1;
    ctl.run(&["put", "fd/k", "v", "-w", "fields"])
        .assert_stdout(&header.fields_at(first));
    ctl.run(&["get", "fd/k", "-w", "fields"])
        .assert_stdout(&format!(
            "{}{}\"More\" : false\n\"Count\" : 1\n",
            header.fields_at(first),
            kv_fields("", "fd/k", "v", first, first, 1)
        ));
    ctl.run(&["get", "fd/missing", "-w", "fields"])
        .assert_stdout(&format!(
            "{}\"More\" : false\n\"Count\" : 0\n",
            header.fields_at(first)
        ));
    ctl.run(&["del", "fd/k", "-w", "fields"])
        .assert_stdout(&format!("{}\"Deleted\" : 1\n", header.fields_at(first + 1)));
    ctl.run(&["del", "fd/k", "-w", "fields"])
        .assert_stdout(&format!("{}\"Deleted\" : 0\n", header.fields_at(first + 1)));
}

/// etcdctl 3.4 has no table printer for get, put and del: it sends the
/// request, then refuses to print the answer (exit 4). Client-side, but the
/// write has happened.
fn table_output(server: &Server) {
    let ctl = server.etcdctl();
    let refused = "Error: table not supported as output format\n";
    ctl.run(&["put", "tb/k", "v", "-w", "table"])
        .assert_client_error(4, refused);
    ctl.run(&["get", "tb/k"]).assert_stdout("tb/k\nv\n");
    ctl.run(&["get", "tb/k", "-w", "table"])
        .assert_client_error(4, refused);
    ctl.run(&["del", "tb/k", "-w", "table"])
        .assert_client_error(4, refused);
    ctl.run(&["get", "tb/k"]).assert_stdout("");
}
