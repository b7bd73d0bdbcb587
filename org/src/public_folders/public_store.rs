//! A public store and its replication agent (EXCHANGE2003.md §8). The store holds the
//! organization's folder hierarchy and the content of the folders whose replica list
//! names it; every replica is primary. Changes made here get this store's change
//! numbers and go out on the replication cycle ("Always": every 15 minutes) as
//! replication messages — hierarchy to every public store, content to the folder's
//! other replicas — each carrying this store's CNSet for what it is about. What another
//! store's status shows and this one lacks waits in the backfill array for its timeout,
//! then is asked for. The agent is pure: the server hands it time and messages and
//! sends what it asks to send as mail.

use super::backfill::{choose_sources, timeout_ms, BackfillArray, Candidate, PeerInfo, SourceRule};
use super::cn_set::{ChangeNumber, CnSet, ReplicaId};
use super::replicated_table::{Entry, ReplicatedTable};
use super::replication_message::{
    batches, folder_bytes, item_bytes, FolderId, FolderKey, FolderProps, ItemProps, Payload, ReplicationKind,
    ReplicationMessage, ReplicationSchedule,
};
use crate::time::{Instant, DAY_MS, MINUTE_MS};
use std::collections::{BTreeMap, BTreeSet};

/// The replica id of changes made before the run (the scenario's starting folders and
/// items): no store makes changes under it during the run.
pub const SETUP: ReplicaId = ReplicaId(u16::MAX);

/// A public store's replication settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicStoreSettings {
    /// How often the agent runs its cycle: "Always" replicates every 15 minutes (§8).
    pub cycle_ms: u64,
    /// How often a replica tells the others its status when it changed [U: 24 h].
    pub status_interval_ms: u64,
    /// How long a hierarchy change waits for its parent (7 days, §8).
    pub hierarchy_wait_ms: u64,
    /// How long a deleted folder's tombstone is kept (180 days, §8).
    pub tombstone_ms: u64,
    /// The store's default content replication schedule.
    pub schedule: ReplicationSchedule,
    /// The run's calendar: schedules are times of day.
    pub calendar: crate::calendar::Calendar,
    /// How backfill sources are ranked (by the server's version).
    pub source_rule: SourceRule,
    /// The preferred backfill source, when set.
    pub preferred_source: Option<ReplicaId>,
    /// The server's 2003 custom referral list (server, cost); None: referrals follow
    /// the routing groups.
    pub referrals: Option<Vec<(crate::ServerId, u32)>>,
    /// Event 9682 is logged for a deletion here (SP2, diagnostics logging Medium or
    /// higher).
    pub log_deletions: bool,
    /// Planted bug: a change that overflows a 300 KB batch is dropped.
    pub lose_batch_overflow: bool,
    /// Planted bug: backfill requests go out as soon as changes are missed.
    pub backfill_without_timeout: bool,
}

impl Default for PublicStoreSettings {
    fn default() -> Self {
        PublicStoreSettings {
            cycle_ms: 15 * MINUTE_MS,
            status_interval_ms: DAY_MS,
            hierarchy_wait_ms: 7 * DAY_MS,
            tombstone_ms: 180 * DAY_MS,
            schedule: ReplicationSchedule::Always,
            calendar: crate::calendar::Calendar::UNIX_EPOCH,
            source_rule: SourceRule::CostFirst,
            preferred_source: None,
            referrals: None,
            log_deletions: false,
            lose_batch_overflow: false,
            backfill_without_timeout: false,
        }
    }
}

