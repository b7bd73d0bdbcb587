//! The organization's configuration as the directory holds it, resolved to ids: servers,
//! routing groups, connectors between routing groups, connectors with address spaces
//! (SMTP and X.400 gateways), stores, SMTP virtual server settings, and the simulated
//! Internet beyond the organization (mail hosts, smart hosts, foreign MTAs, DNS).
//! Shared read-only by every server (each keeps its own *state*, e.g. its link state
//! table, apart).

use crate::directory::ad_replication::DcId;
use crate::directory::global_catalog::GlobalCatalog;
use crate::planted_bugs::{PlantedBug, Plants};
use crate::public_folders::cn_set::ReplicaId;
use crate::store::disk_load::{DiskSettings, UserProfile};
use crate::time::{MINUTE_MS, SECOND_MS};
use crate::transport::address_space::{AddressSpace, DomainId, ExternalDirectory};
use crate::version::ExchangeVersion;
use crate::{AddressId, ConnectorId, ForestId, GatewayId, HostId, RoutingGroupId, ServerId, StorageGroupId, StoreId};
use std::collections::BTreeMap;

/// The whole organization's configuration.
#[derive(Clone, Debug)]
pub struct Topology {
    /// Exchange servers, indexed by [`ServerId`].
    pub servers: Vec<ServerConfig>,
    /// Routing groups, indexed by [`RoutingGroupId`].
    pub routing_groups: Vec<RoutingGroupConfig>,
    /// Connectors between routing groups, indexed by [`ConnectorId`].
    pub connectors: Vec<ConnectorConfig>,
    /// SMTP and X.400 connectors with address spaces, indexed by [`GatewayId`].
    pub gateways: Vec<GatewayConfig>,
    /// Mailbox stores, indexed by [`StoreId`].
    pub stores: Vec<StoreConfig>,
    /// Storage groups, indexed by [`StorageGroupId`] (built from the stores by
    /// [`StorageGroupConfig::of_stores`]).
    pub storage_groups: Vec<StorageGroupConfig>,
    /// Every forest's recipients: the world's truth, which the checks read. With one
    /// forest it is that forest's GAL too.
    pub directory: GlobalCatalog,
    /// The forests, each holding one Exchange organization (EXCHANGE2003.md §6),
    /// indexed by [`ForestId`]; empty for a topology built without names (tests).
    pub forests: Vec<ForestConfig>,
    /// With several forests, each one's own recipients as its GCs serve them (its GAL),
    /// indexed by [`ForestId`]; empty with one forest, whose GAL is `directory`.
    pub forest_directories: Vec<GlobalCatalog>,
    /// Addresses outside the organization that mail is sent to.
    pub external: ExternalDirectory,
    /// Hosts and DNS beyond the organization.
    pub internet: InternetConfig,
    /// Planted bugs switched on for this run (none in real use).
    pub plants: Plants,
    /// How link state changes are detected, reviewed and propagated.
    pub link_state: LinkStateConfig,
    /// The run's calendar (the scenario's `start`): services act at times of day.
    pub calendar: crate::calendar::Calendar,
    /// Mailboxes with settings of their own (a starting size, quotas overriding their
    /// store's).
    pub mailboxes: BTreeMap<AddressId, MailboxSettings>,
    /// The Intelligent Message Filter's store threshold: mail with an SCL strictly above
    /// it goes into the Junk E-mail folder (EXCHANGE2003.md §3.1).
    pub junk_threshold: i8,
    /// Servers with a Recovery Storage Group, with their "Recovery SG Override".
    pub recovery_storage_groups: BTreeMap<ServerId, RecoveryStorageGroupConfig>,
    /// Public stores, indexed by their [`ReplicaId`] (EXCHANGE2003.md §8).
    pub public_stores: Vec<PublicStoreConfig>,
    /// The organization's public folders when the run starts.
    pub public_folders: std::sync::Arc<crate::public_folders::public_store::Setup>,
    /// Offline address books, indexed by their `OabId` (EXCHANGE2003.md §9).
    pub offline_address_books: Vec<crate::system_attendant::oal_generation::OabConfig>,
    /// How recipients' legacyExchangeDNs are formed (what OAB records are keyed by).
    pub legacy_dn_naming: crate::directory::global_catalog::LegacyDnNaming,
    /// The SMTP edge: filters, inbound virtual servers, accounts (EXCHANGE2003.md §3.1).
    pub edge: std::sync::Arc<crate::transport::smtp_filters::EdgeConfig>,
}

