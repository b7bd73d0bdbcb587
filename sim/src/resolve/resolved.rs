//! What a checked scenario resolves to: the id-based organization, the timeline, the
//! weather, the client load and the expectations the run checks.

use super::ClusterNode;
use crate::scenario::{Action, Invariant, Scenario};
use org::config::topology::QuotaTarget;
use org::config::topology::Topology;
use org::directory::ad_replication::DcId;
use org::directory::domain_controller::{InboundConnection, WindowsVersion};
use org::time::Instant;
use org::transport::advanced_queuing::QueueKey;
use org::transport::dsn::DsnCode;
use org::transport::mailroot::VirtualServerRef;
use org::{AddressId, ConnectorId, HostId, RoutingGroupId, ServerId};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A WAN link, resolved.
#[derive(Clone, Debug)]
pub struct LinkSpec {
    /// Name.
    pub name: String,
    /// Site index at one end.
    pub a: usize,
    /// Site index at the other end.
    pub b: usize,
    /// Bits per second each way.
    pub bits_per_s: u64,
    /// One-way latency.
    pub latency_ms: u64,
}

/// At most this many replicas (full and partial): the checks track who holds each
/// write in a 128-bit set.
pub const MAX_REPLICAS: usize = 128;

/// A domain controller, resolved.
#[derive(Clone, Debug)]
pub struct DcSpec {
    /// Name.
    pub name: String,
    /// Index of its domain in `topology.domains`.
    pub domain: usize,
    /// Its site.
    pub site: usize,
    /// Windows version.
    pub version: WindowsVersion,
    /// Connections it pulls over.
    pub inbound: Vec<InboundConnection>,
    /// Intra-site DCs it notifies.
    pub notify_targets: Vec<DcId>,
    /// Recipients an administrator creates or deletes on it, in time order (only with
    /// `topology.ad_replication`: otherwise every GC sees the change at once).
    pub recipient_writes: Vec<(Instant, AddressId, RecipientWrite)>,
    /// The Recipient Update Service bound to it, if one is (only with replication).
    pub rus: Option<RusSpec>,
}

/// What a modification changes.
#[derive(Clone, Debug)]
pub enum ModificationKind {
    /// Attributes, as the scenario wrote them.
    Attributes(std::collections::BTreeMap<String, crate::scenario::AttributeValues>),
    /// The recipient's primary SMTP address moved from one domain to another (a
    /// `rename_smtp_domain`): `mail` and `proxyAddresses` written.
    Readdressed {
        /// The old domain.
        from: String,
        /// The new one.
        to: String,
    },
    /// A group's members added and removed, as the scenario named them.
    Members {
        /// Added.
        add: Vec<String>,
        /// Removed.
        remove: Vec<String>,
    },
}

impl ModificationKind {
    /// The attributes it writes, as traces name them.
    pub fn attribute_names(&self) -> Vec<String> {
        match self {
            ModificationKind::Attributes(a) => a.keys().cloned().collect(),
            ModificationKind::Readdressed { .. } => vec!["mail".to_string(), "proxyAddresses".to_string()],
            ModificationKind::Members { .. } => vec![org::directory::global_catalog::MEMBER_ATTRIBUTE.to_string()],
        }
    }
}

/// An administrator's change of a recipient object on one DC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecipientWrite {
    /// The object is created (without e-mail addresses: the RUS stamps those).
    Create,
    /// The object is deleted (a tombstone).
    Delete,
}

/// A Recipient Update Service bound to a DC (EXCHANGE2003.md §2): each pass stamps the
/// recipients whose creation that DC holds.
#[derive(Clone, Debug)]
pub struct RusSpec {
    /// Time between passes; passes fall on its multiples.
    pub interval_ms: u64,
    /// Recipients of its domain created during the run, the ones it may have to stamp.
    pub recipients: Vec<AddressId>,
}

/// A timeline `modify_recipient` or `modify_group`, resolved.
#[derive(Clone, Debug)]
pub struct Modification {
    /// The recipient (a group for a membership change).
    pub recipient: AddressId,
    /// What changes, as the scenario wrote it.
    pub change: ModificationKind,
    /// The DC named in the scenario, if one was.
    pub domain_controller: Option<String>,
    /// The DC the change is written on, when the directory replicates.
    pub dc: Option<DcId>,
    /// The values written, by lower-case attribute name.
    pub written: org::directory::global_catalog::Attributes,
}

