//! Text as kube-apiserver's Go code writes it into error messages, so that
//! keel's answers read the same: Go's `%v` of decoded JSON (strategicpatch
//! puts maps and lists into its messages), Go type names, and the errors of
//! Go's `encoding/json` decoder (which kube-apiserver returns for a body
//! that is not JSON).
//!
//! ```text
//!   body bytes ─► syntax_error ─► "invalid character 'x' looking for beginning of value"
//!   JSON value ─► unmarshal_type_error ─► "json: cannot unmarshal array into Go value of type ..."
//!   JSON value ─► value ─► "map[name:web ports:[80 443]]"
//! ```

use std::fmt::Write as _;

use serde_json::Value;

/// Go's `fmt` `%v` of a JSON value decoded into `interface{}`: maps as
/// `map[k:v ...]` with sorted keys, lists as `[a b]`, strings bare, `null`
/// as `<nil>`, floats in `%g`'s shortest form.
pub(crate) fn value(v: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, v);
    out
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("map[");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                write_value(out, &map[key]);
            }
            out.push(']');
        }
    }
}

/// Go's `fmt` `%s` of a decoded JSON value: a string as itself, anything
/// else as Go's `%!s(type=value)` complaint.
pub(crate) fn value_as_s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "%!s(<nil>)".to_owned(),
        Value::Bool(_) | Value::Number(_) => format!("%!s({}={})", type_name(v), value(v)),
        Value::Array(_) | Value::Object(_) => value(v),
    }
}

/// The Go type a JSON value decodes into with kube-apiserver's decoder
/// (which keeps integers as `int64`); `%!s(<nil>)` for `null`, as `%s`
/// prints a nil `reflect.Type`.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "%!s(<nil>)",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.as_i64().is_some() => "int64",
        Value::Number(_) => "float64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's `%v` of a number decoded into `interface{}`: an `int64` in
/// decimal, else a `float64` as `strconv.FormatFloat(f, 'g', -1, 64)`.
fn number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        // Beyond int64, Go's decoder keeps a float64.
        return float(u as f64);
    }
    float(n.as_f64().unwrap_or(f64::NAN))
}

/// `%g` with the shortest digits: an exponent when it is below -4 or at
/// least 6 (Go's precision for that choice), plain digits otherwise.
fn float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Rust's `{:e}` writes the shortest round-trip digits, as Go's -1
    // precision does: "1.5e-7", "1e6".
    let scientific = format!("{:e}", f.abs());
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("{:e} always writes an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} writes an integer exponent");
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if f.is_sign_negative() {
        out.push('-');
    }
    if !(-4..6).contains(&exponent) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.abs());
    } else if exponent < 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat(exponent.unsigned_abs() as usize - 1));
        out.push_str(&digits);
    } else {
        let point = exponent.unsigned_abs() as usize + 1;
        if digits.len() > point {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        } else {
            out.push_str(&digits);
            out.push_str(&"0".repeat(point - digits.len()));
        }
    }
    out
}

/// What Go's `encoding/json` calls the JSON value it could not store.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Go's `*json.UnmarshalTypeError` for storing `v` into a value of Go type
/// `go_type`.
pub(crate) fn unmarshal_type_error(v: &Value, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go value of type {go_type}",
        json_kind(v)
    )
}

/// Go's `*json.UnmarshalTypeError` for storing `v` into field `field` of
/// struct `go_struct`, of Go type `go_type`.
pub(crate) fn unmarshal_field_error(
    v: &Value,
    go_struct: &str,
    field: &str,
    go_type: &str,
) -> String {
    format!(
        "json: cannot unmarshal {} into Go struct field {go_struct}.{field} of type {go_type}",
        json_kind(v)
    )
}

/// Where Go's JSON scanner is: the states of `encoding/json/scanner.go`
/// that can reject a byte, each with the words its error uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    BeginValue,
    BeginValueOrEmpty,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEscape,
    InStringEscapeU(u8),
    Negative,
    Zero,
    Digits,
    Dot,
    DotDigits,
    Exponent,
    ExponentSign,
    ExponentDigits,
    Literal(&'static [u8], usize),
}

