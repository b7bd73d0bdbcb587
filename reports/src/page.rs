//! The HTML report of one run: first the story (what ran, what happened to the mail,
//! which checks failed and how to reproduce them, every fault and action with its time
//! of day), then charts on clock time with the timeline marked, zoomed panels around
//! each incident, and the capacity tables. One self-contained file; the charts are also
//! written beside it as SVG files.

use crate::capacity::{latency_table, link_table, percentile, queue_table, QueueLoad};
use crate::chart::{group_digits, Line, Marks, TimeChart, Values};
use crate::clock::human_duration;
use crate::trace_data::{read_trace, Direction, Step, TraceData};
use crate::{escape, write_atomically, Html, ReportError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// (server, queue).
type QueueKey = (String, String);
/// (t_ms, messages) samples of one queue.
type QueueSamples = Vec<(u64, u32)>;

const FULL: (u32, u32) = (960, 320);
const PANEL: (u32, u32) = (470, 230);
/// Queue panels drawn at most (the deepest); the table lists every queue.
const QUEUE_PANELS: usize = 12;
/// Incidents zoomed into at most (the first ones).
const INCIDENTS: usize = 6;

/// Writes `index.html` and the SVG charts (in `charts/`) into `dir` from the trace at
/// `trace`; returns the path of `index.html`.
pub fn write_report(trace: &Path, dir: &Path) -> Result<PathBuf, ReportError> {
    write_report_of(trace, &read_trace(trace)?, dir)
}

/// [`write_report`] from the trace already read into `data`.
pub fn write_report_of(trace: &Path, data: &TraceData, dir: &Path) -> Result<PathBuf, ReportError> {
    let figures = Figures::new(dir, data.clock, timeline_marks(data))?;
    let mut page = Page { data, figures };
    let body = page.body(trace)?;
    let html = html_page(&format!("orgsim: {} (seed {})", data.scenario, data.seed), &body);
    let index = dir.join("index.html");
    write_atomically(&index, html.as_bytes())?;
    Ok(index)
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222;line-height:1.4}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}\
th{background:#f4f4f4;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}tr.fail td{background:#fdd}\
tr.ok td:first-child{color:#070}.verdict{padding:.6em 1em;border-radius:4px;font-weight:600}.verdict.ok{background:#e3f4e3}\
.verdict.fail{background:#fbe0e0}.empty{color:#666;font-style:italic}figure{margin:1em 0}figcaption{font-weight:600}\
.panels{display:grid;grid-template-columns:1fr 1fr;gap:8px}.panels figure{margin:0}svg{max-width:100%;height:auto}\
code{background:#f4f4f4;padding:1px 4px}table.figures th{font-size:90%}dl.story{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px}\
dl.story dt{font-weight:600}dl.story dd{margin:0}";

struct Page<'a> {
    data: &'a TraceData,
    figures: Figures,
}

/// Where a page's charts go: drawn with its calendar and marks, written to `charts/`.
pub(crate) struct Figures {
    pub clock: crate::clock::Clock,
    pub marks: Marks,
    pub charts_dir: PathBuf,
    written: Vec<String>,
}

impl Figures {
    /// Creates `DIR/charts`.
    pub(crate) fn new(dir: &Path, clock: crate::clock::Clock, marks: Marks) -> Result<Figures, ReportError> {
        let charts_dir = dir.join("charts");
        std::fs::create_dir_all(&charts_dir).map_err(|e| ReportError::Io(charts_dir.clone(), e))?;
        Ok(Figures { clock, marks, charts_dir, written: Vec::new() })
    }

    /// Draws a chart, writes it to `charts/NAME.svg`, and returns its figure (or the line
    /// that says why there is none).
    pub(crate) fn figure(
        &mut self,
        name: &str,
        caption: &str,
        chart: &TimeChart<'_>,
        why_empty: &str,
    ) -> Result<Html, ReportError> {
        let caption = escape(caption);
        if !chart.has_data() {
            return Ok(Html(format!(
                "<figure><figcaption>{caption}</figcaption><p class=\"empty\">{}</p></figure>\n",
                escape(why_empty)
            )));
        }
        let svg = chart.draw(self.clock, &self.marks).map_err(|e| ReportError::Chart(format!("{caption}: {e}")))?;
        let file = format!("{}.svg", slug(name));
        debug_assert!(!self.written.contains(&file), "chart file names are unique");
        write_atomically(&self.charts_dir.join(&file), svg.as_bytes())?;
        self.written.push(file);
        Ok(Html(format!("<figure><figcaption>{caption}</figcaption>\n{svg}\n</figure>\n")))
    }
}

/// A whole page around a body.
pub fn html_page(title: &str, body: &Html) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style></head><body>\n{}</body></html>\n",
        escape(title),
        body.0
    )
}

impl Page<'_> {
    fn body(&mut self, trace: &Path) -> Result<Html, ReportError> {
        let d = self.data;
        let mut out = format!("<h1>{} <small>seed {}</small></h1>\n", escape(&d.scenario), d.seed);
        out.push_str(&verdict(d).0);
        out.push_str(&story(d, trace).0);
        out.push_str(&message_summary(d).0);
        if !d.edge.is_empty() {
            out.push_str(&d.edge.html());
        }
        if !d.mailroot.is_empty() {
            out.push_str(&d.mailroot.html());
        }
        out.push_str(&checks(d).0);
        out.push_str(&timeline(d).0);
        out.push_str("<h2>Over time</h2>\n");
        out.push_str(&self.latency_chart()?.0);
        out.push_str(&self.link_panels()?.0);
        out.push_str(&self.queue_panels()?.0);
        out.push_str(&self.edge_chart()?.0);
        out.push_str(&self.mailroot_chart()?.0);
        out.push_str(&self.other_charts()?.0);
        out.push_str(&self.store_section()?.0);
        out.push_str(&self.incidents()?.0);
        out.push_str(&capacity_tables(d).0);
        out.push_str(&event_counts(d).0);
        Ok(Html(out))
    }

    fn latency_chart(&mut self) -> Result<Html, ReportError> {
        let chart = TimeChart {
            unit: "seconds",
            values: Values::Real,
            from_ms: 0,
            to_ms: self.data.end_ms,
            lines: latency_lines(self.data),
            reference: None,
            size: FULL,
        };
        let caption = format!(
            "Delivery latency, submission to mailbox (percentiles per {})",
            human_duration(latency_bucket_ms(self.data))
        );
        let why = if self.data.count("submitted") == 0 && !self.data.messages.is_empty() {
            "No client submitted mail in this run: the scenario has no workload."
        } else {
            "No message was delivered to a mailbox in this run."
        };
        self.figures.figure("latency", &caption, &chart, why)
    }

    /// One panel per WAN link: both directions in kbit/s per sample, and its capacity.
    fn link_panels(&mut self) -> Result<Html, ReportError> {
        let d = self.data;
        let mut out = format!(
            "<h3>WAN links</h3>\n<p>Throughput per direction, averaged over each {} sample; the dashed line is the link's capacity when the traffic comes near it.</p>\n<div class=\"panels\">\n",
            human_duration(d.sample_ms)
        );
        if d.links.is_empty() {
            return Ok(Html(
                "<h3>WAN links</h3>\n<p class=\"empty\">The scenario has no WAN link: every site is on one LAN.</p>\n"
                    .into(),
            ));
        }
        for (name, info) in &d.links {
            let lines: Vec<Line> = [Direction::AToB, Direction::BToA]
                .into_iter()
                .filter_map(|dir| {
                    let samples = d.link_bytes.get(&(name.clone(), dir))?;
                    let points = samples.iter().map(|(t, b, i)| (*t, *b as f64 * 8.0 / (*i).max(1) as f64)).collect();
                    Some(Line { name: info.direction_name(dir), points })
                })
                .collect();
            let capacity = info.bits_per_s as f64 / 1_000.0;
            let peak = lines.iter().flat_map(|l| &l.points).map(|p| p.1).fold(0.0, f64::max);
            // The capacity line only where it leaves the traffic readable.
            let reference = (peak >= capacity / 4.0)
                .then(|| (capacity, format!("capacity {} kbit/s", group_digits(info.bits_per_s / 1_000))));
            let chart = TimeChart {
                unit: "kbit/s",
                values: Values::Real,
                from_ms: 0,
                to_ms: d.end_ms,
                lines,
                reference,
                size: PANEL,
            };
            // The busier direction's p95, as the capacity table has it.
            let p95 = [Direction::AToB, Direction::BToA]
                .into_iter()
                .filter_map(|dir| d.link_bytes.get(&(name.clone(), dir)))
                .map(|s| crate::capacity::LinkLoad::of(s, d.clock).p95_kbit_s)
                .fold(0.0, f64::max);
            let share = |v: f64| if capacity > 0.0 { v * 100.0 / capacity } else { 0.0 };
            let caption = format!(
                "{name} ({} kbit/s): peak {:.1} %, p95 {:.1} % of capacity",
                group_digits(info.bits_per_s / 1_000),
                share(peak),
                share(p95)
            );
            out.push_str(
                &self.figures.figure(&format!("wan {name}"), &caption, &chart, "No traffic crossed this link.")?.0,
            );
        }
        out.push_str("</div>\n");
        Ok(Html(out))
    }

    /// One panel per queue that held mail at a sample, deepest first.
    fn queue_panels(&mut self) -> Result<Html, ReportError> {
        let d = self.data;
        let mut queues: Vec<(&QueueKey, &QueueSamples, QueueLoad)> =
            d.queue_depth.iter().map(|(k, s)| (k, s, QueueLoad::of(s, d.sample_ms))).filter(|q| q.2.peak > 0).collect();
        queues.sort_by(|a, b| b.2.peak.cmp(&a.2.peak).then_with(|| a.0.cmp(b.0)));
        let mut out = String::from("<h3>Queues</h3>\n");
        if queues.is_empty() {
            out.push_str(&format!(
                "<p class=\"empty\">No queue held mail at any sample (every {}): all mail left its queues between samples.</p>\n",
                human_duration(d.sample_ms)
            ));
            return Ok(Html(out));
        }
        let more = queues.len().saturating_sub(QUEUE_PANELS);
        out.push_str(&format!(
            "<p>Messages in each queue that held mail, sampled every {}{}.</p>\n<div class=\"panels\">\n",
            human_duration(d.sample_ms),
            if more > 0 {
                format!("; the {QUEUE_PANELS} deepest of {} (the queue table lists all)", queues.len())
            } else {
                String::new()
            }
        ));
        for ((server, queue), samples, load) in queues.into_iter().take(QUEUE_PANELS) {
            let points = samples.iter().map(|(t, m)| (*t, f64::from(*m))).collect();
            let lines = vec![Line { name: queue.clone(), points }];
            let chart = TimeChart {
                unit: "messages",
                values: Values::Count,
                from_ms: 0,
                to_ms: d.end_ms,
                lines,
                reference: None,
                size: PANEL,
            };
            let caption = format!("{server}: {queue} (peak {})", group_digits(u64::from(load.peak)));
            out.push_str(&self.figures.figure(&format!("queue {server} {queue}"), &caption, &chart, "")?.0);
        }
        out.push_str("</div>\n");
        Ok(Html(out))
    }

    /// Public folder replication, where the organization has public stores: each
    /// store's backlog, and the replication bytes that left each queue.
    fn public_folder_charts(&mut self) -> Result<Html, ReportError> {
        let d = self.data;
        let mut out = Html(String::new());
        if d.pf_backlog.is_empty() {
            return Ok(out);
        }
        let backlog = (d.pf_backlog.iter())
            .map(|(s, v)| Line { name: s.clone(), points: v.iter().map(|(t, b)| (*t, *b as f64)).collect() })
            .collect();
        let caption = "Public folder replication backlog per store (changes another store holds that it lacks)";
        let why = "No public store ever lacked a change another held at a sample.";
        out.0.push_str(
            &self.full_chart(("public folder backlog", caption, why), ("changes", Values::Count), backlog)?.0,
        );
        let bytes = (d.pf_bytes.iter()).map(|(q, v)| Line { name: q.clone(), points: steps_of(v, d.end_ms) }).collect();
        let caption = "Public folder replication sent per queue, running total (connectors carry it over the WAN)";
        let why = "No replication message left any queue.";
        out.0.push_str(&self.full_chart(("public folder replication", caption, why), ("MB", Values::Real), bytes)?.0);
        Ok(out)
    }

    /// Offline address book downloads, where the run has clients: their bytes per hour on
    /// each WAN link (and the LAN), and full against diff downloads per day.
    fn oab_charts(&mut self) -> Result<Html, ReportError> {
        let d = self.data;
        if d.oab_days.is_empty() {
            return Ok(Html(String::new()));
        }
        let hours = d.end_ms.div_ceil(3_600_000);
        let hourly = |by_hour: &BTreeMap<u64, u64>| -> Vec<(u64, f64)> {
            let kb = |h: u64| by_hour.get(&h).copied().unwrap_or(0) as f64 / 1_024.0;
            (0..hours).map(|h| (h * 3_600_000, kb(h))).collect()
        };
        let lines = d.oab_hourly_bytes.iter().map(|(path, v)| Line { name: path.clone(), points: hourly(v) }).collect();
        let caption = "Offline address book downloads per hour, by WAN link (LAN: clients in the replica's site)";
        let why = "No client downloaded anything: every one was up to date or found no replica.";
        let mut out = self.full_chart(("oab downloads per hour", caption, why), ("KB/hour", Values::Real), lines)?;
        let mut per_day: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for ((_, day), row) in &d.oab_days {
            let entry = per_day.entry(*day).or_default();
            entry.0 += row.full;
            entry.1 += row.diffs;
        }
        // Each day's count held across the day, so that the line reads as a bar.
        let end = d.end_ms;
        let daily = |pick: fn(&(u64, u64)) -> u64| -> Vec<(u64, f64)> {
            let span = |day: &u64| [day * 86_400_000, ((day + 1) * 86_400_000 - 1).min(end)];
            per_day.iter().flat_map(|(day, c)| span(day).map(|t| (t, pick(c) as f64))).collect()
        };
        let lines = vec![
            Line { name: "full downloads".into(), points: daily(|c| c.0) },
            Line { name: "diff downloads".into(), points: daily(|c| c.1) },
        ];
        let names =
            ("oab downloads per day", "Offline address book downloads per run day: full files against diffs", why);
        out.0.push_str(&self.full_chart(names, ("downloads", Values::Count), lines)?.0);
        Ok(out)
    }

    /// Link state, the directory and the categorizer, where the run has them.
    /// The SMTP edge: refusals per filter step and messages accepted, cumulative.
    fn edge_chart(&mut self) -> Result<Html, ReportError> {
        let d = self.data;
        if d.edge.is_empty() {
            return Ok(Html(String::new()));
        }
        let lines = (d.edge.cumulative_lines().into_iter())
            .map(|(name, mut points)| {
                // Flat from the last minute with events to the end of the run.
                let last = points.last().map_or(0.0, |p| p.1);
                points.push((d.end_ms, last));
                Line { name, points }
            })
            .collect();
        let caption = "SMTP edge: refusals per filter step and messages accepted (cumulative)";
        let why = "No session from outside was refused or accepted.";
        self.full_chart(("smtp edge", caption, why), ("count", Values::Count), lines)
    }

    /// Each Badmail and archive folder's size over the run.
    fn mailroot_chart(&mut self) -> Result<Html, ReportError> {
        let d = self.data;
        if d.mailroot.is_empty() {
            return Ok(Html(String::new()));
        }
        let lines = (d.mailroot.size_lines(d.end_ms).into_iter())
            .map(|(name, points)| Line { name, points: points.into_iter().map(|(t, b)| (t, b / 1_024.0)).collect() })
            .collect();
        let caption = "Badmail and archive folders: size on disk per virtual server";
        let why = "Nothing was written to a Badmail or archive folder (Badmail is discarded by default from SP1).";
        self.full_chart(("mailroot folders", caption, why), ("KB", Values::Real), lines)
    }

    fn other_charts(&mut self) -> Result<Html, ReportError> {
        let d = self.data;
        let per_minute = d.link_state.iter().map(|(t, m, _, i)| (*t, *m as f64 * 60_000.0 / (*i).max(1) as f64));
        let why = "No link state update, reply or table-carrying X-LINK2STATE turn moved: no connector changed state (turns carrying a digest alone are session overhead and not counted).";
        let mut out = self.full_chart(
            ("link state messages", "Link state messages per minute (organization-wide)", why),
            ("messages/min", Values::Real),
            line_of("link state messages", per_minute),
        )?;
        if !d.ad_backlog.is_empty() {
            let backlog = d
                .ad_backlog
                .iter()
                .map(|(dc, s)| Line { name: dc.clone(), points: s.iter().map(|(t, b)| (*t, *b as f64)).collect() })
                .collect();
            let caption = "Directory replication backlog per DC (changes its sources hold that it has not pulled)";
            let why = "No DC ever lagged behind its sources at a sample.";
            out.0.push_str(
                &self.full_chart(("directory backlog", caption, why), ("changes", Values::Count), backlog)?.0,
            );
            let kbit = d.ad_bytes.iter().map(|(t, b, i)| (*t, *b as f64 * 8.0 / (*i).max(1) as f64));
            let names =
                ("directory traffic", "Directory replication traffic (all DCs)", "No directory change replicated.");
            out.0
                .push_str(&self.full_chart(names, ("kbit/s", Values::Real), line_of("directory replication", kbit))?.0);
        }
        out.0.push_str(&self.public_folder_charts()?.0);
        out.0.push_str(&self.oab_charts()?.0);
        if !d.categorizer_memory.is_empty() {
            let lines = d
                .categorizer_memory
                .iter()
                .map(|(s, changes)| Line { name: s.clone(), points: steps_of(changes, d.end_ms) })
                .collect();
            let names = ("categorizer memory", "Categorizer memory held by group expansion (2 KB a recipient)", "");
            out.0.push_str(&self.full_chart(names, ("MB", Values::Real), lines)?.0);
        }
        Ok(out)
    }

    /// The Information Stores: log files begun per hour per storage group (the log
    /// volume a backup and the log disk must take), database mounts and dismounts, and
    /// the daily size checks that warned or dismounted.
    fn store_section(&mut self) -> Result<Html, ReportError> {
        let d = self.data;
        if d.log_files.is_empty() && d.database_states.is_empty() && d.database_sizes.is_empty() {
            return Ok(Html(String::new()));
        }
        let mut out = String::from("<h3>Information Store</h3>\n");
        let hour = 3_600_000;
        let lines = d
            .log_files
            .iter()
            .map(|((server, group), starts)| {
                let mut per_hour: BTreeMap<u64, f64> = (0..=d.end_ms / hour).map(|h| (h, 0.0)).collect();
                for t in starts {
                    *per_hour.entry(t / hour).or_default() += 1.0;
                }
                let points = per_hour.into_iter().map(|(h, n)| ((h * hour + hour / 2).min(d.end_ms), n)).collect();
                Line { name: format!("{server}: {group}"), points }
            })
            .collect();
        let names = (
            "log files",
            "Transaction log files (5 MB) begun per hour, per storage group",
            "No storage group filled a 5 MB log file.",
        );
        out.push_str(&self.full_chart(names, ("log files/hour", Values::Count), lines)?.0);
        let names = (
            "database size",
            "Database logical size (physical less free space), with the SP2 limit where the size comes within half of it",
            "No mailbox database.",
        );
        // GB once some database passes 1 GB, MB below.
        let peak = d.database_sizes.values().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0, f64::max);
        let (unit, unit_bytes) = if peak >= (1u64 << 30) as f64 { ("GB", 1 << 30) } else { ("MB", 1 << 20) };
        out.push_str(
            &self.full_chart(names, (unit, Values::Real), ceiling_lines(&d.database_sizes, unit_bytes, "limit"))?.0,
        );
        let names = (
            "log disk use",
            "Transaction log files on disk (backups and circular logging delete them), with the log disk's size where set",
            "No mailbox database.",
        );
        out.push_str(
            &self.full_chart(names, ("MB", Values::Real), ceiling_lines(&d.log_disk_use, 1 << 20, "disk size"))?.0,
        );
        out.push_str(&self.disk_charts()?.0);
        out.push_str(&store_tables(d).0);
        Ok(Html(out))
    }

    /// The disk model: each database volume's client I/Os against its capacity, and
    /// each volume's mean latency (EXCHANGE2003.md §11).
    fn disk_charts(&mut self) -> Result<Html, ReportError> {
        let d = self.data;
        if d.database_iops.is_empty() {
            return Ok(Html(String::new()));
        }
        let names = (
            "disk IOPS",
            "Database volume I/Os a second (each mailbox's busy-hour profile × the hour's client load), with the volume's capacity where the load comes within half of it",
            "No mailbox database.",
        );
        let mut out = self
            .full_chart(names, ("I/Os per second", Values::Real), ceiling_lines(&d.database_iops, 1, "capacity"))?
            .0;
        let names = (
            "disk latency",
            "Mean I/O latency of each storage group's database and log volumes (an M/M/c queue below capacity; past it the clients wait their turn, by the response time law)",
            "No mailbox database.",
        );
        let lines = ceiling_lines(&d.disk_latency_ms, 1, "");
        let chart = TimeChart {
            unit: "ms",
            values: Values::Real,
            from_ms: 0,
            to_ms: d.end_ms,
            lines,
            reference: Some((crate::outcomes::SLOW_DATABASE_MS, "slow database volume".into())),
            size: FULL,
        };
        let (name, caption, why) = names;
        out.push_str(&self.figures.figure(name, caption, &chart, why)?.0);
        Ok(Html(out))
    }

    /// A full-width chart over the whole run: (file name, caption, why it may be empty),
    /// (unit, values), its lines.
    fn full_chart(
        &mut self,
        (name, caption, why): (&str, &str, &str),
        (unit, values): (&str, Values),
        lines: Vec<Line>,
    ) -> Result<Html, ReportError> {
        let chart = TimeChart { unit, values, from_ms: 0, to_ms: self.data.end_ms, lines, reference: None, size: FULL };
        self.figures.figure(name, caption, &chart, why)
    }

    /// Zoomed panels around each incident, so that steps of seconds and minutes show.
    fn incidents(&mut self) -> Result<Html, ReportError> {
        let d = self.data;
        let incidents = incidents(d);
        if incidents.is_empty() {
            return Ok(Html(
                "<h3>Incidents</h3>\n<p class=\"empty\">No fault or administrator action in this run's timeline.</p>\n"
                    .into(),
            ));
        }
        let mut out = String::from("<h3>Incidents, zoomed</h3>\n");
        if incidents.len() > INCIDENTS {
            out.push_str(&format!("<p>The first {INCIDENTS} of {} incidents.</p>\n", incidents.len()));
        }
        for (k, incident) in incidents.iter().take(INCIDENTS).enumerate() {
            let (a, b) = (d.clock.at(incident.from_ms), d.clock.at(incident.to_ms));
            out.push_str(&format!(
                "<h4>{} {}–{}: {}</h4>\n<div class=\"panels\">\n",
                a.weekday,
                a.time(true),
                b.time(true),
                escape(&incident.summary)
            ));
            let panels = zoom_panels(d, incident);
            if panels.is_empty() {
                out.push_str("<p class=\"empty\">Nothing was queued, lagging or crossing the links it names in this window.</p>\n");
            }
            for (name, unit, values, lines) in panels {
                let chart = TimeChart {
                    unit,
                    values,
                    from_ms: incident.from_ms,
                    to_ms: incident.to_ms,
                    lines,
                    reference: None,
                    size: PANEL,
                };
                out.push_str(&self.figures.figure(&format!("incident {} {name}", k + 1), &name, &chart, "")?.0);
            }
            out.push_str("</div>\n");
        }
        Ok(Html(out))
    }
}

