//! The simulated world: one madsim runtime per run, one madsim node per Exchange server
//! and per host beyond the organization (Internet mail hosts, smart hosts, foreign MTAs,
//! DNS servers). Each server node runs its server's state machine: packets (held until
//! the WAN model says they arrive), timers, and its clients' submissions go in; packets,
//! durable writes and events come out. A host node answers SMTP sessions and DNS
//! queries; a host that is down (a timeline fault) drops what reaches it.
//!
//! madsim gives the seeded scheduler, simulated time and node kill/restart. Packets do
//! not go through madsim's own network: orgsim's WAN model already decides when (and
//! whether) each one arrives, and madsim's network adds three timers and two random
//! micro-delays per packet (measured: most of the run's cost). A packet goes straight into
//! the destination node's inbox; a dead node has no inbox, so a packet sent to it is lost,
//! and a packet held by a node that dies dies with it. A supervisor task plays the timeline (links,
//! connectors, crashes, restarts), samples the WAN links, and runs the checks.
//!
//! What lives outside the nodes survives a crash: each server's disk, its clients, the
//! WAN, the trace and the checks. What lives inside (queues in memory, sessions, writes
//! not yet flushed) dies with the node.

use crate::checks::{CheckResult, Checker, MessageCounts};
use crate::resolve::{RecipientWrite, Resolved, RusSpec, TimedAction, WorldAction};
use crate::rng::Stream;
use crate::trace::{GroupEntry, QueueSample, TraceEvent, TraceSink, TRACE_FORMAT};
use crate::wan::Wan;
use crate::workload::{ClientPopulation, RecipientPools};
use futures::channel::mpsc::{unbounded, UnboundedSender};
use futures::StreamExt;
use madsim::runtime::{Handle, NodeHandle};
use org::config::topology::HostRole;
use org::directory::ad_replication::{AttributeMeta, DcId, ObjectId};
use org::directory::domain_controller::{DcEvent, DcMessage, DcOutput, DomainController, ObjectWrite};
use org::directory::global_catalog::{
    recipient_object, AdDomainId, AsOf, DirectoryView, ExpansionError, GlobalCatalog, GroupId, LdapPage, LdapQuery,
    LdapSearch, ReplicaView, CREATED_ATTRIBUTE, LDAP_PAGE_SIZE, STAMPED_ATTRIBUTE,
};
use org::exchange_server::{ExchangeServer, Output, StartConditions};
use org::message::{Message, MessageId, MessageKind};
use org::routing::link_state::{ConnectorState, LinkStateMessage, OrgInfo};
use org::routing::routing_group_master::Decision;
use org::time::Instant;
use org::trace::{ServerEvent, SessionFailure};
use org::transport::advanced_queuing::{LinkQueueState, QueueKey};
use org::transport::dns::{DnsQuery, DnsReply};
use org::transport::internet_host::InternetMailHost;
use org::transport::queue_directory::DiskImage;
use org::transport::smtp_protocol::Packet;
use org::{AddressId, ConnectorId, HostId, RoutingGroupId, ServerId};
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration as StdDuration;

/// What a run produced.
#[derive(Clone, Debug, Serialize)]
pub struct RunOutcome {
    /// Scenario name.
    pub scenario: String,
    /// Run seed.
    pub seed: u64,
    /// Simulated seconds run.
    pub sim_seconds: f64,
    /// Trace records.
    pub events: u64,
    /// SHA-256 of the trace.
    pub trace_sha256: String,
    /// Recipient counts.
    pub messages: MessageCounts,
    /// Link state messages sent organization-wide.
    pub link_state: LinkStateTotals,
    /// Directory replication, when the scenario simulates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectoryTotals>,
    /// Every check's result.
    pub checks: Vec<CheckResult>,
    /// How often each of the scenario's sometimes properties happened (not a pass or a
    /// fail for one run: a sweep judges them).
    pub sometimes: Vec<crate::sometimes::SometimesResult>,
    /// A trace write error, if the trace could not be written completely.
    #[serde(skip)]
    pub trace_error: Option<String>,
    /// Each server's link state table at the end of the run (None: not running).
    #[serde(skip)]
    pub tables: Vec<Option<OrgInfo>>,
    /// Whether each connector could carry mail at the end of the run (the world's truth,
    /// which tables learn with delay).
    #[serde(skip)]
    pub connectors: Vec<ConnectorState>,
    /// Each replica at the end of the run, in `DirectorySpec::replicas` order: each DC's
    /// own domain, then the GCs' partial replicas (empty when the directory is not
    /// simulated).
    #[serde(skip)]
    pub dcs: Vec<DcSummary>,
}

/// Link state traffic of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LinkStateTotals {
    /// Messages sent (updates, replies, reports and their acknowledgements).
    pub updates: u64,
    /// Their bytes on the wire, TCP/IP headers included.
    pub bytes: u64,
}

impl RunOutcome {
    /// Whether every check held.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// An end of a packet's journey.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    Server(ServerId),
    Host(HostId),
    Dc(DcId),
}

/// A packet on its way, with what the WAN model decided about it.
struct Wire {
    from: Node,
    arrive_us: u64,
    seq: u64,
    epochs: Vec<(u16, u32)>,
    payload: Payload,
}

/// What travels between servers.
enum Payload {
    Smtp(Packet),
    LinkState(LinkStateMessage),
    DnsQuery(DnsQuery),
    DnsReply(DnsReply),
    /// Replication of one domain's naming context.
    Ad(AdDomainId, DcMessage),
    Ldap(LdapSearch),
    LdapPage(LdapPage),
}

/// What a DC node is told.
enum DcInput {
    Wire(Box<Wire>),
    /// The DC's clock is set this far off true time (ms).
    ClockSkew(i64),
    /// A bulk originating change.
    Write {
        count: u32,
        attributes: u32,
        urgent: bool,
        delete: bool,
    },
    /// An administrator changes a recipient's attributes on this DC.
    ModifyRecipient(ObjectWrite),
}

/// Which replicas hold the winning write of each attribute of a domain's objects: a
/// replica's backlog is the attributes whose winner it does not hold yet.
#[derive(Clone, Debug, Default)]
struct Winners {
    /// (object, attribute) → the best write's rank and the replicas holding it (a bit
    /// each, by replica index: at most `MAX_REPLICAS`).
    best: BTreeMap<(ObjectId, String), (Rank, u128)>,
}

/// The order conflicts settle in: version, originating time, originating DC.
type Rank = (u32, u64, DcId);

fn rank(meta: &AttributeMeta) -> Rank {
    (meta.version, meta.originating_time_ms, meta.originating_dc)
}

/// One replica as `repadmin` shows it, at its DC's last step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DcSummary {
    /// Its highest USN.
    pub usn: u64,
    /// Its up-to-dateness vector: per originating DC, the highest originating USN applied.
    pub utd: BTreeMap<DcId, u64>,
    /// Per source, its high-water mark.
    pub high_water_marks: BTreeMap<DcId, u64>,
    /// Objects held, tombstones included.
    pub objects: usize,
    /// Tombstones among them.
    pub tombstones: usize,
    /// Attributes whose winning write it does not hold yet.
    pub backlog: u64,
    /// Whether it answers.
    pub up: bool,
}

impl DcSummary {
    fn of(replica: &org::directory::ad_replication::Replica) -> Self {
        DcSummary {
            usn: replica.usn(),
            utd: replica.utd().clone(),
            high_water_marks: replica.high_water_marks(),
            objects: replica.object_count(),
            tombstones: replica.tombstone_count(),
            backlog: 0,
            up: true,
        }
    }
}

/// Directory replication totals of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct DirectoryTotals {
    /// Replication bytes on the wire (requests, notifications and changes).
    pub replication_bytes: u64,
    /// Since when every replica of each domain has agreed, to the end of the run
    /// (`None`: they did not agree at the end).
    pub converged_at_s: Option<f64>,
}

/// What a server node is told.
enum Input {
    Wire(Box<Wire>),
    /// A directory change: a routing group's new master.
    MasterChange(RoutingGroupId, ServerId),
    /// The remote side of a connector starts or stops accepting this source bridgehead.
    ConnectorService(ConnectorId, bool),
    /// Scripted mail submitted here, by MAPI (`true`) or over SMTP.
    Submit(Box<Message>, Vec<AddressId>, bool),
}

