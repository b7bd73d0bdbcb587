//! The organization: domains, sites, administrative and routing groups, servers with their
//! virtual servers, MTA and stores, routing group connectors, WAN links and the LAN.

use super::*;

/// The organization's topology.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Topology")]
pub struct TopologyDef {
    /// The Exchange organization's name (the `/o=` of every legacyExchangeDN).
    #[serde(default = "defaults::organization")]
    pub organization: String,
    /// The forest, named by its root domain (e.g. `contoso.com`).
    pub forest: String,
    /// Active Directory domains of the forest (the root among them).
    pub domains: Vec<Domain>,
    /// Active Directory sites.
    pub sites: Vec<Site>,
    /// Domain controllers; those with `global_catalog` serve the categorizer.
    pub domain_controllers: Vec<DomainControllerDef>,
    /// Simulate DSAccess: the categorizer reads recipients through a user cache and asks
    /// a GC (its own site's first) for what it has no fresh entry for. Without it,
    /// recipients are read directly (a cache that never misses).
    #[serde(default)]
    pub dsaccess: Option<DsAccess>,
    /// Administrative groups.
    pub administrative_groups: Vec<AdministrativeGroup>,
    /// Routing groups.
    pub routing_groups: Vec<RoutingGroup>,
    /// Exchange servers.
    pub servers: Vec<Server>,
    /// One-way connectors between routing groups (create one per direction, as ESM
    /// does for routing group connectors).
    #[serde(default)]
    pub routing_group_connectors: Vec<RoutingGroupConnector>,
    /// SMTP connectors with address spaces: to the Internet or another organization,
    /// by DNS or through a smart host (EXCHANGE2003.md §5).
    #[serde(default)]
    pub smtp_connectors: Vec<SmtpConnector>,
    /// X.400 connectors with address spaces, to a foreign MTA or an Exchange 5.5 site
    /// (EXCHANGE2003.md §5).
    #[serde(default)]
    pub x400_connectors: Vec<X400Connector>,
    /// Hosts beyond the organization: Internet mail hosts, smart hosts, foreign MTAs and
    /// DNS servers, and the MX records of external domains.
    #[serde(default)]
    pub internet: Option<Internet>,
    /// WAN links between sites.
    #[serde(default)]
    pub wan_links: Vec<WanLink>,
    /// The network inside each site.
    #[serde(default)]
    pub lan: Lan,
    /// Link state detection, review and propagation.
    #[serde(default)]
    pub link_state: LinkStateSettings,
    /// The Intelligent Message Filter's organization-wide settings (Global Settings,
    /// Message Delivery).
    #[serde(default)]
    pub intelligent_message_filter: ImfSettings,
    /// The organization's SMTP filters (Global Settings, Message Delivery), each enabled
    /// per inbound virtual server.
    #[serde(default)]
    pub message_delivery: MessageDeliveryDef,
    /// Active Directory replication between the domain controllers; absent: the
    /// directory is not simulated.
    #[serde(default)]
    pub ad_replication: Option<AdReplication>,
    /// Windows server clusters running Exchange virtual servers.
    #[serde(default)]
    pub clusters: Vec<Cluster>,
    /// Forests beside this one (EXCHANGE2003.md §6), each with its own domains, GAL and
    /// Exchange organization; the fields above describe the first forest, and a site or
    /// administrative group of another names it in `forest`. Mail between forests goes
    /// over SMTP connectors, as to the Internet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forests: Vec<ForestDef>,
}

/// A forest beside the first, holding its own Exchange organization.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForestDef {
    /// The forest, named by its root domain (e.g. `fabrikam.com`).
    pub forest: String,
    /// Its Exchange organization's name.
    pub organization: String,
    /// Its Active Directory domains (the root among them). Domain names are unique across
    /// the scenario.
    pub domains: Vec<Domain>,
    /// Its organization's authoritative SMTP domains (its recipient policy), the first
    /// the primary: what its users' addresses are in. None may be another forest's.
    pub smtp_domains: Vec<String>,
}

