use super::*;
use org::StoreId;

/// An organization with no routing to judge (these tests are about messages).
fn no_topology() -> Arc<Topology> {
    Arc::new(Topology {
        servers: Vec::new(),
        routing_groups: Vec::new(),
        connectors: Vec::new(),
        stores: Vec::new(),
        storage_groups: Vec::new(),
        directory: org::directory::global_catalog::GlobalCatalog::new(),
        forests: Vec::new(),
        forest_directories: Vec::new(),
        gateways: Vec::new(),
        external: org::transport::address_space::ExternalDirectory::new(),
        internet: org::config::topology::InternetConfig::default(),
        plants: org::planted_bugs::Plants::NONE,
        link_state: org::config::topology::LinkStateConfig::default(),
        calendar: org::calendar::Calendar::UNIX_EPOCH,
        mailboxes: Default::default(),
        junk_threshold: 6,
        recovery_storage_groups: Default::default(),
        public_stores: Vec::new(),
        public_folders: Default::default(),
        offline_address_books: Vec::new(),
        legacy_dn_naming: Default::default(),
        edge: Default::default(),
    })
}

fn names3() -> Vec<String> {
    vec!["EX0".into(), "EX1".into(), "EX2".into()]
}

fn name(m: MessageId, r: AddressId) -> String {
    format!("{m:?}/{r:?}")
}

fn delivered(m: u64, r: u32) -> ServerEvent {
    ServerEvent::Delivered { message: MessageId::Client(m), recipient: AddressId(r), store: StoreId(0), latency_ms: 1 }
}

#[test]
fn duplicate_and_loss_are_caught() {
    let all = [Invariant::NoLoss, Invariant::NoDuplicateDelivery, Invariant::NoRoutingLoop];
    let mut c = Checker::new(&all, &[], names3(), no_topology(), Instant::ZERO);
    let submit = ServerEvent::Submitted {
        message: MessageId::Client(1),
        sender: AddressId(0),
        recipients: vec![AddressId(1), AddressId(2)],
        size_bytes: 10,
    };
    assert!(c.observe(Instant(0), ServerId(0), &submit, &name).is_empty());
    assert!(c.observe(Instant(1), ServerId(0), &delivered(1, 1), &name).is_empty());
    let v = c.observe(Instant(2), ServerId(0), &delivered(1, 1), &name);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].check, "no_duplicate_delivery");
    // Recipient 2 is neither delivered nor on any disk: lost.
    let (results, counts) = c.finish(&[DiskImage::default()], 0, &name);
    let by_name: BTreeMap<_, _> = results.iter().map(|r| (r.name.as_str(), r.ok)).collect();
    assert!(!by_name["no_loss"]);
    assert!(!by_name["no_duplicate_delivery"]);
    assert!(by_name["no_routing_loop"]);
    assert_eq!((counts.recipients, counts.delivered), (2, 1));
}

#[test]
fn loop_is_caught_but_a_resend_is_not() {
    let mut c = Checker::new(&[Invariant::NoRoutingLoop], &[], names3(), no_topology(), Instant::ZERO);
    let submit = ServerEvent::Submitted {
        message: MessageId::Client(1),
        sender: AddressId(0),
        recipients: vec![AddressId(1)],
        size_bytes: 1,
    };
    c.observe(Instant(0), ServerId(0), &submit, &name);
    let arrive = |at: u16, from: u16, hop_count: u8| {
        let e = ServerEvent::Received {
            message: MessageId::Client(1),
            from: ServerId(from),
            conn: org::transport::smtp_protocol::ConnId {
                client: ServerId(from),
                seq: org::transport::smtp_protocol::SessionSeq(0),
            },
            recipients: vec![AddressId(1)],
            hop_count,
        };
        (ServerId(at), e)
    };
    let (s, e) = arrive(1, 0, 1);
    assert!(c.observe(Instant(1), s, &e, &name).is_empty());
    // The same copy again from the same sender (its 250 was lost): not a loop.
    assert!(c.observe(Instant(2), s, &e, &name).is_empty());
    let (s, e) = arrive(2, 1, 2);
    assert!(c.observe(Instant(3), s, &e, &name).is_empty());
    // Back at EX1 after a connector changed state: a re-route, not a loop.
    c.routing_changed();
    let (s, e) = arrive(1, 2, 3);
    assert!(c.observe(Instant(4), s, &e, &name).is_empty());
    // Round again with no change in between: a loop.
    let (s, e) = arrive(2, 1, 4);
    assert!(c.observe(Instant(5), s, &e, &name).is_empty());
    let (s, e) = arrive(1, 2, 5);
    let v = c.observe(Instant(6), s, &e, &name);
    assert_eq!(v[0].check, "no_routing_loop");
    assert!(v[0].detail.contains("came back to EX1 (hop 3, now hop 5)"), "{}", v[0].detail);
}

