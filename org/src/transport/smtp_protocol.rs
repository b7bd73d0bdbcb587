//! The SMTP protocol between Exchange servers as values: commands, replies with their
//! real codes and enhanced status codes, and the receiving side's session state machine
//! (RFC 2821 with ESMTP PIPELINING, as the Windows SMTP service speaks it, and CHUNKING:
//! an Exchange 2000/2003 virtual server advertises it and Exchange servers send each
//! other mail with BDAT, RFC 3030; hosts beyond the organization get DATA).
//!
//! `X-LINK2STATE` is here as a command and a frame carrying link state between
//! bridgeheads of two routing groups ([`LinkStateExchange`]). Left out: AUTH, TLS,
//! BINARYMIME's effect on content and XEXCH50 (later issues); the message body is carried as a [`Message`]
//! value whose size is what crosses the wire.

use crate::config::topology::Topology;
use crate::message::Message;
use crate::routing::link_state::LinkStateExchange;
use crate::{AddressId, ServerId};
use serde::Serialize;

/// An SMTP connection's sequence number on the server that opened it: the high 32 bits
/// are the server's incarnation, so numbers are never reused across restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct SessionSeq(pub u64);

impl SessionSeq {
    /// The first number of an incarnation.
    pub fn first_of(incarnation: u32) -> SessionSeq {
        SessionSeq(u64::from(incarnation) << 32)
    }

    /// The number after this one.
    pub fn next(self) -> SessionSeq {
        SessionSeq(self.0 + 1)
    }
}

impl std::fmt::Display for SessionSeq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One SMTP connection, named by the server that opened it and its sequence number there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ConnId {
    /// The connecting (client) server.
    pub client: ServerId,
    /// Sequence number of the connection on that server.
    pub seq: SessionSeq,
}

/// A command sent by the client side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SmtpCommand {
    /// `EHLO <fqdn>`.
    Ehlo,
    /// `MAIL FROM:<sender> SIZE=n`; `None` is the null reverse path of a DSN.
    MailFrom {
        /// Reverse path.
        sender: Option<AddressId>,
        /// Declared size (the SIZE extension, RFC 1870).
        size_bytes: u64,
    },
    /// `RCPT TO:<recipient>`.
    RcptTo(AddressId),
    /// `DATA`.
    Data,
    /// The message text up to `<CRLF>.<CRLF>`.
    Content(Box<Message>),
    /// `BDAT <size> LAST` and the message (CHUNKING, RFC 3030): the whole message in one
    /// chunk, pipelined after MAIL and the RCPTs (RFC 3030 §4.2), so no round trip waits
    /// for a 354. Its reply is 250 Queued, once the message is durable.
    Bdat(Box<Message>),
    /// `X-LINK2STATE`: the sending bridgehead's digest, and its table when the other side
    /// may lack it; answered by [`Frame::LinkState`]. Never pipelined.
    XLink2State(LinkStateExchange),
    /// `QUIT`.
    Quit,
}

impl SmtpCommand {
    /// Bytes this command takes on the wire (addresses counted at a typical 32 bytes).
    pub fn wire_size_bytes(&self, topology: &Topology) -> u64 {
        match self {
            SmtpCommand::XLink2State(x) => x.wire_size_bytes(topology),
            SmtpCommand::Ehlo => 30,
            SmtpCommand::MailFrom { .. } => 52,
            SmtpCommand::RcptTo(_) => 42,
            SmtpCommand::Data => 6,
            SmtpCommand::Content(m) => m.size_bytes + 5,
            SmtpCommand::Bdat(m) => m.size_bytes + 16,
            SmtpCommand::Quit => 6,
        }
    }
}

