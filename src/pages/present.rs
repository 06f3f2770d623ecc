//! How published numbers read on a page: counts with "<k", alarms with their reasons
//! in words, trends in words, a series as a small multiple with its table, and an
//! effect's rate ratio in words.

use crate::pages::chart::{self, Bar};
use crate::pages::i18n::{Lang, Texts};
use crate::pages::labels::Labels;
use crate::services::interventions::RateRatioView;
use crate::services::trends::{AlertReport, AlertView, Series};

/// One alarm as the list shows it.
pub struct AlarmRow {
    pub area_code: String,
    pub area: String,
    pub category_code: String,
    pub category: String,
    pub alert: bool,
    pub count: String,
    pub reasons: Vec<String>,
    pub imputed: bool,
}

/// One row of a chart's table.
pub struct TableRow {
    pub period: String,
    pub count: String,
    pub alarm: String,
}

/// A small multiple with its table.
pub struct Multiple {
    pub id: String,
    pub title: String,
    pub summary: String,
    pub svg: String,
    pub rows: Vec<TableRow>,
}

/// A count as a person reads it: suppressed as "<k", before reporting as "–".
pub fn count_text(
    t: &Texts,
    count: Option<i64>,
    suppressed: bool,
    before: bool,
    incomplete: bool,
    k: u32,
) -> String {
    match (count, suppressed, before) {
        (_, _, true) => format!("– ({})", t.before_start),
        // Every published part 0 and some suppressed: all that is known is "below k".
        (Some(0), _, _) if incomplete => format!("<{k}"),
        (Some(c), _, _) if incomplete => format!("{} {c}", t.incomplete),
        (Some(c), _, _) => c.to_string(),
        (None, true, _) => format!("<{k}"),
        (None, _, _) => "–".to_owned(),
    }
}

pub fn alarm_text(t: &Texts, alarm: Option<&str>) -> String {
    match alarm {
        Some("alert") => format!("▲ {}", t.alarm_alert),
        Some(_) => format!("● {}", t.alarm_warning),
        None => String::new(),
    }
}

/// "ökande, p = 0,01; +0,4 per vecka", or why there is no trend.
pub fn trend_words(lang: Lang, series: &Series, per: &str) -> String {
    let t = lang.texts();
    let s = &series.summary;
    let (Some(trend), Some(mk), Some(slope)) = (s.trend, s.mann_kendall, s.theil_sen_slope) else {
        return t.trend_unknown.to_owned();
    };
    let direction = match trend {
        "rising" => t.trend_increasing,
        "falling" => t.trend_decreasing,
        _ => t.trend_none,
    };
    let p = if mk.p < 0.001 {
        "p < 0,001".to_owned()
    } else {
        format!(
            "p = {}",
            lang.decimal(mk.p, if mk.p < 0.01 { 3 } else { 2 })
        )
    };
    let p = if lang == Lang::En {
        p.replace(',', ".")
    } else {
        p
    };
    // Two decimals, and no "−0,00" for a slope that rounds to nothing.
    let slope = (slope * 100.0).round() / 100.0;
    let slope = if slope == 0.0 { 0.0 } else { slope };
    let sign = if slope > 0.0 { "+" } else { "" };
    format!("{direction}, {p}; {sign}{} {per}", lang.decimal(slope, 2))
}

/// A series as a chart and its table.
pub fn multiple(
    lang: Lang,
    id: String,
    title: String,
    series: &Series,
    starts: &[usize],
    k: u32,
    per: &str,
) -> Multiple {
    let t = lang.texts();
    let bars: Vec<Bar> = series
        .points
        .iter()
        .map(|p| Bar {
            period: p.period.clone(),
            count: p.count,
            suppressed: p.suppressed,
            before_start: p.before_reporting_start,
            alarm: p.alarm,
        })
        .collect();
    let summary = trend_words(lang, series, per);
    let svg = chart::small_multiple(&id, &format!("{title}: {summary}"), &bars, starts, k);
    let rows = series
        .points
        .iter()
        .map(|p| TableRow {
            period: p.period.clone(),
            count: count_text(
                t,
                p.count,
                p.suppressed,
                p.before_reporting_start,
                p.incomplete,
                k,
            ),
            alarm: alarm_text(t, p.alarm),
        })
        .collect();
    Multiple {
        id,
        title,
        summary,
        svg,
        rows,
    }
}

