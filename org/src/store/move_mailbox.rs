//! Move Mailbox (the Exchange Task Wizard's move, EXCHANGE2003.md §7): a task moves
//! many mailboxes to one target database, at most 4 at once, from a scheduled start
//! until its cancel time.
//!
//! One mailbox's move, store to store: the source store locks the mailbox (mail for it
//! waits in SMTP's "Messages queued for deferred delivery"), sends its content to the
//! target store in chunks over the network — across the WAN when the servers are in
//! different sites, sharing the links with mail —, each chunk acknowledged before the
//! next goes (as MAPI streams it); the last chunk carries the mailbox's messages, which
//! the target commits before acknowledging it. The source then deletes its copy and
//! reports the move done; the directory then names the new home (every server reads
//! it), and the waiting mail is routed there. A chunk unanswered for
//! [`ACK_TIMEOUT_MS`] fails the move: the mailbox stays where it was, unlocked, and the
//! target drops what it got.

use super::information_store::InformationStore;
use crate::service_events::{AfterFlush, ToSmtp};
use crate::time::Instant;
use crate::trace::{MoveOutcome, ServerEvent};
use crate::transport::queue_directory::{DiskOp, MailboxContents};
use crate::{AddressId, ServerId, StoreId};
use std::collections::VecDeque;

/// Mailboxes a task moves at once (§7).
pub const MOVES_AT_ONCE: usize = 4;

/// Bytes of one chunk of a mailbox's content on the wire [U].
pub const CHUNK_BYTES: u64 = 1 << 20;

/// How long the source waits for a chunk's acknowledgement before failing the move [U].
pub const ACK_TIMEOUT_MS: u64 = 300_000;

/// What a mailbox holds beside its messages: folders, rules, views, properties [U].
pub const MAILBOX_OVERHEAD_BYTES: u64 = 64 * 1_024;

/// Protocol bytes of an acknowledgement or an abort, and of each chunk's header [U].
const CONTROL_BYTES: u64 = 200;

/// A message between the source and the target store of a move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MoveMessage {
    /// Chunk `seq` of `chunks` of a mailbox's content; the last carries its messages.
    Chunk {
        mailbox: AddressId,
        to_store: StoreId,
        seq: u32,
        chunks: u32,
        bytes: u64,
        last: Option<Box<MailboxContents>>,
    },
    /// The target has chunk `seq` (the last one committed).
    Ack { mailbox: AddressId, seq: u32 },
    /// The source gave up the move: the target drops what it got.
    Abort { mailbox: AddressId },
}

impl MoveMessage {
    /// Bytes on the wire.
    pub fn wire_size_bytes(&self) -> u64 {
        match self {
            MoveMessage::Chunk { bytes, .. } => CONTROL_BYTES + bytes,
            MoveMessage::Ack { .. } | MoveMessage::Abort { .. } => CONTROL_BYTES,
        }
    }
}

/// One mailbox leaving this store.
#[derive(Clone, Copy, Debug)]
pub(super) struct Outgoing {
    to_server: ServerId,
    to_store: StoreId,
    total_bytes: u64,
    chunks: u32,
    /// The chunk waiting for its acknowledgement, and until when.
    sent: u32,
    deadline: Instant,
    started: Instant,
    /// The target committed it: the source deletes its copy and waits for the
    /// directory to name the new home.
    committed: bool,
}

/// A move task as the administrator scheduled it: the mailboxes still to start, those
/// moving, where they go, and when the task is cancelled.
#[derive(Clone, Debug)]
pub struct MoveTask {
    pending: VecDeque<AddressId>,
    moving: Vec<AddressId>,
    pub to_store: StoreId,
    pub cancel_at: Option<Instant>,
}

impl MoveTask {
    pub fn new(mailboxes: Vec<AddressId>, to_store: StoreId, cancel_at: Option<Instant>) -> Self {
        MoveTask { pending: mailboxes.into(), moving: Vec::new(), to_store, cancel_at }
    }

    /// The mailboxes to start moving now: as many as keep [`MOVES_AT_ONCE`] moving.
    pub fn start_next(&mut self) -> Vec<AddressId> {
        let mut started = Vec::new();
        while self.moving.len() < MOVES_AT_ONCE {
            let Some(m) = self.pending.pop_front() else { break };
            self.moving.push(m);
            started.push(m);
        }
        started
    }