/// One line from points, or none when every value is zero.
fn line_of(name: &str, points: impl Iterator<Item = (u64, f64)>) -> Vec<Line> {
    let points: Vec<(u64, f64)> = points.collect();
    if points.iter().all(|p| p.1 <= 0.0) {
        return Vec::new();
    }
    vec![Line { name: name.to_string(), points }]
}

/// Changes (t_ms, bytes) as a step line in MB that holds each value until the next.
fn steps_of(changes: &[(u64, u64)], end_ms: u64) -> Vec<(u64, f64)> {
    let mut points = vec![(0, 0.0)];
    let mut last = 0.0;
    for (t, bytes) in changes {
        let mb = *bytes as f64 / 1_048_576.0;
        points.push((*t, last));
        points.push((*t, mb));
        last = mb;
    }
    points.push((end_ms, last));
    points
}

/// The latency buckets: hourly for runs of six hours or more, else 1/24 of the run (at
/// least a minute).
fn latency_bucket_ms(d: &TraceData) -> u64 {
    if d.end_ms >= 6 * 3_600_000 {
        3_600_000
    } else {
        (d.end_ms / 24).max(60_000)
    }
}

/// p50, p90 and p99 delivery latency (seconds) per bucket, plotted at the bucket's middle.
pub fn latency_lines(d: &TraceData) -> Vec<Line> {
    let bucket_ms = latency_bucket_ms(d);
    let mut buckets: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for delivery in &d.deliveries {
        buckets.entry(delivery.t_ms / bucket_ms).or_default().push(delivery.latency_ms);
    }
    let quantiles = [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)];
    let mut lines: Vec<Line> =
        quantiles.iter().map(|(n, _)| Line { name: n.to_string(), points: Vec::new() }).collect();
    for (bucket, mut latencies) in buckets {
        latencies.sort_unstable();
        let t = bucket * bucket_ms + bucket_ms / 2;
        for (line, (_, q)) in lines.iter_mut().zip(quantiles) {
            line.points.push((t, f64::from(percentile(&latencies, q).unwrap_or(0)) / 1_000.0));
        }
    }
    lines
}

