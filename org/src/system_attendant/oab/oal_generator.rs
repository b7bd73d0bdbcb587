//! OALGen, the System Attendant's offline address list generator (EXCHANGE2003.md §9).
//! Each run reads the address list (what a GC returned), applies SP2's property limits,
//! and produces:
//!
//! - version 4 (SP2 servers, for Outlook 2003 SP2): the Full Details file, compressed,
//!   and a differential patch against the previous run's file — always a diff;
//! - versions 2 and 3a (every server, for earlier Outlook): a diff of the records kept
//!   by RDN from the previous run, unless the changes are of a kind those versions cannot
//!   express — parent DNs that change (a new legacyExchangeDN prefix or SMTP domain),
//!   mass changes of one attribute, a new address type or address list. Then a pre-SP2
//!   server forces a full download, and an SP2 server logs an error and posts nothing
//!   (clients get no update) unless `OAL post full if diff fails` is set.
//!
//! Clients track a sequence number per version and ask for the diffs from theirs + 1.

use super::address_entry::{header_schema, object_schema, record, AddressEntry};
use super::changes_file::changes;
use super::compressed_file::{compress, compress_as, VERSION_2_3};
use super::full_details::{FullDetails, PropValue, Record};
use super::legacy_files::{build, LegacyRecord, LegacyVersion, RecordSet};
use super::lzx::EncodeParams;
use super::patch_file::{make_patch, Unit};
use super::property_limits::PropertyLimits;
use crate::directory::ldap_filter::unicode_key;
use crate::version::ExchangeVersion;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

/// An offline address book as its administrator configured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OabDefinition {
    /// Its name (the header record's PidTagOfflineAddressBookName).
    pub name: String,
    /// Its distinguished name.
    pub dn: String,
    /// Its container GUID, as text.
    pub guid: String,
    /// The address lists it is built from (a new one blocks a version 2/3a diff).
    pub address_lists: Vec<String>,
    /// The generation server's version: SP2 writes version 4 and keeps the SP2 rules.
    pub server_version: ExchangeVersion,
    /// `OAL post full if diff fails`: an SP2 server posts full version 2/3a files
    /// when it cannot make their diff.
    pub post_full_if_diff_fails: bool,
    /// SP2's per-property-type size limits (not applied before SP2).
    pub limits: PropertyLimits,
    /// One attribute changed on more than this share of the records (per cent) is a
    /// mass change no version 2/3a diff expresses. [U] the threshold is not documented.
    pub mass_change_pct: u32,
}

/// Why a version 2/3a diff could not be made.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DiffBlocker {
    /// A record's parent DN changed, or a new one appeared (a new legacyExchangeDN
    /// prefix); `example` is one record it affects.
    ParentDnChanged { example: String },
    /// A new SMTP domain in the primary addresses.
    NewSmtpDomain { domain: String },
    /// An address type no record had before.
    NewAddressType { address_type: String },
    /// An address list added to the OAB.
    NewAddressList { list: String },
    /// One attribute changed on many records.
    MassChange { attribute: &'static str, records: usize },
}

/// What a run does for versions 2 and 3a.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LegacyOutcome {
    /// The first run: full files only.
    FirstFull,
    /// A Changes file (diff) and new full files.
    Diff,
    /// Full files, and clients must download them (no diff could be made).
    ForcedFull { reason: DiffBlocker },
    /// Nothing posted: clients keep what they have (SP2 without the registry switch).
    NoUpdate { reason: DiffBlocker },
}

/// An event OALGen logs (MSExchangeSA, category OAL Generator).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OabEvent {
    /// Warning: a value over its type's size limit was left out of a record.
    AttributeDropped { rdn: String, tag: u32 },
    /// Information: a record was altered to fit the limits.
    RecordAltered { rdn: String },
    /// Error: the version 2/3a diff could not be generated.
    DiffFailed { reason: DiffBlocker, posted_full: bool },
}

