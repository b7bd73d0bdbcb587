//! Recipients: users (listed and generated), contacts, groups and query-based groups,
//! their placement in the directory and the Recipient Update Services.

use super::*;

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
    /// GAL synchronization between the forests (EXCHANGE2003.md §6: MIIS 2003 / IIFP
    /// GalSync): a periodic job that creates in each forest a contact for every other
    /// forest's mailbox user, and deletes it when the user goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gal_sync: Option<GalSyncDef>,
}

/// The GalSync job's schedule.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GalSyncDef {
    /// Time between passes, which fall on its multiples from the start; a pass sees a
    /// user once the Recipient Update Service of its forest has stamped it, and the
    /// contact it creates is stamped by the target domain's RUS in turn. What existed
    /// before the start was synchronized before it.
    pub interval: Duration,
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
    /// What the mailbox holds when the run starts, KB.
    #[serde(default)]
    pub mailbox_size_kb: u64,
    /// Storage limits of its own, instead of its store's.
    #[serde(default)]
    pub quota: Option<crate::scenario::Quota>,
    /// Domain, OU and restrictions.
    #[serde(default, flatten)]
    pub placement: Placement,
    /// Attributes that query-based groups filter on (`department`, `company`, `title`,
    /// `l`, …), each one value or several.
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, AttributeValues>,
    /// The account's password, for AUTH on a virtual server (none: the account never
    /// authenticates over SMTP in the run).
    #[serde(default)]
    pub password: Option<String>,
    /// Security groups the account is in, as virtual servers' submission and relay
    /// permissions name them.
    #[serde(default)]
    pub security_groups: Vec<String>,
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
    /// What each mailbox holds when the run starts, KB.
    #[serde(default)]
    pub mailbox_size_kb: u64,
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
