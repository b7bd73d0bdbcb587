//! Reports built from a trace alone: queue depth per queue, delivery latency percentiles
//! and WAN link throughput over time, as SVG charts (plotters; text is left to the
//! viewer, so no font packages are needed to render them) and one self-contained HTML
//! page. Depends on the trace format only, never on the running system.

pub mod diff;
pub mod perfetto;

use plotters::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Why a report could not be made.
#[derive(Debug)]
pub enum ReportError {
    /// Reading the trace or writing the report failed.
    Io(PathBuf, std::io::Error),
    /// A trace line is not what the format says.
    Trace { file: PathBuf, line: usize, message: String },
    /// A chart could not be drawn.
    Chart(String),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            ReportError::Trace { file, line, message } => write!(f, "{}:{line}: {message}", file.display()),
            ReportError::Chart(m) => write!(f, "chart: {m}"),
        }
    }
}

impl std::error::Error for ReportError {}

/// Bytes one link direction carried in one sample interval: (t_ms, bytes, interval_ms).
pub type LinkSample = (u64, u64, u64);

/// One Internet host's share of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStats {
    /// Messages relayed to it.
    pub messages: u64,
    /// Their recipients.
    pub recipients: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Times a server gave up on it and tried the next DNS server or MX host.
    pub failovers: u64,
    /// Times it stopped answering (`host_down`).
    pub outages: u64,
}

/// What the report needs from a trace.
#[derive(Debug, Default)]
pub struct TraceData {
    /// Scenario name.
    pub scenario: String,
    /// Scenario description.
    pub description: String,
    /// Run seed.
    pub seed: u64,
    /// Simulated run length in ms (the last record's time).
    pub end_ms: u64,
    /// Records read.
    pub records: u64,
    /// Per (server, queue): (t_ms, messages).
    pub queue_depth: BTreeMap<(String, String), Vec<(u64, u32)>>,
    /// (t_ms, latency_ms) of every delivery.
    pub deliveries: Vec<(u64, u64)>,
    /// Per (link, direction): samples.
    pub link_bytes: BTreeMap<(String, &'static str), Vec<LinkSample>>,
    /// Capacity of each link, bits per second.
    pub link_capacity: BTreeMap<String, u64>,
    /// Link state traffic, organization-wide: (t_ms, messages, bytes, interval_ms).
    pub link_state: Vec<(u64, u64, u64, u64)>,
    /// Link state table changes per server.
    pub link_state_changes: BTreeMap<String, u64>,
    /// Directory replication backlog per DC: (t_ms, USNs not yet pulled).
    pub ad_backlog: BTreeMap<String, Vec<(u64, u64)>>,
    /// Directory replication bytes: (t_ms, bytes, interval_ms).
    pub ad_bytes: Vec<(u64, u64, u64)>,
    /// DSAccess per server, as last sampled: (hits, misses, entries).
    pub dsaccess: BTreeMap<String, (u64, u64, u64)>,
    /// Times a categorizer gave up a GC.
    pub gc_failovers: u64,
    /// Messages put in categorizer retry.
    pub categorizer_retries: u64,
    /// Categorizer memory per server: (t_ms, bytes) at each change.
    pub categorizer_memory: BTreeMap<String, Vec<(u64, u64)>>,
    /// Per host beyond the organization: what it took and how often it failed to answer.
    pub hosts: BTreeMap<String, HostStats>,
    /// Final check results: (name, ok, detail).
    pub checks: Vec<(String, bool, String)>,
    /// Count of each event kind.
    pub event_counts: BTreeMap<String, u64>,
}

fn field<'a>(v: &'a Value, name: &str, file: &Path, line: usize) -> Result<&'a Value, ReportError> {
    v.get(name).ok_or_else(|| ReportError::Trace {
        file: file.to_path_buf(),
        line,
        message: format!("expected a field {name:?}"),
    })
}

fn as_u64(v: &Value, name: &str, file: &Path, line: usize) -> Result<u64, ReportError> {
    field(v, name, file, line)?.as_u64().ok_or_else(|| ReportError::Trace {
        file: file.to_path_buf(),
        line,
        message: format!("expected {name:?} to be a non-negative integer"),
    })
}

fn as_str<'a>(v: &'a Value, name: &str, file: &Path, line: usize) -> Result<&'a str, ReportError> {
    field(v, name, file, line)?.as_str().ok_or_else(|| ReportError::Trace {
        file: file.to_path_buf(),
        line,
        message: format!("expected {name:?} to be a string"),
    })
}

