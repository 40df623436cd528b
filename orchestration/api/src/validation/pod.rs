//! Pods and pod templates (`pkg/apis/core/validation/validation.go`:
//! `ValidatePodSpec`, `validateContainers`, `validateInitContainers`,
//! `validateContainerCommon`, `ValidatePodCreate`, `ValidatePodUpdate`,
//! `ValidatePodTemplateSpec`).
//!
//! ```text
//!   pod_create ─┐
//!   pod_update ─┼─► spec ─► volumes, containers and initContainers (see
//!   template  ──┘          `container`), policies, nodeSelector,
//!                          tolerations, names of things
//! ```

use std::collections::HashSet;

use serde_json::Value;

use super::container::{containers, init_containers};
use super::field::{self, Bad, Path};
use super::names::{self, NameRule};
use super::{get, int, list, meta, text, Cause};

/// The volume sources, in the order `validateVolumeSource` checks them,
/// with the name its "more than 1 volume type" error uses (Kubernetes
/// spells two of them its own way).
const VOLUME_SOURCES: &[(&str, &str)] = &[
    ("emptyDir", "emptyDir"),
    ("hostPath", "hostPath"),
    ("gitRepo", "gitRepo"),
    ("gcePersistentDisk", "gcePersistentDisk"),
    ("awsElasticBlockStore", "awsElasticBlockStore"),
    ("secret", "secret"),
    ("nfs", "nfs"),
    ("iscsi", "iscsi"),
    ("glusterfs", "glusterfs"),
    ("flocker", "flocker"),
    ("persistentVolumeClaim", "persistentVolumeClaim"),
    ("rbd", "rbd"),
    ("cinder", "cinder"),
    ("cephfs", "cephFS"),
    ("quobyte", "quobyte"),
    ("downwardAPI", "downwarAPI"),
    ("fc", "fc"),
    ("flexVolume", "flexVolume"),
    ("configMap", "configMap"),
    ("azureFile", "azureFile"),
    ("vsphereVolume", "vsphereVolume"),
    ("photonPersistentDisk", "photonPersistentDisk"),
    ("portworxVolume", "portworxVolume"),
    ("azureDisk", "azureDisk"),
    ("storageos", "storageos"),
    ("projected", "projected"),
    ("scaleIO", "scaleIO"),
    ("csi", "csi"),
    ("ephemeral", "ephemeral"),
    ("image", "image"),
];

/// The fields a Pod update may change (`updatablePodSpecFields`).
const UPDATABLE_POD_SPEC_FIELDS: &[&str] = &[
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
];

/// Where the spec being checked lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecOf {
    /// A Pod's own spec (`opts.ResourceIsPod`).
    Pod,
    /// A template's spec, inside a workload.
    Template,
}

fn volumes(spec: &Value, path: &Path) -> (HashSet<String>, Vec<Cause>) {
    let mut causes = Vec::new();
    let mut known = HashSet::new();
    for (i, volume) in list(spec, "volumes").iter().enumerate() {
        let at = path.index(i);
        let mut own = Vec::new();
        let mut kinds = 0;
        for (key, name) in VOLUME_SOURCES {
            if get(volume, key).is_some() {
                if kinds > 0 {
                    own.push(field::forbidden(
                        &at.child(name),
                        "may not specify more than 1 volume type",
                    ));
                } else {
                    kinds += 1;
                }
            }
        }
        if kinds == 0 {
            own.push(field::required(&at, "must specify a volume type"));
        }
        let name = text(volume, "name");
        let name_path = at.child("name");
        if name.is_empty() {
            own.push(field::required(&name_path, ""));
        } else {
            own.extend(dns_label(name, &name_path));
        }
        if known.contains(name) {
            own.push(field::duplicate(&name_path, Bad::text(name)));
        }
        if own.is_empty() {
            known.insert(name.to_owned());
        }
        causes.extend(own);
    }
    (known, causes)
}

