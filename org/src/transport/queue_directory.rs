//! The durable part of a server: the SMTP queue directory (`mailroot\vsi 1\Queue`, one
//! file per message with its remaining recipients), the mailbox store's committed
//! deliveries, and the sizes of its log streams and database files. The server emits [`DiskOp`] batches; the simulator's disk applies a batch
//! atomically or, if the node dies first, not at all. A restarted server is rebuilt from
//! the [`DiskImage`] alone.

use crate::message::{Message, MessageId, MessageIdSet};
use crate::store::transaction_log::{DeliveryWrite, TransactionLog};
use crate::time::Instant;
use crate::transport::mailroot::{ArchiveFolder, MailrootFolders, VirtualServerRef};
use crate::{AddressId, StorageGroupId, StoreId};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A queue item's number on its server: unique there across restarts (numbers are never
/// reused, so a DSN or reply named after its item is unique org-wide with the server).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct QueueItemId(pub u64);

impl QueueItemId {
    /// The number after this one.
    pub fn next(self) -> QueueItemId {
        QueueItemId(self.0 + 1)
    }
}

impl std::fmt::Display for QueueItemId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A message file in the queue directory with the recipients it still has to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredItem {
    /// Queue item number on this server (unique here, across restarts).
    pub id: QueueItemId,
    /// The message.
    pub message: Message,
    /// Recipients not yet delivered, handed on or NDR'd.
    pub recipients: Vec<AddressId>,
    /// When this server accepted it; expiration counts from here.
    pub arrived_at: Instant,
    /// Submitted by a client of this server (the sending size limit applies here).
    pub submitted_here: bool,
}

/// One durable change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskOp {
    /// A new message file.
    Enqueue(StoredItem),
    /// These recipients of an item are done (delivered, handed on or NDR'd); the file is
    /// deleted once none remain.
    RecipientsDone {
        /// The queue item.
        item: QueueItemId,
        /// Recipients finished.
        recipients: Vec<AddressId>,
    },
    /// The categorizer expanded a group recipient of an item: the group is replaced by
    /// its members (none, for an empty group); the file is deleted if none remain.
    Expanded {
        /// The queue item.
        item: QueueItemId,
        /// The group recipient.
        group: AddressId,
        /// Its members, none already a recipient of the item.
        members: Vec<AddressId>,
    },
    /// A message committed to a mailbox: a record in its storage group's log, in the
    /// database once the checkpoint passes it.
    Deliver {
        /// The storage group of the mailbox's database.
        group: StorageGroupId,
        /// The mailbox owner.
        recipient: AddressId,
        /// The message.
        message: MessageId,
        /// Its size.
        size_bytes: u64,
    },
    /// A delivery's writes to a storage group's log and to one of its databases
    /// (committed with the deliveries they carry).
    StoreWrite {
        /// The storage group, whose log takes the record.
        group: StorageGroupId,
        /// The database.
        store: StoreId,
        /// What it writes.
        write: DeliveryWrite,
        /// The log after the record (ESE moves the checkpoint; the disk records it).
        log: TransactionLog,
    },
    /// A storage group's log files changed without a record: a backup truncated them.
    Log {
        /// The storage group.
        group: StorageGroupId,
        /// Its log now.
        log: TransactionLog,
    },
    /// The categorizer sent a journal report on an item's message to `journal`: the
    /// message's journal data (XEXCH50) names it from now on.
    Journaled {
        /// The queue item.
        item: QueueItemId,
        /// The journal mailbox.
        journal: AddressId,
    },
    /// The store answered `sender` for a mailbox owner who is Out of Office: the OOF
    /// history lives in the mailbox, so a restart does not answer the sender again.
    OofReplied {
        /// The mailbox owner.
        owner: AddressId,
        /// Who was answered.
        sender: AddressId,
    },
    /// A move committed a mailbox into a database here (written through to it).
    MailboxIn {
        /// The database's storage group.
        group: StorageGroupId,
        /// The database.
        store: StoreId,
        /// The mailbox owner.
        owner: AddressId,
        /// What the mailbox holds.
        contents: Box<MailboxContents>,
    },
    /// Users deleted these bytes of a database's items (deleted item retention keeps
    /// them for now).
    ItemsDeleted {
        /// The database.
        store: StoreId,
        /// When.
        at_ms: u64,
        /// How many bytes.
        bytes: u64,
    },
    /// Online maintenance purged a database's items deleted up to `until_ms` and these
    /// deleted mailboxes: `bytes` become logical free space.
    Purged {
        /// The database.
        store: StoreId,
        /// Items deleted up to then are gone.
        until_ms: u64,
        /// Mailboxes purged.
        mailboxes: Vec<AddressId>,
        /// Bytes freed.
        bytes: u64,
    },
    /// A move took a mailbox away: its copy here is deleted, with its deliveries not
    /// yet filed (they went with it).
    MailboxOut {
        /// The mailbox owner.
        owner: AddressId,
    },
    /// A storage group's database volume failed (its log volume too when `logs_lost`):
    /// its databases' mailboxes are gone; kept aside as the logs since the last backup
    /// would replay them when `replayable`.
    DatabasesLost {
        group: StorageGroupId,
        /// Each database with the mailboxes it held.
        stores: Vec<(StoreId, Vec<AddressId>)>,
        logs_lost: bool,
        replayable: bool,
    },
    /// A blank database was mounted in a lost one's place (dial tone).
    MountedBlank { store: StoreId },
    /// A restore put a backup set into the Recovery Storage Group (what it holds now).
    RecoveryRestored(Box<RecoveryDatabases>),
    /// A restore put these mailboxes over a lost database (hard recovery done).
    RestoredOver { store: StoreId, mailboxes: crate::store::backup::MailboxSet },
    /// A merge from the Recovery Storage Group added these messages to a live mailbox.
    Merged { owner: AddressId, messages: Vec<MessageId>, bytes: u64 },
    /// The public store as it now is (its changes and replication state) [U: the model
    /// writes the whole store, not ESE's pages; only scenarios with public folders
    /// write it].
    PublicStore(Box<crate::public_folders::public_store::PublicStore>),
    /// A file into one of a virtual server's Badmail or archive folders.
    Mailroot { virtual_server: VirtualServerRef, folder: MailrootFolder, size_bytes: u64 },
    /// An administrator emptied a virtual server's Badmail folder.
    BadmailPurged { virtual_server: VirtualServerRef },
}

