//! Loads a scenario file and checks it: syntax and types (serde), then every name,
//! reference and range. Errors say `FILE:LINE:COL: JSON-PATH: what was expected`; a file
//! that passes resolves to the id-based organization the world runs.
//!
//! One file per section of the scenario, on one shared [`Resolver`] context:
//! `topology` (domains, sites, servers, routing groups, WAN links, connectors),
//! `internet` (hosts, DNS, SMTP and X.400 connectors), `recipients`, `public_folders`
//! (public stores, the folder tree, post loads), `directory` (DCs, replication, RUS
//! bindings), `workload`, `timeline`, `weather` and `expectations`.

mod clusters;
mod directory;
mod expectations;
mod forests;
mod gal_sync;
mod internet;
pub mod message_delivery;
mod offline_address_books;
mod public_folders;
mod recipients;
mod resolved;
mod timeline;
mod topology;
mod weather;
mod workload;

pub use clusters::ClusterNode;
pub use resolved::*;

use crate::json_location::{locate, JsonPath, Locator};
use crate::scenario::Day;
use crate::scenario::{
    bounds, Action, AddressSpaceSpec, AddressType, Expectation, HostRoleSpec, NdrCode, Placement, Recipients, Role,
    Scenario, ServerVersion, TopologyDef, User,
};
use org::calendar::{Weekday, WeeklyHours};
use org::config::topology::{
    ConnectorConfig, ConnectorKind, Delivery, GatewayConfig, HostConfig, HostRole, InternetConfig, LinkStateConfig,
    MtaConfig, MxRecord, RetrySchedule, RoutingGroupConfig, ServerConfig, SmtpVirtualServerConfig, StoreConfig,
    StoreSizeConfig, Topology,
};
use org::directory::ad_replication::DcId;
use org::directory::domain_controller::{InboundConnection, Schedule, WindowsVersion, INTRA_SITE_POLL_MS};
use org::directory::global_catalog::{
    AdDomainId, GlobalCatalog, Group, GroupScope, MailboxEntry, Membership, ObjectClass, Recipient, RecipientObject,
    Restriction, MEMBER_ATTRIBUTE,
};
use org::directory::ldap_filter::normalize_dn;
use org::routing::routing_engine::NextHop;
use org::store::disk_load::DiskSettings;
use org::time::Instant;
use org::transport::address_space::{AddressSpace, DomainId, ExternalDirectory, Pattern};
use org::transport::advanced_queuing::QueueKey;
use org::transport::dsn::DsnCode;
use org::version::ExchangeVersion;
use org::{AddressId, ConnectorId, ForestId, GatewayId, HostId, RoutingGroupId, ServerId, StoreId};
use recipients::*;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;
use timeline::*;

/// The most mailboxes a scenario may have: a bound on memory (a generated day of
/// 100,000 mailboxes takes about 1.6 GiB today).
pub const MAX_MAILBOXES: u32 = 1_000_000;

/// One problem in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file as named on the command line.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Where in the document, e.g. `topology.servers[2].routing_group`.
    pub path: String,
    /// What was expected.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}: {}", self.file, self.line, self.column, self.path, self.message)
    }
}

/// All problems found in one file (at least one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}

/// Reads and checks a scenario file.
pub fn load_file(path: &str) -> Result<Resolved, ScenarioErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ScenarioErrors(vec![ScenarioError {
            file: path.to_string(),
            line: 0,
            column: 0,
            path: "(file)".into(),
            message: format!("cannot read the scenario file: {e}"),
        }])
    })?;
    load_str(path, &text)
}

