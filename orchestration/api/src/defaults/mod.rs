//! Defaulting as kube-apiserver's `SetDefaults_*` functions do it for
//! Kubernetes 1.33 (`pkg/apis/core/v1/defaults.go`, `pkg/apis/apps/v1`,
//! `pkg/apis/batch/v1`, and the `+default` markers of k8s.io/api): pure
//! functions over k8s-openapi's types, run on every object before it is
//! validated and stored.
//!
//! ```text
//!   Pod ────────────────► pod::pod (requests from limits, service links,
//!                         │           host ports under hostNetwork)
//!   Deployment ─┐         ▼
//!   ReplicaSet ─┼─ template ─► pod::spec (dnsPolicy, restartPolicy, grace
//!   DaemonSet  ─┤              period, scheduler; containers, probes,
//!   Job        ─┘              volumes)
//!   Service, Namespace, Node, Secret, Endpoints ─► core
//! ```
//!
//! Templates get the spec's defaults and not the Pod-only ones, as in
//! Kubernetes. What kube-apiserver adds at create time rather than by
//! defaulting (uid, generation, status, admission's tolerations) is not
//! here. Not yet done: rounding quantities up to milli precision.

pub mod core;
pub mod pod;
pub mod workloads;

/// Sets `field` to `value` when it is missing or empty, as Go's defaulters
/// treat an empty string as unset.
fn or_default_str(field: &mut Option<String>, value: &str) {
    if field.as_deref().is_none_or(str::is_empty) {
        *field = Some(value.to_owned());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use crate::object::apply_defaults;
    use crate::resources::by_plural;

    /// A container with some of its optional fields set.
    fn container() -> impl Strategy<Value = Value> {
        (
            "[a-z]{1,8}",
            proptest::option::of(prop_oneof!["Always", "IfNotPresent", "Never"]),
            proptest::option::of(1..65535_i32),
            proptest::option::of(prop_oneof!["TCP", "UDP"]),
            proptest::option::of(("[1-9][0-9]{0,2}m", "[1-9][0-9]{0,2}Mi")),
        )
            .prop_map(|(name, pull, port, protocol, limits)| {
                let mut c = json!({"name": name, "image": "busybox:1.36"});
                if let Some(pull) = pull {
                    c["imagePullPolicy"] = pull.into();
                }
                if let Some(port) = port {
                    c["ports"] = json!([{"containerPort": port}]);
                    if let Some(protocol) = protocol {
                        c["ports"][0]["protocol"] = protocol.into();
                    }
                }
                if let Some((cpu, memory)) = limits {
                    c["resources"] = json!({"limits": {"cpu": cpu, "memory": memory}});
                }
                c
            })
    }

    /// A pod spec with some of its optional fields set.
    fn pod_spec() -> impl Strategy<Value = Value> {
        (
            proptest::collection::vec(container(), 1..3),
            proptest::option::of(prop_oneof!["Always", "OnFailure", "Never"]),
            proptest::option::of(0..600_i64),
            proptest::option::of(prop_oneof!["ClusterFirst", "Default", "None"]),
        )
            .prop_map(|(containers, restart, grace, dns)| {
                let mut spec = json!({"containers": containers});
                if let Some(restart) = restart {
                    spec["restartPolicy"] = restart.into();
                }
                if let Some(grace) = grace {
                    spec["terminationGracePeriodSeconds"] = grace.into();
                }
                if let Some(dns) = dns {
                    spec["dnsPolicy"] = dns.into();
                }
                spec
            })
    }

    /// Every object of `value` that `defaulted` has too, with the same
    /// value: defaulting fills in, it never overrides what was given.
    fn kept(given: &Value, defaulted: &Value, path: &str) -> Result<(), TestCaseError> {
        match (given, defaulted) {
            (Value::Object(given), Value::Object(defaulted)) => {
                for (key, value) in given {
                    let inner = defaulted.get(key).unwrap_or(&Value::Null);
                    kept(value, inner, &format!("{path}.{key}"))?;
                }
                Ok(())
            }
            (Value::Array(given), Value::Array(defaulted)) => {
                prop_assert_eq!(given.len(), defaulted.len(), "{}", path);
                for (i, (g, d)) in given.iter().zip(defaulted).enumerate() {
                    kept(g, d, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            // Requests copied from limits are Kubernetes' own addition;
            // everything given is kept as given.
            _ => {
                prop_assert_eq!(given, defaulted, "{}", path);
                Ok(())
            }
        }
    }

    proptest! {
        #[test]
        fn pod_defaults_are_idempotent_and_keep_what_was_given(spec in pod_spec()) {
            let pods = by_plural("", "pods").expect("served");
            let given = json!({"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": "p"}, "spec": spec});
            let mut once = given.clone();
            apply_defaults(pods, &mut once).expect("a pod");
            let mut twice = once.clone();
            apply_defaults(pods, &mut twice).expect("a pod");
            prop_assert_eq!(&once, &twice);
            kept(&given, &once, "")?;
            prop_assert!(once["spec"]["restartPolicy"].is_string());
            prop_assert!(once["spec"]["terminationGracePeriodSeconds"].is_i64());
        }

        #[test]
        fn workload_defaults_are_idempotent_and_keep_what_was_given(
            spec in pod_spec(),
            replicas in proptest::option::of(0..20_i64),
            plural in prop_oneof!["deployments", "replicasets", "daemonsets"],
        ) {
            let resource = by_plural("apps", &plural).expect("served");
            let mut workload_spec = json!({
                "selector": {"matchLabels": {"app": "a"}},
                "template": {"metadata": {"labels": {"app": "a"}}, "spec": spec},
            });
            if let (Some(replicas), false) = (replicas, plural == "daemonsets") {
                workload_spec["replicas"] = replicas.into();
            }
            let given = json!({"apiVersion": "apps/v1", "kind": resource.kind,
                               "metadata": {"name": "w"}, "spec": workload_spec});
            let mut once = given.clone();
            apply_defaults(resource, &mut once).expect("a workload");
            let mut twice = once.clone();
            apply_defaults(resource, &mut twice).expect("a workload");
            prop_assert_eq!(&once, &twice);
            kept(&given, &once, "")?;
            // ReplicaSets keep no history; the others default to 10.
            prop_assert_eq!(
                once["spec"]["revisionHistoryLimit"].is_i64(),
                plural != "replicasets"
            );
        }
    }
}
