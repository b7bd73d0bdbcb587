//! The directory section: domain controllers, their replication connections and
//! schedules, GC partial replicas, and the DCs recipients and RUS write on.

use super::*;

impl Resolver<'_> {
    /// The directory as simulated, if it is: DCs, connections, GC replicas, and each
    /// domain's RUS DC when it replicates.
    pub(super) fn simulated_directory(
        &mut self,
        scenario: &Scenario,
        org: &Org,
        people: &People,
        dcs: &Names,
    ) -> (Option<DirectorySpec>, Vec<DcId>) {
        let (t, r) = (&scenario.topology, &scenario.recipients);
        let reachable = |from: usize, to: usize| org.reachable(from, to);
        let no_gc_work = scenario.recipients.groups.is_empty()
            && scenario.recipients.query_groups.is_empty()
            && t.dsaccess.is_none();
        if let Some(d) = &t.dsaccess {
            let dp = p().key("topology").key("dsaccess");
            if d.user_cache_mb.is_some_and(|mb| !(1..=4_096).contains(&mb)) {
                self.error(&dp.key("user_cache_mb"), "expected a cache from 1 to 4096 MB");
            }
            if d.entry_lifetime.ms < 1_000 {
                self.error(&dp.key("entry_lifetime"), "expected an entry lifetime of at least 1s");
            }
        }
        let mut replication = self.directory(t, org, &reachable, no_gc_work, scenario.start.calendar);
        let replicating = replication.as_ref().is_some_and(|d| d.replicating);
        let rus_dcs = match replication.as_mut().filter(|d| d.replicating) {
            Some(spec) => self.replicated_recipients(
                spec,
                t,
                r,
                &people.directory,
                &people.rus,
                &people.created_on,
                dcs,
                &org.domains,
            ),
            None => Vec::new(),
        };
        // With replication the categorizer learns of a change only from a GC; without
        // DSAccess it would read the scenario's directory directly.
        let changes_during_run =
            people.directory.objects().any(|(_, o)| o.created_at.is_some() || o.deleted_at.is_some())
                || scenario.timeline.iter().any(|a| {
                    matches!(
                        a,
                        Action::ModifyRecipient { .. }
                            | Action::ChurnRecipients { .. }
                            | Action::RenameSmtpDomain { .. }
                            | Action::ModifyGroup { .. }
                    )
                });
        if replicating && changes_during_run && t.dsaccess.is_none() {
            self.error(
                &p().key("topology").key("ad_replication"),
                "recipients change during the run: with ad_replication the categorizer must read them from a GC, so add \"dsaccess\" to the topology",
            );
        }
        (replication, rus_dcs)
    }

    /// The simulated directory: each DC pulls from every other DC of its domain in its
    /// site (notified of changes), and across each site link the first DC of a domain
    /// in one site pulls from the first in the other, on the link's interval (the
    /// connections Windows' KCC would build; links are point-to-point, so only sites a
    /// WAN link joins directly).
    pub(super) fn directory(
        &mut self,
        t: &crate::scenario::TopologyDef,
        org: &Org,
        reachable: Reachable<'_>,
        no_gc_work: bool,
        calendar: org::calendar::Calendar,
    ) -> Option<DirectorySpec> {
        let (domains, sites, domain_forest) = (&org.domains, &org.sites, &org.forests.domain);
        let groups = !no_gc_work;
        let ad = match t.ad_replication.as_ref() {
            Some(ad) => Some(ad),
            None if groups => None,
            None => return None,
        };
        let mut dcs = dc_specs(t, domains, sites);
        let Some(ad) = ad else {
            let replica_names = dcs.iter().map(|d| d.name.clone()).collect();
            return Some(DirectorySpec { dcs, partials: Vec::new(), replica_names, replicating: false });
        };
        let n = dcs.len();
        if n > 64 {
            self.error(
                &p().key("topology").key("domain_controllers"),
                "orgsim simulates replication among at most 64 domain controllers",
            );
        }
        intra_site_connections(&mut dcs);
        let pair_interval = self.site_link_pairs(t, ad, org, reachable);
        let links: BTreeMap<(usize, usize), (u64, Schedule)> = pair_interval
            .into_iter()
            .map(|(pair, (_, interval_ms, open_hours))| (pair, (interval_ms, Schedule { hours: open_hours, calendar })))
            .collect();
        inter_site_connections(t, &mut dcs, &links);
        let partials = self.partial_replicas(t, &mut dcs, &links, domain_forest);
        if n + partials.len() > MAX_REPLICAS {
            self.error(
                &p().key("topology").key("domain_controllers"),
                format!(
                    "orgsim simulates at most {MAX_REPLICAS} replicas (each DC's, and each GC's of every other domain)"
                ),
            );
        }
        let partial_names =
            partials.iter().map(|p| format!("{}/{}", dcs[usize::from(p.host.0)].name, t.domains[p.domain].name));
        let replica_names = dcs.iter().map(|d| d.name.clone()).chain(partial_names).collect();
        Some(DirectorySpec { dcs, partials, replica_names, replicating: true })
    }

    /// Each pair of sites a site link joins (directly, over a WAN link), with the
    /// cheapest link's cost, interval and weekly schedule; the links checked on the way.
    fn site_link_pairs(
        &mut self,
        t: &crate::scenario::TopologyDef,
        ad: &crate::scenario::AdReplication,
        org: &Org,
        reachable: Reachable<'_>,
    ) -> BTreeMap<(usize, usize), (u32, u64, WeeklyHours)> {
        let sites = &org.sites;
        // The cheapest site link per pair of sites sets the interval and the schedule.
        let ap = p().key("topology").key("ad_replication");
        let mut pair_interval: BTreeMap<(usize, usize), (u32, u64, WeeklyHours)> = BTreeMap::new();
        self.names("site link", ap.key("site_links"), ad.site_links.iter().map(|l| l.name.as_str()), "name");
        for (i, link) in ad.site_links.iter().enumerate() {
            let lp = ap.key("site_links").index(i);
            if link.sites.len() < 2 {
                self.error(&lp.key("sites"), "expected at least two sites");
            }
            // EXCHANGE2003.md §2: cost 1–32,767; interval a multiple of 15 min, 15 min–7 days.
            if !(1..=32_767).contains(&link.cost) {
                self.error(&lp.key("cost"), format!("expected a cost from 1 to 32767, found {}", link.cost));
            }
            let minutes = link.replication_interval.ms / 60_000;
            if link.replication_interval.ms % (15 * 60_000) != 0 || !(15..=10_080).contains(&minutes) {
                self.error(
                    &lp.key("replication_interval"),
                    "expected a multiple of 15m from 15m to 7d (EXCHANGE2003.md §2)",
                );
            }
            let open_hours = self.site_link_schedule(link.schedule.as_deref(), &lp.key("schedule"));
            let ids: Vec<usize> = link
                .sites
                .iter()
                .enumerate()
                .filter_map(|(k, s)| self.reference(sites, "site", s, &lp.key("sites").index(k)))
                .collect();
            for (x, &a) in ids.iter().enumerate() {
                for &b in &ids[x + 1..] {
                    if a == b {
                        continue;
                    }
                    let (fa, fb) = (org.forests.site[a], org.forests.site[b]);
                    if fa != fb {
                        let message = format!(
                            "sites {:?} and {:?} are of forests {:?} and {:?}: a site link joins sites of one forest (forests do not replicate with each other)",
                            t.sites[a].name,
                            t.sites[b].name,
                            org.forests.name(fa),
                            org.forests.name(fb)
                        );
                        self.error(&lp.key("sites"), message);
                        continue;
                    }
                    if !reachable(a, b) {
                        self.error(
                            &lp.key("sites"),
                            format!(
                                "sites {:?} and {:?} share this site link but no WAN link joins them (links are point-to-point circuits)",
                                t.sites[a].name, t.sites[b].name
                            ),
                        );
                        continue;
                    }
                    let key = (a.min(b), a.max(b));
                    let entry = (link.cost, link.replication_interval.ms, open_hours);
                    if pair_interval.get(&key).is_none_or(|old| entry < *old) {
                        pair_interval.insert(key, entry);
                    }
                }
            }
        }
        pair_interval
    }

    /// Each GC's partial replica of every other domain (§2), with the connections the
    /// KCC would build: from every DC of that domain in the GC's site (which notify it of
    /// changes); else, over each site link to a site the GC's joins directly, from the
    /// first DC of the domain there or, failing one, from the first GC there.
    pub(super) fn partial_replicas(
        &mut self,
        t: &crate::scenario::TopologyDef,
        dcs: &mut [DcSpec],
        links: &BTreeMap<(usize, usize), (u64, Schedule)>,
        domain_forest: &[org::ForestId],
    ) -> Vec<PartialReplicaSpec> {
        let gc = |i: usize| t.domain_controllers[i].global_catalog;
        let mut partials = Vec::new();
        for g in (0..dcs.len()).filter(|&g| gc(g)) {
            let home = dcs[g].domain;
            // A GC holds partial replicas of its own forest's other domains only.
            let own = |d: &usize| domain_forest[*d] == domain_forest[home];
            for domain in (0..t.domains.len()).filter(|&d| d != home).filter(own) {
                let site = dcs[g].site;
                let mut inbound = Vec::new();
                for (b, source) in dcs.iter_mut().enumerate() {
                    if source.domain == domain && source.site == site {
                        inbound.push(InboundConnection {
                            source: DcId(b as u16),
                            intra_site: true,
                            interval_ms: INTRA_SITE_POLL_MS,
                            schedule: Schedule::ALWAYS,
                        });
                        source.notify_targets.push(DcId(g as u16));
                    }
                }
                if inbound.is_empty() {
                    for (&(a, b), &(interval_ms, schedule)) in links {
                        let other = match (a == site, b == site) {
                            (true, _) => b,
                            (_, true) => a,
                            _ => continue,
                        };
                        let in_other = |want: &dyn Fn(usize) -> bool| {
                            (0..dcs.len()).find(|&x| dcs[x].site == other && x != g && want(x))
                        };
                        let forest_gc = |x: usize| gc(x) && domain_forest[dcs[x].domain] == domain_forest[home];
                        let source = in_other(&|x| dcs[x].domain == domain).or_else(|| in_other(&forest_gc));
                        if let Some(source) = source {
                            let source = DcId(source as u16);
                            inbound.push(InboundConnection { source, intra_site: false, interval_ms, schedule });
                        }
                    }
                }
                if inbound.is_empty() {
                    self.error(
                        &p().key("topology").key("domain_controllers").index(g),
                        format!(
                            "global catalog {:?} can get no partial replica of {:?}: no DC of that domain in its site, and no DC of it or GC in a site a site link joins to its site",
                            dcs[g].name, t.domains[domain].name
                        ),
                    );
                }
                partials.push(PartialReplicaSpec { host: DcId(g as u16), domain, inbound });
            }
        }
        partials
    }

    /// With replication, recipients created or deleted during the run become writes on
    /// a DC (`created_on`, else the DC of their domain's RUS), and each RUS is bound to
    /// its DC (`domain_controller`, else the domain's first). Returns each domain's RUS
    /// DC.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn replicated_recipients(
        &mut self,
        spec: &mut DirectorySpec,
        t: &crate::scenario::TopologyDef,
        r: &crate::scenario::Recipients,
        directory: &GlobalCatalog,
        rus_intervals: &[u64],
        created_on: &BTreeMap<AddressId, (String, JsonPath)>,
        dcs_by_name: &Names,
        domains: &Names,
    ) -> Vec<DcId> {
        let domain_count = rus_intervals.len();
        let mut rus_dcs: Vec<Option<DcId>> =
            (0..domain_count).map(|d| spec.dcs.iter().position(|dc| dc.domain == d).map(|i| DcId(i as u16))).collect();
        let rp = p().key("recipients").key("recipient_update_services");
        for (i, rus) in r.recipient_update_services.iter().enumerate() {
            let (Some(name), Some(d)) = (&rus.domain_controller, domains.get(&rus.domain)) else { continue };
            let at = rp.index(i).key("domain_controller");
            if let Some(dc) = self.dc_of_domain(t, dcs_by_name, name, d, &at) {
                rus_dcs[d] = Some(dc);
            }
        }
        for (d, dc) in rus_dcs.iter().enumerate() {
            let Some(dc) = dc else { continue };
            let recipients: Vec<AddressId> = directory
                .objects()
                .filter(|(_, o)| usize::from(o.domain.0) == d && o.created_at.is_some())
                .map(|(a, _)| a)
                .collect();
            spec.dcs[usize::from(dc.0)].rus = Some(RusSpec { interval_ms: rus_intervals[d].max(1), recipients });
        }
        for (address, object) in directory.objects() {
            if object.created_at.is_none() && object.deleted_at.is_none() {
                continue;
            }
            let domain = usize::from(object.domain.0);
            let dc = match created_on.get(&address) {
                Some((name, at)) => self.dc_of_domain(t, dcs_by_name, name, domain, at),
                None => rus_dcs[domain],
            };
            let Some(dc) = dc else { continue };
            let writes = &mut spec.dcs[usize::from(dc.0)].recipient_writes;
            if let Some(c) = object.created_at {
                writes.push((c, address, RecipientWrite::Create));
            }
            if let Some(d) = object.deleted_at {
                writes.push((d, address, RecipientWrite::Delete));
            }
        }
        for dc in &mut spec.dcs {
            dc.recipient_writes.sort_by_key(|(t, a, _)| (*t, *a));
        }
        rus_dcs.into_iter().map(|d| d.unwrap_or(DcId(0))).collect()
    }

    /// The DC a modification of `id` is written on: the one named (of the recipient's
    /// domain), else its domain's RUS DC.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn modification_dc(
        &mut self,
        t: &crate::scenario::TopologyDef,
        directory: &GlobalCatalog,
        id: AddressId,
        named: &Option<String>,
        rus_dcs: &[DcId],
        dcs_by_name: &Names,
        at: &JsonPath,
    ) -> Option<DcId> {
        let domain = directory.object(id).map_or(0, |o| usize::from(o.domain.0));
        match named {
            Some(name) => self.dc_of_domain(t, dcs_by_name, name, domain, &at.key("domain_controller")),
            None => rus_dcs.get(domain).copied(),
        }
    }

    /// The DC named `name`, which must be of domain `domain` (its index).
    pub(super) fn dc_of_domain(
        &mut self,
        t: &crate::scenario::TopologyDef,
        dcs_by_name: &Names,
        name: &str,
        domain: usize,
        at: &JsonPath,
    ) -> Option<DcId> {
        let d = self.reference(dcs_by_name, "domain controller", name, at)?;
        let domain_name = &t.domains[domain].name;
        if Names::fold(&t.domain_controllers[d].domain) != Names::fold(domain_name) {
            self.error(at, format!("{name:?} is not a domain controller of {domain_name:?}"));
            return None;
        }
        Some(DcId(d as u16))
    }

    /// A site link's schedule as open hours of the UTC week (every hour when absent).
    pub(super) fn site_link_schedule(
        &mut self,
        windows: Option<&[crate::scenario::ScheduleWindow]>,
        at: &JsonPath,
    ) -> WeeklyHours {
        let Some(windows) = windows else { return WeeklyHours::ALWAYS };
        if windows.is_empty() {
            self.error(at, "expected at least one window (leave out \"schedule\" for always)");
            return WeeklyHours::ALWAYS;
        }
        let mut open = WeeklyHours::never();
        for (i, w) in windows.iter().enumerate() {
            let mut hour = |text: &str, field: &str| -> Option<u32> {
                let parsed = text
                    .strip_suffix(":00")
                    .filter(|h| h.len() == 2)
                    .and_then(|h| h.parse::<u32>().ok())
                    .filter(|h| *h <= 24);
                if parsed.is_none() {
                    self.error(
                        &at.index(i).key(field),
                        format!("expected a whole hour of the UTC day like \"20:00\" (00:00 to 24:00), found {text:?}"),
                    );
                }
                parsed
            };
            let (from, until) = (hour(&w.from, "from"), hour(&w.until, "until"));
            let (Some(from), Some(until)) = (from, until) else { continue };
            // 00:00-24:00 is a whole day: worth saying for some days, not for all.
            if from == until || (from % 24 == until % 24 && w.days.is_none()) {
                self.error(
                    &at.index(i),
                    "expected \"from\" and \"until\" to differ (leave out \"schedule\" for always)",
                );
                continue;
            }
            if w.days.as_ref().is_some_and(|d| d.is_empty()) {
                self.error(&at.index(i).key("days"), "expected at least one day (leave out \"days\" for every day)");
                continue;
            }
            let days = w.days.as_deref().unwrap_or(&Day::ALL);
            for day in days.iter().map(|d| d.weekday()) {
                open_window(&mut open, day, from % 24, until);
            }
        }
        // With every window refused the load fails anyway; keep the schedule usable.
        if open.any_open() {
            open
        } else {
            WeeklyHours::ALWAYS
        }
    }
}

