//! `orgsim score`: the testbed's own score. Every planted bug is run against the
//! scenario set over a seed range; a bug is caught when some check fails. For each caught
//! bug the first failing run (lowest seed, then scenario order) is shrunk, to show how
//! small a reproduction the tools find. A bug nothing catches is a gap in the checks.

use crate::sweep::{parallel, Progress, SeedRange};
use org::planted_bugs::{PlantedBug, Plants};
use serde::Serialize;
use sim::resolve::{load_file, Resolved};
use sim::world::run;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// One row of the score.
#[derive(Clone, Debug, Serialize)]
pub struct BugScore {
    /// The planted bug.
    pub bug: &'static str,
    /// Whether a check caught it.
    pub caught: bool,
    /// The lowest seed that caught it.
    pub first_seed: Option<u64>,
    /// The scenario that caught it at that seed.
    pub scenario: Option<String>,
    /// The first failing check there.
    pub check: Option<String>,
    /// Timeline steps left after shrinking that run to a scenario that fails with the bug
    /// and passes without it (`None` if not caught, not shrunk, or no such scenario found).
    pub faults_after_shrink: Option<usize>,
}

fn default_scenarios() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("scenarios")
        .map(|dir| {
            dir.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// `orgsim score`.
pub fn score_command(seeds: SeedRange, scenarios: Vec<PathBuf>, jobs: usize, json: bool, shrink: bool) -> ExitCode {
    let files = if scenarios.is_empty() { default_scenarios() } else { scenarios };
    if files.is_empty() {
        eprintln!("orgsim score: no scenarios (give --scenario FILE, or run from a directory with scenarios/*.json)");
        return ExitCode::from(2);
    }
    let mut loaded: Vec<Arc<Resolved>> = Vec::new();
    for file in &files {
        match load_file(&file.display().to_string()) {
            Ok(r) => loaded.push(Arc::new(r)),
            Err(errors) => {
                eprintln!("{errors}");
                return ExitCode::from(2);
            }
        }
    }
    let seed_list: Vec<u64> = (seeds.first..=seeds.last).collect();
    // Runs: (bug or none, scenario index, seed). The baseline must pass first.
    let mut jobs_list: Vec<(Option<PlantedBug>, usize, u64)> = Vec::new();
    for bug in std::iter::once(None).chain(PlantedBug::ALL.into_iter().map(Some)) {
        for seed in &seed_list {
            for s in 0..loaded.len() {
                jobs_list.push((bug, s, *seed));
            }
        }
    }
    if !json {
        eprintln!(
            "score: {} planted bugs x {} scenarios x {} seeds (+ baseline) = {} runs on {jobs} thread(s)",
            PlantedBug::ALL.len(),
            loaded.len(),
            seed_list.len(),
            jobs_list.len()
        );
    }
    let progress = Progress::new("score", jobs_list.len(), "runs", "failed", json);
    let results = parallel(
        jobs,
        &jobs_list,
        |(bug, s, seed)| {
            let plants = bug.map_or(Plants::NONE, |b| Plants::NONE.with(b));
            let outcome = run(Arc::new(loaded[*s].with_plants(plants)), *seed, None);
            outcome.checks.iter().find(|c| !c.ok).map(|c| c.name.clone())
        },
        |_, failed| progress.tick(failed.is_some()),
    );
    let baseline_failures: Vec<String> = jobs_list
        .iter()
        .zip(&results)
        .filter(|((bug, _, _), failed)| bug.is_none() && failed.is_some())
        .map(|((_, s, seed), failed)| {
            format!("{} seed {seed}: {}", files[*s].display(), failed.as_deref().unwrap_or(""))
        })
        .collect();
    if !baseline_failures.is_empty() {
        eprintln!("orgsim score: the scenarios fail with no planted bug; fix that first:");
        for f in baseline_failures {
            eprintln!("  {f}");
        }
        return ExitCode::from(1);
    }
    let mut rows: Vec<BugScore> = PlantedBug::ALL
        .iter()
        .map(|bug| {
            // Jobs are ordered by seed, then scenario: the first hit is the lowest seed.
            let hit = jobs_list.iter().zip(&results).find(|((b, _, _), failed)| *b == Some(*bug) && failed.is_some());
            BugScore {
                bug: bug.name(),
                caught: hit.is_some(),
                first_seed: hit.map(|((_, _, seed), _)| *seed),
                scenario: hit.map(|((_, s, _), _)| files[*s].display().to_string()),
                check: hit.and_then(|(_, failed)| failed.clone()),
                faults_after_shrink: None,
            }
        })
        .collect();
    if shrink {
        let caught: Vec<usize> = (0..rows.len()).filter(|i| rows[*i].caught).collect();
        let progress = Progress::new("score", caught.len(), "shrinks", "without a reproduction", json);
        let shrunk = parallel(
            jobs,
            &caught,
            |i| {
                let row = &rows[*i];
                let file = row.scenario.clone().expect("caught rows name their scenario");
                let text = std::fs::read_to_string(&file).ok()?;
                let plants = Plants::NONE.with(PlantedBug::ALL[*i]);
                crate::shrink::shrink(&file, &text, row.first_seed.expect("caught"), plants)
                    .ok()
                    .map(|s| s.faults_after)
            },
            |_, faults| progress.tick(faults.is_none()),
        );
        for (i, faults) in caught.into_iter().zip(shrunk) {
            rows[i].faults_after_shrink = faults;
        }
    }
    let uncaught = rows.iter().filter(|r| !r.caught).count();
    if json {
        println!("{}", serde_json::to_string(&rows).expect("rows serialize"));
    } else {
        print_table(&rows);
        println!(
            "{} of {} planted bugs caught over seeds {}..{} (\"shrunk\": timeline steps left after shrinking the first catch to a scenario that fails with the bug and passes without it)",
            rows.len() - uncaught,
            rows.len(),
            seeds.first,
            seeds.last
        );
    }
    if uncaught == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The score as a table, each column as wide as its widest cell.
fn print_table(rows: &[BugScore]) {
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.bug.to_string(),
                if r.caught { "yes" } else { "NO" }.to_string(),
                r.first_seed.map_or("-".to_string(), |s| s.to_string()),
                r.faults_after_shrink.map_or("-".to_string(), |f| format!("{f}f")),
                r.scenario.clone().unwrap_or_else(|| "-".to_string()),
                r.check.clone().unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    let header = ["planted bug", "caught", "first seed", "shrunk", "scenario", "check"].map(String::from);
    let width = |c: usize| cells.iter().chain([&header]).map(|row| row[c].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..5).map(width).collect();
    for row in std::iter::once(&header).chain(&cells) {
        println!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:<w3$}  {:<w4$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4]
        );
    }
}