impl OabEvent {
    /// Its level in the application log: warning, information or error.
    pub fn level(&self) -> &'static str {
        match self {
            OabEvent::AttributeDropped { .. } => "warning",
            OabEvent::RecordAltered { .. } => "information",
            OabEvent::DiffFailed { .. } => "error",
        }
    }
}

/// The version 4 files of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4Files {
    /// Their sequence number.
    pub sequence: u32,
    /// The uncompressed Full Details file (what a client ends up holding), shared with
    /// the generator, which keeps it to make the next patch against.
    pub full: Arc<Vec<u8>>,
    /// The compressed full file clients download (shared with the posted message).
    pub compressed: Arc<Vec<u8>>,
    /// The patch from the previous sequence's full file (none on the first run).
    pub patch: Option<Arc<Vec<u8>>>,
}

/// One version's files of a version 2/3a run, compressed (the 2.1 container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyVersionFiles {
    /// Version 2 or 3a.
    pub version: LegacyVersion,
    /// The five files of the full set, in `LegacyVersion::file_names` order.
    pub full: [Arc<Vec<u8>>; 5],
    /// The Changes file from the previous sequence (a run that made the diff).
    pub changes: Option<Arc<Vec<u8>>>,
}

impl LegacyVersionFiles {
    /// The bytes of the full set (what a full download costs).
    pub fn full_bytes(&self) -> u64 {
        self.full.iter().map(|f| f.len() as u64).sum()
    }
}

/// The version 2 and 3a files of a run that posts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyFiles {
    /// Their sequence number.
    pub sequence: u32,
    /// Version 2, then 3a.
    pub versions: [LegacyVersionFiles; 2],
}

/// What one run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Version 4 files (SP2 servers only).
    pub v4: Option<V4Files>,
    /// Version 2 and 3a files (none on a run that posts nothing for them).
    pub legacy_files: Option<LegacyFiles>,
    /// What happened to versions 2 and 3a, and their sequence after the run.
    pub legacy: LegacyOutcome,
    /// The version 2/3a sequence number clients are brought to.
    pub legacy_sequence: u32,
    /// Events logged.
    pub events: Vec<OabEvent>,
    /// Records in the address list, and how many were added, removed, changed by RDN.
    pub records: usize,
    /// See `records`.
    pub added: usize,
    /// See `records`.
    pub removed: usize,
    /// See `records`.
    pub changed: usize,
}

/// A version 4 Full Details file and where its records lie, by their sort keys.
#[derive(Debug, Clone)]
pub struct BuiltFile {
    /// The file.
    pub full: Arc<Vec<u8>>,
    /// The records' sort keys end to end (one buffer: a patch walks them in order), and
    /// where each ends.
    key_bytes: Vec<u8>,
    key_ends: Vec<usize>,
    layout: Vec<Range<usize>>,
}

impl BuiltFile {
    fn units(&self) -> Vec<Unit<'_>> {
        debug_assert_eq!(self.key_ends.len() + 1, self.layout.len());
        let mut out = Vec::with_capacity(self.layout.len());
        out.push(Unit { key: b"", range: self.layout[0].clone() });
        let mut start = 0;
        for (end, range) in self.key_ends.iter().zip(&self.layout[1..]) {
            out.push(Unit { key: &self.key_bytes[start..*end], range: range.clone() });
            start = *end;
        }
        out
    }
}

