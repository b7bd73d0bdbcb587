//! The routing engine service (RESvc) of one server: its link state table, the routes it
//! gives SMTPSVC for each queue entry, connector states this server detected and
//! reported, its work as its routing group's master, and link state propagation to its
//! neighbors, directly (TCP 691) and through SMTPSVC's `X-LINK2STATE` turns (§4).
//!
//! Sans-IO and on its own: inputs through `handle_*(now, …)`, requests to the other
//! services and outputs into the server's [`Outbox`], its next wake-up from
//! [`RoutingEngineService::poll_timeout`].

use crate::config::topology::Topology;
use crate::planted_bugs::PlantedBug;
use crate::routing::link_state::{
    ConnectorState, LinkStateExchange, LinkStateMessage, LinkStateTable, OrgInfo, VersionBump,
};
use crate::routing::routing_engine::{NextHop, RoutingEngine};
use crate::routing::routing_group_master::RoutingGroupMaster;
use crate::service_events::{Outbox, Output, Routes, ToRouting, ToSmtp};
use crate::time::Instant;
use crate::timers::Timers;
use crate::transport::advanced_queuing::{QueueEntry, QueueKey};
use crate::{AddressId, ConnectorId, RoutingGroupId, ServerId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

mod propagation;

/// RESvc's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Link state updates and reports that got no answer are sent again.
    LinkStateResend,
    /// A connector this bridgehead found down is tried again.
    ConnectorProbe(ConnectorId),
    /// The master's oscillation damping of some connector ends.
    DampingEnd,
}

/// What this server knows about a link state neighbor.
#[derive(Clone, Copy, Debug, Default)]
struct LinkStatePeer {
    /// Digest of the neighbor's table as last shown to us (by an update or a reply).
    synced: Option<u64>,
    /// When the update waiting for a reply was sent.
    sent_at: Option<Instant>,
    /// The neighbor's incarnation as its last update gave it.
    incarnation: u32,
}

/// A report to the master not yet acknowledged.
#[derive(Clone, Copy, Debug)]
struct PendingReport {
    state: ConnectorState,
    sent_at: Instant,
}

/// One server's routing engine service.
pub struct RoutingEngineService {
    id: ServerId,
    topology: Arc<Topology>,
    table: LinkStateTable,
    engine: RoutingEngine,
    /// Each routing group's master as the directory names it.
    masters: Vec<ServerId>,
    /// This server's work as its group's master (empty unless it is the master).
    master_role: RoutingGroupMaster,
    /// States this server applied as master since it started or became master; kept over
    /// a merge that brings its own group back at a higher version.
    decided: BTreeMap<ConnectorId, ConnectorState>,
    /// Connectors this source bridgehead found down (after glitch retries) and probes.
    detected_down: BTreeSet<ConnectorId>,
    /// Link state neighbors: the master or the members, and bridgeheads across connectors.
    peers: BTreeMap<ServerId, LinkStatePeer>,
    /// What a neighbor not heard from yet is assumed to hold: the directory's table at
    /// the start of a run (every server built the same), nothing after a restart.
    peer_default: Option<u64>,
    pending_reports: BTreeMap<ConnectorId, PendingReport>,
    /// How many times this server has restarted (told to neighbors with each update).
    incarnation: u32,
    /// Mailboxes the directory homes on another server than at the start (moves).
    homes: BTreeMap<AddressId, ServerId>,
    timers: Timers<Timer>,
    out: Outbox,
}

impl RoutingEngineService {
    /// The service (re)started: its table built from the directory (every connector up)
    /// with `masters` as the directory names them now.
    pub fn new(id: ServerId, topology: Arc<Topology>, masters: Vec<ServerId>, incarnation: u32) -> Self {
        let table = LinkStateTable::from_directory(&topology, &masters);
        let peer_default = (incarnation == 0).then(|| table.digest());
        RoutingEngineService {
            id,
            topology,
            table,
            engine: RoutingEngine::new(),
            masters,
            master_role: RoutingGroupMaster::new(),
            decided: BTreeMap::new(),
            detected_down: BTreeSet::new(),
            peers: BTreeMap::new(),
            peer_default,
            pending_reports: BTreeMap::new(),
            incarnation,
            homes: BTreeMap::new(),
            timers: Timers::default(),
            out: Outbox::default(),
        }
    }

