//! Line plots for the run and sweep reports (linear or log axes, a legend, dashed
//! styles, shaded bands), drawn by `plotters` into SVG strings.

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;
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

/// Okabe–Ito colours: distinguishable under the common colour-vision deficiencies
/// (their yellow is left out: it vanishes on white).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0x00, 0x72, 0xB2),
    RGBColor(0xD5, 0x5E, 0x00),
    RGBColor(0x00, 0x9E, 0x73),
    RGBColor(0xE6, 0x9F, 0x00),
    RGBColor(0xCC, 0x79, 0xA7),
    RGBColor(0x56, 0xB4, 0xE9),
    RGBColor(0x00, 0x00, 0x00),
];
const W: u32 = 760;
const H: u32 = 440;
/// Width of the legend column right of the plot.
const LEGEND: u32 = 200;
const FONT: (&str, u32) = ("sans-serif", 14);
/// Legend rows shown at most (more would run off the figure).
const LEGEND_ROWS: usize = 24;

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
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

/// The data range of one axis, in the axis's own units (decades on a log axis).
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
}

impl Axis {
    /// A linear axis's tick value, with the rounding residue of a tick that is
    /// zero (plotters steps from the lower end: -2e-16 instead of 0) set to 0.
    fn snap(&self, v: f64) -> f64 {
        if !self.log && v.abs() < 1e-9 * (self.hi - self.lo).abs() {
            0.0
        } else {
            v
        }
    }

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
        } else {
            let pad = 0.04 * (hi - lo);
            lo -= pad;
            hi += pad;
        }
        Axis { lo, hi, log }
    }

    /// Whether a value can be drawn on this axis.
    fn shows(&self, v: f64) -> bool {
        v.is_finite() && (!self.log || v > 0.0)
    }

    /// The range in data units.
    fn range(&self) -> std::ops::Range<f64> {
        if self.log {
            10f64.powf(self.lo)..10f64.powf(self.hi)
        } else {
            self.lo..self.hi
        }
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), String>;

fn fail<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// A legend glyph for a series, `w` pixels wide, centred on `y`.
fn glyph(area: &Area, s: &Series, x: i32, y: i32, w: i32) -> DrawResult {
    let c = color(s.color);
    match s.style {
        Style::Band => area
            .draw(&Rectangle::new(
                [(x, y - 5), (x + w, y + 5)],
                c.mix(0.2).filled(),
            ))
            .map_err(fail),
        Style::Points => area
            .draw(&Circle::new((x + w / 2, y), 3, c.filled()))
            .map_err(fail),
        Style::Dashed | Style::Dotted => {
            let (d, g) = dash(s.style);
            area.draw(&DashedPathElement::new(
                [(x, y), (x + w, y)],
                d,
                g,
                c.stroke_width(2),
            ))
            .map_err(fail)
        }
        Style::Solid | Style::LinePoints => {
            area.draw(&PathElement::new([(x, y), (x + w, y)], c.stroke_width(2)))
                .map_err(fail)?;
            if s.style == Style::LinePoints {
                area.draw(&Circle::new((x + w / 2, y), 3, c.filled()))
                    .map_err(fail)?;
            }
            Ok(())
        }
    }
}

