//! The scenario's expectations: counts in windows, deadlines, latencies, recoveries and
//! convergence, counted from server events and judged at the end.

use super::*;
use crate::scenario::LegacyOutcomeKind;
use crate::units::Duration;
use org::system_attendant::oal_generation::OabId;

/// The outcomes `oab_legacy` counts by position.
const LEGACY_KINDS: [LegacyOutcomeKind; 4] =
    [LegacyOutcomeKind::FirstFull, LegacyOutcomeKind::Diff, LegacyOutcomeKind::ForcedFull, LegacyOutcomeKind::NoUpdate];

pub(super) struct Expectations {
    list: Vec<Expect>,
    /// Per expectation: what it counts, so far.
    window_counts: Vec<u64>,
    /// Per deadline expectation: (held, recipients unresolved) at its deadline.
    deadline_results: BTreeMap<usize, (bool, u64)>,
    recoveries: u64,
    /// Per latency expectation: latencies of client deliveries submitted in its window.
    latencies: BTreeMap<usize, Vec<u64>>,
    /// Per convergence expectation that failed: which tables differed.
    convergence_detail: BTreeMap<usize, String>,
    /// When the run's last fault happens (the convergence bounds count from it).
    last_fault: Instant,
}

impl Expectations {
    pub(super) fn new(expectations: &[Expect], last_fault: Instant) -> Self {
        Expectations {
            list: expectations.to_vec(),
            window_counts: vec![0; expectations.len()],
            deadline_results: BTreeMap::new(),
            recoveries: 0,
            latencies: BTreeMap::new(),
            convergence_detail: BTreeMap::new(),
            last_fault,
        }
    }

    /// Adds one to every expectation `counted` picks.
    fn count(&mut self, counted: impl Fn(&Expect) -> bool) {
        for (i, e) in self.list.iter().enumerate() {
            if counted(e) {
                self.window_counts[i] += 1;
            }
        }
    }

    /// Counts what one server event shows.
    pub(super) fn observe(&mut self, now: Instant, server: ServerId, event: &ServerEvent) {
        let within = |from: &Instant, until: &Instant| *from <= now && now <= *until;
        match event {
            ServerEvent::Delivered { message: MessageId::Client(_), latency_ms, .. } => {
                let submitted = Instant(now.as_ms().saturating_sub(*latency_ms));
                for (i, e) in self.list.iter().enumerate() {
                    if let Expect::LatencyAtMost { from, until, .. } = e {
                        if *from <= submitted && submitted <= *until {
                            self.latencies.entry(i).or_default().push(*latency_ms);
                        }
                    }
                }
            }
            ServerEvent::Transferred { queue, .. } | ServerEvent::TransferredOut { queue, .. } => self.count(|e| match e {
                Expect::TransferredVia { queue: q, from, until, .. } => q == queue && within(from, until),
                _ => false,
            }),
            ServerEvent::Relayed { host, queue, .. } => self.count(|e| match e {
                Expect::TransferredVia { queue: q, from, until, .. } => q == queue && within(from, until),
                Expect::RelayedTo { host: h, from, until, .. } => h == host && within(from, until),
                _ => false,
            }),
            ServerEvent::Queued { queue: QueueKey::Unreachable, .. } => self.count(|e| match e {
                Expect::UnreachableAtLeast { from, until, .. } | Expect::UnreachableAtMost { from, until, .. } => {
                    within(from, until)
                }
                _ => false,
            }),
            ServerEvent::Recovered { .. } => self.recoveries += 1,
            ServerEvent::GcFailover { .. } => self.count(|e| matches!(e, Expect::GcFailovers { .. })),
            ServerEvent::PfPostRefused { reason, .. } | ServerEvent::PfReadRefused { reason, .. } => self.count(|e| {
                matches!(e, Expect::PublicFolderRefusals { server: s, reason: r, .. } if *s == server && r == reason)
            }),
            ServerEvent::PfRead { served_by, .. } => self.count(|e| {
                matches!(e, Expect::PublicFolderReads { server: s, served_by: b, .. } if *s == server && b == served_by)
            }),
            ServerEvent::PfBackfillRequested { source, .. } => self.count(|e| {
                matches!(e, Expect::PublicFolderBackfill { server: s, source: r, .. } if *s == server && r == source)
            }),
            ServerEvent::CategorizerRetry { .. } => self.count(|e| matches!(e, Expect::CategorizerRetries { .. })),
            _ => {}
        }
    }