/// Kinds that begin an outage of their target, and the kinds that end it.
const OPENS: [(&str, &str); 7] = [
    ("link_down", "link_up"),
    ("server_crash", "server_restart"),
    ("node_down", "node_up"),
    ("host_down", "host_up"),
    ("dc_down", "dc_up"),
    ("connector_down", "connector_up"),
    ("dismount_database", "mount_database"),
];

/// The timeline as chart marks: outages as spans from fault to repair (to the end if
/// never repaired), other steps and each safety invariant's first failure as lines.
/// Labels are the steps' numbers in the timeline table.
pub fn timeline_marks(d: &TraceData) -> Marks {
    let mut marks = Marks::default();
    let mut open: BTreeMap<(&str, &str), (u64, usize)> = BTreeMap::new();
    for (i, step) in d.steps.iter().enumerate() {
        let number = i + 1;
        if let Some((opens, _)) = OPENS.iter().find(|(o, _)| *o == step.kind) {
            open.entry((opens, step.target.as_str())).or_insert((step.at_ms, number));
        } else if let Some((opens, _)) = OPENS.iter().find(|(_, c)| *c == step.kind) {
            if let Some((from, n)) = open.remove(&(*opens, step.target.as_str())) {
                marks.spans.push((from, step.at_ms, n.to_string()));
            }
        } else {
            marks.points.push((step.at_ms, number.to_string()));
        }
    }
    for (from, n) in open.into_values() {
        marks.spans.push((from, d.end_ms, n.to_string()));
    }
    for (check, failure) in &d.first_failures {
        marks.points.push((failure.t_ms, format!("✗ {check}")));
    }
    marks.spans.sort_by_key(|s| s.0);
    marks
}

