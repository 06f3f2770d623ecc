//! Trend series as CSV: one row per series and period, the `by` dimensions first. The
//! API's `format=csv` and the Utforska page's download write the same bytes.

use crate::domain::trend::CountRequest;
use crate::error::ApiError;
use crate::formats::csv::{self, Delimiter};
use crate::services::trends::Series;

/// The trend series as CSV: one row per series and period, the `by` dimensions first.
pub fn write(
    request: &CountRequest,
    series: &[Series],
    delimiter: Delimiter,
) -> Result<Vec<u8>, ApiError> {
    let mut out = csv::Writer::new(delimiter);
    let mut header: Vec<&str> = request.by.iter().map(|d| d.as_str()).collect();
    header.extend([
        "period",
        "count",
        "suppressed",
        "incomplete",
        "rate_per_1000",
        "rolling_mean",
        "change_prev",
        "change_yoy",
        "ears_c1",
        "ears_c2",
        "ears_c3",
        "alarm",
    ]);
    out.record(&header)?;
    for s in series {
        for p in &s.points {
            // `key` is a map: put its values back in the order of `by`.
            for d in &request.by {
                out.text(s.key.get(d.as_str()).map_or("", String::as_str))?;
            }
            out.text(&p.period)?;
            out.integer(p.count)?;
            out.boolean(p.suppressed)?;
            out.boolean(p.incomplete)?;
            for value in [
                p.rate_per_1000,
                p.rolling_mean,
                p.change_prev,
                p.change_yoy,
                p.ears.c1,
                p.ears.c2,
                p.ears.c3,
            ] {
                out.decimal(value)?;
            }
            out.text(p.alarm.unwrap_or_default())?;
            out.end()?;
        }
    }
    Ok(out.finish()?)
}
