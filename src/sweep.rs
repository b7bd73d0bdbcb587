//! `orgsim sweep` and `orgsim sweep-merge`: many seeds of one scenario, in parallel
//! across runs (each run owns a madsim runtime on its own OS thread; never threads inside
//! a run), split into shards for CI machines that do not talk to each other.

use indicatif::{ProgressBar, ProgressStyle};
use org::planted_bugs::Plants;
use serde::{Deserialize, Serialize};
use sim::resolve::Resolved;
use sim::world::{run, RunOutcome};
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Seeds `A..B`, both included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedRange {
    /// First seed.
    pub first: u64,
    /// Last seed.
    pub last: u64,
}

impl FromStr for SeedRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let expected = || format!("expected seeds as A..B (both included, A <= B), found {s:?}");
        let (a, b) = s.split_once("..").ok_or_else(expected)?;
        let (first, last) = (a.parse().map_err(|_| expected())?, b.parse().map_err(|_| expected())?);
        if first > last {
            return Err(expected());
        }
        Ok(SeedRange { first, last })
    }
}

/// Shard `I/N`: every N-th seed starting at offset I (0 ≤ I < N).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Offset, from 0.
    pub index: u64,
    /// Number of shards.
    pub count: u64,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let expected = || format!("expected a shard as I/N with 0 <= I < N (e.g. 0/4), found {s:?}");
        let (i, n) = s.split_once('/').ok_or_else(expected)?;
        let (index, count): (u64, u64) = (i.parse().map_err(|_| expected())?, n.parse().map_err(|_| expected())?);
        if count == 0 || index >= count {
            return Err(expected());
        }
        Ok(Shard { index, count })
    }
}

/// The seeds of a range that belong to a shard.
pub fn seeds(range: SeedRange, shard: Option<Shard>) -> Vec<u64> {
    (range.first..=range.last).filter(|seed| shard.is_none_or(|s| (seed - range.first) % s.count == s.index)).collect()
}

/// Worker threads to use: `--jobs`, or every core.
pub fn jobs(requested: Option<usize>) -> usize {
    requested.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1)
}

/// Runs `f` over `items` on `jobs` threads; results in the order of `items`.
/// `done(i, &result)` is called as each finishes.
pub fn parallel<I: Sync, T: Send>(
    jobs: usize,
    items: &[I],
    f: impl Fn(&I) -> T + Sync,
    done: impl Fn(usize, &T) + Sync,
) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(items.len()).max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { return };
                let result = f(item);
                done(i, &result);
                results.lock().expect("no worker panics while holding it")[i] = Some(result);
            });
        }
    });
    results.into_inner().expect("workers are done").into_iter().map(|r| r.expect("every item ran")).collect()
}

/// A failing seed in a sweep summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailedSeed {
    /// The seed.
    pub seed: u64,
    /// Names of the checks that failed.
    pub checks: Vec<String>,
    /// The command that replays it.
    pub command: String,
}

/// A sweep's result (`--json`), which `sweep-merge` combines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSummary {
    /// Scenario name.
    pub scenario: String,
    /// Scenario file.
    pub file: String,
    /// Seed range swept.
    pub seeds: SeedRange,
    /// The shard, if any.
    pub shard: Option<Shard>,
    /// Planted bugs switched on.
    pub plants: Vec<String>,
    /// Runs made.
    pub runs: u64,
    /// Runs whose checks all held.
    pub passed: u64,
    /// The failing seeds, by seed.
    pub failed: Vec<FailedSeed>,
}

/// The command that reproduces one run.
pub fn replay_command(file: &str, seed: u64, plants: Plants) -> String {
    let mut command = format!("orgsim run {file} --seed {seed}");
    for bug in plants.list() {
        command.push_str(&format!(" --plant {}", bug.name()));
    }
    command
}

