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
//! micro-delays per packet (measured: most of the run's cost). A packet waits in the
//! destination's post (`post.rs`) until it arrives, and the node wakes once, then; a
//! packet sent to a dead node is lost, and one held for a node that dies dies with it.
//! The inboxes carry only the timeline's orders. A supervisor task plays the
//! timeline (links, connectors, crashes, restarts), samples the WAN links, and runs the
//! checks.
//!
//! What lives outside the nodes survives a crash: each server's disk, its clients, the
//! WAN, the trace and the checks. What lives inside (queues in memory, sessions, writes
//! not yet flushed) dies with the node.
//!
//! One file per kind of node (`server`, `host`, `domain_controller`), the Recipient
//! Update Service's and the administrator's writes on a DC (`recipient_writes`), the timeline's
//! actions (`timeline`) and the names server events are traced with (`names`).

mod cross_forest;
mod domain_controller;
mod edge;
mod host;
mod information_store;
mod internet_senders;
mod move_mailbox;
mod names;
mod oab_clients;
pub mod offline_address_books;
mod post;
pub mod public_folders;
mod recipient_writes;
mod server;
mod timeline;

pub use domain_controller::{DcSummary, DirectoryTotals};
pub use information_store::{DatabaseSummary, StorageGroupSummary, StoreTotals};

use domain_controller::*;
use host::*;
use post::*;
use server::*;
use timeline::*;

use crate::checks::{CheckResult, Checker, MessageCounts};
use crate::resolve::{RecipientWrite, Resolved, RusSpec, TimedAction, WorldAction};
use crate::rng::Stream;
use crate::trace::{QueueSample, TraceEvent, TraceSink, TRACE_FORMAT};
use crate::wan::Wan;
use crate::workload::{ClientPopulation, RecipientPools};
use madsim::runtime::{Handle, NodeHandle};
use org::config::topology::HostRole;
use org::directory::ad_replication::{AttributeMeta, DcId, ObjectId};
use org::directory::domain_controller::{DcEvent, DcMessage, DcOutput, DomainController, ObjectWrite};
use org::directory::global_catalog::{
    recipient_object, AdDomainId, AsOf, LdapPage, LdapSearch, ReplicaView, CREATED_ATTRIBUTE,
};
use org::exchange_server::{ExchangeServer, Output, StartConditions};
use org::message::{Message, MessageId, MessageKind};
use org::routing::link_state::{ConnectorState, LinkStateMessage, OrgInfo};
use org::store::backup::BackupSet;
use org::time::Instant;
use org::trace::{Namer, ServerEvent};
use org::transport::advanced_queuing::{LinkQueueState, QueueKey};
use org::transport::dns::{DnsQuery, DnsReply};
use org::transport::internet_host::InternetMailHost;
use org::transport::queue_directory::DiskImage;
use org::transport::smtp_protocol::Packet;
use org::{AddressId, ConnectorId, HostId, RoutingGroupId, ServerId};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
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
    /// The Information Stores at the end: databases and log streams.
    pub store: StoreTotals,
    /// Directory replication, when the scenario simulates it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectoryTotals>,
    /// Public folder replication, when the organization has public stores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_folders: Option<public_folders::PublicFolderTotals>,
    /// Offline address book generation, when the organization has OABs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oab: Option<offline_address_books::OabTotals>,
    /// The SMTP edge, when the organization has inbound virtual servers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge: Option<edge::EdgeTotals>,
    /// Mail between forests, when the scenario has several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forests: Option<cross_forest::ForestTotals>,
    /// Each OAB's last run and when it finished (ms), by OAB (for `orgsim oab`).
    #[serde(skip)]
    pub oab_files: Vec<Option<(u64, Arc<org::system_attendant::oab::oal_generator::Generation>)>>,
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
    /// The WAN link crossed and its epoch (see [`crate::wan::Transit`]).
    link: Option<(u16, u32)>,
    payload: Payload,
}

