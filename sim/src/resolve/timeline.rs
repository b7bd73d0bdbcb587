//! The timeline section: fixed faults, administrator actions and scripted mail.

use super::*;
use org::transport::mailroot::VirtualServerRef;

/// The names timeline steps, weather targets and expectations refer to.
pub(super) struct Targets {
    pub(super) links: Names,
    pub(super) connectors: Names,
    pub(super) hosts: Names,
    pub(super) dcs: Names,
    /// Cluster nodes by name, each as its cluster and index.
    pub(super) nodes: Names,
    pub(super) node_at: Vec<super::clusters::ClusterNode>,
    pub(super) clusters: Vec<org::cluster::cluster_service::ClusterConfig>,
}

impl Targets {
    pub(super) fn of(t: &TopologyDef, org: &Org, clusters: super::clusters::Clusters) -> Targets {
        Targets {
            links: Names::of(t.wan_links.iter().map(|l| l.name.as_str())),
            connectors: Names::of(t.routing_group_connectors.iter().map(|c| c.name.as_str())),
            hosts: org.hosts.clone(),
            dcs: Names::of(t.domain_controllers.iter().map(|d| d.name.as_str())),
            nodes: clusters.nodes,
            node_at: clusters.node_at,
            clusters: clusters.configs,
        }
    }

    /// Whether a server is a cluster's virtual server (it fails with its node).
    pub(super) fn is_virtual_server(&self, server: ServerId) -> bool {
        self.clusters.iter().any(|c| c.virtual_servers.contains(&server))
    }
}

/// The run's steps as read from the timeline: (time, index in the file, action), and
/// the sends and modifications they index.
#[derive(Default)]
pub(super) struct Steps {
    pub(super) timeline: Vec<(u64, usize, WorldAction)>,
    pub(super) sends: Vec<SendSpec>,
    pub(super) move_tasks: Vec<MoveTaskSpec>,
    pub(super) modifications: Vec<Modification>,
    pub(super) public_orders: Vec<PublicOrder>,
}

/// What a timeline step is checked against.
pub(super) struct Context<'s> {
    pub(super) scenario: &'s Scenario,
    pub(super) names: &'s Targets,
    /// Each domain's RUS DC (with replication).
    pub(super) rus_dcs: &'s [DcId],
    /// Whether the directory replicates (`topology.ad_replication`).
    pub(super) replicating: bool,
    /// Whether DCs are simulated at all (replication, DSAccess or groups to expand).
    pub(super) simulated_dcs: bool,
    /// The public stores and folders.
    pub(super) public: &'s super::public_folders::PublicPlan,
}

