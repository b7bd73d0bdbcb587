//! Changes made on this store — by clients (posts, deletions) and administrators
//! (folders, replica lists, the SP2 tools) — and how the store follows its hierarchy:
//! a replica list that names it makes it a replica, one that no longer does makes it
//! leave once the others hold everything it had.

use super::*;
use crate::system_attendant::oab::distribution::{superseded, OabFile};

/// Why a change on this store was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PfRefusal {
    /// No such folder (or it was deleted).
    NoFolder,
    /// The folder has no replica on this store: a client is referred elsewhere.
    NoReplicaHere,
    /// The folder's permissions do not let the client do it.
    AccessDenied,
}

impl PfRefusal {
    /// The name the trace writes.
    pub fn as_str(self) -> &'static str {
        match self {
            PfRefusal::NoFolder => "no_folder",
            PfRefusal::NoReplicaHere => "no_replica_here",
            PfRefusal::AccessDenied => "access_denied",
        }
    }
}

impl PublicStore {
    /// An administrator creates a folder here.
    pub fn create_folder(&mut self, now: Instant, props: FolderProps) -> Result<FolderId, PfRefusal> {
        if props.parent.is_some_and(|p| self.folder(p).is_none()) {
            return Err(PfRefusal::NoFolder);
        }
        let cn = self.next_cn();
        self.hierarchy.change(cn, now, cn, Some(props));
        self.unsent_hierarchy.insert(cn);
        self.follow_hierarchy(now, FolderId(cn));
        Ok(FolderId(cn))
    }

    /// An administrator changes a folder's properties here (replica list, schedule).
    pub fn change_folder(
        &mut self,
        now: Instant,
        folder: FolderId,
        edit: impl FnOnce(&mut FolderProps),
    ) -> Result<(), PfRefusal> {
        let mut props = self.folder(folder).ok_or(PfRefusal::NoFolder)?.clone();
        edit(&mut props);
        props.replicas.sort_unstable();
        props.replicas.dedup();
        let cn = self.next_cn();
        self.hierarchy.change(cn, now, folder.0, Some(props));
        self.unsent_hierarchy.insert(folder.0);
        self.follow_hierarchy(now, folder);
        Ok(())
    }

    /// An administrator (`by`) deletes a folder here; its tombstone replicates the
    /// deletion.
    pub fn delete_folder(&mut self, now: Instant, folder: FolderId, by: crate::AddressId) -> Result<(), PfRefusal> {
        let name = self.folder(folder).ok_or(PfRefusal::NoFolder)?.name.clone();
        let cn = self.next_cn();
        self.hierarchy.change(cn, now, folder.0, None);
        self.unsent_hierarchy.insert(folder.0);
        self.out.push(PfOutput::FolderDeleted { folder, name, by });
        self.follow_hierarchy(now, folder);
        Ok(())
    }

    /// A client posts an item here (the folder's permissions allowing).
    pub fn client_post(&mut self, now: Instant, folder: FolderId, size_bytes: u64) -> Result<ChangeNumber, PfRefusal> {
        if !self.folder(folder).ok_or(PfRefusal::NoFolder)?.default_role.can_post() {
            return Err(PfRefusal::AccessDenied);
        }
        self.post(now, folder, size_bytes)
    }

    /// An item is posted here (or mail to a mail-enabled folder is delivered).
    pub fn post(&mut self, now: Instant, folder: FolderId, size_bytes: u64) -> Result<ChangeNumber, PfRefusal> {
        self.post_item(now, folder, ItemProps::plain(size_bytes))
    }

    fn post_item(&mut self, now: Instant, folder: FolderId, props: ItemProps) -> Result<ChangeNumber, PfRefusal> {
        self.folder(folder).ok_or(PfRefusal::NoFolder)?;
        if self.folders.get(&folder).is_none_or(|r| r.leaving) {
            return Err(PfRefusal::NoReplicaHere);
        }
        let cn = self.next_cn();
        let replica = self.folders.get_mut(&folder).expect("checked above");
        replica.items.change(cn, now, cn, Some(props));
        replica.unsent.insert(cn);
        Ok(cn)
    }

