//! What a container runs, resolved as the kubelet resolves it: the argv
//! from the image's entrypoint and cmd and the pod's command and args,
//! the environment from the image, `envFrom` and `env` (literal values,
//! ConfigMap and Secret keys, the pod's fields), `$(VAR)` references
//! expanded, the volume mounts as host paths, and the cgroup limits.
//! Plain functions: the objects it reads are handed in by [`Lookup`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use keel_api::validation::quantity::Quantity;
use serde_json::Value;

use crate::runtime::{Limits, Mount};

/// What the kubelet knows of an image, from the image store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// The image's id (`sha256:...`).
    pub id: String,
    /// Its unpacked root file system.
    pub rootfs: PathBuf,
    /// Its `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// Its `Cmd`.
    pub cmd: Vec<String>,
    /// Its `Env` (`K=V`).
    pub env: Vec<String>,
    /// Its `WorkingDir`.
    pub working_dir: String,
}

/// The ConfigMaps and Secrets of the pod's namespace, by name (`None`:
/// there is none of that name).
pub trait Lookup {
    /// The ConfigMap `name`.
    fn config_map(&self, name: &str) -> Option<Value>;
    /// The Secret `name`.
    fn secret(&self, name: &str) -> Option<Value>;
}

/// Why a container cannot be made (its waiting reason is
/// `CreateContainerConfigError`, and the kubelet tries again).
pub type ConfigError = String;