/// Why an alarm fired, in the page's language.
pub fn reason_words(lang: Lang, alert: &AlertView) -> Vec<String> {
    alert
        .reasons
        .iter()
        .map(|r| {
            if lang == Lang::En {
                return r.text.clone();
            }
            let head = format!(
                "{} = {} ≥ {}",
                r.statistic.to_uppercase(),
                lang.decimal(r.value, 1),
                lang.decimal(r.threshold, 0)
            );
            let why = match r.statistic {
                "c1" => "veckans antal ligger klart över medelvärdet för de 7 veckorna före.",
                "c2" => "veckans antal ligger klart över medelvärdet för veckorna t−9 … t−3.",
                _ => "ökningen har hållit i sig i tre veckor; överskotten läggs ihop, så larmet kan stå även när veckans eget antal är lågt.",
            };
            format!("{head}: {why}")
        })
        .collect()
}

/// The alarms of `report` as the lists show them.
pub fn alarm_rows(lang: Lang, labels: &Labels, report: &AlertReport, k: u32) -> Vec<AlarmRow> {
    let t = lang.texts();
    report
        .alerts
        .iter()
        .map(|a| AlarmRow {
            area: labels.of("area", &a.area),
            area_code: a.area.clone(),
            category: labels.of("category", &a.category),
            category_code: a.category.clone(),
            alert: a.alarm == "alert",
            count: count_text(t, a.count, a.count.is_none(), false, false, k),
            reasons: reason_words(lang, a),
            imputed: a.imputed_baseline,
        })
        .collect()
}

/// A rate ratio in words.
pub struct Change {
    pub heading: &'static str,
    pub ratio: String,
    pub interval: String,
    pub verdict: &'static str,
}

pub fn change(lang: Lang, heading: &'static str, r: &RateRatioView) -> Change {
    let t = lang.texts();
    let verdict = if r.ci_high < 1.0 {
        t.clear_decrease
    } else if r.ci_low > 1.0 {
        t.clear_increase
    } else {
        t.no_clear_change
    };
    Change {
        heading,
        ratio: format!("× {}", lang.decimal(r.rate_ratio, 2)),
        interval: format!(
            "{} – {}",
            lang.decimal(r.ci_low, 2),
            lang.decimal(r.ci_high, 2)
        ),
        verdict,
    }
}

/// A field's problem in words: in Swedish by its stable code (the API's messages are
/// English), in English as the API says it. An unknown code keeps the API's message.
pub fn field_words(lang: Lang, error: &crate::domain::error::FieldError) -> String {
    if lang == Lang::En {
        return error.message.clone();
    }
    let field = error.field.split('.').next().unwrap_or_default();
    if error.code == "too_many_periods" {
        let most = crate::domain::trend::MAX_PERIODS;
        return format!("för många perioder (högst {most}): välj en kortare period");
    }
    let words = match (error.code.as_str(), field) {
        ("required", _) => "måste fyllas i",
        ("length", _) => "är för kort eller för långt",
        ("range", _) => "ligger utanför det tillåtna intervallet",
        ("control_character", _) => "får inte innehålla styrtecken",
        ("personal_data", _) => {
            "får inte innehålla personuppgifter (personnummer, telefonnummer eller e-postadress)"
        }
        ("weak_password", _) => {
            "lösenordet är för kort eller för lätt att gissa: minst 12 tecken, gärna några orelaterade ord"
        }
        ("invalid", "username") => {
            "3–64 tecken: bokstäver a–z, siffror, punkt, _, @ eller -, och börjar med en bokstav eller siffra"
        }
        ("unknown_code" | "unknown_area", "area" | "areas") => {
            "okänt område, eller ett område utanför ditt eget"
        }
        ("unknown_code", _) => "okänd kod",
        ("invalid_week", _) => "är inte en ISO-vecka (till exempel 2026-W48)",
        ("out_of_range", _) => "ligger utanför åren 2000–2100",
        ("in_future" | "future", _) => "ligger i framtiden",
        ("too_old", _) => "är äldre än rättelsefönstret",
        ("inactive", _) => "är avaktiverad och tar inte emot nya signaler",
        ("not_a_district", _) => "är inte en stadsdel: välj en stadsdel",
        ("before_start", _) => "ligger före startveckan",
        ("after_to", _) => "ligger efter periodens slut",
        ("below_area", _) => "området ligger under den nivån: välj en finare nivå",
        ("not_allowed", "password") => "tjänstekonton har inget lösenord; de använder API-nycklar",
        ("own_account", _) => "ditt eget lösenord byter du själv (PUT /v1/me/password)",
        ("not_held", _) => "ägarens roll har inte alla de behörigheterna",
        ("disabled", _) => "användaren är avstängd",
        ("unknown_user", _) => "ingen sådan användare i ditt område",
        _ => return error.message.clone(),
    };
    words.to_owned()
}
