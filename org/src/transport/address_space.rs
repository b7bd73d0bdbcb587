//! Address spaces of SMTP and X.400 connectors, and the external addresses they match
//! (EXCHANGE2003.md §5: SMTP domains, `*`, wildcards like `*.edu`).
//!
//! An SMTP address space is `*` (everything), a domain (`fabrikam.com`: that domain
//! only) or a wildcard (`*.edu`: every domain below `edu`). An X.400 address space is a
//! list of O/R attributes (`c=US;a= ;p=Legacy;o=NYC`); it matches an X.400 address that
//! has every one of those attributes with the same value (`*` as a value matches any).
//! Routing takes the most specific match first and cost second, so a match reports how
//! specific it was.
//!
//! Left out: address spaces of other types (MS Mail, cc:Mail, Notes; §1 says 2003 removed
//! their connectors) and Exchange's "include subdomains" reading of a plain domain (here
//! a plain domain is that domain only; write `*.fabrikam.com` for its subdomains).

use crate::AddressId;
use std::collections::BTreeMap;

/// Index of an external SMTP domain in [`ExternalDirectory::domains`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct DomainId(pub u16);

/// A recipient outside the organization, by address type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExternalAddress {
    /// An SMTP address in a domain the organization is not authoritative for.
    Smtp(DomainId),
    /// An X.400 O/R address (a foreign or Exchange 5.5 mail system).
    X400,
}

/// One O/R attribute of an X.400 address or address space, lower-cased (`p`, `legacy`),
/// kept in the order written (matching does not depend on it).
type Attribute = (String, String);

/// What an address space matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// SMTP `*`: every SMTP address.
    SmtpAny,
    /// SMTP `*.suffix`: every domain ending in `.suffix` (the field holds `.suffix`).
    SmtpWildcard(String),
    /// SMTP `domain`: that domain only.
    SmtpDomain(String),
    /// X.400 attributes that must all be present (value `*` matches any value).
    X400(Vec<Attribute>),
}

/// Why an address space or an address does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError(pub String);

impl Pattern {
    /// Parses an SMTP address space: `*`, `*.edu` or `fabrikam.com`.
    pub fn smtp(text: &str) -> Result<Pattern, ParseError> {
        let text = text.trim().to_ascii_lowercase();
        if text == "*" {
            return Ok(Pattern::SmtpAny);
        }
        let (wild, domain) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest.to_string()),
            None => (false, text.clone()),
        };
        // A wildcard's suffix may be a top-level domain alone (`*.edu`).
        let ok = if wild { is_domain(&format!("x.{domain}")) } else { is_domain(&domain) };
        if !ok {
            return Err(ParseError(format!(
                "expected \"*\", a domain like \"fabrikam.com\" or a wildcard like \"*.edu\", found {text:?}"
            )));
        }
        Ok(if wild { Pattern::SmtpWildcard(format!(".{domain}")) } else { Pattern::SmtpDomain(domain) })
    }

    /// Parses an X.400 address space: `c=US;a= ;p=Legacy;o=NYC` (attributes in any order).
    pub fn x400(text: &str) -> Result<Pattern, ParseError> {
        Ok(Pattern::X400(parse_x400(text)?))
    }

    /// Whether the pattern is of the SMTP address type.
    pub fn is_smtp(&self) -> bool {
        !matches!(self, Pattern::X400(_))
    }

    /// How specifically this pattern matches an address (higher is more specific), or
    /// `None` when it does not. An exact domain beats any wildcard, a longer wildcard a
    /// shorter one, and `*` comes last; an X.400 space with more attributes beats one
    /// with fewer.
    pub fn specificity(&self, address: &ExternalAddressText<'_>) -> Option<u32> {
        match (self, address) {
            (Pattern::SmtpAny, ExternalAddressText::Smtp(_)) => Some(0),
            (Pattern::SmtpWildcard(suffix), ExternalAddressText::Smtp(domain)) => {
                domain.ends_with(suffix.as_str()).then(|| 2 * suffix.len() as u32)
            }
            (Pattern::SmtpDomain(d), ExternalAddressText::Smtp(domain)) => {
                (d == domain).then(|| 2 * d.len() as u32 + 1)
            }
            (Pattern::X400(want), ExternalAddressText::X400(have)) => {
                let all = want.iter().all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && (v == "*" || hv == v)));
                all.then_some(want.len() as u32)
            }
            _ => None,
        }
    }
}

/// An address that a pattern matches and nothing less general than it is forced to:
/// the pattern's own domain, a fresh name under a wildcard, the attributes themselves
/// (for views that show where mail for an address space goes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Example {
    /// An SMTP domain.
    Smtp(String),
    /// X.400 attributes.
    X400(Vec<(String, String)>),
}

impl Example {
    /// As address spaces match it.
    pub fn as_text(&self) -> ExternalAddressText<'_> {
        match self {
            Example::Smtp(d) => ExternalAddressText::Smtp(d),
            Example::X400(a) => ExternalAddressText::X400(a),
        }
    }
}

