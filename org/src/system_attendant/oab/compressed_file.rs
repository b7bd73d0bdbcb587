//! The compressed OAB file ([MS-OXOAB] 2.8 / libmspack `oabd`): LZX_HDR (version 3.1 for
//! version 4 files, 2.1 for the version 2 and 3a files; the largest block, the
//! uncompressed size), then blocks, each with its flags (0 stored,
//! 1 LZX), compressed and uncompressed sizes and the CRC of its uncompressed bytes. An
//! LZX block is one LZX DELTA stream whose window is the smallest power of two ≥ 2^17
//! holding the block.

use super::crc::oab_crc;
use super::lzx::{self, tables::window_bits_for, EncodeParams};

/// The largest uncompressed block orgsim writes. [U] [MS-OXOAB] leaves it to the server;
/// 256 KiB keeps a block's window at 2^18 bytes.
pub const BLOCK_MAX_BYTES: usize = 262_144;
const HEADER_BYTES: usize = 16;
const BLOCK_HEADER_BYTES: usize = 16;

/// The container version of version 4 files.
pub const VERSION_4: (u32, u32) = (3, 1);
/// The container version of version 2 and 3a files.
pub const VERSION_2_3: (u32, u32) = (2, 1);

/// Compresses a whole version 4 file into the [MS-OXOAB] container.
pub fn compress(file: &[u8], params: EncodeParams) -> Vec<u8> {
    compress_as(VERSION_4, file, params)
}

/// Compresses a whole file into the container of version `(hi, lo)`.
pub fn compress_as((hi, lo): (u32, u32), file: &[u8], params: EncodeParams) -> Vec<u8> {
    let mut out = Vec::with_capacity(file.len() / 4 + HEADER_BYTES);
    for v in [hi, lo, BLOCK_MAX_BYTES as u32, file.len() as u32] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    for block in file.chunks(BLOCK_MAX_BYTES) {
        let stream = lzx::encode(&[], block, window_bits_for(block.len()), &[], None, params);
        // A block that does not shrink is stored (flags 0), as the format allows.
        let (flags, data) = if stream.len() < block.len() { (1u32, &stream[..]) } else { (0, block) };
        for v in [flags, data.len() as u32, block.len() as u32, oab_crc(block)] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(data);
    }
    out
}

/// Why a compressed file or patch did not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerError {
    /// The header is not the version it should be.
    Version { hi: u32, lo: u32 },
    /// The file ends inside a header or a block.
    Truncated,
    /// A block larger than the header allows, or sizes that disagree.
    BadBlock { index: usize },
    /// A block's LZX stream did not decode.
    Lzx { index: usize, error: lzx::LzxError },
    /// A block decoded to bytes whose CRC is not the one recorded.
    Crc { index: usize },
    /// The base file a patch applies to is not the one it was made against.
    WrongSource,
    /// The patched file is not the one the patch says it makes.
    WrongTarget,
}

impl std::fmt::Display for ContainerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Version { hi, lo } => write!(f, "header version {hi}.{lo}"),
            Self::Truncated => write!(f, "the file ends early"),
            Self::BadBlock { index } => write!(f, "block {index} has impossible sizes"),
            Self::Lzx { index, error } => write!(f, "block {index} does not decode: {error:?}"),
            Self::Crc { index } => write!(f, "block {index} fails its CRC"),
            Self::WrongSource => write!(f, "the base file is not the patch's source"),
            Self::WrongTarget => write!(f, "the result is not the patch's target"),
        }
    }
}

pub(super) fn words<const N: usize>(bytes: &[u8], at: usize) -> Result<[u32; N], ContainerError> {
    let b = bytes.get(at..at + 4 * N).ok_or(ContainerError::Truncated)?;
    Ok(std::array::from_fn(|i| u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]])))
}

/// Decompresses a compressed version 4 file.
pub fn decompress(container: &[u8]) -> Result<Vec<u8>, ContainerError> {
    decompress_as(VERSION_4, container)
}

/// Decompresses a file compressed in the container of version `version`.
pub fn decompress_as(version: (u32, u32), container: &[u8]) -> Result<Vec<u8>, ContainerError> {
    let [hi, lo, block_max, target] = words::<4>(container, 0)?;
    if (hi, lo) != version {
        return Err(ContainerError::Version { hi, lo });
    }
    let (block_max, mut left) = (block_max as usize, target as usize);
    let mut out = Vec::with_capacity(left.min(1 << 28));
    let (mut at, mut index) = (HEADER_BYTES, 0);
    while left > 0 {
        let [flags, packed, size, crc] = words::<4>(container, at)?;
        let (packed, size) = (packed as usize, size as usize);
        at += BLOCK_HEADER_BYTES;
        if size > block_max || size > left || flags > 1 || size == 0 {
            return Err(ContainerError::BadBlock { index });
        }
        let data = container.get(at..at + packed).ok_or(ContainerError::Truncated)?;
        let block = match flags {
            0 if packed == size => data.to_vec(),
            0 => return Err(ContainerError::BadBlock { index }),
            _ => lzx::decode(data, &[], window_bits_for(size), size)
                .map_err(|error| ContainerError::Lzx { index, error })?,
        };
        if oab_crc(&block) != crc {
            return Err(ContainerError::Crc { index });
        }
        out.extend_from_slice(&block);
        (at, left, index) = (at + packed, left - size, index + 1);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_of_many_blocks_round_trip() {
        let mut file = Vec::new();
        for i in 0..40_000u32 {
            file.extend_from_slice(format!("record {i} /o=Org/cn={} ", i % 97).as_bytes());
        }
        assert!(file.len() > 3 * BLOCK_MAX_BYTES);
        let packed = compress(&file, EncodeParams::default());
        assert!(packed.len() * 4 < file.len());
        assert_eq!(decompress(&packed), Ok(file));
    }

    #[test]
    fn noise_is_stored_and_damage_is_an_error() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..5_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        let packed = compress(&noise, EncodeParams::default());
        assert_eq!(&packed[16..20], &[0, 0, 0, 0], "stored block");
        assert_eq!(decompress(&packed).as_deref(), Ok(&noise[..]));
        let mut bad = packed.clone();
        bad[40] ^= 1;
        assert_eq!(decompress(&bad), Err(ContainerError::Crc { index: 0 }));
        assert_eq!(decompress(&packed[..30]), Err(ContainerError::Truncated));
    }
}
