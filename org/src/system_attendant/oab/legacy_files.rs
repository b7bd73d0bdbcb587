//! The version 2 (ANSI) and 3a (Unicode) OAB files ([MS-OXOAB] 2.2–2.6), built from the
//! address list every Exchange 2003 server generates for Outlook before 2003 SP2:
//!
//! - **Browse** (2.3): OAB_HDR (ulVersion 0xA for version 2, 0xE for 3a; ulSerial; the
//!   record count), then one 32-byte record per object in display-name order: offsets of
//!   its X.500 and SMTP keys in the RDN index, of its details record and its size, its
//!   display and object types, offsets of its display name, alias, office and surname in
//!   the ANR index.
//! - **RDN index** (2.4): RDN_HDR (OAB_HDR + oRoot), the PDN table (each parent DN and
//!   SMTP domain once, null-terminated), then the keys — each object's last RDN and SMTP
//!   local part — as a threaded binary tree: oLT, oGT, the browse index (24 bits) and a
//!   flags byte, oPrev, oNext, the offset of the key's PDN, the key.
//! - **ANR index** (2.5): OAB_HDR, then the display names, aliases, offices and surnames
//!   as the same kind of tree (without the PDN offset).
//! - **Details** (2.6): OAB_HDR (ulVersion 7), then each object's other properties.
//! - **Templates** (2.2): OAB_HDR (ulVersion 7, serial 0), then the details templates.
//!
//! Keys sort by their Unicode sort key; the trees are balanced over the sorted keys,
//! written in order so oPrev/oNext are neighbours. What [MS-OXOAB] does not pin down and
//! orgsim chose [U]: the flags bytes (RDN: 0x80 an SMTP key; ANR: 0x80 alias, 0x40
//! office, 0x20 surname), ulSerial (the OAB CRC of the X.500 keys in browse order), the
//! details record (a count, then tag and value pairs in the version 4 value encoding),
//! the templates' records, and version 3a strings as UTF-8 (version 2: Latin-1, `?` for
//! anything else).

use super::address_entry::{object_schema, AddressEntry};
use super::crc::oab_crc;
use super::full_details::{write_integer, write_value_with, FormatError, PropTag, PropValue, Reader, Record};
use crate::directory::ldap_filter::unicode_key;
use std::collections::BTreeMap;

/// Which of the two older versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LegacyVersion {
    /// Version 2: ANSI strings (Outlook 97 to 2002).
    V2,
    /// Version 3a: Unicode strings (Outlook 2003 before SP2).
    V3a,
}

/// OAB_HDR ulVersion of the details and templates files ([MS-OXOAB] 2.2.1, 2.6.1).
const DETAILS_VERSION: u32 = 0x7;
const OAB_HDR_BYTES: u32 = 12;
const RDN_HDR_BYTES: u32 = 16;
const BROWSE_RECORD_BYTES: usize = 32;
const RDN_FIXED_BYTES: usize = 24;
const ANR_FIXED_BYTES: usize = 20;
/// RDN key flag: the key is an SMTP local part [U].
const SMTP_KEY: u8 = 0x80;

impl LegacyVersion {
    /// Both, in the order Exchange posts them.
    pub const ALL: [LegacyVersion; 2] = [LegacyVersion::V2, LegacyVersion::V3a];

    /// OAB_HDR ulVersion of the browse, RDN and ANR index files.
    fn index_version(self) -> u32 {
        match self {
            LegacyVersion::V2 => 0xA,
            LegacyVersion::V3a => 0xE,
        }
    }

    /// OAB_HDR ulVersion of the Changes file ([MS-OXOAB] 2.7).
    pub(super) fn changes_version(self) -> u32 {
        self.index_version() + 1
    }

