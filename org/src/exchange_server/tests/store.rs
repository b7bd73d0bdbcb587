//! MSExchangeIS: Out of Office, dismounts, SP2 size limits, quotas, log disks, Junk
//! E-mail, storage warnings, Move Mailbox, online maintenance (EXCHANGE2003.md §7).

use super::*;

#[test]
fn out_of_office_answers_each_sender_once_even_across_a_restart() {
    let mut topo = (*two_groups()).clone();
    topo.directory.set_out_of_office(AddressId(2));
    let topo = Arc::new(topo);
    let (mut servers, mut disks) = two_servers(&topo);
    let to_owner = |n: u64| Message { header_recipients: [AddressId(2)].as_slice().into(), ..message(n) };
    let replies = |events: &[ServerEvent]| {
        events.iter().filter(|e| matches!(e, ServerEvent::OutOfOffice { from: AddressId(2), .. })).count()
    };
    servers[0].handle_submit(Instant::ZERO, to_owner(1), vec![AddressId(2)]);
    servers[0].handle_submit(Instant::ZERO, to_owner(2), vec![AddressId(2)]);
    let events = pump(&mut servers, &mut disks, Instant(60_000));
    assert_eq!(replies(&events), 1, "once per sender: {events:?}");
    assert!(disks[1].mailboxes()[&AddressId(2)].oof_replied.contains(&AddressId(1)));
    // EX1 restarts on its disk: the history is in the mailbox.
    servers[1] = restart(ServerId(1), topo, &mut disks[1], 3, Instant(60_000));
    servers[0].handle_submit(Instant(60_000), to_owner(3), vec![AddressId(2)]);
    let events = pump(&mut servers, &mut disks, Instant(120_000));
    assert_eq!(replies(&events), 0, "not answered again after the restart: {events:?}");
}

/// EXCHANGE2003.md §7: a dismounted database takes no mail; its recipients wait in Local
/// delivery (retry, the virtual server's 10-minute interval) and are delivered at the
/// first retry after it is mounted, once; the delivery is a log record of its storage
/// group, durable across a restart.
#[test]
fn a_dismounted_database_keeps_mail_in_local_delivery_until_mounted() {
    let topo = two_groups();
    let (mut servers, mut disks) = two_servers(&topo);
    let store = crate::StoreId(0);
    servers[0].handle_database(Instant::ZERO, store, false);
    servers[0].handle_submit(Instant::ZERO, message(1), vec![AddressId(1)]);
    let events = pump(&mut servers, &mut disks, Instant(60_000));
    assert!(events.contains(&ServerEvent::DatabaseState { store, change: crate::trace::DatabaseChange::Dismounted }));
    assert!(!events.iter().any(|e| matches!(e, ServerEvent::Delivered { .. })), "{events:?}");
    assert!(events.iter().any(|e| matches!(
        e,
        ServerEvent::QueueState {
            queue: QueueKey::LocalDelivery,
            state: LinkQueueState::Retry,
            retry_in_ms: Some(600_000),
            ..
        }
    )));
    let local = servers[0].queue_snapshot().into_iter().find(|q| q.queue == QueueKey::LocalDelivery).unwrap();
    assert_eq!((local.state, local.messages), (Some(LinkQueueState::Retry), 1));
    assert_eq!(disks[0].items.len(), 1, "the message file stays until delivered");
    servers[0].handle_database(Instant(60_000), store, true);
    let events = pump(&mut servers, &mut disks, Instant(700_000));
    let delivered =
        events.iter().filter(|e| matches!(e, ServerEvent::Delivered { recipient: AddressId(1), .. })).count();
    assert_eq!(delivered, 1, "{events:?}");
    assert!(disks[0].items.is_empty());
    let group = topo.store(store).storage_group_id;
    let log = disks[0].store_files.logs[&group].log;
    assert_eq!(log.bytes(), 4_096 + crate::store::transaction_log::PER_RECIPIENT_RECORD_BYTES);
    assert_eq!(disks[0].store_files.databases[&store].stm_bytes, 4_096);
    let restarted = restart(ServerId(0), topo, &mut disks[0], 1, Instant(700_000));
    assert!(restarted.database_mounted(store), "every database mounts when the service starts");
    assert_eq!(restarted.store.logs()[&group].bytes(), log.bytes(), "the log stream comes back from disk");
}

