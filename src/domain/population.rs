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

/// Reads CSV with the header `area,age_band,year,persons` (any column order; other
/// columns are ignored), separated by `,` or by `;` (Swedish Excel), whichever the
/// header line uses. A UTF-8 byte order mark, quoted fields and CRLF line ends are read
/// as Excel and SCB's statistical database write them; lines whose fields are all empty
/// are skipped (Excel writes `;;;` for formatted empty rows). Errors carry the line
/// number (the header is line 1) in `index`.
pub fn parse_csv(text: &str) -> Result<Vec<(usize, PopulationInput)>, DomainError> {
    let text = text.trim_start_matches('\u{feff}');
    let separator = header_separator(text);
    let other = if separator == b';' { b',' } else { b';' };
    let mut records = Records::new(text, separator);
    let mut record = csv::StringRecord::new();
    let Some((header_line, header_text)) = records.next(&mut record)? else {
        return Err(DomainError::invalid(
            "body",
            "empty",
            "the CSV file is empty",
        ));
    };
    let header: Vec<String> = record.iter().map(str::to_owned).collect();
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
        // `area;age_band,year;persons`: say why the columns were not found.
        if unquoted(header_text, other) > 0 {
            return Err(DomainError::Invalid(vec![mixed(header_line, separator)]));
        }
        return Err(DomainError::Invalid(missing));
    }
    let columns: Vec<usize> = CSV_COLUMNS.iter().filter_map(|c| position(c)).collect();
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    while let Some((line, text)) = records.next(&mut record)? {
        if rows.len() + errors.len() >= MAX_ROWS {
            return Err(DomainError::invalid(
                "body",
                "too_many_rows",
                format!("at most {MAX_ROWS} rows per upload"),
            ));
        }
        if record.len() != header.len() {
            // A line split by the other separator is the likelier mistake to name.
            errors.push(if unquoted(text, other) > 0 {
                mixed(line, separator)
            } else {
                at_line(
                    line,
                    FieldError::new(
                        "body",
                        "wrong_field_count",
                        format!(
                            "line {line} has {} fields; the header has {}",
                            record.len(),
                            header.len()
                        ),
                    ),
                )
            });
            continue;
        }
        let field = |i: usize| record.get(columns[i]).unwrap_or_default().to_owned();
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

/// The separator the header line uses: `;` when it holds more unquoted `;` than `,`,
/// else `,` (also for a header of one column, which then lacks the others).
fn header_separator(text: &str) -> u8 {
    let header = text
        .lines()
        .find(|line| {
            !line
                .trim_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '"'))
                .is_empty()
        })
        .unwrap_or_default();
    if unquoted(header, b';') > unquoted(header, b',') {
        b';'
    } else {
        b','
    }
}

/// How often `byte` occurs in `text` outside double quotes.
fn unquoted(text: &str, byte: u8) -> usize {
    let mut quoted = false;
    let mut found = 0;
    for b in text.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b if b == byte && !quoted => found += 1,
            _ => {}
        }
    }
    found
}

fn mixed(line: usize, separator: u8) -> FieldError {
    let (separator, other) = if separator == b';' {
        (';', ',')
    } else {
        (',', ';')
    };
    at_line(
        line,
        FieldError::new(
            "body",
            "mixed_separators",
            format!(
                "line {line} is separated by {other:?}, but the header by {separator:?}; \
                 use one separator throughout"
            ),
        ),
    )
}

/// The records of a CSV text, read by the `csv` crate, each with the line it starts on
/// and its own text (to name the line and tell a mixed separator from a ragged line).
struct Records<'a> {
    text: &'a str,
    reader: csv::Reader<&'a [u8]>,
    /// The line number at byte `counted` of `text`.
    line: usize,
    counted: usize,
}

impl<'a> Records<'a> {
    fn new(text: &'a str, separator: u8) -> Self {
        let reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(separator)
            // Field counts are checked line by line, so that every bad line is named.
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        Self {
            text,
            reader,
            line: 1,
            counted: 0,
        }
    }