    /// The OFFLINE ADDRESS BOOK subfolder its files are posted to (§9).
    pub fn folder(self) -> &'static str {
        match self {
            LegacyVersion::V2 => "OAB Version 2",
            LegacyVersion::V3a => "OAB Version 3a",
        }
    }

    /// The file names of a full set: browse, RDN index, ANR index, details, templates.
    pub fn file_names(self) -> [&'static str; 5] {
        match self {
            LegacyVersion::V2 => ["browse2.oab", "rdndex2.oab", "anrdex2.oab", "details2.oab", "tmplts2.oab"],
            LegacyVersion::V3a => ["ubrowse.oab", "urdndex.oab", "uanrdex.oab", "udetails.oab", "utmplts.oab"],
        }
    }

    /// The Changes file's name.
    pub fn changes_name(self) -> &'static str {
        match self {
            LegacyVersion::V2 => "changes2.oab",
            LegacyVersion::V3a => "uchanges.oab",
        }
    }

    pub(super) fn encode(self, s: &str) -> Vec<u8> {
        match self {
            LegacyVersion::V2 => s.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect(),
            LegacyVersion::V3a => s.as_bytes().to_vec(),
        }
    }

    pub(super) fn decode(self, bytes: &[u8], at: usize) -> Result<String, FormatError> {
        match self {
            LegacyVersion::V2 => Ok(bytes.iter().map(|&b| char::from(b)).collect()),
            LegacyVersion::V3a => {
                String::from_utf8(bytes.to_vec()).map_err(|_| FormatError { at, what: "string is not UTF-8".into() })
            }
        }
    }

    /// A string property's tag in this version (PtypString8 or PtypString).
    fn string_tag(self, tag: PropTag) -> PropTag {
        let base = tag.0 & !0x0001;
        let is_string = matches!(tag.0 & 0xFFFE, 0x001E | 0x101E);
        match self {
            _ if !is_string => tag,
            LegacyVersion::V2 => PropTag(base),
            LegacyVersion::V3a => PropTag(base | 1),
        }
    }
}

/// One address book object as versions 2 and 3a hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyRecord {
    /// PidTagDisplayName.
    pub display_name: String,
    /// The X.500 DN's parent, ending with `/`.
    pub parent_dn: String,
    /// The last RDN's value (the `cn=` is implied).
    pub rdn: String,
    /// The primary SMTP address, split at the `@` (both empty without one).
    pub smtp_domain: String,
    /// See `smtp_domain`.
    pub smtp_local: String,
    /// The alias, office location and surname (the ANR keys besides the display name).
    pub alias: String,
    /// See `alias`.
    pub location: String,
    /// See `alias`.
    pub surname: String,
    /// The details record's properties, in schema order.
    pub details: Vec<(PropTag, PropValue)>,
    /// PidTagDisplayType and PidTagObjectType.
    pub display_type: u8,
    /// See `display_type`.
    pub object_type: u8,
}

/// Objects by the key diffs are kept by (the entry's RDN, lower case).
pub type RecordSet = BTreeMap<String, LegacyRecord>;

/// Columns of `object_schema` the fixed fields carry (the rest go to details).
const FIXED_COLUMNS: [usize; 8] = [0, 1, 2, 3, 5, 9, 11, 12];

impl LegacyRecord {
    /// The object `entry`, whose version 4 record after the size limits is `record`.
    pub fn of(entry: &AddressEntry, record: &Record) -> LegacyRecord {
        let text = |i: usize| match &record[i] {
            Some(PropValue::Text(s)) => s.clone(),
            _ => String::new(),
        };
        let (parent, last) = entry.legacy_dn.rsplit_once('/').unwrap_or(("", &entry.legacy_dn));
        let rdn = last.split_once('=').map_or(last, |(_, v)| v);
        let (smtp_local, smtp_domain) = entry.smtp.rsplit_once('@').unwrap_or(("", ""));
        let schema = object_schema();
        let details = (0..schema.len())
            .filter(|i| !FIXED_COLUMNS.contains(i))
            .filter_map(|i| {
                let value = record[i].clone().filter(|v| !matches!(v, PropValue::Text(s) if s.is_empty()))?;
                Some((unicode_tag(schema[i].tag), value))
            })
            .collect();
        let mut out = LegacyRecord {
            display_name: text(1),
            parent_dn: format!("{parent}/"),
            rdn: rdn.to_owned(),
            smtp_domain: smtp_domain.to_owned(),
            smtp_local: smtp_local.to_owned(),
            alias: text(2),
            location: text(9),
            surname: text(5),
            details,
            display_type: entry.kind.display_type() as u8,
            object_type: entry.kind.object_type() as u8,
        };
        // A details record's size is 16 bits (B2_REC cbDetails): the last properties go
        // when it would not fit (UTF-8 is never shorter than version 2's Latin-1).
        while out.details_bytes(LegacyVersion::V3a).len() > usize::from(u16::MAX) {
            out.details.pop();
        }
        out
    }

    /// The key a record set holds it by (an entry's `rdn()`).
    pub fn key(&self) -> String {
        format!("cn={}", self.rdn).to_ascii_lowercase()
    }

