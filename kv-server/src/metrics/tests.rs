use std::time::Duration;

use super::*;

/// The `# HELP` and `# TYPE` lines of etcd 3.4.23's `/metrics` for every
/// family keel serves under etcd's name, copied from a running etcd
/// (`etcd --listen-metrics-urls http://127.0.0.1:PORT`, a two-member
/// cluster for the peer families).
const ETCD_3_4_FAMILIES: &[(&str, &str, &str)] = &[
    (
        "etcd_disk_backend_commit_duration_seconds",
        "histogram",
        "The latency distributions of commit called by backend.",
    ),
    (
        "etcd_disk_wal_fsync_duration_seconds",
        "histogram",
        "The latency distributions of fsync called by WAL.",
    ),
    (
        "etcd_mvcc_db_total_size_in_bytes",
        "gauge",
        "Total size of the underlying database physically allocated in bytes.",
    ),
    (
        "etcd_network_peer_round_trip_time_seconds",
        "histogram",
        "Round-Trip-Time histogram between peers",
    ),
    (
        "etcd_network_peer_sent_failures_total",
        "counter",
        "The total number of send failures from peers.",
    ),
    (
        "etcd_server_has_leader",
        "gauge",
        "Whether or not a leader exists. 1 is existence, 0 is not.",
    ),
    (
        "etcd_server_health_failures",
        "counter",
        "The total number of failed health checks",
    ),
    (
        "etcd_server_health_success",
        "counter",
        "The total number of successful health checks",
    ),
    (
        "etcd_server_id",
        "gauge",
        "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.",
    ),
    (
        "etcd_server_is_leader",
        "gauge",
        "Whether or not this member is a leader. 1 if is, 0 otherwise.",
    ),
    (
        "etcd_server_leader_changes_seen_total",
        "counter",
        "The number of leader changes seen.",
    ),
    (
        "etcd_server_proposals_applied_total",
        "gauge",
        "The total number of consensus proposals applied.",
    ),
    (
        "etcd_server_proposals_committed_total",
        "gauge",
        "The total number of consensus proposals committed.",
    ),
    (
        "etcd_server_proposals_failed_total",
        "counter",
        "The total number of failed proposals seen.",
    ),
    (
        "etcd_server_proposals_pending",
        "gauge",
        "The current number of pending proposals to commit.",
    ),
    (
        "etcd_server_quota_backend_bytes",
        "gauge",
        "Current backend storage quota size in bytes.",
    ),
    (
        "etcd_server_version",
        "gauge",
        "Which version is running. 1 for 'server_version' label with current version.",
    ),
];

const MEMBER: u64 = 0x44c6_a1bc_2de7_62b5;
const PEER: u64 = 0x7463_539d_2af5_a943;

/// The value of the sample line that starts with `series` (name and
/// labels, exactly as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        Some(value.parse().unwrap())
    })
}

#[test]
fn every_family_has_etcds_help_and_type_lines() {
    let metrics = Metrics::new(MEMBER);
    // The peer families appear once a peer has a series (as in etcd).
    metrics.record_peer_rtt(PEER, Duration::from_micros(150));
    metrics.record_peer_send_failure(PEER);
    let text = metrics.render().unwrap();
    for (name, kind, help) in ETCD_3_4_FAMILIES {
        let header = format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
        assert!(text.contains(&header), "missing {header:?} in\n{text}");
    }
    assert!(text.contains("# TYPE keel_build_info gauge\n"), "{text}");
}

