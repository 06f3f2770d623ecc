//! How tables are written for download: CSV as spreadsheets read it (the separator
//! and decimal mark a client asked for, quoting, a guard against formulas). Pure text
//! work, shared by the trend and export use cases.

pub mod csv;
