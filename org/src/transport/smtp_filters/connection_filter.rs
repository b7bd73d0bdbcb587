//! Connection filtering (EXCHANGE2003.md §3.1 steps 4, 5, 8 and 9): the global accept
//! list (a listed IP skips the deny list and the DNSBL rules), the global deny list (the
//! connection is dropped), the DNSBL rules in the administrator's priority order (at RCPT
//! TO: the first that matches refuses with its reply text) and the exception recipients
//! (postmaster and the like, accepted whatever the rules say). Lists take single IPs or
//! subnet/mask entries; internal servers (up to 196) are left out by the session.
//!
//! A DNSBL query is the client's IPv4 octets reversed under the provider's zone
//! (192.168.5.1 at contoso.org → `1.5.168.192.contoso.org`); no record means not listed,
//! a listed IP answers `127.0.0.x`. A rule matches any return code, listed codes, or a
//! bit mask — a mask matches only when all its bits are set (0.0.0.6: on lists 2 and 4).

use super::{listed, AddressPattern};
use std::net::Ipv4Addr;

/// An accept or deny list entry: one IP, or a subnet and its mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpEntry {
    network: u32,
    mask: u32,
}

impl IpEntry {
    /// One address.
    pub fn single(ip: Ipv4Addr) -> IpEntry {
        IpEntry { network: u32::from(ip), mask: u32::MAX }
    }

    /// A subnet; the mask must be contiguous ones, and the network hold no host bits.
    pub fn subnet(network: Ipv4Addr, mask: Ipv4Addr) -> Result<IpEntry, String> {
        let (n, m) = (u32::from(network), u32::from(mask));
        if m.leading_ones() + m.trailing_zeros() != 32 {
            return Err(format!("{mask} is not a subnet mask (ones, then zeros)"));
        }
        if n & !m != 0 {
            return Err(format!("{network} has host bits outside the mask {mask}"));
        }
        Ok(IpEntry { network: n, mask: m })
    }

    /// Its network address, as a number.
    pub fn network(&self) -> u32 {
        self.network
    }

    /// Its mask, as a number.
    pub fn mask(&self) -> u32 {
        self.mask
    }

    /// Whether `ip` is in it.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask == self.network
    }
}

/// What a DNSBL rule matches in the provider's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsblMatch {
    /// Any listing.
    AnyReturnCode,
    /// One of these return codes (`127.0.0.x`).
    Codes(Vec<Ipv4Addr>),
    /// A return code with all these bits set.
    Mask(Ipv4Addr),
}

/// A DNSBL connection filter rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsblRule {
    /// Its display name (`%1` in the reply).
    pub name: String,
    /// The provider's zone (`%2`).
    pub zone: String,
    /// What it matches.
    pub matching: DnsblMatch,
    /// The custom reply text, with `%0` the IP, `%1` the rule, `%2` the zone; none: the
    /// default "<IP> has been blocked by <rule>".
    pub reply: Option<String>,
}

impl DnsblRule {
    /// The name asked of DNS for `ip`.
    pub fn query_name(&self, ip: Ipv4Addr) -> String {
        let [a, b, c, d] = ip.octets();
        format!("{d}.{c}.{b}.{a}.{}", self.zone.trim_end_matches('.'))
    }

    /// Whether the provider's answer (its A records; none: not listed) matches.
    pub fn matches(&self, answer: &[Ipv4Addr]) -> bool {
        let listed = answer.iter().filter(|a| a.octets()[0] == 127);
        match &self.matching {
            DnsblMatch::AnyReturnCode => listed.count() > 0,
            DnsblMatch::Codes(codes) => listed.into_iter().any(|a| codes.contains(a)),
            DnsblMatch::Mask(mask) => {
                let m = u32::from(*mask);
                m != 0 && listed.into_iter().any(|a| u32::from(*a) & m == m)
            }
        }
    }

    /// The reply text for `ip` (after the SMTP code).
    pub fn reply_text(&self, ip: Ipv4Addr) -> String {
        match &self.reply {
            None => format!("{ip} has been blocked by {}", self.name),
            Some(text) => text.replace("%0", &ip.to_string()).replace("%1", &self.name).replace("%2", &self.zone),
        }
    }
}

/// The accept and deny lists' verdict on a client IP (at MAIL FROM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListVerdict {
    /// On the accept list: no deny list, no DNSBL rule.
    Accepted,
    /// On the deny list: the connection is dropped.
    Denied,
    /// On neither: the DNSBL rules apply.
    Unlisted,
}

/// The organization's connection filtering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionFilter {
    /// The global accept list.
    pub accept: Vec<IpEntry>,
    /// The global deny list.
    pub deny: Vec<IpEntry>,
    /// The DNSBL rules, highest priority first.
    pub rules: Vec<DnsblRule>,
    /// Recipients accepted whatever a rule says (postmaster, abuse, ...).
    pub exceptions: Vec<AddressPattern>,
}

impl ConnectionFilter {
    /// Steps 4 and 5: the accept list first, then the deny list.
    pub fn lists(&self, ip: Ipv4Addr) -> ListVerdict {
        if self.accept.iter().any(|e| e.contains(ip)) {
            ListVerdict::Accepted
        } else if self.deny.iter().any(|e| e.contains(ip)) {
            ListVerdict::Denied
        } else {
            ListVerdict::Unlisted
        }
    }

