use super::*;
use crate::config::topology::Delivery;
use crate::message::{MessageId, MessageKind};
use crate::routing::link_state::{ConnectorState, VersionBump};
use crate::routing::routing_group_master::Decision;
use crate::test_topology::{two_groups, two_groups_of, Counter};
use crate::trace::MoveOutcome;
use crate::transport::advanced_queuing::{LinkQueueState, QueueKey};
use crate::transport::dsn::DsnCode;
use crate::transport::queue_directory::QueueItemId;
use crate::version::ExchangeVersion;
use crate::RoutingGroupId;

fn message(n: u64) -> Message {
    Message {
        id: MessageId::Client(n),
        kind: MessageKind::Normal,
        sender: Some(AddressId(1)),
        size_bytes: 4096,
        submitted_at: Instant::ZERO,
        hop_count: 0,
        authenticated: true,
        header_recipients: Default::default(),
        scl: crate::message::SCL_NOT_RATED,
        journaled: Default::default(),
    }
}

/// EX0 and EX1 of `topo`, new, with empty disks.
fn two_servers(topo: &Arc<Topology>) -> ([ExchangeServer; 2], [DiskImage; 2]) {
    let servers = [
        ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1))),
        ExchangeServer::new(ServerId(1), topo.clone(), Box::new(Counter(2))),
    ];
    (servers, [DiskImage::default(), DiskImage::default()])
}

/// A server restarted (incarnation 1) on what `disk` holds, with its random stream
/// seeded `rng`.
fn restart(id: ServerId, topo: Arc<Topology>, disk: &mut DiskImage, rng: u64, at: Instant) -> ExchangeServer {
    ExchangeServer::recover(id, topo, disk, &StartConditions::default(), Box::new(Counter(rng)), 1, at)
}

/// Runs two servers against each other with zero network delay until quiet or `until`.
fn pump(servers: &mut [ExchangeServer; 2], disks: &mut [DiskImage; 2], until: Instant) -> Vec<ServerEvent> {
    pump_with(servers, disks, until, true)
}

/// [`pump`], losing every link state message outside SMTP sessions unless
/// `side_channel`.
fn pump_with(
    servers: &mut [ExchangeServer; 2],
    disks: &mut [DiskImage; 2],
    until: Instant,
    side_channel: bool,
) -> Vec<ServerEvent> {
    let mut events = Vec::new();
    let mut now = Instant::ZERO;
    loop {
        let mut moved = false;
        for i in 0..2 {
            for out in servers[i].drain_outputs() {
                moved = true;
                match out {
                    Output::Send { to, packet } => {
                        let from = servers[i].id();
                        servers[usize::from(to.0)].handle_packet(now, from, packet)
                    }
                    Output::LinkState { to, message } => {
                        if side_channel {
                            let from = servers[i].id();
                            servers[usize::from(to.0)].handle_link_state(now, from, message)
                        }
                    }
                    Output::Move { to, message } => {
                        let from = servers[i].id();
                        servers[usize::from(to.0)].handle_move_message(now, from, message)
                    }
                    Output::Persist(ops) => ops.into_iter().for_each(|op| disks[i].apply(op)),
                    Output::Event(e) => events.push(e),
                    Output::SendHost { .. } | Output::Dns { .. } => panic!("no Internet here"),
                    Output::Ldap { .. } => panic!("no groups here"),
                    Output::BackupSet(_) => {}
                }
            }
        }
        if moved {
            continue;
        }
        let next = servers.iter().filter_map(|s| s.poll_timeout()).min();
        match next {
            Some(t) if t <= until => {
                now = t;
                servers.iter_mut().for_each(|s| s.handle_timeout(now));
            }
            _ => return events,
        }
    }
}

