//! Loads a scenario file and checks it: syntax and types (serde), then every name,
//! reference and range. Errors say `FILE:LINE:COL: JSON-PATH: what was expected`; a file
//! that passes resolves to the id-based organization the world runs.

use crate::json_location::{locate, JsonPath, Locator};
use crate::scenario::Day;
use crate::scenario::{
    bounds, Action, AddressSpaceSpec, AddressType, Expectation, HostRoleSpec, Invariant, NdrCode, Placement, Role,
    Scenario, ServerVersion,
};
use org::calendar::{Weekday, WeeklyHours};
use org::config::topology::{
    ConnectorConfig, ConnectorKind, Delivery, GatewayConfig, HostConfig, HostRole, InternetConfig, LinkStateConfig,
    MtaConfig, MxRecord, RetrySchedule, RoutingGroupConfig, ServerConfig, SmtpVirtualServerConfig, StoreConfig,
    Topology,
};
use org::directory::ad_replication::DcId;
use org::directory::domain_controller::{InboundConnection, Schedule, WindowsVersion, INTRA_SITE_POLL_MS};
use org::directory::global_catalog::{
    AdDomainId, GlobalCatalog, Group, GroupScope, MailboxEntry, Membership, ObjectClass, Recipient, RecipientObject,
    Restriction, MEMBER_ATTRIBUTE,
};
use org::directory::ldap_filter::normalize_dn;
use org::routing::routing_engine::NextHop;
use org::time::Instant;
use org::transport::address_space::{AddressSpace, DomainId, ExternalDirectory, Pattern};
use org::transport::advanced_queuing::QueueKey;
use org::transport::dsn::DsnCode;
use org::version::ExchangeVersion;
use org::{AddressId, ConnectorId, GatewayId, HostId, RoutingGroupId, ServerId, StoreId};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// The most mailboxes a scenario may have: a bound on memory (a generated day of
/// 100,000 mailboxes takes about 1.6 GiB today).
pub const MAX_MAILBOXES: u32 = 1_000_000;

/// One problem in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file as named on the command line.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Where in the document, e.g. `topology.servers[2].routing_group`.
    pub path: String,
    /// What was expected.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}: {}", self.file, self.line, self.column, self.path, self.message)
    }
}

/// All problems found in one file (at least one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioErrors(pub Vec<ScenarioError>);

impl fmt::Display for ScenarioErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScenarioErrors {}

/// A WAN link, resolved.
#[derive(Clone, Debug)]
pub struct LinkSpec {
    /// Name.
    pub name: String,
    /// Site index at one end.
    pub a: usize,
    /// Site index at the other end.
    pub b: usize,
    /// Bits per second each way.
    pub bits_per_s: u64,
    /// One-way latency.
    pub latency_ms: u64,
}

/// At most this many replicas (full and partial): the checks track who holds each
/// write in a 128-bit set.
pub const MAX_REPLICAS: usize = 128;

/// A domain controller, resolved.
#[derive(Clone, Debug)]
pub struct DcSpec {
    /// Name.
    pub name: String,
    /// Index of its domain in `topology.domains`.
    pub domain: usize,
    /// Its site.
    pub site: usize,
    /// Windows version.
    pub version: WindowsVersion,
    /// Connections it pulls over.
    pub inbound: Vec<InboundConnection>,
    /// Intra-site DCs it notifies.
    pub notify_targets: Vec<DcId>,
    /// Recipients an administrator creates or deletes on it, in time order (only with
    /// `topology.ad_replication`: otherwise every GC sees the change at once).
    pub recipient_writes: Vec<(Instant, AddressId, RecipientWrite)>,
    /// The Recipient Update Service bound to it, if one is (only with replication).
    pub rus: Option<RusSpec>,
}

/// What a modification changes.
#[derive(Clone, Debug)]
pub enum ModificationKind {
    /// Attributes, as the scenario wrote them.
    Attributes(std::collections::BTreeMap<String, crate::scenario::AttributeValues>),
    /// A group's members added and removed, as the scenario named them.
    Members {
        /// Added.
        add: Vec<String>,
        /// Removed.
        remove: Vec<String>,
    },
}

impl ModificationKind {
    /// The attributes it writes, as traces name them.
    pub fn attribute_names(&self) -> Vec<String> {
        match self {
            ModificationKind::Attributes(a) => a.keys().cloned().collect(),
            ModificationKind::Members { .. } => vec![org::directory::global_catalog::MEMBER_ATTRIBUTE.to_string()],
        }
    }
}

/// An administrator's change of a recipient object on one DC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecipientWrite {
    /// The object is created (without e-mail addresses: the RUS stamps those).
    Create,
    /// The object is deleted (a tombstone).
    Delete,
}

/// A Recipient Update Service bound to a DC (EXCHANGE2003.md §2): each pass stamps the
/// recipients whose creation that DC holds.
#[derive(Clone, Debug)]
pub struct RusSpec {
    /// Time between passes; passes fall on its multiples.
    pub interval_ms: u64,
    /// Recipients of its domain created during the run, the ones it may have to stamp.
    pub recipients: Vec<AddressId>,
}

/// A timeline `modify_recipient` or `modify_group`, resolved.
#[derive(Clone, Debug)]
pub struct Modification {
    /// The recipient (a group for a membership change).
    pub recipient: AddressId,
    /// What changes, as the scenario wrote it.
    pub change: ModificationKind,
    /// The DC named in the scenario, if one was.
    pub domain_controller: Option<String>,
    /// The DC the change is written on, when the directory replicates.
    pub dc: Option<DcId>,
    /// The values written, by lower-case attribute name.
    pub written: org::directory::global_catalog::Attributes,
}

/// A global catalog's partial replica of another domain (EXCHANGE2003.md §2).
#[derive(Clone, Debug)]
pub struct PartialReplicaSpec {
    /// The GC holding it.
    pub host: DcId,
    /// The domain it is a replica of.
    pub domain: usize,
    /// Connections it pulls over.
    pub inbound: Vec<InboundConnection>,
}

/// The simulated directory: its DCs.
#[derive(Clone, Debug)]
pub struct DirectorySpec {
    /// Indexed by [`DcId`].
    pub dcs: Vec<DcSpec>,
    /// The GCs' partial replicas of other domains (only with replication).
    pub partials: Vec<PartialReplicaSpec>,
    /// Each replica's name as traces and checks show it, in [`DirectorySpec::replicas`]
    /// order: the DC's, with the domain for a partial replica (`DC-HQ/emea.contoso.com`).
    pub replica_names: Vec<String>,
    /// Whether DCs replicate (`topology.ad_replication`); otherwise they run only as the
    /// global catalogs that expand groups, with no connections.
    pub replicating: bool,
}

impl DirectorySpec {
    /// Every replica, as (host DC, domain): each DC's full replica of its domain (index
    /// = its [`DcId`]), then the partial replicas in order.
    pub fn replicas(&self) -> impl Iterator<Item = (DcId, usize)> + '_ {
        let full = self.dcs.iter().enumerate().map(|(i, d)| (DcId(i as u16), d.domain));
        full.chain(self.partials.iter().map(|p| (p.host, p.domain)))
    }

    /// Number of replicas.
    pub fn replica_count(&self) -> usize {
        self.dcs.len() + self.partials.len()
    }
}

/// Scripted mail (a timeline `send`), resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendSpec {
    /// The server that takes it: the sender's home server, or the `via` server.
    pub server: ServerId,
    /// The sender.
    pub sender: AddressId,
    /// The recipients.
    pub recipients: Vec<AddressId>,
    /// Whether the sender authenticated.
    pub authenticated: bool,
    /// Submitted by MAPI at the sender's home server (no `via`), else over SMTP.
    pub mapi: bool,
    /// Messages.
    pub count: u32,
    /// Size of each.
    pub size_bytes: u64,
}

/// A timeline step the world performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorldAction {
    /// Submit the scripted mail `sends[i]`.
    Send(usize),
    /// `modifications[i]` takes effect (the catalog already reads it from then; the
    /// world traces it, and with replication writes it on its DC).
    ModifyRecipient(usize),
    /// WAN link down.
    LinkDown(usize),
    /// WAN link up.
    LinkUp(usize),
    /// Connector administratively down.
    ConnectorDown(ConnectorId),
    /// Connector up again.
    ConnectorUp(ConnectorId),
    /// Kill a server.
    Crash(ServerId),
    /// Restart a killed server.
    Restart(ServerId),
    /// An administrator names a routing group's master.
    SetMaster(RoutingGroupId, ServerId),
    /// An originating bulk change on a domain controller.
    DirectoryChange {
        /// The DC.
        dc: DcId,
        /// Objects written.
        count: u32,
        /// Attributes per object.
        attributes: u32,
        /// Urgent replication.
        urgent: bool,
        /// Tombstone the objects instead.
        delete: bool,
    },
    /// A DC's clock reads this far off true time (ms; negative: behind).
    ClockSkew(DcId, i64),
    /// A DC stops answering.
    DcDown(DcId),
    /// It answers again.
    DcUp(DcId),
    /// A host beyond the organization stops answering.
    HostDown(HostId),
    /// It answers again.
    HostUp(HostId),
}

/// An action at its instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimedAction {
    /// When.
    pub at: Instant,
    /// What.
    pub action: WorldAction,
}

/// Where a step of a run's concrete timeline came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepSource {
    /// The scenario's fixed timeline.
    Timeline,
    /// Sampled from the scenario's weather for this seed.
    Weather,
}

/// The client load, resolved.
#[derive(Clone, Debug)]
pub struct WorkloadSpec {
    /// Sends per user per day.
    pub sends_per_user_per_day: f64,
    /// Hourly weights normalized to mean 1.
    pub hourly_factor: [f64; 24],
    /// Mean recipients per message (≥ 1).
    pub recipients_per_message: f64,
    /// (size in bytes, cumulative probability).
    pub size_cdf: Vec<(u64, f64)>,
    /// Cumulative shares: same server, same group, anywhere, unknown, external.
    pub choice_cdf: [f64; 5],
    /// First instant clients send.
    pub from: Instant,
    /// Clients stop before this instant.
    pub until: Instant,
    /// The run's calendar (for the hourly profile).
    pub calendar: org::calendar::Calendar,
}

/// An expectation, resolved to ids.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// Everything resolved by this instant.
    AllResolvedBy(Instant),
    /// Delivered client recipients ≥ count.
    DeliveredAtLeast(u64),
    /// NDR'd recipients ≥ count.
    NdrAtLeast(u64, Option<DsnCode>),
    /// NDR'd recipients ≤ count.
    NdrAtMost(u64, Option<DsnCode>),
    /// Transfers out of a link queue in a window, within bounds.
    TransferredVia {
        queue: QueueKey,
        name: String,
        at_least: Option<u64>,
        at_most: Option<u64>,
        from: Instant,
        until: Instant,
    },
    /// Messages relayed to a host in a window, within bounds.
    RelayedTo {
        host: HostId,
        name: String,
        at_least: Option<u64>,
        at_most: Option<u64>,
        from: Instant,
        until: Instant,
    },
    /// Entries queued as unreachable in a window ≥ count.
    UnreachableAtLeast {
        count: u64,
        from: Instant,
        until: Instant,
    },
    UnreachableAtMost {
        count: u64,
        from: Instant,
        until: Instant,
    },
    /// Restarts that recovered mail ≥ count.
    RecoveredAtLeast(u64),
    /// Client messages delivered to one recipient, within bounds.
    DeliveredTo {
        recipient: AddressId,
        name: String,
        at_least: Option<u64>,
        at_most: Option<u64>,
    },
    /// GCs given up by the categorizer, within bounds.
    GcFailovers {
        at_least: Option<u64>,
        at_most: Option<u64>,
    },
    /// Messages put in categorizer retry, within bounds.
    CategorizerRetries {
        at_least: Option<u64>,
        at_most: Option<u64>,
    },
    /// Out of Office replies, within bounds.
    OutOfOfficeReplies {
        at_least: Option<u64>,
        at_most: Option<u64>,
    },
    /// A latency percentile of messages submitted in a window, bounded.
    LatencyAtMost {
        percentile: f64,
        at_most_ms: u64,
        from: Instant,
        until: Instant,
    },
    /// Every domain's replicas agree this long after the last fault.
    DirectoryConverges {
        within_ms: u64,
    },
    /// Every running server's table has the same digest this long after the last fault.
    LinkStateConverges {
        within_ms: u64,
    },
    /// Link state messages sent over the run, within bounds.
    LinkStateMessages {
        at_least: Option<u64>,
        at_most: Option<u64>,
    },
}

/// A checked scenario, ready to run.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The file it came from.
    pub file: String,
    /// The scenario with every default filled in.
    pub scenario: Scenario,
    /// The organization.
    pub topology: Arc<Topology>,
    /// Interned addresses: `AddressId` → text.
    pub addresses: Vec<String>,
    /// Scripted mail of the timeline, indexed by [`WorldAction::Send`].
    pub sends: Vec<SendSpec>,
    /// Recipient changes of the timeline, indexed by [`WorldAction::ModifyRecipient`].
    pub modifications: Vec<Modification>,
    /// Site names.
    pub sites: Vec<String>,
    /// Site of each server.
    pub server_site: Vec<usize>,
    /// Site of each host beyond the organization.
    pub host_site: Vec<usize>,
    /// External addresses clients send to (`recipients.external`).
    pub external_addresses: Vec<AddressId>,
    /// Domain controllers and their replication connections, when the directory is
    /// simulated (`topology.ad_replication`).
    pub directory: Option<DirectorySpec>,
    /// WAN links.
    pub links: Vec<LinkSpec>,
    /// LAN bits per second.
    pub lan_bits_per_s: u64,
    /// LAN one-way latency.
    pub lan_latency_ms: u64,
    /// Mailboxes homed on each server.
    pub mailboxes_by_server: Vec<Vec<AddressId>>,
    /// Addresses in authoritative domains that no recipient has.
    pub unknown_addresses: Vec<AddressId>,
    /// Timeline, in order.
    pub timeline: Vec<TimedAction>,
    /// Randomized faults, sampled per seed.
    pub weather: Option<crate::weather::WeatherSpec>,
    /// Client load.
    pub workload: Option<WorkloadSpec>,
    /// Invariants to run.
    pub invariants: Vec<Invariant>,
    /// Expectations.
    pub expectations: Vec<Expect>,
    /// Run length.
    pub duration_ms: u64,
    /// Sampling interval for queue and link samples.
    pub sample_interval_ms: u64,
}

impl Resolved {
    /// The concrete timeline of a run at `seed`: the fixed steps and the weather's, in
    /// time order (fixed steps first at equal instants).
    pub fn timeline_for(&self, seed: u64) -> Vec<(TimedAction, StepSource)> {
        let mut steps: Vec<(TimedAction, StepSource)> =
            self.timeline.iter().map(|a| (*a, StepSource::Timeline)).collect();
        if let Some(w) = &self.weather {
            steps.extend(w.sample(seed).into_iter().map(|a| (a, StepSource::Weather)));
        }
        // Stable sort: equal instants keep fixed steps first, then the weather's order.
        steps.sort_by_key(|(a, source)| (a.at, *source == StepSource::Weather));
        steps
    }