/// A Windows server cluster (EXCHANGE2003.md §10a): nodes owning Exchange virtual
/// servers (servers of `servers`), each on the node at its index at the start; a
/// failed node's virtual servers fail over to the first node up that owns none.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// The cluster's name.
    pub name: String,
    /// The Windows version of its nodes: Windows 2000 Advanced Server clusters 2 nodes
    /// and Datacenter 4; Windows Server 2003 Enterprise and Datacenter up to 8.
    pub windows: WindowsVersionDef,
    /// Its nodes, in preference order; names unique in the organization.
    pub nodes: Vec<String>,
    /// Its Exchange virtual servers (Enterprise Edition); with more than two nodes,
    /// fewer than the nodes (at least one passive).
    pub virtual_servers: Vec<String>,
    /// Time from a node's failure to its virtual servers running on another node; by
    /// default on Windows 2000 5 min + 1 min per 1,000 of the virtual server's users, at
    /// most 8 min, and half that on Windows Server 2003 [U].
    #[serde(default)]
    pub failover: Option<Duration>,
}

/// A cluster node's Windows version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WindowsVersionDef {
    #[serde(rename = "2000")]
    Windows2000,
    #[serde(rename = "2003")]
    Windows2003,
}

/// Link state settings of the organization (EXCHANGE2003.md §4).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkStateSettings {
    /// 2003: conflicting changes for one connector within this window count together.
    #[serde(default = "defaults::oscillation_interval")]
    pub oscillation_interval: Duration,
    /// 2003: this many conflicting changes (each reversing a change made less than
    /// `oscillation_interval` before) within the window mark the connector
    /// oscillating; it is left up.
    #[serde(default = "defaults::oscillation_changes")]
    pub oscillation_changes: u32,
    /// A bridgehead tries a connector marked down this often, with or without mail.
    #[serde(default = "defaults::probe_interval")]
    pub probe_interval: Duration,
    /// Link state updates and reports that got no answer are sent again after this.
    #[serde(default = "defaults::resend_interval")]
    pub resend_interval: Duration,
    /// The `SuppressStateChanges` registry value: connectors are never marked down.
    #[serde(default)]
    pub suppress_state_changes: bool,
}

impl Default for LinkStateSettings {
    fn default() -> Self {
        LinkStateSettings {
            oscillation_interval: defaults::oscillation_interval(),
            oscillation_changes: defaults::oscillation_changes(),
            probe_interval: defaults::probe_interval(),
            resend_interval: defaults::resend_interval(),
            suppress_state_changes: false,
        }
    }
}

/// An Active Directory domain.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// DNS name, e.g. `contoso.com`.
    pub name: String,
}

/// An Active Directory site.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// Site name, e.g. `HUB`.
    pub name: String,
    /// The forest it is a site of (a root domain of `forest` or `forests`); the first
    /// forest by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forest: Option<String>,
}

/// An administrative group.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdministrativeGroup {
    /// Name, e.g. `First Administrative Group`.
    pub name: String,
    /// The forest whose Exchange organization holds it (its routing groups and servers
    /// with it); the first forest by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forest: Option<String>,
}

/// A routing group.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingGroup {
    /// Name, e.g. `Hub RG`.
    pub name: String,
    /// The administrative group holding it.
    pub administrative_group: String,
    /// Its routing group master; the first server listed in the group by default.
    #[serde(default)]
    pub master: Option<String>,
}

/// Exchange version of a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ServerVersion {
    /// Exchange 2000 Server SP3.
    #[serde(rename = "2000sp3")]
    Exchange2000Sp3,
    /// Exchange Server 2003.
    #[serde(rename = "2003")]
    Exchange2003,
    /// Exchange Server 2003 SP1.
    #[serde(rename = "2003sp1")]
    Exchange2003Sp1,
    /// Exchange Server 2003 SP2.
    #[serde(rename = "2003sp2")]
    Exchange2003Sp2,
}

/// What a server does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Holds mailbox stores.
    Mailbox,
    /// Can be a routing group connector bridgehead.
    Bridgehead,
}

