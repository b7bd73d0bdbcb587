//! Active Directory multi-master replication of one naming context (a domain partition,
//! or the partial replica a global catalog holds of it) on one domain controller
//! (EXCHANGE2003.md §2, "Replication mechanics").
//!
//! Every write is numbered by the DC that makes it with its own update sequence number
//! (USN); every attribute carries its replication metadata: version, originating time,
//! originating DC and originating USN, plus the USN under which this replica stored it.
//! A destination pulls from a source: "everything you stored after USN h (my high-water
//! mark for you) that I have not seen", where "seen" is the destination's up-to-dateness
//! vector — per originating DC, the highest originating USN it has applied — so a change
//! that reaches a DC by two paths is applied once (propagation dampening). Conflicts are
//! settled per attribute: higher version, then later originating time, then the higher
//! originating DC (Windows compares DC GUIDs; orgsim's DC ids stand in for them).
//! Deletion writes `isDeleted`, leaving a tombstone that replicates like any write and is
//! removed after the tombstone lifetime (60 days).
//!
//! Sans-IO: the driver moves [`ChangeBatch`]es between replicas; time comes in as
//! arguments. Left out: linked-value replication (multi-valued attributes replicate
//! whole, as between Windows 2000 DCs), LostAndFound for orphans (objects here are
//! flat), schema and configuration partitions.

use crate::planted_bugs::{PlantedBug, Plants};
use std::collections::BTreeMap;

/// A domain controller, by its index in the forest's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct DcId(pub u16);

/// An update sequence number, local to one DC.
pub type Usn = u64;

/// An object's identity (its objectGUID), stable across replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ObjectId(pub u64);

/// The attribute that marks a tombstone.
pub const IS_DELETED: &str = "isdeleted";

/// EXCHANGE2003.md §2: tombstone lifetime 60 days [P].
pub const TOMBSTONE_LIFETIME_MS: u64 = 60 * 24 * 3_600_000;

/// Replication metadata of one attribute of one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttributeMeta {
    /// Raised by one on every originating write.
    pub version: u32,
    /// When the originating write happened (simulated ms).
    pub originating_time_ms: u64,
    /// The DC that made the originating write.
    pub originating_dc: DcId,
    /// That DC's USN for the write.
    pub originating_usn: Usn,
}

impl AttributeMeta {
    /// The order conflicts are settled in: version, then time, then DC.
    fn rank(&self) -> (u32, u64, DcId) {
        (self.version, self.originating_time_ms, self.originating_dc)
    }
}

/// One attribute's values (multi-valued attributes replicate whole) and metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// Values; empty means cleared.
    pub values: Vec<String>,
    /// Replication metadata.
    pub meta: AttributeMeta,
    /// The USN under which this replica stored it.
    pub local_usn: Usn,
}

/// An object as one replica holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Object {
    /// Attributes by lower-case LDAP name.
    pub attributes: BTreeMap<String, Attribute>,
}

impl Object {
    /// Whether the object is a tombstone.
    pub fn is_deleted(&self) -> bool {
        self.attributes.get(IS_DELETED).is_some_and(|a| a.values.first().is_some_and(|v| v == "TRUE"))
    }

    /// The values of an attribute (empty when absent).
    pub fn values(&self, name: &str) -> &[String] {
        self.attributes.get(name).map_or(&[], |a| &a.values)
    }
}

/// One replicated attribute value in a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The object.
    pub object: ObjectId,
    /// Attribute name.
    pub attribute: String,
    /// Its values.
    pub values: Vec<String>,
    /// Its metadata.
    pub meta: AttributeMeta,
    /// The source's USN for it (what the destination's high-water mark advances to).
    pub source_usn: Usn,
}

/// The answer to a pull: changes in the source's USN order, where the source got to,
/// and the source's up-to-dateness vector (merged by the destination once the cycle is
/// complete).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeBatch {
    /// The replica that answered.
    pub source: DcId,
    /// Changes the destination has not seen.
    pub changes: Vec<Change>,
    /// The destination's new high-water mark for the source.
    pub high_usn: Usn,
    /// Whether more changes wait (the batch hit its bound).
    pub more: bool,
    /// The source's up-to-dateness vector (sent with the last batch of a cycle).
    pub source_utd: BTreeMap<DcId, Usn>,
}

