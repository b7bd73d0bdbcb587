//! Fault weather: turns a scenario's fault rates into a concrete timeline for one seed.
//! Each fault kind has its own stream (`weather:link_outages`, …): counts are Poisson in
//! the window, start times uniform, lengths log-uniform, targets uniform. Faults on one
//! target are merged where they overlap, and every fault ends inside the window.

use crate::resolve::{Failure, TimedAction, WorldAction};
use crate::rng::Stream;
use org::directory::ad_replication::DcId;
use org::time::Instant;
use org::{ConnectorId, Entropy, HostId, ServerId};
use std::collections::BTreeMap;

/// A fault kind's rate, resolved to target indexes.
#[derive(Clone, Debug, PartialEq)]
pub struct RateSpec {
    /// Mean faults per day of window.
    pub per_day: f64,
    /// Shortest and longest fault, ms.
    pub length_ms: [u64; 2],
    /// Target indexes (links, connectors or servers).
    pub targets: Vec<usize>,
}

/// Oscillation episodes, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct OscillationSpec {
    /// Mean episodes per day of window.
    pub per_day: f64,
    /// Shortest and longest period, ms.
    pub period_ms: [u64; 2],
    /// Shortest and longest episode, ms.
    pub length_ms: [u64; 2],
    /// Link indexes.
    pub targets: Vec<usize>,
}

/// The weather of a scenario, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct WeatherSpec {
    /// Window start.
    pub from: Instant,
    /// Window end: every fault has healed by then.
    pub until: Instant,
    /// Link outages.
    pub link_outages: Option<RateSpec>,
    /// Oscillating links.
    pub link_oscillations: Option<OscillationSpec>,
    /// Connector outages.
    pub connector_outages: Option<RateSpec>,
    /// Server crashes and restarts.
    pub server_crashes: Option<RateSpec>,
    /// Of the crashes, the share that are power losses.
    pub power_loss_share: f64,
    /// Internet hosts that stop answering.
    pub host_outages: Option<RateSpec>,
    pub dc_outages: Option<RateSpec>,
    /// Cluster node failures (targets index `nodes`), each followed by its return.
    pub node_failures: Option<RateSpec>,
    pub nodes: Vec<crate::resolve::ClusterNode>,
}

fn poisson(rng: &mut Stream, mean: f64) -> u64 {
    if mean <= 0.0 {
        return 0;
    }
    // Knuth for small means; means here are a few faults a window.
    let limit = (-mean.min(500.0)).exp();
    let mut k = 0;
    let mut product = rng.unit();
    while product > limit {
        k += 1;
        product *= rng.unit();
    }
    k
}

fn log_uniform(rng: &mut Stream, [lo, hi]: [u64; 2]) -> u64 {
    if hi <= lo {
        return lo;
    }
    let (a, b) = ((lo.max(1)) as f64, hi as f64);
    (a * (b / a).powf(rng.unit())).round() as u64
}

/// Samples intervals for each target, merged where they overlap, inside the window.
fn intervals(rng: &mut Stream, spec: &RateSpec, from: u64, until: u64) -> BTreeMap<usize, Vec<(u64, u64)>> {
    let mut by_target: BTreeMap<usize, Vec<(u64, u64)>> = BTreeMap::new();
    if spec.targets.is_empty() || until <= from {
        return by_target;
    }
    let window = until - from;
    let count = poisson(rng, spec.per_day * window as f64 / 86_400_000.0);
    for _ in 0..count {
        let start = from + (rng.unit() * window as f64) as u64;
        let target = spec.targets[rng.below(spec.targets.len())];
        let end = (start + log_uniform(rng, spec.length_ms)).min(until);
        if end > start {
            by_target.entry(target).or_default().push((start, end));
        }
    }
    for list in by_target.values_mut() {
        *list = merge(std::mem::take(list));
    }
    by_target
}