/// An Exchange server.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Server {
    /// NetBIOS name, e.g. `EX01`.
    pub name: String,
    /// Exchange version.
    #[serde(default = "defaults::version")]
    pub version: ServerVersion,
    /// Its Active Directory site.
    pub site: String,
    /// Its routing group.
    pub routing_group: String,
    /// Roles; both by default.
    #[serde(default = "defaults::roles")]
    pub roles: Vec<Role>,
    /// The Default SMTP Virtual Server: the organization's own traffic and its settings.
    #[serde(default)]
    pub smtp_virtual_server: SmtpVirtualServer,
    /// Further virtual servers taking mail from outside the organization (EXCHANGE2003.md
    /// §3.2: e.g. one facing the Internet on its own IP).
    #[serde(default)]
    pub inbound_virtual_servers: Vec<InboundVirtualServer>,
    /// Group-commit delay of the server's disk: writes (queue files, deliveries) become
    /// durable, and the acknowledgements waiting on them go out, this long after the first
    /// write of a batch. A slow SAN is 100–200 ms.
    #[serde(default = "defaults::disk_flush")]
    pub disk_flush: Duration,
    /// Standard or Enterprise Edition: selects the storage limits.
    #[serde(default)]
    pub edition: Edition,
    /// The `JournalBCC` registry switch: journal reports its categorizer writes list
    /// every recipient, Bcc included (otherwise only To and Cc).
    #[serde(default)]
    pub journal_bcc: bool,
    /// Storage groups and their mailbox stores.
    #[serde(default)]
    pub storage_groups: Vec<StorageGroup>,
    /// It has a Recovery Storage Group (EXCHANGE2003.md §7): restores of mailbox stores
    /// go there, their mailboxes disconnected, for a `merge` into the live ones.
    #[serde(default)]
    pub recovery_storage_group: bool,
    /// The "Recovery SG Override" registry value = 1: restores go over the original
    /// databases even with a Recovery Storage Group.
    #[serde(default)]
    pub recovery_sg_override: bool,
    /// The X.400 MTA's retry rules (for X.400 connectors).
    #[serde(default)]
    pub mta: Mta,
    /// What becomes of Badmail (EXCHANGE2003.md §3.3): discarded by default from SP1.
    #[serde(default)]
    pub badmail: Badmail,
    /// The `SMTPSVC\XEXCH50\Exch50AuthCheckEnabled` registry value: on (the default),
    /// XEXCH50 is taken only from authenticated sessions; off, from anonymous ones too,
    /// so another organization's Exch50 properties (its SCL) survive (§6).
    #[serde(default = "defaults::yes")]
    pub exch50_auth_check_enabled: bool,
    /// The address its connections to other organizations come from (what their
    /// virtual servers' connection control and relay lists see); by default 172.16.0.0
    /// plus its position in `servers` from 1 (172.16.0.1 for the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<std::net::Ipv4Addr>,
}

/// The `SMTPSVC\Queuing` registry values for Badmail (KB 884068), for every virtual
/// server of the server.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Badmail {
    /// `MaxBadMailFolderSize` in KB per Badmail folder: 0 (the default) discards Badmail,
    /// 4294967295 (0xFFFFFFFF) keeps it without limit as before SP1; anything else is a
    /// cap, after which nothing more is written (old files stay).
    #[serde(default)]
    pub max_folder_size_kb: u32,
    /// `BadMailSyncPeriod`: how often the folder's size is measured again (files deleted
    /// meanwhile are noticed then) [U: 12 h].
    #[serde(default = "defaults::badmail_sync_period")]
    pub sync_period: Duration,
}

impl Default for Badmail {
    fn default() -> Self {
        Badmail { max_folder_size_kb: 0, sync_period: defaults::badmail_sync_period() }
    }
}

/// X.400 MTA settings (EXCHANGE2003.md §3.2a).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mta {
    /// Wait between attempts to open an association.
    #[serde(default = "defaults::mta_open_interval")]
    pub open_interval: Duration,
    /// Failed opens after which waiting mail is returned (NDR 4.4.7).
    #[serde(default = "defaults::mta_max_open_retries")]
    pub max_open_retries: u32,
}