/// A stretch of the run around faults and actions close together in time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    pub from_ms: u64,
    pub to_ms: u64,
    pub summary: String,
    /// Links its steps name.
    pub links: Vec<String>,
}

/// Steps (other than clients' sends) within 30 minutes of each other form an incident;
/// its window opens 5 minutes before the first and closes once queues, links and the
/// directory have settled after the last (between 10 minutes and 2 hours later).
pub fn incidents(d: &TraceData) -> Vec<Incident> {
    const GAP_MS: u64 = 30 * 60_000;
    let mut groups: Vec<Vec<&Step>> = Vec::new();
    for step in d.steps.iter().filter(|s| s.kind != "send") {
        match groups.last_mut() {
            Some(g) if step.at_ms <= g.last().expect("groups are not empty").at_ms + GAP_MS => g.push(step),
            _ => groups.push(vec![step]),
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let first = g[0].at_ms;
            let last = g.last().expect("groups are not empty").at_ms;
            let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
            for s in &g {
                *kinds.entry(s.kind.as_str()).or_default() += 1;
            }
            let summary = kinds
                .iter()
                .map(|(k, n)| if *n > 1 { format!("{n}× {k}") } else { k.to_string() })
                .collect::<Vec<_>>()
                .join(", ");
            let mut links: Vec<String> =
                g.iter().filter(|s| s.kind.starts_with("link_")).map(|s| s.target.clone()).collect();
            links.sort();
            links.dedup();
            let to_ms = settled_after(d, last).min(d.end_ms);
            Incident {
                from_ms: first.saturating_sub(5 * 60_000),
                to_ms: to_ms.max(first + 60_000).min(d.end_ms.max(first + 60_000)),
                summary,
                links,
            }
        })
        .collect()
}

