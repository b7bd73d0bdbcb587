//! Trace events a server emits, with ids; the simulator names them when it writes the
//! trace. Each is emitted at the instant it became true (acceptance and delivery only
//! once durable).

use crate::directory::ad_replication::DcId;
use crate::message::MessageId;
use crate::routing::link_state::{ConnectorState, GroupState};
use crate::routing::routing_group_master::Decision;
use crate::transport::advanced_queuing::{LinkQueueState, QueueKey};
use crate::transport::dsn::DsnCode;
use crate::transport::smtp_protocol::ConnId;
use crate::{AddressId, ConnectorId, HostId, RoutingGroupId, ServerId, StoreId};

/// Why an outbound SMTP session ended without finishing its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionFailure {
    /// No answer within the timeout (host down, link down, packet lost).
    Timeout,
    /// The peer reset the connection (it restarted and forgot the session).
    Reset,
    /// The peer answered with a transient error.
    Rejected(u16),
}

/// An observable event of one server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerEvent {
    /// A client submission is durable (message tracking 1027).
    Submitted { message: MessageId, sender: AddressId, recipients: Vec<AddressId>, size_bytes: u64 },
    /// The store refused a user's MAPI logon (protocolSettings); nothing was submitted.
    MapiLogonDenied { sender: AddressId },
    /// A message from another server is durable and acknowledged (1019).
    Received { message: MessageId, from: ServerId, conn: ConnId, recipients: Vec<AddressId>, hop_count: u8 },
    /// The categorizer resolved the recipients (1033).
    Categorized { message: MessageId, resolved: u32, failed: u32 },
    /// The categorizer holds the message to expand these group recipients (§2).
    ExpansionStarted { message: MessageId, groups: Vec<AddressId> },
    /// A group recipient was expanded to these members (tracking event 26; none for an
    /// empty group, which is no error).
    Expanded { message: MessageId, group: AddressId, members: Vec<AddressId> },
    /// A GC did not answer the categorizer: its lookup or expansion starts again on
    /// another GC (`found` recipients were thrown away).
    GcFailover { message: MessageId, gc: DcId, found: u64 },
    /// No GC answers: the message waits in categorizer retry (1032).
    CategorizerRetry { message: MessageId, retry_in_ms: u64 },
    /// Every group of the message is done; it is routed next.
    ExpansionFinished { message: MessageId },
    /// Memory the categorizer's expansions hold now (2 KB a recipient, §2).
    CategorizerMemory { bytes: u64 },
    /// Recipients queued for a next hop (1034/1035/1036).
    Queued {
        /// The message.
        message: MessageId,
        /// The queue it joins.
        queue: QueueKey,
        /// The recipients queued.
        recipients: Vec<AddressId>,
        /// The route's cost.
        cost: u32,
        /// The link queue it waited in before its route changed, when it moves from one
        /// link queue to another (a reroute round a failure, or back).
        rerouted_from: Option<QueueKey>,
    },
    /// Recipients handed to the next server, which acknowledged them (1031).
    Transferred { message: MessageId, to: ServerId, queue: QueueKey, recipients: Vec<AddressId>, size_bytes: u64 },
    /// Recipients handed to a host beyond the organization (a smart host, an MX host or
    /// a foreign MTA), which acknowledged them (1031): the organization's part is done.
    Relayed { message: MessageId, host: HostId, queue: QueueKey, recipients: Vec<AddressId>, size_bytes: u64 },
    /// A DNS server or an MX host did not answer; the next one is tried at once.
    Failover { queue: QueueKey, host: HostId, reason: SessionFailure },
    /// Committed to a mailbox (1028).
    Delivered { message: MessageId, recipient: AddressId, store: StoreId, latency_ms: u64 },
    /// A copy the mailbox already had was dropped.
    DuplicateSuppressed { message: MessageId, recipient: AddressId, store: StoreId },
    /// An NDR was generated for these recipients (1030).
    Ndr { message: MessageId, recipients: Vec<AddressId>, code: DsnCode, ndr: MessageId, to: AddressId },
    /// The store sent an Out of Office reply for `from` to the sender of `message`.
    OutOfOffice { message: MessageId, from: AddressId, reply: MessageId, to: AddressId },
    /// A DSN could not be delivered and went to Badmail (DSNs are never NDR'd).
    Badmail { message: MessageId, recipients: Vec<AddressId>, code: DsnCode },
    /// A link queue changed state.
    QueueState {
        queue: QueueKey,
        state: LinkQueueState,
        failures: u32,
        retry_in_ms: Option<u64>,
        reason: Option<SessionFailure>,
    },
    /// The server rebuilt its queues from disk after a restart.
    Recovered { items: u32, recipients: u32 },
    /// The link state table changed: these groups' entries, and the new digest.
    LinkStateChanged { groups: Vec<(RoutingGroupId, GroupState)>, digest: u64 },
    /// A source bridgehead found a connector down (glitch retries spent) or working again.
    ConnectorDetected { connector: ConnectorId, state: ConnectorState },
    /// The routing group master reviewed a report.
    LinkStateReviewed { connector: ConnectorId, reported: ConnectorState, decision: Decision },
}
