//! A domain controller: its replica of one naming context and when it replicates
//! (EXCHANGE2003.md §2). Inside a site, a DC that has a change (its own or replicated in)
//! notifies its partners: the first after a delay, each next one after a shorter delay
//! (Windows 2000: 300 s then 30 s; Windows Server 2003: 15 s then 3 s); a notified
//! partner pulls. Urgent changes (account lockout, a password) notify at once. Intra-site
//! connections are also polled once an hour; inter-site ones only on their schedule
//! (every replication interval, 180 min by default) — no change notification crosses
//! sites.
//!
//! Sans-IO: messages in through [`DomainController::handle_message`], timers through
//! [`DomainController::handle_timeout`]; outputs drained with
//! [`DomainController::drain_outputs`]. A site link's schedule opens it for whole UTC
//! hours of the week (Windows' 7 × 24 grid, on the run's [`Calendar`]): a scheduled pull
//! that falls while it is closed waits for the next opening. Left out: bridgehead DCs per site
//! (every inter-site connection pulls on its own), the KCC (connections are given),
//! compression of inter-site traffic.

use crate::calendar::{Calendar, WeeklyHours};
use crate::directory::ad_replication::{ChangeBatch, DcId, ObjectId, Replica, Usn};
use crate::time::{Instant, MINUTE_MS, SECOND_MS};
use crate::Entropy;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The Windows version of a DC, which sets its change-notification delays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum WindowsVersion {
    /// Windows 2000 Server (SP3 or later for Exchange 2003, §1).
    Windows2000,
    /// Windows Server 2003.
    Windows2003,
}

impl WindowsVersion {
    /// EXCHANGE2003.md §2: (first partner, each next partner) notification delays [P].
    pub fn notify_delays_ms(self) -> (u64, u64) {
        match self {
            WindowsVersion::Windows2000 => (300 * SECOND_MS, 30 * SECOND_MS),
            WindowsVersion::Windows2003 => (15 * SECOND_MS, 3 * SECOND_MS),
        }
    }

    /// How its LDAP server combines filter clauses it cannot decide ([MS-ADTS]
    /// §3.1.1.3.1.3.1: Windows 2000 takes Undefined as FALSE, Windows Server 2003 keeps
    /// RFC 2251's three values).
    pub fn filter_logic(self) -> crate::directory::ldap_filter::Logic {
        match self {
            WindowsVersion::Windows2000 => crate::directory::ldap_filter::Logic::TwoValued,
            WindowsVersion::Windows2003 => crate::directory::ldap_filter::Logic::ThreeValued,
        }
    }
}

/// One object's attributes written at once: (name, values) pairs.
pub type ObjectWrite = (ObjectId, Vec<(String, Vec<String>)>);

/// Intra-site connections are polled this often even without notifications [P].
pub const INTRA_SITE_POLL_MS: u64 = 60 * MINUTE_MS;

/// A pull that got no answer in this long is given up; the next trigger retries [U].
pub const PULL_TIMEOUT_MS: u64 = 5 * MINUTE_MS;

/// Changes per batch (Windows sends a few hundred objects a packet) [U].
pub const MAX_BATCH_CHANGES: usize = 500;

/// A connection this DC pulls over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboundConnection {
    /// The source DC.
    pub source: DcId,
    /// Inside this DC's site (change notification applies) or across sites.
    pub intra_site: bool,
    /// How often it is pulled without a notification.
    pub interval_ms: u64,
    /// When scheduled pulls may run (a site link's schedule; always inside a site).
    pub schedule: Schedule,
}

/// When replication may run (EXCHANGE2003.md §2: a site link's schedule, "always
/// available" by default): hours of the week on the run's calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The open hours of the week.
    pub hours: WeeklyHours,
    /// Where simulated time falls in the week.
    pub calendar: Calendar,
}

