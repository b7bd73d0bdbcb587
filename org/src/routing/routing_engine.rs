//! The routing engine: for a resolved recipient, the next hop from this server — local
//! delivery, another server of the routing group, or a connector on the least-cost route
//! (EXCHANGE2003.md §3.2, §4). A recipient outside the organization goes to the
//! connector whose address space matches it most specifically, then at the least total
//! cost (the route to the connector's routing group plus the address space's cost)
//! (§5); its bridgehead hands it to a smart host, a foreign MTA, or the per-domain queue
//! that DNS delivery serves.

use crate::config::topology::{Delivery, Topology};
use crate::planted_bugs::PlantedBug;
use crate::routing::link_state::LinkStateTable;
use crate::transport::address_space::{DomainId, ExternalAddress, ExternalAddressText};
use crate::transport::dsn::DsnCode;
use crate::{AddressId, ConnectorId, GatewayId, RoutingGroupId, ServerId};
use serde::Serialize;
use std::collections::BTreeMap;

/// Where a recipient goes next from this server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum NextHop {
    /// A mailbox on this server: the local delivery queue.
    Local,
    /// Another server of this routing group, directly over SMTP.
    Server(ServerId),
    /// A connector leaving this routing group.
    Connector(ConnectorId),
    /// A connector with address spaces in this routing group: to its bridgehead, or, on
    /// the bridgehead, to its smart host or foreign MTA.
    Gateway(GatewayId),
    /// On a bridgehead of a DNS-delivering SMTP connector: the remote delivery queue of
    /// one domain, served by MX lookup.
    RemoteDomain(DomainId),
    /// No route now: "Final destination currently unreachable".
    Unreachable,
}

/// A routing decision with the cost of the route it follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoutingDecision {
    /// Next hop.
    pub next_hop: NextHop,
    /// Total route cost to the destination routing group (0 inside the group).
    pub cost: u32,
}

/// The connector with address spaces an external address takes from a routing group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GatewayChoice {
    /// The connector.
    pub gateway: GatewayId,
    /// How specifically its best address space matched.
    pub specificity: u32,
    /// Route cost to its routing group plus the address space's cost.
    pub cost: u32,
    /// The first connector of the route to its group (`None` inside the group).
    pub first: Option<ConnectorId>,
}

/// How an external address is routed from a routing group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalRoute {
    /// Through this connector.
    Via(GatewayChoice),
    /// Connectors match, but none is reachable over connectors up now.
    Unreachable,
    /// No connector's address space matches (5.0.0).
    NoMatch,
}

/// The gateway for `address` from `group` over `table`: among the connectors whose
/// address spaces match and whose routing group is reachable, the most specific match,
/// then the least total cost, then the lowest id (§5).
pub fn external_route(
    topology: &Topology,
    table: &LinkStateTable,
    group: RoutingGroupId,
    address: ExternalAddressText<'_>,
) -> ExternalRoute {
    let mut matched = false;
    let mut best: Option<GatewayChoice> = None;
    // Only its own organization's connectors: another forest's are not in its directory.
    let forest = topology.routing_group(group).forest;
    for (i, gw) in topology.gateways.iter().enumerate() {
        if topology.routing_group(gw.routing_group).forest != forest {
            continue;
        }
        let Some((specificity, space_cost)) = gw
            .address_spaces
            .iter()
            .filter_map(|s| s.pattern.specificity(&address).map(|spec| (spec, s.cost)))
            .max_by_key(|(spec, cost)| (*spec, std::cmp::Reverse(*cost)))
        else {
            continue;
        };
        matched = true;
        let (route_cost, first) = if gw.routing_group == group {
            (0, None)
        } else {
            match table.route(topology, group, gw.routing_group) {
                Some(route) => (route.cost, Some(route.first())),
                None => continue,
            }
        };
        let choice = GatewayChoice { gateway: GatewayId(i as u16), specificity, cost: route_cost + space_cost, first };
        let rank = |c: &GatewayChoice| {
            let spec = if topology.bug(PlantedBug::AddressSpaceCostFirst) { 0 } else { c.specificity };
            (spec, std::cmp::Reverse(c.cost))
        };
        let better = best.is_none_or(|b| rank(&choice) > rank(&b));
        if better {
            best = Some(choice);
        }
    }
    match best {
        Some(choice) => ExternalRoute::Via(choice),
        None if matched => ExternalRoute::Unreachable,
        None => ExternalRoute::NoMatch,
    }
}

