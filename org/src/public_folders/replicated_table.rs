//! What a public store replicates: the folder hierarchy (one entry per folder), or one
//! folder's content (one entry per item). Every entry carries the change numbers of its
//! changes the store knows — its predecessor change list (PCL) in Exchange's terms — and
//! the table's CNSet is the union of them: every change the store holds.
//!
//! An entry keeps its newest version: changes are ordered by when they were made, then
//! by change number (a conflict between two replicas changing one item between cycles
//! is resolved last-writer-wins [U]; Exchange 2003 would also post a conflict message).
//! Because a holder keeps the newest version of everything its PCL names, a store's
//! content is a function of its CNSet: two replicas with one CNSet hold the same thing.

use super::cn_set::{ChangeNumber, CnSet};
use crate::time::Instant;
use std::collections::BTreeMap;

/// When a change was made and its number: the order of versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub at: Instant,
    pub cn: ChangeNumber,
}

/// One folder or item as a store holds it (and as a replication message carries it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry<V> {
    /// The change that created it: its id (a folder's FID, an item's MID).
    pub id: ChangeNumber,
    /// Its newest change.
    pub version: Version,
    /// Every change of it the holder knows, the newest included.
    pub pcl: CnSet,
    /// What it is now; `None` once deleted (the tombstone replicates the deletion).
    pub value: Option<V>,
}

/// The entries of a hierarchy or a folder's content on one store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicatedTable<V> {
    entries: BTreeMap<ChangeNumber, Entry<V>>,
    cn_set: CnSet,
    /// Which entry each known change number belongs to (to answer backfill requests).
    owner: BTreeMap<ChangeNumber, ChangeNumber>,
}

impl<V> Default for ReplicatedTable<V> {
    fn default() -> Self {
        ReplicatedTable { entries: BTreeMap::new(), cn_set: CnSet::default(), owner: BTreeMap::new() }
    }
}

impl<V: Clone + PartialEq> ReplicatedTable<V> {
    /// A change made on this store: creates `id` (when it is `cn` itself), changes it,
    /// or deletes it (`value` None). Returns the entry as it now is.
    pub fn change(&mut self, cn: ChangeNumber, at: Instant, id: ChangeNumber, value: Option<V>) -> &Entry<V> {
        debug_assert!(!self.cn_set.contains(cn), "a change number is used once");
        let mut version = Version { at, cn };
        let entry = self.entries.entry(id).or_insert_with(|| Entry { id, version, pcl: CnSet::default(), value: None });
        if version < entry.version {
            // A change made after seeing another must win over it (made in the same
            // millisecond, it could order below by change number): one tick later.
            version.at = entry.version.at.plus_ms(1);
        }
        entry.version = version;
        entry.value = value;
        entry.pcl.insert(cn);
        self.cn_set.insert(cn);
        self.owner.insert(cn, id);
        &self.entries[&id]
    }

    /// An entry from another store: its changes join the CNSet; its value replaces this
    /// store's when newer. False when it brought no change this store lacked.
    pub fn apply(&mut self, incoming: &Entry<V>) -> bool {
        if self.cn_set.covers(&incoming.pcl) {
            return false;
        }
        let entry = self.entries.entry(incoming.id).or_insert_with(|| Entry {
            id: incoming.id,
            version: incoming.version,
            pcl: CnSet::default(),
            value: incoming.value.clone(),
        });
        if incoming.version > entry.version {
            entry.version = incoming.version;
            entry.value = incoming.value.clone();
        }
        entry.pcl.union_with(&incoming.pcl);
        self.cn_set.union_with(&incoming.pcl);
        for cn in incoming.pcl.iter() {
            self.owner.insert(cn, incoming.id);
        }
        true
    }

    /// The entries that hold any of `cns` (a backfill request's answer), by id.
    pub fn entries_covering(&self, cns: &CnSet) -> Vec<Entry<V>> {
        let mut ids: Vec<ChangeNumber> = cns.iter().filter_map(|cn| self.owner.get(&cn).copied()).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.iter().map(|id| self.entries[id].clone()).collect()
    }

    /// Entries whose newest change was made at or after `since` (Send Contents).
    pub fn changed_since(&self, since: Instant) -> Vec<Entry<V>> {
        self.entries.values().filter(|e| e.version.at >= since).cloned().collect()
    }

    /// Every change number it holds: its status.
    pub fn cn_set(&self) -> &CnSet {
        &self.cn_set
    }

    /// One entry.
    pub fn get(&self, id: ChangeNumber) -> Option<&Entry<V>> {
        self.entries.get(&id)
    }

    /// Every entry, tombstones included, by id.
    pub fn entries(&self) -> impl Iterator<Item = &Entry<V>> {
        self.entries.values()
    }

    /// The live (not deleted) entries with their values, by id.
    pub fn live(&self) -> impl Iterator<Item = (ChangeNumber, &V)> {
        self.entries.values().filter_map(|e| e.value.as_ref().map(|v| (e.id, v)))
    }

    /// Drops tombstones whose deletion is older than `before` (deleted folders after 180
    /// days, §8); their change numbers stay in the CNSet, so nothing asks for them again.
    pub fn purge_tombstones(&mut self, before: Instant) -> Vec<ChangeNumber> {
        let old: Vec<ChangeNumber> =
            self.entries.values().filter(|e| e.value.is_none() && e.version.at < before).map(|e| e.id).collect();
        for id in &old {
            self.entries.remove(id);
        }
        self.owner.retain(|_, id| !old.contains(id));
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public_folders::cn_set::ReplicaId;

    fn cn(replica: u16, counter: u64) -> ChangeNumber {
        ChangeNumber { replica: ReplicaId(replica), counter }
    }

    #[test]
    fn the_newest_version_wins_whatever_the_order() {
        let (mut a, mut b) = (ReplicatedTable::<u32>::default(), ReplicatedTable::<u32>::default());
        let created = a.change(cn(1, 1), Instant(10), cn(1, 1), Some(1)).clone();
        assert!(b.apply(&created));
        let changed_on_b = b.change(cn(2, 1), Instant(20), cn(1, 1), Some(2)).clone();
        let changed_on_a = a.change(cn(1, 2), Instant(30), cn(1, 1), Some(3)).clone();
        assert!(a.apply(&changed_on_b));
        assert!(b.apply(&changed_on_a));
        assert!(!b.apply(&changed_on_a), "nothing new the second time");
        assert_eq!(a, b, "same CNSet, same content");
        assert_eq!(a.get(cn(1, 1)).unwrap().value, Some(3));
        assert_eq!(a.entries_covering(&b.cn_set().clone()).len(), 1);
    }

    #[test]
    fn tombstones_are_purged_but_their_changes_stay_known() {
        let mut t = ReplicatedTable::<u32>::default();
        t.change(cn(1, 1), Instant(10), cn(1, 1), Some(1));
        t.change(cn(1, 2), Instant(20), cn(1, 1), None);
        assert_eq!(t.live().count(), 0);
        assert_eq!(t.purge_tombstones(Instant(21)), vec![cn(1, 1)]);
        assert!(t.cn_set().contains(cn(1, 2)));
        let old = Entry {
            id: cn(1, 1),
            version: Version { at: Instant(10), cn: cn(1, 1) },
            pcl: cn_set(&[(1, 1)]),
            value: Some(1),
        };
        assert!(!t.apply(&old), "a purged folder does not come back");
    }

    fn cn_set(cns: &[(u16, u64)]) -> CnSet {
        let mut s = CnSet::default();
        cns.iter().for_each(|(r, c)| {
            s.insert(cn(*r, *c));
        });
        s
    }
}
