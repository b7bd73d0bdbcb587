//! What the OAB generator reads of each address book object from a global catalog, and
//! how it becomes a version 4 record ([MS-OXOAB] 2.9; property tags from [MS-OXPROPS]).

use super::full_details::{PropRec, PropTag, PropValue, Record, FLAG_ANR, FLAG_PRIMARY_KEY};

/// An object of the address list as the GC returned it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AddressEntry {
    /// `legacyExchangeDN`: the primary key; its last RDN is the key diffs are kept by.
    pub legacy_dn: String,
    /// `displayName`.
    pub display_name: String,
    /// `mailNickname`.
    pub alias: String,
    /// The primary SMTP address (`mail`).
    pub smtp: String,
    /// `proxyAddresses`, each with its address type prefix (`SMTP:`, `X400:` ...).
    pub proxies: Vec<String>,
    /// `givenName`, `sn`, `title`, `department`, `company`,
    /// `physicalDeliveryOfficeName`, `telephoneNumber`, in that order.
    pub details: [String; 7],
    /// `homeMDB`, empty for objects without a mailbox.
    pub home_mdb: String,
    /// What kind of object it is.
    pub kind: EntryKind,
}

/// The MAPI object and display types of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    /// A mailbox user (MAPI_MAILUSER, DT_MAILUSER).
    Mailbox,
    /// A distribution list (MAPI_DISTLIST, DT_DISTLIST).
    DistributionList,
    /// A mail-enabled public folder (MAPI_MAILUSER, DT_FORUM).
    PublicFolder,
    /// A contact or mail-enabled user (MAPI_MAILUSER, DT_REMOTE_MAILUSER).
    Remote,
}

impl EntryKind {
    pub(super) fn object_type(self) -> u32 {
        match self {
            EntryKind::DistributionList => 8,
            _ => 6,
        }
    }

    pub(super) fn display_type(self) -> u32 {
        match self {
            EntryKind::Mailbox => 0,
            EntryKind::DistributionList => 1,
            EntryKind::PublicFolder => 2,
            EntryKind::Remote => 6,
        }
    }
}

impl AddressEntry {
    /// The RDN diffs are keyed by: the last `cn=` of the legacy DN, lower case.
    pub fn rdn(&self) -> String {
        let last = self.legacy_dn.rsplit('/').next().unwrap_or(&self.legacy_dn);
        last.to_ascii_lowercase()
    }

    /// The legacy DN without its last RDN (what a domain or site rename changes).
    pub fn parent_dn(&self) -> &str {
        self.legacy_dn.rsplit_once('/').map_or("", |(parent, _)| parent)
    }

    /// The address types of its proxies (`SMTP`, `X400`, ...), upper case.
    pub fn address_types(&self) -> impl Iterator<Item = String> + '_ {
        self.proxies.iter().filter_map(|p| p.split_once(':')).map(|(t, _)| t.to_ascii_uppercase())
    }
}

impl AddressEntry {
    /// A made-up mailbox user `i` of an organization `org`, for tests and benchmarks: the
    /// attributes a real entry has, with names that sort and vary as real ones do.
    pub fn synthetic(org: &str, i: u32, domain: &str, department: &str) -> AddressEntry {
        let alias = format!("user{i:06}");
        AddressEntry {
            legacy_dn: format!("/o={org}/ou=First Administrative Group/cn=Recipients/cn={alias}"),
            display_name: format!("Surname{:04}, Given{i:06}", i % 4_999),
            smtp: format!("{alias}@{domain}"),
            proxies: vec![format!("SMTP:{alias}@{domain}"), format!("X400:c=US;a= ;p={org};o=Exchange;s={alias}")],
            details: [
                format!("Given{i:06}"),
                format!("Surname{:04}", i % 4_999),
                "Engineer".into(),
                department.into(),
                org.into(),
                format!("Building {}", i % 40),
                format!("+1 425 555 {:04}", i % 10_000),
            ],
            home_mdb: format!("CN=Mailbox Store (EX{:02}),CN=First Storage Group", i % 40),
            kind: EntryKind::Mailbox,
            alias,
        }
    }
}

/// PidTagOfflineAddressBookTruncatedProperties: the tags an SP2 generator cut from a
/// record for its size limits (Exchange writes it on altered records).
pub const TRUNCATED_PROPERTIES: PropTag = PropTag(0x6805_1003);

/// The object record columns orgsim writes, in file order.
pub fn object_schema() -> Vec<PropRec> {
    let col = |tag: u32, flags: u32| PropRec { tag: PropTag(tag), flags };
    vec![
        col(0x3003_001E, FLAG_PRIMARY_KEY), // PidTagEmailAddress: legacyExchangeDN
        col(0x3001_001F, FLAG_ANR),         // PidTagDisplayName
        col(0x3A00_001F, FLAG_ANR),         // PidTagAccount: the alias
        col(0x39FE_001F, FLAG_ANR),         // PidTagSmtpAddress
        col(0x3A06_001F, 0),                // PidTagGivenName
        col(0x3A11_001F, FLAG_ANR),         // PidTagSurname
        col(0x3A17_001F, 0),                // PidTagTitle
        col(0x3A18_001F, 0),                // PidTagDepartmentName
        col(0x3A16_001F, 0),                // PidTagCompanyName
        col(0x3A19_001F, 0),                // PidTagOfficeLocation
        col(0x3A08_001F, 0),                // PidTagBusinessTelephoneNumber
        col(0x0FFE_0003, 0),                // PidTagObjectType
        col(0x3900_0003, 0),                // PidTagDisplayType
        col(0x800F_101F, 0),                // PidTagAddressBookProxyAddresses
        col(0x8006_001E, 0),                // PidTagAddressBookHomeMessageDatabase
        col(TRUNCATED_PROPERTIES.0, 0),
    ]
}

/// The header record columns: name, sequence, container GUID and DN of the OAB.
pub fn header_schema() -> Vec<PropRec> {
    [0x6800_001F, 0x6801_0003, 0x6802_001E, 0x6804_001E].map(|tag| PropRec { tag: PropTag(tag), flags: 0 }).to_vec()
}

/// The entry's record before size limits, one value per `object_schema` column.
pub fn record(entry: &AddressEntry) -> Record {
    let text = |s: &str| (!s.is_empty()).then(|| PropValue::Text(s.to_owned()));
    let mut r = vec![text(&entry.legacy_dn), text(&entry.display_name), text(&entry.alias), text(&entry.smtp)];
    r.extend(entry.details.iter().map(|d| text(d)));
    r.push(Some(PropValue::Integer32(entry.kind.object_type())));
    r.push(Some(PropValue::Integer32(entry.kind.display_type())));
    r.push((!entry.proxies.is_empty()).then(|| PropValue::MultiText(entry.proxies.clone())));
    r.push(text(&entry.home_mdb));
    r.push(None);
    debug_assert_eq!(r.len(), object_schema().len());
    r
}
