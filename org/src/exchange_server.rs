//! One Exchange server's transport and store: the SMTP virtual server (both sides of the
//! protocol), the categorizer, the routing engine over this server's own link state
//! table, the advanced queuing engine's queues with retry and expiration, local delivery
//! by the store driver, and NDR generation.
//!
//! Sans-IO: inputs arrive through `handle_*(now, …)`; outputs (packets, durable write
//! batches, events) are drained with [`ExchangeServer::drain_outputs`]; the next wake-up
//! is [`ExchangeServer::poll_timeout`]. Acceptance is acknowledged only once durable:
//! writes are group-committed by the `LogFlush` timer and the 250 replies, submission
//! events and further processing wait for it.

use crate::advanced_queuing::{LinkQueue, LinkQueueState, QueueEntry, QueueKey, QueueSnapshot};
use crate::categorizer::{categorize, Limits};
use crate::dsn::{DsnCode, NDR_SIZE_BYTES};
use crate::link_state::{ConnectorState, LinkStateTable};
use crate::mailbox_store::{DeliveryOutcome, MailboxStores};
use crate::message::{Message, MessageId, MessageKind};
use crate::planted_bugs::PlantedBug;
use crate::queue_directory::{DiskImage, DiskOp, StoredItem};
use crate::routing_engine::{NextHop, RoutingEngine};
use crate::smtp_protocol::{ConnId, Frame, InboundSession, InboundStep, Packet, SmtpCommand, SmtpReply};
use crate::time::Instant;
use crate::topology::Topology;
use crate::trace::{ServerEvent, SessionFailure};
use crate::{AddressId, ConnectorId, Entropy, ServerId, StoreId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// What a server asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send a packet to another server.
    Send {
        /// Destination server.
        to: ServerId,
        /// The packet.
        packet: Packet,
    },
    /// Make these writes durable, atomically, before anything after them is released.
    Persist(Vec<DiskOp>),
    /// Something observable happened.
    Event(ServerEvent),
}

/// The server's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Group commit of pending writes.
    LogFlush,
    /// A link queue in Retry is tried again.
    QueueRetry(NextHop),
    /// An outbound session got no reply in time.
    Outbound(u64),
    /// An inbound session was idle too long.
    InboundIdle(ConnId),
    /// Mail in "Final destination currently unreachable" is re-routed.
    UnreachableReroute,
}

/// Timers ordered by deadline, each set at most once.
#[derive(Clone, Debug, Default)]
struct Timers {
    by_deadline: BTreeSet<(Instant, Timer)>,
    deadline_of: BTreeMap<Timer, Instant>,
}

impl Timers {
    fn set(&mut self, timer: Timer, at: Instant) {
        if let Some(old) = self.deadline_of.insert(timer, at) {
            self.by_deadline.remove(&(old, timer));
        }
        self.by_deadline.insert((at, timer));
    }

    fn cancel(&mut self, timer: Timer) {
        if let Some(old) = self.deadline_of.remove(&timer) {
            self.by_deadline.remove(&(old, timer));
        }
    }

    fn is_set(&self, timer: Timer) -> bool {
        self.deadline_of.contains_key(&timer)
    }

    fn next(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(at, _)| *at)
    }

    fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let &(at, timer) = self.by_deadline.first()?;
        if at > now {
            return None;
        }
        self.by_deadline.remove(&(at, timer));
        self.deadline_of.remove(&timer);
        Some(timer)
    }
}

/// A message file this server holds, with the recipients it still serves.
#[derive(Clone, Debug)]
struct Item {
    message: Message,
    remaining: Vec<AddressId>,
    arrived_at: Instant,
}

/// Where an outbound session is.
#[derive(Clone, Debug)]
enum Phase {
    /// Connect sent, waiting for the 220 banner.
    Connecting,
    /// EHLO sent.
    Ehlo,
    /// MAIL, RCPTs and DATA pipelined for this entry.
    Envelope(QueueEntry),
    /// Content sent, waiting for 250 Queued.
    Content { entry: QueueEntry, message: MessageId, size_bytes: u64 },
    /// QUIT sent.
    Quitting,
}

/// The sending side of one SMTP session, serving one link queue.
#[derive(Clone, Debug)]
struct OutboundSession {
    hop: NextHop,
    peer: ServerId,
    phase: Phase,
    sent: u32,
    /// The reply must come by then. The `Outbound` timer is not re-keyed on every
    /// command: when it fires early it re-arms itself for this deadline.
    deadline: Instant,
}

/// The receiving side of one session and when it is dropped for idleness.
#[derive(Clone, Debug)]
struct Inbound {
    session: InboundSession,
    /// Last command plus the connection timeout (the `InboundIdle` timer re-arms to it).
    idle_deadline: Instant,
}

