//! LDAP searches a server sends a GC through DSAccess, their pages, and the GC's paged
//! searches in progress (moved here from the world: the GC's logic, not the network's).

use super::*;

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
    /// One page of the address list for the OAB generator (answered with an
    /// [`AddressListPage`]).
    AddressList {
        /// Which page.
        page: u32,
    },
}

impl LdapSearch {
    /// Bytes on the wire: an LDAP searchRequest (with the paged-results control, or an
    /// OR of the addresses wanted) [U].
    pub fn wire_size_bytes(&self) -> u64 {
        match &self.query {
            LdapQuery::Members { .. } | LdapQuery::AddressList { .. } => 300,
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

/// What a GC spends on each entry it returns to a paged search [U]: a 1,000-entry page
/// takes a second, so a 100,000-member expansion takes minutes, as large QBDGs did.
pub const LDAP_ENTRY_COST_US: u64 = 1_000;

/// A GC's paged searches in progress: a group's full result is computed on its first
/// page and served from here (Active Directory keeps paged-search state per connection).
pub struct PagedSearches {
    domain: AdDomainId,
    /// How this GC's Windows version evaluates filters.
    logic: crate::directory::ldap_filter::Logic,
    results: BTreeMap<(ServerId, GroupId), Result<Vec<AddressId>, ExpansionError>>,
}

impl PagedSearches {
    pub fn new(domain: AdDomainId, logic: crate::directory::ldap_filter::Logic) -> Self {
        PagedSearches { domain, logic, results: BTreeMap::new() }
    }

    /// The answer to `search`: a page of a group's members, or the entries of the
    /// addresses asked that mail can reach now.
    pub fn answer(
        &mut self,
        catalog: &GlobalCatalog,
        from: ServerId,
        search: &LdapSearch,
        view: &impl DirectoryView,
    ) -> LdapPage {
        let (group, page) = match &search.query {
            LdapQuery::Members { group, page } => (*group, *page),
            LdapQuery::AddressList { page } => {
                debug_assert!(false, "address list pages are answered by AddressListSearches");
                return LdapPage { search: search.search, page: *page, result: Ok(Vec::new()), more: false };
            }
            LdapQuery::Resolve(addresses) => {
                let found = addresses.iter().copied().filter(|a| catalog.usable_in(*a, view).is_some()).collect();
                return LdapPage { search: search.search, page: 0, result: Ok(found), more: false };
            }
        };
        let key = (from, group);
        if page == 0 || !self.results.contains_key(&key) {
            self.results.insert(key, catalog.members(group, self.domain, view, self.logic));
        }
        let start = page as usize * LDAP_PAGE_SIZE;
        let (result, more) = match &self.results[&key] {
            Err(e) => (Err(e.clone()), false),
            Ok(all) => {
                let end = (start + LDAP_PAGE_SIZE).min(all.len());
                (Ok(all.get(start..end).unwrap_or_default().to_vec()), end < all.len())
            }
        };
        if !more {
            self.results.remove(&key);
        }
        LdapPage { search: search.search, page, result, more }
    }

    /// Whether no paged search is in progress.
    pub fn is_idle(&self) -> bool {
        self.results.is_empty()
    }
}
