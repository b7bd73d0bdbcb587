//! End-to-end tests of the tester's toolkit: sweep and shards, run records and replay,
//! check for git bisect, shrink, bisect-time, diff, report from a trace, and score.

mod common;

use common::{orgsim, temp_dir};
use serde_json::Value;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn sweep_in_shards_merges_to_the_whole_range() {
    let dir = temp_dir("shards");
    let mut files = Vec::new();
    for shard in ["0/2", "1/2"] {
        let out = orgsim(&[
            "sweep",
            "scenarios/no-path-queue.json",
            "--seeds",
            "1..5",
            "--shard",
            shard,
            "--json",
            "--jobs",
            "2",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(summary["runs"], if shard == "0/2" { 3 } else { 2 });
        let file = dir.join(shard.replace('/', "-"));
        std::fs::write(&file, &out.stdout).unwrap();
        files.push(file.to_str().unwrap().to_string());
    }
    let out = orgsim(&["sweep-merge", &files[0], &files[1], "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let merged: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((merged["runs"].as_u64(), merged["passed"].as_u64()), (Some(5), Some(5)));
    let out = orgsim(&["sweep-merge", &files[1]]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("incomplete sweep: shard(s) 0/2 missing"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 13: a summary carries every seed's trace digest; a shard run twice (on two
/// machines) is compared seed by seed by `sweep-merge`, and a digest that differs fails the
/// merge; `--recheck` reruns a share of the seeds and says they were identical.
#[test]
fn digests_let_shards_run_twice_be_compared_and_recheck_reruns_seeds() {
    let dir = temp_dir("digests");
    let sweep = |shard: &str| {
        let out = orgsim(&["sweep", "scenarios/no-path-queue.json", "--seeds", "1..6", "--shard", shard, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let (zero, one, one_again) = (sweep("0/2"), sweep("1/2"), sweep("1/2"));
    let digests = one["digests"].as_array().unwrap();
    assert_eq!(digests.len(), 3);
    assert!(digests.iter().all(|d| d["trace_sha256"].as_str().is_some_and(|h| h.len() == 64)), "{digests:?}");
    assert_eq!(one["digests"], one_again["digests"], "a shard run again gives the same traces");
    let mut tampered = one_again.clone();
    tampered["digests"][1]["trace_sha256"] = Value::from("0".repeat(64));
    let write = |name: &str, v: &Value| {
        let f = dir.join(name);
        std::fs::write(&f, v.to_string()).unwrap();
        f.to_str().unwrap().to_string()
    };
    let (a, b, c, d) = (write("a", &zero), write("b", &one), write("c", &one_again), write("d", &tampered));
    let out = orgsim(&["sweep-merge", &a, &b, &c]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("shard 1/2 ran twice: 3 seed(s) compared, every trace identical"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("6 run(s) merged from 3 file(s)"), "{}", stdout(&out));
    let out = orgsim(&["sweep-merge", &a, &b, &d]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("seed 4: NOT DETERMINISTIC"), "{}", stdout(&out));
    let out = orgsim(&["sweep", "scenarios/no-path-queue.json", "--seeds", "1..4", "--recheck", "50"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("by running them again: every trace identical"), "{}", stdout(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 13: a sometimes property no seed reaches fails a sweep (the weather does not do
/// what the scenario says), but not a shard of one, nor a single run.
#[test]
fn a_sometimes_property_never_reached_fails_the_sweep() {
    let dir = temp_dir("sometimes");
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(common::root().join("scenarios/no-path-queue.json")).unwrap())
            .unwrap();
    v["checks"]["sometimes"] = serde_json::json!(["queue_retry", "crash_lost_unflushed"]);
    let file = dir.join("never.json");
    std::fs::write(&file, v.to_string()).unwrap();
    let file = file.to_str().unwrap();
    let out = orgsim(&["sweep", file, "--seeds", "1..3"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("sometimes (seeds that reached each): queue_retry 3/3, crash_lost_unflushed 0/3"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("NEVER REACHED: crash_lost_unflushed"), "{}", stdout(&out));
    let out = orgsim(&["sweep", file, "--seeds", "1..3", "--shard", "0/2"]);
    assert_eq!(out.status.code(), Some(0), "a shard is a sample: {}", stdout(&out));
    let out = orgsim(&["run", file, "--seed", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("sometimes (times reached; a sweep judges them): queue_retry "), "{}", stdout(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sweep_with_a_planted_bug_names_failing_seeds_and_their_replay() {
    let out = orgsim(&["sweep", "scenarios/no-path-expire.json", "--seeds", "1..3", "--plant", "no-expiration"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("seed 1: FAIL"), "{text}");
    assert!(text.contains("replay: orgsim run scenarios/no-path-expire.json --seed 1 --plant no-expiration"), "{text}");
    assert!(text.contains("3 seed(s) from 1..3"), "{text}");
}

#[test]
fn replay_reruns_a_record_and_fails_clearly_on_a_difference() {
    let dir = temp_dir("replay");
    let scenario = dir.join("s.json");
    std::fs::copy(common::root().join("scenarios/stormy-weather.json"), &scenario).unwrap();
    let record = dir.join("run.json");
    let out = orgsim(&["run", scenario.to_str().unwrap(), "--seed", "4", "--record", record.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = orgsim(&["replay", record.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("identical trace"));
    // A record whose digest does not match what this build produces.
    let mut r: Value = serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    r["trace_sha256"] = Value::from("0".repeat(64));
    let tampered = dir.join("tampered.json");
    std::fs::write(&tampered, r.to_string()).unwrap();
    let out = orgsim(&["replay", tampered.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("the trace DIFFERS") && stdout(&out).contains("determinism break"),
        "{}",
        stdout(&out)
    );
    // The scenario changed since: not the same run.
    std::fs::write(&scenario, std::fs::read_to_string(&scenario).unwrap().replace("\"20h\"", "\"21h\"")).unwrap();
    let out = orgsim(&["replay", record.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("changed since the run was recorded"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_speaks_git_bisect() {
    assert_eq!(orgsim(&["check", "scenarios/no-path-expire.json", "--seed", "2"]).status.code(), Some(0));
    let out = orgsim(&["check", "scenarios/no-path-expire.json", "--seed", "2", "--plant", "no-expiration"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("FAIL all_resolved_by"), "{}", stdout(&out));
    let dir = temp_dir("bisect-skip");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "{\"name\": 1}").unwrap();
    assert_eq!(orgsim(&["check", bad.to_str().unwrap()]).status.code(), Some(125), "cannot test: skip");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn shrink_writes_a_smaller_scenario_that_still_fails() {
    let dir = temp_dir("shrink");
    let out_file = dir.join("small.json");
    let out = orgsim(&[
        "shrink",
        "scenarios/no-path-expire.json",
        "--seed",
        "3",
        "--plant",
        "no-expiration",
        "--out",
        out_file.to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("keeping `all_resolved_by 2d12h` failing"), "{text}");
    assert!(text.contains("recipients.generated[0].count 100 ->"), "the load was scaled down: {text}");
    let shrunk: Value = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert!(shrunk["recipients"]["generated"][0]["count"].as_u64().unwrap() < 100);
    let check = orgsim(&["check", out_file.to_str().unwrap(), "--seed", "3", "--plant", "no-expiration"]);
    assert_eq!(check.status.code(), Some(1), "the shrunk scenario still fails");
    let check = orgsim(&["check", out_file.to_str().unwrap(), "--seed", "3"]);
    assert_eq!(check.status.code(), Some(0), "and passes without the bug");
    let passing = orgsim(&["shrink", "scenarios/no-path-expire.json", "--seed", "3"]);
    assert_eq!(passing.status.code(), Some(2), "nothing to shrink when the seed passes");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The weather's faults stay in pairs (a crash with its restart), and the result is the
/// bug's failure: it fails with the plant and passes without it (issue 13: a shrink that
/// kept a crash without its restart failed `all_resolved_by` with or without the plant).
#[test]
fn shrink_keeps_fault_pairs_and_a_failure_that_depends_on_the_plant() {
    let dir = temp_dir("shrink-pairs");
    let out_file = dir.join("small.json");
    let file = out_file.to_str().unwrap();
    let plant = "recovery-skips-queues";
    let out = orgsim(&["shrink", "scenarios/stormy-weather.json", "--seed", "3", "--plant", plant, "--out", file]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("with the planted bug and passes every check without it"), "{text}");
    let shrunk: Value = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    let steps = shrunk["timeline"].as_array().unwrap();
    assert!(!steps.is_empty() && steps.len() < 30, "{steps:?}");
    for (i, step) in steps.iter().enumerate() {
        if step["kind"] == "server_crash" {
            let restart = steps[i + 1..].iter().any(|s| s["kind"] == "server_restart" && s["server"] == step["server"]);
            assert!(restart, "a crash keeps its restart: {steps:?}");
        }
    }
    assert_eq!(orgsim(&["check", file, "--seed", "3", "--plant", plant]).status.code(), Some(1));
    assert_eq!(orgsim(&["check", file, "--seed", "3"]).status.code(), Some(0), "not a failure without the bug");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bisect_time_finds_the_first_failing_instant() {
    let out = orgsim(&[
        "bisect-time",
        "scenarios/unknown-recipient.json",
        "--seed",
        "1",
        "--plant",
        "bifurcation-copies-all",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("no_duplicate_delivery first fails at "), "{text}");
    assert!(text.contains("events leading to it:") && text.contains("\"event\":\"delivered\""), "{text}");
}

#[test]
fn diff_report_and_perfetto_read_saved_traces() {
    let dir = temp_dir("traces");
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    for (seed, path) in [("1", &a), ("2", &b)] {
        let out = orgsim(&["run", "scenarios/server-crash.json", "--seed", seed, "--trace", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0));
    }
    let out = orgsim(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("seed: 1 | 2") && stdout(&out).contains("first divergence at record"),
        "{}",
        stdout(&out)
    );
    assert_eq!(orgsim(&["diff", a.to_str().unwrap(), a.to_str().unwrap()]).status.code(), Some(0));
    let report = dir.join("report");
    let perfetto = dir.join("run.perfetto.json");
    let out = orgsim(&[
        "report",
        a.to_str().unwrap(),
        "--out",
        report.to_str().unwrap(),
        "--perfetto",
        perfetto.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read_to_string(report.join("index.html")).unwrap().contains("server-crash"));
    let events: Value = serde_json::from_str(&std::fs::read_to_string(&perfetto).unwrap()).unwrap();
    let events = events["traceEvents"].as_array().unwrap();
    assert!(events.iter().any(|e| e["ph"] == "M" && e["args"]["name"] == "EX-A2"), "servers are processes");
    assert!(events.iter().any(|e| e["ph"] == "s"), "messages are flows");
    let out = orgsim(&["report", dir.join("missing.jsonl").to_str().unwrap(), "--out", report.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    // Two traces side by side.
    let both = dir.join("both");
    let out = orgsim(&["report", a.to_str().unwrap(), b.to_str().unwrap(), "--out", both.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(both.join("index.html")).unwrap();
    assert!(html.contains("server-crash seed 1 <small>against</small> server-crash seed 2"), "{html}");
    let out = orgsim(&["report", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "comparing needs --out");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sweep_report_links_failing_seeds_and_the_worst_against_the_best() {
    let dir = temp_dir("sweep-report");
    let file = "scenarios/no-path-expire.json";
    let out =
        orgsim(&["sweep", file, "--seeds", "1..3", "--plant", "no-expiration", "--report", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "the plant fails: {}", stdout(&out));
    assert!(stdout(&out).contains("sweep report: "), "{}", stdout(&out));
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("3 of 3 seeds failed a check."), "{html}");
    assert!(html.contains("<a href=\"seed-1/index.html\">1</a>"), "{html}");
    for seed in 1..=3 {
        let page = std::fs::read_to_string(dir.join(format!("seed-{seed}/index.html"))).unwrap();
        assert!(page.contains("--plant no-expiration"), "its page says how to reproduce it");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn explain_prints_the_sampled_weather() {
    let out = orgsim(&["run", "scenarios/stormy-weather.json", "--seed", "5", "--explain"]);
    let text = stdout(&out);
    assert!(text.starts_with("concrete timeline at seed 5 ("), "{text}");
    assert!(text.contains("(weather)"), "{text}");
}

#[test]
fn score_reports_each_planted_bug() {
    let out =
        orgsim(&["score", "--seeds", "1..1", "--scenario", "scenarios/no-path-expire.json", "--no-shrink", "--json"]);
    // One scenario cannot catch every bug: uncaught bugs make the score fail.
    assert_eq!(out.status.code(), Some(1));
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), org::planted_bugs::PlantedBug::ALL.len());
    let row = rows.iter().find(|r| r["bug"] == "no-expiration").unwrap();
    assert_eq!((row["caught"].as_bool(), row["first_seed"].as_u64()), (Some(true), Some(1)));
    for key in ["bug", "caught", "first_seed", "faults_after_shrink"] {
        assert!(row.get(key).is_some(), "{key}");
    }
    assert!(rows.iter().any(|r| r["caught"] == false));
}

/// The table a person reads: every column lines up whatever its longest name, and the
/// progress goes to stderr, never into the table.
#[test]
fn score_table_columns_line_up() {
    let out = orgsim(&["score", "--seeds", "1..1", "--scenario", "scenarios/no-path-expire.json", "--no-shrink"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().take(1 + org::planted_bugs::PlantedBug::ALL.len()).collect();
    let column = |line: &str, n: usize| {
        // The start of the n-th cell: cells are parted by two or more spaces.
        let mut starts = vec![0];
        let bytes = line.as_bytes();
        for i in 2..bytes.len() {
            if bytes[i] != b' ' && bytes[i - 1] == b' ' && bytes[i - 2] == b' ' {
                starts.push(i);
            }
        }
        starts.get(n).copied()
    };
    let header = lines[0];
    assert!(header.starts_with("planted bug"), "{text}");
    let scenario_at = header.find("scenario").unwrap();
    for line in &lines[1..] {
        assert_eq!(column(line, 1), Some(header.find("caught").unwrap()), "{line}\n{text}");
        assert_eq!(column(line, 4), Some(scenario_at), "{line}\n{text}");
    }
    assert!(lines.iter().any(|l| l.starts_with("restriction-ignores-authentication  ")), "{text}");
    // One run without a plant, then one per planted bug.
    let runs = 1 + org::planted_bugs::PlantedBug::ALL.len();
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("score: {runs}/{runs} runs")));
}
