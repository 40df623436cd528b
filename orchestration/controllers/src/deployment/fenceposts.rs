//! maxSurge and maxUnavailable as numbers of pods: an integer, or a
//! percentage of the desired replicas that rounds up for the surge and
//! down for unavailability (`intstr.GetScaledValueFromIntOrPercent` and
//! `ResolveFenceposts` in `pkg/controller/deployment/util/deployment_util.go`).
//!
//! ```text
//!   25% / 25% of  1 replica  ─► surge 1, unavailable 0
//!   25% / 25% of  4 replicas ─► surge 1, unavailable 1
//!   25% / 25% of 10 replicas ─► surge 3, unavailable 2
//!   both resolve to 0 ──────────► unavailable 1 (validation refuses an explicit 0/0)
//! ```

use serde_json::Value;

use super::spec::{is_rolling_update, replicas};

/// Why an int-or-percent value could not be read (validation rejects
/// these before they are stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntOrPercentError {
    /// A string without a `%`.
    #[error("invalid type: string is not a percentage")]
    NotAPercentage,
    /// A percentage whose number does not parse.
    #[error("invalid value {0:?}")]
    InvalidValue(String),
    /// Neither an integer nor a string.
    #[error("invalid type: neither int nor percentage")]
    InvalidType,
}

/// `value` (an integer, or a string such as `"25%"`) as a number of pods
/// out of `total`, percentages rounded up or down.
pub fn scaled_value(value: &Value, total: i64, round_up: bool) -> Result<i64, IntOrPercentError> {
    if let Some(number) = value.as_i64() {
        return Ok(number);
    }
    let text = value.as_str().ok_or(IntOrPercentError::InvalidType)?;
    let number = text
        .strip_suffix('%')
        .ok_or(IntOrPercentError::NotAPercentage)?;
    let percent: i64 = number
        .parse()
        .map_err(|_| IntOrPercentError::InvalidValue(text.to_owned()))?;
    let scaled = percent * total;
    Ok(if round_up {
        -(-scaled).div_euclid(100)
    } else {
        scaled.div_euclid(100)
    })
}

/// maxSurge and maxUnavailable of `desired` replicas, resolved together: a
/// missing value is 0, and when both come to 0 unavailability becomes 1
/// (the rollout must be able to move even if surge pods cannot be made).
pub fn resolve_fenceposts(
    max_surge: Option<&Value>,
    max_unavailable: Option<&Value>,
    desired: i64,
) -> Result<(i64, i64), IntOrPercentError> {
    let zero = Value::from(0);
    let surge = scaled_value(max_surge.unwrap_or(&zero), desired, true)?;
    let mut unavailable = scaled_value(max_unavailable.unwrap_or(&zero), desired, false)?;
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    Ok((surge, unavailable))
}

fn fenceposts_of(deployment: &Value) -> (i64, i64) {
    let rolling = deployment.pointer("/spec/strategy/rollingUpdate");
    let field = |name: &str| rolling.and_then(|r| r.get(name)).filter(|v| !v.is_null());
    // An unreadable value was refused by validation; read it as 0.
    resolve_fenceposts(
        field("maxSurge"),
        field("maxUnavailable"),
        replicas(deployment),
    )
    .unwrap_or((0, 1))
}

/// The pods a rolling Deployment may run above its replicas (0 for
/// Recreate) (`MaxSurge`).
pub fn max_surge(deployment: &Value) -> i64 {
    if !is_rolling_update(deployment) {
        return 0;
    }
    fenceposts_of(deployment).0
}

/// The pods a rolling Deployment may have unavailable, at most its
/// replicas (0 for Recreate or no replicas) (`MaxUnavailable`).
pub fn max_unavailable(deployment: &Value) -> i64 {
    let desired = replicas(deployment);
    if !is_rolling_update(deployment) || desired == 0 {
        return 0;
    }
    fenceposts_of(deployment).1.min(desired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn percentages_round_up_for_surge_and_down_for_unavailability() {
        let cases = [
            // (surge, unavailable, replicas) -> (surge, unavailable)
            (json!("25%"), json!("25%"), 1, (1, 0)),
            (json!("25%"), json!("25%"), 4, (1, 1)),
            (json!("25%"), json!("25%"), 10, (3, 2)),
            (json!("0%"), json!("25%"), 1, (0, 1)),
            (json!(0), json!("1%"), 2, (0, 1)),
            (json!("1%"), json!("25%"), 2, (1, 0)),
            (json!(3), json!(2), 10, (3, 2)),
            (json!("50%"), json!("50%"), 3, (2, 1)),
            (json!("100%"), json!(0), 10, (10, 0)),
            (json!(0), json!(0), 10, (0, 1)),
        ];
        for (surge, unavailable, replicas, expected) in cases {
            assert_eq!(
                resolve_fenceposts(Some(&surge), Some(&unavailable), replicas),
                Ok(expected),
                "{surge}/{unavailable} of {replicas}"
            );
        }
    }

    #[test]
    fn a_string_must_be_a_percentage() {
        assert_eq!(
            scaled_value(&json!("5"), 10, true),
            Err(IntOrPercentError::NotAPercentage)
        );
        assert_eq!(
            scaled_value(&json!("x%"), 10, true),
            Err(IntOrPercentError::InvalidValue("x%".into()))
        );
    }

    #[test]
    fn the_deployment_helpers_follow_the_strategy() {
        let rolling = json!({"spec": {"replicas": 10, "strategy": {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}});
        assert_eq!((max_surge(&rolling), max_unavailable(&rolling)), (3, 2));
        let recreate = json!({"spec": {"replicas": 10, "strategy": {"type": "Recreate"}}});
        assert_eq!((max_surge(&recreate), max_unavailable(&recreate)), (0, 0));
        let none = json!({"spec": {"replicas": 0, "strategy": {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 5}}}});
        assert_eq!(max_unavailable(&none), 0);
        let capped = json!({"spec": {"replicas": 2, "strategy": {"type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 5}}}});
        assert_eq!(max_unavailable(&capped), 2);
    }
}