/// EXCHANGE2003.md §7, SP2 size limits: the 05:00 check warns at 90 % of the limit on the
/// logical size (physical − free), dismounts at the limit; a manual mount holds until the
/// next check.
#[test]
fn the_daily_size_check_warns_then_dismounts_on_logical_size() {
    use crate::trace::{DatabaseChange, SizeVerdict};
    const MB: u64 = 1 << 20;
    const HOUR: u64 = 3_600_000;
    let mut topo = (*two_groups()).clone();
    topo.stores[0].size = crate::config::topology::StoreSizeConfig {
        initial_physical_bytes: 1_000 * MB,
        initial_free_bytes: 100 * MB,
        limit_bytes: Some(1_000 * MB),
        warning_buffer_percent: 10,
        check_ms_of_day: 5 * HOUR,
    };
    topo.servers[0].smtp.max_message_size_bytes = None;
    let topo = Arc::new(topo);
    let store = crate::StoreId(0);
    let mut server = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1)));
    let mut disk = DiskImage::default();
    let mut run_until = |server: &mut ExchangeServer, until: Instant| run_alone(server, &mut disk, until);
    // 900 MB logical: exactly 90 % — a warning at 05:00, physical size notwithstanding.
    assert_eq!(server.poll_timeout(), Some(Instant(5 * HOUR)), "the first check is at 05:00");
    let events = run_until(&mut server, Instant(6 * HOUR));
    let warned = ServerEvent::DatabaseSize {
        store,
        logical_bytes: 900 * MB,
        limit_bytes: 1_000 * MB,
        verdict: SizeVerdict::Warning,
    };
    assert_eq!(events, vec![warned]);
    // 100 MB of mail: logical 1,000 MB, at the limit; the next morning's check dismounts.
    let big = Message { size_bytes: 100 * MB - 1_024, ..message(1) };
    server.handle_submit(Instant(6 * HOUR), big, vec![AddressId(1)]);
    run_until(&mut server, Instant(7 * HOUR));
    assert!(server.database_mounted(store), "nothing happens between checks");
    let events = run_until(&mut server, Instant(30 * HOUR));
    assert!(events.contains(&ServerEvent::DatabaseState { store, change: DatabaseChange::DismountedOverLimit }));
    assert!(!server.database_mounted(store));
    // Mounted by hand at 08:00, it stays mounted until the next day's check.
    server.handle_database(Instant(32 * HOUR), store, true);
    run_until(&mut server, Instant(52 * HOUR));
    assert!(server.database_mounted(store));
    run_until(&mut server, Instant(54 * HOUR));
    assert!(!server.database_mounted(store), "dismounted again at the 05:00 check");
}

