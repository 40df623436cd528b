//! Helpers shared by the etcdctl cases.

use keel_tests::format::base64;
use keel_tests::{Etcdctl, Server};
use serde_json::{json, Value};

/// `put key value`, asserting etcdctl's `OK`.
#[track_caller]
pub fn put(ctl: &Etcdctl, key: &str, value: &str) {
    ctl.run(&["put", key, value]).assert_stdout("OK\n");
}

/// What `get` prints in the simple format for these pairs: key line, value
/// line, for each.
pub fn simple(pairs: &[(&str, &str)]) -> String {
    pairs.iter().fold(String::new(), |mut text, (key, value)| {
        text.push_str(key);
        text.push('\n');
        text.push_str(value);
        text.push('\n');
        text
    })
}

/// One `mvccpb.KeyValue` as etcdctl 3.4's JSON prints it: key and value in
/// base64, revisions and version as numbers, zero values (an empty value,
/// lease 0) left out.
pub fn kv_json(key: &str, value: Option<&str>, create: i64, modified: i64, version: i64) -> Value {
    let mut kv = json!({
        "key": base64(key.as_bytes()),
        "create_revision": create,
        "mod_revision": modified,
        "version": version,
    });
    if let Some(value) = value.filter(|value| !value.is_empty()) {
        kv["value"] = json!(base64(value.as_bytes()));
    }
    kv
}

/// What `-w fields` prints for one KeyValue (`prefix` is "" or "Prev").
pub fn kv_fields(
    prefix: &str,
    key: &str,
    value: &str,
    create: i64,
    modified: i64,
    version: i64,
) -> String {
    format!(
        "\"{prefix}Key\" : \"{key}\"\n\"{prefix}CreateRevision\" : {create}\n\
         \"{prefix}ModRevision\" : {modified}\n\"{prefix}Version\" : {version}\n\
         \"{prefix}Value\" : \"{value}\"\n\"{prefix}Lease\" : 0\n"
    )
}

/// Asserts that the server still answers a write and a read after a
/// refused request.
#[track_caller]
pub fn assert_serving(server: &Server) {
    let ctl = server.etcdctl();
    put(&ctl, "alive/probe", "yes");
    ctl.run(&["get", "alive/probe"])
        .assert_stdout("alive/probe\nyes\n");
}

/// Whether `version` reads `3.<minor>.<patch>`: the etcd API version a
/// server reports in Status.
pub fn is_v3_version(version: &str) -> bool {
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3
        && parts[0] == "3"
        && parts[1..]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit()))
}

/// Whether `text` is a Go duration as etcdctl prints `took` (`1.24ms`).
pub fn is_go_duration(text: &str) -> bool {
    text.ends_with('s') && text.starts_with(|first: char| first.is_ascii_digit())
}

/// `length` bytes of printable text that compresses badly (values that
/// must really take space on disk), different for each `seed`.
pub fn incompressible_text(length: usize, seed: u64) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..length)
        .map(|_| {
            // xorshift64: plenty for "not compressible".
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ALPHABET[(state >> 58) as usize]
        })
        .collect()
}

/// A txn script for `etcdctl txn` (non-interactive): compare lines, an empty
/// line, success ops, an empty line, failure ops, an empty line.
pub fn txn_script(compares: &[&str], success: &[&str], failure: &[&str]) -> String {
    let mut script = String::new();
    for section in [compares, success, failure] {
        for line in section {
            script.push_str(line);
            script.push('\n');
        }
        script.push('\n');
    }
    script
}
