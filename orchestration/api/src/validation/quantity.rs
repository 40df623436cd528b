//! Resource quantities ("500m", "1Gi", "2") as far as validation needs
//! them: read, compared, and printed in canonical form as
//! `resource.Quantity.String()` prints them
//! (`staging/src/k8s.io/apimachinery/pkg/api/resource/quantity.go`).
//!
//! ```text
//!   "1000m" ─► 1            "0.5" ─► 500m       "1024Mi" ─► 1Gi
//!   "1500"  ─► 1500         "1e3" ─► 1e3        "1.5Gi"  ─► 1536Mi
//! ```
//!
//! A quantity is kept exactly as a count of nano-units (values finer than
//! a nano-unit round up, as Kubernetes rounds them), which covers every
//! quantity up to the exa range.

/// How a quantity was written, which decides how it is printed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// Binary suffixes (Ki, Mi, ...).
    BinarySi,
    /// Decimal suffixes (m, k, M, ...) or none.
    DecimalSi,
    /// An exponent (1e3).
    DecimalExponent,
}

/// A parsed quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

const NANOS_PER_UNIT: i128 = 1_000_000_000;

fn pow10(exponent: u32) -> i128 {
    10_i128.pow(exponent)
}

impl Quantity {
    /// Reads `text` as Kubernetes' `ParseQuantity` does; `None` when it is
    /// no quantity.
    pub fn parse(text: &str) -> Option<Self> {
        let (negative, rest) = match text.as_bytes().first()? {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_end);
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
            return None;
        }
        // The number as digits / 10^scale.
        let digits = format!("{whole}{fraction}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > 30 {
            return None;
        }
        let mantissa: i128 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        let scale = fraction.len() as i32;
        let (format, multiplier, exponent10) = match suffix {
            "Ki" => (Format::BinarySi, 1_i128 << 10, 0),
            "Mi" => (Format::BinarySi, 1 << 20, 0),
            "Gi" => (Format::BinarySi, 1 << 30, 0),
            "Ti" => (Format::BinarySi, 1 << 40, 0),
            "Pi" => (Format::BinarySi, 1 << 50, 0),
            "Ei" => (Format::BinarySi, 1 << 60, 0),
            "n" => (Format::DecimalSi, 1, -9),
            "u" => (Format::DecimalSi, 1, -6),
            "m" => (Format::DecimalSi, 1, -3),
            "" => (Format::DecimalSi, 1, 0),
            "k" => (Format::DecimalSi, 1, 3),
            "M" => (Format::DecimalSi, 1, 6),
            "G" => (Format::DecimalSi, 1, 9),
            "T" => (Format::DecimalSi, 1, 12),
            "P" => (Format::DecimalSi, 1, 15),
            "E" => (Format::DecimalSi, 1, 18),
            exponent if exponent.starts_with(['e', 'E']) => {
                let value: i32 = exponent[1..].parse().ok()?;
                (Format::DecimalExponent, 1, value)
            }
            _ => return None,
        };
        // nanos = mantissa * multiplier * 10^(exponent10 + 9 - scale), rounded up.
        let shift = exponent10 + 9 - scale;
        let scaled = mantissa.checked_mul(multiplier)?;
        let nanos = if shift >= 0 {
            scaled.checked_mul(pow10(u32::try_from(shift).ok()?))?
        } else {
            let divisor = pow10(u32::try_from(-shift).ok().filter(|s| *s < 38)?);
            let quotient = scaled / divisor;
            if scaled % divisor == 0 {
                quotient
            } else {
                quotient + 1
            }
        };
        Some(Self {
            nanos: if negative { -nanos } else { nanos },
            format,
        })
    }

    /// The quantity in thousandths of a unit, rounded up, as
    /// `Quantity.MilliValue()` gives it (the scheduler counts cpu so).
    pub fn milli_value(self) -> i64 {
        saturate(ceil_div(self.nanos, NANOS_PER_UNIT / 1000))
    }

    /// The quantity in whole units, rounded up, as `Quantity.Value()`
    /// gives it (the scheduler counts memory and storage so).
    pub fn value(self) -> i64 {
        saturate(ceil_div(self.nanos, NANOS_PER_UNIT))
    }

    /// Whether the quantity is below zero.
    pub fn is_negative(self) -> bool {
        self.nanos < 0
    }

    /// Whether the quantity is a whole number.
    pub fn is_whole(self) -> bool {
        self.nanos % NANOS_PER_UNIT == 0
    }

    /// The quantity in canonical form (`Quantity.String()`).
    pub fn canonical(self) -> String {
        let whole = self.is_whole();
        let units = self.nanos / NANOS_PER_UNIT;
        if self.format == Format::BinarySi && whole && units.abs() >= 1024 {
            let mut number = units;
            let mut power = 0;
            while number % 1024 == 0 && power < 6 {
                number /= 1024;
                power += 1;
            }
            let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
            return format!("{number}{suffix}");
        }
        // Decimal: nanos * 10^-9 with the exponent a multiple of three.
        if self.nanos == 0 {
            return "0".to_owned();
        }
        let mut number = self.nanos;
        let mut exponent: i32 = -9;
        while number % 10 == 0 {
            number /= 10;
            exponent += 1;
        }
        while exponent.rem_euclid(3) != 0 {
            number *= 10;
            exponent -= 1;
        }
        if self.format == Format::DecimalExponent {
            return if exponent == 0 {
                number.to_string()
            } else {
                format!("{number}e{exponent}")
            };
        }
        let suffix = match exponent {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            _ => return format!("{number}e{exponent}"),
        };
        format!("{number}{suffix}")
    }
}

