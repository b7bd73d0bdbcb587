//! The SMTP service (SMTPSVC) of one server: the SMTP virtual server (both sides of the
//! protocol), the categorizer with DSAccess and group expansion, and advanced queuing:
//! link queues with retry and expiration, local delivery handed to the Information
//! Store, NDR generation, and, on bridgeheads of connectors with address spaces,
//! delivery out of the organization: to a smart host, a foreign MTA, or the MX hosts DNS
//! names for each domain (next DNS server and next MX host when one does not answer,
//! EXCHANGE2003.md §3.2). Routes come from the routing engine service, asked through
//! [`ToRouting::Route`].
//!
//! Sans-IO and on its own: inputs through `handle_*(now, …)`, requests to the other
//! services, outputs and writes into its [`Outbox`], its next wake-up from
//! [`SmtpService::poll_timeout`]. Acceptance is acknowledged only once durable: the 250
//! replies, submission events and further processing wait in the outbox for the
//! server's log flush.

use crate::config::topology::{Delivery, Topology};
use crate::directory::ad_replication::DcId;
use crate::directory::dsaccess::{CacheStats, UserCache};
use crate::directory::global_catalog::{AsOf, LdapPage, LdapQuery, LdapSearch, LdapSearchId, Restriction};
use crate::message::{Message, MessageId, MessageKind};
use crate::planted_bugs::PlantedBug;
use crate::routing::link_state::{ConnectorState, LinkStateExchange};
use crate::routing::routing_engine::NextHop;
use crate::service_events::{AfterFlush, Outbox, Output, Routes, ToRouting, ToSmtp, ToStore};
use crate::time::Instant;
use crate::timers::Timers;
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
use crate::{AddressId, ConnectorId, Entropy, HostId, ServerId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

mod badmail;
mod categorization;
mod cross_forest;
mod edge;
mod expansion;
mod inbound;
mod outbound;
mod queues;
mod x_link2state;

/// SMTPSVC's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// A link queue in Retry is tried again.
    QueueRetry(NextHop),
    /// An outbound session got no reply in time.
    Outbound(SessionSeq),
    /// An inbound session was idle too long.
    InboundIdle(ConnId),
    /// Mail in "Final destination currently unreachable" is re-routed.
    UnreachableReroute,
    /// A GC did not answer an item's lookup or expansion page in time.
    Ldap(QueueItemId),
    /// An item in categorizer retry expands again.
    CategorizerRetry(QueueItemId),
    /// Local delivery, in Retry while a database is dismounted, is tried again.
    LocalRetry,
    /// An inbound session from outside was idle too long.
    EdgeIdle(crate::transport::smtp_filters::edge_session::EdgeConnId),
    /// Its DNS question or directory lookup went unanswered.
    EdgeQuery(crate::transport::smtp_filters::edge_session::EdgeConnId),
    /// Its tarpit delay is over.
    EdgeTarpit(crate::transport::smtp_filters::edge_session::EdgeConnId),
    /// `BadMailSyncPeriod` passed: the Badmail folders are measured again.
    BadmailSync,
}

