//! Determinism is the product: every scenario twice per seed 1–20 gives the same trace
//! digest, different seeds give different traces, and madsim's own checker finds no
//! divergent random draw in a run. Every scenario's checks must also hold at every one of
//! those seeds: an expectation that holds only at a lucky seed is a broken scenario.

mod common;

use sim::resolve::{load_file, Resolved};
use sim::world::{madsim_config, run, simulate};
use std::sync::{Arc, OnceLock};

#[test]
fn every_scenario_twice_for_seeds_1_to_20() {
    let scenarios: Vec<Arc<Resolved>> =
        common::scenarios().iter().map(|p| Arc::new(load_file(&common::relative(p)).unwrap())).collect();
    let jobs: Vec<(Arc<Resolved>, u64)> =
        scenarios.iter().flat_map(|s| (1..=20).map(move |seed| (s.clone(), seed))).collect();
    let jobs = Arc::new(std::sync::Mutex::new(jobs));
    // Parallel across runs only: each thread owns its madsim runtime.
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let jobs = jobs.clone();
            std::thread::spawn(move || {
                let mut digests = Vec::new();
                loop {
                    let Some((scenario, seed)) = jobs.lock().unwrap().pop() else { return digests };
                    let first = run(scenario.clone(), seed, None);
                    let second = run(scenario.clone(), seed, None);
                    assert_eq!(
                        first.trace_sha256, second.trace_sha256,
                        "{} seed {seed} diverged",
                        scenario.scenario.name
                    );
                    assert_eq!(first.events, second.events);
                    let failed: Vec<_> = first.checks.iter().filter(|c| !c.ok).collect();
                    assert!(failed.is_empty(), "{} seed {seed}: {failed:?}", scenario.scenario.name);
                    digests.push((scenario.scenario.name.clone(), seed, first.trace_sha256));
                }
            })
        })
        .collect();
    let mut all: Vec<(String, u64, String)> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    all.sort();
    assert_eq!(all.len(), scenarios.len() * 20);
    for name in scenarios.iter().map(|s| &s.scenario.name) {
        let distinct: std::collections::BTreeSet<&String> =
            all.iter().filter(|(n, _, _)| n == name).map(|(_, _, d)| d).collect();
        assert!(distinct.len() > 1, "{name}: the seed must change the run");
    }
}

static SCENARIO: OnceLock<Arc<Resolved>> = OnceLock::new();

#[test]
fn madsim_determinism_check() {
    SCENARIO.get_or_init(|| Arc::new(load_file("scenarios/server-crash.json").unwrap()));
    madsim::runtime::Runtime::check_determinism(11, madsim_config(), || async {
        let outcome = simulate(SCENARIO.get().unwrap().clone(), None).await;
        assert!(outcome.passed());
    });
}

static INTERNET: OnceLock<Arc<Resolved>> = OnceLock::new();

/// Hosts beyond the organization are madsim nodes too: DNS and MX failover replay alike.
#[test]
fn madsim_determinism_check_with_internet_hosts() {
    INTERNET.get_or_init(|| Arc::new(load_file("scenarios/internet-dns.json").unwrap()));
    madsim::runtime::Runtime::check_determinism(3, madsim_config(), || async {
        let outcome = simulate(INTERNET.get().unwrap().clone(), None).await;
        assert!(outcome.passed());
    });
}
