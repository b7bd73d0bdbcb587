//! Packets on their way to a node, held outside it until the WAN model says they arrive.
//!
//! A packet sent is not handed to its destination at once: that cost each packet a
//! wake-up that did nothing but file it (measured: over half of all server wake-ups in
//! the 20,000-mailbox bench). It waits in the destination's [`Post`] instead, and the
//! sender sets the destination's timer for its arrival when it is earlier than the timer
//! the destination already has. The destination wakes once, when the packet arrives,
//! exactly when it woke to handle it before.

use super::*;
use madsim::time::TimeHandle;
use std::collections::VecDeque;
use std::task::{Context, Waker};

/// What waits for one node. A node holds a few packets and timers at a time, which
/// arrive mostly in order: sorted deques, filled from the back and emptied from the
/// front, keep their room between packets where B-trees built and freed a node each.
#[derive(Default)]
pub(super) struct Post {
    /// Packets in order of (arrival µs, send sequence).
    held: VecDeque<Box<Wire>>,
    /// The node's task, as of its last wait (None until it first waits).
    waker: Option<Waker>,
    /// Timers set for the node (µs since the start), by it or by senders, that had not
    /// fired when it last waited: the node wakes at each and looks at its post. Kept as
    /// a set (sorted, each once) so that no deadline is set twice (each would fire, a
    /// wake-up for nothing).
    pending_us: VecDeque<u64>,
    /// Whether the node runs and takes packets: a packet sent to a dead node is lost.
    open: bool,
}

impl Post {
    /// The node (re)started: it takes packets from now on.
    pub(super) fn open(&mut self) {
        debug_assert!(self.held.is_empty() && self.waker.is_none(), "a closed post holds nothing");
        self.open = true;
    }

    /// The node died: the packets it held die with it, and its timers with its task.
    pub(super) fn close(&mut self) {
        *self = Post::default();
    }

    /// Takes a packet on its way here (unless the node is dead), and sets the node's
    /// timer for its arrival when that is earlier than the one it has.
    pub(super) fn deliver(&mut self, wire: Box<Wire>, start: madsim::time::Instant, clock: &TimeHandle) {
        if !self.open {
            return;
        }
        let arrive_us = wire.arrive_us;
        let key = (arrive_us, wire.seq);
        let at = self.held.iter().rposition(|w| (w.arrive_us, w.seq) < key).map_or(0, |i| i + 1);
        self.held.insert(at, wire);
        if self.pending_us.front().is_some_and(|first| *first <= arrive_us) {
            return;
        }
        if let Some(waker) = &self.waker {
            set_timer(clock, start + StdDuration::from_micros(arrive_us), waker);
            self.pend(arrive_us);
        }
    }

    /// Notes a timer set for the node at `deadline_us` (none was pending for it).
    fn pend(&mut self, deadline_us: u64) {
        let at = self.pending_us.partition_point(|d| *d < deadline_us);
        debug_assert!(self.pending_us.get(at) != Some(&deadline_us), "no deadline is set twice");
        self.pending_us.insert(at, deadline_us);
    }

    /// The next packet that has arrived by `now_us`, in arrival order.
    pub(super) fn take_due(&mut self, now_us: u64) -> Option<Box<Wire>> {
        if self.held.front()?.arrive_us > now_us {
            return None;
        }
        self.held.pop_front()
    }

    /// Wakes the node (an order came for it), as a channel wakes its receiver.
    pub(super) fn wake(&self) {
        if let Some(waker) = &self.waker {
            waker.wake_by_ref();
        }
    }

    /// When the next held packet arrives.
    pub(super) fn next_arrival_us(&self) -> Option<u64> {
        self.held.front().map(|w| w.arrive_us)
    }
}

/// The timeline's orders to one node, read when it wakes: a queue in the world rather
/// than a channel, which the node polled on every wake-up (5 % of a run's instructions,
/// callgrind). `None` while the node is not running.
pub(super) struct Inbox<T>(Option<VecDeque<T>>);

impl<T> Default for Inbox<T> {
    fn default() -> Self {
        Inbox(None)
    }
}

impl<T> Inbox<T> {
    /// The node (re)started: it takes orders from now on.
    pub(super) fn open(&mut self) {
        self.0 = Some(VecDeque::new());
    }

