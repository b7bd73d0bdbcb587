//! Public folders (EXCHANGE2003.md §8): the organization's folder tree with each
//! folder's replica list and starting content, and the clients that post to them. The
//! public stores themselves belong to storage groups (`topology`).

use super::*;

/// A server's public store (one per server at most, in one of its storage groups).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicStoreDef {
    /// Name, unique in the organization, e.g. `Public Folder Store (EX01)`.
    pub name: String,
    /// When content replicates from this store by default ("Always": every 15
    /// minutes); a folder's own schedule overrides it. Windows as site links write
    /// them; `[]` is "Never".
    #[serde(default)]
    pub replication_schedule: Option<Vec<ScheduleWindow>>,
    /// Another public store asked first for backfill, whatever its cost.
    #[serde(default)]
    pub preferred_backfill_source: Option<String>,
    /// The server's 2003 custom referral list (its "Public Folder Referrals" tab): a
    /// client of this server is referred only to these servers, lowest cost first;
    /// none (the default) refers along routing groups.
    #[serde(default)]
    pub referrals: Option<Vec<ReferralDef>>,
    /// Diagnostics logging of MSExchangeIS Public Folder: at `medium` or higher an SP2
    /// server logs event 9682 for every folder deleted on it.
    #[serde(default)]
    pub logging_level: LoggingLevel,
}

/// One server of a custom referral list.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralDef {
    /// The server.
    pub server: String,
    /// Its cost, 1 to 100: a higher cost is used only when every lower one is
    /// unavailable.
    #[schemars(range(min = 1, max = 100))]
    pub cost: u32,
}

/// A diagnostics logging level, as Exchange System Manager offers them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoggingLevel {
    /// None (the default).
    #[default]
    None,
    /// Minimum.
    Minimum,
    /// Medium.
    Medium,
    /// Maximum.
    Maximum,
}

/// The organization's public folders.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicFolders {
    /// The folders under the MAPI top-level hierarchy, parents before children.
    #[serde(default)]
    pub folders: Vec<PublicFolderDef>,
    /// Clients posting to folders.
    #[serde(default)]
    pub posts: Vec<PostLoad>,
    /// Clients opening folders (served by their server's replica, or referred).
    #[serde(default)]
    pub reads: Vec<ReadLoad>,
}

/// MAPI clients of one server opening one folder.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReadLoad {
    /// The folder's path.
    pub folder: String,
    /// The clients' server (it has a public store: its hierarchy names the replicas).
    pub server: String,
    /// Opens an hour (a Poisson stream).
    pub per_hour: f64,
    /// When reading starts (the run's start by default).
    #[serde(default)]
    pub from: Option<Duration>,
    /// When reading stops (the run's end by default).
    #[serde(default)]
    pub until: Option<Duration>,
}

/// A public folder when the run starts.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicFolderDef {
    /// Its path under the top of the tree, `/`-separated (`Sales/EMEA`); its parent is
    /// listed before it.
    pub path: String,
    /// The public stores holding its content (at least one; every replica is primary).
    pub replicas: Vec<String>,
    /// Items it holds when the run starts.
    #[serde(default)]
    pub items: u64,
    /// Size of each starting item, KB.
    #[serde(default = "defaults::public_item_size_kb")]
    #[schemars(range(min = 1, max = bounds::MESSAGE_SIZE_KB_MAX))]
    pub item_size_kb: u64,
    /// Its own content replication schedule (the stores' default when absent; `[]` is
    /// "Never").
    #[serde(default)]
    pub replication_schedule: Option<Vec<ScheduleWindow>>,
    /// What the `Default` user (everyone) may do: `author` (open and post, Exchange's
    /// default), `reviewer` (open only) or `none`.
    #[serde(default)]
    pub default_role: DefaultRoleDef,
    /// Mail-enables it with this alias (address `<alias>@<first SMTP domain>`): mail to
    /// it is routed to the nearest server holding a replica and posted there.
    #[serde(default)]
    pub alias: Option<String>,
}

/// MAPI clients posting to one folder through one server's public store.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostLoad {
    /// The folder's path.
    pub folder: String,
    /// The server whose public store the clients use (it holds a replica of the folder).
    pub server: String,
    /// Posts an hour (a Poisson stream, drawn from its own seeded stream).
    pub per_hour: f64,
    /// Size of each post, KB.
    #[serde(default = "defaults::public_item_size_kb")]
    #[schemars(range(min = 1, max = bounds::MESSAGE_SIZE_KB_MAX))]
    pub size_kb: u64,
    /// When posting starts (the run's start by default).
    #[serde(default)]
    pub from: Option<Duration>,
    /// When posting stops (the run's end by default).
    #[serde(default)]
    pub until: Option<Duration>,
}

/// A folder permission role of the `Default` user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DefaultRoleDef {
    /// Open and post (the default).
    #[default]
    Author,
    /// Open only.
    Reviewer,
    /// No access.
    None,
}

impl DefaultRoleDef {
    /// The organization model's role.
    pub fn to_org(self) -> org::public_folders::replication_message::DefaultRole {
        use org::public_folders::replication_message::DefaultRole;
        match self {
            DefaultRoleDef::Author => DefaultRole::Author,
            DefaultRoleDef::Reviewer => DefaultRole::Reviewer,
            DefaultRoleDef::None => DefaultRole::None,
        }
    }
}
