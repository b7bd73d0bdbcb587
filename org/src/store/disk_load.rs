//! The disks under a storage group, for capacity planning (EXCHANGE2003.md §11): the
//! database volume's load from its mailboxes' clients by user profile, the log volume's
//! from the log writes the store made, and each volume's latency from a queueing model.
//!
//! The model: below capacity, a volume of `c` spindles, each serving one I/O in
//! `service` on average, is an M/M/c queue — arrivals from many independent clients are
//! close to Poisson, and a random I/O's seek and rotation spread its service time. Its
//! mean response time is the service time plus Erlang C's wait: near the service time at
//! low load, growing steeply as the load nears the capacity `c / service` (the knee
//! Jetstress sizing looks for). An open queue has no steady state past capacity, but the
//! clients are not open: a MAPI client in online mode waits for its request before making
//! the next, so N clients form a closed system, and the interactive response time law
//! gives R = N / X − Z: at throughput X = capacity μ, with think time Z = N / λ (λ the
//! load the clients would offer if served at once), R = N (1/μ − 1/λ) — it grows with the
//! excess and stays finite. The volume's latency is the larger of the two; the M/M/c part
//! is taken at most at 99 % utilization [U], where the closed law takes over.
//!
//! A log volume has one writer, ESE's log writer per storage group, with group commit:
//! past capacity the waiting commits merge into fewer, larger writes, so the volume's
//! latency stays at its plateau and commits wait instead (orgsim does not yet delay
//! deliveries by disk latency: the model measures, it does not hold mail back).

/// The steady-state part of the model stops here (see above) [U].
const STEADY_UTILIZATION_MAX: f64 = 0.99;

/// The client load of a mailbox (EXCHANGE2003.md §11).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum UserProfile {
    /// 20 sent / 50 received a day, 50 MB mailbox.
    Light,
    /// 30 / 75, 100 MB.
    #[default]
    Average,
    /// 40 / 100, 200 MB.
    Heavy,
    /// 60 / 150, 500 MB.
    Large,
}

impl UserProfile {
    /// Database I/Os per second per mailbox in the busy hour, logs excluded (§11).
    pub fn database_iops(self) -> f64 {
        match self {
            UserProfile::Light => 0.5,
            UserProfile::Average => 0.75,
            UserProfile::Heavy => 1.0,
            UserProfile::Large => 1.5,
        }
    }

    /// Share of those I/Os that are reads. §11 gives 75:25 to 66:33; orgsim gives the
    /// lighter profiles the higher share (more of a small mailbox is read than
    /// rewritten) [U].
    pub fn read_share(self) -> f64 {
        match self {
            UserProfile::Light | UserProfile::Average => 0.75,
            UserProfile::Heavy => 0.70,
            UserProfile::Large => 0.66,
        }
    }
}

/// A volume: how many I/Os a second it serves at most, and how long one takes alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskSettings {
    pub capacity_iops: u32,
    pub service_us: u32,
}

impl DiskSettings {
    /// A 10,000 rpm spindle's random I/O: 8 ms, 125 a second [U].
    pub const SPINDLE: DiskSettings = DiskSettings { capacity_iops: 125, service_us: 8_000 };

    /// A log volume: sequential writes into a controller's write-back cache, 1 ms each
    /// (1,000 a second) [U].
    pub const LOG_VOLUME: DiskSettings = DiskSettings { capacity_iops: 1_000, service_us: 1_000 };

    /// The utilization orgsim sizes a database volume for when the scenario gives none:
    /// its busy-hour load at 70 % of capacity, the headroom sizing guides leave [U].
    pub const SIZED_UTILIZATION: f64 = 0.7;

    /// Enough spindles for `busy_hour_iops` at [`Self::SIZED_UTILIZATION`] (two at least:
    /// a mirrored pair).
    pub fn sized_for(busy_hour_iops: f64) -> DiskSettings {
        let per_spindle = f64::from(Self::SPINDLE.capacity_iops);
        let spindles = (busy_hour_iops / Self::SIZED_UTILIZATION / per_spindle).ceil().max(2.0) as u32;
        DiskSettings { capacity_iops: spindles * Self::SPINDLE.capacity_iops, service_us: Self::SPINDLE.service_us }
    }

    /// The servers of the queue: capacity × service time, one at least.
    pub fn spindles(self) -> u32 {
        let c = (u64::from(self.capacity_iops) * u64::from(self.service_us) + 500_000) / 1_000_000;
        c.max(1) as u32
    }
}

/// A volume's load and latency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiskLoad {
    /// Offered load over its capacity (above 1: clients wait for the volume).
    pub utilization: f64,
    /// Mean response time of an I/O, µs.
    pub latency_us: f64,
}

