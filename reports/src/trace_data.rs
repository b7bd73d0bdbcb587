//! What a report needs from a trace, read in one pass. Memory grows with the
//! organization (links, queues, servers, samples) and with one small record per
//! delivery, never with whole records.

use crate::clock::{parse_duration_ms, Clock};
use crate::{field, ReportError};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// One run day's OAB client downloads of one OAB, as the report lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OabDayRow {
    /// Full downloads and their bytes.
    pub full: u64,
    pub full_bytes: u64,
    /// Chains of diffs downloaded and their bytes.
    pub diffs: u64,
    pub diff_bytes: u64,
    /// Downloads lost on the way, and daily times with nothing to download from.
    pub lost: u64,
    pub unserved: u64,
    /// Download bytes by WAN link crossed (clients in the replica's site are not listed).
    pub wan_bytes: BTreeMap<String, u64>,
}

/// Counts an OAB client record (`oab_download`, `oab_download_lost`,
/// `oab_client_unserved`) into its OAB's run day in `days`; for a download, returns its
/// bytes and the network path it took (a WAN link, or `LAN`).
pub(crate) fn count_oab_record<'v>(
    days: &mut BTreeMap<(String, u64), OabDayRow>,
    t: u64,
    event: &str,
    v: &'v Value,
    path: &Path,
    n: usize,
) -> Result<Option<(u64, &'v str)>, ReportError> {
    let day = days.entry((as_str(v, "oab", path, n)?.to_string(), t / 86_400_000)).or_default();
    match event {
        "oab_download" => {
            let bytes = as_u64(v, "bytes", path, n)?;
            if as_str(v, "kind", path, n)? == "full" {
                day.full += 1;
                day.full_bytes += bytes;
            } else {
                day.diffs += 1;
                day.diff_bytes += bytes;
            }
            let link = v.get("link").and_then(Value::as_str);
            if let Some(link) = link {
                *day.wan_bytes.entry(link.to_string()).or_default() += bytes;
            }
            return Ok(Some((bytes, link.unwrap_or("LAN"))));
        }
        "oab_download_lost" => day.lost += 1,
        _ => day.unserved += 1,
    }
    Ok(None)
}

/// One offline address book generation as the report lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OabRunRow {
    /// When it finished.
    pub t_ms: u64,
    /// The OAB, its generation server and the GC it read.
    pub oab: String,
    /// See `oab`.
    pub server: String,
    /// See `oab`.
    pub gc: String,
    /// Records, and how many were added, removed or changed.
    pub records: u64,
    /// See `records`.
    pub changes: u64,
    /// Version 4 file sizes (SP2 servers): uncompressed, compressed, patch.
    pub full_bytes: Option<u64>,
    /// See `full_bytes`.
    pub compressed_bytes: Option<u64>,
    /// See `full_bytes`.
    pub patch_bytes: Option<u64>,
    /// What versions 2/3a got.
    pub legacy: String,
    /// Their compressed bytes when posted (trace format 14): the version 3a set and
    /// Changes file (version 2's differ only by the string encoding).
    pub v3a_full_bytes: Option<u64>,
    /// See `v3a_full_bytes`.
    pub v3a_changes_bytes: Option<u64>,
}

/// Size of a transaction log file (EXCHANGE2003.md §7): the trace counts files.
const LOG_FILE_BYTES: u64 = 5_242_880;

/// Bytes one link direction carried in one sample interval: (t_ms, bytes, interval_ms).
pub type LinkSample = (u64, u64, u64);

/// A direction of a WAN link, as `link_sample` records count it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// From the link's first site (`sites[0]` in the scenario) to its second.
    AToB,
    /// From the second site to the first.
    BToA,
}

/// A WAN link as the scenario declares it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkInfo {
    /// Its two sites, in the scenario's order.
    pub sites: (String, String),
    /// Capacity, bits per second.
    pub bits_per_s: u64,
}

impl LinkInfo {
    /// `HUB → SPOKE1`.
    pub fn direction_name(&self, d: Direction) -> String {
        match d {
            Direction::AToB => format!("{} → {}", self.sites.0, self.sites.1),
            Direction::BToA => format!("{} → {}", self.sites.1, self.sites.0),
        }
    }
}

/// One Internet host's share of the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostStats {
    /// Messages relayed to it.
    pub messages: u64,
    /// Their recipients.
    pub recipients: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Times a server gave up on it and tried the next DNS server or MX host.
    pub failovers: u64,
    /// Times it stopped answering (`host_down`).
    pub outages: u64,
}

