use super::tables::{window_bits_for, FRAME_SIZE};
use super::*;
use proptest::prelude::*;

fn plain(data: &[u8]) -> (Vec<u8>, u32) {
    let bits = window_bits_for(data.len());
    let params = EncodeParams { long_matches: false, ..EncodeParams::default() };
    (encode(&[], data, bits, &[], None, params), bits)
}

/// Decodes with the `lzxd` crate: it takes one frame at a time without the chunk-size
/// word LZX DELTA puts before each frame.
fn lzxd_decode(stream: &[u8], window_bits: u32, len: usize) -> Vec<u8> {
    let size = match window_bits {
        17 => lzxd::WindowSize::KB128,
        18 => lzxd::WindowSize::KB256,
        19 => lzxd::WindowSize::KB512,
        20 => lzxd::WindowSize::MB1,
        21 => lzxd::WindowSize::MB2,
        other => panic!("window bits {other} not used in these tests"),
    };
    let mut decoder = lzxd::Lzxd::new(size);
    let (mut out, mut at) = (Vec::new(), 0usize);
    while out.len() < len {
        let chunk_len = usize::from(u16::from_le_bytes([stream[at], stream[at + 1]]));
        let chunk = &stream[at + 2..at + 2 + chunk_len];
        let frame = (len - out.len()).min(FRAME_SIZE);
        out.extend_from_slice(decoder.decompress_next(chunk, frame).expect("lzxd decodes"));
        at += 2 + chunk_len;
    }
    assert_eq!(at, stream.len(), "trailing bytes after the last frame");
    out
}

/// Records like an OAB's: repeated structure, varying names and numbers.
fn records(seed: u64, count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut x = seed;
    for i in 0..count {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        out.extend_from_slice(format!("CN=User{:06},OU=Staff;Dept{};", i, (x >> 40) % 17).as_bytes());
        out.extend_from_slice(&(x >> 13).to_le_bytes()[..(x % 5) as usize]);
    }
    out
}

#[test]
fn empty_and_tiny_streams_round_trip() {
    for data in [&b""[..], b"a", b"ab", b"abcabcabcabc"] {
        let (stream, bits) = plain(data);
        assert_eq!(decode(&stream, &[], bits, data.len()).unwrap(), data);
    }
}

#[test]
fn structured_data_compresses_and_both_decoders_agree() {
    let data = records(7, 4_000);
    let (stream, bits) = plain(&data);
    assert!(stream.len() * 3 < data.len(), "{} -> {}", data.len(), stream.len());
    assert_eq!(decode(&stream, &[], bits, data.len()).unwrap(), data);
    assert_eq!(lzxd_decode(&stream, bits, data.len()), data);
}

#[test]
fn long_matches_and_references_round_trip() {
    let reference = records(1, 3_000);
    let mut target = reference.clone();
    target[5_000..5_010].copy_from_slice(b"0123456789");
    target.extend_from_slice(&records(2, 200));
    let bits = window_bits_for(reference.len().div_ceil(FRAME_SIZE) * FRAME_SIZE + target.len());
    let stream = encode(&reference, &target, bits, &[], None, EncodeParams::default());
    assert!(stream.len() < 8_000, "a patch of a few changes is small: {}", stream.len());
    assert_eq!(decode(&stream, &reference, bits, target.len()).unwrap(), target);
}

#[test]
fn known_copies_need_no_index() {
    let reference = records(3, 2_000);
    let mut target = reference[..20_000].to_vec();
    target.extend_from_slice(b"a changed record here");
    target.extend_from_slice(&reference[20_000..]);
    let known = [
        KnownCopy { target_at: 0, reference_at: 0, len: 20_000 },
        KnownCopy { target_at: 20_021, reference_at: 20_000, len: reference.len() - 20_000 },
    ];
    let bits = window_bits_for(reference.len().div_ceil(FRAME_SIZE) * FRAME_SIZE + target.len());
    let stream = encode(&reference, &target, bits, &known, Some(&[]), EncodeParams::default());
    assert!(stream.len() < 600, "{}", stream.len());
    assert_eq!(decode(&stream, &reference, bits, target.len()).unwrap(), target);
}

#[test]
fn a_damaged_stream_is_an_error_not_a_panic() {
    let data = records(9, 500);
    let (stream, bits) = plain(&data);
    for cut in [0, 1, 7, stream.len() / 2] {
        let _ = decode(&stream[..cut], &[], bits, data.len());
    }
    let mut flipped = stream.clone();
    flipped[10] ^= 0x5A;
    let _ = decode(&flipped, &[], bits, data.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn plain_streams_decode_with_lzxd(seed in any::<u64>(), count in 0usize..3_000, noise in prop::collection::vec(any::<u8>(), 0..2_000)) {
        let mut data = records(seed, count);
        data.extend_from_slice(&noise);
        let (stream, bits) = plain(&data);
        prop_assert_eq!(lzxd_decode(&stream, bits, data.len()), data.clone());
        prop_assert_eq!(decode(&stream, &[], bits, data.len()).unwrap(), data);
    }

    #[test]
    fn patches_rebuild_the_target(seed in any::<u64>(), count in 1usize..2_000, edits in prop::collection::vec((any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 0..40), 0usize..40), 0..20)) {
        let reference = records(seed, count);
        let mut target = reference.clone();
        for (at, insert, remove) in edits {
            let at = at.index(target.len() + 1);
            let end = (at + remove).min(target.len());
            target.splice(at..end, insert);
        }
        let bits = window_bits_for(reference.len().div_ceil(FRAME_SIZE) * FRAME_SIZE + target.len());
        let stream = encode(&reference, &target, bits, &[], None, EncodeParams::default());
        prop_assert_eq!(decode(&stream, &reference, bits, target.len()).unwrap(), target);
    }
}
