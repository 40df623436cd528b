//! Label and field selectors, as kube-apiserver reads them from a list's or
//! watch's `labelSelector` and `fieldSelector` (apimachinery's
//! `pkg/labels/selector.go` and `pkg/fields/selector.go`), and the fields
//! each kind can be selected by (the registries' `GetAttrs` and the field
//! label conversions in `pkg/apis/*/v1/conversion.go`).
//!
//! ```text
//!   "app=web,tier in (a,b),!canary"  ─► LabelSelector ─► matches(labels)
//!   "spec.nodeName=n1,status.phase!=Running"
//!        ─► FieldSelector (checked against the kind's fields) ─► matches(object)
//! ```

use std::collections::BTreeMap;

use serde_json::Value;

use crate::resources::ResourceInfo;

/// Why a selector could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SelectorError(pub String);

/// How a label requirement compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// `key=value`, `key==value`, `key in (a,b)`.
    In(Vec<String>),
    /// `key!=value`, `key notin (a,b)`: also true without the label.
    NotIn(Vec<String>),
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
    /// `key>n`: the label is an integer greater than n.
    GreaterThan(i64),
    /// `key<n`: the label is an integer less than n.
    LessThan(i64),
}

/// One requirement on one label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The label's key.
    pub key: String,
    /// What its value must be.
    pub operator: Operator,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        let number = || value.and_then(|v| v.parse::<i64>().ok());
        match &self.operator {
            Operator::In(values) => value.is_some_and(|v| values.contains(v)),
            Operator::NotIn(values) => value.is_none_or(|v| !values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan(n) => number().is_some_and(|v| v > *n),
            Operator::LessThan(n) => number().is_some_and(|v| v < *n),
        }
    }
}

/// A label selector: every requirement must hold. Empty selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// The requirements, all of which must hold.
    pub requirements: Vec<Requirement>,
}

/// Splits `text` at top-level commas (not those inside parentheses).
fn split_terms(text: &str) -> Vec<&str> {
    let mut terms = Vec::new();
    let (mut depth, mut start) = (0_i32, 0);
    for (at, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    terms.push(&text[start..]);
    terms
}

/// Whether `key` is a label key: an optional DNS subdomain prefix and `/`,
/// then a name of at most 63 alphanumerics, `-`, `_` or `.`, beginning and
/// ending alphanumeric.
fn valid_key(key: &str) -> bool {
    let name = key.rsplit_once('/').map_or(key, |(prefix, name)| {
        if prefix.is_empty() || prefix.len() > 253 {
            ""
        } else {
            name
        }
    });
    valid_value(name) && !name.is_empty()
}

/// Whether `value` is a label value: empty, or at most 63 alphanumerics,
/// `-`, `_` or `.`, beginning and ending alphanumeric.
fn valid_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && value.starts_with(|c: char| c.is_ascii_alphanumeric())
            && value.ends_with(|c: char| c.is_ascii_alphanumeric()))
}

