//! The System Attendant's offline address list generation on an OAB's generation server
//! (EXCHANGE2003.md §9): at each scheduled time of day (05:00 by default) it reads the
//! address list from a global catalog — LDAP pages over the network, each page's bytes
//! on the links between — and runs OALGen on what it read. A GC that does not answer a
//! page in time is left for another (DSAccess failover) and the read starts again; with
//! every GC tried, the run ends without files and waits for its next time. A run that
//! overruns its next scheduled time is not interrupted: that start is skipped.
//!
//! The generator's previous files are on the server's disk; orgsim keeps them across
//! restarts (the world hands them back), so a crash costs the run in progress only.

use super::oab::address_entry::AddressEntry;
use super::oab::distribution::{posted, OabVersion};
use super::oab::oal_generator::{Generation, OabDefinition, OalGenerator};
use crate::config::topology::Topology;
use crate::directory::ad_replication::DcId;
use crate::directory::global_catalog::{AddressListPage, LdapQuery, LdapSearch, LdapSearchId};
use crate::public_folders::replication_message::FolderId;
use crate::service_events::{Outbox, Output, ToStore};
use crate::time::Instant;
use crate::timers::Timers;
use crate::trace::ServerEvent;
use crate::ServerId;
use std::collections::BTreeSet;
use std::sync::Arc;

/// An offline address book's index in the organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OabId(pub u16);

/// An offline address book as configured in the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OabConfig {
    /// What it is built from and how.
    pub definition: OabDefinition,
    /// Its generation server.
    pub server: ServerId,
    /// Start times of day, in milliseconds since midnight, sorted.
    pub schedule_ms: Vec<u64>,
    /// Its OFFLINE ADDRESS BOOK folders by version, where each run posts its files (on
    /// the generation server's public store); none: the files stay on the server.
    pub folders: Vec<(OabVersion, FolderId)>,
}

impl OabConfig {
    /// The folder of `version`'s files, if it has one.
    pub fn folder(&self, version: OabVersion) -> Option<FolderId> {
        self.folders.iter().find(|(v, _)| *v == version).map(|(_, f)| *f)
    }
}

/// How long OALGen waits for a GC's page before it fails over [U]: DSAccess's LDAP
/// timeout for the categorizer's searches is the model (two minutes).
pub const PAGE_TIMEOUT_MS: u64 = 120_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Scheduled(OabId),
    Page(OabId),
}

/// A read of the address list in progress.
#[derive(Debug)]
struct Reading {
    started: Instant,
    gc: DcId,
    search: LdapSearchId,
    page: u32,
    entries: Vec<AddressEntry>,
    bytes: u64,
    tried: BTreeSet<DcId>,
}

/// One OAB this server generates.
struct Generated {
    oab: OabId,
    generator: Arc<OalGenerator>,
    reading: Option<Reading>,
}

/// The System Attendant's OAB generation.
pub struct OalGeneration {
    id: ServerId,
    topology: Arc<Topology>,
    oabs: Vec<Generated>,
    timers: Timers<Timer>,
    next_search: LdapSearchId,
    out: Outbox,
}

/// A finished generation, for the world to keep (the server's disk) and distribute.
#[derive(Clone, Debug)]
pub struct GenerationDone {
    /// Which OAB.
    pub oab: OabId,
    /// The generator after the run (its previous files).
    pub generator: Arc<OalGenerator>,
    /// What the run produced.
    pub generation: Arc<Generation>,
}

/// Two finished runs are the same when they made the same files (the generators, big
/// and derived from those files, are compared by identity).
impl PartialEq for GenerationDone {
    fn eq(&self, other: &Self) -> bool {
        self.oab == other.oab && self.generation == other.generation && Arc::ptr_eq(&self.generator, &other.generator)
    }
}

impl Eq for GenerationDone {}