/// `numerator / divisor` rounded towards positive infinity.
fn ceil_div(numerator: i128, divisor: i128) -> i128 {
    let quotient = numerator / divisor;
    if numerator % divisor > 0 {
        quotient + 1
    } else {
        quotient
    }
}

/// `value` clamped into an i64, as Kubernetes' int64 accessors clamp.
fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.nanos.cmp(&other.nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(text: &str) -> String {
        Quantity::parse(text).expect(text).canonical()
    }

    #[test]
    fn canonical_forms_are_kubernetes() {
        // resource/quantity_test.go's table, in part.
        assert_eq!(canonical("1000m"), "1");
        assert_eq!(canonical("0.5"), "500m");
        assert_eq!(canonical("500m"), "500m");
        assert_eq!(canonical("1024Mi"), "1Gi");
        assert_eq!(canonical("1.5Gi"), "1536Mi");
        assert_eq!(canonical("1500"), "1500");
        assert_eq!(canonical("1000"), "1k");
        assert_eq!(canonical("100Mi"), "100Mi");
        assert_eq!(canonical("1e3"), "1e3");
        assert_eq!(canonical("512"), "512");
        assert_eq!(canonical("0"), "0");
        assert_eq!(canonical("-1"), "-1");
        assert_eq!(canonical("0.1m"), "100u");
        assert!(Quantity::parse("abc").is_none());
        assert!(Quantity::parse("1Gb").is_none());
        assert!(Quantity::parse("2").expect("2") > Quantity::parse("1500m").expect("q"));
    }

    #[test]
    fn milli_value_and_value_round_up() {
        // resource/quantity_test.go: MilliValue and Value round up.
        let q = |text: &str| Quantity::parse(text).expect(text);
        assert_eq!(q("1").milli_value(), 1000);
        assert_eq!(q("100m").milli_value(), 100);
        assert_eq!(q("0.1m").milli_value(), 1);
        assert_eq!(q("1.5").value(), 2);
        assert_eq!(q("100m").value(), 1);
        assert_eq!(q("1Gi").value(), 1 << 30);
        assert_eq!(q("200Mi").value(), 200 * 1024 * 1024);
        assert_eq!(q("0").value(), 0);
    }
}