/// Writes a file whole: to `PATH.tmp`, then renamed into place, so a reader never sees a
/// half-written report.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| ReportError::Io(tmp.clone(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| ReportError::Io(path.to_path_buf(), e))
}

/// Calls `each(line_number, record)` for every record of a trace file (JSON Lines).
fn for_each_record(
    path: &Path,
    mut each: impl FnMut(usize, &Value) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let file = std::fs::File::open(path).map_err(|e| ReportError::Io(path.to_path_buf(), e))?;
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let n = index + 1;
        let line = line.map_err(|e| ReportError::Io(path.to_path_buf(), e))?;
        let v: Value = serde_json::from_str(&line).map_err(|e| ReportError::Trace {
            file: path.to_path_buf(),
            line: n,
            message: format!("not a JSON record: {e}"),
        })?;
        each(n, &v)?;
    }
    Ok(())
}

/// A trace opens with its "run" header record: refuses one that does not.
fn expect_run_header(path: &Path, line: usize, event: &str) -> Result<(), ReportError> {
    if line == 1 && event != "run" {
        return Err(ReportError::Trace {
            file: path.to_path_buf(),
            line: 1,
            message: "expected the \"run\" header record first".into(),
        });
    }
    Ok(())
}

/// Reads a trace file (JSON Lines).
pub fn read_trace(path: &Path) -> Result<TraceData, ReportError> {
    let mut data = TraceData::default();
    for_each_record(path, |n, v| {
        let t = as_u64(v, "t_ms", path, n)?;
        let event = as_str(v, "event", path, n)?;
        expect_run_header(path, n, event)?;
        data.records += 1;
        data.end_ms = data.end_ms.max(t);
        *data.event_counts.entry(event.to_string()).or_default() += 1;
        match event {
            "run" => {
                data.seed = as_u64(v, "seed", path, n)?;
                let scenario = field(v, "scenario", path, n)?;
                data.scenario = as_str(scenario, "name", path, n)?.to_string();
                data.description = as_str(scenario, "description", path, n)?.to_string();
            }
            "queue_sample" => {
                let node = as_str(v, "node", path, n)?.to_string();
                let queues = field(v, "queues", path, n)?.as_array().ok_or_else(|| ReportError::Trace {
                    file: path.to_path_buf(),
                    line: n,
                    message: "expected \"queues\" to be a list".into(),
                })?;
                for q in queues {
                    let name = as_str(q, "queue", path, n)?.to_string();
                    let messages = as_u64(q, "messages", path, n)? as u32;
                    data.queue_depth.entry((node.clone(), name)).or_default().push((t, messages));
                }
            }
            "delivered" => data.deliveries.push((t, as_u64(v, "latency_ms", path, n)?)),
            "link_sample" => {
                let link = as_str(v, "link", path, n)?.to_string();
                let interval = as_u64(v, "interval_ms", path, n)?;
                let a = as_u64(v, "from_a_bytes", path, n)?;
                let b = as_u64(v, "from_b_bytes", path, n)?;
                data.link_capacity.insert(link.clone(), as_u64(v, "bits_per_s", path, n)?);
                data.link_bytes.entry((link.clone(), "a→b")).or_default().push((t, a, interval));
                data.link_bytes.entry((link, "b→a")).or_default().push((t, b, interval));
            }
            "link_state_sample" => data.link_state.push((
                t,
                as_u64(v, "messages", path, n)?,
                as_u64(v, "bytes", path, n)?,
                as_u64(v, "interval_ms", path, n)?,
            )),
            "relayed" => {
                let host = data.hosts.entry(as_str(v, "host", path, n)?.to_string()).or_default();
                host.messages += 1;
                host.recipients += field(v, "recipients", path, n)?.as_array().map_or(0, Vec::len) as u64;
                host.bytes += as_u64(v, "size_bytes", path, n)?;
            }
            "ad_sample" => {
                let interval = as_u64(v, "interval_ms", path, n)?;
                data.ad_bytes.push((t, as_u64(v, "bytes", path, n)?, interval));
                let dcs = field(v, "dcs", path, n)?.as_array().ok_or_else(|| ReportError::Trace {
                    file: path.to_path_buf(),
                    line: n,
                    message: "expected \"dcs\" to be a list".into(),
                })?;
                for dc in dcs {
                    let name = as_str(dc, "dc", path, n)?.to_string();
                    data.ad_backlog.entry(name).or_default().push((t, as_u64(dc, "backlog", path, n)?));
                }
            }
            "dsaccess_sample" => {
                let node = as_str(v, "node", path, n)?.to_string();
                let figures =
                    (as_u64(v, "hits", path, n)?, as_u64(v, "misses", path, n)?, as_u64(v, "entries", path, n)?);
                data.dsaccess.insert(node, figures);
            }
            "gc_failover" => data.gc_failovers += 1,
            "categorizer_retry" => data.categorizer_retries += 1,
            "categorizer_memory" => {
                let node = as_str(v, "node", path, n)?.to_string();
                data.categorizer_memory.entry(node).or_default().push((t, as_u64(v, "bytes", path, n)?));
            }
            "failover" => data.hosts.entry(as_str(v, "host", path, n)?.to_string()).or_default().failovers += 1,
            "host_state" => {
                let host = data.hosts.entry(as_str(v, "host", path, n)?.to_string()).or_default();
                if as_str(v, "state", path, n)? == "down" {
                    host.outages += 1;
                }
            }
            "link_state_changed" => {
                *data.link_state_changes.entry(as_str(v, "node", path, n)?.to_string()).or_default() += 1;
            }
            "check" => {
                let ok = field(v, "ok", path, n)?.as_bool().unwrap_or(false);
                data.checks.push((as_str(v, "check", path, n)?.into(), ok, as_str(v, "detail", path, n)?.into()));
            }
            _ => {}
        }
        Ok(())
    })?;
    if data.records == 0 {
        return Err(ReportError::Trace { file: path.to_path_buf(), line: 1, message: "the trace is empty".into() });
    }
    Ok(data)
}

