//! The recipients of the forest as a global catalog serves them (EXCHANGE2003.md §2):
//! users and InetOrgPersons (mailbox- or mail-enabled), contacts, distribution groups
//! with scopes and query-based distribution groups, each with its delivery restrictions
//! and the attributes an LDAP filter reads.
//!
//! What a GC answers depends on its domain: it holds every object of the forest, but the
//! membership of domain-local and global groups only for groups of its own domain;
//! universal group membership is in every GC (§2). A query-based group's filter is
//! evaluated here, at send time, against every recipient under its base DN.
//!
//! The catalog holds the scenario's recipients and every change scripted for them, with
//! when it is made. What one GC sees of them is a [`DirectoryView`]: [`AsOf`] is the
//! whole directory at an instant (every GC at once, when replication is not simulated);
//! [`ReplicaView`] is what a GC's replicated copy holds, so a change reaches the
//! categorizer only once replication has brought it to the GC it asks.

use crate::directory::ad_replication::{ObjectId, Replica};
use crate::directory::ldap_filter::{normalize_dn, Filter, FilterError, Logic};
use crate::time::Instant;
use crate::{AddressId, ServerId, StoreId};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// Index of an Active Directory domain of the forest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct AdDomainId(pub u16);

/// Index of a distribution group (standard or query-based) in the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct GroupId(pub u32);

/// Where a mailbox lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MailboxEntry {
    /// The store holding the mailbox.
    pub store: StoreId,
    /// The server mounting that store (its `msExchHomeServerName`).
    pub home_server: ServerId,
}

/// The directory class of a recipient object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum ObjectClass {
    /// A user account.
    User,
    /// An RFC 2798 inetOrgPerson: behaves as a user (§2).
    InetOrgPerson,
    /// A contact: mail-enabled only, with an outside target address.
    Contact,
    /// A distribution group.
    Group,
    /// A query-based distribution group (`msExchDynamicDistributionList`).
    QueryBasedGroup,
}

impl ObjectClass {
    /// The `objectClass` values an LDAP filter sees (most specific last, as AD lists them).
    pub fn ldap_classes(self) -> &'static [&'static str] {
        match self {
            ObjectClass::User => &["top", "person", "organizationalPerson", "user"],
            ObjectClass::InetOrgPerson => &["top", "person", "organizationalPerson", "user", "inetOrgPerson"],
            ObjectClass::Contact => &["top", "person", "organizationalPerson", "contact"],
            ObjectClass::Group => &["top", "group"],
            ObjectClass::QueryBasedGroup => &["top", "msExchDynamicDistributionList"],
        }
    }

    /// The `objectCategory` short name.
    fn category(self) -> &'static str {
        match self {
            ObjectClass::User | ObjectClass::InetOrgPerson | ObjectClass::Contact => "person",
            ObjectClass::Group => "group",
            ObjectClass::QueryBasedGroup => "msExchDynamicDistributionList",
        }
    }
}

/// What mail to a recipient becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// A mailbox-enabled user or inetOrgPerson.
    Mailbox(MailboxEntry),
    /// A mail-enabled user or a contact: mail goes on to its `targetAddress`, an address
    /// outside the organization.
    Forward(AddressId),
    /// A group, expanded by the categorizer.
    Group(GroupId),
}

/// Who may send to a recipient (§2: restricted DLs and users; violation → 5.7.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Restriction {
    /// Anyone, anonymous senders included.
    #[default]
    Anyone,
    /// Only senders who authenticated ("From authenticated users only").
    AuthenticatedOnly,
    /// Only these principals, who must have authenticated for Exchange to know them.
    AcceptFrom(BTreeSet<AddressId>),
}

impl Restriction {
    /// Whether a message from `sender` (authenticated or not) may be delivered.
    pub fn admits(&self, sender: Option<AddressId>, authenticated: bool) -> bool {
        match self {
            Restriction::Anyone => true,
            Restriction::AuthenticatedOnly => authenticated,
            Restriction::AcceptFrom(allowed) => authenticated && sender.is_some_and(|s| allowed.contains(&s)),
        }
    }
}

