//! `orgsim`: run, validate and benchmark Exchange 2003 organization scenarios.
//!
//! Exit codes: 0 every check held, 1 a check failed, 2 bad input (scenario file or
//! arguments) or an output that could not be written.

use clap::{Parser, Subcommand};
use org::planted_bugs::{PlantedBug, Plants};
use sim::resolve::{load_file, load_str, Resolved};
use sim::world::{run, RunOutcome};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

mod bench;
mod oab;
mod record;
mod repadmin;
mod routes;
mod score;
mod shrink;
mod smtp_listen;
mod sweep;
mod sweep_report;

#[derive(Parser)]
#[command(name = "orgsim", version, about = "Deterministic simulation testbed of an Exchange Server 2003 organization")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario at one seed: print a summary, write the trace and report.
    Run {
        /// Scenario file (JSON).
        scenario: PathBuf,
        /// Run seed; the same scenario and seed give a byte-identical trace.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write the trace (JSON Lines) here; with --report, DIR/trace.jsonl by default.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// Write index.html and the charts into this directory.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Print one JSON object instead of the human summary.
        #[arg(long)]
        json: bool,
        /// Switch a planted bug on (repeatable); `orgsim score --help` lists them.
        #[arg(long = "plant", value_name = "NAME", value_parser = parse_plant)]
        plants: Vec<PlantedBug>,
        /// Save a run record (scenario digest, seed, version, trace digest) for `orgsim replay`.
        #[arg(long)]
        record: Option<PathBuf>,
        /// Print the run's concrete timeline (fixed steps and this seed's weather).
        #[arg(long)]
        explain: bool,
    },
    /// Run one seed for `git bisect run`: exit 0 checks held, 1 a check failed, 125 cannot test.
    Check {
        /// Scenario file (JSON).
        scenario: PathBuf,
        /// Run seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Switch a planted bug on (repeatable).
        #[arg(long = "plant", value_name = "NAME", value_parser = parse_plant)]
        plants: Vec<PlantedBug>,
    },
    /// Rerun a recorded run; fail clearly if its trace differs.
    Replay {
        /// Run record written by `orgsim run --record`.
        record: PathBuf,
        /// Write the replayed trace here (to compare with `orgsim diff`).
        #[arg(long)]
        trace: Option<PathBuf>,
    },
    /// Run many seeds of a scenario in parallel; exit 1 if any failed.
    Sweep {
        /// Scenario file (JSON).
        scenario: PathBuf,
        /// Seeds A..B, both included.
        #[arg(long)]
        seeds: sweep::SeedRange,
        /// Worker threads (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Only every N-th seed from offset I (0 <= I < N), for N machines.
        #[arg(long)]
        shard: Option<sweep::Shard>,
        /// Print one JSON summary (what `sweep-merge` reads): results, every seed's trace
        /// digest, sometimes properties.
        #[arg(long)]
        json: bool,
        /// Switch a planted bug on (repeatable).
        #[arg(long = "plant", value_name = "NAME", value_parser = parse_plant)]
        plants: Vec<PlantedBug>,
        /// Run this percentage of the seeds a second time; fail if any trace differs.
        #[arg(long, value_name = "P", value_parser = sweep::parse_percent)]
        recheck: Option<f64>,
        /// Write a summary page here (pass or fail per seed, each figure across the
        /// seeds), with the reports of the failing seeds and the worst seed against the best.
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
    },
    /// Merge the `--json` summaries of a sweep's shards into one, comparing a shard given
    /// twice seed by seed; exit 1 if any seed failed or differed, or a sometimes property
    /// was never reached.
    SweepMerge {
        /// Summary files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print the merged summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Shrink a failing run to the fewest faults and the smallest load that still fail.
    Shrink {
        /// Scenario file (JSON).
        scenario: PathBuf,
        /// The failing seed.
        #[arg(long)]
        seed: u64,
        /// Where to write the shrunk scenario (default: NAME-shrunk-seed-N.json here).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Switch a planted bug on (repeatable).
        #[arg(long = "plant", value_name = "NAME", value_parser = parse_plant)]
        plants: Vec<PlantedBug>,
    },
    /// Find the earliest simulated time at which a failing safety check fails.
    BisectTime {
        /// Scenario file (JSON).
        scenario: PathBuf,
        /// The failing seed.
        #[arg(long)]
        seed: u64,
        /// Switch a planted bug on (repeatable).
        #[arg(long = "plant", value_name = "NAME", value_parser = parse_plant)]
        plants: Vec<PlantedBug>,
    },
    /// Run the scenarios against every planted bug: which checks catch which bug.
    #[command(after_help = planted_bugs_help())]
    Score {
        /// Seeds A..B to try, both included.
        #[arg(long, default_value = "1..3")]
        seeds: sweep::SeedRange,
        /// Scenario files (default: every scenarios/*.json).
        #[arg(long = "scenario")]
        scenarios: Vec<PathBuf>,
        /// Worker threads (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Print a JSON list instead of the table.
        #[arg(long)]
        json: bool,
        /// Skip shrinking the first failing run of each bug.
        #[arg(long)]
        no_shrink: bool,
    },
    /// A server's link state table at a moment of a run, and its route to every routing
    /// group (like WinRoute).
    Routes {
        /// Scenario file (JSON).
        scenario: PathBuf,
        /// Run seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The moment, from the run's start (e.g. 10h30m).
        #[arg(long, value_parser = sim::units::Duration::parse)]
        at: sim::units::Duration,
        /// Only this server (default: every server, one listing per distinct table).
        #[arg(long)]
        server: Option<String>,
        /// Switch a planted bug on (repeatable).
        #[arg(long = "plant", value_name = "NAME", value_parser = parse_plant)]
        plants: Vec<PlantedBug>,
    },
    /// Every domain controller's replication state at a moment of a run (like repadmin
    /// /showrepl and /showutdvec).
    Repadmin {
        /// Scenario file (JSON).
        scenario: PathBuf,
        /// Run seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The moment, from the run's start (e.g. 9h20m).
        #[arg(long, value_parser = sim::units::Duration::parse)]
        at: sim::units::Duration,
        /// Only this domain controller.
        #[arg(long)]
        dc: Option<String>,
        /// Switch a planted bug on (repeatable).
        #[arg(long = "plant", value_name = "NAME", value_parser = parse_plant)]
        plants: Vec<PlantedBug>,
    },
    /// The offline address book files the last generation before a moment produced:
    /// version 4 Full Details (uncompressed and compressed) and its patch.
    Oab {
        /// Scenario file (JSON).
        scenario: PathBuf,
        /// Run seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The moment, from the run's start (e.g. 2d6h).
        #[arg(long, value_parser = sim::units::Duration::parse)]
        at: sim::units::Duration,
        /// Directory to write into: one folder per offline address book.
        #[arg(long)]
        out: PathBuf,
        /// Switch a planted bug on (repeatable).
        #[arg(long = "plant", value_name = "NAME", value_parser = parse_plant)]
        plants: Vec<PlantedBug>,
    },
    /// Serve one inbound virtual server of the scenario's organization on a real TCP
    /// socket (127.0.0.1): the same session and filter chain as the simulation, with
    /// directory and DNS answers from the scenario, for swaks or smtplib to probe.
    SmtpListen {
        /// Scenario file (JSON).
        scenario: PathBuf,
        /// The Exchange server.
        #[arg(long)]
        server: String,
        /// Its inbound virtual server (the first one by default).
        #[arg(long)]
        virtual_server: Option<String>,
        /// Port on 127.0.0.1; 0 picks a free one (printed).
        #[arg(long)]
        port: u16,
        /// Judge every session as coming from this IP (the peer is always 127.0.0.1).
        #[arg(long)]
        client_ip: Option<std::net::Ipv4Addr>,
        /// Exit after serving this many sessions.
        #[arg(long)]
        max_sessions: Option<u64>,
        /// Drop a session idle this many seconds.
        #[arg(long, default_value_t = 60)]
        idle_timeout: u64,
    },
    /// Check a scenario file without running it.
    Validate {
        /// Scenario file (JSON).
        scenario: PathBuf,
    },
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Rebuild the HTML report and charts from a saved trace alone; given two traces,
    /// put the two runs side by side on the same axes.
    Report {
        /// Trace file (JSON Lines) written by `orgsim run`.
        trace: PathBuf,
        /// A second trace to compare the first with (needs --out).
        compare: Option<PathBuf>,
        /// Directory for index.html and the charts.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also export the trace in the Chrome/Perfetto trace-event format to this file.
        #[arg(long)]
        perfetto: Option<PathBuf>,
    },
    /// Show where two traces diverge (exit 0 identical, 1 different).
    Diff {
        /// First trace.
        a: PathBuf,
        /// Second trace.
        b: PathBuf,
    },
    /// Speed figures: a generated 10,000-user day, the bare madsim floor, sweep throughput.
    Bench {
        /// Users in the generated organization.
        #[arg(long, default_value_t = 10_000)]
        users: u32,
        /// Routing groups (a hub and spokes), two servers each.
        #[arg(long, default_value_t = 10)]
        routing_groups: u32,
        /// Run seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Seeds in the sweep-throughput part.
        #[arg(long, default_value_t = 8)]
        sweep_seeds: u64,
        /// Then one day for each of these mailbox counts (e.g. 25000,50000,100000,200000),
        /// each in a process of its own, as a table of wall time, events and peak RSS.
        #[arg(long, value_delimiter = ',', value_name = "USERS,...")]
        series: Vec<u32>,
        /// Run the day only and print its figures as one JSON line (what --series runs).
        #[arg(long, hide = true)]
        point: bool,
    },
}

