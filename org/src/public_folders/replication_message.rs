//! Replication messages between public stores (EXCHANGE2003.md §8 [P]): ordinary mail
//! from one public store's replication agent to another's, of five types, each carrying
//! the sender's CNSet for the folder (its status). Changes go in batches of up to
//! 300 KB; an item larger than that travels alone.

use super::cn_set::{ChangeNumber, CnSet, ReplicaId};
use super::replicated_table::Entry;

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

/// A folder's id: the change number of its creation (Exchange's FID).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FolderId(pub ChangeNumber);

/// What a replication message is about: the hierarchy, or one folder's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FolderKey {
    Hierarchy,
    Folder(FolderId),
}

/// When a folder's content replicates (§8): "Always" is every cycle (15 minutes);
/// otherwise the hours of the week the schedule grid opens (whole hours [U]: Exchange's
/// grid has 15-minute cells).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplicationSchedule {
    #[default]
    Always,
    Never,
    Hours(crate::calendar::WeeklyHours),
}

impl ReplicationSchedule {
    /// Whether content replicates at `now` on this calendar.
    pub fn is_open(&self, calendar: &crate::calendar::Calendar, now: crate::time::Instant) -> bool {
        match self {
            ReplicationSchedule::Always => true,
            ReplicationSchedule::Never => false,
            ReplicationSchedule::Hours(hours) => hours.is_open(calendar, now),
        }
    }
}

/// A folder as the hierarchy holds it: its name, parent, replica list and settings
/// (replica lists and schedules are folder properties, replicated with the hierarchy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FolderProps {
    pub name: String,
    /// None for a top-level folder.
    pub parent: Option<FolderId>,
    /// The public stores holding its content, sorted.
    pub replicas: Vec<ReplicaId>,
    /// Its own schedule; None: each store's default.
    pub schedule: Option<ReplicationSchedule>,
    /// Whether it is a recipient with an address.
    pub mail_enabled: bool,
    /// The permissions of the `Default` user (everyone not listed): Exchange gives new
    /// folders Author.
    pub default_role: DefaultRole,
}

/// A client permission role of a folder (a subset of Exchange's, by what clients do
/// here: open and post).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DefaultRole {
    /// Read and create items (Exchange's default for `Default`).
    #[default]
    Author,
    /// Read only.
    Reviewer,
    /// No access: the folder cannot be opened.
    None,
}

impl DefaultRole {
    /// Whether the role may open the folder and read.
    pub fn can_read(self) -> bool {
        self != DefaultRole::None
    }

    /// Whether the role may post.
    pub fn can_post(self) -> bool {
        self == DefaultRole::Author
    }
}

/// An item (a post or a mail) in a folder: its size is what replication carries; an
/// OAB message also says which file it carries (clients choose their download by it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemProps {
    pub size_bytes: u64,
    pub oab_file: Option<crate::system_attendant::oab::distribution::OabFile>,
}

impl ItemProps {
    /// A post or mail of this size.
    pub fn plain(size_bytes: u64) -> ItemProps {
        ItemProps { size_bytes, oab_file: None }
    }
}

/// What a replication message carries besides the sender's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// Status and status request messages.
    Nothing,
    /// Hierarchy: folders changed.
    Folders(Vec<Entry<FolderProps>>),
    /// Content: items changed.
    Items(Vec<Entry<ItemProps>>),
    /// Backfill request: the change numbers wanted.
    Request(CnSet),
}

/// One replication message from a public store to others.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationMessage {
    pub kind: ReplicationKind,
    pub folder: FolderKey,
    pub from: ReplicaId,
    /// The sender's CNSet for the folder (or the hierarchy): its status.
    pub status: CnSet,
    pub payload: Payload,
}

/// Envelope, headers and the replication properties of a message, and of each entry
/// besides its content and PCL [U].
const HEADER_BYTES: u64 = 2 * 1024;
const ENTRY_BYTES: u64 = 256;
/// Bytes a replica id takes in a replica list (a GUID).
const REPLICA_ID_BYTES: u64 = 16;

