//! The topology section: domains, sites, domain controllers, administrative and
//! routing groups, servers with their stores, link state, WAN links and routing group
//! connectors.

use super::*;

/// The servers as read: names, sites, configurations, stores and group members.
pub(super) struct Servers {
    pub(super) names: Names,
    pub(super) server_site: Vec<usize>,
    pub(super) server_configs: Vec<ServerConfig>,
    store_configs: Vec<StoreConfig>,
    store_paths: Vec<JsonPath>,
    members: Vec<Vec<ServerId>>,
}

impl Resolver<'_> {
    /// The topology section, checked and resolved to the org's configuration.
    pub(super) fn topology(&mut self, t: &TopologyDef, forests: forests::Forests) -> Org {
        let tp = p().key("topology");
        let (domains, sites) = self.domains_and_sites(t, &tp, &forests);
        let (rgs, rg_forest) = self.routing_groups(t, &tp, &forests);
        let mut servers = self.servers(t, &tp, &sites, &rgs, &forests, &rg_forest);
        self.order_global_catalogs(t, &domains, &sites, &forests, &mut servers);
        let stores = self.unique_stores(&servers);
        let masters = self.masters(t, &tp, &servers);
        let link_state = self.link_state(t, &tp);
        let (links, pairs) = self.wan_links(t, &tp, &sites);
        // WAN links are point-to-point circuits (see `wan`): servers that talk must share
        // a site or a link.
        let reachable =
            |from: usize, to: usize| -> bool { from == to || pairs.contains_key(&(from.min(to), from.max(to))) };
        self.routing_groups_joined(t, &tp, &servers, &reachable);
        let connectors = self.routing_group_connectors(t, &tp, &rgs, &servers, &reachable);
        self.connectors_within_forests(t, &tp, &rgs, &forests, &rg_forest);
        // The Internet and the connectors with address spaces.
        let mut external = ExternalDirectory::new();
        let (internet, host_site, hosts) = self.internet(t, &sites, &mut external, &reachable);
        let beyond = internet::Beyond { hosts: &hosts, internet: &internet, host_site: &host_site };
        let gateways = self.gateways(t, (&rgs, &rg_forest), &servers, beyond, &reachable);
        let Servers { names, server_site, server_configs, store_configs, members, .. } = servers;
        self.unique_queue_names(t, &tp);
        Org {
            forests,
            rg_forest,
            domains,
            sites,
            servers: names,
            rgs,
            server_site,
            server_configs,
            store_configs,
            stores,
            members,
            masters,
            link_state,
            links,
            pairs,
            connectors,
            external,
            internet,
            host_site,
            hosts,
            gateways,
        }
    }

    /// Domains, sites and domain controllers: every name known, the forest root listed,
    /// a GC somewhere and a DC in every domain.
    fn domains_and_sites(&mut self, t: &TopologyDef, tp: &JsonPath, forests: &forests::Forests) -> (Names, Names) {
        // Every forest's domains, checked for names by `forests`.
        let domains = Names::of(t.domains.iter().map(|d| d.name.as_str()));
        let mut first_forest = t.domains.iter().zip(&forests.domain).filter(|(_, f)| f.0 == 0);
        if !first_forest.any(|(d, _)| Names::fold(&d.name) == Names::fold(&t.forest)) {
            self.error(
                &tp.key("forest"),
                format!("the forest root domain {:?} must be listed in topology.domains", t.forest),
            );
        }
        let sites = self.names("site", tp.key("sites"), t.sites.iter().map(|s| s.name.as_str()), "name");
        let dcs = tp.key("domain_controllers");
        self.names("domain controller", dcs.clone(), t.domain_controllers.iter().map(|d| d.name.as_str()), "name");
        let mut with_gc = vec![false; forests.configs.len()];
        for (i, dc) in t.domain_controllers.iter().enumerate() {
            let domain = self.reference(&domains, "domain", &dc.domain, &dcs.index(i).key("domain"));
            let site = self.reference(&sites, "site", &dc.site, &dcs.index(i).key("site"));
            let Some(forest) = domain.map(|d| forests.domain[d]) else { continue };
            with_gc[usize::from(forest.0)] |= dc.global_catalog;
            if let Some(other) = site.map(|s| forests.site[s]).filter(|s| *s != forest) {
                let message = format!(
                    "domain {:?} is in forest {:?} but site {:?} is forest {:?}'s; a DC is in a site of its own forest",
                    dc.domain,
                    forests.name(forest),
                    dc.site,
                    forests.name(other)
                );
                self.error(&dcs.index(i).key("site"), message);
            }
        }
        for f in (0..with_gc.len()).filter(|&f| !with_gc[f]) {
            let message = if forests.several() {
                format!("expected at least one domain controller of forest {:?} with \"global_catalog\": true (its categorizers resolve recipients against its GCs)", forests.configs[f].name)
            } else {
                "expected at least one domain controller with \"global_catalog\": true (the categorizer resolves recipients against a GC)".to_string()
            };
            self.error(&dcs, message);
        }
        for (i, d) in t.domains.iter().enumerate() {
            if !t.domain_controllers.iter().any(|dc| Names::fold(&dc.domain) == Names::fold(&d.name)) {
                self.error(
                    &forests.domain_paths[i].key("name"),
                    format!("domain {:?} has no domain controller", d.name),
                );
            }
        }
        (domains, sites)
    }

    /// Administrative and routing groups, with each routing group's forest (its
    /// administrative group's).
    fn routing_groups(&mut self, t: &TopologyDef, tp: &JsonPath, forests: &forests::Forests) -> (Names, Vec<ForestId>) {
        let ags = tp.key("administrative_groups");
        let admin_groups =
            self.names("administrative group", ags, t.administrative_groups.iter().map(|a| a.name.as_str()), "name");
        let rgp = tp.key("routing_groups");
        let rgs = self.names("routing group", rgp.clone(), t.routing_groups.iter().map(|r| r.name.as_str()), "name");
        let mut forest = Vec::with_capacity(t.routing_groups.len());
        for (i, rg) in t.routing_groups.iter().enumerate() {
            let ag = self.reference(
                &admin_groups,
                "administrative group",
                &rg.administrative_group,
                &rgp.index(i).key("administrative_group"),
            );
            forest.push(ag.map_or(ForestId(0), |a| forests.admin_group[a]));
        }
        (rgs, forest)
    }

    /// Servers with their SMTP virtual server, MTA, storage groups and stores.
    fn servers(
        &mut self,
        t: &TopologyDef,
        tp: &JsonPath,
        sites: &Names,
        rgs: &Names,
        forests: &forests::Forests,
        rg_forest: &[ForestId],
    ) -> Servers {
        let sp = tp.key("servers");
        if t.servers.is_empty() {
            self.error(&sp, "expected at least one Exchange server");
        }
        let servers = self.names("server", sp.clone(), t.servers.iter().map(|s| s.name.as_str()), "name");
        let mut server_site = Vec::new();
        let mut server_configs = Vec::new();
        let mut store_configs: Vec<StoreConfig> = Vec::new();
        let mut store_paths: Vec<JsonPath> = Vec::new();
        let mut members: Vec<Vec<ServerId>> = vec![Vec::new(); t.routing_groups.len()];
        for (i, s) in t.servers.iter().enumerate() {
            let at = sp.index(i);
            let site = self.reference(sites, "site", &s.site, &at.key("site"));
            let rg = self.reference(rgs, "routing group", &s.routing_group, &at.key("routing_group"));
            server_site.push(site.unwrap_or(0));
            if let Some(rg) = rg {
                members[rg].push(ServerId(i as u16));
            }
            let forest = rg.map_or(ForestId(0), |g| rg_forest[g]);
            if let Some(other) = site.map(|s| forests.site[s]).filter(|f| *f != forest) {
                let message = format!(
                    "routing group {:?} is forest {:?}'s but site {:?} is forest {:?}'s; a server is in a site of its own forest",
                    s.routing_group,
                    forests.name(forest),
                    s.site,
                    forests.name(other)
                );
                self.error(&at.key("site"), message);
            }
            self.server_settings(s, &at);
            let stores = self.storage_groups(s, ServerId(i as u16), &at);
            store_paths.extend(stores.iter().map(|(_, at)| at.clone()));
            store_configs.extend(stores.into_iter().map(|(store, _)| store));
            let domain = forests.configs[usize::from(forest.0)].name.as_str();
            let id = ServerId(i as u16);
            server_configs.push(server_config(t, (id, s), RoutingGroupId(rg.unwrap_or(0) as u16), forest, domain));
        }
        Servers { names: servers, server_site, server_configs, store_configs, store_paths, members }
    }

    /// A server's SMTP virtual server, disk and MTA settings, each in range.
    fn server_settings(&mut self, s: &crate::scenario::Server, at: &JsonPath) {
        let vs = &s.smtp_virtual_server;
        let vsp = at.key("smtp_virtual_server");
        if vs.max_message_size_kb == Some(0) {
            self.error(&vsp.key("max_message_size_kb"), "expected a size above 0 KB, or null for no limit");
        }
        if vs.messages_per_connection == 0 {
            self.error(&vsp.key("messages_per_connection"), "expected at least 1 message per connection");
        }
        for (k, d) in vs.retry_intervals.iter().enumerate() {
            if d.ms == 0 {
                self.error(&vsp.key("retry_intervals").index(k), "expected a retry interval above 0s");
            }
        }
        if vs.glitch_retry_interval.ms == 0 {
            self.error(&vsp.key("glitch_retry_interval"), "expected an interval above 0s");
        }
        if s.disk_flush.ms == 0 || s.disk_flush.ms > bounds::DISK_FLUSH_MS_MAX {
            self.error(&at.key("disk_flush"), "expected a flush delay from 1ms to 1m");
        }
        if s.mta.open_interval.ms < 1_000 {
            self.error(&at.key("mta").key("open_interval"), "expected an open interval of at least 1s");
        }
        if s.mta.max_open_retries == 0 {
            self.error(&at.key("mta").key("max_open_retries"), "expected at least 1 open retry");
        }
        if vs.expiration.ms == 0 {
            self.error(&vsp.key("expiration"), "expected an expiration timeout above 0s");
        }
        if s.badmail.sync_period.ms < 60_000 {
            // BadMailSyncPeriod counts minutes.
            self.error(&at.key("badmail").key("sync_period"), "expected a sync period of at least 1m");
        }
    }

    /// A server's storage groups (EXCHANGE2003.md §7: up to 4, plus an RSG, 5 databases
    /// each) and its mailbox stores with their places in the file.
    fn storage_groups(
        &mut self,
        s: &crate::scenario::Server,
        server: ServerId,
        at: &JsonPath,
    ) -> Vec<(StoreConfig, JsonPath)> {
        let mut stores = Vec::new();
        let sgp = at.key("storage_groups");
        if s.storage_groups.len() > 4 {
            self.error(
                &sgp,
                format!("a server has at most 4 storage groups (EXCHANGE2003.md §7), found {}", s.storage_groups.len()),
            );
        }
        self.names("storage group", sgp.clone(), s.storage_groups.iter().map(|g| g.name.as_str()), "name");
        let mailbox_stores: usize = s.storage_groups.iter().map(|g| g.mailbox_stores.len()).sum();
        let public_stores = s.storage_groups.iter().filter(|g| g.public_store.is_some()).count();
        let standard = s.edition == crate::scenario::Edition::Standard;
        if standard && (s.storage_groups.len() > 1 || mailbox_stores > 1 || public_stores > 1) {
            self.error(
                &sgp,
                format!(
                    "Standard Edition holds one storage group with one mailbox store and one public store (EXCHANGE2003.md §7), found {} groups, {mailbox_stores} mailbox stores",
                    s.storage_groups.len()
                ),
            );
        }
        for (g, sg) in s.storage_groups.iter().enumerate() {
            if sg.log_disk_mb.is_some_and(|mb| mb < 15) {
                self.error(
                    &sgp.index(g).key("log_disk_mb"),
                    "expected at least 15 MB: one 5 MB log file and the two reserve logs (EXCHANGE2003.md §7)",
                );
            }
            if sg.mailbox_stores.len() + usize::from(sg.public_store.is_some()) > 5 {
                self.error(
                    &sgp.index(g).key("mailbox_stores"),
                    "a storage group holds at most 5 databases (EXCHANGE2003.md §7)",
                );
            }
            for (k, store) in sg.mailbox_stores.iter().enumerate() {
                let at = sgp.index(g).key("mailbox_stores").index(k);
                let config = StoreConfig {
                    name: store.name.clone(),
                    storage_group: sg.name.clone(),
                    storage_group_id: org::StorageGroupId(0), // set when the topology is built
                    server,
                    size: self.store_size(s, store, &at),
                    quota: store.quota.unwrap_or_default().to_org(),
                    journal_recipient: None, // set once recipients are known
                    profile: store.user_profile.to_org(),
                    maintenance: org::config::topology::MaintenanceConfig {
                        deleted_percent: store.deleted_items_percent,
                        item_retention_ms: store.deleted_item_retention_days * org::time::DAY_MS,
                        mailbox_retention_ms: store.deleted_mailbox_retention_days * org::time::DAY_MS,
                        start_ms_of_day: store.maintenance_start_hour * org::time::HOUR_MS,
                    },
                };
                stores.push((config, at));
            }
            if (!sg.mailbox_stores.is_empty() || sg.public_store.is_some()) && !s.roles.contains(&Role::Mailbox) {
                self.error(&sgp.index(g), format!("server {:?} holds stores but lacks the \"mailbox\" role", s.name));
            }
        }
        stores
    }

    /// A store's starting size and SP2 size limit (EXCHANGE2003.md §7): the edition's
    /// default and maximum; no limit is checked before SP2.
    fn store_size(
        &mut self,
        s: &crate::scenario::Server,
        store: &crate::scenario::MailboxStore,
        at: &JsonPath,
    ) -> StoreSizeConfig {
        use crate::scenario::Edition;
        const GB: u64 = 1 << 30;
        let (default_gb, max_gb) = match s.edition {
            Edition::Standard => (18, 75),
            Edition::Enterprise => (8_000, 8_000),
        };
        let limit_gb = store.database_size_limit_gb.unwrap_or(default_gb);
        if !(1..=max_gb).contains(&limit_gb) {
            self.error(
                &at.key("database_size_limit_gb"),
                format!("expected 1 to {max_gb} GB for {:?} Edition (EXCHANGE2003.md §7), found {limit_gb}", s.edition),
            );
        }
        if store.initial_free_mb > store.initial_size_mb {
            self.error(
                &at.key("initial_free_mb"),
                "expected at most initial_size_mb: free space is inside the database",
            );
        }
        StoreSizeConfig {
            initial_physical_bytes: store.initial_size_mb << 20,
            initial_free_bytes: store.initial_free_mb << 20,
            limit_bytes: (s.version == crate::scenario::ServerVersion::Exchange2003Sp2).then_some(limit_gb * GB),
            warning_buffer_percent: store.database_size_buffer_percent,
            check_ms_of_day: store.database_size_check_hour * 3_600_000,
        }
    }

    /// §2: DSAccess uses the GCs of its own site first, then the others.
    /// Only its own forest's GCs hold its recipients.
    fn order_global_catalogs(
        &mut self,
        t: &TopologyDef,
        domains: &Names,
        sites: &Names,
        forests: &forests::Forests,
        servers: &mut Servers,
    ) {
        let gc_sites: Vec<(DcId, Option<usize>, Option<ForestId>)> = t
            .domain_controllers
            .iter()
            .enumerate()
            .filter(|(_, d)| d.global_catalog)
            .map(|(i, d)| (DcId(i as u16), sites.get(&d.site), domains.get(&d.domain).map(|x| forests.domain[x])))
            .collect();
        for (config, site) in servers.server_configs.iter_mut().zip(&servers.server_site) {
            let own = gc_sites.iter().filter(|(_, _, f)| *f == Some(config.forest));
            let (mut near, far): (Vec<_>, Vec<_>) = own.partition(|(_, s, _)| *s == Some(*site));
            near.extend(far);
            config.global_catalogs = near.into_iter().map(|&(dc, _, _)| dc).collect();
        }
    }

    /// The stores' names, unique in the organization.
    fn unique_stores(&mut self, servers: &Servers) -> Names {
        let (store_configs, store_paths) = (&servers.store_configs, &servers.store_paths);
        let stores = Names::of(store_configs.iter().map(|s| s.name.as_str()));
        for (i, s) in store_configs.iter().enumerate() {
            let first = stores.get(&s.name).expect("every store is in the table");
            if first != i {
                self.error(
                    &store_paths[i].key("name"),
                    format!(
                        "duplicate mailbox store name {:?} (first at {}); store names are unique in the organization",
                        s.name, store_paths[first]
                    ),
                );
            }
        }
        stores
    }

    /// Each routing group's master: the one named, which must be a member, else its first
    /// server.
    fn masters(&mut self, t: &TopologyDef, tp: &JsonPath, servers: &Servers) -> Vec<ServerId> {
        let rgp = tp.key("routing_groups");
        let mut masters = Vec::new();
        for (g, m) in servers.members.iter().enumerate() {
            if m.is_empty() {
                self.error(
                    &rgp.index(g).key("name"),
                    format!("routing group {:?} has no servers", t.routing_groups[g].name),
                );
            }
            let named = t.routing_groups[g].master.as_ref().and_then(|name| {
                let s = self.reference(&servers.names, "server", name, &rgp.index(g).key("master"))?;
                if !m.contains(&ServerId(s as u16)) {
                    self.error(
                        &rgp.index(g).key("master"),
                        format!("server {name:?} is not a member of routing group {:?}", t.routing_groups[g].name),
                    );
                }
                Some(ServerId(s as u16))
            });
            masters.push(named.or(m.first().copied()).unwrap_or(ServerId(0)));
        }
        masters
    }

    /// Link state settings of the organization.
    fn link_state(&mut self, t: &TopologyDef, tp: &JsonPath) -> LinkStateConfig {
        let ls = &t.link_state;
        let lsp = tp.key("link_state");
        if ls.oscillation_changes == 0 {
            self.error(&lsp.key("oscillation_changes"), "expected at least 1 change");
        }
        for (field, d) in [("probe_interval", ls.probe_interval), ("resend_interval", ls.resend_interval)] {
            if d.ms < 1_000 {
                self.error(&lsp.key(field), "expected at least 1s");
            }
        }
        LinkStateConfig {
            oscillation_interval_ms: ls.oscillation_interval.ms,
            oscillation_changes: ls.oscillation_changes,
            probe_interval_ms: ls.probe_interval.ms,
            resend_interval_ms: ls.resend_interval.ms,
            suppress_state_changes: ls.suppress_state_changes,
        }
    }

    /// WAN links, each joining two different sites, at most one per pair; returns the
    /// links and the pairs of sites they join (smaller index first) with the link.
    fn wan_links(
        &mut self,
        t: &TopologyDef,
        tp: &JsonPath,
        sites: &Names,
    ) -> (Vec<LinkSpec>, BTreeMap<(usize, usize), usize>) {
        let lp = tp.key("wan_links");
        self.names("WAN link", lp.clone(), t.wan_links.iter().map(|l| l.name.as_str()), "name");
        let mut links = Vec::new();
        let mut pairs = BTreeMap::new();
        for (i, l) in t.wan_links.iter().enumerate() {
            let a = self.reference(sites, "site", &l.sites[0], &lp.index(i).key("sites").index(0));
            let b = self.reference(sites, "site", &l.sites[1], &lp.index(i).key("sites").index(1));
            if let (Some(a), Some(b)) = (a, b) {
                if a == b {
                    self.error(&lp.index(i).key("sites"), "a WAN link joins two different sites");
                } else if let Some(first) = pairs.insert((a.min(b), a.max(b)), i) {
                    self.error(
                        &lp.index(i).key("sites"),
                        format!(
                            "sites {:?} and {:?} are already joined by {}",
                            l.sites[0],
                            l.sites[1],
                            lp.index(first)
                        ),
                    );
                }
            }
            links.push(LinkSpec {
                name: l.name.clone(),
                a: a.unwrap_or(0),
                b: b.unwrap_or(0),
                bits_per_s: l.bandwidth.bits_per_s,
                latency_ms: l.latency.ms,
            });
        }
        (links, pairs)
    }

    /// The servers of a routing group must reach each other (links are circuits).
    fn routing_groups_joined(&mut self, t: &TopologyDef, tp: &JsonPath, servers: &Servers, reachable: Reachable<'_>) {
        let rgp = tp.key("routing_groups");
        let server_site = &servers.server_site;
        for (g, m) in servers.members.iter().enumerate() {
            for pair in m.windows(2) {
                let (x, y) = (usize::from(pair[0].0), usize::from(pair[1].0));
                if !reachable(server_site[x], server_site[y]) {
                    self.error(
                        &rgp.index(g),
                        format!(
                            "servers {:?} and {:?} of this routing group are in sites no WAN link joins directly (orgsim v1 links are point-to-point circuits)",
                            t.servers[x].name, t.servers[y].name
                        ),
                    );
                }
            }
        }
    }

    /// Routing group connectors: two different groups, a cost 1–100 (EXCHANGE2003.md
    /// §4), bridgeheads of each side's group with the role, joined by a WAN link.
    /// A routing group connector joins two routing groups of one organization; between
    /// forests mail goes over SMTP connectors (EXCHANGE2003.md §6).
    fn connectors_within_forests(
        &mut self,
        t: &TopologyDef,
        tp: &JsonPath,
        rgs: &Names,
        forests: &forests::Forests,
        rg_forest: &[ForestId],
    ) {
        for (i, c) in t.routing_group_connectors.iter().enumerate() {
            let (Some(from), Some(to)) = (rgs.get(&c.from), rgs.get(&c.to)) else { continue };
            if rg_forest[from] != rg_forest[to] {
                let message = format!(
                    "routing group {:?} is forest {:?}'s and {:?} forest {:?}'s; a routing group connector joins groups of one organization (between forests use an SMTP connector)",
                    c.from,
                    forests.name(rg_forest[from]),
                    c.to,
                    forests.name(rg_forest[to])
                );
                self.error(&tp.key("routing_group_connectors").index(i).key("to"), message);
            }
        }
    }

    fn routing_group_connectors(
        &mut self,
        t: &TopologyDef,
        tp: &JsonPath,
        rgs: &Names,
        servers: &Servers,
        reachable: Reachable<'_>,
    ) -> Vec<ConnectorConfig> {
        let server_site = &servers.server_site;
        let cp = tp.key("routing_group_connectors");
        self.names("connector", cp.clone(), t.routing_group_connectors.iter().map(|c| c.name.as_str()), "name");
        let mut connectors = Vec::new();
        for (i, c) in t.routing_group_connectors.iter().enumerate() {
            let at = cp.index(i);
            let from = self.reference(rgs, "routing group", &c.from, &at.key("from"));
            let to = self.reference(rgs, "routing group", &c.to, &at.key("to"));
            if from.is_some() && from == to {
                self.error(&at.key("to"), "a routing group connector joins two different routing groups");
            }
            // EXCHANGE2003.md §4: costs 1–100.
            if !(1..=100).contains(&c.cost) {
                self.error(&at.key("cost"), format!("expected a cost from 1 to 100, found {}", c.cost));
            }
            let mut ends = [Vec::new(), Vec::new()];
            for (side, (list, field, group)) in
                [(&c.source_bridgeheads, "source_bridgeheads", from), (&c.target_bridgeheads, "target_bridgeheads", to)]
                    .into_iter()
                    .enumerate()
            {
                if list.is_empty() {
                    self.error(&at.key(field), "expected at least one bridgehead server");
                }
                for (k, name) in list.iter().enumerate() {
                    let bp = at.key(field).index(k);
                    let Some(s) = self.reference(&servers.names, "server", name, &bp) else {
                        continue;
                    };
                    if group.is_some_and(|g| t.servers[s].routing_group != t.routing_groups[g].name) {
                        let side_name = if side == 0 { &c.from } else { &c.to };
                        self.error(
                            &bp,
                            format!(
                                "bridgehead {name:?} is in routing group {:?}, not {side_name:?}",
                                t.servers[s].routing_group
                            ),
                        );
                    } else if !t.servers[s].roles.contains(&Role::Bridgehead) {
                        self.error(&bp, format!("server {name:?} lacks the \"bridgehead\" role"));
                    }
                    ends[side].push(ServerId(s as u16));
                }
            }
            let joined = ends[0].iter().any(|s| {
                ends[1].iter().any(|d| reachable(server_site[usize::from(s.0)], server_site[usize::from(d.0)]))
            });
            if !ends[0].is_empty() && !ends[1].is_empty() && !joined {
                self.error(&at, "no WAN link joins the site of a source bridgehead to the site of a target bridgehead (links are point-to-point circuits)");
            }
            let [source_bridgeheads, target_bridgeheads] = ends;
            connectors.push(ConnectorConfig {
                name: c.name.clone(),
                kind: match c.kind {
                    crate::scenario::ConnectorKindDef::RoutingGroup => ConnectorKind::RoutingGroup,
                    crate::scenario::ConnectorKindDef::Smtp => ConnectorKind::Smtp,
                    crate::scenario::ConnectorKindDef::X400 => ConnectorKind::X400,
                },
                from: RoutingGroupId(from.unwrap_or(0) as u16),
                to: RoutingGroupId(to.unwrap_or(0) as u16),
                cost: c.cost,
                source_bridgeheads,
                target_bridgeheads,
            });
        }

        connectors
    }

    /// Connector names are queue names: unique across every kind of connector.
    fn unique_queue_names(&mut self, t: &TopologyDef, tp: &JsonPath) {
        let cp = tp.key("routing_group_connectors");
        let connector_names = t.routing_group_connectors.iter().map(|c| (c.name.as_str(), cp.clone()));
        let mut queue_names: BTreeMap<String, JsonPath> = connector_names.map(|(n, at)| (Names::fold(n), at)).collect();
        for (list, field) in [
            (t.smtp_connectors.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), "smtp_connectors"),
            (t.x400_connectors.iter().map(|c| c.name.as_str()).collect(), "x400_connectors"),
        ] {
            for (i, name) in list.into_iter().enumerate() {
                let at = tp.key(field).index(i).key("name");
                if let Some(first) = queue_names.insert(Names::fold(name), at.clone()) {
                    self.error(&at, format!("connector name {name:?} is taken (at {first}); connector names are queue names and must differ"));
                }
            }
        }
    }
}

