//! Table rows of every kind keel serves other than pods, against Kubernetes
//! 1.33's printers.go (one test per print function, named in each), and the
//! default table of apiserver/pkg/registry/rest/table.go.

mod table_support;

use keel_api::table::{columns, table, IncludeObject};
use keel_api::{ResourceInfo, RESOURCES};
use serde_json::{json, Value};
use table_support::{ago, cells, headers, now, resource};

/// `names` as JSON string cells.
fn strings<const N: usize>(names: [&str; N]) -> [Value; N] {
    names.map(|name| json!(name))
}

fn column_names(resource: &ResourceInfo) -> Vec<String> {
    headers(resource)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

fn wide_columns(resource: &ResourceInfo) -> Vec<String> {
    headers(resource)
        .into_iter()
        .filter(|(_, priority)| *priority == 1)
        .map(|(name, _)| name)
        .collect()
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "creationTimestamp": ago(3 * 3600 + 120)})
}

#[test]
fn every_served_kind_has_its_printer() {
    for resource in RESOURCES {
        let first = columns(resource)[0].name;
        let expected = if resource.kind == "Event" {
            "Last Seen"
        } else {
            "Name"
        };
        assert_eq!(first, expected, "{}", resource.kind);
        assert!(
            columns(resource)
                .iter()
                .all(|column| column.name != "Created At"),
            "{} has a printer, not the default table",
            resource.kind
        );
    }
}

#[test]
fn namespaces_show_their_phase() {
    // printNamespace
    let namespaces = resource("", "namespaces");
    assert_eq!(column_names(namespaces), ["Name", "Status", "Age"]);
    let object = json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "team-a", "creationTimestamp": ago(2 * 86400 + 3 * 3600)},
        "status": {"phase": "Active"}});
    assert_eq!(
        cells(namespaces, object),
        strings(["team-a", "Active", "2d3h"])
    );
}

/// A node with `labels`, Ready `ready` ("True", "False", or no condition).
fn node(labels: Value, ready: Option<&str>, unschedulable: bool) -> Value {
    let conditions: Vec<Value> = ready
        .into_iter()
        .map(|status| json!({"type": "Ready", "status": status}))
        .collect();
    let mut object = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node-1", "creationTimestamp": ago(45)},
        "spec": {"unschedulable": unschedulable},
        "status": {
            "conditions": conditions,
            "addresses": [{"type": "Hostname", "address": "node-1"}, {"type": "InternalIP", "address": "192.168.0.10"}],
            "nodeInfo": {
                "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "containerd://1.7.0",
                "kernelVersion": "6.1.0", "kubeProxyVersion": "", "kubeletVersion": "v1.33.0",
                "machineID": "", "operatingSystem": "linux", "osImage": "", "systemUUID": "",
            },
        },
    });
    object["metadata"]["labels"] = labels;
    object
}

#[test]
fn nodes_show_readiness_roles_and_their_system() {
    // printNode, findNodeRoles, getNodeInternalIP / getNodeExternalIP
    let nodes = resource("", "nodes");
    assert_eq!(
        column_names(nodes),
        [
            "Name",
            "Status",
            "Roles",
            "Age",
            "Version",
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime"
        ]
    );
    assert_eq!(
        wide_columns(nodes),
        [
            "Internal-IP",
            "External-IP",
            "OS-Image",
            "Kernel-Version",
            "Container-Runtime"
        ]
    );
    let labels = json!({
        "node-role.kubernetes.io/worker": "",
        "node-role.kubernetes.io/control-plane": "",
        "node-role.kubernetes.io/": "ignored",
        "kubernetes.io/role": "infra",
        "kubernetes.io/hostname": "node-1",
    });
    assert_eq!(
        cells(nodes, node(labels, Some("True"), false)),
        strings([
            "node-1",
            "Ready",
            "control-plane,infra,worker",
            "45s",
            "v1.33.0",
            "192.168.0.10",
            "<none>",
            "<unknown>",
            "6.1.0",
            "containerd://1.7.0",
        ])
    );
    let cordoned = cells(nodes, node(json!({}), Some("False"), true));
    assert_eq!(
        cordoned[1..3],
        strings(["NotReady,SchedulingDisabled", "<none>"])
    );
    let unknown = cells(nodes, node(json!({}), None, false));
    assert_eq!(unknown[1], json!("Unknown"));
}

