//! Kubernetes' string formats and their messages
//! (`staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go`,
//! release-1.33): DNS-1123 labels and subdomains, DNS-1035 labels,
//! qualified names (label and annotation keys), label values, config keys,
//! port names and numbers, percents, environment variable names.
//!
//! Each `is_*` returns the messages of what is wrong, empty when the value
//! is valid, word for word as Kubernetes gives them. Kubernetes matches
//! these with regular expressions; here each expression is a small
//! hand-written matcher, named after the expression it replaces.

/// `FieldImmutableErrorMsg`.
pub const FIELD_IMMUTABLE: &str = "field is immutable";
/// `IsNegativeErrorMsg`.
pub const NEGATIVE: &str = "must be greater than or equal to 0";

/// `DNS1123LabelMaxLength`, also the most a label value or the name part
/// of a qualified name may have.
pub const LABEL_MAX_LENGTH: usize = 63;
/// `DNS1123SubdomainMaxLength`.
pub const SUBDOMAIN_MAX_LENGTH: usize = 253;

const DNS1123_LABEL_FORMAT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_FORMAT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS1123_SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_FORMAT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL_MESSAGE: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";
const QUALIFIED_NAME_FORMAT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MESSAGE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FORMAT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MESSAGE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const CONFIG_KEY_FORMAT: &str = "[-._a-zA-Z0-9]+";
const CONFIG_KEY_MESSAGE: &str =
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.'";
const PERCENT_FORMAT: &str = "[0-9]+%";
const PERCENT_MESSAGE: &str =
    "a valid percent string must be a numeric string followed by an ending '%'";

/// `MaxLenError`.
pub fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// `RegexError`: the message, the examples and the expression, with Go's
/// own spacing ("(e.g. 'my-name',  or '123-abc', regex used ...").
pub fn regex_error(message: &str, format: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{message} (regex used for validation is '{format}')");
    }
    let mut text = format!("{message} (e.g. ");
    for (i, example) in examples.iter().enumerate() {
        if i > 0 {
            text.push_str(" or ");
        }
        text.push('\'');
        text.push_str(example);
        text.push_str("', ");
    }
    text.push_str("regex used for validation is '");
    text.push_str(format);
    text.push_str("')");
    text
}

/// `InclusiveRangeError`.
pub fn inclusive_range_error(low: i64, high: i64) -> String {
    format!("must be between {low} and {high}, inclusive")
}

