//! The categorizer's group expansion and recipient lookups through DSAccess and a
//! global catalog (§2).

use super::*;

impl SmtpService {
    /// Sends the held item's next page request to a GC that is not known down, trying its
    /// GCs in order (its own site's first). With none left, the message goes to
    /// categorizer retry and its expansion starts again after an hour.
    pub(super) fn ask_gc(&mut self, now: Instant, item: QueueItemId) {
        let Some(held) = self.expanding.get(&item) else { return };
        let gc = match held.gc {
            Some(gc) => Some(gc),
            None => {
                let candidates = self.topology.server(self.id).global_catalogs.iter().copied();
                let mut usable = candidates.filter(|gc| !held.tried.contains(gc));
                // A GC that failed is left alone until its recheck time; then one request
                // at a time tries it (a probe) while the others go elsewhere.
                usable.find(|gc| match self.gc_suspect.get(gc) {
                    None => true,
                    Some(until) => {
                        *until <= now
                            && self
                                .searches
                                .range((*gc, LdapSearchId(0))..=(*gc, LdapSearchId(u64::MAX)))
                                .next()
                                .is_none()
                    }
                })
            }
        };
        let message = self.items[&item].message.id;
        let Some(gc) = gc else {
            let held = self.expanding.get_mut(&item).expect("checked above");
            held.tried.clear();
            let found = held.found();
            held.restart();
            self.categorizer_memory(found, 0);
            self.timers.set(Timer::CategorizerRetry(item), now.plus_ms(CATEGORIZER_RETRY_MS));
            self.emit(ServerEvent::CategorizerRetry { message, retry_in_ms: CATEGORIZER_RETRY_MS });
            return;
        };
        let search = self.next_search;
        self.next_search = search.next();
        let held = self.expanding.get_mut(&item).expect("checked above");
        if let Some(old) = held.gc {
            self.searches.remove(&(old, held.search));
        }
        self.searches.insert((gc, search), item);
        held.gc = Some(gc);
        held.search = search;
        let query = match &mut held.work {
            DirectoryWork::Lookup(addresses) => LdapQuery::Resolve(addresses.clone()),
            DirectoryWork::Expand(e) => match e.next_request() {
                Some((group, page)) => LdapQuery::Members { group, page },
                None => {
                    self.finish_expansion(now, item);
                    return;
                }
            },
        };
        self.out.output(Output::Ldap { to: gc, search: LdapSearch { search, query } });
        self.timers.set(Timer::Ldap(item), now.plus_ms(LDAP_TIMEOUT_MS));
    }

    /// A GC answered a page.
    pub fn handle_ldap_page(&mut self, now: Instant, from: DcId, page: LdapPage) {
        if self.edge_ldap_page(now, from, &page) {
            return;
        }
        let Some(item) = self.searches.remove(&(from, page.search)) else {
            return; // an answer to a search given up on
        };
        debug_assert!(self.expanding.get(&item).is_some_and(|h| h.gc == Some(from) && h.search == page.search));
        self.timers.cancel(Timer::Ldap(item));
        // It answers: DSAccess uses it again.
        self.gc_suspect.remove(&from);
        let limits = self.limits();
        let held = self.expanding.get_mut(&item).expect("found above");
        let (before, after, complete) = match &mut held.work {
            DirectoryWork::Lookup(asked) => {
                // Entries found and addresses the GC has nothing for are both known now.
                let asked = std::mem::take(asked);
                let at_origin = held.at_origin;
                self.expanding.remove(&item);
                let found = page.result.unwrap_or_default();
                if let Some(cache) = self.dsaccess.as_mut() {
                    cache.insert(now, &asked, &found);
                }
                self.categorize_item(now, item, at_origin, false);
                return;
            }
            DirectoryWork::Expand(e) => {
                let message = &self.items[&item].message;
                let refused = |r: &Restriction| crate::transport::categorizer::refuses(r, message, limits);
                let before = e.found();
                e.on_page(self.topology.gal_of(self.id), page.result, page.more, &refused);
                (before, e.found(), e.complete())
            }
        };
        self.categorizer_memory(before, after);
        if complete {
            self.finish_expansion(now, item);
        } else {
            self.ask_gc(now, item);
        }
    }

