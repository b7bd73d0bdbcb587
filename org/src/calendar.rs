//! The simulated calendar: the UTC date, weekday and time of day of any [`Instant`],
//! from the scenario's `start`. Exchange acts at times of day and on weekly grids (05:00
//! size checks and OAB generation, 01:00–05:00 online maintenance, site link and
//! connector schedules in Windows' 7 × 24 grid, EXCHANGE2003.md), so services schedule
//! "the next 05:00" or "the next open hour of the week" through it. UTC only: a simulated
//! organization has no time zones or daylight saving.

use crate::time::{Instant, DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS};
use std::fmt;

/// A day of the week. Windows schedule grids start on Sunday.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Weekday {
    /// Sunday (the first row of a schedule grid).
    Sunday,
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
}

impl Weekday {
    /// Sunday first, as schedule grids are.
    pub const ALL: [Weekday; 7] = [
        Weekday::Sunday,
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
    ];

    /// Days after Sunday (0–6).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The three-letter English name (`Mon`).
    pub fn short_name(self) -> &'static str {
        ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][self.index()]
    }
}

/// A calendar date and time of day (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CivilTime {
    /// Year, e.g. 2004.
    pub year: i32,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
    /// Day of the week.
    pub weekday: Weekday,
    /// Milliseconds since midnight.
    pub ms_of_day: u64,
}

impl fmt::Display for CivilTime {
    /// `2004-03-01 Mon 08:30:00` (milliseconds only when there are any).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.ms_of_day;
        let (h, m, s) = (ms / HOUR_MS, ms % HOUR_MS / MINUTE_MS, ms % MINUTE_MS / SECOND_MS);
        write!(
            f,
            "{:04}-{:02}-{:02} {} {h:02}:{m:02}:{s:02}",
            self.year,
            self.month,
            self.day,
            self.weekday.short_name()
        )?;
        match ms % SECOND_MS {
            0 => Ok(()),
            frac => write!(f, ".{frac:03}"),
        }
    }
}

/// A date the calendar cannot hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidDate {
    /// What was wrong.
    pub reason: String,
}

/// Where simulated time zero falls in the UTC calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calendar {
    /// Days from 1970-01-01 to the start's date.
    start_day: i64,
    /// The start's time of day.
    start_ms_of_day: u64,
}

impl Calendar {
    /// Time zero at 1970-01-01 00:00 UTC (a Thursday).
    pub const UNIX_EPOCH: Calendar = Calendar { start_day: 0, start_ms_of_day: 0 };

    /// Time zero at this UTC date and time of day.
    pub fn new(year: i32, month: u32, day: u32, ms_of_day: u64) -> Result<Calendar, InvalidDate> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(InvalidDate { reason: format!("{year:04}-{month:02}-{day:02} is not a date") });
        }
        if ms_of_day >= DAY_MS {
            return Err(InvalidDate { reason: format!("{ms_of_day} ms is not a time of day") });
        }
        Ok(Calendar { start_day: days_from_civil(year, month, day), start_ms_of_day: ms_of_day })
    }

    /// The start's time of day.
    pub fn start_ms_of_day(&self) -> u64 {
        self.start_ms_of_day
    }

    /// Whole days and time of day of `now` since 1970-01-01.
    fn split(&self, now: Instant) -> (i64, u64) {
        let since_midnight = self.start_ms_of_day + now.as_ms();
        (self.start_day + (since_midnight / DAY_MS) as i64, since_midnight % DAY_MS)
    }

    /// The date, weekday and time of day of `now`.
    pub fn at(&self, now: Instant) -> CivilTime {
        let (day, ms_of_day) = self.split(now);
        let (year, month, day_of_month) = civil_from_days(day);
        CivilTime { year, month, day: day_of_month, weekday: weekday_of(day), ms_of_day }
    }

    /// The time of day of `now`.
    pub fn ms_of_day(&self, now: Instant) -> u64 {
        self.split(now).1
    }

    /// The weekday of `now`.
    pub fn weekday(&self, now: Instant) -> Weekday {
        weekday_of(self.split(now).0)
    }

    /// Hours since the start of `now`'s week (Sunday 00:00 is 0, Saturday 23:00 is 167).
    pub fn hour_of_week(&self, now: Instant) -> usize {
        let (day, ms_of_day) = self.split(now);
        weekday_of(day).index() * 24 + (ms_of_day / HOUR_MS) as usize
    }

    /// The first instant at or after `now` whose time of day is `ms_of_day` ("the next
    /// 05:00").
    pub fn next_time_of_day(&self, now: Instant, ms_of_day: u64) -> Instant {
        assert!(ms_of_day < DAY_MS, "a time of day is under 24 hours");
        let today = self.ms_of_day(now);
        let wait = if ms_of_day >= today { ms_of_day - today } else { DAY_MS - today + ms_of_day };
        now.plus_ms(wait)
    }
}

