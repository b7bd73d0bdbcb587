//! Recipient objects: users, InetOrgPersons, contacts and groups as a GC holds them,
//! their ids, restrictions and the attributes an LDAP filter reads.

use super::*;

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
    /// A public store (`msExchPublicMDB`): mail-enabled for replication, hidden from
    /// address lists.
    PublicMdb,
    /// A mail-enabled public folder (`publicFolder`).
    PublicFolder,
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
            ObjectClass::PublicMdb => &["top", "msExchMDB", "msExchPublicMDB"],
            ObjectClass::PublicFolder => &["top", "publicFolder"],
        }
    }

    /// The `objectCategory` short name.
    pub(super) fn category(self) -> &'static str {
        match self {
            ObjectClass::User | ObjectClass::InetOrgPerson | ObjectClass::Contact => "person",
            ObjectClass::Group => "group",
            ObjectClass::QueryBasedGroup => "msExchDynamicDistributionList",
            ObjectClass::PublicMdb => "msExchPublicMDB",
            ObjectClass::PublicFolder => "publicFolder",
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
    /// A public store's replication address: mail to it is delivered to the store's
    /// replication agent on its server (EXCHANGE2003.md §8).
    PublicStore { replica: crate::public_folders::cn_set::ReplicaId, server: ServerId },
    /// A mail-enabled public folder: mail to it goes to the nearest server holding a
    /// replica and is posted there (EXCHANGE2003.md §8).
    PublicFolder(crate::public_folders::replication_message::FolderId),
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
    /// An object there from the start, stamped, in the first domain, with no DN,
    /// address, restriction or attributes (the fixtures' and the organization's own).
    pub fn plain(class: ObjectClass, recipient: Recipient) -> RecipientObject {
        RecipientObject {
            class,
            recipient,
            domain: AdDomainId(0),
            dn: String::new(),
            mail: String::new(),
            restriction: Restriction::Anyone,
            attributes: BTreeMap::new(),
            created_at: None,
            stamped_at: Instant::ZERO,
            deleted_at: None,
        }
    }

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
pub(super) fn parse_members(values: &[String]) -> Vec<AddressId> {
    values.iter().filter_map(|v| v.parse().ok()).map(AddressId).collect()
}

/// First object id of recipients in a replica: ids below are the anonymous objects bulk
/// directory changes write (`ObjectId(1..=count)`, at most 2^32 of them).
pub(super) const RECIPIENT_OBJECT_BASE: u64 = 1 << 32;

/// The directory object of the recipient with this address.
pub fn recipient_object(address: AddressId) -> ObjectId {
    ObjectId(RECIPIENT_OBJECT_BASE + u64::from(address.0))
}

/// The recipient a directory object is, if it is one.
pub fn object_recipient(object: ObjectId) -> Option<AddressId> {
    object.0.checked_sub(RECIPIENT_OBJECT_BASE).and_then(|a| u32::try_from(a).ok()).map(AddressId)
}
