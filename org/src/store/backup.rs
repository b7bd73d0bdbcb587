//! Backup, restore and the Recovery Storage Group (EXCHANGE2003.md §7).
//!
//! An online (Volume Shadow Copy) backup of a storage group: the store is told first,
//! flushes what it holds, and the copy is taken of what is then durable — every
//! mounted database of the group and the logs up to that moment; ESE then deletes the
//! log files below the checkpoint's. The backup set goes to media outside the server
//! (the driver keeps it), so it outlives the server's disks.
//!
//! A failed volume loses a storage group's databases; if its log volume survives and
//! circular logging is off, every log file written since the last backup is still
//! there. A restore of the backup set over the original databases then runs hard
//! recovery, replaying those logs: nothing is lost. With the logs gone, what came after
//! the backup is lost, exactly that.
//!
//! A server with a Recovery Storage Group takes restores there (unless "Recovery SG
//! Override" = 1): mailbox stores of one storage group at a time, from a server of the
//! same administrative group running Exchange 2000 SP3 or later (the only versions the
//! model knows). Its mailboxes are disconnected: no user's, no mail delivered to them.
//! A merge (ExMerge, or ESM's "Merge Data") copies their messages into the live
//! mailboxes of the same users — not their rules (the Out of Office history lives with
//! the OOF rule, so it is not copied), not folder permissions; the account running it
//! needs Receive As and Send As on the target, or it does not complete. The usual
//! sequence after losing both volumes is dial-tone recovery: mount a blank database so
//! mail flows, restore the backup into the RSG, merge.

use super::information_store::InformationStore;
use crate::message::MessageId;
use crate::planted_bugs::PlantedBug;
use crate::service_events::AfterFlush;
use crate::time::Instant;
use crate::trace::{DatabaseChange, ServerEvent};
use crate::transport::queue_directory::{DiskOp, LostDatabase, MailboxContents, RecoveryDatabases};
use crate::{AddressId, ServerId, StorageGroupId, StoreId};

/// Mailboxes with what they held, in owner order.
pub type MailboxSet = Vec<(AddressId, MailboxContents)>;

/// A completed online backup of one storage group, on media outside its server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSet {
    pub server: ServerId,
    pub group: StorageGroupId,
    pub taken_at: Instant,
    /// The log generation current when it was taken: hard recovery replays from here.
    pub log_generation: u32,
    /// Each database backed up (the group's mounted ones) with its mailboxes.
    pub databases: Vec<(StoreId, MailboxSet)>,
}

impl BackupSet {
    fn messages(&self) -> u64 {
        self.databases.iter().flat_map(|(_, m)| m).map(|(_, c)| c.messages.len() as u64).sum()
    }
}

/// Where a restore put a backup set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreTarget {
    RecoveryStorageGroup,
    Original,
}

/// Why a restore was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestoreRefusal {
    /// No backup of the storage group is on the media.
    NoBackupSet,
    /// The source server is in another administrative group than the RSG's (§7).
    OtherAdministrativeGroup,
    /// The RSG holds databases of another storage group: stores restored together come
    /// from one storage group (§7).
    RecoveryGroupHoldsAnother,
    /// Over the original: this server has no RSG and the backup is of another server.
    NotTheOriginalServer,
    /// Over the original: a database is mounted (dismount it first).
    DatabaseMounted,
    /// Over the original: a blank database was mounted in its place and took mail since;
    /// restoring over it would lose that (restore into the RSG and merge instead).
    NotOverwritable,
    /// None of the stores asked for is in the backup set.
    NoDatabaseInSet,
}

/// Why a merge did not complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MergeRefusal {
    /// The RSG holds nothing (no restore into it).
    NothingRestored,
    /// The account lacks Receive As on the target databases.
    NoReceiveAs,
    /// The account lacks Send As on the target databases.
    NoSendAs,
}

/// The rights of the account running a merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergeRights {
    pub receive_as: bool,
    pub send_as: bool,
}

impl RestoreTarget {
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreTarget::RecoveryStorageGroup => "recovery_storage_group",
            RestoreTarget::Original => "original",
        }
    }
}

impl RestoreRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreRefusal::NoBackupSet => "no_backup_set",
            RestoreRefusal::OtherAdministrativeGroup => "other_administrative_group",
            RestoreRefusal::RecoveryGroupHoldsAnother => "recovery_group_holds_another_storage_group",
            RestoreRefusal::NotTheOriginalServer => "not_the_original_server",
            RestoreRefusal::DatabaseMounted => "database_mounted",
            RestoreRefusal::NotOverwritable => "not_overwritable",
            RestoreRefusal::NoDatabaseInSet => "no_database_in_set",
        }
    }
}

