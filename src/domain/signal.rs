//! A concern signal as a client sends it, and the rules that turn it into a
//! [`ValidSignal`]: known, active codes; a district inside the caller's area; exactly one
//! of a date or a week, within the correction window and not in the future. Pure: the
//! reference data comes in as a [`Vocabulary`] snapshot.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::domain::error::FieldError;
use crate::domain::rules::no_control_chars;
use crate::domain::week::IsoWeek;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Girl,
    Boy,
    Other,
}

impl Gender {
    /// The stored value; `unspecified` when the reporter left gender out.
    pub fn db_value(gender: Option<Gender>) -> &'static str {
        match gender {
            None => "unspecified",
            Some(Gender::Girl) => "girl",
            Some(Gender::Boy) => "boy",
            Some(Gender::Other) => "other",
        }
    }

    pub fn from_db(value: &str) -> Option<Gender> {
        match value {
            "girl" => Some(Gender::Girl),
            "boy" => Some(Gender::Boy),
            "other" => Some(Gender::Other),
            _ => None,
        }
    }
}

/// A vocabulary code as sent in a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$", example = "13-15")]
pub struct CodeText(pub String);

/// One observation, as reported. Every field is a code: there is nowhere to write
/// anything about the child, and unknown fields are refused.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"area": "ostra-ersboda", "age_band": "13-15", "category": "digital_recruitment",
                           "arena": "social_media", "gender": "girl", "observed_week": "2026-W47"}))]
pub struct SignalInput {
    /// A district (leaf area) inside your area.
    #[validate(length(min = 1, max = 64), custom(function = "no_control_chars"))]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub area: String,
    #[validate(length(min = 1, max = 64), custom(function = "no_control_chars"))]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub age_band: String,
    #[validate(length(min = 1, max = 64), custom(function = "no_control_chars"))]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub category: String,
    #[validate(length(min = 1, max = 64), custom(function = "no_control_chars"))]
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub arena: String,
    /// Optional; leave out when unknown.
    #[serde(default)]
    pub gender: Option<Gender>,
    /// The day of the observation (only its ISO week is stored). Exactly one of
    /// `observed_on` and `observed_week`.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date, example = "2026-11-18")]
    pub observed_on: Option<NaiveDate>,
    /// The ISO week of the observation, e.g. `2026-W47`.
    #[serde(default)]
    #[validate(length(min = 1, max = 10), custom(function = "no_control_chars"))]
    #[schema(
        example = "2026-W47",
        pattern = "^(20[0-9]{2}|2100)-W(0[1-9]|[1-4][0-9]|5[0-3])$"
    )]
    pub observed_week: Option<String>,
}

/// A signal that passed every rule, in storage ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidSignal {
    pub week: IsoWeek,
    pub area_id: i32,
    pub age_band_id: i16,
    pub category_id: i16,
    pub arena_id: i16,
    pub gender: Option<Gender>,
}

#[derive(Debug, Clone)]
pub struct VocabularyEntry {
    pub id: i32,
    pub active: bool,
}

#[derive(Debug, Clone)]
pub struct AreaEntry {
    pub id: i32,
    pub path: String,
    pub is_district: bool,
    pub active: bool,
}

/// The reference data a signal is checked against, by code.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    pub areas: HashMap<String, AreaEntry>,
    pub age_bands: HashMap<String, VocabularyEntry>,
    pub categories: HashMap<String, VocabularyEntry>,
    pub arenas: HashMap<String, VocabularyEntry>,
}

/// Codes by storage id, for showing stored signals.
#[derive(Debug, Default)]
pub struct CodeNames {
    pub areas: HashMap<i32, String>,
    pub age_bands: HashMap<i32, String>,
    pub categories: HashMap<i32, String>,
    pub arenas: HashMap<i32, String>,
}

impl Vocabulary {
    /// Codes by id, for showing stored signals.
    pub fn code_names(&self) -> CodeNames {
        let invert = |map: &HashMap<String, VocabularyEntry>| {
            map.iter().map(|(code, e)| (e.id, code.clone())).collect()
        };
        CodeNames {
            areas: self
                .areas
                .iter()
                .map(|(code, a)| (a.id, code.clone()))
                .collect(),
            age_bands: invert(&self.age_bands),
            categories: invert(&self.categories),
            arenas: invert(&self.arenas),
        }
    }
}

/// What a signal is judged against besides the vocabulary.
#[derive(Debug, Clone)]
pub struct IntakeRules<'a> {
    /// The municipality's calendar day.
    pub today: NaiveDate,
    pub correction_window_weeks: u16,
    /// The caller's area path: the district must lie below it.
    pub scope_path: &'a str,
}

