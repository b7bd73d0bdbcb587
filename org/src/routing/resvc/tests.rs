use super::*;
use crate::routing::routing_group_master::Decision;
use crate::service_events::InternalEvent;
use crate::test_topology::{two_groups, two_groups_of};
use crate::trace::ServerEvent;
use crate::transport::queue_directory::QueueItemId;
use crate::transport::smtp_protocol::SessionSeq;
use crate::version::ExchangeVersion;
use crate::AddressId;

fn resvc(topology: Arc<Topology>) -> RoutingEngineService {
    let masters = topology.routing_groups.iter().map(|g| g.master).collect();
    RoutingEngineService::new(ServerId(0), topology, masters, 0)
}

fn internal(service: &mut RoutingEngineService) -> Vec<ToSmtp> {
    let mut out = Vec::new();
    while let Some(event) = service.outbox().next_internal() {
        match event {
            InternalEvent::Smtp(e) => out.push(e),
            other => panic!("RESvc asks only SMTPSVC: {other:?}"),
        }
    }
    out
}

#[test]
fn a_local_mailbox_is_delivered_here_and_a_remote_one_goes_over_the_connector() {
    let mut service = resvc(two_groups());
    let entry = QueueEntry { item: QueueItemId(7), recipients: vec![AddressId(2), AddressId(1)] };
    service.handle_internal(Instant::ZERO, ToRouting::Route { entry, from: None });
    let [ToSmtp::Routed { item, from: None, routes }] = &internal(&mut service)[..] else { panic!() };
    assert_eq!(*item, QueueItemId(7));
    let hops: Vec<_> = routes.by_hop.iter().map(|(hop, (r, cost))| (*hop, r.clone(), *cost)).collect();
    let expected =
        vec![(NextHop::Local, vec![AddressId(1)], 0), (NextHop::Connector(ConnectorId(0)), vec![AddressId(2)], 1)];
    assert_eq!(hops, expected);
    assert!(routes.failed.is_empty());
}

#[test]
fn a_master_marks_the_connector_it_found_down_tells_smtp_and_probes_it_exchange2000_4() {
    let mut service = resvc(two_groups_of(ExchangeVersion::Exchange2000Sp3));
    let (connector, now) = (ConnectorId(0), Instant(5_000));
    service.handle_internal(now, ToRouting::ConnectorDetected { connector, state: ConnectorState::Down });
    assert_eq!(service.table().state(connector), ConnectorState::Down);
    let outputs = service.outbox().drain_outputs();
    let reviewed = outputs.iter().any(|o| {
        matches!(
            o,
            Output::Event(ServerEvent::LinkStateReviewed { verdict: Decision::Apply(ConnectorState::Down), .. })
        )
    });
    assert!(reviewed, "{outputs:?}");
    let update =
        |o: &Output| matches!(o, Output::LinkState { to: ServerId(1), message: LinkStateMessage::Update { .. } });
    assert!(outputs.iter().any(update), "the bridgehead across is told: {outputs:?}");
    assert!(matches!(internal(&mut service)[..], [ToSmtp::TableChanged]));
    // The probe interval later RESvc asks SMTPSVC to try the connector.
    let probe_at = now.plus_ms(service.topology.link_state.probe_interval_ms);
    assert!(service.poll_timeout().is_some_and(|t| t <= probe_at));
    service.handle_timeout(probe_at);
    assert!(internal(&mut service).iter().any(|e| matches!(e, ToSmtp::Probe(c) if *c == connector)));
}

#[test]
fn the_first_x_link2state_turn_carries_the_table_only_when_the_peer_lacks_it_4() {
    let mut service = resvc(two_groups());
    let seq = SessionSeq::first_of(0);
    // At the start of a run every server built the same table: the digest is enough.
    assert!(service.offer(ServerId(1), 1).info.is_none());
    assert!(service.offer(ServerId(1), 2).info.is_some(), "a second turn always carries it");
    service.table_mut().raise(&two_groups(), RoutingGroupId(0), ServerId(0), VersionBump::User, None);
    assert!(service.offer(ServerId(1), 1).info.is_some(), "changed since the peer last showed its digest");
    // The peer answers with the old digest and nothing newer: a second turn follows.
    let old = LinkStateTable::from_directory(&two_groups(), &[ServerId(0), ServerId(1)]).digest();
    let answer = LinkStateExchange { digest: old, info: None };
    service.handle_internal(Instant(1), ToRouting::LinkStateAnswered { seq, server: ServerId(1), turn: 1, answer });
    let events = internal(&mut service);
    assert!(matches!(&events[..], [ToSmtp::LinkStateOffer { turn: 2, offer, .. }] if offer.info.is_some()));
}
