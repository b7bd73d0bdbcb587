//! Scenario file format v1: the types a scenario file is read into. Every struct denies
//! unknown fields; lists of things with a `kind` are tagged enums; every default is
//! written in [`defaults`] with the fact it comes from. Semantic checks (names, ranges,
//! references) are in `resolve`.

use crate::units::{Bandwidth, Duration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Defaults, each with the fact it comes from (EXCHANGE2003.md section, or [U] for
/// orgsim's own choice where Exchange documents none).
/// What a scenario may ask, each bound with its reason: orgsim runs an organization for as
/// long and as hard as testing and capacity planning need, and refuses a file that would
/// run for ever or fill the machine. The schema and the README state them.
pub mod bounds {
    /// The longest run: 400 days (the longest horizon among the facts modelled is the 180
    /// days of a public folder tombstone, EXCHANGE2003.md §8).
    pub const DURATION_MS_MAX: u64 = 400 * 86_400_000;
    /// The largest message, in KB: 1 GB, far above any limit Exchange 2003 applies (4,096
    /// KB by default, §3.2a).
    pub const MESSAGE_SIZE_KB_MAX: u64 = 1_048_576;
    /// The shortest period of an oscillating link: 2 s, a second down and a second up. A
    /// bridgehead's glitch retries are 60 s apart (§3.2a), so a faster flap changes
    /// nothing Exchange sees and only fills memory.
    pub const OSCILLATION_PERIOD_MS_MIN: u64 = 2_000;
    /// The most fault steps a run may script or its weather be expected to draw.
    pub const FAULT_STEPS_MAX: u64 = 1_000_000;
    /// The highest weather rate of one kind: 10,000 faults a day (one every 9 s).
    pub const FAULTS_PER_DAY_MAX: f64 = 10_000.0;
}

pub mod defaults {
    use super::*;

    /// ARCHITECTURE.md: a Monday, so times of day and weekdays mean something.
    pub fn start() -> Timestamp {
        Timestamp::parse("2004-03-01T00:00:00Z").expect("valid")
    }
    /// A server runs Exchange 2003 SP2 unless the scenario says otherwise.
    pub fn version() -> ServerVersion {
        ServerVersion::Exchange2003Sp2
    }
    /// Both roles unless the scenario narrows them.
    pub fn roles() -> Vec<Role> {
        vec![Role::Mailbox, Role::Bridgehead]
    }
    /// §3.2a: virtual server message size limit 4,096 KB.
    pub fn max_message_size_kb() -> Option<u64> {
        Some(4_096)
    }
    /// §3.2a: retry 10/10/10/15 min [U-documented common setting].
    pub fn retry_intervals() -> [Duration; 4] {
        [Duration::from_ms(600_000), Duration::from_ms(600_000), Duration::from_ms(600_000), Duration::from_ms(900_000)]
    }
    /// §3.2a: glitch retry 3 times.
    pub fn glitch_retry_count() -> u32 {
        3
    }
    /// §3.2a: glitch retries 60 s apart.
    pub fn glitch_retry_interval() -> Duration {
        Duration::from_ms(60_000)
    }
    /// §3.2a: expiration 2 days.
    pub fn expiration() -> Duration {
        Duration::from_ms(2 * 86_400_000)
    }
    /// IIS SMTP "limit number of messages per connection" 20 [P].
    pub fn messages_per_connection() -> u32 {
        20
    }
    /// A 5 ms write-through of the queue file [U].
    pub fn disk_flush() -> Duration {
        Duration::from_ms(5)
    }
    /// Switched LAN inside a site [U].
    pub fn lan_bandwidth() -> Bandwidth {
        Bandwidth { bits_per_s: 100_000_000 }
    }
    /// LAN round trip well under a millisecond [U].
    pub fn lan_latency() -> Duration {
        Duration::from_ms(1)
    }
    /// §11: older MMB user, 14.18 sends a day.
    pub fn sends_per_user_per_day() -> f64 {
        14.18
    }
    /// §11: older MMB user, 4.7 recipients a message.
    pub fn recipients_per_message() -> f64 {
        4.7
    }
    /// §11: MMB size mix (mean ≈ 4 KB).
    pub fn size_mix() -> Vec<SizeShare> {
        [(1, 60.0), (2, 16.0), (4, 4.0), (10, 6.0), (15, 4.0), (16, 4.0), (43, 2.0)]
            .into_iter()
            .map(|(size_kb, weight)| SizeShare { size_kb, weight })
            .collect()
    }
    /// A business day [U]: quiet nights, a morning peak, a lunch dip, an afternoon peak.
    pub fn hourly_profile() -> [f64; 24] {
        [
            0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 2.5, 3.0, 2.8, 2.4, 1.6, 2.2, 2.8, 2.6, 2.0, 1.2, 0.6, 0.4, 0.3,
            0.2, 0.1, 0.1,
        ]
    }
    /// Where recipients are chosen [U]: most mail stays close to the sender.
    pub fn recipient_choice() -> RecipientChoice {
        RecipientChoice { same_server: 0.4, same_routing_group: 0.3, anywhere: 0.3, unknown: 0.0, external: 0.0 }
    }
    /// Prefix of generated user aliases.
    pub fn generated_prefix() -> String {
        "user".into()
    }
    /// EXCHANGE2003.md §3.2: Queue Viewer refreshes every 2 minutes by default.
    pub fn sample_interval() -> Duration {
        Duration::from_ms(120_000)
    }
    /// Every safety invariant runs unless the scenario lists a subset.
    pub fn invariants() -> Vec<Invariant> {
        vec![
            Invariant::NoLoss,
            Invariant::NoDuplicateDelivery,
            Invariant::NoRoutingLoop,
            Invariant::LeastCostRouting,
            Invariant::LinkStateVersions,
            Invariant::ExpansionBeforeRouting,
        ]
    }
    /// §4: the 2003 review window, 10 min [P].
    pub fn oscillation_interval() -> Duration {
        Duration::from_ms(600_000)
    }
    /// §4: 2 conflicting changes within the window mark a connector oscillating [U].
    pub fn oscillation_changes() -> u32 {
        2
    }
    /// §4: a down connector's source tries it every 60 s [P].
    pub fn probe_interval() -> Duration {
        Duration::from_ms(60_000)
    }
    /// DCs run Windows Server 2003 unless the scenario says otherwise.
    pub fn windows_version() -> WindowsVersionSpec {
        WindowsVersionSpec::Windows2003
    }
    /// §2: site link cost default 100 [P].
    pub fn site_link_cost() -> u32 {
        100
    }
    /// §2: inter-site replication interval default 180 min [P].
    pub fn replication_interval() -> Duration {
        Duration::from_ms(180 * 60_000)
    }
    /// A bulk change writes a user's display name, department and title [U].
    pub fn changed_attributes() -> u32 {
        3
    }
    /// An address space's cost when not given: 1, like a new connector's in ESM [P].
    pub fn address_space_cost() -> u32 {
        1
    }
    /// A bridgehead gives one DNS server 5 s before asking the next [U] (the Windows
    /// resolver's first retry comes after 1 s, its second server after about 3 s more).
    pub fn dns_timeout() -> Duration {
        Duration::from_ms(5_000)
    }
    /// §3.2a: X.400 MTA open interval 600 s [P].
    pub fn mta_open_interval() -> Duration {
        Duration::from_ms(600_000)
    }
    /// §3.2a: X.400 MTA max open retries 144 [P].
    pub fn mta_max_open_retries() -> u32 {
        144
    }
    /// §2: DSAccess cache entries live 5–10 minutes (sources disagree); 10 [P].
    pub fn dsaccess_entry_lifetime() -> Duration {
        Duration::from_ms(600_000)
    }
    /// §2: "Always run" wakes the Recipient Update Service every minute [P].
    pub fn rus_interval() -> Duration {
        Duration::from_ms(60_000)
    }
    /// A scripted send is one message unless it says more.
    pub fn send_count() -> u32 {
        1
    }
    /// A scripted message is 4 KB, the MMB mix's mean (§11).
    pub fn send_size_kb() -> u64 {
        4
    }
    /// Unanswered link state messages are resent after 60 s [U].
    pub fn resend_interval() -> Duration {
        Duration::from_ms(60_000)
    }
}

/// A scenario: topology, recipients, workload, timeline, checks and report settings.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in summaries.
    pub name: String,
    /// What the scenario demonstrates, in a sentence or two.
    pub description: String,
    /// The simulated calendar's start (UTC).
    #[serde(default = "defaults::start")]
    pub start: Timestamp,
    /// How long the run lasts (at most 400 days).
    pub duration: Duration,
    /// Forest, sites, groups, servers, connectors and WAN links.
    pub topology: TopologyDef,
    /// Mailboxes and authoritative domains.
    pub recipients: Recipients,
    /// Client mail load; none means no client mail.
    #[serde(default)]
    pub workload: Option<Workload>,
    /// Faults and administrator actions at simulated times.
    #[serde(default)]
    pub timeline: Vec<Action>,
    /// Randomized faults: each seed samples them into concrete timeline steps.
    #[serde(default)]
    pub weather: Option<Weather>,
    /// Invariants and expectations.
    #[serde(default)]
    pub checks: Checks,
    /// Report settings.
    #[serde(default)]
    pub report: ReportSettings,
}

/// The organization's topology.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Topology")]
pub struct TopologyDef {
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
    /// Active Directory replication between the domain controllers; absent: the
    /// directory is not simulated.
    #[serde(default)]
    pub ad_replication: Option<AdReplication>,
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
}

/// A domain controller.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DomainController")]
pub struct DomainControllerDef {
    /// Computer name.
    pub name: String,
    /// The domain it holds.
    pub domain: String,
    /// Its site.
    pub site: String,
    /// Whether it is a global catalog server.
    #[serde(default)]
    pub global_catalog: bool,
    /// Its Windows version (sets the change-notification delays): `2000` or `2003`.
    #[serde(default = "defaults::windows_version")]
    pub version: WindowsVersionSpec,
}

/// DSAccess settings (EXCHANGE2003.md §2).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DsAccess {
    /// User cache size in MB; 140 on Exchange 2003 and 25 on 2000 by default.
    #[serde(default)]
    pub user_cache_mb: Option<u64>,
    /// How long a cached entry is used (10 minutes).
    #[serde(default = "defaults::dsaccess_entry_lifetime")]
    pub entry_lifetime: Duration,
}

