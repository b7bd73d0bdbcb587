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
//!
//! One file per property, as TigerBeetle's `testing/cluster/*_checker.zig`:
//! `recipient_ledger` (no loss, no duplicate delivery, no routing loop),
//! `link_state_mirror` (link state versions and convergence), `least_cost_routing`,
//! `expansion_order` (expansion before routing), `directory_convergence` and
//! `expectations`. The [`Checker`] hands each event to each of them in a fixed order.

mod badmail;
pub mod database_size_limit;
mod directory_convergence;
mod edge_filters;
mod expansion_order;
mod expectations;
mod least_cost_routing;
mod link_state_mirror;
pub mod log_disk;
pub mod oab_clients;
mod pair_table;
pub mod public_folders;
mod quota;
mod recipient_ledger;
mod restore_window;

use directory_convergence::DirectoryMirror;
use expansion_order::ExpansionOrder;
use expectations::Expectations;
use least_cost_routing::RouteJudge;
use link_state_mirror::LinkStateMirror;
use recipient_ledger::{RecipientLedger, Settled};

use crate::resolve::Expect;
use crate::scenario::Invariant;
use org::config::topology::{MailboxQuota, QuotaTarget, Topology};
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
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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

/// A failure found while the run is going.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The invariant.
    pub check: &'static str,
    /// What happened.
    pub detail: String,
}

/// The invariants switched on and how each has fared.
struct Verdicts {
    invariants: BTreeSet<Invariant>,
    first_failure: BTreeMap<&'static str, String>,
    violations: BTreeMap<&'static str, u64>,
}

/// What a property checker reports a failure to while it looks at one event, with the
/// names details need.
pub(super) struct Judge<'a> {
    verdicts: &'a mut Verdicts,
    out: Vec<Violation>,
    /// Renders a (message, recipient) pair for details.
    pub(super) name: &'a dyn Fn(MessageId, AddressId) -> String,
    pub(super) server_names: &'a [String],
}

impl Judge<'_> {
    /// Whether this invariant is checked in this run.
    pub(super) fn checks(&self, invariant: Invariant) -> bool {
        self.verdicts.invariants.contains(&invariant)
    }

    /// Counts a failure of `invariant` (if it is checked); the first one of each is
    /// reported with its detail.
    pub(super) fn violate(&mut self, invariant: Invariant, detail: impl FnOnce() -> String) {
        if !self.checks(invariant) {
            return;
        }
        let name = invariant.name();
        *self.verdicts.violations.entry(name).or_default() += 1;
        if self.verdicts.first_failure.contains_key(name) {
            return;
        }
        let detail = detail();
        self.verdicts.first_failure.insert(name, detail.clone());
        self.out.push(Violation { check: name, detail });
    }

    pub(super) fn server_name(&self, server: ServerId) -> String {
        self.server_names.get(usize::from(server.0)).cloned().unwrap_or_default()
    }
}

/// Everything the checks track: one checker per property.
pub struct Checker {
    verdicts: Verdicts,
    /// Server names, for details.
    server_names: Vec<String>,
    ledger: RecipientLedger,
    public: public_folders::PublicFolderJudge,
    mirror: LinkStateMirror,
    routes: RouteJudge,
    expansion: ExpansionOrder,
    size_limits: database_size_limit::SizeLimits,
    log_disks: log_disk::LogDisks,
    quota: quota::QuotaJudge,
    loss_windows: restore_window::LossWindows,
    oab_clients: oab_clients::OabClientMirror,
    edge: edge_filters::EdgeJudge,
    badmail: badmail::BadmailJudge,
    directory: DirectoryMirror,
    expectations: Expectations,
    topology: Arc<Topology>,
}

impl Checker {
    /// An OAB generation finished (its files, for `oab_holds`).
    pub fn oab_generated(
        &mut self,
        now: Instant,
        oab: org::system_attendant::oal_generation::OabId,
        generation: &org::system_attendant::oab::oal_generator::Generation,
    ) {
        let full = generation.v4.as_ref().map(|v| v.full.as_slice());
        let legacy = crate::scenario::LegacyOutcomeKind::of(&generation.legacy);
        self.expectations.oab_generated(now, oab, full, legacy);
        self.oab_clients.generated(now, oab, generation);
    }

