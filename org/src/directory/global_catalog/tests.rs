use super::*;

fn person(class: ObjectClass, dn: &str, department: &str, home: u16) -> RecipientObject {
    RecipientObject {
        class,
        recipient: Recipient::Mailbox(MailboxEntry { store: StoreId(0), home_server: ServerId(home) }),
        domain: AdDomainId(0),
        dn: dn.into(),
        mail: String::new(),
        restriction: Restriction::Anyone,
        attributes: [("department".to_string(), vec![department.to_string()])].into_iter().collect(),
        created_at: None,
        stamped_at: Instant::ZERO,
        deleted_at: None,
    }
}

fn group_object(g: GroupId, domain: u16, class: ObjectClass) -> RecipientObject {
    RecipientObject {
        domain: AdDomainId(domain),
        dn: format!("CN=g{},OU=Groups,DC=contoso,DC=com", g.0),
        ..RecipientObject::plain(class, Recipient::Group(g))
    }
}

/// Alice and Bob in Sales, Carol (inetOrgPerson) in Support, all under OU=Staff; Dave
/// in Sales but under OU=Contractors.
fn catalog() -> GlobalCatalog {
    let mut gc = GlobalCatalog::new();
    gc.add_container("DC=contoso,DC=com");
    gc.add_container("OU=Staff,DC=contoso,DC=com");
    gc.add(AddressId(1), person(ObjectClass::User, "CN=alice,OU=Staff,DC=contoso,DC=com", "Sales", 0));
    gc.add(AddressId(2), person(ObjectClass::User, "CN=bob,OU=Staff,DC=contoso,DC=com", "Sales", 1));
    gc.add(AddressId(3), person(ObjectClass::InetOrgPerson, "CN=carol,OU=Staff,DC=contoso,DC=com", "Support", 1));
    gc.add(AddressId(4), person(ObjectClass::User, "CN=dave,OU=Contractors,DC=contoso,DC=com", "Sales", 0));
    gc
}

#[test]
fn lookup_finds_only_mailboxes() {
    let mut gc = catalog();
    assert_eq!(gc.lookup(AddressId(1)).map(|e| e.home_server), Some(ServerId(0)));
    assert_eq!(gc.lookup(AddressId(9)), None);
    assert_eq!(gc.mailbox_count(), 4);
    let g = gc.add_group(Group {
        address: AddressId(10),
        membership: Membership::Static { scope: GroupScope::Universal, members: vec![] },
        expansion_server: Some(ServerId(7)),
    });
    gc.add(AddressId(10), group_object(g, 0, ObjectClass::Group));
    assert_eq!(gc.lookup(AddressId(10)), None, "a group is no mailbox");
    assert_eq!(gc.home_server(AddressId(10), ServerId(0)), Some(ServerId(7)), "routed to its expansion server");
    assert_eq!(gc.mailbox_count(), 4);
}

/// A mail-enabled public folder is routed to the home given for the server routing it,
/// and is no mailbox.
#[test]
fn a_public_folder_goes_to_the_home_of_the_routing_server() {
    let mut gc = catalog();
    let folder = crate::public_folders::replication_message::FolderId(crate::public_folders::cn_set::ChangeNumber {
        replica: crate::public_folders::public_store::SETUP,
        counter: 1,
    });
    gc.add_public_folder(
        AddressId(20),
        folder,
        "sales@contoso.com".into(),
        vec![ServerId(1), ServerId(1), ServerId(2)],
    );
    assert_eq!(gc.lookup(AddressId(20)), None, "a folder is no mailbox");
    assert_eq!(gc.home_server(AddressId(20), ServerId(0)), Some(ServerId(1)));
    assert_eq!(gc.home_server(AddressId(20), ServerId(2)), Some(ServerId(2)), "a server holding a replica keeps it");
    assert_eq!(gc.home_server(AddressId(20), ServerId(9)), None, "no such server");
    assert_eq!(gc.mailbox_count(), 4);
}

