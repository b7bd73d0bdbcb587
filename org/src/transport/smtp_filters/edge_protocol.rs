//! What crosses the wire on a session from outside the organization: the commands a
//! client sends (XEXCH50 and its blob included), the replies in the Windows SMTP
//! service's wording, the frames and packets that carry them, and the connection's
//! name. The session machine that answers them is [`super::edge_session`].

use std::net::Ipv4Addr;

/// A command from the client, as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeCommand {
    /// `EHLO <domain>`.
    Ehlo(String),
    /// `HELO <domain>`.
    Helo(String),
    /// `AUTH LOGIN` with the credentials it carried.
    Auth {
        /// The account.
        account: String,
        /// The password.
        password: String,
    },
    /// `MAIL FROM:<sender>`; an empty sender is the null path `<>`.
    MailFrom {
        /// Reverse path.
        sender: String,
        /// The SIZE parameter.
        size_bytes: Option<u64>,
    },
    /// `RCPT TO:<recipient>`.
    RcptTo(String),
    /// `DATA`.
    Data,
    /// The message up to `<CRLF>.<CRLF>`.
    Content(EdgeContent),
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
    /// `XEXCH50 <size> <version>`: the client offers the message's Exch50 blob (after
    /// RCPT TO, before DATA); it is sent only after a 354.
    Xexch50 {
        /// The blob's size.
        size_bytes: u64,
    },
    /// The Exch50 blob itself, after `354 Send binary data`.
    Exch50Blob(Exch50),
    /// A verb this server does not speak.
    Unknown,
    /// A known verb with bad arguments.
    Syntax,
}

/// The envelope properties an Exchange server sends in its Exch50 blob (XEXCH50, §6):
/// what orgsim models of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exch50 {
    /// The SCL the sending organization stamped (`SCL_NOT_RATED` when none).
    pub scl: i8,
}

/// An Exch50 blob's size on the wire [U: KB 843106's events show blobs of 1,028 to
/// 2,336 bytes].
pub const EXCH50_BLOB_BYTES: u64 = 1_028;

/// What became of a message's Exch50 blob at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exch50Fate {
    /// The client sent no XEXCH50.
    NotOffered,
    /// Taken: its properties stay with the message.
    Kept(Exch50),
    /// Refused (`504 Need to authenticate first`): its properties are lost.
    Dropped,
}

impl Exch50Fate {
    /// Its name in traces and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Exch50Fate::NotOffered => "not_offered",
            Exch50Fate::Kept(_) => "kept",
            Exch50Fate::Dropped => "dropped",
        }
    }
}

/// What the session reads from a message's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeContent {
    /// The From header's address (the purported responsible address as Sender ID reads
    /// it, and what the sender filter checks after DATA).
    pub header_from: Option<String>,
    /// Its size.
    pub size_bytes: u64,
    /// The rating the Intelligent Message Filter gives this content, 0–9.
    pub content_scl: i8,
    /// Its Message-ID (the organization-wide id standing for the header).
    pub message_id: crate::message::MessageId,
    /// What an Exchange server's message carries in its headers: none from a plain
    /// Internet client.
    pub headers: Option<CarriedHeaders>,
}

/// The headers of a message an Exchange server of another organization sends that the
/// receiving one reads back: its Received headers (the hop count) and its Date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CarriedHeaders {
    /// Received headers so far.
    pub hop_count: u8,
    /// When its client submitted it.
    pub submitted_at: crate::time::Instant,
}