    /// The OAB client populations as the run starts: (OAB, clients, sequence held).
    pub fn oab_client_populations(
        &mut self,
        populations: &[(
            org::system_attendant::oal_generation::OabId,
            org::system_attendant::oab::distribution::OabVersion,
            u32,
            Option<u32>,
        )],
    ) {
        self.oab_clients.populations(populations);
    }

    /// A cached-mode client finished a download.
    pub fn oab_downloaded(
        &mut self,
        facts: &oab_clients::OabDownloadFacts<'_>,
        name: &dyn Fn(MessageId, AddressId) -> String,
    ) -> Vec<Violation> {
        let mut judge = Judge { verdicts: &mut self.verdicts, out: Vec::new(), name, server_names: &self.server_names };
        self.oab_clients.downloaded(facts, &mut judge);
        judge.out
    }

    /// A checker for these invariants and expectations.
    pub fn new(
        invariants: &[Invariant],
        expectations: &[Expect],
        server_names: Vec<String>,
        topology: Arc<Topology>,
        last_fault: Instant,
    ) -> Self {
        let servers = server_names.len();
        let mut ledger = RecipientLedger::default();
        ledger.set_public_stores(topology.public_stores.iter().map(|p| (p.server, p.address)).collect());
        ledger.several_forests = topology.forests.len() > 1;
        Checker {
            verdicts: Verdicts {
                invariants: invariants.iter().copied().collect(),
                first_failure: BTreeMap::new(),
                violations: BTreeMap::new(),
            },
            server_names,
            ledger,
            public: public_folders::PublicFolderJudge::default(),
            mirror: LinkStateMirror::new(topology.clone(), servers),
            routes: RouteJudge::new(topology.clone(), servers),
            expansion: ExpansionOrder::default(),
            size_limits: database_size_limit::SizeLimits::default(),
            log_disks: log_disk::LogDisks::default(),
            quota: quota::QuotaJudge::new(topology.clone(), &[]),
            loss_windows: restore_window::LossWindows::new(topology.clone(), std::iter::empty()),
            oab_clients: oab_clients::OabClientMirror::default(),
            edge: edge_filters::EdgeJudge::new(topology.clone()),
            badmail: badmail::BadmailJudge::new(topology.clone()),
            directory: DirectoryMirror::default(),
            expectations: Expectations::new(expectations, last_fault),
            topology,
        }
    }

    /// A server started (or restarted) with `table`, built from the directory.
    pub fn server_started(&mut self, server: ServerId, table: OrgInfo) {
        self.mirror.tables[usize::from(server.0)] = Some(table);
        self.routes.forget(server);
        self.routing_changed();
    }

    /// The directory names a mailbox's new home server (a move completed).
    /// That changes where mail goes: a copy may pass a server again.
    pub fn mailbox_moved(&mut self, mailbox: AddressId, server: ServerId) {
        self.routes.homes.insert(mailbox, server);
        self.routing_changed();
    }

    /// The storage groups the timeline's disk failures hit: their deliveries since
    /// each backup are kept, the loss a failure without logs may cause.
    pub fn watch_disk_failures(&mut self, groups: impl Iterator<Item = org::StorageGroupId>) {
        self.loss_windows = restore_window::LossWindows::new(self.topology.clone(), groups);
    }

    /// A server started: it mounts all these databases.
    pub fn databases_mounted(&mut self, stores: impl Iterator<Item = org::StoreId>) {
        self.size_limits.server_started(stores);
    }

    /// Each server's table as its events describe it (None: not running).
    pub fn tables(&self) -> &[Option<OrgInfo>] {
        &self.mirror.tables
    }

    /// A server died; its table and what its categorizer held died with it.
    pub fn server_stopped(&mut self, server: ServerId) {
        self.expansion.server_stopped(server);
        self.mirror.tables[usize::from(server.0)] = None;
        self.routes.forget(server);
    }

