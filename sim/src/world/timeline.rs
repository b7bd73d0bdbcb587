//! The timeline's actions carried out on the world: links, connectors, servers, hosts
//! and DCs taken down and brought back, masters set, mail sent, recipients changed.

use super::*;
use crate::resolve::Failure;
use org::cluster::cluster_service::ClusterAction;
use org::public_folders::cn_set::ReplicaId;
use org::public_folders::public_store::PfAdmin;

pub(super) fn apply(world: &Shared, handle: &Handle, nodes: &[NodeHandle], now: Instant, action: WorldAction) {
    let mut w = lock(world);
    match action {
        WorldAction::ModifyRecipient(i) => w.modify_recipient(now, i),
        WorldAction::Send(i) => w.send(now, i),
        WorldAction::LinkDown(l) | WorldAction::LinkUp(l) => {
            let up = matches!(action, WorldAction::LinkUp(_));
            if w.wan.set_up(l, up) {
                let event = TraceEvent::LinkState {
                    link: w.resolved.links[l].name.clone(),
                    state: if up { "up" } else { "down" },
                };
                w.record(now.as_ms(), "wan", &event);
                w.recompute_connectors(now);
            }
        }
        WorldAction::ConnectorDown(c) | WorldAction::ConnectorUp(c) => {
            let down = matches!(action, WorldAction::ConnectorDown(_));
            w.connector_admin_down[usize::from(c.0)] = down;
            for s in w.resolved.topology.connector(c).source_bridgeheads.clone() {
                w.tell_server(s, Input::ConnectorService(c, !down));
            }
            w.recompute_connectors(now);
        }
        WorldAction::SetMaster(g, s) => w.set_master(now, g, s),
        WorldAction::SetQuota { target, quota, .. } => {
            // A directory change: kept for servers that start later, told to the
            // mailbox's server now.
            let quota = quota.to_org();
            w.quota_changes.insert(target, quota);
            w.checker.quota_changed(now, target, quota);
            let topology = &w.resolved.topology;
            let store = match target {
                org::config::topology::QuotaTarget::Mailbox(m) => topology.directory.lookup(m).map(|e| e.store),
                org::config::topology::QuotaTarget::Store(s) => Some(s),
            };
            if let Some(server) = store.map(|s| topology.store(s).server) {
                w.tell_server(server, Input::Quota(target, quota));
            }
        }
        WorldAction::Backup(store) => {
            // A server that is down runs no backup.
            let server = w.resolved.topology.store(store).server;
            w.tell_server(server, Input::Backup(store));
        }
        WorldAction::PurgeBadmail(server, virtual_server) => w.tell_server(server, Input::PurgeBadmail(virtual_server)),
        WorldAction::DiskFailure(store, logs_lost) => {
            // A server that is down keeps its disks until it starts: the volume fails
            // only under a running server here [U].
            let server = w.resolved.topology.store(store).server;
            w.tell_server(server, Input::DiskFailure(store, logs_lost));
        }
        WorldAction::Restore { from, to, only } => {
            let config = w.resolved.topology.store(from);
            let source = (config.server, config.storage_group_id);
            let set = w.backup_media.get(&source).cloned().map(Box::new);
            let only = crate::resolve::restored_stores(&w.resolved.topology, from, only).collect();
            w.tell_server(to, Input::Restore(source, set, only));
        }
        WorldAction::Merge(server, rights) => w.tell_server(server, Input::Merge(rights)),
        WorldAction::PublicFolder(i) => {
            let order = w.resolved.public_orders[i].clone();
            // A server that is down takes no order; the organization-wide switch is in
            // the directory, read by a server when it starts.
            let stores = match order.store {
                Some(r) => vec![r],
                None => (0..w.resolved.topology.public_stores.len() as u16).map(ReplicaId).collect(),
            };
            if let PfAdmin::ContentReplication { stopped } = order.admin {
                w.public_content_stopped = stopped;
                w.checker.public_content_stopped(now, stopped);
            }
            for r in stores {
                let server = w.resolved.topology.public_store(r).server;
                w.tell_server(server, Input::PublicAdmin(Box::new(order.admin.clone())));
            }
        }
        WorldAction::Database(store, mount) => {
            // A server that is down takes no order; it mounts everything when it starts.
            let server = w.resolved.topology.store(store).server;
            w.tell_server(server, Input::Database(store, mount));
        }
        WorldAction::Crash(s, failure) => {
            w.crash(now, s, failure);
            drop(w);
            handle.kill(nodes[usize::from(s.0)].id());
        }
        WorldAction::DirectoryChange { dc, count, attributes, urgent, delete } => {
            w.tell_dc(dc, DcInput::Write { count, attributes, urgent, delete });
        }
        WorldAction::ClockSkew(dc, skew_ms) => {
            w.tell_dc(dc, DcInput::ClockSkew(skew_ms));
            let event = TraceEvent::DcClock { dc: w.resolved.dc_name(dc), skew_ms };
            w.record(now.as_ms(), "directory", &event);
        }
        WorldAction::DcDown(dc) | WorldAction::DcUp(dc) => {
            let up = matches!(action, WorldAction::DcUp(_));
            if w.dc_up[usize::from(dc.0)] != up {
                w.dc_up[usize::from(dc.0)] = up;
                let event = TraceEvent::DcState { dc: w.resolved.dc_name(dc), state: if up { "up" } else { "down" } };
                w.record(now.as_ms(), "directory", &event);
            }
        }
        WorldAction::HostDown(h) | WorldAction::HostUp(h) => {
            let up = matches!(action, WorldAction::HostUp(_));
            if w.host_up[usize::from(h.0)] != up {
                w.host_up[usize::from(h.0)] = up;
                let event = TraceEvent::HostState { host: w.host_name(h), state: if up { "up" } else { "down" } };
                w.record(now.as_ms(), "internet", &event);
            }
        }
        WorldAction::NodeDown(n, failure) => {
            let killed = w.node_down(now, n, failure);
            drop(w);
            for s in killed {
                handle.kill(nodes[usize::from(s.0)].id());
            }
        }
        WorldAction::NodeUp(n) => w.node_up(now, n),
        WorldAction::MoveMailboxes(i) => w.start_move_task(now, i),
        WorldAction::Restart(s) => {
            w.incarnation[usize::from(s.0)] += 1;
            drop(w);
            handle.restart(nodes[usize::from(s.0)].id());
        }
    }
}

