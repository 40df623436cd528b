//! `etcdctl txn` with the script on stdin: both branches, every compare
//! target and operator etcdctl 3.4 can express, and the JSON and fields
//! shapes of the nested responses.

use keel_tests::{cases, run_cases, Flavor, Server};
use serde_json::json;

use crate::support::{kv_fields, kv_json, put, txn_script};

/// Starts one server and runs every txn case on it.
pub fn suite(flavor: Flavor) {
    let server = Server::start(flavor);
    run_cases(
        &server,
        cases![
            branches,
            compares,
            json_output,
            fields_output,
            malformed_script
        ],
    );
}

fn branches(server: &Server) {
    let ctl = server.etcdctl();
    let base = ctl.revision();
    put(&ctl, "tx/a", "1"); // base + 1

    // Simple format: the verdict, then each response after an empty line.
    let script = txn_script(
        &[r#"value("tx/a") = "1""#],
        &["put tx/b 2", "get tx/a"],
        &["put tx/c 3"],
    );
    ctl.run_with_stdin(&["txn"], script.as_bytes())
        .assert_stdout("SUCCESS\n\nOK\n\ntx/a\n1\n");
    assert_eq!(ctl.revision(), base + 2);
    ctl.run(&["get", "tx/c"]).assert_stdout("");

    let script = txn_script(
        &[r#"value("tx/a") = "9""#],
        &["put tx/c 3"],
        &["put tx/d 4", "del tx/b"],
    );
    ctl.run_with_stdin(&["txn"], script.as_bytes())
        .assert_stdout("FAILURE\n\nOK\n\n1\n");
    // All writes of one txn share one revision.
    assert_eq!(ctl.revision(), base + 3);
    ctl.run(&["get", "tx/", "--prefix"])
        .assert_stdout("tx/a\n1\ntx/d\n4\n");
    let out = ctl.run(&["get", "tx/d", "-w", "json"]);
    assert_eq!(
        out.assert_success().json()["kvs"],
        json!([kv_json("tx/d", Some("4"), base + 3, base + 3, 1)])
    );

    // No compares: success. No ops: nothing printed after the verdict, and
    // read-only txns do not bump the revision.
    ctl.run_with_stdin(&["txn"], txn_script(&[], &[], &[]).as_bytes())
        .assert_stdout("SUCCESS\n");
    ctl.run_with_stdin(&["txn"], txn_script(&[], &["get tx/a"], &[]).as_bytes())
        .assert_stdout("SUCCESS\n\ntx/a\n1\n");
    assert_eq!(ctl.revision(), base + 3);
    ctl.run(&["del", "tx/", "--prefix"]).assert_stdout("2\n");
}

fn compares(server: &Server) {
    let ctl = server.etcdctl();
    let created = ctl.revision() + 1;
    put(&ctl, "cmp/a", "x"); // created
    put(&ctl, "cmp/a", "y"); // created + 1: version 2, value y
    let modified = created + 1;
    let (c, m) = (created.to_string(), modified.to_string());
    let cases: Vec<(String, bool)> = vec![
        (r#"value("cmp/a") = "y""#.into(), true),
        (r#"value("cmp/a") = "x""#.into(), false),
        (r#"value("cmp/a") != "x""#.into(), true),
        (r#"value("cmp/a") != "y""#.into(), false),
        (r#"value("cmp/a") > "x""#.into(), true),
        (r#"value("cmp/a") < "x""#.into(), false),
        (r#"version("cmp/a") = "2""#.into(), true),
        (r#"version("cmp/a") > "1""#.into(), true),
        (r#"version("cmp/a") < "2""#.into(), false),
        (format!(r#"create("cmp/a") = "{c}""#), true),
        (format!(r#"create("cmp/a") < "{m}""#), true),
        (format!(r#"create("cmp/a") > "{c}""#), false),
        (format!(r#"mod("cmp/a") = "{m}""#), true),
        (format!(r#"mod("cmp/a") > "{c}""#), true),
        (format!(r#"mod("cmp/a") != "{m}""#), false),
        // A missing key has version, create and mod 0...
        (r#"version("cmp/missing") = "0""#.into(), true),
        (r#"create("cmp/missing") = "0""#.into(), true),
        (r#"mod("cmp/missing") > "0""#.into(), false),
        // ...but no value: every value compare on it fails.
        (r#"value("cmp/missing") = """#.into(), false),
        (r#"value("cmp/missing") != "z""#.into(), false),
    ];
    for (compare, holds) in &cases {
        let verdict = if *holds { "SUCCESS\n" } else { "FAILURE\n" };
        let out = ctl.run_with_stdin(&["txn"], txn_script(&[compare], &[], &[]).as_bytes());
        assert_eq!(out.assert_success().stdout, verdict, "{compare}\n{out}");
    }
    // Compares are a conjunction.
    let all_true: Vec<&str> = cases
        .iter()
        .filter(|(_, holds)| *holds)
        .map(|(compare, _)| compare.as_str())
        .collect();
    ctl.run_with_stdin(&["txn"], txn_script(&all_true, &[], &[]).as_bytes())
        .assert_stdout("SUCCESS\n");
    let mut one_false = all_true.clone();
    one_false.push(r#"version("cmp/a") = "3""#);
    ctl.run_with_stdin(&["txn"], txn_script(&one_false, &[], &[]).as_bytes())
        .assert_stdout("FAILURE\n");
    ctl.run(&["del", "cmp/a"]).assert_stdout("1\n");
}

fn json_output(server: &Server) {
    let ctl = server.etcdctl();
    let header = ctl.header();
    let base = header.revision;
    put(&ctl, "tj/a", "1"); // base + 1

    let script = txn_script(
        &[r#"value("tj/a") = "1""#],
        &["get tj/a", "put tj/b 2", "get tj/b", "del tj/a"],
        &[],
    );
    let out = ctl.run_with_stdin(&["txn", "-w", "json"], script.as_bytes());
    // Nested responses carry a header with the revision only: the txn's
    // revision as that op saw it (before or after the txn's first write).
    assert_eq!(
        out.assert_success().json(),
        json!({
            "header": header.json_at(base + 2),
            "succeeded": true,
            "responses": [
                {"Response": {"ResponseRange": {
                    "header": {"revision": base + 1},
                    "kvs": [kv_json("tj/a", Some("1"), base + 1, base + 1, 1)],
                    "count": 1,
                }}},
                {"Response": {"ResponsePut": {"header": {"revision": base + 2}}}},
                {"Response": {"ResponseRange": {
                    "header": {"revision": base + 2},
                    "kvs": [kv_json("tj/b", Some("2"), base + 2, base + 2, 1)],
                    "count": 1,
                }}},
                {"Response": {"ResponseDeleteRange": {"header": {"revision": base + 2}, "deleted": 1}}},
            ],
        })
    );

    // Failure: `succeeded` false is left out.
    let script = txn_script(
        &[r#"value("tj/b") = "9""#],
        &[],
        &["put tj/b 3 --prev-kv", "del tj/none"],
    );
    let out = ctl.run_with_stdin(&["txn", "-w", "json"], script.as_bytes());
    assert_eq!(
        out.assert_success().json(),
        json!({
            "header": header.json_at(base + 3),
            "responses": [
                {"Response": {"ResponsePut": {
                    "header": {"revision": base + 3},
                    "prev_kv": kv_json("tj/b", Some("2"), base + 2, base + 2, 1),
                }}},
                {"Response": {"ResponseDeleteRange": {"header": {"revision": base + 3}}}},
            ],
        })
    );
    let out = ctl.run_with_stdin(&["txn", "-w", "json"], txn_script(&[], &[], &[]).as_bytes());
    assert_eq!(
        out.assert_success().json(),
        json!({"header": header.json_at(base + 3), "succeeded": true})
    );
    ctl.run(&["del", "tj/", "--prefix"]).assert_stdout("1\n");
}

fn fields_output(server: &Server) {
    let ctl = server.etcdctl();
    let header = ctl.header();
    put(&ctl, "tf/b", "2"); // header.revision + 1
    let rev = header.revision + 2;
    // (A put and a delete of one key in one txn would be a duplicate key.)
    let script = txn_script(&[], &["put tf/a 1", "get tf/a", "del tf/b"], &[]);
    // Nested headers print their zero ids.
    let nested =
        format!("\"ClusterID\" : 0\n\"MemberID\" : 0\n\"Revision\" : {rev}\n\"RaftTerm\" : 0\n");
    ctl.run_with_stdin(&["txn", "-w", "fields"], script.as_bytes())
        .assert_stdout(&format!(
            "{}\"Succeeded\" : true\n{nested}{nested}{}\"More\" : false\n\"Count\" : 1\n{nested}\"Deleted\" : 1\n",
            header.fields_at(rev),
            kv_fields("", "tf/a", "1", rev, rev, 1),
        ));
    let script = txn_script(&[r#"version("tf/a") = "2""#], &[], &[]);
    ctl.run_with_stdin(&["txn", "-w", "fields"], script.as_bytes())
        .assert_stdout(&format!("{}\"Succeeded\" : false\n", header.fields_at(rev)));
    ctl.run(&["del", "tf/", "--prefix"]).assert_stdout("1\n");
}

/// Client-side: etcdctl parses the script before sending anything.
fn malformed_script(server: &Server) {
    let ctl = server.etcdctl();
    let revision = ctl.revision();
    ctl.run_with_stdin(&["txn"], txn_script(&["bogus"], &[], &[]).as_bytes())
        .assert_client_error(3, "Error: malformed comparison: bogus\n");
    // The failure section must end with an empty line too.
    ctl.run_with_stdin(&["txn"], b"\nput tm/a 1\n\n")
        .assert_client_error(3, "Error: EOF\n");
    assert_eq!(ctl.revision(), revision, "nothing was sent");
}
