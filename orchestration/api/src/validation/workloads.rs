//! Deployments, ReplicaSets, DaemonSets, ControllerRevisions
//! (`pkg/apis/apps/validation/validation.go`), Jobs
//! (`pkg/apis/batch/validation/validation.go`), label selectors
//! (`pkg/apis/meta/v1/validation`), and the selector immutability the
//! registry strategies add on update (`pkg/registry/apps/*/strategy.go`).

use serde_json::Value;

use super::field::{self, Bad, Path};
use super::names::{self, NameRule};
use super::{get, gostring, int, list, meta, pod, text, Cause};
use crate::resources::ResourceInfo;

/// `ValidateLabelSelector` (strict about values, as workloads are).
pub fn label_selector(selector: Option<&Value>, path: &Path) -> Vec<Cause> {
    let Some(selector) = selector else {
        return Vec::new();
    };
    let mut causes = meta::labels(selector, "matchLabels", &path.child("matchLabels"));
    for (i, requirement) in list(selector, "matchExpressions").iter().enumerate() {
        let at = path.child("matchExpressions").index(i);
        let values = list(requirement, "values");
        match text(requirement, "operator") {
            "In" | "NotIn" => {
                if values.is_empty() {
                    causes.push(field::required(
                        &at.child("values"),
                        "must be specified when `operator` is 'In' or 'NotIn'",
                    ));
                }
            }
            "Exists" | "DoesNotExist" => {
                if !values.is_empty() {
                    causes.push(field::forbidden(
                        &at.child("values"),
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    ));
                }
            }
            other => causes.push(field::invalid(
                &at.child("operator"),
                Bad::text(other),
                "not a valid selector operator",
            )),
        }
        causes.extend(meta::label_name(text(requirement, "key"), &at.child("key")));
        for (j, value) in values.iter().enumerate() {
            let value = value.as_str().unwrap_or("");
            for message in names::is_valid_label_value(value) {
                causes.push(field::invalid(
                    &at.child("values").index(j),
                    Bad::text(value),
                    &message,
                ));
            }
        }
    }
    causes
}

/// What `LabelSelectorAsSelector` makes of a selector.
enum Selector<'a> {
    /// No selector at all: matches nothing.
    Nothing,
    /// No requirements: matches everything.
    Everything,
    /// Requirements to meet.
    Some(&'a Value),
}

impl<'a> Selector<'a> {
    fn of(selector: Option<&'a Value>) -> Self {
        match selector {
            None => Self::Nothing,
            Some(s)
                if s.get("matchLabels")
                    .and_then(Value::as_object)
                    .is_none_or(serde_json::Map::is_empty)
                    && list(s, "matchExpressions").is_empty() =>
            {
                Self::Everything
            }
            Some(s) => Self::Some(s),
        }
    }

    fn matches(&self, labels: Option<&Value>) -> bool {
        let selector = match self {
            Self::Nothing => return false,
            Self::Everything => return true,
            Self::Some(selector) => selector,
        };
        let label = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        let by_labels = selector
            .get("matchLabels")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .all(|(key, value)| label(key) == value.as_str());
        by_labels
            && list(selector, "matchExpressions")
                .iter()
                .all(|requirement| {
                    let value = label(text(requirement, "key"));
                    let listed = |v: &str| {
                        list(requirement, "values")
                            .iter()
                            .any(|x| x.as_str() == Some(v))
                    };
                    match text(requirement, "operator") {
                        "In" => value.is_some_and(listed),
                        "NotIn" => !value.is_some_and(listed),
                        "Exists" => value.is_some(),
                        "DoesNotExist" => value.is_none(),
                        _ => false,
                    }
                })
    }
}

/// A workload's selector. k8s-openapi's apps/v1 types hold a selector
/// that is always there, so a missing one comes back from defaulting as
/// `{}`; that is read as missing, as Kubernetes' nil selector (a selector
/// of `{"matchLabels": {}}` is still an empty one).
fn selector_of(spec: &Value) -> Option<&Value> {
    get(spec, "selector").filter(|s| s.as_object().is_none_or(|map| !map.is_empty()))
}

