//! How tables are written for download: pure text formatting, shared by the trend and
//! export use cases.

pub mod csv;
