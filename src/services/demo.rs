//! Synthetic history for demos and benchmarks: `lagesbild demo-data`.
//!
//! Signals are checked by the same rules and stored by the same statement as the API
//! (cells and record keys included); only the correction window is widened to reach
//! back in time, and the quota is lifted. The history is shaped like the real thing:
//! yearly seasonality, school holidays quieter in school arenas, digital recruitment
//! growing over time, and one district (Östra Ersboda) with a planted rise in
//! recruitment-related categories over the last 10 weeks — something for the alarms
//! to find. The rise is a step (a new recruiter working the district), about four
//! times the usual weekly counts from its first week.
//!
//! Municipalities begin reporting at different times, as they do when a service is
//! rolled out: Umeå reports over the whole history and keeps the default reporting
//! start (its first week with a signal); Sollentuna joins after three fifths of it,
//! with its reporting start set by its admin, after a pilot school in Edsberg reported
//! for eight weeks before that — signals the set start leaves out of every series.

use chrono::NaiveDate;
use diesel::PgConnection;
use uuid::Uuid;

use crate::db::models::NewUser;
use crate::db::queries::signals::{Admit, NewSignal, Quota};
use crate::db::queries::{areas, signals, users, vocabulary};
use crate::domain::identity::{AccountKind, Role};
use crate::domain::signal::{Gender, IntakeRules, SignalInput};
use crate::domain::week::IsoWeek;
use crate::error::ApiError;

/// The district with the planted rise.
pub const RISING_DISTRICT: &str = "ostra-ersboda";
/// The categories that rise there.
pub const RISING_CATEGORIES: [&str; 4] = [
    "recruitment_approach",
    "digital_recruitment",
    "drug_handling",
    "older_contacts",
];
/// How many weeks the rise lasts, up to and including the current one.
pub const RISE_WEEKS: i64 = 10;
/// The step: the usual mean times this.
const RISE_FACTOR: f64 = 4.0;
/// The municipality that joins late, its pilot district and how long the pilot ran.
const LATE_MUNICIPALITY: &str = "sollentuna";
const PILOT_DISTRICT: &str = "edsberg";
const PILOT_WEEKS: i64 = 8;
/// Signals per district and week before seasonal and other effects.
const BASE_RATE: f64 = 10.0;

/// A small, seedable generator (SplitMix64): the same seed gives the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A Poisson draw (Knuth's method; fine for the small means used here).
    fn poisson(&mut self, mean: f64) -> u32 {
        let limit = (-mean).exp();
        let (mut k, mut p) = (0, self.unit());
        while p > limit {
            k += 1;
            p *= self.unit();
        }
        k
    }

    fn pick<'a, T>(&mut self, weighted: &'a [(T, f64)]) -> &'a T {
        let total: f64 = weighted.iter().map(|(_, w)| w).sum();
        let mut target = self.unit() * total;
        for (item, weight) in weighted {
            if target < *weight {
                return item;
            }
            target -= weight;
        }
        &weighted[weighted.len() - 1].0
    }
}

const CATEGORIES: [(&str, f64); 13] = [
    ("recruitment_approach", 1.0),
    ("digital_recruitment", 0.8),
    ("drug_handling", 1.2),
    ("unexplained_money", 0.7),
    ("debt_threats", 0.5),
    ("violence_exposed", 0.9),
    ("violence_group", 0.6),
    ("weapons", 0.4),
    ("school_disengagement", 1.4),
    ("older_contacts", 1.0),
    ("sexual_exploitation", 0.2),
    ("glorification", 0.8),
    ("open_drug_scene", 0.3),
];

/// Where each category is usually seen.
fn arenas_for(category: &str) -> &'static [(&'static str, f64)] {
    match category {
        "digital_recruitment" | "glorification" => &[
            ("social_media", 4.0),
            ("online_gaming", 2.0),
            ("encrypted_chat", 2.0),
            ("school", 1.0),
        ],
        "school_disengagement" => &[("school", 5.0), ("schoolyard", 1.0), ("youth_centre", 1.0)],
        "open_drug_scene" => &[("public_place", 4.0), ("residential_area", 2.0)],
        _ => &[
            ("school", 2.0),
            ("schoolyard", 2.0),
            ("youth_centre", 1.5),
            ("public_place", 2.0),
            ("sports_ground", 0.7),
            ("residential_area", 1.5),
            ("social_media", 1.0),
            ("other", 0.3),
        ],
    }
}

