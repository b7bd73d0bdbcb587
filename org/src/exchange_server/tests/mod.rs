use super::*;
use crate::config::topology::Delivery;
use crate::message::{MessageId, MessageKind};
use crate::routing::link_state::{ConnectorState, VersionBump};
use crate::routing::routing_group_master::Decision;
use crate::test_topology::{two_groups, two_groups_of, Counter};
use crate::trace::MoveOutcome;
use crate::transport::advanced_queuing::{LinkQueueState, QueueKey};
use crate::transport::dsn::DsnCode;
use crate::transport::queue_directory::QueueItemId;
use crate::version::ExchangeVersion;
use crate::RoutingGroupId;

fn message(n: u64) -> Message {
    Message {
        id: MessageId::Client(n),
        kind: MessageKind::Normal,
        sender: Some(AddressId(1)),
        size_bytes: 4096,
        submitted_at: Instant::ZERO,
        hop_count: 0,
        authenticated: true,
        header_recipients: Default::default(),
        scl: crate::message::SCL_NOT_RATED,
        journaled: Default::default(),
        replication: None,
    }
}

/// A server restarted (incarnation 1) on what `disk` holds, with its random stream
/// seeded `rng`.
fn restart(id: ServerId, topo: Arc<Topology>, disk: &mut DiskImage, rng: u64, at: Instant) -> ExchangeServer {
    ExchangeServer::recover(id, topo, disk, &StartConditions::default(), Box::new(Counter(rng)), 1, at)
}

/// EX0 and EX1 of `topo`, new, with empty disks.
fn two_servers(topo: &Arc<Topology>) -> ([ExchangeServer; 2], [DiskImage; 2]) {
    let servers = [
        ExchangeServer::new(ServerId(0), topo.clone(), Box::new(Counter(1))),
        ExchangeServer::new(ServerId(1), topo.clone(), Box::new(Counter(2))),
    ];
    (servers, [DiskImage::default(), DiskImage::default()])
}

/// Runs two servers against each other with zero network delay until quiet or `until`.
fn pump(servers: &mut [ExchangeServer; 2], disks: &mut [DiskImage; 2], until: Instant) -> Vec<ServerEvent> {
    pump_with(servers, disks, until, true)
}

/// [`pump`], losing every link state message outside SMTP sessions unless
/// `side_channel`.
fn pump_with(
    servers: &mut [ExchangeServer; 2],
    disks: &mut [DiskImage; 2],
    until: Instant,
    side_channel: bool,
) -> Vec<ServerEvent> {
    let mut events = Vec::new();
    let mut now = Instant::ZERO;
    loop {
        let mut moved = false;
        for i in 0..2 {
            for out in servers[i].drain_outputs() {
                moved = true;
                match out {
                    Output::Send { to, packet } => {
                        let from = servers[i].id();
                        servers[usize::from(to.0)].handle_packet(now, from, packet)
                    }
                    Output::LinkState { to, message } => {
                        if side_channel {
                            let from = servers[i].id();
                            servers[usize::from(to.0)].handle_link_state(now, from, message)
                        }
                    }
                    Output::Move { to, message } => {
                        let from = servers[i].id();
                        servers[usize::from(to.0)].handle_move_message(now, from, message)
                    }
                    Output::Persist(ops) => ops.into_iter().for_each(|op| disks[i].apply(op)),
                    Output::Event(e) => events.push(e),
                    Output::SendHost { .. } | Output::Dns { .. } | Output::SendEdge { .. } | Output::EdgeDns { .. } => {
                        panic!("no Internet here")
                    }
                    Output::Ldap { .. } => panic!("no groups here"),
                    Output::OabGenerated(_) => panic!("no offline address books here"),
                    Output::BackupSet(_) => {}
                }
            }
        }
        if moved {
            continue;
        }
        let next = servers.iter().filter_map(|s| s.poll_timeout()).min();
        match next {
            Some(t) if t <= until => {
                now = t;
                servers.iter_mut().for_each(|s| s.handle_timeout(now));
            }
            _ => return events,
        }
    }
}

/// Runs one server's timers until `until`, applying its writes; returns its events.
fn run_alone(server: &mut ExchangeServer, disk: &mut DiskImage, until: Instant) -> Vec<ServerEvent> {
    run_with_media(server, disk, until).0
}

/// [`run_alone`], also returning the backup sets the server handed to the media.
fn run_with_media(
    server: &mut ExchangeServer,
    disk: &mut DiskImage,
    until: Instant,
) -> (Vec<ServerEvent>, Vec<crate::store::backup::BackupSet>) {
    let (mut events, mut sets) = (Vec::new(), Vec::new());
    while let Some(t) = server.poll_timeout().filter(|t| *t <= until) {
        server.handle_timeout(t);
        for out in server.drain_outputs() {
            match out {
                Output::Persist(ops) => ops.into_iter().for_each(|op| disk.apply(op)),
                Output::Event(e) => events.push(e),
                Output::BackupSet(set) => sets.push(*set),
                _ => {}
            }
        }
    }
    (events, sets)
}

mod backup;
mod public_folders;
mod routing;
mod store;
mod transport;