/// Builds the Full Details file of `entries` (the full regeneration's first half; the
/// other is compressing it), logging what the property limits did.
pub fn build_full_details<'a>(
    definition: &OabDefinition,
    sequence: u32,
    entries: impl Iterator<Item = &'a AddressEntry>,
    events: &mut Vec<OabEvent>,
) -> BuiltFile {
    let schema = object_schema();
    let mut rows: Vec<(Vec<u8>, Record)> = Vec::new();
    for entry in entries {
        let mut r = record(entry);
        let outcome = definition.limits.apply(&schema, &mut r);
        for &column in &outcome.dropped {
            events.push(OabEvent::AttributeDropped { rdn: entry.rdn(), tag: schema[column].tag.0 });
        }
        if !outcome.truncated.is_empty() {
            events.push(OabEvent::RecordAltered { rdn: entry.rdn() });
        }
        rows.push((sort_key(entry), r));
    }
    // Client locale order (orgsim's clients use one locale: AD's Unicode sort key).
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows.dedup_by(|a, b| a.0 == b.0);
    let text = |s: &str| Some(PropValue::Text(s.to_owned()));
    let d = definition;
    let header = vec![text(&d.name), Some(PropValue::Integer32(sequence)), text(&d.guid), text(&d.dn)];
    let mut key_bytes = Vec::with_capacity(rows.iter().map(|r| r.0.len()).sum());
    let mut key_ends = Vec::with_capacity(rows.len());
    let mut records = Vec::with_capacity(rows.len());
    for (key, record) in rows {
        key_bytes.extend_from_slice(&key);
        key_ends.push(key_bytes.len());
        records.push(record);
    }
    let file = FullDetails { header_schema: header_schema(), object_schema: schema, header, records };
    let (full, layout) = file.write_with_layout();
    BuiltFile { full: Arc::new(full), key_bytes, key_ends, layout }
}

/// The version 4 patch from one built file to the next (the diff generation).
pub fn make_v4_patch(previous: &BuiltFile, next: &BuiltFile, params: EncodeParams) -> Vec<u8> {
    make_patch(&previous.full, &previous.units(), &next.full, &next.units(), params)
}

/// The generator of one OAB on its server. What it keeps of its last run is shared
/// (`Arc`): the server's disk holds a copy of the generator, and each run replaces
/// these whole, so a copy costs no file and no address list.
#[derive(Debug, Clone)]
pub struct OalGenerator {
    definition: OabDefinition,
    v4: Option<Arc<BuiltFile>>,
    v4_sequence: u32,
    /// The entries the last posted version 2/3a files hold, by RDN.
    legacy: Option<Arc<BTreeMap<String, AddressEntry>>>,
    legacy_lists: Vec<String>,
    legacy_sequence: u32,
    /// The records of the last posted version 2/3a files (the Changes file's base).
    legacy_set: Option<Arc<RecordSet>>,
    params: EncodeParams,
    /// Planted bug `oab-sp1-rules-on-sp2`.
    sp1_rules_on_sp2: bool,
    /// Planted bug `oab-diff-wrong-generation`.
    patch_against_first: bool,
}

impl OalGenerator {
    /// A generator that has not run yet.
    pub fn new(definition: OabDefinition) -> Self {
        Self {
            definition,
            v4: None,
            v4_sequence: 0,
            legacy: None,
            legacy_lists: Vec::new(),
            legacy_sequence: 0,
            legacy_set: None,
            params: EncodeParams::default(),
            sp1_rules_on_sp2: false,
            patch_against_first: false,
        }
    }

    /// Plants the bug `oab-sp1-rules-on-sp2` (tests of the checks only).
    pub fn plant_sp1_rules_on_sp2(&mut self) {
        self.sp1_rules_on_sp2 = true;
    }

    /// Plants the bug `oab-diff-wrong-generation` (tests of the checks only).
    pub fn plant_patch_against_first(&mut self) {
        self.patch_against_first = true;
    }

    /// The configuration.
    pub fn definition(&self) -> &OabDefinition {
        &self.definition
    }

    /// An administrator's change (a new address list, the registry switch, limits).
    pub fn reconfigure(&mut self, definition: OabDefinition) {
        self.definition = definition;
    }

