//! `orgsim sweep` and `orgsim sweep-merge`: many seeds of one scenario, in parallel
//! across runs (each run owns a madsim runtime on its own OS thread; never threads inside
//! a run), split into shards for CI machines that do not talk to each other.
//!
//! Determinism at scale: a summary carries every seed's trace digest, so `sweep-merge`
//! compares a shard run on two machines seed by seed; `--recheck P` reruns P % of the
//! seeds in the same sweep and fails on any digest that changed (FoundationDB reruns a
//! share of its simulations the same way). Sometimes properties are judged here: a sweep
//! fails when one of the scenario's was reached at no seed.

use indicatif::{ProgressBar, ProgressStyle};
use org::planted_bugs::Plants;
use serde::{Deserialize, Serialize};
use sim::resolve::Resolved;
use sim::world::{run, RunOutcome};
use std::collections::{BTreeMap, BTreeSet};
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

/// One seed's trace digest: the identity of its run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedDigest {
    /// The seed.
    pub seed: u64,
    /// SHA-256 of its trace.
    pub trace_sha256: String,
}

/// A seed whose two runs gave different traces: the simulation is not deterministic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestMismatch {
    /// The seed.
    pub seed: u64,
    /// The first run's trace digest.
    pub first: String,
    /// The other run's.
    pub second: String,
}

/// How many seeds of a sweep reached one sometimes property.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SometimesTally {
    /// The property.
    pub name: String,
    /// Seeds at which it happened at least once.
    pub seeds_hit: u64,
}

/// A sweep's result (`--json`), which `sweep-merge` combines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSummary {
    /// orgsim's version and trace format: runs of other versions have other digests.
    pub version: String,
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
    /// Every seed's trace digest, by seed.
    pub digests: Vec<SeedDigest>,
    /// Seeds run a second time (`--recheck`).
    pub rechecked: Vec<u64>,
    /// Seeds whose two runs differed, here or (after a merge) across machines.
    pub mismatches: Vec<DigestMismatch>,
    /// Per sometimes property of the scenario, the seeds that reached it.
    pub sometimes: Vec<SometimesTally>,
}

impl SweepSummary {
    /// The sometimes properties no seed reached.
    pub fn never_reached(&self) -> Vec<&str> {
        self.sometimes.iter().filter(|t| t.seeds_hit == 0).map(|t| t.name.as_str()).collect()
    }
}

/// The version a summary records.
pub fn summary_version() -> String {
    format!("orgsim {} trace format {}", env!("CARGO_PKG_VERSION"), sim::trace::TRACE_FORMAT)
}

/// Whether `--recheck percent` reruns `seed`: chosen by a hash of the seed alone, so a
/// seed is rechecked whatever the shard it falls in.
pub fn rechecks(seed: u64, percent: f64) -> bool {
    // splitmix64: a fixed, well-mixed hash of the seed.
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    ((z % 1_000_000) as f64) < percent * 10_000.0
}

/// The seeds `--recheck percent` reruns: those `rechecks` picks, or the first seed when it
/// picks none (a recheck always reruns something).
pub fn recheck_seeds(seeds: &[u64], percent: f64) -> Vec<u64> {
    if percent <= 0.0 {
        return Vec::new();
    }
    let picked: Vec<u64> = seeds.iter().copied().filter(|s| rechecks(*s, percent)).collect();
    if picked.is_empty() {
        seeds.first().copied().into_iter().collect()
    } else {
        picked
    }
}

/// A `--recheck` share: a percentage above 0 and at most 100.
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let value: f64 =
        text.trim_end_matches('%').parse().map_err(|_| format!("expected a percentage like 5, found {text:?}"))?;
    if !(value > 0.0 && value <= 100.0) {
        return Err(format!("expected a percentage above 0 and at most 100, found {text:?}"));
    }
    Ok(value)
}

/// The command that reproduces one run.
pub fn replay_command(file: &str, seed: u64, plants: Plants) -> String {
    let mut command = format!("orgsim run {file} --seed {seed}");
    for bug in plants.list() {
        command.push_str(&format!(" --plant {}", bug.name()));
    }
    command
}

/// Progress of a long parallel job on stderr: a bar on a terminal, else a line every
/// tenth of the way (CI logs).
pub struct Progress {
    bar: Option<ProgressBar>,
    command: &'static str,
    what: &'static str,
    label: &'static str,
    total: u64,
    finished: AtomicUsize,
    failures: AtomicUsize,
    quiet: bool,
}

