//! Client load: send rates, the hourly profile, sizes and recipient choice.

use super::*;

/// Client mail load.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Messages each user sends a day (spread over the day by `hourly_profile`).
    #[serde(default = "defaults::sends_per_user_per_day")]
    pub sends_per_user_per_day: f64,
    /// Relative send rate for each hour of the day (UTC of the simulated calendar).
    #[serde(default = "defaults::hourly_profile")]
    pub hourly_profile: [f64; 24],
    /// Mean recipients per message (1 + Poisson).
    #[serde(default = "defaults::recipients_per_message")]
    pub recipients_per_message: f64,
    /// Message size distribution.
    #[serde(default = "defaults::size_mix")]
    pub size_mix: Vec<SizeShare>,
    /// Where recipients are chosen.
    #[serde(default = "defaults::recipient_choice")]
    pub recipient_choice: RecipientChoice,
    /// When clients start sending (from the run's start).
    #[serde(default)]
    pub from: Option<Duration>,
    /// When clients stop sending; the run's end by default.
    #[serde(default)]
    pub until: Option<Duration>,
}

/// One size class of the message size mix.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SizeShare {
    /// Size in KB, from 1 to 1,048,576 (1 GB).
    #[schemars(range(min = 1, max = bounds::MESSAGE_SIZE_KB_MAX))]
    pub size_kb: u64,
    /// Relative weight (the published MMB mix sums to 96 %, so weights are normalized).
    pub weight: f64,
}

/// Shares of recipient choices; they sum to 1.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecipientChoice {
    /// A mailbox on the sender's server.
    pub same_server: f64,
    /// A mailbox on another server of the sender's routing group.
    pub same_routing_group: f64,
    /// Any mailbox in the organization.
    pub anywhere: f64,
    /// An address in an authoritative domain that no recipient has (→ NDR 5.1.1).
    pub unknown: f64,
    /// One of `recipients.external`, routed by address space.
    #[serde(default)]
    pub external: f64,
    /// A mailbox user of another forest (§6): through the sender's GAL contact for it
    /// when one exists at the start (GalSync's or listed), else by its SMTP address.
    #[serde(default, skip_serializing_if = "defaults::is_zero")]
    pub other_forests: f64,
}