/// What travels between servers.
enum Payload {
    Smtp(Packet),
    /// A frame of an inbound session from outside the organization.
    Edge(org::transport::smtp_filters::edge_session::EdgePacket),
    /// An edge session's DNS question, and its answer.
    EdgeDnsQuery(org::transport::dns::EdgeDnsQuery),
    EdgeDnsReply(org::transport::dns::EdgeDnsReply),
    LinkState(LinkStateMessage),
    DnsQuery(DnsQuery),
    DnsReply(DnsReply),
    /// Replication of one domain's naming context.
    Ad(AdDomainId, DcMessage),
    Ldap(LdapSearch),
    LdapPage(LdapPage),
    /// A page of the address list a GC returns to OALGen.
    AddressList(org::directory::global_catalog::AddressListPage),
    /// A mailbox move between two stores.
    Move(org::store::move_mailbox::MoveMessage),
}

/// What a server node is told.
enum Input {
    /// A directory change: a routing group's new master.
    MasterChange(RoutingGroupId, ServerId),
    /// The remote side of a connector starts or stops accepting this source bridgehead.
    ConnectorService(ConnectorId, bool),
    /// An administrator mounts (true) or dismounts a database.
    Database(org::StoreId, bool),
    /// A backup of the storage group holding this database completes.
    Backup(org::StoreId),
    /// An administrator empties Badmail folders (one virtual server's, or all).
    PurgeBadmail(Option<org::transport::mailroot::VirtualServerRef>),
    /// The database volume of the storage group holding this database fails (its log
    /// volume too when true).
    DiskFailure(org::StoreId, bool),
    /// A restore of a storage group's newest backup set (if the media hold one), of the
    /// databases named (all when none).
    Restore((ServerId, org::StorageGroupId), Option<Box<BackupSet>>, Vec<org::StoreId>),
    /// A merge of the server's Recovery Storage Group.
    Merge(org::store::backup::MergeRights),
    /// An administrator changed a quota in the directory.
    Quota(org::config::topology::QuotaTarget, org::config::topology::MailboxQuota),
    /// Scripted mail submitted here, by MAPI (`true`) or over SMTP.
    Submit(Box<Message>, Vec<AddressId>, bool),
    /// A move task starts moving this mailbox of the server to a database elsewhere.
    MoveOut(AddressId, ServerId, org::StoreId),
    /// A move task's cancel time came while this mailbox was moving.
    MoveCancel(AddressId),
    /// The directory names a mailbox's new home (a move completed).
    MailboxMoved(AddressId, org::StoreId),
    /// An administrator's order to the server's public store.
    PublicAdmin(Box<org::public_folders::public_store::PfAdmin>),
}

