//! Replication messages arriving: changes applied (a hierarchy change whose parent has
//! not arrived waits), backfill requests and status requests answered, and the
//! sender's status compared with this store's: what it holds and this store lacks
//! enters the backfill array.

use super::*;

impl PublicStore {
    /// A replication message from another public store, delivered here.
    pub fn receive(&mut self, now: Instant, message: ReplicationMessage) {
        if message.from == self.replica {
            return;
        }
        let ReplicationMessage { kind, folder, from, status, payload } = message;
        let held = match folder {
            FolderKey::Hierarchy => true,
            FolderKey::Folder(f) => self.folders.contains_key(&f),
        };
        match payload {
            Payload::Folders(entries) => self.apply_folders(now, entries),
            Payload::Items(entries) => {
                if let FolderKey::Folder(f) = folder {
                    self.apply_items(f, &entries);
                }
            }
            Payload::Request(cns) if held => self.answer_backfill(from, folder, &cns),
            // Not (or no longer) a replica: its status tells the requester so.
            Payload::Request(_) => self.answer_status(from, folder),
            Payload::Nothing if kind == ReplicationKind::StatusRequest && held => self.answer_status(from, folder),
            Payload::Nothing => {}
        }
        if held {
            self.statuses.insert((folder, from), status);
            self.note_missing(now, folder, from);
        }
    }

    fn apply_items(&mut self, folder: FolderId, entries: &[Entry<ItemProps>]) {
        let Some(replica) = self.folders.get_mut(&folder) else { return };
        let mut arrived = CnSet::default();
        for entry in entries {
            if replica.items.apply(entry) {
                arrived.union_with(&entry.pcl);
            }
        }
        self.backfill.arrived(FolderKey::Folder(folder), &arrived);
    }

    /// Applies hierarchy entries; one whose parent is not here yet waits for it, and
    /// every arrival retries the waiting ones.
    fn apply_folders(&mut self, now: Instant, entries: Vec<Entry<FolderProps>>) {
        let mut arrived = CnSet::default();
        for entry in entries {
            if !self.apply_folder(now, &entry, &mut arrived) && !self.hierarchy.cn_set().covers(&entry.pcl) {
                self.out.push(PfOutput::HierarchyWaiting { folder: FolderId(entry.id) });
                self.waiting.push((entry, now));
            }
        }
        loop {
            let before = self.waiting.len();
            for (entry, at) in std::mem::take(&mut self.waiting) {
                if !self.apply_folder(now, &entry, &mut arrived) && !self.hierarchy.cn_set().covers(&entry.pcl) {
                    self.waiting.push((entry, at));
                }
            }
            if self.waiting.len() == before {
                break;
            }
        }
        self.backfill.arrived(FolderKey::Hierarchy, &arrived);
    }

    /// Applies one hierarchy entry if its parent is here; true when it was applied.
    fn apply_folder(&mut self, now: Instant, entry: &Entry<FolderProps>, arrived: &mut CnSet) -> bool {
        let parent = entry.value.as_ref().and_then(|p| p.parent);
        let known = self.hierarchy.get(entry.id).is_some();
        if !known && parent.is_some_and(|p| self.hierarchy.get(p.0).is_none()) {
            return false;
        }
        if self.hierarchy.apply(entry) {
            arrived.union_with(&entry.pcl);
            self.follow_hierarchy(now, FolderId(entry.id));
        }
        true
    }

    /// Sends the requester the entries holding the change numbers it asked for.
    pub(super) fn answer_backfill(&mut self, to: ReplicaId, folder: FolderKey, cns: &CnSet) {
        match folder {
            FolderKey::Hierarchy => {
                let entries = self.hierarchy.entries_covering(cns);
                self.send_folders(ReplicationKind::Hierarchy, entries, vec![to]);
            }
            FolderKey::Folder(f) if self.content_stopped => self.deferred.push((to, f, cns.clone())),
            FolderKey::Folder(f) => {
                let entries = self.folders.get(&f).map(|r| r.items.entries_covering(cns)).unwrap_or_default();
                self.send_items(f, ReplicationKind::Content, entries, vec![to]);
            }
        }
    }

    fn answer_status(&mut self, to: ReplicaId, folder: FolderKey) {
        if self.content_stopped && folder != FolderKey::Hierarchy {
            return;
        }
        let message = self.message(ReplicationKind::Status, folder, self.status_of(folder), Payload::Nothing);
        self.send(vec![to], message);
    }

    /// What `from`'s status holds and this store lacks (or waits to apply) enters the
    /// backfill array, with the timeouts of the site of the source it would ask first.
    fn note_missing(&mut self, now: Instant, folder: FolderKey, from: ReplicaId) {
        let mut mine = self.status_of(folder);
        if folder == FolderKey::Hierarchy {
            self.waiting.iter().for_each(|(e, _)| mine.union_with(&e.pcl));
        }
        let missing = mine.missing_from(&self.statuses[&(folder, from)]);
        if missing.is_empty() {
            return;
        }
        let local_site = self.held_in_local_site(folder, &missing);
        if let Some(entry) = self.backfill.add(folder, &missing, now, local_site) {
            let (changes, mut due) = (entry.missing.len(), entry.due);
            if self.settings.backfill_without_timeout {
                due = now;
                self.backfill.make_due(folder, now);
            }
            self.out.push(PfOutput::BackfillQueued { folder, changes, due });
        }
    }

    /// Whether a store in this server's site holds some of `missing`: then the entry
    /// waits the local site's timeouts (6/12/24 h), else the remote ones (12/24/48 h,
    /// §8) — whichever store the source rule then asks.
    fn held_in_local_site(&self, folder: FolderKey, missing: &CnSet) -> bool {
        let known = self.statuses.range((folder, ReplicaId(0))..=(folder, ReplicaId(u16::MAX)));
        known.into_iter().any(|((_, r), status)| {
            self.peers.get(r).is_some_and(|p| p.local_site) && !status.intersection(missing).is_empty()
        })
    }
}
