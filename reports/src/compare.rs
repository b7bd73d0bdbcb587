//! Two runs side by side on the same axes (`orgsim report A B --out DIR`): the 2000 and
//! 2003 link state rules under one oscillating link, a sweep's worst seed against its
//! best, a build against the one before. Time is plotted from each run's start on A's
//! calendar; the page says so when B's calendar differs.

use crate::capacity::{percentile, LinkLoad};
use crate::chart::{group_digits, Line, Marks, TimeChart, Values};
use crate::page::{html_page, latency_lines, timeline_marks, Figures};
use crate::trace_data::{read_trace, Direction, TraceData};
use crate::{escape, write_atomically, Html, ReportError};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const FULL: (u32, u32) = (960, 320);
const PANEL: (u32, u32) = (470, 250);

/// Writes `index.html` comparing the runs traced at `a` and `b` (and its charts) into
/// `dir`; returns the page's path.
pub fn write_comparison(a: &Path, b: &Path, dir: &Path) -> Result<PathBuf, ReportError> {
    let (ta, tb) = (read_trace(a)?, read_trace(b)?);
    let mut figures = Figures::new(dir, ta.clock, comparison_marks(&ta, &tb))?;
    let mut body = format!("<h1>{} <small>against</small> {}</h1>\n", escape(&name(&ta)), escape(&name(&tb)));
    body.push_str(&runs_table(&ta, &tb, a, b).0);
    body.push_str(&messages_table(&ta, &tb).0);
    body.push_str(&checks_table(&ta, &tb).0);
    body.push_str("<h2>Over time, on the same axes</h2>\n");
    if ta.clock != tb.clock {
        body.push_str("<p>The runs start at different times; both are plotted from their start on A's calendar.</p>\n");
    }
    body.push_str(&overall_charts(&mut figures, &ta, &tb)?.0);
    body.push_str(&link_panels(&mut figures, &ta, &tb)?.0);
    body.push_str(&capacity_table(&ta, &tb).0);
    let html = html_page(&format!("orgsim: {} against {}", name(&ta), name(&tb)), &Html(body));
    let index = dir.join("index.html");
    write_atomically(&index, html.as_bytes())?;
    Ok(index)
}

/// What one organization-wide chart shows of a run.
type Lines = fn(&TraceData) -> Vec<Line>;

/// Latency, all queues, link state and (where either run has it) the directory backlog:
/// A's lines and B's in one chart each.
fn overall_charts(figures: &mut Figures, ta: &TraceData, tb: &TraceData) -> Result<Html, ReportError> {
    let charts: [(&str, &str, &str, Values, &str, Lines); 4] = [
        (
            "latency",
            "Delivery latency, submission to mailbox (p50 and p99)",
            "seconds",
            Values::Real,
            "Neither run delivered to a mailbox.",
            |d| latency_lines(d).into_iter().filter(|l| l.name != "p90").collect(),
        ),
        (
            "queued",
            "Messages in all queues together, per sample",
            "messages",
            Values::Count,
            "No queue held mail at a sample in either run.",
            |d| vec![Line { name: "all queues".into(), points: total_queued(d) }],
        ),
        (
            "link state",
            "Link state messages per minute",
            "messages/min",
            Values::Real,
            "No link state message moved in either run.",
            |d| {
                vec![Line {
                    name: "link state".into(),
                    points: d
                        .link_state
                        .iter()
                        .map(|(t, m, _, i)| (*t, *m as f64 * 60_000.0 / (*i).max(1) as f64))
                        .collect(),
                }]
            },
        ),
        (
            "directory backlog",
            "Directory replication backlog, all DCs",
            "changes",
            Values::Count,
            "No DC lagged in either run.",
            |d| vec![Line { name: "all DCs".into(), points: total_backlog(d) }],
        ),
    ];
    let mut out = String::new();
    for (name, caption, unit, values, why, lines) in charts {
        if name == "directory backlog" && ta.ad_backlog.is_empty() && tb.ad_backlog.is_empty() {
            continue; // neither scenario simulates the directory
        }
        let mut both = prefixed("A", lines(ta));
        both.extend(prefixed("B", lines(tb)));
        let end_ms = ta.end_ms.max(tb.end_ms);
        let chart = TimeChart { unit, values, from_ms: 0, to_ms: end_ms, lines: both, reference: None, size: FULL };
        out.push_str(&figures.figure(name, caption, &chart, why)?.0);
    }
    Ok(Html(out))
}

