//! The figures a capacity planner reads off a run: per WAN link direction its load over
//! the run and the business day, percentiles, the busiest clock hour and the headroom
//! left; per queue how deep and how long; per server how fast mail was delivered.

use crate::chart::group_digits;
use crate::clock::Clock;
use crate::trace_data::{LinkSample, TraceData};
use crate::{escape, Html};

const HOUR_MS: u64 = 3_600_000;
/// The business day the second set of link figures covers (time of day, UTC).
const BUSINESS_HOURS: (u64, u64) = (8 * HOUR_MS, 18 * HOUR_MS);
/// A queue this deep or deeper counts as backed up in the queue table.
pub const BACKED_UP_MESSAGES: u32 = 10;

/// The nearest-rank percentile `q` (0–1) of sorted values; None if there are none.
pub fn percentile<T: Copy>(sorted: &[T], q: f64) -> Option<T> {
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted.get(rank).copied()
}

/// kbit/s of one sample.
fn kbit_per_s((_, bytes, interval_ms): &LinkSample) -> f64 {
    *bytes as f64 * 8.0 / (*interval_ms).max(1) as f64
}

/// One direction of one link over the run.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkLoad {
    pub bytes: u64,
    /// Mean over the whole run and over business hours, kbit/s (None: no business hour
    /// in the run).
    pub mean_kbit_s: f64,
    pub business_mean_kbit_s: Option<f64>,
    /// Percentiles and peak of the samples, kbit/s.
    pub p95_kbit_s: f64,
    pub p99_kbit_s: f64,
    pub peak_kbit_s: f64,
    /// The clock hour with the most bytes: its start (ms of run) and mean kbit/s.
    pub busiest_hour: Option<(u64, f64)>,
}

impl LinkLoad {
    pub fn of(samples: &[LinkSample], clock: Clock) -> LinkLoad {
        let bytes: u64 = samples.iter().map(|s| s.1).sum();
        let covered_ms: u64 = samples.iter().map(|s| s.2).sum();
        let mut rates: Vec<f64> = samples.iter().map(kbit_per_s).collect();
        rates.sort_by(f64::total_cmp);
        let in_business = |s: &&LinkSample| {
            let mid = clock.at(s.0.saturating_sub(s.2 / 2)).ms_of_day;
            (BUSINESS_HOURS.0..BUSINESS_HOURS.1).contains(&mid)
        };
        let business: Vec<&LinkSample> = samples.iter().filter(in_business).collect();
        let business_ms: u64 = business.iter().map(|s| s.2).sum();
        let business_bytes: u64 = business.iter().map(|s| s.1).sum();
        // Samples end at their t_ms; each is filed under the clock hour it ends in
        // (sample intervals divide an hour in every scenario: 1, 2, 5 … minutes).
        let mut hours: std::collections::BTreeMap<u64, (u64, u64)> = Default::default();
        for (t, b, i) in samples {
            let start = t.saturating_sub(*i);
            let hour = start - clock.at(start).ms_of_day % HOUR_MS;
            let e = hours.entry(hour).or_default();
            e.0 += b;
            e.1 += i;
        }
        let busiest = hours
            .iter()
            .filter(|(_, (b, _))| *b > 0)
            .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then(b.0.cmp(a.0)))
            .map(|(hour, (b, ms))| (*hour, *b as f64 * 8.0 / (*ms).max(1) as f64));
        LinkLoad {
            bytes,
            mean_kbit_s: bytes as f64 * 8.0 / covered_ms.max(1) as f64,
            business_mean_kbit_s: (business_ms > 0).then(|| business_bytes as f64 * 8.0 / business_ms as f64),
            p95_kbit_s: percentile(&rates, 0.95).unwrap_or(0.0),
            p99_kbit_s: percentile(&rates, 0.99).unwrap_or(0.0),
            peak_kbit_s: rates.last().copied().unwrap_or(0.0),
            busiest_hour: busiest,
        }
    }
}

