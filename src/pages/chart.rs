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

/// One week of an intervention's effect: the published count as a bar, the model's
/// fitted mean and its counterfactual (the same model without the intervention).
pub struct EffectBar {
    pub bar: Bar,
    pub fitted: Option<f64>,
    pub counterfactual: Option<f64>,
}

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

/// A chart's canvas: its size, the number of periods and the top of the scale (at
/// least k, so that the scale never prints a number below the threshold).
struct Frame<'a> {
    id: &'a str,
    width: f64,
    height: f64,
    periods: usize,
    top_value: f64,
    k: u32,
    svg: String,
}

impl<'a> Frame<'a> {
    fn new(
        id: &'a str,
        class: &str,
        label: &str,
        size: (f64, f64),
        periods: usize,
        top: f64,
        k: u32,
    ) -> Self {
        let (width, height) = size;
        let mut svg = String::new();
        let _ = write!(
            svg,
            r##"<svg class="{class}" id="{id}" viewBox="0 0 {width} {height}" role="img" aria-label="{label}" xmlns="http://www.w3.org/2000/svg"><defs><pattern id="{id}-hatch" patternUnits="userSpaceOnUse" width="4" height="4" patternTransform="rotate(45)"><rect width="4" height="4" fill="#ffffff"/><rect width="1.6" height="4" fill="#505050"/></pattern></defs>"##,
            label = escape(label)
        );
        let mut frame = Self {
            id,
            width,
            height,
            periods,
            top_value: top.max(f64::from(k)),
            k,
            svg,
        };
        frame.axis();
        frame
    }

    fn step(&self) -> f64 {
        (self.width - LEFT - RIGHT) / self.periods.max(1) as f64
    }

    fn x(&self, i: usize) -> f64 {
        LEFT + self.step() * i as f64
    }

    fn y(&self, value: f64) -> f64 {
        TOP + (self.height - TOP - BOTTOM) * (1.0 - value / self.top_value)
    }

    /// The scale: 0 and the top value.
    fn axis(&mut self) {
        let (base, tx) = (self.y(0.0), LEFT - 4.0);
        let _ = write!(
            self.svg,
            r##"<line x1="{LEFT}" y1="{base}" x2="{right}" y2="{base}" stroke="#505050" stroke-width="1"/><text x="{tx}" y="{base}" text-anchor="end" font-size="10" fill="#1a1a1a">0</text><text x="{tx}" y="{top}" text-anchor="end" font-size="10" fill="#1a1a1a">{max}</text>"##,
            right = self.width - RIGHT,
            top = TOP + 8.0,
            max = self.top_value.round()
        );
    }

    /// Bar `i` (`width` a share of the step): the count, or hatched up to k − 1 when
    /// suppressed; nothing before the reporting start. Returns its centre.
    fn bar(&mut self, i: usize, bar: &Bar, width: f64, fill: &str) -> f64 {
        let x = self.x(i) + self.step() * (1.0 - width) / 2.0;
        let w = (self.step() * width).max(1.0);
        let (period, base, k, id) = (escape(&bar.period), self.y(0.0), self.k, self.id);
        match (bar.before_start, bar.count) {
            (true, _) => {}
            (false, Some(count)) => {
                let top = self.y(count as f64);
                let _ = write!(
                    self.svg,
                    r##"<rect x="{x:.1}" y="{top:.1}" width="{w:.1}" height="{h:.1}" fill="{fill}"><title>{period}: {count}</title></rect>"##,
                    h = (base - top).max(0.0)
                );
            }
            (false, None) if bar.suppressed => {
                let top = self.y(f64::from(k.saturating_sub(1).max(1)));
                let _ = write!(
                    self.svg,
                    r##"<rect class="suppressed" x="{x:.1}" y="{top:.1}" width="{w:.1}" height="{h:.1}" fill="url(#{id}-hatch)" stroke="#505050" stroke-width="0.5"><title>{period}: &lt;{k}</title></rect>"##,
                    h = base - top
                );
            }
            (false, None) => {}
        }
        x + w / 2.0
    }

