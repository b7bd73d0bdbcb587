//! The scenario's names for the ids server events carry, as the trace writes them.

use super::*;
use org::routing::routing_engine::NextHop;
use org::trace::json;
use org::{StorageGroupId, StoreId};

impl Namer for Resolved {
    fn offline_address_book(&self, id: org::system_attendant::oal_generation::OabId) -> String {
        self.oab_name(id)
    }

    /// `M<n>` for client mail, `NDR-<server>-<item>` for a DSN, `OOF-<server>-<item>`
    /// for an Out of Office reply, `JRN-<server>-<item>` for a journal report,
    /// `PFR-<server>-<item>` for a public folder replication message.
    fn message(&self, id: MessageId) -> String {
        match id {
            MessageId::Client(n) => format!("M{n}"),
            MessageId::Dsn { server, item } => format!("NDR-{}-{item}", self.topology.server(server).name),
            MessageId::AutoReply { server, item } => format!("OOF-{}-{item}", self.topology.server(server).name),
            MessageId::Journal { server, item } => format!("JRN-{}-{item}", self.topology.server(server).name),
            MessageId::Replication { server, item } => format!("PFR-{}-{item}", self.topology.server(server).name),
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
            MessageId::Journal { server, item } => (b"JRN-", server, item.0),
            MessageId::Replication { server, item } => (b"PFR-", server, item.0),
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

    fn storage_group(&self, id: StorageGroupId) -> &str {
        &self.topology.storage_group(id).name
    }

    fn public_store(&self, id: org::public_folders::cn_set::ReplicaId) -> &str {
        if id == org::public_folders::public_store::SETUP {
            return "setup";
        }
        &self.topology.public_store(id).name
    }

    fn public_folder(&self, id: org::public_folders::replication_message::FolderId) -> String {
        match self.public_folder_paths.get(&id) {
            Some(path) => path.clone(),
            None => format!("{}#{}", self.public_store(id.0.replica), id.0.counter),
        }
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

/// Names as JSON strings (quotes and escapes included), one buffer per kind of id:
/// writing a name into a trace line is one copy. Escaping each name on every record was
/// 4.5 % of the 100,000-mailbox day (perf).
struct Rendered {
    bytes: Vec<u8>,
    /// Where each name ends in `bytes` (it starts where the one before ends).
    ends: Vec<u32>,
}

impl Rendered {
    fn new<'a>(names: impl Iterator<Item = &'a str>) -> Self {
        let mut rendered = Rendered { bytes: Vec::new(), ends: Vec::new() };
        for name in names {
            json::str(&mut rendered.bytes, name);
            rendered.ends.push(u32::try_from(rendered.bytes.len()).expect("names under 4 GiB"));
        }
        rendered
    }

    fn write(&self, i: usize, out: &mut Vec<u8>) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        out.extend_from_slice(&self.bytes[start..self.ends[i] as usize]);
    }
}

impl Resolved {
    /// An offline address book's name.
    pub fn oab_name(&self, id: org::system_attendant::oal_generation::OabId) -> String {
        self.topology
            .offline_address_books
            .get(usize::from(id.0))
            .map_or_else(|| format!("OAB{}", id.0), |o| o.definition.name.clone())
    }
}

/// The [`Namer`] of a run's trace: the scenario's names, those of the ids on every
/// record rendered once.
pub(super) struct TraceNames {
    resolved: Arc<Resolved>,
    addresses: Rendered,
    servers: Rendered,
    stores: Rendered,
    /// Link queues by next hop: servers by FQDN, connectors, gateways, remote domains.
    fqdns: Rendered,
    connectors: Rendered,
    gateways: Rendered,
    domains: Rendered,
    /// The queues that are not link queues, in [`TraceNames::fixed_queue`] order.
    fixed_queues: Rendered,
}

impl TraceNames {
    fn oab_name(&self, id: org::system_attendant::oal_generation::OabId) -> String {
        self.resolved.oab_name(id)
    }

    pub(super) fn new(resolved: Arc<Resolved>) -> Self {
        let t = &resolved.topology;
        let fixed =
            [QueueKey::LocalDelivery, QueueKey::Unreachable, QueueKey::AwaitingDirectory, QueueKey::DeferredDelivery];
        TraceNames {
            addresses: Rendered::new(resolved.addresses.iter().map(String::as_str)),
            servers: Rendered::new(t.servers.iter().map(|s| s.name.as_str())),
            stores: Rendered::new(t.stores.iter().map(|s| s.name.as_str())),
            fqdns: Rendered::new(t.servers.iter().map(|s| s.fqdn.as_str())),
            connectors: Rendered::new(t.connectors.iter().map(|c| c.name.as_str())),
            gateways: Rendered::new(t.gateways.iter().map(|g| g.name.as_str())),
            domains: Rendered::new(t.external.domains.iter().map(String::as_str)),
            fixed_queues: Rendered::new(fixed.iter().map(|k| k.display_name(t))),
            resolved,
        }
    }

    /// A queue that is not a link queue, by its place in `fixed_queues`.
    fn fixed_queue(key: QueueKey) -> Option<usize> {
        match key {
            QueueKey::LocalDelivery | QueueKey::Link(NextHop::Local) => Some(0),
            QueueKey::Unreachable | QueueKey::Link(NextHop::Unreachable) => Some(1),
            QueueKey::AwaitingDirectory => Some(2),
            QueueKey::DeferredDelivery => Some(3),
            QueueKey::Link(_) => None,
        }
    }
}

impl Namer for TraceNames {
    fn offline_address_book(&self, id: org::system_attendant::oal_generation::OabId) -> String {
        self.oab_name(id)
    }

    fn message(&self, id: MessageId) -> String {
        self.resolved.message(id)
    }
    fn write_message(&self, id: MessageId, out: &mut Vec<u8>) {
        self.resolved.write_message(id, out);
    }
    fn address(&self, id: AddressId) -> &str {
        self.resolved.address(id)
    }
    fn server(&self, id: ServerId) -> &str {
        self.resolved.server(id)
    }
    fn host(&self, id: HostId) -> &str {
        self.resolved.host(id)
    }
    fn dc(&self, id: DcId) -> &str {
        self.resolved.dc(id)
    }
    fn store(&self, id: StoreId) -> &str {
        self.resolved.store(id)
    }
    fn storage_group(&self, id: StorageGroupId) -> &str {
        self.resolved.storage_group(id)
    }
    fn connector(&self, id: ConnectorId) -> &str {
        self.resolved.connector(id)
    }
    fn routing_group(&self, id: RoutingGroupId) -> &str {
        self.resolved.routing_group(id)
    }
    fn queue(&self, key: QueueKey) -> &str {
        self.resolved.queue(key)
    }
    fn public_store(&self, id: org::public_folders::cn_set::ReplicaId) -> &str {
        self.resolved.public_store(id)
    }
    fn public_folder(&self, id: org::public_folders::replication_message::FolderId) -> String {
        self.resolved.public_folder(id)
    }

    fn write_address(&self, id: AddressId, out: &mut Vec<u8>) {
        self.addresses.write(id.0 as usize, out);
    }
    fn write_server(&self, id: ServerId, out: &mut Vec<u8>) {
        self.servers.write(usize::from(id.0), out);
    }
    fn write_store(&self, id: StoreId, out: &mut Vec<u8>) {
        self.stores.write(usize::from(id.0), out);
    }
    fn write_queue(&self, key: QueueKey, out: &mut Vec<u8>) {
        if let Some(i) = Self::fixed_queue(key) {
            return self.fixed_queues.write(i, out);
        }
        match key {
            QueueKey::Link(NextHop::Server(s)) => self.fqdns.write(usize::from(s.0), out),
            QueueKey::Link(NextHop::Connector(c)) => self.connectors.write(usize::from(c.0), out),
            QueueKey::Link(NextHop::Gateway(g)) => self.gateways.write(usize::from(g.0), out),
            QueueKey::Link(NextHop::RemoteDomain(d)) => self.domains.write(usize::from(d.0), out),
            _ => unreachable!("fixed queues are written above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use org::transport::address_space::DomainId;
    use org::GatewayId;

    /// Each rendered name is what escaping the name on the spot writes.
    #[test]
    fn rendered_names_are_the_names_escaped() {
        let text = include_str!("../../../scenarios/internet-dns.json");
        let resolved = Arc::new(crate::resolve::load_str("internet-dns.json", text).expect("the scenario loads"));
        let names = TraceNames::new(resolved.clone());
        let check = |write: &dyn Fn(&mut Vec<u8>), plain: &str| {
            let (mut got, mut want) = (Vec::new(), Vec::new());
            write(&mut got);
            json::str(&mut want, plain);
            assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap());
        };
        for a in 0..resolved.addresses.len() as u32 {
            check(&|o| names.write_address(AddressId(a), o), resolved.address(AddressId(a)));
        }
        let t = &resolved.topology;
        for s in 0..t.servers.len() as u16 {
            check(&|o| names.write_server(ServerId(s), o), resolved.server(ServerId(s)));
            let q = QueueKey::Link(NextHop::Server(ServerId(s)));
            check(&|o| names.write_queue(q, o), resolved.queue(q));
        }
        for s in 0..t.stores.len() as u16 {
            check(&|o| names.write_store(StoreId(s), o), resolved.store(StoreId(s)));
        }
        let mut queues = vec![
            QueueKey::LocalDelivery,
            QueueKey::Unreachable,
            QueueKey::AwaitingDirectory,
            QueueKey::DeferredDelivery,
        ];
        queues.extend([NextHop::Local, NextHop::Unreachable].map(QueueKey::Link));
        queues.extend((0..t.connectors.len() as u16).map(|c| QueueKey::Link(NextHop::Connector(ConnectorId(c)))));
        queues.extend((0..t.gateways.len() as u16).map(|g| QueueKey::Link(NextHop::Gateway(GatewayId(g)))));
        queues.extend((0..t.external.domains.len() as u16).map(|d| QueueKey::Link(NextHop::RemoteDomain(DomainId(d)))));
        assert!(queues.len() > 8, "the scenario has connectors, gateways and domains");
        for q in queues {
            check(&|o| names.write_queue(q, o), resolved.queue(q));
        }
    }
}
