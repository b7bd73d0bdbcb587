//! Link queues and the sending side of SMTP.

use super::*;

impl SmtpService {
    pub(super) fn in_flight(&self, hop: NextHop) -> bool {
        self.outbound.values().any(|s| {
            s.hop == hop
                && match &s.phase {
                    Phase::Envelope(_) | Phase::Content { .. } => true,
                    Phase::Foreign(f) => f.carries_mail(),
                    _ => false,
                }
        })
    }

    /// Opens a connection for a Ready queue with mail.
    pub(super) fn kick(&mut self, now: Instant, hop: NextHop) {
        let queue = self.links.get_mut(&hop).expect("kicked queues exist");
        if queue.state != LinkQueueState::Ready || queue.entries.is_empty() {
            return;
        }
        queue.state = LinkQueueState::Active;
        if let NextHop::RemoteDomain(domain) = hop {
            // DNS first: the MX hosts are known only from the answer.
            let first_dns = Peer::Host(self.topology.internet.dns_servers[0]);
            let seq = self.open_session(hop, first_dns, Phase::Resolving { domain, server: 0 });
            return self.query_dns(now, seq, domain, 0);
        }
        if let Some(target) = self.foreign_target(hop) {
            return self.open_foreign(now, hop, target);
        }
        let peer = self.choose_peer(hop);
        let seq = self.open_session(hop, peer, Phase::Connecting);
        if self.sources(hop).is_some_and(|c| self.stopped.contains(&c)) {
            return self.session_failed(now, seq, SessionFailure::Reset);
        }
        self.connect(now, seq, peer);
    }

    /// The server a session for `hop` connects to. Over a connector, a bridgehead is
    /// picked at random among the candidates and kept for the session (§4).
    pub(super) fn choose_peer(&mut self, hop: NextHop) -> Peer {
        match hop {
            NextHop::Server(s) => Peer::Server(s),
            NextHop::Gateway(g) => {
                let gateway = self.topology.gateway(g);
                if gateway.source_bridgeheads.contains(&self.id) {
                    match gateway.delivery {
                        Delivery::SmartHost(h) | Delivery::Mta(h) => Peer::Host(h),
                        Delivery::Organization { server, .. } => Peer::Server(server),
                        Delivery::Dns => unreachable!("DNS connectors deliver through per-domain queues"),
                    }
                } else {
                    let candidates = &gateway.source_bridgeheads;
                    assert!(!candidates.is_empty(), "gateways have bridgeheads (checked at load)");
                    Peer::Server(candidates[self.rng.below(candidates.len())])
                }
            }
            NextHop::Connector(c) => {
                let connector = self.topology.connector(c);
                let candidates: Vec<ServerId> = if connector.source_bridgeheads.contains(&self.id) {
                    connector.target_bridgeheads.clone()
                } else {
                    connector.source_bridgeheads.clone()
                };
                assert!(!candidates.is_empty(), "connectors have bridgeheads (checked at load)");
                Peer::Server(candidates[self.rng.below(candidates.len())])
            }
            NextHop::RemoteDomain(_) | NextHop::Local | NextHop::Unreachable => {
                unreachable!("no single peer for {hop:?}")
            }
        }
    }

