//! One Exchange server's transport and store: the SMTP virtual server (both sides of the
//! protocol), the categorizer, the routing engine over this server's own link state
//! table, the advanced queuing engine's queues with retry and expiration, local delivery
//! by the store driver, NDR generation, and, on bridgeheads of connectors with address
//! spaces, delivery out of the organization: to a smart host, a foreign MTA, or the MX
//! hosts DNS names for each domain (next DNS server and next MX host when one does not
//! answer, EXCHANGE2003.md §3.2).
//!
//! Sans-IO: inputs arrive through `handle_*(now, …)`; outputs (packets, durable write
//! batches, events) are drained with [`ExchangeServer::drain_outputs`]; the next wake-up
//! is [`ExchangeServer::poll_timeout`]. Acceptance is acknowledged only once durable:
//! writes are group-committed by the `LogFlush` timer and the 250 replies, submission
//! events and further processing wait for it.

use crate::config::topology::{Delivery, Topology};
use crate::directory::ad_replication::DcId;
use crate::directory::dsaccess::{CacheStats, UserCache};
use crate::directory::global_catalog::{AsOf, LdapPage, LdapQuery, LdapSearch, Restriction};
use crate::message::{Message, MessageId, MessageKind};
use crate::planted_bugs::PlantedBug;
use crate::routing::link_state::{
    ConnectorState, LinkStateExchange, LinkStateMessage, LinkStateTable, OrgInfo, VersionBump,
};
use crate::routing::routing_engine::{NextHop, RoutingEngine};
use crate::routing::routing_group_master::{Decision, RoutingGroupMaster};
use crate::store::mailbox_store::{DeliveryOutcome, MailboxStores};
use crate::time::Instant;
use crate::trace::{ServerEvent, SessionFailure};
use crate::transport::address_space::DomainId;
use crate::transport::advanced_queuing::{LinkQueue, LinkQueueState, QueueEntry, QueueKey, QueueSnapshot};
use crate::transport::categorizer::{
    categorize, Expansion, Limits, CATEGORIZER_RETRY_MS, GC_RECHECK_MS, LDAP_TIMEOUT_MS, MEMORY_PER_RECIPIENT_BYTES,
};
use crate::transport::dns::{DnsQuery, DnsReply};
use crate::transport::dsn::{DsnCode, NDR_SIZE_BYTES};
use crate::transport::queue_directory::{DiskImage, DiskOp, StoredItem};
use crate::transport::smtp_protocol::{ConnId, Frame, InboundSession, InboundStep, Packet, SmtpCommand, SmtpReply};
use crate::{AddressId, ConnectorId, Entropy, HostId, RoutingGroupId, ServerId, StoreId};
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
    /// Send a packet to a host beyond the organization.
    SendHost {
        /// Destination host.
        to: HostId,
        /// The packet.
        packet: Packet,
    },
    /// Ask a DNS server for a domain's MX records.
    Dns {
        /// The DNS server.
        to: HostId,
        /// The query.
        query: DnsQuery,
    },
    /// Send a link state message to another server.
    LinkState {
        /// Destination server.
        to: ServerId,
        /// The message.
        message: LinkStateMessage,
    },
    /// Ask a global catalog for a page of a group's members (DSAccess, LDAP over TCP 3268).
    Ldap {
        /// The GC.
        to: DcId,
        /// The search.
        search: LdapSearch,
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
    /// Link state updates and reports that got no answer are sent again.
    LinkStateResend,
    /// A connector this bridgehead found down is tried again.
    ConnectorProbe(ConnectorId),
    /// The master's oscillation damping of some connector ends.
    DampingEnd,
    /// A GC did not answer an item's lookup or expansion page in time.
    Ldap(u64),
    /// An item in categorizer retry expands again.
    CategorizerRetry(u64),
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

/// Who an outbound session talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Peer {
    /// Another Exchange server.
    Server(ServerId),
    /// A host beyond the organization (mail host, smart host, foreign MTA).
    Host(HostId),
}

impl From<ServerId> for Peer {
    fn from(id: ServerId) -> Peer {
        Peer::Server(id)
    }
}

impl From<HostId> for Peer {
    fn from(id: HostId) -> Peer {
        Peer::Host(id)
    }
}

/// Where an outbound session is.
#[derive(Clone, Debug)]
enum Phase {
    /// An MX query for the queue's domain is out to the `server`-th DNS server.
    Resolving { domain: DomainId, server: usize },
    /// Connect sent, waiting for the 220 banner.
    Connecting,
    /// EHLO sent.
    Ehlo,
    /// `X-LINK2STATE` sent (turn 1 or 2), waiting for the other bridgehead's answer.
    LinkState { turn: u8 },
    /// MAIL, RCPTs and DATA pipelined for this entry.
    Envelope(QueueEntry),
    /// Content sent, waiting for 250 Queued.
    Content { entry: QueueEntry, message: MessageId, size_bytes: u64 },
    /// QUIT sent.
    Quitting,
    /// A connection opened only to see whether a connector down works again (§4).
    Probe(ConnectorId),
}

/// The sending side of one SMTP session, serving one link queue.
#[derive(Clone, Debug)]
struct OutboundSession {
    hop: NextHop,
    peer: Peer,
    /// MX hosts still to try, in order, when `peer` does not answer.
    fallback: VecDeque<HostId>,
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

/// What the categorizer waits on a GC for.
#[derive(Clone, Debug)]
enum DirectoryWork {
    /// Recipients DSAccess has no fresh entry for (§2).
    Lookup(Vec<AddressId>),
    /// The message's groups, page by page (§2).
    Expand(Expansion),
}

/// A message held in the categorizer ("Messages awaiting directory lookup") while a GC
/// resolves its recipients or expands its groups.
#[derive(Clone, Debug)]
struct Expanding {
    work: DirectoryWork,
    /// The GC asked now; `None` while in categorizer retry.
    gc: Option<DcId>,
    /// The search number of the request out.
    search: u64,
    /// GCs that failed this attempt.
    tried: BTreeSet<DcId>,
    /// Whether the message was submitted here (the size limit applies when it is
    /// categorized after a lookup).
    at_origin: bool,
    /// Recipients routed before the expansion ended (only with the planted bug
    /// `routes-before-expansion`): not routed a second time when it ends.
    routed_early: Vec<AddressId>,
}

impl Expanding {
    fn found(&self) -> u64 {
        match &self.work {
            DirectoryWork::Lookup(_) => 0,
            DirectoryWork::Expand(e) => e.found(),
        }
    }

    fn restart(&mut self) {
        if let DirectoryWork::Expand(e) = &mut self.work {
            e.restart();
        }
    }
}

/// Size of an Out of Office reply: its text and headers [U].
const OOF_SIZE_BYTES: u64 = 2 * 1024;

/// Work that waits for the current write batch to be durable.
#[derive(Clone, Debug)]
enum AfterFlush {
    Event(ServerEvent),
    Delivered { message: MessageId, recipient: AddressId, store: StoreId, submitted_at: Instant },
    Reply { to: ServerId, conn: ConnId, replies: Vec<SmtpReply> },
    Process(StoredItem),
}

/// What a server reads from the directory and finds around it when it starts.
#[derive(Clone, Debug, Default)]
pub struct StartConditions {
    /// Each routing group's master, as the directory names it now (the topology's
    /// masters when empty).
    pub masters: Vec<ServerId>,
    /// Connectors whose remote bridgeheads refuse this server's connections now.
    pub stopped_connectors: Vec<ConnectorId>,
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

/// One Exchange server.
pub struct ExchangeServer {
    id: ServerId,
    topology: Arc<Topology>,
    rng: Box<dyn Entropy + Send>,
    table: LinkStateTable,
    routing: RoutingEngine,
    /// Each routing group's master as the directory names it.
    masters: Vec<ServerId>,
    /// This server's work as its group's master (empty unless it is the master).
    master_role: RoutingGroupMaster,
    /// States this server applied as master since it started or became master; kept over
    /// a merge that brings its own group back at a higher version.
    decided: BTreeMap<ConnectorId, ConnectorState>,
    /// Connectors this source bridgehead found down (after glitch retries) and probes.
    detected_down: BTreeSet<ConnectorId>,
    /// Connectors whose remote bridgeheads refuse this server (a fault of the world).
    stopped: BTreeSet<ConnectorId>,
    /// Link state neighbors: the master or the members, and bridgeheads across connectors.
    peers: BTreeMap<ServerId, LinkStatePeer>,
    /// What a neighbor not heard from yet is assumed to hold: the directory's table at
    /// the start of a run (every server built the same), nothing after a restart.
    peer_default: Option<u64>,
    pending_reports: BTreeMap<ConnectorId, PendingReport>,
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
    /// Items held in the categorizer while their groups are expanded ("Messages awaiting
    /// directory lookup").
    expanding: BTreeMap<u64, Expanding>,
    /// GCs DSAccess found not answering, and when it may try each again (one request at
    /// a time, until one is answered).
    gc_suspect: BTreeMap<DcId, Instant>,
    /// Requests out to GCs: (GC, search number) → the held item asking.
    searches: BTreeMap<(DcId, u64), u64>,
    next_search: u64,
    /// Recipients found by expansions in progress (what categorizer memory holds).
    categorizer_found: u64,
    /// The DSAccess user cache, when the scenario simulates it (memory: empty after a
    /// restart).
    dsaccess: Option<UserCache>,
    /// How many times this server has restarted (its connections are new ones).
    incarnation: u32,
}

impl ExchangeServer {
    /// A server starting with empty queues and stores.
    pub fn new(id: ServerId, topology: Arc<Topology>, rng: Box<dyn Entropy + Send>) -> Self {
        let start = StartConditions::default();
        ExchangeServer::recover(id, topology, &DiskImage::default(), &start, rng, 0, Instant::ZERO)
    }

