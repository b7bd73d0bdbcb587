//! The CRC of every [MS-OXOAB] structure (2.1): the IEEE 802.3 polynomial 0xEDB88320,
//! seeded with 0xFFFFFFFF and, as libmspack checks it, not inverted at the end.

const fn table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}

static TABLE: [u32; 256] = table();

/// The OAB CRC of `bytes`.
pub fn oab_crc(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0xFFFF_FFFF, |crc, &b| TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8))
}

#[cfg(test)]
mod tests {
    #[test]
    fn it_is_the_standard_crc32_without_the_final_inversion() {
        // CRC-32 of "123456789" is 0xCBF43926; without the final XOR it is its complement.
        assert_eq!(super::oab_crc(b"123456789"), !0xCBF4_3926);
        assert_eq!(super::oab_crc(b""), 0xFFFF_FFFF);
    }
}