/// A public store: a database of a server's storage group holding the hierarchy and
/// the folders whose replica lists name it, with the directory address replication
/// mail goes to.
#[derive(Clone, Debug)]
pub struct PublicStoreConfig {
    /// Display name, e.g. `Public Folder Store (EX01)`.
    pub name: String,
    /// The server that mounts it.
    pub server: ServerId,
    /// Its address (its directory object's `mail`).
    pub address: AddressId,
    /// Its server's site (backfill timeouts differ for a source in the local site).
    pub site: u16,
    /// Its replication settings (schedule, preferred backfill source).
    pub settings: crate::public_folders::public_store::PublicStoreSettings,
}

/// A server's Recovery Storage Group (EXCHANGE2003.md §7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryStorageGroupConfig {
    /// The "Recovery SG Override" registry value = 1: restores go over the original
    /// databases though the RSG exists.
    pub sg_override: bool,
}

impl Topology {
    /// Whether a planted bug is on.
    #[inline]
    pub fn bug(&self, bug: PlantedBug) -> bool {
        self.plants.has(bug)
    }

    /// The GAL a forest's servers and GCs see: its own recipients only.
    pub fn gal(&self, forest: ForestId) -> &GlobalCatalog {
        self.forest_directories.get(usize::from(forest.0)).unwrap_or(&self.directory)
    }

    /// The GAL a server sees: its forest's.
    pub fn gal_of(&self, server: ServerId) -> &GlobalCatalog {
        self.gal(self.server(server).forest)
    }

    /// The server's configuration.
    pub fn server(&self, id: ServerId) -> &ServerConfig {
        &self.servers[usize::from(id.0)]
    }

    /// The connector's configuration.
    pub fn connector(&self, id: ConnectorId) -> &ConnectorConfig {
        &self.connectors[usize::from(id.0)]
    }

    /// The routing group's configuration.
    pub fn routing_group(&self, id: RoutingGroupId) -> &RoutingGroupConfig {
        &self.routing_groups[usize::from(id.0)]
    }

    /// The gateway's configuration.
    pub fn gateway(&self, id: GatewayId) -> &GatewayConfig {
        &self.gateways[usize::from(id.0)]
    }

    /// The external host's configuration.
    pub fn host(&self, id: HostId) -> &HostConfig {
        &self.internet.hosts[usize::from(id.0)]
    }

    /// The store's configuration.
    pub fn store(&self, id: StoreId) -> &StoreConfig {
        &self.stores[usize::from(id.0)]
    }

    /// The storage group's configuration.
    pub fn storage_group(&self, id: StorageGroupId) -> &StorageGroupConfig {
        &self.storage_groups[usize::from(id.0)]
    }

    /// The storage groups of a server, in the scenario's order.
    pub fn storage_groups_of(&self, server: ServerId) -> impl Iterator<Item = StorageGroupId> + '_ {
        (0..self.storage_groups.len())
            .map(|i| StorageGroupId(i as u16))
            .filter(move |g| self.storage_group(*g).server == server)
    }

    /// The public store a server mounts, if any.
    pub fn public_store_of(&self, server: ServerId) -> Option<ReplicaId> {
        self.public_stores.iter().position(|p| p.server == server).map(|i| ReplicaId(i as u16))
    }

    /// A public store's configuration.
    pub fn public_store(&self, id: ReplicaId) -> &PublicStoreConfig {
        &self.public_stores[usize::from(id.0)]
    }

    /// A server's databases, in order.
    pub fn stores_of(&self, server: ServerId) -> impl Iterator<Item = StoreId> + '_ {
        (0..self.stores.len()).map(|i| StoreId(i as u16)).filter(move |s| self.store(*s).server == server)
    }
}

