//! A probe's verdict from its results (the kubelet's prober worker):
//! `successThreshold` successes in a row make it pass, `failureThreshold`
//! failures in a row make it fail; until either, the last verdict stands.

use std::time::Duration;

use serde_json::Value;

/// Which probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// `startupProbe`: until it passes, the others do not run; failing
    /// kills the container.
    Startup,
    /// `livenessProbe`: failing kills the container.
    Liveness,
    /// `readinessProbe`: the container's readiness.
    Readiness,
}

impl ProbeKind {
    /// The field of a container that holds this probe.
    pub fn field(self) -> &'static str {
        match self {
            ProbeKind::Startup => "startupProbe",
            ProbeKind::Liveness => "livenessProbe",
            ProbeKind::Readiness => "readinessProbe",
        }
    }

    /// How the kubelet names it in events ("Liveness probe failed: ...").
    pub fn title(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }
}

/// A probe's timing and thresholds, Kubernetes' defaults filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `initialDelaySeconds` (0).
    pub initial_delay: Duration,
    /// `periodSeconds` (10).
    pub period: Duration,
    /// `timeoutSeconds` (1).
    pub timeout: Duration,
    /// `successThreshold` (1; always 1 for liveness and startup).
    pub success_threshold: u32,
    /// `failureThreshold` (3).
    pub failure_threshold: u32,
}

impl Timing {
    /// The timing of `probe` (a container's probe object).
    pub fn of(probe: &Value) -> Self {
        let field =
            |name: &str, default: u64| probe.get(name).and_then(Value::as_u64).unwrap_or(default);
        Self {
            initial_delay: Duration::from_secs(field("initialDelaySeconds", 0)),
            period: Duration::from_secs(field("periodSeconds", 10).max(1)),
            timeout: Duration::from_secs(field("timeoutSeconds", 1).max(1)),
            success_threshold: u32::try_from(field("successThreshold", 1).max(1)).unwrap_or(1),
            failure_threshold: u32::try_from(field("failureThreshold", 3).max(1)).unwrap_or(3),
        }
    }
}

/// A probe's running tally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    successes: u32,
    failures: u32,
    verdict: Option<bool>,
}

impl Tally {
    /// Counts one result; answers the verdict when it changed.
    pub fn record(&mut self, ok: bool, timing: &Timing) -> Option<bool> {
        if ok {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
        } else {
            self.successes = 0;
            self.failures = self.failures.saturating_add(1);
        }
        let verdict = if self.successes >= timing.success_threshold {
            Some(true)
        } else if self.failures >= timing.failure_threshold {
            Some(false)
        } else {
            self.verdict
        };
        let changed = verdict != self.verdict;
        self.verdict = verdict;
        if changed {
            verdict
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thresholds_decide_the_verdict() {
        let timing = Timing::of(&json!({"successThreshold": 2, "failureThreshold": 3}));
        assert_eq!(timing.period, Duration::from_secs(10));
        let mut tally = Tally::default();
        assert_eq!(tally.record(true, &timing), None);
        assert_eq!(tally.record(true, &timing), Some(true));
        assert_eq!(tally.record(true, &timing), None);
        assert_eq!(tally.record(false, &timing), None);
        assert_eq!(tally.record(false, &timing), None);
        assert_eq!(tally.record(true, &timing), None);
        assert_eq!(tally.record(false, &timing), None);
        assert_eq!(tally.record(false, &timing), None);
        assert_eq!(tally.record(false, &timing), Some(false));
        assert_eq!(tally.record(true, &timing), None);
        assert_eq!(tally.record(true, &timing), Some(true));
    }
}