#[test]
fn delivers_locally_across_a_connector_and_ndrs_unknown() {
    let topo = two_groups();
    let (mut servers, mut disks) = two_servers(&topo);
    servers[0].handle_submit(Instant::ZERO, message(1), vec![AddressId(1), AddressId(2), AddressId(9)]);
    let events = pump(&mut servers, &mut disks, Instant(60_000));
    let delivered: Vec<(MessageId, AddressId)> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Delivered { message, recipient, .. } => Some((*message, *recipient)),
            _ => None,
        })
        .collect();
    let ndr = MessageId::Dsn { server: ServerId(0), item: QueueItemId(1) };
    assert!(delivered.contains(&(MessageId::Client(1), AddressId(1))));
    assert!(delivered.contains(&(MessageId::Client(1), AddressId(2))));
    assert!(delivered.contains(&(ndr, AddressId(1))), "the NDR reaches the sender: {events:?}");
    assert_eq!(delivered.len(), 3);
    assert!(disks.iter().all(|d| d.items.is_empty()), "queues drained");
    assert_eq!(disks[1].mailboxes()[&AddressId(2)].messages.len(), 1);
}

/// EXCHANGE2003.md §4: bridgeheads of two groups exchange link state with X-LINK2STATE
/// after EHLO and before the mail, so the receiver routes it knowing at least what the
/// sender knew (even when every other link state message is lost). Newer state on the
/// sender, on the receiver, or on both (a second turn) ends with equal tables.
#[test]
fn x_link2state_syncs_both_bridgeheads_before_the_mail_exchange2003_4() {
    for (newer_on_sender, newer_on_receiver) in [(true, false), (false, true), (true, true)] {
        let topo = two_groups();
        let mut servers = [
            ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1))),
            ExchangeServer::new(ServerId(1), topo.clone(), Box::new(Counter(2))),
        ];
        for (i, newer) in [newer_on_sender, newer_on_receiver].into_iter().enumerate() {
            if newer {
                let (group, master) = (RoutingGroupId(i as u16), ServerId(i as u16));
                servers[i].routing.table_mut().raise(&topo, group, master, VersionBump::User, None);
            }
        }
        let sender_digest = servers[0].link_state_table().digest();
        let mut disks = [DiskImage::default(), DiskImage::default()];
        servers[0].handle_submit(Instant::ZERO, message(1), vec![AddressId(2)]);
        let events = pump_with(&mut servers, &mut disks, Instant(60_000), false);
        let case = format!("sender newer {newer_on_sender}, receiver newer {newer_on_receiver}: {events:?}");
        assert_eq!(servers[0].link_state_table().digest(), servers[1].link_state_table().digest(), "{case}");
        let received = events.iter().position(|e| matches!(e, ServerEvent::Received { .. }));
        let learned = events.iter().position(
            |e| matches!(e, ServerEvent::LinkStateChanged { digest, .. } if *digest == servers[1].link_state_table().digest()),
        );
        assert!(received.is_some(), "{case}");
        if newer_on_sender {
            assert!(learned < received, "the receiver learns before the mail arrives: {case}");
            assert_ne!(sender_digest, LinkStateTable::from_directory(&topo, &[ServerId(0), ServerId(1)]).digest());
        }
    }
}

/// The master's update to a member is lost with the member's crash; once the
/// restarted member has shown its table and been answered, the master's next change
/// goes to it at once, not after the resend interval (a member routing on the old
/// table meanwhile sent mail round a loop).
#[test]
fn a_master_tells_a_restarted_member_its_next_change_at_once_exchange2003_4() {
    let mut topo = (*two_groups()).clone();
    topo.servers[1].routing_group = RoutingGroupId(0);
    topo.routing_groups.truncate(1);
    topo.routing_groups[0].members = vec![ServerId(0), ServerId(1)];
    topo.connectors.clear();
    let topo = Arc::new(topo);
    let group = RoutingGroupId(0);
    let mut master = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1)));
    let change = |master: &mut ExchangeServer, at: Instant| {
        master.routing.table_mut().raise(&topo, group, ServerId(0), VersionBump::User, None);
        master.routing.changed(at, vec![group]);
        master.settle(at);
        master.drain_outputs()
    };
    let updates_to_member = |outputs: &[Output]| {
        outputs
            .iter()
            .filter(|o| matches!(o, Output::LinkState { to: ServerId(1), message: LinkStateMessage::Update { .. } }))
            .count()
    };
    assert_eq!(updates_to_member(&change(&mut master, Instant(1_000))), 1, "pushed to the member");
    // The member crashed before that update arrived; it restarts and asks its master.
    let start = StartConditions::default();
    let mut member = ExchangeServer::recover(
        ServerId(1),
        topo.clone(),
        &mut DiskImage::default(),
        &start,
        Box::new(Counter(2)),
        1,
        Instant(2_000),
    );
    for out in member.drain_outputs() {
        if let Output::LinkState { to: ServerId(0), message } = out {
            master.handle_link_state(Instant(2_000), ServerId(1), message);
        }
    }
    let answer = master.drain_outputs();
    assert!(answer.iter().any(|o| matches!(o, Output::LinkState { to: ServerId(1), .. })), "{answer:?}");
    assert_eq!(updates_to_member(&change(&mut master, Instant(3_000))), 1, "the next change goes at once");
}

