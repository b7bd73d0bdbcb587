//! The receiving side of sessions from outside the organization, on the server's inbound
//! virtual servers (EXCHANGE2003.md §3.1): each runs an [`EdgeSession`], whose DNS
//! questions go to the Internet's DNS servers (the next after a timeout) and whose
//! directory lookups go to a GC, the session waiting meanwhile. A reply the tarpit
//! delays, or a 250 that waits for the message to be durable, holds every reply after
//! it, so the client reads them in order.

use super::*;
use crate::transport::dns::{EdgeDnsQuery, EdgeDnsReply};
use crate::transport::mailroot::{ArchiveFolder, VirtualServerRef};
use crate::transport::smtp_filters::edge_session::{
    Disposition, EdgeAccepted, EdgeAnswer, EdgeConnId, EdgeFrame, EdgeNode, EdgePacket, EdgeQuery, EdgeReply,
    EdgeSession, EdgeStep, FilterStep,
};
use crate::transport::smtp_filters::sender_id::DnsAnswer;
use crate::transport::smtp_filters::SenderDisplay;

/// What an inbound session from outside waits on.
#[derive(Clone, Debug)]
pub(super) enum EdgeWait {
    /// A DNS question out to the `server`-th DNS server.
    Dns { number: u32, server: usize, query: EdgeDnsQuery },
    /// A directory lookup out to a GC.
    Directory { gc: DcId, search: LdapSearchId },
}

/// One inbound session from outside.
#[derive(Clone, Debug)]
pub(super) struct EdgeConn {
    virtual_server: u16,
    session: EdgeSession,
    wait: Option<EdgeWait>,
    /// Questions asked so far (numbers DNS answers).
    asked: u32,
    /// Replies not sent yet, and whether they wait for the tarpit or a flush.
    held: Vec<EdgeReply>,
    tarpit_until: Option<Instant>,
    flushes_pending: u32,
    closing: bool,
    idle_deadline: Instant,
}

impl SmtpService {
    /// A frame from a client outside the organization.
    pub fn handle_edge_packet(&mut self, now: Instant, from: EdgeNode, packet: EdgePacket) {
        let conn = packet.conn;
        if let (EdgeNode::Server(from), true) = (from, conn.client == EdgeNode::Server(self.id)) {
            return self.handle_foreign_frame(now, from, packet);
        }
        debug_assert_eq!(conn.client, from, "clients open their own sessions");
        let idle_ms = self.topology.server(self.id).smtp.connection_timeout_ms;
        match packet.frame {
            EdgeFrame::Connect { virtual_server, ip } => {
                let edge = self.topology.edge.clone();
                let Some((server, vs)) = edge.virtual_servers.get(usize::from(virtual_server)) else { return };
                if *server != self.id {
                    return; // not ours: the port is closed
                }
                let session = EdgeSession::connect(edge.context(usize::from(virtual_server), self.topology.plants), ip);
                self.emit(ServerEvent::EdgeConnected { conn, virtual_server: vs.name.clone(), ip });
                let idle_deadline = now.plus_ms(idle_ms);
                let c = EdgeConn {
                    virtual_server,
                    session,
                    wait: None,
                    asked: 0,
                    held: Vec::new(),
                    tarpit_until: None,
                    flushes_pending: 0,
                    closing: false,
                    idle_deadline,
                };
                self.edge.insert(conn, c);
                self.timers.set(Timer::EdgeIdle(conn), idle_deadline);
            }
            EdgeFrame::Commands(commands) => {
                let Some(c) = self.edge.get_mut(&conn) else {
                    let packet = EdgePacket { conn, frame: EdgeFrame::Closed };
                    return self.out.output(Output::SendEdge { to: from, packet });
                };
                c.idle_deadline = now.plus_ms(idle_ms);
                for command in commands {
                    c.session.push(command);
                }
            }
            EdgeFrame::Replies(_) | EdgeFrame::Closed => {
                self.drop_edge(conn);
                return;
            }
        }
        self.drive_edge(now, conn);
    }

    fn drop_edge(&mut self, conn: EdgeConnId) {
        if let Some(c) = self.edge.remove(&conn) {
            if let Some(EdgeWait::Directory { gc, search }) = c.wait {
                self.edge_searches.remove(&(gc, search));
            }
            self.timers.cancel(Timer::EdgeIdle(conn));
            self.timers.cancel(Timer::EdgeQuery(conn));
            self.timers.cancel(Timer::EdgeTarpit(conn));
        }
    }