    /// A step as a scenario action (how shrink writes a concrete timeline back out).
    pub fn to_action(&self, step: TimedAction) -> Action {
        let at = crate::units::Duration::from_ms(step.at.as_ms());
        let link = |l: usize| self.links[l].name.clone();
        let connector = |c: ConnectorId| self.topology.connector(c).name.clone();
        let server = |s: ServerId| self.topology.server(s).name.clone();
        match step.action {
            WorldAction::Send(i) => {
                let spec = &self.sends[i];
                let name = |a: AddressId| self.addresses[a.0 as usize].clone();
                Action::Send {
                    at,
                    from: name(spec.sender),
                    to: spec.recipients.iter().map(|r| name(*r)).collect(),
                    via: (!spec.mapi).then(|| server(spec.server)),
                    authenticated: Some(spec.authenticated),
                    count: spec.count,
                    size_kb: spec.size_bytes / 1_024,
                }
            }
            WorldAction::ModifyRecipient(i) => {
                let m = &self.modifications[i];
                let name = self.addresses[m.recipient.0 as usize].clone();
                let domain_controller = m.domain_controller.clone();
                match &m.change {
                    ModificationKind::Attributes(attributes) => Action::ModifyRecipient {
                        at,
                        recipient: name,
                        attributes: attributes.clone(),
                        domain_controller,
                    },
                    ModificationKind::Members { add, remove } => Action::ModifyGroup {
                        at,
                        group: name,
                        add: add.clone(),
                        remove: remove.clone(),
                        domain_controller,
                    },
                }
            }
            WorldAction::LinkDown(l) => Action::LinkDown { at, link: link(l) },
            WorldAction::LinkUp(l) => Action::LinkUp { at, link: link(l) },
            WorldAction::ConnectorDown(c) => Action::ConnectorDown { at, connector: connector(c) },
            WorldAction::ConnectorUp(c) => Action::ConnectorUp { at, connector: connector(c) },
            WorldAction::Crash(s) => Action::ServerCrash { at, server: server(s) },
            WorldAction::Restart(s) => Action::ServerRestart { at, server: server(s) },
            WorldAction::SetMaster(g, s) => {
                Action::SetMaster { at, routing_group: self.topology.routing_group(g).name.clone(), server: server(s) }
            }
            WorldAction::HostDown(h) => Action::HostDown { at, host: self.topology.host(h).name.clone() },
            WorldAction::DirectoryChange { dc, count, attributes, urgent, delete } => {
                Action::DirectoryChange { at, dc: self.dc_name(dc), count, attributes, urgent, delete }
            }
            WorldAction::DcDown(dc) => Action::DcDown { at, dc: self.dc_name(dc) },
            WorldAction::ClockSkew(dc, skew_ms) => Action::ClockSkew {
                at,
                dc: self.dc_name(dc),
                skew: crate::units::Duration::from_ms(skew_ms.unsigned_abs()),
                behind: skew_ms < 0,
            },
            WorldAction::DcUp(dc) => Action::DcUp { at, dc: self.dc_name(dc) },
            WorldAction::HostUp(h) => Action::HostUp { at, host: self.topology.host(h).name.clone() },
        }
    }

    /// A domain controller's name.
    pub fn dc_name(&self, dc: DcId) -> String {
        self.scenario.topology.domain_controllers[usize::from(dc.0)].name.clone()
    }

    /// The same scenario with these planted bugs switched on.
    pub fn with_plants(&self, plants: org::planted_bugs::Plants) -> Resolved {
        let mut r = self.clone();
        let mut topology = (*r.topology).clone();
        topology.plants = plants;
        r.topology = Arc::new(topology);
        r
    }
}

/// Reads and checks a scenario file.
pub fn load_file(path: &str) -> Result<Resolved, ScenarioErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ScenarioErrors(vec![ScenarioError {
            file: path.to_string(),
            line: 0,
            column: 0,
            path: "(file)".into(),
            message: format!("cannot read the scenario file: {e}"),
        }])
    })?;
    load_str(path, &text)
}

/// Parses and checks scenario text; `file` names it in errors.
pub fn load_str(file: &str, text: &str) -> Result<Resolved, ScenarioErrors> {
    let json_error = |path: Option<&serde_path_to_error::Path>, inner: &serde_json::Error| {
        let mut message = inner.to_string();
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
        // Known segments only: a syntax error between members has an unknown last one.
        let mut json_path = JsonPath::root();
        for segment in path.map(|p| p.iter().collect::<Vec<_>>()).unwrap_or_default() {
            json_path = match segment {
                serde_path_to_error::Segment::Seq { index } => json_path.index(*index),
                serde_path_to_error::Segment::Map { key } => json_path.key(key),
                serde_path_to_error::Segment::Enum { .. } => continue,
                serde_path_to_error::Segment::Unknown => break,
            };
        }
        // A value of the wrong kind or range is pointed at where it starts; a syntax
        // error where the parser stopped.
        let (line, column) = if inner.classify() == serde_json::error::Category::Data && !json_path.0.is_empty() {
            locate(text, &json_path)
        } else {
            (inner.line(), inner.column())
        };
        ScenarioErrors(vec![ScenarioError {
            file: file.to_string(),
            line,
            column,
            path: json_path.to_string(),
            message,
        }])
    };
    // Syntax first: nothing past a syntax error can be read.
    let document: serde_json::Value = serde_json::from_str(text).map_err(|e| json_error(None, &e))?;
    // Every structural problem, in the order of the file.
    let problems = crate::schema_walk::problems(&document);
    let mut locator = Locator::new(text);
    let mut errors: Vec<ScenarioError> = problems
        .iter()
        .map(|p| {
            let (line, column) = locator.locate(&p.path);
            ScenarioError { file: file.to_string(), line, column, path: p.path.to_string(), message: p.message.clone() }
        })
        .collect();
    let scenario: Scenario = if problems.is_empty() {
        // From the text itself, which also refuses a field written twice.
        let mut de = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut de).map_err(|e| json_error(Some(e.path()), e.inner()))?
    } else {
        // Repaired, if that leaves a readable file: its names, references and ranges are
        // checked too.
        let Some(readable) = crate::schema_walk::repaired(&document, &problems) else {
            errors.sort_by_key(|e| (e.line, e.column));
            return Err(ScenarioErrors(errors));
        };
        match serde_path_to_error::deserialize(readable) {
            Ok(scenario) => scenario,
            Err(e) => {
                errors.extend(json_error(Some(e.path()), e.inner()).0);
                return Err(ScenarioErrors(errors));
            }
        }
    };
    let mut resolver = Resolver { file, locator, errors: Vec::new() };
    let resolved = resolver.resolve(scenario);
    // What the checks say inside an object a repair touched may be about the value the
    // repair put there: left for the run after the fix.
    let scope = |d: &JsonPath| if d.0.len() > 1 { JsonPath(d.0[..d.0.len() - 1].to_vec()) } else { d.clone() };
    let scopes: Vec<String> =
        problems.iter().filter_map(|p| p.repair.as_ref()).map(|r| scope(r.path()).to_string()).collect();
    let within = |path: &str, scope: &str| {
        path == scope || path.strip_prefix(scope).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
    };
    errors.extend(resolver.errors.into_iter().filter(|e| !scopes.iter().any(|s| within(&e.path, s))));
    // In the order of the file (stable: problems at one place keep the order found).
    errors.sort_by_key(|e| (e.line, e.column));
    if errors.is_empty() {
        Ok(resolved.expect("no errors means resolved"))
    } else {
        Err(ScenarioErrors(errors))
    }
}

/// Resolves a scenario to the org's ids and configuration, gathering every error with
/// its place in the file.
struct Resolver<'a> {
    file: &'a str,
    locator: Locator<'a>,
    errors: Vec<ScenarioError>,
}

/// A name → index table that reports duplicates. Windows names are case-insensitive:
/// `EX-HUB` and `ex-hub` are one server, so names are keyed by their case-folded form and
/// a reference in any case finds its object.
#[derive(Clone)]
struct Names {
    /// Case-folded name → index.
    index: BTreeMap<String, usize>,
    /// Each name as first written, by index.
    written: BTreeMap<usize, String>,
}

impl Names {
    /// The table of names already checked (the first of a name wins).
    fn of<'n>(names: impl Iterator<Item = &'n str>) -> Names {
        let mut table = Names { index: BTreeMap::new(), written: BTreeMap::new() };
        for (i, name) in names.enumerate() {
            if let std::collections::btree_map::Entry::Vacant(slot) = table.index.entry(Names::fold(name)) {
                slot.insert(i);
                table.written.insert(i, name.to_string());
            }
        }
        table
    }

    /// The key of a name (Windows compares names without case).
    fn fold(name: &str) -> String {
        name.to_lowercase()
    }

    /// The index of the object named `name`, in any case.
    fn get(&self, name: &str) -> Option<usize> {
        self.index.get(&Names::fold(name)).copied()
    }

    fn len(&self) -> usize {
        self.index.len()
    }

    /// Every index, in the order of the names' keys.
    fn indexes(&self) -> impl Iterator<Item = usize> + '_ {
        self.index.values().copied()
    }

    /// A few names as written, for an error that lists what is known.
    fn known(&self, count: usize) -> Vec<&str> {
        self.written.values().map(String::as_str).take(count).collect()
    }
}

/// A server version as the organization model names it.
fn server_version(v: ServerVersion) -> ExchangeVersion {
    match v {
        ServerVersion::Exchange2000Sp3 => ExchangeVersion::Exchange2000Sp3,
        ServerVersion::Exchange2003 => ExchangeVersion::Exchange2003,
        ServerVersion::Exchange2003Sp1 => ExchangeVersion::Exchange2003Sp1,
        ServerVersion::Exchange2003Sp2 => ExchangeVersion::Exchange2003Sp2,
    }
}

/// Interned addresses while recipients are read: text → id, aliases → id, and outside
/// addresses already interned (a contact's target may repeat one).
#[derive(Default)]
struct AddressBook {
    addresses: Vec<String>,
    index: BTreeMap<String, (usize, JsonPath)>,
    aliases: BTreeMap<String, (AddressId, JsonPath)>,
    external: BTreeMap<String, AddressId>,
}

impl AddressBook {
    /// The id of an address already interned (any case).
    fn address(&self, text: &str) -> Option<AddressId> {
        self.index.get(&text.to_ascii_lowercase()).map(|(i, _)| AddressId(*i as u32))
    }
}

/// Directory containers: each domain's head DN and the organizational units (normalized
/// DNs), with the domain they are in.
struct Containers {
    /// Each domain's head, e.g. `DC=contoso,DC=com`, indexed by domain.
    heads: Vec<String>,
    /// OU DN (normalized, [`normalize_dn`]) → domain.
    ous: BTreeMap<String, usize>,
}

/// A recipient's attributes for LDAP filters, with lower-case names. A listed recipient
/// (`round_robin` `None`) gets every value; generated user `n` gets value `n` mod their
/// count.
fn attribute_map(
    spec: &BTreeMap<String, crate::scenario::AttributeValues>,
    round_robin: Option<usize>,
) -> BTreeMap<String, Vec<String>> {
    spec.iter()
        .filter_map(|(name, values)| {
            let values = values.values();
            let values = match round_robin {
                _ if values.is_empty() => return None,
                None => values,
                Some(n) => vec![values[n % values.len()].clone()],
            };
            Some((name.to_ascii_lowercase(), values))
        })
        .collect()
}

fn p() -> JsonPath {
    JsonPath::root()
}

/// Whether two sites can talk (the same site, or one WAN link joins them).
type Reachable<'r> = &'r dyn Fn(usize, usize) -> bool;

