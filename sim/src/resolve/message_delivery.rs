//! The SMTP edge (EXCHANGE2003.md §3.1): Message Delivery's filters, the inbound virtual
//! servers, the accounts AUTH accepts, and the DNS records edge sessions ask (TXT, A,
//! block list zones).

use super::*;
use crate::scenario::{
    DnsblMatchDef, FilterName, ImfActionDef, InboundVirtualServer, Internet, MessageDeliveryDef, SenderIdActionDef,
};
use org::config::topology::MxRecord;
use org::transport::dns::DnsZones;
use org::transport::smtp_filters::connection_filter::{ConnectionFilter, DnsblMatch, DnsblRule, IpEntry};
use org::transport::smtp_filters::recipient_filter::RecipientFilter;
use org::transport::smtp_filters::sender_filter::SenderFilter;
use org::transport::smtp_filters::virtual_server::{
    ConnectionControl, EnabledFilters, ImfAction, ImfSettings, MessageDelivery, Permissions, Principal, SenderIdAction,
    VirtualServer, INTERNAL_SERVERS_MAX,
};
use org::transport::smtp_filters::{Account, AddressPattern, EdgeConfig};
use std::net::Ipv4Addr;

/// Reads `a.b.c.d`, `a.b.c.d/n` or `a.b.c.d/m.m.m.m`.
pub fn parse_ip_entry(text: &str) -> Result<IpEntry, String> {
    let expected = || format!("expected an IP like \"192.0.2.7\" or a subnet like \"192.0.2.0/24\", found {text:?}");
    let (ip, mask) = match text.trim().split_once('/') {
        None => (text.trim(), None),
        Some((ip, mask)) => (ip, Some(mask)),
    };
    let ip: Ipv4Addr = ip.parse().map_err(|_| expected())?;
    let Some(mask) = mask else { return Ok(IpEntry::single(ip)) };
    let mask = match mask.parse::<u8>() {
        Ok(bits) if bits <= 32 => Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0)),
        Ok(_) => return Err(expected()),
        Err(_) => mask.parse().map_err(|_| expected())?,
    };
    IpEntry::subnet(ip, mask)
}