const WIDTH: u32 = 960;
const HEIGHT: u32 = 420;

fn hours(ms: u64) -> f64 {
    ms as f64 / 3_600_000.0
}

type Series = (String, Vec<(f64, f64)>);

/// Draws a line chart of named series into an SVG string.
fn line_chart(title: &str, y_label: &str, x_end_h: f64, series: &[Series]) -> Result<String, ReportError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| ReportError::Chart(format!("{title}: {e}"));
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let y_max = series.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y)).fold(0.0f64, f64::max);
        let y_max = if y_max <= 0.0 { 1.0 } else { y_max * 1.1 };
        let x_end = if x_end_h <= 0.0 { 1.0 } else { x_end_h };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..x_end, 0.0..y_max)
            .map_err(|e| err(&e))?;
        chart.configure_mesh().x_desc("simulated hours").y_desc(y_label).draw().map_err(|e| err(&e))?;
        for (i, (name, points)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        if !series.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

/// The deepest queues (at most `limit`), each a series of depth over time.
pub fn queue_depth_series(data: &TraceData, limit: usize) -> Vec<Series> {
    let mut all: Vec<(u32, Series)> = data
        .queue_depth
        .iter()
        .map(|((node, queue), points)| {
            let max = points.iter().map(|(_, m)| *m).max().unwrap_or(0);
            let pts = points.iter().map(|(t, m)| (hours(*t), f64::from(*m))).collect();
            (max, (format!("{node}: {queue}"), pts))
        })
        .collect();
    // Deepest first; ties by name keep the choice stable.
    all.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1 .0.cmp(&b.1 .0)));
    all.into_iter().filter(|(max, _)| *max > 0).take(limit).map(|(_, s)| s).collect()
}

/// p50, p90 and p99 delivery latency (seconds) per time bucket.
pub fn latency_series(data: &TraceData) -> Vec<Series> {
    let bucket_ms = if data.end_ms >= 6 * 3_600_000 { 3_600_000 } else { (data.end_ms / 24).max(60_000) };
    let mut buckets: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (t, latency) in &data.deliveries {
        buckets.entry(t / bucket_ms).or_default().push(*latency);
    }
    let mut out: Vec<Series> =
        [("p50", 0.50), ("p90", 0.90), ("p99", 0.99)].iter().map(|(name, _)| (name.to_string(), Vec::new())).collect();
    for (bucket, mut latencies) in buckets {
        latencies.sort_unstable();
        let x = hours(bucket * bucket_ms + bucket_ms / 2);
        for (i, q) in [0.50, 0.90, 0.99].iter().enumerate() {
            let rank = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1;
            out[i].1.push((x, latencies[rank] as f64 / 1_000.0));
        }
    }
    out
}

/// Average throughput (kbit/s) per link direction per sample.
pub fn link_series(data: &TraceData) -> Vec<Series> {
    data.link_bytes
        .iter()
        .filter(|(_, points)| points.iter().any(|(_, b, _)| *b > 0))
        .map(|((link, dir), points)| {
            let pts = points
                .iter()
                .map(|(t, bytes, interval)| (hours(*t), *bytes as f64 * 8.0 / (*interval).max(1) as f64))
                .collect();
            (format!("{link} {dir}"), pts)
        })
        .collect()
}

