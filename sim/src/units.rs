//! Strict parsers for the unit-bearing strings of scenario files: durations (`"90s"`,
//! `"15m"`, `"1d4h"`, `"250ms"`), bandwidths (`"1.544Mbps"`) and UTC timestamps.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A span of simulated time, written with units: `d`, `h`, `m`, `s`, `ms`, largest
/// first, each at most once (`"1d4h"`, `"90s"`, `"250ms"`); zero needs no unit (`"0"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    /// Milliseconds.
    pub ms: u64,
}

impl Duration {
    /// A duration of `ms` milliseconds.
    pub const fn from_ms(ms: u64) -> Self {
        Duration { ms }
    }

    /// Parses the scenario notation.
    pub fn parse(text: &str) -> Result<Self, String> {
        const UNITS: [(&str, u64); 5] = [("d", 86_400_000), ("h", 3_600_000), ("ms", 1), ("m", 60_000), ("s", 1_000)];
        const ORDER: [&str; 5] = ["d", "h", "m", "s", "ms"];
        let expected = || format!("expected a duration like \"90s\", \"15m\", \"2h\" or \"1d4h\", found {text:?}");
        if text.is_empty() {
            return Err(expected());
        }
        if text == "0" {
            return Ok(Duration { ms: 0 });
        }
        let mut rest = text;
        let mut total: u64 = 0;
        let mut last_rank: Option<usize> = None;
        while !rest.is_empty() {
            let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
            if digits == 0 {
                return Err(expected());
            }
            let value: u64 = rest[..digits].parse().map_err(|_| expected())?;
            rest = &rest[digits..];
            let (unit, factor) = UNITS.iter().find(|(u, _)| rest.starts_with(u)).ok_or_else(expected)?;
            rest = &rest[unit.len()..];
            let rank = ORDER.iter().position(|u| u == unit).expect("every unit is ranked");
            if last_rank.is_some_and(|r| rank <= r) {
                return Err(format!("{}: units must go from largest to smallest, once each", expected()));
            }
            last_rank = Some(rank);
            total = value.checked_mul(*factor).and_then(|v| total.checked_add(v)).ok_or_else(expected)?;
        }
        Ok(Duration { ms: total })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ms == 0 {
            return write!(f, "0s");
        }
        let mut rest = self.ms;
        for (unit, factor) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
            if rest >= factor {
                write!(f, "{}{unit}", rest / factor)?;
                rest %= factor;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Duration::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(0|([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$",
            "description": "Simulated time with units, largest first: \"90s\", \"15m\", \"2h\", \"1d4h\", \"250ms\"; zero is \"0\"."
        })
    }
}

/// Link bandwidth, written `"64kbps"`, `"1.544Mbps"`, `"100Mbps"`, `"1Gbps"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bandwidth {
    /// Bits per second.
    pub bits_per_s: u64,
}

impl Bandwidth {
    /// Parses the scenario notation.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected = || format!("expected a bandwidth like \"64kbps\", \"1.544Mbps\" or \"1Gbps\", found {text:?}");
        let (number, factor) = [("Gbps", 1e9), ("Mbps", 1e6), ("kbps", 1e3), ("bps", 1.0)]
            .iter()
            .find_map(|(unit, factor)| text.strip_suffix(unit).map(|n| (n, *factor)))
            .ok_or_else(expected)?;
        if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(expected());
        }
        let value: f64 = number.parse().map_err(|_| expected())?;
        let bits = (value * factor).round();
        if !(1.0..=1e12).contains(&bits) {
            return Err(format!("bandwidth must be between 1bps and 1000Gbps, found {text:?}"));
        }
        Ok(Bandwidth { bits_per_s: bits as u64 })
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.bits_per_s;
        for (unit, factor) in [("Gbps", 1_000_000_000u64), ("Mbps", 1_000_000), ("kbps", 1_000)] {
            if b >= factor {
                let whole = b / factor;
                let frac = b % factor;
                if frac == 0 {
                    return write!(f, "{whole}{unit}");
                }
                let text = format!("{}", b as f64 / factor as f64);
                return write!(f, "{text}{unit}");
            }
        }
        write!(f, "{b}bps")
    }
}

