//! The Endpoints controller's tables; the expectations are Kubernetes
//! 1.33's (endpoints_controller_test.go, endpoints/util_test.go): which
//! pods appear where, port resolution, repacking, labels.

#![allow(
    clippy::needless_pass_by_value,
    clippy::type_complexity,
    reason = "table helpers take JSON literals; tables are tuples"
)]

use keel_api::k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use serde_json::{json, Value};

use super::*;

fn service(spec: Value) -> Service {
    serde_json::from_value(
        json!({"metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
                                  "spec": spec}),
    )
    .expect("a service")
}

fn web(ports: Value) -> Service {
    service(json!({"selector": {"app": "web"}, "clusterIP": "10.96.0.10", "ports": ports}))
}

/// A pod of app `app` at `ip`: `state` "ready", "unready", "terminating",
/// "succeeded" or "no-ip"; its container offers port 8080 named "http".
fn pod(name: &str, ip: &str, state: &str) -> Pod {
    let mut pod = json!({
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                     "labels": {"app": "web"}, "resourceVersion": "7"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                   "conditions": [{"type": "Ready", "status": if state == "ready" { "True" } else { "False" }}]}});
    match state {
        "terminating" => pod["metadata"]["deletionTimestamp"] = json!("2026-12-07T12:00:00Z"),
        "succeeded" => pod["status"]["phase"] = json!("Succeeded"),
        "no-ip" => {
            pod["status"]["podIP"] = Value::Null;
            pod["status"]["podIPs"] = Value::Null;
        }
        _ => {}
    }
    serde_json::from_value(pod).expect("a pod")
}

fn written(sync: EndpointsSync) -> Value {
    match sync {
        EndpointsSync::Create(e) | EndpointsSync::Update(e) => {
            serde_json::to_value(e).expect("json")
        }
        other => panic!("expected a write, got {other:?}"),
    }
}

fn address(name: &str, ip: &str) -> Value {
    json!({"ip": ip, "nodeName": "n1",
           "targetRef": {"kind": "Pod", "namespace": "shop", "name": name, "uid": format!("uid-{name}")}})
}

