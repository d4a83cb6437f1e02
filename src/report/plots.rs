//! Small self-contained SVG line plots (linear or log axes, a legend, dashed
//! styles), enough for the run and sweep reports without a plotting dependency.

use std::fmt::Write;

/// Line style of a series.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    Solid,
    Dashed,
    Dotted,
    /// Markers only.
    Points,
    /// Markers joined by a line.
    LinePoints,
    /// A shaded band: the points run along the upper edge and back along the lower.
    Band,
}

#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
    /// Index into the palette (series with the same colour belong together).
    pub color: usize,
}

impl Series {
    /// A shaded band between `lower` and `upper`, sampled at the same x.
    pub fn band(
        name: impl Into<String>,
        upper: Vec<(f64, f64)>,
        lower: Vec<(f64, f64)>,
        color: usize,
    ) -> Self {
        let mut points = upper;
        points.extend(lower.into_iter().rev());
        Series::new(name, points, Style::Band, color)
    }

    pub fn new(
        name: impl Into<String>,
        points: Vec<(f64, f64)>,
        style: Style,
        color: usize,
    ) -> Self {
        Series {
            name: name.into(),
            points,
            style,
            color,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Plot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_log: bool,
    pub y_log: bool,
    pub series: Vec<Series>,
}

const PALETTE: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];
const W: f64 = 720.0;
const H: f64 = 440.0;
const LEFT: f64 = 78.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 52.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// "Nice" linear ticks covering [lo, hi].
fn linear_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-300);
    let raw = span / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| span / s <= 7.0)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e4).contains(&a) {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    } else {
        format!("{v:.0e}")
    }
}

struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    fn new(vals: impl Iterator<Item = f64>, log: bool) -> Axis {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in vals {
            if v.is_finite() && (!log || v > 0.0) {
                let t = if log { v.log10() } else { v };
                lo = lo.min(t);
                hi = hi.max(t);
            }
        }
        if !lo.is_finite() {
            (lo, hi) = (0.0, 1.0);
        }
        if hi - lo < 1e-12 * (1.0 + lo.abs()) {
            let d = if log { 0.5 } else { 0.5 * lo.abs().max(1e-12) };
            lo -= d;
            hi += d;
        } else if !log {
            let pad = 0.04 * (hi - lo);
            lo -= pad;
            hi += pad;
        }
        Axis { lo, hi, log }
    }

    fn t(&self, v: f64) -> Option<f64> {
        if !v.is_finite() || (self.log && v <= 0.0) {
            return None;
        }
        let x = if self.log { v.log10() } else { v };
        Some((x - self.lo) / (self.hi - self.lo))
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        if self.log {
            let (a, b) = (self.lo.ceil() as i64, self.hi.floor() as i64);
            let stride = (((b - a) as f64 / 6.0).ceil() as i64).max(1);
            let mut out: Vec<(f64, String)> = (a..=b)
                .filter(|e| (e - a) % stride == 0)
                .map(|e| (10f64.powi(e as i32), format!("1e{e}")))
                .collect();
            if out.len() < 2 {
                out = linear_ticks(10f64.powf(self.lo), 10f64.powf(self.hi))
                    .into_iter()
                    .filter(|v| *v > 0.0)
                    .map(|v| (v, fmt_tick(v)))
                    .collect();
            }
            out
        } else {
            linear_ticks(self.lo, self.hi)
                .into_iter()
                .map(|v| (v, fmt_tick(v)))
                .collect()
        }
    }
}

