//! How the benchmarks show figures: milliseconds, MiB, ratios and medians.

use std::time::Duration;

/// A duration in milliseconds, two decimals.
pub fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

/// A byte count in MiB, one decimal.
pub fn mib(bytes: i64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// The median of `values` (the upper one of an even count; 0 when empty).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// `keeld / etcd` of two figures, two decimals, or "–" when etcd's is 0.
pub fn ratio(etcd: f64, keeld: f64) -> String {
    if etcd == 0.0 {
        "–".to_string()
    } else {
        format!("{:.2}", keeld / etcd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_shown_in_their_units() {
        assert_eq!(ms(Duration::from_micros(1_234)), "1.23 ms");
        assert_eq!(mib(3 << 19), "1.5 MiB");
        assert_eq!(ratio(2.0, 1.0), "0.50");
        assert_eq!(ratio(0.0, 1.0), "–");
    }

    #[test]
    fn the_median_is_the_middle_value() {
        let near = |value: f64, wanted: f64| (value - wanted).abs() < f64::EPSILON;
        assert!(near(median(vec![3.0, 1.0, 2.0]), 2.0));
        assert!(near(median(vec![4.0, 1.0]), 4.0), "the upper of two");
        assert!(near(median(Vec::new()), 0.0));
    }
}
