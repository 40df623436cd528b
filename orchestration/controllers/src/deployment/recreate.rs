//! The Recreate strategy (`recreate.go`): scale every old ReplicaSet to 0,
//! wait until none of their pods is left running, then create or scale the
//! new ReplicaSet to all replicas.
//!
//! ```text
//!   old RSs with replicas ─► scale to 0 ─► (next syncs) old pods gone? ─► new RS to replicas
//! ```

use serde_json::Value;

use super::plan::Work;
use super::spec::status_count;
use crate::pods::{controller_of, phase_of, uid_of};

/// Whether any pod of an old ReplicaSet may still run (`oldPodsRunning`):
/// old ReplicaSets still report pods, or a pod controlled by one of the
/// Deployment's ReplicaSets other than the new one is neither Succeeded
/// nor Failed.
pub fn old_pods_running(replica_sets: &[Value], new: Option<usize>, pods: &[Value]) -> bool {
    let old = (0..replica_sets.len()).filter(|&i| Some(i) != new);
    if old
        .map(|i| status_count(&replica_sets[i], "replicas"))
        .sum::<i64>()
        > 0
    {
        return true;
    }
    let new_uid = new.map(|i| uid_of(&replica_sets[i]));
    pods.iter().any(|pod| {
        let Some(owner) = controller_of(pod)
            .and_then(|r| r.get("uid"))
            .and_then(Value::as_str)
        else {
            return false;
        };
        let ours = replica_sets.iter().any(|rs| uid_of(rs) == owner);
        ours && Some(owner) != new_uid && !matches!(phase_of(pod), "Succeeded" | "Failed")
    })
}

/// Scales every old ReplicaSet with replicas to 0; whether any scaled
/// (`scaleDownOldReplicaSetsForRecreate`).
pub(crate) fn scale_down_old(work: &mut Work, new: Option<usize>) -> bool {
    let mut scaled = false;
    for index in 0..work.replica_sets.len() {
        if Some(index) != new && super::spec::rs_replicas(&work.replica_sets[index]) > 0 {
            scaled |= work.scale(index, 0);
        }
    }
    scaled
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(uid: &str, status_replicas: i64) -> Value {
        json!({"metadata": {"name": uid, "uid": uid}, "spec": {"replicas": 0},
               "status": {"replicas": status_replicas}})
    }

    fn pod(owner: &str, phase: &str) -> Value {
        json!({"metadata": {"ownerReferences": [{"uid": owner, "controller": true}]}, "status": {"phase": phase}})
    }

    #[test]
    fn old_pods_run_until_finished_or_gone() {
        let sets = vec![rs("old", 0), rs("new", 0)];
        let cases = [
            (vec![], false),
            (vec![pod("old", "Running")], true),
            (vec![pod("old", "Pending")], true),
            (vec![pod("old", "Unknown")], true),
            (vec![pod("old", "Succeeded"), pod("old", "Failed")], false),
            (vec![pod("new", "Running")], false),
            (vec![pod("someone-else", "Running")], false),
        ];
        for (pods, running) in cases {
            assert_eq!(old_pods_running(&sets, Some(1), &pods), running, "{pods:?}");
        }
        assert!(
            old_pods_running(&[rs("old", 1)], None, &[]),
            "the old RS still reports pods"
        );
    }
}
