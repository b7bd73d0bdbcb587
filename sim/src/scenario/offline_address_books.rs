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
