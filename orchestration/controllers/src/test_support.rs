//! What the unit tests of the pure cores share: a fixed "now" and times
//! relative to it, in metav1.Time's text form.

use jiff::{SignedDuration, Timestamp};

/// The tests' "now".
pub fn now() -> Timestamp {
    "2026-12-07T12:00:00Z".parse().expect("a time")
}

/// `seconds` before [`now`], as metav1.Time writes it.
pub fn ago(seconds: i64) -> String {
    (now() - SignedDuration::from_secs(seconds))
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A time given as RFC 3339 text.
pub fn at(text: &str) -> Timestamp {
    text.parse().expect("an RFC 3339 time")
}
