//! Liveness after healing: once every fault is healed, the cluster must
//! accept a write within a bound. Safety checkers accept a cluster that
//! never answers; this one does not.

use crate::Violation;

/// Checks that some probe, each `(call_ns, return_ns, ok)`, succeeded and
/// returned within `bound_ns` of `heal_ns` (when the faults were healed).
pub fn check(heal_ns: u64, probes: &[(u64, u64, bool)], bound_ns: u64) -> Result<(), Violation> {
    let deadline = heal_ns.saturating_add(bound_ns);
    if let Some(&(_, returned, _)) = probes
        .iter()
        .filter(|&&(_, _, ok)| ok)
        .min_by_key(|&&(_, returned, _)| returned)
    {
        if returned <= deadline {
            return Ok(());
        }
        return Err(Violation::new(
            "liveness after healing",
            format!(
                "the first write after healing succeeded {:.3} s after the heal, over the {:.3} s bound",
                (returned - heal_ns.min(returned)) as f64 / 1e9,
                bound_ns as f64 / 1e9
            ),
        ));
    }
    let failed = probes.iter().filter(|p| !p.2).count();
    Err(Violation::new(
        "liveness after healing",
        format!(
            "no write succeeded after healing ({failed} attempts, bound {:.3} s)",
            bound_ns as f64 / 1e9
        ),
    )
    .with_offending(
        probes
            .iter()
            .rev()
            .take(3)
            .map(|(call, ret, ok)| format!("probe [{call} ns, {ret} ns] ok={ok}")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_soon_after_the_heal_passes() {
        assert!(check(100, &[(100, 150, false), (160, 300, true)], 1_000).is_ok());
    }

    #[test]
    fn no_successful_write_fails() {
        let violation = check(100, &[(100, 150, false), (160, 300, false)], 1_000)
            .expect_err("nothing succeeded");
        assert_eq!(violation.property, "liveness after healing");
        assert!(violation.message.contains("2 attempts"));
    }

    #[test]
    fn a_write_that_took_too_long_fails() {
        let violation = check(100, &[(100, 5_000, true)], 1_000).expect_err("over the bound");
        assert!(violation.message.contains("over the"));
    }
}