/// Attribute values by lower-case name.
pub type Attributes = BTreeMap<String, Vec<String>>;

/// A recipient object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientObject {
    /// Its class.
    pub class: ObjectClass,
    /// What mail to it becomes.
    pub recipient: Recipient,
    /// The domain it is in.
    pub domain: AdDomainId,
    /// Its distinguished name, e.g. `CN=alice,OU=Sales,DC=contoso,DC=com`.
    pub dn: String,
    /// Its primary SMTP address, the `mail` attribute (empty when it has none).
    pub mail: String,
    /// Who may send to it.
    pub restriction: Restriction,
    /// Attributes an LDAP filter reads, lower-case names (the catalog fills in
    /// [`DERIVED_ATTRIBUTES`] from the object itself).
    pub attributes: BTreeMap<String, Vec<String>>,
    /// When an administrator created it; `None` for one there from the start.
    pub created_at: Option<Instant>,
    /// When the Recipient Update Service stamped its e-mail addresses: before that the
    /// object exists in AD but no address resolves to it (§2). With replication, when
    /// the RUS would stamp it were its DC to hold the creation at once.
    pub stamped_at: Instant,
    /// When an administrator deleted it, if they did.
    pub deleted_at: Option<Instant>,
}

impl RecipientObject {
    /// Whether mail can reach it at `now`: stamped by the RUS and not deleted.
    pub fn usable(&self, now: Instant) -> bool {
        self.stamped_at <= now && self.deleted_at.is_none_or(|d| now < d)
    }
}

/// Attributes the catalog derives from a recipient object rather than from what the
/// scenario writes: its classes, its category, its address (`mail`), its name (`cn`,
/// `name`: its DN's first RDN) and its DN.
pub const DERIVED_ATTRIBUTES: [&str; 6] = ["objectclass", "objectcategory", "mail", "cn", "name", "distinguishedname"];

/// The attribute a recipient's creation writes (§2: the object exists in AD from then).
pub const CREATED_ATTRIBUTE: &str = "objectclass";

/// The attribute the Recipient Update Service writes when it stamps a recipient's
/// e-mail addresses (§2: only then does mail reach it).
pub const STAMPED_ATTRIBUTE: &str = "proxyaddresses";

/// The attribute holding a standard group's members. orgsim writes the members' address
/// ids (where AD writes their DNs).
pub const MEMBER_ATTRIBUTE: &str = "member";

/// A group's members as the `member` attribute holds them.
pub fn member_values(members: &[AddressId]) -> Vec<String> {
    members.iter().map(|m| m.0.to_string()).collect()
}

/// The members a `member` attribute holds (values that are no address id are skipped).
fn parse_members(values: &[String]) -> Vec<AddressId> {
    values.iter().filter_map(|v| v.parse().ok()).map(AddressId).collect()
}

/// First object id of recipients in a replica: ids below are the anonymous objects bulk
/// directory changes write (`ObjectId(1..=count)`, at most 2^32 of them).
const RECIPIENT_OBJECT_BASE: u64 = 1 << 32;

/// The directory object of the recipient with this address.
pub fn recipient_object(address: AddressId) -> ObjectId {
    ObjectId(RECIPIENT_OBJECT_BASE + u64::from(address.0))
}

/// The recipient a directory object is, if it is one.
pub fn object_recipient(object: ObjectId) -> Option<AddressId> {
    object.0.checked_sub(RECIPIENT_OBJECT_BASE).and_then(|a| u32::try_from(a).ok()).map(AddressId)
}

/// What one GC's copy of the directory says of recipients now.
pub trait DirectoryView {
    /// Whether mail can reach `object` (the catalog's entry for `address`): stamped by
    /// the RUS and not deleted.
    fn usable(&self, catalog: &GlobalCatalog, address: AddressId, object: &RecipientObject) -> bool;

    /// The values an administrator's change gave `attr`, if one is visible here.
    fn changed<'a>(&'a self, catalog: &'a GlobalCatalog, address: AddressId, attr: &str) -> Option<&'a [String]>;

