//! Sender ID (SP2; EXCHANGE2003.md §3.1 step 14; RFC 4406 with the record syntax of RFC
//! 4408): is the edge client's IP allowed to send for the purported responsible
//! address's domain? The domain's `spf2.0/pra` record is read (a `v=spf1` record when it
//! has none, RFC 4406 §4.4), its mechanisms tried in order, and the first that matches
//! gives the result by its qualifier (`+` Pass, `-` Fail, `~` SoftFail, `?` Neutral);
//! none matching is Neutral, no record None, a broken record or too many lookups
//! PermError, a DNS failure TempError.
//!
//! Sans-IO, as a session uses it: [`SenderIdCheck::poll_query`] gives the next DNS
//! question, [`SenderIdCheck::handle_answer`] takes its answer, until
//! [`SenderIdCheck::result`] is known. Mechanisms: `all`, `ip4`, `a`, `mx`, `include`
//! and the `redirect` modifier; `ptr`, `exists` and macros are not modelled and never
//! match [U] (RFC 4408 discourages `ptr`; orgsim's senders do not publish them).
//! At most ten mechanisms that cost a DNS lookup (RFC 4408 §10.1).

use std::net::Ipv4Addr;

/// A Sender ID result (§3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderIdResult {
    Pass,
    Neutral,
    SoftFail,
    Fail,
    None,
    TempError,
    PermError,
}

/// A DNS question the check asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsQuestion {
    /// The domain's TXT records.
    Txt(String),
    /// The host's A records.
    A(String),
    /// The domain's MX hosts.
    Mx(String),
}

/// Its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsAnswer {
    Txt(Vec<String>),
    A(Vec<Ipv4Addr>),
    Mx(Vec<String>),
    /// No such name (or no records of the type).
    NotFound,
    /// No answer (a timeout or a server failure).
    Failed,
}

/// Lookups one check may cost (RFC 4408 §10.1).
pub const LOOKUPS_MAX: u32 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// The record of a domain is wanted.
    Record(String),
    /// Mechanisms of a record, from `next`.
    Mechanisms { terms: Vec<String>, domain: String, next: usize, redirect: Option<String> },
    /// Hosts whose A records are asked, for the mechanism that asked, with its prefix.
    Hosts { hosts: Vec<String>, prefix: u8, qualifier: char },
}

/// One check in progress.
#[derive(Debug, Clone)]
pub struct SenderIdCheck {
    ip: Ipv4Addr,
    /// The records being evaluated, innermost (an `include`) last.
    stack: Vec<Step>,
    asked: Option<DnsQuestion>,
    lookups: u32,
    result: Option<SenderIdResult>,
}

impl SenderIdCheck {
    /// A check of `ip` sending for `domain`.
    pub fn new(domain: &str, ip: Ipv4Addr) -> SenderIdCheck {
        SenderIdCheck {
            ip,
            stack: vec![Step::Record(domain.to_ascii_lowercase())],
            asked: None,
            lookups: 0,
            result: None,
        }
    }

    /// The result, once known.
    pub fn result(&self) -> Option<SenderIdResult> {
        self.result
    }

    /// The next DNS question, if the check waits for one.
    pub fn poll_query(&mut self) -> Option<DnsQuestion> {
        if self.result.is_some() {
            return None;
        }
        if self.asked.is_none() {
            self.advance();
        }
        self.asked.clone()
    }

    /// The answer to the question asked.
    pub fn handle_answer(&mut self, answer: DnsAnswer) {
        let Some(question) = self.asked.take() else { return };
        if answer == DnsAnswer::Failed {
            return self.finish_all(SenderIdResult::TempError);
        }
        match (question, answer, self.stack.pop()) {
            (DnsQuestion::Txt(domain), answer, Some(Step::Record(_))) => self.record(domain, answer),
            (DnsQuestion::A(_), DnsAnswer::A(ips), Some(Step::Hosts { hosts, prefix, qualifier })) => {
                if ips.iter().any(|a| in_prefix(self.ip, *a, prefix)) {
                    return self.matched(qualifier);
                }
                self.stack.push(Step::Hosts { hosts, prefix, qualifier });
            }
            (DnsQuestion::A(_), _, Some(step @ Step::Hosts { .. })) => self.stack.push(step),
            (DnsQuestion::Mx(_), answer, Some(Step::Hosts { prefix, qualifier, .. })) => {
                let hosts = match answer {
                    DnsAnswer::Mx(hosts) => hosts,
                    _ => Vec::new(),
                };
                self.stack.push(Step::Hosts { hosts, prefix, qualifier });
            }
            _ => self.finish_all(SenderIdResult::PermError),
        }
    }