/// Bytes of a batch on the wire [U]: a header, and per change its GUID, attribute id,
/// metadata and values.
pub fn batch_wire_size_bytes(batch: &ChangeBatch) -> u64 {
    let per_change: u64 =
        batch.changes.iter().map(|c| 96 + c.values.iter().map(|v| v.len() as u64 + 8).sum::<u64>()).sum();
    120 + 24 * batch.source_utd.len() as u64 + per_change
}

/// Bytes of a pull request [U]: the naming context, high-water mark and the
/// destination's up-to-dateness vector.
pub fn request_wire_size_bytes(utd_entries: usize) -> u64 {
    160 + 24 * utd_entries as u64
}

/// What a destination did with a batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Changes that won and were stored.
    pub stored: u32,
    /// Changes that lost to what this replica had (or were the same).
    pub discarded: u32,
}

/// One DC's replica of one naming context.
#[derive(Clone, Debug)]
pub struct Replica {
    dc: DcId,
    usn: Usn,
    objects: BTreeMap<ObjectId, Object>,
    /// Per originating DC, the highest originating USN applied here (this DC included).
    utd: BTreeMap<DcId, Usn>,
    /// Per source DC, the highest source USN pulled from it.
    hwm: BTreeMap<DcId, Usn>,
    /// XOR of [`attribute_hash`] over every attribute held: equal content, equal digest.
    digest: u64,
    /// Every attribute held, by the local USN it was stored under (what a pull scans).
    by_usn: BTreeMap<Usn, (ObjectId, String)>,
    /// Planted bugs switched on (none in real use).
    plants: Plants,
    /// Tombstones held (kept as writes store, so reading it is O(1)).
    tombstones: usize,
}

/// A hash of one attribute's content (object, name, values, originating metadata),
/// FNV-1a; XOR-combined so a replica's digest follows each store in O(1).
fn attribute_hash(object: ObjectId, name: &str, values: &[String], meta: &AttributeMeta) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(&object.0.to_le_bytes());
    eat(name.as_bytes());
    for v in values {
        eat(&(v.len() as u64).to_le_bytes());
        eat(v.as_bytes());
    }
    eat(&meta.version.to_le_bytes());
    eat(&meta.originating_time_ms.to_le_bytes());
    eat(&meta.originating_dc.0.to_le_bytes());
    eat(&meta.originating_usn.to_le_bytes());
    h
}

impl Replica {
    /// An empty replica on `dc`.
    pub fn new(dc: DcId) -> Self {
        Replica {
            dc,
            usn: 0,
            objects: BTreeMap::new(),
            utd: BTreeMap::new(),
            hwm: BTreeMap::new(),
            digest: 0,
            by_usn: BTreeMap::new(),
            plants: Plants::NONE,
            tombstones: 0,
        }
    }

    /// The same replica with these planted bugs switched on.
    pub fn with_plants(mut self, plants: Plants) -> Self {
        self.plants = plants;
        self
    }

    /// The DC holding it.
    pub fn dc(&self) -> DcId {
        self.dc
    }

    /// The highest USN this DC has used.
    pub fn usn(&self) -> Usn {
        self.usn
    }

    /// The object, tombstone or not.
    pub fn object(&self, id: ObjectId) -> Option<&Object> {
        self.objects.get(&id)
    }

    /// Every object, tombstones included, in id order.
    pub fn objects(&self) -> impl Iterator<Item = (ObjectId, &Object)> {
        self.objects.iter().map(|(id, o)| (*id, o))
    }

    /// The up-to-dateness vector.
    pub fn utd(&self) -> &BTreeMap<DcId, Usn> {
        &self.utd
    }

    /// Every high-water mark, by source.
    pub fn high_water_marks(&self) -> BTreeMap<DcId, Usn> {
        self.hwm.clone()
    }

    /// Objects held, tombstones included.
    pub fn object_count(&self) -> usize {
        self.objects.len()
    }

    /// Tombstones held.
    pub fn tombstone_count(&self) -> usize {
        debug_assert_eq!(self.tombstones, self.objects.values().filter(|o| o.is_deleted()).count());
        self.tombstones
    }

