//! The link state table every Exchange 2000/2003 server keeps in memory (EXCHANGE2003.md
//! §4): per routing group its version triple, its master and which of its connectors are
//! down; and least-cost routes over the connectors that are up.
//!
//! A table is built from the directory at start (every connector up, version 1.0.0) and
//! then learns newer state through [`LinkStateTable::merge`]: a group's entry is replaced
//! only by one with a higher version, so tables that exchange entries in any order end up
//! equal (a join on per-group versions). Only a group's master raises its versions
//! ([`LinkStateTable::raise`]). The wire form of a table is the OrgInfo packet.
//!
//! Equal-cost routes are not load-shared: ties break on the lexicographically smallest
//! path of connector ids, so a route is a pure function of the table.

use crate::config::topology::Topology;
use crate::planted_bugs::PlantedBug;
use crate::{ConnectorId, RoutingGroupId, ServerId};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Whether a connector can carry mail, as a server's table records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ConnectorState {
    /// Usable for routing.
    Up,
    /// Not used while an alternate path exists.
    Down,
}

impl ConnectorState {
    /// `up` or `down`, as traces and the routes view print it.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorState::Up => "up",
            ConnectorState::Down => "down",
        }
    }
}

/// A routing group's version triple; compared major first, then minor, then user
/// (EXCHANGE2003.md §4: major > minor > user).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct LinkStateVersion {
    /// Topology or configuration changes (a connector administratively stopped or started).
    pub major: u32,
    /// Connector up/down changes.
    pub minor: u32,
    /// Master changes and contact lost.
    pub user: u32,
}

impl LinkStateVersion {
    /// The version a table built from the directory starts with.
    pub const DIRECTORY: LinkStateVersion = LinkStateVersion { major: 1, minor: 0, user: 0 };
}

impl std::fmt::Display for LinkStateVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.user)
    }
}

/// What kind of change a master makes to its group's entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum VersionBump {
    /// Configuration: raises major, resets minor and user.
    Major,
    /// Connector state: raises minor, resets user.
    Minor,
    /// Master change: raises user.
    User,
}

/// One routing group's entry in the table (and in an OrgInfo packet).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct GroupState {
    /// Its version.
    pub version: LinkStateVersion,
    /// The master that raised it.
    pub master: ServerId,
    /// Its connectors (those leaving the group) that are down, ascending.
    pub down: Vec<ConnectorId>,
}

/// The link state of the whole organization: one entry per routing group. This is what
/// bridgeheads exchange (the OrgInfo packet) and what masters push to their members.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct OrgInfo {
    /// Indexed by [`RoutingGroupId`].
    pub groups: Vec<GroupState>,
}

/// OrgInfo wire size [U]: Exchange documents the packet's content, not its encoding. A
/// header with the digest, then per group its GUID, master, version triple and server
/// list, per connector its GUID, cost, address space, bridgeheads and `STATE UP|DOWN`.
const ORG_INFO_HEADER_BYTES: u64 = 256;
const ORG_INFO_GROUP_BYTES: u64 = 96;
const ORG_INFO_SERVER_BYTES: u64 = 48;
const ORG_INFO_CONNECTOR_BYTES: u64 = 160;

