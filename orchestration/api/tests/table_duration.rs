//! apimachinery's HumanDuration and ShortHumanDuration
//! (staging/src/k8s.io/apimachinery/pkg/util/duration/duration.go): the
//! boundary of every unit change, the tolerated clock skew, and properties
//! over all durations.

use jiff::SignedDuration;
use keel_api::table::duration::{human_duration, short_human_duration};
use proptest::prelude::*;

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const YEAR: i64 = 365 * DAY;

fn human(seconds: i64) -> String {
    human_duration(SignedDuration::from_secs(seconds))
}

fn short(seconds: i64) -> String {
    short_human_duration(SignedDuration::from_secs(seconds))
}

#[test]
fn human_duration_changes_unit_where_apimachinery_does() {
    // Each pair is the last value before a rule's bound and the bound.
    let cases = [
        (0, "0s"),
        (1, "1s"),
        (70, "70s"),
        (2 * MINUTE - 1, "119s"),
        (2 * MINUTE, "2m"),
        (5 * MINUTE + 10, "5m10s"),
        (10 * MINUTE - 1, "9m59s"),
        (10 * MINUTE, "10m"),
        (10 * MINUTE + 59, "10m"),
        (3 * HOUR - 1, "179m"),
        (3 * HOUR, "3h"),
        (3 * HOUR + MINUTE, "3h1m"),
        (8 * HOUR - 1, "7h59m"),
        (8 * HOUR, "8h"),
        (47 * HOUR + 59 * MINUTE, "47h"),
        (2 * DAY, "2d"),
        (2 * DAY + 3 * HOUR, "2d3h"),
        (8 * DAY - 1, "7d23h"),
        (8 * DAY, "8d"),
        (8 * DAY + 2 * HOUR, "8d"),
        (367 * DAY, "367d"),
        (2 * YEAR - 1, "729d"),
        (2 * YEAR, "2y"),
        (2 * YEAR + DAY + HOUR, "2y1d"),
        (8 * YEAR - 1, "7y364d"),
        (8 * YEAR, "8y"),
        (100 * YEAR, "100y"),
    ];
    for (seconds, expected) in cases {
        assert_eq!(human(seconds), expected, "{seconds}s");
    }
}

#[test]
fn a_little_future_is_now_and_more_is_invalid() {
    // int(d.Seconds()) < -1 is "<invalid>"; up to then it is "0s".
    assert_eq!(human(-1), "0s");
    assert_eq!(human_duration(SignedDuration::from_millis(-1999)), "0s");
    assert_eq!(human(-2), "<invalid>");
    assert_eq!(short(-1), "0s");
    assert_eq!(short(-2), "<invalid>");
    assert_eq!(human_duration(SignedDuration::from_millis(1999)), "1s");
}

#[test]
fn go_durations_saturate_near_292_years() {
    // time.Duration holds int64 nanoseconds; Time.Sub saturates.
    assert_eq!(human_duration(SignedDuration::MAX), "292y");
}

#[test]
fn short_human_duration_keeps_one_unit() {
    let cases = [
        (59, "59s"),
        (MINUTE, "1m"),
        (HOUR - 1, "59m"),
        (HOUR, "1h"),
        (DAY - 1, "23h"),
        (DAY, "1d"),
        (YEAR - 1, "364d"),
        (YEAR, "1y"),
        (3 * YEAR + 200 * DAY, "3y"),
    ];
    for (seconds, expected) in cases {
        assert_eq!(short(seconds), expected, "{seconds}s");
    }
}

/// The seconds a formatted duration stands for ("2d3h" is 183600).
fn seconds_of(formatted: &str) -> i64 {
    let mut total = 0;
    let mut number = 0;
    for character in formatted.chars() {
        if let Some(digit) = character.to_digit(10) {
            number = number * 10 + i64::from(digit);
            continue;
        }
        total += number
            * match character {
                's' => 1,
                'm' => MINUTE,
                'h' => HOUR,
                'd' => DAY,
                'y' => YEAR,
                other => panic!("unexpected unit {other} in {formatted}"),
            };
        number = 0;
    }
    total
}

proptest! {
    #[test]
    fn human_duration_is_one_or_two_units_never_more_than_the_duration(seconds in 0..(300 * YEAR)) {
        let formatted = human(seconds);
        let units = formatted.chars().filter(char::is_ascii_alphabetic).count();
        prop_assert!((1..=2).contains(&units), "{formatted}");
        prop_assert!(formatted.chars().next().is_some_and(|c| c.is_ascii_digit()), "{formatted}");
        prop_assert!(seconds_of(&formatted) <= seconds, "{formatted} > {seconds}s");
    }

    #[test]
    fn human_duration_never_goes_back_as_time_passes(first in 0..(300 * YEAR), step in 0..(3 * YEAR)) {
        let (earlier, later) = (human(first), human(first + step));
        prop_assert!(seconds_of(&earlier) <= seconds_of(&later), "{earlier} then {later}");
    }

    #[test]
    fn short_human_duration_never_goes_back_and_never_overstates(first in 0..(300 * YEAR), step in 0..(3 * YEAR)) {
        let (earlier, later) = (short(first), short(first + step));
        prop_assert!(seconds_of(&earlier) <= first);
        prop_assert!(seconds_of(&earlier) <= seconds_of(&later), "{earlier} then {later}");
    }
}
