//! The patch types through [`apply`], from Kubernetes' documented
//! examples (the "Update API Objects in Place Using kubectl patch" task
//! page) and strategicpatch's rules, with properties tying strategic merge
//! to JSON merge patch.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::{apply, PatchError, PatchType};
use crate::resources::{by_kind, ResourceInfo};

fn kind(api_version: &str, kind: &str) -> &'static ResourceInfo {
    by_kind(api_version, kind).expect("served")
}

fn strategic(
    resource: &ResourceInfo,
    original: &Value,
    patch: &Value,
) -> Result<Value, PatchError> {
    apply(
        resource,
        original,
        PatchType::StrategicMerge,
        patch.to_string().as_bytes(),
    )
}

/// The task page's Deployment (deployment-patch.yaml).
fn patch_demo() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "patch-demo"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "nginx"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}
            },
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {
                    "containers": [{"name": "patch-demo-ctr", "image": "nginx"}],
                    "tolerations": [
                        {"effect": "NoSchedule", "key": "dedicated", "value": "test-team"}
                    ]
                }
            }
        }
    })
}

fn deployment() -> &'static ResourceInfo {
    kind("apps/v1", "Deployment")
}

fn pod_spec(object: &Value) -> &Value {
    &object["spec"]["template"]["spec"]
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|item| item["name"].as_str().expect("named"))
        .collect()
}

#[test]
fn a_container_added_by_name_keeps_the_others() {
    // patch-file.yaml: the result has both containers, the new one first.
    let patch = json!({"spec": {"template": {"spec": {"containers": [
        {"name": "patch-demo-ctr-2", "image": "redis"}
    ]}}}});
    let patched = strategic(deployment(), &patch_demo(), &patch).expect("applies");
    assert_eq!(
        pod_spec(&patched)["containers"],
        json!([
            {"name": "patch-demo-ctr-2", "image": "redis"},
            {"name": "patch-demo-ctr", "image": "nginx"}
        ])
    );
}

#[test]
fn a_list_without_merge_strategy_is_replaced() {
    // patch-file-tolerations.yaml: tolerations has no patchStrategy, so the
    // patch's list is the whole list afterwards.
    let patch = json!({"spec": {"template": {"spec": {"tolerations": [
        {"effect": "NoSchedule", "key": "disktype", "value": "ssd"}
    ]}}}});
    let patched = strategic(deployment(), &patch_demo(), &patch).expect("applies");
    assert_eq!(
        pod_spec(&patched)["tolerations"],
        json!([{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}])
    );
    // Container.args has none either.
    let pod = json!({"spec": {"containers": [{"name": "c", "args": ["a", "b"]}]}});
    let patch = json!({"spec": {"containers": [{"name": "c", "args": ["z"]}]}});
    let patched = strategic(kind("v1", "Pod"), &pod, &patch).expect("applies");
    assert_eq!(patched["spec"]["containers"][0]["args"], json!(["z"]));
}

#[test]
fn retain_keys_clears_the_keys_not_listed() {
    // patch-file-retainkeys.yaml: switching to Recreate drops rollingUpdate.
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}});
    let patched = strategic(deployment(), &patch_demo(), &patch).expect("applies");
    assert_eq!(patched["spec"]["strategy"], json!({"type": "Recreate"}));
    // Without the directive, the maps merge and rollingUpdate stays.
    let patch = json!({"spec": {"strategy": {"type": "Recreate"}}});
    let patched = strategic(deployment(), &patch_demo(), &patch).expect("applies");
    assert_eq!(
        patched["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
        "25%"
    );
}

#[test]
fn env_merges_by_name() {
    let pod = json!({"spec": {"containers": [{"name": "app", "env": [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "2"}
    ]}]}});
    let patch = json!({"spec": {"containers": [{"name": "app", "env": [
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"}
    ]}]}});
    let patched = strategic(kind("v1", "Pod"), &pod, &patch).expect("applies");
    assert_eq!(
        patched["spec"]["containers"][0]["env"],
        json!([
            {"name": "A", "value": "1"},
            {"name": "B", "value": "3"},
            {"name": "C", "value": "4"}
        ])
    );
}