impl Pattern {
    /// An address this pattern matches (see [`Example`]).
    pub fn example(&self) -> Example {
        match self {
            Pattern::SmtpAny => Example::Smtp("any-domain.invalid".into()),
            Pattern::SmtpWildcard(suffix) => Example::Smtp(format!("any-domain{suffix}")),
            Pattern::SmtpDomain(d) => Example::Smtp(d.clone()),
            Pattern::X400(attrs) => Example::X400(attrs.clone()),
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::SmtpAny => write!(f, "SMTP:*"),
            Pattern::SmtpWildcard(suffix) => write!(f, "SMTP:*{suffix}"),
            Pattern::SmtpDomain(d) => write!(f, "SMTP:{d}"),
            Pattern::X400(attrs) => {
                let text: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "X400:{}", text.join(";"))
            }
        }
    }
}

/// An address as matching needs it: an SMTP domain or X.400 attributes.
#[derive(Clone, Copy, Debug)]
pub enum ExternalAddressText<'a> {
    /// The domain of an SMTP address, lower-cased.
    Smtp(&'a str),
    /// The attributes of an X.400 address.
    X400(&'a [Attribute]),
}

/// One address space of a connector: what it matches and its cost (1–100, §4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressSpace {
    /// The pattern.
    pub pattern: Pattern,
    /// Added to the route cost of reaching the connector's routing group.
    pub cost: u32,
}

/// Parses an X.400 O/R address or address space (`c=US;a= ;p=Legacy;o=NYC;s=Smith`).
fn parse_x400(text: &str) -> Result<Vec<Attribute>, ParseError> {
    let mut out: Vec<Attribute> = Vec::new();
    for part in text.split(';').filter(|p| !p.trim().is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(ParseError(format!("expected attributes like \"c=US;p=Legacy;o=NYC\", found {text:?}")));
        };
        let key = k.trim().to_ascii_lowercase();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ParseError(format!("bad X.400 attribute name {k:?} in {text:?}")));
        }
        if out.iter().any(|(have, _)| *have == key) {
            return Err(ParseError(format!("X.400 attribute {key:?} given twice in {text:?}")));
        }
        // `a= ` (a single space) is the ADMD "any" of X.400 addresses: keep it as it is.
        let value = if v.trim().is_empty() { " ".to_string() } else { v.trim().to_ascii_lowercase() };
        out.push((key, value));
    }
    if out.is_empty() {
        return Err(ParseError(format!("expected at least one X.400 attribute, found {text:?}")));
    }
    Ok(out)
}