/// A query-based group at `address` with this filter and base DN.
fn query_group(gc: &mut GlobalCatalog, address: u32, filter: &str, base: &str) -> GroupId {
    let g = gc.add_group(Group {
        address: AddressId(address),
        membership: Membership::Query { filter: filter.into(), base_dn: base.into() },
        expansion_server: None,
    });
    gc.add(AddressId(address), group_object(g, 0, ObjectClass::QueryBasedGroup));
    g
}

/// A group's members as a Windows Server 2003 GC of domain 0 holding everything sees
/// them.
fn expand(gc: &GlobalCatalog, g: GroupId) -> Result<Vec<AddressId>, ExpansionError> {
    gc.members(g, AdDomainId(0), &AsOf(Instant::ZERO), Logic::ThreeValued)
}

#[test]
fn query_based_group_evaluates_its_filter_under_its_base_dn() {
    let mut gc = catalog();
    let sales = query_group(&mut gc, 20, "(department=sales)", "OU=Staff,DC=contoso,DC=com");
    assert_eq!(expand(&gc, sales), Ok(vec![AddressId(1), AddressId(2)]));
    let everyone = query_group(&mut gc, 21, "(objectCategory=person)", "DC=contoso,DC=com");
    assert_eq!(
        expand(&gc, everyone),
        Ok(vec![AddressId(1), AddressId(2), AddressId(3), AddressId(4)]),
        "the forest head reaches every OU; query-based groups themselves are never members"
    );
    let iop = query_group(&mut gc, 22, "(objectClass=inetOrgPerson)", "DC=contoso,DC=com");
    assert_eq!(expand(&gc, iop), Ok(vec![AddressId(3)]));
    let nobody = query_group(&mut gc, 23, "(department=Legal)", "DC=contoso,DC=com");
    assert_eq!(expand(&gc, nobody), Ok(vec![]), "an empty result is no error (§2)");
    let bad = query_group(&mut gc, 24, "(department=Sales", "DC=contoso,DC=com");
    assert!(matches!(expand(&gc, bad), Err(ExpansionError::BadFilter(_))));
    let gone = query_group(&mut gc, 25, "(department=Sales)", "OU=Deleted,DC=contoso,DC=com");
    assert_eq!(expand(&gc, gone), Err(ExpansionError::NoBaseDn));
    // A base DN written with spaces after its commas, in another case, is the same DN.
    let spaced = query_group(&mut gc, 26, "(department=sales)", "ou=staff, DC=Contoso, dc=com");
    assert_eq!(expand(&gc, spaced), Ok(vec![AddressId(1), AddressId(2)]));
    // AD refuses a filter on a constructed attribute: the expansion fails (5.2.4).
    let constructed = query_group(&mut gc, 27, "(canonicalName=*)", "DC=contoso,DC=com");
    assert_eq!(expand(&gc, constructed), Err(ExpansionError::ConstructedAttribute("canonicalname".into())));
}

/// Issue 13: `mail`, `cn` (and `name`) and `distinguishedName` come from the object
/// itself, as AD holds them, not from attributes written by hand.
#[test]
fn mail_cn_and_dn_are_derived_from_the_recipient() {
    let mut gc = catalog();
    let mut alice = gc.object(AddressId(1)).unwrap().clone();
    alice.mail = "alice@contoso.com".into();
    gc.add(AddressId(1), alice);
    let mut members = |address: u32, filter: &str| {
        let g = query_group(&mut gc, address, filter, "DC=contoso,DC=com");
        expand(&gc, g).unwrap()
    };
    assert_eq!(members(40, "(mail=ALICE@contoso.com)"), vec![AddressId(1)]);
    assert_eq!(members(41, "(cn=bo*)"), vec![AddressId(2)]);
    assert_eq!(members(42, "(name=carol)"), vec![AddressId(3)]);
    assert_eq!(members(43, "(distinguishedName=cn=dave, ou=contractors, dc=contoso, dc=com)"), vec![AddressId(4)]);
    assert_eq!(members(44, "(mail=*)"), vec![AddressId(1)], "only alice has an address here");
}

