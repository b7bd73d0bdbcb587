//! The one loss `no_loss` accepts: a storage group whose database volume failed with
//! its logs (or whose logs circular logging deleted) loses exactly what was delivered
//! to it after its last backup — no more (what the backup holds must come back once
//! restored and merged) and no less (nothing after the backup can come back: no log of
//! it exists). This keeps, for each storage group the timeline fails, the copies
//! delivered into it since its last backup; the failure turns them into the expected
//! loss, which the end of the run compares with what is missing from the mailboxes.

use super::recipient_ledger::PairId;
use crate::units::Duration;
use org::config::topology::Topology;
use org::time::Instant;
use org::trace::ServerEvent;
use org::StorageGroupId;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// One failure's window: the group, its last backup (none: since the run began), the
/// failure, and how many copies it took.
struct Window {
    group: StorageGroupId,
    backup_at: Option<Instant>,
    failed_at: Instant,
    copies: usize,
}

/// Copies delivered since each watched group's last backup, and the expected loss.
pub(super) struct LossWindows {
    topology: Arc<Topology>,
    since_backup: BTreeMap<StorageGroupId, (Option<Instant>, Vec<PairId>)>,
    expected: BTreeSet<PairId>,
    windows: Vec<Window>,
}

/// What the end of the run finds, against the expected loss.
pub(super) struct Judged {
    /// Missing copies outside every window: a real loss.
    pub lost: Vec<PairId>,
    /// Copies of a window still in their mailbox: something came back that could not.
    pub resurrected: Vec<PairId>,
}

impl LossWindows {
    /// Watches the storage groups a disk failure of the timeline can hit (only those:
    /// the copies of every other group are never kept).
    pub(super) fn new(topology: Arc<Topology>, watched: impl Iterator<Item = StorageGroupId>) -> Self {
        let since_backup = watched.map(|g| (g, (None, Vec::new()))).collect();
        LossWindows { topology, since_backup, expected: BTreeSet::new(), windows: Vec::new() }
    }

    pub(super) fn observe(&mut self, now: Instant, event: &ServerEvent) {
        if self.since_backup.is_empty() {
            return; // nothing watched: no lookup per delivery
        }
        match event {
            ServerEvent::Delivered { message, recipient, store, .. } => {
                let group = self.topology.store(*store).storage_group_id;
                if let Some((_, copies)) = self.since_backup.get_mut(&group) {
                    copies.push((*message, *recipient));
                }
            }
            ServerEvent::Backup { storage_group, .. } => {
                if let Some(watched) = self.since_backup.get_mut(storage_group) {
                    *watched = (Some(now), Vec::new());
                }
            }
            ServerEvent::DiskFailed { storage_group, later_logs: false, .. } => {
                if let Some((backup_at, copies)) = self.since_backup.get_mut(storage_group) {
                    let copies = std::mem::take(copies);
                    let window =
                        Window { group: *storage_group, backup_at: *backup_at, failed_at: now, copies: copies.len() };
                    self.windows.push(window);
                    self.expected.extend(copies);
                }
            }
            _ => {}
        }
    }

    /// Splits the copies missing from their mailboxes at the end into the expected
    /// loss and the rest, and finds the expected ones that are not missing.
    pub(super) fn judge(&self, missing: &[PairId]) -> Judged {
        let lost = missing.iter().copied().filter(|p| !self.expected.contains(p)).collect();
        let missing: BTreeSet<&PairId> = missing.iter().collect();
        let resurrected = self.expected.iter().copied().filter(|p| !missing.contains(p)).collect();
        Judged { lost, resurrected }
    }

    /// The expected loss in words, for a `no_loss` that held ("" when none).
    pub(super) fn detail(&self) -> String {
        let mut out = String::new();
        for w in &self.windows {
            let group = self.topology.storage_group(w.group);
            let server = &self.topology.server(group.server).name;
            let since = match w.backup_at {
                Some(at) => format!("its backup at {}", Duration::from_ms(at.as_ms())),
                None => "the start (no backup)".into(),
            };
            out.push_str(&format!(
                "; {} copies delivered to {} on {server} between {since} and the loss of its logs at {} lost, as asked",
                w.copies,
                group.name,
                Duration::from_ms(w.failed_at.as_ms())
            ));
        }
        out
    }
}