/// Directory replication backlog per DC (changes its sources hold that it has not
/// pulled yet), per sample.
pub fn directory_backlog_series(data: &TraceData) -> Vec<Series> {
    data.ad_backlog
        .iter()
        .map(|(dc, samples)| (dc.clone(), samples.iter().map(|(t, b)| (hours(*t), *b as f64)).collect()))
        .collect()
}

/// Directory replication traffic in kbit/s, all DCs, per sample.
pub fn directory_traffic_series(data: &TraceData) -> Vec<Series> {
    if data.ad_bytes.is_empty() {
        return Vec::new();
    }
    let points = data.ad_bytes.iter().map(|(t, b, i)| (hours(*t), *b as f64 * 8.0 / (*i).max(1) as f64)).collect();
    vec![("directory replication".to_string(), points)]
}

/// Memory the categorizer's group expansions hold per server, in MB (2 KB a recipient,
/// EXCHANGE2003.md §2), as steps: it holds its value until the next change.
pub fn categorizer_memory_series(data: &TraceData) -> Vec<Series> {
    data.categorizer_memory
        .iter()
        .map(|(server, changes)| {
            let mut points = vec![(0.0, 0.0)];
            let mut last = 0.0;
            for (t, bytes) in changes {
                let mb = *bytes as f64 / 1_048_576.0;
                points.push((hours(*t), last));
                points.push((hours(*t), mb));
                last = mb;
            }
            points.push((hours(data.end_ms), last));
            (server.clone(), points)
        })
        .collect()
}

/// Link state messages per minute, organization-wide, per sample.
pub fn link_state_message_series(data: &TraceData) -> Vec<Series> {
    link_state_series(data, "link state messages", |messages, _, interval_ms| {
        messages as f64 * 60_000.0 / interval_ms as f64
    })
}

/// Link state traffic in kbit/s, organization-wide, per sample (the WAN charts' unit;
/// summed over every link a message crosses).
pub fn link_state_bytes_series(data: &TraceData) -> Vec<Series> {
    link_state_series(data, "link state traffic", |_, bytes, interval_ms| bytes as f64 * 8.0 / interval_ms as f64)
}

