//! Services, ConfigMaps, Secrets, Namespaces, Nodes, Endpoints, Events
//! (`pkg/apis/core/validation/validation.go`) and Leases
//! (`pkg/apis/coordination/validation/validation.go`).

use std::collections::HashSet;

use serde_json::Value;

use super::field::{self, Bad, Path};
use super::names::{self, NameRule};
use super::{container, entries, get, gostring, int, list, meta, pod, text, Cause};

/// `core.MaxSecretSize`: the most data a ConfigMap or Secret holds, 1 MiB.
pub const DATA_MAX_BYTES: usize = 1024 * 1024;

/// The Service types, sorted as `sets.List` sorts them.
const SERVICE_TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];

fn spec_of(object: &Value) -> &Value {
    object.get("spec").unwrap_or(&Value::Null)
}

/// `isHeadlessService`: clusterIP "None".
fn is_headless(spec: &Value) -> bool {
    text(spec, "clusterIP") == "None"
        || list(spec, "clusterIPs").first().and_then(Value::as_str) == Some("None")
}

fn service_port(
    port: &Value,
    require_name: bool,
    names_seen: &mut HashSet<String>,
    path: &Path,
) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = text(port, "name");
    if require_name && name.is_empty() {
        causes.push(field::required(&path.child("name"), ""));
    } else if !name.is_empty() {
        causes.extend(pod::dns_label(name, &path.child("name")));
        if !names_seen.insert(name.to_owned()) {
            causes.push(field::duplicate(&path.child("name"), Bad::text(name)));
        }
    }
    let number = int(port, "port").unwrap_or(0);
    for message in names::is_valid_port_num(number) {
        causes.push(field::invalid(
            &path.child("port"),
            Bad::Int(number),
            &message,
        ));
    }
    causes.extend(container::protocol(
        text(port, "protocol"),
        &path.child("protocol"),
    ));
    match get(port, "targetPort") {
        Some(Value::String(name)) => {
            for message in names::is_valid_port_name(name) {
                causes.push(field::invalid(
                    &path.child("targetPort"),
                    Bad::text(name),
                    &message,
                ));
            }
        }
        Some(target) => {
            let target = target.as_i64().unwrap_or(0);
            for message in names::is_valid_port_num(target) {
                causes.push(field::invalid(
                    &path.child("targetPort"),
                    Bad::Int(target),
                    &message,
                ));
            }
        }
        None => {
            for message in names::is_valid_port_num(0) {
                causes.push(field::invalid(
                    &path.child("targetPort"),
                    Bad::Int(0),
                    &message,
                ));
            }
        }
    }
    causes
}

/// `ValidateService`: a DNS-1035 name; ports unless headless or
/// ExternalName, each valid, named when several, unique by name and by
/// port and protocol; a known type and session affinity.
pub fn service(object: &Value) -> Vec<Cause> {
    let spec = spec_of(object);
    let path = Path::root("spec");
    let mut causes = meta::object_meta(object, true, NameRule::Dns1035Label);
    let kind = text(spec, "type");
    let ports = list(spec, "ports");
    let headless = is_headless(spec);
    if ports.is_empty() && !headless && kind != "ExternalName" {
        causes.push(field::required(&path.child("ports"), ""));
    }
    match kind {
        "LoadBalancer" | "NodePort" if headless => causes.push(field::invalid(
            &path.child("clusterIPs").index(0),
            Bad::text("None"),
            &format!("may not be set to 'None' for {kind} services"),
        )),
        "ExternalName" => {
            let name = text(spec, "externalName");
            let name = name.strip_suffix('.').unwrap_or(name);
            if name.is_empty() {
                causes.push(field::required(&path.child("externalName"), ""));
            } else {
                for message in names::is_dns1123_subdomain(name) {
                    causes.push(field::invalid(
                        &path.child("externalName"),
                        Bad::text(name),
                        &message,
                    ));
                }
            }
        }
        _ => {}
    }
    let mut names_seen = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        causes.extend(service_port(
            port,
            ports.len() > 1,
            &mut names_seen,
            &path.child("ports").index(i),
        ));
    }
    causes.extend(meta::labels(spec, "selector", &path.child("selector")));
    let affinity = text(spec, "sessionAffinity");
    if affinity.is_empty() {
        causes.push(field::required(&path.child("sessionAffinity"), ""));
    } else if !matches!(affinity, "ClientIP" | "None") {
        causes.push(field::not_supported(
            &path.child("sessionAffinity"),
            Bad::text(affinity),
            &["ClientIP", "None"],
        ));
    }
    if kind.is_empty() {
        causes.push(field::required(&path.child("type"), ""));
    } else if !SERVICE_TYPES.contains(&kind) {
        causes.push(field::not_supported(
            &path.child("type"),
            Bad::text(kind),
            SERVICE_TYPES,
        ));
    }
    if kind == "ClusterIP" {
        for (i, port) in ports.iter().enumerate() {
            if int(port, "nodePort").unwrap_or(0) != 0 {
                causes.push(field::forbidden(
                    &path.child("ports").index(i).child("nodePort"),
                    "may not be used when `type` is 'ClusterIP'",
                ));
            }
        }
    }
    let mut node_ports = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let node_port = int(port, "nodePort").unwrap_or(0);
        if node_port != 0 && !node_ports.insert((text(port, "protocol"), node_port)) {
            causes.push(field::duplicate(
                &path.child("ports").index(i).child("nodePort"),
                Bad::Int(node_port),
            ));
        }
    }
    let mut keys = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let key = (text(port, "protocol"), int(port, "port").unwrap_or(0));
        if !keys.insert(key) {
            causes.push(field::duplicate(
                &path.child("ports").index(i),
                Bad::Go(gostring::service_port_key(key.0, key.1)),
            ));
        }
    }
    causes
}

