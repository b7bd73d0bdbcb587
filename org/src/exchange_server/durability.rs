//! Durability: write batches group-committed by the log flush, and what waits for them.

use super::*;

impl ExchangeServer {
    pub(super) fn take_item_id(&mut self) -> QueueItemId {
        let id = self.next_item;
        self.next_item = id.next();
        id
    }

    pub(super) fn schedule_flush(&mut self, now: Instant) {
        if !self.timers.is_set(Timer::LogFlush) {
            let delay = self.topology.server(self.id).smtp.log_flush_ms;
            self.timers.set(Timer::LogFlush, now.plus_ms(delay));
        }
    }

    pub(super) fn flush(&mut self, now: Instant) {
        let ops = std::mem::take(&mut self.pending_ops);
        if !ops.is_empty() {
            self.outputs.push(Output::Persist(ops));
        }
        for action in std::mem::take(&mut self.after_flush) {
            match action {
                AfterFlush::Event(event) => self.emit(event),
                AfterFlush::Delivered { message, recipient, store, submitted_at } => {
                    let latency_ms = now.since(submitted_at);
                    self.emit(ServerEvent::Delivered { message, recipient, store, latency_ms });
                }
                AfterFlush::Reply { to, conn, replies } => self.send(to, conn, Frame::Replies(replies)),
                AfterFlush::Process(item) => self.process(now, item),
            }
        }
    }

    pub(super) fn emit(&mut self, event: ServerEvent) {
        self.outputs.push(Output::Event(event));
    }

    pub(super) fn send(&mut self, to: impl Into<Peer>, conn: ConnId, frame: Frame) {
        let packet = Packet { conn, frame };
        self.outputs.push(match to.into() {
            Peer::Server(to) => Output::Send { to, packet },
            Peer::Host(to) => Output::SendHost { to, packet },
        });
    }

    /// These recipients of an item are finished here.
    pub(super) fn recipients_done(&mut self, now: Instant, item_id: QueueItemId, recipients: &[AddressId]) {
        let item = self.items.get_mut(&item_id).expect("finished recipients belong to a held item");
        crate::transport::queue_directory::remove_recipients(&mut item.remaining, recipients);
        if item.remaining.is_empty() {
            self.items.remove(&item_id);
        }
        self.pending_ops.push(DiskOp::RecipientsDone { item: item_id, recipients: recipients.to_vec() });
        self.schedule_flush(now);
    }
}