/// What external routes are cached by: addresses of one domain route alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ExternalKey {
    Domain(DomainId),
    X400(AddressId),
}

/// Routes per destination routing group and external destination, recomputed when the
/// link state table changes.
#[derive(Clone, Debug, Default)]
pub struct RoutingEngine {
    cache: BTreeMap<RoutingGroupId, RoutingDecision>,
    external_cache: BTreeMap<ExternalKey, Result<RoutingDecision, DsnCode>>,
    cache_changes: u64,
}

impl RoutingEngine {
    /// An engine with an empty route cache.
    pub fn new() -> Self {
        RoutingEngine::default()
    }

    /// The next hop from `me` towards a mailbox on `destination`.
    pub fn next_hop(
        &mut self,
        topology: &Topology,
        table: &LinkStateTable,
        me: ServerId,
        destination: ServerId,
    ) -> RoutingDecision {
        if destination == me {
            return RoutingDecision { next_hop: NextHop::Local, cost: 0 };
        }
        let my_group = topology.server(me).routing_group;
        let their_group = topology.server(destination).routing_group;
        if my_group == their_group {
            return RoutingDecision { next_hop: NextHop::Server(destination), cost: 0 };
        }
        self.follow(table);
        *self.cache.entry(their_group).or_insert_with(|| match table.route(topology, my_group, their_group) {
            Some(route) => RoutingDecision { next_hop: NextHop::Connector(route.first()), cost: route.cost },
            None => RoutingDecision { next_hop: NextHop::Unreachable, cost: 0 },
        })
    }

    /// Drops cached routes when the table has changed since they were computed.
    fn follow(&mut self, table: &LinkStateTable) {
        if self.cache_changes != table.changes() {
            self.cache.clear();
            self.external_cache.clear();
            self.cache_changes = table.changes();
        }
    }

