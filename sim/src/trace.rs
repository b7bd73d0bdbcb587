//! The trace: every observable event as one JSON line with a stable field order
//! (`t_ms`, `node`, `event`, then the event's fields in declaration order), hashed with
//! SHA-256 as it is written. The first record holds orgsim's version, the seed and the
//! fully resolved scenario, so a change of defaults shows in a diff.

use org::trace::{json, Namer, ServerEvent};
use org::ServerId;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Write;

/// Version of the trace format; bumped when a record changes shape.
pub const TRACE_FORMAT: u32 = 16;

/// One queue in a queue sample.
#[derive(Clone, Debug, Serialize)]
pub struct QueueSample {
    /// Queue Viewer name.
    pub queue: String,
    /// Link state (`ready`, `active`, `retry`); absent for system queues.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    /// Messages in the queue.
    pub messages: u32,
}

/// One database in a store sample.
#[derive(Clone, Debug, Serialize)]
pub struct DatabaseSample {
    pub database: String,
    /// Physical size less logical free space, as its disk holds it.
    pub logical_bytes: u64,
    /// SP2's limit (checked on 2003 SP2 servers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit_bytes: Option<u64>,
}

/// One storage group's log files in a store sample.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LogSample {
    pub storage_group: String,
    /// Log files on disk, the current one included.
    pub log_files: u64,
    /// The volume holding them, when sized.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_disk_bytes: Option<u64>,
    /// The generation of its current log file.
    pub log_generation: u32,
    /// The disk model over the last interval (EXCHANGE2003.md §11): the database
    /// volume's reads and writes a second from the clients of its mounted databases, its
    /// capacity and mean I/O latency; the same for the log volume's writes (one per flush
    /// that carried the group's records).
    pub database_read_iops: f64,
    pub database_write_iops: f64,
    pub database_disk_iops: u32,
    pub database_latency_ms: f64,
    pub log_write_iops: f64,
    pub log_disk_iops: u32,
    pub log_latency_ms: f64,
}

/// One public store in a public folder sample.
#[derive(Clone, Debug, Serialize)]
pub struct PfStoreSample {
    /// Public store name.
    pub store: String,
    /// Change numbers of its folders (and the hierarchy) another store holds and it
    /// lacks.
    pub backlog: u64,
}

/// One DC in a directory sample.
#[derive(Clone, Debug, Serialize)]
pub struct DcSample {
    /// DC name.
    pub dc: String,
    /// Attributes of its domain whose winning write it does not hold yet.
    pub backlog: u64,
}