fn service(spec: Value, status: Value) -> Value {
    let mut object = json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("web")});
    object["spec"] = spec;
    object["status"] = status;
    object
}

#[test]
fn services_show_type_addresses_and_ports() {
    // printService, getServiceExternalIP, makePortString
    let services = resource("", "services");
    assert_eq!(
        column_names(services),
        [
            "Name",
            "Type",
            "Cluster-IP",
            "External-IP",
            "Port(s)",
            "Age",
            "Selector"
        ]
    );
    let cluster_ip = service(
        json!({"type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
            "selector": {"k8s-app": "kube-dns", "app": "dns"}}),
        json!({}),
    );
    assert_eq!(
        cells(services, cluster_ip),
        strings([
            "web",
            "ClusterIP",
            "10.96.0.10",
            "<none>",
            "53/UDP,53/TCP",
            "3h2m",
            "app=dns,k8s-app=kube-dns"
        ])
    );
    let node_port = service(
        json!({"type": "NodePort", "clusterIP": "10.96.1.1", "externalIPs": ["1.2.3.4", "5.6.7.8"],
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}),
        json!({}),
    );
    assert_eq!(
        cells(services, node_port)[1..5],
        strings(["NodePort", "10.96.1.1", "1.2.3.4,5.6.7.8", "80:30080/TCP"])
    );
    let pending = service(
        json!({"type": "LoadBalancer", "clusterIP": "10.96.1.2", "ports": [{"port": 443, "nodePort": 31443, "protocol": "TCP"}]}),
        json!({}),
    );
    assert_eq!(cells(services, pending)[3], json!("<pending>"));
    // Balancer addresses sorted (IP, else hostname), then the external IPs;
    // kube-apiserver prints wide, so nothing is cut at 16 characters.
    let balanced = service(
        json!({"type": "LoadBalancer", "clusterIP": "10.96.1.2", "externalIPs": ["9.9.9.9"], "ports": [{"port": 443, "protocol": "TCP"}]}),
        json!({"loadBalancer": {"ingress": [{"ip": "34.1.2.3"}, {"hostname": "a-long-balancer.example.com"}]}}),
    );
    assert_eq!(
        cells(services, balanced)[3],
        json!("34.1.2.3,a-long-balancer.example.com,9.9.9.9")
    );
    let external_name = service(
        json!({"type": "ExternalName", "externalName": "db.example.com"}),
        json!({}),
    );
    assert_eq!(
        cells(services, external_name)[1..5],
        strings(["ExternalName", "<none>", "db.example.com", "<none>"])
    );
    let headless = service(
        json!({"type": "ClusterIP", "clusterIP": "None", "ports": [{"port": 80, "protocol": "TCP"}]}),
        json!({}),
    );
    assert_eq!(cells(services, headless)[2], json!("None"));
    let dual_stack = service(
        json!({"type": "ClusterIP", "clusterIPs": ["fd00::1", "10.0.0.1"]}),
        json!({}),
    );
    assert_eq!(cells(services, dual_stack)[2], json!("fd00::1"));
}

#[test]
fn endpoints_list_three_addresses_then_how_many_more() {
    // printEndpoints, formatEndpoints
    let endpoints = resource("", "endpoints");
    assert_eq!(column_names(endpoints), ["Name", "Endpoints", "Age"]);
    let object = |subsets: Value| json!({"apiVersion": "v1", "kind": "Endpoints", "metadata": meta("web"), "subsets": subsets});
    assert_eq!(cells(endpoints, object(json!([])))[1], json!("<none>"));
    let four = json!([{
        "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}],
        "ports": [{"port": 80}, {"port": 443}],
    }]);
    assert_eq!(
        cells(endpoints, object(four))[1],
        json!("10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...")
    );
    let mixed = json!([
        {"addresses": [{"ip": "fd00::5"}], "ports": [{"port": 8080}]},
        {"addresses": [{"ip": "10.0.0.9"}]},
    ]);
    assert_eq!(
        cells(endpoints, object(mixed))[1],
        json!("[fd00::5]:8080,10.0.0.9")
    );
}

