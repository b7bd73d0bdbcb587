//! `orgsim shrink` and `orgsim bisect-time`: from a failing seed to the smallest scenario
//! and the first instant that still show the failure.
//!
//! Shrink writes the seed's concrete timeline (fixed steps and sampled weather) into the
//! scenario as a fixed timeline, then removes steps by delta debugging (ddmin) over
//! units that stand or fall together — a fault with the step that heals it (a crash and
//! its restart, a link down and up), every other step alone —, then scales the
//! generated users and the send rate down. Every candidate kept is the same failure: it
//! fails the same check at the same seed, and with planted bugs it also passes without
//! them (otherwise the failure is not the bug's: a crash left without its restart fails
//! `all_resolved_by` whatever the code does). The file written is checked once more.
//! Per-component random streams keep the rest of the run the same while faults go.

use org::planted_bugs::Plants;
use serde_json::Value;
use sim::resolve::load_str;
use sim::world::run;
use std::sync::Arc;

/// Runs allowed in one shrink (each is a whole simulation).
const MAX_RUNS: u32 = 400;

/// What shrink found.
#[derive(Debug)]
pub struct Shrunk {
    /// The smallest failing scenario found.
    pub scenario: Value,
    /// The check kept failing.
    pub check: String,
    /// Faults (timeline steps) before shrinking, weather included.
    pub faults_before: usize,
    /// Faults left.
    pub faults_after: usize,
    /// What was removed or scaled down, one line each.
    pub changes: Vec<String>,
    /// Simulations run.
    pub runs: u32,
}

/// Whether a run at one seed shows the failure being shrunk.
struct Tester<'a> {
    file: &'a str,
    seed: u64,
    plants: Plants,
    check: String,
    runs: u32,
    /// Runs allowed; candidates past it count as not run.
    budget: u32,
}

/// What one scenario does at the tester's seed.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// It fails the check (with the plants) and, with plants, passes without them.
    SameFailure,
    /// It does not fail the check.
    Passes,
    /// It fails the check without the plants too (named: the first failing check).
    FailsWithoutPlant(String),
    /// The candidate is not a valid scenario, or the run budget is spent.
    NotRun,
}

impl Tester<'_> {
    /// What `candidate` does: the check is run with the plants first, and without them
    /// only when it failed.
    fn judge(&mut self, candidate: &Value) -> Verdict {
        let text = serde_json::to_string(candidate).expect("values serialize");
        let Ok(resolved) = load_str(self.file, &text) else { return Verdict::NotRun };
        let resolved = Arc::new(resolved);
        match self.run(&resolved, self.plants) {
            None => return Verdict::NotRun,
            Some(outcome) if !outcome.checks.iter().any(|c| c.name == self.check && !c.ok) => return Verdict::Passes,
            Some(_) if self.plants == Plants::NONE => return Verdict::SameFailure,
            Some(_) => {}
        }
        match self.run(&resolved, Plants::NONE) {
            None => Verdict::NotRun,
            Some(outcome) => match outcome.checks.iter().find(|c| !c.ok) {
                None => Verdict::SameFailure,
                Some(c) => Verdict::FailsWithoutPlant(c.name.clone()),
            },
        }
    }

    fn run(&mut self, resolved: &Arc<sim::resolve::Resolved>, plants: Plants) -> Option<sim::world::RunOutcome> {
        if self.runs >= self.budget {
            return None;
        }
        self.runs += 1;
        Some(run(Arc::new(resolved.with_plants(plants)), self.seed, None))
    }

    /// Whether `candidate` is the same failure.
    fn fails(&mut self, candidate: &Value) -> bool {
        self.judge(candidate) == Verdict::SameFailure
    }
}

fn with_timeline(base: &Value, steps: &[Value]) -> Value {
    let mut v = base.clone();
    v["timeline"] = Value::Array(steps.to_vec());
    v
}

/// Delta debugging (Zeller's ddmin): the smallest sublist of `items` that still `fails`,
/// in their order; 1-minimal (removing any one item more makes it pass).
fn ddmin<T: Clone>(mut items: Vec<T>, mut fails: impl FnMut(&[T]) -> bool) -> Vec<T> {
    let mut n = 2usize;
    while items.len() >= 2 {
        let chunk = items.len().div_ceil(n);
        let mut reduced = false;
        for start in (0..items.len()).step_by(chunk) {
            let complement: Vec<T> = items
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < start || *i >= start + chunk)
                .map(|(_, s)| s.clone())
                .collect();
            if fails(&complement) {
                items = complement;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if n >= items.len() {
                break;
            }
            n = (n * 2).min(items.len());
        }
    }
    if items.len() == 1 && fails(&[]) {
        items.clear();
    }
    items
}

