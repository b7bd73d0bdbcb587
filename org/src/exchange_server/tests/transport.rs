//! SMTPSVC: local and remote delivery, durability across crashes and power losses, DNS
//! and MX failover, the X.400 MTA's retries, journaling by the categorizer.

use super::*;
use crate::transport::smtp_filters::edge_session::{EdgeCommand, EdgeFrame, EdgeNode, EdgePacket, EdgeReply};

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
        zones: Default::default(),
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
        outbound_security: Default::default(),
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
                | Output::OabGenerated(_)
                | Output::BackupSet(_)
                | Output::SendEdge { .. }
                | Output::EdgeDns { .. } => {}
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
        outbound_security: Default::default(),
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

/// EX0 with an SMTP connector for fabrikam.com whose smart host is EX1 of another
/// organization (its inbound virtual server 0), authenticating as `relay`.
fn other_organization_topology() -> Arc<Topology> {
    use crate::config::topology::{GatewayConfig, OutboundSecurity};
    use crate::transport::address_space::{AddressSpace, Pattern};
    let mut topo = (*two_groups()).clone();
    let mut edge = (*topo.edge).clone();
    edge.texts = (0..16).map(|i| format!("u{i}@fabrikam.com")).collect();
    edge.texts[1] = "sender@contoso.com".into();
    topo.edge = Arc::new(edge);
    for a in 10..14 {
        topo.external.add_smtp(AddressId(a), &format!("u{a}@fabrikam.com")).unwrap();
    }
    topo.gateways = vec![GatewayConfig {
        name: "To Fabrikam".into(),
        routing_group: RoutingGroupId(0),
        source_bridgeheads: vec![ServerId(0)],
        address_spaces: vec![AddressSpace { pattern: Pattern::smtp("fabrikam.com").unwrap(), cost: 1 }],
        delivery: Delivery::Organization { server: ServerId(1), virtual_server: 0 },
        outbound_security: OutboundSecurity::Basic { account: "relay".into(), password: "pw".into() },
    }];
    Arc::new(topo)
}

/// Runs EX0 against a scripted edge of the other organization: `answer` gives the
/// replies to each batch of commands (the TCP connect is one batch of none).
fn pump_other_organization(
    server: &mut ExchangeServer,
    until: Instant,
    answer: &mut dyn FnMut(&[EdgeCommand]) -> Vec<EdgeReply>,
) -> (Vec<ServerEvent>, Vec<Vec<EdgeCommand>>) {
    let (mut events, mut batches) = (Vec::new(), Vec::new());
    let mut now = Instant::ZERO;
    loop {
        let outputs = server.drain_outputs();
        if outputs.is_empty() {
            match server.poll_timeout() {
                Some(t) if t <= until => {
                    now = t;
                    server.handle_timeout(now);
                    continue;
                }
                _ => return (events, batches),
            }
        }
        for out in outputs {
            match out {
                Output::SendEdge { to: EdgeNode::Server(to), packet } => {
                    let commands = match packet.frame {
                        EdgeFrame::Connect { .. } => Vec::new(),
                        EdgeFrame::Commands(c) => c,
                        _ => continue,
                    };
                    let replies = answer(&commands);
                    batches.push(commands);
                    // A sender filter dropping the session closes it after its 550.
                    let drop = replies.iter().any(|r| matches!(r, EdgeReply::SenderDenied(_)));
                    let frame = EdgeFrame::Replies(replies);
                    server.handle_edge_packet(now, EdgeNode::Server(to), EdgePacket { conn: packet.conn, frame });
                    if drop {
                        let frame = EdgeFrame::Closed;
                        server.handle_edge_packet(now, EdgeNode::Server(to), EdgePacket { conn: packet.conn, frame });
                    }
                }
                Output::Event(e) => events.push(e),
                _ => {}
            }
        }
    }
}