/// `12.3` with one decimal.
fn kbit(v: f64) -> String {
    format!("{v:.1}")
}

/// `v` as a share of `capacity_kbit_s`.
fn share(v: f64, capacity_kbit_s: f64) -> String {
    if capacity_kbit_s <= 0.0 {
        return "–".into();
    }
    format!("{:.1} %", v * 100.0 / capacity_kbit_s)
}

/// The WAN link table: a row per link direction.
pub fn link_table(data: &TraceData, sample_ms: u64) -> Html {
    let sample = crate::clock::human_duration(sample_ms);
    let mut out = format!(
        "<table class=\"figures\"><tr><th>link</th><th>direction</th><th>capacity<br>kbit/s</th><th>bytes</th>\
<th>mean kbit/s<br>whole run</th><th>mean kbit/s<br>08:00–18:00</th><th>p95 kbit/s<br>per {sample}</th>\
<th>p99 kbit/s<br>per {sample}</th><th>peak kbit/s<br>per {sample}</th><th>peak<br>utilization</th>\
<th>busiest hour<br>(its mean kbit/s)</th><th>headroom<br>at p95</th></tr>\n"
    );
    for ((link, direction), samples) in &data.link_bytes {
        let info = data.links.get(link).cloned().unwrap_or_default();
        let capacity = info.bits_per_s as f64 / 1_000.0;
        let load = LinkLoad::of(samples, data.clock);
        let busiest = load.busiest_hour.map_or("–".to_string(), |(t, mean)| {
            let c = data.clock.at(t);
            format!("{} {}–{:02}:00 ({})", c.weekday, c.time(false), (c.ms_of_day / HOUR_MS + 1) % 24, kbit(mean))
        });
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
<td class=\"n\">{busiest}</td><td class=\"n\">{}</td></tr>\n",
            escape(link),
            escape(&info.direction_name(*direction)),
            group_digits(info.bits_per_s / 1_000),
            group_digits(load.bytes),
            kbit(load.mean_kbit_s),
            load.business_mean_kbit_s.map_or("–".into(), kbit),
            kbit(load.p95_kbit_s),
            kbit(load.p99_kbit_s),
            kbit(load.peak_kbit_s),
            share(load.peak_kbit_s, capacity),
            share((capacity - load.p95_kbit_s).max(0.0), capacity),
        ));
    }
    out.push_str("</table>\n");
    Html(out)
}

/// One queue over the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueLoad {
    pub peak: u32,
    pub peak_at_ms: u64,
    /// Sampled time holding any mail, and at least [`BACKED_UP_MESSAGES`].
    pub holding_ms: u64,
    pub backed_up_ms: u64,
}

impl QueueLoad {
    /// From samples taken every `sample_ms`.
    pub fn of(samples: &[(u64, u32)], sample_ms: u64) -> QueueLoad {
        let (mut peak, mut peak_at_ms) = (0, 0);
        for (t, m) in samples {
            if *m > peak {
                (peak, peak_at_ms) = (*m, *t);
            }
        }
        let holding = samples.iter().filter(|(_, m)| *m > 0).count() as u64;
        let backed_up = samples.iter().filter(|(_, m)| *m >= BACKED_UP_MESSAGES).count() as u64;
        QueueLoad { peak, peak_at_ms, holding_ms: holding * sample_ms, backed_up_ms: backed_up * sample_ms }
    }
}

