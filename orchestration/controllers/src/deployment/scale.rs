//! Scaling a Deployment that is mid-rollout or paused (`scale` in
//! `sync.go`, `GetProportion` in `deployment_util.go`): the replicas added
//! or removed are shared among the active ReplicaSets in proportion to
//! their size, so a scale neither hastens nor undoes the rollout.
//!
//! ```text
//!   one active RS (or none) ─► it (or the newest) takes all replicas
//!   new RS saturated ──────► old RSs to 0
//!   otherwise (RollingUpdate):
//!     to add = replicas + maxSurge - Σ spec.replicas
//!     each RS, largest first (newer first growing, older first shrinking):
//!       round(spec × (replicas + maxSurge) / its max-replicas annotation) - spec
//!     leftovers to the first (largest) one
//! ```

use serde_json::Value;

use super::fenceposts::max_surge;
use super::plan::Work;
use super::revisions::{
    by_creation, is_active, DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION,
};
use super::spec::{is_rolling_update, replicas, rs_replicas, status_count};
use crate::pods::annotation;

fn annotated(rs: &Value, key: &str) -> Option<i64> {
    annotation(rs, key).and_then(|text| text.parse().ok())
}

/// Whether the Deployment's replicas changed since its active ReplicaSets
/// were last scaled (their desired-replicas annotation differs)
/// (`isScalingEvent`).
pub fn is_scaling_event(deployment: &Value, replica_sets: &[Value]) -> bool {
    let desired = replicas(deployment);
    replica_sets
        .iter()
        .filter(|rs| is_active(rs))
        .filter_map(|rs| annotated(rs, DESIRED_REPLICAS_ANNOTATION))
        .any(|annotated| annotated != desired)
}

/// Whether the new ReplicaSet holds all the Deployment's replicas, knows
/// it, and has them all available (`IsSaturated`).
pub fn is_saturated(deployment: &Value, new: &Value) -> bool {
    let desired = replicas(deployment);
    rs_replicas(new) == desired
        && annotated(new, DESIRED_REPLICAS_ANNOTATION) == Some(desired)
        && status_count(new, "availableReplicas") == desired
}

/// The change of one ReplicaSet's size in a proportional scale
/// (`getReplicaSetFraction`): its share of the Deployment's new
/// replicas + surge, measured against the max-replicas it was scaled for
/// (the Deployment's replicas in its status when that is missing).
fn fraction(deployment: &Value, rs: &Value) -> i64 {
    let desired = replicas(deployment);
    let size = rs_replicas(rs);
    if desired == 0 {
        return -size;
    }
    let total = desired + max_surge(deployment);
    let annotated_total = annotated(rs, MAX_REPLICAS_ANNOTATION)
        .unwrap_or_else(|| status_count(deployment, "replicas"));
    if annotated_total == 0 {
        return 0;
    }
    // Go's integer.RoundToInt32: halves away from zero.
    let scaled = (size * total) as f64 / annotated_total as f64;
    scaled.round() as i64 - size
}

/// How much one ReplicaSet grows (or, negative, shrinks), given what is
/// to be added in all and what was added so far (`GetProportion`).
fn proportion(deployment: &Value, rs: &Value, to_add: i64, added: i64) -> i64 {
    if rs_replicas(rs) == 0 || to_add == 0 || to_add == added {
        return 0;
    }
    let share = fraction(deployment, rs);
    let allowed = to_add - added;
    if to_add > 0 {
        share.min(allowed)
    } else {
        share.max(allowed)
    }
}

/// The one ReplicaSet to give all replicas to: the only active one, or the
/// newest when none is active; `None` when several are
/// (`FindActiveOrLatest`).
fn active_or_latest(work: &Work, new: Option<usize>) -> Option<usize> {
    let mut old: Vec<usize> = (0..work.replica_sets.len())
        .filter(|&i| Some(i) != new)
        .collect();
    old.sort_by(|&a, &b| by_creation(&work.replica_sets[b], &work.replica_sets[a]));
    let active: Vec<usize> = old
        .iter()
        .copied()
        .chain(new)
        .filter(|&i| is_active(&work.replica_sets[i]))
        .collect();
    match active.len() {
        0 => new.or_else(|| old.first().copied()),
        1 => Some(active[0]),
        _ => None,
    }
}

/// Scales the Deployment's ReplicaSets to its replicas (`scale`).
pub(crate) fn scale(work: &mut Work, new: Option<usize>) {
    let desired = replicas(&work.deployment);
    if work.replica_sets.is_empty() {
        return;
    }
    if let Some(only) = active_or_latest(work, new) {
        if rs_replicas(&work.replica_sets[only]) != desired {
            work.scale(only, desired);
        }
        return;
    }
    if let Some(new) = new.filter(|&n| is_saturated(&work.deployment, &work.replica_sets[n])) {
        for index in 0..work.replica_sets.len() {
            if index != new && is_active(&work.replica_sets[index]) {
                work.scale(index, 0);
            }
        }
        return;
    }
    if !is_rolling_update(&work.deployment) {
        return;
    }
    proportional(work);
}