/// A folder of a virtual server's beside its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailrootFolder {
    Badmail,
    Archive(ArchiveFolder),
}

/// A database whose volume failed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LostDatabase {
    /// A blank database was mounted in its place since.
    pub blank: bool,
    /// What the backup and the logs written since would rebuild (the mailboxes as they
    /// were when it failed), when those logs survived.
    pub replayable: Option<crate::store::backup::MailboxSet>,
}

/// What a server's Recovery Storage Group holds: databases of one storage group,
/// restored, their mailboxes disconnected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryDatabases {
    /// The storage group backed up, and its server.
    pub server: crate::ServerId,
    pub group: StorageGroupId,
    pub databases: Vec<(StoreId, crate::store::backup::MailboxSet)>,
}

/// What one mailbox holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailboxContents {
    /// Internet Message-IDs delivered (the store's duplicate-delivery check reads these).
    pub messages: MessageIdSet,
    /// Total size.
    pub size_bytes: u64,
    /// Senders already sent an Out of Office reply (the mailbox's OOF history).
    pub oof_replied: BTreeSet<AddressId>,
}

/// Mailboxes by owner. Only ever looked up or cloned, never iterated into anything
/// ordered, so a hash map: one probe per delivery where a B-tree took a descent.
pub type Mailboxes = HashMap<AddressId, MailboxContents, rustc_hash::FxBuildHasher>;

/// A database's two files, as written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatabaseFiles {
    /// The property file (.edb).
    pub edb_bytes: u64,
    /// The streaming file (.stm), the content of mail that came in over SMTP.
    pub stm_bytes: u64,
    /// What online maintenance has purged (deleted items past retention, deleted
    /// mailboxes): logical free space inside the files.
    pub purged_bytes: u64,
}

/// A storage group's log files on disk: the stream with its checkpoint (everything
/// before it is in the database files), as the store last wrote it, and the deliveries
/// logged past the checkpoint, which soft recovery replays. Filing a checkpoint's worth
/// of deliveries together, sorted by mailbox, also touches each mailbox once per batch
/// instead of once per delivery (filing each at once was a sixth of the 100,000-mailbox
/// day).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFiles {
    pub log: TransactionLog,
    /// Deliveries logged past the checkpoint: (owner, message id bits, size).
    past_checkpoint: Vec<(AddressId, u64, u64)>,
}