#[test]
fn config_maps_and_secrets_count_their_keys() {
    // printConfigMap counts data and binaryData; printSecret counts data.
    let config_maps = resource("", "configmaps");
    assert_eq!(column_names(config_maps), ["Name", "Data", "Age"]);
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("settings"),
        "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
    assert_eq!(
        cells(config_maps, config_map),
        [json!("settings"), json!(3), json!("3h2m")]
    );
    let secrets = resource("", "secrets");
    assert_eq!(column_names(secrets), ["Name", "Type", "Data", "Age"]);
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta("token"),
        "type": "Opaque", "data": {"user": "YQ==", "password": "Yg=="}});
    assert_eq!(
        cells(secrets, secret),
        [json!("token"), json!("Opaque"), json!(2), json!("3h2m")]
    );
}

#[test]
fn events_show_when_what_and_on_which_object() {
    // printEvent, formatEventSource (1.33's columns: wide adds Subobject,
    // Source, First Seen, Count, Name).
    let events = resource("", "events");
    assert_eq!(
        column_names(events),
        [
            "Last Seen",
            "Type",
            "Reason",
            "Object",
            "Subobject",
            "Source",
            "Message",
            "First Seen",
            "Count",
            "Name"
        ]
    );
    assert_eq!(
        wide_columns(events),
        ["Subobject", "Source", "First Seen", "Count", "Name"]
    );
    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "web-0.17a", "namespace": "default"},
        "involvedObject": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{web}"},
        "reason": "Pulled", "message": "  Container image pulled \n", "type": "Normal",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 4,
    });
    assert_eq!(
        cells(events, event),
        [
            json!("30s"),
            json!("Normal"),
            json!("Pulled"),
            json!("pod/web-0"),
            json!("spec.containers{web}"),
            json!("kubelet, node-1"),
            json!("Container image pulled"),
            json!("10m"),
            json!(4),
            json!("web-0.17a"),
        ]
    );
    // An events.k8s.io event: eventTime, the reporting controller, a series.
    let series = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "e2"},
        "involvedObject": {"kind": "Node"},
        "reason": "Rebooted", "type": "Warning",
        "eventTime": "2025-03-01T11:58:00.000000Z",
        "reportingComponent": "kubelet",
        "series": {"count": 7, "lastObservedTime": "2025-03-01T11:59:50.000000Z"},
    });
    let row = cells(events, series);
    assert_eq!(row[..4], strings(["10s", "Warning", "Rebooted", "node"]));
    assert_eq!(row[5], json!("kubelet"));
    assert_eq!(row[7..], [json!("2m"), json!(7), json!("e2")]);
    // A singleton without timestamps or count.
    let bare = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e3"}, "involvedObject": {}});
    let row = cells(events, bare);
    assert_eq!(row[0], json!("<unknown>"));
    assert_eq!(row[8], json!(1));
}

#[test]
fn leases_show_their_holder() {
    // printLease
    let leases = resource("coordination.k8s.io", "leases");
    assert_eq!(column_names(leases), ["Name", "Holder", "Age"]);
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta("node-1"),
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}});
    assert_eq!(cells(leases, lease), strings(["node-1", "node-1", "3h2m"]));
    let free = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta("free"), "spec": {}});
    assert_eq!(cells(leases, free)[1], json!(""));
}

fn template() -> Value {
    json!({"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [
        {"name": "web", "image": "nginx:1.27"}, {"name": "log", "image": "fluent-bit:3"},
    ]}})
}