/// A global catalog's partial replica of another domain (EXCHANGE2003.md §2).
#[derive(Clone, Debug)]
pub struct PartialReplicaSpec {
    /// The GC holding it.
    pub host: DcId,
    /// The domain it is a replica of.
    pub domain: usize,
    /// Connections it pulls over.
    pub inbound: Vec<InboundConnection>,
}

/// The simulated directory: its DCs.
#[derive(Clone, Debug)]
pub struct DirectorySpec {
    /// Indexed by [`DcId`].
    pub dcs: Vec<DcSpec>,
    /// The GCs' partial replicas of other domains (only with replication).
    pub partials: Vec<PartialReplicaSpec>,
    /// Each replica's name as traces and checks show it, in [`DirectorySpec::replicas`]
    /// order: the DC's, with the domain for a partial replica (`DC-HQ/emea.contoso.com`).
    pub replica_names: Vec<String>,
    /// Whether DCs replicate (`topology.ad_replication`); otherwise they run only as the
    /// global catalogs that expand groups, with no connections.
    pub replicating: bool,
}

impl DirectorySpec {
    /// Every replica, as (host DC, domain): each DC's full replica of its domain (index
    /// = its [`DcId`]), then the partial replicas in order.
    pub fn replicas(&self) -> impl Iterator<Item = (DcId, usize)> + '_ {
        let full = self.dcs.iter().enumerate().map(|(i, d)| (DcId(i as u16), d.domain));
        full.chain(self.partials.iter().map(|p| (p.host, p.domain)))
    }

    /// Number of replicas.
    pub fn replica_count(&self) -> usize {
        self.dcs.len() + self.partials.len()
    }
}

/// A Move Mailbox task, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveTaskSpec {
    /// The mailboxes, in the order they move.
    pub mailboxes: Vec<AddressId>,
    /// The target database.
    pub to_store: org::StoreId,
    /// When the task is cancelled.
    pub cancel_at: Option<Instant>,
}

/// Scripted mail (a timeline `send`), resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendSpec {
    /// The server that takes it: the sender's home server, or the `via` server.
    pub server: ServerId,
    /// The sender.
    pub sender: AddressId,
    /// The recipients, those named in To first (`named` of them), then the blind copies.
    pub recipients: Vec<AddressId>,
    /// How many of `recipients` the headers name.
    pub named: usize,
    /// Whether the sender authenticated.
    pub authenticated: bool,
    /// Submitted by MAPI at the sender's home server (no `via`), else over SMTP.
    pub mapi: bool,
    /// Messages.
    pub count: u32,
    /// Size of each.
    pub size_bytes: u64,
    /// The SCL each carries (−1: not rated).
    pub scl: i8,
}

/// How a server dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// It stops: what it had not flushed is lost.
    Crash,
    /// Its power fails: the write in progress may also be torn (part of it landed).
    PowerLoss,
}

