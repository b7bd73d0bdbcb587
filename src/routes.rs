//! `orgsim routes`: a server's link state table at one moment of a run, and the route it
//! would choose to every routing group — what WinRoute shows on a real server.
//!
//! The run is cut at `--at`; the tables are the checker's mirrors of every server's
//! table (kept from the servers' own `link_state_changed` events, digest-checked), so
//! what this prints is exactly what the servers routed on at that moment.

use crate::{load_until, output_error};
use org::config::topology::Delivery;
use org::config::topology::Topology;
use org::planted_bugs::Plants;
use org::routing::link_state::{ConnectorState, LinkStateTable, OrgInfo};
use org::routing::routing_engine::{external_route, ExternalRoute};
use org::{ConnectorId, RoutingGroupId, ServerId};
use sim::units::Duration;
use sim::world::{run, RunOutcome};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// Runs `scenario` at `seed` up to `at` and prints the link state view of `server`, or of
/// every server (servers holding the same table share one listing).
pub fn routes_command(scenario: &Path, seed: u64, at: Duration, server: Option<&str>, plants: Plants) -> ExitCode {
    let resolved = match load_until("routes", scenario, at, plants) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let topology = resolved.topology.clone();
    let only = match server {
        None => None,
        Some(name) => match topology.servers.iter().position(|s| s.name.to_lowercase() == name.to_lowercase()) {
            Some(i) => Some(ServerId(i as u16)),
            None => {
                let names: Vec<&str> = topology.servers.iter().map(|s| s.name.as_str()).collect();
                eprintln!(
                    "orgsim routes: --server {name:?}: no such server in {}; servers: {}",
                    scenario.display(),
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
        },
    };
    let outcome = run(Arc::new(resolved), seed, None);
    let header = format!("{} at {at}, seed {seed}\n", scenario.display());
    let text = header + &render(&topology, &outcome, only);
    let mut stdout = std::io::stdout().lock();
    match std::io::Write::write_all(&mut stdout, text.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => output_error("the routes", Path::new("stdout"), e),
    }
}

/// The listing of `outcome`'s tables: one server's, or every distinct table with the
/// servers holding it.
pub fn render(topology: &Topology, outcome: &RunOutcome, only: Option<ServerId>) -> String {
    let name = |s: ServerId| topology.server(s).name.as_str();
    let mut out = String::new();
    let servers: Vec<ServerId> = match only {
        Some(s) => vec![s],
        None => (0..topology.servers.len()).map(|i| ServerId(i as u16)).collect(),
    };
    // Distinct tables in order of their first holder; the holders of each.
    let mut tables: Vec<(&OrgInfo, Vec<ServerId>)> = Vec::new();
    let mut stopped = Vec::new();
    for s in servers {
        match &outcome.tables[usize::from(s.0)] {
            None => stopped.push(s),
            Some(info) => match tables.iter_mut().find(|(t, _)| *t == info) {
                Some((_, holders)) => holders.push(s),
                None => tables.push((info, vec![s])),
            },
        }
    }
    if !stopped.is_empty() {
        let names: Vec<&str> = stopped.iter().map(|s| name(*s)).collect();
        out.push_str(&format!("not running (no table): {}\n", names.join(", ")));
    }
    if tables.len() > 1 {
        out.push_str(&format!("{} different tables: link state has not converged\n", tables.len()));
    }
    for (info, holders) in tables {
        out.push('\n');
        render_table(&mut out, topology, outcome, info, &holders);
    }
    out
}

fn render_table(out: &mut String, topology: &Topology, outcome: &RunOutcome, info: &OrgInfo, holders: &[ServerId]) {
    let server_name = |s: ServerId| topology.server(s).name.as_str();
    let group_name = |g: RoutingGroupId| topology.routing_group(g).name.as_str();
    let connector_name = |c: ConnectorId| topology.connector(c).name.as_str();
    let held_by: Vec<String> = holders
        .iter()
        .map(|s| {
            let server = topology.server(*s);
            format!("{} ({}, {})", server.name, group_name(server.routing_group), server.version.as_str())
        })
        .collect();
    out.push_str(&format!("table {:016x} held by {}\n", info.digest(), held_by.join(", ")));
    let gw = topology.routing_groups.iter().map(|g| g.name.len()).max().unwrap_or(0);
    let cw = topology.connectors.iter().map(|c| c.name.len()).max().unwrap_or(0).max("connector".len());
    out.push_str("  routing groups:\n");
    for (g, entry) in info.groups.iter().enumerate() {
        let g = RoutingGroupId(g as u16);
        out.push_str(&format!(
            "    {:<gw$}  version {:<9} master {}\n",
            group_name(g),
            entry.version.to_string(),
            server_name(entry.master)
        ));
    }
    let table = LinkStateTable::from_org_info(topology, info.clone());
    if !topology.gateways.is_empty() {
        out.push_str("  connectors with address spaces:\n");
        for gw in &topology.gateways {
            let bridgeheads: Vec<&str> = gw.source_bridgeheads.iter().map(|s| server_name(*s)).collect();
            let delivery = match gw.delivery {
                Delivery::Dns => "DNS".to_string(),
                Delivery::SmartHost(h) => format!("smart host {}", topology.host(h).name),
                Delivery::Mta(h) => format!("X.400 to MTA {}", topology.host(h).name),
                Delivery::Organization { server, virtual_server } => {
                    let vs = &topology.edge.virtual_servers[usize::from(virtual_server)].1.name;
                    format!("smart host {} ({vs}, another organization)", topology.server(server).name)
                }
            };
            let spaces: Vec<String> =
                gw.address_spaces.iter().map(|s| format!("{} (cost {})", s.pattern, s.cost)).collect();
            out.push_str(&format!(
                "    {} in {}: {}; bridgeheads {}; {}\n",
                gw.name,
                group_name(gw.routing_group),
                delivery,
                bridgeheads.join(", "),
                spaces.join(", ")
            ));
        }
    }
    if !topology.connectors.is_empty() {
        out.push_str("  connectors:\n");
        out.push_str(&format!("    {:<cw$}  {:>gw$}    {:<gw$}  cost  table  now\n", "connector", "from", "to"));
    }
    for (i, c) in topology.connectors.iter().enumerate() {
        let id = ConnectorId(i as u16);
        let known = table.state(id);
        let now = outcome.connectors[i];
        let note = if known == now { "" } else { "  (not known yet)" };
        out.push_str(&format!(
            "    {:<cw$}  {:>gw$} -> {:<gw$}  {:>4}  {:<5}  {}{note}\n",
            c.name,
            group_name(c.from),
            group_name(c.to),
            c.cost,
            known.as_str(),
            now.as_str(),
        ));
    }
    // Routes from each routing group among the holders (a table routes the same from
    // every server of one group).
    let mut from_groups: BTreeMap<RoutingGroupId, Vec<&str>> = BTreeMap::new();
    for s in holders {
        from_groups.entry(topology.server(*s).routing_group).or_default().push(server_name(*s));
    }
    for (from, names) in from_groups {
        out.push_str(&format!("  routes from {} ({}):\n", group_name(from), names.join(", ")));
        for (g, _) in topology.routing_groups.iter().enumerate() {
            let to = RoutingGroupId(g as u16);
            if to == from {
                continue;
            }
            let line = match table.route(topology, from, to) {
                Some(route) => {
                    let path: Vec<&str> = route.path.iter().map(|c| connector_name(*c)).collect();
                    let blocked =
                        route.path.iter().any(|c| outcome.connectors[usize::from(c.0)] == ConnectorState::Down);
                    let note = if blocked { "  (a connector on it cannot carry mail now)" } else { "" };
                    format!("cost {:>3}  {}{note}", route.cost, path.join(" > "))
                }
                None => "unreachable: Final destination currently unreachable".to_string(),
            };
            out.push_str(&format!("    to {:<gw$}  {line}\n", group_name(to)));
        }
        if !topology.gateways.is_empty() {
            render_address_spaces(out, topology, &table, from);
        }
    }
}

/// Where mail for each address space goes from `from` (§5: most specific match, then
/// cost; an address that matches only this space is shown).
fn render_address_spaces(out: &mut String, topology: &Topology, table: &LinkStateTable, from: RoutingGroupId) {
    let mut spaces: Vec<String> = Vec::new();
    let mut examples = Vec::new();
    for gw in &topology.gateways {
        for space in &gw.address_spaces {
            let label = space.pattern.to_string();
            if !spaces.contains(&label) {
                spaces.push(label);
                examples.push(space.pattern.example());
            }
        }
    }
    let sw = spaces.iter().map(String::len).max().unwrap_or(0);
    out.push_str("    by address space:\n");
    for (label, example) in spaces.iter().zip(&examples) {
        let line = match external_route(topology, table, from, example.as_text()) {
            ExternalRoute::Via(choice) => {
                let gw = topology.gateway(choice.gateway);
                let via = match choice.first {
                    Some(c) => format!(" via {}", topology.connector(c).name),
                    None => String::new(),
                };
                let dns_x400 = gw.delivery == Delivery::Dns && !label.starts_with("SMTP:");
                let note = if dns_x400 { "  (DNS cannot deliver a non-SMTP address: NDR 4.4.9)" } else { "" };
                format!("cost {:>3}  {}{via}{note}", choice.cost, gw.name)
            }
            ExternalRoute::Unreachable => "unreachable: Final destination currently unreachable".into(),
            ExternalRoute::NoMatch => unreachable!("every listed space matches its own example"),
        };
        out.push_str(&format!("      {label:<sw$}  {line}\n"));
    }
}
