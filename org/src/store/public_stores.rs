//! The Information Store's public store (EXCHANGE2003.md §8): the replication agent runs
//! inside MSExchangeIS. What it sends goes to SMTPSVC as mail to the other public
//! stores' addresses; replication mail delivered to this server's public store address
//! is handed to it. Its state is written with every change, so a crash keeps what it
//! acknowledged.

use super::information_store::InformationStore;
use crate::message::Message;
use crate::planted_bugs::PlantedBug;
use crate::public_folders::backfill::PeerInfo;
use crate::public_folders::cn_set::ReplicaId;
use crate::public_folders::public_store::{PfAdmin, PfOutput, PfRefusal, PublicStore, PublicStoreSettings};
use crate::public_folders::referral::{self, group_cost};
use crate::public_folders::replication_message::{FolderId, FolderKey, ReplicationMessage};
use crate::routing::link_state::LinkStateTable;
use crate::service_events::ToSmtp;
use crate::time::Instant;
use crate::trace::ServerEvent;
use crate::transport::queue_directory::DiskOp;
use crate::{AddressId, ServerId};
use std::collections::BTreeMap;
use std::sync::Arc;

impl InformationStore {
    /// The public store this server mounts: what its disk holds, or the organization's
    /// starting folders.
    pub(super) fn open_public_store(&self, disk: Option<&PublicStore>, now: Instant) -> Option<PublicStore> {
        let replica = self.topology.public_store_of(self.id)?;
        if let Some(store) = disk {
            return Some(store.clone());
        }
        let t = &self.topology;
        let mut settings = PublicStoreSettings { calendar: t.calendar, ..t.public_store(replica).settings.clone() };
        settings.lose_batch_overflow |= t.bug(PlantedBug::PfLosesBatchOverflow);
        settings.backfill_without_timeout |= t.bug(PlantedBug::PfBackfillWithoutTimeout);
        if t.bug(PlantedBug::Pf2000SourceRule) {
            settings.source_rule = crate::public_folders::backfill::SourceRule::VersionFirst;
        }
        let peers = self.public_store_peers(replica);
        Some(PublicStore::new(replica, settings, peers, &self.topology.public_folders, now))
    }

    /// What this public store knows of the others: version, transport cost (the least
    /// cost over the connectors as the directory configures them, every one up), site.
    fn public_store_peers(&self, me: ReplicaId) -> BTreeMap<ReplicaId, PeerInfo> {
        let t = &self.topology;
        let masters: Vec<_> = t.routing_groups.iter().map(|g| g.master).collect();
        let table = LinkStateTable::from_directory(t, &masters);
        let mine = t.public_store(me);
        let group = t.server(mine.server).routing_group;
        let peer = |r: ReplicaId| {
            let other = t.public_store(r);
            let server = t.server(other.server);
            let cost = group_cost(t, &table, group, server.routing_group).unwrap_or(u32::MAX);
            PeerInfo { version: server.version, cost, local_site: other.site == mine.site }
        };
        (0..t.public_stores.len()).map(|i| ReplicaId(i as u16)).filter(|r| *r != me).map(|r| (r, peer(r))).collect()
    }

    /// When the replication agent next has work.
    pub(super) fn public_due(&self) -> Option<Instant> {
        self.public.as_ref().map(PublicStore::poll_timeout)
    }

    /// Runs the agent's timers.
    pub(super) fn public_timeout(&mut self, now: Instant) {
        let Some(store) = self.public.as_mut() else { return };
        if store.poll_timeout() <= now {
            store.handle_timeout(now);
            self.public_settle(false);
        }
    }

    /// The public store, on a server that has one.
    pub fn public_store(&self) -> Option<&PublicStore> {
        self.public.as_ref()
    }

