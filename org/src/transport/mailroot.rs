//! A virtual server's folders under `Exchsrvr\Mailroot\vsi N` beside its queue: Badmail
//! (mail that can be neither delivered nor NDR'd, and what the sender filter accepts
//! without notifying), `UCEArchive` (what the Intelligent Message Filter archives) and
//! `Filter` (the sender filter's archive of what it filtered).
//!
//! Badmail (EXCHANGE2003.md §3.3, KB 884068): from SP1 nothing is written unless the
//! server's `MaxBadMailFolderSize` registry value says so — 0 (the default) discards,
//! 0xFFFFFFFF grows without limit (the pre-SP1 behaviour), anything else is a cap in KB
//! per folder. The cap is not a circular buffer: once the folder reaches it, nothing
//! more is written, old files stay. Advanced queuing judges the size from a cached
//! figure and rescans the folder every `BadMailSyncPeriod` minutes, so files an
//! administrator deletes are noticed only at the next rescan.

/// `MaxBadMailFolderSize`, as the registry value reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BadmailLimit {
    /// 0, SP1's default: Badmail is discarded.
    #[default]
    Discard,
    /// Written while the folder holds less than this many KB.
    UpToKb(u32),
    /// 0xFFFFFFFF: written without limit (before SP1, always).
    Unlimited,
}

impl BadmailLimit {
    /// The registry value's meaning.
    pub fn from_registry(kb: u32) -> BadmailLimit {
        match kb {
            0 => BadmailLimit::Discard,
            u32::MAX => BadmailLimit::Unlimited,
            kb => BadmailLimit::UpToKb(kb),
        }
    }
}

/// A server's Badmail settings (registry values under `SMTPSVC\Queuing`, for every
/// virtual server of the server).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadmailSettings {
    pub limit: BadmailLimit,
    /// `BadMailSyncPeriod`: how often the folder is rescanned.
    pub sync_period_ms: u64,
}

/// `BadMailSyncPeriod` when not set [U: KB 884068 documents the value, not its default;
/// 12 hours chosen, configurable].
pub const BADMAIL_SYNC_PERIOD_DEFAULT_MS: u64 = 12 * 3_600_000;

impl Default for BadmailSettings {
    fn default() -> Self {
        BadmailSettings { limit: BadmailLimit::Discard, sync_period_ms: BADMAIL_SYNC_PERIOD_DEFAULT_MS }
    }
}

/// What became of one piece of Badmail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BadmailFate {
    /// Written to the folder.
    Written,
    /// Discarded: Badmail is off (SP1's default).
    Discarded,
    /// Discarded: the folder had reached its cap, as last measured.
    FolderFull,
}

impl BadmailFate {
    /// Its name in traces and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            BadmailFate::Written => "written",
            BadmailFate::Discarded => "discarded",
            BadmailFate::FolderFull => "folder_full",
        }
    }

    /// What happens to Badmail when the folder holds `cached_bytes` as advanced queuing
    /// last measured it (the cap is checked before a write, so the last file written
    /// may take the folder past it).
    pub fn of(limit: BadmailLimit, cached_bytes: u64) -> BadmailFate {
        match limit {
            BadmailLimit::Discard => BadmailFate::Discarded,
            BadmailLimit::Unlimited => BadmailFate::Written,
            BadmailLimit::UpToKb(kb) if cached_bytes < u64::from(kb) * 1_024 => BadmailFate::Written,
            BadmailLimit::UpToKb(_) => BadmailFate::FolderFull,
        }
    }
}

/// A folder archived mail goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveFolder {
    /// `UCEArchive`: the IMF's gateway action Archive.
    UceArchive,
    /// `Filter`: the sender filter's "Archive filtered messages".
    Filter,
}

impl ArchiveFolder {
    /// Its name in traces and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveFolder::UceArchive => "uce_archive",
            ArchiveFolder::Filter => "filter",
        }
    }
}

/// Which of a server's virtual servers a folder belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VirtualServerRef {
    /// The Default SMTP Virtual Server: the organization's own traffic, its queues and
    /// the DSNs they make.
    Default,
    /// An inbound virtual server (its index in the organization's edge configuration).
    Inbound(u16),
}

/// One virtual server's folders as the disk holds them (bytes of the files in each).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailrootFolders {
    pub badmail_bytes: u64,
    pub uce_archive_bytes: u64,
    pub filter_bytes: u64,
}