/// mimalloc: see Cargo.toml for why and what it measured.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing into a closed pipe would panic; a command-line
    // tool should end quietly instead (`orgsim sweep … | head`).
    #[cfg(unix)]
    // SAFETY: setting a signal disposition to the default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Run { scenario, seed, trace, report, json, plants, record, explain } => {
            let options = RunOptions { trace, report, json, plants: plant_set(&plants), record, explain };
            run_command(&scenario, seed, options)
        }
        Command::Check { scenario, seed, plants } => check_command(&scenario, seed, plant_set(&plants)),
        Command::Replay { record, trace } => record::replay_command(&record, trace.as_deref()),
        Command::Sweep { scenario, seeds, jobs, shard, json, plants, recheck, report } => match load(&scenario) {
            Ok(resolved) => {
                if let Some(dir) = &report {
                    if let Err(code) = output_dir("--report", dir) {
                        return code;
                    }
                }
                let plants = plant_set(&plants);
                let options = sweep::SweepOptions { range: seeds, shard, jobs, json, plants, recheck, report };
                sweep::sweep_command(resolved, options)
            }
            Err(code) => code,
        },
        Command::SweepMerge { files, json } => sweep::merge_command(&files, json),
        Command::Shrink { scenario, seed, out, plants } => shrink_command(&scenario, seed, out, plant_set(&plants)),
        Command::BisectTime { scenario, seed, plants } => bisect_command(&scenario, seed, plant_set(&plants)),
        Command::Score { seeds, scenarios, jobs, json, no_shrink } => {
            score::score_command(seeds, scenarios, sweep::jobs(jobs), json, !no_shrink)
        }
        Command::Repadmin { scenario, seed, at, dc, plants } => {
            repadmin::repadmin_command(&scenario, seed, at, dc.as_deref(), plant_set(&plants))
        }
        Command::Routes { scenario, seed, at, server, plants } => {
            routes::routes_command(&scenario, seed, at, server.as_deref(), plant_set(&plants))
        }
        Command::Oab { scenario, seed, at, out, plants } => {
            oab::oab_command(&scenario, seed, at, &out, plant_set(&plants))
        }
        Command::SmtpListen { scenario, server, virtual_server, port, client_ip, max_sessions, idle_timeout } => {
            let resolved = match load(&scenario) {
                Ok(r) => r,
                Err(code) => return code,
            };
            let options = smtp_listen::ListenOptions {
                server: &server,
                virtual_server: virtual_server.as_deref(),
                port,
                client_ip,
                max_sessions,
                idle_timeout_s: idle_timeout,
            };
            smtp_listen::smtp_listen_command(&scenario, &resolved, &options)
        }
        Command::Validate { scenario } => match load(&scenario) {
            Ok(resolved) => {
                println!(
                    "{}: ok ({} servers, {} routing groups, {} connectors, {} mailboxes, {} timeline steps)",
                    scenario.display(),
                    resolved.topology.servers.len(),
                    resolved.topology.routing_groups.len(),
                    resolved.topology.connectors.len(),
                    resolved.topology.directory.mailbox_count(),
                    resolved.timeline.len()
                );
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Schema => {
            let schema = sim::scenario::json_schema();
            println!("{}", serde_json::to_string_pretty(&schema).expect("schemas serialize"));
            ExitCode::SUCCESS
        }
        Command::Bench { users, routing_groups, seed, sweep_seeds, series, point } => {
            bench::bench(&bench::BenchOptions { users, routing_groups, seed, sweep_seeds, series, point })
        }
        Command::Report { trace, compare: Some(b), out, perfetto } => {
            compare_command(&trace, &b, out.as_deref(), perfetto.is_some())
        }
        Command::Report { trace, compare: None, out, perfetto } => {
            report_command(&trace, out.as_deref(), perfetto.as_deref())
        }
        Command::Diff { a, b } => match reports::diff::diff_traces(&a, &b) {
            Ok(d) => {
                print!("{}", d.text);
                if d.first.is_none() && d.header.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("orgsim diff: {e}");
                ExitCode::from(2)
            }
        },
    }
}