/// The Information Store's files: each storage group's log stream and each database.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreFiles {
    pub logs: BTreeMap<StorageGroupId, LogFiles>,
    pub databases: BTreeMap<StoreId, DatabaseFiles>,
    /// Per database, items users deleted and deleted item retention keeps: (when, bytes).
    pub retained: BTreeMap<StoreId, Vec<(u64, u64)>>,
    /// Deleted mailboxes online maintenance has purged.
    pub purged_mailboxes: std::collections::BTreeSet<AddressId>,
    /// Databases whose volume failed, and the Recovery Storage Group's databases.
    pub lost: BTreeMap<StoreId, LostDatabase>,
    pub recovery: Option<RecoveryDatabases>,
    /// The public store: its hierarchy, folders, change counter and replication state.
    pub public: Option<Box<crate::public_folders::public_store::PublicStore>>,
}

/// The write a power loss tore: its record fails its checksum, so recovery discards it
/// (and a log replay ends there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TornWrite {
    /// What the write was.
    pub kind: DiskOpKind,
    /// The storage group whose log it was a record of (store writes only).
    pub group: Option<StorageGroupId>,
}

/// The kinds of durable change, as traced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskOpKind {
    Enqueue,
    RecipientsDone,
    Expanded,
    Deliver,
    StoreWrite,
    Log,
    Journaled,
    OofReplied,
    MailboxIn,
    MailboxOut,
    ItemsDeleted,
    Purged,
    DatabasesLost,
    MountedBlank,
    RecoveryRestored,
    RestoredOver,
    Merged,
    PublicStore,
    Mailroot,
    BadmailPurged,
}

/// What soft recovery did for one storage group when its store started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recovery {
    pub group: StorageGroupId,
    /// Replay ran from the checkpoint's log file to the current one.
    pub checkpoint_generation: u32,
    pub end_generation: u32,
    /// Deliveries replayed into their mailboxes.
    pub replayed: u64,
    /// Replay ended at a record a power loss tore.
    pub torn_record: bool,
}

/// Everything a server has made durable.
#[derive(Clone, Debug, Default)]
pub struct DiskImage {
    /// The store's logs and databases.
    pub store_files: StoreFiles,
    /// Message files in the queue directory.
    pub items: BTreeMap<QueueItemId, StoredItem>,
    /// The next queue item number (one past the highest ever made durable).
    pub next_item: QueueItemId,
    /// Mailboxes by owner, as the database files hold them (each storage group's
    /// checkpoint).
    mailboxes: Mailboxes,
    /// The write the last power loss tore, until the server recovers.
    pub torn: Option<TornWrite>,
    /// Each virtual server's Badmail and archive folders.
    pub mailroot: BTreeMap<VirtualServerRef, MailrootFolders>,
}