/// A domain controller's Windows version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WindowsVersionSpec {
    /// Windows 2000 Server SP3 or later.
    #[serde(rename = "2000")]
    Windows2000,
    /// Windows Server 2003.
    #[serde(rename = "2003")]
    Windows2003,
}

/// Active Directory replication between the domain controllers (EXCHANGE2003.md §2).
/// Without this section the directory is not simulated: every GC holds the whole
/// directory at once.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdReplication {
    /// Site links: inter-site replication runs only between sites a link joins.
    #[serde(default)]
    pub site_links: Vec<SiteLink>,
}

/// An AD site link.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteLink {
    /// Name.
    pub name: String,
    /// The sites it joins (two or more).
    pub sites: Vec<String>,
    /// Cost 1–32,767 (default 100).
    #[serde(default = "defaults::site_link_cost")]
    pub cost: u32,
    /// How often replication runs over it: a multiple of 15 min from 15 min to 7 days
    /// (default 180 min).
    #[serde(default = "defaults::replication_interval")]
    pub replication_interval: Duration,
    /// When replication may run over it, as whole UTC hours of every day: windows such
    /// as `{"from": "20:00", "until": "06:00"}` (from 20:00 to 06:00 the next morning);
    /// always available by default.
    #[serde(default)]
    pub schedule: Option<Vec<ScheduleWindow>>,
}

