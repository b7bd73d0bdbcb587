//! Time charts that read: an x axis in time of day on the scenario's calendar with ticks
//! on round clock times, y ticks on round numbers (whole ones for counts), every fault
//! and action of the timeline marked, a colour-blind-safe palette, text at 13 px, the
//! legend above the plot. plotters maps coordinates and draws the lines; the axes, ticks
//! and legend are drawn here, so their positions are chosen for people, not by a
//! decimal rule. The title is the page's heading, never repeated in the SVG.

use crate::clock::Clock;
use crate::ReportError;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Okabe & Ito's colour-blind-safe palette, without its yellow (unreadable on white).
pub const PALETTE: [RGBColor; 7] = [
    RGBColor(0x00, 0x72, 0xB2), // blue
    RGBColor(0xD5, 0x5E, 0x00), // vermillion
    RGBColor(0x00, 0x9E, 0x73), // bluish green
    RGBColor(0xCC, 0x79, 0xA7), // reddish purple
    RGBColor(0xE6, 0x9F, 0x00), // orange
    RGBColor(0x56, 0xB4, 0xE9), // sky blue
    RGBColor(0x00, 0x00, 0x00), // black
];

/// Text size as given to plotters, which writes `size / 1.24` into the SVG: 13 px.
const FONT_SIZE: f64 = 13.0 * 1.24;
const GRID: RGBColor = RGBColor(0xE4, 0xE4, 0xE4);
const AXIS: RGBColor = RGBColor(0x55, 0x55, 0x55);
const MARK: RGBColor = RGBColor(0x88, 0x88, 0x88);

/// What the y values are: whole counts get whole ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Values {
    Count,
    Real,
}

/// One line: a name for the legend and (t_ms, value) points.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub name: String,
    pub points: Vec<(u64, f64)>,
}

/// The timeline as drawn on every chart: spans (an outage from its fault to its repair)
/// shaded, single actions as thin lines; each labelled with its number in the page's
/// timeline table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Marks {
    pub spans: Vec<(u64, u64, String)>,
    pub points: Vec<(u64, String)>,
}

/// A chart to draw.
pub struct TimeChart<'a> {
    /// Unit of the y values, written above the y axis (`messages`, `kbit/s`).
    pub unit: &'a str,
    pub values: Values,
    /// The time window shown, ms.
    pub from_ms: u64,
    pub to_ms: u64,
    pub lines: Vec<Line>,
    /// A horizontal reference (a link's capacity) and its label.
    pub reference: Option<(f64, String)>,
    pub size: (u32, u32),
}

impl TimeChart<'_> {
    /// Whether any line has a value above zero inside the window.
    pub fn has_data(&self) -> bool {
        self.lines.iter().flat_map(|l| &l.points).any(|(t, v)| *v > 0.0 && (self.from_ms..=self.to_ms).contains(t))
    }

    /// The SVG.
    pub fn draw(&self, clock: Clock, marks: &Marks) -> Result<String, ReportError> {
        let legend = if self.lines.len() > 1 { legend_layout(&self.lines, self.size.0) } else { Vec::new() };
        let legend_px = 18 * legend.iter().map(|(_, row)| *row as u32 + 1).max().unwrap_or(0);
        let data_max = self
            .lines
            .iter()
            .flat_map(|l| &l.points)
            .filter(|(t, _)| (self.from_ms..=self.to_ms).contains(t))
            .map(|(_, v)| *v)
            .fold(0.0f64, f64::max);
        let y_ticks = value_ticks(data_max.max(self.reference.as_ref().map_or(0.0, |r| r.0)), self.values);
        let mut svg = String::new();
        {
            // The legend adds to the height, so every plot of a size is as tall.
            let root = SVGBackend::with_string(&mut svg, (self.size.0, self.size.1 + legend_px)).into_drawing_area();
            root.fill(&WHITE).map_err(fail)?;
            let y_top = *y_ticks.last().expect("at least two ticks");
            let (from, to) = (self.from_ms as f64, self.to_ms.max(self.from_ms + 1) as f64);
            let chart = ChartBuilder::on(&root)
                .margin_top(36 + legend_px)
                .margin_right(30)
                .margin_left(8)
                .margin_bottom(6)
                .x_label_area_size(40)
                .y_label_area_size(58)
                .build_cartesian_2d(from..to, 0.0..y_top)
                .map_err(fail)?;
            let mut frame = Frame { root: &root, chart, from, to, y_top };
            frame.value_axis(&y_ticks, self.unit)?;
            frame.time_axis(clock, self.from_ms, self.to_ms, self.size.0 / 95)?;
            frame.timeline(marks, self.from_ms, self.to_ms)?;
            frame.reference(self.reference.as_ref())?;
            frame.lines(&self.lines)?;
            frame.legend(&self.lines, &legend)?;
            root.present().map_err(fail)?;
        }
        Ok(svg)
    }
}

