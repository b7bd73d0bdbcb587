//! A service's timers: each set at most once, ordered by deadline (quinn-proto's
//! `TimerTable`, over any service's own `Timer` enum).

use crate::time::Instant;
use std::collections::{BTreeMap, BTreeSet};

/// Timers ordered by deadline, each set at most once.
#[derive(Clone, Debug)]
pub struct Timers<T> {
    by_deadline: BTreeSet<(Instant, T)>,
    deadline_of: BTreeMap<T, Instant>,
    /// The earliest deadline, kept beside the set: a server asks for it several times a
    /// step, and each answer from the set was a descent of its tree (3 % of a run).
    next: Option<Instant>,
}

impl<T> Default for Timers<T> {
    fn default() -> Self {
        Timers { by_deadline: BTreeSet::new(), deadline_of: BTreeMap::new(), next: None }
    }
}

impl<T: Copy + Ord> Timers<T> {
    /// Sets `timer` to fire at `at`, replacing its earlier deadline.
    pub fn set(&mut self, timer: T, at: Instant) {
        let old = self.deadline_of.insert(timer, at);
        if let Some(old) = old {
            self.by_deadline.remove(&(old, timer));
        }
        self.by_deadline.insert((at, timer));
        if old.is_some_and(|old| Some(old) == self.next) {
            self.next = self.first();
        } else {
            self.next = Some(self.next.map_or(at, |next| next.min(at)));
        }
        debug_assert_eq!(self.next, self.first());
    }

    /// Cancels `timer` if it is set.
    pub fn cancel(&mut self, timer: T) {
        if let Some(old) = self.deadline_of.remove(&timer) {
            self.by_deadline.remove(&(old, timer));
            if Some(old) == self.next {
                self.next = self.first();
            }
        }
        debug_assert_eq!(self.next, self.first());
    }

    /// The earliest deadline, read from the set.
    fn first(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(at, _)| *at)
    }

    /// Whether `timer` is set.
    pub fn is_set(&self, timer: T) -> bool {
        self.deadline_of.contains_key(&timer)
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.next
    }

    /// Takes the earliest timer due at `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        let &(at, timer) = self.by_deadline.first()?;
        if at > now {
            return None;
        }
        self.by_deadline.remove(&(at, timer));
        self.deadline_of.remove(&timer);
        self.next = self.first();
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the sets, cancels and pops, `next` is the earliest deadline set.
        #[test]
        fn next_is_the_earliest_deadline(ops in proptest::collection::vec((0u8..3, 0u8..6, 0u64..50), 0..80)) {
            let mut timers = Timers::default();
            let mut model = BTreeMap::new();
            for (op, timer, at) in ops {
                match op {
                    0 => {
                        timers.set(timer, Instant(at));
                        model.insert(timer, at);
                    }
                    1 => {
                        timers.cancel(timer);
                        model.remove(&timer);
                    }
                    _ => {
                        let due = model.iter().filter(|(_, d)| **d <= at).min_by_key(|(t, d)| (**d, **t)).map(|(t, _)| *t);
                        prop_assert_eq!(timers.pop_due(Instant(at)), due);
                        if let Some(t) = due {
                            model.remove(&t);
                        }
                    }
                }
                prop_assert_eq!(timers.next(), model.values().min().map(|d| Instant(*d)));
            }
        }
    }

    #[test]
    fn a_timer_set_again_fires_once_at_its_new_deadline() {
        let mut timers = Timers::default();
        timers.set(1u8, Instant(50));
        timers.set(2u8, Instant(20));
        timers.set(1u8, Instant(10));
        assert_eq!(timers.next(), Some(Instant(10)));
        assert_eq!(timers.pop_due(Instant(5)), None);
        assert_eq!(timers.pop_due(Instant(30)), Some(1));
        assert_eq!(timers.pop_due(Instant(30)), Some(2));
        assert_eq!(timers.pop_due(Instant(100)), None, "the replaced deadline is gone");
        timers.set(3u8, Instant(1));
        timers.cancel(3);
        assert!(!timers.is_set(3) && timers.next().is_none());
    }
}