/// A forest and its Exchange organization.
#[derive(Clone, Debug)]
pub struct ForestConfig {
    /// Named by its root domain, e.g. `fabrikam.com`.
    pub name: String,
    /// The Exchange organization's name (the `/o=` of its legacyExchangeDNs).
    pub organization: String,
}

/// One Exchange server.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// NetBIOS name, e.g. `EX01`.
    pub name: String,
    /// The forest (and Exchange organization) it belongs to.
    pub forest: ForestId,
    /// Fully qualified name, used in SMTP banners and queue names.
    pub fqdn: String,
    /// The address its connections to other organizations come from.
    pub ip: std::net::Ipv4Addr,
    /// Selects behaviour where versions differ.
    pub version: ExchangeVersion,
    /// The routing group the server belongs to.
    pub routing_group: RoutingGroupId,
    /// The (one, in v1) SMTP virtual server.
    pub smtp: SmtpVirtualServerConfig,
    /// The X.400 MTA (message transfer agent), for X.400 connectors.
    pub mta: MtaConfig,
    /// The global catalogs DSAccess uses, in the order it tries them: its own site's
    /// first, then the others (§2).
    pub global_catalogs: Vec<DcId>,
    /// DSAccess user cache settings when recipient lookups go to a GC; `None` reads the
    /// recipients directly (a cache that never misses).
    pub dsaccess: Option<crate::directory::dsaccess::DsAccessConfig>,
    /// `JournalBCC`: journal reports list Bcc recipients too.
    pub journal_bcc: bool,
    /// `MaxBadMailFolderSize` and `BadMailSyncPeriod` (every virtual server's folder).
    pub badmail: crate::transport::mailroot::BadmailSettings,
}

/// The X.400 MTA's retry rules for opening an association (EXCHANGE2003.md §3.2a [P]):
/// an X.400 queue follows these instead of the SMTP glitch-retry schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MtaConfig {
    /// Wait between attempts to open an association (600 s).
    pub open_interval_ms: u64,
    /// Failed opens after which the queued messages are returned as non-deliverable (144).
    pub max_open_retries: u32,
}

impl Default for MtaConfig {
    fn default() -> Self {
        // EXCHANGE2003.md §3.2a: max open retries 144, open interval 600 s.
        MtaConfig { open_interval_ms: 600 * SECOND_MS, max_open_retries: 144 }
    }
}

/// A routing group.
#[derive(Clone, Debug)]
pub struct RoutingGroupConfig {
    /// Display name, e.g. `Hub RG`.
    pub name: String,
    /// Member servers, in directory order.
    pub members: Vec<ServerId>,
    /// The routing group master the directory names at the start of a run (the first
    /// member unless an administrator named another, EXCHANGE2003.md §4).
    pub master: ServerId,
    /// The administrative group it belongs to (an index).
    pub administrative_group: u16,
    /// The forest (and Exchange organization) it belongs to.
    pub forest: ForestId,
}

/// Link state detection, review and propagation settings (EXCHANGE2003.md §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkStateConfig {
    /// The 2003 review interval: conflicting changes within it count together (10 min).
    pub oscillation_interval_ms: u64,
    /// This many conflicting changes (each reversing a change made less than the
    /// interval before) within the interval mark a connector oscillating (2).
    pub oscillation_changes: u32,
    /// A bridgehead retries a connector marked down this often, with or without mail (60 s).
    pub probe_interval_ms: u64,
    /// Link state updates and reports not acknowledged are sent again after this (60 s).
    pub resend_interval_ms: u64,
    /// `SuppressStateChanges` = 1: reports never mark a connector down.
    pub suppress_state_changes: bool,
}

