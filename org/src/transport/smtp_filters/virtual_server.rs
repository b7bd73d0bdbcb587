//! An SMTP virtual server's settings that decide what an inbound session from outside
//! the organization may do (EXCHANGE2003.md §3.1, §3.2): its IP and port, connection
//! control (step 1), which of the organization's filters it enables, authentication,
//! and who may submit and relay through it; and the organization's Message Delivery
//! settings the filters read.

use super::connection_filter::{ConnectionFilter, IpEntry};
use super::recipient_filter::RecipientFilter;
use super::sender_filter::SenderFilter;
use std::net::Ipv4Addr;

/// Internal servers the organization can exclude from connection filtering and Sender
/// ID (§3.1: up to 196 addresses).
pub const INTERNAL_SERVERS_MAX: usize = 196;

/// Recipients per message a virtual server takes by default (§3.2a: 5,000).
pub const RECIPIENTS_PER_MESSAGE_DEFAULT: usize = 5_000;

/// What Sender ID does with a message whose check fails (§3.1 step 14).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderIdAction {
    /// Stamp the result and deliver (the default).
    #[default]
    Accept,
    /// Accept and drop, without an NDR.
    Delete,
    /// Refuse at the SMTP level; the sending side makes the NDR.
    Reject,
}

/// What the Intelligent Message Filter does at the gateway with mail rated above its
/// threshold (§3.1 step 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImfAction {
    /// Deliver with the SCL stamped (the store may still move it to Junk E-mail).
    NoAction,
    /// Accept into the `UCEArchive` folder (resubmittable).
    Archive,
    /// Accept and drop.
    Delete,
    /// Refuse at the SMTP level.
    Reject,
}

/// The Intelligent Message Filter's thresholds (§3.1: defaults not documented [U];
/// orgsim's are gateway 8 / No Action, store 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImfSettings {
    /// Mail rated strictly above it gets `gateway_action`.
    pub gateway_threshold: i8,
    /// The gateway action.
    pub gateway_action: ImfAction,
    /// Mail rated strictly above it goes to Junk E-mail at the store; lower than the
    /// gateway's.
    pub store_threshold: i8,
}

impl Default for ImfSettings {
    fn default() -> Self {
        ImfSettings { gateway_threshold: 8, gateway_action: ImfAction::NoAction, store_threshold: 6 }
    }
}

/// The organization's Message Delivery settings (Global Settings): the filters, each
/// configured once and enabled per virtual server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageDelivery {
    /// Connection filtering: accept and deny lists, DNSBL rules, exception recipients.
    pub connection: ConnectionFilter,
    /// The sender filter.
    pub sender: SenderFilter,
    /// The recipient filter.
    pub recipient: RecipientFilter,
    /// What Sender ID does with a failed check.
    pub sender_id_action: SenderIdAction,
    /// The Intelligent Message Filter.
    pub imf: ImfSettings,
    /// Internal SMTP servers: not subject to connection filtering or Sender ID (≤ 196).
    pub internal_servers: Vec<IpEntry>,
    /// The tarpit: how long an anonymous session waits for a 5xx reply to RCPT TO [P]
    /// (0: off, the default).
    pub tarpit_ms: u64,
}

/// Connection control (Access → Connection): who may connect at all (step 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionControl {
    /// All except the list below (an empty list: everyone, the default).
    AllExcept(Vec<IpEntry>),
    /// Only the list below.
    OnlyListed(Vec<IpEntry>),
}

impl ConnectionControl {
    /// Whether `ip` may connect.
    pub fn admits(&self, ip: Ipv4Addr) -> bool {
        match self {
            ConnectionControl::AllExcept(list) => !list.iter().any(|e| e.contains(ip)),
            ConnectionControl::OnlyListed(list) => list.iter().any(|e| e.contains(ip)),
        }
    }
}

/// Which of the organization's filters a virtual server applies (General → Advanced →
/// Identification: each is a checkbox per IP address of the virtual server).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnabledFilters {
    /// Sender filter.
    pub sender: bool,
    /// Recipient filter.
    pub recipient: bool,
    /// Connection filter.
    pub connection: bool,
    /// Sender ID.
    pub sender_id: bool,
    /// Intelligent Message Filter.
    pub imf: bool,
}

/// Who may submit mail, and who may relay it to domains the organization is not
/// authoritative for (Access → Relay restrictions and the Permissions list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// Security groups allowed to submit; empty: anyone, anonymous too (§3.1: do not
    /// restrict submission on an Internet-facing virtual server).
    pub submit_groups: Vec<String>,
    /// Computers allowed to relay ("Only the list below").
    pub relay_computers: Vec<IpEntry>,
    /// "Allow all computers which successfully authenticate to relay" (the default).
    pub relay_authenticated: bool,
    /// With `relay_authenticated`: only members of these groups; empty: any account.
    pub relay_groups: Vec<String>,
    /// An open relay: anyone relays (a scenario choice, off by default).
    pub open_relay: bool,
}

impl Default for Permissions {
    fn default() -> Self {
        Permissions {
            submit_groups: Vec::new(),
            relay_computers: Vec::new(),
            relay_authenticated: true,
            relay_groups: Vec::new(),
            open_relay: false,
        }
    }
}