impl Progress {
    /// `total` items, shown as "{command}: {n}/{total} {what}, {k} {label}".
    pub fn new(command: &'static str, total: usize, what: &'static str, label: &'static str, quiet: bool) -> Progress {
        let total = total as u64;
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(total);
            let template = format!("{{spinner}} {{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {what}, {{msg}}");
            bar.set_style(ProgressStyle::with_template(&template).expect("a valid template").progress_chars("=> "));
            bar.set_message(format!("0 {label}"));
            bar
        });
        Progress {
            bar,
            command,
            what,
            label,
            total,
            finished: AtomicUsize::new(0),
            failures: AtomicUsize::new(0),
            quiet,
        }
    }

    /// One item finished; `counted` if it counts under the label.
    pub fn tick(&self, counted: bool) {
        let n = self.finished.fetch_add(1, Ordering::Relaxed) as u64 + 1;
        let k = self.failures.fetch_add(usize::from(counted), Ordering::Relaxed) + usize::from(counted);
        let step = (self.total / 10).max(1);
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{k} {}", self.label));
                bar.inc(1);
            }
            None if !self.quiet && (n % step == 0 || n == self.total) => {
                eprintln!("{}: {n}/{} {}, {k} {}", self.command, self.total, self.what, self.label)
            }
            None => {}
        }
    }
}

/// Runs seeds of one scenario; returns the outcomes in seed order.
pub fn sweep_outcomes(resolved: &Arc<Resolved>, seeds: &[u64], jobs: usize, quiet: bool) -> Vec<RunOutcome> {
    let progress = Progress::new("sweep", seeds.len(), "seeds", "failed", quiet);
    parallel(jobs, seeds, |seed| run(resolved.clone(), *seed, None), |_, outcome| progress.tick(!outcome.passed()))
}

/// What `orgsim sweep` is asked to do.
pub struct SweepOptions {
    /// Seeds A..B.
    pub range: SeedRange,
    /// Only this shard of them.
    pub shard: Option<Shard>,
    /// Worker threads.
    pub jobs: Option<usize>,
    /// Print the JSON summary.
    pub json: bool,
    /// Planted bugs switched on.
    pub plants: Plants,
    /// Percentage of seeds to run twice.
    pub recheck: Option<f64>,
    /// Where to write the summary page and the reports it links to.
    pub report: Option<std::path::PathBuf>,
}

/// The summary of a sweep's runs (and of the reruns of `recheck`).
fn summarize(
    resolved: &Resolved,
    options: &SweepOptions,
    outcomes: &[RunOutcome],
    reruns: &[RunOutcome],
) -> SweepSummary {
    let failed = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| FailedSeed {
            seed: o.seed,
            checks: o.checks.iter().filter(|c| !c.ok).map(|c| c.name.clone()).collect(),
            command: replay_command(&resolved.file, o.seed, options.plants),
        })
        .collect();
    let digest_of = |seed: u64| outcomes.iter().find(|o| o.seed == seed).map(|o| o.trace_sha256.clone());
    let mismatches = reruns
        .iter()
        .filter_map(|r| {
            let first = digest_of(r.seed).expect("a rerun is of a seed run");
            (first != r.trace_sha256).then(|| DigestMismatch { seed: r.seed, first, second: r.trace_sha256.clone() })
        })
        .collect();
    let sometimes = resolved
        .scenario
        .checks
        .sometimes
        .iter()
        .enumerate()
        .map(|(i, p)| SometimesTally {
            name: p.name().into(),
            seeds_hit: outcomes.iter().filter(|o| o.sometimes.get(i).is_some_and(|r| r.hits > 0)).count() as u64,
        })
        .collect();
    SweepSummary {
        version: summary_version(),
        scenario: resolved.scenario.name.clone(),
        file: resolved.file.clone(),
        seeds: options.range,
        shard: options.shard,
        plants: options.plants.list().iter().map(|b| b.name().to_string()).collect(),
        runs: outcomes.len() as u64,
        passed: outcomes.iter().filter(|o| o.passed()).count() as u64,
        failed,
        digests: outcomes.iter().map(|o| SeedDigest { seed: o.seed, trace_sha256: o.trace_sha256.clone() }).collect(),
        rechecked: reruns.iter().map(|r| r.seed).collect(),
        mismatches,
        sometimes,
    }
}

