//! Kubernetes' own wire types, which its JSON writes as one value rather
//! than as the object their message would be:
//!
//! ```text
//!   resource.Quantity    {string: "250m"}              ─► "250m"
//!   meta/v1 Time         {seconds: 1796637600}         ─► "2026-12-07T10:00:00Z"
//!   meta/v1 MicroTime    {seconds, nanos}              ─► "2026-12-07T10:00:00.123456Z"
//!   meta/v1 Duration     {duration: 90000000000}       ─► "1m30s"
//!   intstr.IntOrString   {type: 0, intVal: 8080}       ─► 8080
//!                        {type: 1, strVal: "25%"}      ─► "25%"
//!   runtime.RawExtension {raw: b"{\"a\":1}"}           ─► {"a": 1}
//!   meta/v1 FieldsV1     {Raw: b"{\"f:data\":{}}"}     ─► {"f:data": {}}
//!   meta/v1 Verbs        {items: ["get", "list"]}      ─► ["get", "list"]
//! ```
//!
//! `None` is Go's `null`: the zero time, an empty raw extension; the walk
//! leaves such a field out.

use std::borrow::Cow;

use jiff::Timestamp;
use prost_reflect::{DynamicMessage, Value as Proto};
use serde_json::Value;

/// `resource.Quantity`'s message.
pub(super) const QUANTITY: &str = "k8s.io.apimachinery.pkg.api.resource.Quantity";
/// `metav1.Time`'s message.
pub(super) const TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Time";
/// `metav1.MicroTime`'s message.
pub(super) const MICRO_TIME: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime";
/// `metav1.Duration`'s message.
pub(super) const DURATION: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Duration";
/// `intstr.IntOrString`'s message.
pub(super) const INT_OR_STRING: &str = "k8s.io.apimachinery.pkg.util.intstr.IntOrString";
/// `runtime.RawExtension`'s message.
pub(super) const RAW_EXTENSION: &str = "k8s.io.apimachinery.pkg.runtime.RawExtension";
/// `metav1.FieldsV1`'s message.
pub(super) const FIELDS_V1: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1";
/// `metav1.Verbs`'s message.
pub(super) const VERBS: &str = "k8s.io.apimachinery.pkg.apis.meta.v1.Verbs";

/// Go's zero `time.Time` in Unix seconds (January 1 of year 1, UTC): the
/// instant `IsZero` reports and JSON writes as `null`.
const GO_ZERO_TIME_SECONDS: i64 = -62_135_596_800;

const NANOS_PER_MICRO: i64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SECOND: u64 = 1_000_000_000;
const NANOS_PER_MINUTE: u64 = 60 * NANOS_PER_SECOND;

/// The value of field `number`, if set.
fn field(message: &DynamicMessage, number: u32) -> Option<Cow<'_, Proto>> {
    if message.has_field_by_number(number) {
        message.get_field_by_number(number)
    } else {
        None
    }
}

/// An integer field (0 when unset, as in Go).
fn integer(message: &DynamicMessage, number: u32) -> i64 {
    match field(message, number).as_deref() {
        Some(Proto::I64(value)) => *value,
        Some(Proto::I32(value)) => i64::from(*value),
        _ => 0,
    }
}

/// A Quantity: its string; an unset string is Go's zero quantity, "0".
/// The text is kept as sent (kube-apiserver canonicalizes quantities when
/// it parses them; keel's JSON path keeps what the client wrote, and so
/// does this one).
pub(super) fn quantity(message: &DynamicMessage) -> Value {
    match field(message, 1).as_deref() {
        Some(Proto::String(text)) => Value::String(text.clone()),
        _ => Value::String("0".to_owned()),
    }
}

/// A Time: RFC 3339 to the second (Time's protobuf reader drops nanos,
/// apimachinery/pkg/apis/meta/v1/time_proto.go); an empty message or Go's
/// zero time is `null`.
pub(super) fn time(message: &DynamicMessage) -> Result<Option<Value>, String> {
    if message.fields().next().is_none() {
        return Ok(None);
    }
    let seconds = integer(message, 1);
    if seconds == GO_ZERO_TIME_SECONDS {
        return Ok(None);
    }
    let stamp = timestamp(seconds, 0, "Time")?;
    Ok(Some(Value::String(
        stamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )))
}

/// A MicroTime: RFC 3339 with six fractional digits, nanos cut to
/// microseconds (micro_time_proto.go); empty or Go's zero time is `null`.
pub(super) fn micro_time(message: &DynamicMessage) -> Result<Option<Value>, String> {
    if message.fields().next().is_none() {
        return Ok(None);
    }
    let seconds = integer(message, 1);
    let nanos = integer(message, 2);
    let nanos = nanos - nanos % NANOS_PER_MICRO;
    if seconds == GO_ZERO_TIME_SECONDS && nanos == 0 {
        return Ok(None);
    }
    let stamp = timestamp(seconds, nanos, "MicroTime")?;
    let micros = stamp.subsec_nanosecond() / 1_000;
    Ok(Some(Value::String(format!(
        "{}.{micros:06}Z",
        stamp.strftime("%Y-%m-%dT%H:%M:%S")
    ))))
}

