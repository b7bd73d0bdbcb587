//! Public stores and folders (EXCHANGE2003.md §8): each storage group's public store
//! becomes a replica with its replication address in the directory; the folder tree
//! becomes the organization's starting hierarchy, each folder's starting items held by
//! the stores on its replica list; post loads are checked against them.

use super::*;
use crate::scenario::{LoggingLevel, PublicStoreDef};
use org::config::topology::PublicStoreConfig;
use org::public_folders::backfill::SourceRule;
use org::public_folders::cn_set::ReplicaId;
use org::public_folders::public_store::{PublicStoreSettings, Setup};
use org::public_folders::replication_message::{FolderId, FolderProps, ReplicationSchedule};

/// The most items the folders may hold when a run starts: each is an entry in every
/// replica's table (a bound on memory, like the mailbox bound).
pub const MAX_STARTING_ITEMS: u64 = 1_000_000;

/// A post or read load as written: folder, server, per hour, from, until.
type ClientLoad<'a> = (&'a str, &'a str, f64, Option<crate::units::Duration>, Option<crate::units::Duration>);

/// The public stores and folders as resolved.
#[derive(Default)]
pub(super) struct PublicPlan {
    pub(super) stores: Vec<PublicStoreConfig>,
    pub(super) store_names: Names,
    pub(super) setup: Setup,
    /// Folder paths, indexing `folders`.
    pub(super) paths: Names,
    pub(super) folders: Vec<FolderId>,
    /// Each folder's starting replica list.
    pub(super) replicas: Vec<Vec<ReplicaId>>,
    pub(super) posts: Vec<PostSpec>,
    /// Mail-enabled folders: (address, folder index, `mail`).
    pub(super) mail_enabled: Vec<(AddressId, usize, String)>,
}

impl PublicPlan {
    /// Puts the mail-enabled folders in the topology's directory, each with the nearest
    /// server holding a replica for mail routed from every server (itself when it holds
    /// one; by routing cost otherwise, as a referral; the first replica's when no route
    /// joins them).
    pub(super) fn add_mail_enabled(&self, topology: &mut org::config::topology::Topology) {
        for (address, index, mail) in &self.mail_enabled {
            let replicas = &self.replicas[*index];
            let first_replica = self.stores[usize::from(replicas[0].0)].server;
            let homes = (0..topology.servers.len() as u16)
                .map(ServerId)
                .map(|s| {
                    let order = org::public_folders::referral::servers_to_try(topology, s, replicas, None);
                    order.first().copied().unwrap_or(first_replica)
                })
                .collect();
            topology.directory.add_public_folder(*address, self.folders[*index], mail.clone(), homes);
        }
    }

    /// The folder named by its path, as resolved.
    pub(super) fn folder(&self, index: usize) -> FolderId {
        self.folders[index]
    }

    /// Folder ids → paths, for the trace.
    pub(super) fn path_table(&self) -> BTreeMap<FolderId, String> {
        self.paths.written.iter().map(|(i, path)| (self.folders[*i], path.clone())).collect()
    }
}