    /// A client posts an item to a folder of this public store; a refusal is traced.
    pub fn public_post(&mut self, now: Instant, folder: FolderId, size_bytes: u64) -> Result<(), PfRefusal> {
        let posted = match self.public.as_mut() {
            Some(store) => store.client_post(now, folder, size_bytes).map(|_| ()),
            None => Err(PfRefusal::NoReplicaHere),
        };
        match posted {
            Ok(()) => self.public_settle(true),
            Err(reason) => self.out.emit(ServerEvent::PfPostRefused { folder: FolderKey::Folder(folder), reason }),
        }
        posted
    }

    /// The System Attendant posts an OAB generation's files to its folder here; a
    /// refusal (no replica here) is traced, and the files stay on the server only.
    pub(super) fn public_post_oab(
        &mut self,
        now: Instant,
        folder: FolderId,
        files: &[(crate::system_attendant::oab::distribution::OabFile, u64)],
    ) {
        let posted = match self.public.as_mut() {
            Some(store) => store.post_oab_files(now, folder, files),
            None => Err(PfRefusal::NoReplicaHere),
        };
        match posted {
            Ok(()) => self.public_settle(true),
            Err(reason) => self.out.emit(ServerEvent::PfPostRefused { folder: FolderKey::Folder(folder), reason }),
        }
    }

    /// An administrator's order to this public store; a refusal is traced as the
    /// folder it named being gone.
    pub fn public_admin(&mut self, now: Instant, order: &PfAdmin) {
        let Some(store) = self.public.as_mut() else { return };
        if let Err(reason) = store.administer(now, order) {
            let folder = match order {
                PfAdmin::Replicas { folder, .. }
                | PfAdmin::Permissions { folder, .. }
                | PfAdmin::DeleteFolder { folder, .. } => FolderKey::Folder(*folder),
                _ => FolderKey::Hierarchy,
            };
            self.out.emit(ServerEvent::PfAdminRefused { folder, reason });
        }
        self.public_settle(true);
    }

    /// A client opens a folder through this server's public store: served here when
    /// it holds a replica, else referred to the first server of the referral order
    /// `available` says the client can reach (traced either way).
    pub fn public_read(&mut self, folder: FolderId, available: &dyn Fn(ServerId) -> bool) {
        let Some(store) = self.public.as_ref() else { return };
        let key = FolderKey::Folder(folder);
        let Some(props) = store.folder(folder) else {
            let reason = PfRefusal::NoFolder;
            return self.out.emit(ServerEvent::PfReadRefused { folder: key, reason });
        };
        if !props.default_role.can_read() {
            let reason = PfRefusal::AccessDenied;
            return self.out.emit(ServerEvent::PfReadRefused { folder: key, reason });
        }
        if store.holds(folder) {
            return self.out.emit(ServerEvent::PfRead { folder: key, served_by: Some(self.id), tried: 0, cost: 0 });
        }
        // The routing costs the store keeps for its backfill peers are the referral's.
        let t = &self.topology;
        let custom = t.public_store(store.replica()).settings.referrals.as_deref();
        let candidates = props.replicas.iter().map(|r| {
            let cost = store.peers().get(r).map(|p| p.cost).filter(|c| *c != u32::MAX);
            (t.public_store(*r).server, cost)
        });
        let order = referral::order(self.id, candidates, custom);
        let reached = order.iter().position(|(s, _)| available(*s));
        let (served_by, cost) = reached.map_or((None, 0), |i| (Some(order[i].0), order[i].1));
        let tried = reached.map_or(order.len(), |i| i + 1) as u32;
        self.out.emit(ServerEvent::PfRead { folder: key, served_by, tried, cost });
    }

    /// The organization-wide SP2 switch as the directory holds it when the service
    /// starts.
    pub fn public_content_stopped(&mut self, now: Instant, stopped: bool) {
        let Some(store) = self.public.as_mut() else { return };
        if store.content_stopped() != stopped {
            self.public_admin(now, &PfAdmin::ContentReplication { stopped });
        }
    }

