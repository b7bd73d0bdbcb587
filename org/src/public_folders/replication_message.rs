//! Replication messages between public stores (EXCHANGE2003.md §8 [P]): ordinary mail
//! from one public store's replication agent to another's, of five types, each carrying
//! the sender's CNSet for the folder (its status). Changes go in batches of up to
//! 300 KB; an item larger than that travels alone.

use super::cn_set::{ChangeNumber, CnSet};

/// Most content bytes one replication message carries (§8).
pub const BATCH_LIMIT_BYTES: u64 = 300 * 1024;

/// A replication message's type, with its code as Exchange numbers it (§8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReplicationKind {
    Hierarchy,
    Content,
    BackfillRequest,
    Status,
    StatusRequest,
}

impl ReplicationKind {
    /// The type code.
    pub fn code(self) -> u8 {
        match self {
            ReplicationKind::Hierarchy => 0x2,
            ReplicationKind::Content => 0x4,
            ReplicationKind::BackfillRequest => 0x8,
            ReplicationKind::Status => 0x10,
            ReplicationKind::StatusRequest => 0x20,
        }
    }

    /// As traced.
    pub fn as_str(self) -> &'static str {
        match self {
            ReplicationKind::Hierarchy => "hierarchy",
            ReplicationKind::Content => "content",
            ReplicationKind::BackfillRequest => "backfill_request",
            ReplicationKind::Status => "status",
            ReplicationKind::StatusRequest => "status_request",
        }
    }
}

/// One change to send: its number and its size on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub cn: ChangeNumber,
    pub size_bytes: u64,
}

/// Cuts changes, in the order given, into messages of at most [`BATCH_LIMIT_BYTES`] each;
/// a change larger than the limit goes alone. Every change is in exactly one batch, in
/// order.
pub fn batches(changes: &[Change]) -> Vec<Vec<Change>> {
    let mut out: Vec<Vec<Change>> = Vec::new();
    let mut bytes = 0;
    for change in changes {
        let fits = out.last().is_some_and(|b| !b.is_empty() && bytes + change.size_bytes <= BATCH_LIMIT_BYTES);
        if !fits {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += change.size_bytes;
        out.last_mut().expect("a batch was opened").push(*change);
    }
    out
}

/// The CNSet of the changes a batch carries.
pub fn cn_set_of(batch: &[Change]) -> CnSet {
    let mut set = CnSet::default();
    for change in batch {
        set.insert(change.cn);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public_folders::cn_set::ReplicaId;
    use proptest::prelude::*;

    fn change(counter: u64, size_bytes: u64) -> Change {
        Change { cn: ChangeNumber { replica: ReplicaId(0), counter }, size_bytes }
    }

    #[test]
    fn a_large_item_travels_alone() {
        let cut = batches(&[change(1, 200 * 1024), change(2, 100 * 1024), change(3, 400 * 1024), change(4, 1)]);
        let sizes: Vec<usize> = cut.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 1, 1], "300 KB fill the first exactly; 400 KB alone; the last alone after it");
        assert_eq!(ReplicationKind::BackfillRequest.code(), 0x8);
    }

    proptest! {
        /// No change lost, none twice, order kept; every batch within the limit or a
        /// single item; no two neighbouring batches that would have fitted in one.
        #[test]
        fn batching_keeps_every_change(sizes in prop::collection::vec(1u64..500_000, 0..60)) {
            let changes: Vec<Change> = sizes.iter().enumerate().map(|(i, s)| change(i as u64 + 1, *s)).collect();
            let cut = batches(&changes);
            prop_assert_eq!(cut.concat(), changes.clone());
            let total = |b: &[Change]| b.iter().map(|c| c.size_bytes).sum::<u64>();
            for b in &cut {
                prop_assert!(b.len() == 1 || total(b) <= BATCH_LIMIT_BYTES, "{:?}", b);
            }
            for w in cut.windows(2) {
                prop_assert!(total(&w[0]) + w[1][0].size_bytes > BATCH_LIMIT_BYTES, "greedy: the next did not fit");
            }
            prop_assert_eq!(cut.iter().map(|b| cn_set_of(b).len()).sum::<u64>(), changes.len() as u64);
        }
    }
}
