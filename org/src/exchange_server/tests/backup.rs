//! Backup, restore into the Recovery Storage Group or over the original, merge
//! (EXCHANGE2003.md §7).

use super::*;

/// Messages `ns` from and to mailbox 1 on EX0, each run until durable.
fn deliver_to_one(server: &mut ExchangeServer, disk: &mut DiskImage, ns: std::ops::RangeInclusive<u64>) {
    for n in ns {
        server.handle_submit(Instant(n * 1_000), message(n), vec![AddressId(1)]);
        run_alone(server, disk, Instant(n * 1_000 + 500));
    }
}

/// EXCHANGE2003.md §7: a backup, then both volumes lost; dial tone; the backup restored
/// into the Recovery Storage Group and merged back: what came after the backup is gone,
/// the rest is back, durably; the constraints and rights refuse what they must.
#[test]
fn a_restore_into_the_recovery_storage_group_and_a_merge_bring_back_the_backup() {
    use crate::store::backup::{BackupSet, MergeRefusal, MergeRights, RestoreRefusal, RestoreTarget};
    use crate::trace::DatabaseChange;
    let mut topo = (*two_groups()).clone();
    topo.recovery_storage_groups.insert(ServerId(0), Default::default());
    topo.routing_groups[1].administrative_group = 1;
    let topo = Arc::new(topo);
    let (store, group) = (crate::StoreId(0), topo.stores[0].storage_group_id);
    let mut server = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1)));
    let mut disk = DiskImage::default();
    deliver_to_one(&mut server, &mut disk, 1..=3);
    server.handle_backup(Instant(10_000), store);
    let (_, mut sets) = run_with_media(&mut server, &mut disk, Instant(10_500));
    let set = sets.pop().expect("the backup set reached the media");
    assert_eq!((set.databases.len(), set.databases[0].1[0].1.messages.len()), (1, 3));
    deliver_to_one(&mut server, &mut disk, 11..=12);
    server.handle_disk_failure(Instant(20_000), store, true);
    let (events, _) = run_with_media(&mut server, &mut disk, Instant(20_500));
    let failed =
        ServerEvent::DiskFailed { storage_group: group, logs_lost: true, later_logs: false, mailboxes: 1, messages: 5 };
    assert!(events.contains(&failed), "{events:?}");
    assert!(!server.database_mounted(store));
    let restore = |server: &mut ExchangeServer, disk: &mut DiskImage, set: Option<BackupSet>, at: u64| {
        server.handle_restore(Instant(at), (ServerId(0), group), set.map(Box::new), &[]);
        let mut events = run_with_media(server, disk, Instant(at + 500)).0;
        events.extend(server.drain_outputs().into_iter().filter_map(|o| match o {
            Output::Event(e) => Some(e),
            _ => None,
        }));
        events
    };
    let refused = |reason| ServerEvent::RestoreRefused { storage_group: group, from_server: ServerId(0), reason };
    assert!(restore(&mut server, &mut disk, None, 21_000).contains(&refused(RestoreRefusal::NoBackupSet)));
    // Dial tone: a blank database takes mail again.
    server.handle_database(Instant(22_000), store, true);
    assert!(run_alone(&mut server, &mut disk, Instant(22_500))
        .contains(&ServerEvent::DatabaseState { store, change: DatabaseChange::MountedBlank }));
    deliver_to_one(&mut server, &mut disk, 23..=23);
    let elsewhere = BackupSet { server: ServerId(1), group, ..set.clone() };
    let other_group = ServerEvent::RestoreRefused {
        storage_group: group,
        from_server: ServerId(0),
        reason: RestoreRefusal::OtherAdministrativeGroup,
    };
    assert!(restore(&mut server, &mut disk, Some(elsewhere), 24_000).contains(&other_group));
    let events = restore(&mut server, &mut disk, Some(set.clone()), 25_000);
    let restored = events.iter().find_map(|e| match e {
        ServerEvent::Restored { into, mailboxes, from_backup, replayed, later_logs, .. } => {
            Some((*into, *mailboxes, *from_backup, *replayed, *later_logs))
        }
        _ => None,
    });
    assert_eq!(restored, Some((RestoreTarget::RecoveryStorageGroup, 1, 3, 0, false)), "{events:?}");
    let other_sg = BackupSet { group: crate::StorageGroupId(1), ..set };
    server.handle_restore(Instant(26_000), (ServerId(0), other_sg.group), Some(Box::new(other_sg)), &[]);
    let holds = ServerEvent::RestoreRefused {
        storage_group: crate::StorageGroupId(1),
        from_server: ServerId(0),
        reason: RestoreRefusal::RecoveryGroupHoldsAnother,
    };
    assert!(server.drain_outputs().contains(&Output::Event(holds)), "one storage group in the RSG at a time");
    let merge = |server: &mut ExchangeServer, disk: &mut DiskImage, rights, at: u64| {
        server.handle_merge(Instant(at), rights);
        let mut events: Vec<ServerEvent> = server
            .drain_outputs()
            .into_iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e),
                Output::Persist(ops) => {
                    ops.into_iter().for_each(|op| disk.apply(op));
                    None
                }
                _ => None,
            })
            .collect();
        events.extend(run_alone(server, disk, Instant(at + 500)));
        events
    };
    let no_send_as = MergeRights { receive_as: true, send_as: false };
    let refusal = ServerEvent::MergeRefused { reason: MergeRefusal::NoSendAs };
    assert!(merge(&mut server, &mut disk, no_send_as, 27_000).contains(&refusal));
    let all = MergeRights { receive_as: true, send_as: true };
    let merged = merge(&mut server, &mut disk, all, 28_000);
    let counts = merged.iter().find_map(|e| match e {
        ServerEvent::Merged { mailboxes, messages, .. } => Some((*mailboxes, *messages)),
        _ => None,
    });
    assert_eq!(counts, Some((1, 3)), "{merged:?}");
    let held = |disk: &mut DiskImage| {
        let messages = &disk.mailboxes()[&AddressId(1)].messages;
        [1, 2, 3, 11, 12, 23].map(|n| messages.contains(MessageId::Client(n)))
    };
    assert_eq!(held(&mut disk), [true, true, true, false, false, true], "the window after the backup is gone");
    // A restart keeps the merge and the RSG; merging again adds nothing.
    let mut restarted = restart(ServerId(0), topo, &mut disk, 3, Instant(30_000));
    restarted.drain_outputs();
    let again = merge(&mut restarted, &mut disk, all, 31_000);
    assert!(again.iter().any(|e| matches!(e, ServerEvent::Merged { messages: 0, .. })), "{again:?}");
    assert_eq!(held(&mut disk), [true, true, true, false, false, true]);
}