    /// A domain's TXT records: its Sender ID record, or the end of this level.
    fn record(&mut self, domain: String, answer: DnsAnswer) {
        let txts = match answer {
            DnsAnswer::Txt(t) => t,
            _ => Vec::new(),
        };
        let pick = |prefix: &str| -> Vec<&String> {
            txts.iter()
                .filter(|t| t.split_whitespace().next().is_some_and(|v| v.eq_ignore_ascii_case(prefix)))
                .collect()
        };
        let pra: Vec<&String> = txts
            .iter()
            .filter(|t| {
                let head = t.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
                head.starts_with("spf2.0/") && head["spf2.0/".len()..].split(',').any(|s| s == "pra")
            })
            .collect();
        let chosen = if pra.is_empty() { pick("v=spf1") } else { pra };
        match chosen[..] {
            [] => self.level_done(SenderIdResult::None),
            [record] => self.parse_record(record, domain),
            _ => self.finish_all(SenderIdResult::PermError),
        }
    }

    fn parse_record(&mut self, record: &str, domain: String) {
        let mut terms = Vec::new();
        let mut redirect = None;
        for term in record.split_whitespace().skip(1) {
            let lower = term.to_ascii_lowercase();
            if let Some(target) = lower.strip_prefix("redirect=") {
                redirect = Some(target.to_string());
            } else if !lower.starts_with("exp=") {
                terms.push(lower);
            }
        }
        self.stack.push(Step::Mechanisms { terms, domain, next: 0, redirect });
    }

    /// Runs the innermost step until it needs a DNS answer or the check ends.
    fn advance(&mut self) {
        while self.result.is_none() && self.asked.is_none() {
            let Some(step) = self.stack.pop() else { return };
            match step {
                // Its lookup was counted by the include or redirect that asked for it
                // (the first record's is free, RFC 4408 §10.1).
                Step::Record(domain) => {
                    self.asked = Some(DnsQuestion::Txt(domain.clone()));
                    self.stack.push(Step::Record(domain));
                }
                // No host left: the mechanism did not match, the record goes on.
                Step::Hosts { mut hosts, prefix, qualifier } => {
                    if let Some(host) = hosts.pop() {
                        self.asked = Some(DnsQuestion::A(host));
                        self.stack.push(Step::Hosts { hosts, prefix, qualifier });
                    }
                }
                Step::Mechanisms { terms, domain, next, redirect } => self.mechanism(terms, domain, next, redirect),
            }
        }
    }

    /// Tries mechanism `next` of a record.
    fn mechanism(&mut self, terms: Vec<String>, domain: String, next: usize, redirect: Option<String>) {
        let Some(term) = terms.get(next).cloned() else {
            match redirect {
                Some(target) if self.count_lookup() => self.stack.push(Step::Record(target)),
                Some(_) => {}
                None => self.level_done(SenderIdResult::Neutral),
            }
            return;
        };
        let (qualifier, body) = match term.chars().next() {
            Some(q @ ('+' | '-' | '~' | '?')) => (q, term[1..].to_string()),
            _ => ('+', term.clone()),
        };
        self.stack.push(Step::Mechanisms { terms, domain: domain.clone(), next: next + 1, redirect });
        let (name, arg) = body.split_once(':').map_or((body.as_str(), None), |(n, a)| (n, Some(a)));
        let (name, prefix) = split_prefix(name);
        let (target, prefix) = match arg.map(split_prefix) {
            Some((t, p)) => (t.to_string(), p.or(prefix)),
            None => (domain.clone(), prefix),
        };
        let prefix = match prefix.map(|p| p.parse::<u8>()) {
            None => 32,
            Some(Ok(p)) if p <= 32 => p,
            Some(_) => return self.finish_all(SenderIdResult::PermError),
        };
        match name {
            "all" => self.matched(qualifier),
            "ip4" => match target.parse::<Ipv4Addr>() {
                Ok(net) if arg.is_some() => {
                    if in_prefix(self.ip, net, prefix) {
                        self.matched(qualifier)
                    }
                }
                _ => self.finish_all(SenderIdResult::PermError),
            },
            "include" if arg.is_none() => self.finish_all(SenderIdResult::PermError),
            "a" | "mx" | "include" if !self.count_lookup() => {}
            "a" => self.stack.push(Step::Hosts { hosts: vec![target], prefix, qualifier }),
            "mx" => {
                self.asked = Some(DnsQuestion::Mx(target));
                self.stack.push(Step::Hosts { hosts: Vec::new(), prefix, qualifier });
            }
            "include" => {
                self.stack.push(Step::Hosts { hosts: Vec::new(), prefix: 32, qualifier });
                self.stack.push(Step::Record(target));
            }
            "ptr" | "exists" | "ip6" => {}
            _ => self.finish_all(SenderIdResult::PermError),
        }
    }