impl Plot {
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Plot {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Default::default()
        }
    }

    pub fn log_x(mut self) -> Self {
        self.x_log = true;
        self
    }

    pub fn log_y(mut self) -> Self {
        self.y_log = true;
        self
    }

    pub fn add(&mut self, s: Series) {
        self.series.push(s);
    }

    /// The plot as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        let xa = Axis::new(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0)),
            self.x_log,
        );
        let ya = Axis::new(
            self.series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1)),
            self.y_log,
        );
        let pw = W - LEFT - RIGHT;
        let ph = H - TOP - BOTTOM;
        let px = |u: f64| LEFT + u * pw;
        let py = |u: f64| TOP + (1.0 - u) * ph;
        let mut s = String::new();
        let _ = write!(
            s,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"##
        );
        let _ = write!(s, r##"<rect width="{W}" height="{H}" fill="white"/>"##);
        let _ = write!(
            s,
            r##"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"##,
            LEFT + pw / 2.0,
            esc(&self.title)
        );
        for (v, label) in xa.ticks() {
            if let Some(u) = xa.t(v).filter(|u| (-1e-9..=1.0 + 1e-9).contains(u)) {
                let x = px(u);
                let _ = write!(
                    s,
                    r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#e5e5e5"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                    TOP + ph,
                    TOP + ph + 16.0,
                    esc(&label)
                );
            }
        }
        for (v, label) in ya.ticks() {
            if let Some(u) = ya.t(v).filter(|u| (-1e-9..=1.0 + 1e-9).contains(u)) {
                let y = py(u);
                let _ = write!(
                    s,
                    r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                    LEFT + pw,
                    LEFT - 6.0,
                    y + 4.0,
                    esc(&label)
                );
            }
        }
        let _ = write!(
            s,
            r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"##
        );
        let _ = write!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            LEFT + pw / 2.0,
            H - 12.0,
            esc(&self.x_label)
        );
        let _ = write!(
            s,
            r##"<text transform="translate(16 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"##,
            TOP + ph / 2.0,
            esc(&self.y_label)
        );
        let _ = write!(
            s,
            r##"<clipPath id="plotarea"><rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}"/></clipPath><g clip-path="url(#plotarea)">"##
        );
        for ser in &self.series {
            let color = PALETTE[ser.color % PALETTE.len()];
            let pts: Vec<Option<(f64, f64)>> = ser
                .points
                .iter()
                .map(|&(x, y)| Some((px(xa.t(x)?), py(ya.t(y)?))))
                .collect();
            if ser.style == Style::Band {
                // Points off a log axis (a lower edge ≤ 0) are dropped, not joined.
                let d: Vec<String> = pts
                    .iter()
                    .flatten()
                    .map(|(x, y)| format!("{x:.2},{y:.2}"))
                    .collect();
                if d.len() >= 3 {
                    let _ = write!(
                        s,
                        r##"<polygon fill="{color}" fill-opacity="0.18" stroke="none" points="{}"/>"##,
                        d.join(" ")
                    );
                }
                continue;
            }
            if ser.style != Style::Points {
                let dash = match ser.style {
                    Style::Dashed => r##" stroke-dasharray="7 4""##,
                    Style::Dotted => r##" stroke-dasharray="2 3""##,
                    _ => "",
                };
                // Break the line at missing points.
                for run in pts.split(|p| p.is_none()) {
                    if run.len() < 2 {
                        continue;
                    }
                    let d: Vec<String> = run
                        .iter()
                        .flatten()
                        .map(|(x, y)| format!("{x:.2},{y:.2}"))
                        .collect();
                    let _ = write!(
                        s,
                        r##"<polyline fill="none" stroke="{color}" stroke-width="1.6"{dash} points="{}"/>"##,
                        d.join(" ")
                    );
                }
            }
            if matches!(ser.style, Style::Points | Style::LinePoints) {
                for (x, y) in pts.iter().flatten() {
                    let _ = write!(
                        s,
                        r##"<circle cx="{x:.2}" cy="{y:.2}" r="3" fill="{color}"/>"##
                    );
                }
            }
        }
        s.push_str("</g>");
        for (i, ser) in self.series.iter().enumerate().take(24) {
            let color = PALETTE[ser.color % PALETTE.len()];
            let y = TOP + 10.0 + 16.0 * i as f64;
            let x = W - RIGHT + 12.0;
            let dash = match ser.style {
                Style::Dashed => r##" stroke-dasharray="7 4""##,
                Style::Dotted => r##" stroke-dasharray="2 3""##,
                _ => "",
            };
            if ser.style == Style::Band {
                let _ = write!(
                    s,
                    r##"<rect x="{x:.1}" y="{:.1}" width="22" height="10" fill="{color}" fill-opacity="0.18"/>"##,
                    y - 5.0
                );
            } else if ser.style == Style::Points {
                let _ = write!(
                    s,
                    r##"<circle cx="{:.1}" cy="{y:.1}" r="3" fill="{color}"/>"##,
                    x + 11.0
                );
            } else {
                let _ = write!(
                    s,
                    r##"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="1.6"{dash}/>"##,
                    x + 22.0
                );
            }
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}">{}</text>"##,
                x + 28.0,
                y + 4.0,
                esc(&ser.name)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_is_well_formed_and_skips_bad_points() {
        let mut p = Plot::new("t <1>", "x", "y").log_y();
        p.add(Series::new(
            "a&b",
            vec![
                (0.0, 1.0),
                (1.0, 0.0),
                (2.0, 10.0),
                (3.0, f64::NAN),
                (4.0, 100.0),
            ],
            Style::Dashed,
            0,
        ));
        let svg = p.to_svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("t &lt;1&gt;") && svg.contains("a&amp;b"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert!(svg.contains("1e2"));
    }

    #[test]
    fn ticks_are_round() {
        let t = linear_ticks(0.0, 1.0);
        assert_eq!(t.len(), 6);
        for (i, v) in t.iter().enumerate() {
            assert!((v - 0.2 * i as f64).abs() < 1e-12);
        }
        assert_eq!(fmt_tick(0.6000000000000001), "0.6");
    }
}