#[test]
fn info_gauges_carry_the_member_id_and_versions() {
    let text = Metrics::new(MEMBER).render().unwrap();
    assert_eq!(
        sample(&text, "etcd_server_id{server_id=\"44c6a1bc2de762b5\"}"),
        Some(1.0)
    );
    let version = format!(
        "etcd_server_version{{server_version=\"{}\"}}",
        crate::api::ETCD_API_VERSION
    );
    assert_eq!(sample(&text, &version), Some(1.0));
    let build = format!(
        "keel_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&text, &build), Some(1.0));
}

#[test]
fn a_fresh_member_reports_zeroes_and_no_peer_series() {
    let text = Metrics::new(MEMBER).render().unwrap();
    for name in [
        "etcd_server_has_leader",
        "etcd_server_is_leader",
        "etcd_server_leader_changes_seen_total",
        "etcd_server_proposals_committed_total",
        "etcd_server_proposals_applied_total",
        "etcd_server_proposals_pending",
        "etcd_server_proposals_failed_total",
        "etcd_mvcc_db_total_size_in_bytes",
        "etcd_disk_wal_fsync_duration_seconds_count",
    ] {
        assert_eq!(sample(&text, name), Some(0.0), "{name} in\n{text}");
    }
    assert!(!text.contains("etcd_network_peer_round_trip_time_seconds"));
}

#[test]
fn buckets_are_etcds() {
    let disk = exponential_buckets(DISK_BUCKETS_START_SECS, 2.0, DISK_BUCKETS_COUNT);
    let printed: Vec<String> = disk.iter().map(f64::to_string).collect();
    assert_eq!(
        printed,
        [
            "0.001", "0.002", "0.004", "0.008", "0.016", "0.032", "0.064", "0.128", "0.256",
            "0.512", "1.024", "2.048", "4.096", "8.192"
        ]
    );
    let rtt = exponential_buckets(PEER_RTT_BUCKETS_START_SECS, 2.0, PEER_RTT_BUCKETS_COUNT);
    assert_eq!(rtt.len(), 16);
    assert_eq!(rtt[0].to_string(), "0.0001");
    assert_eq!(rtt[15].to_string(), "3.2768");
}

#[test]
fn histogram_buckets_count_cumulatively_with_inclusive_bounds() {
    let metrics = Metrics::new(MEMBER);
    // Exactly on a bound counts in that bucket (Prometheus' `le`).
    metrics.record_wal_fsync(Duration::from_millis(1));
    metrics.record_wal_fsync(Duration::from_micros(1500));
    metrics.record_wal_fsync(Duration::from_millis(100));
    // Past the last bound: only +Inf holds it.
    metrics.record_wal_fsync(Duration::from_secs(10));
    let text = metrics.render().unwrap();
    let bucket = |le: &str| {
        sample(
            &text,
            &format!("etcd_disk_wal_fsync_duration_seconds_bucket{{le=\"{le}\"}}"),
        )
    };
    assert_eq!(bucket("0.001"), Some(1.0));
    assert_eq!(bucket("0.002"), Some(2.0));
    assert_eq!(bucket("0.064"), Some(2.0));
    assert_eq!(bucket("0.128"), Some(3.0));
    assert_eq!(bucket("8.192"), Some(3.0));
    assert_eq!(bucket("+Inf"), Some(4.0));
    assert_eq!(
        sample(&text, "etcd_disk_wal_fsync_duration_seconds_count"),
        Some(4.0)
    );
    let sum = sample(&text, "etcd_disk_wal_fsync_duration_seconds_sum").unwrap();
    assert!((sum - 10.1025).abs() < 1e-9, "{sum}");
    // The backend histogram is a separate family with the same buckets.
    assert_eq!(
        sample(
            &text,
            "etcd_disk_backend_commit_duration_seconds_bucket{le=\"8.192\"}"
        ),
        Some(0.0)
    );
}

#[test]
fn timed_sections_are_recorded_and_pass_their_outcome_through() {
    let metrics = Metrics::new(MEMBER);
    let fsync: Result<(), ()> = metrics.time_wal_fsync(|| Ok(()));
    assert_eq!(fsync, Ok(()));
    assert_eq!(metrics.time_backend_commit(|| 7), 7);
    let text = metrics.render().unwrap();
    assert_eq!(
        sample(&text, "etcd_disk_wal_fsync_duration_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "etcd_disk_backend_commit_duration_seconds_count"),
        Some(1.0)
    );
}

#[test]
fn leader_changes_follow_etcds_rule() {
    assert!(is_leader_change(None, Some(1)));
    assert!(is_leader_change(Some(1), Some(2)));
    assert!(!is_leader_change(Some(1), Some(1)));
    assert!(!is_leader_change(Some(1), None));
    assert!(!is_leader_change(None, None));

    let metrics = Metrics::new(MEMBER);
    metrics.set_leader(None);
    assert_eq!(metrics.leader_changes_seen(), 0);
    metrics.set_leader(Some(PEER));
    metrics.set_leader(Some(PEER));
    assert_eq!(metrics.leader_changes_seen(), 1);
    let text = metrics.render().unwrap();
    assert_eq!(sample(&text, "etcd_server_has_leader"), Some(1.0));
    assert_eq!(sample(&text, "etcd_server_is_leader"), Some(0.0));
    // Losing the leader is no change; finding it again, even the same one, is.
    metrics.set_leader(None);
    assert_eq!(metrics.leader_changes_seen(), 1);
    assert_eq!(
        sample(&metrics.render().unwrap(), "etcd_server_has_leader"),
        Some(0.0)
    );
    metrics.set_leader(Some(PEER));
    assert_eq!(metrics.leader_changes_seen(), 2);
    metrics.set_leader(Some(MEMBER));
    assert_eq!(metrics.leader_changes_seen(), 3);
    let text = metrics.render().unwrap();
    assert_eq!(sample(&text, "etcd_server_is_leader"), Some(1.0));
    assert_eq!(
        sample(&text, "etcd_server_leader_changes_seen_total"),
        Some(3.0)
    );
}

#[test]
fn pending_proposals_count_while_their_guard_lives() {
    let metrics = Metrics::new(MEMBER);
    let first = metrics.start_proposal();
    let second = metrics.start_proposal();
    assert_eq!(metrics.proposals_pending(), 2);
    drop(first);
    assert_eq!(metrics.proposals_pending(), 1);
    metrics.proposal_failed();
    drop(second);
    assert_eq!(metrics.proposals_pending(), 0);
    let text = metrics.render().unwrap();
    assert_eq!(
        sample(&text, "etcd_server_proposals_failed_total"),
        Some(1.0)
    );
}

#[test]
fn indexes_sizes_and_quota_are_gauges() {
    let metrics = Metrics::new(MEMBER);
    metrics.set_committed(12);
    metrics.set_applied(11);
    metrics.set_db_size(24_576);
    metrics.set_quota_backend_bytes(2 << 30);
    let text = metrics.render().unwrap();
    assert_eq!(
        sample(&text, "etcd_server_proposals_committed_total"),
        Some(12.0)
    );
    assert_eq!(
        sample(&text, "etcd_server_proposals_applied_total"),
        Some(11.0)
    );
    assert_eq!(
        sample(&text, "etcd_mvcc_db_total_size_in_bytes"),
        Some(24_576.0)
    );
    assert_eq!(
        sample(&text, "etcd_server_quota_backend_bytes"),
        Some(2_147_483_648.0)
    );
}

#[test]
fn peer_series_are_labelled_by_hex_id_and_forgotten_with_the_peer() {
    let metrics = Metrics::new(MEMBER);
    metrics.record_peer_rtt(PEER, Duration::from_micros(150));
    metrics.record_peer_send_failure(PEER);
    let text = metrics.render().unwrap();
    assert_eq!(
        sample(
            &text,
            "etcd_network_peer_round_trip_time_seconds_bucket{To=\"7463539d2af5a943\",le=\"0.0002\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            "etcd_network_peer_sent_failures_total{To=\"7463539d2af5a943\"}"
        ),
        Some(1.0)
    );
    metrics.forget_peer(PEER);
    metrics.forget_peer(PEER);
    let text = metrics.render().unwrap();
    assert!(!text.contains("7463539d2af5a943"), "{text}");
}

#[test]
fn members_in_one_process_keep_their_own_metrics() {
    let first = Metrics::new(1);
    let second = Metrics::new(2);
    first.set_leader(Some(1));
    assert_eq!(first.leader_changes_seen(), 1);
    assert_eq!(second.leader_changes_seen(), 0);
}