/// Bytes a folder entry takes on the wire.
pub fn folder_bytes(e: &Entry<FolderProps>) -> u64 {
    let props = e.value.as_ref().map_or(0, |f| f.name.len() as u64 + REPLICA_ID_BYTES * f.replicas.len() as u64);
    ENTRY_BYTES + e.pcl.wire_size_bytes() + props
}

/// Bytes an item entry takes on the wire (a deletion carries no content).
pub fn item_bytes(e: &Entry<ItemProps>) -> u64 {
    ENTRY_BYTES + e.pcl.wire_size_bytes() + e.value.map_or(0, |i| i.size_bytes)
}

impl ReplicationMessage {
    /// Its size as the transport carries it.
    pub fn size_bytes(&self) -> u64 {
        let payload = match &self.payload {
            Payload::Nothing => 0,
            Payload::Folders(f) => f.iter().map(folder_bytes).sum(),
            Payload::Items(i) => i.iter().map(item_bytes).sum(),
            Payload::Request(cns) => cns.wire_size_bytes(),
        };
        HEADER_BYTES + self.status.wire_size_bytes() + payload
    }

    /// How many changes it carries (folders or items), or asks for.
    pub fn changes(&self) -> u64 {
        match &self.payload {
            Payload::Nothing => 0,
            Payload::Folders(f) => f.len() as u64,
            Payload::Items(i) => i.len() as u64,
            Payload::Request(cns) => cns.len(),
        }
    }
}

/// Cuts items, in the order given, into messages of at most [`BATCH_LIMIT_BYTES`] each;
/// an item larger than the limit goes alone. Every item is in exactly one batch, in
/// order. `lose_overflow` is a planted bug: the item that overflows a batch is dropped.
pub fn batches<T>(items: Vec<T>, size_bytes: impl Fn(&T) -> u64, lose_overflow: bool) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = Vec::new();
    let mut bytes = 0;
    for item in items {
        let size = size_bytes(&item);
        let open = out.last().is_some_and(|b| !b.is_empty());
        if !(open && bytes + size <= BATCH_LIMIT_BYTES) {
            out.push(Vec::new());
            bytes = 0;
            if open && lose_overflow {
                continue;
            }
        }
        bytes += size;
        out.last_mut().expect("a batch was opened").push(item);
    }
    out.retain(|b| !b.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public_folders::cn_set::ReplicaId;
    use proptest::prelude::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Change {
        cn: ChangeNumber,
        size_bytes: u64,
    }

    fn change(counter: u64, size_bytes: u64) -> Change {
        Change { cn: ChangeNumber { replica: ReplicaId(0), counter }, size_bytes }
    }

    fn cut(changes: &[Change]) -> Vec<Vec<Change>> {
        batches(changes.to_vec(), |c| c.size_bytes, false)
    }

    #[test]
    fn a_large_item_travels_alone() {
        let changes = [change(1, 200 * 1024), change(2, 100 * 1024), change(3, 400 * 1024), change(4, 1)];
        let cut = cut(&changes);
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
            let cut = cut(&changes);
            prop_assert_eq!(cut.concat(), changes.clone());
            let total = |b: &[Change]| b.iter().map(|c| c.size_bytes).sum::<u64>();
            for b in &cut {
                prop_assert!(b.len() == 1 || total(b) <= BATCH_LIMIT_BYTES, "{:?}", b);
            }
            for w in cut.windows(2) {
                prop_assert!(total(&w[0]) + w[1][0].size_bytes > BATCH_LIMIT_BYTES, "greedy: the next did not fit");
            }
            let lossy = batches(changes.clone(), |c| c.size_bytes, true).concat();
            prop_assert_eq!(lossy.len() < changes.len(), cut.len() > 1, "the planted bug loses one per overflow");
        }
    }
}