#[test]
fn a_delete_directive_removes_one_container() {
    let pod = json!({"spec": {"containers": [
        {"name": "app", "image": "nginx"},
        {"name": "sidecar", "image": "envoy"}
    ]}});
    let patch = json!({"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}});
    let patched = strategic(kind("v1", "Pod"), &pod, &patch).expect("applies");
    assert_eq!(
        patched["spec"]["containers"],
        json!([{"name": "app", "image": "nginx"}])
    );
}

#[test]
fn a_replace_directive_replaces_a_list_or_a_map() {
    let pod = json!({
        "metadata": {"labels": {"a": "1", "b": "2"}},
        "spec": {"containers": [{"name": "a"}, {"name": "b"}]}
    });
    let patch = json!({
        "metadata": {"labels": {"$patch": "replace", "c": "3"}},
        "spec": {"containers": [{"name": "c", "image": "x"}, {"$patch": "replace"}]}
    });
    let patched = strategic(kind("v1", "Pod"), &pod, &patch).expect("applies");
    assert_eq!(patched["metadata"]["labels"], json!({"c": "3"}));
    assert_eq!(
        patched["spec"]["containers"],
        json!([{"name": "c", "image": "x"}])
    );
}

#[test]
fn set_element_order_orders_the_result() {
    // What kubectl apply sends: the full order, and only what changed.
    let pod = json!({"spec": {"containers": [
        {"name": "a", "image": "1"},
        {"name": "b", "image": "2"}
    ]}});
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}],
        "containers": [{"name": "c", "image": "3"}]
    }});
    let patched = strategic(kind("v1", "Pod"), &pod, &patch).expect("applies");
    assert_eq!(names(&patched["spec"]["containers"]), ["c", "b", "a"]);
    assert_eq!(patched["spec"].get("$setElementOrder/containers"), None);

    // The patch list must follow the order it announces.
    let patch = json!({"spec": {
        "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
        "containers": [{"name": "b"}, {"name": "a"}]
    }});
    let error = strategic(kind("v1", "Pod"), &pod, &patch).expect_err("out of order");
    assert_eq!(error.code(), 500);
    assert_eq!(
        error.message(),
        "The order in patch list:\n[map[name:b] map[name:a]]\n doesn't match $setElementOrder list:\n[map[name:a] map[name:b]]\n"
    );
}

#[test]
fn finalizers_merge_as_a_set_and_delete_from_primitive_list() {
    let object = json!({"metadata": {"name": "x", "finalizers": ["a", "b"]}});
    let configmap = kind("v1", "ConfigMap");
    let patched = strategic(
        configmap,
        &object,
        &json!({"metadata": {"finalizers": ["b", "c"]}}),
    )
    .expect("applies");
    assert_eq!(patched["metadata"]["finalizers"], json!(["a", "b", "c"]));

    let patch = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}});
    let patched = strategic(configmap, &object, &patch).expect("applies");
    assert_eq!(patched["metadata"]["finalizers"], json!(["b"]));
}

#[test]
fn null_deletes_and_new_values_lose_their_nulls() {
    let object = json!({"metadata": {"name": "x", "labels": {"a": "1", "b": "2"}}});
    let patch = json!({"metadata": {
        "labels": {"b": null},
        "annotations": {"kept": "yes", "dropped": null}
    }});
    let patched = strategic(kind("v1", "ConfigMap"), &object, &patch).expect("applies");
    assert_eq!(patched["metadata"]["labels"], json!({"a": "1"}));
    assert_eq!(patched["metadata"]["annotations"], json!({"kept": "yes"}));
}