/// A chart error, as text.
fn fail(e: impl std::fmt::Display) -> ReportError {
    ReportError::Chart(e.to_string())
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type Plot<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// One chart being drawn: the whole SVG, the plot inside it and its ranges.
struct Frame<'a, 'b> {
    root: &'b Area<'a>,
    chart: Plot<'a>,
    from: f64,
    to: f64,
    y_top: f64,
}

impl Frame<'_, '_> {
    /// Text at a pixel position.
    fn text(&self, label: &str, at: (i32, i32), h: HPos, v: VPos) -> Result<(), ReportError> {
        let style = ("sans-serif", FONT_SIZE).into_font().color(&AXIS).pos(Pos::new(h, v));
        self.root.draw(&Text::new(label.to_string(), at, style)).map_err(fail)
    }

    /// A line in data coordinates.
    fn path(&self, points: Vec<(f64, f64)>, style: ShapeStyle) -> Result<(), ReportError> {
        self.chart.plotting_area().draw(&PathElement::new(points, style)).map_err(fail)
    }

    fn px(&self, x: f64, y: f64) -> (i32, i32) {
        self.chart.backend_coord(&(x, y))
    }

    /// Horizontal grid lines, their values and the unit above the axis.
    fn value_axis(&self, ticks: &[f64], unit: &str) -> Result<(), ReportError> {
        for y in ticks {
            self.path(vec![(self.from, *y), (self.to, *y)], GRID.into())?;
            let (px, py) = self.px(self.from, *y);
            self.text(&format_value(*y, ticks[1] - ticks[0]), (px - 6, py), HPos::Right, VPos::Center)?;
        }
        let (left, top) = self.px(self.from, self.y_top);
        self.text(unit, (left - 50, top - 16), HPos::Left, VPos::Center)?;
        let axis = AXIS.stroke_width(1);
        self.path(vec![(self.from, self.y_top), (self.from, 0.0), (self.to, 0.0)], axis)
    }

    /// Vertical grid lines on round clock times, their labels, and what the axis shows.
    fn time_axis(&self, clock: Clock, from_ms: u64, to_ms: u64, max_ticks: u32) -> Result<(), ReportError> {
        for (t, label) in time_ticks(clock, from_ms, to_ms, max_ticks) {
            let x = t as f64;
            self.path(vec![(x, 0.0), (x, self.y_top)], GRID.into())?;
            let (px, py) = self.px(x, 0.0);
            self.text(&label, (px, py + 6), HPos::Center, VPos::Top)?;
        }
        let (right, bottom) = self.px(self.to, 0.0);
        self.text(&time_caption(clock, from_ms, to_ms), (right, bottom + 24), HPos::Right, VPos::Top)
    }

    /// Outages shaded, other steps as thin lines, each labelled unless the label would
    /// overlap the one before (the page's table has them all).
    fn timeline(&self, marks: &Marks, from_ms: u64, to_ms: u64) -> Result<(), ReportError> {
        let shade = RGBColor(0x99, 0x99, 0x99).mix(0.18).filled();
        let mut labelled_until = i32::MIN;
        for (a, b, label) in &marks.spans {
            let (a, b) = ((*a).max(from_ms) as f64, (*b).min(to_ms) as f64);
            if a >= b {
                continue;
            }
            let area = self.chart.plotting_area();
            area.draw(&Rectangle::new([(a, 0.0), (b, self.y_top)], shade)).map_err(fail)?;
            let (px, py) = self.px(a, self.y_top);
            if px >= labelled_until {
                self.text(label, (px + 1, py - 2), HPos::Left, VPos::Bottom)?;
                labelled_until = px + 8 * label.chars().count() as i32 + 4;
            }
        }
        let mut labelled_until = i32::MIN;
        for (t, label) in marks.points.iter().filter(|(t, _)| (from_ms..=to_ms).contains(t)) {
            let x = *t as f64;
            self.path(vec![(x, 0.0), (x, self.y_top)], MARK.stroke_width(1))?;
            let (px, py) = self.px(x, self.y_top);
            if px >= labelled_until {
                self.text(label, (px + 1, py - 14), HPos::Left, VPos::Bottom)?;
                labelled_until = px + 8 * label.chars().count() as i32 + 4;
            }
        }
        Ok(())
    }

    /// A dashed horizontal line (a link's capacity) with its label.
    fn reference(&mut self, reference: Option<&(f64, String)>) -> Result<(), ReportError> {
        let Some((value, label)) = reference else { return Ok(()) };
        let dashed = DashedLineSeries::new(vec![(self.from, *value), (self.to, *value)], 6, 4, BLACK.stroke_width(1));
        self.chart.draw_series(dashed).map_err(fail)?;
        let (px, py) = self.px(self.to, *value);
        self.text(label, (px - 4, py - 3), HPos::Right, VPos::Bottom)
    }

    fn lines(&mut self, lines: &[Line]) -> Result<(), ReportError> {
        let (from, to) = (self.from, self.to);
        for (i, line) in lines.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let points = line.points.iter().map(|(t, v)| (*t as f64, *v)).filter(|(t, _)| (from..=to).contains(t));
            self.chart.draw_series(LineSeries::new(points, colour.stroke_width(2))).map_err(fail)?;
        }
        Ok(())
    }

    /// The legend above the plot, at the places [`legend_layout`] chose.
    fn legend(&self, lines: &[Line], places: &[(i32, usize)]) -> Result<(), ReportError> {
        for (i, (line, (x, row))) in lines.iter().zip(places).enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let y = 10 + 18 * *row as i32;
            self.root.draw(&Rectangle::new([(*x, y - 5), (x + 14, y + 5)], colour.filled())).map_err(fail)?;
            self.text(&line.name, (x + 19, y), HPos::Left, VPos::Center)?;
        }
        Ok(())
    }
}

