//! Small multiples as SVG, drawn on the server so that they show without JavaScript.
//! What a chart shows, its table shows too: a published count is a bar; a suppressed
//! period a hatched bar up to k − 1, never a 0; a period before reporting began nothing
//! at all; alarms a shape as well as a colour (▲ alert, ● warning); an intervention's
//! start a dashed line.

use std::fmt::Write;

/// One period of a series as drawn.
pub struct Bar {
    pub period: String,
    pub count: Option<i64>,
    pub suppressed: bool,
    pub before_start: bool,
    pub alarm: Option<&'static str>,
}

const WIDTH: f64 = 320.0;
const HEIGHT: f64 = 120.0;
const LEFT: f64 = 30.0;
const RIGHT: f64 = 4.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 18.0;

/// Text for SVG content and attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A bar chart of `bars`, `id` unique on the page, `label` its accessible name,
/// `starts` the indexes of bars where an intervention starts, `k` the threshold.
pub fn small_multiple(id: &str, label: &str, bars: &[Bar], starts: &[usize], k: u32) -> String {
    let suppressed_height = f64::from(k.saturating_sub(1).max(1));
    let top_value = bars
        .iter()
        .filter_map(|b| b.count)
        .map(|c| c as f64)
        .fold(f64::from(k), f64::max);
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let step = plot_width / bars.len().max(1) as f64;
    let y = |value: f64| TOP + plot_height * (1.0 - value / top_value);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg class="chart" id="{id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg">"##,
        label = escape(label)
    );
    let _ = write!(
        svg,
        r##"<defs><pattern id="{id}-hatch" patternUnits="userSpaceOnUse" width="4" height="4" patternTransform="rotate(45)"><rect width="4" height="4" fill="#ffffff"/><rect width="1.6" height="4" fill="#505050"/></pattern></defs>"##
    );
    // The scale: 0 and the top value.
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{base}" x2="{right}" y2="{base}" stroke="#505050" stroke-width="1"/><text x="{tx}" y="{base}" text-anchor="end" font-size="10" fill="#1a1a1a">0</text><text x="{tx}" y="{top}" text-anchor="end" font-size="10" fill="#1a1a1a">{max}</text>"##,
        base = y(0.0),
        right = WIDTH - RIGHT,
        tx = LEFT - 4.0,
        top = TOP + 8.0,
        max = top_value.round()
    );
    for (i, bar) in bars.iter().enumerate() {
        let x = LEFT + step * i as f64 + step * 0.1;
        let w = (step * 0.8).max(1.0);
        if bar.before_start {
            continue;
        }
        let period = escape(&bar.period);
        match bar.count {
            Some(count) => {
                let top = y(count as f64);
                let _ = write!(
                    svg,
                    r##"<rect x="{x:.1}" y="{top:.1}" width="{w:.1}" height="{h:.1}" fill="#1d5fa7"><title>{period}: {count}</title></rect>"##,
                    h = (y(0.0) - top).max(0.0)
                );
            }
            None if bar.suppressed => {
                let top = y(suppressed_height);
                let _ = write!(
                    svg,
                    r##"<rect class="suppressed" x="{x:.1}" y="{top:.1}" width="{w:.1}" height="{h:.1}" fill="url(#{id}-hatch)" stroke="#505050" stroke-width="0.5"><title>{period}: &lt;{k}</title></rect>"##,
                    h = y(0.0) - top
                );
            }
            None => {}
        }
        let cx = x + w / 2.0;
        match bar.alarm {
            Some("alert") => {
                let _ = write!(
                    svg,
                    r##"<path class="alert" d="M{cx:.1} 1 L{r:.1} 11 L{l:.1} 11 Z" fill="#b00020"><title>{period}: ▲</title></path>"##,
                    r = cx + 5.0,
                    l = cx - 5.0
                );
            }
            Some(_) => {
                let _ = write!(
                    svg,
                    r##"<circle class="warning" cx="{cx:.1}" cy="6" r="4" fill="#8a4b00"><title>{period}: ●</title></circle>"##
                );
            }
            None => {}
        }
    }
    for &i in starts {
        let x = LEFT + step * i as f64;
        let _ = write!(
            svg,
            r##"<line class="intervention" x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{base}" stroke="#1a1a1a" stroke-width="1.2" stroke-dasharray="3 2"/>"##,
            base = y(0.0)
        );
    }
    if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
        let _ = write!(
            svg,
            r##"<text x="{LEFT}" y="{ty}" font-size="10" fill="#1a1a1a">{a}</text><text x="{rx}" y="{ty}" text-anchor="end" font-size="10" fill="#1a1a1a">{b}</text>"##,
            ty = HEIGHT - 4.0,
            rx = WIDTH - RIGHT,
            a = escape(&first.period),
            b = escape(&last.period)
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One week of an intervention's effect: the published count as a bar, the model's
/// fitted mean and its counterfactual (the same model without the intervention).
pub struct EffectBar {
    pub bar: Bar,
    pub fitted: Option<f64>,
    pub counterfactual: Option<f64>,
}

/// The effect chart: bars of published counts, the fitted line solid, the
/// counterfactual dashed, and the start marked.
pub fn effect_chart(
    id: &str,
    label: &str,
    weeks: &[EffectBar],
    start: Option<usize>,
    k: u32,
) -> String {
    let bars: Vec<&Bar> = weeks.iter().map(|w| &w.bar).collect();
    let top_value = weeks
        .iter()
        .flat_map(|w| [w.bar.count.map(|c| c as f64), w.fitted, w.counterfactual])
        .flatten()
        .fold(f64::from(k), f64::max);
    let width = 720.0;
    let height = 240.0;
    let plot_width = width - LEFT - RIGHT;
    let plot_height = height - TOP - BOTTOM;
    let step = plot_width / bars.len().max(1) as f64;
    let y = |value: f64| TOP + plot_height * (1.0 - value / top_value);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg class="chart effect" id="{id}" viewBox="0 0 {width} {height}" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg"><defs><pattern id="{id}-hatch" patternUnits="userSpaceOnUse" width="4" height="4" patternTransform="rotate(45)"><rect width="4" height="4" fill="#ffffff"/><rect width="1.6" height="4" fill="#505050"/></pattern></defs>"##,
        label = escape(label)
    );
    let _ = write!(
        svg,
        r##"<line x1="{LEFT}" y1="{base}" x2="{right}" y2="{base}" stroke="#505050"/><text x="{tx}" y="{base}" text-anchor="end" font-size="10" fill="#1a1a1a">0</text><text x="{tx}" y="{top}" text-anchor="end" font-size="10" fill="#1a1a1a">{max}</text>"##,
        base = y(0.0),
        right = width - RIGHT,
        tx = LEFT - 4.0,
        top = TOP + 8.0,
        max = top_value.round()
    );
    let suppressed_height = f64::from(k.saturating_sub(1).max(1));
    for (i, bar) in bars.iter().enumerate() {
        let x = LEFT + step * i as f64 + step * 0.15;
        let w = (step * 0.7).max(1.0);
        let period = escape(&bar.period);
        match bar.count {
            Some(count) => {
                let top = y(count as f64);
                let _ = write!(
                    svg,
                    r##"<rect x="{x:.1}" y="{top:.1}" width="{w:.1}" height="{h:.1}" fill="#9bb8d9"><title>{period}: {count}</title></rect>"##,
                    h = (y(0.0) - top).max(0.0)
                );
            }
            None if bar.suppressed => {
                let top = y(suppressed_height);
                let _ = write!(
                    svg,
                    r##"<rect class="suppressed" x="{x:.1}" y="{top:.1}" width="{w:.1}" height="{h:.1}" fill="url(#{id}-hatch)" stroke="#505050" stroke-width="0.5"><title>{period}: &lt;{k}</title></rect>"##,
                    h = y(0.0) - top
                );
            }
            None => {}
        }
    }
    let line = |values: Vec<Option<f64>>| -> String {
        values
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                v.map(|v| format!("{:.1},{:.1}", LEFT + step * (i as f64 + 0.5), y(v)))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let counterfactual = line(weeks.iter().map(|w| w.counterfactual).collect());
    let fitted = line(weeks.iter().map(|w| w.fitted).collect());
    if !counterfactual.is_empty() {
        let _ = write!(
            svg,
            r##"<polyline class="counterfactual" points="{counterfactual}" fill="none" stroke="#8a4b00" stroke-width="2" stroke-dasharray="6 4"/><polyline class="fitted" points="{fitted}" fill="none" stroke="#1a1a1a" stroke-width="2"/>"##
        );
    }
    if let Some(i) = start {
        let x = LEFT + step * i as f64;
        let _ = write!(
            svg,
            r##"<line class="intervention" x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{base}" stroke="#1a1a1a" stroke-width="1.2" stroke-dasharray="3 2"/>"##,
            base = y(0.0)
        );
    }
    if let (Some(first), Some(last)) = (bars.first(), bars.last()) {
        let _ = write!(
            svg,
            r##"<text x="{LEFT}" y="{ty}" font-size="10" fill="#1a1a1a">{a}</text><text x="{rx}" y="{ty}" text-anchor="end" font-size="10" fill="#1a1a1a">{b}</text>"##,
            ty = height - 4.0,
            rx = width - RIGHT,
            a = escape(&first.period),
            b = escape(&last.period)
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(count: Option<i64>, suppressed: bool, before_start: bool) -> Bar {
        Bar {
            period: "2026-W01".into(),
            count,
            suppressed,
            before_start,
            alarm: None,
        }
    }

    #[test]
    fn suppressed_periods_are_hatched_and_labelled_below_k_and_missing_ones_are_not_drawn() {
        let svg = small_multiple(
            "c1",
            "Teg <&>",
            &[
                bar(None, false, true),
                bar(None, true, false),
                bar(Some(7), false, false),
            ],
            &[],
            5,
        );
        assert_eq!(
            svg.matches("<rect x=").count(),
            1,
            "one published bar: {svg}"
        );
        assert_eq!(svg.matches("class=\"suppressed\"").count(), 1);
        assert!(svg.contains("2026-W01: &lt;5"));
        assert!(svg.contains("aria-label=\"Teg &lt;&amp;&gt;\""));
        assert!(
            !svg.contains(": 0<"),
            "a suppressed period is never drawn as 0"
        );
    }

    #[test]
    fn alarms_have_a_shape_and_interventions_a_dashed_line() {
        let mut bars = vec![bar(Some(9), false, false), bar(Some(12), false, false)];
        bars[0].alarm = Some("warning");
        bars[1].alarm = Some("alert");
        let svg = small_multiple("c2", "x", &bars, &[1], 5);
        assert!(svg.contains("<circle class=\"warning\""));
        assert!(svg.contains("<path class=\"alert\""));
        assert!(svg.contains("class=\"intervention\""));
    }
}
