//! `orgsim bench`: a generated organization (a hub routing group and spokes, two servers
//! each, one site per routing group, T1 links to the hub) runs one simulated business
//! day; prints simulated events, wall seconds, events per second, the simulated/wall
//! ratio and peak memory. Then the floor of this stack: a bare madsim ping-pong of the
//! same number of messages in the same process, and the ratio. Then sweep throughput of a
//! small scenario on one core and on all. With `--series`, one day per mailbox count,
//! each in a process of its own (so each peak RSS is that run's alone), as a table.
//! Figures only, no pass/fail.

use serde_json::json;
use sim::world::{madsim_config, run};
use std::process::ExitCode;
use std::sync::Arc;

/// The generated scenario's JSON text.
pub fn scenario_text(users: u32, routing_groups: u32) -> String {
    let groups = routing_groups.max(1);
    let rg = |g: u32| {
        if g == 0 {
            "Hub RG".to_string()
        } else {
            format!("Spoke{g} RG")
        }
    };
    let site = |g: u32| {
        if g == 0 {
            "HUB".to_string()
        } else {
            format!("SPOKE{g}")
        }
    };
    let server = |g: u32, k: u32| format!("EX{g:02}{k}");
    let mut servers = Vec::new();
    let mut stores = Vec::new();
    for g in 0..groups {
        for k in 0..2 {
            let name = server(g, k);
            let store = format!("Mailbox Store ({name})");
            stores.push(store.clone());
            servers.push(json!({
                "name": name, "site": site(g), "routing_group": rg(g),
                "storage_groups": [{"name": "First Storage Group", "mailbox_stores": [{"name": store}]}]
            }));
        }
    }
    let mut connectors = Vec::new();
    let mut links = Vec::new();
    for g in 1..groups {
        for (from, to) in [(0, g), (g, 0)] {
            connectors.push(json!({
                "name": format!("RGC {} to {}", rg(from), rg(to)), "from": rg(from), "to": rg(to), "cost": 10,
                "source_bridgeheads": [server(from, 0)], "target_bridgeheads": [server(to, 0)]
            }));
        }
        links.push(json!({"name": format!("HUB-SPOKE{g}"), "sites": ["HUB", site(g)], "bandwidth": "1.544Mbps", "latency": "30ms"}));
    }
    let scenario = json!({
        "name": format!("bench-{users}-users-{groups}-rgs"),
        "description": "Generated benchmark organization: one simulated business day of MMB-profile clients.",
        "duration": "1d",
        "topology": {
            "forest": "contoso.com",
            "domains": [{"name": "contoso.com"}],
            "sites": (0..groups).map(|g| json!({"name": site(g)})).collect::<Vec<_>>(),
            "domain_controllers": (0..groups).map(|g| json!({"name": format!("DC{g:02}"), "domain": "contoso.com", "site": site(g), "global_catalog": true})).collect::<Vec<_>>(),
            "administrative_groups": [{"name": "First Administrative Group"}],
            "routing_groups": (0..groups).map(|g| json!({"name": rg(g), "administrative_group": "First Administrative Group"})).collect::<Vec<_>>(),
            "servers": servers,
            "routing_group_connectors": connectors,
            "wan_links": links
        },
        "recipients": {"smtp_domains": ["contoso.com"], "generated": [{"count": users, "stores": stores}]},
        "workload": {},
        "checks": {"expect": [{"kind": "delivered_at_least", "count": 1}]}
    });
    serde_json::to_string_pretty(&scenario).expect("json")
}