impl DiskImage {
    /// Applies one change; takes it by value, as a disk takes the bytes written (a new
    /// message file moves in, nothing is copied).
    pub fn apply(&mut self, op: DiskOp) {
        match op {
            DiskOp::Enqueue(item) => {
                assert!(!item.recipients.is_empty(), "an empty message file is never written");
                let id = item.id;
                let previous = self.items.insert(id, item);
                assert!(previous.is_none(), "queue item {id} written twice");
                self.next_item = self.next_item.max(id.next());
            }
            DiskOp::RecipientsDone { item, recipients } => {
                let stored = self.items.get_mut(&item).expect("recipients done for an item on disk");
                remove_recipients(&mut stored.recipients, &recipients);
                if stored.recipients.is_empty() {
                    self.items.remove(&item);
                }
            }
            DiskOp::Expanded { item, group, members } => {
                let stored = self.items.get_mut(&item).expect("an expanded item is on disk");
                let at = stored.recipients.iter().position(|x| *x == group);
                stored.recipients.swap_remove(at.expect("an expanded group was pending on disk"));
                debug_assert!(members.iter().all(|m| !stored.recipients.contains(m)), "members are new recipients");
                stored.recipients.extend_from_slice(&members);
                if stored.recipients.is_empty() {
                    self.items.remove(&item);
                }
            }
            DiskOp::Deliver { group, recipient, message, size_bytes } => {
                let log = self.store_files.logs.entry(group).or_default();
                log.past_checkpoint.push((recipient, message.to_bits(), size_bytes));
            }
            DiskOp::StoreWrite { group, store, write, log: after } => {
                let log = self.store_files.logs.entry(group).or_default();
                debug_assert_eq!(log.log.bytes() + write.log_bytes, after.bytes(), "records land in order");
                if after.checkpoint_bytes() != log.log.checkpoint_bytes() {
                    file(&mut self.mailboxes, &mut log.past_checkpoint);
                }
                log.log = after;
                let files = self.store_files.databases.entry(store).or_default();
                files.edb_bytes += write.edb_bytes;
                files.stm_bytes += write.stm_bytes;
            }
            DiskOp::Log { group, log } => self.store_files.logs.entry(group).or_default().log = log,
            DiskOp::Journaled { item, journal } => {
                let stored = &mut self.items.get_mut(&item).expect("a journaled item is on disk").message;
                stored.journaled = stored.journaled.iter().copied().chain([journal]).collect();
            }
            DiskOp::OofReplied { owner, sender } => {
                let fresh = self.mailboxes.entry(owner).or_default().oof_replied.insert(sender);
                debug_assert!(fresh, "one Out of Office reply per sender");
            }
            DiskOp::MailboxIn { group, store, owner, contents } => {
                // The moved mailbox is what its source held: it takes the place of
                // anything here under its owner (only a planted bug's stray copies).
                self.drop_mailbox(owner);
                self.store_files.logs.entry(group).or_default();
                self.store_files.databases.entry(store).or_default().edb_bytes += contents.size_bytes;
                self.mailboxes.insert(owner, *contents);
            }
            DiskOp::ItemsDeleted { store, at_ms, bytes } => {
                self.store_files.retained.entry(store).or_default().push((at_ms, bytes));
            }
            DiskOp::Purged { store, until_ms, mailboxes, bytes } => {
                self.store_files.retained.entry(store).or_default().retain(|(at, _)| *at > until_ms);
                self.store_files.purged_mailboxes.extend(mailboxes);
                self.store_files.databases.entry(store).or_default().purged_bytes += bytes;
            }
            DiskOp::MailboxOut { owner } => self.drop_mailbox(owner),
            DiskOp::DatabasesLost { group, stores, logs_lost, replayable } => {
                self.lose(group, stores, logs_lost, replayable)
            }
            DiskOp::MountedBlank { store } => {
                self.store_files.lost.get_mut(&store).expect("a lost database mounts blank").blank = true
            }
            DiskOp::RecoveryRestored(recovery) => self.store_files.recovery = Some(*recovery),
            DiskOp::RestoredOver { store, mailboxes } => {
                self.store_files.lost.remove(&store);
                let files = self.store_files.databases.entry(store).or_default();
                files.edb_bytes += mailboxes.iter().map(|(_, c)| c.size_bytes).sum::<u64>();
                for (owner, contents) in mailboxes {
                    self.drop_mailbox(owner);
                    self.mailboxes.insert(owner, contents);
                }
            }
            DiskOp::Merged { owner, messages, bytes } => {
                let mailbox = self.mailboxes.entry(owner).or_default();
                for m in messages {
                    let fresh = mailbox.messages.insert(m);
                    debug_assert!(fresh, "a merge adds only what the mailbox lacks");
                }
                mailbox.size_bytes += bytes;
            }
            DiskOp::PublicStore(store) => self.store_files.public = Some(store),
            DiskOp::Mailroot { virtual_server, folder, size_bytes } => {
                let folders = self.mailroot.entry(virtual_server).or_default();
                match folder {
                    MailrootFolder::Badmail => folders.badmail_bytes += size_bytes,
                    MailrootFolder::Archive(archive) => *folders.archive_bytes(archive) += size_bytes,
                }
            }
            DiskOp::BadmailPurged { virtual_server } => {
                if let Some(folders) = self.mailroot.get_mut(&virtual_server) {
                    folders.badmail_bytes = 0;
                }
            }
        }
    }

