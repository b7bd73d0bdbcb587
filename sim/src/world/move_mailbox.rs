//! Move Mailbox tasks carried out on the world: each task starts its moves on the
//! mailboxes' home servers, at most 4 at once; a move that completes is a directory
//! change every server reads (and servers that start later), and the checks follow the
//! mailbox to its new home.

use super::*;
use org::store::move_mailbox::MoveTask;
use org::trace::MoveOutcome;
use org::StoreId;

impl World {
    /// The timeline starts Move Mailbox task `i`.
    pub(super) fn start_move_task(&mut self, now: Instant, i: usize) {
        let spec = &self.resolved.move_tasks[i];
        let task = MoveTask::new(spec.mailboxes.clone(), spec.to_store, spec.cancel_at);
        if let Some(at) = spec.cancel_at {
            self.schedule(at, Scheduled::CancelMoves(i));
        }
        self.move_tasks[i] = Some(task);
        self.start_moves(now, i);
    }

    /// Starts what task `i` may start now. A mailbox whose server is down does not move
    /// (the task reports it failed).
    fn start_moves(&mut self, now: Instant, i: usize) {
        loop {
            let Some(task) = self.move_tasks[i].as_mut() else { return };
            let to_store = task.to_store;
            let started = task.start_next();
            if started.is_empty() {
                return;
            }
            let to_server = self.resolved.topology.store(to_store).server;
            for mailbox in started {
                let from = self.resolved.topology.store(self.home_store(mailbox)).server;
                if self.inboxes[usize::from(from.0)].is_open() {
                    self.moving.insert(mailbox, i);
                    self.tell_server(from, Input::MoveOut(mailbox, to_server, to_store));
                } else {
                    self.move_task_failed(now, i, mailbox, "its server is down");
                }
            }
        }
    }

    /// The database the directory homes a mailbox in now.
    pub(super) fn home_store(&self, mailbox: AddressId) -> StoreId {
        match self.moved.get(&mailbox) {
            Some(store) => *store,
            None => self.resolved.topology.directory.lookup(mailbox).expect("moved mailboxes are mailboxes").store,
        }
    }

    /// A store reported a move out of it ended. A completed move is a directory change:
    /// every server reads the new home, and so do the checks.
    pub(super) fn move_ended(&mut self, now: Instant, mailbox: AddressId, to_store: StoreId, outcome: MoveOutcome) {
        if outcome == MoveOutcome::Moved {
            self.moved.insert(mailbox, to_store);
            self.checker.mailbox_moved(mailbox, self.resolved.topology.store(to_store).server);
            for s in 0..self.inboxes.len() {
                self.tell_server(ServerId(s as u16), Input::MailboxMoved(mailbox, to_store));
            }
        }
        if let Some(i) = self.moving.remove(&mailbox) {
            if let Some(task) = self.move_tasks[i].as_mut() {
                task.ended(mailbox);
            }
            self.start_moves(now, i);
        }
    }

    /// A move the world ends because its source died or was down: traced, and the task
    /// goes on.
    fn move_task_failed(&mut self, now: Instant, i: usize, mailbox: AddressId, why: &str) {
        let event = TraceEvent::MoveNotDone { mailbox: self.address(mailbox), reason: why.to_string() };
        self.record(now.as_ms(), "move-mailbox", &event);
        self.moving.remove(&mailbox);
        if let Some(task) = self.move_tasks[i].as_mut() {
            task.ended(mailbox);
        }
    }

    /// A server died: the moves out of it die with its store.
    pub(super) fn moves_lost_with(&mut self, now: Instant, server: ServerId) {
        let lost: Vec<(AddressId, usize)> = self
            .moving
            .iter()
            .filter(|(m, _)| self.resolved.topology.store(self.home_store(**m)).server == server)
            .map(|(m, i)| (*m, *i))
            .collect();
        for (mailbox, i) in &lost {
            self.move_task_failed(now, *i, *mailbox, "its server stopped");
        }
        let tasks: BTreeSet<usize> = lost.into_iter().map(|(_, i)| i).collect();
        for i in tasks {
            self.start_moves(now, i);
        }
    }

    /// Task `i`'s cancel time came: nothing more starts, and the moves in progress stop.
    pub(super) fn cancel_moves(&mut self, i: usize) {
        let Some(task) = self.move_tasks[i].as_mut() else { return };
        for mailbox in task.cancel() {
            let from = self.resolved.topology.store(self.home_store(mailbox)).server;
            self.tell_server(from, Input::MoveCancel(mailbox));
        }
    }
}
