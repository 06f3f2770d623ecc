//! One way to page through a list, newest first: `limit` (1–200, 50 when absent) and an
//! opaque `cursor` that names the last row of the previous page.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::ApiError;

/// The `limit` of a paged list: 1–200, 50 when absent.
pub fn page_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit.unwrap_or(50) {
        n @ 1..=200 => Ok(n),
        _ => Err(ApiError::invalid(
            "limit",
            "out_of_range",
            "limit is between 1 and 200",
        )),
    }
}

/// A page cursor `<microseconds since 1970>_<id>`, exactly as the spec's pattern reads:
/// up to 16 digits (until the year 2286) and a lower-case hyphenated UUID.
pub fn parse_cursor(cursor: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let invalid = || ApiError::invalid("cursor", "invalid", "not a cursor from a previous page");
    let (micros, id) = cursor.split_once('_').ok_or_else(invalid)?;
    let digits = (1..=16).contains(&micros.len()) && micros.bytes().all(|b| b.is_ascii_digit());
    let hyphenated = id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        });
    if !digits || !hyphenated {
        return Err(invalid());
    }
    let at = DateTime::from_timestamp_micros(micros.parse().map_err(|_| invalid())?)
        .ok_or_else(invalid)?;
    Ok((at, id.parse().map_err(|_| invalid())?))
}

/// The first `limit` of `rows` (read with `limit + 1`, so that one more tells whether
/// a next page exists) and the cursor of that next page, keyed by `(created_at, id)`.
pub fn page<T>(
    mut rows: Vec<T>,
    limit: i64,
    key: impl Fn(&T) -> (DateTime<Utc>, Uuid),
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = more.then(|| rows.last()).flatten().map(|last| {
        let (at, id) = key(last);
        format!("{}_{id}", at.timestamp_micros())
    });
    (rows, next)
}
