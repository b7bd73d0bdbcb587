//! The Default Global Address List as a GC returns it to the OAB generator: every
//! recipient mail can reach in this GC's copy of the directory, except the objects
//! hidden from address lists (public stores), with the attributes an OAB record holds.
//! A GC behind on replication returns the address list as it knows it — so a stale GC
//! makes a stale offline address book, as in a real organization (§9).

use super::*;
use crate::system_attendant::oab::address_entry::{AddressEntry, EntryKind};

/// How legacyExchangeDNs are formed: `/o=ORG/ou=ADMIN GROUP/cn=Recipients/cn=ALIAS`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LegacyDnNaming {
    /// The Exchange organization's name.
    pub organization: String,
    /// Each server's administrative group name, by server id.
    pub admin_groups: Vec<String>,
}

impl GlobalCatalog {
    /// The address list as `view` holds it, in address order.
    pub fn address_list(&self, view: &impl DirectoryView, naming: &LegacyDnNaming) -> Vec<AddressEntry> {
        self.objects()
            .filter(|(_, o)| o.class != ObjectClass::PublicMdb)
            .filter(|(a, o)| view.usable(self, *a, o))
            .map(|(a, o)| self.address_entry(a, o, view, naming))
            .collect()
    }

    fn address_entry(
        &self,
        address: AddressId,
        object: &RecipientObject,
        view: &impl DirectoryView,
        naming: &LegacyDnNaming,
    ) -> AddressEntry {
        let values = |attr: &str| -> &[String] {
            let changed = view.changed(self, address, attr);
            changed.or_else(|| object.attributes.get(attr).map(Vec::as_slice)).unwrap_or_default()
        };
        let value = |attr: &str| -> String { values(attr).first().cloned().unwrap_or_default() };
        let mail = Some(value("mail")).filter(|m| !m.is_empty()).unwrap_or_else(|| object.mail.clone());
        let alias = Some(value("mailnickname"))
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| mail.split('@').next().unwrap_or_default().to_owned());
        let (kind, home_mdb, server) = match object.recipient {
            Recipient::Mailbox(m) => (EntryKind::Mailbox, format!("store-{}", m.store.0), Some(m.home_server)),
            Recipient::Group(_) => (EntryKind::DistributionList, String::new(), None),
            Recipient::PublicFolder(_) => (EntryKind::PublicFolder, String::new(), None),
            Recipient::Forward(_) | Recipient::PublicStore { .. } => (EntryKind::Remote, String::new(), None),
        };
        let admin_group = server
            .and_then(|s| naming.admin_groups.get(usize::from(s.0)))
            .or(naming.admin_groups.first())
            .map_or("First Administrative Group", String::as_str);
        let legacy_dn = Some(value("legacyexchangedn"))
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| format!("/o={}/ou={admin_group}/cn=Recipients/cn={alias}", naming.organization));
        let display_name = Some(value("displayname")).filter(|d| !d.is_empty()).unwrap_or_else(|| alias.clone());
        let mut proxies = vec![format!("SMTP:{mail}")];
        proxies.extend(values("proxyaddresses").iter().cloned());
        let details =
            ["givenname", "sn", "title", "department", "company", "physicaldeliveryofficename", "telephonenumber"]
                .map(value);
        AddressEntry { legacy_dn, display_name, alias, smtp: mail, proxies, details, home_mdb, kind }
    }
}

/// How many reads from one server a GC keeps going at once: one per OAB that server
/// generates, and no organization orgsim runs has more than a few [U].
const STILL_READING_MAX: usize = 16;

/// One page of the address list a GC returns to OALGen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressListPage {
    /// The search answered.
    pub search: LdapSearchId,
    /// The page answered, from 0.
    pub page: u32,
    /// Its entries.
    pub entries: Vec<AddressEntry>,
    /// Whether more pages follow.
    pub more: bool,
}

impl AddressListPage {
    /// Bytes on the wire: a header, and each entry's values with ~20 bytes of LDAP
    /// framing per attribute [U].
    pub fn wire_size_bytes(&self) -> u64 {
        let entry = |e: &AddressEntry| -> u64 {
            let text = e.legacy_dn.len() + e.display_name.len() + e.alias.len() + e.smtp.len() + e.home_mdb.len();
            let lists: usize =
                e.proxies.iter().map(String::len).sum::<usize>() + e.details.iter().map(String::len).sum::<usize>();
            (text + lists + 20 * (6 + e.proxies.len() + e.details.len())) as u64
        };
        200 + self.entries.iter().map(entry).sum::<u64>()
    }
}

/// The address lists being paged out to OALGen, by asking server and search: the whole
/// list is read from the GC's copy on the first page and served from here (as Active
/// Directory keeps a paged search's state per connection), so every page of one read
/// comes from the same copy. A read given up on (failover) leaves its list until that
/// server's next read starts.
#[derive(Default)]
pub struct AddressListSearches {
    results: BTreeMap<(ServerId, LdapSearchId), Vec<AddressEntry>>,
}

impl AddressListSearches {
    /// The page `page` of the address list for `from`.
    pub fn answer(
        &mut self,
        catalog: &GlobalCatalog,
        naming: &LegacyDnNaming,
        from: ServerId,
        search: LdapSearchId,
        page: u32,
        view: &impl DirectoryView,
    ) -> AddressListPage {
        let key = (from, search);
        if page == 0 {
            // Reads from this server that never finished were given up on; only a read
            // started at the same instant (another OAB) can still be going, and search
            // numbers grow, so keep the newest few.
            let stale: Vec<_> = self.results.range((from, LdapSearchId(0))..key).map(|(k, _)| *k).collect();
            for k in stale.iter().rev().skip(STILL_READING_MAX).copied().collect::<Vec<_>>() {
                self.results.remove(&k);
            }
        }
        let all = self.results.entry(key).or_insert_with(|| catalog.address_list(view, naming));
        let start = (page as usize * LDAP_PAGE_SIZE).min(all.len());
        let end = (start + LDAP_PAGE_SIZE).min(all.len());
        let entries = all[start..end].to_vec();
        let more = end < all.len();
        if !more {
            self.results.remove(&key);
        }
        AddressListPage { search, page, entries, more }
    }
}