/// `value(messages, bytes, interval_ms)` of each sample; empty when no link state moved.
fn link_state_series(data: &TraceData, name: &str, value: impl Fn(u64, u64, u64) -> f64) -> Vec<Series> {
    if data.link_state.iter().all(|(_, m, _, _)| *m == 0) {
        return Vec::new();
    }
    let points = data.link_state.iter().map(|(t, m, b, i)| (hours(*t), value(*m, *b, (*i).max(1)))).collect();
    vec![(name.to_string(), points)]
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The capacity-planning tables: WAN links (bytes, peak throughput and utilization per
/// direction), queues (deepest sample), delivery latency (percentiles over the run).
pub fn summary_tables(data: &TraceData) -> String {
    let mut out = String::from("<h2>WAN links</h2>\n<table><tr><th>link</th><th>direction</th><th>capacity</th><th>bytes</th><th>peak kbit/s</th><th>peak utilization</th></tr>\n");
    for ((link, dir), samples) in &data.link_bytes {
        let capacity = data.link_capacity.get(link).copied().unwrap_or(0);
        let bytes: u64 = samples.iter().map(|(_, b, _)| b).sum();
        let peak_bits_per_s = samples.iter().map(|(_, b, i)| b * 8 * 1_000 / (*i).max(1)).max().unwrap_or(0);
        let utilization = if capacity > 0 { peak_bits_per_s as f64 * 100.0 / capacity as f64 } else { 0.0 };
        out.push_str(&format!(
            "<tr><td>{}</td><td>{dir}</td><td class=\"n\">{:.1} kbit/s</td><td class=\"n\">{bytes}</td><td class=\"n\">{:.1}</td><td class=\"n\">{utilization:.1} %</td></tr>\n",
            escape(link),
            capacity as f64 / 1_000.0,
            peak_bits_per_s as f64 / 1_000.0
        ));
    }
    out.push_str("</table>\n<h2>Queues</h2>\n<table><tr><th>server</th><th>queue</th><th>deepest sample</th></tr>\n");
    for ((node, queue), samples) in &data.queue_depth {
        let max = samples.iter().map(|(_, m)| *m).max().unwrap_or(0);
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{max}</td></tr>\n",
            escape(node),
            escape(queue)
        ));
    }
    out.push_str("</table>\n<h2>Link state</h2>\n");
    let messages: u64 = data.link_state.iter().map(|(_, m, _, _)| m).sum();
    let bytes: u64 = data.link_state.iter().map(|(_, _, b, _)| b).sum();
    let peak = data.link_state.iter().map(|(_, m, _, i)| m * 60_000 / (*i).max(1)).max().unwrap_or(0);
    out.push_str(&format!(
        "<table><tr><th>messages</th><th>bytes</th><th>peak messages/min</th></tr>\n<tr><td class=\"n\">{messages}</td><td class=\"n\">{bytes}</td><td class=\"n\">{peak}</td></tr></table>\n"
    ));
    if !data.link_state_changes.is_empty() {
        out.push_str("<table><tr><th>server</th><th>table changes</th></tr>\n");
        for (server, n) in &data.link_state_changes {
            out.push_str(&format!("<tr><td>{}</td><td class=\"n\">{n}</td></tr>\n", escape(server)));
        }
        out.push_str("</table>\n");
    }
    if !data.hosts.is_empty() {
        out.push_str("<h2>Internet edge</h2>\n<table><tr><th>host</th><th>messages relayed</th><th>recipients</th><th>bytes</th><th>failovers past it</th><th>outages</th></tr>\n");
        for (host, h) in &data.hosts {
            out.push_str(&format!(
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                escape(host),
                h.messages,
                h.recipients,
                h.bytes,
                h.failovers,
                h.outages
            ));
        }
        out.push_str("</table>\n");
    }
    if !data.dsaccess.is_empty() || data.gc_failovers > 0 || data.categorizer_retries > 0 {
        out.push_str("<h2>Directory access</h2>\n");
        out.push_str(&format!(
            "<p>GCs given up by a categorizer: {}; messages put in categorizer retry: {}.</p>\n",
            data.gc_failovers, data.categorizer_retries
        ));
        if !data.dsaccess.is_empty() {
            out.push_str("<table><tr><th>server</th><th>DSAccess hits</th><th>GC lookups</th><th>hit ratio</th><th>entries</th></tr>\n");
            for (server, (hits, misses, entries)) in &data.dsaccess {
                let ratio = *hits as f64 * 100.0 / (hits + misses).max(1) as f64;
                out.push_str(&format!(
                    "<tr><td>{}</td><td class=\"n\">{hits}</td><td class=\"n\">{misses}</td><td class=\"n\">{ratio:.1} %</td><td class=\"n\">{entries}</td></tr>\n",
                    escape(server)
                ));
            }
            out.push_str("</table>\n");
        }
    }
    out.push_str("<h2>Delivery latency</h2>\n");
    let mut latencies: Vec<u64> = data.deliveries.iter().map(|(_, l)| *l).collect();
    latencies.sort_unstable();
    if latencies.is_empty() {
        out.push_str("<p class=\"empty\">No deliveries.</p>\n");
    } else {
        let at = |q: f64| latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1];
        out.push_str(&format!(
            "<table><tr><th>deliveries</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>\n<tr><td class=\"n\">{}</td><td class=\"n\">{:.3} s</td><td class=\"n\">{:.3} s</td><td class=\"n\">{:.3} s</td><td class=\"n\">{:.3} s</td></tr></table>\n",
            latencies.len(),
            at(0.5) as f64 / 1_000.0,
            at(0.9) as f64 / 1_000.0,
            at(0.99) as f64 / 1_000.0,
            *latencies.last().expect("non-empty") as f64 / 1_000.0
        ));
    }
    out
}

