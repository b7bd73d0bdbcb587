//! The SMTP edge as a trace tells it (EXCHANGE2003.md §3.1): per filter step, in chain
//! order, the sessions it dropped, the recipients and messages it refused; where accepted
//! mail went; Junk E-mail deliveries and NDRs to addresses outside the organization
//! (backscatter).

use crate::chart::group_digits;
use crate::escape;
use serde_json::Value;
use std::collections::BTreeMap;

/// The filter steps in chain order, with their labels.
const STEPS: [(&str, &str); 11] = [
    ("connection_control", "1 connection control (virtual server)"),
    ("deny_list", "5 global deny list"),
    ("sender_filter", "6 sender filter (MAIL FROM)"),
    ("submission", "submission permission"),
    ("dnsbl", "8 block list rules"),
    ("relay", "relay restrictions"),
    ("recipient_blocked", "10 recipient filter block list"),
    ("recipient_not_in_directory", "11 recipient not in the directory"),
    ("header_sender_filter", "13 sender filter (From header)"),
    ("sender_id", "14 Sender ID"),
    ("imf", "15 Intelligent Message Filter"),
];

/// Steps that refuse a recipient at RCPT TO rather than a message.
const AT_RCPT: [&str; 4] = ["dnsbl", "relay", "recipient_blocked", "recipient_not_in_directory"];

/// The edge's figures.
#[derive(Clone, Debug, Default)]
pub struct EdgeData {
    /// Sessions from outside.
    pub sessions: u64,
    /// Per step: sessions dropped, recipients refused, messages refused.
    pub steps: BTreeMap<String, [u64; 3]>,
    /// Messages accepted, and from authenticated sessions.
    pub accepted: u64,
    /// Of them from authenticated sessions.
    pub authenticated: u64,
    /// Accepted messages by disposition.
    pub dispositions: BTreeMap<String, u64>,
    /// Accepted messages by how their sender shows.
    pub sender_display: BTreeMap<String, u64>,
    /// Exch50 blobs offered with accepted messages: kept, dropped.
    pub exch50: [u64; 2],
    /// Copies delivered into Junk E-mail.
    pub junk_email: u64,
    /// NDRs to addresses outside the authoritative domains.
    pub backscatter: u64,
    /// The authoritative domains (from the run header).
    pub domains: Vec<String>,
    /// Per step (and `accepted`), how many by the end of each minute they happened in.
    pub per_minute: BTreeMap<String, BTreeMap<u64, u64>>,
}

impl EdgeData {
    /// Whether the trace has edge records.
    pub fn is_empty(&self) -> bool {
        self.sessions == 0
    }

    /// Reads the authoritative domains from the run header's scenario.
    pub fn read_header(&mut self, scenario: &Value) {
        let domains = scenario.pointer("/recipients/smtp_domains").and_then(Value::as_array);
        self.domains = domains.into_iter().flatten().filter_map(|d| d.as_str().map(str::to_ascii_lowercase)).collect();
    }

    /// Counts one record (any kind; edge ones matter).
    pub fn read(&mut self, event: &str, v: &Value) {
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
        let minute = v.get("t_ms").and_then(Value::as_u64).unwrap_or(0) / 60_000;
        let series = match event {
            "edge_refused" => Some(text("step")),
            "edge_accepted" => Some("accepted"),
            _ => None,
        };
        if let Some(series) = series {
            *self.per_minute.entry(series.to_string()).or_default().entry(minute).or_default() += 1;
        }
        match event {
            "edge_connected" => self.sessions += 1,
            "edge_refused" => {
                let step = text("step");
                let dropped = v.get("dropped").and_then(Value::as_bool).unwrap_or(false);
                let column = if dropped {
                    0
                } else if AT_RCPT.contains(&step) {
                    1
                } else {
                    2
                };
                self.steps.entry(step.to_string()).or_default()[column] += 1;
            }
            "edge_accepted" => {
                self.accepted += 1;
                self.authenticated += u64::from(v.get("authenticated").and_then(Value::as_bool).unwrap_or(false));
                *self.dispositions.entry(text("disposition").to_string()).or_default() += 1;
                if !text("sender_display").is_empty() {
                    *self.sender_display.entry(text("sender_display").to_string()).or_default() += 1;
                }
                match text("exch50") {
                    "kept" => self.exch50[0] += 1,
                    "dropped" => self.exch50[1] += 1,
                    _ => {}
                }
            }
            "junk_email" => self.junk_email += 1,
            "ndr" => {
                let domain = text("to").rsplit_once('@').map_or("", |(_, d)| d).to_ascii_lowercase();
                if !domain.is_empty() && !self.domains.contains(&domain) {
                    self.backscatter += 1;
                }
            }
            _ => {}
        }
    }

    /// Cumulative lines per step (labelled as in the table) and of accepted messages:
    /// (label, points of (ms, count so far)) at the end of each minute with events.
    pub fn cumulative_lines(&self) -> Vec<(String, Vec<(u64, f64)>)> {
        let labels = STEPS.iter().copied().chain([("accepted", "messages accepted")]);
        let mut out = Vec::new();
        for (key, label) in labels {
            let Some(minutes) = self.per_minute.get(key) else { continue };
            let mut so_far = 0;
            let mut points = vec![(0, 0.0)];
            for (minute, n) in minutes {
                so_far += n;
                points.push(((minute + 1) * 60_000, so_far as f64));
            }
            out.push((label.to_string(), points));
        }
        out
    }

