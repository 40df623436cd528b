//! `/health` as etcd 3.4 answers it, as plain logic: facts in, verdict
//! and HTTP answer out. The facts come from a [`HealthSource`] (the member:
//! see `member.rs`).
//!
//! etcd 3.4.23 checks, in this order, stopping at the first that fails:
//! no alarm is active (in the whole cluster), a leader is known, and a
//! quorum read (its `QGET`) succeeds within a second. Healthy is
//! `200 {"health":"true"}`; anything else is `503 {"health":"false"}` plus
//! the newline Go's `http.Error` adds. 3.4 gives no reason in the body
//! (3.5 added a `reason` field); keeld logs the reason instead, as etcd does.

use std::future::Future;

use http::header::{HeaderValue, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use http::{Response, StatusCode};

/// etcd's body for a healthy member, byte for byte.
pub const HEALTHY_BODY: &str = r#"{"health":"true"}"#;
/// etcd's body for an unhealthy member, byte for byte (`http.Error`
/// appends the newline).
pub const UNHEALTHY_BODY: &str = "{\"health\":\"false\"}\n";
/// The `Content-Type` etcd sends on `/health` (Go's, for both answers).
pub const PLAIN_TEXT: &str = "text/plain; charset=utf-8";

/// What the verdict is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthFacts {
    /// The active alarms' names (`NOSPACE`, `CORRUPT`), on any member; or
    /// why they could not be read.
    pub alarms: Result<Vec<String>, String>,
    /// Whether the member knows a leader.
    pub has_leader: bool,
    /// The quorum read's outcome, or `None` when it was not tried (it is
    /// only tried once the checks before it passed).
    pub quorum_read: Option<Result<(), String>>,
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// `{"health":"true"}`.
    Healthy,
    /// `{"health":"false"}`, and why.
    Unhealthy(Unhealthy),
}

/// Why a member is unhealthy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unhealthy {
    /// An alarm is active.
    #[error("alarm {} is active", .0.join(", "))]
    Alarm(Vec<String>),
    /// The alarms could not be read.
    #[error("reading the alarms failed: {0}")]
    AlarmsUnreadable(String),
    /// No leader is known.
    #[error("no leader")]
    NoLeader,
    /// The quorum read failed or timed out.
    #[error("a quorum read failed: {0}")]
    QuorumRead(String),
}

/// Whether every check before the quorum read passes, i.e. whether the
/// quorum read is worth trying.
pub fn passes_local_checks(facts: &HealthFacts) -> bool {
    judge(facts) == Health::Healthy
}

/// The verdict, by etcd's checks in etcd's order. A quorum read not tried
/// counts as passed.
pub fn judge(facts: &HealthFacts) -> Health {
    match &facts.alarms {
        Err(error) => return Health::Unhealthy(Unhealthy::AlarmsUnreadable(error.clone())),
        Ok(alarms) if !alarms.is_empty() => {
            return Health::Unhealthy(Unhealthy::Alarm(alarms.clone()))
        }
        Ok(_) => {}
    }
    if !facts.has_leader {
        return Health::Unhealthy(Unhealthy::NoLeader);
    }
    if let Some(Err(error)) = &facts.quorum_read {
        return Health::Unhealthy(Unhealthy::QuorumRead(error.clone()));
    }
    Health::Healthy
}

/// etcd's HTTP answer for `health`.
pub fn answer(health: &Health) -> Response<String> {
    match health {
        Health::Healthy => {
            let mut response = Response::new(HEALTHY_BODY.to_string());
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(PLAIN_TEXT));
            response
        }
        Health::Unhealthy(_) => go_error(StatusCode::SERVICE_UNAVAILABLE, UNHEALTHY_BODY),
    }
}

/// An answer as Go's `http.Error` writes it: plain text, `nosniff`, the
/// body (which ends in a newline).
pub fn go_error(status: StatusCode, body_with_newline: &str) -> Response<String> {
    debug_assert!(
        body_with_newline.ends_with('\n'),
        "http.Error ends the body with a newline"
    );
    let mut response = Response::new(body_with_newline.to_string());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(PLAIN_TEXT));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Where `/health` gets its verdict.
pub trait HealthSource: Send + Sync + 'static {
    /// Gathers the facts (the quorum read only if [`passes_local_checks`])
    /// and judges them.
    fn health(&self) -> impl Future<Output = Health> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy_facts() -> HealthFacts {
        HealthFacts {
            alarms: Ok(Vec::new()),
            has_leader: true,
            quorum_read: Some(Ok(())),
        }
    }

    #[test]
    fn a_member_with_a_leader_no_alarm_and_a_quorum_is_healthy() {
        assert_eq!(judge(&healthy_facts()), Health::Healthy);
        let response = answer(&Health::Healthy);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), r#"{"health":"true"}"#);
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert!(response.headers().get(X_CONTENT_TYPE_OPTIONS).is_none());
    }

    #[test]
    fn unhealthy_answers_are_etcds_503_with_a_newline() {
        let response = answer(&Health::Unhealthy(Unhealthy::NoLeader));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.body(), "{\"health\":\"false\"}\n");
        assert_eq!(
            response.headers()[CONTENT_TYPE],
            "text/plain; charset=utf-8"
        );
        assert_eq!(response.headers()[X_CONTENT_TYPE_OPTIONS], "nosniff");
    }

    #[test]
    fn no_leader_is_unhealthy() {
        let facts = HealthFacts {
            has_leader: false,
            quorum_read: None,
            ..healthy_facts()
        };
        assert!(!passes_local_checks(&facts));
        assert_eq!(judge(&facts), Health::Unhealthy(Unhealthy::NoLeader));
    }

    #[test]
    fn an_alarm_is_checked_before_the_leader() {
        let facts = HealthFacts {
            alarms: Ok(vec!["NOSPACE".into()]),
            has_leader: false,
            quorum_read: None,
        };
        let verdict = judge(&facts);
        assert_eq!(
            verdict,
            Health::Unhealthy(Unhealthy::Alarm(vec!["NOSPACE".into()]))
        );
        let Health::Unhealthy(reason) = verdict else {
            unreachable!()
        };
        assert_eq!(reason.to_string(), "alarm NOSPACE is active");
    }

    #[test]
    fn unreadable_alarms_are_unhealthy() {
        let facts = HealthFacts {
            alarms: Err("disk gone".into()),
            ..healthy_facts()
        };
        assert_eq!(
            judge(&facts),
            Health::Unhealthy(Unhealthy::AlarmsUnreadable("disk gone".into()))
        );
    }

    #[test]
    fn a_failed_quorum_read_is_unhealthy_and_an_untried_one_is_not() {
        let failed = HealthFacts {
            quorum_read: Some(Err("timed out".into())),
            ..healthy_facts()
        };
        assert_eq!(
            judge(&failed),
            Health::Unhealthy(Unhealthy::QuorumRead("timed out".into()))
        );
        let untried = HealthFacts {
            quorum_read: None,
            ..healthy_facts()
        };
        assert!(passes_local_checks(&untried));
    }
}