/// Which reporting role is most likely to see something in an arena.
fn sources_for(arena: &str) -> &'static [(Role, f64)] {
    match arena {
        "school" | "schoolyard" => &[(Role::School, 6.0), (Role::SocialServices, 1.0)],
        "youth_centre" | "sports_ground" => &[(Role::Leisure, 4.0), (Role::FieldWorker, 2.0)],
        "public_place" | "residential_area" => &[(Role::Police, 3.0), (Role::FieldWorker, 3.0)],
        _ => &[
            (Role::SocialServices, 2.0),
            (Role::School, 1.0),
            (Role::Police, 1.0),
        ],
    }
}

const AGE_BANDS: [(&str, f64); 5] = [
    ("0-9", 0.3),
    ("10-12", 1.5),
    ("13-15", 4.0),
    ("16-17", 3.0),
    ("18-20", 1.5),
];
const GENDERS: [(Option<Gender>, f64); 4] = [
    (Some(Gender::Boy), 5.5),
    (Some(Gender::Girl), 3.0),
    (Some(Gender::Other), 0.2),
    (None, 1.3),
];

fn is_school_arena(arena: &str) -> bool {
    matches!(arena, "school" | "schoolyard")
}

/// Weeks without school in Umeå, roughly: summer, Christmas, winter sports, Easter, autumn.
fn school_holiday(week: u32) -> bool {
    matches!(week, 25..=33 | 52 | 53 | 1 | 9 | 15 | 44)
}