/// One step of the run's concrete timeline: a fault or an administrator's action, fixed
/// in the scenario or drawn by its weather.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Simulated time, ms.
    pub at_ms: u64,
    /// `link_down`, `server_crash`, `directory_change`, `send` …
    pub kind: String,
    /// What it acts on (a link, server, host, DC, connector), or empty.
    pub target: String,
    /// Its other fields, `name=value`, for the timeline table.
    pub details: String,
    /// `timeline` (fixed) or `weather`.
    pub source: String,
}

/// One delivery: when, how long after submission, on which server (index into
/// [`TraceData::servers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub t_ms: u64,
    pub latency_ms: u32,
    pub server: u16,
}

/// A safety invariant's first failure during the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstFailure {
    pub t_ms: u64,
    pub detail: String,
}

/// What the report needs from a trace.
#[derive(Debug, Default)]
pub struct TraceData {
    /// The SMTP edge: sessions, refusals per filter step, dispositions.
    pub edge: crate::edge::EdgeData,
    /// The virtual servers' Badmail and archive folders.
    pub mailroot: crate::mailroot::MailrootData,
    /// Scenario name, description and file, as the run header has them.
    pub scenario: String,
    pub description: String,
    pub file: String,
    /// orgsim's version and the trace format that wrote the trace.
    pub orgsim_version: String,
    pub trace_format: u64,
    /// Run seed.
    pub seed: u64,
    /// Planted bugs switched on.
    pub plants: Vec<String>,
    /// The scenario's calendar.
    pub clock: Clock,
    /// How often queues, links and the directory are sampled (`report.sample_interval`).
    pub sample_ms: u64,
    /// SHA-256 of the trace file's bytes (the run's trace digest).
    pub digest: String,
    /// Simulated run length in ms (the last record's time).
    pub end_ms: u64,
    /// Records read.
    pub records: u64,
    /// The concrete timeline, in time order.
    pub steps: Vec<Step>,
    /// Per (server, queue): (t_ms, messages).
    pub queue_depth: BTreeMap<(String, String), Vec<(u64, u32)>>,
    /// Servers that delivered, in order of first delivery.
    pub servers: Vec<String>,
    /// Every delivery.
    pub deliveries: Vec<Delivery>,
    /// WAN links by name.
    pub links: BTreeMap<String, LinkInfo>,
    /// Per (link, direction): samples.
    pub link_bytes: BTreeMap<(String, Direction), Vec<LinkSample>>,
    /// Link state traffic, organization-wide: (t_ms, messages, bytes, interval_ms).
    pub link_state: Vec<(u64, u64, u64, u64)>,
    /// Link state table changes per server.
    pub link_state_changes: BTreeMap<String, u64>,
    /// Directory replication backlog per DC: (t_ms, USNs not yet pulled).
    pub ad_backlog: BTreeMap<String, Vec<(u64, u64)>>,
    /// Directory replication bytes: (t_ms, bytes, interval_ms).
    pub ad_bytes: Vec<(u64, u64, u64)>,
    /// Public folder replication backlog per public store: (t_ms, change numbers).
    pub pf_backlog: BTreeMap<String, Vec<(u64, u64)>>,
    /// Public folder replication bytes that left each queue, running total:
    /// (t_ms, bytes so far).
    pub pf_bytes: BTreeMap<String, Vec<(u64, u64)>>,
    /// Public folder opens per (client server, folder, server that served them or
    /// `none`): count and the highest referral cost seen.
    pub pf_reads: BTreeMap<(String, String, String), (u64, u64)>,
    /// Offline address book generations, in trace order.
    pub oab_runs: Vec<OabRunRow>,
    /// OAB client downloads per (OAB, run day).
    pub oab_days: BTreeMap<(String, u64), OabDayRow>,
    /// OAB download bytes per network path (a WAN link, or `LAN`) per hour of the run.
    pub oab_hourly_bytes: BTreeMap<String, BTreeMap<u64, u64>>,
    /// Backfill requests per (asking server, folder, source store): requests, changes.
    pub pf_backfill: BTreeMap<(String, String, String), (u64, u64)>,
    /// DSAccess per server, as last sampled: (hits, misses, entries).
    pub dsaccess: BTreeMap<String, (u64, u64, u64)>,
    /// Times a categorizer gave up a GC.
    pub gc_failovers: u64,
    /// Messages put in categorizer retry.
    pub categorizer_retries: u64,
    /// Categorizer memory per server: (t_ms, bytes) at each change.
    pub categorizer_memory: BTreeMap<String, Vec<(u64, u64)>>,
    /// Per host beyond the organization: what it took and how often it failed to answer.
    pub hosts: BTreeMap<String, HostStats>,
    /// The run's recipient counts (the `messages` record), by name, in the record's order.
    pub messages: Vec<(String, u64)>,
    /// Recipients NDR'd, by enhanced status code.
    pub ndr_codes: BTreeMap<String, u64>,
    /// Messages relayed out of the organization (all hosts).
    pub relayed_messages: u64,
    /// Final check results: (name, ok, detail).
    pub checks: Vec<(String, bool, String)>,
    /// The safety invariants the scenario checks (`checks.invariants`).
    pub invariants: Vec<String>,
    /// Each safety invariant's first failure.
    pub first_failures: BTreeMap<String, FirstFailure>,
    /// Count of each event kind.
    pub event_counts: BTreeMap<String, u64>,
    /// Databases mounted and dismounted: (t_ms, server, store, change).
    pub database_states: Vec<(u64, String, String, String)>,
    /// Daily size checks that warned or found a store over its limit: (t_ms, server,
    /// store, logical bytes, limit bytes, verdict).
    pub size_checks: Vec<(u64, String, String, u64, u64, String)>,
    /// Per (server, storage group): when each new log file began.
    pub log_files: BTreeMap<(String, String), Vec<u64>>,
    /// Per (server, database): its logical size at each sample, and its limit if any.
    pub database_sizes: BTreeMap<(String, String), Sampled>,
    /// Per (server, storage group): its log files on disk at each sample (bytes), and
    /// the log disk's size if set.
    pub log_disk_use: BTreeMap<(String, String), Sampled>,
    /// Per (server, storage group): its database volume's I/Os a second at each sample,
    /// and the volume's capacity (traces since the disk model).
    pub database_iops: BTreeMap<(String, String), Sampled>,
    /// Per (server, volume — a storage group's name for its database volume, with " log"
    /// for its log volume): the mean I/O latency at each sample, ms.
    pub disk_latency_ms: BTreeMap<(String, String), Sampled>,
}