impl Resolver<'_> {
    fn ip_entries(&mut self, list: &[String], at: &JsonPath) -> Vec<IpEntry> {
        let mut out = Vec::with_capacity(list.len());
        for (i, text) in list.iter().enumerate() {
            match parse_ip_entry(text) {
                Ok(e) => out.push(e),
                Err(message) => self.error(&at.index(i), message),
            }
        }
        out
    }

    fn address_patterns(&mut self, list: &[String], at: &JsonPath) -> Vec<AddressPattern> {
        let mut out = Vec::with_capacity(list.len());
        for (i, text) in list.iter().enumerate() {
            match AddressPattern::parse(text) {
                Ok(p) => out.push(p),
                Err(message) => self.error(&at.index(i), message),
            }
        }
        out
    }

    /// TXT and A records of external domains, hosts' A records, MX host names and the
    /// block list zones.
    pub(super) fn dns_zones(
        &mut self,
        net: &Internet,
        at: &JsonPath,
        mx: &BTreeMap<DomainId, Vec<MxRecord>>,
        domains: &[String],
    ) -> DnsZones {
        let mut zones = DnsZones::default();
        for d in &net.domains {
            let name = d.name.to_ascii_lowercase();
            zones.txt.entry(name.clone()).or_default().extend(d.txt.iter().cloned());
            zones.a.entry(name).or_default().extend(d.a.iter().copied());
        }
        for h in &net.hosts {
            if let Some(ip) = h.ip {
                zones.a.entry(h.name.to_ascii_lowercase()).or_default().push(ip);
            }
        }
        for (domain, records) in mx {
            let mut records = records.clone();
            records.sort_by_key(|r| (r.preference, r.host));
            let hosts = records.iter().map(|r| net.hosts[usize::from(r.host.0)].name.to_ascii_lowercase());
            zones.mx.insert(domains[usize::from(domain.0)].clone(), hosts.collect());
        }
        for (i, list) in net.block_lists.iter().enumerate() {
            let lp = at.key("block_lists").index(i);
            let zone = list.zone.trim_end_matches('.').to_ascii_lowercase();
            if Pattern::smtp(&zone).ok().filter(|p| matches!(p, Pattern::SmtpDomain(_))).is_none() {
                self.error(
                    &lp.key("zone"),
                    format!("expected a DNS zone like \"bl.example.org\", found {:?}", list.zone),
                );
            }
            let mut listed = Vec::new();
            for (k, l) in list.listed.iter().enumerate() {
                let entry = parse_ip_entry(&l.ip).map_err(|m| self.error(&lp.key("listed").index(k).key("ip"), m));
                if l.codes.is_empty() || l.codes.iter().any(|c| c.octets()[0] != 127) {
                    self.error(&lp.key("listed").index(k).key("codes"), "expected return codes like \"127.0.0.2\"");
                }
                if let Ok(entry) = entry {
                    listed.push((entry, l.codes.clone()));
                }
            }
            zones.block_lists.push((zone, listed));
        }
        zones
    }

    /// Message Delivery, every inbound virtual server and the accounts.
    pub(super) fn edge(&mut self, scenario: &Scenario, org: &Org) -> EdgeConfig {
        let zones = &org.internet.zones;
        let t = &scenario.topology;
        let at = p().key("topology").key("message_delivery");
        let mut delivery = self.message_delivery(&t.message_delivery, &at, zones);
        let imf = &t.intelligent_message_filter;
        delivery.imf = imf_settings(imf);
        if imf.gateway_threshold <= imf.store_threshold {
            let ip = p().key("topology").key("intelligent_message_filter").key("gateway_threshold");
            self.error(&ip, "expected a gateway threshold above the store threshold (§3.1)");
        }
        let mut virtual_servers: Vec<(ServerId, VirtualServer)> = Vec::new();
        for (si, server) in t.servers.iter().enumerate() {
            for (k, def) in server.inbound_virtual_servers.iter().enumerate() {
                let vp = p().key("topology").key("servers").index(si).key("inbound_virtual_servers").index(k);
                let config = &org.server_configs[si];
                let mut vs = self.inbound_virtual_server(def, &config.fqdn.to_ascii_lowercase(), &vp);
                vs.exch50_from_anonymous = !server.exch50_auth_check_enabled;
                vs.forest = config.forest;
                if let Some((other, _)) = virtual_servers.iter().find(|(_, o)| (o.ip, o.port) == (vs.ip, vs.port)) {
                    let name = &t.servers[usize::from(other.0)].name;
                    self.error(&vp.key("ip"), format!("{}:{} is already a virtual server of {name}", vs.ip, vs.port));
                }
                virtual_servers.push((ServerId(si as u16), vs));
            }
        }
        let mut accounts = BTreeMap::new();
        for user in &scenario.recipients.users {
            let Some(password) = &user.password else { continue };
            let principal = Principal { account: user.alias.clone(), groups: user.security_groups.clone() };
            let forest = org.user_forest(user);
            accounts.insert(user.alias.to_ascii_lowercase(), Account { forest, password: password.clone(), principal });
        }
        let authoritative = org.forests.smtp_domains.clone();
        let (addresses, gal, texts) = (BTreeMap::new(), Vec::new(), Vec::new());
        EdgeConfig { delivery, virtual_servers, authoritative, accounts, addresses, gal, texts }
    }

    fn message_delivery(&mut self, def: &MessageDeliveryDef, at: &JsonPath, zones: &DnsZones) -> MessageDelivery {
        let cf = &def.connection_filter;
        let cp = at.key("connection_filter");
        let mut rules = Vec::new();
        for (i, r) in cf.rules.iter().enumerate() {
            let zone = r.zone.trim_end_matches('.').to_ascii_lowercase();
            if !zones.block_lists.iter().any(|(z, _)| *z == zone) {
                let known: Vec<&str> = zones.block_lists.iter().map(|(z, _)| z.as_str()).collect();
                let known = if known.is_empty() { "none".to_string() } else { known.join(", ") };
                let message =
                    format!("no block list zone {:?} in topology.internet.block_lists (known: {known})", r.zone);
                self.error(&cp.key("rules").index(i).key("zone"), message);
            }
            let matching = match &r.matching {
                DnsblMatchDef::Any => DnsblMatch::AnyReturnCode,
                DnsblMatchDef::Codes(codes) => DnsblMatch::Codes(codes.clone()),
                DnsblMatchDef::Mask(mask) if u32::from(*mask) == 0 || u32::from(*mask) > 255 => {
                    self.error(
                        &cp.key("rules").index(i).key("matching"),
                        "expected a mask like \"0.0.0.6\" (bits of the last octet)",
                    );
                    DnsblMatch::Mask(*mask)
                }
                DnsblMatchDef::Mask(mask) => DnsblMatch::Mask(*mask),
            };
            rules.push(DnsblRule { name: r.name.clone(), zone, matching, reply: r.reply.clone() });
        }
        let connection = ConnectionFilter {
            accept: self.ip_entries(&cf.accept, &cp.key("accept")),
            deny: self.ip_entries(&cf.deny, &cp.key("deny")),
            rules,
            exceptions: self.address_patterns(&cf.exceptions, &cp.key("exceptions")),
        };
        let sf = &def.sender_filter;
        let sender = SenderFilter {
            blocked: self.address_patterns(&sf.blocked, &at.key("sender_filter").key("blocked")),
            drop_connection: sf.drop_connection,
            accept_silently: sf.accept_silently,
            archive: sf.archive,
            filter_blank_senders: sf.filter_blank_senders,
        };
        let rf = &def.recipient_filter;
        let recipient = RecipientFilter {
            blocked: self.address_patterns(&rf.blocked, &at.key("recipient_filter").key("blocked")),
            filter_not_in_directory: rf.not_in_directory,
        };
        let internal_servers = self.ip_entries(&def.internal_servers, &at.key("internal_servers"));
        if internal_servers.len() > INTERNAL_SERVERS_MAX {
            self.error(
                &at.key("internal_servers"),
                format!("expected at most {INTERNAL_SERVERS_MAX} internal servers (§3.1)"),
            );
        }
        let tarpit_ms = def.tarpit.map_or(0, |d| d.ms);
        if tarpit_ms > 600_000 {
            self.error(&at.key("tarpit"), "expected a tarpit of at most 10m");
        }
        let sender_id_action = match def.sender_id.action {
            SenderIdActionDef::Accept => SenderIdAction::Accept,
            SenderIdActionDef::Delete => SenderIdAction::Delete,
            SenderIdActionDef::Reject => SenderIdAction::Reject,
        };
        MessageDelivery {
            connection,
            sender,
            recipient,
            sender_id_action,
            imf: ImfSettings::default(),
            internal_servers,
            tarpit_ms,
        }
    }

    fn inbound_virtual_server(&mut self, def: &InboundVirtualServer, fqdn: &str, at: &JsonPath) -> VirtualServer {
        let mut vs = VirtualServer::new(&def.name, fqdn, def.ip);
        vs.port = def.port;
        let deny = self.ip_entries(&def.deny_connections, &at.key("deny_connections"));
        vs.connection_control = match &def.only_connections {
            Some(only) if !deny.is_empty() => {
                let _ = only;
                self.error(
                    &at.key("only_connections"),
                    "expected either deny_connections or only_connections, not both",
                );
                ConnectionControl::AllExcept(deny)
            }
            Some(only) => ConnectionControl::OnlyListed(self.ip_entries(only, &at.key("only_connections"))),
            None => ConnectionControl::AllExcept(deny),
        };
        let on = |f| def.filters.contains(&f);
        vs.filters = EnabledFilters {
            sender: on(FilterName::Sender),
            recipient: on(FilterName::Recipient),
            connection: on(FilterName::Connection),
            sender_id: on(FilterName::SenderId),
            imf: on(FilterName::Imf),
        };
        vs.anonymous = def.anonymous;
        vs.resolve_anonymous = def.resolve_anonymous_email;
        vs.basic_auth = def.basic_auth;
        vs.permissions = Permissions {
            submit_groups: def.submit_groups.clone(),
            relay_computers: self.ip_entries(&def.relay_computers, &at.key("relay_computers")),
            relay_authenticated: def.relay_authenticated,
            relay_groups: def.relay_groups.clone(),
            open_relay: def.open_relay,
        };
        vs.max_message_size_bytes = def.max_message_size_kb.map(|kb| kb * 1_024);
        vs
    }
}

