//! Planted bugs: deliberate defects compiled into the components, each off unless a run
//! switches it on (`--plant NAME`). They test the tester: every one must make some check
//! of the CI scenario set fail (`orgsim score`). Off, a bug costs one bit test.

use serde::Serialize;

/// Declares the planted bugs from one table: each variant with its `--plant` name and its
/// description (the doc comment, also what `orgsim score --help` lists).
macro_rules! planted_bugs {
    ($( #[doc = $doc:literal] $variant:ident = $name:literal, )*) => {
        /// One planted bug.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        pub enum PlantedBug {
            $( #[doc = $doc] $variant, )*
        }

        impl PlantedBug {
            /// Every planted bug.
            pub const ALL: [PlantedBug; [$($name),*].len()] = [$(PlantedBug::$variant),*];

            /// The name used with `--plant`.
            pub fn name(self) -> &'static str {
                match self {
                    $( PlantedBug::$variant => $name, )*
                }
            }

            /// What the bug breaks, in a sentence.
            pub fn description(self) -> &'static str {
                match self {
                    $( PlantedBug::$variant => $doc.trim_ascii_start(), )*
                }
            }
        }
    };
}

planted_bugs! {
    /// SMTP: the receiving side answers 250 before the message is durable.
    AckBeforeDurable = "ack-before-durable",
    /// SMTP: the sending side forgets recipients when it sends the content, not when the 250 comes back.
    DoneOnSend = "done-on-send",
    /// Recovery: a restarted server reloads its queue files but never routes them.
    RecoverySkipsQueues = "recovery-skips-queues",
    /// Queues: messages never expire.
    NoExpiration = "no-expiration",
    /// Routing: connector costs are ignored (fewest connectors wins).
    IgnoresCost = "ignores-cost",
    /// Link state: connectors marked down are still used.
    RoutesOverDownConnectors = "routes-over-down-connectors",
    /// Categorizer: recipients not in the directory are dropped without an NDR.
    UnknownRecipientDropped = "unknown-recipient-dropped",
    /// Queues: mail in "Final destination currently unreachable" is never routed again.
    UnreachableNeverRerouted = "unreachable-never-rerouted",
    /// SMTP: an outbound session that gets no reply waits forever.
    LostSessionTimeout = "lost-session-timeout",
    /// WAN (simulator): links that are down still carry packets.
    WanIgnoresDownLinks = "wan-ignores-down-links",
    /// Categorizer: a message with local and remote recipients is delivered locally to all of them.
    BifurcationCopiesAll = "bifurcation-copies-all",
    /// Link state: a 2003 master applies every connector change, never marking one oscillating.
    NoOscillationDamping = "no-oscillation-damping",
    /// Link state: a table takes any entry that differs from its own, older or not.
    AcceptsStaleLinkState = "accepts-stale-link-state",
    /// Routing: among matching address spaces the cheapest wins, specific or not.
    AddressSpaceCostFirst = "address-space-cost-first",
    /// DNS delivery: an MX host that does not answer fails the attempt; the next MX host is not tried.
    NoMxFailover = "no-mx-failover",
    /// AD replication: an incoming change is stored whatever its version (last writer wins locally), so concurrent changes leave replicas disagreeing.
    AdLastWriterWins = "ad-last-writer-wins",
    /// AD replication: deletions (tombstones) are never sent to replication partners.
    AdTombstonesStayHome = "ad-tombstones-stay-home",
    /// Categorizer: a message's recipients that are not groups are routed at once, before its groups are expanded.
    RoutesBeforeExpansion = "routes-before-expansion",
    /// Categorizer: "accept from authenticated users only" admits anonymous senders.
    RestrictionIgnoresAuthentication = "restriction-ignores-authentication",
    /// Directory: a GC answers from the whole directory as written by now, not from its replica, so it knows of changes that have not replicated to it.
    GcIgnoresReplication = "gc-ignores-replication",
    /// Store: the SP2 size check compares the physical size with the limit, not the logical size (physical less free space).
    SizeLimitOnPhysical = "size-limit-on-physical",
    /// Store: a mailbox over its prohibit-send-and-receive quota still takes mail.
    QuotaIgnored = "quota-ignored",
    /// Store: a dismounted database still takes mail (local delivery does not wait for the mount).
    DeliversToDismounted = "delivers-to-dismounted",
    /// Information Store: soft recovery skips the log replay; what was logged past the checkpoint never reaches the databases.
    SkipsReplay = "skips-replay",
    /// Information Store: a full log disk goes unnoticed; the logs grow past the volume and the databases stay mounted.
    LogDiskFullIgnored = "log-disk-full-ignored",
    /// Restore: hard recovery ignores the logs written since the backup; a database restored with its logs intact comes back as old as its backup.
    RestoreSkipsLaterLogs = "restore-skips-later-logs",
    /// Journaling: the journal data (XEXCH50) is not kept with the message, so the next categorizer journals it again.
    JournalDataDropped = "journal-data-dropped",
    /// Public folders: a change that does not fit a 300 KB replication batch is dropped from the message (backfill must find it).
    PfLosesBatchOverflow = "pf-loses-batch-overflow",
    /// Public folders: backfill requests go out as soon as changes are missed, without the 6/12-hour timeouts.
    PfBackfillWithoutTimeout = "pf-backfill-without-timeout",
    /// Public folders: 2003 servers choose backfill sources by Exchange 2000's rule (newest version first, cost ignored).
    Pf2000SourceRule = "pf-2000-source-rule",
    /// Offline address book: a GC answers OALGen's address list from the whole directory as written by now, not from its replica, so a stale GC still gives a current OAB.
    OabReadsDirectoryNow = "oab-reads-directory-now",
    /// Offline address book: an SP2 server applies SP1's rule when it cannot make the version 2/3a diff, forcing full downloads instead of logging an error and posting nothing.
    OabSp1RulesOnSp2 = "oab-sp1-rules-on-sp2",
    /// Offline address book: the version 4 patch is made against the first full file the generator made instead of the previous one, so from the third generation on a client's chain of diffs no longer rebuilds the server's file.
    OabDiffWrongGeneration = "oab-diff-wrong-generation",
    /// Offline address book: Outlook's 1/8 rule inverted — a client downloads the full OAB when the diffs it needs are small and the diffs when they add up to more than an eighth.
    OabEighthRuleInverted = "oab-eighth-rule-inverted",
    /// SMTP edge: the block list rules are asked for accept-listed clients too, and refuse them.
    DnsblForAcceptListed = "dnsbl-for-accept-listed",
    /// SMTP edge: the recipient filter refuses unknown recipients of authenticated sessions too.
    RecipientFilterForAuthenticated = "recipient-filter-for-authenticated",
    /// SMTP edge: a block list rule's bit mask matches a return code with any of its bits set, not all.
    DnsblMaskAnyBit = "dnsbl-mask-any-bit",
    /// SMTP edge: XEXCH50 is taken from anonymous sessions too, so another organization's Exch50 properties (its SCL) cross without the registry switch.
    Exch50FromAnonymous = "exch50-from-anonymous",
    /// SMTP edge: anonymous senders are resolved to their GAL entries wherever one exists (as if every virtual server resolved anonymous mail).
    ResolvesAnonymousSenders = "resolves-anonymous-senders",
    /// Badmail: a `MaxBadMailFolderSize` of 0 keeps Badmail without limit (as before SP1) instead of discarding it.
    BadmailPreSp1Default = "badmail-pre-sp1-default",
    /// Badmail: the cached folder size counts nothing written since the last rescan, so the cap is passed.
    BadmailCacheIgnoresWrites = "badmail-cache-ignores-writes",
}