/// Recipients the store could not take (their database dismounted), waiting in Local
/// delivery.
#[derive(Clone, Debug, Default)]
struct LocalWaiting {
    entries: VecDeque<QueueEntry>,
    /// Consecutive retries the store deferred.
    failures: u32,
    /// Whether Local delivery has ever waited (from then on it shows in queue samples).
    ever: bool,
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
    /// Content sent, waiting for 250 Queued (with BDAT, behind the envelope's replies).
    Content { entry: QueueEntry, message: MessageId, size_bytes: u64 },
    /// QUIT sent.
    Quitting,
    /// A connection opened only to see whether a connector down works again (§4).
    Probe(ConnectorId),
    /// A session with another organization's inbound virtual server (§6).
    Foreign(Box<cross_forest::Foreign>),
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
    /// The peer offered CHUNKING in its EHLO reply: mail goes with BDAT.
    chunking: bool,
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
    fn new(work: DirectoryWork, at_origin: bool, routed_early: Vec<AddressId>) -> Self {
        Expanding { work, gc: None, search: LdapSearchId(0), tried: BTreeSet::new(), at_origin, routed_early }
    }

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

/// One server's SMTP service.
pub struct SmtpService {
    id: ServerId,
    topology: Arc<Topology>,
    rng: Box<dyn Entropy + Send>,
    /// Connectors whose remote bridgeheads refuse this server (a fault of the world).
    stopped: BTreeSet<ConnectorId>,
    items: BTreeMap<QueueItemId, Item>,
    next_item: QueueItemId,
    unreachable: VecDeque<QueueEntry>,
    local: LocalWaiting,
    /// "Messages queued for deferred delivery": recipients whose mailbox is moving.
    deferred: Vec<QueueEntry>,
    links: BTreeMap<NextHop, LinkQueue>,
    outbound: BTreeMap<SessionSeq, OutboundSession>,
    inbound: BTreeMap<ConnId, Inbound>,
    next_conn: SessionSeq,
    /// Entries the routing engine has not answered for yet.
    routing_asked: u32,
    /// Sessions that would QUIT for want of mail while routes are still coming; they go
    /// on when the routing engine has answered.
    parked: Vec<SessionSeq>,
    timers: Timers<Timer>,
    out: Outbox,
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
    /// Some store of the organization journals (else the categorizer has nothing to
    /// look up for it).
    journaling: bool,
    /// Inbound sessions from outside the organization.
    edge: BTreeMap<crate::transport::smtp_filters::edge_session::EdgeConnId, edge::EdgeConn>,
    /// Their directory lookups out to GCs.
    edge_searches: BTreeMap<(DcId, LdapSearchId), crate::transport::smtp_filters::edge_session::EdgeConnId>,
    /// Each virtual server's Badmail folder as advanced queuing counts it.
    badmail: BTreeMap<crate::transport::mailroot::VirtualServerRef, crate::transport::mailroot::BadmailCache>,
}

impl SmtpService {
    /// The service (re)started on what its queue directory holds: every queued message
    /// is categorized and routed again, as SMTPSVC does when it re-enumerates its queue
    /// directory; `incarnation` counts restarts so connection numbers never repeat.
    pub fn recover(
        id: ServerId,
        topology: Arc<Topology>,
        disk: &DiskImage,
        stopped: &[ConnectorId],
        rng: Box<dyn Entropy + Send>,
        incarnation: u32,
        now: Instant,
    ) -> Self {
        let dsaccess = topology.server(id).dsaccess.map(UserCache::new);
        let journaling = topology.stores.iter().any(|s| s.journal_recipient.is_some());
        let mut smtp = SmtpService {
            id,
            topology,
            rng,
            stopped: stopped.iter().copied().collect(),
            items: BTreeMap::new(),
            next_item: disk.next_item,
            unreachable: VecDeque::new(),
            local: LocalWaiting::default(),
            deferred: Vec::new(),
            links: BTreeMap::new(),
            outbound: BTreeMap::new(),
            inbound: BTreeMap::new(),
            next_conn: SessionSeq::first_of(incarnation),
            routing_asked: 0,
            parked: Vec::new(),
            timers: Timers::default(),
            out: Outbox::default(),
            expanding: BTreeMap::new(),
            gc_suspect: BTreeMap::new(),
            searches: BTreeMap::new(),
            next_search: LdapSearchId(0),
            categorizer_found: 0,
            dsaccess,
            journaling,
            edge: BTreeMap::new(),
            edge_searches: BTreeMap::new(),
            badmail: BTreeMap::new(),
        };
        smtp.start_mailroot(disk, incarnation, now);
        if !disk.items.is_empty() {
            let recipients = disk.items.values().map(|i| i.recipients.len() as u32).sum();
            smtp.emit(ServerEvent::Recovered { items: disk.items.len() as u32, recipients });
            for item in disk.items.values() {
                if smtp.topology.bug(PlantedBug::RecoverySkipsQueues) {
                    let (message, remaining) = (item.message.clone(), item.recipients.clone());
                    smtp.items.insert(item.id, Item { message, remaining, arrived_at: item.arrived_at });
                    continue;
                }
                smtp.process(now, item.clone());
            }
        }
        smtp
    }

    /// What the service has produced since it was last asked.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.out
    }

    /// The earliest instant at which [`SmtpService::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// Whether every route asked for has been answered and no session waits for one.
    pub fn is_settled(&self) -> bool {
        self.routing_asked == 0 && self.parked.is_empty()
    }

