//! Group expansion and recipient lookups through DSAccess and a global catalog (§2).

use super::*;

impl ExchangeServer {
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
        self.outputs.push(Output::Ldap { to: gc, search: LdapSearch { search, query } });
        self.timers.set(Timer::Ldap(item), now.plus_ms(LDAP_TIMEOUT_MS));
    }

    /// A GC answered a page.
    pub fn handle_ldap_page(&mut self, now: Instant, from: DcId, page: LdapPage) {
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
                e.on_page(&self.topology.directory, page.result, page.more, &refused);
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
            self.pending_ops.push(DiskOp::Expanded { item, group, members });
        }
        self.categorizer_memory(found, 0);
        self.schedule_flush(now);
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

    /// Routes the recipients of an entry and queues them by next hop; `from` is the queue
    /// they leave (re-routing), whose name is not repeated in the trace when unchanged.
    pub(super) fn route_entry(&mut self, now: Instant, entry: QueueEntry, from: Option<QueueKey>) {
        let mut by_hop: BTreeMap<NextHop, (Vec<AddressId>, u32)> = BTreeMap::new();
        let mut failed: BTreeMap<DsnCode, Vec<AddressId>> = BTreeMap::new();
        for r in entry.recipients {
            // A mailbox goes to its home server and a group to its expansion server; a
            // contact or mail-enabled user by its target address.
            let directory = &self.topology.directory;
            let decision = match directory.home_server(r) {
                Some(home) => self.routing.next_hop(&self.topology, &self.table, self.id, home),
                None => match self.routing.next_hop_external(
                    &self.topology,
                    &self.table,
                    self.id,
                    directory.routing_address(r),
                ) {
                    Ok(decision) => decision,
                    Err(code) => {
                        failed.entry(code).or_default().push(r);
                        continue;
                    }
                },
            };
            by_hop.entry(decision.next_hop).or_insert_with(|| (Vec::new(), decision.cost)).0.push(r);
        }
        for (code, recipients) in failed {
            self.fail_recipients(now, entry.item, recipients, code);
        }
        if by_hop.is_empty() {
            return;
        }
        let message = self.items[&entry.item].message.id;
        if self.topology.bug(PlantedBug::BifurcationCopiesAll)
            && by_hop.contains_key(&NextHop::Local)
            && by_hop.len() > 1
        {
            let m = self.items[&entry.item].message.clone();
            for (hop, (recipients, _)) in &by_hop {
                for &recipient in recipients.iter().filter(|_| *hop != NextHop::Local) {
                    // Only mailboxes can be copied locally; external recipients are left.
                    let Some(mailbox) = self.topology.directory.lookup(recipient) else { continue };
                    let store = mailbox.store;
                    if self.stores.deliver(recipient, m.id, m.size_bytes) == DeliveryOutcome::Delivered {
                        self.pending_ops.push(DiskOp::Deliver {
                            store,
                            recipient,
                            message: m.id,
                            size_bytes: m.size_bytes,
                        });
                        let submitted_at = m.submitted_at;
                        self.after_flush.push(AfterFlush::Delivered { message: m.id, recipient, store, submitted_at });
                    }
                }
            }
        }
        for (hop, (recipients, cost)) in by_hop {
            let queue = QueueKey::for_next_hop(hop);
            if from != Some(queue) {
                let link = |q: QueueKey| matches!(q, QueueKey::Link(_));
                let rerouted_from = from.filter(|f| link(*f) && link(queue));
                self.emit(ServerEvent::Queued { message, queue, recipients: recipients.clone(), cost, rerouted_from });
            }
            let entry = QueueEntry { item: entry.item, recipients };
            match hop {
                NextHop::Local => self.deliver_local(now, entry),
                NextHop::Unreachable => {
                    self.unreachable.push_back(entry);
                    if !self.timers.is_set(Timer::UnreachableReroute) {
                        let every = self.topology.server(self.id).smtp.unreachable_reroute_interval_ms;
                        self.timers.set(Timer::UnreachableReroute, now.plus_ms(every));
                    }
                }
                NextHop::Server(_) | NextHop::Connector(_) | NextHop::Gateway(_) | NextHop::RemoteDomain(_) => {
                    self.links.entry(hop).or_default().entries.push_back(entry);
                    self.kick(now, hop);
                }
            }
        }
    }

    /// The store driver commits each recipient's copy (event 1028).
    pub(super) fn deliver_local(&mut self, now: Instant, entry: QueueEntry) {
        let message = self.items[&entry.item].message.clone();
        for &recipient in &entry.recipients {
            let store = self.topology.directory.lookup(recipient).expect("local recipients are resolved").store;
            match self.stores.deliver(recipient, message.id, message.size_bytes) {
                DeliveryOutcome::Delivered => {
                    self.pending_ops.push(DiskOp::Deliver {
                        store,
                        recipient,
                        message: message.id,
                        size_bytes: message.size_bytes,
                    });
                    self.after_flush.push(AfterFlush::Delivered {
                        message: message.id,
                        recipient,
                        store,
                        submitted_at: message.submitted_at,
                    });
                    self.out_of_office(now, &message, recipient);
                }
                DeliveryOutcome::Duplicate => {
                    self.emit(ServerEvent::DuplicateSuppressed { message: message.id, recipient, store });
                }
            }
        }
        self.recipients_done(now, entry.item, &entry.recipients);
    }

    /// The store answers a message delivered to a mailbox whose owner is Out of Office:
    /// once per sender (the store's OOF history), never to a DSN or another automatic
    /// reply, and on Exchange 2003 only when the owner was named directly in To or Cc,
    /// not reached through a group (EXCHANGE2003.md §3.2).
    pub(super) fn out_of_office(&mut self, now: Instant, message: &Message, owner: AddressId) {
        let Some(sender) = message.sender else { return };
        if message.kind != MessageKind::Normal
            || sender == owner
            || !self.topology.directory.is_out_of_office(owner)
            || (self.topology.server(self.id).version.is_2003() && !message.header_recipients.contains(&owner))
            || !self.stores.note_oof_reply(owner, sender)
        {
            return;
        }
        let item = self.take_item_id();
        let reply = StoredItem {
            id: item,
            message: Message {
                id: MessageId::AutoReply { server: self.id, item },
                kind: MessageKind::OutOfOffice { original: message.id },
                sender: None,
                size_bytes: OOF_SIZE_BYTES,
                submitted_at: now,
                hop_count: 0,
                authenticated: true,
                header_recipients: [sender].as_slice().into(),
            },
            recipients: vec![sender],
            arrived_at: now,
            submitted_here: false,
        };
        // The reply and the history entry are written together: after a crash either
        // both are there or neither.
        self.pending_ops.push(DiskOp::Enqueue(reply.clone()));
        self.pending_ops.push(DiskOp::OofReplied { owner, sender });
        self.after_flush.push(AfterFlush::Event(ServerEvent::OutOfOffice {
            message: message.id,
            from: owner,
            reply: reply.message.id,
            to: sender,
        }));
        self.after_flush.push(AfterFlush::Process(reply));
    }

    /// Recipients fail permanently: an NDR to the sender, or Badmail for a DSN.
    pub(super) fn fail_recipients(
        &mut self,
        now: Instant,
        item_id: QueueItemId,
        recipients: Vec<AddressId>,
        code: DsnCode,
    ) {
        let original = self.items[&item_id].message.clone();
        match original.sender {
            None => {
                self.emit(ServerEvent::Badmail { message: original.id, recipients: recipients.clone(), code });
            }
            Some(sender) => {
                let ndr_item = self.take_item_id();
                let ndr = StoredItem {
                    id: ndr_item,
                    message: Message {
                        id: MessageId::Dsn { server: self.id, item: ndr_item },
                        kind: MessageKind::Ndr { original: original.id, code },
                        sender: None,
                        size_bytes: NDR_SIZE_BYTES,
                        submitted_at: now,
                        hop_count: 0,
                        authenticated: true,
                        header_recipients: Default::default(),
                    },
                    recipients: vec![sender],
                    arrived_at: now,
                    submitted_here: false,
                };
                self.pending_ops.push(DiskOp::Enqueue(ndr.clone()));
                self.after_flush.push(AfterFlush::Event(ServerEvent::Ndr {
                    message: original.id,
                    recipients: recipients.clone(),
                    code,
                    ndr: ndr.message.id,
                    to: sender,
                }));
                self.after_flush.push(AfterFlush::Process(ndr));
            }
        }
        self.recipients_done(now, item_id, &recipients);
    }

    pub(super) fn expired(&self, now: Instant, item_id: QueueItemId) -> bool {
        if self.topology.bug(PlantedBug::NoExpiration) {
            return false;
        }
        let expiration_ms = self.topology.server(self.id).smtp.expiration_ms;
        now.since(self.items[&item_id].arrived_at) >= expiration_ms
    }

    pub(super) fn reroute_unreachable(&mut self, now: Instant) {
        for entry in std::mem::take(&mut self.unreachable) {
            if self.expired(now, entry.item) {
                self.fail_recipients(now, entry.item, entry.recipients, DsnCode::Expired);
            } else if self.topology.bug(PlantedBug::UnreachableNeverRerouted) {
                self.unreachable.push_back(entry);
            } else {
                self.route_entry(now, entry, Some(QueueKey::Unreachable));
            }
        }
        if !self.unreachable.is_empty() && !self.timers.is_set(Timer::UnreachableReroute) {
            let every = self.topology.server(self.id).smtp.unreachable_reroute_interval_ms;
            self.timers.set(Timer::UnreachableReroute, now.plus_ms(every));
        }
    }
}
