//! The virtual servers' Badmail and archive folders as a trace tells them: Badmail
//! written or discarded (off, as from SP1, or the folder at its cap), purges, and what
//! the UCEArchive and sender filter archive took — with each folder's size over the run,
//! which is what an administrator plans disk for.

use crate::chart::group_digits;
use crate::escape;
use serde_json::Value;
use std::collections::BTreeMap;

/// One virtual server's folders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Folders {
    /// Badmail written: files, bytes.
    pub written: (u64, u64),
    /// Badmail discarded because Badmail is off.
    pub discarded: u64,
    /// Badmail discarded because the folder had reached its cap.
    pub folder_full: u64,
    /// Purges, and the bytes they freed.
    pub purged: (u64, u64),
    /// The UCEArchive and the sender filter's archive: files, bytes.
    pub uce_archive: (u64, u64),
    pub filter: (u64, u64),
    /// Badmail bytes on disk, and each archive's, after each change: (ms, bytes).
    pub badmail_series: Vec<(u64, u64)>,
    pub uce_archive_series: Vec<(u64, u64)>,
    pub filter_series: Vec<(u64, u64)>,
}

/// Every virtual server's folders, by `SERVER/virtual server`.
#[derive(Clone, Debug, Default)]
pub struct MailrootData {
    pub folders: BTreeMap<String, Folders>,
    /// Each server's Badmail cap in bytes, where it has one (from the run header).
    pub caps: BTreeMap<String, u64>,
}

impl MailrootData {
    /// Whether the trace has any folder record.
    pub fn is_empty(&self) -> bool {
        self.folders.is_empty()
    }

    /// Reads each server's `MaxBadMailFolderSize` from the run header's scenario (a cap
    /// only: 0 discards, 0xFFFFFFFF has no limit).
    pub fn read_header(&mut self, scenario: &Value) {
        let servers = scenario.pointer("/topology/servers").and_then(Value::as_array);
        for s in servers.into_iter().flatten() {
            let name = s.get("name").and_then(Value::as_str).unwrap_or("");
            let kb = s.pointer("/badmail/max_folder_size_kb").and_then(Value::as_u64).unwrap_or(0);
            if kb != 0 && kb != u64::from(u32::MAX) {
                self.caps.insert(name.to_string(), kb * 1_024);
            }
        }
    }

    /// Counts one record (any kind; folder ones matter).
    pub fn read(&mut self, event: &str, v: &Value) {
        if !matches!(event, "badmail_folder" | "archived" | "badmail_purged") {
            return;
        }
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("");
        let number = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
        let t = number("t_ms");
        let key = format!("{}/{}", text("node"), text("virtual_server"));
        let f = self.folders.entry(key).or_default();
        let size = number("size_bytes");
        let on_disk = |series: &Vec<(u64, u64)>| series.last().map_or(0, |p| p.1);
        match (event, text("fate"), text("folder")) {
            ("badmail_folder", "written", _) => {
                f.written = (f.written.0 + 1, f.written.1 + size);
                let now = on_disk(&f.badmail_series) + size;
                f.badmail_series.push((t, now));
            }
            ("badmail_folder", "folder_full", _) => f.folder_full += 1,
            ("badmail_folder", _, _) => f.discarded += 1,
            ("badmail_purged", _, _) => {
                f.purged = (f.purged.0 + 1, f.purged.1 + number("freed_bytes"));
                f.badmail_series.push((t, 0));
            }
            ("archived", _, "uce_archive") => {
                f.uce_archive = (f.uce_archive.0 + 1, f.uce_archive.1 + size);
                f.uce_archive_series.push((t, f.uce_archive.1));
            }
            _ => {
                f.filter = (f.filter.0 + 1, f.filter.1 + size);
                f.filter_series.push((t, f.filter.1));
            }
        }
    }

    /// One line per virtual server, as text.
    pub fn text(&self) -> String {
        let mut out = String::from("mailroot folders:\n");
        for (vs, f) in &self.folders {
            out.push_str(&format!(
                "  {vs}: Badmail {} written ({} bytes), {} discarded, {} discarded at the cap, {} purges ({} bytes); UCEArchive {} ({} bytes); Filter {} ({} bytes)\n",
                f.written.0, f.written.1, f.discarded, f.folder_full, f.purged.0, f.purged.1,
                f.uce_archive.0, f.uce_archive.1, f.filter.0, f.filter.1
            ));
        }
        out
    }