    /// A standard group's members after an administrator's change, if one is visible
    /// here (else the scenario's list holds).
    fn members_changed(&self, catalog: &GlobalCatalog, group: GroupId) -> Option<Vec<AddressId>> {
        let address = catalog.group(group).address;
        self.changed(catalog, address, MEMBER_ATTRIBUTE).map(parse_members)
    }
}

/// The whole directory as written by an instant: what every GC holds when replication
/// is not simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsOf(pub Instant);

impl DirectoryView for AsOf {
    fn usable(&self, _: &GlobalCatalog, _: AddressId, object: &RecipientObject) -> bool {
        object.usable(self.0)
    }

    fn changed<'a>(&'a self, catalog: &'a GlobalCatalog, address: AddressId, attr: &str) -> Option<&'a [String]> {
        catalog.changed_as_of(address, attr, self.0)
    }

    fn members_changed(&self, catalog: &GlobalCatalog, group: GroupId) -> Option<Vec<AddressId>> {
        catalog.membership_as_of(group, self.0)
    }
}

/// What a GC's replicas hold: its own domain's full replica and its partial replicas
/// of the other domains (§2). A recipient created during the run exists once its
/// creation has replicated here and is usable once the RUS's stamp has; deletions and
/// attribute changes count from when they arrive. A domain it holds no replica of is
/// seen as of `now`.
#[derive(Clone, Copy, Debug)]
pub struct ReplicaView<'a> {
    /// The replica held of each domain, indexed by [`AdDomainId`].
    pub replicas: &'a [Option<&'a Replica>],
    /// Now, for domains without a replica here.
    pub now: Instant,
}

impl ReplicaView<'_> {
    fn replica(&self, domain: AdDomainId) -> Option<&Replica> {
        self.replicas.get(usize::from(domain.0)).copied().flatten()
    }
}

impl DirectoryView for ReplicaView<'_> {
    fn usable(&self, catalog: &GlobalCatalog, address: AddressId, object: &RecipientObject) -> bool {
        let Some(replica) = self.replica(object.domain) else {
            return AsOf(self.now).usable(catalog, address, object);
        };
        // A recipient there from the start needs no write to be usable.
        let from_start = object.created_at.is_none();
        match replica.object(recipient_object(address)) {
            None => from_start,
            Some(o) => !o.is_deleted() && (from_start || !o.values(STAMPED_ATTRIBUTE).is_empty()),
        }
    }

    fn changed<'a>(&'a self, catalog: &'a GlobalCatalog, address: AddressId, attr: &str) -> Option<&'a [String]> {
        let object = catalog.object(address)?;
        let Some(replica) = self.replica(object.domain) else {
            return catalog.changed_as_of(address, attr, self.now);
        };
        // Creation and stamping write attributes of their own; those are not a filter's.
        if attr == CREATED_ATTRIBUTE || attr == STAMPED_ATTRIBUTE {
            return None;
        }
        let held = replica.object(recipient_object(address))?;
        held.attributes.get(attr).map(|a| a.values.as_slice())
    }

    fn members_changed(&self, catalog: &GlobalCatalog, group: GroupId) -> Option<Vec<AddressId>> {
        let address = catalog.group(group).address;
        let domain = catalog.object(address)?.domain;
        match self.replica(domain) {
            None => catalog.membership_as_of(group, self.now),
            Some(replica) => {
                let held = replica.object(recipient_object(address))?;
                held.attributes.get(MEMBER_ATTRIBUTE).map(|a| parse_members(&a.values))
            }
        }
    }
}

/// A group's membership.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Membership {
    /// A standard distribution group: listed members, which may be groups (nesting).
    Static {
        /// Domain local, global or universal.
        scope: GroupScope,
        /// Members in directory order.
        members: Vec<AddressId>,
    },
    /// A query-based group: an RFC 4515 filter under a base DN, evaluated at send time.
    Query {
        /// The filter text as the administrator wrote it (parsed when expanded: a
        /// malformed one is the sender's 5.2.4, §2).
        filter: String,
        /// The container searched.
        base_dn: String,
    },
}

/// A group's scope (§2: only universal membership replicates to every GC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum GroupScope {
    /// Domain local.
    DomainLocal,
    /// Global.
    Global,
    /// Universal.
    Universal,
}

