//! The uncompressed OAB version 4 Full Details file ([MS-OXOAB] 2.9): an OAB_HDR, the
//! metadata record with the header and object property tables, the header record, then
//! one OAB_V4_REC per address book object, each with its presence bit array.
//!
//! Values ([MS-OXOAB] 2.9.5.x): integers take one byte up to 0x7F, else a byte 0x81–0x84
//! giving the count of little-endian bytes that follow; booleans one byte; strings are
//! null-terminated (PtypString as UTF-8) and an empty string is written as absent;
//! binaries and multi-valued properties start with an encoded count.

use super::crc::oab_crc;
use std::ops::Range;

/// A MAPI property tag: the property id in the high 16 bits, its type in the low 16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PropTag(pub u32);

/// The property types a version 4 file may hold ([MS-OXOAB] 2.9.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    /// PtypInteger32 (0x0003).
    Integer32,
    /// PtypBoolean (0x000B).
    Boolean,
    /// PtypString8 (0x001E).
    String8,
    /// PtypString (0x001F).
    Unicode,
    /// PtypBinary (0x0102).
    Binary,
    /// PtypMultipleInteger32 (0x1003).
    MultiInteger32,
    /// PtypMultipleString8 (0x101E).
    MultiString8,
    /// PtypMultipleString (0x101F).
    MultiUnicode,
    /// PtypMultipleBinary (0x1102).
    MultiBinary,
}

impl PropTag {
    /// The tag's type, if a version 4 file may hold it.
    pub fn prop_type(self) -> Option<PropType> {
        Some(match self.0 & 0xFFFF {
            0x0003 => PropType::Integer32,
            0x000B => PropType::Boolean,
            0x001E => PropType::String8,
            0x001F => PropType::Unicode,
            0x0102 => PropType::Binary,
            0x1003 => PropType::MultiInteger32,
            0x101E => PropType::MultiString8,
            0x101F => PropType::MultiUnicode,
            0x1102 => PropType::MultiBinary,
            _ => return None,
        })
    }
}

/// A property value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PropValue {
    /// An integer.
    Integer32(u32),
    /// A boolean.
    Boolean(bool),
    /// A string, written as its bytes (ASCII in orgsim's directory) or as UTF-8.
    Text(String),
    /// Bytes.
    Binary(Vec<u8>),
    /// Integers.
    MultiInteger32(Vec<u32>),
    /// Strings.
    MultiText(Vec<String>),
    /// Byte strings.
    MultiBinary(Vec<Vec<u8>>),
}

/// OAB_PROP_REC flags ([MS-OXOAB] 2.9.4): the property is indexed for ambiguous name
/// resolution. [U] the bit order of the a/b fields is read as a = 0x1, b = 0x2.
pub const FLAG_ANR: u32 = 0x1;
/// The property is the primary key and present on every object record.
pub const FLAG_PRIMARY_KEY: u32 = 0x2;

/// One column of a property table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropRec {
    /// Its tag.
    pub tag: PropTag,
    /// `FLAG_ANR`, `FLAG_PRIMARY_KEY`.
    pub flags: u32,
}

/// A record: one optional value per column of its table.
pub type Record = Vec<Option<PropValue>>;

/// A whole Full Details file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FullDetails {
    /// The header record's table.
    pub header_schema: Vec<PropRec>,
    /// The object records' table.
    pub object_schema: Vec<PropRec>,
    /// The header record (name, DN, sequence, GUID of the OAB).
    pub header: Record,
    /// The address book objects, in the file's order.
    pub records: Vec<Record>,
}

/// The OAB_HDR ulVersion of a version 4 Full Details file.
pub const VERSION_4: u32 = 0x0000_0020;
const OAB_HDR_BYTES: usize = 12;

impl FullDetails {
    /// The file's bytes.
    pub fn write(&self) -> Vec<u8> {
        self.write_with_layout().0
    }