impl Default for LinkStateConfig {
    fn default() -> Self {
        LinkStateConfig {
            // EXCHANGE2003.md §4: the 2003 review uses a 10-minute window [P] and a
            // threshold of 2 conflicting changes [U].
            oscillation_interval_ms: 10 * MINUTE_MS,
            oscillation_changes: 2,
            // EXCHANGE2003.md §4: a down connector's source keeps trying every 60 s [P].
            probe_interval_ms: 60 * SECOND_MS,
            // orgsim's choice [U]: the same 60 s as the probe, for the TCP 691 and
            // X-LINK2STATE exchanges that got no answer.
            resend_interval_ms: 60 * SECOND_MS,
            suppress_state_changes: false,
        }
    }
}

/// What carries mail over a connector between routing groups (EXCHANGE2003.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectorKind {
    /// A routing group connector (SMTP between bridgeheads).
    RoutingGroup,
    /// An SMTP connector whose connected routing groups list the target group.
    Smtp,
    /// An X.400 connector between MTAs. Link state does not cross it: bridgeheads on
    /// either side exchange no `X-LINK2STATE`, so its groups are link state islands
    /// unless another path joins them (EXCHANGE2003.md §4).
    X400,
}

impl ConnectorKind {
    /// Whether link state travels over the connector (SMTP with `X-LINK2STATE`).
    pub fn carries_link_state(self) -> bool {
        self != ConnectorKind::X400
    }
}

/// A one-way connector between two routing groups (Exchange creates routing group
/// connectors in pairs, one per direction).
#[derive(Clone, Debug)]
pub struct ConnectorConfig {
    /// Display name; also the name of the link queue that feeds it.
    pub name: String,
    /// Routing group, SMTP or X.400 connector.
    pub kind: ConnectorKind,
    /// The routing group mail leaves.
    pub from: RoutingGroupId,
    /// The routing group mail reaches.
    pub to: RoutingGroupId,
    /// Cost 1–100 (EXCHANGE2003.md §4).
    pub cost: u32,
    /// Local bridgeheads in `from`.
    pub source_bridgeheads: Vec<ServerId>,
    /// Remote bridgeheads in `to`.
    pub target_bridgeheads: Vec<ServerId>,
}

/// How a gateway hands mail out of the organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// SMTP connector, "Use DNS to route to each address space": MX lookup per domain.
    Dns,
    /// SMTP connector, "Forward all mail through this connector to the following smart
    /// hosts".
    SmartHost(HostId),
    /// X.400 connector: the remote MTA (a foreign system or an Exchange 5.5 site).
    Mta(HostId),
    /// SMTP connector whose smart host is a bridgehead of another organization (another
    /// forest, §6): its sessions go to that server's inbound virtual server, with the
    /// connector's outbound security.
    Organization {
        /// The other organization's bridgehead.
        server: ServerId,
        /// Its inbound virtual server (an index into the edge's list).
        virtual_server: u16,
    },
}

/// How an SMTP connector authenticates to the server it delivers to (its Outbound
/// Security): anonymously, or with Basic authentication as an account of the receiving
/// organization (§6 Option 1: an account there with Send As on the contacts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OutboundSecurity {
    /// Anonymous access.
    #[default]
    Anonymous,
    /// `AUTH LOGIN` with this account and password.
    Basic {
        /// The account (`DOMAIN\name` or its name).
        account: String,
        /// Its password.
        password: String,
    },
}