/// A timeline step the world performs.
/// The databases a [`WorldAction::Restore`] of the storage group holding `from` names
/// by `only` (bit i: the group's i-th database; none set: all of them).
pub fn restored_stores(topology: &Topology, from: org::StoreId, only: u8) -> impl Iterator<Item = org::StoreId> + '_ {
    let stores = &topology.storage_group(topology.store(from).storage_group_id).stores;
    stores.iter().enumerate().filter(move |(i, _)| only & (1 << i) != 0).map(|(_, s)| *s)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorldAction {
    /// Submit the scripted mail `sends[i]`.
    Send(usize),
    /// `modifications[i]` takes effect (the catalog already reads it from then; the
    /// world traces it, and with replication writes it on its DC).
    ModifyRecipient(usize),
    /// WAN link down.
    LinkDown(usize),
    /// WAN link up.
    LinkUp(usize),
    /// Connector administratively down.
    ConnectorDown(ConnectorId),
    /// Connector up again.
    ConnectorUp(ConnectorId),
    /// Kill a server.
    Crash(ServerId, Failure),
    /// Restart a killed server.
    Restart(ServerId),
    /// A Move Mailbox task starts (`move_tasks[i]`).
    MoveMailboxes(usize),
    /// A cluster node fails.
    NodeDown(ClusterNode, Failure),
    /// A failed cluster node returns.
    NodeUp(ClusterNode),
    /// An administrator names a routing group's master.
    SetMaster(RoutingGroupId, ServerId),
    /// An administrator mounts (true) or dismounts a database.
    Database(org::StoreId, bool),
    /// A backup of the storage group holding this database completes.
    Backup(org::StoreId),
    /// An administrator empties a server's Badmail folders (one virtual server's).
    PurgeBadmail(ServerId, Option<org::transport::mailroot::VirtualServerRef>),
    /// The database volume of the storage group holding this database fails (its log
    /// volume too when true).
    DiskFailure(org::StoreId, bool),
    /// A restore of the newest backup set of the storage group holding `from` onto
    /// `to`, of the databases `only` selects: bit i for the group's i-th database (a
    /// group has at most 5), none set for all.
    Restore { from: org::StoreId, to: ServerId, only: u8 },
    /// A merge of a server's Recovery Storage Group into the live mailboxes.
    Merge(ServerId, org::store::backup::MergeRights),
    /// An administrator changes a quota in the directory.
    SetQuota { target: org::config::topology::QuotaTarget, quota: crate::scenario::Quota },
    /// An originating bulk change on a domain controller.
    DirectoryChange {
        /// The DC.
        dc: DcId,
        /// Objects written.
        count: u32,
        /// Attributes per object.
        attributes: u32,
        /// Urgent replication.
        urgent: bool,
        /// Tombstone the objects instead.
        delete: bool,
    },
    /// A DC's clock reads this far off true time (ms; negative: behind).
    ClockSkew(DcId, i64),
    /// A DC stops answering.
    DcDown(DcId),
    /// It answers again.
    DcUp(DcId),
    /// A host beyond the organization stops answering.
    HostDown(HostId),
    /// It answers again.
    HostUp(HostId),
    /// An administrator's public folder order (`public_orders[i]`).
    PublicFolder(usize),
}

/// An action at its instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedAction {
    /// When.
    pub at: Instant,
    /// What.
    pub action: WorldAction,
}

/// Where a step of a run's concrete timeline came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepSource {
    /// The scenario's fixed timeline.
    Timeline,
    /// Sampled from the scenario's weather for this seed.
    Weather,
}

/// MAPI clients posting to a public folder through one server's public store.
#[derive(Clone, Debug)]
pub struct PostSpec {
    /// The folder.
    pub folder: org::public_folders::replication_message::FolderId,
    /// The server whose public store takes the posts.
    pub server: ServerId,
    /// Posts an hour.
    pub per_hour: f64,
    /// Each post's size (0 for reads).
    pub size_bytes: u64,
    /// The clients open the folder rather than post to it.
    pub read: bool,
    /// The window the clients post in, from the run's start.
    pub from_ms: u64,
    /// Its end.
    pub until_ms: u64,
}

/// An administrator's public folder order: to one public store, or (the SP2
/// organization-wide switch) to every one.
#[derive(Clone, Debug)]
pub struct PublicOrder {
    /// The store (None: all of them).
    pub store: Option<org::public_folders::cn_set::ReplicaId>,
    /// The order.
    pub admin: org::public_folders::public_store::PfAdmin,
    /// The step as the timeline wrote it.
    pub step: Action,
}

/// The client load, resolved.
#[derive(Clone, Debug)]
pub struct WorkloadSpec {
    /// Sends per user per day.
    pub sends_per_user_per_day: f64,
    /// Hourly weights normalized to mean 1.
    pub hourly_factor: [f64; 24],
    /// Mean recipients per message (≥ 1).
    pub recipients_per_message: f64,
    /// (size in bytes, cumulative probability).
    pub size_cdf: Vec<(u64, f64)>,
    /// Cumulative shares: same server, same group, anywhere, unknown, external.
    pub choice_cdf: [f64; 6],
    /// First instant clients send.
    pub from: Instant,
    /// Clients stop before this instant.
    pub until: Instant,
    /// The run's calendar (for the hourly profile).
    pub calendar: org::calendar::Calendar,
}

