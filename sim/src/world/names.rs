//! The scenario's names for the ids server events carry, as the trace writes them.

use super::*;
use org::trace::json;
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

    /// As `message`, without a String: most trace records name a message.
    fn write_message(&self, id: MessageId, out: &mut Vec<u8>) {
        let (prefix, server, item): (&[u8], _, _) = match id {
            MessageId::Client(n) => {
                out.push(b'M');
                json::uint(out, n);
                return;
            }
            MessageId::Dsn { server, item } => (b"NDR-", server, item.0),
            MessageId::AutoReply { server, item } => (b"OOF-", server, item.0),
        };
        out.extend_from_slice(prefix);
        json::escape(out, &self.topology.server(server).name);
        out.push(b'-');
        json::uint(out, item);
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

    fn queue(&self, key: QueueKey) -> &str {
        key.display_name(&self.topology)
    }
}
