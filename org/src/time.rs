//! Simulated time. Milliseconds since the start of the run; never the wall clock.

/// An instant of simulated time, in milliseconds since the run started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Instant(pub u64);

impl Instant {
    /// The run's first instant.
    pub const ZERO: Instant = Instant(0);

    /// Milliseconds since the run started.
    pub fn as_ms(self) -> u64 {
        self.0
    }

    /// This instant plus `ms` milliseconds (saturating: far-future timers never wrap).
    pub fn plus_ms(self, ms: u64) -> Instant {
        Instant(self.0.saturating_add(ms))
    }

    /// Milliseconds from `earlier` to `self` (0 if `earlier` is later).
    pub fn since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// Milliseconds in one second.
pub const SECOND_MS: u64 = 1_000;
/// Milliseconds in one minute.
pub const MINUTE_MS: u64 = 60 * SECOND_MS;
/// Milliseconds in one hour.
pub const HOUR_MS: u64 = 60 * MINUTE_MS;
/// Milliseconds in one day.
pub const DAY_MS: u64 = 24 * HOUR_MS;
