//! The LZX DELTA encoder: LZ77 matching over a reference window and the data so far,
//! then one verbatim block whose Huffman trees fit its symbols ([MS-PATCH] 2.3–2.6).
//!
//! Every stream is one block: trees are written once, as deltas from all-zero lengths,
//! and frames of 32,768 output bytes start word-aligned with a 16-bit chunk size, as an
//! [MS-OXOAB] decoder (libmspack's `oabd` with `is_delta`) reads them. No match crosses
//! a frame. Aligned-offset and stored blocks and E8 translation are not written.

use super::bitstream::BitWriter;
use super::huffman::{canonical_codes, path_lengths};
use super::tables::*;

/// How hard the matcher looks and which lengths it may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeParams {
    /// Matches longer than 257 with the LZX DELTA extra length field ([MS-PATCH] 2.6.7).
    /// Plain LZX decoders (CAB, the `lzxd` crate) do not read it.
    pub long_matches: bool,
    /// Candidates tried per position along a hash chain.
    pub chain_max: u32,
}

impl EncodeParams {
    /// The longest match written: a plain LZX decoder reads length 257 without the extra
    /// field and an LZX DELTA decoder with it, so plain streams stop at 256.
    fn match_max(self) -> usize {
        if self.long_matches {
            MAX_MATCH_DELTA
        } else {
            MAX_MATCH - 1
        }
    }
}

impl Default for EncodeParams {
    fn default() -> Self {
        Self { long_matches: true, chain_max: 24 }
    }
}

/// A stretch of the target the caller knows equals a stretch of the reference (an
/// unchanged run of records): written as matches without searching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownCopy {
    /// First target byte of the stretch.
    pub target_at: usize,
    /// The same bytes' first position in the reference.
    pub reference_at: usize,
    /// Its length in bytes.
    pub len: usize,
}

#[derive(Debug, Clone, Copy)]
enum Token {
    Literal(u8),
    Match { len: u32, main: u16, footer: u32, footer_bits: u8 },
}

/// Whether a stream of `target_len` bytes against a reference of `reference_len` fits
/// one LZX DELTA stream (24-bit block size, 2^25 window).
pub fn fits(reference_len: usize, target_len: usize) -> bool {
    let window = reference_len.div_ceil(FRAME_SIZE) * FRAME_SIZE + target_len;
    target_len < (1 << 24) && window <= 1 << WINDOW_BITS_MAX
}

/// Compresses `target`, matching against `reference` (empty for a plain compression) and
/// itself. `known` lists stretches known to equal the reference, sorted and disjoint;
/// `indexed` limits which reference ranges the matcher searches (all when `None`), so a
/// patch costs in proportion to what changed. `window_bits` is the decoder's.
pub fn encode(
    reference: &[u8],
    target: &[u8],
    window_bits: u32,
    known: &[KnownCopy],
    indexed: Option<&[std::ops::Range<usize>]>,
    params: EncodeParams,
) -> Vec<u8> {
    if target.is_empty() {
        return Vec::new(); // no frame to write: a block of size 0 is not allowed
    }
    assert!(fits(reference.len(), target.len()), "stream too large for one LZX block");
    assert!(reference.len() + target.len() <= 1 << window_bits, "window too small");
    // A patch hashes its indexed stretches and the target not known to be copied.
    let sparse = indexed.map(|ranges| {
        let copied: usize = known.iter().map(|c| c.len).sum();
        ranges.iter().map(|r| r.len()).sum::<usize>() + target.len() - copied
    });
    let tokens = Matcher::new(reference, target, window_bits, sparse, params).run(known, indexed);
    write_stream(&tokens, target.len(), window_bits, params)
}

struct Matcher<'a> {
    reference: &'a [u8],
    target: &'a [u8],
    head: Vec<u32>,
    hash_bits: u32,
    chains: Chains,
    repeats: [u32; 3],
    offset_max: u32,
    params: EncodeParams,
}

/// Each hashed position's previous position with the same hash: a table over the whole
/// window when everything is searched, a map when only changed stretches are (a patch).
enum Chains {
    Dense(Vec<u32>),
    Sparse(rustc_hash::FxHashMap<u32, u32>),
}

impl Chains {
    fn get(&self, v: usize) -> u32 {
        match self {
            Chains::Dense(prev) => prev[v],
            Chains::Sparse(prev) => prev.get(&(v as u32)).copied().unwrap_or(NONE),
        }
    }

    fn set(&mut self, v: usize, previous: u32) {
        match self {
            Chains::Dense(prev) => prev[v] = previous,
            Chains::Sparse(prev) => {
                prev.insert(v as u32, previous);
            }
        }
    }
}