/// Hours of the UTC week a site link is open for replication (Windows' 7 × 24 grid).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleWindow {
    /// First open hour, `HH:00`.
    pub from: String,
    /// The hour it closes, `HH:00` (`24:00` is midnight; before `from`: the next day).
    pub until: String,
    /// The days the window opens on (every day when absent); a window past midnight runs
    /// on into the next day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<Day>>,
}

/// A day of the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    /// Sunday.
    Sunday,
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
}

impl Day {
    /// Every day, Sunday first.
    pub const ALL: [Day; 7] =
        [Day::Sunday, Day::Monday, Day::Tuesday, Day::Wednesday, Day::Thursday, Day::Friday, Day::Saturday];

    /// The calendar's weekday.
    pub fn weekday(self) -> org::calendar::Weekday {
        org::calendar::Weekday::ALL[self as usize]
    }
}

/// An administrative group.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdministrativeGroup {
    /// Name, e.g. `First Administrative Group`.
    pub name: String,
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
    /// The SMTP virtual server (v1 models one per server).
    #[serde(default)]
    pub smtp_virtual_server: SmtpVirtualServer,
    /// Group-commit delay of the server's disk: writes (queue files, deliveries) become
    /// durable, and the acknowledgements waiting on them go out, this long after the first
    /// write of a batch. A slow SAN is 100–200 ms.
    #[serde(default = "defaults::disk_flush")]
    pub disk_flush: Duration,
    /// Storage groups and their mailbox stores.
    #[serde(default)]
    pub storage_groups: Vec<StorageGroup>,
    /// The X.400 MTA's retry rules (for X.400 connectors).
    #[serde(default)]
    pub mta: Mta,
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
    pub mailbox_stores: Vec<MailboxStore>,
}

/// A mailbox store.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxStore {
    /// Name, unique in the organization, e.g. `Mailbox Store (EX01)`.
    pub name: String,
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

/// The address type of an address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressType {
    /// SMTP: `*`, a domain (`fabrikam.com`) or a wildcard (`*.edu`).
    Smtp,
    /// X.400: O/R attributes, e.g. `c=US;a= ;p=Legacy;o=NYC` (`*` as a value matches any).
    X400,
}

/// An address space of a connector.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressSpaceSpec {
    /// Address type.
    #[serde(rename = "type")]
    pub address_type: AddressType,
    /// The pattern.
    pub address: String,
    /// Cost 1–100, added to the route cost of reaching the connector's routing group.
    #[serde(default = "defaults::address_space_cost")]
    pub cost: u32,
}

/// An SMTP connector with address spaces.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpConnector {
    /// Name; also the name of its link queue on servers that forward to its bridgeheads.
    pub name: String,
    /// The routing group it belongs to.
    pub routing_group: String,
    /// Its local bridgehead servers, in that group.
    pub source_bridgeheads: Vec<String>,
    /// What it carries.
    pub address_spaces: Vec<AddressSpaceSpec>,
    /// An Internet host to forward all mail to; without one, DNS MX lookup per domain.
    #[serde(default)]
    pub smart_host: Option<String>,
}

/// An X.400 connector with address spaces.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct X400Connector {
    /// Name; also the name of its link queue.
    pub name: String,
    /// The routing group it belongs to.
    pub routing_group: String,
    /// The servers whose MTAs run it, in that group.
    pub source_bridgeheads: Vec<String>,
    /// What it carries.
    pub address_spaces: Vec<AddressSpaceSpec>,
    /// The remote MTA: an `internet` host with role `mta`.
    pub remote_mta: String,
}

/// What a host beyond the organization is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum HostRoleSpec {
    /// Accepts SMTP mail: an MX host or a smart host.
    Mail,
    /// A foreign X.400 MTA.
    Mta,
    /// A DNS server answering MX queries.
    Dns,
}

/// A host beyond the organization.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Host {
    /// Name (also what MX records and connectors refer to).
    pub name: String,
    /// What it does.
    pub role: HostRoleSpec,
    /// Its site; the Internet's `site` unless given.
    #[serde(default)]
    pub site: Option<String>,
}

/// An MX record.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mx {
    /// Preference: lower first, equal ones share the load.
    pub preference: u16,
    /// A host with role `mail`.
    pub host: String,
}

/// An external domain in DNS.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalDomain {
    /// DNS name.
    pub name: String,
    /// Its MX records; a domain not listed does not exist (NXDOMAIN → 5.4.0).
    pub mx: Vec<Mx>,
}

/// The simulated Internet.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Internet {
    /// The site (listed in `topology.sites`) its hosts are in; WAN links to it are the
    /// organization's Internet connections.
    pub site: String,
    /// Hosts.
    pub hosts: Vec<Host>,
    /// DNS servers bridgeheads ask, in order (hosts with role `dns`).
    #[serde(default)]
    pub dns_servers: Vec<String>,
    /// How long a bridgehead waits for one DNS server before asking the next.
    #[serde(default = "defaults::dns_timeout")]
    pub dns_timeout: Duration,
    /// External domains and their MX records.
    #[serde(default)]
    pub domains: Vec<ExternalDomain>,
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

