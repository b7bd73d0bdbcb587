//! LDAP search filters as RFC 4515 writes them, parsed and evaluated the way Active
//! Directory evaluates them: what a query-based distribution group holds (EXCHANGE2003.md
//! §2: membership is an LDAP filter evaluated at send time against a global catalog; a
//! malformed filter is NDR 5.2.4).
//!
//! Parsing: `&`, `|`, `!`, equality, `>=`, `<=`, `~=`, presence (`attr=*`), substrings
//! (`attr=in*any*fin`), and AD's bitwise extensible rules `1.2.840.113556.1.4.803` (AND)
//! and `.804` (OR), as in `(!(userAccountControl:1.2.840.113556.1.4.803:=2))`. A value
//! escape `\XX` is exactly two hex digits giving one byte, and a value's bytes are UTF-8
//! (RFC 4515 §3: `(l=montr\c3\a9al)` is "montréal"). Other matching rules are refused.
//!
//! Evaluation follows each attribute's syntax and the comparison rule [MS-ADTS]
//! §3.1.1.2.2.4 gives it (see [`Syntax`]):
//! - **UnicodeString** (String(Unicode): `cn`, `sn`, `mail`, `department`, `company`,
//!   `title`, `l`, `extensionAttribute1`–`15`, and any attribute not listed under the
//!   other rules): values compare by Windows sort keys built for United States English
//!   with NORM_IGNORECASE, NORM_IGNOREKANATYPE, NORM_IGNORENONSPACE and NORM_IGNOREWIDTH,
//!   for equality, ordering and substrings alike (§3.1.1.2.2.4.13, §6.5.1). orgsim's key
//!   ([`unicode_key`]) ignores exactly those differences — width (compatibility
//!   decomposition), diacritics (combining marks dropped), case (full upper case) and kana
//!   type — so `(l=MONTREAL)` finds "Montréal"; it orders by the key's code points, not by
//!   Windows' sort weights. No flag ignores spaces (NORM_IGNORESYMBOLS is not among them):
//!   leading, trailing and repeated spaces count as written. A number in a string
//!   attribute is text: "1000" sorts before "500".
//! - **Integer** (Integer, Enumeration, LargeInteger: `userAccountControl`, `groupType`,
//!   …): numbers; the assertion must be a decimal integer.
//! - **Bool**: `TRUE` or `FALSE`.
//! - **DN** (Object(DS-DN): `distinguishedName`, `manager`, `memberOf`, `objectCategory`):
//!   DNs compare normalized ([`normalize_dn`]: no case, no spaces around `,` `+` `=`,
//!   RFC 2253 §4); `objectCategory` also takes a class's name, as in
//!   `(objectCategory=person)`.
//! - **OID** (`objectClass`): class names or dotted OIDs, without case.
//!
//! `~=` is `=`: AD performs no approximation (§3.1.1.3.1.3.1). An operation a rule does
//! not support (substrings of an integer, ordering of a DN) or an assertion its syntax
//! cannot hold is Undefined: Windows Server 2003 DCs evaluate in RFC 2251's three-valued
//! logic, Windows 2000 DCs take Undefined as FALSE (§3.1.1.3.1.3.1), and an entry is
//! returned only when the filter is TRUE. A filter naming a constructed attribute cannot
//! be evaluated at all (AD fails the search with inappropriateMatching, §3.1.1.3.1.3.1):
//! [`Filter::constructed_attribute`] names it, and the categorizer answers 5.2.4.

use std::borrow::Cow;
use std::fmt;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

mod parser;

use parser::Parser;

/// AD's bitwise-AND matching rule.
pub const BIT_AND: &str = "1.2.840.113556.1.4.803";
/// AD's bitwise-OR matching rule.
pub const BIT_OR: &str = "1.2.840.113556.1.4.804";

/// Nesting bound: a filter deeper than this is refused (a bound on recursion).
const MAX_DEPTH: usize = 64;

/// A parsed filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// All of them.
    And(Vec<Filter>),
    /// Any of them.
    Or(Vec<Filter>),
    /// Not it.
    Not(Box<Filter>),
    /// `attr=value`.
    Equal(String, String),
    /// `attr>=value`.
    GreaterOrEqual(String, String),
    /// `attr<=value`.
    LessOrEqual(String, String),
    /// `attr~=value` (evaluated as equality, as AD does).
    Approx(String, String),
    /// `attr=*`.
    Present(String),
    /// `attr=initial*any*…*final`.
    Substring { attribute: String, initial: Option<String>, any: Vec<String>, last: Option<String> },
    /// `attr:rule:=value` with AD's bitwise rules.
    Bitwise { attribute: String, rule: BitRule, value: u64 },
}