impl Resolver<'_> {
    /// The public stores, the starting folder tree and the post loads.
    pub(super) fn public_folders(&mut self, scenario: &Scenario, org: &Org, people: &mut People) -> PublicPlan {
        let mut preferred = Vec::new();
        let stores = self.public_stores(&scenario.topology, org, people, &mut preferred);
        let mut plan = PublicPlan { stores, ..PublicPlan::default() };
        plan.store_names = Names::of(plan.stores.iter().map(|s| s.name.as_str()));
        self.preferred_sources(preferred, &mut plan);
        self.folder_tree(scenario, &mut plan, people);
        self.post_loads(scenario, org, &mut plan);
        plan
    }

    /// Every storage group's public store (at most one per server), with its address
    /// `<server>-IS@<primary domain>` (as Exchange names a public store's mail object).
    /// Each store's `preferred_backfill_source`, when it names one, goes to `preferred`
    /// with its place, to be resolved once every store is known.
    fn public_stores(
        &mut self,
        t: &TopologyDef,
        org: &Org,
        people: &mut People,
        preferred: &mut Vec<(usize, String, JsonPath)>,
    ) -> Vec<PublicStoreConfig> {
        let mut stores: Vec<PublicStoreConfig> = Vec::new();
        let mut seen = Names::of(org.store_configs.iter().map(|s| s.name.as_str()));
        for (si, s) in t.servers.iter().enumerate() {
            let mut first: Option<JsonPath> = None;
            for (gi, g) in s.storage_groups.iter().enumerate() {
                let Some(def) = &g.public_store else { continue };
                let at =
                    p().key("topology").key("servers").index(si).key("storage_groups").index(gi).key("public_store");
                if let Some(first) = &first {
                    let message = format!("a server has one public store for the MAPI hierarchy (first at {first})");
                    self.error(&at, message);
                    continue;
                }
                first = Some(at.clone());
                if seen.get(&def.name).is_some() {
                    self.error(&at.key("name"), format!("duplicate store name {:?}", def.name));
                }
                seen = Names::of(seen.written.values().map(String::as_str).chain([def.name.as_str()]));
                let replica = ReplicaId(stores.len() as u16);
                let server = ServerId(si as u16);
                let address = format!("{}-IS@{}", s.name, people.primary);
                let Some(address) = self.intern(&mut people.book, address, &at) else { continue };
                people.directory.add_public_store(address, replica, server);
                let mut settings = self.store_settings(s, def, &at);
                if let Some(list) = &def.referrals {
                    settings.referrals = Some(self.referral_list(list, org, &at.key("referrals")));
                }
                if let Some(name) = &def.preferred_backfill_source {
                    preferred.push((stores.len(), name.clone(), at.key("preferred_backfill_source")));
                }
                let site = org.server_site[si] as u16;
                stores.push(PublicStoreConfig { name: def.name.clone(), server, address, site, settings });
            }
        }
        stores
    }

    /// A public store's replication settings: its schedule, the backfill source rule
    /// of its server's version, and whether SP2 logs deletions (event 9682 at logging
    /// level Medium or higher).
    fn store_settings(
        &mut self,
        s: &crate::scenario::Server,
        def: &PublicStoreDef,
        at: &JsonPath,
    ) -> PublicStoreSettings {
        let version = server_version(s.version);
        PublicStoreSettings {
            schedule: self.replication_schedule(def.replication_schedule.as_deref(), &at.key("replication_schedule")),
            source_rule: SourceRule::of(version),
            log_deletions: version == ExchangeVersion::Exchange2003Sp2 && def.logging_level >= LoggingLevel::Medium,
            ..PublicStoreSettings::default()
        }
    }

    /// A schedule as written: absent "Always", `[]` "Never", else the windows' hours.
    fn replication_schedule(
        &mut self,
        windows: Option<&[crate::scenario::ScheduleWindow]>,
        at: &JsonPath,
    ) -> ReplicationSchedule {
        match windows {
            None => ReplicationSchedule::Always,
            Some([]) => ReplicationSchedule::Never,
            Some(w) => ReplicationSchedule::Hours(self.site_link_schedule(Some(w), at)),
        }
    }

    /// Each store's preferred backfill source: another public store.
    fn preferred_sources(&mut self, preferred: Vec<(usize, String, JsonPath)>, plan: &mut PublicPlan) {
        for (r, name, at) in preferred {
            let source = self.reference(&plan.store_names, "public store", &name, &at);
            if source == Some(r) {
                self.error(&at, "expected another public store: a store does not backfill from itself");
            }
            plan.stores[r].settings.preferred_source = source.map(|i| ReplicaId(i as u16));
        }
    }

    /// The starting folder tree: parents before children, each with its replicas and
    /// items.
    fn folder_tree(&mut self, scenario: &Scenario, plan: &mut PublicPlan, people: &mut People) {
        let fp = p().key("public_folders").key("folders");
        let folders = &scenario.public_folders.folders;
        if !folders.is_empty() && plan.stores.is_empty() {
            self.error(&fp, "public folders need a public store: give a storage group a \"public_store\"");
            return;
        }
        plan.paths = self.names("public folder", fp.clone(), folders.iter().map(|f| f.path.as_str()), "path");
        let total: u64 = folders.iter().map(|f| f.items).sum();
        if total > MAX_STARTING_ITEMS {
            self.error(&fp, format!("expected at most {MAX_STARTING_ITEMS} starting items in all, found {total}"));
            return;
        }
        for (i, f) in folders.iter().enumerate() {
            let at = fp.index(i);
            let parent = self.folder_parent(&f.path, i, plan, &at.key("path"));
            let replicas = self.replica_list(&f.replicas, plan, &at.key("replicas"));
            let schedule = f.replication_schedule.as_deref();
            let schedule = schedule.map(|w| self.replication_schedule(Some(w), &at.key("replication_schedule")));
            let name = f.path.rsplit('/').next().unwrap_or_default().to_string();
            let mail_enabled = f.alias.is_some();
            if let Some(alias) = &f.alias {
                let mail = format!("{alias}@{}", people.primary);
                if let Some(address) = self.intern(&mut people.book, mail.clone(), &at.key("alias")) {
                    self.name_alias(&mut people.book, alias, address, &at.key("alias"));
                    plan.mail_enabled.push((address, i, mail));
                }
            }
            let default_role = f.default_role.to_org();
            let props = FolderProps { name, parent, replicas: replicas.clone(), schedule, mail_enabled, default_role };
            let id = plan.setup.folder(props);
            plan.setup.items(id, f.items, f.item_size_kb * 1024);
            plan.folders.push(id);
            plan.replicas.push(replicas);
        }
    }

    /// A folder's parent: the folder whose path is its path without the last segment,
    /// listed before it.
    fn folder_parent(&mut self, path: &str, index: usize, plan: &PublicPlan, at: &JsonPath) -> Option<FolderId> {
        if path.split('/').any(|s| s.trim().is_empty()) {
            self.error(at, format!("expected a path of non-empty names separated by '/', found {path:?}"));
            return None;
        }
        let (parent, _) = path.rsplit_once('/')?;
        match plan.paths.get(parent) {
            Some(p) if p < index => Some(plan.folders[p]),
            _ => {
                self.error(at, format!("its parent {parent:?} is not listed before it"));
                None
            }
        }
    }

    /// A replica list: public stores, each once, at least one.
    pub(super) fn replica_list(&mut self, names: &[String], plan: &PublicPlan, at: &JsonPath) -> Vec<ReplicaId> {
        if names.is_empty() {
            self.error(at, "expected at least one public store");
        }
        let mut replicas = Vec::new();
        for (k, name) in names.iter().enumerate() {
            let Some(r) = self.reference(&plan.store_names, "public store", name, &at.index(k)) else { continue };
            let r = ReplicaId(r as u16);
            if replicas.contains(&r) {
                self.error(&at.index(k), format!("{name:?} is listed twice"));
            }
            replicas.push(r);
        }
        replicas.sort_unstable();
        replicas.dedup();
        replicas
    }

    /// Post loads: a folder, a server whose public store holds a replica of it when the
    /// run starts, a rate, a size and a window inside the run.
    fn post_loads(&mut self, scenario: &Scenario, org: &Org, plan: &mut PublicPlan) {
        let pp = p().key("public_folders").key("posts");
        for (i, post) in scenario.public_folders.posts.iter().enumerate() {
            let at = pp.index(i);
            let load = (post.folder.as_str(), post.server.as_str(), post.per_hour, post.from, post.until);
            let Some((folder, server, from_ms, until_ms)) = self.client_load(scenario, org, plan, load, &at) else {
                continue;
            };
            let store = plan.stores.iter().position(|s| s.server == server);
            if !store.is_some_and(|r| plan.replicas[folder].contains(&ReplicaId(r as u16))) {
                let message = format!(
                    "{:?} has no replica of {:?} when the run starts: its clients would be referred elsewhere",
                    post.server, post.folder
                );
                self.error(&at.key("server"), message);
                continue;
            }
            let (folder, per_hour, size_bytes) = (plan.folder(folder), post.per_hour, post.size_kb * 1024);
            plan.posts.push(PostSpec { folder, server, per_hour, size_bytes, read: false, from_ms, until_ms });
        }
        let rp = p().key("public_folders").key("reads");
        for (i, read) in scenario.public_folders.reads.iter().enumerate() {
            let load = (read.folder.as_str(), read.server.as_str(), read.per_hour, read.from, read.until);
            let Some((folder, server, from_ms, until_ms)) = self.client_load(scenario, org, plan, load, &rp.index(i))
            else {
                continue;
            };
            let (folder, per_hour) = (plan.folder(folder), read.per_hour);
            plan.posts.push(PostSpec { folder, server, per_hour, size_bytes: 0, read: true, from_ms, until_ms });
        }
    }

    /// A post or read load's common part — (folder, server, per hour, from, until) as
    /// written —: the folder's index, the server (with a public store), the window.
    fn client_load(
        &mut self,
        scenario: &Scenario,
        org: &Org,
        plan: &PublicPlan,
        (folder, server, per_hour, from, until): ClientLoad<'_>,
        at: &JsonPath,
    ) -> Option<(usize, ServerId, u64, u64)> {
        let found = self.reference(&plan.paths, "public folder", folder, &at.key("folder"));
        let id = self.reference(&org.servers, "server", server, &at.key("server"));
        if !(per_hour > 0.0 && per_hour <= 100_000.0) {
            self.error(&at.key("per_hour"), "expected a rate above 0 and at most 100,000 an hour");
        }
        let from_ms = from.map_or(0, |d| d.ms);
        let until_ms = until.map_or(scenario.duration.ms, |d| d.ms);
        if from_ms >= until_ms || until_ms > scenario.duration.ms {
            self.error(at, "expected from < until, inside the run");
        }
        let (found, id) = (found?, ServerId(id? as u16));
        if !plan.stores.iter().any(|s| s.server == id) {
            let message = format!("{server:?} has no public store: its clients have no hierarchy to open");
            self.error(&at.key("server"), message);
            return None;
        }
        Some((found, id, from_ms, until_ms))
    }

    /// A server's custom referral list: servers of the organization, each once.
    fn referral_list(
        &mut self,
        list: &[crate::scenario::ReferralDef],
        org: &Org,
        at: &JsonPath,
    ) -> Vec<(ServerId, u32)> {
        let mut out: Vec<(ServerId, u32)> = Vec::new();
        for (k, r) in list.iter().enumerate() {
            let Some(s) = self.reference(&org.servers, "server", &r.server, &at.index(k).key("server")) else {
                continue;
            };
            let s = ServerId(s as u16);
            if out.iter().any(|(o, _)| *o == s) {
                self.error(&at.index(k).key("server"), format!("{:?} is listed twice", r.server));
            }
            out.push((s, r.cost));
        }
        out
    }
}