/// A distribution group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// Its address.
    pub address: AddressId,
    /// Who is in it.
    pub membership: Membership,
    /// The server that must expand it (`msExchExpansionServerName`); any server when
    /// `None` (§2: the message is first routed there).
    pub expansion_server: Option<ServerId>,
}

/// Why a GC could not expand a group (§2: both are 5.2.4 to the sender).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpansionError {
    /// The query-based group's filter does not parse (categorizer event 6024).
    BadFilter(FilterError),
    /// Its base DN no longer exists (event 6025).
    NoBaseDn,
    /// The filter names an attribute AD constructs when read, which a search cannot
    /// test: AD fails it with inappropriateMatching ([MS-ADTS] §3.1.1.3.1.3.1).
    ConstructedAttribute(String),
}

/// How an Outlook client works with its mailbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum OutlookMode {
    /// Cached Exchange Mode: Outlook 2003 works from a local copy (its default for new
    /// profiles on Exchange 2003 [P]).
    #[default]
    Cached,
    /// Online: every operation goes to the server.
    Online,
}

/// Which MAPI clients may open a mailbox, from the user's `protocolSettings` (§2,
/// Exchange 2003 SP2). It is not applied to server tasks (mailbox moves) nor to
/// delegate access.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum MapiAccess {
    /// No MAPI string: every MAPI client.
    #[default]
    Any,
    /// `MAPI§1§1§…`: Outlook in Cached Exchange Mode only.
    CachedModeOnly,
    /// `MAPI§0§…`: no MAPI client at all.
    Blocked,
}

impl MapiAccess {
    /// Parses the `protocolSettings` MAPI string `MAPI§<b1>§<b2>§§§§§§`: exactly 8
    /// separators (9 fields), `b1` 0 (block all MAPI) or 1 (defer to `b2`), `b2` 0, 1
    /// (deny clients not in cached mode) or empty, the last six fields empty. Exchange's
    /// behaviour on any other string is undefined, so orgsim refuses it (§2).
    pub fn parse(text: &str) -> Result<MapiAccess, String> {
        let fields: Vec<&str> = text.split('§').collect();
        if fields.len() != 9 {
            return Err(format!(
                "expected exactly 8 '§' separators (9 fields, like \"MAPI§1§1§§§§§§\"), found {}",
                fields.len() - 1
            ));
        }
        if fields[0] != "MAPI" {
            return Err(format!("expected the first field to be \"MAPI\", found {:?}", fields[0]));
        }
        if let Some((i, f)) = fields.iter().enumerate().skip(3).find(|(_, f)| !f.is_empty()) {
            return Err(format!("expected fields 4 to 9 to be empty, found {f:?} in field {}", i + 1));
        }
        let b2 = match fields[2] {
            "" | "0" => false,
            "1" => true,
            other => {
                return Err(format!("expected the third field (cached mode only) to be 0, 1 or empty, found {other:?}"))
            }
        };
        match fields[1] {
            "0" => Ok(MapiAccess::Blocked),
            "1" if b2 => Ok(MapiAccess::CachedModeOnly),
            "1" => Ok(MapiAccess::Any),
            other => Err(format!("expected the second field (MAPI enabled) to be 0 or 1, found {other:?}")),
        }
    }

    /// Whether a client in `mode` may log on.
    pub fn admits(self, mode: OutlookMode) -> bool {
        match self {
            MapiAccess::Any => true,
            MapiAccess::CachedModeOnly => mode == OutlookMode::Cached,
            MapiAccess::Blocked => false,
        }
    }
}

/// An LDAP search's number on the server that asks (unique there; a GC echoes it on
/// every page, and an answer to a search given up is known by it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LdapSearchId(pub u64);

impl LdapSearchId {
    /// The number after this one.
    pub fn next(self) -> LdapSearchId {
        LdapSearchId(self.0 + 1)
    }
}

/// An Exchange server's LDAP search, sent to a GC through DSAccess.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdapSearch {
    /// The asking server's search number.
    pub search: LdapSearchId,
    /// What is asked.
    pub query: LdapQuery,
}

