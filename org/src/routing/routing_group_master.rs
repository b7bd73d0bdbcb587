//! The routing group master's review of connector state reports (EXCHANGE2003.md §4).
//! Bridgeheads report a connector down or up to their group's master; only the master
//! changes its group's link state and raises the version. What it does with a report
//! depends on the master's Exchange version:
//!
//! - 2000: every change is applied and propagated.
//! - 2003: a connector with no alternate path stays up (mail queues; nothing
//!   propagates); and `oscillation_changes` conflicting changes for one connector
//!   (each reversing a change made less than `oscillation_interval` before) within
//!   `oscillation_interval` mark it oscillating: it is left up and
//!   further reports are held until the connector has been quiet for an interval, when
//!   the last one held is reviewed again.
//! - `SuppressStateChanges`: no connector is ever marked down by a report.

use crate::config::topology::{LinkStateConfig, Topology};
use crate::planted_bugs::PlantedBug;
use crate::routing::link_state::{ConnectorState, LinkStateTable};
use crate::time::Instant;
use crate::version::ExchangeVersion;
use crate::ConnectorId;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// Why a master did not apply a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Suppressed {
    /// 2003: the connector is the only path; it stays up and mail queues.
    NoAlternatePath,
    /// 2003: too many conflicting changes within the review interval.
    Oscillating,
    /// `SuppressStateChanges` is set.
    SuppressStateChanges,
}

impl Suppressed {
    /// The name traces use.
    pub fn as_str(self) -> &'static str {
        match self {
            Suppressed::NoAlternatePath => "no alternate path",
            Suppressed::Oscillating => "oscillating",
            Suppressed::SuppressStateChanges => "SuppressStateChanges",
        }
    }
}

/// The master's verdict on one report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The table already says so.
    Unchanged,
    /// Change the connector's state (a minor version change).
    Apply(ConnectorState),
    /// Leave the table as it is.
    Suppress(Suppressed),
}

/// The 2003 link state queue review of one connector.
#[derive(Clone, Debug, Default)]
struct Review {
    /// When the last change was applied.
    last_change: Option<Instant>,
    /// When conflicting changes (reversing one applied within the interval) were
    /// reported, within the last interval.
    conflicts: VecDeque<Instant>,
    /// Damped until then (each report while damped moves it on).
    oscillating_until: Option<Instant>,
    /// The last state reported while damped.
    held: Option<ConnectorState>,
}

/// A master's memory of recent reports. Lost when the master restarts.
#[derive(Clone, Debug, Default)]
pub struct RoutingGroupMaster {
    reviews: BTreeMap<ConnectorId, Review>,
}

impl RoutingGroupMaster {
    /// A master with no history.
    pub fn new() -> Self {
        RoutingGroupMaster::default()
    }

    /// Reviews a bridgehead's report that `connector` is `reported`, for a master running
    /// `version`, against the master's current `table`.
    #[allow(clippy::too_many_arguments)] // the inputs a master reviews with; no bundle reads better
    pub fn review(
        &mut self,
        now: Instant,
        version: ExchangeVersion,
        config: &LinkStateConfig,
        topology: &Topology,
        table: &LinkStateTable,
        connector: ConnectorId,
        reported: ConnectorState,
    ) -> Decision {
        let current = table.state(connector);
        if config.suppress_state_changes && reported == ConnectorState::Down {
            return Decision::Suppress(Suppressed::SuppressStateChanges);
        }
        if !version.reviews_link_state() {
            return if current == reported { Decision::Unchanged } else { Decision::Apply(reported) };
        }
        let c = topology.connector(connector);
        if reported == ConnectorState::Down && !table.has_path_without(topology, c.from, c.to, connector) {
            return if current == ConnectorState::Down {
                // It was marked down while an alternate existed; now it is the only path.
                Decision::Apply(ConnectorState::Up)
            } else {
                Decision::Suppress(Suppressed::NoAlternatePath)
            };
        }
        if topology.bug(PlantedBug::NoOscillationDamping) {
            return if current == reported { Decision::Unchanged } else { Decision::Apply(reported) };
        }
        let review = self.reviews.entry(connector).or_default();
        if let Some(until) = review.oscillating_until {
            if now < until {
                review.oscillating_until = Some(now.plus_ms(config.oscillation_interval_ms));
                review.held = Some(reported);
                return if current == ConnectorState::Down {
                    Decision::Apply(ConnectorState::Up) // left up while it oscillates
                } else {
                    Decision::Suppress(Suppressed::Oscillating)
                };
            }
            review.oscillating_until = None;
            review.held = None;
        }
        if current == reported {
            return Decision::Unchanged;
        }
        // A change conflicts when it reverses one made within the interval.
        let conflicting = review.last_change.is_some_and(|t| now.since(t) < config.oscillation_interval_ms);
        review.last_change = Some(now);
        while review.conflicts.front().is_some_and(|t| now.since(*t) >= config.oscillation_interval_ms) {
            review.conflicts.pop_front();
        }
        if conflicting {
            review.conflicts.push_back(now);
        }
        if review.conflicts.len() as u32 >= config.oscillation_changes {
            review.conflicts.clear();
            review.last_change = None;
            review.oscillating_until = Some(now.plus_ms(config.oscillation_interval_ms));
            review.held = Some(reported);
            return match reported {
                ConnectorState::Up => Decision::Apply(ConnectorState::Up),
                ConnectorState::Down => Decision::Suppress(Suppressed::Oscillating),
            };
        }
        Decision::Apply(reported)
    }