/// An expectation, resolved to ids.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// Everything resolved by this instant.
    AllResolvedBy(Instant),
    /// Delivered client recipients ≥ count.
    DeliveredAtLeast(u64),
    /// NDR'd recipients ≥ count.
    NdrAtLeast(u64, Option<DsnCode>),
    /// NDR'd recipients ≤ count.
    NdrAtMost(u64, Option<DsnCode>),
    /// Transfers out of a link queue in a window, within bounds.
    TransferredVia {
        queue: QueueKey,
        name: String,
        at_least: Option<u64>,
        at_most: Option<u64>,
        from: Instant,
        until: Instant,
    },
    /// Messages relayed to a host in a window, within bounds.
    RelayedTo {
        host: HostId,
        name: String,
        at_least: Option<u64>,
        at_most: Option<u64>,
        from: Instant,
        until: Instant,
    },
    /// Entries queued as unreachable in a window ≥ count.
    UnreachableAtLeast {
        count: u64,
        from: Instant,
        until: Instant,
    },
    UnreachableAtMost {
        count: u64,
        from: Instant,
        until: Instant,
    },
    /// Restarts that recovered mail ≥ count.
    RecoveredAtLeast(u64),
    /// Client messages delivered to one recipient, within bounds.
    DeliveredTo {
        recipient: AddressId,
        name: String,
        at_least: Option<u64>,
        at_most: Option<u64>,
    },
    /// GCs given up by the categorizer, within bounds.
    PublicFolderBackfill {
        /// The asking store's server.
        server: ServerId,
        source: org::public_folders::cn_set::ReplicaId,
        name: String,
        at_least: Option<u64>,
        at_most: Option<u64>,
    },
    PublicFolderRefusals {
        server: ServerId,
        reason: org::public_folders::public_store::PfRefusal,
        name: String,
        at_least: Option<u64>,
        at_most: Option<u64>,
    },
    PublicFolderReads {
        server: ServerId,
        /// None: no server reached.
        served_by: Option<ServerId>,
        name: String,
        at_least: Option<u64>,
        at_most: Option<u64>,
    },
    /// The OAB's last generation by `at` holds (or lacks) a record with `address`.
    OabHolds {
        oab: org::system_attendant::oal_generation::OabId,
        address: String,
        at: Instant,
        present: bool,
        name: String,
    },
    /// The OAB's last generation by `at` gave versions 2/3a this outcome.
    OabLegacy {
        oab: org::system_attendant::oal_generation::OabId,
        at: Instant,
        outcome: crate::scenario::LegacyOutcomeKind,
        name: String,
    },
    /// Every client of the OAB holds at `at` the sequence newest at the last midnight a
    /// day or more before, or a newer one.
    OabClientsCurrent {
        oab: org::system_attendant::oal_generation::OabId,
        at: Instant,
        name: String,
    },
    GcFailovers {
        at_least: Option<u64>,
        at_most: Option<u64>,
    },
    /// Messages put in categorizer retry, within bounds.
    CategorizerRetries {
        at_least: Option<u64>,
        at_most: Option<u64>,
    },
    /// Out of Office replies, within bounds.
    OutOfOfficeReplies {
        at_least: Option<u64>,
        at_most: Option<u64>,
    },
    /// A latency percentile of messages submitted in a window, bounded.
    LatencyAtMost {
        percentile: f64,
        at_most_ms: u64,
        from: Instant,
        until: Instant,
    },
    /// Every domain's replicas agree this long after the last fault.
    DirectoryConverges {
        within_ms: u64,
    },
    /// The public stores agree at this instant.
    PublicFoldersConverge(Instant),
    /// Every running server's table has the same digest this long after the last fault.
    LinkStateConverges {
        within_ms: u64,
    },
    /// Link state messages sent over the run, within bounds.
    LinkStateMessages {
        at_least: Option<u64>,
        at_most: Option<u64>,
    },
}

