//! The Cluster service (ClusSvc) of one Windows server cluster running Exchange virtual
//! servers (EXCHANGE2003.md §10, §10a): which node owns each virtual server, and where a
//! virtual server goes when its node fails.
//!
//! An Exchange virtual server (EVS) is a resource group — its network name, its disks
//! (the storage groups' databases and logs on shared storage) and its Exchange
//! services — owned by one node at a time. When the owning node fails, the group is
//! offline until a surviving node brings it online: after the failover time (detection,
//! disk arbitration, the services' start), the store starts on the new node and runs
//! soft recovery on the shared disks. The new owner is the first node in the cluster's
//! order that is up and owns no virtual server (active/passive); on a two-node cluster
//! a surviving node may own both (active/active). With no such node the group stays
//! offline until a node returns.
//!
//! Sans-IO: node failures and returns come in, the virtual servers to take offline now
//! and to bring online later come out; the caller (the world) brings them online at the
//! time given and confirms with [`ClusterService::online`].

use crate::time::Instant;
use crate::ServerId;

/// A node's index in its cluster's node list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct NodeIndex(pub u8);

/// A cluster as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterConfig {
    pub name: String,
    /// Its nodes, in preference order (a virtual server starts on the node at its own
    /// index).
    pub nodes: Vec<String>,
    /// Its Exchange virtual servers.
    pub virtual_servers: Vec<ServerId>,
    /// Each virtual server's failover time.
    pub failover_ms: Vec<u64>,
}

/// Where a virtual server is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Online(NodeIndex),
    /// Coming online on this node at this instant.
    Pending {
        node: NodeIndex,
        at: Instant,
        since: Instant,
        from: NodeIndex,
    },
    /// No node can take it; offline since then, last on `from`.
    Offline {
        since: Instant,
        from: NodeIndex,
    },
}

/// What the cluster asks of the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterAction {
    /// The virtual server's node failed: it stops now.
    Offline { server: ServerId },
    /// Bring it online on `node` at `at` (then call [`ClusterService::online`]).
    OnlineAt { server: ServerId, node: NodeIndex, at: Instant },
}

/// A virtual server came online on a new node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failover {
    pub server: ServerId,
    pub from: NodeIndex,
    pub to: NodeIndex,
    /// How long it was offline.
    pub offline_ms: u64,
}

/// One cluster's state.
#[derive(Clone, Debug)]
pub struct ClusterService {
    config: ClusterConfig,
    node_up: Vec<bool>,
    owners: Vec<Owner>,
}