impl LabelSelector {
    /// Reads a selector in Kubernetes' string form.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if text.trim().is_empty() {
            return Ok(Self { requirements });
        }
        for term in split_terms(text) {
            requirements.push(Self::requirement(term.trim())?);
        }
        Ok(Self { requirements })
    }

    fn requirement(term: &str) -> Result<Requirement, SelectorError> {
        let bad =
            |why: &str| SelectorError(format!("unable to parse requirement: {term:?}: {why}"));
        let checked_key = |key: &str| -> Result<String, SelectorError> {
            let key = key.trim();
            if valid_key(key) {
                Ok(key.to_owned())
            } else {
                Err(bad("invalid label key"))
            }
        };
        let checked_value = |value: &str| -> Result<String, SelectorError> {
            let value = value.trim();
            if valid_value(value) {
                Ok(value.to_owned())
            } else {
                Err(bad("invalid label value"))
            }
        };
        if term.is_empty() {
            return Err(bad("empty requirement"));
        }
        if let Some(key) = term.strip_prefix('!') {
            return Ok(Requirement {
                key: checked_key(key)?,
                operator: Operator::DoesNotExist,
            });
        }
        for (symbol, not) in [("!=", true), ("==", false), ("=", false)] {
            if let Some((key, value)) = term.split_once(symbol) {
                let values = vec![checked_value(value)?];
                return Ok(Requirement {
                    key: checked_key(key)?,
                    operator: if not {
                        Operator::NotIn(values)
                    } else {
                        Operator::In(values)
                    },
                });
            }
        }
        for (symbol, greater) in [(">", true), ("<", false)] {
            if let Some((key, value)) = term.split_once(symbol) {
                let n = value
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| bad("for 'Gt', 'Lt' operators, the value must be an integer"))?;
                return Ok(Requirement {
                    key: checked_key(key)?,
                    operator: if greater {
                        Operator::GreaterThan(n)
                    } else {
                        Operator::LessThan(n)
                    },
                });
            }
        }
        let words: Vec<&str> = term.splitn(2, char::is_whitespace).collect();
        if let [key, rest] = words.as_slice() {
            let rest = rest.trim_start();
            let (not, list) = if let Some(list) = rest.strip_prefix("notin") {
                (true, list)
            } else if let Some(list) = rest.strip_prefix("in") {
                (false, list)
            } else {
                return Err(bad("expected one of 'in', 'notin', '=', '==', '!='"));
            };
            let inner = list
                .trim()
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .ok_or_else(|| bad("a set of values must be in parentheses"))?;
            let values = inner
                .split(',')
                .map(checked_value)
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Requirement {
                key: checked_key(key)?,
                operator: if not {
                    Operator::NotIn(values)
                } else {
                    Operator::In(values)
                },
            });
        }
        Ok(Requirement {
            key: checked_key(term)?,
            operator: Operator::Exists,
        })
    }

    /// A `metav1.LabelSelector` (`matchLabels`, `matchExpressions`), as
    /// workloads carry it.
    pub fn from_json(selector: &Value) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (key, value) in labels {
                requirements.push(Requirement {
                    key: key.clone(),
                    operator: Operator::In(vec![value.as_str().unwrap_or("").to_owned()]),
                });
            }
        }
        let expressions = selector.get("matchExpressions").and_then(Value::as_array);
        for expression in expressions.into_iter().flatten() {
            let key = expression.get("key").and_then(Value::as_str).unwrap_or("");
            let values: Vec<String> = expression
                .get("values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            let operator = match expression.get("operator").and_then(Value::as_str) {
                Some("In") => Operator::In(values),
                Some("NotIn") => Operator::NotIn(values),
                Some("Exists") => Operator::Exists,
                Some("DoesNotExist") => Operator::DoesNotExist,
                other => {
                    return Err(SelectorError(format!(
                        "{:?} is not a valid label selector operator",
                        other.unwrap_or("")
                    )))
                }
            };
            requirements.push(Requirement {
                key: key.to_owned(),
                operator,
            });
        }
        Ok(Self { requirements })
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether the object's `metadata.labels` satisfy every requirement.
    pub fn matches_object(&self, object: &Value) -> bool {
        self.is_empty() || self.matches(&labels_of(object))
    }
}

impl std::fmt::Display for LabelSelector {
    /// The selector in Kubernetes' string form, requirements sorted by key
    /// (as a Scale's `status.selector` shows it); a one-value `In` prints
    /// as `key=value`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut requirements: Vec<&Requirement> = self.requirements.iter().collect();
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        let mut first = true;
        for requirement in requirements {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            let key = &requirement.key;
            let set = |values: &[String]| {
                let mut values = values.to_vec();
                values.sort();
                values.join(",")
            };
            match &requirement.operator {
                Operator::In(values) if values.len() == 1 => write!(f, "{key}={}", values[0])?,
                Operator::In(values) => write!(f, "{key} in ({})", set(values))?,
                Operator::NotIn(values) => write!(f, "{key} notin ({})", set(values))?,
                Operator::Exists => write!(f, "{key}")?,
                Operator::DoesNotExist => write!(f, "!{key}")?,
                Operator::GreaterThan(n) => write!(f, "{key}>{n}")?,
                Operator::LessThan(n) => write!(f, "{key}<{n}")?,
            }
        }
        Ok(())
    }
}

/// The object's `metadata.labels`.
pub fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
        .collect()
}

/// One term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    /// The field label ("spec.nodeName").
    pub field: String,
    /// The value compared with.
    pub value: String,
    /// `!=` rather than `=`.
    pub negated: bool,
}

/// A field selector: every term must hold. Empty selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    /// The terms, all of which must hold.
    pub terms: Vec<FieldTerm>,
}

