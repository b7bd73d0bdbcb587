//! `quota_honoured`: the store honours storage limits (EXCHANGE2003.md §7). No copy goes
//! into a mailbox already at or over its "prohibit send and receive" limit — as the
//! directory gave the limit throughout the store's quota cache lifetime (7,200 s) before
//! the delivery: the store may hold a quota read up to two hours ago, so a delivery is
//! wrong only if every limit the directory gave in that window was already reached.
//! Mailbox sizes are counted here, from the starting size and every delivery's size as
//! its server's disk took it; only mailboxes of databases with a limit, or with a limit
//! of their own, at some point of the run are followed.

use super::*;
use org::store::information_store::QUOTA_CACHE_MS;
use org::StoreId;
use std::sync::Arc;

/// Limits and mailbox sizes as the check follows them.
pub(super) struct QuotaJudge {
    topology: Arc<Topology>,
    /// Limits administrators changed, in time order.
    changes: Vec<(Instant, QuotaTarget, MailboxQuota)>,
    /// Databases and mailboxes that have a limit at some point (static from the
    /// scenario: its limits and its `set_quota` steps).
    limited_stores: BTreeSet<StoreId>,
    limited_mailboxes: BTreeSet<AddressId>,
    /// Bytes delivered into each followed mailbox so far.
    delivered_bytes: BTreeMap<AddressId, u64>,
    checked: u64,
}

impl QuotaJudge {
    pub(super) fn new(topology: Arc<Topology>, scripted: &[(QuotaTarget, MailboxQuota)]) -> Self {
        let limits = |q: &MailboxQuota| q.prohibit_send_receive_bytes.is_some();
        let mut limited_stores: BTreeSet<StoreId> = (0..topology.stores.len())
            .map(|i| StoreId(i as u16))
            .filter(|s| limits(&topology.store(*s).quota))
            .collect();
        let mut limited_mailboxes: BTreeSet<AddressId> =
            topology.mailboxes.iter().filter(|(_, m)| m.quota.as_ref().is_some_and(limits)).map(|(a, _)| *a).collect();
        for (target, _) in scripted.iter().filter(|(_, q)| limits(q)) {
            match target {
                QuotaTarget::Store(s) => limited_stores.insert(*s),
                QuotaTarget::Mailbox(m) => limited_mailboxes.insert(*m),
            };
        }
        QuotaJudge {
            topology,
            changes: Vec::new(),
            limited_stores,
            limited_mailboxes,
            delivered_bytes: BTreeMap::new(),
            checked: 0,
        }
    }

    /// Whether any limit exists in the run (nothing is followed otherwise).
    pub(super) fn any(&self) -> bool {
        !self.limited_stores.is_empty() || !self.limited_mailboxes.is_empty()
    }

    /// Whether deliveries to this mailbox in this database are judged.
    pub(super) fn follows(&self, mailbox: AddressId, store: StoreId) -> bool {
        self.any() && (self.limited_stores.contains(&store) || self.limited_mailboxes.contains(&mailbox))
    }

    /// An administrator changed a limit in the directory.
    pub(super) fn changed(&mut self, now: Instant, target: QuotaTarget, quota: MailboxQuota) {
        self.changes.push((now, target, quota));
    }

    /// The "prohibit send and receive" limit the directory gives a mailbox of `store`
    /// at `t` (`None`: no limit): its own, else its database's.
    fn limit_at(&self, mailbox: AddressId, store: StoreId, t: Instant) -> Option<u64> {
        let latest = |target: QuotaTarget| {
            self.changes.iter().rev().find(|(at, tg, _)| *at <= t && *tg == target).map(|(_, _, q)| *q)
        };
        let own = latest(QuotaTarget::Mailbox(mailbox)).or_else(|| self.topology.mailboxes.get(&mailbox)?.quota);
        let quota =
            own.unwrap_or_else(|| latest(QuotaTarget::Store(store)).unwrap_or(self.topology.store(store).quota));
        quota.prohibit_send_receive_bytes
    }

    /// A copy was delivered into `mailbox` of `store` at `now`, of `size_bytes`.
    pub(super) fn delivered(
        &mut self,
        now: Instant,
        message: MessageId,
        mailbox: AddressId,
        store: StoreId,
        size_bytes: u64,
        judge: &mut Judge<'_>,
    ) {
        self.checked += 1;
        let initial = self.topology.mailboxes.get(&mailbox).map_or(0, |m| m.initial_bytes);
        let delivered = self.delivered_bytes.entry(mailbox).or_default();
        let before = initial + *delivered;
        *delivered += size_bytes;
        // The highest limit the store may have read in its cache's lifetime: a change
        // inside the window, or the limit in force at its start.
        let since = Instant(now.as_ms().saturating_sub(QUOTA_CACHE_MS - 1));
        let mut limits = std::iter::once(since)
            .chain(self.changes.iter().map(|(at, _, _)| *at).filter(|at| *at > since && *at <= now))
            .map(|t| self.limit_at(mailbox, store, t));
        let Some(highest) = limits.try_fold(0, |high, l| l.map(|l| high.max(l))) else { return };
        if before >= highest {
            let copy = (judge.name)(message, mailbox);
            judge.violate(Invariant::QuotaHonoured, || {
                format!(
                    "{copy} went into a mailbox holding {before} bytes, at or over its prohibit-send-and-receive limit of {highest} bytes for the whole 2-hour quota cache lifetime"
                )
            });
        }
    }

    pub(super) fn detail(&self) -> String {
        format!("{} delivery(ies) into limited mailboxes, none over prohibit send and receive", self.checked)
    }
}
