//! Population uploads: persons per district, age band and year, as CSV or JSON rows,
//! checked line by line so a municipality's statistician sees every mistake at once.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::domain::error::{DomainError, FieldError};
use crate::domain::identity::in_subtree;
use crate::domain::signal::Vocabulary;

/// Most rows one upload may hold (every district × age band for a few years, many times).
pub const MAX_ROWS: usize = 20_000;
pub const CSV_COLUMNS: [&str; 4] = ["area", "age_band", "year", "persons"];

/// One checked row to store: ids resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PopulationRow {
    pub area_id: i32,
    pub age_band_id: i16,
    pub year: i16,
    pub persons: i32,
}

/// Persons per (district, age band id, year): the denominators of rates.
pub type Population = std::collections::HashMap<(i32, i32, i32), i64>;

/// One row as sent.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"area": "teg", "age_band": "13-15", "year": 2026, "persons": 412}))]
pub struct PopulationInput {
    /// A district code.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub area: String,
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub age_band: String,
    /// 2000–2100.
    #[schema(minimum = 2000, maximum = 2100)]
    #[serde(deserialize_with = "crate::domain::rules::whole_number")]
    pub year: i64,
    /// Persons living in the district in that age band, 0–10,000,000.
    #[schema(minimum = 0, maximum = 10_000_000)]
    #[serde(deserialize_with = "crate::domain::rules::whole_number")]
    pub persons: i64,
}

/// The CSV form of an upload, as the spec describes it: text without control characters
/// other than line breaks.
#[derive(ToSchema)]
#[schema(value_type = String, pattern = "^[^\\u0000-\\u0009\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$",
         example = "area,age_band,year,persons\nteg,13-15,2026,412\nteg,16-17,2026,288\n")]
pub struct PopulationCsv(pub String);

/// The JSON form of an upload.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"rows": [{"area": "teg", "age_band": "13-15", "year": 2026, "persons": 412},
    {"area": "teg", "age_band": "16-17", "year": 2026, "persons": 288}]}))]
pub struct PopulationUpload {
    #[validate(length(min = 1, max = 20000))]
    #[schema(min_items = 1, max_items = 20000)]
    pub rows: Vec<PopulationInput>,
}