#[test]
fn ready_pods_are_addresses_and_unready_ones_not_ready_addresses() {
    let pods = [
        pod("b", "10.0.0.10", "ready"),
        pod("a", "10.0.0.9", "ready"),
        pod("c", "10.0.0.11", "unready"),
        pod("gone", "10.0.0.12", "terminating"),
        pod("done", "10.0.0.13", "succeeded"),
        pod("new", "", "no-ip"),
    ];
    let ports = json!([{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]);
    let endpoints = written(sync(&web(ports), &pods, None));
    assert_eq!(
        endpoints["metadata"],
        json!({"name": "web", "namespace": "shop", "labels": {"app": "web"}})
    );
    assert_eq!(
        endpoints["subsets"],
        json!([{"addresses": [address("a", "10.0.0.9"), address("b", "10.0.0.10")],
                "notReadyAddresses": [address("c", "10.0.0.11")],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}]),
        "IPs sort as numbers; terminating, finished and IP-less pods are left out"
    );
}

#[test]
fn publish_not_ready_addresses_lists_every_pod_as_ready_even_terminating() {
    let service = service(json!({"selector": {"app": "web"}, "clusterIP": "None",
                                 "publishNotReadyAddresses": true,
                                 "ports": [{"port": 80, "targetPort": 8080}]}));
    let pods = [
        pod("a", "10.0.0.9", "unready"),
        pod("b", "10.0.0.10", "terminating"),
    ];
    let endpoints = written(sync(&service, &pods, None));
    assert_eq!(
        endpoints["subsets"][0]["addresses"],
        json!([address("a", "10.0.0.9"), address("b", "10.0.0.10")])
    );
    assert!(endpoints["subsets"][0].get("notReadyAddresses").is_none());
    assert_eq!(
        endpoints["metadata"]["labels"],
        json!({"app": "web", "service.kubernetes.io/headless": ""})
    );
}

#[test]
fn named_target_ports_resolve_per_pod_into_separate_subsets() {
    let mut other = pod("b", "10.0.0.10", "ready");
    other.spec.as_mut().expect("spec").containers[0]
        .ports
        .as_mut()
        .expect("ports")[0]
        .container_port = 9090;
    let pods = [pod("a", "10.0.0.9", "ready"), other, {
        // No port of that name: left out of this port.
        let mut bare = pod("c", "10.0.0.11", "ready");
        bare.spec.as_mut().expect("spec").containers[0].ports = None;
        bare
    }];
    let ports = json!([{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]);
    let endpoints = written(sync(&web(ports), &pods, None));
    assert_eq!(
        endpoints["subsets"],
        json!([{"addresses": [address("a", "10.0.0.9")], "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
               {"addresses": [address("b", "10.0.0.10")], "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}]}])
    );
}

#[test]
fn pods_offering_the_same_ports_share_one_subset() {
    let ports = json!([{"name": "http", "port": 80, "targetPort": 8080},
                       {"name": "metrics", "port": 9100, "targetPort": 9100}]);
    let pods = [
        pod("a", "10.0.0.9", "ready"),
        pod("b", "10.0.0.10", "unready"),
    ];
    let endpoints = written(sync(&web(ports), &pods, None));
    assert_eq!(
        endpoints["subsets"],
        json!([{"addresses": [address("a", "10.0.0.9")], "notReadyAddresses": [address("b", "10.0.0.10")],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"},
                          {"name": "metrics", "port": 9100, "protocol": "TCP"}]}])
    );
}

#[test]
fn unchanged_pods_write_nothing_and_a_readiness_change_writes() {
    let ports = json!([{"port": 80, "targetPort": 8080}]);
    let pods = [
        pod("a", "10.0.0.9", "ready"),
        pod("b", "10.0.0.10", "ready"),
    ];
    let created: Endpoints =
        serde_json::from_value(written(sync(&web(ports.clone()), &pods, None))).expect("e");
    // The pods' order and resourceVersions do not matter.
    let mut reordered = [pods[1].clone(), pods[0].clone()];
    reordered[0].metadata.resource_version = Some("99".into());
    assert_eq!(
        sync(&web(ports.clone()), &reordered, Some(&created)),
        EndpointsSync::Unchanged
    );
    let flipped = [
        pod("a", "10.0.0.9", "ready"),
        pod("b", "10.0.0.10", "unready"),
    ];
    let updated = written(sync(&web(ports), &flipped, Some(&created)));
    assert_eq!(
        updated["subsets"][0]["notReadyAddresses"],
        json!([address("b", "10.0.0.10")])
    );
}

#[test]
fn services_without_selectors_or_external_names_are_left_alone() {
    let ports = json!([{"port": 80}]);
    assert_eq!(
        sync(&service(json!({"ports": ports})), &[], None),
        EndpointsSync::Ignore
    );
    let external = service(
        json!({"type": "ExternalName", "externalName": "example.com",
                                  "selector": {"app": "web"}}),
    );
    assert_eq!(sync(&external, &[], None), EndpointsSync::Ignore);
    // A selector that matches nothing yields an empty Endpoints.
    let empty = written(sync(&web(json!([{"port": 80}])), &[], None));
    assert!(empty.get("subsets").is_none());
}

#[test]
fn a_headless_service_without_ports_lists_addresses_only() {
    let service = service(json!({"selector": {"app": "web"}, "clusterIP": "None"}));
    let endpoints = written(sync(&service, &[pod("a", "10.0.0.9", "ready")], None));
    assert_eq!(
        endpoints["subsets"],
        json!([{"addresses": [address("a", "10.0.0.9")]}])
    );
}

#[test]
fn more_than_a_thousand_addresses_are_truncated() {
    let pods: Vec<Pod> = (0..1005)
        .map(|i| {
            pod(
                &format!("p{i}"),
                &format!("10.1.{}.{}", i / 250, i % 250),
                "ready",
            )
        })
        .collect();
    let endpoints = written(sync(
        &web(json!([{"port": 80, "targetPort": 8080}])),
        &pods,
        None,
    ));
    assert_eq!(
        endpoints["subsets"][0]["addresses"]
            .as_array()
            .expect("list")
            .len(),
        1000
    );
    assert_eq!(
        endpoints["metadata"]["annotations"],
        json!({"endpoints.kubernetes.io/over-capacity": "truncated"})
    );
}