/// The first sample at least 10 minutes after `t_ms` from which every queue and every
/// DC's backlog stays at zero, or `t_ms` + 2 h.
fn settled_after(d: &TraceData, t_ms: u64) -> u64 {
    let (min, max) = (t_ms + 10 * 60_000, t_ms + 2 * 3_600_000);
    let busy_until = d
        .queue_depth
        .values()
        .flat_map(|s| s.iter().filter(|(_, m)| *m > 0).map(|(t, _)| *t))
        .chain(d.ad_backlog.values().flat_map(|s| s.iter().filter(|(_, b)| *b > 0).map(|(t, _)| *t)))
        .filter(|t| *t >= t_ms && *t <= max)
        .max()
        .unwrap_or(t_ms);
    (busy_until + d.sample_ms).clamp(min, max)
}

/// The panels of one incident: the queues that held mail in it (the four deepest), the
/// directory backlog, and the links its steps name; each only where there is data.
fn zoom_panels(d: &TraceData, incident: &Incident) -> Vec<(String, &'static str, Values, Vec<Line>)> {
    let window = incident.from_ms..=incident.to_ms;
    let in_window = |t: &u64| window.contains(t);
    let mut panels = Vec::new();
    let mut queues: Vec<(u32, Line)> = d
        .queue_depth
        .iter()
        .map(|((server, queue), s)| {
            let points: Vec<(u64, f64)> =
                s.iter().filter(|(t, _)| in_window(t)).map(|(t, m)| (*t, f64::from(*m))).collect();
            let peak = points.iter().map(|p| p.1 as u32).max().unwrap_or(0);
            (peak, Line { name: format!("{server}: {queue}"), points })
        })
        .filter(|(peak, _)| *peak > 0)
        .collect();
    queues.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
    if !queues.is_empty() {
        panels.push((
            "Queue depth (deepest queues)".to_string(),
            "messages",
            Values::Count,
            queues.into_iter().take(4).map(|q| q.1).collect(),
        ));
    }
    let backlog: Vec<Line> = d
        .ad_backlog
        .iter()
        .map(|(dc, s)| Line {
            name: dc.clone(),
            points: s.iter().filter(|(t, _)| in_window(t)).map(|(t, b)| (*t, *b as f64)).collect(),
        })
        .filter(|l| l.points.iter().any(|p| p.1 > 0.0))
        .collect();
    if !backlog.is_empty() {
        panels.push(("Directory replication backlog".to_string(), "changes", Values::Count, backlog));
    }
    for link in &incident.links {
        let lines: Vec<Line> = [Direction::AToB, Direction::BToA]
            .into_iter()
            .filter_map(|dir| {
                let s = d.link_bytes.get(&(link.clone(), dir))?;
                let points = s
                    .iter()
                    .filter(|(t, _, _)| in_window(t))
                    .map(|(t, b, i)| (*t, *b as f64 * 8.0 / (*i).max(1) as f64))
                    .collect();
                Some(Line { name: d.links.get(link).map_or(format!("{dir:?}"), |l| l.direction_name(dir)), points })
            })
            .collect();
        panels.push((format!("{link} throughput"), "kbit/s", Values::Real, lines));
    }
    panels
}

