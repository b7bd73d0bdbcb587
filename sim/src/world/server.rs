//! An Exchange server's node: its state machine fed with packets, timers and client
//! submissions; its outputs carried out on the world.

use super::*;
use org::transport::queue_directory::DiskOp;
use org::transport::smtp_filters::edge_session::EdgeNode;

/// One Exchange server's node: starts from its disk, then serves until killed. Each
/// wake-up is one poll that takes the world's lock once.
pub(super) async fn server_node(world: Shared, id: ServerId) {
    let mut node = ServerNode::start(&mut lock(&world), id);
    futures::future::poll_fn(|cx| node.poll(&mut lock(&world), cx)).await;
}

/// What a running server's node keeps between wake-ups. The server's state machine
/// itself lives in the world (`World::machines`), so that a crash can reach what it had
/// not made durable (a power loss may tear it), as a disk controller holds a machine's
/// writes in flight.
struct ServerNode {
    id: ServerId,
    interval_ms: u64,
    next_sample_ms: u64,
    /// Buffers kept between steps, so that no step allocates them.
    outputs: Vec<Output>,
    arrived: Vec<Wire>,
    submissions: Vec<(Message, Vec<AddressId>)>,
    /// Waiting for a deadline (µs) since an instant; `first`: no poll has looked yet,
    /// so the clock is known not to have moved.
    waiting: Option<Waiting>,
}

struct Waiting {
    since_us: u64,
    deadline_us: u64,
    first: bool,
}