#[test]
fn other_kinds_merge_by_their_own_keys() {
    let service = json!({"spec": {"ports": [{"port": 80, "name": "http"}, {"port": 443}]}});
    let patch = json!({"spec": {"ports": [{"port": 443, "name": "https"}]}});
    let patched = strategic(kind("v1", "Service"), &service, &patch).expect("applies");
    assert_eq!(
        patched["spec"]["ports"],
        json!([{"port": 80, "name": "http"}, {"port": 443, "name": "https"}])
    );

    let node = json!({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}});
    let patch = json!({"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}});
    let patched = strategic(kind("v1", "Node"), &node, &patch).expect("applies");
    assert_eq!(
        patched["status"]["addresses"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn malformed_directives_answer_as_kube_apiserver() {
    let pod = json!({
        "metadata": {"labels": {"app": "a"}, "finalizers": []},
        "spec": {"containers": [{"name": "a"}]}
    });
    let cases = [
        (
            json!({"metadata": {"labels": {"$patch": "merge", "a": "b"}}}),
            500,
            "unknown patch type: merge in map: map[$patch:merge a:b]",
        ),
        (
            json!({"spec": {"containers": [{"name": "a", "$patch": "frob"}]}}),
            500,
            "unknown patch type: frob in map: map[$patch:frob name:a]",
        ),
        (
            json!({"spec": {"containers": [{"name": "a", "$patch": "merge"}]}}),
            500,
            "merging lists cannot yet be specified in the patch",
        ),
        (
            json!({"spec": {"containers": [{"image": "nginx"}]}}),
            500,
            "map: map[image:nginx] does not contain declared merge key: name",
        ),
        (
            json!({"spec": {"$retainKeys": "containers"}}),
            400,
            "invalid patch format of retainKeys",
        ),
        (
            json!({"spec": {"$retainKeys": ["volumes"], "containers": []}}),
            400,
            "invalid patch format of retainKeys",
        ),
        (
            json!({"spec": {"$setElementOrder": [{"name": "a"}]}}),
            400,
            "invalid patch format of setElementOrder list",
        ),
        (
            json!({"metadata": {"$deleteFromPrimitiveList": ["a"]}}),
            400,
            "invalid patch format of primitive list",
        ),
        (
            json!({"metadata": {"finalizers": [["a"]]}}),
            422,
            "the server rejected our request due to an error in our request",
        ),
        (
            json!({"spec": {"containers": ["a"]}}),
            500,
            "list element types are not identical: [[map[name:a]] [a]]",
        ),
    ];
    for (patch, code, message) in cases {
        let error = strategic(kind("v1", "Pod"), &pod, &patch)
            .map(|patched| patched.to_string())
            .expect_err(&patch.to_string());
        assert_eq!(
            (error.code(), error.message().as_str()),
            (code, message),
            "{patch}"
        );
    }
}

#[test]
fn a_directive_on_a_value_the_object_lacks_is_dropped() {
    // strategicpatch only reads `$patch` in maps it merges; a new value
    // loses its directive-holding maps (removeDirectives), whatever they say.
    let pod = json!({"metadata": {"name": "p"}});
    let patch =
        json!({"metadata": {"labels": {"$patch": "merge", "a": "b"}, "annotations": {"x": "y"}}});
    let patched = strategic(kind("v1", "Pod"), &pod, &patch).expect("applies");
    assert_eq!(
        patched["metadata"],
        json!({"name": "p", "annotations": {"x": "y"}})
    );
}

#[test]
fn bodies_that_are_not_a_json_object_are_400() {
    let pod = json!({"metadata": {"name": "p"}});
    let cases: &[(&str, &str)] = &[
        ("{", "unexpected end of JSON input"),
        (
            "{\"spec\":}",
            "invalid character '}' looking for beginning of value",
        ),
        (
            "[]",
            "json: cannot unmarshal array into Go value of type map[string]interface {}",
        ),
    ];
    for (body, message) in cases {
        let error = apply(
            kind("v1", "Pod"),
            &pod,
            PatchType::StrategicMerge,
            body.as_bytes(),
        )
        .expect_err("400");
        assert_eq!(
            (error.code(), error.reason(), error.message().as_str()),
            (400, "BadRequest", *message)
        );
    }
    // `null` patches nothing, like `{}`.
    for body in ["null", "{}"] {
        let patched = apply(
            kind("v1", "Pod"),
            &pod,
            PatchType::StrategicMerge,
            body.as_bytes(),
        );
        assert_eq!(patched.expect("no-op"), pod);
    }
}

#[test]
fn content_types_are_matched_as_patch_go_does() {
    let cases = [
        ("application/json-patch+json", Some(PatchType::Json)),
        (
            "application/merge-patch+json; charset=utf-8",
            Some(PatchType::Merge),
        ),
        (
            "application/strategic-merge-patch+json",
            Some(PatchType::StrategicMerge),
        ),
        ("application/merge-patch+json ; charset=utf-8", None),
        ("Application/Merge-Patch+JSON", None),
        ("application/apply-patch+yaml", None),
        ("application/json", None),
    ];
    for (content_type, patch_type) in cases {
        assert_eq!(
            PatchType::from_content_type(content_type),
            patch_type,
            "{content_type}"
        );
    }
    for patch_type in [PatchType::Json, PatchType::Merge, PatchType::StrategicMerge] {
        assert_eq!(
            PatchType::from_content_type(patch_type.content_type()),
            Some(patch_type)
        );
    }
}

/// JSON objects without lists, `null` allowed anywhere.
fn object_without_lists() -> impl Strategy<Value = Map<String, Value>> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-50i64..50).prop_map(Value::from),
        "[a-c]{0,2}".prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        prop::collection::btree_map("[a-d]", inner, 0..4)
            .prop_map(|map| Value::Object(map.into_iter().collect()))
    });
    prop::collection::btree_map("[a-d]", value, 0..4).prop_map(|map| map.into_iter().collect())
}