/// Fewer signals in summer, most in the autumn term (when recruitment is most visible).
fn season(week: u32) -> f64 {
    match week {
        25..=33 => 0.7,
        36..=50 => 1.2,
        _ => 1.0,
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct DemoReport {
    pub weeks: u16,
    pub signals: usize,
}

/// One municipality's part of the history.
struct Reporting {
    districts: Vec<String>,
    reporters: Vec<(Role, Uuid)>,
    /// Weeks before the current one that its reporting began (the whole history for
    /// the first municipality).
    since: i64,
}

/// Fills `weeks` weeks up to and including the current one. `progress` is told after
/// each week how many weeks are done and how many signals are stored.
pub fn generate(
    conn: &mut PgConnection,
    today: NaiveDate,
    weeks: u16,
    seed: u64,
    mut progress: impl FnMut(u16, usize),
) -> Result<DemoReport, ApiError> {
    let mut rng = Rng(seed);
    let reference = vocabulary::snapshot(conn)?;
    let history = i64::from(weeks);
    // Umeå from the start; Sollentuna after three fifths of the history.
    let late_since = history * 2 / 5;
    let mut municipalities = Vec::new();
    for (code, since, prefix) in [
        ("umea", history, "demo"),
        (LATE_MUNICIPALITY, late_since, "demo-sollentuna"),
    ] {
        let municipality = areas::by_code(conn, code)?.ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("the seeded area `{code}` is missing"))
        })?;
        let mut districts: Vec<String> = reference
            .areas
            .iter()
            .filter(|(_, a)| a.is_district && a.active && a.path.starts_with(&municipality.path))
            .map(|(code, _)| code.clone())
            .collect();
        districts.sort();
        municipalities.push((
            municipality.clone(),
            Reporting {
                districts,
                reporters: demo_reporters(conn, municipality.id, prefix)?,
                since,
            },
        ));
    }
    let this_week = IsoWeek::of(today);
    let rules = IntakeRules {
        today,
        correction_window_weeks: weeks,
        scope_path: crate::domain::identity::ROOT_PATH,
    };
    let quota = Quota {
        limit: u32::MAX,
        window_secs: 1,
    };
    let mut report = DemoReport::default();
    for offset in (0..history).rev() {
        let week = this_week.plus_weeks(-offset);
        let elapsed = 1.0 - offset as f64 / f64::from(weeks.max(1));
        let mut generated: Vec<NewSignal> = Vec::new();
        for (_, reporting) in &municipalities {
            for district in &reporting.districts {
                let reporting_now = offset < reporting.since;
                let piloting = district == PILOT_DISTRICT
                    && (reporting.since..reporting.since + PILOT_WEEKS).contains(&offset);
                if !reporting_now && !piloting {
                    continue;
                }
                for (category, weight) in CATEGORIES {
                    let mut mean = BASE_RATE * weight / 10.0 * season(week.number());
                    if category == "digital_recruitment" {
                        mean *= 1.0 + elapsed;
                    }
                    if piloting {
                        // One school's worth: a fraction of a district.
                        mean *= 0.3;
                    }
                    if district == RISING_DISTRICT
                        && offset < RISE_WEEKS
                        && RISING_CATEGORIES.contains(&category)
                    {
                        mean *= RISE_FACTOR;
                    }
                    for _ in 0..rng.poisson(mean) {
                        let arena = *rng.pick(arenas_for(category));
                        if is_school_arena(arena)
                            && school_holiday(week.number())
                            && rng.unit() < 0.85
                        {
                            continue;
                        }
                        let input = SignalInput {
                            area: district.clone(),
                            age_band: (*rng.pick(&AGE_BANDS)).to_string(),
                            category: category.to_string(),
                            arena: arena.to_string(),
                            gender: *rng.pick(&GENDERS),
                            observed_on: None,
                            observed_week: Some(week.to_string()),
                        };
                        let signal = input.check(&reference, &rules).map_err(|errors| {
                            ApiError::internal(anyhow::anyhow!(
                                "generated an invalid signal: {errors:?}"
                            ))
                        })?;
                        let source = *rng.pick(sources_for(arena));
                        let submitted_by = reporting
                            .reporters
                            .iter()
                            .find(|(role, _)| *role == source)
                            .map(|(_, id)| *id)
                            .ok_or_else(|| {
                                ApiError::internal(anyhow::anyhow!(
                                    "no demo reporter for {source:?}"
                                ))
                            })?;
                        generated.push(NewSignal {
                            id: Uuid::now_v7(),
                            signal,
                            submitted_by,
                            source,
                        });
                    }
                }
            }
        }
        for chunk in generated.chunks(500) {
            let stored = signals::insert(conn, quota, Admit::AllOrNone, chunk)?.len();
            if stored < chunk.len() {
                return Err(ApiError::internal(anyhow::anyhow!("demo data hit a quota")));
            }
            report.signals += stored;
        }
        report.weeks += 1;
        progress(report.weeks, report.signals);
    }
    // The late municipality's admin sets its start, so the pilot's signals stay out.
    // Umeå keeps the default: its first week with a signal.
    for (municipality, reporting) in &municipalities {
        let start = (municipality.code == LATE_MUNICIPALITY && reporting.since < history)
            .then(|| this_week.plus_weeks(-(reporting.since - 1)).monday());
        areas::set_reporting_start(conn, municipality.id, start)?;
    }
    Ok(report)
}

/// One service account per reporting role (`{prefix}-school`, …), created on first use.
fn demo_reporters(
    conn: &mut PgConnection,
    area_id: i32,
    prefix: &str,
) -> Result<Vec<(Role, Uuid)>, ApiError> {
    [
        Role::School,
        Role::FieldWorker,
        Role::Police,
        Role::SocialServices,
        Role::Leisure,
    ]
    .into_iter()
    .map(|role| {
        let username = format!("{prefix}-{}", role.as_str().replace('_', "-"));
        let id = match users::by_username(conn, &username)? {
            Some((user, _)) => user.id,
            None => {
                users::insert(
                    conn,
                    &NewUser {
                        username: &username,
                        role: role.as_str(),
                        area_id,
                        kind: AccountKind::Service.as_str(),
                        password_hash: None,
                    },
                )?
                .id
            }
        };
        Ok((role, id))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_deterministic_and_uniform_enough() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        assert!((0..100).all(|_| a.next() == b.next()));
        let mut rng = Rng(1);
        let mean = (0..10_000).map(|_| rng.unit()).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        let poisson = (0..10_000)
            .map(|_| f64::from(rng.poisson(3.0)))
            .sum::<f64>()
            / 10_000.0;
        assert!((poisson - 3.0).abs() < 0.1, "{poisson}");
    }

    #[test]
    fn school_arenas_go_quiet_in_the_holidays() {
        assert!(school_holiday(28) && school_holiday(52) && !school_holiday(40));
        assert!(season(44) > season(28));
    }
}