    /// Counts a DNS-costing mechanism; over the limit the check is a PermError.
    fn count_lookup(&mut self) -> bool {
        self.lookups += 1;
        if self.lookups > LOOKUPS_MAX {
            self.finish_all(SenderIdResult::PermError);
            return false;
        }
        true
    }

    /// A mechanism matched: its qualifier ends this record's evaluation.
    fn matched(&mut self, qualifier: char) {
        let result = match qualifier {
            '-' => SenderIdResult::Fail,
            '~' => SenderIdResult::SoftFail,
            '?' => SenderIdResult::Neutral,
            _ => SenderIdResult::Pass,
        };
        self.unwind_record();
        self.level_done(result);
    }

    /// Drops what is left of the innermost record (its pending hosts and mechanisms).
    fn unwind_record(&mut self) {
        while let Some(step) = self.stack.pop() {
            if matches!(step, Step::Mechanisms { .. }) {
                return;
            }
        }
    }

    /// A record's evaluation ended with `result`: the check's, or an `include`'s.
    fn level_done(&mut self, result: SenderIdResult) {
        // An include waits below as an empty Hosts step with the include's qualifier.
        match self.stack.pop() {
            Some(Step::Hosts { hosts, qualifier, .. }) if hosts.is_empty() => match result {
                SenderIdResult::Pass => self.matched(qualifier),
                SenderIdResult::TempError => self.finish_all(SenderIdResult::TempError),
                SenderIdResult::None | SenderIdResult::PermError => self.finish_all(SenderIdResult::PermError),
                _ => {} // no match: the including record goes on
            },
            Some(other) => {
                self.stack.push(other);
                self.finish_all(result);
            }
            None => self.finish_all(result),
        }
    }

    fn finish_all(&mut self, result: SenderIdResult) {
        self.stack.clear();
        self.asked = None;
        self.result = Some(result);
    }
}

/// `name/24` → (`name`, Some("24")).
fn split_prefix(s: &str) -> (&str, Option<&str>) {
    s.split_once('/').map_or((s, None), |(n, p)| (n, Some(p)))
}