impl Resolver<'_> {
    /// The Internet section: hosts with their sites, the DNS servers and the MX records
    /// of external domains. Returns the config, each host's site and the host names.
    fn internet(
        &mut self,
        t: &crate::scenario::TopologyDef,
        sites: &Names,
        external: &mut ExternalDirectory,
        reachable: Reachable<'_>,
    ) -> (InternetConfig, Vec<usize>, Names) {
        let Some(net) = &t.internet else {
            return (InternetConfig::default(), Vec::new(), Names::of(std::iter::empty()));
        };
        let ip = p().key("topology").key("internet");
        let site = self.reference(sites, "site", &net.site, &ip.key("site")).unwrap_or(0);
        let hosts = self.names("Internet host", ip.key("hosts"), net.hosts.iter().map(|h| h.name.as_str()), "name");
        let mut host_site = Vec::new();
        let mut configs = Vec::new();
        for (i, h) in net.hosts.iter().enumerate() {
            let own =
                h.site.as_ref().and_then(|s| self.reference(sites, "site", s, &ip.key("hosts").index(i).key("site")));
            host_site.push(own.unwrap_or(site));
            let role = match h.role {
                HostRoleSpec::Mail => HostRole::Mail,
                HostRoleSpec::Mta => HostRole::Mta,
                HostRoleSpec::Dns => HostRole::Dns,
            };
            configs.push(HostConfig { name: h.name.clone(), fqdn: h.name.to_ascii_lowercase(), role });
        }
        let role_of = |h: usize| configs[h].role;
        let mut dns_servers = Vec::new();
        for (i, name) in net.dns_servers.iter().enumerate() {
            let at = ip.key("dns_servers").index(i);
            if let Some(h) = self.reference(&hosts, "Internet host", name, &at) {
                if role_of(h) != HostRole::Dns {
                    self.error(&at, format!("host {name:?} is not a DNS server (role \"dns\")"));
                }
                dns_servers.push(HostId(h as u16));
            }
        }
        if net.dns_timeout.ms < 100 || net.dns_timeout.ms > 120_000 {
            self.error(&ip.key("dns_timeout"), "expected a DNS timeout from 100ms to 2m");
        }
        let mut mx = BTreeMap::new();
        for (i, d) in net.domains.iter().enumerate() {
            let at = ip.key("domains").index(i);
            if Pattern::smtp(&d.name).ok().filter(|p| matches!(p, Pattern::SmtpDomain(_))).is_none() {
                self.error(&at.key("name"), format!("expected a DNS domain like \"fabrikam.com\", found {:?}", d.name));
                continue;
            }
            let id = external.domain_id(&d.name);
            if mx.contains_key(&id) {
                self.error(&at.key("name"), format!("domain {:?} is listed twice", d.name));
                continue;
            }
            if d.mx.is_empty() {
                self.error(&at.key("mx"), "expected at least one MX record (leave a domain out to make it not exist)");
            }
            let mut records = Vec::new();
            for (k, r) in d.mx.iter().enumerate() {
                let rp = at.key("mx").index(k).key("host");
                if let Some(h) = self.reference(&hosts, "Internet host", &r.host, &rp) {
                    if role_of(h) != HostRole::Mail {
                        self.error(
                            &rp,
                            format!("an MX record names a mail host; {:?} is not one (role \"mail\")", r.host),
                        );
                    }
                    records.push(MxRecord { preference: r.preference, host: HostId(h as u16) });
                }
            }
            mx.insert(id, records);
        }
        // Everything a bridgehead asks must be reachable from it, which `gateways` checks;
        // hosts themselves only need a site.
        let _ = reachable;
        let config = InternetConfig { hosts: configs, dns_servers, mx, dns_timeout_ms: net.dns_timeout.ms };
        (config, host_site, hosts)
    }

    /// The simulated directory: each DC pulls from every other DC of its domain in its
    /// site (notified of changes), and across each site link the first DC of a domain
    /// in one site pulls from the first in the other, on the link's interval (the
    /// connections Windows' KCC would build; links are point-to-point, so only sites a
    /// WAN link joins directly).
    fn directory(
        &mut self,
        t: &crate::scenario::TopologyDef,
        domains: &Names,
        sites: &Names,
        reachable: Reachable<'_>,
        no_gc_work: bool,
        calendar: org::calendar::Calendar,
    ) -> Option<DirectorySpec> {
        let groups = !no_gc_work;
        let ad = match t.ad_replication.as_ref() {
            Some(ad) => Some(ad),
            None if groups => None,
            None => return None,
        };
        let ap = p().key("topology").key("ad_replication");
        let mut dcs: Vec<DcSpec> = t
            .domain_controllers
            .iter()
            .map(|d| DcSpec {
                name: d.name.clone(),
                domain: domains.get(&d.domain).unwrap_or(0),
                site: sites.get(&d.site).unwrap_or(0),
                version: match d.version {
                    crate::scenario::WindowsVersionSpec::Windows2000 => WindowsVersion::Windows2000,
                    crate::scenario::WindowsVersionSpec::Windows2003 => WindowsVersion::Windows2003,
                },
                inbound: Vec::new(),
                notify_targets: Vec::new(),
                recipient_writes: Vec::new(),
                rus: None,
            })
            .collect();
        let Some(ad) = ad else {
            let replica_names = dcs.iter().map(|d| d.name.clone()).collect();
            return Some(DirectorySpec { dcs, partials: Vec::new(), replica_names, replicating: false });
        };
        let n = dcs.len();
        if n > 64 {
            self.error(
                &p().key("topology").key("domain_controllers"),
                "orgsim simulates replication among at most 64 domain controllers",
            );
        }
        for a in 0..n {
            for b in 0..n {
                if a != b && dcs[a].domain == dcs[b].domain && dcs[a].site == dcs[b].site {
                    let source = DcId(b as u16);
                    dcs[a].inbound.push(InboundConnection {
                        source,
                        intra_site: true,
                        interval_ms: INTRA_SITE_POLL_MS,
                        schedule: Schedule::ALWAYS,
                    });
                    dcs[a].notify_targets.push(source);
                }
            }
        }
        // The cheapest site link per pair of sites sets the interval and the schedule.
        let mut pair_interval: BTreeMap<(usize, usize), (u32, u64, WeeklyHours)> = BTreeMap::new();
        self.names("site link", ap.key("site_links"), ad.site_links.iter().map(|l| l.name.as_str()), "name");
        for (i, link) in ad.site_links.iter().enumerate() {
            let lp = ap.key("site_links").index(i);
            if link.sites.len() < 2 {
                self.error(&lp.key("sites"), "expected at least two sites");
            }
            // EXCHANGE2003.md §2: cost 1–32,767; interval a multiple of 15 min, 15 min–7 days.
            if !(1..=32_767).contains(&link.cost) {
                self.error(&lp.key("cost"), format!("expected a cost from 1 to 32767, found {}", link.cost));
            }
            let minutes = link.replication_interval.ms / 60_000;
            if link.replication_interval.ms % (15 * 60_000) != 0 || !(15..=10_080).contains(&minutes) {
                self.error(
                    &lp.key("replication_interval"),
                    "expected a multiple of 15m from 15m to 7d (EXCHANGE2003.md §2)",
                );
            }
            let open_hours = self.site_link_schedule(link.schedule.as_deref(), &lp.key("schedule"));
            let ids: Vec<usize> = link
                .sites
                .iter()
                .enumerate()
                .filter_map(|(k, s)| self.reference(sites, "site", s, &lp.key("sites").index(k)))
                .collect();
            for (x, &a) in ids.iter().enumerate() {
                for &b in &ids[x + 1..] {
                    if a == b {
                        continue;
                    }
                    if !reachable(a, b) {
                        self.error(
                            &lp.key("sites"),
                            format!(
                                "sites {:?} and {:?} share this site link but no WAN link joins them (links are point-to-point circuits)",
                                t.sites[a].name, t.sites[b].name
                            ),
                        );
                        continue;
                    }
                    let key = (a.min(b), a.max(b));
                    let entry = (link.cost, link.replication_interval.ms, open_hours);
                    if pair_interval.get(&key).is_none_or(|old| entry < *old) {
                        pair_interval.insert(key, entry);
                    }
                }
            }
        }
        let links: BTreeMap<(usize, usize), (u64, Schedule)> = pair_interval
            .into_iter()
            .map(|(pair, (_, interval_ms, open_hours))| (pair, (interval_ms, Schedule { hours: open_hours, calendar })))
            .collect();
        for (&(a, b), &(interval_ms, schedule)) in &links {
            for domain in 0..t.domains.len() {
                let first = |site: usize| dcs.iter().position(|d| d.domain == domain && d.site == site);
                if let (Some(x), Some(y)) = (first(a), first(b)) {
                    for (to, from) in [(x, y), (y, x)] {
                        let source = DcId(from as u16);
                        dcs[to].inbound.push(InboundConnection { source, intra_site: false, interval_ms, schedule });
                    }
                }
            }
        }
        let partials = self.partial_replicas(t, &mut dcs, &links);
        if n + partials.len() > MAX_REPLICAS {
            self.error(
                &p().key("topology").key("domain_controllers"),
                format!(
                    "orgsim simulates at most {MAX_REPLICAS} replicas (each DC's, and each GC's of every other domain)"
                ),
            );
        }
        let partial_names =
            partials.iter().map(|p| format!("{}/{}", dcs[usize::from(p.host.0)].name, t.domains[p.domain].name));
        let replica_names = dcs.iter().map(|d| d.name.clone()).chain(partial_names).collect();
        Some(DirectorySpec { dcs, partials, replica_names, replicating: true })
    }

    /// Each GC's partial replica of every other domain (§2), with the connections the
    /// KCC would build: from every DC of that domain in the GC's site (which notify it of
    /// changes); else, over each site link to a site the GC's joins directly, from the
    /// first DC of the domain there or, failing one, from the first GC there.
    fn partial_replicas(
        &mut self,
        t: &crate::scenario::TopologyDef,
        dcs: &mut [DcSpec],
        links: &BTreeMap<(usize, usize), (u64, Schedule)>,
    ) -> Vec<PartialReplicaSpec> {
        let gc = |i: usize| t.domain_controllers[i].global_catalog;
        let mut partials = Vec::new();
        for g in (0..dcs.len()).filter(|&g| gc(g)) {
            let home = dcs[g].domain;
            for domain in (0..t.domains.len()).filter(|&d| d != home) {
                let site = dcs[g].site;
                let mut inbound = Vec::new();
                for (b, source) in dcs.iter_mut().enumerate() {
                    if source.domain == domain && source.site == site {
                        inbound.push(InboundConnection {
                            source: DcId(b as u16),
                            intra_site: true,
                            interval_ms: INTRA_SITE_POLL_MS,
                            schedule: Schedule::ALWAYS,
                        });
                        source.notify_targets.push(DcId(g as u16));
                    }
                }
                if inbound.is_empty() {
                    for (&(a, b), &(interval_ms, schedule)) in links {
                        let other = match (a == site, b == site) {
                            (true, _) => b,
                            (_, true) => a,
                            _ => continue,
                        };
                        let in_other = |want: &dyn Fn(usize) -> bool| {
                            (0..dcs.len()).find(|&x| dcs[x].site == other && x != g && want(x))
                        };
                        let source = in_other(&|x| dcs[x].domain == domain).or_else(|| in_other(&gc));
                        if let Some(source) = source {
                            let source = DcId(source as u16);
                            inbound.push(InboundConnection { source, intra_site: false, interval_ms, schedule });
                        }
                    }
                }
                if inbound.is_empty() {
                    self.error(
                        &p().key("topology").key("domain_controllers").index(g),
                        format!(
                            "global catalog {:?} can get no partial replica of {:?}: no DC of that domain in its site, and no DC of it or GC in a site a site link joins to its site",
                            dcs[g].name, t.domains[domain].name
                        ),
                    );
                }
                partials.push(PartialReplicaSpec { host: DcId(g as u16), domain, inbound });
            }
        }
        partials
    }

    /// With replication, recipients created or deleted during the run become writes on
    /// a DC (`created_on`, else the DC of their domain's RUS), and each RUS is bound to
    /// its DC (`domain_controller`, else the domain's first). Returns each domain's RUS
    /// DC.
    #[allow(clippy::too_many_arguments)]
    fn replicated_recipients(
        &mut self,
        spec: &mut DirectorySpec,
        t: &crate::scenario::TopologyDef,
        r: &crate::scenario::Recipients,
        directory: &GlobalCatalog,
        rus_intervals: &[u64],
        created_on: &BTreeMap<AddressId, (String, JsonPath)>,
        dcs_by_name: &Names,
        domains: &Names,
    ) -> Vec<DcId> {
        let domain_count = rus_intervals.len();
        let mut rus_dcs: Vec<Option<DcId>> =
            (0..domain_count).map(|d| spec.dcs.iter().position(|dc| dc.domain == d).map(|i| DcId(i as u16))).collect();
        let rp = p().key("recipients").key("recipient_update_services");
        for (i, rus) in r.recipient_update_services.iter().enumerate() {
            let (Some(name), Some(d)) = (&rus.domain_controller, domains.get(&rus.domain)) else { continue };
            let at = rp.index(i).key("domain_controller");
            if let Some(dc) = self.dc_of_domain(t, dcs_by_name, name, d, &at) {
                rus_dcs[d] = Some(dc);
            }
        }
        for (d, dc) in rus_dcs.iter().enumerate() {
            let Some(dc) = dc else { continue };
            let recipients: Vec<AddressId> = directory
                .objects()
                .filter(|(_, o)| usize::from(o.domain.0) == d && o.created_at.is_some())
                .map(|(a, _)| a)
                .collect();
            spec.dcs[usize::from(dc.0)].rus = Some(RusSpec { interval_ms: rus_intervals[d].max(1), recipients });
        }
        for (address, object) in directory.objects() {
            if object.created_at.is_none() && object.deleted_at.is_none() {
                continue;
            }
            let domain = usize::from(object.domain.0);
            let dc = match created_on.get(&address) {
                Some((name, at)) => self.dc_of_domain(t, dcs_by_name, name, domain, at),
                None => rus_dcs[domain],
            };
            let Some(dc) = dc else { continue };
            let writes = &mut spec.dcs[usize::from(dc.0)].recipient_writes;
            if let Some(c) = object.created_at {
                writes.push((c, address, RecipientWrite::Create));
            }
            if let Some(d) = object.deleted_at {
                writes.push((d, address, RecipientWrite::Delete));
            }
        }
        for dc in &mut spec.dcs {
            dc.recipient_writes.sort_by_key(|(t, a, _)| (*t, *a));
        }
        rus_dcs.into_iter().map(|d| d.unwrap_or(DcId(0))).collect()
    }

    /// The DC a modification of `id` is written on: the one named (of the recipient's
    /// domain), else its domain's RUS DC.
    #[allow(clippy::too_many_arguments)]
    fn modification_dc(
        &mut self,
        t: &crate::scenario::TopologyDef,
        directory: &GlobalCatalog,
        id: AddressId,
        named: &Option<String>,
        rus_dcs: &[DcId],
        dcs_by_name: &Names,
        at: &JsonPath,
    ) -> Option<DcId> {
        let domain = directory.object(id).map_or(0, |o| usize::from(o.domain.0));
        match named {
            Some(name) => self.dc_of_domain(t, dcs_by_name, name, domain, &at.key("domain_controller")),
            None => rus_dcs.get(domain).copied(),
        }
    }

    /// The DC named `name`, which must be of domain `domain` (its index).
    fn dc_of_domain(
        &mut self,
        t: &crate::scenario::TopologyDef,
        dcs_by_name: &Names,
        name: &str,
        domain: usize,
        at: &JsonPath,
    ) -> Option<DcId> {
        let d = self.reference(dcs_by_name, "domain controller", name, at)?;
        let domain_name = &t.domains[domain].name;
        if Names::fold(&t.domain_controllers[d].domain) != Names::fold(domain_name) {
            self.error(at, format!("{name:?} is not a domain controller of {domain_name:?}"));
            return None;
        }
        Some(DcId(d as u16))
    }

    /// A site link's schedule as open hours of the UTC week (every hour when absent).
    fn site_link_schedule(
        &mut self,
        windows: Option<&[crate::scenario::ScheduleWindow]>,
        at: &JsonPath,
    ) -> WeeklyHours {
        let Some(windows) = windows else { return WeeklyHours::ALWAYS };
        if windows.is_empty() {
            self.error(at, "expected at least one window (leave out \"schedule\" for always)");
            return WeeklyHours::ALWAYS;
        }
        let mut open = WeeklyHours::never();
        for (i, w) in windows.iter().enumerate() {
            let mut hour = |text: &str, field: &str| -> Option<u32> {
                let parsed = text
                    .strip_suffix(":00")
                    .filter(|h| h.len() == 2)
                    .and_then(|h| h.parse::<u32>().ok())
                    .filter(|h| *h <= 24);
                if parsed.is_none() {
                    self.error(
                        &at.index(i).key(field),
                        format!("expected a whole hour of the UTC day like \"20:00\" (00:00 to 24:00), found {text:?}"),
                    );
                }
                parsed
            };
            let (from, until) = (hour(&w.from, "from"), hour(&w.until, "until"));
            let (Some(from), Some(until)) = (from, until) else { continue };
            // 00:00-24:00 is a whole day: worth saying for some days, not for all.
            if from == until || (from % 24 == until % 24 && w.days.is_none()) {
                self.error(
                    &at.index(i),
                    "expected \"from\" and \"until\" to differ (leave out \"schedule\" for always)",
                );
                continue;
            }
            if w.days.as_ref().is_some_and(|d| d.is_empty()) {
                self.error(&at.index(i).key("days"), "expected at least one day (leave out \"days\" for every day)");
                continue;
            }
            let days = w.days.as_deref().unwrap_or(&Day::ALL);
            for day in days.iter().map(|d| d.weekday()) {
                open_window(&mut open, day, from % 24, until);
            }
        }
        // With every window refused the load fails anyway; keep the schedule usable.
        if open.any_open() {
            open
        } else {
            WeeklyHours::ALWAYS
        }
    }

    /// SMTP and X.400 connectors with address spaces.
    #[allow(clippy::too_many_arguments)]
    fn gateways(
        &mut self,
        t: &crate::scenario::TopologyDef,
        rgs: &Names,
        servers: &Names,
        hosts: &Names,
        internet: &InternetConfig,
        host_site: &[usize],
        server_site: &[usize],
        reachable: Reachable<'_>,
    ) -> Vec<GatewayConfig> {
        let tp = p().key("topology");
        let mut out = Vec::new();
        let smtp = t.smtp_connectors.iter().enumerate().map(|(i, c)| {
            let kind = match &c.smart_host {
                Some(h) => Err((h.as_str(), "smart_host", HostRole::Mail)),
                None => Ok(()),
            };
            (
                tp.key("smtp_connectors").index(i),
                &c.name,
                &c.routing_group,
                &c.source_bridgeheads,
                &c.address_spaces,
                kind,
            )
        });
        let x400 = t.x400_connectors.iter().enumerate().map(|(i, c)| {
            let kind = Err((c.remote_mta.as_str(), "remote_mta", HostRole::Mta));
            (
                tp.key("x400_connectors").index(i),
                &c.name,
                &c.routing_group,
                &c.source_bridgeheads,
                &c.address_spaces,
                kind,
            )
        });
        for (at, name, group, bridgeheads, spaces, kind) in smtp.chain(x400).collect::<Vec<_>>() {
            let group = self.reference(rgs, "routing group", group, &at.key("routing_group"));
            let mut source_bridgeheads = Vec::new();
            if bridgeheads.is_empty() {
                self.error(&at.key("source_bridgeheads"), "expected at least one bridgehead server");
            }
            for (k, b) in bridgeheads.iter().enumerate() {
                let bp = at.key("source_bridgeheads").index(k);
                let Some(s) = self.reference(servers, "server", b, &bp) else { continue };
                let server = &t.servers[s];
                if group.is_some_and(|g| server.routing_group != t.routing_groups[g].name) {
                    self.error(
                        &bp,
                        format!(
                            "bridgehead {b:?} is in routing group {:?}, not this connector's",
                            server.routing_group
                        ),
                    );
                } else if !server.roles.contains(&Role::Bridgehead) {
                    self.error(&bp, format!("server {b:?} lacks the \"bridgehead\" role"));
                }
                source_bridgeheads.push(ServerId(s as u16));
            }
            let address_spaces = self.address_spaces(spaces, &at.key("address_spaces"));
            let delivery = match kind {
                Ok(()) => {
                    if internet.dns_servers.is_empty() {
                        self.error(&at, "this SMTP connector delivers by DNS (no smart_host), but topology.internet lists no dns_servers");
                    }
                    Delivery::Dns
                }
                Err((host, field, role)) => match self.reference(hosts, "Internet host", host, &at.key(field)) {
                    Some(h) => {
                        if internet.hosts[h].role != role {
                            let want = if role == HostRole::Mta { "mta" } else { "mail" };
                            self.error(&at.key(field), format!("host {host:?} does not have role {want:?}"));
                        }
                        if role == HostRole::Mta {
                            Delivery::Mta(HostId(h as u16))
                        } else {
                            Delivery::SmartHost(HostId(h as u16))
                        }
                    }
                    None => Delivery::Dns,
                },
            };
            // Links are point-to-point circuits: each bridgehead must reach what it talks to.
            let peers: Vec<HostId> = match delivery {
                Delivery::Dns => {
                    internet.dns_servers.iter().copied().chain(internet.mx.values().flatten().map(|r| r.host)).collect()
                }
                Delivery::SmartHost(h) | Delivery::Mta(h) => vec![h],
            };
            for b in &source_bridgeheads {
                let from = server_site[usize::from(b.0)];
                if let Some(h) = peers.iter().find(|h| !reachable(from, host_site[usize::from(h.0)])) {
                    self.error(
                        &at.key("source_bridgeheads"),
                        format!(
                            "bridgehead {:?} cannot reach host {:?}: no WAN link joins their sites (links are point-to-point circuits)",
                            t.servers[usize::from(b.0)].name,
                            internet.hosts[usize::from(h.0)].name
                        ),
                    );
                    break;
                }
            }
            out.push(GatewayConfig {
                name: name.clone(),
                routing_group: RoutingGroupId(group.unwrap_or(0) as u16),
                source_bridgeheads,
                address_spaces,
                delivery,
            });
        }
        out
    }

    /// An expectation that counts events in a window needs a bound and a window that
    /// does not end before it starts.
    fn counted_window(
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

    /// A connector's address spaces: at least one, each parsed, cost 1–100.
    fn address_spaces(&mut self, spaces: &[AddressSpaceSpec], at: &JsonPath) -> Vec<AddressSpace> {
        if spaces.is_empty() {
            self.error(at, "expected at least one address space");
        }
        let mut out = Vec::new();
        for (i, space) in spaces.iter().enumerate() {
            let sp = at.index(i);
            // EXCHANGE2003.md §4: costs 1–100.
            if !(1..=100).contains(&space.cost) {
                self.error(&sp.key("cost"), format!("expected a cost from 1 to 100, found {}", space.cost));
            }
            let pattern = match space.address_type {
                AddressType::Smtp => Pattern::smtp(&space.address),
                AddressType::X400 => Pattern::x400(&space.address),
            };
            match pattern {
                Ok(pattern) => out.push(AddressSpace { pattern, cost: space.cost }),
                Err(e) => self.error(&sp.key("address"), e.0),
            }
        }
        out
    }

    fn error(&mut self, path: &JsonPath, message: impl Into<String>) {
        let (line, column) = self.locator.locate(path);
        self.errors.push(ScenarioError {
            file: self.file.to_string(),
            line,
            column,
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// Indexes names, reporting empty ones and duplicates (in any case).
    fn names<'n>(&mut self, what: &str, list: JsonPath, names: impl Iterator<Item = &'n str>, field: &str) -> Names {
        let mut table = Names { index: BTreeMap::new(), written: BTreeMap::new() };
        for (i, name) in names.enumerate() {
            let at = list.index(i).key(field);
            if name.trim().is_empty() {
                self.error(&at, format!("expected a non-empty {what} name"));
                continue;
            }
            match table.index.entry(Names::fold(name)) {
                std::collections::btree_map::Entry::Vacant(slot) => {
                    slot.insert(i);
                    table.written.insert(i, name.to_string());
                }
                std::collections::btree_map::Entry::Occupied(first) => {
                    let first = *first.get();
                    let earlier = &table.written[&first];
                    let case = if earlier == name {
                        String::new()
                    } else {
                        format!(" {earlier:?}; Windows names ignore case")
                    };
                    self.error(&at, format!("duplicate {what} name {name:?} (first at {}{case})", list.index(first)));
                }
            }
        }
        table
    }

    /// Interns a recipient's address; a duplicate is an error naming the first.
    fn intern(&mut self, book: &mut AddressBook, address: String, at: &JsonPath) -> Option<AddressId> {
        let address = address.to_ascii_lowercase();
        if let Some((_, first)) = book.index.get(&address) {
            self.error(at, format!("duplicate address {address:?} (first at {first})"));
            return None;
        }
        let id = AddressId(book.addresses.len() as u32);
        book.index.insert(address.clone(), (book.addresses.len(), at.clone()));
        book.addresses.push(address);
        Some(id)
    }

    /// Names a listed recipient by its alias (aliases are unique across every kind).
    fn name_alias(&mut self, book: &mut AddressBook, alias: &str, id: AddressId, at: &JsonPath) {
        if let Some((_, first)) = book.aliases.get(&alias.to_ascii_lowercase()) {
            self.error(at, format!("duplicate alias {alias:?} (first at {first})"));
            return;
        }
        book.aliases.insert(alias.to_ascii_lowercase(), (id, at.clone()));
    }

    /// A recipient named by an address already interned or by a listed alias.
    fn lookup_recipient(&mut self, book: &AddressBook, name: &str, at: &JsonPath) -> Option<AddressId> {
        match book.address(name) {
            Some(id) => Some(id),
            None => self.lookup_alias(book, name, at),
        }
    }

    /// The listed recipient with this alias.
    fn lookup_alias(&mut self, book: &AddressBook, alias: &str, at: &JsonPath) -> Option<AddressId> {
        let found = book.aliases.get(&alias.to_ascii_lowercase()).map(|(id, _)| *id);
        if found.is_none() {
            self.error(
                at,
                format!("no user, contact or group with alias {alias:?} (generated users cannot be named one by one)"),
            );
        }
        found
    }

    /// Interns an address outside the organization (SMTP, or X.400 written `X400:…`).
    /// `listed` is true for `recipients.external`, where a repeat is an error; a contact's
    /// target may repeat an address already interned.
    fn add_external(
        &mut self,
        book: &mut AddressBook,
        external: &mut ExternalDirectory,
        smtp_domains: &[String],
        text: &str,
        at: &JsonPath,
        listed: bool,
    ) -> Option<AddressId> {
        let lowered = text.to_ascii_lowercase();
        if let Some(id) = book.external.get(&lowered) {
            if listed {
                self.error(at, format!("duplicate address {text:?}"));
            }
            return Some(*id);
        }
        if book.index.contains_key(&lowered) || book.addresses.contains(&lowered) {
            self.error(at, format!("duplicate address {text:?}"));
            return None;
        }
        let id = AddressId(book.addresses.len() as u32);
        let parsed = match text.strip_prefix("X400:").or_else(|| text.strip_prefix("x400:")) {
            Some(x400) => external.add_x400(id, x400).map(|_| ()),
            None => {
                let domain = text.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
                if smtp_domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
                    self.error(
                        at,
                        format!(
                            "{text:?} is in an authoritative domain: list it as a user, not as an external address"
                        ),
                    );
                    return None;
                }
                external.add_smtp(id, text).map(|_| ())
            }
        };
        if let Err(e) = parsed {
            self.error(at, format!("{} (SMTP, or X.400 written \"X400:c=US;a= ;p=…\")", e.0));
            return None;
        }
        book.addresses.push(lowered.clone());
        book.external.insert(lowered, id);
        Some(id)
    }

    /// Refuses attributes the scenario may not write: those the directory derives from
    /// the recipient itself, and those the model writes (`proxyAddresses` by the RUS,
    /// `member` for a group's members).
    fn attribute_names(&mut self, spec: &BTreeMap<String, crate::scenario::AttributeValues>, at: &JsonPath) {
        for name in spec.keys() {
            let lower = name.to_ascii_lowercase();
            if org::directory::global_catalog::DERIVED_ATTRIBUTES.contains(&lower.as_str()) {
                self.error(&at.key(name), format!("{name} is derived from the recipient (its address, DN, name or class), not written: leave it out"));
            } else if [
                org::directory::global_catalog::STAMPED_ATTRIBUTE,
                org::directory::global_catalog::MEMBER_ATTRIBUTE,
            ]
            .contains(&lower.as_str())
            {
                self.error(&at.key(name), format!("{name} is written by the model (the Recipient Update Service, a group's members): leave it out"));
            }
        }
    }

    /// Each domain's head DN and the declared OUs, each under one domain; every one is a
    /// container query-based groups may search.
    fn containers(
        &mut self,
        t: &crate::scenario::TopologyDef,
        r: &crate::scenario::Recipients,
        domains: &Names,
        directory: &mut GlobalCatalog,
    ) -> Containers {
        let heads: Vec<String> = t
            .domains
            .iter()
            .map(|d| d.name.split('.').map(|label| format!("DC={label}")).collect::<Vec<_>>().join(","))
            .collect();
        for head in &heads {
            directory.add_container(head);
        }
        let mut ous = BTreeMap::new();
        let up = p().key("recipients").key("organizational_units");
        let head_keys: Vec<String> = heads.iter().map(|h| normalize_dn(h).unwrap_or_default()).collect();
        for (i, ou) in r.organizational_units.iter().enumerate() {
            // Compared as AD compares DNs: no case, no spaces around separators.
            let key = normalize_dn(ou).unwrap_or_default();
            // The deepest domain head it ends with (a child domain's head ends with its
            // parent's).
            let domain = head_keys
                .iter()
                .enumerate()
                .filter(|(_, h)| key.ends_with(&format!(",{h}")))
                .max_by_key(|(_, h)| h.len())
                .map(|(d, _)| d);
            let well_formed = key.starts_with("ou=");
            match domain {
                Some(d) if well_formed => {
                    if ous.insert(key, d).is_some() {
                        self.error(&up.index(i), format!("{ou:?} is listed twice"));
                    }
                    directory.add_container(ou);
                }
                _ => self.error(
                    &up.index(i),
                    format!(
                        "expected an OU's DN under a domain of the forest, like \"OU=Sales,{}\", found {ou:?}",
                        heads.first().map_or("DC=contoso,DC=com", String::as_str)
                    ),
                ),
            }
        }
        let _ = domains;
        Containers { heads, ous }
    }

    /// A recipient's domain and parent container DN from its placement: the domain given
    /// (the forest's first by default) and its head, or the OU given, which must be in
    /// that domain.
    fn place(&mut self, placement: &Placement, containers: &Containers, at: &JsonPath) -> Option<(AdDomainId, String)> {
        let domain = match &placement.domain {
            None => None,
            Some(name) => {
                let index = containers.heads.iter().position(|h| {
                    h.eq_ignore_ascii_case(
                        &name.split('.').map(|label| format!("DC={label}")).collect::<Vec<_>>().join(","),
                    )
                });
                if index.is_none() {
                    self.error(&at.key("domain"), format!("no domain named {name:?} in the forest"));
                    return None;
                }
                index
            }
        };
        match &placement.ou {
            None => {
                let d = domain.unwrap_or(0);
                Some((AdDomainId(d as u16), containers.heads.get(d).cloned().unwrap_or_default()))
            }
            Some(ou) => {
                let Some(&d) = normalize_dn(ou).and_then(|key| containers.ous.get(&key)) else {
                    self.error(&at.key("ou"), format!("{ou:?} is not one of recipients.organizational_units"));
                    return None;
                };
                if domain.is_some_and(|given| given != d) {
                    self.error(&at.key("ou"), format!("{ou:?} is not in domain {:?}", placement.domain));
                    return None;
                }
                Some((AdDomainId(d as u16), ou.clone()))
            }
        }
    }

    /// A timeline `send`: the sender (a mailbox user, or an outside SMTP address coming
    /// in `via` a server), the recipients (aliases or outside addresses) and where the
    /// message enters.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        book: &mut AddressBook,
        external: &mut ExternalDirectory,
        r: &crate::scenario::Recipients,
        t: &crate::scenario::TopologyDef,
        at: &JsonPath,
        from: &str,
        to: &[String],
        via: &Option<String>,
        authenticated: Option<bool>,
        directory: &GlobalCatalog,
    ) -> Option<SendSpec> {
        let servers = Names::of(t.servers.iter().map(|s| s.name.as_str()));
        let via = match via {
            Some(name) => Some(ServerId(self.reference(&servers, "server", name, &at.key("via"))? as u16)),
            None => None,
        };
        let known = book.address(from);
        let (sender, server, authenticated) = if from.contains('@') && known.is_none() {
            let sender = self.add_external(book, external, &r.smtp_domains, from, &at.key("from"), false)?;
            let Some(server) = via else {
                self.error(&at.key("via"), "a sender outside the organization needs \"via\": the server whose SMTP virtual server takes the message");
                return None;
            };
            (sender, server, authenticated.unwrap_or(false))
        } else {
            let sender = match known {
                Some(id) => id,
                None => self.lookup_alias(book, from, &at.key("from"))?,
            };
            let Some(home) = directory.lookup(sender).map(|m| m.home_server) else {
                self.error(
                    &at.key("from"),
                    format!("{from:?} has no mailbox: expected a mailbox user's alias or an outside SMTP address"),
                );
                return None;
            };
            (sender, via.unwrap_or(home), authenticated.unwrap_or(true))
        };
        if to.is_empty() {
            self.error(&at.key("to"), "expected at least one recipient");
        }
        let mut recipients = Vec::new();
        let mut listed = BTreeSet::new();
        for (k, name) in to.iter().enumerate() {
            let rat = at.key("to").index(k);
            let id = if name.contains('@') {
                match book.address(name) {
                    Some(id) => Some(id),
                    None => self.add_external(book, external, &r.smtp_domains, name, &rat, false),
                }
            } else {
                self.lookup_alias(book, name, &rat)
            };
            match id {
                Some(id) if !listed.insert(id) => self.error(&rat, format!("{name:?} is listed twice")),
                Some(id) => recipients.push(id),
                None => {}
            }
        }
        let mapi = via.is_none();
        Some(SendSpec { server, sender, recipients, authenticated, mapi, count: 1, size_bytes: 0 })
    }

    /// Each domain's RUS interval (ms), "Always run" (1 min) where none is listed.
    fn recipient_update_services(
        &mut self,
        r: &crate::scenario::Recipients,
        domains: &Names,
        duration_ms: u64,
    ) -> Vec<u64> {
        let mut intervals = vec![crate::scenario::defaults::rus_interval().ms; domains.len()];
        let mut seen = BTreeSet::new();
        let rp = p().key("recipients").key("recipient_update_services");
        for (i, rus) in r.recipient_update_services.iter().enumerate() {
            let at = rp.index(i);
            let Some(d) = self.reference(domains, "domain", &rus.domain, &at.key("domain")) else { continue };
            if !seen.insert(d) {
                self.error(&at.key("domain"), format!("{:?} already has a Recipient Update Service", rus.domain));
            }
            if rus.interval.ms < 60_000 || rus.interval.ms > duration_ms.max(60_000) * 10 {
                self.error(&at.key("interval"), "expected an interval of at least 1m (\"Always run\")");
                continue;
            }
            intervals[d] = rus.interval.ms;
        }
        intervals
    }

    /// When a recipient's addresses are stamped (the first RUS pass of its domain after
    /// it is created; at once for one that exists from the start) and when it is deleted.
    fn lifetime(
        &mut self,
        placement: &Placement,
        domain: AdDomainId,
        rus: &[u64],
        at: &JsonPath,
    ) -> (Option<Instant>, Instant, Option<Instant>) {
        let stamped = match placement.created_at {
            None => Instant::ZERO,
            Some(created) => {
                // A pass handles what was created since the last one (§2).
                let every = rus.get(usize::from(domain.0)).copied().unwrap_or(60_000).max(1);
                Instant((created.ms / every + 1) * every)
            }
        };
        let deleted = placement.deleted_at.map(|d| Instant(d.ms));
        if let (Some(created), Some(deleted)) = (placement.created_at, deleted) {
            if deleted.as_ms() <= created.ms {
                self.error(&at.key("deleted_at"), "expected a deletion after the creation");
            }
        }
        (placement.created_at.map(|c| Instant(c.ms)), stamped, deleted)
    }

    fn reference(&mut self, names: &Names, what: &str, name: &str, at: &JsonPath) -> Option<usize> {
        let found = names.get(name);
        if found.is_none() {
            self.error(at, format!("no {what} named {name:?} (known: {})", names.known(8).join(", ")));
        }
        found
    }

    fn resolve(&mut self, scenario: Scenario) -> Option<Resolved> {
        let t = &scenario.topology;
        let tp = p().key("topology");
        if scenario.duration.ms == 0 || scenario.duration.ms > bounds::DURATION_MS_MAX {
            let max = crate::units::Duration::from_ms(bounds::DURATION_MS_MAX);
            self.error(&p().key("duration"), format!("expected a run length above 0s and at most {max}"));
        }
        let domains = self.names("domain", tp.key("domains"), t.domains.iter().map(|d| d.name.as_str()), "name");
        if domains.get(&t.forest).is_none() {
            self.error(
                &tp.key("forest"),
                format!("the forest root domain {:?} must be listed in topology.domains", t.forest),
            );
        }
        let sites = self.names("site", tp.key("sites"), t.sites.iter().map(|s| s.name.as_str()), "name");
        let dcs = tp.key("domain_controllers");
        self.names("domain controller", dcs.clone(), t.domain_controllers.iter().map(|d| d.name.as_str()), "name");
        for (i, dc) in t.domain_controllers.iter().enumerate() {
            self.reference(&domains, "domain", &dc.domain, &dcs.index(i).key("domain"));
            self.reference(&sites, "site", &dc.site, &dcs.index(i).key("site"));
        }
        if !t.domain_controllers.iter().any(|d| d.global_catalog) {
            self.error(&dcs, "expected at least one domain controller with \"global_catalog\": true (the categorizer resolves recipients against a GC)");
        }
        for (i, d) in t.domains.iter().enumerate() {
            if !t.domain_controllers.iter().any(|dc| Names::fold(&dc.domain) == Names::fold(&d.name)) {
                self.error(
                    &tp.key("domains").index(i).key("name"),
                    format!("domain {:?} has no domain controller", d.name),
                );
            }
        }
        let ags = tp.key("administrative_groups");
        let admin_groups =
            self.names("administrative group", ags, t.administrative_groups.iter().map(|a| a.name.as_str()), "name");
        let rgp = tp.key("routing_groups");
        let rgs = self.names("routing group", rgp.clone(), t.routing_groups.iter().map(|r| r.name.as_str()), "name");
        for (i, rg) in t.routing_groups.iter().enumerate() {
            self.reference(
                &admin_groups,
                "administrative group",
                &rg.administrative_group,
                &rgp.index(i).key("administrative_group"),
            );
        }

        // Servers, storage groups, stores.
        let sp = tp.key("servers");
        if t.servers.is_empty() {
            self.error(&sp, "expected at least one Exchange server");
        }
        let servers = self.names("server", sp.clone(), t.servers.iter().map(|s| s.name.as_str()), "name");
        let mut server_site = Vec::new();
        let mut server_configs = Vec::new();
        let mut store_configs: Vec<StoreConfig> = Vec::new();
        let mut store_paths: Vec<JsonPath> = Vec::new();
        let mut members: Vec<Vec<ServerId>> = vec![Vec::new(); t.routing_groups.len()];
        for (i, s) in t.servers.iter().enumerate() {
            let at = sp.index(i);
            let site = self.reference(&sites, "site", &s.site, &at.key("site"));
            let rg = self.reference(&rgs, "routing group", &s.routing_group, &at.key("routing_group"));
            server_site.push(site.unwrap_or(0));
            if let Some(rg) = rg {
                members[rg].push(ServerId(i as u16));
            }
            let vs = &s.smtp_virtual_server;
            let vsp = at.key("smtp_virtual_server");
            if vs.max_message_size_kb == Some(0) {
                self.error(&vsp.key("max_message_size_kb"), "expected a size above 0 KB, or null for no limit");
            }
            if vs.messages_per_connection == 0 {
                self.error(&vsp.key("messages_per_connection"), "expected at least 1 message per connection");
            }
            for (k, d) in vs.retry_intervals.iter().enumerate() {
                if d.ms == 0 {
                    self.error(&vsp.key("retry_intervals").index(k), "expected a retry interval above 0s");
                }
            }
            if vs.glitch_retry_interval.ms == 0 {
                self.error(&vsp.key("glitch_retry_interval"), "expected an interval above 0s");
            }
            if s.disk_flush.ms == 0 || s.disk_flush.ms > 60_000 {
                self.error(&at.key("disk_flush"), "expected a flush delay from 1ms to 1m");
            }
            if s.mta.open_interval.ms < 1_000 {
                self.error(&at.key("mta").key("open_interval"), "expected an open interval of at least 1s");
            }
            if s.mta.max_open_retries == 0 {
                self.error(&at.key("mta").key("max_open_retries"), "expected at least 1 open retry");
            }
            if vs.expiration.ms == 0 {
                self.error(&vsp.key("expiration"), "expected an expiration timeout above 0s");
            }
            let sgp = at.key("storage_groups");
            // EXCHANGE2003.md §7: up to 4 storage groups (plus an RSG), 5 databases each.
            if s.storage_groups.len() > 4 {
                self.error(
                    &sgp,
                    format!(
                        "a server has at most 4 storage groups (EXCHANGE2003.md §7), found {}",
                        s.storage_groups.len()
                    ),
                );
            }
            self.names("storage group", sgp.clone(), s.storage_groups.iter().map(|g| g.name.as_str()), "name");
            for (g, sg) in s.storage_groups.iter().enumerate() {
                if sg.mailbox_stores.len() > 5 {
                    self.error(
                        &sgp.index(g).key("mailbox_stores"),
                        "a storage group holds at most 5 databases (EXCHANGE2003.md §7)",
                    );
                }
                for (k, store) in sg.mailbox_stores.iter().enumerate() {
                    store_configs.push(StoreConfig {
                        name: store.name.clone(),
                        storage_group: sg.name.clone(),
                        server: ServerId(i as u16),
                    });
                    store_paths.push(sgp.index(g).key("mailbox_stores").index(k));
                }
                if !sg.mailbox_stores.is_empty() && !s.roles.contains(&Role::Mailbox) {
                    self.error(
                        &sgp.index(g),
                        format!("server {:?} holds mailbox stores but lacks the \"mailbox\" role", s.name),
                    );
                }
            }
            let fqdn = format!("{}.{}", s.name.to_ascii_lowercase(), t.forest);
            server_configs.push(ServerConfig {
                name: s.name.clone(),
                fqdn,
                version: server_version(s.version),
                routing_group: RoutingGroupId(rg.unwrap_or(0) as u16),
                smtp: SmtpVirtualServerConfig {
                    name: vs.name.clone(),
                    max_message_size_bytes: vs.max_message_size_kb.map(|kb| kb * 1024),
                    retry: RetrySchedule {
                        glitch_retry_count: vs.glitch_retry_count,
                        glitch_retry_interval_ms: vs.glitch_retry_interval.ms,
                        intervals_ms: vs.retry_intervals.map(|d| d.ms),
                    },
                    expiration_ms: vs.expiration.ms,
                    messages_per_connection: vs.messages_per_connection,
                    log_flush_ms: s.disk_flush.ms,
                    ..SmtpVirtualServerConfig::default()
                },
                mta: MtaConfig { open_interval_ms: s.mta.open_interval.ms, max_open_retries: s.mta.max_open_retries },
                global_catalogs: Vec::new(),
                dsaccess: t.dsaccess.as_ref().map(|d| {
                    let version = server_version(s.version);
                    let defaults = org::directory::dsaccess::DsAccessConfig::for_version(version);
                    org::directory::dsaccess::DsAccessConfig {
                        user_cache_bytes: d.user_cache_mb.map_or(defaults.user_cache_bytes, |mb| mb << 20),
                        entry_lifetime_ms: d.entry_lifetime.ms,
                    }
                }),
            });
        }
        // §2: DSAccess uses the GCs of its own site first, then the others.
        let gc_sites: Vec<(DcId, Option<usize>)> = t
            .domain_controllers
            .iter()
            .enumerate()
            .filter(|(_, d)| d.global_catalog)
            .map(|(i, d)| (DcId(i as u16), sites.get(&d.site)))
            .collect();
        for (config, site) in server_configs.iter_mut().zip(&server_site) {
            let (mut near, far): (Vec<_>, Vec<_>) = gc_sites.iter().partition(|(_, s)| *s == Some(*site));
            near.extend(far);
            config.global_catalogs = near.into_iter().map(|&(dc, _)| dc).collect();
        }
        let stores = Names::of(store_configs.iter().map(|s| s.name.as_str()));
        for (i, s) in store_configs.iter().enumerate() {
            let first = stores.get(&s.name).expect("every store is in the table");
            if first != i {
                self.error(
                    &store_paths[i].key("name"),
                    format!(
                        "duplicate mailbox store name {:?} (first at {}); store names are unique in the organization",
                        s.name, store_paths[first]
                    ),
                );
            }
        }
        let mut masters = Vec::new();
        for (g, m) in members.iter().enumerate() {
            if m.is_empty() {
                self.error(
                    &rgp.index(g).key("name"),
                    format!("routing group {:?} has no servers", t.routing_groups[g].name),
                );
            }
            let named = t.routing_groups[g].master.as_ref().and_then(|name| {
                let s = self.reference(&servers, "server", name, &rgp.index(g).key("master"))?;
                if !m.contains(&ServerId(s as u16)) {
                    self.error(
                        &rgp.index(g).key("master"),
                        format!("server {name:?} is not a member of routing group {:?}", t.routing_groups[g].name),
                    );
                }
                Some(ServerId(s as u16))
            });
            masters.push(named.or(m.first().copied()).unwrap_or(ServerId(0)));
        }
        let ls = &t.link_state;
        let lsp = tp.key("link_state");
        if ls.oscillation_changes == 0 {
            self.error(&lsp.key("oscillation_changes"), "expected at least 1 change");
        }
        for (field, d) in [("probe_interval", ls.probe_interval), ("resend_interval", ls.resend_interval)] {
            if d.ms < 1_000 {
                self.error(&lsp.key(field), "expected at least 1s");
            }
        }
        let link_state = LinkStateConfig {
            oscillation_interval_ms: ls.oscillation_interval.ms,
            oscillation_changes: ls.oscillation_changes,
            probe_interval_ms: ls.probe_interval.ms,
            resend_interval_ms: ls.resend_interval.ms,
            suppress_state_changes: ls.suppress_state_changes,
        };

        // WAN links.
        let lp = tp.key("wan_links");
        self.names("WAN link", lp.clone(), t.wan_links.iter().map(|l| l.name.as_str()), "name");
        let mut links = Vec::new();
        let mut pairs = BTreeMap::new();
        for (i, l) in t.wan_links.iter().enumerate() {
            let a = self.reference(&sites, "site", &l.sites[0], &lp.index(i).key("sites").index(0));
            let b = self.reference(&sites, "site", &l.sites[1], &lp.index(i).key("sites").index(1));
            if let (Some(a), Some(b)) = (a, b) {
                if a == b {
                    self.error(&lp.index(i).key("sites"), "a WAN link joins two different sites");
                } else if let Some(first) = pairs.insert((a.min(b), a.max(b)), i) {
                    self.error(
                        &lp.index(i).key("sites"),
                        format!(
                            "sites {:?} and {:?} are already joined by {}",
                            l.sites[0],
                            l.sites[1],
                            lp.index(first)
                        ),
                    );
                }
            }
            links.push(LinkSpec {
                name: l.name.clone(),
                a: a.unwrap_or(0),
                b: b.unwrap_or(0),
                bits_per_s: l.bandwidth.bits_per_s,
                latency_ms: l.latency.ms,
            });
        }
        // WAN links are point-to-point circuits (see `wan`): servers that talk must share
        // a site or a link.
        let reachable =
            |from: usize, to: usize| -> bool { from == to || pairs.contains_key(&(from.min(to), from.max(to))) };
        for (g, m) in members.iter().enumerate() {
            for pair in m.windows(2) {
                let (x, y) = (usize::from(pair[0].0), usize::from(pair[1].0));
                if !reachable(server_site[x], server_site[y]) {
                    self.error(
                        &rgp.index(g),
                        format!(
                            "servers {:?} and {:?} of this routing group are in sites no WAN link joins directly (orgsim v1 links are point-to-point circuits)",
                            t.servers[x].name, t.servers[y].name
                        ),
                    );
                }
            }
        }

        // Routing group connectors.
        let cp = tp.key("routing_group_connectors");
        self.names("connector", cp.clone(), t.routing_group_connectors.iter().map(|c| c.name.as_str()), "name");
        let mut connectors = Vec::new();
        for (i, c) in t.routing_group_connectors.iter().enumerate() {
            let at = cp.index(i);
            let from = self.reference(&rgs, "routing group", &c.from, &at.key("from"));
            let to = self.reference(&rgs, "routing group", &c.to, &at.key("to"));
            if from.is_some() && from == to {
                self.error(&at.key("to"), "a routing group connector joins two different routing groups");
            }
            // EXCHANGE2003.md §4: costs 1–100.
            if !(1..=100).contains(&c.cost) {
                self.error(&at.key("cost"), format!("expected a cost from 1 to 100, found {}", c.cost));
            }
            let mut ends = [Vec::new(), Vec::new()];
            for (side, (list, field, group)) in
                [(&c.source_bridgeheads, "source_bridgeheads", from), (&c.target_bridgeheads, "target_bridgeheads", to)]
                    .into_iter()
                    .enumerate()
            {
                if list.is_empty() {
                    self.error(&at.key(field), "expected at least one bridgehead server");
                }
                for (k, name) in list.iter().enumerate() {
                    let bp = at.key(field).index(k);
                    let Some(s) = self.reference(&servers, "server", name, &bp) else {
                        continue;
                    };
                    if group.is_some_and(|g| t.servers[s].routing_group != t.routing_groups[g].name) {
                        let side_name = if side == 0 { &c.from } else { &c.to };
                        self.error(
                            &bp,
                            format!(
                                "bridgehead {name:?} is in routing group {:?}, not {side_name:?}",
                                t.servers[s].routing_group
                            ),
                        );
                    } else if !t.servers[s].roles.contains(&Role::Bridgehead) {
                        self.error(&bp, format!("server {name:?} lacks the \"bridgehead\" role"));
                    }
                    ends[side].push(ServerId(s as u16));
                }
            }
            let joined = ends[0].iter().any(|s| {
                ends[1].iter().any(|d| reachable(server_site[usize::from(s.0)], server_site[usize::from(d.0)]))
            });
            if !ends[0].is_empty() && !ends[1].is_empty() && !joined {
                self.error(&at, "no WAN link joins the site of a source bridgehead to the site of a target bridgehead (links are point-to-point circuits)");
            }
            let [source_bridgeheads, target_bridgeheads] = ends;
            connectors.push(ConnectorConfig {
                name: c.name.clone(),
                kind: match c.kind {
                    crate::scenario::ConnectorKindDef::RoutingGroup => ConnectorKind::RoutingGroup,
                    crate::scenario::ConnectorKindDef::Smtp => ConnectorKind::Smtp,
                    crate::scenario::ConnectorKindDef::X400 => ConnectorKind::X400,
                },
                from: RoutingGroupId(from.unwrap_or(0) as u16),
                to: RoutingGroupId(to.unwrap_or(0) as u16),
                cost: c.cost,
                source_bridgeheads,
                target_bridgeheads,
            });
        }

        // The Internet and the connectors with address spaces.
        let mut external = ExternalDirectory::new();
        let (internet, host_site, hosts) = self.internet(t, &sites, &mut external, &reachable);
        let gateways = self.gateways(t, &rgs, &servers, &hosts, &internet, &host_site, &server_site, &reachable);
        let connector_names = t.routing_group_connectors.iter().map(|c| (c.name.as_str(), cp.clone()));
        let mut queue_names: BTreeMap<String, JsonPath> = connector_names.map(|(n, at)| (Names::fold(n), at)).collect();
        for (list, field) in [
            (t.smtp_connectors.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), "smtp_connectors"),
            (t.x400_connectors.iter().map(|c| c.name.as_str()).collect(), "x400_connectors"),
        ] {
            for (i, name) in list.into_iter().enumerate() {
                let at = tp.key(field).index(i).key("name");
                if let Some(first) = queue_names.insert(Names::fold(name), at.clone()) {
                    self.error(&at, format!("connector name {name:?} is taken (at {first}); connector names are queue names and must differ"));
                }
            }
        }

        // Recipients.
        let r = &scenario.recipients;
        let recp = p().key("recipients");
        if r.smtp_domains.is_empty() {
            self.error(&recp.key("smtp_domains"), "expected at least one authoritative SMTP domain");
        }
        for (i, d) in r.smtp_domains.iter().enumerate() {
            if d.is_empty() || d.contains('@') || d.starts_with('.') || !d.contains('.') {
                self.error(
                    &recp.key("smtp_domains").index(i),
                    format!("expected a DNS domain like \"contoso.com\", found {d:?}"),
                );
            }
        }
        let primary = r.smtp_domains.first().cloned().unwrap_or_default().to_ascii_lowercase();
        let mut book = AddressBook::default();
        let mut directory = GlobalCatalog::new();
        let mut mailboxes_by_server = vec![Vec::new(); t.servers.len()];
        let containers = self.containers(t, r, &domains, &mut directory);
        let rus = self.recipient_update_services(r, &domains, scenario.duration.ms);
        // Objects whose restriction is filled in once every alias is known.
        let mut placed: Vec<(AddressId, JsonPath, Placement)> = Vec::new();
        let mut mail_users: Vec<(AddressId, usize)> = Vec::new();
        let mut inet_org_person = None;
        for (i, u) in r.users.iter().enumerate() {
            let at = recp.key("users").index(i);
            let address = match &u.address {
                Some(a) => {
                    let domain_ok = a.split_once('@').is_some_and(|(local, domain)| {
                        !local.is_empty() && r.smtp_domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
                    });
                    if !domain_ok {
                        self.error(
                            &at.key("address"),
                            format!(
                                "expected an address in one of the authoritative domains {:?}, found {a:?}",
                                r.smtp_domains
                            ),
                        );
                        continue;
                    }
                    a.clone()
                }
                None => format!("{}@{primary}", u.alias),
            };
            if u.alias.is_empty() || u.alias.contains(['@', ' ']) {
                self.error(&at.key("alias"), format!("expected an alias without spaces or '@', found {:?}", u.alias));
                continue;
            }
            let store = match (&u.store, &u.target_address) {
                (Some(store), None) => {
                    let Some(store) = self.reference(&stores, "mailbox store", store, &at.key("store")) else {
                        continue;
                    };
                    Some(store)
                }
                (None, Some(_)) => None,
                _ => {
                    self.error(&at, "expected either \"store\" (a mailbox-enabled user) or \"target_address\" (a mail-enabled user), not both or neither");
                    continue;
                }
            };
            let Some(id) = self.intern(&mut book, address, &at) else { continue };
            self.name_alias(&mut book, &u.alias, id, &at);
            let Some((domain, parent)) = self.place(&u.placement, &containers, &at) else { continue };
            let class = match u.class {
                crate::scenario::UserClass::User => ObjectClass::User,
                crate::scenario::UserClass::InetOrgPerson => {
                    inet_org_person.get_or_insert((at.key("class"), domain));
                    ObjectClass::InetOrgPerson
                }
            };
            let (created_at, stamped_at, deleted_at) = self.lifetime(&u.placement, domain, &rus, &at);
            let scripted = u.placement.created_at.is_some() || deleted_at.is_some();
            let recipient = match store {
                Some(store) => {
                    let server = store_configs[store].server;
                    // Client load comes from recipients that live the whole run; one
                    // created or deleted on the timeline is reached by scripted mail.
                    if !scripted {
                        mailboxes_by_server[usize::from(server.0)].push(id);
                    }
                    Recipient::Mailbox(MailboxEntry { store: StoreId(store as u16), home_server: server })
                }
                None => {
                    mail_users.push((id, i));
                    // The target is filled in once outside addresses are interned.
                    Recipient::Forward(id)
                }
            };
            let dn = format!("CN={},{parent}", u.alias);
            self.attribute_names(&u.attributes, &at.key("attributes"));
            let attributes = attribute_map(&u.attributes, None);
            directory.add(
                id,
                RecipientObject {
                    class,
                    recipient,
                    domain,
                    dn,
                    mail: book.addresses[id.0 as usize].clone(),
                    restriction: Restriction::Anyone,
                    attributes,
                    created_at,
                    stamped_at,
                    deleted_at,
                },
            );
            if let Some(text) = &u.protocol_settings {
                match org::directory::global_catalog::MapiAccess::parse(text) {
                    Ok(access) => {
                        let mode = match u.outlook {
                            crate::scenario::OutlookModeSpec::Cached => {
                                org::directory::global_catalog::OutlookMode::Cached
                            }
                            crate::scenario::OutlookModeSpec::Online => {
                                org::directory::global_catalog::OutlookMode::Online
                            }
                        };
                        directory.set_mapi(id, access, mode);
                    }
                    Err(e) => self.error(&at.key("protocol_settings"), format!("{e} (EXCHANGE2003.md §2)")),
                }
            }
            if u.out_of_office {
                if store.is_none() {
                    self.error(&at.key("out_of_office"), "only a user with a mailbox (\"store\") has Out of Office");
                }
                directory.set_out_of_office(id);
            }
            placed.push((id, at, u.placement.clone()));
        }
        let mut next_number: BTreeMap<String, u32> = BTreeMap::new();
        let mut planned = r.users.len() as u64;
        for (i, g) in r.generated.iter().enumerate() {
            let at = recp.key("generated").index(i);
            if g.stores.is_empty() {
                self.error(&at.key("stores"), "expected at least one mailbox store");
            }
            if g.count == 0 || g.count > MAX_MAILBOXES {
                self.error(&at.key("count"), format!("expected from 1 to {MAX_MAILBOXES} users"));
                continue;
            }
            planned += u64::from(g.count);
            if planned > u64::from(MAX_MAILBOXES) {
                self.error(&at.key("count"), format!("the organization would exceed {MAX_MAILBOXES} mailboxes"));
                continue;
            }
            let picked: Vec<usize> = g
                .stores
                .iter()
                .enumerate()
                .filter_map(|(k, s)| self.reference(&stores, "mailbox store", s, &at.key("stores").index(k)))
                .collect();
            if picked.len() != g.stores.len() {
                continue;
            }
            let placement = Placement {
                domain: g.domain.clone(),
                ou: g.ou.clone(),
                created_at: g.created_at,
                ..Placement::default()
            };
            let Some((domain, parent)) = self.place(&placement, &containers, &at) else { continue };
            let (created_at, stamped_at, _) = self.lifetime(&placement, domain, &rus, &at);
            self.attribute_names(&g.attributes, &at.key("attributes"));
            let first = next_number.entry(g.prefix.clone()).or_insert(1);
            for n in 0..g.count {
                let alias = format!("{}{}", g.prefix, *first + n);
                let store = picked[n as usize % picked.len()];
                let Some(id) = self.intern(&mut book, format!("{alias}@{primary}"), &at) else { continue };
                // Generated users have no alias entry: members and senders name listed
                // recipients, and 100,000 more keys would cost memory for nothing.
                let server = store_configs[store].server;
                if g.created_at.is_none() {
                    mailboxes_by_server[usize::from(server.0)].push(id);
                }
                let entry = MailboxEntry { store: StoreId(store as u16), home_server: server };
                directory.add(
                    id,
                    RecipientObject {
                        class: ObjectClass::User,
                        recipient: Recipient::Mailbox(entry),
                        domain,
                        dn: format!("CN={alias},{parent}"),
                        mail: book.addresses[id.0 as usize].clone(),
                        restriction: Restriction::Anyone,
                        attributes: attribute_map(&g.attributes, Some(n as usize)),
                        created_at,
                        stamped_at,
                        deleted_at: None,
                    },
                );
            }
            *first += g.count;
        }
        if r.users.iter().all(|u| u.store.is_none()) && r.generated.is_empty() {
            self.error(&recp, "expected at least one mailbox (users or generated)");
        }
        let mut external_addresses = Vec::new();
        for (i, text) in r.external.iter().enumerate() {
            let at = recp.key("external").index(i);
            if let Some(id) = self.add_external(&mut book, &mut external, &r.smtp_domains, text, &at, true) {
                external_addresses.push(id);
            }
        }
        for (id, i) in mail_users {
            let at = recp.key("users").index(i).key("target_address");
            let text = r.users[i].target_address.as_deref().unwrap_or_default();
            if let Some(target) = self.add_external(&mut book, &mut external, &r.smtp_domains, text, &at, false) {
                let mut object = directory.object(id).expect("added above").clone();
                object.recipient = Recipient::Forward(target);
                directory.add(id, object);
            }
        }
        for (i, c) in r.contacts.iter().enumerate() {
            let at = recp.key("contacts").index(i);
            let Some(id) = self.intern(&mut book, format!("{}@{primary}", c.alias), &at) else { continue };
            self.name_alias(&mut book, &c.alias, id, &at);
            let target_at = at.key("target_address");
            let Some(target) =
                self.add_external(&mut book, &mut external, &r.smtp_domains, &c.target_address, &target_at, false)
            else {
                continue;
            };
            let Some((domain, parent)) = self.place(&c.placement, &containers, &at) else { continue };
            let (created_at, stamped_at, deleted_at) = self.lifetime(&c.placement, domain, &rus, &at);
            let object = RecipientObject {
                class: ObjectClass::Contact,
                recipient: Recipient::Forward(target),
                domain,
                dn: format!("CN={},{parent}", c.alias),
                // A contact's mail is the outside address it stands for.
                mail: if c.target_address.contains('@') { c.target_address.clone() } else { String::new() },
                restriction: Restriction::Anyone,
                attributes: {
                    self.attribute_names(&c.attributes, &at.key("attributes"));
                    attribute_map(&c.attributes, None)
                },
                created_at,
                stamped_at,
                deleted_at,
            };
            directory.add(id, object);
            placed.push((id, at, c.placement.clone()));
        }
        // Groups: every address first (members may name groups listed later), then members.
        let servers_by_name = Names::of(t.servers.iter().map(|s| s.name.as_str()));
        let mut static_groups = Vec::new();
        let group_count = r.groups.len() + r.query_groups.len();
        for k in 0..group_count {
            let (at, alias, placement, expansion_server, membership) = match k.checked_sub(r.groups.len()) {
                None => {
                    let g = &r.groups[k];
                    let empty = Membership::Static { scope: GroupScope::Universal, members: Vec::new() };
                    (recp.key("groups").index(k), &g.alias, &g.placement, &g.expansion_server, empty)
                }
                Some(q) => {
                    let g = &r.query_groups[q];
                    let query = Membership::Query { filter: g.filter.clone(), base_dn: g.base_dn.clone() };
                    (recp.key("query_groups").index(q), &g.alias, &g.placement, &g.expansion_server, query)
                }
            };
            if alias.is_empty() || alias.contains(['@', ' ']) {
                self.error(&at.key("alias"), format!("expected an alias without spaces or '@', found {alias:?}"));
                continue;
            }
            let Some(id) = self.intern(&mut book, format!("{alias}@{primary}"), &at) else { continue };
            self.name_alias(&mut book, alias, id, &at);
            let Some((domain, parent)) = self.place(placement, &containers, &at) else { continue };
            let expansion_server = expansion_server.as_ref().and_then(|name| {
                let found = self.reference(&servers_by_name, "server", name, &at.key("expansion_server"));
                found.map(|s| ServerId(s as u16))
            });
            let query = matches!(membership, Membership::Query { .. });
            let group = directory.add_group(Group { address: id, membership, expansion_server });
            let (created_at, stamped_at, deleted_at) = self.lifetime(placement, domain, &rus, &at);
            let object = RecipientObject {
                class: if query { ObjectClass::QueryBasedGroup } else { ObjectClass::Group },
                recipient: Recipient::Group(group),
                domain,
                dn: format!("CN={alias},{parent}"),
                mail: book.addresses[id.0 as usize].clone(),
                restriction: Restriction::Anyone,
                attributes: BTreeMap::new(),
                created_at,
                stamped_at,
                deleted_at,
            };
            directory.add(id, object);
            placed.push((id, at.clone(), placement.clone()));
            if !query {
                static_groups.push((group, at, k));
            }
        }
        for (group, at, k) in static_groups {
            let spec = &r.groups[k];
            let mut members = Vec::new();
            let mut listed = BTreeSet::new();
            for (j, m) in spec.members.iter().enumerate() {
                let mat = at.key("members").index(j);
                if let Some(id) = self.lookup_alias(&book, m, &mat) {
                    if !listed.insert(id) {
                        self.error(&mat, format!("{m:?} is listed twice"));
                    }
                    members.push(id);
                }
            }
            let scope = match spec.scope {
                crate::scenario::GroupScopeSpec::DomainLocal => GroupScope::DomainLocal,
                crate::scenario::GroupScopeSpec::Global => GroupScope::Global,
                crate::scenario::GroupScopeSpec::Universal => GroupScope::Universal,
            };
            directory.set_membership(group, Membership::Static { scope, members });
        }
        // Where administrators create and delete listed recipients (checked once the
        // directory is known).
        let created_on: BTreeMap<AddressId, (String, JsonPath)> = placed
            .iter()
            .filter_map(|(id, at, p)| Some((*id, (p.created_on.clone()?, at.key("created_on")))))
            .collect();
        for (id, at, placement) in placed {
            let restriction = match (&placement.accept_from, placement.authenticated_only) {
                (None, false) => continue,
                (None, true) => Restriction::AuthenticatedOnly,
                (Some(_), true) => {
                    self.error(
                        &at.key("authenticated_only"),
                        "accept_from already admits only authenticated senders; give one or the other",
                    );
                    continue;
                }
                (Some(list), false) => {
                    let mut listed = Vec::new();
                    for (k, alias) in list.iter().enumerate() {
                        listed.extend(self.lookup_alias(&book, alias, &at.key("accept_from").index(k)));
                    }
                    Restriction::AcceptFrom(directory.accepted_senders(&listed))
                }
            };
            let mut object = directory.object(id).expect("placed objects exist").clone();
            object.restriction = restriction;
            directory.add(id, object);
        }
        if let Some((at, domain)) = inet_org_person {
            // EXCHANGE2003.md §2: an inetOrgPerson needs a 2003 DC and a native Exchange
            // 2003 topology.
            let dc_2003 = t.domain_controllers.iter().any(|d| {
                domains.get(&d.domain) == Some(usize::from(domain.0))
                    && d.version == crate::scenario::WindowsVersionSpec::Windows2003
            });
            let all_2003 = t.servers.iter().all(|s| s.version != ServerVersion::Exchange2000Sp3);
            if !dc_2003 || !all_2003 {
                self.error(&at, "an inetOrgPerson needs a Windows Server 2003 DC in its domain and only Exchange 2003 servers (EXCHANGE2003.md §2)");
            }
        }
        let mut unknown_addresses = Vec::new();
        for n in 1..=64u32 {
            let address = format!("nobody{n}@{primary}");
            if !book.index.contains_key(&address) {
                unknown_addresses.push(AddressId(book.addresses.len() as u32));
                book.addresses.push(address);
            }
        }

        // Workload.
        let duration_ms = scenario.duration.ms;
        let workload = scenario.workload.as_ref().map(|w| {
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
            let shares = [c.same_server, c.same_routing_group, c.anywhere, c.unknown, c.external];
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
            let mut choice_cdf = [0.0; 5];
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
            WorkloadSpec {
                sends_per_user_per_day: w.sends_per_user_per_day,
                hourly_factor: w.hourly_profile.map(|h| h / mean),
                recipients_per_message: w.recipients_per_message,
                size_cdf,
                choice_cdf,
                from: Instant(from),
                until: Instant(until),
                calendar: scenario.start.calendar,
            }
        });

        // Timeline.
        let links_by_name = Names::of(t.wan_links.iter().map(|l| l.name.as_str()));
        let connectors_by_name = Names::of(t.routing_group_connectors.iter().map(|c| c.name.as_str()));
        let hosts_by_name = hosts.clone();
        let dcs_by_name = Names::of(t.domain_controllers.iter().map(|d| d.name.as_str()));
        let no_gc_work = scenario.recipients.groups.is_empty()
            && scenario.recipients.query_groups.is_empty()
            && t.dsaccess.is_none();
        if let Some(d) = &t.dsaccess {
            let dp = p().key("topology").key("dsaccess");
            if d.user_cache_mb.is_some_and(|mb| !(1..=4_096).contains(&mb)) {
                self.error(&dp.key("user_cache_mb"), "expected a cache from 1 to 4096 MB");
            }
            if d.entry_lifetime.ms < 1_000 {
                self.error(&dp.key("entry_lifetime"), "expected an entry lifetime of at least 1s");
            }
        }
        let mut replication = self.directory(t, &domains, &sites, &reachable, no_gc_work, scenario.start.calendar);
        let replicating = replication.as_ref().is_some_and(|d| d.replicating);
        let rus_dcs = match replication.as_mut().filter(|d| d.replicating) {
            Some(spec) => self.replicated_recipients(spec, t, r, &directory, &rus, &created_on, &dcs_by_name, &domains),
            None => Vec::new(),
        };
        // With replication the categorizer learns of a change only from a GC; without
        // DSAccess it would read the scenario's directory directly.
        let changes_during_run = directory.objects().any(|(_, o)| o.created_at.is_some() || o.deleted_at.is_some())
            || scenario
                .timeline
                .iter()
                .any(|a| matches!(a, Action::ModifyRecipient { .. } | Action::ModifyGroup { .. }));
        if replicating && changes_during_run && t.dsaccess.is_none() {
            self.error(
                &p().key("topology").key("ad_replication"),
                "recipients change during the run: with ad_replication the categorizer must read them from a GC, so add \"dsaccess\" to the topology",
            );
        }
        let mut timeline: Vec<(u64, usize, WorldAction)> = Vec::new();
        let mut sends: Vec<SendSpec> = Vec::new();
        let mut modifications = Vec::new();
        let tlp = p().key("timeline");
        for (i, a) in scenario.timeline.iter().enumerate() {
            let at = tlp.index(i);
            if a.at().ms > duration_ms {
                self.error(&at.key("at"), format!("{} is after the run ends ({})", a.at(), scenario.duration));
            }
            let mut push = |ms: u64, action| timeline.push((ms, i, action));
            match a {
                Action::LinkDown { at: t0, link } | Action::LinkUp { at: t0, link } => {
                    if let Some(l) = self.reference(&links_by_name, "WAN link", link, &at.key("link")) {
                        let down = matches!(a, Action::LinkDown { .. });
                        push(t0.ms, if down { WorldAction::LinkDown(l) } else { WorldAction::LinkUp(l) });
                    }
                }
                Action::LinkOscillate { at: t0, link, period, duration } => {
                    if period.ms < bounds::OSCILLATION_PERIOD_MS_MIN {
                        self.error(&at.key("period"), "expected a period of at least 2s");
                        continue;
                    }
                    if 2 * duration.ms / period.ms > bounds::FAULT_STEPS_MAX {
                        self.error(
                            &at.key("period"),
                            "expected at most 1000000 steps: a longer period or a shorter duration",
                        );
                        continue;
                    }
                    if t0.ms + duration.ms > duration_ms {
                        self.error(&at.key("duration"), "the oscillation must end before the run ends");
                    }
                    if let Some(l) = self.reference(&links_by_name, "WAN link", link, &at.key("link")) {
                        let half = period.ms / 2;
                        let mut t = t0.ms;
                        while t < t0.ms + duration.ms {
                            push(t, WorldAction::LinkDown(l));
                            push((t + half).min(t0.ms + duration.ms), WorldAction::LinkUp(l));
                            t += period.ms;
                        }
                    }
                }
                Action::ConnectorDown { at: t0, connector } | Action::ConnectorUp { at: t0, connector } => {
                    if let Some(c) = self.reference(&connectors_by_name, "connector", connector, &at.key("connector")) {
                        let id = ConnectorId(c as u16);
                        let down = matches!(a, Action::ConnectorDown { .. });
                        push(t0.ms, if down { WorldAction::ConnectorDown(id) } else { WorldAction::ConnectorUp(id) });
                    }
                }
                Action::SetMaster { at: t0, routing_group, server } => {
                    let g = self.reference(&rgs, "routing group", routing_group, &at.key("routing_group"));
                    let s = self.reference(&servers, "server", server, &at.key("server"));
                    if let (Some(g), Some(s)) = (g, s) {
                        let (g, s) = (RoutingGroupId(g as u16), ServerId(s as u16));
                        if members[usize::from(g.0)].contains(&s) {
                            push(t0.ms, WorldAction::SetMaster(g, s));
                        } else {
                            self.error(
                                &at.key("server"),
                                format!("server {server:?} is not a member of routing group {routing_group:?}"),
                            );
                        }
                    }
                }
                Action::DirectoryChange { at: t0, dc, count, attributes, urgent, delete } => {
                    let Some(d) = self.reference(&dcs_by_name, "domain controller", dc, &at.key("dc")) else {
                        continue;
                    };
                    if !replicating {
                        self.error(&at, "a directory change needs topology.ad_replication (the directory is not simulated without it)");
                    }
                    if *count == 0 || *count > MAX_MAILBOXES {
                        self.error(&at.key("count"), format!("expected from 1 to {MAX_MAILBOXES} objects"));
                    }
                    if *attributes == 0 || *attributes > 64 {
                        self.error(&at.key("attributes"), "expected from 1 to 64 attributes per object");
                    }
                    let dc = DcId(d as u16);
                    let (count, attributes, urgent, delete) = (*count, *attributes, *urgent, *delete);
                    push(t0.ms, WorldAction::DirectoryChange { dc, count, attributes, urgent, delete });
                }
                Action::ClockSkew { at: t0, dc, skew, behind } => {
                    let Some(d) = self.reference(&dcs_by_name, "domain controller", dc, &at.key("dc")) else {
                        continue;
                    };
                    if !replicating {
                        self.error(
                            &at,
                            "clock skew needs topology.ad_replication (the directory is not simulated without it)",
                        );
                    }
                    // A bound: a clock more than a tombstone lifetime off is another failure.
                    if skew.ms > org::directory::ad_replication::TOMBSTONE_LIFETIME_MS {
                        self.error(&at.key("skew"), "expected a skew of at most 60 days");
                    }
                    let ms = skew.ms as i64;
                    push(t0.ms, WorldAction::ClockSkew(DcId(d as u16), if *behind { -ms } else { ms }));
                }
                Action::DcDown { at: t0, dc } | Action::DcUp { at: t0, dc } => {
                    let Some(d) = self.reference(&dcs_by_name, "domain controller", dc, &at.key("dc")) else {
                        continue;
                    };
                    if replication.is_none() {
                        self.error(
                            &at,
                            "DC faults need a simulated DC: topology.ad_replication, topology.dsaccess or groups to expand",
                        );
                    }
                    let down = matches!(a, Action::DcDown { .. });
                    push(
                        t0.ms,
                        if down { WorldAction::DcDown(DcId(d as u16)) } else { WorldAction::DcUp(DcId(d as u16)) },
                    );
                }
                Action::Send { at: t0, from, to, via, authenticated, count, size_kb } => {
                    if let Some(send) =
                        self.send(&mut book, &mut external, r, t, &at, from, to, via, *authenticated, &directory)
                    {
                        // count and size_kb are bounded by the schema.
                        push(t0.ms, WorldAction::Send(sends.len()));
                        sends.push(SendSpec { count: *count, size_bytes: size_kb * 1_024, ..send });
                    }
                }
                Action::ModifyRecipient { at: t0, recipient, attributes, domain_controller } => {
                    let found = self.lookup_recipient(&book, recipient, &at.key("recipient"));
                    let Some(id) = found.filter(|id| directory.object(*id).is_some()) else {
                        if found.is_some() {
                            self.error(&at.key("recipient"), format!("{recipient:?} is no recipient object"));
                        }
                        continue;
                    };
                    if attributes.is_empty() {
                        self.error(&at.key("attributes"), "expected at least one attribute");
                    }
                    self.attribute_names(attributes, &at.key("attributes"));
                    let written = attribute_map(attributes, None);
                    directory.add_modification(id, Instant(t0.ms), written.clone());
                    let dc = self.modification_dc(t, &directory, id, domain_controller, &rus_dcs, &dcs_by_name, &at);
                    push(t0.ms, WorldAction::ModifyRecipient(modifications.len()));
                    modifications.push(Modification {
                        recipient: id,
                        change: ModificationKind::Attributes(attributes.clone()),
                        domain_controller: domain_controller.clone(),
                        dc: dc.filter(|_| replicating),
                        written,
                    });
                }
                Action::ModifyGroup { at: t0, group, add, remove, domain_controller } => {
                    let found = self.lookup_recipient(&book, group, &at.key("group"));
                    let Some(id) = found else { continue };
                    let static_group = match directory.object(id).map(|o| o.recipient) {
                        Some(Recipient::Group(g)) => match &directory.group(g).membership {
                            Membership::Static { members, .. } => Some((g, members.clone())),
                            Membership::Query { .. } => None,
                        },
                        _ => None,
                    };
                    let Some((g, listed)) = static_group else {
                        self.error(&at.key("group"), format!("{group:?} is no standard distribution group (a query-based group's members are its filter's)"));
                        continue;
                    };
                    if add.is_empty() && remove.is_empty() {
                        self.error(&at, "expected members to \"add\" or \"remove\"");
                    }
                    // The members as of this change: the latest earlier change, else as listed.
                    let mut members = directory.membership_as_of(g, Instant(t0.ms)).unwrap_or(listed);
                    for (k, name) in add.iter().enumerate() {
                        let Some(m) = self.lookup_recipient(&book, name, &at.key("add").index(k)) else { continue };
                        if members.contains(&m) {
                            self.error(&at.key("add").index(k), format!("{name:?} is already a member"));
                        } else if m == id {
                            self.error(&at.key("add").index(k), "a group cannot be its own member");
                        } else {
                            members.push(m);
                        }
                    }
                    for (k, name) in remove.iter().enumerate() {
                        let Some(m) = self.lookup_recipient(&book, name, &at.key("remove").index(k)) else { continue };
                        match members.iter().position(|x| *x == m) {
                            Some(p) => {
                                members.remove(p);
                            }
                            None => self.error(&at.key("remove").index(k), format!("{name:?} is not a member then")),
                        }
                    }
                    directory.add_membership_change(g, Instant(t0.ms), members.clone());
                    let dc = self.modification_dc(t, &directory, id, domain_controller, &rus_dcs, &dcs_by_name, &at);
                    let written =
                        [(MEMBER_ATTRIBUTE.to_string(), org::directory::global_catalog::member_values(&members))]
                            .into();
                    push(t0.ms, WorldAction::ModifyRecipient(modifications.len()));
                    modifications.push(Modification {
                        recipient: id,
                        change: ModificationKind::Members { add: add.clone(), remove: remove.clone() },
                        domain_controller: domain_controller.clone(),
                        dc: dc.filter(|_| replicating),
                        written,
                    });
                }
                Action::HostDown { at: t0, host } | Action::HostUp { at: t0, host } => {
                    if let Some(h) = self.reference(&hosts_by_name, "Internet host", host, &at.key("host")) {
                        let id = HostId(h as u16);
                        let down = matches!(a, Action::HostDown { .. });
                        push(t0.ms, if down { WorldAction::HostDown(id) } else { WorldAction::HostUp(id) });
                    }
                }
                Action::ServerCrash { at: t0, server } | Action::ServerRestart { at: t0, server } => {
                    if let Some(s) = self.reference(&servers, "server", server, &at.key("server")) {
                        let id = ServerId(s as u16);
                        let crash = matches!(a, Action::ServerCrash { .. });
                        push(t0.ms, if crash { WorldAction::Crash(id) } else { WorldAction::Restart(id) });
                    }
                }
            }
        }
        timeline.sort_by_key(|(ms, i, _)| (*ms, *i));
        let mut down: BTreeSet<ServerId> = BTreeSet::new();
        for (ms, i, action) in &timeline {
            let at = tlp.index(*i);
            match action {
                WorldAction::Crash(s) if !down.insert(*s) => {
                    self.error(
                        &at,
                        format!(
                            "server {:?} is already down at {}",
                            t.servers[usize::from(s.0)].name,
                            crate::units::Duration::from_ms(*ms)
                        ),
                    );
                }
                WorldAction::Restart(s) if !down.remove(s) => {
                    self.error(
                        &at,
                        format!(
                            "server {:?} is not down at {}; restart follows a server_crash",
                            t.servers[usize::from(s.0)].name,
                            crate::units::Duration::from_ms(*ms)
                        ),
                    );
                }
                _ => {}
            }
        }

        // Weather.
        let weather = scenario.weather.as_ref().map(|w| {
            let wp = p().key("weather");
            if w.from >= w.until {
                self.error(&wp.key("until"), "expected the weather window to end after it starts");
            }
            if w.until.ms > duration_ms {
                self.error(&wp.key("until"), format!("faults must heal before the run ends ({})", scenario.duration));
            }
            // Targets the fixed timeline acts on are left to it.
            let mut fixed_links = BTreeSet::new();
            let mut fixed_connectors = BTreeSet::new();
            let mut fixed_servers = BTreeSet::new();
            let mut fixed_hosts = BTreeSet::new();
            let mut fixed_dcs = BTreeSet::new();
            for a in &timeline {
                match a.2 {
                    WorldAction::LinkDown(l) | WorldAction::LinkUp(l) => {
                        fixed_links.insert(l);
                    }
                    WorldAction::ConnectorDown(c) | WorldAction::ConnectorUp(c) => {
                        fixed_connectors.insert(usize::from(c.0));
                    }
                    WorldAction::Crash(s) | WorldAction::Restart(s) => {
                        fixed_servers.insert(usize::from(s.0));
                    }
                    WorldAction::HostDown(h) | WorldAction::HostUp(h) => {
                        fixed_hosts.insert(usize::from(h.0));
                    }
                    WorldAction::DcDown(d) | WorldAction::DcUp(d) => {
                        fixed_dcs.insert(usize::from(d.0));
                    }
                    WorldAction::SetMaster(..)
                    | WorldAction::Send(_)
                    | WorldAction::ModifyRecipient(_)
                    | WorldAction::DirectoryChange { .. }
                    | WorldAction::ClockSkew(..) => {}
                }
            }
            let targets = |resolver: &mut Self,
                           field: &str,
                           names: &Option<Vec<String>>,
                           table: &Names,
                           what: &str,
                           fixed: &BTreeSet<usize>|
             -> Vec<usize> {
                let all: Vec<usize> = match names {
                    None => table.indexes().collect(),
                    Some(list) => list
                        .iter()
                        .enumerate()
                        .filter_map(|(i, n)| resolver.reference(table, what, n, &wp.key(field).key("targets").index(i)))
                        .collect(),
                };
                let mut all: Vec<usize> = all.into_iter().filter(|t| !fixed.contains(t)).collect();
                all.sort_unstable();
                all.dedup();
                all
            };
            let rate = |resolver: &mut Self,
                        field: &str,
                        r: &Option<crate::scenario::FaultRate>,
                        table: &Names,
                        what: &str,
                        fixed: &BTreeSet<usize>| {
                let r = r.as_ref()?;
                let days = w.until.ms.saturating_sub(w.from.ms) as f64 / 86_400_000.0;
                if !(r.per_day.is_finite() && (0.0..=bounds::FAULTS_PER_DAY_MAX).contains(&r.per_day)) {
                    resolver.error(&wp.key(field).key("per_day"), "expected a rate from 0 to 10000 faults a day");
                } else if 2.0 * r.per_day * days > bounds::FAULT_STEPS_MAX as f64 {
                    let steps = 2.0 * r.per_day * days;
                    resolver.error(&wp.key(field).key("per_day"), format!("this weather would draw about {steps:.0} steps; expected at most 1000000 (fewer a day or a shorter window)"));
                }
                if r.length[0] > r.length[1] || r.length[0].ms == 0 {
                    resolver.error(
                        &wp.key(field).key("length"),
                        "expected [shortest, longest] with 0 < shortest <= longest",
                    );
                }
                let targets = targets(resolver, field, &r.targets, table, what, fixed);
                Some(crate::weather::RateSpec { per_day: r.per_day, length_ms: r.length.map(|d| d.ms), targets })
            };
            let link_outages = rate(self, "link_outages", &w.link_outages, &links_by_name, "WAN link", &fixed_links);
            let connector_outages = rate(
                self,
                "connector_outages",
                &w.connector_outages,
                &connectors_by_name,
                "connector",
                &fixed_connectors,
            );
            let server_crashes = rate(self, "server_crashes", &w.server_crashes, &servers, "server", &fixed_servers);
            let host_outages =
                rate(self, "host_outages", &w.host_outages, &hosts_by_name, "Internet host", &fixed_hosts);
            let dc_outages = rate(self, "dc_outages", &w.dc_outages, &dcs_by_name, "domain controller", &fixed_dcs);
            if dc_outages.is_some() && replication.is_none() {
                self.error(
                    &wp.key("dc_outages"),
                    "DC outages need a simulated DC: topology.ad_replication, topology.dsaccess or groups to expand",
                );
            }
            let link_oscillations = w.link_oscillations.as_ref().map(|o| {
                let op = wp.key("link_oscillations");
                if o.period[0] > o.period[1] || o.period[0].ms < bounds::OSCILLATION_PERIOD_MS_MIN {
                    self.error(&op.key("period"), "expected [shortest, longest] with 2s <= shortest <= longest");
                } else if o.length[0] <= o.length[1] {
                    // Episodes expected in the window, each at most `longest` long, flapping
                    // at most every `shortest` period: two steps a flap.
                    let days = w.until.ms.saturating_sub(w.from.ms) as f64 / 86_400_000.0;
                    let steps = o.per_day * days * 2.0 * (o.length[1].ms as f64 / o.period[0].ms as f64).ceil();
                    if steps > bounds::FAULT_STEPS_MAX as f64 {
                        self.error(&op.key("period"), format!("this weather would draw about {steps:.0} steps; expected at most 1000000 (longer periods, shorter episodes or fewer a day)"));
                    }
                }
                if o.length[0] > o.length[1] || o.length[0].ms == 0 {
                    self.error(&op.key("length"), "expected [shortest, longest] with 0 < shortest <= longest");
                }
                if !(o.per_day.is_finite() && (0.0..=bounds::FAULTS_PER_DAY_MAX).contains(&o.per_day)) {
                    self.error(&op.key("per_day"), "expected a rate from 0 to 10000 episodes a day");
                }
                let targets = targets(self, "link_oscillations", &o.targets, &links_by_name, "WAN link", &fixed_links);
                crate::weather::OscillationSpec {
                    per_day: o.per_day,
                    period_ms: o.period.map(|d| d.ms),
                    length_ms: o.length.map(|d| d.ms),
                    targets,
                }
            });
            crate::weather::WeatherSpec {
                from: Instant(w.from.ms),
                until: Instant(w.until.ms),
                link_outages,
                link_oscillations,
                connector_outages,
                server_crashes,
                host_outages,
                dc_outages,
            }
        });

        // Checks.
        let ep = p().key("checks").key("expect");
        let mut expectations = Vec::new();
        let window = |from: Option<crate::units::Duration>, until: Option<crate::units::Duration>| {
            (Instant(from.map_or(0, |d| d.ms)), Instant(until.map_or(duration_ms, |d| d.ms)))
        };
        let code = |c: Option<NdrCode>| {
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
            })
        };
        for (i, e) in scenario.checks.expect.iter().enumerate() {
            let at = ep.index(i);
            expectations.push(match e {
                Expectation::AllResolvedBy { at: t0 } => {
                    if t0.ms > duration_ms {
                        self.error(&at.key("at"), "the deadline is after the run ends");
                    }
                    Expect::AllResolvedBy(Instant(t0.ms))
                }
                Expectation::DeliveredAtLeast { count } => Expect::DeliveredAtLeast(*count),
                Expectation::NdrAtLeast { count, code: c } => Expect::NdrAtLeast(*count, code(*c)),
                Expectation::NdrAtMost { count, code: c } => Expect::NdrAtMost(*count, code(*c)),
                Expectation::TransferredVia { queue, at_least, at_most, from, until } => {
                    let (from, until) = window(*from, *until);
                    self.counted_window(&at, *at_least, *at_most, from, until);
                    let gateway = gateways.iter().position(|g| Names::fold(&g.name) == Names::fold(queue));
                    let domain = external.domains.iter().position(|d| d.eq_ignore_ascii_case(queue));
                    let key = if let Some(c) = connectors_by_name.get(queue) {
                        QueueKey::Link(NextHop::Connector(ConnectorId(c as u16)))
                    } else if let Some(g) = gateway {
                        QueueKey::Link(NextHop::Gateway(GatewayId(g as u16)))
                    } else if let Some(s) = servers.get(queue) {
                        QueueKey::Link(NextHop::Server(ServerId(s as u16)))
                    } else if let Some(d) = domain {
                        QueueKey::Link(NextHop::RemoteDomain(DomainId(d as u16)))
                    } else {
                        self.error(
                            &at.key("queue"),
                            format!("expected a connector, server or external domain name, found {queue:?}"),
                        );
                        continue;
                    };
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
                    self.counted_window(&at, *at_least, *at_most, from, until);
                    let Some(h) = self.reference(&hosts_by_name, "Internet host", host, &at.key("host")) else {
                        continue;
                    };
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
                    self.counted_window(&at, *at_least, *at_most, Instant::ZERO, Instant::ZERO);
                    let found = self.lookup_recipient(&book, recipient, &at.key("recipient"));
                    let Some(id) = found else { continue };
                    Expect::DeliveredTo {
                        recipient: id,
                        name: recipient.clone(),
                        at_least: *at_least,
                        at_most: *at_most,
                    }
                }
                Expectation::GcFailovers { at_least, at_most } => {
                    self.counted_window(&at, *at_least, *at_most, Instant::ZERO, Instant::ZERO);
                    Expect::GcFailovers { at_least: *at_least, at_most: *at_most }
                }
                Expectation::OutOfOfficeReplies { at_least, at_most } => {
                    self.counted_window(&at, *at_least, *at_most, Instant::ZERO, Instant::ZERO);
                    Expect::OutOfOfficeReplies { at_least: *at_least, at_most: *at_most }
                }
                Expectation::CategorizerRetries { at_least, at_most } => {
                    self.counted_window(&at, *at_least, *at_most, Instant::ZERO, Instant::ZERO);
                    Expect::CategorizerRetries { at_least: *at_least, at_most: *at_most }
                }
                Expectation::LinkStateConverges { within } => Expect::LinkStateConverges { within_ms: within.ms },
                Expectation::DirectoryConverges { within } => {
                    if !replicating {
                        self.error(&at, "directory_converges needs topology.ad_replication");
                    }
                    Expect::DirectoryConverges { within_ms: within.ms }
                }
                Expectation::LinkStateMessages { at_least, at_most } => {
                    if at_least.is_none() && at_most.is_none() {
                        self.error(&at, "expected \"at_least\", \"at_most\" or both");
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
            });
        }
        let mut invariants = scenario.checks.invariants.clone();
        invariants.sort();
        invariants.dedup();
        if scenario.report.sample_interval.ms < 1_000 {
            self.error(&p().key("report").key("sample_interval"), "expected a sample interval of at least 1s");
        }

        if !self.errors.is_empty() {
            return None;
        }
        let topology = Topology {
            servers: server_configs,
            routing_groups: t
                .routing_groups
                .iter()
                .zip(members)
                .zip(masters)
                .map(|((rg, members), master)| RoutingGroupConfig { name: rg.name.clone(), members, master })
                .collect(),
            connectors,
            gateways,
            stores: store_configs,
            directory,
            external,
            internet,
            plants: org::planted_bugs::Plants::NONE,
            link_state,
        };
        Some(Resolved {
            file: self.file.to_string(),
            topology: Arc::new(topology),
            addresses: book.addresses,
            sends,
            modifications,
            sites: t.sites.iter().map(|s| s.name.clone()).collect(),
            server_site,
            host_site,
            external_addresses,
            directory: replication,
            links,
            lan_bits_per_s: t.lan.bandwidth.bits_per_s,
            lan_latency_ms: t.lan.latency.ms,
            mailboxes_by_server,
            unknown_addresses,
            timeline: timeline.into_iter().map(|(ms, _, action)| TimedAction { at: Instant(ms), action }).collect(),
            weather,
            workload,
            invariants,
            expectations,
            duration_ms,
            sample_interval_ms: scenario.report.sample_interval.ms,
            scenario,
        })
    }
}

