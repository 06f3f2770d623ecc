//! Population figures per district, age band and year: the denominators of rates.

use diesel::Connection;

use crate::auth::Principal;
use crate::auth::principal::RequestMeta;
use crate::db::queries::population::ListedRow;
use crate::db::{self, queries};
use crate::domain::population::{self, PopulationInput};
use crate::error::ApiError;
use crate::services::audit::{Audit, Outcome};
use crate::state::AppState;

/// Checks every row against the reference data and `writer`'s area and stores them all,
/// replacing the rows given, or none: any bad row refuses the whole upload. `rows` carry
/// their CSV line or JSON index, which errors name. Returns how many were stored.
pub async fn replace(
    state: &AppState,
    writer: &Principal,
    rows: &[(usize, PopulationInput)],
    meta: RequestMeta,
) -> Result<usize, ApiError> {
    let reference = state.vocabulary.current(&state.pool).await?;
    let checked = population::check(rows, &reference.vocabulary, &writer.area.path)?;
    let user = writer.user.id;
    let audit = Audit::new("population.replace", Outcome::Success, &meta)
        .by(writer)
        .details(serde_json::json!({"rows": checked.len()}));
    db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let stored = queries::population::replace(conn, &checked, user)?;
            queries::audit::record(conn, audit.row())?;
            Ok(stored)
        })
    })
    .await
}

/// The stored rows of the districts in `reader`'s area, optionally of one year.
pub async fn list(
    state: &AppState,
    reader: &Principal,
    year: Option<i32>,
) -> Result<Vec<ListedRow>, ApiError> {
    let path = reader.area.path.clone();
    db::run(&state.pool, move |conn| {
        queries::population::list(conn, &path, year)
    })
    .await
}