    /// One run over the address list `entries` (in any order).
    pub fn generate(&mut self, entries: &[AddressEntry]) -> Generation {
        let sp2 = self.definition.server_version >= ExchangeVersion::Exchange2003Sp2;
        let mut events = Vec::new();
        let by_rdn: BTreeMap<String, &AddressEntry> = entries.iter().map(|e| (e.rdn(), e)).collect();
        let (added, removed, changed) = self.count_changes(&by_rdn);
        let v4 = sp2.then(|| self.generate_v4(&by_rdn, &mut events));
        let legacy = self.legacy_outcome(&by_rdn, sp2 && !self.sp1_rules_on_sp2);
        if let LegacyOutcome::ForcedFull { reason } | LegacyOutcome::NoUpdate { reason } = &legacy {
            if sp2 {
                let posted_full = matches!(legacy, LegacyOutcome::ForcedFull { .. });
                events.push(OabEvent::DiffFailed { reason: reason.clone(), posted_full });
            }
        }
        let mut legacy_files = None;
        if !matches!(legacy, LegacyOutcome::NoUpdate { .. }) {
            self.legacy = Some(Arc::new(by_rdn.iter().map(|(k, e)| (k.clone(), (*e).clone())).collect()));
            self.legacy_lists = self.definition.address_lists.clone();
            self.legacy_sequence += 1;
            legacy_files = Some(self.generate_legacy(&by_rdn, matches!(legacy, LegacyOutcome::Diff), sp2));
        }
        Generation {
            v4,
            legacy_files,
            legacy,
            legacy_sequence: self.legacy_sequence,
            events,
            records: by_rdn.len(),
            added,
            removed,
            changed,
        }
    }

    fn count_changes(&self, by_rdn: &BTreeMap<String, &AddressEntry>) -> (usize, usize, usize) {
        let Some(previous) = &self.legacy else { return (by_rdn.len(), 0, 0) };
        let added = by_rdn.keys().filter(|k| !previous.contains_key(*k)).count();
        let removed = previous.keys().filter(|k| !by_rdn.contains_key(*k)).count();
        let changed = by_rdn.iter().filter(|(k, e)| previous.get(*k).is_some_and(|p| p != **e)).count();
        (added, removed, changed)
    }

    fn generate_v4(&mut self, by_rdn: &BTreeMap<String, &AddressEntry>, events: &mut Vec<OabEvent>) -> V4Files {
        self.v4_sequence += 1;
        let built = build_full_details(&self.definition, self.v4_sequence, by_rdn.values().copied(), events);
        let compressed = Arc::new(compress(&built.full, self.params));
        let patch = self.v4.as_ref().map(|previous| Arc::new(make_v4_patch(previous, &built, self.params)));
        let full = built.full.clone();
        // Planted bug `oab-diff-wrong-generation`: the base of the patches stays the
        // first full file.
        if !(self.patch_against_first && self.v4.is_some()) {
            self.v4 = Some(Arc::new(built));
        }
        V4Files { sequence: self.v4_sequence, full, compressed, patch }
    }

    /// The version 2/3a files of the records now (limited as version 4's on SP2), and
    /// their Changes files when the run makes the diff.
    fn generate_legacy(&mut self, by_rdn: &BTreeMap<String, &AddressEntry>, diff: bool, sp2: bool) -> LegacyFiles {
        let schema = object_schema();
        // Keyed as a client reading the files keys them (by the RDN the files hold).
        let set: RecordSet = by_rdn
            .values()
            .map(|entry| {
                let mut r = record(entry);
                if sp2 {
                    self.definition.limits.apply(&schema, &mut r);
                }
                let legacy = LegacyRecord::of(entry, &r);
                (legacy.key(), legacy)
            })
            .collect();
        let versions = LegacyVersion::ALL.map(|version| {
            let files = build(version, &set);
            let serial =
                u32::from_le_bytes([files.files[0][4], files.files[0][5], files.files[0][6], files.files[0][7]]);
            let previous = self.legacy_set.as_ref().filter(|_| diff);
            let changes = previous.and_then(|old| changes(version, old, &set, serial));
            debug_assert_eq!(changes.is_some(), diff, "a diff run's parents and domains are all known");
            let pack = |f: &[u8]| Arc::new(compress_as(VERSION_2_3, f, self.params));
            LegacyVersionFiles {
                version,
                full: files.files.each_ref().map(|f| pack(f)),
                changes: changes.map(|c| pack(&c)),
            }
        });
        self.legacy_set = Some(Arc::new(set));
        LegacyFiles { sequence: self.legacy_sequence, versions }
    }