/// A file name from a chart's name.
fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

/// The verdict line: every check held, or how many failed.
fn verdict(d: &TraceData) -> Html {
    let failed = d.checks.iter().filter(|c| !c.1).count();
    if d.checks.is_empty() {
        return Html("<p class=\"verdict fail\">The trace has no check results: the run did not finish.</p>\n".into());
    }
    if failed == 0 {
        Html(format!("<p class=\"verdict ok\">All {} checks held.</p>\n", d.checks.len()))
    } else {
        Html(format!("<p class=\"verdict fail\">{failed} of {} checks failed.</p>\n", d.checks.len()))
    }
}

/// What ran: scenario, seed, plants, calendar, digest.
fn story(d: &TraceData, trace: &Path) -> Html {
    let (a, b) = (d.clock.at(0), d.clock.at(d.end_ms));
    let plants = if d.plants.is_empty() {
        "none".to_string()
    } else {
        format!(
            "<strong>{}</strong> (a bug switched on deliberately; <code>orgsim score --help</code> describes it)",
            escape(&d.plants.join(", "))
        )
    };
    Html(format!(
        "<p>{}</p>\n<dl class=\"story\"><dt>scenario file</dt><dd><code>{}</code></dd><dt>seed</dt><dd>{}</dd>\
<dt>planted bugs</dt><dd>{plants}</dd><dt>simulated</dt><dd>{} to {} ({})</dd><dt>trace</dt><dd><code>{}</code>, {} records, \
format {}, orgsim {}</dd><dt>trace digest</dt><dd><code>sha256 {}</code></dd></dl>\n",
        escape(&d.description),
        escape(&d.file),
        d.seed,
        a.full(),
        b.full(),
        human_duration(d.end_ms),
        escape(&trace.display().to_string()),
        group_digits(d.records),
        d.trace_format,
        escape(&d.orgsim_version),
        d.digest
    ))
}

/// What happened to the mail, from the run's `messages` record.
fn message_summary(d: &TraceData) -> Html {
    let mut out = String::from("<h2>Messages</h2>\n");
    if d.messages.is_empty() {
        out.push_str(
            "<p class=\"empty\">This trace has no <code>messages</code> record (written from trace format 8 on).</p>\n",
        );
        return Html(out);
    }
    if d.count("submitted") == 0 && d.count("ndr_messages") == 0 {
        out.push_str("<p class=\"empty\">No client submitted mail in this run: the scenario has no workload.</p>\n");
        return Html(out);
    }
    let n = |k: &str| group_digits(d.count(k));
    let codes = d.ndr_codes.iter().map(|(c, k)| format!("{} × {c}", group_digits(*k))).collect::<Vec<_>>().join(", ");
    out.push_str(&format!(
        "<table><tr><th>client messages submitted</th><td class=\"n\">{}</td></tr>\n\
<tr><th>their recipients</th><td class=\"n\">{}</td></tr>\n<tr><th>delivered to a mailbox</th><td class=\"n\">{}</td></tr>\n\
<tr><th>relayed out of the organization</th><td class=\"n\">{}</td></tr>\n<tr><th>NDR'd</th><td class=\"n\">{}</td></tr>\n\
<tr><th>still queued at the end</th><td class=\"n\">{}</td></tr>\n<tr><th>NDRs sent (delivered to their senders)</th><td class=\"n\">{} ({})</td></tr>\n",
        n("submitted"),
        n("recipients"),
        n("delivered"),
        n("relayed"),
        n("ndr"),
        n("queued"),
        n("ndr_messages"),
        n("ndr_delivered"),
    ));
    if !codes.is_empty() {
        out.push_str(&format!("<tr><th>NDR'd recipients by code</th><td class=\"n\">{codes}</td></tr>\n"));
    }
    for (key, label) in
        [("expanded_groups", "group recipients expanded to their members"), ("oof_messages", "Out of Office replies")]
    {
        if d.count(key) > 0 {
            out.push_str(&format!("<tr><th>{label}</th><td class=\"n\">{}</td></tr>\n", n(key)));
        }
    }
    out.push_str("</table>\n");
    Html(out)
}

/// The checks, failures first, each failure with the commands that reproduce it.
fn checks(d: &TraceData) -> Html {
    let mut out = String::from("<h2>Checks</h2>\n");
    let run = reproduce_command(d);
    for (name, _, detail) in d.checks.iter().filter(|c| !c.1) {
        let first = d.first_failures.get(name).map_or(String::new(), |f| {
            format!(" First failed at {}: {}.", d.clock.at(f.t_ms).full(), escape(&f.detail))
        });
        // bisect-time finds when a safety invariant first fails; shrink works for any check.
        let bisect = if d.invariants.contains(name) {
            format!(
                "<br>Earliest failing moment: <code>{}</code>",
                escape(&run.replacen("orgsim run", "orgsim bisect-time", 1))
            )
        } else {
            String::new()
        };
        out.push_str(&format!(
            "<p class=\"verdict fail\">{} failed: {}.{first}<br>Reproduce: <code>{}</code>{bisect}<br>Fewest faults that still fail: <code>{}</code></p>\n",
            escape(name),
            escape(detail),
            escape(&run),
            escape(&run.replacen("orgsim run", "orgsim shrink", 1)),
        ));
    }
    out.push_str("<table><tr><th></th><th>check</th><th>detail</th></tr>\n");
    let mut ordered: Vec<&(String, bool, String)> = d.checks.iter().collect();
    ordered.sort_by_key(|c| c.1);
    for (name, ok, detail) in ordered {
        let (class, word) = if *ok { ("ok", "ok") } else { ("fail", "FAIL") };
        out.push_str(&format!(
            "<tr class=\"{class}\"><td>{word}</td><td>{}</td><td>{}</td></tr>\n",
            escape(name),
            escape(detail)
        ));
    }
    out.push_str("</table>\n");
    Html(out)
}