/// The planted bugs, for `orgsim score --help`.
fn planted_bugs_help() -> String {
    format!("Planted bugs (--plant NAME on run, check, sweep, shrink, bisect-time):\n{}", PlantedBug::listing())
}

fn parse_plant(name: &str) -> Result<PlantedBug, String> {
    PlantedBug::parse(name).ok_or_else(|| {
        let names: Vec<&str> = PlantedBug::ALL.iter().map(|b| b.name()).collect();
        format!("no planted bug named {name:?}; known: {}", names.join(", "))
    })
}

fn plant_set(bugs: &[PlantedBug]) -> Plants {
    bugs.iter().fold(Plants::NONE, |set, bug| set.with(*bug))
}

/// `orgsim check`: one line, and an exit code `git bisect run` understands.
fn check_command(scenario: &Path, seed: u64, plants: Plants) -> ExitCode {
    let resolved = match load_file(&scenario.display().to_string()) {
        Ok(r) => Arc::new(r.with_plants(plants)),
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("orgsim check: cannot test this revision (exit 125 tells git bisect to skip it)");
            return ExitCode::from(125);
        }
    };
    let outcome = run(resolved, seed, None);
    let failed: Vec<String> =
        outcome.checks.iter().filter(|c| !c.ok).map(|c| format!("{} ({})", c.name, c.detail)).collect();
    if failed.is_empty() {
        println!("{} seed {seed}: ok, trace sha256 {}", outcome.scenario, outcome.trace_sha256);
        ExitCode::SUCCESS
    } else {
        println!("{} seed {seed}: FAIL {}", outcome.scenario, failed.join("; "));
        ExitCode::from(1)
    }
}

