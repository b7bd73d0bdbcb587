//! `edge_filters_enforced` (EXCHANGE2003.md §3.1): at the SMTP edge, every refusal is
//! one the step it names must make, with that step's reply code — and nothing an
//! anonymous session gets accepted passes an enabled filter that should have stopped it
//! or relays without permission. Judged against the organization's settings and the
//! Internet's DNS records directly, not by asking the session machine again.

use super::*;
use org::message::SCL_NOT_RATED;
use org::transport::smtp_filters::connection_filter::ListVerdict;
use org::transport::smtp_filters::edge_session::{Disposition, EdgeConnId, EdgeNode, Exch50Fate, FilterStep};
use org::transport::smtp_filters::sender_filter::SenderVerdict;
use org::transport::smtp_filters::sender_id::{DnsAnswer, DnsQuestion};
use org::transport::smtp_filters::virtual_server::ImfAction;
use org::transport::smtp_filters::EdgeConfig;
use std::net::Ipv4Addr;

/// Whether `code` is the reply the step refuses with (0: the connection dropped without
/// one; the sender filter's drop follows its 550).
fn code_ok(step: FilterStep, code: u16) -> bool {
    match step {
        FilterStep::ConnectionControl | FilterStep::DenyList => code == 0,
        FilterStep::Submission => code == 530 || code == 550,
        _ => code == 550,
    }
}

/// What an acceptance's judge needs beyond the session: the server, and whether a block
/// list lookup went unanswered.
#[derive(Clone, Copy)]
struct Seen {
    server: ServerId,
    dnsbl_failed: bool,
}

/// Sessions from outside and what the judge knows of them.
pub(super) struct EdgeJudge {
    topology: Arc<Topology>,
    /// Address text by id (the edge's interned addresses).
    text: BTreeMap<AddressId, String>,
    sessions: BTreeMap<EdgeConnId, (usize, Ipv4Addr)>,
    judged: u64,
    /// Exch50 blobs kept and refused.
    exch50: (u64, u64),
    /// Accepted messages whose sender shows as its address, and as its GAL entry.
    displays: [u64; 2],
}

impl EdgeJudge {
    pub(super) fn new(topology: Arc<Topology>) -> EdgeJudge {
        let text = topology.edge.addresses.iter().map(|(t, id)| (*id, t.clone())).collect();
        EdgeJudge { topology, text, sessions: BTreeMap::new(), judged: 0, exch50: (0, 0), displays: [0; 2] }
    }

    pub(super) fn detail(&self) -> String {
        format!("{} refusal(s) and acceptance(s) at the SMTP edge, each as its filter step requires", self.judged)
    }

    pub(super) fn display_detail(&self) -> String {
        let [address, resolved] = self.displays;
        format!(
            "{resolved} sender(s) shown as their GAL entry, each authenticated or allowed; {address} as their address"
        )
    }

    pub(super) fn exch50_detail(&self) -> String {
        let (kept, dropped) = self.exch50;
        format!("{kept} Exch50 blob(s) kept, each from a trusted session; {dropped} refused")
    }

