//! Services, Namespaces, Nodes, Secrets and Endpoints
//! (`pkg/apis/core/v1/defaults.go`).

use super::or_default_str;
use k8s_openapi::api::core::v1::{
    ClientIPConfig, Endpoints, Namespace, Node, Secret, Service, SessionAffinityConfig,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// The label every Namespace carries with its own name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";
/// Kubernetes' `DefaultClientIPServiceAffinitySeconds` (3 hours).
pub const CLIENT_IP_AFFINITY_SECONDS: i32 = 10_800;

/// A Service: type ClusterIP, no session affinity, ports of TCP that
/// target their own port number, traffic policies for the types that
/// route traffic.
pub fn service(service: &mut Service) {
    let Some(spec) = service.spec.as_mut() else {
        return;
    };
    or_default_str(&mut spec.type_, "ClusterIP");
    or_default_str(&mut spec.session_affinity, "None");
    match spec.session_affinity.as_deref() {
        Some("None") => spec.session_affinity_config = None,
        Some("ClientIP") => {
            let timeout = spec
                .session_affinity_config
                .as_ref()
                .and_then(|config| config.client_ip.as_ref())
                .and_then(|client| client.timeout_seconds);
            if timeout.is_none() {
                spec.session_affinity_config = Some(SessionAffinityConfig {
                    client_ip: Some(ClientIPConfig {
                        timeout_seconds: Some(CLIENT_IP_AFFINITY_SECONDS),
                    }),
                });
            }
        }
        _ => {}
    }
    for port in spec.ports.iter_mut().flatten() {
        or_default_str(&mut port.protocol, "TCP");
        let unset = match &port.target_port {
            None | Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(name)) => name.is_empty(),
            Some(IntOrString::Int(_)) => false,
        };
        if unset {
            port.target_port = Some(IntOrString::Int(port.port));
        }
    }
    let kind = spec.type_.as_deref().unwrap_or("ClusterIP");
    let external_ips = spec
        .external_ips
        .as_ref()
        .is_some_and(|ips| !ips.is_empty());
    let externally_accessible =
        matches!(kind, "NodePort" | "LoadBalancer") || (kind == "ClusterIP" && external_ips);
    if externally_accessible {
        or_default_str(&mut spec.external_traffic_policy, "Cluster");
    }
    if matches!(kind, "ClusterIP" | "NodePort" | "LoadBalancer") {
        spec.internal_traffic_policy
            .get_or_insert_with(|| "Cluster".into());
    }
    if kind == "LoadBalancer" {
        spec.allocate_load_balancer_node_ports.get_or_insert(true);
    }
}

/// A Namespace: labelled with its name, Active.
pub fn namespace(namespace: &mut Namespace) {
    if let Some(name) = namespace.metadata.name.clone().filter(|n| !n.is_empty()) {
        namespace
            .metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(NAMESPACE_NAME_LABEL.into(), name);
    }
    if let Some(status) = namespace.status.as_mut() {
        or_default_str(&mut status.phase, "Active");
    }
}

/// A Node: allocatable is its capacity unless it says otherwise.
pub fn node(node: &mut Node) {
    if let Some(status) = node.status.as_mut() {
        if status.allocatable.is_none() {
            status.allocatable.clone_from(&status.capacity);
        }
    }
}

/// A Secret: of type Opaque.
pub fn secret(secret: &mut Secret) {
    or_default_str(&mut secret.type_, "Opaque");
}

/// Endpoints: ports of TCP.
pub fn endpoints(endpoints: &mut Endpoints) {
    for port in endpoints
        .subsets
        .iter_mut()
        .flatten()
        .flat_map(|subset| subset.ports.iter_mut().flatten())
    {
        or_default_str(&mut port.protocol, "TCP");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn svc(spec: &serde_json::Value) -> serde_json::Value {
        let mut s: Service =
            serde_json::from_value(json!({"metadata": {"name": "web"}, "spec": spec}))
                .expect("a service");
        service(&mut s);
        serde_json::to_value(s).expect("json")["spec"].clone()
    }

    #[test]
    fn a_service_is_a_cluster_ip_of_tcp_ports_targeting_themselves() {
        let spec = svc(&json!({"selector": {"app": "web"},
                              "ports": [{"port": 80}, {"port": 443, "targetPort": "https"}]}));
        assert_eq!(spec["type"], "ClusterIP");
        assert_eq!(spec["sessionAffinity"], "None");
        assert_eq!(spec["internalTrafficPolicy"], "Cluster");
        assert!(
            spec.get("externalTrafficPolicy").is_none(),
            "not reachable from outside"
        );
        assert_eq!(
            spec["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80})
        );
        assert_eq!(
            spec["ports"][1]["targetPort"], "https",
            "a named port stays"
        );
    }

    #[test]
    fn node_ports_and_load_balancers_route_external_traffic() {
        let spec = svc(&json!({"type": "NodePort", "ports": [{"port": 80}]}));
        assert_eq!(spec["externalTrafficPolicy"], "Cluster");
        let spec = svc(&json!({"type": "LoadBalancer", "ports": [{"port": 80}]}));
        assert_eq!(spec["allocateLoadBalancerNodePorts"], true);
        let spec = svc(&json!({"type": "ExternalName", "externalName": "db.example"}));
        assert!(spec.get("internalTrafficPolicy").is_none());
    }

    #[test]
    fn client_ip_affinity_lasts_three_hours() {
        let spec = svc(&json!({"sessionAffinity": "ClientIP", "ports": [{"port": 80}]}));
        assert_eq!(
            spec["sessionAffinityConfig"],
            json!({"clientIP": {"timeoutSeconds": 10800}})
        );
        let spec = svc(&json!({"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 5}}}));
        assert!(
            spec.get("sessionAffinityConfig").is_none(),
            "cleared without ClientIP"
        );
    }

    #[test]
    fn a_namespace_is_labelled_with_its_name() {
        let mut ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team-a",
                "labels": {"kubernetes.io/metadata.name": "other", "x": "y"}},
                "status": {}}))
        .expect("a namespace");
        namespace(&mut ns);
        let value = serde_json::to_value(ns).expect("json");
        assert_eq!(
            value["metadata"]["labels"],
            json!({"kubernetes.io/metadata.name": "team-a", "x": "y"})
        );
        assert_eq!(value["status"]["phase"], "Active");
    }

    #[test]
    fn small_kinds() {
        let mut n: Node =
            serde_json::from_value(json!({"status": {"capacity": {"cpu": "2", "pods": "110"}}}))
                .expect("a node");
        node(&mut n);
        let value = serde_json::to_value(n).expect("json");
        assert_eq!(
            value["status"]["allocatable"],
            json!({"cpu": "2", "pods": "110"})
        );

        let mut s = Secret::default();
        secret(&mut s);
        assert_eq!(s.type_.as_deref(), Some("Opaque"));

        let mut e: Endpoints = serde_json::from_value(json!({"subsets": [{
            "addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}]}))
        .expect("endpoints");
        endpoints(&mut e);
        let value = serde_json::to_value(e).expect("json");
        assert_eq!(value["subsets"][0]["ports"][0]["protocol"], "TCP");
    }
}