#[test]
fn crash_before_flush_loses_only_unacknowledged_mail() {
    let topo = two_groups();
    let mut server = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1)));
    server.handle_submit(Instant::ZERO, message(1), vec![AddressId(1)]);
    // Nothing durable and nothing acknowledged before the flush.
    let outputs = server.drain_outputs();
    assert!(outputs.is_empty(), "{outputs:?}");
    // The node dies here: a restart on the empty disk has nothing to recover.
    let restarted = restart(ServerId(0), topo, &mut DiskImage::default(), 1, Instant(1));
    assert_eq!(restarted.smtp.items_held(), 0);
}

/// Runs a local submission up to its delivery: the delivery's writes wait for the
/// next flush. Returns the server and its disk.
fn delivered_not_flushed(topo: &Arc<Topology>) -> (ExchangeServer, DiskImage) {
    let mut server = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1)));
    let mut disk = DiskImage::default();
    server.handle_submit(Instant::ZERO, message(1), vec![AddressId(1)]);
    let flush = server.poll_timeout().expect("the submission waits for its flush");
    server.handle_timeout(flush);
    for out in server.drain_outputs() {
        if let Output::Persist(ops) = out {
            ops.into_iter().for_each(|op| disk.apply(op));
        }
    }
    assert!(server.unflushed_writes() > 0, "the delivery waits for the next flush");
    (server, disk)
}

#[test]
fn a_power_loss_keeps_what_landed_and_recovery_replays_it() {
    let topo = two_groups();
    let (mut server, mut disk) = delivered_not_flushed(&topo);
    let batch = server.power_loss(Instant(6), |n| n);
    assert_eq!((batch.lost, batch.torn.is_none()), (0, true), "every write landed");
    assert!(batch.written.iter().any(|op| matches!(op, DiskOp::Deliver { .. })));
    let delivered = |e: &ServerEvent| matches!(e, ServerEvent::Delivered { recipient: AddressId(1), .. });
    assert!(batch.facts.iter().any(delivered), "a copy in its mailbox is a fact: {:?}", batch.facts);
    disk.power_loss(batch.written, None);
    let mut restarted = restart(ServerId(0), topo, &mut disk, 2, Instant(10));
    let events: Vec<Output> = restarted.drain_outputs();
    let replayed = events.iter().find_map(|o| match o {
        Output::Event(ServerEvent::SoftRecovery { replayed, torn_record, .. }) => Some((*replayed, *torn_record)),
        _ => None,
    });
    assert_eq!(replayed, Some((1, false)), "{events:?}");
    assert_eq!(disk.mailboxes()[&AddressId(1)].messages.len(), 1);
}

