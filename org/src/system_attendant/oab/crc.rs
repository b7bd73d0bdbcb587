//! The CRC of every [MS-OXOAB] structure (2.1): the IEEE 802.3 polynomial 0xEDB88320,
//! seeded with 0xFFFFFFFF and, as libmspack checks it, not inverted at the end — the
//! complement of the standard CRC-32, which `crc32fast` computes with SIMD.

/// The OAB CRC of `bytes`.
pub fn oab_crc(bytes: &[u8]) -> u32 {
    !crc32fast::hash(bytes)
}

/// The OAB CRC of `a` followed by `b`, from the CRCs of each and `b`'s length.
pub fn oab_crc_combine(crc_a: u32, crc_b: u32, len_b: u64) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial_len(!crc_a, 0);
    h.combine(&crc32fast::Hasher::new_with_initial_len(!crc_b, len_b));
    !h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_is_the_standard_crc32_without_the_final_inversion() {
        // CRC-32 of "123456789" is 0xCBF43926; without the final XOR it is its complement.
        assert_eq!(oab_crc(b"123456789"), !0xCBF4_3926);
        assert_eq!(oab_crc(b""), 0xFFFF_FFFF);
    }

    #[test]
    fn crcs_of_parts_combine() {
        let (a, b) = (b"offline address ".as_slice(), b"book".as_slice());
        let whole = [a, b].concat();
        assert_eq!(oab_crc_combine(oab_crc(a), oab_crc(b), b.len() as u64), oab_crc(&whole));
    }
}