impl PlantedBug {
    /// Looks a name up.
    pub fn parse(name: &str) -> Option<PlantedBug> {
        PlantedBug::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Every bug's name and description, one per line, for `--help`.
    pub fn listing() -> String {
        let width = PlantedBug::ALL.iter().map(|b| b.name().len()).max().unwrap_or(0);
        let lines: Vec<String> =
            PlantedBug::ALL.iter().map(|b| format!("  {:<width$}  {}", b.name(), b.description())).collect();
        lines.join("\n")
    }
}

/// The set of bugs switched on for a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Plants(u64);

const _: () = assert!(PlantedBug::ALL.len() <= 64, "a planted bug set is 64 bits");

impl Plants {
    /// No bugs: the real behaviour.
    pub const NONE: Plants = Plants(0);

    /// This set plus one bug.
    pub fn with(self, bug: PlantedBug) -> Plants {
        Plants(self.0 | 1 << bug as u64)
    }

    /// Whether the bug is on.
    #[inline]
    pub fn has(self, bug: PlantedBug) -> bool {
        self.0 & (1 << bug as u64) != 0
    }

    /// The bugs switched on, in declaration order.
    pub fn list(self) -> Vec<PlantedBug> {
        PlantedBug::ALL.into_iter().filter(|b| self.has(*b)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sets_hold_what_was_added() {
        for bug in PlantedBug::ALL {
            assert_eq!(PlantedBug::parse(bug.name()), Some(bug));
        }
        let set = Plants::NONE.with(PlantedBug::NoExpiration).with(PlantedBug::IgnoresCost);
        assert_eq!(set.list(), vec![PlantedBug::NoExpiration, PlantedBug::IgnoresCost]);
        assert!(!Plants::NONE.has(PlantedBug::NoExpiration));
        assert_eq!(PlantedBug::NoExpiration.description(), "Queues: messages never expire.");
        assert!(PlantedBug::listing().contains("  no-expiration "), "{}", PlantedBug::listing());
    }
}
