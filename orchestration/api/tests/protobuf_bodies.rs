//! Protobuf bodies as kubectl 1.33's typed commands send them (`kubectl
//! create configmap|secret|namespace|deployment|service|job`, `kubectl
//! run`), decoded into the JSON Kubernetes' JSON encoding writes for the
//! same object. The expected JSON is written from the Go structs' JSON tags
//! (k8s.io/api v0.33.0 types.go): zeros of `omitempty` fields left out,
//! pointers and fields without `omitempty` kept, structs always written
//! (`"resources": {}`, `"status": {}`), embedded structs inline.
//!
//! One deliberate difference: Go writes an unset `creationTimestamp` as
//! `null`; the decoder leaves it out (keel's JSON paths treat both alike).

mod protobuf_support;

use keel_api::protobuf::{decode, ProtobufError};
use protobuf_support::body;
use serde_json::json;

/// The metadata Go's encoder writes for an object kubectl built: its name
/// and labels, every other non-pointer field at its zero.
fn metadata(name: &str, labels: &serde_json::Value) -> serde_json::Value {
    json!({
        "name": name, "generateName": "", "namespace": "", "selfLink": "",
        "uid": "", "resourceVersion": "", "generation": 0,
        "creationTimestamp": {}, "labels": labels,
    })
}

#[test]
fn configmap_keeps_data_and_base64_binary_data() {
    // kubectl create configmap settings --from-literal=mode=fast --from-file=blob
    let object = json!({
        "metadata": metadata("settings", &json!({})),
        "data": {"mode": "fast"},
        "binaryData": {"blob": "\u{1}\u{2}\u{3}"},
    });
    let body = body("v1", "ConfigMap", "k8s.io.api.core.v1.ConfigMap", &object);
    assert_eq!(
        decode(&body).unwrap(),
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings"},
            "data": {"mode": "fast"},
            "binaryData": {"blob": "AQID"},
        })
    );
}

#[test]
fn secret_data_is_base64_and_type_kept() {
    // kubectl create secret generic db --from-literal=password=s3cret
    let object = json!({
        "metadata": metadata("db", &json!({})),
        "data": {"password": "s3cret"},
        "type": "Opaque",
    });
    let body = body("v1", "Secret", "k8s.io.api.core.v1.Secret", &object);
    assert_eq!(
        decode(&body).unwrap(),
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db"},
            "data": {"password": "czNjcmV0"},
            "type": "Opaque",
        })
    );
}

#[test]
fn namespace_writes_its_empty_spec_and_status() {
    // kubectl create namespace team-a
    let object = json!({
        "metadata": metadata("team-a", &json!({})),
        "spec": {},
        "status": {"phase": ""},
    });
    let body = body("v1", "Namespace", "k8s.io.api.core.v1.Namespace", &object);
    assert_eq!(
        decode(&body).unwrap(),
        json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "team-a"},
            "spec": {}, "status": {},
        })
    );
}

/// The container kubectl builds for `--image=nginx --port=80`, with the
/// zeros Go's encoder writes.
fn nginx_container() -> serde_json::Value {
    json!({
        "name": "nginx", "image": "nginx",
        "ports": [{"name": "", "hostPort": 0, "containerPort": 80, "protocol": "", "hostIP": ""}],
        "resources": {
            "limits": {"memory": {"string": "128Mi"}},
            "requests": {"cpu": {"string": "250m"}},
        },
        "env": [{"name": "MODE", "value": "fast"}, {"name": "EMPTY", "value": ""}],
        "workingDir": "", "terminationMessagePath": "", "imagePullPolicy": "",
        "stdin": false, "stdinOnce": false, "tty": false,
    })
}

/// A pod spec as Go's encoder writes kubectl's: the non-pointer fields at
/// their zeros.
fn pod_spec(restart_policy: &str) -> serde_json::Value {
    json!({
        "containers": [nginx_container()],
        "restartPolicy": restart_policy, "dnsPolicy": "", "serviceAccountName": "",
        "serviceAccount": "", "nodeName": "", "hostNetwork": false, "hostPID": false,
        "hostIPC": false, "hostname": "", "subdomain": "", "schedulerName": "",
    })
}

