//! The Internet section (hosts, DNS, MX records) and the connectors with address
//! spaces (SMTP and X.400) that reach it.

use super::*;
use crate::scenario::OutboundSecuritySpec;
use org::config::topology::OutboundSecurity;

/// What lies beyond the organization: the Internet's hosts, their configuration and sites.
#[derive(Clone, Copy)]
pub(super) struct Beyond<'a> {
    pub(super) hosts: &'a Names,
    pub(super) internet: &'a InternetConfig,
    pub(super) host_site: &'a [usize],
}

impl Resolver<'_> {
    /// The Internet section: hosts with their sites, the DNS servers and the MX records
    /// of external domains. Returns the config, each host's site and the host names.
    pub(super) fn internet(
        &mut self,
        t: &crate::scenario::TopologyDef,
        sites: &Names,
        external: &mut ExternalDirectory,
        reachable: Reachable<'_>,
    ) -> (InternetConfig, Vec<usize>, Names) {
        let Some(net) = &t.internet else {
            return (InternetConfig::default(), Vec::new(), Names::of(std::iter::empty()));
        };
        let ip = p().key("topology").key("internet");
        let site = self.reference(sites, "site", &net.site, &ip.key("site")).unwrap_or(0);
        let hosts = self.names("Internet host", ip.key("hosts"), net.hosts.iter().map(|h| h.name.as_str()), "name");
        let mut host_site = Vec::new();
        let mut configs = Vec::new();
        for (i, h) in net.hosts.iter().enumerate() {
            let own =
                h.site.as_ref().and_then(|s| self.reference(sites, "site", s, &ip.key("hosts").index(i).key("site")));
            host_site.push(own.unwrap_or(site));
            let role = match h.role {
                HostRoleSpec::Mail => HostRole::Mail,
                HostRoleSpec::Mta => HostRole::Mta,
                HostRoleSpec::Dns => HostRole::Dns,
            };
            configs.push(HostConfig { name: h.name.clone(), fqdn: h.name.to_ascii_lowercase(), role });
        }
        let role_of = |h: usize| configs[h].role;
        let mut dns_servers = Vec::new();
        for (i, name) in net.dns_servers.iter().enumerate() {
            let at = ip.key("dns_servers").index(i);
            if let Some(h) = self.reference(&hosts, "Internet host", name, &at) {
                if role_of(h) != HostRole::Dns {
                    self.error(&at, format!("host {name:?} is not a DNS server (role \"dns\")"));
                }
                dns_servers.push(HostId(h as u16));
            }
        }
        if net.dns_timeout.ms < 100 || net.dns_timeout.ms > 120_000 {
            self.error(&ip.key("dns_timeout"), "expected a DNS timeout from 100ms to 2m");
        }
        let mut mx = BTreeMap::new();
        for (i, d) in net.domains.iter().enumerate() {
            let at = ip.key("domains").index(i);
            if Pattern::smtp(&d.name).ok().filter(|p| matches!(p, Pattern::SmtpDomain(_))).is_none() {
                self.error(&at.key("name"), format!("expected a DNS domain like \"fabrikam.com\", found {:?}", d.name));
                continue;
            }
            let id = external.domain_id(&d.name);
            if mx.contains_key(&id) {
                self.error(&at.key("name"), format!("domain {:?} is listed twice", d.name));
                continue;
            }
            if d.mx.is_empty() && d.txt.is_empty() && d.a.is_empty() {
                self.error(
                    &at.key("mx"),
                    "expected at least one MX, TXT or A record (leave a domain out to make it not exist)",
                );
            }
            let mut records = Vec::new();
            for (k, r) in d.mx.iter().enumerate() {
                let rp = at.key("mx").index(k).key("host");
                if let Some(h) = self.reference(&hosts, "Internet host", &r.host, &rp) {
                    if role_of(h) != HostRole::Mail {
                        self.error(
                            &rp,
                            format!("an MX record names a mail host; {:?} is not one (role \"mail\")", r.host),
                        );
                    }
                    records.push(MxRecord { preference: r.preference, host: HostId(h as u16) });
                }
            }
            if !records.is_empty() {
                mx.insert(id, records);
            }
        }
        // Everything a bridgehead asks must be reachable from it, which `gateways` checks;
        // hosts themselves only need a site.
        let _ = reachable;
        let zones = self.dns_zones(net, &ip, &mx, &external.domains);
        let config = InternetConfig { hosts: configs, dns_servers, mx, dns_timeout_ms: net.dns_timeout.ms, zones };
        (config, host_site, hosts)
    }

    /// SMTP and X.400 connectors with address spaces.
    pub(super) fn gateways(
        &mut self,
        t: &crate::scenario::TopologyDef,
        (rgs, rg_forest): (&Names, &[ForestId]),
        servers: &super::topology::Servers,
        beyond: Beyond<'_>,
        reachable: Reachable<'_>,
    ) -> Vec<GatewayConfig> {
        let tp = p().key("topology");
        let mut out = Vec::new();
        let smtp = t.smtp_connectors.iter().enumerate().map(|(i, c)| {
            let kind = match &c.smart_host {
                Some(h) => Err((h.as_str(), "smart_host", HostRole::Mail)),
                None => Ok(()),
            };
            (
                tp.key("smtp_connectors").index(i),
                &c.name,
                &c.routing_group,
                &c.source_bridgeheads,
                &c.address_spaces,
                kind,
            )
        });
        let x400 = t.x400_connectors.iter().enumerate().map(|(i, c)| {
            let kind = Err((c.remote_mta.as_str(), "remote_mta", HostRole::Mta));
            (
                tp.key("x400_connectors").index(i),
                &c.name,
                &c.routing_group,
                &c.source_bridgeheads,
                &c.address_spaces,
                kind,
            )
        });
        for (k, (at, name, group, bridgeheads, spaces, kind)) in smtp.chain(x400).enumerate() {
            let group = self.reference(rgs, "routing group", group, &at.key("routing_group"));
            let source_bridgeheads = self.gateway_bridgeheads(t, &servers.names, group, bridgeheads, &at);
            let address_spaces = self.address_spaces(spaces, &at.key("address_spaces"));
            let smtp = t.smtp_connectors.get(k);
            let forest = group.map_or(ForestId(0), |g| rg_forest[g]);
            let delivery = match smtp.and_then(|c| c.smart_host.as_deref()) {
                Some(h) if beyond.hosts.get(h).is_none() && servers.names.get(h).is_some() => {
                    self.organization_delivery(t, servers, forest, smtp.expect("named above"), &at)
                }
                _ => self.gateway_delivery(beyond.hosts, beyond.internet, kind, &at),
            };
            let outbound_security = match smtp.and_then(|c| c.outbound_security.as_ref()) {
                Some(OutboundSecuritySpec::Basic { account, password }) => {
                    OutboundSecurity::Basic { account: account.clone(), password: password.clone() }
                }
                Some(OutboundSecuritySpec::Anonymous) | None => OutboundSecurity::Anonymous,
            };
            self.gateway_reaches(t, (&source_bridgeheads, &servers.server_site), beyond, delivery, reachable, &at);
            out.push(GatewayConfig {
                name: name.clone(),
                routing_group: RoutingGroupId(group.unwrap_or(0) as u16),
                source_bridgeheads,
                address_spaces,
                delivery,
                outbound_security,
            });
        }
        out
    }

    /// Links are point-to-point circuits: each bridgehead must reach what it talks to.
    fn gateway_reaches(
        &mut self,
        t: &crate::scenario::TopologyDef,
        (bridgeheads, server_site): (&[ServerId], &[usize]),
        beyond: Beyond<'_>,
        delivery: Delivery,
        reachable: Reachable<'_>,
        at: &JsonPath,
    ) {
        let Beyond { internet, host_site, .. } = beyond;
        let host =
            |h: HostId| (host_site[usize::from(h.0)], format!("host {:?}", internet.hosts[usize::from(h.0)].name));
        let (peers, names): (Vec<usize>, Vec<String>) = match delivery {
            Delivery::Dns => internet
                .dns_servers
                .iter()
                .copied()
                .chain(internet.mx.values().flatten().map(|r| r.host))
                .map(host)
                .unzip(),
            Delivery::SmartHost(h) | Delivery::Mta(h) => [host(h)].into_iter().unzip(),
            Delivery::Organization { server, .. } => {
                let name = format!("server {:?}", t.servers[usize::from(server.0)].name);
                (vec![server_site[usize::from(server.0)]], vec![name])
            }
        };
        for b in bridgeheads {
            let from = server_site[usize::from(b.0)];
            if let Some(k) = peers.iter().position(|site| !reachable(from, *site)) {
                self.error(
                    &at.key("source_bridgeheads"),
                    format!(
                        "bridgehead {:?} cannot reach {}: no WAN link joins their sites (links are point-to-point circuits)",
                        t.servers[usize::from(b.0)].name,
                        names[k]
                    ),
                );
                break;
            }
        }
    }

    /// An SMTP connector whose smart host is a server: a bridgehead of another forest,
    /// with an inbound virtual server to take the mail (§6).
    fn organization_delivery(
        &mut self,
        t: &crate::scenario::TopologyDef,
        servers: &super::topology::Servers,
        forest: ForestId,
        c: &crate::scenario::SmtpConnector,
        at: &JsonPath,
    ) -> Delivery {
        let name = c.smart_host.as_deref().expect("called with a smart host");
        let server = servers.names.get(name).expect("called with a server's name");
        let target = &t.servers[server];
        if servers.server_configs[server].forest == forest {
            let message = format!(
                "smart host {name:?} is a server of this connector's own forest; a connector with a smart host reaches another organization (its servers talk over routing group connectors)"
            );
            self.error(&at.key("smart_host"), message);
        }
        // The edge numbers inbound virtual servers server by server, in order.
        let before: usize = t.servers[..server].iter().map(|s| s.inbound_virtual_servers.len()).sum();
        let wanted = c.smart_host_virtual_server.as_deref();
        let found = match wanted {
            Some(vs) => target.inbound_virtual_servers.iter().position(|v| Names::fold(&v.name) == Names::fold(vs)),
            None => (!target.inbound_virtual_servers.is_empty()).then_some(0),
        };
        let Some(k) = found else {
            let message = match wanted {
                Some(vs) => format!("server {name:?} has no inbound virtual server named {vs:?}"),
                None => format!(
                    "server {name:?} has no inbound virtual server to take this connector's mail (add one to its inbound_virtual_servers)"
                ),
            };
            let field = if wanted.is_some() { "smart_host_virtual_server" } else { "smart_host" };
            self.error(&at.key(field), message);
            return Delivery::Organization { server: ServerId(server as u16), virtual_server: 0 };
        };
        Delivery::Organization { server: ServerId(server as u16), virtual_server: (before + k) as u16 }
    }

    /// A gateway's source bridgeheads: servers of its routing group with the bridgehead
    /// role.
    fn gateway_bridgeheads(
        &mut self,
        t: &crate::scenario::TopologyDef,
        servers: &Names,
        group: Option<usize>,
        bridgeheads: &[String],
        at: &JsonPath,
    ) -> Vec<ServerId> {
        let mut source_bridgeheads = Vec::new();
        if bridgeheads.is_empty() {
            self.error(&at.key("source_bridgeheads"), "expected at least one bridgehead server");
        }
        for (k, b) in bridgeheads.iter().enumerate() {
            let bp = at.key("source_bridgeheads").index(k);
            let Some(s) = self.reference(servers, "server", b, &bp) else { continue };
            let server = &t.servers[s];
            if group.is_some_and(|g| server.routing_group != t.routing_groups[g].name) {
                self.error(
                    &bp,
                    format!("bridgehead {b:?} is in routing group {:?}, not this connector's", server.routing_group),
                );
            } else if !server.roles.contains(&Role::Bridgehead) {
                self.error(&bp, format!("server {b:?} lacks the \"bridgehead\" role"));
            }
            source_bridgeheads.push(ServerId(s as u16));
        }
        source_bridgeheads
    }

    /// How a gateway delivers: by DNS (an SMTP connector without a smart host), to its
    /// smart host, or to its remote MTA.
    fn gateway_delivery(
        &mut self,
        hosts: &Names,
        internet: &InternetConfig,
        kind: Result<(), (&str, &str, HostRole)>,
        at: &JsonPath,
    ) -> Delivery {
        match kind {
            Ok(()) => {
                if internet.dns_servers.is_empty() {
                    self.error(at, "this SMTP connector delivers by DNS (no smart_host), but topology.internet lists no dns_servers");
                }
                Delivery::Dns
            }
            Err((host, field, role)) => match self.reference(hosts, "Internet host", host, &at.key(field)) {
                Some(h) => {
                    if internet.hosts[h].role != role {
                        let want = if role == HostRole::Mta { "mta" } else { "mail" };
                        self.error(&at.key(field), format!("host {host:?} does not have role {want:?}"));
                    }
                    if role == HostRole::Mta {
                        Delivery::Mta(HostId(h as u16))
                    } else {
                        Delivery::SmartHost(HostId(h as u16))
                    }
                }
                None => Delivery::Dns,
            },
        }
    }

    /// A connector's address spaces: at least one, each parsed, cost 1–100.
    pub(super) fn address_spaces(&mut self, spaces: &[AddressSpaceSpec], at: &JsonPath) -> Vec<AddressSpace> {
        if spaces.is_empty() {
            self.error(at, "expected at least one address space");
        }
        let mut out = Vec::new();
        for (i, space) in spaces.iter().enumerate() {
            let sp = at.index(i);
            // EXCHANGE2003.md §4: costs 1–100.
            if !(1..=100).contains(&space.cost) {
                self.error(&sp.key("cost"), format!("expected a cost from 1 to 100, found {}", space.cost));
            }
            let pattern = match space.address_type {
                AddressType::Smtp => Pattern::smtp(&space.address),
                AddressType::X400 => Pattern::x400(&space.address),
            };
            match pattern {
                Ok(pattern) => out.push(AddressSpace { pattern, cost: space.cost }),
                Err(e) => self.error(&sp.key("address"), e.0),
            }
        }
        out
    }
}