/// Work that waits for the current write batch to be durable.
#[derive(Clone, Debug)]
enum AfterFlush {
    Event(ServerEvent),
    Delivered { message: MessageId, recipient: AddressId, store: StoreId, submitted_at: Instant },
    Reply { to: ServerId, conn: ConnId, replies: Vec<SmtpReply> },
    Process(StoredItem),
}

/// One Exchange server.
pub struct ExchangeServer {
    id: ServerId,
    topology: Arc<Topology>,
    rng: Box<dyn Entropy + Send>,
    table: LinkStateTable,
    routing: RoutingEngine,
    items: BTreeMap<u64, Item>,
    next_item: u64,
    stores: MailboxStores,
    unreachable: VecDeque<QueueEntry>,
    links: BTreeMap<NextHop, LinkQueue>,
    outbound: BTreeMap<u64, OutboundSession>,
    inbound: BTreeMap<ConnId, Inbound>,
    next_conn: u64,
    pending_ops: Vec<DiskOp>,
    after_flush: Vec<AfterFlush>,
    timers: Timers,
    outputs: Vec<Output>,
}

impl ExchangeServer {
    /// A server starting with empty queues and stores.
    pub fn new(id: ServerId, topology: Arc<Topology>, rng: Box<dyn Entropy + Send>) -> Self {
        ExchangeServer::recover(id, topology, &DiskImage::default(), &[], rng, 0, Instant::ZERO)
    }

    /// A server (re)started on what its disk holds. `link_states` is the link state the
    /// server learns at start (empty: every connector up); `incarnation` counts restarts
    /// so connection numbers never repeat. Every queued message is categorized and routed
    /// again, as the SMTP service does when it re-enumerates its queue directory.
    pub fn recover(
        id: ServerId,
        topology: Arc<Topology>,
        disk: &DiskImage,
        link_states: &[(ConnectorId, ConnectorState)],
        rng: Box<dyn Entropy + Send>,
        incarnation: u32,
        now: Instant,
    ) -> Self {
        let mut table = LinkStateTable::new(topology.connectors.len());
        for &(connector, state) in link_states {
            table.set(connector, state);
        }
        let mut server = ExchangeServer {
            id,
            topology,
            rng,
            table,
            routing: RoutingEngine::new(),
            items: BTreeMap::new(),
            next_item: disk.next_item,
            stores: MailboxStores::from_disk(&disk.mailboxes),
            unreachable: VecDeque::new(),
            links: BTreeMap::new(),
            outbound: BTreeMap::new(),
            inbound: BTreeMap::new(),
            next_conn: u64::from(incarnation) << 32,
            pending_ops: Vec::new(),
            after_flush: Vec::new(),
            timers: Timers::default(),
            outputs: Vec::new(),
        };
        if !disk.items.is_empty() {
            let recipients = disk.items.values().map(|i| i.recipients.len() as u32).sum();
            server.emit(ServerEvent::Recovered { items: disk.items.len() as u32, recipients });
            for item in disk.items.values() {
                if server.topology.bug(PlantedBug::RecoverySkipsQueues) {
                    let (message, remaining) = (item.message.clone(), item.recipients.clone());
                    server.items.insert(item.id, Item { message, remaining, arrived_at: item.arrived_at });
                    continue;
                }
                server.process(now, item.clone());
            }
        }
        server
    }

    /// This server's id.
    pub fn id(&self) -> ServerId {
        self.id
    }

    /// The earliest instant at which [`ExchangeServer::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Takes the outputs produced so far, in order.
    pub fn drain_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    /// The queues as Queue Viewer would show them now.
    pub fn queue_snapshot(&self) -> Vec<QueueSnapshot> {
        let mut out =
            vec![QueueSnapshot { queue: QueueKey::Unreachable, state: None, messages: self.unreachable.len() as u32 }];
        for (hop, queue) in &self.links {
            out.push(QueueSnapshot {
                queue: QueueKey::Link(*hop),
                state: Some(queue.state),
                messages: queue.entries.len() as u32 + u32::from(self.in_flight(*hop)),
            });
        }
        out
    }

    /// A MAPI client submits a message through the store driver (tracking event 1027).
    pub fn handle_submit(&mut self, now: Instant, message: Message, recipients: Vec<AddressId>) {
        assert!(!recipients.is_empty(), "a submission has recipients");
        assert!(message.sender.is_some(), "clients submit with a sender");
        let item = StoredItem { id: self.take_item_id(), message, recipients, arrived_at: now, submitted_here: true };
        self.pending_ops.push(DiskOp::Enqueue(item.clone()));
        self.after_flush.push(AfterFlush::Event(ServerEvent::Submitted {
            message: item.message.id,
            sender: item.message.sender.expect("checked above"),
            recipients: item.recipients.clone(),
            size_bytes: item.message.size_bytes,
        }));
        self.after_flush.push(AfterFlush::Process(item));
        self.schedule_flush(now);
    }