/// Recipients of the organization.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Recipients {
    /// SMTP domains the organization is authoritative for; the first is used for
    /// generated addresses.
    pub smtp_domains: Vec<String>,
    /// Organizational units (full DNs, e.g. `OU=Sales,DC=contoso,DC=com`) that recipients
    /// live in and query-based groups search; each is under one of the forest's domains.
    #[serde(default)]
    pub organizational_units: Vec<String>,
    /// Users listed one by one.
    #[serde(default)]
    pub users: Vec<User>,
    /// Users generated in bulk.
    #[serde(default)]
    pub generated: Vec<GeneratedUsers>,
    /// Contacts: mail-enabled objects whose mail goes to an address outside.
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Distribution groups (EXCHANGE2003.md §2).
    #[serde(default)]
    pub groups: Vec<DistributionGroup>,
    /// Query-based distribution groups (EXCHANGE2003.md §2).
    #[serde(default)]
    pub query_groups: Vec<QueryGroup>,
    /// Each domain's Recipient Update Service; a domain not listed has one that runs
    /// "Always run" (a pass every minute).
    #[serde(default)]
    pub recipient_update_services: Vec<RecipientUpdateService>,
    /// Addresses outside the organization that clients send to: SMTP addresses in
    /// domains it is not authoritative for, and X.400 addresses written `X400:c=US;…`.
    #[serde(default)]
    pub external: Vec<String>,
}

/// Where a recipient object lives and who may send to it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    /// Its AD domain; the forest root (the first domain) by default.
    #[serde(default)]
    pub domain: Option<String>,
    /// Its organizational unit, one of `recipients.organizational_units` in that domain;
    /// the domain's head (`DC=…`) by default.
    #[serde(default)]
    pub ou: Option<String>,
    /// Only these senders, by alias, who must be authenticated; a distribution group
    /// listed admits its members, nested ones too (a query-based group admits only its
    /// own address); anyone by default (EXCHANGE2003.md §2).
    #[serde(default)]
    pub accept_from: Option<Vec<String>>,
    /// Only authenticated senders ("From authenticated users only").
    #[serde(default)]
    pub authenticated_only: bool,
    /// When an administrator creates it (from the run's start); it exists from the start
    /// by default. Mail reaches it only once its domain's Recipient Update Service has
    /// stamped its addresses (EXCHANGE2003.md §2).
    #[serde(default)]
    pub created_at: Option<Duration>,
    /// When an administrator deletes it; never by default.
    #[serde(default)]
    pub deleted_at: Option<Duration>,
    /// The domain controller the administrator creates and deletes it on (with
    /// `topology.ad_replication` the change starts there and replicates); the DC its
    /// domain's Recipient Update Service is bound to by default.
    #[serde(default)]
    pub created_on: Option<String>,
}

/// A domain's Recipient Update Service: it stamps e-mail addresses on recipients created
/// since its last pass (EXCHANGE2003.md §2).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientUpdateService {
    /// The domain it serves.
    pub domain: String,
    /// Time between passes: `1m` is "Always run"; a schedule such as "Run every hour" is
    /// `1h`. Passes fall on multiples of it from the run's start.
    #[serde(default = "defaults::rus_interval")]
    pub interval: Duration,
    /// The domain controller it reads and writes (§2: each RUS is bound to one DC); with
    /// `topology.ad_replication` it stamps only what has replicated to that DC. The
    /// domain's first DC by default.
    #[serde(default)]
    pub domain_controller: Option<String>,
}

/// A user: mailbox-enabled with a `store`, or mail-enabled with a `target_address`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Alias; the address is `alias@<first SMTP domain>` unless `address` is given.
    pub alias: String,
    /// Primary SMTP address.
    #[serde(default)]
    pub address: Option<String>,
    /// Mailbox store holding the mailbox (a mailbox-enabled user).
    #[serde(default)]
    pub store: Option<String>,
    /// An address outside the organization (a mail-enabled user, no mailbox).
    #[serde(default)]
    pub target_address: Option<String>,
    /// `user` or `inet_org_person` (RFC 2798; behaves as a user, EXCHANGE2003.md §2).
    #[serde(default)]
    pub class: UserClass,
    /// The MAPI part of `protocolSettings` (Exchange 2003 SP2), e.g. `MAPI§0§§§§§§§`
    /// to block every MAPI client or `MAPI§1§1§§§§§§` for cached mode only; none lets
    /// every MAPI client in (EXCHANGE2003.md §2). A malformed string is refused.
    #[serde(default)]
    pub protocol_settings: Option<String>,
    /// How the user's Outlook works: `cached` (Outlook 2003's default) or `online`.
    #[serde(default)]
    pub outlook: OutlookModeSpec,
    /// Out of Office is on for the whole run: the store replies once to each sender
    /// (on Exchange 2003 only to senders who named the user in To or Cc).
    #[serde(default)]
    pub out_of_office: bool,
    /// Domain, OU and restrictions.
    #[serde(default, flatten)]
    pub placement: Placement,
    /// Attributes that query-based groups filter on (`department`, `company`, `title`,
    /// `l`, …), each one value or several.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, AttributeValues>,
}

/// One attribute value or several.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum AttributeValues {
    /// One value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

impl AttributeValues {
    /// The values.
    pub fn values(&self) -> Vec<String> {
        match self {
            AttributeValues::One(v) => vec![v.clone()],
            AttributeValues::Many(v) => v.clone(),
        }
    }
}

