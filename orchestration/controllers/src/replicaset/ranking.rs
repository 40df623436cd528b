//! Which pods a ReplicaSet deletes first when it has too many: the least
//! valuable, in Kubernetes 1.33's order (`ActivePodsWithRanks.Less` in
//! `pkg/controller/controller_utils.go`, ranked by
//! `getPodsRankedByRelatedPodsOnSameNode` in `replica_set.go`).
//!
//! ```text
//!   1. unassigned < assigned              5. more related pods on its node first
//!   2. Pending < Unknown < Running        6. ready for less time first (log2 buckets)
//!   3. not ready < ready                  7. more container restarts first
//!   4. lower pod-deletion-cost first      8. newer first (log2 buckets), then by uid
//! ```
//!
//! Times compare on a base-2 logarithmic scale of their age at `now`
//! (LogarithmicScaleDown, on in 1.33): pods within the same power-of-two
//! age bucket are ordered by uid, a stable pseudo-random choice.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;

use crate::pods::{
    annotation, created_at, is_active, is_ready, max_container_restarts, phase_of, ready_since,
    str_at, uid_of,
};

/// The annotation that orders pods of one ReplicaSet for deletion (lower
/// goes first); an int32, 0 when missing or unreadable.
pub const POD_DELETION_COST_ANNOTATION: &str = "controller.kubernetes.io/pod-deletion-cost";

fn node_of(pod: &Value) -> &str {
    str_at(pod, "/spec/nodeName")
}

fn phase_rank(pod: &Value) -> u8 {
    match phase_of(pod) {
        "Unknown" => 1,
        "Running" => 2,
        _ => 0,
    }
}

fn deletion_cost(pod: &Value) -> i32 {
    annotation(pod, POD_DELETION_COST_ANNOTATION)
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

/// The base-2 logarithm of `time`'s age at `now` in nanoseconds (-1 when
/// not in the past), as `logarithmicRankDiff` buckets it.
fn age_bucket(time: Timestamp, now: Timestamp) -> i64 {
    let age = now.as_nanosecond() - time.as_nanosecond();
    if age <= 0 {
        return -1;
    }
    i64::from(127 - age.leading_zeros() as u8) // floor(log2(age))
}

/// Orders two times so that the more recent comes first; a missing time
/// comes before any other (`afterOrZero`), and with `now` the times
/// compare by their age's log2 bucket, ties broken by the pods' uids.
fn newer_first(
    a: Option<Timestamp>,
    b: Option<Timestamp>,
    uids: (&str, &str),
    now: Timestamp,
) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) if a == b => Ordering::Equal,
        (Some(a), Some(b)) => {
            let buckets = age_bucket(a, now).cmp(&age_bucket(b, now));
            buckets.then_with(|| uids.0.cmp(uids.1))
        }
    }
}

/// Compares two pods for deletion (`Less` first is deleted first), given
/// how many related active pods share each one's node.
pub fn deletion_order(a: &Value, b: &Value, ranks: (usize, usize), now: Timestamp) -> Ordering {
    let (node_a, node_b) = (node_of(a), node_of(b));
    if node_a != node_b && (node_a.is_empty() || node_b.is_empty()) {
        return if node_a.is_empty() {
            Ordering::Less
        } else {
            Ordering::Greater
        };
    }
    let uids = (uid_of(a), uid_of(b));
    phase_rank(a)
        .cmp(&phase_rank(b))
        .then_with(|| is_ready(a).cmp(&is_ready(b)))
        .then_with(|| deletion_cost(a).cmp(&deletion_cost(b)))
        .then_with(|| ranks.1.cmp(&ranks.0))
        .then_with(|| {
            if is_ready(a) && is_ready(b) {
                newer_first(ready_since(a), ready_since(b), uids, now)
            } else {
                Ordering::Equal
            }
        })
        .then_with(|| max_container_restarts(b).cmp(&max_container_restarts(a)))
        .then_with(|| newer_first(created_at(a), created_at(b), uids, now))
}

