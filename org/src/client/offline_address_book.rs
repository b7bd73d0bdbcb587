//! What a cached-mode Outlook 2003 downloads to bring its offline address book current
//! (EXCHANGE2003.md §9, §10): nothing when it holds the newest sequence; the diffs from
//! its sequence + 1 to the newest, in order, when the replica has every one of them and
//! together they are at most an eighth of the full OAB; the full OAB otherwise (no file
//! yet, a diff missing — the server forced a full download or did not post one — or
//! diffs that add up to more than an eighth). A client never goes back to an older
//! sequence (a replica behind the one it last used offers it nothing).

use std::collections::BTreeMap;

/// The share of the full OAB the needed diffs may add up to (EXCHANGE2003.md §9: 1/8).
pub const DIFFS_OVER_FULL_DIVISOR: u64 = 8;

/// What a public folder replica offers one OAB version's clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    /// The newest sequence it holds.
    pub sequence: u32,
    /// The size of its full file for that sequence (what a full download costs).
    pub full_bytes: u64,
    /// Its diffs by the sequence each brings a client to (from the one before), bytes.
    pub diff_bytes: BTreeMap<u32, u64>,
}

impl Offered {
    /// The bytes of the diffs from `held` + 1 to the newest sequence offered, when the
    /// replica holds every one of them (and `held` is behind it).
    pub fn chain_bytes(&self, held: u32) -> Option<u64> {
        (held < self.sequence).then_some(())?;
        (held + 1..=self.sequence).map(|s| self.diff_bytes.get(&s)).sum()
    }
}

/// Why a client downloads the full OAB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FullReason {
    /// It holds no OAB yet.
    NoFileYet,
    /// A diff it needs is not there (the server forced a full download, or posted none).
    DiffMissing,
    /// The diffs it needs add up to more than an eighth of the full OAB.
    DiffsOverAnEighth,
}

/// What one download does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Download {
    /// Nothing: it holds the newest sequence offered (or a newer one).
    UpToDate,
    /// The diffs bringing it from `from` to `to`, in order.
    Diffs {
        /// The sequence it holds.
        from: u32,
        /// The sequence it will hold.
        to: u32,
        /// Their bytes together.
        bytes: u64,
    },
    /// The full OAB of `sequence`.
    Full {
        /// The sequence it will hold.
        sequence: u32,
        /// Its bytes.
        bytes: u64,
        /// Why not diffs.
        reason: FullReason,
    },
}

/// What a client holding `held` downloads from a replica offering `offered`.
pub fn choose(held: Option<u32>, offered: &Offered) -> Download {
    choose_with(held, offered, false)
}

/// [`choose`], or with the 1/8 comparison inverted (planted bug
/// `oab-eighth-rule-inverted`).
pub fn choose_with(held: Option<u32>, offered: &Offered, invert_eighth_rule: bool) -> Download {
    let full = |reason| Download::Full { sequence: offered.sequence, bytes: offered.full_bytes, reason };
    let Some(from) = held else { return full(FullReason::NoFileYet) };
    if from >= offered.sequence {
        return Download::UpToDate;
    }
    let Some(bytes) = offered.chain_bytes(from) else { return full(FullReason::DiffMissing) };
    if (bytes.saturating_mul(DIFFS_OVER_FULL_DIVISOR) > offered.full_bytes) != invert_eighth_rule {
        return full(FullReason::DiffsOverAnEighth);
    }
    Download::Diffs { from, to: offered.sequence, bytes }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn offered(sequence: u32, full_bytes: u64, diffs: &[(u32, u64)]) -> Offered {
        Offered { sequence, full_bytes, diff_bytes: diffs.iter().copied().collect() }
    }

    #[test]
    fn the_eighth_rule_and_its_edges() {
        let o = offered(5, 800, &[(3, 50), (4, 25), (5, 25)]);
        assert_eq!(choose(Some(5), &o), Download::UpToDate);
        assert_eq!(choose(Some(7), &o), Download::UpToDate, "never back to an older sequence");
        assert_eq!(choose(Some(4), &o), Download::Diffs { from: 4, to: 5, bytes: 25 });
        assert_eq!(choose(Some(2), &o), Download::Diffs { from: 2, to: 5, bytes: 100 }, "exactly an eighth");
        let o = offered(5, 799, &[(3, 50), (4, 25), (5, 25)]);
        let full = |reason| Download::Full { sequence: 5, bytes: 799, reason };
        assert_eq!(choose(Some(2), &o), full(FullReason::DiffsOverAnEighth));
        assert_eq!(choose(Some(1), &o), full(FullReason::DiffMissing));
        assert_eq!(choose(None, &o), full(FullReason::NoFileYet));
        let inverted = choose_with(Some(4), &offered(5, 800, &[(5, 25)]), true);
        assert_eq!(inverted, Download::Full { sequence: 5, bytes: 800, reason: FullReason::DiffsOverAnEighth });
    }

    proptest! {
        /// Diffs are chosen only as an unbroken chain from the held sequence + 1 to the
        /// newest, within an eighth of the full file; a client never moves backwards.
        #[test]
        fn diffs_form_an_unbroken_chain_within_an_eighth(
            held in prop::option::of(0u32..20),
            sequence in 0u32..20,
            full_bytes in 0u64..10_000,
            diffs in prop::collection::btree_map(1u32..20, 0u64..2_000, 0..20),
        ) {
            let o = Offered { sequence, full_bytes, diff_bytes: diffs.clone() };
            match choose(held, &o) {
                Download::UpToDate => prop_assert!(held.is_some_and(|h| h >= sequence)),
                Download::Diffs { from, to, bytes } => {
                    prop_assert_eq!(Some(from), held);
                    prop_assert_eq!(to, sequence);
                    prop_assert!(from < to);
                    let chain: Option<Vec<u64>> = (from + 1..=to).map(|s| diffs.get(&s).copied()).collect();
                    prop_assert_eq!(chain.map(|c| c.iter().sum::<u64>()), Some(bytes));
                    prop_assert!(bytes * DIFFS_OVER_FULL_DIVISOR <= full_bytes);
                }
                Download::Full { sequence: s, bytes, .. } => {
                    prop_assert_eq!((s, bytes), (sequence, full_bytes));
                    prop_assert!(held.is_none_or(|h| h < sequence));
                }
            }
        }
    }
}