/// Dash length and gap of a dashed style, in pixels.
fn dash(style: Style) -> (i32, i32) {
    if style == Style::Dotted {
        (2, 3)
    } else {
        (7, 4)
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
        let mut buf = String::new();
        let drawn = {
            let root = SVGBackend::with_string(&mut buf, (W, H)).into_drawing_area();
            self.draw(&root).and_then(|()| root.present().map_err(fail))
        };
        match drawn {
            Ok(()) => buf,
            // Drawing into a string cannot fail on I/O; keep the report whole anyway.
            Err(e) => {
                format!(
                    r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}"><text x="20" y="40">plot not drawn: {}</text></svg>"#,
                    super::html::esc(&e)
                ) + "\n"
            }
        }
    }

    fn draw(&self, root: &Area) -> DrawResult {
        root.fill(&WHITE).map_err(fail)?;
        let (plot, legend) = root.split_horizontally(W - LEGEND);
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
        // Each log/linear pairing is its own coordinate type.
        match (xa.log, ya.log) {
            (false, false) => self.chart(&plot, &xa, &ya, xa.range(), ya.range()),
            (true, false) => self.chart(&plot, &xa, &ya, xa.range().log_scale(), ya.range()),
            (false, true) => self.chart(&plot, &xa, &ya, xa.range(), ya.range().log_scale()),
            (true, true) => self.chart(
                &plot,
                &xa,
                &ya,
                xa.range().log_scale(),
                ya.range().log_scale(),
            ),
        }?;
        for (i, s) in self.series.iter().take(LEGEND_ROWS).enumerate() {
            let y = 46 + 18 * i as i32;
            glyph(&legend, s, 8, y, 22)?;
            legend
                .draw(&Text::new(s.name.clone(), (36, y - 7), FONT.into_font()))
                .map_err(fail)?;
        }
        Ok(())
    }

    fn chart<X, Y>(&self, area: &Area, xa: &Axis, ya: &Axis, x: X, y: Y) -> DrawResult
    where
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, ("sans-serif", 17))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(x, y)
            .map_err(fail)?;
        let xtick = |v: &f64| fmt_tick(xa.snap(*v));
        let ytick = |v: &f64| fmt_tick(ya.snap(*v));
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(0xE5, 0xE5, 0xE5))
            .x_desc(self.x_label.as_str())
            .y_desc(self.y_label.as_str())
            .x_label_formatter(&xtick)
            .y_label_formatter(&ytick)
            .label_style(FONT)
            .axis_desc_style(FONT)
            .draw()
            .map_err(fail)?;
        for ser in &self.series {
            let c = color(ser.color);
            // Points off an axis (NaN, or ≤ 0 on a log axis) break the line.
            let shown = |&(x, y): &(f64, f64)| xa.shows(x) && ya.shows(y);
            if ser.style == Style::Band {
                let pts: Vec<(f64, f64)> = ser.points.iter().copied().filter(shown).collect();
                if pts.len() >= 3 {
                    chart
                        .draw_series(std::iter::once(Polygon::new(pts, c.mix(0.18).filled())))
                        .map_err(fail)?;
                }
                continue;
            }
            let runs: Vec<Vec<(f64, f64)>> = ser
                .points
                .split(|p| !shown(p))
                .filter(|r| !r.is_empty())
                .map(|r| r.to_vec())
                .collect();
            let line = c.stroke_width(2);
            for run in &runs {
                match ser.style {
                    Style::Solid | Style::LinePoints => {
                        chart
                            .draw_series(LineSeries::new(run.iter().copied(), line))
                            .map_err(fail)?;
                    }
                    Style::Dashed | Style::Dotted => {
                        let (d, g) = dash(ser.style);
                        chart
                            .draw_series(DashedLineSeries::new(run.iter().copied(), d, g, line))
                            .map_err(fail)?;
                    }
                    Style::Points | Style::Band => {}
                }
                if matches!(ser.style, Style::Points | Style::LinePoints) {
                    chart
                        .draw_series(run.iter().map(|&p| Circle::new(p, 3, c.filled())))
                        .map_err(fail)?;
                }
            }
        }
        Ok(())
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
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("t &lt;1&gt;") && svg.contains("a&amp;b"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert!(
            svg.contains(">\n100\n</text>"),
            "log axis reaches the data: {svg}"
        );
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(fmt_tick(0.6000000000000001), "0.6");
        assert_eq!(fmt_tick(2e-5), "2e-5");
        let lin = Axis::new([-1.4, 0.3].into_iter(), false);
        assert_eq!(fmt_tick(lin.snap(-2.220446049250313e-16)), "0");
        assert_eq!(fmt_tick(lin.snap(0.2)), "0.2");
    }

    #[test]
    #[ignore = "writes /tmp/plot_demo.svg to look at"]
    fn demo() {
        let mut p = Plot::new("Class 1 (κ = 0.5): power", "τ", "power").log_y();
        // a·e^{−x/10} at n points spaced dx.
        let decay = |a: f64, n: usize, dx: f64| -> Vec<(f64, f64)> {
            (0..n)
                .map(|i| (dx * i as f64, a * (-0.1 * dx * i as f64).exp()))
                .collect()
        };
        p.add(Series::band(
            "network ±2 se",
            decay(1.2, 50, 1.0),
            decay(0.8, 50, 1.0),
            0,
        ));
        let curves = [
            ("network", 1.0, Style::Solid),
            ("lattice", 1.05, Style::Dashed),
            ("theory", 1.0, Style::Dotted),
        ];
        for (colour, (name, a, style)) in curves.into_iter().enumerate() {
            p.add(Series::new(name, decay(a, 50, 1.0), style, colour));
        }
        p.add(Series::new(
            "pts",
            decay(0.5, 10, 5.0),
            Style::LinePoints,
            3,
        ));
        std::fs::write("/tmp/plot_demo.svg", p.to_svg()).unwrap();
    }
}
