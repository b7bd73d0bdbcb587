//! One Exchange server: a thin composite of its services. SMTPSVC (the virtual server,
//! categorizer and advanced queuing), RESvc (the routing engine with the link state
//! table) and MSExchangeIS (the Information Store) each own their state and timers; the
//! server hands each input to the service it belongs to, then settles what they ask of
//! each other — typed internal events on one bounded FIFO queue — before it returns,
//! and reports as its next wake-up the earliest of its own and its services' (smoltcp's
//! `Interface::poll_at` over its sockets).
//!
//! The server itself owns the machine's write batch: what the services write is made
//! durable atomically by the log flush (`log_flush_ms` after the first unflushed write),
//! and the 250 replies, submission and delivery events and further processing that wait
//! for it are released then. A crash loses what was not flushed.

use crate::config::topology::Topology;
use crate::directory::ad_replication::DcId;
use crate::directory::dsaccess::CacheStats;
use crate::directory::global_catalog::LdapPage;
use crate::message::Message;
use crate::routing::link_state::{LinkStateMessage, LinkStateTable};
use crate::routing::resvc::RoutingEngineService;
use crate::service_events::{AfterFlush, InternalEvent, Outbox, ToSmtp, ToStore};
use crate::store::information_store::InformationStore;
use crate::system_attendant::oab::oal_generator::OalGenerator;
use crate::system_attendant::oal_generation::{OabId, OalGeneration};
use crate::time::Instant;
use crate::trace::ServerEvent;
use crate::transport::advanced_queuing::QueueSnapshot;
use crate::transport::dns::DnsReply;
use crate::transport::queue_directory::{DiskImage, DiskOp};
use crate::transport::smtp_protocol::{Frame, Packet};
use crate::transport::smtpsvc::SmtpService;
use crate::{AddressId, ConnectorId, Entropy, HostId, RoutingGroupId, ServerId};
use std::sync::Arc;

pub use crate::service_events::Output;

/// How many internal events may wait at once. One input asks at most one route per
/// queue entry a table change re-routes; this is far above any organization orgsim
/// runs, and a queue that grows past it is a loop between services.
const INTERNAL_QUEUE_CAPACITY: usize = 1 << 22;

/// What a server reads from the directory and finds around it when it starts.
#[derive(Clone, Debug, Default)]
pub struct StartConditions {
    /// Each routing group's master, as the directory names it now (the topology's
    /// masters when empty).
    pub masters: Vec<ServerId>,
    /// Connectors whose remote bridgeheads refuse this server's connections now.
    pub stopped_connectors: Vec<ConnectorId>,
    /// Quotas administrators have changed in the directory since the run began.
    pub quota_changes: Vec<(crate::config::topology::QuotaTarget, crate::config::topology::MailboxQuota)>,
    /// Mailboxes moved since the run began, each with its database now.
    pub moved: Vec<(AddressId, crate::StoreId)>,
    /// SP2: content replication is stopped organization-wide (the setting lives in the
    /// directory, so a server that was down reads it when it starts).
    pub public_content_stopped: bool,
    /// OALGen's state from its last runs here (its previous files, on this disk).
    pub oab_generators: Vec<(OabId, Arc<OalGenerator>)>,
}

/// What a power loss left of a server's unflushed writes.
#[derive(Debug)]
pub struct TornBatch {
    /// Writes that reached the disk whole.
    pub written: Vec<DiskOp>,
    /// The write in progress, torn.
    pub torn: Option<DiskOp>,
    /// Writes that did not land (the torn one included).
    pub lost: usize,
    /// Events whose writes all landed, in the order they were produced.
    pub facts: Vec<ServerEvent>,
    /// Backup sets whose writes all landed: the copy reached the media.
    pub backup_sets: Vec<crate::store::backup::BackupSet>,
}

/// One Exchange server.
pub struct ExchangeServer {
    id: ServerId,
    topology: Arc<Topology>,
    smtp: SmtpService,
    routing: RoutingEngineService,
    store: InformationStore,
    system_attendant: OalGeneration,
    /// Outputs for the driver, internal events not yet handed on, the write batch.
    out: Outbox,
    /// When the write batch is next made durable.
    flush_at: Option<Instant>,
}