/// A reply from the receiving side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SmtpReply {
    /// `220 <fqdn> Microsoft ESMTP MAIL Service … ready`.
    ServiceReady,
    /// `250-<fqdn> Hello` with the extension list (PIPELINING, SIZE, 8BITMIME …).
    EhloOk,
    /// The same, with CHUNKING and BINARYMIME in the list, as an Exchange 2000/2003
    /// virtual server answers (KB 821733 turns them off to make a sender use DATA).
    EhloChunking,
    /// `250 2.1.0 <addr>....Sender OK`.
    SenderOk,
    /// `250 2.1.5 <addr>`.
    RecipientOk,
    /// `354 Start mail input; end with <CRLF>.<CRLF>`.
    StartMailInput,
    /// `250 2.6.0 <id> Queued mail for delivery` — sent only once the message is durable.
    Queued,
    /// `221 2.0.0 <fqdn> Service closing transmission channel`.
    Closing,
    /// `503 5.5.2 Need mail command.` (a command out of sequence).
    BadSequence,
    /// `500 5.3.3 Unrecognized command` (a verb this side does not speak, such as
    /// X-LINK2STATE sent to a host that is not Exchange).
    Unrecognized,
    /// `552 5.3.4 Message size exceeds fixed maximum message size`.
    SizeExceeded,
}

impl SmtpReply {
    /// The three-digit reply code.
    pub fn code(self) -> u16 {
        match self {
            SmtpReply::ServiceReady => 220,
            SmtpReply::EhloOk
            | SmtpReply::EhloChunking
            | SmtpReply::SenderOk
            | SmtpReply::RecipientOk
            | SmtpReply::Queued => 250,
            SmtpReply::StartMailInput => 354,
            SmtpReply::Closing => 221,
            SmtpReply::BadSequence => 503,
            SmtpReply::Unrecognized => 500,
            SmtpReply::SizeExceeded => 552,
        }
    }

    /// The enhanced status code (RFC 3463), where the reply carries one.
    pub fn enhanced_status(self) -> Option<&'static str> {
        match self {
            SmtpReply::SenderOk => Some("2.1.0"),
            SmtpReply::RecipientOk => Some("2.1.5"),
            SmtpReply::Queued => Some("2.6.0"),
            SmtpReply::Closing => Some("2.0.0"),
            SmtpReply::BadSequence => Some("5.5.2"),
            SmtpReply::Unrecognized => Some("5.3.3"),
            SmtpReply::SizeExceeded => Some("5.3.4"),
            SmtpReply::ServiceReady | SmtpReply::EhloOk | SmtpReply::EhloChunking | SmtpReply::StartMailInput => None,
        }
    }

    /// Whether the reply is a positive completion or intermediate reply (2xx/3xx).
    pub fn is_positive(self) -> bool {
        self.code() < 400
    }

    /// Bytes on the wire (the EHLO reply lists its extensions).
    pub fn wire_size_bytes(self) -> u64 {
        match self {
            SmtpReply::EhloOk => 240,
            SmtpReply::EhloChunking => 272,
            _ => 64,
        }
    }
}

/// A unit carried between two servers' SMTP stacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// TCP connect to port 25.
    Connect,
    /// Pipelined commands (RFC 2920), in order.
    Commands(Vec<SmtpCommand>),
    /// Replies, one per command, in order.
    Replies(Vec<SmtpReply>),
    /// The receiving bridgehead's answer to `X-LINK2STATE`.
    LinkState(LinkStateExchange),
    /// TCP reset: the peer has no such connection (it restarted since).
    Reset,
}

/// An SMTP frame on one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The connection.
    pub conn: ConnId,
    /// What it carries.
    pub frame: Frame,
}

impl Packet {
    /// Bytes on the wire, including a 40-byte TCP/IP header per frame.
    pub fn wire_size_bytes(&self, topology: &Topology) -> u64 {
        40 + match &self.frame {
            Frame::Connect | Frame::Reset => 0,
            Frame::Commands(c) => c.iter().map(|c| c.wire_size_bytes(topology)).sum(),
            Frame::Replies(r) => r.iter().map(|r| r.wire_size_bytes()).sum(),
            Frame::LinkState(x) => x.wire_size_bytes(topology),
        }
    }

    /// The link state table this packet carries in an `X-LINK2STATE` turn, if any.
    pub fn link_state_table(&self) -> Option<&LinkStateExchange> {
        match &self.frame {
            Frame::LinkState(x) => Some(x),
            Frame::Commands(c) => c.iter().find_map(|c| match c {
                SmtpCommand::XLink2State(x) => Some(x),
                _ => None,
            }),
            Frame::Connect | Frame::Replies(_) | Frame::Reset => None,
        }
        .filter(|x| x.info.is_some())
    }
}