    /// Runs the session until it waits, then sends what it may.
    fn drive_edge(&mut self, now: Instant, conn: EdgeConnId) {
        let edge = self.topology.edge.clone();
        loop {
            let Some(c) = self.edge.get_mut(&conn) else { return };
            let ctx = edge.context(usize::from(c.virtual_server), self.topology.plants);
            let Some(step) = c.session.poll(ctx) else { break };
            match step {
                EdgeStep::Reply { reply, delay_ms, refused_by, about } => {
                    if let Some(step) = refused_by {
                        self.refused_at_edge(conn, step, reply.code(), false, about.as_deref());
                    }
                    let c = self.edge.get_mut(&conn).expect("looked up above");
                    if delay_ms > 0 && c.tarpit_until.is_none() {
                        let until = now.plus_ms(delay_ms);
                        c.tarpit_until = Some(until);
                        self.timers.set(Timer::EdgeTarpit(conn), until);
                    }
                    self.edge.get_mut(&conn).expect("looked up above").held.push(reply);
                }
                EdgeStep::Query(query) => self.ask_edge(now, conn, query),
                EdgeStep::Accept(accepted) => self.accept_edge(now, conn, *accepted),
                EdgeStep::Close { reply, dropped_by, about } => {
                    if let Some(step) = dropped_by {
                        let code = reply.as_ref().map_or(0, EdgeReply::code);
                        self.refused_at_edge(conn, step, code, true, about.as_deref());
                    }
                    let c = self.edge.get_mut(&conn).expect("looked up above");
                    c.held.extend(reply);
                    c.closing = true;
                }
            }
        }
        self.send_edge(conn);
    }

    fn refused_at_edge(&mut self, conn: EdgeConnId, step: FilterStep, code: u16, dropped: bool, about: Option<&str>) {
        let authenticated = self.edge.get(&conn).is_some_and(|c| c.session.is_authenticated());
        let address = about.and_then(|a| self.topology.edge.addresses.get(&a.to_ascii_lowercase()).copied());
        self.emit(ServerEvent::EdgeRefused { conn, step, code, dropped, authenticated, address });
    }

    /// Sends the held replies unless the tarpit or a flush holds them.
    fn send_edge(&mut self, conn: EdgeConnId) {
        let Some(c) = self.edge.get_mut(&conn) else { return };
        if c.tarpit_until.is_some() || c.flushes_pending > 0 {
            return;
        }
        let replies = std::mem::take(&mut c.held);
        let closing = c.closing;
        if !replies.is_empty() {
            let packet = EdgePacket { conn, frame: EdgeFrame::Replies(replies) };
            self.out.output(Output::SendEdge { to: conn.client, packet });
        }
        if closing {
            let packet = EdgePacket { conn, frame: EdgeFrame::Closed };
            self.out.output(Output::SendEdge { to: conn.client, packet });
            self.drop_edge(conn);
        }
    }

    /// The tarpit's delay is over.
    pub(super) fn edge_tarpit_over(&mut self, now: Instant, conn: EdgeConnId) {
        if let Some(c) = self.edge.get_mut(&conn) {
            c.tarpit_until = None;
            self.drive_edge(now, conn);
        }
    }

    /// What the session accepted is durable.
    pub(super) fn edge_flushed(&mut self, now: Instant, conn: EdgeConnId) {
        if let Some(c) = self.edge.get_mut(&conn) {
            c.flushes_pending = c.flushes_pending.saturating_sub(1);
            self.drive_edge(now, conn);
        }
    }

    fn ask_edge(&mut self, now: Instant, conn: EdgeConnId, query: EdgeQuery) {
        match query {
            EdgeQuery::Dns(question) => {
                let c = self.edge.get_mut(&conn).expect("asked by a live session");
                c.asked += 1;
                let query = EdgeDnsQuery { conn, number: c.asked, question };
                self.ask_edge_dns(now, conn, query, 0);
            }
            EdgeQuery::Directory(address) => self.ask_edge_directory(now, conn, &address),
            // Accounts are the directory's; the scenario's passwords stand for the DC's
            // check (no Kerberos or NTLM round trip is modelled).
            EdgeQuery::Authenticate { account, password } => {
                let forest = self.topology.server(self.id).forest;
                let principal = self.topology.edge.authenticate(forest, &account, &password);
                self.answer_edge(now, conn, EdgeAnswer::Authenticated(principal));
            }
        }
    }

