//! The MAPI clients of one server: a Poisson stream of submissions whose rate follows
//! the hourly profile, with recipients, sizes and recipient counts drawn from the
//! scenario's distributions (EXCHANGE2003.md §11 defaults). Each population draws from
//! its own stream, `clients:<server>`. While its server is down, its users cannot submit
//! (online-mode Outlook reports the server unavailable); those sends are skipped.

use crate::resolve::{Resolved, WorkloadSpec};
use crate::rng::Stream;
use org::message::{Message, MessageKind};
use org::time::{Instant, HOUR_MS};
use org::{AddressId, Entropy, ServerId};
use std::sync::Arc;

/// Mailboxes a population picks recipients from.
#[derive(Clone, Debug)]
pub struct RecipientPools {
    /// Every mailbox of the organization.
    pub all: Arc<Vec<AddressId>>,
    /// Mailboxes on this server.
    pub same_server: Vec<AddressId>,
    /// Mailboxes on the other servers of this routing group.
    pub same_group: Vec<AddressId>,
    /// Addresses no recipient has.
    pub unknown: Arc<Vec<AddressId>>,
    /// Addresses outside the organization.
    pub external: Arc<Vec<AddressId>>,
    /// Other forests' mailbox users, as this forest addresses them.
    pub other_forests: Arc<Vec<AddressId>>,
}

/// The clients of one server.
pub struct ClientPopulation {
    spec: WorkloadSpec,
    pools: RecipientPools,
    rng: Stream,
    /// Messages per millisecond at hourly factor 1.
    base_rate_per_ms: f64,
    /// Next submission, in fractional ms since the start; `None` when done.
    next_ms: Option<f64>,
}

impl ClientPopulation {
    /// The population of `server` in this run.
    pub fn new(resolved: &Resolved, spec: &WorkloadSpec, server: ServerId, pools: RecipientPools, seed: u64) -> Self {
        let name = &resolved.topology.server(server).name;
        let users = pools.same_server.len() as f64;
        let mut population = ClientPopulation {
            base_rate_per_ms: users * spec.sends_per_user_per_day / 86_400_000.0,
            spec: spec.clone(),
            pools,
            rng: Stream::new(seed, &format!("clients:{name}")),
            next_ms: None,
        };
        population.next_ms = population.draw_after(spec.from.as_ms() as f64);
        population
    }

    /// When the next submission is due.
    pub fn next_at(&self) -> Option<Instant> {
        self.next_ms.map(|ms| Instant(ms.ceil() as u64))
    }

    /// The next arrival strictly after `t_ms` in a Poisson process whose rate is constant
    /// within each hour of the day (memorylessness lets each hour restart the draw).
    fn draw_after(&mut self, mut t_ms: f64) -> Option<f64> {
        let until = self.spec.until.as_ms() as f64;
        let day_offset_ms = self.spec.calendar.start_ms_of_day() as f64;
        if self.base_rate_per_ms <= 0.0 {
            return None;
        }
        while t_ms < until {
            let clock = day_offset_ms + t_ms;
            let hour = ((clock / HOUR_MS as f64).floor() as u64 % 24) as usize;
            let boundary = ((clock / HOUR_MS as f64).floor() + 1.0) * HOUR_MS as f64 - day_offset_ms;
            let rate = self.base_rate_per_ms * self.spec.hourly_factor[hour];
            if rate > 0.0 {
                let gap = -(1.0 - self.rng.unit()).ln() / rate;
                if t_ms + gap < boundary.min(until) {
                    return Some(t_ms + gap);
                }
            }
            t_ms = boundary;
        }
        None
    }

    /// Skips the submissions due before `now` (the server was down).
    pub fn skip_to(&mut self, now: Instant) {
        while let Some(ms) = self.next_ms {
            if ms >= now.as_ms() as f64 {
                break;
            }
            self.next_ms = self.draw_after(ms);
        }
    }