/// The union of intervals, sorted, touching ones joined.
fn merge(mut list: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    list.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(list.len());
    for (s, e) in list {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

impl WeatherSpec {
    /// The concrete faults of one seed, in time order (ties in a fixed order).
    pub fn sample(&self, seed: u64) -> Vec<TimedAction> {
        let (from, until) = (self.from.as_ms(), self.until.as_ms());
        let mut out: Vec<(u64, u8, usize, WorldAction)> = Vec::new();
        let mut push = |at: u64, order: u8, target: usize, action: WorldAction| out.push((at, order, target, action));
        // A link's outages and oscillations are merged into one set of down intervals,
        // so its steps always alternate.
        let mut link_down: BTreeMap<usize, Vec<(u64, u64)>> = BTreeMap::new();
        if let Some(spec) = &self.link_outages {
            let mut rng = Stream::new(seed, "weather:link_outages");
            for (link, list) in intervals(&mut rng, spec, from, until) {
                link_down.entry(link).or_default().extend(list);
            }
        }
        if let Some(spec) = &self.link_oscillations {
            let mut rng = Stream::new(seed, "weather:link_oscillations");
            let rate = RateSpec { per_day: spec.per_day, length_ms: spec.length_ms, targets: spec.targets.clone() };
            for (link, list) in intervals(&mut rng, &rate, from, until) {
                for (s, e) in list {
                    let period = log_uniform(&mut rng, spec.period_ms).max(2);
                    let mut t = s;
                    while t < e {
                        link_down.entry(link).or_default().push((t, (t + period / 2).min(e)));
                        t += period;
                    }
                }
            }
        }
        for (link, list) in link_down {
            for (s, e) in merge(list) {
                push(s, 0, link, WorldAction::LinkDown(link));
                push(e, 1, link, WorldAction::LinkUp(link));
            }
        }
        // Each other kind of fault: its stream, the order of its down and up steps at one
        // instant, and the actions for a target.
        type Steps = fn(usize) -> (WorldAction, WorldAction);
        let kinds: [(&Option<RateSpec>, &str, u8, Steps); 4] = [
            (&self.connector_outages, "weather:connector_outages", 4, |c| {
                (WorldAction::ConnectorDown(ConnectorId(c as u16)), WorldAction::ConnectorUp(ConnectorId(c as u16)))
            }),
            (&self.server_crashes, "weather:server_crashes", 6, |s| {
                (WorldAction::Crash(ServerId(s as u16), Failure::Crash), WorldAction::Restart(ServerId(s as u16)))
            }),
            (&self.host_outages, "weather:host_outages", 8, |h| {
                (WorldAction::HostDown(HostId(h as u16)), WorldAction::HostUp(HostId(h as u16)))
            }),
            (&self.dc_outages, "weather:dc_outages", 10, |d| {
                (WorldAction::DcDown(DcId(d as u16)), WorldAction::DcUp(DcId(d as u16)))
            }),
        ];
        for (spec, stream, order, steps) in kinds {
            let Some(spec) = spec else { continue };
            let mut rng = Stream::new(seed, stream);
            for (target, list) in intervals(&mut rng, spec, from, until) {
                let (down, up) = steps(target);
                for (s, e) in list {
                    push(s, order, target, down);
                    push(e, order + 1, target, up);
                }
            }
        }
        if let Some(spec) = &self.node_failures {
            let mut rng = Stream::new(seed, "weather:node_failures");
            for (target, list) in intervals(&mut rng, spec, from, until) {
                let node = self.nodes[target];
                for (s, e) in list {
                    push(s, 12, target, WorldAction::NodeDown(node, Failure::Crash));
                    push(e, 13, target, WorldAction::NodeUp(node));
                }
            }
        }
        out.sort_by_key(|(at, order, target, _)| (*at, *order, *target));
        // Which crashes are power losses: a stream of their own, drawn only when some are.
        let mut power = (self.power_loss_share > 0.0).then(|| Stream::new(seed, "weather:power_losses"));
        for (_, _, _, action) in &mut out {
            if let (WorldAction::Crash(_, failure) | WorldAction::NodeDown(_, failure), Some(rng)) =
                (action, power.as_mut())
            {
                if rng.unit() < self.power_loss_share {
                    *failure = Failure::PowerLoss;
                }
            }
        }
        out.into_iter().map(|(at, _, _, action)| TimedAction { at: Instant(at), action }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spec(per_day: f64) -> WeatherSpec {
        WeatherSpec {
            from: Instant(3_600_000),
            until: Instant(10 * 3_600_000),
            link_outages: Some(RateSpec { per_day, length_ms: [60_000, 3_600_000], targets: vec![0, 1] }),
            link_oscillations: Some(OscillationSpec {
                per_day,
                period_ms: [60_000, 600_000],
                length_ms: [600_000, 3_600_000],
                targets: vec![1, 2],
            }),
            connector_outages: None,
            server_crashes: Some(RateSpec { per_day, length_ms: [1_000, 1_800_000], targets: vec![0, 1, 2] }),
            power_loss_share: 0.5,
            host_outages: Some(RateSpec { per_day, length_ms: [60_000, 3_600_000], targets: vec![0, 3] }),
            dc_outages: Some(RateSpec { per_day, length_ms: [60_000, 3_600_000], targets: vec![0, 1] }),
            node_failures: Some(RateSpec { per_day, length_ms: [60_000, 3_600_000], targets: vec![0, 1] }),
            nodes: [0, 1]
                .map(|n| crate::resolve::ClusterNode { cluster: 0, node: org::cluster::cluster_service::NodeIndex(n) })
                .to_vec(),
        }
    }

    #[test]
    fn same_seed_same_faults_other_seed_other_faults() {
        let w = spec(20.0);
        assert_eq!(w.sample(4), w.sample(4));
        assert_ne!(w.sample(4), w.sample(5));
        assert!(!w.sample(4).is_empty());
    }

    proptest! {
        /// Every fault lies in the window, and per target the steps alternate starting
        /// with the fault (down/crash) and ending healed (up/restart).
        #[test]
        fn faults_alternate_and_heal_inside_the_window(seed in 0u64..10_000, per_day in 0.0f64..80.0) {
            let w = spec(per_day);
            let steps = w.sample(seed);
            let mut down: BTreeMap<String, bool> = BTreeMap::new();
            for step in &steps {
                prop_assert!(step.at >= w.from && step.at <= w.until);
                let (key, goes_down) = match step.action {
                    WorldAction::LinkDown(l) => (format!("link{l}"), true),
                    WorldAction::LinkUp(l) => (format!("link{l}"), false),
                    WorldAction::Crash(s, _) => (format!("server{}", s.0), true),
                    WorldAction::Restart(s) => (format!("server{}", s.0), false),
                    WorldAction::ConnectorDown(c) => (format!("connector{}", c.0), true),
                    WorldAction::ConnectorUp(c) => (format!("connector{}", c.0), false),
                    WorldAction::HostDown(h) => (format!("host{}", h.0), true),
                    WorldAction::HostUp(h) => (format!("host{}", h.0), false),
                    WorldAction::DcDown(d) => (format!("dc{}", d.0), true),
                    WorldAction::DcUp(d) => (format!("dc{}", d.0), false),
                    WorldAction::NodeDown(n, _) => (format!("node{}.{}", n.cluster, n.node.0), true),
                    WorldAction::NodeUp(n) => (format!("node{}.{}", n.cluster, n.node.0), false),
                    WorldAction::SetMaster(..)
                    | WorldAction::PublicFolder(_)
                    | WorldAction::Database(..)
                    | WorldAction::Backup(_)
                    | WorldAction::PurgeBadmail(..)
                    | WorldAction::DiskFailure(..)
                    | WorldAction::Restore { .. }
                    | WorldAction::Merge(..)
                    | WorldAction::MoveMailboxes(_)
                    | WorldAction::SetQuota { .. }
                    | WorldAction::Send(_)
                    | WorldAction::ModifyRecipient(_)
                    | WorldAction::DirectoryChange { .. }
                    | WorldAction::ClockSkew(..) => unreachable!("weather has no administrator actions"),
                };
                let was_down = down.insert(key, goes_down).unwrap_or(false);
                prop_assert_ne!(was_down, goes_down, "steps alternate per target");
            }
            prop_assert!(down.values().all(|d| !d), "everything healed by the end");
        }
    }
}
