//! Query functions: plain synchronous functions over `&mut PgConnection`, called only
//! through `db::run`. They take domain types and return rows or domain results.

pub mod api_tokens;
pub mod areas;
pub mod audit;
pub mod cells;
pub mod cube_blocks;
pub mod idempotency;
pub mod interventions;
pub mod population;
pub mod sessions;
pub mod signals;
pub mod throttle;
pub mod users;
pub mod vocabulary;