    /// The PDN table strings it refers to: its parent DN and its SMTP domain.
    fn pdns(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.parent_dn.as_str())
            .chain((!self.smtp_domain.is_empty()).then_some(self.smtp_domain.as_str()))
    }

    /// The details record bytes: a count, then each property's tag and value.
    pub(super) fn details_bytes(&self, version: LegacyVersion) -> Vec<u8> {
        let mut out = Vec::new();
        write_integer(&mut out, self.details.len() as u32);
        for (tag, value) in &self.details {
            out.extend_from_slice(&version.string_tag(*tag).0.to_le_bytes());
            write_value_with(&mut out, value, &|o, s| write_cstr(o, version, s));
        }
        out
    }
}

/// A string property's tag as PtypString (the record set keeps one string type).
fn unicode_tag(tag: PropTag) -> PropTag {
    if matches!(tag.0 & 0xFFFE, 0x001E | 0x101E) {
        PropTag(tag.0 | 1)
    } else {
        tag
    }
}

fn write_cstr(out: &mut Vec<u8>, version: LegacyVersion, s: &str) {
    out.extend_from_slice(&version.encode(s));
    out.push(0);
}

/// The five files of a full set, uncompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSet {
    /// Browse, RDN index, ANR index, details, templates (the order of `file_names`).
    pub files: [Vec<u8>; 5],
}

/// Where each PDN string lies in the RDN index file (from `RDN_HDR_BYTES`).
pub(super) fn pdn_table(version: LegacyVersion, set: &RecordSet) -> BTreeMap<&str, u32> {
    let mut names: Vec<&str> = set.values().flat_map(LegacyRecord::pdns).collect();
    names.sort_unstable();
    names.dedup();
    let mut at = RDN_HDR_BYTES;
    let mut out = BTreeMap::new();
    for name in names {
        out.insert(name, at);
        at += version.encode(name).len() as u32 + 1;
    }
    out
}

/// A key of an index tree: its text, flags, and the browse record it belongs to.
struct Key<'a> {
    text: &'a str,
    flags: u8,
    browse: u32,
    pdn: Option<u32>,
}

/// Builds the full set of files of `set`.
pub fn build(version: LegacyVersion, set: &RecordSet) -> FileSet {
    let mut order: Vec<(&LegacyRecord, Vec<u8>)> = set.values().map(|r| (r, browse_key(r))).collect();
    order.sort_by(|a, b| a.1.cmp(&b.1));
    let order: Vec<&LegacyRecord> = order.into_iter().map(|(r, _)| r).collect();
    let serial = serial(version, &order);
    let n = order.len() as u32;
    let pdns = pdn_table_encoded(version, set);
    let mut rdn_keys = Vec::with_capacity(order.len() * 2);
    let mut anr_keys = Vec::with_capacity(order.len() * 4);
    for (i, r) in order.iter().enumerate() {
        let browse = i as u32;
        rdn_keys.push(Key { text: &r.rdn, flags: 0, browse, pdn: Some(pdns.1[r.parent_dn.as_str()]) });
        if !r.smtp_domain.is_empty() {
            rdn_keys.push(Key {
                text: &r.smtp_local,
                flags: SMTP_KEY,
                browse,
                pdn: Some(pdns.1[r.smtp_domain.as_str()]),
            });
        }
        for (text, flags) in [(&r.display_name, 0), (&r.alias, 0x80), (&r.location, 0x40), (&r.surname, 0x20)] {
            if !text.is_empty() {
                anr_keys.push(Key { text, flags, browse, pdn: None });
            }
        }
    }
    let mut rdn = header(version.index_version(), serial, rdn_keys.len() as u32);
    rdn.extend_from_slice(&[0; 4]);
    rdn.extend_from_slice(&pdns.0);
    let (rdn_root, rdn_at) = write_tree(&mut rdn, version, &mut rdn_keys, RDN_FIXED_BYTES);
    rdn[12..16].copy_from_slice(&rdn_root.to_le_bytes());
    let mut anr = header(version.index_version(), serial, anr_keys.len() as u32);
    let (_, anr_at) = write_tree(&mut anr, version, &mut anr_keys, ANR_FIXED_BYTES);
    let mut details = header(DETAILS_VERSION, serial, 0);
    let mut browse = header(version.index_version(), serial, n);
    for (i, r) in order.iter().enumerate() {
        let record = r.details_bytes(version);
        let o_details = details.len() as u32;
        details.extend_from_slice(&record);
        let o_rdn = rdn_at[&(i as u32, 0)];
        let o_smtp = rdn_at.get(&(i as u32, SMTP_KEY)).copied().unwrap_or(0);
        let anr_of = |flags| anr_at.get(&(i as u32, flags)).copied().unwrap_or(0);
        let cb = u16::try_from(record.len()).unwrap_or(u16::MAX);
        browse.extend_from_slice(&o_rdn.to_le_bytes());
        browse.extend_from_slice(&o_details.to_le_bytes());
        browse.extend_from_slice(&cb.to_le_bytes());
        browse.extend_from_slice(&[r.display_type, r.object_type]);
        for o in [o_smtp, anr_of(0), anr_of(0x80), anr_of(0x40), anr_of(0x20)] {
            browse.extend_from_slice(&o.to_le_bytes());
        }
    }
    debug_assert_eq!(browse.len(), OAB_HDR_BYTES as usize + order.len() * BROWSE_RECORD_BYTES);
    FileSet { files: [browse, rdn, anr, details, templates(version)] }
}