/// Everything outside the nodes.
struct World {
    resolved: Arc<Resolved>,
    seed: u64,
    start: madsim::time::Instant,
    /// madsim's clock, held: reading it through `Instant::now` goes through madsim's
    /// `clock_gettime` interposer, a thread-local and a handle clone each time (4 % of a
    /// run, perf).
    clock: madsim::time::TimeHandle,
    trace: TraceSink,
    /// The names server events are traced with.
    names: names::TraceNames,
    checker: Checker,
    /// How often each of the scenario's sometimes properties happened.
    sometimes: crate::sometimes::Tally,
    /// Each running server's state machine (what a crash takes down).
    machines: Vec<Option<Box<ExchangeServer>>>,
    /// The media outside the servers: each storage group's newest backup set.
    backup_media: BTreeMap<(ServerId, org::StorageGroupId), BackupSet>,
    /// Quotas administrators have changed in the directory (what a starting server reads).
    quota_changes: BTreeMap<org::config::topology::QuotaTarget, org::config::topology::MailboxQuota>,
    /// Where power losses cut the writes in progress.
    power_rng: Stream,
    wan: Wan,
    disks: Vec<DiskImage>,
    populations: Vec<Option<ClientPopulation>>,
    /// Each server's public folder post loads.
    public_posts: Vec<Vec<crate::workload::PostStream>>,
    /// SP2: content replication is stopped organization-wide (the directory's setting).
    public_content_stopped: bool,
    /// Public folder replication so far.
    public_totals: public_folders::PublicFolderTotals,
    /// Offline address book generation so far.
    oab: offline_address_books::OabState,
    /// The SMTP edge's totals, when the organization has inbound virtual servers.
    edge: Option<edge::EdgeTotals>,
    /// Mail between forests, when there are several.
    forests: Option<cross_forest::ForestTotals>,
    oab_clients: oab_clients::OabClients,
    inboxes: Vec<Inbox<Input>>,
    /// Packets on their way to each node (hosts never die: a host that is down drops
    /// what it gets).
    posts: Posts,
    /// Whether each host answers now.
    host_up: Vec<bool>,
    /// Each DC's inbox.
    dc_inboxes: Vec<Inbox<DcInput>>,
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
    /// Per store: dismounted (as its server last said; a restart mounts all).
    dismounted: Vec<bool>,
    /// Per store: its clients, for the disk model.
    store_clients: Vec<information_store::StoreClients>,
    /// Each cluster's Cluster service.
    clusters: Vec<org::cluster::cluster_service::ClusterService>,
    /// What the world itself scheduled, by (instant, order scheduled).
    scheduled: BTreeMap<(u64, u64), Scheduled>,
    scheduled_count: u64,
    /// Move Mailbox tasks started (in `Resolved::move_tasks` order), the mailboxes moving
    /// now with their task, and each moved mailbox's database now.
    move_tasks: Vec<Option<org::store::move_mailbox::MoveTask>>,
    moving: BTreeMap<AddressId, usize>,
    moved: BTreeMap<AddressId, org::StoreId>,
    /// Sizes of deliveries made durable into mailboxes the quota check follows, until
    /// their `delivered` events are observed.
    delivery_sizes: BTreeMap<(AddressId, u64), u64>,
    /// Per storage group: the disk model's volumes.
    volumes: Vec<information_store::GroupVolumes>,
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

/// One recipient of one message, for check details.
fn pair_name(resolved: &Resolved, message: MessageId, recipient: AddressId) -> String {
    format!("{} to {}", resolved.message(message), resolved.address(recipient))
}

fn server_ip(id: ServerId) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 1, (id.0 >> 8) as u8, (id.0 & 0xff) as u8 + 1))
}

fn host_ip(id: HostId) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 2, (id.0 >> 8) as u8, (id.0 & 0xff) as u8 + 1))
}

impl World {
    fn now_us(&self) -> u64 {
        self.clock.now_instant().duration_since(self.start).as_micros() as u64
    }

    /// Gives a running server an order from the timeline and wakes it.
    /// Gives a server an order and wakes it; a server that is down drops it.
    fn tell_server(&mut self, id: ServerId, order: Input) {
        if self.inboxes[usize::from(id.0)].push(order) {
            self.posts.of(Node::Server(id)).wake();
        }
    }

    /// Gives a domain controller an order from the timeline and wakes it.
    fn tell_dc(&mut self, id: DcId, order: DcInput) {
        if self.dc_inboxes[usize::from(id.0)].push(order) {
            self.posts.of(Node::Dc(id)).wake();
        }
    }

    fn server_name(&self, id: ServerId) -> &str {
        &self.resolved.topology.server(id).name
    }

    fn host_name(&self, id: HostId) -> String {
        self.resolved.host(id).to_string()
    }

    /// Whether a client in `site` reaches server `s` now: it runs, in a site joined to
    /// `site`.
    pub(super) fn reaches(&self, site: usize, s: ServerId) -> bool {
        let j = usize::from(s.0);
        self.machines[j].is_some() && self.wan.connected(site, self.resolved.server_site[j])
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
        self.resolved.address(id).to_string()
    }

    fn addresses(&self, ids: &[AddressId]) -> Vec<String> {
        ids.iter().map(|a| self.address(*a)).collect()
    }

