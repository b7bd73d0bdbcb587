//! A host beyond the organization: Internet mail hosts, smart hosts, foreign MTAs and
//! DNS servers.

use super::*;

/// A host beyond the organization: answers SMTP sessions (mail hosts, smart hosts,
/// foreign MTAs) or MX queries (DNS servers) when its packets arrive, unless it is down.
pub(super) async fn host_node(world: Shared, id: HostId) {
    let (role, internet) = {
        let mut w = lock(&world);
        w.posts.of(Node::Host(id)).open();
        let topology = w.resolved.topology.clone();
        (topology.host(id).role, topology)
    };
    let mut mail = InternetMailHost::new();
    loop {
        let now_us = lock(&world).now_us();
        loop {
            let mut w = lock(&world);
            let Some(wire) = w.posts.of(Node::Host(id)).take_due(now_us) else { break };
            if !w.host_up[usize::from(id.0)] || !w.wan.intact(wire.link) {
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
        // A host has no inbox: it only answers the packets that reach it.
        wait::<()>(&world, Node::Host(id), |_| None, None, now_us).await;
    }
}