#[test]
fn only_universal_membership_is_seen_from_another_domain() {
    let mut gc = catalog();
    for (address, scope) in [(30, GroupScope::Global), (31, GroupScope::DomainLocal), (32, GroupScope::Universal)] {
        let g = static_group(&mut gc, address, 1, scope, &[1, 2]);
        let own = gc.members(g, AdDomainId(1), &AsOf(Instant::ZERO), Logic::ThreeValued).unwrap();
        let other = gc.members(g, AdDomainId(0), &AsOf(Instant::ZERO), Logic::ThreeValued).unwrap();
        assert_eq!(own.len(), 2);
        assert_eq!(other.len(), if scope == GroupScope::Universal { 2 } else { 0 }, "{scope:?}");
    }
}

#[test]
fn recipients_are_usable_only_once_stamped_and_until_deleted() {
    let mut gc = catalog();
    let mut late = person(ObjectClass::User, "CN=erin,OU=Staff,DC=contoso,DC=com", "Sales", 0);
    late.stamped_at = Instant(3_600_000);
    late.deleted_at = Some(Instant(7_200_000));
    gc.add(AddressId(5), late);
    let g = query_group(&mut gc, 40, "(department=Sales)", "DC=contoso,DC=com");
    for (t, usable) in [(0, false), (3_600_000, true), (7_199_999, true), (7_200_000, false)] {
        assert_eq!(gc.usable(AddressId(5), Instant(t)).is_some(), usable, "at {t} ms");
        let members = gc.members(g, AdDomainId(0), &AsOf(Instant(t)), Logic::ThreeValued).unwrap();
        assert_eq!(members.contains(&AddressId(5)), usable, "QBDG result at {t} ms");
    }
}

/// A standard group at `address` in `domain` with these members.
fn static_group(gc: &mut GlobalCatalog, address: u32, domain: u16, scope: GroupScope, members: &[u32]) -> GroupId {
    let members = members.iter().copied().map(AddressId).collect();
    let membership = Membership::Static { scope, members };
    let g = gc.add_group(Group { address: AddressId(address), membership, expansion_server: None });
    gc.add(AddressId(address), group_object(g, domain, ObjectClass::Group));
    g
}

/// Query-based group 40: `(department=Support)` over the whole domain.
fn support_group(gc: &mut GlobalCatalog) -> GroupId {
    let g = gc.add_group(Group {
        address: AddressId(40),
        membership: Membership::Query { filter: "(department=Support)".into(), base_dn: "DC=contoso,DC=com".into() },
        expansion_server: None,
    });
    gc.add(AddressId(40), group_object(g, 0, ObjectClass::QueryBasedGroup));
    g
}

#[test]
fn a_modified_attribute_moves_a_recipient_between_query_results() {
    let mut gc = catalog();
    let g = support_group(&mut gc);
    let change = [("department".to_string(), vec!["Support".to_string()])].into_iter().collect();
    gc.add_modification(AddressId(1), Instant(1_000), change);
    assert_eq!(gc.members(g, AdDomainId(0), &AsOf(Instant(999)), Logic::ThreeValued), Ok(vec![AddressId(3)]));
    assert_eq!(
        gc.members(g, AdDomainId(0), &AsOf(Instant(1_000)), Logic::ThreeValued),
        Ok(vec![AddressId(1), AddressId(3)])
    );
}