fn in_prefix(ip: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
    u32::from(ip) & mask == u32::from(net) & mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Runs a check against a zone of TXT, A and MX records (names lower case); a name
    /// in `failing` does not answer.
    fn check(domain: &str, ip: &str, zone: &[(&str, &str)], failing: &[&str]) -> (SenderIdResult, u32) {
        let mut txt: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let (mut a, mut mx): (BTreeMap<String, Vec<Ipv4Addr>>, BTreeMap<String, Vec<String>>) = Default::default();
        for (name, value) in zone {
            let (kind, name) = name.split_once(' ').unwrap();
            match kind {
                "TXT" => txt.entry(name.into()).or_default().push(value.to_string()),
                "A" => a.entry(name.into()).or_default().push(value.parse().unwrap()),
                _ => mx.entry(name.into()).or_default().push(value.to_string()),
            }
        }
        let mut c = SenderIdCheck::new(domain, ip.parse().unwrap());
        let mut asked = 0;
        while let Some(q) = c.poll_query() {
            asked += 1;
            assert!(asked < 50, "bounded");
            let answer = match &q {
                DnsQuestion::Txt(n) | DnsQuestion::A(n) | DnsQuestion::Mx(n) if failing.contains(&n.as_str()) => {
                    DnsAnswer::Failed
                }
                DnsQuestion::Txt(n) => txt.get(n).map_or(DnsAnswer::NotFound, |v| DnsAnswer::Txt(v.clone())),
                DnsQuestion::A(n) => a.get(n).map_or(DnsAnswer::NotFound, |v| DnsAnswer::A(v.clone())),
                DnsQuestion::Mx(n) => mx.get(n).map_or(DnsAnswer::NotFound, |v| DnsAnswer::Mx(v.clone())),
            };
            c.handle_answer(answer);
        }
        (c.result().expect("a result once no question is left"), asked)
    }

    const ZONE: &[(&str, &str)] = &[
        ("TXT contoso.com", "spf2.0/pra ip4:192.0.2.0/24 mx a:relay.contoso.com include:partner.com -all"),
        ("TXT contoso.com", "v=spf1 -all"),
        ("TXT contoso.com", "some other text"),
        ("MX contoso.com", "mx1.contoso.com"),
        ("A mx1.contoso.com", "198.51.100.10"),
        ("A relay.contoso.com", "198.51.100.20"),
        ("TXT partner.com", "v=spf1 ip4:203.0.113.7 ~all"),
        ("TXT soft.com", "v=spf1 ?ip4:10.0.0.1 ~all"),
        ("TXT redirected.com", "v=spf1 redirect=contoso.com"),
        ("TXT twice.com", "v=spf1 -all"),
        ("TXT twice.com", "v=spf1 +all"),
        ("TXT broken.com", "v=spf1 ip4:not-an-ip -all"),
        ("TXT includes-nothing.com", "v=spf1 include:nowhere.com -all"),
    ];

    #[test]
    fn the_pra_record_is_read_and_its_mechanisms_tried_in_order() {
        let r = |domain, ip| check(domain, ip, ZONE, &[]).0;
        assert_eq!(r("contoso.com", "192.0.2.77"), SenderIdResult::Pass, "ip4 prefix");
        assert_eq!(r("Contoso.COM", "198.51.100.10"), SenderIdResult::Pass, "mx");
        assert_eq!(r("contoso.com", "198.51.100.20"), SenderIdResult::Pass, "a:host");
        assert_eq!(r("contoso.com", "203.0.113.7"), SenderIdResult::Pass, "include");
        assert_eq!(r("contoso.com", "203.0.113.8"), SenderIdResult::Fail, "the pra record, not v=spf1");
        assert_eq!(r("partner.com", "203.0.113.8"), SenderIdResult::SoftFail, "v=spf1 when there is no pra record");
        assert_eq!(r("soft.com", "10.0.0.1"), SenderIdResult::Neutral);
        assert_eq!(r("redirected.com", "192.0.2.1"), SenderIdResult::Pass, "redirect");
        assert_eq!(r("nothing.com", "192.0.2.1"), SenderIdResult::None);
        assert_eq!(r("twice.com", "192.0.2.1"), SenderIdResult::PermError, "two records");
        assert_eq!(r("broken.com", "192.0.2.1"), SenderIdResult::PermError);
        assert_eq!(r("includes-nothing.com", "192.0.2.1"), SenderIdResult::PermError, "include of no record");
    }

    #[test]
    fn dns_failures_and_lookup_storms_are_errors() {
        assert_eq!(check("contoso.com", "192.0.2.1", ZONE, &["contoso.com"]).0, SenderIdResult::TempError);
        assert_eq!(check("contoso.com", "203.0.113.7", ZONE, &["partner.com"]).0, SenderIdResult::TempError);
        let chain: Vec<(String, String)> =
            (0..15).map(|i| (format!("TXT d{i}.com"), format!("v=spf1 include:d{}.com -all", i + 1))).collect();
        let zone: Vec<(&str, &str)> = chain.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let (result, asked) = check("d0.com", "192.0.2.1", &zone, &[]);
        assert_eq!(result, SenderIdResult::PermError);
        assert_eq!(asked, 1 + LOOKUPS_MAX, "the first record and ten includes");
    }
}
