//! Trace events a server emits, with ids — the one vocabulary of what happened: checks
//! read these values, and the trace writes each as a JSON record whose `event` and field
//! names are declared here, with every id named through a [`Namer`]. Adding an event
//! touches this list, the service that emits it and whoever reads it. Each is emitted
//! at the instant it became true (acceptance and delivery only once durable).

use crate::directory::ad_replication::DcId;
use crate::message::MessageId;
use crate::public_folders::cn_set::ReplicaId;
use crate::public_folders::public_store::PfRefusal;
use crate::public_folders::replication_message::{FolderKey, ReplicationKind};
use crate::routing::link_state::{ConnectorState, GroupState};
use crate::routing::routing_group_master::Decision;
use crate::store::backup::{MergeRefusal, RestoreRefusal, RestoreTarget};
use crate::system_attendant::oab::oal_generator::{DiffBlocker, LegacyOutcome, OabEvent};
use crate::system_attendant::oal_generation::OabId;
use crate::transport::advanced_queuing::{LinkQueueState, QueueKey};
use crate::transport::dsn::DsnCode;
use crate::transport::mailroot::{ArchiveFolder, BadmailFate};
use crate::transport::smtp_filters::edge_session::Exch50Fate;
use crate::transport::smtp_filters::edge_session::{Disposition, EdgeConnId, FilterStep};
use crate::transport::smtp_filters::sender_id::SenderIdResult;
use crate::transport::smtp_filters::SenderDisplay;
use crate::transport::smtp_protocol::ConnId;
use crate::{AddressId, ConnectorId, HostId, RoutingGroupId, ServerId, StorageGroupId, StoreId};

/// Why an outbound SMTP session ended without finishing its queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionFailure {
    /// No answer within the timeout (host down, link down, packet lost).
    Timeout,
    /// The peer reset the connection (it restarted and forgot the session).
    Reset,
    /// The peer answered with a transient error.
    Rejected(u16),
}

/// What happened to a database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseChange {
    /// Mounted: it takes mail and logons.
    Mounted,
    /// Dismounted by an administrator: mail for its mailboxes waits in Local delivery.
    Dismounted,
    /// Dismounted by the daily size check: its logical size reached the limit.
    DismountedOverLimit,
    /// Dismounted cleanly because its storage group's log disk is full (the reserve
    /// logs took what was in flight).
    DismountedLogDiskFull,
    /// A mount (by an administrator, or at the service's start) refused: its storage
    /// group's log disk has no room for the logs and the two reserves.
    MountRefusedLogDiskFull,
    /// Its volume failed: its files are gone (dismounted; its mail waits).
    Lost,
    /// A blank database was mounted in place of a lost one (dial-tone recovery).
    MountedBlank,
    /// A restore over it completed (hard recovery done) and it mounted.
    MountedAfterRestore,
}

impl DatabaseChange {
    /// Whether the database takes mail after this change.
    pub fn mounts(self) -> bool {
        matches!(self, DatabaseChange::Mounted | DatabaseChange::MountedBlank | DatabaseChange::MountedAfterRestore)
    }

    /// As the trace writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseChange::Mounted => "mounted",
            DatabaseChange::Dismounted => "dismounted",
            DatabaseChange::DismountedOverLimit => "dismounted_over_limit",
            DatabaseChange::DismountedLogDiskFull => "dismounted_log_disk_full",
            DatabaseChange::MountRefusedLogDiskFull => "mount_refused_log_disk_full",
            DatabaseChange::Lost => "lost",
            DatabaseChange::MountedBlank => "mounted_blank",
            DatabaseChange::MountedAfterRestore => "mounted_after_restore",
        }
    }
}

/// How a mailbox move ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MoveOutcome {
    /// The target committed the mailbox and the source deleted its copy.
    Moved,
    /// A chunk went unanswered, or the mailbox could not move: it stays.
    Failed,
    /// The task's cancel time came first: it stays.
    Cancelled,
}

impl MoveOutcome {
    /// As the trace writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            MoveOutcome::Moved => "moved",
            MoveOutcome::Failed => "failed",
            MoveOutcome::Cancelled => "cancelled",
        }
    }
}

/// What the daily size check found (SP2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeVerdict {
    /// Within the warning buffer of the limit: a warning event.
    Warning,
    /// At or over the limit: an error event, and the database is dismounted.
    OverLimit,
}