/// The browse order: the display name's sort key, then the DN.
fn browse_key(r: &LegacyRecord) -> Vec<u8> {
    let mut key = unicode_key(&r.display_name).into_bytes();
    key.push(0);
    key.extend_from_slice(r.parent_dn.to_ascii_lowercase().as_bytes());
    key.extend_from_slice(r.rdn.to_ascii_lowercase().as_bytes());
    key
}

/// ulSerial [U]: the OAB CRC of the X.500 keys in browse order, each null-terminated.
fn serial(version: LegacyVersion, order: &[&LegacyRecord]) -> u32 {
    let mut keys = Vec::new();
    for r in order {
        write_cstr(&mut keys, version, &r.rdn);
    }
    oab_crc(&keys)
}

fn header(version: u32, serial: u32, records: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 << 16);
    for v in [version, serial, records] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// The PDN table's bytes and each string's offset in the RDN index file.
fn pdn_table_encoded(version: LegacyVersion, set: &RecordSet) -> (Vec<u8>, BTreeMap<&str, u32>) {
    let offsets = pdn_table(version, set);
    let mut bytes = Vec::new();
    for (name, at) in &offsets {
        debug_assert_eq!(*at, RDN_HDR_BYTES + bytes.len() as u32);
        write_cstr(&mut bytes, version, name);
    }
    (bytes, offsets)
}