    /// A server (re)started on what its disk holds. It builds its link state table from
    /// the directory (every connector up) and, after a restart, asks its link state
    /// neighbors for what changed since; `incarnation` counts restarts so connection
    /// numbers never repeat. Every queued message is categorized and routed again, as the
    /// SMTP service does when it re-enumerates its queue directory.
    pub fn recover(
        id: ServerId,
        topology: Arc<Topology>,
        disk: &DiskImage,
        start: &StartConditions,
        rng: Box<dyn Entropy + Send>,
        incarnation: u32,
        now: Instant,
    ) -> Self {
        let masters = if start.masters.is_empty() {
            topology.routing_groups.iter().map(|g| g.master).collect()
        } else {
            start.masters.clone()
        };
        let table = LinkStateTable::from_directory(&topology, &masters);
        let peer_default = (incarnation == 0).then(|| table.digest());
        let mut server = ExchangeServer {
            id,
            topology,
            rng,
            table,
            routing: RoutingEngine::new(),
            masters,
            master_role: RoutingGroupMaster::new(),
            decided: BTreeMap::new(),
            detected_down: BTreeSet::new(),
            stopped: start.stopped_connectors.iter().copied().collect(),
            peers: BTreeMap::new(),
            peer_default,
            pending_reports: BTreeMap::new(),
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
            expanding: BTreeMap::new(),
            gc_suspect: BTreeMap::new(),
            searches: BTreeMap::new(),
            next_search: 0,
            categorizer_found: 0,
            dsaccess: None,
            incarnation,
        };
        server.dsaccess = server.topology.server(id).dsaccess.map(UserCache::new);
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
        server.push_link_state(now);
        server
    }

    /// This server's id.
    pub fn id(&self) -> ServerId {
        self.id
    }

    /// Writes accepted but not yet made durable: what a crash now would lose.
    pub fn unflushed_writes(&self) -> usize {
        self.pending_ops.len()
    }

    /// The earliest instant at which [`ExchangeServer::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Takes the outputs produced so far, in order.
    pub fn drain_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    /// The DSAccess user cache's figures, when it is simulated.
    pub fn dsaccess_stats(&self) -> Option<CacheStats> {
        self.dsaccess.as_ref().map(UserCache::stats)
    }

    /// The queues as Queue Viewer would show them now.
    pub fn queue_snapshot(&self) -> Vec<QueueSnapshot> {
        let mut out =
            vec![QueueSnapshot { queue: QueueKey::Unreachable, state: None, messages: self.unreachable.len() as u32 }];
        if self.dsaccess.is_some() || !self.expanding.is_empty() {
            let messages = self.expanding.len() as u32;
            out.push(QueueSnapshot { queue: QueueKey::AwaitingDirectory, state: None, messages });
        }
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
    /// The store refuses the logon of a user whose `protocolSettings` block their client
    /// (§2): nothing is submitted.
    pub fn handle_submit(&mut self, now: Instant, message: Message, recipients: Vec<AddressId>) {
        let sender = message.sender.expect("clients submit with a sender");
        if !self.topology.directory.mapi_logon_allowed(sender) {
            self.emit(ServerEvent::MapiLogonDenied { sender });
            return;
        }
        self.accept_submission(now, message, recipients);
    }

    /// A client submits a message over SMTP to this server's virtual server (an
    /// Internet sender, anonymous, or an authenticated POP/IMAP client): no MAPI logon.
    pub fn handle_smtp_submit(&mut self, now: Instant, message: Message, recipients: Vec<AddressId>) {
        self.accept_submission(now, message, recipients);
    }

    fn accept_submission(&mut self, now: Instant, message: Message, recipients: Vec<AddressId>) {
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
            self.handle_reply(now, Peer::Server(from), packet.conn.seq, packet.frame);
        } else {
            debug_assert_eq!(packet.conn.client, from, "inbound connections come from their client");
            self.handle_inbound(now, from, packet.conn, packet.frame);
        }
    }

    /// A packet from a host beyond the organization arrived (hosts only answer the
    /// sessions this server opened).
    pub fn handle_host_packet(&mut self, now: Instant, from: HostId, packet: Packet) {
        if packet.conn.client == self.id {
            self.handle_reply(now, Peer::Host(from), packet.conn.seq, packet.frame);
        }
    }

