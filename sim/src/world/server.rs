//! An Exchange server's node: its state machine fed with packets, timers and client
//! submissions; its outputs carried out on the world.

use super::*;

/// One Exchange server's node: starts from its disk, then serves until killed.
pub(super) async fn server_node(world: Shared, id: ServerId) {
    let i = usize::from(id.0);
    let (mut server, interval) = {
        let mut w = lock(&world);
        let now_ms = w.now_us() / 1_000;
        let incarnation = w.incarnation[i];
        let name = w.server_name(id).to_string();
        if incarnation > 0 {
            w.record(now_ms, &name, &TraceEvent::ServerRestarted { incarnation });
        }
        let rng = Box::new(Stream::new(w.seed, &format!("server:{name}/smtp#{incarnation}")));
        let topology = w.resolved.topology.clone();
        let start = StartConditions {
            masters: w.masters.clone(),
            stopped_connectors: (0..topology.connectors.len())
                .map(|c| ConnectorId(c as u16))
                .filter(|c| w.connector_admin_down[usize::from(c.0)])
                .filter(|c| topology.connector(*c).source_bridgeheads.contains(&id))
                .collect(),
        };
        let server = ExchangeServer::recover(id, topology, &w.disks[i], &start, rng, incarnation, Instant(now_ms));
        w.checker.server_started(id, server.link_state_table().org_info().clone());
        if let Some(p) = w.populations[i].as_mut() {
            p.skip_to(Instant(now_ms));
        }
        w.inboxes[i].open();
        w.posts.of(Node::Server(id)).open();
        (server, w.resolved.sample_interval_ms)
    };
    let first_now = lock(&world).now_us() / 1_000;
    let mut next_sample_ms = (first_now / interval + 1) * interval;
    let mut outputs = Vec::new();
    loop {
        let now_us = lock(&world).now_us();
        let now = Instant(now_us / 1_000);
        loop {
            let wire = {
                let mut w = lock(&world);
                match w.posts.of(Node::Server(id)).take_due(now_us) {
                    Some(wire) if w.wan.intact(wire.link) => wire,
                    Some(_) => continue,
                    None => break,
                }
            };
            match (wire.from, wire.payload) {
                (Node::Server(from), Payload::Smtp(packet)) => server.handle_packet(now, from, packet),
                (Node::Server(from), Payload::LinkState(m)) => server.handle_link_state(now, from, m),
                (Node::Host(from), Payload::Smtp(packet)) => server.handle_host_packet(now, from, packet),
                (Node::Host(from), Payload::DnsReply(reply)) => server.handle_dns_reply(now, from, reply),
                (Node::Dc(from), Payload::LdapPage(page)) => server.handle_ldap_page(now, from, page),
                (from, _) => debug_assert!(false, "no such packet from {from:?} to a server"),
            }
        }
        if server.poll_timeout().is_some_and(|t| t <= now) {
            server.handle_timeout(now);
        }
        loop {
            let submission = {
                let mut w = lock(&world);
                let w = &mut *w;
                let next_message = &mut w.next_message;
                w.populations[i].as_mut().and_then(|p| {
                    p.submit_due(now, || {
                        let n = *next_message;
                        *next_message += 1;
                        n
                    })
                })
            };
            match submission {
                Some((message, recipients)) => server.handle_submit(now, message, recipients),
                None => break,
            }
        }
        if now.as_ms() >= next_sample_ms {
            let mut w = lock(&world);
            let queues = server
                .queue_snapshot()
                .into_iter()
                .map(|q| QueueSample {
                    queue: w.queue(q.queue),
                    state: q.state.map(LinkQueueState::as_str),
                    messages: q.messages,
                })
                .collect();
            let name = w.server_name(id).to_string();
            w.record(next_sample_ms, &name, &TraceEvent::QueueSample { queues });
            if let Some(stats) = server.dsaccess_stats() {
                let event =
                    TraceEvent::DsAccessSample { hits: stats.hits, misses: stats.misses, entries: stats.entries };
                w.record(next_sample_ms, &name, &event);
            }
            next_sample_ms += interval;
        }
        server.swap_outputs(&mut outputs);
        apply_outputs(&world, id, now_us, &mut outputs, server.unflushed_writes());

        let population_next = lock(&world).populations[i].as_ref().and_then(|p| p.next_at());
        let deadline_us = [
            server.poll_timeout().map(|t| t.as_ms() * 1_000),
            population_next.map(|t| t.as_ms() * 1_000),
            Some(next_sample_ms * 1_000),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("the sample timer is always set");
        if deadline_us <= now_us {
            continue;
        }
        match wait(&world, Node::Server(id), |w| w.inboxes[i].take(), Some(deadline_us), now_us).await {
            Some(Some(Input::MasterChange(g, s))) => {
                let now = Instant(lock(&world).now_us() / 1_000);
                server.handle_master_change(now, g, s);
            }
            Some(Some(Input::ConnectorService(c, running))) => server.handle_connector_service(c, running),
            Some(Some(Input::Submit(message, recipients, mapi))) => {
                let now = Instant(lock(&world).now_us() / 1_000);
                if mapi {
                    server.handle_submit(now, *message, recipients);
                } else {
                    server.handle_smtp_submit(now, *message, recipients);
                }
            }
            Some(None) => return, // the world closed this node's inbox: it was killed
            None => {}
        }
    }
}

/// Carries out a server's outputs; `unflushed` is how many of its writes are not durable
/// after this step. It empties `outputs` and leaves it its capacity.
pub(super) fn apply_outputs(world: &Shared, me: ServerId, now_us: u64, outputs: &mut Vec<Output>, unflushed: usize) {
    let now = Instant(now_us / 1_000);
    let mut w = lock(world);
    w.unflushed[usize::from(me.0)] = unflushed as u32;
    for output in outputs.drain(..) {
        match output {
            Output::Send { to, packet } => {
                let bytes = packet.wire_size_bytes(&w.resolved.topology);
                if packet.link_state_table().is_some() {
                    // An X-LINK2STATE turn carrying a table is link state traffic (§4).
                    w.count_link_state(bytes);
                }
                w.transmit(Node::Server(me), Node::Server(to), now_us, bytes, Payload::Smtp(packet));
            }
            Output::SendHost { to, packet } => {
                let bytes = packet.wire_size_bytes(&w.resolved.topology);
                w.transmit(Node::Server(me), Node::Host(to), now_us, bytes, Payload::Smtp(packet));
            }
            Output::Dns { to, query } => {
                let bytes = org::transport::dns::wire_size_bytes(0);
                w.transmit(Node::Server(me), Node::Host(to), now_us, bytes, Payload::DnsQuery(query));
            }
            Output::LinkState { to, message } => {
                let bytes = message.wire_size_bytes(&w.resolved.topology);
                w.count_link_state(bytes);
                w.transmit(Node::Server(me), Node::Server(to), now_us, bytes, Payload::LinkState(message));
            }
            Output::Ldap { to, search } => {
                let bytes = search.wire_size_bytes();
                w.transmit(Node::Server(me), Node::Dc(to), now_us, bytes, Payload::Ldap(search));
            }
            Output::Persist(ops) => {
                let disk = &mut w.disks[usize::from(me.0)];
                for op in ops {
                    disk.apply(op);
                }
            }
            Output::Event(event) => w.observe(now, me, &event),
        }
    }
}
