//! Export of a trace in the Chrome/Perfetto trace-event JSON format: each server (and the
//! WAN, the link state updater, the checks) is a process, each component a thread, every
//! event a 1 µs slice carrying its fields, and every message a flow joining its events
//! across servers, so a run can be browsed on a timeline (ui.perfetto.dev, chrome://tracing).

use crate::trace_data::{as_str, as_u64, expect_run_header, for_each_record};
use crate::ReportError;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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

/// A message's flow id: 53 bits of its name's FNV-1a hash, so the id is exact as a
/// JavaScript number (trace viewers read JSON numbers as doubles) and needs no table of
/// every message of the run (a collision among a million messages: about 1 in 10,000
/// runs, and it only joins two arrows).
fn flow_id(message: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in message.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash & ((1 << 53) - 1)
}

/// Where each message's flow starts: its submission, or the event that generated it (an
/// NDR or an Out of Office reply names the new message in `ndr` or `reply`).
fn flow_starts<'a>(event: &str, v: &'a Value) -> [Option<&'a str>; 2] {
    match event {
        "submitted" => [v.get("message").and_then(Value::as_str), None],
        "ndr" => [None, v.get("ndr").and_then(Value::as_str)],
        "out_of_office" => [None, v.get("reply").and_then(Value::as_str)],
        _ => [None, None],
    }
}

