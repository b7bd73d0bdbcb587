//! Cached-mode OAB clients (EXCHANGE2003.md §9): every download is rebuilt here from
//! the files the generation server made — the client's full file of the sequence it
//! held, the chain of patches applied in order, each from the sequence before (versions
//! 2/3a: the set read back, the Changes files applied, the files built again) — and
//! compared byte for byte with the server's full file(s) of the sequence it reached; a
//! client never applies a diff out of sequence (it starts from the sequence this mirror
//! says it holds). A full download is only taken for its reason (no file, a diff
//! missing, diffs over an eighth of the full file), and diffs only within the eighth.
//! `oab_clients_current` asks that every client be at most a day behind.

use super::*;
use crate::scenario::Invariant;
use org::client::offline_address_book::{Download, FullReason, DIFFS_OVER_FULL_DIVISOR};
use org::system_attendant::oab::changes_file::apply_changes;
use org::system_attendant::oab::compressed_file::{decompress, decompress_as, VERSION_2_3};
use org::system_attendant::oab::distribution::OabVersion;
use org::system_attendant::oab::legacy_files::{build, read, FileSet, LegacyVersion, RecordSet};
use org::system_attendant::oab::oal_generator::Generation;
use org::system_attendant::oab::patch_file::apply_patch;
use org::system_attendant::oal_generation::OabId;
use org::time::DAY_MS;

/// One sequence's files of one version as the generation server made them, compressed.
#[derive(Clone, Debug)]
pub struct ArchivedFiles {
    /// The full file (version 4) or the five files of the full set (versions 2/3a).
    pub full: Vec<Arc<Vec<u8>>>,
    /// The patch or Changes file from the sequence before.
    pub diff: Option<Arc<Vec<u8>>>,
}

impl ArchivedFiles {
    /// The files of a run by version and sequence, shared with it.
    pub fn of(generation: &Generation) -> Vec<((OabVersion, u32), ArchivedFiles)> {
        let mut out = Vec::new();
        if let Some(v4) = &generation.v4 {
            let files = ArchivedFiles { full: vec![v4.compressed.clone()], diff: v4.patch.clone() };
            out.push(((OabVersion::V4, v4.sequence), files));
        }
        if let Some(legacy) = &generation.legacy_files {
            for v in &legacy.versions {
                let files = ArchivedFiles { full: v.full.to_vec(), diff: v.changes.clone() };
                out.push(((OabVersion::from(v.version), legacy.sequence), files));
            }
        }
        out
    }
}

/// A completed download, as the client's world saw it.
pub struct OabDownloadFacts<'a> {
    pub oab: OabId,
    /// The file version the client downloads.
    pub version: OabVersion,
    /// The population and the client in it.
    pub population: usize,
    pub client: u32,
    /// What it downloaded.
    pub download: &'a Download,
    /// What the replica offered: its full file's bytes, and the chain of diffs the client
    /// needed (None: one was missing).
    pub full_bytes: u64,
    pub needed_diff_bytes: Option<u64>,
    /// The OAB's files by version and sequence, and the server's newest version 4 full
    /// file (uncompressed).
    pub files: &'a BTreeMap<(OabVersion, u32), ArchivedFiles>,
    pub newest_full: Option<(u32, &'a [u8])>,
}

/// An OAB's files of one version (their own sequence numbers).
type OabFiles = (OabId, OabVersion);

/// The clients' sequences and each OAB's generations, as the checks follow them.
#[derive(Default)]
pub(super) struct OabClientMirror {
    /// Per population: its OAB and version, and each client's sequence.
    held: Vec<(OabFiles, Vec<Option<u32>>)>,
    /// Per OAB and version: (when, newest sequence) of each generation that posted.
    generations: BTreeMap<OabFiles, Vec<(Instant, u32)>>,
    /// Rebuilds already judged: (OAB, version, from, to) → the failure, if any.
    rebuilt: BTreeMap<(OabId, OabVersion, Option<u32>, u32), Option<String>>,
    /// Downloads judged: full files, diff chains.
    fulls: u64,
    chains: u64,
}

impl OabClientMirror {
    /// The populations as the run starts: their OAB and version, size and the sequence
    /// each holds.
    pub(super) fn populations(&mut self, populations: &[(OabId, OabVersion, u32, Option<u32>)]) {
        self.held = populations.iter().map(|(oab, v, n, s)| ((*oab, *v), vec![*s; *n as usize])).collect();
    }

    /// A generation of `oab` posted these versions' sequences (before the run: at 0).
    pub(super) fn generated(&mut self, now: Instant, oab: OabId, generation: &Generation) {
        for ((version, sequence), _) in ArchivedFiles::of(generation) {
            self.generations.entry((oab, version)).or_default().push((now, sequence));
        }
    }

