//! The routing engine: for a resolved recipient, the next hop from this server — local
//! delivery, another server of the routing group, or a routing group connector on the
//! least-cost route (EXCHANGE2003.md §3.2, §4).

use crate::link_state::LinkStateTable;
use crate::topology::Topology;
use crate::{ConnectorId, RoutingGroupId, ServerId};
use serde::Serialize;
use std::collections::BTreeMap;

/// Where a recipient goes next from this server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum NextHop {
    /// A mailbox on this server: the local delivery queue.
    Local,
    /// Another server of this routing group, directly over SMTP.
    Server(ServerId),
    /// A routing group connector leaving this routing group.
    Connector(ConnectorId),
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

/// Routes per destination routing group, recomputed when the link state table changes.
#[derive(Clone, Debug, Default)]
pub struct RoutingEngine {
    cache: BTreeMap<RoutingGroupId, RoutingDecision>,
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
        if self.cache_changes != table.changes() {
            self.cache.clear();
            self.cache_changes = table.changes();
        }
        *self.cache.entry(their_group).or_insert_with(|| match table.route(topology, my_group, their_group) {
            Some(route) => RoutingDecision { next_hop: NextHop::Connector(route.first()), cost: route.cost },
            None => RoutingDecision { next_hop: NextHop::Unreachable, cost: 0 },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link_state::tests::topology;
    use crate::link_state::ConnectorState;
    use crate::topology::{ServerConfig, SmtpVirtualServerConfig};
    use crate::version::ExchangeVersion;

    fn with_servers(mut topo: Topology, groups: &[u16]) -> Topology {
        topo.servers = groups
            .iter()
            .enumerate()
            .map(|(i, &g)| ServerConfig {
                name: format!("EX{i}"),
                fqdn: format!("ex{i}.contoso.com"),
                version: ExchangeVersion::Exchange2003Sp2,
                routing_group: RoutingGroupId(g),
                smtp: SmtpVirtualServerConfig::default(),
            })
            .collect();
        topo
    }

    #[test]
    fn local_same_group_and_connector() {
        let topo = with_servers(topology(2, &[(0, 1, 1)]), &[0, 0, 1]);
        let mut table = crate::link_state::tests::fresh(&topo);
        let mut engine = RoutingEngine::new();
        let hop =
            |e: &mut RoutingEngine, t: &LinkStateTable, d| e.next_hop(&topo, t, ServerId(0), ServerId(d)).next_hop;
        assert_eq!(hop(&mut engine, &table, 0), NextHop::Local);
        assert_eq!(hop(&mut engine, &table, 1), NextHop::Server(ServerId(1)));
        assert_eq!(hop(&mut engine, &table, 2), NextHop::Connector(ConnectorId(0)));
        crate::link_state::tests::set(&mut table, &topo, 0, ConnectorState::Down);
        assert_eq!(hop(&mut engine, &table, 2), NextHop::Unreachable, "cache must follow the table");
    }
}
