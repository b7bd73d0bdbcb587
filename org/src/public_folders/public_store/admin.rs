//! The administrator's orders to a public store (EXCHANGE2003.md §8): Exchange System
//! Manager connects to one server's public store and makes its changes there, as
//! hierarchy changes that replicate like any other; the SP2 tools act on the store.

use super::*;
use crate::AddressId;

/// An administrator's order to one public store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PfAdmin {
    /// SP2: stop (or resume) all content replication; the hierarchy keeps replicating.
    ContentReplication { stopped: bool },
    /// SP2 Synchronize Hierarchy.
    SynchronizeHierarchy,
    /// SP2 Send Contents (`to` None: every other replica of each folder held here) or
    /// Resend Changes (to these stores): items changed in the last `days` days.
    SendContents { days: u64, to: Option<Vec<ReplicaId>> },
    /// A replica list change (Manage Public Folder Settings: add and remove stores, on
    /// the folder or down its whole subtree).
    Replicas { folder: FolderId, add: Vec<ReplicaId>, remove: Vec<ReplicaId>, subtree: bool },
    /// Permissions of the `Default` user (the wizard's first tab), on the folder or down
    /// its subtree.
    Permissions { folder: FolderId, default_role: super::super::replication_message::DefaultRole, subtree: bool },
    /// Move All Replicas: every folder this store replicates moves to `to`; this store
    /// leaves each once `to` holds what it held.
    MoveAllReplicas { to: ReplicaId },
    /// Deletes a folder and its subfolders (`by`: the administrator's mailbox).
    DeleteFolder { folder: FolderId, by: AddressId },
}

impl PublicStore {
    /// Carries out an administrator's order here.
    pub fn administer(&mut self, now: Instant, order: &PfAdmin) -> Result<(), PfRefusal> {
        match order {
            PfAdmin::ContentReplication { stopped } => self.set_content_stopped(*stopped),
            PfAdmin::SynchronizeHierarchy => self.synchronize_hierarchy(),
            PfAdmin::SendContents { days, to } => {
                let since = Instant(now.as_ms().saturating_sub(days * DAY_MS));
                self.send_contents(since, to.as_deref());
            }
            PfAdmin::Replicas { folder, add, remove, subtree } => {
                self.folder(*folder).ok_or(PfRefusal::NoFolder)?;
                let targets = if *subtree { self.subtree(*folder) } else { vec![*folder] };
                for f in targets {
                    self.change_folder(now, f, |p| {
                        p.replicas.retain(|r| !remove.contains(r));
                        p.replicas.extend(add.iter().copied());
                    })?;
                }
            }
            PfAdmin::Permissions { folder, default_role, subtree } => {
                self.folder(*folder).ok_or(PfRefusal::NoFolder)?;
                let targets = if *subtree { self.subtree(*folder) } else { vec![*folder] };
                for f in targets {
                    self.change_folder(now, f, |p| p.default_role = *default_role)?;
                }
            }
            PfAdmin::MoveAllReplicas { to } => {
                let me = self.replica;
                let moving: Vec<FolderId> =
                    self.live_folders().into_iter().filter(|(_, p)| p.replicas.contains(&me)).map(|(f, _)| f).collect();
                for f in moving {
                    self.change_folder(now, f, |p| {
                        p.replicas.retain(|r| *r != me);
                        p.replicas.push(*to);
                    })?;
                }
            }
            PfAdmin::DeleteFolder { folder, by } => {
                self.folder(*folder).ok_or(PfRefusal::NoFolder)?;
                // Children first, so that no hierarchy change names a deleted parent.
                for f in self.subtree(*folder).into_iter().rev() {
                    self.delete_folder(now, f, *by)?;
                }
            }
        }
        Ok(())
    }

    /// A live folder and its live descendants, parents before children.
    fn subtree(&self, top: FolderId) -> Vec<FolderId> {
        let folders = self.live_folders();
        let mut found = vec![top];
        let mut i = 0;
        while i < found.len() {
            let parent = found[i];
            found.extend(folders.iter().filter(|(_, p)| p.parent == Some(parent)).map(|(f, _)| *f));
            i += 1;
        }
        found
    }
}
