//! The capacity planning scenarios (`scenarios/capacity/`): too big to sweep over seeds
//! in CI or to score planted bugs with, each runs once here through the real CLI, every
//! check must hold, and its outcome summary is a snapshot.

mod common;
use common::*;
use serde_json::Value;

/// Runs a capacity scenario at seed 7: its `--json` summary (every check held) and the
/// outcome summary of its trace.
fn run(name: &str) -> (Value, String) {
    let dir = temp_dir(&format!("capacity-{name}"));
    let trace = dir.join(format!("{name}.jsonl"));
    let scenario = format!("scenarios/capacity/{name}.json");
    let out = orgsim(&["run", &scenario, "--seed", "7", "--json", "--trace", trace.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_str(&stdout).expect("--json prints one JSON object");
    let checks = summary["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
    let outcomes = reports::outcome_summary(&trace, 5).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (summary, outcomes)
}

#[test]
fn the_100k_recipient_oab_week_holds_and_its_outcomes_match_the_snapshot() {
    let (summary, outcomes) = run("oab-100k-week");
    let oab = &summary["oab"]["offline_address_books"][0];
    assert_eq!(oab["runs"].as_array().map(Vec::len), Some(8), "a week of daily generations and the last day's");
    let downloads = &oab["downloads"];
    assert_eq!(downloads["full"], 0, "1 % a day keeps every client on diffs: {downloads}");
    assert!(downloads["wan_bytes"]["HQ-BRANCH"].as_u64().is_some_and(|b| b > 0), "{downloads}");
    insta::assert_snapshot!("outcomes-oab-100k-week", outcomes);
}

/// The same organization with its SMTP domain renamed on day 3, its OAB on an SP1 server
/// (version 3a: forced full downloads) and on an SP2 server (version 4: a patch, over an
/// eighth, so full files of a quarter the size).
#[test]
fn a_domain_rename_costs_the_branch_link_far_more_from_an_sp1_server() {
    let wan =
        |summary: &Value| summary["oab"]["offline_address_books"][0]["downloads"]["wan_bytes"]["HQ-BRANCH"].as_u64();
    let (sp1, outcomes_sp1) = run("oab-100k-rename-sp1");
    let runs = &sp1["oab"]["offline_address_books"][0]["runs"];
    assert_eq!(runs[3]["legacy"]["kind"], "forced_full", "{runs}");
    let by_version = &sp1["oab"]["offline_address_books"][0]["downloads"]["by_version"];
    assert_eq!(by_version["v3a"]["full"], 2200, "every client takes the forced full set once: {by_version}");
    insta::assert_snapshot!("outcomes-oab-100k-rename-sp1", outcomes_sp1);
    let (sp2, outcomes_sp2) = run("oab-100k-rename-sp2");
    let runs = &sp2["oab"]["offline_address_books"][0]["runs"];
    assert!(runs[3]["v4_patch_bytes"].as_u64().is_some(), "version 4 always has its patch: {runs}");
    insta::assert_snapshot!("outcomes-oab-100k-rename-sp2", outcomes_sp2);
    let (sp1, sp2) = (wan(&sp1).unwrap(), wan(&sp2).unwrap());
    assert!(sp1 > 3 * sp2, "HQ-BRANCH bytes: SP1 {sp1}, SP2 {sp2}");
}
