//! The garbage collector's and namespace deleter's tables; expectations
//! from garbagecollector_test.go and namespaced_resources_deleter_test.go
//! (Kubernetes 1.33): propagation, finalizers, condition messages.

#![allow(
    clippy::needless_pass_by_value,
    clippy::type_complexity,
    reason = "table helpers take JSON literals; tables are tuples"
)]

use keel_api::deletion::Propagation;
use keel_api::k8s_openapi::api::core::v1::Namespace;
use serde_json::{json, Value};

use super::*;
use crate::test_support::now;

fn object(kind: &str, name: &str, owners: &[(&str, bool)], extra: Value) -> Value {
    let api_version = match kind {
        "Deployment" | "ReplicaSet" => "apps/v1",
        _ => "v1",
    };
    let refs: Vec<Value> = owners
        .iter()
        .map(|(uid, block)| {
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x",
                                   "uid": uid, "blockOwnerDeletion": block})
        })
        .collect();
    let mut object = json!({"apiVersion": api_version, "kind": kind,
                            "metadata": {"name": name, "namespace": "shop", "uid": name}});
    if !refs.is_empty() {
        object["metadata"]["ownerReferences"] = refs.into();
    }
    if let Value::Object(fields) = extra {
        for (key, value) in fields {
            object["metadata"][key] = value;
        }
    }
    object
}

fn id(object: &Value) -> ObjectId {
    ObjectId::of(object)
}

#[test]
fn dependents_of_gone_owners_are_deleted_in_the_background() {
    let rs = object("ReplicaSet", "rs", &[], json!({}));
    let kept = object("Pod", "kept", &[("rs", true)], json!({}));
    let orphan = object("Pod", "orphan", &[("gone", true)], json!({}));
    let actions = plan(&[rs, kept, orphan.clone()]);
    assert_eq!(
        actions,
        vec![GcAction::Delete {
            object: id(&orphan),
            propagation: Propagation::Background
        }]
    );
    // A dependent's own finalizers choose how its dependents go.
    let orphaning = object(
        "ReplicaSet",
        "rs2",
        &[("gone", true)],
        json!({"finalizers": ["orphan"]}),
    );
    assert_eq!(
        plan(std::slice::from_ref(&orphaning)),
        vec![GcAction::Delete {
            object: id(&orphaning),
            propagation: Propagation::Orphan
        }]
    );
}

#[test]
fn a_dependent_with_a_live_owner_forgets_the_gone_one() {
    let rs = object("ReplicaSet", "rs", &[], json!({}));
    let pod = object("Pod", "p", &[("rs", false), ("gone", false)], json!({}));
    assert_eq!(
        plan(&[rs, pod.clone()]),
        vec![GcAction::RemoveOwnerReferences {
            object: id(&pod),
            owner_uids: vec!["gone".into()]
        }]
    );
}

#[test]
fn foreground_deletion_waits_for_blocking_dependents() {
    let owner = object(
        "ReplicaSet",
        "rs",
        &[],
        json!({"deletionTimestamp": "2026-12-07T11:59:00Z", "finalizers": ["foregroundDeletion"]}),
    );
    let blocking = object("Pod", "p", &[("rs", true)], json!({}));
    // The dependent goes (its owner waits for it); the owner keeps its finalizer.
    assert_eq!(
        plan(&[owner.clone(), blocking.clone()]),
        vec![GcAction::Delete {
            object: id(&blocking),
            propagation: Propagation::Background
        }]
    );
    // A dependent with dependents of its own goes in the foreground too.
    let middle = object("ReplicaSet", "mid", &[("rs", true)], json!({}));
    let leaf = object("Pod", "leaf", &[("mid", true)], json!({}));
    let actions = plan(&[owner.clone(), middle.clone(), leaf]);
    assert_eq!(
        actions,
        vec![GcAction::Delete {
            object: id(&middle),
            propagation: Propagation::Foreground
        }]
    );
    // A dependent being deleted still blocks.
    let going = object(
        "Pod",
        "p",
        &[("rs", true)],
        json!({"deletionTimestamp": "2026-12-07T12:00:30Z"}),
    );
    assert_eq!(plan(&[owner.clone(), going]), vec![]);
    // Non-blocking dependents do not hold the owner.
    let loose = object("Pod", "p", &[("rs", false)], json!({}));
    let actions = plan(&[owner.clone(), loose.clone()]);
    assert!(actions.contains(&GcAction::RemoveFinalizer {
        object: id(&owner),
        finalizer: "foregroundDeletion"
    }));
    // None left: the finalizer goes.
    assert_eq!(
        plan(std::slice::from_ref(&owner)),
        vec![GcAction::RemoveFinalizer {
            object: id(&owner),
            finalizer: "foregroundDeletion"
        }]
    );
}