/// How a user's Outlook works with the mailbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutlookModeSpec {
    /// Cached Exchange Mode.
    #[default]
    Cached,
    /// Online mode.
    Online,
}

/// A user object's class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserClass {
    /// A user.
    #[default]
    User,
    /// An inetOrgPerson.
    InetOrgPerson,
}

/// Users generated in bulk, spread round-robin over stores.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GeneratedUsers {
    /// How many.
    pub count: u32,
    /// Alias prefix; aliases are `<prefix><n>`, numbered from 1 across the group.
    #[serde(default = "defaults::generated_prefix")]
    pub prefix: String,
    /// Mailbox stores to spread them over.
    pub stores: Vec<String>,
    /// Their organizational unit (in the forest root domain unless `domain` says).
    #[serde(default)]
    pub ou: Option<String>,
    /// Their domain.
    #[serde(default)]
    pub domain: Option<String>,
    /// Attributes: with several values, user n gets value n mod the count (round robin).
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, AttributeValues>,
    /// When an administrator creates them in bulk; from the start by default.
    #[serde(default)]
    pub created_at: Option<Duration>,
}

/// A contact: mail to its address goes on to `target_address`, outside the organization.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Alias; its address in the organization is `alias@<first SMTP domain>`.
    pub alias: String,
    /// Where its mail goes.
    pub target_address: String,
    /// Domain, OU and restrictions.
    #[serde(default, flatten)]
    pub placement: Placement,
    /// Attributes for query-based groups.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, AttributeValues>,
}

/// A group's scope (EXCHANGE2003.md §2: only universal membership is in every GC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupScopeSpec {
    /// Domain local.
    DomainLocal,
    /// Global.
    Global,
    /// Universal.
    Universal,
}

/// A distribution group.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DistributionGroup {
    /// Alias; its address is `alias@<first SMTP domain>`.
    pub alias: String,
    /// Scope.
    pub scope: GroupScopeSpec,
    /// Members: aliases of users, contacts, groups and query-based groups.
    #[serde(default)]
    pub members: Vec<String>,
    /// The server that must expand it; any server by default.
    #[serde(default)]
    pub expansion_server: Option<String>,
    /// Domain, OU and restrictions.
    #[serde(default, flatten)]
    pub placement: Placement,
}

/// A query-based distribution group.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryGroup {
    /// Alias; its address is `alias@<first SMTP domain>`.
    pub alias: String,
    /// An RFC 4515 LDAP filter. A malformed one is accepted here, as Active Directory
    /// stores it, and fails at send time with 5.2.4 (EXCHANGE2003.md §2).
    pub filter: String,
    /// The container searched: a domain head or an OU. One that does not exist (deleted)
    /// fails at send time with 5.2.4.
    pub base_dn: String,
    /// The server that must expand it; any server by default.
    #[serde(default)]
    pub expansion_server: Option<String>,
    /// Domain, OU and restrictions.
    #[serde(default, flatten)]
    pub placement: Placement,
}

/// Client mail load.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Messages each user sends a day (spread over the day by `hourly_profile`).
    #[serde(default = "defaults::sends_per_user_per_day")]
    pub sends_per_user_per_day: f64,
    /// Relative send rate for each hour of the day (UTC of the simulated calendar).
    #[serde(default = "defaults::hourly_profile")]
    pub hourly_profile: [f64; 24],
    /// Mean recipients per message (1 + Poisson).
    #[serde(default = "defaults::recipients_per_message")]
    pub recipients_per_message: f64,
    /// Message size distribution.
    #[serde(default = "defaults::size_mix")]
    pub size_mix: Vec<SizeShare>,
    /// Where recipients are chosen.
    #[serde(default = "defaults::recipient_choice")]
    pub recipient_choice: RecipientChoice,
    /// When clients start sending (from the run's start).
    #[serde(default)]
    pub from: Option<Duration>,
    /// When clients stop sending; the run's end by default.
    #[serde(default)]
    pub until: Option<Duration>,
}

/// One size class of the message size mix.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SizeShare {
    /// Size in KB, from 1 to 1,048,576 (1 GB).
    #[schemars(range(min = 1, max = bounds::MESSAGE_SIZE_KB_MAX))]
    pub size_kb: u64,
    /// Relative weight (the published MMB mix sums to 96 %, so weights are normalized).
    pub weight: f64,
}

/// Shares of recipient choices; they sum to 1.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientChoice {
    /// A mailbox on the sender's server.
    pub same_server: f64,
    /// A mailbox on another server of the sender's routing group.
    pub same_routing_group: f64,
    /// Any mailbox in the organization.
    pub anywhere: f64,
    /// An address in an authoritative domain that no recipient has (→ NDR 5.1.1).
    pub unknown: f64,
    /// One of `recipients.external`, routed by address space.
    #[serde(default)]
    pub external: f64,
}

