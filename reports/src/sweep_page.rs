//! The summary page of a sweep (`orgsim sweep … --report DIR`): pass or fail per seed,
//! the distribution of each figure across the seeds, and links to the reports of the
//! failing seeds and to the worst seed set against the best. Built from the sweep's
//! results, which the caller hands in as plain rows (this crate knows no simulator).

use crate::capacity::percentile;
use crate::chart::group_digits;
use crate::page::html_page;
use crate::{escape, write_atomically, Html, ReportError};
use std::path::{Path, PathBuf};

/// One seed of the sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedRow {
    pub seed: u64,
    /// Failed checks (name: detail); empty when every check held.
    pub failed: Vec<String>,
    pub digest: String,
    /// One value per [`SweepPage::figures`].
    pub values: Vec<f64>,
    /// Its report, relative to the page, if one was written.
    pub report: Option<String>,
}

/// The sweep as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepPage {
    pub scenario: String,
    pub file: String,
    pub plants: Vec<String>,
    /// The command that ran it.
    pub command: String,
    /// Figures' names (with units), in the order of each row's values.
    pub figures: Vec<String>,
    pub rows: Vec<SeedRow>,
    /// The worst and the best seed and their comparison page, relative to the page.
    pub comparison: Option<(u64, u64, String)>,
    /// Lines said under the heading (what was left out, and why).
    pub notes: Vec<String>,
}

/// Writes `DIR/index.html`; returns its path.
pub fn write_sweep_page(page: &SweepPage, dir: &Path) -> Result<PathBuf, ReportError> {
    let failed = page.rows.iter().filter(|r| !r.failed.is_empty()).count();
    let mut body = format!("<h1>{} <small>sweep of {} seeds</small></h1>\n", escape(&page.scenario), page.rows.len());
    body.push_str(&if failed == 0 {
        format!("<p class=\"verdict ok\">Every check held at all {} seeds.</p>\n", page.rows.len())
    } else {
        format!("<p class=\"verdict fail\">{failed} of {} seeds failed a check.</p>\n", page.rows.len())
    });
    let plants = if page.plants.is_empty() { "none".to_string() } else { escape(&page.plants.join(", ")) };
    body.push_str(&format!(
        "<dl class=\"story\"><dt>scenario file</dt><dd><code>{}</code></dd><dt>planted bugs</dt><dd>{plants}</dd><dt>command</dt><dd><code>{}</code></dd></dl>\n",
        escape(&page.file),
        escape(&page.command)
    ));
    for note in &page.notes {
        body.push_str(&format!("<p>{}</p>\n", escape(note)));
    }
    if let Some((worst, best, href)) = &page.comparison {
        body.push_str(&format!(
            "<p><a href=\"{}\">The worst seed ({worst}) against the best ({best}), on the same axes</a> (worst: most failed checks, then most recipients still queued, NDR'd, fewest delivered).</p>\n",
            escape(href)
        ));
    }
    body.push_str(&distribution(page).0);
    body.push_str(&seed_table(page).0);
    let index = dir.join("index.html");
    write_atomically(&index, html_page(&format!("orgsim sweep: {}", page.scenario), &Html(body)).as_bytes())?;
    Ok(index)
}

/// Per figure: min, p10, median, p90, max across seeds, with the seeds at the ends.
fn distribution(page: &SweepPage) -> Html {
    let mut out = String::from(
        "<h2>Across the seeds</h2>\n<table class=\"figures\"><tr><th>figure</th><th>min (seed)</th><th>p10</th><th>median</th><th>p90</th><th>max (seed)</th><th>mean</th></tr>\n",
    );
    for (i, name) in page.figures.iter().enumerate() {
        let mut values: Vec<(f64, u64)> = page.rows.iter().map(|r| (r.values[i], r.seed)).collect();
        values.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let Some((min, max)) = values.first().zip(values.last()) else { continue };
        let just: Vec<f64> = values.iter().map(|v| v.0).collect();
        let q = |p: f64| number(percentile(&just, p).unwrap_or(0.0));
        let mean = just.iter().sum::<f64>() / just.len() as f64;
        out.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{} ({})</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{} ({})</td><td class=\"n\">{}</td></tr>\n",
            escape(name),
            number(min.0),
            min.1,
            q(0.1),
            q(0.5),
            q(0.9),
            number(max.0),
            max.1,
            number(mean)
        ));
    }
    out.push_str("</table>\n");
    Html(out)
}