/// What an LDAP search asks a GC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LdapQuery {
    /// One page of a group's members; `page` counts from 0, [`LDAP_PAGE_SIZE`] a page.
    Members {
        /// The group.
        group: GroupId,
        /// Which page.
        page: u32,
    },
    /// The entries of these addresses (DSAccess cache misses).
    Resolve(Vec<AddressId>),
}

impl LdapSearch {
    /// Bytes on the wire: an LDAP searchRequest (with the paged-results control, or an
    /// OR of the addresses wanted) [U].
    pub fn wire_size_bytes(&self) -> u64 {
        match &self.query {
            LdapQuery::Members { .. } => 300,
            LdapQuery::Resolve(addresses) => 300 + 40 * addresses.len() as u64,
        }
    }
}

/// A GC's answer to one [`LdapSearch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdapPage {
    /// The search answered.
    pub search: LdapSearchId,
    /// The page answered.
    pub page: u32,
    /// The page's members, or why the group cannot be expanded.
    pub result: Result<Vec<AddressId>, ExpansionError>,
    /// Whether more pages follow.
    pub more: bool,
}

impl LdapPage {
    /// Bytes on the wire: a header and about 120 bytes an entry (DN and mail) [U].
    pub fn wire_size_bytes(&self) -> u64 {
        200 + 120 * self.result.as_ref().map_or(0, |m| m.len() as u64)
    }
}

/// Entries a GC returns a page: Active Directory's MaxPageSize default, 1,000 [P].
pub const LDAP_PAGE_SIZE: usize = 1_000;

/// The recipients of the organization, indexed by interned address.
#[derive(Clone, Debug, Default)]
pub struct GlobalCatalog {
    entries: Vec<Option<RecipientObject>>,
    groups: Vec<Group>,
    /// Containers that exist (domain heads and organizational units), normalized DNs.
    containers: BTreeSet<String>,
    /// Each object's DN normalized ([`normalize_dn`]), by address: what a base DN is
    /// compared with.
    dn_keys: Vec<String>,
    mailbox_count: usize,
    derived: DerivedValues,
    /// Mailbox owners with Out of Office on.
    out_of_office: BTreeSet<AddressId>,
    /// Users whose `protocolSettings` restrict MAPI, and how their Outlook works.
    mapi: BTreeMap<AddressId, (MapiAccess, OutlookMode)>,
    /// Attribute changes an administrator makes during the run, per recipient, in time
    /// order: from each instant on, these attributes read as given.
    modifications: BTreeMap<AddressId, Vec<(Instant, Attributes)>>,
    /// Membership changes of standard groups during the run, in time order: from each
    /// instant on, the group has these members.
    membership_changes: BTreeMap<GroupId, Vec<(Instant, Vec<AddressId>)>>,
}

impl GlobalCatalog {
    /// An empty catalog.
    pub fn new() -> Self {
        GlobalCatalog::default()
    }

    /// Adds (or moves) a mailbox-enabled user with no restriction or attributes.
    pub fn add_mailbox(&mut self, address: AddressId, entry: MailboxEntry) {
        self.add(
            address,
            RecipientObject {
                class: ObjectClass::User,
                recipient: Recipient::Mailbox(entry),
                domain: AdDomainId(0),
                dn: String::new(),
                mail: String::new(),
                restriction: Restriction::Anyone,
                attributes: BTreeMap::new(),
                created_at: None,
                stamped_at: Instant::ZERO,
                deleted_at: None,
            },
        );
    }

    /// Adds a recipient object; a group's object must name a group added with
    /// [`GlobalCatalog::add_group`].
    pub fn add(&mut self, address: AddressId, object: RecipientObject) {
        if let Recipient::Group(g) = object.recipient {
            assert_eq!(self.groups[g.0 as usize].address, address, "a group object names its own group");
        }
        let index = address.0 as usize;
        if self.entries.len() <= index {
            self.entries.resize(index + 1, None);
            self.dn_keys.resize(index + 1, String::new());
        }
        self.dn_keys[index] = normalize_dn(&object.dn).unwrap_or_else(|| object.dn.to_lowercase());
        let was_mailbox = matches!(&self.entries[index], Some(o) if matches!(o.recipient, Recipient::Mailbox(_)));
        let is_mailbox = matches!(object.recipient, Recipient::Mailbox(_));
        match (was_mailbox, is_mailbox) {
            (false, true) => self.mailbox_count += 1,
            (true, false) => self.mailbox_count -= 1,
            _ => {}
        }
        self.entries[index] = Some(object);
    }