impl SignalInput {
    /// Checks every rule and reports every broken one.
    pub fn check(
        &self,
        vocabulary: &Vocabulary,
        rules: &IntakeRules<'_>,
    ) -> Result<ValidSignal, Vec<FieldError>> {
        let mut errors = Vec::new();
        let area = match vocabulary
            .areas
            .get(&self.area)
            .filter(|a| a.path.starts_with(rules.scope_path))
        {
            None => {
                errors.push(FieldError::new(
                    "area",
                    "unknown_area",
                    format!("no area `{}` in your area", self.area),
                ));
                None
            }
            Some(area) if !area.is_district => {
                errors.push(FieldError::new(
                    "area",
                    "not_a_district",
                    format!(
                        "`{}` is not a district: signals are filed on districts",
                        self.area
                    ),
                ));
                None
            }
            Some(area) if !area.active => {
                errors.push(FieldError::new(
                    "area",
                    "inactive",
                    format!("the area `{}` is deactivated", self.area),
                ));
                None
            }
            Some(area) => Some(area.id),
        };
        let code = |field: &str,
                    table: &HashMap<String, VocabularyEntry>,
                    value: &str,
                    errors: &mut Vec<FieldError>| {
            match table.get(value) {
                None => {
                    errors.push(FieldError::new(
                        field,
                        "unknown_code",
                        format!("unknown {}: `{value}`", field.replace('_', " ")),
                    ));
                    None
                }
                Some(entry) if !entry.active => {
                    errors.push(FieldError::new(
                        field,
                        "inactive",
                        format!("`{value}` is deactivated"),
                    ));
                    None
                }
                Some(entry) => i16::try_from(entry.id).ok(),
            }
        };
        let age_band = code(
            "age_band",
            &vocabulary.age_bands,
            &self.age_band,
            &mut errors,
        );
        let category = code(
            "category",
            &vocabulary.categories,
            &self.category,
            &mut errors,
        );
        let arena = code("arena", &vocabulary.arenas, &self.arena, &mut errors);
        let week = self.week(rules, &mut errors);
        match (area, age_band, category, arena, week) {
            (Some(area_id), Some(age_band_id), Some(category_id), Some(arena_id), Some(week))
                if errors.is_empty() =>
            {
                Ok(ValidSignal {
                    week,
                    area_id,
                    age_band_id,
                    category_id,
                    arena_id,
                    gender: self.gender,
                })
            }
            _ => Err(errors),
        }
    }

    fn week(&self, rules: &IntakeRules<'_>, errors: &mut Vec<FieldError>) -> Option<IsoWeek> {
        let (field, week) = match (&self.observed_on, &self.observed_week) {
            // Far outside the window either way; refused before any week arithmetic.
            (Some(day), None) if day.year() < 2000 => {
                errors.push(FieldError::new(
                    "observed_on",
                    "too_old",
                    "older than the correction window",
                ));
                return None;
            }
            (Some(day), None) if day.year() > 9999 => {
                errors.push(FieldError::new(
                    "observed_on",
                    "future",
                    "the observation cannot be in the future",
                ));
                return None;
            }
            (Some(day), None) => ("observed_on", IsoWeek::of(*day)),
            (None, Some(text)) => match IsoWeek::parse(text) {
                Ok(week) => ("observed_week", week),
                Err(message) => {
                    errors.push(FieldError::new("observed_week", "invalid_week", message));
                    return None;
                }
            },
            (Some(_), Some(_)) => {
                errors.push(FieldError::new(
                    "observed_on",
                    "ambiguous",
                    "give observed_on or observed_week, not both",
                ));
                return None;
            }
            (None, None) => {
                errors.push(FieldError::new(
                    "observed_week",
                    "required",
                    "give observed_on (a date) or observed_week",
                ));
                return None;
            }
        };
        if self.observed_on.is_some_and(|day| day > rules.today) {
            errors.push(FieldError::new(
                field,
                "future",
                "the observation cannot be in the future",
            ));
            return None;
        }
        let this_week = IsoWeek::of(rules.today);
        if week > this_week {
            errors.push(FieldError::new(
                field,
                "future",
                format!("{week} has not begun yet"),
            ));
            return None;
        }
        let oldest = this_week.plus_weeks(-i64::from(rules.correction_window_weeks));
        if week < oldest {
            errors.push(FieldError::new(
                field,
                "too_old",
                format!(
                    "{week} is older than the correction window of {} weeks (oldest: {oldest})",
                    rules.correction_window_weeks
                ),
            ));
            return None;
        }
        Some(week)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary() -> Vocabulary {
        let entry = |id, active| VocabularyEntry { id, active };
        let mut v = Vocabulary::default();
        for (code, id, path, district, active) in [
            ("umea", 2, "/vasterbotten/umea/", false, true),
            ("teg", 5, "/vasterbotten/umea/teg/", true, true),
            ("closed", 6, "/vasterbotten/umea/closed/", true, false),
            ("edsberg", 9, "/stockholm/sollentuna/edsberg/", true, true),
        ] {
            v.areas.insert(
                code.into(),
                AreaEntry {
                    id,
                    path: path.into(),
                    is_district: district,
                    active,
                },
            );
        }
        v.age_bands.insert("13-15".into(), entry(3, true));
        v.age_bands.insert("old".into(), entry(9, false));
        v.categories.insert("weapons".into(), entry(8, true));
        v.arenas.insert("school".into(), entry(1, true));
        v
    }

    fn input(area: &str, week: &str) -> SignalInput {
        SignalInput {
            area: area.into(),
            age_band: "13-15".into(),
            category: "weapons".into(),
            arena: "school".into(),
            gender: None,
            observed_on: None,
            observed_week: Some(week.into()),
        }
    }

    fn rules(today: NaiveDate) -> IntakeRules<'static> {
        IntakeRules {
            today,
            correction_window_weeks: 8,
            scope_path: "/vasterbotten/umea/",
        }
    }