/// A quantity sampled over the run, with the ceiling it must stay under (if any).
#[derive(Clone, Debug, Default)]
pub struct Sampled {
    pub points: Vec<(u64, f64)>,
    pub ceiling: Option<u64>,
}

impl TraceData {
    /// A recipient count from the `messages` record (0 in a trace without one).
    pub fn count(&self, name: &str) -> u64 {
        self.messages.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v)
    }
}

pub(crate) fn as_u64(v: &Value, name: &str, file: &Path, line: usize) -> Result<u64, ReportError> {
    field(v, name, file, line)?.as_u64().ok_or_else(|| ReportError::Trace {
        file: file.to_path_buf(),
        line,
        message: format!("expected {name:?} to be a non-negative integer"),
    })
}

pub(crate) fn as_str<'a>(v: &'a Value, name: &str, file: &Path, line: usize) -> Result<&'a str, ReportError> {
    field(v, name, file, line)?.as_str().ok_or_else(|| ReportError::Trace {
        file: file.to_path_buf(),
        line,
        message: format!("expected {name:?} to be a string"),
    })
}

fn as_list<'a>(v: &'a Value, name: &str, file: &Path, line: usize) -> Result<&'a Vec<Value>, ReportError> {
    field(v, name, file, line)?.as_array().ok_or_else(|| ReportError::Trace {
        file: file.to_path_buf(),
        line,
        message: format!("expected {name:?} to be a list"),
    })
}

