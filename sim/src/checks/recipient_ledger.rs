//! `no_loss`, `no_duplicate_delivery` and `no_routing_loop`: a ledger of every accepted
//! (message, recipient) pair, settled once (delivered, relayed, NDR'd or expanded), with
//! the servers its copy visited. The loop check lives here because it reads the pair's
//! visits; a second map of them would double the checker's largest table.

use super::*;

use super::pair_table::{Map, PairKey, PairTable};
use org::transport::smtp_filters::edge_session::Disposition;

/// A (message, recipient) pair.
pub(super) type PairId = (MessageId, AddressId);

/// What became of one pair, in one byte.
#[derive(Clone, Copy, Debug, Default)]
struct Pair(u8);

impl Pair {
    const CLIENT: u8 = 1;
    const DELIVERED: u8 = 2;
    const FAILED: u8 = 4;
    /// A group replaced by its members.
    const EXPANDED: u8 = 8;
    /// Handed on beyond the organization (or to a foreign system).
    const RELAYED: u8 = 16;
    /// Public folder replication mail to a public store: judged for loss and loops,
    /// not counted as mail to resolve by a deadline (replication never stops), and
    /// delivered into the public store, not a mailbox.
    const REPLICATION: u8 = 32;
    /// Delivered into a mail-enabled public folder (a public store, not a mailbox).
    const IN_FOLDER: u8 = 64;

    fn client(self) -> bool {
        self.0 & Self::CLIENT != 0
    }

    fn delivered(self) -> bool {
        self.0 & Self::DELIVERED != 0
    }

    fn relayed(self) -> bool {
        self.0 & Self::RELAYED != 0
    }

    fn replication(self) -> bool {
        self.0 & Self::REPLICATION != 0
    }

    fn in_public_store(self) -> bool {
        self.0 & (Self::REPLICATION | Self::IN_FOLDER) != 0
    }

    fn resolved(self) -> bool {
        self.0 & (Self::DELIVERED | Self::FAILED | Self::EXPANDED | Self::RELAYED) != 0
    }
}

/// (server, hop count, routing epoch) of an arrival of a pair's copy. A later arrival at
/// the same server with a higher hop count and no routing change in between went round a
/// loop; a resend after a lost 250 arrives with the same count, and a copy re-routed
/// because a connector changed state legitimately may return.
type Visit = (ServerId, u8, u64);

/// A pair's visits, inline up to two (most copies reach their mailbox's server directly
/// or through one bridgehead).
type Visits = smallvec::SmallVec<[Visit; 2]>;

/// Every accepted recipient and what became of it. The visits of a pair are kept while
/// it is unresolved, when its copy is still travelling: a copy that arrives after its
/// pair was resolved is a duplicate, which `no_duplicate_delivery` judges if it is
/// delivered, relayed or NDR'd. (Keeping every visit of the run cost about as much
/// memory as the rest of the simulation together.)
#[derive(Default)]
pub(super) struct RecipientLedger {
    pairs: PairTable<Pair>,
    visits: Map<Visits>,
    pub(super) unresolved: u64,
    pub(super) counts: MessageCounts,
    pub(super) ndr_by_code: BTreeMap<DsnCode, u64>,
    /// Connector state changes so far (routing generations).
    routing_epoch: u64,
    /// (message, journal mailbox) of every journal report (looked up, never iterated).
    journals: std::collections::HashSet<PairId, rustc_hash::FxBuildHasher>,
    /// Each public store's server and address, by replica id.
    public_stores: Vec<(ServerId, AddressId)>,
    /// The scenario has several forests: a message one organization handed another
    /// arrives there as a submission, and continues its pairs.
    pub(super) several_forests: bool,
}

/// What the end of a run finds wrong with the pairs.
#[derive(Default)]
pub(super) struct EndOfRun {
    /// Neither delivered, NDR'd, relayed nor queued anywhere.
    pub lost: Vec<PairId>,
    /// Delivered, but not in the mailbox on its home server's disk.
    pub missing: Vec<PairId>,
    /// Delivered into a journaling store's mailbox with no journal report: (pair, journal).
    pub unjournaled: Vec<(PairId, AddressId)>,
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

