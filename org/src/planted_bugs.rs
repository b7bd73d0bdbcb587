//! Planted bugs: deliberate defects compiled into the components, each off unless a run
//! switches it on (`--plant NAME`). They test the tester: every one must make some check
//! of the CI scenario set fail (`orgsim score`). Off, a bug costs one bit test.

use serde::Serialize;

/// One planted bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum PlantedBug {
    /// SMTP: the receiving side answers 250 before the message is durable.
    AckBeforeDurable,
    /// SMTP: the sending side forgets recipients when it sends the content, not when the
    /// 250 comes back.
    DoneOnSend,
    /// Recovery: a restarted server reloads its queue files but never routes them.
    RecoverySkipsQueues,
    /// Queues: messages never expire.
    NoExpiration,
    /// Routing: connector costs are ignored (fewest connectors wins).
    IgnoresCost,
    /// Link state: connectors marked down are still used.
    RoutesOverDownConnectors,
    /// Categorizer: recipients not in the directory are dropped without an NDR.
    UnknownRecipientDropped,
    /// Queues: mail in "Final destination currently unreachable" is never routed again.
    UnreachableNeverRerouted,
    /// SMTP: an outbound session that gets no reply waits forever.
    LostSessionTimeout,
    /// WAN (simulator): links that are down still carry packets.
    WanIgnoresDownLinks,
    /// Categorizer: a message with local and remote recipients is delivered locally to
    /// all of them.
    BifurcationCopiesAll,
    /// Link state: a 2003 master applies every connector change, never marking one
    /// oscillating.
    NoOscillationDamping,
    /// Link state: a table takes any entry that differs from its own, older or not.
    AcceptsStaleLinkState,
    /// Routing: among matching address spaces the cheapest wins, specific or not.
    AddressSpaceCostFirst,
    /// DNS delivery: an MX host that does not answer fails the attempt; the next MX
    /// host is not tried.
    NoMxFailover,
    /// AD replication: an incoming change is stored whatever its version (last writer
    /// wins locally), so concurrent changes leave replicas disagreeing.
    AdLastWriterWins,
    /// AD replication: deletions (tombstones) are never sent to replication partners.
    AdTombstonesStayHome,
    /// Categorizer: a message's recipients that are not groups are routed at once, before
    /// its groups are expanded.
    RoutesBeforeExpansion,
    /// Categorizer: "accept from authenticated users only" admits anonymous senders.
    RestrictionIgnoresAuthentication,
    /// Directory: a GC answers from the whole directory as written by now, not from its
    /// replica, so it knows of changes that have not replicated to it.
    GcIgnoresReplication,
}

impl PlantedBug {
    /// Every planted bug.
    pub const ALL: [PlantedBug; 20] = [
        PlantedBug::AckBeforeDurable,
        PlantedBug::DoneOnSend,
        PlantedBug::RecoverySkipsQueues,
        PlantedBug::NoExpiration,
        PlantedBug::IgnoresCost,
        PlantedBug::RoutesOverDownConnectors,
        PlantedBug::UnknownRecipientDropped,
        PlantedBug::UnreachableNeverRerouted,
        PlantedBug::LostSessionTimeout,
        PlantedBug::WanIgnoresDownLinks,
        PlantedBug::BifurcationCopiesAll,
        PlantedBug::NoOscillationDamping,
        PlantedBug::AcceptsStaleLinkState,
        PlantedBug::AddressSpaceCostFirst,
        PlantedBug::NoMxFailover,
        PlantedBug::AdLastWriterWins,
        PlantedBug::AdTombstonesStayHome,
        PlantedBug::RoutesBeforeExpansion,
        PlantedBug::RestrictionIgnoresAuthentication,
        PlantedBug::GcIgnoresReplication,
    ];

    /// The name used with `--plant`.
    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::AckBeforeDurable => "ack-before-durable",
            PlantedBug::DoneOnSend => "done-on-send",
            PlantedBug::RecoverySkipsQueues => "recovery-skips-queues",
            PlantedBug::NoExpiration => "no-expiration",
            PlantedBug::IgnoresCost => "ignores-cost",
            PlantedBug::RoutesOverDownConnectors => "routes-over-down-connectors",
            PlantedBug::UnknownRecipientDropped => "unknown-recipient-dropped",
            PlantedBug::UnreachableNeverRerouted => "unreachable-never-rerouted",
            PlantedBug::LostSessionTimeout => "lost-session-timeout",
            PlantedBug::WanIgnoresDownLinks => "wan-ignores-down-links",
            PlantedBug::BifurcationCopiesAll => "bifurcation-copies-all",
            PlantedBug::NoOscillationDamping => "no-oscillation-damping",
            PlantedBug::AcceptsStaleLinkState => "accepts-stale-link-state",
            PlantedBug::AddressSpaceCostFirst => "address-space-cost-first",
            PlantedBug::NoMxFailover => "no-mx-failover",
            PlantedBug::AdLastWriterWins => "ad-last-writer-wins",
            PlantedBug::AdTombstonesStayHome => "ad-tombstones-stay-home",
            PlantedBug::RoutesBeforeExpansion => "routes-before-expansion",
            PlantedBug::RestrictionIgnoresAuthentication => "restriction-ignores-authentication",
            PlantedBug::GcIgnoresReplication => "gc-ignores-replication",
        }
    }

    /// Looks a name up.
    pub fn parse(name: &str) -> Option<PlantedBug> {
        PlantedBug::ALL.into_iter().find(|b| b.name() == name)
    }
}

/// The set of bugs switched on for a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Plants(u32);

impl Plants {
    /// No bugs: the real behaviour.
    pub const NONE: Plants = Plants(0);

    /// This set plus one bug.
    pub fn with(self, bug: PlantedBug) -> Plants {
        Plants(self.0 | 1 << bug as u32)
    }

    /// Whether the bug is on.
    #[inline]
    pub fn has(self, bug: PlantedBug) -> bool {
        self.0 & (1 << bug as u32) != 0
    }

    /// The bugs switched on, in declaration order.
    pub fn list(self) -> Vec<PlantedBug> {
        PlantedBug::ALL.into_iter().filter(|b| self.has(*b)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sets_hold_what_was_added() {
        for bug in PlantedBug::ALL {
            assert_eq!(PlantedBug::parse(bug.name()), Some(bug));
        }
        let set = Plants::NONE.with(PlantedBug::NoExpiration).with(PlantedBug::IgnoresCost);
        assert_eq!(set.list(), vec![PlantedBug::NoExpiration, PlantedBug::IgnoresCost]);
        assert!(!Plants::NONE.has(PlantedBug::NoExpiration));
    }
}