/// Peak resident set size of this process, from /proc (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Wall seconds for `messages` one-way madsim messages between two nodes (ping-pong).
fn madsim_ping_pong(messages: u64) -> f64 {
    use madsim::net::Endpoint;
    use std::net::SocketAddr;
    let runtime = madsim::runtime::Runtime::with_seed_and_config(1, madsim_config());
    let wall = std::time::Instant::now();
    runtime.block_on(async move {
        let handle = madsim::runtime::Handle::current();
        let a: SocketAddr = "10.9.0.1:1".parse().expect("address");
        let b: SocketAddr = "10.9.0.2:1".parse().expect("address");
        let node_a = handle.create_node().name("ping").ip(a.ip()).build();
        let node_b = handle.create_node().name("pong").ip(b.ip()).build();
        let rounds = messages / 2;
        let pong = node_b.spawn(async move {
            let ep = Endpoint::bind(b).await.expect("bind");
            for _ in 0..rounds {
                let (payload, from) = ep.recv_from_raw(0).await.expect("recv");
                ep.send_to_raw(from, 0, payload).await.expect("send");
            }
        });
        let ping = node_a.spawn(async move {
            let ep = Endpoint::bind(a).await.expect("bind");
            for i in 0..rounds {
                ep.send_to_raw(b, 0, Box::new(i)).await.expect("send");
                ep.recv_from_raw(0).await.expect("recv");
            }
        });
        ping.await.expect("ping finishes");
        pong.await.expect("pong finishes");
    });
    wall.elapsed().as_secs_f64()
}

/// What `orgsim bench` is asked to run.
pub struct BenchOptions {
    pub users: u32,
    pub routing_groups: u32,
    pub seed: u64,
    pub sweep_seeds: u64,
    /// Mailbox counts to run one day each for, each in a process of its own.
    pub series: Vec<u32>,
    /// Run the day only and print its figures as one JSON line (what `series` runs).
    pub point: bool,
}

/// The figures of one generated day.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Point {
    users: u32,
    servers: u32,
    messages: u64,
    deliveries: u64,
    events: u64,
    sim_s: f64,
    wall_s: f64,
    /// Peak resident set of the process that ran it (None off Linux).
    peak_rss_mib: Option<f64>,
    passed: bool,
}

fn run_point(users: u32, routing_groups: u32, seed: u64) -> Point {
    let text = scenario_text(users, routing_groups);
    let resolved = Arc::new(crate::load_generated("bench", &text));
    let wall = std::time::Instant::now();
    let outcome = run(resolved, seed, None);
    let wall_s = wall.elapsed().as_secs_f64();
    Point {
        users,
        servers: routing_groups * 2,
        messages: outcome.messages.submitted,
        deliveries: outcome.messages.delivered,
        events: outcome.events,
        sim_s: outcome.sim_seconds,
        wall_s,
        peak_rss_mib: peak_rss_mib(),
        passed: outcome.passed(),
    }
}