/// Whether `d` is a plausible DNS domain: dot-separated labels of letters, digits and
/// hyphens, at least two labels.
fn is_domain(d: &str) -> bool {
    let labels: Vec<&str> = d.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// The external recipients the organization's mail can be addressed to: SMTP addresses
/// in domains it is not authoritative for, and X.400 addresses. (The global catalog
/// holds the organization's own recipients.)
#[derive(Clone, Debug, Default)]
pub struct ExternalDirectory {
    /// External SMTP domains, indexed by [`DomainId`].
    pub domains: Vec<String>,
    addresses: BTreeMap<AddressId, ExternalAddress>,
    x400: BTreeMap<AddressId, Vec<Attribute>>,
}

impl ExternalDirectory {
    /// An empty directory.
    pub fn new() -> Self {
        ExternalDirectory::default()
    }

    /// Adds an SMTP address (`local@domain`, domain not authoritative); returns its domain.
    pub fn add_smtp(&mut self, address: AddressId, text: &str) -> Result<DomainId, ParseError> {
        let Some((local, domain)) = text.rsplit_once('@') else {
            return Err(ParseError(format!("expected an address like \"alice@fabrikam.com\", found {text:?}")));
        };
        let domain = domain.to_ascii_lowercase();
        if local.is_empty() || local.contains([' ', '@']) || !is_domain(&domain) {
            return Err(ParseError(format!("expected an address like \"alice@fabrikam.com\", found {text:?}")));
        }
        let id = self.domain_id(&domain);
        self.addresses.insert(address, ExternalAddress::Smtp(id));
        Ok(id)
    }

    /// Adds an X.400 address (`c=US;a= ;p=Legacy;o=NYC;s=Smith`).
    pub fn add_x400(&mut self, address: AddressId, text: &str) -> Result<(), ParseError> {
        let attrs = parse_x400(text)?;
        self.addresses.insert(address, ExternalAddress::X400);
        self.x400.insert(address, attrs);
        Ok(())
    }

    /// The domain's id, interning it on first sight.
    pub fn domain_id(&mut self, domain: &str) -> DomainId {
        let domain = domain.to_ascii_lowercase();
        match self.domains.iter().position(|d| *d == domain) {
            Some(i) => DomainId(i as u16),
            None => {
                self.domains.push(domain);
                DomainId((self.domains.len() - 1) as u16)
            }
        }
    }

    /// The external address behind `address`, if it is one.
    pub fn lookup(&self, address: AddressId) -> Option<ExternalAddress> {
        self.addresses.get(&address).copied()
    }

    /// An external address as address spaces match it.
    pub fn text(&self, address: AddressId) -> Option<ExternalAddressText<'_>> {
        match self.addresses.get(&address)? {
            ExternalAddress::Smtp(d) => Some(ExternalAddressText::Smtp(&self.domains[usize::from(d.0)])),
            ExternalAddress::X400 => Some(ExternalAddressText::X400(&self.x400[&address])),
        }
    }

    /// The domain's name.
    pub fn domain(&self, id: DomainId) -> &str {
        &self.domains[usize::from(id.0)]
    }

    /// Number of external addresses.
    pub fn len(&self) -> usize {
        self.addresses.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn smtp(p: &str, domain: &str) -> Option<u32> {
        Pattern::smtp(p).unwrap().specificity(&ExternalAddressText::Smtp(domain))
    }

    #[test]
    fn smtp_spaces_star_wildcard_and_domain_exchange2003_5() {
        assert_eq!(smtp("*", "fabrikam.com"), Some(0));
        assert!(smtp("*.edu", "school.edu").unwrap() > 0);
        assert_eq!(smtp("*.edu", "edu.com"), None);
        assert_eq!(smtp("*.edu", "school.edu.au"), None);
        assert_eq!(smtp("fabrikam.com", "sales.fabrikam.com"), None, "a plain domain is that domain only");
        assert!(smtp("*.fabrikam.com", "sales.fabrikam.com").is_some());
        assert_eq!(smtp("FABRIKAM.com", "fabrikam.com"), Some(25));
        // Most specific: an exact domain over a wildcard of the same domain's parent.
        assert!(smtp("school.edu", "school.edu") > smtp("*.edu", "school.edu"));
        assert!(smtp("*.school.edu", "a.school.edu") > smtp("*.edu", "a.school.edu"));
    }

    #[test]
    fn bad_spaces_are_refused_with_what_was_expected() {
        for bad in ["", "*.", "fabrikam", "fab rikam.com", "*edu", ".edu", "a..b"] {
            let e = Pattern::smtp(bad).unwrap_err();
            assert!(e.0.contains("expected"), "{bad:?}: {e:?}");
        }
        assert!(Pattern::x400("c=US;c=DE").is_err());
        assert!(Pattern::x400("nonsense").is_err());
        assert!(Pattern::x400("").is_err());
    }

    #[test]
    fn x400_spaces_match_attribute_subsets() {
        let mut dir = ExternalDirectory::new();
        dir.add_x400(AddressId(1), "c=US;a= ;p=Legacy;o=NYC;s=Smith").unwrap();
        let addr = dir.text(AddressId(1)).unwrap();
        let spec = |p: &str| Pattern::x400(p).unwrap().specificity(&addr);
        assert_eq!(spec("c=US;a= ;p=Legacy"), Some(3));
        assert_eq!(spec("p=legacy;o=nyc;c=us;a= "), Some(4), "order and case do not matter");
        assert_eq!(spec("c=US;a= ;p=Legacy;o=*"), Some(4));
        assert_eq!(spec("c=US;a= ;p=Legacy;o=LA"), None);
        assert_eq!(Pattern::smtp("*").unwrap().specificity(&addr), None, "types never cross");
        assert_eq!(Pattern::x400("c=US").unwrap().specificity(&ExternalAddressText::Smtp("a.com")), None);
    }

    #[test]
    fn external_directory_interns_domains() {
        let mut dir = ExternalDirectory::new();
        let a = dir.add_smtp(AddressId(1), "alice@Fabrikam.com").unwrap();
        let b = dir.add_smtp(AddressId(2), "bob@fabrikam.com").unwrap();
        assert_eq!(a, b);
        assert_eq!(dir.domain(a), "fabrikam.com");
        assert_eq!(dir.lookup(AddressId(2)), Some(ExternalAddress::Smtp(a)));
        assert_eq!(dir.lookup(AddressId(3)), None);
        assert!(dir.add_smtp(AddressId(4), "nobody").is_err());
        assert!(dir.add_smtp(AddressId(4), "@fabrikam.com").is_err());
    }

    proptest! {
        /// `*` matches every SMTP domain least specifically; a domain matches itself more
        /// specifically than any wildcard that also matches it; a wildcard matches exactly
        /// the domains ending in its suffix.
        #[test]
        fn specificity_orders_star_wildcards_and_domains(
            labels in proptest::collection::vec("[a-z][a-z0-9]{0,5}", 2..5),
            cut in 1usize..4,
        ) {
            let domain = labels.join(".");
            let cut = cut.min(labels.len() - 1);
            let suffix = labels[cut..].join(".");
            let wildcard = format!("*.{suffix}");
            let text = ExternalAddressText::Smtp(&domain);
            let any = Pattern::smtp("*").unwrap().specificity(&text);
            let wild = Pattern::smtp(&wildcard).unwrap().specificity(&text);
            let exact = Pattern::smtp(&domain).unwrap().specificity(&text);
            prop_assert_eq!(any, Some(0));
            prop_assert!(wild.is_some());
            prop_assert!(exact > wild);
            prop_assert!(wild > any);
            let other = ExternalAddressText::Smtp(&suffix);
            prop_assert_eq!(Pattern::smtp(&wildcard).unwrap().specificity(&other), None);
        }
    }
}
