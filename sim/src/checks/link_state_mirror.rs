//! `link_state_versions` and link state convergence: a mirror of every running server's
//! link state table, rebuilt from its `LinkStateChanged` events alone, and every
//! (routing group, version) entry any server has held.

use super::*;

pub(super) struct LinkStateMirror {
    topology: Arc<Topology>,
    /// Each running server's link state table as its events describe it.
    pub(super) tables: Vec<Option<OrgInfo>>,
    /// Every (routing group, version) entry any server has held, with who held it first.
    entries_seen: BTreeMap<(RoutingGroupId, LinkStateVersion), (GroupState, ServerId)>,
}

impl LinkStateMirror {
    pub(super) fn new(topology: Arc<Topology>, servers: usize) -> Self {
        LinkStateMirror { topology, tables: vec![None; servers], entries_seen: BTreeMap::new() }
    }

    /// How many entries servers have held.
    pub(super) fn entries_seen(&self) -> usize {
        self.entries_seen.len()
    }

    /// Takes a server's changed entries, judging each first.
    pub(super) fn changed(
        &mut self,
        server: ServerId,
        groups: &[(RoutingGroupId, GroupState)],
        digest: u64,
        judge: &mut Judge<'_>,
    ) {
        let i = usize::from(server.0);
        for (g, entry) in groups {
            if let Some(detail) = self.version_conflict(server, *g, entry, judge.server_names) {
                judge.violate(Invariant::LinkStateVersions, || detail);
            }
        }
        if let Some(table) = self.tables[i].as_mut() {
            for (g, entry) in groups {
                table.groups[usize::from(g.0)] = entry.clone();
            }
            debug_assert_eq!(table.digest(), digest, "the mirror follows the server's table");
        }
    }

    /// What is wrong with `server` taking `entry` for `group`, if anything: an older
    /// version than it held, or a version another server held with other contents.
    fn version_conflict(
        &mut self,
        server: ServerId,
        group: RoutingGroupId,
        entry: &GroupState,
        server_names: &[String],
    ) -> Option<String> {
        let name = |s: ServerId| server_names.get(usize::from(s.0)).cloned().unwrap_or_default();
        let group_name = &self.topology.routing_groups[usize::from(group.0)].name;
        if let Some(held) = self.tables[usize::from(server.0)].as_ref().map(|t| &t.groups[usize::from(group.0)]) {
            if entry.version < held.version {
                return Some(format!(
                    "{} went back from version {} to {} of {group_name}",
                    name(server),
                    held.version,
                    entry.version
                ));
            }
        }
        match self.entries_seen.get(&(group, entry.version)) {
            Some((first, holder)) if first != entry => Some(format!(
                "version {} of {group_name} means different things on {} and {}",
                entry.version,
                name(*holder),
                name(server)
            )),
            Some(_) => None,
            None => {
                self.entries_seen.insert((group, entry.version), (entry.clone(), server));
                None
            }
        }
    }

    /// The digest every running server's table shares, or the first two that differ.
    pub(super) fn agreement(&self, server_names: &[String]) -> Result<Option<u64>, String> {
        let mut first: Option<(usize, u64)> = None;
        for (i, t) in self.tables.iter().enumerate() {
            let Some(t) = t else { continue };
            let d = t.digest();
            match first {
                None => first = Some((i, d)),
                Some((j, e)) if e != d => {
                    let name = |k: usize| server_names.get(k).cloned().unwrap_or_default();
                    let versions = |k: usize| -> String {
                        let info = self.tables[k].as_ref().expect("running");
                        info.groups.iter().map(|g| g.version.to_string()).collect::<Vec<_>>().join(" ")
                    };
                    return Err(format!(
                        "{} has versions {} but {} has {}",
                        name(j),
                        versions(j),
                        name(i),
                        versions(i)
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(first.map(|(_, d)| d))
    }
}
