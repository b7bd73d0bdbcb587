//! The recipients section: users (listed and generated), contacts, groups and
//! query-based groups, their containers, restrictions and lifetimes.

use super::*;

/// The recipients as read: interned addresses, the directory, and what the later
/// sections need of them.
pub(super) struct People {
    pub(super) primary: String,
    pub(super) book: AddressBook,
    pub(super) directory: GlobalCatalog,
    pub(super) mailboxes_by_server: Vec<Vec<AddressId>>,
    pub(super) containers: Containers,
    /// Each domain's RUS interval (ms).
    pub(super) rus: Vec<u64>,
    /// Objects whose restriction is filled in once every alias is known.
    placed: Vec<(AddressId, JsonPath, Placement)>,
    /// Mail-enabled users, whose targets are read with the outside addresses.
    mail_users: Vec<(AddressId, usize)>,
    /// The first inetOrgPerson, checked against the DCs and servers.
    inet_org_person: Option<(JsonPath, AdDomainId)>,
    pub(super) external_addresses: Vec<AddressId>,
    /// Where administrators create and delete listed recipients.
    pub(super) created_on: BTreeMap<AddressId, (String, JsonPath)>,
    /// Mailboxes with a starting size or quotas of their own.
    pub(super) mailbox_settings: BTreeMap<AddressId, org::config::topology::MailboxSettings>,
    pub(super) unknown_addresses: Vec<AddressId>,
}

/// Interned addresses while recipients are read: text → id, aliases → id, and outside
/// addresses already interned (a contact's target may repeat one).
#[derive(Default)]
pub(super) struct AddressBook {
    pub(super) addresses: Vec<String>,
    pub(super) index: BTreeMap<String, (usize, JsonPath)>,
    pub(super) aliases: BTreeMap<String, (AddressId, JsonPath)>,
    pub(super) external: BTreeMap<String, AddressId>,
}

impl AddressBook {
    /// The id of an address already interned (any case).
    pub(super) fn address(&self, text: &str) -> Option<AddressId> {
        self.index.get(&text.to_ascii_lowercase()).map(|(i, _)| AddressId(*i as u32))
    }
}

/// Directory containers: each domain's head DN and the organizational units (normalized
/// DNs), with the domain they are in.
pub(super) struct Containers {
    /// Each domain's head, e.g. `DC=contoso,DC=com`, indexed by domain.
    pub(super) heads: Vec<String>,
    /// OU DN (normalized, [`normalize_dn`]) → domain.
    pub(super) ous: BTreeMap<String, usize>,
}

/// A recipient's attributes for LDAP filters, with lower-case names. A listed recipient
/// (`round_robin` `None`) gets every value; generated user `n` gets value `n` mod their
/// count.
pub(super) fn attribute_map(
    spec: &BTreeMap<String, crate::scenario::AttributeValues>,
    round_robin: Option<usize>,
) -> BTreeMap<String, Vec<String>> {
    spec.iter()
        .filter_map(|(name, values)| {
            let values = values.values();
            let values = match round_robin {
                _ if values.is_empty() => return None,
                None => values,
                Some(n) => vec![values[n % values.len()].clone()],
            };
            Some((name.to_ascii_lowercase(), values))
        })
        .collect()
}

