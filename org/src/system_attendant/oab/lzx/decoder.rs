//! An LZX DELTA decoder for the streams orgsim writes (verbatim blocks, a reference
//! window, extra lengths; aligned-offset and stored blocks are refused), so a simulated client can apply a patch and a check
//! can compare the result with the server's file. The independent decoders that test the
//! encoder are libmspack and the `lzxd` crate (tests/oab_files.rs, README).

use super::bitstream::BitReader;
use super::huffman::Decoder;
use super::tables::*;

/// Why a stream did not decode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LzxError {
    /// The stream ended before the output did.
    Truncated,
    /// A block type the format does not have, or one orgsim does not read (aligned,
    /// stored).
    BlockType(u32),
    /// E8 translation is on; OAB files never use it.
    E8Translation,
    /// Path lengths that do not form a complete Huffman tree.
    BadTree,
    /// A match reaching before the reference window or across a frame.
    BadMatch { at: usize },
}

/// Decodes `output_len` bytes of an LZX DELTA stream whose window (2^`window_bits`)
/// holds `reference` before the output, as [MS-OXOAB] 3.2 patches are applied.
pub fn decode(stream: &[u8], reference: &[u8], window_bits: u32, output_len: usize) -> Result<Vec<u8>, LzxError> {
    let mut d = State::new(stream, reference, window_bits, output_len);
    let mut frame_start = reference.len();
    let mut first = true;
    while d.buf.len() < reference.len() + output_len {
        d.bits.get(16); // the chunk size: the frames are read in order, so it is unused
        if first {
            if d.bits.get(1) == 1 {
                return Err(LzxError::E8Translation);
            }
            first = false;
        }
        let frame_end = (frame_start + FRAME_SIZE).min(reference.len() + output_len);
        while d.buf.len() < frame_end {
            d.step(frame_end)?;
        }
        d.bits.align();
        frame_start = frame_end;
    }
    if d.bits.overran() {
        return Err(LzxError::Truncated);
    }
    Ok(d.buf.split_off(reference.len()))
}

struct State<'a> {
    bits: BitReader<'a>,
    buf: Vec<u8>,
    reference_len: usize,
    main_symbols: usize,
    /// The current verbatim block's main and length trees.
    trees: Option<Box<(Decoder, Decoder)>>,
    remaining: usize,
    repeats: [u32; 3],
}

impl<'a> State<'a> {
    fn new(stream: &'a [u8], reference: &[u8], window_bits: u32, output_len: usize) -> Self {
        let mut buf = Vec::with_capacity(reference.len() + output_len);
        buf.extend_from_slice(reference);
        Self {
            bits: BitReader::new(stream),
            buf,
            reference_len: reference.len(),
            main_symbols: NUM_CHARS + 8 * position_slots(window_bits),
            trees: None,
            remaining: 0,
            repeats: [1, 1, 1],
        }
    }

    /// Decodes one literal, match or stored run, reading a block header first if needed.
    fn step(&mut self, frame_end: usize) -> Result<(), LzxError> {
        if self.remaining == 0 {
            self.read_block_header()?;
        }
        if self.bits.overran() {
            return Err(LzxError::Truncated);
        }
        let trees = self.trees.take().ok_or(LzxError::BlockType(0))?;
        let written = self.element(&trees.0, &trees.1, frame_end);
        self.trees = Some(trees);
        let written = written?;
        self.remaining = self.remaining.checked_sub(written).ok_or(LzxError::BadMatch { at: self.buf.len() })?;
        Ok(())
    }

    fn read_block_header(&mut self) -> Result<(), LzxError> {
        let kind = self.bits.get(3);
        self.remaining = self.bits.get_long(24) as usize;
        self.trees = match kind {
            BLOCK_VERBATIM => {
                let mut main = vec![0u8; self.main_symbols];
                self.read_lengths(&mut main[..NUM_CHARS])?;
                self.read_lengths(&mut main[NUM_CHARS..])?;
                let mut length = vec![0u8; NUM_SECONDARY_LENGTHS];
                self.read_lengths(&mut length)?;
                let main = Decoder::new(&main).ok_or(LzxError::BadTree)?;
                let length = Decoder::new(&length).ok_or(LzxError::BadTree)?;
                Some(Box::new((main, length)))
            }
            other => return Err(LzxError::BlockType(other)),
        };
        Ok(())
    }

    /// Path lengths through a pretree, as deltas from the previous lengths (zero here:
    /// a stream's trees start from zero and orgsim reads one block's worth).
    fn read_lengths(&mut self, lengths: &mut [u8]) -> Result<(), LzxError> {
        let mut pre = [0u8; PRETREE_SYMBOLS];
        pre.iter_mut().for_each(|l| *l = self.bits.get(4) as u8);
        let pre = Decoder::new(&pre).ok_or(LzxError::BadTree)?;
        let mut x = 0;
        while x < lengths.len() {
            let symbol = self.symbol(&pre)?;
            let delta = |old: u8, z: u16| ((i32::from(old) - i32::from(z)).rem_euclid(17)) as u8;
            let (value, run) = match symbol {
                17 => (0, self.bits.get(4) as usize + 4),
                18 => (0, self.bits.get(5) as usize + 20),
                19 => {
                    let run = self.bits.get(1) as usize + 4;
                    let z = self.symbol(&pre)?;
                    (delta(lengths[x], z), run)
                }
                z => (delta(lengths[x], z), 1),
            };
            if x + run > lengths.len() {
                return Err(LzxError::BadTree);
            }
            lengths[x..x + run].fill(value);
            x += run;
        }
        Ok(())
    }

    fn symbol(&mut self, tree: &Decoder) -> Result<u16, LzxError> {
        let (s, n) = tree.decode(self.bits.peek(16)).ok_or(LzxError::BadTree)?;
        self.bits.skip(n);
        Ok(s)
    }

    fn element(&mut self, main: &Decoder, length: &Decoder, frame_end: usize) -> Result<usize, LzxError> {
        let m = usize::from(self.symbol(main)?);
        if m < NUM_CHARS {
            self.buf.push(m as u8);
            return Ok(1);
        }
        let m = m - NUM_CHARS;
        let mut len = m & 7;
        if len == NUM_PRIMARY_LENGTHS {
            len += usize::from(self.symbol(length)?);
        }
        len += MIN_MATCH;
        let offset = self.offset(m >> 3);
        if len == MAX_MATCH {
            len += self.extra_length();
        }
        let at = self.buf.len();
        if offset == 0 || offset > at || at + len > frame_end {
            return Err(LzxError::BadMatch { at: at - self.reference_len });
        }
        for i in 0..len {
            let b = self.buf[at - offset + i];
            self.buf.push(b);
        }
        Ok(len)
    }

    fn offset(&mut self, slot: usize) -> usize {
        let o = match slot {
            0 => self.repeats[0],
            1 | 2 => {
                self.repeats.swap(0, slot);
                self.repeats[0]
            }
            _ => {
                let o = position_base(slot) + self.bits.get_long(footer_bits(slot)) - 2;
                self.repeats = [o, self.repeats[0], self.repeats[1]];
                o
            }
        };
        o as usize
    }

    fn extra_length(&mut self) -> usize {
        let extra = if self.bits.get(1) == 0 {
            self.bits.get(8)
        } else if self.bits.get(1) == 0 {
            self.bits.get(10) + 0x100
        } else if self.bits.get(1) == 0 {
            self.bits.get(12) + 0x500
        } else {
            self.bits.get(15)
        };
        extra as usize
    }
}
