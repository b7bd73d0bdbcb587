//! The forests (EXCHANGE2003.md §6): the first is the topology's own fields, the others
//! `topology.forests`. Each domain, site and administrative group belongs to one; domain
//! controllers, routing groups, servers and recipients follow from those. The rest of
//! the resolver reads one list of domains, the first forest's then each other's in turn.

use super::*;
use org::config::topology::ForestConfig;
use org::ForestId;

/// The most forests a scenario may hold ([`ForestId`] is a byte; more is no test case).
const MAX_FORESTS: usize = 8;

/// The forests as read.
pub(super) struct Forests {
    /// Each forest's name and organization, by [`ForestId`].
    pub(super) configs: Vec<ForestConfig>,
    /// Each forest's authoritative SMTP domains (the first forest's are
    /// `recipients.smtp_domains`), lower case.
    pub(super) smtp_domains: Vec<Vec<String>>,
    /// The forest of each domain, in the one list's order.
    pub(super) domain: Vec<ForestId>,
    /// Where each domain is written.
    pub(super) domain_paths: Vec<JsonPath>,
    /// The forest of each site, by site index.
    pub(super) site: Vec<ForestId>,
    /// The forest of each administrative group, by its index.
    pub(super) admin_group: Vec<ForestId>,
}

impl Forests {
    /// Whether the scenario holds more than one forest.
    pub(super) fn several(&self) -> bool {
        self.configs.len() > 1
    }

    /// The forest's primary SMTP domain (its recipient policy's first): what its
    /// recipients' generated addresses are in.
    pub(super) fn primary(&self, f: ForestId) -> &str {
        self.smtp_domains[usize::from(f.0)].first().map_or("", String::as_str)
    }

    /// The forest's name, for errors.
    pub(super) fn name(&self, f: ForestId) -> &str {
        self.configs.get(usize::from(f.0)).map_or("", |c| c.name.as_str())
    }

    /// With other forests, the scenario with every forest's domains in
    /// `topology.domains`, the list the rest of the resolver reads (the scenario kept for
    /// the trace stays as written); None with one forest, whose list is already whole.
    pub(super) fn flatten(scenario: &Scenario) -> Option<Scenario> {
        if scenario.topology.forests.is_empty() {
            return None;
        }
        let mut flat = scenario.clone();
        let extra = flat.topology.forests.iter().flat_map(|f| f.domains.iter().cloned()).collect::<Vec<_>>();
        flat.topology.domains.extend(extra);
        Some(flat)
    }
}

