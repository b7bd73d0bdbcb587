//! The categorizer: checks a message against the transport limits and resolves each
//! recipient in the global catalog (EXCHANGE2003.md §3.2). A mailbox resolves to its home
//! server; a mail-enabled user or a contact to its target address outside the
//! organization; a group to an expansion, here or on its expansion server (§2). An
//! address outside the organization (an SMTP domain it is not authoritative for, or an
//! X.400 address) resolves as external and is routed by address space. An address in an
//! authoritative domain with no recipient object is NDR'd 5.1.1, and a recipient whose
//! restriction refuses the sender 5.7.1 (§3.3).
//!
//! Group expansion itself asks a GC, page by page, and is driven by the server (see
//! `exchange_server`): the whole message waits until every group is expanded (§2).

use crate::directory::global_catalog::{DirectoryView, ExpansionError, GlobalCatalog, GroupId, Recipient, Restriction};
use crate::message::Message;
use crate::time::{HOUR_MS, SECOND_MS};
use crate::transport::address_space::{ExternalAddress, ExternalDirectory};
use crate::transport::dsn::DsnCode;
use crate::{AddressId, ServerId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Categorizer memory an expanded recipient holds until the message is routed: up to
/// 2 KB (EXCHANGE2003.md §2: 6,000 recipients → 12 MB).
pub const MEMORY_PER_RECIPIENT_BYTES: u64 = 2_048;

/// With no GC answering, the message waits in categorizer retry and the whole expansion
/// starts again after 1 hour (§2).
pub const CATEGORIZER_RETRY_MS: u64 = HOUR_MS;

/// How long DSAccess waits for a GC's page before it gives the GC up and restarts the
/// expansion on another [U].
pub const LDAP_TIMEOUT_MS: u64 = 30 * SECOND_MS;

/// How long DSAccess leaves a GC that did not answer before trying it again [U].
pub const GC_RECHECK_MS: u64 = 5 * 60 * SECOND_MS;

/// Where a resolved recipient is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A mailbox on this home server.
    Mailbox(ServerId),
    /// Outside the organization: routed by the connectors' address spaces (for a contact
    /// or a mail-enabled user, by its target address).
    External(ExternalAddress),
    /// A group this server expands.
    Expand(GroupId),
    /// A group that only its expansion server may expand: the message goes there first.
    ExpandAt(ServerId),
}

/// The categorizer's verdict on one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Categorized {
    /// Resolved recipients with where they are.
    pub resolved: Vec<(AddressId, Destination)>,
    /// Recipients that fail, with why.
    pub failed: Vec<(AddressId, DsnCode)>,
}

impl Categorized {
    /// The groups this server must expand before anything is routed.
    pub fn expansions(&self) -> impl Iterator<Item = (AddressId, GroupId)> + '_ {
        self.resolved.iter().filter_map(|(r, d)| match d {
            Destination::Expand(g) => Some((*r, *g)),
            _ => None,
        })
    }
}

/// Limits and rules the categorizer enforces on this server.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The planted bug that lets anonymous senders through "authenticated only".
    pub ignores_authentication: bool,
    /// Maximum hop count (EXCHANGE2003.md §3.2a).
    pub max_hop_count: u8,
    /// Maximum message size, checked at submission.
    pub max_message_size_bytes: Option<u64>,
    /// Whether "accept from authenticated users only" is enforced here: on Exchange 2003
    /// servers (§2); lists of accepted senders are enforced by every version.
    pub enforces_authenticated_only: bool,
}