/// A checked scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The file it came from.
    pub file: String,
    /// The scenario with every default filled in, as written.
    pub scenario: Scenario,
    /// Every forest's domains: the first forest's, then each other's (what
    /// `AdDomainId`s index).
    pub domains: Vec<String>,
    /// The forest of each domain.
    pub domain_forest: Vec<org::ForestId>,
    /// The organization.
    pub topology: Arc<Topology>,
    /// Interned addresses: `AddressId` → text.
    pub addresses: Vec<String>,
    /// Scripted mail of the timeline, indexed by [`WorldAction::Send`].
    pub sends: Vec<SendSpec>,
    /// Recipient changes of the timeline, indexed by [`WorldAction::ModifyRecipient`].
    pub modifications: Vec<Modification>,
    /// Site names.
    pub sites: Vec<String>,
    /// Site of each server.
    pub server_site: Vec<usize>,
    /// Site of each host beyond the organization.
    pub host_site: Vec<usize>,
    /// External addresses clients send to (`recipients.external`).
    pub external_addresses: Vec<AddressId>,
    /// Domain controllers and their replication connections, when the directory is
    /// simulated (`topology.ad_replication`).
    pub directory: Option<DirectorySpec>,
    /// WAN links.
    pub links: Vec<LinkSpec>,
    /// LAN bits per second.
    pub lan_bits_per_s: u64,
    /// LAN one-way latency.
    pub lan_latency_ms: u64,
    /// Mailboxes homed on each server.
    pub mailboxes_by_server: Vec<Vec<AddressId>>,
    /// Addresses in authoritative domains that no recipient has.
    pub unknown_addresses: Vec<AddressId>,
    /// Clients outside the organization sending to its inbound virtual servers.
    pub internet_senders: Vec<super::message_delivery::SenderSpec>,
    /// Timeline, in order.
    pub timeline: Vec<TimedAction>,
    /// Randomized faults, sampled per seed.
    pub weather: Option<crate::weather::WeatherSpec>,
    /// Client load.
    pub workload: Option<WorkloadSpec>,
    /// Move Mailbox tasks the timeline starts.
    pub move_tasks: Vec<MoveTaskSpec>,
    /// Windows server clusters running Exchange virtual servers.
    pub clusters: Vec<org::cluster::cluster_service::ClusterConfig>,
    /// Invariants to run.
    pub invariants: Vec<Invariant>,
    /// Expectations.
    pub expectations: Vec<Expect>,
    /// Run length.
    pub duration_ms: u64,
    /// Sampling interval for queue and link samples.
    pub sample_interval_ms: u64,
    /// The starting public folders' paths, naming them in the trace.
    pub public_folder_paths: BTreeMap<org::public_folders::replication_message::FolderId, String>,
    /// Cached-mode Outlook clients of the OABs.
    pub oab_clients: Vec<OabClientSpec>,
    /// The OABs generated before the run began, with that generation.
    pub oab_pregenerated: Vec<PregeneratedOab>,
    /// Public folder post loads.
    pub public_posts: Vec<PostSpec>,
    /// Public folder orders of the timeline, indexed by [`WorldAction::PublicFolder`].
    pub public_orders: Vec<PublicOrder>,
}

impl Resolved {
    /// The name of the public store on `server` (a server with none: its name).
    pub fn public_store_of_server(&self, server: ServerId) -> &str {
        match self.topology.public_store_of(server) {
            Some(r) => &self.topology.public_store(r).name,
            None => &self.topology.server(server).name,
        }
    }

    /// A cluster node's name.
    pub fn node_name(&self, n: ClusterNode) -> &str {
        &self.clusters[usize::from(n.cluster)].nodes[usize::from(n.node.0)]
    }

    /// The concrete timeline of a run at `seed`: the fixed steps and the weather's, in
    /// time order (fixed steps first at equal instants).
    pub fn timeline_for(&self, seed: u64) -> Vec<(TimedAction, StepSource)> {
        let mut steps: Vec<(TimedAction, StepSource)> =
            self.timeline.iter().map(|a| (*a, StepSource::Timeline)).collect();
        if let Some(w) = &self.weather {
            steps.extend(w.sample(seed).into_iter().map(|a| (a, StepSource::Weather)));
        }
        // Stable sort: equal instants keep fixed steps first, then the weather's order.
        steps.sort_by_key(|(a, source)| (a.at, *source == StepSource::Weather));
        steps
    }

