//! The sending side of a session with another organization's inbound virtual server
//! (EXCHANGE2003.md §6): an SMTP connector whose smart host is a bridgehead of another
//! forest. The other side is that organization's edge (its filter chain, its own
//! accounts), so the session speaks the edge's vocabulary: EHLO and, with the
//! connector's Basic outbound security, AUTH; per message MAIL, the RCPTs and XEXCH50
//! pipelined, the blob after a 354 (a 504 loses only the blob, KB 843106), then DATA and
//! the content; RSET after a transaction that did not end in 250 Queued. A 5xx to a
//! recipient (or to the whole message) NDRs it; a 4xx puts it back, and when the session
//! ends its queue waits for the next retry [U: Exchange retries such recipients on the
//! queue's schedule].

use super::*;
use crate::config::topology::OutboundSecurity;
use crate::directory::global_catalog::Recipient;
use crate::transport::smtp_filters::edge_session::{
    CarriedHeaders, EdgeCommand, EdgeConnId, EdgeContent, EdgeFrame, EdgeNode, EdgePacket, EdgeReply, Exch50,
    Exch50Fate, EXCH50_BLOB_BYTES,
};

/// A session with another organization, past its TCP connect.
#[derive(Clone, Debug)]
pub(super) struct Foreign {
    step: Step,
    /// Replies to the batch out so far, and how many the batch gets.
    got: Vec<EdgeReply>,
    due: usize,
    /// AUTH succeeded.
    authenticated: bool,
    /// Recipients a 4xx put off in this session, and the first such code.
    deferred: Vec<QueueEntry>,
    deferred_code: u16,
}

#[derive(Clone, Debug)]
enum Step {
    /// Connect sent, waiting for the banner.
    Banner,
    /// EHLO (and AUTH) sent.
    Hello,
    /// MAIL, the RCPTs and XEXCH50 sent.
    Envelope(Transaction),
    /// The Exch50 blob sent.
    Exch50(Transaction),
    /// DATA sent.
    Data(Transaction),
    /// The content sent.
    Content(Transaction),
    /// RSET sent after a transaction that did not end in 250.
    Reset,
}

/// One message in flight: its recipients still in play, as queued here and as named in
/// RCPT TO there, and its blob's fate.
#[derive(Clone, Debug)]
struct Transaction {
    entry: QueueEntry,
    addressed: Vec<AddressId>,
    exch50: Exch50Fate,
}

impl Foreign {
    fn new() -> Foreign {
        Foreign {
            step: Step::Banner,
            got: Vec::new(),
            due: 1,
            authenticated: false,
            deferred: Vec::new(),
            deferred_code: 0,
        }
    }

    /// Whether a message is in flight (for the queue's count).
    pub(super) fn carries_mail(&self) -> bool {
        matches!(self.step, Step::Envelope(_) | Step::Exch50(_) | Step::Data(_) | Step::Content(_))
    }

    /// What the session holds that goes back to its queue when it fails: the message in
    /// flight and the recipients put off.
    pub(super) fn into_entries(self) -> Vec<QueueEntry> {
        let mut out = self.deferred;
        if let Step::Envelope(t) | Step::Exch50(t) | Step::Data(t) | Step::Content(t) = self.step {
            out.push(t.entry);
        }
        out
    }
}

/// The NDR code for a refusal from the other organization [U: 5.7.1 for its policy
/// refusals, 5.2.3 (orgsim's size code) for its size limit, 5.0.0 for anything else].
fn refusal_code(reply: &EdgeReply) -> DsnCode {
    match reply {
        EdgeReply::SizeExceeded => DsnCode::MessageTooLarge,
        EdgeReply::RecipientRefused
        | EdgeReply::RelayDenied(_)
        | EdgeReply::Blocklisted(_)
        | EdgeReply::SenderDenied(_)
        | EdgeReply::NotAuthenticated
        | EdgeReply::SubmitDenied
        | EdgeReply::SenderIdRejected
        | EdgeReply::ImfRejected => DsnCode::AccessDenied,
        _ => DsnCode::NoRoute,
    }
}