    /// The DNS names to ask for `ip`, one per rule in priority order.
    pub fn queries(&self, ip: Ipv4Addr) -> Vec<String> {
        self.rules.iter().map(|r| r.query_name(ip)).collect()
    }

    /// Step 8: the first rule, in priority order, whose answer (`answers[i]` for rule
    /// `i`) matches, with its reply text.
    pub fn blocked_by(&self, ip: Ipv4Addr, answers: &[Vec<Ipv4Addr>]) -> Option<(usize, String)> {
        debug_assert_eq!(answers.len(), self.rules.len(), "one answer per rule");
        let i = self.rules.iter().zip(answers).position(|(r, a)| r.matches(a))?;
        Some((i, self.rules[i].reply_text(ip)))
    }

    /// Step 9: whether `recipient` is an exception (accepted, no further RCPT checks).
    pub fn is_exception(&self, recipient: &str) -> bool {
        listed(&self.exceptions, recipient)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn rule(name: &str, matching: DnsblMatch, reply: Option<&str>) -> DnsblRule {
        DnsblRule { name: name.into(), zone: "contoso.org".into(), matching, reply: reply.map(Into::into) }
    }

    #[test]
    fn queries_reverse_the_octets_under_the_zone() {
        let r = rule("Contoso", DnsblMatch::AnyReturnCode, None);
        assert_eq!(r.query_name(ip("192.168.5.1")), "1.5.168.192.contoso.org");
    }

    #[test]
    fn codes_and_masks_match_as_documented() {
        let codes = rule("c", DnsblMatch::Codes(vec![ip("127.0.0.2")]), None);
        assert!(codes.matches(&[ip("127.0.0.2")]));
        assert!(!codes.matches(&[ip("127.0.0.4")]));
        assert!(!codes.matches(&[]), "no record: not listed");
        let mask = rule("m", DnsblMatch::Mask(ip("0.0.0.6")), None);
        assert!(mask.matches(&[ip("127.0.0.6")]), "on lists 2 and 4");
        assert!(mask.matches(&[ip("127.0.0.7")]));
        assert!(!mask.matches(&[ip("127.0.0.2")]), "only one of the bits");
        assert!(!mask.matches(&[ip("127.0.0.4")]));
        let any = rule("a", DnsblMatch::AnyReturnCode, None);
        assert!(any.matches(&[ip("127.0.0.9")]));
        assert!(!any.matches(&[ip("10.0.0.1")]), "an answer outside 127/8 is no listing");
    }

    #[test]
    fn reply_texts_substitute_ip_rule_and_zone() {
        let default = rule("Contoso BL", DnsblMatch::AnyReturnCode, None);
        assert_eq!(default.reply_text(ip("10.1.2.3")), "10.1.2.3 has been blocked by Contoso BL");
        let custom = rule("Contoso BL", DnsblMatch::AnyReturnCode, Some("%0 is listed by %1 (see %2)"));
        assert_eq!(custom.reply_text(ip("10.1.2.3")), "10.1.2.3 is listed by Contoso BL (see contoso.org)");
    }

    #[test]
    fn accept_list_beats_deny_list_and_rules_go_in_priority_order() {
        let f = ConnectionFilter {
            accept: vec![IpEntry::single(ip("10.0.0.5"))],
            deny: vec![IpEntry::subnet(ip("10.0.0.0"), ip("255.255.255.0")).unwrap()],
            rules: vec![
                rule("first", DnsblMatch::Codes(vec![ip("127.0.0.3")]), None),
                rule("second", DnsblMatch::AnyReturnCode, None),
            ],
            exceptions: vec![AddressPattern::parse("postmaster@contoso.com").unwrap()],
        };
        assert_eq!(f.lists(ip("10.0.0.5")), ListVerdict::Accepted);
        assert_eq!(f.lists(ip("10.0.0.6")), ListVerdict::Denied);
        assert_eq!(f.lists(ip("10.0.1.6")), ListVerdict::Unlisted);
        let listed = vec![ip("127.0.0.2")];
        assert_eq!(
            f.blocked_by(ip("1.2.3.4"), &[listed.clone(), listed]),
            Some((1, "1.2.3.4 has been blocked by second".into()))
        );
        assert_eq!(f.blocked_by(ip("1.2.3.4"), &[vec![ip("127.0.0.3")], vec![]]).map(|b| b.0), Some(0));
        assert_eq!(f.blocked_by(ip("1.2.3.4"), &[vec![], vec![]]), None);
        assert!(f.is_exception("PostMaster@contoso.com"));
        assert_eq!(f.queries(ip("1.2.3.4")), vec!["4.3.2.1.contoso.org", "4.3.2.1.contoso.org"]);
    }

    #[test]
    fn subnets_need_a_real_mask_and_no_host_bits() {
        assert!(IpEntry::subnet(ip("10.0.0.0"), ip("255.0.255.0")).is_err());
        assert!(IpEntry::subnet(ip("10.0.0.1"), ip("255.255.255.0")).is_err());
        let any = IpEntry::subnet(ip("0.0.0.0"), ip("0.0.0.0")).unwrap();
        assert!(any.contains(ip("203.0.113.9")));
    }
}
