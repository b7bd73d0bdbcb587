//! `least_cost_routing`: every routing decision judged against the checker's own
//! shortest paths (Floyd–Warshall, independent of the routing engine's Dijkstra) over
//! the deciding server's link state mirror, and for external recipients the most
//! specific reachable address space, then the least total cost (EXCHANGE2003.md §5).

use super::*;

/// The best of (specificity, cost) offers: most specific first, then cheapest
/// (EXCHANGE2003.md §5).
fn best_offer(offers: impl Iterator<Item = (u32, u32)>) -> Option<(u32, u32)> {
    offers.max_by_key(|&(spec, cost)| (spec, std::cmp::Reverse(cost)))
}

pub(super) struct RouteJudge {
    topology: Arc<Topology>,
    /// Least costs between routing groups over each server's mirror (computed lazily).
    distances: Vec<Option<Vec<Vec<Option<u32>>>>>,
    /// Mailboxes the directory homes on another server than at the start (moves).
    pub(super) homes: BTreeMap<AddressId, ServerId>,
}

impl RouteJudge {
    pub(super) fn new(topology: Arc<Topology>, servers: usize) -> Self {
        RouteJudge { topology, distances: vec![None; servers], homes: BTreeMap::new() }
    }

    /// A server's table changed (or it started or stopped): its distances are stale.
    pub(super) fn forget(&mut self, server: ServerId) {
        self.distances[usize::from(server.0)] = None;
    }

    /// Judges a `Queued` event's routing decision, if it is one this check judges.
    pub(super) fn observe(
        &mut self,
        server: ServerId,
        event: &ServerEvent,
        mirror: &LinkStateMirror,
        judge: &mut Judge<'_>,
    ) {
        let ServerEvent::Queued { queue, recipients, cost, .. } = event else { return };
        let hop = match queue {
            QueueKey::Unreachable => NextHop::Unreachable,
            QueueKey::Link(hop @ (NextHop::Connector(_) | NextHop::Gateway(_) | NextHop::RemoteDomain(_))) => *hop,
            _ => return,
        };
        if !judge.checks(Invariant::LeastCostRouting) {
            return;
        }
        if let Some(detail) = self.check_route(server, (hop, recipients, *cost), &mirror.tables, judge.server_names) {
            judge.violate(Invariant::LeastCostRouting, || detail);
        }
    }

    /// Computes, unless known, the least costs between all routing groups over
    /// connectors up in `server`'s mirror; false when the server has no table.
    fn compute_distances(&mut self, server: ServerId, tables: &[Option<OrgInfo>]) -> bool {
        let i = usize::from(server.0);
        if self.distances[i].is_none() {
            let Some(info) = tables[i].as_ref() else { return false };
            let n = self.topology.routing_groups.len();
            let mut d = vec![vec![None::<u32>; n]; n];
            for (g, row) in d.iter_mut().enumerate() {
                row[g] = Some(0);
            }
            for (c, conn) in self.topology.connectors.iter().enumerate() {
                let down = info.groups[usize::from(conn.from.0)].down.contains(&ConnectorId(c as u16));
                let (a, b) = (usize::from(conn.from.0), usize::from(conn.to.0));
                if !down && a != b && d[a][b].is_none_or(|x| conn.cost < x) {
                    d[a][b] = Some(conn.cost);
                }
            }
            for k in 0..n {
                for a in 0..n {
                    for b in 0..n {
                        if let (Some(x), Some(y)) = (d[a][k], d[k][b]) {
                            if d[a][b].is_none_or(|z| x + y < z) {
                                d[a][b] = Some(x + y);
                            }
                        }
                    }
                }
            }
            self.distances[i] = Some(d);
        }
        true
    }

    /// Judges one routing decision of `server` against its table: the connector chosen
    /// must be up there and start a least-cost route; "unreachable" must mean no route.
    pub(super) fn check_route(
        &mut self,
        server: ServerId,
        (hop, recipients, cost): (NextHop, &[AddressId], u32),
        tables: &[Option<OrgInfo>],
        server_names: &[String],
    ) -> Option<String> {
        if !self.compute_distances(server, tables) {
            return None;
        }
        let topology = &self.topology;
        let me = topology.server(server).routing_group;
        let group_name = |g: RoutingGroupId| topology.routing_group(g).name.clone();
        // Borrowed, not cloned: this runs for every routing decision (a copy of the
        // matrix each time was 5 % of a 100,000-mailbox day).
        let d = self.distances[usize::from(server.0)].as_ref().expect("computed above");
        let info = tables[usize::from(server.0)].as_ref()?;
        for r in recipients {
            let Some(home) = self.homes.get(r).copied().or_else(|| topology.directory.home_server(*r, server)) else {
                let target = topology.directory.routing_address(*r);
                if let Some(wrong) =
                    self.check_external_route(server, d, (hop, target, r == &recipients[0], cost), tables, server_names)
                {
                    return Some(wrong);
                }
                continue;
            };
            let dest = topology.server(home).routing_group;
            let best = d[usize::from(me.0)][usize::from(dest.0)];
            match hop {
                NextHop::Unreachable => {
                    if let Some(best) = best.filter(|_| dest != me) {
                        return Some(format!(
                            "{} queued mail for {} as unreachable, but its table has a route of cost {best}",
                            server_names[usize::from(server.0)],
                            group_name(dest)
                        ));
                    }
                }
                NextHop::Connector(c) => {
                    let conn = topology.connector(c);
                    let down = info.groups[usize::from(conn.from.0)].down.contains(&c);
                    let via = d[usize::from(conn.to.0)][usize::from(dest.0)].map(|x| x + conn.cost);
                    let wrong = if down {
                        Some(format!("over {}, which its table marks down", conn.name))
                    } else if conn.from != me || via.is_none() || via != best {
                        Some(format!(
                            "over {} (cost via it {}), but the least cost is {}",
                            conn.name,
                            via.map_or("none".into(), |v| v.to_string()),
                            best.map_or("none".into(), |v| v.to_string())
                        ))
                    } else if r == &recipients[0] && Some(cost) != best {
                        // The event carries the route cost of its first recipient.
                        Some(format!("with cost {cost}, but the least cost is {}", best.expect("checked")))
                    } else {
                        None
                    };
                    if let Some(wrong) = wrong {
                        return Some(format!(
                            "{} routed mail for {} {wrong}",
                            server_names[usize::from(server.0)],
                            group_name(dest)
                        ));
                    }
                }
                NextHop::Local | NextHop::Server(_) | NextHop::Gateway(_) | NextHop::RemoteDomain(_) => {}
            }
        }
        None
    }