/// Where each legend entry goes: (x px, row), rows filled left to right within `width`
/// (text measured at about 7.5 px a character at 13 px).
fn legend_layout(lines: &[Line], width: u32) -> Vec<(i32, usize)> {
    let (left, right) = (16, width as i32 - 16);
    let mut out = Vec::with_capacity(lines.len());
    let (mut x, mut row) = (left, 0);
    for line in lines {
        let w = 19 + (7.5 * line.name.chars().count() as f64) as i32 + 18;
        if x > left && x + w > right {
            (x, row) = (left, row + 1);
        }
        out.push((x, row));
        x += w;
    }
    out
}

/// Round clock-time ticks inside [from, to], at most about `max_ticks` of them, each
/// with its label: `08:30`, `08:30:15` when ticks are under a minute apart, the weekday
/// (`Tue 00:00`) where the date changes in a window of several days.
pub fn time_ticks(clock: Clock, from_ms: u64, to_ms: u64, max_ticks: u32) -> Vec<(u64, String)> {
    const S: u64 = 1_000;
    const STEPS: [u64; 20] = [
        S,
        2 * S,
        5 * S,
        10 * S,
        15 * S,
        30 * S,
        60 * S,
        120 * S,
        300 * S,
        600 * S,
        900 * S,
        1_800 * S,
        3_600 * S,
        7_200 * S,
        10_800 * S,
        21_600 * S,
        43_200 * S,
        86_400 * S,
        2 * 86_400 * S,
        7 * 86_400 * S,
    ];
    let span = to_ms.saturating_sub(from_ms).max(1);
    let max_ticks = u64::from(max_ticks.max(2));
    let step = STEPS.into_iter().find(|s| span / s < max_ticks).unwrap_or(STEPS[STEPS.len() - 1]);
    // Align to the clock: the offset of `from` past the previous round time.
    let into_step = (clock.at(from_ms).ms_of_day) % step.min(86_400 * S);
    let first = if into_step == 0 { from_ms } else { from_ms + step.min(86_400 * S) - into_step };
    let several_days = clock.at(from_ms).date() != clock.at(to_ms).date();
    let mut ticks = Vec::new();
    let mut last_date = String::new();
    let mut t = first;
    while t <= to_ms {
        let civil = clock.at(t);
        let mut label = civil.time(step < 60 * S);
        if several_days && civil.date() != last_date {
            label = format!("{} {label}", civil.weekday);
            last_date = civil.date();
        }
        ticks.push((t, label));
        t += step;
    }
    ticks
}

