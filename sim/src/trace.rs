//! The trace: every observable event as one JSON line with a stable field order
//! (`t_ms`, `node`, `event`, then the event's fields in declaration order), hashed with
//! SHA-256 as it is written. The first record holds orgsim's version, the seed and the
//! fully resolved scenario, so a change of defaults shows in a diff.

use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::Write;

/// Version of the trace format; bumped when a record changes shape.
pub const TRACE_FORMAT: u32 = 7;

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

/// One DC in a directory sample.
#[derive(Clone, Debug, Serialize)]
pub struct DcSample {
    /// DC name.
    pub dc: String,
    /// Attributes of its domain whose winning write it does not hold yet.
    pub backlog: u64,
}

/// One routing group's entry in a link state table.
#[derive(Clone, Debug, Serialize)]
pub struct GroupEntry {
    /// Routing group.
    pub routing_group: String,
    /// Version triple, `major.minor.user`.
    pub version: String,
    /// Its master.
    pub master: String,
    /// Its connectors marked down.
    pub down: Vec<String>,
}

/// A trace record's event.
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
        /// The scenario with every default filled in.
        scenario: serde_json::Value,
    },
    /// The run's concrete timeline (fixed steps and this seed's weather), at t=0.
    Timeline { steps: Vec<serde_json::Value> },
    /// A client submission is durable.
    Submitted { message: String, sender: String, recipients: Vec<String>, size_bytes: u64 },
    /// A message from another server is durable and acknowledged.
    Received { message: String, from: String, conn: String, recipients: Vec<String>, hop_count: u8 },
    /// Categorized.
    Categorized { message: String, resolved: u32, failed: u32 },
    /// An administrator changed these attributes of a recipient.
    RecipientModified { recipient: String, attributes: Vec<String> },
    /// With replication: a DC originated these recipient writes (`created` or `deleted`
    /// by an administrator, `stamped` by the Recipient Update Service bound to it).
    RecipientsWritten { change: &'static str, recipients: Vec<String> },
    /// A server's DSAccess user cache so far: lookups answered from it, lookups that went
    /// to a GC, entries held.
    #[serde(rename = "dsaccess_sample")]
    DsAccessSample { hits: u64, misses: u64, entries: u64 },
    /// The store refused a user's MAPI logon (protocolSettings): nothing was submitted.
    MapiLogonDenied { user: String },
    /// The store answered `message` with an Out of Office reply from `from` to `to`.
    OutOfOffice { message: String, from: String, reply: String, to: String },
    /// The categorizer holds the message to expand these groups.
    ExpansionStarted { message: String, groups: Vec<String> },
    /// A group was expanded to this many members (none: an empty group, no NDR).
    Expanded { message: String, group: String, members: u32 },
    /// A GC did not answer the categorizer in time: its lookup or expansion (`found`
    /// recipients thrown away) starts again on another GC.
    GcFailover { message: String, gc: String, found: u64 },
    /// No GC answered: the message waits in categorizer retry.
    CategorizerRetry { message: String, retry_in_ms: u64 },
    /// Every group of the message is expanded; it is routed next.
    ExpansionFinished { message: String },
    /// Memory the categorizer's expansions hold (2 KB a recipient).
    CategorizerMemory { bytes: u64 },
    /// Queued for a next hop.
    Queued {
        message: String,
        queue: String,
        recipients: Vec<String>,
        cost: u32,
        /// The link queue it left when its route changed (absent when it was not one).
        #[serde(skip_serializing_if = "Option::is_none")]
        rerouted_from: Option<String>,
    },
    /// Handed to the next server.
    Transferred { message: String, to: String, queue: String, recipients: Vec<String>, size_bytes: u64 },
    /// Handed to a host beyond the organization (its part is done).
    Relayed { message: String, host: String, queue: String, recipients: Vec<String>, size_bytes: u64 },
    /// A DNS server or MX host did not answer; the next one was tried.
    Failover { queue: String, host: String, reason: String },
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
    /// A host beyond the organization stopped or started answering.
    HostState { host: String, state: &'static str },
    /// Committed to a mailbox.
    Delivered { message: String, recipient: String, store: String, latency_ms: u64 },
    /// A duplicate copy dropped by the store.
    DuplicateSuppressed { message: String, recipient: String, store: String },
    /// NDR generated.
    Ndr { message: String, recipients: Vec<String>, code: &'static str, ndr: String, to: String },
    /// An undeliverable DSN went to Badmail.
    Badmail { message: String, recipients: Vec<String>, code: &'static str },
    /// A link queue changed state.
    QueueState {
        queue: String,
        state: &'static str,
        failures: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        retry_in_ms: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Queues rebuilt from disk.
    Recovered { items: u32, recipients: u32 },
    /// Queue depths (every sample interval).
    QueueSample { queues: Vec<QueueSample> },
    /// Bytes on a WAN link during the last interval, per direction.
    LinkSample { link: String, from_a_bytes: u64, from_b_bytes: u64, interval_ms: u64, bits_per_s: u64 },
    /// WAN link up or down.
    LinkState { link: String, state: &'static str },
    /// Whether a connector can really carry mail now (some pair of its bridgeheads can
    /// reach each other and its remote side accepts): the world's truth, which servers
    /// learn only by trying.
    ConnectorState { connector: String, state: &'static str },
    /// A server's link state table changed: the new entries of these routing groups.
    LinkStateChanged { groups: Vec<GroupEntry>, digest: String },
    /// A source bridgehead found a connector down (glitch retries spent) or working.
    ConnectorDetected { connector: String, state: &'static str },
    /// A routing group master reviewed a connector report.
    LinkStateReviewed { connector: String, reported: &'static str, verdict: String },
    /// Link state messages sent organization-wide during the last interval.
    LinkStateSample { messages: u64, bytes: u64, interval_ms: u64 },
    /// An administrator named a routing group master.
    MasterChanged { routing_group: String, server: String },
    /// A server died, losing the writes it had accepted but not made durable.
    ServerCrashed { lost_writes: u32 },
    /// A server started again.
    ServerRestarted { incarnation: u32 },
    /// A safety invariant failed for the first time.
    CheckFailed { check: String, detail: String },
    /// A check's final result.
    Check { check: String, ok: bool, detail: String },
    /// How often a sometimes property happened in the run (judged across a sweep).
    Sometimes { property: String, hits: u64 },
}

/// Writes trace records and hashes them.
pub struct TraceSink {
    hasher: Sha256,
    writer: Option<Box<dyn Write + Send>>,
    line: Vec<u8>,
    events: u64,
    error: Option<String>,
}

impl TraceSink {
    /// A sink writing to `writer` (or only hashing).
    pub fn new(writer: Option<Box<dyn Write + Send>>) -> Self {
        TraceSink { hasher: Sha256::new(), writer, line: Vec::with_capacity(512), events: 0, error: None }
    }

    /// Appends one record.
    pub fn record(&mut self, t_ms: u64, node: &str, event: &TraceEvent) {
        self.line.clear();
        write!(self.line, "{{\"t_ms\":{t_ms},\"node\":").expect("vec write");
        serde_json::to_writer(&mut self.line, node).expect("a string serializes");
        self.line.push(b',');
        let start = self.line.len();
        serde_json::to_writer(&mut self.line, event).expect("events serialize");
        debug_assert_eq!(self.line[start], b'{');
        self.line.remove(start);
        self.line.push(b'\n');
        self.hasher.update(&self.line);
        self.events += 1;
        if let Some(w) = self.writer.as_mut() {
            if let Err(e) = w.write_all(&self.line) {
                self.error.get_or_insert_with(|| e.to_string());
                self.writer = None;
            }
        }
    }

    /// Records written so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Flushes and returns (records, SHA-256 hex, first write error).
    pub fn finish(mut self) -> (u64, String, Option<String>) {
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

    #[test]
    fn stable_field_order() {
        let mut buf = Vec::new();
        {
            struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
            impl Write for Shared {
                fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                    self.0.lock().unwrap().extend_from_slice(b);
                    Ok(b.len())
                }
                fn flush(&mut self) -> std::io::Result<()> {
                    Ok(())
                }
            }
            let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut sink = TraceSink::new(Some(Box::new(Shared(out.clone()))));
            sink.record(5, "EX01", &TraceEvent::Categorized { message: "M1".into(), resolved: 2, failed: 0 });
            let (n, hex, err) = sink.finish();
            assert_eq!((n, hex.len(), err), (1, 64, None));
            buf.extend_from_slice(&out.lock().unwrap());
        }
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "{\"t_ms\":5,\"node\":\"EX01\",\"event\":\"categorized\",\"message\":\"M1\",\"resolved\":2,\"failed\":0}\n"
        );
    }
}