/// EXCHANGE2003.md §7: a mailbox at "prohibit send and receive" takes no mail (NDR 5.2.2
/// to the sender); its owner at "prohibit send" may not send.
#[test]
fn quotas_refuse_mail_to_a_full_mailbox_and_sends_from_one_over_prohibit_send() {
    use crate::config::topology::{MailboxQuota, MailboxSettings};
    let mut topo = (*two_groups()).clone();
    // Mailbox 2 (on EX1) holds 10 KB under 100 KB; mailbox 1 (EX0) is over its own
    // prohibit-send limit.
    topo.stores[1].quota = MailboxQuota { prohibit_send_receive_bytes: Some(100 * 1_024), ..Default::default() };
    topo.mailboxes.insert(AddressId(2), MailboxSettings { initial_bytes: 90 * 1_024, quota: None });
    let own = MailboxQuota { prohibit_send_bytes: Some(1_024), ..Default::default() };
    topo.mailboxes.insert(AddressId(3), MailboxSettings { initial_bytes: 2_048, quota: Some(own) });
    let topo = Arc::new(topo);
    let (mut servers, mut disks) = two_servers(&topo);
    // 4 KB + 4 KB take it to 98 KB (still under), the third 4 KB message goes in at 98 KB,
    // and the fourth finds it at 102 KB: NDR'd.
    let mut events = Vec::new();
    for n in 1..=4 {
        servers[0].handle_submit(Instant(n), message(n), vec![AddressId(2)]);
        events.extend(pump(&mut servers, &mut disks, Instant(10_000 * n)));
    }
    let full: Vec<MessageId> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Ndr { message, code: DsnCode::MailboxFull, .. } => Some(*message),
            _ => None,
        })
        .collect();
    assert_eq!(full, vec![MessageId::Client(4)], "{events:?}");
    assert_eq!(disks[1].mailboxes()[&AddressId(2)].messages.len(), 3);
    // A message from mailbox 3 (over prohibit send) is refused at submission.
    let from_capped = Message { sender: Some(AddressId(3)), ..message(9) };
    servers[0].handle_submit(Instant(70_000), from_capped, vec![AddressId(2)]);
    let refused = servers[0].drain_outputs().into_iter().any(|o| {
        matches!(
            o,
            Output::Event(ServerEvent::ProhibitSend { user: AddressId(3), mailbox_bytes: 2_048, limit_bytes: 1_024 })
        )
    });
    assert!(refused, "the owner over prohibit send cannot send");
    assert_eq!(servers[0].smtp.items_held(), 0, "nothing was submitted");
}

/// EXCHANGE2003.md §7: when the next log file and the two reserve logs no longer fit,
/// the reserves take what is in flight and the databases dismount; a mount is refused
/// until a backup deletes the log files below the checkpoint; then the waiting mail goes
/// in.
#[test]
fn a_full_log_disk_dismounts_until_a_backup_truncates_the_logs() {
    use crate::trace::DatabaseChange;
    let mut topo = (*two_groups()).clone();
    let group = topo.stores[0].storage_group_id;
    topo.storage_groups[usize::from(group.0)].log.disk_bytes = Some(30 << 20);
    let topo = Arc::new(topo);
    let store = crate::StoreId(0);
    let mut server = ExchangeServer::new(ServerId(0), topo, Box::new(Counter(1)));
    let mut disk = DiskImage::default();
    // Records of 3,001,024 bytes: the 7th begins log file 5 (5 + 2 reserves > 6 files of
    // 5 MiB) and takes the log past the 20 MiB checkpoint depth.
    let mut events = Vec::new();
    for n in 1..=8 {
        server.handle_submit(Instant(n * 1_000), Message { size_bytes: 3_000_000, ..message(n) }, vec![AddressId(1)]);
        events.extend(run_alone(&mut server, &mut disk, Instant(n * 1_000 + 500)));
    }
    let full = ServerEvent::LogDiskFull { storage_group: group, log_files: 5, disk_bytes: 30 << 20 };
    assert!(events.contains(&full), "{events:?}");
    assert!(events.contains(&ServerEvent::DatabaseState { store, change: DatabaseChange::DismountedLogDiskFull }));
    let delivered =
        |events: &[ServerEvent]| events.iter().filter(|e| matches!(e, ServerEvent::Delivered { .. })).count();
    assert_eq!(delivered(&events), 7, "the 8th message waits in Local delivery");
    server.handle_database(Instant(10_000), store, true);
    let refused = run_alone(&mut server, &mut disk, Instant(10_100));
    assert!(refused.contains(&ServerEvent::DatabaseState { store, change: DatabaseChange::MountRefusedLogDiskFull }));
    assert!(!server.database_mounted(store));
    server.handle_backup(Instant(20_000), store);
    let backup = run_alone(&mut server, &mut disk, Instant(20_100));
    // The dismounted database is not in the set; its logs are truncated all the same.
    let done = ServerEvent::Backup {
        storage_group: group,
        databases: 0,
        mailboxes: 0,
        messages: 0,
        log_files_deleted: 4,
        log_files: 1,
    };
    assert!(backup.contains(&done), "{backup:?}");
    assert_eq!(disk.store_files.logs[&group].log.log_files(), 1, "the truncation is durable");
    server.handle_database(Instant(30_000), store, true);
    assert!(server.database_mounted(store));
    let after = run_alone(&mut server, &mut disk, Instant(30 * 60_000));
    assert_eq!(delivered(&after), 1, "the waiting message goes in at Local delivery's retry");
}

