//! End-to-end: mail between two forests through the real CLI (EXCHANGE2003.md §6). One
//! run of Adatum/Fabrikam under each option gives the table of how cross-forest senders
//! show at the receiving side, and what became of their Exch50 blobs.

mod common;

use common::orgsim;
use serde_json::Value;

fn forests(scenario: &str) -> Value {
    let out = orgsim(&["run", &format!("scenarios/{scenario}.json"), "--seed", "7", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).expect("--json prints one JSON object");
    summary["forests"].clone()
}

#[test]
fn each_option_shows_cross_forest_senders_as_exchange_does_exchange2003_6() {
    for (scenario, display, exch50) in [
        ("forests-option1", "resolved_authenticated", "kept"),
        ("forests-option2", "resolved_anonymous", "dropped"),
        ("forests-anonymous", "address_anonymous", "dropped"),
    ] {
        let f = forests(scenario);
        let transferred: u64 = f["transferred"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
        let shown = f["sender_display"].as_object().unwrap();
        assert!(transferred > 20, "{scenario}: {f}");
        assert_eq!(shown.keys().collect::<Vec<_>>(), [display], "{scenario}: every sender the same way: {f}");
        assert_eq!(shown[display].as_u64(), Some(transferred), "{scenario}: one display per hand-off: {f}");
        assert_eq!(f["exch50"][exch50].as_u64(), Some(transferred), "{scenario}: {f}");
        assert_eq!((f["refused"].as_u64(), f["authentication_failures"].as_u64()), (Some(0), Some(0)));
        assert!(f["transferred"]["Adatum → Fabrikam"].as_u64() > Some(0), "{scenario}: both ways: {f}");
        assert!(f["transferred"]["Fabrikam → Adatum"].as_u64() > Some(0), "{scenario}: both ways: {f}");
    }
}
