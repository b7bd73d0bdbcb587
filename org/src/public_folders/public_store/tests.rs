//! The agent on an in-memory network: replication, backfill after a lost message,
//! orphaned hierarchy changes, the SP2 stop, a replica filled by backfill, and a
//! property test that any order, loss and duplication of messages converges.

use super::*;
use crate::public_folders::backfill::PeerInfo;
use crate::public_folders::replication_message::DefaultRole;
use crate::time::HOUR_MS;
use crate::version::ExchangeVersion;
use proptest::prelude::*;

/// Stores and the messages between them.
struct Net {
    stores: Vec<PublicStore>,
    /// (to, message) in the order sent.
    in_flight: Vec<(usize, ReplicationMessage)>,
    now: Instant,
    log: Vec<(usize, PfOutput)>,
}

fn peers_of(me: usize, n: usize) -> BTreeMap<ReplicaId, PeerInfo> {
    (0..n)
        .filter(|i| *i != me)
        .map(|i| {
            let version = if i == 2 { ExchangeVersion::Exchange2003Sp2 } else { ExchangeVersion::Exchange2003 };
            let cost = if i / 2 == me / 2 { 0 } else { 10 };
            (ReplicaId(i as u16), PeerInfo { version, cost, local_site: cost == 0 })
        })
        .collect()
}

impl Net {
    fn new(n: usize, setup: &Setup) -> Net {
        let stores = (0..n)
            .map(|i| {
                let settings = PublicStoreSettings::default();
                PublicStore::new(ReplicaId(i as u16), settings, peers_of(i, n), setup, Instant::ZERO)
            })
            .collect();
        Net { stores, in_flight: Vec::new(), now: Instant::ZERO, log: Vec::new() }
    }

    fn collect(&mut self) {
        for (i, s) in self.stores.iter_mut().enumerate() {
            for out in s.drain() {
                if let PfOutput::Send { to, message } = &out {
                    to.iter().for_each(|r| self.in_flight.push((usize::from(r.0), message.clone())));
                }
                self.log.push((i, out));
            }
        }
    }

    /// Runs every store's timers up to `until`.
    fn advance(&mut self, until: Instant) {
        loop {
            let next = self.stores.iter().map(PublicStore::poll_timeout).min().expect("stores");
            if next > until {
                break;
            }
            self.now = next;
            self.stores.iter_mut().filter(|s| s.poll_timeout() <= next).for_each(|s| s.handle_timeout(next));
            self.collect();
        }
        self.now = until;
    }

    fn deliver(&mut self, index: usize, keep_copy: bool) {
        let (to, message) = if keep_copy { self.in_flight[index].clone() } else { self.in_flight.remove(index) };
        self.stores[to].receive(self.now, message);
        self.collect();
    }

    fn deliver_all(&mut self) {
        while !self.in_flight.is_empty() {
            self.deliver(0, false);
        }
    }

    /// Delivers everything and runs the timers until nothing is left to do or `days`.
    fn heal(&mut self, days: u64) {
        let end = self.now.plus_ms(days * DAY_MS);
        while self.now < end {
            self.deliver_all();
            let step = self.now.plus_ms(15 * MINUTE_MS).min(end);
            self.advance(step);
        }
        self.deliver_all();
    }

    fn count(&self, f: impl Fn(&PfOutput) -> bool) -> usize {
        self.log.iter().filter(|(_, o)| f(o)).count()
    }
}

fn one_folder(replicas: &[u16]) -> (Setup, FolderId) {
    let mut setup = Setup::default();
    let props = FolderProps {
        name: "Sales".into(),
        parent: None,
        replicas: replicas.iter().map(|r| ReplicaId(*r)).collect(),
        schedule: None,
        mail_enabled: false,
        default_role: DefaultRole::Author,
    };
    let folder = setup.folder(props);
    (setup, folder)
}

fn content(net: &Net, store: usize, folder: FolderId) -> CnSet {
    net.stores[store].folders()[&folder].items.cn_set().clone()
}

#[test]
fn a_post_reaches_the_other_replicas_on_the_next_cycle() {
    let (setup, folder) = one_folder(&[0, 1]);
    let mut net = Net::new(3, &setup);
    net.stores[0].post(Instant(1), folder, 10_000).unwrap();
    assert_eq!(net.stores[2].post(Instant(1), folder, 1), Err(PfRefusal::NoReplicaHere));
    net.advance(Instant(15 * MINUTE_MS));
    assert_eq!(net.in_flight.len(), 1, "one content message, to the one other replica");
    assert_eq!(net.in_flight[0].1.kind, ReplicationKind::Content);
    net.deliver_all();
    assert_eq!(content(&net, 0, folder), content(&net, 1, folder));
}

