//! Checks read what the servers report and what their disks hold; components never
//! check themselves. Safety invariants (*always*) run on every event: no duplicate
//! delivery, no routing loop, and at the end no loss (every accepted recipient delivered,
//! NDR'd or still queued durably). Expectations (*eventually* / *sometimes*) come from
//! the scenario: everything resolved by a deadline, counts of deliveries and NDRs, proof
//! that a path or a queue was really used, link state converged after the last fault.
//!
//! The checker keeps a mirror of every server's link state table, rebuilt from the
//! `LinkStateChanged` events alone, and judges each routing decision against its own
//! shortest-path computation (Floyd–Warshall, independent of the routing engine's
//! Dijkstra) over the deciding server's mirror.

use crate::resolve::Expect;
use crate::scenario::Invariant;
use org::config::topology::Topology;
use org::message::MessageId;
use org::routing::link_state::{GroupState, LinkStateVersion, OrgInfo};
use org::routing::routing_engine::NextHop;
use org::time::Instant;
use org::trace::ServerEvent;
use org::transport::advanced_queuing::QueueKey;
use org::transport::dsn::DsnCode;
use org::transport::queue_directory::DiskImage;
use org::{AddressId, ConnectorId, RoutingGroupId, ServerId};
use serde::Serialize;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

/// Per-recipient state, looked up once per event. A hash map with fixed keys: its order
/// never reaches a result (what is listed from it is sorted first).
type Pairs = HashMap<(MessageId, AddressId), Pair, BuildHasherDefault<DefaultHasher>>;

/// The best of (specificity, cost) offers: most specific first, then cheapest
/// (EXCHANGE2003.md §5).
fn best_offer(offers: impl Iterator<Item = (u32, u32)>) -> Option<(u32, u32)> {
    offers.max_by_key(|&(spec, cost)| (spec, std::cmp::Reverse(cost)))
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Check name, e.g. `no_loss` or `all_resolved_by 20h`.
    pub name: String,
    /// Whether it held.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

/// Recipient counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MessageCounts {
    /// Client messages submitted (durably accepted).
    pub submitted: u64,
    /// Recipients of those messages.
    pub recipients: u64,
    /// Of those recipients: delivered.
    pub delivered: u64,
    /// Of those recipients: relayed to a host beyond the organization.
    pub relayed: u64,
    /// Of those recipients: NDR'd.
    pub ndr: u64,
    /// Of those recipients: still queued at the end.
    pub queued: u64,
    /// NDRs generated.
    pub ndr_messages: u64,
    /// NDRs delivered to their senders.
    pub ndr_delivered: u64,
    /// Group recipients expanded to their members (which `recipients` counts instead).
    pub expanded_groups: u64,
    /// Out of Office replies sent.
    pub oof_messages: u64,
}

#[derive(Clone, Debug, Default)]
struct Pair {
    client: bool,
    delivered: bool,
    failed: bool,
    /// A group replaced by its members.
    expanded: bool,
    /// (server, hop count, routing epoch) of every arrival of this recipient's copy. A
    /// later arrival at the same server with a higher hop count and no routing change in
    /// between went round a loop; a resend after a lost 250 arrives with the same count,
    /// and a copy re-routed because a connector changed state legitimately may return.
    visits: Vec<(ServerId, u8, u64)>,
}

impl Pair {
    fn resolved(&self) -> bool {
        self.delivered || self.failed || self.expanded
    }
}

/// A failure found while the run is going.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant.
    pub check: &'static str,
    /// What happened.
    pub detail: String,
}

/// Everything the checks track.
pub struct Checker {
    invariants: BTreeSet<Invariant>,
    expectations: Vec<Expect>,
    pairs: Pairs,
    unresolved: u64,
    counts: MessageCounts,
    ndr_by_code: BTreeMap<DsnCode, u64>,
    first_failure: BTreeMap<&'static str, String>,
    violations: BTreeMap<&'static str, u64>,
    window_counts: Vec<u64>,
    deadline_results: BTreeMap<usize, (bool, u64)>,
    recoveries: u64,
    /// Connector state changes so far (routing generations).
    routing_epoch: u64,
    /// Server names, for details.
    server_names: Vec<String>,
    /// Per latency expectation: latencies of client deliveries submitted in its window.
    latencies: BTreeMap<usize, Vec<u64>>,
    /// Per convergence expectation that failed: which tables differed.
    convergence_detail: BTreeMap<usize, String>,
    topology: Arc<Topology>,
    /// Each running server's link state table as its events describe it.
    tables: Vec<Option<OrgInfo>>,
    /// Least costs between routing groups over each server's mirror (computed lazily).
    distances: Vec<Option<Vec<Vec<Option<u32>>>>>,
    /// When the run's last fault happens (the convergence bounds count from it).
    last_fault: Instant,
    /// Every (routing group, version) entry any server has held, with who held it first.
    entries_seen: BTreeMap<(RoutingGroupId, LinkStateVersion), (GroupState, ServerId)>,
    /// The simulated directory's DCs: (name, domain).
    dcs: Vec<(String, usize)>,
    /// Each DC's replica digest.
    dc_digests: Vec<u64>,
    /// Each DC's backlog (see [`Checker::set_dc_backlogs`]).
    dc_backlogs: Vec<u64>,
    /// Messages a server's categorizer holds for expansion.
    expanding: BTreeSet<(ServerId, MessageId)>,
}