/// An open object or list, as the scanner's parse stack holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

/// Go's `json.Unmarshal` syntax error for `body`, `None` when `body` is
/// one well-formed JSON value (Go checks the whole body before decoding).
pub(crate) fn syntax_error(body: &[u8]) -> Option<String> {
    let mut state = Scan::BeginValue;
    let mut stack: Vec<Open> = Vec::new();
    for &c in body {
        match step(state, &mut stack, c) {
            Ok(next) => state = next,
            Err(context) => return Some(invalid(c, context)),
        }
    }
    // At the end Go feeds one space, which may end a number, finish the
    // value, or be rejected by a literal cut short ("tru").
    match step(state, &mut stack, b' ') {
        Ok(Scan::EndTop) => None,
        Ok(_) => Some("unexpected end of JSON input".to_owned()),
        Err(context) => Some(invalid(b' ', context)),
    }
}

fn invalid(c: u8, context: &str) -> String {
    format!("invalid character {} {context}", quote_char(c))
}

/// Go's `quoteChar`: the byte as a rune, in single quotes.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".to_owned(),
        b'"' => "'\"'".to_owned(),
        _ => {
            let quoted = go_quote_rune(char::from(c));
            format!("'{quoted}'")
        }
    }
}

/// `strconv.Quote(string(r))` without its double quotes.
fn go_quote_rune(r: char) -> String {
    match r {
        '\u{7}' => r"\a".to_owned(),
        '\u{8}' => r"\b".to_owned(),
        '\u{c}' => r"\f".to_owned(),
        '\n' => r"\n".to_owned(),
        '\r' => r"\r".to_owned(),
        '\t' => r"\t".to_owned(),
        '\u{b}' => r"\v".to_owned(),
        '\\' => r"\\".to_owned(),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => format!(r"\x{:02x}", c as u32),
        c if (0x80..0xa0).contains(&(c as u32)) || c as u32 == 0xad => {
            format!(r"\u{:04x}", c as u32)
        }
        c => c.to_string(),
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// One byte through Go's scanner: the next state, or the words of the
/// error ("looking for beginning of value").
fn step(state: Scan, stack: &mut Vec<Open>, c: u8) -> Result<Scan, &'static str> {
    match state {
        Scan::BeginValueOrEmpty | Scan::BeginStringOrEmpty if is_space(c) => Ok(state),
        Scan::BeginValueOrEmpty if c == b']' => step(Scan::EndValue, stack, c),
        Scan::BeginValueOrEmpty | Scan::BeginValue => begin_value(stack, c),
        Scan::BeginStringOrEmpty if c == b'}' => {
            if let Some(top) = stack.last_mut() {
                *top = Open::ObjectValue;
            }
            step(Scan::EndValue, stack, c)
        }
        Scan::BeginStringOrEmpty | Scan::BeginString => match c {
            c if is_space(c) => Ok(Scan::BeginString),
            b'"' => Ok(Scan::InString),
            _ => Err("looking for beginning of object key string"),
        },
        Scan::EndTop if is_space(c) => Ok(Scan::EndTop),
        Scan::EndTop => Err("after top-level value"),
        Scan::InString => match c {
            b'"' => Ok(Scan::EndValue),
            b'\\' => Ok(Scan::InStringEscape),
            c if c < 0x20 => Err("in string literal"),
            _ => Ok(Scan::InString),
        },
        Scan::InStringEscape => match c {
            b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => Ok(Scan::InString),
            b'u' => Ok(Scan::InStringEscapeU(0)),
            _ => Err("in string escape code"),
        },
        Scan::InStringEscapeU(seen) if c.is_ascii_hexdigit() => Ok(if seen == 3 {
            Scan::InString
        } else {
            Scan::InStringEscapeU(seen + 1)
        }),
        Scan::InStringEscapeU(_) => Err("in \\u hexadecimal character escape"),
        Scan::Negative => match c {
            b'0' => Ok(Scan::Zero),
            b'1'..=b'9' => Ok(Scan::Digits),
            _ => Err("in numeric literal"),
        },
        Scan::Digits if c.is_ascii_digit() => Ok(Scan::Digits),
        Scan::Digits | Scan::Zero => match c {
            b'.' => Ok(Scan::Dot),
            b'e' | b'E' => Ok(Scan::Exponent),
            _ => end_value(stack, c),
        },
        Scan::Dot if c.is_ascii_digit() => Ok(Scan::DotDigits),
        Scan::Dot => Err("after decimal point in numeric literal"),
        Scan::DotDigits => match c {
            c if c.is_ascii_digit() => Ok(Scan::DotDigits),
            b'e' | b'E' => Ok(Scan::Exponent),
            _ => end_value(stack, c),
        },
        Scan::Exponent if c == b'+' || c == b'-' => Ok(Scan::ExponentSign),
        Scan::Exponent | Scan::ExponentSign | Scan::ExponentDigits if c.is_ascii_digit() => {
            Ok(Scan::ExponentDigits)
        }
        Scan::Exponent | Scan::ExponentSign => Err("in exponent of numeric literal"),
        Scan::EndValue | Scan::ExponentDigits => end_value(stack, c),
        Scan::Literal(word, next) if c == word[next] => Ok(if next + 1 == word.len() {
            Scan::EndValue
        } else {
            Scan::Literal(word, next + 1)
        }),
        Scan::Literal(word, next) => Err(literal_error(word, next)),
    }
}

fn literal_error(word: &[u8], next: usize) -> &'static str {
    match (word, next) {
        (b"true", 1) => "in literal true (expecting 'r')",
        (b"true", 2) => "in literal true (expecting 'u')",
        (b"true", _) => "in literal true (expecting 'e')",
        (b"false", 1) => "in literal false (expecting 'a')",
        (b"false", 2) => "in literal false (expecting 'l')",
        (b"false", 3) => "in literal false (expecting 's')",
        (b"false", _) => "in literal false (expecting 'e')",
        (_, 1 | 2) => "in literal null (expecting 'u')",
        _ => "in literal null (expecting 'l')",
    }
}