/// The container as Go's JSON writes it: `name` has no omitempty, every
/// other zero is left out; `resources` is a struct and always written.
fn nginx_container_json() -> serde_json::Value {
    json!({
        "name": "nginx", "image": "nginx",
        "ports": [{"containerPort": 80}],
        "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "250m"}},
        "env": [{"name": "MODE", "value": "fast"}, {"name": "EMPTY"}],
    })
}

#[test]
fn deployment_keeps_zero_replicas_and_reads_int_or_string() {
    // kubectl create deployment web --image=nginx --port=80 --replicas=0,
    // with a rolling update of maxSurge "25%" and maxUnavailable 1.
    let labels = json!({"app": "web"});
    let object = json!({
        "metadata": metadata("web", &labels),
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {"metadata": metadata("", &labels), "spec": pod_spec("")},
            "strategy": {
                "type": "",
                "rollingUpdate": {
                    "maxUnavailable": {"type": 0, "intVal": 1, "strVal": ""},
                    "maxSurge": {"type": 1, "intVal": 0, "strVal": "25%"},
                },
            },
            "minReadySeconds": 0,
            "paused": false,
        },
        "status": {"observedGeneration": 0, "replicas": 0, "updatedReplicas": 0},
    });
    let body = body(
        "apps/v1",
        "Deployment",
        "k8s.io.api.apps.v1.Deployment",
        &object,
    );
    assert_eq!(
        decode(&body).unwrap(),
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [nginx_container_json()]},
                },
                "strategy": {"rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
            },
            "status": {},
        })
    );
}

#[test]
fn service_ports_keep_port_and_read_target_ports() {
    // kubectl create service clusterip web --tcp=80:8080 --tcp=443:https
    let port = |name: &str, number: i64, target: serde_json::Value| json!({"name": name, "protocol": "TCP", "port": number, "targetPort": target, "nodePort": 0});
    let object = json!({
        "metadata": metadata("web", &json!({"app": "web"})),
        "spec": {
            "ports": [
                port("80-8080", 80, json!({"type": 0, "intVal": 8080, "strVal": ""})),
                port("443-https", 443, json!({"type": 1, "intVal": 0, "strVal": "https"})),
            ],
            "selector": {"app": "web"},
            "clusterIP": "", "type": "ClusterIP", "sessionAffinity": "",
            "loadBalancerIP": "", "externalName": "", "externalTrafficPolicy": "",
            "healthCheckNodePort": 0, "publishNotReadyAddresses": false,
        },
        "status": {"loadBalancer": {}},
    });
    let body = body("v1", "Service", "k8s.io.api.core.v1.Service", &object);
    assert_eq!(
        decode(&body).unwrap(),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {
                "ports": [
                    {"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080},
                    {"name": "443-https", "protocol": "TCP", "port": 443, "targetPort": "https"},
                ],
                "selector": {"app": "web"},
                "type": "ClusterIP",
            },
            "status": {"loadBalancer": {}},
        })
    );
}

#[test]
fn pod_from_kubectl_run() {
    // kubectl run web --image=nginx --port=80 --restart=Never
    let object = json!({
        "metadata": metadata("web", &json!({"run": "web"})),
        "spec": pod_spec("Never"),
        "status": {"phase": "", "message": "", "reason": "", "hostIP": "", "podIP": ""},
    });
    let body = body("v1", "Pod", "k8s.io.api.core.v1.Pod", &object);
    assert_eq!(
        decode(&body).unwrap(),
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "labels": {"run": "web"}},
            "spec": {"containers": [nginx_container_json()], "restartPolicy": "Never"},
            "status": {},
        })
    );
}