/// Parses and checks scenario text; `file` names it in errors.
pub fn load_str(file: &str, text: &str) -> Result<Resolved, ScenarioErrors> {
    let json_error = |path: Option<&serde_path_to_error::Path>, inner: &serde_json::Error| {
        let mut message = inner.to_string();
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
        // Known segments only: a syntax error between members has an unknown last one.
        let mut json_path = JsonPath::root();
        for segment in path.map(|p| p.iter().collect::<Vec<_>>()).unwrap_or_default() {
            json_path = match segment {
                serde_path_to_error::Segment::Seq { index } => json_path.index(*index),
                serde_path_to_error::Segment::Map { key } => json_path.key(key),
                serde_path_to_error::Segment::Enum { .. } => continue,
                serde_path_to_error::Segment::Unknown => break,
            };
        }
        // A value of the wrong kind or range is pointed at where it starts; a syntax
        // error where the parser stopped.
        let (line, column) = if inner.classify() == serde_json::error::Category::Data && !json_path.0.is_empty() {
            locate(text, &json_path)
        } else {
            (inner.line(), inner.column())
        };
        ScenarioErrors(vec![ScenarioError {
            file: file.to_string(),
            line,
            column,
            path: json_path.to_string(),
            message,
        }])
    };
    // Syntax first: nothing past a syntax error can be read.
    let document: serde_json::Value = serde_json::from_str(text).map_err(|e| json_error(None, &e))?;
    // Every structural problem, in the order of the file.
    let problems = crate::schema_walk::problems(&document);
    let mut locator = Locator::new(text);
    let mut errors: Vec<ScenarioError> = problems
        .iter()
        .map(|p| {
            let (line, column) = locator.locate(&p.path);
            ScenarioError { file: file.to_string(), line, column, path: p.path.to_string(), message: p.message.clone() }
        })
        .collect();
    let scenario: Scenario = if problems.is_empty() {
        // From the text itself, which also refuses a field written twice.
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| json_error(Some(e.path()), e.inner()))?
    } else {
        // Repaired, if that leaves a readable file: its names, references and ranges are
        // checked too.
        let Some(readable) = crate::schema_walk::repaired(&document, &problems) else {
            errors.sort_by_key(|e| (e.line, e.column));
            return Err(ScenarioErrors(errors));
        };
        match serde_path_to_error::deserialize(readable) {
            Ok(scenario) => scenario,
            Err(e) => {
                errors.extend(json_error(Some(e.path()), e.inner()).0);
                return Err(ScenarioErrors(errors));
            }
        }
    };
    let mut resolver = Resolver { file, locator, errors: Vec::new() };
    let resolved = resolver.resolve(scenario);
    // What the checks say inside an object a repair touched may be about the value the
    // repair put there: left for the run after the fix.
    let scope = |d: &JsonPath| if d.0.len() > 1 { JsonPath(d.0[..d.0.len() - 1].to_vec()) } else { d.clone() };
    let scopes: Vec<String> =
        problems.iter().filter_map(|p| p.repair.as_ref()).map(|r| scope(r.path()).to_string()).collect();
    let within = |path: &str, scope: &str| {
        path == scope || path.strip_prefix(scope).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    };
    errors.extend(resolver.errors.into_iter().filter(|e| !scopes.iter().any(|s| within(&e.path, s))));
    // In the order of the file (stable: problems at one place keep the order found).
    errors.sort_by_key(|e| (e.line, e.column));
    if errors.is_empty() {
        Ok(resolved.expect("no errors means resolved"))
    } else {
        Err(ScenarioErrors(errors))
    }
}

/// Resolves a scenario to the org's ids and configuration, gathering every error with
/// its place in the file.
struct Resolver<'a> {
    file: &'a str,
    locator: Locator<'a>,
    errors: Vec<ScenarioError>,
}

/// A name → index table that reports duplicates. Windows names are case-insensitive:
/// `EX-HUB` and `ex-hub` are one server, so names are keyed by their case-folded form and
/// a reference in any case finds its object.
#[derive(Clone, Default)]
struct Names {
    /// Case-folded name → index.
    index: BTreeMap<String, usize>,
    /// Each name as first written, by index.
    written: BTreeMap<usize, String>,
}

