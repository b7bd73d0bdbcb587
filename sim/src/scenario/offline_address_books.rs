//! Offline address books (EXCHANGE2003.md §9): each with its generation server, its
//! schedule and the settings OALGen reads.

use super::*;

/// An offline address book.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OfflineAddressBookDef {
    /// Name, unique in the organization, e.g. `Default Offline Address List`.
    pub name: String,
    /// The generation server: its System Attendant runs OALGen, and its version picks
    /// the files (version 4 from SP2) and the diff rules.
    pub server: String,
    /// Start times of day, `HH:MM` (the "Update interval" schedule; daily at 05:00 by
    /// default).
    #[serde(default = "defaults::oab_schedule")]
    pub schedule: Vec<String>,
    /// The address lists it is built from (a list added later blocks the version 2/3a
    /// diff).
    #[serde(default = "defaults::oab_address_lists")]
    pub address_lists: Vec<String>,
    /// The registry switch `OAL post full if diff fails`: an SP2 server posts full
    /// version 2/3a files when it cannot make their diff (off: it posts nothing).
    #[serde(default)]
    pub post_full_if_diff_fails: bool,
    /// SP2's per-property-type size limits.
    #[serde(default)]
    pub property_limits: Option<PropertyLimitsDef>,
    /// One attribute changed on more than this share of the records (per cent, 1 to
    /// 100) is a mass change no version 2/3a diff expresses; 10 by default [U].
    #[serde(default = "defaults::oab_mass_change_pct")]
    #[schemars(range(min = 1, max = 100))]
    pub mass_change_pct: u32,
    /// Public stores that hold replicas of the OAB's OFFLINE ADDRESS BOOK folders besides
    /// the generation server's own (which always does): each run's files reach them by
    /// public folder replication, and clients download from the nearest.
    #[serde(default)]
    pub replicas: Vec<String>,
    /// The OAB was generated before the run began: its first sequence, made from the
    /// directory as the run starts, is on every replica and every client holds it, so
    /// the first run makes a diff. Off: the first run makes the first full file.
    #[serde(default)]
    pub generated_before_start: bool,
    /// Cached-mode Outlook clients of this OAB.
    #[serde(default)]
    pub clients: Vec<OabClientsDef>,
}

/// A population of cached-mode Outlook clients: each downloads the OAB once a day at a
/// random time from the nearest replica its server refers it to — the diffs it needs,
/// or the full files when they add up to more than an eighth of them or one is missing
/// (§9). Outlook 2003 SP2 uses version 4 files where the generation server is SP2 (else
/// 3a), Outlook 2003 version 3a, Outlook 2002 version 2.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OabClientsDef {
    /// The server whose mailboxes they are: they sit in its site, and it refers them to
    /// a replica (its own public store first).
    pub server: String,
    /// How many clients (1 to 100,000).
    #[schemars(range(min = 1, max = 100000))]
    pub count: u32,
    /// Their Outlook: `2003_sp2` (the default), `2003` or `2002`.
    #[serde(default)]
    pub outlook: OutlookVersion,
}

/// An Outlook version, as its OAB downloads differ (§9, §10).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OutlookVersion {
    /// Outlook 2002 (and 97 to 2000): version 2 files.
    #[serde(rename = "2002")]
    Outlook2002,
    /// Outlook 2003 before SP2: version 3a files.
    #[serde(rename = "2003")]
    Outlook2003,
    /// Outlook 2003 SP2: version 4 from an SP2 server, 3a from an earlier one.
    #[default]
    #[serde(rename = "2003_sp2")]
    Outlook2003Sp2,
}

/// SP2's per-property-type size limits on OAB records.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyLimitsDef {
    /// Longest string value in bytes (1,024 by default [U]).
    #[serde(default = "defaults::oab_string_bytes_max")]
    #[schemars(range(min = 1))]
    pub string_bytes_max: u32,
    /// Longest binary value in bytes (4,096 by default [U]).
    #[serde(default = "defaults::oab_binary_bytes_max")]
    #[schemars(range(min = 1))]
    pub binary_bytes_max: u32,
    /// Most values of a multi-valued property (64 by default [U]).
    #[serde(default = "defaults::oab_values_max")]
    #[schemars(range(min = 1))]
    pub values_max: u32,
}