/// Steps that stand or fall together, as indexes into `steps`: a fault with the step that
/// heals it (whatever drew them, the fixed timeline or the weather), every other step
/// alone. Removing a crash but not its restart makes an invalid scenario; removing a
/// restart but not its crash makes a different failure.
fn units(steps: &[Value]) -> Vec<Vec<usize>> {
    let mut healed = vec![false; steps.len()];
    let mut out = Vec::new();
    for i in 0..steps.len() {
        if healed[i] {
            continue;
        }
        match partner(steps, i).filter(|j| !healed[*j]) {
            Some(j) => {
                healed[j] = true;
                out.push(vec![i, j]);
            }
            None => out.push(vec![i]),
        }
    }
    out
}

/// The steps of `kept` units, in timeline order.
fn steps_of(steps: &[Value], kept: &[Vec<usize>]) -> Vec<Value> {
    let mut indexes: Vec<usize> = kept.iter().flatten().copied().collect();
    indexes.sort_unstable();
    indexes.into_iter().map(|i| steps[i].clone()).collect()
}

/// The index of the step that heals the fault at `i` (same target, the matching kind).
fn partner(steps: &[Value], i: usize) -> Option<usize> {
    let kind = steps[i]["kind"].as_str()?;
    let heal = match kind {
        "link_down" => "link_up",
        "connector_down" => "connector_up",
        "server_crash" => "server_restart",
        "host_down" => "host_up",
        "dc_down" => "dc_up",
        _ => return None,
    };
    let target = |s: &Value| ["link", "connector", "server", "host", "dc"].iter().find_map(|k| s.get(*k).cloned());
    let t = target(&steps[i]);
    (i + 1..steps.len()).find(|&j| steps[j]["kind"] == heal && target(&steps[j]) == t)
}

/// A seed's concrete timeline (fixed steps and sampled weather) as scenario actions.
fn concrete_steps(resolved: &sim::resolve::Resolved, seed: u64) -> Vec<Value> {
    resolved
        .timeline_for(seed)
        .iter()
        .map(|(step, _)| serde_json::to_value(resolved.to_action(*step)).expect("actions serialize"))
        .collect()
}

