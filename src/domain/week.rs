//! ISO 8601 weeks (`2026-W47`): the only time resolution a signal has.

use std::fmt;

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// An ISO week, represented by its Monday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoWeek {
    monday: NaiveDate,
}

impl IsoWeek {
    /// The week containing `date`.
    pub fn of(date: NaiveDate) -> Self {
        let back = chrono::Days::new(u64::from(date.weekday().num_days_from_monday()));
        // Only the first days chrono can represent (year -262143) have no Monday before them.
        Self {
            monday: date.checked_sub_days(back).unwrap_or(date),
        }
    }

    /// The week starting on `monday`; `None` if it is not a Monday.
    pub fn from_monday(monday: NaiveDate) -> Option<Self> {
        (monday.weekday() == Weekday::Mon).then_some(Self { monday })
    }

    /// Parses `YYYY-Www` (e.g. `2026-W47`), refusing weeks the year does not have.
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = || format!("not an ISO week like 2026-W47: {text:?}");
        let (year, week) = text.split_once("-W").ok_or_else(invalid)?;
        if year.len() != 4
            || week.len() != 2
            || !year.bytes().chain(week.bytes()).all(|b| b.is_ascii_digit())
        {
            return Err(invalid());
        }
        let (year, week): (i32, u32) = (
            year.parse().map_err(|_| invalid())?,
            week.parse().map_err(|_| invalid())?,
        );
        if week == 0 || week > weeks_in_year(year) {
            return Err(format!(
                "{year} has {} ISO weeks; there is no {text}",
                weeks_in_year(year)
            ));
        }
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
            .map(|monday| Self { monday })
            .ok_or_else(invalid)
    }

    pub fn monday(self) -> NaiveDate {
        self.monday
    }

    pub fn year(self) -> i32 {
        self.monday.iso_week().year()
    }

    pub fn number(self) -> u32 {
        self.monday.iso_week().week()
    }

    pub fn plus_weeks(self, weeks: i64) -> Self {
        Self {
            monday: self.monday + Duration::weeks(weeks),
        }
    }

    /// Whole weeks from `earlier` to `self` (negative if `earlier` is later).
    pub fn weeks_since(self, earlier: IsoWeek) -> i64 {
        (self.monday - earlier.monday).num_weeks()
    }
}

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-W{:02}", self.year(), self.number())
    }
}

/// 52 or 53: the week of 28 December is always the year's last.
pub fn weeks_in_year(year: i32) -> u32 {
    NaiveDate::from_ymd_opt(year, 12, 28).map_or(52, |d| d.iso_week().week())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn weeks_parse_and_print() {
        let week = IsoWeek::parse("2026-W47").unwrap();
        assert_eq!(week.monday(), date(2026, 11, 16));
        assert_eq!(week.to_string(), "2026-W47");
        assert_eq!(
            IsoWeek::of(date(2026, 11, 22)),
            week,
            "a Sunday belongs to the week that began on Monday"
        );
        assert_eq!(IsoWeek::of(date(2026, 11, 23)).to_string(), "2026-W48");
    }

    #[test]
    fn the_year_decides_whether_week_53_exists() {
        assert_eq!(weeks_in_year(2025), 52);
        assert_eq!(weeks_in_year(2026), 53);
        assert!(
            IsoWeek::parse("2025-W53")
                .unwrap_err()
                .contains("2025 has 52 ISO weeks")
        );
        assert_eq!(
            IsoWeek::parse("2026-W53").unwrap().monday(),
            date(2026, 12, 28)
        );
    }

    #[test]
    fn iso_years_differ_from_calendar_years_at_the_edges() {
        assert_eq!(IsoWeek::of(date(2027, 1, 1)).to_string(), "2026-W53");
        assert_eq!(IsoWeek::of(date(2024, 12, 30)).to_string(), "2025-W01");
    }

    #[test]
    fn malformed_weeks_are_refused() {
        for bad in [
            "2026-W00",
            "2026-W5",
            "2026W47",
            "26-W47",
            "2026-w47",
            "2026-W47 ",
            "2026-W4x",
            "",
            "+026-W47",
        ] {
            assert!(IsoWeek::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    proptest! {
        #[test]
        fn every_day_maps_to_a_week_that_round_trips(days in 0i64..80_000) {
            let day = date(1900, 1, 1) + Duration::days(days);
            let week = IsoWeek::of(day);
            prop_assert_eq!(week.monday().weekday(), Weekday::Mon);
            prop_assert!(week.monday() <= day && day < week.monday() + Duration::days(7));
            prop_assert_eq!(IsoWeek::parse(&week.to_string()).unwrap(), week);
            prop_assert_eq!(week.plus_weeks(3).weeks_since(week), 3);
        }
    }
}
