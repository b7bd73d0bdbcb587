//! LZX DELTA ([MS-PATCH]), the compression of [MS-OXOAB] 3.1 compressed OAB files and
//! 3.2 differential patches: an encoder (there is no Rust LZX compressor) and a decoder
//! for the streams it writes.

mod bitstream;
pub mod decoder;
pub mod encoder;
mod huffman;
pub mod tables;

pub use decoder::{decode, LzxError};
pub use encoder::{encode, fits, EncodeParams, KnownCopy};

#[cfg(test)]
mod tests;
