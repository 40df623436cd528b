//! The pod every create of `keel-bench kube` sends: what a Deployment's
//! ReplicaSet would post for a small web server (labels, an owner, one
//! container with ports, env, resources, probes and a mounted ConfigMap),
//! about 1.5 KB of compact JSON before the front fills in its defaults.

use serde_json::{json, Value};

/// The pod named `name` in `namespace`, as a request body.
pub fn pod_body(namespace: &str, name: &str) -> Vec<u8> {
    serde_json::to_vec(&pod(namespace, name)).expect("a JSON value serializes")
}

/// The pod named `name` in `namespace`.
pub fn pod(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": "web",
                "app.kubernetes.io/component": "frontend",
                "pod-template-hash": "5d8f7c9b6d",
                "tier": "frontend",
            },
            "annotations": {
                "kubectl.kubernetes.io/restartedAt": "2026-12-07T09:00:00Z",
                "prometheus.io/scrape": "true",
                "prometheus.io/port": "9113",
            },
        },
        "spec": {
            "containers": [{
                "name": "web",
                "image": "registry.k8s.io/nginx-slim:0.27",
                "imagePullPolicy": "IfNotPresent",
                "ports": [
                    {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9113, "protocol": "TCP"},
                ],
                "env": [
                    {"name": "LOG_LEVEL", "value": "info"},
                    {"name": "UPSTREAM_URL", "value": "http://api.default.svc.cluster.local:8080"},
                    {"name": "CACHE_SIZE_MB", "value": "64"},
                ],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "128Mi"},
                    "limits": {"cpu": "500m", "memory": "256Mi"},
                },
                "readinessProbe": {
                    "httpGet": {"path": "/healthz", "port": 8080},
                    "initialDelaySeconds": 2,
                    "periodSeconds": 5,
                },
                "livenessProbe": {
                    "httpGet": {"path": "/livez", "port": 8080},
                    "initialDelaySeconds": 10,
                    "periodSeconds": 10,
                    "failureThreshold": 3,
                },
                "volumeMounts": [
                    {"name": "config", "mountPath": "/etc/web", "readOnly": true},
                ],
            }],
            "volumes": [
                {"name": "config", "configMap": {"name": "web-config"}},
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "tolerations": [{
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_about_one_and_a_half_kilobytes() {
        let body = pod_body("default", "bench-000001");
        assert!((1300..=1700).contains(&body.len()), "{} bytes", body.len());
    }

    #[test]
    fn the_body_names_the_pod_and_its_namespace() {
        let body: Value = serde_json::from_slice(&pod_body("bench-list", "p-7")).unwrap();
        assert_eq!(body["metadata"]["name"], "p-7");
        assert_eq!(body["metadata"]["namespace"], "bench-list");
        assert_eq!(body["kind"], "Pod");
    }
}
