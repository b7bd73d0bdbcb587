//! Checks read what the servers report and what their disks hold; components never
//! check themselves. Safety invariants (*always*) run on every event: no duplicate
//! delivery, no routing loop, and at the end no loss (every accepted recipient delivered,
//! NDR'd or still queued durably). Expectations (*eventually* / *sometimes*) come from
//! the scenario: everything resolved by a deadline, counts of deliveries and NDRs, proof
//! that a path or a queue was really used.

use crate::resolve::Expect;
use crate::scenario::Invariant;
use org::advanced_queuing::QueueKey;
use org::dsn::DsnCode;
use org::message::MessageId;
use org::queue_directory::DiskImage;
use org::time::Instant;
use org::trace::ServerEvent;
use org::{AddressId, ServerId};
use serde::Serialize;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasherDefault;

/// Per-recipient state, looked up once per event. A hash map with fixed keys: its order
/// never reaches a result (what is listed from it is sorted first).
type Pairs = HashMap<(MessageId, AddressId), Pair, BuildHasherDefault<DefaultHasher>>;

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
    /// Of those recipients: NDR'd.
    pub ndr: u64,
    /// Of those recipients: still queued at the end.
    pub queued: u64,
    /// NDRs generated.
    pub ndr_messages: u64,
    /// NDRs delivered to their senders.
    pub ndr_delivered: u64,
}

#[derive(Clone, Debug, Default)]
struct Pair {
    client: bool,
    delivered: bool,
    failed: bool,
    /// (server, hop count, routing epoch) of every arrival of this recipient's copy. A
    /// later arrival at the same server with a higher hop count and no routing change in
    /// between went round a loop; a resend after a lost 250 arrives with the same count,
    /// and a copy re-routed because a connector changed state legitimately may return.
    visits: Vec<(ServerId, u8, u64)>,
}

impl Pair {
    fn resolved(&self) -> bool {
        self.delivered || self.failed
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
}

impl Checker {
    /// A checker for these invariants and expectations.
    pub fn new(invariants: &[Invariant], expectations: &[Expect], server_names: Vec<String>) -> Self {
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
        }
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
            ServerEvent::Transferred { queue, .. } => {
                for (i, e) in self.expectations.iter().enumerate() {
                    if let Expect::TransferredVia { queue: q, from, until, .. } = e {
                        if q == queue && *from <= now && now <= *until {
                            self.window_counts[i] += 1;
                        }
                    }
                }
            }
            ServerEvent::Queued { queue: QueueKey::Unreachable, .. } => {
                for (i, e) in self.expectations.iter().enumerate() {
                    if let Expect::UnreachableAtLeast { from, until, .. } = e {
                        if *from <= now && now <= *until {
                            self.window_counts[i] += 1;
                        }
                    }
                }
            }
            ServerEvent::Recovered { .. } => self.recoveries += 1,
            _ => {}
        }
        out
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

    /// Records the `all_resolved_by` expectation with this index at its deadline.
    pub fn deadline_reached(&mut self, index: usize) {
        self.deadline_results.insert(index, (self.unresolved == 0, self.unresolved));
    }

    /// The indexes and instants of `all_resolved_by` deadlines.
    pub fn deadlines(&self) -> Vec<(usize, Instant)> {
        self.expectations
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Expect::AllResolvedBy(at) => Some((i, *at)),
                _ => None,
            })
            .collect()
    }

    /// Final results, given what every server's disk holds at the end.
    pub fn finish(
        &mut self,
        disks: &[DiskImage],
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
                Expect::TransferredVia { name: queue, at_least, at_most, from, until, .. } => {
                    let seen = self.window_counts[i];
                    let bounds = match (at_least, at_most) {
                        (Some(lo), Some(hi)) => format!("{lo}..={hi}"),
                        (Some(lo), None) => format!(">= {lo}"),
                        (None, Some(hi)) => format!("<= {hi}"),
                        (None, None) => "any".into(),
                    };
                    CheckResult {
                        name: format!(
                            "transferred_via {queue} {bounds} in {}..{}",
                            crate::units::Duration::from_ms(from.as_ms()),
                            crate::units::Duration::from_ms(until.as_ms())
                        ),
                        ok: at_least.is_none_or(|lo| seen >= lo) && at_most.is_none_or(|hi| seen <= hi),
                        detail: format!("{seen} transfer(s)"),
                    }
                }
                Expect::UnreachableAtLeast { count, from, until } => {
                    let seen = self.window_counts[i];
                    CheckResult {
                        name: format!(
                            "unreachable_at_least {count} in {}..{}",
                            crate::units::Duration::from_ms(from.as_ms()),
                            crate::units::Duration::from_ms(until.as_ms())
                        ),
                        ok: seen >= *count,
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
                Expect::RecoveredAtLeast(n) => CheckResult {
                    name: format!("recovered_at_least {n}"),
                    ok: self.recoveries >= *n,
                    detail: format!("{} restart(s) recovered queued mail", self.recoveries),
                },
            });
        }
        (results, self.counts)
    }

    fn invariant_detail(&self, invariant: Invariant) -> String {
        match invariant {
            Invariant::NoLoss => format!("{} accepted recipient(s) all accounted for", self.pairs.len()),
            Invariant::NoDuplicateDelivery => "no recipient got a message twice".into(),
            Invariant::NoRoutingLoop => "no copy returned to a server it left".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use org::StoreId;

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
        let mut c = Checker::new(&all, &[], names3());
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
        let (results, counts) = c.finish(&[DiskImage::default()], &name);
        let by_name: BTreeMap<_, _> = results.iter().map(|r| (r.name.as_str(), r.ok)).collect();
        assert_eq!(by_name["no_loss"], false);
        assert_eq!(by_name["no_duplicate_delivery"], false);
        assert_eq!(by_name["no_routing_loop"], true);
        assert_eq!((counts.recipients, counts.delivered), (2, 1));
    }

    #[test]
    fn loop_is_caught_but_a_resend_is_not() {
        let mut c = Checker::new(&[Invariant::NoRoutingLoop], &[], names3());
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
                conn: org::smtp_protocol::ConnId { client: ServerId(from), seq: 0 },
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
