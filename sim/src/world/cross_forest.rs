//! Mail between forests for `--json` (`forests`, EXCHANGE2003.md §6): what each
//! organization's connectors handed the others, how each cross-forest sender showed at
//! the receiving side and why, what became of the Exch50 blobs, and the connectors' AUTH
//! refusals.

use org::config::topology::Topology;
use org::trace::ServerEvent;
use org::transport::smtp_filters::edge_session::{EdgeNode, Exch50Fate};
use serde::Serialize;
use std::collections::BTreeMap;

/// Mail between forests over a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ForestTotals {
    /// Messages handed to another organization, by `"<from> → <to>"` organization.
    pub transferred: BTreeMap<String, u64>,
    /// Recipients of those messages.
    pub transferred_recipients: u64,
    /// Cross-forest messages the receiving side took, by how their sender showed there
    /// (`resolved_authenticated`, `resolved_anonymous`, `address_anonymous`,
    /// `address_not_in_gal`).
    pub sender_display: BTreeMap<&'static str, u64>,
    /// Of those, by what became of their Exch50 blob (`kept`, `dropped`).
    pub exch50: BTreeMap<&'static str, u64>,
    /// Cross-forest recipients and messages the receiving edge refused (NDR'd or retried
    /// by the sender).
    pub refused: u64,
    /// Connector sessions whose AUTH the other organization refused.
    pub authentication_failures: u64,
}

impl ForestTotals {
    /// Counts one server event of `server`.
    pub fn observe(&mut self, topology: &Topology, server: org::ServerId, event: &ServerEvent) {
        let from_server =
            |conn: &org::transport::smtp_filters::edge_session::EdgeConnId| matches!(conn.client, EdgeNode::Server(_));
        match event {
            ServerEvent::TransferredOut { to, recipients, .. } => {
                let organization = |s| &topology.forests[usize::from(topology.server(s).forest.0)].organization;
                let key = format!("{} → {}", organization(server), organization(*to));
                *self.transferred.entry(key).or_default() += 1;
                self.transferred_recipients += recipients.len() as u64;
            }
            ServerEvent::EdgeAccepted { conn, exch50, sender_display, .. } if from_server(conn) => {
                *self.sender_display.entry(sender_display.as_str()).or_default() += 1;
                if *exch50 != Exch50Fate::NotOffered {
                    *self.exch50.entry(exch50.as_str()).or_default() += 1;
                }
            }
            ServerEvent::EdgeRefused { conn, .. } if from_server(conn) => self.refused += 1,
            ServerEvent::OutboundAuthFailed { .. } => self.authentication_failures += 1,
            _ => {}
        }
    }
}