/// `ValidateDNS1123Label`.
pub fn dns_label(value: &str, path: &Path) -> Vec<Cause> {
    names::is_dns1123_label(value)
        .into_iter()
        .map(|message| field::invalid(path, Bad::text(value), &message))
        .collect()
}

fn named(value: &str, rule: NameRule, path: &Path) -> Vec<Cause> {
    rule.check(value, false)
        .into_iter()
        .map(|message| field::invalid(path, Bad::text(value), &message))
        .collect()
}

/// `ValidateTolerations`.
fn tolerations(spec: &Value, path: &Path) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (i, toleration) in list(spec, "tolerations").iter().enumerate() {
        let at = path.index(i);
        let key = text(toleration, "key");
        let operator = text(toleration, "operator");
        let effect = text(toleration, "effect");
        if !key.is_empty() {
            causes.extend(meta::label_name(key, &at.child("key")));
        }
        if key.is_empty() && operator != "Exists" {
            causes.push(field::invalid(
                &at.child("operator"),
                Bad::text(operator),
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if get(toleration, "tolerationSeconds").is_some() && effect != "NoExecute" {
            causes.push(field::invalid(
                &at.child("effect"),
                Bad::text(effect),
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        let value = text(toleration, "value");
        match operator {
            "Equal" | "" => {
                let messages = names::is_valid_label_value(value);
                if !messages.is_empty() {
                    causes.push(field::invalid(
                        &at.child("operator"),
                        Bad::text(value),
                        &messages.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    causes.push(field::invalid(
                        &at.child("operator"),
                        Bad::text(value),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => causes.push(field::not_supported(
                &at.child("operator"),
                Bad::text(other),
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
        {
            causes.push(field::not_supported(
                &at.child("effect"),
                Bad::text(effect),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    causes
}

fn enumerated(value: &str, supported: &[&str], path: &Path) -> Option<Cause> {
    if value.is_empty() {
        Some(field::required(path, ""))
    } else if supported.contains(&value) {
        None
    } else {
        Some(field::not_supported(path, Bad::text(value), supported))
    }
}

/// `ValidatePodSpec` (the parts keel checks) of `spec` at `path`.
pub fn spec(spec: &Value, path: &Path, of: SpecOf) -> Vec<Cause> {
    let mut causes = Vec::new();
    if get(spec, "terminationGracePeriodSeconds").is_none() {
        causes.push(field::required(
            &path.child("terminationGracePeriodSeconds"),
            "",
        ));
    }
    let (volumes, more) = volumes(spec, &path.child("volumes"));
    causes.extend(more);
    causes.extend(containers(spec, &volumes, &path.child("containers")));
    causes.extend(init_containers(
        spec,
        &volumes,
        &path.child("initContainers"),
    ));
    if get(spec, "hostNetwork").and_then(Value::as_bool) == Some(true) {
        for (i, container) in list(spec, "containers").iter().enumerate() {
            for (j, port) in list(container, "ports").iter().enumerate() {
                let host = int(port, "hostPort").unwrap_or(0);
                let own = int(port, "containerPort").unwrap_or(0);
                if (of == SpecOf::Pod || host != 0) && host != own {
                    let at = path.child("containers").index(i).child("ports").index(j);
                    causes.push(field::invalid(
                        &at.child("hostPort"),
                        Bad::Int(host),
                        "must match `containerPort` when `hostNetwork` is true",
                    ));
                }
            }
        }
    }
    causes.extend(enumerated(
        text(spec, "restartPolicy"),
        &["Always", "OnFailure", "Never"],
        &path.child("restartPolicy"),
    ));
    causes.extend(enumerated(
        text(spec, "dnsPolicy"),
        &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"],
        &path.child("dnsPolicy"),
    ));
    causes.extend(meta::labels(
        spec,
        "nodeSelector",
        &path.child("nodeSelector"),
    ));
    for (key, rule) in [
        ("serviceAccountName", NameRule::Subdomain),
        ("nodeName", NameRule::Subdomain),
    ] {
        let value = text(spec, key);
        if !value.is_empty() {
            causes.extend(named(value, rule, &path.child(key)));
        }
    }
    if let Some(deadline) = int(spec, "activeDeadlineSeconds") {
        if !(1..=i64::from(i32::MAX)).contains(&deadline) {
            causes.push(field::invalid(
                &path.child("activeDeadlineSeconds"),
                Bad::Int(deadline),
                &names::inclusive_range_error(1, i64::from(i32::MAX)),
            ));
        }
    }
    for key in ["hostname", "subdomain"] {
        let value = text(spec, key);
        if !value.is_empty() {
            causes.extend(dns_label(value, &path.child(key)));
        }
    }
    causes.extend(tolerations(spec, &path.child("tolerations")));
    let priority_class = text(spec, "priorityClassName");
    if !priority_class.is_empty() {
        causes.extend(named(
            priority_class,
            NameRule::Subdomain,
            &path.child("priorityClassName"),
        ));
    }
    causes
}

/// `ValidatePodTemplateSpec` of the template at `path` (`spec.template`):
/// its labels and annotations (reported at `spec.template.labels`, as
/// Kubernetes does) and its spec.
pub fn template(template: Option<&Value>, path: &Path) -> Vec<Cause> {
    let empty = Value::Null;
    let template = template.unwrap_or(&empty);
    let metadata = get(template, "metadata").unwrap_or(&empty);
    let mut causes = meta::labels(metadata, "labels", &path.child("labels"));
    causes.extend(meta::annotations(
        metadata,
        "annotations",
        &path.child("annotations"),
    ));
    causes.extend(spec(
        get(template, "spec").unwrap_or(&empty),
        &path.child("spec"),
        SpecOf::Template,
    ));
    if !list(
        get(template, "spec").unwrap_or(&empty),
        "ephemeralContainers",
    )
    .is_empty()
    {
        causes.push(field::forbidden(
            &path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    causes
}

/// `validatePodMetadataAndSpec`: metadata, spec, and the image whitespace
/// rule that only Pods get.
fn metadata_and_spec(pod: &Value) -> Vec<Cause> {
    let empty = Value::Null;
    let spec_value = get(pod, "spec").unwrap_or(&empty);
    let path = Path::root("spec");
    let mut causes = meta::object_meta(pod, true, NameRule::Subdomain);
    causes.extend(spec(spec_value, &path, SpecOf::Pod));
    for key in ["containers", "initContainers"] {
        for (i, container) in list(spec_value, key).iter().enumerate() {
            let image = text(container, "image");
            if image.trim() != image {
                causes.push(field::invalid(
                    &path.child(key).index(i).child("image"),
                    Bad::text(image),
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    causes
}

/// `ValidatePodCreate`.
pub fn pod_create(pod: &Value) -> Vec<Cause> {
    let mut causes = metadata_and_spec(pod);
    let empty = Value::Null;
    let spec = get(pod, "spec").unwrap_or(&empty);
    if !list(spec, "ephemeralContainers").is_empty() {
        causes.push(field::forbidden(
            &Path::root("spec").child("ephemeralContainers"),
            "cannot be set on create",
        ));
    }
    if !text(spec, "nodeName").is_empty() && !list(spec, "schedulingGates").is_empty() {
        causes.push(field::forbidden(
            &Path::root("spec").child("nodeName"),
            "cannot be set until all schedulingGates have been cleared",
        ));
    }
    causes
}

/// The fields of two specs that differ, one line each, standing in for
/// the `cmp.Diff` Kubernetes appends (which keel does not reproduce).
fn spec_diff(old: &Value, new: &Value) -> String {
    let mut keys: Vec<&String> = old
        .as_object()
        .into_iter()
        .chain(new.as_object())
        .flat_map(|map| map.keys())
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|key| old.get(key.as_str()) != new.get(key.as_str()))
        .map(|key| {
            let show = |spec: &Value| {
                spec.get(key.as_str())
                    .map_or("null".into(), Value::to_string)
            };
            format!("  {key}: {} -> {}", show(old), show(new))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `ValidatePodUpdate`: a Pod's spec may change only its images, its
/// active deadline (down), its tolerations (additions) and a negative
/// grace period to 1.
pub fn pod_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta_update(old, new);
    causes.extend(metadata_and_spec(new));
    let empty = Value::Null;
    let path = Path::root("spec");
    let old_spec = get(old, "spec").unwrap_or(&empty);
    let new_spec = get(new, "spec").unwrap_or(&empty);
    for key in ["containers", "initContainers"] {
        let (old_list, new_list) = (list(old_spec, key), list(new_spec, key));
        if old_list.len() != new_list.len() {
            causes.push(field::forbidden(
                &path.child(key),
                "pod updates may not add or remove containers",
            ));
            return causes;
        }
        for (i, container) in new_list.iter().enumerate() {
            if text(container, "image").is_empty() {
                causes.push(field::required(
                    &path.child(key).index(i).child("image"),
                    "",
                ));
            }
        }
    }
    let deadline_path = path.child("activeDeadlineSeconds");
    match (
        int(old_spec, "activeDeadlineSeconds"),
        int(new_spec, "activeDeadlineSeconds"),
    ) {
        (_, Some(new)) if !(0..=i64::from(i32::MAX)).contains(&new) => {
            causes.push(field::invalid(
                &deadline_path,
                Bad::Int(new),
                &names::inclusive_range_error(0, i64::from(i32::MAX)),
            ));
            return causes;
        }
        (Some(old), Some(new)) if old < new => {
            causes.push(field::invalid(
                &deadline_path,
                Bad::Int(new),
                "must be less than or equal to previous value",
            ));
            return causes;
        }
        (Some(_), None) => causes.push(field::invalid(
            &deadline_path,
            Bad::Go("null".into()),
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }
    let old_tolerations = list(old_spec, "tolerations");
    let new_tolerations = list(new_spec, "tolerations");
    let kept = old_tolerations.iter().all(|old| {
        new_tolerations.iter().any(|new| {
            let mut old = old.clone();
            if let (Some(map), Some(seconds)) = (old.as_object_mut(), new.get("tolerationSeconds"))
            {
                map.insert("tolerationSeconds".into(), seconds.clone());
            } else if let Some(map) = old.as_object_mut() {
                map.remove("tolerationSeconds");
            }
            old == *new
        })
    });
    if kept {
        causes.extend(tolerations(new_spec, &path.child("tolerations")));
    } else {
        causes.push(field::forbidden(
            &path.child("tolerations"),
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }
    if old_spec == new_spec {
        return causes;
    }
    // What is left once the updatable fields are taken from the old spec.
    let mut munged = new_spec.clone();
    for key in ["containers", "initContainers"] {
        if let Some(containers) = munged.get_mut(key).and_then(Value::as_array_mut) {
            for (container, old) in containers.iter_mut().zip(list(old_spec, key)) {
                if let Some(map) = container.as_object_mut() {
                    match old.get("image") {
                        Some(image) => map.insert("image".into(), image.clone()),
                        None => map.remove("image"),
                    };
                }
            }
        }
    }
    if let Some(map) = munged.as_object_mut() {
        for key in ["activeDeadlineSeconds", "tolerations", "schedulingGates"] {
            match old_spec.get(key) {
                Some(value) => map.insert(key.into(), value.clone()),
                None => map.remove(key),
            };
        }
        let old_grace = int(old_spec, "terminationGracePeriodSeconds");
        if old_grace.is_some_and(|grace| grace < 0)
            && int(&munged, "terminationGracePeriodSeconds") == Some(1)
        {
            if let (Some(map), Some(grace)) = (
                munged.as_object_mut(),
                old_spec.get("terminationGracePeriodSeconds"),
            ) {
                map.insert("terminationGracePeriodSeconds".into(), grace.clone());
            }
        }
    }
    if munged != *old_spec {
        let detail = format!(
            "pod updates may not change fields other than {}\n{}",
            UPDATABLE_POD_SPEC_FIELDS.join(","),
            spec_diff(old_spec, &munged)
        );
        causes.push(field::forbidden(&path, &detail));
    }
    causes
}