    fn legacy_outcome(&self, by_rdn: &BTreeMap<String, &AddressEntry>, sp2: bool) -> LegacyOutcome {
        let Some(previous) = &self.legacy else { return LegacyOutcome::FirstFull };
        match self.diff_blocker(previous, by_rdn) {
            None => LegacyOutcome::Diff,
            Some(reason) if !sp2 || self.definition.post_full_if_diff_fails => LegacyOutcome::ForcedFull { reason },
            Some(reason) => LegacyOutcome::NoUpdate { reason },
        }
    }

    /// The first reason, if any, the changes since the last posted files need full files.
    fn diff_blocker(
        &self,
        previous: &BTreeMap<String, AddressEntry>,
        now: &BTreeMap<String, &AddressEntry>,
    ) -> Option<DiffBlocker> {
        if let Some(list) = self.definition.address_lists.iter().find(|l| !self.legacy_lists.contains(l)) {
            return Some(DiffBlocker::NewAddressList { list: list.clone() });
        }
        let old_parents: BTreeSet<&str> = previous.values().map(|e| e.parent_dn()).collect();
        let old_domains: BTreeSet<&str> = previous.values().filter_map(|e| smtp_domain(&e.smtp)).collect();
        let old_types: BTreeSet<String> = previous.values().flat_map(|e| e.address_types()).collect();
        for (rdn, entry) in now {
            let moved = previous.get(rdn).is_some_and(|p| p.parent_dn() != entry.parent_dn());
            if moved || !old_parents.contains(entry.parent_dn()) {
                return Some(DiffBlocker::ParentDnChanged { example: entry.legacy_dn.clone() });
            }
            if let Some(domain) = smtp_domain(&entry.smtp).filter(|d| !old_domains.contains(d)) {
                return Some(DiffBlocker::NewSmtpDomain { domain: domain.to_owned() });
            }
            if let Some(t) = entry.address_types().find(|t| !old_types.contains(t)) {
                return Some(DiffBlocker::NewAddressType { address_type: t });
            }
        }
        self.mass_change(previous, now)
    }

    fn mass_change(
        &self,
        previous: &BTreeMap<String, AddressEntry>,
        now: &BTreeMap<String, &AddressEntry>,
    ) -> Option<DiffBlocker> {
        let mut counts = [0usize; ATTRIBUTES.len()];
        for (rdn, entry) in now {
            let Some(old) = previous.get(rdn) else { continue };
            for (i, (_, get)) in ATTRIBUTES.iter().enumerate() {
                if get(old) != get(entry) {
                    counts[i] += 1;
                }
            }
        }
        let threshold = previous.len() * self.definition.mass_change_pct as usize / 100;
        let (i, &records) = counts.iter().enumerate().max_by_key(|(i, c)| (**c, usize::MAX - i))?;
        (records > threshold && records > 0).then(|| DiffBlocker::MassChange { attribute: ATTRIBUTES[i].0, records })
    }
}

type Getter = fn(&AddressEntry) -> String;

/// The attributes a mass change is counted on.
const ATTRIBUTES: [(&str, Getter); 10] = [
    ("displayName", |e| e.display_name.clone()),
    ("mail", |e| e.smtp.clone()),
    ("proxyAddresses", |e| e.proxies.join("\n")),
    ("givenName", |e| e.details[0].clone()),
    ("sn", |e| e.details[1].clone()),
    ("title", |e| e.details[2].clone()),
    ("department", |e| e.details[3].clone()),
    ("company", |e| e.details[4].clone()),
    ("physicalDeliveryOfficeName", |e| e.details[5].clone()),
    ("homeMDB", |e| e.home_mdb.clone()),
];

fn smtp_domain(smtp: &str) -> Option<&str> {
    smtp.rsplit_once('@').map(|(_, d)| d)
}

/// The order of version 4 records: the display name's sort key, then the primary key.
fn sort_key(entry: &AddressEntry) -> Vec<u8> {
    let mut key = unicode_key(&entry.display_name).into_bytes();
    key.push(0);
    key.extend_from_slice(entry.legacy_dn.to_ascii_lowercase().as_bytes());
    key
}