/// EXCHANGE2003.md §7: the store caches a mailbox's quota and re-reads it every 7,200 s,
/// so a raised limit takes effect only when the cached copy expires.
#[test]
fn a_changed_quota_takes_effect_when_the_store_rereads_it() {
    use crate::config::topology::{MailboxQuota, MailboxSettings, QuotaTarget};
    const HOUR: u64 = 3_600_000;
    let mut topo = (*two_groups()).clone();
    let full = MailboxQuota { prohibit_send_receive_bytes: Some(1_024), ..Default::default() };
    topo.mailboxes.insert(AddressId(2), MailboxSettings { initial_bytes: 2_048, quota: Some(full) });
    let topo = Arc::new(topo);
    let (mut servers, mut disks) = two_servers(&topo);
    let mut send = |servers: &mut [ExchangeServer; 2], n: u64, at: u64| {
        servers[0].handle_submit(Instant(at), message(n), vec![AddressId(2)]);
        let events = pump(servers, &mut disks, Instant(at + 60_000));
        let refused =
            events.iter().any(|e| matches!(e, ServerEvent::Ndr { recipients, .. } if recipients == &[AddressId(2)]));
        let reread = events.iter().any(|e| matches!(e, ServerEvent::QuotaRead { mailbox: AddressId(2), .. }));
        (refused, reread)
    };
    assert_eq!(send(&mut servers, 1, 0), (true, false), "full: 5.2.2, and the quota is cached now");
    let raised = MailboxQuota { prohibit_send_receive_bytes: Some(1 << 20), ..Default::default() };
    servers[1].handle_quota_change(Instant(1_000), QuotaTarget::Mailbox(AddressId(2)), raised);
    assert_eq!(send(&mut servers, 2, HOUR), (true, false), "an hour later the store still holds the old quota");
    assert_eq!(send(&mut servers, 3, 2 * HOUR + 1_000), (false, true), "re-read after 2 hours: delivered");
}

/// EXCHANGE2003.md §3.1: the store moves a copy into Junk E-mail only when its SCL is
/// strictly above the store threshold; unrated mail (−1) never.
#[test]
fn mail_above_the_store_threshold_goes_into_junk_email() {
    let topo = two_groups();
    assert_eq!(topo.junk_threshold, 6);
    let mut server = ExchangeServer::new(ServerId(0), topo, Box::new(Counter(1)));
    let mut disk = DiskImage::default();
    let mut junk = Vec::new();
    for (n, scl) in [(1, 7), (2, 6), (3, -1), (4, 9)] {
        server.handle_submit(Instant(n * 1_000), Message { scl, ..message(n) }, vec![AddressId(1)]);
        let events = run_alone(&mut server, &mut disk, Instant(n * 1_000 + 500));
        junk.extend(events.into_iter().filter_map(|e| match e {
            ServerEvent::JunkEmail { message, scl, .. } => Some((message, scl)),
            _ => None,
        }));
    }
    assert_eq!(junk, vec![(MessageId::Client(1), 7), (MessageId::Client(4), 9)]);
}

