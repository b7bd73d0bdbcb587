//! A domain controller's node: its replica, replication schedule and GC searches;
//! bulk changes from the timeline; what it stores and sends, traced and accounted.

use super::recipient_writes::RecipientAdmin;
use super::*;
use org::directory::global_catalog::{AddressListPage, LdapQuery, PagedSearches, LDAP_ENTRY_COST_US};

/// What a DC node is told.
pub(super) enum DcInput {
    /// The DC's clock is set this far off true time (ms).
    ClockSkew(i64),
    /// A bulk originating change.
    Write { count: u32, attributes: u32, urgent: bool, delete: bool },
    /// An administrator changes a recipient's attributes on this DC.
    ModifyRecipient(ObjectWrite),
}

/// Which replicas hold the winning write of each attribute of a domain's objects: a
/// replica's backlog is the attributes whose winner it does not hold yet.
#[derive(Clone, Debug, Default)]
pub(super) struct Winners {
    /// (object, attribute) → the best write's rank and the replicas holding it (a bit
    /// each, by replica index: at most `MAX_REPLICAS`).
    pub(super) best: BTreeMap<(ObjectId, String), (Rank, u128)>,
}

/// The order conflicts settle in: version, originating time, originating DC.
pub(super) type Rank = (u32, u64, DcId);

pub(super) fn rank(meta: &AttributeMeta) -> Rank {
    (meta.version, meta.originating_time_ms, meta.originating_dc)
}

/// One replica as `repadmin` shows it, at its DC's last step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DcSummary {
    /// Its highest USN.
    pub usn: u64,
    /// Its up-to-dateness vector: per originating DC, the highest originating USN applied.
    pub utd: BTreeMap<DcId, u64>,
    /// Per source, its high-water mark.
    pub high_water_marks: BTreeMap<DcId, u64>,
    /// Objects held, tombstones included.
    pub objects: usize,
    /// Tombstones among them.
    pub tombstones: usize,
    /// Attributes whose winning write it does not hold yet.
    pub backlog: u64,
    /// Whether it answers.
    pub up: bool,
}

impl DcSummary {
    fn of(replica: &org::directory::ad_replication::Replica) -> Self {
        DcSummary {
            usn: replica.usn(),
            utd: replica.utd().clone(),
            high_water_marks: replica.high_water_marks(),
            objects: replica.object_count(),
            tombstones: replica.tombstone_count(),
            backlog: 0,
            up: true,
        }
    }
}

/// Directory replication totals of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct DirectoryTotals {
    /// Replication bytes on the wire (requests, notifications and changes).
    pub replication_bytes: u64,
    /// Since when every replica of each domain has agreed, to the end of the run
    /// (`None`: they did not agree at the end).
    pub converged_at_s: Option<f64>,
}

/// Attribute names a bulk change writes, in order [U].
pub(super) const CHANGED_ATTRIBUTES: [&str; 8] =
    ["displayname", "department", "title", "description", "telephonenumber", "company", "office", "manager"];