/// Everything outside the nodes.
struct World {
    resolved: Arc<Resolved>,
    seed: u64,
    start: madsim::time::Instant,
    trace: TraceSink,
    checker: Checker,
    /// How often each of the scenario's sometimes properties happened.
    sometimes: crate::sometimes::Tally,
    /// Each server's writes not yet durable after its last step (what a crash loses).
    unflushed: Vec<u32>,
    wan: Wan,
    disks: Vec<DiskImage>,
    populations: Vec<Option<ClientPopulation>>,
    inboxes: Vec<Option<UnboundedSender<Input>>>,
    /// Each host's inbox (hosts never die: a host that is down drops what it gets).
    host_inboxes: Vec<Option<UnboundedSender<Box<Wire>>>>,
    /// Whether each host answers now.
    host_up: Vec<bool>,
    /// Each DC's inbox.
    dc_inboxes: Vec<Option<UnboundedSender<DcInput>>>,
    /// Whether each DC answers now.
    dc_up: Vec<bool>,
    /// Per domain, who holds each attribute's winning write.
    winners: Vec<Winners>,
    /// Per DC, how many attributes of its domain it holds at the winning write.
    at_best: Vec<u64>,
    /// Each DC as of its last step.
    dc_summaries: Vec<DcSummary>,
    /// Replication bytes, whole run and this sample interval.
    ad_bytes: u64,
    ad_interval_bytes: u64,
    /// Since when all replicas agree (None while they differ).
    directory_agreed_since: Option<u64>,
    incarnation: Vec<u32>,
    connector_admin_down: Vec<bool>,
    connector_state: Vec<ConnectorState>,
    /// Each routing group's master, as the directory names it now.
    masters: Vec<ServerId>,
    link_state: LinkStateTotals,
    link_state_interval: LinkStateTotals,
    next_message: u64,
    next_wire: u64,
}

type Shared = Arc<Mutex<World>>;

fn lock(world: &Shared) -> std::sync::MutexGuard<'_, World> {
    world.lock().expect("the world lock is never poisoned: a panic ends the run")
}

/// A message's name in traces and check details: `M<n>` for client mail,
/// `NDR-<server>-<item>` for a DSN.
fn message_name(resolved: &Resolved, id: MessageId) -> String {
    match id {
        MessageId::Client(n) => format!("M{n}"),
        MessageId::Dsn { server, item } => format!("NDR-{}-{item}", resolved.topology.server(server).name),
        MessageId::AutoReply { server, item } => format!("OOF-{}-{item}", resolved.topology.server(server).name),
    }
}

/// One recipient of one message, for check details.
fn pair_name(resolved: &Resolved, message: MessageId, recipient: AddressId) -> String {
    format!("{} to {}", message_name(resolved, message), resolved.addresses[recipient.0 as usize])
}

fn server_ip(id: ServerId) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 1, (id.0 >> 8) as u8, (id.0 & 0xff) as u8 + 1))
}

fn host_ip(id: HostId) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 2, (id.0 >> 8) as u8, (id.0 & 0xff) as u8 + 1))
}

impl World {
    fn now_us(&self) -> u64 {
        madsim::time::Instant::now().duration_since(self.start).as_micros() as u64
    }

    fn message_name(&self, id: MessageId) -> String {
        message_name(&self.resolved, id)
    }

    fn server_name(&self, id: ServerId) -> &str {
        &self.resolved.topology.server(id).name
    }

    fn host_name(&self, id: HostId) -> String {
        self.resolved.topology.host(id).name.clone()
    }

    fn site(&self, node: Node) -> usize {
        match node {
            Node::Server(s) => self.resolved.server_site[usize::from(s.0)],
            Node::Host(h) => self.resolved.host_site[usize::from(h.0)],
            Node::Dc(d) => self.dc_spec(d).site,
        }
    }

    fn dc_spec(&self, dc: DcId) -> &crate::resolve::DcSpec {
        &self.resolved.directory.as_ref().expect("DC nodes exist only with a directory").dcs[usize::from(dc.0)]
    }

    fn address(&self, id: AddressId) -> String {
        self.resolved.addresses[id.0 as usize].clone()
    }

    fn addresses(&self, ids: &[AddressId]) -> Vec<String> {
        ids.iter().map(|a| self.address(*a)).collect()
    }

    fn queue(&self, key: QueueKey) -> String {
        key.display_name(&self.resolved.topology)
    }

    fn record(&mut self, t_ms: u64, node: &str, event: &TraceEvent) {
        self.trace.record(t_ms, node, event);
    }

    /// Checks and traces one server event.
    fn observe(&mut self, now: Instant, server: ServerId, event: &ServerEvent) {
        let resolved = self.resolved.clone();
        let violations = self.checker.observe(now, server, event, &|m, r| pair_name(&resolved, m, r));
        self.sometimes.observe(event);
        let trace_event = self.convert(event);
        let node = self.server_name(server).to_string();
        self.record(now.as_ms(), &node, &trace_event);
        for v in violations {
            let event = TraceEvent::CheckFailed { check: v.check.into(), detail: v.detail };
            self.record(now.as_ms(), "checks", &event);
        }
    }

    fn convert(&self, event: &ServerEvent) -> TraceEvent {
        let m = |id: &MessageId| self.message_name(*id);
        match event {
            ServerEvent::Submitted { message, sender, recipients, size_bytes } => TraceEvent::Submitted {
                message: m(message),
                sender: self.address(*sender),
                recipients: self.addresses(recipients),
                size_bytes: *size_bytes,
            },
            ServerEvent::Received { message, from, conn, recipients, hop_count } => TraceEvent::Received {
                message: m(message),
                from: self.server_name(*from).into(),
                conn: format!("{}#{}", self.server_name(conn.client), conn.seq),
                recipients: self.addresses(recipients),
                hop_count: *hop_count,
            },
            ServerEvent::Categorized { message, resolved, failed } => {
                TraceEvent::Categorized { message: m(message), resolved: *resolved, failed: *failed }
            }
            ServerEvent::MapiLogonDenied { sender } => TraceEvent::MapiLogonDenied { user: self.address(*sender) },
            ServerEvent::OutOfOffice { message, from, reply, to } => TraceEvent::OutOfOffice {
                message: m(message),
                from: self.address(*from),
                reply: m(reply),
                to: self.address(*to),
            },
            ServerEvent::ExpansionStarted { message, groups } => {
                TraceEvent::ExpansionStarted { message: m(message), groups: self.addresses(groups) }
            }
            ServerEvent::Expanded { message, group, members } => {
                TraceEvent::Expanded { message: m(message), group: self.address(*group), members: members.len() as u32 }
            }
            ServerEvent::GcFailover { message, gc, found } => {
                TraceEvent::GcFailover { message: m(message), gc: self.resolved.dc_name(*gc), found: *found }
            }
            ServerEvent::CategorizerRetry { message, retry_in_ms } => {
                TraceEvent::CategorizerRetry { message: m(message), retry_in_ms: *retry_in_ms }
            }
            ServerEvent::ExpansionFinished { message } => TraceEvent::ExpansionFinished { message: m(message) },
            ServerEvent::CategorizerMemory { bytes } => TraceEvent::CategorizerMemory { bytes: *bytes },
            ServerEvent::Queued { message, queue, recipients, cost, rerouted_from } => TraceEvent::Queued {
                message: m(message),
                queue: self.queue(*queue),
                recipients: self.addresses(recipients),
                cost: *cost,
                rerouted_from: rerouted_from.map(|q| self.queue(q)),
            },
            ServerEvent::Transferred { message, to, queue, recipients, size_bytes } => TraceEvent::Transferred {
                message: m(message),
                to: self.server_name(*to).into(),
                queue: self.queue(*queue),
                recipients: self.addresses(recipients),
                size_bytes: *size_bytes,
            },
            ServerEvent::Relayed { message, host, queue, recipients, size_bytes } => TraceEvent::Relayed {
                message: m(message),
                host: self.host_name(*host),
                queue: self.queue(*queue),
                recipients: self.addresses(recipients),
                size_bytes: *size_bytes,
            },
            ServerEvent::Failover { queue, host, reason } => TraceEvent::Failover {
                queue: self.queue(*queue),
                host: self.host_name(*host),
                reason: failure_name(*reason),
            },
            ServerEvent::Delivered { message, recipient, store, latency_ms } => TraceEvent::Delivered {
                message: m(message),
                recipient: self.address(*recipient),
                store: self.resolved.topology.store(*store).name.clone(),
                latency_ms: *latency_ms,
            },
            ServerEvent::DuplicateSuppressed { message, recipient, store } => TraceEvent::DuplicateSuppressed {
                message: m(message),
                recipient: self.address(*recipient),
                store: self.resolved.topology.store(*store).name.clone(),
            },
            ServerEvent::Ndr { message, recipients, code, ndr, to } => TraceEvent::Ndr {
                message: m(message),
                recipients: self.addresses(recipients),
                code: code.as_str(),
                ndr: m(ndr),
                to: self.address(*to),
            },
            ServerEvent::Badmail { message, recipients, code } => {
                TraceEvent::Badmail { message: m(message), recipients: self.addresses(recipients), code: code.as_str() }
            }
            ServerEvent::QueueState { queue, state, failures, retry_in_ms, reason } => TraceEvent::QueueState {
                queue: self.queue(*queue),
                state: queue_state_name(*state),
                failures: *failures,
                retry_in_ms: *retry_in_ms,
                reason: reason.map(failure_name),
            },
            ServerEvent::Recovered { items, recipients } => {
                TraceEvent::Recovered { items: *items, recipients: *recipients }
            }
            ServerEvent::LinkStateChanged { groups, digest } => TraceEvent::LinkStateChanged {
                groups: groups
                    .iter()
                    .map(|(g, entry)| GroupEntry {
                        routing_group: self.resolved.topology.routing_group(*g).name.clone(),
                        version: entry.version.to_string(),
                        master: self.server_name(entry.master).into(),
                        down: entry.down.iter().map(|c| self.connector_name(*c)).collect(),
                    })
                    .collect(),
                digest: format!("{digest:016x}"),
            },
            ServerEvent::ConnectorDetected { connector, state } => {
                TraceEvent::ConnectorDetected { connector: self.connector_name(*connector), state: state.as_str() }
            }
            ServerEvent::LinkStateReviewed { connector, reported, decision } => TraceEvent::LinkStateReviewed {
                connector: self.connector_name(*connector),
                reported: reported.as_str(),
                verdict: match decision {
                    Decision::Unchanged => "unchanged".into(),
                    Decision::Apply(s) => format!("marked {}", s.as_str()),
                    Decision::Suppress(why) => format!("left as is: {}", why.as_str()),
                },
            },
        }
    }