/// The IMF settings of the scenario, in the model's terms.
pub(super) fn imf_settings(def: &crate::scenario::ImfSettings) -> ImfSettings {
    let gateway_action = match def.gateway_action {
        ImfActionDef::NoAction => ImfAction::NoAction,
        ImfActionDef::Archive => ImfAction::Archive,
        ImfActionDef::Delete => ImfAction::Delete,
        ImfActionDef::Reject => ImfAction::Reject,
    };
    // The schema bounds both: 0 to 9.
    ImfSettings {
        gateway_threshold: def.gateway_threshold as i8,
        gateway_action,
        store_threshold: def.store_threshold as i8,
    }
}

/// One population of Internet senders, resolved.
#[derive(Clone, Debug)]
pub struct SenderSpec {
    /// Its name.
    pub name: String,
    /// The host its sessions come from.
    pub host: HostId,
    /// Its IPs: the first and how many.
    pub ip_first: u32,
    /// How many consecutive IPs from `ip_first`.
    pub ip_count: u32,
    /// The inbound virtual server (index in the organization's list).
    pub virtual_server: u16,
    /// Sessions a millisecond.
    pub rate_per_ms: f64,
    /// When it starts and stops.
    pub from_ms: u64,
    /// When it stops.
    pub until_ms: u64,
    /// Envelope senders.
    pub senders: Vec<String>,
    /// From headers (empty: the envelope sender).
    pub header_from: Vec<String>,
    /// Recipients per message.
    pub recipients_per_message: u32,
    /// Mailbox addresses (valid recipients).
    pub valid: Arc<[String]>,
    /// Addresses nobody has in an authoritative domain.
    pub invalid: Vec<String>,
    /// Addresses outside the organization.
    pub relay: Vec<String>,
    /// Shares of valid, invalid and relay recipients.
    pub shares: [f64; 3],
    /// Cumulative SCL weights, normalized.
    pub scl_cumulative: [f64; 10],
    /// Message size.
    pub size_bytes: u64,
    /// AUTH credentials.
    pub account: Option<(String, String)>,
    /// It offers XEXCH50 (Exchange servers of another organization).
    pub exch50: bool,
}

