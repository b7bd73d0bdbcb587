//! The OFFLINE ADDRESS BOOK system folder (EXCHANGE2003.md §9, Distribution): each OAB
//! has a folder per version under it, and every generation posts its files there as
//! messages with the files attached — for version 4 the compressed full file and the
//! patch from the previous sequence, for versions 2 and 3a the five compressed files of
//! the full set and the Changes file. Public folder replication carries them to the
//! other public stores on the folder's replica list, and Outlook downloads from the
//! nearest replica what it offers.
//!
//! The generation server keeps one full file (the newest) and the last
//! [`PATCHES_KEPT`] patches; older messages are deleted when a generation posts, and the
//! deletions replicate like any other change.

use crate::client::offline_address_book::Offered;
use crate::system_attendant::oab::legacy_files::LegacyVersion;
use crate::system_attendant::oab::oal_generator::Generation;
use crate::system_attendant::oal_generation::OabId;
use std::collections::BTreeMap;

/// Patches the OAB folder keeps: a month of daily generations [U] (Exchange 2003 does
/// not document its age limit on these messages; a client a month behind downloads the
/// full file either way, its diffs being far over an eighth).
pub const PATCHES_KEPT: u32 = 30;

/// The OAB file versions, each with its subfolder and its own sequence numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OabVersion {
    /// Version 2 (ANSI; Outlook 97 to 2002).
    V2,
    /// Version 3a (Unicode; Outlook 2003 before SP2).
    V3a,
    /// Version 4 (SP2 servers; Outlook 2003 SP2).
    V4,
}

impl OabVersion {
    /// The folder under OFFLINE ADDRESS BOOK/<OAB name> (§9: one per version).
    pub fn folder(self) -> &'static str {
        match self {
            OabVersion::V2 => LegacyVersion::V2.folder(),
            OabVersion::V3a => LegacyVersion::V3a.folder(),
            OabVersion::V4 => "OAB Version 4",
        }
    }

    /// The version 2/3a files it names, if it is one of them.
    pub fn legacy(self) -> Option<LegacyVersion> {
        match self {
            OabVersion::V2 => Some(LegacyVersion::V2),
            OabVersion::V3a => Some(LegacyVersion::V3a),
            OabVersion::V4 => None,
        }
    }

    /// Its name in traces and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            OabVersion::V2 => "v2",
            OabVersion::V3a => "v3a",
            OabVersion::V4 => "v4",
        }
    }
}

impl From<LegacyVersion> for OabVersion {
    fn from(v: LegacyVersion) -> Self {
        match v {
            LegacyVersion::V2 => OabVersion::V2,
            LegacyVersion::V3a => OabVersion::V3a,
        }
    }
}

/// Full files or a diff.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OabFileKind {
    /// The compressed full file(s) of a sequence: version 4's Full Details file, or the
    /// five files of a version 2/3a set on one message.
    Full,
    /// The diff bringing the sequence before to this one: version 4's patch, or the
    /// version 2/3a Changes file.
    Diff,
}

/// An OAB file posted as a message to the OAB's folder of its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OabFile {
    /// Which OAB.
    pub oab: OabId,
    /// Which version (each has its folder).
    pub version: OabVersion,
    /// Full file or diff.
    pub kind: OabFileKind,
    /// The sequence it is of (a diff: the one it brings a client to).
    pub sequence: u32,
}

/// The messages one run posts, by version (each to its folder), with their
/// attachments' sizes: the full files, and the diff when there is one. Versions 2/3a
/// post nothing on a run that could not make their diff and was not to post full files.
pub fn posted(oab: OabId, generation: &Generation) -> Vec<(OabVersion, Vec<(OabFile, u64)>)> {
    let file = |version, kind, sequence| OabFile { oab, version, kind, sequence };
    let mut out = Vec::new();
    if let Some(v4) = &generation.v4 {
        let mut files = vec![(file(OabVersion::V4, OabFileKind::Full, v4.sequence), v4.compressed.len() as u64)];
        if let Some(patch) = &v4.patch {
            files.push((file(OabVersion::V4, OabFileKind::Diff, v4.sequence), patch.len() as u64));
        }
        out.push((OabVersion::V4, files));
    }
    if let Some(legacy) = &generation.legacy_files {
        for v in &legacy.versions {
            let version = OabVersion::from(v.version);
            let mut files = vec![(file(version, OabFileKind::Full, legacy.sequence), v.full_bytes())];
            if let Some(changes) = &v.changes {
                files.push((file(version, OabFileKind::Diff, legacy.sequence), changes.len() as u64));
            }
            out.push((version, files));
        }
    }
    out
}

/// Whether a held message is deleted when sequence `newest` of its version is posted:
/// older full files, and diffs more than [`PATCHES_KEPT`] sequences old.
pub fn superseded(held: &OabFile, newest: u32) -> bool {
    match held.kind {
        OabFileKind::Full => held.sequence < newest,
        OabFileKind::Diff => held.sequence + PATCHES_KEPT <= newest,
    }
}

/// What a replica holding `files` (with their sizes) offers `version`'s clients of
/// `oab`: its newest full file and every diff it holds; nothing before it holds a full
/// file.
pub fn offered<'a>(
    oab: OabId,
    version: OabVersion,
    files: impl Iterator<Item = (&'a OabFile, u64)>,
) -> Option<Offered> {
    let mut full: Option<(u32, u64)> = None;
    let mut diff_bytes = BTreeMap::new();
    for (file, bytes) in files.filter(|(f, _)| f.oab == oab && f.version == version) {
        match file.kind {
            OabFileKind::Full if full.is_none_or(|(s, _)| s < file.sequence) => full = Some((file.sequence, bytes)),
            OabFileKind::Full => {}
            OabFileKind::Diff => {
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
        OabFile { oab: OabId(0), version: OabVersion::V4, kind, sequence }
    }

    #[test]
    fn a_replica_offers_its_newest_full_file_and_its_patches() {
        let held = [
            (file(OabFileKind::Full, 3), 900),
            (file(OabFileKind::Full, 4), 1_000),
            (file(OabFileKind::Diff, 3), 30),
            (file(OabFileKind::Diff, 4), 40),
            (OabFile { oab: OabId(1), version: OabVersion::V4, kind: OabFileKind::Full, sequence: 9 }, 5),
            (OabFile { oab: OabId(0), version: OabVersion::V3a, kind: OabFileKind::Full, sequence: 8 }, 7),
        ];
        let o = offered(OabId(0), OabVersion::V4, held.iter().map(|(f, b)| (f, *b))).unwrap();
        assert_eq!((o.sequence, o.full_bytes), (4, 1_000));
        assert_eq!(o.diff_bytes, [(3, 30), (4, 40)].into());
        let patches_only = [(file(OabFileKind::Diff, 2), 10)];
        assert_eq!(offered(OabId(0), OabVersion::V4, patches_only.iter().map(|(f, b)| (f, *b))), None);
    }

    #[test]
    fn a_post_supersedes_older_full_files_and_month_old_patches() {
        assert!(superseded(&file(OabFileKind::Full, 4), 5));
        assert!(!superseded(&file(OabFileKind::Full, 5), 5));
        assert!(!superseded(&file(OabFileKind::Diff, 6), 35));
        assert!(superseded(&file(OabFileKind::Diff, 5), 35));
    }
}