/// A connector with address spaces: an SMTP connector to the Internet (or another
/// organization) or an X.400 connector to a foreign MTA (EXCHANGE2003.md §5).
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Display name; also the name of its link queue (smart host, MTA, or a server
    /// forwarding to its bridgehead).
    pub name: String,
    /// The routing group it belongs to (its scope: the organization).
    pub routing_group: RoutingGroupId,
    /// Its local bridgeheads, in `routing_group`.
    pub source_bridgeheads: Vec<ServerId>,
    /// What it carries; never empty.
    pub address_spaces: Vec<AddressSpace>,
    /// How it delivers.
    pub delivery: Delivery,
    /// How it authenticates to another organization's server.
    pub outbound_security: OutboundSecurity,
}

/// What a host beyond the organization does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostRole {
    /// Accepts mail over SMTP: an MX host of some domains, or a smart host relaying all.
    Mail,
    /// A foreign X.400 MTA (or an Exchange 5.5 server's MTA).
    Mta,
    /// Answers MX queries from [`InternetConfig::mx`].
    Dns,
}

/// A host beyond the organization.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Name in the scenario.
    pub name: String,
    /// Fully qualified name (what MX records name).
    pub fqdn: String,
    /// Mail host, MTA or DNS server.
    pub role: HostRole,
}

/// An MX record (RFC 5321 §5: lower preference first, equal preferences shared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct MxRecord {
    /// Preference; lower is tried first.
    pub preference: u16,
    /// The mail host.
    pub host: HostId,
}

/// The Internet as the organization's bridgeheads see it.
#[derive(Clone, Debug, Default)]
pub struct InternetConfig {
    /// Mail hosts, MTAs and DNS servers, indexed by [`HostId`].
    pub hosts: Vec<HostConfig>,
    /// The DNS servers bridgeheads query, in order (the virtual server's external DNS
    /// server list).
    pub dns_servers: Vec<HostId>,
    /// MX records per domain; a domain with none does not exist (NXDOMAIN).
    pub mx: BTreeMap<DomainId, Vec<MxRecord>>,
    /// How long a bridgehead waits for one DNS server before asking the next.
    pub dns_timeout_ms: u64,
    /// TXT, A and block list records (what edge sessions ask).
    pub zones: crate::transport::dns::DnsZones,
}

/// A mailbox store (an .edb/.stm pair in a storage group).
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Display name, e.g. `Mailbox Store (EX01)`.
    pub name: String,
    /// The storage group it belongs to.
    pub storage_group: String,
    /// The same, as an index (set by [`StorageGroupConfig::of_stores`]).
    pub storage_group_id: StorageGroupId,
    /// Its size when the run starts and the SP2 size limit's settings.
    pub size: StoreSizeConfig,
    /// Its mailboxes' storage limits (a mailbox may override them).
    pub quota: MailboxQuota,
    /// The journal mailbox of a journaling store.
    pub journal_recipient: Option<AddressId>,
    /// Its users' client load (for the disk model).
    pub profile: UserProfile,
    /// Deletions and online maintenance.
    pub maintenance: MaintenanceConfig,
    /// The server that mounts it.
    pub server: ServerId,
}

/// Whose storage limits an administrator changes: one mailbox's own, or a database's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum QuotaTarget {
    Mailbox(AddressId),
    Store(StoreId),
}

/// A mailbox's storage limits (EXCHANGE2003.md §7): a warning, then its owner may not
/// send, then it takes no mail (5.2.2). `None`: no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailboxQuota {
    pub issue_warning_bytes: Option<u64>,
    pub prohibit_send_bytes: Option<u64>,
    pub prohibit_send_receive_bytes: Option<u64>,
}

/// One mailbox's own settings: what it holds when the run starts, and its limits when
/// they are not its store's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailboxSettings {
    pub initial_bytes: u64,
    pub quota: Option<MailboxQuota>,
}