/// `orgsim sweep`.
pub fn sweep_command(resolved: Resolved, options: SweepOptions) -> ExitCode {
    let resolved = Arc::new(resolved.with_plants(options.plants));
    let seeds = seeds(options.range, options.shard);
    let jobs = jobs(options.jobs);
    let wall = std::time::Instant::now();
    let outcomes = sweep_outcomes(&resolved, &seeds, jobs, options.json);
    // Reruns go in a second pass, on whichever thread is free: a trace that depends on
    // the thread, the time or the process shows as a changed digest.
    let again = options.recheck.map_or(Vec::new(), |p| recheck_seeds(&seeds, p));
    let reruns = parallel(jobs, &again, |seed| run(resolved.clone(), *seed, None), |_, _| {});
    let summary = summarize(&resolved, &options, &outcomes, &reruns);
    // A shard's seeds are a sample: whether a property was never reached is judged on the
    // merged sweep.
    let unreached = if options.shard.is_some() { Vec::new() } else { summary.never_reached() };
    if options.json {
        println!("{}", serde_json::to_string(&summary).expect("summaries serialize"));
    } else {
        print_sweep(&summary, &outcomes, jobs, wall.elapsed().as_secs_f64());
    }
    if let Some(dir) = &options.report {
        match crate::sweep_report::write(&resolved, &options, &outcomes, jobs, dir) {
            // With --json, stdout holds only the JSON object.
            Ok(page) if options.json => eprintln!("sweep report: {}", page.display()),
            Ok(page) => println!("sweep report: {}", page.display()),
            Err(e) => {
                eprintln!("orgsim sweep: the report in {}: {e}", dir.display());
                return ExitCode::from(2);
            }
        }
    }
    if summary.failed.is_empty() && summary.mismatches.is_empty() && unreached.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_sweep(summary: &SweepSummary, outcomes: &[RunOutcome], jobs: usize, wall_s: f64) {
    for (f, o) in summary.failed.iter().zip(outcomes.iter().filter(|o| !o.passed())) {
        let details: Vec<String> =
            o.checks.iter().filter(|c| !c.ok).map(|c| format!("{} ({})", c.name, c.detail)).collect();
        println!("seed {}: FAIL {}", f.seed, details.join("; "));
        println!("  replay: {}", f.command);
    }
    print_determinism(summary);
    print_sometimes(summary);
    let range = summary.seeds;
    let shard_text = summary.shard.map_or(String::new(), |s| format!(", shard {}/{}", s.index, s.count));
    println!(
        "{}: {} seed(s) from {}..{}{shard_text} on {jobs} thread(s) in {wall_s:.1} s: {} passed, {} failed",
        summary.scenario,
        summary.runs,
        range.first,
        range.last,
        summary.passed,
        summary.failed.len()
    );
}

/// The recheck's verdict and every seed whose runs differed.
fn print_determinism(summary: &SweepSummary) {
    for m in &summary.mismatches {
        println!(
            "seed {}: NOT DETERMINISTIC: two runs gave traces {} and {}; compare them with `orgsim run {} --seed {} --trace A` twice and `orgsim diff A B`",
            m.seed, m.first, m.second, summary.file, m.seed
        );
    }
    if !summary.rechecked.is_empty() {
        let verdict = if summary.mismatches.is_empty() {
            "every trace identical".to_string()
        } else {
            format!("{} differed", summary.mismatches.len())
        };
        println!("rechecked {} seed(s) by running them again: {verdict}", summary.rechecked.len());
    }
}

/// How many seeds reached each sometimes property.
fn print_sometimes(summary: &SweepSummary) {
    if summary.sometimes.is_empty() {
        return;
    }
    let listed: Vec<String> =
        summary.sometimes.iter().map(|t| format!("{} {}/{}", t.name, t.seeds_hit, summary.runs)).collect();
    println!("sometimes (seeds that reached each): {}", listed.join(", "));
    let unreached = summary.never_reached();
    if !unreached.is_empty() {
        let judged = if summary.shard.is_some() { " in this shard (judged when the shards are merged)" } else { "" };
        println!(
            "NEVER REACHED{judged}: {}: the weather does not explore what the scenario says",
            unreached.join(", ")
        );
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
    let (merged, compared) = match merge(summaries) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("orgsim sweep-merge: {e}");
            return ExitCode::from(2);
        }
    };
    if json {
        println!("{}", serde_json::to_string(&merged).expect("summaries serialize"));
    } else {
        for f in &merged.failed {
            println!("seed {}: FAIL {}\n  replay: {}", f.seed, f.checks.join(", "), f.command);
        }
        for line in &compared {
            println!("{line}");
        }
        print_determinism(&merged);
        print_sometimes(&merged);
        println!(
            "{}: {} run(s) merged from {} file(s): {} passed, {} failed",
            merged.scenario,
            merged.runs,
            files.len(),
            merged.passed,
            merged.failed.len()
        );
    }
    if merged.failed.is_empty() && merged.mismatches.is_empty() && merged.never_reached().is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn read_summary(file: &Path) -> Result<SweepSummary, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    serde_json::from_str(text.trim()).map_err(|e| {
        format!(
            "{}:{}:{}: expected the JSON printed by `orgsim sweep --json` of this version: {e}",
            file.display(),
            e.line(),
            e.column()
        )
    })
}