/// What the agent asks of its server, or reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PfOutput {
    /// Send this message as mail to these public stores.
    Send { to: Vec<ReplicaId>, message: ReplicationMessage },
    /// Missing changes entered the backfill array; the request goes out at `due`.
    BackfillQueued { folder: FolderKey, changes: u64, due: Instant },
    /// A backfill request went to `source` for `changes` change numbers, `waited_ms`
    /// after its entry was made; its timeouts ask for at least `min_wait_ms`.
    BackfillRequested { folder: FolderKey, source: ReplicaId, changes: u64, waited_ms: u64, min_wait_ms: u64 },
    /// A hierarchy change waits for its parent folder.
    HierarchyWaiting { folder: FolderId },
    /// A hierarchy change waited 7 days for its parent and was dropped.
    HierarchyExpired { folder: FolderId },
    /// This store became a replica of the folder.
    ReplicaAdded { folder: FolderId },
    /// This store dropped its replica of the folder (every change it held is held by a
    /// remaining replica).
    ReplicaRemoved { folder: FolderId },
    /// A folder was deleted on this store by `by` (event 9682 on SP2 at logging level
    /// Medium).
    FolderDeleted { folder: FolderId, name: String, by: crate::AddressId },
}

/// One folder's content on this store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FolderReplica {
    pub items: ReplicatedTable<ItemProps>,
    /// Items changed here since the last cycle.
    unsent: BTreeSet<ChangeNumber>,
    /// The status last told the other replicas.
    status_told: CnSet,
    /// Asks the other replicas for their status at the next cycle (a new replica).
    wants_status: bool,
    /// Removed from the replica list; kept until a remaining replica holds it all.
    leaving: bool,
}

/// A public store with its replication agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicStore {
    replica: ReplicaId,
    /// The last change number's counter used here (durable with the store).
    counter: u64,
    settings: PublicStoreSettings,
    peers: BTreeMap<ReplicaId, PeerInfo>,
    hierarchy: ReplicatedTable<FolderProps>,
    /// Hierarchy changes whose parent has not arrived, with when they arrived.
    waiting: Vec<(Entry<FolderProps>, Instant)>,
    unsent_hierarchy: BTreeSet<ChangeNumber>,
    hierarchy_told: CnSet,
    folders: BTreeMap<FolderId, FolderReplica>,
    /// The last status each other store gave for each folder (and the hierarchy).
    statuses: BTreeMap<(FolderKey, ReplicaId), CnSet>,
    backfill: BackfillArray,
    content_stopped: bool,
    /// Backfill requests for content that came while content replication was stopped.
    deferred: Vec<(ReplicaId, FolderId, CnSet)>,
    next_cycle: Instant,
    next_status: Instant,
    out: Vec<PfOutput>,
}

impl PublicStore {
    /// A store holding the organization's starting hierarchy and, for the folders whose
    /// replica list names it, their starting items.
    pub fn new(
        replica: ReplicaId,
        settings: PublicStoreSettings,
        peers: BTreeMap<ReplicaId, PeerInfo>,
        setup: &Setup,
        now: Instant,
    ) -> PublicStore {
        let mut store = PublicStore {
            replica,
            counter: 0,
            next_cycle: now.plus_ms(settings.cycle_ms),
            next_status: now.plus_ms(settings.status_interval_ms),
            settings,
            peers,
            hierarchy: ReplicatedTable::default(),
            waiting: Vec::new(),
            unsent_hierarchy: BTreeSet::new(),
            hierarchy_told: CnSet::default(),
            folders: BTreeMap::new(),
            statuses: BTreeMap::new(),
            backfill: BackfillArray::default(),
            content_stopped: false,
            deferred: Vec::new(),
            out: Vec::new(),
        };
        for folder in &setup.folders {
            store.hierarchy.apply(folder);
        }
        for (folder, props) in store.live_folders() {
            if props.replicas.contains(&replica) {
                let mut content = FolderReplica::default();
                for item in setup.items.get(&folder).into_iter().flatten() {
                    content.items.apply(item);
                }
                content.status_told = content.items.cn_set().clone();
                store.folders.insert(folder, content);
            }
        }
        store.hierarchy_told = store.hierarchy.cn_set().clone();
        store
    }

    /// This store's replica id.
    pub fn replica(&self) -> ReplicaId {
        self.replica
    }

    /// The hierarchy as this store holds it.
    pub fn hierarchy(&self) -> &ReplicatedTable<FolderProps> {
        &self.hierarchy
    }

