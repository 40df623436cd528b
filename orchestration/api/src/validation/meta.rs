//! `metadata` of every kind (`staging/src/k8s.io/apimachinery/pkg/api/
//! validation/objectmeta.go`, `pkg/apis/meta/v1/validation`): names,
//! namespaces, labels, annotations, finalizers, and what may not change on
//! update.

use serde_json::Value;

use super::field::{self, Bad, Path};
use super::names::{self, NameRule};
use super::{entries, get, int, list, text, Cause};

/// `TotalAnnotationSizeLimitB`: 256 KiB of keys and values together.
pub const ANNOTATIONS_SIZE_MAX_BYTES: usize = 256 * 1024;

/// `ValidateLabels`: every key a qualified name, every value a label value;
/// errors sit on the map's own path (`metadata.labels`).
pub fn labels(map: &Value, key: &str, path: &Path) -> Vec<Cause> {
    let mut causes = Vec::new();
    for (name, value) in entries(map, key) {
        causes.extend(label_name(name, path));
        let value = value.as_str().unwrap_or("");
        for message in names::is_valid_label_value(value) {
            causes.push(field::invalid(path, Bad::text(value), &message));
        }
    }
    causes
}

/// `ValidateLabelName`: a qualified name.
pub fn label_name(name: &str, path: &Path) -> Vec<Cause> {
    names::is_qualified_name(name)
        .into_iter()
        .map(|message| field::invalid(path, Bad::text(name), &message))
        .collect()
}

/// `ValidateAnnotations`: keys are qualified names (case aside), and keys
/// and values together hold at most 256 KiB.
pub fn annotations(map: &Value, key: &str, path: &Path) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut size = 0;
    for (name, value) in entries(map, key) {
        for message in names::is_qualified_name(&name.to_lowercase()) {
            causes.push(field::invalid(path, Bad::text(name), &message));
        }
        size += name.len() + value.as_str().map_or(0, str::len);
    }
    if size > ANNOTATIONS_SIZE_MAX_BYTES {
        causes.push(field::too_long(path, ANNOTATIONS_SIZE_MAX_BYTES));
    }
    causes
}

fn generation_and_maps(metadata: &Value, path: &Path) -> Vec<Cause> {
    let mut causes = Vec::new();
    if let Some(generation) = int(metadata, "generation").filter(|g| *g < 0) {
        causes.push(field::invalid(
            &path.child("generation"),
            Bad::Int(generation),
            names::NEGATIVE,
        ));
    }
    causes.extend(labels(metadata, "labels", &path.child("labels")));
    causes.extend(annotations(
        metadata,
        "annotations",
        &path.child("annotations"),
    ));
    let finalizers = path.child("finalizers");
    for finalizer in list(metadata, "finalizers") {
        let finalizer = finalizer.as_str().unwrap_or("");
        for message in names::is_qualified_name(finalizer) {
            causes.push(field::invalid(&finalizers, Bad::text(finalizer), &message));
        }
    }
    causes
}

/// `ValidateObjectMeta` of `object`'s metadata: a name or generateName
/// valid under `rule`, a namespace exactly when `namespaced`, then
/// generation, labels, annotations and finalizers.
pub fn object_meta(object: &Value, namespaced: bool, rule: NameRule) -> Vec<Cause> {
    let empty = Value::Null;
    let metadata = get(object, "metadata").unwrap_or(&empty);
    metadata_of(metadata, namespaced, rule, &Path::root("metadata"))
}

/// [`object_meta`] of a metadata value at `path`.
pub fn metadata_of(metadata: &Value, namespaced: bool, rule: NameRule, path: &Path) -> Vec<Cause> {
    let mut causes = Vec::new();
    let generate_name = text(metadata, "generateName");
    if !generate_name.is_empty() {
        for message in rule.check(generate_name, true) {
            causes.push(field::invalid(
                &path.child("generateName"),
                Bad::text(generate_name),
                &message,
            ));
        }
    }
    let name = text(metadata, "name");
    if name.is_empty() {
        causes.push(field::required(
            &path.child("name"),
            "name or generateName is required",
        ));
    } else {
        for message in rule.check(name, false) {
            causes.push(field::invalid(
                &path.child("name"),
                Bad::text(name),
                &message,
            ));
        }
    }
    let namespace = text(metadata, "namespace");
    if namespaced {
        if namespace.is_empty() {
            causes.push(field::required(&path.child("namespace"), ""));
        } else {
            for message in NameRule::Label.check(namespace, false) {
                causes.push(field::invalid(
                    &path.child("namespace"),
                    Bad::text(namespace),
                    &message,
                ));
            }
        }
    } else if !namespace.is_empty() {
        causes.push(field::forbidden(
            &path.child("namespace"),
            "not allowed on this type",
        ));
    }
    causes.extend(generation_and_maps(metadata, path));
    causes
}

/// `ValidateObjectMetaUpdate`: name, namespace, uid and creationTimestamp
/// stay as they were (creationTimestamp is the
/// server's, see `object::prepare_for_update`); labels, annotations and finalizers stay valid.
pub fn object_meta_update(old: &Value, new: &Value) -> Vec<Cause> {
    let path = Path::root("metadata");
    let empty = Value::Null;
    let old = get(old, "metadata").unwrap_or(&empty);
    let new = get(new, "metadata").unwrap_or(&empty);
    let mut causes = Vec::new();
    for key in ["name", "namespace", "uid"] {
        let value = text(new, key);
        causes.extend(field::immutable(
            &path.child(key),
            Bad::text(value),
            value != text(old, key),
        ));
    }
    causes.extend(generation_and_maps(new, &path));
    causes
}