    /// Message files held, for tests.
    #[cfg(test)]
    pub(crate) fn items_held(&self) -> usize {
        self.items.len()
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
        if self.local.ever {
            let messages = self.local.entries.len() as u32;
            let state =
                if self.timers.is_set(Timer::LocalRetry) { LinkQueueState::Retry } else { LinkQueueState::Ready };
            out.push(QueueSnapshot { queue: QueueKey::LocalDelivery, state: Some(state), messages });
        }
        if !self.deferred.is_empty() {
            let messages = self.deferred.len() as u32;
            out.push(QueueSnapshot { queue: QueueKey::DeferredDelivery, state: None, messages });
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

    /// A client submits a message over SMTP to this server's virtual server (an
    /// Internet sender, anonymous, or an authenticated POP/IMAP client): no MAPI logon.
    pub fn handle_smtp_submit(&mut self, now: Instant, message: Message, recipients: Vec<AddressId>) {
        assert!(message.sender.is_some(), "clients submit with a sender");
        self.accept_submission(now, message, recipients);
    }

    /// Queues a submission. Only mail with the null reverse path from another
    /// organization's Exchange server (a DSN, an automatic reply) comes without a sender:
    /// it is processed alike, with no submission event (there is no sender to name).
    fn accept_submission(&mut self, now: Instant, message: Message, recipients: Vec<AddressId>) {
        assert!(!recipients.is_empty(), "a submission has recipients");
        let item = StoredItem { id: self.take_item_id(), message, recipients, arrived_at: now, submitted_here: true };
        self.out.write(DiskOp::Enqueue(item.clone()));
        if let Some(sender) = item.message.sender {
            self.out.after_flush(AfterFlush::Event(ServerEvent::Submitted {
                message: item.message.id,
                sender,
                recipients: item.recipients.clone(),
                size_bytes: item.message.size_bytes,
            }));
        }
        self.out.after_flush(AfterFlush::Process(item));
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

    /// The remote bridgeheads of a connector start or stop refusing this server's
    /// connections (their SMTP service stopped, a firewall rule): a fault of the world.
    pub fn handle_connector_service(&mut self, connector: ConnectorId, running: bool) {
        if running {
            self.stopped.remove(&connector);
        } else {
            self.stopped.insert(connector);
        }
    }

    /// A request from another service of this server.
    pub fn handle_internal(&mut self, now: Instant, event: ToSmtp) {
        match event {
            ToSmtp::EdgeFlushed(conn) => self.edge_flushed(now, conn),
            ToSmtp::Routed { item, from, routes } => self.routed(now, item, from, routes),
            ToSmtp::TableChanged => self.reroute_waiting(),
            ToSmtp::Probe(connector) => self.probe(now, connector),
            ToSmtp::LinkStateOffer { seq, turn, offer } => self.offer_link_state(now, seq, turn, offer),
            ToSmtp::LinkStateDone { seq } => {
                if self.outbound.contains_key(&seq) {
                    self.next_message(now, seq);
                }
            }
            ToSmtp::LinkStateAnswer { to, conn, answer } => self.send(to, conn, Frame::LinkState(answer)),
            ToSmtp::Submit { message, recipients } => self.accept_submission(now, message, recipients),
            ToSmtp::SubmitAutoReply { original, owner, to, size_bytes } => {
                self.submit_auto_reply(now, original, owner, to, size_bytes)
            }
            ToSmtp::SubmitReplication { to, message } => self.submit_replication(now, to, message),
            ToSmtp::LocalDelivered { item, recipients } => {
                self.recipients_done(item, &recipients);
                if self.local.entries.is_empty() && !self.timers.is_set(Timer::LocalRetry) {
                    self.local.failures = 0;
                }
            }
            ToSmtp::LocalDeferred { item, recipients } => self.local_deferred(now, item, recipients),
            ToSmtp::DeferredForMove { item, recipients } => self.deferred_for_move(item, recipients),
            ToSmtp::MoveEnded { mailbox } => self.move_ended(mailbox),
            ToSmtp::Rehome { item, recipients } => {
                self.ask_route(QueueEntry { item, recipients }, Some(QueueKey::LocalDelivery))
            }
            ToSmtp::LocalFailed { item, recipients, code } => self.fail_recipients(now, item, recipients, code),
            ToSmtp::Process(item) => self.process(now, item),
        }
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
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
                Timer::Ldap(item) => self.gc_failed(now, item),
                Timer::CategorizerRetry(item) => self.ask_gc(now, item),
                Timer::LocalRetry => self.retry_local(now),
                Timer::EdgeIdle(conn) => self.edge_idle(now, conn),
                Timer::EdgeQuery(conn) => self.edge_query_timed_out(now, conn),
                Timer::EdgeTarpit(conn) => self.edge_tarpit_over(now, conn),
                Timer::BadmailSync => self.badmail_rescan(now),
            }
        }
    }
}