/// The cluster IPs a Service asks for: `clusterIPs`, else `clusterIP`.
fn cluster_ips(spec: &Value) -> Vec<&str> {
    let ips: Vec<&str> = list(spec, "clusterIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    if ips.is_empty() && !text(spec, "clusterIP").is_empty() {
        vec![text(spec, "clusterIP")]
    } else {
        ips
    }
}

/// `ValidateServiceUpdate`: metadata, a cluster IP that stays once set
/// (`validateUpgradeDowngradeClusterIPs`), and the Service in full.
pub fn service_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta_update(old, new);
    let (old_spec, new_spec) = (spec_of(old), spec_of(new));
    let external =
        text(old_spec, "type") == "ExternalName" || text(new_spec, "type") == "ExternalName";
    let both_headless = is_headless(old_spec) && is_headless(new_spec);
    let (old_ips, new_ips) = (cluster_ips(old_spec), cluster_ips(new_spec));
    // An update that leaves the IPs out keeps the allocated ones.
    if !external && !both_headless && !new_ips.is_empty() && !old_ips.is_empty() {
        let shown = || {
            Bad::Go(gostring::string_slice(Some(&Value::from(
                new_ips
                    .iter()
                    .map(|ip| Value::from(*ip))
                    .collect::<Vec<_>>(),
            ))))
        };
        let path = Path::root("spec").child("clusterIPs");
        if old_ips.len() == new_ips.len() {
            for (i, (old_ip, new_ip)) in old_ips.iter().zip(&new_ips).enumerate() {
                if old_ip != new_ip {
                    causes.push(field::invalid(
                        &path.index(i),
                        shown(),
                        "may not change once set",
                    ));
                }
            }
        } else if old_ips[0] != new_ips[0] {
            causes.push(field::invalid(
                &path.index(0),
                shown(),
                "may not change once set",
            ));
        }
    }
    causes.extend(service(new));
    causes
}

/// Bytes of a base64 value, as the decoded data will hold.
fn decoded_len(value: &Value) -> usize {
    let encoded = value.as_str().unwrap_or("");
    let padding = encoded.bytes().rev().take_while(|b| *b == b'=').count();
    (encoded.len() / 4 * 3 + (encoded.len() % 4).saturating_sub(1)).saturating_sub(padding)
}

fn config_keys(object: &Value, key: &str, causes: &mut Vec<Cause>) {
    let path = Path::root(key);
    for (name, _) in entries(object, key) {
        for message in names::is_config_map_key(name) {
            causes.push(field::invalid(&path.key(name), Bad::text(name), &message));
        }
    }
}

/// `ValidateConfigMap`: valid keys, none in both `data` and `binaryData`,
/// at most 1 MiB in all.
pub fn config_map(object: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta(object, true, NameRule::Subdomain);
    let binary: HashSet<&String> = entries(object, "binaryData")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut size = 0;
    for (name, value) in entries(object, "data") {
        let at = Path::root("data").key(name);
        for message in names::is_config_map_key(name) {
            causes.push(field::invalid(&at, Bad::text(name), &message));
        }
        if binary.contains(name) {
            causes.push(field::invalid(
                &at,
                Bad::text(name),
                "duplicate of key present in binaryData",
            ));
        }
        size += value.as_str().map_or(0, str::len);
    }
    config_keys(object, "binaryData", &mut causes);
    size += entries(object, "binaryData")
        .iter()
        .map(|(_, v)| decoded_len(v))
        .sum::<usize>();
    if size > DATA_MAX_BYTES {
        causes.push(field::too_long(&Path::root(""), DATA_MAX_BYTES));
    }
    causes
}

