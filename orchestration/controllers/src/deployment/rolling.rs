//! The RollingUpdate strategy (`rolling.go`): grow the new ReplicaSet up to
//! replicas + maxSurge pods in all, shrink the old ones while at least
//! replicas - maxUnavailable pods stay available.
//!
//! ```text
//!   new RS  ─► min(replicas + maxSurge - Σ spec.replicas, replicas - new) more
//!   old RSs ─► maxScaledDown = Σ spec - (replicas - maxUnavailable) - new RS's unavailable
//!              1. their unhealthy replicas first (oldest RS first)
//!              2. then Σ available - (replicas - maxUnavailable) more (oldest first)
//! ```

use serde_json::Value;

use super::fenceposts::{max_surge, max_unavailable};
use super::plan::Work;
use super::revisions::by_creation;
use super::spec::{is_rolling_update, replicas, rs_replicas, status_count};

/// The replicas the new ReplicaSet should have now (`NewRSNewReplicas`):
/// for RollingUpdate, grown by what the surge leaves room for; for
/// Recreate, all of them.
pub fn new_rs_new_replicas(deployment: &Value, all: &[&Value], new: &Value) -> i64 {
    let desired = replicas(deployment);
    if !is_rolling_update(deployment) {
        return desired;
    }
    let current: i64 = all.iter().map(|rs| rs_replicas(rs)).sum();
    let most = desired + max_surge(deployment);
    let new_replicas = rs_replicas(new);
    if current >= most {
        return new_replicas;
    }
    new_replicas + (most - current).min(desired - new_replicas)
}

/// Scales the new ReplicaSet toward the Deployment's replicas
/// (`reconcileNewReplicaSet`); whether it scaled.
pub(crate) fn reconcile_new(work: &mut Work, new: usize) -> bool {
    let desired = replicas(&work.deployment);
    let current = rs_replicas(&work.replica_sets[new]);
    if current == desired {
        return false;
    }
    if current > desired {
        return work.scale(new, desired);
    }
    let all: Vec<&Value> = work.replica_sets.iter().collect();
    let target = new_rs_new_replicas(&work.deployment, &all, &work.replica_sets[new]);
    work.scale(new, target)
}

/// Old ReplicaSets with replicas, oldest first.
fn active_old_by_age(work: &Work, new: usize) -> Vec<usize> {
    let mut old: Vec<usize> = (0..work.replica_sets.len())
        .filter(|&i| i != new && rs_replicas(&work.replica_sets[i]) > 0)
        .collect();
    old.sort_by(|&a, &b| by_creation(&work.replica_sets[a], &work.replica_sets[b]));
    old
}

/// Scales old ReplicaSets down as far as availability allows
/// (`reconcileOldReplicaSets`); whether any scaled.
pub(crate) fn reconcile_old(work: &mut Work, new: usize) -> bool {
    let old = active_old_by_age(work, new);
    let old_pods: i64 = old
        .iter()
        .map(|&i| rs_replicas(&work.replica_sets[i]))
        .sum();
    if old_pods == 0 {
        return false;
    }
    let all_pods: i64 = work.replica_sets.iter().map(rs_replicas).sum();
    let min_available = replicas(&work.deployment) - max_unavailable(&work.deployment);
    let new_rs = &work.replica_sets[new];
    let new_unavailable = rs_replicas(new_rs) - status_count(new_rs, "availableReplicas");
    let max_scaled_down = all_pods - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return false;
    }
    let cleaned = cleanup_unhealthy(work, &old, max_scaled_down);
    let scaled = scale_down_old(work, &old);
    cleaned + scaled > 0
}

/// Scales old ReplicaSets down by their unavailable replicas, at most
/// `most` in all, oldest first (`cleanupUnhealthyReplicas`): removing pods
/// that are not available costs no availability.
fn cleanup_unhealthy(work: &mut Work, old: &[usize], most: i64) -> i64 {
    let mut total = 0;
    for &index in old {
        if total >= most {
            break;
        }
        let rs = &work.replica_sets[index];
        let (count, available) = (rs_replicas(rs), status_count(rs, "availableReplicas"));
        if count == 0 || count == available {
            continue;
        }
        let down = (most - total).min(count - available);
        assert!(down >= 0, "cleanup never scales up");
        work.scale(index, count - down);
        total += down;
    }
    total
}