/// Whole numbers grouped, others with one decimal (figures are never negative).
fn number(v: f64) -> String {
    debug_assert!(v >= 0.0, "sweep figures are counts and sizes");
    if v.fract() == 0.0 {
        group_digits(v as u64)
    } else {
        crate::chart::format_value(v, 0.1)
    }
}

fn seed_table(page: &SweepPage) -> Html {
    let mut out = String::from("<h2>Seeds</h2>\n<table><tr><th>seed</th><th>result</th>");
    for name in &page.figures {
        out.push_str(&format!("<th>{}</th>", escape(name)));
    }
    out.push_str("<th>trace digest</th></tr>\n");
    let mut rows: Vec<&SeedRow> = page.rows.iter().collect();
    rows.sort_by_key(|r| (r.failed.is_empty(), r.seed));
    for row in rows {
        let seed = match &row.report {
            Some(href) => format!("<a href=\"{}\">{}</a>", escape(href), row.seed),
            None => row.seed.to_string(),
        };
        let (class, result) = if row.failed.is_empty() {
            ("ok", "ok".to_string())
        } else {
            ("fail", format!("FAIL {}", escape(&row.failed.join("; "))))
        };
        out.push_str(&format!("<tr class=\"{class}\"><td>{seed}</td><td>{result}</td>"));
        for v in &row.values {
            out.push_str(&format!("<td class=\"n\">{}</td>", number(*v)));
        }
        out.push_str(&format!("<td><code>{}</code></td></tr>\n", escape(row.digest.get(..16).unwrap_or(&row.digest))));
    }
    out.push_str("</table>\n");
    Html(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_seeds_first_with_their_reports() {
        let dir = std::env::temp_dir().join(format!("orgsim-sweep-page-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let row = |seed, failed: &[&str], delivered| SeedRow {
            seed,
            failed: failed.iter().map(|s| s.to_string()).collect(),
            digest: format!("{seed:064x}"),
            values: vec![delivered, 0.5],
            report: (!failed.is_empty()).then(|| format!("seed-{seed}/index.html")),
        };
        let page = SweepPage {
            scenario: "s".into(),
            file: "scenarios/s.json".into(),
            plants: vec![],
            command: "orgsim sweep scenarios/s.json --seeds 1..3 --report out".into(),
            figures: vec!["delivered".into(), "p99 s".into()],
            rows: vec![row(1, &[], 1_200.0), row(2, &["no_loss: 1 lost"], 900.0), row(3, &[], 1_500.0)],
            comparison: Some((2, 3, "worst-vs-best/index.html".into())),
            notes: vec![],
        };
        let html = std::fs::read_to_string(write_sweep_page(&page, &dir).unwrap()).unwrap();
        assert!(html.contains("1 of 3 seeds failed a check."));
        assert!(html.contains("<td>delivered</td><td class=\"n\">900 (2)</td><td class=\"n\">900</td><td class=\"n\">1,200</td><td class=\"n\">1,500</td><td class=\"n\">1,500 (3)</td><td class=\"n\">1,200</td>"), "{html}");
        let failing = html.find("<a href=\"seed-2/index.html\">2</a>").unwrap();
        assert!(failing < html.find("<td>1</td>").unwrap(), "failing seeds first");
        assert!(html.contains("href=\"worst-vs-best/index.html\""));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