fn immutable_data(old: &Value, new: &Value, keys: &[&str]) -> Vec<Cause> {
    let mut causes = Vec::new();
    if get(old, "immutable").and_then(Value::as_bool) == Some(true) {
        if get(new, "immutable").and_then(Value::as_bool) != Some(true) {
            causes.push(field::forbidden(
                &Path::root("immutable"),
                "field is immutable when `immutable` is set",
            ));
        }
        for key in keys {
            if get(old, key) != get(new, key) {
                causes.push(field::forbidden(
                    &Path::root(key),
                    "field is immutable when `immutable` is set",
                ));
            }
        }
    }
    causes
}

/// `ValidateConfigMapUpdate`.
pub fn config_map_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta_update(old, new);
    causes.extend(immutable_data(old, new, &["data", "binaryData"]));
    causes.extend(config_map(new));
    causes
}

/// `ValidateSecret`: valid keys, at most 1 MiB, and the keys each type
/// requires.
pub fn secret(object: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta(object, true, NameRule::Subdomain);
    config_keys(object, "data", &mut causes);
    let data = Path::root("data");
    let size: usize = entries(object, "data")
        .iter()
        .map(|(_, v)| decoded_len(v))
        .sum();
    if size > DATA_MAX_BYTES {
        causes.push(field::too_long(&data, DATA_MAX_BYTES));
    }
    let has = |key: &str| object.get("data").and_then(|d| d.get(key)).is_some();
    let require = |key: &str, causes: &mut Vec<Cause>| {
        if !has(key) {
            causes.push(field::required(&data.key(key), ""));
        }
    };
    match text(object, "type") {
        "kubernetes.io/service-account-token" => {
            let annotation = "kubernetes.io/service-account.name";
            let named = object
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(annotation))
                .and_then(Value::as_str)
                .is_some_and(|name| !name.is_empty());
            if !named {
                causes.push(field::required(
                    &Path::root("metadata").child("annotations").key(annotation),
                    "",
                ));
            }
        }
        "kubernetes.io/dockercfg" => require(".dockercfg", &mut causes),
        "kubernetes.io/dockerconfigjson" => require(".dockerconfigjson", &mut causes),
        "kubernetes.io/basic-auth" if !has("username") && !has("password") => {
            require("username", &mut causes);
            require("password", &mut causes);
        }
        "kubernetes.io/ssh-auth" => {
            let empty = object
                .get("data")
                .and_then(|d| d.get("ssh-privatekey"))
                .is_none_or(|v| decoded_len(v) == 0);
            if empty {
                causes.push(field::required(&data.key("ssh-privatekey"), ""));
            }
        }
        "kubernetes.io/tls" => {
            require("tls.crt", &mut causes);
            require("tls.key", &mut causes);
        }
        _ => {}
    }
    causes
}

/// `ValidateSecretUpdate`: the type never changes, immutable data stays.
pub fn secret_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta_update(old, new);
    let kind = text(new, "type");
    causes.extend(field::immutable(
        &Path::root("type"),
        Bad::text(kind),
        kind != text(old, "type"),
    ));
    causes.extend(immutable_data(old, new, &["data"]));
    causes.extend(secret(new));
    causes
}

/// `ValidateNamespace`: a DNS-1123 label for a name.
pub fn namespace(object: &Value) -> Vec<Cause> {
    meta::object_meta(object, false, NameRule::Label)
}

