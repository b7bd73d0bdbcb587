//! A host beyond the organization: Internet mail hosts, smart hosts, foreign MTAs and
//! DNS servers.

use super::*;

/// A host beyond the organization: answers SMTP sessions (mail hosts, smart hosts,
/// foreign MTAs) or MX queries (DNS servers) when its packets arrive, unless it is down.
pub(super) async fn host_node(world: Shared, id: HostId) {
    let (tx, mut rx) = unbounded::<Box<Wire>>();
    let (start, role, internet) = {
        let mut w = lock(&world);
        w.host_inboxes[usize::from(id.0)] = Some(tx);
        let topology = w.resolved.topology.clone();
        (w.start, topology.host(id).role, topology)
    };
    let mut mail = InternetMailHost::new();
    let mut held: BTreeMap<(u64, u64), Box<Wire>> = BTreeMap::new();
    let mut registered = None;
    loop {
        let now_us = lock(&world).now_us();
        while let Some(entry) = held.first_entry() {
            if entry.key().0 > now_us {
                break;
            }
            let wire = entry.remove();
            let mut w = lock(&world);
            if !w.host_up[usize::from(id.0)] || !w.wan.intact(&wire.epochs) {
                continue;
            }
            let Node::Server(from) = wire.from else { continue };
            match (role, wire.payload) {
                (HostRole::Mail | HostRole::Mta, Payload::Smtp(packet)) => {
                    for reply in mail.handle_packet(from, packet) {
                        let bytes = reply.wire_size_bytes(&w.resolved.topology);
                        w.transmit(Node::Host(id), Node::Server(from), now_us, bytes, Payload::Smtp(reply));
                    }
                }
                (HostRole::Dns, Payload::DnsQuery(query)) => {
                    let reply = org::transport::dns::answer(&internet.internet, query);
                    let bytes = org::transport::dns::wire_size_bytes(reply.mx.as_ref().map_or(0, Vec::len));
                    w.transmit(Node::Host(id), Node::Server(from), now_us, bytes, Payload::DnsReply(reply));
                }
                // A packet a host of this role does not serve: the port is closed.
                _ => {}
            }
        }
        let deadline = held.first_key_value().map(|(k, _)| start + StdDuration::from_micros(k.0));
        match wait(&mut rx, deadline, &mut registered).await {
            Some(Some(wire)) => {
                held.insert((wire.arrive_us, wire.seq), wire);
            }
            Some(None) => return,
            None => {}
        }
    }
}