/// Shrinks a failing run. `text` is the scenario file's content.
pub fn shrink(file: &str, text: &str, seed: u64, plants: Plants) -> Result<Shrunk, String> {
    let resolved = load_str(file, text).map_err(|e| e.to_string())?;
    let outcome = run(Arc::new(resolved.with_plants(plants)), seed, None);
    let Some(failed) = outcome.checks.iter().find(|c| !c.ok) else {
        return Err(format!("{file} passes at seed {seed}: there is no failure to shrink"));
    };
    let mut tester = Tester { file, seed, plants, check: failed.name.clone(), runs: 1, budget: MAX_RUNS };
    if plants != Plants::NONE {
        let baseline = run(Arc::new(resolved.with_plants(Plants::NONE)), seed, None);
        tester.runs += 1;
        if let Some(c) = baseline.checks.iter().find(|c| !c.ok) {
            return Err(format!(
                "{file} fails `{}` at seed {seed} without the planted bug too: that failure does not depend on it \
                 (shrink it without --plant to see the smallest scenario that still fails)",
                c.name
            ));
        }
    }
    let mut changes = Vec::new();

    // The concrete timeline of this seed, as fixed steps.
    let concrete = concrete_steps(&resolved, seed);
    let faults_before = concrete.len();
    let mut base = serde_json::to_value(&resolved.scenario).expect("scenarios serialize");
    let had_weather = base.get("weather").is_some_and(|w| !w.is_null());
    if let Some(object) = base.as_object_mut() {
        object.remove("weather");
    }
    let mut current = with_timeline(&base, &concrete);
    if had_weather {
        match tester.judge(&current) {
            Verdict::SameFailure => {
                changes.push(format!("weather written out as {faults_before} fixed timeline step(s)"))
            }
            other => {
                return Err(format!(
                    "the failure does not reproduce with the sampled weather written as a fixed timeline ({other:?})"
                ))
            }
        }
    }

    // Faults: ddmin over the units that stand or fall together.
    let kept = ddmin(units(&concrete), |kept| tester.fails(&with_timeline(&base, &steps_of(&concrete, kept))));
    let steps = steps_of(&concrete, &kept);
    if steps.len() < faults_before {
        changes.push(format!("removed {} of {faults_before} timeline step(s)", faults_before - steps.len()));
    }
    current = with_timeline(&base, &steps);

    // Generated users: halve each group while it still fails.
    let groups = current["recipients"]["generated"].as_array().map_or(0, Vec::len);
    for g in 0..groups {
        let before = current["recipients"]["generated"][g]["count"].as_u64().unwrap_or(1);
        let mut count = before;
        while count > 1 {
            let mut candidate = current.clone();
            candidate["recipients"]["generated"][g]["count"] = Value::from(count / 2);
            if !tester.fails(&candidate) {
                break;
            }
            count /= 2;
            current = candidate;
        }
        if count < before {
            changes.push(format!("recipients.generated[{g}].count {before} -> {count}"));
        }
    }
    // Workload: halve the send rate while it still fails.
    if let Some(rate) = current["workload"]["sends_per_user_per_day"].as_f64() {
        let mut best = rate;
        while best > 0.05 {
            let mut candidate = current.clone();
            candidate["workload"]["sends_per_user_per_day"] = Value::from(best / 2.0);
            if !tester.fails(&candidate) {
                break;
            }
            best /= 2.0;
            current = candidate;
        }
        if best < rate {
            changes.push(format!("sends_per_user_per_day {rate} -> {best}"));
        }
    }
    // Other expectations only held at the original load; they do not change the run.
    let expectations = current["checks"]["expect"].as_array().cloned().unwrap_or_default();
    let mut kept = expectations.clone();
    for e in &expectations {
        let fewer: Vec<Value> = kept.iter().filter(|x| *x != e).cloned().collect();
        let mut candidate = current.clone();
        candidate["checks"]["expect"] = Value::Array(fewer.clone());
        if tester.fails(&candidate) {
            kept = fewer;
            current = candidate;
        }
    }
    if kept.len() < expectations.len() {
        changes
            .push(format!("dropped {} expectation(s) other than the failing check", expectations.len() - kept.len()));
    }
    let description = current["description"].as_str().unwrap_or_default().to_string();
    current["description"] = Value::from(format!(
        "{description} [Shrunk by `orgsim shrink` from {file} at seed {seed}, keeping `{}` failing.]",
        tester.check
    ));
    // The file as written must be the same failure (the run budget does not apply).
    tester.budget = u32::MAX;
    match tester.judge(&current) {
        Verdict::SameFailure => {}
        other => {
            return Err(format!("the shrunk scenario does not reproduce the failure ({other:?}): a bug in shrink"))
        }
    }
    Ok(Shrunk {
        faults_after: current["timeline"].as_array().map_or(0, Vec::len),
        scenario: current,
        check: tester.check,
        faults_before,
        changes,
        runs: tester.runs,
    })
}