    /// Registers a group; its recipient object is added with [`GlobalCatalog::add`].
    pub fn add_group(&mut self, group: Group) -> GroupId {
        self.groups.push(group);
        GroupId(self.groups.len() as u32 - 1)
    }

    /// Sets a standard group's members (they may name groups added after it).
    pub fn set_membership(&mut self, id: GroupId, membership: Membership) {
        self.groups[id.0 as usize].membership = membership;
    }

    /// Sets a user's MAPI access and Outlook mode.
    pub fn set_mapi(&mut self, address: AddressId, access: MapiAccess, mode: OutlookMode) {
        self.mapi.insert(address, (access, mode));
    }

    /// Whether the user's Outlook may log on over MAPI (§2).
    pub fn mapi_logon_allowed(&self, address: AddressId) -> bool {
        self.mapi.get(&address).is_none_or(|(access, mode)| access.admits(*mode))
    }

    /// Schedules an administrator's change of a recipient's attributes at `at`.
    pub fn add_modification(&mut self, address: AddressId, at: Instant, attributes: Attributes) {
        let list = self.modifications.entry(address).or_default();
        list.push((at, attributes));
        list.sort_by_key(|(t, _)| *t);
    }

    /// Schedules an administrator's change of a standard group's members at `at`: from
    /// then on it has `members`.
    pub fn add_membership_change(&mut self, group: GroupId, at: Instant, members: Vec<AddressId>) {
        let list = self.membership_changes.entry(group).or_default();
        list.push((at, members));
        list.sort_by_key(|(t, _)| *t);
    }

    /// A standard group's members after the latest change made by `now`, if any was.
    pub fn membership_as_of(&self, group: GroupId, now: Instant) -> Option<Vec<AddressId>> {
        let list = self.membership_changes.get(&group)?;
        list.iter().rev().find(|(t, _)| *t <= now).map(|(_, m)| m.clone())
    }

    /// Turns Out of Office on for a mailbox owner.
    pub fn set_out_of_office(&mut self, address: AddressId) {
        self.out_of_office.insert(address);
    }

    /// Whether a mailbox owner has Out of Office on.
    pub fn is_out_of_office(&self, address: AddressId) -> bool {
        self.out_of_office.contains(&address)
    }

    /// Declares a container (a domain head or an OU) that base DNs may name.
    pub fn add_container(&mut self, dn: &str) {
        self.containers.insert(normalize_dn(dn).unwrap_or_else(|| dn.to_lowercase()));
    }

    /// The mailbox an address names; `None` for anything else.
    pub fn lookup(&self, address: AddressId) -> Option<MailboxEntry> {
        match self.object(address)?.recipient {
            Recipient::Mailbox(entry) => Some(entry),
            _ => None,
        }
    }

    /// The recipient object with this address.
    pub fn object(&self, address: AddressId) -> Option<&RecipientObject> {
        self.entries.get(address.0 as usize).and_then(Option::as_ref)
    }

    /// The recipient object mail to `address` reaches at `now`: none before the RUS
    /// stamped it or after it was deleted (§2).
    pub fn usable(&self, address: AddressId, now: Instant) -> Option<&RecipientObject> {
        self.usable_in(address, &AsOf(now))
    }

    /// The recipient object mail to `address` reaches as `view` sees the directory.
    pub fn usable_in(&self, address: AddressId, view: &impl DirectoryView) -> Option<&RecipientObject> {
        self.object(address).filter(|o| view.usable(self, address, o))
    }

    /// A group.
    pub fn group(&self, id: GroupId) -> &Group {
        &self.groups[id.0 as usize]
    }

