use super::*;
use crate::transport::smtp_filters::connection_filter::{DnsblMatch, DnsblRule, IpEntry};
use crate::transport::smtp_filters::virtual_server::{ConnectionControl, EnabledFilters, ImfSettings};
use crate::transport::smtp_filters::AddressPattern;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn pattern(s: &str) -> AddressPattern {
    AddressPattern::parse(s).unwrap()
}

/// The world a session's queries are answered from.
#[derive(Default)]
struct World {
    dns_a: BTreeMap<String, Vec<Ipv4Addr>>,
    dns_txt: BTreeMap<String, Vec<String>>,
    directory: Vec<String>,
    directory_down: bool,
    dns_down: bool,
    accounts: BTreeMap<String, (String, Vec<String>)>,
    queries: Vec<EdgeQuery>,
}

impl World {
    fn answer(&mut self, query: &EdgeQuery) -> EdgeAnswer {
        self.queries.push(query.clone());
        match query {
            EdgeQuery::Dns(_) if self.dns_down => EdgeAnswer::Dns(DnsAnswer::Failed),
            EdgeQuery::Dns(DnsQuestion::A(name)) => {
                EdgeAnswer::Dns(self.dns_a.get(name).map_or(DnsAnswer::NotFound, |a| DnsAnswer::A(a.clone())))
            }
            EdgeQuery::Dns(DnsQuestion::Txt(name)) => {
                EdgeAnswer::Dns(self.dns_txt.get(name).map_or(DnsAnswer::NotFound, |t| DnsAnswer::Txt(t.clone())))
            }
            EdgeQuery::Dns(DnsQuestion::Mx(_)) => EdgeAnswer::Dns(DnsAnswer::NotFound),
            EdgeQuery::Directory(a) if self.directory_down => {
                let _ = a;
                EdgeAnswer::Directory(None)
            }
            EdgeQuery::Directory(a) => {
                EdgeAnswer::Directory(Some(self.directory.iter().any(|d| d.eq_ignore_ascii_case(a))))
            }
            EdgeQuery::Authenticate { account, password } => EdgeAnswer::Authenticated(
                self.accounts
                    .get(account)
                    .filter(|(p, _)| p == password)
                    .map(|(_, groups)| Principal { account: account.clone(), groups: groups.clone() }),
            ),
        }
    }
}

struct Setup {
    delivery: MessageDelivery,
    server: VirtualServer,
    authoritative: Vec<String>,
}

impl Setup {
    /// Every filter configured and enabled; contoso.com is ours.
    fn gateway() -> Setup {
        let mut delivery = MessageDelivery::default();
        delivery.connection.accept = vec![IpEntry::single(ip("198.51.100.7"))];
        delivery.connection.deny = vec![IpEntry::subnet(ip("203.0.113.0"), ip("255.255.255.0")).unwrap()];
        delivery.connection.rules = vec![
            DnsblRule {
                name: "Spamhaus".into(),
                zone: "sbl.example".into(),
                matching: DnsblMatch::Mask(ip("0.0.0.6")),
                reply: Some("%0 is listed by %1 at %2".into()),
            },
            DnsblRule {
                name: "Open relays".into(),
                zone: "relays.example".into(),
                matching: DnsblMatch::AnyReturnCode,
                reply: None,
            },
        ];
        delivery.connection.exceptions = vec![pattern("postmaster@contoso.com")];
        delivery.sender.blocked = vec![pattern("*@spam.example")];
        delivery.recipient.blocked = vec![pattern("ceo@contoso.com")];
        delivery.recipient.filter_not_in_directory = true;
        delivery.imf = ImfSettings { gateway_threshold: 7, gateway_action: ImfAction::Archive, store_threshold: 5 };
        let mut server = VirtualServer::new("Internet SMTP", "mail.contoso.com", ip("10.0.0.25"));
        server.filters = EnabledFilters { sender: true, recipient: true, connection: true, sender_id: true, imf: true };
        Setup { delivery, server, authoritative: vec!["contoso.com".into()] }
    }