#[test]
fn protocol_settings_parse_as_exchange2003_2() {
    assert_eq!(MapiAccess::parse("MAPI§0§§§§§§§"), Ok(MapiAccess::Blocked));
    assert_eq!(MapiAccess::parse("MAPI§0§1§§§§§§"), Ok(MapiAccess::Blocked));
    assert_eq!(MapiAccess::parse("MAPI§1§0§§§§§§"), Ok(MapiAccess::Any));
    assert_eq!(MapiAccess::parse("MAPI§1§1§§§§§§"), Ok(MapiAccess::CachedModeOnly));
    for bad in
        ["MAPI§1§1§§§§§", "MAPI§1§1§§§§§§§", "OWA§1§1§§§§§§", "MAPI§2§0§§§§§§", "MAPI§1§x§§§§§§", "MAPI§1§1§§§1§§", ""]
    {
        assert!(MapiAccess::parse(bad).is_err(), "{bad:?} is refused");
    }
    assert!(MapiAccess::CachedModeOnly.admits(OutlookMode::Cached));
    assert!(!MapiAccess::CachedModeOnly.admits(OutlookMode::Online));
    assert!(!MapiAccess::Blocked.admits(OutlookMode::Cached));
    let mut gc = catalog();
    assert!(gc.mapi_logon_allowed(AddressId(1)), "no MAPI string: every client");
    gc.set_mapi(AddressId(1), MapiAccess::CachedModeOnly, OutlookMode::Online);
    assert!(!gc.mapi_logon_allowed(AddressId(1)));
}

#[test]
fn restrictions_admit_as_exchange2003_2() {
    let alice = Some(AddressId(1));
    assert!(Restriction::Anyone.admits(None, false));
    assert!(!Restriction::AuthenticatedOnly.admits(alice, false));
    assert!(Restriction::AuthenticatedOnly.admits(alice, true));
    let listed = Restriction::AcceptFrom([AddressId(1)].into_iter().collect());
    assert!(listed.admits(alice, true));
    assert!(!listed.admits(alice, false), "an anonymous sender claiming a listed address is refused");
    assert!(!listed.admits(Some(AddressId(2)), true));
}

/// A replica view: a recipient created during the run is found only once its
/// creation and the RUS's stamp have replicated; a deletion and an attribute change
/// count from their arrival; another domain's recipients are seen as of now.
#[test]
fn a_gc_sees_recipient_changes_once_they_replicate() {
    use crate::directory::ad_replication::{DcId, Replica, IS_DELETED};
    let mut gc = catalog();
    let mut late = gc.object(AddressId(4)).unwrap().clone();
    late.created_at = Some(Instant(1_000));
    late.stamped_at = Instant(60_000);
    gc.add(AddressId(4), late.clone());
    let mut abroad = late.clone();
    abroad.domain = AdDomainId(1);
    gc.add(AddressId(5), abroad);
    let g = support_group(&mut gc);

    let (mut home, mut far) = (Replica::new(DcId(0)), Replica::new(DcId(1)));
    let now = Instant(3_600_000);
    let usable = |r: &Replica, a: u32| gc.usable_in(AddressId(a), &ReplicaView { replicas: &[Some(r)], now }).is_some();
    assert!(usable(&far, 1), "there from the start: no write needed");
    assert!(!usable(&far, 4), "not created here yet");
    assert!(usable(&far, 5), "a domain without a replica here is seen as of now");

    let dave = recipient_object(AddressId(4));
    home.write(1_000, dave, &[(CREATED_ATTRIBUTE, vec!["user".into()])]);
    far.pull_from(&home, 100);
    assert!(!usable(&far, 4), "created but not stamped: no address resolves (§2)");
    home.write(60_000, dave, &[(STAMPED_ATTRIBUTE, vec!["SMTP:dave@contoso.com".into()])]);
    assert!(usable(&home, 4) && !usable(&far, 4), "stamped at home, not yet replicated");
    far.pull_from(&home, 100);
    assert!(usable(&far, 4));

    home.write(70_000, recipient_object(AddressId(1)), &[("department", vec!["Support".into()])]);
    let members = |r: &Replica| {
        gc.members(g, AdDomainId(0), &ReplicaView { replicas: &[Some(r)], now }, Logic::ThreeValued).unwrap()
    };
    assert_eq!(members(&home), vec![AddressId(1), AddressId(3)]);
    assert_eq!(members(&far), vec![AddressId(3)], "the change has not replicated");
    home.write(80_000, dave, &[(IS_DELETED, vec!["TRUE".into()])]);
    assert!(!usable(&home, 4) && usable(&far, 4), "a deletion counts where it has arrived");
    far.pull_from(&home, 100);
    assert_eq!(members(&far), vec![AddressId(1), AddressId(3)]);
    assert!(!usable(&far, 4));
    assert_eq!(object_recipient(dave), Some(AddressId(4)));
    assert_eq!(object_recipient(crate::directory::ad_replication::ObjectId(7)), None, "a bulk change's object");
}