impl Checker {
    /// A checker for these invariants and expectations.
    pub fn new(
        invariants: &[Invariant],
        expectations: &[Expect],
        server_names: Vec<String>,
        topology: Arc<Topology>,
        last_fault: Instant,
    ) -> Self {
        let servers = server_names.len();
        Checker {
            invariants: invariants.iter().copied().collect(),
            expectations: expectations.to_vec(),
            pairs: Pairs::default(),
            unresolved: 0,
            counts: MessageCounts::default(),
            ndr_by_code: BTreeMap::new(),
            first_failure: BTreeMap::new(),
            violations: BTreeMap::new(),
            window_counts: vec![0; expectations.len()],
            deadline_results: BTreeMap::new(),
            recoveries: 0,
            routing_epoch: 0,
            server_names,
            latencies: BTreeMap::new(),
            convergence_detail: BTreeMap::new(),
            topology,
            tables: vec![None; servers],
            distances: vec![None; servers],
            last_fault,
            entries_seen: BTreeMap::new(),
            dcs: Vec::new(),
            dc_digests: Vec::new(),
            dc_backlogs: Vec::new(),
            expanding: BTreeSet::new(),
        }
    }

    /// A server started (or restarted) with `table`, built from the directory.
    pub fn server_started(&mut self, server: ServerId, table: OrgInfo) {
        self.tables[usize::from(server.0)] = Some(table);
        self.distances[usize::from(server.0)] = None;
        self.routing_changed();
    }

    /// What is wrong with `server` taking `entry` for `group`, if anything: an older
    /// version than it held, or a version another server held with other contents.
    fn version_conflict(&mut self, server: ServerId, group: RoutingGroupId, entry: &GroupState) -> Option<String> {
        let name = |s: ServerId| self.server_names.get(usize::from(s.0)).cloned().unwrap_or_default();
        let group_name = &self.topology.routing_groups[usize::from(group.0)].name;
        if let Some(held) = self.tables[usize::from(server.0)].as_ref().map(|t| &t.groups[usize::from(group.0)]) {
            if entry.version < held.version {
                return Some(format!(
                    "{} went back from version {} to {} of {group_name}",
                    name(server),
                    held.version,
                    entry.version
                ));
            }
        }
        match self.entries_seen.get(&(group, entry.version)) {
            Some((first, holder)) if first != entry => Some(format!(
                "version {} of {group_name} means different things on {} and {}",
                entry.version,
                name(*holder),
                name(server)
            )),
            Some(_) => None,
            None => {
                self.entries_seen.insert((group, entry.version), (entry.clone(), server));
                None
            }
        }
    }

    /// Each server's table as its events describe it (None: not running).
    pub fn tables(&self) -> &[Option<OrgInfo>] {
        &self.tables
    }

    /// A server died; its table died with it.
    pub fn server_stopped(&mut self, server: ServerId) {
        self.expanding.retain(|(s, _)| *s != server);
        self.tables[usize::from(server.0)] = None;
        self.distances[usize::from(server.0)] = None;
    }