/// Reads a scenario file's text, after checking it (exit 2 on bad input).
fn scenario_text(path: &Path) -> Result<String, ExitCode> {
    load(path)?;
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("{}: cannot read: {e}", path.display());
        ExitCode::from(2)
    })
}

fn shrink_command(scenario: &Path, seed: u64, out: Option<PathBuf>, plants: Plants) -> ExitCode {
    let text = match scenario_text(scenario) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let file = scenario.display().to_string();
    let shrunk = match shrink::shrink(&file, &text, seed, plants) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("orgsim shrink: {e}");
            return ExitCode::from(2);
        }
    };
    let name = shrunk.scenario["name"].as_str().unwrap_or("scenario").to_string();
    let out = out.unwrap_or_else(|| PathBuf::from(format!("{name}-shrunk-seed-{seed}.json")));
    let text = serde_json::to_string_pretty(&shrunk.scenario).expect("values serialize") + "\n";
    if let Err(e) = reports::write_atomically(&out, text.as_bytes()) {
        return output_error("the shrunk scenario", &out, e);
    }
    println!("shrunk {file} at seed {seed}, keeping `{}` failing ({} runs):", shrunk.check, shrunk.runs);
    for change in &shrunk.changes {
        println!("  {change}");
    }
    println!("  faults: {} -> {}", shrunk.faults_before, shrunk.faults_after);
    if plants == Plants::NONE {
        println!("verified: the file written fails `{}` at seed {seed}", shrunk.check);
    } else {
        println!(
            "verified: the file written fails `{}` at seed {seed} with the planted bug and passes every check without it",
            shrunk.check
        );
    }
    println!("wrote {}", out.display());
    println!("reproduce with: {}", sweep::replay_command(&out.display().to_string(), seed, plants));
    ExitCode::SUCCESS
}

