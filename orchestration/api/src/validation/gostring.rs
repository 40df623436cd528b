//! Values as Go's `%#v` prints Kubernetes' internal types, which is how
//! 1.33 shows a map, a struct or a list in an "Invalid value" message:
//!
//! ```text
//!   template labels   map[string]string{"app":"web"}
//!   a selector        v1.LabelSelector{MatchLabels:map[string]string{"app":"web"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}
//!   maxSurge          intstr.IntOrString{Type:1, IntVal:0, StrVal:"120%"}
//! ```
//!
//! Pointers are shown as the value they point to (ErrorBody dereferences
//! them), maps with their keys sorted (as `fmt` sorts them).

use serde_json::Value;

use super::field::go_quote;

/// `map[string]string` of a JSON object (`(nil)` when absent).
pub fn string_map(map: Option<&Value>) -> String {
    let Some(entries) = map.and_then(Value::as_object) else {
        return "map[string]string(nil)".to_owned();
    };
    let mut keys: Vec<&String> = entries.keys().collect();
    keys.sort();
    let items: Vec<String> = keys
        .into_iter()
        .map(|key| {
            let value = entries[key].as_str().unwrap_or_default();
            format!("{}:{}", go_quote(key), go_quote(value))
        })
        .collect();
    format!("map[string]string{{{}}}", items.join(", "))
}

/// `[]string` of a JSON list (`(nil)` when absent).
pub fn string_slice(list: Option<&Value>) -> String {
    let Some(items) = list.and_then(Value::as_array) else {
        return "[]string(nil)".to_owned();
    };
    let items: Vec<String> = items
        .iter()
        .map(|item| go_quote(item.as_str().unwrap_or_default()))
        .collect();
    format!("[]string{{{}}}", items.join(", "))
}

/// A `metav1.LabelSelector` (the value behind the pointer).
pub fn label_selector(selector: Option<&Value>) -> String {
    let selector = selector.filter(|s| s.is_object());
    let labels = string_map(selector.and_then(|s| s.get("matchLabels")));
    let expressions = match selector
        .and_then(|s| s.get("matchExpressions"))
        .and_then(Value::as_array)
    {
        None => "[]v1.LabelSelectorRequirement(nil)".to_owned(),
        Some(list) => {
            let items: Vec<String> = list
                .iter()
                .map(|requirement| {
                    let text = |name: &str| {
                        go_quote(requirement.get(name).and_then(Value::as_str).unwrap_or(""))
                    };
                    format!(
                        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{}}}",
                        text("key"),
                        text("operator"),
                        string_slice(requirement.get("values"))
                    )
                })
                .collect();
            format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
        }
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{expressions}}}")
}

/// An `intstr.IntOrString` (Type 0 for a number, 1 for a string).
pub fn int_or_string(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => format!(
            "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
            go_quote(text)
        ),
        Some(number) => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            number.as_i64().unwrap_or(0)
        ),
        None => "intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}".to_owned(),
    }
}

/// The `core.ServicePort{Protocol, Port}` key Service validation reports
/// as a duplicate.
pub fn service_port_key(protocol: &str, port: i64) -> String {
    format!(
        "core.ServicePort{{Name:\"\", Protocol:{}, AppProtocol:(*string)(nil), Port:{port}, TargetPort:{}, NodePort:0}}",
        go_quote(protocol),
        int_or_string(None)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_as_go_sharp_v() {
        // The message kubectl users see when changing a Deployment's selector
        // (registry/apps/deployment/strategy.go ValidateUpdate).
        assert_eq!(
            label_selector(Some(&json!({"matchLabels": {"b": "2", "a": "1"}}))),
            r#"v1.LabelSelector{MatchLabels:map[string]string{"a":"1", "b":"2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"#
        );
        assert_eq!(
            label_selector(Some(
                &json!({"matchExpressions": [{"key": "k", "operator": "In", "values": ["v"]}]})
            )),
            r#"v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"k", Operator:"In", Values:[]string{"v"}}}}"#
        );
        assert_eq!(string_map(None), "map[string]string(nil)");
        assert_eq!(string_map(Some(&json!({}))), "map[string]string{}");
        assert_eq!(
            int_or_string(Some(&json!("120%"))),
            r#"intstr.IntOrString{Type:1, IntVal:0, StrVal:"120%"}"#
        );
        assert_eq!(
            int_or_string(Some(&json!(-1))),
            r#"intstr.IntOrString{Type:0, IntVal:-1, StrVal:""}"#
        );
    }
}