#[test]
fn a_torn_write_ends_what_landed_and_nothing_after_it_is_a_fact() {
    let topo = two_groups();
    let (mut server, mut disk) = delivered_not_flushed(&topo);
    let batch = server.power_loss(Instant(6), |_| 0);
    assert!(batch.written.is_empty() && batch.facts.is_empty(), "{:?}", batch.facts);
    let torn = batch.torn.clone().expect("the first write was in progress");
    assert!(batch.lost > 0);
    disk.power_loss(batch.written, Some(&torn));
    let group = match torn {
        DiskOp::Deliver { group, .. } | DiskOp::StoreWrite { group, .. } => Some(group),
        _ => None,
    };
    let recovered = disk.soft_recovery(false);
    assert!(recovered.iter().all(|r| r.replayed == 0));
    assert_eq!(recovered.iter().any(|r| r.torn_record), group.is_some(), "a torn log record ends replay");
    assert!(disk.soft_recovery(false).iter().all(|r| !r.torn_record), "recovery consumes the tear");
}

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

/// The connector's remote side refuses EX0 for `outage`: EX0 glitch-retries, finds it
/// down, and (as its group's master) reviews its own report; then probes until the
/// connector works again. Returns the events.
fn refused_connector(version: ExchangeVersion, outage: Instant, until: Instant) -> (Vec<ServerEvent>, [DiskImage; 2]) {
    let topo = two_groups_of(version);
    let (mut servers, mut disks) = two_servers(&topo);
    servers[0].handle_connector_service(ConnectorId(0), false);
    servers[0].handle_submit(Instant::ZERO, message(1), vec![AddressId(2)]);
    let mut events = pump(&mut servers, &mut disks, outage);
    servers[0].handle_connector_service(ConnectorId(0), true);
    events.extend(pump(&mut servers, &mut disks, until));
    (events, disks)
}

#[test]
fn exchange2000_marks_a_refused_connector_down_after_glitch_retries_4() {
    let (events, disks) =
        refused_connector(ExchangeVersion::Exchange2000Sp3, Instant(30 * 60_000), Instant(40 * 60_000));
    let detected: Vec<(ConnectorState, usize)> = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e {
            ServerEvent::ConnectorDetected { connector: ConnectorId(0), state } => Some((*state, i)),
            _ => None,
        })
        .collect();
    assert_eq!(detected.iter().map(|d| d.0).collect::<Vec<_>>(), vec![ConnectorState::Down, ConnectorState::Up]);
    let failures_before_down = events[..detected[0].1]
        .iter()
        .filter(|e| matches!(e, ServerEvent::QueueState { state: LinkQueueState::Retry, .. }))
        .count();
    assert_eq!(failures_before_down, 4, "three glitch retries fail, the fourth failure marks it down");
    assert!(events.iter().any(|e| matches!(e, ServerEvent::Queued { queue: QueueKey::Unreachable, .. })));
    // EX1 learned the change over link state.
    assert!(events.iter().any(|e| matches!(e, ServerEvent::Delivered { recipient: AddressId(2), .. })));
    assert!(disks.iter().all(|d| d.items.is_empty()));
}

#[test]
fn exchange2003_keeps_the_only_connector_up_and_queues_4() {
    let (events, disks) =
        refused_connector(ExchangeVersion::Exchange2003Sp2, Instant(30 * 60_000), Instant(60 * 60_000));
    assert!(events.iter().any(|e| matches!(
        e,
        ServerEvent::LinkStateReviewed {
            verdict: Decision::Suppress(crate::routing::routing_group_master::Suppressed::NoAlternatePath),
            ..
        }
    )));
    assert!(!events.iter().any(|e| matches!(e, ServerEvent::LinkStateChanged { .. })), "nothing propagates");
    assert!(!events.iter().any(|e| matches!(e, ServerEvent::Queued { queue: QueueKey::Unreachable, .. })));
    assert!(events.iter().any(|e| matches!(e, ServerEvent::Delivered { recipient: AddressId(2), .. })));
    assert!(disks.iter().all(|d| d.items.is_empty()));
}