/// AD's bitwise matching rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitRule {
    /// All bits of the value set.
    And,
    /// Any bit of the value set.
    Or,
}

/// An attribute's syntax, as the Active Directory schema gives it: it selects how values
/// compare ([MS-ADTS] §3.1.1.2.2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    /// String(Unicode): the UnicodeString comparison rule.
    UnicodeString,
    /// Integer, Enumeration and LargeInteger: the Integer rule.
    Integer,
    /// Boolean: the Bool rule.
    Bool,
    /// Object(DS-DN): the DN rule.
    Dn,
    /// `objectCategory`: a DN, which AD also matches by the class's name.
    ObjectCategory,
    /// String(Object-Identifier): the OID rule.
    Oid,
}

/// The syntax of an attribute (lower-case name), from the Windows Server 2003 schema;
/// attributes not listed are String(Unicode), as most user attributes are.
pub fn syntax_of(attribute: &str) -> Syntax {
    match attribute {
        "useraccountcontrol"
        | "grouptype"
        | "admincount"
        | "countrycode"
        | "primarygroupid"
        | "samaccounttype"
        | "msexchrecipientdisplaytype"
        | "badpwdcount"
        | "logoncount"
        | "instancetype"
        | "systemflags"
        | "accountexpires"
        | "pwdlastset"
        | "lastlogon"
        | "lastlogontimestamp"
        | "usnchanged"
        | "usncreated" => Syntax::Integer,
        "msexchhidefromaddresslists" | "showinadvancedviewonly" | "iscriticalsystemobject" => Syntax::Bool,
        "distinguishedname" | "manager" | "memberof" | "member" | "directreports" | "homemdb" => Syntax::Dn,
        "objectcategory" => Syntax::ObjectCategory,
        "objectclass" => Syntax::Oid,
        _ => Syntax::UnicodeString,
    }
}

/// Attributes Active Directory computes when read and refuses in search filters
/// (inappropriateMatching, [MS-ADTS] §3.1.1.3.1.3.1, constructed attributes §3.1.1.4.5).
const CONSTRUCTED: [&str; 7] = [
    "canonicalname",
    "tokengroups",
    "msds-user-account-control-computed",
    "allowedattributes",
    "allowedattributeseffective",
    "allowedchildclasses",
    "allowedchildclasseseffective",
];

/// A filter clause's value under RFC 2251's three-valued logic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    /// It holds.
    True,
    /// It does not.
    False,
    /// It cannot be decided (an unsupported operation or an assertion the syntax cannot
    /// hold).
    Undefined,
}

impl Truth {
    fn of(holds: bool) -> Truth {
        if holds {
            Truth::True
        } else {
            Truth::False
        }
    }
}

/// How a DC combines Undefined clauses ([MS-ADTS] §3.1.1.3.1.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logic {
    /// Windows Server 2003: RFC 2251's three values (`!` of Undefined is Undefined).
    ThreeValued,
    /// Windows 2000: an Undefined clause is FALSE (so `!` of it is TRUE).
    TwoValued,
}

/// Why a filter does not parse: where (a character offset) and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterError {
    /// Character offset in the filter text.
    pub at: usize,
    /// What was expected there.
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.at, self.message)
    }
}

impl std::error::Error for FilterError {}

/// An entry's values of an attribute (lower-case name), as the evaluation asks for them.
pub type Values<'v> = dyn Fn(&str) -> Cow<'v, [String]> + 'v;

