//! Durations as `kubectl get` shows them ("45s", "5m10s", "3h", "2d3h"):
//! apimachinery's `duration.HumanDuration` (AGE, DURATION, "5m ago") and
//! `duration.ShortHumanDuration`, rule for rule
//! (staging/src/k8s.io/apimachinery/pkg/util/duration/duration.go).
//!
//! ```text
//!   HumanDuration        < 2m: "Ns"   < 10m: "NmSs"   < 3h: "Nm"
//!                        < 8h: "NhMm" < 48h: "Nh"     < 8d: "NdHh"
//!                        < 2y: "Nd"   < 8y: "NyDd"    else "Ny"
//!   ShortHumanDuration   < 1m: "Ns"   < 1h: "Nm"      < 1d: "Nh"
//!                        < 1y: "Nd"   else "Ny"
//!   both: up to 2s in the future is "0s" (clock skew); further is "<invalid>"
//! ```
//!
//! Durations are Go's `time.Duration`: whole nanoseconds in an `i64`, so a
//! longer one saturates at about 292 years, as Go's `Time.Sub` does.

use jiff::SignedDuration;

const NANOS_PER_SECOND: i64 = 1_000_000_000;
const SECONDS_PER_MINUTE: i64 = 60;
const SECONDS_PER_HOUR: i64 = 60 * SECONDS_PER_MINUTE;
const HOURS_PER_DAY: i64 = 24;
const DAYS_PER_YEAR: i64 = 365;

/// `duration` as Go's `time.Duration`: nanoseconds, saturating at the
/// bounds of an `i64`.
fn go_nanos(duration: SignedDuration) -> i64 {
    let nanos = duration.as_nanos();
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

/// Whole seconds toward zero, as Go's `int(d.Seconds())`; `None` for
/// "<invalid>" (more than a second and a bit in the future) and `Some(0)`
/// for the tolerated skew just before it.
fn whole_seconds(nanos: i64) -> Option<i64> {
    let seconds = nanos / NANOS_PER_SECOND;
    if seconds < -1 {
        None
    } else {
        Some(seconds.max(0))
    }
}

/// apimachinery's `HumanDuration`: about two or three significant figures.
pub fn human_duration(duration: SignedDuration) -> String {
    let nanos = go_nanos(duration);
    let Some(seconds) = whole_seconds(nanos) else {
        return "<invalid>".to_owned();
    };
    if nanos < 0 {
        return "0s".to_owned();
    }
    if seconds < 2 * SECONDS_PER_MINUTE {
        return format!("{seconds}s");
    }
    let minutes = seconds / SECONDS_PER_MINUTE;
    if minutes < 10 {
        return with_remainder(minutes, "m", seconds % SECONDS_PER_MINUTE, "s");
    }
    if minutes < 3 * 60 {
        return format!("{minutes}m");
    }
    let hours = seconds / SECONDS_PER_HOUR;
    if hours < 8 {
        return with_remainder(hours, "h", minutes % 60, "m");
    }
    if hours < 2 * HOURS_PER_DAY {
        return format!("{hours}h");
    }
    let days = hours / HOURS_PER_DAY;
    if hours < 8 * HOURS_PER_DAY {
        return with_remainder(days, "d", hours % HOURS_PER_DAY, "h");
    }
    if hours < 2 * DAYS_PER_YEAR * HOURS_PER_DAY {
        return format!("{days}d");
    }
    let years = days / DAYS_PER_YEAR;
    if hours < 8 * DAYS_PER_YEAR * HOURS_PER_DAY {
        return with_remainder(years, "y", days % DAYS_PER_YEAR, "d");
    }
    format!("{years}y")
}

/// apimachinery's `ShortHumanDuration`: one unit only.
pub fn short_human_duration(duration: SignedDuration) -> String {
    let nanos = go_nanos(duration);
    let Some(seconds) = whole_seconds(nanos) else {
        return "<invalid>".to_owned();
    };
    if nanos < 0 {
        return "0s".to_owned();
    }
    if seconds < SECONDS_PER_MINUTE {
        return format!("{seconds}s");
    }
    let minutes = seconds / SECONDS_PER_MINUTE;
    if minutes < 60 {
        return format!("{minutes}m");
    }
    let hours = seconds / SECONDS_PER_HOUR;
    if hours < HOURS_PER_DAY {
        return format!("{hours}h");
    }
    if hours < HOURS_PER_DAY * DAYS_PER_YEAR {
        return format!("{}d", hours / HOURS_PER_DAY);
    }
    format!("{}y", hours / HOURS_PER_DAY / DAYS_PER_YEAR)
}

/// "5m10s", or "5m" when the smaller unit is zero.
fn with_remainder(major: i64, major_unit: &str, minor: i64, minor_unit: &str) -> String {
    if minor == 0 {
        format!("{major}{major_unit}")
    } else {
        format!("{major}{major_unit}{minor}{minor_unit}")
    }
}