impl World {
    /// An administrator's change to a recipient; with replication, a write on its DC,
    /// seen where it replicates.
    fn modify_recipient(&mut self, now: Instant, i: usize) {
        let m = &self.resolved.modifications[i];
        let event = TraceEvent::RecipientModified {
            recipient: self.address(m.recipient),
            attributes: m.change.attribute_names(),
        };
        if let Some(dc) = m.dc {
            let attrs = m.written.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let write = (recipient_object(m.recipient), attrs);
            self.tell_dc(dc, DcInput::ModifyRecipient(write));
        }
        self.record(now.as_ms(), "directory", &event);
    }

    /// A timeline `send`: its messages go to the sender's server. A server that is down
    /// takes nothing: the client's submission fails and nothing was accepted.
    fn send(&mut self, now: Instant, i: usize) {
        let spec = self.resolved.sends[i].clone();
        for _ in 0..spec.count {
            let number = self.next_message;
            self.next_message += 1;
            let message = Message {
                id: MessageId::Client(number),
                kind: MessageKind::Normal,
                sender: Some(spec.sender),
                size_bytes: spec.size_bytes,
                submitted_at: now,
                hop_count: 0,
                authenticated: spec.authenticated,
                header_recipients: spec.recipients[..spec.named].into(),
                scl: spec.scl,
                journaled: Default::default(),
                replication: None,
            };
            self.tell_server(spec.server, Input::Submit(Box::new(message), spec.recipients.clone(), spec.mapi));
        }
    }

    /// An administrator names a routing group's master: every server reads it.
    fn set_master(&mut self, now: Instant, group: RoutingGroupId, master: ServerId) {
        self.masters[usize::from(group.0)] = master;
        let event = TraceEvent::MasterChanged {
            routing_group: self.resolved.topology.routing_group(group).name.clone(),
            server: self.server_name(master).into(),
        };
        self.record(now.as_ms(), "directory", &event);
        for s in 0..self.inboxes.len() {
            self.tell_server(ServerId(s as u16), Input::MasterChange(group, master));
        }
    }
}