#[test]
fn orphaning_strips_the_owner_from_dependents_then_the_finalizer() {
    let owner = object(
        "ReplicaSet",
        "rs",
        &[],
        json!({"deletionTimestamp": "2026-12-07T11:59:00Z", "finalizers": ["orphan"]}),
    );
    let pod = object("Pod", "p", &[("rs", true)], json!({}));
    assert_eq!(
        plan(&[owner.clone(), pod.clone()]),
        vec![
            GcAction::RemoveOwnerReferences {
                object: id(&pod),
                owner_uids: vec!["rs".into()]
            },
            GcAction::RemoveFinalizer {
                object: id(&owner),
                finalizer: "orphan"
            },
        ]
    );
}

#[test]
fn an_owner_in_another_namespace_does_not_count() {
    let mut elsewhere = object("ReplicaSet", "rs", &[], json!({}));
    elsewhere["metadata"]["namespace"] = json!("other");
    let pod = object("Pod", "p", &[("rs", true)], json!({}));
    assert_eq!(
        plan(&[elsewhere, pod.clone()]),
        vec![GcAction::Delete {
            object: id(&pod),
            propagation: Propagation::Background
        }]
    );
}

fn terminating(status: Value) -> Namespace {
    serde_json::from_value(
        json!({"metadata": {"name": "shop", "deletionTimestamp": "2026-12-07T11:59:00Z"},
                                  "spec": {"finalizers": ["kubernetes"]}, "status": status}),
    )
    .expect("a namespace")
}

#[test]
fn a_terminating_namespace_is_emptied_then_finalized() {
    let ns = terminating(json!({"phase": "Terminating"}));
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "c", "namespace": "shop", "uid": "c"}});
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": "p", "namespace": "shop", "uid": "p"},
                     "spec": {"nodeName": "n1", "terminationGracePeriodSeconds": 30}});
    let held = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "d", "namespace": "shop", "uid": "d", "finalizers": ["example.com/x"]}});
    let first = namespace_plan(&ns, &[config.clone(), pod.clone(), held.clone()], now());
    assert_eq!(first.delete, vec![id(&config), id(&pod), id(&held)]);
    assert!(!first.finalize);
    assert_eq!(
        first.requeue_after,
        Some(keel_api::k8s_openapi::jiff::SignedDuration::from_secs(30))
    );
    let status = serde_json::to_value(first.status.expect("conditions")).expect("json");
    let condition = |kind: &str| {
        status["conditions"]
            .as_array()
            .expect("list")
            .iter()
            .find(|c| c["type"] == kind)
            .cloned()
            .expect(kind)
    };
    assert_eq!(condition("NamespaceContentRemaining")["message"],
               "Some resources are remaining: deployments.apps has 1 resource instances, pods. has 1 resource instances");
    assert_eq!(
        condition("NamespaceContentRemaining")["reason"],
        "SomeResourcesRemain"
    );
    assert_eq!(condition("NamespaceFinalizersRemaining")["message"],
               "Some content in the namespace has finalizers remaining: example.com/x in 1 resource instances");
    assert_eq!(
        condition("NamespaceDeletionContentFailure")["status"],
        "False"
    );
    assert_eq!(
        condition("NamespaceDeletionContentFailure")["reason"],
        "ContentDeleted"
    );
    assert_eq!(status["conditions"].as_array().expect("list").len(), 5);

    // Empty at last: conditions turn ok and the finalizer goes.
    let done = namespace_plan(&ns, &[], now());
    assert!(done.finalize);
    assert!(done.delete.is_empty());
    let status = serde_json::to_value(done.status.expect("conditions")).expect("json");
    let remaining = status["conditions"]
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["type"] == "NamespaceContentRemaining")
        .cloned()
        .expect("present");
    assert_eq!(remaining["status"], "False");
    assert_eq!(remaining["message"], "All content successfully removed");
}

#[test]
fn objects_already_going_are_not_deleted_again_and_live_namespaces_are_left_alone() {
    let ns = terminating(json!({"phase": "Terminating"}));
    let going = json!({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "p", "namespace": "shop", "uid": "p",
                                    "deletionTimestamp": "2026-12-07T12:00:10Z"}});
    let result = namespace_plan(&ns, &[going], now());
    assert!(result.delete.is_empty());
    assert!(!result.finalize);
    let live: Namespace = serde_json::from_value(json!({"metadata": {"name": "shop"},
                                                        "spec": {"finalizers": ["kubernetes"]}}))
    .expect("ns");
    assert_eq!(namespace_plan(&live, &[], now()), NamespacePlan::default());
    let finalized: Namespace = serde_json::from_value(json!({"metadata": {"name": "shop",
        "deletionTimestamp": "2026-12-07T11:59:00Z"}, "spec": {}}))
    .expect("ns");
    assert_eq!(
        namespace_plan(&finalized, &[], now()),
        NamespacePlan::default()
    );
}