    fn ctx(&self) -> EdgeContext<'_> {
        EdgeContext {
            delivery: &self.delivery,
            server: &self.server,
            authoritative: &self.authoritative,
            plants: crate::planted_bugs::Plants::NONE,
        }
    }
}

fn world() -> World {
    let mut w = World { directory: vec!["alice@contoso.com".into(), "ceo@contoso.com".into()], ..World::default() };
    w.dns_txt.insert("fabrikam.com".into(), vec!["spf2.0/pra ip4:192.0.2.0/24 -all".into()]);
    w.accounts.insert("bob".into(), ("secret".into(), vec!["Domain Users".into()]));
    w
}

/// Runs a whole session, answering every query from `world`; returns its steps.
fn run(setup: &Setup, world: &mut World, from: &str, commands: Vec<EdgeCommand>) -> Vec<EdgeStep> {
    let ctx = setup.ctx();
    let mut session = EdgeSession::connect(ctx, ip(from));
    for c in commands {
        session.push(c);
    }
    let mut steps = Vec::new();
    while let Some(step) = session.poll(ctx) {
        if let EdgeStep::Query(q) = &step {
            let answer = world.answer(q);
            session.answer(ctx, answer);
        }
        steps.push(step);
    }
    steps
}

fn mail(sender: &str, recipients: &[&str], header_from: Option<&str>, scl: i8) -> Vec<EdgeCommand> {
    let mut c = vec![EdgeCommand::Ehlo("client.example".into())];
    c.push(EdgeCommand::MailFrom { sender: sender.into(), size_bytes: Some(10_000) });
    c.extend(recipients.iter().map(|r| EdgeCommand::RcptTo(r.to_string())));
    c.push(EdgeCommand::Data);
    c.push(EdgeCommand::Content(EdgeContent {
        header_from: header_from.map(str::to_string),
        size_bytes: 10_000,
        content_scl: scl,
        message_id: crate::message::MessageId::Client(1),
        headers: None,
    }));
    c.push(EdgeCommand::Quit);
    c
}

fn replies(steps: &[EdgeStep]) -> Vec<u16> {
    steps
        .iter()
        .filter_map(|s| match s {
            EdgeStep::Reply { reply, .. } => Some(reply.code()),
            EdgeStep::Close { reply: Some(r), .. } => Some(r.code()),
            _ => None,
        })
        .collect()
}

fn refusals(steps: &[EdgeStep]) -> Vec<FilterStep> {
    steps
        .iter()
        .filter_map(|s| match s {
            EdgeStep::Reply { refused_by, .. } => *refused_by,
            EdgeStep::Close { dropped_by, .. } => *dropped_by,
            _ => None,
        })
        .collect()
}