/// Runs seeds of one scenario; returns the outcomes in seed order.
pub fn sweep_outcomes(resolved: &Arc<Resolved>, seeds: &[u64], jobs: usize, quiet: bool) -> Vec<RunOutcome> {
    let total = seeds.len() as u64;
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} [{bar:40}] {pos}/{len} seeds, {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_message("0 failed");
        bar
    });
    let finished = AtomicUsize::new(0);
    let failures = AtomicUsize::new(0);
    let step = (total / 10).max(1);
    parallel(
        jobs,
        seeds,
        |seed| run(resolved.clone(), *seed, None),
        |_, outcome| {
            let n = finished.fetch_add(1, Ordering::Relaxed) as u64 + 1;
            let failed =
                failures.fetch_add(usize::from(!outcome.passed()), Ordering::Relaxed) + usize::from(!outcome.passed());
            match &bar {
                Some(bar) => {
                    bar.set_message(format!("{failed} failed"));
                    bar.inc(1);
                }
                None if !quiet && (n % step == 0 || n == total) => {
                    eprintln!("sweep: {n}/{total} seeds, {failed} failed")
                }
                None => {}
            }
        },
    )
}

/// `orgsim sweep`.
pub fn sweep_command(
    resolved: Resolved,
    range: SeedRange,
    shard: Option<Shard>,
    jobs_requested: Option<usize>,
    json: bool,
    plants: Plants,
) -> ExitCode {
    let resolved = Arc::new(resolved.with_plants(plants));
    let seeds = seeds(range, shard);
    let jobs = jobs(jobs_requested);
    let wall = std::time::Instant::now();
    let outcomes = sweep_outcomes(&resolved, &seeds, jobs, json);
    let failed: Vec<FailedSeed> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| FailedSeed {
            seed: o.seed,
            checks: o.checks.iter().filter(|c| !c.ok).map(|c| c.name.clone()).collect(),
            command: replay_command(&resolved.file, o.seed, plants),
        })
        .collect();
    let summary = SweepSummary {
        scenario: resolved.scenario.name.clone(),
        file: resolved.file.clone(),
        seeds: range,
        shard,
        plants: plants.list().iter().map(|b| b.name().to_string()).collect(),
        runs: outcomes.len() as u64,
        passed: outcomes.iter().filter(|o| o.passed()).count() as u64,
        failed,
    };
    if json {
        println!("{}", serde_json::to_string(&summary).expect("summaries serialize"));
    } else {
        for (f, o) in summary.failed.iter().zip(outcomes.iter().filter(|o| !o.passed())) {
            let details: Vec<String> =
                o.checks.iter().filter(|c| !c.ok).map(|c| format!("{} ({})", c.name, c.detail)).collect();
            println!("seed {}: FAIL {}", f.seed, details.join("; "));
            println!("  replay: {}", f.command);
        }
        let shard_text = shard.map_or(String::new(), |s| format!(", shard {}/{}", s.index, s.count));
        println!(
            "{}: {} seed(s) from {}..{}{shard_text} on {jobs} thread(s) in {:.1} s: {} passed, {} failed",
            summary.scenario,
            summary.runs,
            range.first,
            range.last,
            wall.elapsed().as_secs_f64(),
            summary.passed,
            summary.failed.len()
        );
    }
    if summary.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `orgsim sweep-merge`: one summary from the `--json` outputs of several shards.
pub fn merge_command(files: &[std::path::PathBuf], json: bool) -> ExitCode {
    let mut summaries = Vec::new();
    for file in files {
        match read_summary(file) {
            Ok(s) => summaries.push(s),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        }
    }
    match merge(summaries) {
        Ok(merged) => {
            if json {
                println!("{}", serde_json::to_string(&merged).expect("summaries serialize"));
            } else {
                for f in &merged.failed {
                    println!("seed {}: FAIL {}\n  replay: {}", f.seed, f.checks.join(", "), f.command);
                }
                println!(
                    "{}: {} run(s) merged from {} file(s): {} passed, {} failed",
                    merged.scenario,
                    merged.runs,
                    files.len(),
                    merged.passed,
                    merged.failed.len()
                );
            }
            if merged.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("orgsim sweep-merge: {e}");
            ExitCode::from(2)
        }
    }
}

fn read_summary(file: &Path) -> Result<SweepSummary, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    serde_json::from_str(text.trim()).map_err(|e| {
        format!(
            "{}:{}:{}: expected the JSON printed by `orgsim sweep --json`: {e}",
            file.display(),
            e.line(),
            e.column()
        )
    })
}

