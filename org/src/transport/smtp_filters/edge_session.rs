//! The receiving side of an SMTP session from outside the organization, with the SP2
//! filter chain in the order EXCHANGE2003.md §3.1 gives (steps 1–15). Sans-IO: the same
//! machine runs on the simulated network and behind `orgsim smtp-listen`'s real socket.
//!
//! A driver [`EdgeSession::push`]es commands as they arrive (pipelined or not) and
//! [`EdgeSession::poll`]s for steps: replies, a [`EdgeQuery`] the session waits on (a DNS
//! or directory lookup, an AUTH check), an accepted message, or the end of the session.
//! While a query is outstanding the session takes no further command; the driver hands
//! the answer (or its timeout as a failure) to [`EdgeSession::answer`] and polls again.
//!
//! Filters run only for anonymous sessions; internal servers skip connection filtering
//! and Sender ID. Choices not in the documentation [U]: relay is checked at RCPT TO after
//! the DNSBL rules and before the exception recipients (an exception recipient in a
//! foreign domain does not open a relay); a DNSBL lookup that fails counts as not listed;
//! a directory lookup that fails answers `451 4.4.3`; Sender ID's action applies to
//! `Fail` only; the IMF stand-in rates content by the SCL the sender's content carries.

use super::connection_filter::ListVerdict;
use super::recipient_filter::{DirectoryAnswer, RecipientVerdict};
use super::sender_filter::SenderVerdict;
use super::sender_id::{DnsAnswer, DnsQuestion, SenderIdCheck, SenderIdResult};
use super::virtual_server::{ImfAction, MessageDelivery, Principal, SenderIdAction, VirtualServer};
use crate::message::SCL_NOT_RATED;
use std::collections::VecDeque;
use std::net::Ipv4Addr;

pub use super::edge_protocol::*;

/// What the session needs to know beyond its own settings.
#[derive(Debug, Clone, Copy)]
pub struct EdgeContext<'a> {
    /// The organization's filters.
    pub delivery: &'a MessageDelivery,
    /// The virtual server the session is on.
    pub server: &'a VirtualServer,
    /// Domains the organization is authoritative for (lower case).
    pub authoritative: &'a [String],
    /// Planted bugs switched on (none in real use).
    pub plants: crate::planted_bugs::Plants,
}

impl EdgeContext<'_> {
    /// Whether `address` is in a domain the organization is authoritative for.
    pub fn authoritative_address(&self, address: &str) -> bool {
        self.is_authoritative(address)
    }

    fn bug(&self, bug: crate::planted_bugs::PlantedBug) -> bool {
        self.plants.has(bug)
    }

    fn is_authoritative(&self, address: &str) -> bool {
        let domain = domain_of(address);
        self.authoritative.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }
}

/// The step of the chain that refused, dropped or diverted something (§3.1 numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterStep {
    /// 1: the virtual server's connection control.
    ConnectionControl,
    /// 5: the global deny list.
    DenyList,
    /// 6: the sender filter on MAIL FROM.
    SenderFilter,
    /// Submission permission (not a filter: the virtual server's Permissions).
    Submission,
    /// 8: a DNSBL rule.
    Dnsbl,
    /// Relay restrictions (not a filter).
    Relay,
    /// 10: the recipient filter's block list.
    RecipientBlocked,
    /// 11: not in the directory.
    RecipientNotInDirectory,
    /// 13: the sender filter on the From header.
    HeaderSenderFilter,
    /// 14: Sender ID.
    SenderId,
    /// 15: the Intelligent Message Filter.
    Imf,
}

impl FilterStep {
    /// Every step, in chain order.
    pub const ALL: [FilterStep; 11] = [
        FilterStep::ConnectionControl,
        FilterStep::DenyList,
        FilterStep::SenderFilter,
        FilterStep::Submission,
        FilterStep::Dnsbl,
        FilterStep::Relay,
        FilterStep::RecipientBlocked,
        FilterStep::RecipientNotInDirectory,
        FilterStep::HeaderSenderFilter,
        FilterStep::SenderId,
        FilterStep::Imf,
    ];