    fn connector_name(&self, id: ConnectorId) -> String {
        self.resolved.topology.connector(id).name.clone()
    }

    /// Connectors can carry mail when their remote side accepts and some pair of their
    /// bridgeheads can reach each other. This is the world's truth, traced for readers
    /// of the trace; servers learn it only by trying (§4).
    fn recompute_connectors(&mut self, now: Instant) {
        let topology = self.resolved.topology.clone();
        for (i, c) in topology.connectors.iter().enumerate() {
            let reachable = c.source_bridgeheads.iter().any(|s| {
                c.target_bridgeheads.iter().any(|t| {
                    let (a, b) =
                        (self.resolved.server_site[usize::from(s.0)], self.resolved.server_site[usize::from(t.0)]);
                    self.wan.connected(a, b)
                })
            });
            let state =
                if reachable && !self.connector_admin_down[i] { ConnectorState::Up } else { ConnectorState::Down };
            if self.connector_state[i] == state {
                continue;
            }
            self.connector_state[i] = state;
            let event = TraceEvent::ConnectorState { connector: c.name.clone(), state: state.as_str() };
            self.record(now.as_ms(), "wan", &event);
        }
    }

    fn link_sample(&mut self, now: Instant, interval_ms: u64) {
        let bytes = self.wan.take_bytes();
        for (i, [ab, ba]) in bytes.into_iter().enumerate() {
            let event = TraceEvent::LinkSample {
                link: self.resolved.links[i].name.clone(),
                from_a_bytes: ab,
                from_b_bytes: ba,
                interval_ms,
                bits_per_s: self.resolved.links[i].bits_per_s,
            };
            self.record(now.as_ms(), "wan", &event);
        }
        let ls = std::mem::take(&mut self.link_state_interval);
        let event = TraceEvent::LinkStateSample { messages: ls.updates, bytes: ls.bytes, interval_ms };
        self.record(now.as_ms(), "link_state", &event);
        if let Some(dir) = self.resolved.directory.as_ref().filter(|d| d.replicating) {
            let backlogs = self.dc_backlogs();
            let dcs = backlogs
                .into_iter()
                .zip(&dir.replica_names)
                .map(|(backlog, name)| crate::trace::DcSample { dc: name.clone(), backlog })
                .collect();
            let bytes = std::mem::take(&mut self.ad_interval_bytes);
            let converged = self.directory_agreed_since.is_some();
            self.record(now.as_ms(), "directory", &TraceEvent::AdSample { dcs, bytes, interval_ms, converged });
        }
    }

    /// Sends something from `me` to `to` through the WAN model. A host that is down
    /// neither sends nor receives.
    /// One link state message of `bytes` was sent.
    fn count_link_state(&mut self, bytes: u64) {
        for totals in [&mut self.link_state, &mut self.link_state_interval] {
            totals.updates += 1;
            totals.bytes += bytes;
        }
    }

    fn transmit(&mut self, me: Node, to: Node, now_us: u64, bytes: u64, payload: Payload) {
        let down = |n: Node| match n {
            Node::Host(h) => !self.host_up[usize::from(h.0)],
            Node::Dc(d) => !self.dc_up[usize::from(d.0)],
            Node::Server(_) => false,
        };
        if down(me) || down(to) {
            return;
        }
        let (a, b) = (self.site(me), self.site(to));
        let Some(transit) = self.wan.transmit(now_us, a, b, bytes) else { return };
        let seq = self.next_wire;
        self.next_wire += 1;
        let wire = Box::new(Wire { from: me, arrive_us: transit.arrive_us, seq, epochs: transit.epochs, payload });
        // Sending fails only if the node died since; the packet is lost with it.
        match to {
            Node::Server(s) => {
                if let Some(inbox) = &self.inboxes[usize::from(s.0)] {
                    let _ = inbox.unbounded_send(Input::Wire(wire));
                }
            }
            Node::Host(h) => {
                if let Some(inbox) = &self.host_inboxes[usize::from(h.0)] {
                    let _ = inbox.unbounded_send(wire);
                }
            }
            Node::Dc(d) => {
                if let Some(inbox) = &self.dc_inboxes[usize::from(d.0)] {
                    let _ = inbox.unbounded_send(DcInput::Wire(wire));
                }
            }
        }
    }

    /// A replica (by index, of `domain`) now holds `meta` for an attribute: the winners
    /// and counts follow.
    fn replica_stored(
        &mut self,
        replica: usize,
        domain: usize,
        object: ObjectId,
        attribute: &str,
        meta: &AttributeMeta,
    ) {
        let bit = 1u128 << replica;
        let key = (object, attribute.to_string());
        match self.winners[domain].best.get_mut(&key) {
            None => {
                self.winners[domain].best.insert(key, (rank(meta), bit));
                self.at_best[replica] += 1;
            }
            Some((best, holders)) if rank(meta) > *best => {
                let mut held = *holders;
                while held != 0 {
                    self.at_best[held.trailing_zeros() as usize] -= 1;
                    held &= held - 1;
                }
                *best = rank(meta);
                *holders = bit;
                self.at_best[replica] += 1;
            }
            Some((best, holders)) if rank(meta) == *best && *holders & bit == 0 => {
                *holders |= bit;
                self.at_best[replica] += 1;
            }
            // A DC that replaced the winner with a lower-ranked write (a replication bug)
            // no longer holds the winner: the checks must not trust the component.
            Some((best, holders)) if rank(meta) < *best && *holders & bit != 0 => {
                *holders &= !bit;
                self.at_best[replica] -= 1;
            }
            Some(_) => {}
        }
    }

    /// Replication backlog of each replica: attributes of its domain whose winning write
    /// it does not hold yet.
    fn dc_backlogs(&self) -> Vec<u64> {
        let Some(dir) = &self.resolved.directory else { return Vec::new() };
        dir.replicas()
            .enumerate()
            .map(|(i, (_, domain))| self.winners[domain].best.len() as u64 - self.at_best[i])
            .collect()
    }
}

fn failure_name(reason: SessionFailure) -> String {
    match reason {
        SessionFailure::Timeout => "timeout".to_string(),
        SessionFailure::Reset => "connection reset".to_string(),
        SessionFailure::Rejected(code) => format!("rejected {code}"),
    }
}

fn queue_state_name(state: LinkQueueState) -> &'static str {
    match state {
        LinkQueueState::Ready => "ready",
        LinkQueueState::Active => "active",
        LinkQueueState::Retry => "retry",
    }
}

/// The madsim configuration of every run: madsim adds only a microsecond of its own
/// latency; the WAN model decides real delays.
pub fn madsim_config() -> madsim::Config {
    let mut config = madsim::Config::default();
    config.net.packet_loss_rate = 0.0;
    config.net.send_latency = StdDuration::from_micros(1)..StdDuration::from_micros(2);
    config
}

/// Runs a scenario at a seed in a fresh madsim runtime on this thread.
pub fn run(resolved: Arc<Resolved>, seed: u64, trace: Option<Box<dyn Write + Send>>) -> RunOutcome {
    let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim_config());
    runtime.block_on(simulate(resolved, trace))
}

