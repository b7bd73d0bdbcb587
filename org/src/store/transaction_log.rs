//! A storage group's transaction log stream (ESE, EXCHANGE2003.md §7): every change to
//! its databases is a log record, written before the change is acknowledged; records
//! fill log files of exactly 5,242,880 bytes, numbered generations from 1 (`E00.log` is
//! the current file, the full ones `E0000001.log`, `E0000002.log` …).
//!
//! What a delivery writes [U]: the message's content once per database (the store keeps
//! one copy of a message delivered to several mailboxes of one database: single-instance
//! storage), and per recipient the message's properties and the folder's changes.
//!
//! The checkpoint and soft recovery live with the disk (`transport/queue_directory.rs`):
//! the records past a storage group's checkpoint are what recovery replays.
//!
//! A log disk that fills up: when the next log file and the two reserve logs no longer
//! fit, the reserve logs take what is in flight and the storage group's databases
//! dismount (the store decides; `information_store.rs`). Circular logging deletes the
//! files the checkpoint has passed; a backup deletes those below the checkpoint's.

/// Size of every log file (§7).
pub const LOG_FILE_BYTES: u64 = 5_242_880;

/// Reserve log files (`res1.log`, `res2.log`) every storage group keeps on its log disk,
/// so that when the disk is full it can finish what is in flight and dismount cleanly
/// (§7).
pub const RESERVE_LOG_FILES: u64 = 2;

/// How far a storage group's log may run ahead of its checkpoint before ESE writes the
/// changes into the database files and moves the checkpoint (Exchange 2003's checkpoint
/// depth, 20 MB [U]).
pub const CHECKPOINT_DEPTH_BYTES: u64 = 20 * 1024 * 1024;

/// Bytes a delivery writes per recipient beside the content: the message's properties
/// in the recipient's Inbox and the folder's counts [U].
pub const PER_RECIPIENT_RECORD_BYTES: u64 = 1_024;

/// One storage group's log stream: how many bytes it has written, its checkpoint (the
/// databases hold everything before it) and the oldest log file still on disk (a
/// backup truncates below the checkpoint; circular logging deletes what the checkpoint
/// has passed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransactionLog {
    bytes: u64,
    checkpoint_bytes: u64,
    first_kept_generation: u32,
}

impl Default for TransactionLog {
    fn default() -> Self {
        TransactionLog { bytes: 0, checkpoint_bytes: 0, first_kept_generation: 1 }
    }
}

/// What one record did to a log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// Generations it began (a record may fill a file and start the next, or span several).
    pub begun: std::ops::Range<u32>,
    /// The checkpoint moved to the end of the log.
    pub checkpointed: bool,
}

impl TransactionLog {
    /// A stream that has written `bytes`, checkpointed at its end.
    pub fn with_bytes(bytes: u64) -> Self {
        TransactionLog { bytes, checkpoint_bytes: bytes, first_kept_generation: 1 }
    }

    /// Bytes written since the storage group was created.
    pub fn bytes(self) -> u64 {
        self.bytes
    }

    /// Log bytes the database files hold.
    pub fn checkpoint_bytes(self) -> u64 {
        self.checkpoint_bytes
    }

    /// The generation of the current log file (the first is 1).
    pub fn generation(self) -> u32 {
        generation_at(self.bytes)
    }

    /// The generation of the log file the checkpoint is in.
    pub fn checkpoint_generation(self) -> u32 {
        generation_at(self.checkpoint_bytes)
    }

    /// The oldest log file on disk.
    pub fn first_kept_generation(self) -> u32 {
        self.first_kept_generation
    }

    /// Log files on disk, the current one included (the reserve files aside).
    pub fn log_files(self) -> u64 {
        u64::from(self.generation() - self.first_kept_generation + 1)
    }

    /// Appends a record. Past the checkpoint depth the checkpoint moves to the end; with
    /// circular logging the files it has passed are deleted.
    pub fn append(&mut self, record_bytes: u64, circular: bool) -> Appended {
        let before = self.generation();
        self.bytes += record_bytes;
        let checkpointed = self.bytes - self.checkpoint_bytes >= CHECKPOINT_DEPTH_BYTES;
        if checkpointed {
            self.checkpoint(circular);
        }
        Appended { begun: before + 1..self.generation() + 1, checkpointed }
    }