    /// All groups, indexed by [`GroupId`].
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The address mail to `address` is routed by: a forward's target, else itself.
    pub fn routing_address(&self, address: AddressId) -> AddressId {
        match self.object(address).map(|o| o.recipient) {
            Some(Recipient::Forward(target)) => target,
            _ => address,
        }
    }

    /// The server mail to `address` must reach inside the organization: a mailbox's home
    /// server or a group's expansion server.
    pub fn home_server(&self, address: AddressId) -> Option<ServerId> {
        match self.object(address)?.recipient {
            Recipient::Mailbox(entry) => Some(entry.home_server),
            Recipient::Group(g) => self.group(g).expansion_server,
            Recipient::Forward(_) => None,
        }
    }

    /// Number of mailbox-enabled recipients.
    pub fn mailbox_count(&self) -> usize {
        self.mailbox_count
    }

    /// The members of `group` as a GC of `gc_domain` holding `view` answers: one level
    /// (nested groups come back as members, for the categorizer to expand in turn), in
    /// directory order, only recipients mail can reach. A query-based group's results
    /// exclude query-based groups (§2: the aggregate may not itself be a QBDG); its
    /// filter is evaluated in the GC's `logic` (its Windows version's).
    pub fn members(
        &self,
        group: GroupId,
        gc_domain: AdDomainId,
        view: &impl DirectoryView,
        logic: Logic,
    ) -> Result<Vec<AddressId>, ExpansionError> {
        let g = self.group(group);
        match &g.membership {
            Membership::Static { scope, members } => {
                let home = self.object(g.address).map(|o| o.domain);
                // §2: a GC holds domain-local and global membership only for its own
                // domain's groups; elsewhere such a group looks empty.
                if *scope != GroupScope::Universal && home != Some(gc_domain) {
                    return Ok(Vec::new());
                }
                let changed = view.members_changed(self, group);
                let members = changed.as_deref().unwrap_or(members);
                Ok(members.iter().copied().filter(|m| self.usable_in(*m, view).is_some()).collect())
            }
            Membership::Query { filter, base_dn } => {
                let filter = Filter::parse(filter).map_err(ExpansionError::BadFilter)?;
                if let Some(attr) = filter.constructed_attribute() {
                    return Err(ExpansionError::ConstructedAttribute(attr.to_string()));
                }
                let base =
                    normalize_dn(base_dn).filter(|b| self.containers.contains(b)).ok_or(ExpansionError::NoBaseDn)?;
                let suffix = format!(",{base}");
                let mut out = Vec::new();
                for (i, object) in self.entries.iter().enumerate() {
                    let Some(object) = object else { continue };
                    let address = AddressId(i as u32);
                    if object.class == ObjectClass::QueryBasedGroup || !view.usable(self, address, object) {
                        continue;
                    }
                    if !self.dn_keys[i].ends_with(&suffix) {
                        continue;
                    }
                    if filter.matches(&|attr| self.values(address, object, attr, view), logic) {
                        out.push(address);
                    }
                }
                Ok(out)
            }
        }
    }