/// Writes `index.html` and the SVG charts into `dir` from the trace at `trace`; returns
/// the path of `index.html`.
pub fn write_report(trace: &Path, dir: &Path) -> Result<PathBuf, ReportError> {
    let data = read_trace(trace)?;
    let end_h = hours(data.end_ms);
    let charts = [
        ("queue_depth.svg", "Queue depth (deepest queues)", "messages", queue_depth_series(&data, 12)),
        ("latency.svg", "Delivery latency percentiles", "seconds", latency_series(&data)),
        ("wan_throughput.svg", "WAN link throughput", "kbit/s", link_series(&data)),
        ("link_state_messages.svg", "Link state messages", "messages/min", link_state_message_series(&data)),
        ("link_state_traffic.svg", "Link state traffic", "kbit/s", link_state_bytes_series(&data)),
        ("directory_backlog.svg", "Directory replication backlog per DC", "changes", directory_backlog_series(&data)),
        ("directory_traffic.svg", "Directory replication traffic", "kbit/s", directory_traffic_series(&data)),
        ("categorizer_memory.svg", "Categorizer memory (group expansion)", "MB", categorizer_memory_series(&data)),
    ];
    std::fs::create_dir_all(dir).map_err(|e| ReportError::Io(dir.to_path_buf(), e))?;
    let mut sections = String::new();
    for (file, title, unit, series) in &charts {
        if file.starts_with("directory_") && data.ad_backlog.is_empty() {
            continue; // the directory is not simulated in this scenario
        }
        if file.starts_with("categorizer_") && data.categorizer_memory.is_empty() {
            continue; // no group was expanded
        }
        let svg = line_chart(title, unit, end_h, series)?;
        write_atomically(&dir.join(file), svg.as_bytes())?;
        let note = if series.is_empty() { "<p class=\"empty\">No data in this run.</p>" } else { "" };
        sections.push_str(&format!("<section><h2>{}</h2>{note}\n{svg}\n</section>\n", escape(title)));
    }
    let mut checks = String::new();
    for (name, ok, detail) in &data.checks {
        let class = if *ok { "ok" } else { "fail" };
        checks.push_str(&format!(
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            if *ok { "ok" } else { "FAIL" },
            escape(name),
            escape(detail)
        ));
    }
    let tables = summary_tables(&data);
    let mut counts = String::new();
    for (event, n) in &data.event_counts {
        counts.push_str(&format!("<tr><td>{}</td><td class=\"n\">{n}</td></tr>\n", escape(event)));
    }
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>orgsim: {name} (seed {seed})</title>\n\
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}table{{border-collapse:collapse}}\
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}tr.fail td{{background:#fdd}}tr.ok td:first-child{{color:#070}}\
td.n{{text-align:right}}section svg{{max-width:100%;height:auto}}.empty{{color:#888}}</style></head><body>\n\
<h1>{name} <small>seed {seed}</small></h1>\n<p>{description}</p>\n<p>{records} trace records, {hours:.1} simulated hours. \
Built from <code>{trace}</code> alone.</p>\n<h2>Checks</h2>\n<table><tr><th></th><th>check</th><th>detail</th></tr>\n{checks}</table>\n\
{tables}{sections}<h2>Events</h2>\n<table><tr><th>event</th><th>count</th></tr>\n{counts}</table>\n</body></html>\n",
        name = escape(&data.scenario),
        seed = data.seed,
        description = escape(&data.description),
        records = data.records,
        hours = end_h,
        trace = escape(&trace.display().to_string()),
    );
    let index = dir.join("index.html");
    write_atomically(&index, html.as_bytes())?;
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace_text() -> String {
        [
            r#"{"t_ms":0,"node":"orgsim","event":"run","seed":3,"scenario":{"name":"t","description":"d <b>"}}"#,
            r#"{"t_ms":120000,"node":"EX01","event":"queue_sample","queues":[{"queue":"RGC A","state":"ready","messages":4}]}"#,
            r#"{"t_ms":130000,"node":"EX01","event":"delivered","message":"M1","recipient":"a@x.com","store":"S","latency_ms":1500}"#,
            r#"{"t_ms":240000,"node":"wan","event":"link_sample","link":"L","from_a_bytes":15000,"from_b_bytes":0,"interval_ms":120000,"bits_per_s":64000}"#,
            r#"{"t_ms":240000,"node":"link_state","event":"link_state_sample","messages":6,"bytes":3000,"interval_ms":120000}"#,
            r#"{"t_ms":200000,"node":"internet","event":"host_state","host":"MX1","state":"down"}"#,
            r#"{"t_ms":200500,"node":"EX01","event":"failover","queue":"fabrikam.com","host":"MX1","reason":"timeout"}"#,
            r#"{"t_ms":200900,"node":"EX01","event":"relayed","message":"M2","host":"MX2","queue":"fabrikam.com","recipients":["a@fabrikam.com","b@fabrikam.com"],"size_bytes":2048}"#,
            r#"{"t_ms":240000,"node":"checks","event":"check","check":"no_loss","ok":true,"detail":"fine"}"#,
        ]
        .join("\n")
    }

    #[test]
    fn report_from_a_trace() {
        let dir = std::env::temp_dir().join(format!("orgsim-report-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let trace = dir.join("trace.jsonl");
        std::fs::write(&trace, trace_text()).unwrap();
        let index = write_report(&trace, &dir).unwrap();
        let html = std::fs::read_to_string(index).unwrap();
        assert!(html.contains("d &lt;b&gt;"), "text is escaped");
        assert!(html.contains("<svg"), "charts are inline");
        assert!(html.contains("no_loss"));
        assert!(html.contains("<td>L</td><td>a→b</td><td class=\"n\">64.0 kbit/s</td><td class=\"n\">15000</td><td class=\"n\">1.0</td><td class=\"n\">1.6 %</td>"), "{html}");
        for f in ["queue_depth.svg", "latency.svg", "wan_throughput.svg", "link_state_messages.svg"] {
            assert!(std::fs::read_to_string(dir.join(f)).unwrap().starts_with("<svg"));
        }
        let data = read_trace(&trace).unwrap();
        assert_eq!(link_series(&data)[0].1, vec![(hours(240_000), 1.0)]);
        assert_eq!(latency_series(&data)[0].1.len(), 1);
        assert_eq!(link_state_message_series(&data)[0].1, vec![(hours(240_000), 3.0)], "per minute");
        assert_eq!(link_state_bytes_series(&data)[0].1, vec![(hours(240_000), 0.2)], "3000 B in 2 min: 0.2 kbit/s");
        assert!(html.contains("<td class=\"n\">6</td><td class=\"n\">3000</td><td class=\"n\">3</td>"), "{html}");
        assert!(html.contains("<tr><td>MX1</td><td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">1</td><td class=\"n\">1</td></tr>"), "{html}");
        assert!(html.contains("<tr><td>MX2</td><td class=\"n\">1</td><td class=\"n\">2</td><td class=\"n\">2048</td><td class=\"n\">0</td><td class=\"n\">0</td></tr>"), "{html}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_trace_names_the_line() {
        let dir = std::env::temp_dir().join(format!("orgsim-report-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let trace = dir.join("trace.jsonl");
        std::fs::write(&trace, format!("{}\nnot json\n", trace_text().lines().next().unwrap())).unwrap();
        let err = read_trace(&trace).unwrap_err().to_string();
        assert!(err.ends_with(":2: not a JSON record: expected ident at line 1 column 2"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// What happened to one recipient of one message, reconstructed from a trace.
#[derive(Clone, Debug, Default)]
struct RecipientFate {
    /// Servers that accepted this copy, in order.
    path: Vec<String>,
    /// `delivered`, `relayed`, `ndr 5.1.1`, `badmail 4.4.7`, or empty while queued.
    outcome: String,
    latency_ms: Option<u64>,
}

impl RecipientFate {
    /// A copy first seen on `node`.
    fn at(node: &str) -> Self {
        RecipientFate { path: vec![node.to_string()], ..Default::default() }
    }
}

/// A per-message outcome summary of a trace: recipients counted by outcome and the path
/// of servers their copy took, then the first `detail` messages recipient by recipient.
/// Stable text, meant for snapshot tests and for reading.
pub fn outcome_summary(trace: &Path, detail: usize) -> Result<String, ReportError> {
    let mut order: Vec<String> = Vec::new();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut fates: BTreeMap<(String, String), RecipientFate> = BTreeMap::new();
    let mut recipients_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut submitted_at: BTreeMap<String, u64> = BTreeMap::new();
    let list = |v: &Value, name: &str, n: usize| -> Result<Vec<String>, ReportError> {
        let items = field(v, name, trace, n)?.as_array().ok_or_else(|| ReportError::Trace {
            file: trace.to_path_buf(),
            line: n,
            message: format!("expected {name:?} to be a list"),
        })?;
        Ok(items.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
    };
    for_each_record(trace, |n, v| {
        let node = as_str(v, "node", trace, n)?.to_string();
        let t = as_u64(v, "t_ms", trace, n)?;
        match as_str(v, "event", trace, n)? {
            "submitted" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                let rcpts = list(v, "recipients", n)?;
                let sender = as_str(v, "sender", trace, n)?;
                let size = as_u64(v, "size_bytes", trace, n)?;
                headers.insert(message.clone(), format!("{message} from {sender} ({size} bytes) at {t} ms on {node}"));
                for r in &rcpts {
                    fates.insert((message.clone(), r.clone()), RecipientFate::at(&node));
                }
                recipients_of.insert(message.clone(), rcpts);
                submitted_at.insert(message.clone(), t);
                order.push(message);
            }
            "relayed" => {
                // Handed to a host beyond the organization: the path ends at that host.
                let message = as_str(v, "message", trace, n)?.to_string();
                let host = as_str(v, "host", trace, n)?.to_string();
                let since = submitted_at.get(&message).copied();
                for r in list(v, "recipients", n)? {
                    let fate = fates.entry((message.clone(), r)).or_default();
                    fate.path.push(host.clone());
                    fate.outcome =
                        if fate.outcome.is_empty() { "relayed".into() } else { format!("{} + relayed", fate.outcome) };
                    fate.latency_ms = since.map(|s| t - s);
                }
            }
            "ndr" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                let code = as_str(v, "code", trace, n)?;
                for r in list(v, "recipients", n)? {
                    // A group's member refused where the group was expanded appears here
                    // first: its path is that server.
                    let fate = fates.entry((message.clone(), r)).or_insert_with(|| RecipientFate::at(&node));
                    fate.outcome = format!("ndr {code}");
                }
                let ndr = as_str(v, "ndr", trace, n)?.to_string();
                let to = as_str(v, "to", trace, n)?.to_string();
                headers.insert(ndr.clone(), format!("{ndr} for {message} to {to} at {t} ms on {node}"));
                fates.insert((ndr.clone(), to.clone()), RecipientFate::at(&node));
                recipients_of.insert(ndr.clone(), vec![to]);
                order.push(ndr);
            }
            "out_of_office" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                let reply = as_str(v, "reply", trace, n)?.to_string();
                let from = as_str(v, "from", trace, n)?;
                let to = as_str(v, "to", trace, n)?.to_string();
                headers.insert(reply.clone(), format!("{reply} from {from} for {message} to {to} at {t} ms on {node}"));
                fates.insert((reply.clone(), to.clone()), RecipientFate::at(&node));
                recipients_of.insert(reply.clone(), vec![to]);
                order.push(reply);
            }
            "badmail" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                let code = as_str(v, "code", trace, n)?;
                for r in list(v, "recipients", n)? {
                    fates.entry((message.clone(), r)).or_default().outcome = format!("badmail {code}");
                }
            }
            "received" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                for r in list(v, "recipients", n)? {
                    fates.entry((message.clone(), r)).or_default().path.push(node.clone());
                }
            }
            "expanded" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                let group = as_str(v, "group", trace, n)?.to_string();
                let members = as_u64(v, "members", trace, n)?;
                fates.entry((message, group)).or_default().outcome = format!("expanded to {members}");
            }
            "queued" => {
                // A group's members first appear where it was expanded.
                let message = as_str(v, "message", trace, n)?.to_string();
                for r in list(v, "recipients", n)? {
                    fates.entry((message.clone(), r)).or_insert_with(|| RecipientFate::at(&node));
                }
            }
            "delivered" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                let r = as_str(v, "recipient", trace, n)?.to_string();
                let fate = fates.entry((message, r)).or_default();
                fate.outcome =
                    if fate.outcome.is_empty() { "delivered".into() } else { format!("{} + delivered", fate.outcome) };
                fate.latency_ms = Some(as_u64(v, "latency_ms", trace, n)?);
            }
            _ => {}
        }
        Ok(())
    })?;
    let mut by_outcome: BTreeMap<(String, String), u64> = BTreeMap::new();
    for fate in fates.values() {
        let outcome = if fate.outcome.is_empty() { "queued".to_string() } else { fate.outcome.clone() };
        *by_outcome.entry((outcome, fate.path.join(" > "))).or_default() += 1;
    }
    let mut out = String::new();
    let ndrs = order.iter().filter(|m| m.starts_with("NDR-")).count();
    let oofs = order.iter().filter(|m| m.starts_with("OOF-")).count();
    let client = order.len() - ndrs - oofs;
    let oof_note = if oofs > 0 { format!(", {oofs} Out of Office replies") } else { String::new() };
    out.push_str(&format!(
        "{} messages ({client} from clients, {ndrs} NDRs{oof_note}), {} recipients\n",
        order.len(),
        fates.len()
    ));
    out.push_str("recipients by outcome and path:\n");
    for ((outcome, path), count) in &by_outcome {
        out.push_str(&format!("  {outcome:<22} {count:>7}  {path}\n"));
    }
    out.push_str(&format!("first {} messages:\n", detail.min(order.len())));
    for message in order.iter().take(detail) {
        out.push_str(&format!("  {}\n", headers[message]));
        for r in &recipients_of[message] {
            let fate = &fates[&(message.clone(), r.clone())];
            let outcome = if fate.outcome.is_empty() { "queued" } else { &fate.outcome };
            let latency = fate.latency_ms.map_or(String::new(), |l| format!(" after {l} ms"));
            out.push_str(&format!("    {r}: {outcome}{latency} via {}\n", fate.path.join(" > ")));
        }
    }
    Ok(out)
}