/// Runs the benchmark and prints its figures.
pub fn bench(options: &BenchOptions) -> ExitCode {
    let BenchOptions { users, routing_groups, seed, sweep_seeds, .. } = *options;
    if users == 0 || routing_groups == 0 || routing_groups > 500 || options.series.contains(&0) {
        eprintln!(
            "orgsim bench: expected --users (and every --series count) above 0 and --routing-groups from 1 to 500"
        );
        return ExitCode::from(2);
    }
    if options.point {
        let point = run_point(users, routing_groups, seed);
        println!("{}", serde_json::to_string(&point).expect("figures serialize"));
        return ExitCode::SUCCESS;
    }
    let point = run_point(users, routing_groups, seed);
    print_day(&point, routing_groups, seed);
    print_floor(point.events, point.wall_s);
    print_sweep(sweep_seeds);
    print_oab(users);
    if options.series.is_empty() {
        return ExitCode::SUCCESS;
    }
    match series(&options.series, routing_groups, seed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orgsim bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn print_day(p: &Point, routing_groups: u32, seed: u64) {
    println!("orgsim bench: {} users, {routing_groups} routing groups, {} servers, seed {seed}", p.users, p.servers);
    println!("  simulated            {:>12.0} s (one day)", p.sim_s);
    println!("  messages submitted   {:>12}", p.messages);
    println!("  recipients delivered {:>12}", p.deliveries);
    println!("  trace events         {:>12}", p.events);
    println!("  wall                 {:>12.2} s", p.wall_s);
    println!("  events per second    {:>12.0}", p.events as f64 / p.wall_s);
    println!("  simulated / wall     {:>12.0} x", p.sim_s / p.wall_s);
    match p.peak_rss_mib {
        Some(mib) => println!("  peak memory (RSS)    {mib:>12.1} MiB"),
        None => println!("  peak memory (RSS)    {:>12}", "n/a"),
    }
    println!("  checks               {}", if p.passed { "all held" } else { "SOME FAILED" });
}

/// The floor: a bare madsim message, as many as the run had events.
fn print_floor(events: u64, wall_s: f64) {
    let floor_s = madsim_ping_pong(events);
    let run_per_event_us = wall_s * 1e6 / events as f64;
    let floor_per_message_us = floor_s * 1e6 / events as f64;
    println!("madsim ping-pong floor, {events} messages in this process:");
    println!("  wall                 {floor_s:>12.2} s");
    println!("  per message          {floor_per_message_us:>12.3} us");
    println!("  orgsim per event     {run_per_event_us:>12.3} us");
    println!("  ratio                {:>12.1} x the floor", run_per_event_us / floor_per_message_us);
}

/// Sweep throughput: the same seeds on one core, then on all. Each run is a 1,000-user
/// day (about a second), so the figure is throughput, not thread start-up.
fn print_sweep(sweep_seeds: u64) {
    const USERS: u32 = 1_000;
    const ROUTING_GROUPS: u32 = 3;
    let cores = crate::sweep::jobs(None);
    let small = Arc::new(crate::load_generated("bench-sweep", &scenario_text(USERS, ROUTING_GROUPS)));
    let seeds: Vec<u64> = (1..=sweep_seeds.max(1)).collect();
    let mut rates = Vec::new();
    for jobs in [1, cores] {
        let wall = std::time::Instant::now();
        let outcomes = crate::sweep::sweep_outcomes(&small, &seeds, jobs, true);
        let elapsed = wall.elapsed().as_secs_f64();
        debug_assert_eq!(outcomes.len(), seeds.len());
        rates.push(seeds.len() as f64 / elapsed);
        println!(
            "sweep of {} seeds ({USERS} users, {ROUTING_GROUPS} routing groups) on {jobs} core(s): {elapsed:.2} s, {:.2} runs/s",
            seeds.len(),
            rates.last().expect("pushed")
        );
    }
    println!("  speed-up on {cores} cores: {:.2} x", rates[1] / rates[0]);
}

/// The offline address book of `users` entries: a full regeneration (build the Full
/// Details file and compress it) against a diff generation (the patch) after 1 % of the
/// entries changed (issue 19's target: the diff costs at most 5 % of the full).
fn print_oab(users: u32) {
    use org::system_attendant::oab::address_entry::AddressEntry;
    use org::system_attendant::oab::compressed_file::compress;
    use org::system_attendant::oab::lzx::EncodeParams;
    use org::system_attendant::oab::oal_generator::{build_full_details, make_v4_patch, OabDefinition};
    let entry = |i: u32, department: &str| AddressEntry::synthetic("Bench", i, "bench.example", department);
    let definition = OabDefinition {
        name: "Default Offline Address List".into(),
        dn: "/o=Bench/cn=addrlists/cn=oabs/cn=Default Offline Address List".into(),
        guid: "00000000-0000-0000-0000-000000000001".into(),
        address_lists: vec!["Default Global Address List".into()],
        server_version: org::version::ExchangeVersion::Exchange2003Sp2,
        post_full_if_diff_fails: false,
        limits: Default::default(),
        mass_change_pct: 10,
    };
    let day1: Vec<AddressEntry> = (0..users).map(|i| entry(i, &format!("Dept {}", i % 60))).collect();
    let day2: Vec<AddressEntry> = (0..users)
        .map(|i| entry(i, &if i % 100 == 7 { "Moved".to_owned() } else { format!("Dept {}", i % 60) }))
        .collect();
    let params = EncodeParams::default();
    let first = build_full_details(&definition, 1, day1.iter(), &mut Vec::new());
    let wall = std::time::Instant::now();
    let second = build_full_details(&definition, 2, day2.iter(), &mut Vec::new());
    let compressed = compress(&second.full, params);
    let full_s = wall.elapsed().as_secs_f64();
    let wall = std::time::Instant::now();
    let patch = make_v4_patch(&first, &second, params);
    let diff_s = wall.elapsed().as_secs_f64();
    println!("offline address book, {users} entries, 1 % changed:");
    println!("  full details file    {:>12} bytes", second.full.len());
    println!("  compressed full      {:>12} bytes", compressed.len());
    println!("  patch (diff)         {:>12} bytes", patch.len());
    println!("  full regeneration    {:>12.3} s", full_s);
    println!("  diff generation      {:>12.3} s", diff_s);
    println!("  diff / full          {:>12.1} %", 100.0 * diff_s / full_s);
    print_legacy_oab(&day1, &day2, params);
}

/// The same for one version 3a set: build the five files and compress them, against
/// the Changes file.
fn print_legacy_oab(
    day1: &[org::system_attendant::oab::address_entry::AddressEntry],
    day2: &[org::system_attendant::oab::address_entry::AddressEntry],
    params: org::system_attendant::oab::lzx::EncodeParams,
) {
    use org::system_attendant::oab::address_entry::record;
    use org::system_attendant::oab::changes_file::changes;
    use org::system_attendant::oab::compressed_file::{compress_as, VERSION_2_3};
    use org::system_attendant::oab::legacy_files::{build, LegacyRecord, LegacyVersion, RecordSet};
    let set = |day: &[org::system_attendant::oab::address_entry::AddressEntry]| -> RecordSet {
        day.iter().map(|e| (e.rdn(), LegacyRecord::of(e, &record(e)))).collect()
    };
    let v = LegacyVersion::V3a;
    let (old, wall) = (set(day1), std::time::Instant::now());
    let new = set(day2);
    let files = build(v, &new);
    let set_s = wall.elapsed().as_secs_f64();
    let packed: u64 = files.files.iter().map(|f| compress_as(VERSION_2_3, f, params).len() as u64).sum();
    let full_s = wall.elapsed().as_secs_f64();
    let wall = std::time::Instant::now();
    let diff = changes(v, &old, &new, 0).map_or(0, |c| compress_as(VERSION_2_3, &c, params).len());
    let diff_s = wall.elapsed().as_secs_f64();
    let raw: usize = files.files.iter().map(Vec::len).sum();
    println!("  version 3a files     {raw:>12} bytes ({packed} compressed), Changes file {diff} bytes compressed");
    println!("  3a full regeneration {full_s:>12.3} s (of which building the files {set_s:.3} s)");
    println!("  3a diff generation   {diff_s:>12.3} s");
}

/// One day per mailbox count, each in a fresh process so its peak RSS is its own.
fn series(counts: &[u32], routing_groups: u32, seed: u64) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program to run the series: {e}"))?;
    println!("series: one day each, {routing_groups} routing groups, seed {seed}, a process per point");
    println!(
        "  {:>8} {:>10} {:>11} {:>11} {:>8} {:>9} {:>9} {:>9} {:>10}",
        "users", "messages", "deliveries", "events", "wall s", "sim/wall", "us/event", "RSS MiB", "KiB/user"
    );
    for users in counts {
        let output = std::process::Command::new(&exe)
            .args(["bench", "--point", "--users", &users.to_string()])
            .args(["--routing-groups", &routing_groups.to_string(), "--seed", &seed.to_string()])
            .output()
            .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let point: Point = match stdout.lines().last().map(serde_json::from_str) {
            Some(Ok(point)) if output.status.success() => point,
            _ => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                return Err(format!("the {users}-user point failed ({}): {}", output.status, stderr.trim()));
            }
        };
        let rss = point.peak_rss_mib.map_or("n/a".to_string(), |m| format!("{m:.1}"));
        // Counts are above 0 (checked on entry).
        let per_user =
            point.peak_rss_mib.map_or("n/a".to_string(), |m| format!("{:.2}", m * 1024.0 / f64::from(*users)));
        println!(
            "  {:>8} {:>10} {:>11} {:>11} {:>8.1} {:>9.0} {:>9.3} {:>9} {:>10}{}",
            point.users,
            point.messages,
            point.deliveries,
            point.events,
            point.wall_s,
            point.sim_s / point.wall_s,
            point.wall_s * 1e6 / point.events as f64,
            rss,
            per_user,
            if point.passed { "" } else { "  (checks FAILED)" }
        );
    }
    Ok(())
}