/// A fault or administrator action at a simulated time.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A WAN link stops carrying traffic.
    LinkDown {
        /// When.
        at: Duration,
        /// Which link.
        link: String,
    },
    /// A WAN link carries traffic again.
    LinkUp {
        /// When.
        at: Duration,
        /// Which link.
        link: String,
    },
    /// A WAN link goes down and up: down for half of each `period`, for `duration`,
    /// ending up.
    LinkOscillate {
        /// When it starts.
        at: Duration,
        /// Which link.
        link: String,
        /// One down-and-up cycle, at least 2 s.
        period: Duration,
        /// How long it oscillates.
        duration: Duration,
    },
    /// A routing group connector stops carrying mail (e.g. its bridgehead service is
    /// stopped); servers mark it down.
    ConnectorDown {
        /// When.
        at: Duration,
        /// Which connector.
        connector: String,
    },
    /// A connector carries mail again.
    ConnectorUp {
        /// When.
        at: Duration,
        /// Which connector.
        connector: String,
    },
    /// A server dies: what it had not made durable is lost.
    ServerCrash {
        /// When.
        at: Duration,
        /// Which server.
        server: String,
    },
    /// A crashed server starts again and recovers its queues from disk.
    ServerRestart {
        /// When.
        at: Duration,
        /// Which server.
        server: String,
    },
    /// A host beyond the organization stops answering (its packets are dropped): an
    /// unresponsive MX host, smart host, MTA or DNS server.
    HostDown {
        /// When.
        at: Duration,
        /// Which host.
        host: String,
    },
    /// The host answers again.
    HostUp {
        /// When.
        at: Duration,
        /// Which host.
        host: String,
    },
    /// An originating change on a domain controller: `count` user objects written at
    /// once (created the first time, modified after), `attributes` each — a bulk change
    /// of tens of thousands is a replication storm.
    DirectoryChange {
        /// When.
        at: Duration,
        /// The DC that makes it.
        dc: String,
        /// Objects written.
        count: u32,
        /// Attributes written per object.
        #[serde(default = "defaults::changed_attributes")]
        attributes: u32,
        /// Urgent replication (account lockout, password): notify partners at once.
        #[serde(default)]
        urgent: bool,
        /// Delete the objects instead (tombstones).
        #[serde(default)]
        delete: bool,
    },
    /// A domain controller's clock goes wrong: it reads `skew` ahead of true time (or
    /// behind, with `behind`); its originating writes carry its own clock's time, so
    /// conflicts go its way (ahead) or against it (behind). A skew of 0s sets it right.
    ClockSkew {
        /// When.
        at: Duration,
        /// Which DC.
        dc: String,
        /// How far off.
        skew: Duration,
        /// The clock is behind rather than ahead.
        #[serde(default)]
        behind: bool,
    },
    /// A domain controller stops answering (its NTDS service stopped; its database
    /// survives).
    DcDown {
        /// When.
        at: Duration,
        /// Which DC.
        dc: String,
    },
    /// It answers again and catches up.
    DcUp {
        /// When.
        at: Duration,
        /// Which DC.
        dc: String,
    },
    /// Scripted mail: `count` messages from `from` to `to`. A user's message is
    /// submitted at its home server by MAPI (authenticated) unless `via` names a server
    /// whose SMTP virtual server takes it; a sender outside the organization (an SMTP
    /// address) comes in through `via` on an anonymous session.
    Send {
        /// When.
        at: Duration,
        /// A user's alias or an outside SMTP address.
        from: String,
        /// Recipients: aliases of users, contacts and groups, or outside addresses.
        to: Vec<String>,
        /// The server whose SMTP virtual server takes the message.
        #[serde(default)]
        via: Option<String>,
        /// Whether the session authenticated; by default, yes for a user, no otherwise.
        #[serde(default)]
        authenticated: Option<bool>,
        /// How many messages, from 1 to 100,000.
        #[serde(default = "defaults::send_count")]
        #[schemars(range(min = 1, max = 100_000))]
        count: u32,
        /// Size of each in KB, from 1 to 1,048,576 (1 GB).
        #[serde(default = "defaults::send_size_kb")]
        #[schemars(range(min = 1, max = bounds::MESSAGE_SIZE_KB_MAX))]
        size_kb: u64,
    },
    /// An administrator changes a recipient's attributes: query-based groups select by
    /// the new values from then on.
    ModifyRecipient {
        /// When.
        at: Duration,
        /// The recipient's alias or address.
        recipient: String,
        /// The attributes written (others keep their values).
        attributes: std::collections::BTreeMap<String, AttributeValues>,
        /// The domain controller the change is made on (with `topology.ad_replication`
        /// it replicates from there); the DC the recipient's domain's Recipient Update
        /// Service is bound to by default.
        #[serde(default)]
        domain_controller: Option<String>,
    },
    /// An administrator adds members to a distribution group or removes them (a
    /// standard group; a query-based group's members are its filter's).
    ModifyGroup {
        /// When.
        at: Duration,
        /// The group's alias or address.
        group: String,
        /// Recipients added, by alias or address.
        #[serde(default)]
        add: Vec<String>,
        /// Members removed, by alias or address.
        #[serde(default)]
        remove: Vec<String>,
        /// The domain controller the change is made on (with `topology.ad_replication`
        /// it replicates from there); the DC the group's domain's Recipient Update
        /// Service is bound to by default.
        #[serde(default)]
        domain_controller: Option<String>,
    },
    /// An administrator names another routing group master (Exchange System Manager,
    /// "Set as Master"); a directory change every server reads.
    SetMaster {
        /// When.
        at: Duration,
        /// The routing group.
        routing_group: String,
        /// Its new master, a member of the group.
        server: String,
    },
}

impl Action {
    /// When the action happens.
    pub fn at(&self) -> Duration {
        match self {
            Action::LinkDown { at, .. }
            | Action::LinkUp { at, .. }
            | Action::LinkOscillate { at, .. }
            | Action::ConnectorDown { at, .. }
            | Action::ConnectorUp { at, .. }
            | Action::ServerCrash { at, .. }
            | Action::ServerRestart { at, .. }
            | Action::HostDown { at, .. }
            | Action::HostUp { at, .. }
            | Action::DirectoryChange { at, .. }
            | Action::DcDown { at, .. }
            | Action::ClockSkew { at, .. }
            | Action::DcUp { at, .. }
            | Action::Send { at, .. }
            | Action::ModifyRecipient { at, .. }
            | Action::ModifyGroup { at, .. }
            | Action::SetMaster { at, .. } => *at,
        }
    }
}