/// Invalid and relay addresses each population draws from [U].
const DRAWN_ADDRESSES: usize = 200;

impl Resolver<'_> {
    /// The Internet senders, their addresses interned (senders as external addresses,
    /// so NDRs to them leave the organization: backscatter).
    pub(super) fn internet_senders(
        &mut self,
        scenario: &Scenario,
        org: &mut Org,
        people: &mut People,
        edge: &EdgeConfig,
    ) -> Vec<SenderSpec> {
        let mut out = Vec::new();
        let domains = &scenario.recipients.smtp_domains;
        let valid: Arc<[String]> = (people.mailboxes_by_server.iter().flatten())
            .map(|id| people.book.addresses[id.0 as usize].clone())
            .collect();
        for (i, def) in scenario.internet_senders.iter().enumerate() {
            let at = p().key("internet_senders").index(i);
            let Some(spec) = self.internet_sender(scenario, def, &at, org, edge, valid.clone()) else { continue };
            let mut spec = spec;
            for (k, text) in def.senders.iter().enumerate() {
                if text.is_empty() || people.book.address(text).is_some() {
                    continue; // the blank sender, or one of ours (a roaming user, a forgery)
                }
                let sp = at.key("senders").index(k);
                let domain = text.rsplit_once('@').map_or("", |(_, d)| d);
                if domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
                    self.intern(&mut people.book, text.clone(), &sp);
                } else {
                    self.add_external(&mut people.book, &mut org.external, domains, text, &sp, false);
                }
            }
            let slug: String =
                def.name.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
            let first = domains.first().map_or("contoso.com", String::as_str).to_ascii_lowercase();
            for k in 0..DRAWN_ADDRESSES {
                let address = format!("nobody{k}.{slug}{i}@{first}");
                if self.intern(&mut people.book, address.clone(), &at).is_some() {
                    spec.invalid.push(address);
                }
                let relay = format!("user{k}.{slug}{i}@relay-target.example");
                if self.add_external(&mut people.book, &mut org.external, domains, &relay, &at, false).is_some() {
                    spec.relay.push(relay);
                }
            }
            out.push(spec);
        }
        out
    }

    fn internet_sender(
        &mut self,
        scenario: &Scenario,
        def: &crate::scenario::InternetSenders,
        at: &JsonPath,
        org: &Org,
        edge: &EdgeConfig,
        valid: Arc<[String]>,
    ) -> Option<SenderSpec> {
        let host = self.reference(&org.hosts, "Internet host", &def.host, &at.key("host"));
        let server = self.reference(&org.servers, "server", &def.server, &at.key("server"));
        let net = host_ip(scenario, &def.host);
        let ips = match (&def.ips, net) {
            (Some(text), _) => parse_ip_entry(text).map_err(|m| self.error(&at.key("ips"), m)).ok(),
            (None, Some(ip)) => Some(IpEntry::single(ip)),
            (None, None) => {
                self.error(&at.key("ips"), format!("expected ips, or an ip on host {:?}", def.host));
                None
            }
        };
        let vs = server.and_then(|s| {
            let mine = (0..edge.virtual_servers.len()).filter(|&k| usize::from(edge.virtual_servers[k].0 .0) == s);
            let found = match &def.virtual_server {
                None => mine.clone().next(),
                Some(name) => mine.clone().find(|&k| edge.virtual_servers[k].1.name.eq_ignore_ascii_case(name)),
            };
            if found.is_none() {
                let known: Vec<&str> = mine.map(|k| edge.virtual_servers[k].1.name.as_str()).collect();
                self.error(
                    &at.key("virtual_server"),
                    format!(
                        "no inbound virtual server on {:?} to connect to (known: {})",
                        def.server,
                        known.join(", ")
                    ),
                );
            }
            found
        });
        if !(def.sessions_per_hour > 0.0 && def.sessions_per_hour <= 1e6) {
            self.error(&at.key("sessions_per_hour"), "expected sessions an hour above 0 and at most 1,000,000");
        }
        if def.senders.is_empty() {
            self.error(&at.key("senders"), "expected at least one sender");
        }
        if !(1..=1_000).contains(&def.recipients_per_message) {
            self.error(&at.key("recipients_per_message"), "expected 1 to 1,000 recipients a message");
        }
        let r = &def.recipients;
        let shares = [r.valid, r.invalid, r.relay];
        if shares.iter().any(|s| !(0.0..=1.0).contains(s)) || (shares.iter().sum::<f64>() - 1.0).abs() > 1e-6 {
            self.error(&at.key("recipients"), "expected shares from 0 to 1 that sum to 1");
        }
        let total: f64 = def.scl.iter().sum();
        if def.scl.iter().any(|w| w.is_nan() || *w < 0.0) || total.is_nan() || total <= 0.0 {
            self.error(&at.key("scl"), "expected ten weights, none negative, not all 0");
        }
        let mut scl_cumulative = [0.0; 10];
        let mut sum = 0.0;
        for (k, w) in def.scl.iter().enumerate() {
            sum += w / total;
            scl_cumulative[k] = sum;
        }
        if def.size_kb == 0 || def.size_kb > crate::scenario::bounds::MESSAGE_SIZE_KB_MAX {
            self.error(&at.key("size_kb"), "expected a size from 1 KB to 1 GB");
        }
        let account = match &def.account {
            None => None,
            Some(alias) => match edge.accounts.get(&alias.to_ascii_lowercase()) {
                Some(a) => Some((alias.clone(), a.password.clone())),
                None => {
                    self.error(&at.key("account"), format!("no user {alias:?} with a password in recipients.users"));
                    None
                }
            },
        };
        let from_ms = def.from.map_or(0, |d| d.ms);
        let until_ms = def.until.map_or(u64::MAX, |d| d.ms);
        let (host, vs, ips) = (host?, vs?, ips?);
        let ip_count = (!ips.mask()).saturating_add(1).max(1);
        Some(SenderSpec {
            name: def.name.clone(),
            host: HostId(host as u16),
            ip_first: ips.network(),
            ip_count,
            virtual_server: vs as u16,
            rate_per_ms: def.sessions_per_hour / 3_600_000.0,
            from_ms,
            until_ms,
            senders: def.senders.iter().map(|s| s.to_ascii_lowercase()).collect(),
            header_from: def.header_from.iter().map(|s| s.to_ascii_lowercase()).collect(),
            recipients_per_message: def.recipients_per_message,
            valid,
            invalid: Vec::new(),
            relay: Vec::new(),
            shares,
            scl_cumulative,
            size_bytes: def.size_kb * 1_024,
            account,
            exch50: def.exch50,
        })
    }
}

/// The `ip` the scenario gives an Internet host.
fn host_ip(scenario: &Scenario, name: &str) -> Option<Ipv4Addr> {
    let net = scenario.topology.internet.as_ref()?;
    net.hosts.iter().find(|h| h.name.eq_ignore_ascii_case(name)).and_then(|h| h.ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_entries_take_single_ips_prefixes_and_masks() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert!(parse_ip_entry("192.0.2.7").unwrap().contains(ip("192.0.2.7")));
        let net = parse_ip_entry("192.0.2.0/24").unwrap();
        assert!(net.contains(ip("192.0.2.200")) && !net.contains(ip("192.0.3.1")));
        assert_eq!(parse_ip_entry("192.0.2.0/255.255.255.0").unwrap(), net);
        assert!(parse_ip_entry("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        for bad in ["192.0.2", "192.0.2.1/33", "192.0.2.1/24", "192.0.2.0/255.0.255.0", "x"] {
            assert!(parse_ip_entry(bad).is_err(), "{bad}");
        }
    }
}
