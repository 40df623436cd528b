//! The restart back-off of a container, as the kubelet's
//! `flowcontrol.Backoff` keeps it per container: the first restart is at
//! once, then each waits twice as long after the container's exit as the
//! one before (10 s, 20 s, ... up to 300 s), and a container that ran for
//! longer than twice the cap (10 minutes) starts over at the base.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

/// The back-off's base and cap (the kubelet's are 10 s and 300 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The first wait.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(10),
            max: Duration::from_secs(300),
        }
    }
}

/// One container's back-off: the wait that applies now, and when it was
/// last taken (a start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// How long after an exit the next start waits.
    pub delay: Duration,
    /// When the back-off last let a start through.
    pub last_start: Timestamp,
}

impl BackoffPolicy {
    /// Whether an entry last updated at `last_start` has lapsed for an
    /// event at `at` (more than twice the cap later).
    fn lapsed(&self, entry: &Backoff, at: Timestamp) -> bool {
        at.duration_since(entry.last_start) > signed(self.max * 2)
    }

    /// When a container that exited at `finished_at` may start again:
    /// `None` if it may now.
    pub fn wait_until(
        &self,
        entry: Option<&Backoff>,
        finished_at: Timestamp,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let entry = entry?;
        if self.lapsed(entry, finished_at) {
            return None;
        }
        let until = finished_at.saturating_add(signed(entry.delay)).ok()?;
        (now < until).then_some(until)
    }

    /// The entry after a start at `now` of a container that exited at
    /// `finished_at`: the base for a first or lapsed entry, else twice
    /// the last delay, capped.
    pub fn next(&self, entry: Option<&Backoff>, finished_at: Timestamp, now: Timestamp) -> Backoff {
        let delay = match entry {
            Some(entry) if !self.lapsed(entry, finished_at) => (entry.delay * 2).min(self.max),
            _ => self.base,
        };
        Backoff {
            delay,
            last_start: now,
        }
    }
}

fn signed(duration: Duration) -> SignedDuration {
    SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    #[test]
    fn restarts_at_once_then_doubles_to_the_cap() {
        let policy = BackoffPolicy::default();
        // First exit: no entry, start at once.
        assert_eq!(policy.wait_until(None, at(0), at(0)), None);
        let mut entry = policy.next(None, at(0), at(0));
        assert_eq!(entry.delay, Duration::from_secs(10));
        let mut finished = 1;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let until = policy
                .wait_until(Some(&entry), at(finished), at(finished))
                .unwrap();
            waits.push(until.duration_since(at(finished)).as_secs());
            let started = until.as_second() - at(0).as_second();
            assert_eq!(policy.wait_until(Some(&entry), at(finished), until), None);
            entry = policy.next(Some(&entry), at(finished), at(started));
            finished = started + 1;
        }
        assert_eq!(waits, [10, 20, 40, 80, 160, 300, 300, 300]);
    }

    #[test]
    fn a_long_run_starts_over_at_the_base() {
        let policy = BackoffPolicy::default();
        let entry = Backoff {
            delay: Duration::from_secs(160),
            last_start: at(0),
        };
        // Ran 11 minutes: the entry has lapsed.
        assert_eq!(policy.wait_until(Some(&entry), at(660), at(660)), None);
        assert_eq!(
            policy.next(Some(&entry), at(660), at(660)).delay,
            Duration::from_secs(10)
        );
        // Ran 9 minutes: still backing off.
        assert_eq!(
            policy.wait_until(Some(&entry), at(540), at(540)),
            Some(at(700))
        );
    }
}
