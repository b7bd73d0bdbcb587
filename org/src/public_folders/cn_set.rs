//! Change numbers and CNSets (EXCHANGE2003.md §8 [P]): every create, change or delete
//! on a public store gets a change number — the store's replica id and a counter that
//! only grows there. A folder's CNSet on a store is the set of change numbers it holds:
//! its status, carried on every replication message. What another replica's CNSet holds
//! and this one's lacks is the backfill set.
//!
//! A set is kept as each replica's counters in sorted, disjoint, non-adjacent ranges (as
//! Exchange's ID sets are): a replica that received every change of another holds one
//! range for it however many there were.

use std::collections::BTreeMap;

/// A public store's replica id (its index among the organization's public stores).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplicaId(pub u16);

/// One change: made on `replica`, its `counter`-th there (from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChangeNumber {
    pub replica: ReplicaId,
    pub counter: u64,
}

/// Bytes a CNSet takes on the wire: per replica its id (16-byte GUID in Exchange) and
/// count, per range two 6-byte counters (Exchange's global counters are 48 bits) [U].
const REPLICA_BYTES: u64 = 16 + 4;
const RANGE_BYTES: u64 = 2 * 6;

/// A set of change numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CnSet {
    /// Per replica, inclusive ranges `(first, last)`, sorted, disjoint and with a gap
    /// between each two.
    ranges: BTreeMap<ReplicaId, Vec<(u64, u64)>>,
}

impl CnSet {
    /// Adds one change number; false when the set held it.
    pub fn insert(&mut self, cn: ChangeNumber) -> bool {
        debug_assert!(cn.counter > 0, "counters start at 1");
        let ranges = self.ranges.entry(cn.replica).or_default();
        let c = cn.counter;
        // The first range ending at or after c - 1 is the only one c can touch or join.
        let at = ranges.partition_point(|(_, last)| *last + 1 < c);
        if let Some(&(first, last)) = ranges.get(at) {
            if first <= c && c <= last {
                return false;
            }
            if last + 1 == c {
                ranges[at].1 = c;
                // Joining the next range closes the gap.
                if ranges.get(at + 1).is_some_and(|(next, _)| *next == c + 1) {
                    ranges[at].1 = ranges.remove(at + 1).1;
                }
                return true;
            }
            if first == c + 1 {
                ranges[at].0 = c;
                return true;
            }
        }
        ranges.insert(at, (c, c));
        true
    }

    /// Whether it holds `cn`.
    pub fn contains(&self, cn: ChangeNumber) -> bool {
        self.ranges.get(&cn.replica).is_some_and(|ranges| {
            let at = ranges.partition_point(|(_, last)| *last < cn.counter);
            ranges.get(at).is_some_and(|(first, _)| *first <= cn.counter)
        })
    }

    /// How many change numbers it holds.
    pub fn len(&self) -> u64 {
        self.ranges.values().flatten().map(|(first, last)| last - first + 1).sum()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.ranges.values().all(Vec::is_empty)
    }

    /// Adds every change number of `other` (what a replication message brought).
    pub fn union_with(&mut self, other: &CnSet) {
        for (replica, theirs) in &other.ranges {
            let mine = self.ranges.entry(*replica).or_default();
            *mine = merge(mine, theirs);
        }
    }

    /// What `other` holds and this set lacks: the backfill set against `other`'s status.
    pub fn missing_from(&self, other: &CnSet) -> CnSet {
        let mut out = CnSet::default();
        for (replica, theirs) in &other.ranges {
            let mine = self.ranges.get(replica).map_or(&[][..], Vec::as_slice);
            let gaps = subtract(theirs, mine);
            if !gaps.is_empty() {
                out.ranges.insert(*replica, gaps);
            }
        }
        out
    }

    /// Its change numbers that `other` lacks.
    pub fn without(&self, other: &CnSet) -> CnSet {
        other.missing_from(self)
    }

    /// Its change numbers that `other` holds too.
    pub fn intersection(&self, other: &CnSet) -> CnSet {
        self.without(&self.without(other))
    }

    /// Whether it holds every change number of `other`.
    pub fn covers(&self, other: &CnSet) -> bool {
        self.missing_from(other).is_empty()
    }

