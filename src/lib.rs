//! Lägesbild: a shared, anonymous situational picture of how children and young
//! people are drawn into criminal networks.
//!
//! The binary in `main.rs` is a thin CLI; everything it runs lives here so that the
//! integration tests start exactly the application that production starts.

pub mod auth;
pub mod blocking;
pub mod config;
pub mod cube;
pub mod db;
pub mod disclosure;
pub mod domain;
pub mod embedded_pg;
pub mod error;
pub mod formats;
pub mod http;
pub mod indicators;
pub mod limits;
pub mod openapi;
pub mod pages;
pub mod routes;
pub mod services;
pub mod startup;
pub mod state;
pub mod telemetry;