/// EXCHANGE2003.md §7: with its log volume intact, a lost database restored over the
/// original replays every log written since the backup: nothing is lost. A mounted
/// database, or a blank one mounted in its place, is not restored over.
#[test]
fn a_restore_over_the_original_replays_the_later_logs() {
    use crate::store::backup::{RestoreRefusal, RestoreTarget};
    let topo = two_groups();
    let (store, group) = (crate::StoreId(0), topo.stores[0].storage_group_id);
    let mut server = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1)));
    let mut disk = DiskImage::default();
    deliver_to_one(&mut server, &mut disk, 1..=3);
    server.handle_backup(Instant(10_000), store);
    let set = run_with_media(&mut server, &mut disk, Instant(10_500)).1.pop().expect("a backup set");
    deliver_to_one(&mut server, &mut disk, 11..=12);
    let refused = |reason| ServerEvent::RestoreRefused { storage_group: group, from_server: ServerId(0), reason };
    server.handle_restore(Instant(15_000), (ServerId(0), group), Some(Box::new(set.clone())), &[]);
    assert!(server.drain_outputs().contains(&Output::Event(refused(RestoreRefusal::DatabaseMounted))));
    server.handle_disk_failure(Instant(20_000), store, false);
    run_alone(&mut server, &mut disk, Instant(20_500));
    server.handle_restore(Instant(21_000), (ServerId(0), group), Some(Box::new(set.clone())), &[]);
    let events = run_alone(&mut server, &mut disk, Instant(21_500));
    let restored = events.iter().find_map(|e| match e {
        ServerEvent::Restored { into, from_backup, replayed, later_logs, .. } => {
            Some((*into, *from_backup, *replayed, *later_logs))
        }
        _ => None,
    });
    assert_eq!(restored, Some((RestoreTarget::Original, 3, 2, true)), "{events:?}");
    assert!(server.database_mounted(store));
    assert_eq!(disk.mailboxes()[&AddressId(1)].messages.len(), 5, "nothing lost");
    // Lost again, and a blank database mounted in its place: not overwritable.
    server.handle_disk_failure(Instant(30_000), store, false);
    server.handle_database(Instant(30_100), store, true);
    run_alone(&mut server, &mut disk, Instant(30_500));
    server.handle_database(Instant(31_000), store, false);
    run_alone(&mut server, &mut disk, Instant(31_500));
    server.handle_restore(Instant(32_000), (ServerId(0), group), Some(Box::new(set)), &[]);
    assert!(server.drain_outputs().contains(&Output::Event(refused(RestoreRefusal::NotOverwritable))));
}
