//! Categorization, routing, local delivery and NDRs of a durable message.

use super::*;

impl SmtpService {
    /// A durable message enters categorization and routing.
    pub(super) fn process(&mut self, now: Instant, stored: StoredItem) {
        let id = stored.id;
        let at_origin = stored.submitted_here;
        self.items
            .insert(id, Item { message: stored.message, remaining: stored.recipients, arrived_at: stored.arrived_at });
        self.categorize_item(now, id, at_origin, true);
    }

    /// Categorizes an item's remaining recipients: failures are NDR'd; groups this server
    /// expands hold the whole message until they are done (§2); the rest is routed.
    pub(super) fn categorize_item(&mut self, now: Instant, id: QueueItemId, at_origin: bool, through_dsaccess: bool) {
        let recipients = self.items[&id].remaining.clone();
        self.categorize_recipients(now, id, recipients, at_origin, through_dsaccess);
    }

    /// Categorizes these recipients of an item (all it has left, but for those already
    /// on their way).
    pub(super) fn categorize_recipients(
        &mut self,
        now: Instant,
        id: QueueItemId,
        recipients: Vec<AddressId>,
        at_origin: bool,
        through_dsaccess: bool,
    ) {
        if through_dsaccess && self.held_for_lookup(now, id, &recipients, at_origin) {
            return;
        }
        let limits = self.limits();
        let item = &self.items[&id];
        let directory = self.topology.gal_of(self.id);
        let (external, here, message) = (&self.topology.external, self.id, &item.message);
        // With DSAccess the categorizer believes what a GC answered (cached); without it,
        // the directory as of now.
        let verdict = match self.dsaccess.as_ref() {
            Some(cache) => {
                categorize(directory, &cache.view(now), external, limits, here, message, &recipients, at_origin)
            }
            None => categorize(directory, &AsOf(now), external, limits, here, message, &recipients, at_origin),
        };
        let message_id = item.message.id;
        self.emit(ServerEvent::Categorized {
            message: message_id,
            resolved: verdict.resolved.len() as u32,
            failed: verdict.failed.len() as u32,
        });
        let tops: Vec<_> = verdict.expansions().collect();
        // A member who is a recipient the categorizer already refused is not reached
        // through a group either: one NDR, not a delivery after it.
        let refused: Vec<AddressId> = verdict.failed.iter().map(|(r, _)| *r).collect();
        let mut failed: BTreeMap<DsnCode, Vec<AddressId>> = BTreeMap::new();
        for (r, code) in verdict.failed {
            failed.entry(code).or_default().push(r);
        }
        for (code, recipients) in failed {
            if code == DsnCode::RecipientNotFound && self.topology.bug(PlantedBug::UnknownRecipientDropped) {
                self.recipients_done(id, &recipients);
                continue;
            }
            self.fail_recipients(now, id, recipients, code);
        }
        let others: Vec<AddressId> =
            verdict.resolved.iter().map(|(r, _)| *r).filter(|r| !tops.iter().any(|(t, _)| t == r)).collect();
        if !tops.is_empty() {
            return self.start_expansion(now, id, tops, others, refused);
        }
        if !others.is_empty() {
            self.journal(now, id, &others);
            self.ask_route(QueueEntry { item: id, recipients: others }, None);
        }
    }

    /// §2: the categorizer reads recipients (and an internal sender, for restrictions)
    /// through DSAccess; what it has no fresh entry for waits on a GC. True when the
    /// item is held for that lookup.
    fn held_for_lookup(&mut self, now: Instant, id: QueueItemId, recipients: &[AddressId], at_origin: bool) -> bool {
        let Some(cache) = self.dsaccess.as_mut() else { return false };
        let item = &self.items[&id];
        let mut wanted = recipients.to_vec();
        wanted.extend(item.message.sender.filter(|s| self.topology.gal_of(self.id).object(*s).is_some()));
        let misses = cache.misses(now, &wanted);
        if misses.is_empty() {
            return false;
        }
        self.expanding.insert(id, Expanding::new(DirectoryWork::Lookup(misses), at_origin, Vec::new()));
        self.ask_gc(now, id);
        true
    }

    /// Groups this server expands hold the whole message until they are done (§2); the
    /// other recipients and those refused are remembered so members add nothing twice.
    fn start_expansion(
        &mut self,
        now: Instant,
        id: QueueItemId,
        tops: Vec<(AddressId, crate::directory::global_catalog::GroupId)>,
        others: Vec<AddressId>,
        refused: Vec<AddressId>,
    ) {
        let message = self.items[&id].message.id;
        self.emit(ServerEvent::ExpansionStarted { message, groups: tops.iter().map(|t| t.0).collect() });
        let routes_now = self.topology.bug(PlantedBug::RoutesBeforeExpansion);
        let work = DirectoryWork::Expand(Expansion::new(tops, others.iter().copied().chain(refused)));
        let routed_early = if routes_now { others.clone() } else { Vec::new() };
        self.expanding.insert(id, Expanding::new(work, false, routed_early));
        if routes_now && !others.is_empty() {
            self.journal(now, id, &others);
            self.ask_route(QueueEntry { item: id, recipients: others }, None);
        }
        self.ask_gc(now, id);
    }
}