    /// When the earliest damping ends.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.reviews.values().filter_map(|r| r.oscillating_until).min()
    }

    /// Ends the dampings due by `now`; returns the last state held for each, to be
    /// reviewed again.
    pub fn end_damping(&mut self, now: Instant) -> Vec<(ConnectorId, ConnectorState)> {
        let mut out = Vec::new();
        for (c, review) in self.reviews.iter_mut() {
            if review.oscillating_until.is_some_and(|t| t <= now) {
                review.oscillating_until = None;
                if let Some(state) = review.held.take() {
                    out.push((*c, state));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::link_state::tests::{fresh, set, topology};
    use crate::time::MINUTE_MS;
    use ConnectorState::{Down, Up};

    fn config() -> LinkStateConfig {
        LinkStateConfig::default()
    }

    /// Two groups joined directly (C0, C1) and through a third group (C2, C3, C4, C5).
    fn triangle() -> Topology {
        topology(3, &[(0, 1, 1), (1, 0, 1), (0, 2, 1), (2, 0, 1), (2, 1, 1), (1, 2, 1)])
    }

    /// Feeds reports at the given minutes; returns the decisions, applying them to the table.
    fn feed(version: ExchangeVersion, topo: &Topology, reports: &[(u64, ConnectorState)]) -> Vec<Decision> {
        let mut master = RoutingGroupMaster::new();
        let mut table = fresh(topo);
        let mut out = Vec::new();
        for &(minute, state) in reports {
            let now = Instant(minute * MINUTE_MS);
            let d = master.review(now, version, &config(), topo, &table, ConnectorId(0), state);
            if let Decision::Apply(s) = d {
                set(&mut table, topo, 0, s);
            }
            out.push(d);
        }
        out
    }

    #[test]
    fn exchange2000_applies_every_change_4() {
        let topo = triangle();
        let flaps = [(0, Down), (2, Up), (4, Down), (6, Up), (8, Down)];
        let d = feed(ExchangeVersion::Exchange2000Sp3, &topo, &flaps);
        assert_eq!(
            d,
            vec![
                Decision::Apply(Down),
                Decision::Apply(Up),
                Decision::Apply(Down),
                Decision::Apply(Up),
                Decision::Apply(Down)
            ]
        );
    }

    #[test]
    fn exchange2003_marks_oscillating_after_two_conflicting_changes_4() {
        let topo = triangle();
        let flaps = [(0, Down), (2, Up), (4, Down), (6, Up), (8, Down), (30, Down)];
        let d = feed(ExchangeVersion::Exchange2003Sp2, &topo, &flaps);
        use Suppressed::Oscillating;
        assert_eq!(
            d,
            vec![
                Decision::Apply(Down),
                Decision::Apply(Up),
                Decision::Suppress(Oscillating),
                Decision::Suppress(Oscillating),
                Decision::Suppress(Oscillating),
                // Quiet for more than the interval: a down report counts afresh.
                Decision::Apply(Down),
            ]
        );
    }

    #[test]
    fn exchange2003_keeps_the_only_path_up_4() {
        let topo = topology(2, &[(0, 1, 1), (1, 0, 1)]);
        let d = feed(ExchangeVersion::Exchange2003Sp2, &topo, &[(0, Down), (1, Down), (5, Up)]);
        use Suppressed::NoAlternatePath;
        assert_eq!(
            d,
            vec![Decision::Suppress(NoAlternatePath), Decision::Suppress(NoAlternatePath), Decision::Unchanged]
        );
        // 2000 marks it down all the same.
        let d = feed(ExchangeVersion::Exchange2000Sp3, &topo, &[(0, Down)]);
        assert_eq!(d, vec![Decision::Apply(Down)]);
    }

    #[test]
    fn damping_ends_with_the_last_held_state() {
        let topo = triangle();
        let mut master = RoutingGroupMaster::new();
        let mut table = fresh(&topo);
        let v = ExchangeVersion::Exchange2003Sp2;
        for (minute, state) in [(0, Down), (1, Up), (2, Down)] {
            let now = Instant(minute * MINUTE_MS);
            if let Decision::Apply(s) = master.review(now, v, &config(), &topo, &table, ConnectorId(0), state) {
                set(&mut table, &topo, 0, s);
            }
        }
        assert_eq!(table.state(ConnectorId(0)), Up, "left up while oscillating");
        assert_eq!(master.next_deadline(), Some(Instant(12 * MINUTE_MS)));
        assert!(master.end_damping(Instant(11 * MINUTE_MS)).is_empty());
        assert_eq!(master.end_damping(Instant(12 * MINUTE_MS)), vec![(ConnectorId(0), Down)]);
        assert_eq!(master.next_deadline(), None);
    }

    #[test]
    fn suppress_state_changes_never_marks_down() {
        let topo = triangle();
        let mut master = RoutingGroupMaster::new();
        let table = fresh(&topo);
        let config = LinkStateConfig { suppress_state_changes: true, ..LinkStateConfig::default() };
        let d = master.review(
            Instant::ZERO,
            ExchangeVersion::Exchange2000Sp3,
            &config,
            &topo,
            &table,
            ConnectorId(0),
            Down,
        );
        assert_eq!(d, Decision::Suppress(Suppressed::SuppressStateChanges));
    }

    proptest::proptest! {
        /// Any stream of reports on any topology: 2000's table always says what was last
        /// reported; 2003 never marks down a connector that was its group pair's only path
        /// in the table, and never changes a connector more than `oscillation_changes`
        /// times within one review interval.
        #[test]
        fn review_rules_hold_for_any_reports(
            groups in 2usize..5,
            edges in proptest::collection::vec((0u16..5, 0u16..5, 1u32..=10), 1..8),
            reports in proptest::collection::vec((0usize..8, proptest::bool::ANY, 1u64..300), 1..40),
        ) {
            let g = groups as u16;
            let edges: Vec<(u16, u16, u32)> =
                edges.into_iter().map(|(a, b, c)| (a % g, b % g, c)).filter(|(a, b, _)| a != b).collect();
            proptest::prop_assume!(!edges.is_empty());
            let topo = topology(groups, &edges);
            for version in [ExchangeVersion::Exchange2000Sp3, ExchangeVersion::Exchange2003Sp2] {
                let mut master = RoutingGroupMaster::new();
                let mut table = fresh(&topo);
                let mut now = 0u64;
                let mut applied: Vec<(ConnectorId, u64)> = Vec::new();
                for &(c, up, gap_s) in &reports {
                    now += gap_s * 1_000;
                    let c = ConnectorId((c % edges.len()) as u16);
                    let state = if up { Up } else { Down };
                    let conn = topo.connector(c);
                    let alternate = table.has_path_without(&topo, conn.from, conn.to, c);
                    let d = master.review(Instant(now), version, &config(), &topo, &table, c, state);
                    if let Decision::Apply(s) = d {
                        set(&mut table, &topo, c.0, s);
                        applied.push((c, now));
                    }
                    if version.reviews_link_state() {
                        if state == Down && !alternate {
                            proptest::prop_assert_eq!(table.state(c), Up, "only path marked down");
                        }
                        let window = config().oscillation_interval_ms;
                        let recent = applied.iter().filter(|(x, t)| *x == c && now - t < window).count();
                        proptest::prop_assert!(recent as u32 <= config().oscillation_changes + 1);
                    } else {
                        proptest::prop_assert_eq!(table.state(c), state);
                    }
                }
            }
        }
    }
}