/// Hash table sizes: 2^16 heads when every position is hashed, 2^12 when only a patch's
/// changed stretches are (a table per block, so its clearing cost counts).
const HASH_BITS_DENSE: u32 = 16;
const HASH_BITS_SPARSE: u32 = 12;
const NONE: u32 = u32::MAX;
const MATCH_MIN: usize = 3;

/// How many leading bytes of `a` and `b` are equal.
fn prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

impl<'a> Matcher<'a> {
    /// `sparse`: how many positions a patch hashes, or `None` to hash them all.
    fn new(
        reference: &'a [u8],
        target: &'a [u8],
        window_bits: u32,
        sparse: Option<usize>,
        params: EncodeParams,
    ) -> Self {
        let last = position_slots(window_bits) - 1;
        let offset_max = position_base(last) + (1 << footer_bits(last)) - 1 - 2;
        let window = reference.len() + target.len();
        let hash_bits = if sparse.is_some() { HASH_BITS_SPARSE } else { HASH_BITS_DENSE };
        let chains = match sparse {
            Some(positions) => {
                let mut map = rustc_hash::FxHashMap::default();
                map.reserve(positions);
                Chains::Sparse(map)
            }
            None => Chains::Dense(vec![NONE; window]),
        };
        Self {
            chains,
            reference,
            target,
            head: vec![NONE; 1 << hash_bits],
            hash_bits,
            repeats: [1, 1, 1],
            offset_max,
            params,
        }
    }

    /// The byte at window position `v`: the reference, then the target.
    fn at(&self, v: usize) -> u8 {
        match v.checked_sub(self.reference.len()) {
            Some(t) => self.target[t],
            None => self.reference[v],
        }
    }

    fn hash(&self, v: usize) -> usize {
        let x = u32::from(self.at(v)) | u32::from(self.at(v + 1)) << 8 | u32::from(self.at(v + 2)) << 16;
        (x.wrapping_mul(0x9E37_79B1) >> (32 - self.hash_bits)) as usize
    }

    fn insert(&mut self, v: usize) {
        if v + 3 <= self.reference.len() + self.target.len() {
            let h = self.hash(v);
            self.chains.set(v, self.head[h]);
            self.head[h] = v as u32;
        }
    }

    fn run(mut self, known: &[KnownCopy], indexed: Option<&[std::ops::Range<usize>]>) -> Vec<Token> {
        match indexed {
            None => (0..self.reference.len()).for_each(|v| self.insert(v)),
            Some(ranges) => {
                for r in ranges {
                    debug_assert!(r.end <= self.reference.len());
                    r.clone().for_each(|v| self.insert(v));
                }
            }
        }
        let mut tokens = Vec::new();
        let mut known = known.iter().peekable();
        let mut p = 0;
        while p < self.target.len() {
            if let Some(copy) = known.next_if(|c| c.target_at == p) {
                self.copy_known(copy, &mut tokens);
                p += copy.len;
                continue;
            }
            debug_assert!(known.peek().is_none_or(|c| c.target_at > p), "known copies overlap");
            let limit = self.length_limit(p, known.peek().map(|c| c.target_at));
            let (len, offset) = self.longest_match(p, limit);
            if len >= MATCH_MIN {
                tokens.push(self.match_token(len, offset));
                (p..p + len).for_each(|q| self.insert(self.reference.len() + q));
                p += len;
            } else {
                tokens.push(Token::Literal(self.target[p]));
                self.insert(self.reference.len() + p);
                p += 1;
            }
        }
        tokens
    }

    /// The longest match allowed at `p`: the frame's end, the next known copy, the format.
    fn length_limit(&self, p: usize, next_known: Option<usize>) -> usize {
        let frame_end = (p / FRAME_SIZE + 1) * FRAME_SIZE;
        let max = self.params.match_max();
        let end = frame_end.min(self.target.len()).min(next_known.unwrap_or(usize::MAX));
        (end - p).min(max)
    }

    fn copy_known(&mut self, copy: &KnownCopy, tokens: &mut Vec<Token>) {
        debug_assert_eq!(
            &self.reference[copy.reference_at..copy.reference_at + copy.len],
            &self.target[copy.target_at..copy.target_at + copy.len]
        );
        let mut p = copy.target_at;
        let end = copy.target_at + copy.len;
        while p < end {
            let frame_end = (p / FRAME_SIZE + 1) * FRAME_SIZE;
            let max = self.params.match_max();
            let len = (end - p).min(frame_end - p).min(max);
            let offset = (self.reference.len() + p - (copy.reference_at + (p - copy.target_at))) as u32;
            if len >= MIN_MATCH && offset <= self.offset_max {
                tokens.push(self.match_token(len, offset));
            } else {
                (p..p + len).for_each(|q| tokens.push(Token::Literal(self.target[q])));
            }
            p += len;
        }
    }