/// `validateNodeTaints`, at `metadata.taints` as Kubernetes (sic) reports
/// them.
fn taints(spec: &Value) -> Vec<Cause> {
    let path = Path::root("metadata").child("taints");
    let mut causes = Vec::new();
    let mut seen = HashSet::new();
    for (i, taint) in list(spec, "taints").iter().enumerate() {
        let at = path.index(i);
        let key = text(taint, "key");
        causes.extend(meta::label_name(key, &at.child("key")));
        let value = text(taint, "value");
        let messages = names::is_valid_label_value(value);
        if !messages.is_empty() {
            causes.push(field::invalid(
                &at.child("value"),
                Bad::text(value),
                &messages.join(";"),
            ));
        }
        let effect = text(taint, "effect");
        if effect.is_empty() {
            causes.push(field::required(&at.child("effect"), ""));
        } else if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            causes.push(field::not_supported(
                &at.child("effect"),
                Bad::text(effect),
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
        if !seen.insert((effect, key)) {
            let shown = format!(
                "core.Taint{{Key:{}, Value:{}, Effect:{}, TimeAdded:<nil>}}: taints must be unique by key and effect pair",
                field::go_quote(key),
                field::go_quote(value),
                field::go_quote(effect)
            );
            causes.push(field::duplicate(&at, Bad::Go(shown)));
        }
    }
    causes
}

/// `ValidateNode`.
pub fn node(object: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta(object, false, NameRule::Subdomain);
    causes.extend(taints(spec_of(object)));
    causes
}

/// `ValidateNodeUpdate`: podCIDRs and providerID stay once set.
pub fn node_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta_update(old, new);
    let (old_spec, new_spec) = (spec_of(old), spec_of(new));
    let old_cidrs = list(old_spec, "podCIDRs");
    if !old_cidrs.is_empty() && old_cidrs != list(new_spec, "podCIDRs") {
        causes.push(field::forbidden(
            &Path::root("spec").child("podCIDRs"),
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    let provider = text(old_spec, "providerID");
    if !provider.is_empty() && provider != text(new_spec, "providerID") {
        causes.push(field::forbidden(
            &Path::root("spec").child("providerID"),
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
    causes.extend(taints(new_spec));
    causes
}

/// `ValidateEndpoints`: each subset has addresses, each port is valid and
/// named when there are several.
pub fn endpoints(object: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta(object, true, NameRule::Subdomain);
    for (i, subset) in list(object, "subsets").iter().enumerate() {
        let at = Path::root("subsets").index(i);
        if list(subset, "addresses").is_empty() && list(subset, "notReadyAddresses").is_empty() {
            causes.push(field::required(
                &at,
                "must specify `addresses` or `notReadyAddresses`",
            ));
        }
        let ports = list(subset, "ports");
        for (j, port) in ports.iter().enumerate() {
            let port_path = at.child("ports").index(j);
            let name = text(port, "name");
            if ports.len() > 1 && name.is_empty() {
                causes.push(field::required(&port_path.child("name"), ""));
            } else if !name.is_empty() {
                causes.extend(pod::dns_label(name, &port_path.child("name")));
            }
            let number = int(port, "port").unwrap_or(0);
            for message in names::is_valid_port_num(number) {
                causes.push(field::invalid(
                    &port_path.child("port"),
                    Bad::Int(number),
                    &message,
                ));
            }
            causes.extend(container::protocol(
                text(port, "protocol"),
                &port_path.child("protocol"),
            ));
        }
    }
    causes
}

/// `ValidateEventCreate` for core/v1 Events (without an eventTime): the
/// involved object's namespace agrees with the Event's.
pub fn event(object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let involved = object
        .pointer("/involvedObject/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let agrees = if involved.is_empty() {
        namespace.is_empty() || namespace == "default"
    } else {
        namespace == involved
    };
    if get(object, "eventTime").is_none() && !agrees {
        causes.push(field::invalid(
            &Path::root("involvedObject").child("namespace"),
            Bad::text(involved),
            "does not match event.namespace",
        ));
    }
    causes.extend(meta::object_meta(object, true, NameRule::Subdomain));
    causes
}

/// `ValidateLease`: a positive duration, transitions not negative.
pub fn lease(object: &Value) -> Vec<Cause> {
    let spec = spec_of(object);
    let path = Path::root("spec");
    let mut causes = meta::object_meta(object, true, NameRule::Subdomain);
    if let Some(duration) = int(spec, "leaseDurationSeconds").filter(|d| *d <= 0) {
        causes.push(field::invalid(
            &path.child("leaseDurationSeconds"),
            Bad::Int(duration),
            "must be greater than 0",
        ));
    }
    if let Some(transitions) = int(spec, "leaseTransitions").filter(|t| *t < 0) {
        causes.push(field::invalid(
            &path.child("leaseTransitions"),
            Bad::Int(transitions),
            names::NEGATIVE,
        ));
    }
    let preferred = text(spec, "preferredHolder");
    if !preferred.is_empty() && text(spec, "strategy").is_empty() {
        causes.push(field::forbidden(
            &path.child("preferredHolder"),
            "may only be specified if `strategy` is defined",
        ));
    }
    causes
}