/// Randomized faults (swarm testing). Each kind of fault draws from its own stream, so a
/// seed's faults are stable when other parts of the scenario change. Faults start and end
/// inside `from..until`, after which they have all healed (the liveness phase). A link,
/// connector or server that the fixed timeline already acts on is left to the timeline.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Weather {
    /// Faults start no earlier than this.
    pub from: Duration,
    /// Every fault has healed by this.
    pub until: Duration,
    /// WAN link outages.
    #[serde(default)]
    pub link_outages: Option<FaultRate>,
    /// Oscillating WAN links.
    #[serde(default)]
    pub link_oscillations: Option<OscillationRate>,
    /// Connectors taken down (e.g. a bridgehead's SMTP service stopped).
    #[serde(default)]
    pub connector_outages: Option<FaultRate>,
    /// Server crashes, each followed by a restart.
    #[serde(default)]
    pub server_crashes: Option<FaultRate>,
    /// Internet hosts (MX hosts, smart hosts, MTAs, DNS servers) that stop answering.
    #[serde(default)]
    pub host_outages: Option<FaultRate>,
    /// Domain controllers (and global catalogs) that stop answering.
    #[serde(default)]
    pub dc_outages: Option<FaultRate>,
}

/// How often a fault happens and how long it lasts.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultRate {
    /// Mean number of faults per 24 h of the weather window (Poisson; at most 10,000).
    pub per_day: f64,
    /// Shortest and longest fault (log-uniform in between).
    pub length: [Duration; 2],
    /// Which links, connectors or servers may be hit; all by default.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
}

/// How often a link oscillates, how fast and for how long.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OscillationRate {
    /// Mean number of oscillation episodes per 24 h of the window (at most 10,000).
    pub per_day: f64,
    /// Shortest and longest down-and-up period, each at least 2 s.
    pub period: [Duration; 2],
    /// Shortest and longest episode.
    pub length: [Duration; 2],
    /// Which links; all by default.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
}

/// Safety invariants that run during the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// Every accepted recipient is delivered, NDR'd or still queued durably — never lost.
    NoLoss,
    /// No recipient gets the same message twice.
    NoDuplicateDelivery,
    /// No copy of a message comes back to a server it left.
    NoRoutingLoop,
    /// Every routing decision follows a least-cost route over the connectors up in the
    /// deciding server's own link state table, and never a connector that table marks
    /// down.
    LeastCostRouting,
    /// Link state versions only move forward: no running server's table goes back to an
    /// older version of a routing group's entry, and one version of an entry has the
    /// same contents (master, connectors down) on every server.
    LinkStateVersions,
    /// The categorizer routes nothing of a message while its groups are being expanded:
    /// the complete recipient set comes first (EXCHANGE2003.md §2).
    ExpansionBeforeRouting,
}

impl Invariant {
    /// The check's name in results.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::NoLoss => "no_loss",
            Invariant::NoDuplicateDelivery => "no_duplicate_delivery",
            Invariant::NoRoutingLoop => "no_routing_loop",
            Invariant::LeastCostRouting => "least_cost_routing",
            Invariant::LinkStateVersions => "link_state_versions",
            Invariant::ExpansionBeforeRouting => "expansion_before_routing",
        }
    }
}

/// A situation a scenario says it explores (a *sometimes* property): counted in a run,
/// judged across a sweep, which fails when no seed reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sometimes {
    /// Queued mail moved from one link queue to another because its route changed.
    Rerouted,
    /// A routing group master marked a connector down.
    ConnectorMarkedDown,
    /// A 2003 master left a reported change out of its table (the only path kept up, or
    /// an oscillating connector damped).
    ChangeSuppressed,
    /// A link queue went to Retry after failed connections.
    QueueRetry,
    /// Mail waited in "Final destination currently unreachable".
    Unreachable,
    /// A server crashed with writes not yet durable, which died with it.
    CrashLostUnflushed,
    /// A restarted server recovered queued mail from its disk.
    Recovered,
    /// A DNS server or an MX host did not answer and the next one was tried.
    DnsFailover,
    /// A GC did not answer and the categorizer turned to another.
    GcFailover,
    /// A message waited in categorizer retry.
    CategorizerRetry,
}

impl Sometimes {
    /// The property's name in results.
    pub fn name(self) -> &'static str {
        match self {
            Sometimes::Rerouted => "rerouted",
            Sometimes::ConnectorMarkedDown => "connector_marked_down",
            Sometimes::ChangeSuppressed => "change_suppressed",
            Sometimes::QueueRetry => "queue_retry",
            Sometimes::Unreachable => "unreachable",
            Sometimes::CrashLostUnflushed => "crash_lost_unflushed",
            Sometimes::Recovered => "recovered",
            Sometimes::DnsFailover => "dns_failover",
            Sometimes::GcFailover => "gc_failover",
            Sometimes::CategorizerRetry => "categorizer_retry",
        }
    }
}

/// An enhanced status code in an expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NdrCode {
    /// Recipient not in the directory.
    #[serde(rename = "5.1.1")]
    RecipientNotFound,
    /// Message over a size limit.
    #[serde(rename = "5.2.3")]
    MessageTooLarge,
    /// Hop count exceeded.
    #[serde(rename = "4.4.6")]
    HopCountExceeded,
    /// Expired in a queue.
    #[serde(rename = "4.4.7")]
    Expired,
    /// A DNS connector with a non-SMTP address space.
    #[serde(rename = "4.4.9")]
    RoutingError,
    /// No address space matches.
    #[serde(rename = "5.0.0")]
    NoRoute,
    /// No mail host in DNS for the domain.
    #[serde(rename = "5.4.0")]
    HostNotFound,
    /// A restricted recipient refused the sender.
    #[serde(rename = "5.7.1")]
    AccessDenied,
    /// A query-based group could not be expanded.
    #[serde(rename = "5.2.4")]
    ExpansionFailed,
}