    /// An OAB generation finished: each `oab_holds` of that OAB whose moment is still to
    /// come notes whether this generation's version 4 file holds its record (a later
    /// generation before the moment replaces it). Counted as 1 absent, 2 present.
    /// `oab_legacy` notes the outcome the same way, as its position in the outcome list
    /// plus one.
    pub(super) fn oab_generated(&mut self, now: Instant, oab: OabId, full: Option<&[u8]>, legacy: LegacyOutcomeKind) {
        for (i, e) in self.list.iter().enumerate() {
            match e {
                Expect::OabHolds { oab: o, address, at, .. } if *o == oab && now <= *at => {
                    let held = full.is_some_and(|f| holds_value(f, address.as_bytes()));
                    self.window_counts[i] = 1 + u64::from(held);
                }
                Expect::OabLegacy { oab: o, at, .. } if *o == oab && now <= *at => {
                    self.window_counts[i] = 1 + LEGACY_KINDS.iter().position(|k| *k == legacy).unwrap_or(0) as u64;
                }
                _ => {}
            }
        }
    }

    /// A client's copy reached `recipient` (first delivery only).
    pub(super) fn delivered_to(&mut self, recipient: AddressId) {
        self.count(|e| matches!(e, Expect::DeliveredTo { recipient: r, .. } if *r == recipient));
    }

