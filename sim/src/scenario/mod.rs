//! Scenario file format v1: the types a scenario file is read into. Every struct denies
//! unknown fields; lists of things with a `kind` are tagged enums; every default is
//! written in [`defaults`] with the fact it comes from. Semantic checks (names, ranges,
//! references) are in `resolve`.
//!
//! One file per section of the file: `topology`, `directory`, `internet`, `recipients`,
//! `public_folders`, `workload`, `timeline`, `weather` and `checks`; `defaults` holds every default.

use crate::units::{Bandwidth, Duration, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

mod checks;
pub mod defaults;
mod directory;
mod internet;
mod message_delivery;
mod offline_address_books;
mod public_folders;
mod recipients;
mod timeline;
mod topology;
mod weather;
mod workload;

pub use checks::*;
pub use directory::*;
pub use internet::*;
pub use message_delivery::*;
pub use offline_address_books::*;
pub use public_folders::*;
pub use recipients::*;
pub use timeline::*;
pub use topology::*;
pub use weather::*;
pub use workload::*;

/// What a scenario may ask, each bound with its reason: orgsim runs an organization for as
/// long and as hard as testing and capacity planning need, and refuses a file that would
/// run for ever or fill the machine. The schema and the README state them.
pub mod bounds {
    /// The longest run: 400 days (the longest horizon among the facts modelled is the 180
    /// days of a public folder tombstone, EXCHANGE2003.md §8).
    pub const DURATION_MS_MAX: u64 = 400 * 86_400_000;
    /// The largest message, in KB: 1 GB, far above any limit Exchange 2003 applies (4,096
    /// KB by default, §3.2a).
    pub const MESSAGE_SIZE_KB_MAX: u64 = 1_048_576;
    /// The shortest period of an oscillating link: 2 s, a second down and a second up. A
    /// bridgehead's glitch retries are 60 s apart (§3.2a), so a faster flap changes
    /// nothing Exchange sees and only fills memory.
    pub const OSCILLATION_PERIOD_MS_MIN: u64 = 2_000;
    /// The longest disk flush delay (group commit) a server may have: 1 minute. An event
    /// traced when a write is durable may trail what caused it by up to this long.
    pub const DISK_FLUSH_MS_MAX: u64 = 60_000;
    /// The most fault steps a run may script or its weather be expected to draw.
    pub const FAULT_STEPS_MAX: u64 = 1_000_000;
    /// The highest weather rate of one kind: 10,000 faults a day (one every 9 s).
    pub const FAULTS_PER_DAY_MAX: f64 = 10_000.0;
}

/// A scenario: topology, recipients, workload, timeline, checks and report settings.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in summaries.
    pub name: String,
    /// What the scenario demonstrates, in a sentence or two.
    pub description: String,
    /// The simulated calendar's start (UTC).
    #[serde(default = "defaults::start")]
    pub start: Timestamp,
    /// How long the run lasts (at most 400 days).
    pub duration: Duration,
    /// Forest, sites, groups, servers, connectors and WAN links.
    pub topology: TopologyDef,
    /// Mailboxes and authoritative domains.
    pub recipients: Recipients,
    /// Public folders and the clients posting to them.
    #[serde(default)]
    pub public_folders: PublicFolders,
    /// Offline address books and their generation (EXCHANGE2003.md §9).
    #[serde(default)]
    pub offline_address_books: Vec<OfflineAddressBookDef>,
    /// Client mail load; none means no client mail.
    #[serde(default)]
    pub workload: Option<Workload>,
    /// Clients outside the organization sending to its inbound virtual servers.
    #[serde(default)]
    pub internet_senders: Vec<InternetSenders>,
    /// Faults and administrator actions at simulated times.
    #[serde(default)]
    pub timeline: Vec<Action>,
    /// Randomized faults: each seed samples them into concrete timeline steps.
    #[serde(default)]
    pub weather: Option<Weather>,
    /// Invariants and expectations.
    #[serde(default)]
    pub checks: Checks,
    /// Report settings.
    #[serde(default)]
    pub report: ReportSettings,
}

/// The JSON Schema of scenario files, generated from these types.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(Scenario);
    serde_json::to_value(schema).expect("a schema serializes")
}
