//! Run records: the few facts that identify a run (scenario file and its digest, seed,
//! planted bugs, orgsim's version, trace digest), saved by `orgsim run --record FILE` and
//! replayed by `orgsim replay FILE`, which fails clearly when the trace differs.

use org::planted_bugs::{PlantedBug, Plants};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sim::world::{run, RunOutcome};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// What identifies a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// orgsim's version that made the run.
    pub orgsim_version: String,
    /// The scenario file, as given on the command line.
    pub scenario: String,
    /// SHA-256 of the scenario file's bytes.
    pub scenario_sha256: String,
    /// The seed.
    pub seed: u64,
    /// Planted bugs switched on.
    pub plants: Vec<String>,
    /// SHA-256 of the trace.
    pub trace_sha256: String,
    /// Whether every check held.
    pub passed: bool,
}

/// SHA-256 of a file's bytes, in hex.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(path)?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

impl RunRecord {
    /// The record of a finished run.
    pub fn of(scenario: &Path, outcome: &RunOutcome, plants: Plants) -> std::io::Result<Self> {
        Ok(RunRecord {
            orgsim_version: env!("CARGO_PKG_VERSION").to_string(),
            scenario: scenario.display().to_string(),
            scenario_sha256: file_sha256(scenario)?,
            seed: outcome.seed,
            plants: plants.list().iter().map(|b| b.name().to_string()).collect(),
            trace_sha256: outcome.trace_sha256.clone(),
            passed: outcome.passed(),
        })
    }
}

/// `orgsim replay RECORD`: exit 0 identical trace, 1 a different trace, 2 cannot replay.
pub fn replay_command(record_path: &Path, trace: Option<&Path>) -> ExitCode {
    let fail = |message: String| {
        eprintln!("orgsim replay: {message}");
        ExitCode::from(2)
    };
    let text = match std::fs::read_to_string(record_path) {
        Ok(t) => t,
        Err(e) => return fail(format!("{}: cannot read: {e}", record_path.display())),
    };
    let record: RunRecord = match serde_json::from_str(&text) {
        Ok(r) => r,
        Err(e) => {
            return fail(format!(
                "{}:{}:{}: expected a run record written by `orgsim run --record`: {e}",
                record_path.display(),
                e.line(),
                e.column()
            ))
        }
    };
    let mut plants = Plants::NONE;
    for name in &record.plants {
        match PlantedBug::parse(name) {
            Some(bug) => plants = plants.with(bug),
            None => return fail(format!("{}: unknown planted bug {name:?} in this version", record_path.display())),
        }
    }
    let scenario = Path::new(&record.scenario);
    match file_sha256(scenario) {
        Ok(digest) if digest == record.scenario_sha256 => {}
        Ok(digest) => {
            return fail(format!(
                "{} changed since the run was recorded (sha256 {} then, {digest} now): this is not the same run",
                record.scenario, record.scenario_sha256
            ))
        }
        Err(e) => return fail(format!("{}: cannot read the recorded scenario: {e}", record.scenario)),
    }
    let resolved = match sim::resolve::load_file(&record.scenario) {
        Ok(r) => Arc::new(r.with_plants(plants)),
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::from(2);
        }
    };
    let writer: Option<Box<dyn std::io::Write + Send>> = match trace {
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some(Box::new(std::io::BufWriter::new(f))),
            Err(e) => return fail(format!("{}: cannot write the trace: {e}", path.display())),
        },
        None => None,
    };
    let outcome = run(resolved, record.seed, writer);
    let version = env!("CARGO_PKG_VERSION");
    if outcome.trace_sha256 == record.trace_sha256 {
        println!(
            "replayed {} at seed {}: identical trace (sha256 {}), checks {}",
            record.scenario,
            record.seed,
            outcome.trace_sha256,
            if outcome.passed() { "held" } else { "failed, as recorded" }
        );
        return ExitCode::SUCCESS;
    }
    println!("replayed {} at seed {}: the trace DIFFERS", record.scenario, record.seed);
    println!("  recorded sha256 {} (orgsim {})", record.trace_sha256, record.orgsim_version);
    println!("  replayed sha256 {} (orgsim {version})", outcome.trace_sha256);
    if record.orgsim_version == version {
        println!("  same version and scenario: a determinism break. Save both traces (--trace) and run `orgsim diff`.");
    } else {
        println!("  a different orgsim version: a behaviour change, or a determinism break. Compare traces with `orgsim diff`.");
    }
    ExitCode::from(1)
}