    /// The file's bytes, and the byte range of the part before the first object record
    /// followed by each object record's range (what a patch aligns its blocks on).
    pub fn write_with_layout(&self) -> (Vec<u8>, Vec<Range<usize>>) {
        let mut out = vec![0u8; OAB_HDR_BYTES];
        let meta_at = out.len();
        out.extend_from_slice(&[0; 4]);
        for table in [&self.header_schema, &self.object_schema] {
            out.extend_from_slice(&(table.len() as u32).to_le_bytes());
            for p in table.iter() {
                out.extend_from_slice(&p.tag.0.to_le_bytes());
                out.extend_from_slice(&p.flags.to_le_bytes());
            }
        }
        let meta_len = (out.len() - meta_at) as u32;
        out[meta_at..meta_at + 4].copy_from_slice(&meta_len.to_le_bytes());
        write_record(&mut out, &self.header_schema, &self.header);
        let mut layout = Vec::with_capacity(self.records.len() + 1);
        layout.push(0..out.len());
        for record in &self.records {
            let at = out.len();
            write_record(&mut out, &self.object_schema, record);
            layout.push(at..out.len());
        }
        let serial = oab_crc(&out[OAB_HDR_BYTES..]);
        out[0..4].copy_from_slice(&VERSION_4.to_le_bytes());
        out[4..8].copy_from_slice(&serial.to_le_bytes());
        out[8..12].copy_from_slice(&(self.records.len() as u32).to_le_bytes());
        (out, layout)
    }

    /// Reads a file; the error says where and what was wrong.
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = Reader { bytes, at: 0 };
        let version = r.u32()?;
        if version != VERSION_4 {
            return Err(r.error(format!("OAB_HDR version {version:#x}, expected 0x20")));
        }
        let serial = r.u32()?;
        let total = r.u32()? as usize;
        if serial != oab_crc(&bytes[OAB_HDR_BYTES..]) {
            return Err(r.error("OAB_HDR serial is not the CRC of the file".into()));
        }
        let meta_end = r.at + r.u32()? as usize;
        let header_schema = r.table()?;
        let object_schema = r.table()?;
        if r.at != meta_end {
            return Err(r.error("metadata record size does not match its tables".into()));
        }
        let header = r.record(&header_schema)?;
        let mut records = Vec::with_capacity(total.min(1 << 20));
        while r.at < bytes.len() {
            records.push(r.record(&object_schema)?);
        }
        if records.len() != total {
            return Err(r.error(format!("{} records, OAB_HDR says {total}", records.len())));
        }
        Ok(Self { header_schema, object_schema, header, records })
    }
}

fn write_record(out: &mut Vec<u8>, schema: &[PropRec], record: &Record) {
    debug_assert_eq!(schema.len(), record.len());
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    let bits_at = out.len();
    out.resize(bits_at + schema.len().div_ceil(8), 0);
    for (i, (column, value)) in schema.iter().zip(record).enumerate() {
        let Some(value) = value.as_ref().filter(|v| !is_empty_text(v)) else {
            debug_assert_eq!(column.flags & FLAG_PRIMARY_KEY, 0, "a primary key is missing");
            continue;
        };
        out[bits_at + i / 8] |= 0x80 >> (i % 8);
        write_value(out, value);
    }
    let size = (out.len() - at) as u32;
    out[at..at + 4].copy_from_slice(&size.to_le_bytes());
}

fn is_empty_text(v: &PropValue) -> bool {
    matches!(v, PropValue::Text(s) if s.is_empty())
}

/// The [MS-OXOAB] 2.9.5.1 integer encoding.
pub fn write_integer(out: &mut Vec<u8>, v: u32) {
    if v <= 0x7F {
        out.push(v as u8);
        return;
    }
    let n = 4 - (v.leading_zeros() / 8) as usize;
    out.push(0x80 | n as u8);
    out.extend_from_slice(&v.to_le_bytes()[..n]);
}

