//! The backfill array (EXCHANGE2003.md §8 [P]): change numbers a store learned another
//! replica holds and it lacks wait here for their timeout — 6 h when the source is in
//! the local site, then 12 h before the first retry and 24 h before later ones; 12, 24
//! and 48 h for a remote source — before a backfill request goes out, so that changes
//! still travelling arrive by themselves first. The source is chosen by version: 2003
//! takes the lowest transport cost, then the newest version, then the most needed
//! changes, and uses a cheaper source for the part it can supply; 2000 takes the newest
//! version regardless of cost. A preferred backfill source, when set, is tried first.

use super::cn_set::{CnSet, ReplicaId};
use super::replication_message::FolderKey;
use crate::time::{Instant, HOUR_MS};
use crate::version::ExchangeVersion;

/// What a store knows of another public store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its server's version.
    pub version: ExchangeVersion,
    /// The transport cost of reaching it (its server's routing group's cost).
    pub cost: u32,
    /// Whether it is in this store's site.
    pub local_site: bool,
}

/// How a store ranks backfill sources: by its own version (§8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceRule {
    /// 2003: lowest cost, then newest version, then most needed changes.
    CostFirst,
    /// 2000: newest version regardless of cost, then most needed changes, then cost.
    VersionFirst,
}

impl SourceRule {
    /// The rule a server of this version follows.
    pub fn of(version: ExchangeVersion) -> SourceRule {
        if version.is_2003() {
            SourceRule::CostFirst
        } else {
            SourceRule::VersionFirst
        }
    }
}

/// A replica that may supply some of the missing changes: its last known status.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub replica: ReplicaId,
    pub status: &'a CnSet,
    pub peer: PeerInfo,
}

/// Who is asked for what: sources in the rule's order, each given the missing changes it
/// holds that no source before it does. Changes no candidate holds are left out.
pub fn choose_sources(
    missing: &CnSet,
    candidates: &[Candidate<'_>],
    rule: SourceRule,
    preferred: Option<ReplicaId>,
) -> Vec<(ReplicaId, CnSet)> {
    let mut ranked: Vec<(Candidate<'_>, u64)> =
        candidates.iter().map(|c| (*c, missing.intersection(c.status).len())).collect();
    ranked.sort_by(|(a, na), (b, nb)| {
        let pref = (Some(b.replica) == preferred).cmp(&(Some(a.replica) == preferred));
        let newer = b.peer.version.cmp(&a.peer.version);
        let more = nb.cmp(na);
        let cheaper = a.peer.cost.cmp(&b.peer.cost);
        let by_rule = match rule {
            SourceRule::CostFirst => cheaper.then(newer).then(more),
            SourceRule::VersionFirst => newer.then(more).then(cheaper),
        };
        pref.then(by_rule).then(a.replica.cmp(&b.replica))
    });
    let mut left = missing.clone();
    let mut out = Vec::new();
    for (c, _) in ranked {
        let part = left.intersection(c.status);
        if !part.is_empty() {
            left = left.without(&part);
            out.push((c.replica, part));
        }
        if left.is_empty() {
            break;
        }
    }
    out
}

/// How long an entry waits before its request number `attempt` (0: the first) goes out.
pub fn timeout_ms(local_site: bool, attempt: u32) -> u64 {
    let hours = match (local_site, attempt) {
        (true, 0) => 6,
        (true, 1) => 12,
        (true, _) => 24,
        (false, 0) => 12,
        (false, 1) => 24,
        (false, _) => 48,
    };
    hours * HOUR_MS
}

/// Missing changes of one folder (or the hierarchy) waiting for their request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackfillEntry {
    pub folder: FolderKey,
    pub missing: CnSet,
    /// When the entry was made (a request before `created + timeout` is early).
    pub created: Instant,
    /// When its next request goes out.
    pub due: Instant,
    /// Requests sent so far.
    pub attempts: u32,
    /// Whether its timeouts are the local site's.
    pub local_site: bool,
}

/// A store's backfill entries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackfillArray {
    entries: Vec<BackfillEntry>,
}