/// A store "S" in storage group 0 of server 0.
fn one_store() -> Arc<Topology> {
    let mut topology = (*no_topology()).clone();
    topology.stores.push(org::config::topology::StoreConfig {
        name: "S".into(),
        storage_group: "SG".into(),
        storage_group_id: org::StorageGroupId(0),
        size: Default::default(),
        quota: Default::default(),
        journal_recipient: None,
        profile: Default::default(),
        maintenance: Default::default(),
        server: ServerId(0),
    });
    topology.storage_groups = org::config::topology::StorageGroupConfig::of_stores(&mut topology.stores);
    Arc::new(topology)
}

/// A group that loses its logs loses exactly what was delivered after its last backup:
/// those copies missing is no loss; one of them present, or any other missing, is.
#[test]
fn only_the_window_after_the_last_backup_may_be_lost() {
    let group = org::StorageGroupId(0);
    let mut w = restore_window::LossWindows::new(one_store(), [group].into_iter());
    let backup = ServerEvent::Backup {
        storage_group: group,
        databases: 1,
        mailboxes: 1,
        messages: 1,
        log_files_deleted: 0,
        log_files: 1,
    };
    let failed = |later_logs| ServerEvent::DiskFailed {
        storage_group: group,
        logs_lost: true,
        later_logs,
        mailboxes: 1,
        messages: 3,
    };
    w.observe(Instant(1), &delivered(1, 1));
    w.observe(Instant(2), &backup);
    w.observe(Instant(3), &delivered(2, 1));
    w.observe(Instant(4), &delivered(3, 1));
    w.observe(Instant(5), &failed(false));
    w.observe(Instant(6), &delivered(4, 1));
    let pair = |m| (MessageId::Client(m), AddressId(1));
    let judged = w.judge(&[pair(2), pair(3)]);
    assert!(judged.lost.is_empty() && judged.resurrected.is_empty(), "exactly the window");
    let judged = w.judge(&[pair(1), pair(2)]);
    assert_eq!((judged.lost, judged.resurrected), (vec![pair(1)], vec![pair(3)]), "the backup's and a window's");
    // With the logs surviving, nothing is expected lost.
    let mut kept = restore_window::LossWindows::new(one_store(), [group].into_iter());
    kept.observe(Instant(1), &delivered(1, 1));
    kept.observe(Instant(5), &failed(true));
    assert_eq!(kept.judge(&[pair(1)]).lost, vec![pair(1)]);
}

/// A limit lowered under a mailbox's size binds only once the store's 2-hour quota cache
/// may have expired: a delivery inside the window is no violation, one after it is.
#[test]
fn a_lowered_limit_binds_after_the_quota_cache_lifetime() {
    use org::config::topology::{MailboxQuota, QuotaTarget};
    let topology = one_store();
    let mut c = Checker::new(&[Invariant::QuotaHonoured], &[], names3(), topology, Instant::ZERO);
    let (mailbox, store) = (AddressId(1), StoreId(0));
    let low = MailboxQuota { prohibit_send_receive_bytes: Some(1_000), ..Default::default() };
    c.quota_scripted(&[(QuotaTarget::Mailbox(mailbox), low)]);
    assert!(c.quota_follows(mailbox, store));
    assert!(c.quota_delivered(Instant(1), MessageId::Client(1), mailbox, store, 5_000, &name).is_empty());
    c.quota_changed(Instant(10_000), QuotaTarget::Mailbox(mailbox), low);
    let inside = Instant(10_000 + 7_199_998);
    assert!(c.quota_delivered(inside, MessageId::Client(2), mailbox, store, 10, &name).is_empty(), "cache may be old");
    let after = Instant(10_000 + 7_199_999);
    let v = c.quota_delivered(after, MessageId::Client(3), mailbox, store, 10, &name);
    assert_eq!(v.len(), 1, "5,010 bytes against a 1,000-byte limit two hours on");
    assert!(v[0].detail.contains("Client(3)/AddressId(1) went into a mailbox holding 5010 bytes"), "{}", v[0].detail);
}