/// Categorizes `recipients` of `message` on server `here`, knowing of them what `view`
/// says (what DSAccess read from a GC, or the directory as of now). `at_origin` is true
/// for a client submission, where the sending size limit applies.
#[allow(clippy::too_many_arguments)]
pub fn categorize(
    directory: &GlobalCatalog,
    view: &impl DirectoryView,
    external: &ExternalDirectory,
    limits: Limits,
    here: ServerId,
    message: &Message,
    recipients: &[AddressId],
    at_origin: bool,
) -> Categorized {
    let whole_message_failure = if message.hop_count > limits.max_hop_count {
        Some(DsnCode::HopCountExceeded)
    } else if at_origin && limits.max_message_size_bytes.is_some_and(|max| message.size_bytes > max) {
        Some(DsnCode::MessageTooLarge)
    } else {
        None
    };
    if let Some(code) = whole_message_failure {
        return Categorized { resolved: Vec::new(), failed: recipients.iter().map(|r| (*r, code)).collect() };
    }
    let mut out = Categorized { resolved: Vec::with_capacity(recipients.len()), failed: Vec::new() };
    for &recipient in recipients {
        // §2: an object the RUS has not stamped yet (or one deleted) has no address that
        // resolves: 5.1.1, as for an address nobody has.
        // Another forest's recipient is outside this one: routed by address space.
        let Some(object) = directory.usable_in(recipient, view) else {
            match external.lookup(recipient).filter(|_| directory.object(recipient).is_none()) {
                Some(address) => out.resolved.push((recipient, Destination::External(address))),
                None => out.failed.push((recipient, DsnCode::RecipientNotFound)),
            }
            continue;
        };
        if refuses(&object.restriction, message, limits) {
            out.failed.push((recipient, DsnCode::AccessDenied));
            continue;
        }
        let destination = match object.recipient {
            Recipient::Mailbox(entry) => Destination::Mailbox(entry.home_server),
            Recipient::PublicStore { server, .. } => Destination::Mailbox(server),
            Recipient::PublicFolder(_) => match directory.public_folder_home(recipient, here) {
                Some(server) => Destination::Mailbox(server),
                None => {
                    out.failed.push((recipient, DsnCode::RecipientNotFound));
                    continue;
                }
            },
            Recipient::Forward(target) => match external.lookup(target) {
                Some(address) => Destination::External(address),
                None => {
                    out.failed.push((recipient, DsnCode::RecipientNotFound));
                    continue;
                }
            },
            Recipient::Group(g) => match directory.group(g).expansion_server {
                Some(server) if server != here => Destination::ExpandAt(server),
                _ => Destination::Expand(g),
            },
        };
        out.resolved.push((recipient, destination));
    }
    out
}

/// Whether `restriction` refuses `message`'s sender on a server with these limits (§2:
/// "authenticated users only" is enforced by Exchange 2003 servers; lists of senders by
/// every version).
pub fn refuses(restriction: &Restriction, message: &Message, limits: Limits) -> bool {
    match restriction {
        Restriction::AuthenticatedOnly if !limits.enforces_authenticated_only || limits.ignores_authentication => false,
        _ => !restriction.admits(message.sender, message.authenticated),
    }
}

/// What an expansion found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expanded {
    /// Each expanded top-level group with its members, in the order found.
    pub groups: Vec<(AddressId, Vec<AddressId>)>,
    /// Top-level groups that could not be expanded, with why.
    pub failed: Vec<(AddressId, DsnCode)>,
}

/// One message's group expansion on this server (§2): groups are asked for page by
/// page, nested groups in turn, and nothing is routed until every group is done. An
/// error from the GC restarts the whole expansion (see [`Expansion::restart`]).
#[derive(Clone, Debug)]
pub struct Expansion {
    /// The message's groups to expand here (its top-level recipients).
    tops: Vec<(AddressId, GroupId)>,
    /// The message's other recipients: a member who is one of them is not added again.
    direct: BTreeSet<AddressId>,
    /// Groups still to ask for, each with the top-level group it belongs to.
    queue: VecDeque<(AddressId, GroupId)>,
    /// Groups already asked for: a group met twice (or nested in itself) is expanded once.
    seen: BTreeSet<GroupId>,
    /// The page being fetched: (top-level group, group, page).
    current: Option<(AddressId, GroupId, u32)>,
    /// Members found per top-level group, each recipient once across the message.
    members: BTreeMap<AddressId, Vec<AddressId>>,
    taken: BTreeSet<AddressId>,
    /// Top-level groups that cannot be expanded.
    failed: BTreeMap<AddressId, DsnCode>,
}

impl Expansion {
    /// An expansion of `tops` for a message whose other recipients are `direct`.
    pub fn new(tops: Vec<(AddressId, GroupId)>, direct: impl IntoIterator<Item = AddressId>) -> Self {
        let direct: BTreeSet<AddressId> = direct.into_iter().collect();
        let mut expansion = Expansion {
            tops,
            taken: direct.clone(),
            direct,
            queue: VecDeque::new(),
            seen: BTreeSet::new(),
            current: None,
            members: BTreeMap::new(),
            failed: BTreeMap::new(),
        };
        expansion.restart();
        expansion
    }