/// Where the receiving side of a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InboundState {
    /// Banner sent, waiting for EHLO.
    Connected,
    /// EHLO done, no transaction open.
    Greeted,
    /// MAIL FROM accepted.
    Mail,
    /// At least one RCPT TO accepted.
    Recipients,
    /// 354 sent, waiting for the content.
    Data,
    /// QUIT answered.
    Closed,
}

/// What the receiving side does with one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundStep {
    /// Answer now.
    Reply(SmtpReply),
    /// A complete message: make it durable, then answer [`SmtpReply::Queued`].
    Accept {
        /// The envelope's recipients, in RCPT order.
        recipients: Vec<AddressId>,
        /// The message.
        message: Box<Message>,
    },
    /// Answer and close the connection.
    Close(SmtpReply),
    /// `X-LINK2STATE` after EHLO, outside a transaction: the server merges the table and
    /// answers with a [`Frame::LinkState`].
    LinkState(LinkStateExchange),
}

/// The receiving side of one SMTP session.
#[derive(Clone, Debug)]
pub struct InboundSession {
    state: InboundState,
    recipients: Vec<AddressId>,
    /// Whether this side offers CHUNKING (an Exchange server does).
    chunking: bool,
}

impl Default for InboundSession {
    fn default() -> Self {
        InboundSession::new()
    }
}

impl InboundSession {
    /// A session that has just sent its 220 banner, on a host that speaks SMTP with
    /// PIPELINING but not CHUNKING.
    pub fn new() -> Self {
        InboundSession { state: InboundState::Connected, recipients: Vec::new(), chunking: false }
    }

    /// The same on an Exchange server's virtual server, which also offers CHUNKING.
    pub fn with_chunking() -> Self {
        InboundSession { chunking: true, ..InboundSession::new() }
    }

    /// Whether QUIT has been answered.
    pub fn is_closed(&self) -> bool {
        self.state == InboundState::Closed
    }

