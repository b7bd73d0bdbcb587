//! `no_loss`, `no_duplicate_delivery` and `no_routing_loop`: a ledger of every accepted
//! (message, recipient) pair, settled once (delivered, relayed, NDR'd or expanded), with
//! the servers its copy visited. The loop check lives here because it reads the pair's
//! visits; a second map of them would double the checker's largest table.

use super::*;

/// Per-recipient state, looked up once per event. A hash map with fixed keys: its order
/// never reaches a result (what is listed from it is sorted first).
type Pairs = HashMap<(MessageId, AddressId), Pair, BuildHasherDefault<DefaultHasher>>;

#[derive(Clone, Debug, Default)]
struct Pair {
    client: bool,
    delivered: bool,
    failed: bool,
    /// A group replaced by its members.
    expanded: bool,
    /// (server, hop count, routing epoch) of every arrival of this recipient's copy. A
    /// later arrival at the same server with a higher hop count and no routing change in
    /// between went round a loop; a resend after a lost 250 arrives with the same count,
    /// and a copy re-routed because a connector changed state legitimately may return.
    visits: Vec<(ServerId, u8, u64)>,
}

impl Pair {
    fn resolved(&self) -> bool {
        self.delivered || self.failed || self.expanded
    }
}

/// Every accepted recipient and what became of it.
#[derive(Default)]
pub(super) struct RecipientLedger {
    pairs: Pairs,
    pub(super) unresolved: u64,
    pub(super) counts: MessageCounts,
    pub(super) ndr_by_code: BTreeMap<DsnCode, u64>,
    /// Connector state changes so far (routing generations).
    routing_epoch: u64,
}

/// What one event did to the ledger that the expectations count.
pub(super) enum Settled {
    Nothing,
    /// A client's copy reached this recipient's mailbox for the first time.
    DeliveredToClient(AddressId),
}

impl RecipientLedger {
    /// A connector changed state somewhere: routes may legitimately change.
    pub(super) fn routing_changed(&mut self) {
        self.routing_epoch += 1;
    }

    /// How many pairs were ever accepted.
    pub(super) fn accepted(&self) -> usize {
        self.pairs.len()
    }

    fn accept(&mut self, server: ServerId, message: MessageId, recipient: AddressId, client: bool) {
        let pair = Pair { client, visits: vec![(server, 0, self.routing_epoch)], ..Pair::default() };
        let fresh = self.pairs.insert((message, recipient), pair).is_none();
        debug_assert!(fresh, "a recipient is accepted once per message");
        self.unresolved += 1;
        if client {
            self.counts.recipients += 1;
        }
    }

    /// Settles the pairs one server event names; violations go to `out`.
    pub(super) fn observe(&mut self, server: ServerId, event: &ServerEvent, judge: &mut Judge<'_>) -> Settled {
        match event {
            ServerEvent::Submitted { message, recipients, .. } => {
                self.counts.submitted += 1;
                for r in recipients {
                    self.accept(server, *message, *r, true);
                }
            }
            ServerEvent::Ndr { message, recipients, code, ndr, to } => {
                self.counts.ndr_messages += 1;
                self.accept(server, *ndr, *to, false);
                for r in recipients {
                    *self.ndr_by_code.entry(*code).or_default() += 1;
                    self.fail(*message, *r, judge);
                }
            }
            ServerEvent::OutOfOffice { reply, to, .. } => {
                self.counts.oof_messages += 1;
                self.accept(server, *reply, *to, false);
            }
            ServerEvent::Badmail { message, recipients, .. } => {
                for r in recipients {
                    self.fail(*message, *r, judge);
                }
            }
            ServerEvent::Delivered { message, recipient, .. } => return self.delivered(*message, *recipient, judge),
            ServerEvent::Received { message, recipients, hop_count, .. } => {
                self.received(server, *message, recipients, *hop_count, judge);
            }
            ServerEvent::Relayed { message, recipients, .. } => self.relayed(*message, recipients, judge),
            ServerEvent::Expanded { message, group, members } => {
                self.expanded(server, *message, *group, members, judge);
            }
            _ => {}
        }
        Settled::Nothing
    }

