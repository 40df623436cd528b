//! A pod's volumes made on the node: emptyDir directories, hostPath
//! paths (created when their type asks), ConfigMaps and Secrets written
//! out as files. Each container then mounts them from the host paths.
//!
//! ```text
//!   <pod dir>/volumes/empty-dir/<volume>/
//!   <pod dir>/volumes/configmap/<volume>/<key or item path>
//!   <pod dir>/volumes/secret/<volume>/<key or item path>
//! ```

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;

use super::containers::{ConfigError, Lookup};

/// The names of the ConfigMaps and Secrets a pod refers to (its volumes
/// and its containers' env and envFrom), so they can be read first.
pub fn references(pod: &Value) -> (Vec<String>, Vec<String>) {
    let mut config_maps = Vec::new();
    let mut secrets = Vec::new();
    let name_at = |value: &Value, pointer: &str, list: &mut Vec<String>| {
        if let Some(name) = value.pointer(pointer).and_then(Value::as_str) {
            list.push(name.to_owned());
        }
    };
    for volume in pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        name_at(volume, "/configMap/name", &mut config_maps);
        name_at(volume, "/secret/secretName", &mut secrets);
    }
    for list in ["initContainers", "containers"] {
        let containers = pod
            .pointer(&format!("/spec/{list}"))
            .and_then(Value::as_array);
        for container in containers.into_iter().flatten() {
            for var in container
                .get("env")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                name_at(var, "/valueFrom/configMapKeyRef/name", &mut config_maps);
                name_at(var, "/valueFrom/secretKeyRef/name", &mut secrets);
            }
            for source in container
                .get("envFrom")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                name_at(source, "/configMapRef/name", &mut config_maps);
                name_at(source, "/secretRef/name", &mut secrets);
            }
        }
    }
    for list in [&mut config_maps, &mut secrets] {
        list.sort();
        list.dedup();
    }
    (config_maps, secrets)
}

fn io(what: &str, path: &Path, error: &std::io::Error) -> ConfigError {
    format!("{what} {}: {error}", path.display())
}

/// Makes the pod's volumes under `pod_dir`; answers each volume's host
/// path by name.
pub fn prepare(
    pod: &Value,
    pod_dir: &Path,
    lookup: &dyn Lookup,
) -> Result<BTreeMap<String, PathBuf>, ConfigError> {
    let mut paths = BTreeMap::new();
    let volumes = pod.pointer("/spec/volumes").and_then(Value::as_array);
    for volume in volumes.into_iter().flatten() {
        let name = volume.get("name").and_then(Value::as_str).unwrap_or("");
        let path = if volume.get("emptyDir").is_some() {
            let dir = pod_dir.join("volumes/empty-dir").join(name);
            std::fs::create_dir_all(&dir).map_err(|e| io("creating", &dir, &e))?;
            // Any user of the pod writes there, as on a kubelet.
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                .map_err(|e| io("opening up", &dir, &e))?;
            dir
        } else if let Some(host) = volume.get("hostPath") {
            host_path(host)?
        } else if let Some(source) = volume.get("configMap") {
            let object_name = source.get("name").and_then(Value::as_str).unwrap_or("");
            let dir = pod_dir.join("volumes/configmap").join(name);
            match lookup.config_map(object_name) {
                Some(object) => write_keys(&dir, &object, source, false)?,
                None if optional(source) => make_dir(&dir)?,
                None => return Err(format!("configmap \"{object_name}\" not found")),
            }
            dir
        } else if let Some(source) = volume.get("secret") {
            let object_name = source
                .get("secretName")
                .and_then(Value::as_str)
                .unwrap_or("");
            let dir = pod_dir.join("volumes/secret").join(name);
            match lookup.secret(object_name) {
                Some(object) => write_keys(&dir, &object, source, true)?,
                None if optional(source) => make_dir(&dir)?,
                None => return Err(format!("secret \"{object_name}\" not found")),
            }
            dir
        } else {
            let kind = volume
                .as_object()
                .and_then(|m| m.keys().find(|k| *k != "name").cloned())
                .unwrap_or_default();
            return Err(format!(
                "volume \"{name}\": {kind} volumes are not supported by keel's kubelet \
                 (emptyDir, hostPath, configMap and secret are)"
            ));
        };
        paths.insert(name.to_owned(), path);
    }
    Ok(paths)
}

fn optional(source: &Value) -> bool {
    source.get("optional").and_then(Value::as_bool) == Some(true)
}

fn make_dir(dir: &Path) -> Result<(), ConfigError> {
    std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, &e))
}

/// A hostPath volume's path, made when its `type` asks.
fn host_path(host: &Value) -> Result<PathBuf, ConfigError> {
    let path = PathBuf::from(host.get("path").and_then(Value::as_str).unwrap_or(""));
    let kind = host.get("type").and_then(Value::as_str).unwrap_or("");
    let wrong = |what: &str| {
        Err(format!(
            "hostPath type check failed: {} is not a {what}",
            path.display()
        ))
    };
    match kind {
        "DirectoryOrCreate" => make_dir(&path)?,
        "FileOrCreate" if !path.exists() => {
            if let Some(parent) = path.parent() {
                make_dir(parent)?;
            }
            std::fs::write(&path, b"").map_err(|e| io("creating", &path, &e))?;
        }
        "Directory" if !path.is_dir() => return wrong("directory"),
        "File" if !path.is_file() => return wrong("file"),
        "Socket" | "CharDevice" | "BlockDevice" if !path.exists() => return wrong(kind),
        _ => {}
    }
    Ok(path)
}