/// Checks that summaries come from one sweep: one version, scenario, seed range, plants
/// and shard count (or none sharded).
fn same_sweep(summaries: &[SweepSummary]) -> Result<(), String> {
    let first = summaries.first().ok_or("no summaries to merge")?;
    let key = |s: &SweepSummary| (s.version.clone(), s.scenario.clone(), s.file.clone(), s.plants.clone(), s.seeds);
    for s in &summaries[1..] {
        if key(s) != key(first) {
            return Err(format!(
                "summaries of different sweeps: {} {} seeds {}..{} plants {:?} ({}) and {} {} seeds {}..{} plants {:?} ({})",
                first.scenario, first.file, first.seeds.first, first.seeds.last, first.plants, first.version,
                s.scenario, s.file, s.seeds.first, s.seeds.last, s.plants, s.version
            ));
        }
        match (first.shard, s.shard) {
            (Some(a), Some(b)) if a.count != b.count => {
                return Err("the summaries come from different shard counts".into())
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err("a summary without --shard cannot be merged with sharded ones".into())
            }
            _ => {}
        }
    }
    if let Some(count) = first.shard.map(|s| s.count) {
        let present: BTreeSet<u64> = summaries.iter().filter_map(|s| s.shard).map(|s| s.index).collect();
        let missing: Vec<String> =
            (0..count).filter(|i| !present.contains(i)).map(|i| format!("{i}/{count}")).collect();
        if !missing.is_empty() {
            return Err(format!("incomplete sweep: shard(s) {} missing", missing.join(", ")));
        }
    }
    Ok(())
}

/// Merges the summaries of one sweep. A shard given more than once (run on two machines,
/// or twice on one) is compared seed by seed: every digest that differs is a mismatch,
/// and the lines returned say what was compared.
pub fn merge(summaries: Vec<SweepSummary>) -> Result<(SweepSummary, Vec<String>), String> {
    same_sweep(&summaries)?;
    let mut by_shard: BTreeMap<Option<u64>, Vec<&SweepSummary>> = BTreeMap::new();
    for s in &summaries {
        by_shard.entry(s.shard.map(|s| s.index)).or_default().push(s);
    }
    let mut merged = SweepSummary {
        shard: None,
        runs: 0,
        passed: 0,
        failed: Vec::new(),
        digests: Vec::new(),
        rechecked: Vec::new(),
        mismatches: Vec::new(),
        sometimes: summaries[0]
            .sometimes
            .iter()
            .map(|t| SometimesTally { name: t.name.clone(), seeds_hit: 0 })
            .collect(),
        ..summaries[0].clone()
    };
    let mut compared = Vec::new();
    for group in by_shard.into_values() {
        let base = group[0];
        for other in &group[1..] {
            let seeds = |s: &SweepSummary| s.digests.iter().map(|d| d.seed).collect::<Vec<_>>();
            if seeds(other) != seeds(base) {
                return Err(format!("{} ran twice over different seeds", shard_name(base)));
            }
            let differ: Vec<DigestMismatch> = base
                .digests
                .iter()
                .zip(&other.digests)
                .filter(|(a, b)| a.trace_sha256 != b.trace_sha256)
                .map(|(a, b)| DigestMismatch {
                    seed: a.seed,
                    first: a.trace_sha256.clone(),
                    second: b.trace_sha256.clone(),
                })
                .collect();
            compared.push(format!(
                "{} ran twice: {} seed(s) compared, {}",
                shard_name(base),
                base.digests.len(),
                if differ.is_empty() {
                    "every trace identical".to_string()
                } else {
                    format!("{} differ", differ.len())
                }
            ));
            merged.mismatches.extend(differ);
        }
        for s in &group {
            merged.mismatches.extend(s.mismatches.iter().cloned());
            merged.rechecked.extend(s.rechecked.iter().copied());
        }
        merged.runs += base.runs;
        merged.passed += base.passed;
        merged.failed.extend(base.failed.iter().cloned());
        merged.digests.extend(base.digests.iter().cloned());
        for (total, t) in merged.sometimes.iter_mut().zip(&base.sometimes) {
            total.seeds_hit += t.seeds_hit;
        }
    }
    merged.failed.sort_by_key(|f| f.seed);
    merged.digests.sort_by_key(|d| d.seed);
    merged.mismatches.sort_by_key(|m| m.seed);
    merged.mismatches.dedup();
    merged.rechecked.sort_unstable();
    merged.rechecked.dedup();
    if let Some(w) = merged.digests.windows(2).find(|w| w[0].seed == w[1].seed) {
        return Err(format!("seed {} appears in two shards: overlapping shards", w[0].seed));
    }
    Ok((merged, compared))
}

