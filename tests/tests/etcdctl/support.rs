//! Helpers shared by the etcdctl cases.

use std::time::{Duration, Instant};

use keel_tests::format::{base64, base64_decode};
use keel_tests::{Background, Etcdctl, Server, Stream};
use serde_json::{json, Value};

/// How long [`eventually`] polls before giving up.
pub const EVENTUALLY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`sync_watch`] waits for each probe before writing another.
const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// Probes [`sync_watch`] writes at most: a minute's worth.
const PROBES_MAX: u32 = 120;

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

/// Polls `probe` every 50 ms until it returns `Some`, for up to
/// [`EVENTUALLY_TIMEOUT`]; panics naming `what` if it never does.
#[allow(
    clippy::disallowed_methods,
    reason = "test support: a wall-clock deadline on polling a server"
)]
#[track_caller]
pub fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + EVENTUALLY_TIMEOUT;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {EVENTUALLY_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Wall-clock time since it was started: lower bounds only (a lease cannot
/// expire before its TTL), never speed.
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Starts counting now.
    #[allow(
        clippy::disallowed_methods,
        reason = "test support: measuring a lease's lifetime from outside"
    )]
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// The time since [`Stopwatch::start`].
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Makes sure the server has registered `watch`, a `watch` without `--rev`
/// (it sees only what is written after it starts, and says nothing when
/// it does start) whose range holds `probe_key`: puts `sync-1`, `sync-2`,
/// ... into `probe_key` until the watch prints one of them, then takes the
/// PUT events of the later probes too. From then on every write in its
/// range shows up. Returns what the watch printed for the probes.
#[track_caller]
pub fn sync_watch(ctl: &Etcdctl, watch: &mut Background, probe_key: &str) -> String {
    let mut written = 0;
    let first_seen = loop {
        written += 1;
        assert!(
            written <= PROBES_MAX,
            "the watch printed none of {PROBES_MAX} probes\n{watch}"
        );
        put(ctl, probe_key, &format!("sync-{written}"));
        let Some(line) = watch.next_line(Stream::Stdout, PROBE_INTERVAL) else {
            continue;
        };
        assert_eq!(line, "PUT\n", "a probe's event comes first\n{watch}");
        let rest = watch.read_stdout(2);
        let seen = rest
            .strip_prefix(&format!("{probe_key}\nsync-"))
            .and_then(|number| number.strip_suffix('\n'))
            .and_then(|number| number.parse::<u32>().ok())
            .filter(|seen| *seen <= written)
            .unwrap_or_else(|| panic!("not a probe's key and value: {rest:?}\n{watch}"));
        break seen;
    };
    let mut printed = format!("PUT\n{probe_key}\nsync-{first_seen}\n");
    for later in first_seen + 1..=written {
        let event = format!("PUT\n{probe_key}\nsync-{later}\n");
        watch.expect_stdout(&event);
        printed.push_str(&event);
    }
    printed
}

/// One key as `get -w json` shows it, with the fields the lock and
/// election cases look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key, decoded.
    pub key: String,
    /// The value, decoded ("" when etcdctl leaves it out).
    pub value: String,
    /// The revision that created it.
    pub create_revision: i64,
    /// The lease it is attached to (0: none).
    pub lease: u64,
}

/// The keys under `prefix`, oldest first (by create revision).
#[track_caller]
pub fn keys_under(ctl: &Etcdctl, prefix: &str) -> Vec<StoredKey> {
    let out = ctl.run(&["get", prefix, "--prefix", "--sort-by=CREATE", "-w", "json"]);
    let json = out.assert_success().json();
    let Some(kvs) = json.get("kvs") else {
        return Vec::new(); // etcdctl leaves an empty list out
    };
    let decode = |field: &Value| {
        field.as_str().map_or_else(String::new, |text| {
            let bytes = base64_decode(text).unwrap_or_else(|| panic!("not base64: {text}\n{out}"));
            String::from_utf8(bytes).expect("UTF-8 keys and values")
        })
    };
    kvs.as_array()
        .unwrap_or_else(|| panic!("kvs is not a list\n{out}"))
        .iter()
        .map(|kv| StoredKey {
            key: decode(&kv["key"]),
            value: decode(&kv["value"]),
            create_revision: kv["create_revision"].as_i64().expect("create_revision"),
            lease: kv["lease"].as_u64().unwrap_or(0),
        })
        .collect()
}
