//! Reporting periods: ISO weeks, and the months and quarters weeks are counted in.
//!
//! A week belongs to the month (and so the quarter) that contains its Thursday, the same
//! rule that gives a week its ISO year, so every week is counted in exactly one period
//! of each kind and a month is always a whole number of weeks.

use std::fmt;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::week::{IsoWeek, weeks_in_year};

/// How finely a trend is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    #[default]
    Week,
    Month,
    Quarter,
}

/// One period: `2026-W47`, `2026-11` or `2026-Q4`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Period {
    Week(IsoWeek),
    Month { year: i32, month: u32 },
    Quarter { year: i32, quarter: u32 },
}

impl PeriodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Week => "week",
            PeriodKind::Month => "month",
            PeriodKind::Quarter => "quarter",
        }
    }

    /// The period of this kind that `week` is counted in.
    pub fn of(self, week: IsoWeek) -> Period {
        let thursday = thursday(week);
        match self {
            PeriodKind::Week => Period::Week(week),
            PeriodKind::Month => Period::Month {
                year: thursday.year(),
                month: thursday.month(),
            },
            PeriodKind::Quarter => Period::Quarter {
                year: thursday.year(),
                quarter: thursday.month0() / 3 + 1,
            },
        }
    }

    /// Every period of this kind from the one holding `from` to the one holding `to`.
    pub fn between(self, from: IsoWeek, to: IsoWeek) -> Vec<Period> {
        let mut periods = Vec::new();
        let mut period = self.of(from);
        let last = self.of(to);
        while period <= last {
            periods.push(period);
            period = period.next();
        }
        periods
    }
}

fn thursday(week: IsoWeek) -> NaiveDate {
    week.monday() + Days::new(3)
}

/// The week whose Thursday is the first Thursday on or after `day`.
fn week_of_first_thursday(day: NaiveDate) -> IsoWeek {
    let ahead =
        (7 + Weekday::Thu.num_days_from_monday() - day.weekday().num_days_from_monday()) % 7;
    IsoWeek::of(day + Days::new(u64::from(ahead)))
}

fn first_of_month(year: i32, month: u32) -> NaiveDate {
    // Months come from a valid date or from `next`, so they are always 1..=12; the
    // fallback only keeps this total.
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(NaiveDate::MIN)
}

impl Period {
    pub fn kind(self) -> PeriodKind {
        match self {
            Period::Week(_) => PeriodKind::Week,
            Period::Month { .. } => PeriodKind::Month,
            Period::Quarter { .. } => PeriodKind::Quarter,
        }
    }

    /// The period after this one.
    pub fn next(self) -> Period {
        match self {
            Period::Week(week) => Period::Week(week.plus_weeks(1)),
            Period::Month { year, month: 12 } => Period::Month {
                year: year + 1,
                month: 1,
            },
            Period::Month { year, month } => Period::Month {
                year,
                month: month + 1,
            },
            Period::Quarter { year, quarter: 4 } => Period::Quarter {
                year: year + 1,
                quarter: 1,
            },
            Period::Quarter { year, quarter } => Period::Quarter {
                year,
                quarter: quarter + 1,
            },
        }
    }

    /// The first week counted in this period.
    pub fn first_week(self) -> IsoWeek {
        match self {
            Period::Week(week) => week,
            Period::Month { year, month } => week_of_first_thursday(first_of_month(year, month)),
            Period::Quarter { year, quarter } => {
                week_of_first_thursday(first_of_month(year, (quarter - 1) * 3 + 1))
            }
        }
    }

    /// The last week counted in this period.
    pub fn last_week(self) -> IsoWeek {
        self.next().first_week().plus_weeks(-1)
    }

    /// The same period a year earlier (the same ISO week number, month or quarter);
    /// `None` for week 53 when the year before had only 52.
    pub fn a_year_earlier(self) -> Option<Period> {
        match self {
            Period::Week(week) => {
                let year = week.year() - 1;
                (week.number() <= weeks_in_year(year))
                    .then(|| IsoWeek::parse(&format!("{year}-W{:02}", week.number())).ok())
                    .flatten()
                    .map(Period::Week)
            }
            Period::Month { year, month } => Some(Period::Month {
                year: year - 1,
                month,
            }),
            Period::Quarter { year, quarter } => Some(Period::Quarter {
                year: year - 1,
                quarter,
            }),
        }
    }