/// Reads CSV with the header `area,age_band,year,persons` (any column order), separated
/// by `,` or, as Swedish Excel saves it, `;` (whichever the header uses), with or without
/// a UTF-8 BOM, quoted fields and CRLF line ends. Errors carry the line number (the
/// header is line 1) in `index`.
pub fn parse_csv(text: &str) -> Result<Vec<(usize, PopulationInput)>, DomainError> {
    let text = text.trim_start_matches('\u{feff}');
    let empty = || DomainError::invalid("body", "empty", "the CSV file is empty");
    let header_line = text.lines().find(|line| !line.trim().is_empty());
    let Some(header_line) = header_line else {
        return Err(empty());
    };
    let separator = if header_line.contains(';') && !header_line.contains(',') {
        b';'
    } else {
        b','
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut records = reader.records().filter_map(|record| match record {
        // Blank lines are no rows.
        Ok(r) if r.iter().all(str::is_empty) => None,
        Ok(r) => Some(Ok((line_of(text, r.position()), r))),
        Err(e) => Some(Err(e)),
    });
    let header = match records.next() {
        Some(Ok((_, header))) => header,
        Some(Err(error)) => return Err(DomainError::Invalid(vec![unreadable(text, &error)])),
        None => return Err(empty()),
    };
    if header.len() > 16 {
        return Err(DomainError::invalid(
            "body",
            "too_many_columns",
            "the header has more than 16 columns; expected area,age_band,year,persons",
        ));
    }
    let position = |name: &str| header.iter().position(|h| h == name);
    let missing: Vec<FieldError> = CSV_COLUMNS
        .iter()
        .filter(|c| position(c).is_none())
        .map(|c| {
            FieldError::new(
                *c,
                "missing_column",
                format!("the header must name the columns {}", CSV_COLUMNS.join(",")),
            )
        })
        .collect();
    if !missing.is_empty() {
        return Err(DomainError::Invalid(missing));
    }
    let columns: Vec<usize> = CSV_COLUMNS.iter().filter_map(|c| position(c)).collect();
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for record in records {
        if rows.len() + errors.len() >= MAX_ROWS {
            return Err(DomainError::invalid(
                "body",
                "too_many_rows",
                format!("at most {MAX_ROWS} rows per upload"),
            ));
        }
        let (line, fields) = match record {
            Ok(found) => found,
            Err(error) => {
                errors.push(unreadable(text, &error));
                continue;
            }
        };
        // A line written with the other separator reads as one field: named here too.
        if fields.len() != header.len() {
            errors.push(at_line(
                line,
                FieldError::new(
                    "body",
                    "wrong_field_count",
                    format!(
                        "line {line} has {} fields separated by {:?}; the header has {}",
                        fields.len(),
                        char::from(separator),
                        header.len()
                    ),
                ),
            ));
            continue;
        }
        let field = |i: usize| fields.get(columns[i]).unwrap_or_default().to_owned();
        let number = |i: usize, errors: &mut Vec<FieldError>| match field(i).parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                errors.push(at_line(
                    line,
                    FieldError::new(
                        CSV_COLUMNS[i],
                        "not_an_integer",
                        format!("line {line}: {} must be a whole number", CSV_COLUMNS[i]),
                    ),
                ));
                None
            }
        };
        let (year, persons) = (number(2, &mut errors), number(3, &mut errors));
        if let (Some(year), Some(persons)) = (year, persons) {
            rows.push((
                line,
                PopulationInput {
                    area: field(0),
                    age_band: field(1),
                    year,
                    persons,
                },
            ));
        }
    }
    if !errors.is_empty() {
        return Err(DomainError::Invalid(errors));
    }
    if rows.is_empty() {
        return Err(DomainError::invalid(
            "body",
            "empty",
            "the CSV file has no rows",
        ));
    }
    Ok(rows)
}