/// Go's nesting limit, past which it rejects the opening byte.
const NESTING_DEPTH_MAX: usize = 10_000;

fn begin_value(stack: &mut Vec<Open>, c: u8) -> Result<Scan, &'static str> {
    match c {
        c if is_space(c) => Ok(Scan::BeginValue),
        b'{' | b'[' if stack.len() >= NESTING_DEPTH_MAX => Err("exceeded max depth"),
        b'{' => {
            stack.push(Open::ObjectKey);
            Ok(Scan::BeginStringOrEmpty)
        }
        b'[' => {
            stack.push(Open::ArrayValue);
            Ok(Scan::BeginValueOrEmpty)
        }
        b'"' => Ok(Scan::InString),
        b'-' => Ok(Scan::Negative),
        b'0' => Ok(Scan::Zero),
        b'1'..=b'9' => Ok(Scan::Digits),
        b't' => Ok(Scan::Literal(b"true", 1)),
        b'f' => Ok(Scan::Literal(b"false", 1)),
        b'n' => Ok(Scan::Literal(b"null", 1)),
        _ => Err("looking for beginning of value"),
    }
}

fn end_value(stack: &mut Vec<Open>, c: u8) -> Result<Scan, &'static str> {
    let Some(top) = stack.last_mut() else {
        return step(Scan::EndTop, stack, c);
    };
    if is_space(c) {
        return Ok(Scan::EndValue);
    }
    match (*top, c) {
        (Open::ObjectKey, b':') => {
            *top = Open::ObjectValue;
            Ok(Scan::BeginValue)
        }
        (Open::ObjectKey, _) => Err("after object key"),
        (Open::ObjectValue, b',') => {
            *top = Open::ObjectKey;
            Ok(Scan::BeginString)
        }
        (Open::ObjectValue | Open::ArrayValue, b'}' | b']')
            if (c == b'}') == (*top == Open::ObjectValue) =>
        {
            stack.pop();
            Ok(Scan::EndValue)
        }
        (Open::ObjectValue, _) => Err("after object key:value pair"),
        (Open::ArrayValue, b',') => Ok(Scan::BeginValue),
        (Open::ArrayValue, _) => Err("after array element"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn syntax_errors_read_as_gos() {
        // encoding/json's scanner_test.go and what `kubectl patch --raw`
        // users see from kube-apiserver.
        let cases: &[(&str, &str)] = &[
            ("", "unexpected end of JSON input"),
            ("{", "unexpected end of JSON input"),
            ("{\"a\":1", "unexpected end of JSON input"),
            ("x", "invalid character 'x' looking for beginning of value"),
            (
                "{]",
                "invalid character ']' looking for beginning of object key string",
            ),
            ("{\"a\" 1}", "invalid character '1' after object key"),
            (
                "{\"a\":1 \"b\"}",
                "invalid character '\"' after object key:value pair",
            ),
            ("[1 2]", "invalid character '2' after array element"),
            ("{} x", "invalid character 'x' after top-level value"),
            (
                "nul",
                "invalid character ' ' in literal null (expecting 'l')",
            ),
            (
                "nulx",
                "invalid character 'x' in literal null (expecting 'l')",
            ),
            (
                "tru",
                "invalid character ' ' in literal true (expecting 'e')",
            ),
            ("-", "invalid character ' ' in numeric literal"),
            (
                "trUe",
                "invalid character 'U' in literal true (expecting 'u')",
            ),
            ("-x", "invalid character 'x' in numeric literal"),
            (
                "1.x",
                "invalid character 'x' after decimal point in numeric literal",
            ),
            (
                "1ex",
                "invalid character 'x' in exponent of numeric literal",
            ),
            ("\"\\x\"", "invalid character 'x' in string escape code"),
            (
                "\"\\u12x\"",
                "invalid character 'x' in \\u hexadecimal character escape",
            ),
            ("\"\n\"", "invalid character '\\n' in string literal"),
            (
                "'a'",
                "invalid character '\\'' looking for beginning of value",
            ),
            (
                "{\"a\":1,}",
                "invalid character '}' looking for beginning of object key string",
            ),
            (
                "[1,]",
                "invalid character ']' looking for beginning of value",
            ),
        ];
        for (body, message) in cases {
            assert_eq!(
                syntax_error(body.as_bytes()).as_deref(),
                Some(*message),
                "{body:?}"
            );
        }
        for body in [
            "{}",
            " [ ] ",
            "null",
            "-0.5e+10",
            "{\"a\":[1,{\"b\":\"\\u00e9\"}]}",
            "1 ",
        ] {
            assert_eq!(syntax_error(body.as_bytes()), None, "{body:?}");
        }
    }

    #[test]
    fn values_print_as_gos_percent_v() {
        assert_eq!(
            value(&json!({"name": "web", "ports": [80, 443], "x": null, "ok": true})),
            "map[name:web ok:true ports:[80 443] x:<nil>]"
        );
        assert_eq!(value(&json!(0.5)), "0.5");
        assert_eq!(value(&json!(1_000_000.0)), "1e+06");
        assert_eq!(value(&json!(123_456.0)), "123456");
        assert_eq!(value(&json!(1_234_567.0)), "1.234567e+06");
        assert_eq!(value(&json!(0.000_15)), "0.00015");
        assert_eq!(value(&json!(0.000_015)), "1.5e-05");
        assert_eq!(value(&json!(-2.5)), "-2.5");
        assert_eq!(value_as_s(&json!(5)), "%!s(int64=5)");
        assert_eq!(value_as_s(&json!("merge")), "merge");
    }

    #[test]
    fn type_errors_read_as_gos() {
        assert_eq!(
            unmarshal_type_error(&json!([]), "map[string]interface {}"),
            "json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        assert_eq!(
            unmarshal_field_error(&json!(5), "jsonPatchOp", "op", "string"),
            "json: cannot unmarshal number into Go struct field jsonPatchOp.op of type string"
        );
    }
}