impl ExchangeServer {
    /// A server starting with empty queues and stores.
    pub fn new(id: ServerId, topology: Arc<Topology>, rng: Box<dyn Entropy + Send>) -> Self {
        let start = StartConditions::default();
        ExchangeServer::recover(id, topology, &mut DiskImage::default(), &start, rng, 0, Instant::ZERO)
    }

    /// A server (re)started on what its disk holds: after a crash (`incarnation` > 0)
    /// the store's soft recovery replays each storage group's log from its checkpoint
    /// first, and traces it. RESvc builds its table from the
    /// directory (every connector up) and, after a restart, asks its link state
    /// neighbors for what changed since; `incarnation` counts restarts so connection
    /// numbers never repeat. SMTPSVC categorizes and routes every queued message again.
    pub fn recover(
        id: ServerId,
        topology: Arc<Topology>,
        disk: &mut DiskImage,
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
        let mut routing = RoutingEngineService::new(id, topology.clone(), masters, incarnation);
        let recoveries = disk.soft_recovery(topology.bug(crate::planted_bugs::PlantedBug::SkipsReplay));
        let files = disk.store_files.clone();
        let mut store = InformationStore::new(id, topology.clone(), disk.mailboxes(), &files, now);
        if incarnation > 0 {
            store.recovered(&recoveries);
        }
        for (target, quota) in &start.quota_changes {
            store.handle_quota_change(now, *target, *quota);
        }
        for &(mailbox, home) in &start.moved {
            routing.handle_mailbox_moved(mailbox, topology.store(home).server);
            store.handle_mailbox_moved(mailbox, home);
        }
        store.public_content_stopped(now, start.public_content_stopped);
        let stopped = &start.stopped_connectors;
        let smtp = SmtpService::recover(id, topology.clone(), disk, stopped, rng, incarnation, now);
        let system_attendant = OalGeneration::new(id, topology.clone(), &start.oab_generators, now);
        let mut server = ExchangeServer {
            id,
            topology,
            smtp,
            routing,
            store,
            system_attendant,
            out: Outbox::default(),
            flush_at: None,
        };
        server.collect();
        server.routing.start(now);
        server.settle(now);
        server
    }

    /// This server's id.
    pub fn id(&self) -> ServerId {
        self.id
    }

    /// Writes accepted but not yet made durable: what a crash now would lose.
    pub fn unflushed_writes(&self) -> usize {
        self.out.unflushed_writes()
    }