impl ClusterService {
    /// Every node up, each virtual server online on the node at its index.
    pub fn new(config: ClusterConfig) -> Self {
        assert!(config.virtual_servers.len() <= config.nodes.len(), "a virtual server per node at most");
        assert_eq!(config.virtual_servers.len(), config.failover_ms.len(), "a failover time per virtual server");
        let owners = (0..config.virtual_servers.len()).map(|i| Owner::Online(NodeIndex(i as u8))).collect();
        ClusterService { node_up: vec![true; config.nodes.len()], owners, config }
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Whether the node is up.
    pub fn is_up(&self, node: NodeIndex) -> bool {
        self.node_up[usize::from(node.0)]
    }

    /// A node fails: the virtual servers it owns go offline, and they and those that
    /// were coming online on it are placed on other nodes.
    pub fn node_down(&mut self, node: NodeIndex, now: Instant) -> Vec<ClusterAction> {
        let mut actions = Vec::new();
        if !std::mem::replace(&mut self.node_up[usize::from(node.0)], false) {
            return actions;
        }
        for v in 0..self.owners.len() {
            match self.owners[v] {
                Owner::Online(n) if n == node => {
                    actions.push(ClusterAction::Offline { server: self.config.virtual_servers[v] });
                    self.owners[v] = Owner::Offline { since: now, from: node };
                }
                Owner::Pending { node: n, since, from, .. } if n == node => {
                    self.owners[v] = Owner::Offline { since, from };
                }
                _ => {}
            }
        }
        self.place_offline(now, &mut actions);
        actions
    }

    /// A node returns: virtual servers no node could take are placed.
    pub fn node_up(&mut self, node: NodeIndex, now: Instant) -> Vec<ClusterAction> {
        let mut actions = Vec::new();
        if !std::mem::replace(&mut self.node_up[usize::from(node.0)], true) {
            self.place_offline(now, &mut actions);
        }
        actions
    }

    /// The instant an `OnlineAt` named has come: the virtual server is online there
    /// (`None` when the plan changed since: that node failed meanwhile).
    pub fn online(&mut self, server: ServerId, node: NodeIndex, now: Instant) -> Option<Failover> {
        let v = self.config.virtual_servers.iter().position(|s| *s == server)?;
        match self.owners[v] {
            Owner::Pending { node: n, at, since, from } if n == node && at <= now => {
                self.owners[v] = Owner::Online(node);
                Some(Failover { server, from, to: node, offline_ms: now.since(since) })
            }
            _ => None,
        }
    }

    /// Places every offline virtual server on a node that can take it, in order.
    fn place_offline(&mut self, now: Instant, actions: &mut Vec<ClusterAction>) {
        for v in 0..self.owners.len() {
            let Owner::Offline { since, from } = self.owners[v] else { continue };
            let Some(node) = self.free_node() else { continue };
            let at = Instant(now.as_ms() + self.config.failover_ms[v]);
            self.owners[v] = Owner::Pending { node, at, since, from };
            actions.push(ClusterAction::OnlineAt { server: self.config.virtual_servers[v], node, at });
        }
    }

    /// The first node up that owns no virtual server; on a two-node cluster, else the
    /// first node up (active/active).
    fn free_node(&self) -> Option<NodeIndex> {
        let owns = |n: usize| {
            self.owners.iter().any(|o| match *o {
                Owner::Online(x) | Owner::Pending { node: x, .. } => usize::from(x.0) == n,
                Owner::Offline { .. } => false,
            })
        };
        let up = (0..self.node_up.len()).filter(|n| self.node_up[*n]);
        let free = up.clone().find(|n| !owns(*n));
        let shared = if self.node_up.len() == 2 { up.clone().next() } else { None };
        free.or(shared).map(|n| NodeIndex(n as u8))
    }
}

/// The failover time orgsim gives a virtual server by default (EXCHANGE2003.md §10a
/// [U]): on Windows 2000, 5 minutes plus 1 per 1,000 users, at most 8; on Windows Server
/// 2003, whose node detection is faster, half of that.
pub fn default_failover_ms(windows_2003: bool, users: u64) -> u64 {
    const MINUTE_MS: u64 = 60_000;
    let windows_2000 = (5 * MINUTE_MS + users * MINUTE_MS / 1_000).min(8 * MINUTE_MS);
    if windows_2003 {
        windows_2000 / 2
    } else {
        windows_2000
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn four_nodes() -> ClusterService {
        ClusterService::new(ClusterConfig {
            name: "EXCLUSTER".into(),
            nodes: ["N1", "N2", "N3", "N4"].map(String::from).to_vec(),
            virtual_servers: vec![ServerId(0), ServerId(1), ServerId(2)],
            failover_ms: vec![150_000; 3],
        })
    }

    #[test]
    fn a_failed_active_node_moves_its_server_to_the_passive_one() {
        let mut c = four_nodes();
        let actions = c.node_down(NodeIndex(0), Instant(1_000));
        let at = Instant(151_000);
        assert_eq!(
            actions,
            [
                ClusterAction::Offline { server: ServerId(0) },
                ClusterAction::OnlineAt { server: ServerId(0), node: NodeIndex(3), at }
            ]
        );
        assert_eq!(c.online(ServerId(0), NodeIndex(3), Instant(150_999)), None, "not before its time");
        let failover = c.online(ServerId(0), NodeIndex(3), at).unwrap();
        assert_eq!(
            failover,
            Failover { server: ServerId(0), from: NodeIndex(0), to: NodeIndex(3), offline_ms: 150_000 }
        );
    }

    #[test]
    fn with_no_passive_node_left_the_server_waits_for_a_node() {
        let mut c = four_nodes();
        c.node_down(NodeIndex(3), Instant(0));
        let actions = c.node_down(NodeIndex(1), Instant(10));
        assert_eq!(actions, [ClusterAction::Offline { server: ServerId(1) }]);
        let actions = c.node_up(NodeIndex(3), Instant(500));
        assert_eq!(
            actions,
            [ClusterAction::OnlineAt { server: ServerId(1), node: NodeIndex(3), at: Instant(150_500) }]
        );
        assert_eq!(c.online(ServerId(1), NodeIndex(3), Instant(150_500)).unwrap().offline_ms, 150_490);
    }

    #[test]
    fn a_target_that_fails_before_the_server_is_online_sends_it_on() {
        let mut c = four_nodes();
        c.node_down(NodeIndex(0), Instant(0));
        let actions = c.node_down(NodeIndex(3), Instant(60_000));
        assert_eq!(actions, [], "no node left: it waits");
        assert_eq!(c.online(ServerId(0), NodeIndex(3), Instant(150_000)), None, "the stale plan is dropped");
        let actions = c.node_up(NodeIndex(0), Instant(200_000));
        assert_eq!(
            actions,
            [ClusterAction::OnlineAt { server: ServerId(0), node: NodeIndex(0), at: Instant(350_000) }]
        );
        let f = c.online(ServerId(0), NodeIndex(0), Instant(350_000)).unwrap();
        assert_eq!((f.from, f.to, f.offline_ms), (NodeIndex(0), NodeIndex(0), 350_000));
    }

    #[test]
    fn two_nodes_run_active_active() {
        let mut c = ClusterService::new(ClusterConfig {
            name: "C".into(),
            nodes: vec!["A".into(), "B".into()],
            virtual_servers: vec![ServerId(4), ServerId(5)],
            failover_ms: vec![1_000, 2_000],
        });
        let actions = c.node_down(NodeIndex(1), Instant(0));
        assert_eq!(actions[1], ClusterAction::OnlineAt { server: ServerId(5), node: NodeIndex(0), at: Instant(2_000) });
    }

    #[test]
    fn failover_defaults_follow_the_users() {
        assert_eq!(default_failover_ms(false, 0), 300_000);
        assert_eq!(default_failover_ms(false, 2_500), 450_000);
        assert_eq!(default_failover_ms(false, 50_000), 480_000);
        assert_eq!(default_failover_ms(true, 2_500), 225_000);
    }

    proptest! {
        /// Whatever nodes fail and return, a virtual server is online on an up node or
        /// waiting, never two on one node of a bigger cluster, and each is online again
        /// once every node is back and its failover time has passed.
        #[test]
        fn nodes_failing_and_returning_never_lose_a_server(
            events in proptest::collection::vec((0u8..4, any::<bool>()), 0..40),
        ) {
            let mut c = four_nodes();
            let mut now = 0;
            let mut pending = Vec::new();
            for (node, up) in events {
                now += 50_000;
                pending.retain(|(s, n, at): &(ServerId, NodeIndex, Instant)| c.online(*s, *n, Instant(now)).is_none() && at.as_ms() > now);
                let actions = if up { c.node_up(NodeIndex(node), Instant(now)) } else { c.node_down(NodeIndex(node), Instant(now)) };
                for a in actions {
                    if let ClusterAction::OnlineAt { server, node, at } = a {
                        prop_assert!(c.is_up(node));
                        pending.push((server, node, at));
                    }
                }
                for o in &c.owners {
                    if let Owner::Online(n) = o {
                        prop_assert!(c.is_up(*n));
                        prop_assert_eq!(c.owners.iter().filter(|x| **x == Owner::Online(*n)).count(), 1);
                    }
                }
            }
            for n in 0..4 {
                for a in c.node_up(NodeIndex(n), Instant(now)) {
                    if let ClusterAction::OnlineAt { server, node, at } = a {
                        pending.push((server, node, at));
                    }
                }
            }
            for (s, n, at) in pending {
                c.online(s, n, Instant(at.as_ms().max(now)));
            }
            prop_assert!(c.owners.iter().all(|o| matches!(o, Owner::Online(_))), "{:?}", c.owners);
        }
    }
}
