//! The constants of the LZX DELTA format ([MS-PATCH] 2.1, the format [MS-OXOAB] 3.1 and
//! 3.2 compress with): literals, match lengths, position slots and their footer bits.

/// Literal symbols at the start of the main tree.
pub const NUM_CHARS: usize = 256;
/// Shortest match the format can express.
pub const MIN_MATCH: usize = 2;
/// Longest match expressible without the LZX DELTA extra length field.
pub const MAX_MATCH: usize = 257;
/// Match lengths carried in the main tree symbol itself (the length header, 0..=7).
pub const NUM_PRIMARY_LENGTHS: usize = 7;
/// Symbols of the length tree (lengths above the primary ones).
pub const NUM_SECONDARY_LENGTHS: usize = 249;
/// Symbols of the pretree that codes tree path lengths.
pub const PRETREE_SYMBOLS: usize = 20;
/// Output bytes per frame: every frame starts word-aligned with its chunk size.
pub const FRAME_SIZE: usize = 32_768;
/// Longest match with the extra length field: 257 + a 15-bit extra ([MS-PATCH] 2.6.7).
pub const MAX_MATCH_DELTA: usize = MAX_MATCH + 32_767;
/// Window sizes an LZX DELTA decoder takes: 2^17 .. 2^25 bytes.
pub const WINDOW_BITS_MIN: u32 = 17;
/// See `WINDOW_BITS_MIN`.
pub const WINDOW_BITS_MAX: u32 = 25;
/// Longest Huffman code of the main and length trees.
pub const CODE_BITS_MAX: u32 = 16;
/// Longest pretree code: its lengths are 4-bit fields.
pub const PRETREE_CODE_BITS_MAX: u32 = 15;

/// The verbatim block type ([MS-PATCH] 2.3.1.1), the one orgsim writes (2 is aligned
/// offset, 3 stored).
pub const BLOCK_VERBATIM: u32 = 1;

/// Position slots for a window of 2^bits bytes, bits 15..=25.
const POSITION_SLOTS: [usize; 11] = [30, 32, 34, 36, 38, 42, 50, 66, 98, 162, 290];

/// The number of position slots of a window of 2^`window_bits` bytes.
pub fn position_slots(window_bits: u32) -> usize {
    debug_assert!((15..=WINDOW_BITS_MAX).contains(&window_bits));
    POSITION_SLOTS[(window_bits - 15) as usize]
}

/// Footer bits of a position slot: 0,0,0,0,1,1,2,2,... up to 17 from slot 36 on.
pub fn footer_bits(slot: usize) -> u32 {
    if slot >= 36 {
        17
    } else if slot < 4 {
        0
    } else {
        (slot as u32 - 2) / 2
    }
}

/// The smallest formatted offset (offset + 2) of each slot.
pub fn position_base(slot: usize) -> u32 {
    // Slots 0..=3 are 0,1,2,3; each later base adds the previous slot's footer range.
    // Closed forms keep this a table-free O(1) call on the hot path.
    if slot < 4 {
        return slot as u32;
    }
    if slot >= 36 {
        return 262_144 + (slot as u32 - 36) * 131_072;
    }
    let bits = footer_bits(slot);
    let pair_base = 2u32 << bits; // first slot of the pair with these footer bits
    if slot.is_multiple_of(2) {
        pair_base
    } else {
        pair_base + (1 << bits)
    }
}

/// The slot of a formatted offset (offset + 2, never a repeated-offset slot).
pub fn slot_of(formatted_offset: u32) -> usize {
    debug_assert!(formatted_offset >= 3);
    if formatted_offset >= 262_144 {
        return 36 + ((formatted_offset - 262_144) / 131_072) as usize;
    }
    if formatted_offset < 4 {
        return formatted_offset as usize;
    }
    // Each power of two holds two slots: [2^k, 1.5*2^k) and [1.5*2^k, 2^(k+1)).
    let k = 31 - formatted_offset.leading_zeros();
    let upper_half = (formatted_offset >> (k - 1)) & 1;
    (2 * k + upper_half) as usize
}

/// The window bits an [MS-OXOAB] decoder picks for a block: the smallest power of two
/// (at least 2^17, at most 2^25) holding `window_size_bytes`.
pub fn window_bits_for(window_size_bytes: usize) -> u32 {
    let mut bits = WINDOW_BITS_MIN;
    while bits < WINDOW_BITS_MAX && (1usize << bits) < window_size_bytes {
        bits += 1;
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_bases_follow_the_footer_bits() {
        // libmspack and [MS-PATCH] list the bases as running sums of 2^footer.
        let mut base = 0u32;
        for slot in 0..290 {
            assert_eq!(position_base(slot), base, "slot {slot}");
            base += 1 << footer_bits(slot);
        }
        assert_eq!(position_base(33), 98_304);
        assert_eq!(position_base(289), 33_423_360);
    }

    #[test]
    fn every_formatted_offset_finds_its_slot() {
        for formatted in (3u32..300_000).chain([33_554_431, 1 << 24]) {
            let slot = slot_of(formatted);
            assert!(position_base(slot) <= formatted, "{formatted}");
            assert!(formatted < position_base(slot) + (1 << footer_bits(slot)), "{formatted}");
        }
    }

    #[test]
    fn window_bits_match_the_decoder() {
        assert_eq!(window_bits_for(0), 17);
        assert_eq!(window_bits_for(131_072), 17);
        assert_eq!(window_bits_for(131_073), 18);
        assert_eq!(window_bits_for(1 << 30), 25);
    }
}