/// EXCHANGE2003.md §7: once a day (01:00 [U]) every mailbox at or over "issue warning"
/// gets a warning; none when no limit has a warning level.
#[test]
fn the_daily_storage_warning_names_mailboxes_over_issue_warning() {
    use crate::config::topology::{MailboxQuota, MailboxSettings};
    const HOUR: u64 = 3_600_000;
    let mut topo = (*two_groups()).clone();
    topo.stores[0].quota = MailboxQuota { issue_warning_bytes: Some(1_024), ..Default::default() };
    topo.mailboxes.insert(AddressId(1), MailboxSettings { initial_bytes: 2_048, quota: None });
    let topo = Arc::new(topo);
    let mut server = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1)));
    let mut disk = DiskImage::default();
    let events = run_alone(&mut server, &mut disk, Instant(26 * HOUR));
    let warned = ServerEvent::QuotaWarning { mailbox: AddressId(1), mailbox_bytes: 2_048, limit_bytes: 1_024 };
    assert_eq!(events, vec![warned.clone(), warned], "01:00 on each day");
    let quiet = ExchangeServer::new(ServerId(1), topo, Box::new(Counter(2)));
    assert_eq!(quiet.poll_timeout(), None, "no warning level on EX1's store: no wake-up");
}

/// EXCHANGE2003.md §7, §3.2: a mailbox moves store to store; mail for it waits in
/// "Messages queued for deferred delivery" meanwhile and, once the directory names the
/// new home, goes there; the mailbox's messages go with it.
#[test]
fn a_moved_mailbox_takes_its_messages_and_its_waiting_mail_to_its_new_home() {
    let topo = two_groups();
    let (mut servers, mut disks) = two_servers(&topo);
    let (mailbox, to_store) = (AddressId(1), crate::StoreId(1));
    servers[0].handle_submit(Instant::ZERO, message(1), vec![mailbox]);
    pump(&mut servers, &mut disks, Instant(1_000));
    servers[0].handle_move_out(Instant(1_000), mailbox, ServerId(1), to_store);
    servers[1].handle_submit(Instant(1_000), message(2), vec![mailbox]);
    let events = pump(&mut servers, &mut disks, Instant(2_000));
    assert!(
        events.iter().any(|e| matches!(e, ServerEvent::MoveEnded { outcome: MoveOutcome::Moved, .. })),
        "{events:?}"
    );
    assert!(!events.iter().any(|e| matches!(e, ServerEvent::Delivered { message: MessageId::Client(2), .. })));
    let deferred = servers[0].queue_snapshot().into_iter().find(|q| q.queue == QueueKey::DeferredDelivery);
    assert_eq!(deferred.map(|q| q.messages), Some(1), "waiting for the move");
    for s in &mut servers {
        s.handle_mailbox_moved(Instant(2_000), mailbox, to_store);
    }
    let events = pump(&mut servers, &mut disks, Instant(3_000));
    let delivered = |e: &ServerEvent| matches!(e, ServerEvent::Delivered { message: MessageId::Client(2), store, .. } if *store == to_store);
    assert_eq!(events.iter().filter(|e| delivered(e)).count(), 1, "{events:?}");
    assert!(!disks[0].mailboxes().contains_key(&mailbox), "the source's copy is gone");
    assert_eq!(disks[1].mailboxes()[&mailbox].messages.len(), 2, "both messages in the new home");
    assert!(disks.iter().all(|d| d.items.is_empty()), "queues drained");
}

/// A move whose chunks go unanswered fails after the acknowledgement timeout: the
/// mailbox stays and its waiting mail is delivered where it is.
#[test]
fn an_unanswered_move_fails_and_the_mailbox_stays() {
    let topo = two_groups();
    let (mut servers, mut disks) = two_servers(&topo);
    let mailbox = AddressId(1);
    servers[0].handle_move_out(Instant::ZERO, mailbox, ServerId(1), crate::StoreId(1));
    servers[0].handle_submit(Instant::ZERO, message(1), vec![mailbox]);
    let lost = servers[0].drain_outputs();
    assert!(lost.iter().any(|o| matches!(o, Output::Move { .. })), "the first chunk, lost");
    for out in lost {
        if let Output::Persist(ops) = out {
            ops.into_iter().for_each(|op| disks[0].apply(op));
        }
    }
    let events = run_alone(&mut servers[0], &mut disks[0], Instant(400_000));
    let failed = events.iter().position(|e| matches!(e, ServerEvent::MoveEnded { outcome: MoveOutcome::Failed, .. }));
    let delivered =
        events.iter().position(|e| matches!(e, ServerEvent::Delivered { recipient, .. } if *recipient == mailbox));
    assert!(failed.is_some() && delivered > failed, "{events:?}");
    assert!(disks[0].mailboxes()[&mailbox].messages.contains(MessageId::Client(1)));
}

