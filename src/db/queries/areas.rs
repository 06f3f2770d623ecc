//! The area tree.

use diesel::prelude::*;

use crate::db::models::{Area, NewArea};
use crate::db::schema::areas;
use crate::domain::identity::ROOT_PATH;
use crate::error::ApiError;

pub fn by_code(conn: &mut PgConnection, code: &str) -> Result<Option<Area>, ApiError> {
    Ok(areas::table
        .filter(areas::code.eq(code))
        .select(Area::as_select())
        .first(conn)
        .optional()?)
}

pub fn by_id(conn: &mut PgConnection, id: i32) -> Result<Area, ApiError> {
    Ok(areas::table
        .find(id)
        .select(Area::as_select())
        .first(conn)?)
}

/// The subtree rooted at `root` plus the root's ancestors (so the tree can be drawn),
/// ordered by path.
pub fn visible_from(conn: &mut PgConnection, root: &Area) -> Result<Vec<Area>, ApiError> {
    let ancestors: Vec<String> = ancestor_paths(&root.path);
    Ok(areas::table
        .filter(
            areas::path
                .like(format!("{}%", escape_like(&root.path)))
                .or(areas::path.eq_any(ancestors)),
        )
        .order(areas::path.asc())
        .select(Area::as_select())
        .load(conn)?)
}

/// `/a/b/c/` → `["/", "/a/", "/a/b/"]`; the root `/` has none.
fn ancestor_paths(path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    (0..parts.len())
        .map(|n| match n {
            0 => ROOT_PATH.to_string(),
            n => format!("/{}/", parts[..n].join("/")),
        })
        .collect()
}

/// Escapes LIKE wildcards; area codes never contain them, but paths are data.
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub fn insert(conn: &mut PgConnection, new: &NewArea<'_>) -> Result<Area, ApiError> {
    Ok(diesel::insert_into(areas::table)
        .values(new)
        .returning(Area::as_returning())
        .get_result(conn)?)
}

pub fn update(
    conn: &mut PgConnection,
    id: i32,
    name: Option<&str>,
    active: Option<bool>,
) -> Result<Area, ApiError> {
    let current = by_id(conn, id)?;
    Ok(diesel::update(areas::table.find(id))
        .set((
            areas::name.eq(name.unwrap_or(&current.name)),
            areas::active.eq(active.unwrap_or(current.active)),
        ))
        .returning(Area::as_returning())
        .get_result(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_of_a_district_are_the_root_its_region_and_municipality() {
        assert_eq!(
            ancestor_paths("/vasterbotten/umea/teg/"),
            vec!["/", "/vasterbotten/", "/vasterbotten/umea/"]
        );
        assert_eq!(ancestor_paths("/vasterbotten/"), vec!["/"]);
        assert!(ancestor_paths("/").is_empty());
    }
}