    /// Its change numbers in order.
    pub fn iter(&self) -> impl Iterator<Item = ChangeNumber> + '_ {
        self.ranges.iter().flat_map(|(replica, ranges)| {
            ranges.iter().flat_map(move |(first, last)| {
                (*first..=*last).map(move |counter| ChangeNumber { replica: *replica, counter })
            })
        })
    }

    /// Bytes it takes in a replication message's status.
    pub fn wire_size_bytes(&self) -> u64 {
        self.ranges.values().filter(|r| !r.is_empty()).map(|r| REPLICA_BYTES + RANGE_BYTES * r.len() as u64).sum()
    }
}

/// The union of two range lists, normalized (adjacent ranges joined).
fn merge(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut all: Vec<(u64, u64)> = a.iter().chain(b).copied().collect();
    all.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(all.len());
    for (first, last) in all {
        match out.last_mut() {
            Some(prev) if first <= prev.1 + 1 => prev.1 = prev.1.max(last),
            _ => out.push((first, last)),
        }
    }
    out
}

/// The ranges of `a` less those of `b` (both normalized).
fn subtract(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(first, last) in a {
        let mut start = first;
        for &(bf, bl) in b.iter().filter(|(bf, bl)| *bl >= first && *bf <= last) {
            if bf > start {
                out.push((start, bf - 1));
            }
            start = start.max(bl + 1);
        }
        if start <= last {
            out.push((start, last));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn cn(replica: u16, counter: u64) -> ChangeNumber {
        ChangeNumber { replica: ReplicaId(replica), counter }
    }

    fn set_of(cns: &[(u16, u64)]) -> CnSet {
        let mut s = CnSet::default();
        cns.iter().for_each(|(r, c)| {
            s.insert(cn(*r, *c));
        });
        s
    }

    #[test]
    fn a_replica_that_has_everything_holds_one_range() {
        let s = set_of(&[(1, 1), (1, 3), (1, 2), (1, 5), (1, 4)]);
        assert_eq!(s.ranges[&ReplicaId(1)], vec![(1, 5)]);
        assert_eq!(s.wire_size_bytes(), REPLICA_BYTES + RANGE_BYTES);
        let gaps = set_of(&[(1, 1), (1, 2), (2, 7)]).missing_from(&s);
        assert_eq!(gaps.iter().collect::<Vec<_>>(), vec![cn(1, 3), cn(1, 4), cn(1, 5)], "the backfill set");
    }

    fn cns() -> impl Strategy<Value = Vec<(u16, u64)>> {
        prop::collection::vec((0u16..3, 1u64..40), 0..60)
    }

    proptest! {
        /// Against a plain set of change numbers: insert, contains, len, union and the
        /// backfill set agree, and the ranges stay normalized.
        #[test]
        fn behaves_as_a_set(a in cns(), b in cns()) {
            let (sa, sb) = (set_of(&a), set_of(&b));
            let model = |v: &[(u16, u64)]| v.iter().map(|(r, c)| cn(*r, *c)).collect::<BTreeSet<_>>();
            let (ma, mb) = (model(&a), model(&b));
            prop_assert_eq!(sa.iter().collect::<BTreeSet<_>>(), ma.clone());
            prop_assert_eq!(sa.len(), ma.len() as u64);
            for r in 0..3 {
                for c in 1..42 {
                    prop_assert_eq!(sa.contains(cn(r, c)), ma.contains(&cn(r, c)));
                }
            }
            let mut union = sa.clone();
            union.union_with(&sb);
            prop_assert_eq!(union.iter().collect::<BTreeSet<_>>(), ma.union(&mb).copied().collect::<BTreeSet<_>>());
            prop_assert_eq!(sa.intersection(&sb).iter().collect::<BTreeSet<_>>(), ma.intersection(&mb).copied().collect::<BTreeSet<_>>());
            let missing = sa.missing_from(&sb);
            prop_assert_eq!(missing.iter().collect::<BTreeSet<_>>(), mb.difference(&ma).copied().collect::<BTreeSet<_>>());
            prop_assert!(union.covers(&sa) && union.covers(&sb));
            for ranges in union.ranges.values() {
                prop_assert!(ranges.windows(2).all(|w| w[0].1 + 1 < w[1].0), "normalized: {:?}", ranges);
            }
        }
    }
}