#[test]
fn oab_files_replicate_and_supersede_the_older_ones() {
    use crate::system_attendant::oab::distribution::{OabFile, OabFileKind, OabVersion, PATCHES_KEPT};
    use crate::system_attendant::oal_generation::OabId;
    let (setup, folder) = one_folder(&[0, 1]);
    let mut net = Net::new(2, &setup);
    let file = |kind, sequence| OabFile { oab: OabId(0), version: OabVersion::V4, kind, sequence };
    let held = |net: &Net, store: usize| -> Vec<(OabFileKind, u32)> {
        let items = &net.stores[store].folders()[&folder].items;
        items.live().filter_map(|(_, p)| p.oab_file.map(|f| (f.kind, f.sequence))).collect()
    };
    net.stores[0].post_oab_files(Instant(1), folder, &[(file(OabFileKind::Full, 1), 9_000)]).unwrap();
    let last = PATCHES_KEPT + 2;
    for sequence in 2..=last {
        let files = [(file(OabFileKind::Full, sequence), 9_000), (file(OabFileKind::Diff, sequence), 100)];
        net.stores[0].post_oab_files(Instant(u64::from(sequence)), folder, &files).unwrap();
    }
    let mut expected = vec![(OabFileKind::Full, last)];
    expected.extend((last + 1 - PATCHES_KEPT..=last).map(|s| (OabFileKind::Diff, s)));
    let mut on_0 = held(&net, 0);
    on_0.sort();
    assert_eq!(on_0, expected, "one full file and the last {PATCHES_KEPT} patches");
    net.advance(Instant(15 * MINUTE_MS));
    net.deliver_all();
    let mut on_1 = held(&net, 1);
    on_1.sort();
    assert_eq!(on_1, expected, "the other replica holds the same after a cycle, deletions included");
}

#[test]
fn a_lost_message_is_backfilled_after_the_timeout() {
    let (setup, folder) = one_folder(&[0, 1]);
    let mut net = Net::new(2, &setup);
    net.stores[0].post(Instant(1), folder, 10_000).unwrap();
    net.advance(Instant(15 * MINUTE_MS));
    net.in_flight.clear();
    net.stores[0].post(Instant(20 * MINUTE_MS), folder, 10_000).unwrap();
    net.advance(Instant(30 * MINUTE_MS));
    net.deliver_all();
    let queued = net.log.iter().find_map(|(_, o)| match o {
        PfOutput::BackfillQueued { changes, due, .. } => Some((*changes, *due)),
        _ => None,
    });
    assert_eq!(queued, Some((1, Instant(30 * MINUTE_MS + 6 * HOUR_MS))), "the lost post, local site: 6 h");
    net.advance(Instant(30 * MINUTE_MS + 6 * HOUR_MS - 1));
    assert_eq!(net.count(|o| matches!(o, PfOutput::BackfillRequested { .. })), 0, "not before its timeout");
    net.heal(1);
    assert_eq!(net.count(|o| matches!(o, PfOutput::BackfillRequested { .. })), 1);
    assert_eq!(content(&net, 0, folder), content(&net, 1, folder));
}

#[test]
fn a_child_before_its_parent_waits_for_it() {
    let mut net = Net::new(2, &Setup::default());
    let props = |parent| FolderProps {
        name: "f".into(),
        parent,
        replicas: vec![ReplicaId(0)],
        schedule: None,
        mail_enabled: false,
        default_role: DefaultRole::Author,
    };
    let parent = net.stores[0].create_folder(Instant(1), props(None)).unwrap();
    net.advance(Instant(15 * MINUTE_MS));
    let parent_message = net.in_flight.remove(0);
    let child = net.stores[0].create_folder(Instant(16 * MINUTE_MS), props(Some(parent))).unwrap();
    net.advance(Instant(30 * MINUTE_MS));
    net.deliver_all();
    assert!(net.stores[1].folder(child).is_none());
    assert_eq!(net.count(|o| matches!(o, PfOutput::HierarchyWaiting { .. })), 1);
    net.in_flight.push(parent_message);
    net.deliver_all();
    assert!(net.stores[1].folder(child).is_some(), "applied once the parent came");
    assert_eq!(net.stores[1].hierarchy().cn_set(), net.stores[0].hierarchy().cn_set());
}