/// Expands `$(NAME)` references to `vars` as Kubernetes does: `$$` is a
/// literal `$`, and a reference to an unknown name stays as written.
pub fn expand(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(end) if vars.contains_key(&body[..end]) => {
                    out.push_str(&vars[&body[..end]]);
                    rest = &body[end + 1..];
                }
                Some(end) => {
                    out.push_str(&rest[at..=(at + 2 + end)]);
                    rest = &body[end + 1..];
                }
                None => {
                    out.push_str(&rest[at..]);
                    rest = "";
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    value.and_then(Value::as_array).map(|list| {
        list.iter()
            .map(|v| v.as_str().unwrap_or("").to_owned())
            .collect()
    })
}

/// The argv: `command` replaces the image's entrypoint and drops its cmd;
/// `args` replaces its cmd; references expanded.
pub fn argv(
    container: &Value,
    image: &ImageInfo,
    env: &[(String, String)],
) -> Result<Vec<String>, ConfigError> {
    let vars: BTreeMap<String, String> = env.iter().cloned().collect();
    let command = strings(container.get("command"));
    let args = strings(container.get("args"));
    let mut argv: Vec<String> = match (command, args) {
        (Some(command), Some(args)) => command.into_iter().chain(args).collect(),
        (Some(command), None) => command,
        (None, Some(args)) => image.entrypoint.iter().cloned().chain(args).collect(),
        (None, None) => image.entrypoint.iter().chain(&image.cmd).cloned().collect(),
    };
    for arg in &mut argv {
        *arg = expand(arg, &vars);
    }
    if argv.is_empty() {
        return Err("no command specified".into());
    }
    Ok(argv)
}

/// A value of a ConfigMap (`data`, else `binaryData`) or Secret (`data`,
/// base64) key.
fn key_of(object: &Value, key: &str, secret: bool) -> Option<String> {
    if secret {
        let encoded = object.pointer("/data")?.get(key)?.as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .ok()?;
        return Some(String::from_utf8_lossy(&bytes).into_owned());
    }
    if let Some(text) = object.pointer("/data").and_then(|d| d.get(key)) {
        return text.as_str().map(str::to_owned);
    }
    let encoded = object.pointer("/binaryData")?.get(key)?.as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// A pod field by its `fieldPath` (`metadata.name`,
/// `metadata.labels['app']`, `status.podIP`, ...).
fn field(pod: &Value, path: &str, pod_ip: &str, host_ip: &str) -> Option<String> {
    let text = |pointer: &str| {
        pod.pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let keyed = |prefix: &str, map: &str| {
        let key = path.strip_prefix(prefix)?.strip_suffix("']")?;
        pod.pointer(&format!("/metadata/{map}"))
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match path {
        "metadata.name" => text("/metadata/name"),
        "metadata.namespace" => text("/metadata/namespace"),
        "metadata.uid" => text("/metadata/uid"),
        "spec.nodeName" => text("/spec/nodeName"),
        "spec.serviceAccountName" => text("/spec/serviceAccountName"),
        "status.podIP" | "status.podIPs" => Some(pod_ip.to_owned()),
        "status.hostIP" | "status.hostIPs" => Some(host_ip.to_owned()),
        _ => keyed("metadata.labels['", "labels")
            .or_else(|| keyed("metadata.annotations['", "annotations")),
    }
}

/// The container's environment, in order: `HOSTNAME`, the image's, then
/// `envFrom`'s, then `env`'s (later names replace earlier ones in place).
pub fn environment(
    pod: &Value,
    container: &Value,
    image: &ImageInfo,
    lookup: &dyn Lookup,
    hostname: &str,
    pod_ip: &str,
    host_ip: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |env: &mut Vec<(String, String)>, name: String, value: String| match env
        .iter_mut()
        .find(|(n, _)| *n == name)
    {
        Some(slot) => slot.1 = value,
        None => env.push((name, value)),
    };
    set(&mut env, "HOSTNAME".into(), hostname.into());
    for pair in &image.env {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        set(&mut env, name.into(), value.into());
    }
    let empty = Vec::new();
    for source in container
        .get("envFrom")
        .and_then(Value::as_array)
        .unwrap_or(&empty)
    {
        let prefix = source.get("prefix").and_then(Value::as_str).unwrap_or("");
        let (reference, secret) = match (source.get("configMapRef"), source.get("secretRef")) {
            (Some(reference), _) => (reference, false),
            (None, Some(reference)) => (reference, true),
            (None, None) => continue,
        };
        let name = reference.get("name").and_then(Value::as_str).unwrap_or("");
        let optional = reference.get("optional").and_then(Value::as_bool) == Some(true);
        let object = if secret {
            lookup.secret(name)
        } else {
            lookup.config_map(name)
        };
        let Some(object) = object else {
            if optional {
                continue;
            }
            let kind = if secret { "secret" } else { "configmap" };
            return Err(format!("{kind} \"{name}\" not found"));
        };
        let mut keys: Vec<String> = ["data", "binaryData"]
            .iter()
            .filter_map(|part| object.get(*part).and_then(Value::as_object))
            .flat_map(|map| map.keys().cloned())
            .collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            if let Some(value) = key_of(&object, &key, secret) {
                set(&mut env, format!("{prefix}{key}"), value);
            }
        }
    }
    for var in container
        .get("env")
        .and_then(Value::as_array)
        .unwrap_or(&empty)
    {
        let name = var
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let value = if let Some(from) = var.get("valueFrom") {
            let Some(value) = value_from(pod, from, lookup, pod_ip, host_ip)? else {
                continue;
            };
            value
        } else {
            let vars: BTreeMap<String, String> = env.iter().cloned().collect();
            expand(
                var.get("value").and_then(Value::as_str).unwrap_or(""),
                &vars,
            )
        };
        set(&mut env, name, value);
    }
    Ok(env)
}

/// An `env[].valueFrom`: `None` for an optional key that is missing.
fn value_from(
    pod: &Value,
    from: &Value,
    lookup: &dyn Lookup,
    pod_ip: &str,
    host_ip: &str,
) -> Result<Option<String>, ConfigError> {
    if let Some(reference) = from.get("fieldRef") {
        let path = reference
            .get("fieldPath")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Ok(Some(field(pod, path, pod_ip, host_ip).unwrap_or_default()));
    }
    if let Some(reference) = from.get("resourceFieldRef") {
        let resource = reference
            .get("resource")
            .and_then(Value::as_str)
            .unwrap_or("");
        return Ok(Some(resource_field(pod, reference, resource)));
    }
    let (reference, secret) = match (from.get("configMapKeyRef"), from.get("secretKeyRef")) {
        (Some(reference), _) => (reference, false),
        (None, Some(reference)) => (reference, true),
        (None, None) => return Ok(None),
    };
    let name = reference.get("name").and_then(Value::as_str).unwrap_or("");
    let key = reference.get("key").and_then(Value::as_str).unwrap_or("");
    let optional = reference.get("optional").and_then(Value::as_bool) == Some(true);
    let (kind, title) = if secret {
        ("secret", "Secret")
    } else {
        ("configmap", "ConfigMap")
    };
    let object = if secret {
        lookup.secret(name)
    } else {
        lookup.config_map(name)
    };
    let namespace = pod
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    match object {
        None if optional => Ok(None),
        None => Err(format!("{kind} \"{name}\" not found")),
        Some(object) => match key_of(&object, key, secret) {
            Some(value) => Ok(Some(value)),
            None if optional => Ok(None),
            None => Err(format!(
                "couldn't find key {key} in {title} {namespace}/{name}"
            )),
        },
    }
}

/// A `resourceFieldRef` (`limits.memory`, `requests.cpu`) of the
/// container it names, in its divisor (1 by default; cpu rounded up).
fn resource_field(pod: &Value, reference: &Value, resource: &str) -> String {
    let container = reference.get("containerName").and_then(Value::as_str);
    let spec = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter()
                .find(|c| container.is_none_or(|n| c["name"] == n))
        });
    let (kind, name) = resource.split_once('.').unwrap_or(("limits", resource));
    let quantity = spec
        .and_then(|c| c.pointer(&format!("/resources/{kind}/{name}")))
        .and_then(Value::as_str)
        .and_then(Quantity::parse);
    let divisor = reference
        .get("divisor")
        .and_then(Value::as_str)
        .and_then(Quantity::parse);
    match (quantity, name) {
        (Some(q), "cpu") => {
            let per = divisor.map_or(1000, Quantity::milli_value).max(1);
            ((q.milli_value() + per - 1) / per).to_string()
        }
        (Some(q), _) => (q.value() / divisor.map_or(1, Quantity::value).max(1)).to_string(),
        (None, _) => "0".into(),
    }
}

/// The container's `volumeMounts` as host paths, from the pod's prepared
/// volumes (`volumes`: name → host path).
pub fn mounts(
    container: &Value,
    volumes: &BTreeMap<String, PathBuf>,
) -> Result<Vec<Mount>, ConfigError> {
    let empty = Vec::new();
    container
        .get("volumeMounts")
        .and_then(Value::as_array)
        .unwrap_or(&empty)
        .iter()
        .map(|mount| {
            let name = mount.get("name").and_then(Value::as_str).unwrap_or("");
            let Some(source) = volumes.get(name) else {
                return Err(format!("volume \"{name}\" is not prepared"));
            };
            let mut source = source.clone();
            if let Some(sub) = mount
                .get("subPath")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                if sub.split('/').any(|part| part == "..") || sub.starts_with('/') {
                    return Err(format!(
                        "subPath \"{sub}\" must be a relative path within the volume"
                    ));
                }
                source.push(sub);
            }
            Ok(Mount {
                source,
                destination: PathBuf::from(
                    mount
                        .get("mountPath")
                        .and_then(Value::as_str)
                        .unwrap_or("/"),
                ),
                read_only: mount.get("readOnly").and_then(Value::as_bool) == Some(true),
            })
        })
        .collect()
}

