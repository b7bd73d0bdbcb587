//! Trace events a server emits, with ids — the one vocabulary of what happened: checks
//! read these values, and the trace writes each as a JSON record whose `event` and field
//! names are declared here, with every id named through a [`Namer`]. Adding an event
//! touches this list, the service that emits it and whoever reads it. Each is emitted
//! at the instant it became true (acceptance and delivery only once durable).

use crate::directory::ad_replication::DcId;
use crate::message::MessageId;
use crate::routing::link_state::{ConnectorState, GroupState};
use crate::routing::routing_group_master::Decision;
use crate::transport::advanced_queuing::{LinkQueueState, QueueKey};
use crate::transport::dsn::DsnCode;
use crate::transport::smtp_protocol::ConnId;
use crate::{AddressId, ConnectorId, HostId, RoutingGroupId, ServerId, StoreId};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

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

/// Names for the ids events carry, as the trace writes them (the scenario's names).
pub trait Namer {
    /// A message (`M12`, `NDR-EX01-3`, `OOF-EX01-4`).
    fn message(&self, id: MessageId) -> String;
    /// An SMTP address.
    fn address(&self, id: AddressId) -> &str;
    /// An Exchange server.
    fn server(&self, id: ServerId) -> &str;
    /// A host beyond the organization.
    fn host(&self, id: HostId) -> &str;
    /// A domain controller.
    fn dc(&self, id: DcId) -> &str;
    /// A mailbox store.
    fn store(&self, id: StoreId) -> &str;
    /// A routing group connector.
    fn connector(&self, id: ConnectorId) -> &str;
    /// A routing group.
    fn routing_group(&self, id: RoutingGroupId) -> &str;
    /// A queue, as Queue Viewer names it.
    fn queue(&self, key: QueueKey) -> String;
}

/// A value as the trace writes it: ids by name, states by their lower-case names.
pub trait TraceValue {
    /// Writes the value.
    fn write<S: Serializer>(&self, names: &dyn Namer, s: S) -> Result<S::Ok, S::Error>;

    /// Whether the field is left out of the record (an absent optional value).
    fn absent(&self) -> bool {
        false
    }
}

/// A value with the names to write it by.
pub struct Named<'a, T: ?Sized>(pub &'a T, pub &'a dyn Namer);

impl<T: TraceValue + ?Sized> Serialize for Named<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.write(self.1, s)
    }
}

macro_rules! plain_trace_values {
    ($($t:ty),*) => {
        $(impl TraceValue for $t {
            fn write<S: Serializer>(&self, _: &dyn Namer, s: S) -> Result<S::Ok, S::Error> {
                self.serialize(s)
            }
        })*
    };
}
plain_trace_values!(u8, u16, u32, u64, i64, bool, String);

macro_rules! named_trace_values {
    ($($t:ty => $name:ident),*) => {
        $(impl TraceValue for $t {
            fn write<S: Serializer>(&self, names: &dyn Namer, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&names.$name(*self))
            }
        })*
    };
}
named_trace_values!(MessageId => message, AddressId => address, ServerId => server, HostId => host, DcId => dc,
    StoreId => store, ConnectorId => connector, RoutingGroupId => routing_group, QueueKey => queue);

impl<T: TraceValue> TraceValue for Vec<T> {
    fn write<S: Serializer>(&self, names: &dyn Namer, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(|v| Named(v, names)))
    }
}

impl<T: TraceValue> TraceValue for Option<T> {
    fn write<S: Serializer>(&self, names: &dyn Namer, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Some(v) => v.write(names, s),
            None => s.serialize_none(),
        }
    }

    fn absent(&self) -> bool {
        self.is_none()
    }
}

impl TraceValue for SessionFailure {
    fn write<S: Serializer>(&self, _: &dyn Namer, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SessionFailure::Timeout => s.serialize_str("timeout"),
            SessionFailure::Reset => s.serialize_str("connection reset"),
            SessionFailure::Rejected(code) => s.serialize_str(&format!("rejected {code}")),
        }
    }
}

impl TraceValue for Decision {
    fn write<S: Serializer>(&self, _: &dyn Namer, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Decision::Unchanged => s.serialize_str("unchanged"),
            Decision::Apply(state) => s.serialize_str(&format!("marked {}", state.as_str())),
            Decision::Suppress(why) => s.serialize_str(&format!("left as is: {}", why.as_str())),
        }
    }
}

macro_rules! str_trace_values {
    ($($t:ty),*) => {
        $(impl TraceValue for $t {
            fn write<S: Serializer>(&self, _: &dyn Namer, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        })*
    };
}
str_trace_values!(DsnCode, ConnectorState, LinkQueueState);

/// A connection as `CLIENT#seq`.
impl TraceValue for ConnId {
    fn write<S: Serializer>(&self, names: &dyn Namer, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}#{}", names.server(self.client), self.seq))
    }
}

/// One routing group's entry of a link state table.
impl TraceValue for (RoutingGroupId, GroupState) {
    fn write<S: Serializer>(&self, names: &dyn Namer, s: S) -> Result<S::Ok, S::Error> {
        let (group, entry) = self;
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("routing_group", names.routing_group(*group))?;
        map.serialize_entry("version", &entry.version.to_string())?;
        map.serialize_entry("master", names.server(entry.master))?;
        map.serialize_entry("down", &Named(&entry.down, names))?;
        map.end()
    }
}

/// How many: a list traced by its length.
fn count(list: &[AddressId]) -> u32 {
    list.len() as u32
}

/// A table digest as 16 hex digits.
fn hex(digest: &u64) -> String {
    format!("{digest:016x}")
}

