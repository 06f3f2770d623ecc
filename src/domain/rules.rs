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

/// `validator` rule for free text (names, labels, descriptions): no control characters,
/// and nothing that looks like personal data (see [`personal_data`]).
pub fn free_text(value: &str) -> Result<(), validator::ValidationError> {
    no_control_chars(value)?;
    if let Some(kind) = personal_data(value) {
        let mut error = validator::ValidationError::new("personal_data");
        error.message = Some(
            format!("this looks like {kind}; Lägesbild holds no personal data, so leave it out")
                .into(),
        );
        return Err(error);
    }
    Ok(())
}

/// What kind of personal data `text` seems to hold, if any: a Swedish personnummer or
/// samordningsnummer (10 or 12 digits, with or without a `-`/`+` before the last four,
/// a real month and day, and the Luhn check digit), a phone number (8–13 digits starting
/// with `0`, `+` or `00`, with spaces, dashes or brackets between groups) or an e-mail
/// address. Refusing these keeps the commonest identifiers out of every free-text field;
/// names of persons cannot be told from names of programmes, so they remain the users'
/// duty.
pub fn personal_data(text: &str) -> Option<&'static str> {
    let digit_runs = text.split(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+')));
    if digit_runs.clone().any(is_personal_number) {
        return Some("a personnummer or samordningsnummer");
    }
    if looks_like_phone(text) {
        return Some("a phone number");
    }
    let email = text.split_whitespace().any(|word| {
        let word = word.trim_matches(|c: char| matches!(c, '<' | '>' | '(' | ')' | ',' | ';'));
        word.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
    });
    email.then_some("an e-mail address")
}

/// `YYMMDD-NNNN`, `YYYYMMDD-NNNN` (or `+`, or no separator) with a valid date part and
/// check digit; the day may be 61–91 (samordningsnummer).
fn is_personal_number(token: &str) -> bool {
    let token = token.trim_matches(|c| matches!(c, '-' | '+'));
    let digits: String = match token.find(['-', '+']) {
        // A separator only ever stands before the last four digits.
        Some(at) if at + 5 == token.len() => format!("{}{}", &token[..at], &token[at + 1..]),
        Some(_) => return false,
        None => token.to_owned(),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let ten = match digits.len() {
        10 => digits.as_str(),
        12 => &digits[2..],
        _ => return false,
    };
    let number = |range: std::ops::Range<usize>| ten[range].parse::<u32>().unwrap_or(0);
    let (month, day) = (number(2..4), number(4..6));
    let real_day = (1..=31).contains(&day) || (61..=91).contains(&day);
    (1..=12).contains(&month) && real_day && luhn(ten)
}

/// The Luhn check over all ten digits (the last is the check digit).
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .map(|b| u32::from(b - b'0'))
        .enumerate()
        .map(|(i, d)| {
            if i.is_multiple_of(2) {
                let doubled = d * 2;
                doubled / 10 + doubled % 10
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn looks_like_phone(text: &str) -> bool {
    let phone_char = |c: char| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '+');
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_digit() || c == '+') {
        let candidate = &rest[start..];
        let end = candidate
            .find(|c| !phone_char(c))
            .unwrap_or(candidate.len());
        let run = candidate[..end].trim();
        let digits: String = run.chars().filter(char::is_ascii_digit).collect();
        let international = run.starts_with('+') || digits.starts_with("00");
        if (8..=13).contains(&digits.len()) && (international || digits.starts_with('0')) {
            return true;
        }
        rest = &candidate[end.max(1)..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_numbers_are_found_in_every_written_form_and_checked() {
        for text in [
            "Anna 19121212-1212",
            "191212121212",
            "121212-1212",
            "1212121212",
            "121212+1212",
            "samordning 701063-2391",
        ] {
            assert_eq!(
                personal_data(text),
                Some("a personnummer or samordningsnummer"),
                "{text}"
            );
        }
        // A wrong check digit, an impossible date: not personal numbers.
        for text in ["121212-1213", "121312-1212", "Insats 2026-2027", "13-15"] {
            assert_ne!(
                personal_data(text),
                Some("a personnummer or samordningsnummer"),
                "{text}"
            );
        }
    }

    #[test]
    fn phone_numbers_and_email_addresses_are_found() {
        for text in [
            "ring 070-123 45 67",
            "+46 70 123 45 67",
            "0046701234567",
            "(090) 16 10 00",
        ] {
            assert_eq!(personal_data(text), Some("a phone number"), "{text}");
        }
        for text in ["anna.svensson@umea.se", "kontakt <a@b.se>"] {
            assert_eq!(personal_data(text), Some("an e-mail address"), "{text}");
        }
    }

    #[test]
    fn ordinary_names_and_labels_pass() {
        for text in [
            "Fältgrupp Ersboda",
            "Unga vuxna (21–24)",
            "13-15",
            "Power BI, kommunledningen",
            "Skolstöd 2026 v. 20–35",
            "Rekrytering via @-konton",
            "Kontaktad via sociala medier, spel eller krypterade appar.",
        ] {
            assert_eq!(personal_data(text), None, "{text}");
            assert!(free_text(text).is_ok(), "{text}");
        }
        assert_eq!(
            free_text("ring 070-1234567").unwrap_err().code,
            "personal_data"
        );
    }
}
