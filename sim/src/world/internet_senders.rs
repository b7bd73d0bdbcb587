//! Clients outside the organization (the scenario's `internet_senders`) on their
//! Internet host: sessions started as a Poisson process, each sending one message to an
//! inbound virtual server with the client state machine of
//! [`org::transport::internet_sender`]. What the server does with them is traced by the
//! server; a session whose server vanished is forgotten after a while.

use crate::resolve::message_delivery::SenderSpec;
use crate::resolve::Resolved;
use crate::rng::Stream;
use org::transport::internet_sender::{SenderScript, SenderSession};
use org::transport::smtp_filters::edge_session::{EdgeConnId, EdgeContent, EdgeFrame, EdgeNode, EdgePacket, Exch50};
use org::{HostId, ServerId};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// A session with no frame for this long is given up [U] (the server's idle timeout is
/// shorter, so it has long dropped it).
const GIVE_UP_MS: u64 = 30 * 60_000;

struct Population {
    spec: SenderSpec,
    rng: Stream,
    next_ms: Option<f64>,
}

impl Population {
    fn draw_after(&mut self, t_ms: f64) -> Option<f64> {
        let gap = -(1.0 - self.rng.unit()).ln() / self.spec.rate_per_ms;
        let at = t_ms.max(self.spec.from_ms as f64) + gap;
        (at < self.spec.until_ms as f64).then_some(at)
    }

    /// One session's script.
    fn script(&mut self, message_id: u64) -> (Ipv4Addr, SenderScript) {
        let (spec, rng) = (&self.spec, &mut self.rng);
        let pick = |rng: &mut Stream, list: &[String]| {
            list[((rng.unit() * list.len() as f64) as usize).min(list.len() - 1)].clone()
        };
        let offset = ((rng.unit() * f64::from(spec.ip_count)) as u32).min(spec.ip_count - 1);
        let ip = Ipv4Addr::from(spec.ip_first.wrapping_add(offset));
        let mail_from = pick(rng, &spec.senders);
        let header_from = if spec.header_from.is_empty() { mail_from.clone() } else { pick(rng, &spec.header_from) };
        let mut recipients = Vec::with_capacity(spec.recipients_per_message as usize);
        for _ in 0..spec.recipients_per_message {
            let u = rng.unit();
            let list: &[String] = if u < spec.shares[0] {
                &spec.valid
            } else if u < spec.shares[0] + spec.shares[1] {
                &spec.invalid
            } else {
                &spec.relay
            };
            let list = if list.is_empty() { &spec.valid[..] } else { list };
            if !list.is_empty() {
                recipients.push(pick(rng, list));
            }
        }
        let u = rng.unit();
        let scl = spec.scl_cumulative.iter().position(|c| u < *c).unwrap_or(9) as i8;
        let header_from = (!header_from.is_empty()).then_some(header_from);
        let message_id = org::message::MessageId::Client(message_id);
        let content =
            EdgeContent { header_from, size_bytes: spec.size_bytes, content_scl: scl, message_id, headers: None };
        // Their IMF rated the content as ours would.
        let exch50 = spec.exch50.then_some(Exch50 { scl });
        (ip, SenderScript { account: spec.account.clone(), mail_from, recipients, content, exch50 })
    }
}

/// The sender populations of one Internet host and their open sessions.
pub(super) struct Senders {
    host: HostId,
    populations: Vec<Population>,
    sessions: BTreeMap<u64, (SenderSession, u64)>,
    next_seq: u64,
    /// When stale sessions are next swept out (once a minute, not on every wake).
    next_sweep_ms: u64,
}

impl Senders {
    pub(super) fn new(resolved: &Resolved, host: HostId, seed: u64) -> Senders {
        let mut populations: Vec<Population> = (resolved.internet_senders.iter())
            .filter(|s| s.host == host)
            .map(|spec| Population {
                rng: Stream::new(seed, &format!("internet-senders:{}", spec.name)),
                spec: spec.clone(),
                next_ms: None,
            })
            .collect();
        for p in &mut populations {
            p.next_ms = p.draw_after(0.0);
        }
        Senders { host, populations, sessions: BTreeMap::new(), next_seq: 0, next_sweep_ms: 60_000 }
    }

    /// When the next session starts, in ms.
    pub(super) fn next_due_ms(&self) -> Option<u64> {
        self.populations.iter().filter_map(|p| p.next_ms).map(|ms| ms.ceil() as u64).min()
    }

    /// Starts every session due by `now_ms`: the connects to send, to their servers.
    pub(super) fn start_due(
        &mut self,
        resolved: &Resolved,
        now_ms: u64,
        next_message: &mut u64,
    ) -> Vec<(ServerId, EdgePacket)> {
        let mut out = Vec::new();
        for p in &mut self.populations {
            while let Some(due) = p.next_ms.filter(|ms| *ms <= now_ms as f64) {
                p.next_ms = p.draw_after(due);
                let number = *next_message;
                *next_message += 1;
                let (ip, script) = p.script(number);
                let conn = EdgeConnId { client: EdgeNode::Host(self.host), seq: self.next_seq };
                self.next_seq += 1;
                self.sessions.insert(conn.seq, (SenderSession::new(script), now_ms));
                let (server, _) = resolved.topology.edge.virtual_servers[usize::from(p.spec.virtual_server)];
                let frame = EdgeFrame::Connect { virtual_server: p.spec.virtual_server, ip };
                out.push((server, EdgePacket { conn, frame }));
            }
        }
        if now_ms >= self.next_sweep_ms {
            self.next_sweep_ms = now_ms + 60_000;
            self.sessions.retain(|_, (s, last)| !s.is_done() && now_ms.saturating_sub(*last) < GIVE_UP_MS);
        }
        out
    }

    /// A frame from a server; the frame to send back, if any.
    pub(super) fn handle(&mut self, now_ms: u64, packet: EdgePacket) -> Option<EdgePacket> {
        let conn = packet.conn;
        let (session, last) = self.sessions.get_mut(&conn.seq)?;
        *last = now_ms;
        let batch = match packet.frame {
            EdgeFrame::Replies(replies) => session.replies(&replies),
            EdgeFrame::Closed => {
                session.closed();
                None
            }
            EdgeFrame::Connect { .. } | EdgeFrame::Commands(_) => None,
        };
        if session.is_done() && batch.is_none() {
            self.sessions.remove(&conn.seq);
        }
        batch.map(|commands| EdgePacket { conn, frame: EdgeFrame::Commands(commands) })
    }
}
