//! Pods and pod templates (`pkg/apis/core/validation/validation.go`:
//! `ValidatePodSpec`, `validateContainers`, `validateInitContainers`,
//! `validateContainerCommon`, `ValidatePodCreate`, `ValidatePodUpdate`,
//! `ValidatePodTemplateSpec`).
//!
//! ```text
//!   pod_create ─┐
//!   pod_update ─┼─► spec ─► volumes, containers, initContainers (name,
//!   template  ──┘          image, ports, env, mounts, resources), policies,
//!                          nodeSelector, tolerations, names of things
//! ```

use std::collections::HashSet;

use serde_json::Value;

use super::field::{self, Bad, Path};
use super::names::{self, NameRule};
use super::quantity::Quantity;
use super::{entries, get, int, list, meta, text, Cause};

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

/// `supportedPortProtocols`, sorted as `sets.List` sorts them.
pub const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

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

fn ports(container: &Value, path: &Path) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut seen = HashSet::new();
    for (i, port) in list(container, "ports").iter().enumerate() {
        let at = path.index(i);
        let name = text(port, "name");
        if !name.is_empty() {
            let messages = names::is_valid_port_name(name);
            if !messages.is_empty() {
                for message in messages {
                    causes.push(field::invalid(&at.child("name"), Bad::text(name), &message));
                }
            } else if !seen.insert(name) {
                causes.push(field::duplicate(&at.child("name"), Bad::text(name)));
            }
        }
        let container_port = int(port, "containerPort").unwrap_or(0);
        if container_port == 0 {
            causes.push(field::required(&at.child("containerPort"), ""));
        } else {
            for message in names::is_valid_port_num(container_port) {
                causes.push(field::invalid(
                    &at.child("containerPort"),
                    Bad::Int(container_port),
                    &message,
                ));
            }
        }
        let host_port = int(port, "hostPort").unwrap_or(0);
        if host_port != 0 {
            for message in names::is_valid_port_num(host_port) {
                causes.push(field::invalid(
                    &at.child("hostPort"),
                    Bad::Int(host_port),
                    &message,
                ));
            }
        }
        causes.extend(protocol(text(port, "protocol"), &at.child("protocol")));
    }
    causes
}

/// A port's protocol: required, and one of [`PROTOCOLS`].
pub fn protocol(protocol: &str, path: &Path) -> Option<Cause> {
    if protocol.is_empty() {
        Some(field::required(path, ""))
    } else if !PROTOCOLS.contains(&protocol) {
        Some(field::not_supported(path, Bad::text(protocol), PROTOCOLS))
    } else {
        None
    }
}

fn env(container: &Value, path: &Path) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (i, variable) in list(container, "env").iter().enumerate() {
        let at = path.index(i).child("name");
        let name = text(variable, "name");
        if name.is_empty() {
            causes.push(field::required(&at, ""));
        } else {
            for message in names::is_relaxed_env_var_name(name) {
                causes.push(field::invalid(&at, Bad::text(name), &message));
            }
        }
        if let Some(source) = get(variable, "valueFrom") {
            let from = path.index(i).child("valueFrom");
            let sources = [
                "fieldRef",
                "resourceFieldRef",
                "configMapKeyRef",
                "secretKeyRef",
            ]
            .iter()
            .filter(|key| get(source, key).is_some())
            .count();
            if sources == 0 {
                causes.push(field::invalid(
                    &from,
                    Bad::text(""),
                    "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                ));
            } else if !text(variable, "value").is_empty() {
                causes.push(field::invalid(
                    &from,
                    Bad::text(""),
                    "may not be specified when `value` is not empty",
                ));
            } else if sources > 1 {
                causes.push(field::invalid(
                    &from,
                    Bad::text(""),
                    "may not have more than one field specified at a time",
                ));
            }
        }
    }
    causes
}

fn volume_mounts(container: &Value, volumes: &HashSet<String>, path: &Path) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut mount_points = HashSet::new();
    for (i, mount) in list(container, "volumeMounts").iter().enumerate() {
        let at = path.index(i);
        let name = text(mount, "name");
        if name.is_empty() {
            causes.push(field::required(&at.child("name"), ""));
        }
        if !volumes.contains(name) {
            causes.push(field::not_found(&at.child("name"), Bad::text(name)));
        }
        let mount_path = text(mount, "mountPath");
        if mount_path.is_empty() {
            causes.push(field::required(&at.child("mountPath"), ""));
        }
        if !mount_points.insert(mount_path) {
            causes.push(field::invalid(
                &at.child("mountPath"),
                Bad::text(mount_path),
                "must be unique",
            ));
        }
    }
    causes
}

