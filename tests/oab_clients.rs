//! Cached-mode OAB clients through the real CLI where the shipped scenarios do not go: a
//! download cut by a WAN link failure is lost (traced, counted), never applied, and the
//! client takes the file again later — while every download that arrives still
//! rebuilds the server's file.

mod common;
use common::*;
use serde_json::Value;

#[test]
fn a_download_cut_by_a_link_failure_is_lost_and_taken_again() {
    let base = std::fs::read_to_string(root().join("scenarios/oab-branch-clients.json")).unwrap();
    let mut scenario: Value = serde_json::from_str(&base).unwrap();
    // A bigger address book with no file before the run, branch clients only, a 64 kbit/s
    // link that goes down and up every two minutes for most of two days: full downloads
    // of tens of KB take seconds, so flips catch some in flight.
    scenario["name"] = "oab-lost-downloads".into();
    scenario["recipients"]["generated"][0]["count"] = 5_000.into();
    scenario["recipients"]["generated"][0]["attributes"] = serde_json::json!({"title": ["Engineer", "Analyst", "Manager"], "department": ["Sales", "IT", "Legal", "Research"]});
    scenario["topology"]["wan_links"][0]["bandwidth"] = "64kbps".into();
    let oab = &mut scenario["offline_address_books"][0];
    oab["generated_before_start"] = false.into();
    oab["clients"] = serde_json::json!([{"server": "EX-BR", "count": 300}]);
    scenario["timeline"] = serde_json::json!([{"kind": "link_oscillate", "at": "5h", "link": "HQ-BRANCH", "period": "4m", "duration": "1d19h"}]);
    scenario["checks"]["expect"] = serde_json::json!([]);
    let dir = temp_dir("oab-lost");
    let file = dir.join("oab-lost-downloads.json");
    std::fs::write(&file, serde_json::to_string_pretty(&scenario).unwrap()).unwrap();
    let out = orgsim(&["run", file.to_str().unwrap(), "--seed", "3", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    let checks = summary["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
    let downloads = &summary["oab"]["offline_address_books"][0]["downloads"];
    let lost = downloads["lost"].as_u64().unwrap();
    assert!(lost > 0, "flips every two minutes catch some downloads in flight: {downloads}");
    let full = downloads["full"].as_u64().unwrap();
    assert!(full >= 300, "every client gets its first full file in the end, lost ones later: {downloads}");
    std::fs::remove_dir_all(&dir).unwrap();
}