    /// The System Attendant posts an OAB generation's files (§9): a message per file,
    /// then the messages they supersede are deleted (older full files, old patches).
    pub fn post_oab_files(
        &mut self,
        now: Instant,
        folder: FolderId,
        files: &[(OabFile, u64)],
    ) -> Result<(), PfRefusal> {
        let Some(newest) = files.iter().map(|(f, _)| f.sequence).max() else { return Ok(()) };
        for (file, size_bytes) in files {
            self.post_item(now, folder, ItemProps { size_bytes: *size_bytes, oab_file: Some(*file) })?;
        }
        let oab = files[0].0.oab;
        let old: Vec<ChangeNumber> = self.folders[&folder]
            .items
            .live()
            .filter(|(_, p)| p.oab_file.is_some_and(|f| f.oab == oab && superseded(&f, newest)))
            .map(|(id, _)| id)
            .collect();
        for item in old {
            self.delete_item(now, folder, item)?;
        }
        Ok(())
    }

    /// A client deletes an item here.
    pub fn delete_item(&mut self, now: Instant, folder: FolderId, item: ChangeNumber) -> Result<(), PfRefusal> {
        let held = self.folders.get(&folder).is_some_and(|r| r.items.get(item).is_some_and(|e| e.value.is_some()));
        if !held {
            return Err(PfRefusal::NoReplicaHere);
        }
        let cn = self.next_cn();
        let replica = self.folders.get_mut(&folder).expect("checked above");
        replica.items.change(cn, now, item, None);
        replica.unsent.insert(item);
        Ok(())
    }

    /// SP2: all content replication stops (or resumes) organization-wide; the
    /// hierarchy keeps replicating.
    pub fn set_content_stopped(&mut self, stopped: bool) {
        self.content_stopped = stopped;
    }

    /// Whether content replication is stopped.
    pub fn content_stopped(&self) -> bool {
        self.content_stopped
    }

    /// SP2 Send Contents: every folder held here sends its items changed since `since`
    /// to its other replicas at once (and Resend Changes, to the replicas in `to`).
    pub fn send_contents(&mut self, since: Instant, to: Option<&[ReplicaId]>) {
        let held: Vec<FolderId> = self.folders.keys().copied().collect();
        for folder in held {
            let entries = self.folders[&folder].items.changed_since(since);
            let targets = self.other_replicas(folder);
            let targets: Vec<ReplicaId> = targets.into_iter().filter(|r| to.is_none_or(|t| t.contains(r))).collect();
            self.send_items(folder, ReplicationKind::Content, entries, targets);
        }
    }

    /// SP2 Synchronize Hierarchy: this store asks every other store for its hierarchy
    /// status, and backfills what it lacks.
    pub fn synchronize_hierarchy(&mut self) {
        let to: Vec<ReplicaId> = self.peers.keys().copied().collect();
        let status = self.hierarchy.cn_set().clone();
        let message = ReplicationMessage {
            kind: ReplicationKind::StatusRequest,
            folder: FolderKey::Hierarchy,
            from: self.replica,
            status,
            payload: Payload::Nothing,
        };
        self.send(to, message);
    }

    /// Makes this store's replica of `folder` follow the hierarchy: created when the
    /// replica list names it, leaving when it no longer does, gone with the folder.
    pub(super) fn follow_hierarchy(&mut self, _now: Instant, folder: FolderId) {
        let named = self.folder(folder).map(|p| p.replicas.contains(&self.replica));
        match (named, self.folders.get_mut(&folder)) {
            (None, Some(_)) => {
                self.folders.remove(&folder);
                self.backfill.forget(FolderKey::Folder(folder));
            }
            (Some(true), None) => {
                let replica = FolderReplica { wants_status: true, ..FolderReplica::default() };
                self.folders.insert(folder, replica);
                self.out.push(PfOutput::ReplicaAdded { folder });
            }
            (Some(true), Some(replica)) => replica.leaving = false,
            (Some(false), Some(replica)) => {
                replica.leaving = true;
                replica.wants_status = true;
            }
            (None | Some(false), None) => {}
        }
    }

    /// The folder's replicas other than this store.
    pub(super) fn other_replicas(&self, folder: FolderId) -> Vec<ReplicaId> {
        let replicas = self.folder(folder).map_or(&[][..], |p| p.replicas.as_slice());
        replicas.iter().copied().filter(|r| *r != self.replica).collect()
    }
}