/// One panel per WAN link of either run: each direction of each run a line.
fn link_panels(figures: &mut Figures, ta: &TraceData, tb: &TraceData) -> Result<Html, ReportError> {
    let mut out = String::from("<h3>WAN links</h3>\n<div class=\"panels\">\n");
    for link in ta.links.keys().chain(tb.links.keys()).collect::<BTreeSet<_>>() {
        let mut lines = Vec::new();
        for dir in [Direction::AToB, Direction::BToA] {
            for (label, d) in [("A", ta), ("B", tb)] {
                if let (Some(samples), Some(info)) = (d.link_bytes.get(&(link.clone(), dir)), d.links.get(link)) {
                    let points = samples.iter().map(|(t, b, i)| (*t, *b as f64 * 8.0 / (*i).max(1) as f64)).collect();
                    lines.push(Line { name: format!("{label}: {}", info.direction_name(dir)), points });
                }
            }
        }
        let end_ms = ta.end_ms.max(tb.end_ms);
        let chart = TimeChart {
            unit: "kbit/s",
            values: Values::Real,
            from_ms: 0,
            to_ms: end_ms,
            lines,
            reference: None,
            size: PANEL,
        };
        out.push_str(&figures.figure(&format!("wan {link}"), link, &chart, "No traffic in either run.")?.0);
    }
    out.push_str("</div>\n");
    Ok(Html(out))
}

/// `scenario seed N (+ plants)`.
fn name(d: &TraceData) -> String {
    let plants = if d.plants.is_empty() { String::new() } else { format!(" with {}", d.plants.join(", ")) };
    format!("{} seed {}{plants}", d.scenario, d.seed)
}

fn prefixed(label: &str, lines: Vec<Line>) -> Vec<Line> {
    lines.into_iter().map(|l| Line { name: format!("{label}: {}", l.name), points: l.points }).collect()
}

/// The two timelines: one set of marks when they are the same, else A's and B's, their
/// labels prefixed.
fn comparison_marks(a: &TraceData, b: &TraceData) -> Marks {
    let (ma, mb) = (timeline_marks(a), timeline_marks(b));
    if a.steps == b.steps && ma == mb {
        return ma;
    }
    let mut marks = Marks::default();
    for (label, m) in [("A", ma), ("B", mb)] {
        marks.spans.extend(m.spans.into_iter().map(|(x, y, l)| (x, y, format!("{label}{l}"))));
        marks.points.extend(m.points.into_iter().map(|(t, l)| (t, format!("{label}{l}"))));
    }
    marks.spans.sort_by_key(|s| s.0);
    marks.points.sort_by_key(|p| p.0);
    marks
}

/// Messages in every queue together at each sample time.
fn total_queued(d: &TraceData) -> Vec<(u64, f64)> {
    let mut totals = std::collections::BTreeMap::<u64, f64>::new();
    for samples in d.queue_depth.values() {
        for (t, m) in samples {
            *totals.entry(*t).or_default() += f64::from(*m);
        }
    }
    totals.into_iter().collect()
}

/// Every DC's backlog together at each sample time.
fn total_backlog(d: &TraceData) -> Vec<(u64, f64)> {
    let mut totals = std::collections::BTreeMap::<u64, f64>::new();
    for samples in d.ad_backlog.values() {
        for (t, b) in samples {
            *totals.entry(*t).or_default() += *b as f64;
        }
    }
    totals.into_iter().collect()
}