    /// Forgets everything found and starts again from the top-level groups.
    pub fn restart(&mut self) {
        self.queue = self.tops.iter().copied().collect();
        self.seen = self.tops.iter().map(|(_, g)| *g).collect();
        self.current = None;
        self.members = self.tops.iter().map(|(top, _)| (*top, Vec::new())).collect();
        self.taken = self.direct.clone();
        self.failed.clear();
    }

    /// The next page to ask a GC for; `None` once every group is expanded.
    pub fn next_request(&mut self) -> Option<(GroupId, u32)> {
        if self.current.is_none() {
            let (top, group) = self.queue.pop_front()?;
            self.current = Some((top, group, 0));
        }
        self.current.map(|(_, group, page)| (group, page))
    }

    /// A GC answered the current page. A nested group whose restriction `refused` is
    /// not expanded: it comes back as a member, for the categorizer to refuse with 5.7.1
    /// (§2: restrictions hold on nested groups too).
    pub fn on_page(
        &mut self,
        directory: &GlobalCatalog,
        result: Result<Vec<AddressId>, ExpansionError>,
        more: bool,
        refused: &dyn Fn(&Restriction) -> bool,
    ) {
        let (top, group, page) = self.current.expect("a page answers the current request");
        match result {
            Err(_) => {
                // §2: a bad filter or a deleted base DN is the sender's 5.2.4; the whole
                // top-level group fails, whatever it had found.
                self.failed.insert(top, DsnCode::ExpansionFailed);
                for member in self.members.remove(&top).unwrap_or_default() {
                    self.taken.remove(&member);
                }
                self.queue.retain(|(t, _)| *t != top);
                self.current = None;
                return;
            }
            Ok(found) => {
                let list = self.members.get_mut(&top).expect("a top-level group not failed has a list");
                for member in found {
                    match directory.object(member).map(|o| (o.recipient, &o.restriction)) {
                        Some((Recipient::Group(nested), restriction)) if !refused(restriction) => {
                            if self.seen.insert(nested) {
                                self.queue.push_back((top, nested));
                            }
                        }
                        _ => {
                            if self.taken.insert(member) {
                                list.push(member);
                            }
                        }
                    }
                }
            }
        }
        self.current = more.then_some((top, group, page + 1));
    }

    /// Recipients found so far (what the categorizer's memory holds).
    pub fn found(&self) -> u64 {
        self.members.values().map(|m| m.len() as u64).sum()
    }

    /// Whether every group is done.
    pub fn complete(&self) -> bool {
        self.current.is_none() && self.queue.is_empty()
    }

