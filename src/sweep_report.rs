//! `orgsim sweep … --report DIR`: the sweep's summary page, the reports of its failing
//! seeds (each run again with its trace, `DIR/seed-N/`) and its worst seed set against
//! its best (`DIR/worst-vs-best/`). The reruns are the same runs: a trace whose digest
//! differs from the sweep's is a determinism failure, and the page is not written.

use crate::sweep::{parallel, replay_command, SweepOptions};
use reports::sweep_page::{write_sweep_page, SeedRow, SweepPage};
use sim::resolve::Resolved;
use sim::world::{run, RunOutcome};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Failing seeds given a report of their own, at most (the lowest).
const FAILING_REPORTS: usize = 10;

/// The figures of one run, as the page's columns.
const FIGURES: [&str; 7] =
    ["delivered", "NDR'd", "queued at the end", "relayed out", "link state messages", "link state kB", "trace records"];

fn figures(o: &RunOutcome) -> Vec<f64> {
    let m = &o.messages;
    [m.delivered, m.ndr, m.queued, m.relayed, o.link_state.updates, o.link_state.bytes / 1_000, o.events]
        .into_iter()
        .map(|v| v as f64)
        .collect()
}

/// Worst first: most failed checks, then most still queued, most NDR'd, fewest delivered,
/// lowest seed.
fn badness(o: &RunOutcome) -> (usize, u64, u64, std::cmp::Reverse<u64>, std::cmp::Reverse<u64>) {
    let failed = o.checks.iter().filter(|c| !c.ok).count();
    let m = &o.messages;
    (failed, m.queued, m.ndr, std::cmp::Reverse(m.delivered), std::cmp::Reverse(o.seed))
}

/// Writes the page and the reports it links to; returns the page's path.
pub fn write(
    resolved: &Arc<Resolved>,
    options: &SweepOptions,
    outcomes: &[RunOutcome],
    jobs: usize,
    dir: &Path,
) -> Result<PathBuf, String> {
    let failing: Vec<u64> = outcomes.iter().filter(|o| !o.passed()).map(|o| o.seed).take(FAILING_REPORTS).collect();
    let worst = outcomes.iter().max_by_key(|o| badness(o)).map(|o| o.seed);
    let best = outcomes.iter().min_by_key(|o| badness(o)).map(|o| o.seed);
    let pair = worst.zip(best).filter(|(w, b)| w != b);
    let mut traced: Vec<u64> = failing.clone();
    traced.extend(pair.iter().flat_map(|(w, b)| [*w, *b]));
    traced.sort_unstable();
    traced.dedup();
    let results = parallel(jobs, &traced, |seed| traced_report(resolved, *seed, dir), |_, _| {});
    for (seed, result) in traced.iter().zip(&results) {
        let digest = result.as_ref().map_err(Clone::clone)?;
        let first = outcomes.iter().find(|o| o.seed == *seed).map(|o| o.trace_sha256.as_str());
        if first != Some(digest.as_str()) {
            return Err(format!(
                "seed {seed} run again for its report gave another trace ({digest}): not deterministic"
            ));
        }
    }
    let comparison = match pair {
        Some((w, b)) => {
            let trace = |s: u64| dir.join(format!("seed-{s}")).join("trace.jsonl");
            reports::compare::write_comparison(&trace(w), &trace(b), &dir.join("worst-vs-best"))
                .map_err(|e| e.to_string())?;
            Some((w, b, "worst-vs-best/index.html".to_string()))
        }
        None => None,
    };
    let page = page(resolved, options, outcomes, &failing, comparison);
    write_sweep_page(&page, dir).map_err(|e| e.to_string())
}

fn page(
    resolved: &Resolved,
    options: &SweepOptions,
    outcomes: &[RunOutcome],
    failing: &[u64],
    comparison: Option<(u64, u64, String)>,
) -> SweepPage {
    let failed_total = outcomes.iter().filter(|o| !o.passed()).count();
    let mut notes = Vec::new();
    if failed_total > failing.len() {
        notes.push(format!(
            "{failed_total} seeds failed; the lowest {} have a report (replay the others with the command in their row).",
            failing.len()
        ));
    }
    let linked = |seed: u64| {
        let has = failing.contains(&seed) || comparison.as_ref().is_some_and(|(w, b, _)| *w == seed || *b == seed);
        has.then(|| format!("seed-{seed}/index.html"))
    };
    let rows = outcomes
        .iter()
        .map(|o| SeedRow {
            seed: o.seed,
            failed: o.checks.iter().filter(|c| !c.ok).map(|c| format!("{}: {}", c.name, c.detail)).collect(),
            digest: o.trace_sha256.clone(),
            values: figures(o),
            report: linked(o.seed),
        })
        .collect();
    SweepPage {
        scenario: resolved.scenario.name.clone(),
        file: resolved.file.clone(),
        plants: options.plants.list().iter().map(|b| b.name().to_string()).collect(),
        command: sweep_command_line(&resolved.file, options),
        figures: FIGURES.iter().map(|s| s.to_string()).collect(),
        rows,
        comparison,
        notes,
    }
}

/// `orgsim sweep FILE --seeds A..B [--shard I/N] [--plant P]…`.
fn sweep_command_line(file: &str, options: &SweepOptions) -> String {
    let range = options.range;
    let mut command = format!("orgsim sweep {file} --seeds {}..{}", range.first, range.last);
    if let Some(s) = options.shard {
        command.push_str(&format!(" --shard {}/{}", s.index, s.count));
    }
    // The plants, as `orgsim run` would take them.
    let run = replay_command(file, 0, options.plants);
    if let Some((_, plants)) = run.split_once(" --seed 0") {
        command.push_str(plants);
    }
    command
}

/// Runs `seed` again with its trace into `DIR/seed-N/` and writes its report there;
/// returns the trace's digest.
fn traced_report(resolved: &Arc<Resolved>, seed: u64, dir: &Path) -> Result<String, String> {
    let seed_dir = dir.join(format!("seed-{seed}"));
    std::fs::create_dir_all(&seed_dir).map_err(|e| format!("{}: {e}", seed_dir.display()))?;
    let path = seed_dir.join("trace.jsonl");
    let (atomic, file) = crate::AtomicFile::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let outcome = run(resolved.clone(), seed, Some(Box::new(BufWriter::with_capacity(1 << 20, file))));
    if let Some(e) = outcome.trace_error {
        atomic.abandon();
        return Err(format!("{}: {e}", path.display()));
    }
    atomic.commit().map_err(|e| format!("{}: {e}", path.display()))?;
    reports::write_report(&path, &seed_dir).map_err(|e| e.to_string())?;
    Ok(outcome.trace_sha256)
}