/// Writes a ConfigMap's or Secret's keys (or only its `items`, at their
/// paths) as files of `dir`, with `defaultMode` (0644).
fn write_keys(dir: &Path, object: &Value, source: &Value, secret: bool) -> Result<(), ConfigError> {
    make_dir(dir)?;
    let default_mode = source
        .get("defaultMode")
        .and_then(Value::as_u64)
        .unwrap_or(0o644);
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let decode = |text: &str| base64::engine::general_purpose::STANDARD.decode(text).ok();
    if let Some(data) = object.get("data").and_then(Value::as_object) {
        for (key, value) in data {
            let text = value.as_str().unwrap_or("");
            let bytes = if secret {
                decode(text).unwrap_or_default()
            } else {
                text.as_bytes().to_vec()
            };
            files.insert(key.clone(), bytes);
        }
    }
    if let Some(data) = object.get("binaryData").and_then(Value::as_object) {
        for (key, value) in data {
            files.insert(
                key.clone(),
                decode(value.as_str().unwrap_or("")).unwrap_or_default(),
            );
        }
    }
    let items = source.get("items").and_then(Value::as_array);
    let chosen: Vec<(String, String, u64)> = match items {
        Some(items) => items
            .iter()
            .map(|item| {
                let key = item
                    .get("key")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let path = item
                    .get("path")
                    .and_then(Value::as_str)
                    .unwrap_or(&key)
                    .to_owned();
                let mode = item
                    .get("mode")
                    .and_then(Value::as_u64)
                    .unwrap_or(default_mode);
                (key, path, mode)
            })
            .collect(),
        None => files
            .keys()
            .map(|k| (k.clone(), k.clone(), default_mode))
            .collect(),
    };
    for (key, relative, mode) in chosen {
        if relative.starts_with('/') || relative.split('/').any(|p| p == "..") {
            return Err(format!(
                "item path \"{relative}\" must stay within the volume"
            ));
        }
        let Some(bytes) = files.get(&key) else {
            if optional(source) {
                continue;
            }
            return Err(format!(
                "key \"{key}\" is not in {}",
                object["metadata"]["name"]
            ));
        };
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            make_dir(parent)?;
        }
        std::fs::write(&path, bytes).map_err(|e| io("writing", &path, &e))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode as u32))
            .map_err(|e| io("setting the mode of", &path, &e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Objects;

    impl Lookup for Objects {
        fn config_map(&self, name: &str) -> Option<Value> {
            (name == "cfg")
                .then(|| json!({"metadata": {"name": "cfg"}, "data": {"a.conf": "x=1", "b": "2"}}))
        }
        fn secret(&self, name: &str) -> Option<Value> {
            (name == "s").then(|| json!({"metadata": {"name": "s"}, "data": {"token": "c2VjcmV0"}}))
        }
    }

    #[test]
    fn volumes_are_made_as_files_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().join("host/made");
        let pod = json!({"spec": {
            "volumes": [
                {"name": "scratch", "emptyDir": {}},
                {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "a.conf", "path": "conf/a.conf", "mode": 0o600}]}},
                {"name": "all", "configMap": {"name": "cfg"}},
                {"name": "sec", "secret": {"secretName": "s"}},
                {"name": "opt", "secret": {"secretName": "gone", "optional": true}},
                {"name": "host", "hostPath": {"path": host.to_str().unwrap(), "type": "DirectoryOrCreate"}},
            ],
            "containers": [{"name": "c", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s2", "key": "k"}}}]}],
        }});
        let paths = prepare(&pod, &dir.path().join("pod"), &Objects).unwrap();
        assert!(paths["scratch"].is_dir());
        let conf = paths["cfg"].join("conf/a.conf");
        assert_eq!(std::fs::read_to_string(&conf).unwrap(), "x=1");
        assert_eq!(
            std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!paths["cfg"].join("b").exists());
        assert_eq!(
            std::fs::read_to_string(paths["all"].join("b")).unwrap(),
            "2"
        );
        assert_eq!(
            std::fs::read_to_string(paths["sec"].join("token")).unwrap(),
            "secret"
        );
        assert!(paths["opt"].is_dir());
        assert!(host.is_dir());
        assert_eq!(paths["host"], host);
        assert_eq!(
            references(&pod),
            (
                vec!["cfg".to_owned()],
                vec!["gone".to_owned(), "s".to_owned(), "s2".to_owned()]
            )
        );

        let missing = json!({"spec": {"volumes": [{"name": "m", "configMap": {"name": "nope"}}]}});
        assert_eq!(
            prepare(&missing, dir.path(), &Objects).unwrap_err(),
            "configmap \"nope\" not found"
        );
        let odd = json!({"spec": {"volumes": [{"name": "n", "nfs": {"server": "x"}}]}});
        assert!(prepare(&odd, dir.path(), &Objects)
            .unwrap_err()
            .contains("nfs volumes are not supported"));
    }
}
