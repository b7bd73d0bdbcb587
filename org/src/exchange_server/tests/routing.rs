//! RESvc: link state over X-LINK2STATE and between master and members, connectors
//! marked down or kept up by version (EXCHANGE2003.md §4).

use super::*;

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
