//! What the services of one Exchange server ask of each other, and the outbox they write
//! into. Services never call each other: a request is a typed internal event queued here
//! and handed to its service by the server once the current input is done, in the order
//! asked (quinn-proto's `EndpointEvent`/`ConnectionEvent`, TigerBeetle's loopback queue).
//! Each service writes into an outbox of its own, which the server empties into its own
//! after every call (quinn's `poll_endpoint_events`): outputs for the driver, requests to
//! the other services, and writes for the server's one batch, group-committed by its log
//! flush, with the work that must wait until they are durable.

use crate::directory::ad_replication::DcId;
use crate::directory::global_catalog::LdapSearch;
use crate::message::{Message, MessageId};
use crate::routing::link_state::{ConnectorState, LinkStateExchange, LinkStateMessage};
use crate::routing::routing_engine::NextHop;
use crate::time::Instant;
use crate::trace::ServerEvent;
use crate::transport::advanced_queuing::{QueueEntry, QueueKey};
use crate::transport::dns::DnsQuery;
use crate::transport::dsn::DsnCode;
use crate::transport::queue_directory::{DiskOp, QueueItemId, StoredItem};
use crate::transport::smtp_protocol::{ConnId, Packet, SessionSeq, SmtpReply};
use crate::{AddressId, ConnectorId, HostId, ServerId, StoreId};
use std::collections::{BTreeMap, VecDeque};
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
    /// Send a frame on a session with outside: a reply to its client (a host, or a server
    /// of another organization), or a command from this server as the client of another
    /// organization's inbound virtual server.
    SendEdge {
        /// The node the frame goes to.
        to: crate::transport::smtp_filters::edge_session::EdgeNode,
        /// The packet.
        packet: crate::transport::smtp_filters::edge_session::EdgePacket,
    },
    /// Ask a DNS server a question for an inbound session (block lists, Sender ID).
    EdgeDns {
        /// The DNS server.
        to: HostId,
        /// The question.
        query: crate::transport::dns::EdgeDnsQuery,
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
    /// Send a move's message to another server's store.
    Move {
        /// Destination server.
        to: ServerId,
        /// The message.
        message: crate::store::move_mailbox::MoveMessage,
    },
    /// Keep this backup set on the media outside the server (the newest of its storage
    /// group).
    BackupSet(Box<crate::store::backup::BackupSet>),
    /// Make these writes durable, atomically, before anything after them is released.
    Persist(Vec<DiskOp>),
    /// Something observable happened.
    Event(ServerEvent),
    /// OALGen finished a run: keep its generator (the server's disk) and its files.
    OabGenerated(Box<crate::system_attendant::oal_generation::GenerationDone>),
}

/// Where each recipient of a queue entry goes, as the routing engine decided.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Routes {
    /// Recipients by next hop, with the route's cost.
    pub by_hop: BTreeMap<NextHop, (Vec<AddressId>, u32)>,
    /// Recipients no route exists for, by the code they fail with.
    pub failed: BTreeMap<DsnCode, Vec<AddressId>>,
}

/// Requests to the routing engine service (RESvc).
#[derive(Clone, Debug)]
pub enum ToRouting {
    /// Route these recipients of a held item; `from` is the queue they leave.
    Route { entry: QueueEntry, from: Option<QueueKey> },
    /// This source bridgehead found a connector down (glitch retries spent) or working.
    ConnectorDetected { connector: ConnectorId, state: ConnectorState },
    /// A probe of a connector marked down found it still down.
    ProbeFailed(ConnectorId),
    /// An outbound session to a bridgehead across a connector is at `X-LINK2STATE` turn
    /// `turn`: what does this server offer?
    OfferLinkState { seq: SessionSeq, server: ServerId, turn: u8 },
    /// The bridgehead answered this server's offer on turn `turn`.
    LinkStateAnswered { seq: SessionSeq, server: ServerId, turn: u8, answer: LinkStateExchange },
    /// A bridgehead offered its link state on an inbound session: answer it.
    LinkStateOffered { from: ServerId, conn: ConnId, offer: LinkStateExchange },
}