fn row(label: &str, a: &str, b: &str) -> String {
    format!("<tr><th>{label}</th><td>{a}</td><td>{b}</td></tr>\n")
}

fn runs_table(ta: &TraceData, tb: &TraceData, a: &Path, b: &Path) -> Html {
    let verdict = |d: &TraceData| {
        let failed = d.checks.iter().filter(|c| !c.1).count();
        if failed == 0 {
            format!("all {} checks held", d.checks.len())
        } else {
            format!("<strong>{failed} of {} checks failed</strong>", d.checks.len())
        }
    };
    let plants = |d: &TraceData| if d.plants.is_empty() { "none".to_string() } else { escape(&d.plants.join(", ")) };
    let mut out = String::from("<h2>The runs</h2>\n<table><tr><th></th><th>A</th><th>B</th></tr>\n");
    out.push_str(&row("verdict", &verdict(ta), &verdict(tb)));
    out.push_str(&row("scenario", &escape(&ta.scenario), &escape(&tb.scenario)));
    out.push_str(&row(
        "scenario file",
        &format!("<code>{}</code>", escape(&ta.file)),
        &format!("<code>{}</code>", escape(&tb.file)),
    ));
    out.push_str(&row("seed", &ta.seed.to_string(), &tb.seed.to_string()));
    out.push_str(&row("planted bugs", &plants(ta), &plants(tb)));
    out.push_str(&row("starts", &ta.clock.at(0).full(), &tb.clock.at(0).full()));
    out.push_str(&row(
        "trace",
        &format!("<code>{}</code>", escape(&a.display().to_string())),
        &format!("<code>{}</code>", escape(&b.display().to_string())),
    ));
    out.push_str(&row(
        "trace digest",
        &format!("<code>{}</code>", &ta.digest[..16]),
        &format!("<code>{}</code>", &tb.digest[..16]),
    ));
    out.push_str(&row("records", &group_digits(ta.records), &group_digits(tb.records)));
    out.push_str("</table>\n");
    if ta.digest == tb.digest {
        out.push_str("<p>The two traces are identical.</p>\n");
    }
    Html(out)
}

/// Recipient counts, and B − A.
fn messages_table(ta: &TraceData, tb: &TraceData) -> Html {
    let mut out = String::from("<h2>Messages</h2>\n<table><tr><th></th><th>A</th><th>B</th><th>B − A</th></tr>\n");
    for (key, label) in [
        ("submitted", "client messages submitted"),
        ("recipients", "their recipients"),
        ("delivered", "delivered to a mailbox"),
        ("relayed", "relayed out of the organization"),
        ("ndr", "NDR'd"),
        ("queued", "still queued at the end"),
        ("ndr_messages", "NDRs sent"),
    ] {
        let (x, y) = (ta.count(key), tb.count(key));
        let delta = y as i128 - x as i128;
        out.push_str(&format!(
            "<tr><th>{label}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}{}</td></tr>\n",
            group_digits(x),
            group_digits(y),
            if delta > 0 {
                "+"
            } else if delta < 0 {
                "−"
            } else {
                ""
            },
            group_digits(delta.unsigned_abs() as u64)
        ));
    }
    out.push_str("</table>\n");
    Html(out)
}

fn checks_table(ta: &TraceData, tb: &TraceData) -> Html {
    let names: BTreeSet<&String> = ta.checks.iter().chain(&tb.checks).map(|c| &c.0).collect();
    let result = |d: &TraceData, n: &str| {
        d.checks.iter().find(|c| c.0 == n).map_or("–".to_string(), |c| {
            if c.1 {
                "ok".into()
            } else {
                format!("<strong>FAIL</strong>: {}", escape(&c.2))
            }
        })
    };
    let mut out = String::from("<h2>Checks</h2>\n<table><tr><th>check</th><th>A</th><th>B</th></tr>\n");
    for n in names {
        out.push_str(&row(&escape(n), &result(ta, n), &result(tb, n)));
    }
    out.push_str("</table>\n");
    Html(out)
}

