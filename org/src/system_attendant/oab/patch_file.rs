//! The version 4 differential patch ([MS-OXOAB] 2.10): PATCH_HDR (version 3.2, the
//! largest block, source and target sizes and CRCs), then blocks of PATCH_BLK (patch,
//! target and source sizes, the target block's CRC) and an LZX DELTA stream whose window
//! holds the block's source bytes. Blocks take the source file's bytes in order, each
//! block the next `source size` of them.
//!
//! orgsim cuts both files at record boundaries: records are sorted by the same key in the
//! old and new file, so a block's source is the old version of its target's records. A
//! record that did not change is written as a match without searching; the matcher
//! searches only the old records that changed or left, so a patch costs in proportion to
//! the changes, not to the size of the address book.

use super::compressed_file::{words, ContainerError, BLOCK_MAX_BYTES};
use super::crc::{oab_crc, oab_crc_combine};
use super::lzx::{self, tables::window_bits_for, tables::FRAME_SIZE, EncodeParams, KnownCopy};
use std::ops::Range;

/// A stretch of a file the patch keeps whole (the part before the records, or one
/// record) and the key both files are sorted by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit<'a> {
    /// The sort key, strictly increasing along a file.
    pub key: &'a [u8],
    /// Its bytes in the file.
    pub range: Range<usize>,
}

const HEADER_BYTES: usize = 28;
const BLOCK_HEADER_BYTES: usize = 16;

/// One block of the plan: where its source and target lie, and what is known to be equal.
#[derive(Debug)]
struct PlannedBlock {
    source: Range<usize>,
    target: Range<usize>,
    known: Vec<KnownCopy>,
    indexed: Vec<Range<usize>>,
}

/// Makes the patch that turns `old` into `new`. Units cover each file in order.
pub fn make_patch(old: &[u8], old_units: &[Unit], new: &[u8], new_units: &[Unit], params: EncodeParams) -> Vec<u8> {
    debug_assert!(covers(old, old_units) && covers(new, new_units));
    let mut out = vec![0u8; HEADER_BYTES];
    let mut target_crc: Option<u32> = None;
    for block in plan(old, old_units, new, new_units) {
        let reference = &old[block.source.clone()];
        let target = &new[block.target.clone()];
        let window = reference.len().div_ceil(FRAME_SIZE) * FRAME_SIZE + target.len();
        let stream =
            lzx::encode(reference, target, window_bits_for(window), &block.known, Some(&block.indexed), params);
        let crc = oab_crc(target);
        target_crc = Some(target_crc.map_or(crc, |a| oab_crc_combine(a, crc, target.len() as u64)));
        let sizes = [stream.len() as u32, target.len() as u32, reference.len() as u32, crc];
        sizes.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
        out.extend_from_slice(&stream);
    }
    let target_crc = target_crc.unwrap_or_else(|| oab_crc(new));
    debug_assert_eq!(target_crc, oab_crc(new));
    let header = [3u32, 2, BLOCK_MAX_BYTES as u32, old.len() as u32, new.len() as u32, oab_crc(old), target_crc];
    for (i, v) in header.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&v.to_le_bytes());
    }
    out
}

fn covers(file: &[u8], units: &[Unit]) -> bool {
    let contiguous = units.windows(2).all(|w| w[0].range.end == w[1].range.start && w[0].key < w[1].key);
    let ends =
        units.first().is_none_or(|u| u.range.start == 0) && units.last().map_or(0, |u| u.range.end) == file.len();
    contiguous && ends
}

/// Cuts the files into blocks of at most `BLOCK_MAX_BYTES` of source and of target.
fn plan(old: &[u8], old_units: &[Unit], new: &[u8], new_units: &[Unit]) -> Vec<PlannedBlock> {
    let mut blocks = Vec::new();
    let mut o = 0; // the next old unit not yet in a block's source
    let mut block = PlannedBlock::empty(0, 0);
    for u in new_units {
        assert!(u.range.len() <= BLOCK_MAX_BYTES, "a unit larger than a block");
        // Old units sorting before or with this one go into the source with it.
        let take = o + old_units[o..].iter().take_while(|v| v.key <= u.key).count();
        let source_end = if take > o { old_units[take - 1].range.end } else { block.source.end };
        let fits =
            block.target.len() + u.range.len() <= BLOCK_MAX_BYTES && source_end - block.source.start <= BLOCK_MAX_BYTES;
        if !fits && !block.target.is_empty() {
            let next = PlannedBlock::empty(block.source.end, block.target.end);
            blocks.push(std::mem::replace(&mut block, next));
        }
        // A unit alone may face more old source than a block holds (a run of deleted
        // records): the source takes what fits and the rest waits for the next block.
        let mut old_version = None;
        while o < take && old_units[o].range.end - block.source.start <= BLOCK_MAX_BYTES {
            let v = &old_units[o];
            block.source.end = v.range.end;
            if v.key == u.key {
                old_version = Some(v);
            } else {
                block.indexed.push(v.range.start - block.source.start..v.range.end - block.source.start);
            }
            o += 1;
        }
        let target_at = u.range.start - block.target.start;
        match old_version {
            Some(v) if old[v.range.clone()] == new[u.range.clone()] => {
                let reference_at = v.range.start - block.source.start;
                push_known(&mut block.known, KnownCopy { target_at, reference_at, len: u.range.len() });
            }
            Some(v) => block.indexed.push(v.range.start - block.source.start..v.range.end - block.source.start),
            None => {}
        }
        block.target.end = u.range.end;
    }
    if !block.target.is_empty() {
        blocks.push(block);
    }
    blocks
}

