//! The use cases: what the service does, with typed inputs, between the HTTP edge and
//! the rooms below (domain, disclosure, indicators, db, cube). A handler calls one of
//! these and maps its answer to a response; pages will call the same functions, so
//! permissions, scope and disclosure control are one code path.

pub mod api_tokens;
pub mod areas;
pub mod audit;
pub mod demo;
pub mod exports;
pub mod intake;
pub mod interventions;
pub mod population;
pub mod retention;
pub mod sessions;
pub mod trends;
pub mod users;
pub mod vocabulary;