/// The instant `seconds` + `nanos` after the Unix epoch (nanos may be out
/// of range: Go's `time.Unix` carries them into seconds), within the years
/// RFC 3339 can write.
fn timestamp(seconds: i64, nanos: i64, type_name: &str) -> Result<Timestamp, String> {
    let total = i128::from(seconds) * i128::from(NANOS_PER_SECOND) + i128::from(nanos);
    let out_of_range = || format!("{type_name}.MarshalJSON: year outside of range [0,9999]");
    let stamp = Timestamp::from_nanosecond(total).map_err(|_| out_of_range())?;
    let year = stamp.to_zoned(jiff::tz::TimeZone::UTC).year();
    if (0..=9999).contains(&year) {
        Ok(stamp)
    } else {
        Err(out_of_range())
    }
}

/// A Duration: Go's `time.Duration` text ("1h0m0s", "1.5s", "300ms").
pub(super) fn duration(message: &DynamicMessage) -> Value {
    Value::String(go_duration(integer(message, 1)))
}

/// `time.Duration.String`: hours, minutes and seconds above a second
/// ("72h3m0.5s"), one unit below ("1.5ms", "2µs", "40ns"), "0s" for zero.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".to_owned();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let magnitude = nanos.unsigned_abs();
    let text = if magnitude < 1_000 {
        format!("{magnitude}ns")
    } else if magnitude < NANOS_PER_MILLI {
        format!("{}µs", decimal(magnitude, 3))
    } else if magnitude < NANOS_PER_SECOND {
        format!("{}ms", decimal(magnitude, 6))
    } else {
        let seconds = decimal(magnitude % NANOS_PER_MINUTE, 9);
        let minutes_total = magnitude / NANOS_PER_MINUTE;
        let (hours, minutes) = (minutes_total / 60, minutes_total % 60);
        if hours > 0 {
            format!("{hours}h{minutes}m{seconds}s")
        } else if minutes > 0 {
            format!("{minutes}m{seconds}s")
        } else {
            format!("{seconds}s")
        }
    };
    format!("{sign}{text}")
}

/// `value` / 10^`digits` in decimal, trailing zeros of the fraction cut
/// (and the point with them when nothing is left).
fn decimal(value: u64, digits: u32) -> String {
    let scale = 10_u64.pow(digits);
    let (whole, fraction) = (value / scale, value % scale);
    if fraction == 0 {
        return whole.to_string();
    }
    let fraction = format!("{fraction:0width$}", width = digits as usize);
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// An IntOrString: a number for type 0, a string for type 1
/// (apimachinery/pkg/util/intstr/intstr.go `MarshalJSON`).
pub(super) fn int_or_string(message: &DynamicMessage) -> Result<Value, String> {
    match integer(message, 1) {
        0 => Ok(Value::from(integer(message, 2))),
        1 => match field(message, 3).as_deref() {
            Some(Proto::String(text)) => Ok(Value::String(text.clone())),
            _ => Ok(Value::String(String::new())),
        },
        _ => Err("impossible IntOrString.Type".to_owned()),
    }
}

/// A RawExtension or FieldsV1: the JSON its raw bytes hold; none is
/// `null`.
pub(super) fn raw_json(message: &DynamicMessage, type_name: &str) -> Result<Option<Value>, String> {
    let Some(Proto::Bytes(raw)) = field(message, 1).as_deref().cloned() else {
        return Ok(None);
    };
    if raw.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(&raw)
        .map(Some)
        .map_err(|error| format!("json: error calling MarshalJSON for type {type_name}: {error}"))
}

/// Verbs: the list of its items.
pub(super) fn verbs(message: &DynamicMessage) -> Value {
    let items = match field(message, 1).as_deref() {
        Some(Proto::List(items)) => items
            .iter()
            .filter_map(Proto::as_str)
            .map(|verb| Value::String(verb.to_owned()))
            .collect(),
        _ => Vec::new(),
    };
    Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::go_duration;

    #[test]
    fn durations_read_as_go_prints_them() {
        // Examples from Go's time package documentation and tests.
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(1), "1ns");
        assert_eq!(go_duration(1_100), "1.1µs");
        assert_eq!(go_duration(2_200_000), "2.2ms");
        assert_eq!(go_duration(3_300_000_000), "3.3s");
        assert_eq!(go_duration(4 * 60 * 1_000_000_000 + 5_000_000_000), "4m5s");
        assert_eq!(
            go_duration(4 * 60 * 1_000_000_000 + 5_001_000_000),
            "4m5.001s"
        );
        assert_eq!(go_duration(3_600 * 1_000_000_000), "1h0m0s");
        assert_eq!(
            go_duration(5 * 3_600 * 1_000_000_000 + 6 * 60 * 1_000_000_000 + 7_001_000_000),
            "5h6m7.001s"
        );
        assert_eq!(go_duration(-1_500_000_000), "-1.5s");
    }
}