impl MergeRefusal {
    pub fn as_str(self) -> &'static str {
        match self {
            MergeRefusal::NothingRestored => "nothing_restored",
            MergeRefusal::NoReceiveAs => "no_receive_as",
            MergeRefusal::NoSendAs => "no_send_as",
        }
    }
}

/// Hard recovery of a restored database: the backup's mailboxes, brought up to date by
/// the logs written since when they survived (what they rebuild: the mailboxes as they
/// were when the volume failed); with how many messages the replay added (`None`: no
/// later logs, or the planted bug `restore-skips-later-logs` ignored them).
fn hard_recovery(backed_up: MailboxSet, later_logs: Option<MailboxSet>, bug: bool) -> (MailboxSet, Option<u64>) {
    match later_logs.filter(|_| !bug) {
        Some(at_failure) => {
            let replayed = messages_in(&at_failure).saturating_sub(messages_in(&backed_up));
            (at_failure, Some(replayed))
        }
        None => (backed_up, None),
    }
}

/// Messages in a set of mailboxes.
fn messages_in(mailboxes: &MailboxSet) -> u64 {
    mailboxes.iter().map(|(_, c)| c.messages.len() as u64).sum()
}

impl InformationStore {
    /// The mailboxes this store holds in `store`, in owner order.
    fn mailboxes_in(&self, store: StoreId) -> Vec<AddressId> {
        let mut owners: Vec<AddressId> = self.stores.owners().filter(|o| self.store_of(*o) == store).collect();
        owners.sort_unstable();
        owners
    }

    /// An online backup of a storage group completes: the set holds its mounted
    /// databases as committed now (the writes before it are durable when the set is
    /// handed over); the log files below the checkpoint's are deleted, unless a
    /// database of the group is lost — its logs are all that is left of it [U].
    pub fn handle_backup(&mut self, now: Instant, group: StorageGroupId) {
        let Some(mut log) = self.logs.get(&group).copied() else { return };
        let stores = self.topology.storage_group(group).stores.clone();
        let databases: Vec<(StoreId, MailboxSet)> = stores
            .iter()
            .filter(|s| self.mounted(**s))
            .map(|s| (*s, self.mailboxes_in(*s).into_iter().map(|o| (o, self.stores.contents(o))).collect()))
            .collect();
        let keeps_logs = stores.iter().any(|s| self.lost.contains_key(s));
        let log_files_deleted = if keeps_logs { 0 } else { log.truncate() };
        self.logs.insert(group, log);
        self.out.write(DiskOp::Log { group, log });
        let set = BackupSet { server: self.id, group, taken_at: now, log_generation: log.generation(), databases };
        let event = ServerEvent::Backup {
            storage_group: group,
            databases: set.databases.len() as u64,
            mailboxes: set.databases.iter().map(|(_, m)| m.len() as u64).sum(),
            messages: set.messages(),
            log_files_deleted,
            log_files: log.log_files(),
        };
        self.out.after_flush(AfterFlush::Event(event));
        self.out.after_flush(AfterFlush::BackupSet(Box::new(set)));
    }

    /// A storage group's database volume failed (and its log volume too, when
    /// `logs_lost`): its databases are gone and dismount; mail for them waits in Local
    /// delivery. The logs since the last backup can be replayed later if they survived
    /// and circular logging did not delete them.
    pub fn handle_disk_failure(&mut self, group: StorageGroupId, logs_lost: bool) {
        let replayable = !logs_lost && !self.topology.storage_group(group).log.circular;
        let stores: Vec<StoreId> =
            self.topology.storage_group(group).stores.iter().copied().filter(|s| !self.lost_unmounted(*s)).collect();
        let (mut mailboxes, mut messages) = (0, 0);
        let mut lost_owners = Vec::new();
        for store in &stores {
            let owners = self.mailboxes_in(*store);
            let set: MailboxSet = owners.iter().map(|o| (*o, self.stores.contents(*o))).collect();
            owners.iter().for_each(|o| self.stores.remove(*o));
            (mailboxes, messages) = (mailboxes + set.len() as u64, messages + messages_in(&set));
            self.lost.insert(*store, LostDatabase { blank: false, replayable: replayable.then_some(set) });
            self.files.insert(*store, Default::default());
            self.dismounted.insert(*store);
            lost_owners.push((*store, owners));
        }
        if logs_lost {
            self.logs.insert(group, Default::default());
        }
        self.out.write(DiskOp::DatabasesLost { group, stores: lost_owners, logs_lost, replayable });
        let event =
            ServerEvent::DiskFailed { storage_group: group, logs_lost, later_logs: replayable, mailboxes, messages };
        self.out.after_flush(AfterFlush::Event(event));
        for store in stores {
            let event = ServerEvent::DatabaseState { store, change: DatabaseChange::Lost };
            self.out.after_flush(AfterFlush::Event(event));
        }
    }