    /// A dashed line where an intervention starts, at the left edge of period `i`.
    fn start_line(&mut self, i: usize) {
        let (x, base) = (self.x(i), self.y(0.0));
        let _ = write!(
            self.svg,
            r##"<line class="intervention" x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{base}" stroke="#1a1a1a" stroke-width="1.2" stroke-dasharray="3 2"/>"##
        );
    }

    /// The first and last period under the axis, and the end of the drawing.
    fn finish(mut self, first: Option<&Bar>, last: Option<&Bar>) -> String {
        if let (Some(first), Some(last)) = (first, last) {
            let _ = write!(
                self.svg,
                r##"<text x="{LEFT}" y="{ty}" font-size="10" fill="#1a1a1a">{a}</text><text x="{rx}" y="{ty}" text-anchor="end" font-size="10" fill="#1a1a1a">{b}</text>"##,
                ty = self.height - 4.0,
                rx = self.width - RIGHT,
                a = escape(&first.period),
                b = escape(&last.period)
            );
        }
        self.svg.push_str("</svg>");
        self.svg
    }
}

/// A bar chart of `bars`, `id` unique on the page, `label` its accessible name,
/// `starts` the indexes of bars where an intervention starts, `k` the threshold.
pub fn small_multiple(id: &str, label: &str, bars: &[Bar], starts: &[usize], k: u32) -> String {
    let top = bars
        .iter()
        .filter_map(|b| b.count)
        .map(|c| c as f64)
        .fold(0.0, f64::max);
    let mut frame = Frame::new(id, "chart", label, (320.0, 120.0), bars.len(), top, k);
    for (i, bar) in bars.iter().enumerate() {
        let cx = frame.bar(i, bar, 0.8, "#1d5fa7");
        if bar.before_start {
            continue;
        }
        let period = escape(&bar.period);
        match bar.alarm {
            Some("alert") => {
                let _ = write!(
                    frame.svg,
                    r##"<path class="alert" d="M{cx:.1} 1 L{r:.1} 11 L{l:.1} 11 Z" fill="#b00020"><title>{period}: ▲</title></path>"##,
                    r = cx + 5.0,
                    l = cx - 5.0
                );
            }
            Some(_) => {
                let _ = write!(
                    frame.svg,
                    r##"<circle class="warning" cx="{cx:.1}" cy="6" r="4" fill="#8a4b00"><title>{period}: ●</title></circle>"##
                );
            }
            None => {}
        }
    }
    for &i in starts {
        frame.start_line(i);
    }
    frame.finish(bars.first(), bars.last())
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
    let top = weeks
        .iter()
        .flat_map(|w| [w.bar.count.map(|c| c as f64), w.fitted, w.counterfactual])
        .flatten()
        .fold(0.0, f64::max);
    let mut frame = Frame::new(
        id,
        "chart effect",
        label,
        (720.0, 240.0),
        weeks.len(),
        top,
        k,
    );
    for (i, week) in weeks.iter().enumerate() {
        frame.bar(i, &week.bar, 0.7, "#9bb8d9");
    }
    let line = |frame: &Frame, values: &mut dyn Iterator<Item = Option<f64>>| -> String {
        values
            .enumerate()
            .filter_map(|(i, v)| {
                v.map(|v| format!("{:.1},{:.1}", frame.x(i) + frame.step() / 2.0, frame.y(v)))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let counterfactual = line(&frame, &mut weeks.iter().map(|w| w.counterfactual));
    let fitted = line(&frame, &mut weeks.iter().map(|w| w.fitted));
    if !counterfactual.is_empty() {
        let _ = write!(
            frame.svg,
            r##"<polyline class="counterfactual" points="{counterfactual}" fill="none" stroke="#8a4b00" stroke-width="2" stroke-dasharray="6 4"/><polyline class="fitted" points="{fitted}" fill="none" stroke="#1a1a1a" stroke-width="2"/>"##
        );
    }
    if let Some(i) = start {
        frame.start_line(i);
    }
    frame.finish(weeks.first().map(|w| &w.bar), weeks.last().map(|w| &w.bar))
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