    /// A step as a scenario action (how shrink writes a concrete timeline back out).
    pub fn to_action(&self, step: TimedAction) -> Action {
        let at = crate::units::Duration::from_ms(step.at.as_ms());
        let link = |l: usize| self.links[l].name.clone();
        let connector = |c: ConnectorId| self.topology.connector(c).name.clone();
        let server = |s: ServerId| self.topology.server(s).name.clone();
        match step.action {
            WorldAction::Send(i) => {
                let spec = &self.sends[i];
                let name = |a: AddressId| self.addresses[a.0 as usize].clone();
                Action::Send {
                    at,
                    from: name(spec.sender),
                    to: spec.recipients[..spec.named].iter().map(|r| name(*r)).collect(),
                    bcc: spec.recipients[spec.named..].iter().map(|r| name(*r)).collect(),
                    via: (!spec.mapi).then(|| server(spec.server)),
                    authenticated: Some(spec.authenticated),
                    count: spec.count,
                    size_kb: spec.size_bytes / 1_024,
                    scl: u8::try_from(spec.scl).ok(),
                }
            }
            WorldAction::ModifyRecipient(i) => {
                let m = &self.modifications[i];
                let name = self.addresses[m.recipient.0 as usize].clone();
                let domain_controller = m.domain_controller.clone();
                match &m.change {
                    ModificationKind::Attributes(attributes) => Action::ModifyRecipient {
                        at,
                        recipient: name,
                        attributes: attributes.clone(),
                        domain_controller,
                    },
                    ModificationKind::Readdressed { from, to } => Action::RenameSmtpDomain {
                        at,
                        from: from.clone(),
                        to: to.clone(),
                        recipients: vec![name],
                        domain_controller,
                    },
                    ModificationKind::Members { add, remove } => Action::ModifyGroup {
                        at,
                        group: name,
                        add: add.clone(),
                        remove: remove.clone(),
                        domain_controller,
                    },
                }
            }
            WorldAction::LinkDown(l) => Action::LinkDown { at, link: link(l) },
            WorldAction::LinkUp(l) => Action::LinkUp { at, link: link(l) },
            WorldAction::ConnectorDown(c) => Action::ConnectorDown { at, connector: connector(c) },
            WorldAction::ConnectorUp(c) => Action::ConnectorUp { at, connector: connector(c) },
            WorldAction::Crash(s, failure) => {
                Action::ServerCrash { at, server: server(s), power_loss: failure == Failure::PowerLoss }
            }
            WorldAction::Restart(s) => Action::ServerRestart { at, server: server(s) },
            WorldAction::NodeDown(n, failure) => {
                Action::NodeDown { at, node: self.node_name(n).to_string(), power_loss: failure == Failure::PowerLoss }
            }
            WorldAction::NodeUp(n) => Action::NodeUp { at, node: self.node_name(n).to_string() },
            WorldAction::MoveMailboxes(i) => {
                let task = &self.move_tasks[i];
                Action::MoveMailboxes {
                    at,
                    mailboxes: task
                        .mailboxes
                        .iter()
                        .map(|m| org::trace::Namer::address(self, *m).to_string())
                        .collect(),
                    from_store: None,
                    count: None,
                    to_store: self.topology.store(task.to_store).name.clone(),
                    cancel_at: task.cancel_at.map(|t| crate::units::Duration::from_ms(t.as_ms())),
                }
            }
            WorldAction::PublicFolder(i) => self.public_orders[i].step.clone(),
            WorldAction::SetMaster(g, s) => {
                Action::SetMaster { at, routing_group: self.topology.routing_group(g).name.clone(), server: server(s) }
            }
            WorldAction::Database(d, true) => {
                Action::MountDatabase { at, database: self.topology.store(d).name.clone() }
            }
            WorldAction::SetQuota { target, quota } => match target {
                QuotaTarget::Mailbox(m) => {
                    let mailbox = Some(org::trace::Namer::address(self, m).to_string());
                    Action::SetQuota { at, mailbox, database: None, quota }
                }
                QuotaTarget::Store(s) => {
                    Action::SetQuota { at, mailbox: None, database: Some(self.topology.store(s).name.clone()), quota }
                }
            },
            WorldAction::Backup(d) => {
                let store = self.topology.store(d);
                Action::Backup { at, server: server(store.server), storage_group: store.storage_group.clone() }
            }
            WorldAction::PurgeBadmail(s, vs) => {
                let virtual_server = vs.map(|vs| match vs {
                    VirtualServerRef::Default => self.topology.server(s).smtp.name.clone(),
                    VirtualServerRef::Inbound(k) => self.topology.edge.virtual_servers[usize::from(k)].1.name.clone(),
                });
                Action::PurgeBadmail { at, server: server(s), virtual_server }
            }
            WorldAction::DiskFailure(d, logs_lost) => {
                let store = self.topology.store(d);
                Action::DiskFailure {
                    at,
                    server: server(store.server),
                    storage_group: store.storage_group.clone(),
                    logs_lost,
                }
            }
            WorldAction::Restore { from, to, only } => {
                let store = self.topology.store(from);
                Action::Restore {
                    at,
                    server: server(store.server),
                    storage_group: store.storage_group.clone(),
                    databases: restored_stores(&self.topology, from, only)
                        .map(|d| self.topology.store(d).name.clone())
                        .collect(),
                    to_server: (to != store.server).then(|| server(to)),
                }
            }
            WorldAction::Merge(s, rights) => {
                Action::Merge { at, server: server(s), receive_as: rights.receive_as, send_as: rights.send_as }
            }
            WorldAction::Database(d, false) => {
                Action::DismountDatabase { at, database: self.topology.store(d).name.clone() }
            }
            WorldAction::HostDown(h) => Action::HostDown { at, host: self.topology.host(h).name.clone() },
            WorldAction::DirectoryChange { dc, count, attributes, urgent, delete } => {
                Action::DirectoryChange { at, dc: self.dc_name(dc), count, attributes, urgent, delete }
            }
            WorldAction::DcDown(dc) => Action::DcDown { at, dc: self.dc_name(dc) },
            WorldAction::ClockSkew(dc, skew_ms) => Action::ClockSkew {
                at,
                dc: self.dc_name(dc),
                skew: crate::units::Duration::from_ms(skew_ms.unsigned_abs()),
                behind: skew_ms < 0,
            },
            WorldAction::DcUp(dc) => Action::DcUp { at, dc: self.dc_name(dc) },
            WorldAction::HostUp(h) => Action::HostUp { at, host: self.topology.host(h).name.clone() },
        }
    }

