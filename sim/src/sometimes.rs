//! *Sometimes* properties (stateright's "sometimes"): a situation a scenario says it
//! explores — mail rerouted round a failure, a connector marked down, a queue in retry, a
//! crash that lost writes not yet durable. Under random weather one seed reaching it or
//! not is noise, so a run only counts how often each happened; a sweep judges them: each
//! property reports how many seeds reached it, and a sweep fails when one never does
//! (the weather does not explore what the scenario claims).

use crate::scenario::Sometimes;
use org::routing::link_state::ConnectorState;
use org::routing::routing_group_master::Decision;
use org::trace::ServerEvent;
use org::transport::advanced_queuing::{LinkQueueState, QueueKey};
use serde::{Deserialize, Serialize};

/// How often one property happened in a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SometimesResult {
    /// The property's name, e.g. `rerouted`.
    pub name: String,
    /// Times it happened.
    pub hits: u64,
}

/// The counts of a run's sometimes properties, in the scenario's order.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    wanted: Vec<Sometimes>,
    hits: Vec<u64>,
}

impl Tally {
    /// Counts for these properties.
    pub fn new(wanted: &[Sometimes]) -> Self {
        Tally { wanted: wanted.to_vec(), hits: vec![0; wanted.len()] }
    }

    fn count(&mut self, property: Sometimes) {
        if let Some(i) = self.wanted.iter().position(|w| *w == property) {
            self.hits[i] += 1;
        }
    }

    /// A server's event.
    pub fn observe(&mut self, event: &ServerEvent) {
        if self.wanted.is_empty() {
            return;
        }
        let property = match event {
            ServerEvent::Queued { rerouted_from: Some(_), .. } => Sometimes::Rerouted,
            ServerEvent::Queued { queue: QueueKey::Unreachable, .. } => Sometimes::Unreachable,
            ServerEvent::LinkStateReviewed { verdict: Decision::Apply(ConnectorState::Down), .. } => {
                Sometimes::ConnectorMarkedDown
            }
            ServerEvent::LinkStateReviewed { verdict: Decision::Suppress(_), .. } => Sometimes::ChangeSuppressed,
            ServerEvent::QueueState { state: LinkQueueState::Retry, .. } => Sometimes::QueueRetry,
            ServerEvent::Recovered { .. } => Sometimes::Recovered,
            ServerEvent::Failover { .. } => Sometimes::DnsFailover,
            ServerEvent::GcFailover { .. } => Sometimes::GcFailover,
            ServerEvent::CategorizerRetry { .. } => Sometimes::CategorizerRetry,
            _ => return,
        };
        self.count(property);
    }

    /// A server crashed, losing (or not) writes it had not made durable.
    pub fn crashed(&mut self, lost_unflushed: bool) {
        if lost_unflushed {
            self.count(Sometimes::CrashLostUnflushed);
        }
    }

    /// Each property with its count.
    pub fn results(&self) -> Vec<SometimesResult> {
        self.wanted.iter().zip(&self.hits).map(|(w, h)| SometimesResult { name: w.name().into(), hits: *h }).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use org::message::MessageId;
    use org::routing::routing_engine::NextHop;
    use org::ConnectorId;

    #[test]
    fn counts_only_what_the_scenario_asks() {
        let mut tally = Tally::new(&[Sometimes::Rerouted, Sometimes::CrashLostUnflushed]);
        let link = |c| QueueKey::Link(NextHop::Connector(ConnectorId(c)));
        let queued = |rerouted_from| ServerEvent::Queued {
            message: MessageId::Client(1),
            queue: link(1),
            recipients: Vec::new(),
            cost: 0,
            rerouted_from,
        };
        tally.observe(&queued(None));
        tally.observe(&queued(Some(link(0))));
        tally.crashed(false);
        tally.crashed(true);
        tally.crashed(true);
        let names_hits: Vec<(String, u64)> = tally.results().into_iter().map(|r| (r.name, r.hits)).collect();
        assert_eq!(names_hits, vec![("rerouted".into(), 1), ("crash_lost_unflushed".into(), 2)]);
    }
}
