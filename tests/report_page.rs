//! The HTML report as a user sees it: the page of two scenarios opened in headless
//! Chromium (Debian's `chromium` package; `.ci/run` installs it) — no script or console
//! error, every chart laid out with a non-zero size, the timeline and the story present —
//! and snapshots of the structure of every chart (its caption, size, element counts and
//! every text it shows: ticks, legend, marks), not of its pixels.

mod common;

use common::{orgsim, temp_dir};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Runs a scenario with `--report` into a fresh directory; returns the page's text.
fn report(name: &str, seed: &str, dir: &Path) -> String {
    let scenario = format!("scenarios/{name}.json");
    let out = orgsim(&["run", &scenario, "--seed", seed, "--report", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(dir.join("index.html")).unwrap()
}

/// Each chart of a page: caption, then the SVG's size, its element counts and its texts.
fn structure(html: &str) -> String {
    let mut out = String::new();
    for figure in html.split("<figure>").skip(1) {
        let figure = &figure[..figure.find("</figure>").expect("figures close")];
        let caption = between(figure, "<figcaption>", "</figcaption>").unwrap_or("");
        out.push_str(&format!("## {caption}\n"));
        let Some(svg) = between(figure, "<svg", "</svg>") else {
            out.push_str(&format!("  no chart: {}\n", between(figure, "<p class=\"empty\">", "</p>").unwrap_or("?")));
            continue;
        };
        let size = between(svg, "viewBox=\"", "\"").unwrap_or("?");
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for tag in svg.split('<').skip(1).filter(|t| !t.starts_with('/')) {
            let name = tag.split(|c: char| c.is_whitespace() || c == '>' || c == '/').next().unwrap_or("");
            *counts.entry(name).or_default() += 1;
        }
        let counts: Vec<String> = counts.iter().map(|(t, n)| format!("{t}×{n}")).collect();
        out.push_str(&format!("  viewBox {size}: {}\n", counts.join(" ")));
        let texts: Vec<&str> = svg
            .split("</text>")
            .filter_map(|t| t.rsplit('>').next())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        out.push_str(&format!("  texts: {}\n", texts.join(" | ")));
    }
    out
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let to = text[from..].find(end)? + from;
    Some(&text[from..to])
}

#[test]
fn chart_structure_snapshots() {
    for (name, seed) in [("hub-and-spoke", "7"), ("replication-storm", "1"), ("pf-replication-storm", "1")] {
        let dir = temp_dir(&format!("structure-{name}"));
        let html = report(name, seed, &dir);
        insta::assert_snapshot!(format!("report-structure-{name}"), structure(&html));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Checks the page once laid out, from inside it: every SVG's size, script errors, the
/// timeline heading. Appended to a copy of the page, which itself holds no script.
const PROBE: &str = r#"<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push(String(e.message)));
window.addEventListener('load', () => {
  const svgs = [...document.querySelectorAll('svg')];
  const flat = svgs.filter(s => { const r = s.getBoundingClientRect(); return !(r.width > 0 && r.height > 0); });
  const headings = [...document.querySelectorAll('h2')].map(h => h.textContent);
  const result = { svgs: svgs.length, flat: flat.length, errors: window.__errors, headings };
  const pre = document.createElement('pre');
  pre.id = 'orgsim-probe';
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});
</script>"#;

#[test]
fn the_page_renders_in_a_browser() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok_and(|o| o.status.success()));
    let Some(chromium) = chromium else {
        panic!("this test opens the report in headless Chromium: install Debian's `chromium` package (`.ci/run` does)");
    };
    for (name, seed) in [("hub-and-spoke", "7"), ("replication-storm", "1"), ("pf-replication-storm", "1")] {
        let dir = temp_dir(&format!("browser-{name}"));
        let html = report(name, seed, &dir);
        let probe = dir.join("probe.html");
        std::fs::write(&probe, html.replace("</body>", &format!("{PROBE}</body>"))).unwrap();
        let out = Command::new(chromium)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"])
            .args(["--virtual-time-budget=10000", "--window-size=1200,900", "--dump-dom"])
            .arg(format!("file://{}", probe.display()))
            .output()
            .expect("chromium runs");
        let dom = String::from_utf8_lossy(&out.stdout);
        let log = String::from_utf8_lossy(&out.stderr);
        let result = between(&dom, "<pre id=\"orgsim-probe\">", "</pre>")
            .unwrap_or_else(|| panic!("{name}: the probe did not run:\n{log}"));
        let result: serde_json::Value = serde_json::from_str(&result.replace("&quot;", "\"")).unwrap();
        assert!(result["svgs"].as_u64().unwrap() >= 3, "{name}: charts on the page: {result}");
        assert_eq!(result["flat"], 0, "{name}: every chart has a size: {result}");
        assert_eq!(result["errors"], serde_json::json!([]), "{name}: no script error: {result}");
        let headings = result["headings"].to_string();
        for heading in ["Messages", "Checks", "Timeline", "Over time", "Capacity"] {
            assert!(headings.contains(heading), "{name}: {heading} missing from {headings}");
        }
        let console_errors: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE") && l.contains("ERROR")).collect();
        assert!(console_errors.is_empty(), "{name}: console errors: {console_errors:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