    /// How many bytes from window position `a` equal those from target position `p`,
    /// up to `limit` (a match may run from the reference on into the target).
    fn common_len(&self, a: usize, p: usize, limit: usize) -> usize {
        let wanted = &self.target[p..p + limit];
        let s = self.reference.len();
        if a >= s {
            return prefix_len(wanted, &self.target[a - s..]);
        }
        let n = prefix_len(wanted, &self.reference[a..]);
        if n < s - a || n == limit {
            return n;
        }
        n + prefix_len(&wanted[n..], self.target)
    }

    fn longest_match(&self, p: usize, limit: usize) -> (usize, u32) {
        if limit < MATCH_MIN {
            return (0, 0);
        }
        let v = self.reference.len() + p;
        let mut best = (0usize, 0u32);
        for &r in &self.repeats {
            if r as usize <= v {
                let len = self.common_len(v - r as usize, p, limit);
                if len > best.0 {
                    best = (len, r);
                }
            }
        }
        if best.0 == limit || p + 3 > self.target.len() {
            return best;
        }
        let mut candidate = self.head[self.hash(v)];
        for _ in 0..self.params.chain_max {
            if candidate == NONE {
                break;
            }
            let q = candidate as usize;
            let offset = (v - q) as u32;
            if offset > self.offset_max {
                break;
            }
            // A new offset costs footer bits: it must beat a repeat by more than a byte.
            let probe = best.0.min(limit - 1);
            if self.at(q + probe) == self.target[p + probe] {
                let len = self.common_len(q, p, limit);
                if len > best.0 + 1 || (best.0 == 0 && len >= MATCH_MIN) {
                    best = (len, offset);
                    if len == limit {
                        break;
                    }
                }
            }
            candidate = self.chains.get(q);
        }
        best
    }

    fn match_token(&mut self, len: usize, offset: u32) -> Token {
        debug_assert!(offset >= 1 && offset <= self.offset_max);
        let slot = match self.repeats.iter().position(|&r| r == offset) {
            Some(0) => 0,
            Some(i) => {
                self.repeats.swap(0, i);
                i
            }
            None => {
                self.repeats = [offset, self.repeats[0], self.repeats[1]];
                slot_of(offset + 2)
            }
        };
        let (footer, bits) = if slot < 3 { (0, 0) } else { (offset + 2 - position_base(slot), footer_bits(slot)) };
        let header = (len - MIN_MATCH).min(NUM_PRIMARY_LENGTHS);
        Token::Match {
            len: len as u32,
            main: (NUM_CHARS + (slot << 3) + header) as u16,
            footer,
            footer_bits: bits as u8,
        }
    }
}

fn length_symbol(len: u32) -> Option<usize> {
    let over = len as usize - MIN_MATCH;
    (over >= NUM_PRIMARY_LENGTHS).then(|| (over - NUM_PRIMARY_LENGTHS).min(NUM_SECONDARY_LENGTHS - 1))
}

fn write_stream(tokens: &[Token], target_len: usize, window_bits: u32, params: EncodeParams) -> Vec<u8> {
    let main_symbols = NUM_CHARS + 8 * position_slots(window_bits);
    let mut main_freq = vec![0u32; main_symbols];
    let mut length_freq = vec![0u32; NUM_SECONDARY_LENGTHS];
    for t in tokens {
        match *t {
            Token::Literal(b) => main_freq[usize::from(b)] += 1,
            Token::Match { len, main, .. } => {
                main_freq[usize::from(main)] += 1;
                if let Some(s) = length_symbol(len) {
                    length_freq[s] += 1;
                }
            }
        }
    }
    let main_lengths = path_lengths(&main_freq, CODE_BITS_MAX);
    let length_lengths = path_lengths(&length_freq, CODE_BITS_MAX);
    let mut w = BitWriter::default();
    let mut frame = FrameWriter::start(&mut w);
    w.put(0, 1); // no E8 translation
    w.put(BLOCK_VERBATIM, 3);
    w.put_long(target_len as u32, 24);
    write_tree(&mut w, &main_lengths[..NUM_CHARS]);
    write_tree(&mut w, &main_lengths[NUM_CHARS..]);
    write_tree(&mut w, &length_lengths);
    let main_codes = canonical_codes(&main_lengths);
    let length_codes = canonical_codes(&length_lengths);
    let mut out_at = 0usize;
    for t in tokens {
        if out_at > 0 && out_at.is_multiple_of(FRAME_SIZE) && out_at < target_len {
            frame = frame.next(&mut w);
        }
        let frame_end = (out_at / FRAME_SIZE + 1) * FRAME_SIZE;
        out_at += write_token(&mut w, t, &main_codes, &main_lengths, &length_codes, &length_lengths);
        debug_assert!(out_at <= frame_end, "a match crosses a frame");
    }
    debug_assert_eq!(out_at, target_len);
    debug_assert!(tokens.iter().all(|t| match t {
        Token::Match { len, .. } => *len as usize <= params.match_max(),
        Token::Literal(_) => true,
    }));
    frame.end(&mut w);
    w.finish()
}