/// A domain controller: its replica and replication schedule; bulk changes from the
/// timeline; what it stores and sends, traced and accounted.
pub(super) async fn dc_node(world: Shared, id: DcId) {
    let (mut dc, name, mut admin, mut partials, domain, logic) = {
        let mut w = lock(&world);
        w.dc_inboxes[usize::from(id.0)].open();
        w.posts.of(Node::Dc(id)).open();
        let spec = w.dc_spec(id).clone();
        let now = Instant(w.now_us() / 1_000);
        let mut rng = Stream::new(w.seed, &format!("dc:{}/replication", spec.name));
        let plants = w.resolved.topology.plants;
        let admin = RecipientAdmin::new(&spec);
        let dc =
            DomainController::new(id, spec.version, spec.inbound, spec.notify_targets.clone(), now, &mut rng, plants);
        // A GC's partial replicas of the other domains, each pulled on its own schedule.
        let dir = w.resolved.directory.as_ref().expect("DC nodes exist only with a directory");
        let partials: Vec<PartialReplica> = dir
            .partials
            .iter()
            .enumerate()
            .filter(|(_, p)| p.host == id)
            .map(|(k, p)| {
                let index = dir.dcs.len() + k;
                let replica =
                    DomainController::new(id, spec.version, p.inbound.clone(), Vec::new(), now, &mut rng, plants);
                PartialReplica { domain: p.domain, index, name: dir.replica_names[index].clone(), dc: replica }
            })
            .collect();
        (dc, spec.name, admin, partials, spec.domain, spec.version.filter_logic())
    };
    // GC answers being prepared: (ready, search, asking server) → page.
    let mut ldap_out: BTreeMap<(u64, org::directory::global_catalog::LdapSearchId, ServerId), LdapPage> =
        BTreeMap::new();
    let mut gc = PagedSearches::new(AdDomainId(domain as u16), logic);
    let mut address_lists = org::directory::global_catalog::AddressListSearches::default();
    // Address list pages being prepared: (ready, search, asking server) → page.
    let mut lists_out: BTreeMap<(u64, org::directory::global_catalog::LdapSearchId, ServerId), AddressListPage> =
        BTreeMap::new();
    let (replicating, domain_count, forest) = {
        let w = lock(&world);
        let forest = w.resolved.domain_forest[domain];
        (w.resolved.directory.as_ref().is_some_and(|d| d.replicating), w.resolved.domains.len(), forest)
    };
    loop {
        let now_us = lock(&world).now_us();
        let now = Instant(now_us / 1_000);
        loop {
            let (wire, usable) = {
                let mut w = lock(&world);
                let Some(wire) = w.posts.of(Node::Dc(id)).take_due(now_us) else { break };
                let usable = w.dc_up[usize::from(id.0)] && w.wan.intact(wire.link);
                (wire, usable)
            };
            if let (true, Node::Server(from), Payload::Ldap(search)) = (usable, wire.from, &wire.payload) {
                let topology = lock(&world).resolved.topology.clone();
                // A GC serves its own forest's objects.
                let gal = topology.gal(forest);
                if let LdapQuery::AddressList { page } = search.query {
                    let naming = &topology.legacy_dn_naming;
                    let planted = topology.bug(org::planted_bugs::PlantedBug::OabReadsDirectoryNow);
                    let answer = if replicating && !planted {
                        let mut replicas = vec![None; domain_count];
                        replicas[domain] = Some(dc.replica());
                        for p in &partials {
                            replicas[p.domain] = Some(p.dc.replica());
                        }
                        let view = ReplicaView { replicas: &replicas, now };
                        address_lists.answer(gal, naming, from, search.search, page, &view)
                    } else {
                        address_lists.answer(gal, naming, from, search.search, page, &AsOf(now))
                    };
                    // [U]: the GC spends LDAP_ENTRY_COST_US on each entry it returns.
                    let ready_us = now_us + LDAP_ENTRY_COST_US * (answer.entries.len() as u64).max(1);
                    lists_out.insert((ready_us, search.search, from), answer);
                    continue;
                }
                // A GC answers from its replicas when the directory replicates.
                let page = if replicating && !topology.bug(org::planted_bugs::PlantedBug::GcIgnoresReplication) {
                    let mut replicas = vec![None; domain_count];
                    replicas[domain] = Some(dc.replica());
                    for p in &partials {
                        replicas[p.domain] = Some(p.dc.replica());
                    }
                    gc.answer(gal, from, search, &ReplicaView { replicas: &replicas, now })
                } else {
                    gc.answer(gal, from, search, &AsOf(now))
                };
                // [U]: the GC spends LDAP_ENTRY_COST_US on each entry it returns.
                let entries = page.result.as_ref().map_or(0, |m| m.len() as u64);
                let ready_us = now_us + LDAP_ENTRY_COST_US * entries.max(1);
                ldap_out.insert((ready_us, search.search, from), page);
                continue;
            }
            if let (true, Node::Dc(from), Payload::Ad(nc, message)) = (usable, wire.from, wire.payload) {
                let incoming: Vec<(ObjectId, String, AttributeMeta)> = match &message {
                    DcMessage::Changes(batch) => {
                        batch.changes.iter().map(|c| (c.object, c.attribute.clone(), c.meta)).collect()
                    }
                    _ => Vec::new(),
                };
                let nc = usize::from(nc.0);
                if nc == domain {
                    dc.handle_message(now, from, message);
                    report_stored(&world, usize::from(id.0), domain, dc.replica(), &incoming);
                } else if let Some(p) = partials.iter_mut().find(|p| p.domain == nc) {
                    p.dc.handle_message(now, from, message);
                    report_stored(&world, p.index, nc, p.dc.replica(), &incoming);
                }
            }
        }
        send_ready(&world, id, now_us, &mut lists_out, |p| (p.wire_size_bytes(), Payload::AddressList(p)));
        send_ready(&world, id, now_us, &mut ldap_out, |p| (p.wire_size_bytes(), Payload::LdapPage(p)));
        if admin.deadline().is_some_and(|t| t <= now) {
            admin.step(&world, &mut dc, &name, now);
        }
        if dc.poll_timeout().is_some_and(|t| t <= now) {
            dc.handle_timeout(now);
        }
        for p in &mut partials {
            if p.dc.poll_timeout().is_some_and(|t| t <= now) {
                p.dc.handle_timeout(now);
            }
        }
        {
            let mut w = lock(&world);
            send_outputs(&mut w, &mut dc, AdDomainId(domain as u16), &name, now_us);
            for p in &mut partials {
                send_outputs(&mut w, &mut p.dc, AdDomainId(p.domain as u16), &p.name, now_us);
            }
            if replicating {
                w.checker.dc_digest(usize::from(id.0), dc.replica().digest());
                for p in &partials {
                    w.checker.dc_digest(p.index, p.dc.replica().digest());
                }
                w.dc_summaries[usize::from(id.0)] = DcSummary::of(dc.replica());
                for p in &partials {
                    w.dc_summaries[p.index] = DcSummary::of(p.dc.replica());
                }
                let backlogs = w.dc_backlogs();
                w.checker.set_dc_backlogs(backlogs);
                let agreed = w.checker.directory_agreement().is_ok();
                match (agreed, w.directory_agreed_since) {
                    (true, None) => w.directory_agreed_since = Some(now.as_ms()),
                    (false, Some(_)) => w.directory_agreed_since = None,
                    _ => {}
                }
            }
        }
        let deadline_us = [
            ldap_out.first_key_value().map(|(k, _)| k.0),
            lists_out.first_key_value().map(|(k, _)| k.0),
            dc.poll_timeout().map(|t| t.as_ms() * 1_000),
            partials.iter().filter_map(|p| p.dc.poll_timeout()).min().map(|t| t.as_ms() * 1_000),
            admin.deadline().map(|t| t.as_ms() * 1_000),
        ]
        .into_iter()
        .flatten()
        .min();
        let deadline_us = deadline_us.map(|us| us.max(now_us));
        match wait(&world, Node::Dc(id), |w| w.dc_inboxes[usize::from(id.0)].take(), deadline_us, now_us).await {
            Some(Some(DcInput::Write { count, attributes, urgent, delete })) => {
                let now = Instant(lock(&world).now_us() / 1_000);
                let writes: Vec<ObjectWrite> = (1..=u64::from(count))
                    .map(|n| {
                        if delete {
                            let tombstone = vec![(
                                org::directory::ad_replication::IS_DELETED.to_string(),
                                vec!["TRUE".to_string()],
                            )];
                            return (ObjectId(n), tombstone);
                        }
                        let attrs = CHANGED_ATTRIBUTES
                            .iter()
                            .cycle()
                            .take(attributes as usize)
                            .enumerate()
                            .map(|(k, a)| {
                                (
                                    format!("{a}{}", k / CHANGED_ATTRIBUTES.len()),
                                    vec![format!("{a}-{n}-{}", now.as_ms())],
                                )
                            })
                            .collect();
                        (ObjectId(n), attrs)
                    })
                    .collect();
                originate(&world, &mut dc, &name, now, &writes, urgent);
            }
            Some(Some(DcInput::ModifyRecipient(write))) => {
                let now = Instant(lock(&world).now_us() / 1_000);
                originate(&world, &mut dc, &name, now, &[write], false);
            }
            Some(Some(DcInput::ClockSkew(skew_ms))) => {
                // One machine, one clock: every replica it holds writes with it.
                dc.handle_clock_skew(skew_ms);
                for p in &mut partials {
                    p.dc.handle_clock_skew(skew_ms);
                }
            }
            Some(None) => return,
            None => {}
        }
    }
}

