//! Checks: invariants, sometimes-assertions, expectations, and report settings.

use super::*;

/// Safety invariants that run during the whole run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Invariant {
    /// Every accepted recipient is delivered, NDR'd or still queued durably — never lost.
    NoLoss,
    /// No recipient gets the same message twice.
    NoDuplicateDelivery,
    /// No copy of a message comes back to a server it left.
    NoRoutingLoop,
    /// Every routing decision follows a least-cost route over the connectors up in the
    /// deciding server's own link state table, and never a connector that table marks
    /// down.
    LeastCostRouting,
    /// Link state versions only move forward: no running server's table goes back to an
    /// older version of a routing group's entry, and one version of an entry has the
    /// same contents (master, connectors down) on every server.
    LinkStateVersions,
    /// The categorizer routes nothing of a message while its groups are being expanded:
    /// the complete recipient set comes first (EXCHANGE2003.md §2).
    ExpansionBeforeRouting,
    /// SP2's daily size check judges a database by its logical size on disk (physical
    /// less free space): a warning within the buffer of the limit, a dismount at it —
    /// never one under it, and no database left mounted over it (EXCHANGE2003.md §7).
    DatabaseSizeLimit,
    /// A dismounted database takes no mail: nothing is delivered into it between its
    /// dismount and its next mount (EXCHANGE2003.md §7).
    DismountedTakesNoMail,
    /// A storage group's log files never outgrow their log disk: when the next file has
    /// no room, the reserve logs finish what is in flight and the databases dismount
    /// (EXCHANGE2003.md §7).
    LogDiskCapacity,
    /// Journaling: every message delivered to a mailbox on a journaling store has a
    /// journal report to that store's journal mailbox, and no message gets two reports
    /// for one journal (EXCHANGE2003.md §3.2).
    JournalOnce,
    /// Storage limits are honoured: no copy goes into a mailbox at or over its "prohibit
    /// send and receive" limit, allowing for the store's 2-hour quota cache
    /// (EXCHANGE2003.md §7).
    QuotaHonoured,
    /// Public folders: a change a public store made durable is never lost — the stores
    /// holding a live folder (or the hierarchy) hold every change number of it ever held
    /// (EXCHANGE2003.md §8).
    PfChangesKept,
    /// Public folders: no backfill request goes out before its timeouts (6, 12, 24 hours
    /// from a source in the local site; 12, 24, 48 from a remote one; §8).
    PfBackfillTimeouts,
    /// Public folders: while SP2's organization-wide stop is on, no content replicates;
    /// only the hierarchy does (§8).
    PfHierarchyOnlyWhileStopped,
    /// Offline address book clients: every download, rebuilt from the server's files
    /// (the client's full file, then each diff in order from the sequence it held), is
    /// byte for byte the server's full file of the sequence reached; never a diff out of
    /// sequence (EXCHANGE2003.md §9).
    OabDownloadApplies,
    /// Offline address book clients: a full download only when needed (no file yet, a
    /// diff missing, or the diffs over an eighth of the full file), diffs only within
    /// the eighth (§9).
    OabFullOnlyWhenNeeded,
    /// The SMTP edge: every refusal is one its filter step must make, with its reply
    /// code, and nothing an anonymous session gets accepted passes an enabled filter that
    /// should have stopped it or relays without permission (EXCHANGE2003.md §3.1).
    EdgeFiltersEnforced,
    /// XEXCH50: no Exch50 blob is kept from an anonymous session unless the receiving
    /// server's `Exch50AuthCheckEnabled` is off (EXCHANGE2003.md §6).
    Exch50Trusted,
    /// Sender display: no message from an anonymous session shows its sender as a GAL
    /// entry unless its virtual server resolves anonymous mail (EXCHANGE2003.md §6).
    AnonymousSendersUnresolved,
    /// Badmail: written only as `MaxBadMailFolderSize` allows (never at SP1's default of
    /// 0; under a cap only while the folder as last measured is below it), and each
    /// rescan finds what writes and purges left (EXCHANGE2003.md §3.3).
    BadmailAsConfigured,
}