impl OrgInfo {
    /// A digest of the table (Exchange sends an MD5 digest first and the packet only when
    /// digests differ; orgsim needs only equality, so FNV-1a over the entries).
    pub fn digest(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |x: u64| {
            for b in x.to_le_bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for g in &self.groups {
            eat(u64::from(g.version.major));
            eat(u64::from(g.version.minor));
            eat(u64::from(g.version.user));
            eat(u64::from(g.master.0));
            eat(g.down.len() as u64);
            for c in &g.down {
                eat(u64::from(c.0));
            }
        }
        h
    }

    /// Bytes of the packet on the wire (before TCP/IP headers).
    pub fn wire_size_bytes(topology: &Topology) -> u64 {
        ORG_INFO_HEADER_BYTES
            + ORG_INFO_GROUP_BYTES * topology.routing_groups.len() as u64
            + ORG_INFO_SERVER_BYTES * topology.servers.len() as u64
            + ORG_INFO_CONNECTOR_BYTES * (topology.connectors.len() + topology.gateways.len()) as u64
    }
}

/// A link state message between two servers. Inside a routing group these go over the
/// persistent TCP 691 connection between a member and its master; between groups,
/// bridgeheads exchange them over SMTP with the `X-LINK2STATE` verb (EXCHANGE2003.md §4).
/// orgsim carries both as packets of their own over the same WAN, so they cost the same
/// bytes and suffer the same outages as mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkStateMessage {
    /// The sender's whole table (its digest differs from what the receiver last showed).
    Update {
        /// The table.
        info: Box<OrgInfo>,
        /// How many times the sender has restarted: a new incarnation is a new
        /// connection, and what was sent to the old one is lost.
        incarnation: u32,
    },
    /// The answer to an update: the receiver's digest after merging, and its table when
    /// it knew something newer than the update carried.
    Reply {
        /// Digest of the receiver's table after the merge.
        digest: u64,
        /// The receiver's table, when it differs from the update.
        info: Option<Box<OrgInfo>>,
    },
    /// A bridgehead tells its master what it found a connector to be.
    Report {
        /// The connector.
        connector: ConnectorId,
        /// Its state as the bridgehead found it.
        state: ConnectorState,
    },
    /// The master received the report.
    ReportAck {
        /// The connector.
        connector: ConnectorId,
        /// The state reported.
        state: ConnectorState,
    },
}

/// Bytes of a digest exchange or a report [U]: a command line and a GUID or two.
const LINK_STATE_SHORT_BYTES: u64 = 96;

/// One side's turn of the `X-LINK2STATE` exchange inside an SMTP session between
/// bridgeheads of two routing groups: after EHLO and before any mail, so the receiving
/// bridgehead routes what follows with at least what the sender knew (EXCHANGE2003.md §4;
/// the Transport and Routing Guide's "Link State Propagation": link state is what keeps
/// messages from bouncing back and forth between servers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkStateExchange {
    /// Digest of the side's table as it sends this turn.
    pub digest: u64,
    /// Its whole table, when the other side may not hold it.
    pub info: Option<Box<OrgInfo>>,
}

impl LinkStateExchange {
    /// Bytes of the verb or its answer, before TCP/IP headers.
    pub fn wire_size_bytes(&self, topology: &Topology) -> u64 {
        LINK_STATE_SHORT_BYTES + self.info.as_ref().map_or(0, |_| OrgInfo::wire_size_bytes(topology))
    }
}

impl LinkStateMessage {
    /// Bytes on the wire, including a 40-byte TCP/IP header.
    pub fn wire_size_bytes(&self, topology: &Topology) -> u64 {
        40 + match self {
            LinkStateMessage::Update { .. } => OrgInfo::wire_size_bytes(topology),
            LinkStateMessage::Reply { info: Some(_), .. } => {
                LINK_STATE_SHORT_BYTES + OrgInfo::wire_size_bytes(topology)
            }
            LinkStateMessage::Reply { info: None, .. }
            | LinkStateMessage::Report { .. }
            | LinkStateMessage::ReportAck { .. } => LINK_STATE_SHORT_BYTES,
        }
    }
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
    info: OrgInfo,
    states: Vec<ConnectorState>,
    changes: u64,
    /// `info.digest()`, kept current by every change: it is asked for on every link
    /// state exchange, and tables change far less often.
    digest: u64,
}

impl LinkStateTable {
    /// The table a server builds from the directory at start: every connector up, every
    /// group at [`LinkStateVersion::DIRECTORY`] under the master the directory names.
    pub fn from_directory(topology: &Topology, masters: &[ServerId]) -> Self {
        assert_eq!(masters.len(), topology.routing_groups.len(), "one master per routing group");
        let groups = masters
            .iter()
            .map(|&master| GroupState { version: LinkStateVersion::DIRECTORY, master, down: Vec::new() })
            .collect();
        let info = OrgInfo { groups };
        let digest = info.digest();
        LinkStateTable { info, states: vec![ConnectorState::Up; topology.connectors.len()], changes: 0, digest }
    }

    /// The connector's state.
    pub fn state(&self, id: ConnectorId) -> ConnectorState {
        self.states[usize::from(id.0)]
    }

    /// A routing group's entry.
    pub fn group(&self, id: RoutingGroupId) -> &GroupState {
        &self.info.groups[usize::from(id.0)]
    }

