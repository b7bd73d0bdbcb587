//! `orgsim repadmin`: every domain controller's replication state at one moment of a run
//! — what `repadmin /showrepl` and `/showutdvec` show on a real DC: its USN, its inbound
//! connections with the high-water mark against the source's USN, its up-to-dateness
//! vector, its objects and tombstones, and its backlog (attributes whose winning write it
//! does not hold yet). A global catalog's partial replicas of other domains follow the
//! DCs, each with its own connections and state.

use crate::{load_until, output_error};
use org::calendar::{Weekday, WeeklyHours};
use org::directory::ad_replication::DcId;
use org::planted_bugs::Plants;
use sim::units::Duration;
use sim::world::run;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Runs `scenario` at `seed` up to `at` and prints every DC's replication state (or one).
pub fn repadmin_command(scenario: &Path, seed: u64, at: Duration, dc: Option<&str>, plants: Plants) -> ExitCode {
    let resolved = match load_until("repadmin", scenario, at, plants) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let Some(directory) = resolved.directory.clone().filter(|d| d.replicating) else {
        eprintln!(
            "orgsim repadmin: {} does not simulate the directory (add topology.ad_replication)",
            scenario.display()
        );
        return ExitCode::from(2);
    };
    let only = match dc {
        None => None,
        Some(name) => match directory.dcs.iter().position(|d| d.name.to_lowercase() == name.to_lowercase()) {
            Some(i) => Some(i),
            None => {
                let names: Vec<&str> = directory.dcs.iter().map(|d| d.name.as_str()).collect();
                eprintln!(
                    "orgsim repadmin: --dc {name:?}: no such domain controller in {}; DCs: {}",
                    scenario.display(),
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
        },
    };
    let resolved = Arc::new(resolved);
    let outcome = run(resolved.clone(), seed, None);
    let name = |d: DcId| directory.dcs[usize::from(d.0)].name.as_str();
    let domains: Vec<String> = resolved.domains.clone();
    let mut out = format!("{} at {at}, seed {seed}\n", scenario.display());
    let lagging = outcome.dcs.iter().filter(|d| d.backlog > 0).count();
    out.push_str(&match lagging {
        0 => "every replica holds every attribute's winning write\n".to_string(),
        n => format!("{n} replica(s) lack winning writes: replication has not converged\n"),
    });
    let replicas: Vec<(DcId, usize)> = directory.replicas().collect();
    let width = directory.dcs.iter().map(|d| d.name.len()).max().unwrap_or(0);
    for (i, ((host, domain), state)) in replicas.iter().zip(&outcome.dcs).enumerate() {
        if only.is_some_and(|o| o != usize::from(host.0)) {
            continue;
        }
        let spec = &directory.dcs[usize::from(host.0)];
        let inbound = match i.checked_sub(directory.dcs.len()) {
            None => {
                let version = match spec.version {
                    org::directory::domain_controller::WindowsVersion::Windows2000 => "Windows 2000",
                    org::directory::domain_controller::WindowsVersion::Windows2003 => "Windows Server 2003",
                };
                out.push_str(&format!(
                    "\n{}  site {}, domain {}, {version}, {}\n",
                    spec.name,
                    resolved.sites[spec.site],
                    domains[spec.domain],
                    if state.up { "up" } else { "down" }
                ));
                &spec.inbound
            }
            Some(k) => {
                out.push_str(&format!(
                    "\n{}  partial replica of {} (global catalog), {}\n",
                    directory.replica_names[i],
                    domains[*domain],
                    if state.up { "up" } else { "down" }
                ));
                &directory.partials[k].inbound
            }
        };
        out.push_str(&format!(
            "  USN {}; {} object(s), {} tombstone(s); backlog {} attribute(s)\n",
            state.usn, state.objects, state.tombstones, state.backlog
        ));
        out.push_str("  inbound neighbors:\n");
        for c in inbound {
            // The source's replica of this same domain (full, or a GC's partial one).
            let source = replicas.iter().position(|r| *r == (c.source, *domain)).map_or(0, |s| outcome.dcs[s].usn);
            let hwm = state.high_water_marks.get(&c.source).copied().unwrap_or(0);
            out.push_str(&format!(
                "    from {:<width$}  {}  every {:<5}  high-water mark {hwm} of {source}{}{}\n",
                name(c.source),
                if c.intra_site { "intra-site" } else { "inter-site" },
                Duration::from_ms(c.interval_ms).to_string(),
                if hwm < source { "  (behind)" } else { "" },
                schedule_note(&c.schedule.hours)
            ));
        }
        let utd: Vec<String> = state.utd.iter().map(|(d, usn)| format!("{} {usn}", name(*d))).collect();
        out.push_str(&format!(
            "  up-to-dateness vector: {}\n",
            if utd.is_empty() { "(empty)".into() } else { utd.join(", ") }
        ));
    }
    let mut stdout = std::io::stdout().lock();
    match std::io::Write::write_all(&mut stdout, out.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => output_error("the replication state", Path::new("stdout"), e),
    }
}

/// A site link schedule as repadmin users read it: `  open 20:00-06:00 UTC` when every
/// day is alike, else per day (`  open Sat 00:00-24:00, Sun 00:00-24:00 UTC`); nothing
/// when always open.
fn schedule_note(hours: &WeeklyHours) -> String {
    if *hours == WeeklyHours::ALWAYS {
        return String::new();
    }
    let monday = hours.hours_of(Weekday::Monday);
    if Weekday::ALL.iter().all(|d| hours.hours_of(*d) == monday) {
        return format!("  open {} UTC", day_windows(monday, true).join(", "));
    }
    let days: Vec<String> = Weekday::ALL
        .iter()
        .flat_map(|d| {
            day_windows(hours.hours_of(*d), false).into_iter().map(move |w| format!("{} {w}", d.short_name()))
        })
        .collect();
    format!("  open {} UTC", days.join(", "))
}

/// The open windows of one day's hours (bit `h`: from `h`:00); `wrap` lets a window run
/// past midnight into the same hours of the next day (every day alike).
fn day_windows(open_hours: u32, wrap: bool) -> Vec<String> {
    let open = |h: u32| (wrap || h < 24) && open_hours & (1 << (h % 24)) != 0;
    // Windows start where an open hour follows a closed one.
    (0..24)
        .filter(|&h| open(h) && !(if wrap { open(h + 23) } else { h > 0 && open(h - 1) }))
        .map(|from| {
            let until = (from + 1..from + 25).find(|&h| !open(h)).unwrap_or(from + 24);
            let until = if wrap { until % 24 } else { until };
            format!("{from:02}:00-{until:02}:00")
        })
        .collect()
}