    /// A download completed: judged, then the client holds its new sequence.
    pub(super) fn downloaded(&mut self, facts: &OabDownloadFacts<'_>, judge: &mut Judge<'_>) {
        let Some(slot) = self.held.get_mut(facts.population).and_then(|(_, h)| h.get_mut(facts.client as usize)) else {
            return;
        };
        let held = *slot;
        let (from, to) = match *facts.download {
            Download::UpToDate => return,
            Download::Diffs { from, to, .. } => (Some(from), to),
            Download::Full { sequence, .. } => (None, sequence),
        };
        *slot = Some(to);
        if from.is_some() && from != held {
            let (f, h) = (from.unwrap_or_default(), fmt_seq(held));
            judge.violate(Invariant::OabDownloadApplies, || {
                format!("a client applied diffs from sequence {f} while it held {h} (out of sequence)")
            });
            return;
        }
        full_only_when_needed(facts, held, judge);
        match from {
            None => self.fulls += 1,
            Some(_) => self.chains += 1,
        }
        let key = (facts.oab, facts.version, from, to);
        let failure = self.rebuilt.entry(key).or_insert_with(|| rebuild(facts, from, to).err()).clone();
        if let Some(failure) = failure {
            judge.violate(Invariant::OabDownloadApplies, || failure);
        }
    }

    /// What an invariant that held saw.
    pub(super) fn detail(&self, invariant: Invariant) -> String {
        let (fulls, chains) = (self.fulls, self.chains);
        match invariant {
            Invariant::OabDownloadApplies => format!(
                "{fulls} full download(s) and {chains} chain(s) of diffs, each rebuilding the server's file byte for byte"
            ),
            _ => format!("{fulls} full download(s), each for its reason; {chains} chain(s) of diffs within an eighth"),
        }
    }

    /// `oab_clients_current`: each client downloads once every calendar day, so a file
    /// generated on one day reaches every client by the end of the next; at `at`, every
    /// client of `oab` holds the sequence of its version that was newest at the last
    /// midnight a day or more before `at`, or a newer one.
    pub(super) fn current(&self, oab: OabId, at: Instant, calendar: &org::calendar::Calendar) -> (bool, String) {
        let day_before = Instant(at.as_ms().saturating_sub(DAY_MS));
        let cutoff = Instant(day_before.as_ms() - calendar.ms_of_day(day_before));
        let (mut total, mut behind, mut worst, mut checked) = (0u64, 0u64, None::<String>, Vec::new());
        for ((o, version), held) in self.held.iter().filter(|((o, _), _)| *o == oab) {
            let generations = self.generations.get(&(*o, *version)).map(Vec::as_slice).unwrap_or_default();
            let Some(needed) = generations.iter().rev().find(|(t, _)| *t <= cutoff).map(|(_, s)| *s) else {
                continue;
            };
            checked.push(format!("{} {needed}", version.as_str()));
            for h in held {
                total += 1;
                if h.is_none_or(|h| h < needed) {
                    behind += 1;
                    worst.get_or_insert_with(|| {
                        format!("a {} client holds {} (needs {needed})", version.as_str(), fmt_seq(*h))
                    });
                }
            }
        }
        checked.dedup();
        match (checked.is_empty(), worst) {
            (true, _) => (true, "no generation by the last midnight a day before: nothing to be current with".into()),
            (false, None) => (
                true,
                format!(
                    "all {total} client(s) hold the sequence newest at the midnight a day before ({})",
                    checked.join(", ")
                ),
            ),
            (false, Some(w)) => (false, format!("{behind} of {total} client(s) behind; {w}")),
        }
    }
}

fn fmt_seq(s: Option<u32>) -> String {
    s.map_or_else(|| "no OAB".into(), |s| s.to_string())
}

/// A full download needs its reason; diffs need to be within an eighth of the full file.
fn full_only_when_needed(facts: &OabDownloadFacts<'_>, held: Option<u32>, judge: &mut Judge<'_>) {
    let eighth_exceeded = |b: u64| b.saturating_mul(DIFFS_OVER_FULL_DIVISOR) > facts.full_bytes;
    let full = facts.full_bytes;
    let wrong = match (facts.download, facts.needed_diff_bytes) {
        (Download::Diffs { bytes, .. }, needed) if needed != Some(*bytes) || eighth_exceeded(*bytes) => {
            Some(format!("diffs of {bytes} bytes downloaded where the full file is {full} bytes"))
        }
        (Download::Full { reason: FullReason::NoFileYet, .. }, _) if held.is_some() => {
            Some("a full download for a client that held a file, as if it had none".into())
        }
        (Download::Full { reason: FullReason::DiffMissing, .. }, Some(b)) => {
            Some(format!("a full download for a missing diff, though the replica held all {b} bytes of them"))
        }
        (Download::Full { reason: FullReason::DiffsOverAnEighth, .. }, Some(b)) if !eighth_exceeded(b) => {
            Some(format!("a full download of {full} bytes where the diffs needed were {b} bytes (an eighth or less)"))
        }
        _ => None,
    };
    if let Some(detail) = wrong {
        judge.violate(Invariant::OabFullOnlyWhenNeeded, || detail);
    }
}