/// Calls `each(line_number, record)` for every record of a trace file (JSON Lines), and
/// returns the SHA-256 of the file's bytes.
pub(crate) fn for_each_record(
    path: &Path,
    mut each: impl FnMut(usize, &Value) -> Result<(), ReportError>,
) -> Result<String, ReportError> {
    let file = std::fs::File::open(path).map_err(|e| ReportError::Io(path.to_path_buf(), e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut line = Vec::new();
    let mut n = 0;
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line).map_err(|e| ReportError::Io(path.to_path_buf(), e))?;
        if read == 0 {
            break;
        }
        n += 1;
        hasher.update(&line);
        let v: Value = serde_json::from_slice(&line).map_err(|e| ReportError::Trace {
            file: path.to_path_buf(),
            line: n,
            message: format!("not a JSON record: {e}"),
        })?;
        each(n, &v)?;
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// A trace opens with its "run" header record: refuses one that does not.
pub(crate) fn expect_run_header(path: &Path, line: usize, event: &str) -> Result<(), ReportError> {
    if line == 1 && event != "run" {
        return Err(ReportError::Trace {
            file: path.to_path_buf(),
            line: 1,
            message: "expected the \"run\" header record first".into(),
        });
    }
    Ok(())
}

/// Reads a trace file (JSON Lines).
pub fn read_trace(path: &Path) -> Result<TraceData, ReportError> {
    let mut data = TraceData::default();
    data.digest = for_each_record(path, |n, v| {
        let t = as_u64(v, "t_ms", path, n)?;
        let event = as_str(v, "event", path, n)?;
        expect_run_header(path, n, event)?;
        data.records += 1;
        data.end_ms = data.end_ms.max(t);
        match data.event_counts.get_mut(event) {
            Some(count) => *count += 1,
            None => {
                data.event_counts.insert(event.to_string(), 1);
            }
        }
        data.read_record(Record { v, t, event, path, n })
    })?;
    if data.records == 0 {
        return Err(ReportError::Trace { file: path.to_path_buf(), line: 1, message: "the trace is empty".into() });
    }
    Ok(data)
}

/// One record being read, and where it is.
struct Record<'a> {
    v: &'a Value,
    t: u64,
    event: &'a str,
    path: &'a Path,
    n: usize,
}

impl Record<'_> {
    fn u64(&self, name: &str) -> Result<u64, ReportError> {
        as_u64(self.v, name, self.path, self.n)
    }

    fn str(&self, name: &str) -> Result<&str, ReportError> {
        as_str(self.v, name, self.path, self.n)
    }

    fn list(&self, name: &str) -> Result<&Vec<Value>, ReportError> {
        as_list(self.v, name, self.path, self.n)
    }

    fn error(&self, message: String) -> ReportError {
        ReportError::Trace { file: self.path.to_path_buf(), line: self.n, message }
    }
}

impl TraceData {
    /// An OAB client's download (or its loss, or a day it found nothing): counted per
    /// OAB and run day, its bytes per network path and hour.
    fn oab_download(&mut self, t: u64, r: &Record<'_>) -> Result<(), ReportError> {
        if let Some((bytes, path)) = count_oab_record(&mut self.oab_days, t, r.event, r.v, r.path, r.n)? {
            *self.oab_hourly_bytes.entry(path.to_string()).or_default().entry(t / 3_600_000).or_default() += bytes;
        }
        Ok(())
    }

    fn read_record(&mut self, r: Record<'_>) -> Result<(), ReportError> {
        let t = r.t;
        self.edge.read(r.event, r.v);
        self.mailroot.read(r.event, r.v);
        match r.event {
            "run" => self.read_header(&r)?,
            "timeline" => self.read_timeline(&r)?,
            "store_sample" => self.read_store_sample(&r)?,
            "queue_sample" => {
                let node = r.str("node")?.to_string();
                for q in r.list("queues")? {
                    let name = as_str(q, "queue", r.path, r.n)?.to_string();
                    let messages = as_u64(q, "messages", r.path, r.n)? as u32;
                    self.queue_depth.entry((node.clone(), name)).or_default().push((t, messages));
                }
            }
            "delivered" => {
                let node = r.str("node")?;
                let server = match self.servers.iter().position(|s| s == node) {
                    Some(i) => i,
                    None => {
                        self.servers.push(node.to_string());
                        self.servers.len() - 1
                    }
                };
                let latency_ms = r.u64("latency_ms")?.min(u64::from(u32::MAX)) as u32;
                self.deliveries.push(Delivery { t_ms: t, latency_ms, server: server as u16 });
            }
            "link_sample" => {
                let link = r.str("link")?.to_string();
                let interval = r.u64("interval_ms")?;
                let (a, b) = (r.u64("from_a_bytes")?, r.u64("from_b_bytes")?);
                self.links.entry(link.clone()).or_default().bits_per_s = r.u64("bits_per_s")?;
                self.link_bytes.entry((link.clone(), Direction::AToB)).or_default().push((t, a, interval));
                self.link_bytes.entry((link, Direction::BToA)).or_default().push((t, b, interval));
            }
            "link_state_sample" => {
                self.link_state.push((t, r.u64("messages")?, r.u64("bytes")?, r.u64("interval_ms")?));
            }
            "relayed" => {
                let recipients = r.list("recipients")?.len() as u64;
                let host = self.hosts.entry(r.str("host")?.to_string()).or_default();
                host.messages += 1;
                host.recipients += recipients;
                host.bytes += r.u64("size_bytes")?;
                self.relayed_messages += 1;
            }
            "ndr" => {
                let recipients = r.list("recipients")?.len() as u64;
                *self.ndr_codes.entry(r.str("code")?.to_string()).or_default() += recipients;
            }
            "messages" => self.read_messages(&r)?,
            "database_state" | "database_size" | "log_generation" => self.read_store(&r)?,
            _ => self.read_other(&r)?,
        }
        Ok(())
    }