/// A reply, with its code, enhanced status code and text (Windows SMTP service wording).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeReply {
    /// `220 <fqdn> Microsoft ESMTP MAIL Service ready`.
    Banner,
    /// `250-<fqdn> Hello [ip]` and the extension list.
    Ehlo {
        /// AUTH LOGIN offered.
        auth: bool,
        /// The SIZE limit.
        size: Option<u64>,
    },
    /// `250 <fqdn> Hello [ip]`.
    Helo,
    /// `235 2.7.0 Authentication successful`.
    AuthOk,
    /// `535 5.7.3 Authentication unsuccessful`.
    AuthFailed,
    /// `504 5.7.4 Unrecognized authentication type` (AUTH not offered).
    AuthNotOffered,
    /// `250 2.1.0 <addr>....Sender OK`.
    SenderOk(String),
    /// `550 5.1.0 <addr>... Sender Denied` (the sender filter).
    SenderDenied(String),
    /// `530 5.7.3 Client was not authenticated`.
    NotAuthenticated,
    /// `550 5.7.1 Client does not have permissions to send as this sender`.
    SubmitDenied,
    /// `552 5.3.4 Message size exceeds fixed maximum message size`.
    SizeExceeded,
    /// `250 2.1.5 <addr>`.
    RecipientOk(String),
    /// `550 5.7.1 <text>`: a DNSBL rule's text.
    Blocklisted(String),
    /// `550 5.7.1 Unable to relay for <addr>`.
    RelayDenied(String),
    /// `550 5.7.1 Requested action not taken: mailbox not available` (recipient filter).
    RecipientRefused,
    /// `452 4.5.3 Too many recipients`.
    TooManyRecipients,
    /// `451 4.4.3 Directory lookup failed, try again later` [U].
    DirectoryUnavailable,
    /// `354 Start mail input; end with <CRLF>.<CRLF>`.
    StartMailInput,
    /// `250 2.6.0 Queued mail for delivery`.
    Queued,
    /// `550 5.7.1 Sender ID (PRA) Not Permitted` [U].
    SenderIdRejected,
    /// `550 5.7.1 Message rejected as spam by Content Filtering.`
    ImfRejected,
    /// `354 Send binary data` (XEXCH50 taken: the blob follows).
    SendBinary,
    /// `250 XEXCH50 OK`.
    Exch50Ok,
    /// `504 Need to authenticate first` (XEXCH50 from an anonymous session; KB 843106).
    NeedAuthFirst,
    /// `250 2.0.0 Resetting`.
    Reset,
    /// `250 2.0.0 OK`.
    Ok,
    /// `503 5.5.2 Need mail command.`
    NeedMail,
    /// `503 5.5.2 Need rcpt command.`
    NeedRcpt,
    /// `503 5.5.2 Send hello first.`
    NeedHello,
    /// `500 5.3.3 Unrecognized command`.
    Unrecognized,
    /// `501 5.5.4 Invalid Address`.
    Syntax,
    /// `221 2.0.0 <fqdn> Service closing transmission channel`.
    Closing,
}

impl EdgeReply {
    /// The three-digit code.
    pub fn code(&self) -> u16 {
        use EdgeReply as R;
        match self {
            R::Banner => 220,
            R::Ehlo { .. }
            | R::Helo
            | R::SenderOk(_)
            | R::RecipientOk(_)
            | R::Queued
            | R::Reset
            | R::Ok
            | R::Exch50Ok => 250,
            R::SendBinary => 354,
            R::NeedAuthFirst => 504,
            R::AuthOk => 235,
            R::StartMailInput => 354,
            R::Closing => 221,
            R::TooManyRecipients => 452,
            R::DirectoryUnavailable => 451,
            R::AuthFailed => 535,
            R::AuthNotOffered => 504,
            R::NotAuthenticated => 530,
            R::SizeExceeded => 552,
            R::NeedMail | R::NeedRcpt | R::NeedHello => 503,
            R::Unrecognized => 500,
            R::Syntax => 501,
            R::SenderDenied(_)
            | R::SubmitDenied
            | R::Blocklisted(_)
            | R::RelayDenied(_)
            | R::RecipientRefused
            | R::SenderIdRejected
            | R::ImfRejected => 550,
        }
    }