/// The value a field is traced as: itself, or what its conversion makes of it.
macro_rules! traced {
    ($field:ident) => {
        $field
    };
    ($field:ident, $conv:path) => {
        &$conv($field)
    };
}

/// Declares the events: each variant with its trace name and its fields in trace order;
/// `field: Type => conversion` traces what the conversion returns.
macro_rules! server_events {
    ($($(#[$vmeta:meta])* $variant:ident $tag:literal {
        $($(#[$fmeta:meta])* $field:ident: $ty:ty $(=> $conv:path)?),* $(,)?
    }),* $(,)?) => {
        /// An observable event of one server.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum ServerEvent {
            $($(#[$vmeta])* $variant { $($(#[$fmeta])* $field: $ty),* }),*
        }

        impl ServerEvent {
            /// The record's `event` name.
            pub fn trace_name(&self) -> &'static str {
                match self {
                    $(ServerEvent::$variant { .. } => $tag),*
                }
            }

            /// Writes the event's fields, in declaration order, ids named by `names`.
            pub fn write_fields<M: SerializeMap>(&self, names: &dyn Namer, map: &mut M) -> Result<(), M::Error> {
                match self {
                    $(ServerEvent::$variant { $($field),* } => {
                        $(
                            let value = traced!($field $(, $conv)?);
                            if !TraceValue::absent(value) {
                                map.serialize_entry(stringify!($field), &Named(value, names))?;
                            }
                        )*
                    })*
                }
                Ok(())
            }
        }
    };
}

server_events! {
    /// A client submission is durable (message tracking 1027).
    Submitted "submitted" { message: MessageId, sender: AddressId, recipients: Vec<AddressId>, size_bytes: u64 },
    /// The store refused a user's MAPI logon (protocolSettings); nothing was submitted.
    MapiLogonDenied "mapi_logon_denied" { user: AddressId },
    /// A message from another server is durable and acknowledged (1019).
    Received "received" { message: MessageId, from: ServerId, conn: ConnId, recipients: Vec<AddressId>, hop_count: u8 },
    /// The categorizer resolved the recipients (1033).
    Categorized "categorized" { message: MessageId, resolved: u32, failed: u32 },
    /// The categorizer holds the message to expand these group recipients (§2).
    ExpansionStarted "expansion_started" { message: MessageId, groups: Vec<AddressId> },
    /// A group recipient was expanded to these members (tracking event 26; none for an
    /// empty group, which is no error). The trace gives their number.
    Expanded "expanded" { message: MessageId, group: AddressId, members: Vec<AddressId> => count },
    /// A GC did not answer the categorizer: its lookup or expansion starts again on
    /// another GC (`found` recipients were thrown away).
    GcFailover "gc_failover" { message: MessageId, gc: DcId, found: u64 },
    /// No GC answers: the message waits in categorizer retry (1032).
    CategorizerRetry "categorizer_retry" { message: MessageId, retry_in_ms: u64 },
    /// Every group of the message is done; it is routed next.
    ExpansionFinished "expansion_finished" { message: MessageId },
    /// Memory the categorizer's expansions hold now (2 KB a recipient, §2).
    CategorizerMemory "categorizer_memory" { bytes: u64 },
    /// Recipients queued for a next hop (1034/1035/1036).
    Queued "queued" {
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
    Transferred "transferred" {
        message: MessageId, to: ServerId, queue: QueueKey, recipients: Vec<AddressId>, size_bytes: u64,
    },
    /// Recipients handed to a host beyond the organization (a smart host, an MX host or
    /// a foreign MTA), which acknowledged them (1031): the organization's part is done.
    Relayed "relayed" { message: MessageId, host: HostId, queue: QueueKey, recipients: Vec<AddressId>, size_bytes: u64 },
    /// A DNS server or an MX host did not answer; the next one is tried at once.
    Failover "failover" { queue: QueueKey, host: HostId, reason: SessionFailure },
    /// Committed to a mailbox (1028).
    Delivered "delivered" { message: MessageId, recipient: AddressId, store: StoreId, latency_ms: u64 },
    /// A copy the mailbox already had was dropped.
    DuplicateSuppressed "duplicate_suppressed" { message: MessageId, recipient: AddressId, store: StoreId },
    /// An NDR was generated for these recipients (1030).
    Ndr "ndr" { message: MessageId, recipients: Vec<AddressId>, code: DsnCode, ndr: MessageId, to: AddressId },
    /// The store sent an Out of Office reply for `from` to the sender of `message`.
    OutOfOffice "out_of_office" { message: MessageId, from: AddressId, reply: MessageId, to: AddressId },
    /// A DSN could not be delivered and went to Badmail (DSNs are never NDR'd).
    Badmail "badmail" { message: MessageId, recipients: Vec<AddressId>, code: DsnCode },
    /// A link queue changed state.
    QueueState "queue_state" {
        queue: QueueKey,
        state: LinkQueueState,
        failures: u32,
        retry_in_ms: Option<u64>,
        reason: Option<SessionFailure>,
    },
    /// The server rebuilt its queues from disk after a restart.
    Recovered "recovered" { items: u32, recipients: u32 },
    /// The link state table changed: these groups' entries, and the new digest.
    LinkStateChanged "link_state_changed" { groups: Vec<(RoutingGroupId, GroupState)>, digest: u64 => hex },
    /// A source bridgehead found a connector down (glitch retries spent) or working again.
    ConnectorDetected "connector_detected" { connector: ConnectorId, state: ConnectorState },
    /// The routing group master reviewed a report.
    LinkStateReviewed "link_state_reviewed" { connector: ConnectorId, reported: ConnectorState, verdict: Decision },
}