    /// If a submission is due at `now`, draws it with message number `number`.
    pub fn submit_due(&mut self, now: Instant, number: impl FnOnce() -> u64) -> Option<(Message, Vec<AddressId>)> {
        let due = self.next_ms?;
        if due > now.as_ms() as f64 {
            return None;
        }
        self.next_ms = self.draw_after(due);
        let sender = self.pools.same_server[self.rng.below(self.pools.same_server.len())];
        let count = self.recipient_count();
        let mut recipients: Vec<AddressId> = Vec::with_capacity(count);
        for _ in 0..count {
            let r = self.pick_recipient();
            if !recipients.contains(&r) {
                recipients.push(r);
            }
        }
        let u = self.rng.unit();
        let size_bytes =
            self.spec.size_cdf.iter().find(|(_, p)| u < *p).unwrap_or(self.spec.size_cdf.last().expect("non-empty")).0;
        let message = Message {
            id: org::message::MessageId::Client(number()),
            kind: MessageKind::Normal,
            sender: Some(sender),
            size_bytes,
            submitted_at: now,
            hop_count: 0,
            authenticated: true,
            header_recipients: recipients.as_slice().into(),
            scl: org::message::SCL_NOT_RATED,
            journaled: Default::default(),
            replication: None,
        };
        Some((message, recipients))
    }

    /// 1 + Poisson(mean − 1), capped at 5,000 recipients (EXCHANGE2003.md §3.2a).
    fn recipient_count(&mut self) -> usize {
        let lambda = self.spec.recipients_per_message - 1.0;
        if lambda <= 0.0 {
            return 1;
        }
        if lambda > 30.0 {
            // Normal approximation for large means keeps the draw O(1).
            let (u1, u2) = (1.0 - self.rng.unit(), self.rng.unit());
            let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            return (1.0 + (lambda + z * lambda.sqrt()).round().max(0.0)).min(5_000.0) as usize;
        }
        // Knuth's multiplication method.
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut product = self.rng.unit();
        while product > limit {
            k += 1;
            product *= self.rng.unit();
        }
        (1 + k).min(5_000)
    }

    fn pick_recipient(&mut self) -> AddressId {
        let u = self.rng.unit();
        let cdf = self.spec.choice_cdf;
        let pool: &[AddressId] = if u < cdf[0] {
            &self.pools.same_server
        } else if u < cdf[1] && !self.pools.same_group.is_empty() {
            &self.pools.same_group
        } else if u < cdf[1] {
            &self.pools.same_server
        } else if u >= cdf[4] && !self.pools.other_forests.is_empty() {
            &self.pools.other_forests
        } else if u >= cdf[3] && !self.pools.external.is_empty() {
            &self.pools.external
        } else if u < cdf[2] || self.pools.unknown.is_empty() {
            &self.pools.all
        } else {
            &self.pools.unknown
        };
        pool[self.rng.below(pool.len())]
    }
}

/// MAPI clients posting to (or opening) one public folder through one server: a Poisson
/// stream at a constant rate inside its window, from its own stream
/// `posts:<server>#<i>` (`reads:<server>#<i>` for opens; `i` counts both kinds in the
/// order the scenario lists them). While the server is down its clients cannot work;
/// what was due is skipped.
pub struct PostStream {
    spec: crate::resolve::PostSpec,
    rng: Stream,
    next_ms: Option<f64>,
}

impl PostStream {
    /// The `index`-th post load of the run.
    pub fn new(resolved: &Resolved, index: usize, seed: u64) -> Self {
        let spec = resolved.public_posts[index].clone();
        let name = &resolved.topology.server(spec.server).name;
        let kind = if spec.read { "reads" } else { "posts" };
        let mut stream = PostStream { rng: Stream::new(seed, &format!("{kind}:{name}#{index}")), next_ms: None, spec };
        stream.next_ms = stream.draw_after(stream.spec.from_ms as f64);
        stream
    }

    /// The server whose clients post.
    pub fn server(&self) -> ServerId {
        self.spec.server
    }

    /// When the next post is due.
    pub fn next_at(&self) -> Option<Instant> {
        self.next_ms.map(|ms| Instant(ms.ceil() as u64))
    }

    fn draw_after(&mut self, t_ms: f64) -> Option<f64> {
        let rate_per_ms = self.spec.per_hour / HOUR_MS as f64;
        let next = t_ms - (1.0 - self.rng.unit()).ln() / rate_per_ms;
        (next < self.spec.until_ms as f64).then_some(next)
    }

    /// Skips the posts due before `now` (the server was down).
    pub fn skip_to(&mut self, now: Instant) {
        while let Some(ms) = self.next_ms.filter(|ms| *ms < now.as_ms() as f64) {
            self.next_ms = self.draw_after(ms);
        }
    }

    /// If a post (or an open) is due at `now`: the load's spec.
    pub fn due(&mut self, now: Instant) -> Option<&crate::resolve::PostSpec> {
        let due = self.next_ms.filter(|ms| *ms <= now.as_ms() as f64)?;
        self.next_ms = self.draw_after(due);
        Some(&self.spec)
    }
}