impl Serialize for Bandwidth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Bandwidth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Bandwidth::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Bandwidth {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Bandwidth".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9.]+(bps|kbps|Mbps|Gbps)$",
            "description": "Bits per second with a unit: \"64kbps\", \"1.544Mbps\", \"1Gbps\"."
        })
    }
}

/// A UTC instant `YYYY-MM-DDTHH:MM:SSZ`: the simulated calendar's start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timestamp {
    /// The text as written (already validated).
    pub text: String,
    /// Seconds after midnight UTC.
    pub second_of_day: u32,
    /// The calendar that starts here.
    pub calendar: org::calendar::Calendar,
}

impl Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SSZ`, checking each field's range.
    pub fn parse(text: &str) -> Result<Self, String> {
        let expected = || format!("expected a UTC time like \"2004-03-01T00:00:00Z\", found {text:?}");
        let b = text.as_bytes();
        let shape_ok = b.len() == 20
            && b.iter().enumerate().all(|(i, c)| match i {
                4 | 7 => *c == b'-',
                10 => *c == b'T',
                13 | 16 => *c == b':',
                19 => *c == b'Z',
                _ => c.is_ascii_digit(),
            });
        if !shape_ok {
            return Err(expected());
        }
        let num = |r: std::ops::Range<usize>| text[r].parse::<u32>().expect("digits checked");
        let (year, month, day) = (num(0..4), num(5..7), num(8..10));
        let (hour, minute, second) = (num(11..13), num(14..16), num(17..19));
        if hour > 23 || minute > 59 || second > 59 {
            return Err(expected());
        }
        let second_of_day = hour * 3600 + minute * 60 + second;
        let calendar = org::calendar::Calendar::new(year as i32, month, day, u64::from(second_of_day) * 1_000)
            .map_err(|_| expected())?;
        Ok(Timestamp { text: text.to_string(), second_of_day, calendar })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Timestamp {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
            "description": "A UTC instant, e.g. \"2004-03-01T00:00:00Z\"."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("90s").unwrap().ms, 90_000);
        assert_eq!(Duration::parse("1d4h").unwrap().ms, 100_800_000);
        assert_eq!(Duration::parse("250ms").unwrap().ms, 250);
        assert_eq!(Duration::parse("1m30s").unwrap().ms, 90_000);
        assert_eq!(Duration::parse("0").unwrap().ms, 0, "zero needs no unit");
        for bad in ["", "5", "00", "h", "4h1d", "1h1h", "1.5h", "-3s", "3 s", "10mm"] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} must be rejected");
        }
        for ms in [0, 1, 90_000, 100_800_000, 3_723_004] {
            let d = Duration::from_ms(ms);
            assert_eq!(Duration::parse(&d.to_string()).unwrap(), d);
        }
    }

    #[test]
    fn bandwidths() {
        assert_eq!(Bandwidth::parse("1.544Mbps").unwrap().bits_per_s, 1_544_000);
        assert_eq!(Bandwidth::parse("64kbps").unwrap().bits_per_s, 64_000);
        assert_eq!(Bandwidth::parse("1Gbps").unwrap().to_string(), "1Gbps");
        assert_eq!(Bandwidth::parse("1.544Mbps").unwrap().to_string(), "1.544Mbps");
        for bad in ["", "Mbps", "1 Mbps", "1MBps", "0bps", "-1kbps", "1e3bps"] {
            assert!(Bandwidth::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(Timestamp::parse("2004-03-01T08:30:00Z").unwrap().second_of_day, 30_600);
        for bad in ["2004-02-30T00:00:00Z", "2004-03-01 00:00:00Z", "2004-03-01T24:00:00Z", "2004-3-1T00:00:00Z"] {
            assert!(Timestamp::parse(bad).is_err(), "{bad:?} must be rejected");
        }
        assert!(Timestamp::parse("2004-02-29T00:00:00Z").is_ok());
    }
}
