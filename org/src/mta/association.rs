//! Opening an association (EXCHANGE2003.md §3.2a [P]): which of a server's queues the MTA
//! serves, and what it does after a failed open — wait the open interval, and after the
//! last allowed retry return what waits as non-deliverable.

use crate::config::topology::{ConnectorKind, Delivery, MtaConfig, Topology};
use crate::routing::routing_engine::NextHop;
use crate::ServerId;

/// Whether mail `server` queues for `hop` leaves through its X.400 MTA: over an X.400
/// connector it is a source bridgehead of, or to a foreign MTA.
pub fn carries(topology: &Topology, server: ServerId, hop: NextHop) -> bool {
    match hop {
        NextHop::Connector(c) => {
            let connector = topology.connector(c);
            connector.kind == ConnectorKind::X400 && connector.source_bridgeheads.contains(&server)
        }
        NextHop::Gateway(g) => {
            let gateway = topology.gateway(g);
            matches!(gateway.delivery, Delivery::Mta(_)) && gateway.source_bridgeheads.contains(&server)
        }
        _ => false,
    }
}

/// What the MTA does after the `failures`-th failed open in a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AfterFailedOpen {
    /// When it tries again.
    pub retry_in_ms: u64,
    /// Whether the retries are spent: what waits goes back as non-deliverable and the
    /// count starts again.
    pub give_up: bool,
}

/// The MTA's answer to a failed open.
pub fn after_failed_open(config: &MtaConfig, failures: u32) -> AfterFailedOpen {
    debug_assert!(failures > 0, "called after a failure");
    AfterFailedOpen { retry_in_ms: config.open_interval_ms, give_up: failures > config.max_open_retries }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mta_waits_its_open_interval_and_gives_up_after_the_last_retry() {
        // §3.2a: 144 retries, 600 s apart.
        let config = MtaConfig::default();
        assert_eq!(after_failed_open(&config, 1), AfterFailedOpen { retry_in_ms: 600_000, give_up: false });
        assert!(!after_failed_open(&config, 144).give_up);
        assert!(after_failed_open(&config, 145).give_up);
    }
}