    /// A move of this task ended (done, failed or cancelled); false if it was not one.
    pub fn ended(&mut self, mailbox: AddressId) -> bool {
        let before = self.moving.len();
        self.moving.retain(|m| *m != mailbox);
        before != self.moving.len()
    }

    /// The cancel time came: nothing more starts; the moves in progress are returned,
    /// to be cancelled.
    pub fn cancel(&mut self) -> Vec<AddressId> {
        self.pending.clear();
        self.moving.clone()
    }

    /// Mailboxes not started yet.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

impl InformationStore {
    /// The task starts moving `mailbox` from this store to `to_store` on `to_server`.
    pub fn handle_move_out(&mut self, now: Instant, mailbox: AddressId, to_server: ServerId, to_store: StoreId) {
        let here = self.topology.store(self.store_of(mailbox)).server == self.id;
        if !here || self.moving_out.contains_key(&mailbox) || to_server == self.id {
            let outcome = MoveOutcome::Failed;
            return self.out.emit(ServerEvent::MoveEnded { mailbox, to_store, outcome, bytes: 0, duration_ms: 0 });
        }
        let total_bytes = MAILBOX_OVERHEAD_BYTES + self.mailbox_bytes(mailbox);
        let chunks = total_bytes.div_ceil(CHUNK_BYTES) as u32;
        let deadline = now.plus_ms(ACK_TIMEOUT_MS);
        let outgoing =
            Outgoing { to_server, to_store, total_bytes, chunks, sent: 0, deadline, started: now, committed: false };
        self.moving_out.insert(mailbox, outgoing);
        self.out.emit(ServerEvent::MoveStarted { mailbox, to_store, bytes: total_bytes });
        self.send_chunk(mailbox, outgoing);
    }

    /// Sends the chunk the move is at; the last carries the mailbox's messages.
    fn send_chunk(&mut self, mailbox: AddressId, o: Outgoing) {
        let done = u64::from(o.sent) * CHUNK_BYTES;
        let bytes = (o.total_bytes - done).min(CHUNK_BYTES);
        let last = (o.sent + 1 == o.chunks).then(|| Box::new(self.stores.contents(mailbox)));
        let (seq, chunks, to_store) = (o.sent, o.chunks, o.to_store);
        let message = MoveMessage::Chunk { mailbox, to_store, seq, chunks, bytes, last };
        self.out.move_message(o.to_server, message);
    }

    /// A move message from another server's store.
    pub fn handle_move_message(&mut self, now: Instant, from: ServerId, message: MoveMessage) {
        match message {
            MoveMessage::Chunk { mailbox, to_store, seq, last, .. } => {
                self.take_chunk(from, mailbox, to_store, seq, last)
            }
            MoveMessage::Ack { mailbox, seq } => self.acknowledged(now, mailbox, seq),
            MoveMessage::Abort { mailbox } => self.drop_moved_in(mailbox),
        }
    }

    /// The target's side: a chunk is acknowledged at once, the last once its messages
    /// are committed.
    fn take_chunk(
        &mut self,
        from: ServerId,
        mailbox: AddressId,
        store: StoreId,
        seq: u32,
        last: Option<Box<MailboxContents>>,
    ) {
        let ack = MoveMessage::Ack { mailbox, seq };
        let Some(contents) = last else { return self.out.move_message(from, ack) };
        let group = self.topology.store(store).storage_group_id;
        self.stores.put(mailbox, (*contents).clone());
        self.moved_in.insert(mailbox);
        self.out.write(DiskOp::MailboxIn { group, store, owner: mailbox, contents });
        self.out.after_flush(AfterFlush::Move { to: from, message: ack });
    }

    /// The source's side: the next chunk goes; after the last, the copy here is deleted
    /// and the move is done once that is durable.
    fn acknowledged(&mut self, now: Instant, mailbox: AddressId, seq: u32) {
        let Some(o) = self.moving_out.get_mut(&mailbox) else { return };
        if o.committed || o.sent != seq {
            return;
        }
        if seq + 1 < o.chunks {
            o.sent += 1;
            o.deadline = now.plus_ms(ACK_TIMEOUT_MS);
            let o = *o;
            return self.send_chunk(mailbox, o);
        }
        o.committed = true;
        let o = *o;
        self.stores.remove(mailbox);
        self.out.write(DiskOp::MailboxOut { owner: mailbox });
        let outcome = MoveOutcome::Moved;
        let event = ServerEvent::MoveEnded {
            mailbox,
            to_store: o.to_store,
            outcome,
            bytes: o.total_bytes,
            duration_ms: now.since(o.started),
        };
        self.out.after_flush(AfterFlush::Event(event));
    }