    /// The reply's lines as the server writes them (without CRLF).
    pub fn lines(&self, fqdn: &str, client_ip: Ipv4Addr) -> Vec<String> {
        use EdgeReply as R;
        let text = match self {
            R::Banner => format!("{fqdn} Microsoft ESMTP MAIL Service, Version: 6.0.3790.3959 ready"),
            R::Ehlo { auth, size } => {
                let mut lines = vec![format!("250-{fqdn} Hello [{client_ip}]")];
                let mut ext: Vec<String> =
                    ["TURN", "SIZE", "ETRN", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "8bitmime"]
                        .iter()
                        .map(|s| s.to_string())
                        .collect();
                if let Some(size) = size {
                    ext[1] = format!("SIZE {size}");
                }
                if *auth {
                    ext.push("AUTH LOGIN".into());
                }
                // Exchange 2003 advertises XEXCH50 to every client (it checks at the verb).
                ext.push("XEXCH50".into());
                ext.push("OK".into());
                let last = ext.len() - 1;
                lines.extend(
                    ext.iter().enumerate().map(|(i, e)| format!("250{}{e}", if i == last { ' ' } else { '-' })),
                );
                return lines;
            }
            R::Helo => format!("{fqdn} Hello [{client_ip}]"),
            R::AuthOk => "2.7.0 Authentication successful".into(),
            R::AuthFailed => "5.7.3 Authentication unsuccessful".into(),
            R::AuthNotOffered => "5.7.4 Unrecognized authentication type".into(),
            R::SenderOk(a) => format!("2.1.0 {a}....Sender OK"),
            R::SenderDenied(a) => format!("5.1.0 {a}... Sender Denied"),
            R::NotAuthenticated => "5.7.3 Client was not authenticated".into(),
            R::SubmitDenied => "5.7.1 Client does not have permissions to submit to this server".into(),
            R::SizeExceeded => "5.3.4 Message size exceeds fixed maximum message size".into(),
            R::RecipientOk(a) => format!("2.1.5 {a}"),
            R::Blocklisted(t) => format!("5.7.1 {t}"),
            R::RelayDenied(a) => format!("5.7.1 Unable to relay for {a}"),
            R::RecipientRefused => format!("5.7.1 {}", super::recipient_filter::REFUSAL),
            R::TooManyRecipients => "4.5.3 Too many recipients".into(),
            R::DirectoryUnavailable => "4.4.3 Directory lookup failed, try again later".into(),
            R::StartMailInput => "Start mail input; end with <CRLF>.<CRLF>".into(),
            R::Queued => "2.6.0 Queued mail for delivery".into(),
            R::SenderIdRejected => "5.7.1 Sender ID (PRA) Not Permitted".into(),
            R::ImfRejected => "5.7.1 Message rejected as spam by Content Filtering.".into(),
            R::SendBinary => "Send binary data".into(),
            R::Exch50Ok => "XEXCH50 OK".into(),
            R::NeedAuthFirst => "Need to authenticate first".into(),
            R::Reset => "2.0.0 Resetting".into(),
            R::Ok => "2.0.0 OK".into(),
            R::NeedMail => "5.5.2 Need mail command.".into(),
            R::NeedRcpt => "5.5.2 Need rcpt command.".into(),
            R::NeedHello => "5.5.2 Send hello first.".into(),
            R::Unrecognized => "5.3.3 Unrecognized command".into(),
            R::Syntax => "5.5.4 Invalid Address".into(),
            R::Closing => format!("2.0.0 {fqdn} Service closing transmission channel"),
        };
        vec![format!("{} {text}", self.code())]
    }
}

/// Where the client of a session from outside the organization runs: a host of the
/// simulated Internet, or an Exchange server of another forest (another organization)
/// sending over its SMTP connector (§6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum EdgeNode {
    /// A host of the simulated Internet.
    Host(crate::HostId),
    /// A server of another organization.
    Server(crate::ServerId),
}

/// One session from outside the organization, named by the node that opened it and its
/// number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct EdgeConnId {
    /// The node the client runs on.
    pub client: EdgeNode,
    /// Its number on that node.
    pub seq: u64,
}

/// What crosses the wire on an inbound session from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeFrame {
    /// TCP connect to an inbound virtual server (its index in the organization's list)
    /// from `ip`.
    Connect {
        /// The virtual server.
        virtual_server: u16,
        /// The client's IP.
        ip: Ipv4Addr,
    },
    /// Commands, pipelined.
    Commands(Vec<EdgeCommand>),
    /// Replies, in order.
    Replies(Vec<EdgeReply>),
    /// The server closed the connection (after the replies sent before).
    Closed,
}

/// A frame on one inbound session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgePacket {
    /// The session.
    pub conn: EdgeConnId,
    /// What it carries.
    pub frame: EdgeFrame,
}

impl EdgePacket {
    /// Bytes on the wire: 40 of TCP/IP, commands at a typical 40 bytes, content at its
    /// size, replies at 64 (the EHLO list at 240) [U].
    pub fn wire_size_bytes(&self) -> u64 {
        40 + match &self.frame {
            EdgeFrame::Connect { .. } | EdgeFrame::Closed => 0,
            EdgeFrame::Commands(c) => c
                .iter()
                .map(|c| match c {
                    EdgeCommand::Content(content) => content.size_bytes + 5,
                    EdgeCommand::Exch50Blob(_) => EXCH50_BLOB_BYTES,
                    _ => 40,
                })
                .sum(),
            EdgeFrame::Replies(r) => r.iter().map(|r| if matches!(r, EdgeReply::Ehlo { .. }) { 240 } else { 64 }).sum(),
        }
    }
}