#[test]
fn job_keeps_zero_backoff_limit() {
    // kubectl create job once --image=nginx, with backoffLimit 0.
    let object = json!({
        "metadata": metadata("once", &json!({})),
        "spec": {
            "backoffLimit": 0,
            "template": {"metadata": metadata("", &json!({})), "spec": pod_spec("Never")},
        },
        "status": {"active": 0, "succeeded": 0, "failed": 0},
    });
    let body = body("batch/v1", "Job", "k8s.io.api.batch.v1.Job", &object);
    assert_eq!(
        decode(&body).unwrap(),
        json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "once"},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "metadata": {},
                    "spec": {"containers": [nginx_container_json()], "restartPolicy": "Never"},
                },
            },
            "status": {},
        })
    );
}

#[test]
fn times_are_rfc3339_and_micro_times_keep_microseconds() {
    // 1796637600 is 2026-12-07T10:00:00Z. Time drops nanos
    // (time_proto.go); MicroTime cuts them to microseconds.
    let mut meta = metadata("leader", &json!({}));
    meta["creationTimestamp"] = json!({"seconds": 1_796_637_600, "nanos": 999});
    let object = json!({
        "metadata": meta,
        "spec": {
            "holderIdentity": "node-1",
            "leaseDurationSeconds": 15,
            "acquireTime": {"seconds": 1_796_637_600, "nanos": 0},
            "renewTime": {"seconds": 1_796_637_601, "nanos": 123_456_789},
            "leaseTransitions": 0,
        },
    });
    let body = body(
        "coordination.k8s.io/v1",
        "Lease",
        "k8s.io.api.coordination.v1.Lease",
        &object,
    );
    assert_eq!(
        decode(&body).unwrap(),
        json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "leader", "creationTimestamp": "2026-12-07T10:00:00Z"},
            "spec": {
                "holderIdentity": "node-1",
                "leaseDurationSeconds": 15,
                "acquireTime": "2026-12-07T10:00:00.000000Z",
                "renewTime": "2026-12-07T10:00:01.123456Z",
                "leaseTransitions": 0,
            },
        })
    );
}

#[test]
fn delete_options_under_a_group_version() {
    // A typed client's delete with gracePeriodSeconds 0 and Foreground.
    let object = json!({"gracePeriodSeconds": 0, "propagationPolicy": "Foreground"});
    let name = "k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions";
    let body = body("apps/v1", "DeleteOptions", name, &object);
    assert_eq!(
        decode(&body).unwrap(),
        json!({
            "apiVersion": "apps/v1", "kind": "DeleteOptions",
            "gracePeriodSeconds": 0, "propagationPolicy": "Foreground",
        })
    );
}

// Errors: the serializer's words (apimachinery protobuf.go, runtime
// error.go) inside the handlers' BadRequest (apiserver handlers/rest.go
// transformDecodeError).

#[test]
fn an_empty_body_is_empty_data() {
    let error = decode(b"").unwrap_err();
    assert_eq!(error, ProtobufError::EmptyData);
    assert_eq!(
        error.bad_request_message("ConfigMap"),
        "the object provided is unrecognized (must be of type ConfigMap): empty data (<empty>)"
    );
}

#[test]
fn a_json_body_is_not_protobuf() {
    let error =
        decode(br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#).unwrap_err();
    assert_eq!(
        error.bad_request_message("ConfigMap"),
        "the object provided is unrecognized (must be of type ConfigMap): provided data does not \
         appear to be a protobuf message, expected prefix [107 56 115 0] \
         ({\"apiVersion\":\"v1\",\"kind\":\"Con ...)"
    );
}

#[test]
fn the_magic_alone_is_an_empty_body() {
    let error = decode(b"k8s\0").unwrap_err();
    assert_eq!(error, ProtobufError::EmptyBody);
    assert_eq!(
        error.bad_request_message("Pod"),
        "the object provided is unrecognized (must be of type Pod): empty body (6b387300)"
    );
}

#[test]
fn a_truncated_envelope_is_unrecognized() {
    // Field 1 (typeMeta) announces 16 bytes; 2 follow.
    let error = decode(b"k8s\0\x0a\x10\x0a\x02").unwrap_err();
    assert!(matches!(error, ProtobufError::Envelope { .. }), "{error:?}");
    assert!(error
        .bad_request_message("Pod")
        .starts_with("the object provided is unrecognized (must be of type Pod): "));
    assert!(error
        .bad_request_message("Pod")
        .ends_with(" (6b3873000a100a02)"));
}

#[test]
fn an_envelope_without_kind_names_its_type_meta() {
    let body = body("v1", "", "k8s.io.api.core.v1.ConfigMap", &json!({}));
    let error = decode(&body).unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"Object 'Kind' is missing in 'runtime.TypeMeta{APIVersion:"v1", Kind:""}'"#
    );
}