    fn ask_edge_dns(&mut self, now: Instant, conn: EdgeConnId, query: EdgeDnsQuery, server: usize) {
        let Some(&to) = self.topology.internet.dns_servers.get(server) else {
            // No DNS server left: the question failed.
            return self.answer_edge(now, conn, EdgeAnswer::Dns(DnsAnswer::Failed));
        };
        let c = self.edge.get_mut(&conn).expect("asked by a live session");
        c.wait = Some(EdgeWait::Dns { number: query.number, server, query: query.clone() });
        self.out.output(Output::EdgeDns { to, query });
        self.timers.set(Timer::EdgeQuery(conn), now.plus_ms(self.topology.internet.dns_timeout_ms));
    }

    /// Step 11's lookup: through DSAccess to a GC when the scenario simulates DSAccess,
    /// else read from the directory as of now (as the categorizer does, §2).
    fn ask_edge_directory(&mut self, now: Instant, conn: EdgeConnId, address: &str) {
        let id = self.topology.edge.addresses.get(&address.to_ascii_lowercase()).copied();
        if self.dsaccess.is_none() {
            let found = id.is_some_and(|id| self.topology.gal_of(self.id).usable(id, now).is_some());
            return self.answer_edge(now, conn, EdgeAnswer::Directory(Some(found)));
        }
        let gc =
            self.topology.server(self.id).global_catalogs.iter().copied().find(|gc| match self.gc_suspect.get(gc) {
                None => true,
                Some(until) => *until <= now,
            });
        let (Some(id), Some(gc)) = (id, gc) else {
            // An address never interned is in no directory; with no GC, no answer.
            let found = if id.is_none() { Some(false) } else { None };
            return self.answer_edge(now, conn, EdgeAnswer::Directory(found));
        };
        let search = self.next_search;
        self.next_search = search.next();
        self.edge_searches.insert((gc, search), conn);
        self.edge.get_mut(&conn).expect("asked by a live session").wait = Some(EdgeWait::Directory { gc, search });
        self.out.output(Output::Ldap { to: gc, search: LdapSearch { search, query: LdapQuery::Resolve(vec![id]) } });
        self.timers.set(Timer::EdgeQuery(conn), now.plus_ms(LDAP_TIMEOUT_MS));
    }

    fn answer_edge(&mut self, now: Instant, conn: EdgeConnId, answer: EdgeAnswer) {
        let edge = self.topology.edge.clone();
        let Some(c) = self.edge.get_mut(&conn) else { return };
        c.wait = None;
        self.timers.cancel(Timer::EdgeQuery(conn));
        let ctx = edge.context(usize::from(c.virtual_server), self.topology.plants);
        c.session.answer(ctx, answer);
        self.drive_edge(now, conn);
    }

    /// A DNS server answered a session's question.
    pub fn handle_edge_dns_reply(&mut self, now: Instant, from: HostId, reply: EdgeDnsReply) {
        let conn = reply.query.conn;
        let Some(c) = self.edge.get(&conn) else { return };
        let Some(EdgeWait::Dns { number, server, .. }) = &c.wait else { return };
        if *number != reply.query.number || self.topology.internet.dns_servers.get(*server) != Some(&from) {
            return; // a late answer to a question given up on
        }
        self.answer_edge(now, conn, EdgeAnswer::Dns(reply.answer));
    }

    /// A GC answered a session's lookup; true when it was one.
    pub(super) fn edge_ldap_page(&mut self, now: Instant, from: DcId, page: &LdapPage) -> bool {
        let Some(conn) = self.edge_searches.remove(&(from, page.search)) else { return false };
        self.gc_suspect.remove(&from);
        let found = page.result.as_ref().is_ok_and(|found| !found.is_empty());
        self.answer_edge(now, conn, EdgeAnswer::Directory(Some(found)));
        true
    }

    /// A session's question went unanswered: the next DNS server, or a failure.
    pub(super) fn edge_query_timed_out(&mut self, now: Instant, conn: EdgeConnId) {
        let Some(c) = self.edge.get_mut(&conn) else { return };
        match c.wait.take() {
            Some(EdgeWait::Dns { server, query, .. }) => self.ask_edge_dns(now, conn, query, server + 1),
            Some(EdgeWait::Directory { gc, search }) => {
                self.edge_searches.remove(&(gc, search));
                self.gc_suspect.insert(gc, now.plus_ms(GC_RECHECK_MS));
                self.answer_edge(now, conn, EdgeAnswer::Directory(None));
            }
            None => {}
        }
    }