/// Requests to the SMTP service (SMTPSVC: categorizer, advanced queuing, both sides of
/// SMTP).
#[derive(Clone, Debug)]
pub enum ToSmtp {
    /// What an inbound session from outside accepted is durable: its 250 goes out.
    EdgeFlushed(crate::transport::smtp_filters::edge_session::EdgeConnId),
    /// The routing engine's answer to [`ToRouting::Route`].
    Routed { item: QueueItemId, from: Option<QueueKey>, routes: Routes },
    /// The link state table changed: mail waiting on connectors and in "unreachable" is
    /// routed again.
    TableChanged,
    /// Try a connector marked down with a connection of its own (§4).
    Probe(ConnectorId),
    /// Send this `X-LINK2STATE` offer as turn `turn` of the outbound session.
    LinkStateOffer { seq: SessionSeq, turn: u8, offer: LinkStateExchange },
    /// The link state exchange of the outbound session is over: on to the mail.
    LinkStateDone { seq: SessionSeq },
    /// Answer a bridgehead's inbound `X-LINK2STATE` with this.
    LinkStateAnswer { to: ServerId, conn: ConnId, answer: LinkStateExchange },
    /// The store driver takes a MAPI client's submission (its logon was allowed).
    Submit { message: Message, recipients: Vec<AddressId> },
    /// The store answers with an automatic reply (Out of Office) from `owner` to `to`;
    /// the reply and the owner's history entry are written together.
    SubmitAutoReply { original: MessageId, owner: AddressId, to: AddressId, size_bytes: u64 },
    /// The public store's replication agent sends this to these public stores.
    SubmitReplication {
        to: Vec<crate::public_folders::cn_set::ReplicaId>,
        message: Arc<crate::public_folders::replication_message::ReplicationMessage>,
    },
    /// The store committed (or found it already held) each recipient's copy.
    LocalDelivered { item: QueueItemId, recipients: Vec<AddressId> },
    /// These recipients' databases are dismounted: their copies wait in Local delivery.
    LocalDeferred { item: QueueItemId, recipients: Vec<AddressId> },
    /// The store is moving these recipients' mailbox: they wait in "Messages queued for
    /// deferred delivery" until the move ends.
    DeferredForMove { item: QueueItemId, recipients: Vec<AddressId> },
    /// A move of this mailbox ended: what waits for it is routed again (to its new
    /// home, or here).
    MoveEnded { mailbox: AddressId },
    /// These recipients' mailboxes moved to another server: route them again.
    Rehome { item: QueueItemId, recipients: Vec<AddressId> },
    /// The store refused these recipients for good (a mailbox over its quota: 5.2.2).
    LocalFailed { item: QueueItemId, recipients: Vec<AddressId>, code: DsnCode },
    /// A durable message enters categorization and routing.
    Process(StoredItem),
}

/// Requests to the Information Store (MSExchangeIS).
#[derive(Clone, Debug)]
pub enum ToStore {
    /// Deliver each recipient's copy of a held item (the local delivery queue).
    DeliverLocal { item: QueueItemId, message: Message, recipients: Vec<AddressId> },
    /// Copies made only by the planted bug `bifurcation-copies-all`: delivered, nothing
    /// more.
    DeliverCopies { message: Message, recipients: Vec<AddressId> },
    /// A database's files grew by this write, now durable.
    Written { store: StoreId, write: crate::store::transaction_log::DeliveryWrite },
    /// The System Attendant posts an OAB generation's files to its OFFLINE ADDRESS BOOK
    /// folder on this server's public store.
    PostOabFiles {
        folder: crate::public_folders::replication_message::FolderId,
        files: Vec<(crate::system_attendant::oab::distribution::OabFile, u64)>,
    },
}

/// A request to one of the server's services.
#[derive(Clone, Debug)]
pub enum InternalEvent {
    /// To SMTPSVC.
    Smtp(ToSmtp),
    /// To RESvc.
    Routing(ToRouting),
    /// To MSExchangeIS.
    Store(ToStore),
}

/// Work that waits for the current write batch to be durable.
#[derive(Clone, Debug)]
pub enum AfterFlush {
    /// Trace this.
    Event(ServerEvent),
    /// A copy is in its mailbox: traced with its latency from submission.
    Delivered { message: MessageId, recipient: AddressId, store: StoreId, submitted_at: Instant },
    /// Send these SMTP replies (250 Queued) on an inbound session.
    Reply { to: ServerId, conn: ConnId, replies: Vec<SmtpReply> },
    /// An inbound session from outside may send the replies it held for this flush.
    EdgeFlushed(crate::transport::smtp_filters::edge_session::EdgeConnId),
    /// Hand this message to SMTPSVC.
    Process(StoredItem),
    /// Send this to another server's store (a move's acknowledgement, once what it
    /// acknowledges is durable).
    Move { to: ServerId, message: crate::store::move_mailbox::MoveMessage },
    /// Hand a completed backup set to the media outside the server.
    BackupSet(Box<crate::store::backup::BackupSet>),
    /// Tell MSExchangeIS its database files grew (what its size check reads).
    StoreWritten { store: StoreId, write: crate::store::transaction_log::DeliveryWrite },
}

