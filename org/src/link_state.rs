//! The link state table every Exchange 2000/2003 server keeps in memory: the state of
//! each routing group connector, and least-cost routes over the connectors that are up
//! (EXCHANGE2003.md §4).
//!
//! v1 keeps one table per server and lets the simulator update all of them at once when
//! a connector changes state; propagation through routing group masters, version
//! numbers, glitch-retry detection and the 2003 oscillation rules come later. Equal-cost
//! routes are not load-shared yet: ties break on the lexicographically smallest path of
//! connector ids, so a route is a pure function of the table.

use crate::planted_bugs::PlantedBug;
use crate::topology::Topology;
use crate::{ConnectorId, RoutingGroupId};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Whether a connector can carry mail, as a server's table records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ConnectorState {
    /// Usable for routing.
    Up,
    /// Not used while an alternate path exists.
    Down,
}

/// A least-cost route from one routing group to another.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Sum of the connector costs.
    pub cost: u32,
    /// The connectors, in order; never empty.
    pub path: Vec<ConnectorId>,
}

impl Route {
    /// The connector mail takes first.
    pub fn first(&self) -> ConnectorId {
        self.path[0]
    }
}

/// One server's copy of the organization's link state.
#[derive(Clone, Debug)]
pub struct LinkStateTable {
    states: Vec<ConnectorState>,
    changes: u64,
}

impl LinkStateTable {
    /// A table with every connector up, as a server builds it from the directory at start.
    pub fn new(connector_count: usize) -> Self {
        LinkStateTable { states: vec![ConnectorState::Up; connector_count], changes: 0 }
    }

    /// The connector's state.
    pub fn state(&self, id: ConnectorId) -> ConnectorState {
        self.states[usize::from(id.0)]
    }

    /// Records a state; returns whether it changed.
    pub fn set(&mut self, id: ConnectorId, state: ConnectorState) -> bool {
        let slot = &mut self.states[usize::from(id.0)];
        if *slot == state {
            return false;
        }
        *slot = state;
        self.changes += 1;
        true
    }