/// The run itself, inside a madsim runtime (whose seed is the run seed).
pub async fn simulate(resolved: Arc<Resolved>, trace: Option<Box<dyn Write + Send>>) -> RunOutcome {
    let handle = Handle::current();
    let seed = handle.seed();
    let topology = resolved.topology.clone();
    let servers = topology.servers.len();

    let mut sink = TraceSink::new(trace);
    let header = TraceEvent::Run {
        orgsim_version: env!("CARGO_PKG_VERSION"),
        trace_format: TRACE_FORMAT,
        seed,
        file: resolved.file.clone(),
        scenario: serde_json::to_value(&resolved.scenario).expect("scenarios serialize"),
    };
    sink.record(0, "orgsim", &header);
    let timeline = resolved.timeline_for(seed);
    let steps = timeline
        .iter()
        .map(|(step, source)| {
            let mut v = serde_json::to_value(resolved.to_action(*step)).expect("actions serialize");
            v["source"] = serde_json::to_value(source).expect("sources serialize");
            v
        })
        .collect();
    sink.record(0, "orgsim", &TraceEvent::Timeline { steps });

    let populations = (0..servers)
        .map(|i| {
            let spec = resolved.workload.as_ref()?;
            let id = ServerId(i as u16);
            if resolved.mailboxes_by_server[i].is_empty() {
                return None;
            }
            let group = topology.server(id).routing_group;
            let same_group = topology
                .routing_group(group)
                .members
                .iter()
                .filter(|s| **s != id)
                .flat_map(|s| resolved.mailboxes_by_server[usize::from(s.0)].iter().copied())
                .collect();
            let pools = RecipientPools {
                all: Arc::new(resolved.mailboxes_by_server.iter().flatten().copied().collect()),
                same_server: resolved.mailboxes_by_server[i].clone(),
                same_group,
                unknown: Arc::new(resolved.unknown_addresses.clone()),
                external: Arc::new(resolved.external_addresses.clone()),
            };
            Some(ClientPopulation::new(&resolved, spec, id, pools, seed))
        })
        .collect();

    // The last fault or directory change: timeline steps, and recipients an
    // administrator creates or deletes on a DC.
    let recipient_writes = resolved.directory.iter().flat_map(|d| &d.dcs).flat_map(|d| d.recipient_writes.last());
    let last_fault = timeline.last().map(|(step, _)| step.at).into_iter().chain(recipient_writes.map(|w| w.0)).max();
    let last_fault = last_fault.unwrap_or(Instant::ZERO);
    let dc_count = resolved.directory.as_ref().map_or(0, |d| d.dcs.len());
    let replica_count = resolved.directory.as_ref().map_or(0, |d| d.replica_count());
    let topology_domains = resolved.scenario.topology.domains.len();
    let world: Shared = Arc::new(Mutex::new(World {
        resolved: resolved.clone(),
        seed,
        start: madsim::time::Instant::now(),
        trace: sink,
        checker: Checker::new(
            &resolved.invariants,
            &resolved.expectations,
            topology.servers.iter().map(|s| s.name.clone()).collect(),
            topology.clone(),
            last_fault,
        ),
        sometimes: crate::sometimes::Tally::new(&resolved.scenario.checks.sometimes),
        unflushed: vec![0; servers],
        wan: Wan::new(
            &resolved.links,
            resolved.lan_bits_per_s,
            resolved.lan_latency_ms,
            topology.bug(org::planted_bugs::PlantedBug::WanIgnoresDownLinks),
        ),
        disks: vec![DiskImage::default(); servers],
        populations,
        inboxes: (0..servers).map(|_| None).collect(),
        host_inboxes: topology.internet.hosts.iter().map(|_| None).collect(),
        host_up: vec![true; topology.internet.hosts.len()],
        dc_inboxes: (0..dc_count).map(|_| None).collect(),
        dc_up: vec![true; dc_count],
        winners: vec![Winners::default(); topology_domains],
        at_best: vec![0; replica_count],
        dc_summaries: vec![DcSummary::default(); replica_count],
        ad_bytes: 0,
        ad_interval_bytes: 0,
        directory_agreed_since: Some(0),
        incarnation: vec![0; servers],
        connector_admin_down: vec![false; topology.connectors.len()],
        connector_state: vec![ConnectorState::Up; topology.connectors.len()],
        masters: topology.routing_groups.iter().map(|g| g.master).collect(),
        link_state: LinkStateTotals::default(),
        link_state_interval: LinkStateTotals::default(),
        next_message: 1,
        next_wire: 0,
    }));

    let nodes: Vec<NodeHandle> = (0..servers)
        .map(|i| {
            let id = ServerId(i as u16);
            let w = world.clone();
            handle
                .create_node()
                .name(topology.server(id).name.clone())
                .ip(server_ip(id))
                .init(move || server_node(w.clone(), id))
                .build()
        })
        .collect();

    let hosts: Vec<NodeHandle> = (0..topology.internet.hosts.len())
        .map(|i| {
            let id = HostId(i as u16);
            let w = world.clone();
            handle
                .create_node()
                .name(topology.host(id).name.clone())
                .ip(host_ip(id))
                .init(move || host_node(w.clone(), id))
                .build()
        })
        .collect();

    if let Some(dir) = resolved.directory.as_ref().filter(|d| d.replicating) {
        let replicas = dir.replica_names.iter().cloned().zip(dir.replicas().map(|(_, d)| d)).collect();
        lock(&world).checker.set_directory(replicas);
    }
    let dcs: Vec<NodeHandle> = (0..dc_count)
        .map(|i| {
            let id = DcId(i as u16);
            let w = world.clone();
            handle
                .create_node()
                .name(resolved.dc_name(id))
                .ip(IpAddr::V4(Ipv4Addr::new(10, 3, (i >> 8) as u8, (i & 0xff) as u8 + 1)))
                .init(move || dc_node(w.clone(), id))
                .build()
        })
        .collect();

    let timeline: Vec<_> = timeline.into_iter().map(|(step, _)| step).collect();
    supervise(&world, &handle, &nodes, &timeline).await;

    let outcome = {
        let mut w = lock(&world);
        let now = Instant(resolved.duration_ms);
        let disks = w.disks.clone();
        let link_state_messages = w.link_state.updates;
        let (checks, messages) = w.checker.finish(&disks, link_state_messages, &|m, r| pair_name(&resolved, m, r));
        for c in &checks {
            let event = TraceEvent::Check { check: c.name.clone(), ok: c.ok, detail: c.detail.clone() };
            w.record(now.as_ms(), "checks", &event);
        }
        let sometimes = w.sometimes.results();
        for r in &sometimes {
            let event = TraceEvent::Sometimes { property: r.name.clone(), hits: r.hits };
            w.record(now.as_ms(), "checks", &event);
        }
        let sink = std::mem::replace(&mut w.trace, TraceSink::new(None));
        let (events, trace_sha256, trace_error) = sink.finish();
        RunOutcome {
            scenario: resolved.scenario.name.clone(),
            seed,
            sim_seconds: resolved.duration_ms as f64 / 1_000.0,
            events,
            trace_sha256,
            messages,
            link_state: w.link_state,
            directory: resolved.directory.as_ref().filter(|d| d.replicating).map(|_| DirectoryTotals {
                replication_bytes: w.ad_bytes,
                converged_at_s: w.directory_agreed_since.map(|t| t as f64 / 1_000.0),
            }),
            checks,
            sometimes,
            trace_error,
            tables: w.checker.tables().to_vec(),
            connectors: w.connector_state.clone(),
            dcs: {
                let backlogs = w.dc_backlogs();
                let mut dcs = w.dc_summaries.clone();
                let hosts: Vec<DcId> = resolved.directory.iter().flat_map(|d| d.replicas()).map(|(h, _)| h).collect();
                for (i, dc) in dcs.iter_mut().enumerate() {
                    dc.backlog = backlogs[i];
                    dc.up = w.dc_up[usize::from(hosts[i].0)];
                }
                dcs
            },
        }
    };
    // The node tasks hold the world and every server's state; madsim drops a task only
    // when its node is killed and the executor runs again. Without this, each run in a
    // sweep or score would leak its whole organization.
    for node in nodes.iter().chain(&hosts).chain(&dcs) {
        handle.kill(node.id());
    }
    madsim::time::sleep(StdDuration::from_millis(1)).await;
    outcome
}