    /// The high-water mark for a source.
    pub fn high_water_mark(&self, source: DcId) -> Usn {
        self.hwm.get(&source).copied().unwrap_or(0)
    }

    /// An originating write on this DC: each attribute's version goes up by one.
    pub fn write(&mut self, now_ms: u64, object: ObjectId, attributes: &[(&str, Vec<String>)]) {
        for (name, values) in attributes {
            let name = name.to_ascii_lowercase();
            self.usn += 1;
            let usn = self.usn;
            let entry = self.objects.entry(object).or_default();
            let was_deleted = entry.is_deleted();
            let version = entry.attributes.get(&name).map_or(1, |a| a.meta.version + 1);
            let meta =
                AttributeMeta { version, originating_time_ms: now_ms, originating_dc: self.dc, originating_usn: usn };
            let stored = Attribute { values: values.clone(), meta, local_usn: usn };
            self.digest ^= attribute_hash(object, &name, &stored.values, &meta);
            if let Some(old) = entry.attributes.insert(name.clone(), stored) {
                self.digest ^= attribute_hash(object, &name, &old.values, &old.meta);
                self.by_usn.remove(&old.local_usn);
            }
            self.tombstones = self.tombstones + usize::from(entry.is_deleted()) - usize::from(was_deleted);
            self.by_usn.insert(usn, (object, name));
            self.utd.insert(self.dc, usn);
        }
    }

    /// Deletes an object: an originating write of `isDeleted`, leaving a tombstone.
    pub fn delete(&mut self, now_ms: u64, object: ObjectId) {
        self.write(now_ms, object, &[(IS_DELETED, vec!["TRUE".to_string()])]);
    }

    /// A source answers a pull: the attributes it stored after `since` that `dest_utd`
    /// does not cover, in USN order, at most `max_changes` of them.
    pub fn get_changes(&self, since: Usn, dest_utd: &BTreeMap<DcId, Usn>, max_changes: usize) -> ChangeBatch {
        assert!(max_changes > 0, "a batch holds at least one change");
        debug_assert_eq!(self.by_usn.len(), self.attribute_count(), "every attribute is indexed once");
        let candidates = self.by_usn.range(since + 1..).map(|(usn, (id, name))| {
            let a = &self.objects[id].attributes[name];
            debug_assert_eq!(a.local_usn, *usn);
            (*usn, *id, name, a)
        });
        let mut changes = Vec::new();
        let mut high_usn = since;
        let mut more = false;
        for (usn, id, name, a) in candidates {
            if changes.len() == max_changes {
                more = true;
                break;
            }
            high_usn = usn;
            if name == IS_DELETED && self.plants.has(PlantedBug::AdTombstonesStayHome) {
                continue;
            }
            // Propagation dampening: the destination already has this originating write.
            if dest_utd.get(&a.meta.originating_dc).is_some_and(|seen| *seen >= a.meta.originating_usn) {
                continue;
            }
            changes.push(Change {
                object: id,
                attribute: name.clone(),
                values: a.values.clone(),
                meta: a.meta,
                source_usn: usn,
            });
        }
        if !more {
            high_usn = high_usn.max(self.usn);
        }
        let source_utd = if more { BTreeMap::new() } else { self.utd.clone() };
        ChangeBatch { source: self.dc, changes, high_usn, more, source_utd }
    }

    /// A destination applies a batch from its source: each change is stored if it wins
    /// the conflict rule (under a new local USN, keeping its originating metadata); the
    /// high-water mark advances; after the last batch of a cycle the source's
    /// up-to-dateness vector is merged in.
    pub fn apply(&mut self, batch: &ChangeBatch) -> Applied {
        assert_ne!(batch.source, self.dc, "a replica does not pull from itself");
        let mut applied = Applied::default();
        for change in &batch.changes {
            let object = self.objects.entry(change.object).or_default();
            let wins = object.attributes.get(&change.attribute).is_none_or(|mine| {
                change.meta.rank() > mine.meta.rank()
                    || (self.plants.has(PlantedBug::AdLastWriterWins) && change.meta != mine.meta)
            });
            if wins {
                let was_deleted = object.is_deleted();
                self.usn += 1;
                let attribute = Attribute { values: change.values.clone(), meta: change.meta, local_usn: self.usn };
                self.digest ^= attribute_hash(change.object, &change.attribute, &change.values, &change.meta);
                if let Some(old) = object.attributes.insert(change.attribute.clone(), attribute) {
                    self.digest ^= attribute_hash(change.object, &change.attribute, &old.values, &old.meta);
                    self.by_usn.remove(&old.local_usn);
                }
                self.tombstones = self.tombstones + usize::from(object.is_deleted()) - usize::from(was_deleted);
                self.by_usn.insert(self.usn, (change.object, change.attribute.clone()));
                applied.stored += 1;
            } else {
                applied.discarded += 1;
            }
        }
        let hwm = self.hwm.entry(batch.source).or_default();
        debug_assert!(batch.high_usn >= *hwm, "high-water marks only move forward");
        *hwm = batch.high_usn;
        if !batch.more {
            for (dc, usn) in &batch.source_utd {
                if *dc != self.dc {
                    let mine = self.utd.entry(*dc).or_default();
                    *mine = (*mine).max(*usn);
                }
            }
        }
        applied
    }