/// The queue table: every queue that ever held mail at a sample, deepest first.
pub fn queue_table(data: &TraceData, sample_ms: u64) -> Html {
    let mut rows: Vec<(&(String, String), QueueLoad)> =
        data.queue_depth.iter().map(|(k, s)| (k, QueueLoad::of(s, sample_ms))).filter(|(_, q)| q.peak > 0).collect();
    if rows.is_empty() {
        return Html("<p class=\"empty\">No queue held mail at any sample: every message left its queue within one sample interval.</p>\n".into());
    }
    rows.sort_by(|a, b| b.1.peak.cmp(&a.1.peak).then_with(|| a.0.cmp(b.0)));
    let mut out = format!(
        "<table class=\"figures\"><tr><th>server</th><th>queue</th><th>peak<br>messages</th><th>peak at</th>\
<th>time holding mail<br>(sampled)</th><th>time ≥ {BACKED_UP_MESSAGES} messages<br>(sampled)</th></tr>\n"
    );
    for ((server, queue), q) in rows {
        out.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            escape(server),
            escape(queue),
            group_digits(u64::from(q.peak)),
            data.clock.at(q.peak_at_ms).time(true),
            crate::clock::human_duration(q.holding_ms),
            crate::clock::human_duration(q.backed_up_ms),
        ));
    }
    out.push_str("</table>\n");
    Html(out)
}

/// Delivery latency percentiles per delivering server, and over all.
pub fn latency_table(data: &TraceData) -> Html {
    if data.deliveries.is_empty() {
        return Html("<p class=\"empty\">No message was delivered to a mailbox in this run.</p>\n".into());
    }
    let mut per_server: Vec<Vec<u32>> = vec![Vec::new(); data.servers.len()];
    for d in &data.deliveries {
        per_server[usize::from(d.server)].push(d.latency_ms);
    }
    let mut all: Vec<u32> = data.deliveries.iter().map(|d| d.latency_ms).collect();
    all.sort_unstable();
    let mut rows: Vec<(String, Vec<u32>)> = data.servers.iter().cloned().zip(per_server).collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows.push(("all servers".into(), all));
    let mut out = String::from(
        "<table class=\"figures\"><tr><th>delivering server</th><th>deliveries</th><th>p50 s</th><th>p90 s</th>\
<th>p99 s</th><th>max s</th></tr>\n",
    );
    for (server, mut latencies) in rows {
        latencies.sort_unstable();
        let s = |q: f64| format!("{:.3}", f64::from(percentile(&latencies, q).unwrap_or(0)) / 1_000.0);
        out.push_str(&format!(
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>\n",
            escape(&server),
            group_digits(latencies.len() as u64),
            s(0.5),
            s(0.9),
            s(0.99),
            s(1.0)
        ));
    }
    out.push_str("</table>\n");
    Html(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_load_figures() {
        // Starts 07:00: samples of 30 min; 20 kB in the first half hour, then 0, then
        // 45 kB and 90 kB from 08:00.
        let clock = Clock::parse("2004-03-01T07:00:00Z").unwrap();
        let m = 60_000;
        let samples =
            vec![(30 * m, 20_000, 30 * m), (60 * m, 0, 30 * m), (90 * m, 45_000, 30 * m), (120 * m, 90_000, 30 * m)];
        let load = LinkLoad::of(&samples, clock);
        assert_eq!(load.bytes, 155_000);
        assert!((load.mean_kbit_s - 155_000.0 * 8.0 / (120.0 * 60_000.0)).abs() < 1e-9);
        assert!((load.business_mean_kbit_s.unwrap() - 135_000.0 * 8.0 / (60.0 * 60_000.0)).abs() < 1e-9);
        assert!((load.peak_kbit_s - 0.4).abs() < 1e-9, "90 kB in 30 min");
        assert_eq!(load.busiest_hour.map(|(t, _)| t), Some(60 * m), "08:00–09:00");
        assert_eq!(percentile(&[1, 2, 3, 4], 0.5), Some(2));
        assert_eq!(percentile::<u32>(&[], 0.5), None);
    }

    #[test]
    fn queue_load_counts_sampled_time() {
        let q = QueueLoad::of(&[(60_000, 0), (120_000, 12), (180_000, 3), (240_000, 0)], 60_000);
        assert_eq!(q, QueueLoad { peak: 12, peak_at_ms: 120_000, holding_ms: 120_000, backed_up_ms: 60_000 });
    }
}
