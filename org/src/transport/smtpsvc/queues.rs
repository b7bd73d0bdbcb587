//! Advanced queuing: queue items, routes asked of RESvc and the queues they put mail
//! in, local delivery handed to the store, re-routing, expiration and NDRs.

use super::*;

impl SmtpService {
    pub(super) fn take_item_id(&mut self) -> QueueItemId {
        let id = self.next_item;
        self.next_item = id.next();
        id
    }

    pub(super) fn emit(&mut self, event: ServerEvent) {
        self.out.emit(event);
    }

    pub(super) fn send(&mut self, to: impl Into<Peer>, conn: ConnId, frame: Frame) {
        let packet = Packet { conn, frame };
        self.out.output(match to.into() {
            Peer::Server(to) => Output::Send { to, packet },
            Peer::Host(to) => Output::SendHost { to, packet },
        });
    }

    /// These recipients of an item are finished here.
    pub(super) fn recipients_done(&mut self, item_id: QueueItemId, recipients: &[AddressId]) {
        let item = self.items.get_mut(&item_id).expect("finished recipients belong to a held item");
        crate::transport::queue_directory::remove_recipients(&mut item.remaining, recipients);
        if item.remaining.is_empty() {
            self.items.remove(&item_id);
        }
        self.out.write(DiskOp::RecipientsDone { item: item_id, recipients: recipients.to_vec() });
    }

    /// Asks RESvc where these recipients go; `from` is the queue they leave (re-routing).
    pub(super) fn ask_route(&mut self, entry: QueueEntry, from: Option<QueueKey>) {
        debug_assert!(entry.recipients.iter().all(|r| self.items[&entry.item].remaining.contains(r)));
        self.routing_asked += 1;
        self.out.to_routing(ToRouting::Route { entry, from });
    }

    /// RESvc answered: recipients are queued by next hop, those without a route fail.
    /// When it has answered everything asked, sessions waiting for mail go on.
    pub(super) fn routed(&mut self, now: Instant, item: QueueItemId, from: Option<QueueKey>, routes: Routes) {
        self.routing_asked = self.routing_asked.checked_sub(1).expect("routes answer requests");
        for (code, recipients) in routes.failed {
            self.fail_recipients(now, item, recipients, code);
        }
        if !routes.by_hop.is_empty() {
            self.queue_by_hop(now, item, from, routes.by_hop);
        }
        if self.routing_asked == 0 {
            for seq in std::mem::take(&mut self.parked) {
                if self.outbound.contains_key(&seq) {
                    self.next_message(now, seq);
                }
            }
        }
    }