    /// Records of the directory, the Internet edge and the checks.
    fn read_other(&mut self, r: &Record<'_>) -> Result<(), ReportError> {
        let t = r.t;
        match r.event {
            "ad_sample" => {
                self.ad_bytes.push((t, r.u64("bytes")?, r.u64("interval_ms")?));
                for dc in r.list("dcs")? {
                    let name = as_str(dc, "dc", r.path, r.n)?.to_string();
                    self.ad_backlog.entry(name).or_default().push((t, as_u64(dc, "backlog", r.path, r.n)?));
                }
            }
            "pf_sample" => {
                for store in r.list("stores")? {
                    let name = as_str(store, "store", r.path, r.n)?.to_string();
                    self.pf_backlog.entry(name).or_default().push((t, as_u64(store, "backlog", r.path, r.n)?));
                }
            }
            "pf_read" => {
                let by = r.v.get("served_by").and_then(Value::as_str).unwrap_or("none").to_string();
                let key = (r.str("node")?.to_string(), r.str("folder")?.to_string(), by);
                let entry = self.pf_reads.entry(key).or_default();
                entry.0 += 1;
                entry.1 = entry.1.max(r.u64("cost")?);
            }
            "oab_generated" => {
                let size = |field: &str| r.v.get(field).and_then(Value::as_u64);
                let legacy = r.v.get("legacy").and_then(|l| l.get("kind")).and_then(Value::as_str).unwrap_or("?");
                self.oab_runs.push(OabRunRow {
                    t_ms: t,
                    oab: r.str("oab")?.to_string(),
                    server: r.str("node")?.to_string(),
                    gc: r.str("gc")?.to_string(),
                    records: r.u64("records")?,
                    changes: r.u64("added")? + r.u64("removed")? + r.u64("changed")?,
                    full_bytes: size("v4_full_bytes"),
                    compressed_bytes: size("v4_compressed_bytes"),
                    patch_bytes: size("v4_patch_bytes"),
                    legacy: legacy.to_string(),
                    v3a_full_bytes: size("v3a_full_bytes"),
                    v3a_changes_bytes: size("v3a_changes_bytes"),
                });
            }
            "oab_download" | "oab_download_lost" | "oab_client_unserved" => self.oab_download(t, r)?,
            "pf_backfill_requested" => {
                let key = (r.str("node")?.to_string(), r.str("folder")?.to_string(), r.str("source")?.to_string());
                let entry = self.pf_backfill.entry(key).or_default();
                entry.0 += 1;
                entry.1 += r.u64("changes")?;
            }
            "transferred" if r.str("message")?.starts_with("PFR-") => {
                let series = self.pf_bytes.entry(r.str("queue")?.to_string()).or_default();
                let so_far = series.last().map_or(0, |(_, b)| *b);
                series.push((t, so_far + r.u64("size_bytes")?));
            }
            "dsaccess_sample" => {
                let figures = (r.u64("hits")?, r.u64("misses")?, r.u64("entries")?);
                self.dsaccess.insert(r.str("node")?.to_string(), figures);
            }
            "gc_failover" => self.gc_failovers += 1,
            "categorizer_retry" => self.categorizer_retries += 1,
            "categorizer_memory" => {
                let node = r.str("node")?.to_string();
                self.categorizer_memory.entry(node).or_default().push((t, r.u64("bytes")?));
            }
            "failover" => self.hosts.entry(r.str("host")?.to_string()).or_default().failovers += 1,
            "host_state" => {
                let host = self.hosts.entry(r.str("host")?.to_string()).or_default();
                if r.str("state")? == "down" {
                    host.outages += 1;
                }
            }
            "link_state_changed" => *self.link_state_changes.entry(r.str("node")?.to_string()).or_default() += 1,
            "check_failed" => {
                let failure = FirstFailure { t_ms: t, detail: r.str("detail")?.to_string() };
                self.first_failures.entry(r.str("check")?.to_string()).or_insert(failure);
            }
            "check" => {
                let ok = field(r.v, "ok", r.path, r.n)?
                    .as_bool()
                    .ok_or_else(|| r.error("expected \"ok\" to be true or false".into()))?;
                self.checks.push((r.str("check")?.into(), ok, r.str("detail")?.into()));
            }
            _ => {}
        }
        Ok(())
    }