    pub(super) fn observe(&mut self, now: Instant, server: ServerId, event: &ServerEvent, judge: &mut Judge<'_>) {
        // Every event of the run passes here: only the edge's are worth an Arc clone.
        let edge_event = matches!(
            event,
            ServerEvent::EdgeConnected { .. } | ServerEvent::EdgeRefused { .. } | ServerEvent::EdgeAccepted { .. }
        );
        if !edge_event {
            return;
        }
        let edge = self.topology.edge.clone();
        match event {
            ServerEvent::EdgeConnected { conn, virtual_server, ip } => {
                let vs = edge.virtual_servers.iter().position(|(s, v)| *s == server && v.name == *virtual_server);
                if let Some(vs) = vs {
                    self.sessions.insert(*conn, (vs, *ip));
                }
            }
            ServerEvent::EdgeRefused { conn, step, code, authenticated, address, .. } => {
                let Some(&(vs, ip)) = self.sessions.get(conn) else { return };
                self.judged += 1;
                let address = address.and_then(|a| self.text.get(&a)).map(String::as_str);
                let name = self.conn_name(*conn);
                if let Some(why) = self.wrong_refusal(now, &edge, (vs, ip, server), *step, *authenticated, address) {
                    let about = address.map_or(String::new(), |a| format!(" {a}"));
                    let text = format!("session {name} from {ip}:{about} refused by {} ({why})", step.as_str());
                    judge.violate(Invariant::EdgeFiltersEnforced, || text);
                } else if !code_ok(*step, *code) {
                    let text = format!("session {name} from {ip}: {} refused with {code}", step.as_str());
                    judge.violate(Invariant::EdgeFiltersEnforced, || text);
                }
            }
            ServerEvent::EdgeAccepted {
                conn,
                sender,
                recipients,
                disposition,
                scl,
                authenticated,
                dnsbl_failed,
                exch50,
                sender_display,
                ..
            } => {
                let Some(&(vs, ip)) = self.sessions.get(conn) else { return };
                self.judged += 1;
                self.displays[usize::from(sender_display.resolved())] += 1;
                let resolve_anonymous = edge.virtual_servers[vs].1.resolve_anonymous;
                if sender_display.resolved() && !*authenticated && !resolve_anonymous {
                    let name = self.conn_name(*conn);
                    judge.violate(Invariant::AnonymousSendersUnresolved, || {
                        format!(
                            "session {name} from {ip}: an anonymous sender shown as its GAL entry ({})",
                            sender_display.as_str()
                        )
                    });
                }
                let kept = matches!(exch50, Exch50Fate::Kept(_));
                self.exch50.0 += u64::from(kept);
                self.exch50.1 += u64::from(*exch50 == Exch50Fate::Dropped);
                if *authenticated {
                    return; // filters apply to anonymous sessions only
                }
                if kept && !edge.virtual_servers[vs].1.exch50_from_anonymous {
                    let name = self.conn_name(*conn);
                    judge.violate(Invariant::Exch50Trusted, || {
                        format!("session {name} from {ip}: an anonymous session's Exch50 blob was kept (Exch50AuthCheckEnabled is on)")
                    });
                }
                // A kept blob's SCL stands: the IMF did not rate the message [U].
                let scl = if kept { SCL_NOT_RATED } else { *scl };
                let sender = sender.and_then(|a| self.text.get(&a)).map(String::as_str);
                let recipients: Vec<&str> =
                    recipients.iter().filter_map(|r| self.text.get(r)).map(String::as_str).collect();
                let seen = Seen { server, dnsbl_failed: *dnsbl_failed };
                let why = self.wrong_acceptance(now, &edge, (vs, ip, seen), sender, &recipients, *disposition, scl);
                if let Some(why) = why {
                    let name = self.conn_name(*conn);
                    judge.violate(Invariant::EdgeFiltersEnforced, || {
                        format!("session {name} from {ip}: accepted {why}")
                    });
                }
            }
            _ => {}
        }
    }