/// A volume under `offered_iops` from `clients` that each wait for their I/O (one,
/// for a log volume's single writer).
pub fn disk_load(disk: DiskSettings, offered_iops: f64, clients: f64) -> DiskLoad {
    debug_assert!(offered_iops >= 0.0 && offered_iops.is_finite(), "offered load {offered_iops}");
    let capacity = f64::from(disk.capacity_iops.max(1));
    let service_s = f64::from(disk.service_us) / 1e6;
    let utilization = offered_iops / capacity;
    let open_s = service_s + erlang_c_wait_s(disk.spindles(), utilization.min(STEADY_UTILIZATION_MAX), service_s);
    let closed_s = if utilization > 1.0 { clients * (1.0 / capacity - 1.0 / offered_iops) } else { 0.0 };
    DiskLoad { utilization, latency_us: open_s.max(closed_s) * 1e6 }
}

/// Mean wait in queue of an M/M/c queue with `c` servers at utilization `rho` < 1, each
/// serving in `service_s` on average: Erlang C's probability of waiting × S / (c − a),
/// with a = c·ρ the offered load in Erlangs; Erlang B by its stable recursion.
fn erlang_c_wait_s(c: u32, rho: f64, service_s: f64) -> f64 {
    debug_assert!((0.0..1.0).contains(&rho), "steady state needs rho < 1, got {rho}");
    if rho <= 0.0 {
        return 0.0;
    }
    let c_f = f64::from(c);
    let a = c_f * rho;
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let waits = c_f * b / (c_f - a * (1.0 - b));
    waits * service_s / (c_f - a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DISK: DiskSettings = DiskSettings { capacity_iops: 1_000, service_us: 8_000 };
    const DISK_1500: DiskSettings = DiskSettings { capacity_iops: 1_500, service_us: 8_000 };

    #[test]
    fn an_idle_volume_answers_in_its_service_time() {
        assert_eq!(disk_load(DISK, 0.0, 1_000.0).latency_us, 8_000.0);
    }

    #[test]
    fn one_spindle_is_m_m_1() {
        // M/M/1: response = S / (1 − ρ); at ρ = 0.5, twice the service time.
        let disk = DiskSettings { capacity_iops: 100, service_us: 10_000 };
        let l = disk_load(disk, 50.0, 100.0);
        assert!((l.latency_us - 20_000.0).abs() < 1e-6, "{}", l.latency_us);
    }

    #[test]
    fn erlang_c_matches_the_textbook() {
        // c = 2, a = 1 (ρ = 0.5): C = 1/3, Wq = C·S/(c − a) = S/3.
        assert!((erlang_c_wait_s(2, 0.5, 0.03) - 0.01).abs() < 1e-12);
    }

    #[test]
    fn past_capacity_clients_wait_by_the_response_time_law() {
        // 2,000 clients offering 2,000 I/Os a second to a 1,500 volume:
        // R = N (1/μ − 1/λ) = 2000 (1/1500 − 1/2000) = 1/3 s.
        let l = disk_load(DISK_1500, 2_000.0, 2_000.0);
        assert!((l.latency_us - 1e6 / 3.0).abs() < 1.0, "{}", l.latency_us);
        assert!((l.utilization - 4.0 / 3.0).abs() < 1e-12);
        // One writer never queues behind itself: the plateau.
        let log = disk_load(DISK_1500, 2_000.0, 1.0);
        assert_eq!(log.latency_us, disk_load(DISK_1500, 1_500.0, 1.0).latency_us);
    }

    #[test]
    fn sizing_leaves_the_headroom_and_a_mirrored_pair() {
        assert_eq!(DiskSettings::sized_for(0.0).capacity_iops, 250);
        let d = DiskSettings::sized_for(3_750.0);
        assert_eq!(d.capacity_iops, 43 * 125);
        assert!(3_750.0 / f64::from(d.capacity_iops) <= DiskSettings::SIZED_UTILIZATION);
        assert_eq!(d.spindles(), 43);
    }

    proptest! {
        #[test]
        fn latency_never_falls_below_service_and_grows_with_load(
            capacity in 1u32..5_000, service_us in 100u32..20_000,
            load in 0.0f64..3.0, more in 0.0f64..1.0, clients in 1.0f64..100_000.0,
        ) {
            let disk = DiskSettings { capacity_iops: capacity, service_us };
            let offered = load * f64::from(capacity);
            let lower = disk_load(disk, offered, clients);
            let higher = disk_load(disk, offered + more * f64::from(capacity), clients);
            prop_assert!(lower.latency_us >= f64::from(service_us) - 1e-6);
            prop_assert!(lower.latency_us.is_finite());
            prop_assert!(higher.latency_us >= lower.latency_us - 1e-6);
        }

        #[test]
        fn more_waiting_clients_never_wait_less(
            load in 1.0f64..4.0, clients in 1.0f64..50_000.0, more in 0.0f64..50_000.0,
        ) {
            let offered = load * 1_500.0;
            let fewer = disk_load(DISK_1500, offered, clients);
            prop_assert!(disk_load(DISK_1500, offered, clients + more).latency_us >= fewer.latency_us);
        }
    }
}