impl World {
    /// Takes a server down: its machine and what it had not made durable die with it,
    /// except that a power loss may leave part of its write in progress on disk (the
    /// node itself is killed by the caller).
    fn crash(&mut self, now: Instant, s: ServerId, failure: Failure) {
        let i = usize::from(s.0);
        // Closed, the inbox wakes its node (as a channel whose sender is dropped).
        self.inboxes[i].close();
        self.posts.of(Node::Server(s)).wake();
        self.posts.of(Node::Server(s)).close();
        let mut machine = self.machines[i].take().expect("a crash finds its server running");
        let node = self.server_name(s).to_string();
        let (lost_writes, torn) = match failure {
            Failure::Crash => (machine.unflushed_writes(), None),
            Failure::PowerLoss => {
                let rng = &mut self.power_rng;
                let batch = machine.power_loss(now, |n| org::Entropy::below(rng, n + 1));
                for op in &batch.written {
                    if let org::transport::queue_directory::DiskOp::Deliver { recipient, message, size_bytes, .. } = op
                    {
                        self.note_delivery_size(*recipient, *message, *size_bytes);
                    }
                }
                for fact in &batch.facts {
                    self.observe(now, s, fact);
                }
                for set in batch.backup_sets {
                    self.backup_media.insert((set.server, set.group), set);
                }
                let torn = batch.torn.as_ref().map(org::transport::queue_directory::DiskOp::kind);
                let lost = batch.lost;
                self.disks[i].power_loss(batch.written, batch.torn.as_ref());
                (lost, Some(torn))
            }
        };
        self.checker.server_stopped(s);
        self.moves_lost_with(now, s);
        self.sometimes.crashed(lost_writes > 0);
        let event = TraceEvent::ServerCrashed {
            lost_writes: lost_writes as u32,
            power_loss: torn.is_some(),
            torn: torn.flatten(),
        };
        self.record(now.as_ms(), &node, &event);
    }
}

/// Something the world itself scheduled (not a timeline step).
#[derive(Debug)]
pub(super) enum Scheduled {
    /// A cluster brings a virtual server online on a node.
    Online { cluster: u16, server: ServerId, node: org::cluster::cluster_service::NodeIndex },
    /// A Move Mailbox task's cancel time.
    CancelMoves(usize),
    /// An OAB client's daily download time.
    OabDownload { population: u32, client: u32 },
    /// An OAB client's download has crossed the network.
    OabArrived(Box<super::oab_clients::InFlight>),
}

/// Carries out what the world scheduled for now.
pub(super) fn scheduled(world: &Shared, handle: &Handle, nodes: &[NodeHandle], now: Instant, what: Scheduled) {
    let mut w = lock(world);
    match what {
        Scheduled::CancelMoves(i) => w.cancel_moves(i),
        Scheduled::OabDownload { population, client } => w.oab_download(now, population, client),
        Scheduled::OabArrived(download) => w.oab_arrived(now, *download),
        Scheduled::Online { cluster, server, node } => {
            let c = usize::from(cluster);
            let Some(failover) = w.clusters[c].online(server, node, now) else { return };
            let config = w.clusters[c].config();
            let event = TraceEvent::ClusterFailover {
                virtual_server: w.server_name(server).to_string(),
                from_node: config.nodes[usize::from(failover.from.0)].clone(),
                to_node: config.nodes[usize::from(failover.to.0)].clone(),
                offline_ms: failover.offline_ms,
            };
            let name = config.name.clone();
            w.record(now.as_ms(), &name, &event);
            w.incarnation[usize::from(server.0)] += 1;
            drop(w);
            handle.restart(nodes[usize::from(server.0)].id());
        }
    }
}

impl World {
    /// A cluster node fails: the virtual servers it owns crash (returned, for the caller
    /// to kill their nodes) and are scheduled online elsewhere.
    fn node_down(&mut self, now: Instant, n: crate::resolve::ClusterNode, failure: Failure) -> Vec<ServerId> {
        self.trace_node(now, n, "down");
        let actions = self.clusters[usize::from(n.cluster)].node_down(n.node, now);
        let mut killed = Vec::new();
        for action in actions {
            match action {
                ClusterAction::Offline { server } => {
                    self.crash(now, server, failure);
                    killed.push(server);
                }
                ClusterAction::OnlineAt { server, node, at } => {
                    self.schedule(at, Scheduled::Online { cluster: n.cluster, server, node })
                }
            }
        }
        killed
    }

    /// A failed node returns: virtual servers waiting for a node are scheduled on it.
    fn node_up(&mut self, now: Instant, n: crate::resolve::ClusterNode) {
        self.trace_node(now, n, "up");
        for action in self.clusters[usize::from(n.cluster)].node_up(n.node, now) {
            match action {
                ClusterAction::OnlineAt { server, node, at } => {
                    self.schedule(at, Scheduled::Online { cluster: n.cluster, server, node })
                }
                ClusterAction::Offline { .. } => debug_assert!(false, "a returning node stops nothing"),
            }
        }
    }

    fn trace_node(&mut self, now: Instant, n: crate::resolve::ClusterNode, state: &'static str) {
        let event = TraceEvent::ClusterNode { cluster_node: self.resolved.node_name(n).to_string(), state };
        let cluster = self.resolved.clusters[usize::from(n.cluster)].name.clone();
        self.record(now.as_ms(), &cluster, &event);
    }

    pub(super) fn schedule(&mut self, at: Instant, what: Scheduled) {
        self.scheduled.insert((at.as_ms(), self.scheduled_count), what);
        self.scheduled_count += 1;
    }
}