impl Default for Mta {
    fn default() -> Self {
        Mta { open_interval: defaults::mta_open_interval(), max_open_retries: defaults::mta_max_open_retries() }
    }
}

/// SMTP virtual server settings.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpVirtualServer {
    /// Display name.
    pub name: String,
    /// Maximum message size in KB; `null` for no limit.
    #[serde(default = "defaults::max_message_size_kb")]
    pub max_message_size_kb: Option<u64>,
    /// First, second, third and subsequent retry intervals.
    #[serde(default = "defaults::retry_intervals")]
    pub retry_intervals: [Duration; 4],
    /// Glitch retries after a failed connection before the normal schedule.
    #[serde(default = "defaults::glitch_retry_count")]
    pub glitch_retry_count: u32,
    /// Interval between glitch retries.
    #[serde(default = "defaults::glitch_retry_interval")]
    pub glitch_retry_interval: Duration,
    /// Expiration timeout; an expired message is NDR'd 4.4.7.
    #[serde(default = "defaults::expiration")]
    pub expiration: Duration,
    /// Messages sent per outbound connection.
    #[serde(default = "defaults::messages_per_connection")]
    pub messages_per_connection: u32,
}

impl Default for SmtpVirtualServer {
    fn default() -> Self {
        SmtpVirtualServer {
            name: "Default SMTP Virtual Server".into(),
            max_message_size_kb: defaults::max_message_size_kb(),
            retry_intervals: defaults::retry_intervals(),
            glitch_retry_count: defaults::glitch_retry_count(),
            glitch_retry_interval: defaults::glitch_retry_interval(),
            expiration: defaults::expiration(),
            messages_per_connection: defaults::messages_per_connection(),
        }
    }
}

/// A storage group.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StorageGroup {
    /// Name, e.g. `First Storage Group`.
    pub name: String,
    /// Its mailbox stores.
    #[serde(default)]
    pub mailbox_stores: Vec<MailboxStore>,
    /// Its public store (a server has at most one: the MAPI top-level hierarchy's).
    #[serde(default)]
    pub public_store: Option<PublicStoreDef>,
    /// Circular logging: log files the checkpoint has passed are deleted (off by
    /// default, as in Exchange).
    #[serde(default)]
    pub circular_logging: bool,
    /// Size of the volume holding its log files, MB (at least 15: one log file and the
    /// two reserve logs, 5 MB each); unlimited by default. A full log disk dismounts the
    /// storage group's databases until a backup truncates the logs.
    #[serde(default)]
    pub log_disk_mb: Option<u64>,
    /// The volume holding its databases (EXCHANGE2003.md §11): by default enough
    /// 10,000 rpm spindles (125 I/Os a second, 8 ms each) to carry its mailboxes' busy
    /// hour at 70 % of capacity [U].
    #[serde(default)]
    pub database_disk: Option<Disk>,
    /// The volume holding its log files: by default sequential writes into a
    /// controller cache, 1,000 a second at 1 ms [U].
    #[serde(default)]
    pub log_disk: Option<Disk>,
    /// A scheduled online (Volume Shadow Copy) backup every day at this hour (0 to 23);
    /// none by default (the timeline's `backup` still runs one). The backup set goes to
    /// media outside the server; the log files below the checkpoint's are deleted.
    #[serde(default)]
    #[schemars(range(max = 23))]
    pub backup_hour: Option<u64>,
}

/// A disk volume's I/O capacity (EXCHANGE2003.md §11): its latency grows as the load
/// nears `iops` (an M/M/c queue of `iops` × `service_ms` spindles) and past it the
/// excess waits.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    /// I/Os a second it serves at most (a 10,000 rpm spindle: 125).
    #[schemars(range(min = 1))]
    pub iops: u32,
    /// Mean time one I/O takes alone, ms (a random I/O on a 10,000 rpm spindle: 8).
    #[schemars(range(min = 0.01, max = 1000.0))]
    pub service_ms: f64,
}