    pub(super) fn handle_reply(&mut self, now: Instant, from: Peer, seq: SessionSeq, frame: Frame) {
        match self.outbound.get(&seq) {
            // A reply for a session that already timed out, or from an MX host this
            // session has moved on from.
            None => return,
            Some(s) if s.peer != from || matches!(s.phase, Phase::Resolving { .. }) => return,
            Some(_) => {}
        }
        let replies = match frame {
            Frame::Replies(replies) => replies,
            Frame::LinkState(answer) => return self.link_state_answered(seq, answer),
            Frame::Reset => return self.session_failed(now, seq, SessionFailure::Reset),
            Frame::Connect | Frame::Commands(_) => return,
        };
        let session = self.outbound.get_mut(&seq).expect("checked above");
        let phase = std::mem::replace(&mut session.phase, Phase::Quitting);
        let conn = ConnId { client: self.id, seq };
        let peer = session.peer;
        let hop = session.hop;
        match phase {
            Phase::Probe(connector) => self.probe_answered(now, seq, connector, &replies),
            Phase::Connecting if replies == [SmtpReply::ServiceReady] => {
                session.phase = Phase::Ehlo;
                self.send_commands(now, peer, conn, vec![SmtpCommand::Ehlo]);
                if let Some(connector) = self.sources(hop) {
                    self.out.to_routing(ToRouting::ConnectorDetected { connector, state: ConnectorState::Up });
                }
            }
            Phase::Ehlo if replies == [SmtpReply::EhloOk] || replies == [SmtpReply::EhloChunking] => {
                session.chunking = replies == [SmtpReply::EhloChunking];
                if self.exchanges_link_state(hop, peer) {
                    self.ask_link_state_offer(seq);
                } else {
                    self.next_message(now, seq);
                }
            }
            Phase::Envelope(entry) => self.envelope_answered(now, seq, entry, &replies),
            Phase::Content { entry, message, size_bytes } => {
                self.content_answered(now, seq, entry, (message, size_bytes), &replies)
            }
            Phase::Quitting => self.close_session(now, seq),
            Phase::Resolving { .. } => unreachable!("DNS answers come through handle_dns_reply"),
            // Its frames come through handle_foreign_frame.
            Phase::Foreign(f) => session.phase = Phase::Foreign(f),
            Phase::Connecting | Phase::Ehlo | Phase::LinkState { .. } => {
                let code = replies.first().map_or(0, |r| r.code());
                self.session_failed(now, seq, SessionFailure::Rejected(code));
            }
        }
    }

    /// A probe's connection answered (§4): a banner means the connector works again,
    /// and mail waiting for its queue's next retry goes now.
    fn probe_answered(&mut self, now: Instant, seq: SessionSeq, connector: ConnectorId, replies: &[SmtpReply]) {
        let session = self.outbound.remove(&seq).expect("answered probes are open");
        self.timers.cancel(Timer::Outbound(seq));
        if replies != [SmtpReply::ServiceReady] {
            return self.out.to_routing(ToRouting::ProbeFailed(connector));
        }
        let conn = ConnId { client: self.id, seq };
        self.send(session.peer, conn, Frame::Commands(vec![SmtpCommand::Quit]));
        self.out.to_routing(ToRouting::ConnectorDetected { connector, state: ConnectorState::Up });
        let hop = NextHop::Connector(connector);
        if self.links.get(&hop).is_some_and(|q| q.state == LinkQueueState::Retry) {
            self.timers.cancel(Timer::QueueRetry(hop));
            self.retry_queue(now, hop);
        }
    }

    /// The replies to MAIL, the RCPTs and DATA: all positive sends the content; a size
    /// refusal NDRs the entry (5.3.4); anything else puts it back and fails the session.
    fn envelope_answered(&mut self, now: Instant, seq: SessionSeq, entry: QueueEntry, replies: &[SmtpReply]) {
        if replies.len() == entry.recipients.len() + 2 && replies.iter().all(|r| r.is_positive()) {
            self.send_content(now, seq, entry, Vec::with_capacity(1));
        } else if replies.contains(&SmtpReply::SizeExceeded) {
            self.fail_recipients(now, entry.item, entry.recipients, DsnCode::MessageTooLarge);
            self.next_message(now, seq);
        } else {
            let code = replies.iter().find(|r| !r.is_positive()).map_or(0, |r| r.code());
            self.requeue_front(entry, seq);
            self.session_failed(now, seq, SessionFailure::Rejected(code));
        }
    }

    /// Sends `entry`'s message after `commands`: its text once DATA has had its 354, or
    /// `BDAT n LAST` behind the envelope on a CHUNKING session. With the DoneOnSend
    /// plant its recipients are done now instead of at 250 Queued.
    fn send_content(&mut self, now: Instant, seq: SessionSeq, entry: QueueEntry, mut commands: Vec<SmtpCommand>) {
        // Cloned first: the plant may finish the item.
        let message = Box::new(self.items[&entry.item].message.clone());
        if self.topology.bug(PlantedBug::DoneOnSend) {
            self.recipients_done(entry.item, &entry.recipients);
        }
        let session = self.outbound.get_mut(&seq).expect("session exists");
        session.phase = Phase::Content { entry, message: message.id, size_bytes: message.size_bytes };
        commands.push(if session.chunking { SmtpCommand::Bdat(message) } else { SmtpCommand::Content(message) });
        let (peer, conn) = (session.peer, ConnId { client: self.id, seq });
        self.send_commands(now, peer, conn, commands);
    }