fn bisect_command(scenario: &Path, seed: u64, plants: Plants) -> ExitCode {
    let text = match scenario_text(scenario) {
        Ok(t) => t,
        Err(code) => return code,
    };
    match shrink::bisect_time(&scenario.display().to_string(), &text, seed, plants) {
        Ok(f) => {
            println!("{} first fails at {} ({} ms): {}", f.check, sim::units::Duration::from_ms(f.t_ms), f.t_ms, f.how);
            println!("  {}", f.detail);
            println!("events leading to it:");
            for line in &f.leading {
                println!("  {line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("orgsim bisect-time: {e}");
            ExitCode::from(2)
        }
    }
}

/// Loads a scenario, printing its errors (exit 2) if it has any.
fn load(path: &Path) -> Result<Resolved, ExitCode> {
    load_file(&path.display().to_string()).map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::from(2)
    })
}

/// Loads a scenario cut at `at` for a view of one moment of a run (`routes`, `repadmin`),
/// with `plants` on; an `at` after the end is bad input for `command`.
fn load_until(command: &str, path: &Path, at: sim::units::Duration, plants: Plants) -> Result<Resolved, ExitCode> {
    let mut resolved = load(path)?.with_plants(plants);
    if at.ms > resolved.duration_ms {
        eprintln!(
            "orgsim {command}: --at {at} is after the end of {} ({})",
            path.display(),
            sim::units::Duration::from_ms(resolved.duration_ms)
        );
        return Err(ExitCode::from(2));
    }
    resolved.duration_ms = at.ms;
    Ok(resolved)
}

/// Makes sure `dir` (given with `option`) is a directory to write into: created if
/// missing, refused if it is a file.
fn output_dir(option: &str, dir: &Path) -> Result<(), ExitCode> {
    if dir.exists() && !dir.is_dir() {
        eprintln!(
            "orgsim: {option} {} is a file, not a directory: name a directory for index.html and the charts",
            dir.display()
        );
        return Err(ExitCode::from(2));
    }
    std::fs::create_dir_all(dir).map_err(|e| output_error("the report directory", dir, e))
}

fn output_error(what: &str, path: &Path, error: impl std::fmt::Display) -> ExitCode {
    eprintln!("orgsim: cannot write {what} {}: {error}", path.display());
    ExitCode::from(2)
}