    /// A packet from another server arrived.
    pub fn handle_packet(&mut self, now: Instant, from: ServerId, packet: Packet) {
        if packet.conn.client == self.id {
            self.handle_reply(now, packet.conn.seq, packet.frame);
        } else {
            debug_assert_eq!(packet.conn.client, from, "inbound connections come from their client");
            self.handle_inbound(now, from, packet.conn, packet.frame);
        }
    }

    /// The link state of a connector changed (v1: the simulator tells every server at
    /// once). Mail waiting for connectors or for a route is routed again.
    pub fn handle_connector_state(&mut self, now: Instant, connector: ConnectorId, state: ConnectorState) {
        if !self.table.set(connector, state) {
            return;
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
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::LogFlush => self.flush(now),
                Timer::QueueRetry(hop) => self.retry_queue(now, hop),
                Timer::Outbound(_) if self.topology.bug(PlantedBug::LostSessionTimeout) => {}
                Timer::Outbound(seq) => match self.outbound.get(&seq).map(|s| s.deadline) {
                    Some(deadline) if deadline > now => self.timers.set(Timer::Outbound(seq), deadline),
                    Some(_) => self.session_failed(now, seq, SessionFailure::Timeout),
                    None => {}
                },
                Timer::InboundIdle(conn) => match self.inbound.get(&conn).map(|i| i.idle_deadline) {
                    Some(deadline) if deadline > now => self.timers.set(Timer::InboundIdle(conn), deadline),
                    Some(_) => {
                        self.inbound.remove(&conn);
                    }
                    None => {}
                },
                Timer::UnreachableReroute => self.reroute_unreachable(now),
            }
        }
    }

    // ----- durability -----

    fn take_item_id(&mut self) -> u64 {
        let id = self.next_item;
        self.next_item += 1;
        id
    }

    fn schedule_flush(&mut self, now: Instant) {
        if !self.timers.is_set(Timer::LogFlush) {
            let delay = self.topology.server(self.id).smtp.log_flush_ms;
            self.timers.set(Timer::LogFlush, now.plus_ms(delay));
        }
    }

    fn flush(&mut self, now: Instant) {
        let ops = std::mem::take(&mut self.pending_ops);
        if !ops.is_empty() {
            self.outputs.push(Output::Persist(ops));
        }
        for action in std::mem::take(&mut self.after_flush) {
            match action {
                AfterFlush::Event(event) => self.emit(event),
                AfterFlush::Delivered { message, recipient, store, submitted_at } => {
                    let latency_ms = now.since(submitted_at);
                    self.emit(ServerEvent::Delivered { message, recipient, store, latency_ms });
                }
                AfterFlush::Reply { to, conn, replies } => self.send(to, conn, Frame::Replies(replies)),
                AfterFlush::Process(item) => self.process(now, item),
            }
        }
    }

    fn emit(&mut self, event: ServerEvent) {
        self.outputs.push(Output::Event(event));
    }

    fn send(&mut self, to: ServerId, conn: ConnId, frame: Frame) {
        self.outputs.push(Output::Send { to, packet: Packet { conn, frame } });
    }

    /// These recipients of an item are finished here.
    fn recipients_done(&mut self, now: Instant, item_id: u64, recipients: &[AddressId]) {
        let item = self.items.get_mut(&item_id).expect("finished recipients belong to a held item");
        for r in recipients {
            let at = item.remaining.iter().position(|x| x == r);
            let at = at.expect("a recipient is finished once");
            item.remaining.swap_remove(at);
        }
        if item.remaining.is_empty() {
            self.items.remove(&item_id);
        }
        self.pending_ops.push(DiskOp::RecipientsDone { item: item_id, recipients: recipients.to_vec() });
        self.schedule_flush(now);
    }

    // ----- categorizer, routing, local delivery, NDRs -----

    /// A durable message enters categorization and routing.
    fn process(&mut self, now: Instant, stored: StoredItem) {
        let config = self.topology.server(self.id);
        let limits = Limits {
            max_hop_count: config.version.max_hop_count(),
            max_message_size_bytes: config.smtp.max_message_size_bytes,
        };
        let verdict =
            categorize(&self.topology.directory, limits, &stored.message, &stored.recipients, stored.submitted_here);
        let id = stored.id;
        let message_id = stored.message.id;
        self.items
            .insert(id, Item { message: stored.message, remaining: stored.recipients, arrived_at: stored.arrived_at });
        self.emit(ServerEvent::Categorized {
            message: message_id,
            resolved: verdict.resolved.len() as u32,
            failed: verdict.failed.len() as u32,
        });
        let mut failed: BTreeMap<DsnCode, Vec<AddressId>> = BTreeMap::new();
        for (r, code) in verdict.failed {
            failed.entry(code).or_default().push(r);
        }
        for (code, recipients) in failed {
            if code == DsnCode::RecipientNotFound && self.topology.bug(PlantedBug::UnknownRecipientDropped) {
                self.recipients_done(now, id, &recipients);
                continue;
            }
            self.fail_recipients(now, id, recipients, code);
        }
        let entry = QueueEntry { item: id, recipients: verdict.resolved.into_iter().map(|(r, _)| r).collect() };
        if !entry.recipients.is_empty() {
            self.route_entry(now, entry, None);
        }
    }

    /// Routes the recipients of an entry and queues them by next hop; `from` is the queue
    /// they leave (re-routing), whose name is not repeated in the trace when unchanged.
    fn route_entry(&mut self, now: Instant, entry: QueueEntry, from: Option<QueueKey>) {
        let mut by_hop: BTreeMap<NextHop, (Vec<AddressId>, u32)> = BTreeMap::new();
        for r in entry.recipients {
            let home = self.topology.directory.lookup(r).expect("routed recipients are resolved").home_server;
            let decision = self.routing.next_hop(&self.topology, &self.table, self.id, home);
            by_hop.entry(decision.next_hop).or_insert_with(|| (Vec::new(), decision.cost)).0.push(r);
        }
        let message = self.items[&entry.item].message.id;
        if self.topology.bug(PlantedBug::BifurcationCopiesAll)
            && by_hop.contains_key(&NextHop::Local)
            && by_hop.len() > 1
        {
            let m = self.items[&entry.item].message.clone();
            for (hop, (recipients, _)) in &by_hop {
                for &recipient in recipients.iter().filter(|_| *hop != NextHop::Local) {
                    let store = self.topology.directory.lookup(recipient).expect("resolved").store;
                    if self.stores.deliver(recipient, m.id, m.size_bytes) == DeliveryOutcome::Delivered {
                        self.pending_ops.push(DiskOp::Deliver {
                            store,
                            recipient,
                            message: m.id,
                            size_bytes: m.size_bytes,
                        });
                        let submitted_at = m.submitted_at;
                        self.after_flush.push(AfterFlush::Delivered { message: m.id, recipient, store, submitted_at });
                    }
                }
            }
        }
        for (hop, (recipients, cost)) in by_hop {
            let queue = QueueKey::for_next_hop(hop);
            if from != Some(queue) {
                self.emit(ServerEvent::Queued { message, queue, recipients: recipients.clone(), cost });
            }
            let entry = QueueEntry { item: entry.item, recipients };
            match hop {
                NextHop::Local => self.deliver_local(now, entry),
                NextHop::Unreachable => {
                    self.unreachable.push_back(entry);
                    if !self.timers.is_set(Timer::UnreachableReroute) {
                        let every = self.topology.server(self.id).smtp.unreachable_reroute_interval_ms;
                        self.timers.set(Timer::UnreachableReroute, now.plus_ms(every));
                    }
                }
                NextHop::Server(_) | NextHop::Connector(_) => {
                    self.links.entry(hop).or_default().entries.push_back(entry);
                    self.kick(now, hop);
                }
            }
        }
    }

    /// The store driver commits each recipient's copy (event 1028).
    fn deliver_local(&mut self, now: Instant, entry: QueueEntry) {
        let message = self.items[&entry.item].message.clone();
        for &recipient in &entry.recipients {
            let store = self.topology.directory.lookup(recipient).expect("local recipients are resolved").store;
            match self.stores.deliver(recipient, message.id, message.size_bytes) {
                DeliveryOutcome::Delivered => {
                    self.pending_ops.push(DiskOp::Deliver {
                        store,
                        recipient,
                        message: message.id,
                        size_bytes: message.size_bytes,
                    });
                    self.after_flush.push(AfterFlush::Delivered {
                        message: message.id,
                        recipient,
                        store,
                        submitted_at: message.submitted_at,
                    });
                }
                DeliveryOutcome::Duplicate => {
                    self.emit(ServerEvent::DuplicateSuppressed { message: message.id, recipient, store });
                }
            }
        }
        self.recipients_done(now, entry.item, &entry.recipients);
    }

    /// Recipients fail permanently: an NDR to the sender, or Badmail for a DSN.
    fn fail_recipients(&mut self, now: Instant, item_id: u64, recipients: Vec<AddressId>, code: DsnCode) {
        let original = self.items[&item_id].message.clone();
        match original.sender {
            None => {
                self.emit(ServerEvent::Badmail { message: original.id, recipients: recipients.clone(), code });
            }
            Some(sender) => {
                let ndr_item = self.take_item_id();
                let ndr = StoredItem {
                    id: ndr_item,
                    message: Message {
                        id: MessageId::Dsn { server: self.id, item: ndr_item },
                        kind: MessageKind::Ndr { original: original.id, code },
                        sender: None,
                        size_bytes: NDR_SIZE_BYTES,
                        submitted_at: now,
                        hop_count: 0,
                    },
                    recipients: vec![sender],
                    arrived_at: now,
                    submitted_here: false,
                };
                self.pending_ops.push(DiskOp::Enqueue(ndr.clone()));
                self.after_flush.push(AfterFlush::Event(ServerEvent::Ndr {
                    message: original.id,
                    recipients: recipients.clone(),
                    code,
                    ndr: ndr.message.id,
                    to: sender,
                }));
                self.after_flush.push(AfterFlush::Process(ndr));
            }
        }
        self.recipients_done(now, item_id, &recipients);
    }

    fn expired(&self, now: Instant, item_id: u64) -> bool {
        if self.topology.bug(PlantedBug::NoExpiration) {
            return false;
        }
        let expiration_ms = self.topology.server(self.id).smtp.expiration_ms;
        now.since(self.items[&item_id].arrived_at) >= expiration_ms
    }

    fn reroute_unreachable(&mut self, now: Instant) {
        for entry in std::mem::take(&mut self.unreachable) {
            if self.expired(now, entry.item) {
                self.fail_recipients(now, entry.item, entry.recipients, DsnCode::Expired);
            } else if self.topology.bug(PlantedBug::UnreachableNeverRerouted) {
                self.unreachable.push_back(entry);
            } else {
                self.route_entry(now, entry, Some(QueueKey::Unreachable));
            }
        }
        if !self.unreachable.is_empty() && !self.timers.is_set(Timer::UnreachableReroute) {
            let every = self.topology.server(self.id).smtp.unreachable_reroute_interval_ms;
            self.timers.set(Timer::UnreachableReroute, now.plus_ms(every));
        }
    }

    // ----- link queues and the sending side of SMTP -----

    fn in_flight(&self, hop: NextHop) -> bool {
        self.outbound.values().any(|s| s.hop == hop && matches!(s.phase, Phase::Envelope(_) | Phase::Content { .. }))
    }

    /// Opens a connection for a Ready queue with mail.
    fn kick(&mut self, now: Instant, hop: NextHop) {
        let queue = self.links.get_mut(&hop).expect("kicked queues exist");
        if queue.state != LinkQueueState::Ready || queue.entries.is_empty() {
            return;
        }
        queue.state = LinkQueueState::Active;
        let peer = self.choose_peer(hop);
        let seq = self.next_conn;
        self.next_conn += 1;
        let deadline = now.plus_ms(self.topology.server(self.id).smtp.connect_timeout_ms);
        self.outbound.insert(seq, OutboundSession { hop, peer, phase: Phase::Connecting, sent: 0, deadline });
        self.send(peer, ConnId { client: self.id, seq }, Frame::Connect);
        self.timers.set(Timer::Outbound(seq), deadline);
    }

    /// The server a session for `hop` connects to. Over a connector, a bridgehead is
    /// picked at random among the candidates and kept for the session (§4).
    fn choose_peer(&mut self, hop: NextHop) -> ServerId {
        match hop {
            NextHop::Server(s) => s,
            NextHop::Connector(c) => {
                let connector = self.topology.connector(c);
                let candidates: Vec<ServerId> = if connector.source_bridgeheads.contains(&self.id) {
                    connector.target_bridgeheads.clone()
                } else {
                    connector.source_bridgeheads.clone()
                };
                assert!(!candidates.is_empty(), "connectors have bridgeheads (checked at load)");
                candidates[self.rng.below(candidates.len())]
            }
            NextHop::Local | NextHop::Unreachable => unreachable!("no link queue for {hop:?}"),
        }
    }

    fn handle_reply(&mut self, now: Instant, seq: u64, frame: Frame) {
        if !self.outbound.contains_key(&seq) {
            return; // a reply for a session that already timed out
        }
        let replies = match frame {
            Frame::Replies(replies) => replies,
            Frame::Reset => return self.session_failed(now, seq, SessionFailure::Reset),
            Frame::Connect | Frame::Commands(_) => return,
        };
        let session = self.outbound.get_mut(&seq).expect("checked above");
        let phase = std::mem::replace(&mut session.phase, Phase::Quitting);
        let conn = ConnId { client: self.id, seq };
        let peer = session.peer;
        match phase {
            Phase::Connecting if replies == [SmtpReply::ServiceReady] => {
                session.phase = Phase::Ehlo;
                self.send_commands(now, peer, conn, vec![SmtpCommand::Ehlo]);
            }
            Phase::Ehlo if replies == [SmtpReply::EhloOk] => self.next_message(now, seq),
            Phase::Envelope(entry) => {
                if replies.len() == entry.recipients.len() + 2 && replies.iter().all(|r| r.is_positive()) {
                    let message = self.items[&entry.item].message.clone();
                    if self.topology.bug(PlantedBug::DoneOnSend) {
                        self.recipients_done(now, entry.item, &entry.recipients);
                    }
                    let session = self.outbound.get_mut(&seq).expect("session exists");
                    session.phase = Phase::Content { entry, message: message.id, size_bytes: message.size_bytes };
                    self.send_commands(now, peer, conn, vec![SmtpCommand::Content(Box::new(message))]);
                } else if replies.contains(&SmtpReply::SizeExceeded) {
                    self.fail_recipients(now, entry.item, entry.recipients, DsnCode::MessageTooLarge);
                    self.next_message(now, seq);
                } else {
                    let code = replies.iter().find(|r| !r.is_positive()).map_or(0, |r| r.code());
                    self.requeue_front(entry, seq);
                    self.session_failed(now, seq, SessionFailure::Rejected(code));
                }
            }
            Phase::Content { entry, message, size_bytes } => {
                if replies == [SmtpReply::Queued] {
                    let event = ServerEvent::Transferred {
                        message,
                        to: peer,
                        queue: QueueKey::Link(self.outbound[&seq].hop),
                        recipients: entry.recipients.clone(),
                        size_bytes,
                    };
                    self.emit(event);
                    if !self.topology.bug(PlantedBug::DoneOnSend) {
                        self.recipients_done(now, entry.item, &entry.recipients);
                    }
                    self.outbound.get_mut(&seq).expect("session exists").sent += 1;
                    self.next_message(now, seq);
                } else {
                    let code = replies.first().map_or(0, |r| r.code());
                    if !self.topology.bug(PlantedBug::DoneOnSend) {
                        self.requeue_front(entry, seq);
                    }
                    self.session_failed(now, seq, SessionFailure::Rejected(code));
                }
            }
            Phase::Quitting => self.close_session(now, seq),
            Phase::Connecting | Phase::Ehlo => {
                let code = replies.first().map_or(0, |r| r.code());
                self.session_failed(now, seq, SessionFailure::Rejected(code));
            }
        }
    }

    fn send_commands(&mut self, now: Instant, peer: ServerId, conn: ConnId, commands: Vec<SmtpCommand>) {
        self.send(peer, conn, Frame::Commands(commands));
        let deadline = now.plus_ms(self.topology.server(self.id).smtp.connection_timeout_ms);
        let session = self.outbound.get_mut(&conn.seq).expect("commands go on open sessions");
        debug_assert!(deadline >= session.deadline, "deadlines only move later");
        session.deadline = deadline;
        if !self.timers.is_set(Timer::Outbound(conn.seq)) {
            self.timers.set(Timer::Outbound(conn.seq), deadline);
        }
    }

    fn requeue_front(&mut self, entry: QueueEntry, seq: u64) {
        let hop = self.outbound[&seq].hop;
        self.links.get_mut(&hop).expect("session queues exist").entries.push_front(entry);
    }

    /// Sends the next message of the queue on this session, or QUIT.
    fn next_message(&mut self, now: Instant, seq: u64) {
        let limit = self.topology.server(self.id).smtp.messages_per_connection;
        let (hop, peer, sent) = {
            let s = &self.outbound[&seq];
            (s.hop, s.peer, s.sent)
        };
        let conn = ConnId { client: self.id, seq };
        loop {
            let queue = self.links.get_mut(&hop).expect("session queues exist");
            let entry = if sent < limit { queue.entries.pop_front() } else { None };
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
            commands.push(SmtpCommand::Data);
            self.outbound.get_mut(&seq).expect("session exists").phase = Phase::Envelope(entry);
            return self.send_commands(now, peer, conn, commands);
        }
    }

    fn close_session(&mut self, now: Instant, seq: u64) {
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

    fn session_failed(&mut self, now: Instant, seq: u64, reason: SessionFailure) {
        let Some(session) = self.outbound.get(&seq) else {
            return;
        };
        if matches!(session.phase, Phase::Quitting) {
            return self.close_session(now, seq); // everything was sent; only QUIT was lost
        }
        let session = self.outbound.remove(&seq).expect("checked above");
        self.timers.cancel(Timer::Outbound(seq));
        let retry = self.topology.server(self.id).smtp.retry.clone();
        let queue = self.links.get_mut(&session.hop).expect("session queues exist");
        match session.phase {
            Phase::Envelope(entry) => queue.entries.push_front(entry),
            // After Content the peer may have the message already; resending is SMTP's
            // known duplicate window (RFC 1047), closed by the store's duplicate check.
            Phase::Content { entry, .. } if !self.topology.bug(PlantedBug::DoneOnSend) => {
                queue.entries.push_front(entry)
            }
            _ => {}
        }
        queue.failures += 1;
        let delay = retry.delay_ms(queue.failures);
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
    }

    fn retry_queue(&mut self, now: Instant, hop: NextHop) {
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
                self.route_entry(now, entry, Some(QueueKey::Link(hop)));
            }
        }
        self.kick(now, hop);
    }

    // ----- the receiving side of SMTP -----

    fn handle_inbound(&mut self, now: Instant, from: ServerId, conn: ConnId, frame: Frame) {
        let idle_ms = self.topology.server(self.id).smtp.connection_timeout_ms;
        let commands = match frame {
            Frame::Connect => {
                let idle_deadline = now.plus_ms(idle_ms);
                self.inbound.insert(conn, Inbound { session: InboundSession::new(), idle_deadline });
                self.timers.set(Timer::InboundIdle(conn), idle_deadline);
                return self.send(from, conn, Frame::Replies(vec![SmtpReply::ServiceReady]));
            }
            Frame::Commands(commands) => commands,
            Frame::Replies(_) | Frame::Reset => return,
        };
        let max_size = self.topology.server(self.id).smtp.max_message_size_bytes;
        let Some(inbound) = self.inbound.get_mut(&conn) else {
            return self.send(from, conn, Frame::Reset);
        };
        inbound.idle_deadline = now.plus_ms(idle_ms);
        let session = &mut inbound.session;
        let mut replies = Vec::with_capacity(commands.len());
        let mut accepted = Vec::new();
        let mut closed = false;
        for command in commands {
            match session.handle(command, max_size) {
                InboundStep::Reply(reply) => replies.push(reply),
                InboundStep::Accept { recipients, message } => {
                    replies.push(SmtpReply::Queued);
                    accepted.push((recipients, message));
                }
                InboundStep::Close(reply) => {
                    replies.push(reply);
                    closed = true;
                    break;
                }
            }
        }
        if closed {
            self.inbound.remove(&conn);
            self.timers.cancel(Timer::InboundIdle(conn));
        }
        if accepted.is_empty() {
            return self.send(from, conn, Frame::Replies(replies));
        }
        for (recipients, mut message) in accepted {
            message.hop_count = message.hop_count.saturating_add(1); // our Received header
            let item = StoredItem {
                id: self.take_item_id(),
                message: *message,
                recipients,
                arrived_at: now,
                submitted_here: false,
            };
            self.pending_ops.push(DiskOp::Enqueue(item.clone()));
            self.after_flush.push(AfterFlush::Event(ServerEvent::Received {
                message: item.message.id,
                from,
                conn,
                recipients: item.recipients.clone(),
                hop_count: item.message.hop_count,
            }));
            self.after_flush.push(AfterFlush::Process(item));
        }
        if self.topology.bug(PlantedBug::AckBeforeDurable) {
            self.send(from, conn, Frame::Replies(replies));
        } else {
            // 250 Queued only once the message files are durable.
            self.after_flush.push(AfterFlush::Reply { to: from, conn, replies });
        }
        self.schedule_flush(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::global_catalog::{GlobalCatalog, MailboxEntry};
    use crate::topology::{ConnectorConfig, RoutingGroupConfig, ServerConfig, SmtpVirtualServerConfig, StoreConfig};
    use crate::version::ExchangeVersion;
    use crate::RoutingGroupId;

    struct Counter(u64);
    impl Entropy for Counter {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0
        }
    }

    /// EX0 in RG0, EX1 in RG1, one connector each way; mailbox 1 on EX0, mailbox 2 on EX1.
    fn two_groups() -> Arc<Topology> {
        let server = |i: u16| ServerConfig {
            name: format!("EX{i}"),
            fqdn: format!("ex{i}.contoso.com"),
            version: ExchangeVersion::Exchange2003Sp2,
            routing_group: RoutingGroupId(i),
            smtp: SmtpVirtualServerConfig::default(),
        };
        let connector = |from: u16, to: u16| ConnectorConfig {
            name: format!("RG{from}-RG{to}"),
            from: RoutingGroupId(from),
            to: RoutingGroupId(to),
            cost: 1,
            source_bridgeheads: vec![ServerId(from)],
            target_bridgeheads: vec![ServerId(to)],
        };
        let mut directory = GlobalCatalog::new();
        directory.add_mailbox(AddressId(1), MailboxEntry { store: StoreId(0), home_server: ServerId(0) });
        directory.add_mailbox(AddressId(2), MailboxEntry { store: StoreId(1), home_server: ServerId(1) });
        Arc::new(Topology {
            servers: vec![server(0), server(1)],
            routing_groups: (0..2)
                .map(|g| RoutingGroupConfig { name: format!("RG{g}"), members: vec![ServerId(g)] })
                .collect(),
            connectors: vec![connector(0, 1), connector(1, 0)],
            stores: (0..2)
                .map(|s| StoreConfig { name: format!("MS{s}"), storage_group: "SG".into(), server: ServerId(s) })
                .collect(),
            directory,
            plants: crate::planted_bugs::Plants::NONE,
        })
    }

    fn message(n: u64) -> Message {
        Message {
            id: MessageId::Client(n),
            kind: MessageKind::Normal,
            sender: Some(AddressId(1)),
            size_bytes: 4096,
            submitted_at: Instant::ZERO,
            hop_count: 0,
        }
    }

    /// Runs two servers against each other with zero network delay until quiet or `until`.
    fn pump(servers: &mut [ExchangeServer; 2], disks: &mut [DiskImage; 2], until: Instant) -> Vec<ServerEvent> {
        let mut events = Vec::new();
        let mut now = Instant::ZERO;
        loop {
            let mut moved = false;
            for i in 0..2 {
                for out in servers[i].drain_outputs() {
                    moved = true;
                    match out {
                        Output::Send { to, packet } => {
                            let from = servers[i].id();
                            servers[usize::from(to.0)].handle_packet(now, from, packet)
                        }
                        Output::Persist(ops) => ops.iter().for_each(|op| disks[i].apply(op)),
                        Output::Event(e) => events.push(e),
                    }
                }
            }
            if moved {
                continue;
            }
            let next = servers.iter().filter_map(|s| s.poll_timeout()).min();
            match next {
                Some(t) if t <= until => {
                    now = t;
                    servers.iter_mut().for_each(|s| s.handle_timeout(now));
                }
                _ => return events,
            }
        }
    }

    #[test]
    fn delivers_locally_across_a_connector_and_ndrs_unknown() {
        let topo = two_groups();
        let mut servers = [
            ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1))),
            ExchangeServer::new(ServerId(1), topo.clone(), Box::new(Counter(2))),
        ];
        let mut disks = [DiskImage::default(), DiskImage::default()];
        servers[0].handle_submit(Instant::ZERO, message(1), vec![AddressId(1), AddressId(2), AddressId(9)]);
        let events = pump(&mut servers, &mut disks, Instant(60_000));
        let delivered: Vec<(MessageId, AddressId)> = events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Delivered { message, recipient, .. } => Some((*message, *recipient)),
                _ => None,
            })
            .collect();
        let ndr = MessageId::Dsn { server: ServerId(0), item: 1 };
        assert!(delivered.contains(&(MessageId::Client(1), AddressId(1))));
        assert!(delivered.contains(&(MessageId::Client(1), AddressId(2))));
        assert!(delivered.contains(&(ndr, AddressId(1))), "the NDR reaches the sender: {events:?}");
        assert_eq!(delivered.len(), 3);
        assert!(disks.iter().all(|d| d.items.is_empty()), "queues drained");
        assert_eq!(disks[1].mailboxes[&AddressId(2)].messages.len(), 1);
    }

    #[test]
    fn crash_before_flush_loses_only_unacknowledged_mail() {
        let topo = two_groups();
        let mut server = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1)));
        server.handle_submit(Instant::ZERO, message(1), vec![AddressId(1)]);
        // Nothing durable and nothing acknowledged before the flush.
        let outputs = server.drain_outputs();
        assert!(outputs.is_empty(), "{outputs:?}");
        // The node dies here: a restart on the empty disk has nothing to recover.
        let restarted =
            ExchangeServer::recover(ServerId(0), topo, &DiskImage::default(), &[], Box::new(Counter(1)), 1, Instant(1));
        assert_eq!(restarted.items.len(), 0);
    }

    #[test]
    fn connector_down_queues_as_unreachable_then_delivers() {
        let topo = two_groups();
        let mut servers = [
            ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1))),
            ExchangeServer::new(ServerId(1), topo.clone(), Box::new(Counter(2))),
        ];
        let mut disks = [DiskImage::default(), DiskImage::default()];
        servers[0].handle_connector_state(Instant::ZERO, ConnectorId(0), ConnectorState::Down);
        servers[0].handle_submit(Instant::ZERO, message(1), vec![AddressId(2)]);
        let events = pump(&mut servers, &mut disks, Instant(1_000));
        assert!(events.iter().any(|e| matches!(e, ServerEvent::Queued { queue: QueueKey::Unreachable, .. })));
        assert_eq!(disks[0].items.len(), 1, "still queued, durably");
        servers[0].handle_connector_state(Instant(1_000), ConnectorId(0), ConnectorState::Up);
        let events = pump(&mut servers, &mut disks, Instant(60_000));
        assert!(events.iter().any(|e| matches!(e, ServerEvent::Delivered { recipient: AddressId(2), .. })));
    }
}
