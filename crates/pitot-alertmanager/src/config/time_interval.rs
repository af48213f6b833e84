//! Named time intervals (`time_intervals`), used to mute routes or to make them active only at
//! certain times. Locations other than `UTC` and `Local` are rejected: Pitot carries no time zone
//! database yet, and silently using UTC would notify at the wrong hours.

use chrono::{DateTime, Datelike, Local, Timelike, Utc};

use super::raw::RawTimeInterval;

/// One interval specification: it contains an instant when every present field matches.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimeInterval {
    /// Minute-of-day ranges, start inclusive, end exclusive.
    pub times: Vec<(u32, u32)>,
    /// Weekday ranges, 0 = Sunday, inclusive.
    pub weekdays: Vec<(u32, u32)>,
    /// Day-of-month ranges, inclusive; negative counts from the month's end.
    pub days_of_month: Vec<(i32, i32)>,
    /// Month ranges, 1 = January, inclusive.
    pub months: Vec<(u32, u32)>,
    /// Year ranges, inclusive.
    pub years: Vec<(i32, i32)>,
    /// Evaluate in the server's local time instead of UTC.
    pub local: bool,
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl TimeInterval {
    /// Validates a raw specification; `field` prefixes error messages.
    pub(crate) fn from_raw(raw: &RawTimeInterval, field: &str) -> Result<Self, String> {
        let mut out = TimeInterval::default();
        for (i, t) in raw.times.iter().enumerate() {
            let start = parse_hhmm(&t.start_time)
                .map_err(|e| format!("{field}.times[{i}].start_time: {e}"))?;
            let end =
                parse_hhmm(&t.end_time).map_err(|e| format!("{field}.times[{i}].end_time: {e}"))?;
            if start >= end {
                return Err(format!(
                    "{field}.times[{i}]: start_time must be before end_time"
                ));
            }
            out.times.push((start, end));
        }
        for s in &raw.weekdays {
            out.weekdays.push(
                parse_range(s, |p| named(p, &WEEKDAYS, 0))
                    .map_err(|e| format!("{field}.weekdays: {e}"))?,
            );
        }
        for s in &raw.days_of_month {
            let (a, b) = parse_range(s, |p| {
                let n: i32 = p.parse().map_err(|_| format!("{p:?} is not a day"))?;
                if n == 0 || !(-31..=31).contains(&n) {
                    return Err(format!("day {n} out of range (1..31 or -31..-1)"));
                }
                Ok(n)
            })
            .map_err(|e| format!("{field}.days_of_month: {e}"))?;
            out.days_of_month.push((a, b));
        }
        for s in &raw.months {
            out.months.push(
                parse_range(s, |p| {
                    if let Ok(n) = p.parse::<u32>() {
                        return if (1..=12).contains(&n) {
                            Ok(n)
                        } else {
                            Err(format!("month {n} out of range"))
                        };
                    }
                    named(p, &MONTHS, 1)
                })
                .map_err(|e| format!("{field}.months: {e}"))?,
            );
        }
        for s in &raw.years {
            out.years.push(
                parse_range(s, |p| {
                    p.parse::<i32>().map_err(|_| format!("{p:?} is not a year"))
                })
                .map_err(|e| format!("{field}.years: {e}"))?,
            );
        }
        match raw.location.as_deref() {
            None | Some("UTC") | Some("") => {}
            Some("Local") => out.local = true,
            Some(other) => {
                return Err(format!(
                    "{field}.location: {other:?} is not supported (only UTC and Local)"
                ))
            }
        }
        Ok(out)
    }

    /// Whether the instant falls inside this interval.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        if self.local {
            self.contains_parts(&at.with_timezone(&Local))
        } else {
            self.contains_parts(&at)
        }
    }

    fn contains_parts<T: Datelike + Timelike>(&self, t: &T) -> bool {
        let minute = t.hour() * 60 + t.minute();
        if !self.times.is_empty() && !self.times.iter().any(|(a, b)| *a <= minute && minute < *b) {
            return false;
        }
        let wd = t.weekday().num_days_from_sunday();
        if !self.weekdays.is_empty() && !self.weekdays.iter().any(|(a, b)| *a <= wd && wd <= *b) {
            return false;
        }
        if !self.days_of_month.is_empty() {
            let days_in_month = days_in_month(t.year(), t.month()) as i32;
            let day = t.day() as i32;
            let resolve = |d: i32| if d < 0 { days_in_month + d + 1 } else { d };
            if !self
                .days_of_month
                .iter()
                .any(|(a, b)| resolve(*a) <= day && day <= resolve(*b))
            {
                return false;
            }
        }
        let month = t.month();
        if !self.months.is_empty() && !self.months.iter().any(|(a, b)| *a <= month && month <= *b) {
            return false;
        }
        let year = t.year();
        if !self.years.is_empty() && !self.years.iter().any(|(a, b)| *a <= year && year <= *b) {
            return false;
        }
        true
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    chrono::NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map(|d| d.day())
        .unwrap_or(31)
}

fn parse_hhmm(s: &str) -> Result<u32, String> {
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not HH:MM"))?;
    let h: u32 = h.parse().map_err(|_| format!("{s:?} is not HH:MM"))?;
    let m: u32 = m.parse().map_err(|_| format!("{s:?} is not HH:MM"))?;
    if h > 24 || m > 59 || (h == 24 && m != 0) {
        return Err(format!("{s:?} is out of range"));
    }
    Ok(h * 60 + m)
}

fn named(p: &str, names: &[&str], first: u32) -> Result<u32, String> {
    let lower = p.to_ascii_lowercase();
    names
        .iter()
        .position(|n| *n == lower)
        .map(|i| i as u32 + first)
        .ok_or_else(|| format!("{p:?} is not a valid name"))
}

fn parse_range<T: PartialOrd + Copy>(
    s: &str,
    one: impl Fn(&str) -> Result<T, String>,
) -> Result<(T, T), String> {
    let s = s.trim();
    // A leading '-' belongs to a negative day, so split on the ':' separator only.
    match s.split_once(':') {
        Some((a, b)) => {
            let (a, b) = (one(a.trim())?, one(b.trim())?);
            Ok((a, b))
        }
        None => {
            let v = one(s)?;
            Ok((v, v))
        }
    }
}