    /// How well gateway `g` serves external address `r`: its most specific matching
    /// address space's specificity and (lowest) cost.
    fn gateway_fit(&self, g: usize, r: AddressId) -> Option<(u32, u32)> {
        let text = self.topology.external.text(r)?;
        let gw = &self.topology.gateways[g];
        best_offer(gw.address_spaces.iter().filter_map(|s| s.pattern.specificity(&text).map(|spec| (spec, s.cost))))
    }

    /// Judges a routing decision for an external recipient against a reference over
    /// the mirror's distances `d`: the most specific reachable address space, then the
    /// least total cost (EXCHANGE2003.md §5).
    fn check_external_route(
        &self,
        server: ServerId,
        d: &[Vec<Option<u32>>],
        (hop, r, first, cost): (NextHop, AddressId, bool, u32),
        tables: &[Option<OrgInfo>],
        server_names: &[String],
    ) -> Option<String> {
        let topology = &self.topology;
        let me = usize::from(topology.server(server).routing_group.0);
        // (specificity, total cost) each gateway offers from group `from`, if reachable.
        let offer = |g: usize, from: usize| -> Option<(u32, u32)> {
            let (spec, space_cost) = self.gateway_fit(g, r)?;
            let to = usize::from(topology.gateways[g].routing_group.0);
            d[from][to].map(|x| (spec, x + space_cost))
        };
        let best = best_offer((0..topology.gateways.len()).filter_map(|g| offer(g, me)));
        let name = &server_names[usize::from(server.0)];
        let address = || match topology.external.lookup(r) {
            Some(org::transport::address_space::ExternalAddress::Smtp(dom)) => {
                topology.external.domain(dom).to_string()
            }
            _ => "an X.400 address".to_string(),
        };
        let chosen: Option<(u32, u32)> = match hop {
            NextHop::Unreachable => {
                return best.map(|(_, c)| {
                    format!(
                        "{name} queued mail for {} as unreachable, but a connector serves it at cost {c}",
                        address()
                    )
                });
            }
            NextHop::Connector(c) => {
                let conn = topology.connector(ConnectorId(c.0));
                let info = tables[usize::from(server.0)].as_ref()?;
                if info.groups[usize::from(conn.from.0)].down.contains(&c) {
                    return Some(format!(
                        "{name} routed mail for {} over {}, which its table marks down",
                        address(),
                        conn.name
                    ));
                }
                let to = usize::from(conn.to.0);
                best_offer(
                    (0..topology.gateways.len()).filter_map(|g| offer(g, to).map(|(spec, c)| (spec, c + conn.cost))),
                )
            }
            NextHop::Gateway(g) => {
                let gw = &topology.gateways[usize::from(g.0)];
                if usize::from(gw.routing_group.0) != me {
                    return Some(format!(
                        "{name} queued mail for {} to {}, a connector of another routing group",
                        address(),
                        gw.name
                    ));
                }
                self.gateway_fit(usize::from(g.0), r)
            }
            NextHop::RemoteDomain(_) => best_offer(
                (0..topology.gateways.len())
                    .filter(|g| {
                        let gw = &topology.gateways[*g];
                        gw.delivery == org::config::topology::Delivery::Dns && gw.source_bridgeheads.contains(&server)
                    })
                    .filter_map(|g| self.gateway_fit(g, r)),
            ),
            NextHop::Local | NextHop::Server(_) => return None,
        };
        let show = |x: Option<(u32, u32)>| x.map_or("none".into(), |(s, c)| format!("specificity {s}, cost {c}"));
        if chosen != best || (first && Some(cost) != best.map(|b| b.1)) {
            return Some(format!(
                "{name} queued mail for {} on {} (route: {}, event cost {cost}), but the best is {}",
                address(),
                QueueKey::Link(hop).display_name(topology),
                show(chosen),
                show(best)
            ));
        }
        None
    }
}
