//! Link state: how this server detects a connector's state, its routing group
//! master's review, and propagation to neighbors and over SMTP sessions (§4).

use super::*;

impl ExchangeServer {
    pub(super) fn my_group(&self) -> RoutingGroupId {
        self.topology.server(self.id).routing_group
    }

    pub(super) fn is_master(&self) -> bool {
        self.masters[usize::from(self.my_group().0)] == self.id
    }

    pub(super) fn peer(&mut self, id: ServerId) -> &mut LinkStatePeer {
        let default = self.peer_default;
        self.peers.entry(id).or_insert(LinkStatePeer { synced: default, sent_at: None, incarnation: 0 })
    }

    pub(super) fn send_link_state(&mut self, to: ServerId, message: LinkStateMessage) {
        self.outputs.push(Output::LinkState { to, message });
    }

    /// Who this server exchanges link state with: inside the group, the master (or, for
    /// the master, every member); across each connector it is a bridgehead of, the
    /// bridgeheads on the other side.
    pub(super) fn link_state_neighbors(&self) -> BTreeSet<ServerId> {
        let group = self.my_group();
        let mut out = BTreeSet::new();
        if self.is_master() {
            out.extend(self.topology.routing_group(group).members.iter().copied());
        } else {
            out.insert(self.masters[usize::from(group.0)]);
        }
        for c in self.topology.connectors.iter().filter(|c| c.kind.carries_link_state()) {
            if c.source_bridgeheads.contains(&self.id) {
                out.extend(c.target_bridgeheads.iter().copied());
            }
            if c.target_bridgeheads.contains(&self.id) {
                out.extend(c.source_bridgeheads.iter().copied());
            }
        }
        out.remove(&self.id);
        out
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
            let incarnation = self.incarnation;
            self.send_link_state(n, LinkStateMessage::Update { info, incarnation });
            sent = true;
        }
        if sent {
            self.arm_resend(now);
        }
    }

    /// Makes sure unanswered link state is looked at again after a resend interval.
    pub(super) fn arm_resend(&mut self, now: Instant) {
        if !self.timers.is_set(Timer::LinkStateResend) {
            let every = self.topology.link_state.resend_interval_ms;
            self.timers.set(Timer::LinkStateResend, now.plus_ms(every));
        }
    }

    /// Sends the reports not acknowledged to the master again: `all` of them, or those
    /// unanswered for a resend interval.
    pub(super) fn send_reports(&mut self, now: Instant, all: bool) {
        let every = self.topology.link_state.resend_interval_ms;
        let master = self.masters[usize::from(self.my_group().0)];
        let due: Vec<(ConnectorId, ConnectorState)> = self
            .pending_reports
            .iter_mut()
            .filter(|(_, r)| all || now.since(r.sent_at) >= every)
            .map(|(c, r)| {
                r.sent_at = now;
                (*c, r.state)
            })
            .collect();
        for (connector, state) in due {
            self.send_link_state(master, LinkStateMessage::Report { connector, state });
        }
    }

    /// Tries `connector` again after a probe interval.
    pub(super) fn schedule_probe(&mut self, now: Instant, connector: ConnectorId) {
        let every = self.topology.link_state.probe_interval_ms;
        self.timers.set(Timer::ConnectorProbe(connector), now.plus_ms(every));
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
    /// master's decisions over its group, probe connectors marked down, route waiting
    /// mail again and tell the neighbors.
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
        self.emit(ServerEvent::LinkStateChanged { groups: entries, digest: self.table.digest() });
        for i in 0..self.topology.connectors.len() {
            let id = ConnectorId(i as u16);
            if self.sources(NextHop::Connector(id)).is_some()
                && self.table.state(id) == ConnectorState::Down
                && !self.timers.is_set(Timer::ConnectorProbe(id))
            {
                self.schedule_probe(now, id);
            }
        }
        let mut waiting: Vec<(QueueKey, QueueEntry)> = Vec::new();
        for (hop, queue) in self.links.iter_mut() {
            if matches!(hop, NextHop::Connector(_)) {
                waiting.extend(queue.entries.drain(..).map(|e| (QueueKey::Link(*hop), e)));
            }
        }
        if !self.topology.bug(PlantedBug::UnreachableNeverRerouted) {
            waiting.extend(self.unreachable.drain(..).map(|e| (QueueKey::Unreachable, e)));
        }
        for (from, entry) in waiting {
            self.route_entry(now, entry, Some(from));
        }
        self.push_link_state(now);
    }

    /// This server, as its group's master, reviews a report (its own or a bridgehead's).
    pub(super) fn master_review(&mut self, now: Instant, connector: ConnectorId, reported: ConnectorState) {
        let version = self.topology.server(self.id).version;
        let decision = self.master_role.review(
            now,
            version,
            &self.topology.link_state,
            &self.topology,
            &self.table,
            connector,
            reported,
        );
        self.emit(ServerEvent::LinkStateReviewed { connector, reported, decision });
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

    /// This source bridgehead found a connector down (glitch retries spent) or working.
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
        self.emit(ServerEvent::ConnectorDetected { connector, state });
        if self.is_master() {
            return self.master_review(now, connector, state);
        }
        self.pending_reports.insert(connector, PendingReport { state, sent_at: now });
        let master = self.masters[usize::from(self.my_group().0)];
        self.send_link_state(master, LinkStateMessage::Report { connector, state });
        self.arm_resend(now);
    }

    /// Tries a connector marked down, with or without mail (§4): a connection to one of
    /// its remote bridgeheads, closed as soon as the banner comes.
    pub(super) fn probe(&mut self, now: Instant, connector: ConnectorId) {
        let marked_down = self.table.state(connector) == ConnectorState::Down;
        if !self.detected_down.contains(&connector) && !marked_down {
            return;
        }
        let hop = NextHop::Connector(connector);
        let peer = self.choose_peer(hop);
        let seq = self.open_session(hop, peer, Phase::Probe(connector));
        if self.stopped.contains(&connector) {
            return self.session_failed(now, seq, SessionFailure::Reset);
        }
        self.connect(now, seq, peer);
    }

    /// A new outbound session (not connected yet); returns its number.
    pub(super) fn open_session(&mut self, hop: NextHop, peer: Peer, phase: Phase) -> SessionSeq {
        let seq = self.next_conn;
        self.next_conn = seq.next();
        let session = OutboundSession { hop, peer, fallback: VecDeque::new(), phase, sent: 0, deadline: Instant::ZERO };
        self.outbound.insert(seq, session);
        seq
    }

    /// Opens the session's TCP connection to `peer`; the banner must come within the
    /// connect timeout.
    pub(super) fn connect(&mut self, now: Instant, seq: SessionSeq, peer: Peer) {
        let deadline = now.plus_ms(self.topology.server(self.id).smtp.connect_timeout_ms);
        let session = self.outbound.get_mut(&seq).expect("connecting an open session");
        session.peer = peer;
        session.deadline = deadline;
        if matches!(session.phase, Phase::Resolving { .. }) {
            session.phase = Phase::Connecting;
        }
        self.send(peer, ConnId { client: self.id, seq }, Frame::Connect);
        self.timers.set(Timer::Outbound(seq), deadline);
    }

    /// Sends the MX query for the session's domain to its `server`-th DNS server.
    pub(super) fn query_dns(&mut self, now: Instant, seq: SessionSeq, domain: DomainId, server: usize) {
        let to = self.topology.internet.dns_servers[server];
        let deadline = now.plus_ms(self.topology.internet.dns_timeout_ms);
        let session = self.outbound.get_mut(&seq).expect("resolving for an open session");
        session.phase = Phase::Resolving { domain, server };
        session.peer = Peer::Host(to);
        session.deadline = deadline;
        let query = DnsQuery { conn: ConnId { client: self.id, seq }, domain };
        self.outputs.push(Output::Dns { to, query });
        self.timers.set(Timer::Outbound(seq), deadline);
    }

    /// Whether this server is a source bridgehead of the connector behind `hop`.
    pub(super) fn sources(&self, hop: NextHop) -> Option<ConnectorId> {
        match hop {
            NextHop::Connector(c) if self.topology.connector(c).source_bridgeheads.contains(&self.id) => Some(c),
            _ => None,
        }
    }
}