/// Scales old ReplicaSets down by what availability above the minimum
/// allows, oldest first (`scaleDownOldReplicaSetsForRollingUpdate`).
fn scale_down_old(work: &mut Work, old: &[usize]) -> i64 {
    let min_available = replicas(&work.deployment) - max_unavailable(&work.deployment);
    let available: i64 = work
        .replica_sets
        .iter()
        .map(|rs| status_count(rs, "availableReplicas"))
        .sum();
    if available <= min_available {
        return 0;
    }
    let wanted = available - min_available;
    let mut total = 0;
    for &index in old {
        if total >= wanted {
            break;
        }
        let count = rs_replicas(&work.replica_sets[index]);
        if count == 0 {
            continue;
        }
        let down = count.min(wanted - total);
        work.scale(index, count - down);
        total += down;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: i64, surge: Value, unavailable: Value) -> Value {
        let mut d = json!({"metadata": {"name": "web"}, "spec": {"replicas": replicas,
                           "strategy": {"type": "RollingUpdate", "rollingUpdate": {}}}});
        d["spec"]["strategy"]["rollingUpdate"]["maxSurge"] = surge;
        d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = unavailable;
        d
    }

    fn rs(name: &str, created: &str, replicas: i64, available: i64) -> Value {
        json!({"metadata": {"name": name, "creationTimestamp": created},
               "spec": {"replicas": replicas}, "status": {"replicas": replicas, "availableReplicas": available}})
    }

    #[test]
    fn the_new_replica_set_grows_by_what_the_surge_leaves() {
        // (replicas, surge, old spec total, new spec) -> new target
        let cases = [
            (10, json!("25%"), 10, 0, 3),
            (10, json!("25%"), 8, 3, 5),
            (10, json!("25%"), 10, 3, 3),
            (10, json!(0), 9, 0, 1),
            (10, json!("25%"), 0, 9, 10),
            (1, json!("25%"), 1, 0, 1),
        ];
        for (desired, surge, old_total, new_count, expected) in cases {
            let d = deployment(desired, surge.clone(), json!("25%"));
            let old = rs("old", "2025-01-01T00:00:00Z", old_total, old_total);
            let new = rs("new", "2025-01-02T00:00:00Z", new_count, 0);
            assert_eq!(
                new_rs_new_replicas(&d, &[&old, &new], &new),
                expected,
                "{desired} replicas, surge {surge}, old {old_total}, new {new_count}"
            );
        }
        let recreate = json!({"spec": {"replicas": 5, "strategy": {"type": "Recreate"}}});
        assert_eq!(new_rs_new_replicas(&recreate, &[], &rs("new", "", 0, 0)), 5);
    }

    fn work(d: Value, replica_sets: Vec<Value>) -> Work {
        Work::new(d, replica_sets, "2025-01-03T00:00:00Z".parse().unwrap())
    }

    fn replicas_of(work: &Work) -> Vec<i64> {
        work.replica_sets.iter().map(rs_replicas).collect()
    }

    #[test]
    fn old_replica_sets_shrink_as_availability_allows() {
        // 10 replicas, 3 surge, 2 unavailable: new RS at 3 with none available;
        // the old at 10 all available: 13 - 8 - 3 = 2 may go.
        let mut w = work(
            deployment(10, json!(3), json!(2)),
            vec![
                rs("old", "2025-01-01T00:00:00Z", 10, 10),
                rs("new", "2025-01-02T00:00:00Z", 3, 0),
            ],
        );
        assert!(reconcile_old(&mut w, 1));
        assert_eq!(replicas_of(&w), vec![8, 3]);
        // Nothing more until new pods become available.
        w.replica_sets[0]["status"]["availableReplicas"] = json!(8);
        assert!(!reconcile_old(&mut w, 1));
    }

    #[test]
    fn unhealthy_old_replicas_go_first_without_touching_availability() {
        // Two old RSs: the older has 2 unavailable of 5. 10 replicas, 0 surge, 1 unavailable.
        let mut w = work(
            deployment(10, json!(0), json!(1)),
            vec![
                rs("older", "2025-01-01T00:00:00Z", 5, 3),
                rs("old", "2025-01-01T12:00:00Z", 5, 5),
                rs("new", "2025-01-02T00:00:00Z", 0, 0),
            ],
        );
        // maxScaledDown = 10 - 9 - 0 = 1: one unhealthy replica goes, then
        // availability (8) is below the minimum (9): nothing more.
        assert!(reconcile_old(&mut w, 2));
        assert_eq!(replicas_of(&w), vec![4, 5, 0]);
    }

    #[test]
    fn old_replica_sets_scale_down_oldest_first() {
        let mut w = work(
            deployment(4, json!(1), json!(1)),
            vec![
                rs("old", "2025-01-01T12:00:00Z", 2, 2),
                rs("older", "2025-01-01T00:00:00Z", 2, 2),
                rs("new", "2025-01-02T00:00:00Z", 1, 1),
            ],
        );
        assert!(reconcile_old(&mut w, 2));
        assert_eq!(
            replicas_of(&w),
            vec![2, 0, 1],
            "available 5 - minimum 3 = 2, all from the older"
        );
        assert_eq!(
            w.plan.events[0].message,
            "Scaled down replica set older from 2 to 0"
        );
    }
}