fn nonnegative(object: &Value, key: &str, path: &Path) -> Option<Cause> {
    int(object, key)
        .filter(|value| *value < 0)
        .map(|value| field::invalid(&path.child(key), Bad::Int(value), names::NEGATIVE))
}

fn template_labels(spec: &Value) -> Option<&Value> {
    spec.get("template")
        .and_then(|t| t.get("metadata"))
        .and_then(|m| get(m, "labels"))
}

fn selector_mismatch(spec: &Value, path: &Path) -> Cause {
    field::invalid(
        &path.child("template").child("metadata").child("labels"),
        Bad::Go(gostring::string_map(template_labels(spec))),
        "`selector` does not match template `labels`",
    )
}

/// A required, non-empty selector (Deployments and ReplicaSets).
fn required_selector(spec: &Value, path: &Path, kind: &str) -> Vec<Cause> {
    let selector = selector_of(spec);
    let mut causes = Vec::new();
    match selector {
        None => causes.push(field::required(&path.child("selector"), "")),
        Some(selector) => {
            causes.extend(label_selector(Some(selector), &path.child("selector")));
            if matches!(Selector::of(Some(selector)), Selector::Everything) {
                causes.push(field::invalid(
                    &path.child("selector"),
                    Bad::Go(gostring::label_selector(Some(selector))),
                    &format!("empty selector is invalid for {kind}"),
                ));
            }
        }
    }
    causes
}

/// `ValidatePodTemplateSpecForReplicaSet`: the selector matches the
/// template, which is valid and restarts Always.
fn template_for_replicas(spec: &Value, path: &Path, kind: &str) -> Vec<Cause> {
    let selector = Selector::of(selector_of(spec));
    let mut causes = Vec::new();
    if !matches!(selector, Selector::Everything) && !selector.matches(template_labels(spec)) {
        causes.push(selector_mismatch(spec, path));
    }
    let template_path = path.child("template");
    causes.extend(pod::template(get(spec, "template"), &template_path));
    causes.extend(restarts_always(spec, &template_path, kind));
    causes
}

fn template_spec(spec: &Value) -> &Value {
    spec.get("template")
        .and_then(|t| t.get("spec"))
        .unwrap_or(&Value::Null)
}

fn restarts_always(spec: &Value, template_path: &Path, kind: &str) -> Vec<Cause> {
    let template_spec = template_spec(spec);
    let restart = text(template_spec, "restartPolicy");
    let mut causes = Vec::new();
    if restart != "Always" {
        causes.push(field::not_supported(
            &template_path.child("spec").child("restartPolicy"),
            Bad::text(restart),
            &["Always"],
        ));
    }
    if get(template_spec, "activeDeadlineSeconds").is_some() {
        causes.push(field::forbidden(
            &template_path.child("spec").child("activeDeadlineSeconds"),
            &format!("activeDeadlineSeconds in {kind} is not Supported"),
        ));
    }
    causes
}

/// `ValidatePositiveIntOrPercent`.
fn int_or_percent(value: Option<&Value>, path: &Path) -> Vec<Cause> {
    match value {
        Some(Value::String(text)) => names::is_valid_percent(text)
            .into_iter()
            .map(|message| field::invalid(path, Bad::Go(gostring::int_or_string(value)), &message))
            .collect(),
        Some(number) => number
            .as_i64()
            .filter(|n| *n < 0)
            .map(|n| field::invalid(path, Bad::Int(n), names::NEGATIVE))
            .into_iter()
            .collect(),
        None => Vec::new(),
    }
}

/// `getIntOrPercentValue`: the number, or the percent's number.
fn int_or_percent_value(value: Option<&Value>) -> i64 {
    match value {
        Some(Value::String(text)) if names::is_valid_percent(text).is_empty() => {
            text.trim_end_matches('%').parse().unwrap_or(0)
        }
        Some(number) => number.as_i64().unwrap_or(0),
        None => 0,
    }
}

/// `IsNotMoreThan100Percent`.
fn not_over_100_percent(value: Option<&Value>, path: &Path) -> Option<Cause> {
    let is_percent = value
        .and_then(Value::as_str)
        .is_some_and(|t| names::is_valid_percent(t).is_empty());
    (is_percent && int_or_percent_value(value) > 100).then(|| {
        field::invalid(
            path,
            Bad::Go(gostring::int_or_string(value)),
            "must not be greater than 100%",
        )
    })
}

