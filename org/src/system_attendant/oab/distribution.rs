//! The OFFLINE ADDRESS BOOK system folder (EXCHANGE2003.md §9, Distribution): each OAB
//! has a folder per version under it, and every generation posts its files there as
//! messages with the file attached — for version 4 the compressed full file and the
//! patch from the previous sequence. Public folder replication carries them to the
//! other public stores on the folder's replica list, and Outlook downloads from the
//! nearest replica what it offers.
//!
//! The generation server keeps one full file (the newest) and the last
//! [`PATCHES_KEPT`] patches; older messages are deleted when a generation posts, and the
//! deletions replicate like any other change.

use crate::client::offline_address_book::Offered;
use crate::system_attendant::oab::oal_generator::V4Files;
use crate::system_attendant::oal_generation::OabId;
use std::collections::BTreeMap;

/// Patches the OAB folder keeps: a month of daily generations [U] (Exchange 2003 does
/// not document its age limit on these messages; a client a month behind downloads the
/// full file either way, its diffs being far over an eighth).
pub const PATCHES_KEPT: u32 = 30;

/// The folder names under OFFLINE ADDRESS BOOK/<OAB name> (§9: one per version).
pub const V4_FOLDER: &str = "OAB Version 4";

/// What a posted OAB message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OabFileKind {
    /// The compressed version 4 Full Details file of a sequence.
    V4Full,
    /// The version 4 patch bringing the sequence before to this one.
    V4Patch,
}

/// An OAB file posted as a message to the OAB's folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OabFile {
    /// Which OAB.
    pub oab: OabId,
    /// Full file or patch.
    pub kind: OabFileKind,
    /// The sequence it is of (a patch: the one it brings a client to).
    pub sequence: u32,
}

/// The messages one run's version 4 files make, with their attachments' sizes: the
/// compressed full file, and the patch when there is one.
pub fn posted(oab: OabId, v4: &V4Files) -> Vec<(OabFile, u64)> {
    let full = OabFile { oab, kind: OabFileKind::V4Full, sequence: v4.sequence };
    let mut out = vec![(full, v4.compressed.len() as u64)];
    if let Some(patch) = &v4.patch {
        out.push((OabFile { oab, kind: OabFileKind::V4Patch, sequence: v4.sequence }, patch.len() as u64));
    }
    out
}

/// Whether a held message is deleted when sequence `newest` is posted: older full files,
/// and patches more than [`PATCHES_KEPT`] sequences old.
pub fn superseded(held: &OabFile, newest: u32) -> bool {
    match held.kind {
        OabFileKind::V4Full => held.sequence < newest,
        OabFileKind::V4Patch => held.sequence + PATCHES_KEPT <= newest,
    }
}

/// What a replica holding `files` (with their sizes) offers version 4 clients of `oab`:
/// its newest full file and every patch it holds; nothing before it holds a full file.
pub fn offered<'a>(oab: OabId, files: impl Iterator<Item = (&'a OabFile, u64)>) -> Option<Offered> {
    let mut full: Option<(u32, u64)> = None;
    let mut diff_bytes = BTreeMap::new();
    for (file, bytes) in files.filter(|(f, _)| f.oab == oab) {
        match file.kind {
            OabFileKind::V4Full if full.is_none_or(|(s, _)| s < file.sequence) => full = Some((file.sequence, bytes)),
            OabFileKind::V4Full => {}
            OabFileKind::V4Patch => {
                diff_bytes.insert(file.sequence, bytes);
            }
        }
    }
    let (sequence, full_bytes) = full?;
    Some(Offered { sequence, full_bytes, diff_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(kind: OabFileKind, sequence: u32) -> OabFile {
        OabFile { oab: OabId(0), kind, sequence }
    }

    #[test]
    fn a_replica_offers_its_newest_full_file_and_its_patches() {
        let held = [
            (file(OabFileKind::V4Full, 3), 900),
            (file(OabFileKind::V4Full, 4), 1_000),
            (file(OabFileKind::V4Patch, 3), 30),
            (file(OabFileKind::V4Patch, 4), 40),
            (OabFile { oab: OabId(1), kind: OabFileKind::V4Full, sequence: 9 }, 5),
        ];
        let o = offered(OabId(0), held.iter().map(|(f, b)| (f, *b))).unwrap();
        assert_eq!((o.sequence, o.full_bytes), (4, 1_000));
        assert_eq!(o.diff_bytes, [(3, 30), (4, 40)].into());
        let patches_only = [(file(OabFileKind::V4Patch, 2), 10)];
        assert_eq!(offered(OabId(0), patches_only.iter().map(|(f, b)| (f, *b))), None);
    }

    #[test]
    fn a_post_supersedes_older_full_files_and_month_old_patches() {
        assert!(superseded(&file(OabFileKind::V4Full, 4), 5));
        assert!(!superseded(&file(OabFileKind::V4Full, 5), 5));
        assert!(!superseded(&file(OabFileKind::V4Patch, 6), 35));
        assert!(superseded(&file(OabFileKind::V4Patch, 5), 35));
    }
}