/// The fields a kind may be selected by, beyond `metadata.name` and
/// (namespaced kinds) `metadata.namespace`, with the JSON pointer each is
/// read at.
fn selectable_fields(resource: &ResourceInfo) -> &'static [(&'static str, &'static str)] {
    match (resource.group, resource.plural) {
        // pkg/registry/core/pod/strategy.go ToSelectableFields.
        ("", "pods") => &[
            ("spec.nodeName", "/spec/nodeName"),
            ("spec.restartPolicy", "/spec/restartPolicy"),
            ("spec.schedulerName", "/spec/schedulerName"),
            ("spec.serviceAccountName", "/spec/serviceAccountName"),
            ("spec.hostNetwork", "/spec/hostNetwork"),
            ("status.phase", "/status/phase"),
            ("status.podIP", "/status/podIP"),
            ("status.nominatedNodeName", "/status/nominatedNodeName"),
        ],
        // pkg/registry/core/event/strategy.go ToSelectableFields.
        ("", "events") => &[
            ("involvedObject.kind", "/involvedObject/kind"),
            ("involvedObject.namespace", "/involvedObject/namespace"),
            ("involvedObject.name", "/involvedObject/name"),
            ("involvedObject.uid", "/involvedObject/uid"),
            ("involvedObject.apiVersion", "/involvedObject/apiVersion"),
            (
                "involvedObject.resourceVersion",
                "/involvedObject/resourceVersion",
            ),
            ("involvedObject.fieldPath", "/involvedObject/fieldPath"),
            ("reason", "/reason"),
            ("reportingComponent", "/reportingComponent"),
            ("source", "/source/component"),
            ("type", "/type"),
        ],
        ("", "nodes") => &[("spec.unschedulable", "/spec/unschedulable")],
        ("", "namespaces") => &[("status.phase", "/status/phase")],
        ("", "secrets") => &[("type", "/type")],
        ("apps", "replicasets") => &[("status.replicas", "/status/replicas")],
        ("batch", "jobs") => &[("status.successful", "/status/successful")],
        _ => &[],
    }
}

/// The value a field selector compares for `field` of `object`: strings as
/// they are, numbers and booleans as their text, absent fields as "" (and
/// "false" for booleans, as the registries' GetAttrs format them).
fn field_value(resource: &ResourceInfo, object: &Value, field: &str) -> String {
    let pointer = match field {
        "metadata.name" => "/metadata/name",
        "metadata.namespace" => "/metadata/namespace",
        _ => selectable_fields(resource)
            .iter()
            .find(|(name, _)| *name == field)
            .map_or("", |(_, pointer)| *pointer),
    };
    match object.pointer(pointer) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Bool(flag)) => flag.to_string(),
        Some(Value::Number(number)) => number.to_string(),
        _ if matches!(field, "spec.hostNetwork" | "spec.unschedulable") => "false".into(),
        _ if matches!(field, "status.replicas" | "status.successful") => "0".into(),
        _ => String::new(),
    }
}