    /// How many journal reports were sent.
    pub(super) fn journal_reports(&self) -> usize {
        self.journals.len()
    }

    /// How many pairs were ever accepted.
    pub(super) fn accepted(&self) -> usize {
        self.pairs.len()
    }

    /// Accepts a message's recipients (a submission, or a DSN or reply to its one
    /// recipient); each is new.
    fn accept(&mut self, server: ServerId, message: MessageId, recipients: &[AddressId], client: bool) {
        self.accept_as(server, message, recipients, Pair(if client { Pair::CLIENT } else { 0 }));
        self.unresolved += recipients.len() as u64;
        if client {
            self.counts.recipients += recipients.len() as u64;
        }
    }

    fn accept_as(&mut self, server: ServerId, message: MessageId, recipients: &[AddressId], pair: Pair) {
        let fresh = self.pairs.insert_message(message, recipients, pair);
        debug_assert!(fresh, "a recipient is accepted once per message");
        for r in recipients {
            self.visits.insert(PairKey::new(message, *r), smallvec::smallvec![(server, 0, self.routing_epoch)]);
        }
    }

    /// The public stores' addresses (by replica id) and servers, for replication mail.
    pub(super) fn set_public_stores(&mut self, stores: Vec<(ServerId, AddressId)>) {
        self.public_stores = stores;
    }

    /// Replication mail reached the public store of `server`: its pair is delivered. A
    /// second copy is harmless (the store ignores what it holds), so not judged.
    fn replication_received(&mut self, server: ServerId, message: MessageId) {
        let Some(&(_, address)) = self.public_stores.iter().find(|(s, _)| *s == server) else { return };
        let _ = self.resolve(message, address, Pair::DELIVERED);
    }

    /// Marks an unresolved pair resolved by `outcome` and forgets its visits; returns the
    /// pair as it was, or what stood in the way (resolved already, or never accepted).
    fn resolve(&mut self, message: MessageId, recipient: AddressId, outcome: u8) -> Result<Pair, Option<Pair>> {
        match self.pairs.get_mut(message, recipient) {
            Some(pair) if !pair.resolved() => {
                let was = *pair;
                pair.0 |= outcome;
                self.unresolved -= u64::from(!was.replication());
                self.visits.remove(&PairKey::new(message, recipient));
                Ok(was)
            }
            other => Err(other.copied()),
        }
    }

