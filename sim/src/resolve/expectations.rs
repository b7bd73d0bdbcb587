//! The checks section: expectations with their windows and bounds.

use super::*;

/// An NDR code as the transport names it.
fn dsn_code(c: Option<NdrCode>) -> Option<DsnCode> {
    c.map(|c| match c {
        NdrCode::RecipientNotFound => DsnCode::RecipientNotFound,
        NdrCode::MessageTooLarge => DsnCode::MessageTooLarge,
        NdrCode::HopCountExceeded => DsnCode::HopCountExceeded,
        NdrCode::Expired => DsnCode::Expired,
        NdrCode::RoutingError => DsnCode::RoutingError,
        NdrCode::NoRoute => DsnCode::NoRoute,
        NdrCode::HostNotFound => DsnCode::HostNotFound,
        NdrCode::AccessDenied => DsnCode::AccessDenied,
        NdrCode::ExpansionFailed => DsnCode::ExpansionFailed,
        NdrCode::MailboxFull => DsnCode::MailboxFull,
    })
}

impl Resolver<'_> {
    /// The expectations of the checks section, each resolved to what the run counts.
    pub(super) fn expectations(&mut self, ctx: &Context<'_>, org: &Org, people: &People) -> Vec<Expect> {
        let ep = p().key("checks").key("expect");
        let mut expectations = Vec::new();
        for (i, e) in ctx.scenario.checks.expect.iter().enumerate() {
            expectations.extend(self.expectation(ctx, org, people, &ep.index(i), e));
        }
        expectations
    }

    /// One expectation; `None` (with an error) when it names what is not there.
    pub(super) fn expectation(
        &mut self,
        ctx: &Context<'_>,
        org: &Org,
        people: &People,
        at: &JsonPath,
        e: &Expectation,
    ) -> Option<Expect> {
        let duration_ms = ctx.scenario.duration.ms;
        let window = |from: Option<crate::units::Duration>, until: Option<crate::units::Duration>| {
            (Instant(from.map_or(0, |d| d.ms)), Instant(until.map_or(duration_ms, |d| d.ms)))
        };
        let code = dsn_code;
        Some(match e {
            Expectation::AllResolvedBy { at: t0 } => {
                if t0.ms > duration_ms {
                    self.error(&at.key("at"), "the deadline is after the run ends");
                }
                self.workload_stops_before(ctx, &at.key("at"), t0.ms);
                Expect::AllResolvedBy(Instant(t0.ms))
            }
            Expectation::DeliveredAtLeast { count } => Expect::DeliveredAtLeast(*count),
            Expectation::NdrAtLeast { count, code: c } => Expect::NdrAtLeast(*count, code(*c)),
            Expectation::NdrAtMost { count, code: c } => Expect::NdrAtMost(*count, code(*c)),
            Expectation::TransferredVia { queue, at_least, at_most, from, until } => {
                let (from, until) = window(*from, *until);
                self.counted_window(at, *at_least, *at_most, from, until);
                let key = self.transfer_queue(ctx, org, queue, at)?;
                Expect::TransferredVia {
                    queue: key,
                    name: queue.clone(),
                    at_least: *at_least,
                    at_most: *at_most,
                    from,
                    until,
                }
            }
            Expectation::RelayedTo { host, at_least, at_most, from, until } => {
                let (from, until) = window(*from, *until);
                self.counted_window(at, *at_least, *at_most, from, until);
                let h = self.reference(&ctx.names.hosts, "Internet host", host, &at.key("host"))?;
                Expect::RelayedTo {
                    host: HostId(h as u16),
                    name: host.clone(),
                    at_least: *at_least,
                    at_most: *at_most,
                    from,
                    until,
                }
            }
            Expectation::UnreachableAtLeast { count, from, until } => {
                let (from, until) = window(*from, *until);
                Expect::UnreachableAtLeast { count: *count, from, until }
            }
            Expectation::UnreachableAtMost { count, from, until } => {
                let (from, until) = window(*from, *until);
                Expect::UnreachableAtMost { count: *count, from, until }
            }
            Expectation::RecoveredAtLeast { count } => Expect::RecoveredAtLeast(*count),
            Expectation::DeliveredTo { recipient, at_least, at_most } => {
                self.counted_window(at, *at_least, *at_most, Instant::ZERO, Instant::ZERO);
                let found = self.lookup_recipient(&people.book, recipient, &at.key("recipient"));
                let id = found?;
                Expect::DeliveredTo { recipient: id, name: recipient.clone(), at_least: *at_least, at_most: *at_most }
            }
            Expectation::PublicFolderBackfill { store, source, at_least, at_most } => {
                self.counted_window(at, *at_least, *at_most, Instant::ZERO, Instant::ZERO);
                let names = &ctx.public.store_names;
                let asking = self.reference(names, "public store", store, &at.key("store"));
                let asked = self.reference(names, "public store", source, &at.key("source"));
                let (asking, asked) = (asking?, asked?);
                Expect::PublicFolderBackfill {
                    server: ctx.public.stores[asking].server,
                    source: org::public_folders::cn_set::ReplicaId(asked as u16),
                    name: format!("{store} <- {source}"),
                    at_least: *at_least,
                    at_most: *at_most,
                }
            }
            Expectation::PublicFolderRefusals { server, reason, at_least, at_most } => {
                self.counted_window(at, *at_least, *at_most, Instant::ZERO, Instant::ZERO);
                let client = self.reference(&org.servers, "server", server, &at.key("server"));
                Expect::PublicFolderRefusals {
                    server: ServerId(client? as u16),
                    reason: reason.to_org(),
                    name: format!("{server} {}", reason.to_org().as_str()),
                    at_least: *at_least,
                    at_most: *at_most,
                }
            }
            Expectation::PublicFolderReads { server, served_by, at_least, at_most } => {
                self.counted_window(at, *at_least, *at_most, Instant::ZERO, Instant::ZERO);
                let client = self.reference(&org.servers, "server", server, &at.key("server"));
                let by = if served_by.eq_ignore_ascii_case("none") {
                    Some(None)
                } else {
                    let by = self.reference(&org.servers, "server", served_by, &at.key("served_by"));
                    by.map(|s| Some(ServerId(s as u16)))
                };
                Expect::PublicFolderReads {
                    server: ServerId(client? as u16),
                    served_by: by?,
                    name: format!("{server} -> {served_by}"),
                    at_least: *at_least,
                    at_most: *at_most,
                }
            }
            Expectation::OabHolds { oab, recipient, at: when, present } => {
                self.oab_holds(ctx, org, people, at, (oab, recipient, *when, *present))?
            }
            Expectation::OabClientsCurrent { oab, at: when } => {
                let index = self.oab_named(ctx, oab, *when, at)?;
                if ctx.scenario.offline_address_books[index].clients.is_empty() {
                    self.error(&at.key("oab"), format!("{oab:?} has no clients"));
                }
                Expect::OabClientsCurrent {
                    oab: org::system_attendant::oal_generation::OabId(index as u16),
                    at: Instant(when.ms),
                    name: oab.clone(),
                }
            }
            Expectation::OabLegacy { oab, at: when, outcome } => {
                let index = self.oab_named(ctx, oab, *when, at)?;
                Expect::OabLegacy {
                    oab: org::system_attendant::oal_generation::OabId(index as u16),
                    at: Instant(when.ms),
                    outcome: *outcome,
                    name: oab.clone(),
                }
            }
            Expectation::GcFailovers { at_least, at_most } => {
                self.counted_window(at, *at_least, *at_most, Instant::ZERO, Instant::ZERO);
                Expect::GcFailovers { at_least: *at_least, at_most: *at_most }
            }
            Expectation::OutOfOfficeReplies { at_least, at_most } => {
                self.counted_window(at, *at_least, *at_most, Instant::ZERO, Instant::ZERO);
                Expect::OutOfOfficeReplies { at_least: *at_least, at_most: *at_most }
            }
            Expectation::CategorizerRetries { at_least, at_most } => {
                self.counted_window(at, *at_least, *at_most, Instant::ZERO, Instant::ZERO);
                Expect::CategorizerRetries { at_least: *at_least, at_most: *at_most }
            }
            Expectation::LinkStateConverges { within } => Expect::LinkStateConverges { within_ms: within.ms },
            Expectation::PublicFoldersConverge { at: by } => {
                if ctx.public.stores.is_empty() {
                    self.error(at, "public_folders_converge needs a public store");
                }
                if by.ms > ctx.scenario.duration.ms {
                    self.error(&at.key("at"), format!("{by} is after the run ends ({})", ctx.scenario.duration));
                }
                Expect::PublicFoldersConverge(Instant(by.ms))
            }
            Expectation::DirectoryConverges { within } => {
                if !ctx.replicating {
                    self.error(at, "directory_converges needs topology.ad_replication");
                }
                Expect::DirectoryConverges { within_ms: within.ms }
            }
            Expectation::LinkStateMessages { at_least, at_most } => {
                if at_least.is_none() && at_most.is_none() {
                    self.error(at, "expected \"at_least\", \"at_most\" or both");
                }
                Expect::LinkStateMessages { at_least: *at_least, at_most: *at_most }
            }
            Expectation::DeliveryLatencyAtMost { percentile, at_most, from, until } => {
                if !(percentile.is_finite() && (0.0..=100.0).contains(percentile)) {
                    self.error(&at.key("percentile"), "expected a percentile from 0 to 100");
                }
                let (from, until) = window(*from, *until);
                Expect::LatencyAtMost { percentile: *percentile, at_most_ms: at_most.ms, from, until }
            }
        })
    }

    /// The link queue a `transferred_via` names: a connector, an SMTP or X.400
    /// connector, a server of the same routing group, or an external domain.
    fn transfer_queue(&mut self, ctx: &Context<'_>, org: &Org, queue: &str, at: &JsonPath) -> Option<QueueKey> {
        let gateway = org.gateways.iter().position(|g| Names::fold(&g.name) == Names::fold(queue));
        let domain = org.external.domains.iter().position(|d| d.eq_ignore_ascii_case(queue));
        if let Some(c) = ctx.names.connectors.get(queue) {
            Some(QueueKey::Link(NextHop::Connector(ConnectorId(c as u16))))
        } else if let Some(g) = gateway {
            Some(QueueKey::Link(NextHop::Gateway(GatewayId(g as u16))))
        } else if let Some(s) = org.servers.get(queue) {
            Some(QueueKey::Link(NextHop::Server(ServerId(s as u16))))
        } else if let Some(d) = domain {
            Some(QueueKey::Link(NextHop::RemoteDomain(DomainId(d as u16))))
        } else {
            self.error(
                &at.key("queue"),
                format!("expected a connector, server or external domain name, found {queue:?}"),
            );
            None
        }
    }

    /// An expectation that counts events in a window needs a bound and a window that
    /// does not end before it starts.
    pub(super) fn counted_window(
        &mut self,
        at: &JsonPath,
        at_least: Option<u64>,
        at_most: Option<u64>,
        from: Instant,
        until: Instant,
    ) {
        if at_least.is_none() && at_most.is_none() {
            self.error(at, "expected \"at_least\", \"at_most\" or both");
        }
        if from > until {
            self.error(&at.key("until"), "the window ends before it starts");
        }
    }
}

