//! Containers of a pod spec (`pkg/apis/core/validation/validation.go`:
//! `validateContainers`, `validateInitContainers`, `validateContainerCommon`,
//! `validateContainerPorts`, `ValidateEnv`, `ValidateVolumeMounts`,
//! `validateResourceRequirements`, `checkHostPortConflicts`).
//!
//! ```text
//!   containers ─┬─► common: name, image, terminationMessagePolicy, ports,
//!   init ───────┘           env, volumeMounts, imagePullPolicy, resources
//!               └─► unique names across both lists, host ports per pod
//! ```

use std::collections::HashSet;

use serde_json::Value;

use super::field::{self, Bad, Path};
use super::names;
use super::pod::dns_label;
use super::quantity::Quantity;
use super::{entries, get, int, list, text, Cause};

/// `supportedPortProtocols`, sorted as `sets.List` sorts them.
pub const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

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

/// `validateContainers`: at least one, each valid, names unique.
pub(super) fn containers(spec: &Value, volumes: &HashSet<String>, path: &Path) -> Vec<Cause> {
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

/// `validateInitContainers`: each valid, named apart from the regular
/// containers, restartPolicy only Always, no probes unless restartable.
pub(super) fn init_containers(spec: &Value, volumes: &HashSet<String>, path: &Path) -> Vec<Cause> {
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
