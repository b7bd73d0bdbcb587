//! The SMTP edge: the organization's Message Delivery filters (EXCHANGE2003.md §3.1),
//! configured once and enabled per virtual server, and what an inbound virtual server
//! lets a session do.

use super::*;

/// Global Settings → Message Delivery: the filters every virtual server may enable.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageDeliveryDef {
    /// Connection filtering: accept and deny lists, block list rules, exceptions.
    #[serde(default)]
    pub connection_filter: ConnectionFilterDef,
    /// The sender filter.
    #[serde(default)]
    pub sender_filter: SenderFilterDef,
    /// The recipient filter.
    #[serde(default)]
    pub recipient_filter: RecipientFilterDef,
    /// Sender ID (SP2).
    #[serde(default)]
    pub sender_id: SenderIdDef,
    /// Internal SMTP servers (single IPs or subnets, at most 196) that connection
    /// filtering and Sender ID leave alone.
    #[serde(default)]
    pub internal_servers: Vec<String>,
    /// The tarpit: how long an anonymous session waits for a 5xx reply to RCPT TO
    /// (slows address harvesting); `0s`, off, by default.
    #[serde(default)]
    pub tarpit: Option<Duration>,
}

/// Connection filtering.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionFilterDef {
    /// The global accept list: `192.0.2.7`, `192.0.2.0/24` or `192.0.2.0/255.255.255.0`.
    /// A listed client skips the deny list and the block list rules.
    #[serde(default)]
    pub accept: Vec<String>,
    /// The global deny list (same forms): a listed client is dropped at MAIL FROM.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Block list (DNSBL) rules, in priority order.
    #[serde(default)]
    pub rules: Vec<DnsblRuleDef>,
    /// Recipients accepted whatever a rule says (`postmaster@contoso.com`, `*@domain`).
    #[serde(default)]
    pub exceptions: Vec<String>,
}

/// A block list rule.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DnsblRuleDef {
    /// Display name (`%1` in the reply).
    pub name: String,
    /// The provider's DNS zone, one of `topology.internet.block_lists` (`%2`).
    pub zone: String,
    /// What the rule matches in the provider's answer; any listing by default.
    #[serde(default)]
    pub matching: DnsblMatchDef,
    /// Custom reply text: `%0` the client's IP, `%1` the rule, `%2` the zone; none: "<IP>
    /// has been blocked by <rule>".
    #[serde(default)]
    pub reply: Option<String>,
}

/// What a block list rule matches.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum DnsblMatchDef {
    /// Any return code.
    #[default]
    Any,
    /// One of these return codes (`127.0.0.x`).
    Codes(Vec<std::net::Ipv4Addr>),
    /// A return code with all of this mask's bits set (`0.0.0.6`: on lists 2 and 4).
    Mask(std::net::Ipv4Addr),
}

/// The sender filter.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderFilterDef {
    /// Blocked senders: `a@fabrikam.com`, `*@fabrikam.com`, `*@*.fabrikam.com`.
    #[serde(default)]
    pub blocked: Vec<String>,
    /// Drop the connection on a match.
    #[serde(default)]
    pub drop_connection: bool,
    /// Accept a match without notifying the sender (it goes to Badmail).
    #[serde(default)]
    pub accept_silently: bool,
    /// Archive filtered messages.
    #[serde(default)]
    pub archive: bool,
    /// Filter messages with blank senders (`MAIL FROM:<>`).
    #[serde(default)]
    pub filter_blank_senders: bool,
}

/// The recipient filter.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientFilterDef {
    /// Blocked recipients (same forms as the sender filter's).
    #[serde(default)]
    pub blocked: Vec<String>,
    /// Filter recipients who are not in the directory (authoritative domains only):
    /// refused at RCPT TO instead of accepted and NDR'd later.
    #[serde(default)]
    pub not_in_directory: bool,
}

/// Sender ID.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderIdDef {
    /// What a failed check does: `accept` (stamp the result; the default), `delete`
    /// (accept and drop, no NDR) or `reject` (refuse; the sender's side NDRs).
    #[serde(default)]
    pub action: SenderIdActionDef,
}

/// What Sender ID does with a message whose check fails.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SenderIdActionDef {
    /// Stamp the result and deliver.
    #[default]
    Accept,
    /// Accept and drop.
    Delete,
    /// Refuse at the SMTP level.
    Reject,
}

/// The Intelligent Message Filter's gateway action.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImfActionDef {
    /// Deliver with the SCL stamped.
    #[default]
    NoAction,
    /// Into the `UCEArchive` folder.
    Archive,
    /// Accept and drop.
    Delete,
    /// Refuse at the SMTP level.
    Reject,
}

/// The filters a virtual server applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FilterName {
    /// Sender filter.
    Sender,
    /// Recipient filter.
    Recipient,
    /// Connection filter.
    Connection,
    /// Sender ID.
    SenderId,
    /// Intelligent Message Filter.
    Imf,
}