    /// A storage group's databases are lost with their volume: what the logs since the
    /// last backup would rebuild is kept aside when they survived.
    fn lose(
        &mut self,
        group: StorageGroupId,
        stores: Vec<(StoreId, Vec<AddressId>)>,
        logs_lost: bool,
        replayable: bool,
    ) {
        let log = self.store_files.logs.entry(group).or_default();
        file(&mut self.mailboxes, &mut log.past_checkpoint);
        if logs_lost {
            log.log = TransactionLog::default();
        }
        for (store, owners) in stores {
            let held: crate::store::backup::MailboxSet =
                owners.into_iter().map(|o| (o, self.mailboxes.remove(&o).unwrap_or_default())).collect();
            self.store_files.databases.insert(store, DatabaseFiles::default());
            self.store_files.lost.insert(store, LostDatabase { blank: false, replayable: replayable.then_some(held) });
        }
    }

    /// Deletes a mailbox's copy here, with its deliveries not yet filed.
    fn drop_mailbox(&mut self, owner: AddressId) {
        self.mailboxes.remove(&owner);
        for log in self.store_files.logs.values_mut() {
            log.past_checkpoint.retain(|(r, _, _)| *r != owner);
        }
    }

    /// The mailboxes with every delivery logged so far (each log checkpointed, as a
    /// clean dismount does).
    pub fn mailboxes(&mut self) -> &Mailboxes {
        self.file();
        &self.mailboxes
    }

    /// A mailbox as the database files hold it (what `file` left; the end-of-run check
    /// reads this after filing).
    pub fn filed_mailbox(&self, owner: AddressId) -> Option<&MailboxContents> {
        debug_assert!(self.store_files.logs.values().all(|l| l.past_checkpoint.is_empty()), "filed first");
        self.mailboxes.get(&owner)
    }

    /// Moves every storage group's checkpoint to the end of its log, filing what it
    /// passes.
    pub fn file(&mut self) {
        for log in self.store_files.logs.values_mut() {
            log.log.checkpoint(false);
            file(&mut self.mailboxes, &mut log.past_checkpoint);
        }
    }

    /// Soft recovery when the store starts: each storage group's log is replayed from
    /// its checkpoint to its end (a torn record ends it: it was never whole), its
    /// deliveries filed into their mailboxes. With the planted bug `skips-replay` the
    /// records past the checkpoint are dropped instead. Returns what each group replayed.
    pub fn soft_recovery(&mut self, skip_replay: bool) -> Vec<Recovery> {
        let torn = self.torn.take();
        let mut done = Vec::with_capacity(self.store_files.logs.len());
        for (group, log) in &mut self.store_files.logs {
            done.push(Recovery {
                group: *group,
                checkpoint_generation: log.log.checkpoint_generation(),
                end_generation: log.log.generation(),
                replayed: if skip_replay { 0 } else { log.past_checkpoint.len() as u64 },
                torn_record: torn.is_some_and(|t| t.group == Some(*group)),
            });
            log.log.checkpoint(false);
            if skip_replay {
                log.past_checkpoint.clear();
            }
            file(&mut self.mailboxes, &mut log.past_checkpoint);
        }
        done
    }

    /// A power loss: `written` reached the disk whole, `torn` was being written and
    /// fails its checksum (recovery discards it); everything after it is lost.
    pub fn power_loss(&mut self, written: Vec<DiskOp>, torn: Option<&DiskOp>) {
        for op in written {
            self.apply(op);
        }
        self.torn = torn.map(DiskOp::torn);
        if let Some(group) = self.torn.and_then(|t| t.group) {
            // The torn record is in that group's current log file.
            self.store_files.logs.entry(group).or_default();
        }
    }

    /// Recipients still queued here for `message`.
    pub fn queued_recipients(&self) -> impl Iterator<Item = (MessageId, AddressId)> + '_ {
        self.items.values().flat_map(|i| i.recipients.iter().map(move |r| (i.message.id, *r)))
    }
}

/// Files logged deliveries into their mailboxes, in order of mailbox and id, asserting
/// that none was committed twice.
fn file(mailboxes: &mut Mailboxes, logged: &mut Vec<(AddressId, u64, u64)>) {
    logged.sort_unstable();
    for (recipient, bits, size_bytes) in logged.drain(..) {
        let message = MessageId::from_bits(bits).expect("logged from a message id");
        let mailbox = mailboxes.entry(recipient).or_default();
        let fresh = mailbox.messages.insert(message);
        assert!(fresh, "the store committed {message:?} to {recipient:?} twice");
        mailbox.size_bytes += size_bytes;
    }
}

