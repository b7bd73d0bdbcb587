//! DNS as the SMTP service's resolver uses it for outbound mail (EXCHANGE2003.md §3.2:
//! "DNS mail delivery load-balances across MX hosts, tolerates unresponsive hosts and
//! DNS servers"): an MX query to one DNS server at a time, the next server after a
//! timeout, and the answer ordered for delivery — lowest preference first, hosts of equal
//! preference in a random order so load spreads across them (RFC 5321 §5.1).
//!
//! Left out: A-record fallback for a domain without MX records (here such a domain does
//! not exist: 5.4.0), CNAMEs, TTLs and the resolver cache.

use crate::config::topology::{InternetConfig, MxRecord};
use crate::transport::address_space::DomainId;
use crate::transport::smtp_filters::connection_filter::IpEntry;
use crate::transport::smtp_filters::sender_id::{DnsAnswer, DnsQuestion};
use crate::transport::smtp_protocol::ConnId;
use crate::{Entropy, HostId};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// An MX query, named by the SMTP session that needs the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsQuery {
    /// The outbound session waiting for the answer (the query id).
    pub conn: ConnId,
    /// The domain asked for.
    pub domain: DomainId,
}

/// A DNS server's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsReply {
    /// The query answered.
    pub query: DnsQuery,
    /// MX records, or `None` for NXDOMAIN.
    pub mx: Option<Vec<MxRecord>>,
}

/// A question an edge session asks a DNS server (block lists, Sender ID), named by the
/// session and the question's number on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeDnsQuery {
    /// The session waiting.
    pub conn: crate::transport::smtp_filters::edge_session::EdgeConnId,
    /// The question's number in the session.
    pub number: u32,
    /// The question.
    pub question: DnsQuestion,
}

/// Its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdgeDnsReply {
    /// The query answered.
    pub query: EdgeDnsQuery,
    /// The answer.
    pub answer: DnsAnswer,
}

/// A block list zone's listings: IPs or subnets, with the return codes they answer.
pub type Listings = Vec<(IpEntry, Vec<Ipv4Addr>)>;

/// The records the Internet's DNS servers hold beyond MX: TXT (Sender ID), A (hosts,
/// domains) and block list zones (§3.1: a listed IP answers `127.0.0.x` for its
/// reversed octets under the zone; not listed: no such name).
#[derive(Clone, Debug, Default)]
pub struct DnsZones {
    /// TXT records by lower-case name.
    pub txt: BTreeMap<String, Vec<String>>,
    /// A records by lower-case name.
    pub a: BTreeMap<String, Vec<Ipv4Addr>>,
    /// MX host names by lower-case domain, lowest preference first.
    pub mx: BTreeMap<String, Vec<String>>,
    /// Block list zones (lower case) with their listings and return codes.
    pub block_lists: Vec<(String, Listings)>,
}

impl DnsZones {
    /// A DNS server's answer to a question of an edge session.
    pub fn answer(&self, question: &DnsQuestion) -> DnsAnswer {
        match question {
            DnsQuestion::Txt(name) => {
                non_empty(self.txt.get(&name.to_ascii_lowercase())).map_or(DnsAnswer::NotFound, DnsAnswer::Txt)
            }
            DnsQuestion::Mx(name) => {
                non_empty(self.mx.get(&name.to_ascii_lowercase())).map_or(DnsAnswer::NotFound, DnsAnswer::Mx)
            }
            DnsQuestion::A(name) => {
                let name = name.to_ascii_lowercase();
                if let Some(codes) = self.listing(&name) {
                    return DnsAnswer::A(codes);
                }
                non_empty(self.a.get(&name)).map_or(DnsAnswer::NotFound, DnsAnswer::A)
            }
        }
    }

    /// A block list's answer for `d.c.b.a.<zone>`, when the name is in a zone and listed.
    fn listing(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        self.block_lists.iter().find_map(|(zone, listed)| {
            let octets = name.strip_suffix(zone.as_str())?.strip_suffix('.')?;
            let reversed: Vec<u8> = octets.split('.').map(str::parse).collect::<Result<_, _>>().ok()?;
            let [d, c, b, a] = reversed[..] else { return None };
            let ip = Ipv4Addr::new(a, b, c, d);
            let mut codes: Vec<Ipv4Addr> =
                listed.iter().filter(|(e, _)| e.contains(ip)).flat_map(|(_, c)| c.iter().copied()).collect();
            codes.sort();
            codes.dedup();
            (!codes.is_empty()).then_some(codes)
        })
    }
}

fn non_empty<T: Clone>(records: Option<&Vec<T>>) -> Option<Vec<T>> {
    records.filter(|r| !r.is_empty()).cloned()
}

/// Bytes of a query and of an answer with `records` MX records, UDP/IP headers included
/// (a 12-byte DNS header, the question, ~30 bytes a record, 28 bytes of UDP/IP) [U].
pub fn wire_size_bytes(records: usize) -> u64 {
    12 + 28 + 32 + 30 * records as u64
}