impl Invariant {
    /// The check's name in results.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::NoLoss => "no_loss",
            Invariant::NoDuplicateDelivery => "no_duplicate_delivery",
            Invariant::NoRoutingLoop => "no_routing_loop",
            Invariant::LeastCostRouting => "least_cost_routing",
            Invariant::LinkStateVersions => "link_state_versions",
            Invariant::ExpansionBeforeRouting => "expansion_before_routing",
            Invariant::DatabaseSizeLimit => "database_size_limit",
            Invariant::DismountedTakesNoMail => "dismounted_takes_no_mail",
            Invariant::LogDiskCapacity => "log_disk_capacity",
            Invariant::JournalOnce => "journal_once",
            Invariant::QuotaHonoured => "quota_honoured",
            Invariant::EdgeFiltersEnforced => "edge_filters_enforced",
            Invariant::Exch50Trusted => "exch50_trusted",
            Invariant::AnonymousSendersUnresolved => "anonymous_senders_unresolved",
            Invariant::BadmailAsConfigured => "badmail_as_configured",
            Invariant::PfChangesKept => "pf_changes_kept",
            Invariant::PfBackfillTimeouts => "pf_backfill_timeouts",
            Invariant::PfHierarchyOnlyWhileStopped => "pf_hierarchy_only_while_stopped",
            Invariant::OabDownloadApplies => "oab_download_applies",
            Invariant::OabFullOnlyWhenNeeded => "oab_full_only_when_needed",
        }
    }
}

/// A situation a scenario says it explores (a *sometimes* property): counted in a run,
/// judged across a sweep, which fails when no seed reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sometimes {
    /// Queued mail moved from one link queue to another because its route changed.
    Rerouted,
    /// A routing group master marked a connector down.
    ConnectorMarkedDown,
    /// A 2003 master left a reported change out of its table (the only path kept up, or
    /// an oscillating connector damped).
    ChangeSuppressed,
    /// A link queue went to Retry after failed connections.
    QueueRetry,
    /// Mail waited in "Final destination currently unreachable".
    Unreachable,
    /// A server crashed with writes not yet durable, which died with it.
    CrashLostUnflushed,
    /// A restarted server recovered queued mail from its disk.
    Recovered,
    /// A DNS server or an MX host did not answer and the next one was tried.
    DnsFailover,
    /// A GC did not answer and the categorizer turned to another.
    GcFailover,
    /// A message waited in categorizer retry.
    CategorizerRetry,
}

impl Sometimes {
    /// The property's name in results.
    pub fn name(self) -> &'static str {
        match self {
            Sometimes::Rerouted => "rerouted",
            Sometimes::ConnectorMarkedDown => "connector_marked_down",
            Sometimes::ChangeSuppressed => "change_suppressed",
            Sometimes::QueueRetry => "queue_retry",
            Sometimes::Unreachable => "unreachable",
            Sometimes::CrashLostUnflushed => "crash_lost_unflushed",
            Sometimes::Recovered => "recovered",
            Sometimes::DnsFailover => "dns_failover",
            Sometimes::GcFailover => "gc_failover",
            Sometimes::CategorizerRetry => "categorizer_retry",
        }
    }
}

/// An enhanced status code in an expectation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum NdrCode {
    /// Recipient not in the directory.
    #[serde(rename = "5.1.1")]
    RecipientNotFound,
    /// Message over a size limit.
    #[serde(rename = "5.2.3")]
    MessageTooLarge,
    /// Hop count exceeded.
    #[serde(rename = "4.4.6")]
    HopCountExceeded,
    /// Expired in a queue.
    #[serde(rename = "4.4.7")]
    Expired,
    /// A DNS connector with a non-SMTP address space.
    #[serde(rename = "4.4.9")]
    RoutingError,
    /// No address space matches.
    #[serde(rename = "5.0.0")]
    NoRoute,
    /// No mail host in DNS for the domain.
    #[serde(rename = "5.4.0")]
    HostNotFound,
    /// A restricted recipient refused the sender.
    #[serde(rename = "5.7.1")]
    AccessDenied,
    /// A query-based group could not be expanded.
    #[serde(rename = "5.2.4")]
    ExpansionFailed,
    /// The recipient's mailbox is over its prohibit-send-and-receive quota.
    #[serde(rename = "5.2.2")]
    MailboxFull,
}