impl Filter {
    /// Parses RFC 4515 text. Surrounding white space is allowed; nothing may follow.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let mut p = Parser { chars: text.trim().chars().collect(), at: 0 };
        let filter = p.filter(0)?;
        if p.at != p.chars.len() {
            return Err(p.error("expected the end of the filter"));
        }
        Ok(filter)
    }

    /// The first attribute the filter names that AD constructs and cannot search on.
    pub fn constructed_attribute(&self) -> Option<&str> {
        match self {
            Filter::And(list) | Filter::Or(list) => list.iter().find_map(Filter::constructed_attribute),
            Filter::Not(f) => f.constructed_attribute(),
            Filter::Equal(a, _)
            | Filter::GreaterOrEqual(a, _)
            | Filter::LessOrEqual(a, _)
            | Filter::Approx(a, _)
            | Filter::Present(a)
            | Filter::Substring { attribute: a, .. }
            | Filter::Bitwise { attribute: a, .. } => CONSTRUCTED.contains(&a.as_str()).then_some(a.as_str()),
        }
    }

    /// Whether an entry matches: the filter is TRUE for it.
    pub fn matches(&self, values: &Values<'_>, logic: Logic) -> bool {
        self.evaluate(values, logic) == Truth::True
    }

    /// The filter's value for an entry.
    pub fn evaluate(&self, values: &Values<'_>, logic: Logic) -> Truth {
        match self {
            Filter::And(list) => {
                list.iter().map(|f| f.evaluate(values, logic)).fold(Truth::True, |acc, t| match (acc, t) {
                    (Truth::False, _) | (_, Truth::False) => Truth::False,
                    (Truth::Undefined, _) | (_, Truth::Undefined) => Truth::Undefined,
                    _ => Truth::True,
                })
            }
            Filter::Or(list) => {
                list.iter().map(|f| f.evaluate(values, logic)).fold(Truth::False, |acc, t| match (acc, t) {
                    (Truth::True, _) | (_, Truth::True) => Truth::True,
                    (Truth::Undefined, _) | (_, Truth::Undefined) => Truth::Undefined,
                    _ => Truth::False,
                })
            }
            Filter::Not(f) => match f.evaluate(values, logic) {
                Truth::True => Truth::False,
                Truth::False => Truth::True,
                Truth::Undefined => Truth::Undefined,
            },
            leaf => match (leaf.leaf(values), logic) {
                (Truth::Undefined, Logic::TwoValued) => Truth::False,
                (t, _) => t,
            },
        }
    }

    /// A leaf clause's value, by its attribute's comparison rule.
    fn leaf(&self, values: &Values<'_>) -> Truth {
        match self {
            Filter::Present(a) => Truth::of(!values(a).is_empty()),
            Filter::Equal(a, v) | Filter::Approx(a, v) => compare(a, v, values, Op::Equal),
            Filter::GreaterOrEqual(a, v) => compare(a, v, values, Op::AtLeast),
            Filter::LessOrEqual(a, v) => compare(a, v, values, Op::AtMost),
            Filter::Substring { attribute, initial, any, last } => {
                if syntax_of(attribute) != Syntax::UnicodeString {
                    return Truth::Undefined; // substrings are a string rule's
                }
                let key = |s: &Option<String>| s.as_deref().map(unicode_key);
                let (initial, last) = (key(initial), key(last));
                let any: Vec<String> = any.iter().map(|p| unicode_key(p)).collect();
                Truth::of(values(attribute).iter().any(|x| substring_match(&unicode_key(x), &initial, &any, &last)))
            }
            Filter::Bitwise { attribute, rule, value } => {
                if syntax_of(attribute) != Syntax::Integer {
                    return Truth::Undefined;
                }
                Truth::of(values(attribute).iter().filter_map(|x| x.parse::<i64>().ok()).any(|n| {
                    let n = n as u64;
                    match rule {
                        BitRule::And => n & value == *value,
                        BitRule::Or => n & value != 0,
                    }
                }))
            }
            Filter::And(_) | Filter::Or(_) | Filter::Not(_) => unreachable!("not a leaf"),
        }
    }
}

/// An equality or ordering clause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Equal,
    AtLeast,
    AtMost,
}

impl Op {
    /// Whether a value that compares to the assertion as `o` satisfies the clause.
    fn holds(self, o: std::cmp::Ordering) -> bool {
        match self {
            Op::Equal => o == std::cmp::Ordering::Equal,
            Op::AtLeast => o != std::cmp::Ordering::Less,
            Op::AtMost => o != std::cmp::Ordering::Greater,
        }
    }
}