#[test]
fn deployments_show_ready_of_desired_and_their_template() {
    // printDeployment
    let deployments = resource("apps", "deployments");
    assert_eq!(
        column_names(deployments),
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(
        wide_columns(deployments),
        ["Containers", "Images", "Selector"]
    );
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template()},
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}});
    assert_eq!(
        cells(deployments, deployment),
        [
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("3h2m"),
            json!("web,log"),
            json!("nginx:1.27,fluent-bit:3"),
            json!("app=web"),
        ]
    );
    // No status yet; an empty selector prints as nothing (not "<none>").
    let fresh = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("new"),
        "spec": {"replicas": 1, "selector": {}, "template": template()}});
    let row = cells(deployments, fresh);
    assert_eq!(row[1..4], [json!("0/1"), json!(0), json!(0)]);
    assert_eq!(row[7], json!(""));
}

#[test]
fn replica_sets_show_counts_and_selector_expressions() {
    // printReplicaSet, metav1.FormatLabelSelector
    let replica_sets = resource("apps", "replicasets");
    assert_eq!(
        column_names(replica_sets),
        [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let replica_set = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": meta("web-5d4f"),
        "spec": {"replicas": 3, "template": template(), "selector": {
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "edge"]},
                {"key": "canary", "operator": "DoesNotExist"},
                {"key": "zone", "operator": "NotIn", "values": ["b"]},
                {"key": "arch", "operator": "Exists"},
            ]}},
        "status": {"replicas": 3, "readyReplicas": 1}});
    assert_eq!(
        cells(replica_sets, replica_set),
        [
            json!("web-5d4f"),
            json!(3),
            json!(3),
            json!(1),
            json!("3h2m"),
            json!("web,log"),
            json!("nginx:1.27,fluent-bit:3"),
            json!("app=web,arch,!canary,tier in (edge,front),zone notin (b)"),
        ]
    );
}

#[test]
fn daemon_sets_show_scheduling_counts_and_node_selector() {
    // printDaemonSet
    let daemon_sets = resource("apps", "daemonsets");
    assert_eq!(
        column_names(daemon_sets),
        [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Node Selector",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let mut pod_template = template();
    pod_template["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
    let daemon_set = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": meta("agent"),
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": pod_template},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberMisscheduled": 0,
            "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}});
    assert_eq!(
        cells(daemon_sets, daemon_set),
        [
            json!("agent"),
            json!(3),
            json!(3),
            json!(2),
            json!(3),
            json!(2),
            json!("kubernetes.io/os=linux"),
            json!("3h2m"),
            json!("web,log"),
            json!("nginx:1.27,fluent-bit:3"),
            json!("app=web"),
        ]
    );
}

#[test]
fn controller_revisions_name_their_controller() {
    // printControllerRevision, formatResourceName
    let revisions = resource("apps", "controllerrevisions");
    assert_eq!(
        column_names(revisions),
        ["Name", "Controller", "Revision", "Age"]
    );
    let owned = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": "agent-7c9", "creationTimestamp": ago(60), "ownerReferences": [
            {"apiVersion": "v1", "kind": "Pod", "name": "other", "uid": "u0"},
            {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "u1", "controller": true},
        ]},
        "revision": 3});
    assert_eq!(
        cells(revisions, owned),
        [
            json!("agent-7c9"),
            json!("daemonset.apps/agent"),
            json!(3),
            json!("60s")
        ]
    );
    let orphan = json!({"apiVersion": "apps/v1", "kind": "ControllerRevision", "metadata": {"name": "lone"}, "revision": 1});
    assert_eq!(
        cells(revisions, orphan)[1..],
        [json!("<none>"), json!(1), json!("<unknown>")]
    );
}

fn job(spec: Value, status: Value) -> Value {
    let mut spec = spec;
    spec["template"] = template();
    let mut object =
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": meta("backup"), "spec": spec});
    object["status"] = status;
    object
}