    /// The next record with a non-empty field into `record`, with its line and text.
    fn next(
        &mut self,
        record: &mut csv::StringRecord,
    ) -> Result<Option<(usize, &'a str)>, DomainError> {
        loop {
            let start = self.offset();
            let more = self.reader.read_record(record).map_err(|_| {
                // The text is a `str`, so this cannot happen; kept as a plain refusal.
                DomainError::invalid("body", "invalid_utf8", "the CSV file must be UTF-8")
            })?;
            if !more {
                return Ok(None);
            }
            let raw = self.text.get(start..self.offset()).unwrap_or_default();
            // The reader passes over empty lines before a record: count them too.
            let own = raw.trim_start_matches(['\r', '\n']);
            let begin = start + (raw.len() - own.len());
            let passed = self.text.get(self.counted..begin).unwrap_or_default();
            self.line += passed.bytes().filter(|b| *b == b'\n').count();
            self.counted = begin;
            if record.iter().any(|field| !field.is_empty()) {
                return Ok(Some((self.line, own)));
            }
        }
    }

    fn offset(&self) -> usize {
        usize::try_from(self.reader.position().byte()).unwrap_or(self.text.len())
    }
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

    fn values(rows: &[(usize, PopulationInput)]) -> Vec<(usize, &str, &str, i64, i64)> {
        rows.iter()
            .map(|(line, r)| {
                (
                    *line,
                    r.area.as_str(),
                    r.age_band.as_str(),
                    r.year,
                    r.persons,
                )
            })
            .collect()
    }

    #[test]
    fn swedish_excel_and_scb_files_load_as_they_are() {
        // Swedish Excel: `;`, CRLF, a byte order mark, trailing empty rows.
        let excel = "\u{feff}area;age_band;year;persons;anteckning\r\n\
                     teg;13-15;2026;412;Teg, centrum\r\n\
                     teg;16-17;2026;288;\"a; b\"\r\n;;;;\r\n";
        assert_eq!(
            values(&parse_csv(excel).unwrap()),
            [
                (2, "teg", "13-15", 2026, 412),
                (3, "teg", "16-17", 2026, 288)
            ]
        );
        // SCB's statistical database: every field quoted, a quote and a separator inside.
        let scb = "\"region\",\"area\",\"age_band\",\"year\",\"persons\"\n\
                   \"2480 Ume\u{e5}, \"\"Teg\"\"\",\"teg\",\"13-15\",\"2026\",\"412\"\n";
        assert_eq!(
            values(&parse_csv(scb).unwrap()),
            [(2, "teg", "13-15", 2026, 412)]
        );
        // A quoted field over two lines and a blank line: lines are still counted right.
        let multi = "area,age_band,year,persons,note\n\nteg,13-15,2026,412,\"two\nlines\"\n\
                     teg,16-17,2026,288,x\n";
        assert_eq!(
            values(&parse_csv(multi).unwrap()),
            [
                (3, "teg", "13-15", 2026, 412),
                (5, "teg", "16-17", 2026, 288)
            ]
        );
    }

    #[test]
    fn mixed_separators_and_ragged_lines_are_named_by_line() {
        assert_eq!(
            codes(parse_csv(
                "area;age_band;year;persons\r\nteg;13-15;2026;412\r\nteg,16-17,2026,288\r\n\
                 teg;16-17,2026;288\r\nteg;18-20;2026\r\nteg;0-9;2026;1;\r\n"
            )),
            [
                (Some(3), "body".to_owned(), "mixed_separators".to_owned()),
                (Some(4), "body".to_owned(), "mixed_separators".to_owned()),
                (Some(5), "body".to_owned(), "wrong_field_count".to_owned()),
                (Some(6), "body".to_owned(), "wrong_field_count".to_owned()),
            ]
        );
        assert_eq!(
            codes(parse_csv(
                "area;age_band,year;persons\nteg;13-15;2026;412\n"
            )),
            [(Some(1), "body".to_owned(), "mixed_separators".to_owned())]
        );
        // A separator inside quotes is text, not a mix.
        assert_eq!(
            codes(parse_csv(
                "area;age_band;year;persons\n\"te,g\";13-15;2026\n"
            )),
            [(Some(2), "body".to_owned(), "wrong_field_count".to_owned())]
        );
    }
}