impl SmtpService {
    /// The other organization's bridgehead and inbound virtual server a queue's mail goes
    /// to from this server, when it is a source bridgehead of such a connector.
    pub(super) fn foreign_target(&self, hop: NextHop) -> Option<(ServerId, u16)> {
        let NextHop::Gateway(g) = hop else { return None };
        let gateway = self.topology.gateway(g);
        match gateway.delivery {
            Delivery::Organization { server, virtual_server } if gateway.source_bridgeheads.contains(&self.id) => {
                Some((server, virtual_server))
            }
            _ => None,
        }
    }

    /// Opens a session for `hop` to the other organization's virtual server.
    pub(super) fn open_foreign(&mut self, now: Instant, hop: NextHop, (server, virtual_server): (ServerId, u16)) {
        let seq = self.open_session(hop, Peer::Server(server), Phase::Foreign(Box::new(Foreign::new())));
        let deadline = now.plus_ms(self.topology.server(self.id).smtp.connect_timeout_ms);
        self.outbound.get_mut(&seq).expect("opened above").deadline = deadline;
        let frame = EdgeFrame::Connect { virtual_server, ip: self.topology.server(self.id).ip };
        self.send_foreign_frame(server, seq, frame);
        self.timers.set(Timer::Outbound(seq), deadline);
    }

    fn send_foreign_frame(&mut self, server: ServerId, seq: SessionSeq, frame: EdgeFrame) {
        let conn = EdgeConnId { client: EdgeNode::Server(self.id), seq: seq.0 };
        self.out.output(Output::SendEdge { to: EdgeNode::Server(server), packet: EdgePacket { conn, frame } });
    }

    /// Sends a batch of commands that gets `due` replies; the last must come within the
    /// connection timeout.
    fn send_foreign(&mut self, now: Instant, seq: SessionSeq, step: Step, commands: Vec<EdgeCommand>, due: usize) {
        let deadline = now.plus_ms(self.topology.server(self.id).smtp.connection_timeout_ms);
        let session = self.outbound.get_mut(&seq).expect("commands go on open sessions");
        session.deadline = session.deadline.max(deadline);
        let Peer::Server(server) = session.peer else { unreachable!("other organizations' servers") };
        match &mut session.phase {
            Phase::Foreign(f) => {
                f.step = step;
                f.due = due;
                debug_assert!(f.got.is_empty(), "a batch goes once the last is answered");
            }
            _ => unreachable!("batches go on sessions with another organization"),
        }
        self.send_foreign_frame(server, seq, EdgeFrame::Commands(commands));
        if !self.timers.is_set(Timer::Outbound(seq)) {
            self.timers.set(Timer::Outbound(seq), deadline);
        }
    }

    /// A frame from the other organization's server on one of this server's sessions.
    pub(super) fn handle_foreign_frame(&mut self, now: Instant, from: ServerId, packet: EdgePacket) {
        let seq = SessionSeq(packet.conn.seq);
        let Some(session) = self.outbound.get_mut(&seq) else { return };
        if session.peer != Peer::Server(from) {
            return;
        }
        let replies = match (packet.frame, &mut session.phase) {
            (_, Phase::Quitting) => return self.close_session(now, seq),
            (EdgeFrame::Replies(replies), Phase::Foreign(_)) => replies,
            (EdgeFrame::Closed, Phase::Foreign(_)) => return self.foreign_closed(now, seq),
            _ => return,
        };
        let Phase::Foreign(f) = &mut session.phase else { unreachable!("matched above") };
        f.got.extend(replies);
        if f.got.len() < f.due {
            return;
        }
        let got = std::mem::take(&mut f.got);
        let step = std::mem::replace(&mut f.step, Step::Reset);
        self.foreign_answered(now, seq, step, got);
    }

