//! End-to-end: every scenario through the real CLI, with snapshots of what happened to
//! each message, the whole trace of `single-server`, the report, and the exit codes.

mod common;

use common::{orgsim, relative, scenarios, temp_dir};
use serde_json::Value;

#[test]
fn every_scenario_passes_and_its_outcomes_match_the_snapshot() {
    let dir = temp_dir("scenarios");
    for scenario in scenarios() {
        let name = scenario.file_stem().unwrap().to_string_lossy().to_string();
        let trace = dir.join(format!("{name}.jsonl"));
        let out = orgsim(&["run", &relative(&scenario), "--seed", "7", "--json", "--trace", trace.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{name}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        let summary: Value = serde_json::from_str(&stdout).expect("--json prints one JSON object");
        for field in ["scenario", "seed", "sim_seconds", "events", "trace_sha256", "messages", "store", "checks"] {
            assert!(summary.get(field).is_some(), "{name}: --json lacks {field}");
        }
        for field in ["submitted", "delivered", "ndr", "queued"] {
            assert!(summary["messages"].get(field).is_some(), "{name}: messages lacks {field}");
        }
        for field in ["updates", "bytes"] {
            assert!(summary["link_state"][field].is_u64(), "{name}: link_state lacks {field}");
        }
        let checks = summary["checks"].as_array().unwrap();
        assert!(checks.len() >= 4, "{name}: invariants and at least one expectation");
        assert!(checks.iter().all(|c| c["ok"] == true), "{name}: {checks:?}");
        let lines = std::fs::read_to_string(&trace).unwrap().lines().count() as u64;
        assert_eq!(summary["events"].as_u64(), Some(lines), "{name}: every event is a trace line");
        let outcomes = reports::outcome_summary(&trace, 20).unwrap();
        insta::assert_snapshot!(format!("outcomes-{name}"), outcomes);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// EXCHANGE2003.md §7: a storage group that lost its logs loses exactly what came after
/// its last backup, and `no_loss` says so; the other, restored with its logs, nothing.
#[test]
fn a_restore_without_the_later_logs_names_the_loss() {
    let out = orgsim(&["run", "scenarios/restore-rsg-merge.json", "--seed", "7", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let checks = summary["checks"].as_array().unwrap();
    let no_loss = checks.iter().find(|c| c["name"] == "no_loss").unwrap();
    let detail = no_loss["detail"].as_str().unwrap();
    let window = "copies delivered to First Storage Group on EX01 between its backup at 23h5ms and the loss of its logs at 1d10h5ms lost, as asked";
    assert!(no_loss["ok"] == true && detail.contains(window), "{detail}");
    assert!(!detail.contains("on EX02"), "EX02's logs survived: nothing of it is lost: {detail}");
}

#[test]
fn single_server_full_trace_snapshot() {
    let dir = temp_dir("single-trace");
    let trace = dir.join("trace.jsonl");
    let out = orgsim(&["run", "scenarios/single-server.json", "--seed", "7", "--trace", trace.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    insta::assert_snapshot!("trace-single-server-seed-7", std::fs::read_to_string(&trace).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn report_is_written_from_the_trace() {
    let dir = temp_dir("report");
    let out = orgsim(&["run", "scenarios/link-down-reroute.json", "--seed", "3", "--report", dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("link-down-reroute (seed 3)"), "human summary: {stdout}");
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("no_loss"), "self-contained page with charts and checks");
    assert!(!html.contains("<script") && !html.contains("src=\"http"), "nothing loaded from elsewhere");
    assert!(html.contains("<h2>Timeline</h2>") && html.contains("link_down"), "the timeline is told");
    assert!(html.contains("All 27 checks held."), "the verdict comes first");
    for chart in [
        "latency.svg",
        "wan-site-a-site-b.svg",
        "queue-ex-a-rgc-rg-a-to-rg-b.svg",
        "link-state-messages.svg",
        "incident-1-site-a-site-b-throughput.svg",
    ] {
        let svg = std::fs::read_to_string(dir.join("charts").join(chart)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<polyline"), "{chart} has data lines");
    }
    assert!(dir.join("trace.jsonl").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failing_check_exits_1_and_prints_the_reproduction() {
    let dir = temp_dir("failing");
    let text = std::fs::read_to_string(common::root().join("scenarios/no-path-queue.json")).unwrap();
    let mut scenario: Value = serde_json::from_str(&text).unwrap();
    // Demand the impossible: delivery before the link comes back (the clients stop
    // before the deadline, as an `all_resolved_by` needs).
    scenario["workload"]["until"] = serde_json::json!("10h30m");
    scenario["checks"]["expect"] = serde_json::json!([{"kind": "all_resolved_by", "at": "11h"}]);
    let file = dir.join("impossible.json");
    std::fs::write(&file, serde_json::to_string_pretty(&scenario).unwrap()).unwrap();
    let out = orgsim(&["run", file.to_str().unwrap(), "--seed", "5"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL  all_resolved_by 11h"), "{stdout}");
    assert!(stdout.contains(&format!("reproduce with: orgsim run {} --seed 5", file.display())), "{stdout}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn validate_and_schema() {
    for scenario in scenarios() {
        let out = orgsim(&["validate", &relative(&scenario)]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains(": ok ("));
    }
    let out = orgsim(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let schema: Value = serde_json::from_slice(&out.stdout).expect("the schema is JSON");
    assert_eq!(schema["title"], "Scenario");
    let required: Vec<&str> = schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    for field in ["name", "description", "duration", "topology", "recipients"] {
        assert!(required.contains(&field), "{field} is required");
    }
    assert_eq!(schema["additionalProperties"], false, "unknown fields are denied");
    let docs = std::fs::read_to_string(common::root().join("docs/scenario.schema.json")).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&docs).unwrap(),
        schema,
        "docs/scenario.schema.json is stale: regenerate it with `orgsim schema > docs/scenario.schema.json`"
    );
}

/// Runs an edited copy of a scenario; returns (exit code, parsed --json, trace text).
fn run_edited(scenario: &str, name: &str, edit: impl FnOnce(&mut Value)) -> (Option<i32>, Value, String) {
    let dir = temp_dir(name);
    let text = std::fs::read_to_string(common::root().join("scenarios").join(scenario)).unwrap();
    let mut value: Value = serde_json::from_str(&text).unwrap();
    edit(&mut value);
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, serde_json::to_string_pretty(&value).unwrap()).unwrap();
    let trace = dir.join("trace.jsonl");
    let out = orgsim(&["run", file.to_str().unwrap(), "--seed", "2", "--json", "--trace", trace.to_str().unwrap()]);
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let trace = std::fs::read_to_string(&trace).unwrap_or_default();
    std::fs::remove_dir_all(&dir).unwrap();
    (out.status.code(), summary, trace)
}

#[test]
fn connector_down_reroutes_like_a_link_down() {
    let (code, summary, trace) = run_edited("link-down-reroute.json", "connector-down", |s| {
        s["timeline"] = serde_json::json!([
            {"kind": "connector_down", "at": "10h", "connector": "RGC RG A to RG B"},
            {"kind": "connector_up", "at": "13h", "connector": "RGC RG A to RG B"}
        ]);
    });
    assert_eq!(code, Some(0), "{summary}");
    let changes: Vec<&str> = trace.lines().filter(|l| l.contains("\"event\":\"connector_state\"")).collect();
    assert_eq!(changes.len(), 2, "down then up, once each: {changes:?}");
    assert!(changes[0].contains("\"state\":\"down\"") && changes[1].contains("\"state\":\"up\""));
}

#[test]
fn an_oscillating_link_loses_nothing() {
    let (code, summary, trace) = run_edited("no-path-queue.json", "oscillate", |s| {
        s["timeline"] = serde_json::json!([
            {"kind": "link_oscillate", "at": "10h", "link": "SITE-A-SITE-B", "period": "20m", "duration": "3h"}
        ]);
        s["checks"]["expect"] = serde_json::json!([
            {"kind": "all_resolved_by", "at": "17h"},
            {"kind": "unreachable_at_least", "count": 1, "from": "10h", "until": "13h"}
        ]);
    });
    assert_eq!(code, Some(0), "{summary}");
    let flips = trace.lines().filter(|l| l.contains("\"event\":\"link_state\"")).count();
    assert_eq!(flips, 18, "nine down/up cycles of 20 minutes in 3 hours");
    assert_eq!(summary["messages"]["queued"], 0);
}

#[test]
fn routes_shows_each_table_and_its_routes() {
    // Before the new master: EX-A1 is down, EX-A2's report went nowhere, every table
    // still says the A-B connector is up (which the listing flags as not known yet).
    let out = orgsim(&["routes", "scenarios/master-crash.json", "--seed", "1", "--at", "10h50m"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    insta::assert_snapshot!("routes-master-crash-10h50m", String::from_utf8_lossy(&out.stdout));
    // Once EX-A2 is master (an action at exactly 11h counts): round through RG C.
    let out = orgsim(&["routes", "scenarios/master-crash.json", "--at", "11h", "--server", "EX-A2"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    insta::assert_snapshot!("routes-master-crash-11h-ex-a2", String::from_utf8_lossy(&out.stdout));
    // Mid-outage in the mesh, from an Exchange 2000 server.
    let out = orgsim(&["routes", "scenarios/mesh-20.json", "--at", "10h20m", "--server", "EX12"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    insta::assert_snapshot!("routes-mesh-20-10h20m-ex12", String::from_utf8_lossy(&out.stdout));
    // Address spaces: `*.edu` in the branch wins over `*` at HQ for .edu mail; the
    // X.400 space on a DNS connector is flagged as the 4.4.9 it produces.
    let out = orgsim(&["routes", "scenarios/internet-dns.json", "--at", "10h30m"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    insta::assert_snapshot!("routes-internet-dns-10h30m", String::from_utf8_lossy(&out.stdout));
    let out = orgsim(&["routes", "scenarios/internet-smarthost.json", "--at", "10h30m", "--server", "EX-HQ2"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    insta::assert_snapshot!("routes-internet-smarthost-10h30m-ex-hq2", String::from_utf8_lossy(&out.stdout));
    for (args, expected) in [
        (&["--at", "30h"][..], "is after the end of"),
        (&["--at", "1h", "--server", "EX-Z9"][..], "no such server"),
        (&["--at", "soon"][..], "expected a duration"),
    ] {
        let mut all = vec!["routes", "scenarios/master-crash.json"];
        all.extend_from_slice(args);
        let out = orgsim(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(expected), "{args:?}");
    }
}

#[test]
fn repadmin_shows_each_dc_mid_storm() {
    // 20 minutes into the storm: HQ and EU are done, ASIA has not pulled yet.
    let out = orgsim(&["repadmin", "scenarios/replication-storm.json", "--at", "9h20m"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    insta::assert_snapshot!("repadmin-replication-storm-9h20m", String::from_utf8_lossy(&out.stdout));
    // The converged directory at the end of the run: every DC agrees and holds the
    // winning writes, after the storm and after the partition heals.
    for (scenario, name) in [
        ("replication-storm", "repadmin-replication-storm-converged"),
        ("site-partition", "repadmin-site-partition-converged"),
    ] {
        let out = orgsim(&["repadmin", &format!("scenarios/{scenario}.json"), "--at", "16h"]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("every replica holds every attribute's winning write"), "{text}");
        insta::assert_snapshot!(name, text);
    }
    let out = orgsim(&["repadmin", "scenarios/replication-storm.json", "--at", "10h", "--dc", "dc-asia1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("every replica holds every attribute's winning write"), "{text}");
    assert!(text.contains("DC-ASIA1") && !text.contains("DC-EU2  site"), "{text}");
    // A two-domain forest: each GC's partial replica of the other domain, with its own
    // connection, once the link is back and the new EMEA user has replicated to HQ.
    let out = orgsim(&["repadmin", "scenarios/two-domain-forest.json", "--at", "1h45m"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("DC-HQ/emea.contoso.com  partial replica of emea.contoso.com"), "{text}");
    insta::assert_snapshot!("repadmin-two-domain-forest-1h45m", text);
    // A scheduled site link: the store has not pulled since 06:00.
    let out = orgsim(&["repadmin", "scenarios/night-replication.json", "--at", "19h"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("open 20:00-06:00 UTC") && text.contains("(behind)"), "{text}");
    for (args, expected) in [
        (&["scenarios/replication-storm.json", "--at", "17h"][..], "is after the end of"),
        (&["scenarios/replication-storm.json", "--at", "1h", "--dc", "DC-NOPE"][..], "no such domain controller"),
        (&["scenarios/hub-and-spoke.json", "--at", "1h"][..], "does not simulate the directory"),
    ] {
        let mut all = vec!["repadmin"];
        all.extend_from_slice(args);
        let out = orgsim(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(expected), "{args:?}");
    }
}

/// A site link schedule is a weekly grid on the scenario's calendar: open only at the
/// weekend, the Monday start's changes wait (and the scenario's 21:00 mail is NDR'd), and
/// repadmin shows the grid by day. A window past midnight on Saturday runs into Sunday.
#[test]
fn a_weekend_only_site_link_holds_replication_through_monday() {
    let dir = temp_dir("weekly-schedule");
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string("scenarios/night-replication.json").unwrap()).unwrap();
    let write = |doc: &Value, name: &str| {
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_string_pretty(doc).unwrap()).unwrap();
        path.display().to_string()
    };
    let schedule = &mut doc["topology"]["ad_replication"]["site_links"][0]["schedule"];
    *schedule = serde_json::json!([
        {"from": "00:00", "until": "24:00", "days": ["saturday"]},
        {"from": "22:00", "until": "02:00", "days": ["sunday"]}
    ]);
    let weekend = write(&doc, "weekend.json");
    let out = orgsim(&["repadmin", &weekend, "--at", "23h"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("open Sun 22:00-24:00, Mon 00:00-02:00, Sat 00:00-24:00 UTC"), "{text}");
    assert!(text.contains("(behind)"), "nothing pulled on Monday:\n{text}");
    let out = orgsim(&["check", &weekend, "--seed", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("directory_converges"));
    // Bad days are named with their place.
    doc["topology"]["ad_replication"]["site_links"][0]["schedule"] = serde_json::json!([{"from": "20:00", "until": "06:00", "days": []}, {"from": "20:00", "until": "06:00", "days": ["mon"]}]);
    let bad = write(&doc, "bad.json");
    let out = orgsim(&["validate", &bad]);
    assert_eq!(out.status.code(), Some(2));
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(errors.contains("schedule[0].days: expected at least one day"), "{errors}");
    assert!(errors.contains("schedule[1].days[0]: expected one of") && errors.contains("\"monday\"?"), "{errors}");
}
