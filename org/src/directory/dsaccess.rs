//! DSAccess: the directory access layer Exchange's transport reads the directory
//! through (EXCHANGE2003.md §2). Its user cache keeps recipient entries for a lifetime
//! (10 minutes by default) within a size (140 MB in 2003, 25 MB in 2000); an entry not
//! cached, or expired, is looked up on a global catalog, which takes a round trip and
//! fails when no GC answers. Least recently used entries go first when it is full.
//!
//! An entry keeps what the GC answered: whether mail can reach the recipient. Until it
//! expires the categorizer believes it, so a recipient deleted (or stamped) after the
//! entry was read is still found (or still unknown) for up to the entry lifetime [U:
//! DSAccess caching a failed lookup is assumed; it keeps the GC from being asked again
//! for every message to an unknown address].

use crate::directory::global_catalog::{AsOf, DirectoryView, GlobalCatalog, RecipientObject};
use crate::time::{Instant, MINUTE_MS};
use crate::version::ExchangeVersion;
use crate::AddressId;
use std::collections::{BTreeMap, BTreeSet};

/// Bytes a cached recipient entry takes [U]: its attributes as DSAccess keeps them.
pub const ENTRY_BYTES: u64 = 4 * 1024;

/// DSAccess user cache settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DsAccessConfig {
    /// Size of the user cache.
    pub user_cache_bytes: u64,
    /// How long an entry is used before it is read again.
    pub entry_lifetime_ms: u64,
}

impl DsAccessConfig {
    /// The defaults of a server's version (§2): 140 MB in 2003, 25 MB in 2000; entries
    /// live 10 minutes (sources say 5 to 10; configurable).
    pub fn for_version(version: ExchangeVersion) -> Self {
        let mb = if version.is_2003() { 140 } else { 25 };
        DsAccessConfig { user_cache_bytes: mb * 1024 * 1024, entry_lifetime_ms: 10 * MINUTE_MS }
    }
}

/// Hits, misses and size of a user cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that needed a GC.
    pub misses: u64,
    /// Entries held now.
    pub entries: u64,
}

/// The user cache of one server.
#[derive(Clone, Debug)]
pub struct UserCache {
    capacity: usize,
    lifetime_ms: u64,
    /// Address → (when read from a GC, last use number, whether the GC found it).
    entries: BTreeMap<AddressId, (Instant, u64, bool)>,
    /// (last use number, address): the least recently used first.
    by_use: BTreeSet<(u64, AddressId)>,
    uses: u64,
    stats: CacheStats,
}

impl UserCache {
    /// An empty cache.
    pub fn new(config: DsAccessConfig) -> Self {
        UserCache {
            capacity: (config.user_cache_bytes / ENTRY_BYTES).max(1) as usize,
            lifetime_ms: config.entry_lifetime_ms,
            entries: BTreeMap::new(),
            by_use: BTreeSet::new(),
            uses: 0,
            stats: CacheStats::default(),
        }
    }

    /// The addresses among `wanted` that must be read from a GC (not cached, or older
    /// than the lifetime); the others count as hits and as used now.
    pub fn misses(&mut self, now: Instant, wanted: &[AddressId]) -> Vec<AddressId> {
        let mut out = Vec::new();
        for &a in wanted {
            match self.entries.get(&a).copied() {
                Some((read_at, _, found)) if now.since(read_at) < self.lifetime_ms => {
                    self.stats.hits += 1;
                    self.touch(a, read_at, found);
                }
                _ => {
                    if !out.contains(&a) {
                        self.stats.misses += 1;
                        out.push(a);
                    }
                }
            }
        }
        out
    }

    /// The GC's answer to a lookup of `asked`: `found` are those mail can reach.
    pub fn insert(&mut self, now: Instant, asked: &[AddressId], found: &[AddressId]) {
        for &a in asked {
            self.touch(a, now, found.contains(&a));
        }
        while self.entries.len() > self.capacity {
            let (_, oldest) = self.by_use.pop_first().expect("entries are indexed by use");
            self.entries.remove(&oldest);
        }
        debug_assert_eq!(self.entries.len(), self.by_use.len());
    }

    fn touch(&mut self, a: AddressId, read_at: Instant, found: bool) {
        self.uses += 1;
        if let Some((_, used, _)) = self.entries.insert(a, (read_at, self.uses, found)) {
            self.by_use.remove(&(used, a));
        }
        self.by_use.insert((self.uses, a));
    }