    /// The target's side of an aborted move: a copy committed here that the directory
    /// does not home here is deleted.
    fn drop_moved_in(&mut self, mailbox: AddressId) {
        if self.moved_in.remove(&mailbox) && self.topology.store(self.store_of(mailbox)).server != self.id {
            self.stores.remove(mailbox);
            self.out.write(DiskOp::MailboxOut { owner: mailbox });
        }
    }

    /// Moves whose chunk went unanswered too long fail; the mailbox stays here.
    pub(super) fn move_timeouts(&mut self, now: Instant) {
        let late: Vec<AddressId> =
            self.moving_out.iter().filter(|(_, o)| !o.committed && o.deadline <= now).map(|(m, _)| *m).collect();
        for mailbox in late {
            self.end_move(now, mailbox, MoveOutcome::Failed);
        }
    }

    /// The task's cancel time came while this mailbox was moving: the move stops, the
    /// mailbox stays here (a move already committed completes).
    pub fn handle_move_cancel(&mut self, now: Instant, mailbox: AddressId) {
        if self.moving_out.get(&mailbox).is_some_and(|o| !o.committed) {
            self.end_move(now, mailbox, MoveOutcome::Cancelled);
        }
    }

    fn end_move(&mut self, now: Instant, mailbox: AddressId, outcome: MoveOutcome) {
        let o = self.moving_out.remove(&mailbox).expect("a move in progress ends");
        self.out.move_message(o.to_server, MoveMessage::Abort { mailbox });
        let duration_ms = now.since(o.started);
        self.out.emit(ServerEvent::MoveEnded { mailbox, to_store: o.to_store, outcome, bytes: 0, duration_ms });
        self.out.to_smtp(ToSmtp::MoveEnded { mailbox });
    }

    /// The directory names a mailbox's new home (a move completed somewhere): this
    /// store reads it, and mail waiting here for the mailbox goes on.
    pub fn handle_mailbox_moved(&mut self, mailbox: AddressId, store: StoreId) {
        self.homes.insert(mailbox, store);
        self.moved_in.remove(&mailbox);
        if self.moving_out.remove(&mailbox).is_some() {
            self.out.to_smtp(ToSmtp::MoveEnded { mailbox });
        }
    }

    /// When the first move's acknowledgement is due.
    pub(super) fn move_deadline(&self) -> Option<Instant> {
        self.moving_out.values().filter(|o| !o.committed).map(|o| o.deadline).min()
    }

    /// Whether a mailbox is moving out of this store (its mail waits).
    pub(super) fn is_moving(&self, mailbox: AddressId) -> bool {
        self.moving_out.contains_key(&mailbox)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_moves_four_at_once_and_cancel_stops_the_rest() {
        let mut task = MoveTask::new((1..=6).map(AddressId).collect(), StoreId(1), None);
        assert_eq!(task.start_next(), (1..=4).map(AddressId).collect::<Vec<_>>());
        assert_eq!(task.start_next(), []);
        assert!(task.ended(AddressId(2)));
        assert!(!task.ended(AddressId(2)), "once");
        assert_eq!(task.start_next(), [AddressId(5)]);
        assert_eq!(task.cancel(), [AddressId(1), AddressId(3), AddressId(4), AddressId(5)]);
        assert_eq!(task.pending(), 0);
        assert_eq!(task.start_next(), []);
    }

    #[test]
    fn chunks_carry_the_content_and_control_messages_are_small() {
        let chunk = MoveMessage::Chunk {
            mailbox: AddressId(1),
            to_store: StoreId(0),
            seq: 0,
            chunks: 1,
            bytes: 5_000,
            last: Some(Box::default()),
        };
        assert_eq!(chunk.wire_size_bytes(), 5_200);
        assert_eq!(MoveMessage::Ack { mailbox: AddressId(1), seq: 0 }.wire_size_bytes(), 200);
    }
}
