//! Deleted items and online maintenance (EXCHANGE2003.md §7): what users delete stays
//! in the database for deleted item retention (7 days), a deleted mailbox for deleted
//! mailbox retention (30 days); the nightly online maintenance window (01:00–05:00)
//! purges what is past retention and online defragmentation turns it into logical free
//! space, so the logical size the 05:00 size check reads falls (its physical files do
//! not shrink).
//!
//! Deletions are modelled per database, not per item [U]: at midnight users delete a
//! configured share of the bytes delivered into it the day before. The messages stay
//! in their mailboxes' records (the duplicate check and the end-of-run checks read
//! those); only the database's sizes move. What was deleted and purged is durable.

use super::information_store::InformationStore;
use crate::service_events::AfterFlush;
use crate::time::Instant;
use crate::trace::ServerEvent;
use crate::transport::queue_directory::DiskOp;
use crate::{AddressId, StoreId};

impl InformationStore {
    /// Arms the midnight deletions and the nightly window when some database here has
    /// deletions or a deleted mailbox (nothing armed otherwise: no wake-up for nothing).
    pub(super) fn arm_maintenance(&mut self, now: Instant) {
        let here: Vec<StoreId> = self.topology.stores_of(self.id).collect();
        let calendar = self.topology.calendar;
        if here.iter().any(|s| self.topology.store(*s).maintenance.deleted_percent > 0) {
            self.deletes_at = Some(calendar.next_time_of_day(now, 0));
        }
        if !here.is_empty() && (self.deletes_at.is_some() || !self.deleted_mailboxes.is_empty()) {
            let start = here.iter().map(|s| self.topology.store(*s).maintenance.start_ms_of_day).min();
            self.maintenance_at = start.map(|ms| calendar.next_time_of_day(now, ms));
        }
    }

    /// When the next deletions or maintenance window are due.
    pub(super) fn maintenance_due(&self) -> Option<Instant> {
        self.deletes_at.into_iter().chain(self.maintenance_at).min()
    }

    /// Runs what is due at `now`.
    pub(super) fn run_maintenance(&mut self, now: Instant) {
        if self.deletes_at.is_some_and(|at| at <= now) {
            self.deletes_at = Some(self.topology.calendar.next_time_of_day(now.plus_ms(1), 0));
            self.users_delete(now);
        }
        if self.maintenance_at.is_some_and(|at| at <= now) {
            let start = self.maintenance_at.map(|at| self.topology.calendar.ms_of_day(at)).unwrap_or_default();
            self.maintenance_at = Some(self.topology.calendar.next_time_of_day(now.plus_ms(1), start));
            for store in self.topology.clone().stores_of(self.id) {
                if self.mounted(store) {
                    self.online_maintenance(now, store);
                }
            }
        }
    }

    /// A database's files grew by these bytes (durable): what users may delete tonight.
    pub(super) fn note_written(&mut self, store: StoreId, bytes: u64) {
        if self.deletes_at.is_some() {
            *self.written_today.entry(store).or_default() += bytes;
        }
    }

    /// Midnight: users delete their share of what each database took the day before.
    fn users_delete(&mut self, now: Instant) {
        for (store, written) in std::mem::take(&mut self.written_today) {
            let bytes = written * self.topology.store(store).maintenance.deleted_percent / 100;
            if bytes > 0 {
                let at_ms = now.as_ms();
                self.retained.entry(store).or_default().push((at_ms, bytes));
                self.out.write(DiskOp::ItemsDeleted { store, at_ms, bytes });
            }
        }
    }

    /// One database's night: deleted items and deleted mailboxes past retention are
    /// purged, and defragmentation reports the free space (event 1221).
    fn online_maintenance(&mut self, now: Instant, store: StoreId) {
        let config = self.topology.store(store).maintenance;
        let until_ms = now.as_ms().saturating_sub(config.item_retention_ms);
        let retained = self.retained.entry(store).or_default();
        let purged_items_bytes: u64 = retained.iter().filter(|(at, _)| *at <= until_ms).map(|(_, b)| b).sum();
        retained.retain(|(at, _)| *at > until_ms);
        let mailboxes: Vec<AddressId> = self
            .deleted_mailboxes
            .iter()
            .filter(|(_, s, deleted_at)| *s == store && deleted_at.as_ms() + config.mailbox_retention_ms <= now.as_ms())
            .map(|(m, _, _)| *m)
            .filter(|m| !self.purged_mailboxes.contains(m))
            .collect();
        let purged_mailbox_bytes: u64 = mailboxes.iter().map(|m| self.mailbox_bytes(*m)).sum();
        self.purged_mailboxes.extend(mailboxes.iter().copied());
        let bytes = purged_items_bytes + purged_mailbox_bytes;
        let files = self.files.entry(store).or_default();
        files.purged_bytes += bytes;
        let free_bytes = self.topology.store(store).size.initial_free_bytes + files.purged_bytes;
        let purged_mailboxes = mailboxes.len() as u64;
        self.out.write(DiskOp::Purged { store, until_ms, mailboxes, bytes });
        let event = ServerEvent::OnlineMaintenance {
            store,
            purged_items_bytes,
            purged_mailboxes,
            purged_mailbox_bytes,
            free_bytes,
        };
        self.out.after_flush(AfterFlush::Event(event));
    }
}

/// Deleted mailboxes' homes, for the store of `server`: (mailbox, database, deleted at).
pub(super) fn deleted_mailboxes(
    topology: &crate::config::topology::Topology,
    server: crate::ServerId,
) -> Vec<(AddressId, StoreId, Instant)> {
    let directory = topology.gal_of(server);
    directory
        .objects()
        .filter_map(|(a, o)| Some((a, directory.lookup(a)?.store, o.deleted_at?)))
        .filter(|(_, s, _)| topology.store(*s).server == server)
        .collect()
}