    fn codes(result: Result<ValidSignal, Vec<FieldError>>) -> Vec<(String, String)> {
        result
            .unwrap_err()
            .into_iter()
            .map(|e| (e.field, e.code))
            .collect()
    }

    const SUNDAY: NaiveDate = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();

    #[test]
    fn a_good_signal_is_resolved_to_ids_and_its_week() {
        let valid = input("teg", "2026-W47")
            .check(&vocabulary(), &rules(SUNDAY))
            .unwrap();
        assert_eq!(
            (
                valid.area_id,
                valid.age_band_id,
                valid.category_id,
                valid.arena_id
            ),
            (5, 3, 8, 1)
        );
        assert_eq!(valid.week.to_string(), "2026-W47");
    }

    #[test]
    fn areas_must_be_active_districts_inside_the_scope() {
        let v = vocabulary();
        assert_eq!(
            codes(input("umea", "2026-W47").check(&v, &rules(SUNDAY))),
            [("area".into(), "not_a_district".into())]
        );
        assert_eq!(
            codes(input("edsberg", "2026-W47").check(&v, &rules(SUNDAY))),
            [("area".into(), "unknown_area".into())]
        );
        assert_eq!(
            codes(input("closed", "2026-W47").check(&v, &rules(SUNDAY))),
            [("area".into(), "inactive".into())]
        );
    }

    #[test]
    fn every_broken_rule_is_reported() {
        let mut bad = input("atlantis", "2026-W99");
        bad.age_band = "old".into();
        bad.arena = "moon".into();
        let found = codes(bad.check(&vocabulary(), &rules(SUNDAY)));
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found.contains(&("age_band".into(), "inactive".into())));
        assert!(found.contains(&("arena".into(), "unknown_code".into())));
    }

    #[test]
    fn the_week_is_within_the_window_and_not_in_the_future() {
        let v = vocabulary();
        assert!(
            input("teg", "2026-W39").check(&v, &rules(SUNDAY)).is_ok(),
            "8 weeks back is allowed"
        );
        assert_eq!(
            codes(input("teg", "2026-W38").check(&v, &rules(SUNDAY)))[0].1,
            "too_old"
        );
        assert_eq!(
            codes(input("teg", "2026-W48").check(&v, &rules(SUNDAY)))[0].1,
            "future"
        );
        // Monday 00:30 in Stockholm is already the new week.
        let monday = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert!(input("teg", "2026-W48").check(&v, &rules(monday)).is_ok());
    }

    #[test]
    fn dates_at_the_ends_of_the_calendar_are_refused_not_panicked_on() {
        let mut ancient = input("teg", "2026-W47");
        ancient.observed_week = None;
        ancient.observed_on = Some(NaiveDate::MIN);
        assert_eq!(
            codes(ancient.check(&vocabulary(), &rules(SUNDAY)))[0].1,
            "too_old"
        );
        ancient.observed_on = Some(NaiveDate::MAX);
        assert_eq!(
            codes(ancient.check(&vocabulary(), &rules(SUNDAY)))[0].1,
            "future"
        );
        let _ = IsoWeek::of(NaiveDate::MIN);
    }

    #[test]
    fn exactly_one_of_date_and_week() {
        let v = vocabulary();
        let mut both = input("teg", "2026-W47");
        both.observed_on = Some(SUNDAY);
        assert_eq!(codes(both.check(&v, &rules(SUNDAY)))[0].1, "ambiguous");
        let mut neither = input("teg", "2026-W47");
        neither.observed_week = None;
        assert_eq!(codes(neither.check(&v, &rules(SUNDAY)))[0].1, "required");
        let mut tomorrow = input("teg", "2026-W47");
        tomorrow.observed_week = None;
        tomorrow.observed_on = SUNDAY.succ_opt();
        assert_eq!(codes(tomorrow.check(&v, &rules(SUNDAY)))[0].1, "future");
    }
}
