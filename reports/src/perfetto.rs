//! Export of a trace in the Chrome/Perfetto trace-event JSON format: each server (and the
//! WAN, the link state updater, the checks) is a process, each component a thread, every
//! event a 1 µs slice carrying its fields, and every message a flow joining its events
//! across servers, so a run can be browsed on a timeline (ui.perfetto.dev, chrome://tracing).

use crate::{as_str, as_u64, for_each_record, ReportError};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The component (thread) an event belongs to.
fn component(event: &str) -> &'static str {
    match event {
        "submitted" | "received" | "transferred" | "relayed" | "failover" => "SMTP",
        "categorized" | "ndr" | "badmail" => "categorizer",
        "queued" | "queue_state" | "queue_sample" => "queues",
        "delivered" | "duplicate_suppressed" => "store",
        "recovered" | "server_crashed" | "server_restarted" => "server",
        "link_sample" | "link_state" | "connector_state" | "host_state" => "links",
        "link_state_changed"
        | "connector_detected"
        | "link_state_reviewed"
        | "link_state_sample"
        | "master_changed" => "link state",
        "check_failed" | "check" => "checks",
        _ => "orgsim",
    }
}

/// Stable small integers for names, in order of first appearance.
#[derive(Default)]
struct Ids(BTreeMap<String, u64>);

impl Ids {
    fn get(&mut self, name: &str) -> (u64, bool) {
        let next = self.0.len() as u64 + 1;
        match self.0.get(name) {
            Some(id) => (*id, false),
            None => {
                self.0.insert(name.to_string(), next);
                (next, true)
            }
        }
    }
}

/// Converts the trace at `trace` to trace-event JSON.
pub fn to_perfetto(trace: &Path) -> Result<Value, ReportError> {
    let mut records: Vec<Value> = Vec::new();
    for_each_record(trace, |_, v| {
        records.push(v.clone());
        Ok(())
    })?;
    // The last record of each message ends its flow.
    let mut last_of: BTreeMap<String, usize> = BTreeMap::new();
    for (i, v) in records.iter().enumerate() {
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            last_of.insert(m.to_string(), i);
        }
    }
    let mut processes = Ids::default();
    let mut threads = Ids::default();
    let mut flows = Ids::default();
    let mut events = Vec::new();
    for (i, v) in records.iter().enumerate() {
        let n = i + 1;
        let node = as_str(v, "node", trace, n)?;
        let event = as_str(v, "event", trace, n)?;
        let ts = as_u64(v, "t_ms", trace, n)? * 1_000;
        let (pid, new_process) = processes.get(node);
        if new_process {
            events.push(json!({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": node}}));
        }
        let thread_name = component(event);
        let (tid, new_thread) = threads.get(&format!("{node}/{thread_name}"));
        if new_thread {
            events
                .push(json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": thread_name}}));
        }
        let mut args = Map::new();
        for (key, value) in v.as_object().into_iter().flatten() {
            if !matches!(key.as_str(), "t_ms" | "node" | "event") {
                args.insert(key.clone(), value.clone());
            }
        }
        let name = match v.get("message").and_then(Value::as_str) {
            Some(m) => format!("{event} {m}"),
            None => event.to_string(),
        };
        events.push(json!({"ph": "X", "name": name, "cat": thread_name, "ts": ts, "dur": 1, "pid": pid, "tid": tid, "args": args}));
        if event == "link_state_sample" {
            // A counter track: link state messages and bytes per sample interval.
            let counts = json!({"messages": v.get("messages"), "bytes": v.get("bytes")});
            events.push(json!({"ph": "C", "name": "link state per sample", "ts": ts, "pid": pid, "args": counts}));
        }
        if let Some(message) = v.get("message").and_then(Value::as_str) {
            let (id, first) = flows.get(message);
            let ph = if first {
                "s"
            } else if last_of.get(message) == Some(&i) {
                "f"
            } else {
                "t"
            };
            let mut flow =
                json!({"ph": ph, "name": "message", "cat": "message", "id": id, "ts": ts, "pid": pid, "tid": tid});
            if ph == "f" {
                flow["bp"] = json!("e");
            }
            events.push(flow);
        }
    }
    Ok(json!({"traceEvents": events, "displayTimeUnit": "ms"}))
}

/// Writes the trace-event JSON of `trace` to `out` (via a temporary file).
pub fn write_perfetto(trace: &Path, out: &Path) -> Result<(), ReportError> {
    let value = to_perfetto(trace)?;
    let text = serde_json::to_string(&value).expect("JSON values serialize");
    crate::write_atomically(out, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_processes_and_messages_are_flows() {
        let dir = std::env::temp_dir().join(format!("orgsim-perfetto-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let trace = dir.join("t.jsonl");
        let lines = [
            r#"{"t_ms":0,"node":"orgsim","event":"run","seed":1,"scenario":{"name":"s","description":"d"}}"#,
            r#"{"t_ms":5,"node":"EX1","event":"submitted","message":"M1","sender":"a","recipients":["b"],"size_bytes":1}"#,
            r#"{"t_ms":9,"node":"EX2","event":"received","message":"M1","from":"EX1","conn":"EX1#0","recipients":["b"],"hop_count":1}"#,
            r#"{"t_ms":12,"node":"EX2","event":"delivered","message":"M1","recipient":"b","store":"S","latency_ms":7}"#,
            r#"{"t_ms":20,"node":"link_state","event":"link_state_sample","messages":4,"bytes":900,"interval_ms":20}"#,
        ];
        std::fs::write(&trace, lines.join("\n")).unwrap();
        let v = to_perfetto(&trace).unwrap();
        let events = v["traceEvents"].as_array().unwrap();
        let names: Vec<&str> = events
            .iter()
            .filter(|e| e["name"] == "process_name")
            .map(|e| e["args"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["orgsim", "EX1", "EX2", "link_state"]);
        let counter = events.iter().find(|e| e["ph"] == "C").unwrap();
        assert_eq!((counter["args"]["messages"].as_u64(), counter["args"]["bytes"].as_u64()), (Some(4), Some(900)));
        let flow: Vec<&str> =
            events.iter().filter(|e| e["cat"] == "message").map(|e| e["ph"].as_str().unwrap()).collect();
        assert_eq!(flow, ["s", "t", "f"]);
        let delivered = events.iter().find(|e| e["name"] == "delivered M1").unwrap();
        assert_eq!(delivered["ts"], 12_000);
        assert_eq!(delivered["args"]["latency_ms"], 7);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