    /// The digest every running server's table shares, or the first two that differ.
    pub fn link_state_agreement(&self) -> Result<Option<u64>, String> {
        self.mirror.agreement(&self.server_names)
    }

    /// Names the simulated directory's DCs and their domains (once, before the run).
    pub fn set_directory(&mut self, dcs: Vec<(String, usize)>) {
        self.directory.set_directory(dcs);
    }

    /// A DC's replica digest changed.
    pub fn dc_digest(&mut self, dc: usize, digest: u64) {
        self.directory.digest(dc, digest);
    }

    /// Each DC's backlog: attributes whose winning write (the highest-ranked made
    /// anywhere) it does not hold.
    pub fn set_dc_backlogs(&mut self, backlogs: Vec<u64>) {
        self.directory.set_backlogs(backlogs);
    }

    /// Whether every replica of each domain holds the same content and every DC holds
    /// each attribute's winning write (agreeing on a loser is no convergence); or what
    /// is wrong.
    pub fn directory_agreement(&self) -> Result<(), String> {
        self.directory.agreement()
    }

    /// A connector changed state somewhere: routes may legitimately change.
    pub fn routing_changed(&mut self) {
        self.ledger.routing_changed();
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
        let mut judge = Judge { verdicts: &mut self.verdicts, out: Vec::new(), name, server_names: &self.server_names };
        self.expectations.observe(now, server, event);
        if let Settled::DeliveredToClient(recipient) = self.ledger.observe(server, event, &mut judge) {
            self.expectations.delivered_to(recipient);
        }
        if let ServerEvent::LinkStateChanged { groups, digest } = event {
            self.mirror.changed(server, groups, *digest, &mut judge);
            self.routes.forget(server);
            self.ledger.routing_changed();
        }
        self.expansion.observe(server, event, &mut judge);
        self.size_limits.observe(event, &mut judge);
        self.routes.observe(server, event, &self.mirror, &mut judge);
        self.loss_windows.observe(now, event);
        self.edge.observe(now, server, event, &mut judge);
        self.badmail.observe(server, event, &mut judge);
        judge.out
    }

    /// Recipients accepted and not yet delivered or NDR'd.
    pub fn unresolved(&self) -> u64 {
        self.ledger.unresolved
    }

    /// Records the deadline expectation with this index at its deadline.
    pub fn deadline_reached(&mut self, index: usize) {
        let agreement = match self.expectations.deadline_kind(index) {
            Expect::DirectoryConverges { .. } => Some(self.directory.agreement()),
            Expect::LinkStateConverges { .. } => Some(self.link_state_agreement().map(|_| ())),
            Expect::PublicFoldersConverge(_) => Some(self.public.agreement()),
            Expect::OabClientsCurrent { oab, at, .. } => {
                let (ok, detail) = self.oab_clients.current(*oab, *at, &self.topology.calendar);
                return self.expectations.judged(index, ok, detail);
            }
            _ => None,
        };
        self.expectations.deadline_reached(index, agreement, self.ledger.unresolved);
    }

    /// The indexes and instants of deadline expectations (`all_resolved_by`, link state
    /// convergence).
    pub fn deadlines(&self) -> Vec<(usize, Instant)> {
        self.expectations.deadlines()
    }

    /// A daily size check's verdict on `store`, against what its server's disk holds.
    pub fn database_size(
        &mut self,
        check: database_size_limit::SizeCheck,
        name: &dyn Fn(MessageId, AddressId) -> String,
    ) -> Vec<Violation> {
        let mut judge = Judge { verdicts: &mut self.verdicts, out: Vec::new(), name, server_names: &self.server_names };
        self.size_limits.checked(check, &mut judge);
        judge.out
    }

    /// A storage group's log began a new file; `f` is what its server's disk holds.
    pub fn log_file_begun(
        &mut self,
        f: log_disk::LogFileBegun,
        name: &dyn Fn(MessageId, AddressId) -> String,
    ) -> Vec<Violation> {
        let mut judge = Judge { verdicts: &mut self.verdicts, out: Vec::new(), name, server_names: &self.server_names };
        self.log_disks.begun(f, &mut judge);
        judge.out
    }