/// Which hours of the week are open, as Windows' 7 × 24 schedule grid (site links,
/// connectors, replication schedules). Ordered Sunday's hours first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WeeklyHours {
    /// Per weekday, Sunday first: bit `h` set when the hour from `h`:00 is open.
    days: [u32; 7],
}

impl WeeklyHours {
    /// Every hour of one day.
    pub const DAY_BITS: u32 = (1 << 24) - 1;

    /// Every hour of the week.
    pub const ALWAYS: WeeklyHours = WeeklyHours { days: [Self::DAY_BITS; 7] };

    /// The same hours every day (bit `h`: the hour from `h`:00).
    pub fn daily(open_hours: u32) -> WeeklyHours {
        WeeklyHours { days: [open_hours & Self::DAY_BITS; 7] }
    }

    /// Nothing open; add days with [`WeeklyHours::open`].
    pub fn never() -> WeeklyHours {
        WeeklyHours { days: [0; 7] }
    }

    /// Opens `open_hours` (bit `h`: the hour from `h`:00) on `day`.
    pub fn open(&mut self, day: Weekday, open_hours: u32) {
        self.days[day.index()] |= open_hours & Self::DAY_BITS;
    }

    /// The open hours of `day`.
    pub fn hours_of(&self, day: Weekday) -> u32 {
        self.days[day.index()]
    }

    /// Whether any hour of the week is open.
    pub fn any_open(&self) -> bool {
        self.days.iter().any(|d| *d != 0)
    }

    fn open_at(&self, hour_of_week: usize) -> bool {
        self.days[hour_of_week / 24] & (1 << (hour_of_week % 24)) != 0
    }

    /// Whether `now` falls in an open hour.
    pub fn is_open(&self, calendar: &Calendar, now: Instant) -> bool {
        self.open_at(calendar.hour_of_week(now))
    }

    /// `now` if open, else the start of the next open hour.
    pub fn next_open(&self, calendar: &Calendar, now: Instant) -> Instant {
        assert!(self.any_open(), "a schedule opens at least one hour a week");
        if self.is_open(calendar, now) {
            return now;
        }
        let into_hour = calendar.ms_of_day(now) % HOUR_MS;
        let mut at = now.plus_ms(HOUR_MS - into_hour);
        while !self.is_open(calendar, at) {
            at = at.plus_ms(HOUR_MS);
        }
        at
    }
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in a month of the proleptic Gregorian calendar.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days from 1970-01-01 (the days-from-civil algorithm of H. Hinnant's "chrono-compatible
/// low-level date algorithms": years counted from March, so the leap day comes last).
fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year as i32, month, day)
}