/// Writes `keys` as a balanced threaded tree after `out`'s bytes: returns the root's
/// offset and each key's offset by (browse index, flags).
fn write_tree(
    out: &mut Vec<u8>,
    version: LegacyVersion,
    keys: &mut [Key<'_>],
    fixed: usize,
) -> (u32, BTreeMap<(u32, u8), u32>) {
    keys.sort_by_cached_key(|k| (unicode_key(k.text), k.text.to_owned(), k.flags, k.browse));
    let encoded: Vec<Vec<u8>> = keys.iter().map(|k| version.encode(k.text)).collect();
    let mut offsets = Vec::with_capacity(keys.len());
    let mut at = out.len() as u32;
    for e in &encoded {
        offsets.push(at);
        at += (fixed + e.len() + 1) as u32;
    }
    let mut children = vec![(0u32, 0u32); keys.len()];
    let root = link(&mut children, &offsets, 0, keys.len());
    let mut by_key = BTreeMap::new();
    for (i, key) in keys.iter().enumerate() {
        let neighbour = |j: Option<usize>| j.and_then(|j| offsets.get(j)).copied().unwrap_or(0);
        let (lt, gt) = children[i];
        for v in
            [lt, gt, key.browse | (u32::from(key.flags) << 24), neighbour(i.checked_sub(1)), neighbour(Some(i + 1))]
        {
            out.extend_from_slice(&v.to_le_bytes());
        }
        if let Some(pdn) = key.pdn {
            out.extend_from_slice(&pdn.to_le_bytes());
        }
        out.extend_from_slice(&encoded[i]);
        out.push(0);
        by_key.insert((key.browse, key.flags), offsets[i]);
    }
    (root, by_key)
}

/// Links the sorted keys `lo..hi` as a balanced subtree; returns its root's offset.
fn link(children: &mut [(u32, u32)], offsets: &[u32], lo: usize, hi: usize) -> u32 {
    if lo >= hi {
        return 0;
    }
    let mid = lo + (hi - lo) / 2;
    children[mid] = (link(children, offsets, lo, mid), link(children, offsets, mid + 1, hi));
    offsets[mid]
}

/// The display templates [U]: for each display type (user, list, folder, remote user),
/// a record of its type, its control count and each control's property tag and label.
fn templates(version: LegacyVersion) -> Vec<u8> {
    const LABELS: [(u32, &str); 8] = [
        (0x3A06_001F, "First:"),
        (0x3A11_001F, "Last:"),
        (0x3A17_001F, "Title:"),
        (0x3A16_001F, "Company:"),
        (0x3A18_001F, "Department:"),
        (0x3A19_001F, "Office:"),
        (0x3A08_001F, "Business:"),
        (0x3A00_001F, "Alias:"),
    ];
    let mut out = header(DETAILS_VERSION, 0, 0);
    for display_type in [0u32, 1, 2, 6] {
        out.extend_from_slice(&display_type.to_le_bytes());
        out.extend_from_slice(&(LABELS.len() as u32).to_le_bytes());
        for (tag, label) in LABELS {
            out.extend_from_slice(&version.string_tag(PropTag(tag)).0.to_le_bytes());
            write_cstr(&mut out, version, label);
        }
    }
    out
}

/// Reads a full set back into its records; the error names the file and the place.
pub fn read(version: LegacyVersion, set: &FileSet) -> Result<RecordSet, (String, FormatError)> {
    let names = version.file_names();
    let [browse, rdn, anr, details, _] = &set.files;
    let in_file = |i: usize| move |e: FormatError| (names[i].to_owned(), e);
    let mut b = Reader { bytes: browse, at: 0 };
    let (serial, count) = check_header(&mut b, version.index_version()).map_err(in_file(0))?;
    for (i, file, v) in
        [(1, rdn, version.index_version()), (2, anr, version.index_version()), (3, details, DETAILS_VERSION)]
    {
        let (s, _) = check_header(&mut Reader { bytes: file, at: 0 }, v).map_err(in_file(i))?;
        if s != serial {
            return Err(in_file(i)(FormatError {
                at: 4,
                what: format!("ulSerial {s:#x}, the browse file's is {serial:#x}"),
            }));
        }
    }
    let mut out = RecordSet::new();
    for _ in 0..count {
        let r = read_browse_record(version, &mut b, [rdn, anr, details]).map_err(|(i, e)| (names[i].to_owned(), e))?;
        out.insert(r.key(), r);
    }
    if b.at != browse.len() {
        return Err(in_file(0)(b.error("bytes after the last browse record".into())));
    }
    Ok(out)
}

/// An OAB_HDR of `version`: its serial and record count.
fn check_header(r: &mut Reader<'_>, version: u32) -> Result<(u32, u32), FormatError> {
    let found = r.u32()?;
    if found != version {
        return Err(FormatError { at: 0, what: format!("OAB_HDR version {found:#x}, expected {version:#x}") });
    }
    Ok((r.u32()?, r.u32()?))
}

/// One browse record and what it points to in the other files.
fn read_browse_record(
    version: LegacyVersion,
    b: &mut Reader<'_>,
    [rdn, anr, details]: [&Vec<u8>; 3],
) -> Result<LegacyRecord, (usize, FormatError)> {
    let [o_rdn, o_details] = [b.u32().map_err(|e| (0, e))?, b.u32().map_err(|e| (0, e))?];
    let fixed = b.take(4).map_err(|e| (0, e))?;
    let cb = usize::from(u16::from_le_bytes([fixed[0], fixed[1]]));
    let (display_type, object_type) = (fixed[2], fixed[3]);
    let mut o = [0u32; 5];
    for v in &mut o {
        *v = b.u32().map_err(|e| (0, e))?;
    }
    let (parent_dn, rdn_key) = tree_key(version, rdn, o_rdn, true).map_err(|e| (1, e))?;
    let (smtp_domain, smtp_local) = match o[0] {
        0 => (String::new(), String::new()),
        at => tree_key(version, rdn, at, true).map_err(|e| (1, e))?,
    };
    let anr_text = |at: u32| -> Result<String, (usize, FormatError)> {
        if at == 0 {
            return Ok(String::new());
        }
        tree_key(version, anr, at, false).map(|(_, k)| k).map_err(|e| (2, e))
    };
    let details_bytes = details.get(o_details as usize..o_details as usize + cb);
    let details_bytes =
        details_bytes.ok_or((3, FormatError { at: o_details as usize, what: "details record past the end".into() }))?;
    Ok(LegacyRecord {
        display_name: anr_text(o[1])?,
        parent_dn,
        rdn: rdn_key,
        smtp_domain,
        smtp_local,
        alias: anr_text(o[2])?,
        location: anr_text(o[3])?,
        surname: anr_text(o[4])?,
        details: read_details(version, details_bytes, o_details as usize).map_err(|e| (3, e))?,
        display_type,
        object_type,
    })
}

/// The key at `at` in an index file, and (RDN index) the PDN string it points to.
fn tree_key(version: LegacyVersion, file: &[u8], at: u32, with_pdn: bool) -> Result<(String, String), FormatError> {
    let mut r = Reader { bytes: file, at: at as usize + 20 };
    let pdn = if with_pdn {
        let o = r.u32()? as usize;
        let mut p = Reader { bytes: file, at: o };
        let start = p.at;
        version.decode(p.cstr()?, start)?
    } else {
        String::new()
    };
    let start = r.at;
    let key = version.decode(r.cstr()?, start)?;
    Ok((pdn, key))
}

/// A details record's properties.
pub(super) fn read_details(
    version: LegacyVersion,
    bytes: &[u8],
    base: usize,
) -> Result<Vec<(PropTag, PropValue)>, FormatError> {
    let mut r = Reader { bytes, at: 0 };
    let n = r.integer()?;
    let mut out = Vec::with_capacity(n.min(64) as usize);
    for _ in 0..n {
        let tag = PropTag(r.u32()?);
        let value = match tag.0 & 0xFFFF {
            0x0003 => PropValue::Integer32(r.integer()?),
            0x1003 => {
                let count = r.integer()?;
                PropValue::MultiInteger32((0..count).map(|_| r.integer()).collect::<Result<_, _>>()?)
            }
            0x001E | 0x001F => PropValue::Text(version.decode(r.cstr()?, base + r.at)?),
            0x101E | 0x101F => {
                let count = r.integer()?;
                let mut vs = Vec::with_capacity(count.min(64) as usize);
                for _ in 0..count {
                    vs.push(version.decode(r.cstr()?, base + r.at)?);
                }
                PropValue::MultiText(vs)
            }
            other => return Err(FormatError { at: base + r.at, what: format!("details property type {other:#x}") }),
        };
        out.push((unicode_tag(tag), value));
    }
    if r.at != bytes.len() {
        return Err(FormatError { at: base + r.at, what: "details record size does not match its values".into() });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system_attendant::oab::address_entry::record;
    use crate::system_attendant::oab::changes_file::{apply_changes, changes};
    use proptest::prelude::*;

    fn set_of(entries: &[AddressEntry]) -> RecordSet {
        entries.iter().map(|e| (e.rdn(), LegacyRecord::of(e, &record(e)))).collect()
    }

    fn users(n: u32) -> Vec<AddressEntry> {
        (0..n).map(|i| AddressEntry::synthetic("Contoso", i, "contoso.com", &format!("Dept {}", i % 7))).collect()
    }

    #[test]
    fn a_full_set_reads_back_as_built() {
        let mut entries = users(300);
        entries[7].display_name = "Ünïcode, Zoë".into();
        entries[8].smtp.clear();
        entries[9].details[5].clear();
        for version in LegacyVersion::ALL {
            let set = set_of(&entries);
            let files = build(version, &set);
            assert_eq!(&files.files[0][0..4], &version.index_version().to_le_bytes());
            assert_eq!(files.files[0].len(), 12 + 300 * 32);
            let read_back = read(version, &files).expect("reads back");
            if version == LegacyVersion::V3a {
                assert_eq!(read_back, set);
            }
            assert_eq!(build(version, &read_back), files, "{version:?}: rebuilding the read set gives the same bytes");
        }
    }

    #[test]
    fn the_rdn_tree_is_threaded_and_balanced() {
        let set = set_of(&users(100));
        let files = build(LegacyVersion::V3a, &set);
        let rdn = &files.files[1];
        let word = |at: usize| u32::from_le_bytes(rdn[at..at + 4].try_into().unwrap()) as usize;
        // Walk the tree in order from the root: the keys come out sorted, 200 of them.
        fn walk(at: usize, word: &dyn Fn(usize) -> usize, rdn: &[u8], out: &mut Vec<String>, depth: u32) -> u32 {
            if at == 0 {
                return depth;
            }
            let left = walk(word(at), word, rdn, out, depth + 1);
            let key_at = at + RDN_FIXED_BYTES;
            let end = key_at + rdn[key_at..].iter().position(|&b| b == 0).unwrap();
            out.push(String::from_utf8(rdn[key_at..end].to_vec()).unwrap());
            left.max(walk(word(at + 4), word, rdn, out, depth + 1))
        }
        let mut keys = Vec::new();
        let depth = walk(word(12), &word, rdn, &mut keys, 0);
        assert_eq!(keys.len(), 200);
        assert!(keys.windows(2).all(|w| unicode_key(&w[0]) <= unicode_key(&w[1])));
        assert!(depth <= 9, "balanced: depth {depth} for 200 keys");
    }

    #[test]
    fn a_changes_file_brings_the_old_set_to_the_new_one() {
        let entries = users(500);
        let old = set_of(&entries);
        let mut next = entries.clone();
        next.retain(|e| !e.alias.ends_with('3'));
        for e in next.iter_mut().step_by(11) {
            e.details[6] = "+1 425 555 0000".into();
        }
        next.push(AddressEntry::synthetic("Contoso", 90_000, "contoso.com", "New"));
        let new = set_of(&next);
        for version in LegacyVersion::ALL {
            let serial = u32::from_le_bytes(build(version, &new).files[0][4..8].try_into().unwrap());
            let file = changes(version, &old, &new, serial).expect("no new parent or domain");
            let applied = apply_changes(version, &old, &file).expect("applies");
            assert_eq!(applied, new);
            assert!(file.len() * 10 < build(version, &new).files.iter().map(Vec::len).sum::<usize>());
        }
    }

    #[test]
    fn a_new_parent_dn_or_domain_has_no_changes_file() {
        let entries = users(20);
        let old = set_of(&entries);
        let mut moved = entries.clone();
        moved[3].legacy_dn = "/o=Contoso/ou=Other Group/cn=Recipients/cn=user000003".into();
        assert_eq!(changes(LegacyVersion::V3a, &old, &set_of(&moved), 0), None);
        let mut renamed = entries;
        renamed[4].smtp = "user000004@fabrikam.com".into();
        assert_eq!(changes(LegacyVersion::V2, &old, &set_of(&renamed), 0), None);
    }

    #[test]
    fn damaged_files_are_errors_naming_the_file() {
        let set = set_of(&users(30));
        let files = build(LegacyVersion::V2, &set);
        let mut bad = files.clone();
        bad.files[1][0] = 0x99;
        assert_eq!(read(LegacyVersion::V2, &bad).unwrap_err().0, "rdndex2.oab");
        let mut cut = files.clone();
        cut.files[3].truncate(40);
        assert_eq!(read(LegacyVersion::V2, &cut).unwrap_err().0, "details2.oab");
        assert!(read(LegacyVersion::V3a, &files).is_err(), "a version 2 set is not a 3a set");
        let file = changes(LegacyVersion::V2, &set, &set, 0).unwrap();
        assert!(apply_changes(LegacyVersion::V2, &set, &file[..5]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// For random directories and random change sets, the Changes file applied to the
        /// old set gives the new one, and the files built from both are the same bytes.
        #[test]
        fn changes_apply_for_random_change_sets(
            n in 1u32..120,
            edits in prop::collection::vec((0u32..150, 0u8..4, "[a-zA-Z ]{0,12}"), 0..40),
        ) {
            let mut entries = users(n);
            let old = set_of(&entries);
            for (i, what, text) in edits {
                let i = (i % (n + 30)) as usize;
                match what {
                    0 if i < entries.len() => { entries.remove(i); }
                    1 if i < entries.len() => entries[i].display_name = text,
                    2 if i < entries.len() => entries[i].details[i % 7] = text,
                    _ => entries.push(AddressEntry::synthetic("Contoso", 10_000 + i as u32, "contoso.com", "Dept 1")),
                }
            }
            let new = set_of(&entries);
            for version in LegacyVersion::ALL {
                let file = changes(version, &old, &new, 0).expect("same parents and domains");
                let applied = apply_changes(version, &old, &file).expect("applies");
                prop_assert_eq!(build(version, &applied), build(version, &new));
            }
        }
    }
}
