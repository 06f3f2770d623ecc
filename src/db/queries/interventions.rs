//! Interventions: preventive programmes whose effect on the trends is followed.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use diesel::sql_types::{
    Array, BigInt, Date, Int2, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid,
};
use uuid::Uuid;

use crate::domain::intervention::NewIntervention;
use crate::error::ApiError;

/// A stored intervention, with codes.
#[derive(Debug, Clone, QueryableByName)]
pub struct StoredIntervention {
    #[diesel(sql_type = SqlUuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub name: String,
    #[diesel(sql_type = Text)]
    pub area: String,
    #[diesel(sql_type = Array<Text>)]
    pub categories: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    pub age_bands: Vec<String>,
    #[diesel(sql_type = Text)]
    pub level: String,
    #[diesel(sql_type = Date)]
    pub start_week: NaiveDate,
    #[diesel(sql_type = Nullable<Date>)]
    pub end_week: Option<NaiveDate>,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT i.id, i.name, a.code AS area,
        ARRAY(SELECT c.code FROM categories c WHERE c.id = ANY(i.category_ids) ORDER BY c.id) AS categories,
        ARRAY(SELECT b.code FROM age_bands b WHERE b.id = ANY(i.age_band_ids) ORDER BY b.id) AS age_bands,
        i.level, i.start_week, i.end_week, i.created_at
   FROM interventions i JOIN areas a ON a.id = i.area_id";

/// Stores one checked intervention.
const INSERT: &str = "INSERT INTO interventions (id, name, area_id, category_ids, age_band_ids, level, start_week, end_week, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

pub fn insert(
    conn: &mut PgConnection,
    new: &NewIntervention,
) -> Result<StoredIntervention, ApiError> {
    diesel::sql_query(INSERT)
        .bind::<SqlUuid, _>(new.id)
        .bind::<Text, _>(&new.name)
        .bind::<Int4, _>(new.area_id)
        .bind::<Array<Int2>, _>(&new.category_ids)
        .bind::<Array<Int2>, _>(&new.age_band_ids)
        .bind::<Text, _>(new.level.as_str())
        .bind::<Date, _>(new.start_week)
        .bind::<Nullable<Date>, _>(new.end_week)
        .bind::<SqlUuid, _>(new.created_by)
        .execute(conn)?;
    Ok(diesel::sql_query(format!("{SELECT} WHERE i.id = $1"))
        .bind::<SqlUuid, _>(new.id)
        .get_result(conn)?)
}

/// One intervention, if it lies inside `scope_path`.
pub fn get(
    conn: &mut PgConnection,
    id: Uuid,
    scope_path: &str,
) -> Result<Option<StoredIntervention>, ApiError> {
    Ok(diesel::sql_query(format!(
        "{SELECT} WHERE i.id = $1 AND starts_with(a.path, $2)"
    ))
    .bind::<SqlUuid, _>(id)
    .bind::<Text, _>(scope_path)
    .get_result(conn)
    .optional()?)
}

/// Interventions inside `scope_path`, newest first, after the cursor `(created_at, id)`.
pub fn list(
    conn: &mut PgConnection,
    scope_path: &str,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<StoredIntervention>, ApiError> {
    let (at, id) = after.unzip();
    Ok(diesel::sql_query(format!(
        "{SELECT} WHERE starts_with(a.path, $1) AND ($2::timestamptz IS NULL OR (i.created_at, i.id) < ($2, $3))
          ORDER BY i.created_at DESC, i.id DESC LIMIT $4"
    ))
    .bind::<Text, _>(scope_path)
    .bind::<Nullable<Timestamptz>, _>(at)
    .bind::<Nullable<SqlUuid>, _>(id)
    .bind::<BigInt, _>(limit)
    .load(conn)?)
}

/// Sets the end week of intervention `id` (already checked to lie in scope).
pub fn set_end(
    conn: &mut PgConnection,
    id: Uuid,
    end_week: Option<NaiveDate>,
) -> Result<StoredIntervention, ApiError> {
    diesel::sql_query("UPDATE interventions SET end_week = $2 WHERE id = $1")
        .bind::<SqlUuid, _>(id)
        .bind::<Nullable<Date>, _>(end_week)
        .execute(conn)?;
    Ok(diesel::sql_query(format!("{SELECT} WHERE i.id = $1"))
        .bind::<SqlUuid, _>(id)
        .get_result(conn)?)
}
