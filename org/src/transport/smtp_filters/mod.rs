//! The SP2 gateway filters of an SMTP virtual server (EXCHANGE2003.md §3.1): connection
//! filtering (accept and deny lists, DNSBL rules, exception recipients), the sender
//! filter, the recipient filter and Sender ID. Each is configured once for the organization
//! (Message Delivery properties) and judges what an inbound session hands it; the
//! session decides when to ask (the §3.1 order) and what the answer does.

pub mod connection_filter;
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
    /// Authoritative SMTP domains, lower case.
    pub authoritative: Vec<String>,
    /// Accounts with a password, by lower-case account name (the user's alias).
    pub accounts: BTreeMap<String, Account>,
    /// Interned addresses by lower-case text, for the simulated sessions' directory
    /// lookups and what they accept (filled only when there are inbound virtual servers).
    pub addresses: BTreeMap<String, crate::AddressId>,
}

/// An account AUTH can prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
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
            authoritative: &self.authoritative,
            plants,
        }
    }

    /// The principal `account` is, if `password` is its password.
    pub fn authenticate(&self, account: &str, password: &str) -> Option<Principal> {
        let found = self.accounts.get(&account.to_ascii_lowercase())?;
        (found.password == password).then(|| found.principal.clone())
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