    /// The indexes and instants of deadline expectations (`all_resolved_by`, link state
    /// and directory convergence).
    pub(super) fn deadlines(&self) -> Vec<(usize, Instant)> {
        self.list
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match e {
                Expect::AllResolvedBy(at) => Some((i, *at)),
                Expect::LinkStateConverges { within_ms } | Expect::DirectoryConverges { within_ms } => {
                    Some((i, self.last_fault.plus_ms(*within_ms)))
                }
                Expect::PublicFoldersConverge(at) | Expect::OabClientsCurrent { at, .. } => Some((i, *at)),
                _ => None,
            })
            .collect()
    }

    /// What a deadline expectation asks: recipients resolved, link state or directory
    /// convergence.
    pub(super) fn deadline_kind(&self, index: usize) -> &Expect {
        &self.list[index]
    }

    /// Records a deadline expectation's result at its deadline; `agreement` is what the
    /// convergence mirror says, `unresolved` the recipients still open.
    pub(super) fn deadline_reached(&mut self, index: usize, agreement: Option<Result<(), String>>, unresolved: u64) {
        let result = match agreement {
            Some(Ok(())) => (true, 0),
            Some(Err(detail)) => {
                self.convergence_detail.insert(index, detail);
                (false, 0)
            }
            None => (unresolved == 0, unresolved),
        };
        self.deadline_results.insert(index, result);
    }

    /// Records a deadline expectation judged whole by its property (held, and what was
    /// seen either way).
    pub(super) fn judged(&mut self, index: usize, ok: bool, detail: String) {
        self.deadline_results.insert(index, (ok, 0));
        self.convergence_detail.insert(index, detail);
    }

    /// Every expectation's result at the end of the run.
    pub(super) fn results(&self, ledger: &RecipientLedger, link_state_messages: u64) -> Vec<CheckResult> {
        let ndr_count = |code: &Option<DsnCode>| match code {
            Some(c) => ledger.ndr_by_code.get(c).copied().unwrap_or(0),
            None => ledger.ndr_by_code.values().sum(),
        };
        let code_name = |code: &Option<DsnCode>| code.map_or(String::new(), |c| format!(" {}", c.as_str()));
        let mut results = Vec::new();
        for (i, e) in self.list.iter().enumerate() {
            results.push(match e {
                Expect::AllResolvedBy(at) => {
                    let (ok, left) = self.deadline_results.get(&i).copied().unwrap_or((false, ledger.unresolved));
                    CheckResult {
                        name: format!("all_resolved_by {}", Duration::from_ms(at.as_ms())),
                        ok,
                        detail: if ok {
                            "every accepted recipient delivered or NDR'd".into()
                        } else {
                            format!("{left} recipient(s) unresolved")
                        },
                    }
                }
                Expect::DeliveredAtLeast(n) => CheckResult {
                    name: format!("delivered_at_least {n}"),
                    ok: ledger.counts.delivered >= *n,
                    detail: format!("{} delivered", ledger.counts.delivered),
                },
                Expect::NdrAtLeast(n, code) => {
                    let seen = ndr_count(code);
                    let name = format!("ndr_at_least {n}{}", code_name(code));
                    CheckResult { name, ok: seen >= *n, detail: format!("{seen} NDR'd") }
                }
                Expect::NdrAtMost(n, code) => {
                    let seen = ndr_count(code);
                    let name = format!("ndr_at_most {n}{}", code_name(code));
                    CheckResult { name, ok: seen <= *n, detail: format!("{seen} NDR'd") }
                }
                Expect::LatencyAtMost { percentile, at_most_ms, from, until } => {
                    self.latency_result(i, *percentile, *at_most_ms, *from, *until)
                }
                Expect::RecoveredAtLeast(n) => CheckResult {
                    name: format!("recovered_at_least {n}"),
                    ok: self.recoveries >= *n,
                    detail: format!("{} restart(s) recovered queued mail", self.recoveries),
                },
                Expect::LinkStateConverges { within_ms } | Expect::DirectoryConverges { within_ms } => {
                    self.convergence_result(i, e, *within_ms)
                }
                Expect::PublicFoldersConverge(at) => self.public_convergence_result(i, *at),
                Expect::OabClientsCurrent { at, name, .. } => {
                    let when = Duration::from_ms(at.as_ms());
                    let detail = self.convergence_detail.get(&i).cloned();
                    CheckResult {
                        name: format!("oab_clients_current {name} at {when}"),
                        ok: self.deadline_results.get(&i).is_some_and(|r| r.0),
                        detail: detail.unwrap_or_else(|| format!("the run ends before {when}")),
                    }
                }
                Expect::LinkStateMessages { at_least, at_most } => {
                    let (seen, bounds) = (link_state_messages, bounds(*at_least, *at_most));
                    CheckResult {
                        name: format!("link_state_messages {bounds}"),
                        ok: within(seen, *at_least, *at_most),
                        detail: format!("{seen} link state message(s) sent"),
                    }
                }
                _ => self.counted_result(i, e, ledger),
            });
        }
        results
    }

    /// Expectations on how often something happened (in a window, when they have one).
    fn counted_result(&self, i: usize, e: &Expect, ledger: &RecipientLedger) -> CheckResult {
        let seen = self.window_counts[i];
        let window = |from: &Instant, until: &Instant| {
            format!("{}..{}", Duration::from_ms(from.as_ms()), Duration::from_ms(until.as_ms()))
        };
        let (name, ok, detail) = match e {
            Expect::TransferredVia { name, at_least, at_most, from, until, .. } => {
                let kind = format!("transferred_via {name} {} in {}", bounds(*at_least, *at_most), window(from, until));
                (kind, within(seen, *at_least, *at_most), format!("{seen} transfer(s)"))
            }
            Expect::RelayedTo { name, at_least, at_most, from, until, .. } => {
                let kind = format!("relayed_to {name} {} in {}", bounds(*at_least, *at_most), window(from, until));
                (kind, within(seen, *at_least, *at_most), format!("{seen} message(s) relayed"))
            }
            Expect::UnreachableAtLeast { count, from, until } | Expect::UnreachableAtMost { count, from, until } => {
                let (kind, ok) = match e {
                    Expect::UnreachableAtLeast { .. } => ("at_least", seen >= *count),
                    _ => ("at_most", seen <= *count),
                };
                let name = format!("unreachable_{kind} {count} in {}", window(from, until));
                (name, ok, format!("{seen} queue entr(ies) unreachable"))
            }
            Expect::DeliveredTo { name, at_least, at_most, .. } => {
                let name = format!("delivered_to {name} {}", bounds(*at_least, *at_most));
                (name, within(seen, *at_least, *at_most), format!("{seen} message(s) delivered"))
            }
            Expect::PublicFolderRefusals { name, at_least, at_most, .. } => {
                let kind = format!("public_folder_refusals {name} {}", bounds(*at_least, *at_most));
                (kind, within(seen, *at_least, *at_most), format!("{seen} post(s) and open(s) refused"))
            }
            Expect::PublicFolderReads { name, at_least, at_most, .. } => {
                let kind = format!("public_folder_reads {name} {}", bounds(*at_least, *at_most));
                (kind, within(seen, *at_least, *at_most), format!("{seen} open(s)"))
            }
            Expect::PublicFolderBackfill { name, at_least, at_most, .. } => {
                let kind = format!("public_folder_backfill {name} {}", bounds(*at_least, *at_most));
                (kind, within(seen, *at_least, *at_most), format!("{seen} backfill request(s)"))
            }
            Expect::OabHolds { name, at, present, .. } => {
                let when = Duration::from_ms(at.as_ms());
                let kind = format!("oab_holds {name} {} at {when}", if *present { "present" } else { "absent" });
                let (ok, detail) = match seen {
                    0 => (false, format!("no generation finished by {when}")),
                    s => {
                        let held = s == 2;
                        (
                            held == *present,
                            format!("the last generation by {when} {}", if held { "holds it" } else { "lacks it" }),
                        )
                    }
                };
                (kind, ok, detail)
            }
            Expect::OabLegacy { name, at, outcome, .. } => {
                let when = Duration::from_ms(at.as_ms());
                let kind = format!("oab_legacy {name} {} at {when}", outcome.as_str());
                let (ok, detail) = match seen.checked_sub(1).and_then(|k| LEGACY_KINDS.get(k as usize)) {
                    None => (false, format!("no generation finished by {when}")),
                    Some(got) => (got == outcome, format!("the last generation by {when}: {}", got.as_str())),
                };
                (kind, ok, detail)
            }
            Expect::GcFailovers { at_least, at_most }
            | Expect::CategorizerRetries { at_least, at_most }
            | Expect::OutOfOfficeReplies { at_least, at_most } => {
                let (kind, unit, seen) = match e {
                    Expect::GcFailovers { .. } => {
                        ("gc_failovers", "time(s) a GC did not answer and the categorizer turned to another", seen)
                    }
                    Expect::CategorizerRetries { .. } => {
                        ("categorizer_retries", "message(s) put in categorizer retry", seen)
                    }
                    _ => ("out_of_office_replies", "Out of Office repl(ies)", ledger.counts.oof_messages),
                };
                let name = format!("{kind} {}", bounds(*at_least, *at_most));
                (name, within(seen, *at_least, *at_most), format!("{seen} {unit}"))
            }
            _ => unreachable!("results() judges the others"),
        };
        CheckResult { name, ok, detail }
    }

    /// A delivery latency percentile over client mail submitted in a window.
    fn latency_result(&self, i: usize, percentile: f64, at_most_ms: u64, from: Instant, until: Instant) -> CheckResult {
        let mut seen = self.latencies.get(&i).cloned().unwrap_or_default();
        seen.sort_unstable();
        let value = (!seen.is_empty()).then(|| {
            let rank = ((seen.len() as f64 * percentile / 100.0).ceil() as usize).clamp(1, seen.len());
            seen[rank - 1]
        });
        CheckResult {
            name: format!(
                "delivery_latency p{percentile} <= {} for mail submitted in {}..{}",
                Duration::from_ms(at_most_ms),
                Duration::from_ms(from.as_ms()),
                Duration::from_ms(until.as_ms())
            ),
            ok: value.is_some_and(|v| v <= at_most_ms),
            detail: match value {
                Some(v) => format!("p{percentile} {} over {} deliveries", Duration::from_ms(v), seen.len()),
                None => "no deliveries in the window".into(),
            },
        }
    }

    /// The public stores agreeing at `at`.
    fn public_convergence_result(&self, i: usize, at: Instant) -> CheckResult {
        let when = Duration::from_ms(at.as_ms());
        let detail = match self.deadline_results.get(&i) {
            None => format!("the run ends before {when}"),
            Some((true, _)) => {
                "every store held one hierarchy, every replica of each folder one CNSet and content".into()
            }
            Some((false, _)) => self.convergence_detail.get(&i).cloned().unwrap_or_default(),
        };
        let ok = self.deadline_results.get(&i).is_some_and(|r| r.0);
        CheckResult { name: format!("public_folders_converge at {when}"), ok, detail }
    }

    /// Link state or the directory agreeing everywhere, judged `within_ms` after the
    /// last fault.
    fn convergence_result(&self, i: usize, e: &Expect, within_ms: u64) -> CheckResult {
        let at = self.last_fault.plus_ms(within_ms);
        let reached = self.deadline_results.get(&i).copied();
        let (kind, agreed) = match e {
            Expect::LinkStateConverges { .. } => ("link_state_converges", "every running server had the same table"),
            _ => ("directory_converges", "every replica of each domain held the same objects and versions"),
        };
        CheckResult {
            name: format!(
                "{kind} within {} of the last fault ({})",
                Duration::from_ms(within_ms),
                Duration::from_ms(self.last_fault.as_ms())
            ),
            ok: reached.is_some_and(|r| r.0),
            detail: match reached {
                None => format!("the run ends before {}, when convergence is judged", Duration::from_ms(at.as_ms())),
                Some((true, _)) => format!("{agreed} at {}", Duration::from_ms(at.as_ms())),
                Some((false, _)) => format!(
                    "at {}: {}",
                    Duration::from_ms(at.as_ms()),
                    self.convergence_detail.get(&i).cloned().unwrap_or_default()
                ),
            },
        }
    }
}