impl Resolver<'_> {
    /// The forests: names unique, each root among its domains, domains unique across the
    /// scenario, SMTP domains well formed and each one forest's; then each site's and
    /// administrative group's forest.
    pub(super) fn forests(&mut self, scenario: &Scenario) -> Forests {
        let (t, tp) = (&scenario.topology, p().key("topology"));
        let fp = tp.key("forests");
        let mut configs = vec![ForestConfig { name: t.forest.clone(), organization: t.organization.clone() }];
        let mut smtp_domains = vec![lowered(&scenario.recipients.smtp_domains)];
        let mut domain_paths: Vec<JsonPath> = (0..t.domains.len()).map(|i| tp.key("domains").index(i)).collect();
        let mut domain = vec![ForestId(0); t.domains.len()];
        if t.forests.len() + 1 > MAX_FORESTS {
            self.error(&fp, format!("expected at most {} other forests", MAX_FORESTS - 1));
        }
        for (i, f) in t.forests.iter().enumerate().take(MAX_FORESTS - 1) {
            let at = fp.index(i);
            let id = ForestId(i as u8 + 1);
            if !f.domains.iter().any(|d| Names::fold(&d.name) == Names::fold(&f.forest)) {
                let message = format!("the forest root domain {:?} must be listed in its \"domains\"", f.forest);
                self.error(&at.key("forest"), message);
            }
            if f.organization.trim().is_empty() {
                self.error(&at.key("organization"), "expected the Exchange organization's name");
            }
            self.smtp_domain_list(&f.smtp_domains, &at.key("smtp_domains"));
            domain_paths.extend((0..f.domains.len()).map(|k| at.key("domains").index(k)));
            domain.extend(f.domains.iter().map(|_| id));
            configs.push(ForestConfig { name: f.forest.clone(), organization: f.organization.clone() });
            smtp_domains.push(lowered(&f.smtp_domains));
        }
        self.unique_across(&configs, &domain_paths, scenario);
        self.smtp_domains_owned_once(&configs, &smtp_domains, &fp);
        let names = Names::of(configs.iter().map(|c| c.name.as_str()));
        let mut forest_of = |what: &str, name: &Option<String>, at: JsonPath| match name {
            None => ForestId(0),
            Some(n) => match names.get(n) {
                Some(f) => ForestId(f as u8),
                None => {
                    let known = names.known(MAX_FORESTS).join(", ");
                    self.error(&at, format!("{what} names forest {n:?}, which is not one of {known}"));
                    ForestId(0)
                }
            },
        };
        let site = (t.sites.iter().enumerate())
            .map(|(i, s)| forest_of("site", &s.forest, tp.key("sites").index(i).key("forest")))
            .collect();
        let admin_group = (t.administrative_groups.iter().enumerate())
            .map(|(i, a)| {
                forest_of("administrative group", &a.forest, tp.key("administrative_groups").index(i).key("forest"))
            })
            .collect();
        Forests { configs, smtp_domains, domain, domain_paths, site, admin_group }
    }

    /// Public folders and offline address books are modelled in the first forest's
    /// organization only (their hierarchy, replication and OAB generation are
    /// organization-wide): another forest's server may hold neither.
    pub(super) fn first_forest_only(&mut self, scenario: &Scenario, org: &Org) {
        let t = &scenario.topology;
        for (i, s) in t.servers.iter().enumerate() {
            let forest = org.server_configs[i].forest;
            if forest.0 == 0 {
                continue;
            }
            for (g, _) in s.storage_groups.iter().enumerate().filter(|(_, g)| g.public_store.is_some()) {
                let at = p().key("topology").key("servers").index(i).key("storage_groups").index(g).key("public_store");
                let message = format!(
                    "public folders are modelled in the first forest's organization only; {:?} is forest {:?}'s",
                    s.name,
                    org.forests.name(forest)
                );
                self.error(&at, message);
            }
        }
        for (k, oab) in scenario.offline_address_books.iter().enumerate() {
            let Some(s) = org.servers.get(&oab.server) else { continue };
            let forest = org.server_configs[s].forest;
            if forest.0 != 0 {
                let message = format!(
                    "offline address books are modelled in the first forest's organization only; {:?} is forest {:?}'s",
                    oab.server,
                    org.forests.name(forest)
                );
                self.error(&p().key("offline_address_books").index(k).key("server"), message);
            }
        }
    }

    /// An organization's authoritative SMTP domains: at least one, each a DNS domain.
    pub(super) fn smtp_domain_list(&mut self, list: &[String], at: &JsonPath) {
        if list.is_empty() {
            self.error(at, "expected at least one authoritative SMTP domain");
        }
        for (i, d) in list.iter().enumerate() {
            if d.is_empty() || d.contains('@') || d.starts_with('.') || !d.contains('.') {
                self.error(&at.index(i), format!("expected a DNS domain like \"contoso.com\", found {d:?}"));
            }
        }
    }

    /// Forest names and domain names unique across the scenario (a domain's DNS name is
    /// one forest's).
    fn unique_across(&mut self, configs: &[ForestConfig], domain_paths: &[JsonPath], scenario: &Scenario) {
        let t = &scenario.topology;
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, c) in configs.iter().enumerate() {
            if let Some(first) = seen.insert(Names::fold(&c.name), i) {
                let at = p().key("topology").key("forests").index(i - 1).key("forest");
                self.error(
                    &at,
                    format!("forest {:?} is listed twice (first as forest {:?})", c.name, configs[first].name),
                );
            }
        }
        let all = t.domains.iter().chain(t.forests.iter().flat_map(|f| f.domains.iter()));
        let mut domains: BTreeMap<String, usize> = BTreeMap::new();
        for (i, d) in all.enumerate() {
            let at = domain_paths[i].key("name");
            if d.name.trim().is_empty() {
                self.error(&at, "expected a domain name");
            } else if let Some(first) = domains.insert(Names::fold(&d.name), i) {
                let message = format!(
                    "duplicate domain {:?} (first at {}); domains are unique across forests",
                    d.name, domain_paths[first]
                );
                self.error(&at, message);
            }
        }
    }

    /// An SMTP domain is authoritative in one organization only.
    fn smtp_domains_owned_once(&mut self, configs: &[ForestConfig], smtp_domains: &[Vec<String>], fp: &JsonPath) {
        for (f, list) in smtp_domains.iter().enumerate().skip(1) {
            for (k, d) in list.iter().enumerate() {
                if let Some(other) = smtp_domains[..f].iter().position(|l| l.contains(d)) {
                    let message = format!(
                        "{d:?} is already authoritative in forest {:?}; an SMTP domain belongs to one organization",
                        configs[other].name
                    );
                    self.error(&fp.index(f - 1).key("smtp_domains").index(k), message);
                }
            }
        }
    }
}