/// EX0 alone in RG0 with an SMTP connector `*` by DNS and an X.400 address space it
/// cannot serve; DNS1 and DNS2; fabrikam.com MX 10 MX-A, 10 MX-B, 20 MX-C.
fn internet_topology() -> Arc<Topology> {
    use crate::config::topology::{GatewayConfig, HostConfig, HostRole, InternetConfig, MxRecord};
    use crate::transport::address_space::{AddressSpace, Pattern};
    let mut topo = (*two_groups()).clone();
    let domain = topo.external.add_smtp(AddressId(10), "alice@fabrikam.com").unwrap();
    topo.external.add_smtp(AddressId(11), "bob@nowhere.example").unwrap();
    topo.external.add_x400(AddressId(12), "c=US;a= ;p=Legacy;o=NYC;s=Smith").unwrap();
    let host = |name: &str, role| HostConfig { name: name.into(), fqdn: name.to_lowercase(), role };
    topo.internet = InternetConfig {
        hosts: vec![
            host("DNS1", HostRole::Dns),
            host("DNS2", HostRole::Dns),
            host("MX-A", HostRole::Mail),
            host("MX-B", HostRole::Mail),
            host("MX-C", HostRole::Mail),
        ],
        dns_servers: vec![HostId(0), HostId(1)],
        mx: [(
            domain,
            vec![
                MxRecord { preference: 10, host: HostId(2) },
                MxRecord { preference: 10, host: HostId(3) },
                MxRecord { preference: 20, host: HostId(4) },
            ],
        )]
        .into_iter()
        .collect(),
        dns_timeout_ms: 5_000,
    };
    topo.gateways = vec![GatewayConfig {
        name: "Internet".into(),
        routing_group: RoutingGroupId(0),
        source_bridgeheads: vec![ServerId(0)],
        address_spaces: vec![
            AddressSpace { pattern: Pattern::smtp("*").unwrap(), cost: 1 },
            AddressSpace { pattern: Pattern::x400("c=US;a= ;p=Legacy").unwrap(), cost: 1 },
        ],
        delivery: Delivery::Dns,
    }];
    Arc::new(topo)
}

/// Runs EX0 against the Internet hosts (those in `down` never answer) until quiet.
fn pump_internet(server: &mut ExchangeServer, down: &[u16], until: Instant) -> Vec<ServerEvent> {
    let topo = server.topology.clone();
    let mut hosts: Vec<crate::transport::internet_host::InternetMailHost> =
        topo.internet.hosts.iter().map(|_| crate::transport::internet_host::InternetMailHost::new()).collect();
    let mut events = Vec::new();
    let mut now = Instant::ZERO;
    let mut disk = DiskImage::default();
    loop {
        let outputs = server.drain_outputs();
        if outputs.is_empty() {
            match server.poll_timeout() {
                Some(t) if t <= until => {
                    now = t;
                    server.handle_timeout(now);
                    continue;
                }
                _ => return events,
            }
        }
        for out in outputs {
            match out {
                Output::SendHost { to, .. } | Output::Dns { to, .. } if down.contains(&to.0) => {}
                Output::SendHost { to, packet } => {
                    for reply in hosts[usize::from(to.0)].handle_packet(server.id(), packet) {
                        server.handle_host_packet(now, to, reply);
                    }
                }
                Output::Dns { to, query } => {
                    server.handle_dns_reply(now, to, crate::transport::dns::answer(&topo.internet, query))
                }
                Output::Persist(ops) => ops.into_iter().for_each(|op| disk.apply(op)),
                Output::Event(e) => events.push(e),
                Output::Send { .. }
                | Output::LinkState { .. }
                | Output::Ldap { .. }
                | Output::Move { .. }
                | Output::BackupSet(_) => {}
            }
        }
    }
}