/// A GC's partial replica of another domain: its own replication state, pulled like a
/// full replica but never written to (EXCHANGE2003.md §2).
pub(super) struct PartialReplica {
    /// The domain.
    domain: usize,
    /// Its replica index (see `DirectorySpec::replicas`).
    index: usize,
    /// `DC/domain`, as traces name it.
    name: String,
    dc: DomainController,
}

/// Sends the GC's answers whose work is done by `now_us` (while the DC is up).
fn send_ready<P>(
    world: &Shared,
    id: DcId,
    now_us: u64,
    ready: &mut BTreeMap<(u64, org::directory::global_catalog::LdapSearchId, ServerId), P>,
    wire: impl Fn(P) -> (u64, Payload),
) {
    while let Some(entry) = ready.first_entry() {
        if entry.key().0 > now_us {
            break;
        }
        let ((_, _, to), page) = entry.remove_entry();
        let mut w = lock(world);
        if w.dc_up[usize::from(id.0)] {
            let (bytes, payload) = wire(page);
            w.transmit(Node::Dc(id), Node::Server(to), now_us, bytes, payload);
        }
    }
}

/// Sends what one replica of a DC asks to send (its naming context tagged) and traces
/// what it did.
pub(super) fn send_outputs(w: &mut World, dc: &mut DomainController, nc: AdDomainId, name: &str, now_us: u64) {
    let now = Instant(now_us / 1_000);
    let id = dc.id();
    for out in dc.drain_outputs() {
        match out {
            DcOutput::Send { to, message } => {
                let bytes = message.wire_size_bytes();
                if w.dc_up[usize::from(id.0)] {
                    w.ad_bytes += bytes;
                    w.ad_interval_bytes += bytes;
                }
                w.transmit(Node::Dc(id), Node::Dc(to), now_us, bytes, Payload::Ad(nc, message));
            }
            DcOutput::Event(DcEvent::Applied { source, stored, discarded, more }) => {
                let event = TraceEvent::AdReplicated { source: w.resolved.dc_name(source), stored, discarded, more };
                w.record(now.as_ms(), name, &event);
            }
            DcOutput::Event(DcEvent::Originated { attributes, usn }) => {
                w.record(now.as_ms(), name, &TraceEvent::DirectoryChange { attributes, usn });
            }
            DcOutput::Event(DcEvent::PullTimedOut { source }) => {
                let event = TraceEvent::AdPullTimedOut { source: w.resolved.dc_name(source) };
                w.record(now.as_ms(), name, &event);
            }
        }
    }
}