    /// The directory names a mailbox's new home server (a move completed).
    pub fn handle_mailbox_moved(&mut self, mailbox: AddressId, server: ServerId) {
        self.homes.insert(mailbox, server);
    }

    /// Tells the neighbors this table (after a restart: asks what changed since).
    pub fn start(&mut self, now: Instant) {
        self.push_link_state(now);
    }

    /// What the service has produced since it was last asked.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.out
    }

    /// This server's link state table.
    pub fn table(&self) -> &LinkStateTable {
        &self.table
    }

    /// The table, for tests that set it up.
    #[cfg(test)]
    pub(crate) fn table_mut(&mut self) -> &mut LinkStateTable {
        &mut self.table
    }

    /// What follows a change of the table, for tests that change it by hand.
    #[cfg(test)]
    pub(crate) fn changed(&mut self, now: Instant, groups: Vec<RoutingGroupId>) {
        self.table_changed(now, groups);
    }

    /// The earliest instant at which [`RoutingEngineService::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::LinkStateResend => self.resend_link_state(now),
                Timer::ConnectorProbe(c) => self.probe(c),
                Timer::DampingEnd => {
                    for (connector, state) in self.master_role.end_damping(now) {
                        self.master_review(now, connector, state);
                    }
                    if let Some(at) = self.master_role.next_deadline() {
                        self.timers.set(Timer::DampingEnd, at);
                    }
                }
            }
        }
    }

    /// A request from another service of this server.
    pub fn handle_internal(&mut self, now: Instant, event: ToRouting) {
        match event {
            ToRouting::Route { entry, from } => self.route(entry, from),
            ToRouting::ConnectorDetected { connector, state } => self.connector_detected(now, connector, state),
            ToRouting::ProbeFailed(connector) => self.schedule_probe(now, connector),
            ToRouting::OfferLinkState { seq, server, turn } => {
                let offer = self.offer(server, turn);
                self.out.to_smtp(ToSmtp::LinkStateOffer { seq, turn, offer });
            }
            ToRouting::LinkStateAnswered { seq, server, turn, answer } => {
                self.link_state_answered(now, seq, server, turn, answer)
            }
            ToRouting::LinkStateOffered { from, conn, offer } => {
                let (answer, changed) = self.take_link_state(from, offer.digest, offer.info.as_deref());
                self.out.to_smtp(ToSmtp::LinkStateAnswer { to: from, conn, answer });
                if !changed.is_empty() {
                    self.table_changed(now, changed);
                }
            }
        }
    }

    /// A link state message from another server arrived.
    pub fn handle_link_state(&mut self, now: Instant, from: ServerId, message: LinkStateMessage) {
        let stale = self.topology.bug(PlantedBug::AcceptsStaleLinkState);
        match message {
            LinkStateMessage::Update { info, incarnation } => {
                let peer = self.peer(from);
                if incarnation > peer.incarnation {
                    // The neighbor restarted: an update of ours still waiting for its reply
                    // went to the incarnation that died, and waiting on it would hold back
                    // our next change for a resend interval.
                    peer.incarnation = incarnation;
                    peer.sent_at = None;
                }
                let (answer, changed) = self.take_link_state(from, info.digest(), Some(&info));
                let LinkStateExchange { digest, info } = answer;
                self.out.output(Output::LinkState { to: from, message: LinkStateMessage::Reply { digest, info } });
                if !changed.is_empty() {
                    self.table_changed(now, changed);
                }
            }
            LinkStateMessage::Reply { digest, info } => {
                let peer = self.peer(from);
                peer.sent_at = None;
                peer.synced = Some(digest);
                if let Some(info) = info {
                    let changed = self.table.merge(&self.topology, &info, stale);
                    if !changed.is_empty() {
                        return self.table_changed(now, changed);
                    }
                }
                self.push_link_state(now);
            }
            LinkStateMessage::Report { connector, state } => {
                // Only the master answers: a reporter whose directory still names an old
                // master keeps resending until it learns the new one.
                if self.is_master() && self.topology.connector(connector).from == self.my_group() {
                    let ack = LinkStateMessage::ReportAck { connector, state };
                    self.out.output(Output::LinkState { to: from, message: ack });
                    self.master_review(now, connector, state);
                }
            }
            LinkStateMessage::ReportAck { connector, state } => {
                if self.pending_reports.get(&connector).is_some_and(|p| p.state == state) {
                    self.pending_reports.remove(&connector);
                }
            }
        }
    }

    /// An administrator named another master for a routing group (a directory change
    /// every server reads). The new master raises the group's user version (§4).
    pub fn handle_master_change(&mut self, now: Instant, group: RoutingGroupId, master: ServerId) {
        let slot = &mut self.masters[usize::from(group.0)];
        if *slot == master {
            return;
        }
        let was_master = *slot == self.id;
        *slot = master;
        if group != self.my_group() {
            return;
        }
        if was_master {
            self.master_role = RoutingGroupMaster::new();
            self.decided.clear();
            self.timers.cancel(Timer::DampingEnd);
        }
        if master == self.id {
            self.table.raise(&self.topology, group, self.id, VersionBump::User, None);
            self.table_changed(now, vec![group]);
            for (connector, report) in std::mem::take(&mut self.pending_reports) {
                self.master_review(now, connector, report.state);
            }
        } else {
            // Reports go to the new master now.
            self.send_reports(now, true);
            self.resend_link_state(now);
        }
    }

    /// Routes the recipients of an entry: a mailbox to its home server, a group to its
    /// expansion server, a contact or mail-enabled user by its target address.
    fn route(&mut self, entry: QueueEntry, from: Option<QueueKey>) {
        let mut routes = Routes::default();
        let directory = self.topology.gal_of(self.id);
        for r in entry.recipients {
            let decision = match self.homes.get(&r).copied().or_else(|| directory.home_server(r, self.id)) {
                Some(home) => self.engine.next_hop(&self.topology, &self.table, self.id, home),
                None => {
                    let address = directory.routing_address(r);
                    match self.engine.next_hop_external(&self.topology, &self.table, self.id, address) {
                        Ok(decision) => decision,
                        Err(code) => {
                            routes.failed.entry(code).or_default().push(r);
                            continue;
                        }
                    }
                }
            };
            routes.by_hop.entry(decision.next_hop).or_insert_with(|| (Vec::new(), decision.cost)).0.push(r);
        }
        self.out.to_smtp(ToSmtp::Routed { item: entry.item, from, routes });
    }

    fn my_group(&self) -> RoutingGroupId {
        self.topology.server(self.id).routing_group
    }

    fn master(&self) -> ServerId {
        self.masters[usize::from(self.my_group().0)]
    }

    fn is_master(&self) -> bool {
        self.master() == self.id
    }

    /// Whether this server is a source bridgehead of `hop`'s connector.
    fn sources(&self, hop: NextHop) -> bool {
        matches!(hop, NextHop::Connector(c) if self.topology.connector(c).source_bridgeheads.contains(&self.id))
    }

    fn peer(&mut self, id: ServerId) -> &mut LinkStatePeer {
        let default = self.peer_default;
        self.peers.entry(id).or_insert(LinkStatePeer { synced: default, sent_at: None, incarnation: 0 })
    }

    /// A neighbor shows its table (`info`, when sent) and digest: take what is newer and
    /// answer with this table's digest, and the table when the two differ. The neighbor
    /// holds this table once it has the answer. Returns the answer and the groups that
    /// changed (for `table_changed`, after the answer is sent).
    fn take_link_state(
        &mut self,
        from: ServerId,
        digest: u64,
        info: Option<&OrgInfo>,
    ) -> (LinkStateExchange, Vec<RoutingGroupId>) {
        let stale = self.topology.bug(PlantedBug::AcceptsStaleLinkState);
        let changed = info.map(|info| self.table.merge(&self.topology, info, stale)).unwrap_or_default();
        let mine = self.table.digest();
        let info = (mine != digest).then(|| Box::new(self.table.org_info().clone()));
        self.peer(from).synced = Some(mine);
        (LinkStateExchange { digest: mine, info }, changed)
    }
}

#[cfg(test)]
mod tests;