fn accepted(steps: &[EdgeStep]) -> Vec<&EdgeAccepted> {
    steps
        .iter()
        .filter_map(|s| match s {
            EdgeStep::Accept(a) => Some(a.as_ref()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_clean_message_passes_every_step() {
    let setup = Setup::gateway();
    let mut w = world();
    let steps =
        run(&setup, &mut w, "192.0.2.10", mail("a@fabrikam.com", &["alice@contoso.com"], Some("a@fabrikam.com"), 2));
    assert_eq!(replies(&steps), vec![220, 250, 250, 250, 354, 221], "{steps:?}");
    let a = accepted(&steps);
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].scl, a[0].sender_id, a[0].disposition), (2, Some(SenderIdResult::Pass), Disposition::Deliver));
    let asked: Vec<_> = w.queries.iter().map(|q| format!("{q:?}")).collect();
    assert!(asked[0].contains("10.2.0.192.sbl.example") && asked[1].contains("10.2.0.192.relays.example"), "{asked:?}");
    assert!(asked[2].contains("Directory(\"alice@contoso.com\")"), "{asked:?}");
}

#[test]
fn connection_control_drops_before_the_banner() {
    let mut setup = Setup::gateway();
    setup.server.connection_control = ConnectionControl::AllExcept(vec![IpEntry::single(ip("192.0.2.66"))]);
    let steps = run(&setup, &mut world(), "192.0.2.66", mail("a@fabrikam.com", &["alice@contoso.com"], None, 0));
    assert_eq!(
        steps,
        vec![EdgeStep::Close { reply: None, dropped_by: Some(FilterStep::ConnectionControl), about: None }]
    );
}

#[test]
fn the_deny_list_drops_at_mail_from_unless_accept_listed() {
    let mut setup = Setup::gateway();
    let steps = run(&setup, &mut world(), "203.0.113.9", mail("a@fabrikam.com", &["alice@contoso.com"], None, 0));
    assert_eq!(replies(&steps), vec![220, 250]);
    assert_eq!(refusals(&steps), vec![FilterStep::DenyList]);
    // The accept list wins over the deny list and skips the DNSBL rules.
    setup.delivery.connection.accept.push(IpEntry::single(ip("203.0.113.9")));
    let mut w = world();
    w.dns_a.insert("9.113.0.203.relays.example".into(), vec![ip("127.0.0.2")]);
    let steps = run(&setup, &mut w, "203.0.113.9", mail("a@fabrikam.com", &["alice@contoso.com"], None, 0));
    assert_eq!(accepted(&steps).len(), 1, "{steps:?}");
    assert!(
        !w.queries.iter().any(|q| matches!(q, EdgeQuery::Dns(DnsQuestion::A(_)))),
        "no DNSBL query: {:?}",
        w.queries
    );
}

#[test]
fn dnsbl_rules_in_priority_order_with_masks_needing_all_bits() {
    let setup = Setup::gateway();
    let mut w = world();
    // On list 2 only at the first provider: mask 0.0.0.6 needs lists 2 and 4.
    w.dns_a.insert("5.2.0.192.sbl.example".into(), vec![ip("127.0.0.2")]);
    w.dns_a.insert("5.2.0.192.relays.example".into(), vec![ip("127.0.0.9")]);
    let steps = run(
        &setup,
        &mut w,
        "192.0.2.5",
        mail("a@fabrikam.com", &["alice@contoso.com", "postmaster@contoso.com"], None, 0),
    );
    let texts: Vec<_> = steps
        .iter()
        .filter_map(|s| match s {
            EdgeStep::Reply { reply: EdgeReply::Blocklisted(t), .. } => Some(t.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, vec!["192.0.2.5 has been blocked by Open relays"], "the second rule, default text");
    assert_eq!(accepted(&steps)[0].recipients, vec!["postmaster@contoso.com"], "exception recipients pass");
    // Lists 2 and 4 at the first provider: its rule matches first, with its own text.
    w.dns_a.insert("5.2.0.192.sbl.example".into(), vec![ip("127.0.0.6")]);
    let steps = run(&setup, &mut w, "192.0.2.5", mail("a@fabrikam.com", &["alice@contoso.com"], None, 0));
    let reply = steps.iter().find(|s| matches!(s, EdgeStep::Reply { refused_by: Some(FilterStep::Dnsbl), .. }));
    let Some(EdgeStep::Reply { reply, .. }) = reply else { panic!("{steps:?}") };
    assert_eq!(
        reply.lines("mail.contoso.com", ip("192.0.2.5")),
        vec!["550 5.7.1 192.0.2.5 is listed by Spamhaus at sbl.example"]
    );
}

#[test]
fn the_sender_filter_refuses_drops_or_diverts_to_badmail() {
    let mut setup = Setup::gateway();
    let steps = run(&setup, &mut world(), "192.0.2.10", mail("x@spam.example", &["alice@contoso.com"], None, 0));
    assert_eq!(refusals(&steps), vec![FilterStep::SenderFilter]);
    assert_eq!(replies(&steps)[2], 550);
    assert!(accepted(&steps).is_empty());
    setup.delivery.sender.accept_silently = true;
    let steps = run(&setup, &mut world(), "192.0.2.10", mail("x@spam.example", &["alice@contoso.com"], None, 0));
    assert_eq!(accepted(&steps)[0].disposition, Disposition::Badmail(FilterStep::SenderFilter));
    // The From header is checked after DATA too.
    setup.delivery.sender.accept_silently = false;
    setup.delivery.sender.drop_connection = true;
    let steps = run(
        &setup,
        &mut world(),
        "192.0.2.10",
        mail("a@fabrikam.com", &["alice@contoso.com"], Some("boss@spam.example"), 0),
    );
    assert_eq!(refusals(&steps), vec![FilterStep::HeaderSenderFilter]);
    assert!(matches!(steps.last(), Some(EdgeStep::Close { reply: Some(EdgeReply::SenderDenied(_)), .. })));
}

#[test]
fn recipients_blocked_unknown_or_unreachable_directory_with_the_tarpit() {
    let mut setup = Setup::gateway();
    setup.delivery.tarpit_ms = 5_000;
    let mut w = world();
    let steps = run(
        &setup,
        &mut w,
        "192.0.2.10",
        mail("a@fabrikam.com", &["ceo@contoso.com", "nobody@contoso.com", "alice@contoso.com"], None, 0),
    );
    assert_eq!(refusals(&steps), vec![FilterStep::RecipientBlocked, FilterStep::RecipientNotInDirectory]);
    let delays: Vec<u64> = steps
        .iter()
        .filter_map(|s| match s {
            EdgeStep::Reply { delay_ms, refused_by: Some(_), .. } => Some(*delay_ms),
            _ => None,
        })
        .collect();
    assert_eq!(delays, vec![5_000, 5_000]);
    assert_eq!(accepted(&steps)[0].recipients, vec!["alice@contoso.com"]);
    w.directory_down = true;
    let steps = run(&setup, &mut w, "192.0.2.10", mail("a@fabrikam.com", &["alice@contoso.com"], None, 0));
    assert!(replies(&steps).contains(&451), "{steps:?}");
    // Without recipient filtering, unknown recipients are accepted (and NDR'd later).
    setup.server.filters.recipient = false;
    let steps = run(&setup, &mut world(), "192.0.2.10", mail("a@fabrikam.com", &["nobody@contoso.com"], None, 0));
    assert_eq!(accepted(&steps)[0].recipients, vec!["nobody@contoso.com"]);
}

#[test]
fn relaying_needs_permission() {
    let mut setup = Setup::gateway();
    let steps = run(&setup, &mut world(), "192.0.2.10", mail("a@fabrikam.com", &["x@elsewhere.example"], None, 0));
    assert_eq!(refusals(&steps), vec![FilterStep::Relay]);
    let mut commands = mail("bob@contoso.com", &["x@elsewhere.example"], None, 0);
    commands.insert(1, EdgeCommand::Auth { account: "bob".into(), password: "secret".into() });
    let steps = run(&setup, &mut world(), "192.0.2.10", commands.clone());
    assert_eq!(accepted(&steps)[0].recipients, vec!["x@elsewhere.example"], "{steps:?}");
    commands[1] = EdgeCommand::Auth { account: "bob".into(), password: "wrong".into() };
    let steps = run(&setup, &mut world(), "192.0.2.10", commands);
    assert_eq!(replies(&steps)[2], 535);
    assert_eq!(refusals(&steps), vec![FilterStep::Relay]);
    setup.server.permissions.open_relay = true;
    let steps = run(&setup, &mut world(), "192.0.2.10", mail("a@fabrikam.com", &["x@elsewhere.example"], None, 0));
    assert_eq!(accepted(&steps).len(), 1);
}

#[test]
fn an_authenticated_session_bypasses_every_filter() {
    let setup = Setup::gateway();
    let mut w = world();
    w.dns_a.insert("9.113.0.203.relays.example".into(), vec![ip("127.0.0.2")]);
    let mut commands = mail("x@spam.example", &["ceo@contoso.com", "nobody@contoso.com"], Some("x@spam.example"), 9);
    commands.insert(1, EdgeCommand::Auth { account: "bob".into(), password: "secret".into() });
    let steps = run(&setup, &mut w, "203.0.113.9", commands);
    assert!(refusals(&steps).is_empty(), "{steps:?}");
    let a = accepted(&steps);
    assert_eq!((a[0].scl, a[0].sender_id, a[0].disposition), (SCL_NOT_RATED, None, Disposition::Deliver));
    assert_eq!(w.queries.len(), 1, "only the AUTH check: {:?}", w.queries);
}

#[test]
fn sender_id_failure_under_each_action() {
    let mut setup = Setup::gateway();
    let spoof = || mail("ceo@fabrikam.com", &["alice@contoso.com"], Some("ceo@fabrikam.com"), 0);
    let steps = run(&setup, &mut world(), "198.18.0.1", spoof());
    assert_eq!(accepted(&steps)[0].sender_id, Some(SenderIdResult::Fail), "Accept stamps the result");
    setup.delivery.sender_id_action = SenderIdAction::Delete;
    let steps = run(&setup, &mut world(), "198.18.0.1", spoof());
    assert_eq!(accepted(&steps)[0].disposition, Disposition::Deleted(FilterStep::SenderId));
    setup.delivery.sender_id_action = SenderIdAction::Reject;
    let steps = run(&setup, &mut world(), "198.18.0.1", spoof());
    assert_eq!(refusals(&steps), vec![FilterStep::SenderId]);
    assert!(accepted(&steps).is_empty());
    let steps = run(&setup, &mut world(), "192.0.2.1", spoof());
    assert_eq!(accepted(&steps)[0].sender_id, Some(SenderIdResult::Pass), "the domain's own network passes");
    // Internal servers skip Sender ID.
    setup.delivery.internal_servers = vec![IpEntry::single(ip("198.18.0.1"))];
    let steps = run(&setup, &mut world(), "198.18.0.1", spoof());
    assert_eq!(accepted(&steps)[0].sender_id, None);
}

#[test]
fn imf_acts_only_strictly_above_the_gateway_threshold() {
    let mut setup = Setup::gateway();
    let at = |setup: &Setup, scl| {
        run(setup, &mut world(), "192.0.2.10", mail("a@fabrikam.com", &["alice@contoso.com"], None, scl))
    };
    assert_eq!(accepted(&at(&setup, 7))[0].disposition, Disposition::Deliver);
    assert_eq!(accepted(&at(&setup, 8))[0].disposition, Disposition::UceArchive);
    setup.delivery.imf.gateway_action = ImfAction::Delete;
    assert_eq!(accepted(&at(&setup, 9))[0].disposition, Disposition::Deleted(FilterStep::Imf));
    setup.delivery.imf.gateway_action = ImfAction::Reject;
    assert_eq!(refusals(&at(&setup, 9)), vec![FilterStep::Imf]);
    setup.delivery.imf.gateway_action = ImfAction::NoAction;
    let a = at(&setup, 9);
    assert_eq!((accepted(&a)[0].scl, accepted(&a)[0].disposition), (9, Disposition::Deliver));
    setup.server.filters.imf = false;
    assert_eq!(accepted(&at(&setup, 9))[0].scl, SCL_NOT_RATED, "not enabled on this virtual server");
}

#[test]
fn a_session_waits_on_its_query_and_resumes_in_order() {
    let setup = Setup::gateway();
    let ctx = setup.ctx();
    let mut session = EdgeSession::connect(ctx, ip("192.0.2.10"));
    for c in mail("a@fabrikam.com", &["alice@contoso.com"], None, 0) {
        session.push(c);
    }
    let mut seen = Vec::new();
    while let Some(step) = session.poll(ctx) {
        seen.push(step);
    }
    assert!(session.is_waiting());
    assert!(matches!(seen.last(), Some(EdgeStep::Query(EdgeQuery::Dns(_)))), "{seen:?}");
    assert_eq!(replies(&seen), vec![220, 250, 250], "nothing after the RCPT is answered yet");
    assert_eq!(session.poll(ctx), None, "still waiting");
    session.answer(ctx, EdgeAnswer::Dns(DnsAnswer::Failed));
    assert!(
        matches!(session.poll(ctx), Some(EdgeStep::Query(EdgeQuery::Dns(_)))),
        "a failed DNSBL is not listed: the next rule"
    );
}

/// A block list that does not answer counts as not listing the client [U]; the accepted
/// message says so, so a judge does not hold the session to the list.
#[test]
fn an_unanswered_block_list_lets_mail_through_and_says_so() {
    let setup = Setup::gateway();
    let mut w = world();
    w.dns_a.insert("5.2.0.192.relays.example".into(), vec![ip("127.0.0.3")]);
    w.dns_down = true;
    let steps = run(&setup, &mut w, "192.0.2.5", mail("a@fabrikam.com", &["alice@contoso.com"], None, 0));
    let a = accepted(&steps);
    assert_eq!(a[0].recipients, vec!["alice@contoso.com"]);
    assert!(a[0].dnsbl_failed);
    assert_eq!(a[0].sender_id, Some(SenderIdResult::TempError), "Sender ID's lookups failed too");
    w.dns_down = false;
    let steps = run(&setup, &mut w, "192.0.2.10", mail("a@fabrikam.com", &["alice@contoso.com"], None, 0));
    assert!(!accepted(&steps)[0].dnsbl_failed);
}

#[test]
fn out_of_order_commands() {
    let setup = Setup::gateway();
    let steps = run(
        &setup,
        &mut world(),
        "192.0.2.10",
        vec![
            EdgeCommand::MailFrom { sender: "a@b.example".into(), size_bytes: None },
            EdgeCommand::Ehlo("x".into()),
            EdgeCommand::RcptTo("alice@contoso.com".into()),
            EdgeCommand::Data,
            EdgeCommand::MailFrom { sender: "a@b.example".into(), size_bytes: Some(50_000_000) },
            EdgeCommand::Unknown,
            EdgeCommand::Quit,
            EdgeCommand::Noop,
        ],
    );
    assert_eq!(replies(&steps), vec![220, 503, 250, 503, 503, 552, 500, 221]);
}

proptest! {
    /// Whatever an anonymous client sends: nothing is accepted from a denied IP, no
    /// foreign recipient is accepted without relay permission, every accepted
    /// authoritative recipient is in the directory, and blocked senders never deliver.
    #[test]
    fn anonymous_sessions_never_pass_an_enabled_filter(
        client in 0u8..4,
        sender in 0usize..4,
        recipients in proptest::collection::vec(0usize..5, 1..6),
        scl in 0i8..10,
        open_relay in any::<bool>(),
    ) {
        let mut setup = Setup::gateway();
        setup.server.permissions.open_relay = open_relay;
        let ip_text = ["192.0.2.10", "203.0.113.5", "198.51.100.7", "192.0.2.5"][usize::from(client)];
        let senders = ["a@fabrikam.com", "x@spam.example", "", "b@elsewhere.example"];
        let names = ["alice@contoso.com", "ceo@contoso.com", "nobody@contoso.com", "x@elsewhere.example", "postmaster@contoso.com"];
        let rcpts: Vec<&str> = recipients.iter().map(|&i| names[i]).collect();
        let mut w = world();
        w.dns_a.insert("5.2.0.192.relays.example".into(), vec![ip("127.0.0.3")]);
        let steps = run(&setup, &mut w, ip_text, mail(senders[sender], &rcpts, Some(senders[sender]).filter(|s| !s.is_empty()), scl));
        for a in accepted(&steps) {
            prop_assert!(ip_text != "203.0.113.5", "deny-listed client accepted");
            prop_assert!(a.sender != "x@spam.example" || a.disposition != Disposition::Deliver);
            prop_assert!(ip_text != "192.0.2.5" || a.recipients.iter().all(|r| r == "postmaster@contoso.com"));
            for r in &a.recipients {
                prop_assert!(r.ends_with("@contoso.com") || open_relay, "relayed {r}");
                prop_assert!(r != "ceo@contoso.com" && r != "nobody@contoso.com", "filtered recipient {r}");
            }
            prop_assert!(a.scl <= 7 || a.disposition != Disposition::Deliver, "IMF archives above 7");
        }
    }
}

/// A message from an Exchange server of another organization: XEXCH50 after the RCPTs,
/// the blob after a 354, then DATA.
fn mail_with_exch50(account: bool, blob_scl: i8, content_scl: i8) -> Vec<EdgeCommand> {
    let mut c = mail("a@fabrikam.com", &["alice@contoso.com"], Some("a@fabrikam.com"), content_scl);
    let data = c.iter().position(|x| *x == EdgeCommand::Data).unwrap();
    let blob = Exch50 { scl: blob_scl };
    c.splice(data..data, [EdgeCommand::Xexch50 { size_bytes: 1_028 }, EdgeCommand::Exch50Blob(blob)]);
    if account {
        c.insert(1, EdgeCommand::Auth { account: "bob".into(), password: "secret".into() });
    }
    c
}

#[test]
fn xexch50_needs_an_authenticated_session_unless_the_check_is_off() {
    let mut w = world();
    let mut setup = Setup::gateway();
    // Anonymous: 504, the blob that follows is not understood, the mail goes on rated by
    // the IMF (SCL 3), and its blob's SCL 8 is lost.
    let steps = run(&setup, &mut w, "192.0.2.10", mail_with_exch50(false, 8, 3));
    assert_eq!(replies(&steps), vec![220, 250, 250, 250, 504, 500, 354, 221]);
    let a = accepted(&steps)[0];
    assert_eq!((a.exch50, a.scl), (Exch50Fate::Dropped, 3));
    // Authenticated: taken, and its SCL stands (the IMF does not rate it again).
    let steps = run(&setup, &mut w, "192.0.2.10", mail_with_exch50(true, 8, 3));
    assert_eq!(replies(&steps), vec![220, 250, 235, 250, 250, 354, 250, 354, 221]);
    let a = accepted(&steps)[0];
    assert_eq!((a.exch50, a.scl), (Exch50Fate::Kept(Exch50 { scl: 8 }), 8));
    // Exch50AuthCheckEnabled = 0: taken from anonymous sessions too.
    setup.server.exch50_from_anonymous = true;
    let steps = run(&setup, &mut w, "192.0.2.10", mail_with_exch50(false, 8, 3));
    assert_eq!(accepted(&steps)[0].exch50, Exch50Fate::Kept(Exch50 { scl: 8 }));
    // The IMF did not rate it, so no gateway action: the store's threshold reads SCL 8.
    assert_eq!(accepted(&steps)[0].disposition, Disposition::Deliver);
}

#[test]
fn xexch50_out_of_place() {
    let setup = Setup::gateway();
    let mut w = world();
    let commands = vec![
        EdgeCommand::Ehlo("x".into()),
        EdgeCommand::Xexch50 { size_bytes: 10 },
        EdgeCommand::MailFrom { sender: "a@fabrikam.com".into(), size_bytes: None },
        EdgeCommand::Xexch50 { size_bytes: 10 },
        EdgeCommand::Exch50Blob(Exch50 { scl: 1 }),
    ];
    let steps = run(&setup, &mut w, "192.0.2.10", commands);
    assert_eq!(replies(&steps), vec![220, 250, 503, 250, 503, 500], "before MAIL, before any RCPT, a stray blob");
}
