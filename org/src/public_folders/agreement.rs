//! What "converged" and "nothing lost" mean for public folders (EXCHANGE2003.md §8),
//! for the property test and the simulator's checks alike: every store holds one
//! hierarchy; every replica of a folder, and only the stores on its replica list, hold
//! one CNSet and the same items.

use super::cn_set::{CnSet, ReplicaId};
use super::public_store::PublicStore;
use super::replication_message::{FolderId, FolderKey};
use std::collections::BTreeMap;

/// Names folders and stores in a disagreement's words.
pub struct Names<'a> {
    pub folder: &'a dyn Fn(FolderId) -> String,
    pub store: &'a dyn Fn(ReplicaId) -> String,
}

/// The first way the stores disagree, in words; None when they have converged.
pub fn disagreement(stores: &[&PublicStore], names: &Names<'_>) -> Option<String> {
    let first = stores.first()?;
    let live = first.live_folders();
    let store = |r: ReplicaId| (names.store)(r);
    for s in stores {
        if s.hierarchy().cn_set() != first.hierarchy().cn_set() || s.live_folders() != live {
            let (a, b) = (store(first.replica()), store(s.replica()));
            return Some(format!("{a} and {b} hold different hierarchies"));
        }
    }
    for (folder, props) in &live {
        let name = (names.folder)(*folder);
        let holders: Vec<&&PublicStore> = stores.iter().filter(|s| s.folders().contains_key(folder)).collect();
        let named: Vec<ReplicaId> = holders.iter().map(|s| s.replica()).collect();
        if named != props.replicas {
            let list = |rs: &[ReplicaId]| rs.iter().map(|r| store(*r)).collect::<Vec<_>>().join(", ");
            let (held, listed) = (list(&named), list(&props.replicas));
            return Some(format!("{name} is held by [{held}], its replica list is [{listed}]"));
        }
        let Some(reference) = holders.first() else { continue };
        let items = &reference.folders()[folder].items;
        if let Some(other) = holders.iter().find(|s| &s.folders()[folder].items != items) {
            let (a, b) = (store(reference.replica()), store(other.replica()));
            let (na, nb) = (items.cn_set().len(), other.folders()[folder].items.cn_set().len());
            return Some(format!("{name}: {a} and {b} hold different content ({na} and {nb} change numbers)"));
        }
    }
    None
}

/// Every change number the stores hold, for the hierarchy and each folder they hold.
pub fn held_changes(stores: &[&PublicStore]) -> BTreeMap<FolderKey, CnSet> {
    let mut held: BTreeMap<FolderKey, CnSet> = BTreeMap::new();
    for s in stores {
        held.entry(FolderKey::Hierarchy).or_default().union_with(s.hierarchy().cn_set());
        for (folder, replica) in s.folders() {
            held.entry(FolderKey::Folder(*folder)).or_default().union_with(replica.items.cn_set());
        }
    }
    held
}