/// A database's size at the start and its SP2 size limit (EXCHANGE2003.md §7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreSizeConfig {
    /// Physical size (.edb + .stm) when the run starts.
    pub initial_physical_bytes: u64,
    /// Logical free space in it (whitespace online maintenance made).
    pub initial_free_bytes: u64,
    /// The limit on the logical size; `None` where no limit is checked (before SP2).
    pub limit_bytes: Option<u64>,
    /// Warning when the logical size is within this share of the limit (10 %: at 90 %).
    pub warning_buffer_percent: u64,
    /// When the daily check runs (05:00).
    pub check_ms_of_day: u64,
}

impl StoreSizeConfig {
    /// Physical size (.edb + .stm) with what has been written into these files.
    pub fn physical_bytes(&self, files: &crate::transport::queue_directory::DatabaseFiles) -> u64 {
        self.initial_physical_bytes + files.edb_bytes + files.stm_bytes
    }

    /// Logical size: physical less free space (what it started with and what online
    /// maintenance purged since).
    pub fn logical_bytes(&self, files: &crate::transport::queue_directory::DatabaseFiles) -> u64 {
        self.physical_bytes(files).saturating_sub(self.initial_free_bytes + files.purged_bytes)
    }
}

/// What users delete and online maintenance purges in a database (§7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaintenanceConfig {
    /// Share of each day's delivered bytes its users delete, at midnight [U].
    pub deleted_percent: u64,
    /// Deleted item retention (7 days).
    pub item_retention_ms: u64,
    /// Deleted mailbox retention (30 days).
    pub mailbox_retention_ms: u64,
    /// When the nightly window opens (01:00).
    pub start_ms_of_day: u64,
}

/// A storage group: one transaction log stream shared by its databases (§7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageGroupConfig {
    /// Name, unique on its server, e.g. `First Storage Group`.
    pub name: String,
    /// The server that holds it.
    pub server: ServerId,
    /// Its databases.
    pub stores: Vec<StoreId>,
    /// Its log stream's settings.
    pub log: LogSettings,
    /// The volumes under its databases and its logs (for the disk model); a database
    /// volume not given is sized for its mailboxes' busy hour by the model's user.
    pub database_disk: Option<DiskSettings>,
    pub log_disk: DiskSettings,
    /// Its scheduled online backup: daily at this time of day (none: only when the
    /// timeline asks).
    pub backup_ms_of_day: Option<u64>,
}

/// A storage group's transaction log settings (EXCHANGE2003.md §7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogSettings {
    /// Circular logging (off by default): log files the checkpoint has passed are
    /// deleted, so the logs never fill their disk, and a backup cannot replay them.
    pub circular: bool,
    /// Capacity of the volume holding the log files (none: never full).
    pub disk_bytes: Option<u64>,
}

impl StorageGroupConfig {
    /// The storage groups the stores name, each (server, name) once, in order of their
    /// first store.
    /// Sets each store's `storage_group_id`.
    pub fn of_stores(stores: &mut [StoreConfig]) -> Vec<StorageGroupConfig> {
        let mut groups: Vec<StorageGroupConfig> = Vec::new();
        for (i, store) in stores.iter_mut().enumerate() {
            let id = StoreId(i as u16);
            let found = groups.iter().position(|g| g.server == store.server && g.name == store.storage_group);
            let g = found.unwrap_or_else(|| {
                groups.push(StorageGroupConfig {
                    name: store.storage_group.clone(),
                    server: store.server,
                    stores: vec![],
                    log: LogSettings::default(),
                    database_disk: None,
                    log_disk: DiskSettings::LOG_VOLUME,
                    backup_ms_of_day: None,
                });
                groups.len() - 1
            });
            groups[g].stores.push(id);
            store.storage_group_id = StorageGroupId(g as u16);
        }
        groups
    }
}

/// Queue retry schedule of an SMTP virtual server (EXCHANGE2003.md §3.2a).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    /// Glitch retries after a failed connection before the normal schedule (3).
    pub glitch_retry_count: u32,
    /// Interval between glitch retries (60 s).
    pub glitch_retry_interval_ms: u64,
    /// First, second, third and subsequent retry intervals (10/10/10/15 min).
    pub intervals_ms: [u64; 4],
}