impl Names {
    /// The table of names already checked (the first of a name wins).
    fn of<'n>(names: impl Iterator<Item = &'n str>) -> Names {
        let mut table = Names { index: BTreeMap::new(), written: BTreeMap::new() };
        for (i, name) in names.enumerate() {
            if let std::collections::btree_map::Entry::Vacant(slot) = table.index.entry(Names::fold(name)) {
                slot.insert(i);
                table.written.insert(i, name.to_string());
            }
        }
        table
    }

    /// The key of a name (Windows compares names without case).
    fn fold(name: &str) -> String {
        name.to_lowercase()
    }

    /// The index of the object named `name`, in any case.
    fn get(&self, name: &str) -> Option<usize> {
        self.index.get(&Names::fold(name)).copied()
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    /// Every index, in the order of the names' keys.
    fn indexes(&self) -> impl Iterator<Item = usize> + '_ {
        self.index.values().copied()
    }

    /// A few names as written, for an error that lists what is known.
    fn known(&self, count: usize) -> Vec<&str> {
        self.written.values().map(String::as_str).take(count).collect()
    }
}

/// A server version as the organization model names it.
fn server_version(v: ServerVersion) -> ExchangeVersion {
    match v {
        ServerVersion::Exchange2000Sp3 => ExchangeVersion::Exchange2000Sp3,
        ServerVersion::Exchange2003 => ExchangeVersion::Exchange2003,
        ServerVersion::Exchange2003Sp1 => ExchangeVersion::Exchange2003Sp1,
        ServerVersion::Exchange2003Sp2 => ExchangeVersion::Exchange2003Sp2,
    }
}

fn p() -> JsonPath {
    JsonPath::root()
}

/// Whether two sites can talk (the same site, or one WAN link joins them).
type Reachable<'r> = &'r dyn Fn(usize, usize) -> bool;

/// The organization as the topology section resolves it: name tables, the servers'
/// and connectors' configurations, the WAN and the Internet.
/// The GAL entry each sender address resolves to: a mailbox user's own address, or the
/// contact whose target it is (Exchange matches the P1 sender against proxy addresses,
/// which hold a contact's target); the first contact when several share a target.
fn gal_senders(directory: &GlobalCatalog) -> BTreeMap<AddressId, AddressId> {
    let mut gal = BTreeMap::new();
    for (address, object) in directory.objects() {
        match object.recipient {
            org::directory::global_catalog::Recipient::Mailbox(_) => {
                gal.insert(address, address);
            }
            org::directory::global_catalog::Recipient::Forward(target) => {
                gal.entry(target).or_insert(address);
            }
            _ => {}
        }
    }
    gal
}

/// With several forests, each forest's GAL: the objects of its domains (public folders
/// and stores are the first forest's).
fn split_forest_directories(topology: &mut Topology, domain_forest: &[ForestId]) {
    let forests = topology.forests.len();
    if forests < 2 {
        return;
    }
    let forest_of = |d: AdDomainId| domain_forest.get(usize::from(d.0)).copied().unwrap_or(ForestId(0));
    topology.forest_directories = (0..forests)
        .map(|f| topology.directory.only(&|o: &RecipientObject| forest_of(o.domain).0 as usize == f))
        .collect();
}

struct Org {
    forests: forests::Forests,
    /// The forest of each routing group (its administrative group's).
    rg_forest: Vec<ForestId>,
    domains: Names,
    sites: Names,
    servers: Names,
    rgs: Names,
    server_site: Vec<usize>,
    server_configs: Vec<ServerConfig>,
    store_configs: Vec<StoreConfig>,
    stores: Names,
    members: Vec<Vec<ServerId>>,
    masters: Vec<ServerId>,
    link_state: LinkStateConfig,
    links: Vec<LinkSpec>,
    /// The pairs of sites a WAN link joins (smaller index first), with the link.
    pairs: BTreeMap<(usize, usize), usize>,
    connectors: Vec<ConnectorConfig>,
    external: ExternalDirectory,
    internet: InternetConfig,
    host_site: Vec<usize>,
    hosts: Names,
    gateways: Vec<GatewayConfig>,
}

