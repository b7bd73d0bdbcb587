//! The advanced queuing engine's queues as Queue Viewer shows them (EXCHANGE2003.md
//! §3.2, §3.2a): the local delivery queue, "Final destination currently unreachable",
//! and one link queue per next hop with its state (Ready, Active, Retry) and retry
//! schedule.
//!
//! Left out: frozen queues and messages, deferred delivery by time, the DSN and failed-retry
//! system queues, scheduled connectors (later issues).

use crate::config::topology::Topology;
use crate::routing::routing_engine::NextHop;
use crate::time::Instant;
use crate::AddressId;
use serde::Serialize;
use std::collections::VecDeque;

/// A queue of one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum QueueKey {
    /// "Local delivery".
    LocalDelivery,
    /// "Final destination currently unreachable".
    Unreachable,
    /// "Messages awaiting directory lookup": held by the categorizer for a GC.
    AwaitingDirectory,
    /// "Messages queued for deferred delivery": here, mail for a mailbox being moved.
    DeferredDelivery,
    /// A link queue towards one next hop.
    Link(NextHop),
}

impl QueueKey {
    /// The queue's name as Queue Viewer shows it.
    pub fn display_name(self, topology: &Topology) -> &str {
        match self {
            QueueKey::LocalDelivery => "Local delivery",
            QueueKey::Unreachable => "Final destination currently unreachable",
            QueueKey::AwaitingDirectory => "Messages awaiting directory lookup",
            QueueKey::DeferredDelivery => "Messages queued for deferred delivery",
            QueueKey::Link(NextHop::Server(s)) => &topology.server(s).fqdn,
            QueueKey::Link(NextHop::Connector(c)) => &topology.connector(c).name,
            QueueKey::Link(NextHop::Gateway(g)) => &topology.gateway(g).name,
            QueueKey::Link(NextHop::RemoteDomain(d)) => topology.external.domain(d),
            QueueKey::Link(NextHop::Local) => "Local delivery",
            QueueKey::Link(NextHop::Unreachable) => "Final destination currently unreachable",
        }
    }

    /// The queue a routing decision puts mail in.
    pub fn for_next_hop(hop: NextHop) -> QueueKey {
        match hop {
            NextHop::Local => QueueKey::LocalDelivery,
            NextHop::Unreachable => QueueKey::Unreachable,
            other => QueueKey::Link(other),
        }
    }
}

/// Link queue state as Queue Viewer shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LinkQueueState {
    /// Waiting for a connection to be opened.
    Ready,
    /// A connection is open and sending.
    Active,
    /// The last connection failed; waiting for the retry time.
    Retry,
}

impl LinkQueueState {
    /// The state as the trace and Queue Viewer's lower case name it.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkQueueState::Ready => "ready",
            LinkQueueState::Active => "active",
            LinkQueueState::Retry => "retry",
        }
    }
}

/// Some recipients of one queue item, waiting in one queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueEntry {
    /// The queue item (message file).
    pub item: crate::transport::queue_directory::QueueItemId,
    /// Recipients this queue serves.
    pub recipients: Vec<AddressId>,
}

/// A link queue.
#[derive(Clone, Debug)]
pub struct LinkQueue {
    /// Messages waiting, oldest first.
    pub entries: VecDeque<QueueEntry>,
    /// Ready, Active or Retry.
    pub state: LinkQueueState,
    /// Consecutive failed connections.
    pub failures: u32,
    /// When a queue in Retry is tried again.
    pub retry_at: Option<Instant>,
}

impl Default for LinkQueue {
    fn default() -> Self {
        LinkQueue { entries: VecDeque::new(), state: LinkQueueState::Ready, failures: 0, retry_at: None }
    }
}

/// One queue as sampled for Queue Viewer and the charts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueueSnapshot {
    /// Which queue.
    pub queue: QueueKey,
    /// Link queue state; `None` for system queues.
    pub state: Option<LinkQueueState>,
    /// Messages (queue entries) in it.
    pub messages: u32,
}