#[test]
fn an_accept_list_naming_a_group_admits_its_members_nested() {
    let mut gc = catalog();
    static_group(&mut gc, 30, 0, GroupScope::Universal, &[3]);
    static_group(&mut gc, 31, 0, GroupScope::Global, &[1, 30, 31]);
    let admitted = gc.accepted_senders(&[AddressId(31), AddressId(4)]);
    let want = [1, 3, 4, 30, 31].map(AddressId).into_iter().collect::<BTreeSet<_>>();
    assert_eq!(admitted, want, "members, nested members, the groups themselves; a loop ends");
}

#[test]
fn membership_changes_count_from_their_instant_or_their_arrival() {
    use crate::directory::ad_replication::{DcId, Replica};
    let mut gc = catalog();
    let g = static_group(&mut gc, 30, 0, GroupScope::Universal, &[1]);
    let added = vec![AddressId(1), AddressId(2)];
    gc.add_membership_change(g, Instant(1_000), added.clone());
    assert_eq!(gc.members(g, AdDomainId(0), &AsOf(Instant(999)), Logic::ThreeValued).unwrap(), vec![AddressId(1)]);
    assert_eq!(gc.members(g, AdDomainId(0), &AsOf(Instant(1_000)), Logic::ThreeValued).unwrap(), added);
    // Replicated: the DC the change was made on has it, a GC that has not pulled yet
    // answers the scenario's list.
    let (mut home, mut far) = (Replica::new(DcId(0)), Replica::new(DcId(1)));
    home.write(1_000, recipient_object(AddressId(30)), &[(MEMBER_ATTRIBUTE, member_values(&added))]);
    let now = Instant(5_000);
    let at = |r: &Replica| {
        gc.members(g, AdDomainId(0), &ReplicaView { replicas: &[Some(r)], now }, Logic::ThreeValued).unwrap()
    };
    assert_eq!(at(&home), added);
    assert_eq!(at(&far), vec![AddressId(1)]);
    far.pull_from(&home, 10);
    assert_eq!(at(&far), added);
}

/// A paged search serves a group a page at a time from the result of its first page,
/// and forgets it after the last; each asking server has its own.
#[test]
fn paged_search_serves_pages_and_forgets_after_the_last() {
    let mut gc = catalog();
    for n in 100..100 + LDAP_PAGE_SIZE as u32 + 5 {
        gc.add(AddressId(n), person(ObjectClass::User, &format!("CN=u{n},OU=Staff,DC=contoso,DC=com"), "Sales", 0));
    }
    let members: Vec<u32> = (100..100 + LDAP_PAGE_SIZE as u32 + 5).collect();
    let g = static_group(&mut gc, 50, 0, GroupScope::Universal, &members);
    let mut searches = PagedSearches::new(AdDomainId(0), Logic::ThreeValued);
    let view = AsOf(Instant::ZERO);
    let ask = |page| LdapSearch { search: LdapSearchId(7), query: LdapQuery::Members { group: g, page } };
    let first = searches.answer(&gc, ServerId(1), &ask(0), &view);
    assert_eq!((first.result.as_ref().map(Vec::len), first.more), (Ok(LDAP_PAGE_SIZE), true));
    assert_eq!(first.result.unwrap()[0], AddressId(100));
    let last = searches.answer(&gc, ServerId(1), &ask(1), &view);
    assert_eq!((last.result.as_ref().map(Vec::len), last.more), (Ok(5), false));
    assert_eq!(last.result.unwrap()[4], AddressId(100 + LDAP_PAGE_SIZE as u32 + 4));
    assert!(searches.is_idle(), "the last page ends the search");
}