    /// Pulls everything new from `source` in batches of `max_changes` (one complete
    /// replication cycle). Returns the batches, for accounting.
    pub fn pull_from(&mut self, source: &Replica, max_changes: usize) -> Vec<ChangeBatch> {
        let mut batches = Vec::new();
        loop {
            let batch = source.get_changes(self.high_water_mark(source.dc), &self.utd, max_changes);
            self.apply(&batch);
            let more = batch.more;
            batches.push(batch);
            if !more {
                return batches;
            }
        }
    }

    /// Removes tombstones older than the tombstone lifetime; returns how many.
    pub fn collect_garbage(&mut self, now_ms: u64) -> usize {
        let expired: Vec<ObjectId> = self
            .objects
            .iter()
            .filter(|(_, o)| o.is_deleted())
            .filter(|(_, o)| {
                let deleted_at = o.attributes[IS_DELETED].meta.originating_time_ms;
                now_ms.saturating_sub(deleted_at) >= TOMBSTONE_LIFETIME_MS
            })
            .map(|(id, _)| *id)
            .collect();
        self.tombstones -= expired.len();
        for id in &expired {
            let object = self.objects.remove(id).expect("listed above");
            for (name, a) in &object.attributes {
                self.digest ^= attribute_hash(*id, name, &a.values, &a.meta);
                self.by_usn.remove(&a.local_usn);
            }
        }
        expired.len()
    }

    /// A digest of [`Replica::content`], kept up to date on every store: replicas with
    /// the same content have the same digest.
    pub fn digest(&self) -> u64 {
        debug_assert_eq!(self.digest, self.recomputed_digest(), "the digest follows every store");
        self.digest
    }

    fn recomputed_digest(&self) -> u64 {
        self.objects
            .iter()
            .flat_map(|(id, o)| o.attributes.iter().map(move |(n, a)| attribute_hash(*id, n, &a.values, &a.meta)))
            .fold(0, |acc, h| acc ^ h)
    }

    /// Attributes held (tombstones' included).
    pub fn attribute_count(&self) -> usize {
        self.objects.values().map(|o| o.attributes.len()).sum()
    }