    /// The limits the scenario's timeline sets (`set_quota`): the mailboxes they reach
    /// are followed from the start.
    pub fn quota_scripted(&mut self, scripted: &[(QuotaTarget, MailboxQuota)]) {
        self.quota = quota::QuotaJudge::new(self.topology.clone(), scripted);
    }

    /// An administrator changed a limit in the directory.
    pub fn quota_changed(&mut self, now: Instant, target: QuotaTarget, quota: MailboxQuota) {
        self.quota.changed(now, target, quota);
    }

    /// Whether the quota check follows any mailbox.
    pub fn quota_any(&self) -> bool {
        self.quota.any()
    }

    /// Whether the quota check follows deliveries to this mailbox of this database.
    pub fn quota_follows(&self, mailbox: AddressId, store: org::StoreId) -> bool {
        self.quota.follows(mailbox, store)
    }

    /// A copy of `size_bytes` went into a followed mailbox.
    pub fn quota_delivered(
        &mut self,
        now: Instant,
        message: MessageId,
        mailbox: AddressId,
        store: org::StoreId,
        size_bytes: u64,
        name: &dyn Fn(MessageId, AddressId) -> String,
    ) -> Vec<Violation> {
        let mut judge = Judge { verdicts: &mut self.verdicts, out: Vec::new(), name, server_names: &self.server_names };
        self.quota.delivered(now, message, mailbox, store, size_bytes, &mut judge);
        judge.out
    }

    /// SP2's organization-wide stop of public folder content replication, on or off.
    pub fn public_content_stopped(&mut self, now: Instant, stopped: bool) {
        self.public.content_stopped(now, stopped);
    }

    /// Judges a server's public folder event at `now`; `folder` names folders.
    pub fn public_observe(
        &mut self,
        now: Instant,
        server: ServerId,
        event: &ServerEvent,
        folder: public_folders::FolderName<'_>,
        name: &dyn Fn(MessageId, AddressId) -> String,
    ) -> Vec<Violation> {
        let mut judge = Judge { verdicts: &mut self.verdicts, out: Vec::new(), name, server_names: &self.server_names };
        let server = judge.server_name(server);
        self.public.observe(now, &server, event, folder, &mut judge);
        judge.out
    }

    /// The durable public stores at `now`: the changes-kept invariant and the agreement
    /// the convergence expectation reads.
    pub fn public_sample(
        &mut self,
        now: Instant,
        stores: &[&org::public_folders::public_store::PublicStore],
        names: &org::public_folders::agreement::Names<'_>,
        name: &dyn Fn(MessageId, AddressId) -> String,
    ) -> Vec<Violation> {
        let mut judge = Judge { verdicts: &mut self.verdicts, out: Vec::new(), name, server_names: &self.server_names };
        self.public.sample(now, stores, names, &mut judge);
        judge.out
    }

    /// Since when the public stores have agreed (None: they do not at the last sample).
    pub fn public_converged_since(&self) -> Option<Instant> {
        self.public.converged_since()
    }

    /// A database was dismounted or mounted.
    pub fn database_state(&mut self, store: org::StoreId, mounted: bool) {
        self.size_limits.state(store, mounted);
    }

