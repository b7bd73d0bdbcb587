//! Bad scenario files and arguments: a clear `FILE:LINE:COL: PATH: message`, exit 2,
//! and nothing written.

mod common;

use common::{orgsim, root, temp_dir};

/// Runs `orgsim run` on a broken copy of `hub-and-spoke.json`; returns stderr.
fn broken(name: &str, edit: impl FnOnce(&str) -> String) -> String {
    broken_copy("hub-and-spoke", name, edit)
}

/// Runs `orgsim run` on a broken copy of `scenarios/<base>.json`; returns stderr.
fn broken_copy(base: &str, name: &str, edit: impl FnOnce(&str) -> String) -> String {
    let original = std::fs::read_to_string(root().join(format!("scenarios/{base}.json"))).unwrap();
    let text = edit(&original);
    assert_ne!(text, original, "{name}: the edit must change the file");
    let dir = temp_dir(&format!("err-{name}"));
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, text).unwrap();
    let report = dir.join("out");
    let out = orgsim(&["run", file.to_str().unwrap(), "--report", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{name}: {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty(), "{name}: nothing on stdout");
    assert!(!report.exists(), "{name}: nothing written on bad input");
    let stderr = String::from_utf8(out.stderr).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    // Paths differ between machines; keep the file name.
    stderr.replace(&format!("{}/", dir.display()), "")
}

#[test]
fn unknown_server_in_a_connector() {
    let err = broken("unknown-bridgehead", |t| {
        t.replacen(
            "\"target_bridgeheads\": [\n          \"EX-S1\"",
            "\"target_bridgeheads\": [\n          \"EX-S9\"",
            1,
        )
    });
    insta::assert_snapshot!(err, @r#"unknown-bridgehead.json:175:11: topology.routing_group_connectors[0].target_bridgeheads[0]: no server named "EX-S9" (known: EX-HUB, EX-S1, EX-S2, EX-S3, EX-S4)"#);
}

#[test]
fn cost_zero() {
    let err = broken("cost-zero", |t| t.replacen("\"cost\": 10", "\"cost\": 0", 1));
    insta::assert_snapshot!(err, @"cost-zero.json:170:17: topology.routing_group_connectors[0].cost: expected a cost from 1 to 100, found 0");
}

#[test]
fn duplicate_names() {
    let err = broken("duplicate", |t| t.replacen("\"name\": \"EX-S2\"", "\"name\": \"EX-S1\"", 1));
    assert!(
        err.starts_with("duplicate.json:")
            && err
                .contains(": topology.servers[2].name: duplicate server name \"EX-S1\" (first at topology.servers[1])"),
        "{err}"
    );
}

#[test]
fn bad_json() {
    let err = broken("bad-json", |t| t.replacen("\"duration\": \"1d\",", "\"duration\": \"1d\"", 1));
    insta::assert_snapshot!(err, @"bad-json.json:5:3: (root): expected `,` or `}`");
}

#[test]
fn unknown_field_and_bad_units() {
    let err =
        broken("unknown-field", |t| t.replacen("\"duration\": \"1d\",", "\"duration\": \"1d\", \"colour\": 3,", 1));
    assert!(err.starts_with("unknown-field.json:4:"), "{err}");
    assert!(err.contains(": unknown field `colour`, expected one of"), "{err}");
    let err = broken("bad-duration", |t| t.replacen("\"duration\": \"1d\"", "\"duration\": \"1 day\"", 1));
    insta::assert_snapshot!(err, @r#"bad-duration.json:4:15: duration: expected a duration like "90s", "15m", "2h" or "1d4h", found "1 day""#);
}

#[test]
fn timeline_names_and_order_are_checked() {
    let err = broken("timeline", |t| {
        t.replacen("\"workload\": {", "\"timeline\": [{\"kind\": \"server_restart\", \"at\": \"2h\", \"server\": \"EX-S1\"}, {\"kind\": \"link_down\", \"at\": \"3h\", \"link\": \"NOPE\"}],\n  \"workload\": {", 1)
    });
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "every problem is reported, in the order of the file: {err}");
    assert!(
        lines[0].contains("timeline[0]: server \"EX-S1\" is not down at 2h; restart follows a server_crash"),
        "{err}"
    );
    assert!(lines[1].contains("timeline[1].link: no WAN link named \"NOPE\""), "{err}");
}

/// Issue 13: five typos of five kinds — a malformed required duration, an unknown field, a
/// misspelled required field, a cost out of range and a name that does not exist — are
/// five lines, in the order of the file, each with its place and what was expected.
#[test]
fn five_typos_are_five_lines() {
    let err = broken("five-typos", |t| {
        t.replacen("\"duration\": \"1d\"", "\"duration\": \"1 day\"", 1)
            .replacen("\"name\": \"EX-S2\"", "\"name\": \"EX-S2\", \"colour\": \"blue\"", 1)
            .replacen("\"cost\": 10", "\"cost\": 0", 1)
            .replacen(
                "\"target_bridgeheads\": [\n          \"EX-S1\"",
                "\"target_bridgeheads\": [\n          \"EX-S9\"",
                1,
            )
            .replacen("\"latency\": \"", "\"latncy\": \"", 1)
    });
    insta::assert_snapshot!(err, @r#"
    five-typos.json:4:15: duration: expected a duration like "90s", "15m", "2h" or "1d4h", found "1 day"
    five-typos.json:120:36: topology.servers[2].colour: unknown field `colour`, expected one of `badmail`, `disk_flush`, `edition`, `exch50_auth_check_enabled`, `inbound_virtual_servers`, `ip`, `journal_bcc`, `mta`, `name`, `recovery_sg_override`, `recovery_storage_group`, `roles`, `routing_group`, `site`, `smtp_virtual_server`, `storage_groups`, `version`
    five-typos.json:170:17: topology.routing_group_connectors[0].cost: expected a cost from 1 to 100, found 0
    five-typos.json:175:11: topology.routing_group_connectors[0].target_bridgeheads[0]: no server named "EX-S9" (known: EX-HUB, EX-S1, EX-S2, EX-S3, EX-S4)
    five-typos.json:295:19: topology.wan_links[0].latncy: unknown field `latncy` (did you mean `latency`?), expected one of `bandwidth`, `latency`, `name`, `sites`
    "#);
}

/// Windows names ignore case: two servers that differ only by case are one name twice,
/// and a reference in another case finds its object.
#[test]
fn names_differing_only_by_case_are_duplicates() {
    let err = broken("case", |t| t.replacen("\"name\": \"EX-S2\"", "\"name\": \"ex-s1\"", 1));
    assert!(
        err.contains(": topology.servers[2].name: duplicate server name \"ex-s1\" (first at topology.servers[1] \"EX-S1\"; Windows names ignore case)"),
        "{err}"
    );
    let dir = temp_dir("case-reference");
    let original = std::fs::read_to_string(root().join("scenarios/hub-and-spoke.json")).unwrap();
    let text = original.replacen(
        "\"target_bridgeheads\": [\n          \"EX-S1\"",
        "\"target_bridgeheads\": [\n          \"ex-s1\"",
        1,
    );
    assert_ne!(text, original);
    let file = dir.join("case.json");
    std::fs::write(&file, text).unwrap();
    let out = orgsim(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 13: what a run may ask is bounded, in the schema and the README: a run of at
/// most 400 days, messages of at most 1 GB wherever a size is given, links flapping no
/// faster than every 2 s and weather drawing at most a million steps.
#[test]
fn runs_sizes_and_fault_rates_are_bounded() {
    let storm = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        broken_copy("stormy-weather", name, |t| {
            let mut v: serde_json::Value = serde_json::from_str(t).unwrap();
            edit(&mut v);
            serde_json::to_string_pretty(&v).unwrap()
        })
    };
    let err = storm("long", &|v| v["duration"] = "213503982334d".into());
    assert!(err.contains(": duration: expected a run length above 0s and at most 400d"), "{err}");
    let err =
        storm("big-mix", &|v| v["workload"]["size_mix"] = serde_json::json!([{"size_kb": 4000000000u64, "weight": 1}]));
    assert!(
        err.contains(": workload.size_mix[0].size_kb: expected an integer from 1 to 1048576, found 4000000000"),
        "{err}"
    );
    let err = storm("fast-flap", &|v| v["weather"]["link_oscillations"]["period"] = serde_json::json!(["2ms", "10m"]));
    assert!(
        err.contains(": weather.link_oscillations.period: expected [shortest, longest] with 2s <= shortest"),
        "{err}"
    );
    let err = storm("many-flaps", &|v| {
        v["weather"]["link_oscillations"] =
            serde_json::json!({"per_day": 10000, "period": ["2s", "2s"], "length": ["1h", "8h"]})
    });
    assert!(err.contains(": weather.link_oscillations.period: this weather would draw about"), "{err}");
    let err = storm(
        "flap-step",
        &|v| v["timeline"] = serde_json::json!([{"kind": "link_oscillate", "at": "1h", "link": "HUB-NORTH", "period": "1s", "duration": "1h"}]),
    );
    assert!(err.contains(": timeline[0].period: expected a period of at least 2s"), "{err}");
}

/// Issue 13: `--at 0` is the start (zero needs no unit), a report directory that is a
/// file is named as such, and `score --help` lists the planted bugs `--plant` takes.
#[test]
fn small_argument_defects() {
    let out = orgsim(&["routes", "scenarios/hub-and-spoke.json", "--at", "0", "--server", "ex-hub"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("EX-HUB"), "a name in any case finds its server");
    let dir = temp_dir("report-file");
    let file = dir.join("afile");
    std::fs::write(&file, "").unwrap();
    let out = orgsim(&["run", "scenarios/single-server.json", "--report", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is a file, not a directory"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "", "the file is left as it was");
    std::fs::remove_dir_all(&dir).unwrap();
    let help = String::from_utf8_lossy(&orgsim(&["score", "--help"]).stdout).to_string();
    for bug in org::planted_bugs::PlantedBug::ALL {
        assert!(help.contains(bug.name()), "{} missing from score --help:\n{help}", bug.name());
    }
}

/// Issue 13: the directory derives `mail`, `cn`, `name`, `distinguishedName` and the
/// classes from the recipient; a scenario writing them is refused where it writes them.
#[test]
fn derived_attributes_are_not_written_by_hand() {
    let err = broken_copy("qbdg-expansion", "derived", |t| {
        let mut v: serde_json::Value = serde_json::from_str(t).unwrap();
        v["recipients"]["generated"][0]["attributes"]["mail"] = serde_json::json!("x@contoso.com");
        serde_json::to_string_pretty(&v).unwrap()
    });
    assert!(err.contains(": recipients.generated[0].attributes.mail: mail is derived from the recipient"), "{err}");
}

#[test]
fn missing_file_and_bad_arguments() {
    let out = orgsim(&["run", "scenarios/does-not-exist.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("scenarios/does-not-exist.json:0:0: (file): cannot read the scenario file"));
    let out = orgsim(&["run", "scenarios/single-server.json", "--seed", "minus-one"]);
    assert_eq!(out.status.code(), Some(2), "clap rejects bad arguments with exit 2");
}

#[test]
fn an_organization_too_large_for_memory_is_refused() {
    let err = broken("huge", |t| t.replacen("\"count\": 1000,", "\"count\": 4000000000,", 1));
    assert!(err.contains(": recipients.generated[0].count: expected from 1 to 1000000 users"), "{err}");
    assert_eq!(err.lines().count(), 1, "no follow-on errors: {err}");
}

#[test]
fn link_state_settings_and_masters_are_checked() {
    let err = broken("link-state", |t| {
        t.replacen(
            "\"name\": \"Hub RG\",\n        \"administrative_group\"",
            "\"name\": \"Hub RG\",\n        \"master\": \"EX-S1\",\n        \"administrative_group\"",
            1,
        )
        .replacen(
            "\"forest\": \"contoso.com\",",
            "\"forest\": \"contoso.com\",\n    \"link_state\": {\"oscillation_changes\": 0, \"probe_interval\": \"500ms\"},",
            1,
        )
        .replacen(
            "\"workload\": {",
            "\"timeline\": [{\"kind\": \"set_master\", \"at\": \"2h\", \"routing_group\": \"Spoke1 RG\", \"server\": \"EX-HUB\"}],\n  \"workload\": {",
            1,
        )
    });
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "every problem is reported: {err}");
    assert!(
        err.contains("topology.routing_groups[0].master: server \"EX-S1\" is not a member of routing group \"Hub RG\""),
        "{err}"
    );
    assert!(err.contains("topology.link_state.oscillation_changes: expected at least 1 change"), "{err}");
    assert!(err.contains("topology.link_state.probe_interval: expected at least 1s"), "{err}");
    assert!(
        err.contains("timeline[0].server: server \"EX-HUB\" is not a member of routing group \"Spoke1 RG\""),
        "{err}"
    );
}

#[test]
fn routes_refuses_a_bad_scenario() {
    let dir = temp_dir("routes-bad");
    let file = dir.join("bad.json");
    std::fs::write(&file, "{\"name\": 1}").unwrap();
    let out = orgsim(&["routes", file.to_str().unwrap(), "--at", "1h"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.json:1:"), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn internet_connectors_and_hosts_are_checked() {
    let smart = |name: &str, from: &str, to: &str| broken_copy("internet-smarthost", name, |t| t.replacen(from, to, 1));
    let err = smart("smart-host-role", "\"smart_host\": \"RELAY.ISP\"", "\"smart_host\": \"DNS.ISP\"");
    assert!(
        err.contains(": topology.smtp_connectors[0].smart_host: host \"DNS.ISP\" does not have role \"mail\""),
        "{err}"
    );
    let err = smart("bad-space", "\"address\": \"*\"", "\"address\": \"*edu\"");
    assert!(err.contains(": topology.smtp_connectors[0].address_spaces[0].address: expected \"*\", a domain"), "{err}");
    let err = smart("no-dns", "\"dns_servers\": [\n        \"DNS.ISP\"\n      ]", "\"dns_servers\": []");
    assert!(err.contains(": topology.smtp_connectors[1]: this SMTP connector delivers by DNS"), "{err}");
    let err = smart("own-domain", "\"alice@fabrikam.com\"", "\"alice@contoso.com\"");
    assert!(err.contains(": recipients.external[0]: \"alice@contoso.com\" is in an authoritative domain"), "{err}");
    let err = smart("x400-syntax", "\"X400:c=US;a= ;p=Contoso;o=NYC;s=Adams\"", "\"X400:nonsense\"");
    assert!(err.contains(": recipients.external[3]: expected attributes like"), "{err}");
    let err = smart("unknown-host", "\"remote_mta\": \"NYC-55-MTA\"", "\"remote_mta\": \"NOPE\"");
    assert!(err.contains(": topology.x400_connectors[0].remote_mta: no Internet host named \"NOPE\""), "{err}");
    let err = smart("host-fault", "\"host\": \"RELAY.ISP\"", "\"host\": \"RELAY\"");
    assert!(err.contains(": timeline[0].host: no Internet host named \"RELAY\""), "{err}");
    // Links are point-to-point circuits: without HQ-NYC the bridgehead cannot reach the MTA.
    let err = broken_copy("internet-smarthost", "unreachable-mta", |t| {
        t.replacen("\"HQ\",\n          \"NYC\"", "\"INTERNET\",\n          \"NYC\"", 1)
    });
    assert!(
        err.contains(
            ": topology.x400_connectors[0].source_bridgeheads: bridgehead \"EX-HQ1\" cannot reach host \"NYC-55-MTA\""
        ),
        "{err}"
    );
    let err =
        broken_copy("internet-dns", "mx-role", |t| t.replacen("\"host\": \"MX.SCHOOL\"", "\"host\": \"DNS2\"", 1));
    assert!(err.contains(": topology.internet.domains[1].mx[0].host: an MX record names a mail host"), "{err}");
}

#[test]
fn directory_replication_settings_are_checked() {
    let storm = |name: &str, from: &str, to: &str| broken_copy("replication-storm", name, |t| t.replacen(from, to, 1));
    let err = storm("interval", "\"replication_interval\": \"15m\"", "\"replication_interval\": \"20m\"");
    assert!(
        err.contains(": topology.ad_replication.site_links[0].replication_interval: expected a multiple of 15m"),
        "{err}"
    );
    let err = storm("cost", "\"cost\": 200", "\"cost\": 40000");
    assert!(err.contains(": topology.ad_replication.site_links[1].cost: expected a cost from 1 to 32767"), "{err}");
    let err = storm("unknown-dc", "\"dc\": \"DC-HQ2\"", "\"dc\": \"DC-NOPE\"");
    assert!(err.contains(": timeline[0].dc: no domain controller named \"DC-NOPE\""), "{err}");
    let err = broken_copy("site-partition", "skew", |t| t.replacen("\"skew\": \"2h\"", "\"skew\": \"61d\"", 1));
    assert!(err.contains(": timeline[0].skew: expected a skew of at most 60 days"), "{err}");
    let err = storm("dc-version", "\"version\": \"2000\"", "\"version\": \"2008\"");
    assert!(
        err.contains(
            "topology.domain_controllers[1].version: expected one of \"2000\", \"2003\", found \"2008\" (did you mean \"2003\"?)"
        ),
        "{err}"
    );
    // Without the section the directory is not simulated, and directory actions say so.
    let err = broken_copy("replication-storm", "no-replication", |t| {
        let mut v: serde_json::Value = serde_json::from_str(t).unwrap();
        v["topology"].as_object_mut().unwrap().remove("ad_replication");
        serde_json::to_string_pretty(&v).unwrap()
    });
    assert!(err.contains(": timeline[0]: a directory change needs topology.ad_replication"), "{err}");
    assert!(err.contains(": checks.expect[0]: directory_converges needs topology.ad_replication"), "{err}");
}

#[test]
fn replicated_recipient_changes_are_checked() {
    let branch = |name: &str, from: &str, to: &str| broken_copy("branch-new-user", name, |t| t.replacen(from, to, 1));
    let err = branch("created-on", "\"created_on\": \"DC-BR\"", "\"created_on\": \"DC-XX\"");
    assert!(err.contains(": recipients.users[2].created_on: no domain controller named \"DC-XX\""), "{err}");
    let err = branch("rus-dc", "\"domain_controller\": \"DC-HQ\"", "\"domain_controller\": \"DC-NOPE\"");
    assert!(
        err.contains(": recipients.recipient_update_services[0].domain_controller: no domain controller named"),
        "{err}"
    );
    let err = branch("modify-dc", "\"domain_controller\": \"DC-BR\"", "\"domain_controller\": \"DC-NOPE\"");
    assert!(err.contains(": timeline[5].domain_controller: no domain controller named \"DC-NOPE\""), "{err}");
    // With replication the categorizer learns of changes only from a GC.
    let err = branch("no-dsaccess", "\"dsaccess\": {},", "");
    assert!(err.contains(": topology.ad_replication: recipients change during the run"), "{err}");
    // Site link schedules are whole UTC hours.
    let night = |name: &str, from: &str, to: &str| broken_copy("night-replication", name, |t| t.replacen(from, to, 1));
    let err = night("schedule-minutes", "\"from\": \"20:00\"", "\"from\": \"20:30\"");
    assert!(err.contains(": topology.ad_replication.site_links[0].schedule[0].from: expected a whole hour"), "{err}");
    let err = night("schedule-empty", "\"until\": \"06:00\"", "\"until\": \"20:00\"");
    assert!(
        err.contains(": topology.ad_replication.site_links[0].schedule[0]: expected \"from\" and \"until\" to differ"),
        "{err}"
    );
    // Membership changes name a standard group and real changes.
    let forest = |name: &str, from: &str, to: &str| broken_copy("two-domain-forest", name, |t| t.replacen(from, to, 1));
    let err = forest("not-a-group", "\"group\": \"AllStaff\"", "\"group\": \"hqboss\"");
    assert!(err.contains(".group: \"hqboss\" is no standard distribution group"), "{err}");
    let err = forest("already-member", "\"add\": [\n        \"emeahire\"", "\"add\": [\n        \"hqboss\"");
    assert!(err.contains(".add[0]: \"hqboss\" is already a member"), "{err}");
    let err = forest(
        "other-domain-dc",
        "\"domain_controller\": \"DC-HQ\"\n    }",
        "\"domain_controller\": \"DC-EMEA\"\n    }",
    );
    assert!(err.contains(".domain_controller: \"DC-EMEA\" is not a domain controller of \"contoso.com\""), "{err}");
    // A GC must reach some replica of every other domain.
    let err = broken_copy("two-domain-forest", "no-site-link", |t| {
        let mut v: serde_json::Value = serde_json::from_str(t).unwrap();
        v["topology"]["ad_replication"]["site_links"] = serde_json::json!([]);
        serde_json::to_string_pretty(&v).unwrap()
    });
    assert!(
        err.contains(": topology.domain_controllers[0]: global catalog \"DC-HQ\" can get no partial replica of \"emea.contoso.com\""),
        "{err}"
    );
}

#[test]
fn bad_recipients_name_the_place() {
    let err = broken_copy("restricted-dl", "protocol-settings", |t| {
        t.replacen(
            "\"MAPI\u{a7}1\u{a7}1\u{a7}\u{a7}\u{a7}\u{a7}\u{a7}\u{a7}\"",
            "\"MAPI\u{a7}1\u{a7}1\u{a7}\u{a7}\u{a7}\u{a7}\u{a7}\"",
            1,
        )
    });
    assert!(err.contains("recipients.users[5].protocol_settings: expected exactly 8 '\u{a7}' separators"), "{err}");
    let err = broken_copy("restricted-dl", "unknown-member", |t| {
        t.replacen("\"bruno\"\n        ],", "\"brunO2\"\n        ],", 1)
    });
    assert!(err.contains("groups[1].members[4]: no user, contact or group with alias \"brunO2\""), "{err}");
    let err = broken_copy("restricted-dl", "both-restrictions", |t| {
        t.replacen("\"authenticated_only\": true", "\"authenticated_only\": true, \"accept_from\": [\"ceo\"]", 1)
    });
    assert!(err.contains("authenticated_only: accept_from already admits only authenticated senders"), "{err}");
    let err = broken_copy("new-user-before-rus", "bad-ou", |t| {
        t.replacen("\"ou\": \"OU=Staff,DC=contoso,DC=com\"", "\"ou\": \"OU=Nowhere,DC=contoso,DC=com\"", 1)
    });
    assert!(
        err.contains("ou: \"OU=Nowhere,DC=contoso,DC=com\" is not one of recipients.organizational_units"),
        "{err}"
    );
    let err = broken_copy("restricted-dl", "anonymous-needs-via", |t| {
        t.replacen(
            "\"from\": \"spammer@example.net\",\n      \"via\": \"EX-GW\",",
            "\"from\": \"spammer@example.net\",",
            1,
        )
    });
    assert!(err.contains("timeline[0].via: a sender outside the organization needs \"via\""), "{err}");
}

/// The Information Store's settings and steps name the place of a bad value.
#[test]
fn bad_store_settings_name_the_place() {
    let err = broken_copy("log-disk-full", "small-log-disk", |t| {
        t.replacen("\"log_disk_mb\": 60,", "\"log_disk_mb\": 10,", 1)
    });
    assert!(err.contains("storage_groups[0].log_disk_mb: expected at least 15 MB"), "{err}");
    let err = broken_copy("log-disk-full", "unknown-storage-group", |t| {
        t.replacen("\"storage_group\": \"First Storage Group\"", "\"storage_group\": \"Third Storage Group\"", 1)
    });
    assert!(
        err.contains("timeline[1].storage_group: server \"EX01\" has no storage group \"Third Storage Group\""),
        "{err}"
    );
    let step = "\"kind\": \"restore\",\n      \"at\": \"1d12h\",\n      \"server\": \"EX01\",";
    let err = broken_copy("restore-rsg-merge", "restore-other-store", |t| {
        t.replacen(step, &format!("{step}\n      \"databases\": [\"Mailbox Store (EX02)\"],"), 1)
    });
    assert!(
        err.contains("timeline[4].databases[0]: mailbox store \"Mailbox Store (EX02)\" is not in EX01's storage group"),
        "{err}"
    );
    let err = broken_copy("restore-rsg-merge", "restore-nowhere", |t| {
        t.replacen(step, &format!("{step}\n      \"to_server\": \"EX09\","), 1)
    });
    assert!(err.contains("timeline[4].to_server: "), "{err}");
    let err = broken_copy("restore-rsg-merge", "backup-hour", |t| {
        t.replacen("\"backup_hour\": 23", "\"backup_hour\": 24", 1)
    });
    assert!(err.contains("storage_groups[0].backup_hour: "), "{err}");
    let err = broken_copy("stormy-weather", "power-share", |t| {
        t.replacen("\"power_loss_share\": 0.5", "\"power_loss_share\": 1.5", 1)
    });
    assert!(err.contains("weather.power_loss_share: expected a share from 0 to 1"), "{err}");
    let err = broken_copy("journaling", "journal-nobody", |t| {
        t.replacen("\"journal_recipient\": \"journal\"", "\"journal_recipient\": \"nobody\"", 1)
    });
    assert!(
        err.contains("mailbox_stores[0].journal_recipient: no user, contact or group with alias \"nobody\""),
        "{err}"
    );
    let err = broken_copy("journaling", "rated-user", |t| {
        t.replacen("\"from\": \"sam\",", "\"from\": \"sam\",\n      \"scl\": 3,", 1)
    });
    assert!(err.contains("timeline[1].scl: only anonymous mail from outside is rated"), "{err}");
    let err = broken_copy("journaling", "threshold", |t| {
        t.replacen(
            "\"forest\": \"contoso.com\",",
            "\"forest\": \"contoso.com\",\n    \"intelligent_message_filter\": {\"store_threshold\": 9},",
            1,
        )
    });
    assert!(
        err.contains("topology.intelligent_message_filter.store_threshold: expected an integer from 0 to 8, found 9"),
        "{err}"
    );
    let err = broken_copy("mailbox-quota", "quota-target", |t| {
        t.replacen(
            "\"mailbox\": \"nearlyfull\",",
            "\"mailbox\": \"nearlyfull\",\n      \"database\": \"Mailbox Store (EX01)\",",
            1,
        )
    });
    assert!(err.contains("timeline[1]: expected exactly one of `mailbox`"), "{err}");
    let err = broken_copy("disk-past-capacity", "no-spindles", |t| t.replacen("\"iops\": 1500", "\"iops\": 0", 1));
    assert!(err.contains("storage_groups[0].database_disk.iops: expected"), "{err}");
    let err =
        broken_copy("disk-past-capacity", "instant-disk", |t| t.replacen("\"service_ms\": 5", "\"service_ms\": 0", 1));
    assert!(err.contains("storage_groups[0].log_disk.service_ms: expected"), "{err}");
    let err = broken_copy("cluster-failover", "all-active", |t| {
        t.replacen("\"NODE3\",\n          \"NODE4\"", "\"NODE3\"", 1)
    });
    assert!(err.contains("clusters[0].virtual_servers: a cluster of more than two nodes is active/passive"), "{err}");
    let err = broken_copy("cluster-failover", "big-2000", |t| {
        t.replacen("\"windows\": \"2003\"", "\"windows\": \"2000\"", 1).replacen("\"NODE4\"", "\"NODE4\", \"NODE5\"", 1)
    });
    assert!(err.contains("clusters[0].nodes: expected 2 to 4 nodes on Windows 2000"), "{err}");
    let step = "\"kind\": \"node_up\",\n      \"at\": \"13h\",\n      \"node\": \"NODE1\"";
    let err = broken_copy("cluster-failover", "evs-crash", |t| {
        t.replacen(step, "\"kind\": \"server_crash\",\n      \"at\": \"13h\",\n      \"server\": \"EVS1\"", 1)
    });
    assert!(err.contains("timeline[1].server: server \"EVS1\" is a cluster's virtual server"), "{err}");
    let err =
        broken_copy("cluster-failover", "node-twice", |t| t.replacen(step, &step.replace("node_up", "node_down"), 1));
    assert!(err.contains("timeline[1]: cluster node \"NODE1\" is already down at 13h"), "{err}");
    let move_step = "\"from_store\": \"Mailbox Store (EX-BR)\"";
    let err = broken_copy("move-mailboxes-branch-to-hub", "move-both", |t| {
        t.replacen(move_step, "\"from_store\": \"Mailbox Store (EX-BR)\", \"mailboxes\": [\"x\"]", 1)
    });
    assert!(err.contains("timeline[0]: expected exactly one of `mailboxes`"), "{err}");
    let err = broken_copy("move-mailboxes-branch-to-hub", "move-home", |t| {
        t.replacen(move_step, "\"from_store\": \"Mailbox Store (EX-HUB)\", \"count\": 1", 1)
    });
    assert!(err.contains("timeline[0].to_store: \"hub1000@contoso.com\" is already in"), "{err}");
    let err = broken_copy("move-mailboxes-branch-to-hub", "move-cancel", |t| {
        t.replacen(move_step, "\"from_store\": \"Mailbox Store (EX-BR)\", \"cancel_at\": \"18h\"", 1)
    });
    assert!(err.contains("timeline[0].cancel_at: expected a cancel time after the task starts"), "{err}");
    let err = broken_copy("disk-past-capacity", "profile", |t| t.replacen("\"heavy\"", "\"hefty\"", 1));
    assert!(err.contains("mailbox_stores[0].user_profile: expected one of"), "{err}");
}

/// A deadline the clients send up to would fail on whichever seed submits last.
#[test]
fn a_deadline_needs_the_workload_stopped_before_it() {
    let err = broken("late-workload", |t| t.replacen("\"until\": \"20h\"", "\"until\": \"21h\"", 1));
    insta::assert_snapshot!(err, @"late-workload.json:365:15: checks.expect[0].at: clients send until 21h (workload.until, the run's end by default), so mail submitted just before this deadline cannot be resolved by it; stop the workload before the deadline");
}

/// Public folders: a replica list naming no public store, a folder whose parent is not
/// listed before it, and clients posting through a server holding no replica.
#[test]
fn public_folder_mistakes_name_their_place() {
    let err = broken_copy("pf-backfill-2003", "pf-mistakes", |t| {
        t.replacen("\"path\": \"Sales\"", "\"path\": \"Sales/EMEA\"", 1).replacen(
            "\"Public Folder Store (EX-BR2)\"\n        ]",
            "\"Public Folder Store (EX-BR9)\"\n        ]",
            1,
        )
    });
    assert!(err.contains("public_folders.folders[0].path: its parent \"Sales\" is not listed before it"), "{err}");
    assert!(
        err.contains("public_folders.folders[0].replicas[1]: no public store named \"Public Folder Store (EX-BR9)\""),
        "{err}"
    );
    assert!(err.contains("timeline[0].folder: no public folder named \"Sales\""), "{err}");
}

/// A restore takes mailbox stores only: naming the public store says why.
#[test]
fn a_public_store_is_not_restored() {
    let err = broken_copy("pf-backfill-2003", "pf-restore", |t| {
        t.replacen(
            "\"timeline\": [",
            "\"timeline\": [\n    {\"kind\": \"restore\", \"at\": \"2h\", \"server\": \"EX-HQ\", \"storage_group\": \"First Storage Group\", \"databases\": [\"Public Folder Store (EX-HQ)\"]},",
            1,
        )
    });
    assert!(err.contains("timeline[0].databases[0]: \"Public Folder Store (EX-HQ)\" is a public store: restores take mailbox stores only"), "{err}");
}

/// Offline address book mistakes name their place: an unknown server, a time of day
/// that is not one, an expectation naming an OAB or recipient that is not there.
#[test]
fn offline_address_book_mistakes_name_their_place() {
    let err = broken_copy("oab-stale-gc", "oab-mistakes", |t| {
        t.replacen(
            "\"server\": \"EX-BR\",\n      \"schedule\": [\n        \"02:00\"",
            "\"server\": \"EX-B\",\n      \"schedule\": [\n        \"2:00\"",
            1,
        )
        .replacen("\"recipient\": \"hqboss\"", "\"recipient\": \"nobody\"", 1)
        .replacen(
            "\"oab\": \"Default Offline Address List\",\n        \"recipient\": \"newhire\"",
            "\"oab\": \"Other OAB\",\n        \"recipient\": \"newhire\"",
            1,
        )
    });
    assert!(err.contains("offline_address_books[0].server: no server named \"EX-B\""), "{err}");
    assert!(err.contains("offline_address_books[0].schedule[0]: expected a time of day HH:MM, not \"2:00\""), "{err}");
    assert!(err.contains("checks.expect[0].recipient"), "{err}");
    assert!(err.contains("checks.expect[1].oab: no offline address book named \"Other OAB\""), "{err}");
}

#[test]
fn offline_address_book_client_mistakes_name_their_place() {
    let err = broken_copy("oab-branch-replica", "oab-client-mistakes", |t| {
        t.replacen("\"Public Folder Store (EX-BR)\"\n      ]", "\"Public Folder Store (EX-B)\"\n      ]", 1)
            .replacen("\"count\": 300", "\"count\": 0", 1)
            .replacen(
                "\"server\": \"EX-BR\",\n          \"count\": 100",
                "\"server\": \"EX-X\",\n          \"count\": 100",
                1,
            )
            .replacen("\"count\": 20,\n      \"repeat\": 3", "\"count\": 20,\n      \"repeat\": 9", 1)
    });
    let at = "offline_address_books[0]";
    assert!(err.contains(&format!("{at}.replicas[0]: no public store named \"Public Folder Store (EX-B)\"")), "{err}");
    assert!(err.contains(&format!("{at}.clients[0].count: expected an integer from 1 to 100000, found 0")), "{err}");
    assert!(err.contains(&format!("{at}.clients[1].server: no server named \"EX-X\"")), "{err}");
    assert!(err.contains("timeline[0].repeat: its last round, at 8d10h, is after the run's end"), "{err}");
}

#[test]
fn outlook_versions_and_domain_renames_are_checked() {
    let renames = [
        r#"{"kind": "rename_smtp_domain", "at": "1h", "from": "contoso.com", "to": "fabrikam.com"}"#,
        r#"{"kind": "rename_smtp_domain", "at": "1h", "from": "contoso.com", "to": "CONTOSO.com"}"#,
        r#"{"kind": "rename_smtp_domain", "at": "1h", "from": "contoso.com", "to": "litware.com", "recipients": ["nobody"]}"#,
    ];
    let err = broken_copy("oab-legacy-clients", "oab-rename-mistakes", |t| {
        t.replacen("\"outlook\": \"2002\"", "\"outlook\": \"2000\"", 1)
            .replacen("\"contoso.com\"\n    ],", "\"contoso.com\", \"litware.com\"\n    ],", 1)
            .replacen(
                "{\n      \"kind\": \"churn_recipients\"",
                &format!("{},\n    {{\n      \"kind\": \"churn_recipients\"", renames.join(",\n    ")),
                1,
            )
    });
    let outlook =
        r#"offline_address_books[0].clients[1].outlook: expected one of "2002", "2003", "2003_sp2", found "2000""#;
    assert!(err.contains(outlook), "{err}");
    assert!(err.contains("timeline[0].to: expected one of recipients.smtp_domains, not \"fabrikam.com\""), "{err}");
    assert!(err.contains("timeline[1].to: expected another domain than \"from\""), "{err}");
    assert!(err.contains("timeline[2].recipients[0]: no user, contact or group with alias \"nobody\""), "{err}");
}

#[test]
fn offline_address_book_clients_need_a_public_store_on_an_sp2_server() {
    let err = broken_copy("oab-branch-clients", "oab-clients-no-store", |t| {
        t.replacen(",\n            \"public_store\": {\n              \"name\": \"Public Folder Store (EX-HQ)\"\n            }", "", 1)
    });
    assert!(err.contains("offline_address_books[0].server: the OAB's files are posted to public folders on its generation server \"EX-HQ\", which has no public store"), "{err}");
}

/// Badmail settings and `purge_badmail` steps name what they got wrong: a sync period
/// under the registry's minute, a virtual server the server does not have (with those
/// it has), a server that does not exist.
#[test]
fn badmail_settings_and_purges_are_checked() {
    let err = broken_copy("smtp-edge-actions", "bad-purge", |t| {
        t.replacen("\"sync_period\": \"10m\"", "\"sync_period\": \"30s\"", 1)
            .replacen("\"virtual_server\": \"Internet SMTP\"\n    }\n  ],", "\"virtual_server\": \"Intranet SMTP\"\n    },\n    {\n      \"kind\": \"purge_badmail\",\n      \"at\": \"41m\",\n      \"server\": \"EX-GX\"\n    }\n  ],", 1)
    });
    insta::assert_snapshot!(err, @r#"
    bad-purge.json:73:26: topology.servers[0].badmail.sync_period: expected a sync period of at least 1m
    bad-purge.json:459:25: timeline[0].virtual_server: server "EX-GW" has no virtual server named "Intranet SMTP" (known: Default SMTP Virtual Server, Internet SMTP, Partner SMTP)
    bad-purge.json:464:17: timeline[1].server: no server named "EX-GX" (known: EX-GW, EX01)
    "#);
}