/// Plays the timeline, takes link samples, records deadlines, until the run's end.
async fn supervise(world: &Shared, handle: &Handle, nodes: &[NodeHandle], timeline: &[TimedAction]) {
    let (resolved, start) = {
        let w = lock(world);
        (w.resolved.clone(), w.start)
    };
    let end = resolved.duration_ms;
    let interval = resolved.sample_interval_ms;
    let mut deadlines = lock(world).checker.deadlines();
    deadlines.sort_by_key(|(i, at)| (*at, *i));
    let mut deadlines = deadlines.into_iter().peekable();
    let mut actions = timeline.iter().peekable();
    let mut next_sample = interval;
    loop {
        let next_action = actions.peek().map_or(u64::MAX, |a| a.at.as_ms());
        let next_deadline = deadlines.peek().map_or(u64::MAX, |(_, at)| at.as_ms());
        let t = next_action.min(next_deadline).min(next_sample).min(end);
        madsim::time::sleep_until(start + StdDuration::from_millis(t)).await;
        let now = Instant(t);
        while let Some(action) = actions.next_if(|a| a.at.as_ms() <= t) {
            apply(world, handle, nodes, now, action.action);
        }
        if next_sample <= t {
            lock(world).link_sample(now, interval);
            next_sample += interval;
        }
        while let Some((index, _)) = deadlines.next_if(|(_, at)| at.as_ms() <= t) {
            lock(world).checker.deadline_reached(index);
        }
        if t >= end {
            // What the servers do at the last instant (an action at the end) belongs to
            // the run: let them run before the clock stops (madsim's network takes
            // longer than this, so nothing from later slips in).
            madsim::time::sleep(StdDuration::from_nanos(100)).await;
            break;
        }
    }
    let tail = end % interval;
    if tail != 0 {
        lock(world).link_sample(Instant(end), tail);
    }
}

fn apply(world: &Shared, handle: &Handle, nodes: &[NodeHandle], now: Instant, action: WorldAction) {
    let mut w = lock(world);
    match action {
        WorldAction::ModifyRecipient(i) => {
            let m = &w.resolved.modifications[i];
            let event = TraceEvent::RecipientModified {
                recipient: w.address(m.recipient),
                attributes: m.change.attribute_names(),
            };
            // With replication the change is a write on its DC, seen where it replicates.
            if let Some(dc) = m.dc {
                let attrs = m.written.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                let write = (recipient_object(m.recipient), attrs);
                if let Some(inbox) = &w.dc_inboxes[usize::from(dc.0)] {
                    let _ = inbox.unbounded_send(DcInput::ModifyRecipient(write));
                }
            }
            w.record(now.as_ms(), "directory", &event);
        }
        WorldAction::Send(i) => {
            let spec = w.resolved.sends[i].clone();
            for _ in 0..spec.count {
                let number = w.next_message;
                w.next_message += 1;
                let message = Message {
                    id: MessageId::Client(number),
                    kind: MessageKind::Normal,
                    sender: Some(spec.sender),
                    size_bytes: spec.size_bytes,
                    submitted_at: now,
                    hop_count: 0,
                    authenticated: spec.authenticated,
                    header_recipients: spec.recipients.as_slice().into(),
                };
                // A server that is down takes nothing: the client's submission fails
                // and nothing was accepted.
                if let Some(inbox) = &w.inboxes[usize::from(spec.server.0)] {
                    let mapi = spec.mapi;
                    let _ = inbox.unbounded_send(Input::Submit(Box::new(message), spec.recipients.clone(), mapi));
                }
            }
        }
        WorldAction::LinkDown(l) | WorldAction::LinkUp(l) => {
            let up = matches!(action, WorldAction::LinkUp(_));
            if w.wan.set_up(l, up) {
                let event = TraceEvent::LinkState {
                    link: w.resolved.links[l].name.clone(),
                    state: if up { "up" } else { "down" },
                };
                w.record(now.as_ms(), "wan", &event);
                w.recompute_connectors(now);
            }
        }
        WorldAction::ConnectorDown(c) | WorldAction::ConnectorUp(c) => {
            let down = matches!(action, WorldAction::ConnectorDown(_));
            w.connector_admin_down[usize::from(c.0)] = down;
            for s in w.resolved.topology.connector(c).source_bridgeheads.clone() {
                if let Some(inbox) = &w.inboxes[usize::from(s.0)] {
                    let _ = inbox.unbounded_send(Input::ConnectorService(c, !down));
                }
            }
            w.recompute_connectors(now);
        }
        WorldAction::SetMaster(g, s) => {
            w.masters[usize::from(g.0)] = s;
            let event = TraceEvent::MasterChanged {
                routing_group: w.resolved.topology.routing_group(g).name.clone(),
                server: w.server_name(s).into(),
            };
            w.record(now.as_ms(), "directory", &event);
            for inbox in w.inboxes.iter().flatten() {
                let _ = inbox.unbounded_send(Input::MasterChange(g, s));
            }
        }
        WorldAction::Crash(s) => {
            w.inboxes[usize::from(s.0)] = None;
            w.checker.server_stopped(s);
            let lost_writes = std::mem::take(&mut w.unflushed[usize::from(s.0)]);
            w.sometimes.crashed(lost_writes > 0);
            let node = w.server_name(s).to_string();
            w.record(now.as_ms(), &node, &TraceEvent::ServerCrashed { lost_writes });
            drop(w);
            handle.kill(nodes[usize::from(s.0)].id());
        }
        WorldAction::DirectoryChange { dc, count, attributes, urgent, delete } => {
            if let Some(inbox) = &w.dc_inboxes[usize::from(dc.0)] {
                let _ = inbox.unbounded_send(DcInput::Write { count, attributes, urgent, delete });
            }
        }
        WorldAction::ClockSkew(dc, skew_ms) => {
            if let Some(inbox) = &w.dc_inboxes[usize::from(dc.0)] {
                let _ = inbox.unbounded_send(DcInput::ClockSkew(skew_ms));
            }
            let event = TraceEvent::DcClock { dc: w.resolved.dc_name(dc), skew_ms };
            w.record(now.as_ms(), "directory", &event);
        }
        WorldAction::DcDown(dc) | WorldAction::DcUp(dc) => {
            let up = matches!(action, WorldAction::DcUp(_));
            if w.dc_up[usize::from(dc.0)] != up {
                w.dc_up[usize::from(dc.0)] = up;
                let event = TraceEvent::DcState { dc: w.resolved.dc_name(dc), state: if up { "up" } else { "down" } };
                w.record(now.as_ms(), "directory", &event);
            }
        }
        WorldAction::HostDown(h) | WorldAction::HostUp(h) => {
            let up = matches!(action, WorldAction::HostUp(_));
            if w.host_up[usize::from(h.0)] != up {
                w.host_up[usize::from(h.0)] = up;
                let event = TraceEvent::HostState { host: w.host_name(h), state: if up { "up" } else { "down" } };
                w.record(now.as_ms(), "internet", &event);
            }
        }
        WorldAction::Restart(s) => {
            w.incarnation[usize::from(s.0)] += 1;
            drop(w);
            handle.restart(nodes[usize::from(s.0)].id());
        }
    }
}

