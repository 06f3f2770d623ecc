//! CSV as spreadsheets read it: fields quoted when they must be, and never taken for a
//! formula.

/// A CSV field: quoted when it needs to be, and never read by a spreadsheet as a formula.
pub fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}