/// Streams the trace at `trace` to `out` as trace-event JSON, one event at a time:
/// memory holds the process and thread names (the organization's size), never the trace.
/// Every message is a flow: it starts where the message was submitted or generated and
/// steps through every later event that names it (a flow needs no finish event, so no
/// pass over the trace is needed to find each message's last one). A write error names
/// `out_path`.
pub fn write_trace_events(trace: &Path, out: &mut impl Write, out_path: &Path) -> Result<(), ReportError> {
    let mut processes = Ids::default();
    let mut threads = Ids::default();
    let mut first = true;
    let io = |e: std::io::Error| ReportError::Io(out_path.to_path_buf(), e);
    out.write_all(b"{\"displayTimeUnit\":\"ms\",\"traceEvents\":[").map_err(io)?;
    let mut emit = |event: Value, out: &mut dyn Write| -> std::io::Result<()> {
        if !std::mem::take(&mut first) {
            out.write_all(b",\n")?;
        }
        serde_json::to_writer(&mut *out, &event).map_err(std::io::Error::from)
    };
    for_each_record(trace, |n, v| {
        let node = as_str(v, "node", trace, n)?;
        let event = as_str(v, "event", trace, n)?;
        expect_run_header(trace, n, event)?;
        let ts = as_u64(v, "t_ms", trace, n)? * 1_000;
        let (pid, new_process) = processes.get(node);
        if new_process {
            emit(json!({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": node}}), out)
                .map_err(io)?;
        }
        let thread_name = component(event);
        let (tid, new_thread) = threads.get(&format!("{node}/{thread_name}"));
        if new_thread {
            let name = json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": thread_name}});
            emit(name, out).map_err(io)?;
        }
        let args: Map<String, Value> = v
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, _)| !matches!(key.as_str(), "t_ms" | "node" | "event"))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let message = v.get("message").and_then(Value::as_str);
        let name = message.map_or_else(|| event.to_string(), |m| format!("{event} {m}"));
        let slice = json!({"ph": "X", "name": name, "cat": thread_name, "ts": ts, "dur": 1, "pid": pid, "tid": tid, "args": args});
        emit(slice, out).map_err(io)?;
        if event == "link_state_sample" {
            // A counter track: link state messages and bytes per sample interval.
            let counts = json!({"messages": v.get("messages"), "bytes": v.get("bytes")});
            emit(json!({"ph": "C", "name": "link state per sample", "ts": ts, "pid": pid, "args": counts}), out)
                .map_err(io)?;
        }
        let [started, generated] = flow_starts(event, v);
        let flows = [message.map(|m| (m, if started.is_some() { "s" } else { "t" })), generated.map(|m| (m, "s"))];
        for (m, ph) in flows.into_iter().flatten() {
            let id = flow_id(m);
            emit(
                json!({"ph": ph, "name": "message", "cat": "message", "id": id, "ts": ts, "pid": pid, "tid": tid}),
                out,
            )
            .map_err(io)?;
        }
        Ok(())
    })?;
    out.write_all(b"]}\n").map_err(io)
}

/// Writes the trace-event JSON of `trace` to `out`, through a temporary file beside it
/// that becomes `out` only when the whole trace was read: a bad trace writes nothing.
pub fn write_perfetto(trace: &Path, out: &Path) -> Result<(), ReportError> {
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let file = std::fs::File::create(&tmp).map_err(|e| ReportError::Io(tmp.clone(), e))?;
    let mut writer = BufWriter::new(file);
    let written = write_trace_events(trace, &mut writer, &tmp)
        .and_then(|()| writer.flush().map_err(|e| ReportError::Io(tmp.clone(), e)));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, out).map_err(|e| ReportError::Io(out.to_path_buf(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory holding `lines` as the trace `t.jsonl`: (directory, trace).
    fn trace_file(tag: &str, lines: &[&str]) -> (PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("orgsim-perfetto-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let trace = dir.join("t.jsonl");
        std::fs::write(&trace, lines.join("\n")).unwrap();
        (dir, trace)
    }

    #[test]
    fn servers_are_processes_and_messages_are_flows() {
        let lines = [
            r#"{"t_ms":0,"node":"orgsim","event":"run","seed":1,"scenario":{"name":"s","description":"d"}}"#,
            r#"{"t_ms":5,"node":"EX1","event":"submitted","message":"M1","sender":"a","recipients":["b"],"size_bytes":1}"#,
            r#"{"t_ms":9,"node":"EX2","event":"received","message":"M1","from":"EX1","conn":"EX1#0","recipients":["b"],"hop_count":1}"#,
            r#"{"t_ms":12,"node":"EX2","event":"delivered","message":"M1","recipient":"b","store":"S","latency_ms":7}"#,
            r#"{"t_ms":20,"node":"link_state","event":"link_state_sample","messages":4,"bytes":900,"interval_ms":20}"#,
        ];
        let (dir, trace) = trace_file("flows", &lines);
        let mut out = Vec::new();
        write_trace_events(&trace, &mut out, Path::new("memory")).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
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
        assert_eq!(flow, ["s", "t", "t"]);
        let ids: Vec<&Value> = events.iter().filter(|e| e["cat"] == "message").map(|e| &e["id"]).collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "one flow for M1");
        let delivered = events.iter().find(|e| e["name"] == "delivered M1").unwrap();
        assert_eq!(delivered["ts"], 12_000);
        assert_eq!(delivered["args"]["latency_ms"], 7);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_ndr_starts_the_flow_of_the_message_it_generates() {
        let v = json!({"message": "M1", "ndr": "NDR-EX1-4"});
        assert_eq!(flow_starts("ndr", &v), [None, Some("NDR-EX1-4")]);
        assert_eq!(flow_starts("submitted", &v), [Some("M1"), None]);
        assert_eq!(flow_starts("queued", &v), [None, None]);
        assert_ne!(flow_id("M1"), flow_id("M2"));
        assert!(flow_id("NDR-EX1-4") < 1 << 53);
    }

    #[test]
    fn a_bad_trace_writes_nothing() {
        let lines = [
            r#"{"t_ms":0,"node":"orgsim","event":"run","seed":1,"scenario":{"name":"s","description":"d"}}"#,
            r#"{"t_ms":5,"node":"EX1","event":"submitted","message":"M1"}"#,
            r#"{"t_ms":"soon","node":"EX1","event":"queued"}"#,
        ];
        let (dir, trace) = trace_file("bad", &lines);
        let out = dir.join("p.json");
        let err = write_perfetto(&trace, &out).unwrap_err().to_string();
        assert!(err.contains("t.jsonl") && err.contains('3'), "names the file and line: {err}");
        let left: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [std::ffi::OsString::from("t.jsonl")], "no output, no temporary file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