#[test]
fn dns_delivery_fails_over_dns_servers_and_mx_hosts_exchange2003_3_2() {
    let topo = internet_topology();
    let mut server = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(3)));
    server.handle_submit(Instant::ZERO, message(1), vec![AddressId(10), AddressId(11), AddressId(12)]);
    // DNS1 and both preference-10 MX hosts are unresponsive.
    let events = pump_internet(&mut server, &[0, 2, 3], Instant(3_600_000));
    let failovers: Vec<HostId> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Failover { host, .. } => Some(*host),
            _ => None,
        })
        .collect();
    assert!(failovers.contains(&HostId(0)), "DNS1 timed out, DNS2 answered: {failovers:?}");
    assert!(failovers.contains(&HostId(2)) && failovers.contains(&HostId(3)), "{failovers:?}");
    let relayed: Vec<(HostId, Vec<AddressId>)> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Relayed { host, recipients, .. } => Some((*host, recipients.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(relayed, vec![(HostId(4), vec![AddressId(10)])], "the backup MX took it");
    let ndrs: Vec<(DsnCode, Vec<AddressId>)> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::Ndr { code, recipients, .. } => Some((*code, recipients.clone())),
            _ => None,
        })
        .collect();
    assert!(ndrs.contains(&(DsnCode::HostNotFound, vec![AddressId(11)])), "NXDOMAIN is 5.4.0: {ndrs:?}");
    assert!(ndrs.contains(&(DsnCode::RoutingError, vec![AddressId(12)])), "X.400 over DNS is 4.4.9: {ndrs:?}");
}

#[test]
fn equal_mx_hosts_share_the_load() {
    let topo = internet_topology();
    let mut server = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(5)));
    for n in 1..=40 {
        server.handle_submit(Instant(n * 60_000), message(n), vec![AddressId(10)]);
    }
    let events = pump_internet(&mut server, &[], Instant(7_200_000));
    let mut by_host = [0u32; 5];
    for e in &events {
        if let ServerEvent::Relayed { host, .. } = e {
            by_host[usize::from(host.0)] += 1;
        }
    }
    assert_eq!(by_host[4], 0, "the backup MX is not used while the others answer");
    assert_eq!(by_host[2] + by_host[3], 40);
    assert!(by_host[2] >= 10 && by_host[3] >= 10, "load spread over the equal MX hosts: {by_host:?}");
}

#[test]
fn link_state_does_not_cross_x400_connectors_exchange2003_4() {
    let mut topo = (*two_groups_of(ExchangeVersion::Exchange2000Sp3)).clone();
    for c in &mut topo.connectors {
        c.kind = crate::config::topology::ConnectorKind::X400;
    }
    let topo = Arc::new(topo);
    let mut server = ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1)));
    server.handle_connector_service(ConnectorId(0), false);
    server.handle_submit(Instant::ZERO, message(1), vec![AddressId(2)]);
    let (mut changed, mut sent) = (false, 0);
    let mut now = Instant::ZERO;
    // The MTA retries every 10 min: the fourth failed open (at 30 min) marks it down.
    while now < Instant(60 * 60_000) {
        for out in server.drain_outputs() {
            match out {
                Output::Event(ServerEvent::LinkStateChanged { .. }) => changed = true,
                Output::LinkState { .. } => sent += 1,
                _ => {}
            }
        }
        let Some(t) = server.poll_timeout() else { break };
        now = t;
        server.handle_timeout(now);
    }
    assert!(changed, "the master marked the refused connector down in its own table");
    assert_eq!(sent, 0, "no X-LINK2STATE over an X.400 connector: the groups are link state islands");
}

