//! What the run's Information Stores hold at its end, for `--json`: each database's
//! files and mount state, each storage group's log stream (what the disks made durable).

use super::*;
use org::store::disk_load::{disk_load, DiskSettings};
use org::{StorageGroupId, StoreId};

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

/// The disk model's state of one storage group's volumes (EXCHANGE2003.md §11).
#[derive(Clone, Debug)]
pub(super) struct GroupVolumes {
    /// Log writes since the last sample: one per flush that carried the group's records
    /// (ESE's group commit writes the log buffer once for all the commits it holds).
    pub(super) log_writes: u64,
    /// The database volume: as the scenario gives it, or sized for its mailboxes' busy
    /// hour at 70 % of capacity.
    database_disk: DiskSettings,
    /// When the group was last sampled.
    sampled_ms: u64,
}

impl GroupVolumes {
    /// Each storage group's volumes at the start.
    pub(super) fn of(topology: &org::config::topology::Topology, clients: &[StoreClients]) -> Vec<GroupVolumes> {
        let busy_hour = |stores: &[StoreId]| stores.iter().map(|s| clients[usize::from(s.0)].busy_hour_iops).sum();
        topology
            .storage_groups
            .iter()
            .map(|g| GroupVolumes {
                log_writes: 0,
                database_disk: g.database_disk.unwrap_or_else(|| DiskSettings::sized_for(busy_hour(&g.stores))),
                sampled_ms: 0,
            })
            .collect()
    }
}

/// Each store's clients: its mailboxes, and their database I/Os a second in the busy
/// hour (mailboxes × their profile's).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct StoreClients {
    mailboxes: f64,
    busy_hour_iops: f64,
}

impl StoreClients {
    pub(super) fn of(topology: &org::config::topology::Topology) -> Vec<StoreClients> {
        let mut clients = vec![StoreClients::default(); topology.stores.len()];
        let directory = &topology.directory;
        for entry in directory.objects().filter_map(|(a, _)| directory.lookup(a)) {
            let c = &mut clients[usize::from(entry.store.0)];
            c.mailboxes += 1.0;
            c.busy_hour_iops += topology.store(entry.store).profile.database_iops();
        }
        clients
    }
}

/// Rounded to hundredths, for a readable trace.
fn hundredths(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl World {
    /// How busy the clients are in the interval ending at `at_ms`: the workload's hourly
    /// factor at the interval's middle over its busiest hour's (the profiles' figures are
    /// busy-hour figures); none outside the clients' working window.
    fn client_activity(&self, from_ms: u64, at_ms: u64) -> f64 {
        let Some(w) = &self.resolved.workload else { return 0.0 };
        let middle = Instant((from_ms + at_ms) / 2);
        if middle < w.from || middle >= w.until {
            return 0.0;
        }
        let peak = w.hourly_factor.iter().copied().fold(0.0, f64::max);
        let hour = (w.calendar.ms_of_day(middle) / org::time::HOUR_MS) as usize;
        if peak > 0.0 {
            w.hourly_factor[hour] / peak
        } else {
            0.0
        }
    }

    /// Runs a storage group's volumes over the interval since their last sample and
    /// gives the sample's disk figures.
    fn sample_volumes(&mut self, group: StorageGroupId, at_ms: u64, sample: &mut crate::trace::LogSample) {
        let topology = self.resolved.topology.clone();
        let config = topology.storage_group(group);
        let volumes = &self.volumes[usize::from(group.0)];
        let interval_ms = at_ms.saturating_sub(volumes.sampled_ms).max(1);
        let activity = self.client_activity(volumes.sampled_ms, at_ms);
        let (mut reads, mut writes, mut clients) = (0.0, 0.0, 0.0);
        for &store in config.stores.iter().filter(|s| !self.dismounted[usize::from(s.0)]) {
            let of_store = self.store_clients[usize::from(store.0)];
            let read_share = topology.store(store).profile.read_share();
            reads += of_store.busy_hour_iops * activity * read_share;
            writes += of_store.busy_hour_iops * activity * (1.0 - read_share);
            clients += of_store.mailboxes;
        }
        let volumes = &mut self.volumes[usize::from(group.0)];
        let log_iops = volumes.log_writes as f64 * 1_000.0 / interval_ms as f64;
        let database = disk_load(volumes.database_disk, reads + writes, clients);
        let log = disk_load(config.log_disk, log_iops, 1.0);
        volumes.log_writes = 0;
        volumes.sampled_ms = at_ms;
        sample.database_read_iops = hundredths(reads);
        sample.database_write_iops = hundredths(writes);
        sample.database_disk_iops = volumes.database_disk.capacity_iops;
        sample.database_latency_ms = hundredths(database.latency_us / 1_000.0);
        sample.log_write_iops = hundredths(log_iops);
        sample.log_disk_iops = config.log_disk.capacity_iops;
        sample.log_latency_ms = hundredths(log.latency_us / 1_000.0);
    }

    /// A database's logical size as its server's disk and the scenario give it: physical
    /// (.edb + .stm) less logical free space.
    fn logical_on_disk(&self, server: ServerId, store: StoreId) -> u64 {
        let size = self.resolved.topology.store(store).size;
        let files = self.disks[usize::from(server.0)].store_files.databases.get(&store).copied().unwrap_or_default();
        size.logical_bytes(&files)
    }

    /// Traces what a mailbox server's disk holds of its databases and logs.
    pub(super) fn store_sample(&mut self, server: ServerId, at_ms: u64) {
        let topology = self.resolved.topology.clone();
        let disk = &self.disks[usize::from(server.0)].store_files;
        let databases: Vec<crate::trace::DatabaseSample> = topology
            .stores_of(server)
            .map(|s| crate::trace::DatabaseSample {
                database: topology.store(s).name.clone(),
                logical_bytes: self.logical_on_disk(server, s),
                limit_bytes: topology.store(s).size.limit_bytes,
            })
            .collect();
        if databases.is_empty() {
            return;
        }
        let logs: Vec<_> = topology.storage_groups_of(server).map(|g| (g, disk.logs.get(&g).map(|l| l.log))).collect();
        let mut storage_groups = Vec::with_capacity(logs.len());
        for (g, log) in logs {
            let mut sample = crate::trace::LogSample {
                storage_group: topology.storage_group(g).name.clone(),
                log_files: log.map_or(1, |l| l.log_files()),
                log_disk_bytes: topology.storage_group(g).log.disk_bytes,
                log_generation: log.unwrap_or_default().generation(),
                ..Default::default()
            };
            self.sample_volumes(g, at_ms, &mut sample);
            storage_groups.push(sample);
        }
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

impl World {
    /// A delivery made durable: its size, kept until its `delivered` event if the quota
    /// check follows the mailbox.
    pub(super) fn note_delivery_size(&mut self, recipient: AddressId, message: MessageId, size_bytes: u64) {
        // The home lookup only when some mailbox has a limit at all (a Deliver op is hot).
        if self.checker.quota_any() && self.checker.quota_follows(recipient, self.home_store(recipient)) {
            self.delivery_sizes.insert((recipient, message.to_bits()), size_bytes);
        }
    }
}