impl ServerNode {
    /// The server (re)starts from its disk.
    fn start(w: &mut World, id: ServerId) -> ServerNode {
        let i = usize::from(id.0);
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
            quota_changes: w.quota_changes.iter().map(|(t, q)| (*t, *q)).collect(),
            moved: w.moved.iter().map(|(m, s)| (*m, *s)).collect(),
            public_content_stopped: w.public_content_stopped,
            oab_generators: w.oab.disks[i].clone(),
        };
        let server = ExchangeServer::recover(id, topology, &mut w.disks[i], &start, rng, incarnation, Instant(now_ms));
        w.checker.server_started(id, server.link_state_table().org_info().clone());
        w.machines[i] = Some(Box::new(server));
        if let Some(p) = w.populations[i].as_mut() {
            p.skip_to(Instant(now_ms));
        }
        for p in &mut w.public_posts[i] {
            p.skip_to(Instant(now_ms));
        }
        w.inboxes[i].open();
        // The service mounts every database when it starts.
        let topology = w.resolved.topology.clone();
        let own =
            (0..topology.stores.len()).map(|d| org::StoreId(d as u16)).filter(|d| topology.store(*d).server == id);
        for d in own.clone() {
            w.dismounted[usize::from(d.0)] = false;
        }
        w.checker.databases_mounted(own);
        w.posts.of(Node::Server(id)).open();
        let interval_ms = w.resolved.sample_interval_ms;
        ServerNode {
            id,
            interval_ms,
            next_sample_ms: (now_ms / interval_ms + 1) * interval_ms,
            outputs: Vec::new(),
            arrived: Vec::new(),
            submissions: Vec::new(),
            waiting: None,
        }
    }

    /// Runs steps until the node has to wait; `Ready` when it was killed (the world took
    /// its machine).
    fn poll(&mut self, w: &mut World, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let i = usize::from(self.id.0);
        let Some(mut server) = w.machines[i].take() else { return Poll::Ready(()) };
        let result = self.run(w, &mut server, cx);
        if result.is_pending() {
            w.machines[i] = Some(server);
        }
        result
    }

    fn run(&mut self, w: &mut World, server: &mut ExchangeServer, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let i = usize::from(self.id.0);
        loop {
            // The clock, once read in this poll (madsim interposes on it: not free).
            let mut now_read = None;
            if let Some(waiting) = &mut self.waiting {
                match w.inboxes[i].take() {
                    Some(None) => return Poll::Ready(()), // the world closed its inbox: killed
                    Some(Some(order)) => {
                        self.waiting = None;
                        let now_us = *now_read.insert(w.now_us());
                        order_server(server, Instant(now_us / 1_000), order);
                    }
                    None => {
                        // Polled in the step that began the wait, the clock has not moved.
                        let now = if std::mem::take(&mut waiting.first) { waiting.since_us } else { w.now_us() };
                        if w.arm(Node::Server(self.id), Some(waiting.deadline_us), now, cx).is_pending() {
                            return Poll::Pending;
                        }
                        self.waiting = None;
                        now_read = Some(now);
                    }
                }
            }
            let now_us = now_read.unwrap_or_else(|| w.now_us());
            let deadline_us = self.step(w, server, now_us);
            if deadline_us > now_us {
                self.waiting = Some(Waiting { since_us: now_us, deadline_us, first: true });
            }
        }
    }

    /// Handles what is due at `now_us` and carries out the outputs; returns when the
    /// node has work next.
    fn step(&mut self, w: &mut World, server: &mut ExchangeServer, now_us: u64) -> u64 {
        let id = self.id;
        w.intake(id, now_us, &mut self.arrived, &mut self.submissions);
        let now = Instant(now_us / 1_000);
        for wire in self.arrived.drain(..) {
            match (wire.from, wire.payload) {
                (Node::Server(from), Payload::Smtp(packet)) => server.handle_packet(now, from, packet),
                (Node::Server(from), Payload::LinkState(m)) => server.handle_link_state(now, from, m),
                (Node::Host(from), Payload::Smtp(packet)) => server.handle_host_packet(now, from, packet),
                (Node::Host(from), Payload::DnsReply(reply)) => server.handle_dns_reply(now, from, reply),
                (Node::Host(from), Payload::Edge(packet)) => {
                    server.handle_edge_packet(now, EdgeNode::Host(from), packet)
                }
                (Node::Server(from), Payload::Edge(packet)) => {
                    server.handle_edge_packet(now, EdgeNode::Server(from), packet)
                }
                (Node::Host(from), Payload::EdgeDnsReply(reply)) => server.handle_edge_dns_reply(now, from, reply),
                (Node::Dc(from), Payload::LdapPage(page)) => server.handle_ldap_page(now, from, page),
                (Node::Dc(from), Payload::AddressList(page)) => server.handle_address_list_page(now, from, page),
                (Node::Server(from), Payload::Move(m)) => server.handle_move_message(now, from, m),
                (from, _) => debug_assert!(false, "no such packet from {from:?} to a server"),
            }
        }
        if server.poll_timeout().is_some_and(|t| t <= now) {
            server.handle_timeout(now);
        }
        for (message, recipients) in self.submissions.drain(..) {
            server.handle_submit(now, message, recipients);
        }
        self.public_clients(w, server, now);
        if now.as_ms() >= self.next_sample_ms {
            self.sample(w, server);
        }
        server.swap_outputs(&mut self.outputs);
        apply_outputs(w, id, now_us, &mut self.outputs);
        let population_next = w.populations[usize::from(id.0)].as_ref().and_then(|p| p.next_at());
        let posts_next = w.public_posts[usize::from(id.0)].iter().filter_map(|p| p.next_at()).min();
        [
            server.poll_timeout().map(|t| t.as_ms() * 1_000),
            population_next.map(|t| t.as_ms() * 1_000),
            posts_next.map(|t| t.as_ms() * 1_000),
            Some(self.next_sample_ms * 1_000),
        ]
        .into_iter()
        .flatten()
        .min()
        .expect("the sample timer is always set")
    }

    /// The public folder clients of this server: posts due, and opens — served here or
    /// referred to a server the client can reach (running, and joined to this site).
    fn public_clients(&mut self, w: &mut World, server: &mut ExchangeServer, now: Instant) {
        let i = usize::from(self.id.0);
        let mut due = Vec::new();
        for load in &mut w.public_posts[i] {
            while let Some(spec) = load.due(now) {
                due.push((spec.folder, spec.size_bytes, spec.read));
            }
        }
        let home_site = w.resolved.server_site[i];
        for (folder, size_bytes, read) in due {
            if read {
                let available = |s: ServerId| w.reaches(home_site, s);
                server.handle_public_read(now, folder, &available);
            } else {
                // A refusal (the replica left) is traced by the store.
                w.public_totals.posts += u64::from(server.handle_public_post(now, folder, size_bytes).is_ok());
            }
        }
    }

    /// Traces the server's queues (and DSAccess cache) at the sample instant.
    fn sample(&mut self, w: &mut World, server: &ExchangeServer) {
        let queues = server
            .queue_snapshot()
            .into_iter()
            .map(|q| QueueSample {
                queue: w.queue(q.queue),
                state: q.state.map(LinkQueueState::as_str),
                messages: q.messages,
            })
            .collect();
        let name = w.server_name(self.id).to_string();
        w.record(self.next_sample_ms, &name, &TraceEvent::QueueSample { queues });
        w.store_sample(self.id, self.next_sample_ms);
        if let Some(stats) = server.dsaccess_stats() {
            let event = TraceEvent::DsAccessSample { hits: stats.hits, misses: stats.misses, entries: stats.entries };
            w.record(self.next_sample_ms, &name, &event);
        }
        self.next_sample_ms += self.interval_ms;
    }
}

