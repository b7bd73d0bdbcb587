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
    let mut senders = {
        let w = lock(&world);
        super::internet_senders::Senders::new(&w.resolved, id, w.seed)
    };
    loop {
        let now_us = lock(&world).now_us();
        start_sessions(&world, id, &mut senders, now_us);
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
                (_, Payload::Edge(packet)) => {
                    if let Some(answer) = senders.handle(now_us / 1_000, packet) {
                        let bytes = answer.wire_size_bytes();
                        w.transmit(Node::Host(id), Node::Server(from), now_us, bytes, Payload::Edge(answer));
                    }
                }
                (HostRole::Dns, Payload::EdgeDnsQuery(query)) => {
                    let answer = internet.internet.zones.answer(&query.question);
                    let bytes = org::transport::dns::wire_size_bytes(1);
                    let reply = org::transport::dns::EdgeDnsReply { query, answer };
                    w.transmit(Node::Host(id), Node::Server(from), now_us, bytes, Payload::EdgeDnsReply(reply));
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
        // A host has no inbox: it answers the packets that reach it and starts its
        // senders' sessions when due.
        let deadline_us = senders.next_due_ms().map(|ms| ms * 1_000);
        wait::<()>(&world, Node::Host(id), |_| None, deadline_us, now_us).await;
    }
}

/// Starts the sessions due: their connects go out (a host that is down starts none).
fn start_sessions(world: &Shared, id: HostId, senders: &mut super::internet_senders::Senders, now_us: u64) {
    let mut w = lock(world);
    let w = &mut *w;
    let mut next = w.next_message;
    let connects = senders.start_due(&w.resolved, now_us / 1_000, &mut next);
    w.next_message = next;
    if !w.host_up[usize::from(id.0)] {
        return;
    }
    for (server, packet) in connects {
        let bytes = packet.wire_size_bytes();
        w.transmit(Node::Host(id), Node::Server(server), now_us, bytes, Payload::Edge(packet));
    }
}