/// Undoes a field selector value's backslash escapes (`\,`, `\=`, `\\`).
fn unescape(value: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(escaped @ ('\\' | ',' | '=' | '!')) => out.push(escaped),
                _ => {
                    return Err(SelectorError(format!(
                        "invalid field selector value {value:?}: invalid escape sequence"
                    )))
                }
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

impl FieldSelector {
    /// Reads a field selector for objects of `resource`; a field the kind
    /// cannot be selected by is an error, as kube-apiserver answers it.
    pub fn parse(resource: &ResourceInfo, text: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        if text.trim().is_empty() {
            return Ok(Self { terms });
        }
        // Terms split at commas that are not escaped.
        let mut pieces = Vec::new();
        let (mut start, mut escaped) = (0, false);
        for (at, c) in text.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                ',' if !escaped => {
                    pieces.push(&text[start..at]);
                    start = at + 1;
                }
                _ => escaped = false,
            }
        }
        pieces.push(&text[start..]);
        for piece in pieces {
            let (field, value, negated) = if let Some((f, v)) = piece.split_once("!=") {
                (f, v, true)
            } else if let Some((f, v)) = piece.split_once("==") {
                (f, v, false)
            } else if let Some((f, v)) = piece.split_once('=') {
                (f, v, false)
            } else {
                return Err(SelectorError(format!(
                    "invalid selector: '{text}'; can't understand '{piece}'"
                )));
            };
            let field = field.trim();
            let known = field == "metadata.name"
                || (field == "metadata.namespace" && resource.namespaced)
                || selectable_fields(resource).iter().any(|(f, _)| *f == field);
            if !known {
                return Err(SelectorError(format!("field label not supported: {field}")));
            }
            terms.push(FieldTerm {
                field: field.to_owned(),
                value: unescape(value)?,
                negated,
            });
        }
        Ok(Self { terms })
    }

    /// Whether the selector selects everything.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The name a `metadata.name=<name>` term pins, if any (a get, or a
    /// watch of one object).
    pub fn pinned_name(&self) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == "metadata.name" && !t.negated)
            .map(|t| t.value.as_str())
    }

    /// Whether `object` (of `resource`) satisfies every term.
    pub fn matches(&self, resource: &ResourceInfo, object: &Value) -> bool {
        self.terms
            .iter()
            .all(|term| (field_value(resource, object, &term.field) == term.value) != term.negated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::of;
    use k8s_openapi::api::core::v1::{ConfigMap, Event, Node, Pod};
    use proptest::prelude::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn label_selectors_read_every_operator() {
        let web = labels(&[("app", "web"), ("tier", "front"), ("n", "5")]);
        let db = labels(&[("app", "db")]);
        let cases = [
            ("", true, true),
            ("app=web", true, false),
            ("app==web", true, false),
            ("app!=web", false, true),
            ("tier", true, false),
            ("!tier", false, true),
            ("app in (web, db)", true, true),
            ("app notin (db)", true, false),
            ("tier notin (front)", false, true),
            ("app=web,tier=front", true, false),
            ("app in (web,db),!tier", false, true),
            ("n>3", true, false),
            ("n<3", false, false),
            ("example.com/role", false, false),
        ];
        for (text, on_web, on_db) in cases {
            let selector = LabelSelector::parse(text).expect(text);
            assert_eq!(selector.matches(&web), on_web, "{text} on web");
            assert_eq!(selector.matches(&db), on_db, "{text} on db");
        }
    }

    #[test]
    fn selectors_print_in_kubernetes_string_form() {
        let selector = LabelSelector::from_json(&json!({
            "matchLabels": {"tier": "web", "app": "shop"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["qa", "dev"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]
        }))
        .expect("valid");
        assert_eq!(
            selector.to_string(),
            "app=shop,!canary,env in (dev,qa),tier=web"
        );
        let again = LabelSelector::parse(&selector.to_string()).expect("reads back");
        assert_eq!(again.to_string(), selector.to_string());
    }

    #[test]
    fn malformed_label_selectors_are_refused() {
        for text in [
            "app=(",
            "a b c",
            "app in web",
            "-bad=x",
            "app=x y",
            "n>x",
            ",",
        ] {
            assert!(LabelSelector::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn workload_selectors_read_match_labels_and_expressions() {
        let selector = LabelSelector::from_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]
        }))
        .expect("valid");
        assert!(selector.matches(&labels(&[("app", "web")])));
        assert!(!selector.matches(&labels(&[("app", "web"), ("tier", "db")])));
        assert!(LabelSelector::from_json(
            &json!({"matchExpressions": [{"key": "a", "operator": "Near"}]})
        )
        .is_err());
    }

    #[test]
    fn field_selectors_read_the_kinds_fields() {
        let pod = json!({"metadata": {"name": "web-1", "namespace": "default"},
                         "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let pods = of::<Pod>();
        for (text, expected) in [
            ("spec.nodeName=n1", true),
            ("spec.nodeName!=n1", false),
            ("spec.nodeName=", false),
            ("status.phase==Running,metadata.name=web-1", true),
            ("metadata.namespace=kube-system", false),
            ("spec.hostNetwork=false", true),
        ] {
            let selector = FieldSelector::parse(pods, text).expect(text);
            assert_eq!(selector.matches(pods, &pod), expected, "{text}");
        }
        let unscheduled = json!({"metadata": {"name": "p"}, "spec": {}});
        let selector = FieldSelector::parse(pods, "spec.nodeName=").expect("empty value");
        assert!(selector.matches(pods, &unscheduled));
        let event = json!({"involvedObject": {"kind": "Pod", "name": "web-1"},
                           "source": {"component": "kubelet"}, "type": "Warning"});
        let selector =
            FieldSelector::parse(of::<Event>(), "involvedObject.name=web-1,source=kubelet")
                .expect("event fields");
        assert!(selector.matches(of::<Event>(), &event));
        let node = json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}});
        let selector = FieldSelector::parse(of::<Node>(), "spec.unschedulable=true").expect("node");
        assert!(selector.matches(of::<Node>(), &node));
        assert_eq!(
            FieldSelector::parse(pods, "metadata.name=a\\,b")
                .expect("escaped")
                .pinned_name(),
            Some("a,b")
        );
    }

    #[test]
    fn unsupported_fields_are_refused_as_kubernetes_words_it() {
        let error = FieldSelector::parse(of::<ConfigMap>(), "spec.nodeName=n1").expect_err("no");
        assert_eq!(
            error.to_string(),
            "field label not supported: spec.nodeName"
        );
        let error = FieldSelector::parse(of::<Node>(), "metadata.namespace=x").expect_err("no");
        assert_eq!(
            error.to_string(),
            "field label not supported: metadata.namespace"
        );
        assert!(FieldSelector::parse(of::<Pod>(), "status.phase").is_err());
    }

    proptest! {
        #[test]
        fn equality_and_inequality_partition_every_label_set(
            value in "[a-z]{1,4}",
            present in proptest::option::of("[a-z]{1,4}"),
        ) {
            let set = present.map(|v| labels(&[("k", v.as_str())])).unwrap_or_default();
            let equal = LabelSelector::parse(&format!("k={value}")).expect("valid");
            let unequal = LabelSelector::parse(&format!("k!={value}")).expect("valid");
            prop_assert_ne!(equal.matches(&set), unequal.matches(&set));
            let exists = LabelSelector::parse("k").expect("valid");
            let absent = LabelSelector::parse("!k").expect("valid");
            prop_assert_ne!(exists.matches(&set), absent.matches(&set));
        }
    }
}
