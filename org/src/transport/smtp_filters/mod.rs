//! The SP2 gateway filters of an SMTP virtual server (EXCHANGE2003.md §3.1): connection
//! filtering (accept and deny lists, DNSBL rules, exception recipients), the sender
//! filter, the recipient filter and Sender ID. Each is configured once for the organization
//! (Message Delivery properties) and judges what an inbound session hands it; the
//! session decides when to ask (the §3.1 order) and what the answer does.

pub mod connection_filter;
pub mod edge_protocol;
pub mod edge_session;
pub mod recipient_filter;
pub mod sender_filter;
pub mod sender_id;
pub mod virtual_server;

use crate::ServerId;
use std::collections::BTreeMap;
use virtual_server::{MessageDelivery, Principal, VirtualServer};

/// The organization's SMTP edge: its filters, every inbound virtual server, the domains
/// it is authoritative for, and the accounts AUTH accepts.
#[derive(Debug, Clone, Default)]
pub struct EdgeConfig {
    /// Message Delivery.
    pub delivery: MessageDelivery,
    /// Inbound virtual servers with their servers, in scenario order.
    pub virtual_servers: Vec<(ServerId, VirtualServer)>,
    /// Each forest's authoritative SMTP domains (its organization's recipient
    /// policies), lower case, by [`crate::ForestId`].
    pub authoritative: Vec<Vec<String>>,
    /// Accounts with a password, by lower-case account name (the user's alias).
    pub accounts: BTreeMap<String, Account>,
    /// Interned addresses by lower-case text, for the simulated sessions' directory
    /// lookups and what they accept (filled only when there are inbound virtual servers).
    pub addresses: BTreeMap<String, crate::AddressId>,
    /// Per forest, the GAL entry a message's sender (its P1 address) resolves to there:
    /// a mailbox user's own address, or the contact whose target (a proxy address of it)
    /// is the sender.
    pub gal: Vec<BTreeMap<crate::AddressId, crate::AddressId>>,
    /// Every interned address's text by id, what a server writes in MAIL FROM and RCPT
    /// TO to another organization (filled only when a connector reaches one).
    pub texts: Vec<String>,
}

/// How a message from outside shows its sender (EXCHANGE2003.md §6): the GAL entry's
/// display name only when the submission authenticated, or on a virtual server that
/// resolves anonymous mail; otherwise the bare SMTP address, even when an entry exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderDisplay {
    /// Resolved: the session authenticated.
    ResolvedAuthenticated,
    /// Resolved: the virtual server's "resolve anonymous e-mail" is on.
    ResolvedAnonymous,
    /// The bare address: anonymous, though the GAL holds an entry for it (anti-spoofing).
    AddressAnonymous,
    /// The bare address: no GAL entry for the sender.
    AddressNotInGal,
}

impl SenderDisplay {
    /// How a sender with a GAL entry or not shows, from a session authenticated or not,
    /// on a virtual server resolving anonymous mail or not.
    pub fn of(in_gal: bool, authenticated: bool, resolve_anonymous: bool) -> SenderDisplay {
        match (in_gal, authenticated, resolve_anonymous) {
            (false, _, _) => SenderDisplay::AddressNotInGal,
            (true, true, _) => SenderDisplay::ResolvedAuthenticated,
            (true, false, true) => SenderDisplay::ResolvedAnonymous,
            (true, false, false) => SenderDisplay::AddressAnonymous,
        }
    }

    /// Whether the sender shows as its GAL entry.
    pub fn resolved(self) -> bool {
        matches!(self, SenderDisplay::ResolvedAuthenticated | SenderDisplay::ResolvedAnonymous)
    }

    /// Its name in traces and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SenderDisplay::ResolvedAuthenticated => "resolved_authenticated",
            SenderDisplay::ResolvedAnonymous => "resolved_anonymous",
            SenderDisplay::AddressAnonymous => "address_anonymous",
            SenderDisplay::AddressNotInGal => "address_not_in_gal",
        }
    }
}

/// An account AUTH can prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The forest whose directory holds it.
    pub forest: crate::ForestId,
    /// Its password.
    pub password: String,
    /// Who it is, with its security groups.
    pub principal: Principal,
}