/// `IsStandardContainerResourceName`.
fn is_standard_container_resource(name: &str) -> bool {
    matches!(name, "cpu" | "memory" | "ephemeral-storage") || name.starts_with("hugepages-")
}

/// `IsStandardResourceName`.
fn is_standard_resource(name: &str) -> bool {
    const STANDARD: &[&str] = &[
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "storage",
        "requests.storage",
        "services.nodeports",
        "services.loadbalancers",
    ];
    STANDARD.contains(&name) || name.starts_with("hugepages-")
}

/// `IsNativeResource`: unprefixed or under kubernetes.io.
fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// `IsOvercommitAllowed`: native, and not huge pages.
fn is_overcommit_allowed(name: &str) -> bool {
    is_native_resource(name) && !name.starts_with("hugepages-")
}

/// `validateContainerResourceName`.
fn container_resource_name(name: &str, path: &Path) -> Vec<Cause> {
    let mut causes: Vec<Cause> = names::is_qualified_name(name)
        .into_iter()
        .map(|message| field::invalid(path, Bad::text(name), &message))
        .collect();
    if causes.is_empty() && !name.contains('/') && !is_standard_resource(name) {
        causes.push(field::invalid(
            path,
            Bad::text(name),
            "must be a standard resource type or fully qualified",
        ));
    }
    if !name.contains('/') && !is_standard_container_resource(name) {
        causes.push(field::invalid(
            path,
            Bad::text(name),
            "must be a standard resource for containers",
        ));
    }
    causes
}

/// `ValidateResourceQuantityValue`: not negative; whole for extended
/// resources.
fn quantity_value(name: &str, value: &Value, path: &Path) -> (Option<Quantity>, Vec<Cause>) {
    let raw = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned);
    let Some(quantity) = Quantity::parse(&raw) else {
        return (
            None,
            vec![field::invalid(
                path,
                Bad::text(&raw),
                "must be a valid resource quantity",
            )],
        );
    };
    let mut causes = Vec::new();
    if quantity.is_negative() {
        causes.push(field::invalid(
            path,
            Bad::text(&quantity.canonical()),
            names::NEGATIVE,
        ));
    }
    if !is_native_resource(name) && !quantity.is_whole() {
        causes.push(field::invalid(
            path,
            Bad::Go(quantity.canonical()),
            "must be an integer",
        ));
    }
    (Some(quantity), causes)
}

/// `validateResourceRequirements` of a container: names and quantities of
/// limits and requests, and requests no higher than limits.
fn resources(container: &Value, path: &Path) -> Vec<Cause> {
    let empty = Value::Null;
    let resources = get(container, "resources").unwrap_or(&empty);
    let limits_path = path.child("limits");
    let requests_path = path.child("requests");
    let mut causes = Vec::new();
    let mut limits = Vec::new();
    for (name, value) in entries(resources, "limits") {
        let at = limits_path.key(name);
        causes.extend(container_resource_name(name, &at));
        let (quantity, more) = quantity_value(name, value, &at);
        causes.extend(more);
        limits.push((name.as_str(), quantity));
    }
    for (name, value) in entries(resources, "requests") {
        let at = requests_path.key(name);
        causes.extend(container_resource_name(name, &at));
        let (request, more) = quantity_value(name, value, &at);
        causes.extend(more);
        let limit = limits.iter().find(|(limit, _)| *limit == name);
        match (request, limit) {
            (Some(request), Some((_, Some(limit)))) => {
                let shown = Bad::text(&request.canonical());
                if request != *limit && !is_overcommit_allowed(name) {
                    let detail = format!("must be equal to {name} limit of {}", limit.canonical());
                    causes.push(field::invalid(&requests_path, shown, &detail));
                } else if request > *limit {
                    let detail = format!(
                        "must be less than or equal to {name} limit of {}",
                        limit.canonical()
                    );
                    causes.push(field::invalid(&requests_path, shown, &detail));
                }
            }
            (_, None) if !is_overcommit_allowed(name) => causes.push(field::required(
                &limits_path,
                "Limit must be set for non overcommitable resources",
            )),
            _ => {}
        }
    }
    causes
}

