//! Black-box HTTP tests against the real application and a real PostgreSQL.
//!
//! One test binary (compiled once); each test gets its own database cloned from a
//! migrated template. See `helpers` for how the database server is chosen.

mod access;
mod architecture;
mod auth;
mod disclosure;
mod docs;
mod exports;
mod governance;
mod health;
mod helpers;
mod indicators;
mod locale;
mod logs;
mod migrations;
mod pages;
mod problems;
mod signal_form;
mod signals;
mod trends;
mod users;