impl DiskOp {
    /// What this write is, as a torn one is traced.
    pub fn kind(&self) -> DiskOpKind {
        match self {
            DiskOp::Enqueue(_) => DiskOpKind::Enqueue,
            DiskOp::RecipientsDone { .. } => DiskOpKind::RecipientsDone,
            DiskOp::Expanded { .. } => DiskOpKind::Expanded,
            DiskOp::Deliver { .. } => DiskOpKind::Deliver,
            DiskOp::StoreWrite { .. } => DiskOpKind::StoreWrite,
            DiskOp::Log { .. } => DiskOpKind::Log,
            DiskOp::Journaled { .. } => DiskOpKind::Journaled,
            DiskOp::OofReplied { .. } => DiskOpKind::OofReplied,
            DiskOp::MailboxIn { .. } => DiskOpKind::MailboxIn,
            DiskOp::MailboxOut { .. } => DiskOpKind::MailboxOut,
            DiskOp::ItemsDeleted { .. } => DiskOpKind::ItemsDeleted,
            DiskOp::Purged { .. } => DiskOpKind::Purged,
            DiskOp::DatabasesLost { .. } => DiskOpKind::DatabasesLost,
            DiskOp::MountedBlank { .. } => DiskOpKind::MountedBlank,
            DiskOp::RecoveryRestored(_) => DiskOpKind::RecoveryRestored,
            DiskOp::RestoredOver { .. } => DiskOpKind::RestoredOver,
            DiskOp::Merged { .. } => DiskOpKind::Merged,
            DiskOp::PublicStore(_) => DiskOpKind::PublicStore,
            DiskOp::Mailroot { .. } => DiskOpKind::Mailroot,
            DiskOp::BadmailPurged { .. } => DiskOpKind::BadmailPurged,
        }
    }

    fn torn(&self) -> TornWrite {
        let group = match self {
            DiskOp::Deliver { group, .. }
            | DiskOp::StoreWrite { group, .. }
            | DiskOp::Log { group, .. }
            | DiskOp::MailboxIn { group, .. }
            | DiskOp::DatabasesLost { group, .. } => Some(*group),
            _ => None,
        };
        TornWrite { kind: self.kind(), group }
    }
}