impl Org {
    /// The index of a forest's root domain in the one list of domains.
    fn root_domain(&self, forest: ForestId) -> usize {
        let root = &self.forests.configs[usize::from(forest.0)].name;
        self.domains.get(root).unwrap_or(0)
    }

    /// The forest of a placement's domain; the first by default.
    fn placement_forest(&self, placement: &Placement) -> ForestId {
        let domain = placement.domain.as_ref().and_then(|d| self.domains.get(d));
        domain.map_or(ForestId(0), |d| self.forests.domain[d])
    }

    /// A user's forest: its mailbox server's, else its placement domain's, else the
    /// first (references are checked where the user is resolved).
    fn user_forest(&self, user: &User) -> ForestId {
        let by_store = user.store.as_ref().and_then(|s| self.stores.get(s));
        let by_store = by_store.map(|s| self.server_configs[usize::from(self.store_configs[s].server.0)].forest);
        by_store.unwrap_or_else(|| self.placement_forest(&user.placement))
    }

    /// Whether two sites can talk (the same site, or one WAN link joins them).
    fn reachable(&self, from: usize, to: usize) -> bool {
        from == to || self.pairs.contains_key(&(from.min(to), from.max(to)))
    }

    /// The organization model's topology, with the directory the recipients built.
    fn into_topology(mut self, t: &TopologyDef, directory: GlobalCatalog) -> Topology {
        let mut storage_groups = org::config::topology::StorageGroupConfig::of_stores(&mut self.store_configs);
        for group in &mut storage_groups {
            let def = t.servers[usize::from(group.server.0)].storage_groups.iter().find(|g| g.name == group.name);
            let def = def.expect("a storage group is its server's");
            group.log = org::config::topology::LogSettings {
                circular: def.circular_logging,
                disk_bytes: def.log_disk_mb.map(|mb| mb << 20),
            };
            group.database_disk = def.database_disk.map(crate::scenario::Disk::settings);
            group.log_disk = def.log_disk.map_or(DiskSettings::LOG_VOLUME, crate::scenario::Disk::settings);
            group.backup_ms_of_day = def.backup_hour.map(|h| h * org::time::HOUR_MS);
        }
        let recovery_storage_groups = (t.servers.iter().enumerate())
            .filter(|(_, s)| s.recovery_storage_group)
            .map(|(i, s)| {
                let config = org::config::topology::RecoveryStorageGroupConfig { sg_override: s.recovery_sg_override };
                (ServerId(i as u16), config)
            })
            .collect();
        // The administrative group names were checked with the routing groups.
        let admin_group = |name: &str| t.administrative_groups.iter().position(|a| a.name == name).unwrap_or(0) as u16;
        Topology {
            servers: self.server_configs,
            routing_groups: t
                .routing_groups
                .iter()
                .zip(self.members)
                .zip(self.masters)
                .zip(self.rg_forest)
                .map(|(((rg, members), master), forest)| RoutingGroupConfig {
                    name: rg.name.clone(),
                    members,
                    master,
                    administrative_group: admin_group(&rg.administrative_group),
                    forest,
                })
                .collect(),
            connectors: self.connectors,
            gateways: self.gateways,
            storage_groups,
            stores: self.store_configs,
            directory,
            forests: self.forests.configs.clone(),
            forest_directories: Vec::new(), // split from `directory` once it is whole
            external: self.external,
            internet: self.internet,
            plants: org::planted_bugs::Plants::NONE,
            link_state: self.link_state,
            calendar: org::calendar::Calendar::UNIX_EPOCH, // set from the scenario's start
            junk_threshold: t.intelligent_message_filter.store_threshold as i8, // the schema bounds it: 0 to 8
            mailboxes: BTreeMap::new(),                    // set from the recipients
            recovery_storage_groups,
            public_stores: Vec::new(),            // set from the public folder plan
            public_folders: Default::default(),   // likewise
            offline_address_books: Vec::new(),    // likewise
            legacy_dn_naming: Default::default(), // likewise
            edge: Default::default(),             // set from the message delivery settings
        }
    }
}