    /// The whole table, as an OrgInfo packet carries it.
    pub fn org_info(&self) -> &OrgInfo {
        &self.info
    }

    /// The table's digest.
    pub fn digest(&self) -> u64 {
        debug_assert_eq!(self.digest, self.info.digest(), "the digest follows every change");
        self.digest
    }

    /// How many changes this table has applied (a cache key for routes).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Replaces a group's entry (after a merge or a master's change) and the states of
    /// its connectors. The caller refreshes the digest once it has installed all it takes.
    fn install(&mut self, topology: &Topology, group: RoutingGroupId, entry: GroupState) {
        for (i, c) in topology.connectors.iter().enumerate() {
            if c.from == group {
                let id = ConnectorId(i as u16);
                self.states[i] =
                    if entry.down.binary_search(&id).is_ok() { ConnectorState::Down } else { ConnectorState::Up };
            }
        }
        debug_assert!(entry.down.windows(2).all(|w| w[0] < w[1]), "down connectors ascending");
        debug_assert!(entry.down.iter().all(|c| topology.connector(*c).from == group), "a group owns its connectors");
        self.info.groups[usize::from(group.0)] = entry;
        self.changes += 1;
    }

    /// Takes every entry of `incoming` with a higher version than this table's; returns
    /// the groups that changed. With `accept_stale` (a planted bug) any different entry
    /// is taken, newer or not.
    pub fn merge(&mut self, topology: &Topology, incoming: &OrgInfo, accept_stale: bool) -> Vec<RoutingGroupId> {
        assert_eq!(incoming.groups.len(), self.info.groups.len(), "OrgInfo of this organization");
        let mut changed = Vec::new();
        for (g, entry) in incoming.groups.iter().enumerate() {
            let mine = &self.info.groups[g];
            let take = if accept_stale { entry != mine } else { entry.version > mine.version };
            if take {
                let id = RoutingGroupId(g as u16);
                self.install(topology, id, entry.clone());
                changed.push(id);
            }
        }
        if !changed.is_empty() {
            self.digest = self.info.digest();
        }
        changed
    }

    /// The master of `group` changes its entry: the connector's state (if given) and the
    /// master, raising the version as `bump` says. Returns the new entry.
    pub fn raise(
        &mut self,
        topology: &Topology,
        group: RoutingGroupId,
        master: ServerId,
        bump: VersionBump,
        connector: Option<(ConnectorId, ConnectorState)>,
    ) -> &GroupState {
        let mut entry = self.group(group).clone();
        let v = &mut entry.version;
        *v = match bump {
            VersionBump::Major => LinkStateVersion { major: v.major + 1, minor: 0, user: 0 },
            VersionBump::Minor => LinkStateVersion { major: v.major, minor: v.minor + 1, user: 0 },
            VersionBump::User => LinkStateVersion { major: v.major, minor: v.minor, user: v.user + 1 },
        };
        entry.master = master;
        if let Some((c, state)) = connector {
            assert_eq!(topology.connector(c).from, group, "a master changes only its own group's connectors");
            match (state, entry.down.binary_search(&c)) {
                (ConnectorState::Down, Err(at)) => entry.down.insert(at, c),
                (ConnectorState::Up, Ok(at)) => {
                    entry.down.remove(at);
                }
                _ => {}
            }
        }
        self.install(topology, group, entry);
        self.digest = self.info.digest();
        self.group(group)
    }

    /// A table holding exactly `info` (a mirror of another server's table).
    pub fn from_org_info(topology: &Topology, info: OrgInfo) -> Self {
        let masters: Vec<ServerId> = info.groups.iter().map(|g| g.master).collect();
        let mut table = LinkStateTable::from_directory(topology, &masters);
        for (g, entry) in info.groups.into_iter().enumerate() {
            table.install(topology, RoutingGroupId(g as u16), entry);
        }
        table.digest = table.info.digest();
        table
    }