/// Rebuilds what a client holds after downloading from `from` (None: the full files) to
/// `to`, and compares it with the server's full files of `to`.
fn rebuild(facts: &OabDownloadFacts<'_>, from: Option<u32>, to: u32) -> Result<(), String> {
    match facts.version.legacy() {
        None => rebuild_v4(facts, from, to),
        Some(version) => rebuild_legacy(facts, version, from, to),
    }
}

fn archived<'a>(facts: &OabDownloadFacts<'a>, s: u32) -> Result<&'a ArchivedFiles, String> {
    facts
        .files
        .get(&(facts.version, s))
        .ok_or_else(|| format!("{} sequence {s} was never generated", facts.version.as_str()))
}

fn rebuild_v4(facts: &OabDownloadFacts<'_>, from: Option<u32>, to: u32) -> Result<(), String> {
    let unpack = |s: u32| -> Result<Vec<u8>, String> {
        let f = archived(facts, s)?;
        decompress(&f.full[0]).map_err(|e| format!("the compressed full file of sequence {s} is broken: {e}"))
    };
    let file = match from {
        None => unpack(to)?,
        Some(from) => {
            let mut file = unpack(from)?;
            for s in from + 1..=to {
                let patch = archived(facts, s)?.diff.as_ref().ok_or_else(|| format!("no patch to sequence {s}"))?;
                file = apply_patch(&file, patch)
                    .map_err(|e| format!("the patch to sequence {s} does not apply to sequence {}: {e}", s - 1))?;
            }
            file
        }
    };
    let unpacked;
    let expected: &[u8] = match facts.newest_full {
        Some((s, full)) if s == to => full,
        _ => {
            unpacked = unpack(to)?;
            &unpacked
        }
    };
    compare(&file, expected, from, &format!("the server's full file of sequence {to}"))
}

/// Versions 2/3a: the full set of `from` read back into records, each Changes file
/// applied in order, the files built again and compared with the server's set of `to`.
fn rebuild_legacy(
    facts: &OabDownloadFacts<'_>,
    version: LegacyVersion,
    from: Option<u32>,
    to: u32,
) -> Result<(), String> {
    let unpack = |s: u32| -> Result<FileSet, String> {
        let f = archived(facts, s)?;
        let files: Result<Vec<Vec<u8>>, String> = f
            .full
            .iter()
            .zip(version.file_names())
            .map(|(c, name)| {
                decompress_as(VERSION_2_3, c).map_err(|e| format!("{name} of sequence {s} is broken: {e}"))
            })
            .collect();
        let files: [Vec<u8>; 5] = files?.try_into().map_err(|_| format!("sequence {s} lacks files of its set"))?;
        Ok(FileSet { files })
    };
    let held = |s: u32| -> Result<RecordSet, String> {
        read(version, &unpack(s)?).map_err(|(file, e)| format!("{file} of sequence {s} does not read: {e}"))
    };
    let files = match from {
        // A full download: read into the client's records and its indexes built again.
        None => build(version, &held(to)?),
        Some(from) => {
            let mut set = held(from)?;
            for s in from + 1..=to {
                let diff =
                    archived(facts, s)?.diff.as_ref().ok_or_else(|| format!("no Changes file to sequence {s}"))?;
                let changes =
                    decompress_as(VERSION_2_3, diff).map_err(|e| format!("the Changes file to {s} is broken: {e}"))?;
                set = apply_changes(version, &set, &changes).map_err(|e| {
                    format!("the Changes file to sequence {s} does not apply to sequence {}: {e}", s - 1)
                })?;
            }
            build(version, &set)
        }
    };
    let expected = unpack(to)?;
    for ((mine, theirs), name) in files.files.iter().zip(&expected.files).zip(version.file_names()) {
        compare(mine, theirs, from, &format!("the server's {name} of sequence {to}"))?;
    }
    Ok(())
}

fn compare(file: &[u8], expected: &[u8], from: Option<u32>, what: &str) -> Result<(), String> {
    if file == expected {
        return Ok(());
    }
    let at = file.iter().zip(expected).position(|(a, b)| a != b).unwrap_or(file.len().min(expected.len()));
    let how = from.map_or_else(|| "the full file".to_string(), |f| format!("the diffs from sequence {f}"));
    Err(format!("{how} rebuilt {} bytes that differ from {what} ({} bytes) at byte {at}", file.len(), expected.len()))
}