/// A DNS server answers from the zone data it serves.
pub fn answer(internet: &InternetConfig, query: DnsQuery) -> DnsReply {
    DnsReply { query, mx: internet.mx.get(&query.domain).cloned() }
}

/// The order in which to try the MX hosts: ascending preference, equal preferences
/// shuffled (Fisher–Yates over `rng`), each host once.
pub fn delivery_order(records: &[MxRecord], rng: &mut dyn Entropy) -> Vec<HostId> {
    // A host listed twice counts at its best preference.
    let mut sorted = records.to_vec();
    sorted.sort_by_key(|r| (r.host, r.preference));
    sorted.dedup_by_key(|r| r.host);
    sorted.sort_by_key(|r| (r.preference, r.host));
    let mut out = Vec::with_capacity(sorted.len());
    for group in sorted.chunk_by(|a, b| a.preference == b.preference) {
        let mut hosts: Vec<HostId> = group.iter().map(|r| r.host).collect();
        for i in (1..hosts.len()).rev() {
            let j = rng.below(i + 1);
            hosts.swap(i, j);
        }
        out.extend(hosts);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::smtp_protocol::SessionSeq;
    use proptest::prelude::*;

    struct Lcg(u64);
    impl Entropy for Lcg {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0
        }
    }

    fn mx(preference: u16, host: u16) -> MxRecord {
        MxRecord { preference, host: HostId(host) }
    }

    #[test]
    fn equal_preferences_share_the_load_exchange2003_3_2() {
        let records = [mx(10, 0), mx(10, 1), mx(20, 2)];
        let mut rng = Lcg(7);
        let mut first = [0u32; 3];
        for _ in 0..1000 {
            let order = delivery_order(&records, &mut rng);
            assert_eq!(order.len(), 3);
            assert_eq!(order[2], HostId(2), "the backup MX comes last");
            first[usize::from(order[0].0)] += 1;
        }
        assert!(first[0] > 400 && first[1] > 400, "both preference-10 hosts lead about half the time: {first:?}");
    }

    #[test]
    fn nxdomain_for_a_domain_without_records() {
        let mut internet = InternetConfig::default();
        internet.mx.insert(DomainId(0), vec![mx(10, 0)]);
        let q = |d| DnsQuery { conn: ConnId { client: crate::ServerId(0), seq: SessionSeq(1) }, domain: DomainId(d) };
        assert_eq!(answer(&internet, q(0)).mx, Some(vec![mx(10, 0)]));
        assert_eq!(answer(&internet, q(1)).mx, None);
    }

    #[test]
    fn block_lists_answer_reversed_octets_with_their_codes() {
        let mut zones = DnsZones::default();
        let net = IpEntry::subnet(Ipv4Addr::new(192, 0, 2, 0), Ipv4Addr::new(255, 255, 255, 0)).unwrap();
        let one = IpEntry::single(Ipv4Addr::new(192, 0, 2, 9));
        zones.block_lists.push((
            "bl.example".into(),
            vec![(net, vec![Ipv4Addr::new(127, 0, 0, 2)]), (one, vec![Ipv4Addr::new(127, 0, 0, 4)])],
        ));
        zones.txt.insert("fabrikam.com".into(), vec!["spf2.0/pra -all".into()]);
        let a = |n: &str| zones.answer(&DnsQuestion::A(n.into()));
        assert_eq!(
            a("9.2.0.192.bl.example"),
            DnsAnswer::A(vec![Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 4)])
        );
        assert_eq!(a("1.2.0.192.BL.example"), DnsAnswer::A(vec![Ipv4Addr::new(127, 0, 0, 2)]));
        assert_eq!(a("1.3.0.192.bl.example"), DnsAnswer::NotFound, "not listed: no such name");
        assert_eq!(a("x.2.0.192.bl.example"), DnsAnswer::NotFound);
        assert_eq!(
            zones.answer(&DnsQuestion::Txt("Fabrikam.com".into())),
            DnsAnswer::Txt(vec!["spf2.0/pra -all".into()])
        );
    }

    proptest! {
        /// The order holds every host once and never puts a higher preference before a
        /// lower one.
        #[test]
        fn order_is_by_preference_with_each_host_once(
            records in proptest::collection::vec((0u16..4, 0u16..6), 0..10),
            seed in any::<u64>(),
        ) {
            let records: Vec<MxRecord> = records.into_iter().map(|(p, h)| mx(p * 10, h)).collect();
            let order = delivery_order(&records, &mut Lcg(seed));
            let mut hosts: Vec<HostId> = records.iter().map(|r| r.host).collect();
            hosts.sort();
            hosts.dedup();
            let mut got = order.clone();
            got.sort();
            prop_assert_eq!(got, hosts);
            let best = |h: HostId| records.iter().filter(|r| r.host == h).map(|r| r.preference).min().unwrap();
            for w in order.windows(2) {
                prop_assert!(best(w[0]) <= best(w[1]));
            }
        }
    }
}