/// `orgsim run FILE --seed N --plant P`, as `orgsim run` prints it.
pub fn reproduce_command(d: &TraceData) -> String {
    let mut command = format!("orgsim run {} --seed {}", d.file, d.seed);
    for plant in &d.plants {
        command.push_str(&format!(" --plant {plant}"));
    }
    command
}

/// Every fault and action of the concrete timeline, numbered as the charts mark them.
fn timeline(d: &TraceData) -> Html {
    let mut out = String::from("<h2>Timeline</h2>\n");
    if d.steps.is_empty() {
        out.push_str(
            "<p class=\"empty\">No fault or administrator action: the scenario has no timeline and no weather.</p>\n",
        );
        return Html(out);
    }
    let weather = d.steps.iter().filter(|s| s.source == "weather").count();
    let plural = if d.steps.len() == 1 { "" } else { "s" };
    out.push_str(&format!(
        "<p>{} step{plural} ({} fixed in the scenario, {weather} drawn by its weather at this seed). Charts shade each outage from fault to repair and mark other steps with a line, labelled with the step's number.</p>\n\
<table><tr><th>#</th><th>time</th><th>step</th><th>target</th><th>details</th><th>source</th></tr>\n",
        d.steps.len(),
        d.steps.len() - weather
    ));
    for (i, s) in d.steps.iter().enumerate() {
        out.push_str(&format!(
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            i + 1,
            d.clock.at(s.at_ms).full(),
            escape(&s.kind),
            escape(&s.target),
            escape(&s.details),
            escape(&s.source)
        ));
    }
    out.push_str("</table>\n");
    Html(out)
}

/// Database mounts and dismounts, and the size checks that warned or dismounted.
fn store_tables(d: &TraceData) -> Html {
    let mut out = String::new();
    if !d.database_states.is_empty() {
        out.push_str("<table><tr><th>time</th><th>server</th><th>database</th><th>change</th></tr>\n");
        for (t, server, store, change) in &d.database_states {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                d.clock.at(*t).full(),
                escape(server),
                escape(store),
                escape(&change.replace('_', " "))
            ));
        }
        out.push_str("</table>\n");
    }
    if !d.size_checks.is_empty() {
        out.push_str("<table><tr><th>daily size check</th><th>server</th><th>database</th><th>logical MB</th><th>limit MB</th><th>verdict</th></tr>\n");
        for (t, server, store, logical, limit, verdict) in &d.size_checks {
            out.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>\n",
                d.clock.at(*t).full(),
                escape(server),
                escape(store),
                group_digits(logical >> 20),
                group_digits(limit >> 20),
                escape(&verdict.replace('_', " "))
            ));
        }
        out.push_str("</table>\n");
    }
    Html(out)
}

/// The capacity planning tables.
fn capacity_tables(d: &TraceData) -> Html {
    let mut out = String::from("<h2>Capacity</h2>\n");
    if !d.link_bytes.is_empty() {
        out.push_str(&format!(
            "<h3>WAN links</h3>\n<p>Per direction; percentiles and peak are over the {} samples; the busiest hour is the clock hour with the most bytes; headroom is the capacity left above the p95.</p>\n",
            human_duration(d.sample_ms)
        ));
        out.push_str(&link_table(d, d.sample_ms).0);
    }
    out.push_str("<h3>Queues</h3>\n");
    out.push_str(&queue_table(d, d.sample_ms).0);
    out.push_str("<h3>Delivery latency</h3>\n");
    out.push_str(&latency_table(d).0);
    out.push_str(&crate::tables::other_tables(d).0);
    Html(out)
}

fn event_counts(d: &TraceData) -> Html {
    let mut out = String::from("<h2>Trace records by kind</h2>\n<table><tr><th>event</th><th>records</th></tr>\n");
    for (event, n) in &d.event_counts {
        out.push_str(&format!("<tr><td>{}</td><td class=\"n\">{}</td></tr>\n", escape(event), group_digits(*n)));
    }
    out.push_str("</table>\n");
    Html(out)
}