    /// The run header: the scenario, seed, plants, calendar and WAN links.
    fn read_header(&mut self, r: &Record<'_>) -> Result<(), ReportError> {
        self.seed = r.u64("seed")?;
        self.orgsim_version = r.str("orgsim_version").unwrap_or("").to_string();
        self.trace_format = r.v.get("trace_format").and_then(Value::as_u64).unwrap_or(0);
        self.file = r.v.get("file").and_then(Value::as_str).unwrap_or("").to_string();
        if let Some(plants) = r.v.get("plants") {
            let plants = plants.as_array().ok_or_else(|| r.error("expected \"plants\" to be a list".into()))?;
            self.plants = plants.iter().filter_map(|p| p.as_str().map(str::to_string)).collect();
        }
        let scenario = field(r.v, "scenario", r.path, r.n)?;
        self.edge.read_header(scenario);
        self.mailroot.read_header(scenario);
        self.scenario = as_str(scenario, "name", r.path, r.n)?.to_string();
        self.description = as_str(scenario, "description", r.path, r.n)?.to_string();
        let invariants = scenario.pointer("/checks/invariants").and_then(Value::as_array);
        self.invariants = invariants.into_iter().flatten().filter_map(|i| i.as_str().map(str::to_string)).collect();
        if let Some(start) = scenario.get("start").and_then(Value::as_str) {
            self.clock = Clock::parse(start)
                .ok_or_else(|| r.error(format!("expected scenario.start to be a UTC timestamp, found {start:?}")))?;
        }
        let interval = scenario.pointer("/report/sample_interval").and_then(Value::as_str).unwrap_or("2m");
        self.sample_ms = parse_duration_ms(interval).filter(|ms| *ms > 0).ok_or_else(|| {
            r.error(format!("expected scenario.report.sample_interval to be a duration, found {interval:?}"))
        })?;
        let links = scenario.pointer("/topology/wan_links").and_then(Value::as_array);
        for link in links.into_iter().flatten() {
            let sites = link.get("sites").and_then(Value::as_array);
            let site = |i: usize| sites.and_then(|s| s.get(i)).and_then(Value::as_str).unwrap_or("?").to_string();
            if let Some(name) = link.get("name").and_then(Value::as_str) {
                self.links.entry(name.to_string()).or_default().sites = (site(0), site(1));
            }
        }
        Ok(())
    }

    /// The concrete timeline: each step's time, kind, target and other fields.
    fn read_timeline(&mut self, r: &Record<'_>) -> Result<(), ReportError> {
        for step in r.list("steps")? {
            let at = as_str(step, "at", r.path, r.n)?;
            let at_ms = parse_duration_ms(at)
                .ok_or_else(|| r.error(format!("expected a step's \"at\" duration, found {at:?}")))?;
            let kind = as_str(step, "kind", r.path, r.n)?.to_string();
            let source = step.get("source").and_then(Value::as_str).unwrap_or("timeline").to_string();
            let mut target = String::new();
            let mut details = Vec::new();
            for (name, value) in step.as_object().into_iter().flatten() {
                match (name.as_str(), value) {
                    ("at" | "kind" | "source", _) | (_, Value::Null) => {}
                    ("link" | "server" | "node" | "host" | "dc" | "connector" | "database", Value::String(s))
                        if target.is_empty() =>
                    {
                        target = s.clone();
                    }
                    (_, Value::String(s)) => details.push(format!("{name}={s}")),
                    (_, other) => details.push(format!("{name}={other}")),
                }
            }
            self.steps.push(Step { at_ms, kind, target, details: details.join(" "), source });
        }
        self.steps.sort_by_key(|s| s.at_ms);
        Ok(())
    }