fn lower_alphanumeric(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
fn matches_dns1123_label(value: &str) -> bool {
    let (Some(first), Some(last)) = (value.chars().next(), value.chars().last()) else {
        return false;
    };
    lower_alphanumeric(first)
        && lower_alphanumeric(last)
        && value.chars().all(|c| lower_alphanumeric(c) || c == '-')
}

/// `^<label>(\.<label>)*$`
fn matches_dns1123_subdomain(value: &str) -> bool {
    value.split('.').all(matches_dns1123_label)
}

/// `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`
fn matches_qualified_name(value: &str) -> bool {
    let (Some(first), Some(last)) = (value.chars().next(), value.chars().last()) else {
        return false;
    };
    first.is_ascii_alphanumeric()
        && last.is_ascii_alphanumeric()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `IsDNS1123Label`.
pub fn is_dns1123_label(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > LABEL_MAX_LENGTH {
        errors.push(max_len_error(LABEL_MAX_LENGTH));
    }
    if !matches_dns1123_label(value) {
        if matches_dns1123_subdomain(value) {
            // A valid subdomain that is no label can only have dots.
            errors.push("must not contain dots".to_owned());
        } else {
            errors.push(regex_error(
                DNS1123_LABEL_MESSAGE,
                DNS1123_LABEL_FORMAT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errors
}

/// `IsDNS1123Subdomain`.
pub fn is_dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > SUBDOMAIN_MAX_LENGTH {
        errors.push(max_len_error(SUBDOMAIN_MAX_LENGTH));
    }
    if !matches_dns1123_subdomain(value) {
        errors.push(regex_error(
            DNS1123_SUBDOMAIN_MESSAGE,
            DNS1123_SUBDOMAIN_FORMAT,
            &["example.com"],
        ));
    }
    errors
}

/// `IsDNS1035Label`.
pub fn is_dns1035_label(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > LABEL_MAX_LENGTH {
        errors.push(max_len_error(LABEL_MAX_LENGTH));
    }
    let matches = value.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && matches_dns1123_label(value);
    if !matches {
        errors.push(regex_error(
            DNS1035_LABEL_MESSAGE,
            DNS1035_LABEL_FORMAT,
            &["my-name", "abc-123"],
        ));
    }
    errors
}

/// `IsQualifiedName`: an optional DNS subdomain prefix and '/', then a
/// name of at most 63 characters; the key format of labels and
/// annotations.
pub fn is_qualified_name(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errors.push("prefix part must be non-empty".to_owned());
            } else {
                for message in is_dns1123_subdomain(prefix) {
                    errors.push(format!("prefix part {message}"));
                }
            }
            *name
        }
        _ => {
            let pattern = regex_error(
                QUALIFIED_NAME_MESSAGE,
                QUALIFIED_NAME_FORMAT,
                &["MyName", "my.name", "123-abc"],
            );
            return vec![format!(
                "a qualified name {pattern} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            )];
        }
    };
    if name.is_empty() {
        errors.push("name part must be non-empty".to_owned());
    } else if name.len() > LABEL_MAX_LENGTH {
        errors.push(format!("name part {}", max_len_error(LABEL_MAX_LENGTH)));
    }
    if !matches_qualified_name(name) {
        let pattern = regex_error(
            QUALIFIED_NAME_MESSAGE,
            QUALIFIED_NAME_FORMAT,
            &["MyName", "my.name", "123-abc"],
        );
        errors.push(format!("name part {pattern}"));
    }
    errors
}

/// `IsValidLabelValue`: empty, or a qualified name's name part.
pub fn is_valid_label_value(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > LABEL_MAX_LENGTH {
        errors.push(max_len_error(LABEL_MAX_LENGTH));
    }
    if !(value.is_empty() || matches_qualified_name(value)) {
        errors.push(regex_error(
            LABEL_VALUE_MESSAGE,
            LABEL_VALUE_FORMAT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errors
}

/// `hasChDirPrefix`: keys that would climb out of a mounted directory.
fn has_chdir_prefix(value: &str) -> Option<String> {
    match value {
        "." => Some("must not be '.'".into()),
        ".." => Some("must not be '..'".into()),
        _ if value.starts_with("..") => Some("must not start with '..'".into()),
        _ => None,
    }
}

/// `IsConfigMapKey`: the keys of ConfigMaps and Secrets.
pub fn is_config_map_key(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > SUBDOMAIN_MAX_LENGTH {
        errors.push(max_len_error(SUBDOMAIN_MAX_LENGTH));
    }
    let matches = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !matches {
        errors.push(regex_error(
            CONFIG_KEY_MESSAGE,
            CONFIG_KEY_FORMAT,
            &["key.name", "KEY_NAME", "key-name"],
        ));
    }
    errors.extend(has_chdir_prefix(value));
    errors
}

/// `IsRelaxedEnvVarName`: any printable ASCII but '=' (the rule of 1.33,
/// where the RelaxedEnvironmentVariableValidation gate is on by default).
pub fn is_relaxed_env_var_name(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.is_empty() {
        errors.push("environment variable name must be non-empty".to_owned());
    }
    if value
        .chars()
        .any(|c| !c.is_ascii() || c.is_ascii_control() || c == '=')
    {
        errors.push(
            "a valid environment variable name must consist only of printable ASCII characters other than '='"
                .to_owned(),
        );
    }
    errors
}

/// `IsValidPortNum`: 1 to 65535.
pub fn is_valid_port_num(port: i64) -> Vec<String> {
    if (1..=65_535).contains(&port) {
        Vec::new()
    } else {
        vec![inclusive_range_error(1, 65_535)]
    }
}

/// `IsValidPortName`: an IANA service name (at most 15 of `[-a-z0-9]`, at
/// least one letter, no leading, trailing or double hyphen).
pub fn is_valid_port_name(port: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if port.len() > 15 {
        errors.push(max_len_error(15));
    }
    if port.is_empty() || !port.chars().all(|c| lower_alphanumeric(c) || c == '-') {
        errors.push(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_owned(),
        );
    }
    if !port.chars().any(|c| c.is_ascii_lowercase()) {
        errors.push("must contain at least one letter (a-z)".to_owned());
    }
    if port.contains("--") {
        errors.push("must not contain consecutive hyphens".to_owned());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errors.push("must not begin or end with a hyphen".to_owned());
    }
    errors
}

/// `IsValidPercent`: `^[0-9]+%$`.
pub fn is_valid_percent(value: &str) -> Vec<String> {
    let digits = value.strip_suffix('%').unwrap_or("");
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        Vec::new()
    } else {
        vec![regex_error(PERCENT_MESSAGE, PERCENT_FORMAT, &["1%", "93%"])]
    }
}

/// `ValidateNameFunc`s: how a kind's `metadata.name` is checked. With
/// `prefix` (a `generateName`), one trailing dash is allowed, as
/// `maskTrailingDash` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// `NameIsDNSSubdomain`: most kinds.
    Subdomain,
    /// `NameIsDNSLabel`: Namespaces.
    Label,
    /// `NameIsDNS1035Label`: Services.
    Dns1035Label,
}

impl NameRule {
    /// The messages for `name` under this rule.
    pub fn check(self, name: &str, prefix: bool) -> Vec<String> {
        let masked;
        // maskTrailingDash replaces the last two bytes with "a" (sic).
        let name = match name.get(..name.len().saturating_sub(2)) {
            Some(head) if prefix && name.len() > 1 && name.ends_with('-') => {
                masked = format!("{head}a");
                masked.as_str()
            }
            _ => name,
        };
        match self {
            Self::Subdomain => is_dns1123_subdomain(name),
            Self::Label => is_dns1123_label(name),
            Self::Dns1035Label => is_dns1035_label(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LABEL_REGEX_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

    #[test]
    fn messages_are_kubernetes_own() {
        // util/validation/validation.go: RegexError's "'my-name',  or" spacing.
        assert_eq!(is_dns1123_label("Web"), vec![LABEL_REGEX_MESSAGE]);
        assert_eq!(is_dns1123_label("a.b"), vec!["must not contain dots"]);
        assert_eq!(
            is_dns1123_subdomain("Web_1"),
            vec!["a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"]
        );
        assert_eq!(
            is_dns1035_label("1abc"),
            vec!["a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"]
        );
        assert_eq!(
            is_qualified_name("/a"),
            vec!["prefix part must be non-empty"]
        );
        assert_eq!(
            is_qualified_name("a/b/c"),
            vec!["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
        );
        assert_eq!(
            is_valid_label_value("-x"),
            vec!["a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]
        );
        assert_eq!(is_config_map_key(".."), vec!["must not be '..'"]);
        assert_eq!(
            is_valid_port_num(0),
            vec!["must be between 1 and 65535, inclusive"]
        );
        assert_eq!(
            is_valid_port_name("-http-"),
            vec!["must not begin or end with a hyphen"]
        );
        assert!(is_valid_percent("25%").is_empty());
        assert_eq!(is_valid_percent("25").len(), 1);
        assert!(NameRule::Subdomain.check("web-", true).is_empty());
        assert_eq!(NameRule::Subdomain.check("web-", false).len(), 1);
    }

    fn label() -> impl Strategy<Value = String> {
        "[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
    }

    proptest! {
        #[test]
        fn a_valid_label_is_a_valid_subdomain(name in label()) {
            prop_assert!(is_dns1123_label(&name).is_empty());
            prop_assert!(is_dns1123_subdomain(&name).is_empty());
            prop_assert!(is_valid_label_value(&name).is_empty());
            prop_assert!(is_qualified_name(&name).is_empty());
        }

        #[test]
        fn dotted_labels_are_subdomains(parts in prop::collection::vec(label(), 1..4)) {
            let name = parts.join(".");
            prop_assert_eq!(is_dns1123_subdomain(&name).is_empty(), name.len() <= SUBDOMAIN_MAX_LENGTH);
        }

        #[test]
        fn nothing_over_63_characters_is_a_label(name in "[a-z0-9-]{64,100}") {
            prop_assert!(is_dns1123_label(&name).contains(&max_len_error(63)));
            prop_assert!(!is_valid_label_value(&name).is_empty());
            prop_assert!(!is_dns1035_label(&name).is_empty());
        }

        #[test]
        fn uppercase_is_never_a_dns_name(name in "[a-z]{0,5}[A-Z][a-z]{0,5}") {
            prop_assert!(!is_dns1123_label(&name).is_empty());
            prop_assert!(!is_dns1123_subdomain(&name).is_empty());
            prop_assert!(!is_dns1035_label(&name).is_empty());
            // ...but label values and qualified names allow it.
            prop_assert!(is_valid_label_value(&name).is_empty());
        }

        #[test]
        fn a_dns1035_label_is_a_dns1123_label(name in "[a-z]([-a-z0-9]{0,61}[a-z0-9])?") {
            prop_assert!(is_dns1035_label(&name).is_empty());
            prop_assert!(is_dns1123_label(&name).is_empty());
        }

        #[test]
        fn prefixed_keys_are_qualified(prefix in label(), name in "[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?") {
            let key = format!("{prefix}/{name}");
            prop_assert!(is_qualified_name(&key).is_empty());
        }

        #[test]
        fn any_string_gets_an_answer(value in ".{0,80}") {
            // Never panics, and a non-empty answer means a non-match.
            let label_ok = is_dns1123_label(&value).is_empty();
            prop_assert!(!label_ok || is_dns1123_subdomain(&value).is_empty());
            let _ = is_qualified_name(&value);
            let _ = is_config_map_key(&value);
            let _ = is_valid_port_name(&value);
        }
    }
}