    /// The per-step table and the totals, as text lines.
    pub fn text(&self) -> String {
        let mut out = format!("edge: {} sessions from outside\n", self.sessions);
        for (step, label) in STEPS {
            if let Some([s, r, m]) = self.steps.get(step) {
                out.push_str(&format!("  {label}: {s} sessions dropped, {r} recipients, {m} messages refused\n"));
            }
        }
        let dispositions: Vec<String> = self.dispositions.iter().map(|(d, n)| format!("{n} {d}")).collect();
        out.push_str(&format!(
            "  accepted {} messages ({} authenticated): {}; {} into Junk E-mail; {} NDRs outside (backscatter)\n",
            self.accepted,
            self.authenticated,
            dispositions.join(", "),
            self.junk_email,
            self.backscatter
        ));
        if !self.sender_display.is_empty() {
            let shown: Vec<String> = self.sender_display.iter().map(|(d, n)| format!("{n} {d}")).collect();
            out.push_str(&format!("  senders shown: {}\n", shown.join(", ")));
        }
        if self.exch50 != [0, 0] {
            let [kept, dropped] = self.exch50;
            out.push_str(&format!("  Exch50 (XEXCH50) with accepted messages: {kept} kept, {dropped} refused (504)\n"));
        }
        out
    }

    /// The HTML section.
    pub fn html(&self) -> String {
        let mut out = String::from("<h2>SMTP edge</h2>\n");
        out.push_str(&format!(
            "<p>{} sessions from outside the organization; what each filter step stopped, in the order Exchange 2003 SP2 applies them:</p>\n",
            group_digits(self.sessions)
        ));
        out.push_str("<table><tr><th>step</th><th>sessions dropped</th><th>recipients refused</th><th>messages refused</th></tr>\n");
        for (step, label) in STEPS {
            let [s, r, m] = self.steps.get(step).copied().unwrap_or_default();
            out.push_str(&format!(
                "<tr><th>{}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
                escape(label),
                group_digits(s),
                group_digits(r),
                group_digits(m)
            ));
        }
        out.push_str("</table>\n<table>");
        let mut row = |label: &str, n: u64| {
            out.push_str(&format!("<tr><th>{}</th><td class=\"n\">{}</td></tr>\n", escape(label), group_digits(n)));
        };
        row("messages accepted", self.accepted);
        row("of them from authenticated sessions", self.authenticated);
        for (d, n) in &self.dispositions {
            row(&format!("accepted: {}", d.replace('_', " ")), *n);
        }
        for (d, n) in &self.sender_display {
            row(&format!("sender shown: {}", d.replace('_', " ")), *n);
        }
        if self.exch50 != [0, 0] {
            row("Exch50 blobs kept (XEXCH50)", self.exch50[0]);
            row("Exch50 blobs refused (504 Need to authenticate first)", self.exch50[1]);
        }
        row("copies delivered into Junk E-mail", self.junk_email);
        row("NDRs to addresses outside (backscatter)", self.backscatter);
        out.push_str("</table>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn steps_count_by_what_they_stopped_and_ndrs_outside_are_backscatter() {
        let mut edge = EdgeData::default();
        edge.read_header(&record(r#"{"recipients":{"smtp_domains":["Contoso.com"]}}"#));
        let lines = [
            r#"{"t_ms":1000,"event":"edge_connected","conn":"H#0"}"#,
            r#"{"t_ms":2000,"event":"edge_refused","step":"dnsbl","code":550,"dropped":false}"#,
            r#"{"t_ms":2000,"event":"edge_refused","step":"deny_list","code":0,"dropped":true}"#,
            r#"{"t_ms":61000,"event":"edge_refused","step":"sender_id","code":550,"dropped":false}"#,
            r#"{"t_ms":62000,"event":"edge_accepted","disposition":"uce_archive","authenticated":false}"#,
            r#"{"t_ms":63000,"event":"ndr","to":"x@spam.example"}"#,
            r#"{"t_ms":63000,"event":"ndr","to":"alice@contoso.com"}"#,
        ];
        for l in lines {
            let v = record(l);
            edge.read(v["event"].as_str().unwrap(), &v);
        }
        assert_eq!(edge.steps["dnsbl"], [0, 1, 0]);
        assert_eq!(edge.steps["deny_list"], [1, 0, 0]);
        assert_eq!(edge.steps["sender_id"], [0, 0, 1]);
        assert_eq!(edge.backscatter, 1, "an NDR inside the organization is not backscatter");
        let text = edge.text();
        assert!(text.contains("8 block list rules: 0 sessions dropped, 1 recipients"), "{text}");
        assert!(text.contains("accepted 1 messages (0 authenticated): 1 uce_archive"), "{text}");
        let lines = edge.cumulative_lines();
        let accepted = lines.iter().find(|(n, _)| n == "messages accepted").unwrap();
        assert_eq!(accepted.1, vec![(0, 0.0), (120_000, 1.0)], "counted by the end of its minute");
        assert_eq!(lines[0].0, "5 global deny list", "in chain order");
    }
}