/// One line per sampled quantity (in `unit_bytes`), and a line named `… (ceiling_name)`
/// for its ceiling once the quantity comes within half of it (an 8,000 GB limit would
/// flatten a 2 GB database to the axis).
fn ceiling_lines(
    sampled: &BTreeMap<(String, String), crate::trace_data::Sampled>,
    unit_bytes: u64,
    ceiling_name: &str,
) -> Vec<Line> {
    let mut lines = Vec::new();
    for ((server, name), s) in sampled {
        let scale = |v: f64| v / unit_bytes as f64;
        let points: Vec<(u64, f64)> = s.points.iter().map(|(t, v)| (*t, scale(*v))).collect();
        let peak = s.points.iter().map(|(_, v)| *v).fold(0.0, f64::max);
        lines.push(Line { name: format!("{server}: {name}"), points: points.clone() });
        if let Some(ceiling) = s.ceiling.filter(|c| peak * 2.0 >= *c as f64) {
            let flat = points.iter().map(|(t, _)| (*t, scale(ceiling as f64))).collect();
            lines.push(Line { name: format!("{server}: {name} ({ceiling_name})"), points: flat });
        }
    }
    lines
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sha2::Digest;

    /// A small trace: a storm of two outages, one failed check, a plant.
    pub(crate) fn trace_text() -> String {
        [
            r#"{"t_ms":0,"node":"orgsim","event":"run","orgsim_version":"0.1.0","trace_format":8,"seed":3,"file":"scenarios/t.json","plants":["no-expiration"],"scenario":{"name":"t","description":"d <b>","checks":{"invariants":["no_loss"]},"start":"2004-03-01T08:00:00Z","report":{"sample_interval":"2m"},"topology":{"wan_links":[{"name":"L","sites":["HUB","EAST"]}]}}}"#,
            r#"{"t_ms":0,"node":"orgsim","event":"timeline","steps":[{"at":"1m","kind":"link_down","link":"L","source":"weather"},{"at":"3m","kind":"link_up","link":"L","source":"weather"},{"at":"5m","kind":"set_master","routing_group":"RG","server":"EX01","source":"timeline"}]}"#,
            r#"{"t_ms":120000,"node":"EX01","event":"queue_sample","queues":[{"queue":"RGC A","state":"ready","messages":4},{"queue":"RGC B","messages":0}]}"#,
            r#"{"t_ms":130000,"node":"EX01","event":"delivered","message":"M1","recipient":"a@x.com","store":"S","latency_ms":1500}"#,
            r#"{"t_ms":200000,"node":"EX01","event":"ndr","message":"M2","recipients":["b@x.com"],"code":"5.1.1","ndr":"NDR-1","to":"c@x.com"}"#,
            r#"{"t_ms":210000,"node":"checks","event":"check_failed","check":"no_loss","detail":"M3 lost"}"#,
            r#"{"t_ms":220000,"node":"EX01","event":"log_generation","storage_group":"SG","generation":2}"#,
            r#"{"t_ms":230000,"node":"EX01","event":"database_size","store":"MS","logical_bytes":1073741824,"limit_bytes":1073741824,"verdict":"over_limit"}"#,
            r#"{"t_ms":230005,"node":"EX01","event":"database_state","store":"MS","change":"dismounted_over_limit"}"#,
            r#"{"t_ms":240000,"node":"wan","event":"link_sample","link":"L","from_a_bytes":1500000,"from_b_bytes":0,"interval_ms":120000,"bits_per_s":1544000}"#,
            r#"{"t_ms":240000,"node":"link_state","event":"link_state_sample","messages":0,"bytes":0,"interval_ms":120000}"#,
            r#"{"t_ms":240000,"node":"checks","event":"messages","submitted":3,"recipients":3,"delivered":1,"relayed":0,"ndr":1,"queued":0,"ndr_messages":1,"ndr_delivered":1,"expanded_groups":0,"oof_messages":0}"#,
            r#"{"t_ms":240000,"node":"checks","event":"check","check":"no_loss","ok":false,"detail":"1 lost"}"#,
            r#"{"t_ms":240000,"node":"checks","event":"check","check":"no_routing_loop","ok":true,"detail":"fine"}"#,
        ]
        .join("\n")
            + "\n"
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("orgsim-report-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_page_tells_the_story_first() {
        let dir = scratch("story");
        let trace = dir.join("trace.jsonl");
        std::fs::write(&trace, trace_text()).unwrap();
        let html = std::fs::read_to_string(write_report(&trace, &dir).unwrap()).unwrap();
        let digest: String = sha2::Sha256::digest(trace_text()).iter().map(|b| format!("{b:02x}")).collect();
        assert!(html.contains(&format!("sha256 {digest}")), "the digest is the trace file's");
        assert!(html.contains("d &lt;b&gt;"), "text is escaped");
        assert!(html.contains("1 of 2 checks failed"));
        assert!(html.contains("<strong>no-expiration</strong>"), "the plant is named");
        assert!(html.contains("Reproduce: <code>orgsim run scenarios/t.json --seed 3 --plant no-expiration</code>"));
        assert!(html.contains(
            "Earliest failing moment: <code>orgsim bisect-time scenarios/t.json --seed 3 --plant no-expiration</code>"
        ));
        assert!(html.contains(
            "Fewest faults that still fail: <code>orgsim shrink scenarios/t.json --seed 3 --plant no-expiration</code>"
        ));
        assert!(html.contains("First failed at Mon 2004-03-01 08:03:30: M3 lost."), "{html}");
        assert!(html.contains("<tr><td class=\"n\">1</td><td>Mon 2004-03-01 08:01:00</td><td>link_down</td><td>L</td><td></td><td>weather</td></tr>"));
        assert!(html.contains("<td>set_master</td><td>EX01</td><td>routing_group=RG</td>"), "{html}");
        assert!(html.contains("<tr><th>NDR'd recipients by code</th><td class=\"n\">1 × 5.1.1</td></tr>"));
        // The story comes before the charts.
        assert!(html.find("Timeline").unwrap() < html.find("<svg").unwrap());
        // Every figure has its caption once: the SVG holds no title.
        assert!(
            html.contains("<figcaption>L (1,544 kbit/s): peak 6.5 %, p95 6.5 % of capacity</figcaption>"),
            "{html}"
        );
        assert!(html.contains("<td>HUB → EAST</td><td class=\"n\">1,544</td><td class=\"n\">1,500,000</td>"), "{html}");
        assert!(html.contains("No link state update"), "the empty chart says why, not a blank grid: {html}");
        assert!(
            html.contains(
                "<tr><td>Mon 2004-03-01 08:03:50</td><td>EX01</td><td>MS</td><td>dismounted over limit</td></tr>"
            ),
            "{html}"
        );
        assert!(html.contains("<td class=\"n\">1,024</td><td class=\"n\">1,024</td><td>over limit</td>"), "{html}");
        assert!(!html.contains("No data in this run"));
        for chart in [
            "latency.svg",
            "wan-l.svg",
            "queue-ex01-rgc-a.svg",
            "incident-1-queue-depth-deepest-queues.svg",
            "log-files.svg",
        ] {
            let svg = std::fs::read_to_string(dir.join("charts").join(chart)).unwrap();
            assert!(svg.starts_with("<svg"), "{chart}");
            assert!(!svg.contains("peak"), "no title inside the SVG: {chart}");
            let size = svg.split("font-size=\"").nth(1).and_then(|s| s.split('"').next()).unwrap();
            assert!((size.parse::<f64>().unwrap() - 13.0).abs() < 0.01, "13 px text: {chart}: {size}");
        }
        assert!(!dir.join("charts/queue-ex01-rgc-b.svg").exists(), "a queue that never held mail gets no panel");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn outages_are_spans_and_incidents_settle() {
        let dir = scratch("marks");
        let trace = dir.join("trace.jsonl");
        std::fs::write(&trace, trace_text()).unwrap();
        let data = read_trace(&trace).unwrap();
        let marks = timeline_marks(&data);
        assert_eq!(marks.spans, vec![(60_000, 180_000, "1".to_string())]);
        assert_eq!(marks.points, vec![(300_000, "3".to_string()), (210_000, "✗ no_loss".to_string())]);
        let incidents = incidents(&data);
        assert_eq!(incidents.len(), 1);
        assert_eq!(incidents[0].summary, "link_down, link_up, set_master");
        assert_eq!(incidents[0].links, vec!["L".to_string()]);
        assert_eq!((incidents[0].from_ms, incidents[0].to_ms), (0, 240_000), "clamped to the run");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