    /// A DNS server answered an MX query.
    pub fn handle_dns_reply(&mut self, now: Instant, from: HostId, reply: DnsReply) {
        let seq = reply.query.conn.seq;
        let Some(session) = self.outbound.get(&seq) else { return };
        let Phase::Resolving { domain, server } = session.phase else { return };
        let dns_servers = &self.topology.internet.dns_servers;
        if reply.query.domain != domain || dns_servers.get(server) != Some(&from) {
            return; // a late answer from a server already given up on
        }
        let hop = session.hop;
        let order = match reply.mx {
            Some(records) => crate::transport::dns::delivery_order(&records, self.rng.as_mut()),
            None => Vec::new(),
        };
        let Some((&first, rest)) = order.split_first() else {
            // NXDOMAIN or no MX host: every message for the domain fails (5.4.0, §3.3).
            let queue = self.links.get_mut(&hop).expect("session queues exist");
            let entries: Vec<QueueEntry> = queue.entries.drain(..).collect();
            for entry in entries {
                self.fail_recipients(now, entry.item, entry.recipients, DsnCode::HostNotFound);
            }
            self.outbound.get_mut(&seq).expect("checked above").phase = Phase::Quitting;
            return self.close_session(now, seq);
        };
        let session = self.outbound.get_mut(&seq).expect("checked above");
        session.fallback = rest.iter().copied().collect();
        self.connect(now, seq, Peer::Host(first));
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
                self.send_link_state(from, LinkStateMessage::Reply { digest, info });
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
                let group = self.my_group();
                // Only the master answers: a reporter whose directory still names an old
                // master keeps resending until it learns the new one.
                if self.masters[usize::from(group.0)] == self.id && self.topology.connector(connector).from == group {
                    self.send_link_state(from, LinkStateMessage::ReportAck { connector, state });
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

    /// A neighbor shows its table (`info`, when sent) and digest: take what is newer and
    /// answer with this table's digest, and the table when the two differ. The neighbor
    /// holds this table once it has the answer. Returns the answer and the groups that
    /// changed (for [`ExchangeServer::table_changed`], after the answer is sent).
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

    /// The remote bridgeheads of a connector start or stop refusing this server's
    /// connections (their SMTP service stopped, a firewall rule): a fault of the world.
    pub fn handle_connector_service(&mut self, connector: ConnectorId, running: bool) {
        if running {
            self.stopped.remove(&connector);
        } else {
            self.stopped.insert(connector);
        }
    }

    /// This server's link state table.
    pub fn link_state_table(&self) -> &LinkStateTable {
        &self.table
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
                Timer::LinkStateResend => self.resend_link_state(now),
                Timer::ConnectorProbe(c) => self.probe(now, c),
                Timer::Ldap(item) => self.gc_failed(now, item),
                Timer::CategorizerRetry(item) => self.ask_gc(now, item),
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

    // ----- link state: detection, the master's review, propagation (§4) -----

    fn my_group(&self) -> RoutingGroupId {
        self.topology.server(self.id).routing_group
    }

    fn is_master(&self) -> bool {
        self.masters[usize::from(self.my_group().0)] == self.id
    }

    fn peer(&mut self, id: ServerId) -> &mut LinkStatePeer {
        let default = self.peer_default;
        self.peers.entry(id).or_insert(LinkStatePeer { synced: default, sent_at: None, incarnation: 0 })
    }

    fn send_link_state(&mut self, to: ServerId, message: LinkStateMessage) {
        self.outputs.push(Output::LinkState { to, message });
    }

    /// Who this server exchanges link state with: inside the group, the master (or, for
    /// the master, every member); across each connector it is a bridgehead of, the
    /// bridgeheads on the other side.
    fn link_state_neighbors(&self) -> BTreeSet<ServerId> {
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
    fn push_link_state(&mut self, now: Instant) {
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
    fn arm_resend(&mut self, now: Instant) {
        if !self.timers.is_set(Timer::LinkStateResend) {
            let every = self.topology.link_state.resend_interval_ms;
            self.timers.set(Timer::LinkStateResend, now.plus_ms(every));
        }
    }

    /// Sends the reports not acknowledged to the master again: `all` of them, or those
    /// unanswered for a resend interval.
    fn send_reports(&mut self, now: Instant, all: bool) {
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
    fn schedule_probe(&mut self, now: Instant, connector: ConnectorId) {
        let every = self.topology.link_state.probe_interval_ms;
        self.timers.set(Timer::ConnectorProbe(connector), now.plus_ms(every));
    }

    /// Updates and reports unanswered for a resend interval go again.
    fn resend_link_state(&mut self, now: Instant) {
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
    fn table_changed(&mut self, now: Instant, groups: Vec<RoutingGroupId>) {
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
    fn master_review(&mut self, now: Instant, connector: ConnectorId, reported: ConnectorState) {
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
    fn connector_detected(&mut self, now: Instant, connector: ConnectorId, state: ConnectorState) {
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
    fn probe(&mut self, now: Instant, connector: ConnectorId) {
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
    fn open_session(&mut self, hop: NextHop, peer: Peer, phase: Phase) -> u64 {
        let seq = self.next_conn;
        self.next_conn += 1;
        let session = OutboundSession { hop, peer, fallback: VecDeque::new(), phase, sent: 0, deadline: Instant::ZERO };
        self.outbound.insert(seq, session);
        seq
    }

    /// Opens the session's TCP connection to `peer`; the banner must come within the
    /// connect timeout.
    fn connect(&mut self, now: Instant, seq: u64, peer: Peer) {
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
    fn query_dns(&mut self, now: Instant, seq: u64, domain: DomainId, server: usize) {
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

    /// Whether mail for `hop` leaves this server through its X.400 MTA: over an X.400
    /// connector it is a bridgehead of, or to a foreign MTA.
    fn over_mta(&self, hop: NextHop) -> bool {
        match hop {
            NextHop::Connector(c) => {
                let connector = self.topology.connector(c);
                connector.kind == crate::config::topology::ConnectorKind::X400
                    && connector.source_bridgeheads.contains(&self.id)
            }
            NextHop::Gateway(g) => {
                let gateway = self.topology.gateway(g);
                matches!(gateway.delivery, Delivery::Mta(_)) && gateway.source_bridgeheads.contains(&self.id)
            }
            _ => false,
        }
    }

    /// Whether this server is a source bridgehead of the connector behind `hop`.
    fn sources(&self, hop: NextHop) -> Option<ConnectorId> {
        match hop {
            NextHop::Connector(c) if self.topology.connector(c).source_bridgeheads.contains(&self.id) => Some(c),
            _ => None,
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

    fn send(&mut self, to: impl Into<Peer>, conn: ConnId, frame: Frame) {
        let packet = Packet { conn, frame };
        self.outputs.push(match to.into() {
            Peer::Server(to) => Output::Send { to, packet },
            Peer::Host(to) => Output::SendHost { to, packet },
        });
    }

    /// These recipients of an item are finished here.
    fn recipients_done(&mut self, now: Instant, item_id: u64, recipients: &[AddressId]) {
        let item = self.items.get_mut(&item_id).expect("finished recipients belong to a held item");
        crate::transport::queue_directory::remove_recipients(&mut item.remaining, recipients);
        if item.remaining.is_empty() {
            self.items.remove(&item_id);
        }
        self.pending_ops.push(DiskOp::RecipientsDone { item: item_id, recipients: recipients.to_vec() });
        self.schedule_flush(now);
    }

    // ----- categorizer, routing, local delivery, NDRs -----

    /// A durable message enters categorization and routing.
    fn process(&mut self, now: Instant, stored: StoredItem) {
        let id = stored.id;
        let at_origin = stored.submitted_here;
        self.items
            .insert(id, Item { message: stored.message, remaining: stored.recipients, arrived_at: stored.arrived_at });
        self.categorize_item(now, id, at_origin, true);
    }

    /// Categorizes an item's remaining recipients: failures are NDR'd; groups this server
    /// expands hold the whole message until they are done (§2); the rest is routed.
    fn categorize_item(&mut self, now: Instant, id: u64, at_origin: bool, through_dsaccess: bool) {
        let recipients = self.items[&id].remaining.clone();
        self.categorize_recipients(now, id, recipients, at_origin, through_dsaccess);
    }

    /// Categorizes these recipients of an item (all it has left, but for those already
    /// on their way).
    fn categorize_recipients(
        &mut self,
        now: Instant,
        id: u64,
        recipients: Vec<AddressId>,
        at_origin: bool,
        through_dsaccess: bool,
    ) {
        if let Some(cache) = self.dsaccess.as_mut().filter(|_| through_dsaccess) {
            // §2: the categorizer reads recipients (and an internal sender, for
            // restrictions) through DSAccess; what it has no fresh entry for waits on a GC.
            let item = &self.items[&id];
            let mut wanted = recipients.clone();
            wanted.extend(item.message.sender.filter(|s| self.topology.directory.object(*s).is_some()));
            let misses = cache.misses(now, &wanted);
            if !misses.is_empty() {
                let work = DirectoryWork::Lookup(misses);
                let held = Expanding {
                    work,
                    gc: None,
                    search: 0,
                    tried: BTreeSet::new(),
                    at_origin,
                    routed_early: Vec::new(),
                };
                self.expanding.insert(id, held);
                self.ask_gc(now, id);
                return;
            }
        }
        let limits = self.limits();
        let item = &self.items[&id];
        let directory = &self.topology.directory;
        let (external, here, message) = (&self.topology.external, self.id, &item.message);
        // With DSAccess the categorizer believes what a GC answered (cached); without it,
        // the directory as of now.
        let verdict = match self.dsaccess.as_ref() {
            Some(cache) => {
                categorize(directory, &cache.view(now), external, limits, here, message, &recipients, at_origin)
            }
            None => categorize(directory, &AsOf(now), external, limits, here, message, &recipients, at_origin),
        };
        let message_id = item.message.id;
        self.emit(ServerEvent::Categorized {
            message: message_id,
            resolved: verdict.resolved.len() as u32,
            failed: verdict.failed.len() as u32,
        });
        let tops: Vec<_> = verdict.expansions().collect();
        // A member who is a recipient the categorizer already refused is not reached
        // through a group either: one NDR, not a delivery after it.
        let refused: Vec<AddressId> = verdict.failed.iter().map(|(r, _)| *r).collect();
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
        let others: Vec<AddressId> =
            verdict.resolved.iter().map(|(r, _)| *r).filter(|r| !tops.iter().any(|(t, _)| t == r)).collect();
        if !tops.is_empty() {
            self.emit(ServerEvent::ExpansionStarted {
                message: message_id,
                groups: tops.iter().map(|t| t.0).collect(),
            });
            let routes_now = self.topology.bug(PlantedBug::RoutesBeforeExpansion);
            let work = DirectoryWork::Expand(Expansion::new(tops, others.iter().copied().chain(refused)));
            let routed_early = if routes_now { others.clone() } else { Vec::new() };
            let held = Expanding { work, gc: None, search: 0, tried: BTreeSet::new(), at_origin: false, routed_early };
            self.expanding.insert(id, held);
            if routes_now && !others.is_empty() {
                self.route_entry(now, QueueEntry { item: id, recipients: others }, None);
            }
            self.ask_gc(now, id);
            return;
        }
        if !others.is_empty() {
            self.route_entry(now, QueueEntry { item: id, recipients: others }, None);
        }
    }

    // ----- group expansion through DSAccess and a GC (§2) -----

    /// Sends the held item's next page request to a GC that is not known down, trying its
    /// GCs in order (its own site's first). With none left, the message goes to
    /// categorizer retry and its expansion starts again after an hour.
    fn ask_gc(&mut self, now: Instant, item: u64) {
        let Some(held) = self.expanding.get(&item) else { return };
        let gc = match held.gc {
            Some(gc) => Some(gc),
            None => {
                let candidates = self.topology.server(self.id).global_catalogs.iter().copied();
                let mut usable = candidates.filter(|gc| !held.tried.contains(gc));
                // A GC that failed is left alone until its recheck time; then one request
                // at a time tries it (a probe) while the others go elsewhere.
                usable.find(|gc| match self.gc_suspect.get(gc) {
                    None => true,
                    Some(until) => *until <= now && self.searches.range((*gc, 0)..=(*gc, u64::MAX)).next().is_none(),
                })
            }
        };
        let message = self.items[&item].message.id;
        let Some(gc) = gc else {
            let held = self.expanding.get_mut(&item).expect("checked above");
            held.tried.clear();
            let found = held.found();
            held.restart();
            self.categorizer_memory(found, 0);
            self.timers.set(Timer::CategorizerRetry(item), now.plus_ms(CATEGORIZER_RETRY_MS));
            self.emit(ServerEvent::CategorizerRetry { message, retry_in_ms: CATEGORIZER_RETRY_MS });
            return;
        };
        let search = self.next_search;
        self.next_search += 1;
        let held = self.expanding.get_mut(&item).expect("checked above");
        if let Some(old) = held.gc {
            self.searches.remove(&(old, held.search));
        }
        self.searches.insert((gc, search), item);
        held.gc = Some(gc);
        held.search = search;
        let query = match &mut held.work {
            DirectoryWork::Lookup(addresses) => LdapQuery::Resolve(addresses.clone()),
            DirectoryWork::Expand(e) => match e.next_request() {
                Some((group, page)) => LdapQuery::Members { group, page },
                None => {
                    self.finish_expansion(now, item);
                    return;
                }
            },
        };
        self.outputs.push(Output::Ldap { to: gc, search: LdapSearch { search, query } });
        self.timers.set(Timer::Ldap(item), now.plus_ms(LDAP_TIMEOUT_MS));
    }

    /// A GC answered a page.
    pub fn handle_ldap_page(&mut self, now: Instant, from: DcId, page: LdapPage) {
        let Some(item) = self.searches.remove(&(from, page.search)) else {
            return; // an answer to a search given up on
        };
        debug_assert!(self.expanding.get(&item).is_some_and(|h| h.gc == Some(from) && h.search == page.search));
        self.timers.cancel(Timer::Ldap(item));
        // It answers: DSAccess uses it again.
        self.gc_suspect.remove(&from);
        let limits = self.limits();
        let held = self.expanding.get_mut(&item).expect("found above");
        let (before, after, complete) = match &mut held.work {
            DirectoryWork::Lookup(asked) => {
                // Entries found and addresses the GC has nothing for are both known now.
                let asked = std::mem::take(asked);
                let at_origin = held.at_origin;
                self.expanding.remove(&item);
                let found = page.result.unwrap_or_default();
                if let Some(cache) = self.dsaccess.as_mut() {
                    cache.insert(now, &asked, &found);
                }
                self.categorize_item(now, item, at_origin, false);
                return;
            }
            DirectoryWork::Expand(e) => {
                let message = &self.items[&item].message;
                let refused = |r: &Restriction| crate::transport::categorizer::refuses(r, message, limits);
                let before = e.found();
                e.on_page(&self.topology.directory, page.result, page.more, &refused);
                (before, e.found(), e.complete())
            }
        };
        self.categorizer_memory(before, after);
        if complete {
            self.finish_expansion(now, item);
        } else {
            self.ask_gc(now, item);
        }
    }

    /// The GC asked for an item's page did not answer: DSAccess leaves it alone for a
    /// while and the expansion starts again from the beginning on another GC (§2).
    fn gc_failed(&mut self, now: Instant, item: u64) {
        let Some(held) = self.expanding.get_mut(&item) else { return };
        let Some(gc) = held.gc.take() else { return };
        self.searches.remove(&(gc, held.search));
        held.tried.insert(gc);
        let found = held.found();
        held.restart();
        self.gc_suspect.insert(gc, now.plus_ms(GC_RECHECK_MS));
        self.categorizer_memory(found, 0);
        let message = self.items[&item].message.id;
        self.emit(ServerEvent::GcFailover { message, gc, found });
        self.ask_gc(now, item);
    }

    /// Every group of a held item is expanded: groups are replaced by their members (made
    /// durable), failed groups are NDR'd 5.2.4, and the message is categorized again and
    /// routed as a whole.
    fn finish_expansion(&mut self, now: Instant, item: u64) {
        let held = self.expanding.remove(&item).expect("a finished expansion was held");
        if let Some(gc) = held.gc {
            self.searches.remove(&(gc, held.search));
        }
        self.timers.cancel(Timer::Ldap(item));
        let message = self.items[&item].message.id;
        let DirectoryWork::Expand(expansion) = held.work else { unreachable!("only expansions finish") };
        let found = expansion.found();
        let expanded = expansion.finish();
        for (group, members) in expanded.groups {
            self.emit(ServerEvent::Expanded { message, group, members: members.clone() });
            let stored = self.items.get_mut(&item).expect("a held item is held");
            let at = stored.remaining.iter().position(|r| *r == group).expect("an expanded group was pending");
            stored.remaining.swap_remove(at);
            stored.remaining.extend_from_slice(&members);
            self.pending_ops.push(DiskOp::Expanded { item, group, members });
        }
        self.categorizer_memory(found, 0);
        self.schedule_flush(now);
        for (group, code) in expanded.failed {
            self.fail_recipients(now, item, vec![group], code);
        }
        self.emit(ServerEvent::ExpansionFinished { message });
        if self.items.get(&item).is_some_and(|i| i.remaining.is_empty()) {
            self.items.remove(&item);
        } else if self.items.contains_key(&item) {
            // The size limit was checked on the first pass, and the members came back
            // from the GC with what the categorizer needs (no DSAccess lookup).
            let pending: Vec<AddressId> =
                self.items[&item].remaining.iter().copied().filter(|r| !held.routed_early.contains(r)).collect();
            if !pending.is_empty() {
                self.categorize_recipients(now, item, pending, false, false);
            }
        }
    }

    /// The limits and rules this server's categorizer enforces.
    fn limits(&self) -> Limits {
        let config = self.topology.server(self.id);
        Limits {
            max_hop_count: config.version.max_hop_count(),
            max_message_size_bytes: config.smtp.max_message_size_bytes,
            enforces_authenticated_only: config.version.is_2003(),
            ignores_authentication: self.topology.bug(PlantedBug::RestrictionIgnoresAuthentication),
        }
    }

    /// One expansion's recipients found went from `before` to `after`: the memory all
    /// expansions hold follows, and a change is traced.
    fn categorizer_memory(&mut self, before: u64, after: u64) {
        self.categorizer_found = self.categorizer_found + after - before;
        debug_assert_eq!(
            self.categorizer_found,
            self.expanding.values().map(Expanding::found).sum::<u64>(),
            "the running total is every expansion's found"
        );
        if before != after {
            self.emit(ServerEvent::CategorizerMemory { bytes: self.categorizer_found * MEMORY_PER_RECIPIENT_BYTES });
        }
    }

    /// Routes the recipients of an entry and queues them by next hop; `from` is the queue
    /// they leave (re-routing), whose name is not repeated in the trace when unchanged.
    fn route_entry(&mut self, now: Instant, entry: QueueEntry, from: Option<QueueKey>) {
        let mut by_hop: BTreeMap<NextHop, (Vec<AddressId>, u32)> = BTreeMap::new();
        let mut failed: BTreeMap<DsnCode, Vec<AddressId>> = BTreeMap::new();
        for r in entry.recipients {
            // A mailbox goes to its home server and a group to its expansion server; a
            // contact or mail-enabled user by its target address.
            let directory = &self.topology.directory;
            let decision = match directory.home_server(r) {
                Some(home) => self.routing.next_hop(&self.topology, &self.table, self.id, home),
                None => match self.routing.next_hop_external(
                    &self.topology,
                    &self.table,
                    self.id,
                    directory.routing_address(r),
                ) {
                    Ok(decision) => decision,
                    Err(code) => {
                        failed.entry(code).or_default().push(r);
                        continue;
                    }
                },
            };
            by_hop.entry(decision.next_hop).or_insert_with(|| (Vec::new(), decision.cost)).0.push(r);
        }
        for (code, recipients) in failed {
            self.fail_recipients(now, entry.item, recipients, code);
        }
        if by_hop.is_empty() {
            return;
        }
        let message = self.items[&entry.item].message.id;
        if self.topology.bug(PlantedBug::BifurcationCopiesAll)
            && by_hop.contains_key(&NextHop::Local)
            && by_hop.len() > 1
        {
            let m = self.items[&entry.item].message.clone();
            for (hop, (recipients, _)) in &by_hop {
                for &recipient in recipients.iter().filter(|_| *hop != NextHop::Local) {
                    // Only mailboxes can be copied locally; external recipients are left.
                    let Some(mailbox) = self.topology.directory.lookup(recipient) else { continue };
                    let store = mailbox.store;
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
                let link = |q: QueueKey| matches!(q, QueueKey::Link(_));
                let rerouted_from = from.filter(|f| link(*f) && link(queue));
                self.emit(ServerEvent::Queued { message, queue, recipients: recipients.clone(), cost, rerouted_from });
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
                NextHop::Server(_) | NextHop::Connector(_) | NextHop::Gateway(_) | NextHop::RemoteDomain(_) => {
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
                    self.out_of_office(now, &message, recipient);
                }
                DeliveryOutcome::Duplicate => {
                    self.emit(ServerEvent::DuplicateSuppressed { message: message.id, recipient, store });
                }
            }
        }
        self.recipients_done(now, entry.item, &entry.recipients);
    }

    /// The store answers a message delivered to a mailbox whose owner is Out of Office:
    /// once per sender (the store's OOF history), never to a DSN or another automatic
    /// reply, and on Exchange 2003 only when the owner was named directly in To or Cc,
    /// not reached through a group (EXCHANGE2003.md §3.2).
    fn out_of_office(&mut self, now: Instant, message: &Message, owner: AddressId) {
        let Some(sender) = message.sender else { return };
        if message.kind != MessageKind::Normal
            || sender == owner
            || !self.topology.directory.is_out_of_office(owner)
            || (self.topology.server(self.id).version.is_2003() && !message.header_recipients.contains(&owner))
            || !self.stores.note_oof_reply(owner, sender)
        {
            return;
        }
        let item = self.take_item_id();
        let reply = StoredItem {
            id: item,
            message: Message {
                id: MessageId::AutoReply { server: self.id, item },
                kind: MessageKind::OutOfOffice { original: message.id },
                sender: None,
                size_bytes: OOF_SIZE_BYTES,
                submitted_at: now,
                hop_count: 0,
                authenticated: true,
                header_recipients: [sender].as_slice().into(),
            },
            recipients: vec![sender],
            arrived_at: now,
            submitted_here: false,
        };
        // The reply and the history entry are written together: after a crash either
        // both are there or neither.
        self.pending_ops.push(DiskOp::Enqueue(reply.clone()));
        self.pending_ops.push(DiskOp::OofReplied { owner, sender });
        self.after_flush.push(AfterFlush::Event(ServerEvent::OutOfOffice {
            message: message.id,
            from: owner,
            reply: reply.message.id,
            to: sender,
        }));
        self.after_flush.push(AfterFlush::Process(reply));
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
                        authenticated: true,
                        header_recipients: Default::default(),
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
        if let NextHop::RemoteDomain(domain) = hop {
            // DNS first: the MX hosts are known only from the answer.
            let first_dns = Peer::Host(self.topology.internet.dns_servers[0]);
            let seq = self.open_session(hop, first_dns, Phase::Resolving { domain, server: 0 });
            return self.query_dns(now, seq, domain, 0);
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
    fn choose_peer(&mut self, hop: NextHop) -> Peer {
        match hop {
            NextHop::Server(s) => Peer::Server(s),
            NextHop::Gateway(g) => {
                let gateway = self.topology.gateway(g);
                if gateway.source_bridgeheads.contains(&self.id) {
                    match gateway.delivery {
                        Delivery::SmartHost(h) | Delivery::Mta(h) => Peer::Host(h),
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

    fn handle_reply(&mut self, now: Instant, from: Peer, seq: u64, frame: Frame) {
        match self.outbound.get(&seq) {
            // A reply for a session that already timed out, or from an MX host this
            // session has moved on from.
            None => return,
            Some(s) if s.peer != from || matches!(s.phase, Phase::Resolving { .. }) => return,
            Some(_) => {}
        }
        let replies = match frame {
            Frame::Replies(replies) => replies,
            Frame::LinkState(answer) => return self.link_state_answered(now, seq, answer),
            Frame::Reset => return self.session_failed(now, seq, SessionFailure::Reset),
            Frame::Connect | Frame::Commands(_) => return,
        };
        let session = self.outbound.get_mut(&seq).expect("checked above");
        let phase = std::mem::replace(&mut session.phase, Phase::Quitting);
        let conn = ConnId { client: self.id, seq };
        let peer = session.peer;
        let hop = session.hop;
        match phase {
            Phase::Probe(connector) => {
                self.outbound.remove(&seq);
                self.timers.cancel(Timer::Outbound(seq));
                if replies == [SmtpReply::ServiceReady] {
                    self.send(peer, conn, Frame::Commands(vec![SmtpCommand::Quit]));
                    self.connector_detected(now, connector, ConnectorState::Up);
                    // The connection works: mail waiting for the queue's next retry goes now.
                    let hop = NextHop::Connector(connector);
                    if self.links.get(&hop).is_some_and(|q| q.state == LinkQueueState::Retry) {
                        self.timers.cancel(Timer::QueueRetry(hop));
                        self.retry_queue(now, hop);
                    }
                } else {
                    self.schedule_probe(now, connector);
                }
            }
            Phase::Connecting if replies == [SmtpReply::ServiceReady] => {
                session.phase = Phase::Ehlo;
                self.send_commands(now, peer, conn, vec![SmtpCommand::Ehlo]);
                if let Some(c) = self.sources(hop) {
                    self.connector_detected(now, c, ConnectorState::Up);
                }
            }
            Phase::Ehlo if replies == [SmtpReply::EhloOk] => {
                if self.exchanges_link_state(hop, peer) {
                    self.offer_link_state(now, seq, 1);
                } else {
                    self.next_message(now, seq);
                }
            }
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
                    let queue = QueueKey::Link(self.outbound[&seq].hop);
                    let recipients = entry.recipients.clone();
                    let event = match peer {
                        Peer::Server(to) => ServerEvent::Transferred { message, to, queue, recipients, size_bytes },
                        Peer::Host(host) => ServerEvent::Relayed { message, host, queue, recipients, size_bytes },
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
            Phase::Resolving { .. } => unreachable!("DNS answers come through handle_dns_reply"),
            Phase::Connecting | Phase::Ehlo | Phase::LinkState { .. } => {
                let code = replies.first().map_or(0, |r| r.code());
                self.session_failed(now, seq, SessionFailure::Rejected(code));
            }
        }
    }

    /// Whether a session for `hop` to `peer` starts with `X-LINK2STATE`: this server is a
    /// source bridgehead of a connector that carries link state and the peer one of its
    /// target bridgeheads, which advertises the verb in EHLO (every 2000/2003 server does;
    /// a handoff to a bridgehead of this server's own group is not a link state session).
    fn exchanges_link_state(&self, hop: NextHop, peer: Peer) -> bool {
        let (NextHop::Connector(c), Peer::Server(_)) = (hop, peer) else { return false };
        let connector = self.topology.connector(c);
        connector.kind.carries_link_state() && connector.source_bridgeheads.contains(&self.id)
    }

    /// Sends this server's turn of `X-LINK2STATE`: the digest, and the table unless the
    /// peer showed this digest last (turn 2 always carries it: the peer lacks something).
    fn offer_link_state(&mut self, now: Instant, seq: u64, turn: u8) {
        let peer = self.outbound[&seq].peer;
        let Peer::Server(server) = peer else { unreachable!("link state sessions are between servers") };
        let digest = self.table.digest();
        let shown = self.peer(server).synced == Some(digest);
        let info = (turn > 1 || !shown).then(|| Box::new(self.table.org_info().clone()));
        self.outbound.get_mut(&seq).expect("session exists").phase = Phase::LinkState { turn };
        let conn = ConnId { client: self.id, seq };
        let offer = SmtpCommand::XLink2State(LinkStateExchange { digest, info });
        self.send_commands(now, peer, conn, vec![offer]);
    }

    /// The peer bridgehead answered `X-LINK2STATE`: take what is newer, send this table in a
    /// second turn if the peer still lacks part of it, else go on to the mail. At most two
    /// turns: the second answer is taken and the mail follows whatever it says.
    fn link_state_answered(&mut self, now: Instant, seq: u64, answer: LinkStateExchange) {
        let Some(OutboundSession { phase: Phase::LinkState { turn }, peer: Peer::Server(server), .. }) =
            self.outbound.get(&seq)
        else {
            return; // not waiting for one: ignore it, as an SMTP client ignores a stray line
        };
        let (turn, server) = (*turn, *server);
        let stale = self.topology.bug(PlantedBug::AcceptsStaleLinkState);
        let changed = answer.info.map(|info| self.table.merge(&self.topology, &info, stale)).unwrap_or_default();
        let mine = self.table.digest();
        let again = turn == 1 && mine != answer.digest;
        // After a second turn the peer holds this table; until then it shows its digest.
        self.peer(server).synced = Some(if again { mine } else { answer.digest });
        if again {
            self.offer_link_state(now, seq, 2);
        }
        if !changed.is_empty() {
            self.table_changed(now, changed);
        }
        if !again {
            self.next_message(now, seq);
        }
    }

    fn send_commands(&mut self, now: Instant, peer: Peer, conn: ConnId, commands: Vec<SmtpCommand>) {
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
        if let Phase::Probe(connector) = session.phase {
            self.outbound.remove(&seq);
            self.timers.cancel(Timer::Outbound(seq));
            return self.schedule_probe(now, connector);
        }
        // DNS delivery tolerates an unresponsive DNS server or MX host: the next one is
        // tried in the same attempt (EXCHANGE2003.md §3.2).
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
        if let Some((host, next)) = next {
            self.emit(ServerEvent::Failover { queue, host, reason });
            return match next {
                Ok(mx) => self.connect(now, seq, Peer::Host(mx)),
                Err((domain, server)) => self.query_dns(now, seq, domain, server),
            };
        }
        let session = self.outbound.remove(&seq).expect("checked above");
        self.timers.cancel(Timer::Outbound(seq));
        let retry = self.topology.server(self.id).smtp.retry.clone();
        let mta = self.over_mta(session.hop).then(|| self.topology.server(self.id).mta);
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
        let delay = mta.map_or_else(|| retry.delay_ms(queue.failures), |m| m.open_interval_ms);
        if mta.is_some_and(|m| queue.failures > m.max_open_retries) {
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
            if let Some(c) = self.sources(session.hop) {
                self.connector_detected(now, c, ConnectorState::Down);
            }
        }
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
            Frame::Replies(_) | Frame::LinkState(_) | Frame::Reset => return,
        };
        let max_size = self.topology.server(self.id).smtp.max_message_size_bytes;
        let Some(inbound) = self.inbound.get_mut(&conn) else {
            return self.send(from, conn, Frame::Reset);
        };
        inbound.idle_deadline = now.plus_ms(idle_ms);
        let session = &mut inbound.session;
        let mut replies = Vec::with_capacity(commands.len());
        let mut accepted = Vec::new();
        let mut offers = Vec::new();
        let mut closed = false;
        for command in commands {
            match session.handle(command, max_size) {
                InboundStep::Reply(reply) => replies.push(reply),
                InboundStep::LinkState(offer) => offers.push(offer),
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
        // X-LINK2STATE is never pipelined; a client that does gets its answer first.
        for offer in offers {
            let (answer, changed) = self.take_link_state(from, offer.digest, offer.info.as_deref());
            self.send(from, conn, Frame::LinkState(answer));
            if !changed.is_empty() {
                self.table_changed(now, changed);
            }
        }
        if accepted.is_empty() {
            if !replies.is_empty() {
                self.send(from, conn, Frame::Replies(replies));
            }
            return;
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
    use crate::config::topology::{
        ConnectorConfig, RoutingGroupConfig, ServerConfig, SmtpVirtualServerConfig, StoreConfig,
    };
    use crate::directory::global_catalog::{GlobalCatalog, MailboxEntry};
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
        two_groups_of(ExchangeVersion::Exchange2003Sp2)
    }

    fn two_groups_of(version: ExchangeVersion) -> Arc<Topology> {
        let server = |i: u16| ServerConfig {
            name: format!("EX{i}"),
            fqdn: format!("ex{i}.contoso.com"),
            version,
            routing_group: RoutingGroupId(i),
            smtp: SmtpVirtualServerConfig::default(),
            mta: crate::config::topology::MtaConfig::default(),
            global_catalogs: Vec::new(),
            dsaccess: None,
        };
        let connector = |from: u16, to: u16| ConnectorConfig {
            name: format!("RG{from}-RG{to}"),
            kind: crate::config::topology::ConnectorKind::RoutingGroup,
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
                .map(|g| RoutingGroupConfig { name: format!("RG{g}"), members: vec![ServerId(g)], master: ServerId(g) })
                .collect(),
            connectors: vec![connector(0, 1), connector(1, 0)],
            stores: (0..2)
                .map(|s| StoreConfig { name: format!("MS{s}"), storage_group: "SG".into(), server: ServerId(s) })
                .collect(),
            directory,
            gateways: Vec::new(),
            external: crate::transport::address_space::ExternalDirectory::new(),
            internet: crate::config::topology::InternetConfig::default(),
            plants: crate::planted_bugs::Plants::NONE,
            link_state: crate::config::topology::LinkStateConfig::default(),
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
            authenticated: true,
            header_recipients: Default::default(),
        }
    }

    /// Runs two servers against each other with zero network delay until quiet or `until`.
    fn pump(servers: &mut [ExchangeServer; 2], disks: &mut [DiskImage; 2], until: Instant) -> Vec<ServerEvent> {
        pump_with(servers, disks, until, true)
    }

    /// [`pump`], losing every link state message outside SMTP sessions unless
    /// `side_channel`.
    fn pump_with(
        servers: &mut [ExchangeServer; 2],
        disks: &mut [DiskImage; 2],
        until: Instant,
        side_channel: bool,
    ) -> Vec<ServerEvent> {
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
                        Output::LinkState { to, message } => {
                            if side_channel {
                                let from = servers[i].id();
                                servers[usize::from(to.0)].handle_link_state(now, from, message)
                            }
                        }
                        Output::Persist(ops) => ops.iter().for_each(|op| disks[i].apply(op)),
                        Output::Event(e) => events.push(e),
                        Output::SendHost { .. } | Output::Dns { .. } => panic!("no Internet here"),
                        Output::Ldap { .. } => panic!("no groups here"),
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

    /// EXCHANGE2003.md §4: bridgeheads of two groups exchange link state with X-LINK2STATE
    /// after EHLO and before the mail, so the receiver routes it knowing at least what the
    /// sender knew (even when every other link state message is lost). Newer state on the
    /// sender, on the receiver, or on both (a second turn) ends with equal tables.
    #[test]
    fn x_link2state_syncs_both_bridgeheads_before_the_mail_exchange2003_4() {
        for (newer_on_sender, newer_on_receiver) in [(true, false), (false, true), (true, true)] {
            let topo = two_groups();
            let mut servers = [
                ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1))),
                ExchangeServer::new(ServerId(1), topo.clone(), Box::new(Counter(2))),
            ];
            for (i, newer) in [newer_on_sender, newer_on_receiver].into_iter().enumerate() {
                if newer {
                    let (group, master) = (RoutingGroupId(i as u16), ServerId(i as u16));
                    servers[i].table.raise(&topo, group, master, VersionBump::User, None);
                }
            }
            let sender_digest = servers[0].table.digest();
            let mut disks = [DiskImage::default(), DiskImage::default()];
            servers[0].handle_submit(Instant::ZERO, message(1), vec![AddressId(2)]);
            let events = pump_with(&mut servers, &mut disks, Instant(60_000), false);
            let case = format!("sender newer {newer_on_sender}, receiver newer {newer_on_receiver}: {events:?}");
            assert_eq!(servers[0].table.digest(), servers[1].table.digest(), "{case}");
            let received = events.iter().position(|e| matches!(e, ServerEvent::Received { .. }));
            let learned = events.iter().position(
                |e| matches!(e, ServerEvent::LinkStateChanged { digest, .. } if *digest == servers[1].table.digest()),
            );
            assert!(received.is_some(), "{case}");
            if newer_on_sender {
                assert!(learned < received, "the receiver learns before the mail arrives: {case}");
                assert_ne!(sender_digest, LinkStateTable::from_directory(&topo, &[ServerId(0), ServerId(1)]).digest());
            }
        }
    }

    /// The master's update to a member is lost with the member's crash; once the
    /// restarted member has shown its table and been answered, the master's next change
    /// goes to it at once, not after the resend interval (a member routing on the old
    /// table meanwhile sent mail round a loop).
    #[test]
    fn a_master_tells_a_restarted_member_its_next_change_at_once_exchange2003_4() {
        let mut topo = (*two_groups()).clone();
        topo.servers[1].routing_group = RoutingGroupId(0);
        topo.routing_groups.truncate(1);
        topo.routing_groups[0].members = vec![ServerId(0), ServerId(1)];
        topo.connectors.clear();
        let topo = Arc::new(topo);
        let group = RoutingGroupId(0);
        let mut master = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1)));
        let change = |master: &mut ExchangeServer, at: Instant| {
            master.table.raise(&topo, group, ServerId(0), VersionBump::User, None);
            master.table_changed(at, vec![group]);
            master.drain_outputs()
        };
        let updates_to_member = |outputs: &[Output]| {
            outputs
                .iter()
                .filter(|o| {
                    matches!(o, Output::LinkState { to: ServerId(1), message: LinkStateMessage::Update { .. } })
                })
                .count()
        };
        assert_eq!(updates_to_member(&change(&mut master, Instant(1_000))), 1, "pushed to the member");
        // The member crashed before that update arrived; it restarts and asks its master.
        let start = StartConditions::default();
        let mut member = ExchangeServer::recover(
            ServerId(1),
            topo.clone(),
            &DiskImage::default(),
            &start,
            Box::new(Counter(2)),
            1,
            Instant(2_000),
        );
        for out in member.drain_outputs() {
            if let Output::LinkState { to: ServerId(0), message } = out {
                master.handle_link_state(Instant(2_000), ServerId(1), message);
            }
        }
        let answer = master.drain_outputs();
        assert!(answer.iter().any(|o| matches!(o, Output::LinkState { to: ServerId(1), .. })), "{answer:?}");
        assert_eq!(updates_to_member(&change(&mut master, Instant(3_000))), 1, "the next change goes at once");
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
        let restarted = ExchangeServer::recover(
            ServerId(0),
            topo,
            &DiskImage::default(),
            &StartConditions::default(),
            Box::new(Counter(1)),
            1,
            Instant(1),
        );
        assert_eq!(restarted.items.len(), 0);
    }

    #[test]
    fn out_of_office_answers_each_sender_once_even_across_a_restart() {
        let mut topo = (*two_groups()).clone();
        topo.directory.set_out_of_office(AddressId(2));
        let topo = Arc::new(topo);
        let mut servers = [
            ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1))),
            ExchangeServer::new(ServerId(1), topo.clone(), Box::new(Counter(2))),
        ];
        let mut disks = [DiskImage::default(), DiskImage::default()];
        let to_owner = |n: u64| Message { header_recipients: [AddressId(2)].as_slice().into(), ..message(n) };
        let replies = |events: &[ServerEvent]| {
            events.iter().filter(|e| matches!(e, ServerEvent::OutOfOffice { from: AddressId(2), .. })).count()
        };
        servers[0].handle_submit(Instant::ZERO, to_owner(1), vec![AddressId(2)]);
        servers[0].handle_submit(Instant::ZERO, to_owner(2), vec![AddressId(2)]);
        let events = pump(&mut servers, &mut disks, Instant(60_000));
        assert_eq!(replies(&events), 1, "once per sender: {events:?}");
        assert!(disks[1].mailboxes[&AddressId(2)].oof_replied.contains(&AddressId(1)));
        // EX1 restarts on its disk: the history is in the mailbox.
        servers[1] = ExchangeServer::recover(
            ServerId(1),
            topo,
            &disks[1],
            &StartConditions::default(),
            Box::new(Counter(3)),
            1,
            Instant(60_000),
        );
        servers[0].handle_submit(Instant(60_000), to_owner(3), vec![AddressId(2)]);
        let events = pump(&mut servers, &mut disks, Instant(120_000));
        assert_eq!(replies(&events), 0, "not answered again after the restart: {events:?}");
    }

    /// The connector's remote side refuses EX0 for `outage`: EX0 glitch-retries, finds it
    /// down, and (as its group's master) reviews its own report; then probes until the
    /// connector works again. Returns the events.
    fn refused_connector(
        version: ExchangeVersion,
        outage: Instant,
        until: Instant,
    ) -> (Vec<ServerEvent>, [DiskImage; 2]) {
        let topo = two_groups_of(version);
        let mut servers = [
            ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1))),
            ExchangeServer::new(ServerId(1), topo.clone(), Box::new(Counter(2))),
        ];
        let mut disks = [DiskImage::default(), DiskImage::default()];
        servers[0].handle_connector_service(ConnectorId(0), false);
        servers[0].handle_submit(Instant::ZERO, message(1), vec![AddressId(2)]);
        let mut events = pump(&mut servers, &mut disks, outage);
        servers[0].handle_connector_service(ConnectorId(0), true);
        events.extend(pump(&mut servers, &mut disks, until));
        (events, disks)
    }

    #[test]
    fn exchange2000_marks_a_refused_connector_down_after_glitch_retries_4() {
        let (events, disks) =
            refused_connector(ExchangeVersion::Exchange2000Sp3, Instant(30 * 60_000), Instant(40 * 60_000));
        let detected: Vec<(ConnectorState, usize)> = events
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                ServerEvent::ConnectorDetected { connector: ConnectorId(0), state } => Some((*state, i)),
                _ => None,
            })
            .collect();
        assert_eq!(detected.iter().map(|d| d.0).collect::<Vec<_>>(), vec![ConnectorState::Down, ConnectorState::Up]);
        let failures_before_down = events[..detected[0].1]
            .iter()
            .filter(|e| matches!(e, ServerEvent::QueueState { state: LinkQueueState::Retry, .. }))
            .count();
        assert_eq!(failures_before_down, 4, "three glitch retries fail, the fourth failure marks it down");
        assert!(events.iter().any(|e| matches!(e, ServerEvent::Queued { queue: QueueKey::Unreachable, .. })));
        // EX1 learned the change over link state.
        assert!(events.iter().any(|e| matches!(e, ServerEvent::Delivered { recipient: AddressId(2), .. })));
        assert!(disks.iter().all(|d| d.items.is_empty()));
    }

    #[test]
    fn exchange2003_keeps_the_only_connector_up_and_queues_4() {
        let (events, disks) =
            refused_connector(ExchangeVersion::Exchange2003Sp2, Instant(30 * 60_000), Instant(60 * 60_000));
        assert!(events.iter().any(|e| matches!(
            e,
            ServerEvent::LinkStateReviewed {
                decision: Decision::Suppress(crate::routing::routing_group_master::Suppressed::NoAlternatePath),
                ..
            }
        )));
        assert!(!events.iter().any(|e| matches!(e, ServerEvent::LinkStateChanged { .. })), "nothing propagates");
        assert!(!events.iter().any(|e| matches!(e, ServerEvent::Queued { queue: QueueKey::Unreachable, .. })));
        assert!(events.iter().any(|e| matches!(e, ServerEvent::Delivered { recipient: AddressId(2), .. })));
        assert!(disks.iter().all(|d| d.items.is_empty()));
    }

    /// EX0 alone in RG0 with an SMTP connector `*` by DNS and an X.400 address space it
    /// cannot serve; DNS1 and DNS2; fabrikam.com MX 10 MX-A, 10 MX-B, 20 MX-C.
    fn internet_topology() -> Arc<Topology> {
        use crate::config::topology::{GatewayConfig, HostConfig, HostRole, InternetConfig, MxRecord};
        use crate::transport::address_space::{AddressSpace, Pattern};
        let mut topo = (*two_groups()).clone();
        let domain = topo.external.add_smtp(AddressId(10), "alice@fabrikam.com").unwrap();
        topo.external.add_smtp(AddressId(11), "bob@nowhere.example").unwrap();
        topo.external.add_x400(AddressId(12), "c=US;a= ;p=Legacy;o=NYC;s=Smith").unwrap();
        let host = |name: &str, role| HostConfig { name: name.into(), fqdn: name.to_lowercase(), role };
        topo.internet = InternetConfig {
            hosts: vec![
                host("DNS1", HostRole::Dns),
                host("DNS2", HostRole::Dns),
                host("MX-A", HostRole::Mail),
                host("MX-B", HostRole::Mail),
                host("MX-C", HostRole::Mail),
            ],
            dns_servers: vec![HostId(0), HostId(1)],
            mx: [(
                domain,
                vec![
                    MxRecord { preference: 10, host: HostId(2) },
                    MxRecord { preference: 10, host: HostId(3) },
                    MxRecord { preference: 20, host: HostId(4) },
                ],
            )]
            .into_iter()
            .collect(),
            dns_timeout_ms: 5_000,
        };
        topo.gateways = vec![GatewayConfig {
            name: "Internet".into(),
            routing_group: RoutingGroupId(0),
            source_bridgeheads: vec![ServerId(0)],
            address_spaces: vec![
                AddressSpace { pattern: Pattern::smtp("*").unwrap(), cost: 1 },
                AddressSpace { pattern: Pattern::x400("c=US;a= ;p=Legacy").unwrap(), cost: 1 },
            ],
            delivery: Delivery::Dns,
        }];
        Arc::new(topo)
    }

    /// Runs EX0 against the Internet hosts (those in `down` never answer) until quiet.
    fn pump_internet(server: &mut ExchangeServer, down: &[u16], until: Instant) -> Vec<ServerEvent> {
        let topo = server.topology.clone();
        let mut hosts: Vec<crate::transport::internet_host::InternetMailHost> =
            topo.internet.hosts.iter().map(|_| crate::transport::internet_host::InternetMailHost::new()).collect();
        let mut events = Vec::new();
        let mut now = Instant::ZERO;
        let mut disk = DiskImage::default();
        loop {
            let outputs = server.drain_outputs();
            if outputs.is_empty() {
                match server.poll_timeout() {
                    Some(t) if t <= until => {
                        now = t;
                        server.handle_timeout(now);
                        continue;
                    }
                    _ => return events,
                }
            }
            for out in outputs {
                match out {
                    Output::SendHost { to, .. } | Output::Dns { to, .. } if down.contains(&to.0) => {}
                    Output::SendHost { to, packet } => {
                        for reply in hosts[usize::from(to.0)].handle_packet(server.id(), packet) {
                            server.handle_host_packet(now, to, reply);
                        }
                    }
                    Output::Dns { to, query } => {
                        server.handle_dns_reply(now, to, crate::transport::dns::answer(&topo.internet, query))
                    }
                    Output::Persist(ops) => ops.iter().for_each(|op| disk.apply(op)),
                    Output::Event(e) => events.push(e),
                    Output::Send { .. } | Output::LinkState { .. } | Output::Ldap { .. } => {}
                }
            }
        }
    }

    #[test]
    fn dns_delivery_fails_over_dns_servers_and_mx_hosts_exchange2003_3_2() {
        let topo = internet_topology();
        let mut server = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(3)));
        server.handle_submit(Instant::ZERO, message(1), vec![AddressId(10), AddressId(11), AddressId(12)]);
        // DNS1 and both preference-10 MX hosts are unresponsive.
        let events = pump_internet(&mut server, &[0, 2, 3], Instant(3_600_000));
        let failovers: Vec<HostId> = events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Failover { host, .. } => Some(*host),
                _ => None,
            })
            .collect();
        assert!(failovers.contains(&HostId(0)), "DNS1 timed out, DNS2 answered: {failovers:?}");
        assert!(failovers.contains(&HostId(2)) && failovers.contains(&HostId(3)), "{failovers:?}");
        let relayed: Vec<(HostId, Vec<AddressId>)> = events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Relayed { host, recipients, .. } => Some((*host, recipients.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(relayed, vec![(HostId(4), vec![AddressId(10)])], "the backup MX took it");
        let ndrs: Vec<(DsnCode, Vec<AddressId>)> = events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::Ndr { code, recipients, .. } => Some((*code, recipients.clone())),
                _ => None,
            })
            .collect();
        assert!(ndrs.contains(&(DsnCode::HostNotFound, vec![AddressId(11)])), "NXDOMAIN is 5.4.0: {ndrs:?}");
        assert!(ndrs.contains(&(DsnCode::RoutingError, vec![AddressId(12)])), "X.400 over DNS is 4.4.9: {ndrs:?}");
    }

    #[test]
    fn equal_mx_hosts_share_the_load() {
        let topo = internet_topology();
        let mut server = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(5)));
        for n in 1..=40 {
            server.handle_submit(Instant(n * 60_000), message(n), vec![AddressId(10)]);
        }
        let events = pump_internet(&mut server, &[], Instant(7_200_000));
        let mut by_host = [0u32; 5];
        for e in &events {
            if let ServerEvent::Relayed { host, .. } = e {
                by_host[usize::from(host.0)] += 1;
            }
        }
        assert_eq!(by_host[4], 0, "the backup MX is not used while the others answer");
        assert_eq!(by_host[2] + by_host[3], 40);
        assert!(by_host[2] >= 10 && by_host[3] >= 10, "load spread over the equal MX hosts: {by_host:?}");
    }

    #[test]
    fn link_state_does_not_cross_x400_connectors_exchange2003_4() {
        let mut topo = (*two_groups_of(ExchangeVersion::Exchange2000Sp3)).clone();
        for c in &mut topo.connectors {
            c.kind = crate::config::topology::ConnectorKind::X400;
        }
        let topo = Arc::new(topo);
        let mut server = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1)));
        server.handle_connector_service(ConnectorId(0), false);
        server.handle_submit(Instant::ZERO, message(1), vec![AddressId(2)]);
        let (mut changed, mut sent) = (false, 0);
        let mut now = Instant::ZERO;
        // The MTA retries every 10 min: the fourth failed open (at 30 min) marks it down.
        while now < Instant(60 * 60_000) {
            for out in server.drain_outputs() {
                match out {
                    Output::Event(ServerEvent::LinkStateChanged { .. }) => changed = true,
                    Output::LinkState { .. } => sent += 1,
                    _ => {}
                }
            }
            let Some(t) = server.poll_timeout() else { break };
            now = t;
            server.handle_timeout(now);
        }
        assert!(changed, "the master marked the refused connector down in its own table");
        assert_eq!(sent, 0, "no X-LINK2STATE over an X.400 connector: the groups are link state islands");
    }

    #[test]
    fn an_x400_queue_follows_the_mta_open_interval_then_gives_up_exchange2003_3_2a() {
        use crate::config::topology::{GatewayConfig, HostConfig, HostRole, MtaConfig};
        use crate::transport::address_space::{AddressSpace, Pattern};
        let mut topo = (*internet_topology()).clone();
        topo.internet.hosts.push(HostConfig { name: "MTA".into(), fqdn: "mta".into(), role: HostRole::Mta });
        topo.gateways.push(GatewayConfig {
            name: "X.400".into(),
            routing_group: RoutingGroupId(0),
            source_bridgeheads: vec![ServerId(0)],
            address_spaces: vec![AddressSpace { pattern: Pattern::x400("c=US;a= ;p=Legacy;o=NYC").unwrap(), cost: 1 }],
            delivery: Delivery::Mta(HostId(5)),
        });
        topo.servers[0].mta = MtaConfig { open_interval_ms: 600_000, max_open_retries: 3 };
        let mut server = ExchangeServer::new(ServerId(0), Arc::new(topo), Box::new(Counter(3)));
        server.handle_submit(Instant::ZERO, message(1), vec![AddressId(12)]);
        let events = pump_internet(&mut server, &[5], Instant(3 * 3_600_000));
        let retries: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                ServerEvent::QueueState { retry_in_ms: Some(ms), .. } => Some(*ms),
                _ => None,
            })
            .collect();
        assert_eq!(retries, vec![600_000; 4], "no glitch retries over the MTA: every attempt 10 min apart");
        let ndr = events.iter().find_map(|e| match e {
            ServerEvent::Ndr { code, recipients, .. } => Some((*code, recipients.clone())),
            _ => None,
        });
        assert_eq!(ndr, Some((DsnCode::Expired, vec![AddressId(12)])), "returned after the 4th failed open");
    }
}