/// Writes to `path.tmp`, renamed into place once complete, so a failed run never leaves
/// a half-written file under the real name.
pub(crate) struct AtomicFile {
    tmp: PathBuf,
    path: PathBuf,
}

impl AtomicFile {
    pub(crate) fn create(path: &Path) -> std::io::Result<(AtomicFile, File)> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = File::create(&tmp)?;
        Ok((AtomicFile { tmp, path: path.to_path_buf() }, file))
    }

    pub(crate) fn commit(self) -> std::io::Result<()> {
        std::fs::rename(&self.tmp, &self.path)
    }

    pub(crate) fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Options of `orgsim run`.
struct RunOptions {
    trace: Option<PathBuf>,
    report: Option<PathBuf>,
    json: bool,
    plants: Plants,
    record: Option<PathBuf>,
    explain: bool,
}

fn run_command(scenario: &Path, seed: u64, options: RunOptions) -> ExitCode {
    let RunOptions { trace, report, json, plants, record, explain } = options;
    let resolved = match load(scenario) {
        Ok(r) => Arc::new(r.with_plants(plants)),
        Err(code) => return code,
    };
    if explain {
        let steps = resolved.timeline_for(seed);
        let mut text = format!("concrete timeline at seed {seed} ({} step(s)):\n", steps.len());
        for (step, source) in &steps {
            let action = serde_json::to_value(resolved.to_action(*step)).expect("actions serialize");
            let target = ["link", "connector", "server", "host", "dc"]
                .iter()
                .find_map(|k| action.get(*k))
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let source = serde_json::to_value(source).expect("sources serialize");
            let at = action["at"].as_str().unwrap_or("");
            let kind = action["kind"].as_str().unwrap_or("");
            text.push_str(&format!("  {at:>16}  {kind:<15} {target}  ({})\n", source.as_str().unwrap_or("")));
        }
        // With --json, stdout holds only the JSON object.
        if json {
            eprint!("{text}");
        } else {
            print!("{text}");
        }
    }
    if let Some(dir) = &report {
        if let Err(code) = output_dir("--report", dir) {
            return code;
        }
    }
    let trace_path = trace.or_else(|| report.as_ref().map(|d| d.join("trace.jsonl")));
    let mut pending = None;
    let writer: Option<Box<dyn Write + Send>> = match &trace_path {
        Some(path) => match AtomicFile::create(path) {
            Ok((atomic, file)) => {
                pending = Some(atomic);
                Some(Box::new(BufWriter::with_capacity(1 << 20, file)))
            }
            Err(e) => return output_error("the trace", path, e),
        },
        None => None,
    };
    let wall = std::time::Instant::now();
    let outcome = run(resolved.clone(), seed, writer);
    let wall_s = wall.elapsed().as_secs_f64();
    if let (Some(atomic), Some(path)) = (pending, &trace_path) {
        if let Some(e) = &outcome.trace_error {
            atomic.abandon();
            return output_error("the trace", path, e);
        }
        if let Err(e) = atomic.commit() {
            return output_error("the trace", path, e);
        }
    }
    let mut report_index = None;
    if let (Some(dir), Some(path)) = (&report, &trace_path) {
        match reports::write_report(path, dir) {
            Ok(index) => report_index = Some(index),
            Err(e) => return output_error("the report in", dir, e),
        }
    }
    if let Some(path) = &record {
        let written = record::RunRecord::of(scenario, &outcome, plants).and_then(|r| {
            let text = serde_json::to_string_pretty(&r).expect("records serialize");
            reports::write_atomically(path, text.as_bytes()).map_err(|e| std::io::Error::other(e.to_string()))
        });
        if let Err(e) = written {
            return output_error("the run record", path, e);
        }
    }
    if json {
        println!("{}", serde_json::to_string(&outcome).expect("outcomes serialize"));
    } else {
        print_summary(scenario, &outcome, wall_s, trace_path.as_deref(), report_index.as_deref(), plants);
    }
    if outcome.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_summary(
    scenario: &Path,
    o: &RunOutcome,
    wall_s: f64,
    trace: Option<&Path>,
    report: Option<&Path>,
    plants: Plants,
) {
    let m = &o.messages;
    println!(
        "{} (seed {}): {} simulated in {wall_s:.2} s, {} trace events",
        o.scenario,
        o.seed,
        sim::units::Duration::from_ms((o.sim_seconds * 1_000.0) as u64),
        o.events
    );
    println!(
        "  messages: {} submitted to {} recipients: {} delivered, {} relayed out of the organization, {} NDR'd, {} still queued; {} NDRs sent, {} delivered",
        m.submitted, m.recipients, m.delivered, m.relayed, m.ndr, m.queued, m.ndr_messages, m.ndr_delivered
    );
    println!("  trace sha256 {}", o.trace_sha256);
    if let Some(t) = trace {
        println!("  trace: {}", t.display());
    }
    if let Some(r) = report {
        println!("  report: {}", r.display());
    }
    println!("  checks:");
    for c in &o.checks {
        println!("    {:<4}  {} — {}", if c.ok { "ok" } else { "FAIL" }, c.name, c.detail);
    }
    if !o.sometimes.is_empty() {
        // Reached or not at one seed is no verdict: `orgsim sweep` judges them.
        let counts: Vec<String> = o.sometimes.iter().map(|s| format!("{} {}", s.name, s.hits)).collect();
        println!("  sometimes (times reached; a sweep judges them): {}", counts.join(", "));
    }
    if !o.passed() {
        println!("reproduce with: {}", sweep::replay_command(&scenario.display().to_string(), o.seed, plants));
    }
}

/// `orgsim report A B --out DIR`: both traces are read whole before anything is written.
fn compare_command(a: &Path, b: &Path, out: Option<&Path>, perfetto: bool) -> ExitCode {
    let Some(dir) = out.filter(|_| !perfetto) else {
        eprintln!("orgsim report: comparing two traces writes a page: give --out DIR (and no --perfetto)");
        return ExitCode::from(2);
    };
    for trace in [a, b] {
        if let Err(e) = reports::read_trace(trace) {
            eprintln!("orgsim report: {e}");
            return ExitCode::from(2);
        }
    }
    if let Err(code) = output_dir("--out", dir) {
        return code;
    }
    match reports::compare::write_comparison(a, b, dir) {
        Ok(index) => {
            println!("comparison: {}", index.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("orgsim report: {e}");
            ExitCode::from(2)
        }
    }
}

fn report_command(trace: &Path, out: Option<&Path>, perfetto: Option<&Path>) -> ExitCode {
    if out.is_none() && perfetto.is_none() {
        eprintln!("orgsim report: say what to write: --out DIR, --perfetto FILE, or both");
        return ExitCode::from(2);
    }
    // Read the trace fully first, so a bad trace writes nothing; the page is written
    // from what was read (one pass). (The Perfetto export alone streams, and writes
    // nothing itself when the trace is bad.)
    let data = match out.map(|_| reports::read_trace(trace)).transpose() {
        Ok(data) => data,
        Err(e) => {
            eprintln!("orgsim report: {e}");
            return ExitCode::from(2);
        }
    };
    if let (Some(dir), Some(data)) = (out, &data) {
        if let Err(code) = output_dir("--out", dir) {
            return code;
        }
        match reports::write_report_of(trace, data, dir) {
            Ok(index) => println!("report: {}", index.display()),
            Err(e) => {
                eprintln!("orgsim report: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(file) = perfetto {
        match reports::perfetto::write_perfetto(trace, file) {
            Ok(()) => println!("perfetto trace: {} (open it at ui.perfetto.dev)", file.display()),
            Err(e) => {
                eprintln!("orgsim report: {e}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}

/// Loads generated scenario text (bench), which must be valid.
fn load_generated(name: &str, text: &str) -> Resolved {
    match load_str(name, text) {
        Ok(r) => r,
        Err(e) => panic!("the generated scenario is invalid: {e}"),
    }
}
