//! SP2's per-property-type size limits on OAB records (EXCHANGE2003.md §9): a value over
//! its type's limit is dropped (a warning event), a multi-valued property with too many
//! values keeps the first ones and the record is marked altered (an information event,
//! and the tag listed in PidTagOfflineAddressBookTruncatedProperties).

use super::address_entry::TRUNCATED_PROPERTIES;
use super::full_details::{PropRec, PropValue, Record, FLAG_PRIMARY_KEY};

/// The limits. [U] Exchange 2003 SP2 sets them per property type in the registry;
/// their defaults are not in the seed documents, so orgsim picks these and lets a
/// scenario change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PropertyLimits {
    /// Longest string value in bytes (its encoding, without the terminator).
    pub string_bytes_max: u32,
    /// Longest binary value in bytes.
    pub binary_bytes_max: u32,
    /// Most values of a multi-valued property.
    pub values_max: u32,
}

impl Default for PropertyLimits {
    fn default() -> Self {
        Self { string_bytes_max: 1_024, binary_bytes_max: 4_096, values_max: 64 }
    }
}

/// What applying the limits did to one record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitOutcome {
    /// Columns whose value was dropped.
    pub dropped: Vec<usize>,
    /// Columns whose values were cut to `values_max`.
    pub truncated: Vec<usize>,
}

impl PropertyLimits {
    /// Applies the limits to `record` in place (never to its primary key, without
    /// which it could not be in the address book at all).
    pub fn apply(&self, schema: &[PropRec], record: &mut Record) -> LimitOutcome {
        let mut outcome = LimitOutcome::default();
        for (column, value) in record.iter_mut().enumerate() {
            if schema[column].flags & FLAG_PRIMARY_KEY != 0 {
                continue;
            }
            let Some(v) = value.as_mut() else { continue };
            match v {
                PropValue::Text(s) if s.len() > self.string_bytes_max as usize => outcome.dropped.push(column),
                PropValue::Binary(b) if b.len() > self.binary_bytes_max as usize => outcome.dropped.push(column),
                PropValue::MultiText(vs) if vs.len() > self.values_max as usize => {
                    vs.truncate(self.values_max as usize);
                    outcome.truncated.push(column);
                }
                PropValue::MultiText(vs) if vs.iter().any(|s| s.len() > self.string_bytes_max as usize) => {
                    vs.retain(|s| s.len() <= self.string_bytes_max as usize);
                    outcome.truncated.push(column);
                }
                PropValue::MultiInteger32(vs) if vs.len() > self.values_max as usize => {
                    vs.truncate(self.values_max as usize);
                    outcome.truncated.push(column);
                }
                PropValue::MultiBinary(vs) if vs.len() > self.values_max as usize => {
                    vs.truncate(self.values_max as usize);
                    outcome.truncated.push(column);
                }
                _ => {}
            }
        }
        for &column in &outcome.dropped {
            record[column] = None;
        }
        if !outcome.truncated.is_empty() {
            let tags = outcome.truncated.iter().map(|&c| schema[c].tag.0).collect();
            if let Some(at) = schema.iter().position(|p| p.tag == TRUNCATED_PROPERTIES) {
                record[at] = Some(PropValue::MultiInteger32(tags));
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::super::address_entry::{object_schema, record, AddressEntry, EntryKind};
    use super::*;

    #[test]
    fn long_values_are_dropped_and_long_lists_cut() {
        let limits = PropertyLimits { string_bytes_max: 20, binary_bytes_max: 8, values_max: 2 };
        let entry = AddressEntry {
            legacy_dn: "/o=Org/cn=Recipients/cn=al".into(),
            display_name: "A display name longer than twenty".into(),
            alias: "al".into(),
            smtp: "al@example.com".into(),
            proxies: vec!["SMTP:al@example.com".into(), "X400:c=US".into(), "FAX:1".into()],
            details: Default::default(),
            home_mdb: String::new(),
            kind: EntryKind::Mailbox,
        };
        let schema = object_schema();
        let mut r = record(&entry);
        let outcome = limits.apply(&schema, &mut r);
        assert_eq!(outcome.dropped, vec![1], "the display name; the long legacy DN is the key");
        assert_eq!(outcome.truncated, vec![13]);
        assert_eq!(r[1], None);
        assert_eq!(r[13], Some(PropValue::MultiText(vec!["SMTP:al@example.com".into(), "X400:c=US".into()])));
        assert_eq!(r[15], Some(PropValue::MultiInteger32(vec![0x800F_101F])));
    }
}