/// A task's cancel time stops a move in progress: the target is told to drop what it
/// got, and the mailbox stays.
#[test]
fn a_cancelled_move_leaves_the_mailbox_where_it_was() {
    let topo = two_groups();
    let (mut servers, mut disks) = two_servers(&topo);
    let mailbox = AddressId(1);
    servers[0].handle_move_out(Instant::ZERO, mailbox, ServerId(1), crate::StoreId(1));
    servers[0].handle_move_cancel(Instant(10), mailbox);
    let outputs = servers[0].drain_outputs();
    let abort = crate::store::move_mailbox::MoveMessage::Abort { mailbox };
    assert!(outputs.iter().any(|o| matches!(o, Output::Move { message, .. } if *message == abort)));
    assert!(outputs
        .iter()
        .any(|o| matches!(o, Output::Event(ServerEvent::MoveEnded { outcome: MoveOutcome::Cancelled, .. }))));
    servers[0].handle_submit(Instant(10), message(1), vec![mailbox]);
    let events = pump(&mut servers, &mut disks, Instant(1_000));
    assert!(events.iter().any(
        |e| matches!(e, ServerEvent::Delivered { recipient, store, .. } if *recipient == mailbox && store.0 == 0)
    ));
}

/// EXCHANGE2003.md §7: what users delete stays for deleted item retention; the first
/// online maintenance after it purges it into logical free space, and the purge is on
/// disk, so a restarted store does not purge it again.
#[test]
fn online_maintenance_purges_deleted_items_past_retention() {
    const DAY: u64 = 86_400_000;
    let mut topo = (*two_groups()).clone();
    topo.stores[0].maintenance = crate::config::topology::MaintenanceConfig {
        deleted_percent: 50,
        item_retention_ms: 2 * DAY,
        mailbox_retention_ms: 30 * DAY,
        start_ms_of_day: 3_600_000,
    };
    let topo = Arc::new(topo);
    let store = crate::StoreId(0);
    let mut server = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1)));
    let mut disk = DiskImage::default();
    server.handle_submit(Instant::ZERO, message(1), vec![AddressId(1)]);
    let events = run_alone(&mut server, &mut disk, Instant(4 * DAY));
    let written = disk.store_files.databases[&store];
    let deleted = (written.edb_bytes + written.stm_bytes) / 2;
    assert!(deleted > 0);
    let purges: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::OnlineMaintenance { purged_items_bytes, free_bytes, .. } => {
                Some((*purged_items_bytes, *free_bytes))
            }
            _ => None,
        })
        .collect();
    // Deleted at midnight of day 1; retained 2 days; purged at 01:00 of day 3.
    assert_eq!(purges, [(0, 0), (0, 0), (0, 0), (deleted, deleted)], "{events:?}");
    assert_eq!(disk.store_files.databases[&store].purged_bytes, deleted);
    assert!(disk.store_files.retained[&store].is_empty());
    let mut restarted = restart(ServerId(0), topo, &mut disk, 1, Instant(4 * DAY));
    let events = run_alone(&mut restarted, &mut disk, Instant(5 * DAY));
    assert!(events.iter().any(|e| matches!(e, ServerEvent::OnlineMaintenance { purged_items_bytes: 0, free_bytes, .. } if *free_bytes == deleted)));
}