/// An order from the timeline.
fn order_server(server: &mut ExchangeServer, now: Instant, order: Input) {
    match order {
        Input::MasterChange(g, s) => server.handle_master_change(now, g, s),
        Input::ConnectorService(c, running) => server.handle_connector_service(c, running),
        Input::Database(store, mount) => server.handle_database(now, store, mount),
        Input::PublicAdmin(order) => server.handle_public_admin(now, &order),
        Input::Backup(store) => server.handle_backup(now, store),
        Input::PurgeBadmail(virtual_server) => server.handle_badmail_purged(now, virtual_server),
        Input::DiskFailure(store, logs_lost) => server.handle_disk_failure(now, store, logs_lost),
        Input::Restore(from, set, only) => server.handle_restore(now, from, set, &only),
        Input::Merge(rights) => server.handle_merge(now, rights),
        Input::Quota(target, quota) => server.handle_quota_change(now, target, quota),
        Input::MoveOut(mailbox, to_server, to_store) => server.handle_move_out(now, mailbox, to_server, to_store),
        Input::MoveCancel(mailbox) => server.handle_move_cancel(now, mailbox),
        Input::MailboxMoved(mailbox, store) => server.handle_mailbox_moved(now, mailbox, store),
        Input::Submit(message, recipients, true) => server.handle_submit(now, *message, recipients),
        Input::Submit(message, recipients, false) => server.handle_smtp_submit(now, *message, recipients),
    }
}

/// Carries out a server's outputs. It empties `outputs` and leaves it its capacity.
pub(super) fn apply_outputs(w: &mut World, me: ServerId, now_us: u64, outputs: &mut Vec<Output>) {
    let now = Instant(now_us / 1_000);
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
            Output::Move { to, message } => {
                let bytes = message.wire_size_bytes();
                w.transmit(Node::Server(me), Node::Server(to), now_us, bytes, Payload::Move(message));
            }
            Output::SendHost { to, packet } => {
                let bytes = packet.wire_size_bytes(&w.resolved.topology);
                w.transmit(Node::Server(me), Node::Host(to), now_us, bytes, Payload::Smtp(packet));
            }
            Output::Dns { to, query } => {
                let bytes = org::transport::dns::wire_size_bytes(0);
                w.transmit(Node::Server(me), Node::Host(to), now_us, bytes, Payload::DnsQuery(query));
            }
            Output::SendEdge { to, packet } => {
                let bytes = packet.wire_size_bytes();
                let to = match to {
                    EdgeNode::Host(h) => Node::Host(h),
                    EdgeNode::Server(s) => Node::Server(s),
                };
                w.transmit(Node::Server(me), to, now_us, bytes, Payload::Edge(packet));
            }
            Output::EdgeDns { to, query } => {
                let bytes = org::transport::dns::wire_size_bytes(0);
                w.transmit(Node::Server(me), Node::Host(to), now_us, bytes, Payload::EdgeDnsQuery(query));
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
                // One log write per storage group the flush carries records of (a flush
                // rarely carries two groups' records interleaved; each run counts once).
                let mut last_group = None;
                for op in ops {
                    match &op {
                        DiskOp::StoreWrite { group, .. } if last_group.replace(*group) != Some(*group) => {
                            w.volumes[usize::from(group.0)].log_writes += 1;
                        }
                        DiskOp::Deliver { recipient, message, size_bytes, .. } => {
                            w.note_delivery_size(*recipient, *message, *size_bytes)
                        }
                        _ => {}
                    }
                    w.disks[usize::from(me.0)].apply(op);
                }
            }
            Output::Event(event) => w.observe(now, me, &event),
            Output::OabGenerated(done) => {
                w.checker.oab_generated(now, done.oab, &done.generation);
                w.oab.generated(me, now.as_ms(), *done);
            }
            Output::BackupSet(set) => {
                w.backup_media.insert((set.server, set.group), *set);
            }
        }
    }
}

impl World {
    /// Moves what is due for server `id` at `now_us` into `arrived` (packets that have
    /// arrived over links that stayed up, in arrival order; the others are lost) and
    /// `submissions` (its clients' messages due, numbered in order).
    fn intake(
        &mut self,
        id: ServerId,
        now_us: u64,
        arrived: &mut Vec<Wire>,
        submissions: &mut Vec<(Message, Vec<AddressId>)>,
    ) {
        let post = self.posts.of(Node::Server(id));
        while let Some(wire) = post.take_due(now_us) {
            if self.wan.intact(wire.link) {
                arrived.push(*wire);
            }
        }
        let now = Instant(now_us / 1_000);
        let next_message = &mut self.next_message;
        if let Some(p) = self.populations[usize::from(id.0)].as_mut() {
            let mut number = || {
                let n = *next_message;
                *next_message += 1;
                n
            };
            while let Some(submission) = p.submit_due(now, &mut number) {
                submissions.push(submission);
            }
        }
    }
}
