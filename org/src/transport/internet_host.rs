//! A mail host beyond the organization: an MX host of an Internet domain, an ISP's smart
//! host, or a foreign X.400 MTA. It speaks the receiving side of SMTP (the MTA's P1
//! transfer is carried the same way: only its bytes and timing matter here) and accepts
//! every recipient: what happens to mail past the organization's edge is outside the
//! model. Unresponsive hosts are a fault of the world (the simulator drops their
//! packets), not a state of this machine.

use crate::transport::smtp_protocol::{ConnId, Frame, InboundSession, InboundStep, Packet, SmtpReply};
use crate::ServerId;
use std::collections::BTreeMap;

/// One external mail host's SMTP listener.
#[derive(Clone, Debug, Default)]
pub struct InternetMailHost {
    /// Open sessions with the order they were opened in.
    sessions: BTreeMap<ConnId, (u64, InboundSession)>,
    opened: u64,
    /// Messages accepted so far.
    pub accepted_messages: u64,
}

/// Open sessions a host keeps [U]: past this it drops the oldest, as an SMTP server's
/// idle timeout would drop a session whose client vanished (a link failed mid-session).
const MAX_SESSIONS: usize = 1_000;

impl InternetMailHost {
    /// A host with no sessions.
    pub fn new() -> Self {
        InternetMailHost::default()
    }

    /// A packet from an Exchange server; returns the packets to send back to it.
    pub fn handle_packet(&mut self, from: ServerId, packet: Packet) -> Vec<Packet> {
        debug_assert_eq!(packet.conn.client, from, "Exchange servers open every session with a host");
        let conn = packet.conn;
        let reply = |frame| vec![Packet { conn, frame }];
        match packet.frame {
            Frame::Connect => {
                if self.sessions.len() >= MAX_SESSIONS {
                    let oldest = self.sessions.iter().min_by_key(|(_, (opened, _))| *opened).map(|(c, _)| *c);
                    self.sessions.remove(&oldest.expect("the map is full"));
                }
                self.opened += 1;
                self.sessions.insert(conn, (self.opened, InboundSession::new()));
                debug_assert!(self.sessions.len() <= MAX_SESSIONS);
                reply(Frame::Replies(vec![SmtpReply::ServiceReady]))
            }
            Frame::Commands(commands) => {
                let Some((_, session)) = self.sessions.get_mut(&conn) else {
                    return reply(Frame::Reset);
                };
                let mut replies = Vec::with_capacity(commands.len());
                let mut closed = false;
                for command in commands {
                    match session.handle(command, None) {
                        InboundStep::Reply(r) => replies.push(r),
                        // Not an Exchange server: no X-LINK2STATE here.
                        InboundStep::LinkState(_) => replies.push(SmtpReply::Unrecognized),
                        InboundStep::Accept { .. } => {
                            self.accepted_messages += 1;
                            replies.push(SmtpReply::Queued);
                        }
                        InboundStep::Close(r) => {
                            replies.push(r);
                            closed = true;
                            break;
                        }
                    }
                }
                if closed {
                    self.sessions.remove(&conn);
                }
                reply(Frame::Replies(replies))
            }
            Frame::Replies(_) | Frame::LinkState(_) | Frame::Reset => {
                self.sessions.remove(&conn);
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Message, MessageId, MessageKind};
    use crate::time::Instant;
    use crate::transport::smtp_protocol::SessionSeq;
    use crate::transport::smtp_protocol::SmtpCommand;
    use crate::AddressId;

    #[test]
    fn accepts_any_recipient_and_closes_on_quit() {
        let mut host = InternetMailHost::new();
        let conn = ConnId { client: ServerId(0), seq: SessionSeq(1) };
        let out = host.handle_packet(ServerId(0), Packet { conn, frame: Frame::Connect });
        assert_eq!(out[0].frame, Frame::Replies(vec![SmtpReply::ServiceReady]));
        let message = Message {
            id: MessageId::Client(1),
            kind: MessageKind::Normal,
            sender: Some(AddressId(1)),
            size_bytes: 10_000_000,
            submitted_at: Instant::ZERO,
            hop_count: 1,
            authenticated: true,
            header_recipients: Default::default(),
            scl: crate::message::SCL_NOT_RATED,
            journaled: Default::default(),
            replication: None,
        };
        let commands = vec![
            SmtpCommand::Ehlo,
            SmtpCommand::MailFrom { sender: Some(AddressId(1)), size_bytes: 10_000_000 },
            SmtpCommand::RcptTo(AddressId(77)),
            SmtpCommand::Data,
            SmtpCommand::Content(Box::new(message)),
            SmtpCommand::Quit,
        ];
        let out = host.handle_packet(ServerId(0), Packet { conn, frame: Frame::Commands(commands) });
        let Frame::Replies(replies) = &out[0].frame else { panic!("{out:?}") };
        assert!(replies.contains(&SmtpReply::Queued), "{replies:?}");
        assert_eq!(replies.last(), Some(&SmtpReply::Closing));
        assert_eq!(host.accepted_messages, 1);
        let out = host.handle_packet(ServerId(0), Packet { conn, frame: Frame::Commands(vec![SmtpCommand::Quit]) });
        assert_eq!(out[0].frame, Frame::Reset, "the session is gone after QUIT");
    }

    #[test]
    fn a_full_host_drops_its_oldest_session_not_new_ones() {
        let mut host = InternetMailHost::new();
        let connect = |host: &mut InternetMailHost, seq| {
            let conn = ConnId { client: ServerId(0), seq: SessionSeq(seq) };
            host.handle_packet(ServerId(0), Packet { conn, frame: Frame::Connect })
        };
        for seq in 0..=MAX_SESSIONS as u64 {
            let out = connect(&mut host, seq);
            assert_eq!(out[0].frame, Frame::Replies(vec![SmtpReply::ServiceReady]), "session {seq} is served");
        }
        let ehlo = |host: &mut InternetMailHost, seq| {
            let conn = ConnId { client: ServerId(0), seq: SessionSeq(seq) };
            host.handle_packet(ServerId(0), Packet { conn, frame: Frame::Commands(vec![SmtpCommand::Ehlo]) })
        };
        assert_eq!(ehlo(&mut host, 0)[0].frame, Frame::Reset, "the oldest was dropped");
        assert_eq!(ehlo(&mut host, 1)[0].frame, Frame::Replies(vec![SmtpReply::EhloOk]));
    }
}