impl OalGeneration {
    /// The generation of the OABs `id` is the generation server of, from the state its
    /// disk kept (`kept`: generators by OAB, from their last runs).
    pub fn new(id: ServerId, topology: Arc<Topology>, kept: &[(OabId, Arc<OalGenerator>)], now: Instant) -> Self {
        let mut timers = Timers::default();
        let oabs = topology
            .offline_address_books
            .iter()
            .enumerate()
            .filter(|(_, c)| c.server == id)
            .map(|(i, c)| {
                let oab = OabId(i as u16);
                let generator = kept
                    .iter()
                    .find(|(k, _)| *k == oab)
                    .map(|(_, g)| g.clone())
                    .unwrap_or_else(|| Arc::new(new_generator(&topology, c)));
                if let Some(at) = next_start(&topology, c, now) {
                    timers.set(Timer::Scheduled(oab), at);
                }
                Generated { oab, generator, reading: None }
            })
            .collect();
        // Search numbers of their own: SMTPSVC's start at 0, these from the top half.
        Self { id, topology, oabs, timers, next_search: LdapSearchId(1 << 62), out: Outbox::default() }
    }

    /// The next wake-up.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// What it produced for the server to collect.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.out
    }

    /// Timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::Scheduled(oab) => self.scheduled(now, oab),
                Timer::Page(oab) => self.page_timed_out(now, oab),
            }
        }
    }

    fn config(&self, oab: OabId) -> &OabConfig {
        &self.topology.offline_address_books[usize::from(oab.0)]
    }

    fn scheduled(&mut self, now: Instant, oab: OabId) {
        if let Some(at) = next_start(&self.topology, self.config(oab), now.plus_ms(1)) {
            self.timers.set(Timer::Scheduled(oab), at);
        }
        if slot(&mut self.oabs, oab).reading.is_some() {
            self.out.emit(ServerEvent::OabRunSkipped { oab });
            return;
        }
        let reading = Reading {
            started: now,
            gc: DcId(0),
            search: LdapSearchId(0),
            page: 0,
            entries: Vec::new(),
            bytes: 0,
            tried: BTreeSet::new(),
        };
        slot(&mut self.oabs, oab).reading = Some(reading);
        self.ask(now, oab);
    }

    /// Asks the next page. A read (its first page) takes a GC not yet tried in this run
    /// (own site's first) and a search number of its own, which every page of it carries:
    /// the GC pages one list per search, so two OABs read at once do not mix.
    fn ask(&mut self, now: Instant, oab: OabId) {
        let topology = self.topology.clone();
        let candidates = &topology.server(self.id).global_catalogs;
        let slot = slot(&mut self.oabs, oab);
        let reading = slot.reading.as_mut().expect("reading");
        if reading.page == 0 {
            let Some(gc) = candidates.iter().copied().find(|gc| !reading.tried.contains(gc)) else {
                let gcs_tried = reading.tried.len() as u32;
                slot.reading = None;
                self.out.emit(ServerEvent::OabRunFailed { oab, gcs_tried });
                return;
            };
            reading.gc = gc;
            reading.search = self.next_search;
            self.next_search = self.next_search.next();
        }
        let (to, page, search) = (reading.gc, reading.page, reading.search);
        self.out.output(Output::Ldap { to, search: LdapSearch { search, query: LdapQuery::AddressList { page } } });
        self.timers.set(Timer::Page(oab), now.plus_ms(PAGE_TIMEOUT_MS));
    }

    fn page_timed_out(&mut self, now: Instant, oab: OabId) {
        let Some(reading) = slot(&mut self.oabs, oab).reading.as_mut() else { return };
        let gc = reading.gc;
        reading.tried.insert(gc);
        reading.page = 0;
        reading.entries.clear();
        self.out.emit(ServerEvent::OabGcFailover { oab, gc });
        self.ask(now, oab);
    }

    /// A GC answered a page of the address list: the next is asked, or the run is made
    /// and its files handed to the world (the server's disk, and distribution).
    pub fn handle_address_list_page(&mut self, now: Instant, from: DcId, page: AddressListPage) {
        let Some(slot) = self.oabs.iter_mut().find(|g| g.reading.as_ref().is_some_and(|r| r.search == page.search))
        else {
            return;
        };
        let oab = slot.oab;
        let reading = slot.reading.as_mut().expect("found by its search");
        if reading.gc != from || reading.page != page.page {
            return; // a page of a search given up on
        }
        self.timers.cancel(Timer::Page(oab));
        reading.bytes += page.wire_size_bytes();
        reading.entries.extend(page.entries);
        if page.more {
            reading.page += 1;
            self.ask(now, oab);
            return;
        }
        let reading = slot.reading.take().expect("reading");
        let generator = Arc::make_mut(&mut slot.generator);
        let generation = Arc::new(generator.generate(&reading.entries));
        let done = GenerationDone { oab, generator: slot.generator.clone(), generation };
        emit_generation(&mut self.out, oab, &reading, now, &done.generation);
        for (version, files) in posted(oab, &done.generation) {
            if let Some(folder) = self.config(oab).folder(version) {
                self.out.to_store(ToStore::PostOabFiles { folder, files });
            }
        }
        self.out.output(Output::OabGenerated(Box::new(done)));
    }
}

