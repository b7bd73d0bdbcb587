//! Reports built from a trace alone: the story of a run (what ran, what happened to the
//! mail, the checks, the timeline of faults and actions), charts on the scenario's clock
//! (SVG by plotters; text is left to the viewer, so no font packages are needed), the
//! capacity planning tables, and one self-contained HTML page. Depends on the trace
//! format only, never on the running system.

pub mod capacity;
pub mod chart;
pub mod clock;
pub mod compare;
pub mod diff;
pub mod edge;
pub mod mailroot;
mod outcomes;
pub mod page;
pub mod perfetto;
pub mod sweep_page;
mod tables;
pub mod trace_data;

pub use outcomes::outcome_summary;
pub use page::{write_report, write_report_of};
pub use trace_data::{read_trace, TraceData};

use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// Why a report could not be made.
#[derive(Debug)]
pub enum ReportError {
    /// Reading the trace or writing the report failed.
    Io(PathBuf, std::io::Error),
    /// A trace line is not what the format says.
    Trace { file: PathBuf, line: usize, message: String },
    /// A chart could not be drawn.
    Chart(String),
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Io(p, e) => write!(f, "{}: {e}", p.display()),
            ReportError::Trace { file, line, message } => write!(f, "{}:{line}: {message}", file.display()),
            ReportError::Chart(m) => write!(f, "chart: {m}"),
        }
    }
}

impl std::error::Error for ReportError {}

/// A piece of HTML, already escaped where it holds text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Html(pub String);

pub(crate) fn field<'a>(v: &'a Value, name: &str, file: &Path, line: usize) -> Result<&'a Value, ReportError> {
    v.get(name).ok_or_else(|| ReportError::Trace {
        file: file.to_path_buf(),
        line,
        message: format!("expected a field {name:?}"),
    })
}

/// Writes a file whole: to `PATH.tmp`, then renamed into place, so a reader never sees a
/// half-written report.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(|e| ReportError::Io(tmp.clone(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| ReportError::Io(path.to_path_buf(), e))
}

/// Text made safe inside HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