    /// A domain controller's name.
    pub fn dc_name(&self, dc: DcId) -> String {
        self.scenario.topology.domain_controllers[usize::from(dc.0)].name.clone()
    }

    /// The same scenario with these planted bugs switched on.
    pub fn with_plants(&self, plants: org::planted_bugs::Plants) -> Resolved {
        let mut r = self.clone();
        let mut topology = (*r.topology).clone();
        topology.plants = plants;
        r.topology = Arc::new(topology);
        r
    }
}

/// A population of cached-mode Outlook 2003 SP2 clients of an OAB.
#[derive(Clone, Debug)]
pub struct OabClientSpec {
    /// Which OAB.
    pub oab: org::system_attendant::oal_generation::OabId,
    /// The server whose mailboxes they are (their site, their referrals).
    pub server: ServerId,
    /// How many.
    pub count: u32,
    /// The OAB file version their Outlook downloads.
    pub version: org::system_attendant::oab::distribution::OabVersion,
    /// `OAB @ server` (with the Outlook version unless 2003 SP2), as traces name it.
    pub name: String,
}

/// An OAB generated before the run began.
#[derive(Clone, Debug)]
pub struct PregeneratedOab {
    pub oab: org::system_attendant::oal_generation::OabId,
    /// Its generation server.
    pub server: ServerId,
    /// The generator after that run (on the server's disk as the run starts).
    pub generator: Arc<org::system_attendant::oab::oal_generator::OalGenerator>,
    /// What the run made.
    pub generation: Arc<org::system_attendant::oab::oal_generator::Generation>,
}