    /// The year whose population a rate in this period is computed against: the ISO
    /// year of a week, the calendar year of a month or quarter.
    pub fn year(self) -> i32 {
        match self {
            Period::Week(week) => week.year(),
            Period::Month { year, .. } | Period::Quarter { year, .. } => year,
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Week(week) => write!(f, "{week}"),
            Period::Month { year, month } => write!(f, "{year}-{month:02}"),
            Period::Quarter { year, quarter } => write!(f, "{year}-Q{quarter}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn week(text: &str) -> IsoWeek {
        IsoWeek::parse(text).unwrap()
    }

    #[test]
    fn a_week_is_counted_in_the_month_of_its_thursday() {
        // 2026-W05 runs Mon 26 Jan – Sun 1 Feb; its Thursday is 29 Jan.
        assert_eq!(
            PeriodKind::Month.of(week("2026-W05")).to_string(),
            "2026-01"
        );
        // 2026-W48 runs Mon 23 Nov – Sun 29 Nov; 2026-W49 starts Mon 30 Nov, Thursday 3 Dec.
        assert_eq!(
            PeriodKind::Month.of(week("2026-W49")).to_string(),
            "2026-12"
        );
        // 2025-W01 starts Mon 30 Dec 2024; its Thursday is 2 Jan 2025.
        assert_eq!(
            PeriodKind::Quarter.of(week("2025-W01")).to_string(),
            "2025-Q1"
        );
        assert_eq!(
            PeriodKind::Quarter.of(week("2026-W40")).to_string(),
            "2026-Q4"
        );
        assert_eq!(
            PeriodKind::Week.of(week("2026-W47")).to_string(),
            "2026-W47"
        );
    }

    #[test]
    fn months_and_quarters_start_and_end_on_whole_weeks() {
        let november = Period::Month {
            year: 2026,
            month: 11,
        };
        // The first Thursday of November 2026 is the 5th (week 45); the last is the 26th.
        assert_eq!(november.first_week(), week("2026-W45"));
        assert_eq!(november.last_week(), week("2026-W48"));
        let q1 = Period::Quarter {
            year: 2026,
            quarter: 1,
        };
        assert_eq!(q1.first_week(), week("2026-W01"));
        assert_eq!(q1.last_week(), week("2026-W13"));
    }

    #[test]
    fn a_year_earlier_keeps_the_week_number_and_has_no_week_53_in_a_short_year() {
        assert_eq!(
            Period::Week(week("2026-W47")).a_year_earlier(),
            Some(Period::Week(week("2025-W47")))
        );
        // 2026 has 53 ISO weeks; 2025 has 52.
        assert_eq!(Period::Week(week("2026-W53")).a_year_earlier(), None);
        assert_eq!(
            PeriodKind::Quarter
                .of(week("2026-W47"))
                .a_year_earlier()
                .map(|p| p.to_string()),
            Some("2025-Q4".into())
        );
    }

    #[test]
    fn between_lists_every_period_once_including_both_ends() {
        let months: Vec<String> = PeriodKind::Month
            .between(week("2025-W50"), week("2026-W06"))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(months, ["2025-12", "2026-01", "2026-02"]);
        assert_eq!(
            PeriodKind::Week
                .between(week("2026-W50"), week("2027-W02"))
                .len(),
            6,
            "2026 has 53 weeks: W50..W53, then W01, W02"
        );
        assert!(
            PeriodKind::Week
                .between(week("2026-W02"), week("2026-W01"))
                .is_empty()
        );
    }

    proptest! {
        #[test]
        fn every_week_lies_in_exactly_the_period_that_claims_it(days in 0i64..20_000, kind in 0usize..3) {
            let kind = [PeriodKind::Week, PeriodKind::Month, PeriodKind::Quarter][kind];
            let day = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Duration::days(days);
            let week = IsoWeek::of(day);
            let period = kind.of(week);
            prop_assert!(period.first_week() <= week && week <= period.last_week());
            prop_assert_eq!(kind.of(period.first_week()), period);
            prop_assert_eq!(kind.of(period.last_week()), period);
            prop_assert_eq!(period.last_week().plus_weeks(1), period.next().first_week());
            prop_assert_eq!(kind.between(period.first_week(), period.last_week()), vec![period]);
        }
    }
}