/// The container's cgroup limits, from its `resources`, and the node's
/// pids limit.
pub fn limits(container: &Value, pids: Option<u64>) -> Limits {
    let quantity = |kind: &str, name: &str| {
        container
            .pointer(&format!("/resources/{kind}/{name}"))
            .and_then(Value::as_str)
            .and_then(Quantity::parse)
    };
    let positive = |value: i64| u64::try_from(value).ok().filter(|v| *v > 0);
    Limits {
        memory_bytes: quantity("limits", "memory").and_then(|q| positive(q.value())),
        cpu_millis: quantity("limits", "cpu").and_then(|q| positive(q.milli_value())),
        cpu_request_millis: quantity("requests", "cpu")
            .or_else(|| quantity("limits", "cpu"))
            .and_then(|q| positive(q.milli_value())),
        pids,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Objects(Vec<(&'static str, Value)>);

    impl Lookup for Objects {
        fn config_map(&self, name: &str) -> Option<Value> {
            self.0
                .iter()
                .find(|(kind, o)| *kind == "cm" && o["metadata"]["name"] == name)
                .map(|(_, o)| o.clone())
        }
        fn secret(&self, name: &str) -> Option<Value> {
            self.0
                .iter()
                .find(|(kind, o)| *kind == "secret" && o["metadata"]["name"] == name)
                .map(|(_, o)| o.clone())
        }
    }

    fn image() -> ImageInfo {
        ImageInfo {
            id: "sha256:1".into(),
            rootfs: "/r".into(),
            entrypoint: vec!["/entry".into()],
            cmd: vec!["serve".into(), "--port=80".into()],
            env: vec!["PATH=/bin".into(), "MODE=image".into()],
            working_dir: String::new(),
        }
    }

    #[test]
    fn argv_follows_kubernetes_rules() {
        let env = vec![("WHO".to_owned(), "world".to_owned())];
        let argv_of = |c: Value| argv(&c, &image(), &env).unwrap();
        assert_eq!(argv_of(json!({})), ["/entry", "serve", "--port=80"]);
        assert_eq!(argv_of(json!({"args": ["x"]})), ["/entry", "x"]);
        assert_eq!(argv_of(json!({"command": ["sh"]})), ["sh"]);
        assert_eq!(
            argv_of(json!({"command": ["echo"], "args": ["$(WHO)", "$$(WHO)", "$(NOPE)"]})),
            ["echo", "world", "$(WHO)", "$(NOPE)"]
        );
        let bare = ImageInfo {
            entrypoint: vec![],
            cmd: vec![],
            ..image()
        };
        assert!(argv(&json!({}), &bare, &env).is_err());
    }

    #[test]
    fn environment_merges_every_source_in_order() {
        let objects = Objects(vec![
            (
                "cm",
                json!({"metadata": {"name": "cfg"}, "data": {"A": "1", "MODE": "cm"}}),
            ),
            (
                "secret",
                json!({"metadata": {"name": "s"}, "data": {"pw": "aHVudGVyMg=="}}),
            ),
        ]);
        let pod = json!({"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web"}},
                         "spec": {"nodeName": "n1", "containers": [
                             {"name": "c", "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}}}]}});
        let container = json!({
            "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CM_"}, {"configMapRef": {"name": "cfg"}}],
            "env": [
                {"name": "GREETING", "value": "hi $(A)"},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
                {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
                {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": true}}},
            ],
        });
        let env = environment(
            &pod,
            &container,
            &image(),
            &objects,
            "p",
            "10.244.0.2",
            "10.0.0.1",
        )
        .unwrap();
        let get = |name: &str| env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        assert_eq!(env[0], ("HOSTNAME".into(), "p".into()));
        assert_eq!(get("PATH"), Some("/bin"));
        assert_eq!(get("MODE"), Some("cm"));
        assert_eq!(get("CM_A"), Some("1"));
        assert_eq!(get("GREETING"), Some("hi 1"));
        assert_eq!(get("PW"), Some("hunter2"));
        assert_eq!(get("POD"), Some("p"));
        assert_eq!(get("APP"), Some("web"));
        assert_eq!(get("IP"), Some("10.244.0.2"));
        assert_eq!(get("MEM"), Some("64"));
        assert_eq!(get("CPU"), Some("1"));
        assert_eq!(get("OPT"), None);

        let missing = json!({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k"}}}]});
        assert_eq!(
            environment(&pod, &missing, &image(), &objects, "p", "", "").unwrap_err(),
            "configmap \"gone\" not found"
        );
        let no_key = json!({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]});
        assert_eq!(
            environment(&pod, &no_key, &image(), &objects, "p", "", "").unwrap_err(),
            "couldn't find key k in ConfigMap ns/cfg"
        );
    }

    #[test]
    fn mounts_and_limits() {
        let volumes: BTreeMap<String, PathBuf> =
            [("data".to_owned(), PathBuf::from("/v/data"))].into();
        let container = json!({
            "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true},
                             {"name": "data", "mountPath": "/sub", "subPath": "a/b"}],
            "resources": {"limits": {"memory": "20Mi", "cpu": "500m"}, "requests": {"cpu": "100m"}},
        });
        let mounts = mounts(&container, &volumes).unwrap();
        assert_eq!(mounts[0].source, PathBuf::from("/v/data"));
        assert!(mounts[0].read_only);
        assert_eq!(mounts[1].source, PathBuf::from("/v/data/a/b"));
        let escape =
            json!({"volumeMounts": [{"name": "data", "mountPath": "/x", "subPath": "../etc"}]});
        assert!(super::mounts(&escape, &volumes).is_err());
        let limits = limits(&container, Some(1024));
        assert_eq!(limits.memory_bytes, Some(20 * 1024 * 1024));
        assert_eq!(limits.cpu_millis, Some(500));
        assert_eq!(limits.cpu_request_millis, Some(100));
        assert_eq!(limits.pids, Some(1024));
    }
}
