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
//! Left out so far: reserve logs, circular logging, a log disk that fills up.

/// Size of every log file (§7).
pub const LOG_FILE_BYTES: u64 = 5_242_880;

/// Bytes a delivery writes per recipient beside the content: the message's properties
/// in the recipient's Inbox and the folder's counts [U].
pub const PER_RECIPIENT_RECORD_BYTES: u64 = 1_024;

/// One storage group's log stream: how many bytes it has written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransactionLog {
    bytes: u64,
}

impl TransactionLog {
    /// A stream that has written `bytes`.
    pub fn with_bytes(bytes: u64) -> Self {
        TransactionLog { bytes }
    }

    /// Bytes written since the storage group was created.
    pub fn bytes(self) -> u64 {
        self.bytes
    }

    /// The generation of the current log file (the first is 1).
    pub fn generation(self) -> u32 {
        u32::try_from(self.bytes / LOG_FILE_BYTES + 1).expect("fewer than 4 billion log files")
    }

    /// Appends a record; returns the generations it began (a record may fill a file and
    /// start the next, or span several).
    pub fn append(&mut self, record_bytes: u64) -> std::ops::Range<u32> {
        let before = self.generation();
        self.bytes += record_bytes;
        before + 1..self.generation() + 1
    }
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
        assert!(log.append(LOG_FILE_BYTES - 1).is_empty());
        assert_eq!(log.append(1), 2..3, "the byte that fills E00001 begins generation 2");
        assert_eq!(log.append(3 * LOG_FILE_BYTES), 3..6, "a large record spans files");
        assert_eq!(log.generation(), 5);
        assert_eq!(TransactionLog::with_bytes(log.bytes()), log);
    }

    #[test]
    fn single_instance_content_per_database() {
        let w = DeliveryWrite::of(10_000, 3);
        assert_eq!(w, DeliveryWrite { log_bytes: 10_000 + 3 * 1_024, stm_bytes: 10_000, edb_bytes: 3 * 1_024 });
    }

    proptest! {
        /// However records are cut, the generation is the bytes written over 5 MiB, plus
        /// one, and every generation is begun exactly once.
        #[test]
        fn generations_follow_bytes(records in proptest::collection::vec(0u64..20_000_000, 0..40)) {
            let mut log = TransactionLog::default();
            let mut begun = vec![1u32];
            for r in &records {
                begun.extend(log.append(*r));
            }
            let total: u64 = records.iter().sum();
            prop_assert_eq!(log.generation() as u64, total / LOG_FILE_BYTES + 1);
            prop_assert_eq!(begun, (1..=log.generation()).collect::<Vec<_>>());
        }
    }
}
