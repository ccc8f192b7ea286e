//! Canonical JSON numbers: the one text each number of a stored body is written as.
//!
//! serde_json is built with `arbitrary_precision`, so a parsed `Number` keeps the text it
//! was written with (serde_json only spells an exponent `e` and gives it a sign: `1E5` is
//! held as `1e+5`). This module turns that text into the canonical form that body bytes,
//! and so body ids and revision ids, are made of (format-spec/objects.md, "Numbers"):
//!
//! - **Integer syntax** (no `.`, `e` or `E`) keeps its digits exactly, whatever its size.
//!   The one exception is `-0`, written `-0.0` (the double negative zero), as settee has
//!   always stored it.
//! - **Any other number** becomes the double nearest its decimal value (correctly rounded),
//!   written as serde_json writes an `f64`: the shortest digits that read back as the same
//!   double, fixed notation for decimal exponents -5 to 15 (`100000.0`, `0.00001`),
//!   otherwise `d[.ddd]e±x` (`1e+22`, `1e-6`).
//! - A number whose nearest double is infinite (`1e400`) is refused ([`OutOfRange`]).
//!
//! Invariants:
//! 1. `canonicalize` is idempotent: a canonical number is left as it is, and unchanged in
//!    memory (no allocation), so checking an already canonical document is cheap.
//! 2. Canonical text reads back as the same value: integers exactly, and floats as the same
//!    double, bit for bit (negative zero included).
//! 3. Every number settee stored before this rule existed is canonical under it, and every
//!    number whose text was stored unchanged before is stored unchanged now: the rule
//!    differs from the old one only for integers beyond the 64-bit range (which were
//!    rounded to doubles) and for decimals the old parser rounded to a neighbouring double.
//!    Bodies, and so revision ids, of such documents are stable.

use serde_json::{Number, Value};

/// A number too large in magnitude for a double (its nearest double is infinite).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("number {0} is out of range (beyond ±1.7976931348623157e+308, the largest double)")]
pub struct OutOfRange(pub String);

/// Whether `text` (a JSON number) is written in integer syntax.
fn is_integer_syntax(text: &str) -> bool {
    !text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'))
}

/// The canonical text of a number with non-integer syntax, or `None` when `text` is it
/// already.
fn canonical_float(text: &str) -> Result<Option<Number>, OutOfRange> {
    // Rust's parser rounds correctly (to nearest, ties to even) for any number of digits.
    let value: f64 = text.parse().map_err(|_| OutOfRange(text.to_owned()))?;
    if !value.is_finite() {
        return Err(OutOfRange(text.to_owned()));
    }
    let mut buffer = zmij::Buffer::new();
    if buffer.format_finite(value) == text {
        return Ok(None);
    }
    // serde_json formats the double with the same formatter.
    Ok(Number::from_f64(value))
}

/// Rewrite `n` in canonical form (see the module doc).
pub fn canonicalize(n: &mut Number) -> Result<(), OutOfRange> {
    let text = n.as_str();
    let replacement = if is_integer_syntax(text) {
        if text != "-0" {
            return Ok(());
        }
        Number::from_f64(-0.0)
    } else {
        canonical_float(text)?
    };
    if let Some(canonical) = replacement {
        *n = canonical;
    }
    Ok(())
}

/// Rewrite every number in `value` (at any depth) in canonical form.
pub fn canonicalize_value(value: &mut Value) -> Result<(), OutOfRange> {
    match value {
        Value::Number(n) => canonicalize(n),
        Value::Array(items) => items.iter_mut().try_for_each(canonicalize_value),
        Value::Object(map) => map.values_mut().try_for_each(canonicalize_value),
        Value::Null | Value::Bool(_) | Value::String(_) => Ok(()),
    }
}

/// Whether `n` is in canonical form.
pub fn is_canonical(n: &Number) -> bool {
    let text = n.as_str();
    if is_integer_syntax(text) {
        text != "-0"
    } else {
        matches!(canonical_float(text), Ok(None))
    }
}

/// Whether every number in `value` is in canonical form.
pub fn is_canonical_value(value: &Value) -> bool {
    match value {
        Value::Number(n) => is_canonical(n),
        Value::Array(items) => items.iter().all(is_canonical_value),
        Value::Object(map) => map.values().all(is_canonical_value),
        Value::Null | Value::Bool(_) | Value::String(_) => true,
    }
}

