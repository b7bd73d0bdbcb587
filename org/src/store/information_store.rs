//! The Information Store service (MSExchangeIS) of one server: MAPI logons and
//! submissions through the store driver, local delivery into its mailbox stores with the
//! duplicate check, and Out of Office replies from the mailboxes it holds.
//!
//! Its databases (mailbox stores) live in storage groups, each with one transaction log
//! stream: a delivery is a log record and database writes, committed with the
//! delivery. A database an administrator dismounts takes no mail: SMTPSVC keeps its
//! recipients in Local delivery (retry) until it is mounted again.
//!
//! Sans-IO and on its own: requests from SMTPSVC arrive as [`ToStore`] events; what it
//! asks of SMTPSVC (submit this, these recipients are delivered, these wait) and its
//! writes go into its [`Outbox`], which the server collects. Its timer is SP2's daily
//! size check; a storage group whose log disk fills dismounts its databases, and a
//! backup truncates its logs.

use crate::config::topology::{MailboxQuota, QuotaTarget, Topology};
use crate::message::{Message, MessageKind};
use crate::service_events::{AfterFlush, Outbox, ToSmtp, ToStore};
use crate::store::mailbox_store::{DeliveryOutcome, MailboxStores};
use crate::store::transaction_log::{DeliveryWrite, TransactionLog};
use crate::time::Instant;
use crate::trace::{DatabaseChange, ServerEvent, SizeVerdict};
use crate::transport::queue_directory::{
    DatabaseFiles, DiskOp, LostDatabase, Mailboxes, QueueItemId, Recovery, RecoveryDatabases, StoreFiles,
};
use crate::{AddressId, ServerId, StorageGroupId, StoreId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Size of an Out of Office reply: its text and headers [U].
pub const OOF_SIZE_BYTES: u64 = 2 * 1024;

/// How long the store keeps a mailbox's quota as it read it from the directory before
/// reading it again ("Reread Logon Quotas Interval", 7,200 s, EXCHANGE2003.md §7): a
/// changed quota takes effect up to 2 hours later.
pub const QUOTA_CACHE_MS: u64 = 7_200_000;

/// When the store checks its mailboxes against "issue warning" and warns their owners:
/// daily at 01:00 ("Storage warning" schedule) [U].
pub const STORAGE_WARNING_MS_OF_DAY: u64 = 3_600_000;

/// Copies of one message committed, per database.
#[derive(Default)]
struct Copies(Vec<(StoreId, u64)>);

impl Copies {
    fn add(&mut self, store: StoreId) {
        match self.0.iter_mut().find(|(s, _)| *s == store) {
            Some((_, n)) => *n += 1,
            None => self.0.push((store, 1)),
        }
    }
}

/// One server's Information Store.
pub struct InformationStore {
    pub(super) id: ServerId,
    pub(super) topology: Arc<Topology>,
    pub(super) stores: MailboxStores,
    /// Each storage group's log stream, unflushed records included.
    pub(super) logs: BTreeMap<StorageGroupId, TransactionLog>,
    /// Each database's files, as durable (what the size check reads).
    pub(super) files: BTreeMap<StoreId, DatabaseFiles>,
    /// Databases dismounted (every database mounts when the service starts, but a lost
    /// one).
    pub(super) dismounted: BTreeSet<StoreId>,
    /// Databases whose volume failed (from disk), and what the Recovery Storage Group
    /// holds (from disk).
    pub(super) lost: BTreeMap<StoreId, LostDatabase>,
    pub(super) recovery: Option<RecoveryDatabases>,
    /// When each storage group with a backup schedule is backed up next.
    backups_at: BTreeMap<StorageGroupId, Instant>,
    /// When each database with a size limit is checked next (SP2's daily check).
    size_checks: BTreeMap<StoreId, Instant>,
    /// Quotas administrators changed in the directory since the run began.
    quota_changes: BTreeMap<QuotaTarget, MailboxQuota>,
    /// Each mailbox's quota as the store last read it, and when (looked up, never
    /// iterated).
    quota_cache: rustc_hash::FxHashMap<AddressId, (MailboxQuota, Instant)>,
    /// The next storage warning run, when some quota here has an "issue warning" limit.
    storage_warning_at: Option<Instant>,
    /// Mailboxes moving out of this store, and those a move committed here.
    pub(super) moving_out: BTreeMap<AddressId, super::move_mailbox::Outgoing>,
    pub(super) moved_in: BTreeSet<AddressId>,
    /// Mailboxes the directory homes elsewhere than it did at the start (moves).
    pub(super) homes: BTreeMap<AddressId, StoreId>,
    /// Online maintenance: bytes each database took today, the next midnight deletions
    /// and maintenance window, what deleted item retention holds (from disk), deleted
    /// mailboxes homed here and those already purged (from disk).
    pub(super) written_today: BTreeMap<StoreId, u64>,
    pub(super) deletes_at: Option<Instant>,
    pub(super) maintenance_at: Option<Instant>,
    pub(super) retained: BTreeMap<StoreId, Vec<(u64, u64)>>,
    pub(super) deleted_mailboxes: Vec<(AddressId, StoreId, Instant)>,
    pub(super) purged_mailboxes: BTreeSet<AddressId>,
    /// The public store and its replication agent, on a server that has one.
    pub(super) public: Option<crate::public_folders::public_store::PublicStore>,
    pub(super) out: Outbox,
}

impl InformationStore {
    /// The store (re)started on what its disk holds: every database mounted, each with a
    /// size limit checked next at its check hour.
    pub fn new(id: ServerId, topology: Arc<Topology>, mailboxes: &Mailboxes, disk: &StoreFiles, now: Instant) -> Self {
        let logs =
            topology.storage_groups_of(id).map(|g| (g, disk.logs.get(&g).map(|l| l.log).unwrap_or_default())).collect();
        let size_checks = (0..topology.stores.len())
            .map(|i| (StoreId(i as u16), topology.stores[i].size))
            .filter(|(s, size)| topology.store(*s).server == id && size.limit_bytes.is_some())
            .map(|(s, size)| (s, topology.calendar.next_time_of_day(now, size.check_ms_of_day)))
            .collect();
        let backups_at = topology
            .storage_groups_of(id)
            .filter_map(|g| topology.storage_group(g).backup_ms_of_day.map(|at| (g, at)))
            .map(|(g, at)| (g, topology.calendar.next_time_of_day(now, at)))
            .collect();
        let mut store = InformationStore {
            id,
            stores: MailboxStores::from_disk(mailboxes),
            logs,
            files: disk.databases.clone(),
            dismounted: disk.lost.iter().filter(|(_, l)| !l.blank).map(|(s, _)| *s).collect(),
            lost: disk.lost.clone(),
            recovery: disk.recovery.clone(),
            backups_at,
            size_checks,
            quota_changes: BTreeMap::new(),
            quota_cache: Default::default(),
            storage_warning_at: None,
            moving_out: BTreeMap::new(),
            moved_in: BTreeSet::new(),
            homes: BTreeMap::new(),
            written_today: BTreeMap::new(),
            deletes_at: None,
            maintenance_at: None,
            retained: disk.retained.clone(),
            deleted_mailboxes: super::online_maintenance::deleted_mailboxes(&topology, id),
            purged_mailboxes: disk.purged_mailboxes.clone(),
            public: None,
            out: Outbox::default(),
            topology,
        };
        store.public = store.open_public_store(disk.public.as_deref(), now);
        if let (None, Some(public)) = (&disk.public, &store.public) {
            // A new public store is written when it first mounts.
            store.out.write(DiskOp::PublicStore(Box::new(public.clone())));
        }
        store.arm_storage_warning(now);
        store.arm_maintenance(now);
        store.refuse_mounts_on_full_log_disks();
        store
    }

    /// A storage group whose log disk has no room for its logs and reserves does not
    /// mount when the service starts.
    fn refuse_mounts_on_full_log_disks(&mut self) {
        let groups: Vec<StorageGroupId> = self.logs.keys().copied().filter(|g| self.log_disk_full(*g)).collect();
        for group in groups {
            for store in self.topology.storage_group(group).stores.clone() {
                self.dismounted.insert(store);
                let change = DatabaseChange::MountRefusedLogDiskFull;
                self.out.emit(ServerEvent::DatabaseState { store, change });
            }
        }
    }

    /// Traces what soft recovery replayed into this store's databases.
    pub fn recovered(&mut self, recoveries: &[Recovery]) {
        for r in recoveries.iter().filter(|r| self.logs.contains_key(&r.group)) {
            self.out.emit(ServerEvent::SoftRecovery {
                storage_group: r.group,
                checkpoint_generation: r.checkpoint_generation,
                end_generation: r.end_generation,
                replayed: r.replayed,
                torn_record: r.torn_record,
            });
        }
    }

    /// When the next size check or storage warning run is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let due = self.size_checks.values().copied().chain(self.storage_warning_at).chain(self.move_deadline());
        let due = due.chain(self.backups_at.values().copied());
        due.chain(self.maintenance_due()).chain(self.public_due()).min()
    }

    /// Arms the daily storage warning run if some limit of this server's mailboxes has
    /// an "issue warning" level (none armed otherwise: no wake-up for nothing).
    fn arm_storage_warning(&mut self, now: Instant) {
        let warns = |q: &MailboxQuota| q.issue_warning_bytes.is_some();
        let here = |s: &StoreId| self.topology.store(*s).server == self.id;
        let possible = (0..self.topology.stores.len())
            .map(|i| StoreId(i as u16))
            .any(|s| here(&s) && warns(&self.topology.store(s).quota))
            || self.topology.mailboxes.values().any(|m| m.quota.as_ref().is_some_and(warns))
            || self.quota_changes.values().any(warns);
        if possible && self.storage_warning_at.is_none() && !self.logs.is_empty() {
            self.storage_warning_at = Some(self.topology.calendar.next_time_of_day(now, STORAGE_WARNING_MS_OF_DAY));
        }
    }

    /// The storage warning run: every mailbox of this server at or over its "issue
    /// warning" level gets a warning (§7), in address order.
    fn storage_warnings(&mut self, now: Instant) {
        self.storage_warning_at =
            Some(self.topology.calendar.next_time_of_day(now.plus_ms(1), STORAGE_WARNING_MS_OF_DAY));
        let owners: BTreeSet<AddressId> = self.topology.mailboxes.keys().copied().chain(self.stores.owners()).collect();
        for mailbox in owners {
            let Some(store) = self.topology.gal_of(self.id).lookup(mailbox).map(|e| e.store) else { continue };
            if self.topology.store(store).server != self.id {
                continue;
            }
            let mailbox_bytes = self.mailbox_bytes(mailbox);
            if let Some(limit_bytes) =
                self.quota(now, mailbox, Some(store)).issue_warning_bytes.filter(|l| mailbox_bytes >= *l)
            {
                self.out.emit(ServerEvent::QuotaWarning { mailbox, mailbox_bytes, limit_bytes });
            }
        }
    }

    /// Runs the size checks due at `now` (SP2, EXCHANGE2003.md §7): a mounted database
    /// whose logical size (physical − logical free space) is within the buffer of its
    /// limit gets a warning; at or over the limit, an error and a dismount. A database
    /// mounted again by hand stays mounted until the next check.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.public_timeout(now);
        self.move_timeouts(now);
        self.run_maintenance(now);
        if self.storage_warning_at.is_some_and(|at| at <= now) {
            self.storage_warnings(now);
        }
        let backups: Vec<StorageGroupId> =
            self.backups_at.iter().filter(|(_, at)| **at <= now).map(|(g, _)| *g).collect();
        for group in backups {
            let at = self.topology.storage_group(group).backup_ms_of_day.expect("only scheduled groups are armed");
            self.backups_at.insert(group, self.topology.calendar.next_time_of_day(now.plus_ms(1), at));
            self.handle_backup(now, group);
        }
        let due: Vec<StoreId> = self.size_checks.iter().filter(|(_, at)| **at <= now).map(|(s, _)| *s).collect();
        for store in due {
            let size = self.topology.store(store).size;
            self.size_checks
                .insert(store, self.topology.calendar.next_time_of_day(now.plus_ms(1), size.check_ms_of_day));
            let limit_bytes = size.limit_bytes.expect("only databases with a limit are checked");
            if !self.mounted(store) {
                continue;
            }
            let logical_bytes = self.logical_bytes(store);
            let verdict = if logical_bytes >= limit_bytes {
                SizeVerdict::OverLimit
            } else if logical_bytes * 100 >= limit_bytes * (100 - size.warning_buffer_percent) {
                SizeVerdict::Warning
            } else {
                continue;
            };
            self.out.emit(ServerEvent::DatabaseSize { store, logical_bytes, limit_bytes, verdict });
            if verdict == SizeVerdict::OverLimit {
                self.dismounted.insert(store);
                let event = ServerEvent::DatabaseState { store, change: DatabaseChange::DismountedOverLimit };
                self.out.after_flush(AfterFlush::Event(event));
            }
        }
    }

    /// A database's logical size: its physical size (.edb + .stm on disk) less its free
    /// space. (The planted bug `size-limit-on-physical` forgets the free space.)
    pub fn logical_bytes(&self, store: StoreId) -> u64 {
        let size = self.topology.store(store).size;
        let files = self.files.get(&store).copied().unwrap_or_default();
        if self.topology.bug(crate::planted_bugs::PlantedBug::SizeLimitOnPhysical) {
            return size.physical_bytes(&files);
        }
        size.logical_bytes(&files)
    }

    /// An administrator dismounts or mounts a database of this server (ESM, "Dismount
    /// Store" / "Mount Store"); nothing happens if it is already so.
    pub fn handle_database(&mut self, store: StoreId, mount: bool) {
        debug_assert_eq!(self.topology.store(store).server, self.id, "a server mounts its own databases");
        let group = self.topology.store(store).storage_group_id;
        if mount && self.lost_unmounted(store) {
            return self.mount_blank(store);
        }
        if mount && self.dismounted.contains(&store) && self.log_disk_full(group) {
            let change = DatabaseChange::MountRefusedLogDiskFull;
            return self.out.after_flush(AfterFlush::Event(ServerEvent::DatabaseState { store, change }));
        }
        let changed = if mount { self.dismounted.remove(&store) } else { self.dismounted.insert(store) };
        if changed {
            let change = if mount { DatabaseChange::Mounted } else { DatabaseChange::Dismounted };
            // Done once what it had accepted is durable: traced after those deliveries.
            self.out.after_flush(AfterFlush::Event(ServerEvent::DatabaseState { store, change }));
        }
    }

    /// Whether a database takes mail now.
    pub fn mounted(&self, store: StoreId) -> bool {
        !self.dismounted.contains(&store)
    }

    /// Whether local delivery may write into a database now (always, with the planted
    /// bug `delivers-to-dismounted`).
    fn takes_mail(&self, store: StoreId) -> bool {
        self.mounted(store) || self.topology.bug(crate::planted_bugs::PlantedBug::DeliversToDismounted)
    }

    /// Each storage group's log stream, as written so far.
    pub fn logs(&self) -> &BTreeMap<StorageGroupId, TransactionLog> {
        &self.logs
    }

    /// A MAPI client submits a message (tracking event 1027). The store refuses the logon
    /// of a user whose `protocolSettings` block their client (§2): nothing is submitted.
    pub fn handle_submit(&mut self, now: Instant, message: Message, recipients: Vec<AddressId>) {
        let sender = message.sender.expect("clients submit with a sender");
        if !self.topology.gal_of(self.id).mapi_logon_allowed(sender) {
            return self.out.emit(ServerEvent::MapiLogonDenied { user: sender });
        }
        // Over "prohibit send" (§7), Outlook's send fails: nothing is submitted.
        let mailbox_bytes = self.mailbox_bytes(sender);
        let quota = self.quota(now, sender, self.topology.gal_of(self.id).lookup(sender).map(|e| e.store));
        if let Some(limit_bytes) = quota.prohibit_send_bytes.filter(|l| mailbox_bytes >= *l) {
            return self.out.emit(ServerEvent::ProhibitSend { user: sender, mailbox_bytes, limit_bytes });
        }
        self.out.to_smtp(ToSmtp::Submit { message, recipients });
    }

    /// An administrator changed a quota in the directory; the store reads it when its
    /// cached copy of a mailbox's quota expires.
    pub fn handle_quota_change(&mut self, now: Instant, target: QuotaTarget, quota: MailboxQuota) {
        self.quota_changes.insert(target, quota);
        self.arm_storage_warning(now);
    }

    /// The limits a mailbox has as the store knows them: read from the directory at most
    /// every [`QUOTA_CACHE_MS`]; a re-read that finds them changed is traced.
    fn quota(&mut self, now: Instant, mailbox: AddressId, store: Option<StoreId>) -> MailboxQuota {
        if let Some((quota, read_at)) = self.quota_cache.get(&mailbox) {
            if now.since(*read_at) < QUOTA_CACHE_MS {
                return *quota;
            }
        }
        let quota = self.directory_quota(mailbox, store);
        let before = self.quota_cache.insert(mailbox, (quota, now));
        if before.is_some_and(|(was, _)| was != quota) {
            self.out.emit(ServerEvent::QuotaRead {
                mailbox,
                issue_warning_bytes: quota.issue_warning_bytes,
                prohibit_send_bytes: quota.prohibit_send_bytes,
                prohibit_send_receive_bytes: quota.prohibit_send_receive_bytes,
            });
        }
        quota
    }

    /// The limits the directory gives a mailbox now: its own, or its store's.
    fn directory_quota(&self, mailbox: AddressId, store: Option<StoreId>) -> MailboxQuota {
        let own = self.quota_changes.get(&QuotaTarget::Mailbox(mailbox)).copied();
        match own.or_else(|| self.topology.mailboxes.get(&mailbox).and_then(|m| m.quota)) {
            Some(own) => own,
            None => store.map_or_else(Default::default, |s| {
                self.quota_changes.get(&QuotaTarget::Store(s)).copied().unwrap_or(self.topology.store(s).quota)
            }),
        }
    }

    /// What a mailbox holds: its starting size and what was delivered since.
    pub(super) fn mailbox_bytes(&self, mailbox: AddressId) -> u64 {
        self.topology.mailboxes.get(&mailbox).map_or(0, |m| m.initial_bytes) + self.stores.size_bytes(mailbox)
    }

    /// Whether a mailbox is over "prohibit send and receive": it takes no mail (5.2.2).
    fn full(&mut self, now: Instant, mailbox: AddressId, store: StoreId) -> bool {
        !self.topology.bug(crate::planted_bugs::PlantedBug::QuotaIgnored)
            && self
                .quota(now, mailbox, Some(store))
                .prohibit_send_receive_bytes
                .is_some_and(|limit| self.mailbox_bytes(mailbox) >= limit)
    }

    /// A request from another service of this server.
    pub fn handle_internal(&mut self, now: Instant, event: ToStore) {
        match event {
            ToStore::DeliverLocal { item, message, recipients } => self.deliver_local(now, item, &message, recipients),
            ToStore::Written { store, write } => {
                let files = self.files.entry(store).or_default();
                files.edb_bytes += write.edb_bytes;
                files.stm_bytes += write.stm_bytes;
                self.note_written(store, write.edb_bytes + write.stm_bytes);
            }
            ToStore::DeliverCopies { message, recipients } => {
                let mut copies = Copies::default();
                for recipient in recipients {
                    if self.stores.deliver(recipient, message.id, message.size_bytes) == DeliveryOutcome::Delivered {
                        let store = self.store_of(recipient);
                        self.commit(&message, recipient, store);
                        copies.add(store);
                    }
                }
                self.write_copies(&message, copies);
            }
            ToStore::PostOabFiles { folder, files } => self.public_post_oab(now, folder, &files),
        }
    }

    /// The local delivery queue hands over a held item's recipients here: copies go into
    /// mounted databases (once each), recipients of a dismounted one wait in Local
    /// delivery, and a mailbox over "prohibit send and receive" is refused (5.2.2).
    fn deliver_local(&mut self, now: Instant, item: QueueItemId, message: &Message, recipients: Vec<AddressId>) {
        // One directory lookup per recipient: its database decides the rest.
        let (mut ready, mut waiting, mut full, mut folders_gone) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut moving, mut moved) = (Vec::new(), Vec::new());
        let mut copies = Copies::default();
        for recipient in recipients {
            if self.is_public_store(recipient) {
                self.deliver_replication(now, message);
                ready.push(recipient);
                continue;
            }
            if let Some(folder) = self.public_folder_of(recipient) {
                match self.deliver_to_folder(now, message, recipient, folder) {
                    Ok(()) => ready.push(recipient),
                    Err(()) => folders_gone.push(recipient),
                }
                continue;
            }
            let store = self.store_of(recipient);
            if self.is_moving(recipient) {
                moving.push(recipient);
            } else if self.topology.store(store).server != self.id {
                moved.push(recipient);
            } else if !self.takes_mail(store) {
                waiting.push(recipient);
            } else if self.full(now, recipient, store) {
                full.push(recipient);
            } else {
                if self.deliver(message, recipient, store) {
                    copies.add(store);
                    self.out_of_office(message, recipient);
                }
                ready.push(recipient);
            }
        }
        self.write_copies(message, copies);
        if !ready.is_empty() {
            self.out.to_smtp(ToSmtp::LocalDelivered { item, recipients: ready });
        }
        if !waiting.is_empty() {
            self.out.to_smtp(ToSmtp::LocalDeferred { item, recipients: waiting });
        }
        if !full.is_empty() {
            let code = crate::transport::dsn::DsnCode::MailboxFull;
            self.out.to_smtp(ToSmtp::LocalFailed { item, recipients: full, code });
        }
        if !folders_gone.is_empty() {
            // A folder whose replica left this store after its mail was routed here [U:
            // Exchange would redirect it to a replica; here it is returned].
            let code = crate::transport::dsn::DsnCode::RecipientNotFound;
            self.out.to_smtp(ToSmtp::LocalFailed { item, recipients: folders_gone, code });
        }
        if !moving.is_empty() {
            self.out.to_smtp(ToSmtp::DeferredForMove { item, recipients: moving });
        }
        if !moved.is_empty() {
            self.out.to_smtp(ToSmtp::Rehome { item, recipients: moved });
        }
    }

    /// What the service has produced since it was last asked.
    pub fn outbox(&mut self) -> &mut Outbox {
        &mut self.out
    }

    /// Messages in a mailbox.
    pub fn message_count(&self, recipient: AddressId) -> usize {
        self.stores.message_count(recipient)
    }

    /// The store driver commits one recipient's copy (event 1028), unless the mailbox
    /// holds it already; true when committed.
    fn deliver(&mut self, message: &Message, recipient: AddressId, store: StoreId) -> bool {
        match self.stores.deliver(recipient, message.id, message.size_bytes) {
            DeliveryOutcome::Delivered => {
                self.commit(message, recipient, store);
                true
            }
            DeliveryOutcome::Duplicate => {
                self.out.emit(ServerEvent::DuplicateSuppressed { message: message.id, recipient, store });
                false
            }
        }
    }

    /// Writes a delivered copy; it is traced once durable.
    fn commit(&mut self, message: &Message, recipient: AddressId, store: StoreId) {
        if message.scl > self.topology.junk_threshold && message.scl >= 0 {
            let event = ServerEvent::JunkEmail { message: message.id, recipient, scl: message.scl };
            self.out.after_flush(AfterFlush::Event(event));
        }
        let group = self.topology.store(store).storage_group_id;
        self.out.write(DiskOp::Deliver { group, recipient, message: message.id, size_bytes: message.size_bytes });
        let submitted_at = message.submitted_at;
        self.out.after_flush(AfterFlush::Delivered { message: message.id, recipient, store, submitted_at });
    }

    /// Writes what the copies of one message cost each database they went to and its
    /// storage group's log; a log file begun is traced once durable.
    fn write_copies(&mut self, message: &Message, copies: Copies) {
        for (store, n) in copies.0 {
            let group = self.topology.store(store).storage_group_id;
            let settings = self.topology.storage_group(group).log;
            let write = DeliveryWrite::of(message.size_bytes, n);
            // Only the planted bug `bifurcation-copies-all` commits copies for mailboxes
            // whose database is on another server: no log of this server holds them.
            let Some(log) = self.logs.get_mut(&group) else {
                debug_assert!(self.topology.bug(crate::planted_bugs::PlantedBug::BifurcationCopiesAll));
                continue;
            };
            let appended = log.append(write.log_bytes, settings.circular);
            let log = *log;
            self.written(group, store, write, log, appended.begun);
        }
    }

    /// A merge's writes into a database: a log record like a delivery's.
    pub(super) fn write_merged(&mut self, group: StorageGroupId, store: StoreId, bytes: u64) {
        let circular = self.topology.storage_group(group).log.circular;
        let write = DeliveryWrite::of(bytes, 1);
        let Some(log) = self.logs.get_mut(&group) else { return };
        let appended = log.append(write.log_bytes, circular);
        let log = *log;
        self.written(group, store, write, log, appended.begun);
    }

    /// Traces the log files a write began once durable, writes it, and dismounts the
    /// group if the log disk is now full.
    fn written(
        &mut self,
        group: StorageGroupId,
        store: StoreId,
        write: DeliveryWrite,
        log: TransactionLog,
        begun: std::ops::Range<u32>,
    ) {
        for generation in begun.clone() {
            self.out.after_flush(AfterFlush::Event(ServerEvent::LogGeneration { storage_group: group, generation }));
        }
        self.out.write(DiskOp::StoreWrite { group, store, write, log });
        self.out.after_flush(AfterFlush::StoreWritten { store, write });
        if !begun.is_empty() && self.log_disk_full(group) {
            self.dismount_log_disk_full(group);
        }
    }

    /// Whether a storage group's log files and its two reserve logs no longer fit on its
    /// log disk (never, with the planted bug `log-disk-full-ignored`).
    fn log_disk_full(&self, group: StorageGroupId) -> bool {
        let Some(capacity) = self.topology.storage_group(group).log.disk_bytes else { return false };
        !self.topology.bug(crate::planted_bugs::PlantedBug::LogDiskFullIgnored)
            && self.logs.get(&group).is_some_and(|log| !log.fits(capacity))
    }

    /// The log file just begun came from the reserve logs: ESE finishes what is in
    /// flight and dismounts the storage group's databases cleanly (§7).
    fn dismount_log_disk_full(&mut self, group: StorageGroupId) {
        let log = self.logs[&group];
        let disk_bytes = self.topology.storage_group(group).log.disk_bytes.unwrap_or(u64::MAX);
        let event = ServerEvent::LogDiskFull { storage_group: group, log_files: log.log_files(), disk_bytes };
        self.out.after_flush(AfterFlush::Event(event));
        for store in self.topology.storage_group(group).stores.clone() {
            if self.dismounted.insert(store) {
                let change = DatabaseChange::DismountedLogDiskFull;
                self.out.after_flush(AfterFlush::Event(ServerEvent::DatabaseState { store, change }));
            }
        }
    }

    /// The database the directory homes a mailbox in now.
    pub(super) fn store_of(&self, recipient: AddressId) -> StoreId {
        if let Some(store) = self.homes.get(&recipient) {
            return *store;
        }
        self.topology.gal_of(self.id).lookup(recipient).expect("delivered recipients are mailboxes").store
    }

    /// The store answers a message delivered to a mailbox whose owner is Out of Office:
    /// once per sender (the store's OOF history), never to a DSN or another automatic
    /// reply, and on Exchange 2003 only when the owner was named directly in To or Cc,
    /// not reached through a group (EXCHANGE2003.md §3.2).
    fn out_of_office(&mut self, message: &Message, owner: AddressId) {
        let Some(sender) = message.sender else { return };
        if message.kind != MessageKind::Normal
            || sender == owner
            || !self.topology.gal_of(self.id).is_out_of_office(owner)
            || (self.topology.server(self.id).version.is_2003() && !message.header_recipients.contains(&owner))
            || !self.stores.note_oof_reply(owner, sender)
        {
            return;
        }
        self.out.to_smtp(ToSmtp::SubmitAutoReply {
            original: message.id,
            owner,
            to: sender,
            size_bytes: OOF_SIZE_BYTES,
        });
    }
}
