//! The workload section: the client load of generated and listed mailboxes.

use super::*;

impl Resolver<'_> {
    /// The workload section, if any: rates, the hourly profile, sizes and recipient
    /// choice as cumulative distributions.
    pub(super) fn workload(&mut self, scenario: &Scenario, external_addresses: &[AddressId]) -> Option<WorkloadSpec> {
        let duration_ms = scenario.duration.ms;
        let w = scenario.workload.as_ref()?;
        let wp = p().key("workload");
        if !(w.sends_per_user_per_day.is_finite()
            && w.sends_per_user_per_day >= 0.0
            && w.sends_per_user_per_day <= 10_000.0)
        {
            self.error(&wp.key("sends_per_user_per_day"), "expected a rate from 0 to 10000 messages a day");
        }
        let total: f64 = w.hourly_profile.iter().sum();
        if w.hourly_profile.iter().any(|h| !h.is_finite() || *h < 0.0) || total <= 0.0 {
            self.error(&wp.key("hourly_profile"), "expected 24 non-negative weights, not all zero");
        }
        let mean = (total / 24.0).max(f64::MIN_POSITIVE);
        if !(w.recipients_per_message.is_finite() && (1.0..=5_000.0).contains(&w.recipients_per_message)) {
            // EXCHANGE2003.md §3.2a: at most 5,000 recipients a message.
            self.error(
                &wp.key("recipients_per_message"),
                "expected a mean from 1 to 5000 recipients (EXCHANGE2003.md §3.2a)",
            );
        }
        let weights: f64 = w.size_mix.iter().map(|s| s.weight).sum();
        if w.size_mix.is_empty() || weights <= 0.0 || !weights.is_finite() {
            self.error(&wp.key("size_mix"), "expected at least one size class with a positive weight");
        }
        let mut size_cdf = Vec::new();
        let mut acc = 0.0;
        for (i, s) in w.size_mix.iter().enumerate() {
            // size_kb is bounded by the schema, like a send's.
            if !(s.weight.is_finite() && s.weight >= 0.0) {
                self.error(&wp.key("size_mix").index(i).key("weight"), "expected a non-negative weight");
            }
            acc += s.weight / weights.max(f64::MIN_POSITIVE);
            size_cdf.push((s.size_kb * 1024, acc));
        }
        let c = &w.recipient_choice;
        let shares = [c.same_server, c.same_routing_group, c.anywhere, c.unknown, c.external, c.other_forests];
        let sum: f64 = shares.iter().sum();
        if shares.iter().any(|s| !s.is_finite() || *s < 0.0) || (sum - 1.0).abs() > 1e-6 {
            self.error(
                &wp.key("recipient_choice"),
                format!("expected non-negative shares summing to 1, found a sum of {sum}"),
            );
        }
        if c.external > 0.0 && external_addresses.is_empty() {
            self.error(
                &wp.key("recipient_choice").key("external"),
                "clients send to external addresses, but recipients.external lists none",
            );
        }
        if c.other_forests > 0.0 && scenario.topology.forests.is_empty() {
            self.error(
                &wp.key("recipient_choice").key("other_forests"),
                "clients send to other forests' users, but topology.forests lists no other forest",
            );
        }
        let mut choice_cdf = [0.0; 6];
        let mut acc = 0.0;
        for (i, s) in shares.iter().enumerate() {
            acc += s;
            choice_cdf[i] = acc;
        }
        let from = w.from.map_or(0, |d| d.ms);
        let until = w.until.map_or(duration_ms, |d| d.ms);
        if until > duration_ms {
            self.error(&wp.key("until"), format!("clients cannot send after the run ends ({})", scenario.duration));
        }
        if from >= until {
            self.error(&wp.key("from"), "expected the workload to start before it stops");
        }
        Some(WorkloadSpec {
            sends_per_user_per_day: w.sends_per_user_per_day,
            hourly_factor: w.hourly_profile.map(|h| h / mean),
            recipients_per_message: w.recipients_per_message,
            size_cdf,
            choice_cdf,
            from: Instant(from),
            until: Instant(until),
            calendar: scenario.start.calendar,
        })
    }
}
