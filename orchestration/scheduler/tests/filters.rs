//! Every filter, as a table: pod and node as small JSON objects, and the
//! reason Kubernetes gives (`pkg/scheduler/framework/plugins/*`), or none.

mod support;

use keel_scheduler::filters::{self, Reason, Resource};
use serde_json::{json, Value};
use support::{node, node_info, node_with, pod, pod_with};

fn reason_text(reason: Option<Reason>) -> Option<String> {
    reason.map(|r| r.to_string())
}

#[test]
fn node_unschedulable() {
    let cordoned = json!({"spec": {"unschedulable": true}});
    let cases: [(&str, Value, Value, Option<&str>); 4] = [
        ("schedulable node", json!({}), json!({}), None),
        (
            "cordoned node",
            cordoned.clone(),
            json!({}),
            Some("node(s) were unschedulable"),
        ),
        (
            "tolerates the unschedulable taint",
            cordoned.clone(),
            json!({"spec": {"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]}}),
            None,
        ),
        (
            "tolerates another taint only",
            cordoned,
            json!({"spec": {"tolerations": [{"key": "other", "operator": "Exists"}]}}),
            Some("node(s) were unschedulable"),
        ),
    ];
    for (name, node_patch, pod_patch, want) in cases {
        let got =
            filters::node_unschedulable(&node_with("n1", &node_patch), &pod_with("p", &pod_patch));
        assert_eq!(reason_text(got).as_deref(), want, "{name}");
    }
}

#[test]
fn node_name() {
    let cases = [
        ("no node name", json!({}), None),
        ("this node", json!({"spec": {"nodeName": "n1"}}), None),
        (
            "another node",
            json!({"spec": {"nodeName": "n2"}}),
            Some("node(s) didn't match the requested node name"),
        ),
    ];
    for (name, pod_patch, want) in cases {
        let got = filters::node_name(&node_with("n1", &json!({})), &pod_with("p", &pod_patch));
        assert_eq!(reason_text(got).as_deref(), want, "{name}");
    }
}

#[test]
fn taint_toleration() {
    let taints = |list: Value| json!({"spec": {"taints": list}});
    let tolerations = |list: Value| json!({"spec": {"tolerations": list}});
    let unreachable = json!([{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]);
    let cases = [
        ("no taints", json!({}), json!({}), None),
        (
            "untolerated NoExecute",
            taints(unreachable.clone()),
            json!({}),
            Some("node(s) had untolerated taint {node.kubernetes.io/unreachable: }"),
        ),
        (
            "Exists with the key",
            taints(unreachable.clone()),
            tolerations(
                json!([{"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]),
            ),
            None,
        ),
        (
            "empty key with Exists tolerates everything",
            taints(
                json!([{"key": "a", "value": "1", "effect": "NoSchedule"}, {"key": "b", "effect": "NoExecute"}]),
            ),
            tolerations(json!([{"operator": "Exists"}])),
            None,
        ),
        (
            "Equal needs the same value",
            taints(json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])),
            tolerations(
                json!([{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]),
            ),
            Some("node(s) had untolerated taint {dedicated: gpu}"),
        ),
        (
            "empty operator is Equal",
            taints(json!([{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])),
            tolerations(json!([{"key": "dedicated", "value": "gpu"}])),
            None,
        ),
        (
            "the effect must match when given",
            taints(json!([{"key": "k", "value": "v", "effect": "NoExecute"}])),
            tolerations(json!([{"key": "k", "value": "v", "effect": "NoSchedule"}])),
            Some("node(s) had untolerated taint {k: v}"),
        ),
        (
            "PreferNoSchedule never filters",
            taints(json!([{"key": "soft", "effect": "PreferNoSchedule"}])),
            json!({}),
            None,
        ),
        (
            "the first untolerated taint in the node's order is named",
            taints(
                json!([{"key": "a", "effect": "PreferNoSchedule"}, {"key": "b", "value": "x", "effect": "NoSchedule"}, {"key": "c", "effect": "NoExecute"}]),
            ),
            json!({}),
            Some("node(s) had untolerated taint {b: x}"),
        ),
    ];
    for (name, node_patch, pod_patch, want) in cases {
        let got =
            filters::taint_toleration(&node_with("n1", &node_patch), &pod_with("p", &pod_patch));
        assert_eq!(reason_text(got).as_deref(), want, "{name}");
    }
}

#[test]
fn node_affinity_and_selector() {
    let labels =
        json!({"metadata": {"name": "n1", "labels": {"zone": "a", "disk": "ssd", "cores": "8"}}});
    let required = |terms: Value| json!({"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}});
    let expression = |key: &str, operator: &str, values: Value| {
        required(
            json!([{"matchExpressions": [{"key": key, "operator": operator, "values": values}]}]),
        )
    };
    let cases = [
        ("nothing asked", json!({}), true),
        (
            "nodeSelector equal",
            json!({"spec": {"nodeSelector": {"disk": "ssd"}}}),
            true,
        ),
        (
            "nodeSelector differs",
            json!({"spec": {"nodeSelector": {"disk": "hdd"}}}),
            false,
        ),
        (
            "nodeSelector label missing",
            json!({"spec": {"nodeSelector": {"gpu": "yes"}}}),
            false,
        ),
        ("In", expression("zone", "In", json!(["a", "b"])), true),
        (
            "In, other values",
            expression("zone", "In", json!(["b"])),
            false,
        ),
        ("NotIn", expression("zone", "NotIn", json!(["b"])), true),
        (
            "NotIn, label missing",
            expression("gpu", "NotIn", json!(["x"])),
            true,
        ),
        (
            "NotIn, excluded",
            expression("zone", "NotIn", json!(["a"])),
            false,
        ),
        ("Exists", expression("disk", "Exists", json!([])), true),
        (
            "Exists, missing",
            expression("gpu", "Exists", json!([])),
            false,
        ),
        (
            "DoesNotExist",
            expression("gpu", "DoesNotExist", json!([])),
            true,
        ),
        (
            "DoesNotExist, present",
            expression("disk", "DoesNotExist", json!([])),
            false,
        ),
        ("Gt", expression("cores", "Gt", json!(["4"])), true),
        (
            "Gt, not greater",
            expression("cores", "Gt", json!(["8"])),
            false,
        ),
        ("Lt", expression("cores", "Lt", json!(["16"])), true),
        (
            "Lt, not a number on the node",
            expression("zone", "Lt", json!(["16"])),
            false,
        ),
        (
            "Gt with two values does not parse: no node",
            expression("cores", "Gt", json!(["1", "2"])),
            false,
        ),
        (
            "expressions in a term are ANDed",
            required(json!([{"matchExpressions": [
                {"key": "zone", "operator": "In", "values": ["a"]},
                {"key": "disk", "operator": "In", "values": ["hdd"]}]}])),
            false,
        ),
        (
            "terms are ORed",
            required(json!([
                {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["b"]}]},
                {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}])),
            true,
        ),
        (
            "an empty term selects nothing",
            required(json!([{}])),
            false,
        ),
        (
            "matchFields on metadata.name",
            required(
                json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]),
            ),
            true,
        ),
        (
            "matchFields naming another node",
            required(
                json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n2"]}]}]),
            ),
            false,
        ),
        (
            "matchFields NotIn",
            required(
                json!([{"matchFields": [{"key": "metadata.name", "operator": "NotIn", "values": ["n2"]}]}]),
            ),
            true,
        ),
        (
            "nodeSelector and affinity must both hold",
            support::merged(
                expression("zone", "In", json!(["a"])),
                &json!({"spec": {"nodeSelector": {"disk": "hdd"}}}),
            ),
            false,
        ),
    ];
    for (name, pod_patch, fits) in cases {
        let got = filters::node_affinity(&node_with("n1", &labels), &pod_with("p", &pod_patch));
        let want = (!fits).then_some("node(s) didn't match Pod's node affinity/selector");
        assert_eq!(reason_text(got).as_deref(), want, "{name}");
    }
}

#[test]
fn node_ports() {
    let ports = |list: Value| json!({"spec": {"containers": [{"name": "c", "ports": list}]}});
    let cases = [
        (
            "no ports",
            json!([]),
            json!([{"containerPort": 80, "hostPort": 8080}]),
            true,
        ),
        (
            "same port and protocol",
            json!([{"containerPort": 80, "hostPort": 8080}]),
            json!([{"containerPort": 80, "hostPort": 8080}]),
            false,
        ),
        (
            "other protocol",
            json!([{"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}]),
            json!([{"containerPort": 80, "hostPort": 8080}]),
            true,
        ),
        (
            "other port",
            json!([{"containerPort": 80, "hostPort": 8081}]),
            json!([{"containerPort": 80, "hostPort": 8080}]),
            true,
        ),
        (
            "different host IPs",
            json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}]),
            json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.2"}]),
            true,
        ),
        (
            "the wildcard conflicts with a specific IP",
            json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.1"}]),
            json!([{"containerPort": 80, "hostPort": 8080}]),
            false,
        ),
        (
            "a specific IP conflicts with the wildcard",
            json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "0.0.0.0"}]),
            json!([{"containerPort": 80, "hostPort": 8080, "hostIP": "10.0.0.2"}]),
            false,
        ),
        (
            "container ports alone take nothing",
            json!([{"containerPort": 8080}]),
            json!([{"containerPort": 8080, "hostPort": 8080}]),
            true,
        ),
    ];
    for (name, existing, incoming, fits) in cases {
        let info = node_info(
            node("n1", "4", "8Gi", 110),
            vec![pod_with("old", &ports(existing))],
        );
        let got = filters::node_ports(&info, &pod_with("new", &ports(incoming)));
        let want = (!fits).then_some("node(s) didn't have free ports for the requested pod ports");
        assert_eq!(reason_text(got).as_deref(), want, "{name}");
    }
}

#[test]
fn resources_fit() {
    // Node: 2 cpu, 2Gi, 3 pods, 10Gi ephemeral storage; one pod on it using 1 cpu, 1Gi.
    let existing = || pod("old", &json!({"cpu": "1", "memory": "1Gi"}));
    let cases: [(&str, Value, usize, Vec<&str>); 7] = [
        ("fits", json!({"cpu": "1", "memory": "1Gi"}), 0, vec![]),
        (
            "cpu too much",
            json!({"cpu": "1001m"}),
            0,
            vec!["Insufficient cpu"],
        ),
        (
            "memory too much",
            json!({"memory": "1025Mi"}),
            0,
            vec!["Insufficient memory"],
        ),
        (
            "storage too much",
            json!({"ephemeral-storage": "11Gi"}),
            0,
            vec!["Insufficient ephemeral-storage"],
        ),
        (
            "several reasons at once, pods first",
            json!({"cpu": "2", "memory": "2Gi"}),
            1,
            vec!["Too many pods", "Insufficient cpu", "Insufficient memory"],
        ),
        (
            "no requests: only the pod count",
            json!({}),
            1,
            vec!["Too many pods"],
        ),
        ("no requests fit a full node", json!({}), 0, vec![]),
    ];
    for (name, requests, idle_pods, want) in cases {
        let mut pods = vec![existing()];
        pods.extend((0..idle_pods).map(|at| pod(&format!("idle-{at}"), &json!({}))));
        // 3 pods allowed: room for one more; with an idle pod, 2 allowed: none.
        let info = node_info(
            node("n1", "2", "2Gi", if idle_pods == 0 { 3 } else { 2 }),
            pods,
        );
        let got: Vec<String> = filters::resources_fit(&info, &pod("new", &requests))
            .into_iter()
            .map(|r| r.to_string())
            .collect();
        assert_eq!(got, want, "{name}");
    }
    assert_eq!(
        Reason::Insufficient(Resource::Cpu).to_string(),
        "Insufficient cpu"
    );
}

#[test]
fn pod_anti_affinity_on_hostname() {
    let anti = |selector: Value, extra: Value| {
        let mut term = json!({"labelSelector": selector, "topologyKey": "kubernetes.io/hostname"});
        for (k, v) in extra.as_object().expect("object") {
            term[k] = v.clone();
        }
        json!({"spec": {"containers": [{"name": "c"}], "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}}})
    };
    let labelled = |app: &str| json!({"metadata": {"labels": {"app": app}}});
    let app_web = json!({"matchLabels": {"app": "web"}});
    let incoming_rule = "node(s) didn't match pod anti-affinity rules";
    let existing_rule = "node(s) didn't satisfy existing pods anti-affinity rules";
    let in_namespace = |ns: &str, patch: Value| {
        support::merged(
            patch,
            &json!({"metadata": {"namespace": ns, "labels": {"app": "web"}}}),
        )
    };
    let cases: [(&str, Value, Value, Option<&str>); 8] = [
        ("no rules", labelled("web"), labelled("web"), None),
        (
            "incoming avoids a matching pod",
            labelled("web"),
            support::merged(anti(app_web.clone(), json!({})), &labelled("web")),
            Some(incoming_rule),
        ),
        (
            "incoming avoids nothing here",
            labelled("db"),
            anti(app_web.clone(), json!({})),
            None,
        ),
        (
            "existing pod avoids the incoming",
            support::merged(anti(app_web.clone(), json!({})), &labelled("db")),
            labelled("web"),
            Some(existing_rule),
        ),
        (
            "other namespace is not looked at",
            in_namespace("other", json!({})),
            anti(app_web.clone(), json!({})),
            None,
        ),
        (
            "listed namespaces are",
            in_namespace("other", json!({})),
            anti(app_web.clone(), json!({"namespaces": ["other"]})),
            Some(incoming_rule),
        ),
        (
            "an empty namespaceSelector is all namespaces",
            in_namespace("other", json!({})),
            anti(app_web.clone(), json!({"namespaceSelector": {}})),
            Some(incoming_rule),
        ),
        (
            "no labelSelector selects no pod",
            labelled("web"),
            anti(Value::Null, json!({})),
            None,
        ),
    ];
    for (name, existing_patch, incoming_patch, want) in cases {
        let info = node_info(
            node("n1", "4", "8Gi", 110),
            vec![pod_with("old", &existing_patch)],
        );
        let got = filters::pod_anti_affinity(&info, &pod_with("new", &incoming_patch));
        assert_eq!(reason_text(got).as_deref(), want, "{name}");
    }
    // A node without the hostname label is in no domain.
    let bare = keel_scheduler::Node::from_node(
        &json!({"metadata": {"name": "n2"}, "status": {"allocatable": {"pods": "10"}}}),
    );
    let info = node_info(bare, vec![pod_with("old", &labelled("web"))]);
    assert_eq!(
        filters::pod_anti_affinity(&info, &pod_with("new", &anti(app_web, json!({})))),
        None
    );
}

#[test]
fn the_first_failing_filter_decides() {
    // Cordoned, tainted and full: NodeUnschedulable runs first.
    let info = node_info(
        node_with(
            "n1",
            &json!({"spec": {"unschedulable": true, "taints": [{"key": "k", "effect": "NoSchedule"}]}}),
        ),
        vec![],
    );
    let got = filters::filter(&info, &pod("p", &json!({"cpu": "100"}))).expect_err("rejected");
    assert_eq!(got, vec![Reason::Unschedulable]);
    // Tainted and too small: the taint is named, not the resources.
    let info = node_info(
        node_with(
            "n1",
            &json!({"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}),
        ),
        vec![],
    );
    let got = filters::filter(&info, &pod("p", &json!({"cpu": "100"}))).expect_err("rejected");
    assert_eq!(got[0].to_string(), "node(s) had untolerated taint {k: }");
    assert!(filters::filter(
        &node_info(node("n1", "4", "8Gi", 110), vec![]),
        &pod("p", &json!({"cpu": "1"}))
    )
    .is_ok());
}
