//! Which days a report covers: UTC calendar days ending today.

use chrono::{DateTime, NaiveDate, Utc};

/// Fewest and most days a report or the overview covers.
pub const MIN_DAYS: u32 = 1;
pub const MAX_DAYS: u32 = 90;
/// The trend compares the last this many days with as many before them.
pub const TREND_DAYS: u32 = 7;

/// `days` UTC calendar days, the last of them `last_day` (today).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub days: u32,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

/// Midnight UTC starting `day`.
pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}

impl Window {
    /// The `days` days ending on the day of `now` (UTC). `days` must be within
    /// `MIN_DAYS..=MAX_DAYS` (see `parse_days`).
    pub fn ending_at(now: DateTime<Utc>, days: u32) -> Self {
        let last_day = now.date_naive();
        Window { days, first_day: last_day - chrono::Days::new(u64::from(days.max(1) - 1)), last_day }
    }

    /// When its first day starts.
    pub fn start(&self) -> DateTime<Utc> {
        day_start(self.first_day)
    }

    /// Whether `at` falls on one of its days (its day, in UTC).
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        (self.first_day..=self.last_day).contains(&at.date_naive())
    }

    /// Its days, oldest first.
    pub fn each_day(&self) -> impl Iterator<Item = NaiveDate> {
        self.first_day.iter_days().take(self.days as usize)
    }

    /// From when a report reads runs: its first day, or the first of the two trend periods when
    /// that is earlier.
    pub fn read_from(&self) -> DateTime<Utc> {
        let trend_start = self.last_day - chrono::Days::new(u64::from(2 * TREND_DAYS - 1));
        day_start(self.first_day.min(trend_start))
    }

    /// The trend's two periods: the last `TREND_DAYS` days and the ones before them.
    pub fn trend_periods(&self) -> [Window; 2] {
        let last = Window {
            days: TREND_DAYS,
            first_day: self.last_day - chrono::Days::new(u64::from(TREND_DAYS - 1)),
            last_day: self.last_day,
        };
        let previous_last = last.first_day - chrono::Days::new(1);
        let previous = Window {
            days: TREND_DAYS,
            first_day: previous_last - chrono::Days::new(u64::from(TREND_DAYS - 1)),
            last_day: previous_last,
        };
        [last, previous]
    }
}

/// `days` as a request gives it: absent is `default`; outside `MIN_DAYS..=MAX_DAYS` an error
/// naming the bounds.
pub fn parse_days(days: Option<i64>, default: u32) -> Result<u32, String> {
    match days {
        None => Ok(default),
        Some(d) if (i64::from(MIN_DAYS)..=i64::from(MAX_DAYS)).contains(&d) => Ok(d as u32),
        Some(d) => Err(format!("days must be between {MIN_DAYS} and {MAX_DAYS} (got {d})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn days_end_today_in_utc() {
        let w = Window::ending_at(at("2026-03-14T23:59:59Z"), 14);
        assert_eq!(w.first_day.to_string(), "2026-03-01");
        assert_eq!(w.last_day.to_string(), "2026-03-14");
        assert_eq!(w.each_day().count(), 14);
        assert_eq!(w.start(), at("2026-03-01T00:00:00Z"));
        assert!(w.contains(at("2026-03-01T00:00:00Z")));
        assert!(!w.contains(at("2026-02-28T23:59:59Z")));
        let one = Window::ending_at(at("2026-03-14T00:00:00Z"), 1);
        assert_eq!((one.first_day, one.each_day().count()), (one.last_day, 1));
    }

    #[test]
    fn the_trend_reads_fourteen_days_whatever_the_window() {
        let w = Window::ending_at(at("2026-03-14T12:00:00Z"), 3);
        assert_eq!(w.read_from(), at("2026-03-01T00:00:00Z"));
        let [last, previous] = w.trend_periods();
        assert_eq!((last.first_day.to_string(), last.last_day.to_string()), ("2026-03-08".into(), "2026-03-14".into()));
        assert_eq!(
            (previous.first_day.to_string(), previous.last_day.to_string()),
            ("2026-03-01".into(), "2026-03-07".into())
        );
        let long = Window::ending_at(at("2026-03-14T12:00:00Z"), 30);
        assert_eq!(long.read_from(), long.start());
    }

    #[test]
    fn days_are_bounded() {
        assert_eq!(parse_days(None, 14), Ok(14));
        assert_eq!(parse_days(Some(90), 14), Ok(90));
        assert!(parse_days(Some(0), 14).unwrap_err().contains("between 1 and 90"));
        assert!(parse_days(Some(91), 14).is_err());
    }
}