/// `validateContainerCommon`.
fn container_common(container: &Value, volumes: &HashSet<String>, path: &Path) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = text(container, "name");
    if name.is_empty() {
        causes.push(field::required(&path.child("name"), ""));
    } else {
        causes.extend(dns_label(name, &path.child("name")));
    }
    if text(container, "image").is_empty() {
        causes.push(field::required(&path.child("image"), ""));
    }
    let policy = text(container, "terminationMessagePolicy");
    let policy_path = path.child("terminationMessagePolicy");
    match policy {
        "File" | "FallbackToLogsOnError" => {}
        "" => causes.push(field::required(&policy_path, "")),
        other => causes.push(field::not_supported(
            &policy_path,
            Bad::text(other),
            &["File", "FallbackToLogsOnError"],
        )),
    }
    causes.extend(ports(container, &path.child("ports")));
    causes.extend(env(container, &path.child("env")));
    causes.extend(volume_mounts(
        container,
        volumes,
        &path.child("volumeMounts"),
    ));
    let pull = text(container, "imagePullPolicy");
    let pull_path = path.child("imagePullPolicy");
    match pull {
        "Always" | "IfNotPresent" | "Never" => {}
        "" => causes.push(field::required(&pull_path, "")),
        other => causes.push(field::not_supported(
            &pull_path,
            Bad::text(other),
            &["Always", "IfNotPresent", "Never"],
        )),
    }
    causes.extend(resources(container, &path.child("resources")));
    causes
}

/// `checkHostPortConflicts`: one `<protocol>/<hostIP>/<hostPort>` per pod.
fn host_port_conflicts(
    containers: &[Value],
    path: &Path,
    seen: &mut HashSet<String>,
) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (i, container) in containers.iter().enumerate() {
        for (j, port) in list(container, "ports").iter().enumerate() {
            let host_port = int(port, "hostPort").unwrap_or(0);
            if host_port == 0 {
                continue;
            }
            let key = format!(
                "{}/{}/{host_port}",
                text(port, "protocol"),
                text(port, "hostIP")
            );
            if seen.contains(&key) {
                let at = path.index(i).child("ports").index(j).child("hostPort");
                causes.push(field::duplicate(&at, Bad::text(&key)));
            } else {
                seen.insert(key);
            }
        }
    }
    causes
}

fn containers(spec: &Value, volumes: &HashSet<String>, path: &Path) -> Vec<Cause> {
    let containers = list(spec, "containers");
    if containers.is_empty() {
        return vec![field::required(path, "")];
    }
    let mut causes = Vec::new();
    let mut names = HashSet::new();
    for (i, container) in containers.iter().enumerate() {
        let at = path.index(i);
        causes.extend(container_common(container, volumes, &at));
        let name = text(container, "name");
        if !names.insert(name) {
            causes.push(field::duplicate(&at.child("name"), Bad::text(name)));
        }
        if get(container, "restartPolicy").is_some() {
            causes.push(field::forbidden(
                &at.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    causes.extend(host_port_conflicts(containers, path, &mut HashSet::new()));
    causes
}

fn init_containers(spec: &Value, volumes: &HashSet<String>, path: &Path) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut names: HashSet<&str> = list(spec, "containers")
        .iter()
        .map(|container| text(container, "name"))
        .collect();
    for (i, container) in list(spec, "initContainers").iter().enumerate() {
        let at = path.index(i);
        causes.extend(container_common(container, volumes, &at));
        let restart = text(container, "restartPolicy");
        if get(container, "restartPolicy").is_some() && restart != "Always" {
            causes.push(field::not_supported(
                &at.child("restartPolicy"),
                Bad::text(restart),
                &["Always"],
            ));
        }
        let name = text(container, "name");
        if names.contains(name) {
            causes.push(field::duplicate(&at.child("name"), Bad::text(name)));
        } else if !name.is_empty() {
            names.insert(name);
        }
        causes.extend(host_port_conflicts(
            std::slice::from_ref(container),
            path,
            &mut HashSet::new(),
        ));
        if restart != "Always" {
            for probe in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if get(container, probe).is_some() {
                    causes.push(field::forbidden(
                        &at.child(probe),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    causes
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