    /// Final results, given what every server's disk holds at the end.
    pub fn finish(
        &mut self,
        disks: &[DiskImage],
        link_state_messages: u64,
        name: &dyn Fn(MessageId, AddressId) -> String,
    ) -> (Vec<CheckResult>, MessageCounts) {
        let mut judge = Judge { verdicts: &mut self.verdicts, out: Vec::new(), name, server_names: &self.server_names };
        self.size_limits.finish(&mut judge);
        let topology = &self.topology;
        let homes = &self.routes.homes;
        let home = |r: AddressId| {
            homes.get(&r).copied().or_else(|| topology.directory.lookup(r).map(|e| topology.store(e.store).server))
        };
        let journal_of =
            |r: AddressId| topology.directory.lookup(r).and_then(|e| topology.store(e.store).journal_recipient);
        let end = self.ledger.lost(disks, &home, &journal_of);
        if let Some(((message, recipient), journal)) = end.unjournaled.first() {
            let n = end.unjournaled.len() as u64;
            let detail = format!(
                "{n} journaled delivery(ies) without a journal report; first: {}, with no report for {}",
                name(*message, *recipient),
                name(*message, *journal)
            );
            *self.verdicts.violations.entry("journal_once").or_default() += n;
            self.verdicts.first_failure.entry("journal_once").or_insert(detail);
        }
        let judged = self.loss_windows.judge(&end.missing);
        let failures = [
            (end.lost, "accepted recipient(s) neither delivered, NDR'd nor queued"),
            (judged.lost, "delivered recipient(s) whose copy is not in their mailbox"),
            (judged.resurrected, "copies delivered after a backup, whose logs were lost, back in their mailbox"),
        ];
        for (pairs, what) in failures {
            if let Some(first) = pairs.first() {
                let detail = format!("{} {what}; first: {}", pairs.len(), name(first.0, first.1));
                *self.verdicts.violations.entry("no_loss").or_default() += pairs.len() as u64;
                self.verdicts.first_failure.entry("no_loss").or_insert(detail);
            }
        }
        let mut results = Vec::new();
        for invariant in &self.verdicts.invariants {
            let key = invariant.name();
            let result = match self.verdicts.first_failure.get(key) {
                Some(detail) => {
                    let n = self.verdicts.violations.get(key).copied().unwrap_or(1);
                    CheckResult { name: key.into(), ok: false, detail: format!("{n} violation(s); first: {detail}") }
                }
                None => CheckResult { name: key.into(), ok: true, detail: self.invariant_detail(*invariant) },
            };
            results.push(result);
        }
        results.extend(self.expectations.results(&self.ledger, link_state_messages));
        (results, self.ledger.counts)
    }

    fn invariant_detail(&self, invariant: Invariant) -> String {
        match invariant {
            Invariant::NoLoss => format!(
                "{} accepted recipient(s) all accounted for{}",
                self.ledger.accepted(),
                self.loss_windows.detail()
            ),
            Invariant::NoDuplicateDelivery => "no recipient got a message twice".into(),
            Invariant::NoRoutingLoop => "no copy returned to a server it left".into(),
            Invariant::LeastCostRouting => {
                "every route followed a least-cost path over connectors up in the deciding server's table".into()
            }
            Invariant::LinkStateVersions => {
                format!("{} link state entr(ies), versions only moved forward", self.mirror.entries_seen())
            }
            Invariant::ExpansionBeforeRouting => {
                format!(
                    "{} group(s) expanded, each message routed only once complete",
                    self.ledger.counts.expanded_groups
                )
            }
            Invariant::DatabaseSizeLimit => self.size_limits.detail(),
            Invariant::DismountedTakesNoMail => self.size_limits.dismount_detail(),
            Invariant::LogDiskCapacity => self.log_disks.detail(),
            Invariant::JournalOnce => {
                format!("{} journal report(s), one per message and journal", self.ledger.journal_reports())
            }
            Invariant::QuotaHonoured => self.quota.detail(),
            Invariant::PfChangesKept | Invariant::PfBackfillTimeouts | Invariant::PfHierarchyOnlyWhileStopped => {
                self.public.detail(invariant)
            }
            Invariant::OabDownloadApplies | Invariant::OabFullOnlyWhenNeeded => self.oab_clients.detail(invariant),
            Invariant::EdgeFiltersEnforced => self.edge.detail(),
            Invariant::Exch50Trusted => self.edge.exch50_detail(),
            Invariant::AnonymousSendersUnresolved => self.edge.display_detail(),
            Invariant::BadmailAsConfigured => self.badmail.detail(),
        }
    }
}

#[cfg(test)]
mod tests;