/// Opens the hours from `from` (0–23) until `until` (1–24) starting on `day`; a window
/// past midnight (`until` before `from`) runs on into the next day of the week, and
/// `until` equal to `from` (00:00-24:00) is the whole day.
fn open_window(open: &mut WeeklyHours, day: Weekday, from: u32, until: u32) {
    let next = Weekday::ALL[(day.index() + 1) % 7];
    let span = match (until + 24 - from) % 24 {
        0 => 24,
        span => span,
    };
    for h in (from..from + span).map(|h| h % 24) {
        open.open(if h < from { next } else { day }, 1 << h);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_sites(timeline: &str) -> String {
        format!(
            r#"{{
  "name": "t", "description": "d", "duration": "10h",
  "topology": {{
    "forest": "contoso.com", "domains": [{{"name": "contoso.com"}}],
    "sites": [{{"name": "A"}}, {{"name": "B"}}],
    "domain_controllers": [{{"name": "DC1", "domain": "contoso.com", "site": "A", "global_catalog": true}}],
    "administrative_groups": [{{"name": "AG"}}],
    "routing_groups": [{{"name": "RA", "administrative_group": "AG"}}, {{"name": "RB", "administrative_group": "AG"}}],
    "servers": [
      {{"name": "EX1", "site": "A", "routing_group": "RA", "storage_groups": [{{"name": "SG", "mailbox_stores": [{{"name": "S1"}}]}}]}},
      {{"name": "EX2", "site": "B", "routing_group": "RB", "storage_groups": [{{"name": "SG", "mailbox_stores": [{{"name": "S2"}}]}}]}}
    ],
    "routing_group_connectors": [
      {{"name": "AB", "from": "RA", "to": "RB", "cost": 1, "source_bridgeheads": ["EX1"], "target_bridgeheads": ["EX2"]}}
    ],
    "wan_links": [{{"name": "L", "sites": ["A", "B"], "bandwidth": "64kbps", "latency": "50ms"}}]
  }},
  "recipients": {{"smtp_domains": ["contoso.com"], "generated": [{{"count": 4, "stores": ["S1", "S2"]}}]}},
  "timeline": {timeline}
}}"#
        )
    }

    #[test]
    fn oscillation_expands_to_down_up_pairs_ending_up() {
        let text =
            two_sites(r#"[{"kind": "link_oscillate", "at": "1h", "link": "L", "period": "20m", "duration": "50m"}]"#);
        let r = load_str("t.json", &text).unwrap();
        let steps: Vec<(u64, WorldAction)> = r.timeline.iter().map(|a| (a.at.as_ms() / 60_000, a.action)).collect();
        use WorldAction::{LinkDown, LinkUp};
        assert_eq!(
            steps,
            vec![
                (60, LinkDown(0)),
                (70, LinkUp(0)),
                (80, LinkDown(0)),
                (90, LinkUp(0)),
                (100, LinkDown(0)),
                (110, LinkUp(0))
            ]
        );
    }

    #[test]
    fn semantic_errors_are_all_reported_with_places() {
        let text = two_sites(r#"[{"kind": "server_crash", "at": "11h", "server": "EX1"}, {"kind": "connector_up", "at": "1h", "connector": "BA"}]"#)
            .replace(r#""cost": 1"#, r#""cost": 101"#)
            .replace(r#""sites": ["A", "B"]"#, r#""sites": ["A", "A"]"#);
        let errors = load_str("t.json", &text).unwrap_err();
        let paths: Vec<&str> = errors.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "topology.routing_group_connectors[0]",
                "topology.routing_group_connectors[0].cost",
                "topology.wan_links[0].sites",
                "timeline[0].at",
                "timeline[1].connector",
            ],
            "{errors}"
        );
        assert!(errors.0.iter().all(|e| e.file == "t.json" && e.line > 0 && e.column > 0));
    }

    #[test]
    fn resolves_ids_and_addresses() {
        let r = load_str("t.json", &two_sites("[]")).unwrap();
        assert_eq!(
            r.addresses[..4],
            ["user1@contoso.com", "user2@contoso.com", "user3@contoso.com", "user4@contoso.com"]
        );
        assert_eq!(r.mailboxes_by_server, vec![vec![AddressId(0), AddressId(2)], vec![AddressId(1), AddressId(3)]]);
        assert_eq!(r.topology.server(ServerId(1)).fqdn, "ex2.contoso.com");
        assert_eq!(r.links[0].bits_per_s, 64_000);
        assert!(r.unknown_addresses.iter().all(|a| r.topology.directory.lookup(*a).is_none()));
    }
}