    /// Puts routed recipients in their queues; a queue's name is not traced again when
    /// re-routing leaves them where they were.
    fn queue_by_hop(
        &mut self,
        now: Instant,
        item: QueueItemId,
        from: Option<QueueKey>,
        by_hop: BTreeMap<NextHop, (Vec<AddressId>, u32)>,
    ) {
        let message = self.items[&item].message.id;
        if self.topology.bug(PlantedBug::BifurcationCopiesAll)
            && by_hop.contains_key(&NextHop::Local)
            && by_hop.len() > 1
        {
            // Only mailboxes can be copied locally; external recipients are left.
            let directory = self.topology.gal_of(self.id);
            let copies: Vec<AddressId> = by_hop
                .iter()
                .filter(|(hop, _)| **hop != NextHop::Local)
                .flat_map(|(_, (recipients, _))| recipients.iter().copied())
                .filter(|r| directory.lookup(*r).is_some())
                .collect();
            let message = self.items[&item].message.clone();
            self.out.to_store(ToStore::DeliverCopies { message, recipients: copies });
        }
        for (hop, (recipients, cost)) in by_hop {
            let queue = QueueKey::for_next_hop(hop);
            if from != Some(queue) {
                let link = |q: QueueKey| matches!(q, QueueKey::Link(_));
                let rerouted_from = from.filter(|f| link(*f) && link(queue));
                self.emit(ServerEvent::Queued { message, queue, recipients: recipients.clone(), cost, rerouted_from });
            }
            let entry = QueueEntry { item, recipients };
            match hop {
                NextHop::Local => {
                    let message = self.items[&item].message.clone();
                    self.out.to_store(ToStore::DeliverLocal { item, message, recipients: entry.recipients });
                }
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

    /// The link state table changed: mail waiting on connectors, and in "unreachable",
    /// is routed again.
    pub(super) fn reroute_waiting(&mut self) {
        let mut waiting: Vec<(QueueKey, QueueEntry)> = Vec::new();
        for (hop, queue) in self.links.iter_mut() {
            if matches!(hop, NextHop::Connector(_)) {
                waiting.extend(queue.entries.drain(..).map(|e| (QueueKey::Link(*hop), e)));
            }
        }
        if !self.topology.bug(PlantedBug::UnreachableNeverRerouted) {
            waiting.extend(self.unreachable.drain(..).map(|e| (QueueKey::Unreachable, e)));
        }
        for (from, entry) in waiting {
            self.ask_route(entry, Some(from));
        }
    }

    pub(super) fn reroute_unreachable(&mut self, now: Instant) {
        for entry in std::mem::take(&mut self.unreachable) {
            if self.expired(now, entry.item) {
                self.fail_recipients(now, entry.item, entry.recipients, DsnCode::Expired);
            } else if self.topology.bug(PlantedBug::UnreachableNeverRerouted) {
                self.unreachable.push_back(entry);
            } else {
                self.ask_route(entry, Some(QueueKey::Unreachable));
            }
        }
        if !self.unreachable.is_empty() && !self.timers.is_set(Timer::UnreachableReroute) {
            let every = self.topology.server(self.id).smtp.unreachable_reroute_interval_ms;
            self.timers.set(Timer::UnreachableReroute, now.plus_ms(every));
        }
    }

    /// The store could not take these recipients (their database is dismounted): they
    /// wait in Local delivery, in Retry, tried again on the virtual server's retry
    /// intervals (10, 10, 10, then 15 min; glitch retries are for connections).
    pub(super) fn local_deferred(&mut self, now: Instant, item: QueueItemId, recipients: Vec<AddressId>) {
        self.local.entries.push_back(QueueEntry { item, recipients });
        self.local.ever = true;
        if self.timers.is_set(Timer::LocalRetry) {
            return;
        }
        self.local.failures += 1;
        let intervals = &self.topology.server(self.id).smtp.retry.intervals_ms;
        let retry_in_ms = intervals[(self.local.failures as usize - 1).min(intervals.len() - 1)];
        self.timers.set(Timer::LocalRetry, now.plus_ms(retry_in_ms));
        let failures = self.local.failures;
        let queue = QueueKey::LocalDelivery;
        let state = LinkQueueState::Retry;
        self.emit(ServerEvent::QueueState { queue, state, failures, retry_in_ms: Some(retry_in_ms), reason: None });
    }

    /// The store is moving these recipients' mailbox: they wait, unrouted, until the
    /// move ends.
    pub(super) fn deferred_for_move(&mut self, item: QueueItemId, recipients: Vec<AddressId>) {
        self.deferred.push(QueueEntry { item, recipients });
    }

    /// A mailbox's move ended: what waited for it is routed again, to its new home or
    /// back here.
    pub(super) fn move_ended(&mut self, mailbox: AddressId) {
        let mut released = Vec::new();
        self.deferred.retain_mut(|entry| {
            let Some(at) = entry.recipients.iter().position(|r| *r == mailbox) else { return true };
            released.push(QueueEntry { item: entry.item, recipients: vec![entry.recipients.swap_remove(at)] });
            !entry.recipients.is_empty()
        });
        for entry in released {
            self.ask_route(entry, Some(QueueKey::DeferredDelivery));
        }
    }

    /// Local delivery's retry time came: what waits goes to the store again, unless it
    /// has expired.
    pub(super) fn retry_local(&mut self, now: Instant) {
        for entry in std::mem::take(&mut self.local.entries) {
            if self.expired(now, entry.item) {
                self.fail_recipients(now, entry.item, entry.recipients, DsnCode::Expired);
            } else {
                let message = self.items[&entry.item].message.clone();
                self.out.to_store(ToStore::DeliverLocal { item: entry.item, message, recipients: entry.recipients });
            }
        }
    }

    pub(super) fn expired(&self, now: Instant, item_id: QueueItemId) -> bool {
        if self.topology.bug(PlantedBug::NoExpiration) {
            return false;
        }
        let expiration_ms = self.topology.server(self.id).smtp.expiration_ms;
        now.since(self.items[&item_id].arrived_at) >= expiration_ms
    }

    /// The store's automatic reply (Out of Office) becomes a queue item; it and the
    /// owner's history entry are written together: after a crash either both are there
    /// or neither.
    pub(super) fn submit_auto_reply(
        &mut self,
        now: Instant,
        original: MessageId,
        owner: AddressId,
        to: AddressId,
        size_bytes: u64,
    ) {
        let id = |server, item| MessageId::AutoReply { server, item };
        let reply = self.generated_item(now, id, MessageKind::OutOfOffice { original }, size_bytes, to, true);
        self.out.write(DiskOp::Enqueue(reply.clone()));
        self.out.write(DiskOp::OofReplied { owner, sender: to });
        let event = ServerEvent::OutOfOffice { message: original, from: owner, reply: reply.message.id, to };
        self.out.after_flush(AfterFlush::Event(event));
        self.out.after_flush(AfterFlush::Process(reply));
    }

    /// The public store's replication agent sends a replication message: one message to
    /// the addresses of every public store it names, queued, categorized and routed like
    /// any other mail.
    pub(super) fn submit_replication(
        &mut self,
        now: Instant,
        to: Vec<crate::public_folders::cn_set::ReplicaId>,
        replication: std::sync::Arc<crate::public_folders::replication_message::ReplicationMessage>,
    ) {
        let addresses: Vec<AddressId> = to.iter().map(|r| self.topology.public_store(*r).address).collect();
        debug_assert!(!addresses.is_empty(), "a replication message has recipients");
        let id = |server, item| MessageId::Replication { server, item };
        let size_bytes = replication.size_bytes();
        let mut item = self.generated_item(now, id, MessageKind::Replication, size_bytes, addresses[0], false);
        item.message.header_recipients = addresses.as_slice().into();
        item.message.replication = Some(replication.clone());
        item.recipients = addresses;
        self.out.write(DiskOp::Enqueue(item.clone()));
        let (kind, folder, changes) = (replication.kind, replication.folder, replication.changes());
        let event = ServerEvent::PfSent { message: item.message.id, kind, folder, to, size_bytes, changes };
        self.out.after_flush(AfterFlush::Event(event));
        self.out.after_flush(AfterFlush::Process(item));
    }

    /// A message this server generates (NDR, Out of Office reply, journal report) for
    /// one recipient, `named` in its headers or not: its own queue item, the null
    /// reverse path (never answered or NDR'd in turn), authenticated, never rated.
    fn generated_item(
        &mut self,
        now: Instant,
        id: fn(ServerId, QueueItemId) -> MessageId,
        kind: MessageKind,
        size_bytes: u64,
        to: AddressId,
        named: bool,
    ) -> StoredItem {
        let item = self.take_item_id();
        StoredItem {
            id: item,
            message: Message {
                id: id(self.id, item),
                kind,
                sender: None,
                size_bytes,
                submitted_at: now,
                hop_count: 0,
                authenticated: true,
                header_recipients: if named { [to].as_slice().into() } else { Default::default() },
                scl: crate::message::SCL_NOT_RATED,
                journaled: Default::default(),
                replication: None,
            },
            recipients: vec![to],
            arrived_at: now,
            submitted_here: false,
        }
    }

    /// Recipients fail permanently: an NDR to the sender, or Badmail for a DSN.
    pub(super) fn fail_recipients(
        &mut self,
        now: Instant,
        item_id: QueueItemId,
        recipients: Vec<AddressId>,
        code: DsnCode,
    ) {
        let original = &self.items[&item_id].message;
        let (original_id, sender, size_bytes) = (original.id, original.sender, original.size_bytes);
        match sender {
            None => {
                self.emit(ServerEvent::Badmail { message: original_id, recipients: recipients.clone(), code });
                let vs = crate::transport::mailroot::VirtualServerRef::Default;
                self.file_badmail(vs, original_id, size_bytes);
            }
            Some(sender) => {
                let id = |server, item| MessageId::Dsn { server, item };
                let kind = MessageKind::Ndr { original: original_id, code };
                let ndr = self.generated_item(now, id, kind, NDR_SIZE_BYTES, sender, false);
                self.out.write(DiskOp::Enqueue(ndr.clone()));
                self.out.after_flush(AfterFlush::Event(ServerEvent::Ndr {
                    message: original_id,
                    recipients: recipients.clone(),
                    code,
                    ndr: ndr.message.id,
                    to: sender,
                }));
                self.out.after_flush(AfterFlush::Process(ndr));
            }
        }
        self.recipients_done(item_id, &recipients);
    }

    /// Journaling (EXCHANGE2003.md §3.2): a message sent from or to a mailbox on a
    /// journaling store gets one journal report per journal mailbox, from the first
    /// categorizer that routes such a recipient. The message carries the journal
    /// mailboxes served (XEXCH50's journal data, durable with it), so no later server or
    /// restart journals it again for them.
    pub(super) fn journal(&mut self, now: Instant, item: QueueItemId, recipients: &[AddressId]) {
        if !self.journaling {
            return;
        }
        let message = &self.items[&item].message;
        if message.kind != MessageKind::Normal {
            return;
        }
        let (directory, topology) = (self.topology.gal_of(self.id), &self.topology);
        let journal_of = |a: AddressId| directory.lookup(a).and_then(|e| topology.store(e.store).journal_recipient);
        let mut journals: Vec<AddressId> =
            message.sender.into_iter().chain(recipients.iter().copied()).filter_map(journal_of).collect();
        journals.sort_unstable();
        journals.dedup();
        journals.retain(|j| !message.journaled.contains(j));
        for journal in journals {
            self.submit_journal_report(now, item, journal, recipients);
        }
    }

    /// Writes one journal report: the original's content and its recipient list (To and
    /// Cc, or every envelope recipient routed here with `JournalBCC`), to the journal
    /// mailbox; the report is written before the mark, so a crash between them can
    /// repeat a report, never lose one.
    fn submit_journal_report(&mut self, now: Instant, item: QueueItemId, journal: AddressId, recipients: &[AddressId]) {
        let bcc = self.topology.server(self.id).journal_bcc;
        let original = &self.items[&item].message;
        let header = &original.header_recipients;
        let blind = if bcc { recipients.iter().filter(|r| !header.contains(r)).count() } else { 0 };
        let listed = header.len() + blind;
        let (original, size_bytes) = (original.id, original.size_bytes);
        let size_bytes = size_bytes + JOURNAL_ENVELOPE_BYTES + listed as u64 * JOURNAL_LISTED_BYTES;
        let id = |server, item| MessageId::Journal { server, item };
        let report = self.generated_item(now, id, MessageKind::JournalReport { original }, size_bytes, journal, true);
        let event = ServerEvent::JournalReport {
            message: original,
            journal,
            report: report.message.id,
            listed: listed as u32,
            bcc,
        };
        self.out.write(DiskOp::Enqueue(report.clone()));
        if !self.topology.bug(PlantedBug::JournalDataDropped) {
            self.out.write(DiskOp::Journaled { item, journal });
            let stored = &mut self.items.get_mut(&item).expect("a journaled item is held").message;
            stored.journaled = stored.journaled.iter().copied().chain([journal]).collect();
        }
        self.out.after_flush(AfterFlush::Event(event));
        self.out.after_flush(AfterFlush::Process(report));
    }
}

/// A journal report's envelope beyond the original's content: the report's own headers
/// and body text [U].
const JOURNAL_ENVELOPE_BYTES: u64 = 1_024;

/// Each recipient a journal report lists: its address and type line [U].
const JOURNAL_LISTED_BYTES: u64 = 100;