    /// The replies to the content: 250 Queued, and the peer holds the message. With
    /// BDAT the envelope's replies come first (all positive, one per command), and a
    /// size refusal among them NDRs the entry (5.3.4). Anything else puts the entry back
    /// (unless the DoneOnSend plant finished it) and fails the session.
    fn content_answered(
        &mut self,
        now: Instant,
        seq: SessionSeq,
        entry: QueueEntry,
        (message, size_bytes): (MessageId, u64),
        replies: &[SmtpReply],
    ) {
        let chunked = self.outbound[&seq].chunking;
        let (envelope, content) = replies.split_at(replies.len().saturating_sub(1));
        let envelope_ok = if chunked {
            envelope.len() == entry.recipients.len() + 1 && envelope.iter().all(|r| r.is_positive())
        } else {
            envelope.is_empty()
        };
        if envelope_ok && content == [SmtpReply::Queued] {
            self.content_queued(now, seq, entry, message, size_bytes);
        } else if chunked && replies.contains(&SmtpReply::SizeExceeded) {
            self.fail_recipients(now, entry.item, entry.recipients, DsnCode::MessageTooLarge);
            self.next_message(now, seq);
        } else {
            // After DATA the one reply is the content's; after BDAT, the first refusal.
            let refusal = if chunked { replies.iter().find(|r| !r.is_positive()) } else { replies.first() };
            if !self.topology.bug(PlantedBug::DoneOnSend) {
                self.requeue_front(entry, seq);
            }
            self.session_failed(now, seq, SessionFailure::Rejected(refusal.map_or(0, |r| r.code())));
        }
    }

    /// 250 Queued: the peer holds the message; these recipients are done here.
    fn content_queued(
        &mut self,
        now: Instant,
        seq: SessionSeq,
        entry: QueueEntry,
        message: MessageId,
        size_bytes: u64,
    ) {
        let session = &self.outbound[&seq];
        let (queue, recipients) = (QueueKey::Link(session.hop), entry.recipients.clone());
        let event = match session.peer {
            Peer::Server(to) => ServerEvent::Transferred { message, to, queue, recipients, size_bytes },
            Peer::Host(host) => ServerEvent::Relayed { message, host, queue, recipients, size_bytes },
        };
        self.emit(event);
        if !self.topology.bug(PlantedBug::DoneOnSend) {
            self.recipients_done(entry.item, &entry.recipients);
        }
        self.outbound.get_mut(&seq).expect("session exists").sent += 1;
        self.next_message(now, seq);
    }

    pub(super) fn send_commands(&mut self, now: Instant, peer: Peer, conn: ConnId, commands: Vec<SmtpCommand>) {
        self.send(peer, conn, Frame::Commands(commands));
        let deadline = now.plus_ms(self.topology.server(self.id).smtp.connection_timeout_ms);
        let session = self.outbound.get_mut(&conn.seq).expect("commands go on open sessions");
        debug_assert!(deadline >= session.deadline, "deadlines only move later");
        session.deadline = deadline;
        if !self.timers.is_set(Timer::Outbound(conn.seq)) {
            self.timers.set(Timer::Outbound(conn.seq), deadline);
        }
    }

    pub(super) fn requeue_front(&mut self, entry: QueueEntry, seq: SessionSeq) {
        let hop = self.outbound[&seq].hop;
        self.links.get_mut(&hop).expect("session queues exist").entries.push_front(entry);
    }