    fn delivered(&mut self, message: MessageId, recipient: AddressId, judge: &mut Judge<'_>) -> Settled {
        let name = judge.name;
        match self.pairs.get_mut(&(message, recipient)) {
            None => judge.violate(Invariant::NoLoss, || {
                format!("{} was delivered but never accepted", name(message, recipient))
            }),
            Some(pair) if pair.resolved() => {
                let what = if pair.delivered { "delivered twice" } else { "delivered after an NDR" };
                judge.violate(Invariant::NoDuplicateDelivery, || format!("{} {what}", name(message, recipient)));
            }
            Some(pair) => {
                pair.delivered = true;
                self.unresolved -= 1;
                if pair.client {
                    self.counts.delivered += 1;
                    return Settled::DeliveredToClient(recipient);
                }
                self.counts.ndr_delivered += 1;
            }
        }
        Settled::Nothing
    }

    fn received(
        &mut self,
        server: ServerId,
        message: MessageId,
        recipients: &[AddressId],
        hop_count: u8,
        judge: &mut Judge<'_>,
    ) {
        let name = judge.name;
        for r in recipients {
            let Some(pair) = self.pairs.get_mut(&(message, *r)) else { continue };
            let epoch = self.routing_epoch;
            let earlier = pair.visits.iter().find(|(s, h, e)| *s == server && *h < hop_count && *e == epoch).copied();
            pair.visits.push((server, hop_count, epoch));
            if let Some((_, first_hop, _)) = earlier {
                let server_name = judge.server_name(server);
                judge.violate(Invariant::NoRoutingLoop, || {
                    format!(
                        "{} came back to {server_name} (hop {first_hop}, now hop {hop_count}) with no routing change in between",
                        name(message, *r),
                    )
                });
            }
        }
    }

    fn relayed(&mut self, message: MessageId, recipients: &[AddressId], judge: &mut Judge<'_>) {
        let name = judge.name;
        for r in recipients {
            match self.pairs.get_mut(&(message, *r)) {
                Some(pair) if !pair.resolved() => {
                    pair.delivered = true;
                    self.unresolved -= 1;
                    if pair.client {
                        self.counts.relayed += 1;
                    }
                }
                Some(_) => judge.violate(Invariant::NoDuplicateDelivery, || {
                    format!("{} relayed after it was already resolved", name(message, *r))
                }),
                None => {
                    judge.violate(Invariant::NoLoss, || format!("{} was relayed but never accepted", name(message, *r)))
                }
            }
        }
    }

    fn expanded(
        &mut self,
        server: ServerId,
        message: MessageId,
        group: AddressId,
        members: &[AddressId],
        judge: &mut Judge<'_>,
    ) {
        let name = judge.name;
        let client = match self.pairs.get_mut(&(message, group)) {
            Some(pair) if !pair.resolved() => {
                pair.expanded = true;
                self.unresolved -= 1;
                pair.client
            }
            Some(_) => {
                return judge.violate(Invariant::NoDuplicateDelivery, || {
                    format!("{} expanded after it was already resolved", name(message, group))
                });
            }
            None => {
                return judge.violate(Invariant::NoLoss, || {
                    format!("{} was expanded but never accepted", name(message, group))
                });
            }
        };
        if client {
            // Recipients count what mail reaches: the group's members, not it.
            self.counts.recipients -= 1;
            self.counts.expanded_groups += 1;
        }
        for m in members {
            // A member the message already reached (by another group expanded on another
            // server) is one recipient, not two.
            if !self.pairs.contains_key(&(message, *m)) {
                self.accept(server, message, *m, client);
            }
        }
    }

    fn fail(&mut self, message: MessageId, recipient: AddressId, judge: &mut Judge<'_>) {
        let name = judge.name;
        match self.pairs.get_mut(&(message, recipient)) {
            Some(pair) if !pair.resolved() => {
                pair.failed = true;
                if pair.client {
                    self.counts.ndr += 1;
                }
                self.unresolved -= 1;
            }
            Some(_) => judge.violate(Invariant::NoDuplicateDelivery, || {
                format!("{} failed after it was already resolved", name(message, recipient))
            }),
            None => judge
                .violate(Invariant::NoLoss, || format!("{} failed but was never accepted", name(message, recipient))),
        }
    }

    /// At the end: counts the unresolved pairs some disk still queues, and returns the
    /// others (lost), sorted.
    pub(super) fn lost(&mut self, disks: &[DiskImage]) -> Vec<(MessageId, AddressId)> {
        let queued: BTreeSet<(MessageId, AddressId)> = disks.iter().flat_map(|d| d.queued_recipients()).collect();
        let mut lost = Vec::new();
        for (key, pair) in &self.pairs {
            if pair.resolved() {
                continue;
            }
            if queued.contains(key) {
                if pair.client {
                    self.counts.queued += 1;
                }
            } else {
                lost.push(*key);
            }
        }
        lost.sort_unstable();
        lost
    }
}