    fn queue(&self, key: QueueKey) -> String {
        self.resolved.queue(key).to_string()
    }

    fn record(&mut self, t_ms: u64, node: &str, event: &TraceEvent) {
        self.trace.record(t_ms, node, event);
    }

    /// Checks and traces one server event.
    fn observe(&mut self, now: Instant, server: ServerId, event: &ServerEvent) {
        let resolved = &self.resolved;
        let violations = self.checker.observe(now, server, event, &|m, r| pair_name(resolved, m, r));
        self.sometimes.observe(event);
        self.oab.observe(event);
        if let Some(edge) = self.edge.as_mut() {
            edge.observe(server, event, &self.resolved.topology);
        }
        if let Some(forests) = self.forests.as_mut() {
            forests.observe(&self.resolved.topology, server, event);
        }
        let mut violations = violations;
        match event {
            ServerEvent::DatabaseState { store, change } => {
                let mounted = change.mounts();
                self.dismounted[usize::from(store.0)] = !mounted;
                self.checker.database_state(*store, mounted);
            }
            ServerEvent::LogGeneration { storage_group, .. } => {
                let group = self.resolved.topology.storage_group(*storage_group);
                if let Some(disk_bytes) = group.log.disk_bytes {
                    let logs = &self.disks[usize::from(server.0)].store_files.logs;
                    let log_files = logs.get(storage_group).map_or(0, |l| l.log.log_files());
                    let group_name = format!("{} on {}", group.name, self.resolved.topology.server(server).name);
                    let f = crate::checks::log_disk::LogFileBegun { group_name, log_files, disk_bytes };
                    violations.extend(self.checker.log_file_begun(f, &|m, r| pair_name(resolved, m, r)));
                }
            }
            ServerEvent::Delivered { message, recipient, store, .. }
                if self.checker.quota_follows(*recipient, *store) =>
            {
                if let Some(size_bytes) = self.delivery_sizes.remove(&(*recipient, message.to_bits())) {
                    let name = |m, r| pair_name(resolved, m, r);
                    violations
                        .extend(self.checker.quota_delivered(now, *message, *recipient, *store, size_bytes, &name));
                }
            }
            ServerEvent::MoveEnded { mailbox, to_store, outcome, .. } => {
                self.move_ended(now, *mailbox, *to_store, *outcome);
            }
            ServerEvent::DatabaseSize { store, logical_bytes, verdict, .. } => {
                let check = self.size_check(server, *store, *logical_bytes, *verdict);
                violations.extend(self.checker.database_size(check, &|m, r| pair_name(resolved, m, r)));
            }
            ServerEvent::PfSent { .. }
            | ServerEvent::PfRead { .. }
            | ServerEvent::PfBackfillRequested { .. }
            | ServerEvent::Transferred { message: MessageId::Replication { .. }, .. } => {
                violations.extend(self.public_event(now, server, event));
            }
            _ => {}
        }
        self.trace.record_server(now.as_ms(), server, event, &self.names);
        for v in violations {
            let event = TraceEvent::CheckFailed { check: v.check.into(), detail: v.detail };
            self.record(now.as_ms(), "checks", &event);
        }
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
        self.public_sample(now);
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
        let wire = Box::new(Wire { from: me, arrive_us: transit.arrive_us, seq, link: transit.link, payload });
        // A packet to a dead node is lost.
        self.posts.of(to).deliver(wire, self.start, &self.clock);
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

/// The madsim configuration of every run: madsim adds only a microsecond of its own
/// latency; the WAN model decides real delays.
/// Each server's public folder post loads, in the order the scenario lists them.
fn public_posts(resolved: &Resolved, servers: usize, seed: u64) -> Vec<Vec<crate::workload::PostStream>> {
    let mut by_server: Vec<Vec<crate::workload::PostStream>> = (0..servers).map(|_| Vec::new()).collect();
    for i in 0..resolved.public_posts.len() {
        let stream = crate::workload::PostStream::new(resolved, i, seed);
        by_server[usize::from(stream.server().0)].push(stream);
    }
    by_server
}

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
        plants: resolved.topology.plants.list().into_iter().map(|b| b.name()).collect(),
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

    // Each forest's clients write to their own organization's mailboxes (another's are
    // outside addresses, in `recipients.external`).
    let all_by_forest: Vec<Arc<Vec<AddressId>>> = (0..topology.forests.len().max(1))
        .map(|f| {
            let of_forest = |s: &usize| usize::from(topology.servers[*s].forest.0) == f;
            let mailboxes =
                (0..servers).filter(of_forest).flat_map(|s| resolved.mailboxes_by_server[s].iter().copied());
            Arc::new(mailboxes.collect())
        })
        .collect();
    let other_forests = other_forest_pools(&topology, &all_by_forest);
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
                all: all_by_forest[usize::from(topology.server(id).forest.0)].clone(),
                same_server: resolved.mailboxes_by_server[i].clone(),
                same_group,
                unknown: Arc::new(resolved.unknown_addresses.clone()),
                external: Arc::new(resolved.external_addresses.clone()),
                other_forests: other_forests[usize::from(topology.server(id).forest.0)].clone(),
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
    let topology_domains = resolved.domains.len();
    let store_clients = information_store::StoreClients::of(&topology);
    let world: Shared = Arc::new(Mutex::new(World {
        resolved: resolved.clone(),
        seed,
        start: madsim::time::Instant::now(),
        clock: madsim::time::TimeHandle::current(),
        trace: sink,
        names: names::TraceNames::new(resolved.clone()),
        checker: Checker::new(
            &resolved.invariants,
            &resolved.expectations,
            topology.servers.iter().map(|s| s.name.clone()).collect(),
            topology.clone(),
            last_fault,
        ),
        sometimes: crate::sometimes::Tally::new(&resolved.scenario.checks.sometimes),
        machines: (0..servers).map(|_| None).collect(),
        power_rng: Stream::new(seed, "power-losses"),
        quota_changes: BTreeMap::new(),
        backup_media: BTreeMap::new(),
        oab: offline_address_books::OabState::new(&topology),
        edge: (!topology.edge.virtual_servers.is_empty()).then(edge::EdgeTotals::default),
        forests: (topology.forests.len() > 1).then(cross_forest::ForestTotals::default),
        oab_clients: oab_clients::OabClients::default(),
        wan: Wan::new(
            &resolved.links,
            resolved.lan_bits_per_s,
            resolved.lan_latency_ms,
            topology.bug(org::planted_bugs::PlantedBug::WanIgnoresDownLinks),
        ),
        disks: vec![DiskImage::default(); servers],
        populations,
        public_posts: public_posts(&resolved, servers, seed),
        public_content_stopped: false,
        public_totals: Default::default(),
        inboxes: (0..servers).map(|_| Inbox::default()).collect(),
        posts: Posts::new(servers, topology.internet.hosts.len(), dc_count),
        host_up: vec![true; topology.internet.hosts.len()],
        dc_inboxes: (0..dc_count).map(|_| Inbox::default()).collect(),
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
        dismounted: vec![false; topology.stores.len()],
        store_clients: store_clients.clone(),
        volumes: information_store::GroupVolumes::of(&topology, &store_clients),
        clusters: resolved.clusters.iter().cloned().map(org::cluster::cluster_service::ClusterService::new).collect(),
        scheduled: BTreeMap::new(),
        scheduled_count: 0,
        move_tasks: vec![None; resolved.move_tasks.len()],
        moving: BTreeMap::new(),
        moved: BTreeMap::new(),
        delivery_sizes: BTreeMap::new(),
        masters: topology.routing_groups.iter().map(|g| g.master).collect(),
        link_state: LinkStateTotals::default(),
        link_state_interval: LinkStateTotals::default(),
        next_message: 1,
        next_wire: 0,
    }));
    let scripted: Vec<_> = resolved
        .timeline
        .iter()
        .filter_map(|a| match a.action {
            WorldAction::SetQuota { target, quota } => Some((target, quota.to_org())),
            _ => None,
        })
        .collect();
    lock(&world).checker.quota_scripted(&scripted);
    lock(&world).start_offline_address_books();
    let failing = resolved.timeline.iter().filter_map(|step| match step.action {
        WorldAction::DiskFailure(store, _) => Some(topology.store(store).storage_group_id),
        _ => None,
    });
    lock(&world).checker.watch_disk_failures(failing.collect::<BTreeSet<_>>().into_iter());

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
        let mut guard = lock(&world);
        let w = &mut *guard;
        let now = Instant(resolved.duration_ms);
        // Every logged delivery filed: the disk's own check (nothing committed twice)
        // runs over the whole run.
        w.disks.iter_mut().for_each(DiskImage::file);
        let link_state_messages = w.link_state.updates;
        let name = |m, r| pair_name(&resolved, m, r);
        let (checks, messages) = w.checker.finish(&w.disks, link_state_messages, &name);
        w.record(now.as_ms(), "checks", &TraceEvent::Messages(messages));
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
            store: w.store_totals(),
            directory: resolved.directory.as_ref().filter(|d| d.replicating).map(|_| DirectoryTotals {
                replication_bytes: w.ad_bytes,
                converged_at_s: w.directory_agreed_since.map(|t| t as f64 / 1_000.0),
            }),
            public_folders: (!resolved.topology.public_stores.is_empty()).then(|| w.public_totals.clone()),
            oab: (!resolved.topology.offline_address_books.is_empty()).then(|| w.oab.totals.clone()),
            edge: w.edge.clone(),
            forests: w.forests.clone(),
            oab_files: std::mem::take(&mut w.oab.last),
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
        let next_scheduled = lock(world).scheduled.first_key_value().map_or(u64::MAX, |((at, _), _)| *at);
        let t = next_action.min(next_deadline).min(next_sample).min(next_scheduled).min(end);
        madsim::time::sleep_until(start + StdDuration::from_millis(t)).await;
        let now = Instant(t);
        while let Some(action) = actions.next_if(|a| a.at.as_ms() <= t) {
            apply(world, handle, nodes, now, action.action);
        }
        loop {
            let due = lock(world).scheduled.first_entry().filter(|e| e.key().0 <= t).map(|e| e.remove());
            let Some(what) = due else { break };
            scheduled(world, handle, nodes, now, what);
        }
        if next_sample <= t {
            lock(world).link_sample(now, interval);
            next_sample += interval;
        }
        while let Some((index, _)) = deadlines.next_if(|(_, at)| at.as_ms() <= t) {
            let mut w = lock(world);
            w.public_sample(now);
            w.checker.deadline_reached(index);
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

/// For each forest, the other forests' mailbox users as its clients address them: the
/// contact its GAL holds for one from the start (GalSync's or listed), else the user's
/// own SMTP address (§6).
fn other_forest_pools(
    topology: &org::config::topology::Topology,
    all_by_forest: &[Arc<Vec<AddressId>>],
) -> Vec<Arc<Vec<AddressId>>> {
    use org::directory::global_catalog::Recipient;
    (0..all_by_forest.len())
        .map(|f| {
            if all_by_forest.len() < 2 {
                return Arc::new(Vec::new());
            }
            let gal = topology.gal(org::ForestId(f as u8));
            let contacts: BTreeMap<AddressId, AddressId> = (gal.objects())
                .filter(|(_, o)| o.created_at.is_none())
                .filter_map(|(id, o)| match o.recipient {
                    Recipient::Forward(target) => Some((target, id)),
                    _ => None,
                })
                .collect();
            let others = all_by_forest.iter().enumerate().filter(|(g, _)| *g != f).flat_map(|(_, m)| m.iter());
            Arc::new(others.map(|m| contacts.get(m).copied().unwrap_or(*m)).collect())
        })
        .collect()
}