    /// Sends the next message of the queue on this session, or QUIT.
    pub(super) fn next_message(&mut self, now: Instant, seq: SessionSeq) {
        if matches!(self.outbound[&seq].phase, Phase::Foreign(_)) {
            return self.next_foreign_message(now, seq);
        }
        let limit = self.topology.server(self.id).smtp.messages_per_connection;
        let (hop, peer, sent, chunking) = {
            let s = &self.outbound[&seq];
            (s.hop, s.peer, s.sent, s.chunking)
        };
        let conn = ConnId { client: self.id, seq };
        loop {
            let queue = self.links.get_mut(&hop).expect("session queues exist");
            let entry = if sent < limit { queue.entries.pop_front() } else { None };
            if entry.is_none() && sent < limit && self.routing_asked > 0 {
                // Mail for this queue may still be on its way back from RESvc (a table
                // change re-routes what waits): the session goes on when it has answered.
                return self.parked.push(seq);
            }
            let Some(entry) = entry else {
                self.outbound.get_mut(&seq).expect("session exists").phase = Phase::Quitting;
                return self.send_commands(now, peer, conn, vec![SmtpCommand::Quit]);
            };
            if self.expired(now, entry.item) {
                self.fail_recipients(now, entry.item, entry.recipients, DsnCode::Expired);
                continue;
            }
            let message = &self.items[&entry.item].message;
            debug_assert!(entry.recipients.iter().all(|r| self.items[&entry.item].remaining.contains(r)));
            let mut commands = Vec::with_capacity(entry.recipients.len() + 2);
            commands.push(SmtpCommand::MailFrom { sender: message.sender, size_bytes: message.size_bytes });
            commands.extend(entry.recipients.iter().map(|r| SmtpCommand::RcptTo(*r)));
            if chunking {
                return self.send_content(now, seq, entry, commands);
            }
            commands.push(SmtpCommand::Data);
            self.outbound.get_mut(&seq).expect("session exists").phase = Phase::Envelope(entry);
            return self.send_commands(now, peer, conn, commands);
        }
    }

    pub(super) fn close_session(&mut self, now: Instant, seq: SessionSeq) {
        let session = self.outbound.remove(&seq).expect("closing an open session");
        self.timers.cancel(Timer::Outbound(seq));
        let queue = self.links.get_mut(&session.hop).expect("session queues exist");
        queue.state = LinkQueueState::Ready;
        if queue.failures > 0 {
            queue.failures = 0;
            let event = ServerEvent::QueueState {
                queue: QueueKey::Link(session.hop),
                state: LinkQueueState::Ready,
                failures: 0,
                retry_in_ms: None,
                reason: None,
            };
            self.emit(event);
        }
        self.kick(now, session.hop);
    }

    pub(super) fn session_failed(&mut self, now: Instant, seq: SessionSeq, reason: SessionFailure) {
        let Some(session) = self.outbound.get(&seq) else {
            return;
        };
        if matches!(session.phase, Phase::Quitting) {
            return self.close_session(now, seq); // everything was sent; only QUIT was lost
        }
        if let Phase::Probe(connector) = session.phase {
            self.outbound.remove(&seq);
            self.timers.cancel(Timer::Outbound(seq));
            return self.out.to_routing(ToRouting::ProbeFailed(connector));
        }
        if self.fail_over(now, seq, reason) {
            return;
        }
        let session = self.outbound.remove(&seq).expect("checked above");
        self.timers.cancel(Timer::Outbound(seq));
        self.link_failed(now, session, reason);
    }

    /// DNS delivery tolerates an unresponsive DNS server or MX host: the next one is
    /// tried in the same attempt (EXCHANGE2003.md §3.2). False when none is left.
    fn fail_over(&mut self, now: Instant, seq: SessionSeq, reason: SessionFailure) -> bool {
        let session = &self.outbound[&seq];
        let queue = QueueKey::Link(session.hop);
        let dns_servers = self.topology.internet.dns_servers.len();
        let next = match (&session.phase, session.peer) {
            (Phase::Resolving { domain, server }, Peer::Host(host)) if server + 1 < dns_servers => {
                Some((host, Err((*domain, server + 1))))
            }
            (Phase::Connecting, Peer::Host(host)) if !self.topology.bug(PlantedBug::NoMxFailover) => {
                let session = self.outbound.get_mut(&seq).expect("checked above");
                session.fallback.pop_front().map(|mx| (host, Ok(mx)))
            }
            _ => None,
        };
        let Some((host, next)) = next else { return false };
        self.emit(ServerEvent::Failover { queue, host, reason });
        match next {
            Ok(mx) => self.connect(now, seq, Peer::Host(mx)),
            Err((domain, server)) => self.query_dns(now, seq, domain, server),
        }
        true
    }

