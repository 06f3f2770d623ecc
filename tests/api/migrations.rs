//! Migrations are embedded and reversible.

use diesel::migration::MigrationSource;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, sql_query};
use diesel_migrations::MigrationHarness;
use lagesbild::db::MIGRATIONS;

use crate::helpers::TestDatabase;

#[derive(QueryableByName, Debug, PartialEq)]
struct Object {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

/// Everything our migrations can create in the public schema: relations, functions, types.
fn schema_objects(conn: &mut PgConnection) -> Vec<Object> {
    sql_query(
        "SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relname NOT LIKE '__diesel_schema_migrations%'
         UNION ALL SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public'
         UNION ALL SELECT t.typname::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
          WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd')
         ORDER BY 1",
    )
    .load(conn)
    .unwrap()
}

#[test]
fn every_migration_reverts_completely_and_applies_again() {
    let database = TestDatabase::create();
    let mut conn = PgConnection::establish(&database.url).unwrap();
    let migrated = schema_objects(&mut conn);
    let count = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS)
        .unwrap()
        .len();

    let reverted = conn.revert_all_migrations(MIGRATIONS).unwrap();
    assert_eq!(reverted.len(), count);
    assert_eq!(
        schema_objects(&mut conn),
        vec![],
        "down.sql left objects behind"
    );

    conn.run_pending_migrations(MIGRATIONS).unwrap();
    assert_eq!(
        schema_objects(&mut conn),
        migrated,
        "up.sql after down.sql differs from the first run"
    );
}