/// Opens the hours from `from` (0–23) until `until` (1–24) starting on `day`; a window
/// past midnight (`until` before `from`) runs on into the next day of the week, and
/// `until` equal to `from` (00:00-24:00) is the whole day.
fn open_window(open: &mut WeeklyHours, day: Weekday, from: u32, until: u32) {
    let next = Weekday::ALL[(day.index() + 1) % 7];
    let span = match (until + 24 - from) % 24 {
        0 => 24,
        span => span,
    };
    for h in (from..from + span).map(|h| h % 24) {
        open.open(if h < from { next } else { day }, 1 << h);
    }
}

/// One spec per DC of the scenario, without connections yet.
fn dc_specs(t: &crate::scenario::TopologyDef, domains: &Names, sites: &Names) -> Vec<DcSpec> {
    t.domain_controllers
        .iter()
        .map(|d| DcSpec {
            name: d.name.clone(),
            domain: domains.get(&d.domain).unwrap_or(0),
            site: sites.get(&d.site).unwrap_or(0),
            version: match d.version {
                crate::scenario::WindowsVersionSpec::Windows2000 => WindowsVersion::Windows2000,
                crate::scenario::WindowsVersionSpec::Windows2003 => WindowsVersion::Windows2003,
            },
            inbound: Vec::new(),
            notify_targets: Vec::new(),
            recipient_writes: Vec::new(),
            rus: None,
        })
        .collect()
}