    /// The digest every running server's table shares, or the first two that differ.
    pub fn link_state_agreement(&self) -> Result<Option<u64>, String> {
        let mut first: Option<(usize, u64)> = None;
        for (i, t) in self.tables.iter().enumerate() {
            let Some(t) = t else { continue };
            let d = t.digest();
            match first {
                None => first = Some((i, d)),
                Some((j, e)) if e != d => {
                    let name = |k: usize| self.server_names.get(k).cloned().unwrap_or_default();
                    let versions = |k: usize| -> String {
                        let info = self.tables[k].as_ref().expect("running");
                        info.groups.iter().map(|g| g.version.to_string()).collect::<Vec<_>>().join(" ")
                    };
                    return Err(format!(
                        "{} has versions {} but {} has {}",
                        name(j),
                        versions(j),
                        name(i),
                        versions(i)
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(first.map(|(_, d)| d))
    }

    /// Names the simulated directory's DCs and their domains (once, before the run).
    pub fn set_directory(&mut self, dcs: Vec<(String, usize)>) {
        self.dc_digests = vec![0; dcs.len()];
        self.dc_backlogs = vec![0; dcs.len()];
        self.dcs = dcs;
    }

    /// A DC's replica digest changed.
    pub fn dc_digest(&mut self, dc: usize, digest: u64) {
        self.dc_digests[dc] = digest;
    }

    /// Each DC's backlog: attributes whose winning write (the highest-ranked made
    /// anywhere) it does not hold.
    pub fn set_dc_backlogs(&mut self, backlogs: Vec<u64>) {
        debug_assert_eq!(backlogs.len(), self.dcs.len());
        self.dc_backlogs = backlogs;
    }

    /// Whether every replica of each domain holds the same content and every DC holds
    /// each attribute's winning write (agreeing on a loser is no convergence); or what
    /// is wrong.
    pub fn directory_agreement(&self) -> Result<(), String> {
        if let Some((i, n)) = self.dc_backlogs.iter().enumerate().find(|(_, n)| **n > 0) {
            return Err(format!("{} lacks the winning write of {n} attribute(s)", self.dcs[i].0));
        }
        for (i, (name, domain)) in self.dcs.iter().enumerate() {
            let first = self.dcs.iter().position(|(_, d)| d == domain).expect("itself at least");
            if self.dc_digests[i] != self.dc_digests[first] {
                return Err(format!("{} and {name} hold different replicas of their domain", self.dcs[first].0));
            }
        }
        Ok(())
    }

    /// Least costs between all routing groups over connectors up in `server`'s mirror.
    fn distances(&mut self, server: ServerId) -> Option<&Vec<Vec<Option<u32>>>> {
        let i = usize::from(server.0);
        if self.distances[i].is_none() {
            let info = self.tables[i].as_ref()?;
            let n = self.topology.routing_groups.len();
            let mut d = vec![vec![None::<u32>; n]; n];
            for (g, row) in d.iter_mut().enumerate() {
                row[g] = Some(0);
            }
            for (c, conn) in self.topology.connectors.iter().enumerate() {
                let down = info.groups[usize::from(conn.from.0)].down.contains(&ConnectorId(c as u16));
                let (a, b) = (usize::from(conn.from.0), usize::from(conn.to.0));
                if !down && a != b && d[a][b].is_none_or(|x| conn.cost < x) {
                    d[a][b] = Some(conn.cost);
                }
            }
            for k in 0..n {
                for a in 0..n {
                    for b in 0..n {
                        if let (Some(x), Some(y)) = (d[a][k], d[k][b]) {
                            if d[a][b].is_none_or(|z| x + y < z) {
                                d[a][b] = Some(x + y);
                            }
                        }
                    }
                }
            }
            self.distances[i] = Some(d);
        }
        self.distances[i].as_ref()
    }

    /// Judges one routing decision of `server` against its table: the connector chosen
    /// must be up there and start a least-cost route; "unreachable" must mean no route.
    fn check_route(&mut self, server: ServerId, hop: NextHop, recipients: &[AddressId], cost: u32) -> Option<String> {
        let topology = self.topology.clone();
        let me = topology.server(server).routing_group;
        let group_name = |g: RoutingGroupId| topology.routing_group(g).name.clone();
        let d = self.distances(server)?.clone();
        let info = self.tables[usize::from(server.0)].as_ref()?;
        for r in recipients {
            let Some(home) = topology.directory.home_server(*r) else {
                let target = topology.directory.routing_address(*r);
                if let Some(wrong) = self.check_external_route(server, &d, hop, target, r == &recipients[0], cost) {
                    return Some(wrong);
                }
                continue;
            };
            let dest = topology.server(home).routing_group;
            let best = d[usize::from(me.0)][usize::from(dest.0)];
            match hop {
                NextHop::Unreachable => {
                    if let Some(best) = best.filter(|_| dest != me) {
                        return Some(format!(
                            "{} queued mail for {} as unreachable, but its table has a route of cost {best}",
                            self.server_names[usize::from(server.0)],
                            group_name(dest)
                        ));
                    }
                }
                NextHop::Connector(c) => {
                    let conn = topology.connector(c);
                    let down = info.groups[usize::from(conn.from.0)].down.contains(&c);
                    let via = d[usize::from(conn.to.0)][usize::from(dest.0)].map(|x| x + conn.cost);
                    let wrong = if down {
                        Some(format!("over {}, which its table marks down", conn.name))
                    } else if conn.from != me || via.is_none() || via != best {
                        Some(format!(
                            "over {} (cost via it {}), but the least cost is {}",
                            conn.name,
                            via.map_or("none".into(), |v| v.to_string()),
                            best.map_or("none".into(), |v| v.to_string())
                        ))
                    } else if r == &recipients[0] && Some(cost) != best {
                        // The event carries the route cost of its first recipient.
                        Some(format!("with cost {cost}, but the least cost is {}", best.expect("checked")))
                    } else {
                        None
                    };
                    if let Some(wrong) = wrong {
                        return Some(format!(
                            "{} routed mail for {} {wrong}",
                            self.server_names[usize::from(server.0)],
                            group_name(dest)
                        ));
                    }
                }
                NextHop::Local | NextHop::Server(_) | NextHop::Gateway(_) | NextHop::RemoteDomain(_) => {}
            }
        }
        None
    }

    /// How well gateway `g` serves external address `r`: its most specific matching
    /// address space's specificity and (lowest) cost.
    fn gateway_fit(&self, g: usize, r: AddressId) -> Option<(u32, u32)> {
        let text = self.topology.external.text(r)?;
        let gw = &self.topology.gateways[g];
        best_offer(gw.address_spaces.iter().filter_map(|s| s.pattern.specificity(&text).map(|spec| (spec, s.cost))))
    }

    /// Judges a routing decision for an external recipient against a reference over
    /// the mirror's distances `d`: the most specific reachable address space, then the
    /// least total cost (EXCHANGE2003.md §5).
    fn check_external_route(
        &self,
        server: ServerId,
        d: &[Vec<Option<u32>>],
        hop: NextHop,
        r: AddressId,
        first: bool,
        cost: u32,
    ) -> Option<String> {
        let topology = &self.topology;
        let me = usize::from(topology.server(server).routing_group.0);
        // (specificity, total cost) each gateway offers from group `from`, if reachable.
        let offer = |g: usize, from: usize| -> Option<(u32, u32)> {
            let (spec, space_cost) = self.gateway_fit(g, r)?;
            let to = usize::from(topology.gateways[g].routing_group.0);
            d[from][to].map(|x| (spec, x + space_cost))
        };
        let best = best_offer((0..topology.gateways.len()).filter_map(|g| offer(g, me)));
        let name = &self.server_names[usize::from(server.0)];
        let address = || match topology.external.lookup(r) {
            Some(org::transport::address_space::ExternalAddress::Smtp(dom)) => {
                topology.external.domain(dom).to_string()
            }
            _ => "an X.400 address".to_string(),
        };
        let chosen: Option<(u32, u32)> = match hop {
            NextHop::Unreachable => {
                return best.map(|(_, c)| {
                    format!(
                        "{name} queued mail for {} as unreachable, but a connector serves it at cost {c}",
                        address()
                    )
                });
            }
            NextHop::Connector(c) => {
                let conn = topology.connector(ConnectorId(c.0));
                let info = self.tables[usize::from(server.0)].as_ref()?;
                if info.groups[usize::from(conn.from.0)].down.contains(&c) {
                    return Some(format!(
                        "{name} routed mail for {} over {}, which its table marks down",
                        address(),
                        conn.name
                    ));
                }
                let to = usize::from(conn.to.0);
                best_offer(
                    (0..topology.gateways.len()).filter_map(|g| offer(g, to).map(|(spec, c)| (spec, c + conn.cost))),
                )
            }
            NextHop::Gateway(g) => {
                let gw = &topology.gateways[usize::from(g.0)];
                if usize::from(gw.routing_group.0) != me {
                    return Some(format!(
                        "{name} queued mail for {} to {}, a connector of another routing group",
                        address(),
                        gw.name
                    ));
                }
                self.gateway_fit(usize::from(g.0), r)
            }
            NextHop::RemoteDomain(_) => best_offer(
                (0..topology.gateways.len())
                    .filter(|g| {
                        let gw = &topology.gateways[*g];
                        gw.delivery == org::config::topology::Delivery::Dns && gw.source_bridgeheads.contains(&server)
                    })
                    .filter_map(|g| self.gateway_fit(g, r)),
            ),
            NextHop::Local | NextHop::Server(_) => return None,
        };
        let show = |x: Option<(u32, u32)>| x.map_or("none".into(), |(s, c)| format!("specificity {s}, cost {c}"));
        if chosen != best || (first && Some(cost) != best.map(|b| b.1)) {
            return Some(format!(
                "{name} queued mail for {} on {} (route: {}, event cost {cost}), but the best is {}",
                address(),
                QueueKey::Link(hop).display_name(topology),
                show(chosen),
                show(best)
            ));
        }
        None
    }

    fn violate(&mut self, invariant: Invariant, detail: impl FnOnce() -> String) -> Option<Violation> {
        if !self.invariants.contains(&invariant) {
            return None;
        }
        let name = invariant.name();
        *self.violations.entry(name).or_default() += 1;
        if self.first_failure.contains_key(name) {
            return None;
        }
        let detail = detail();
        self.first_failure.insert(name, detail.clone());
        Some(Violation { check: name, detail })
    }

    /// A connector changed state somewhere: routes may legitimately change.
    pub fn routing_changed(&mut self) {
        self.routing_epoch += 1;
    }

    fn accept(&mut self, server: ServerId, message: MessageId, recipient: AddressId, client: bool) {
        let pair = Pair { client, visits: vec![(server, 0, self.routing_epoch)], ..Pair::default() };
        let fresh = self.pairs.insert((message, recipient), pair).is_none();
        debug_assert!(fresh, "a recipient is accepted once per message");
        self.unresolved += 1;
        if client {
            self.counts.recipients += 1;
        }
    }

    /// Observes one server event; returns a violation the first time an invariant fails.
    /// `name` renders ids for details.
    pub fn observe(
        &mut self,
        now: Instant,
        server: ServerId,
        event: &ServerEvent,
        name: &dyn Fn(MessageId, AddressId) -> String,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        match event {
            ServerEvent::Submitted { message, recipients, .. } => {
                self.counts.submitted += 1;
                for r in recipients {
                    self.accept(server, *message, *r, true);
                }
            }
            ServerEvent::Ndr { message, recipients, code, ndr, to } => {
                self.counts.ndr_messages += 1;
                self.accept(server, *ndr, *to, false);
                for r in recipients {
                    *self.ndr_by_code.entry(*code).or_default() += 1;
                    self.fail(*message, *r, &mut out, name);
                }
            }
            ServerEvent::OutOfOffice { reply, to, .. } => {
                self.counts.oof_messages += 1;
                self.accept(server, *reply, *to, false);
            }
            ServerEvent::Badmail { message, recipients, .. } => {
                for r in recipients {
                    self.fail(*message, *r, &mut out, name);
                }
            }
            ServerEvent::Delivered { message, recipient, latency_ms, .. } => {
                if matches!(message, MessageId::Client(_)) {
                    let submitted = Instant(now.as_ms().saturating_sub(*latency_ms));
                    for (i, e) in self.expectations.iter().enumerate() {
                        if let Expect::LatencyAtMost { from, until, .. } = e {
                            if *from <= submitted && submitted <= *until {
                                self.latencies.entry(i).or_default().push(*latency_ms);
                            }
                        }
                    }
                }
                let pair = self.pairs.get_mut(&(*message, *recipient));
                match pair {
                    None => out.extend(self.violate(Invariant::NoLoss, || {
                        format!("{} was delivered but never accepted", name(*message, *recipient))
                    })),
                    Some(pair) if pair.resolved() => {
                        let what = if pair.delivered { "delivered twice" } else { "delivered after an NDR" };
                        out.extend(self.violate(Invariant::NoDuplicateDelivery, || {
                            format!("{} {what}", name(*message, *recipient))
                        }));
                    }
                    Some(pair) => {
                        pair.delivered = true;
                        let client = pair.client;
                        self.unresolved -= 1;
                        if client {
                            self.counts.delivered += 1;
                            for (i, e) in self.expectations.iter().enumerate() {
                                if matches!(e, Expect::DeliveredTo { recipient: r, .. } if r == recipient) {
                                    self.window_counts[i] += 1;
                                }
                            }
                        } else {
                            self.counts.ndr_delivered += 1;
                        }
                    }
                }
            }
            ServerEvent::Received { message, recipients, hop_count, .. } => {
                for r in recipients {
                    let Some(pair) = self.pairs.get_mut(&(*message, *r)) else { continue };
                    let epoch = self.routing_epoch;
                    let earlier =
                        pair.visits.iter().find(|(s, h, e)| *s == server && h < hop_count && *e == epoch).copied();
                    pair.visits.push((server, *hop_count, epoch));
                    if let Some((_, first_hop, _)) = earlier {
                        let server_name = self.server_names.get(usize::from(server.0)).cloned().unwrap_or_default();
                        out.extend(self.violate(Invariant::NoRoutingLoop, || {
                            format!(
                                "{} came back to {server_name} (hop {first_hop}, now hop {hop_count}) with no routing change in between",
                                name(*message, *r),
                            )
                        }));
                    }
                }
            }
            ServerEvent::Transferred { queue, .. } => self.count_transfer(now, *queue, None),
            ServerEvent::Relayed { message, host, queue, recipients, .. } => {
                self.count_transfer(now, *queue, Some(*host));
                for r in recipients {
                    match self.pairs.get_mut(&(*message, *r)) {
                        Some(pair) if !pair.resolved() => {
                            pair.delivered = true;
                            self.unresolved -= 1;
                            if pair.client {
                                self.counts.relayed += 1;
                            }
                        }
                        Some(_) => out.extend(self.violate(Invariant::NoDuplicateDelivery, || {
                            format!("{} relayed after it was already resolved", name(*message, *r))
                        })),
                        None => out.extend(self.violate(Invariant::NoLoss, || {
                            format!("{} was relayed but never accepted", name(*message, *r))
                        })),
                    }
                }
            }
            ServerEvent::Queued { queue: QueueKey::Unreachable, .. } => {
                for (i, e) in self.expectations.iter().enumerate() {
                    if let Expect::UnreachableAtLeast { from, until, .. }
                    | Expect::UnreachableAtMost { from, until, .. } = e
                    {
                        if *from <= now && now <= *until {
                            self.window_counts[i] += 1;
                        }
                    }
                }
            }
            ServerEvent::Recovered { .. } => self.recoveries += 1,
            ServerEvent::GcFailover { .. } | ServerEvent::CategorizerRetry { .. } => {
                let restart = matches!(event, ServerEvent::GcFailover { .. });
                for (i, e) in self.expectations.iter().enumerate() {
                    let counted = match e {
                        Expect::GcFailovers { .. } => restart,
                        Expect::CategorizerRetries { .. } => !restart,
                        _ => false,
                    };
                    if counted {
                        self.window_counts[i] += 1;
                    }
                }
            }
            ServerEvent::ExpansionStarted { message, .. } => {
                self.expanding.insert((server, *message));
            }
            ServerEvent::ExpansionFinished { message } => {
                self.expanding.remove(&(server, *message));
            }
            ServerEvent::Expanded { message, group, members } => {
                let client = match self.pairs.get_mut(&(*message, *group)) {
                    Some(pair) if !pair.resolved() => {
                        pair.expanded = true;
                        self.unresolved -= 1;
                        pair.client
                    }
                    Some(_) => {
                        out.extend(self.violate(Invariant::NoDuplicateDelivery, || {
                            format!("{} expanded after it was already resolved", name(*message, *group))
                        }));
                        return out;
                    }
                    None => {
                        out.extend(self.violate(Invariant::NoLoss, || {
                            format!("{} was expanded but never accepted", name(*message, *group))
                        }));
                        return out;
                    }
                };
                if client {
                    // Recipients count what mail reaches: the group's members, not it.
                    self.counts.recipients -= 1;
                    self.counts.expanded_groups += 1;
                }
                for m in members {
                    // A member the message already reached (by another group expanded on
                    // another server) is one recipient, not two.
                    if !self.pairs.contains_key(&(*message, *m)) {
                        self.accept(server, *message, *m, client);
                    }
                }
            }
            ServerEvent::LinkStateChanged { groups, digest } => {
                let i = usize::from(server.0);
                for (g, entry) in groups {
                    if let Some(detail) = self.version_conflict(server, *g, entry) {
                        out.extend(self.violate(Invariant::LinkStateVersions, || detail));
                    }
                }
                if let Some(table) = self.tables[i].as_mut() {
                    for (g, entry) in groups {
                        table.groups[usize::from(g.0)] = entry.clone();
                    }
                    debug_assert_eq!(table.digest(), *digest, "the mirror follows the server's table");
                }
                self.distances[i] = None;
                self.routing_changed();
            }
            _ => {}
        }
        if let ServerEvent::Queued { message, recipients, .. } = event {
            if self.expanding.contains(&(server, *message)) && !recipients.is_empty() {
                let server_name = self.server_names.get(usize::from(server.0)).cloned().unwrap_or_default();
                out.extend(self.violate(Invariant::ExpansionBeforeRouting, || {
                    format!(
                        "{server_name} routed {} while the message's groups were still being expanded",
                        name(*message, recipients[0])
                    )
                }));
            }
        }
        if let ServerEvent::Queued { queue, recipients, cost, .. } = event {
            let hop = match queue {
                QueueKey::Unreachable => Some(NextHop::Unreachable),
                QueueKey::Link(hop @ (NextHop::Connector(_) | NextHop::Gateway(_) | NextHop::RemoteDomain(_))) => {
                    Some(*hop)
                }
                _ => None,
            };
            if let Some(hop) = hop.filter(|_| self.invariants.contains(&Invariant::LeastCostRouting)) {
                if let Some(detail) = self.check_route(server, hop, recipients, *cost) {
                    out.extend(self.violate(Invariant::LeastCostRouting, || detail));
                }
            }
        }
        out
    }

    /// One transfer out of `queue` (to `host`, when it left the organization), for the
    /// expectations that count them.
    fn count_transfer(&mut self, now: Instant, queue: QueueKey, host: Option<org::HostId>) {
        for (i, e) in self.expectations.iter().enumerate() {
            let counted = match e {
                Expect::TransferredVia { queue: q, from, until, .. } => *q == queue && *from <= now && now <= *until,
                Expect::RelayedTo { host: h, from, until, .. } => Some(*h) == host && *from <= now && now <= *until,
                _ => false,
            };
            if counted {
                self.window_counts[i] += 1;
            }
        }
    }

    fn fail(
        &mut self,
        message: MessageId,
        recipient: AddressId,
        out: &mut Vec<Violation>,
        name: &dyn Fn(MessageId, AddressId) -> String,
    ) {
        match self.pairs.get_mut(&(message, recipient)) {
            Some(pair) if !pair.resolved() => {
                pair.failed = true;
                if pair.client {
                    self.counts.ndr += 1;
                }
                self.unresolved -= 1;
            }
            Some(_) => out.extend(self.violate(Invariant::NoDuplicateDelivery, || {
                format!("{} failed after it was already resolved", name(message, recipient))
            })),
            None => {
                out.extend(self.violate(Invariant::NoLoss, || {
                    format!("{} failed but was never accepted", name(message, recipient))
                }))
            }
        }
    }

    /// Recipients accepted and not yet delivered or NDR'd.
    pub fn unresolved(&self) -> u64 {
        self.unresolved
    }

    /// Records the deadline expectation with this index at its deadline.
    pub fn deadline_reached(&mut self, index: usize) {
        let result = match self.expectations[index] {
            Expect::DirectoryConverges { .. } => match self.directory_agreement() {
                Ok(()) => (true, 0),
                Err(detail) => {
                    self.convergence_detail.insert(index, detail);
                    (false, 0)
                }
            },
            Expect::LinkStateConverges { .. } => match self.link_state_agreement() {
                Ok(_) => (true, 0),
                Err(detail) => {
                    self.convergence_detail.insert(index, detail);
                    (false, 0)
                }
            },
            _ => (self.unresolved == 0, self.unresolved),
        };
        self.deadline_results.insert(index, result);
    }

    /// The indexes and instants of deadline expectations (`all_resolved_by`, link state
    /// convergence).
    pub fn deadlines(&self) -> Vec<(usize, Instant)> {
        self.expectations
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Expect::AllResolvedBy(at) => Some((i, *at)),
                Expect::LinkStateConverges { within_ms } | Expect::DirectoryConverges { within_ms } => {
                    Some((i, self.last_fault.plus_ms(*within_ms)))
                }
                _ => None,
            })
            .collect()
    }

    /// Final results, given what every server's disk holds at the end.
    pub fn finish(
        &mut self,
        disks: &[DiskImage],
        link_state_messages: u64,
        name: &dyn Fn(MessageId, AddressId) -> String,
    ) -> (Vec<CheckResult>, MessageCounts) {
        let queued: BTreeSet<(MessageId, AddressId)> = disks.iter().flat_map(|d| d.queued_recipients()).collect();
        let mut lost = Vec::new();
        for (key, pair) in &self.pairs {
            if pair.resolved() {
                continue;
            }
            if queued.contains(key) {
                if pair.client {
                    self.counts.queued += 1;
                }
            } else {
                lost.push(*key);
            }
        }
        lost.sort_unstable();
        if let Some(first) = lost.first() {
            let n = lost.len();
            let detail = format!(
                "{n} accepted recipient(s) neither delivered, NDR'd nor queued; first: {}",
                name(first.0, first.1)
            );
            *self.violations.entry("no_loss").or_default() += n as u64;
            self.first_failure.entry("no_loss").or_insert(detail);
        }
        let mut results = Vec::new();
        for invariant in &self.invariants {
            let key = invariant.name();
            let result = match self.first_failure.get(key) {
                Some(detail) => {
                    let n = self.violations.get(key).copied().unwrap_or(1);
                    CheckResult { name: key.into(), ok: false, detail: format!("{n} violation(s); first: {detail}") }
                }
                None => CheckResult { name: key.into(), ok: true, detail: self.invariant_detail(*invariant) },
            };
            results.push(result);
        }
        let ndr_count = |code: &Option<DsnCode>| match code {
            Some(c) => self.ndr_by_code.get(c).copied().unwrap_or(0),
            None => self.ndr_by_code.values().sum(),
        };
        let code_name = |code: &Option<DsnCode>| code.map_or(String::new(), |c| format!(" {}", c.as_str()));
        for (i, e) in self.expectations.iter().enumerate() {
            results.push(match e {
                Expect::AllResolvedBy(at) => {
                    let (ok, left) = self.deadline_results.get(&i).copied().unwrap_or((false, self.unresolved));
                    CheckResult {
                        name: format!("all_resolved_by {}", crate::units::Duration::from_ms(at.as_ms())),
                        ok,
                        detail: if ok {
                            "every accepted recipient delivered or NDR'd".into()
                        } else {
                            format!("{left} recipient(s) unresolved")
                        },
                    }
                }
                Expect::DeliveredAtLeast(n) => CheckResult {
                    name: format!("delivered_at_least {n}"),
                    ok: self.counts.delivered >= *n,
                    detail: format!("{} delivered", self.counts.delivered),
                },
                Expect::NdrAtLeast(n, code) => {
                    let seen = ndr_count(code);
                    CheckResult {
                        name: format!("ndr_at_least {n}{}", code_name(code)),
                        ok: seen >= *n,
                        detail: format!("{seen} NDR'd"),
                    }
                }
                Expect::NdrAtMost(n, code) => {
                    let seen = ndr_count(code);
                    CheckResult {
                        name: format!("ndr_at_most {n}{}", code_name(code)),
                        ok: seen <= *n,
                        detail: format!("{seen} NDR'd"),
                    }
                }
                Expect::TransferredVia { name, at_least, at_most, from, until, .. }
                | Expect::RelayedTo { name, at_least, at_most, from, until, .. } => {
                    let seen = self.window_counts[i];
                    let (kind, unit) = match e {
                        Expect::TransferredVia { .. } => ("transferred_via", "transfer(s)"),
                        _ => ("relayed_to", "message(s) relayed"),
                    };
                    CheckResult {
                        name: format!(
                            "{kind} {name} {} in {}..{}",
                            bounds(*at_least, *at_most),
                            crate::units::Duration::from_ms(from.as_ms()),
                            crate::units::Duration::from_ms(until.as_ms())
                        ),
                        ok: within(seen, *at_least, *at_most),
                        detail: format!("{seen} {unit}"),
                    }
                }
                Expect::UnreachableAtLeast { count, from, until }
                | Expect::UnreachableAtMost { count, from, until } => {
                    let seen = self.window_counts[i];
                    let (kind, ok) = match e {
                        Expect::UnreachableAtLeast { .. } => ("at_least", seen >= *count),
                        _ => ("at_most", seen <= *count),
                    };
                    CheckResult {
                        name: format!(
                            "unreachable_{kind} {count} in {}..{}",
                            crate::units::Duration::from_ms(from.as_ms()),
                            crate::units::Duration::from_ms(until.as_ms())
                        ),
                        ok,
                        detail: format!("{seen} queue entr(ies) unreachable"),
                    }
                }
                Expect::LatencyAtMost { percentile, at_most_ms, from, until } => {
                    let mut seen = self.latencies.get(&i).cloned().unwrap_or_default();
                    seen.sort_unstable();
                    let value = (!seen.is_empty()).then(|| {
                        let rank = ((seen.len() as f64 * percentile / 100.0).ceil() as usize).clamp(1, seen.len());
                        seen[rank - 1]
                    });
                    CheckResult {
                        name: format!(
                            "delivery_latency p{percentile} <= {} for mail submitted in {}..{}",
                            crate::units::Duration::from_ms(*at_most_ms),
                            crate::units::Duration::from_ms(from.as_ms()),
                            crate::units::Duration::from_ms(until.as_ms())
                        ),
                        ok: value.is_some_and(|v| v <= *at_most_ms),
                        detail: match value {
                            Some(v) => format!(
                                "p{percentile} {} over {} deliveries",
                                crate::units::Duration::from_ms(v),
                                seen.len()
                            ),
                            None => "no deliveries in the window".into(),
                        },
                    }
                }
                Expect::DeliveredTo { name, at_least, at_most, .. } => {
                    let seen = self.window_counts[i];
                    CheckResult {
                        name: format!("delivered_to {name} {}", bounds(*at_least, *at_most)),
                        ok: within(seen, *at_least, *at_most),
                        detail: format!("{seen} message(s) delivered"),
                    }
                }
                Expect::GcFailovers { at_least, at_most }
                | Expect::CategorizerRetries { at_least, at_most }
                | Expect::OutOfOfficeReplies { at_least, at_most } => {
                    let (kind, unit, seen) = match e {
                        Expect::GcFailovers { .. } => (
                            "gc_failovers",
                            "time(s) a GC did not answer and the categorizer turned to another",
                            self.window_counts[i],
                        ),
                        Expect::CategorizerRetries { .. } => {
                            ("categorizer_retries", "message(s) put in categorizer retry", self.window_counts[i])
                        }
                        _ => ("out_of_office_replies", "Out of Office repl(ies)", self.counts.oof_messages),
                    };
                    CheckResult {
                        name: format!("{kind} {}", bounds(*at_least, *at_most)),
                        ok: within(seen, *at_least, *at_most),
                        detail: format!("{seen} {unit}"),
                    }
                }
                Expect::RecoveredAtLeast(n) => CheckResult {
                    name: format!("recovered_at_least {n}"),
                    ok: self.recoveries >= *n,
                    detail: format!("{} restart(s) recovered queued mail", self.recoveries),
                },
                Expect::LinkStateConverges { within_ms } | Expect::DirectoryConverges { within_ms } => {
                    let at = self.last_fault.plus_ms(*within_ms);
                    let reached = self.deadline_results.get(&i).copied();
                    let (kind, agreed) = match e {
                        Expect::LinkStateConverges { .. } => {
                            ("link_state_converges", "every running server had the same table")
                        }
                        _ => ("directory_converges", "every replica of each domain held the same objects and versions"),
                    };
                    CheckResult {
                        name: format!(
                            "{kind} within {} of the last fault ({})",
                            crate::units::Duration::from_ms(*within_ms),
                            crate::units::Duration::from_ms(self.last_fault.as_ms())
                        ),
                        ok: reached.is_some_and(|r| r.0),
                        detail: match reached {
                            None => format!(
                                "the run ends before {}, when convergence is judged",
                                crate::units::Duration::from_ms(at.as_ms())
                            ),
                            Some((true, _)) => format!("{agreed} at {}", crate::units::Duration::from_ms(at.as_ms())),
                            Some((false, _)) => format!(
                                "at {}: {}",
                                crate::units::Duration::from_ms(at.as_ms()),
                                self.convergence_detail.get(&i).cloned().unwrap_or_default()
                            ),
                        },
                    }
                }
                Expect::LinkStateMessages { at_least, at_most } => {
                    let seen = link_state_messages;
                    let bounds = bounds(*at_least, *at_most);
                    CheckResult {
                        name: format!("link_state_messages {bounds}"),
                        ok: within(seen, *at_least, *at_most),
                        detail: format!("{seen} link state message(s) sent"),
                    }
                }
            });
        }
        (results, self.counts)
    }

    fn invariant_detail(&self, invariant: Invariant) -> String {
        match invariant {
            Invariant::NoLoss => format!("{} accepted recipient(s) all accounted for", self.pairs.len()),
            Invariant::NoDuplicateDelivery => "no recipient got a message twice".into(),
            Invariant::NoRoutingLoop => "no copy returned to a server it left".into(),
            Invariant::LeastCostRouting => {
                "every route followed a least-cost path over connectors up in the deciding server's table".into()
            }
            Invariant::LinkStateVersions => {
                format!("{} link state entr(ies), versions only moved forward", self.entries_seen.len())
            }
            Invariant::ExpansionBeforeRouting => {
                format!("{} group(s) expanded, each message routed only once complete", self.counts.expanded_groups)
            }
        }
    }
}

/// `lo..=hi`, `>= lo` or `<= hi`, as check names show bounds.
/// Whether a count is inside an expectation's bounds.
fn within(seen: u64, at_least: Option<u64>, at_most: Option<u64>) -> bool {
    at_least.is_none_or(|lo| seen >= lo) && at_most.is_none_or(|hi| seen <= hi)
}

fn bounds(at_least: Option<u64>, at_most: Option<u64>) -> String {
    match (at_least, at_most) {
        (Some(lo), Some(hi)) => format!("{lo}..={hi}"),
        (Some(lo), None) => format!(">= {lo}"),
        (None, Some(hi)) => format!("<= {hi}"),
        (None, None) => "any".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use org::StoreId;

    /// An organization with no routing to judge (these tests are about messages).
    fn no_topology() -> Arc<Topology> {
        Arc::new(Topology {
            servers: Vec::new(),
            routing_groups: Vec::new(),
            connectors: Vec::new(),
            stores: Vec::new(),
            directory: org::directory::global_catalog::GlobalCatalog::new(),
            gateways: Vec::new(),
            external: org::transport::address_space::ExternalDirectory::new(),
            internet: org::config::topology::InternetConfig::default(),
            plants: org::planted_bugs::Plants::NONE,
            link_state: org::config::topology::LinkStateConfig::default(),
        })
    }

    fn names3() -> Vec<String> {
        vec!["EX0".into(), "EX1".into(), "EX2".into()]
    }

    fn name(m: MessageId, r: AddressId) -> String {
        format!("{m:?}/{r:?}")
    }

    fn delivered(m: u64, r: u32) -> ServerEvent {
        ServerEvent::Delivered {
            message: MessageId::Client(m),
            recipient: AddressId(r),
            store: StoreId(0),
            latency_ms: 1,
        }
    }

    #[test]
    fn duplicate_and_loss_are_caught() {
        let all = [Invariant::NoLoss, Invariant::NoDuplicateDelivery, Invariant::NoRoutingLoop];
        let mut c = Checker::new(&all, &[], names3(), no_topology(), Instant::ZERO);
        let submit = ServerEvent::Submitted {
            message: MessageId::Client(1),
            sender: AddressId(0),
            recipients: vec![AddressId(1), AddressId(2)],
            size_bytes: 10,
        };
        assert!(c.observe(Instant(0), ServerId(0), &submit, &name).is_empty());
        assert!(c.observe(Instant(1), ServerId(0), &delivered(1, 1), &name).is_empty());
        let v = c.observe(Instant(2), ServerId(0), &delivered(1, 1), &name);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].check, "no_duplicate_delivery");
        // Recipient 2 is neither delivered nor on any disk: lost.
        let (results, counts) = c.finish(&[DiskImage::default()], 0, &name);
        let by_name: BTreeMap<_, _> = results.iter().map(|r| (r.name.as_str(), r.ok)).collect();
        assert!(!by_name["no_loss"]);
        assert!(!by_name["no_duplicate_delivery"]);
        assert!(by_name["no_routing_loop"]);
        assert_eq!((counts.recipients, counts.delivered), (2, 1));
    }

    #[test]
    fn loop_is_caught_but_a_resend_is_not() {
        let mut c = Checker::new(&[Invariant::NoRoutingLoop], &[], names3(), no_topology(), Instant::ZERO);
        let submit = ServerEvent::Submitted {
            message: MessageId::Client(1),
            sender: AddressId(0),
            recipients: vec![AddressId(1)],
            size_bytes: 1,
        };
        c.observe(Instant(0), ServerId(0), &submit, &name);
        let arrive = |at: u16, from: u16, hop_count: u8| {
            let e = ServerEvent::Received {
                message: MessageId::Client(1),
                from: ServerId(from),
                conn: org::transport::smtp_protocol::ConnId {
                    client: ServerId(from),
                    seq: org::transport::smtp_protocol::SessionSeq(0),
                },
                recipients: vec![AddressId(1)],
                hop_count,
            };
            (ServerId(at), e)
        };
        let (s, e) = arrive(1, 0, 1);
        assert!(c.observe(Instant(1), s, &e, &name).is_empty());
        // The same copy again from the same sender (its 250 was lost): not a loop.
        assert!(c.observe(Instant(2), s, &e, &name).is_empty());
        let (s, e) = arrive(2, 1, 2);
        assert!(c.observe(Instant(3), s, &e, &name).is_empty());
        // Back at EX1 after a connector changed state: a re-route, not a loop.
        c.routing_changed();
        let (s, e) = arrive(1, 2, 3);
        assert!(c.observe(Instant(4), s, &e, &name).is_empty());
        // Round again with no change in between: a loop.
        let (s, e) = arrive(2, 1, 4);
        assert!(c.observe(Instant(5), s, &e, &name).is_empty());
        let (s, e) = arrive(1, 2, 5);
        let v = c.observe(Instant(6), s, &e, &name);
        assert_eq!(v[0].check, "no_routing_loop");
        assert!(v[0].detail.contains("came back to EX1 (hop 3, now hop 5)"), "{}", v[0].detail);
    }
}