    /// The HTML table.
    pub fn html(&self) -> String {
        let mut out = String::from("<h2>Badmail and archive folders</h2>\n");
        out.push_str("<p>Per virtual server (<code>Mailroot\\vsi N</code>): Badmail written or discarded (off by default from SP1, or the folder at its <code>MaxBadMailFolderSize</code> cap as last measured), purges, and what the archive folders took.</p>\n");
        out.push_str("<table><tr><th>virtual server</th><th>Badmail written</th><th>bytes</th><th>discarded (off)</th><th>discarded (at cap)</th><th>purges</th><th>UCEArchive</th><th>bytes</th><th>Filter</th><th>bytes</th></tr>\n");
        for (vs, f) in &self.folders {
            let cells = [
                f.written.0,
                f.written.1,
                f.discarded,
                f.folder_full,
                f.purged.0,
                f.uce_archive.0,
                f.uce_archive.1,
                f.filter.0,
                f.filter.1,
            ];
            let cells: String = cells.iter().map(|n| format!("<td class=\"n\">{}</td>", group_digits(*n))).collect();
            out.push_str(&format!("<tr><th>{}</th>{cells}</tr>\n", escape(vs)));
        }
        out.push_str("</table>\n");
        out
    }

    /// Each folder's bytes over the run, as step lines held to `end_ms`: (label, points).
    pub fn size_lines(&self, end_ms: u64) -> Vec<(String, Vec<(u64, f64)>)> {
        let mut out = Vec::new();
        for (vs, f) in &self.folders {
            for (name, series) in
                [("Badmail", &f.badmail_series), ("UCEArchive", &f.uce_archive_series), ("Filter", &f.filter_series)]
            {
                if series.is_empty() {
                    continue;
                }
                let mut points = vec![(0, 0.0)];
                let mut last = 0.0;
                for &(t, bytes) in series {
                    points.push((t, last)); // held until the change: a step
                    last = bytes as f64;
                    points.push((t, last));
                }
                points.push((end_ms, last));
                out.push((format!("{vs} {name}"), points));
                let server = vs.split_once('/').map_or(vs.as_str(), |(s, _)| s);
                if let (Some(&cap), "Badmail") = (self.caps.get(server), name) {
                    out.push((format!("{vs} Badmail cap"), vec![(0, cap as f64), (end_ms, cap as f64)]));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_count_fates_and_follow_their_size_through_a_purge() {
        let mut data = MailrootData::default();
        let lines = [
            r#"{"t_ms":1000,"node":"EX1","event":"badmail_folder","virtual_server":"Internet","size_bytes":100,"fate":"written"}"#,
            r#"{"t_ms":2000,"node":"EX1","event":"badmail_folder","virtual_server":"Internet","size_bytes":50,"fate":"written"}"#,
            r#"{"t_ms":3000,"node":"EX1","event":"badmail_folder","virtual_server":"Internet","size_bytes":50,"fate":"folder_full"}"#,
            r#"{"t_ms":4000,"node":"EX1","event":"badmail_purged","virtual_server":"Internet","freed_bytes":150}"#,
            r#"{"t_ms":5000,"node":"EX1","event":"archived","virtual_server":"Internet","folder":"uce_archive","size_bytes":70}"#,
            r#"{"t_ms":6000,"node":"EX2","event":"badmail_folder","virtual_server":"Default","size_bytes":9,"fate":"discarded"}"#,
        ];
        for l in lines {
            let v: Value = serde_json::from_str(l).unwrap();
            data.read(v["event"].as_str().unwrap(), &v);
        }
        let f = &data.folders["EX1/Internet"];
        assert_eq!((f.written, f.folder_full, f.purged, f.uce_archive), ((2, 150), 1, (1, 150), (1, 70)));
        assert_eq!(f.badmail_series, vec![(1000, 100), (2000, 150), (4000, 0)]);
        assert_eq!(data.folders["EX2/Default"].discarded, 1);
        let header = r#"{"topology":{"servers":[{"name":"EX1","badmail":{"max_folder_size_kb":64}},{"name":"EX2","badmail":{"max_folder_size_kb":4294967295}}]}}"#;
        data.read_header(&serde_json::from_str(header).unwrap());
        assert_eq!(data.caps, BTreeMap::from([("EX1".to_string(), 65_536)]), "no limit is no cap");
        let lines = data.size_lines(10_000);
        assert_eq!(lines[0].0, "EX1/Internet Badmail");
        assert_eq!(lines[0].1.last(), Some(&(10_000, 0.0)));
        assert_eq!(lines[1], ("EX1/Internet Badmail cap".to_string(), vec![(0, 65_536.0), (10_000, 65_536.0)]));
        assert!(data
            .text()
            .contains("EX1/Internet: Badmail 2 written (150 bytes), 0 discarded, 1 discarded at the cap"));
    }
}
