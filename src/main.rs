//! `orgsim`: run, validate and benchmark Exchange 2003 organization scenarios.
//!
//! Exit codes: 0 every check held, 1 a check failed, 2 bad input (scenario file or
//! arguments) or an output that could not be written.

use clap::{Parser, Subcommand};
use sim::resolve::{load_file, load_str, Resolved};
use sim::world::{run, RunOutcome};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

mod bench;

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
    },
    /// Check a scenario file without running it.
    Validate {
        /// Scenario file (JSON).
        scenario: PathBuf,
    },
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Rebuild the HTML report and charts from a saved trace alone.
    Report {
        /// Trace file (JSON Lines) written by `orgsim run`.
        trace: PathBuf,
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
    /// Run a generated 10,000-user organization for one simulated day and print speed figures.
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
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { scenario, seed, trace, report, json } => run_command(&scenario, seed, trace, report, json),
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
        Command::Bench { users, routing_groups, seed } => bench::bench(users, routing_groups, seed),
        Command::Report { trace, out, perfetto } => report_command(&trace, out.as_deref(), perfetto.as_deref()),
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

/// Loads a scenario, printing its errors (exit 2) if it has any.
fn load(path: &Path) -> Result<Resolved, ExitCode> {
    load_file(&path.display().to_string()).map_err(|errors| {
        eprintln!("{errors}");
        ExitCode::from(2)
    })
}

fn output_error(what: &str, path: &Path, error: impl std::fmt::Display) -> ExitCode {
    eprintln!("orgsim: cannot write {what} {}: {error}", path.display());
    ExitCode::from(2)
}

/// Writes to `path.tmp`, renamed into place once complete, so a failed run never leaves
/// a half-written file under the real name.
struct AtomicFile {
    tmp: PathBuf,
    path: PathBuf,
}

impl AtomicFile {
    fn create(path: &Path) -> std::io::Result<(AtomicFile, File)> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = File::create(&tmp)?;
        Ok((AtomicFile { tmp, path: path.to_path_buf() }, file))
    }

    fn commit(self) -> std::io::Result<()> {
        std::fs::rename(&self.tmp, &self.path)
    }

    fn abandon(self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

fn run_command(scenario: &Path, seed: u64, trace: Option<PathBuf>, report: Option<PathBuf>, json: bool) -> ExitCode {
    let resolved = match load(scenario) {
        Ok(r) => Arc::new(r),
        Err(code) => return code,
    };
    if let Some(dir) = &report {
        if let Err(e) = std::fs::create_dir_all(dir) {
            return output_error("the report directory", dir, e);
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
    if json {
        println!("{}", serde_json::to_string(&outcome).expect("outcomes serialize"));
    } else {
        print_summary(scenario, &outcome, wall_s, trace_path.as_deref(), report_index.as_deref());
    }
    if outcome.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn print_summary(scenario: &Path, o: &RunOutcome, wall_s: f64, trace: Option<&Path>, report: Option<&Path>) {
    let m = &o.messages;
    println!(
        "{} (seed {}): {} simulated in {wall_s:.2} s, {} trace events",
        o.scenario,
        o.seed,
        sim::units::Duration::from_ms((o.sim_seconds * 1_000.0) as u64),
        o.events
    );
    println!(
        "  messages: {} submitted to {} recipients: {} delivered, {} NDR'd, {} still queued; {} NDRs sent, {} delivered",
        m.submitted, m.recipients, m.delivered, m.ndr, m.queued, m.ndr_messages, m.ndr_delivered
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
    if !o.passed() {
        println!("reproduce with: orgsim run {} --seed {}", scenario.display(), o.seed);
    }
}

fn report_command(trace: &Path, out: Option<&Path>, perfetto: Option<&Path>) -> ExitCode {
    if out.is_none() && perfetto.is_none() {
        eprintln!("orgsim report: say what to write: --out DIR, --perfetto FILE, or both");
        return ExitCode::from(2);
    }
    // Read the trace fully first, so a bad trace writes nothing.
    if let Err(e) = reports::read_trace(trace) {
        eprintln!("orgsim report: {e}");
        return ExitCode::from(2);
    }
    if let Some(dir) = out {
        match reports::write_report(trace, dir) {
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