fn proportional(work: &mut Work) {
    let desired = replicas(&work.deployment);
    let mut active: Vec<usize> = (0..work.replica_sets.len())
        .filter(|&i| is_active(&work.replica_sets[i]))
        .collect();
    let total: i64 = active
        .iter()
        .map(|&i| rs_replicas(&work.replica_sets[i]))
        .sum();
    let allowed = if desired > 0 {
        desired + max_surge(&work.deployment)
    } else {
        0
    };
    let to_add = allowed - total;
    let sets = &work.replica_sets;
    let operation = match to_add.signum() {
        1 => {
            // Larger first; of equal size, newer first.
            active.sort_by(|&a, &b| {
                rs_replicas(&sets[b])
                    .cmp(&rs_replicas(&sets[a]))
                    .then_with(|| by_creation(&sets[b], &sets[a]))
            });
            "up"
        }
        -1 => {
            // Larger first; of equal size, older first.
            active.sort_by(|&a, &b| {
                rs_replicas(&sets[b])
                    .cmp(&rs_replicas(&sets[a]))
                    .then_with(|| by_creation(&sets[a], &sets[b]))
            });
            "down"
        }
        _ => "",
    };
    let mut added = 0;
    let mut sizes: Vec<i64> = Vec::with_capacity(active.len());
    for &index in &active {
        let rs = &work.replica_sets[index];
        let change = proportion(&work.deployment, rs, to_add, added);
        sizes.push(rs_replicas(rs) + change);
        added += change;
    }
    if to_add != 0 && !sizes.is_empty() {
        sizes[0] = (sizes[0] + to_add - added).max(0);
    }
    for (&index, size) in active.iter().zip(sizes) {
        work.scale_as(index, size, operation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i64) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {"replicas": replicas, "strategy": {"type": "RollingUpdate",
               "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}}, "status": {"replicas": 13}})
    }

    fn rs(name: &str, created: &str, replicas: i64, desired: i64, max: i64) -> Value {
        json!({"metadata": {"name": name, "creationTimestamp": created, "annotations": {
                   DESIRED_REPLICAS_ANNOTATION: desired.to_string(), MAX_REPLICAS_ANNOTATION: max.to_string()}},
               "spec": {"replicas": replicas}, "status": {"replicas": replicas, "availableReplicas": replicas}})
    }

    fn work(d: Value, replica_sets: Vec<Value>) -> Work {
        Work::new(d, replica_sets, "2025-01-03T00:00:00Z".parse().unwrap())
    }

    fn sizes(work: &Work) -> Vec<i64> {
        work.replica_sets.iter().map(rs_replicas).collect()
    }

    #[test]
    fn a_scale_mid_rollout_is_shared_in_proportion() {
        // Mid-rollout of 10 (+3 surge): old 8, new 5. Scaled to 20 (+3): 23 in all.
        let replica_sets = vec![
            rs("old", "2025-01-01T00:00:00Z", 8, 10, 13),
            rs("new", "2025-01-02T00:00:00Z", 5, 10, 13),
        ];
        assert!(is_scaling_event(&deployment(20), &replica_sets));
        let mut w = work(deployment(20), replica_sets);
        scale(&mut w, Some(1));
        // old: round(8 × 23 / 13) = 14; new: round(5 × 23 / 13) = 9 — 23 in all.
        assert_eq!(sizes(&w), vec![14, 9]);
        for rs in &w.replica_sets {
            assert_eq!(annotation(rs, DESIRED_REPLICAS_ANNOTATION), Some("20"));
            assert_eq!(annotation(rs, MAX_REPLICAS_ANNOTATION), Some("23"));
        }
        // And back down to 5 (+3 = 8).
        let mut w = work(deployment(5), w.replica_sets);
        scale(&mut w, Some(1));
        assert_eq!(sizes(&w), vec![5, 3]);
        assert_eq!(sizes(&w).iter().sum::<i64>(), 8);
    }

    #[test]
    fn leftovers_go_to_the_largest() {
        let replica_sets = vec![
            rs("a", "2025-01-01T00:00:00Z", 1, 3, 3),
            rs("b", "2025-01-01T01:00:00Z", 1, 3, 3),
            rs("c", "2025-01-01T02:00:00Z", 1, 3, 3),
        ];
        let mut d = deployment(4);
        d["spec"]["strategy"]["rollingUpdate"] = json!({"maxSurge": 0, "maxUnavailable": 1});
        let mut w = work(d, replica_sets);
        scale(&mut w, None);
        // to add 1: each share round(1 × 4 / 3) - 1 = 0; the leftover to the
        // first of the equal sizes when growing: the newest.
        assert_eq!(sizes(&w), vec![1, 1, 2]);
    }

    #[test]
    fn one_active_replica_set_takes_all_and_a_saturated_new_one_empties_the_old() {
        let mut w = work(
            deployment(7),
            vec![rs("only", "2025-01-01T00:00:00Z", 4, 4, 7)],
        );
        scale(&mut w, Some(0));
        assert_eq!(sizes(&w), vec![7]);
        assert_eq!(
            w.plan.events[0].message,
            "Scaled up replica set only from 4 to 7"
        );

        let mut w = work(
            deployment(10),
            vec![
                rs("old", "2025-01-01T00:00:00Z", 2, 10, 13),
                rs("new", "2025-01-02T00:00:00Z", 10, 10, 13),
            ],
        );
        scale(&mut w, Some(1));
        assert_eq!(sizes(&w), vec![0, 10]);
    }
}
