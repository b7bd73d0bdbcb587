//! Offline address book generation in the world: what each OALGen run produced
//! (`--json`'s `oab`), the generators' state on their servers' disks (a restarted
//! server's System Attendant takes it back), and the last run's files of each OAB (what
//! `orgsim oab` writes out).

use super::*;
use org::system_attendant::oab::distribution::OabVersion;
use org::system_attendant::oab::oal_generator::{Generation, LegacyOutcome, OalGenerator};
use org::system_attendant::oal_generation::{GenerationDone, OabId};

/// One OALGen run, as `--json` reports it.
#[derive(Clone, Debug, Serialize)]
pub struct OabRun {
    /// When it finished, seconds into the run.
    pub at_s: f64,
    /// Records read from the GC.
    pub records: usize,
    /// Records added, removed and changed since the last posted version 2/3a files.
    pub added: usize,
    /// See `added`.
    pub removed: usize,
    /// See `added`.
    pub changed: usize,
    /// Version 4 sequence number (SP2 only).
    pub v4_sequence: Option<u32>,
    /// Uncompressed Full Details file, bytes.
    pub v4_full_bytes: Option<u64>,
    /// Compressed full file, bytes (what a full download costs).
    pub v4_compressed_bytes: Option<u64>,
    /// The patch from the previous sequence, bytes.
    pub v4_patch_bytes: Option<u64>,
    /// What versions 2 and 3a got.
    pub legacy: LegacyOutcome,
    /// The compressed full sets and Changes files of versions 2 and 3a, bytes (a run
    /// that posted them).
    pub v2_full_bytes: Option<u64>,
    /// See `v2_full_bytes`.
    pub v2_changes_bytes: Option<u64>,
    /// See `v2_full_bytes`.
    pub v3a_full_bytes: Option<u64>,
    /// See `v2_full_bytes`.
    pub v3a_changes_bytes: Option<u64>,
    /// Events OALGen logged: warnings, information, errors.
    pub warnings: usize,
    /// See `warnings`.
    pub information: usize,
    /// See `warnings`.
    pub errors: usize,
}

/// Each OAB's runs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OabTotals {
    /// By OAB name, in the scenario's order.
    pub offline_address_books: Vec<OabSummary>,
}

/// One OAB's runs.
#[derive(Clone, Debug, Serialize)]
pub struct OabSummary {
    /// Its name.
    pub name: String,
    /// Finished runs, in order.
    pub runs: Vec<OabRun>,
    /// Runs that ended without files (no GC answered).
    pub failed_runs: usize,
    /// Scheduled starts skipped because a run was still going.
    pub skipped_runs: usize,
    /// GC failovers during reads.
    pub gc_failovers: usize,
    /// Its cached-mode clients' downloads (absent without clients).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downloads: Option<super::oab_clients::DownloadTotals>,
}

/// What the world keeps of OAB generation.
#[derive(Default)]
pub(super) struct OabState {
    /// Each server's generators, as its disk holds them.
    pub(super) disks: Vec<Vec<(OabId, Arc<OalGenerator>)>>,
    /// Each OAB's last run, with when it finished (ms).
    pub(super) last: Vec<Option<(u64, Arc<Generation>)>>,
    pub(super) totals: OabTotals,
    /// Each OAB's files by version and sequence (what clients download, for the checks).
    pub(super) archive: Vec<BTreeMap<(OabVersion, u32), crate::checks::oab_clients::ArchivedFiles>>,
}

impl OabState {
    pub(super) fn new(topology: &org::config::topology::Topology) -> Self {
        let summaries = topology
            .offline_address_books
            .iter()
            .map(|o| OabSummary {
                name: o.definition.name.clone(),
                runs: Vec::new(),
                failed_runs: 0,
                skipped_runs: 0,
                gc_failovers: 0,
                downloads: None,
            })
            .collect();
        let n = topology.offline_address_books.len();
        OabState {
            disks: vec![Vec::new(); topology.servers.len()],
            last: vec![None; n],
            totals: OabTotals { offline_address_books: summaries },
            archive: vec![BTreeMap::new(); n],
        }
    }

    /// One OAB's client download totals.
    pub(super) fn downloads(&mut self, oab: OabId) -> &mut super::oab_clients::DownloadTotals {
        self.totals.offline_address_books[usize::from(oab.0)].downloads.get_or_insert_with(Default::default)
    }

    /// Keeps a run's files for the checks of client downloads.
    fn archive(&mut self, oab: OabId, generation: &Generation) {
        self.archive[usize::from(oab.0)].extend(crate::checks::oab_clients::ArchivedFiles::of(generation));
    }

    /// An OAB generated before the run began: its generator is on its server's disk, its
    /// files are the first of the run's.
    pub(super) fn pregenerated(
        &mut self,
        server: ServerId,
        oab: OabId,
        generator: Arc<OalGenerator>,
        generation: Arc<Generation>,
    ) {
        self.disks[usize::from(server.0)].push((oab, generator));
        self.archive(oab, &generation);
        self.last[usize::from(oab.0)] = Some((0, generation));
    }

    /// A server's System Attendant finished a run.
    pub(super) fn generated(&mut self, server: ServerId, now_ms: u64, done: GenerationDone) {
        let disk = &mut self.disks[usize::from(server.0)];
        match disk.iter_mut().find(|(oab, _)| *oab == done.oab) {
            Some(slot) => slot.1 = done.generator,
            None => disk.push((done.oab, done.generator)),
        }
        let g = &done.generation;
        let v4 = g.v4.as_ref();
        let level = |l: &str| g.events.iter().filter(|e| e.level() == l).count();
        let legacy = |i: usize| g.legacy_files.as_ref().map(|l| &l.versions[i]);
        let full = |i| legacy(i).map(|v| v.full_bytes());
        let changes = |i| legacy(i).and_then(|v| v.changes.as_ref()).map(|c| c.len() as u64);
        self.totals.offline_address_books[usize::from(done.oab.0)].runs.push(OabRun {
            at_s: now_ms as f64 / 1_000.0,
            records: g.records,
            added: g.added,
            removed: g.removed,
            changed: g.changed,
            v4_sequence: v4.map(|v| v.sequence),
            v4_full_bytes: v4.map(|v| v.full.len() as u64),
            v4_compressed_bytes: v4.map(|v| v.compressed.len() as u64),
            v4_patch_bytes: v4.and_then(|v| v.patch.as_ref()).map(|p| p.len() as u64),
            legacy: g.legacy.clone(),
            v2_full_bytes: full(0),
            v2_changes_bytes: changes(0),
            v3a_full_bytes: full(1),
            v3a_changes_bytes: changes(1),
            warnings: level("warning"),
            information: level("information"),
            errors: level("error"),
        });
        self.archive(done.oab, &done.generation);
        self.last[usize::from(done.oab.0)] = Some((now_ms, done.generation));
    }

    /// Counts the runs that failed or were skipped, and GC failovers.
    pub(super) fn observe(&mut self, event: &ServerEvent) {
        let (oab, field): (OabId, fn(&mut OabSummary) -> &mut usize) = match event {
            ServerEvent::OabRunFailed { oab, .. } => (*oab, |s| &mut s.failed_runs),
            ServerEvent::OabRunSkipped { oab } => (*oab, |s| &mut s.skipped_runs),
            ServerEvent::OabGcFailover { oab, .. } => (*oab, |s| &mut s.gc_failovers),
            _ => return,
        };
        *field(&mut self.totals.offline_address_books[usize::from(oab.0)]) += 1;
    }
}
