//! Kubernetes resource quantities ("100m", "0.5", "128Mi", "1G", "1e3"), kept in
//! thousandths so CPU millis and byte counts are both exact.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i128);

impl Quantity {
    pub const ZERO: Quantity = Quantity(0);
    pub const ONE: Quantity = Quantity(1000);

    pub fn from_milli(m: i128) -> Quantity {
        Quantity(m)
    }

    pub fn parse(s: &str) -> Result<Quantity, String> {
        let s = s.trim();
        let bad = || format!("{s:?} is not a quantity (e.g. 500m, 2, 128Mi, 1G)");
        let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(s.len());
        let (num, suffix) = s.split_at(end);
        if num.is_empty() || num.starts_with('-') {
            return Err(bad());
        }
        let num = num.strip_prefix('+').unwrap_or(num);
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() && frac.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        // The value as digits / 10^frac.len().
        let digits: i128 = format!("{int}{frac}").parse().map_err(|_| bad())?;
        let scale = frac.len() as u32;
        // (multiplier numerator, power of ten) of the suffix, times 1000 for thousandths.
        let (mul, exp10): (i128, i32) = match suffix {
            "" => (1, 0),
            "n" => (1, -9),
            "u" => (1, -6),
            "m" => (1, -3),
            "k" => (1, 3),
            "M" => (1, 6),
            "G" => (1, 9),
            "T" => (1, 12),
            "P" => (1, 15),
            "E" => (1, 18),
            "Ki" => (1 << 10, 0),
            "Mi" => (1 << 20, 0),
            "Gi" => (1 << 30, 0),
            "Ti" => (1 << 40, 0),
            "Pi" => (1 << 50, 0),
            "Ei" => (1 << 60, 0),
            e if e.starts_with(['e', 'E']) => (1, e[1..].parse::<i32>().map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        let exp = exp10 + 3 - scale as i32;
        let v = digits.checked_mul(mul).ok_or_else(bad)?;
        let v = if exp >= 0 {
            v.checked_mul(10i128.checked_pow(exp as u32).ok_or_else(bad)?).ok_or_else(bad)?
        } else {
            // Rounded up, as Kubernetes rounds a quantity up to its smallest unit.
            let d = 10i128.checked_pow((-exp) as u32).ok_or_else(bad)?;
            (v + d - 1) / d
        };
        Ok(Quantity(v))
    }

    /// Thousandths (CPU millis).
    pub fn milli(self) -> i128 {
        self.0
    }

    /// Whole units, rounded up (bytes).
    pub fn units(self) -> i128 {
        (self.0 + 999) / 1000
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn quantities() {
        assert_eq!(Quantity::parse("100m").unwrap().milli(), 100);
        assert_eq!(Quantity::parse("0.5").unwrap().milli(), 500);
        assert_eq!(Quantity::parse("2").unwrap().milli(), 2000);
        assert_eq!(Quantity::parse("128Mi").unwrap().units(), 128 << 20);
        assert_eq!(Quantity::parse("1G").unwrap().units(), 1_000_000_000);
        assert_eq!(Quantity::parse("1e3").unwrap().units(), 1000);
        assert_eq!(Quantity::parse("1.5Gi").unwrap().units(), 3 << 29);
        assert_eq!(Quantity::parse("1n").unwrap().milli(), 1);
        for bad in ["", "x", "-1", "1Q", "1.2.3", "Mi"] {
            assert!(Quantity::parse(bad).is_err(), "{bad}");
        }
    }
}
