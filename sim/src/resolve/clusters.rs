//! The topology's clusters: Windows server clusters whose nodes own Exchange virtual
//! servers (EXCHANGE2003.md §10a).

use super::*;
use crate::scenario::{Edition, WindowsVersionDef};
use org::cluster::cluster_service::{default_failover_ms, ClusterConfig, NodeIndex};

/// A cluster node as the timeline names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClusterNode {
    pub cluster: u16,
    pub node: NodeIndex,
}

/// The clusters, and their nodes by name (names unique in the organization).
pub(super) struct Clusters {
    pub(super) configs: Vec<ClusterConfig>,
    pub(super) nodes: Names,
    pub(super) node_at: Vec<ClusterNode>,
}

impl Resolver<'_> {
    /// The clusters section, checked: node counts by Windows version, at least one
    /// passive node beyond two, virtual servers that exist, run Enterprise Edition and
    /// belong to one cluster.
    pub(super) fn clusters(&mut self, t: &TopologyDef, org: &Org, mailboxes_by_server: &[Vec<AddressId>]) -> Clusters {
        let mut clusters = Clusters { configs: Vec::new(), nodes: Names::of(std::iter::empty()), node_at: Vec::new() };
        let mut owner: BTreeMap<usize, usize> = BTreeMap::new();
        let cp = p().key("topology").key("clusters");
        self.names("cluster", cp.clone(), t.clusters.iter().map(|c| c.name.as_str()), "name");
        for (ci, c) in t.clusters.iter().enumerate() {
            let at = cp.index(ci);
            let (max_nodes, windows_2003) = match c.windows {
                WindowsVersionDef::Windows2000 => (4, false),
                WindowsVersionDef::Windows2003 => (8, true),
            };
            if !(2..=max_nodes).contains(&c.nodes.len()) {
                self.error(
                    &at.key("nodes"),
                    format!(
                        "expected 2 to {max_nodes} nodes on Windows {} (EXCHANGE2003.md §10a), found {}",
                        if windows_2003 { "Server 2003" } else { "2000" },
                        c.nodes.len()
                    ),
                );
            }
            if c.virtual_servers.is_empty() || c.virtual_servers.len() > c.nodes.len() {
                self.error(&at.key("virtual_servers"), "expected 1 virtual server at least, and at most one per node");
            } else if c.nodes.len() > 2 && c.virtual_servers.len() == c.nodes.len() {
                self.error(
                    &at.key("virtual_servers"),
                    "a cluster of more than two nodes is active/passive: at least one node must be passive (EXCHANGE2003.md §10a)",
                );
            }
            self.cluster_nodes(&mut clusters, ci, c, &at);
            let mut config = ClusterConfig {
                name: c.name.clone(),
                nodes: c.nodes.clone(),
                virtual_servers: Vec::new(),
                failover_ms: Vec::new(),
            };
            for (k, name) in c.virtual_servers.iter().enumerate() {
                let vat = at.key("virtual_servers").index(k);
                let Some(s) = self.reference(&org.servers, "server", name, &vat) else { continue };
                if let Some(first) = owner.insert(s, ci) {
                    self.error(
                        &vat,
                        format!("server {name:?} is already a virtual server of cluster {:?}", t.clusters[first].name),
                    );
                    continue;
                }
                if t.servers[s].edition == Edition::Standard {
                    self.error(
                        &vat,
                        format!("server {name:?} runs Standard Edition, which does not cluster (EXCHANGE2003.md §10a)"),
                    );
                }
                let users = mailboxes_by_server.get(s).map_or(0, Vec::len) as u64;
                config.virtual_servers.push(ServerId(s as u16));
                config.failover_ms.push(c.failover.map_or(default_failover_ms(windows_2003, users), |d| d.ms));
            }
            config.virtual_servers.truncate(c.nodes.len());
            config.failover_ms.truncate(c.nodes.len());
            clusters.configs.push(config);
        }
        clusters
    }

    /// A cluster's nodes, each name unique among all clusters' nodes.
    fn cluster_nodes(&mut self, clusters: &mut Clusters, ci: usize, c: &crate::scenario::Cluster, at: &JsonPath) {
        for (k, node) in c.nodes.iter().enumerate() {
            let nat = at.key("nodes").index(k);
            if node.trim().is_empty() {
                self.error(&nat, "expected a non-empty node name");
                continue;
            }
            let i = clusters.node_at.len();
            if let Some(first) = clusters.nodes.get(node) {
                let earlier = &clusters.nodes.written[&first];
                self.error(
                    &nat,
                    format!("duplicate cluster node name {node:?} (first {earlier:?}; Windows names ignore case)"),
                );
                continue;
            }
            clusters.nodes.index.insert(Names::fold(node), i);
            clusters.nodes.written.insert(i, node.clone());
            clusters.node_at.push(ClusterNode { cluster: ci as u16, node: NodeIndex(k as u8) });
        }
    }
}

impl Resolver<'_> {
    /// A node fails only while up and returns only while down.
    pub(super) fn node_order(&mut self, names: &Targets, timeline: &[(u64, usize, WorldAction)]) {
        let tlp = p().key("timeline");
        let mut down: BTreeSet<ClusterNode> = BTreeSet::new();
        for (ms, i, action) in timeline {
            let (node, wrong) = match action {
                WorldAction::NodeDown(n, _) if !down.insert(*n) => (*n, "already down"),
                WorldAction::NodeUp(n) if !down.remove(n) => (*n, "not down; node_up follows a node_down"),
                _ => continue,
            };
            let name = &names.clusters[usize::from(node.cluster)].nodes[usize::from(node.node.0)];
            let when = crate::units::Duration::from_ms(*ms);
            self.error(&tlp.index(*i), format!("cluster node {name:?} is {wrong} at {when}"));
        }
    }
}