    /// The node died: its orders die with it.
    pub(super) fn close(&mut self) {
        self.0 = None;
    }

    /// Whether the node is running (takes orders).
    pub(super) fn is_open(&self) -> bool {
        self.0.is_some()
    }

    /// Queues an order; false when the node is not running (the order is dropped).
    pub(super) fn push(&mut self, order: T) -> bool {
        self.0.as_mut().map(|q| q.push_back(order)).is_some()
    }

    /// The next order (`Some(Some)`), none yet (`None`), or the inbox is closed: the
    /// node was killed (`Some(None)`).
    pub(super) fn take(&mut self) -> Option<Option<T>> {
        match &mut self.0 {
            None => Some(None),
            Some(q) => q.pop_front().map(Some),
        }
    }
}

/// Every node's post.
pub(super) struct Posts {
    servers: Vec<Post>,
    hosts: Vec<Post>,
    dcs: Vec<Post>,
}

impl Posts {
    pub(super) fn new(servers: usize, hosts: usize, dcs: usize) -> Self {
        let posts = |n: usize| (0..n).map(|_| Post::default()).collect();
        Posts { servers: posts(servers), hosts: posts(hosts), dcs: posts(dcs) }
    }

    pub(super) fn of(&mut self, node: Node) -> &mut Post {
        match node {
            Node::Server(s) => &mut self.servers[usize::from(s.0)],
            Node::Host(h) => &mut self.hosts[usize::from(h.0)],
            Node::Dc(d) => &mut self.dcs[usize::from(d.0)],
        }
    }
}

/// Sets a madsim timer that wakes `waker` at `deadline` (a `Sleep` registers its timer
/// with the waker it is polled with; madsim keeps no other public way to set one). The
/// `Sleep` is `Unpin` and polled where it stands: no allocation.
fn set_timer(clock: &TimeHandle, deadline: madsim::time::Instant, waker: &Waker) {
    let mut sleep = clock.sleep_until(deadline);
    let _ = std::pin::Pin::new(&mut sleep).poll(&mut Context::from_waker(waker));
}

/// Waits for an order (`take` reads the node's inbox), a packet's arrival or the
/// deadline: `Some(Some(order))`, `Some(None)` when the inbox was closed (the node was
/// killed), `None` otherwise. `now_us` is the time the caller computed `deadline_us`
/// at: the first poll runs in the same step, when madsim's clock cannot have moved, so
/// only later polls read it (madsim interposes on the clock; reading it is not free).
pub(super) async fn wait<T>(
    world: &Shared,
    node: Node,
    mut take: impl FnMut(&mut World) -> Option<Option<T>>,
    deadline_us: Option<u64>,
    now_us: u64,
) -> Option<Option<T>> {
    let mut first = true;
    futures::future::poll_fn(|cx| {
        let mut guard = lock(world);
        let w = &mut *guard;
        if let Some(order) = take(w) {
            return Poll::Ready(Some(order));
        }
        let now = if std::mem::take(&mut first) { now_us } else { w.now_us() };
        w.arm(node, deadline_us, now, cx).map(|()| None)
    })
    .await
}

impl World {
    /// Whether `node`'s deadline or its next packet has come by `now` (`Ready`); if not,
    /// the node's waker is kept for senders and a timer set for the earlier of the two
    /// (`Pending`). A timer is set only for a deadline none is pending for; one whose
    /// deadline has since moved still fires, a spurious wake-up.
    pub(super) fn arm(&mut self, node: Node, deadline_us: Option<u64>, now: u64, cx: &Context<'_>) -> Poll<()> {
        let post = self.posts.of(node);
        // A timer that has fired no longer wakes the node: a sender must set its own.
        while post.pending_us.front().is_some_and(|first| *first <= now) {
            post.pending_us.pop_front();
        }
        let deadline_us = [deadline_us, post.next_arrival_us()].into_iter().flatten().min();
        if deadline_us.is_some_and(|d| now >= d) {
            return Poll::Ready(());
        }
        if !post.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            post.waker = Some(cx.waker().clone());
        }
        if let Some(deadline) = deadline_us.filter(|d| post.pending_us.binary_search(d).is_err()) {
            set_timer(&self.clock, self.start + StdDuration::from_micros(deadline), cx.waker());
            post.pend(deadline);
        }
        Poll::Pending
    }
}