/// What the time axis shows: `UTC, Mon 2004-03-01`, or the first and last day.
fn time_caption(clock: Clock, from_ms: u64, to_ms: u64) -> String {
    let (a, b) = (clock.at(from_ms), clock.at(to_ms.saturating_sub(1).max(from_ms)));
    if a.date() == b.date() {
        format!("time of day (UTC), {} {}", a.weekday, a.date())
    } else {
        format!("UTC, {} {} – {} {}", a.weekday, a.date(), b.weekday, b.date())
    }
}

/// Round ticks from 0 to above `max` (about five steps of 1, 2 or 5 × 10ⁿ; whole
/// steps for counts). At least two ticks, so an all-zero chart still has an axis.
pub fn value_ticks(max: f64, values: Values) -> Vec<f64> {
    let raw = (max / 5.0).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * magnitude).find(|s| *s >= raw).unwrap_or(raw);
    if values == Values::Count {
        step = step.max(1.0).round();
    }
    if max <= 0.0 {
        step = 1.0;
    }
    // A value on the top tick would run along the frame: one step more.
    let n = ((max / step).floor() as usize + 1).max(1);
    (0..=n).map(|i| i as f64 * step).collect()
}

/// A tick value with as many decimals as its step needs, thousands grouped.
pub fn format_value(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize };
    let text = format!("{v:.decimals$}");
    let (whole, fraction) = text.split_once('.').map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let whole = group_digits(whole.parse::<u64>().unwrap_or(0));
    match fraction {
        Some(f) => format!("{whole}.{f}"),
        None => whole,
    }
}

/// `1234567` → `1,234,567`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_clock_times() {
        let clock = Clock::parse("2004-03-01T08:00:00Z").unwrap();
        let hour = 3_600_000;
        let day = time_ticks(clock, 0, 15 * hour, 10);
        assert_eq!(day.first().unwrap(), &(0, "08:00".to_string()));
        assert_eq!(day[1], (2 * hour, "10:00".to_string()));
        // A 40-minute storm from 09:00 shows minutes.
        let storm = time_ticks(clock, hour, hour + 40 * 60_000, 10);
        assert_eq!(storm[0].1, "09:00");
        assert_eq!(storm[1].1, "09:05");
        // Seconds when the window is seconds long; the first tick is the next round one.
        let short = time_ticks(clock, 1_500, 61_500, 8);
        assert_eq!(short[0], (10_000, "08:00:10".to_string()));
        // Several days: the weekday where the date changes.
        let week = time_ticks(clock, 0, 3 * 24 * hour, 8);
        assert!(week.iter().any(|(_, l)| l == "Tue 00:00"), "{week:?}");
        assert_eq!(week[0].1, "Mon 12:00");
    }

    #[test]
    fn counts_get_whole_ticks() {
        assert_eq!(value_ticks(3.0, Values::Count), vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(value_ticks(0.0, Values::Count), vec![0.0, 1.0]);
        assert_eq!(value_ticks(90_000.0, Values::Count), vec![0.0, 20_000.0, 40_000.0, 60_000.0, 80_000.0, 100_000.0]);
        assert_eq!(value_ticks(0.7, Values::Real), vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8]);
        assert_eq!(format_value(0.6000000000000001, 0.2), "0.6");
        assert_eq!(format_value(100_000.0, 20_000.0), "100,000");
        assert_eq!(group_digits(1_544_000), "1,544,000");
        assert_eq!(group_digits(12), "12");
    }
}