    /// The Information Store's records.
    fn read_store(&mut self, r: &Record<'_>) -> Result<(), ReportError> {
        let node = r.str("node")?.to_string();
        match r.event {
            "database_state" => {
                let state = (r.t, node, r.str("store")?.to_string(), r.str("change")?.to_string());
                self.database_states.push(state);
            }
            "database_size" => {
                let (logical, limit) = (r.u64("logical_bytes")?, r.u64("limit_bytes")?);
                let check = (r.t, node, r.str("store")?.to_string(), logical, limit, r.str("verdict")?.to_string());
                self.size_checks.push(check);
            }
            _ => self.log_files.entry((node, r.str("storage_group")?.to_string())).or_default().push(r.t),
        }
        Ok(())
    }

    /// A mailbox server's databases and log disks at a sample instant.
    fn read_store_sample(&mut self, r: &Record<'_>) -> Result<(), ReportError> {
        let node = r.str("node")?.to_string();
        for db in r.list("databases")? {
            let name = as_str(db, "database", r.path, r.n)?.to_string();
            let bytes = as_u64(db, "logical_bytes", r.path, r.n)?;
            let sampled = self.database_sizes.entry((node.clone(), name)).or_default();
            sampled.points.push((r.t, bytes as f64));
            sampled.ceiling = db.get("limit_bytes").and_then(Value::as_u64);
        }
        for g in r.list("storage_groups")? {
            let name = as_str(g, "storage_group", r.path, r.n)?.to_string();
            let files = as_u64(g, "log_files", r.path, r.n)?;
            let sampled = self.log_disk_use.entry((node.clone(), name.clone())).or_default();
            sampled.points.push((r.t, (files * LOG_FILE_BYTES) as f64));
            sampled.ceiling = g.get("log_disk_bytes").and_then(Value::as_u64);
            self.read_volumes(&node, &name, g, r)?;
        }
        Ok(())
    }

    /// A storage group's disk model figures in a store sample, when the trace has them.
    fn read_volumes(&mut self, node: &str, group: &str, g: &Value, r: &Record<'_>) -> Result<(), ReportError> {
        if g.get("database_read_iops").is_none() {
            return Ok(());
        }
        let number = |name: &str| {
            g.get(name).and_then(Value::as_f64).ok_or_else(|| r.error(format!("expected {name:?} to be a number")))
        };
        let iops = self.database_iops.entry((node.to_string(), group.to_string())).or_default();
        iops.points.push((r.t, number("database_read_iops")? + number("database_write_iops")?));
        iops.ceiling = g.get("database_disk_iops").and_then(Value::as_u64);
        let database = number("database_latency_ms")?;
        self.disk_latency_ms.entry((node.to_string(), group.to_string())).or_default().points.push((r.t, database));
        let log = number("log_latency_ms")?;
        self.disk_latency_ms.entry((node.to_string(), format!("{group} log"))).or_default().points.push((r.t, log));
        Ok(())
    }

    /// The `messages` record: every non-negative integer field, in order.
    fn read_messages(&mut self, r: &Record<'_>) -> Result<(), ReportError> {
        let fields = r.v.as_object().ok_or_else(|| r.error("expected a record object".into()))?;
        self.messages = fields
            .iter()
            .filter(|(name, _)| !matches!(name.as_str(), "t_ms" | "node" | "event"))
            .filter_map(|(name, v)| v.as_u64().map(|n| (name.clone(), n)))
            .collect();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("orgsim-trace-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trace.jsonl");
        std::fs::write(&path, text).unwrap();
        path
    }

    const HEADER: &str =
        r#"{"t_ms":0,"node":"orgsim","event":"run","seed":3,"scenario":{"name":"t","description":"d"}}"#;