/// An integer-syntax number as sign and magnitude digits, for exact comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Integer<'a> {
    negative: bool,
    /// Decimal digits without leading zeros (`"0"` for zero).
    digits: &'a str,
}

impl<'a> Integer<'a> {
    /// `text` as an integer, if it is written in integer syntax (`-0` is zero).
    pub fn parse(text: &'a str) -> Option<Integer<'a>> {
        if !is_integer_syntax(text) {
            return None;
        }
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let digits = digits.trim_start_matches('0');
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(if digits.is_empty() {
            Integer { negative: false, digits: "0" }
        } else {
            Integer { negative, digits }
        })
    }

    /// Exact order of two integers of any size.
    pub fn cmp_exact(self, other: Integer<'_>) -> std::cmp::Ordering {
        let magnitude = |a: Integer<'_>, b: Integer<'_>| {
            a.digits.len().cmp(&b.digits.len()).then_with(|| a.digits.cmp(b.digits))
        };
        match (self.negative, other.negative) {
            (false, true) => std::cmp::Ordering::Greater,
            (true, false) => std::cmp::Ordering::Less,
            (false, false) => magnitude(self, other),
            (true, true) => magnitude(other, self),
        }
    }

    /// Exact order of this integer and a finite double.
    pub fn cmp_f64(self, f: f64) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        if f.is_nan() {
            return Ordering::Equal;
        }
        let whole = f.trunc();
        // An integral double prints exactly with no fraction digits.
        let text = format!("{whole:.0}");
        let Some(w) = Integer::parse(&text) else { return Ordering::Equal };
        self.cmp_exact(w).then(if f > whole {
            Ordering::Less
        } else if f < whole {
            Ordering::Greater
        } else {
            Ordering::Equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{quickcheck, Arbitrary, Gen};
    use std::cmp::Ordering;

    fn canonical(text: &str) -> Result<String, OutOfRange> {
        let mut n: Number = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        canonicalize(&mut n)?;
        Ok(n.as_str().to_owned())
    }

    /// The canonical text of numbers as written, each checked against what settee wrote
    /// before the rule (serde_json without `arbitrary_precision`, run with `settee put` and
    /// `settee get` of commit 8b05d92) where that was already right.
    #[test]
    fn canonical_text_of_written_numbers() {
        for (written, stored) in [
            // Integers keep their digits, inside and outside the 64-bit range.
            ("0", "0"),
            ("42", "42"),
            ("-7", "-7"),
            ("18446744073709551615", "18446744073709551615"),
            ("-9223372036854775808", "-9223372036854775808"),
            ("18446744073709551616", "18446744073709551616"),
            ("-9223372036854775809", "-9223372036854775809"),
            ("12345678901234567890123", "12345678901234567890123"),
            ("-0", "-0.0"),
            // Everything else is the shortest text of the nearest double, as serde_json
            // writes an f64.
            ("-31.651909739158846", "-31.651909739158846"),
            ("0.0", "0.0"),
            ("-0.0", "-0.0"),
            ("1.0", "1.0"),
            ("1.50", "1.5"),
            ("1E5", "100000.0"),
            ("1e+2", "100.0"),
            ("100000.0", "100000.0"),
            ("1e15", "1000000000000000.0"),
            ("1e16", "1e+16"),
            ("1e22", "1e+22"),
            ("1.2345678901234568e22", "1.2345678901234568e+22"),
            ("0.00001", "0.00001"),
            ("0.000001", "1e-6"),
            ("1e-7", "1e-7"),
            ("1.5e300", "1.5e+300"),
            ("5e-324", "5e-324"),
            ("2.2250738585072014e-308", "2.2250738585072014e-308"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("1e-400", "0.0"),
            ("-1e-400", "-0.0"),
            ("0.1", "0.1"),
            ("0.30000000000000004", "0.30000000000000004"),
            ("9007199254740993.0", "9007199254740992.0"),
            ("123456789.125", "123456789.125"),
            ("0.1000000000000000000000000000000000000001", "0.1"),
        ] {
            assert_eq!(canonical(written).as_deref(), Ok(stored), "{written}");
        }
    }

    #[test]
    fn numbers_beyond_the_largest_double_are_refused() {
        for text in ["1e400", "-1e400", "1.7976931348623159e308", "1e99999999999999999999"] {
            let err = canonical(text).unwrap_err();
            assert!(err.to_string().starts_with("number "), "{err}");
        }
        assert_eq!(canonical("1.7976931348623158e308").as_deref(), Ok("1.7976931348623157e+308"));
    }

    #[test]
    fn canonical_numbers_are_left_alone() {
        let mut value: Value =
            serde_json::from_str(r#"{"a":[1,-2.5,{"b":1e-7}],"c":123456789012345678901234567890}"#).unwrap();
        assert!(is_canonical_value(&value));
        let before = value.clone();
        canonicalize_value(&mut value).unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), serde_json::to_string(&before).unwrap());
        let mut spelled: Value = serde_json::from_str(r#"{"a":[1,-25E-1,{"b":0.0000001}],"c":-0}"#).unwrap();
        assert!(!is_canonical_value(&spelled));
        canonicalize_value(&mut spelled).unwrap();
        assert_eq!(serde_json::to_string(&spelled).unwrap(), r#"{"a":[1,-2.5,{"b":1e-7}],"c":-0.0}"#);
    }

    #[derive(Clone, Debug)]
    struct Bits(u64);

    impl Arbitrary for Bits {
        fn arbitrary(g: &mut Gen) -> Bits {
            // Half from all bit patterns; half near the edges: subnormals, the largest
            // doubles, and around powers of ten where fixed notation starts and ends.
            let edge = [0u64, 1, 0x000f_ffff_ffff_ffff, 0x0010_0000_0000_0000, 0x7fef_ffff_ffff_ffff];
            let bits = if bool::arbitrary(g) {
                u64::arbitrary(g)
            } else {
                let base = edge[usize::arbitrary(g) % edge.len()];
                base.wrapping_add(u64::from(u16::arbitrary(g))) & 0x7fff_ffff_ffff_ffff
            };
            let sign = if bool::arbitrary(g) { 1u64 << 63 } else { 0 };
            Bits(bits | sign)
        }
    }

    quickcheck! {
        /// A double's canonical text is serde_json's, reads back bit for bit and is a
        /// fixed point; other spellings of the same double come to the same text.
        fn doubles_round_trip_bit_for_bit(b: Bits) -> bool {
            let f = f64::from_bits(b.0);
            if !f.is_finite() {
                return true;
            }
            let text = serde_json::to_string(&f).unwrap();
            let Ok(again) = canonical(&text) else { return false };
            let exp = format!("{f:e}");
            let long = format!("{f:.1074}");
            again == text
                && text.parse::<f64>().map(f64::to_bits) == Ok(b.0)
                && canonical(&exp).as_deref() == Ok(text.as_str())
                && canonical(&long).as_deref() == Ok(text.as_str())
        }

        /// Integers of any length keep their digits; their order is the order of their
        /// values.
        fn integers_keep_their_digits(a: Vec<u8>, b: i128, neg: bool) -> bool {
            let mut digits: String = a.iter().map(|d| char::from(b'0' + d % 10)).collect();
            digits = digits.trim_start_matches('0').to_string();
            if digits.is_empty() {
                return true;
            }
            let text = if neg { format!("-{digits}") } else { digits };
            let small = b.to_string();
            let ordered = match (text.parse::<i128>(), Integer::parse(&text), Integer::parse(&small)) {
                (Ok(x), Some(i), Some(j)) => i.cmp_exact(j) == x.cmp(&b),
                (Err(_), Some(i), Some(j)) => i.cmp_exact(j) == if neg { Ordering::Less } else { Ordering::Greater },
                _ => false,
            };
            canonical(&text).as_deref() == Ok(text.as_str()) && ordered
        }

        /// Integer and double compare exactly, as their exact values do.
        fn integer_against_double(i: i64, b: Bits) -> bool {
            let f = f64::from_bits(b.0);
            if !f.is_finite() {
                return true;
            }
            let text = i.to_string();
            let Some(int) = Integer::parse(&text) else { return false };
            // Exact reference: both scaled to integers (a double is a multiple of 2^-1074).
            let expected = if f.abs() >= 2f64.powi(64) {
                if f > 0.0 { Ordering::Less } else { Ordering::Greater }
            } else {
                let whole = f.trunc() as i128;
                i128::from(i).cmp(&whole).then(f.fract().partial_cmp(&0.0).unwrap().reverse())
            };
            int.cmp_f64(f) == expected
        }
    }
}