impl SizeVerdict {
    /// As the trace writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SizeVerdict::Warning => "warning",
            SizeVerdict::OverLimit => "over_limit",
        }
    }
}

/// Names for the ids events carry, as the trace writes them (the scenario's names).
pub trait Namer {
    /// A message (`M12`, `NDR-EX01-3`, `OOF-EX01-4`).
    fn message(&self, id: MessageId) -> String;
    /// Writes a message's name as JSON string content (escaped), as `message` names it;
    /// the trace's hot path, so a namer may write it without building a String.
    fn write_message(&self, id: MessageId, out: &mut Vec<u8>) {
        json::escape(out, &self.message(id));
    }
    /// An SMTP address.
    fn address(&self, id: AddressId) -> &str;
    /// An Exchange server.
    fn server(&self, id: ServerId) -> &str;
    /// A host beyond the organization.
    fn host(&self, id: HostId) -> &str;
    /// A domain controller.
    fn dc(&self, id: DcId) -> &str;
    /// A mailbox store.
    fn store(&self, id: StoreId) -> &str;
    /// A storage group (named on its server).
    fn storage_group(&self, id: StorageGroupId) -> &str;
    /// A routing group connector.
    fn connector(&self, id: ConnectorId) -> &str;
    /// A routing group.
    fn routing_group(&self, id: RoutingGroupId) -> &str;
    /// A queue, as Queue Viewer names it.
    fn queue(&self, key: QueueKey) -> &str;
    /// A public store (`setup` for the changes made before the run).
    fn public_store(&self, id: ReplicaId) -> &str;
    /// An offline address book.
    fn offline_address_book(&self, id: OabId) -> String {
        format!("OAB{}", id.0)
    }
    /// A public folder: by default the store that created it and its counter there
    /// (`"Public Store (EX01)#12"`); a namer that knows its path names it so.
    fn public_folder(&self, id: crate::public_folders::replication_message::FolderId) -> String {
        format!("{}#{}", self.public_store(id.0.replica), id.0.counter)
    }

    /// Writes an address as a JSON string. The `write_*` methods are the trace's hot
    /// path: a namer may keep its names rendered and copy them.
    fn write_address(&self, id: AddressId, out: &mut Vec<u8>) {
        json::str(out, self.address(id));
    }
    /// Writes a server's name as a JSON string.
    fn write_server(&self, id: ServerId, out: &mut Vec<u8>) {
        json::str(out, self.server(id));
    }
    /// Writes a mailbox store's name as a JSON string.
    fn write_store(&self, id: StoreId, out: &mut Vec<u8>) {
        json::str(out, self.store(id));
    }
    /// Writes a queue's name as a JSON string.
    fn write_queue(&self, key: QueueKey, out: &mut Vec<u8>) {
        json::str(out, self.queue(key));
    }
}

/// The trace's JSON values, written straight into a line: the bytes serde_json writes
/// for the same values (strings escaped exactly as it escapes them, tested against it),
/// without a serializer or a String per value. Serializing server events through serde
/// was 15 % of a run (perf, 10,000-mailbox day).
pub mod json {
    /// A string value.
    pub fn str(out: &mut Vec<u8>, s: &str) {
        out.push(b'"');
        escape(out, s);
        out.push(b'"');
    }

