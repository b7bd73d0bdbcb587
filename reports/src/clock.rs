//! Simulated time as a reader wants it: the time of day on the scenario's calendar
//! (`start`, UTC), and durations as the trace writes them (`9h15m39s446ms`). The report
//! reads the trace alone, so this is its own small calendar (the organization's is
//! `org::calendar`, which the report must not depend on).

const SECOND_MS: u64 = 1_000;
const MINUTE_MS: u64 = 60 * SECOND_MS;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

/// The run's calendar: what wall-clock instant simulated time 0 is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    /// Days since 1970-01-01 of the start's date.
    start_day: i64,
    /// Milliseconds since midnight at the start.
    start_ms_of_day: u64,
}

impl Default for Clock {
    /// The scenario default: Monday 2004-03-01 00:00 UTC.
    fn default() -> Self {
        Clock { start_day: days_from_civil(2004, 3, 1), start_ms_of_day: 0 }
    }
}

impl Clock {
    /// From an RFC 3339 UTC timestamp (`2004-03-01T08:00:00Z`); None if it is not one.
    pub fn parse(start: &str) -> Option<Clock> {
        let (date, time) = start.strip_suffix('Z')?.split_once('T')?;
        let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
        let (year, month, day) = (d.next()??, d.next()??, d.next()??);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let mut t = time.splitn(3, ':');
        let h: u64 = t.next()?.parse().ok()?;
        let m: u64 = t.next()?.parse().ok()?;
        let s: f64 = t.next()?.parse().ok()?;
        if h > 23 || m > 59 || !(0.0..60.0).contains(&s) {
            return None;
        }
        let ms_of_day = h * HOUR_MS + m * MINUTE_MS + (s * 1_000.0).round() as u64;
        Some(Clock { start_day: days_from_civil(year, month as u32, day as u32), start_ms_of_day: ms_of_day })
    }

    /// The date and time of day at `t_ms` of simulated time.
    pub fn at(self, t_ms: u64) -> Civil {
        let total = self.start_ms_of_day + t_ms;
        let day = self.start_day + (total / DAY_MS) as i64;
        let (year, month, dom) = civil_from_days(day);
        // 1970-01-01 was a Thursday.
        let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][day.rem_euclid(7) as usize];
        Civil { year, month, day: dom, weekday, ms_of_day: total % DAY_MS }
    }
}

/// A calendar date and time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub weekday: &'static str,
    pub ms_of_day: u64,
}

impl Civil {
    /// `2004-03-01`.
    pub fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `08:30`, with seconds (`08:30:15`) when `seconds`.
    pub fn time(&self, seconds: bool) -> String {
        let ms = self.ms_of_day;
        let (h, m, s) = (ms / HOUR_MS, ms % HOUR_MS / MINUTE_MS, ms % MINUTE_MS / SECOND_MS);
        if seconds {
            format!("{h:02}:{m:02}:{s:02}")
        } else {
            format!("{h:02}:{m:02}")
        }
    }

    /// `Mon 2004-03-01 08:30:15`.
    pub fn full(&self) -> String {
        format!("{} {} {}", self.weekday, self.date(), self.time(true))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// A duration as the trace writes it (`1d2h`, `9h15m39s446ms`, `300s`) in ms; None if
/// it is not one.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 1,
            "s" => SECOND_MS,
            "m" => MINUTE_MS,
            "h" => HOUR_MS,
            "d" => DAY_MS,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// A length of time for people: `40 min`, `2 h 5 min`, `12 s`.
pub fn human_duration(ms: u64) -> String {
    if ms < MINUTE_MS {
        return format!("{} s", (ms + 500) / SECOND_MS);
    }
    let minutes = (ms + MINUTE_MS / 2) / MINUTE_MS;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips_and_knows_weekdays() {
        let clock = Clock::parse("2004-03-01T08:00:00Z").unwrap();
        assert_eq!(clock.at(0).full(), "Mon 2004-03-01 08:00:00");
        assert_eq!(clock.at(16 * HOUR_MS + 30 * SECOND_MS).full(), "Tue 2004-03-02 00:00:30");
        // 2004 was a leap year.
        assert_eq!(clock.at(28 * DAY_MS).date(), "2004-03-29");
        assert_eq!(Clock::parse("2004-02-28T23:00:00Z").unwrap().at(2 * HOUR_MS).date(), "2004-02-29");
        assert_eq!(Clock::parse("2000-01-01T00:00:00Z").unwrap().at(0).weekday, "Sat");
        assert_eq!(Clock::default(), Clock::parse("2004-03-01T00:00:00Z").unwrap());
        assert!(Clock::parse("2004-13-01T00:00:00Z").is_none());
        assert!(Clock::parse("yesterday").is_none());
    }

    #[test]
    fn durations_parse_as_written() {
        assert_eq!(parse_duration_ms("9h15m39s446ms"), Some(((9 * 60 + 15) * 60 + 39) * 1_000 + 446));
        assert_eq!(parse_duration_ms("1d"), Some(DAY_MS));
        assert_eq!(parse_duration_ms("300s"), Some(300_000));
        assert_eq!(parse_duration_ms("0ms"), Some(0));
        for bad in ["", "h", "5", "5x", "1h-2m"] {
            assert_eq!(parse_duration_ms(bad), None, "{bad}");
        }
        assert_eq!(human_duration(40 * MINUTE_MS), "40 min");
        assert_eq!(human_duration(125 * MINUTE_MS), "2 h 5 min");
        assert_eq!(human_duration(12_400), "12 s");
    }
}
