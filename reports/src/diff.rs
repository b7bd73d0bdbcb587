//! `orgsim diff`: where two traces of the same scenario part ways. Reports the first
//! record that differs (the header records are compared apart, since a different seed or
//! version is expected there), a few records of context from each, and per event kind
//! how many records after the divergence appear in only one of the two traces.

use crate::ReportError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Context records shown before and after the divergence.
const CONTEXT: usize = 3;

/// The result of comparing two traces.
#[derive(Debug, PartialEq, Eq)]
pub struct TraceDiff {
    /// Header fields that differ (seed, version, scenario …), as `field: a | b`.
    pub header: Vec<String>,
    /// 1-based record number of the first differing record (after the header), if any.
    pub first: Option<usize>,
    /// The text report.
    pub text: String,
}

fn read_lines(path: &Path) -> Result<Vec<String>, ReportError> {
    let file = std::fs::File::open(path).map_err(|e| ReportError::Io(path.to_path_buf(), e))?;
    let lines: Vec<String> =
        BufReader::new(file).lines().collect::<Result<_, _>>().map_err(|e| ReportError::Io(path.to_path_buf(), e))?;
    let header_ok = lines
        .first()
        .and_then(|l| serde_json::from_str::<Value>(l).ok())
        .is_some_and(|v| v.get("event").and_then(Value::as_str) == Some("run"));
    if !header_ok {
        return Err(ReportError::Trace {
            file: path.to_path_buf(),
            line: 1,
            message: "expected an orgsim trace: the first record is the \"run\" header".into(),
        });
    }
    Ok(lines)
}

fn kind(line: &str) -> String {
    serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| v.get("event").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "(not JSON)".into())
}

/// Compares two trace files.
pub fn diff_traces(a: &Path, b: &Path) -> Result<TraceDiff, ReportError> {
    let (la, lb) = (read_lines(a)?, read_lines(b)?);
    let (ha, hb): (Value, Value) = (
        serde_json::from_str(&la[0]).expect("checked in read_lines"),
        serde_json::from_str(&lb[0]).expect("checked in read_lines"),
    );
    let mut header = Vec::new();
    for field in ["orgsim_version", "trace_format", "seed", "file", "scenario"] {
        if ha.get(field) != hb.get(field) {
            let show = |v: &Value| match v.get(field) {
                Some(Value::Object(_)) => "{…}".to_string(),
                Some(x) => x.to_string(),
                None => "(none)".to_string(),
            };
            header.push(format!("{field}: {} | {}", show(&ha), show(&hb)));
        }
    }
    let mut text = String::new();
    if !header.is_empty() {
        text.push_str("the runs differ in their headers:\n");
        for h in &header {
            text.push_str(&format!("  {h}\n"));
        }
    }
    let first = (1..la.len().max(lb.len())).find(|&i| la.get(i) != lb.get(i));
    let Some(i) = first else {
        text.push_str(&format!("the traces are identical after the header ({} records)\n", la.len()));
        return Ok(TraceDiff { header, first: None, text });
    };
    text.push_str(&format!("first divergence at record {} (line {}):\n", i, i + 1));
    text.push_str("  common context:\n");
    for line in &la[i.saturating_sub(CONTEXT).max(1)..i] {
        text.push_str(&format!("    {line}\n"));
    }
    for (name, lines, path) in [("A", &la, a), ("B", &lb, b)] {
        text.push_str(&format!("  {name} ({}):\n", path.display()));
        let shown = &lines[i.min(lines.len())..(i + CONTEXT).min(lines.len())];
        if shown.is_empty() {
            text.push_str("    (trace ends)\n");
        }
        for line in shown {
            text.push_str(&format!("    {line}\n"));
        }
    }
    // Records after the divergence as multisets: what only one side has, per kind.
    let mut balance: BTreeMap<&str, i64> = BTreeMap::new();
    for line in &la[i.min(la.len())..] {
        *balance.entry(line).or_default() += 1;
    }
    for line in &lb[i.min(lb.len())..] {
        *balance.entry(line).or_default() -= 1;
    }
    let mut per_kind: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (line, n) in balance {
        let entry = per_kind.entry(kind(line)).or_default();
        if n > 0 {
            entry.0 += n as u64;
        } else if n < 0 {
            entry.1 += (-n) as u64;
        }
    }
    per_kind.retain(|_, (x, y)| *x > 0 || *y > 0);
    text.push_str("records after the divergence found in only one trace, by event:\n");
    text.push_str(&format!("  {:<22} {:>9} {:>9}\n", "event", "only A", "only B"));
    for (kind, (only_a, only_b)) in &per_kind {
        text.push_str(&format!("  {kind:<22} {only_a:>9} {only_b:>9}\n"));
    }
    Ok(TraceDiff { header, first: Some(i), text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_divergence_and_counts_kinds() {
        let dir = std::env::temp_dir().join(format!("orgsim-diff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let header = |seed: u32| format!(r#"{{"t_ms":0,"node":"orgsim","event":"run","seed":{seed}}}"#);
        let e = |t: u32, ev: &str| format!(r#"{{"t_ms":{t},"node":"EX1","event":"{ev}"}}"#);
        let a = [header(1), e(1, "submitted"), e(2, "queued"), e(3, "delivered"), e(4, "delivered")].join("\n");
        let b = [header(2), e(1, "submitted"), e(2, "queued"), e(5, "ndr")].join("\n");
        std::fs::write(dir.join("a"), a).unwrap();
        std::fs::write(dir.join("b"), b).unwrap();
        let d = diff_traces(&dir.join("a"), &dir.join("b")).unwrap();
        assert_eq!(d.header, vec!["seed: 1 | 2"]);
        assert_eq!(d.first, Some(3));
        assert!(d.text.contains("  delivered                      2         0\n"), "{}", d.text);
        assert!(d.text.contains("  ndr                            0         1\n"), "{}", d.text);
        let same = diff_traces(&dir.join("a"), &dir.join("a")).unwrap();
        assert_eq!(same.first, None);
        std::fs::write(dir.join("c"), "not a trace").unwrap();
        assert!(diff_traces(&dir.join("a"), &dir.join("c")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
