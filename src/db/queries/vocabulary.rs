//! Age bands, categories and arenas: three small tables of the same shape (categories
//! add descriptions), handled by one set of functions keyed by [`VocabularyKind`].

use diesel::prelude::*;
use diesel::sql_types::{Bool, Integer, Nullable, Text};

use crate::domain::signal::{AreaEntry, Vocabulary, VocabularyEntry};
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VocabularyKind {
    AgeBand,
    Category,
    Arena,
}

impl VocabularyKind {
    /// The table; a constant, never user input, so it may be spliced into SQL.
    pub fn table(self) -> &'static str {
        match self {
            VocabularyKind::AgeBand => "age_bands",
            VocabularyKind::Category => "categories",
            VocabularyKind::Arena => "arenas",
        }
    }

    /// The code's shape, as the table's CHECK constraint has it.
    pub fn valid_code(self, code: &str) -> bool {
        let bytes = code.as_bytes();
        match self {
            VocabularyKind::AgeBand => code.split_once('-').is_some_and(|(a, b)| {
                [a, b]
                    .iter()
                    .all(|n| (1..=3).contains(&n.len()) && n.bytes().all(|c| c.is_ascii_digit()))
            }),
            _ => {
                (2..=64).contains(&bytes.len())
                    && bytes[0].is_ascii_lowercase()
                    && bytes
                        .iter()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
            }
        }
    }
}

#[derive(Debug, Clone, QueryableByName)]
pub struct Term {
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Text)]
    pub label_sv: String,
    #[diesel(sql_type = Text)]
    pub label_en: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub description_sv: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub description_en: Option<String>,
    #[diesel(sql_type = Bool)]
    pub active: bool,
}

fn columns(kind: VocabularyKind) -> &'static str {
    match kind {
        VocabularyKind::Category => {
            "code, label_sv, label_en, description_sv, description_en, active"
        }
        _ => {
            "code, label_sv, label_en, NULL::text AS description_sv, NULL::text AS description_en, active"
        }
    }
}

pub fn list(conn: &mut PgConnection, kind: VocabularyKind) -> Result<Vec<Term>, ApiError> {
    let sql = format!(
        "SELECT {} FROM {} ORDER BY sort_order, code",
        columns(kind),
        kind.table()
    );
    Ok(diesel::sql_query(sql).load(conn)?)
}

pub struct NewTerm<'a> {
    pub code: &'a str,
    pub label_sv: &'a str,
    pub label_en: &'a str,
    pub description_sv: &'a str,
    pub description_en: &'a str,
}

pub fn insert(
    conn: &mut PgConnection,
    kind: VocabularyKind,
    term: &NewTerm<'_>,
) -> Result<Term, ApiError> {
    let (table, described) = (kind.table(), kind == VocabularyKind::Category);
    let (extra_columns, extra_values) = if described {
        (", description_sv, description_en", ", $4, $5")
    } else {
        ("", "")
    };
    let sql = format!(
        "INSERT INTO {table} (code, label_sv, label_en{extra_columns}, sort_order)
         VALUES ($1, $2, $3{extra_values}, (SELECT coalesce(max(sort_order), 0) + 1 FROM {table}))
         RETURNING {}",
        columns(kind)
    );
    let mut query = diesel::sql_query(sql)
        .into_boxed()
        .bind::<Text, _>(term.code)
        .bind::<Text, _>(term.label_sv)
        .bind::<Text, _>(term.label_en);
    if described {
        query = query
            .bind::<Text, _>(term.description_sv)
            .bind::<Text, _>(term.description_en);
    }
    Ok(query.get_result(conn)?)
}

pub struct TermChange<'a> {
    pub label_sv: Option<&'a str>,
    pub label_en: Option<&'a str>,
    pub description_sv: Option<&'a str>,
    pub description_en: Option<&'a str>,
    pub active: Option<bool>,
}

/// Relabels or (de)activates a term; `None` if the code does not exist. Codes are never
/// deleted: old signals keep pointing at them.
pub fn update(
    conn: &mut PgConnection,
    kind: VocabularyKind,
    code: &str,
    change: &TermChange<'_>,
) -> Result<Option<Term>, ApiError> {
    let described = kind == VocabularyKind::Category;
    let descriptions = if described {
        ", description_sv = coalesce($5, description_sv), description_en = coalesce($6, description_en)"
    } else {
        ""
    };
    let sql = format!(
        "UPDATE {} SET label_sv = coalesce($2, label_sv), label_en = coalesce($3, label_en),
                active = coalesce($4, active){descriptions}
          WHERE code = $1 RETURNING {}",
        kind.table(),
        columns(kind)
    );
    let mut query = diesel::sql_query(sql)
        .into_boxed()
        .bind::<Text, _>(code)
        .bind::<Nullable<Text>, _>(change.label_sv)
        .bind::<Nullable<Text>, _>(change.label_en)
        .bind::<Nullable<Bool>, _>(change.active);
    if described {
        query = query
            .bind::<Nullable<Text>, _>(change.description_sv)
            .bind::<Nullable<Text>, _>(change.description_en);
    }
    Ok(query.get_result(conn).optional()?)
}

#[derive(QueryableByName)]
struct SnapshotRow {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    code: String,
    #[diesel(sql_type = Bool)]
    active: bool,
    #[diesel(sql_type = Nullable<Text>)]
    path: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    level: Option<String>,
}

/// All reference data a signal is checked against, in one round trip.
pub fn snapshot(conn: &mut PgConnection) -> Result<Vocabulary, ApiError> {
    let rows: Vec<SnapshotRow> = diesel::sql_query(
        "SELECT 'area' AS kind, id, code, active, path, level FROM areas
         UNION ALL SELECT 'age_band', id::int, code, active, NULL, NULL FROM age_bands
         UNION ALL SELECT 'category', id::int, code, active, NULL, NULL FROM categories
         UNION ALL SELECT 'arena', id::int, code, active, NULL, NULL FROM arenas",
    )
    .load(conn)?;
    let mut vocabulary = Vocabulary::default();
    for row in rows {
        let entry = VocabularyEntry {
            id: row.id,
            active: row.active,
        };
        match row.kind.as_str() {
            "area" => {
                let area = AreaEntry {
                    id: row.id,
                    path: row.path.unwrap_or_default(),
                    is_district: row.level.as_deref() == Some("district"),
                    active: row.active,
                };
                vocabulary.areas.insert(row.code, area);
            }
            "age_band" => {
                vocabulary.age_bands.insert(row.code, entry);
            }
            "category" => {
                vocabulary.categories.insert(row.code, entry);
            }
            _ => {
                vocabulary.arenas.insert(row.code, entry);
            }
        }
    }
    Ok(vocabulary)
}
