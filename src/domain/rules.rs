//! Rules shared by the domain's input types: serde and `validator` helpers that hold for
//! every field they are put on, whichever request carries it.

/// serde helper for integer fields: a whole number as JSON Schema means it, so `153` and
/// `153.0` alike, never `153.5`.
pub fn whole_number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::Deserialize;
    use serde::de::Error;
    let number = serde_json::Number::deserialize(deserializer)?;
    let whole = number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    });
    let whole =
        whole.ok_or_else(|| D::Error::custom(format!("expected a whole number, got {number}")))?;
    T::try_from(whole).map_err(|_| D::Error::custom(format!("{whole} is out of range")))
}

/// `validator` rule: no control characters (NUL, escapes, line breaks) in a text field.
pub fn no_control_chars(value: &str) -> Result<(), validator::ValidationError> {
    if value.chars().any(char::is_control) {
        let mut error = validator::ValidationError::new("control_character");
        error.message = Some("control characters are not allowed".into());
        return Err(error);
    }
    Ok(())
}