/// Everything the services of one server have produced and not yet handed on: outputs
/// for the driver, internal events for the services, the write batch and what waits for
/// it.
#[derive(Debug, Default)]
pub struct Outbox {
    outputs: Vec<Output>,
    internal: VecDeque<InternalEvent>,
    writes: Vec<DiskOp>,
    /// Work waiting for the flush, each with how many of the batch's writes came before
    /// it (a power loss that tears the batch keeps the work whose writes all landed).
    after_flush: Vec<(u32, AfterFlush)>,
}

impl Outbox {
    /// Asks the driver to do this.
    pub fn output(&mut self, output: Output) {
        self.outputs.push(output);
    }

    /// Sends a move's message to another server's store.
    pub fn move_message(&mut self, to: ServerId, message: crate::store::move_mailbox::MoveMessage) {
        self.outputs.push(Output::Move { to, message });
    }

    /// Traces this.
    pub fn emit(&mut self, event: ServerEvent) {
        self.outputs.push(Output::Event(event));
    }

    /// Asks SMTPSVC.
    pub fn to_smtp(&mut self, event: ToSmtp) {
        self.internal.push_back(InternalEvent::Smtp(event));
    }

    /// Asks RESvc.
    pub fn to_routing(&mut self, event: ToRouting) {
        self.internal.push_back(InternalEvent::Routing(event));
    }

    /// Asks the Information Store.
    pub fn to_store(&mut self, event: ToStore) {
        self.internal.push_back(InternalEvent::Store(event));
    }

    /// Adds a write to the batch the next log flush makes durable.
    pub fn write(&mut self, op: DiskOp) {
        self.writes.push(op);
    }

    /// Holds this until the writes so far are durable.
    pub fn after_flush(&mut self, work: AfterFlush) {
        self.after_flush.push((self.writes.len() as u32, work));
    }

    /// Writes (or work waiting on them) that no flush has made durable yet.
    pub fn unflushed(&self) -> bool {
        !self.writes.is_empty() || !self.after_flush.is_empty()
    }

    /// How many writes a crash now would lose.
    pub fn unflushed_writes(&self) -> usize {
        self.writes.len()
    }

    /// The next internal event, in the order asked.
    pub fn next_internal(&mut self) -> Option<InternalEvent> {
        self.internal.pop_front()
    }

    /// Internal events waiting.
    pub fn internal_waiting(&self) -> usize {
        self.internal.len()
    }

    /// Takes the write batch and what waits for it (each with the writes before it).
    pub fn take_flush(&mut self) -> (Vec<DiskOp>, Vec<(u32, AfterFlush)>) {
        (std::mem::take(&mut self.writes), std::mem::take(&mut self.after_flush))
    }

    /// Moves everything `other` holds to the end of this outbox, in order (a service's
    /// call mostly fills one or two of the four: the empty ones cost a test).
    pub fn append(&mut self, other: &mut Outbox) {
        if !other.outputs.is_empty() {
            self.outputs.append(&mut other.outputs);
        }
        if !other.internal.is_empty() {
            self.internal.append(&mut other.internal);
        }
        let before = self.writes.len() as u32;
        if !other.writes.is_empty() {
            self.writes.append(&mut other.writes);
        }
        if !other.after_flush.is_empty() {
            self.after_flush.extend(other.after_flush.drain(..).map(|(w, work)| (w + before, work)));
        }
    }

    /// Takes the outputs produced so far, in order.
    pub fn drain_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    /// Swaps the outputs so far into `empty`, which takes this outbox's place.
    pub fn swap_outputs(&mut self, empty: &mut Vec<Output>) {
        debug_assert!(empty.is_empty(), "the caller carried out every output it was given");
        std::mem::swap(&mut self.outputs, empty);
    }
}
