//! Where a DaemonSet's pods belong (`NodeShouldRunDaemonPod` in
//! pkg/controller/daemon/daemon_controller.go): the scheduler's own node
//! affinity and taint rules, applied to the pod the DaemonSet would make,
//! which carries the DaemonSet's default tolerations.

use keel_scheduler::filters::{node_affinity, taint_toleration};
use keel_scheduler::model::terms::tolerated;
use keel_scheduler::model::{Node, PodInfo};
use serde_json::{json, Value};

/// The tolerations every daemon pod gets (pkg/controller/daemon/util
/// `AddOrUpdateDaemonPodTolerations`): it stays on not-ready and
/// unreachable nodes, and is placed on nodes under pressure and on
/// cordoned ones; on the host's network, also before the network is up.
pub fn add_default_tolerations(spec: &mut Value) {
    let host_network = spec.get("hostNetwork").and_then(Value::as_bool) == Some(true);
    let mut wanted = vec![
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if host_network {
        wanted.push(("node.kubernetes.io/network-unavailable", "NoSchedule"));
    }
    let tolerations = spec
        .as_object_mut()
        .expect("a pod spec is an object")
        .entry("tolerations")
        .or_insert_with(|| json!([]));
    if !tolerations.is_array() {
        *tolerations = json!([]);
    }
    let list = tolerations.as_array_mut().expect("made an array above");
    for (key, effect) in wanted {
        let present = list.iter().any(|t| {
            t.get("key").and_then(Value::as_str) == Some(key)
                && t.get("effect").and_then(Value::as_str) == Some(effect)
        });
        if !present {
            list.push(json!({"key": key, "operator": "Exists", "effect": effect}));
        }
    }
}

/// Pins a daemon pod's spec to `node` (`ReplaceDaemonSetPodNodeNameNodeAffinity`):
/// its required node affinity becomes one term matching the node's
/// name, so the scheduler can only bind it there; preferred terms stay.
pub fn pin_to_node(spec: &mut Value, node: &str) {
    let term = json!({"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": [node]}]});
    let affinity = &mut spec["affinity"];
    if !affinity.is_object() {
        *affinity = json!({});
    }
    let node_affinity = &mut affinity["nodeAffinity"];
    if !node_affinity.is_object() {
        *node_affinity = json!({});
    }
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] =
        json!({"nodeSelectorTerms": [term]});
}

/// The node a daemon pod is for: its `spec.nodeName`, or the name its
/// required node affinity pins it to (`GetTargetNodeName`).
pub fn target_node(pod: &Value) -> Option<&str> {
    if let Some(name) = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
    {
        return Some(name);
    }
    let terms = pod
        .pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")?
        .as_array()?;
    terms.iter().find_map(|term| {
        term.get("matchFields")?
            .as_array()?
            .iter()
            .find_map(|field| {
                let pinned = field.get("key")?.as_str()? == "metadata.name"
                    && field.get("operator")?.as_str()? == "In";
                let values = field.get("values")?.as_array()?;
                (pinned && values.len() == 1)
                    .then(|| values[0].as_str())
                    .flatten()
            })
    })
}

/// Whether a daemon pod should be placed on a node, and whether one
/// running there may stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// The node takes a new daemon pod.
    pub should_run: bool,
    /// A daemon pod already there may stay (its NoExecute taints are
    /// tolerated; NoSchedule ones do not evict).
    pub may_stay: bool,
}

/// Where `pod` (the DaemonSet's pod for `node`, with its tolerations)
/// belongs.
pub fn placement(node: &Node, pod: &PodInfo) -> Placement {
    if node_affinity(node, pod).is_some() {
        return Placement {
            should_run: false,
            may_stay: false,
        };
    }
    let may_stay = node
        .taints
        .iter()
        .filter(|taint| taint.effect == "NoExecute")
        .all(|taint| tolerated(&pod.tolerations, taint));
    Placement {
        should_run: may_stay && taint_toleration(node, pod).is_none(),
        may_stay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(labels: &Value, taints: &Value, unschedulable: bool) -> Node {
        Node::from_node(&json!({"metadata": {"name": "n1", "labels": labels},
                                "spec": {"taints": taints, "unschedulable": unschedulable},
                                "status": {"allocatable": {"cpu": "1", "memory": "1Gi", "pods": "10"}}}))
    }

    fn daemon_pod(extra_spec: &Value) -> PodInfo {
        let mut spec = json!({"containers": [{"name": "c", "image": "i"}]});
        for (key, value) in extra_spec.as_object().unwrap() {
            spec[key] = value.clone();
        }
        add_default_tolerations(&mut spec);
        pin_to_node(&mut spec, "n1");
        PodInfo::from_pod(&json!({"metadata": {"name": "d", "namespace": "default"}, "spec": spec}))
    }

    #[test]
    fn placement_follows_selectors_taints_and_default_tolerations() {
        let plain = daemon_pod(&json!({}));
        let on = |should_run, may_stay| Placement {
            should_run,
            may_stay,
        };
        // A plain node, a cordoned one, one under memory pressure: yes.
        assert_eq!(
            placement(&node(&json!({}), &json!([]), false), &plain),
            on(true, true)
        );
        assert_eq!(
            placement(&node(&json!({}), &json!([]), true), &plain),
            on(true, true)
        );
        let pressure =
            json!([{"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}]);
        assert_eq!(
            placement(&node(&json!({}), &pressure, false), &plain),
            on(true, true)
        );
        // Unreachable (NoExecute, tolerated by default): runs and stays.
        let unreachable = json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]);
        assert_eq!(
            placement(&node(&json!({}), &unreachable, false), &plain),
            on(true, true)
        );
        // Another NoSchedule taint: no new pod, a running one stays.
        let dedicated = json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]);
        assert_eq!(
            placement(&node(&json!({}), &dedicated, false), &plain),
            on(false, true)
        );
        // Another NoExecute taint: neither.
        let evicting = json!([{"key": "dedicated", "value": "db", "effect": "NoExecute"}]);
        assert_eq!(
            placement(&node(&json!({}), &evicting, false), &plain),
            on(false, false)
        );
        // A nodeSelector the node lacks: neither; one it has: yes.
        let picky = daemon_pod(&json!({"nodeSelector": {"disk": "ssd"}}));
        assert_eq!(
            placement(&node(&json!({}), &json!([]), false), &picky),
            on(false, false)
        );
        assert_eq!(
            placement(&node(&json!({"disk": "ssd"}), &json!([]), false), &picky),
            on(true, true)
        );
    }

    #[test]
    fn a_pinned_pod_names_its_node_and_keeps_its_tolerations_once() {
        let mut spec = json!({"tolerations": [
            {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}],
            "affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": []}}});
        add_default_tolerations(&mut spec);
        add_default_tolerations(&mut spec);
        assert_eq!(spec["tolerations"].as_array().unwrap().len(), 6);
        pin_to_node(&mut spec, "n7");
        let pod = json!({"spec": spec});
        assert_eq!(target_node(&pod), Some("n7"));
        assert!(pod
            .pointer("/spec/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution")
            .is_some());
        let bound = json!({"spec": {"nodeName": "n8"}});
        assert_eq!(target_node(&bound), Some("n8"));
        assert_eq!(target_node(&json!({"spec": {}})), None);
        let mut on_host = json!({"hostNetwork": true});
        add_default_tolerations(&mut on_host);
        assert_eq!(on_host["tolerations"].as_array().unwrap().len(), 7);
    }
}