    /// The earliest instant at which [`ExchangeServer::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines().into_iter().flatten().min()
    }

    /// The log flush's deadline, then each service's next timer, in the order
    /// `handle_timeout` breaks ties in.
    fn deadlines(&self) -> [Option<Instant>; 5] {
        [
            self.flush_at,
            self.smtp.poll_timeout(),
            self.routing.poll_timeout(),
            self.store.poll_timeout(),
            self.system_attendant.poll_timeout(),
        ]
    }

    /// Takes the outputs produced so far, in order.
    pub fn drain_outputs(&mut self) -> Vec<Output> {
        self.out.drain_outputs()
    }

    /// Swaps the outputs produced so far, in order, into `empty` (an empty Vec the
    /// caller keeps between steps), so that neither side reallocates each step.
    pub fn swap_outputs(&mut self, empty: &mut Vec<Output>) {
        self.out.swap_outputs(empty);
    }

    /// The DSAccess user cache's figures, when it is simulated.
    pub fn dsaccess_stats(&self) -> Option<CacheStats> {
        self.smtp.dsaccess_stats()
    }

    /// The queues as Queue Viewer would show them now.
    pub fn queue_snapshot(&self) -> Vec<QueueSnapshot> {
        self.smtp.queue_snapshot()
    }

    /// This server's link state table.
    pub fn link_state_table(&self) -> &LinkStateTable {
        self.routing.table()
    }

    /// The public store, on a server that has one.
    pub fn public_store(&self) -> Option<&crate::public_folders::public_store::PublicStore> {
        self.store.public_store()
    }

    /// A MAPI client posts an item to a public folder on this server's public store.
    pub fn handle_public_post(
        &mut self,
        now: Instant,
        folder: crate::public_folders::replication_message::FolderId,
        size_bytes: u64,
    ) -> Result<(), crate::public_folders::public_store::PfRefusal> {
        let posted = self.store.public_post(now, folder, size_bytes);
        self.settle(now);
        posted
    }

    /// A MAPI client opens a public folder through this server; `available` says which
    /// servers the client can reach now.
    pub fn handle_public_read(
        &mut self,
        now: Instant,
        folder: crate::public_folders::replication_message::FolderId,
        available: &dyn Fn(ServerId) -> bool,
    ) {
        self.store.public_read(folder, available);
        self.settle(now);
    }

    /// An administrator's order to this server's public store (refusals are traced).
    pub fn handle_public_admin(&mut self, now: Instant, order: &crate::public_folders::public_store::PfAdmin) {
        self.store.public_admin(now, order);
        self.settle(now);
    }

    /// A MAPI client submits a message through the store driver.
    pub fn handle_submit(&mut self, now: Instant, message: Message, recipients: Vec<AddressId>) {
        self.store.handle_submit(now, message, recipients);
        self.settle(now);
    }

    /// A client submits a message over SMTP to this server's virtual server (an
    /// Internet sender, anonymous, or an authenticated POP/IMAP client): no MAPI logon.
    pub fn handle_smtp_submit(&mut self, now: Instant, message: Message, recipients: Vec<AddressId>) {
        self.smtp.handle_smtp_submit(now, message, recipients);
        self.settle(now);
    }

    /// A packet from another server arrived.
    pub fn handle_packet(&mut self, now: Instant, from: ServerId, packet: Packet) {
        self.smtp.handle_packet(now, from, packet);
        self.settle(now);
    }

    /// A packet from a host beyond the organization arrived.
    pub fn handle_host_packet(&mut self, now: Instant, from: HostId, packet: Packet) {
        self.smtp.handle_host_packet(now, from, packet);
        self.settle(now);
    }

    /// A DNS server answered an MX query.
    pub fn handle_dns_reply(&mut self, now: Instant, from: HostId, reply: DnsReply) {
        self.smtp.handle_dns_reply(now, from, reply);
        self.settle(now);
    }

    /// A frame on a session with outside: from a client (a host, or a server of another
    /// organization) to an inbound virtual server, or a reply to this server's own
    /// session with another organization.
    pub fn handle_edge_packet(
        &mut self,
        now: Instant,
        from: crate::transport::smtp_filters::edge_session::EdgeNode,
        packet: crate::transport::smtp_filters::edge_session::EdgePacket,
    ) {
        self.smtp.handle_edge_packet(now, from, packet);
        self.settle(now);
    }

    /// A DNS server answered an inbound session's question.
    pub fn handle_edge_dns_reply(&mut self, now: Instant, from: HostId, reply: crate::transport::dns::EdgeDnsReply) {
        self.smtp.handle_edge_dns_reply(now, from, reply);
        self.settle(now);
    }

    /// A GC answered a page of the address list OALGen reads.
    pub fn handle_address_list_page(
        &mut self,
        now: Instant,
        from: DcId,
        page: crate::directory::global_catalog::AddressListPage,
    ) {
        self.system_attendant.handle_address_list_page(now, from, page);
        self.settle(now);
    }

    /// A GC answered a page of a search SMTPSVC's categorizer sent.
    pub fn handle_ldap_page(&mut self, now: Instant, from: DcId, page: LdapPage) {
        self.smtp.handle_ldap_page(now, from, page);
        self.settle(now);
    }

    /// A link state message from another server arrived.
    pub fn handle_link_state(&mut self, now: Instant, from: ServerId, message: LinkStateMessage) {
        self.routing.handle_link_state(now, from, message);
        self.settle(now);
    }

    /// An administrator named another master for a routing group.
    pub fn handle_master_change(&mut self, now: Instant, group: RoutingGroupId, master: ServerId) {
        self.routing.handle_master_change(now, group, master);
        self.settle(now);
    }

    /// An administrator mounts or dismounts one of this server's databases.
    pub fn handle_database(&mut self, now: Instant, store: crate::StoreId, mount: bool) {
        self.store.handle_database(store, mount);
        self.settle(now);
    }

    /// An administrator changed a quota in the directory.
    pub fn handle_quota_change(
        &mut self,
        now: Instant,
        target: crate::config::topology::QuotaTarget,
        quota: crate::config::topology::MailboxQuota,
    ) {
        self.store.handle_quota_change(now, target, quota);
        self.settle(now);
    }

    /// An administrator empties Badmail folders (one virtual server's, or every one's).
    pub fn handle_badmail_purged(
        &mut self,
        now: Instant,
        virtual_server: Option<crate::transport::mailroot::VirtualServerRef>,
    ) {
        self.smtp.handle_badmail_purged(virtual_server);
        self.settle(now);
    }

    /// A backup of the storage group holding `store` completes.
    pub fn handle_backup(&mut self, now: Instant, store: crate::StoreId) {
        self.store.handle_backup(now, self.topology.store(store).storage_group_id);
        self.settle(now);
    }

    /// The database volume of the storage group holding `store` failed, and its log
    /// volume too when `logs_lost`.
    pub fn handle_disk_failure(&mut self, now: Instant, store: crate::StoreId, logs_lost: bool) {
        self.store.handle_disk_failure(self.topology.store(store).storage_group_id, logs_lost);
        self.settle(now);
    }

    /// A restore onto this server of the newest backup set (if any) of `from`'s storage
    /// group, of the databases `only` names (all when empty).
    pub fn handle_restore(
        &mut self,
        now: Instant,
        from: (ServerId, crate::StorageGroupId),
        set: Option<Box<crate::store::backup::BackupSet>>,
        only: &[crate::StoreId],
    ) {
        self.store.handle_restore(from, set, only);
        self.settle(now);
    }

    /// A merge of this server's Recovery Storage Group into the live mailboxes.
    pub fn handle_merge(&mut self, now: Instant, rights: crate::store::backup::MergeRights) {
        self.store.handle_merge(rights);
        self.settle(now);
    }

    /// A move task starts moving a mailbox of this server to `to_store` on `to_server`.
    pub fn handle_move_out(&mut self, now: Instant, mailbox: AddressId, to_server: ServerId, to_store: crate::StoreId) {
        self.store.handle_move_out(now, mailbox, to_server, to_store);
        self.settle(now);
    }

    /// A move task's cancel time came while this mailbox was moving out of this server.
    pub fn handle_move_cancel(&mut self, now: Instant, mailbox: AddressId) {
        self.store.handle_move_cancel(now, mailbox);
        self.settle(now);
    }

    /// A move's message from another server's store arrived.
    pub fn handle_move_message(
        &mut self,
        now: Instant,
        from: ServerId,
        message: crate::store::move_mailbox::MoveMessage,
    ) {
        self.store.handle_move_message(now, from, message);
        self.settle(now);
    }

    /// The directory names a mailbox's new home (a move completed): routing and the
    /// store read it.
    pub fn handle_mailbox_moved(&mut self, now: Instant, mailbox: AddressId, store: crate::StoreId) {
        self.routing.handle_mailbox_moved(mailbox, self.topology.store(store).server);
        self.store.handle_mailbox_moved(mailbox, store);
        self.settle(now);
    }

    /// Whether a database of this server takes mail now.
    pub fn database_mounted(&self, store: crate::StoreId) -> bool {
        self.store.mounted(store)
    }

    /// The remote bridgeheads of a connector start or stop refusing this server's
    /// connections: a fault of the world.
    pub fn handle_connector_service(&mut self, connector: ConnectorId, running: bool) {
        self.smtp.handle_connector_service(connector, running);
    }

    /// Runs every timer due at `now`, earliest first (at one instant: the log flush,
    /// then SMTPSVC's, RESvc's, MSExchangeIS's, MSExchangeSA's), settling after each.
    pub fn handle_timeout(&mut self, now: Instant) {
        loop {
            let due = self
                .deadlines()
                .into_iter()
                .enumerate()
                .filter_map(|(i, at)| at.filter(|at| *at <= now).map(|at| (at, i)))
                .min();
            match due {
                None => return,
                Some((_, 0)) => self.flush(now),
                Some((_, 1)) => self.smtp.handle_timeout(now),
                Some((_, 2)) => self.routing.handle_timeout(now),
                Some((_, 3)) => self.store.handle_timeout(now),
                Some(_) => self.system_attendant.handle_timeout(now),
            }
            self.settle(now);
        }
    }

    /// Makes the write batch durable and releases what waited for it.
    fn flush(&mut self, now: Instant) {
        self.flush_at = None;
        let (ops, waiting) = self.out.take_flush();
        if !ops.is_empty() {
            self.out.output(Output::Persist(ops));
        }
        for (_, work) in waiting {
            match work {
                AfterFlush::Event(event) => self.out.emit(event),
                AfterFlush::Delivered { message, recipient, store, submitted_at } => {
                    let latency_ms = now.since(submitted_at);
                    self.out.emit(ServerEvent::Delivered { message, recipient, store, latency_ms });
                }
                AfterFlush::Reply { to, conn, replies } => {
                    let packet = Packet { conn, frame: Frame::Replies(replies) };
                    self.out.output(Output::Send { to, packet });
                }
                AfterFlush::Process(item) => self.out.to_smtp(ToSmtp::Process(item)),
                AfterFlush::EdgeFlushed(conn) => self.out.to_smtp(ToSmtp::EdgeFlushed(conn)),
                AfterFlush::StoreWritten { store, write } => self.out.to_store(ToStore::Written { store, write }),
                AfterFlush::Move { to, message } => self.out.move_message(to, message),
                AfterFlush::BackupSet(set) => self.out.output(Output::BackupSet(set)),
            }
        }
    }

    /// The power fails: of the writes not yet durable, the first `cut(n)` of the `n`
    /// reach the disk whole, the next one (if any) is torn, the rest are lost. What
    /// waited only on the writes that landed is now a fact the trace must tell (a
    /// message durable in the queue, a copy in its mailbox), though nobody was answered.
    pub fn power_loss(&mut self, now: Instant, cut: impl FnOnce(usize) -> usize) -> TornBatch {
        let (mut writes, waiting) = self.out.take_flush();
        let n = writes.len();
        let kept = cut(n);
        assert!(kept <= n, "a power loss keeps at most the writes there are");
        let lost = writes.split_off(kept);
        let (mut facts, mut backup_sets) = (Vec::new(), Vec::new());
        for (_, work) in waiting.into_iter().filter(|(before, _)| *before as usize <= kept) {
            match work {
                AfterFlush::Event(event) => facts.push(event),
                AfterFlush::Delivered { message, recipient, store, submitted_at } => facts
                    .push(ServerEvent::Delivered { message, recipient, store, latency_ms: now.since(submitted_at) }),
                AfterFlush::BackupSet(set) => backup_sets.push(*set),
                AfterFlush::Reply { .. }
                | AfterFlush::EdgeFlushed(_)
                | AfterFlush::Process(_)
                | AfterFlush::StoreWritten { .. }
                | AfterFlush::Move { .. } => {}
            }
        }
        TornBatch { written: writes, torn: lost.into_iter().next(), lost: n - kept, facts, backup_sets }
    }

    /// Moves what each service produced into the server's outbox, in a fixed order.
    fn collect(&mut self) {
        self.out.append(self.smtp.outbox());
        self.out.append(self.routing.outbox());
        self.out.append(self.store.outbox());
        self.out.append(self.system_attendant.outbox());
    }

    /// Hands every internal event to its service, in the order asked, until none is
    /// left; then arms the log flush if anything waits to be made durable.
    fn settle(&mut self, now: Instant) {
        self.collect();
        while let Some(event) = self.out.next_internal() {
            // Only the service just called can have produced anything.
            match event {
                InternalEvent::Smtp(e) => {
                    self.smtp.handle_internal(now, e);
                    self.out.append(self.smtp.outbox());
                }
                InternalEvent::Routing(e) => {
                    self.routing.handle_internal(now, e);
                    self.out.append(self.routing.outbox());
                }
                InternalEvent::Store(e) => {
                    self.store.handle_internal(now, e);
                    self.out.append(self.store.outbox());
                }
            }
            assert!(
                self.out.internal_waiting() <= INTERNAL_QUEUE_CAPACITY,
                "{:?}: the services' internal events do not settle",
                self.id
            );
        }
        debug_assert!(self.smtp.is_settled(), "every route asked for was answered");
        if self.flush_at.is_none() && self.out.unflushed() {
            self.flush_at = Some(now.plus_ms(self.topology.server(self.id).smtp.log_flush_ms));
        }
    }
}

#[cfg(test)]
mod tests;
