//! What the run's Information Stores hold at its end, for `--json`: each database's
//! files and mount state, each storage group's log stream (what the disks made durable).

use super::*;
use org::StoreId;

/// One database at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DatabaseSummary {
    pub server: String,
    pub storage_group: String,
    pub database: String,
    /// Whether it takes mail (a server that is down at the end mounts everything when it
    /// starts; its databases count as mounted).
    pub mounted: bool,
    /// Its property (.edb) and streaming (.stm) files' bytes written.
    pub edb_bytes: u64,
    pub stm_bytes: u64,
}

/// One storage group's log stream at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StorageGroupSummary {
    pub server: String,
    pub storage_group: String,
    /// Bytes its log stream has written, and the generation of its current log file.
    pub log_bytes: u64,
    pub log_generation: u32,
}

/// The Information Stores at the end of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoreTotals {
    pub databases: Vec<DatabaseSummary>,
    pub storage_groups: Vec<StorageGroupSummary>,
}

impl World {
    /// A database's logical size as its server's disk and the scenario give it: physical
    /// (.edb + .stm) less logical free space.
    fn logical_on_disk(&self, server: ServerId, store: StoreId) -> u64 {
        let size = self.resolved.topology.store(store).size;
        let files = self.disks[usize::from(server.0)].store_files.databases.get(&store).copied().unwrap_or_default();
        let physical = size.initial_physical_bytes + files.edb_bytes + files.stm_bytes;
        physical - size.initial_free_bytes.min(physical)
    }

    /// Traces what a mailbox server's disk holds of its databases and logs.
    pub(super) fn store_sample(&mut self, server: ServerId, at_ms: u64) {
        let topology = self.resolved.topology.clone();
        let disk = &self.disks[usize::from(server.0)].store_files;
        let databases: Vec<crate::trace::DatabaseSample> = (0..topology.stores.len())
            .map(|i| StoreId(i as u16))
            .filter(|s| topology.store(*s).server == server)
            .map(|s| crate::trace::DatabaseSample {
                database: topology.store(s).name.clone(),
                logical_bytes: self.logical_on_disk(server, s),
                limit_bytes: topology.store(s).size.limit_bytes,
            })
            .collect();
        if databases.is_empty() {
            return;
        }
        let storage_groups = topology
            .storage_groups_of(server)
            .map(|g| crate::trace::LogSample {
                storage_group: topology.storage_group(g).name.clone(),
                log_files: disk.logs.get(&g).map_or(1, |l| l.log.log_files()),
                log_disk_bytes: topology.storage_group(g).log.disk_bytes,
            })
            .collect();
        let name = self.server_name(server).to_string();
        self.record(at_ms, &name, &TraceEvent::StoreSample { databases, storage_groups });
    }

    /// A daily size check as the store reported it, with the logical size the server's
    /// disk and the scenario give.
    pub(super) fn size_check(
        &self,
        server: ServerId,
        store: StoreId,
        reported_bytes: u64,
        verdict: org::trace::SizeVerdict,
    ) -> crate::checks::database_size_limit::SizeCheck {
        let config = self.resolved.topology.store(store);
        crate::checks::database_size_limit::SizeCheck {
            store,
            store_name: config.name.clone(),
            reported_bytes,
            verdict,
            on_disk_bytes: self.logical_on_disk(server, store),
            limit_bytes: config.size.limit_bytes.unwrap_or(u64::MAX),
            warning_buffer_percent: config.size.warning_buffer_percent,
        }
    }

    /// Each database and storage group, in the scenario's order, as the disks hold them.
    pub(super) fn store_totals(&self) -> StoreTotals {
        let topology = &self.resolved.topology;
        let databases = (0..topology.stores.len())
            .map(|i| {
                let store = topology.store(StoreId(i as u16));
                let files = self.disks[usize::from(store.server.0)].store_files.databases.get(&StoreId(i as u16));
                DatabaseSummary {
                    server: topology.server(store.server).name.clone(),
                    storage_group: store.storage_group.clone(),
                    database: store.name.clone(),
                    mounted: !self.dismounted[i],
                    edb_bytes: files.map_or(0, |f| f.edb_bytes),
                    stm_bytes: files.map_or(0, |f| f.stm_bytes),
                }
            })
            .collect();
        let storage_groups = (0..topology.storage_groups.len())
            .map(|g| {
                let id = org::StorageGroupId(g as u16);
                let group = topology.storage_group(id);
                let log = self.disks[usize::from(group.server.0)]
                    .store_files
                    .logs
                    .get(&id)
                    .map(|l| l.log)
                    .unwrap_or_default();
                StorageGroupSummary {
                    server: topology.server(group.server).name.clone(),
                    storage_group: group.name.clone(),
                    log_bytes: log.bytes(),
                    log_generation: log.generation(),
                }
            })
            .collect();
        StoreTotals { databases, storage_groups }
    }
}