fn write_token(
    w: &mut BitWriter,
    t: &Token,
    main_codes: &[u16],
    main_lengths: &[u8],
    length_codes: &[u16],
    length_lengths: &[u8],
) -> usize {
    match *t {
        Token::Literal(b) => {
            let s = usize::from(b);
            w.put(u32::from(main_codes[s]), u32::from(main_lengths[s]));
            1
        }
        Token::Match { len, main, footer, footer_bits } => {
            let m = usize::from(main);
            w.put(u32::from(main_codes[m]), u32::from(main_lengths[m]));
            if let Some(s) = length_symbol(len) {
                w.put(u32::from(length_codes[s]), u32::from(length_lengths[s]));
            }
            w.put_long(footer, u32::from(footer_bits));
            if len as usize >= MAX_MATCH {
                write_extra_length(w, len);
            }
            len as usize
        }
    }
}

/// The LZX DELTA extra length of a match of 257 bytes or more ([MS-PATCH] 2.6.7).
fn write_extra_length(w: &mut BitWriter, len: u32) {
    let extra = len - MAX_MATCH as u32;
    match extra {
        0..=255 => {
            w.put(0b0, 1);
            w.put(extra, 8);
        }
        256..=1279 => {
            w.put(0b10, 2);
            w.put(extra - 256, 10);
        }
        1280..=5375 => {
            w.put(0b110, 3);
            w.put(extra - 1280, 12);
        }
        _ => {
            w.put(0b111, 3);
            w.put(extra, 15);
        }
    }
}

/// A frame in progress: where its chunk-size word sits, to be filled at its end.
struct FrameWriter {
    size_at: usize,
}

impl FrameWriter {
    fn start(w: &mut BitWriter) -> Self {
        let size_at = w.len_bytes();
        w.put(0, 16);
        Self { size_at }
    }

    fn end(self, w: &mut BitWriter) {
        w.align();
        let size = w.len_bytes() - self.size_at - 2;
        debug_assert!(size <= usize::from(u16::MAX), "chunk of {size} bytes");
        w.patch_word(self.size_at, size.min(usize::from(u16::MAX)) as u16);
    }

    fn next(self, w: &mut BitWriter) -> Self {
        self.end(w);
        Self::start(w)
    }
}

/// Writes path lengths through a pretree, as deltas from an all-zero previous tree.
fn write_tree(w: &mut BitWriter, lengths: &[u8]) {
    // (pretree symbol, extra bits value, extra bit count)
    let mut codes: Vec<(u8, u32, u32)> = Vec::new();
    let mut x = 0;
    while x < lengths.len() {
        if lengths[x] == 0 {
            let run = lengths[x..].iter().take_while(|&&l| l == 0).count();
            let mut left = run;
            while left >= 20 {
                let n = left.min(51);
                codes.push((18, (n - 20) as u32, 5));
                left -= n;
            }
            if left >= 4 {
                codes.push((17, (left - 4) as u32, 4));
                left = 0;
            }
            (0..left).for_each(|_| codes.push((0, 0, 0)));
            x += run;
        } else {
            // Delta from the previous length 0: (0 - len) mod 17.
            codes.push(((17 - lengths[x]) % 17, 0, 0));
            x += 1;
        }
    }
    let mut freq = [0u32; PRETREE_SYMBOLS];
    codes.iter().for_each(|&(s, _, _)| freq[usize::from(s)] += 1);
    let pre_lengths = path_lengths(&freq, PRETREE_CODE_BITS_MAX);
    let pre_codes = canonical_codes(&pre_lengths);
    pre_lengths.iter().for_each(|&l| w.put(u32::from(l), 4));
    for (s, extra, bits) in codes {
        let s = usize::from(s);
        w.put(u32::from(pre_codes[s]), u32::from(pre_lengths[s]));
        w.put(extra, bits);
    }
}