/// An originating write on a DC, refused (and traced) while the DC is down; whether it
/// was made.
pub(super) fn originate(
    world: &Shared,
    dc: &mut DomainController,
    name: &str,
    now: Instant,
    writes: &[ObjectWrite],
    urgent: bool,
) -> bool {
    if !lock(world).dc_up[usize::from(dc.id().0)] {
        let event = TraceEvent::DirectoryChangeRefused { objects: writes.len() as u32 };
        lock(world).record(now.as_ms(), name, &event);
        return false;
    }
    dc.handle_writes(now, writes, urgent);
    let written: Vec<(ObjectId, String, AttributeMeta)> = writes
        .iter()
        .flat_map(|(object, attrs)| attrs.iter().map(move |(a, _)| (*object, a.to_ascii_lowercase())))
        .filter_map(|(object, a)| {
            let meta = dc.replica().object(object)?.attributes.get(&a)?.meta;
            Some((object, a, meta))
        })
        .collect();
    let domain = lock(world).dc_spec(dc.id()).domain;
    report_stored(world, usize::from(dc.id().0), domain, dc.replica(), &written);
    true
}

/// Tells the world which of these writes a replica (by index, of `domain`) now holds
/// (for its backlog).
pub(super) fn report_stored(
    world: &Shared,
    index: usize,
    domain: usize,
    replica: &org::directory::ad_replication::Replica,
    writes: &[(ObjectId, String, AttributeMeta)],
) {
    let mut w = lock(world);
    for (object, attribute, meta) in writes {
        let held = replica.object(*object).and_then(|o| o.attributes.get(attribute)).map(|a| a.meta);
        if held == Some(*meta) {
            w.replica_stored(index, domain, *object, attribute, meta);
        }
    }
}