    #[test]
    fn bad_traces_name_the_line() {
        let cases = [
            (format!("{HEADER}\nnot json\n"), ":2: not a JSON record: expected ident at line 1 column 2"),
            (
                r#"{"t_ms":0,"node":"x","event":"delivered"}"#.to_string(),
                ":1: expected the \"run\" header record first",
            ),
            (
                format!(
                    "{HEADER}\n{}",
                    r#"{"t_ms":5,"node":"orgsim","event":"timeline","steps":[{"at":"soon","kind":"link_down"}]}"#
                ),
                ":2: expected a step's \"at\" duration, found \"soon\"",
            ),
            (
                format!(
                    "{HEADER}\n{}",
                    r#"{"t_ms":5,"node":"checks","event":"check","check":"c","ok":"yes","detail":""}"#
                ),
                ":2: expected \"ok\" to be true or false",
            ),
            (
                HEADER.replace(r#""description":"d""#, r#""description":"d","start":"monday""#),
                ":1: expected scenario.start to be a UTC timestamp, found \"monday\"",
            ),
            (String::new(), ":1: the trace is empty"),
        ];
        for (i, (text, expected)) in cases.iter().enumerate() {
            let path = scratch(&format!("bad{i}"), text);
            let err = read_trace(&path).unwrap_err().to_string();
            assert!(err.ends_with(expected), "{err}");
            std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
        }
    }

    #[test]
    fn public_folder_records_are_summed() {
        let records = [
            r#"{"t_ms":1,"node":"EX1","event":"pf_read","folder":"Sales","served_by":"EX2","tried":1,"cost":10}"#,
            r#"{"t_ms":2,"node":"EX1","event":"pf_read","folder":"Sales","served_by":"EX3","tried":2,"cost":20}"#,
            r#"{"t_ms":3,"node":"EX1","event":"pf_read","folder":"Sales","served_by":null,"tried":2,"cost":0}"#,
            r#"{"t_ms":4,"node":"EX1","event":"pf_read","folder":"Sales","served_by":"EX2","tried":1,"cost":10}"#,
            r#"{"t_ms":5,"node":"EX1","event":"pf_backfill_requested","folder":"Sales","source":"PF2","changes":7,"waited_ms":1,"min_wait_ms":1}"#,
            r#"{"t_ms":6,"node":"EX1","event":"transferred","message":"PFR-EX1-1","to":"EX2","queue":"RGC","recipients":[],"size_bytes":100}"#,
            r#"{"t_ms":7,"node":"EX1","event":"transferred","message":"PFR-EX1-2","to":"EX2","queue":"RGC","recipients":[],"size_bytes":50}"#,
        ];
        let path = scratch("pf", &format!("{HEADER}\n{}\n", records.join("\n")));
        let data = read_trace(&path).unwrap();
        let key = |by: &str| ("EX1".to_string(), "Sales".to_string(), by.to_string());
        assert_eq!(data.pf_reads[&key("EX2")], (2, 10));
        assert_eq!(data.pf_reads[&key("EX3")], (1, 20));
        assert_eq!(data.pf_reads[&key("none")], (1, 0), "an open no server served");
        assert_eq!(data.pf_backfill[&key("PF2")], (1, 7));
        assert_eq!(data.pf_bytes["RGC"], vec![(6, 100), (7, 150)], "a running total");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn offline_address_book_generations_are_listed() {
        let records = [
            r#"{"t_ms":7200000,"node":"EX1","event":"oab_generated","oab":"OAL","gc":"DC1","read_ms":1,"read_bytes":9,"records":10,"added":10,"removed":0,"changed":0,"v4_sequence":1,"v4_full_bytes":3000,"v4_compressed_bytes":400,"legacy":{"kind":"first_full"},"legacy_sequence":1,"v2_full_bytes":1200,"v3a_full_bytes":1210}"#,
            r#"{"t_ms":93600000,"node":"EX1","event":"oab_generated","oab":"OAL","gc":"DC2","read_ms":1,"read_bytes":9,"records":11,"added":1,"removed":0,"changed":2,"v4_sequence":2,"v4_full_bytes":3100,"v4_compressed_bytes":410,"v4_patch_bytes":60,"legacy":{"kind":"no_update","reason":{"kind":"new_address_list","list":"Sales"}},"legacy_sequence":1}"#,
        ];
        let path = scratch("oab", &format!("{HEADER}\n{}\n", records.join("\n")));
        let data = read_trace(&path).unwrap();
        assert_eq!(data.oab_runs.len(), 2);
        assert_eq!((data.oab_runs[1].changes, data.oab_runs[1].patch_bytes), (3, Some(60)));
        assert_eq!(data.oab_runs[0].patch_bytes, None, "the first generation has no patch");
        let table = crate::tables::other_tables(&data).0;
        assert!(table.contains("<td>1d2h00m</td><td>OAL</td><td>EX1</td><td>DC2</td>"), "{table}");
        assert!(table.contains("<td>no update</td><td class=\"n\">–</td><td class=\"n\">–</td>"), "{table}");
        assert!(table.contains("<td>first full</td><td class=\"n\">1,210</td><td class=\"n\">–</td>"), "{table}");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn an_old_trace_without_calendar_or_counts_still_reads() {
        let path = scratch("old", &format!("{HEADER}\n"));
        let data = read_trace(&path).unwrap();
        assert_eq!(data.clock, Clock::default());
        assert_eq!(data.sample_ms, 120_000);
        assert!(data.messages.is_empty());
        assert_eq!(data.count("delivered"), 0);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