/// A `Write` into a shared buffer, to keep a trace in memory.
#[derive(Clone, Default)]
pub struct SharedBuffer(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What `bisect-time` found.
#[derive(Debug)]
pub struct FirstFailure {
    /// The failing check.
    pub check: String,
    /// Simulated time of its first failure, ms.
    pub t_ms: u64,
    /// How it was found.
    pub how: String,
    /// What happened.
    pub detail: String,
    /// The trace records leading to it.
    pub leading: Vec<String>,
}

/// The earliest simulated instant at which a failing safety check fails.
pub fn bisect_time(file: &str, text: &str, seed: u64, plants: Plants) -> Result<FirstFailure, String> {
    let resolved = load_str(file, text).map_err(|e| e.to_string())?;
    let buffer = SharedBuffer::default();
    let outcome = run(Arc::new(resolved.with_plants(plants)), seed, Some(Box::new(buffer.clone())));
    let trace = String::from_utf8(buffer.0.lock().expect("not poisoned").clone()).expect("traces are UTF-8");
    let lines: Vec<&str> = trace.lines().collect();
    // Invariants checked online name their instant in a `check_failed` record.
    if let Some((at, line)) = lines.iter().enumerate().find(|(_, l)| l.contains("\"event\":\"check_failed\"")) {
        let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        let detail = v["detail"].as_str().unwrap_or_default().to_string();
        let message = detail.split_whitespace().next().unwrap_or_default().to_string();
        let needle = format!("\"message\":\"{message}\"");
        let mut leading: Vec<String> =
            lines[..at].iter().filter(|l| l.contains(&needle)).map(|l| l.to_string()).collect();
        if leading.is_empty() {
            leading = lines[at.saturating_sub(10)..at].iter().map(|l| l.to_string()).collect();
        }
        return Ok(FirstFailure {
            check: v["check"].as_str().unwrap_or_default().to_string(),
            t_ms: v["t_ms"].as_u64().unwrap_or(0),
            how: "checked online: the instant the invariant broke".into(),
            detail,
            leading,
        });
    }
    if !outcome.checks.iter().any(|c| c.name == "no_loss" && !c.ok) {
        return Err(match outcome.checks.iter().find(|c| !c.ok) {
            Some(c) => format!("no safety invariant fails at seed {seed}; the failing check is the expectation `{}` ({}), which fails at its own deadline", c.name, c.detail),
            None => format!("{file} passes at seed {seed}: nothing to bisect"),
        });
    }
    // no_loss is judged against the disks at the end of a run: bisect the run's length.
    // The same faults as this seed's run: its weather written out as fixed steps.
    let concrete = concrete_steps(&resolved, seed);
    let loses = |end_ms: u64| -> bool {
        let mut scenario = serde_json::to_value(&resolved.scenario).expect("scenarios serialize");
        scenario["duration"] = Value::from(sim::units::Duration::from_ms(end_ms).to_string());
        scenario["checks"] = serde_json::json!({"invariants": ["no_loss"]});
        if let Some(w) = scenario.get_mut("workload").filter(|w| !w.is_null()) {
            let until = w["until"].as_str().and_then(|u| sim::units::Duration::parse(u).ok()).map_or(end_ms, |d| d.ms);
            w["until"] = Value::from(sim::units::Duration::from_ms(until.min(end_ms)).to_string());
        }
        let at_ms = |s: &Value| sim::units::Duration::parse(s["at"].as_str().unwrap_or("")).map_or(u64::MAX, |d| d.ms);
        scenario["timeline"] = Value::Array(concrete.iter().filter(|s| at_ms(s) <= end_ms).cloned().collect());
        scenario["weather"] = Value::Null;
        let text = serde_json::to_string(&scenario).expect("serializes");
        match load_str(file, &text) {
            Ok(r) => !run(Arc::new(r.with_plants(plants)), seed, None).passed(),
            Err(_) => false,
        }
    };
    let (mut lo, mut hi) = (0u64, resolved.duration_ms);
    while hi - lo > 1_000 {
        let mid = lo + (hi - lo) / 2;
        if loses(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(FirstFailure {
        check: "no_loss".into(),
        t_ms: hi,
        how: "bisected over the run's length (to 1 s): the shortest run that already loses mail".into(),
        detail: outcome.checks.iter().find(|c| c.name == "no_loss").map(|c| c.detail.clone()).unwrap_or_default(),
        leading: lines
            .iter()
            .filter(|l| l.contains("\"t_ms\":"))
            .filter(|l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .and_then(|v| v["t_ms"].as_u64())
                    .is_some_and(|t| t <= hi && t + 60_000 >= hi)
            })
            .map(|l| l.to_string())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn units_keep_each_fault_with_its_heal() {
        let steps = vec![
            json!({"kind": "server_crash", "server": "A"}),
            json!({"kind": "link_down", "link": "L"}),
            json!({"kind": "server_restart", "server": "A"}),
            json!({"kind": "send", "from": "x"}),
            json!({"kind": "server_crash", "server": "A"}),
            json!({"kind": "link_up", "link": "L"}),
            json!({"kind": "server_restart", "server": "A"}),
            json!({"kind": "server_crash", "server": "B"}),
        ];
        assert_eq!(units(&steps), vec![vec![0, 2], vec![1, 5], vec![3], vec![4, 6], vec![7]]);
        assert_eq!(
            steps_of(&steps, &[vec![4, 6], vec![1, 5]]),
            vec![steps[1].clone(), steps[4].clone(), steps[5].clone(), steps[6].clone()]
        );
    }

    #[test]
    fn ddmin_finds_a_one_minimal_subset() {
        // Fails while both 3 and 7 are present.
        let found = ddmin((0..10).collect(), |kept: &[u32]| kept.contains(&3) && kept.contains(&7));
        assert_eq!(found, vec![3, 7]);
        let found = ddmin((0..10).collect(), |_: &[u32]| true);
        assert!(found.is_empty(), "nothing needed: {found:?}");
    }
}