impl MailrootFolders {
    /// The bytes of an archive folder.
    pub fn archive_bytes(&mut self, folder: ArchiveFolder) -> &mut u64 {
        match folder {
            ArchiveFolder::UceArchive => &mut self.uce_archive_bytes,
            ArchiveFolder::Filter => &mut self.filter_bytes,
        }
    }
}

/// Advanced queuing's view of one Badmail folder: the figure it judges the cap by, and
/// what a rescan would find (its own writes, less what an administrator deleted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BadmailCache {
    pub cached_bytes: u64,
    pub folder_bytes: u64,
}

impl BadmailCache {
    /// The cache of a service starting on a folder holding `folder_bytes` (it scans it).
    pub fn scanned(folder_bytes: u64) -> BadmailCache {
        BadmailCache { cached_bytes: folder_bytes, folder_bytes }
    }

    /// Badmail of `size_bytes` arrives: its fate, the cache counting a write.
    pub fn take(&mut self, limit: BadmailLimit, size_bytes: u64) -> BadmailFate {
        let fate = BadmailFate::of(limit, self.cached_bytes);
        if fate == BadmailFate::Written {
            self.cached_bytes += size_bytes;
            self.folder_bytes += size_bytes;
        }
        fate
    }

    /// An administrator emptied the folder: a rescan will find it so; the cache does
    /// not know yet. Returns the bytes freed.
    pub fn purged(&mut self) -> u64 {
        std::mem::take(&mut self.folder_bytes)
    }

    /// The periodic rescan: the cache takes the folder's size; whether it changed.
    pub fn rescan(&mut self) -> bool {
        let changed = self.cached_bytes != self.folder_bytes;
        self.cached_bytes = self.folder_bytes;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_registry_value_reads_as_kb_884068_says() {
        assert_eq!(BadmailLimit::from_registry(0), BadmailLimit::Discard);
        assert_eq!(BadmailLimit::from_registry(0xFFFF_FFFF), BadmailLimit::Unlimited);
        assert_eq!(BadmailLimit::from_registry(3_072), BadmailLimit::UpToKb(3_072));
    }

    #[test]
    fn a_full_folder_stays_full_until_a_rescan_sees_the_purge() {
        let limit = BadmailLimit::UpToKb(2);
        let mut cache = BadmailCache::default();
        assert_eq!(cache.take(limit, 1_500), BadmailFate::Written);
        // Below the cap when checked: written, taking the folder past it.
        assert_eq!(cache.take(limit, 1_500), BadmailFate::Written);
        assert_eq!(cache.take(limit, 10), BadmailFate::FolderFull);
        assert_eq!(cache.purged(), 3_000);
        assert_eq!(cache.take(limit, 10), BadmailFate::FolderFull, "the cache does not know yet");
        assert!(cache.rescan());
        assert_eq!(cache.take(limit, 10), BadmailFate::Written);
        assert!(!cache.rescan());
    }

    #[test]
    fn discard_writes_nothing_and_unlimited_everything() {
        let mut cache = BadmailCache::default();
        assert_eq!(cache.take(BadmailLimit::Discard, 100), BadmailFate::Discarded);
        assert_eq!(cache, BadmailCache::default());
        for _ in 0..3 {
            assert_eq!(cache.take(BadmailLimit::Unlimited, u64::from(u32::MAX)), BadmailFate::Written);
        }
        assert_eq!(cache.folder_bytes, 3 * u64::from(u32::MAX));
    }

    proptest! {
        /// However Badmail, purges and rescans interleave, the folder outgrows its cap
        /// by less than one file, and a write happens exactly when the cache is below it.
        #[test]
        fn the_cap_holds(kb in 1u32..64, steps in proptest::collection::vec((0u8..4, 1u64..20_000), 0..200)) {
            let limit = BadmailLimit::UpToKb(kb);
            let cap = u64::from(kb) * 1_024;
            let mut cache = BadmailCache::default();
            for (op, size) in steps {
                match op {
                    0 | 1 => {
                        let before = cache;
                        let fate = cache.take(limit, size);
                        prop_assert_eq!(fate == BadmailFate::Written, before.cached_bytes < cap);
                        prop_assert!(cache.cached_bytes < cap + size || fate != BadmailFate::Written);
                    }
                    2 => { cache.purged(); }
                    _ => { cache.rescan(); }
                }
                prop_assert!(cache.folder_bytes <= cache.cached_bytes);
            }
        }
    }
}