impl Resolver<'_> {
    /// A server's storage group named by a step, as its first mailbox store.
    fn storage_group_ref(&mut self, org: &Org, at: &JsonPath, server: &str, group: &str) -> Option<org::StoreId> {
        let s = self.reference(&org.servers, "server", server, &at.key("server"))?;
        let first = org.store_configs.iter().position(|c| usize::from(c.server.0) == s && c.storage_group == group);
        if first.is_none() {
            let message = format!("server {server:?} has no storage group {group:?} with a mailbox store");
            self.error(&at.key("storage_group"), message);
        }
        first.map(|d| org::StoreId(d as u16))
    }

    /// A `purge_badmail` step: the server, and the virtual server when named (the Default
    /// SMTP Virtual Server or one of its inbound ones, numbered as the edge numbers them).
    fn badmail_purge(
        &mut self,
        scenario: &Scenario,
        org: &Org,
        at: &JsonPath,
        server: &str,
        virtual_server: Option<&str>,
    ) -> Option<(ServerId, Option<VirtualServerRef>)> {
        let s = self.reference(&org.servers, "server", server, &at.key("server"))?;
        let Some(name) = virtual_server else { return Some((ServerId(s as u16), None)) };
        if org.server_configs[s].smtp.name == name {
            return Some((ServerId(s as u16), Some(VirtualServerRef::Default)));
        }
        let servers = &scenario.topology.servers;
        let before: usize = servers[..s].iter().map(|d| d.inbound_virtual_servers.len()).sum();
        let Some(k) = servers[s].inbound_virtual_servers.iter().position(|v| v.name == name) else {
            let mut known = vec![org.server_configs[s].smtp.name.clone()];
            known.extend(servers[s].inbound_virtual_servers.iter().map(|v| v.name.clone()));
            let message =
                format!("server {server:?} has no virtual server named {name:?} (known: {})", known.join(", "));
            self.error(&at.key("virtual_server"), message);
            return None;
        };
        Some((ServerId(s as u16), Some(VirtualServerRef::Inbound((before + k) as u16))))
    }

    /// A `restore` step: the storage group, its databases named (each of it), the
    /// target server.
    fn restore(
        &mut self,
        org: &Org,
        at: &JsonPath,
        server: &str,
        group: &str,
        databases: &[String],
        to_server: &Option<String>,
    ) -> Option<WorldAction> {
        let from = self.storage_group_ref(org, at, server, group)?;
        let source = &org.store_configs[usize::from(from.0)];
        // The group's databases in order (as `StorageGroupConfig::of_stores` lists them).
        let in_group: Vec<usize> = (org.store_configs.iter().enumerate())
            .filter(|(_, c)| c.server == source.server && c.storage_group == group)
            .map(|(i, _)| i)
            .collect();
        let mut only = 0u8;
        for (i, name) in databases.iter().enumerate() {
            let path = at.key("databases").index(i);
            let d = self.reference(&org.stores, "mailbox store", name, &path)?;
            match in_group.iter().position(|s| *s == d) {
                Some(bit) => only |= 1 << bit,
                None => {
                    self.error(&path, format!("mailbox store {name:?} is not in {server}'s storage group {group:?}"));
                    return None;
                }
            }
        }
        let to = match to_server {
            Some(name) => ServerId(self.reference(&org.servers, "server", name, &at.key("to_server"))? as u16),
            None => org.store_configs[usize::from(from.0)].server,
        };
        Some(WorldAction::Restore { from, to, only })
    }

    /// The timeline section, each step checked and resolved, in time order.
    pub(super) fn timeline(&mut self, ctx: &Context<'_>, org: &mut Org, people: &mut People) -> Steps {
        let scenario = ctx.scenario;
        let names = ctx.names;
        let (t, r) = (&scenario.topology, &scenario.recipients);
        let duration_ms = scenario.duration.ms;
        let mut steps = Steps::default();
        let tlp = p().key("timeline");
        for (i, a) in scenario.timeline.iter().enumerate() {
            let at = tlp.index(i);
            if a.at().ms > duration_ms {
                self.error(&at.key("at"), format!("{} is after the run ends ({})", a.at(), scenario.duration));
            }
            let mut push = |ms: u64, action| steps.timeline.push((ms, i, action));
            match a {
                Action::LinkDown { at: t0, link } | Action::LinkUp { at: t0, link } => {
                    if let Some(l) = self.reference(&names.links, "WAN link", link, &at.key("link")) {
                        let down = matches!(a, Action::LinkDown { .. });
                        push(t0.ms, if down { WorldAction::LinkDown(l) } else { WorldAction::LinkUp(l) });
                    }
                }
                Action::LinkOscillate { at: t0, link, period, duration } => {
                    self.oscillation(ctx, i, &at, &mut steps, t0.ms, link, period.ms, duration.ms);
                }
                Action::ConnectorDown { at: t0, connector } | Action::ConnectorUp { at: t0, connector } => {
                    if let Some(c) = self.reference(&names.connectors, "connector", connector, &at.key("connector")) {
                        let id = ConnectorId(c as u16);
                        let down = matches!(a, Action::ConnectorDown { .. });
                        push(t0.ms, if down { WorldAction::ConnectorDown(id) } else { WorldAction::ConnectorUp(id) });
                    }
                }
                Action::SetMaster { at: t0, routing_group, server } => {
                    self.set_master(i, &at, &mut steps, t0.ms, routing_group, server, org);
                }
                Action::DismountDatabase { at: t0, database } | Action::MountDatabase { at: t0, database } => {
                    if let Some(d) = self.reference(&org.stores, "mailbox store", database, &at.key("database")) {
                        let mount = matches!(a, Action::MountDatabase { .. });
                        push(t0.ms, WorldAction::Database(org::StoreId(d as u16), mount));
                    }
                }
                Action::SetQuota { at: t0, mailbox, database, quota } => {
                    let target = self.quota_target(org, people, &at, mailbox, database);
                    if let Some(target) = target {
                        push(t0.ms, WorldAction::SetQuota { target, quota: *quota });
                    }
                }
                Action::Backup { at: t0, server, storage_group } => {
                    if let Some(d) = self.storage_group_ref(org, &at, server, storage_group) {
                        push(t0.ms, WorldAction::Backup(d));
                    }
                }
                Action::PurgeBadmail { at: t0, server, virtual_server } => {
                    if let Some(purge) = self.badmail_purge(scenario, org, &at, server, virtual_server.as_deref()) {
                        push(t0.ms, WorldAction::PurgeBadmail(purge.0, purge.1));
                    }
                }
                Action::DiskFailure { at: t0, server, storage_group, logs_lost } => {
                    if let Some(d) = self.storage_group_ref(org, &at, server, storage_group) {
                        push(t0.ms, WorldAction::DiskFailure(d, *logs_lost));
                    }
                }
                Action::Restore { at: t0, server, storage_group, databases, to_server } => {
                    for (k, name) in databases.iter().enumerate() {
                        if ctx.public.store_names.get(name).is_some() {
                            let message = format!("{name:?} is a public store: restores take mailbox stores only (EXCHANGE2003.md §7: the Recovery Storage Group holds mailbox stores, not public stores)");
                            self.error(&at.key("databases").index(k), message);
                        }
                    }
                    if let Some(restore) = self.restore(org, &at, server, storage_group, databases, to_server) {
                        push(t0.ms, restore);
                    }
                }
                Action::Merge { at: t0, server, receive_as, send_as } => {
                    if let Some(s) = self.reference(&org.servers, "server", server, &at.key("server")) {
                        let rights = org::store::backup::MergeRights { receive_as: *receive_as, send_as: *send_as };
                        push(t0.ms, WorldAction::Merge(ServerId(s as u16), rights));
                    }
                }
                Action::StopPublicFolderReplication { at: t0 }
                | Action::ResumePublicFolderReplication { at: t0 }
                | Action::SynchronizeHierarchy { at: t0, .. }
                | Action::SendContents { at: t0, .. }
                | Action::SetReplicas { at: t0, .. }
                | Action::MoveAllReplicas { at: t0, .. }
                | Action::SetPublicFolderPermissions { at: t0, .. }
                | Action::DeletePublicFolder { at: t0, .. } => {
                    if let Some(order) = self.public_folder_step(a, &at, ctx.public, &people.book) {
                        push(t0.ms, WorldAction::PublicFolder(steps.public_orders.len()));
                        steps.public_orders.push(order);
                    }
                }
                Action::DirectoryChange { .. } | Action::ClockSkew { .. } => {
                    self.directory_step(ctx, i, &at, &mut steps, a)
                }
                Action::DcDown { at: t0, dc } | Action::DcUp { at: t0, dc } => {
                    self.dc_fault(ctx, i, &at, &mut steps, t0.ms, dc, matches!(a, Action::DcDown { .. }));
                }
                Action::Send { at: t0, from, to, bcc, via, authenticated, count, size_kb, scl } => {
                    if let Some(send) = self.send(
                        &mut people.book,
                        &mut org.external,
                        r,
                        t,
                        &at,
                        from,
                        (to, bcc),
                        via,
                        *authenticated,
                        &people.directory,
                    ) {
                        // count and size_kb are bounded by the schema.
                        let scl = self.send_scl(&at, *scl, &send);
                        push(t0.ms, WorldAction::Send(steps.sends.len()));
                        steps.sends.push(SendSpec { count: *count, size_bytes: size_kb * 1_024, scl, ..send });
                    }
                }
                Action::ModifyRecipient { at: t0, recipient, attributes, domain_controller } => {
                    let change = (recipient.as_str(), attributes, domain_controller);
                    self.modify_recipient(ctx, i, &at, &mut steps, t0.ms, change, people);
                }
                Action::ChurnRecipients { at: t0, count, attribute, repeat, every, domain_controller } => {
                    let churn = (*count, attribute.as_str(), *repeat, every.ms, domain_controller);
                    self.churn_recipients(ctx, i, &at, &mut steps, t0.ms, churn, people);
                }
                Action::RenameSmtpDomain { at: t0, from, to, recipients, domain_controller } => {
                    let rename = (from.as_str(), to.as_str(), recipients.as_slice(), domain_controller);
                    self.rename_smtp_domain(ctx, i, &at, &mut steps, t0.ms, rename, people);
                }
                Action::ModifyGroup { at: t0, group, add, remove, domain_controller } => {
                    let change = (group.as_str(), add.as_slice(), remove.as_slice(), domain_controller);
                    self.modify_group(ctx, i, &at, &mut steps, t0.ms, change, people);
                }
                Action::HostDown { at: t0, host } | Action::HostUp { at: t0, host } => {
                    if let Some(h) = self.reference(&names.hosts, "Internet host", host, &at.key("host")) {
                        let id = HostId(h as u16);
                        let down = matches!(a, Action::HostDown { .. });
                        push(t0.ms, if down { WorldAction::HostDown(id) } else { WorldAction::HostUp(id) });
                    }
                }
                Action::ServerCrash { at: t0, server, power_loss } => {
                    if let Some(s) = self.standalone_server(names, org, server, &at) {
                        let failure = if *power_loss { Failure::PowerLoss } else { Failure::Crash };
                        push(t0.ms, WorldAction::Crash(s, failure));
                    }
                }
                Action::ServerRestart { at: t0, server } => {
                    if let Some(s) = self.standalone_server(names, org, server, &at) {
                        push(t0.ms, WorldAction::Restart(s));
                    }
                }
                Action::MoveMailboxes { at: t0, mailboxes, from_store, count, to_store, cancel_at } => {
                    let spec = (mailboxes.as_slice(), from_store, *count, to_store.as_str(), *cancel_at);
                    if let Some(task) = self.move_task(org, people, &at, t0.ms, spec) {
                        push(t0.ms, WorldAction::MoveMailboxes(steps.move_tasks.len()));
                        steps.move_tasks.push(task);
                    }
                }
                Action::NodeDown { at: t0, node, power_loss } => {
                    if let Some(n) = self.reference(&names.nodes, "cluster node", node, &at.key("node")) {
                        let failure = if *power_loss { Failure::PowerLoss } else { Failure::Crash };
                        push(t0.ms, WorldAction::NodeDown(names.node_at[n], failure));
                    }
                }
                Action::NodeUp { at: t0, node } => {
                    if let Some(n) = self.reference(&names.nodes, "cluster node", node, &at.key("node")) {
                        push(t0.ms, WorldAction::NodeUp(names.node_at[n]));
                    }
                }
            }
        }
        steps.timeline.sort_by_key(|(ms, i, _)| (*ms, *i));
        self.crash_order(t, &steps.timeline);
        self.node_order(names, &steps.timeline);
        steps
    }

    /// A link oscillation: down and up every `period_ms` for `duration_ms`, ending up.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn oscillation(
        &mut self,
        ctx: &Context<'_>,
        i: usize,
        at: &JsonPath,
        steps: &mut Steps,
        t0: u64,
        link: &str,
        period_ms: u64,
        length_ms: u64,
    ) {
        let mut push = |ms: u64, action| steps.timeline.push((ms, i, action));
        if period_ms < bounds::OSCILLATION_PERIOD_MS_MIN {
            self.error(&at.key("period"), "expected a period of at least 2s");
            return;
        }
        if 2 * length_ms / period_ms > bounds::FAULT_STEPS_MAX {
            self.error(&at.key("period"), "expected at most 1000000 steps: a longer period or a shorter duration");
            return;
        }
        if t0 + length_ms > ctx.scenario.duration.ms {
            self.error(&at.key("duration"), "the oscillation must end before the run ends");
        }
        if let Some(l) = self.reference(&ctx.names.links, "WAN link", link, &at.key("link")) {
            let half = period_ms / 2;
            let mut t = t0;
            while t < t0 + length_ms {
                push(t, WorldAction::LinkDown(l));
                push((t + half).min(t0 + length_ms), WorldAction::LinkUp(l));
                t += period_ms;
            }
        }
    }

    /// A routing group's new master, which must be a member.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn set_master(
        &mut self,
        i: usize,
        at: &JsonPath,
        steps: &mut Steps,
        t0: u64,
        routing_group: &str,
        server: &str,
        org: &Org,
    ) {
        let mut push = |ms: u64, action| steps.timeline.push((ms, i, action));
        let g = self.reference(&org.rgs, "routing group", routing_group, &at.key("routing_group"));
        let s = self.reference(&org.servers, "server", server, &at.key("server"));
        if let (Some(g), Some(s)) = (g, s) {
            let (g, s) = (RoutingGroupId(g as u16), ServerId(s as u16));
            if org.members[usize::from(g.0)].contains(&s) {
                push(t0, WorldAction::SetMaster(g, s));
            } else {
                self.error(
                    &at.key("server"),
                    format!("server {server:?} is not a member of routing group {routing_group:?}"),
                );
            }
        }
    }

    /// A bulk change written on a DC, or a DC's clock set off.
    pub(super) fn directory_step(&mut self, ctx: &Context<'_>, i: usize, at: &JsonPath, steps: &mut Steps, a: &Action) {
        let mut push = |ms: u64, action| steps.timeline.push((ms, i, action));
        match a {
            Action::DirectoryChange { at: t0, dc, count, attributes, urgent, delete } => {
                let Some(d) = self.reference(&ctx.names.dcs, "domain controller", dc, &at.key("dc")) else {
                    return;
                };
                if !ctx.replicating {
                    self.error(
                        at,
                        "a directory change needs topology.ad_replication (the directory is not simulated without it)",
                    );
                }
                if *count == 0 || *count > MAX_MAILBOXES {
                    self.error(&at.key("count"), format!("expected from 1 to {MAX_MAILBOXES} objects"));
                }
                if *attributes == 0 || *attributes > 64 {
                    self.error(&at.key("attributes"), "expected from 1 to 64 attributes per object");
                }
                let dc = DcId(d as u16);
                let (count, attributes, urgent, delete) = (*count, *attributes, *urgent, *delete);
                push(t0.ms, WorldAction::DirectoryChange { dc, count, attributes, urgent, delete });
            }
            Action::ClockSkew { at: t0, dc, skew, behind } => {
                let Some(d) = self.reference(&ctx.names.dcs, "domain controller", dc, &at.key("dc")) else {
                    return;
                };
                if !ctx.replicating {
                    self.error(
                        at,
                        "clock skew needs topology.ad_replication (the directory is not simulated without it)",
                    );
                }
                // A bound: a clock more than a tombstone lifetime off is another failure.
                if skew.ms > org::directory::ad_replication::TOMBSTONE_LIFETIME_MS {
                    self.error(&at.key("skew"), "expected a skew of at most 60 days");
                }
                let ms = skew.ms as i64;
                push(t0.ms, WorldAction::ClockSkew(DcId(d as u16), if *behind { -ms } else { ms }));
            }
            _ => {}
        }
    }

    /// A DC taken down or brought back, which must be simulated.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn dc_fault(
        &mut self,
        ctx: &Context<'_>,
        i: usize,
        at: &JsonPath,
        steps: &mut Steps,
        t0: u64,
        dc: &str,
        down: bool,
    ) {
        let mut push = |ms: u64, action| steps.timeline.push((ms, i, action));
        let Some(d) = self.reference(&ctx.names.dcs, "domain controller", dc, &at.key("dc")) else {
            return;
        };
        if !ctx.simulated_dcs {
            self.error(
                at,
                "DC faults need a simulated DC: topology.ad_replication, topology.dsaccess or groups to expand",
            );
        }
        push(t0, if down { WorldAction::DcDown(DcId(d as u16)) } else { WorldAction::DcUp(DcId(d as u16)) });
    }

    /// An administrator's change of a recipient's attributes.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn modify_recipient(
        &mut self,
        ctx: &Context<'_>,
        i: usize,
        at: &JsonPath,
        steps: &mut Steps,
        t0: u64,
        (recipient, attributes, domain_controller): (
            &str,
            &BTreeMap<String, crate::scenario::AttributeValues>,
            &Option<String>,
        ),
        people: &mut People,
    ) {
        let found = self.lookup_recipient(&people.book, recipient, &at.key("recipient"));
        let Some(id) = found.filter(|id| people.directory.object(*id).is_some()) else {
            if found.is_some() {
                self.error(&at.key("recipient"), format!("{recipient:?} is no recipient object"));
            }
            return;
        };
        if attributes.is_empty() {
            self.error(&at.key("attributes"), "expected at least one attribute");
        }
        self.attribute_names(attributes, &at.key("attributes"));
        let change = ModificationKind::Attributes(attributes.clone());
        self.write_modification(ctx, i, at, steps, t0, (id, attributes, change, domain_controller), people);
    }

    /// A modification's values in the scenario's directory and its step on the timeline.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    fn write_modification(
        &mut self,
        ctx: &Context<'_>,
        i: usize,
        at: &JsonPath,
        steps: &mut Steps,
        t0: u64,
        (id, attributes, change, domain_controller): (
            AddressId,
            &BTreeMap<String, crate::scenario::AttributeValues>,
            ModificationKind,
            &Option<String>,
        ),
        people: &mut People,
    ) {
        let written = attribute_map(attributes, None);
        people.directory.add_modification(id, Instant(t0), written.clone());
        let modification = self.modification(ctx, at, people, id, change, domain_controller, written);
        steps.timeline.push((t0, i, WorldAction::ModifyRecipient(steps.modifications.len())));
        steps.modifications.push(modification);
    }

    /// `rename_smtp_domain`: each recipient at `from` (or each named one) gets its
    /// address at `to` as `mail`, the old one kept as a secondary proxy.
    #[allow(clippy::too_many_arguments)]
    fn rename_smtp_domain(
        &mut self,
        ctx: &Context<'_>,
        i: usize,
        at: &JsonPath,
        steps: &mut Steps,
        t0: u64,
        (from, to, named, domain_controller): (&str, &str, &[String], &Option<String>),
        people: &mut People,
    ) {
        let domains = &ctx.scenario.recipients.smtp_domains;
        for (key, domain) in [("from", from), ("to", to)] {
            if !domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
                self.error(&at.key(key), format!("expected one of recipients.smtp_domains, not {domain:?}"));
                return;
            }
        }
        if from.eq_ignore_ascii_case(to) {
            return self.error(&at.key("to"), "expected another domain than \"from\"");
        }
        let suffix = format!("@{}", from.to_ascii_lowercase());
        let at_domain = |id: AddressId| people.book.addresses[id.0 as usize].to_ascii_lowercase().ends_with(&suffix);
        let ids: Vec<AddressId> = if named.is_empty() {
            let all = (0..people.book.addresses.len() as u32).map(AddressId);
            all.filter(|id| people.directory.object(*id).is_some() && at_domain(*id)).collect()
        } else {
            let found = named
                .iter()
                .enumerate()
                .map(|(k, n)| self.lookup_recipient(&people.book, n, &at.key("recipients").index(k)));
            let found: Option<Vec<AddressId>> = found.collect();
            let Some(found) = found else { return };
            if let Some(k) = found.iter().position(|id| !at_domain(*id)) {
                return self
                    .error(&at.key("recipients").index(k), format!("expected a recipient with an address at {from}"));
            }
            found
        };
        if ids.is_empty() {
            return self.error(&at.key("from"), format!("no recipient has an address at {from}"));
        }
        for id in ids {
            let address = people.book.addresses[id.0 as usize].clone();
            let local = address.rsplit_once('@').map_or(address.as_str(), |(l, _)| l).to_string();
            let attributes: BTreeMap<String, crate::scenario::AttributeValues> = [
                ("mail".to_string(), crate::scenario::AttributeValues::One(format!("{local}@{to}"))),
                ("proxyAddresses".to_string(), crate::scenario::AttributeValues::One(format!("smtp:{address}"))),
            ]
            .into();
            let change = ModificationKind::Readdressed { from: from.to_string(), to: to.to_string() };
            self.write_modification(ctx, i, at, steps, t0, (id, &attributes, change, domain_controller), people);
        }
    }

    /// `churn_recipients`: each round, `count` mailbox users picked by a stream of the
    /// step's own (the same for every seed) get a new value of the attribute.
    #[allow(clippy::too_many_arguments)]
    fn churn_recipients(
        &mut self,
        ctx: &Context<'_>,
        i: usize,
        at: &JsonPath,
        steps: &mut Steps,
        t0: u64,
        (count, attribute, repeat, every_ms, domain_controller): (u32, &str, u32, u64, &Option<String>),
        people: &mut People,
    ) {
        let users: Vec<AddressId> = people.mailboxes_by_server.iter().flatten().copied().collect();
        if count as usize > users.len() {
            self.error(&at.key("count"), format!("expected at most the {} mailbox users", users.len()));
            return;
        }
        if repeat > 1 && every_ms == 0 {
            self.error(&at.key("every"), "expected a time above 0s between rounds");
            return;
        }
        let last = t0 + every_ms * u64::from(repeat.saturating_sub(1));
        if last > ctx.scenario.duration.ms {
            self.error(
                &at.key("repeat"),
                format!("its last round, at {}, is after the run's end", crate::units::Duration::from_ms(last)),
            );
            return;
        }
        let mut stream = crate::rng::Stream::new(0, &format!("churn_recipients:{i}"));
        for round in 0..repeat {
            let mut picked = std::collections::BTreeSet::new();
            while picked.len() < count as usize {
                picked.insert(users[(stream.unit() * users.len() as f64) as usize]);
            }
            let t = t0 + every_ms * u64::from(round);
            for (k, user) in picked.into_iter().enumerate() {
                let value = format!("+1 425 555 {round:03}{k:05}");
                let attributes = [(attribute.to_string(), crate::scenario::AttributeValues::One(value))].into();
                let name = people.book.addresses[user.0 as usize].clone();
                self.modify_recipient(ctx, i, at, steps, t, (&name, &attributes, domain_controller), people);
            }
        }
    }

    /// An administrator's change of a standard group's members.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn modify_group(
        &mut self,
        ctx: &Context<'_>,
        i: usize,
        at: &JsonPath,
        steps: &mut Steps,
        t0: u64,
        (group, add, remove, domain_controller): (&str, &[String], &[String], &Option<String>),
        people: &mut People,
    ) {
        let mut push = |ms: u64, action| steps.timeline.push((ms, i, action));
        let found = self.lookup_recipient(&people.book, group, &at.key("group"));
        let Some(id) = found else { return };
        let static_group = match people.directory.object(id).map(|o| o.recipient) {
            Some(Recipient::Group(g)) => match &people.directory.group(g).membership {
                Membership::Static { members, .. } => Some((g, members.clone())),
                Membership::Query { .. } => None,
            },
            _ => None,
        };
        let Some((g, listed)) = static_group else {
            self.error(
                &at.key("group"),
                format!("{group:?} is no standard distribution group (a query-based group's members are its filter's)"),
            );
            return;
        };
        if add.is_empty() && remove.is_empty() {
            self.error(at, "expected members to \"add\" or \"remove\"");
        }
        // The members as of this change: the latest earlier change, else as listed.
        let mut members = people.directory.membership_as_of(g, Instant(t0)).unwrap_or(listed);
        for (k, name) in add.iter().enumerate() {
            let Some(m) = self.lookup_recipient(&people.book, name, &at.key("add").index(k)) else { return };
            if members.contains(&m) {
                self.error(&at.key("add").index(k), format!("{name:?} is already a member"));
            } else if m == id {
                self.error(&at.key("add").index(k), "a group cannot be its own member");
            } else {
                members.push(m);
            }
        }
        for (k, name) in remove.iter().enumerate() {
            let Some(m) = self.lookup_recipient(&people.book, name, &at.key("remove").index(k)) else { return };
            match members.iter().position(|x| *x == m) {
                Some(p) => {
                    members.remove(p);
                }
                None => self.error(&at.key("remove").index(k), format!("{name:?} is not a member then")),
            }
        }
        people.directory.add_membership_change(g, Instant(t0), members.clone());
        let written = [(MEMBER_ATTRIBUTE.to_string(), org::directory::global_catalog::member_values(&members))].into();
        let change = ModificationKind::Members { add: add.to_vec(), remove: remove.to_vec() };
        let modification = self.modification(ctx, at, people, id, change, domain_controller, written);
        push(t0, WorldAction::ModifyRecipient(steps.modifications.len()));
        steps.modifications.push(modification);
    }

    /// A modification of `id` as the run makes it, on the DC it is written on (with
    /// replication).
    #[allow(clippy::too_many_arguments)]
    fn modification(
        &mut self,
        ctx: &Context<'_>,
        at: &JsonPath,
        people: &People,
        id: AddressId,
        change: ModificationKind,
        domain_controller: &Option<String>,
        written: BTreeMap<String, Vec<String>>,
    ) -> Modification {
        let t = &ctx.scenario.topology;
        let dc = self.modification_dc(t, &people.directory, id, domain_controller, ctx.rus_dcs, &ctx.names.dcs, at);
        let dc = dc.filter(|_| ctx.replicating);
        Modification { recipient: id, change, domain_controller: domain_controller.clone(), dc, written }
    }

    /// A `move_mailboxes` step: its mailboxes (named, or the first of a store's in
    /// alias order), each homed elsewhere than the target, and a cancel time after
    /// the start.
    #[allow(clippy::type_complexity)]
    fn move_task(
        &mut self,
        org: &Org,
        people: &mut People,
        at: &JsonPath,
        start_ms: u64,
        (named, from_store, count, to_store, cancel_at): (
            &[String],
            &Option<String>,
            Option<u32>,
            &str,
            Option<crate::units::Duration>,
        ),
    ) -> Option<MoveTaskSpec> {
        let to = org::StoreId(self.reference(&org.stores, "mailbox store", to_store, &at.key("to_store"))? as u16);
        let mailboxes = match (named.is_empty(), from_store) {
            (false, None) => named
                .iter()
                .enumerate()
                .filter_map(|(k, name)| self.lookup_recipient(&people.book, name, &at.key("mailboxes").index(k)))
                .collect::<Vec<_>>(),
            (true, Some(store)) => {
                let from = self.reference(&org.stores, "mailbox store", store, &at.key("from_store"))?;
                let mut of_store: Vec<AddressId> = people
                    .directory
                    .objects()
                    .map(|(a, _)| a)
                    .filter(|a| people.directory.lookup(*a).is_some_and(|e| usize::from(e.store.0) == from))
                    .collect();
                of_store.sort_by(|a, b| people.book.addresses[a.0 as usize].cmp(&people.book.addresses[b.0 as usize]));
                of_store.truncate(count.map_or(usize::MAX, |c| c as usize));
                of_store
            }
            _ => {
                self.error(at, "expected exactly one of `mailboxes` (aliases) and `from_store` (a mailbox store)");
                return None;
            }
        };
        for (k, m) in mailboxes.iter().enumerate() {
            match people.directory.lookup(*m) {
                None => self.error(
                    &at.key("mailboxes").index(k),
                    format!("{:?} has no mailbox", people.book.addresses[m.0 as usize]),
                ),
                Some(e) if e.store == to => self.error(
                    &at.key("to_store"),
                    format!("{:?} is already in {to_store:?}", people.book.addresses[m.0 as usize]),
                ),
                Some(_) => {}
            }
        }
        if cancel_at.is_some_and(|c| c.ms <= start_ms) {
            self.error(&at.key("cancel_at"), "expected a cancel time after the task starts");
        }
        Some(MoveTaskSpec { mailboxes, to_store: to, cancel_at: cancel_at.map(|c| Instant(c.ms)) })
    }

    /// A server a `server_crash` or `server_restart` names: not a cluster's virtual
    /// server, which fails with its node.
    fn standalone_server(&mut self, names: &Targets, org: &Org, server: &str, at: &JsonPath) -> Option<ServerId> {
        let s = ServerId(self.reference(&org.servers, "server", server, &at.key("server"))? as u16);
        if names.is_virtual_server(s) {
            self.error(
                &at.key("server"),
                format!("server {server:?} is a cluster's virtual server: it fails with its node (node_down)"),
            );
            return None;
        }
        Some(s)
    }

    /// A crash finds its server up, a restart finds it down.
    pub(super) fn crash_order(&mut self, t: &TopologyDef, timeline: &[(u64, usize, WorldAction)]) {
        let tlp = p().key("timeline");
        let mut down: BTreeSet<ServerId> = BTreeSet::new();
        for (ms, i, action) in timeline {
            let at = tlp.index(*i);
            match action {
                WorldAction::Crash(s, _) if !down.insert(*s) => {
                    self.error(
                        &at,
                        format!(
                            "server {:?} is already down at {}",
                            t.servers[usize::from(s.0)].name,
                            crate::units::Duration::from_ms(*ms)
                        ),
                    );
                }
                WorldAction::Restart(s) if !down.remove(s) => {
                    self.error(
                        &at,
                        format!(
                            "server {:?} is not down at {}; restart follows a server_crash",
                            t.servers[usize::from(s.0)].name,
                            crate::units::Duration::from_ms(*ms)
                        ),
                    );
                }
                _ => {}
            }
        }
    }
    /// A timeline `send`: the sender (a mailbox user, or an outside SMTP address coming
    /// in `via` a server), the recipients (aliases or outside addresses) and where the
    /// message enters.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send(
        &mut self,
        book: &mut AddressBook,
        external: &mut ExternalDirectory,
        r: &crate::scenario::Recipients,
        t: &crate::scenario::TopologyDef,
        at: &JsonPath,
        from: &str,
        (to, bcc): (&[String], &[String]),
        via: &Option<String>,
        authenticated: Option<bool>,
        directory: &GlobalCatalog,
    ) -> Option<SendSpec> {
        let servers = Names::of(t.servers.iter().map(|s| s.name.as_str()));
        let via = match via {
            Some(name) => Some(ServerId(self.reference(&servers, "server", name, &at.key("via"))? as u16)),
            None => None,
        };
        let known = book.address(from);
        let (sender, server, authenticated) = if from.contains('@') && known.is_none() {
            let sender = self.add_external(book, external, &r.smtp_domains, from, &at.key("from"), false)?;
            let Some(server) = via else {
                self.error(&at.key("via"), "a sender outside the organization needs \"via\": the server whose SMTP virtual server takes the message");
                return None;
            };
            (sender, server, authenticated.unwrap_or(false))
        } else {
            let sender = match known {
                Some(id) => id,
                None => self.lookup_alias(book, from, &at.key("from"))?,
            };
            let Some(home) = directory.lookup(sender).map(|m| m.home_server) else {
                self.error(
                    &at.key("from"),
                    format!("{from:?} has no mailbox: expected a mailbox user's alias or an outside SMTP address"),
                );
                return None;
            };
            (sender, via.unwrap_or(home), authenticated.unwrap_or(true))
        };
        if to.is_empty() {
            self.error(&at.key("to"), "expected at least one recipient");
        }
        let mut recipients = Vec::new();
        let mut listed = BTreeSet::new();
        let named = to.iter().map(|n| ("to", n)).enumerate();
        let blind = bcc.iter().map(|n| ("bcc", n)).enumerate();
        for (k, (field, name)) in named.chain(blind) {
            let rat = at.key(field).index(k);
            let id = if name.contains('@') {
                match book.address(name) {
                    Some(id) => Some(id),
                    None => self.add_external(book, external, &r.smtp_domains, name, &rat, false),
                }
            } else {
                self.lookup_alias(book, name, &rat)
            };
            match id {
                Some(id) if !listed.insert(id) => self.error(&rat, format!("{name:?} is listed twice")),
                Some(id) => recipients.push(id),
                None => {}
            }
        }
        let mapi = via.is_none();
        let scl = org::message::SCL_NOT_RATED;
        let named = recipients.len().min(to.len());
        Some(SendSpec { server, sender, recipients, named, authenticated, mapi, count: 1, size_bytes: 0, scl })
    }

    /// A `send`'s SCL: only anonymous mail from outside is rated (EXCHANGE2003.md §3.1).
    fn send_scl(&mut self, at: &JsonPath, scl: Option<u8>, send: &SendSpec) -> i8 {
        match scl {
            None => org::message::SCL_NOT_RATED,
            Some(_) if send.mapi || send.authenticated => {
                self.error(&at.key("scl"), "only anonymous mail from outside is rated: authenticated mail has SCL -1");
                org::message::SCL_NOT_RATED
            }
            Some(scl) if scl > 9 => {
                self.error(&at.key("scl"), format!("expected an SCL from 0 to 9, found {scl}"));
                org::message::SCL_NOT_RATED
            }
            Some(scl) => scl as i8,
        }
    }
}

impl Resolver<'_> {
    /// What a `set_quota` changes: exactly one of a user's mailbox or a mailbox store.
    fn quota_target(
        &mut self,
        org: &Org,
        people: &mut People,
        at: &JsonPath,
        mailbox: &Option<String>,
        database: &Option<String>,
    ) -> Option<org::config::topology::QuotaTarget> {
        use org::config::topology::QuotaTarget;
        match (mailbox, database) {
            (Some(name), None) => {
                let id = self.lookup_recipient(&people.book, name, &at.key("mailbox"))?;
                if people.directory.lookup(id).is_none() {
                    self.error(&at.key("mailbox"), format!("{name:?} has no mailbox"));
                    return None;
                }
                Some(QuotaTarget::Mailbox(id))
            }
            (None, Some(name)) => {
                let d = self.reference(&org.stores, "mailbox store", name, &at.key("database"))?;
                Some(QuotaTarget::Store(org::StoreId(d as u16)))
            }
            _ => {
                self.error(at, "expected exactly one of `mailbox` (a user's alias) and `database` (a mailbox store)");
                None
            }
        }
    }
}