/// A generator that has not run yet, with the planted bugs the run switched on.
pub fn new_generator(topology: &Topology, config: &OabConfig) -> OalGenerator {
    let mut g = OalGenerator::new(config.definition.clone());
    plant_bugs(&mut g, topology);
    g
}

/// Switches on in `g` the planted bugs of OALGen the run switched on.
pub fn plant_bugs(g: &mut OalGenerator, topology: &Topology) {
    use crate::planted_bugs::PlantedBug;
    if topology.bug(PlantedBug::OabSp1RulesOnSp2) {
        g.plant_sp1_rules_on_sp2();
    }
    if topology.bug(PlantedBug::OabDiffWrongGeneration) {
        g.plant_patch_against_first();
    }
}

fn slot(oabs: &mut [Generated], oab: OabId) -> &mut Generated {
    oabs.iter_mut().find(|g| g.oab == oab).expect("an OAB generated here")
}

fn emit_generation(out: &mut Outbox, oab: OabId, reading: &Reading, now: Instant, g: &Generation) {
    for event in &g.events {
        out.emit(ServerEvent::OabEvent { oab, logged: event.clone() });
    }
    let v4 = g.v4.as_ref();
    let legacy = |i: usize| g.legacy_files.as_ref().map(|l| &l.versions[i]);
    let full = |i| legacy(i).map(|v| v.full_bytes());
    let changes = |i| legacy(i).and_then(|v| v.changes.as_ref()).map(|c| c.len() as u64);
    out.emit(ServerEvent::OabGenerated {
        oab,
        gc: reading.gc,
        read_ms: now.as_ms() - reading.started.as_ms(),
        read_bytes: reading.bytes,
        records: g.records as u64,
        added: g.added as u64,
        removed: g.removed as u64,
        changed: g.changed as u64,
        v4_sequence: v4.map(|v| v.sequence),
        v4_full_bytes: v4.map(|v| v.full.len() as u64),
        v4_compressed_bytes: v4.map(|v| v.compressed.len() as u64),
        v4_patch_bytes: v4.and_then(|v| v.patch.as_ref()).map(|p| p.len() as u64),
        legacy: g.legacy.clone(),
        legacy_sequence: g.legacy_sequence,
        v2_full_bytes: full(0),
        v2_changes_bytes: changes(0),
        v3a_full_bytes: full(1),
        v3a_changes_bytes: changes(1),
    });
}

/// The first scheduled start at or after `now`.
fn next_start(topology: &Topology, config: &OabConfig, now: Instant) -> Option<Instant> {
    config.schedule_ms.iter().map(|&ms| topology.calendar.next_time_of_day(now, ms)).min()
}