    /// The GC asked for an item's page did not answer: DSAccess leaves it alone for a
    /// while and the expansion starts again from the beginning on another GC (§2).
    pub(super) fn gc_failed(&mut self, now: Instant, item: QueueItemId) {
        let Some(held) = self.expanding.get_mut(&item) else { return };
        let Some(gc) = held.gc.take() else { return };
        self.searches.remove(&(gc, held.search));
        held.tried.insert(gc);
        let found = held.found();
        held.restart();
        self.gc_suspect.insert(gc, now.plus_ms(GC_RECHECK_MS));
        self.categorizer_memory(found, 0);
        let message = self.items[&item].message.id;
        self.emit(ServerEvent::GcFailover { message, gc, found });
        self.ask_gc(now, item);
    }

    /// Every group of a held item is expanded: groups are replaced by their members (made
    /// durable), failed groups are NDR'd 5.2.4, and the message is categorized again and
    /// routed as a whole.
    pub(super) fn finish_expansion(&mut self, now: Instant, item: QueueItemId) {
        let held = self.expanding.remove(&item).expect("a finished expansion was held");
        if let Some(gc) = held.gc {
            self.searches.remove(&(gc, held.search));
        }
        self.timers.cancel(Timer::Ldap(item));
        let message = self.items[&item].message.id;
        let DirectoryWork::Expand(expansion) = held.work else { unreachable!("only expansions finish") };
        let found = expansion.found();
        let expanded = expansion.finish();
        for (group, members) in expanded.groups {
            self.emit(ServerEvent::Expanded { message, group, members: members.clone() });
            let stored = self.items.get_mut(&item).expect("a held item is held");
            let at = stored.remaining.iter().position(|r| *r == group).expect("an expanded group was pending");
            stored.remaining.swap_remove(at);
            stored.remaining.extend_from_slice(&members);
            self.out.write(DiskOp::Expanded { item, group, members });
        }
        self.categorizer_memory(found, 0);
        for (group, code) in expanded.failed {
            self.fail_recipients(now, item, vec![group], code);
        }
        self.emit(ServerEvent::ExpansionFinished { message });
        if self.items.get(&item).is_some_and(|i| i.remaining.is_empty()) {
            self.items.remove(&item);
        } else if self.items.contains_key(&item) {
            // The size limit was checked on the first pass, and the members came back
            // from the GC with what the categorizer needs (no DSAccess lookup).
            let pending: Vec<AddressId> =
                self.items[&item].remaining.iter().copied().filter(|r| !held.routed_early.contains(r)).collect();
            if !pending.is_empty() {
                self.categorize_recipients(now, item, pending, false, false);
            }
        }
    }

    /// The limits and rules this server's categorizer enforces.
    pub(super) fn limits(&self) -> Limits {
        let config = self.topology.server(self.id);
        Limits {
            max_hop_count: config.version.max_hop_count(),
            max_message_size_bytes: config.smtp.max_message_size_bytes,
            enforces_authenticated_only: config.version.is_2003(),
            ignores_authentication: self.topology.bug(PlantedBug::RestrictionIgnoresAuthentication),
        }
    }

    /// One expansion's recipients found went from `before` to `after`: the memory all
    /// expansions hold follows, and a change is traced.
    pub(super) fn categorizer_memory(&mut self, before: u64, after: u64) {
        self.categorizer_found = self.categorizer_found + after - before;
        debug_assert_eq!(
            self.categorizer_found,
            self.expanding.values().map(Expanding::found).sum::<u64>(),
            "the running total is every expansion's found"
        );
        if before != after {
            self.emit(ServerEvent::CategorizerMemory { bytes: self.categorizer_found * MEMORY_PER_RECIPIENT_BYTES });
        }
    }
}
