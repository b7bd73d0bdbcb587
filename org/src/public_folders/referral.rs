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
    let servers = replicas.iter().map(|r| t.public_store(*r).server).filter(|s| *s != home);
    let mut order: Vec<(ServerId, u32)> = match custom {
        Some(list) => servers.filter_map(|s| list.iter().find(|(l, _)| *l == s).map(|(_, cost)| (s, *cost))).collect(),
        None => {
            let masters: Vec<_> = t.routing_groups.iter().map(|g| g.master).collect();
            let table = LinkStateTable::from_directory(t, &masters);
            let from = t.server(home).routing_group;
            servers.filter_map(|s| group_cost(t, &table, from, t.server(s).routing_group).map(|c| (s, c))).collect()
        }
    };
    order.sort_by_key(|(s, cost)| (*cost, *s));
    order
}