impl BackfillArray {
    /// Adds what of `missing` no entry waits for yet; returns the new entry if any.
    pub fn add(
        &mut self,
        folder: FolderKey,
        missing: &CnSet,
        now: Instant,
        local_site: bool,
    ) -> Option<&BackfillEntry> {
        let mut new = missing.clone();
        for e in self.entries.iter().filter(|e| e.folder == folder) {
            new = new.without(&e.missing);
        }
        if new.is_empty() {
            return None;
        }
        let due = now.plus_ms(timeout_ms(local_site, 0));
        self.entries.push(BackfillEntry { folder, missing: new, created: now, due, attempts: 0, local_site });
        self.entries.last()
    }

    /// Changes that arrived: no entry waits for them any more.
    pub fn arrived(&mut self, folder: FolderKey, held: &CnSet) {
        for e in self.entries.iter_mut().filter(|e| e.folder == folder) {
            e.missing = e.missing.without(held);
        }
        self.entries.retain(|e| !e.missing.is_empty());
    }

    /// Forgets a folder's entries (its replica left this store).
    pub fn forget(&mut self, folder: FolderKey) {
        self.entries.retain(|e| e.folder != folder);
    }

    /// The entries due at `now`, each rescheduled for its next retry.
    pub fn take_due(&mut self, now: Instant, skip: impl Fn(FolderKey) -> bool) -> Vec<BackfillEntry> {
        let mut due = Vec::new();
        for e in self.entries.iter_mut().filter(|e| e.due <= now && !skip(e.folder)) {
            due.push(e.clone());
            e.attempts += 1;
            e.due = now.plus_ms(timeout_ms(e.local_site, e.attempts));
        }
        due
    }

    /// Makes a folder's entries due at `now` (the planted bug that skips the timeout).
    pub fn make_due(&mut self, folder: FolderKey, now: Instant) {
        self.entries.iter_mut().filter(|e| e.folder == folder).for_each(|e| e.due = e.due.min(now));
    }

    /// The earliest due time.
    pub fn next_due(&self) -> Option<Instant> {
        self.entries.iter().map(|e| e.due).min()
    }

    /// The entries, in the order they were made.
    pub fn entries(&self) -> &[BackfillEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::public_folders::cn_set::ChangeNumber;
    use ExchangeVersion::*;

    fn set(replica: u16, counters: std::ops::RangeInclusive<u64>) -> CnSet {
        let mut s = CnSet::default();
        for counter in counters {
            s.insert(ChangeNumber { replica: ReplicaId(replica), counter });
        }
        s
    }

    fn peer(version: ExchangeVersion, cost: u32) -> PeerInfo {
        PeerInfo { version, cost, local_site: cost == 0 }
    }

    #[test]
    fn a_cheap_partial_source_is_used_for_its_part() {
        let missing = set(9, 1..=10);
        let (cheap, dear) = (set(9, 1..=6), set(9, 1..=10));
        let candidates = [
            Candidate { replica: ReplicaId(1), status: &dear, peer: peer(Exchange2003Sp2, 20) },
            Candidate { replica: ReplicaId(2), status: &cheap, peer: peer(Exchange2003, 0) },
        ];
        let cost_first = choose_sources(&missing, &candidates, SourceRule::CostFirst, None);
        assert_eq!(cost_first, vec![(ReplicaId(2), set(9, 1..=6)), (ReplicaId(1), set(9, 7..=10))]);
        let version_first = choose_sources(&missing, &candidates, SourceRule::VersionFirst, None);
        assert_eq!(version_first, vec![(ReplicaId(1), set(9, 1..=10))], "2000: the newer server for all of it");
        let preferred = choose_sources(&missing, &candidates, SourceRule::CostFirst, Some(ReplicaId(1)));
        assert_eq!(preferred, vec![(ReplicaId(1), set(9, 1..=10))]);
    }

    #[test]
    fn timeouts_grow_and_arrivals_clear_entries() {
        let mut array = BackfillArray::default();
        let folder = FolderKey::Hierarchy;
        assert!(array.add(folder, &set(1, 1..=4), Instant(0), true).is_some());
        assert!(array.add(folder, &set(1, 1..=4), Instant(5), true).is_none(), "already waiting");
        assert!(array.take_due(Instant(6 * HOUR_MS - 1), |_| false).is_empty());
        assert_eq!(array.take_due(Instant(6 * HOUR_MS), |_| false).len(), 1);
        assert_eq!(array.next_due(), Some(Instant(18 * HOUR_MS)), "12 h to the first retry");
        array.arrived(folder, &set(1, 1..=4));
        assert_eq!(array.next_due(), None);
        assert_eq!(timeout_ms(false, 5), 48 * HOUR_MS);
    }
}