#[test]
fn stopped_content_replication_sends_only_hierarchy() {
    let (setup, folder) = one_folder(&[0, 1]);
    let mut net = Net::new(2, &setup);
    net.stores.iter_mut().for_each(|s| s.set_content_stopped(true));
    net.stores[0].post(Instant(1), folder, 10_000).unwrap();
    let props = FolderProps {
        name: "New".into(),
        parent: None,
        replicas: vec![ReplicaId(1)],
        schedule: None,
        mail_enabled: false,
        default_role: DefaultRole::Author,
    };
    net.stores[0].create_folder(Instant(1), props).unwrap();
    net.heal(2);
    let sent: BTreeSet<ReplicationKind> = net
        .log
        .iter()
        .filter_map(|(_, o)| match o {
            PfOutput::Send { message, .. } => Some(message.kind),
            _ => None,
        })
        .collect();
    assert!(sent.iter().all(|k| *k == ReplicationKind::Hierarchy || *k == ReplicationKind::Status), "{sent:?}");
    assert!(content(&net, 1, folder).is_empty());
    net.stores.iter_mut().for_each(|s| s.set_content_stopped(false));
    net.heal(1);
    assert_eq!(content(&net, 0, folder), content(&net, 1, folder), "resumed");
}

#[test]
fn a_new_replica_fills_by_backfill_from_the_cheapest_source() {
    let (mut setup, folder) = one_folder(&[1, 2]);
    setup.items(folder, 5, 50_000);
    let mut net = Net::new(4, &setup);
    net.stores[1].post(Instant(1), folder, 1_000).unwrap();
    net.advance(Instant(15 * MINUTE_MS));
    net.deliver_all();
    // Store 0 is in store 1's site (cost 0); store 2 is remote but newer (SP2).
    net.stores[3].change_folder(Instant(20 * MINUTE_MS), folder, |p| p.replicas.push(ReplicaId(0))).unwrap();
    net.heal(2);
    let sources: Vec<ReplicaId> = net
        .log
        .iter()
        .filter_map(|(i, o)| match o {
            PfOutput::BackfillRequested { source, .. } if *i == 0 => Some(*source),
            _ => None,
        })
        .collect();
    assert_eq!(sources, vec![ReplicaId(1)], "2003: the cheapest source has it all");
    assert_eq!(content(&net, 0, folder), content(&net, 2, folder));
    assert_eq!(content(&net, 0, folder).len(), 6);
}

/// A folder scheduled 00:00–01:00 in a run that starts at 23:00: its post waits for
/// the calendar's midnight, not for the run's first 24 hours.
#[test]
fn a_schedule_follows_the_calendar() {
    let (setup, folder) = one_folder(&[0, 1]);
    let calendar = crate::calendar::Calendar::new(2004, 3, 1, 23 * HOUR_MS).unwrap();
    let settings = PublicStoreSettings {
        schedule: ReplicationSchedule::Hours(crate::calendar::WeeklyHours::daily(1)),
        calendar,
        ..PublicStoreSettings::default()
    };
    let mut store = PublicStore::new(ReplicaId(0), settings, peers_of(0, 2), &setup, Instant::ZERO);
    store.post(Instant(1), folder, 1_000).unwrap();
    let sends = |store: &mut PublicStore, until: u64| {
        let mut kinds = Vec::new();
        while store.poll_timeout() <= Instant(until) {
            let t = store.poll_timeout();
            store.handle_timeout(t);
            kinds.extend(store.drain().into_iter().filter_map(|o| match o {
                PfOutput::Send { message, .. } => Some((t, message.kind)),
                _ => None,
            }));
        }
        kinds
    };
    assert!(sends(&mut store, HOUR_MS - 1).is_empty(), "23:00–23:59: the window is shut");
    assert_eq!(sends(&mut store, HOUR_MS), vec![(Instant(HOUR_MS), ReplicationKind::Content)], "at midnight");
}

#[derive(Clone, Debug)]
enum Op {
    Post { store: usize, folder: usize, size_bytes: u64 },
    DeleteItem { store: usize, folder: usize, nth: usize },
    CreateFolder { store: usize, parent: Option<usize>, replicas: Vec<bool> },
    AddReplica { store: usize, folder: usize, replica: usize },
    Advance { minutes: u64 },
    Deliver { nth: usize, duplicate: bool },
    Lose { nth: usize },
}

const STORES: usize = 4;