/// A principal an AUTH command proved to be, with the groups it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The account.
    pub account: String,
    /// Its security groups.
    pub groups: Vec<String>,
}

impl Permissions {
    /// Whether a session may submit mail at all (`None`: anonymous).
    pub fn may_submit(&self, principal: Option<&Principal>) -> bool {
        self.submit_groups.is_empty() || principal.is_some_and(|p| in_any(p, &self.submit_groups))
    }

    /// Whether a session may relay (`None`: anonymous).
    pub fn may_relay(&self, ip: Ipv4Addr, principal: Option<&Principal>) -> bool {
        self.open_relay
            || self.relay_computers.iter().any(|e| e.contains(ip))
            || (self.relay_authenticated
                && principal.is_some_and(|p| self.relay_groups.is_empty() || in_any(p, &self.relay_groups)))
    }
}

fn in_any(p: &Principal, groups: &[String]) -> bool {
    p.groups.iter().any(|g| groups.iter().any(|w| w.eq_ignore_ascii_case(g)))
}

/// One SMTP virtual server as an inbound session sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServer {
    /// Its name ("Default SMTP Virtual Server", "Internet SMTP").
    pub name: String,
    /// The IP it listens on.
    pub ip: Ipv4Addr,
    /// The port (25).
    pub port: u16,
    /// The server's FQDN in the banner and replies.
    pub fqdn: String,
    /// Who may connect.
    pub connection_control: ConnectionControl,
    /// The filters it applies.
    pub filters: EnabledFilters,
    /// Anonymous access allowed (the default); off, every session must authenticate.
    pub anonymous: bool,
    /// Basic authentication offered (AUTH LOGIN).
    pub basic_auth: bool,
    /// Submission and relay permissions.
    pub permissions: Permissions,
    /// Maximum message size (§3.2a: 4,096 KB by default).
    pub max_message_size_bytes: Option<u64>,
    /// Recipients per message (§3.2a: 5,000).
    pub max_recipients: usize,
    /// The server's `SMTPSVC\XEXCH50\Exch50AuthCheckEnabled` is 0: XEXCH50 is accepted
    /// from anonymous sessions too (§6; by default only from authenticated ones).
    pub exch50_from_anonymous: bool,
    /// "Resolve anonymous e-mail" (§6 Option 2): anonymous senders show as their GAL
    /// entry (off by default: only authenticated ones do).
    pub resolve_anonymous: bool,
    /// The forest of its server: whose domains it is authoritative for and whose
    /// accounts it authenticates.
    pub forest: crate::ForestId,
}

impl VirtualServer {
    /// A virtual server with the defaults of a new one: everyone may connect, anonymous
    /// and basic authentication, no filters enabled, relay for authenticated accounts.
    pub fn new(name: &str, fqdn: &str, ip: Ipv4Addr) -> VirtualServer {
        VirtualServer {
            name: name.to_string(),
            ip,
            port: 25,
            fqdn: fqdn.to_string(),
            connection_control: ConnectionControl::AllExcept(Vec::new()),
            filters: EnabledFilters::default(),
            anonymous: true,
            basic_auth: true,
            permissions: Permissions::default(),
            max_message_size_bytes: Some(4_096 * 1_024),
            max_recipients: RECIPIENTS_PER_MESSAGE_DEFAULT,
            exch50_from_anonymous: false,
            resolve_anonymous: false,
            forest: crate::ForestId(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn connection_control_lists_exclude_or_admit() {
        let net = IpEntry::subnet(ip("10.1.0.0"), ip("255.255.0.0")).unwrap();
        assert!(ConnectionControl::AllExcept(vec![]).admits(ip("1.2.3.4")));
        assert!(!ConnectionControl::AllExcept(vec![net]).admits(ip("10.1.2.3")));
        assert!(ConnectionControl::OnlyListed(vec![net]).admits(ip("10.1.2.3")));
        assert!(!ConnectionControl::OnlyListed(vec![net]).admits(ip("10.2.2.3")));
    }

    #[test]
    fn relay_needs_a_listed_computer_an_account_or_an_open_relay() {
        let user = Principal { account: "alice".into(), groups: vec!["Domain Users".into()] };
        let mut p = Permissions::default();
        assert!(!p.may_relay(ip("1.2.3.4"), None), "anonymous: no relay by default");
        assert!(p.may_relay(ip("1.2.3.4"), Some(&user)), "any account relays by default");
        p.relay_groups = vec!["Relay Users".into()];
        assert!(!p.may_relay(ip("1.2.3.4"), Some(&user)));
        p.relay_computers = vec![IpEntry::single(ip("1.2.3.4"))];
        assert!(p.may_relay(ip("1.2.3.4"), None));
        assert!(!p.may_relay(ip("1.2.3.5"), None));
        p.open_relay = true;
        assert!(p.may_relay(ip("9.9.9.9"), None));
        assert!(p.may_submit(None), "submission is open by default");
        p.submit_groups = vec!["domain users".into()];
        assert!(!p.may_submit(None));
        assert!(p.may_submit(Some(&user)), "group names compare without case");
    }
}
