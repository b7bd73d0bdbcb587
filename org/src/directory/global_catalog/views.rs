//! What one GC sees of the catalog: the whole directory at an instant, or what its
//! replicated copy holds.

use super::*;

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