    /// Why a refusal by `step` should not have happened, if it should not.
    #[allow(clippy::too_many_arguments)]
    fn wrong_refusal(
        &self,
        now: Instant,
        edge: &EdgeConfig,
        (vs, ip, server_id): (usize, Ipv4Addr, ServerId),
        step: FilterStep,
        authenticated: bool,
        address: Option<&str>,
    ) -> Option<&'static str> {
        let ctx = edge.context(vs, org::planted_bugs::Plants::NONE);
        let (delivery, server) = (ctx.delivery, ctx.server);
        let anonymous = !authenticated;
        let internal = delivery.internal_servers.iter().any(|e| e.contains(ip));
        let connection = anonymous && server.filters.connection && !internal;
        let filtered = |on: bool| anonymous && on;
        let ok = match step {
            FilterStep::ConnectionControl => !server.connection_control.admits(ip),
            FilterStep::DenyList => connection && delivery.connection.lists(ip) == ListVerdict::Denied,
            FilterStep::Dnsbl => {
                connection
                    && delivery.connection.lists(ip) == ListVerdict::Unlisted
                    && block_listed(&self.topology, edge, ip)
                    && !address.is_some_and(|a| delivery.connection.is_exception(a))
            }
            FilterStep::SenderFilter | FilterStep::HeaderSenderFilter => {
                filtered(server.filters.sender)
                    && address.is_some_and(|a| delivery.sender.judge(a).0 != SenderVerdict::Pass)
            }
            FilterStep::Relay => {
                address.is_some_and(|a| !ctx.authoritative_address(a))
                    && (authenticated || !server.permissions.may_relay(ip, None))
            }
            FilterStep::RecipientBlocked => {
                filtered(server.filters.recipient)
                    && address.is_some_and(|a| org::transport::smtp_filters::listed(&delivery.recipient.blocked, a))
            }
            FilterStep::RecipientNotInDirectory => {
                filtered(server.filters.recipient)
                    && delivery.recipient.filter_not_in_directory
                    && address.is_some_and(|a| ctx.authoritative_address(a) && !self.held(now, server_id, a, false))
            }
            FilterStep::SenderId => filtered(server.filters.sender_id) && !internal,
            FilterStep::Imf => filtered(server.filters.imf) && delivery.imf.gateway_action == ImfAction::Reject,
            FilterStep::Submission => true,
        };
        (!ok).then_some("the step does not apply to this session and address")
    }

    /// What an anonymous acceptance got past, if anything.
    #[allow(clippy::too_many_arguments)]
    fn wrong_acceptance(
        &self,
        now: Instant,
        edge: &EdgeConfig,
        (vs, ip, seen): (usize, Ipv4Addr, Seen),
        sender: Option<&str>,
        recipients: &[&str],
        disposition: Disposition,
        scl: i8,
    ) -> Option<String> {
        let ctx = edge.context(vs, org::planted_bugs::Plants::NONE);
        let (delivery, server) = (ctx.delivery, ctx.server);
        let internal = delivery.internal_servers.iter().any(|e| e.contains(ip));
        if let Some(r) = recipients.iter().find(|r| !ctx.authoritative_address(r)) {
            if !server.permissions.may_relay(ip, None) {
                return Some(format!("a relay to {r} without permission"));
            }
        }
        if server.filters.connection && !internal {
            let lists = delivery.connection.lists(ip);
            if lists == ListVerdict::Denied {
                return Some("mail from a deny-listed client".into());
            }
            // A lookup that went unanswered counts as not listed [U]: nothing to judge.
            let listed = lists == ListVerdict::Unlisted && !seen.dnsbl_failed && block_listed(&self.topology, edge, ip);
            if let Some(r) = recipients.iter().find(|r| listed && !delivery.connection.is_exception(r)) {
                return Some(format!("mail from a block-listed client to {r}, not an exception"));
            }
        }
        if server.filters.recipient {
            let blocked = |r: &&&str| org::transport::smtp_filters::listed(&delivery.recipient.blocked, r);
            let unknown = |r: &&&str| {
                delivery.recipient.filter_not_in_directory
                    && ctx.authoritative_address(r)
                    && !self.held(now, seen.server, r, true)
            };
            let exception = |r: &&&str| server.filters.connection && delivery.connection.is_exception(r);
            if let Some(r) = recipients.iter().find(|r| !exception(r) && (blocked(r) || unknown(r))) {
                return Some(format!("mail to {r}, which the recipient filter refuses"));
            }
        }
        let blocked_sender = sender.is_some_and(|s| delivery.sender.judge(s).0 != SenderVerdict::Pass);
        if server.filters.sender && blocked_sender && disposition == Disposition::Deliver {
            return Some("mail from a blocked sender for delivery".into());
        }
        let imf = delivery.imf;
        if server.filters.imf
            && scl > imf.gateway_threshold
            && imf.gateway_action != ImfAction::NoAction
            && disposition == Disposition::Deliver
        {
            return Some(format!("mail rated SCL {scl} above the gateway threshold for delivery"));
        }
        None
    }

    fn conn_name(&self, conn: EdgeConnId) -> String {
        let client = match conn.client {
            EdgeNode::Host(h) => &self.topology.host(h).name,
            EdgeNode::Server(s) => &self.topology.server(s).name,
        };
        format!("{client}#{}", conn.seq)
    }

    /// Whether the directory holds `address` now. A server that reads it through
    /// DSAccess asks a GC whose replica may lag the directory (§2): there the judge
    /// cannot tell, and answers `unsure`.
    fn held(&self, now: Instant, server: ServerId, address: &str, unsure: bool) -> bool {
        if self.topology.server(server).dsaccess.is_some() {
            return unsure;
        }
        let id = self.topology.edge.addresses.get(&address.to_ascii_lowercase());
        id.is_some_and(|id| self.topology.directory.usable(*id, now).is_some())
    }
}

/// Whether any block list rule matches `ip` in the Internet's zones, judged here on its
/// own: a listing is a `127.0.0.x` answer; a mask matches only when all its bits are set
/// (§3.1).
fn block_listed(topology: &Topology, edge: &EdgeConfig, ip: Ipv4Addr) -> bool {
    use org::transport::smtp_filters::connection_filter::DnsblMatch;
    edge.delivery.connection.rules.iter().any(|rule| {
        let [a, b, c, d] = ip.octets();
        let name = format!("{d}.{c}.{b}.{a}.{}", rule.zone);
        let DnsAnswer::A(codes) = topology.internet.zones.answer(&DnsQuestion::A(name)) else { return false };
        codes.iter().filter(|code| code.octets()[0] == 127).any(|code| match &rule.matching {
            DnsblMatch::AnyReturnCode => true,
            DnsblMatch::Codes(listed) => listed.contains(code),
            DnsblMatch::Mask(mask) => u32::from(*mask) != 0 && u32::from(*code) & u32::from(*mask) == u32::from(*mask),
        })
    })
}
