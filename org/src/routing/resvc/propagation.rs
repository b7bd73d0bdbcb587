//! How RESvc learns and spreads connector states: detection by this source bridgehead,
//! reports to the master and its review, and propagation to neighbors directly and over
//! SMTP sessions (§4).

use super::*;
use crate::routing::routing_group_master::Decision;
use crate::trace::ServerEvent;
use crate::transport::smtp_protocol::SessionSeq;

impl RoutingEngineService {
    /// Who this server exchanges link state with: inside the group, the master (or, for
    /// the master, every member); across each connector it is a bridgehead of, the
    /// bridgeheads on the other side.
    fn link_state_neighbors(&self) -> BTreeSet<ServerId> {
        let group = self.my_group();
        let mut neighbors = BTreeSet::new();
        if self.is_master() {
            neighbors.extend(self.topology.routing_group(group).members.iter().copied());
        } else {
            neighbors.insert(self.master());
        }
        for c in self.topology.connectors.iter().filter(|c| c.kind.carries_link_state()) {
            if c.source_bridgeheads.contains(&self.id) {
                neighbors.extend(c.target_bridgeheads.iter().copied());
            }
            if c.target_bridgeheads.contains(&self.id) {
                neighbors.extend(c.source_bridgeheads.iter().copied());
            }
        }
        neighbors.remove(&self.id);
        neighbors
    }

    /// Sends the table to every neighbor that has not shown this digest and has no
    /// update waiting for a reply.
    pub(super) fn push_link_state(&mut self, now: Instant) {
        let digest = self.table.digest();
        let mut sent = false;
        for n in self.link_state_neighbors() {
            let peer = self.peer(n);
            if peer.synced == Some(digest) || peer.sent_at.is_some() {
                continue;
            }
            peer.sent_at = Some(now);
            let info = Box::new(self.table.org_info().clone());
            let message = LinkStateMessage::Update { info, incarnation: self.incarnation };
            self.out.output(Output::LinkState { to: n, message });
            sent = true;
        }
        if sent {
            self.arm_resend(now);
        }
    }

    /// Makes sure unanswered link state is looked at again after a resend interval.
    fn arm_resend(&mut self, now: Instant) {
        if !self.timers.is_set(Timer::LinkStateResend) {
            let every = self.topology.link_state.resend_interval_ms;
            self.timers.set(Timer::LinkStateResend, now.plus_ms(every));
        }
    }

    /// Sends the reports not acknowledged to the master again: `all` of them, or those
    /// unanswered for a resend interval.
    pub(super) fn send_reports(&mut self, now: Instant, all: bool) {
        let every = self.topology.link_state.resend_interval_ms;
        let master = self.master();
        for (connector, report) in self.pending_reports.iter_mut() {
            if all || now.since(report.sent_at) >= every {
                report.sent_at = now;
                let message = LinkStateMessage::Report { connector: *connector, state: report.state };
                self.out.output(Output::LinkState { to: master, message });
            }
        }
    }

    /// Tries `connector` again after a probe interval.
    pub(super) fn schedule_probe(&mut self, now: Instant, connector: ConnectorId) {
        let every = self.topology.link_state.probe_interval_ms;
        self.timers.set(Timer::ConnectorProbe(connector), now.plus_ms(every));
    }

    /// Asks SMTPSVC to try a connector this server found down or that is marked down,
    /// with or without mail (§4).
    pub(super) fn probe(&mut self, connector: ConnectorId) {
        let marked_down = self.table.state(connector) == ConnectorState::Down;
        if self.detected_down.contains(&connector) || marked_down {
            self.out.to_smtp(ToSmtp::Probe(connector));
        }
    }

    /// Updates and reports unanswered for a resend interval go again.
    pub(super) fn resend_link_state(&mut self, now: Instant) {
        let every = self.topology.link_state.resend_interval_ms;
        for peer in self.peers.values_mut() {
            if peer.sent_at.is_some_and(|t| now.since(t) >= every) {
                peer.sent_at = None;
            }
        }
        self.send_reports(now, false);
        self.push_link_state(now);
        if self.peers.values().any(|p| p.sent_at.is_some()) || !self.pending_reports.is_empty() {
            self.arm_resend(now);
        }
    }