impl Schedule {
    /// Every hour open.
    pub const ALWAYS: Schedule = Schedule { hours: WeeklyHours::ALWAYS, calendar: Calendar::UNIX_EPOCH };

    /// Whether replication may run at `now`.
    pub fn is_open(&self, now: Instant) -> bool {
        self.hours.is_open(&self.calendar, now)
    }

    /// `now` if open, else the start of the next open hour.
    pub fn next_open(&self, now: Instant) -> Instant {
        self.hours.next_open(&self.calendar, now)
    }
}

/// What DCs say to each other.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DcMessage {
    /// Change notification: "I have changes; pull".
    Notify,
    /// A pull: changes after `since` that `utd` does not cover.
    GetChanges {
        /// The destination's high-water mark for the source.
        since: Usn,
        /// The destination's up-to-dateness vector.
        utd: BTreeMap<DcId, Usn>,
    },
    /// The answer.
    Changes(ChangeBatch),
}

impl DcMessage {
    /// Bytes on the wire, TCP/IP headers included.
    pub fn wire_size_bytes(&self) -> u64 {
        40 + match self {
            DcMessage::Notify => 120,
            DcMessage::GetChanges { utd, .. } => crate::directory::ad_replication::request_wire_size_bytes(utd.len()),
            DcMessage::Changes(batch) => crate::directory::ad_replication::batch_wire_size_bytes(batch),
        }
    }
}

/// Something observable a DC did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DcEvent {
    /// An originating write (an administrator's or a service's change).
    Originated {
        /// Attributes written.
        attributes: u32,
        /// The DC's USN after it.
        usn: Usn,
    },
    /// A batch from a source was applied.
    Applied {
        /// The source.
        source: DcId,
        /// Changes stored.
        stored: u32,
        /// Changes that lost a conflict (or were already held).
        discarded: u32,
        /// Whether more batches follow in this cycle.
        more: bool,
    },
    /// A pull got no answer in time.
    PullTimedOut {
        /// The source.
        source: DcId,
    },
}

/// What a DC asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DcOutput {
    /// Send a message to another DC.
    Send {
        /// Destination.
        to: DcId,
        /// Message.
        message: DcMessage,
    },
    /// Something happened.
    Event(DcEvent),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Notify the next intra-site partner.
    Notify,
    /// Pull from this source on its schedule.
    Scheduled(DcId),
    /// The pull from this source got no answer.
    PullTimeout(DcId),
}

/// One domain controller.
#[derive(Clone, Debug)]
pub struct DomainController {
    id: DcId,
    version: WindowsVersion,
    replica: Replica,
    inbound: Vec<InboundConnection>,
    /// Intra-site DCs that pull from this one (whom it notifies).
    notify_targets: Vec<DcId>,
    /// Partners still to notify in the current round.
    notify_queue: VecDeque<DcId>,
    /// Sources with a pull cycle in flight.
    pulling: BTreeSet<DcId>,
    /// Sources that notified during a pull: pull again when it ends.
    repull: BTreeSet<DcId>,
    timers: BTreeMap<Timer, Instant>,
    outputs: Vec<DcOutput>,
    /// How far this DC's clock is off true time (positive: ahead). Its originating writes
    /// carry its own clock's time, so a DC ahead wins conflicts it should lose.
    clock_skew_ms: i64,
}

impl DomainController {
    /// A DC with an empty replica; `inbound` are the connections it pulls over and
    /// `notify_targets` the intra-site DCs that pull from it. Each connection's first
    /// scheduled pull comes at a random point of its first interval (Windows staggers
    /// replication inside its schedule rather than starting every DC on the hour).
    pub fn new(
        id: DcId,
        version: WindowsVersion,
        inbound: Vec<InboundConnection>,
        notify_targets: Vec<DcId>,
        now: Instant,
        rng: &mut dyn Entropy,
        plants: crate::planted_bugs::Plants,
    ) -> Self {
        let mut dc = DomainController {
            id,
            version,
            replica: Replica::new(id).with_plants(plants),
            inbound,
            notify_targets,
            notify_queue: VecDeque::new(),
            pulling: BTreeSet::new(),
            repull: BTreeSet::new(),
            timers: BTreeMap::new(),
            outputs: Vec::new(),
            clock_skew_ms: 0,
        };
        for c in dc.inbound.clone() {
            assert!(c.interval_ms > 0, "connections have a schedule");
            let offset = 1 + rng.below(c.interval_ms as usize) as u64;
            dc.timers.insert(Timer::Scheduled(c.source), now.plus_ms(offset));
        }
        dc
    }