fn op() -> impl Strategy<Value = Op> {
    let s = 0..STORES;
    prop_oneof![
        4 => (s.clone(), 0usize..6, 1u64..400_000).prop_map(|(store, folder, size_bytes)| Op::Post { store, folder, size_bytes }),
        1 => (s.clone(), 0usize..6, 0usize..8).prop_map(|(store, folder, nth)| Op::DeleteItem { store, folder, nth }),
        1 => (s.clone(), prop::option::of(0usize..6), prop::collection::vec(any::<bool>(), STORES))
            .prop_map(|(store, parent, replicas)| Op::CreateFolder { store, parent, replicas }),
        1 => (s.clone(), 0usize..6, s).prop_map(|(store, folder, replica)| Op::AddReplica { store, folder, replica }),
        3 => (1u64..120).prop_map(|minutes| Op::Advance { minutes }),
        4 => (0usize..20, any::<bool>()).prop_map(|(nth, duplicate)| Op::Deliver { nth, duplicate }),
        2 => (0usize..20).prop_map(|nth| Op::Lose { nth }),
    ]
}

impl Net {
    fn nth_folder(&self, store: usize, n: usize) -> Option<FolderId> {
        let folders = self.stores[store].live_folders();
        (!folders.is_empty()).then(|| folders[n % folders.len()].0)
    }

    fn apply(&mut self, op: &Op) {
        let now = self.now;
        match op.clone() {
            Op::Post { store, folder, size_bytes } => {
                if let Some(f) = self.nth_folder(store, folder) {
                    let _ = self.stores[store].post(now, f, size_bytes);
                }
            }
            Op::DeleteItem { store, folder, nth } => {
                let Some(f) = self.nth_folder(store, folder) else { return };
                let items: Vec<ChangeNumber> = self.stores[store]
                    .folders()
                    .get(&f)
                    .map(|r| r.items.live().map(|(id, _)| id).collect())
                    .unwrap_or_default();
                if !items.is_empty() {
                    let _ = self.stores[store].delete_item(now, f, items[nth % items.len()]);
                }
            }
            Op::CreateFolder { store, parent, replicas } => {
                let parent = parent.and_then(|p| self.nth_folder(store, p));
                let mut replicas: Vec<ReplicaId> =
                    replicas.iter().enumerate().filter(|(_, on)| **on).map(|(i, _)| ReplicaId(i as u16)).collect();
                if replicas.is_empty() {
                    replicas.push(ReplicaId(store as u16));
                }
                let props = FolderProps {
                    name: "f".into(),
                    parent,
                    replicas,
                    schedule: None,
                    mail_enabled: false,
                    default_role: DefaultRole::Author,
                };
                let _ = self.stores[store].create_folder(now, props);
            }
            Op::AddReplica { store, folder, replica } => {
                if let Some(f) = self.nth_folder(store, folder) {
                    let _ = self.stores[store].change_folder(now, f, |p| p.replicas.push(ReplicaId(replica as u16)));
                }
            }
            Op::Advance { minutes } => self.advance(now.plus_ms(minutes * MINUTE_MS)),
            Op::Deliver { nth, duplicate } if !self.in_flight.is_empty() => {
                let i = nth % self.in_flight.len();
                self.deliver(i, duplicate);
            }
            Op::Lose { nth } if !self.in_flight.is_empty() => {
                let i = nth % self.in_flight.len();
                self.in_flight.remove(i);
            }
            Op::Deliver { .. } | Op::Lose { .. } => {}
        }
        self.collect();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Whatever the changes and however the messages are reordered, duplicated or lost,
    /// once the network delivers again every store holds one hierarchy and every
    /// replica of a folder one CNSet and the same content; no change made anywhere is
    /// missing from the replicas of its folder.
    #[test]
    fn replication_converges(ops in prop::collection::vec(op(), 1..120)) {
        let (mut setup, folder) = one_folder(&[0, 1]);
        setup.items(folder, 3, 20_000);
        let mut net = Net::new(STORES, &setup);
        for op in &ops {
            net.apply(op);
        }
        net.heal(20);
        let stores: Vec<&PublicStore> = net.stores.iter().collect();
        let (folder, store) = (|f: FolderId| format!("{f:?}"), |r: ReplicaId| format!("{r:?}"));
        let names = crate::public_folders::agreement::Names { folder: &folder, store: &store };
        let disagreement = crate::public_folders::agreement::disagreement(&stores, &names);
        prop_assert!(disagreement.is_none(), "{:?}", disagreement);
        for s in &net.stores {
            prop_assert!(s.backfill().entries().is_empty(), "{:?}", s.backfill());
        }
    }
}