    /// The folder `recipient` is, when it is a mail-enabled public folder (only a
    /// server with a public store is a folder's home: others skip the lookup).
    pub(super) fn public_folder_of(&self, recipient: AddressId) -> Option<FolderId> {
        self.public.as_ref()?;
        match self.topology.gal_of(self.id).object(recipient)?.recipient {
            crate::directory::global_catalog::Recipient::PublicFolder(folder) => Some(folder),
            _ => None,
        }
    }

    /// Mail to a mail-enabled folder, posted into this store's replica of it (traced);
    /// Err when this store holds none (the replica left after the mail was routed).
    pub(super) fn deliver_to_folder(
        &mut self,
        now: Instant,
        message: &Message,
        recipient: AddressId,
        folder: FolderId,
    ) -> Result<(), ()> {
        let store = self.public.as_mut().ok_or(())?;
        store.post(now, folder, message.size_bytes).map_err(|_| ())?;
        self.out.emit(ServerEvent::PfMailDelivered {
            message: message.id,
            recipient,
            folder: FolderKey::Folder(folder),
        });
        self.public_settle(true);
        Ok(())
    }

    /// Whether `recipient` is this server's public store's address.
    pub(super) fn is_public_store(&self, recipient: AddressId) -> bool {
        self.public.as_ref().is_some_and(|p| self.topology.public_store(p.replica()).address == recipient)
    }

    /// Replication mail delivered to this server's public store.
    pub(super) fn deliver_replication(&mut self, now: Instant, message: &Message) {
        let (Some(store), Some(replication)) = (self.public.as_mut(), message.replication.as_ref()) else { return };
        let r: &ReplicationMessage = replication;
        let event = ServerEvent::PfReceived { message: message.id, kind: r.kind, folder: r.folder, from: r.from };
        store.receive(now, r.clone());
        self.out.emit(event);
        self.public_settle(true);
    }

    /// Hands what the agent produced on: messages to SMTPSVC, the rest to the trace.
    /// The store's new state is written when it `changed` or produced something (a
    /// quiet cycle changes only its timers, which a restart arms again).
    fn public_settle(&mut self, changed: bool) {
        let Some(store) = self.public.as_mut() else { return };
        let outputs = store.drain();
        let log_deletions = self.topology.public_store(store.replica()).settings.log_deletions;
        if changed || !outputs.is_empty() {
            self.out.write(DiskOp::PublicStore(Box::new(store.clone())));
        }
        for output in outputs {
            match output {
                PfOutput::Send { to, message } => {
                    self.out.to_smtp(ToSmtp::SubmitReplication { to, message: Arc::new(message) })
                }
                other => self.out.emit(trace_event(other, log_deletions)),
            }
        }
    }
}

/// The trace event of an agent's report; `log_deletions`: event 9682 is logged.
fn trace_event(output: PfOutput, log_deletions: bool) -> ServerEvent {
    match output {
        PfOutput::Send { .. } => unreachable!("sends go to SMTPSVC"),
        PfOutput::BackfillQueued { folder, changes, due } => {
            ServerEvent::PfBackfillQueued { folder, changes, due_ms: due.as_ms() }
        }
        PfOutput::BackfillRequested { folder, source, changes, waited_ms, min_wait_ms } => {
            ServerEvent::PfBackfillRequested { folder, source, changes, waited_ms, min_wait_ms }
        }
        PfOutput::HierarchyWaiting { folder } => {
            ServerEvent::PfHierarchyOrphan { folder: FolderKey::Folder(folder), expired: false }
        }
        PfOutput::HierarchyExpired { folder } => {
            ServerEvent::PfHierarchyOrphan { folder: FolderKey::Folder(folder), expired: true }
        }
        PfOutput::ReplicaAdded { folder } => ServerEvent::PfReplica { folder: FolderKey::Folder(folder), added: true },
        PfOutput::ReplicaRemoved { folder } => {
            ServerEvent::PfReplica { folder: FolderKey::Folder(folder), added: false }
        }
        PfOutput::FolderDeleted { folder, name, by } => {
            ServerEvent::PfFolderDeleted { folder: FolderKey::Folder(folder), name, by, event_9682: log_deletions }
        }
    }
}