    /// The result: each expanded top-level group with its members (in the order found),
    /// and the groups that failed.
    pub fn finish(self) -> Expanded {
        debug_assert!(self.complete(), "an expansion is finished only when complete");
        Expanded { groups: self.members.into_iter().collect(), failed: self.failed.into_iter().collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::global_catalog::{AdDomainId, AsOf, MailboxEntry};
    use crate::message::{MessageId, MessageKind};
    use crate::time::Instant;
    use crate::StoreId;

    fn message(size_bytes: u64, hop_count: u8) -> Message {
        Message {
            id: MessageId::Client(1),
            kind: MessageKind::Normal,
            sender: Some(AddressId(0)),
            size_bytes,
            submitted_at: Instant::ZERO,
            hop_count,
            authenticated: true,
            header_recipients: Default::default(),
            scl: crate::message::SCL_NOT_RATED,
            journaled: Default::default(),
            replication: None,
        }
    }

    /// Categorizes at time zero against the test's outside addresses.
    fn cat(
        gc: &GlobalCatalog,
        limits: Limits,
        here: ServerId,
        message: &Message,
        recipients: &[AddressId],
        at_origin: bool,
    ) -> Categorized {
        categorize(gc, &AsOf(Instant::ZERO), &external(), limits, here, message, recipients, at_origin)
    }

    const LIMITS: Limits = Limits {
        max_hop_count: 30,
        max_message_size_bytes: Some(4_194_304),
        enforces_authenticated_only: true,
        ignores_authentication: false,
    };

    fn directory() -> GlobalCatalog {
        let mut gc = GlobalCatalog::new();
        gc.add_mailbox(AddressId(1), MailboxEntry { store: StoreId(0), home_server: ServerId(3) });
        gc
    }

    fn external() -> ExternalDirectory {
        let mut dir = ExternalDirectory::new();
        dir.add_smtp(AddressId(5), "alice@fabrikam.com").unwrap();
        dir
    }

    #[test]
    fn unknown_recipient_is_5_1_1_exchange2003_3_3() {
        let c = cat(&directory(), LIMITS, ServerId(0), &message(100, 0), &[AddressId(1), AddressId(9)], true);
        assert_eq!(c.resolved, vec![(AddressId(1), Destination::Mailbox(ServerId(3)))]);
        assert_eq!(c.failed, vec![(AddressId(9), DsnCode::RecipientNotFound)]);
    }

    #[test]
    fn external_recipients_resolve_for_routing_by_address_space() {
        let c = cat(&directory(), LIMITS, ServerId(0), &message(100, 0), &[AddressId(5)], true);
        let domain = external().domain_id("fabrikam.com");
        assert_eq!(c.resolved, vec![(AddressId(5), Destination::External(ExternalAddress::Smtp(domain)))]);
    }

    #[test]
    fn another_forest_s_recipient_is_outside_but_an_unusable_own_one_is_5_1_1() {
        // With several forests every forest's recipients are outside addresses too: one
        // of this forest's not yet created (or deleted) must not leave by address space.
        let mut gc = directory();
        let mut later = crate::directory::global_catalog::RecipientObject::plain(
            crate::directory::global_catalog::ObjectClass::User,
            Recipient::Mailbox(MailboxEntry { store: StoreId(0), home_server: ServerId(3) }),
        );
        (later.created_at, later.stamped_at) = (Some(Instant(3_600_000)), Instant(3_600_000));
        gc.add(AddressId(5), later);
        let c = cat(&gc, LIMITS, ServerId(0), &message(100, 0), &[AddressId(5)], true);
        assert_eq!(c.failed, vec![(AddressId(5), DsnCode::RecipientNotFound)], "its own, not usable yet");
        let c = cat(&directory(), LIMITS, ServerId(0), &message(100, 0), &[AddressId(5)], true);
        assert!(matches!(c.resolved[..], [(AddressId(5), Destination::External(_))]), "not in this GAL: outside");
    }

    #[test]
    fn limits_fail_every_recipient() {
        let c = cat(&directory(), LIMITS, ServerId(0), &message(5_000_000, 0), &[AddressId(1)], true);
        assert_eq!(c.failed, vec![(AddressId(1), DsnCode::MessageTooLarge)]);
        let c = cat(&directory(), LIMITS, ServerId(0), &message(5_000_000, 0), &[AddressId(1)], false);
        assert!(c.failed.is_empty(), "size is checked where the message enters the org");
        let c = cat(&directory(), LIMITS, ServerId(0), &message(100, 31), &[AddressId(1)], false);
        assert_eq!(c.failed, vec![(AddressId(1), DsnCode::HopCountExceeded)]);
    }

    /// A restricted user (2), a restricted DL (3) expanded anywhere, a DL with an
    /// expansion server (4), and a contact (6) forwarding to alice@fabrikam.com.
    fn rich_directory() -> GlobalCatalog {
        use crate::directory::global_catalog::*;
        let mut gc = directory();
        let object = |recipient, restriction| RecipientObject {
            class: ObjectClass::User,
            recipient,
            domain: AdDomainId(0),
            dn: String::new(),
            mail: String::new(),
            restriction,
            attributes: Default::default(),
            created_at: None,
            stamped_at: Instant::ZERO,
            deleted_at: None,
        };
        let boss = Recipient::Mailbox(MailboxEntry { store: StoreId(0), home_server: ServerId(3) });
        gc.add(AddressId(2), object(boss, Restriction::AcceptFrom([AddressId(1)].into_iter().collect())));
        for (address, restriction, expansion_server) in
            [(3, Restriction::AuthenticatedOnly, None), (4, Restriction::Anyone, Some(ServerId(7)))]
        {
            let g = gc.add_group(Group {
                address: AddressId(address),
                membership: Membership::Static { scope: GroupScope::Universal, members: vec![AddressId(1)] },
                expansion_server,
            });
            let mut o = object(Recipient::Group(g), restriction);
            o.class = ObjectClass::Group;
            gc.add(AddressId(address), o);
        }
        let mut contact = object(Recipient::Forward(AddressId(5)), Restriction::Anyone);
        contact.class = ObjectClass::Contact;
        gc.add(AddressId(6), contact);
        gc
    }

    #[test]
    fn restrictions_refuse_with_5_7_1_exchange2003_2() {
        let gc = rich_directory();
        let mut anonymous = message(100, 0);
        anonymous.sender = Some(AddressId(1));
        anonymous.authenticated = false;
        let all = [AddressId(1), AddressId(2), AddressId(3)];
        let c = cat(&gc, LIMITS, ServerId(0), &anonymous, &all, false);
        assert_eq!(c.failed, vec![(AddressId(2), DsnCode::AccessDenied), (AddressId(3), DsnCode::AccessDenied)]);
        let mut signed_in = anonymous.clone();
        signed_in.authenticated = true;
        let c = cat(&gc, LIMITS, ServerId(0), &signed_in, &all, false);
        assert!(c.failed.is_empty(), "alice is listed and authenticated: {c:?}");
        let e2000 = Limits { enforces_authenticated_only: false, ..LIMITS };
        let c = cat(&gc, e2000, ServerId(0), &anonymous, &all, false);
        assert_eq!(c.failed, vec![(AddressId(2), DsnCode::AccessDenied)], "2000 enforces only sender lists");
    }

    #[test]
    fn groups_expand_here_or_at_their_expansion_server_and_contacts_forward() {
        let gc = rich_directory();
        let c = cat(&gc, LIMITS, ServerId(0), &message(100, 0), &[AddressId(3), AddressId(4), AddressId(6)], false);
        let domain = external().domain_id("fabrikam.com");
        assert_eq!(
            c.resolved,
            vec![
                (AddressId(3), Destination::Expand(crate::directory::global_catalog::GroupId(0))),
                (AddressId(4), Destination::ExpandAt(ServerId(7))),
                (AddressId(6), Destination::External(ExternalAddress::Smtp(domain))),
            ]
        );
        let c = cat(&gc, LIMITS, ServerId(7), &message(100, 0), &[AddressId(4)], false);
        assert_eq!(
            c.expansions().collect::<Vec<_>>(),
            vec![(AddressId(4), crate::directory::global_catalog::GroupId(1))]
        );
    }

    /// Drives an expansion against the catalog as a GC of domain 0 would, `page_size`
    /// members a page; `fail_at` makes the GC stop answering at that request (the
    /// expansion restarts).
    fn run(gc: &GlobalCatalog, mut e: Expansion, page_size: usize, fail_at: Option<usize>) -> Expanded {
        let mut requests = 0;
        while let Some((group, page)) = e.next_request() {
            requests += 1;
            if Some(requests) == fail_at {
                e.restart();
                continue;
            }
            let all = gc.members(
                group,
                AdDomainId(0),
                &AsOf(Instant::ZERO),
                crate::directory::ldap_filter::Logic::ThreeValued,
            );
            let (result, more) = match all {
                Err(err) => (Err(err), false),
                Ok(all) => {
                    let start = page as usize * page_size;
                    let end = (start + page_size).min(all.len());
                    (Ok(all[start..end].to_vec()), end < all.len())
                }
            };
            e.on_page(gc, result, more, &|_| false);
        }
        assert!(e.complete());
        e.finish()
    }

    /// Users 1..=6; group 10 = {1, 2, group 11}; group 11 = {2, 3, group 10} (a loop);
    /// group 12 = {4, 5, 6}; query group 13 with a bad filter.
    fn groups() -> GlobalCatalog {
        use crate::directory::global_catalog::*;
        let mut gc = GlobalCatalog::new();
        for a in 1..=6 {
            gc.add_mailbox(AddressId(a), MailboxEntry { store: StoreId(0), home_server: ServerId(0) });
        }
        let add = |gc: &mut GlobalCatalog, address: u32, membership: Membership| {
            let g = gc.add_group(Group { address: AddressId(address), membership, expansion_server: None });
            gc.add(
                AddressId(address),
                RecipientObject {
                    class: ObjectClass::Group,
                    recipient: Recipient::Group(g),
                    domain: AdDomainId(0),
                    dn: String::new(),
                    mail: String::new(),
                    restriction: Restriction::Anyone,
                    attributes: Default::default(),
                    created_at: None,
                    stamped_at: Instant::ZERO,
                    deleted_at: None,
                },
            );
        };
        let stat = |m: &[u32]| Membership::Static {
            scope: GroupScope::Universal,
            members: m.iter().map(|a| AddressId(*a)).collect(),
        };
        add(&mut gc, 10, stat(&[1, 2, 11]));
        add(&mut gc, 11, stat(&[2, 3, 10]));
        add(&mut gc, 12, stat(&[4, 5, 6]));
        add(&mut gc, 13, Membership::Query { filter: "(department=".into(), base_dn: "DC=x".into() });
        gc
    }

    #[test]
    fn nested_groups_expand_once_each_member_once() {
        let gc = groups();
        let tops = vec![(AddressId(10), GroupId(0)), (AddressId(12), GroupId(2))];
        let e = Expansion::new(tops, [AddressId(5)]);
        let out = run(&gc, e, 2, None);
        assert_eq!(
            out.groups,
            vec![
                (AddressId(10), vec![AddressId(1), AddressId(2), AddressId(3)]),
                (AddressId(12), vec![AddressId(4), AddressId(6)])
            ],
            "the loop 10 → 11 → 10 ends; 5 is already a direct recipient"
        );
        assert!(out.failed.is_empty());
    }

    #[test]
    fn a_nested_group_that_refuses_the_sender_is_not_expanded() {
        let gc = groups();
        let mut e = Expansion::new(vec![(AddressId(10), GroupId(0))], []);
        // Group 11 (nested in 10) refuses this sender: it comes back as a member, for the
        // categorizer to refuse with 5.7.1, and its members are not reached through it.
        let refused = |r: &Restriction| *r != Restriction::Anyone;
        let mut restricted = gc.clone();
        let mut object = restricted.object(AddressId(11)).unwrap().clone();
        object.restriction = Restriction::AuthenticatedOnly;
        restricted.add(AddressId(11), object);
        while let Some((group, _)) = e.next_request() {
            let all = restricted.members(
                group,
                AdDomainId(0),
                &AsOf(Instant::ZERO),
                crate::directory::ldap_filter::Logic::ThreeValued,
            );
            e.on_page(&restricted, all, false, &refused);
        }
        let out = e.finish();
        assert_eq!(out.groups, vec![(AddressId(10), vec![AddressId(1), AddressId(2), AddressId(11)])]);
        let mut anonymous = message(1_000, 0);
        anonymous.authenticated = false;
        assert!(refuses(&Restriction::AuthenticatedOnly, &anonymous, LIMITS));
        let e2000 = Limits { enforces_authenticated_only: false, ..LIMITS };
        assert!(!refuses(&Restriction::AuthenticatedOnly, &anonymous, e2000), "§2: only 2003 enforces it");
    }

    #[test]
    fn a_failed_gc_restarts_from_nothing_and_finds_the_same() {
        let gc = groups();
        let tops = vec![(AddressId(10), GroupId(0)), (AddressId(12), GroupId(2))];
        let whole = run(&gc, Expansion::new(tops.clone(), []), 1, None);
        for fail_at in 1..8 {
            assert_eq!(
                run(&gc, Expansion::new(tops.clone(), []), 1, Some(fail_at)),
                whole,
                "failure at request {fail_at}"
            );
        }
    }

    #[test]
    fn a_bad_filter_fails_only_its_top_level_group_with_5_2_4() {
        let gc = groups();
        let tops = vec![(AddressId(13), GroupId(3)), (AddressId(12), GroupId(2))];
        let out = run(&gc, Expansion::new(tops, []), 10, None);
        assert_eq!(out.failed, vec![(AddressId(13), DsnCode::ExpansionFailed)]);
        assert_eq!(out.groups, vec![(AddressId(12), vec![AddressId(4), AddressId(5), AddressId(6)])]);
    }
}