/// The client load of a store's users (EXCHANGE2003.md §11): database I/Os a second
/// per mailbox in the busy hour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserProfile {
    /// 0.5 (20 sent / 50 received a day, 50 MB mailbox).
    Light,
    /// 0.75 (30 / 75, 100 MB).
    #[default]
    Average,
    /// 1.0 (40 / 100, 200 MB).
    Heavy,
    /// 1.5 (60 / 150, 500 MB).
    Large,
}

/// A mailbox store.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxStore {
    /// Name, unique in the organization, e.g. `Mailbox Store (EX01)`.
    pub name: String,
    /// Its physical size (.edb + .stm) when the run starts, MB.
    #[serde(default)]
    pub initial_size_mb: u64,
    /// Logical free space in it when the run starts (whitespace left by online
    /// maintenance), MB; at most `initial_size_mb`.
    #[serde(default)]
    pub initial_free_mb: u64,
    /// SP2's limit on its logical size ("Database Size Limit in GB"): Standard Edition
    /// 18 by default, up to 75; Enterprise up to 8,000 (the default). Checked on 2003 SP2
    /// servers only.
    #[serde(default)]
    pub database_size_limit_gb: Option<u64>,
    /// The warning comes when the logical size is within this share of the limit
    /// ("Database Size Buffer in Percentage", 10: at 90 %).
    #[serde(default = "defaults::database_size_buffer_percent")]
    #[schemars(range(min = 1, max = 99))]
    pub database_size_buffer_percent: u64,
    /// The hour of the daily check ("Database Size Check Start Time in Hours From
    /// Midnight", 5).
    #[serde(default = "defaults::database_size_check_hour")]
    #[schemars(range(max = 23))]
    pub database_size_check_hour: u64,
    /// Its mailboxes' storage limits (none by default); a user may have its own.
    #[serde(default)]
    pub quota: Option<Quota>,
    /// Journaling ("Archive all messages sent or received by mailboxes on this store"):
    /// the alias of the mailbox that gets a journal report of each such message.
    #[serde(default)]
    pub journal_recipient: Option<String>,
    /// Its users' client load, for the disk model.
    #[serde(default)]
    pub user_profile: UserProfile,
    /// Share of each day's delivered bytes its users delete, at midnight (none by
    /// default) [U]: deleted item retention keeps them, then online maintenance purges
    /// them into logical free space.
    #[serde(default)]
    #[schemars(range(max = 100))]
    pub deleted_items_percent: u64,
    /// "Keep deleted items for (days)" (7).
    #[serde(default = "defaults::deleted_item_retention_days")]
    #[schemars(range(max = 3650))]
    pub deleted_item_retention_days: u64,
    /// "Keep deleted mailboxes for (days)" (30).
    #[serde(default = "defaults::deleted_mailbox_retention_days")]
    #[schemars(range(max = 3650))]
    pub deleted_mailbox_retention_days: u64,
    /// The hour the nightly online maintenance window opens (1: 01:00–05:00).
    #[serde(default = "defaults::maintenance_start_hour")]
    #[schemars(range(max = 23))]
    pub maintenance_start_hour: u64,
}

/// Mailbox storage limits (EXCHANGE2003.md §7), each optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// "Issue warning at (KB)".
    #[serde(default)]
    pub issue_warning_kb: Option<u64>,
    /// "Prohibit send at (KB)": the owner's messages are refused.
    #[serde(default)]
    pub prohibit_send_kb: Option<u64>,
    /// "Prohibit send and receive at (KB)": mail to the mailbox is NDR'd 5.2.2.
    #[serde(default)]
    pub prohibit_send_receive_kb: Option<u64>,
}

impl Disk {
    /// As the disk model takes it (the schema bounds the service time).
    pub fn settings(self) -> org::store::disk_load::DiskSettings {
        org::store::disk_load::DiskSettings {
            capacity_iops: self.iops.max(1),
            service_us: (self.service_ms * 1_000.0).round().max(1.0) as u32,
        }
    }
}