fn write_text(out: &mut Vec<u8>, s: &str) {
    debug_assert!(!s.contains('\0'));
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn write_value(out: &mut Vec<u8>, value: &PropValue) {
    write_value_with(out, value, &write_text);
}

/// A value in the [MS-OXOAB] 2.9.5 encoding, its strings written by `text` (the version
/// 2/3a files write theirs in their own encoding).
pub(super) fn write_value_with(out: &mut Vec<u8>, value: &PropValue, text: &dyn Fn(&mut Vec<u8>, &str)) {
    match value {
        PropValue::Integer32(v) => write_integer(out, *v),
        PropValue::Boolean(b) => out.push(u8::from(*b)),
        PropValue::Text(s) => text(out, s),
        PropValue::Binary(b) => {
            write_integer(out, b.len() as u32);
            out.extend_from_slice(b);
        }
        PropValue::MultiInteger32(vs) => {
            write_integer(out, vs.len() as u32);
            vs.iter().for_each(|v| write_integer(out, *v));
        }
        PropValue::MultiText(vs) => {
            write_integer(out, vs.len() as u32);
            vs.iter().for_each(|s| text(out, s));
        }
        PropValue::MultiBinary(vs) => {
            write_integer(out, vs.len() as u32);
            for b in vs {
                write_integer(out, b.len() as u32);
                out.extend_from_slice(b);
            }
        }
    }
}

/// A Full Details file that does not read: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// Byte offset in the file.
    pub at: usize,
    /// What was expected.
    pub what: String,
}

impl std::fmt::Display for FormatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at byte {}: {}", self.at, self.what)
    }
}