fn shard_name(s: &SweepSummary) -> String {
    s.shard.map_or("the sweep".to_string(), |s| format!("shard {}/{}", s.index, s.count))
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

    fn summary(index: u64, first: u64, last: u64, failed: &[u64]) -> SweepSummary {
        let seeds: Vec<u64> =
            (1..=10).filter(|s| (s - 1) % 2 == index).filter(|s| (first..=last).contains(s)).collect();
        SweepSummary {
            version: summary_version(),
            scenario: "s".into(),
            file: "f".into(),
            seeds: SeedRange { first: 1, last: 10 },
            shard: Some(Shard { index, count: 2 }),
            plants: vec![],
            runs: seeds.len() as u64,
            passed: seeds.len() as u64 - failed.len() as u64,
            failed: failed
                .iter()
                .map(|&seed| FailedSeed { seed, checks: vec!["x".into()], command: "c".into() })
                .collect(),
            digests: seeds.iter().map(|&seed| SeedDigest { seed, trace_sha256: format!("d{seed}") }).collect(),
            rechecked: vec![],
            mismatches: vec![],
            sometimes: vec![SometimesTally { name: "rerouted".into(), seeds_hit: u64::from(index == 1) }],
        }
    }

    #[test]
    fn merge_sums_compares_shards_run_twice_and_refuses_gaps() {
        let (m, compared) = merge(vec![summary(0, 1, 10, &[3]), summary(1, 1, 10, &[4, 8])]).unwrap();
        assert_eq!((m.runs, m.passed, m.seeds), (10, 7, SeedRange { first: 1, last: 10 }));
        assert_eq!(m.failed.iter().map(|f| f.seed).collect::<Vec<_>>(), vec![3, 4, 8]);
        assert_eq!(m.digests.len(), 10);
        assert_eq!(m.sometimes[0].seeds_hit, 1);
        assert!(compared.is_empty() && m.mismatches.is_empty());
        // Shard 1/2 from a second machine: the same digests but one.
        let mut again = summary(1, 1, 10, &[4, 8]);
        again.digests[2].trace_sha256 = "other".into();
        let (m, compared) = merge(vec![summary(0, 1, 10, &[3]), summary(1, 1, 10, &[4, 8]), again]).unwrap();
        assert_eq!(m.runs, 10, "a shard run twice counts once");
        assert_eq!(m.mismatches, vec![DigestMismatch { seed: 6, first: "d6".into(), second: "other".into() }]);
        assert_eq!(compared, vec!["shard 1/2 ran twice: 5 seed(s) compared, 1 differ".to_string()]);
        assert_eq!(merge(vec![summary(1, 1, 10, &[])]).unwrap_err(), "incomplete sweep: shard(s) 0/2 missing");
        let mut other_version = summary(1, 1, 10, &[]);
        other_version.version = "orgsim 0.0.1 trace format 1".into();
        assert!(merge(vec![summary(0, 1, 10, &[]), other_version])
            .unwrap_err()
            .starts_with("summaries of different sweeps"));
    }

    #[test]
    fn rechecks_pick_a_share_of_seeds_by_seed_alone() {
        let seeds: Vec<u64> = (1..=2000).collect();
        let picked = recheck_seeds(&seeds, 5.0);
        assert!((70..=130).contains(&picked.len()), "about 5 %: {}", picked.len());
        let odd: Vec<u64> = seeds.iter().copied().filter(|s| s % 2 == 1).collect();
        let picked_odd = recheck_seeds(&odd, 5.0);
        assert_eq!(picked_odd, picked.iter().copied().filter(|s| s % 2 == 1).collect::<Vec<_>>(), "shard-independent");
        assert_eq!(recheck_seeds(&[7, 8], 0.001), vec![7], "at least one");
        assert_eq!(recheck_seeds(&seeds, 100.0).len(), 2000);
        for bad in ["0", "-1", "101", "five"] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_percent("5%"), Ok(5.0));
    }
}