    /// An attribute's values as a filter sees them in `view`: derived from the object
    /// ([`DERIVED_ATTRIBUTES`]), else the latest change visible there, else as created.
    fn values<'a>(
        &'a self,
        address: AddressId,
        object: &'a RecipientObject,
        attr: &str,
        view: &'a impl DirectoryView,
    ) -> Cow<'a, [String]> {
        let one =
            |s: &'a String| if s.is_empty() { Cow::Borrowed(&[][..]) } else { Cow::Borrowed(std::slice::from_ref(s)) };
        match attr {
            "objectclass" => Cow::Borrowed(&self.derived.classes[object.class as usize]),
            "objectcategory" => Cow::Borrowed(&self.derived.categories[object.class as usize]),
            "mail" => one(&object.mail),
            "distinguishedname" => one(&object.dn),
            "cn" | "name" => match first_rdn_value(&object.dn) {
                Some(v) => Cow::Owned(vec![v.to_string()]),
                None => Cow::Borrowed(&[]),
            },
            _ => Cow::Borrowed(
                view.changed(self, address, attr)
                    .or_else(|| object.attributes.get(attr).map(Vec::as_slice))
                    .unwrap_or(&[]),
            ),
        }
    }

    /// The senders an "accept messages from" list admits: each listed recipient, and
    /// for a listed distribution group every member, nested groups included (Exchange
    /// accepts a DL's members). A query-based group's results are not known before send
    /// time, so only its own address is listed.
    pub fn accepted_senders(&self, listed: &[AddressId]) -> BTreeSet<AddressId> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<AddressId> = listed.to_vec();
        while let Some(a) = todo.pop() {
            if !out.insert(a) {
                continue;
            }
            if let Some(Recipient::Group(g)) = self.object(a).map(|o| o.recipient) {
                if let Membership::Static { members, .. } = &self.group(g).membership {
                    todo.extend(members.iter().copied());
                }
            }
        }
        out
    }

    /// The values the latest change made by `now` gave `attr`, if any did.
    pub fn changed_as_of(&self, address: AddressId, attr: &str, now: Instant) -> Option<&[String]> {
        let list = self.modifications.get(&address)?;
        list.iter().rev().filter(|(t, _)| *t <= now).find_map(|(_, attrs)| attrs.get(attr)).map(Vec::as_slice)
    }

    /// Every change scripted for recipients, with when it is made.
    pub fn modifications(&self) -> impl Iterator<Item = (AddressId, Instant, &Attributes)> {
        self.modifications.iter().flat_map(|(a, list)| list.iter().map(move |(t, attrs)| (*a, *t, attrs)))
    }

    /// Every recipient object with its address, in address order.
    pub fn objects(&self) -> impl Iterator<Item = (AddressId, &RecipientObject)> {
        self.entries.iter().enumerate().filter_map(|(i, o)| Some((AddressId(i as u32), o.as_ref()?)))
    }
}

/// The value of a DN's first RDN as written (`CN=alice,OU=Sales,…` → `alice`).
fn first_rdn_value(dn: &str) -> Option<&str> {
    let mut escaped = false;
    let end = dn
        .char_indices()
        .find(|&(_, c)| {
            let separator = !escaped && (c == ',' || c == '+');
            escaped = !escaped && c == '\\';
            separator
        })
        .map_or(dn.len(), |(i, _)| i);
    dn[..end].split_once('=').map(|(_, v)| v.trim()).filter(|v| !v.is_empty())
}

/// `objectClass` and `objectCategory` values per class, as owned strings a filter reads.
#[derive(Clone, Debug)]
struct DerivedValues {
    classes: Vec<Vec<String>>,
    categories: Vec<Vec<String>>,
}

impl Default for DerivedValues {
    fn default() -> Self {
        const ALL: [ObjectClass; 5] = [
            ObjectClass::User,
            ObjectClass::InetOrgPerson,
            ObjectClass::Contact,
            ObjectClass::Group,
            ObjectClass::QueryBasedGroup,
        ];
        DerivedValues {
            classes: ALL.iter().map(|c| c.ldap_classes().iter().map(|s| (*s).to_string()).collect()).collect(),
            categories: ALL.iter().map(|c| vec![c.category().to_string()]).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
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
            class,
            recipient: Recipient::Group(g),
            domain: AdDomainId(domain),
            dn: format!("CN=g{},OU=Groups,DC=contoso,DC=com", g.0),
            mail: String::new(),
            restriction: Restriction::Anyone,
            attributes: BTreeMap::new(),
            created_at: None,
            stamped_at: Instant::ZERO,
            deleted_at: None,
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
        assert_eq!(gc.home_server(AddressId(10)), Some(ServerId(7)), "routed to its expansion server");
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
            membership: Membership::Query {
                filter: "(department=Support)".into(),
                base_dn: "DC=contoso,DC=com".into(),
            },
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
        for bad in [
            "MAPI§1§1§§§§§",
            "MAPI§1§1§§§§§§§",
            "OWA§1§1§§§§§§",
            "MAPI§2§0§§§§§§",
            "MAPI§1§x§§§§§§",
            "MAPI§1§1§§§1§§",
            "",
        ] {
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
        let usable =
            |r: &Replica, a: u32| gc.usable_in(AddressId(a), &ReplicaView { replicas: &[Some(r)], now }).is_some();
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
}
