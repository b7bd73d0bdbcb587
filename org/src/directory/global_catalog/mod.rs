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

//!
//! `objects` holds the recipient objects and their attributes, `groups` the groups and
//! their expansion errors, `views` what one GC sees, `mapi` the MAPI access settings
//! and `ldap_search` the paged LDAP searches a GC answers.

mod address_list;
mod groups;
mod ldap_search;
mod mapi;
mod objects;
mod views;

pub use address_list::*;
pub use groups::*;
pub use ldap_search::*;
pub use mapi::*;
pub use objects::*;
pub use views::*;

use crate::directory::ad_replication::{ObjectId, Replica};
use crate::directory::ldap_filter::{normalize_dn, Filter, FilterError, Logic};
use crate::time::Instant;
use crate::{AddressId, ServerId, StoreId};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

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
    /// Each mail-enabled public folder's server for mail routed from each server (by
    /// server id): the nearest holding a replica as the run starts [U: the categorizer
    /// reads the replica list when the folder's directory object was written].
    public_folder_homes: BTreeMap<AddressId, Vec<ServerId>>,
}

impl GlobalCatalog {
    /// An empty catalog.
    pub fn new() -> Self {
        GlobalCatalog::default()
    }

    /// Adds (or moves) a mailbox-enabled user with no restriction or attributes.
    pub fn add_mailbox(&mut self, address: AddressId, entry: MailboxEntry) {
        self.add(address, RecipientObject::plain(ObjectClass::User, Recipient::Mailbox(entry)));
    }

    /// Adds a public store's replication address, homed on its server.
    pub fn add_public_store(
        &mut self,
        address: AddressId,
        replica: crate::public_folders::cn_set::ReplicaId,
        server: ServerId,
    ) {
        self.add(address, RecipientObject::plain(ObjectClass::PublicMdb, Recipient::PublicStore { replica, server }));
    }

    /// Adds a mail-enabled public folder; `homes[s]` is where mail routed from server
    /// `s` goes (the nearest server holding a replica).
    pub fn add_public_folder(
        &mut self,
        address: AddressId,
        folder: crate::public_folders::replication_message::FolderId,
        mail: String,
        homes: Vec<ServerId>,
    ) {
        assert!(!homes.is_empty(), "a mail-enabled folder has a replica");
        let mut object = RecipientObject::plain(ObjectClass::PublicFolder, Recipient::PublicFolder(folder));
        object.mail = mail;
        self.add(address, object);
        self.public_folder_homes.insert(address, homes);
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

    /// The catalog holding only the objects `keep` accepts (one forest's, of a catalog
    /// built with every forest's): the others read as absent. Groups stay registered
    /// (ids are shared); their objects go with the rest.
    pub fn only(&self, keep: &dyn Fn(&RecipientObject) -> bool) -> GlobalCatalog {
        let mut kept = self.clone();
        for (i, entry) in kept.entries.iter_mut().enumerate() {
            if entry.as_ref().is_some_and(|o| !keep(o)) {
                let was_mailbox = matches!(entry, Some(o) if matches!(o.recipient, Recipient::Mailbox(_)));
                kept.mailbox_count -= usize::from(was_mailbox);
                *entry = None;
                kept.dn_keys[i].clear();
            }
        }
        let entries = &kept.entries;
        let present = |a: &AddressId| entries.get(a.0 as usize).is_some_and(Option::is_some);
        kept.out_of_office.retain(present);
        kept.mapi.retain(|a, _| present(a));
        kept.modifications.retain(|a, _| present(a));
        kept.public_folder_homes.retain(|a, _| present(a));
        kept
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

    /// The server mail to `address` routed at `here` must reach inside the
    /// organization: a mailbox's home server, a group's expansion server, the nearest
    /// replica of a mail-enabled public folder (nearer at every hop, so no loop).
    pub fn home_server(&self, address: AddressId, here: ServerId) -> Option<ServerId> {
        match self.object(address)?.recipient {
            Recipient::Mailbox(entry) => Some(entry.home_server),
            Recipient::Group(g) => self.group(g).expansion_server,
            Recipient::PublicStore { server, .. } => Some(server),
            Recipient::PublicFolder(_) => self.public_folder_home(address, here),
            Recipient::Forward(_) => None,
        }
    }

    /// Where mail to a mail-enabled public folder routed at `here` goes.
    pub fn public_folder_home(&self, address: AddressId, here: ServerId) -> Option<ServerId> {
        self.public_folder_homes.get(&address).and_then(|h| h.get(usize::from(here.0))).copied()
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
mod tests;