/// What a run must show.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Expectation {
    /// By `at`, every accepted recipient (client mail and NDRs) is delivered or NDR'd.
    AllResolvedBy {
        /// The deadline.
        at: Duration,
    },
    /// At least `count` recipients of client mail delivered by the end.
    DeliveredAtLeast {
        /// How many.
        count: u64,
    },
    /// At least `count` recipients NDR'd (with `code`, if given).
    NdrAtLeast {
        /// How many.
        count: u64,
        /// Only this code.
        #[serde(default)]
        code: Option<NdrCode>,
    },
    /// At most `count` recipients NDR'd (with `code`, if given).
    NdrAtMost {
        /// How many.
        count: u64,
        /// Only this code.
        #[serde(default)]
        code: Option<NdrCode>,
    },
    /// Transfers out of the named link queue (a connector or a server) between `from`
    /// and `until` are at least `at_least` and at most `at_most`: proof that a path was,
    /// or was not, used.
    TransferredVia {
        /// Connector name or server name.
        queue: String,
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
        /// Window start (run start by default).
        #[serde(default)]
        from: Option<Duration>,
        /// Window end (run end by default).
        #[serde(default)]
        until: Option<Duration>,
    },
    /// Liveness: within `within` of the run's last fault or directory change, every
    /// replica of each domain holds the same objects and versions.
    DirectoryConverges {
        /// The bound.
        within: Duration,
    },
    /// Liveness: at `at`, every public store holds the same hierarchy and every replica
    /// of each folder (only the stores on its replica list) the same CNSet and content.
    PublicFoldersConverge {
        /// When it is judged.
        at: Duration,
    },
    /// Messages relayed to the named host beyond the organization (an MX host, smart
    /// host or foreign MTA) between `from` and `until` are at least `at_least` and at
    /// most `at_most`: proof of MX preference, load sharing and failover.
    RelayedTo {
        /// Host name.
        host: String,
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
        /// Window start (run start by default).
        #[serde(default)]
        from: Option<Duration>,
        /// Window end (run end by default).
        #[serde(default)]
        until: Option<Duration>,
    },
    /// Client messages delivered to one recipient (a user's alias or address) are at
    /// least `at_least` and at most `at_most`: proof that a group reached, or did not
    /// reach, a member.
    DeliveredTo {
        /// Alias or address.
        recipient: String,
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
    },
    /// Backfill requests a public store sent to another (its source), within bounds:
    /// proof of the source rule (2003: cost first; 2000: newest version first).
    PublicFolderBackfill {
        /// The public store asking.
        store: String,
        /// The public store asked.
        source: String,
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
    },
    /// Folder opens by clients of `server` served by `served_by` (the server itself when
    /// it holds a replica, a referral otherwise; `none`: no server could be reached),
    /// within bounds.
    PublicFolderReads {
        /// The clients' server.
        server: String,
        /// The server that served them, or `none`.
        served_by: String,
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
    },
    /// Posts and opens by clients of `server` the public store refused for `reason`
    /// (`no_folder`, `no_replica_here`, `access_denied`), within bounds.
    PublicFolderRefusals {
        /// The clients' server.
        server: String,
        /// Why.
        reason: PfRefusalDef,
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
    },
    /// The offline address book's last generation finished by `at` holds a record of
    /// `recipient` (`present`, the default) or lacks one — what clients downloading it
    /// would find. Needs an SP2 generation server (it reads the version 4 file).
    OabHolds {
        /// The offline address book.
        oab: String,
        /// The recipient's alias or address.
        recipient: String,
        /// The moment.
        at: Duration,
        /// Whether the record is there.
        #[serde(default = "defaults::yes")]
        present: bool,
    },
    /// What the OAB's last generation by `at` did for versions 2 and 3a: `first_full`,
    /// `diff`, `forced_full` (clients must download full files) or `no_update` (SP2
    /// without `post_full_if_diff_fails`: nothing posted).
    OabLegacy {
        /// The offline address book.
        oab: String,
        /// The moment.
        at: Duration,
        /// The outcome.
        outcome: LegacyOutcomeKind,
    },
    /// Every cached-mode client of the OAB is current: each downloads once every calendar
    /// day, so a file generated on one day reaches every client that can reach a replica
    /// by the end of the next; at `at`, every client holds the sequence that was newest
    /// at the last midnight a day or more before `at`, or a newer one.
    OabClientsCurrent {
        /// The offline address book.
        oab: String,
        /// The moment.
        at: Duration,
    },
    /// Times a GC did not answer the categorizer (a lookup or an expansion page) and it
    /// turned to another GC, starting its work again, within bounds.
    GcFailovers {
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
    },
    /// Out of Office replies sent, within bounds.
    OutOfOfficeReplies {
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
    },
    /// Messages put in categorizer retry because no GC answered, within bounds.
    CategorizerRetries {
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
    },
    /// At least `count` times mail was queued as "Final destination currently
    /// unreachable" between `from` and `until`.
    UnreachableAtLeast {
        /// How many queue entries.
        count: u64,
        /// Window start.
        #[serde(default)]
        from: Option<Duration>,
        /// Window end.
        #[serde(default)]
        until: Option<Duration>,
    },
    /// At most `count` times mail was queued as "Final destination currently
    /// unreachable" between `from` and `until` (2003 keeps an only path up: mail waits
    /// in the connector's queue instead).
    UnreachableAtMost {
        /// How many queue entries.
        count: u64,
        /// Window start.
        #[serde(default)]
        from: Option<Duration>,
        /// Window end.
        #[serde(default)]
        until: Option<Duration>,
    },
    /// Of the client messages submitted between `from` and `until`, the given percentile
    /// of delivery latency is at most `at_most` (an SLA; what a reroute must preserve).
    DeliveryLatencyAtMost {
        /// Percentile, 0–100.
        percentile: f64,
        /// Bound.
        at_most: Duration,
        /// Submitted from (run start by default).
        #[serde(default)]
        from: Option<Duration>,
        /// Submitted until (run end by default).
        #[serde(default)]
        until: Option<Duration>,
    },
    /// At least `count` servers recovered queued mail from disk after a restart.
    RecoveredAtLeast {
        /// How many recoveries with mail.
        count: u64,
    },
    /// Liveness: within `within` of the last fault of the run (fixed or weather), every
    /// running server's link state table holds the same versions.
    LinkStateConverges {
        /// The bound.
        within: Duration,
    },
    /// Link state messages sent organization-wide (updates, replies, reports) over the
    /// whole run are within bounds.
    LinkStateMessages {
        /// Lower bound.
        #[serde(default)]
        at_least: Option<u64>,
        /// Upper bound.
        #[serde(default)]
        at_most: Option<u64>,
    },
}

