//! `log_disk_capacity`: a storage group's log files never outgrow the volume that holds
//! them (EXCHANGE2003.md §7). ESE keeps two reserve logs so that, when the next log file
//! has no room, it can finish what is in flight and dismount the storage group's
//! databases: a new file may use up the first reserve, never the second; a store that
//! goes on writing runs past the disk. Judged at every new log
//! file from what the server's disk holds, not from what the store reports.

use super::*;

/// A new log file, as the disk holds the storage group's logs after it.
pub struct LogFileBegun {
    pub group_name: String,
    /// Log files on disk (the current one included).
    pub log_files: u64,
    pub disk_bytes: u64,
}

/// How many new log files were judged.
#[derive(Default)]
pub struct LogDisks {
    files_begun: u64,
}

impl LogDisks {
    pub(super) fn begun(&mut self, f: LogFileBegun, judge: &mut Judge<'_>) {
        self.files_begun += 1;
        // The file may be the first reserve log put to use; the second must stay free
        // for the clean dismount.
        let bytes = (f.log_files + 1) * org::store::transaction_log::LOG_FILE_BYTES;
        if bytes > f.disk_bytes {
            judge.violate(Invariant::LogDiskCapacity, || {
                format!(
                    "{} began log file {} with no reserve log left on its {}-byte log disk: its databases should have dismounted",
                    f.group_name, f.log_files, f.disk_bytes
                )
            });
        }
    }

    pub(super) fn detail(&self) -> String {
        format!("{} log file(s) begun on sized log disks, none past the first reserve log", self.files_begun)
    }
}