/// An SMTP virtual server that takes mail from outside the organization (the server's
/// `smtp_virtual_server` keeps the organization's own traffic): its address, who may
/// connect, authentication, submission and relay (the Access tab), and the filters it
/// applies.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundVirtualServer {
    /// Display name, e.g. `Internet SMTP`.
    pub name: String,
    /// Maximum message size in KB; `null` for no limit.
    #[serde(default = "defaults::max_message_size_kb")]
    pub max_message_size_kb: Option<u64>,
    /// The IP it listens on (how hosts outside reach it).
    pub ip: std::net::Ipv4Addr,
    /// Its TCP port.
    #[serde(default = "defaults::smtp_port")]
    pub port: u16,
    /// Connection control, "all except the list below": clients refused at connect.
    #[serde(default)]
    pub deny_connections: Vec<String>,
    /// Connection control, "only the list below": when given, only these connect.
    #[serde(default)]
    pub only_connections: Option<Vec<String>>,
    /// The organization's filters it applies (none by default).
    #[serde(default)]
    pub filters: Vec<FilterName>,
    /// Anonymous access (the default); off, every session must authenticate.
    #[serde(default = "defaults::yes")]
    pub anonymous: bool,
    /// Basic authentication (AUTH LOGIN) offered.
    #[serde(default = "defaults::yes")]
    pub basic_auth: bool,
    /// Security groups allowed to submit; empty: anyone (do not restrict submission on
    /// an Internet-facing virtual server, §3.1).
    #[serde(default)]
    pub submit_groups: Vec<String>,
    /// Computers allowed to relay (single IPs or subnets).
    #[serde(default)]
    pub relay_computers: Vec<String>,
    /// "Allow all computers which successfully authenticate to relay" (on by default).
    #[serde(default = "defaults::yes")]
    pub relay_authenticated: bool,
    /// Only these groups' accounts relay when authenticated; empty: any account.
    #[serde(default)]
    pub relay_groups: Vec<String>,
    /// An open relay: anyone relays to any domain (off by default; a scenario choice).
    #[serde(default)]
    pub open_relay: bool,
    /// "Resolve anonymous e-mail" (§6 Option 2): anonymous senders show as their GAL entry
    /// (a user's, or a contact's whose target is the sender); off by default, when only
    /// authenticated submissions are resolved.
    #[serde(default)]
    pub resolve_anonymous_email: bool,
}

/// A population of clients outside the organization: sessions to an inbound virtual
/// server, each sending one message (the inbound Internet workload).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InternetSenders {
    /// Name (in the report).
    pub name: String,
    /// The Internet host their sessions come from (its site's links carry them).
    pub host: String,
    /// Their IPs: one, or a subnet each session draws one from (a botnet); the host's
    /// `ip` by default.
    #[serde(default)]
    pub ips: Option<String>,
    /// The Exchange server they connect to.
    pub server: String,
    /// Its inbound virtual server; the first by default.
    #[serde(default)]
    pub virtual_server: Option<String>,
    /// Sessions an hour (a Poisson process).
    pub sessions_per_hour: f64,
    /// When they start (from the run's start).
    #[serde(default)]
    pub from: Option<Duration>,
    /// When they stop; the run's end by default.
    #[serde(default)]
    pub until: Option<Duration>,
    /// Envelope senders (MAIL FROM), drawn uniformly; `""` is the blank sender.
    pub senders: Vec<String>,
    /// From headers, drawn uniformly; the envelope sender by default (a forger names
    /// another domain's address here).
    #[serde(default)]
    pub header_from: Vec<String>,
    /// Recipients per message.
    #[serde(default = "defaults::one")]
    pub recipients_per_message: u32,
    /// Where recipients are drawn.
    #[serde(default)]
    pub recipients: SenderRecipients,
    /// Relative weights of the SCL 0–9 the Intelligent Message Filter gives their
    /// content (all 0 by default: legitimate mail).
    #[serde(default = "defaults::scl_weights")]
    pub scl: [f64; 10],
    /// Message size in KB.
    #[serde(default = "defaults::internet_message_kb")]
    pub size_kb: u64,
    /// Authenticate (AUTH LOGIN) as this user (alias; its `password`).
    #[serde(default)]
    pub account: Option<String>,
    /// The senders are Exchange servers of another organization: each message offers
    /// XEXCH50 with an Exch50 blob carrying the SCL their IMF stamped (drawn from `scl`).
    #[serde(default)]
    pub exch50: bool,
}

/// Shares of an Internet sender's recipients; they sum to 1.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SenderRecipients {
    /// Mailboxes of the organization.
    pub valid: f64,
    /// Addresses nobody has in the first authoritative domain (a dictionary attack).
    pub invalid: f64,
    /// Addresses outside the organization (a relay attempt).
    #[serde(default)]
    pub relay: f64,
}

impl Default for SenderRecipients {
    fn default() -> Self {
        SenderRecipients { valid: 1.0, invalid: 0.0, relay: 0.0 }
    }
}