    /// Handles one command. `max_size_bytes` is the virtual server's message size limit.
    pub fn handle(&mut self, command: SmtpCommand, max_size_bytes: Option<u64>) -> InboundStep {
        use InboundState as S;
        match (self.state, command) {
            (S::Closed, _) => InboundStep::Close(SmtpReply::BadSequence),
            (_, SmtpCommand::Quit) => {
                self.state = S::Closed;
                InboundStep::Close(SmtpReply::Closing)
            }
            (S::Connected | S::Greeted, SmtpCommand::Ehlo) => {
                self.state = S::Greeted;
                InboundStep::Reply(if self.chunking { SmtpReply::EhloChunking } else { SmtpReply::EhloOk })
            }
            (_, SmtpCommand::Bdat(_)) if !self.chunking => InboundStep::Reply(SmtpReply::Unrecognized),
            (S::Greeted, SmtpCommand::MailFrom { size_bytes, .. }) => {
                if max_size_bytes.is_some_and(|max| size_bytes > max) {
                    return InboundStep::Reply(SmtpReply::SizeExceeded);
                }
                self.state = S::Mail;
                self.recipients.clear();
                InboundStep::Reply(SmtpReply::SenderOk)
            }
            (S::Mail | S::Recipients, SmtpCommand::RcptTo(recipient)) => {
                self.state = S::Recipients;
                self.recipients.push(recipient);
                InboundStep::Reply(SmtpReply::RecipientOk)
            }
            (S::Recipients, SmtpCommand::Data) => {
                self.state = S::Data;
                InboundStep::Reply(SmtpReply::StartMailInput)
            }
            (S::Greeted, SmtpCommand::XLink2State(exchange)) => InboundStep::LinkState(exchange),
            (S::Data, SmtpCommand::Content(message)) | (S::Recipients, SmtpCommand::Bdat(message)) => {
                self.state = S::Greeted;
                InboundStep::Accept { recipients: std::mem::take(&mut self.recipients), message }
            }
            (_, _) => InboundStep::Reply(SmtpReply::BadSequence),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MessageId, MessageKind};
    use crate::time::Instant;

    fn message(size_bytes: u64) -> Box<Message> {
        Box::new(Message {
            id: MessageId::Client(1),
            kind: MessageKind::Normal,
            sender: Some(AddressId(0)),
            size_bytes,
            submitted_at: Instant::ZERO,
            hop_count: 0,
            authenticated: true,
            header_recipients: Default::default(),
            scl: crate::message::SCL_NOT_RATED,
            journaled: Default::default(),
            replication: None,
        })
    }

    #[test]
    fn a_whole_transaction() {
        let mut s = InboundSession::new();
        assert_eq!(s.handle(SmtpCommand::Ehlo, None), InboundStep::Reply(SmtpReply::EhloOk));
        let mail = SmtpCommand::MailFrom { sender: Some(AddressId(0)), size_bytes: 10 };
        assert_eq!(s.handle(mail, None), InboundStep::Reply(SmtpReply::SenderOk));
        assert_eq!(s.handle(SmtpCommand::RcptTo(AddressId(1)), None), InboundStep::Reply(SmtpReply::RecipientOk));
        assert_eq!(s.handle(SmtpCommand::RcptTo(AddressId(2)), None), InboundStep::Reply(SmtpReply::RecipientOk));
        assert_eq!(s.handle(SmtpCommand::Data, None), InboundStep::Reply(SmtpReply::StartMailInput));
        match s.handle(SmtpCommand::Content(message(10)), None) {
            InboundStep::Accept { recipients, .. } => {
                assert_eq!(recipients, vec![AddressId(1), AddressId(2)])
            }
            other => panic!("expected Accept, got {other:?}"),
        }
        assert_eq!(s.handle(SmtpCommand::Quit, None), InboundStep::Close(SmtpReply::Closing));
        assert!(s.is_closed());
    }

    /// §3.2a: Exchange servers send each other mail with BDAT pipelined after the
    /// envelope; a host without CHUNKING refuses the verb.
    #[test]
    fn bdat_after_the_envelope_on_an_exchange_server_only() {
        let mut s = InboundSession::with_chunking();
        assert_eq!(s.handle(SmtpCommand::Ehlo, None), InboundStep::Reply(SmtpReply::EhloChunking));
        assert_eq!(s.handle(SmtpCommand::Bdat(message(10)), None), InboundStep::Reply(SmtpReply::BadSequence));
        let mail = SmtpCommand::MailFrom { sender: Some(AddressId(0)), size_bytes: 10 };
        assert_eq!(s.handle(mail.clone(), None), InboundStep::Reply(SmtpReply::SenderOk));
        assert_eq!(s.handle(SmtpCommand::Bdat(message(10)), None), InboundStep::Reply(SmtpReply::BadSequence));
        assert_eq!(s.handle(SmtpCommand::RcptTo(AddressId(1)), None), InboundStep::Reply(SmtpReply::RecipientOk));
        match s.handle(SmtpCommand::Bdat(message(10)), None) {
            InboundStep::Accept { recipients, .. } => assert_eq!(recipients, vec![AddressId(1)]),
            other => panic!("expected Accept, got {other:?}"),
        }
        let mut host = InboundSession::new();
        assert_eq!(host.handle(SmtpCommand::Ehlo, None), InboundStep::Reply(SmtpReply::EhloOk));
        host.handle(mail, None);
        host.handle(SmtpCommand::RcptTo(AddressId(1)), None);
        assert_eq!(host.handle(SmtpCommand::Bdat(message(10)), None), InboundStep::Reply(SmtpReply::Unrecognized));
    }

    #[test]
    fn out_of_sequence_and_oversize() {
        let mut s = InboundSession::new();
        assert_eq!(s.handle(SmtpCommand::Data, None), InboundStep::Reply(SmtpReply::BadSequence));
        s.handle(SmtpCommand::Ehlo, None);
        assert_eq!(s.handle(SmtpCommand::RcptTo(AddressId(1)), None), InboundStep::Reply(SmtpReply::BadSequence));
        let big = SmtpCommand::MailFrom { sender: None, size_bytes: 5_000_000 };
        assert_eq!(s.handle(big, Some(4_194_304)), InboundStep::Reply(SmtpReply::SizeExceeded));
        assert_eq!(SmtpReply::SizeExceeded.code(), 552);
        assert_eq!(SmtpReply::SenderOk.enhanced_status(), Some("2.1.0"));
    }
}