fn deployment_strategy(spec: &Value, path: &Path) -> Vec<Cause> {
    let empty = Value::Null;
    let strategy = get(spec, "strategy").unwrap_or(&empty);
    let mut causes = Vec::new();
    match text(strategy, "type") {
        "Recreate" => {
            if get(strategy, "rollingUpdate").is_some() {
                causes.push(field::forbidden(
                    &path.child("rollingUpdate"),
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        "RollingUpdate" => match get(strategy, "rollingUpdate") {
            None => causes.push(field::required(
                &path.child("rollingUpdate"),
                "this should be defaulted and never be nil",
            )),
            Some(rolling) => {
                let at = path.child("rollingUpdate");
                let unavailable = get(rolling, "maxUnavailable");
                let surge = get(rolling, "maxSurge");
                causes.extend(int_or_percent(unavailable, &at.child("maxUnavailable")));
                causes.extend(int_or_percent(surge, &at.child("maxSurge")));
                if int_or_percent_value(unavailable) == 0 && int_or_percent_value(surge) == 0 {
                    causes.push(field::invalid(
                        &at.child("maxUnavailable"),
                        Bad::Go(gostring::int_or_string(unavailable)),
                        "may not be 0 when `maxSurge` is 0",
                    ));
                }
                causes.extend(not_over_100_percent(
                    unavailable,
                    &at.child("maxUnavailable"),
                ));
            }
        },
        other => {
            let rolling = if get(strategy, "rollingUpdate").is_some() {
                "(*apps.RollingUpdateDeployment)(...)"
            } else {
                "(*apps.RollingUpdateDeployment)(nil)"
            };
            let shown = format!(
                "apps.DeploymentStrategy{{Type:{}, RollingUpdate:{rolling}}}",
                field::go_quote(other)
            );
            causes.push(field::not_supported(
                path,
                Bad::Go(shown),
                &["Recreate", "RollingUpdate"],
            ));
        }
    }
    causes
}

fn spec_of(object: &Value) -> &Value {
    object.get("spec").unwrap_or(&Value::Null)
}

/// `ValidateDeployment`.
pub fn deployment(object: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta(object, true, NameRule::Subdomain);
    causes.extend(deployment_spec(object));
    causes
}

/// `ValidateDeploymentSpec`.
fn deployment_spec(object: &Value) -> Vec<Cause> {
    let spec = spec_of(object);
    let path = Path::root("spec");
    let mut causes = Vec::new();
    causes.extend(nonnegative(spec, "replicas", &path));
    causes.extend(required_selector(spec, &path, "deployment"));
    causes.extend(template_for_replicas(spec, &path, "ReplicaSet"));
    causes.extend(deployment_strategy(spec, &path.child("strategy")));
    causes.extend(nonnegative(spec, "minReadySeconds", &path));
    causes.extend(nonnegative(spec, "revisionHistoryLimit", &path));
    if let Some(deadline) = int(spec, "progressDeadlineSeconds") {
        causes.extend(nonnegative(spec, "progressDeadlineSeconds", &path));
        if deadline <= int(spec, "minReadySeconds").unwrap_or(0) {
            causes.push(field::invalid(
                &path.child("progressDeadlineSeconds"),
                Bad::Int(deadline),
                "must be greater than minReadySeconds",
            ));
        }
    }
    causes
}

/// `ValidateReplicaSet` (whose empty-selector message says "deployment",
/// as Kubernetes' does).
pub fn replica_set(object: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta(object, true, NameRule::Subdomain);
    causes.extend(replica_set_spec(object));
    causes
}

/// `ValidateReplicaSetSpec`.
fn replica_set_spec(object: &Value) -> Vec<Cause> {
    let spec = spec_of(object);
    let path = Path::root("spec");
    let mut causes = Vec::new();
    causes.extend(nonnegative(spec, "replicas", &path));
    causes.extend(nonnegative(spec, "minReadySeconds", &path));
    causes.extend(required_selector(spec, &path, "deployment"));
    causes.extend(template_for_replicas(spec, &path, "ReplicaSet"));
    causes
}

fn daemon_set_strategy(spec: &Value, path: &Path) -> Vec<Cause> {
    let empty = Value::Null;
    let strategy = get(spec, "updateStrategy").unwrap_or(&empty);
    let mut causes = Vec::new();
    match text(strategy, "type") {
        "OnDelete" => {}
        "RollingUpdate" => {
            let Some(rolling) = get(strategy, "rollingUpdate") else {
                causes.push(field::required(&path.child("rollingUpdate"), ""));
                return causes;
            };
            let at = path.child("rollingUpdate");
            let unavailable = get(rolling, "maxUnavailable");
            let surge = get(rolling, "maxSurge");
            causes.extend(int_or_percent(unavailable, &at.child("maxUnavailable")));
            causes.extend(int_or_percent(surge, &at.child("maxSurge")));
            causes.extend(not_over_100_percent(
                unavailable,
                &at.child("maxUnavailable"),
            ));
            causes.extend(not_over_100_percent(surge, &at.child("maxSurge")));
            match (
                int_or_percent_value(unavailable) != 0,
                int_or_percent_value(surge) != 0,
            ) {
                (true, true) => causes.push(field::invalid(
                    &at.child("maxSurge"),
                    Bad::Go(gostring::int_or_string(surge)),
                    "may not be set when maxUnavailable is non-zero",
                )),
                (false, false) => causes.push(field::required(
                    &at.child("maxUnavailable"),
                    "cannot be 0 when maxSurge is 0",
                )),
                _ => {}
            }
        }
        other => {
            let shown = format!(
                "apps.DaemonSetUpdateStrategy{{Type:{}, RollingUpdate:(*apps.RollingUpdateDaemonSet)(nil)}}",
                field::go_quote(other)
            );
            causes.push(field::not_supported(
                path,
                Bad::Go(shown),
                &["RollingUpdate", "OnDelete"],
            ));
        }
    }
    causes
}

/// `ValidateDaemonSet`: a DaemonSet without a selector matches nothing,
/// so its template's labels do not match.
pub fn daemon_set(object: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta(object, true, NameRule::Subdomain);
    causes.extend(daemon_set_spec(object));
    causes
}

/// `ValidateDaemonSetSpec`.
fn daemon_set_spec(object: &Value) -> Vec<Cause> {
    let spec = spec_of(object);
    let path = Path::root("spec");
    let mut causes = Vec::new();
    let selector = selector_of(spec);
    causes.extend(label_selector(selector, &path.child("selector")));
    if !Selector::of(selector).matches(template_labels(spec)) {
        causes.push(selector_mismatch(spec, &path));
    }
    if selector.is_some_and(|s| matches!(Selector::of(Some(s)), Selector::Everything)) {
        causes.push(field::invalid(
            &path.child("selector"),
            Bad::Go(gostring::label_selector(selector)),
            "empty selector is invalid for daemonset",
        ));
    }
    let template_path = path.child("template");
    causes.extend(pod::template(get(spec, "template"), &template_path));
    causes.extend(restarts_always(spec, &template_path, "DaemonSet"));
    causes.extend(nonnegative(spec, "minReadySeconds", &path));
    causes.extend(nonnegative(spec, "templateGeneration", &path));
    causes.extend(daemon_set_strategy(spec, &path.child("updateStrategy")));
    causes.extend(nonnegative(spec, "revisionHistoryLimit", &path));
    causes
}

/// Deployment, ReplicaSet and DaemonSet updates: metadata, the new object
/// in full, and (apps/v1) a selector that does not change.
pub fn controller_update(resource: &ResourceInfo, old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta_update(old, new);
    causes.extend(match resource.plural {
        "deployments" => deployment_spec(new),
        "replicasets" => replica_set_spec(new),
        _ => daemon_set_spec(new),
    });
    let new_selector = selector_of(spec_of(new));
    causes.extend(field::immutable(
        &Path::root("spec").child("selector"),
        Bad::Go(gostring::label_selector(new_selector)),
        new_selector != selector_of(spec_of(old)),
    ));
    causes
}

/// `ValidateControllerRevision`.
pub fn controller_revision(object: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta(object, true, NameRule::Subdomain);
    if get(object, "data").is_none() {
        causes.push(field::required(&Path::root("data"), "data is mandatory"));
    }
    causes.extend(nonnegative(object, "revision", &Path::root("")));
    causes
}

/// `ValidateControllerRevisionUpdate`: the data may not change.
pub fn controller_revision_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta_update(old, new);
    causes.extend(controller_revision(new));
    causes.extend(field::immutable(
        &Path::root("data"),
        Bad::Go("runtime.RawExtension{...}".into()),
        get(old, "data") != get(new, "data"),
    ));
    causes
}

/// `validateJobSpec` and `ValidateJobSpec`: counts not negative, a pod
/// template that restarts OnFailure or Never, a selector that matches it.
fn job_spec(spec: &Value, path: &Path) -> Vec<Cause> {
    let mut causes = Vec::new();
    for key in [
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
    ] {
        causes.extend(nonnegative(spec, key, path));
    }
    if let Some(mode) = get(spec, "completionMode").and_then(Value::as_str) {
        if !matches!(mode, "NonIndexed" | "Indexed") {
            causes.push(field::not_supported(
                &path.child("completionMode"),
                Bad::text(mode),
                &["NonIndexed", "Indexed"],
            ));
        }
        if mode == "Indexed" && get(spec, "completions").is_none() {
            causes.push(field::required(
                &path.child("completions"),
                "when completion mode is Indexed",
            ));
        }
    }
    let template_path = path.child("template");
    causes.extend(pod::template(get(spec, "template"), &template_path));
    let restart = text(template_spec(spec), "restartPolicy");
    let restart_path = template_path.child("spec").child("restartPolicy");
    if restart == "Always" || restart.is_empty() {
        causes.push(field::required(
            &restart_path,
            "valid values: \"OnFailure\", \"Never\"",
        ));
    } else if restart != "OnFailure" && restart != "Never" {
        causes.push(field::not_supported(
            &restart_path,
            Bad::text(restart),
            &["OnFailure", "Never"],
        ));
    }
    // The server generates the selector unless manualSelector is set
    // (keel does not yet), so only a given selector is checked.
    let selector = selector_of(spec);
    let manual = get(spec, "manualSelector").and_then(Value::as_bool) == Some(true);
    if selector.is_none() && manual {
        causes.push(field::required(&path.child("selector"), ""));
    }
    if selector.is_some() {
        causes.extend(label_selector(selector, &path.child("selector")));
        if !Selector::of(selector).matches(template_labels(spec)) {
            causes.push(selector_mismatch(spec, path));
        }
    }
    causes
}

/// `ValidateJob`.
pub fn job(object: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta(object, true, NameRule::Subdomain);
    causes.extend(job_spec(spec_of(object), &Path::root("spec")));
    causes
}

/// `ValidateJobUpdate`: the template, selector, completions and
/// completion mode stay as they were (the template of a suspended Job
/// that never started aside, which keel does not model).
pub fn job_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = meta::object_meta_update(old, new);
    let path = Path::root("spec");
    let (old_spec, new_spec) = (spec_of(old), spec_of(new));
    causes.extend(job_spec(new_spec, &path));
    let show_int =
        |spec: &Value, key: &str| int(spec, key).map_or(Bad::Go("null".into()), Bad::Int);
    causes.extend(field::immutable(
        &path.child("completions"),
        show_int(new_spec, "completions"),
        get(old_spec, "completions") != get(new_spec, "completions"),
    ));
    let selector = selector_of(new_spec);
    causes.extend(field::immutable(
        &path.child("selector"),
        Bad::Go(gostring::label_selector(selector)),
        selector != selector_of(old_spec),
    ));
    causes.extend(field::immutable(
        &path.child("template"),
        Bad::Go("core.PodTemplateSpec{...}".into()),
        get(old_spec, "template") != get(new_spec, "template"),
    ));
    causes.extend(field::immutable(
        &path.child("completionMode"),
        Bad::text(text(new_spec, "completionMode")),
        get(old_spec, "completionMode") != get(new_spec, "completionMode"),
    ));
    causes
}