#[test]
fn an_x400_queue_follows_the_mta_open_interval_then_gives_up_exchange2003_3_2a() {
    use crate::config::topology::{GatewayConfig, HostConfig, HostRole, MtaConfig};
    use crate::transport::address_space::{AddressSpace, Pattern};
    let mut topo = (*internet_topology()).clone();
    topo.internet.hosts.push(HostConfig { name: "MTA".into(), fqdn: "mta".into(), role: HostRole::Mta });
    topo.gateways.push(GatewayConfig {
        name: "X.400".into(),
        routing_group: RoutingGroupId(0),
        source_bridgeheads: vec![ServerId(0)],
        address_spaces: vec![AddressSpace { pattern: Pattern::x400("c=US;a= ;p=Legacy;o=NYC").unwrap(), cost: 1 }],
        delivery: Delivery::Mta(HostId(5)),
    });
    topo.servers[0].mta = MtaConfig { open_interval_ms: 600_000, max_open_retries: 3 };
    let mut server = ExchangeServer::new(ServerId(0), Arc::new(topo), Box::new(Counter(3)));
    server.handle_submit(Instant::ZERO, message(1), vec![AddressId(12)]);
    let events = pump_internet(&mut server, &[5], Instant(3 * 3_600_000));
    let retries: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::QueueState { retry_in_ms: Some(ms), .. } => Some(*ms),
            _ => None,
        })
        .collect();
    assert_eq!(retries, vec![600_000; 4], "no glitch retries over the MTA: every attempt 10 min apart");
    let ndr = events.iter().find_map(|e| match e {
        ServerEvent::Ndr { code, recipients, .. } => Some((*code, recipients.clone())),
        _ => None,
    });
    assert_eq!(ndr, Some((DsnCode::Expired, vec![AddressId(12)])), "returned after the 4th failed open");
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

/// Runs one server's timers until `until`, applying its writes; returns its events.
fn run_alone(server: &mut ExchangeServer, disk: &mut DiskImage, until: Instant) -> Vec<ServerEvent> {
    let mut events = Vec::new();
    while let Some(t) = server.poll_timeout().filter(|t| *t <= until) {
        server.handle_timeout(t);
        for out in server.drain_outputs() {
            match out {
                Output::Persist(ops) => ops.into_iter().for_each(|op| disk.apply(op)),
                Output::Event(e) => events.push(e),
                _ => {}
            }
        }
    }
    events
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

/// EXCHANGE2003.md §3.2: a message from a mailbox on a journaling store gets one journal
/// report, from the first categorizer; the next server reads the journal data the
/// message carries and does not journal it again; Bcc recipients are listed only with
/// JournalBCC.
#[test]
fn a_journaled_message_is_reported_once_across_servers() {
    let mut topo = (*two_groups()).clone();
    // Store 0 (mailbox 1's, on EX0) journals to mailbox 2 (on EX1).
    topo.stores[0].journal_recipient = Some(AddressId(2));
    let topo = Arc::new(topo);
    let (mut servers, mut disks) = two_servers(&topo);
    // To mailbox 2 with mailbox 1 itself in Bcc: the header names only mailbox 2.
    let sent = Message { header_recipients: [AddressId(2)].as_slice().into(), ..message(1) };
    servers[0].handle_submit(Instant::ZERO, sent, vec![AddressId(2), AddressId(1)]);
    let events = pump(&mut servers, &mut disks, Instant(60_000));
    let reports: Vec<(u32, bool)> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::JournalReport { message: MessageId::Client(1), listed, bcc, .. } => Some((*listed, *bcc)),
            _ => None,
        })
        .collect();
    assert_eq!(reports, vec![(1, false)], "once, by EX0, without the Bcc recipient: {events:?}");
    let delivered_to_journal = events
        .iter()
        .filter(|e| {
            matches!(e, ServerEvent::Delivered { message: MessageId::Journal { .. }, recipient: AddressId(2), .. })
        })
        .count();
    assert_eq!(delivered_to_journal, 1, "the report reaches the journal mailbox");
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

/// Runs one server's timers until `until`, applying its writes; returns its events and
/// the backup sets it handed to the media.
fn run_with_media(
    server: &mut ExchangeServer,
    disk: &mut DiskImage,
    until: Instant,
) -> (Vec<ServerEvent>, Vec<crate::store::backup::BackupSet>) {
    let (mut events, mut sets) = (Vec::new(), Vec::new());
    while let Some(t) = server.poll_timeout().filter(|t| *t <= until) {
        server.handle_timeout(t);
        for out in server.drain_outputs() {
            match out {
                Output::Persist(ops) => ops.into_iter().for_each(|op| disk.apply(op)),
                Output::Event(e) => events.push(e),
                Output::BackupSet(set) => sets.push(*set),
                _ => {}
            }
        }
    }
    (events, sets)
}

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