/// Whether a count is inside an expectation's bounds.
pub(super) fn within(seen: u64, at_least: Option<u64>, at_most: Option<u64>) -> bool {
    at_least.is_none_or(|lo| seen >= lo) && at_most.is_none_or(|hi| seen <= hi)
}

/// `lo..=hi`, `>= lo` or `<= hi`, as check names show bounds.
pub(super) fn bounds(at_least: Option<u64>, at_most: Option<u64>) -> String {
    match (at_least, at_most) {
        (Some(lo), Some(hi)) => format!("{lo}..={hi}"),
        (Some(lo), None) => format!(">= {lo}"),
        (None, Some(hi)) => format!("<= {hi}"),
        (None, None) => "any".into(),
    }
}

/// Whether a version 4 file holds `value` as a whole string value (the SMTP address, or
/// a proxy `SMTP:address`): null-terminated, after a terminator, a presence byte or a
/// type prefix.
fn holds_value(full: &[u8], value: &[u8]) -> bool {
    let lower = value.to_ascii_lowercase();
    full.windows(lower.len() + 1).enumerate().any(|(i, w)| {
        w[lower.len()] == 0
            && w[..lower.len()].eq_ignore_ascii_case(&lower)
            && (i == 0 || matches!(full[i - 1], 0 | b':') || full[i - 1] < 0x20)
    })
}