/// The line a record starts on (the header is line 1), counted from its byte offset:
/// after a CR the reader's own line count lags by one.
fn line_of(text: &str, position: Option<&csv::Position>) -> usize {
    let byte = position.map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
    let end = byte.saturating_add(1).min(text.len());
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// A line the reader could not read, named.
fn unreadable(text: &str, error: &csv::Error) -> FieldError {
    let line = line_of(text, error.position());
    at_line(
        line,
        FieldError::new(
            "body",
            "unreadable",
            format!("line {line} is not valid CSV"),
        ),
    )
}

fn at_line(line: usize, mut error: FieldError) -> FieldError {
    error.index = Some(line);
    error
}

/// Checks every row against the reference data and the uploader's area; any error
/// refuses the whole upload. `index` in errors is the CSV line or the JSON row index.
pub fn check(
    rows: &[(usize, PopulationInput)],
    vocabulary: &Vocabulary,
    scope_path: &str,
) -> Result<Vec<PopulationRow>, DomainError> {
    let mut errors = Vec::new();
    let mut checked = Vec::with_capacity(rows.len());
    let mut seen = HashSet::new();
    for (index, row) in rows {
        let before = errors.len();
        let mut fail = |field: &str, code: &str, message: String| {
            errors.push(at_line(*index, FieldError::new(field, code, message)));
        };
        let area = match vocabulary.areas.get(&row.area) {
            None => {
                fail(
                    "area",
                    "unknown_code",
                    format!("no area has the code {:?}", row.area),
                );
                None
            }
            Some(a) if !a.is_district => {
                fail(
                    "area",
                    "not_a_district",
                    format!(
                        "{} is not a district: population is given per district",
                        row.area
                    ),
                );
                None
            }
            Some(a) if !in_subtree(scope_path, &a.path) => {
                fail(
                    "area",
                    "outside_scope",
                    format!("{} lies outside your own area", row.area),
                );
                None
            }
            Some(a) => Some(a.id),
        };
        let band = vocabulary.age_bands.get(&row.age_band).map(|b| b.id);
        if band.is_none() {
            fail(
                "age_band",
                "unknown_code",
                format!("no age band has the code {:?}", row.age_band),
            );
        }
        if !(2000..=2100).contains(&row.year) {
            fail(
                "year",
                "out_of_range",
                format!("year {} is not between 2000 and 2100", row.year),
            );
        }
        if !(0..=10_000_000).contains(&row.persons) {
            fail(
                "persons",
                "out_of_range",
                format!("persons {} is not between 0 and 10,000,000", row.persons),
            );
        }
        if errors.len() > before {
            continue;
        }
        if let (Some(area_id), Some(band)) = (area, band) {
            if !seen.insert((area_id, band, row.year)) {
                errors.push(at_line(
                    *index,
                    FieldError::new(
                        "area",
                        "duplicate",
                        format!("{} {} {} appears twice", row.area, row.age_band, row.year),
                    ),
                ));
                continue;
            }
            checked.push(PopulationRow {
                area_id,
                age_band_id: i16::try_from(band).unwrap_or_default(),
                year: i16::try_from(row.year).unwrap_or_default(),
                persons: i32::try_from(row.persons).unwrap_or_default(),
            });
        }
    }
    if errors.is_empty() {
        Ok(checked)
    } else {
        Err(DomainError::Invalid(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(
        result: Result<Vec<(usize, PopulationInput)>, DomainError>,
    ) -> Vec<(Option<usize>, String, String)> {
        match result {
            Err(DomainError::Invalid(errors)) => errors
                .into_iter()
                .map(|e| (e.index, e.field, e.code))
                .collect(),
            other => panic!(
                "expected a validation error, got {:?}",
                other.map(|r| r.len())
            ),
        }
    }

    #[test]
    fn csv_rows_are_read_in_any_column_order_with_a_bom_and_crlf() {
        let rows =
            parse_csv("\u{feff}year,persons,area,age_band\r\n2026,412,teg,13-15\r\n\r\n").unwrap();
        assert_eq!(rows.len(), 1);
        let (line, row) = &rows[0];
        assert_eq!(*line, 2);
        assert_eq!(
            (
                row.area.as_str(),
                row.age_band.as_str(),
                row.year,
                row.persons
            ),
            ("teg", "13-15", 2026, 412)
        );
    }

    #[test]
    fn swedish_excel_files_load_as_they_are() {
        let text = "\u{feff}area;age_band;year;persons\r\n\"teg\";13-15;2026;412\r\n";
        let rows = parse_csv(text).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].1.area.as_str(), rows[0].1.persons), ("teg", 412));
    }

    #[test]
    fn a_quoted_field_may_hold_the_separator_and_quotes() {
        let rows = parse_csv("area,age_band,year,persons\n\"te,g\"\"\",13-15,2026,1\n").unwrap();
        assert_eq!(rows[0].1.area, "te,g\"");
    }

    #[test]
    fn a_line_with_the_other_separator_is_named() {
        assert_eq!(
            codes(parse_csv(
                "area;age_band;year;persons\nteg;13-15;2026;412\nteg,16-17,2026,3\n"
            )),
            [(Some(3), "body".to_owned(), "wrong_field_count".to_owned())]
        );
    }

    #[test]
    fn a_missing_column_is_named() {
        assert_eq!(
            codes(parse_csv("area,age_band,year\nteg,13-15,2026\n")),
            [(None, "persons".to_owned(), "missing_column".to_owned())]
        );
    }

    #[test]
    fn bad_numbers_are_reported_by_line() {
        assert_eq!(
            codes(parse_csv(
                "area,age_band,year,persons\nteg,13-15,2026,412\nteg,16-17,2026,12.5\nteg,16-17,20x6,3\n"
            )),
            [
                (Some(3), "persons".to_owned(), "not_an_integer".to_owned()),
                (Some(4), "year".to_owned(), "not_an_integer".to_owned())
            ]
        );
        assert_eq!(
            codes(parse_csv("area,age_band,year,persons\nteg,13-15\n")),
            [(Some(2), "body".to_owned(), "wrong_field_count".to_owned())]
        );
    }
}
