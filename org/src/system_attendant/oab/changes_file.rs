//! The version 2/3a Changes file ([MS-OXOAB] 2.7): OAB_HDR (ulVersion 0xB for version 2,
//! 0xF for 3a; the new set's serial; the record count), then one change record per
//! object added, changed or deleted since the previous sequence, keyed by its X.500 DN.
//! Its parent DN and SMTP domain are offsets into the PDN table of the RDN index the
//! client already holds — which is why a new parent DN or SMTP domain cannot be said in
//! a Changes file and forces full files (EXCHANGE2003.md §9).
//!
//! CHG_REC [U] ([MS-OXOAB] gives the fields, not this header): a 32-bit flags word with a
//! bit per optional group of the ABNF — 0x1 display name, PDN offset and RDN (always
//! present), 0x2 SMTP domain offset and local part, 0x4 alias, 0x8 office, 0x10 surname,
//! 0x20 details (16-bit size, then the details record), 0x40 display type, 0x80 object
//! type — and 0x8000_0000 for a deletion. An added or changed object is written whole.

use super::full_details::{FormatError, Reader};
use super::legacy_files::{pdn_table, read_details, LegacyRecord, LegacyVersion, RecordSet};
use std::collections::BTreeMap;

const DN: u32 = 0x1;
const SMTP: u32 = 0x2;
const ALIAS: u32 = 0x4;
const LOCATION: u32 = 0x8;
const SURNAME: u32 = 0x10;
const DETAILS: u32 = 0x20;
const DISPLAY_TYPE: u32 = 0x40;
const OBJECT_TYPE: u32 = 0x80;
const DELETED: u32 = 0x8000_0000;

/// The Changes file from `old` (what clients hold) to `new` with `new`'s serial, or
/// None when a parent DN or SMTP domain of `new` is not in `old`'s PDN table.
pub fn changes(version: LegacyVersion, old: &RecordSet, new: &RecordSet, serial: u32) -> Option<Vec<u8>> {
    let pdns = pdn_table(version, old);
    let mut body = Vec::new();
    let mut count = 0u32;
    for (key, record) in old {
        if !new.contains_key(key) {
            write_record(&mut body, version, &pdns, record, true)?;
            count += 1;
        }
    }
    for (key, record) in new {
        if old.get(key) != Some(record) {
            write_record(&mut body, version, &pdns, record, false)?;
            count += 1;
        }
    }
    let mut out = Vec::with_capacity(12 + body.len());
    for v in [version.changes_version(), serial, count] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&body);
    Some(out)
}

fn write_record(
    out: &mut Vec<u8>,
    version: LegacyVersion,
    pdns: &BTreeMap<&str, u32>,
    r: &LegacyRecord,
    deleted: bool,
) -> Option<()> {
    let parent = *pdns.get(r.parent_dn.as_str())?;
    let cstr = |out: &mut Vec<u8>, s: &str| {
        out.extend_from_slice(&version.encode(s));
        out.push(0);
    };
    let mut flags = DN;
    if deleted {
        flags |= DELETED;
    } else {
        flags |= DISPLAY_TYPE | OBJECT_TYPE | DETAILS;
        for (bit, present) in [
            (SMTP, !r.smtp_domain.is_empty()),
            (ALIAS, !r.alias.is_empty()),
            (LOCATION, !r.location.is_empty()),
            (SURNAME, !r.surname.is_empty()),
        ] {
            flags |= if present { bit } else { 0 };
        }
    }
    out.extend_from_slice(&flags.to_le_bytes());
    cstr(out, &r.display_name);
    out.extend_from_slice(&parent.to_le_bytes());
    cstr(out, &r.rdn);
    if deleted {
        return Some(());
    }
    if flags & SMTP != 0 {
        out.extend_from_slice(&pdns.get(r.smtp_domain.as_str())?.to_le_bytes());
        cstr(out, &r.smtp_local);
    }
    for (bit, s) in [(ALIAS, &r.alias), (LOCATION, &r.location), (SURNAME, &r.surname)] {
        if flags & bit != 0 {
            cstr(out, s);
        }
    }
    let details = r.details_bytes(version);
    out.extend_from_slice(&u16::try_from(details.len()).ok()?.to_le_bytes());
    out.extend_from_slice(&details);
    out.extend_from_slice(&[r.display_type, r.object_type]);
    Some(())
}

/// Applies a Changes file to the objects a client holds (`old`, whose RDN index the
/// file's offsets point into).
pub fn apply_changes(version: LegacyVersion, old: &RecordSet, file: &[u8]) -> Result<RecordSet, FormatError> {
    let by_offset: BTreeMap<u32, String> =
        pdn_table(version, old).into_iter().map(|(name, at)| (at, name.to_owned())).collect();
    let mut r = Reader { bytes: file, at: 0 };
    let found = r.u32()?;
    if found != version.changes_version() {
        return Err(FormatError {
            at: 0,
            what: format!("OAB_HDR version {found:#x}, expected {:#x}", version.changes_version()),
        });
    }
    let (_serial, count) = (r.u32()?, r.u32()?);
    let mut out = old.clone();
    for _ in 0..count {
        let start = r.at;
        let (record, deleted) = read_record(version, &mut r, &by_offset)?;
        let key = record.key();
        if deleted {
            out.remove(&key)
                .ok_or(FormatError { at: start, what: format!("deletes {key}, which the client does not hold") })?;
        } else {
            out.insert(key, record);
        }
    }
    if r.at != file.len() {
        return Err(r.error(format!("bytes after the {count} change records")));
    }
    Ok(out)
}

fn read_record(
    version: LegacyVersion,
    r: &mut Reader<'_>,
    pdns: &BTreeMap<u32, String>,
) -> Result<(LegacyRecord, bool), FormatError> {
    let flags = r.u32()?;
    if flags & DN == 0 {
        return Err(r.error(format!("change record flags {flags:#x} lack the DN")));
    }
    let text = |r: &mut Reader<'_>| -> Result<String, FormatError> {
        let at = r.at;
        version.decode(r.cstr()?, at)
    };
    let pdn = |r: &mut Reader<'_>| -> Result<String, FormatError> {
        let at = r.u32()?;
        pdns.get(&at).cloned().ok_or_else(|| r.error(format!("PDN offset {at} is not in the client's RDN index")))
    };
    let mut record = LegacyRecord {
        display_name: text(r)?,
        parent_dn: pdn(r)?,
        rdn: text(r)?,
        smtp_domain: String::new(),
        smtp_local: String::new(),
        alias: String::new(),
        location: String::new(),
        surname: String::new(),
        details: Vec::new(),
        display_type: 0,
        object_type: 0,
    };
    if flags & DELETED != 0 {
        return Ok((record, true));
    }
    if flags & SMTP != 0 {
        record.smtp_domain = pdn(r)?;
        record.smtp_local = text(r)?;
    }
    for (bit, field) in [(ALIAS, &mut record.alias), (LOCATION, &mut record.location), (SURNAME, &mut record.surname)] {
        if flags & bit != 0 {
            *field = text(r)?;
        }
    }
    if flags & DETAILS != 0 {
        let b = r.take(2)?;
        let len = usize::from(u16::from_le_bytes([b[0], b[1]]));
        let base = r.at;
        record.details = read_details(version, r.take(len)?, base)?;
    }
    for (bit, field) in [(DISPLAY_TYPE, &mut record.display_type), (OBJECT_TYPE, &mut record.object_type)] {
        if flags & bit != 0 {
            *field = r.take(1)?[0];
        }
    }
    Ok((record, false))
}
