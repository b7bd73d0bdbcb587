//! The weather section: randomized faults, each kind with its rate, lengths and
//! targets (those the fixed timeline acts on are left to it).

use super::*;
use crate::scenario::{FaultRate, OscillationRate, Weather};
use crate::weather::{OscillationSpec, RateSpec, WeatherSpec};

/// The targets the fixed timeline acts on, by kind (indexes of links, connectors,
/// servers, hosts and DCs).
#[derive(Default)]
struct Fixed {
    links: BTreeSet<usize>,
    connectors: BTreeSet<usize>,
    servers: BTreeSet<usize>,
    hosts: BTreeSet<usize>,
    dcs: BTreeSet<usize>,
    nodes: BTreeSet<ClusterNode>,
}

impl Fixed {
    fn of(timeline: &[(u64, usize, WorldAction)]) -> Fixed {
        let mut fixed = Fixed::default();
        for a in timeline {
            match a.2 {
                WorldAction::LinkDown(l) | WorldAction::LinkUp(l) => {
                    fixed.links.insert(l);
                }
                WorldAction::ConnectorDown(c) | WorldAction::ConnectorUp(c) => {
                    fixed.connectors.insert(usize::from(c.0));
                }
                WorldAction::Crash(s, _) | WorldAction::Restart(s) => {
                    fixed.servers.insert(usize::from(s.0));
                }
                WorldAction::HostDown(h) | WorldAction::HostUp(h) => {
                    fixed.hosts.insert(usize::from(h.0));
                }
                WorldAction::DcDown(d) | WorldAction::DcUp(d) => {
                    fixed.dcs.insert(usize::from(d.0));
                }
                WorldAction::NodeDown(n, _) | WorldAction::NodeUp(n) => {
                    fixed.nodes.insert(n);
                }
                WorldAction::SetMaster(..)
                | WorldAction::PublicFolder(_)
                | WorldAction::MoveMailboxes(_)
                | WorldAction::Database(..)
                | WorldAction::Backup(_)
                | WorldAction::PurgeBadmail(..)
                | WorldAction::DiskFailure(..)
                | WorldAction::Restore { .. }
                | WorldAction::Merge(..)
                | WorldAction::SetQuota { .. }
                | WorldAction::Send(_)
                | WorldAction::ModifyRecipient(_)
                | WorldAction::DirectoryChange { .. }
                | WorldAction::ClockSkew(..) => {}
            }
        }
        fixed
    }
}

/// The kind of target a fault rate draws from.
#[derive(Clone, Copy)]
struct Pool<'n> {
    field: &'static str,
    table: &'n Names,
    what: &'static str,
    fixed: &'n BTreeSet<usize>,
}