impl Default for RetrySchedule {
    fn default() -> Self {
        // EXCHANGE2003.md §3.2a: glitch retry 3 × 60 s, then 10/10/10/15 min.
        RetrySchedule {
            glitch_retry_count: 3,
            glitch_retry_interval_ms: 60 * SECOND_MS,
            intervals_ms: [10 * MINUTE_MS, 10 * MINUTE_MS, 10 * MINUTE_MS, 15 * MINUTE_MS],
        }
    }
}

impl RetrySchedule {
    /// Delay before the next attempt after `failures` consecutive failed connections
    /// (`failures >= 1`).
    pub fn delay_ms(&self, failures: u32) -> u64 {
        debug_assert!(failures >= 1);
        if failures <= self.glitch_retry_count {
            return self.glitch_retry_interval_ms;
        }
        let normal = (failures - self.glitch_retry_count - 1) as usize;
        self.intervals_ms[normal.min(self.intervals_ms.len() - 1)]
    }
}

/// Settings of an SMTP virtual server that the transport honours.
#[derive(Clone, Debug)]
pub struct SmtpVirtualServerConfig {
    /// Display name, e.g. `Default SMTP Virtual Server`.
    pub name: String,
    /// Maximum message size; `None` means no limit.
    pub max_message_size_bytes: Option<u64>,
    /// Queue retry schedule.
    pub retry: RetrySchedule,
    /// Expiration timeout for local and outbound mail (2 days).
    pub expiration_ms: u64,
    /// Messages sent on one outbound connection before it is closed and a new one opened
    /// (Exchange's "limit number of messages per connection", 20).
    pub messages_per_connection: u32,
    /// How long an outbound TCP connect may take before it fails (Windows: 3 SYNs, 21 s).
    pub connect_timeout_ms: u64,
    /// Idle time after which an SMTP connection is dropped (10 min).
    pub connection_timeout_ms: u64,
    /// How often mail in "Final destination currently unreachable" is re-routed (15 min).
    pub unreachable_reroute_interval_ms: u64,
    /// Group-commit delay of the queue directory: writes become durable, and the acks that
    /// wait on them go out, this long after the first write of a batch.
    pub log_flush_ms: u64,
}

impl Default for SmtpVirtualServerConfig {
    fn default() -> Self {
        SmtpVirtualServerConfig {
            name: "Default SMTP Virtual Server".into(),
            // EXCHANGE2003.md §3.2a: virtual server message size limit 4,096 KB.
            max_message_size_bytes: Some(4_096 * 1_024),
            retry: RetrySchedule::default(),
            // EXCHANGE2003.md §3.2a: expiration 2 days.
            expiration_ms: 2 * 24 * 60 * MINUTE_MS,
            // IIS SMTP "Limit number of messages per connection to" default 20 [P].
            messages_per_connection: 20,
            // Windows TCP connect: SYN retransmits at 3 s, 6 s, 12 s → gives up at 21 s [P].
            connect_timeout_ms: 21 * SECOND_MS,
            // IIS SMTP outbound connection time-out default 10 minutes [P].
            connection_timeout_ms: 10 * MINUTE_MS,
            // EXCHANGE2003.md §3.2a: unreachable mail re-routed every 15 min [U].
            unreachable_reroute_interval_ms: 15 * MINUTE_MS,
            // orgsim's choice [U]: a 5 ms write-through of the queue file.
            log_flush_ms: 5,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedule_exchange2003_3_2a() {
        let r = RetrySchedule::default();
        let delays: Vec<u64> = (1..=8).map(|f| r.delay_ms(f) / SECOND_MS).collect();
        assert_eq!(delays, vec![60, 60, 60, 600, 600, 600, 900, 900]);
    }
}