/// Containers named from a small set, so that patches hit existing ones.
fn containers(names: impl Strategy<Value = Vec<u8>>) -> impl Strategy<Value = Vec<Value>> {
    names.prop_map(|names| {
        names
            .into_iter()
            .enumerate()
            .map(|(i, name)| json!({"name": format!("c{name}"), "image": format!("i{i}")}))
            .collect()
    })
}

proptest! {
    #[test]
    fn strategic_merge_of_objects_without_lists_is_json_merge(
        original in object_without_lists(),
        patch in object_without_lists(),
    ) {
        let original = Value::Object(original);
        let body = Value::Object(patch).to_string();
        let configmap = kind("v1", "ConfigMap");
        let merged = apply(configmap, &original, PatchType::Merge, body.as_bytes());
        let strategic = apply(configmap, &original, PatchType::StrategicMerge, body.as_bytes());
        prop_assert_eq!(strategic.expect("applies"), merged.expect("applies"));
    }

    #[test]
    fn merging_by_key_keeps_unnamed_items_and_never_duplicates(
        original in containers(prop::collection::btree_set(0u8..6, 0..5).prop_map(|set| set.into_iter().collect())),
        patch in containers(prop::collection::vec(0u8..8, 0..5)),
    ) {
        let pod = json!({"spec": {"containers": original.clone()}});
        let body = json!({"spec": {"containers": patch.clone()}});
        let patched = strategic(kind("v1", "Pod"), &pod, &body).expect("applies");
        let merged = names(&patched["spec"]["containers"]);
        let mut unique = merged.clone();
        unique.sort_unstable();
        unique.dedup();
        prop_assert_eq!(unique.len(), merged.len(), "duplicates in {:?}", merged);
        for item in original.iter().chain(&patch) {
            let name = item["name"].as_str().expect("named");
            prop_assert!(merged.contains(&name), "{} lost from {:?}", name, merged);
        }
        prop_assert_eq!(merged.len(), unique.len());
    }
}
