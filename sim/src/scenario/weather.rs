//! Weather: randomized faults drawn per seed.

use super::*;

/// Randomized faults (swarm testing). Each kind of fault draws from its own stream, so a
/// seed's faults are stable when other parts of the scenario change. Faults start and end
/// inside `from..until`, after which they have all healed (the liveness phase). A link,
/// connector or server that the fixed timeline already acts on is left to the timeline.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Weather {
    /// Faults start no earlier than this.
    pub from: Duration,
    /// Every fault has healed by this.
    pub until: Duration,
    /// WAN link outages.
    #[serde(default)]
    pub link_outages: Option<FaultRate>,
    /// Oscillating WAN links.
    #[serde(default)]
    pub link_oscillations: Option<OscillationRate>,
    /// Connectors taken down (e.g. a bridgehead's SMTP service stopped).
    #[serde(default)]
    pub connector_outages: Option<FaultRate>,
    /// Server crashes, each followed by a restart.
    #[serde(default)]
    pub server_crashes: Option<FaultRate>,
    /// Of the server crashes, the share that are power losses (the write in flight may
    /// be torn), from 0 (the default) to 1.
    #[serde(default)]
    pub power_loss_share: f64,
    /// Internet hosts (MX hosts, smart hosts, MTAs, DNS servers) that stop answering.
    #[serde(default)]
    pub host_outages: Option<FaultRate>,
    /// Domain controllers (and global catalogs) that stop answering.
    #[serde(default)]
    pub dc_outages: Option<FaultRate>,
    /// Cluster nodes that fail, each returning at the fault's end; `power_loss_share` of
    /// them lose power.
    #[serde(default)]
    pub node_failures: Option<FaultRate>,
}

/// How often a fault happens and how long it lasts.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultRate {
    /// Mean number of faults per 24 h of the weather window (Poisson; at most 10,000).
    pub per_day: f64,
    /// Shortest and longest fault (log-uniform in between).
    pub length: [Duration; 2],
    /// Which links, connectors or servers may be hit; all by default.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
}

/// How often a link oscillates, how fast and for how long.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OscillationRate {
    /// Mean number of oscillation episodes per 24 h of the window (at most 10,000).
    pub per_day: f64,
    /// Shortest and longest down-and-up period, each at least 2 s.
    pub period: [Duration; 2],
    /// Shortest and longest episode.
    pub length: [Duration; 2],
    /// Which links; all by default.
    #[serde(default)]
    pub targets: Option<Vec<String>>,
}