    /// Whether a database's files are gone and nothing was mounted in its place.
    pub(super) fn lost_unmounted(&self, store: StoreId) -> bool {
        self.lost.get(&store).is_some_and(|l| !l.blank)
    }

    /// Mounting a lost database creates a blank one in its place (dial tone): its users
    /// get empty mailboxes and mail flows again.
    pub(super) fn mount_blank(&mut self, store: StoreId) {
        let lost = self.lost.get_mut(&store).expect("only a lost database mounts blank");
        lost.blank = true;
        self.dismounted.remove(&store);
        self.out.write(DiskOp::MountedBlank { store });
        let event = ServerEvent::DatabaseState { store, change: DatabaseChange::MountedBlank };
        self.out.after_flush(AfterFlush::Event(event));
    }

    /// A restore of the newest backup set of a storage group (`None`: the media hold
    /// none) of `from`, of the databases `only` names (all when empty), onto this
    /// server: into its RSG if it has one and no override, else over the originals.
    pub fn handle_restore(&mut self, from: (ServerId, StorageGroupId), set: Option<Box<BackupSet>>, only: &[StoreId]) {
        let recovery = self.topology.recovery_storage_groups.get(&self.id).copied();
        let target = match recovery {
            Some(config) if !config.sg_override => RestoreTarget::RecoveryStorageGroup,
            _ => RestoreTarget::Original,
        };
        let refuse = |reason| ServerEvent::RestoreRefused { storage_group: from.1, from_server: from.0, reason };
        let Some(mut set) = set else { return self.out.emit(refuse(RestoreRefusal::NoBackupSet)) };
        set.databases.retain(|(s, _)| only.is_empty() || only.contains(s));
        if let Err(reason) = self.restorable(&set, target) {
            return self.out.emit(refuse(reason));
        }
        match target {
            RestoreTarget::RecoveryStorageGroup => self.restore_into_recovery_group(*set),
            RestoreTarget::Original => self.restore_over_originals(*set),
        }
    }

    /// The constraints of §7 on a restore of `set` to `target`.
    fn restorable(&self, set: &BackupSet, target: RestoreTarget) -> Result<(), RestoreRefusal> {
        if set.databases.is_empty() {
            return Err(RestoreRefusal::NoDatabaseInSet);
        }
        match target {
            RestoreTarget::RecoveryStorageGroup => {
                let group_of = |s: ServerId| self.topology.routing_group(self.topology.server(s).routing_group);
                if group_of(set.server).administrative_group != group_of(self.id).administrative_group {
                    return Err(RestoreRefusal::OtherAdministrativeGroup);
                }
                if self.recovery.as_ref().is_some_and(|r| (r.server, r.group) != (set.server, set.group)) {
                    return Err(RestoreRefusal::RecoveryGroupHoldsAnother);
                }
            }
            RestoreTarget::Original => {
                if set.server != self.id {
                    return Err(RestoreRefusal::NotTheOriginalServer);
                }
                for (store, _) in &set.databases {
                    if self.mounted(*store) {
                        return Err(RestoreRefusal::DatabaseMounted);
                    }
                    if self.lost.get(store).is_some_and(|l| l.blank) {
                        return Err(RestoreRefusal::NotOverwritable);
                    }
                }
            }
        }
        Ok(())
    }

    /// The RSG takes the set's databases as disconnected mailboxes: the backup, plus the
    /// original's surviving logs when the database was lost with them (copied into the
    /// RSG's log folder, hard recovery replays them too).
    fn restore_into_recovery_group(&mut self, set: BackupSet) {
        let mut recovery = self.recovery.take().unwrap_or_else(|| RecoveryDatabases {
            server: set.server,
            group: set.group,
            databases: Vec::new(),
        });
        let (mut from_backup, mut replayed, mut later_logs) = (0, 0, true);
        let stores: Vec<StoreId> = set.databases.iter().map(|(s, _)| *s).collect();
        for (store, backed_up) in set.databases {
            from_backup += messages_in(&backed_up);
            let logs = self.lost.get(&store).and_then(|l| l.replayable.clone());
            let (restored, replay) =
                hard_recovery(backed_up, logs, self.topology.bug(PlantedBug::RestoreSkipsLaterLogs));
            (replayed, later_logs) = (replayed + replay.unwrap_or(0), later_logs && replay.is_some());
            recovery.databases.retain(|(s, _)| *s != store);
            recovery.databases.push((store, restored));
        }
        recovery.databases.sort_unstable_by_key(|(s, _)| *s);
        let mailboxes = recovery.databases.iter().map(|(_, m)| m.len() as u64).sum();
        self.out.write(DiskOp::RecoveryRestored(Box::new(recovery.clone())));
        self.recovery = Some(recovery);
        let event = ServerEvent::Restored {
            storage_group: set.group,
            from_server: set.server,
            backup_at_ms: set.taken_at.as_ms(),
            into: RestoreTarget::RecoveryStorageGroup,
            databases: stores,
            mailboxes,
            from_backup,
            replayed,
            later_logs,
        };
        self.out.after_flush(AfterFlush::Event(event));
    }