/// Inside a site every DC pulls from every other DC of its domain, notified of changes.
fn intra_site_connections(dcs: &mut [DcSpec]) {
    let n = dcs.len();
    for a in 0..n {
        for b in 0..n {
            if a != b && dcs[a].domain == dcs[b].domain && dcs[a].site == dcs[b].site {
                let source = DcId(b as u16);
                dcs[a].inbound.push(InboundConnection {
                    source,
                    intra_site: true,
                    interval_ms: INTRA_SITE_POLL_MS,
                    schedule: Schedule::ALWAYS,
                });
                dcs[a].notify_targets.push(source);
            }
        }
    }
}

/// Across each site link the first DC of a domain in one site pulls from the first in
/// the other, on the link's interval and schedule.
fn inter_site_connections(
    t: &crate::scenario::TopologyDef,
    dcs: &mut [DcSpec],
    links: &BTreeMap<(usize, usize), (u64, Schedule)>,
) {
    for (&(a, b), &(interval_ms, schedule)) in links {
        for domain in 0..t.domains.len() {
            let first = |site: usize| dcs.iter().position(|d| d.domain == domain && d.site == site);
            if let (Some(x), Some(y)) = (first(a), first(b)) {
                for (to, from) in [(x, y), (y, x)] {
                    let source = DcId(from as u16);
                    dcs[to].inbound.push(InboundConnection { source, intra_site: false, interval_ms, schedule });
                }
            }
        }
    }
}