#[test]
fn a_session_with_another_organization_ndrs_5xx_retries_4xx_and_reports_the_blob_exchange2003_6() {
    let topo = other_organization_topology();
    let mut server = ExchangeServer::new(ServerId(0), topo, Box::new(Counter(3)));
    server.handle_submit(Instant::ZERO, message(1), vec![AddressId(10), AddressId(11), AddressId(12)]);
    // u10 is taken, u11 refused (550), u12 put off (451) on the first attempt only.
    let mut attempts = 0;
    let mut answer = |commands: &[EdgeCommand]| -> Vec<EdgeReply> {
        commands
            .iter()
            .map(|c| match c {
                EdgeCommand::Ehlo(_) => EdgeReply::Ehlo { auth: true, size: None },
                EdgeCommand::Auth { .. } => EdgeReply::AuthOk,
                EdgeCommand::MailFrom { sender, .. } => {
                    attempts += 1;
                    EdgeReply::SenderOk(sender.clone())
                }
                EdgeCommand::RcptTo(r) if r == "u11@fabrikam.com" => EdgeReply::RecipientRefused,
                EdgeCommand::RcptTo(r) if r == "u12@fabrikam.com" && attempts == 1 => EdgeReply::DirectoryUnavailable,
                EdgeCommand::RcptTo(r) => EdgeReply::RecipientOk(r.clone()),
                EdgeCommand::Xexch50 { .. } => EdgeReply::NeedAuthFirst,
                EdgeCommand::Data => EdgeReply::StartMailInput,
                EdgeCommand::Content(_) => EdgeReply::Queued,
                EdgeCommand::Quit => EdgeReply::Closing,
                _ => EdgeReply::Unrecognized,
            })
            .chain(commands.is_empty().then_some(EdgeReply::Banner))
            .collect()
    };
    let (events, batches) = pump_other_organization(&mut server, Instant(3_600_000), &mut answer);
    assert!(matches!(&batches[1][..], [EdgeCommand::Ehlo(_), EdgeCommand::Auth { .. }]), "{batches:?}");
    let envelope = &batches[2];
    assert_eq!(
        envelope.first(),
        Some(&EdgeCommand::MailFrom { sender: "sender@contoso.com".into(), size_bytes: Some(4096) })
    );
    assert_eq!(envelope.last(), Some(&EdgeCommand::Xexch50 { size_bytes: 1_028 }), "XEXCH50 after the RCPTs");
    assert_eq!(batches[3], [EdgeCommand::Data], "a 504 loses the blob, not the message");
    let sent: Vec<(Vec<AddressId>, bool, &'static str)> = events
        .iter()
        .filter_map(|e| match e {
            ServerEvent::TransferredOut { recipients, authenticated, exch50, .. } => {
                Some((recipients.clone(), *authenticated, exch50.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        [(vec![AddressId(10)], true, "dropped"), (vec![AddressId(12)], true, "dropped")],
        "u12 went on the queue's retry"
    );
    let ndr = events.iter().find_map(|e| match e {
        ServerEvent::Ndr { recipients, code, .. } => Some((recipients.clone(), *code)),
        _ => None,
    });
    assert_eq!(ndr, Some((vec![AddressId(11)], DsnCode::AccessDenied)), "550 5.7.1 → NDR");
    let retried = events.iter().any(|e| {
        matches!(
            e,
            ServerEvent::QueueState {
                state: LinkQueueState::Retry,
                reason: Some(crate::trace::SessionFailure::Rejected(451)),
                ..
            }
        )
    });
    assert!(retried, "the 451 put the queue in retry");
}

#[test]
fn a_refused_auth_fails_the_session_and_the_queue_retries_exchange2003_6() {
    let topo = other_organization_topology();
    let mut server = ExchangeServer::new(ServerId(0), topo, Box::new(Counter(3)));
    server.handle_submit(Instant::ZERO, message(1), vec![AddressId(10)]);
    let mut answer = |commands: &[EdgeCommand]| -> Vec<EdgeReply> {
        match commands {
            [] => vec![EdgeReply::Banner],
            [EdgeCommand::Ehlo(_), EdgeCommand::Auth { .. }] => {
                vec![EdgeReply::Ehlo { auth: true, size: None }, EdgeReply::AuthFailed]
            }
            _ => vec![EdgeReply::Unrecognized; commands.len()],
        }
    };
    let (events, batches) = pump_other_organization(&mut server, Instant(600_000), &mut answer);
    assert!(events.iter().any(|e| matches!(e, ServerEvent::OutboundAuthFailed { code: 535, .. })));
    assert!(!events.iter().any(|e| matches!(e, ServerEvent::TransferredOut { .. })));
    assert!(
        batches.iter().all(|b| !b.iter().any(|c| matches!(c, EdgeCommand::MailFrom { .. }))),
        "no mail anonymously"
    );
    assert!(batches.iter().filter(|b| b.is_empty()).count() >= 2, "the queue tried again: {batches:?}");
}

#[test]
fn a_sender_refused_with_the_session_dropped_is_ndrd_not_retried_exchange2003_6() {
    let topo = other_organization_topology();
    let mut server = ExchangeServer::new(ServerId(0), topo, Box::new(Counter(3)));
    server.handle_submit(Instant::ZERO, message(1), vec![AddressId(10), AddressId(11)]);
    let mut answer = |commands: &[EdgeCommand]| -> Vec<EdgeReply> {
        match commands {
            [] => vec![EdgeReply::Banner],
            [EdgeCommand::Ehlo(_), EdgeCommand::Auth { .. }] => {
                vec![EdgeReply::Ehlo { auth: true, size: None }, EdgeReply::AuthOk]
            }
            [EdgeCommand::MailFrom { sender, .. }, ..] => vec![EdgeReply::SenderDenied(sender.clone())],
            _ => vec![EdgeReply::Unrecognized; commands.len()],
        }
    };
    let (events, batches) = pump_other_organization(&mut server, Instant(3_600_000), &mut answer);
    let ndr = events.iter().find_map(|e| match e {
        ServerEvent::Ndr { recipients, code, .. } => Some((recipients.clone(), *code)),
        _ => None,
    });
    assert_eq!(ndr, Some((vec![AddressId(10), AddressId(11)], DsnCode::AccessDenied)));
    let mails = batches.iter().filter(|b| matches!(b.first(), Some(EdgeCommand::MailFrom { .. })));
    assert_eq!(mails.count(), 1, "refused once, not retried: {batches:?}");
}