    /// Its name in traces and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FilterStep::ConnectionControl => "connection_control",
            FilterStep::DenyList => "deny_list",
            FilterStep::SenderFilter => "sender_filter",
            FilterStep::Submission => "submission",
            FilterStep::Dnsbl => "dnsbl",
            FilterStep::Relay => "relay",
            FilterStep::RecipientBlocked => "recipient_blocked",
            FilterStep::RecipientNotInDirectory => "recipient_not_in_directory",
            FilterStep::HeaderSenderFilter => "header_sender_filter",
            FilterStep::SenderId => "sender_id",
            FilterStep::Imf => "imf",
        }
    }
}

/// A lookup the session waits on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeQuery {
    /// A DNS question (a DNSBL's A records, Sender ID's TXT, A and MX records).
    Dns(DnsQuestion),
    /// Whether the directory holds a recipient (through DSAccess and a GC).
    Directory(String),
    /// An AUTH check of an account's password, and its groups.
    Authenticate {
        /// The account.
        account: String,
        /// The password offered.
        password: String,
    },
}

/// The answer to the query outstanding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeAnswer {
    /// DNS's answer (`Failed` on a timeout).
    Dns(DnsAnswer),
    /// The directory's answer; `None`: no GC answered.
    Directory(Option<bool>),
    /// The account, if the password was right.
    Authenticated(Option<Principal>),
}

/// Where an accepted message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "to", content = "by")]
pub enum Disposition {
    /// On to the categorizer and the recipients' mailboxes.
    Deliver,
    /// To Badmail (the sender filter's "accept without notifying").
    Badmail(FilterStep),
    /// To the `UCEArchive` folder (IMF's Archive).
    UceArchive,
    /// Accepted and dropped (IMF's or Sender ID's Delete).
    Deleted(FilterStep),
}

impl Disposition {
    /// Its name in traces and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Deliver => "deliver",
            Disposition::Badmail(_) => "badmail",
            Disposition::UceArchive => "uce_archive",
            Disposition::Deleted(FilterStep::Imf) => "deleted_by_imf",
            Disposition::Deleted(_) => "deleted_by_sender_id",
        }
    }
}

/// A message the session took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeAccepted {
    /// The reverse path (empty: `<>`).
    pub sender: String,
    /// Accepted recipients in RCPT order.
    pub recipients: Vec<String>,
    /// The content.
    pub content: EdgeContent,
    /// The account the session authenticated as.
    pub principal: Option<Principal>,
    /// The SCL stamped on it (`SCL_NOT_RATED` when the IMF did not rate it).
    pub scl: i8,
    /// The Sender ID result stamped on it, when checked.
    pub sender_id: Option<SenderIdResult>,
    /// Where it goes.
    pub disposition: Disposition,
    /// A copy is kept in the sender filter's archive.
    pub archived: bool,
    /// A block list lookup of the session went unanswered (so it counted as not listed).
    pub dnsbl_failed: bool,
    /// The Exch50 blob's fate.
    pub exch50: Exch50Fate,
}

/// What the session does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeStep {
    /// Send this reply after `delay_ms` (the tarpit); `refused_by` names the filter step
    /// when it is a refusal.
    Reply {
        /// The reply.
        reply: EdgeReply,
        /// Tarpit delay.
        delay_ms: u64,
        /// The step that refused.
        refused_by: Option<FilterStep>,
        /// The address it refused (a recipient, a sender), if one.
        about: Option<String>,
    },
    /// Look this up and [`EdgeSession::answer`].
    Query(EdgeQuery),
    /// Make the message durable (unless deleted), then reply [`EdgeReply::Queued`].
    Accept(Box<EdgeAccepted>),
    /// Close the connection, after the reply if any (none: dropped without a word).
    Close {
        /// The last reply.
        reply: Option<EdgeReply>,
        /// The step that dropped the session.
        dropped_by: Option<FilterStep>,
        /// The address that made it drop the session (a sender), if one.
        about: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connected,
    Greeted,
    Mail,
    /// XEXCH50 answered 354: the blob comes next.
    Exch50Blob,
    Data,
    Closed,
}

/// An open transaction (after MAIL FROM).
#[derive(Debug, Clone)]
struct Transaction {
    sender: String,
    recipients: Vec<String>,
    badmail: bool,
    archived: bool,
    exch50: Exch50Fate,
}