    /// String content: `"` and `\` escaped, control characters as `\n`-style or
    /// `\u00XX` escapes, everything else as it is (serde_json's rules).
    pub fn escape(out: &mut Vec<u8>, s: &str) {
        let bytes = s.as_bytes();
        // Names almost never need an escape: skip eight bytes at a time while none does.
        let mut clean = 0;
        while let Some(chunk) = bytes.get(clean..clean + 8) {
            if needs_escape(u64::from_le_bytes(chunk.try_into().expect("eight bytes"))) {
                break;
            }
            clean += 8;
        }
        out.extend_from_slice(&bytes[..clean]);
        let mut from = clean;
        for (i, &b) in bytes.iter().enumerate().skip(clean) {
            let short = match b {
                b'"' => b'"',
                b'\\' => b'\\',
                0x08 => b'b',
                0x0c => b'f',
                b'\n' => b'n',
                b'\r' => b'r',
                b'\t' => b't',
                0x00..=0x1f => b'u',
                _ => continue,
            };
            out.extend_from_slice(&bytes[from..i]);
            from = i + 1;
            out.extend_from_slice(&[b'\\', short]);
            if short == b'u' {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]);
            }
        }
        out.extend_from_slice(&bytes[from..]);
    }

    /// Whether any of eight bytes is a control character, `"` or `\\` (the classic
    /// "has a byte less than n" and "has a zero byte" word tricks; a false alarm only
    /// sends the chunk to the byte loop).
    fn needs_escape(word: u64) -> bool {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        let below = |n: u64| word.wrapping_sub(ONES * n) & !word & HIGHS;
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
        below(0x20) | zero(word ^ (ONES * u64::from(b'"'))) | zero(word ^ (ONES * u64::from(b'\\'))) != 0
    }

    /// An unsigned number.
    pub fn uint(out: &mut Vec<u8>, n: u64) {
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// A signed number.
    pub fn int(out: &mut Vec<u8>, n: i64) {
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// `,"name":` before a field's value (names are Rust identifiers: nothing to escape).
    pub fn key(out: &mut Vec<u8>, name: &str) {
        debug_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
    }
}

/// A value as the trace writes it: ids by name, states by their lower-case names.
pub trait TraceValue {
    /// Writes the value as JSON.
    fn write(&self, names: &dyn Namer, out: &mut Vec<u8>);

    /// Whether the field is left out of the record (an absent optional value).
    fn absent(&self) -> bool {
        false
    }
}

mod values;

/// How many: a list traced by its length.
fn count(list: &[AddressId]) -> u32 {
    list.len() as u32
}

/// A table digest as 16 hex digits.
fn hex(digest: &u64) -> String {
    format!("{digest:016x}")
}

/// The value a field is traced as: itself, or what its conversion makes of it.
macro_rules! traced {
    ($field:ident) => {
        $field
    };
    ($field:ident, $conv:path) => {
        &$conv($field)
    };
}

/// Declares the events: each variant with its trace name and its fields in trace order;
/// `field: Type => conversion` traces what the conversion returns.
macro_rules! server_events {
    ($($(#[$vmeta:meta])* $variant:ident $tag:literal {
        $($(#[$fmeta:meta])* $field:ident: $ty:ty $(=> $conv:path)?),* $(,)?
    }),* $(,)?) => {
        /// An observable event of one server.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum ServerEvent {
            $($(#[$vmeta])* $variant { $($(#[$fmeta])* $field: $ty),* }),*
        }

        impl ServerEvent {
            /// The record's `event` name.
            pub fn trace_name(&self) -> &'static str {
                match self {
                    $(ServerEvent::$variant { .. } => $tag),*
                }
            }

            /// Writes the event's fields as `,"name":value` each, in declaration order,
            /// ids named by `names`.
            pub fn write_fields(&self, names: &dyn Namer, out: &mut Vec<u8>) {
                match self {
                    $(ServerEvent::$variant { $($field),* } => {
                        $(
                            let value = traced!($field $(, $conv)?);
                            if !TraceValue::absent(value) {
                                // `,"name":` as one constant (names are identifiers).
                                out.extend_from_slice(concat!(",\"", stringify!($field), "\":").as_bytes());
                                value.write(names, out);
                            }
                        )*
                    })*
                }
            }
        }
    };
}

server_events! {
    /// A client submission is durable (message tracking 1027).
    Submitted "submitted" { message: MessageId, sender: AddressId, recipients: Vec<AddressId>, size_bytes: u64 },
    /// The store refused a user's MAPI logon (protocolSettings); nothing was submitted.
    MapiLogonDenied "mapi_logon_denied" { user: AddressId },
    /// A message from another server is durable and acknowledged (1019).
    Received "received" { message: MessageId, from: ServerId, conn: ConnId, recipients: Vec<AddressId>, hop_count: u8 },
    /// The categorizer resolved the recipients (1033).
    Categorized "categorized" { message: MessageId, resolved: u32, failed: u32 },
    /// The categorizer holds the message to expand these group recipients (§2).
    ExpansionStarted "expansion_started" { message: MessageId, groups: Vec<AddressId> },
    /// A group recipient was expanded to these members (tracking event 26; none for an
    /// empty group, which is no error). The trace gives their number.
    Expanded "expanded" { message: MessageId, group: AddressId, members: Vec<AddressId> => count },
    /// A GC did not answer the categorizer: its lookup or expansion starts again on
    /// another GC (`found` recipients were thrown away).
    GcFailover "gc_failover" { message: MessageId, gc: DcId, found: u64 },
    /// No GC answers: the message waits in categorizer retry (1032).
    CategorizerRetry "categorizer_retry" { message: MessageId, retry_in_ms: u64 },
    /// Every group of the message is done; it is routed next.
    ExpansionFinished "expansion_finished" { message: MessageId },
    /// Memory the categorizer's expansions hold now (2 KB a recipient, §2).
    CategorizerMemory "categorizer_memory" { bytes: u64 },
    /// Recipients queued for a next hop (1034/1035/1036).
    Queued "queued" {
        /// The message.
        message: MessageId,
        /// The queue it joins.
        queue: QueueKey,
        /// The recipients queued.
        recipients: Vec<AddressId>,
        /// The route's cost.
        cost: u32,
        /// The link queue it waited in before its route changed, when it moves from one
        /// link queue to another (a reroute round a failure, or back).
        rerouted_from: Option<QueueKey>,
    },
    /// Recipients handed to the next server, which acknowledged them (1031).
    Transferred "transferred" {
        message: MessageId, to: ServerId, queue: QueueKey, recipients: Vec<AddressId>, size_bytes: u64,
    },
    /// Recipients handed to a host beyond the organization (a smart host, an MX host or
    /// a foreign MTA), which acknowledged them (1031): the organization's part is done.
    Relayed "relayed" { message: MessageId, host: HostId, queue: QueueKey, recipients: Vec<AddressId>, size_bytes: u64 },
    /// Recipients handed to another organization's server over an SMTP connector (§6),
    /// which acknowledged them (1031): `recipients` as queued here, `addressed` as named
    /// in RCPT TO there (a contact's target address for a contact).
    TransferredOut "transferred_out" {
        /// The message.
        message: MessageId,
        /// The other organization's server.
        to: ServerId,
        /// The queue it left.
        queue: QueueKey,
        /// Its recipients as queued here.
        recipients: Vec<AddressId>,
        /// The same, as addressed there.
        addressed: Vec<AddressId>,
        /// Its size.
        size_bytes: u64,
        /// The session authenticated (the connector's outbound security).
        authenticated: bool,
        /// What became of its Exch50 blob.
        exch50: Exch50Fate,
    },
    /// The other organization's server refused a connector's AUTH (`code`): the session
    /// ends, and its queue waits for the next retry.
    OutboundAuthFailed "outbound_auth_failed" { queue: QueueKey, to: ServerId, code: u16 },
    /// A DNS server or an MX host did not answer; the next one is tried at once.
    Failover "failover" { queue: QueueKey, host: HostId, reason: SessionFailure },
    /// Committed to a mailbox (1028).
    Delivered "delivered" { message: MessageId, recipient: AddressId, store: StoreId, latency_ms: u64 },
    /// A move began taking a mailbox out of this store (its mail waits meanwhile).
    MoveStarted "move_started" { mailbox: AddressId, to_store: StoreId, bytes: u64 },
    /// A mailbox's move out of this store ended; `moved`: durable, the bytes sent.
    MoveEnded "move_ended" { mailbox: AddressId, to_store: StoreId, outcome: MoveOutcome, bytes: u64, duration_ms: u64 },
    /// A database was mounted or dismounted.
    DatabaseState "database_state" { store: StoreId, change: DatabaseChange },
    /// A user over "prohibit send" tried to send: refused, nothing submitted.
    ProhibitSend "prohibit_send" { user: AddressId, mailbox_bytes: u64, limit_bytes: u64 },
    /// The daily storage warning run found a mailbox at or over "issue warning": its
    /// owner is warned.
    QuotaWarning "quota_warning" { mailbox: AddressId, mailbox_bytes: u64, limit_bytes: u64 },
    /// The store re-read a mailbox's quota (its 2-hour cache expired) and found it changed.
    QuotaRead "quota_read" {
        mailbox: AddressId,
        issue_warning_bytes: Option<u64>,
        prohibit_send_bytes: Option<u64>,
        prohibit_send_receive_bytes: Option<u64>,
    },
    /// The daily size check (SP2) found a database's logical size near or at its limit.
    DatabaseSize "database_size" { store: StoreId, logical_bytes: u64, limit_bytes: u64, verdict: SizeVerdict },
    /// Online maintenance of a database (event 1221): deleted items past retention and
    /// deleted mailboxes past theirs purged; the logical free space after
    /// defragmentation (durable).
    OnlineMaintenance "online_maintenance" {
        store: StoreId,
        purged_items_bytes: u64,
        purged_mailboxes: u64,
        purged_mailbox_bytes: u64,
        free_bytes: u64,
    },
    /// A storage group's log disk is full: the new log file came from the reserve logs,
    /// and its databases dismount (durable).
    LogDiskFull "log_disk_full" { storage_group: StorageGroupId, log_files: u64, disk_bytes: u64 },
    /// An online backup of a storage group completed: its mounted databases' mailboxes
    /// and messages are on the media; the log files below the checkpoint's were deleted
    /// (durable).
    Backup "backup" {
        storage_group: StorageGroupId,
        databases: u64,
        mailboxes: u64,
        messages: u64,
        log_files_deleted: u64,
        log_files: u64,
    },
    /// A storage group's database volume failed (its log volume too when `logs_lost`),
    /// taking these mailboxes and messages; `later_logs`: the logs since the last backup
    /// survive for a restore to replay (durable).
    DiskFailed "disk_failed" {
        storage_group: StorageGroupId,
        logs_lost: bool,
        later_logs: bool,
        mailboxes: u64,
        messages: u64,
    },
    /// A restore of `from_server`'s backup of a storage group (taken at `backup_at_ms`)
    /// completed into the RSG or over the originals: mailboxes restored, messages from
    /// the backup, messages hard recovery replayed from the later logs, and whether
    /// those logs were there (durable).
    Restored "restored" {
        storage_group: StorageGroupId,
        from_server: ServerId,
        backup_at_ms: u64,
        into: RestoreTarget,
        databases: Vec<StoreId>,
        mailboxes: u64,
        from_backup: u64,
        replayed: u64,
        later_logs: bool,
    },
    /// A restore was refused.
    RestoreRefused "restore_refused" { storage_group: StorageGroupId, from_server: ServerId, reason: RestoreRefusal },
    /// A merge from the Recovery Storage Group: mailboxes merged, those left out (the
    /// user's mailbox is elsewhere or not mounted), messages and bytes added; rules
    /// (the OOF history) and folder permissions are never merged (durable).
    /// `oof_histories_left`: merged mailboxes whose Out of Office history stayed
    /// behind, so their owners' senders may get a second reply.
    Merged "merged" { mailboxes: u64, left_out: u64, messages: u64, bytes: u64, oof_histories_left: u64 },
    /// A merge did not complete.
    MergeRefused "merge_refused" { reason: MergeRefusal },
    /// A storage group's log stream began a new 5 MB log file (durable).
    LogGeneration "log_generation" { storage_group: StorageGroupId, generation: u32 },
    /// Soft recovery of a storage group when its store started after a crash: the log
    /// replayed from the checkpoint's file to the current one, the deliveries replayed,
    /// and whether replay ended at a record a power loss tore.
    SoftRecovery "soft_recovery" {
        storage_group: StorageGroupId,
        checkpoint_generation: u32,
        end_generation: u32,
        replayed: u64,
        torn_record: bool,
    },
    /// A copy went into the mailbox's Junk E-mail folder: its SCL is above the store's
    /// threshold (durable).
    JunkEmail "junk_email" { message: MessageId, recipient: AddressId, scl: i8 },
    /// A copy the mailbox already had was dropped.
    DuplicateSuppressed "duplicate_suppressed" { message: MessageId, recipient: AddressId, store: StoreId },
    /// An NDR was generated for these recipients (1030).
    Ndr "ndr" { message: MessageId, recipients: Vec<AddressId>, code: DsnCode, ndr: MessageId, to: AddressId },
    /// The categorizer sent a journal report on `message` to the journal mailbox
    /// `journal`, listing `listed` recipients (Bcc included when `bcc`: JournalBCC).
    JournalReport "journal_report" { message: MessageId, journal: AddressId, report: MessageId, listed: u32, bcc: bool },
    /// The store sent an Out of Office reply for `from` to the sender of `message`.
    OutOfOffice "out_of_office" { message: MessageId, from: AddressId, reply: MessageId, to: AddressId },
    /// A DSN could not be delivered and went to Badmail (DSNs are never NDR'd).
    Badmail "badmail" { message: MessageId, recipients: Vec<AddressId>, code: DsnCode },
    /// A link queue changed state.
    QueueState "queue_state" {
        queue: QueueKey,
        state: LinkQueueState,
        failures: u32,
        retry_in_ms: Option<u64>,
        reason: Option<SessionFailure>,
    },
    /// The server rebuilt its queues from disk after a restart.
    Recovered "recovered" { items: u32, recipients: u32 },
    /// The link state table changed: these groups' entries, and the new digest.
    LinkStateChanged "link_state_changed" { groups: Vec<(RoutingGroupId, GroupState)>, digest: u64 => hex },
    /// A source bridgehead found a connector down (glitch retries spent) or working again.
    ConnectorDetected "connector_detected" { connector: ConnectorId, state: ConnectorState },
    /// A public store sent a replication message (`changes`: folders or items carried,
    /// or change numbers asked for).
    PfSent "pf_sent" {
        message: MessageId,
        kind: ReplicationKind,
        folder: FolderKey,
        to: Vec<ReplicaId>,
        size_bytes: u64,
        changes: u64,
    },
    /// A replication message reached its public store.
    PfReceived "pf_received" { message: MessageId, kind: ReplicationKind, folder: FolderKey, from: ReplicaId },
    /// Missing changes entered the backfill array; the request waits until `due_ms`.
    PfBackfillQueued "pf_backfill_queued" { folder: FolderKey, changes: u64, due_ms: u64 },
    /// A backfill request went to `source`, `waited_ms` after its entry was made; its
    /// timeouts (6/12/24 h local, 12/24/48 h remote, §8) ask for `min_wait_ms`.
    PfBackfillRequested "pf_backfill_requested" {
        folder: FolderKey,
        source: ReplicaId,
        changes: u64,
        waited_ms: u64,
        min_wait_ms: u64,
    },
    /// This server's public store became a replica of a folder, or left it.
    PfReplica "pf_replica" { folder: FolderKey, added: bool },
    /// A hierarchy change waits for its parent folder, or waited 7 days and was dropped.
    PfHierarchyOrphan "pf_hierarchy_orphan" { folder: FolderKey, expired: bool },
    /// A folder was deleted on this server's public store by `by` (a mailbox);
    /// `event_9682`: SP2 logged it (diagnostics logging Medium or higher).
    PfFolderDeleted "pf_folder_deleted" { folder: FolderKey, name: String, by: AddressId, event_9682: bool },
    /// Mail to a mail-enabled public folder was posted into its replica here.
    PfMailDelivered "pf_mail_delivered" { message: MessageId, recipient: AddressId, folder: FolderKey },
    /// A client's post to a folder was refused here (no such folder, or no replica).
    PfPostRefused "pf_post_refused" { folder: FolderKey, reason: PfRefusal },
    /// A client of this server opened a folder: served here (`tried` 0) or referred to
    /// `served_by` after trying `tried` servers of the referral order (the last one
    /// reached), at referral cost `cost`; `served_by` null: no server could be reached.
    PfRead "pf_read" { folder: FolderKey, served_by: Option<ServerId>, tried: u32, cost: u32 },
    /// A client's read of a folder the hierarchy here does not hold.
    PfReadRefused "pf_read_refused" { folder: FolderKey, reason: PfRefusal },
    /// An administrator's order to this server's public store was refused.
    PfAdminRefused "pf_admin_refused" { folder: FolderKey, reason: PfRefusal },
    /// The routing group master reviewed a report.
    LinkStateReviewed "link_state_reviewed" { connector: ConnectorId, reported: ConnectorState, verdict: Decision },
    /// OALGen finished a run: it read `records` entries (`read_bytes` over `read_ms`)
    /// from `gc`; version 4 files (SP2) and what versions 2/3a got (§9), with the bytes
    /// of their compressed full sets and Changes files when the run posted them.
    OabGenerated "oab_generated" {
        oab: OabId,
        gc: DcId,
        read_ms: u64,
        read_bytes: u64,
        records: u64,
        added: u64,
        removed: u64,
        changed: u64,
        v4_sequence: Option<u32>,
        v4_full_bytes: Option<u64>,
        v4_compressed_bytes: Option<u64>,
        v4_patch_bytes: Option<u64>,
        legacy: LegacyOutcome,
        legacy_sequence: u32,
        v2_full_bytes: Option<u64>,
        v2_changes_bytes: Option<u64>,
        v3a_full_bytes: Option<u64>,
        v3a_changes_bytes: Option<u64>,
    },
    /// An event OALGen logged during a run (`logged`: its level, kind and details).
    OabEvent "oab_event" { oab: OabId, logged: OabEvent },
    /// A client outside the organization connected to an inbound virtual server.
    EdgeConnected "edge_connected" { conn: EdgeConnId, virtual_server: String, ip: std::net::Ipv4Addr },
    /// A filter step (or relay or submission permission) refused or dropped something on
    /// an inbound session (§3.1); `dropped`: the connection was closed.
    EdgeRefused "edge_refused" {
        /// The session.
        conn: EdgeConnId,
        /// The step.
        step: FilterStep,
        /// The reply code (0: dropped without one).
        code: u16,
        /// The connection was closed.
        dropped: bool,
        /// The session had authenticated.
        authenticated: bool,
        /// The recipient or sender refused, when one (and interned).
        address: Option<AddressId>,
    },
    /// An inbound session took a message: where it goes, its SCL and Sender ID result.
    EdgeAccepted "edge_accepted" {
        /// The session.
        conn: EdgeConnId,
        /// The message.
        message: MessageId,
        /// Its envelope sender (none: blank or not interned).
        sender: Option<AddressId>,
        /// Its accepted recipients.
        recipients: Vec<AddressId>,
        /// Where it goes.
        disposition: Disposition,
        /// The SCL stamped.
        scl: i8,
        /// The Sender ID result stamped.
        sender_id: Option<SenderIdResult>,
        /// The session authenticated.
        authenticated: bool,
        /// A block list lookup went unanswered (counted as not listed).
        dnsbl_failed: bool,
        /// What became of the Exch50 blob the client offered (its SCL stands when kept).
        exch50: Exch50Fate,
        /// How the message shows its sender, and why.
        sender_display: SenderDisplay,
    },
    /// Badmail (a DSN nobody can take, or what the sender filter accepts without
    /// notifying) came to a virtual server's Badmail folder: written or discarded, and
    /// the folder's size as advanced queuing counts it afterwards (after the write is
    /// durable, whatever the fate, so these come in the order they were decided).
    BadmailFolder "badmail_folder" {
        virtual_server: String,
        message: MessageId,
        size_bytes: u64,
        fate: BadmailFate,
        cached_bytes: u64,
    },
    /// A message went into one of a virtual server's archive folders (durable).
    Archived "archived" { virtual_server: String, message: MessageId, folder: ArchiveFolder, size_bytes: u64 },
    /// An administrator emptied a Badmail folder (advanced queuing learns of it at its
    /// next rescan).
    BadmailPurged "badmail_purged" { virtual_server: String, freed_bytes: u64 },
    /// Advanced queuing measured a Badmail folder again: at its periodic rescan when the
    /// size differed from its figure, and when the service started.
    BadmailRescanned "badmail_rescanned" { virtual_server: String, size_bytes: u64 },
    /// A GC did not answer a page in time: the read starts again on another.
    OabGcFailover "oab_gc_failover" { oab: OabId, gc: DcId },
    /// No GC answered: the run ended without files.
    OabRunFailed "oab_run_failed" { oab: OabId, gcs_tried: u32 },
    /// A scheduled start came while a run was still going: skipped, not queued.
    OabRunSkipped "oab_run_skipped" { oab: OabId },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Strings, control characters and non-ASCII included, come out as serde_json
        /// writes them: the trace's bytes (and digests) do not depend on which wrote them.
        #[test]
        fn strings_as_serde_json_writes_them(s in "(\\PC|[\\x00-\\x1f\"\\\\\\x7f])*") {
            let mut out = Vec::new();
            json::str(&mut out, &s);
            prop_assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn numbers_as_serde_json_writes_them(u: u64, i: i64) {
            let mut out = Vec::new();
            json::uint(&mut out, u);
            out.push(b' ');
            json::int(&mut out, i);
            prop_assert_eq!(String::from_utf8(out).unwrap(), format!("{} {}", serde_json::json!(u), serde_json::json!(i)));
        }
    }

    #[test]
    fn every_control_character_escaped_as_serde_json_does() {
        let all: String = (0u8..0x80).map(char::from).collect();
        let mut out = Vec::new();
        json::str(&mut out, &all);
        assert_eq!(String::from_utf8(out).unwrap(), serde_json::to_string(&all).unwrap());
    }
}