impl Resolver<'_> {
    /// An `all_resolved_by` deadline needs the clients to stop sending before it: mail
    /// submitted a moment before the deadline cannot be resolved by then, so the check
    /// would fail on whichever seed happens to submit late.
    fn workload_stops_before(&mut self, ctx: &Context<'_>, at: &JsonPath, deadline_ms: u64) {
        let Some(w) = ctx.scenario.workload.as_ref() else { return };
        if w.sends_per_user_per_day <= 0.0 {
            return;
        }
        let until_ms = w.until.map_or(ctx.scenario.duration.ms, |d| d.ms);
        if until_ms >= deadline_ms {
            let until = crate::units::Duration { ms: until_ms };
            self.error(
                at,
                format!(
                    "clients send until {until} (workload.until, the run's end by default), so mail submitted \
                     just before this deadline cannot be resolved by it; stop the workload before the deadline"
                ),
            );
        }
    }
}

impl Resolver<'_> {
    /// The index of the OAB an expectation names, at a moment within the run.
    fn oab_named(
        &mut self,
        ctx: &Context<'_>,
        oab: &str,
        when: crate::units::Duration,
        at: &JsonPath,
    ) -> Option<usize> {
        let oabs = &ctx.scenario.offline_address_books;
        let index = oabs.iter().position(|o| Names::fold(&o.name) == Names::fold(oab));
        if index.is_none() {
            let known: Vec<&str> = oabs.iter().map(|o| o.name.as_str()).collect();
            self.error(&at.key("oab"), format!("no offline address book named {oab:?} (known: {})", known.join(", ")));
        }
        if when.ms > ctx.scenario.duration.ms {
            self.error(&at.key("at"), format!("expected a moment within the run ({})", ctx.scenario.duration));
        }
        index
    }

    /// `oab_holds`: the OAB, generated on an SP2 server (the check reads its version 4
    /// file), and the recipient's address the record carries.
    fn oab_holds(
        &mut self,
        ctx: &Context<'_>,
        org: &Org,
        people: &People,
        at: &JsonPath,
        (oab, recipient, when, present): (&str, &str, crate::units::Duration, bool),
    ) -> Option<Expect> {
        let index = self.oab_named(ctx, oab, when, at);
        let id = self.lookup_recipient(&people.book, recipient, &at.key("recipient"));
        let index = index?;
        let oabs = &ctx.scenario.offline_address_books;
        let server = org.servers.get(&oabs[index].server)?;
        if org.server_configs[server].version < org::version::ExchangeVersion::Exchange2003Sp2 {
            let message = "oab_holds reads the version 4 file, which only an SP2 generation server writes";
            self.error(&at.key("oab"), message);
            return None;
        }
        let address = people.book.addresses[id?.0 as usize].clone();
        Some(Expect::OabHolds {
            oab: org::system_attendant::oal_generation::OabId(index as u16),
            address,
            at: Instant(when.ms),
            present,
            name: format!("{oab} {recipient}"),
        })
    }
}