/// The `count` pods of `pods` (a ReplicaSet's active pods) to delete
/// first. `related` are the active pods of every ReplicaSet with the same
/// controller (a superset of `pods`): a pod on a node crowded with them
/// goes first. All of them when `count` ≥ their number.
pub fn pods_to_delete<'a>(
    pods: &[&'a Value],
    related: &[&Value],
    count: usize,
    now: Timestamp,
) -> Vec<&'a Value> {
    if count >= pods.len() {
        return pods.to_vec();
    }
    let mut on_node: BTreeMap<&str, usize> = BTreeMap::new();
    for pod in related.iter().filter(is_active) {
        *on_node.entry(node_of(pod)).or_default() += 1;
    }
    let rank = |pod: &Value| on_node.get(node_of(pod)).copied().unwrap_or(0);
    let mut ranked: Vec<&'a Value> = pods.to_vec();
    ranked.sort_by(|a, b| deletion_order(a, b, (rank(a), rank(b)), now));
    ranked.truncate(count);
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: &str = "2025-01-01T12:00:00Z";

    fn now() -> Timestamp {
        NOW.parse().unwrap()
    }

    /// A pod: name (= uid), node, phase, ready since (None: not ready),
    /// restarts, created.
    fn pod(
        name: &str,
        node: &str,
        phase: &str,
        ready_since: Option<&str>,
        restarts: i64,
        created: &str,
    ) -> Value {
        let ready = match ready_since {
            Some(since) => json!({"type": "Ready", "status": "True", "lastTransitionTime": since}),
            None => json!({"type": "Ready", "status": "False"}),
        };
        json!({
            "metadata": {"name": name, "uid": name, "creationTimestamp": created},
            "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": [ready],
                       "containerStatuses": [{"name": "c", "restartCount": restarts}]},
        })
    }

    fn order(pods: &[Value], related: &[Value]) -> Vec<String> {
        let pods: Vec<&Value> = pods.iter().collect();
        let related: Vec<&Value> = related.iter().collect();
        pods_to_delete(&pods, &related, pods.len() - 1, now())
            .into_iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    }

    const OLD: &str = "2025-01-01T00:00:00Z";

    #[test]
    fn each_rule_in_turn() {
        let running = |name: &str, node: &str| pod(name, node, "Running", Some(OLD), 0, OLD);
        let cases: Vec<(&str, Vec<Value>, Vec<&str>)> = vec![
            (
                "unassigned before assigned",
                vec![
                    running("assigned", "n1"),
                    pod("unassigned", "", "Pending", None, 0, OLD),
                    running("keep", "n2"),
                ],
                vec!["unassigned", "assigned"],
            ),
            (
                "Pending < Unknown < Running",
                vec![
                    running("running", "n1"),
                    pod("unknown", "n1", "Unknown", Some(OLD), 0, OLD),
                    pod("pending", "n1", "Pending", Some(OLD), 0, OLD),
                    running("keep", "n1"),
                ],
                vec!["pending", "unknown", "running"],
            ),
            (
                "not ready before ready",
                vec![
                    running("ready", "n1"),
                    pod("not-ready", "n1", "Running", None, 0, OLD),
                    running("keep", "n1"),
                ],
                vec!["not-ready", "ready"],
            ),
            (
                "ready for less time first",
                vec![
                    pod(
                        "ready-long",
                        "n1",
                        "Running",
                        Some("2025-01-01T00:00:00Z"),
                        0,
                        OLD,
                    ),
                    pod(
                        "ready-short",
                        "n1",
                        "Running",
                        Some("2025-01-01T11:59:00Z"),
                        0,
                        OLD,
                    ),
                    pod(
                        "keep",
                        "n1",
                        "Running",
                        Some("2024-01-01T00:00:00Z"),
                        0,
                        OLD,
                    ),
                ],
                vec!["ready-short", "ready-long"],
            ),
            (
                "more restarts first",
                vec![
                    pod("one", "n1", "Running", Some(OLD), 1, OLD),
                    pod("five", "n1", "Running", Some(OLD), 5, OLD),
                    running("keep", "n1"),
                ],
                vec!["five", "one"],
            ),
            (
                "newer first",
                vec![
                    pod(
                        "older",
                        "n1",
                        "Running",
                        Some(OLD),
                        0,
                        "2025-01-01T06:00:00Z",
                    ),
                    pod(
                        "newer",
                        "n1",
                        "Running",
                        Some(OLD),
                        0,
                        "2025-01-01T11:59:00Z",
                    ),
                    pod(
                        "keep",
                        "n1",
                        "Running",
                        Some(OLD),
                        0,
                        "2024-01-01T00:00:00Z",
                    ),
                ],
                vec!["newer", "older"],
            ),
        ];
        for (name, pods, expected) in cases {
            assert_eq!(order(&pods, &pods), expected, "{name}");
        }
    }

    #[test]
    fn a_pod_on_a_crowded_node_goes_first() {
        let pods = vec![
            pod("alone", "n1", "Running", Some(OLD), 0, OLD),
            pod("crowded", "n2", "Running", Some(OLD), 0, OLD),
            pod(
                "keep",
                "n3",
                "Running",
                Some(OLD),
                0,
                "2024-01-01T00:00:00Z",
            ),
        ];
        let mut related = pods.clone();
        related.push(pod("sibling", "n2", "Running", Some(OLD), 0, OLD));
        assert_eq!(order(&pods, &related), vec!["crowded", "alone"]);
    }

    #[test]
    fn a_lower_deletion_cost_goes_first() {
        let mut cheap = pod("cheap", "n1", "Running", Some(OLD), 0, OLD);
        cheap["metadata"]["annotations"] = json!({POD_DELETION_COST_ANNOTATION: "-5"});
        let pods = vec![
            pod(
                "dear",
                "n1",
                "Running",
                Some(OLD),
                9,
                "2025-01-01T11:59:00Z",
            ),
            cheap,
            pod(
                "keep",
                "n1",
                "Running",
                Some(OLD),
                0,
                "2024-01-01T00:00:00Z",
            ),
        ];
        assert_eq!(order(&pods, &pods)[0], "cheap");
    }

    #[test]
    fn ages_in_the_same_power_of_two_bucket_tie_and_fall_to_the_uid() {
        // 100 s and 110 s old: both floor(log2(ns)) = 36.
        let pods = vec![
            pod("b", "n1", "Running", Some(OLD), 0, "2025-01-01T11:58:20Z"),
            pod("a", "n1", "Running", Some(OLD), 0, "2025-01-01T11:58:10Z"),
            pod(
                "keep",
                "n1",
                "Running",
                Some(OLD),
                0,
                "2024-01-01T00:00:00Z",
            ),
        ];
        assert_eq!(order(&pods, &pods), vec!["a", "b"]);
    }
}