/// A record of the world's own (a server's events are [`ServerEvent`]s, which name their
/// own records).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TraceEvent {
    /// The first record.
    Run {
        /// orgsim's version.
        orgsim_version: &'static str,
        /// Trace format version.
        trace_format: u32,
        /// The run seed.
        seed: u64,
        /// Scenario file.
        file: String,
        /// Planted bugs switched on (`--plant`), by name; absent when none is.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        plants: Vec<&'static str>,
        /// The scenario with every default filled in.
        scenario: serde_json::Value,
    },
    /// The run's concrete timeline (fixed steps and this seed's weather), at t=0.
    Timeline { steps: Vec<serde_json::Value> },
    /// An administrator changed these attributes of a recipient.
    RecipientModified { recipient: String, attributes: Vec<String> },
    /// With replication: a DC originated these recipient writes (`created` or `deleted`
    /// by an administrator, `stamped` by the Recipient Update Service bound to it).
    RecipientsWritten { change: &'static str, recipients: Vec<String> },
    /// A server's DSAccess user cache so far: lookups answered from it, lookups that went
    /// to a GC, entries held.
    #[serde(rename = "dsaccess_sample")]
    DsAccessSample { hits: u64, misses: u64, entries: u64 },
    /// A domain controller made an originating change (its attributes, its USN after).
    DirectoryChange { attributes: u32, usn: u64 },
    /// A bulk change was refused: the DC was down.
    DirectoryChangeRefused { objects: u32 },
    /// A DC applied a replication batch from a source.
    AdReplicated { source: String, stored: u32, discarded: u32, more: bool },
    /// A DC's pull from a source got no answer in time.
    AdPullTimedOut { source: String },
    /// A DC's clock was set off true time (ms; negative: behind).
    DcClock { dc: String, skew_ms: i64 },
    /// A DC stopped or started answering.
    DcState { dc: String, state: &'static str },
    /// Directory replication every sample interval: each DC's backlog (attributes of
    /// its domain whose winning write it does not hold yet), replication bytes, and
    /// whether all replicas agree.
    AdSample { dcs: Vec<DcSample>, bytes: u64, interval_ms: u64, converged: bool },
    /// Each public store's replication backlog, as its disk holds it, and whether every
    /// store agrees (every sample interval, with public stores).
    PfSample { stores: Vec<PfStoreSample>, converged: bool },
    /// A host beyond the organization stopped or started answering.
    HostState { host: String, state: &'static str },
    /// Queue depths (every sample interval).
    QueueSample { queues: Vec<QueueSample> },
    /// A mailbox server's databases and log files, as its disk holds them (every sample
    /// interval).
    StoreSample { databases: Vec<DatabaseSample>, storage_groups: Vec<LogSample> },
    /// Bytes on a WAN link during the last interval, per direction.
    LinkSample { link: String, from_a_bytes: u64, from_b_bytes: u64, interval_ms: u64, bits_per_s: u64 },
    /// WAN link up or down.
    LinkState { link: String, state: &'static str },
    /// Whether a connector can really carry mail now (some pair of its bridgeheads can
    /// reach each other and its remote side accepts): the world's truth, which servers
    /// learn only by trying.
    ConnectorState { connector: String, state: &'static str },
    /// Link state messages sent organization-wide during the last interval.
    LinkStateSample { messages: u64, bytes: u64, interval_ms: u64 },
    /// An administrator named a routing group master.
    MasterChanged { routing_group: String, server: String },
    /// A server died, losing the writes it had accepted but not made durable; on a
    /// power loss, the write in progress may have been torn (`torn` names it).
    ServerCrashed {
        lost_writes: u32,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        power_loss: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        torn: Option<org::transport::queue_directory::DiskOpKind>,
    },
    /// A server started again.
    ServerRestarted { incarnation: u32 },
    /// A Move Mailbox task could not move a mailbox: its server was down or stopped.
    MoveNotDone { mailbox: String, reason: String },
    /// A cluster node failed or returned (traced under its cluster's name).
    ClusterNode { cluster_node: String, state: &'static str },
    /// A cluster's virtual server came online on another node after its node failed:
    /// how long it was offline.
    ClusterFailover { virtual_server: String, from_node: String, to_node: String, offline_ms: u64 },
    /// A cached-mode Outlook client finished downloading its offline address book (traced
    /// under its server's name): the diffs from the sequence it held, or the full file
    /// and why; from which replica, over which WAN link, how long it took, and what the
    /// replica offered (its full file's bytes, the diffs the client needed: absent when
    /// one was missing).
    OabDownload {
        oab: String,
        clients: String,
        client: u32,
        served_by: String,
        /// The file version (`v2`, `v3a`, `v4`): its own sequence numbers.
        version: &'static str,
        kind: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'static str>,
        from_sequence: Option<u32>,
        to_sequence: u32,
        bytes: u64,
        full_bytes: u64,
        needed_diff_bytes: Option<u64>,
        link: Option<String>,
        took_ms: u64,
    },
    /// A download was lost on the way (the WAN link under it went down); the client
    /// tries again the next day.
    OabDownloadLost { oab: String, clients: String, client: u32, served_by: String, link: String },
    /// A client found nothing to download from at its daily time.
    OabClientUnserved { oab: String, clients: String, client: u32, reason: &'static str },
    /// A safety invariant failed for the first time.
    CheckFailed { check: String, detail: String },
    /// The run's recipient counts, as `orgsim run` prints them, once at the end before
    /// the checks (a report reads them rather than rebuilding every recipient's fate).
    Messages(crate::checks::MessageCounts),
    /// A check's final result.
    Check { check: String, ok: bool, detail: String },
    /// How often a sometimes property happened in the run (judged across a sweep).
    Sometimes { property: String, hits: u64 },
}

/// Bytes of whole records gathered before they are hashed and written: one digest
/// update and one write per block rather than per record (35 million records in the
/// 100,000-mailbox day). The digest is the same: SHA-256 of the same bytes in order.
const BLOCK_BYTES: usize = 64 * 1024;

/// Writes trace records and hashes them.
pub struct TraceSink {
    hasher: Sha256,
    writer: Option<Box<dyn Write + Send>>,
    /// Whole records not yet hashed, then the one being written.
    block: Vec<u8>,
    events: u64,
    error: Option<String>,
}

impl TraceSink {
    /// A sink writing to `writer` (or only hashing).
    pub fn new(writer: Option<Box<dyn Write + Send>>) -> Self {
        let block = Vec::with_capacity(BLOCK_BYTES + 4096);
        TraceSink { hasher: Sha256::new(), writer, block, events: 0, error: None }
    }

    /// Appends one record of the world's.
    pub fn record(&mut self, t_ms: u64, node: &str, event: &TraceEvent) {
        self.begin(t_ms);
        json::str(&mut self.block, node);
        let start = self.block.len();
        self.block.push(b',');
        serde_json::to_writer(&mut self.block, event).expect("events serialize");
        self.end(start);
    }

    /// Appends one server event of `server`, its ids named by `names`.
    pub fn record_server(&mut self, t_ms: u64, server: ServerId, event: &ServerEvent, names: &dyn Namer) {
        self.begin(t_ms);
        names.write_server(server, &mut self.block);
        self.block.extend_from_slice(b",\"event\":\"");
        // Event names are snake_case identifiers: nothing to escape.
        let name = event.trace_name();
        debug_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{name}");
        self.block.extend_from_slice(name.as_bytes());
        self.block.push(b'"');
        event.write_fields(names, &mut self.block);
        self.block.push(b'}');
        self.commit();
    }

    /// Starts a line with the time, up to the node's name (the object left open).
    fn begin(&mut self, t_ms: u64) {
        self.block.extend_from_slice(b"{\"t_ms\":");
        json::uint(&mut self.block, t_ms);
        self.block.extend_from_slice(b",\"node\":");
    }

    /// Merges the event's object, which starts at `start`, into the line and ends it.
    fn end(&mut self, start: usize) {
        debug_assert_eq!(self.block[start..start + 2], *b",{");
        self.block.remove(start + 1);
        self.commit();
    }

    /// Ends the line; a full block is hashed and written.
    fn commit(&mut self) {
        self.block.push(b'\n');
        self.events += 1;
        if self.block.len() >= BLOCK_BYTES {
            self.drain();
        }
    }

    /// Hashes and writes the whole records gathered so far.
    fn drain(&mut self) {
        self.hasher.update(&self.block);
        if let Some(w) = self.writer.as_mut() {
            if let Err(e) = w.write_all(&self.block) {
                self.error.get_or_insert_with(|| e.to_string());
                self.writer = None;
            }
        }
        self.block.clear();
    }

    /// Records written so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Flushes and returns (records, SHA-256 hex, first write error).
    pub fn finish(mut self) -> (u64, String, Option<String>) {
        self.drain();
        if let Some(w) = self.writer.as_mut() {
            if let Err(e) = w.flush() {
                self.error.get_or_insert_with(|| e.to_string());
            }
        }
        let digest = self.hasher.finalize();
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        (self.events, hex, self.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use org::message::MessageId;
    use org::transport::advanced_queuing::QueueKey;
    use std::sync::{Arc, Mutex};

    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Names ids by number.
    struct Numbers;
    impl Namer for Numbers {
        fn message(&self, id: MessageId) -> String {
            format!("{id:?}")
        }
        fn address(&self, id: org::AddressId) -> &str {
            ["a@x.com", "b@x.com"][id.0 as usize]
        }
        fn server(&self, _: org::ServerId) -> &str {
            "EX01"
        }
        fn host(&self, _: org::HostId) -> &str {
            "MX1"
        }
        fn dc(&self, _: org::directory::ad_replication::DcId) -> &str {
            "DC01"
        }
        fn store(&self, _: org::StoreId) -> &str {
            "MS"
        }
        fn storage_group(&self, _: org::StorageGroupId) -> &str {
            "SG"
        }
        fn connector(&self, _: org::ConnectorId) -> &str {
            "RGC"
        }
        fn routing_group(&self, _: org::RoutingGroupId) -> &str {
            "RG"
        }
        fn queue(&self, key: QueueKey) -> &str {
            ["LocalDelivery", "Other"][usize::from(key != QueueKey::LocalDelivery)]
        }
        fn public_store(&self, _: org::public_folders::cn_set::ReplicaId) -> &str {
            "PS"
        }
    }

    #[test]
    fn stable_field_order_ids_named_and_absent_options_left_out() {
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut sink = TraceSink::new(Some(Box::new(Shared(out.clone()))));
        sink.record(1, "wan", &TraceEvent::LinkState { link: "L".into(), state: "down" });
        let categorized = ServerEvent::Categorized { message: MessageId::Client(1), resolved: 2, failed: 0 };
        sink.record_server(5, org::ServerId(0), &categorized, &Numbers);
        let queued = ServerEvent::Queued {
            message: MessageId::Client(2),
            queue: QueueKey::LocalDelivery,
            recipients: vec![org::AddressId(1), org::AddressId(0)],
            cost: 0,
            rerouted_from: None,
        };
        sink.record_server(6, org::ServerId(0), &queued, &Numbers);
        let (n, hex, err) = sink.finish();
        assert_eq!((n, hex.len(), err), (3, 64, None));
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        let expected = [
            r#"{"t_ms":1,"node":"wan","event":"link_state","link":"L","state":"down"}"#,
            r#"{"t_ms":5,"node":"EX01","event":"categorized","message":"Client(1)","resolved":2,"failed":0}"#,
            r#"{"t_ms":6,"node":"EX01","event":"queued","message":"Client(2)","queue":"LocalDelivery","recipients":["b@x.com","a@x.com"],"cost":0}"#,
        ];
        assert_eq!(text, expected.map(|l| format!("{l}\n")).concat());
    }
}
