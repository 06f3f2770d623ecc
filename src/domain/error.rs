//! Why a domain value could not be made: the invalid fields, or an area outside the
//! caller's scope. The HTTP edge turns these into problem documents (`crate::error`).

use serde::Serialize;
use utoipa::ToSchema;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Position of the item in a batch request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The field, as a dotted path (`signals.3.area`).
    pub field: String,
    /// A stable, machine-readable code.
    pub code: String,
    /// What is wrong, for a human.
    pub message: String,
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            index: None,
            field: field.into(),
            code: code.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Fields that break a rule (answered 422).
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    /// A named area lies outside the caller's own (answered 403).
    #[error("area {0} lies outside your own area")]
    OutsideScope(String),
}

impl DomainError {
    /// One invalid field.
    pub fn invalid(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self::Invalid(vec![FieldError::new(field, code, message)])
    }
}