    /// Over the originals: the backup's mailboxes, then hard recovery replays the logs
    /// written since (when they survived); the databases mount and the mail waiting in
    /// Local delivery goes in at its next retry.
    fn restore_over_originals(&mut self, set: BackupSet) {
        let (mut from_backup, mut replayed, mut later_logs, mut mailboxes) = (0, 0, true, 0);
        let stores: Vec<StoreId> = set.databases.iter().map(|(s, _)| *s).collect();
        for (store, backed_up) in set.databases {
            from_backup += messages_in(&backed_up);
            let logs = self.lost.remove(&store).and_then(|l| l.replayable);
            let (restored, replay) =
                hard_recovery(backed_up, logs, self.topology.bug(PlantedBug::RestoreSkipsLaterLogs));
            (replayed, later_logs) = (replayed + replay.unwrap_or(0), later_logs && replay.is_some());
            mailboxes += restored.len() as u64;
            for (owner, contents) in &restored {
                self.stores.put(*owner, contents.clone());
            }
            self.files.entry(store).or_default().edb_bytes += restored.iter().map(|(_, c)| c.size_bytes).sum::<u64>();
            self.out.write(DiskOp::RestoredOver { store, mailboxes: restored });
            self.dismounted.remove(&store);
        }
        let event = ServerEvent::Restored {
            storage_group: set.group,
            from_server: set.server,
            backup_at_ms: set.taken_at.as_ms(),
            into: RestoreTarget::Original,
            databases: stores.clone(),
            mailboxes,
            from_backup,
            replayed,
            later_logs,
        };
        self.out.after_flush(AfterFlush::Event(event));
        for store in stores {
            let event = ServerEvent::DatabaseState { store, change: DatabaseChange::MountedAfterRestore };
            self.out.after_flush(AfterFlush::Event(event));
        }
    }

    /// Merges the RSG's disconnected mailboxes into their users' live mailboxes on this
    /// server: each message the live one lacks (by Message-ID), not the rules (the OOF
    /// history) nor folder permissions. A user whose mailbox is now elsewhere, or in a
    /// database not mounted, is left out and counted.
    pub fn handle_merge(&mut self, rights: MergeRights) {
        let refuse = |reason| ServerEvent::MergeRefused { reason };
        let reason = match &self.recovery {
            None => Some(MergeRefusal::NothingRestored),
            Some(_) if !rights.receive_as => Some(MergeRefusal::NoReceiveAs),
            Some(_) if !rights.send_as => Some(MergeRefusal::NoSendAs),
            Some(_) => None,
        };
        if let Some(reason) = reason {
            return self.out.emit(refuse(reason));
        }
        let recovery = self.recovery.take().expect("checked above");
        let (mut merged, mut left_out, mut messages, mut bytes) = (0u64, 0u64, 0u64, 0u64);
        let mut oof_histories_left = 0;
        for (owner, contents) in recovery.databases.iter().flat_map(|(_, m)| m) {
            let store = self.store_of(*owner);
            if self.topology.store(store).server != self.id || !self.mounted(store) {
                left_out += 1;
                continue;
            }
            oof_histories_left += u64::from(!contents.oof_replied.is_empty());
            let missing: Vec<MessageId> = contents.messages.iter().filter(|m| !self.stores.holds(*owner, *m)).collect();
            if missing.is_empty() {
                merged += 1;
                continue;
            }
            // Message sizes are not kept per message: the missing share of the size.
            let share = contents.size_bytes * missing.len() as u64 / contents.messages.len() as u64;
            self.stores.merge(*owner, &missing, share);
            self.out.write(DiskOp::Merged { owner: *owner, messages: missing.clone(), bytes: share });
            let group = self.topology.store(store).storage_group_id;
            self.write_merged(group, store, share);
            (merged, messages, bytes) = (merged + 1, messages + missing.len() as u64, bytes + share);
        }
        self.recovery = Some(recovery);
        let event = ServerEvent::Merged { mailboxes: merged, left_out, messages, bytes, oof_histories_left };
        self.out.after_flush(AfterFlush::Event(event));
    }
}