    /// The other side closed the connection. A 5xx it sent first to the message's MAIL
    /// (a sender filter dropping the session) refuses the message; anything else in
    /// flight goes back to the queue, which retries.
    fn foreign_closed(&mut self, now: Instant, seq: SessionSeq) {
        let session = self.outbound.get_mut(&seq).expect("closed on an open session");
        let Phase::Foreign(f) = &mut session.phase else { unreachable!("a session with another organization") };
        let refusal = f.got.first().filter(|r| (500..600).contains(&r.code())).cloned();
        if let (Some(reply), Step::Envelope(_)) = (refusal, &f.step) {
            let Step::Envelope(t) = std::mem::replace(&mut f.step, Step::Reset) else { unreachable!("matched") };
            self.fail_recipients(now, t.entry.item, t.entry.recipients, refusal_code(&reply));
        }
        self.session_failed(now, seq, SessionFailure::Reset);
    }

    fn foreign_answered(&mut self, now: Instant, seq: SessionSeq, step: Step, got: Vec<EdgeReply>) {
        match step {
            Step::Banner if got == [EdgeReply::Banner] => self.foreign_hello(now, seq),
            Step::Hello if matches!(got.first(), Some(EdgeReply::Ehlo { .. })) => self.foreign_helloed(now, seq, &got),
            Step::Envelope(t) => self.foreign_envelope(now, seq, t, &got),
            Step::Exch50(t) => {
                let exch50 = if got == [EdgeReply::Exch50Ok] { t.exch50 } else { Exch50Fate::Dropped };
                self.send_foreign(now, seq, Step::Data(Transaction { exch50, ..t }), vec![EdgeCommand::Data], 1);
            }
            Step::Data(t) => match got.first() {
                Some(EdgeReply::StartMailInput) => self.foreign_content(now, seq, t),
                reply => {
                    self.foreign_refused(now, seq, t.entry, reply);
                    self.send_foreign(now, seq, Step::Reset, vec![EdgeCommand::Rset], 1);
                }
            },
            Step::Content(t) => match got.first() {
                Some(EdgeReply::Queued) => self.foreign_queued(now, seq, t),
                reply => {
                    self.foreign_refused(now, seq, t.entry, reply);
                    self.next_foreign_message(now, seq);
                }
            },
            Step::Reset => self.next_foreign_message(now, seq),
            Step::Banner | Step::Hello => {
                let code = got.first().map_or(0, EdgeReply::code);
                self.session_failed(now, seq, SessionFailure::Rejected(code));
            }
        }
    }

    fn foreign_hello(&mut self, now: Instant, seq: SessionSeq) {
        let hop = self.outbound[&seq].hop;
        let NextHop::Gateway(g) = hop else { unreachable!("sessions with other organizations serve gateways") };
        let fqdn = self.topology.server(self.id).fqdn.clone();
        let mut commands = vec![EdgeCommand::Ehlo(fqdn)];
        if let OutboundSecurity::Basic { account, password } = &self.topology.gateway(g).outbound_security {
            commands.push(EdgeCommand::Auth { account: account.clone(), password: password.clone() });
        }
        let due = commands.len();
        self.send_foreign(now, seq, Step::Hello, commands, due);
    }

    /// EHLO answered (and AUTH): a refused AUTH ends the session, which the queue
    /// retries [U: the SMTP service fails the connection; it does not fall back to
    /// anonymous].
    fn foreign_helloed(&mut self, now: Instant, seq: SessionSeq, got: &[EdgeReply]) {
        match got.get(1) {
            None => {}
            Some(EdgeReply::AuthOk) => {
                if let Phase::Foreign(f) = &mut self.outbound.get_mut(&seq).expect("answered").phase {
                    f.authenticated = true;
                }
            }
            Some(refusal) => {
                let session = &self.outbound[&seq];
                let Peer::Server(to) = session.peer else { unreachable!("other organizations' servers") };
                let (queue, code) = (QueueKey::Link(session.hop), refusal.code());
                self.emit(ServerEvent::OutboundAuthFailed { queue, to, code });
                return self.session_failed(now, seq, SessionFailure::Rejected(code));
            }
        }
        self.next_foreign_message(now, seq);
    }