/// What a run must show.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Expectation {
    /// By `at`, every accepted recipient (client mail and NDRs) is delivered or NDR'd.
    AllResolvedBy {
        /// The deadline.
        at: Duration,
    },
    /// At least `count` recipients of client mail delivered by the end.
    DeliveredAtLeast {
        /// How many.
        count: u64,
    },
    /// At least `count` recipients NDR'd (with `code`, if given).
    NdrAtLeast {
        /// How many.
        count: u64,
        /// Only this code.
        #[serde(default)]
        code: Option<NdrCode>,
    },
    /// At most `count` recipients NDR'd (with `code`, if given).
    NdrAtMost {
        /// How many.
        count: u64,
        /// Only this code.
        #[serde(default)]
        code: Option<NdrCode>,
    },
    /// Transfers out of the named link queue (a connector or a server) between `from`
    /// and `until` are at least `at_least` and at most `at_most`: proof that a path was,
    /// or was not, used.
    TransferredVia {
        /// Connector name or server name.
        queue: String,
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
        /// Window start (run start by default).
        #[serde(default)]
        from: Option<Duration>,
        /// Window end (run end by default).
        #[serde(default)]
        until: Option<Duration>,
    },
    /// Liveness: within `within` of the run's last fault or directory change, every
    /// replica of each domain holds the same objects and versions.
    DirectoryConverges {
        /// The bound.
        within: Duration,
    },
    /// Messages relayed to the named host beyond the organization (an MX host, smart
    /// host or foreign MTA) between `from` and `until` are at least `at_least` and at
    /// most `at_most`: proof of MX preference, load sharing and failover.
    RelayedTo {
        /// Host name.
        host: String,
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
        /// Window start (run start by default).
        #[serde(default)]
        from: Option<Duration>,
        /// Window end (run end by default).
        #[serde(default)]
        until: Option<Duration>,
    },
    /// Client messages delivered to one recipient (a user's alias or address) are at
    /// least `at_least` and at most `at_most`: proof that a group reached, or did not
    /// reach, a member.
    DeliveredTo {
        /// Alias or address.
        recipient: String,
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
    },
    /// Times a GC did not answer the categorizer (a lookup or an expansion page) and it
    /// turned to another GC, starting its work again, within bounds.
    GcFailovers {
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
    },
    /// Out of Office replies sent, within bounds.
    OutOfOfficeReplies {
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
    },
    /// Messages put in categorizer retry because no GC answered, within bounds.
    CategorizerRetries {
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
    },
    /// At least `count` times mail was queued as "Final destination currently
    /// unreachable" between `from` and `until`.
    UnreachableAtLeast {
        /// How many queue entries.
        count: u64,
        /// Window start.
        #[serde(default)]
        from: Option<Duration>,
        /// Window end.
        #[serde(default)]
        until: Option<Duration>,
    },
    /// At most `count` times mail was queued as "Final destination currently
    /// unreachable" between `from` and `until` (2003 keeps an only path up: mail waits
    /// in the connector's queue instead).
    UnreachableAtMost {
        /// How many queue entries.
        count: u64,
        /// Window start.
        #[serde(default)]
        from: Option<Duration>,
        /// Window end.
        #[serde(default)]
        until: Option<Duration>,
    },
    /// Of the client messages submitted between `from` and `until`, the given percentile
    /// of delivery latency is at most `at_most` (an SLA; what a reroute must preserve).
    DeliveryLatencyAtMost {
        /// Percentile, 0–100.
        percentile: f64,
        /// Bound.
        at_most: Duration,
        /// Submitted from (run start by default).
        #[serde(default)]
        from: Option<Duration>,
        /// Submitted until (run end by default).
        #[serde(default)]
        until: Option<Duration>,
    },
    /// At least `count` servers recovered queued mail from disk after a restart.
    RecoveredAtLeast {
        /// How many recoveries with mail.
        count: u64,
    },
    /// Liveness: within `within` of the last fault of the run (fixed or weather), every
    /// running server's link state table holds the same versions.
    LinkStateConverges {
        /// The bound.
        within: Duration,
    },
    /// Link state messages sent organization-wide (updates, replies, reports) over the
    /// whole run are within bounds.
    LinkStateMessages {
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
    },
}

/// Checks of a run.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// Safety invariants; all by default.
    #[serde(default = "defaults::invariants")]
    pub invariants: Vec<Invariant>,
    /// Expectations.
    #[serde(default)]
    pub expect: Vec<Expectation>,
    /// Situations the scenario's weather should reach at some seed of a sweep.
    #[serde(default)]
    pub sometimes: Vec<Sometimes>,
}

impl Default for Checks {
    fn default() -> Self {
        Checks { invariants: defaults::invariants(), expect: Vec::new(), sometimes: Vec::new() }
    }
}

/// Report settings.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// How often queues and WAN links are sampled into the trace.
    #[serde(default = "defaults::sample_interval")]
    pub sample_interval: Duration,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings { sample_interval: defaults::sample_interval() }
    }
}

/// The JSON Schema of scenario files, generated from these types.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Scenario);
    serde_json::to_value(schema).expect("a schema serializes")
}