/// What an outstanding query continues with.
#[derive(Debug, Clone)]
enum Wait {
    Auth,
    Dnsbl { recipient: String, rule: usize },
    Directory { recipient: String },
    SenderId { check: SenderIdCheck, content: EdgeContent },
}

/// The DNSBL verdict on the client, looked up once per session at its first RCPT TO.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dnsbl {
    NotAsked,
    Listed(String),
    Clear,
}

/// One inbound session.
#[derive(Debug, Clone)]
pub struct EdgeSession {
    ip: Ipv4Addr,
    state: State,
    principal: Option<Principal>,
    transaction: Option<Transaction>,
    /// Accept-listed or internal: no deny list, no DNSBL (internal: no Sender ID).
    accept_listed: bool,
    internal: bool,
    dnsbl: Dnsbl,
    /// A block list lookup went unanswered (a failed lookup counts as not listed [U]).
    dnsbl_failed: bool,
    pending: VecDeque<EdgeCommand>,
    ready: VecDeque<EdgeStep>,
    waiting: Option<Wait>,
}

impl EdgeSession {
    /// A client at `ip` connects: step 1, then the banner.
    pub fn connect(ctx: EdgeContext<'_>, ip: Ipv4Addr) -> EdgeSession {
        let internal = ctx.delivery.internal_servers.iter().any(|e| e.contains(ip));
        let mut session = EdgeSession {
            ip,
            state: State::Connected,
            principal: None,
            transaction: None,
            accept_listed: internal,
            internal,
            dnsbl: Dnsbl::NotAsked,
            dnsbl_failed: false,
            pending: VecDeque::new(),
            ready: VecDeque::new(),
            waiting: None,
        };
        if ctx.server.connection_control.admits(ip) {
            session.reply(EdgeReply::Banner);
        } else {
            session.close(None, Some(FilterStep::ConnectionControl), None);
        }
        session
    }