    /// The next message of the queue, pipelined as MAIL, the RCPTs and XEXCH50; or QUIT.
    pub(super) fn next_foreign_message(&mut self, now: Instant, seq: SessionSeq) {
        let limit = self.topology.server(self.id).smtp.messages_per_connection;
        let (hop, sent) = (self.outbound[&seq].hop, self.outbound[&seq].sent);
        loop {
            let queue = self.links.get_mut(&hop).expect("session queues exist");
            let entry = if sent < limit { queue.entries.pop_front() } else { None };
            if entry.is_none() && sent < limit && self.routing_asked > 0 {
                return self.parked.push(seq);
            }
            let Some(entry) = entry else { return self.foreign_quit(now, seq) };
            if self.expired(now, entry.item) {
                self.fail_recipients(now, entry.item, entry.recipients, DsnCode::Expired);
                continue;
            }
            let texts = &self.topology.edge.texts;
            let gal = self.topology.gal_of(self.id);
            // A contact (or mail-enabled user) is addressed at its target address.
            let addressed: Vec<AddressId> = (entry.recipients.iter())
                .map(|r| match gal.object(*r).map(|o| o.recipient) {
                    Some(Recipient::Forward(target)) => target,
                    _ => *r,
                })
                .collect();
            let text = |a: AddressId| texts.get(a.0 as usize).cloned();
            let message = &self.items[&entry.item].message;
            let sender = message.sender.and_then(text).unwrap_or_default();
            let size_bytes = message.size_bytes;
            let mut commands = vec![EdgeCommand::MailFrom { sender, size_bytes: Some(size_bytes) }];
            commands.extend(addressed.iter().map(|a| EdgeCommand::RcptTo(text(*a).unwrap_or_default())));
            commands.push(EdgeCommand::Xexch50 { size_bytes: EXCH50_BLOB_BYTES });
            let due = commands.len();
            let transaction = Transaction { entry, addressed, exch50: Exch50Fate::NotOffered };
            return self.send_foreign(now, seq, Step::Envelope(transaction), commands, due);
        }
    }

    /// The session is done: QUIT. Recipients put off go back to the front of the queue,
    /// which waits for its next retry.
    fn foreign_quit(&mut self, now: Instant, seq: SessionSeq) {
        let session = self.outbound.get_mut(&seq).expect("quitting an open session");
        let Phase::Foreign(f) = std::mem::replace(&mut session.phase, Phase::Quitting) else {
            unreachable!("a session with another organization")
        };
        let Peer::Server(server) = session.peer else { unreachable!("other organizations' servers") };
        self.send_foreign_frame(server, seq, EdgeFrame::Commands(vec![EdgeCommand::Quit]));
        if f.deferred.is_empty() {
            let deadline = now.plus_ms(self.topology.server(self.id).smtp.connection_timeout_ms);
            let session = self.outbound.get_mut(&seq).expect("quitting an open session");
            session.deadline = session.deadline.max(deadline);
            return;
        }
        let session = self.outbound.remove(&seq).expect("quitting an open session");
        self.timers.cancel(Timer::Outbound(seq));
        let queue = self.links.get_mut(&session.hop).expect("session queues exist");
        for entry in f.deferred.into_iter().rev() {
            queue.entries.push_front(entry);
        }
        self.link_failed(now, session, SessionFailure::Rejected(f.deferred_code));
    }

