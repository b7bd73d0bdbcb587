//! The replication agent's timers: the cycle (every 15 minutes for "Always") that sends
//! the changes made here, the daily status, the backfill array's due requests, the
//! 7-day wait of orphaned hierarchy changes and the 180-day tombstones.

use super::*;

impl PublicStore {
    /// Runs what is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now >= self.next_cycle {
            self.cycle(now);
            while self.next_cycle <= now {
                self.next_cycle = self.next_cycle.plus_ms(self.settings.cycle_ms);
            }
        }
        self.request_backfill(now);
    }

    fn cycle(&mut self, now: Instant) {
        self.send_hierarchy_changes();
        if !self.content_stopped {
            let held: Vec<FolderId> = self.folders.keys().copied().collect();
            for folder in held {
                self.send_content_changes(folder, now);
                self.ask_status(folder);
            }
            for (to, folder, cns) in std::mem::take(&mut self.deferred) {
                self.answer_backfill(to, FolderKey::Folder(folder), &cns);
            }
        }
        if now >= self.next_status {
            self.tell_status();
            self.next_status = now.plus_ms(self.settings.status_interval_ms);
        }
        self.expire_waiting(now);
        let purged = self.hierarchy.purge_tombstones(Instant(now.as_ms().saturating_sub(self.settings.tombstone_ms)));
        debug_assert!(purged.iter().all(|id| !self.folders.contains_key(&FolderId(*id))));
        self.drop_left_replicas();
    }

    fn send_hierarchy_changes(&mut self) {
        let unsent = std::mem::take(&mut self.unsent_hierarchy);
        let entries: Vec<Entry<FolderProps>> =
            unsent.iter().filter_map(|id| self.hierarchy.get(*id).cloned()).collect();
        let to: Vec<ReplicaId> = self.peers.keys().copied().collect();
        self.send_folders(ReplicationKind::Hierarchy, entries, to);
    }

    fn send_content_changes(&mut self, folder: FolderId, now: Instant) {
        let schedule = self.folder(folder).and_then(|p| p.schedule).unwrap_or(self.settings.schedule);
        let open = schedule.is_open(&self.settings.calendar, now);
        let replica = &self.folders[&folder];
        if !open || replica.unsent.is_empty() {
            return;
        }
        let entries: Vec<Entry<ItemProps>> =
            replica.unsent.iter().filter_map(|id| replica.items.get(*id).cloned()).collect();
        self.folders.get_mut(&folder).expect("held").unsent.clear();
        let to = self.other_replicas(folder);
        self.send_items(folder, ReplicationKind::Content, entries, to);
    }

    /// A new (or leaving) replica asks the folder's other replicas for their status.
    /// A new replica asks the others for their status once; a leaving one every cycle
    /// until a remaining replica's status covers all it holds [U: Exchange documents
    /// the rule, not the cadence].
    fn ask_status(&mut self, folder: FolderId) {
        let replica = self.folders.get_mut(&folder).expect("held");
        if !std::mem::take(&mut replica.wants_status) && !replica.leaving {
            return;
        }
        let status = replica.items.cn_set().clone();
        let message = self.message(ReplicationKind::StatusRequest, FolderKey::Folder(folder), status, Payload::Nothing);
        let to = self.other_replicas(folder);
        self.send(to, message);
    }

    /// Tells the other stores this store's status: all of them where it changed since
    /// last told, and each one whose last known status lacks changes this store holds
    /// (a lost message is noticed by one side or the other) [U]. A leaving replica asks
    /// again for the remaining ones' status.
    fn tell_status(&mut self) {
        let changed = *self.hierarchy.cn_set() != self.hierarchy_told;
        self.hierarchy_told = self.hierarchy.cn_set().clone();
        let peers: Vec<ReplicaId> = self.peers.keys().copied().collect();
        self.tell_status_of(FolderKey::Hierarchy, changed, peers);
        if self.content_stopped {
            return;
        }
        let held: Vec<FolderId> = self.folders.keys().copied().collect();
        for folder in held {
            let replica = self.folders.get_mut(&folder).expect("held");
            let changed = *replica.items.cn_set() != replica.status_told;
            replica.status_told = replica.items.cn_set().clone();
            replica.wants_status |= replica.leaving;
            let others = self.other_replicas(folder);
            self.tell_status_of(FolderKey::Folder(folder), changed, others);
        }
    }

    fn tell_status_of(&mut self, folder: FolderKey, changed: bool, others: Vec<ReplicaId>) {
        let status = self.status_of(folder);
        let behind = |r: &ReplicaId| self.statuses.get(&(folder, *r)).is_none_or(|s| !s.covers(&status));
        let to: Vec<ReplicaId> = others.into_iter().filter(|r| changed || behind(r)).collect();
        let message = self.message(ReplicationKind::Status, folder, status, Payload::Nothing);
        self.send(to, message);
    }

    /// Sends the backfill requests that are due, each part to its chosen source.
    fn request_backfill(&mut self, now: Instant) {
        let stopped = self.content_stopped;
        let due = self.backfill.take_due(now, |f| stopped && f != FolderKey::Hierarchy);
        for entry in due {
            let sources = self.sources(entry.folder, &entry.missing);
            for (source, cns) in sources {
                let changes = cns.len();
                let waited_ms = now.since(entry.created);
                let min_wait_ms = (0..=entry.attempts).map(|a| timeout_ms(entry.local_site, a)).sum();
                let folder = entry.folder;
                self.out.push(PfOutput::BackfillRequested { folder, source, changes, waited_ms, min_wait_ms });
                let status = self.status_of(entry.folder);
                let message =
                    self.message(ReplicationKind::BackfillRequest, entry.folder, status, Payload::Request(cns));
                self.send(vec![source], message);
            }
        }
    }

    /// Who is asked for what of `missing`: the other stores whose last status for
    /// `folder` is known (a store that dropped its replica answers with an empty
    /// status), ranked by this server's rule — the stores on the folder's replica list
    /// first, and a store removed from it (leaving, still holding what no listed
    /// replica has) only for the rest.
    pub(super) fn sources(&self, folder: FolderKey, missing: &CnSet) -> Vec<(ReplicaId, CnSet)> {
        let listed = |r: ReplicaId| match folder {
            FolderKey::Hierarchy => true,
            FolderKey::Folder(f) => self.folder(f).is_some_and(|p| p.replicas.contains(&r)),
        };
        let known = self.statuses.range((folder, ReplicaId(0))..=(folder, ReplicaId(u16::MAX)));
        let (on_list, off_list): (Vec<Candidate<'_>>, Vec<Candidate<'_>>) = known
            .filter_map(|((_, r), s)| self.peers.get(r).map(|peer| Candidate { replica: *r, status: s, peer: *peer }))
            .partition(|c| listed(c.replica));
        let (rule, preferred) = (self.settings.source_rule, self.settings.preferred_source);
        let mut chosen = choose_sources(missing, &on_list, rule, preferred);
        let mut rest = missing.clone();
        chosen.iter().for_each(|(_, cns)| rest = rest.without(cns));
        if !rest.is_empty() {
            chosen.extend(choose_sources(&rest, &off_list, rule, preferred));
        }
        chosen
    }

    fn expire_waiting(&mut self, now: Instant) {
        let wait = self.settings.hierarchy_wait_ms;
        let (expired, kept): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiting).into_iter().partition(|(_, at)| now.since(*at) >= wait);
        self.waiting = kept;
        for (entry, _) in expired {
            self.out.push(PfOutput::HierarchyExpired { folder: FolderId(entry.id) });
        }
    }

    /// A leaving replica goes once a remaining one's status covers all it held and it
    /// has sent its own changes.
    fn drop_left_replicas(&mut self) {
        let leaving: Vec<FolderId> =
            self.folders.iter().filter(|(_, r)| r.leaving && r.unsent.is_empty()).map(|(f, _)| *f).collect();
        for folder in leaving {
            let mine = self.folders[&folder].items.cn_set();
            let remaining = self.other_replicas(folder);
            let covered = remaining
                .iter()
                .any(|r| self.statuses.get(&(FolderKey::Folder(folder), *r)).is_some_and(|s| s.covers(mine)));
            if covered {
                self.folders.remove(&folder);
                self.backfill.forget(FolderKey::Folder(folder));
                self.out.push(PfOutput::ReplicaRemoved { folder });
            }
        }
    }

    /// This store's status for a folder (or the hierarchy).
    pub(super) fn status_of(&self, folder: FolderKey) -> CnSet {
        match folder {
            FolderKey::Hierarchy => self.hierarchy.cn_set().clone(),
            FolderKey::Folder(f) => self.folders.get(&f).map(|r| r.items.cn_set().clone()).unwrap_or_default(),
        }
    }

    pub(super) fn message(
        &self,
        kind: ReplicationKind,
        folder: FolderKey,
        status: CnSet,
        payload: Payload,
    ) -> ReplicationMessage {
        ReplicationMessage { kind, folder, from: self.replica, status, payload }
    }

    pub(super) fn send(&mut self, to: Vec<ReplicaId>, message: ReplicationMessage) {
        if !to.is_empty() {
            self.out.push(PfOutput::Send { to, message });
        }
    }

    /// Sends folder entries in 300 KB batches.
    pub(super) fn send_folders(&mut self, kind: ReplicationKind, entries: Vec<Entry<FolderProps>>, to: Vec<ReplicaId>) {
        if entries.is_empty() || to.is_empty() {
            return;
        }
        for batch in batches(entries, folder_bytes, self.settings.lose_batch_overflow) {
            let status = self.hierarchy.cn_set().clone();
            let message = self.message(kind, FolderKey::Hierarchy, status, Payload::Folders(batch));
            self.send(to.clone(), message);
        }
    }

    /// Sends a folder's item entries in 300 KB batches.
    pub(super) fn send_items(
        &mut self,
        folder: FolderId,
        kind: ReplicationKind,
        entries: Vec<Entry<ItemProps>>,
        to: Vec<ReplicaId>,
    ) {
        if entries.is_empty() || to.is_empty() {
            return;
        }
        for batch in batches(entries, item_bytes, self.settings.lose_batch_overflow) {
            let status = self.status_of(FolderKey::Folder(folder));
            let message = self.message(kind, FolderKey::Folder(folder), status, Payload::Items(batch));
            self.send(to.clone(), message);
        }
    }
}