impl Resolver<'_> {
    /// The weather section, if any.
    pub(super) fn weather(
        &mut self,
        ctx: &Context<'_>,
        org: &Org,
        timeline: &[(u64, usize, WorldAction)],
    ) -> Option<WeatherSpec> {
        let scenario = ctx.scenario;
        let (names, duration_ms) = (ctx.names, scenario.duration.ms);
        let w = scenario.weather.as_ref()?;
        let wp = p().key("weather");
        if w.from >= w.until {
            self.error(&wp.key("until"), "expected the weather window to end after it starts");
        }
        if w.until.ms > duration_ms {
            self.error(&wp.key("until"), format!("faults must heal before the run ends ({})", scenario.duration));
        }
        let mut fixed = Fixed::of(timeline);
        // A virtual server fails with its node, never alone.
        let virtual_servers = names.clusters.iter().flat_map(|c| &c.virtual_servers);
        fixed.servers.extend(virtual_servers.map(|s| usize::from(s.0)));
        let pool = |field, table, what, fixed| Pool { field, table, what, fixed };
        let link_outages =
            self.fault_rate(w, &w.link_outages, pool("link_outages", &names.links, "WAN link", &fixed.links));
        let connectors = pool("connector_outages", &names.connectors, "connector", &fixed.connectors);
        let connector_outages = self.fault_rate(w, &w.connector_outages, connectors);
        let servers = pool("server_crashes", &org.servers, "server", &fixed.servers);
        let server_crashes = self.fault_rate(w, &w.server_crashes, servers);
        if !(0.0..=1.0).contains(&w.power_loss_share) {
            self.error(&wp.key("power_loss_share"), "expected a share from 0 to 1");
        }
        let hosts = pool("host_outages", &names.hosts, "Internet host", &fixed.hosts);
        let host_outages = self.fault_rate(w, &w.host_outages, hosts);
        let dcs = pool("dc_outages", &names.dcs, "domain controller", &fixed.dcs);
        let dc_outages = self.fault_rate(w, &w.dc_outages, dcs);
        if dc_outages.is_some() && !ctx.simulated_dcs {
            self.error(
                &wp.key("dc_outages"),
                "DC outages need a simulated DC: topology.ad_replication, topology.dsaccess or groups to expand",
            );
        }
        let fixed_nodes: BTreeSet<usize> =
            (0..names.node_at.len()).filter(|i| fixed.nodes.contains(&names.node_at[*i])).collect();
        let nodes = pool("node_failures", &names.nodes, "cluster node", &fixed_nodes);
        let node_failures = self.fault_rate(w, &w.node_failures, nodes);
        let oscillations = pool("link_oscillations", &names.links, "WAN link", &fixed.links);
        let link_oscillations = w.link_oscillations.as_ref().map(|o| self.oscillation_rate(w, o, oscillations));
        Some(WeatherSpec {
            from: Instant(w.from.ms),
            until: Instant(w.until.ms),
            link_outages,
            link_oscillations,
            connector_outages,
            server_crashes,
            power_loss_share: w.power_loss_share,
            host_outages,
            dc_outages,
            node_failures,
            nodes: names.node_at.clone(),
        })
    }

    /// The targets of one kind of fault: those listed (every one when none are), less
    /// those the fixed timeline acts on.
    fn weather_targets(&mut self, names: &Option<Vec<String>>, pool: &Pool<'_>) -> Vec<usize> {
        let wp = p().key("weather");
        let Pool { field, table, what, fixed } = *pool;
        let all: Vec<usize> = match names {
            None => table.indexes().collect(),
            Some(list) => list
                .iter()
                .enumerate()
                .filter_map(|(i, n)| self.reference(table, what, n, &wp.key(field).key("targets").index(i)))
                .collect(),
        };
        let mut all: Vec<usize> = all.into_iter().filter(|t| !fixed.contains(t)).collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// One kind of fault's rate, lengths and targets.
    fn fault_rate(&mut self, w: &Weather, r: &Option<FaultRate>, pool: Pool<'_>) -> Option<RateSpec> {
        let wp = p().key("weather");
        let field = pool.field;
        let r = r.as_ref()?;
        let days = w.until.ms.saturating_sub(w.from.ms) as f64 / 86_400_000.0;
        if !(r.per_day.is_finite() && (0.0..=bounds::FAULTS_PER_DAY_MAX).contains(&r.per_day)) {
            self.error(&wp.key(field).key("per_day"), "expected a rate from 0 to 10000 faults a day");
        } else if 2.0 * r.per_day * days > bounds::FAULT_STEPS_MAX as f64 {
            let steps = 2.0 * r.per_day * days;
            self.error(&wp.key(field).key("per_day"), format!("this weather would draw about {steps:.0} steps; expected at most 1000000 (fewer a day or a shorter window)"));
        }
        if r.length[0] > r.length[1] || r.length[0].ms == 0 {
            self.error(&wp.key(field).key("length"), "expected [shortest, longest] with 0 < shortest <= longest");
        }
        let targets = self.weather_targets(&r.targets, &pool);
        Some(RateSpec { per_day: r.per_day, length_ms: r.length.map(|d| d.ms), targets })
    }

    /// Link oscillation episodes: their rate, periods and lengths, bounded in steps.
    fn oscillation_rate(&mut self, w: &Weather, o: &OscillationRate, pool: Pool<'_>) -> OscillationSpec {
        let op = p().key("weather").key("link_oscillations");
        if o.period[0] > o.period[1] || o.period[0].ms < bounds::OSCILLATION_PERIOD_MS_MIN {
            self.error(&op.key("period"), "expected [shortest, longest] with 2s <= shortest <= longest");
        } else if o.length[0] <= o.length[1] {
            // Episodes expected in the window, each at most `longest` long, flapping
            // at most every `shortest` period: two steps a flap.
            let days = w.until.ms.saturating_sub(w.from.ms) as f64 / 86_400_000.0;
            let steps = o.per_day * days * 2.0 * (o.length[1].ms as f64 / o.period[0].ms as f64).ceil();
            if steps > bounds::FAULT_STEPS_MAX as f64 {
                self.error(&op.key("period"), format!("this weather would draw about {steps:.0} steps; expected at most 1000000 (longer periods, shorter episodes or fewer a day)"));
            }
        }
        if o.length[0] > o.length[1] || o.length[0].ms == 0 {
            self.error(&op.key("length"), "expected [shortest, longest] with 0 < shortest <= longest");
        }
        if !(o.per_day.is_finite() && (0.0..=bounds::FAULTS_PER_DAY_MAX).contains(&o.per_day)) {
            self.error(&op.key("per_day"), "expected a rate from 0 to 10000 episodes a day");
        }
        let targets = self.weather_targets(&o.targets, &pool);
        OscillationSpec {
            per_day: o.per_day,
            period_ms: o.period.map(|d| d.ms),
            length_ms: o.length.map(|d| d.ms),
            targets,
        }
    }
}