    /// The replies to MAIL, the RCPTs and XEXCH50: the recipients taken go on (the blob
    /// after a 354, DATA after a 504); refused ones are NDR'd, put-off ones wait.
    fn foreign_envelope(&mut self, now: Instant, seq: SessionSeq, t: Transaction, got: &[EdgeReply]) {
        debug_assert_eq!(got.len(), t.entry.recipients.len() + 2);
        let Transaction { entry, addressed, .. } = t;
        let mail_ok = matches!(got.first(), Some(EdgeReply::SenderOk(_)));
        let (mut taken, mut addressed_taken) = (Vec::new(), Vec::new());
        for (k, (r, a)) in entry.recipients.iter().zip(&addressed).enumerate() {
            // A refused MAIL answers every RCPT with a 503: the MAIL reply stands for all.
            let reply = if mail_ok { &got[k + 1] } else { &got[0] };
            match reply {
                EdgeReply::RecipientOk(_) => {
                    taken.push(*r);
                    addressed_taken.push(*a);
                }
                reply => {
                    self.foreign_refused(now, seq, QueueEntry { item: entry.item, recipients: vec![*r] }, Some(reply))
                }
            }
        }
        if taken.is_empty() {
            return self.send_foreign(now, seq, Step::Reset, vec![EdgeCommand::Rset], 1);
        }
        let entry = QueueEntry { item: entry.item, recipients: taken };
        let t = Transaction { entry, addressed: addressed_taken, exch50: Exch50Fate::NotOffered };
        match got.last() {
            Some(EdgeReply::SendBinary) => {
                let blob = Exch50 { scl: self.items[&t.entry.item].message.scl };
                let t = Transaction { exch50: Exch50Fate::Kept(blob), ..t };
                self.send_foreign(now, seq, Step::Exch50(t), vec![EdgeCommand::Exch50Blob(blob)], 1);
            }
            reply => {
                let exch50 = if reply == Some(&EdgeReply::NeedAuthFirst) { Exch50Fate::Dropped } else { t.exch50 };
                self.send_foreign(now, seq, Step::Data(Transaction { exch50, ..t }), vec![EdgeCommand::Data], 1);
            }
        }
    }

    /// Recipients the other organization would not take (`reply`, none when it sent
    /// nothing): NDR'd on a 5xx, put off on a 4xx.
    fn foreign_refused(&mut self, now: Instant, seq: SessionSeq, entry: QueueEntry, reply: Option<&EdgeReply>) {
        let code = reply.map_or(0, EdgeReply::code);
        if (500..600).contains(&code) {
            return self.fail_recipients(now, entry.item, entry.recipients, refusal_code(reply.expect("a code")));
        }
        let session = self.outbound.get_mut(&seq).expect("refused on an open session");
        let Phase::Foreign(f) = &mut session.phase else { unreachable!("a session with another organization") };
        if f.deferred.is_empty() {
            f.deferred_code = code;
        }
        f.deferred.push(entry);
    }

    /// DATA's 354: the message goes, with the headers an Exchange server writes.
    fn foreign_content(&mut self, now: Instant, seq: SessionSeq, t: Transaction) {
        let message = &self.items[&t.entry.item].message;
        let texts = &self.topology.edge.texts;
        let content = EdgeContent {
            header_from: message.sender.and_then(|s| texts.get(s.0 as usize).cloned()),
            size_bytes: message.size_bytes,
            // Their filter rates the content as this organization's did; mail never rated
            // here (internal) rates 0 [U].
            content_scl: message.scl.max(0),
            message_id: message.id,
            headers: Some(CarriedHeaders { hop_count: message.hop_count, submitted_at: message.submitted_at }),
        };
        self.send_foreign(now, seq, Step::Content(t), vec![EdgeCommand::Content(content)], 1);
    }

    /// 250 Queued: the other organization holds the message; its recipients are done here.
    fn foreign_queued(&mut self, now: Instant, seq: SessionSeq, t: Transaction) {
        let session = &self.outbound[&seq];
        let Peer::Server(to) = session.peer else { unreachable!("other organizations' servers") };
        let Phase::Foreign(f) = &session.phase else { unreachable!("a session with another organization") };
        let item = &self.items[&t.entry.item];
        self.emit(ServerEvent::TransferredOut {
            message: item.message.id,
            to,
            queue: QueueKey::Link(session.hop),
            recipients: t.entry.recipients.clone(),
            addressed: t.addressed,
            size_bytes: item.message.size_bytes,
            authenticated: f.authenticated,
            exch50: t.exch50,
        });
        self.recipients_done(t.entry.item, &t.entry.recipients);
        self.outbound.get_mut(&seq).expect("session exists").sent += 1;
        self.next_foreign_message(now, seq);
    }
}