impl UserProfile {
    /// As the disk model takes it.
    pub fn to_org(self) -> org::store::disk_load::UserProfile {
        match self {
            UserProfile::Light => org::store::disk_load::UserProfile::Light,
            UserProfile::Average => org::store::disk_load::UserProfile::Average,
            UserProfile::Heavy => org::store::disk_load::UserProfile::Heavy,
            UserProfile::Large => org::store::disk_load::UserProfile::Large,
        }
    }
}

impl Quota {
    /// In bytes, as the store checks it.
    pub fn to_org(self) -> org::config::topology::MailboxQuota {
        org::config::topology::MailboxQuota {
            issue_warning_bytes: self.issue_warning_kb.map(|k| k * 1_024),
            prohibit_send_bytes: self.prohibit_send_kb.map(|k| k * 1_024),
            prohibit_send_receive_bytes: self.prohibit_send_receive_kb.map(|k| k * 1_024),
        }
    }
}

/// Which edition of Exchange Server 2003 a server runs (EXCHANGE2003.md §7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Edition {
    /// One storage group with one mailbox store (and one public store); 18 GB by
    /// default, up to 75 GB.
    Standard,
    /// Four storage groups of five databases; up to 8,000 GB.
    #[default]
    Enterprise,
}

/// What carries mail between two routing groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "ConnectorKind")]
pub enum ConnectorKindDef {
    /// A routing group connector.
    #[default]
    RoutingGroup,
    /// An SMTP connector whose connected routing groups name the target group.
    Smtp,
    /// An X.400 connector between the groups' MTAs: link state does not cross it
    /// (EXCHANGE2003.md §4: link state islands).
    X400,
}

/// A one-way connector between two routing groups.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingGroupConnector {
    /// Name; also the name of the link queue that feeds it.
    pub name: String,
    /// Routing group connector (default), SMTP or X.400 connector.
    #[serde(default)]
    pub kind: ConnectorKindDef,
    /// Routing group mail leaves.
    pub from: String,
    /// Routing group mail reaches.
    pub to: String,
    /// Cost 1–100 (§4).
    pub cost: u32,
    /// Bridgehead servers in `from`.
    pub source_bridgeheads: Vec<String>,
    /// Bridgehead servers in `to`.
    pub target_bridgeheads: Vec<String>,
}

/// A WAN link between two sites.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WanLink {
    /// Name, e.g. `HUB-SPOKE1`.
    pub name: String,
    /// The two sites it joins.
    pub sites: [String; 2],
    /// Bandwidth each way.
    pub bandwidth: Bandwidth,
    /// One-way latency.
    pub latency: Duration,
}

/// The network inside a site.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lan {
    /// Bandwidth between two servers of a site.
    #[serde(default = "defaults::lan_bandwidth")]
    pub bandwidth: Bandwidth,
    /// One-way latency.
    #[serde(default = "defaults::lan_latency")]
    pub latency: Duration,
}

impl Default for Lan {
    fn default() -> Self {
        Lan { bandwidth: defaults::lan_bandwidth(), latency: defaults::lan_latency() }
    }
}

/// The Intelligent Message Filter's settings (EXCHANGE2003.md §3.1).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImfSettings {
    /// Store Junk E-mail threshold: mail with an SCL strictly above it is delivered into
    /// the mailbox's Junk E-mail folder (6 by default [U]; 0 to 8).
    #[serde(default = "defaults::imf_store_threshold")]
    #[schemars(range(max = 8))]
    pub store_threshold: u8,
    /// Gateway threshold: mail with an SCL strictly above it gets `gateway_action` at the
    /// virtual servers that apply the filter (8 by default [U]; 0 to 9, above the store's).
    #[serde(default = "defaults::imf_gateway_threshold")]
    #[schemars(range(max = 9))]
    pub gateway_threshold: u8,
    /// The gateway action: `no_action` (the default [U]), `archive` (to UCEArchive),
    /// `delete` or `reject`.
    #[serde(default)]
    pub gateway_action: ImfActionDef,
}

impl Default for ImfSettings {
    fn default() -> Self {
        ImfSettings {
            store_threshold: defaults::imf_store_threshold(),
            gateway_threshold: defaults::imf_gateway_threshold(),
            gateway_action: ImfActionDef::NoAction,
        }
    }
}