    /// How many state changes this table has applied (a cache key for routes).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// The least-cost route from `from` to `to` over connectors that are up; `None` when
    /// `from == to` or no path exists. Dijkstra over routing groups; ties go to the
    /// lexicographically smallest connector path (positive costs keep that order stable
    /// under extension, so Dijkstra stays exact).
    pub fn route(&self, topology: &Topology, from: RoutingGroupId, to: RoutingGroupId) -> Option<Route> {
        if from == to {
            return None;
        }
        let groups = topology.routing_groups.len();
        let mut best: Vec<Option<(u32, Vec<ConnectorId>)>> = vec![None; groups];
        let mut heap = BinaryHeap::new();
        best[usize::from(from.0)] = Some((0, Vec::new()));
        heap.push(Reverse((0u32, Vec::<ConnectorId>::new(), from)));
        while let Some(Reverse((cost, path, group))) = heap.pop() {
            if best[usize::from(group.0)].as_ref() != Some(&(cost, path.clone())) {
                continue; // a better entry for this group was settled already
            }
            if group == to {
                debug_assert!(!path.is_empty());
                return Some(Route { cost, path });
            }
            for (index, connector) in topology.connectors.iter().enumerate() {
                let id = ConnectorId(index as u16);
                let down =
                    self.state(id) == ConnectorState::Down && !topology.bug(PlantedBug::RoutesOverDownConnectors);
                if connector.from != group || down {
                    continue;
                }
                debug_assert!((1..=100).contains(&connector.cost), "cost checked at load");
                let weight = if topology.bug(PlantedBug::IgnoresCost) { 1 } else { connector.cost };
                let next_cost = cost + weight;
                let mut next_path = path.clone();
                next_path.push(id);
                let slot = &mut best[usize::from(connector.to.0)];
                let better = match slot {
                    None => true,
                    Some((c, p)) => (next_cost, &next_path) < (*c, &*p),
                };
                if better {
                    *slot = Some((next_cost, next_path.clone()));
                    heap.push(Reverse((next_cost, next_path, connector.to)));
                }
            }
        }
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::global_catalog::GlobalCatalog;
    use crate::topology::{ConnectorConfig, RoutingGroupConfig};
    use proptest::prelude::*;

    /// A topology of `groups` routing groups and the given one-way connectors.
    pub(crate) fn topology(groups: usize, connectors: &[(u16, u16, u32)]) -> Topology {
        Topology {
            servers: Vec::new(),
            routing_groups: (0..groups)
                .map(|g| RoutingGroupConfig { name: format!("RG{g}"), members: Vec::new() })
                .collect(),
            connectors: connectors
                .iter()
                .enumerate()
                .map(|(i, &(from, to, cost))| ConnectorConfig {
                    name: format!("C{i}"),
                    from: RoutingGroupId(from),
                    to: RoutingGroupId(to),
                    cost,
                    source_bridgeheads: Vec::new(),
                    target_bridgeheads: Vec::new(),
                })
                .collect(),
            stores: Vec::new(),
            directory: GlobalCatalog::new(),
            plants: crate::planted_bugs::Plants::NONE,
        }
    }

    #[test]
    fn picks_cheapest_of_two_paths() {
        // 0 → 1 directly at cost 10, or 0 → 2 → 1 at cost 3 + 3.
        let topo = topology(3, &[(0, 1, 10), (0, 2, 3), (2, 1, 3)]);
        let mut table = LinkStateTable::new(3);
        let route = table.route(&topo, RoutingGroupId(0), RoutingGroupId(1)).unwrap();
        assert_eq!(route.cost, 6);
        assert_eq!(route.path, vec![ConnectorId(1), ConnectorId(2)]);
        assert!(table.set(ConnectorId(2), ConnectorState::Down));
        assert!(!table.set(ConnectorId(2), ConnectorState::Down));
        let route = table.route(&topo, RoutingGroupId(0), RoutingGroupId(1)).unwrap();
        assert_eq!(route.path, vec![ConnectorId(0)]);
        table.set(ConnectorId(0), ConnectorState::Down);
        assert_eq!(table.route(&topo, RoutingGroupId(0), RoutingGroupId(1)), None);
    }

    #[test]
    fn equal_costs_break_ties_on_smallest_path() {
        let topo = topology(2, &[(0, 1, 5), (0, 1, 5)]);
        let table = LinkStateTable::new(2);
        let route = table.route(&topo, RoutingGroupId(0), RoutingGroupId(1)).unwrap();
        assert_eq!(route.path, vec![ConnectorId(0)]);
    }

    /// Every simple path's cost from `from` to `to` over up connectors (brute force).
    fn all_path_costs(topo: &Topology, table: &LinkStateTable, from: u16, to: u16) -> Vec<u32> {
        fn walk(
            topo: &Topology,
            table: &LinkStateTable,
            at: u16,
            to: u16,
            seen: &mut Vec<u16>,
            cost: u32,
            out: &mut Vec<u32>,
        ) {
            if at == to {
                out.push(cost);
                return;
            }
            for (i, c) in topo.connectors.iter().enumerate() {
                if c.from.0 != at || seen.contains(&c.to.0) {
                    continue;
                }
                if table.state(ConnectorId(i as u16)) == ConnectorState::Down {
                    continue;
                }
                seen.push(c.to.0);
                walk(topo, table, c.to.0, to, seen, cost + c.cost, out);
                seen.pop();
            }
        }
        let mut out = Vec::new();
        walk(topo, table, from, to, &mut vec![from], 0, &mut out);
        out
    }

    proptest! {
        /// The chosen route is never costlier than any available path, exists exactly when
        /// some path exists, uses only connectors that are up and really joins the groups.
        #[test]
        fn route_is_least_cost(
            groups in 2usize..7,
            edges in proptest::collection::vec((0u16..7, 0u16..7, 1u32..=100, any::<bool>()), 0..20),
            from in 0u16..7,
            to in 0u16..7,
        ) {
            let groups_u16 = groups as u16;
            let edges: Vec<(u16, u16, u32, bool)> = edges
                .into_iter()
                .map(|(a, b, c, up)| (a % groups_u16, b % groups_u16, c, up))
                .filter(|(a, b, _, _)| a != b)
                .collect();
            let (from, to) = (from % groups_u16, to % groups_u16);
            let plain: Vec<(u16, u16, u32)> = edges.iter().map(|&(a, b, c, _)| (a, b, c)).collect();
            let topo = topology(groups, &plain);
            let mut table = LinkStateTable::new(plain.len());
            for (i, e) in edges.iter().enumerate() {
                if !e.3 {
                    table.set(ConnectorId(i as u16), ConnectorState::Down);
                }
            }
            let costs = all_path_costs(&topo, &table, from, to);
            let route = table.route(&topo, RoutingGroupId(from), RoutingGroupId(to));
            if from == to {
                prop_assert!(route.is_none());
            } else if let Some(route) = route {
                prop_assert_eq!(Some(route.cost), costs.iter().copied().min());
                let mut at = from;
                let mut sum = 0;
                for id in &route.path {
                    let c = topo.connector(*id);
                    prop_assert_eq!(c.from.0, at);
                    prop_assert_eq!(table.state(*id), ConnectorState::Up);
                    sum += c.cost;
                    at = c.to.0;
                }
                prop_assert_eq!(at, to);
                prop_assert_eq!(sum, route.cost);
            } else {
                prop_assert!(costs.is_empty());
            }
        }
    }
}