    /// The table changed (a merge or this master's own change): trace it, keep this
    /// master's decisions over its group, probe connectors marked down, have SMTPSVC
    /// route waiting mail again and tell the neighbors.
    pub(super) fn table_changed(&mut self, now: Instant, groups: Vec<RoutingGroupId>) {
        let my_group = self.my_group();
        if self.is_master() && groups.contains(&my_group) {
            let overridden: Vec<(ConnectorId, ConnectorState)> =
                self.decided.iter().filter(|(c, s)| self.table.state(**c) != **s).map(|(c, s)| (*c, *s)).collect();
            for (c, state) in overridden {
                self.table.raise(&self.topology, my_group, self.id, VersionBump::Minor, Some((c, state)));
            }
            if self.table.group(my_group).master != self.id {
                self.table.raise(&self.topology, my_group, self.id, VersionBump::User, None);
            }
        }
        let entries = groups.iter().map(|g| (*g, self.table.group(*g).clone())).collect();
        self.out.emit(ServerEvent::LinkStateChanged { groups: entries, digest: self.table.digest() });
        for i in 0..self.topology.connectors.len() {
            let id = ConnectorId(i as u16);
            if self.sources(NextHop::Connector(id))
                && self.table.state(id) == ConnectorState::Down
                && !self.timers.is_set(Timer::ConnectorProbe(id))
            {
                self.schedule_probe(now, id);
            }
        }
        self.out.to_smtp(ToSmtp::TableChanged);
        self.push_link_state(now);
    }

    /// This server, as its group's master, reviews a report (its own or a bridgehead's).
    pub(super) fn master_review(&mut self, now: Instant, connector: ConnectorId, reported: ConnectorState) {
        let version = self.topology.server(self.id).version;
        let (config, topology) = (&self.topology.link_state, &self.topology);
        let decision = self.master_role.review(now, version, config, topology, &self.table, connector, reported);
        self.out.emit(ServerEvent::LinkStateReviewed { connector, reported, verdict: decision });
        if let Decision::Apply(state) = decision {
            self.decided.insert(connector, state);
            let group = self.my_group();
            self.table.raise(&self.topology, group, self.id, VersionBump::Minor, Some((connector, state)));
            self.table_changed(now, vec![group]);
        }
        if let Some(at) = self.master_role.next_deadline() {
            self.timers.set(Timer::DampingEnd, at);
        }
    }

    /// This source bridgehead found a connector down (glitch retries spent) or working:
    /// the master reviews it, its own finding or a bridgehead's report.
    pub(super) fn connector_detected(&mut self, now: Instant, connector: ConnectorId, state: ConnectorState) {
        match state {
            ConnectorState::Down => {
                if !self.detected_down.insert(connector) {
                    return;
                }
                self.schedule_probe(now, connector);
            }
            ConnectorState::Up => {
                let was_down = self.detected_down.remove(&connector);
                if !was_down && self.table.state(connector) == ConnectorState::Up {
                    return;
                }
                self.timers.cancel(Timer::ConnectorProbe(connector));
            }
        }
        self.out.emit(ServerEvent::ConnectorDetected { connector, state });
        if self.is_master() {
            return self.master_review(now, connector, state);
        }
        self.pending_reports.insert(connector, PendingReport { state, sent_at: now });
        let message = LinkStateMessage::Report { connector, state };
        self.out.output(Output::LinkState { to: self.master(), message });
        self.arm_resend(now);
    }

    /// This server's `X-LINK2STATE` offer on turn `turn` to `server`: the digest, and the
    /// table unless the peer showed this digest last (turn 2 always carries it: the peer
    /// lacks something).
    pub(super) fn offer(&mut self, server: ServerId, turn: u8) -> LinkStateExchange {
        let digest = self.table.digest();
        let shown = self.peer(server).synced == Some(digest);
        let info = (turn > 1 || !shown).then(|| Box::new(self.table.org_info().clone()));
        LinkStateExchange { digest, info }
    }

    /// The peer bridgehead answered `X-LINK2STATE`: take what is newer, offer this table
    /// in a second turn if the peer still lacks part of it, else let the mail go. At most
    /// two turns: the second answer is taken and the mail follows whatever it says.
    pub(super) fn link_state_answered(
        &mut self,
        now: Instant,
        seq: SessionSeq,
        server: ServerId,
        turn: u8,
        answer: LinkStateExchange,
    ) {
        let stale = self.topology.bug(PlantedBug::AcceptsStaleLinkState);
        let changed = answer.info.map(|info| self.table.merge(&self.topology, &info, stale)).unwrap_or_default();
        let mine = self.table.digest();
        let again = turn == 1 && mine != answer.digest;
        // After a second turn the peer holds this table; until then it shows its digest.
        self.peer(server).synced = Some(if again { mine } else { answer.digest });
        if again {
            let offer = self.offer(server, 2);
            self.out.to_smtp(ToSmtp::LinkStateOffer { seq, turn: 2, offer });
        }
        if !changed.is_empty() {
            self.table_changed(now, changed);
        }
        if !again {
            self.out.to_smtp(ToSmtp::LinkStateDone { seq });
        }
    }
}