    /// The next hop from `me` towards an external recipient, or the code it fails with:
    /// 5.0.0 when no address space matches, 4.4.9 on the bridgehead of a DNS connector
    /// for a non-SMTP address (EXCHANGE2003.md §3.3).
    pub fn next_hop_external(
        &mut self,
        topology: &Topology,
        table: &LinkStateTable,
        me: ServerId,
        recipient: AddressId,
    ) -> Result<RoutingDecision, DsnCode> {
        let address = topology.external.lookup(recipient).expect("external recipients are in the directory");
        let key = match address {
            ExternalAddress::Smtp(d) => ExternalKey::Domain(d),
            ExternalAddress::X400 => ExternalKey::X400(recipient),
        };
        self.follow(table);
        if let Some(hit) = self.external_cache.get(&key) {
            return *hit;
        }
        let group = topology.server(me).routing_group;
        let text = topology.external.text(recipient).expect("looked up above");
        let decision = match external_route(topology, table, group, text) {
            ExternalRoute::NoMatch => Err(DsnCode::NoRoute),
            ExternalRoute::Unreachable => Ok(RoutingDecision { next_hop: NextHop::Unreachable, cost: 0 }),
            ExternalRoute::Via(choice) => {
                let gw = topology.gateway(choice.gateway);
                let next_hop = match choice.first {
                    Some(connector) => Ok(NextHop::Connector(connector)),
                    None if !gw.source_bridgeheads.contains(&me) => Ok(NextHop::Gateway(choice.gateway)),
                    None => match (gw.delivery, address) {
                        (Delivery::Dns, ExternalAddress::Smtp(domain)) => Ok(NextHop::RemoteDomain(domain)),
                        (Delivery::Dns, ExternalAddress::X400) => Err(DsnCode::RoutingError),
                        (Delivery::SmartHost(_) | Delivery::Mta(_), _) => Ok(NextHop::Gateway(choice.gateway)),
                        // Another organization takes SMTP addresses only, as DNS does.
                        (Delivery::Organization { .. }, ExternalAddress::Smtp(_)) => {
                            Ok(NextHop::Gateway(choice.gateway))
                        }
                        (Delivery::Organization { .. }, ExternalAddress::X400) => Err(DsnCode::RoutingError),
                    },
                };
                next_hop.map(|next_hop| RoutingDecision { next_hop, cost: choice.cost })
            }
        };
        self.external_cache.insert(key, decision);
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::topology::{ServerConfig, SmtpVirtualServerConfig};
    use crate::routing::link_state::tests::topology;
    use crate::routing::link_state::ConnectorState;
    use crate::version::ExchangeVersion;

    fn with_servers(mut topo: Topology, groups: &[u16]) -> Topology {
        topo.servers = groups
            .iter()
            .enumerate()
            .map(|(i, &g)| ServerConfig {
                ip: std::net::Ipv4Addr::UNSPECIFIED,
                name: format!("EX{i}"),
                forest: crate::ForestId(0),
                fqdn: format!("ex{i}.contoso.com"),
                version: ExchangeVersion::Exchange2003Sp2,
                routing_group: RoutingGroupId(g),
                smtp: SmtpVirtualServerConfig::default(),
                mta: crate::config::topology::MtaConfig::default(),
                global_catalogs: Vec::new(),
                dsaccess: None,
                journal_bcc: false,
                badmail: Default::default(),
            })
            .collect();
        topo
    }

    #[test]
    fn local_same_group_and_connector() {
        let topo = with_servers(topology(2, &[(0, 1, 1)]), &[0, 0, 1]);
        let mut table = crate::routing::link_state::tests::fresh(&topo);
        let mut engine = RoutingEngine::new();
        let hop =
            |e: &mut RoutingEngine, t: &LinkStateTable, d| e.next_hop(&topo, t, ServerId(0), ServerId(d)).next_hop;
        assert_eq!(hop(&mut engine, &table, 0), NextHop::Local);
        assert_eq!(hop(&mut engine, &table, 1), NextHop::Server(ServerId(1)));
        assert_eq!(hop(&mut engine, &table, 2), NextHop::Connector(ConnectorId(0)));
        crate::routing::link_state::tests::set(&mut table, &topo, 0, ConnectorState::Down);
        assert_eq!(hop(&mut engine, &table, 2), NextHop::Unreachable, "cache must follow the table");
    }

    /// Groups 0–1–2 in a line (cost 5 each way); gateways: `*` in RG2 (cost 1), `*.edu`
    /// in RG1 (cost 50), `school.edu` in RG2 (cost 1) bridged by EX2; X.400 in RG0.
    fn gateways() -> Topology {
        use crate::config::topology::GatewayConfig;
        use crate::transport::address_space::{AddressSpace, Pattern};
        let mut topo = with_servers(topology(3, &[(0, 1, 5), (1, 0, 5), (1, 2, 5), (2, 1, 5)]), &[0, 1, 2]);
        let gw = |name: &str, group: u16, spaces: &[(&str, u32)]| GatewayConfig {
            name: name.into(),
            routing_group: RoutingGroupId(group),
            source_bridgeheads: vec![ServerId(group)],
            address_spaces: spaces
                .iter()
                .map(|(p, cost)| AddressSpace {
                    pattern: if p.contains('=') { Pattern::x400(p).unwrap() } else { Pattern::smtp(p).unwrap() },
                    cost: *cost,
                })
                .collect(),
            delivery: Delivery::Dns,
            outbound_security: Default::default(),
        };
        topo.gateways = vec![
            gw("Star", 2, &[("*", 1)]),
            gw("Edu", 1, &[("*.edu", 50)]),
            gw("School", 2, &[("school.edu", 1)]),
            gw("Legacy", 0, &[("c=US;p=Legacy", 1)]),
        ];
        topo.external.add_smtp(AddressId(1), "a@fabrikam.com").unwrap();
        topo.external.add_smtp(AddressId(2), "b@other.edu").unwrap();
        topo.external.add_smtp(AddressId(3), "c@school.edu").unwrap();
        topo.external.add_x400(AddressId(4), "c=US;p=Legacy;o=NYC").unwrap();
        topo.external.add_x400(AddressId(5), "c=DE;p=Else").unwrap();
        topo
    }

    #[test]
    fn most_specific_address_space_first_then_cost_exchange2003_5() {
        let topo = gateways();
        let mut table = crate::routing::link_state::tests::fresh(&topo);
        // One engine per server, as each server keeps its own route cache.
        let mut engines = [RoutingEngine::new(), RoutingEngine::new(), RoutingEngine::new()];
        let mut hop = |table: &LinkStateTable, me: u16, r: u32| {
            let engine = &mut engines[usize::from(me)];
            engine.next_hop_external(&topo, table, ServerId(me), AddressId(r)).map(|d| (d.next_hop, d.cost))
        };
        // fabrikam.com: only `*` matches; from RG0 two hops to RG2 plus the space's cost.
        assert_eq!(hop(&table, 0, 1), Ok((NextHop::Connector(ConnectorId(0)), 11)));
        // other.edu: `*.edu` (cost 50 in RG1) beats the cheaper `*`: specificity first.
        assert_eq!(hop(&table, 0, 2), Ok((NextHop::Connector(ConnectorId(0)), 55)));
        assert_eq!(hop(&table, 1, 2), Ok((NextHop::RemoteDomain(crate::transport::address_space::DomainId(1)), 50)));
        // school.edu: the exact domain beats `*.edu`.
        assert_eq!(hop(&table, 1, 3), Ok((NextHop::Connector(ConnectorId(2)), 6)));
        // X.400 on a DNS connector's own bridgehead: 4.4.9; nothing matches c=DE: 5.0.0.
        assert_eq!(hop(&table, 0, 4), Err(DsnCode::RoutingError));
        assert_eq!(hop(&table, 1, 4), Ok((NextHop::Connector(ConnectorId(1)), 6)));
        assert_eq!(hop(&table, 0, 5), Err(DsnCode::NoRoute));
        // RG1 → RG2 down: school.edu falls back to `*.edu`, fabrikam.com is unreachable.
        crate::routing::link_state::tests::set(&mut table, &topo, 2, ConnectorState::Down);
        assert_eq!(hop(&table, 1, 3), Ok((NextHop::RemoteDomain(crate::transport::address_space::DomainId(2)), 50)));
        assert_eq!(hop(&table, 1, 1), Ok((NextHop::Unreachable, 0)));
    }

    #[test]
    fn a_server_that_is_not_the_bridgehead_forwards_to_it() {
        let mut topo = gateways();
        topo.servers[1].routing_group = RoutingGroupId(2);
        let table = crate::routing::link_state::tests::fresh(&topo);
        let mut engine = RoutingEngine::new();
        let d = engine.next_hop_external(&topo, &table, ServerId(1), AddressId(1)).unwrap();
        assert_eq!(d.next_hop, NextHop::Gateway(GatewayId(0)));
    }

    /// Least costs from `from` over up connectors by Bellman–Ford (a reference apart
    /// from the table's Dijkstra).
    fn reference_costs(topo: &Topology, table: &LinkStateTable, from: RoutingGroupId) -> Vec<Option<u32>> {
        let mut d = vec![None; topo.routing_groups.len()];
        d[usize::from(from.0)] = Some(0u32);
        for _ in 0..topo.routing_groups.len() {
            for (i, c) in topo.connectors.iter().enumerate() {
                if table.state(ConnectorId(i as u16)) == ConnectorState::Down {
                    continue;
                }
                if let Some(x) = d[usize::from(c.from.0)] {
                    let slot = &mut d[usize::from(c.to.0)];
                    if slot.is_none_or(|y| x + c.cost < y) {
                        *slot = Some(x + c.cost);
                    }
                }
            }
        }
        d
    }

    proptest::proptest! {
        /// Whatever the connectors, their states and the address spaces, the gateway
        /// chosen has the most specific matching space among reachable gateways and, among
        /// those, the least total cost; "unreachable" and "no match" mean exactly that.
        #[test]
        fn external_route_is_most_specific_then_cheapest(
            groups in 2usize..5,
            edges in proptest::collection::vec((0u16..5, 0u16..5, 1u32..=100, proptest::bool::ANY), 0..12),
            gateways in proptest::collection::vec((0u16..5, proptest::collection::vec((0usize..4, 1u32..=100), 1..3)), 0..5),
            domain in 0usize..4,
            from in 0u16..5,
        ) {
            use crate::transport::address_space::{AddressSpace, ExternalAddressText, Pattern};
            use crate::config::topology::GatewayConfig;
            let n = groups as u16;
            let edges: Vec<(u16, u16, u32, bool)> =
                edges.into_iter().map(|(a, b, c, up)| (a % n, b % n, c, up)).filter(|e| e.0 != e.1).collect();
            let plain: Vec<(u16, u16, u32)> = edges.iter().map(|e| (e.0, e.1, e.2)).collect();
            let mut topo = topology(groups, &plain);
            let vocabulary = ["*", "*.edu", "school.edu", "*.school.edu"];
            topo.gateways = gateways
                .iter()
                .map(|(g, spaces)| GatewayConfig {
                    name: "G".into(),
                    routing_group: RoutingGroupId(g % n),
                    source_bridgeheads: Vec::new(),
                    address_spaces: spaces
                        .iter()
                        .map(|(p, cost)| AddressSpace { pattern: Pattern::smtp(vocabulary[*p]).unwrap(), cost: *cost })
                        .collect(),
                    delivery: Delivery::Dns,
                    outbound_security: Default::default(),
                })
                .collect();
            let mut table = crate::routing::link_state::tests::fresh(&topo);
            for (i, e) in edges.iter().enumerate() {
                if !e.3 {
                    crate::routing::link_state::tests::set(&mut table, &topo, i as u16, ConnectorState::Down);
                }
            }
            let domains = ["fabrikam.com", "other.edu", "school.edu", "lab.school.edu"];
            let text = ExternalAddressText::Smtp(domains[domain]);
            let from = RoutingGroupId(from % n);
            let d = reference_costs(&topo, &table, from);
            // Every (specificity, total cost) on offer, by brute force.
            let mut offers = Vec::new();
            let mut matched = false;
            for gw in &topo.gateways {
                for space in &gw.address_spaces {
                    if let Some(spec) = space.pattern.specificity(&text) {
                        matched = true;
                        if let Some(x) = d[usize::from(gw.routing_group.0)] {
                            offers.push((spec, x + space.cost));
                        }
                    }
                }
            }
            let best_spec = offers.iter().map(|o| o.0).max();
            let best = best_spec.map(|s| (s, offers.iter().filter(|o| o.0 == s).map(|o| o.1).min().unwrap()));
            match external_route(&topo, &table, from, text) {
                ExternalRoute::Via(choice) => {
                    proptest::prop_assert_eq!(Some((choice.specificity, choice.cost)), best);
                    let gw = topo.gateway(choice.gateway);
                    proptest::prop_assert_eq!(choice.first.is_none(), gw.routing_group == from);
                    if let Some(c) = choice.first {
                        proptest::prop_assert_eq!(topo.connector(c).from, from);
                        proptest::prop_assert_eq!(table.state(c), ConnectorState::Up);
                    }
                }
                ExternalRoute::Unreachable => {
                    proptest::prop_assert!(matched);
                    proptest::prop_assert!(best.is_none());
                }
                ExternalRoute::NoMatch => proptest::prop_assert!(!matched),
            }
        }
    }
}
