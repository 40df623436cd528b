//! `--listen-metrics-urls`: the Prometheus metrics operators alert on and
//! `/health`, from etcd 3.4 and from keeld alike.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use keel_tests::{ports, Flavor, Server};

/// One plain HTTP/1.1 GET; the status code and the body.
fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {response:?}"));
    let chunked = head
        .lines()
        .any(|line| line.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

/// The body of a `Transfer-Encoding: chunked` response. etcd's Go server
/// sends `/metrics` that way, and a chunk boundary can fall anywhere, even
/// inside a line.
fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    loop {
        let (size, after) = rest
            .split_once("\r\n")
            .unwrap_or_else(|| panic!("no chunk size line in {rest:?}"));
        let size = size.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size, 16).unwrap_or_else(|_| panic!("bad chunk size {size:?}"));
        if size == 0 {
            return body;
        }
        body.push_str(&after[..size]);
        rest = after[size..]
            .strip_prefix("\r\n")
            .unwrap_or_else(|| panic!("no CRLF after a chunk"));
    }
}

/// The metric families etcd's operators alert on, with their types.
const ALERTED_ON: [(&str, &str); 10] = [
    ("etcd_server_has_leader", "gauge"),
    ("etcd_server_leader_changes_seen_total", "counter"),
    ("etcd_server_proposals_committed_total", "gauge"),
    ("etcd_server_proposals_applied_total", "gauge"),
    ("etcd_server_proposals_pending", "gauge"),
    ("etcd_server_proposals_failed_total", "counter"),
    ("etcd_disk_wal_fsync_duration_seconds", "histogram"),
    ("etcd_disk_backend_commit_duration_seconds", "histogram"),
    ("etcd_mvcc_db_total_size_in_bytes", "gauge"),
    ("etcd_server_is_leader", "gauge"),
];

/// The value of an unlabelled sample.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (sample, value) = line.split_once(' ')?;
        (sample == name)
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

fn metrics_and_health(flavor: Flavor) {
    let address = format!("127.0.0.1:{}", ports::free_port());
    let url = format!("http://{address}");
    let server = Server::start_with_args(flavor, &["--listen-metrics-urls", &url]);
    let ctl = server.etcdctl();
    ctl.run(&["put", "m/k", "v"]).assert_stdout("OK\n");

    let (status, body) = get(&address, "/health");
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("{\"health\":\"true\""), "{body}");

    let (status, metrics) = get(&address, "/metrics");
    assert_eq!(status, 200);
    for (name, kind) in ALERTED_ON {
        assert!(
            metrics.contains(&format!("# TYPE {name} {kind}\n")),
            "[{flavor}] no {kind} {name}"
        );
    }
    assert_eq!(sample(&metrics, "etcd_server_has_leader"), Some(1.0));
    assert_eq!(sample(&metrics, "etcd_server_is_leader"), Some(1.0));
    assert!(
        sample(&metrics, "etcd_server_proposals_applied_total").unwrap() >= 1.0,
        "[{flavor}] the put was applied"
    );
    assert!(
        sample(&metrics, "etcd_disk_wal_fsync_duration_seconds_count").unwrap() >= 1.0,
        "[{flavor}] the put was fsynced"
    );
    assert!(sample(&metrics, "etcd_mvcc_db_total_size_in_bytes").unwrap() > 0.0);
}

#[test]
fn etcd_serves_metrics_and_health() {
    metrics_and_health(Flavor::Etcd);
}

#[test]
fn keeld_serves_metrics_and_health() {
    metrics_and_health(Flavor::Keeld);
}
