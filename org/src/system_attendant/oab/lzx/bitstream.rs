//! LZX's bit order: 16-bit little-endian words, each filled from its most significant
//! bit ([MS-PATCH] 2.2.1).

/// Writes bits MSB-first into 16-bit little-endian words.
#[derive(Debug, Default)]
pub struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    pending_bits: u32,
}

impl BitWriter {
    /// Appends the low `count` bits of `value`, most significant first.
    pub fn put(&mut self, value: u32, count: u32) {
        debug_assert!(count <= 16);
        debug_assert!(value >> count == 0, "{value} does not fit {count} bits");
        if count == 0 {
            return;
        }
        self.acc = (self.acc << count) | value;
        self.pending_bits += count;
        if self.pending_bits >= 16 {
            self.pending_bits -= 16;
            let word = (self.acc >> self.pending_bits) as u16;
            self.out.extend_from_slice(&word.to_le_bytes());
            self.acc &= (1 << self.pending_bits) - 1;
        }
    }

    /// Appends up to 32 bits, split into words the format allows.
    pub fn put_long(&mut self, value: u32, count: u32) {
        if count > 16 {
            self.put(value >> 16, count - 16);
            self.put(value & 0xFFFF, 16);
        } else {
            self.put(value, count);
        }
    }

    /// Pads the current word with zero bits (the decoder drops them at a frame's end).
    pub fn align(&mut self) {
        if self.pending_bits > 0 {
            self.put(0, 16 - self.pending_bits);
        }
        debug_assert_eq!(self.pending_bits, 0);
    }

    /// Bytes written so far (whole words only).
    pub fn len_bytes(&self) -> usize {
        self.out.len()
    }

    /// Overwrites a 16-bit little-endian word already written (a frame's chunk size).
    pub fn patch_word(&mut self, at: usize, word: u16) {
        self.out[at..at + 2].copy_from_slice(&word.to_le_bytes());
    }

    /// The finished stream; it must be aligned.
    pub fn finish(self) -> Vec<u8> {
        debug_assert_eq!(self.pending_bits, 0);
        self.out
    }
}

/// Reads what `BitWriter` writes; past the end it reads zeros, and `overran` says so.
#[derive(Debug)]
pub struct BitReader<'a> {
    input: &'a [u8],
    at: usize,
    acc: u32,
    bits: u32,
}

impl<'a> BitReader<'a> {
    /// A reader at the start of `input`.
    pub fn new(input: &'a [u8]) -> Self {
        Self { input, at: 0, acc: 0, bits: 0 }
    }

    fn refill(&mut self) {
        while self.bits <= 16 {
            let word = match self.input.get(self.at..self.at + 2) {
                Some(w) => u16::from_le_bytes([w[0], w[1]]),
                None => 0,
            };
            self.at += 2;
            self.acc |= u32::from(word) << (16 - self.bits);
            self.bits += 16;
        }
    }

    /// The next `count` (≤ 16) bits without consuming them.
    pub fn peek(&mut self, count: u32) -> u32 {
        debug_assert!(count <= 16);
        self.refill();
        self.acc >> (32 - count)
    }

    /// Consumes `count` bits already peeked.
    pub fn skip(&mut self, count: u32) {
        debug_assert!(count <= self.bits);
        self.acc <<= count;
        self.bits -= count;
    }

    /// Reads `count` (≤ 16) bits.
    pub fn get(&mut self, count: u32) -> u32 {
        if count == 0 {
            return 0;
        }
        let v = self.peek(count);
        self.skip(count);
        v
    }

    /// Reads up to 32 bits.
    pub fn get_long(&mut self, count: u32) -> u32 {
        if count > 16 {
            let hi = self.get(count - 16);
            (hi << 16) | self.get(16)
        } else {
            self.get(count)
        }
    }

    /// Drops the rest of the current 16-bit word.
    pub fn align(&mut self) {
        let partial = self.bits % 16;
        self.skip(partial);
    }

    /// Whether the bits consumed so far go past the end of the input (reading ahead to
    /// fill the buffer does not count).
    pub fn overran(&self) -> bool {
        self.at * 8 - self.bits as usize > self.input.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_round_trip_msb_first_in_little_endian_words() {
        let mut w = BitWriter::default();
        w.put(0b1, 1);
        w.put(0b011, 3);
        w.put(0xABC, 12);
        w.put_long(0x1_2345, 17);
        w.align();
        let bytes = w.finish();
        // The first word is 1011 1010 1011 1100 = 0xBABC, written little-endian.
        assert_eq!(&bytes[..2], &[0xBC, 0xBA]);
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.get(1), 1);
        assert_eq!(r.get(3), 0b011);
        assert_eq!(r.get(12), 0xABC);
        assert_eq!(r.get_long(17), 0x1_2345);
        assert!(!r.overran());
    }
}