impl Resolver<'_> {
    /// The recipients section, read into the directory the categorizer resolves against.
    pub(super) fn recipients(&mut self, scenario: &Scenario, org: &mut Org) -> People {
        let t = &scenario.topology;
        let r = &scenario.recipients;
        let recp = p().key("recipients");
        if r.smtp_domains.is_empty() {
            self.error(&recp.key("smtp_domains"), "expected at least one authoritative SMTP domain");
        }
        for (i, d) in r.smtp_domains.iter().enumerate() {
            if d.is_empty() || d.contains('@') || d.starts_with('.') || !d.contains('.') {
                self.error(
                    &recp.key("smtp_domains").index(i),
                    format!("expected a DNS domain like \"contoso.com\", found {d:?}"),
                );
            }
        }
        let primary = r.smtp_domains.first().cloned().unwrap_or_default().to_ascii_lowercase();
        let mut directory = GlobalCatalog::new();
        let containers = self.containers(t, r, &org.domains, &mut directory);
        let rus = self.recipient_update_services(r, &org.domains, scenario.duration.ms);
        let mut people = People {
            primary,
            book: AddressBook::default(),
            directory,
            mailboxes_by_server: vec![Vec::new(); t.servers.len()],
            containers,
            rus,
            placed: Vec::new(),
            mail_users: Vec::new(),
            inet_org_person: None,
            external_addresses: Vec::new(),
            created_on: BTreeMap::new(),
            unknown_addresses: Vec::new(),
            mailbox_settings: BTreeMap::new(),
        };
        for (i, u) in r.users.iter().enumerate() {
            self.user(i, u, org, &mut people);
        }
        self.generated(r, org, &mut people);
        if r.users.iter().all(|u| u.store.is_none()) && r.generated.is_empty() {
            self.error(&recp, "expected at least one mailbox (users or generated)");
        }
        if org.forests.several() {
            every_forest_reaches_the_others(org, &people);
        }
        self.outside_addresses(r, org, &mut people);
        self.contacts(r, org, &mut people);
        self.groups(t, r, org, &mut people);
        self.gal_sync(r, org, &mut people, scenario.duration.ms);
        self.restrictions(&mut people);
        self.inet_org_person(t, org, &people);
        let People { primary, book, unknown_addresses, .. } = &mut people;
        for n in 1..=64u32 {
            let address = format!("nobody{n}@{primary}");
            if !book.index.contains_key(&address) {
                unknown_addresses.push(AddressId(book.addresses.len() as u32));
                book.addresses.push(address);
            }
        }
        people
    }

    /// A listed user: mailbox-enabled (`store`) or mail-enabled (`target_address`).
    pub(super) fn user(&mut self, i: usize, u: &User, org: &mut Org, people: &mut People) {
        let forest = org.user_forest(u);
        let People {
            book, directory, mailboxes_by_server, containers, rus, placed, mail_users, inet_org_person, ..
        } = people;
        let recp = p().key("recipients");
        let at = recp.key("users").index(i);
        let primary = org.forests.primary(forest);
        let Some(address) = self.user_address(&org.forests.smtp_domains[usize::from(forest.0)], u, primary, &at) else {
            return;
        };
        if u.alias.is_empty() || u.alias.contains(['@', ' ']) {
            self.error(&at.key("alias"), format!("expected an alias without spaces or '@', found {:?}", u.alias));
            return;
        }
        let Some(store) = self.user_store(u, org, &at) else { return };
        let Some(id) = self.intern(book, address, &at) else { return };
        self.name_alias(book, &u.alias, id, &at);
        let Some((domain, parent)) = self.place(&u.placement, containers, &at, org.root_domain(forest)) else { return };
        if org.forests.domain[usize::from(domain.0)] != forest {
            let message = format!(
                "the user's mailbox is in forest {:?}; place it in a domain of that forest",
                org.forests.name(forest)
            );
            self.error(&at.key("placement").key("domain"), message);
        }
        let class = match u.class {
            crate::scenario::UserClass::User => ObjectClass::User,
            crate::scenario::UserClass::InetOrgPerson => {
                inet_org_person.get_or_insert((at.key("class"), domain));
                ObjectClass::InetOrgPerson
            }
        };
        let (created_at, stamped_at, deleted_at) = self.lifetime(&u.placement, domain, rus, &at);
        let scripted = u.placement.created_at.is_some() || deleted_at.is_some();
        let recipient = match store {
            Some(store) => {
                let server = org.store_configs[store].server;
                // Client load comes from recipients that live the whole run; one
                // created or deleted on the timeline is reached by scripted mail.
                if !scripted {
                    mailboxes_by_server[usize::from(server.0)].push(id);
                }
                Recipient::Mailbox(MailboxEntry { store: StoreId(store as u16), home_server: server })
            }
            None => {
                mail_users.push((id, i));
                // The target is filled in once outside addresses are interned.
                Recipient::Forward(id)
            }
        };
        let dn = format!("CN={},{parent}", u.alias);
        self.attribute_names(&u.attributes, &at.key("attributes"));
        let attributes = attribute_map(&u.attributes, None);
        directory.add(
            id,
            RecipientObject {
                class,
                recipient,
                domain,
                dn,
                mail: book.addresses[id.0 as usize].clone(),
                restriction: Restriction::Anyone,
                attributes,
                created_at,
                stamped_at,
                deleted_at,
            },
        );
        self.mailbox_settings(u, id, store.is_some(), directory, &at);
        if u.mailbox_size_kb > 0 || u.quota.is_some() {
            if store.is_none() {
                self.error(&at.key("quota"), "only a user with a mailbox (\"store\") has a mailbox size or quota");
            }
            let settings = org::config::topology::MailboxSettings {
                initial_bytes: u.mailbox_size_kb * 1_024,
                quota: u.quota.map(crate::scenario::Quota::to_org),
            };
            people.mailbox_settings.insert(id, settings);
        }
        placed.push((id, at, u.placement.clone()));
    }

    /// A listed user's mailbox store (`Some(None)`: mail-enabled, no mailbox); `None`
    /// after an error.
    fn user_store(&mut self, u: &User, org: &Org, at: &JsonPath) -> Option<Option<usize>> {
        match (&u.store, &u.target_address) {
            (Some(store), None) => self.reference(&org.stores, "mailbox store", store, &at.key("store")).map(Some),
            (None, Some(_)) => Some(None),
            _ => {
                self.error(at, "expected either \"store\" (a mailbox-enabled user) or \"target_address\" (a mail-enabled user), not both or neither");
                None
            }
        }
    }

    /// A listed user's address: as written, in an authoritative domain, or the alias at
    /// the primary domain.
    fn user_address(&mut self, smtp_domains: &[String], u: &User, primary: &str, at: &JsonPath) -> Option<String> {
        let Some(a) = &u.address else { return Some(format!("{}@{primary}", u.alias)) };
        let domain_ok = a.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && smtp_domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
        });
        if !domain_ok {
            let message =
                format!("expected an address in one of the authoritative domains {smtp_domains:?}, found {a:?}");
            self.error(&at.key("address"), message);
            return None;
        }
        Some(a.clone())
    }

    /// What the store reads of a user: which MAPI clients may log on (protocolSettings,
    /// §2) and whether the mailbox is Out of Office.
    fn mailbox_settings(
        &mut self,
        u: &User,
        id: AddressId,
        has_mailbox: bool,
        directory: &mut GlobalCatalog,
        at: &JsonPath,
    ) {
        if let Some(text) = &u.protocol_settings {
            match org::directory::global_catalog::MapiAccess::parse(text) {
                Ok(access) => {
                    let mode = match u.outlook {
                        crate::scenario::OutlookModeSpec::Cached => org::directory::global_catalog::OutlookMode::Cached,
                        crate::scenario::OutlookModeSpec::Online => org::directory::global_catalog::OutlookMode::Online,
                    };
                    directory.set_mapi(id, access, mode);
                }
                Err(e) => self.error(&at.key("protocol_settings"), format!("{e} (EXCHANGE2003.md §2)")),
            }
        }
        if u.out_of_office {
            if !has_mailbox {
                self.error(&at.key("out_of_office"), "only a user with a mailbox (\"store\") has Out of Office");
            }
            directory.set_out_of_office(id);
        }
    }

    /// Generated users, spread round-robin over their stores, numbered per prefix.
    pub(super) fn generated(&mut self, r: &Recipients, org: &mut Org, people: &mut People) {
        let People { book, directory, mailboxes_by_server, containers, rus, mailbox_settings, .. } = people;
        let recp = p().key("recipients");
        let mut next_number: BTreeMap<String, u32> = BTreeMap::new();
        let mut planned = r.users.len() as u64;
        for (i, g) in r.generated.iter().enumerate() {
            let at = recp.key("generated").index(i);
            if g.stores.is_empty() {
                self.error(&at.key("stores"), "expected at least one mailbox store");
            }
            if g.count == 0 || g.count > MAX_MAILBOXES {
                self.error(&at.key("count"), format!("expected from 1 to {MAX_MAILBOXES} users"));
                continue;
            }
            planned += u64::from(g.count);
            if planned > u64::from(MAX_MAILBOXES) {
                self.error(&at.key("count"), format!("the organization would exceed {MAX_MAILBOXES} mailboxes"));
                continue;
            }
            let picked: Vec<usize> = g
                .stores
                .iter()
                .enumerate()
                .filter_map(|(k, s)| self.reference(&org.stores, "mailbox store", s, &at.key("stores").index(k)))
                .collect();
            if picked.len() != g.stores.len() {
                continue;
            }
            let placement = Placement {
                domain: g.domain.clone(),
                ou: g.ou.clone(),
                created_at: g.created_at,
                ..Placement::default()
            };
            // Every store of one forest: the users' domain and addresses are its.
            let forests_of = |s: &usize| org.server_configs[usize::from(org.store_configs[*s].server.0)].forest;
            let forest = forests_of(&picked[0]);
            if picked.iter().any(|s| forests_of(s) != forest) {
                self.error(&at.key("stores"), "expected stores of one forest");
                continue;
            }
            let primary = org.forests.primary(forest);
            let Some((domain, parent)) = self.place(&placement, containers, &at, org.root_domain(forest)) else {
                continue;
            };
            if org.forests.domain[usize::from(domain.0)] != forest {
                let message =
                    format!("the stores are forest {:?}'s; expected one of its domains", org.forests.name(forest));
                self.error(&at.key("domain"), message);
            }
            let (created_at, stamped_at, _) = self.lifetime(&placement, domain, rus, &at);
            self.attribute_names(&g.attributes, &at.key("attributes"));
            let first = next_number.entry(g.prefix.clone()).or_insert(1);
            for n in 0..g.count {
                let alias = format!("{}{}", g.prefix, *first + n);
                let store = picked[n as usize % picked.len()];
                let Some(id) = self.intern(book, format!("{alias}@{primary}"), &at) else { continue };
                // Generated users have no alias entry: members and senders name listed
                // recipients, and 100,000 more keys would cost memory for nothing.
                let server = org.store_configs[store].server;
                if g.created_at.is_none() {
                    mailboxes_by_server[usize::from(server.0)].push(id);
                }
                if g.mailbox_size_kb > 0 {
                    let initial_bytes = g.mailbox_size_kb * 1_024;
                    mailbox_settings.insert(id, org::config::topology::MailboxSettings { initial_bytes, quota: None });
                }
                let entry = MailboxEntry { store: StoreId(store as u16), home_server: server };
                directory.add(
                    id,
                    RecipientObject {
                        class: ObjectClass::User,
                        recipient: Recipient::Mailbox(entry),
                        domain,
                        dn: format!("CN={alias},{parent}"),
                        mail: book.addresses[id.0 as usize].clone(),
                        restriction: Restriction::Anyone,
                        attributes: attribute_map(&g.attributes, Some(n as usize)),
                        created_at,
                        stamped_at,
                        deleted_at: None,
                    },
                );
            }
            *first += g.count;
        }
    }

    /// `recipients.external`, then the targets of mail-enabled users.
    pub(super) fn outside_addresses(&mut self, r: &Recipients, org: &mut Org, people: &mut People) {
        let People { book, directory, mail_users, external_addresses, .. } = people;
        let recp = p().key("recipients");
        for (i, text) in r.external.iter().enumerate() {
            let at = recp.key("external").index(i);
            if let Some(id) = self.add_external(book, &mut org.external, &r.smtp_domains, text, &at, true) {
                external_addresses.push(id);
            }
        }
        for (id, i) in std::mem::take(mail_users) {
            let at = recp.key("users").index(i).key("target_address");
            let text = r.users[i].target_address.as_deref().unwrap_or_default();
            if let Some(target) = self.add_external(book, &mut org.external, &r.smtp_domains, text, &at, false) {
                let mut object = directory.object(id).expect("added above").clone();
                object.recipient = Recipient::Forward(target);
                directory.add(id, object);
            }
        }
    }

    /// Contacts: each stands for an outside address (another forest's recipient, too).
    pub(super) fn contacts(&mut self, r: &Recipients, org: &mut Org, people: &mut People) {
        let People { book, directory, containers, rus, placed, .. } = people;
        let recp = p().key("recipients");
        for (i, c) in r.contacts.iter().enumerate() {
            let at = recp.key("contacts").index(i);
            let forest = org.placement_forest(&c.placement);
            let primary = org.forests.primary(forest);
            let Some(id) = self.intern(book, format!("{}@{primary}", c.alias), &at) else { continue };
            self.name_alias(book, &c.alias, id, &at);
            let target_at = at.key("target_address");
            let smtp_domains = &org.forests.smtp_domains[usize::from(forest.0)];
            let Some(target) =
                self.add_external(book, &mut org.external, smtp_domains, &c.target_address, &target_at, false)
            else {
                continue;
            };
            let Some((domain, parent)) = self.place(&c.placement, containers, &at, 0) else { continue };
            let (created_at, stamped_at, deleted_at) = self.lifetime(&c.placement, domain, rus, &at);
            let object = RecipientObject {
                class: ObjectClass::Contact,
                recipient: Recipient::Forward(target),
                domain,
                dn: format!("CN={},{parent}", c.alias),
                // A contact's mail is the outside address it stands for.
                mail: if c.target_address.contains('@') { c.target_address.clone() } else { String::new() },
                restriction: Restriction::Anyone,
                attributes: {
                    self.attribute_names(&c.attributes, &at.key("attributes"));
                    attribute_map(&c.attributes, None)
                },
                created_at,
                stamped_at,
                deleted_at,
            };
            directory.add(id, object);
            placed.push((id, at, c.placement.clone()));
        }
    }

    /// Groups: every address first (members may name groups listed later), then members.
    pub(super) fn groups(&mut self, t: &TopologyDef, r: &Recipients, org: &Org, people: &mut People) {
        let People { book, directory, containers, rus, placed, .. } = people;
        let recp = p().key("recipients");
        let servers_by_name = Names::of(t.servers.iter().map(|s| s.name.as_str()));
        let mut static_groups = Vec::new();
        let group_count = r.groups.len() + r.query_groups.len();
        for k in 0..group_count {
            let (at, alias, placement, expansion_server, membership) = match k.checked_sub(r.groups.len()) {
                None => {
                    let g = &r.groups[k];
                    let empty = Membership::Static { scope: GroupScope::Universal, members: Vec::new() };
                    (recp.key("groups").index(k), &g.alias, &g.placement, &g.expansion_server, empty)
                }
                Some(q) => {
                    let g = &r.query_groups[q];
                    let query = Membership::Query { filter: g.filter.clone(), base_dn: g.base_dn.clone() };
                    (recp.key("query_groups").index(q), &g.alias, &g.placement, &g.expansion_server, query)
                }
            };
            if alias.is_empty() || alias.contains(['@', ' ']) {
                self.error(&at.key("alias"), format!("expected an alias without spaces or '@', found {alias:?}"));
                continue;
            }
            let primary = org.forests.primary(org.placement_forest(placement));
            let Some(id) = self.intern(book, format!("{alias}@{primary}"), &at) else { continue };
            self.name_alias(book, alias, id, &at);
            let Some((domain, parent)) = self.place(placement, containers, &at, 0) else { continue };
            let expansion_server = expansion_server.as_ref().and_then(|name| {
                let found = self.reference(&servers_by_name, "server", name, &at.key("expansion_server"));
                found.map(|s| ServerId(s as u16))
            });
            let query = matches!(membership, Membership::Query { .. });
            let group = directory.add_group(Group { address: id, membership, expansion_server });
            let (created_at, stamped_at, deleted_at) = self.lifetime(placement, domain, rus, &at);
            let object = RecipientObject {
                class: if query { ObjectClass::QueryBasedGroup } else { ObjectClass::Group },
                recipient: Recipient::Group(group),
                domain,
                dn: format!("CN={alias},{parent}"),
                mail: book.addresses[id.0 as usize].clone(),
                restriction: Restriction::Anyone,
                attributes: BTreeMap::new(),
                created_at,
                stamped_at,
                deleted_at,
            };
            directory.add(id, object);
            placed.push((id, at.clone(), placement.clone()));
            if !query {
                static_groups.push((group, at, k));
            }
        }
        let forest_of =
            |d: &GlobalCatalog, a: AddressId| d.object(a).map(|o| org.forests.domain[usize::from(o.domain.0)]);
        for (group, at, k) in static_groups {
            let spec = &r.groups[k];
            let group_forest = forest_of(directory, directory.group(group).address);
            let mut members = Vec::new();
            let mut listed = BTreeSet::new();
            for (j, m) in spec.members.iter().enumerate() {
                let mat = at.key("members").index(j);
                if let Some(id) = self.lookup_alias(book, m, &mat) {
                    if !listed.insert(id) {
                        self.error(&mat, format!("{m:?} is listed twice"));
                    }
                    if forest_of(directory, id) != group_forest {
                        self.error(&mat, format!("{m:?} is another forest's: a group's members are its own forest's (a contact stands for the other's users)"));
                    }
                    members.push(id);
                }
            }
            let scope = match spec.scope {
                crate::scenario::GroupScopeSpec::DomainLocal => GroupScope::DomainLocal,
                crate::scenario::GroupScopeSpec::Global => GroupScope::Global,
                crate::scenario::GroupScopeSpec::Universal => GroupScope::Universal,
            };
            directory.set_membership(group, Membership::Static { scope, members });
        }
    }

    /// Who may send to each listed recipient, once every alias is known; records where
    /// administrators create and delete listed recipients (checked once the directory is
    /// known).
    pub(super) fn restrictions(&mut self, people: &mut People) {
        let People { book, directory, placed, created_on, .. } = people;
        *created_on = placed
            .iter()
            .filter_map(|(id, at, p)| Some((*id, (p.created_on.clone()?, at.key("created_on")))))
            .collect();
        for (id, at, placement) in std::mem::take(placed) {
            let restriction = match (&placement.accept_from, placement.authenticated_only) {
                (None, false) => continue,
                (None, true) => Restriction::AuthenticatedOnly,
                (Some(_), true) => {
                    self.error(
                        &at.key("authenticated_only"),
                        "accept_from already admits only authenticated senders; give one or the other",
                    );
                    continue;
                }
                (Some(list), false) => {
                    let mut listed = Vec::new();
                    for (k, alias) in list.iter().enumerate() {
                        listed.extend(self.lookup_alias(book, alias, &at.key("accept_from").index(k)));
                    }
                    Restriction::AcceptFrom(directory.accepted_senders(&listed))
                }
            };
            let mut object = directory.object(id).expect("placed objects exist").clone();
            object.restriction = restriction;
            directory.add(id, object);
        }
    }

    /// EXCHANGE2003.md §2: an inetOrgPerson needs a 2003 DC and a native Exchange 2003
    /// topology.
    pub(super) fn inet_org_person(&mut self, t: &TopologyDef, org: &Org, people: &People) {
        if let Some((at, domain)) = &people.inet_org_person {
            // EXCHANGE2003.md §2: an inetOrgPerson needs a 2003 DC and a native Exchange
            // 2003 topology.
            let dc_2003 = t.domain_controllers.iter().any(|d| {
                org.domains.get(&d.domain) == Some(usize::from(domain.0))
                    && d.version == crate::scenario::WindowsVersionSpec::Windows2003
            });
            let all_2003 = t.servers.iter().all(|s| s.version != ServerVersion::Exchange2000Sp3);
            if !dc_2003 || !all_2003 {
                self.error(at, "an inetOrgPerson needs a Windows Server 2003 DC in its domain and only Exchange 2003 servers (EXCHANGE2003.md §2)");
            }
        }
    }
    /// Interns a recipient's address; a duplicate is an error naming the first.
    pub(super) fn intern(&mut self, book: &mut AddressBook, address: String, at: &JsonPath) -> Option<AddressId> {
        let address = address.to_ascii_lowercase();
        if let Some((_, first)) = book.index.get(&address) {
            self.error(at, format!("duplicate address {address:?} (first at {first})"));
            return None;
        }
        let id = AddressId(book.addresses.len() as u32);
        book.index.insert(address.clone(), (book.addresses.len(), at.clone()));
        book.addresses.push(address);
        Some(id)
    }

    /// Names a listed recipient by its alias (aliases are unique across every kind).
    pub(super) fn name_alias(&mut self, book: &mut AddressBook, alias: &str, id: AddressId, at: &JsonPath) {
        if let Some((_, first)) = book.aliases.get(&alias.to_ascii_lowercase()) {
            self.error(at, format!("duplicate alias {alias:?} (first at {first})"));
            return;
        }
        book.aliases.insert(alias.to_ascii_lowercase(), (id, at.clone()));
    }

    /// A recipient named by an address already interned or by a listed alias.
    pub(super) fn lookup_recipient(&mut self, book: &AddressBook, name: &str, at: &JsonPath) -> Option<AddressId> {
        match book.address(name) {
            Some(id) => Some(id),
            None => self.lookup_alias(book, name, at),
        }
    }

    /// The listed recipient with this alias.
    pub(super) fn lookup_alias(&mut self, book: &AddressBook, alias: &str, at: &JsonPath) -> Option<AddressId> {
        let found = book.aliases.get(&alias.to_ascii_lowercase()).map(|(id, _)| *id);
        if found.is_none() {
            self.error(
                at,
                format!("no user, contact or group with alias {alias:?} (generated users cannot be named one by one)"),
            );
        }
        found
    }

    /// Interns an address outside the organization (SMTP, or X.400 written `X400:…`).
    /// `listed` is true for `recipients.external`, where a repeat is an error; a contact's
    /// target may repeat an address already interned.
    pub(super) fn add_external(
        &mut self,
        book: &mut AddressBook,
        external: &mut ExternalDirectory,
        smtp_domains: &[String],
        text: &str,
        at: &JsonPath,
        listed: bool,
    ) -> Option<AddressId> {
        let lowered = text.to_ascii_lowercase();
        if let Some(id) = book.external.get(&lowered) {
            if listed {
                self.error(at, format!("duplicate address {text:?}"));
            }
            return Some(*id);
        }
        // Another forest's recipient: external here, reached by its SMTP address.
        if let Some(id) = book.address(&lowered).filter(|id| external.lookup(*id).is_some()) {
            if smtp_domains.iter().any(|d| lowered.ends_with(&format!("@{d}"))) {
                self.error(at, format!("{text:?} is a recipient of this forest, not an outside address"));
                return None;
            }
            return Some(id);
        }
        if book.index.contains_key(&lowered) || book.addresses.contains(&lowered) {
            self.error(at, format!("duplicate address {text:?}"));
            return None;
        }
        let id = AddressId(book.addresses.len() as u32);
        let parsed = match text.strip_prefix("X400:").or_else(|| text.strip_prefix("x400:")) {
            Some(x400) => external.add_x400(id, x400).map(|_| ()),
            None => {
                let domain = text.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
                if smtp_domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
                    self.error(
                        at,
                        format!(
                            "{text:?} is in an authoritative domain: list it as a user, not as an external address"
                        ),
                    );
                    return None;
                }
                external.add_smtp(id, text).map(|_| ())
            }
        };
        if let Err(e) = parsed {
            self.error(at, format!("{} (SMTP, or X.400 written \"X400:c=US;a= ;p=…\")", e.0));
            return None;
        }
        book.addresses.push(lowered.clone());
        book.external.insert(lowered, id);
        Some(id)
    }

    /// Refuses attributes the scenario may not write: those the directory derives from
    /// the recipient itself, and those the model writes (`proxyAddresses` by the RUS,
    /// `member` for a group's members).
    pub(super) fn attribute_names(&mut self, spec: &BTreeMap<String, crate::scenario::AttributeValues>, at: &JsonPath) {
        for name in spec.keys() {
            let lower = name.to_ascii_lowercase();
            if org::directory::global_catalog::DERIVED_ATTRIBUTES.contains(&lower.as_str()) {
                self.error(&at.key(name), format!("{name} is derived from the recipient (its address, DN, name or class), not written: leave it out"));
            } else if [
                org::directory::global_catalog::STAMPED_ATTRIBUTE,
                org::directory::global_catalog::MEMBER_ATTRIBUTE,
            ]
            .contains(&lower.as_str())
            {
                self.error(&at.key(name), format!("{name} is written by the model (the Recipient Update Service, a group's members): leave it out"));
            }
        }
    }

    /// Each domain's head DN and the declared OUs, each under one domain; every one is a
    /// container query-based groups may search.
    pub(super) fn containers(
        &mut self,
        t: &crate::scenario::TopologyDef,
        r: &crate::scenario::Recipients,
        domains: &Names,
        directory: &mut GlobalCatalog,
    ) -> Containers {
        let heads: Vec<String> = t
            .domains
            .iter()
            .map(|d| d.name.split('.').map(|label| format!("DC={label}")).collect::<Vec<_>>().join(","))
            .collect();
        for head in &heads {
            directory.add_container(head);
        }
        let mut ous = BTreeMap::new();
        let up = p().key("recipients").key("organizational_units");
        let head_keys: Vec<String> = heads.iter().map(|h| normalize_dn(h).unwrap_or_default()).collect();
        for (i, ou) in r.organizational_units.iter().enumerate() {
            // Compared as AD compares DNs: no case, no spaces around separators.
            let key = normalize_dn(ou).unwrap_or_default();
            // The deepest domain head it ends with (a child domain's head ends with its
            // parent's).
            let domain = head_keys
                .iter()
                .enumerate()
                .filter(|(_, h)| key.ends_with(&format!(",{h}")))
                .max_by_key(|(_, h)| h.len())
                .map(|(d, _)| d);
            let well_formed = key.starts_with("ou=");
            match domain {
                Some(d) if well_formed => {
                    if ous.insert(key, d).is_some() {
                        self.error(&up.index(i), format!("{ou:?} is listed twice"));
                    }
                    directory.add_container(ou);
                }
                _ => self.error(
                    &up.index(i),
                    format!(
                        "expected an OU's DN under a domain of the forest, like \"OU=Sales,{}\", found {ou:?}",
                        heads.first().map_or("DC=contoso,DC=com", String::as_str)
                    ),
                ),
            }
        }
        let _ = domains;
        Containers { heads, ous }
    }

    /// A recipient's domain and parent container DN from its placement: the domain given
    /// (the forest's first by default) and its head, or the OU given, which must be in
    /// that domain.
    pub(super) fn place(
        &mut self,
        placement: &Placement,
        containers: &Containers,
        at: &JsonPath,
        default_domain: usize,
    ) -> Option<(AdDomainId, String)> {
        let domain = match &placement.domain {
            None => None,
            Some(name) => {
                let index = containers.heads.iter().position(|h| {
                    h.eq_ignore_ascii_case(
                        &name.split('.').map(|label| format!("DC={label}")).collect::<Vec<_>>().join(","),
                    )
                });
                if index.is_none() {
                    self.error(&at.key("domain"), format!("no domain named {name:?} in the forest"));
                    return None;
                }
                index
            }
        };
        match &placement.ou {
            None => {
                let d = domain.unwrap_or(default_domain);
                Some((AdDomainId(d as u16), containers.heads.get(d).cloned().unwrap_or_default()))
            }
            Some(ou) => {
                let Some(&d) = normalize_dn(ou).and_then(|key| containers.ous.get(&key)) else {
                    self.error(&at.key("ou"), format!("{ou:?} is not one of recipients.organizational_units"));
                    return None;
                };
                if domain.is_some_and(|given| given != d) {
                    self.error(&at.key("ou"), format!("{ou:?} is not in domain {:?}", placement.domain));
                    return None;
                }
                Some((AdDomainId(d as u16), ou.clone()))
            }
        }
    }

    /// Each domain's RUS interval (ms), "Always run" (1 min) where none is listed.
    pub(super) fn recipient_update_services(
        &mut self,
        r: &crate::scenario::Recipients,
        domains: &Names,
        duration_ms: u64,
    ) -> Vec<u64> {
        let mut intervals = vec![crate::scenario::defaults::rus_interval().ms; domains.len()];
        let mut seen = BTreeSet::new();
        let rp = p().key("recipients").key("recipient_update_services");
        for (i, rus) in r.recipient_update_services.iter().enumerate() {
            let at = rp.index(i);
            let Some(d) = self.reference(domains, "domain", &rus.domain, &at.key("domain")) else { continue };
            if !seen.insert(d) {
                self.error(&at.key("domain"), format!("{:?} already has a Recipient Update Service", rus.domain));
            }
            if rus.interval.ms < 60_000 || rus.interval.ms > duration_ms.max(60_000) * 10 {
                self.error(&at.key("interval"), "expected an interval of at least 1m (\"Always run\")");
                continue;
            }
            intervals[d] = rus.interval.ms;
        }
        intervals
    }

    /// When a recipient's addresses are stamped (the first RUS pass of its domain after
    /// it is created; at once for one that exists from the start) and when it is deleted.
    pub(super) fn lifetime(
        &mut self,
        placement: &Placement,
        domain: AdDomainId,
        rus: &[u64],
        at: &JsonPath,
    ) -> (Option<Instant>, Instant, Option<Instant>) {
        let stamped = match placement.created_at {
            None => Instant::ZERO,
            Some(created) => {
                // A pass handles what was created since the last one (§2).
                let every = rus.get(usize::from(domain.0)).copied().unwrap_or(60_000).max(1);
                Instant((created.ms / every + 1) * every)
            }
        };
        let deleted = placement.deleted_at.map(|d| Instant(d.ms));
        if let (Some(created), Some(deleted)) = (placement.created_at, deleted) {
            if deleted.as_ms() <= created.ms {
                self.error(&at.key("deleted_at"), "expected a deletion after the creation");
            }
        }
        (placement.created_at.map(|c| Instant(c.ms)), stamped, deleted)
    }
}

/// With several forests, every forest's recipients are outside addresses to the others:
/// a server finds them in no GC of its own and routes them by address space, as it would
/// an Internet address (§6). Contacts stand for others, and have no address of their own
/// to reach.
fn every_forest_reaches_the_others(org: &mut Org, people: &People) {
    for (id, object) in people.directory.objects() {
        if object.class == ObjectClass::Contact || !object.mail.contains('@') {
            continue;
        }
        // The address was interned as a recipient of an authoritative domain: it parses.
        let added = org.external.add_smtp(id, &object.mail);
        debug_assert!(added.is_ok(), "{}", object.mail);
    }
}