    /// What a replica holds, without local bookkeeping: per object, per attribute, the
    /// values and originating metadata. Equal digests mean converged replicas.
    pub fn content(&self) -> BTreeMap<ObjectId, BTreeMap<String, (Vec<String>, AttributeMeta)>> {
        self.objects
            .iter()
            .map(|(id, o)| (*id, o.attributes.iter().map(|(n, a)| (n.clone(), (a.values.clone(), a.meta))).collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(s: &str) -> Vec<String> {
        vec![s.to_string()]
    }

    #[test]
    fn a_write_replicates_with_its_metadata() {
        let (mut a, mut b) = (Replica::new(DcId(0)), Replica::new(DcId(1)));
        a.write(1_000, ObjectId(7), &[("mail", v("alice@contoso.com")), ("displayName", v("Alice"))]);
        b.pull_from(&a, 100);
        let mail = &b.object(ObjectId(7)).unwrap().attributes["mail"];
        assert_eq!(mail.values, v("alice@contoso.com"));
        assert_eq!(
            mail.meta,
            AttributeMeta { version: 1, originating_time_ms: 1_000, originating_dc: DcId(0), originating_usn: 1 }
        );
        assert_eq!(b.usn(), 2, "the destination stores under its own USNs");
        assert_eq!(b.high_water_mark(DcId(0)), 2);
        assert_eq!(b.utd().get(&DcId(0)), Some(&2));
        // Pulling again brings nothing.
        let batches = b.pull_from(&a, 100);
        assert!(batches.iter().all(|x| x.changes.is_empty()));
    }

    #[test]
    fn a_change_reaching_a_dc_by_two_paths_is_applied_once() {
        // a → b → c, then c pulls from a too: the UTD filters a's write out.
        let (mut a, mut b, mut c) = (Replica::new(DcId(0)), Replica::new(DcId(1)), Replica::new(DcId(2)));
        a.write(1, ObjectId(1), &[("mail", v("x"))]);
        b.pull_from(&a, 10);
        c.pull_from(&b, 10);
        let batch = a.get_changes(c.high_water_mark(DcId(0)), c.utd(), 10);
        assert!(batch.changes.is_empty(), "dampened: {batch:?}");
        assert_eq!(c.usn(), 1, "stored once");
    }

    #[test]
    fn conflicts_settle_on_version_then_time_then_dc_exchange2003_2() {
        let (mut a, mut b) = (Replica::new(DcId(0)), Replica::new(DcId(1)));
        a.write(1, ObjectId(1), &[("title", v("first"))]);
        b.pull_from(&a, 10);
        // Both change it concurrently (version 2 on each): the later write wins.
        a.write(50, ObjectId(1), &[("title", v("a-later"))]);
        b.write(40, ObjectId(1), &[("title", v("b-earlier"))]);
        a.pull_from(&b, 10);
        b.pull_from(&a, 10);
        assert_eq!(a.content(), b.content());
        assert_eq!(a.object(ObjectId(1)).unwrap().values("title"), v("a-later"));
        // Same version and time: the higher DC wins. A higher version beats both.
        a.write(60, ObjectId(1), &[("title", v("from-0"))]);
        b.write(60, ObjectId(1), &[("title", v("from-1"))]);
        a.pull_from(&b, 10);
        b.pull_from(&a, 10);
        assert_eq!(b.object(ObjectId(1)).unwrap().values("title"), v("from-1"));
        b.write(1, ObjectId(1), &[("title", v("old clock, new version"))]);
        a.pull_from(&b, 10);
        b.write(2, ObjectId(1), &[("title", v("v5"))]);
        a.write(900, ObjectId(1), &[("title", v("v5 too, later"))]);
        a.pull_from(&b, 10);
        b.pull_from(&a, 10);
        assert_eq!(a.content(), b.content());
        assert_eq!(a.object(ObjectId(1)).unwrap().values("title"), v("v5 too, later"));
    }

    #[test]
    fn deletion_leaves_a_tombstone_that_expires_after_60_days() {
        let (mut a, mut b) = (Replica::new(DcId(0)), Replica::new(DcId(1)));
        a.write(0, ObjectId(1), &[("mail", v("x"))]);
        a.delete(10, ObjectId(1));
        b.pull_from(&a, 10);
        assert!(b.object(ObjectId(1)).unwrap().is_deleted());
        assert_eq!(b.collect_garbage(10 + TOMBSTONE_LIFETIME_MS - 1), 0);
        assert_eq!(b.collect_garbage(10 + TOMBSTONE_LIFETIME_MS), 1);
        assert!(b.object(ObjectId(1)).is_none());
    }

    #[test]
    fn batches_are_bounded_and_resume_at_the_high_water_mark() {
        let (mut a, mut b) = (Replica::new(DcId(0)), Replica::new(DcId(1)));
        for i in 0..25 {
            a.write(i, ObjectId(i), &[("mail", v(&format!("u{i}")))]);
        }
        let batches = b.pull_from(&a, 10);
        assert_eq!(batches.iter().map(|x| x.changes.len()).collect::<Vec<_>>(), vec![10, 10, 5]);
        assert!(batches[0].more && batches[1].more && !batches[2].more);
        assert!(batches[0].source_utd.is_empty(), "the UTD comes with the last batch");
        assert_eq!(a.content(), b.content());
        assert!(batch_wire_size_bytes(&batches[0]) > batch_wire_size_bytes(&batches[2]));
    }

    /// One step of a random history.
    #[derive(Clone, Debug)]
    enum Step {
        Write { dc: usize, object: u64, attribute: usize, value: u8, dt: u64 },
        Delete { dc: usize, object: u64, dt: u64 },
        Pull { to: usize, from: usize, batch: usize },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0usize..4, 0u64..4, 0usize..3, any::<u8>(), 0u64..3)
                .prop_map(|(dc, object, attribute, value, dt)| Step::Write { dc, object, attribute, value, dt }),
            (0usize..4, 0u64..4, 0u64..3).prop_map(|(dc, object, dt)| Step::Delete { dc, object, dt }),
            (0usize..4, 0usize..4, 1usize..4).prop_map(|(to, from, batch)| Step::Pull { to, from, batch }),
        ]
    }

    /// An originating write: its rank (version, time, DC) and its values.
    type RankedWrite = ((u32, u64, DcId), Vec<String>);

    proptest! {
        /// EXCHANGE2003.md §2: any interleaving of concurrent writes, deletions and pulls
        /// (in any order, in batches of any size) converges: once every replica has
        /// pulled from every other until nothing moves, all hold the same objects with
        /// the same values and metadata — each attribute the write that ranks highest
        /// (version, time, DC) among those made anywhere — and pulling again changes
        /// nothing.
        #[test]
        fn any_interleaving_converges(dcs in 2usize..5, steps in proptest::collection::vec(step(), 0..60)) {
            let names = ["mail", "title", "member"];
            let mut replicas: Vec<Replica> = (0..dcs).map(|i| Replica::new(DcId(i as u16))).collect();
            let mut now = 0;
            // Every originating write's rank and value, per (object, attribute).
            let mut writes: BTreeMap<(u64, String), Vec<RankedWrite>> = BTreeMap::new();
            for s in steps {
                match s {
                    Step::Write { dc, object, attribute, value, dt } => {
                        now += dt;
                        let r = &mut replicas[dc % dcs];
                        r.write(now, ObjectId(object), &[(names[attribute], vec![value.to_string()])]);
                        let a = &r.object(ObjectId(object)).unwrap().attributes[names[attribute]];
                        writes.entry((object, names[attribute].into())).or_default().push((a.meta.rank(), a.values.clone()));
                    }
                    Step::Delete { dc, object, dt } => {
                        now += dt;
                        let r = &mut replicas[dc % dcs];
                        r.delete(now, ObjectId(object));
                        let a = &r.object(ObjectId(object)).unwrap().attributes[IS_DELETED];
                        writes.entry((object, IS_DELETED.into())).or_default().push((a.meta.rank(), a.values.clone()));
                    }
                    Step::Pull { to, from, batch } => {
                        let (to, from) = (to % dcs, from % dcs);
                        if to != from {
                            let source = replicas[from].clone();
                            replicas[to].pull_from(&source, batch);
                        }
                    }
                }
            }
            // Heal: full rounds until a round moves nothing (bounded: dcs rounds suffice).
            for _ in 0..=dcs {
                for to in 0..dcs {
                    for from in 0..dcs {
                        if to != from {
                            let source = replicas[from].clone();
                            replicas[to].pull_from(&source, 3);
                        }
                    }
                }
            }
            let content = replicas[0].content();
            for r in &replicas {
                prop_assert_eq!(&r.content(), &content);
                prop_assert_eq!(r.digest(), replicas[0].digest());
                prop_assert_eq!(r.tombstone_count(), r.objects().filter(|(_, o)| o.is_deleted()).count());
            }
            for ((object, attribute), ws) in &writes {
                let best = ws.iter().max_by_key(|(rank, _)| *rank).unwrap();
                let held = &content[&ObjectId(*object)][attribute];
                prop_assert_eq!(&held.0, &best.1);
                prop_assert_eq!(held.1.rank(), best.0);
            }
            for to in 0..dcs {
                for from in 0..dcs {
                    if to != from {
                        let source = replicas[from].clone();
                        let applied: u32 = replicas[to].pull_from(&source, 3).iter().map(|b| b.changes.len() as u32).sum();
                        prop_assert_eq!(applied, 0, "converged replicas send nothing");
                    }
                }
            }
        }
    }
}