impl Resolver<'_> {
    fn error(&mut self, path: &JsonPath, message: impl Into<String>) {
        let (line, column) = self.locator.locate(path);
        self.errors.push(ScenarioError {
            file: self.file.to_string(),
            line,
            column,
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// Indexes names, reporting empty ones and duplicates (in any case).
    fn names<'n>(&mut self, what: &str, list: JsonPath, names: impl Iterator<Item = &'n str>, field: &str) -> Names {
        let mut table = Names { index: BTreeMap::new(), written: BTreeMap::new() };
        for (i, name) in names.enumerate() {
            let at = list.index(i).key(field);
            if name.trim().is_empty() {
                self.error(&at, format!("expected a non-empty {what} name"));
                continue;
            }
            match table.index.entry(Names::fold(name)) {
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(i);
                    table.written.insert(i, name.to_string());
                }
                std::collections::btree_map::Entry::Occupied(first) => {
                    let first = *first.get();
                    let earlier = &table.written[&first];
                    let case = if earlier == name {
                        String::new()
                    } else {
                        format!(" {earlier:?}; Windows names ignore case")
                    };
                    self.error(&at, format!("duplicate {what} name {name:?} (first at {}{case})", list.index(first)));
                }
            }
        }
        table
    }

    fn reference(&mut self, names: &Names, what: &str, name: &str, at: &JsonPath) -> Option<usize> {
        let found = names.get(name);
        if found.is_none() {
            self.error(at, format!("no {what} named {name:?} (known: {})", names.known(8).join(", ")));
        }
        found
    }

    /// Each journaling store's journal mailbox: a mailbox user's alias.
    fn journal_recipients(&mut self, t: &TopologyDef, org: &mut Org, people: &mut People) {
        for (si, s) in t.servers.iter().enumerate() {
            for (gi, g) in s.storage_groups.iter().enumerate() {
                for (k, store) in g.mailbox_stores.iter().enumerate() {
                    let Some(alias) = &store.journal_recipient else { continue };
                    let at = p()
                        .key("topology")
                        .key("servers")
                        .index(si)
                        .key("storage_groups")
                        .index(gi)
                        .key("mailbox_stores")
                        .index(k)
                        .key("journal_recipient");
                    let Some(id) = self.lookup_alias(&people.book, alias, &at) else { continue };
                    if people.directory.lookup(id).is_none() {
                        self.error(&at, format!("{alias:?} has no mailbox: a journal recipient is a mailbox"));
                        continue;
                    }
                    if let Some(d) = org.stores.get(&store.name) {
                        org.store_configs[d].journal_recipient = Some(id);
                    }
                }
            }
        }
    }

    fn resolve(&mut self, original: Scenario) -> Option<Resolved> {
        let forests = self.forests(&original);
        // With one forest the scenario as written is the one list; else a flattened copy
        // is read and the original kept for the trace.
        let (scenario, original) = match forests::Forests::flatten(&original) {
            Some(flat) => (flat, Some(original)),
            None => (original, None),
        };
        let t = &scenario.topology;
        if scenario.duration.ms == 0 || scenario.duration.ms > bounds::DURATION_MS_MAX {
            let max = crate::units::Duration::from_ms(bounds::DURATION_MS_MAX);
            self.error(&p().key("duration"), format!("expected a run length above 0s and at most {max}"));
        }
        let mut org = self.topology(t, forests);
        let mut people = self.recipients(&scenario, &mut org);
        self.journal_recipients(t, &mut org, &mut people);
        self.first_forest_only(&scenario, &org);
        let mut public = self.public_folders(&scenario, &org, &mut people);
        let oabs = self.offline_address_books(&scenario, &org, &mut public);
        let workload = self.workload(&scenario, &people.external_addresses);
        let clusters = self.clusters(t, &org, &people.mailboxes_by_server);
        let names = Targets::of(t, &org, clusters);
        let (replication, rus_dcs) = self.simulated_directory(&scenario, &org, &people, &names.dcs);
        let ctx = Context {
            scenario: &scenario,
            names: &names,
            rus_dcs: &rus_dcs,
            replicating: replication.as_ref().is_some_and(|d| d.replicating),
            simulated_dcs: replication.is_some(),
            public: &public,
        };
        let steps = self.timeline(&ctx, &mut org, &mut people);
        let weather = self.weather(&ctx, &org, &steps.timeline);
        let expectations = self.expectations(&ctx, &org, &people);
        let mut edge = self.edge(&scenario, &org);
        let internet_senders = self.internet_senders(&scenario, &mut org, &mut people, &edge);
        if !edge.virtual_servers.is_empty() {
            let lowered = people.book.addresses.iter().map(|a| a.to_ascii_lowercase());
            edge.addresses = lowered.enumerate().map(|(i, a)| (a, AddressId(i as u32))).collect();
        }
        if org.gateways.iter().any(|g| matches!(g.delivery, Delivery::Organization { .. })) {
            edge.texts = people.book.addresses.iter().map(|a| a.to_ascii_lowercase()).collect();
        }
        let mut invariants = scenario.checks.invariants.clone();
        invariants.sort();
        invariants.dedup();
        if scenario.report.sample_interval.ms < 1_000 {
            self.error(&p().key("report").key("sample_interval"), "expected a sample interval of at least 1s");
        }
        if !self.errors.is_empty() {
            return None;
        }
        let sites = t.sites.iter().map(|s| s.name.clone()).collect();
        let server_site = std::mem::take(&mut org.server_site);
        let host_site = std::mem::take(&mut org.host_site);
        let links = std::mem::take(&mut org.links);
        let org_domain_forests = org.forests.domain.clone();
        let mut topology = org.into_topology(t, people.directory);
        topology.public_stores = public.stores.clone();
        public.add_mail_enabled(&mut topology);
        topology.calendar = scenario.start.calendar;
        topology.offline_address_books = oabs.configs;
        topology.legacy_dn_naming = oabs.naming;
        let oab_pregenerated = offline_address_books::pregenerate(&topology, &oabs.before_start, &mut public.setup);
        topology.public_folders = Arc::new(public.setup.clone());
        topology.mailboxes = std::mem::take(&mut people.mailbox_settings);
        split_forest_directories(&mut topology, &org_domain_forests);
        if !edge.virtual_servers.is_empty() {
            let forests = (0..topology.forests.len()).map(|f| ForestId(f as u8));
            edge.gal = forests.map(|f| gal_senders(topology.gal(f))).collect();
        }
        topology.edge = Arc::new(edge);
        Some(Resolved {
            file: self.file.to_string(),
            topology: Arc::new(topology),
            addresses: people.book.addresses,
            sends: steps.sends,
            modifications: steps.modifications,
            sites,
            server_site,
            host_site,
            external_addresses: people.external_addresses,
            directory: replication,
            links,
            lan_bits_per_s: t.lan.bandwidth.bits_per_s,
            lan_latency_ms: t.lan.latency.ms,
            mailboxes_by_server: people.mailboxes_by_server,
            unknown_addresses: people.unknown_addresses,
            internet_senders,
            timeline: steps
                .timeline
                .into_iter()
                .map(|(ms, _, action)| TimedAction { at: Instant(ms), action })
                .collect(),
            weather,
            workload,
            clusters: names.clusters.clone(),
            move_tasks: steps.move_tasks,
            invariants,
            expectations,
            duration_ms: scenario.duration.ms,
            sample_interval_ms: scenario.report.sample_interval.ms,
            public_folder_paths: public.path_table().into_iter().chain(oabs.folder_paths).collect(),
            oab_clients: oabs.clients,
            oab_pregenerated,
            public_posts: public.posts.clone(),
            public_orders: steps.public_orders,
            domains: t.domains.iter().map(|d| d.name.clone()).collect(),
            domain_forest: org_domain_forests,
            scenario: original.unwrap_or(scenario),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_sites(timeline: &str) -> String {
        format!(
            r#"{{
  "name": "t", "description": "d", "duration": "10h",
  "topology": {{
    "forest": "contoso.com", "domains": [{{"name": "contoso.com"}}],
    "sites": [{{"name": "A"}}, {{"name": "B"}}],
    "domain_controllers": [{{"name": "DC1", "domain": "contoso.com", "site": "A", "global_catalog": true}}],
    "administrative_groups": [{{"name": "AG"}}],
    "routing_groups": [{{"name": "RA", "administrative_group": "AG"}}, {{"name": "RB", "administrative_group": "AG"}}],
    "servers": [
      {{"name": "EX1", "site": "A", "routing_group": "RA", "storage_groups": [{{"name": "SG", "mailbox_stores": [{{"name": "S1"}}]}}]}},
      {{"name": "EX2", "site": "B", "routing_group": "RB", "storage_groups": [{{"name": "SG", "mailbox_stores": [{{"name": "S2"}}]}}]}}
    ],
    "routing_group_connectors": [
      {{"name": "AB", "from": "RA", "to": "RB", "cost": 1, "source_bridgeheads": ["EX1"], "target_bridgeheads": ["EX2"]}}
    ],
    "wan_links": [{{"name": "L", "sites": ["A", "B"], "bandwidth": "64kbps", "latency": "50ms"}}]
  }},
  "recipients": {{"smtp_domains": ["contoso.com"], "generated": [{{"count": 4, "stores": ["S1", "S2"]}}]}},
  "timeline": {timeline}
}}"#
        )
    }

    #[test]
    fn oscillation_expands_to_down_up_pairs_ending_up() {
        let text =
            two_sites(r#"[{"kind": "link_oscillate", "at": "1h", "link": "L", "period": "20m", "duration": "50m"}]"#);
        let r = load_str("t.json", &text).unwrap();
        let steps: Vec<(u64, WorldAction)> = r.timeline.iter().map(|a| (a.at.as_ms() / 60_000, a.action)).collect();
        use WorldAction::{LinkDown, LinkUp};
        assert_eq!(
            steps,
            vec![
                (60, LinkDown(0)),
                (70, LinkUp(0)),
                (80, LinkDown(0)),
                (90, LinkUp(0)),
                (100, LinkDown(0)),
                (110, LinkUp(0))
            ]
        );
    }

    #[test]
    fn semantic_errors_are_all_reported_with_places() {
        let text = two_sites(r#"[{"kind": "server_crash", "at": "11h", "server": "EX1"}, {"kind": "connector_up", "at": "1h", "connector": "BA"}]"#)
            .replace(r#""cost": 1"#, r#""cost": 101"#)
            .replace(r#""sites": ["A", "B"]"#, r#""sites": ["A", "A"]"#);
        let errors = load_str("t.json", &text).unwrap_err();
        let paths: Vec<&str> = errors.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "topology.routing_group_connectors[0]",
                "topology.routing_group_connectors[0].cost",
                "topology.wan_links[0].sites",
                "timeline[0].at",
                "timeline[1].connector",
            ],
            "{errors}"
        );
        assert!(errors.0.iter().all(|e| e.file == "t.json" && e.line > 0 && e.column > 0));
    }

    #[test]
    fn resolves_ids_and_addresses() {
        let r = load_str("t.json", &two_sites("[]")).unwrap();
        assert_eq!(
            r.addresses[..4],
            ["user1@contoso.com", "user2@contoso.com", "user3@contoso.com", "user4@contoso.com"]
        );
        assert_eq!(r.mailboxes_by_server, vec![vec![AddressId(0), AddressId(2)], vec![AddressId(1), AddressId(3)]]);
        assert_eq!(r.topology.server(ServerId(1)).fqdn, "ex2.contoso.com");
        assert_eq!(r.links[0].bits_per_s, 64_000);
        assert!(r.unknown_addresses.iter().all(|a| r.topology.directory.lookup(*a).is_none()));
    }
}