    /// What the categorizer knows of recipients through this cache at `now`: cached
    /// answers, and the directory as of now for anything not cached.
    pub fn view(&self, now: Instant) -> CacheView<'_> {
        CacheView { cache: self, now }
    }

    /// Hits, misses and entries so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats { entries: self.entries.len() as u64, ..self.stats }
    }
}

/// The categorizer's view of recipients through a [`UserCache`].
#[derive(Clone, Copy, Debug)]
pub struct CacheView<'a> {
    cache: &'a UserCache,
    now: Instant,
}

impl DirectoryView for CacheView<'_> {
    fn usable(&self, catalog: &GlobalCatalog, address: AddressId, object: &RecipientObject) -> bool {
        match self.cache.entries.get(&address) {
            Some((_, _, found)) => *found,
            None => AsOf(self.now).usable(catalog, address, object),
        }
    }

    fn changed<'a>(&'a self, catalog: &'a GlobalCatalog, address: AddressId, attr: &str) -> Option<&'a [String]> {
        catalog.changed_as_of(address, attr, self.now)
    }

    fn members_changed(
        &self,
        catalog: &GlobalCatalog,
        group: crate::directory::global_catalog::GroupId,
    ) -> Option<Vec<AddressId>> {
        catalog.membership_as_of(group, self.now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(entries: u64) -> UserCache {
        UserCache::new(DsAccessConfig { user_cache_bytes: entries * ENTRY_BYTES, entry_lifetime_ms: 600_000 })
    }

    #[test]
    fn entries_expire_after_their_lifetime() {
        let mut c = cache(10);
        let a = [AddressId(1), AddressId(2)];
        assert_eq!(c.misses(Instant(0), &a), a.to_vec());
        c.insert(Instant(0), &a, &a);
        assert!(c.misses(Instant(599_999), &a).is_empty());
        assert_eq!(c.misses(Instant(600_000), &a[..1]), vec![AddressId(1)], "read again after 10 min");
        assert_eq!(c.stats(), CacheStats { hits: 2, misses: 3, entries: 2 });
    }

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let mut c = cache(2);
        c.insert(Instant(0), &[AddressId(1), AddressId(2)], &[]);
        assert!(c.misses(Instant(1), &[AddressId(1)]).is_empty(), "1 is used again");
        c.insert(Instant(2), &[AddressId(3)], &[]);
        assert_eq!(c.misses(Instant(3), &[AddressId(1), AddressId(2), AddressId(3)]), vec![AddressId(2)]);
        assert_eq!(c.stats().entries, 2);
    }

    #[test]
    fn a_cached_answer_is_believed_until_it_expires() {
        use crate::directory::global_catalog::{MailboxEntry, RecipientObject};
        use crate::{ServerId, StoreId};
        let mut gc = GlobalCatalog::new();
        gc.add_mailbox(AddressId(1), MailboxEntry { store: StoreId(0), home_server: ServerId(0) });
        let mut gone: RecipientObject = gc.object(AddressId(1)).unwrap().clone();
        gone.deleted_at = Some(Instant(1_000));
        gc.add(AddressId(1), gone);
        gc.add_mailbox(AddressId(2), MailboxEntry { store: StoreId(0), home_server: ServerId(0) });
        let mut c = cache(10);
        let both = [AddressId(1), AddressId(2)];
        c.insert(Instant(0), &both, &[AddressId(1)]);
        assert!(c.misses(Instant(5_000), &both).is_empty());
        let view = c.view(Instant(5_000));
        assert!(gc.usable_in(AddressId(1), &view).is_some(), "deleted since, but the entry says found");
        assert!(gc.usable_in(AddressId(2), &view).is_none(), "the GC did not have it when asked");
        assert!(gc.usable_in(AddressId(3), &view).is_none(), "nothing cached, nobody has it");
        assert_eq!(c.misses(Instant(600_000), &both), both.to_vec(), "both read again after 10 min");
    }

    #[test]
    fn defaults_follow_the_version_exchange2003_2() {
        let e2003 = DsAccessConfig::for_version(ExchangeVersion::Exchange2003Sp2);
        let e2000 = DsAccessConfig::for_version(ExchangeVersion::Exchange2000Sp3);
        assert_eq!((e2003.user_cache_bytes >> 20, e2000.user_cache_bytes >> 20), (140, 25));
        assert_eq!(UserCache::new(e2003).capacity, 35_840);
    }
}