#[test]
fn jobs_show_status_completions_and_duration() {
    // printJob, hasJobCondition (1.33's STATUS column)
    let jobs = resource("batch", "jobs");
    assert_eq!(
        column_names(jobs),
        [
            "Name",
            "Status",
            "Completions",
            "Duration",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    let complete = job(
        json!({"completions": 3, "parallelism": 1, "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u1"}}}),
        json!({"succeeded": 3, "startTime": ago(3000), "completionTime": ago(2700),
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]}),
    );
    assert_eq!(
        cells(jobs, complete),
        [
            json!("backup"),
            json!("Complete"),
            json!("3/3"),
            json!("5m"),
            json!("3h2m"),
            json!("web,log"),
            json!("nginx:1.27,fluent-bit:3"),
            json!("batch.kubernetes.io/controller-uid=u1"),
        ]
    );
    let running = job(
        json!({"parallelism": 4}),
        json!({"succeeded": 1, "startTime": ago(75)}),
    );
    assert_eq!(
        cells(jobs, running)[1..4],
        strings(["Running", "1/1 of 4", "75s"])
    );
    // 1.33 has no SuccessCriteriaMet status: such a job still reads Running.
    let criteria = job(
        json!({}),
        json!({"conditions": [{"type": "SuccessCriteriaMet", "status": "True"}]}),
    );
    assert_eq!(cells(jobs, criteria)[1..4], strings(["Running", "0/1", ""]));
    let failed = job(
        json!({"completions": 1}),
        json!({"startTime": ago(90), "conditions": [
        {"type": "FailureTarget", "status": "True"}, {"type": "Failed", "status": "True"}]}),
    );
    assert_eq!(cells(jobs, failed)[1], json!("Failed"));
    let target = job(
        json!({}),
        json!({"conditions": [{"type": "FailureTarget", "status": "True"}]}),
    );
    assert_eq!(cells(jobs, target)[1], json!("FailureTarget"));
    let suspended = job(
        json!({"suspend": true}),
        json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
    );
    assert_eq!(cells(jobs, suspended)[1], json!("Suspended"));
    let mut deleting = job(
        json!({}),
        json!({"conditions": [{"type": "Suspended", "status": "True"}]}),
    );
    deleting["metadata"]["deletionTimestamp"] = json!(ago(1));
    assert_eq!(cells(jobs, deleting)[1], json!("Terminating"));
    // A condition that is not True does not count.
    let not_yet = job(
        json!({}),
        json!({"conditions": [{"type": "Complete", "status": "False"}]}),
    );
    assert_eq!(cells(jobs, not_yet)[1], json!("Running"));
}

#[test]
fn a_kind_without_a_printer_gets_name_and_created_at() {
    // rest.defaultTableConvertor: Name (format name) and Created At (date,
    // RFC 3339 in UTC; Go's zero time when unset).
    let widgets = ResourceInfo {
        group: "example.com",
        version: "v1",
        api_version: "example.com/v1",
        kind: "Widget",
        plural: "widgets",
        namespaced: true,
        short_names: &[],
        categories: &[],
        storage_prefix: "widgets",
    };
    let table = table(
        &widgets,
        &[
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1", "creationTimestamp": "2025-02-03T04:05:06Z"}}),
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w2"}}),
        ],
        now(),
        IncludeObject::None,
    )
    .unwrap();
    assert_eq!(
        table["columnDefinitions"][0],
        json!({"name": "Name", "type": "string", "format": "name", "priority": 0,
            "description": table["columnDefinitions"][0]["description"]})
    );
    assert_eq!(table["columnDefinitions"][1]["name"], "Created At");
    assert_eq!(table["columnDefinitions"][1]["type"], "date");
    assert_eq!(table["columnDefinitions"][1]["format"], "");
    assert_eq!(
        table["rows"][0]["cells"],
        json!(["w1", "2025-02-03T04:05:06Z"])
    );
    assert_eq!(
        table["rows"][1]["cells"],
        json!(["w2", "0001-01-01T00:00:00Z"])
    );
}
