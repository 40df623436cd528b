//! Field errors as kube-apiserver 1.33 renders them
//! (`staging/src/k8s.io/apimachinery/pkg/util/validation/field`): a path
//! such as `spec.containers[0].ports[1].name` or
//! `metadata.annotations[example.com/key]`, a cause type, and the body
//! `<Type>[: <value>][: <detail>]`.
//!
//! ```text
//!   Path::root("spec").child("ports").index(1)  ─►  "spec.ports[1]"
//!   required(path, "")                          ─►  "Required value"
//!   invalid(path, Bad::text("A"), "detail")     ─►  "Invalid value: \"A\": detail"
//!   not_supported(path, .., &["TCP", "UDP"])    ─►  "Unsupported value: \"x\": supported values: \"TCP\", \"UDP\""
//! ```
//!
//! Values are rendered as Go's `fmt` does in 1.33: strings quoted (`%q`),
//! numbers and booleans plain, anything else as `%#v` of Kubernetes'
//! internal type, which callers build with the helpers of [`super::gostring`].

use std::fmt::Write as _;

use super::{Cause, CauseType};

/// A field path, rendered as kube-apiserver's `field.Path.String()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    /// A path starting at `name` ("metadata", "spec"; "" for the whole
    /// object).
    pub fn root(name: &str) -> Self {
        Self(name.to_owned())
    }

    /// The field `name` under this one (`spec.ports`).
    #[must_use]
    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() {
            Self(name.to_owned())
        } else {
            Self(format!("{}.{name}", self.0))
        }
    }

    /// The list item at `index` (`ports[0]`).
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        Self(format!("{}[{index}]", self.0))
    }

    /// The map entry at `key`, unquoted as Kubernetes writes it
    /// (`data[my key]`).
    #[must_use]
    pub fn key(&self, key: &str) -> Self {
        Self(format!("{}[{key}]", self.0))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A field's offending value, as `field.Error.BadValue` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bad {
    /// A string, printed quoted (`%q`).
    Text(String),
    /// An integer, printed plainly.
    Int(i64),
    /// A value already in Go's `%#v` form (maps, structs, lists).
    Go(String),
}

impl Bad {
    /// A string value.
    pub fn text(value: &str) -> Self {
        Self::Text(value.to_owned())
    }

    fn render(self) -> String {
        match self {
            Self::Text(text) => go_quote(&text),
            Self::Int(number) => number.to_string(),
            Self::Go(rendered) => rendered,
        }
    }
}

/// `text` quoted as Go's `strconv.Quote` does: printable characters as
/// they are, `"` and `\` escaped, control characters as escapes.
pub fn go_quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            '\u{7}' => quoted.push_str("\\a"),
            '\u{8}' => quoted.push_str("\\b"),
            '\u{c}' => quoted.push_str("\\f"),
            '\u{b}' => quoted.push_str("\\v"),
            c if c.is_control() => {
                let code = u32::from(c);
                // Writing to a String cannot fail.
                let _ = if code < 0x80 {
                    write!(quoted, "\\x{code:02x}")
                } else if code <= 0xffff {
                    write!(quoted, "\\u{code:04x}")
                } else {
                    write!(quoted, "\\U{code:08x}")
                };
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

fn cause(path: &Path, kind: CauseType, message: String) -> Cause {
    Cause {
        field: path.as_str().to_owned(),
        kind,
        message,
    }
}

fn with_detail(mut body: String, detail: &str) -> String {
    if !detail.is_empty() {
        body.push_str(": ");
        body.push_str(detail);
    }
    body
}

/// `field.Required`: "Required value[: detail]".
pub fn required(path: &Path, detail: &str) -> Cause {
    cause(
        path,
        CauseType::FieldValueRequired,
        with_detail("Required value".into(), detail),
    )
}

/// `field.Invalid`: "Invalid value: <value>[: detail]".
pub fn invalid(path: &Path, value: Bad, detail: &str) -> Cause {
    let body = format!("Invalid value: {}", value.render());
    cause(
        path,
        CauseType::FieldValueInvalid,
        with_detail(body, detail),
    )
}

/// `field.NotSupported`: "Unsupported value: <value>: supported values:
/// "a", "b"" (the values in the order given).
pub fn not_supported(path: &Path, value: Bad, supported: &[&str]) -> Cause {
    let body = format!("Unsupported value: {}", value.render());
    let detail = if supported.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = supported.iter().map(|value| go_quote(value)).collect();
        format!("supported values: {}", quoted.join(", "))
    };
    cause(
        path,
        CauseType::FieldValueNotSupported,
        with_detail(body, &detail),
    )
}

/// `field.Duplicate`: "Duplicate value: <value>".
pub fn duplicate(path: &Path, value: Bad) -> Cause {
    cause(
        path,
        CauseType::FieldValueDuplicate,
        format!("Duplicate value: {}", value.render()),
    )
}

/// `field.NotFound`: "Not found: <value>".
pub fn not_found(path: &Path, value: Bad) -> Cause {
    cause(
        path,
        CauseType::FieldValueNotFound,
        format!("Not found: {}", value.render()),
    )
}

/// `field.Forbidden`: "Forbidden[: detail]".
pub fn forbidden(path: &Path, detail: &str) -> Cause {
    cause(
        path,
        CauseType::FieldValueForbidden,
        with_detail("Forbidden".into(), detail),
    )
}

/// `field.TooLong` as 1.33 words it: "Too long: may not be more than N
/// bytes" (the value is never shown).
pub fn too_long(path: &Path, max_bytes: usize) -> Cause {
    let unit = if max_bytes == 1 { "byte" } else { "bytes" };
    cause(
        path,
        CauseType::FieldValueTooLong,
        format!("Too long: may not be more than {max_bytes} {unit}"),
    )
}

/// `ValidateImmutableField`: `Invalid value: <new>: field is immutable`
/// when `old` and `new` differ.
pub fn immutable(path: &Path, new: Bad, changed: bool) -> Option<Cause> {
    changed.then(|| invalid(path, new, super::names::FIELD_IMMUTABLE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_as_field_path_string() {
        let path = Path::root("spec")
            .child("containers")
            .index(0)
            .child("ports");
        assert_eq!(path.as_str(), "spec.containers[0].ports");
        let key = Path::root("metadata")
            .child("annotations")
            .key("example.com/a b");
        assert_eq!(key.as_str(), "metadata.annotations[example.com/a b]");
        assert_eq!(Path::root("").child("data").as_str(), "data");
    }

    #[test]
    fn bodies_render_as_error_body() {
        // field/errors.go ErrorBody: Required/Forbidden/TooLong omit the value;
        // strings are %q, ints %v; NotSupported lists strconv.Quote'd values.
        let path = Path::root("spec").child("restartPolicy");
        assert_eq!(required(&path, "").message, "Required value");
        assert_eq!(
            invalid(&path, Bad::text("a\"b"), "bad").message,
            r#"Invalid value: "a\"b": bad"#
        );
        assert_eq!(
            invalid(&path, Bad::Int(-1), "must be greater than or equal to 0").message,
            "Invalid value: -1: must be greater than or equal to 0"
        );
        assert_eq!(
            not_supported(
                &path,
                Bad::text("Sometimes"),
                &["Always", "OnFailure", "Never"]
            )
            .message,
            r#"Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never""#
        );
        assert_eq!(forbidden(&path, "no").message, "Forbidden: no",);
        assert_eq!(
            too_long(&path, 262_144).message,
            "Too long: may not be more than 262144 bytes"
        );
        assert_eq!(go_quote("tab\there"), r#""tab\there""#);
    }
}
