//! Interventions as coordinators register them: a named preventive programme in an area,
//! aimed at some categories and age bands, from a start week.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::domain::error::{DomainError, FieldError};
use crate::domain::identity::in_subtree;
use crate::domain::rules::free_text;
use crate::domain::signal::{CodeText, Vocabulary};
use crate::domain::week::IsoWeek;

/// The prevention pyramid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PreventionLevel {
    /// Everyone in the area (e.g. a school programme for all pupils).
    Universal,
    /// Groups at raised risk.
    Selective,
    /// Individuals already showing signs.
    Indicated,
}

impl PreventionLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            PreventionLevel::Universal => "universal",
            PreventionLevel::Selective => "selective",
            PreventionLevel::Indicated => "indicated",
        }
    }
}

/// An intervention to store: every code resolved to its id, every week checked.
#[derive(Debug, Clone)]
pub struct NewIntervention {
    pub id: uuid::Uuid,
    pub name: String,
    pub area_id: i32,
    pub category_ids: Vec<i16>,
    pub age_band_ids: Vec<i16>,
    pub level: PreventionLevel,
    pub start_week: chrono::NaiveDate,
    pub end_week: Option<chrono::NaiveDate>,
    pub created_by: uuid::Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Fältgrupp Ersboda", "area": "ostra-ersboda", "categories": ["recruitment_approach", "digital_recruitment"],
    "age_bands": ["13-15", "16-17"], "level": "selective", "start_week": "2026-W20", "end_week": null}))]
pub struct InterventionInput {
    /// The programme's name (never a person's).
    #[validate(length(min = 1, max = 120), custom(function = "free_text"))]
    #[schema(
        min_length = 1,
        max_length = 120,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
    /// An area code at any level, inside your own area.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub area: String,
    #[validate(length(min = 1, max = 50))]
    #[schema(min_items = 1, max_items = 50)]
    pub categories: Vec<CodeText>,
    #[validate(length(min = 1, max = 20))]
    #[schema(min_items = 1, max_items = 20)]
    pub age_bands: Vec<CodeText>,
    pub level: PreventionLevel,
    /// ISO week the intervention started; not in the future.
    #[schema(pattern = "^(20[0-9]{2}|2100)-W(0[1-9]|[1-4][0-9]|5[0-3])$")]
    pub start_week: String,
    #[schema(pattern = "^(20[0-9]{2}|2100)-W(0[1-9]|[1-4][0-9]|5[0-3])$")]
    pub end_week: Option<String>,
}

/// A change to a registered intervention: today only its end week (`null` reopens it).
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"end_week": "2026-W48"}))]
pub struct InterventionChange {
    /// The ISO week the intervention ended, not before its start; `null` if it runs on.
    #[schema(pattern = "^(20[0-9]{2}|2100)-W(0[1-9]|[1-4][0-9]|5[0-3])$")]
    pub end_week: Option<String>,
}

impl InterventionChange {
    /// The end week to store for an intervention that started the week of `start`.
    pub fn check(
        &self,
        start: chrono::NaiveDate,
    ) -> Result<Option<chrono::NaiveDate>, DomainError> {
        let Some(text) = &self.end_week else {
            return Ok(None);
        };
        let end = crate::domain::trend::parse_week("end_week", text)
            .map_err(|e| DomainError::Invalid(vec![e]))?;
        if end.monday() < start {
            return Err(DomainError::Invalid(vec![FieldError::new(
                "end_week",
                "before_start",
                "end_week is before start_week",
            )]));
        }
        Ok(Some(end.monday()))
    }
}

impl InterventionInput {
    /// Checks codes, area and weeks into an intervention to store.
    pub fn check(
        &self,
        vocabulary: &Vocabulary,
        scope_path: &str,
        this_week: IsoWeek,
        created_by: uuid::Uuid,
    ) -> Result<NewIntervention, DomainError> {
        let mut errors = Vec::new();
        let area = vocabulary.areas.get(&self.area);
        match area {
            None => errors.push(FieldError::new(
                "area",
                "unknown_code",
                format!("no area has the code {:?}", self.area),
            )),
            Some(a) if !in_subtree(scope_path, &a.path) => {
                return Err(DomainError::OutsideScope(self.area.clone()));
            }
            Some(_) => {}
        }
        let mut ids = |field: &str,
                       codes: &[CodeText],
                       known: &std::collections::HashMap<
            String,
            crate::domain::signal::VocabularyEntry,
        >| {
            let mut found: Vec<i16> = Vec::new();
            for CodeText(code) in codes {
                match known.get(code).and_then(|e| i16::try_from(e.id).ok()) {
                    Some(id) if !found.contains(&id) => found.push(id),
                    Some(_) => {}
                    None => errors.push(FieldError::new(
                        field,
                        "unknown_code",
                        format!("no {field} has the code {code:?}"),
                    )),
                }
            }
            found
        };
        let category_ids = ids("categories", &self.categories, &vocabulary.categories);
        let age_band_ids = ids("age_bands", &self.age_bands, &vocabulary.age_bands);
        let start = crate::domain::trend::parse_week("start_week", &self.start_week)
            .map_err(|e| errors.push(e))
            .ok();
        if start.is_some_and(|s| s > this_week) {
            errors.push(FieldError::new(
                "start_week",
                "in_future",
                format!("{} has not begun", self.start_week),
            ));
        }
        let end = match &self.end_week {
            None => None,
            Some(text) => crate::domain::trend::parse_week("end_week", text)
                .map_err(|e| errors.push(e))
                .ok(),
        };
        if let (Some(start), Some(end)) = (start, end)
            && end < start
        {
            errors.push(FieldError::new(
                "end_week",
                "before_start",
                "end_week is before start_week",
            ));
        }
        match (area, start) {
            (Some(area), Some(start)) if errors.is_empty() => Ok(NewIntervention {
                id: uuid::Uuid::now_v7(),
                name: self.name.clone(),
                area_id: area.id,
                category_ids,
                age_band_ids,
                level: self.level,
                start_week: start.monday(),
                end_week: end.map(IsoWeek::monday),
                created_by,
            }),
            _ => Err(DomainError::Invalid(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(end_week: Option<&str>) -> InterventionChange {
        InterventionChange {
            end_week: end_week.map(str::to_owned),
        }
    }

    #[test]
    fn an_end_week_is_stored_as_its_monday_and_null_reopens() {
        let start = chrono::NaiveDate::from_ymd_opt(2026, 5, 11).expect("a date");
        assert_eq!(
            change(Some("2026-W20")).check(start).ok(),
            Some(Some(start)),
            "ending in the start week itself is allowed"
        );
        assert_eq!(
            change(Some("2026-W48")).check(start).ok(),
            Some(chrono::NaiveDate::from_ymd_opt(2026, 11, 23))
        );
        assert_eq!(change(None).check(start).ok(), Some(None));
    }

    #[test]
    fn an_end_before_the_start_or_not_a_week_is_refused_at_end_week() {
        let start = chrono::NaiveDate::from_ymd_opt(2026, 5, 11).expect("a date");
        for (text, code) in [("2026-W19", "before_start"), ("2026-W60", "invalid_week")] {
            match change(Some(text)).check(start) {
                Err(DomainError::Invalid(errors)) => {
                    assert_eq!(errors.len(), 1);
                    assert_eq!(errors[0].field, "end_week");
                    assert_eq!(errors[0].code, code, "{text}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
