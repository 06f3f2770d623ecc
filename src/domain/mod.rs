//! Parsed, valid-by-construction types. A value of one of these types has passed every
//! rule that applies to it; queries accept only these, never raw strings.

pub mod error;
pub mod identity;
pub mod intervention;
pub mod period;
pub mod population;
pub mod rules;
pub mod signal;
pub mod trend;
pub mod week;
