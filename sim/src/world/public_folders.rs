//! Public folders seen from the world: their replication mail tallied (bytes per kind
//! and per connector crossed, backfill requests and sources), the durable public
//! stores sampled for the checks and the backlog chart, and the totals `--json` gives.

use super::*;
use org::public_folders::cn_set::CnSet;
use org::public_folders::public_store::PublicStore;
use org::public_folders::replication_message::FolderKey;
use org::trace::Namer;

/// One kind of replication message, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct KindTotals {
    /// Messages sent.
    pub messages: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Public folder replication over a run (`--json`'s `public_folders`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct PublicFolderTotals {
    /// Replication messages submitted (each once, whatever its recipients).
    pub replication_messages: u64,
    /// Their bytes.
    pub replication_bytes: u64,
    /// Per message type: hierarchy, content, backfill_request, status, status_request.
    pub by_kind: BTreeMap<&'static str, KindTotals>,
    /// Replication bytes that left each queue (a connector, or a server of the same
    /// routing group), by its Queue Viewer name.
    pub bytes_by_queue: BTreeMap<String, u64>,
    /// Client posts the stores took.
    pub posts: u64,
    /// Backfill requests sent.
    pub backfill_requests: u64,
    /// Change numbers asked for, per (store asking → source asked).
    pub backfill_sources: BTreeMap<String, u64>,
    /// Folder opens per `client server: folder -> server that served them` (`none`: no
    /// server could be reached); a referral when the two servers differ.
    pub reads: BTreeMap<String, u64>,
    /// Since when every store has agreed, to the end of the run (None: they did not
    /// agree at the last sample).
    pub converged_at_s: Option<f64>,
}

impl World {
    /// Tallies a server's public folder event and runs its checks.
    pub(super) fn public_event(
        &mut self,
        now: Instant,
        server: ServerId,
        event: &ServerEvent,
    ) -> Vec<crate::checks::Violation> {
        let t = &mut self.public_totals;
        match event {
            ServerEvent::PfSent { kind, size_bytes, .. } => {
                t.replication_messages += 1;
                t.replication_bytes += size_bytes;
                let k = t.by_kind.entry(kind.as_str()).or_default();
                k.messages += 1;
                k.bytes += size_bytes;
            }
            ServerEvent::Transferred { message: MessageId::Replication { .. }, queue, size_bytes, .. } => {
                let name = self.names.queue(*queue).to_string();
                *self.public_totals.bytes_by_queue.entry(name).or_default() += size_bytes;
            }
            ServerEvent::PfRead { folder, served_by, .. } => {
                let by = served_by.map_or("none", |s| self.resolved.topology.server(s).name.as_str());
                let client = &self.resolved.topology.server(server).name;
                let key = format!("{client}: {} -> {by}", folder_name(&self.resolved, *folder));
                *self.public_totals.reads.entry(key).or_default() += 1;
            }
            ServerEvent::PfBackfillRequested { source, changes, .. } => {
                t.backfill_requests += 1;
                let (from, to) = (self.resolved.public_store_of_server(server), self.resolved.public_store(*source));
                *t.backfill_sources.entry(format!("{from} <- {to}")).or_default() += changes;
            }
            _ => {}
        }
        let resolved = &self.resolved;
        let folder = |k: FolderKey| folder_name(resolved, k);
        self.checker.public_observe(now, server, event, &folder, &|m, r| pair_name(resolved, m, r))
    }

    /// Samples the durable public stores: the checks, and each store's backlog (change
    /// numbers of its folders some other store holds and it lacks) for the chart.
    pub(super) fn public_sample(&mut self, now: Instant) {
        if self.resolved.topology.public_stores.is_empty() {
            return;
        }
        let resolved = self.resolved.clone();
        let stores: Vec<&PublicStore> = (resolved.topology.public_stores.iter())
            .filter_map(|p| self.disks[usize::from(p.server.0)].store_files.public.as_deref())
            .collect();
        let folder = |f| resolved.public_folder(f);
        let store = |r| resolved.public_store(r).to_string();
        let names = org::public_folders::agreement::Names { folder: &folder, store: &store };
        let violations = self.checker.public_sample(now, &stores, &names, &|m, r| pair_name(&resolved, m, r));
        let backlogs = backlogs(&stores);
        let converged = self.checker.public_converged_since().is_some();
        self.public_totals.converged_at_s = self.checker.public_converged_since().map(|t| t.as_ms() as f64 / 1_000.0);
        let samples = stores
            .iter()
            .zip(backlogs)
            .map(|(s, backlog)| crate::trace::PfStoreSample {
                store: resolved.public_store(s.replica()).to_string(),
                backlog,
            })
            .collect();
        self.record(now.as_ms(), "public_folders", &TraceEvent::PfSample { stores: samples, converged });
        for v in violations {
            let event = TraceEvent::CheckFailed { check: v.check.into(), detail: v.detail };
            self.record(now.as_ms(), "checks", &event);
        }
    }
}

/// A folder's path, or "the hierarchy".
fn folder_name(resolved: &Resolved, key: FolderKey) -> String {
    match key {
        FolderKey::Hierarchy => "the hierarchy".into(),
        FolderKey::Folder(f) => resolved.public_folder(f),
    }
}

/// Each store's backlog: what the stores together hold of the folders it holds (and
/// of the hierarchy) that it lacks.
fn backlogs(stores: &[&PublicStore]) -> Vec<u64> {
    let held = org::public_folders::agreement::held_changes(stores);
    stores
        .iter()
        .map(|s| {
            let hierarchy = held[&FolderKey::Hierarchy].without(s.hierarchy().cn_set()).len();
            let content: u64 = (s.folders().iter())
                .map(|(f, r)| {
                    held.get(&FolderKey::Folder(*f)).map_or(0, |all: &CnSet| all.without(r.items.cn_set()).len())
                })
                .sum();
            hierarchy + content
        })
        .collect()
}
