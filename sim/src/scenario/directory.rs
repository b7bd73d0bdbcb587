//! Directory settings: domain controllers, DSAccess, AD replication and site links with their schedules.

use super::*;

/// A domain controller.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "DomainController")]
pub struct DomainControllerDef {
    /// Computer name.
    pub name: String,
    /// The domain it holds.
    pub domain: String,
    /// Its site.
    pub site: String,
    /// Whether it is a global catalog server.
    #[serde(default)]
    pub global_catalog: bool,
    /// Its Windows version (sets the change-notification delays): `2000` or `2003`.
    #[serde(default = "defaults::windows_version")]
    pub version: WindowsVersionSpec,
}

/// DSAccess settings (EXCHANGE2003.md §2).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DsAccess {
    /// User cache size in MB; 140 on Exchange 2003 and 25 on 2000 by default.
    #[serde(default)]
    pub user_cache_mb: Option<u64>,
    /// How long a cached entry is used (10 minutes).
    #[serde(default = "defaults::dsaccess_entry_lifetime")]
    pub entry_lifetime: Duration,
}

/// A domain controller's Windows version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum WindowsVersionSpec {
    /// Windows 2000 Server SP3 or later.
    #[serde(rename = "2000")]
    Windows2000,
    /// Windows Server 2003.
    #[serde(rename = "2003")]
    Windows2003,
}

/// Active Directory replication between the domain controllers (EXCHANGE2003.md §2).
/// Without this section the directory is not simulated: every GC holds the whole
/// directory at once.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AdReplication {
    /// Site links: inter-site replication runs only between sites a link joins.
    #[serde(default)]
    pub site_links: Vec<SiteLink>,
}

/// An AD site link.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SiteLink {
    /// Name.
    pub name: String,
    /// The sites it joins (two or more).
    pub sites: Vec<String>,
    /// Cost 1–32,767 (default 100).
    #[serde(default = "defaults::site_link_cost")]
    pub cost: u32,
    /// How often replication runs over it: a multiple of 15 min from 15 min to 7 days
    /// (default 180 min).
    #[serde(default = "defaults::replication_interval")]
    pub replication_interval: Duration,
    /// When replication may run over it, as whole UTC hours of every day: windows such
    /// as `{"from": "20:00", "until": "06:00"}` (from 20:00 to 06:00 the next morning);
    /// always available by default.
    #[serde(default)]
    pub schedule: Option<Vec<ScheduleWindow>>,
}

/// Hours of the UTC week a site link is open for replication (Windows' 7 × 24 grid).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleWindow {
    /// First open hour, `HH:00`.
    pub from: String,
    /// The hour it closes, `HH:00` (`24:00` is midnight; before `from`: the next day).
    pub until: String,
    /// The days the window opens on (every day when absent); a window past midnight runs
    /// on into the next day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<Day>>,
}

/// A day of the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    /// Sunday.
    Sunday,
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
}

impl Day {
    /// Every day, Sunday first.
    pub const ALL: [Day; 7] =
        [Day::Sunday, Day::Monday, Day::Tuesday, Day::Wednesday, Day::Thursday, Day::Friday, Day::Saturday];

    /// The calendar's weekday.
    pub fn weekday(self) -> org::calendar::Weekday {
        org::calendar::Weekday::ALL[self as usize]
    }
}