    /// Settles the pairs one server event names; violations go to `out`.
    pub(super) fn observe(&mut self, server: ServerId, event: &ServerEvent, judge: &mut Judge<'_>) -> Settled {
        match event {
            ServerEvent::Submitted { message, recipients, .. } => {
                if self.several_forests && self.pairs.has_client_message(*message) {
                    return self.continued(server, *message, recipients);
                }
                self.counts.submitted += 1;
                self.accept(server, *message, recipients, true);
            }
            ServerEvent::TransferredOut { message, recipients, addressed, .. } => {
                self.transferred_out(server, *message, recipients, addressed, judge);
            }
            ServerEvent::EdgeAccepted { message, recipients, disposition, .. }
                if self.several_forests && *disposition != Disposition::Deliver =>
            {
                self.filtered_out(server, *message, recipients);
            }
            ServerEvent::Ndr { message, recipients, code, ndr, to } => {
                self.counts.ndr_messages += 1;
                self.accept(server, *ndr, &[*to], false);
                for r in recipients {
                    *self.ndr_by_code.entry(*code).or_default() += 1;
                    self.fail(*message, *r, judge);
                }
            }
            ServerEvent::JournalReport { message, journal, report, .. } => {
                self.accept(server, *report, &[*journal], false);
                if !self.journals.insert((*message, *journal)) {
                    let name = judge.name;
                    judge.violate(Invariant::JournalOnce, || {
                        format!("{} got a second journal report", name(*message, *journal))
                    });
                }
            }
            ServerEvent::OutOfOffice { reply, to, .. } => {
                self.counts.oof_messages += 1;
                self.accept(server, *reply, &[*to], false);
            }
            ServerEvent::Badmail { message, recipients, .. } => {
                for r in recipients {
                    self.fail(*message, *r, judge);
                }
            }
            ServerEvent::Delivered { message, recipient, .. } => {
                return self.delivered(*message, *recipient, Pair::DELIVERED, judge)
            }
            ServerEvent::PfMailDelivered { message, recipient, .. } => {
                return self.delivered(*message, *recipient, Pair::DELIVERED | Pair::IN_FOLDER, judge)
            }
            ServerEvent::PfSent { message, to, .. } => {
                let addresses: Vec<AddressId> = to.iter().map(|r| self.public_stores[usize::from(r.0)].1).collect();
                self.accept_as(server, *message, &addresses, Pair(Pair::REPLICATION));
            }
            ServerEvent::PfReceived { message, .. } => self.replication_received(server, *message),
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

    /// A message another organization handed over arrived as a submission here (§6):
    /// its pairs go on; a recipient not seen before (a contact's target, when this side
    /// heard first) is the same recipient, not a new one.
    fn continued(&mut self, server: ServerId, message: MessageId, recipients: &[AddressId]) -> Settled {
        for r in recipients {
            if !self.pairs.contains(message, *r) {
                self.accept_as(server, message, &[*r], Pair(Pair::CLIENT));
                self.unresolved += 1;
            }
        }
        Settled::Nothing
    }

    /// Recipients handed to another organization: each pair goes on there, a contact's
    /// as its target's (like a group replaced by its member).
    fn transferred_out(
        &mut self,
        server: ServerId,
        message: MessageId,
        recipients: &[AddressId],
        addressed: &[AddressId],
        judge: &mut Judge<'_>,
    ) {
        for (r, a) in recipients.iter().zip(addressed).filter(|(r, a)| r != a) {
            let flags = match self.resolve(message, *r, Pair::EXPANDED) {
                Ok(pair) => pair.0 & Pair::CLIENT,
                Err(_) => {
                    let name = judge.name;
                    judge.violate(Invariant::NoLoss, || {
                        format!("{} was handed to another organization but is not outstanding", name(message, *r))
                    });
                    continue;
                }
            };
            if recipients.contains(a) {
                // Two recipients of the message became one there.
                self.counts.recipients -= u64::from(flags != 0);
            } else if !self.pairs.contains(message, *a) {
                // (Else the other side told of it first.)
                self.accept_as(server, message, &[*a], Pair(flags));
                self.unresolved += 1;
            }
        }
    }

    /// Another organization's edge took a message and its filter deleted, archived or
    /// badmailed it: the pairs are settled there, as if relayed beyond.
    fn filtered_out(&mut self, server: ServerId, message: MessageId, recipients: &[AddressId]) {
        for r in recipients {
            if !self.pairs.contains(message, *r) {
                if !self.pairs.has_client_message(message) {
                    continue; // mail from the Internet, never accepted here
                }
                self.accept_as(server, message, &[*r], Pair(Pair::CLIENT));
                self.unresolved += 1;
            }
            if let Ok(pair) = self.resolve(message, *r, Pair::RELAYED) {
                self.counts.relayed += u64::from(pair.client());
            }
        }
    }

    fn delivered(&mut self, message: MessageId, recipient: AddressId, outcome: u8, judge: &mut Judge<'_>) -> Settled {
        let name = judge.name;
        match self.resolve(message, recipient, outcome) {
            Ok(pair) if pair.client() => {
                self.counts.delivered += 1;
                return Settled::DeliveredToClient(recipient);
            }
            Ok(_) => self.counts.ndr_delivered += u64::from(matches!(message, MessageId::Dsn { .. })),
            Err(Some(pair)) => {
                let what = if pair.delivered() {
                    "delivered twice"
                } else if pair.relayed() {
                    "delivered after it was relayed"
                } else {
                    "delivered after an NDR"
                };
                judge.violate(Invariant::NoDuplicateDelivery, || format!("{} {what}", name(message, recipient)));
            }
            Err(None) => judge.violate(Invariant::NoLoss, || {
                format!("{} was delivered but never accepted", name(message, recipient))
            }),
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
        let epoch = self.routing_epoch;
        for r in recipients {
            // Only an unresolved pair has visits: see the type's comment.
            let Some(visits) = self.visits.get_mut(&PairKey::new(message, *r)) else { continue };
            // Visits before a routing change cannot make a loop: forget them.
            visits.retain(|(_, _, e)| *e == epoch);
            let earlier = visits.iter().find(|(s, h, _)| *s == server && *h < hop_count).copied();
            visits.push((server, hop_count, epoch));
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
            match self.resolve(message, *r, Pair::RELAYED) {
                Ok(pair) => self.counts.relayed += u64::from(pair.client()),
                Err(Some(_)) => judge.violate(Invariant::NoDuplicateDelivery, || {
                    format!("{} relayed after it was already resolved", name(message, *r))
                }),
                Err(None) => {
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
        let client = match self.resolve(message, group, Pair::EXPANDED) {
            Ok(pair) => pair.client(),
            Err(Some(_)) => {
                return judge.violate(Invariant::NoDuplicateDelivery, || {
                    format!("{} expanded after it was already resolved", name(message, group))
                });
            }
            Err(None) => {
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
            if !self.pairs.contains(message, *m) {
                self.accept(server, message, &[*m], client);
            }
        }
    }

    fn fail(&mut self, message: MessageId, recipient: AddressId, judge: &mut Judge<'_>) {
        let name = judge.name;
        match self.resolve(message, recipient, Pair::FAILED) {
            Ok(pair) => self.counts.ndr += u64::from(pair.client()),
            Err(Some(_)) => judge.violate(Invariant::NoDuplicateDelivery, || {
                format!("{} failed after it was already resolved", name(message, recipient))
            }),
            Err(None) => judge
                .violate(Invariant::NoLoss, || format!("{} failed but was never accepted", name(message, recipient))),
        }
    }

    /// At the end: counts the unresolved pairs some disk still queues, and returns the
    /// others (lost), sorted; then the delivered pairs whose copy is not in the mailbox
    /// on its home server's disk (`home`), sorted: a committed delivery a crash, a
    /// recovery or a dismount lost.
    pub(super) fn lost(
        &mut self,
        disks: &[DiskImage],
        home: &dyn Fn(AddressId) -> Option<ServerId>,
        journal_of: &dyn Fn(AddressId) -> Option<AddressId>,
    ) -> EndOfRun {
        let queued: BTreeSet<(MessageId, AddressId)> = disks.iter().flat_map(|d| d.queued_recipients()).collect();
        let mut end = EndOfRun::default();
        for (message, recipient, pair) in self.pairs.iter() {
            if pair.delivered() && !pair.in_public_store() {
                let mailbox = home(recipient).and_then(|s| disks[usize::from(s.0)].filed_mailbox(recipient));
                if !mailbox.is_some_and(|m| m.messages.contains(message)) {
                    end.missing.push((message, recipient));
                }
                if let Some(journal) = journal_of(recipient).filter(|_| pair.client()) {
                    if !self.journals.contains(&(message, journal)) {
                        end.unjournaled.push(((message, recipient), journal));
                    }
                }
            }
            if pair.resolved() {
                continue;
            }
            let pair_id = (message, recipient);
            if queued.contains(&pair_id) {
                self.counts.queued += u64::from(pair.client());
            } else {
                end.lost.push(pair_id);
            }
        }
        end.lost.sort_unstable();
        end.missing.sort_unstable();
        end.unjournaled.sort_unstable();
        end
    }
}