/// The base of servers' default addresses.
const DEFAULT_SERVER_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(172, 16, 0, 0);

/// A server's configuration as the organization model takes it.
fn server_config(
    t: &TopologyDef,
    (id, s): (ServerId, &crate::scenario::Server),
    routing_group: RoutingGroupId,
    forest: ForestId,
    forest_root: &str,
) -> ServerConfig {
    let vs = &s.smtp_virtual_server;
    let fqdn = format!("{}.{}", s.name.to_ascii_lowercase(), forest_root);
    let ip = s.ip.unwrap_or_else(|| std::net::Ipv4Addr::from(u32::from(DEFAULT_SERVER_IP) + u32::from(id.0) + 1));
    ServerConfig {
        name: s.name.clone(),
        forest,
        fqdn,
        ip,
        version: server_version(s.version),
        routing_group,
        smtp: SmtpVirtualServerConfig {
            name: vs.name.clone(),
            max_message_size_bytes: vs.max_message_size_kb.map(|kb| kb * 1024),
            retry: RetrySchedule {
                glitch_retry_count: vs.glitch_retry_count,
                glitch_retry_interval_ms: vs.glitch_retry_interval.ms,
                intervals_ms: vs.retry_intervals.map(|d| d.ms),
            },
            expiration_ms: vs.expiration.ms,
            messages_per_connection: vs.messages_per_connection,
            log_flush_ms: s.disk_flush.ms,
            ..SmtpVirtualServerConfig::default()
        },
        mta: MtaConfig { open_interval_ms: s.mta.open_interval.ms, max_open_retries: s.mta.max_open_retries },
        global_catalogs: Vec::new(),
        journal_bcc: s.journal_bcc,
        badmail: org::transport::mailroot::BadmailSettings {
            limit: org::transport::mailroot::BadmailLimit::from_registry(s.badmail.max_folder_size_kb),
            sync_period_ms: s.badmail.sync_period.ms,
        },
        dsaccess: t.dsaccess.as_ref().map(|d| {
            let version = server_version(s.version);
            let defaults = org::directory::dsaccess::DsAccessConfig::for_version(version);
            org::directory::dsaccess::DsAccessConfig {
                user_cache_bytes: d.user_cache_mb.map_or(defaults.user_cache_bytes, |mb| mb << 20),
                entry_lifetime_ms: d.entry_lifetime.ms,
            }
        }),
    }
}
