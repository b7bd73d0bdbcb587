//! Canonical Huffman codes as LZX uses them: path lengths limited to 16 bits (15 for the
//! pretree), codes assigned by length then symbol, and every tree with a symbol complete
//! (libmspack refuses a tree whose codes do not fill the code space).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Path lengths for `freqs`, none longer than `max_bits`. Unused symbols get 0. A tree
/// with one used symbol gets a second one so that both codes are one bit long.
pub fn path_lengths(freqs: &[u32], max_bits: u32) -> Vec<u8> {
    let mut scaled: Vec<u32> = freqs.to_vec();
    let used = scaled.iter().filter(|&&f| f > 0).count();
    if used == 0 {
        return vec![0; freqs.len()];
    }
    if used == 1 {
        // A lone symbol still needs a complete tree: pair it with its neighbour.
        let only = scaled.iter().position(|&f| f > 0).unwrap_or(0);
        let partner = if only == 0 { 1 } else { 0 };
        scaled[partner] = 1;
    }
    // Halving the counts flattens the tree until it fits the limit; a few rounds at most.
    loop {
        let lengths = unlimited_lengths(&scaled);
        if lengths.iter().all(|&l| u32::from(l) <= max_bits) {
            debug_assert!(is_complete(&lengths));
            return lengths;
        }
        for f in scaled.iter_mut().filter(|f| **f > 0) {
            *f = (*f >> 1).max(1);
        }
    }
}

fn unlimited_lengths(freqs: &[u32]) -> Vec<u8> {
    // Nodes: leaves 0..n, internal nodes after; ties broken by index for determinism.
    let n = freqs.len();
    let mut parent = vec![usize::MAX; 2 * n];
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> =
        freqs.iter().enumerate().filter(|(_, &f)| f > 0).map(|(i, &f)| Reverse((u64::from(f), i))).collect();
    let mut next = n;
    while heap.len() > 1 {
        let Some(Reverse((fa, a))) = heap.pop() else { break };
        let Some(Reverse((fb, b))) = heap.pop() else { break };
        parent[a] = next;
        parent[b] = next;
        heap.push(Reverse((fa + fb, next)));
        next += 1;
    }
    let mut lengths = vec![0u8; n];
    for (symbol, length) in lengths.iter_mut().enumerate() {
        if freqs[symbol] == 0 {
            continue;
        }
        let mut depth = 0u32;
        let mut node = symbol;
        while parent[node] != usize::MAX {
            node = parent[node];
            depth += 1;
        }
        *length = depth.min(255) as u8;
    }
    lengths
}

/// Whether the lengths fill the code space exactly (Kraft sum of 1), or are all zero.
pub fn is_complete(lengths: &[u8]) -> bool {
    let max = u32::from(lengths.iter().copied().max().unwrap_or(0));
    if max == 0 {
        return true;
    }
    let sum: u64 = lengths.iter().filter(|&&l| l > 0).map(|&l| 1u64 << (max - u32::from(l))).sum();
    sum == 1u64 << max
}

/// Canonical codes for `lengths`: shorter codes first, equal lengths in symbol order.
pub fn canonical_codes(lengths: &[u8]) -> Vec<u16> {
    let mut count = [0u32; 17];
    for &l in lengths {
        count[usize::from(l)] += 1;
    }
    count[0] = 0;
    let mut next = [0u32; 17];
    let mut code = 0u32;
    for bits in 1..17 {
        code = (code + count[bits - 1]) << 1;
        next[bits] = code;
    }
    lengths
        .iter()
        .map(|&l| {
            if l == 0 {
                return 0;
            }
            let c = next[usize::from(l)];
            next[usize::from(l)] += 1;
            c as u16
        })
        .collect()
}

/// A decoding table: (code length, code) pairs resolved by a sorted canonical walk.
#[derive(Debug, Clone)]
pub struct Decoder {
    /// For each length 1..=16: first code, number of codes, index of its first symbol.
    first_code: [u32; 17],
    count: [u32; 17],
    first_index: [u32; 17],
    symbols: Vec<u16>,
}

impl Decoder {
    /// A decoder for `lengths`, or `None` when they do not form a complete tree (an
    /// all-zero tree is allowed and decodes nothing).
    pub fn new(lengths: &[u8]) -> Option<Self> {
        if !is_complete(lengths) || lengths.iter().any(|&l| l > 16) {
            return None;
        }
        let mut count = [0u32; 17];
        for &l in lengths {
            count[usize::from(l)] += 1;
        }
        count[0] = 0;
        let mut first_code = [0u32; 17];
        let mut first_index = [0u32; 17];
        let (mut code, mut index) = (0u32, 0u32);
        for bits in 1..17 {
            code = (code + count[bits - 1]) << 1;
            first_code[bits] = code;
            first_index[bits] = index;
            index += count[bits];
        }
        let mut symbols: Vec<u16> = (0..lengths.len() as u16).filter(|&s| lengths[usize::from(s)] > 0).collect();
        symbols.sort_by_key(|&s| (lengths[usize::from(s)], s));
        Some(Self { first_code, count, first_index, symbols })
    }

    /// Decodes one symbol from 16 peeked bits; returns (symbol, code length).
    pub fn decode(&self, peeked16: u32) -> Option<(u16, u32)> {
        for bits in 1..17u32 {
            let code = peeked16 >> (16 - bits);
            let first = self.first_code[bits as usize];
            let n = self.count[bits as usize];
            if code >= first && code < first + n {
                let at = self.first_index[bits as usize] + (code - first);
                return Some((self.symbols[at as usize], bits));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn lengths_are_complete_limited_and_decodable(freqs in prop::collection::vec(0u32..10_000, 2..300)) {
            let lengths = path_lengths(&freqs, 16);
            prop_assert!(is_complete(&lengths));
            prop_assert!(lengths.iter().all(|&l| l <= 16));
            for (s, &f) in freqs.iter().enumerate() {
                if f > 0 { prop_assert!(lengths[s] > 0); }
            }
            let codes = canonical_codes(&lengths);
            let decoder = Decoder::new(&lengths).expect("complete");
            for (s, &l) in lengths.iter().enumerate() {
                if l == 0 { continue; }
                let peeked = u32::from(codes[s]) << (16 - u32::from(l));
                prop_assert_eq!(decoder.decode(peeked), Some((s as u16, u32::from(l))));
            }
        }
    }

    #[test]
    fn skewed_counts_stay_within_the_limit() {
        let freqs: Vec<u32> = (0..40).map(|i| 1u32 << (i % 31)).collect();
        let lengths = path_lengths(&freqs, 15);
        assert!(lengths.iter().all(|&l| (1..=15).contains(&l)));
        assert!(is_complete(&lengths));
    }

    #[test]
    fn a_lone_symbol_gets_a_partner() {
        let lengths = path_lengths(&[0, 0, 7, 0], 16);
        assert_eq!(lengths, vec![1, 0, 1, 0]);
    }
}