/// A cursor over a file's bytes (shared with the version 2/3a files' reader).
pub(super) struct Reader<'a> {
    pub(super) bytes: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn error(&self, what: String) -> FormatError {
        FormatError { at: self.at, what }
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| self.error(format!("{n} more bytes, the file ends")))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    pub(super) fn u32(&mut self) -> Result<u32, FormatError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn integer(&mut self) -> Result<u32, FormatError> {
        let first = self.take(1)?[0];
        match first {
            0..=0x7F => Ok(u32::from(first)),
            0x81..=0x84 => {
                let b = self.take(usize::from(first - 0x80))?;
                let mut le = [0u8; 4];
                le[..b.len()].copy_from_slice(b);
                Ok(u32::from_le_bytes(le))
            }
            _ => Err(self.error(format!("integer prefix {first:#x}"))),
        }
    }

    /// The bytes of a null-terminated string, without the terminator.
    pub(super) fn cstr(&mut self) -> Result<&'a [u8], FormatError> {
        let rest = self.bytes.get(self.at..).unwrap_or_default();
        let len = rest.iter().position(|&b| b == 0).ok_or_else(|| self.error("unterminated string".into()))?;
        self.at += len + 1;
        Ok(&rest[..len])
    }

    fn text(&mut self) -> Result<String, FormatError> {
        let at = self.at;
        let bytes = self.cstr()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| FormatError { at, what: "string is not UTF-8".into() })
    }

    fn table(&mut self) -> Result<Vec<PropRec>, FormatError> {
        let count = self.u32()? as usize;
        let mut out = Vec::with_capacity(count.min(4096));
        for _ in 0..count {
            let tag = PropTag(self.u32()?);
            if tag.prop_type().is_none() {
                return Err(self.error(format!("property {:#010x} has a type version 4 lacks", tag.0)));
            }
            out.push(PropRec { tag, flags: self.u32()? });
        }
        Ok(out)
    }

    fn record(&mut self, schema: &[PropRec]) -> Result<Record, FormatError> {
        let start = self.at;
        let end = start + self.u32()? as usize;
        let bits = self.take(schema.len().div_ceil(8))?.to_vec();
        let mut record = Vec::with_capacity(schema.len());
        for (i, column) in schema.iter().enumerate() {
            let present = bits[i / 8] & (0x80 >> (i % 8)) != 0;
            record.push(if present { Some(self.value(column.tag)?) } else { None });
        }
        if self.at != end {
            return Err(FormatError {
                at: start,
                what: format!("record size {} does not match its values", end - start),
            });
        }
        Ok(record)
    }

    fn value(&mut self, tag: PropTag) -> Result<PropValue, FormatError> {
        let count = |r: &mut Self| r.integer().map(|n| n as usize);
        Ok(match tag.prop_type().ok_or_else(|| self.error("unknown property type".into()))? {
            PropType::Integer32 => PropValue::Integer32(self.integer()?),
            PropType::Boolean => PropValue::Boolean(self.take(1)?[0] != 0),
            PropType::String8 | PropType::Unicode => PropValue::Text(self.text()?),
            PropType::Binary => {
                let n = count(self)?;
                PropValue::Binary(self.take(n)?.to_vec())
            }
            PropType::MultiInteger32 => {
                let n = count(self)?;
                PropValue::MultiInteger32((0..n).map(|_| self.integer()).collect::<Result<_, _>>()?)
            }
            PropType::MultiString8 | PropType::MultiUnicode => {
                let n = count(self)?;
                PropValue::MultiText((0..n).map(|_| self.text()).collect::<Result<_, _>>()?)
            }
            PropType::MultiBinary => {
                let n = count(self)?;
                let mut vs = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let len = count(self)?;
                    vs.push(self.take(len)?.to_vec());
                }
                PropValue::MultiBinary(vs)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> FullDetails {
        let header_schema =
            vec![PropRec { tag: PropTag(0x6800_001F), flags: 0 }, PropRec { tag: PropTag(0x6801_0003), flags: 0 }];
        let object_schema = vec![
            PropRec { tag: PropTag(0x3003_001F), flags: FLAG_PRIMARY_KEY },
            PropRec { tag: PropTag(0x3001_001F), flags: FLAG_ANR },
            PropRec { tag: PropTag(0x0FFE_0003), flags: 0 },
            PropRec { tag: PropTag(0x800F_101F), flags: 0 },
            PropRec { tag: PropTag(0x8C6D_0102), flags: 0 },
            PropRec { tag: PropTag(0x3A40_000B), flags: 0 },
            PropRec { tag: PropTag(0x8C6E_1003), flags: 0 },
            PropRec { tag: PropTag(0x8C6F_1102), flags: 0 },
            PropRec { tag: PropTag(0x3A11_001F), flags: FLAG_ANR },
        ];
        let records = (0..3u32)
            .map(|i| {
                vec![
                    Some(PropValue::Text(format!("/o=Org/ou=AG/cn=Recipients/cn=user{i}"))),
                    Some(PropValue::Text(format!("Ünïcode User {i}"))),
                    Some(PropValue::Integer32(6 + i * 100_000)),
                    Some(PropValue::MultiText(vec![format!("SMTP:user{i}@example.com"), "X400:c=US".into()])),
                    Some(PropValue::Binary(vec![i as u8; 16])),
                    (i != 1).then_some(PropValue::Boolean(i == 2)),
                    Some(PropValue::MultiInteger32(vec![1, 300, 70_000, u32::MAX])),
                    Some(PropValue::MultiBinary(vec![vec![1, 2], vec![]])),
                    None,
                ]
            })
            .collect();
        FullDetails {
            header_schema,
            object_schema,
            header: vec![Some(PropValue::Text("Default Offline Address List".into())), Some(PropValue::Integer32(42))],
            records,
        }
    }

    #[test]
    fn a_file_reads_back_as_written() {
        let file = sample();
        let bytes = file.write();
        assert_eq!(&bytes[0..4], &[0x20, 0, 0, 0]);
        assert_eq!(&bytes[8..12], &[3, 0, 0, 0]);
        assert_eq!(FullDetails::parse(&bytes), Ok(file));
    }

    #[test]
    fn integers_use_the_shortest_form() {
        let enc = |v| {
            let mut out = Vec::new();
            write_integer(&mut out, v);
            out
        };
        assert_eq!(enc(0x7F), vec![0x7F]);
        assert_eq!(enc(0x80), vec![0x81, 0x80]);
        assert_eq!(enc(0x1234), vec![0x82, 0x34, 0x12]);
        assert_eq!(enc(0x12_3456), vec![0x83, 0x56, 0x34, 0x12]);
        assert_eq!(enc(u32::MAX), vec![0x84, 0xFF, 0xFF, 0xFF, 0xFF]);
    }

    #[test]
    fn presence_bits_run_from_the_most_significant_bit() {
        let file = sample();
        let (bytes, layout) = file.write_with_layout();
        let second = &bytes[layout[2].clone()];
        // Nine columns: two bytes of bits; record 1 lacks columns 5 (boolean) and 8.
        assert_eq!(&second[4..6], &[0b1111_1011, 0b0000_0000]);
    }

    #[test]
    fn damaged_files_are_errors_with_a_place() {
        let bytes = sample().write();
        for cut in [0, 5, 20, bytes.len() - 1] {
            assert!(FullDetails::parse(&bytes[..cut]).is_err());
        }
        let mut wrong = bytes.clone();
        wrong[0] = 7;
        assert!(FullDetails::parse(&wrong).unwrap_err().what.contains("version"));
    }
}