/// An equality or ordering clause on attribute `a` with assertion `v`: TRUE when some
/// value satisfies it, Undefined when the rule cannot compare the assertion (or does not
/// order values).
fn compare(a: &str, v: &str, values: &Values<'_>, op: Op) -> Truth {
    let values = values(a);
    match syntax_of(a) {
        Syntax::UnicodeString => {
            let key = unicode_key(v);
            Truth::of(values.iter().any(|x| op.holds(unicode_key(x).cmp(&key))))
        }
        // "The value specified in a filter must be a decimal Integer" (How to Specify
        // Comparison Values); a stored value that is not one never matches.
        Syntax::Integer => match v.parse::<i64>() {
            Ok(n) => Truth::of(values.iter().filter_map(|x| x.parse::<i64>().ok()).any(|x| op.holds(x.cmp(&n)))),
            Err(_) => Truth::Undefined,
        },
        // The rules below decide equality only.
        _ if op != Op::Equal => Truth::Undefined,
        Syntax::Bool => match bool_value(v) {
            Some(b) => Truth::of(values.iter().any(|x| bool_value(x) == Some(b))),
            None => Truth::Undefined,
        },
        Syntax::Dn => match normalize_dn(v) {
            Some(dn) => Truth::of(values.iter().any(|x| normalize_dn(x).as_deref() == Some(dn.as_str()))),
            None => Truth::Undefined,
        },
        Syntax::ObjectCategory => {
            // A class's name stands for its category's DN, whose first RDN it is.
            let name = |s: &str| match normalize_dn(s) {
                Some(dn) if s.contains('=') => first_rdn_value(&dn).to_string(),
                _ => unicode_key(s.trim()),
            };
            let wanted_name = name(v);
            Truth::of(values.iter().any(|x| name(x) == wanted_name))
        }
        Syntax::Oid => Truth::of(values.iter().any(|x| x.eq_ignore_ascii_case(v))),
    }
}

/// `TRUE` or `FALSE` (Boolean syntax; "How to Specify Comparison Values").
fn bool_value(text: &str) -> Option<bool> {
    match text {
        "TRUE" => Some(true),
        "FALSE" => Some(false),
        _ => None,
    }
}

/// The comparison key of a String(Unicode) value: what AD's sort key keeps once case,
/// kana type, diacritics and width are ignored ([MS-ADTS] §6.5.1). Two values are equal
/// for AD exactly when their keys are equal; a substring of a value's key is a substring
/// match. Spaces are kept.
pub fn unicode_key(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_uppercase();
    }
    let mut key = String::with_capacity(text.len());
    for c in text.nfkd().filter(|c| !is_combining_mark(*c)) {
        // Upper case may compose a mark again (U+01F0 ǰ is J and a caron): drop it.
        for u in c.to_uppercase().nfkd().filter(|c| !is_combining_mark(*c)) {
            key.push(kana_as_hiragana(u));
        }
    }
    key
}

/// Katakana as the hiragana it pairs with (NORM_IGNOREKANATYPE).
fn kana_as_hiragana(c: char) -> char {
    match c {
        '\u{30A1}'..='\u{30F6}' | '\u{30FD}' | '\u{30FE}' => char::from_u32(c as u32 - 0x60).unwrap_or(c),
        _ => c,
    }
}

fn substring_match(value: &str, initial: &Option<String>, any: &[String], last: &Option<String>) -> bool {
    let mut rest = value;
    if let Some(i) = initial {
        match rest.strip_prefix(i.as_str()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    for piece in any {
        match rest.find(piece.as_str()) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    last.as_ref().is_none_or(|f| rest.ends_with(f.as_str()))
}

/// A DN in the one form two equal DNs share, or `None` if it is not a DN: each RDN's
/// attribute type and value without case (their comparison keys) and without the spaces
/// around `,`, `+` and `=` that RFC 2253 §4 (and AD) accept and ignore; escapes are kept
/// as written. `OU=Staff, DC=contoso, DC=com` and `ou=staff,dc=Contoso,dc=com` are one.
pub fn normalize_dn(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rdn = String::new();
    let mut escaped = false;
    let finish = |rdn: &str, out: &mut String| -> Option<()> {
        let (name, value) = rdn.split_once('=')?;
        let (name, value) = (name.trim(), value.trim_matches(' '));
        if name.is_empty()
            || value.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return None;
        }
        out.push_str(&name.to_ascii_lowercase());
        out.push('=');
        out.push_str(&unicode_key(value));
        Some(())
    };
    for c in text.trim().chars() {
        match c {
            _ if escaped => {
                rdn.push(c);
                escaped = false;
            }
            '\\' => {
                rdn.push(c);
                escaped = true;
            }
            ',' | ';' | '+' => {
                finish(&rdn, &mut out)?;
                out.push(if c == '+' { '+' } else { ',' });
                rdn.clear();
            }
            _ => rdn.push(c),
        }
    }
    if escaped {
        return None;
    }
    finish(&rdn, &mut out)?;
    Some(out)
}

/// The value of a normalized DN's first RDN (`cn=person,cn=schema,…` → `PERSON`).
fn first_rdn_value(dn: &str) -> &str {
    let rdn = dn.split([',', '+']).next().unwrap_or(dn);
    rdn.split_once('=').map_or(rdn, |(_, v)| v)
}

#[cfg(test)]
mod tests;