/// Checks of a run.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// Safety invariants; all by default.
    #[serde(default = "defaults::invariants")]
    pub invariants: Vec<Invariant>,
    /// Expectations.
    #[serde(default)]
    pub expect: Vec<Expectation>,
    /// Situations the scenario's weather should reach at some seed of a sweep.
    #[serde(default)]
    pub sometimes: Vec<Sometimes>,
}

impl Default for Checks {
    fn default() -> Self {
        Checks { invariants: defaults::invariants(), expect: Vec::new(), sometimes: Vec::new() }
    }
}

/// Report settings.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportSettings {
    /// How often queues and WAN links are sampled into the trace.
    #[serde(default = "defaults::sample_interval")]
    pub sample_interval: Duration,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings { sample_interval: defaults::sample_interval() }
    }
}

/// Why a public store refused a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PfRefusalDef {
    /// The folder is not in the hierarchy there.
    NoFolder,
    /// A post to a folder the store holds no replica of.
    NoReplicaHere,
    /// The folder's permissions.
    AccessDenied,
}

impl PfRefusalDef {
    /// The organization model's reason.
    pub fn to_org(self) -> org::public_folders::public_store::PfRefusal {
        use org::public_folders::public_store::PfRefusal;
        match self {
            PfRefusalDef::NoFolder => PfRefusal::NoFolder,
            PfRefusalDef::NoReplicaHere => PfRefusal::NoReplicaHere,
            PfRefusalDef::AccessDenied => PfRefusal::AccessDenied,
        }
    }
}

/// What a generation did for OAB versions 2 and 3a.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LegacyOutcomeKind {
    /// The first generation: full files.
    FirstFull,
    /// A Changes file.
    Diff,
    /// Full files clients must download (no diff could be made).
    ForcedFull,
    /// Nothing posted.
    NoUpdate,
}

impl LegacyOutcomeKind {
    /// The kind of an outcome.
    pub fn of(outcome: &org::system_attendant::oab::oal_generator::LegacyOutcome) -> Self {
        use org::system_attendant::oab::oal_generator::LegacyOutcome;
        match outcome {
            LegacyOutcome::FirstFull => LegacyOutcomeKind::FirstFull,
            LegacyOutcome::Diff => LegacyOutcomeKind::Diff,
            LegacyOutcome::ForcedFull { .. } => LegacyOutcomeKind::ForcedFull,
            LegacyOutcome::NoUpdate { .. } => LegacyOutcomeKind::NoUpdate,
        }
    }

    /// As scenario files write it.
    pub fn as_str(self) -> &'static str {
        match self {
            LegacyOutcomeKind::FirstFull => "first_full",
            LegacyOutcomeKind::Diff => "diff",
            LegacyOutcomeKind::ForcedFull => "forced_full",
            LegacyOutcomeKind::NoUpdate => "no_update",
        }
    }
}