/// Removes `done` from `pending` one by one as `swap_remove` would (so the order left
/// is the same whichever way it is computed). A large group's copy finishes tens of
/// thousands of recipients in batches of as many: past a few, positions come from an
/// index, not a scan per recipient (that was quadratic: 100,000 × 100,000).
pub fn remove_recipients(pending: &mut Vec<AddressId>, done: &[AddressId]) {
    const SCAN_MAX: usize = 16;
    if done.len() <= SCAN_MAX {
        for r in done {
            let at = pending.iter().position(|x| x == r).expect("a finished recipient was pending");
            pending.swap_remove(at);
        }
        return;
    }
    // Lookups only, never iterated: the order left depends on `pending` and `done` alone.
    let mut at: std::collections::HashMap<AddressId, usize> =
        pending.iter().enumerate().map(|(i, r)| (*r, i)).collect();
    debug_assert_eq!(at.len(), pending.len(), "a recipient is pending once");
    for r in done {
        let i = at.remove(r).expect("a finished recipient was pending");
        pending.swap_remove(i);
        if let Some(moved) = pending.get(i) {
            at.insert(*moved, i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::MessageKind;
    use proptest::strategy::Strategy;

    fn item(id: u64, recipients: &[u32]) -> StoredItem {
        StoredItem {
            id: QueueItemId(id),
            message: Message {
                id: MessageId::Client(id),
                kind: MessageKind::Normal,
                sender: Some(AddressId(0)),
                size_bytes: 100,
                submitted_at: Instant::ZERO,
                hop_count: 0,
                authenticated: true,
                header_recipients: Default::default(),
                scl: crate::message::SCL_NOT_RATED,
                journaled: Default::default(),
                replication: None,
            },
            recipients: recipients.iter().map(|&r| AddressId(r)).collect(),
            arrived_at: Instant::ZERO,
            submitted_here: true,
        }
    }

    #[test]
    fn file_removed_when_last_recipient_done() {
        let mut disk = DiskImage::default();
        disk.apply(DiskOp::Enqueue(item(7, &[1, 2])));
        assert_eq!(disk.next_item, QueueItemId(8));
        disk.apply(DiskOp::RecipientsDone { item: QueueItemId(7), recipients: vec![AddressId(2)] });
        assert_eq!(disk.queued_recipients().count(), 1);
        disk.apply(DiskOp::RecipientsDone { item: QueueItemId(7), recipients: vec![AddressId(1)] });
        assert!(disk.items.is_empty());
        assert_eq!(disk.next_item, QueueItemId(8), "numbers are never reused");
    }

    /// 25 deliveries of 1 MiB into one storage group's log, with the checkpoint at 20 MiB.
    fn logged_disk() -> DiskImage {
        let (group, store) = (StorageGroupId(0), StoreId(0));
        let mut disk = DiskImage::default();
        let mut log = TransactionLog::default();
        for n in 0..25 {
            let size_bytes = 1 << 20;
            let write = DeliveryWrite::of(size_bytes, 1);
            log.append(write.log_bytes, false);
            disk.apply(DiskOp::Deliver { group, recipient: AddressId(1), message: MessageId::Client(n), size_bytes });
            disk.apply(DiskOp::StoreWrite { group, store, write, log });
        }
        disk
    }

    #[test]
    fn the_checkpoint_trails_the_log_by_its_depth_and_recovery_replays_the_rest() {
        let mut disk = logged_disk();
        let log = &disk.store_files.logs[&StorageGroupId(0)];
        let record = (1 << 20) + crate::store::transaction_log::PER_RECIPIENT_RECORD_BYTES;
        assert_eq!(log.log.checkpoint_bytes(), 20 * record, "the 20th record took the log 20 MiB past the checkpoint");
        assert_eq!(log.past_checkpoint.len(), 5);
        let recovered = disk.soft_recovery(false);
        let expected = Recovery {
            group: StorageGroupId(0),
            checkpoint_generation: 5,
            end_generation: 6,
            replayed: 5,
            torn_record: false,
        };
        assert_eq!(recovered, vec![expected]);
        assert_eq!(disk.mailboxes()[&AddressId(1)].messages.len(), 25);
        // Skipping the replay loses exactly what was past the checkpoint.
        let mut skipped = logged_disk();
        assert_eq!(skipped.soft_recovery(true)[0].replayed, 0);
        assert_eq!(skipped.mailboxes()[&AddressId(1)].messages.len(), 20);
    }

    proptest::proptest! {
        /// The indexed removal leaves exactly what one `swap_remove` per recipient leaves.
        #[test]
        fn removing_recipients_in_bulk_leaves_the_order_swap_remove_leaves(
            pending in proptest::sample::subsequence((0..200u32).collect::<Vec<_>>(), 0..200)
                .prop_shuffle(),
            picks in proptest::collection::vec(proptest::bool::ANY, 200),
        ) {
            let pending: Vec<AddressId> = pending.into_iter().map(AddressId).collect();
            let done: Vec<AddressId> =
                pending.iter().rev().zip(&picks).filter(|(_, p)| **p).map(|(r, _)| *r).collect();
            let mut expected = pending.clone();
            for r in &done {
                let at = expected.iter().position(|x| x == r).unwrap();
                expected.swap_remove(at);
            }
            let mut got = pending;
            remove_recipients(&mut got, &done);
            proptest::prop_assert_eq!(got, expected);
        }
    }

    /// A moved-in mailbox takes the place of whatever was logged here under its owner
    /// (a planted bug's stray copies), so filing never commits a message twice.
    #[test]
    fn a_moved_in_mailbox_replaces_stray_copies() {
        let mut disk = DiskImage::default();
        let (owner, group, store) = (AddressId(4), StorageGroupId(0), StoreId(0));
        let message = MessageId::Client(9);
        disk.apply(DiskOp::Deliver { group, recipient: owner, message, size_bytes: 10 });
        let mut contents = MailboxContents::default();
        contents.messages.insert(message);
        contents.size_bytes = 10;
        disk.apply(DiskOp::MailboxIn { group, store, owner, contents: Box::new(contents.clone()) });
        assert_eq!(disk.mailboxes()[&owner], contents);
        disk.apply(DiskOp::MailboxOut { owner });
        assert!(!disk.mailboxes().contains_key(&owner));
    }
}