#[test]
fn an_envelope_without_api_version() {
    let body = body("", "ConfigMap", "k8s.io.api.core.v1.ConfigMap", &json!({}));
    let error = decode(&body).unwrap_err();
    assert_eq!(
        error.bad_request_message("ConfigMap"),
        "ConfigMap in version \"\" cannot be handled as a ConfigMap: Object 'apiVersion' is \
         missing in 'runtime.TypeMeta{APIVersion:\"\", Kind:\"ConfigMap\"}'"
    );
}

#[test]
fn an_unknown_kind_is_not_registered() {
    // The message kubectl shows for a misspelt kind (`kind: configmap`).
    let configmap = body(
        "v1",
        "configmap",
        "k8s.io.api.core.v1.ConfigMap",
        &json!({}),
    );
    let error = decode(&configmap).unwrap_err();
    assert_eq!(
        error.bad_request_message("ConfigMap"),
        "configmap in version \"v1\" cannot be handled as a ConfigMap: no kind \"configmap\" is \
         registered for version \"v1\" in scheme \"pkg/api/legacyscheme/scheme.go:30\""
    );
    let deployment = body(
        "apps/v1",
        "deployment",
        "k8s.io.api.apps.v1.Deployment",
        &json!({}),
    );
    assert_eq!(
        decode(&deployment)
            .unwrap_err()
            .bad_request_message("Deployment"),
        "deployment in version \"v1\" cannot be handled as a Deployment: no kind \"deployment\" \
         is registered for version \"apps/v1\" in scheme \"pkg/api/legacyscheme/scheme.go:30\""
    );
}

#[test]
fn a_malformed_object_names_its_kind_and_version() {
    let mut unknown = protobuf_support::message(
        "k8s.io.apimachinery.pkg.runtime.Unknown",
        &json!({"typeMeta": {"apiVersion": "apps/v1", "kind": "Deployment"}}),
    );
    // Field 1 (metadata) announces 5 bytes; none follow.
    unknown.set_field_by_name("raw", prost_reflect::Value::Bytes(vec![0x0a, 0x05].into()));
    let error = decode(&protobuf_support::envelope_bytes(&unknown)).unwrap_err();
    assert!(matches!(error, ProtobufError::Object { .. }), "{error:?}");
    assert!(error
        .bad_request_message("Deployment")
        .starts_with("Deployment in version \"v1\" cannot be handled as a Deployment: "));
}

#[test]
fn an_impossible_int_or_string_type_is_refused() {
    let object = json!({
        "metadata": metadata("web", &json!({})),
        "spec": {"ports": [{"port": 80, "targetPort": {"type": 2, "intVal": 0, "strVal": ""}}]},
    });
    let body = body("v1", "Service", "k8s.io.api.core.v1.Service", &object);
    assert_eq!(
        decode(&body).unwrap_err().to_string(),
        "impossible IntOrString.Type"
    );
}

#[test]
fn the_bodies_carry_their_zeros_on_the_wire() {
    // The tests above mean something only if the zeros reach the wire, as
    // Go's encoder writes them: generateName "" is field 2, length 0.
    use prost::Message as _;
    let meta = protobuf_support::message(
        "k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta",
        &json!({"generateName": "", "generation": 0}),
    );
    assert_eq!(meta.encode_to_vec(), vec![0x12, 0x00, 0x38, 0x00]);
}
