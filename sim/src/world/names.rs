//! The scenario's names for the ids server events carry, as the trace writes them.

use super::*;
use org::StoreId;

impl Namer for Resolved {
    /// `M<n>` for client mail, `NDR-<server>-<item>` for a DSN, `OOF-<server>-<item>`
    /// for an Out of Office reply.
    fn message(&self, id: MessageId) -> String {
        match id {
            MessageId::Client(n) => format!("M{n}"),
            MessageId::Dsn { server, item } => format!("NDR-{}-{item}", self.topology.server(server).name),
            MessageId::AutoReply { server, item } => format!("OOF-{}-{item}", self.topology.server(server).name),
        }
    }

    fn address(&self, id: AddressId) -> &str {
        &self.addresses[id.0 as usize]
    }

    fn server(&self, id: ServerId) -> &str {
        &self.topology.server(id).name
    }

    fn host(&self, id: HostId) -> &str {
        &self.topology.host(id).name
    }

    fn dc(&self, id: DcId) -> &str {
        &self.scenario.topology.domain_controllers[usize::from(id.0)].name
    }

    fn store(&self, id: StoreId) -> &str {
        &self.topology.store(id).name
    }

    fn connector(&self, id: ConnectorId) -> &str {
        &self.topology.connector(id).name
    }

    fn routing_group(&self, id: RoutingGroupId) -> &str {
        &self.topology.routing_group(id).name
    }

    fn queue(&self, key: QueueKey) -> String {
        key.display_name(&self.topology)
    }
}