/// One Exchange server's node: starts from its disk, then serves until killed.
async fn server_node(world: Shared, id: ServerId) {
    let i = usize::from(id.0);
    let (tx, mut rx) = unbounded::<Input>();
    let (mut server, start, interval) = {
        let mut w = lock(&world);
        let now_ms = w.now_us() / 1_000;
        let incarnation = w.incarnation[i];
        let name = w.server_name(id).to_string();
        if incarnation > 0 {
            w.record(now_ms, &name, &TraceEvent::ServerRestarted { incarnation });
        }
        let rng = Box::new(Stream::new(w.seed, &format!("server:{name}/smtp#{incarnation}")));
        let topology = w.resolved.topology.clone();
        let start = StartConditions {
            masters: w.masters.clone(),
            stopped_connectors: (0..topology.connectors.len())
                .map(|c| ConnectorId(c as u16))
                .filter(|c| w.connector_admin_down[usize::from(c.0)])
                .filter(|c| topology.connector(*c).source_bridgeheads.contains(&id))
                .collect(),
        };
        let server = ExchangeServer::recover(id, topology, &w.disks[i], &start, rng, incarnation, Instant(now_ms));
        w.checker.server_started(id, server.link_state_table().org_info().clone());
        if let Some(p) = w.populations[i].as_mut() {
            p.skip_to(Instant(now_ms));
        }
        w.inboxes[i] = Some(tx);
        (server, w.start, w.resolved.sample_interval_ms)
    };
    let mut held: BTreeMap<(u64, u64), Box<Wire>> = BTreeMap::new();
    let mut registered: Option<madsim::time::Instant> = None;
    let first_now = lock(&world).now_us() / 1_000;
    let mut next_sample_ms = (first_now / interval + 1) * interval;
    loop {
        let now_us = lock(&world).now_us();
        let now = Instant(now_us / 1_000);
        while let Some(entry) = held.first_entry() {
            if entry.key().0 > now_us {
                break;
            }
            let wire = entry.remove();
            if lock(&world).wan.intact(&wire.epochs) {
                match (wire.from, wire.payload) {
                    (Node::Server(from), Payload::Smtp(packet)) => server.handle_packet(now, from, packet),
                    (Node::Server(from), Payload::LinkState(m)) => server.handle_link_state(now, from, m),
                    (Node::Host(from), Payload::Smtp(packet)) => server.handle_host_packet(now, from, packet),
                    (Node::Host(from), Payload::DnsReply(reply)) => server.handle_dns_reply(now, from, reply),
                    (Node::Dc(from), Payload::LdapPage(page)) => server.handle_ldap_page(now, from, page),
                    (from, _) => debug_assert!(false, "no such packet from {from:?} to a server"),
                }
            }
        }
        if server.poll_timeout().is_some_and(|t| t <= now) {
            server.handle_timeout(now);
        }
        loop {
            let submission = {
                let mut w = lock(&world);
                let w = &mut *w;
                let next_message = &mut w.next_message;
                w.populations[i].as_mut().and_then(|p| {
                    p.submit_due(now, || {
                        let n = *next_message;
                        *next_message += 1;
                        n
                    })
                })
            };
            match submission {
                Some((message, recipients)) => server.handle_submit(now, message, recipients),
                None => break,
            }
        }
        if now.as_ms() >= next_sample_ms {
            let mut w = lock(&world);
            let queues = server
                .queue_snapshot()
                .into_iter()
                .map(|q| QueueSample {
                    queue: w.queue(q.queue),
                    state: q.state.map(queue_state_name),
                    messages: q.messages,
                })
                .collect();
            let name = w.server_name(id).to_string();
            w.record(next_sample_ms, &name, &TraceEvent::QueueSample { queues });
            if let Some(stats) = server.dsaccess_stats() {
                let event =
                    TraceEvent::DsAccessSample { hits: stats.hits, misses: stats.misses, entries: stats.entries };
                w.record(next_sample_ms, &name, &event);
            }
            next_sample_ms += interval;
        }
        apply_outputs(&world, id, now_us, server.drain_outputs(), server.unflushed_writes());

        let population_next = lock(&world).populations[i].as_ref().and_then(|p| p.next_at());
        let deadline_us = [
            held.first_key_value().map(|(k, _)| k.0),
            server.poll_timeout().map(|t| t.as_ms() * 1_000),
            population_next.map(|t| t.as_ms() * 1_000),
            Some(next_sample_ms * 1_000),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("the sample timer is always set");
        if deadline_us <= now_us {
            continue;
        }
        let deadline = start + StdDuration::from_micros(deadline_us);
        match wait(&mut rx, Some(deadline), &mut registered).await {
            Some(Some(Input::Wire(wire))) => {
                held.insert((wire.arrive_us, wire.seq), wire);
            }
            Some(Some(Input::MasterChange(g, s))) => {
                let now = Instant(lock(&world).now_us() / 1_000);
                server.handle_master_change(now, g, s);
            }
            Some(Some(Input::ConnectorService(c, running))) => server.handle_connector_service(c, running),
            Some(Some(Input::Submit(message, recipients, mapi))) => {
                let now = Instant(lock(&world).now_us() / 1_000);
                if mapi {
                    server.handle_submit(now, *message, recipients);
                } else {
                    server.handle_smtp_submit(now, *message, recipients);
                }
            }
            Some(None) => return, // the world dropped this node's inbox: it was killed
            None => {}
        }
    }
}

/// Waits for an input or the deadline (`Some(None)`: the inbox was dropped; `None`: the
/// deadline came). A madsim `Sleep` registers a new timer each time it is polled, so a
/// timer is registered only when the deadline changes; an earlier one that fires after
/// its deadline moved is a spurious wake-up.
async fn wait<T>(
    rx: &mut futures::channel::mpsc::UnboundedReceiver<T>,
    deadline: Option<madsim::time::Instant>,
    registered: &mut Option<madsim::time::Instant>,
) -> Option<Option<T>> {
    futures::future::poll_fn(|cx| {
        if let Poll::Ready(input) = rx.poll_next_unpin(cx) {
            return Poll::Ready(Some(input));
        }
        let Some(deadline) = deadline else { return Poll::Pending };
        if madsim::time::Instant::now() >= deadline {
            return Poll::Ready(None);
        }
        if *registered != Some(deadline) {
            let mut sleep = Box::pin(madsim::time::sleep_until(deadline));
            let _ = sleep.as_mut().poll(cx);
            *registered = Some(deadline);
        }
        Poll::Pending
    })
    .await
}

/// A host beyond the organization: answers SMTP sessions (mail hosts, smart hosts,
/// foreign MTAs) or MX queries (DNS servers) when its packets arrive, unless it is down.
async fn host_node(world: Shared, id: HostId) {
    let (tx, mut rx) = unbounded::<Box<Wire>>();
    let (start, role, internet) = {
        let mut w = lock(&world);
        w.host_inboxes[usize::from(id.0)] = Some(tx);
        let topology = w.resolved.topology.clone();
        (w.start, topology.host(id).role, topology)
    };
    let mut mail = InternetMailHost::new();
    let mut held: BTreeMap<(u64, u64), Box<Wire>> = BTreeMap::new();
    let mut registered = None;
    loop {
        let now_us = lock(&world).now_us();
        while let Some(entry) = held.first_entry() {
            if entry.key().0 > now_us {
                break;
            }
            let wire = entry.remove();
            let mut w = lock(&world);
            if !w.host_up[usize::from(id.0)] || !w.wan.intact(&wire.epochs) {
                continue;
            }
            let Node::Server(from) = wire.from else { continue };
            match (role, wire.payload) {
                (HostRole::Mail | HostRole::Mta, Payload::Smtp(packet)) => {
                    for reply in mail.handle_packet(from, packet) {
                        let bytes = reply.wire_size_bytes(&w.resolved.topology);
                        w.transmit(Node::Host(id), Node::Server(from), now_us, bytes, Payload::Smtp(reply));
                    }
                }
                (HostRole::Dns, Payload::DnsQuery(query)) => {
                    let reply = org::transport::dns::answer(&internet.internet, query);
                    let bytes = org::transport::dns::wire_size_bytes(reply.mx.as_ref().map_or(0, Vec::len));
                    w.transmit(Node::Host(id), Node::Server(from), now_us, bytes, Payload::DnsReply(reply));
                }
                // A packet a host of this role does not serve: the port is closed.
                _ => {}
            }
        }
        let deadline = held.first_key_value().map(|(k, _)| start + StdDuration::from_micros(k.0));
        match wait(&mut rx, deadline, &mut registered).await {
            Some(Some(wire)) => {
                held.insert((wire.arrive_us, wire.seq), wire);
            }
            Some(None) => return,
            None => {}
        }
    }
}

/// What a GC spends on each entry it returns to a paged search [U]: a 1,000-entry page
/// takes a second, so a 100,000-member expansion takes minutes, as large QBDGs did.
const LDAP_ENTRY_COST_US: u64 = 1_000;

/// A GC's paged searches in progress: a group's full result is computed on its first
/// page and served from here (Active Directory keeps paged-search state per connection).
struct GcSearches {
    domain: AdDomainId,
    /// How this GC's Windows version evaluates filters.
    logic: org::directory::ldap_filter::Logic,
    results: BTreeMap<(ServerId, GroupId), Result<Vec<AddressId>, ExpansionError>>,
}

impl GcSearches {
    fn new(domain: AdDomainId, logic: org::directory::ldap_filter::Logic) -> Self {
        GcSearches { domain, logic, results: BTreeMap::new() }
    }

    /// The answer to `search`: a page of a group's members, or the entries of the
    /// addresses asked that mail can reach now.
    fn answer(
        &mut self,
        catalog: &GlobalCatalog,
        from: ServerId,
        search: &LdapSearch,
        view: &impl DirectoryView,
    ) -> LdapPage {
        let (group, page) = match &search.query {
            LdapQuery::Members { group, page } => (*group, *page),
            LdapQuery::Resolve(addresses) => {
                let found = addresses.iter().copied().filter(|a| catalog.usable_in(*a, view).is_some()).collect();
                return LdapPage { search: search.search, page: 0, result: Ok(found), more: false };
            }
        };
        let key = (from, group);
        if page == 0 || !self.results.contains_key(&key) {
            self.results.insert(key, catalog.members(group, self.domain, view, self.logic));
        }
        let start = page as usize * LDAP_PAGE_SIZE;
        let (result, more) = match &self.results[&key] {
            Err(e) => (Err(e.clone()), false),
            Ok(all) => {
                let end = (start + LDAP_PAGE_SIZE).min(all.len());
                (Ok(all.get(start..end).unwrap_or_default().to_vec()), end < all.len())
            }
        };
        if !more {
            self.results.remove(&key);
        }
        LdapPage { search: search.search, page, result, more }
    }
}

/// Attribute names a bulk change writes, in order [U].
const CHANGED_ATTRIBUTES: [&str; 8] =
    ["displayname", "department", "title", "description", "telephonenumber", "company", "office", "manager"];

/// A domain controller: its replica and replication schedule; bulk changes from the
/// timeline; what it stores and sends, traced and accounted.
async fn dc_node(world: Shared, id: DcId) {
    let (tx, mut rx) = unbounded::<DcInput>();
    let (start, mut dc, name, mut admin, mut partials, domain, logic) = {
        let mut w = lock(&world);
        w.dc_inboxes[usize::from(id.0)] = Some(tx);
        let spec = w.dc_spec(id).clone();
        let now = Instant(w.now_us() / 1_000);
        let mut rng = Stream::new(w.seed, &format!("dc:{}/replication", spec.name));
        let plants = w.resolved.topology.plants;
        let admin = RecipientAdmin::new(&spec);
        let dc =
            DomainController::new(id, spec.version, spec.inbound, spec.notify_targets.clone(), now, &mut rng, plants);
        // A GC's partial replicas of the other domains, each pulled on its own schedule.
        let dir = w.resolved.directory.as_ref().expect("DC nodes exist only with a directory");
        let partials: Vec<PartialReplica> = dir
            .partials
            .iter()
            .enumerate()
            .filter(|(_, p)| p.host == id)
            .map(|(k, p)| {
                let index = dir.dcs.len() + k;
                let replica =
                    DomainController::new(id, spec.version, p.inbound.clone(), Vec::new(), now, &mut rng, plants);
                PartialReplica { domain: p.domain, index, name: dir.replica_names[index].clone(), dc: replica }
            })
            .collect();
        (w.start, dc, spec.name, admin, partials, spec.domain, spec.version.filter_logic())
    };
    let mut held: BTreeMap<(u64, u64), Box<Wire>> = BTreeMap::new();
    // GC answers being prepared: (ready, search, asking server) → page.
    let mut ldap_out: BTreeMap<(u64, org::directory::global_catalog::LdapSearchId, ServerId), LdapPage> =
        BTreeMap::new();
    let mut gc = GcSearches::new(AdDomainId(domain as u16), logic);
    let (replicating, domain_count) = {
        let w = lock(&world);
        (w.resolved.directory.as_ref().is_some_and(|d| d.replicating), w.resolved.scenario.topology.domains.len())
    };
    let mut registered = None;
    loop {
        let now_us = lock(&world).now_us();
        let now = Instant(now_us / 1_000);
        while let Some(entry) = held.first_entry() {
            if entry.key().0 > now_us {
                break;
            }
            let wire = entry.remove();
            let usable = {
                let w = lock(&world);
                w.dc_up[usize::from(id.0)] && w.wan.intact(&wire.epochs)
            };
            if let (true, Node::Server(from), Payload::Ldap(search)) = (usable, wire.from, &wire.payload) {
                let topology = lock(&world).resolved.topology.clone();
                // A GC answers from its replicas when the directory replicates.
                let page = if replicating && !topology.bug(org::planted_bugs::PlantedBug::GcIgnoresReplication) {
                    let mut replicas = vec![None; domain_count];
                    replicas[domain] = Some(dc.replica());
                    for p in &partials {
                        replicas[p.domain] = Some(p.dc.replica());
                    }
                    gc.answer(&topology.directory, from, search, &ReplicaView { replicas: &replicas, now })
                } else {
                    gc.answer(&topology.directory, from, search, &AsOf(now))
                };
                // [U]: the GC spends LDAP_ENTRY_COST_US on each entry it returns.
                let entries = page.result.as_ref().map_or(0, |m| m.len() as u64);
                let ready_us = now_us + LDAP_ENTRY_COST_US * entries.max(1);
                ldap_out.insert((ready_us, search.search, from), page);
                continue;
            }
            if let (true, Node::Dc(from), Payload::Ad(nc, message)) = (usable, wire.from, wire.payload) {
                let incoming: Vec<(ObjectId, String, AttributeMeta)> = match &message {
                    DcMessage::Changes(batch) => {
                        batch.changes.iter().map(|c| (c.object, c.attribute.clone(), c.meta)).collect()
                    }
                    _ => Vec::new(),
                };
                let nc = usize::from(nc.0);
                if nc == domain {
                    dc.handle_message(now, from, message);
                    report_stored(&world, usize::from(id.0), domain, dc.replica(), &incoming);
                } else if let Some(p) = partials.iter_mut().find(|p| p.domain == nc) {
                    p.dc.handle_message(now, from, message);
                    report_stored(&world, p.index, nc, p.dc.replica(), &incoming);
                }
            }
        }
        while let Some(entry) = ldap_out.first_entry() {
            if entry.key().0 > now_us {
                break;
            }
            let ((_, _, to), page) = entry.remove_entry();
            let mut w = lock(&world);
            if w.dc_up[usize::from(id.0)] {
                let bytes = page.wire_size_bytes();
                w.transmit(Node::Dc(id), Node::Server(to), now_us, bytes, Payload::LdapPage(page));
            }
        }
        if admin.deadline().is_some_and(|t| t <= now) {
            admin.step(&world, &mut dc, &name, now);
        }
        if dc.poll_timeout().is_some_and(|t| t <= now) {
            dc.handle_timeout(now);
        }
        for p in &mut partials {
            if p.dc.poll_timeout().is_some_and(|t| t <= now) {
                p.dc.handle_timeout(now);
            }
        }
        {
            let mut w = lock(&world);
            send_outputs(&mut w, &mut dc, AdDomainId(domain as u16), &name, now_us);
            for p in &mut partials {
                send_outputs(&mut w, &mut p.dc, AdDomainId(p.domain as u16), &p.name, now_us);
            }
            if replicating {
                w.checker.dc_digest(usize::from(id.0), dc.replica().digest());
                for p in &partials {
                    w.checker.dc_digest(p.index, p.dc.replica().digest());
                }
                w.dc_summaries[usize::from(id.0)] = DcSummary::of(dc.replica());
                for p in &partials {
                    w.dc_summaries[p.index] = DcSummary::of(p.dc.replica());
                }
                let backlogs = w.dc_backlogs();
                w.checker.set_dc_backlogs(backlogs);
                let agreed = w.checker.directory_agreement().is_ok();
                match (agreed, w.directory_agreed_since) {
                    (true, None) => w.directory_agreed_since = Some(now.as_ms()),
                    (false, Some(_)) => w.directory_agreed_since = None,
                    _ => {}
                }
            }
        }
        let deadline_us = [
            held.first_key_value().map(|(k, _)| k.0),
            ldap_out.first_key_value().map(|(k, _)| k.0),
            dc.poll_timeout().map(|t| t.as_ms() * 1_000),
            partials.iter().filter_map(|p| p.dc.poll_timeout()).min().map(|t| t.as_ms() * 1_000),
            admin.deadline().map(|t| t.as_ms() * 1_000),
        ]
        .into_iter()
        .flatten()
        .min();
        let deadline = deadline_us.map(|us| start + StdDuration::from_micros(us.max(now_us)));
        match wait(&mut rx, deadline, &mut registered).await {
            Some(Some(DcInput::Wire(wire))) => {
                held.insert((wire.arrive_us, wire.seq), wire);
            }
            Some(Some(DcInput::Write { count, attributes, urgent, delete })) => {
                let now = Instant(lock(&world).now_us() / 1_000);
                let writes: Vec<ObjectWrite> = (1..=u64::from(count))
                    .map(|n| {
                        if delete {
                            let tombstone = vec![(
                                org::directory::ad_replication::IS_DELETED.to_string(),
                                vec!["TRUE".to_string()],
                            )];
                            return (ObjectId(n), tombstone);
                        }
                        let attrs = CHANGED_ATTRIBUTES
                            .iter()
                            .cycle()
                            .take(attributes as usize)
                            .enumerate()
                            .map(|(k, a)| {
                                (
                                    format!("{a}{}", k / CHANGED_ATTRIBUTES.len()),
                                    vec![format!("{a}-{n}-{}", now.as_ms())],
                                )
                            })
                            .collect();
                        (ObjectId(n), attrs)
                    })
                    .collect();
                originate(&world, &mut dc, &name, now, &writes, urgent);
            }
            Some(Some(DcInput::ModifyRecipient(write))) => {
                let now = Instant(lock(&world).now_us() / 1_000);
                originate(&world, &mut dc, &name, now, &[write], false);
            }
            Some(Some(DcInput::ClockSkew(skew_ms))) => {
                // One machine, one clock: every replica it holds writes with it.
                dc.handle_clock_skew(skew_ms);
                for p in &mut partials {
                    p.dc.handle_clock_skew(skew_ms);
                }
            }
            Some(None) => return,
            None => {}
        }
    }
}

/// A GC's partial replica of another domain: its own replication state, pulled like a
/// full replica but never written to (EXCHANGE2003.md §2).
struct PartialReplica {
    /// The domain.
    domain: usize,
    /// Its replica index (see `DirectorySpec::replicas`).
    index: usize,
    /// `DC/domain`, as traces name it.
    name: String,
    dc: DomainController,
}

/// Sends what one replica of a DC asks to send (its naming context tagged) and traces
/// what it did.
fn send_outputs(w: &mut World, dc: &mut DomainController, nc: AdDomainId, name: &str, now_us: u64) {
    let now = Instant(now_us / 1_000);
    let id = dc.id();
    for out in dc.drain_outputs() {
        match out {
            DcOutput::Send { to, message } => {
                let bytes = message.wire_size_bytes();
                if w.dc_up[usize::from(id.0)] {
                    w.ad_bytes += bytes;
                    w.ad_interval_bytes += bytes;
                }
                w.transmit(Node::Dc(id), Node::Dc(to), now_us, bytes, Payload::Ad(nc, message));
            }
            DcOutput::Event(DcEvent::Applied { source, stored, discarded, more }) => {
                let event = TraceEvent::AdReplicated { source: w.resolved.dc_name(source), stored, discarded, more };
                w.record(now.as_ms(), name, &event);
            }
            DcOutput::Event(DcEvent::Originated { attributes, usn }) => {
                w.record(now.as_ms(), name, &TraceEvent::DirectoryChange { attributes, usn });
            }
            DcOutput::Event(DcEvent::PullTimedOut { source }) => {
                let event = TraceEvent::AdPullTimedOut { source: w.resolved.dc_name(source) };
                w.record(now.as_ms(), name, &event);
            }
        }
    }
}

/// An originating write on a DC, refused (and traced) while the DC is down; whether it
/// was made.
fn originate(
    world: &Shared,
    dc: &mut DomainController,
    name: &str,
    now: Instant,
    writes: &[ObjectWrite],
    urgent: bool,
) -> bool {
    if !lock(world).dc_up[usize::from(dc.id().0)] {
        let event = TraceEvent::DirectoryChangeRefused { objects: writes.len() as u32 };
        lock(world).record(now.as_ms(), name, &event);
        return false;
    }
    dc.handle_writes(now, writes, urgent);
    let written: Vec<(ObjectId, String, AttributeMeta)> = writes
        .iter()
        .flat_map(|(object, attrs)| attrs.iter().map(move |(a, _)| (*object, a.to_ascii_lowercase())))
        .filter_map(|(object, a)| {
            let meta = dc.replica().object(object)?.attributes.get(&a)?.meta;
            Some((object, a, meta))
        })
        .collect();
    let domain = lock(world).dc_spec(dc.id()).domain;
    report_stored(world, usize::from(dc.id().0), domain, dc.replica(), &written);
    true
}

/// The recipient writes an administrator or the RUS makes on a DC (with replication):
/// creations and deletions due by `now` from `due`, and a RUS pass when one falls due.
struct RecipientAdmin {
    due: std::collections::VecDeque<(Instant, AddressId, RecipientWrite)>,
    /// The RUS's interval, if one is bound to this DC.
    rus_interval_ms: u64,
    /// Recipients the RUS has yet to stamp (or see deleted).
    unstamped: Vec<AddressId>,
    /// When its next pass falls (none once nothing is left to stamp).
    next_pass: Option<Instant>,
}

impl RecipientAdmin {
    fn new(spec: &crate::resolve::DcSpec) -> Self {
        let rus: Option<&RusSpec> = spec.rus.as_ref();
        RecipientAdmin {
            due: spec.recipient_writes.iter().copied().collect(),
            rus_interval_ms: rus.map_or(0, |r| r.interval_ms),
            unstamped: rus.map_or_else(Vec::new, |r| r.recipients.clone()),
            next_pass: rus.filter(|r| !r.recipients.is_empty()).map(|r| Instant(r.interval_ms)),
        }
    }

    fn deadline(&self) -> Option<Instant> {
        [self.due.front().map(|w| w.0), self.next_pass].into_iter().flatten().min()
    }

    /// Makes the writes due by `now`: a RUS pass first, so a recipient created at the
    /// instant of a pass waits for the next one (as without replication).
    fn step(&mut self, world: &Shared, dc: &mut DomainController, name: &str, now: Instant) {
        self.pass(world, dc, name, now);
        while self.due.front().is_some_and(|w| w.0 <= now) {
            let (_, address, write) = self.due.pop_front().expect("checked");
            let (change, attrs) = match write {
                RecipientWrite::Create => {
                    let class = lock(world).resolved.topology.directory.object(address).map(|o| o.class);
                    let classes = class.map_or(&[][..], |c| c.ldap_classes());
                    ("created", vec![(CREATED_ATTRIBUTE.to_string(), classes.iter().map(|c| c.to_string()).collect())])
                }
                RecipientWrite::Delete => (
                    "deleted",
                    vec![(org::directory::ad_replication::IS_DELETED.to_string(), vec!["TRUE".to_string()])],
                ),
            };
            if originate(world, dc, name, now, &[(recipient_object(address), attrs)], false) {
                let mut w = lock(world);
                let event = TraceEvent::RecipientsWritten { change, recipients: vec![w.address(address)] };
                w.record(now.as_ms(), name, &event);
            }
        }
    }

    /// A RUS pass, if one is due.
    fn pass(&mut self, world: &Shared, dc: &mut DomainController, name: &str, now: Instant) {
        let Some(pass) = self.next_pass else { return };
        if pass > now {
            return;
        }
        let every = self.rus_interval_ms;
        self.next_pass = Some(Instant((now.as_ms() / every + 1) * every));
        // §2: a pass stamps what this DC holds that was created and has no addresses yet;
        // a DC that is down runs no pass.
        if !lock(world).dc_up[usize::from(dc.id().0)] {
            return;
        }
        let mut stamped = Vec::new();
        let mut writes: Vec<ObjectWrite> = Vec::new();
        {
            let w = lock(world);
            self.unstamped.retain(|&a| {
                let Some(o) = dc.replica().object(recipient_object(a)) else { return true };
                if o.is_deleted() || !o.values(STAMPED_ATTRIBUTE).is_empty() {
                    return false;
                }
                if o.values(CREATED_ATTRIBUTE).is_empty() {
                    return true;
                }
                let address = w.address(a);
                writes.push((
                    recipient_object(a),
                    vec![(STAMPED_ATTRIBUTE.to_string(), vec![format!("SMTP:{address}")])],
                ));
                stamped.push(address);
                false
            });
        }
        if self.unstamped.is_empty() {
            self.next_pass = None;
        }
        if !writes.is_empty() && originate(world, dc, name, now, &writes, false) {
            let event = TraceEvent::RecipientsWritten { change: "stamped", recipients: stamped };
            lock(world).record(now.as_ms(), name, &event);
        }
    }
}

/// Tells the world which of these writes a replica (by index, of `domain`) now holds
/// (for its backlog).
fn report_stored(
    world: &Shared,
    index: usize,
    domain: usize,
    replica: &org::directory::ad_replication::Replica,
    writes: &[(ObjectId, String, AttributeMeta)],
) {
    let mut w = lock(world);
    for (object, attribute, meta) in writes {
        let held = replica.object(*object).and_then(|o| o.attributes.get(attribute)).map(|a| a.meta);
        if held == Some(*meta) {
            w.replica_stored(index, domain, *object, attribute, meta);
        }
    }
}

/// Carries out a server's outputs; `unflushed` is how many of its writes are not durable
/// after this step.
fn apply_outputs(world: &Shared, me: ServerId, now_us: u64, outputs: Vec<Output>, unflushed: usize) {
    let now = Instant(now_us / 1_000);
    let mut w = lock(world);
    w.unflushed[usize::from(me.0)] = unflushed as u32;
    for output in outputs {
        match output {
            Output::Send { to, packet } => {
                let bytes = packet.wire_size_bytes(&w.resolved.topology);
                if packet.link_state_table().is_some() {
                    // An X-LINK2STATE turn carrying a table is link state traffic (§4).
                    w.count_link_state(bytes);
                }
                w.transmit(Node::Server(me), Node::Server(to), now_us, bytes, Payload::Smtp(packet));
            }
            Output::SendHost { to, packet } => {
                let bytes = packet.wire_size_bytes(&w.resolved.topology);
                w.transmit(Node::Server(me), Node::Host(to), now_us, bytes, Payload::Smtp(packet));
            }
            Output::Dns { to, query } => {
                let bytes = org::transport::dns::wire_size_bytes(0);
                w.transmit(Node::Server(me), Node::Host(to), now_us, bytes, Payload::DnsQuery(query));
            }
            Output::LinkState { to, message } => {
                let bytes = message.wire_size_bytes(&w.resolved.topology);
                w.count_link_state(bytes);
                w.transmit(Node::Server(me), Node::Server(to), now_us, bytes, Payload::LinkState(message));
            }
            Output::Ldap { to, search } => {
                let bytes = search.wire_size_bytes();
                w.transmit(Node::Server(me), Node::Dc(to), now_us, bytes, Payload::Ldap(search));
            }
            Output::Persist(ops) => {
                let disk = &mut w.disks[usize::from(me.0)];
                for op in &ops {
                    disk.apply(op);
                }
            }
            Output::Event(event) => w.observe(now, me, &event),
        }
    }
}