/// Per link direction the p95 and peak of each run; delivery latency of each.
fn capacity_table(ta: &TraceData, tb: &TraceData) -> Html {
    let mut out = String::from(
        "<h2>Capacity</h2>\n<table class=\"figures\"><tr><th>link direction</th><th>bytes A</th><th>bytes B</th>\
<th>p95 kbit/s A</th><th>p95 kbit/s B</th><th>peak kbit/s A</th><th>peak kbit/s B</th></tr>\n",
    );
    let keys: BTreeSet<&(String, Direction)> = ta.link_bytes.keys().chain(tb.link_bytes.keys()).collect();
    for key in keys {
        let load = |d: &TraceData| d.link_bytes.get(key).map(|s| LinkLoad::of(s, d.clock));
        let (la, lb) = (load(ta), load(tb));
        let info = ta.links.get(&key.0).or_else(|| tb.links.get(&key.0));
        let f = |l: &Option<LinkLoad>, g: fn(&LinkLoad) -> String| l.as_ref().map_or("–".into(), g);
        out.push_str(&format!(
            "<tr><td>{} {}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            escape(&key.0),
            escape(&info.map_or(String::new(), |i| i.direction_name(key.1))),
            f(&la, |l| group_digits(l.bytes)),
            f(&lb, |l| group_digits(l.bytes)),
            f(&la, |l| format!("{:.1}", l.p95_kbit_s)),
            f(&lb, |l| format!("{:.1}", l.p95_kbit_s)),
            f(&la, |l| format!("{:.1}", l.peak_kbit_s)),
            f(&lb, |l| format!("{:.1}", l.peak_kbit_s)),
        ));
    }
    out.push_str("</table>\n<table><tr><th>delivery latency</th><th>A</th><th>B</th></tr>\n");
    let latencies = |d: &TraceData| {
        let mut l: Vec<u32> = d.deliveries.iter().map(|x| x.latency_ms).collect();
        l.sort_unstable();
        l
    };
    let (la, lb) = (latencies(ta), latencies(tb));
    for (label, q) in [("p50 s", 0.5), ("p90 s", 0.9), ("p99 s", 0.99), ("max s", 1.0)] {
        let s = |l: &[u32]| percentile(l, q).map_or("–".into(), |v| format!("{:.3}", f64::from(v) / 1_000.0));
        out.push_str(&format!(
            "<tr><th>{label}</th><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            s(&la),
            s(&lb)
        ));
    }
    out.push_str("</table>\n");
    Html(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_runs_share_the_axes() {
        let dir = std::env::temp_dir().join(format!("orgsim-compare-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a.jsonl");
        let b = dir.join("b.jsonl");
        let text = crate::page::tests::trace_text();
        std::fs::write(&a, &text).unwrap();
        std::fs::write(&b, text.replace("\"seed\":3", "\"seed\":4").replace("\"delivered\":1,", "\"delivered\":2,"))
            .unwrap();
        let html = std::fs::read_to_string(write_comparison(&a, &b, &dir.join("out")).unwrap()).unwrap();
        assert!(
            html.contains("<h1>t seed 3 with no-expiration <small>against</small> t seed 4 with no-expiration</h1>"),
            "{html}"
        );
        assert!(html.contains("<tr><th>delivered to a mailbox</th><td class=\"n\">1</td><td class=\"n\">2</td><td class=\"n\">+1</td></tr>"), "{html}");
        let svg = std::fs::read_to_string(dir.join("out/charts/latency.svg")).unwrap();
        assert!(svg.contains("A: p50") && svg.contains("B: p99"), "both runs in one chart's legend");
        assert!(dir.join("out/charts/wan-l.svg").exists());
        assert!(!html.contains("The two traces are identical"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
