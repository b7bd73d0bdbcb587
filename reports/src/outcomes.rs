//! The outcome of every recipient of every message, reconstructed from a trace: a stable
//! text for snapshot tests and for reading.

use crate::trace_data::{as_str, as_u64, count_oab_record, for_each_record, OabDayRow};
use crate::{field, ReportError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// What happened to one recipient of one message, reconstructed from a trace.
#[derive(Clone, Debug, Default)]
struct RecipientFate {
    /// Servers that accepted this copy, in order.
    path: Vec<String>,
    /// `delivered`, `relayed`, `ndr 5.1.1`, `badmail 4.4.7`, or empty while queued.
    outcome: String,
    latency_ms: Option<u64>,
}

impl RecipientFate {
    /// A copy first seen on `node`.
    fn at(node: &str) -> Self {
        RecipientFate { path: vec![node.to_string()], ..Default::default() }
    }
}

/// Events listed one per line after the outcomes: what servers and their stores went
/// through, which explains the outcomes.
const LISTED_EVENTS: &[&str] = &[
    "server_crashed",
    "server_restarted",
    "soft_recovery",
    "database_state",
    "database_size",
    "prohibit_send",
    "quota_read",
    "quota_warning",
    "log_disk_full",
    "backup",
    "disk_failed",
    "restored",
    "restore_refused",
    "merged",
    "merge_refused",
    "online_maintenance",
    "junk_email",
    "cluster_node",
    "cluster_failover",
];

/// Mailbox moves: per (source server, target store, outcome), how many and their
/// bytes; the first start and the last end.
#[derive(Default)]
struct Moves {
    by_route: BTreeMap<(String, String, String), (u64, u64)>,
    first_ms: Option<u64>,
    last_ms: u64,
}

impl Moves {
    fn started(&mut self, t: u64) {
        self.first_ms.get_or_insert(t);
    }

    fn ended(&mut self, t: u64, from: &str, to: &str, outcome: &str, bytes: u64) {
        let entry = self.by_route.entry((from.to_string(), to.to_string(), outcome.to_string())).or_default();
        entry.0 += 1;
        entry.1 += bytes;
        self.last_ms = t;
    }

    fn summary(&self) -> String {
        let Some(first_ms) = self.first_ms else { return String::new() };
        let mut out = format!(
            "mailbox moves from {first_ms} ms to {} ms ({} s):\n",
            self.last_ms,
            (self.last_ms - first_ms) / 1_000
        );
        for ((from, to, outcome), (count, bytes)) in &self.by_route {
            out.push_str(&format!("  {from} -> {to}: {count} {outcome}, {bytes} bytes\n"));
        }
        out
    }
}

/// OAB client downloads per (OAB, run day): full and diff downloads with their bytes,
/// the lost and unserved, the WAN bytes by link.
fn oab_download_summary(days: &BTreeMap<(String, u64), OabDayRow>) -> String {
    if days.is_empty() {
        return String::new();
    }
    let mut out = "offline address book downloads, by run day:\n".to_string();
    for ((oab, day), d) in days {
        let wan: Vec<String> = d.wan_bytes.iter().map(|(link, b)| format!("{link} {b} bytes")).collect();
        let wan = if wan.is_empty() { String::new() } else { format!("; WAN {}", wan.join(", ")) };
        out.push_str(&format!(
            "  {oab} day {day}: {} full ({} bytes), {} diffs ({} bytes), {} lost, {} unserved{wan}\n",
            d.full, d.full_bytes, d.diffs, d.diff_bytes, d.lost, d.unserved
        ));
    }
    out
}

/// A virtual server come online on another node, and the recipients that waited for it.
#[derive(Default)]
struct Failover {
    server: String,
    to: String,
    online_ms: u64,
    waited: u64,
}

/// Mean latencies above which a volume is slow: 20 ms for a database volume, 10 ms for
/// a log volume (EXCHANGE2003.md §11 [U]).
pub(crate) const SLOW_DATABASE_MS: f64 = 20.0;
const SLOW_LOG_MS: f64 = 10.0;

/// The disk volumes whose mean latency went past the slow mark in some sample: when,
/// how far, and the load that did it.
#[derive(Default)]
struct SlowVolumes {
    /// Per (server, volume): first and last slow sample, peak latency and when, peak
    /// load and capacity.
    slow: BTreeMap<(String, String), SlowVolume>,
}

#[derive(Default)]
struct SlowVolume {
    from_ms: u64,
    to_ms: u64,
    peak_ms: f64,
    peak_at_ms: u64,
    peak_iops: f64,
    capacity_iops: u64,
}

impl SlowVolumes {
    /// A store sample's storage groups (traces before the disk model have none).
    fn read(&mut self, node: &str, t: u64, v: &Value) {
        let groups = v.get("storage_groups").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        for g in groups {
            let name = g.get("storage_group").and_then(Value::as_str).unwrap_or_default();
            let number = |k: &str| g.get(k).and_then(Value::as_f64).unwrap_or_default();
            let database_iops = number("database_read_iops") + number("database_write_iops");
            let volumes = [
                ("database", number("database_latency_ms"), SLOW_DATABASE_MS, database_iops, "database_disk_iops"),
                ("log", number("log_latency_ms"), SLOW_LOG_MS, number("log_write_iops"), "log_disk_iops"),
            ];
            for (kind, latency_ms, _, iops, capacity) in volumes.into_iter().filter(|v| v.1 > v.2) {
                let key = (node.to_string(), format!("{name} {kind}"));
                let volume = self.slow.entry(key).or_insert(SlowVolume { from_ms: t, ..Default::default() });
                volume.to_ms = t;
                volume.capacity_iops = g.get(capacity).and_then(Value::as_u64).unwrap_or_default();
                volume.peak_iops = volume.peak_iops.max(iops);
                if latency_ms > volume.peak_ms {
                    (volume.peak_ms, volume.peak_at_ms) = (latency_ms, t);
                }
            }
        }
    }

    fn summary(&self) -> String {
        if self.slow.is_empty() {
            return String::new();
        }
        let mut out =
            format!("disk volumes past {SLOW_DATABASE_MS} ms (database) or {SLOW_LOG_MS} ms (log) mean latency:\n");
        for ((node, volume), v) in &self.slow {
            out.push_str(&format!(
                "  {node} {volume}: slow from {} ms to {} ms, peak {} ms at {} ms, load up to {} of {} IOPS\n",
                v.from_ms, v.to_ms, v.peak_ms, v.peak_at_ms, v.peak_iops, v.capacity_iops
            ));
        }
        out
    }
}

/// `event field=value …`: a listed event's own fields, by name.
fn listed_fields(v: &Value) -> String {
    let Some(record) = v.as_object() else { return String::new() };
    let mut line = record.get("event").and_then(Value::as_str).unwrap_or_default().to_string();
    for (key, value) in record.iter().filter(|(k, _)| !matches!(k.as_str(), "t_ms" | "node" | "event")) {
        let value = value.as_str().map_or_else(|| value.to_string(), str::to_string);
        line.push_str(&format!(" {key}={value}"));
    }
    line
}

/// A per-message outcome summary of a trace: recipients counted by outcome and the path
/// of servers their copy took, then the first `detail` messages recipient by recipient.
/// Stable text, meant for snapshot tests and for reading.
pub fn outcome_summary(trace: &Path, detail: usize) -> Result<String, ReportError> {
    let mut order: Vec<String> = Vec::new();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut fates: BTreeMap<(String, String), RecipientFate> = BTreeMap::new();
    let mut recipients_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut submitted_at: BTreeMap<String, u64> = BTreeMap::new();
    let mut events: Vec<String> = Vec::new();
    let mut slow = SlowVolumes::default();
    let mut failovers: Vec<Failover> = Vec::new();
    let mut moves = Moves::default();
    let mut oab: Vec<String> = Vec::new();
    let mut downloads: BTreeMap<(String, u64), OabDayRow> = BTreeMap::new();
    let mut edge = crate::edge::EdgeData::default();
    let mut mailroot = crate::mailroot::MailrootData::default();
    let list = |v: &Value, name: &str, n: usize| -> Result<Vec<String>, ReportError> {
        let items = field(v, name, trace, n)?.as_array().ok_or_else(|| ReportError::Trace {
            file: trace.to_path_buf(),
            line: n,
            message: format!("expected {name:?} to be a list"),
        })?;
        Ok(items.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
    };
    for_each_record(trace, |n, v| {
        let node = as_str(v, "node", trace, n)?.to_string();
        let t = as_u64(v, "t_ms", trace, n)?;
        // Public folder replication mail (PFR-…) is delivered into public stores
        // (`pf_received`), judged by the public folder checks and summed in `--json`'s
        // `public_folders`: it is not a recipient fate of this table.
        if v.get("message").and_then(|m| m.as_str()).is_some_and(|m| m.starts_with("PFR-")) {
            return Ok(());
        }
        let event = as_str(v, "event", trace, n)?;
        match (event, v.get("scenario")) {
            ("run", Some(scenario)) => edge.read_header(scenario),
            _ => {
                edge.read(event, v);
                mailroot.read(event, v);
            }
        }
        match event {
            "submitted" if headers.contains_key(as_str(v, "message", trace, n)?) => {
                // Another organization took a message handed over (§6): its recipients'
                // paths go on here.
                let message = as_str(v, "message", trace, n)?.to_string();
                for r in list(v, "recipients", n)? {
                    let fate = fates.entry((message.clone(), r.clone())).or_default();
                    fate.path.push(node.clone());
                    let listed = recipients_of.entry(message.clone()).or_default();
                    if !listed.contains(&r) {
                        listed.push(r);
                    }
                }
            }
            "transferred_out" => {
                // A contact's recipient goes on as its target address there (whose
                // fate follows from the other side's `submitted`).
                let message = as_str(v, "message", trace, n)?.to_string();
                let to = as_str(v, "to", trace, n)?.to_string();
                let addressed = list(v, "addressed", n)?;
                for (r, _) in list(v, "recipients", n)?.into_iter().zip(addressed).filter(|(r, a)| r != a) {
                    let fate = fates.entry((message.clone(), r)).or_default();
                    fate.outcome = "sent on as its target".into();
                    fate.path.push(to.clone());
                }
            }
            "submitted" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                let rcpts = list(v, "recipients", n)?;
                let sender = as_str(v, "sender", trace, n)?;
                let size = as_u64(v, "size_bytes", trace, n)?;
                headers.insert(message.clone(), format!("{message} from {sender} ({size} bytes) at {t} ms on {node}"));
                for r in &rcpts {
                    fates.insert((message.clone(), r.clone()), RecipientFate::at(&node));
                }
                recipients_of.insert(message.clone(), rcpts);
                submitted_at.insert(message.clone(), t);
                order.push(message);
            }
            "relayed" => {
                // Handed to a host beyond the organization: the path ends at that host.
                let message = as_str(v, "message", trace, n)?.to_string();
                let host = as_str(v, "host", trace, n)?.to_string();
                let since = submitted_at.get(&message).copied();
                for r in list(v, "recipients", n)? {
                    let fate = fates.entry((message.clone(), r)).or_default();
                    fate.path.push(host.clone());
                    fate.outcome =
                        if fate.outcome.is_empty() { "relayed".into() } else { format!("{} + relayed", fate.outcome) };
                    fate.latency_ms = since.map(|s| t - s);
                }
            }
            "ndr" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                let code = as_str(v, "code", trace, n)?;
                for r in list(v, "recipients", n)? {
                    // A group's member refused where the group was expanded appears here
                    // first: its path is that server.
                    let fate = fates.entry((message.clone(), r)).or_insert_with(|| RecipientFate::at(&node));
                    fate.outcome = format!("ndr {code}");
                }
                let ndr = as_str(v, "ndr", trace, n)?.to_string();
                let to = as_str(v, "to", trace, n)?.to_string();
                headers.insert(ndr.clone(), format!("{ndr} for {message} to {to} at {t} ms on {node}"));
                fates.insert((ndr.clone(), to.clone()), RecipientFate::at(&node));
                recipients_of.insert(ndr.clone(), vec![to]);
                order.push(ndr);
            }
            "out_of_office" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                let reply = as_str(v, "reply", trace, n)?.to_string();
                let from = as_str(v, "from", trace, n)?;
                let to = as_str(v, "to", trace, n)?.to_string();
                headers.insert(reply.clone(), format!("{reply} from {from} for {message} to {to} at {t} ms on {node}"));
                fates.insert((reply.clone(), to.clone()), RecipientFate::at(&node));
                recipients_of.insert(reply.clone(), vec![to]);
                order.push(reply);
            }
            "journal_report" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                let report = as_str(v, "report", trace, n)?.to_string();
                let journal = as_str(v, "journal", trace, n)?.to_string();
                let listed = as_u64(v, "listed", trace, n)?;
                let header =
                    format!("{report} journal report on {message} ({listed} listed) to {journal} at {t} ms on {node}");
                headers.insert(report.clone(), header);
                fates.insert((report.clone(), journal.clone()), RecipientFate::at(&node));
                recipients_of.insert(report.clone(), vec![journal]);
                order.push(report);
            }
            "badmail" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                let code = as_str(v, "code", trace, n)?;
                for r in list(v, "recipients", n)? {
                    fates.entry((message.clone(), r)).or_default().outcome = format!("badmail {code}");
                }
            }
            "received" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                for r in list(v, "recipients", n)? {
                    fates.entry((message.clone(), r)).or_default().path.push(node.clone());
                }
            }
            "expanded" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                let group = as_str(v, "group", trace, n)?.to_string();
                let members = as_u64(v, "members", trace, n)?;
                fates.entry((message, group)).or_default().outcome = format!("expanded to {members}");
            }
            "queued" => {
                // A group's members first appear where it was expanded.
                let message = as_str(v, "message", trace, n)?.to_string();
                for r in list(v, "recipients", n)? {
                    fates.entry((message.clone(), r)).or_insert_with(|| RecipientFate::at(&node));
                }
            }
            "cluster_failover" => {
                let server = as_str(v, "virtual_server", trace, n)?.to_string();
                let to = as_str(v, "to_node", trace, n)?.to_string();
                failovers.push(Failover { server, to, online_ms: t, ..Default::default() });
                events.push(format!("  {t} ms {node} {}", listed_fields(v)));
            }
            "delivered" => {
                let message = as_str(v, "message", trace, n)?.to_string();
                let r = as_str(v, "recipient", trace, n)?.to_string();
                let submitted = submitted_at.get(&message).copied();
                if let Some(f) = failovers.iter_mut().rev().find(|f| f.server == node) {
                    f.waited += u64::from(submitted.is_some_and(|s| s < f.online_ms));
                }
                let fate = fates.entry((message, r)).or_default();
                fate.outcome =
                    if fate.outcome.is_empty() { "delivered".into() } else { format!("{} + delivered", fate.outcome) };
                fate.latency_ms = Some(as_u64(v, "latency_ms", trace, n)?);
            }
            "store_sample" => slow.read(&node, t, v),
            "move_started" => moves.started(t),
            "move_ended" => {
                let outcome = as_str(v, "outcome", trace, n)?;
                let to = as_str(v, "to_store", trace, n)?;
                moves.ended(t, &node, to, outcome, as_u64(v, "bytes", trace, n)?);
            }
            "move_not_done" => moves.ended(t, &node, "", "not started", 0),
            event if LISTED_EVENTS.contains(&event) => events.push(format!("  {t} ms {node} {}", listed_fields(v))),
            event @ ("oab_download" | "oab_download_lost" | "oab_client_unserved") => {
                count_oab_record(&mut downloads, t, event, v, trace, n)?;
            }
            event if event.starts_with("oab_") => oab.push(format!("  {t} ms {node} {}", listed_fields(v))),
            _ => {}
        }
        Ok(())
    })?;
    let mut by_outcome: BTreeMap<(String, String), u64> = BTreeMap::new();
    for fate in fates.values() {
        let outcome = if fate.outcome.is_empty() { "queued".to_string() } else { fate.outcome.clone() };
        *by_outcome.entry((outcome, fate.path.join(" > "))).or_default() += 1;
    }
    let mut out = String::new();
    let ndrs = order.iter().filter(|m| m.starts_with("NDR-")).count();
    let oofs = order.iter().filter(|m| m.starts_with("OOF-")).count();
    let journals = order.iter().filter(|m| m.starts_with("JRN-")).count();
    let client = order.len() - ndrs - oofs - journals;
    let mut oof_note = if oofs > 0 { format!(", {oofs} Out of Office replies") } else { String::new() };
    if journals > 0 {
        oof_note.push_str(&format!(", {journals} journal reports"));
    }
    out.push_str(&format!(
        "{} messages ({client} from clients, {ndrs} NDRs{oof_note}), {} recipients\n",
        order.len(),
        fates.len()
    ));
    out.push_str("recipients by outcome and path:\n");
    for ((outcome, path), count) in &by_outcome {
        out.push_str(&format!("  {outcome:<22} {count:>7}  {path}\n"));
    }
    if !events.is_empty() {
        out.push_str("crashes, recoveries and databases:\n");
        for line in &events {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !oab.is_empty() {
        out.push_str("offline address books:\n");
        oab.iter().for_each(|line| out.push_str(&format!("{line}\n")));
    }
    out.push_str(&oab_download_summary(&downloads));
    out.push_str(&slow.summary());
    out.push_str(&moves.summary());
    if !failovers.is_empty() {
        out.push_str(
            "cluster failovers (recipients submitted before the virtual server came online, delivered there after):\n",
        );
        for f in &failovers {
            out.push_str(&format!("  {} ms {} online on {}: {} waited\n", f.online_ms, f.server, f.to, f.waited));
        }
    }
    if !edge.is_empty() {
        out.push_str(&edge.text());
    }
    if !mailroot.is_empty() {
        out.push_str(&mailroot.text());
    }
    out.push_str(&format!("first {} messages:\n", detail.min(order.len())));
    for message in order.iter().take(detail) {
        out.push_str(&format!("  {}\n", headers[message]));
        for r in &recipients_of[message] {
            let fate = &fates[&(message.clone(), r.clone())];
            let outcome = if fate.outcome.is_empty() { "queued" } else { &fate.outcome };
            let latency = fate.latency_ms.map_or(String::new(), |l| format!(" after {l} ms"));
            out.push_str(&format!("    {r}: {outcome}{latency} via {}\n", fate.path.join(" > ")));
        }
    }
    Ok(out)
}
