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
use crate::directory::global_catalog::{AsOf, LdapPage, LdapQuery, LdapSearch, LdapSearchId, Restriction};
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
use crate::transport::queue_directory::{DiskImage, DiskOp, QueueItemId, StoredItem};
use crate::transport::smtp_protocol::{
    ConnId, Frame, InboundSession, InboundStep, Packet, SessionSeq, SmtpCommand, SmtpReply,
};
use crate::{AddressId, ConnectorId, Entropy, HostId, RoutingGroupId, ServerId, StoreId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

mod categorization;
mod durability;
mod expansion;
mod inbound;
mod link_state_propagation;
mod outbound;

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
    Outbound(SessionSeq),
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
    Ldap(QueueItemId),
    /// An item in categorizer retry expands again.
    CategorizerRetry(QueueItemId),
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
    search: LdapSearchId,
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
    items: BTreeMap<QueueItemId, Item>,
    next_item: QueueItemId,
    stores: MailboxStores,
    unreachable: VecDeque<QueueEntry>,
    links: BTreeMap<NextHop, LinkQueue>,
    outbound: BTreeMap<SessionSeq, OutboundSession>,
    inbound: BTreeMap<ConnId, Inbound>,
    next_conn: SessionSeq,
    pending_ops: Vec<DiskOp>,
    after_flush: Vec<AfterFlush>,
    timers: Timers,
    outputs: Vec<Output>,
    /// Items held in the categorizer while their groups are expanded ("Messages awaiting
    /// directory lookup").
    expanding: BTreeMap<QueueItemId, Expanding>,
    /// GCs DSAccess found not answering, and when it may try each again (one request at
    /// a time, until one is answered).
    gc_suspect: BTreeMap<DcId, Instant>,
    /// Requests out to GCs: (GC, search number) → the held item asking.
    searches: BTreeMap<(DcId, LdapSearchId), QueueItemId>,
    next_search: LdapSearchId,
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
            next_conn: SessionSeq::first_of(incarnation),
            pending_ops: Vec::new(),
            after_flush: Vec::new(),
            timers: Timers::default(),
            outputs: Vec::new(),
            expanding: BTreeMap::new(),
            gc_suspect: BTreeMap::new(),
            searches: BTreeMap::new(),
            next_search: LdapSearchId(0),
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
}

#[cfg(test)]
mod tests;
