//! What several printers share: AGE from a timestamp, label maps and label
//! selectors as kubectl shows them, and the CONTAINERS / IMAGES pair of the
//! workloads' wide output.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, Time};

use super::duration::human_duration;

/// Go's zero `time.Time` (0001-01-01T00:00:00Z), which printers show as
/// "<unknown>".
pub(super) fn go_zero_time() -> Timestamp {
    Timestamp::from_second(-62_135_596_800).expect("year 1 is within jiff's range")
}

/// The instant of an optional timestamp, Go's zero time when absent.
pub(super) fn instant(timestamp: Option<&Time>) -> Timestamp {
    timestamp.map_or_else(go_zero_time, |time| time.0)
}

/// printers.go `translateTimestampSince`: how long ago `timestamp` was, or
/// "<unknown>" when it is unset.
pub(super) fn age(timestamp: Option<&Time>, now: Timestamp) -> String {
    since(instant(timestamp), now)
}

/// How long ago `timestamp` was (HumanDuration), "<unknown>" for Go's zero
/// time.
pub(super) fn since(timestamp: Timestamp, now: Timestamp) -> String {
    if timestamp == go_zero_time() {
        return "<unknown>".to_owned();
    }
    human_duration(now.duration_since(timestamp))
}

/// labels.FormatLabels: "k1=v1,k2=v2" in key order, "<none>" when empty.
pub(super) fn format_labels(labels: Option<&BTreeMap<String, String>>) -> String {
    let formatted = labels
        .into_iter()
        .flatten()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(",");
    if formatted.is_empty() {
        "<none>".to_owned()
    } else {
        formatted
    }
}

/// A selector apimachinery's `LabelSelectorAsSelector` refuses: an unknown
/// operator, or values where the operator takes none (or none where it
/// needs some).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct InvalidSelector;

/// `LabelSelectorAsSelector(selector).String()`: requirements in key order,
/// "k=v", "k in (a,b)", "k notin (a,b)", "k", "!k"; "" for a missing or
/// empty selector (labels.Nothing / labels.Everything print as nothing).
///
/// Key and value syntax is not checked here (kube-apiserver validated them
/// when the object was written).
pub(super) fn selector_string(selector: Option<&LabelSelector>) -> Result<String, InvalidSelector> {
    let Some(selector) = selector else {
        return Ok(String::new());
    };
    let mut requirements: Vec<(&str, String)> = Vec::new();
    for (key, value) in selector.match_labels.iter().flatten() {
        requirements.push((key, format!("{key}={value}")));
    }
    for expression in selector.match_expressions.iter().flatten() {
        let key = expression.key.as_str();
        let mut values: Vec<&str> = expression
            .values
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        values.sort_unstable();
        let requirement = match expression.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => return Err(InvalidSelector),
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" | "DoesNotExist" if !values.is_empty() => return Err(InvalidSelector),
            "Exists" => key.to_owned(),
            "DoesNotExist" => format!("!{key}"),
            _ => return Err(InvalidSelector),
        };
        requirements.push((key, requirement));
    }
    requirements.sort_by(|a, b| a.0.cmp(b.0));
    Ok(requirements
        .into_iter()
        .map(|(_, requirement)| requirement)
        .collect::<Vec<_>>()
        .join(","))
}

/// metav1.FormatLabelSelector: the selector's string, "<none>" when it is
/// empty, "<error>" when it is invalid.
pub(super) fn format_label_selector(selector: Option<&LabelSelector>) -> String {
    match selector_string(selector) {
        Ok(formatted) if formatted.is_empty() => "<none>".to_owned(),
        Ok(formatted) => formatted,
        Err(InvalidSelector) => "<error>".to_owned(),
    }
}

/// printers.go `layoutContainerCells`: container names and images, each
/// comma-joined in the template's order.
pub(super) fn container_cells(containers: &[Container]) -> (String, String) {
    let names = containers
        .iter()
        .map(|container| container.name.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let images = containers
        .iter()
        .map(|container| container.image.as_deref().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(",");
    (names, images)
}