    /// Whether `from` reaches `to` over connectors that are up, without `excluded`
    /// (the 2003 "no alternate path" test).
    pub fn has_path_without(
        &self,
        topology: &Topology,
        from: RoutingGroupId,
        to: RoutingGroupId,
        excluded: ConnectorId,
    ) -> bool {
        let mut seen = vec![false; topology.routing_groups.len()];
        let mut stack = vec![from];
        seen[usize::from(from.0)] = true;
        while let Some(g) = stack.pop() {
            if g == to {
                return true;
            }
            for (i, c) in topology.connectors.iter().enumerate() {
                let id = ConnectorId(i as u16);
                if c.from == g && id != excluded && self.state(id) == ConnectorState::Up && !seen[usize::from(c.to.0)] {
                    seen[usize::from(c.to.0)] = true;
                    stack.push(c.to);
                }
            }
        }
        false
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
    use crate::config::topology::{ConnectorConfig, RoutingGroupConfig};
    use crate::directory::global_catalog::GlobalCatalog;
    use proptest::prelude::*;

    /// A topology of `groups` routing groups and the given one-way connectors.
    pub(crate) fn topology(groups: usize, connectors: &[(u16, u16, u32)]) -> Topology {
        Topology {
            servers: Vec::new(),
            routing_groups: (0..groups)
                .map(|g| RoutingGroupConfig {
                    name: format!("RG{g}"),
                    members: Vec::new(),
                    master: ServerId(0),
                    administrative_group: 0,
                    forest: crate::ForestId(0),
                })
                .collect(),
            connectors: connectors
                .iter()
                .enumerate()
                .map(|(i, &(from, to, cost))| ConnectorConfig {
                    name: format!("C{i}"),
                    kind: crate::config::topology::ConnectorKind::RoutingGroup,
                    from: RoutingGroupId(from),
                    to: RoutingGroupId(to),
                    cost,
                    source_bridgeheads: Vec::new(),
                    target_bridgeheads: Vec::new(),
                })
                .collect(),
            stores: Vec::new(),
            storage_groups: Vec::new(),
            directory: GlobalCatalog::new(),
            forests: Vec::new(),
            forest_directories: Vec::new(),
            gateways: Vec::new(),
            external: crate::transport::address_space::ExternalDirectory::new(),
            internet: crate::config::topology::InternetConfig::default(),
            plants: crate::planted_bugs::Plants::NONE,
            link_state: crate::config::topology::LinkStateConfig::default(),
            calendar: crate::calendar::Calendar::UNIX_EPOCH,
            mailboxes: Default::default(),
            junk_threshold: 6,
            recovery_storage_groups: Default::default(),
            public_stores: Vec::new(),
            public_folders: Default::default(),
            offline_address_books: Vec::new(),
            legacy_dn_naming: Default::default(),
            edge: Default::default(),
        }
    }

    /// A table fresh from the directory, every group mastered by server 0.
    pub(crate) fn fresh(topo: &Topology) -> LinkStateTable {
        LinkStateTable::from_directory(topo, &vec![ServerId(0); topo.routing_groups.len()])
    }

    /// The owning group's master marks a connector (a minor change).
    pub(crate) fn set(table: &mut LinkStateTable, topo: &Topology, c: u16, state: ConnectorState) {
        let group = topo.connector(ConnectorId(c)).from;
        table.raise(topo, group, ServerId(0), VersionBump::Minor, Some((ConnectorId(c), state)));
    }

    #[test]
    fn picks_cheapest_of_two_paths() {
        // 0 → 1 directly at cost 10, or 0 → 2 → 1 at cost 3 + 3.
        let topo = topology(3, &[(0, 1, 10), (0, 2, 3), (2, 1, 3)]);
        let mut table = fresh(&topo);
        let route = table.route(&topo, RoutingGroupId(0), RoutingGroupId(1)).unwrap();
        assert_eq!(route.cost, 6);
        assert_eq!(route.path, vec![ConnectorId(1), ConnectorId(2)]);
        set(&mut table, &topo, 2, ConnectorState::Down);
        assert_eq!(table.group(RoutingGroupId(2)).version, LinkStateVersion { major: 1, minor: 1, user: 0 });
        assert!(!table.has_path_without(&topo, RoutingGroupId(0), RoutingGroupId(1), ConnectorId(0)));
        let route = table.route(&topo, RoutingGroupId(0), RoutingGroupId(1)).unwrap();
        assert_eq!(route.path, vec![ConnectorId(0)]);
        set(&mut table, &topo, 0, ConnectorState::Down);
        assert_eq!(table.route(&topo, RoutingGroupId(0), RoutingGroupId(1)), None);
    }

    #[test]
    fn version_order_is_major_then_minor_then_user() {
        let v = |major, minor, user| LinkStateVersion { major, minor, user };
        assert!(v(2, 0, 0) > v(1, 9, 9));
        assert!(v(1, 2, 0) > v(1, 1, 7));
        assert!(v(1, 1, 1) > v(1, 1, 0));
        let topo = topology(2, &[(0, 1, 1)]);
        let mut table = fresh(&topo);
        let g = RoutingGroupId(0);
        table.raise(&topo, g, ServerId(0), VersionBump::User, None);
        assert_eq!(table.group(g).version, v(1, 0, 1));
        table.raise(&topo, g, ServerId(0), VersionBump::Minor, Some((ConnectorId(0), ConnectorState::Down)));
        assert_eq!(table.group(g).version, v(1, 1, 0));
        table.raise(&topo, g, ServerId(0), VersionBump::Major, None);
        assert_eq!(table.group(g).version, v(2, 0, 0));
        assert_eq!(table.state(ConnectorId(0)), ConnectorState::Down, "state survives a version bump");
    }

    #[test]
    fn merge_takes_only_newer_entries() {
        let topo = topology(2, &[(0, 1, 1), (1, 0, 1)]);
        let mut old = fresh(&topo);
        let mut new = fresh(&topo);
        set(&mut new, &topo, 0, ConnectorState::Down);
        assert_eq!(old.merge(&topo, new.org_info(), false), vec![RoutingGroupId(0)]);
        assert_eq!(old.state(ConnectorId(0)), ConnectorState::Down);
        assert_eq!(old.digest(), new.digest());
        // A stale table teaches nothing, unless the planted bug takes any difference.
        let stale = fresh(&topo);
        assert!(new.merge(&topo, stale.org_info(), false).is_empty());
        assert_eq!(new.merge(&topo, stale.org_info(), true), vec![RoutingGroupId(0)]);
        assert_eq!(new.state(ConnectorId(0)), ConnectorState::Up);
    }

    #[test]
    fn equal_costs_break_ties_on_smallest_path() {
        let topo = topology(2, &[(0, 1, 5), (0, 1, 5)]);
        let table = fresh(&topo);
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
            let mut table = fresh(&topo);
            for (i, e) in edges.iter().enumerate() {
                if !e.3 {
                    set(&mut table, &topo, i as u16, ConnectorState::Down);
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

        /// Masters change their own groups while tables merge in any order: once every
        /// table has merged every other (a gossip round), all tables are equal and each
        /// group's entry is its master's latest — the convergence link state relies on.
        #[test]
        fn merges_in_any_order_converge_on_masters_latest(
            tables in 2usize..5,
            steps in proptest::collection::vec((any::<bool>(), 0usize..4, 0usize..4, any::<bool>()), 0..40),
        ) {
            // Three groups in a ring, one connector each way; group g is mastered by table g % n.
            let topo = topology(3, &[(0, 1, 1), (1, 0, 1), (1, 2, 1), (2, 1, 1), (2, 0, 1), (0, 2, 1)]);
            let mut all: Vec<LinkStateTable> = (0..tables).map(|_| fresh(&topo)).collect();
            for (raise, a, b, down) in steps {
                let (a, b) = (a % tables, b % tables);
                if raise {
                    let c = (a * 2 + b) % topo.connectors.len();
                    let group = topo.connector(ConnectorId(c as u16)).from;
                    let master = usize::from(group.0) % tables;
                    let state = if down { ConnectorState::Down } else { ConnectorState::Up };
                    all[master].raise(&topo, group, ServerId(0), VersionBump::Minor, Some((ConnectorId(c as u16), state)));
                } else if a != b {
                    let info = all[a].org_info().clone();
                    all[b].merge(&topo, &info, false);
                }
            }
            let latest: Vec<GroupState> =
                (0..3).map(|g| all[g % tables].group(RoutingGroupId(g as u16)).clone()).collect();
            for a in 0..tables {
                for b in 0..tables {
                    let info = all[a].org_info().clone();
                    all[b].merge(&topo, &info, false);
                }
            }
            for t in &all {
                prop_assert_eq!(&t.org_info().groups, &latest);
                prop_assert_eq!(t.digest(), all[0].digest());
            }
        }
    }
}