/// Appends a known copy, joining it to the previous one when both sides are adjacent.
fn push_known(known: &mut Vec<KnownCopy>, copy: KnownCopy) {
    if let Some(last) = known.last_mut() {
        if last.target_at + last.len == copy.target_at && last.reference_at + last.len == copy.reference_at {
            last.len += copy.len;
            return;
        }
    }
    known.push(copy);
}

impl PlannedBlock {
    fn empty(source_at: usize, target_at: usize) -> Self {
        Self { source: source_at..source_at, target: target_at..target_at, known: Vec::new(), indexed: Vec::new() }
    }
}

/// Applies a patch to the file it was made against.
pub fn apply_patch(base: &[u8], patch: &[u8]) -> Result<Vec<u8>, ContainerError> {
    let [hi, lo, block_max, source_size, target_size, source_crc, target_crc] = words::<7>(patch, 0)?;
    if (hi, lo) != (3, 2) {
        return Err(ContainerError::Version { hi, lo });
    }
    if base.len() != source_size as usize || oab_crc(base) != source_crc {
        return Err(ContainerError::WrongSource);
    }
    let (block_max, mut left) = (block_max as usize, target_size as usize);
    let mut out = Vec::with_capacity(left.min(1 << 28));
    let (mut at, mut source_at, mut index) = (HEADER_BYTES, 0usize, 0usize);
    while left > 0 {
        let [packed, size, source, crc] = words::<4>(patch, at)?;
        let (packed, size, source) = (packed as usize, size as usize, source as usize);
        at += BLOCK_HEADER_BYTES;
        if size == 0 || size > block_max || size > left || source > block_max || source_at + source > base.len() {
            return Err(ContainerError::BadBlock { index });
        }
        let stream = patch.get(at..at + packed).ok_or(ContainerError::Truncated)?;
        let reference = &base[source_at..source_at + source];
        let window = source.div_ceil(FRAME_SIZE) * FRAME_SIZE + size;
        let block = lzx::decode(stream, reference, window_bits_for(window), size)
            .map_err(|error| ContainerError::Lzx { index, error })?;
        if oab_crc(&block) != crc {
            return Err(ContainerError::Crc { index });
        }
        out.extend_from_slice(&block);
        (at, left, source_at, index) = (at + packed, left - size, source_at + source, index + 1);
    }
    if oab_crc(&out) != target_crc {
        return Err(ContainerError::WrongTarget);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Owned units: (key, range).
    type Layout = Vec<(Vec<u8>, Range<usize>)>;

    /// A file of a prefix and records "key:value;" sorted by key.
    fn file(records: &[(u32, String)]) -> (Vec<u8>, Layout) {
        let mut out = b"HEADER".to_vec();
        let mut units = vec![(Vec::new(), 0..out.len())];
        for (key, value) in records {
            let at = out.len();
            out.extend_from_slice(format!("/o=Org/cn=Recipients/cn=user{key:08}:{value};").as_bytes());
            units.push((key.to_be_bytes().to_vec(), at..out.len()));
        }
        (out, units)
    }

    fn as_units(units: &[(Vec<u8>, Range<usize>)]) -> Vec<Unit<'_>> {
        units.iter().map(|(k, r)| Unit { key: k, range: r.clone() }).collect()
    }

    fn directory(n: u32, salt: &str) -> Vec<(u32, String)> {
        (0..n).map(|i| (i * 3, format!("Display Name {i} {salt}"))).collect()
    }

    #[test]
    fn a_small_change_to_a_large_file_is_a_small_patch() {
        let old_records = directory(30_000, "a");
        let mut new_records = old_records.clone();
        for i in (0..30_000).step_by(100) {
            new_records[i].1 = format!("Changed {i}");
        }
        new_records.retain(|(k, _)| k % 7_001 != 0);
        new_records.push((1_000_000, "new user".into()));
        let (old, old_units) = file(&old_records);
        let (new, new_units) = file(&new_records);
        let patch = make_patch(&old, &as_units(&old_units), &new, &as_units(&new_units), EncodeParams::default());
        assert!(patch.len() * 50 < new.len(), "patch {} of {}", patch.len(), new.len());
        assert_eq!(apply_patch(&old, &patch), Ok(new));
    }

    #[test]
    fn mass_deletions_and_insertions_still_apply() {
        let old_records = directory(20_000, "x");
        let new_records: Vec<_> =
            (0..25_000u32).filter(|i| i % 3 != 0 || *i > 15_000).map(|i| (i * 2, format!("n{i}"))).collect();
        let (old, old_units) = file(&old_records);
        let (new, new_units) = file(&new_records);
        let patch = make_patch(&old, &as_units(&old_units), &new, &as_units(&new_units), EncodeParams::default());
        assert_eq!(apply_patch(&old, &patch), Ok(new.clone()));
        assert_eq!(apply_patch(&new, &patch), Err(ContainerError::WrongSource));
    }
}
