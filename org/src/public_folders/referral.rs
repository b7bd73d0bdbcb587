//! Public folder referrals (EXCHANGE2003.md §8): a client opening a folder its server
//! holds no replica of is referred to a server that does — by default the replicas in
//! its own routing group first, then along routing group costs (the least-cost route
//! over the connectors as the directory configures them); with a 2003 custom referral
//! list, only the servers on the list, by their costs, a higher cost only when every
//! lower one is unavailable. Servers of equal cost are tried in server order [U:
//! Exchange picks among them at random].

use super::cn_set::ReplicaId;
use crate::config::topology::Topology;
use crate::routing::link_state::LinkStateTable;
use crate::{RoutingGroupId, ServerId};

/// The transport cost from one routing group to another over the connectors as the
/// directory configures them (0 within a group; None when no route joins them).
pub fn group_cost(t: &Topology, table: &LinkStateTable, from: RoutingGroupId, to: RoutingGroupId) -> Option<u32> {
    if from == to {
        return Some(0);
    }
    table.route(t, from, to).map(|r| r.cost)
}

/// The servers holding `replicas` a client of `home` is referred to, in the order it
/// tries them, each with its referral cost; `custom` is the home server's custom
/// referral list (server, cost), when it has one.
pub fn referral_order(
    t: &Topology,
    home: ServerId,
    replicas: &[ReplicaId],
    custom: Option<&[(ServerId, u32)]>,
) -> Vec<(ServerId, u32)> {
    let masters: Vec<_> = t.routing_groups.iter().map(|g| g.master).collect();
    let table = LinkStateTable::from_directory(t, &masters);
    let from = t.server(home).routing_group;
    let candidates = replicas.iter().map(|r| {
        let server = t.public_store(*r).server;
        (server, group_cost(t, &table, from, t.server(server).routing_group))
    });
    order(home, candidates, custom)
}

/// The servers a client of `home` opens a folder holding `replicas` on, in the order it
/// tries them: `home` itself when its public store holds a replica, then the referral
/// order.
pub fn servers_to_try(
    t: &Topology,
    home: ServerId,
    replicas: &[ReplicaId],
    custom: Option<&[(ServerId, u32)]>,
) -> Vec<ServerId> {
    let own = replicas.iter().map(|r| t.public_store(*r).server).find(|s| *s == home);
    own.into_iter().chain(referral_order(t, home, replicas, custom).into_iter().map(|(s, _)| s)).collect()
}

/// Orders referral candidates — each server holding a replica with its routing cost
/// from `home` (None: no route) —: by the custom list's costs when there is one (only
/// its servers), else by routing cost; cheapest first, then by server.
pub fn order(
    home: ServerId,
    candidates: impl IntoIterator<Item = (ServerId, Option<u32>)>,
    custom: Option<&[(ServerId, u32)]>,
) -> Vec<(ServerId, u32)> {
    let listed = |s: ServerId| custom.map(|list| list.iter().find(|(l, _)| *l == s).map(|(_, cost)| *cost));
    let mut order: Vec<(ServerId, u32)> = candidates
        .into_iter()
        .filter(|(s, _)| *s != home)
        .filter_map(|(s, cost)| match listed(s) {
            Some(on_list) => on_list.map(|c| (s, c)),
            None => cost.map(|c| (s, c)),
        })
        .collect();
    order.sort_by_key(|(s, cost)| (*cost, *s));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::topology::{ConnectorConfig, PublicStoreConfig, RoutingGroupConfig};
    use proptest::prelude::*;

    /// `n` servers, EXi alone in RGi, on a line: RGi and RGi+1 joined both ways at cost
    /// i+1; a public store on every server.
    fn line_of(n: u16) -> Topology {
        let base = crate::test_topology::two_groups();
        let mut t = (*base).clone();
        t.servers = (0..n)
            .map(|i| {
                let mut s = base.servers[0].clone();
                s.name = format!("EX{i}");
                s.routing_group = RoutingGroupId(i);
                s
            })
            .collect();
        t.routing_groups = (0..n)
            .map(|g| RoutingGroupConfig {
                name: format!("RG{g}"),
                members: vec![ServerId(g)],
                master: ServerId(g),
                administrative_group: 0,
                forest: crate::ForestId(0),
            })
            .collect();
        let connector = |from: u16, to: u16| ConnectorConfig {
            name: format!("RG{from}-RG{to}"),
            from: RoutingGroupId(from),
            to: RoutingGroupId(to),
            cost: u32::from(from.min(to)) + 1,
            source_bridgeheads: vec![ServerId(from)],
            target_bridgeheads: vec![ServerId(to)],
            ..base.connectors[0].clone()
        };
        t.connectors = (0..n - 1).flat_map(|i| [connector(i, i + 1), connector(i + 1, i)]).collect();
        t.public_stores = (0..n)
            .map(|i| PublicStoreConfig {
                name: format!("PF{i}"),
                server: ServerId(i),
                address: crate::AddressId(100 + u32::from(i)),
                site: i,
                settings: Default::default(),
            })
            .collect();
        t
    }

    /// The cost of the line's path between two groups.
    fn path_cost(a: u16, b: u16) -> u32 {
        (a.min(b)..a.max(b)).map(|i| u32::from(i) + 1).sum()
    }

    proptest! {
        /// The referral order holds every replica but the home server's (or, with a
        /// custom list, exactly the listed ones), each at its routing cost (or its listed
        /// cost), cheapest first.
        #[test]
        fn referrals_follow_costs_or_the_custom_list(
            n in 2u16..7,
            home in 0u16..7,
            replica_bits in 1u16..128,
            custom in proptest::option::of(proptest::collection::vec((0u16..7, 1u32..100), 0..6)),
        ) {
            let t = line_of(n);
            let home = ServerId(home % n);
            let replicas: Vec<ReplicaId> = (0..n).filter(|i| replica_bits & (1 << i) != 0).map(ReplicaId).collect();
            let mut list: Option<Vec<(ServerId, u32)>> =
                custom.map(|l| l.into_iter().map(|(s, c)| (ServerId(s % n), c)).collect());
            if let Some(l) = list.as_mut() {
                l.sort_by_key(|(s, _)| *s);
                l.dedup_by_key(|(s, _)| *s);
            }
            let order = referral_order(&t, home, &replicas, list.as_deref());
            prop_assert!(order.windows(2).all(|w| (w[0].1, w[0].0) <= (w[1].1, w[1].0)), "cheapest first: {order:?}");
            let expected: Vec<(ServerId, u32)> = replicas
                .iter()
                .map(|r| ServerId(r.0))
                .filter(|s| *s != home)
                .filter_map(|s| match &list {
                    Some(l) => l.iter().find(|(x, _)| *x == s).copied(),
                    None => Some((s, path_cost(home.0, s.0))),
                })
                .collect();
            let mut got = order.clone();
            got.sort_by_key(|(s, _)| *s);
            prop_assert_eq!(got, expected);
        }
    }
}