    /// Its clock is set `skew_ms` off true time from now on (a fault: a bad time source).
    pub fn handle_clock_skew(&mut self, skew_ms: i64) {
        self.clock_skew_ms = skew_ms;
    }

    /// What this DC's clock reads at true time `now`.
    fn clock_ms(&self, now: Instant) -> u64 {
        now.as_ms().saturating_add_signed(self.clock_skew_ms)
    }

    /// This DC's id.
    pub fn id(&self) -> DcId {
        self.id
    }

    /// Its replica.
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// The earliest instant [`DomainController::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.values().min().copied()
    }

    /// Takes the outputs so far.
    pub fn drain_outputs(&mut self) -> Vec<DcOutput> {
        std::mem::take(&mut self.outputs)
    }

    /// An originating write here. Urgent writes (account lockout, password changes,
    /// §2) notify every intra-site partner at once; others start a notification round.
    pub fn handle_write(&mut self, now: Instant, object: ObjectId, attributes: &[(&str, Vec<String>)], urgent: bool) {
        let attrs = attributes.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
        self.handle_writes(now, &[(object, attrs)], urgent);
    }

    /// Many originating writes at once (a bulk import or modify: a replication storm),
    /// traced as one event.
    pub fn handle_writes(&mut self, now: Instant, writes: &[ObjectWrite], urgent: bool) {
        let mut attributes = 0;
        for (object, attrs) in writes {
            let refs: Vec<(&str, Vec<String>)> = attrs.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
            self.replica.write(self.clock_ms(now), *object, &refs);
            attributes += attrs.len() as u32;
        }
        self.outputs.push(DcOutput::Event(DcEvent::Originated { attributes, usn: self.replica.usn() }));
        if urgent {
            for to in self.notify_targets.clone() {
                self.send(to, DcMessage::Notify);
            }
        } else {
            self.start_notify_round(now);
        }
    }

    /// A deletion here (a tombstone).
    pub fn handle_delete(&mut self, now: Instant, object: ObjectId) {
        self.handle_write(now, object, &[(crate::directory::ad_replication::IS_DELETED, vec!["TRUE".into()])], false);
    }

    /// A message from another DC.
    pub fn handle_message(&mut self, now: Instant, from: DcId, message: DcMessage) {
        match message {
            DcMessage::Notify => self.pull(now, from),
            DcMessage::GetChanges { since, utd } => {
                let batch = self.replica.get_changes(since, &utd, MAX_BATCH_CHANGES);
                self.send(from, DcMessage::Changes(batch));
            }
            DcMessage::Changes(batch) => {
                if !self.pulling.contains(&from) {
                    return; // an answer to a pull already given up on
                }
                let applied = self.replica.apply(&batch);
                self.outputs.push(DcOutput::Event(DcEvent::Applied {
                    source: from,
                    stored: applied.stored,
                    discarded: applied.discarded,
                    more: batch.more,
                }));
                if batch.more {
                    self.request(now, from);
                } else {
                    self.pulling.remove(&from);
                    self.timers.remove(&Timer::PullTimeout(from));
                    if self.repull.remove(&from) {
                        self.pull(now, from);
                    }
                }
                if applied.stored > 0 {
                    // Replicated-in changes are notified onward inside the site.
                    self.start_notify_round(now);
                }
            }
        }
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((&timer, _)) = self.timers.iter().filter(|(_, at)| **at <= now).min_by_key(|(t, at)| (**at, **t))
        {
            self.timers.remove(&timer);
            match timer {
                Timer::Notify => {
                    if let Some(to) = self.notify_queue.pop_front() {
                        self.send(to, DcMessage::Notify);
                    }
                    if !self.notify_queue.is_empty() {
                        let (_, next) = self.version.notify_delays_ms();
                        self.timers.insert(Timer::Notify, now.plus_ms(next));
                    }
                }
                Timer::Scheduled(source) => {
                    let (interval, schedule) = self
                        .inbound
                        .iter()
                        .find(|c| c.source == source)
                        .map_or((INTRA_SITE_POLL_MS, Schedule::ALWAYS), |c| (c.interval_ms, c.schedule));
                    // A closed schedule holds the pull until it opens; then every
                    // interval while it stays open.
                    if !schedule.is_open(now) {
                        self.timers.insert(Timer::Scheduled(source), schedule.next_open(now));
                        continue;
                    }
                    self.timers.insert(Timer::Scheduled(source), now.plus_ms(interval));
                    self.pull(now, source);
                }
                Timer::PullTimeout(source) => {
                    self.pulling.remove(&source);
                    self.repull.remove(&source);
                    self.outputs.push(DcOutput::Event(DcEvent::PullTimedOut { source }));
                }
            }
        }
    }

    fn send(&mut self, to: DcId, message: DcMessage) {
        self.outputs.push(DcOutput::Send { to, message });
    }

    /// Starts a notification round unless one is under way (partners pull everything,
    /// so later changes ride along).
    fn start_notify_round(&mut self, now: Instant) {
        if self.notify_targets.is_empty() || self.timers.contains_key(&Timer::Notify) {
            return;
        }
        self.notify_queue = self.notify_targets.iter().copied().collect();
        let (first, _) = self.version.notify_delays_ms();
        self.timers.insert(Timer::Notify, now.plus_ms(first));
    }

    /// Starts a pull cycle from `source` (or marks one to follow the cycle in flight).
    fn pull(&mut self, now: Instant, source: DcId) {
        if source == self.id {
            return;
        }
        if !self.pulling.insert(source) {
            self.repull.insert(source);
            return;
        }
        self.request(now, source);
    }

    fn request(&mut self, now: Instant, source: DcId) {
        let since = self.replica.high_water_mark(source);
        let utd = self.replica.utd().clone();
        self.send(source, DcMessage::GetChanges { since, utd });
        self.timers.insert(Timer::PullTimeout(source), now.plus_ms(PULL_TIMEOUT_MS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planted_bugs::Plants;
    use crate::time::{DAY_MS, HOUR_MS};

    /// Draws the largest offset: every first scheduled pull a whole interval away.
    struct Latest;
    impl Entropy for Latest {
        fn next_u64(&mut self) -> u64 {
            u64::MAX
        }
    }

    /// DCs 0–2 in site A (full mesh of intra-site connections), DC 3 in site B pulling
    /// from DC 0 every `interval`.
    fn forest(version: WindowsVersion, interval_ms: u64) -> Vec<DomainController> {
        let intra = |me: u16| -> Vec<InboundConnection> {
            (0..3)
                .filter(|s| *s != me)
                .map(|s| InboundConnection {
                    source: DcId(s),
                    intra_site: true,
                    interval_ms: INTRA_SITE_POLL_MS,
                    schedule: Schedule::ALWAYS,
                })
                .collect()
        };
        let targets = |me: u16| -> Vec<DcId> { (0..3).filter(|s| *s != me).map(DcId).collect() };
        let mut dcs: Vec<DomainController> = (0..3)
            .map(|i| {
                DomainController::new(DcId(i), version, intra(i), targets(i), Instant::ZERO, &mut Latest, Plants::NONE)
            })
            .collect();
        dcs.push(DomainController::new(
            DcId(3),
            version,
            vec![InboundConnection { source: DcId(0), intra_site: false, interval_ms, schedule: Schedule::ALWAYS }],
            Vec::new(),
            Instant::ZERO,
            &mut Latest,
            Plants::NONE,
        ));
        dcs
    }

    /// Delivers messages instantly; returns, per DC, when it first held `object`.
    fn run(
        dcs: &mut [DomainController],
        until: Instant,
        object: ObjectId,
        lost_to: Option<DcId>,
    ) -> Vec<Option<Instant>> {
        let mut first_held = vec![None; dcs.len()];
        let mut now = Instant::ZERO;
        loop {
            let mut moved = true;
            while moved {
                moved = false;
                for i in 0..dcs.len() {
                    for out in dcs[i].drain_outputs() {
                        if let DcOutput::Send { to, message } = out {
                            moved = true;
                            if Some(to) != lost_to {
                                let from = dcs[i].id();
                                dcs[usize::from(to.0)].handle_message(now, from, message);
                            }
                        }
                    }
                }
            }
            for (i, dc) in dcs.iter().enumerate() {
                if first_held[i].is_none() && dc.replica().object(object).is_some() {
                    first_held[i] = Some(now);
                }
            }
            match dcs.iter().filter_map(|d| d.poll_timeout()).min() {
                Some(t) if t <= until => {
                    now = t;
                    dcs.iter_mut().for_each(|d| d.handle_timeout(now));
                }
                _ => return first_held,
            }
        }
    }

    #[test]
    fn change_notification_delays_by_windows_version_exchange2003_2() {
        for (version, first, next) in [(WindowsVersion::Windows2003, 15, 3), (WindowsVersion::Windows2000, 300, 30)] {
            let mut dcs = forest(version, 180 * MINUTE_MS);
            dcs[0].handle_write(Instant::ZERO, ObjectId(1), &[("mail", vec!["a@contoso.com".into()])], false);
            let held = run(&mut dcs, Instant(6 * 3_600_000), ObjectId(1), None);
            assert_eq!(held[1], Some(Instant(first * SECOND_MS)), "{version:?}: the first partner after {first} s");
            assert_eq!(held[2], Some(Instant((first + next) * SECOND_MS)), "{version:?}: the next {next} s later");
            assert_eq!(held[3], Some(Instant(180 * MINUTE_MS)), "{version:?}: no notification across sites");
            let content = dcs[0].replica().content();
            assert!(dcs.iter().all(|d| d.replica().content() == content));
        }
    }

    #[test]
    fn a_dc_whose_clock_runs_ahead_wins_conflicts_it_should_lose_exchange2003_2() {
        let mut dcs = forest(WindowsVersion::Windows2003, 180 * MINUTE_MS);
        dcs[1].handle_clock_skew(3_600_000);
        // DC 1 (an hour ahead) writes first; DCs 0 and 2 write 10 minutes later.
        dcs[1].handle_write(Instant::ZERO, ObjectId(1), &[("title", vec!["stale".into()])], false);
        run(&mut dcs, Instant(60_000), ObjectId(1), None);
        dcs[0].handle_write(Instant(10 * MINUTE_MS), ObjectId(1), &[("title", vec!["newer".into()])], false);
        dcs[2].handle_write(Instant(10 * MINUTE_MS), ObjectId(1), &[("title", vec!["also newer".into()])], false);
        run(&mut dcs, Instant(6 * 3_600_000), ObjectId(1), None);
        // Both later writes raise the version (2) over the skewed one (1) and win; the
        // conflict between them goes to the later clock, then the higher DC.
        let title = |d: &DomainController| d.replica().object(ObjectId(1)).unwrap().values("title").to_vec();
        assert!(dcs.iter().all(|d| title(d) == vec!["also newer".to_string()]));
        // Now a true conflict at one version: the skewed DC's write wins although it
        // was made 10 minutes earlier by true time.
        dcs[1].handle_write(Instant(7 * 3_600_000), ObjectId(2), &[("title", vec!["skewed".into()])], false);
        dcs[0].handle_write(
            Instant(7 * 3_600_000 + 10 * MINUTE_MS),
            ObjectId(2),
            &[("title", vec!["on time".into()])],
            false,
        );
        run(&mut dcs, Instant(12 * 3_600_000), ObjectId(2), None);
        let title2 = |d: &DomainController| d.replica().object(ObjectId(2)).unwrap().values("title").to_vec();
        assert!(dcs.iter().all(|d| title2(d) == vec!["skewed".to_string()]), "{:?}", title2(&dcs[0]));
    }

    #[test]
    fn a_closed_site_link_schedule_holds_pulls_until_it_opens() {
        // Open 20:00–06:00 UTC; the run starts at 08:30.
        let night = (0..24).filter(|h| !(6..20).contains(h)).fold(0u32, |m, h| m | 1 << h);
        let calendar = Calendar::new(2004, 3, 1, 8 * HOUR_MS + 30 * MINUTE_MS).unwrap();
        let schedule = Schedule { hours: WeeklyHours::daily(night), calendar };
        assert!(!schedule.is_open(Instant::ZERO));
        assert_eq!(schedule.next_open(Instant::ZERO), Instant(11 * HOUR_MS + 30 * MINUTE_MS), "20:00");
        assert!(schedule.is_open(Instant(21 * HOUR_MS)), "05:30 next day");
        assert_eq!(schedule.next_open(Instant(21 * HOUR_MS + 30 * MINUTE_MS)), Instant(35 * HOUR_MS + 30 * MINUTE_MS));
        let mut dcs = forest(WindowsVersion::Windows2003, 60 * MINUTE_MS);
        let link = InboundConnection { source: DcId(0), intra_site: false, interval_ms: 60 * MINUTE_MS, schedule };
        dcs[3] = DomainController::new(
            DcId(3),
            WindowsVersion::Windows2003,
            vec![link],
            Vec::new(),
            Instant::ZERO,
            &mut Latest,
            Plants::NONE,
        );
        dcs[0].handle_write(Instant::ZERO, ObjectId(1), &[("mail", vec!["a".into()])], false);
        let held = run(&mut dcs, Instant(DAY_MS), ObjectId(1), None);
        assert_eq!(held[3], Some(Instant(11 * HOUR_MS + 30 * MINUTE_MS)), "pulled when the link opens at 20:00");
    }

    #[test]
    fn urgent_changes_notify_at_once() {
        let mut dcs = forest(WindowsVersion::Windows2000, 180 * MINUTE_MS);
        dcs[1].handle_write(Instant::ZERO, ObjectId(9), &[("lockouttime", vec!["1".into()])], true);
        let held = run(&mut dcs, Instant(600_000), ObjectId(9), None);
        assert_eq!(held[0], Some(Instant::ZERO));
        assert_eq!(held[2], Some(Instant::ZERO));
    }

    #[test]
    fn a_lost_pull_times_out_and_the_hourly_poll_catches_up() {
        let mut dcs = forest(WindowsVersion::Windows2003, 180 * MINUTE_MS);
        dcs[0].handle_write(Instant::ZERO, ObjectId(1), &[("mail", vec!["a".into()])], false);
        // DC 2 hears nothing at first: messages to it are lost until the run restarts.
        let held = run(&mut dcs, Instant(30 * MINUTE_MS), ObjectId(1), Some(DcId(2)));
        assert!(held[2].is_none());
        let held = run(&mut dcs, Instant(2 * 3_600_000), ObjectId(1), None);
        assert!(held[2].is_some_and(|t| t <= Instant(INTRA_SITE_POLL_MS)), "{held:?}");
    }
}
