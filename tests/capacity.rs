//! The capacity planning scenarios (`scenarios/capacity/`): too big to sweep over seeds
//! in CI or to score planted bugs with, each runs once here through the real CLI, every
//! check must hold, and its outcome summary is a snapshot.

mod common;
use common::*;
use serde_json::Value;

#[test]
fn the_100k_recipient_oab_week_holds_and_its_outcomes_match_the_snapshot() {
    let dir = temp_dir("capacity");
    let trace = dir.join("oab-100k-week.jsonl");
    let out = orgsim(&[
        "run",
        "scenarios/capacity/oab-100k-week.json",
        "--seed",
        "7",
        "--json",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_str(&stdout).expect("--json prints one JSON object");
    let checks = summary["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
    let oab = &summary["oab"]["offline_address_books"][0];
    assert_eq!(oab["runs"].as_array().map(Vec::len), Some(8), "a week of daily generations and the last day's");
    let downloads = &oab["downloads"];
    assert_eq!(downloads["full"], 0, "1 % a day keeps every client on diffs: {downloads}");
    assert!(downloads["wan_bytes"]["HQ-BRANCH"].as_u64().is_some_and(|b| b > 0), "{downloads}");
    let outcomes = reports::outcome_summary(&trace, 5).unwrap();
    insta::assert_snapshot!("outcomes-oab-100k-week", outcomes);
    std::fs::remove_dir_all(&dir).unwrap();
}