    /// Moves the checkpoint to the end of the log (everything is in the databases).
    pub fn checkpoint(&mut self, circular: bool) {
        self.checkpoint_bytes = self.bytes;
        if circular {
            self.first_kept_generation = self.checkpoint_generation();
        }
    }

    /// A backup completed: the files below the checkpoint's are deleted. Returns how
    /// many.
    pub fn truncate(&mut self) -> u64 {
        let first = self.checkpoint_generation().max(self.first_kept_generation);
        let deleted = first - self.first_kept_generation;
        self.first_kept_generation = first;
        u64::from(deleted)
    }

    /// Whether the log files and the two reserves fit on a disk of `capacity_bytes`.
    pub fn fits(self, capacity_bytes: u64) -> bool {
        (self.log_files() + RESERVE_LOG_FILES) * LOG_FILE_BYTES <= capacity_bytes
    }
}

fn generation_at(bytes: u64) -> u32 {
    u32::try_from(bytes / LOG_FILE_BYTES + 1).expect("fewer than 4 billion log files")
}

/// What delivering one message to `copies` mailboxes of one database writes: to the log,
/// and to the database's streaming file (.stm, the content) and property file (.edb).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryWrite {
    pub log_bytes: u64,
    pub stm_bytes: u64,
    pub edb_bytes: u64,
}

impl DeliveryWrite {
    /// The content once (single-instance storage), the properties per copy.
    pub fn of(size_bytes: u64, copies: u64) -> DeliveryWrite {
        debug_assert!(copies > 0, "a delivery writes at least one copy");
        let properties = copies * PER_RECIPIENT_RECORD_BYTES;
        DeliveryWrite { log_bytes: size_bytes + properties, stm_bytes: size_bytes, edb_bytes: properties }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn files_are_exactly_five_megabytes() {
        let mut log = TransactionLog::default();
        assert_eq!(log.generation(), 1);
        assert!(log.append(LOG_FILE_BYTES - 1, false).begun.is_empty());
        assert_eq!(log.append(1, false).begun, 2..3, "the byte that fills E00001 begins generation 2");
        assert_eq!(log.append(3 * LOG_FILE_BYTES, false).begun, 3..6, "a large record spans files");
        assert_eq!(log.generation(), 5);
        assert_eq!(TransactionLog::with_bytes(log.bytes()).generation(), 5);
    }

    #[test]
    fn single_instance_content_per_database() {
        let w = DeliveryWrite::of(10_000, 3);
        assert_eq!(w, DeliveryWrite { log_bytes: 10_000 + 3 * 1_024, stm_bytes: 10_000, edb_bytes: 3 * 1_024 });
    }

    #[test]
    fn backups_truncate_below_the_checkpoint_and_circular_logging_keeps_only_what_recovery_needs() {
        let mut log = TransactionLog::default();
        // 30 MiB in 1 MiB records: the checkpoint moves at 20 MiB.
        let moved: Vec<bool> = (0..30).map(|_| log.append(1 << 20, false).checkpointed).collect();
        assert_eq!(moved.iter().filter(|m| **m).count(), 1);
        assert_eq!((log.checkpoint_generation(), log.generation(), log.log_files()), (5, 7, 7));
        assert_eq!(log.truncate(), 4, "generations 1 to 4 are below the checkpoint's file");
        assert_eq!((log.first_kept_generation(), log.log_files()), (5, 3));
        assert_eq!(log.truncate(), 0, "a second backup finds nothing more to delete");
        assert!(log.fits(5 * LOG_FILE_BYTES) && !log.fits(5 * LOG_FILE_BYTES - 1), "3 logs and 2 reserves");
        let mut circular = TransactionLog::default();
        for _ in 0..100 {
            circular.append(1 << 20, true);
        }
        assert!(circular.log_files() <= 5, "circular logging keeps the files past the checkpoint: {circular:?}");
    }

    proptest! {
        /// However records are cut, the generation is the bytes written over 5 MiB, plus
        /// one, and every generation is begun exactly once.
        #[test]
        fn generations_follow_bytes(records in proptest::collection::vec(0u64..20_000_000, 0..40)) {
            let mut log = TransactionLog::default();
            let mut begun = vec![1u32];
            for r in &records {
                begun.extend(log.append(*r, false).begun);
            }
            let total: u64 = records.iter().sum();
            prop_assert_eq!(log.generation() as u64, total / LOG_FILE_BYTES + 1);
            prop_assert_eq!(begun, (1..=log.generation()).collect::<Vec<_>>());
        }
    }
}
