//! The Information Store's public store (EXCHANGE2003.md §8): the replication agent runs
//! inside MSExchangeIS. What it sends goes to SMTPSVC as mail to the other public
//! stores' addresses; replication mail delivered to this server's public store address
//! is handed to it. Its state is written with every change, so a crash keeps what it
//! acknowledged.

use super::information_store::InformationStore;
use crate::message::Message;
use crate::public_folders::public_store::{PfOutput, PublicStore};
use crate::public_folders::replication_message::{FolderKey, Payload, ReplicationMessage};
use crate::service_events::ToSmtp;
use crate::time::Instant;
use crate::trace::ServerEvent;
use crate::transport::queue_directory::DiskOp;
use crate::AddressId;
use std::sync::Arc;

impl InformationStore {
    /// The public store this server mounts: what its disk holds, or the organization's
    /// starting folders.
    pub(super) fn open_public_store(&self, disk: Option<&PublicStore>, now: Instant) -> Option<PublicStore> {
        let replica = self.topology.public_store_of(self.id)?;
        if let Some(store) = disk {
            return Some(store.clone());
        }
        let settings = self.topology.public_store(replica).settings.clone();
        let peers = self.topology.public_store_peers(replica);
        Some(PublicStore::new(replica, settings, peers, &self.topology.public_folders, now))
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
            self.public_settle(now);
        }
    }

    /// The public store, on a server that has one.
    pub fn public_store(&self) -> Option<&PublicStore> {
        self.public.as_ref()
    }

    /// A client posts an item to a folder of this public store.
    pub fn public_post(
        &mut self,
        now: Instant,
        folder: crate::public_folders::replication_message::FolderId,
        size_bytes: u64,
    ) -> Result<(), crate::public_folders::public_store::PfRefusal> {
        let store = self.public.as_mut().ok_or(crate::public_folders::public_store::PfRefusal::NoReplicaHere)?;
        store.post(now, folder, size_bytes)?;
        self.public_settle(now);
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
        self.public_settle(now);
    }

    /// Hands what the agent produced on: messages to SMTPSVC, the rest to the trace;
    /// the store's new state is written.
    fn public_settle(&mut self, _now: Instant) {
        let Some(store) = self.public.as_mut() else { return };
        let outputs = store.drain();
        let snapshot = Box::new(store.clone());
        self.out.write(DiskOp::PublicStore(snapshot));
        for output in outputs {
            match output {
                PfOutput::Send { to, message } => {
                    let to: Vec<AddressId> = to.iter().map(|r| self.topology.public_store(*r).address).collect();
                    self.out.to_smtp(ToSmtp::SubmitReplication { to, message: Arc::new(message) });
                }
                other => self.out.emit(trace_event(other)),
            }
        }
    }
}

/// The trace event of an agent's report.
fn trace_event(output: PfOutput) -> ServerEvent {
    match output {
        PfOutput::Send { .. } => unreachable!("sends go to SMTPSVC"),
        PfOutput::BackfillQueued { folder, changes, due } => {
            ServerEvent::PfBackfillQueued { folder, changes, due_ms: due.as_ms() }
        }
        PfOutput::BackfillRequested { folder, source, changes, waited_ms } => {
            ServerEvent::PfBackfillRequested { folder, source, changes, waited_ms }
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
        PfOutput::FolderDeleted { folder, name } => {
            ServerEvent::PfFolderDeleted { folder: FolderKey::Folder(folder), name }
        }
    }
}

/// How many changes a replication message carries, or asks for.
pub fn changes_carried(message: &ReplicationMessage) -> u64 {
    match &message.payload {
        Payload::Nothing => 0,
        Payload::Folders(f) => f.len() as u64,
        Payload::Items(i) => i.len() as u64,
        Payload::Request(cns) => cns.len(),
    }
}