fn lowered(list: &[String]) -> Vec<String> {
    list.iter().map(|d| d.to_ascii_lowercase()).collect()
}

#[cfg(test)]
mod tests {
    use super::super::{load_str, Resolved};
    use org::directory::global_catalog::Recipient;
    use org::ForestId;

    /// Adatum and Fabrikam: one site, DC, routing group and server each; a user in each,
    /// and in Adatum a contact for Fabrikam's user.
    fn two_forests() -> String {
        r#"{
  "name": "t", "description": "d", "duration": "1h",
  "topology": {
    "organization": "Adatum", "forest": "adatum.com", "domains": [{"name": "adatum.com"}],
    "sites": [{"name": "ADATUM"}, {"name": "FABRIKAM", "forest": "fabrikam.com"}],
    "domain_controllers": [
      {"name": "ADC1", "domain": "adatum.com", "site": "ADATUM", "global_catalog": true},
      {"name": "FDC1", "domain": "fabrikam.com", "site": "FABRIKAM", "global_catalog": true}
    ],
    "administrative_groups": [{"name": "AG"}, {"name": "FAG", "forest": "fabrikam.com"}],
    "routing_groups": [{"name": "ARG", "administrative_group": "AG"}, {"name": "FRG", "administrative_group": "FAG"}],
    "servers": [
      {"name": "AEX1", "site": "ADATUM", "routing_group": "ARG", "storage_groups": [{"name": "SG", "mailbox_stores": [{"name": "AS1"}]}]},
      {"name": "FEX1", "site": "FABRIKAM", "routing_group": "FRG", "storage_groups": [{"name": "SG", "mailbox_stores": [{"name": "FS1"}]}]}
    ],
    "wan_links": [{"name": "INTERNET", "sites": ["ADATUM", "FABRIKAM"], "bandwidth": "1536kbps", "latency": "30ms"}],
    "forests": [{"forest": "fabrikam.com", "organization": "Fabrikam", "domains": [{"name": "fabrikam.com"}], "smtp_domains": ["fabrikam.com"]}]
  },
  "recipients": {
    "smtp_domains": ["adatum.com"],
    "users": [{"alias": "alice", "store": "AS1"}, {"alias": "bob", "store": "FS1"}],
    "contacts": [{"alias": "bob.fabrikam", "target_address": "bob@fabrikam.com"}]
  }
}"#
        .to_string()
    }

    fn load(text: &str) -> Resolved {
        load_str("t.json", text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn errors(text: &str) -> Vec<(String, String)> {
        let Err(errors) = load_str("t.json", text) else { panic!("the file has errors") };
        let errors = errors.0;
        errors.into_iter().map(|e| (e.path, e.message)).collect()
    }

    #[test]
    fn each_forest_sees_its_own_recipients_and_the_other_as_outside_addresses() {
        let r = load(&two_forests());
        let t = &r.topology;
        assert_eq!(t.forests.iter().map(|f| f.organization.as_str()).collect::<Vec<_>>(), ["Adatum", "Fabrikam"]);
        let (aex, fex) = (t.server(org::ServerId(0)), t.server(org::ServerId(1)));
        assert_eq!((aex.forest, fex.forest), (ForestId(0), ForestId(1)));
        assert_eq!(fex.fqdn, "fex1.fabrikam.com");
        assert_eq!(aex.global_catalogs, [org::directory::ad_replication::DcId(0)], "only its own forest's GCs");
        assert_eq!(fex.global_catalogs, [org::directory::ad_replication::DcId(1)]);
        let id = |a: &str| org::AddressId(r.addresses.iter().position(|x| x == a).expect(a) as u32);
        let (alice, bob, contact) = (id("alice@adatum.com"), id("bob@fabrikam.com"), id("bob.fabrikam@adatum.com"));
        assert!(t.gal(ForestId(0)).lookup(alice).is_some() && t.gal(ForestId(0)).object(bob).is_none());
        assert!(t.gal(ForestId(1)).lookup(bob).is_some() && t.gal(ForestId(1)).object(alice).is_none());
        let target = t.gal(ForestId(0)).object(contact).map(|o| o.recipient);
        assert_eq!(target, Some(Recipient::Forward(bob)), "the contact stands for Fabrikam's own user");
        assert!(t.external.lookup(bob).is_some() && t.external.lookup(alice).is_some(), "each is outside the other");
        assert_eq!(t.gal(ForestId(1)).object(contact).map(|o| o.class), None, "Adatum's contact is Adatum's");
        assert_eq!(r.domain_forest, [ForestId(0), ForestId(1)]);
    }

    #[test]
    fn gal_sync_creates_each_forest_s_contacts_for_the_other_on_its_passes() {
        let text = two_forests()
            .replace(r#""duration": "1h""#, r#""duration": "4h""#)
            .replace(
                r#"{"alias": "bob", "store": "FS1"}"#,
                r#"{"alias": "bob", "store": "FS1"}, {"alias": "alice.f", "address": "alice@fabrikam.com", "store": "FS1"},
                   {"alias": "carol", "store": "FS1", "created_at": "90m"}"#,
            )
            .replace(r#""contacts": [{"alias": "bob.fabrikam", "target_address": "bob@fabrikam.com"}]"#, r#""gal_sync": {"interval": "1h"}"#);
        let r = load(&text);
        let t = &r.topology;
        let id = |a: &str| org::AddressId(r.addresses.iter().position(|x| x == a).expect(a) as u32);
        let adatum = t.gal(ForestId(0));
        let contact = |a: &str| adatum.object(id(a)).expect(a);
        assert_eq!(contact("bob@adatum.com").recipient, Recipient::Forward(id("bob@fabrikam.com")));
        assert_eq!(contact("bob@adatum.com").created_at, None, "synchronized before the start");
        let taken = contact("alice2@adatum.com");
        assert_eq!(taken.recipient, Recipient::Forward(id("alice@fabrikam.com")), "alice@adatum.com is Adatum's own");
        // Carol: created at 90m, stamped by Fabrikam's RUS at 91m, seen by the 2h pass,
        // her contact stamped by Adatum's RUS a minute later.
        let carol = contact("carol@adatum.com");
        assert_eq!(
            (carol.created_at, carol.stamped_at),
            (Some(org::time::Instant(7_200_000)), org::time::Instant(7_260_000))
        );
        let fabrikam = t.gal(ForestId(1));
        assert_eq!(
            fabrikam.object(id("alice@fabrikam.com")).map(|o| o.class),
            Some(org::directory::global_catalog::ObjectClass::User)
        );
        let alice_contact = (0..r.addresses.len() as u32)
            .map(org::AddressId)
            .filter_map(|a| fabrikam.object(a).map(|o| (a, o)))
            .find(|(_, o)| o.recipient == Recipient::Forward(id("alice@adatum.com")));
        assert_eq!(
            alice_contact.map(|(a, _)| r.addresses[a.0 as usize].clone()),
            Some("alice2@fabrikam.com".into()),
            "alice@fabrikam.com is Fabrikam's own"
        );
    }

    #[test]
    fn two_forests_run_side_by_side_each_delivering_its_own_mail() {
        // Each forest replicates its own directory, routes its own mail and holds the
        // other's users as GalSync contacts; every check holds.
        let text = two_forests()
            .replace(r#""duration": "1h""#, r#""duration": "3h""#)
            .replace(
                r#""forests": ["#,
                r#""ad_replication": {"site_links": []},
    "forests": ["#,
            )
            .replace(
                r#""contacts": [{"alias": "bob.fabrikam", "target_address": "bob@fabrikam.com"}]"#,
                r#""generated": [{"count": 300, "prefix": "a", "stores": ["AS1"]}, {"count": 300, "prefix": "f", "stores": ["FS1"]}],
    "gal_sync": {"interval": "1h"}"#,
            )
            .replace(r#""recipients": {"#, r#""workload": {"until": "2h"}, "recipients": {"#);
        let r = std::sync::Arc::new(load(&text));
        let outcome = crate::world::run(r.clone(), 7, None);
        assert!(outcome.passed(), "{:#?}", outcome.checks.iter().filter(|c| !c.ok).collect::<Vec<_>>());
        let m = &outcome.messages;
        assert!(m.submitted > 20 && m.delivered == m.recipients, "{m:?}");
        assert_eq!(m.ndr, 0, "no client of one forest wrote to the other's mailboxes: {m:?}");
        let fabrikam_users = r.topology.gal(ForestId(1)).mailbox_count();
        assert_eq!((r.topology.gal(ForestId(0)).mailbox_count(), fabrikam_users), (301, 301));
    }

    #[test]
    fn forest_boundaries_are_checked_with_places() {
        let text = two_forests()
            .replace(r#""routing_group": "FRG""#, r#""routing_group": "ARG""#)
            .replace(r#"{"name": "FAG", "forest": "fabrikam.com"}"#, r#"{"name": "FAG", "forest": "northwind.com"}"#)
            .replace(r#""smtp_domains": ["fabrikam.com"]"#, r#""smtp_domains": ["adatum.com"]"#);
        let found = errors(&text);
        let has = |path: &str, words: &str| found.iter().any(|(p, m)| p == path && m.contains(words));
        assert!(
            has("topology.forests[0].smtp_domains[0]", "already authoritative in forest \"adatum.com\""),
            "{found:#?}"
        );
        assert!(has("topology.administrative_groups[1].forest", "not one of adatum.com, fabrikam.com"), "{found:#?}");
        assert!(has("topology.servers[1].site", "a server is in a site of its own forest"), "{found:#?}");
    }

    #[test]
    fn routing_group_connectors_and_groups_stay_inside_a_forest() {
        let text = two_forests()
            .replace(
                r#""wan_links""#,
                r#""routing_group_connectors": [{"name": "X", "from": "ARG", "to": "FRG", "cost": 1, "source_bridgeheads": ["AEX1"], "target_bridgeheads": ["FEX1"]}],
    "wan_links""#,
            )
            .replace(r#"{"name": "fabrikam.com"}], "smtp"#, r#"{"name": "adatum.com"}], "smtp"#);
        let found = errors(&text);
        let has = |path: &str, words: &str| found.iter().any(|(p, m)| p == path && m.contains(words));
        assert!(has("topology.routing_group_connectors[0].to", "use an SMTP connector"), "{found:#?}");
        assert!(has("topology.forests[0].domains[0].name", "duplicate domain \"adatum.com\""), "{found:#?}");
        assert!(has("topology.forests[0].forest", "must be listed in its \"domains\""), "{found:#?}");
    }

    #[test]
    fn group_members_come_from_the_group_s_forest() {
        let text = two_forests().replace(
            r#""contacts""#,
            r#""groups": [{"alias": "all", "scope": "universal", "members": ["alice", "bob"]}], "contacts""#,
        );
        let found = errors(&text);
        assert!(
            found.iter().any(|(p, m)| p == "recipients.groups[0].members[1]" && m.contains("another forest's")),
            "{found:#?}"
        );
        assert_eq!(found.len(), 1, "{found:#?}");
    }

    #[test]
    fn a_connector_to_another_forest_names_its_server_and_virtual_server_with_places() {
        let text = include_str!("../../../scenarios/forests-option1.json");
        let r = load(text);
        let gateway = &r.topology.gateways[0];
        let to = org::config::topology::Delivery::Organization { server: org::ServerId(1), virtual_server: 1 };
        assert_eq!(gateway.delivery, to, "FEX1's first inbound virtual server, after AEX1's");
        assert_eq!(r.topology.server(org::ServerId(0)).ip, std::net::Ipv4Addr::new(10, 1, 0, 10));
        let own = text.replacen(r#""smart_host": "FEX1""#, r#""smart_host": "AEX1""#, 1);
        let found = errors(&own);
        let has = |found: &[(String, String)], path: &str, words: &str| {
            found.iter().any(|(p, m)| p == path && m.contains(words))
        };
        assert!(has(&found, "topology.smtp_connectors[0].smart_host", "own forest"), "{found:#?}");
        let vs =
            text.replacen(r#""smart_host": "FEX1""#, r#""smart_host": "FEX1", "smart_host_virtual_server": "Nope""#, 1);
        let found = errors(&vs);
        assert!(
            has(&found, "topology.smtp_connectors[0].smart_host_virtual_server", "no inbound virtual server named"),
            "{found:#?}"
        );
        let none = text.replacen(r#"{ "name": "From Adatum", "ip": "10.2.0.25", "basic_auth": true }"#, "", 1);
        let found = errors(&none);
        assert!(
            has(&found, "topology.smtp_connectors[0].smart_host", "no inbound virtual server to take"),
            "{found:#?}"
        );
    }
}