    /// The client went quiet: the session is dropped.
    pub(super) fn edge_idle(&mut self, now: Instant, conn: EdgeConnId) {
        match self.edge.get(&conn).map(|c| c.idle_deadline) {
            Some(deadline) if deadline > now => self.timers.set(Timer::EdgeIdle(conn), deadline),
            Some(_) => self.drop_edge(conn),
            None => {}
        }
    }

    /// How a message from outside shows its sender (§6): the GAL entry the sender resolves
    /// to as the directory holds it now, shown only for an authenticated submission or on
    /// a virtual server resolving anonymous mail.
    fn sender_display(&self, now: Instant, sender: Option<AddressId>, authenticated: bool, vs: u16) -> SenderDisplay {
        let edge = &self.topology.edge;
        let gal = edge.gal.get(usize::from(self.topology.server(self.id).forest.0));
        let entry = sender.and_then(|s| gal?.get(&s));
        let in_gal = entry.is_some_and(|e| self.topology.gal_of(self.id).usable(*e, now).is_some());
        let resolve_anonymous = edge.virtual_servers.get(usize::from(vs)).is_some_and(|(_, v)| v.resolve_anonymous)
            || self.topology.bug(PlantedBug::ResolvesAnonymousSenders);
        SenderDisplay::of(in_gal, authenticated, resolve_anonymous)
    }

    /// A message the session took: into the queues (its 250 once durable), or to
    /// Badmail, the UCEArchive or nowhere.
    fn accept_edge(&mut self, now: Instant, conn: EdgeConnId, accepted: EdgeAccepted) {
        let addresses = &self.topology.edge.addresses;
        let id = |a: &str| addresses.get(&a.to_ascii_lowercase()).copied();
        // A recipient named twice is one recipient (the categorizer folds duplicates).
        let mut recipients: Vec<AddressId> = Vec::with_capacity(accepted.recipients.len());
        for r in accepted.recipients.iter().filter_map(|r| id(r)) {
            if !recipients.contains(&r) {
                recipients.push(r);
            }
        }
        let sender = id(&accepted.sender);
        let message_id = accepted.content.message_id;
        let c = self.edge.get(&conn).expect("accepted on a live session");
        let sender_display = self.sender_display(now, sender, accepted.principal.is_some(), c.virtual_server);
        self.emit(ServerEvent::EdgeAccepted {
            conn,
            message: message_id,
            sender,
            recipients: recipients.clone(),
            disposition: accepted.disposition,
            scl: accepted.scl,
            sender_id: accepted.sender_id,
            authenticated: accepted.principal.is_some(),
            dnsbl_failed: accepted.dnsbl_failed,
            exch50: accepted.exch50,
            sender_display,
        });
        // The null reverse path (a DSN, an automatic reply) from another organization's
        // Exchange server is delivered too. From Internet clients only interned senders'
        // mail is (their bounces are not modelled yet).
        let null_path = accepted.sender.is_empty() && accepted.content.headers.is_some();
        let deliver =
            accepted.disposition == Disposition::Deliver && (sender.is_some() || null_path) && !recipients.is_empty();
        let c = self.edge.get_mut(&conn).expect("accepted on a live session");
        c.held.push(EdgeReply::Queued);
        let vs = VirtualServerRef::Inbound(c.virtual_server);
        let size_bytes = accepted.content.size_bytes;
        if accepted.archived {
            self.file_archive(vs, message_id, ArchiveFolder::Filter, size_bytes);
        }
        match accepted.disposition {
            Disposition::Badmail(_) => self.file_badmail(vs, message_id, size_bytes),
            Disposition::UceArchive => self.file_archive(vs, message_id, ArchiveFolder::UceArchive, size_bytes),
            Disposition::Deliver | Disposition::Deleted(_) => {}
        }
        if !deliver {
            return;
        }
        let c = self.edge.get_mut(&conn).expect("accepted on a live session");
        c.flushes_pending += 1;
        // Another organization's Exchange server carries its Received headers and Date.
        let (hop_count, submitted_at) = match accepted.content.headers {
            Some(h) => (h.hop_count.saturating_add(1), h.submitted_at),
            None => (1, now),
        };
        let message = Message {
            id: message_id,
            kind: MessageKind::Normal,
            sender,
            size_bytes: accepted.content.size_bytes,
            submitted_at,
            hop_count,
            authenticated: accepted.principal.is_some(),
            header_recipients: recipients.clone().into(),
            scl: accepted.scl,
            journaled: Default::default(),
            replication: None,
        };
        self.accept_submission(now, message, recipients);
        self.out.after_flush(AfterFlush::EdgeFlushed(conn));
    }
}