/// 1970-01-01 was a Thursday.
fn weekday_of(days: i64) -> Weekday {
    Weekday::ALL[(days + 4).rem_euclid(7) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_dates() {
        let c = Calendar::new(2004, 3, 1, 8 * HOUR_MS + 30 * MINUTE_MS).unwrap();
        assert_eq!(c.at(Instant::ZERO).to_string(), "2004-03-01 Mon 08:30:00");
        assert_eq!(c.at(Instant(15 * HOUR_MS + 30 * MINUTE_MS)).to_string(), "2004-03-02 Tue 00:00:00");
        let leap = Calendar::new(2004, 2, 28, 23 * HOUR_MS).unwrap();
        assert_eq!(leap.at(Instant(HOUR_MS)).to_string(), "2004-02-29 Sun 00:00:00", "2004 is a leap year");
        let not_leap = Calendar::new(1900, 2, 28, 0).unwrap();
        assert_eq!(not_leap.at(Instant(DAY_MS)).to_string(), "1900-03-01 Thu 00:00:00", "1900 is not");
        assert_eq!(Calendar::UNIX_EPOCH.at(Instant(1_500)).to_string(), "1970-01-01 Thu 00:00:01.500");
        assert!(Calendar::new(2003, 2, 29, 0).is_err());
        assert!(Calendar::new(2003, 13, 1, 0).is_err());
        assert!(Calendar::new(2003, 1, 1, DAY_MS).is_err());
    }

    #[test]
    fn the_next_0500() {
        let c = Calendar::new(2004, 3, 1, 8 * HOUR_MS).unwrap();
        let five = 5 * HOUR_MS;
        assert_eq!(c.next_time_of_day(Instant::ZERO, five), Instant(21 * HOUR_MS), "tomorrow's");
        assert_eq!(c.next_time_of_day(Instant(21 * HOUR_MS), five), Instant(21 * HOUR_MS), "at 05:00, now");
        assert_eq!(c.next_time_of_day(Instant(21 * HOUR_MS + 1), five), Instant(45 * HOUR_MS));
    }

    #[test]
    fn a_weekend_only_schedule_waits_for_saturday() {
        // Monday 08:00; open all Saturday and Sunday.
        let c = Calendar::new(2004, 3, 1, 8 * HOUR_MS).unwrap();
        let mut weekend = WeeklyHours::never();
        weekend.open(Weekday::Saturday, WeeklyHours::DAY_BITS);
        weekend.open(Weekday::Sunday, WeeklyHours::DAY_BITS);
        assert!(!weekend.is_open(&c, Instant::ZERO));
        let opens = weekend.next_open(&c, Instant::ZERO);
        assert_eq!(c.at(opens).to_string(), "2004-03-06 Sat 00:00:00");
        let monday = weekend.next_open(&c, opens.plus_ms(2 * DAY_MS));
        assert_eq!(c.at(monday).to_string(), "2004-03-13 Sat 00:00:00", "closed from Monday 00:00");
    }

    proptest! {
        #[test]
        fn days_round_trip(days in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            prop_assert_eq!(days_from_civil(y, m, d), days);
            prop_assert_eq!(weekday_of(days + 1).index(), (weekday_of(days).index() + 1) % 7);
        }

        /// `next_open` is open, at or after `now`, on an hour boundary unless it is `now`,
        /// and no open hour lies between.
        #[test]
        fn next_open_is_the_first_open_hour(
            days in proptest::array::uniform7(0u32..(1 << 24)),
            start_ms in 0..DAY_MS,
            now_ms in 0..(30 * DAY_MS),
        ) {
            let hours = WeeklyHours { days };
            prop_assume!(hours.any_open());
            let c = Calendar::new(2004, 3, 1, start_ms).unwrap();
            let now = Instant(now_ms);
            let next = hours.next_open(&c, now);
            prop_assert!(next >= now && hours.is_open(&c, next));
            prop_assert!(next == now || c.ms_of_day(next).is_multiple_of(HOUR_MS));
            let mut probe = now;
            while probe < next {
                prop_assert!(!hours.is_open(&c, probe));
                probe = probe.plus_ms(HOUR_MS - c.ms_of_day(probe) % HOUR_MS);
            }
        }
    }
}