    /// The session's attempt failed: what it carried goes back to the front of its
    /// queue, which waits for its next retry (the MTA's open interval for X.400, where
    /// the MTA may give up); glitch retries spent, the connector is found down (§4).
    pub(super) fn link_failed(&mut self, now: Instant, session: OutboundSession, reason: SessionFailure) {
        let retry = self.topology.server(self.id).smtp.retry.clone();
        let mta = crate::mta::association::carries(&self.topology, self.id, session.hop)
            .then(|| self.topology.server(self.id).mta);
        let queue = self.links.get_mut(&session.hop).expect("session queues exist");
        match session.phase {
            Phase::Envelope(entry) => queue.entries.push_front(entry),
            // After Content the peer may have the message already; resending is SMTP's
            // known duplicate window (RFC 1047), closed by the store's duplicate check.
            Phase::Content { entry, .. } if !self.topology.bug(PlantedBug::DoneOnSend) => {
                queue.entries.push_front(entry)
            }
            // After its content the same duplicate window as above.
            Phase::Foreign(f) => {
                for entry in f.into_entries().into_iter().rev() {
                    queue.entries.push_front(entry);
                }
            }
            _ => {}
        }
        queue.failures += 1;
        let open = mta.map(|m| crate::mta::association::after_failed_open(&m, queue.failures));
        let delay = open.map_or_else(|| retry.delay_ms(queue.failures), |o| o.retry_in_ms);
        if open.is_some_and(|o| o.give_up) {
            // The MTA gives up: what waits is returned as non-deliverable. orgsim's
            // mapping [U]: 4.4.7, the code of mail that could not be delivered in time.
            queue.failures = 0;
            let entries: Vec<QueueEntry> = queue.entries.drain(..).collect();
            for entry in entries {
                self.fail_recipients(now, entry.item, entry.recipients, DsnCode::Expired);
            }
        }
        let queue = self.links.get_mut(&session.hop).expect("session queues exist");
        queue.state = LinkQueueState::Retry;
        queue.retry_at = Some(now.plus_ms(delay));
        let failures = queue.failures;
        self.timers.set(Timer::QueueRetry(session.hop), now.plus_ms(delay));
        self.emit(ServerEvent::QueueState {
            queue: QueueKey::Link(session.hop),
            state: LinkQueueState::Retry,
            failures,
            retry_in_ms: Some(delay),
            reason: Some(reason),
        });
        // Glitch retries spent: the link goes to retry and the connector is found down (§4).
        if failures > retry.glitch_retry_count {
            if let Some(connector) = self.sources(session.hop) {
                self.out.to_routing(ToRouting::ConnectorDetected { connector, state: ConnectorState::Down });
            }
        }
    }

    pub(super) fn retry_queue(&mut self, now: Instant, hop: NextHop) {
        let queue = self.links.get_mut(&hop).expect("retried queues exist");
        debug_assert_eq!(queue.state, LinkQueueState::Retry);
        queue.state = LinkQueueState::Ready;
        queue.retry_at = None;
        let entries: Vec<QueueEntry> = queue.entries.drain(..).collect();
        for entry in entries {
            if self.expired(now, entry.item) {
                self.fail_recipients(now, entry.item, entry.recipients, DsnCode::Expired);
            } else {
                // The route may have changed while the queue waited (a connector marked
                // down); routing again keeps the order of mail that stays.
                self.ask_route(entry, Some(QueueKey::Link(hop)));
            }
        }
        self.kick(now, hop);
    }

    /// Tries a connector marked down, with or without mail (§4): a connection to one of
    /// its remote bridgeheads, closed as soon as the banner comes.
    pub(super) fn probe(&mut self, now: Instant, connector: ConnectorId) {
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
        let session = OutboundSession {
            hop,
            peer,
            fallback: VecDeque::new(),
            phase,
            sent: 0,
            chunking: false,
            deadline: Instant::ZERO,
        };
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
        self.out.output(Output::Dns { to, query });
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