    /// The folders whose content this store holds.
    pub fn folders(&self) -> &BTreeMap<FolderId, FolderReplica> {
        &self.folders
    }

    /// Whether this store holds a replica of the folder clients may use (not one that
    /// is leaving).
    pub fn holds(&self, folder: FolderId) -> bool {
        self.folders.get(&folder).is_some_and(|r| !r.leaving)
    }

    /// The backfill array.
    pub fn backfill(&self) -> &BackfillArray {
        &self.backfill
    }

    /// Live folders with their properties, by id.
    pub fn live_folders(&self) -> Vec<(FolderId, FolderProps)> {
        self.hierarchy.live().map(|(id, p)| (FolderId(id), p.clone())).collect()
    }

    /// One live folder's properties.
    pub fn folder(&self, folder: FolderId) -> Option<&FolderProps> {
        self.hierarchy.get(folder.0).and_then(|e| e.value.as_ref())
    }

    /// Takes what the agent produced, in order.
    pub fn drain(&mut self) -> Vec<PfOutput> {
        std::mem::take(&mut self.out)
    }

    /// The next instant the agent has work.
    pub fn poll_timeout(&self) -> Instant {
        let backfill = self.backfill.next_due().map(|d| d.max(self.next_cycle));
        [Some(self.next_cycle), backfill].into_iter().flatten().min().expect("the cycle is always set")
    }

    /// The other stores as this one knows them: version, transport cost, site.
    pub fn peers(&self) -> &BTreeMap<ReplicaId, PeerInfo> {
        &self.peers
    }

    /// Who the transport cost, version and site of the other stores are now.
    pub fn set_peers(&mut self, peers: BTreeMap<ReplicaId, PeerInfo>) {
        self.peers = peers;
    }

    fn next_cn(&mut self) -> ChangeNumber {
        self.counter += 1;
        ChangeNumber { replica: self.replica, counter: self.counter }
    }
}

/// The organization's public folders before the run: every store starts from it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Setup {
    pub folders: Vec<Entry<FolderProps>>,
    pub items: BTreeMap<FolderId, Vec<Entry<ItemProps>>>,
    /// The last setup change number's counter.
    counter: u64,
}

impl Setup {
    /// Adds a folder; its id is the next setup change number.
    pub fn folder(&mut self, props: FolderProps) -> FolderId {
        let cn = self.next_cn();
        let mut pcl = CnSet::default();
        pcl.insert(cn);
        let version = super::replicated_table::Version { at: Instant::ZERO, cn };
        self.folders.push(Entry { id: cn, version, pcl, value: Some(props) });
        FolderId(cn)
    }

    /// The starting replica list of a folder set up here.
    pub fn replicas_of(&self, folder: FolderId) -> Vec<ReplicaId> {
        let entry = self.folders.iter().find(|e| FolderId(e.id) == folder);
        entry.and_then(|e| e.value.as_ref()).map(|p| p.replicas.clone()).unwrap_or_default()
    }

    /// Adds `count` items of `size_bytes` to a folder.
    pub fn items(&mut self, folder: FolderId, count: u64, size_bytes: u64) {
        for _ in 0..count {
            self.item(folder, ItemProps::plain(size_bytes));
        }
    }

    /// Adds one item to a folder.
    pub fn item(&mut self, folder: FolderId, props: ItemProps) {
        let cn = self.next_cn();
        let mut pcl = CnSet::default();
        pcl.insert(cn);
        let version = super::replicated_table::Version { at: Instant::ZERO, cn };
        let entry = Entry { id: cn, version, pcl, value: Some(props) };
        self.items.entry(folder).or_default().push(entry);
    }

    fn next_cn(&mut self) -> ChangeNumber {
        self.counter += 1;
        ChangeNumber { replica: SETUP, counter: self.counter }
    }
}

mod admin;
pub use admin::PfAdmin;
mod changes;
pub use changes::PfRefusal;
mod cycle;
mod receive;
#[cfg(test)]
mod tests;