impl EdgeConfig {
    /// The session context of virtual server `i`, with the run's planted bugs.
    pub fn context(&self, i: usize, plants: crate::planted_bugs::Plants) -> edge_session::EdgeContext<'_> {
        edge_session::EdgeContext {
            delivery: &self.delivery,
            server: &self.virtual_servers[i].1,
            authoritative: self.authoritative.get(usize::from(self.virtual_servers[i].1.forest.0)).map_or(&[], |a| a),
            plants,
        }
    }

    /// The principal `account` is in `forest`, if `password` is its password.
    pub fn authenticate(&self, forest: crate::ForestId, account: &str, password: &str) -> Option<Principal> {
        let found = self.accounts.get(&account.to_ascii_lowercase())?;
        (found.forest == forest && found.password == password).then(|| found.principal.clone())
    }
}

/// An address as the filters' lists name one: a whole address, every address of a
/// domain (`*@contoso.com`), or of its subdomains too (`*@*.contoso.com`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AddressPattern {
    /// One address, lower case.
    Address(String),
    /// `*@domain`: the domain's addresses, lower case.
    Domain(String),
    /// `*@*.domain`: the domain's and its subdomains' addresses.
    DomainAndSubdomains(String),
}

impl AddressPattern {
    /// Reads a list entry; the error says what was expected.
    pub fn parse(text: &str) -> Result<AddressPattern, String> {
        let lower = text.trim().to_ascii_lowercase();
        let Some((local, domain)) = lower.rsplit_once('@') else {
            return Err(format!("expected an address, *@domain or *@*.domain, not {text:?}"));
        };
        let valid_domain = |d: &str| !d.is_empty() && d.split('.').all(|l| !l.is_empty() && !l.contains('*'));
        match (local, domain.strip_prefix("*.")) {
            ("*", Some(parent)) if valid_domain(parent) => Ok(AddressPattern::DomainAndSubdomains(parent.to_string())),
            ("*", None) if valid_domain(domain) => Ok(AddressPattern::Domain(domain.to_string())),
            (l, None) if !l.is_empty() && !l.contains('*') && valid_domain(domain) => {
                Ok(AddressPattern::Address(lower))
            }
            _ => Err(format!("expected an address, *@domain or *@*.domain, not {text:?}")),
        }
    }

    /// Whether `address` (any case) is one it names.
    pub fn matches(&self, address: &str) -> bool {
        let address = address.to_ascii_lowercase();
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        match self {
            AddressPattern::Address(a) => *a == address,
            AddressPattern::Domain(d) => domain == d,
            AddressPattern::DomainAndSubdomains(d) => {
                domain == d || domain.strip_suffix(d.as_str()).is_some_and(|head| head.ends_with('.'))
            }
        }
    }
}

/// Whether any of `patterns` names `address`.
pub fn listed(patterns: &[AddressPattern], address: &str) -> bool {
    patterns.iter().any(|p| p.matches(address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_shows_as_its_gal_entry_only_when_authenticated_or_allowed() {
        use SenderDisplay as D;
        assert_eq!(D::of(true, true, false), D::ResolvedAuthenticated);
        assert_eq!(D::of(true, false, true), D::ResolvedAnonymous);
        assert_eq!(D::of(true, false, false), D::AddressAnonymous, "a matching contact is not enough");
        assert_eq!(D::of(false, true, true), D::AddressNotInGal);
        for (g, a, r) in [(true, false, false), (false, false, true), (false, true, false)] {
            assert!(!D::of(g, a, r).resolved());
        }
    }

    #[test]
    fn patterns_name_addresses_domains_and_subdomains() {
        let p = |s| AddressPattern::parse(s).unwrap();
        assert!(p("Spammer@Example.com").matches("spammer@example.COM"));
        assert!(!p("spammer@example.com").matches("other@example.com"));
        assert!(p("*@example.com").matches("a@EXAMPLE.com"));
        assert!(!p("*@example.com").matches("a@mail.example.com"));
        assert!(p("*@*.example.com").matches("a@mail.example.com"));
        assert!(p("*@*.example.com").matches("a@example.com"));
        assert!(!p("*@*.example.com").matches("a@badexample.com"), "a label boundary, not a suffix");
        for bad in ["nobody", "*@", "a*b@example.com", "*@*.", "@example.com", "*@ex..com"] {
            assert!(AddressPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