impl Resolver<'_> {
    /// A public folder step of the timeline as an order, or None (an error reported, or
    /// not a public folder step).
    pub(super) fn public_folder_step(
        &mut self,
        a: &Action,
        at: &JsonPath,
        plan: &PublicPlan,
        book: &AddressBook,
    ) -> Option<PublicOrder> {
        use org::public_folders::public_store::PfAdmin;
        if plan.stores.is_empty() {
            self.error(at, "no public store in the organization: give a storage group a \"public_store\"");
            return None;
        }
        let store = |this: &mut Self, name: &str, key: &str| {
            this.reference(&plan.store_names, "public store", name, &at.key(key)).map(|r| ReplicaId(r as u16))
        };
        let (store, admin) = match a {
            Action::StopPublicFolderReplication { .. } | Action::ResumePublicFolderReplication { .. } => {
                let stopped = matches!(a, Action::StopPublicFolderReplication { .. });
                (None, PfAdmin::ContentReplication { stopped })
            }
            Action::SynchronizeHierarchy { store: s, .. } => {
                (Some(store(self, s, "store")?), PfAdmin::SynchronizeHierarchy)
            }
            Action::SendContents { store: s, days, to, .. } => {
                if *days == 0 || *days > 400 {
                    self.error(&at.key("days"), "expected 1 to 400 days");
                }
                let from = store(self, s, "store")?;
                let to = if to.is_empty() { None } else { Some(self.replica_list(to, plan, &at.key("to"))) };
                (Some(from), PfAdmin::SendContents { days: *days, to })
            }
            Action::SetReplicas { store: s, folder, add, remove, subtree, .. } => {
                let on = store(self, s, "store");
                let folder = self.reference(&plan.paths, "public folder", folder, &at.key("folder"));
                let add = if add.is_empty() { Vec::new() } else { self.replica_list(add, plan, &at.key("add")) };
                let remove =
                    if remove.is_empty() { Vec::new() } else { self.replica_list(remove, plan, &at.key("remove")) };
                if add.is_empty() && remove.is_empty() {
                    self.error(at, "expected stores to add or remove");
                }
                let admin = PfAdmin::Replicas { folder: plan.folder(folder?), add, remove, subtree: *subtree };
                (Some(on?), admin)
            }
            Action::MoveAllReplicas { from, to, .. } => {
                let (from, to) = (store(self, from, "from"), store(self, to, "to"));
                if from.is_some() && from == to {
                    self.error(&at.key("to"), "expected another public store than `from`");
                }
                (Some(from?), PfAdmin::MoveAllReplicas { to: to? })
            }
            Action::SetPublicFolderPermissions { store: s, folder, default_role, subtree, .. } => {
                let on = store(self, s, "store");
                let folder = self.reference(&plan.paths, "public folder", folder, &at.key("folder"));
                let (default_role, subtree) = (default_role.to_org(), *subtree);
                (Some(on?), PfAdmin::Permissions { folder: plan.folder(folder?), default_role, subtree })
            }
            Action::DeletePublicFolder { store: s, folder, by, .. } => {
                let on = store(self, s, "store");
                let folder = self.reference(&plan.paths, "public folder", folder, &at.key("folder"));
                let by = self.lookup_alias(book, by, &at.key("by"));
                (Some(on?), PfAdmin::DeleteFolder { folder: plan.folder(folder?), by: by? })
            }
            _ => return None,
        };
        Some(PublicOrder { store, admin, step: a.clone() })
    }
}