/// Merges shard summaries of the same sweep.
pub fn merge(summaries: Vec<SweepSummary>) -> Result<SweepSummary, String> {
    let mut shards = Vec::new();
    for s in &summaries {
        match s.shard {
            Some(shard) => shards.push(shard),
            None if summaries.len() > 1 => return Err("a summary without --shard cannot be merged with others".into()),
            None => {}
        }
    }
    if let Some(count) = shards.first().map(|s| s.count) {
        if shards.iter().any(|s| s.count != count) {
            return Err("the summaries come from different shard counts".into());
        }
        let mut indexes: Vec<u64> = shards.iter().map(|s| s.index).collect();
        indexes.sort_unstable();
        if let Some(w) = indexes.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("shard {}/{count} appears twice", w[0]));
        }
        let missing: Vec<String> =
            (0..count).filter(|i| !indexes.contains(i)).map(|i| format!("{i}/{count}")).collect();
        if !missing.is_empty() {
            return Err(format!("incomplete sweep: shard(s) {} missing", missing.join(", ")));
        }
    }
    let mut iter = summaries.into_iter();
    let mut merged = iter.next().ok_or("no summaries to merge")?;
    merged.shard = None;
    for s in iter {
        if (&s.scenario, &s.file, &s.plants) != (&merged.scenario, &merged.file, &merged.plants) {
            return Err(format!(
                "summaries of different sweeps: {} ({}, plants {:?}) and {} ({}, plants {:?})",
                merged.scenario, merged.file, merged.plants, s.scenario, s.file, s.plants
            ));
        }
        merged.seeds.first = merged.seeds.first.min(s.seeds.first);
        merged.seeds.last = merged.seeds.last.max(s.seeds.last);
        merged.runs += s.runs;
        merged.passed += s.passed;
        merged.failed.extend(s.failed);
    }
    merged.failed.sort_by_key(|f| f.seed);
    if let Some(w) = merged.failed.windows(2).find(|w| w[0].seed == w[1].seed) {
        return Err(format!("seed {} appears in two summaries: overlapping shards", w[0].seed));
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_range() {
        let range: SeedRange = "3..12".parse().unwrap();
        let all: Vec<u64> = (0..4).flat_map(|i| seeds(range, Some(Shard { index: i, count: 4 }))).collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (3..=12).collect::<Vec<_>>());
        assert_eq!(seeds(range, Some("1/4".parse().unwrap())), vec![4, 8, 12]);
        for bad in ["4/4", "1/0", "x/2", "3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        for bad in ["5..3", "1-4", "..4"] {
            assert!(bad.parse::<SeedRange>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parallel_keeps_order() {
        let items: Vec<u64> = (0..50).collect();
        let out = parallel(3, &items, |x| x * 2, |_, _| {});
        assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn merge_sums_and_refuses_overlaps() {
        let summary = |first, last, failed: &[u64]| SweepSummary {
            scenario: "s".into(),
            file: "f".into(),
            seeds: SeedRange { first, last },
            shard: Some(Shard { index: u64::from(first != 1), count: 2 }),
            plants: vec![],
            runs: last - first + 1,
            passed: last - first + 1 - failed.len() as u64,
            failed: failed
                .iter()
                .map(|&seed| FailedSeed { seed, checks: vec!["x".into()], command: "c".into() })
                .collect(),
        };
        let m = merge(vec![summary(1, 5, &[4]), summary(6, 10, &[7, 9])]).unwrap();
        assert_eq!((m.runs, m.passed, m.seeds), (10, 7, SeedRange { first: 1, last: 10 }));
        assert_eq!(m.failed.iter().map(|f| f.seed).collect::<Vec<_>>(), vec![4, 7, 9]);
        assert_eq!(merge(vec![summary(1, 5, &[]), summary(1, 5, &[])]).unwrap_err(), "shard 0/2 appears twice");
        assert_eq!(merge(vec![summary(6, 10, &[])]).unwrap_err(), "incomplete sweep: shard(s) 0/2 missing");
    }
}
