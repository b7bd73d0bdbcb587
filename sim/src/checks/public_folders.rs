//! Public folder replication (EXCHANGE2003.md §8): `pf_changes_kept` (a change any
//! store made durable is never lost: the stores holding a live folder, or the
//! hierarchy, always hold every change number ever held), `pf_backfill_timeouts` (no
//! backfill request before its 6/12/24-hour or 12/24/48-hour timeouts) and
//! `pf_hierarchy_only_while_stopped` (while SP2's stop is on, only hierarchy
//! replicates); and the agreement the `public_folders_converge` expectation judges.

use super::*;
use crate::units::Duration;
use org::public_folders::agreement::{disagreement, held_changes};
use org::public_folders::cn_set::CnSet;
use org::public_folders::public_store::PublicStore;
use org::public_folders::replication_message::{FolderKey, ReplicationKind};

/// Names a folder (its path) for details.
pub type FolderName<'a> = &'a dyn Fn(FolderKey) -> String;

/// What the public folder checks remember between events and samples.
pub(super) struct PublicFolderJudge {
    /// Every change number a durable store ever held, per folder (and the hierarchy).
    ever: BTreeMap<FolderKey, CnSet>,
    /// Since when SP2's organization-wide stop of content replication is on.
    stopped: Option<Instant>,
    /// The stores' agreement at the last sample (none without public stores).
    agreement: Result<(), String>,
    /// Since when the stores have agreed, if they do.
    converged_since: Option<Instant>,
    /// For the details of passing checks: backfill requests and messages sent while
    /// stopped seen.
    backfill_requests: u64,
    sent_while_stopped: u64,
}

impl Default for PublicFolderJudge {
    fn default() -> Self {
        PublicFolderJudge {
            ever: BTreeMap::new(),
            stopped: None,
            agreement: Err("not sampled yet".into()),
            converged_since: None,
            backfill_requests: 0,
            sent_while_stopped: 0,
        }
    }
}

impl PublicFolderJudge {
    /// The administrator switched content replication off (or on) organization-wide.
    pub(super) fn content_stopped(&mut self, now: Instant, stopped: bool) {
        self.stopped = stopped.then_some(now);
    }

    /// Judges one server event at `now`; `folder` names folders. A message is traced
    /// when its submission is durable, up to a server's disk flush delay (at most 1
    /// minute, as scenarios bound it) after it was made: one traced that soon after
    /// the stop may have been sent before it.
    pub(super) fn observe(
        &mut self,
        now: Instant,
        server: &str,
        event: &ServerEvent,
        folder: FolderName<'_>,
        judge: &mut Judge<'_>,
    ) {
        let flush_max_ms = crate::scenario::bounds::DISK_FLUSH_MS_MAX;
        let stopped = self.stopped.is_some_and(|at| now.since(at) > flush_max_ms);
        match event {
            ServerEvent::PfSent { .. } if stopped => self.sent_while_stopped += 1,
            ServerEvent::PfBackfillRequested { .. } => self.backfill_requests += 1,
            _ => {}
        }
        match event {
            ServerEvent::PfSent { kind: ReplicationKind::Content, folder: f, .. } if stopped => {
                judge.violate(Invariant::PfHierarchyOnlyWhileStopped, || {
                    format!("{server} sent content of {} while content replication was stopped", folder(*f))
                });
            }
            ServerEvent::PfBackfillRequested { folder: f, waited_ms, min_wait_ms, .. } if waited_ms < min_wait_ms => {
                let (waited, min) = (Duration::from_ms(*waited_ms), Duration::from_ms(*min_wait_ms));
                judge.violate(Invariant::PfBackfillTimeouts, || {
                    format!("{server} asked for backfill of {} after {waited}; its timeouts ask for {min}", folder(*f))
                });
            }
            _ => {}
        }
    }

    /// The durable public stores at `now`: what they hold must cover what was ever
    /// held; their agreement is remembered for the convergence expectation.
    pub(super) fn sample(
        &mut self,
        now: Instant,
        stores: &[&PublicStore],
        names: &org::public_folders::agreement::Names<'_>,
        judge: &mut Judge<'_>,
    ) {
        let folder = |k: FolderKey| match k {
            FolderKey::Hierarchy => "the hierarchy".to_string(),
            FolderKey::Folder(f) => (names.folder)(f),
        };
        if stores.is_empty() {
            return;
        }
        let held = held_changes(stores);
        let live = |key: &FolderKey| match key {
            FolderKey::Hierarchy => true,
            FolderKey::Folder(f) => stores.iter().any(|s| s.folder(*f).is_some()),
        };
        for (key, ever) in &mut self.ever {
            let now_held = held.get(key).cloned().unwrap_or_default();
            if live(key) && !now_held.covers(ever) {
                let lost = ever.without(&now_held);
                judge.violate(Invariant::PfChangesKept, || {
                    format!("{} change(s) of {} no durable store holds any more", lost.len(), folder(*key))
                });
                *ever = now_held;
            }
        }
        for (key, cns) in held {
            self.ever.entry(key).or_default().union_with(&cns);
        }
        self.agreement = disagreement(stores, names).map_or(Ok(()), Err);
        match (&self.agreement, self.converged_since) {
            (Ok(()), None) => self.converged_since = Some(now),
            (Err(_), _) => self.converged_since = None,
            _ => {}
        }
    }

    /// What a passing invariant says it saw.
    pub(super) fn detail(&self, invariant: Invariant) -> String {
        match invariant {
            Invariant::PfChangesKept => {
                let held: u64 = self.ever.values().map(CnSet::len).sum();
                format!("{held} change number(s) held by durable public stores, none lost")
            }
            Invariant::PfBackfillTimeouts => {
                format!("{} backfill request(s), each after its timeouts", self.backfill_requests)
            }
            _ => format!(
                "{} replication message(s) sent while content replication was stopped, none content",
                self.sent_while_stopped
            ),
        }
    }

    /// The agreement at the last sample.
    pub(super) fn agreement(&self) -> Result<(), String> {
        self.agreement.clone()
    }

    /// Since when the stores have agreed (None: they do not now).
    pub(super) fn converged_since(&self) -> Option<Instant> {
        self.converged_since
    }
}