    /// The client's IP.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether AUTH succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.principal.is_some()
    }

    /// Whether it waits on a query.
    pub fn is_waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// A command arrived; it is handled in order by [`EdgeSession::poll`].
    pub fn push(&mut self, command: EdgeCommand) {
        if self.state != State::Closed {
            self.pending.push_back(command);
        }
    }

    /// The next step, or `None` when the session waits for a command or an answer.
    pub fn poll(&mut self, ctx: EdgeContext<'_>) -> Option<EdgeStep> {
        loop {
            if let Some(step) = self.ready.pop_front() {
                return Some(step);
            }
            if self.waiting.is_some() || self.state == State::Closed {
                return None;
            }
            let command = self.pending.pop_front()?;
            self.handle(ctx, command);
        }
    }

    /// The answer to the outstanding query.
    pub fn answer(&mut self, ctx: EdgeContext<'_>, answer: EdgeAnswer) {
        let Some(wait) = self.waiting.take() else { return };
        match (wait, answer) {
            (Wait::Auth, EdgeAnswer::Authenticated(Some(principal))) => {
                self.principal = Some(principal);
                self.reply(EdgeReply::AuthOk);
            }
            (Wait::Auth, _) => self.reply(EdgeReply::AuthFailed),
            (Wait::Dnsbl { recipient, rule }, answer) => {
                self.dnsbl_failed |= matches!(answer, EdgeAnswer::Dns(DnsAnswer::Failed));
                let listed = match answer {
                    EdgeAnswer::Dns(DnsAnswer::A(ips)) if ctx.bug(crate::planted_bugs::PlantedBug::DnsblMaskAnyBit) => {
                        match &ctx.delivery.connection.rules[rule].matching {
                            super::connection_filter::DnsblMatch::Mask(m) => {
                                ips.iter().any(|a| a.octets()[0] == 127 && u32::from(*a) & u32::from(*m) != 0)
                            }
                            _ => ctx.delivery.connection.rules[rule].matches(&ips),
                        }
                    }
                    EdgeAnswer::Dns(DnsAnswer::A(ips)) => ctx.delivery.connection.rules[rule].matches(&ips),
                    _ => false,
                };
                if listed {
                    self.dnsbl = Dnsbl::Listed(ctx.delivery.connection.rules[rule].reply_text(self.ip));
                } else if rule + 1 < ctx.delivery.connection.rules.len() {
                    return self.ask_dnsbl(ctx, recipient, rule + 1);
                } else {
                    self.dnsbl = Dnsbl::Clear;
                }
                self.recipient_checks(ctx, recipient);
            }
            (Wait::Directory { recipient }, EdgeAnswer::Directory(found)) => {
                let answer = match found {
                    None => return self.reply(EdgeReply::DirectoryUnavailable),
                    Some(true) => DirectoryAnswer::Found,
                    Some(false) => DirectoryAnswer::NotFound,
                };
                self.judge_recipient(ctx, recipient, answer);
            }
            (Wait::Directory { .. }, _) => self.reply(EdgeReply::DirectoryUnavailable),
            (Wait::SenderId { mut check, content }, answer) => {
                let dns = match answer {
                    EdgeAnswer::Dns(a) => a,
                    _ => DnsAnswer::Failed,
                };
                check.handle_answer(dns);
                self.run_sender_id(ctx, check, content);
            }
        }
    }

    fn reply(&mut self, reply: EdgeReply) {
        self.ready.push_back(EdgeStep::Reply { reply, delay_ms: 0, refused_by: None, about: None });
    }

    fn refuse(&mut self, ctx: EdgeContext<'_>, reply: EdgeReply, step: FilterStep, about: Option<String>) {
        // The tarpit slows 5xx answers to RCPT TO of anonymous sessions (harvesting).
        let at_rcpt = self.state == State::Mail && self.principal.is_none();
        let delay_ms = if at_rcpt { ctx.delivery.tarpit_ms } else { 0 };
        self.ready.push_back(EdgeStep::Reply { reply, delay_ms, refused_by: Some(step), about });
    }

    fn close(&mut self, reply: Option<EdgeReply>, dropped_by: Option<FilterStep>, about: Option<String>) {
        self.state = State::Closed;
        self.pending.clear();
        self.transaction = None;
        self.ready.push_back(EdgeStep::Close { reply, dropped_by, about });
    }

    fn ask(&mut self, wait: Wait, query: EdgeQuery) {
        debug_assert!(self.waiting.is_none(), "one query at a time");
        self.waiting = Some(wait);
        self.ready.push_back(EdgeStep::Query(query));
    }

    /// Filters apply to anonymous sessions only (§3.1).
    fn filtered(&self) -> bool {
        self.principal.is_none()
    }

    fn handle(&mut self, ctx: EdgeContext<'_>, command: EdgeCommand) {
        use EdgeCommand as C;
        match (self.state, command) {
            (State::Closed, _) => {}
            (_, C::Quit) => self.close(Some(EdgeReply::Closing), None, None),
            (State::Data, C::Content(content)) => self.content(ctx, content),
            (State::Data, _) => self.reply(EdgeReply::Syntax),
            (State::Exch50Blob, C::Exch50Blob(blob)) => {
                self.state = State::Mail;
                let transaction = self.transaction.as_mut().expect("XEXCH50 only inside a transaction");
                transaction.exch50 = Exch50Fate::Kept(blob);
                self.reply(EdgeReply::Exch50Ok);
            }
            (State::Exch50Blob, _) => {
                self.state = State::Mail;
                self.reply(EdgeReply::Syntax);
            }
            (_, C::Exch50Blob(_)) => self.reply(EdgeReply::Unrecognized),
            (_, C::Content(_)) => self.reply(EdgeReply::NeedRcpt),
            (_, C::Ehlo(_)) => {
                self.hello(EdgeReply::Ehlo { auth: ctx.server.basic_auth, size: ctx.server.max_message_size_bytes })
            }
            (_, C::Helo(_)) => self.hello(EdgeReply::Helo),
            (_, C::Noop) => self.reply(EdgeReply::Ok),
            (_, C::Unknown) => self.reply(EdgeReply::Unrecognized),
            (_, C::Syntax) => self.reply(EdgeReply::Syntax),
            (_, C::Rset) => {
                self.transaction = None;
                if self.state == State::Mail {
                    self.state = State::Greeted;
                }
                self.reply(EdgeReply::Reset);
            }
            (State::Connected, _) => self.reply(EdgeReply::NeedHello),
            (State::Greeted, C::Auth { account, password }) => {
                if !ctx.server.basic_auth {
                    return self.reply(EdgeReply::AuthNotOffered);
                }
                self.ask(Wait::Auth, EdgeQuery::Authenticate { account, password });
            }
            (_, C::Auth { .. }) => self.reply(EdgeReply::NeedMail),
            (State::Greeted, C::MailFrom { sender, size_bytes }) => self.mail_from(ctx, sender, size_bytes),
            (_, C::MailFrom { .. }) => self.reply(EdgeReply::NeedMail),
            (State::Mail, C::RcptTo(recipient)) => self.rcpt_to(ctx, recipient),
            (_, C::RcptTo(_)) => self.reply(EdgeReply::NeedMail),
            (State::Mail, C::Data) => {
                if self.transaction.as_ref().is_some_and(|t| !t.recipients.is_empty()) {
                    self.state = State::Data;
                    self.reply(EdgeReply::StartMailInput);
                } else {
                    self.reply(EdgeReply::NeedRcpt);
                }
            }
            (_, C::Data) => self.reply(EdgeReply::NeedMail),
            (State::Mail, C::Xexch50 { .. }) => self.xexch50(ctx),
            (_, C::Xexch50 { .. }) => self.reply(EdgeReply::NeedMail),
        }
    }

    /// XEXCH50 (§6, KB 843106): taken from authenticated sessions, or from anyone when
    /// the server's auth check is off; otherwise refused, and the mail goes on without
    /// its Exch50 properties.
    fn xexch50(&mut self, ctx: EdgeContext<'_>) {
        let trusted = self.principal.is_some()
            || ctx.server.exch50_from_anonymous
            || ctx.bug(crate::planted_bugs::PlantedBug::Exch50FromAnonymous);
        let transaction = self.transaction.as_mut().expect("state Mail has a transaction");
        if transaction.recipients.is_empty() {
            return self.reply(EdgeReply::NeedRcpt);
        }
        if trusted {
            self.state = State::Exch50Blob;
            self.reply(EdgeReply::SendBinary);
        } else {
            transaction.exch50 = Exch50Fate::Dropped;
            self.reply(EdgeReply::NeedAuthFirst);
        }
    }

    fn hello(&mut self, reply: EdgeReply) {
        self.transaction = None;
        self.state = State::Greeted;
        self.reply(reply);
    }

    /// Steps 3–6.
    fn mail_from(&mut self, ctx: EdgeContext<'_>, sender: String, size_bytes: Option<u64>) {
        let server = ctx.server;
        if self.principal.is_none() && !server.anonymous {
            return self.refuse(ctx, EdgeReply::NotAuthenticated, FilterStep::Submission, Some(sender));
        }
        if !server.permissions.may_submit(self.principal.as_ref()) {
            return self.refuse(ctx, EdgeReply::SubmitDenied, FilterStep::Submission, Some(sender));
        }
        if size_bytes.zip(server.max_message_size_bytes).is_some_and(|(s, max)| s > max) {
            return self.reply(EdgeReply::SizeExceeded);
        }
        let connection = self.filtered() && server.filters.connection && !self.internal;
        if connection {
            match ctx.delivery.connection.lists(self.ip) {
                ListVerdict::Accepted => self.accept_listed = true,
                ListVerdict::Denied => return self.close(None, Some(FilterStep::DenyList), None),
                ListVerdict::Unlisted => {}
            }
        }
        let mut transaction = Transaction {
            sender: sender.clone(),
            recipients: Vec::new(),
            badmail: false,
            archived: false,
            exch50: Exch50Fate::NotOffered,
        };
        if self.filtered() && server.filters.sender {
            let (verdict, archive) = ctx.delivery.sender.judge(&sender);
            transaction.archived = archive && verdict != SenderVerdict::Pass;
            match verdict {
                SenderVerdict::Pass => {}
                SenderVerdict::ToBadmail => transaction.badmail = true,
                SenderVerdict::Denied { drop: true } => {
                    let reply = EdgeReply::SenderDenied(sender.clone());
                    return self.close(Some(reply), Some(FilterStep::SenderFilter), Some(sender));
                }
                SenderVerdict::Denied { drop: false } => {
                    let reply = EdgeReply::SenderDenied(sender.clone());
                    return self.refuse(ctx, reply, FilterStep::SenderFilter, Some(sender));
                }
            }
        }
        self.transaction = Some(transaction);
        self.state = State::Mail;
        self.reply(EdgeReply::SenderOk(sender));
    }

    /// Step 7 onwards for one recipient: the DNSBL verdict first (asked once).
    fn rcpt_to(&mut self, ctx: EdgeContext<'_>, recipient: String) {
        let count = self.transaction.as_ref().map_or(0, |t| t.recipients.len());
        if count >= ctx.server.max_recipients {
            return self.reply(EdgeReply::TooManyRecipients);
        }
        let accept_listed = self.accept_listed && !ctx.bug(crate::planted_bugs::PlantedBug::DnsblForAcceptListed);
        let dnsbl = self.filtered()
            && ctx.server.filters.connection
            && !accept_listed
            && !ctx.delivery.connection.rules.is_empty();
        if dnsbl && self.dnsbl == Dnsbl::NotAsked {
            return self.ask_dnsbl(ctx, recipient, 0);
        }
        self.recipient_checks(ctx, recipient);
    }

    fn ask_dnsbl(&mut self, ctx: EdgeContext<'_>, recipient: String, rule: usize) {
        let name = ctx.delivery.connection.rules[rule].query_name(self.ip);
        self.ask(Wait::Dnsbl { recipient, rule }, EdgeQuery::Dns(DnsQuestion::A(name)));
    }

    /// Steps 8–11 for one recipient, the DNSBL verdict known.
    fn recipient_checks(&mut self, ctx: EdgeContext<'_>, recipient: String) {
        let filtered = self.filtered();
        let exception = filtered && ctx.server.filters.connection && ctx.delivery.connection.is_exception(&recipient);
        if let Dnsbl::Listed(text) = &self.dnsbl {
            if filtered && !exception {
                let text = text.clone();
                return self.refuse(ctx, EdgeReply::Blocklisted(text), FilterStep::Dnsbl, Some(recipient));
            }
        }
        let authoritative = ctx.is_authoritative(&recipient);
        if !authoritative && !ctx.server.permissions.may_relay(self.ip, self.principal.as_ref()) {
            return self.refuse(ctx, EdgeReply::RelayDenied(recipient.clone()), FilterStep::Relay, Some(recipient));
        }
        let filtered = filtered || ctx.bug(crate::planted_bugs::PlantedBug::RecipientFilterForAuthenticated);
        if exception || !filtered || !ctx.server.filters.recipient {
            return self.take_recipient(recipient);
        }
        if ctx.delivery.recipient.needs_lookup(&recipient, authoritative) {
            let address = recipient.clone();
            return self.ask(Wait::Directory { recipient }, EdgeQuery::Directory(address));
        }
        let answer = if authoritative { DirectoryAnswer::Found } else { DirectoryAnswer::NotAuthoritative };
        self.judge_recipient(ctx, recipient, answer);
    }

    /// Steps 10 and 11.
    fn judge_recipient(&mut self, ctx: EdgeContext<'_>, recipient: String, answer: DirectoryAnswer) {
        match ctx.delivery.recipient.judge(&recipient, answer) {
            RecipientVerdict::Accept => self.take_recipient(recipient),
            RecipientVerdict::Blocked => {
                self.refuse(ctx, EdgeReply::RecipientRefused, FilterStep::RecipientBlocked, Some(recipient))
            }
            RecipientVerdict::NotInDirectory => {
                self.refuse(ctx, EdgeReply::RecipientRefused, FilterStep::RecipientNotInDirectory, Some(recipient))
            }
        }
    }

    fn take_recipient(&mut self, recipient: String) {
        let transaction = self.transaction.as_mut().expect("RCPT TO only inside a transaction");
        transaction.recipients.push(recipient.clone());
        self.reply(EdgeReply::RecipientOk(recipient));
    }

    /// Steps 13–15, after the content arrived.
    fn content(&mut self, ctx: EdgeContext<'_>, content: EdgeContent) {
        self.state = State::Greeted;
        if ctx.server.max_message_size_bytes.is_some_and(|max| content.size_bytes > max) {
            self.transaction = None;
            return self.reply(EdgeReply::SizeExceeded);
        }
        let filtered = self.filtered();
        if filtered && ctx.server.filters.sender {
            if let Some(from) = content.header_from.clone() {
                let (verdict, archive) = ctx.delivery.sender.judge(&from);
                let transaction = self.transaction.as_mut().expect("content only inside a transaction");
                transaction.archived |= archive && verdict != SenderVerdict::Pass;
                match verdict {
                    SenderVerdict::Pass => {}
                    SenderVerdict::ToBadmail => transaction.badmail = true,
                    SenderVerdict::Denied { drop } => {
                        self.transaction = None;
                        let reply = EdgeReply::SenderDenied(from.clone());
                        return match drop {
                            true => self.close(Some(reply), Some(FilterStep::HeaderSenderFilter), Some(from)),
                            false => self.refuse(ctx, reply, FilterStep::HeaderSenderFilter, Some(from)),
                        };
                    }
                }
            }
        }
        if filtered && ctx.server.filters.sender_id && !self.internal {
            let transaction = self.transaction.as_ref().expect("content only inside a transaction");
            let pra = content.header_from.as_deref().unwrap_or(&transaction.sender);
            if !pra.is_empty() {
                let check = SenderIdCheck::new(domain_of(pra), self.ip);
                return self.run_sender_id(ctx, check, content);
            }
        }
        self.finish(ctx, content, None);
    }

    fn run_sender_id(&mut self, ctx: EdgeContext<'_>, mut check: SenderIdCheck, content: EdgeContent) {
        if let Some(question) = check.poll_query() {
            return self.ask(Wait::SenderId { check, content }, EdgeQuery::Dns(question));
        }
        let result = check.result().expect("a check with no question left has its result");
        if result == SenderIdResult::Fail {
            match ctx.delivery.sender_id_action {
                SenderIdAction::Accept => {}
                SenderIdAction::Delete => {
                    return self.accept(
                        content,
                        SCL_NOT_RATED,
                        Some(result),
                        Disposition::Deleted(FilterStep::SenderId),
                    )
                }
                SenderIdAction::Reject => {
                    self.transaction = None;
                    return self.refuse(ctx, EdgeReply::SenderIdRejected, FilterStep::SenderId, None);
                }
            }
        }
        self.finish(ctx, content, Some(result));
    }

    /// Step 15 and the end of the transaction. An SCL that came in the Exch50 blob stands:
    /// the IMF does not rate the message again [U].
    fn finish(&mut self, ctx: EdgeContext<'_>, content: EdgeContent, sender_id: Option<SenderIdResult>) {
        let carried = match self.transaction.as_ref().map(|t| t.exch50) {
            Some(Exch50Fate::Kept(blob)) if blob.scl != SCL_NOT_RATED => Some(blob.scl),
            _ => None,
        };
        let rated = self.filtered() && ctx.server.filters.imf && carried.is_none();
        let scl = match carried {
            Some(scl) => scl,
            None if rated => content.content_scl,
            None => SCL_NOT_RATED,
        };
        let imf = ctx.delivery.imf;
        let mut disposition = Disposition::Deliver;
        if rated && scl > imf.gateway_threshold {
            match imf.gateway_action {
                ImfAction::NoAction => {}
                ImfAction::Archive => disposition = Disposition::UceArchive,
                ImfAction::Delete => disposition = Disposition::Deleted(FilterStep::Imf),
                ImfAction::Reject => {
                    self.transaction = None;
                    return self.refuse(ctx, EdgeReply::ImfRejected, FilterStep::Imf, None);
                }
            }
        }
        self.accept(content, scl, sender_id, disposition);
    }

    fn accept(&mut self, content: EdgeContent, scl: i8, sender_id: Option<SenderIdResult>, disposition: Disposition) {
        let transaction = self.transaction.take().expect("content only inside a transaction");
        // Badmail wins: the sender filter decided before anything rated the message.
        let disposition =
            if transaction.badmail { Disposition::Badmail(FilterStep::SenderFilter) } else { disposition };
        self.ready.push_back(EdgeStep::Accept(Box::new(EdgeAccepted {
            sender: transaction.sender,
            recipients: transaction.recipients,
            content,
            principal: self.principal.clone(),
            scl,
            sender_id,
            disposition,
            archived: transaction.archived,
            dnsbl_failed: self.dnsbl_failed,
            exch50: transaction.exch50,
        })));
    }
}

/// The domain part of an address (lower case not assumed).
pub fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map_or("", |(_, d)| d)
}

#[cfg(test)]
mod tests;
