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

struct Parser {
    chars: Vec<char>,
    at: usize,
}

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

impl Parser {
    fn error(&self, message: &str) -> FilterError {
        FilterError { at: self.at, message: message.to_string() }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn expect(&mut self, c: char) -> Result<(), FilterError> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{c}'")))
        }
    }

    fn filter(&mut self, depth: usize) -> Result<Filter, FilterError> {
        if depth > MAX_DEPTH {
            return Err(self.error(&format!("filters nest at most {MAX_DEPTH} deep")));
        }
        self.expect('(')?;
        let filter = match self.peek() {
            Some('&') => {
                self.at += 1;
                Filter::And(self.list(depth)?)
            }
            Some('|') => {
                self.at += 1;
                Filter::Or(self.list(depth)?)
            }
            Some('!') => {
                self.at += 1;
                Filter::Not(Box::new(self.filter(depth + 1)?))
            }
            _ => self.item()?,
        };
        self.expect(')')?;
        Ok(filter)
    }

    fn list(&mut self, depth: usize) -> Result<Vec<Filter>, FilterError> {
        let mut out = Vec::new();
        while self.peek() == Some('(') {
            out.push(self.filter(depth + 1)?);
        }
        if out.is_empty() {
            return Err(self.error("expected at least one '(' filter after '&' or '|'"));
        }
        Ok(out)
    }

    fn attribute(&mut self) -> Result<String, FilterError> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ';') {
            self.at += 1;
        }
        if self.at == start {
            return Err(self.error("expected an attribute name"));
        }
        Ok(self.chars[start..self.at].iter().collect::<String>().to_ascii_lowercase())
    }

    fn item(&mut self) -> Result<Filter, FilterError> {
        let attribute = self.attribute()?;
        match (self.peek(), self.chars.get(self.at + 1).copied()) {
            (Some(':'), _) => self.extensible(attribute),
            (Some('>'), Some('=')) => {
                self.at += 2;
                Ok(Filter::GreaterOrEqual(attribute, self.value(false)?.remove(0)))
            }
            (Some('<'), Some('=')) => {
                self.at += 2;
                Ok(Filter::LessOrEqual(attribute, self.value(false)?.remove(0)))
            }
            (Some('~'), Some('=')) => {
                self.at += 2;
                Ok(Filter::Approx(attribute, self.value(false)?.remove(0)))
            }
            (Some('='), _) => {
                self.at += 1;
                let mut pieces = self.value(true)?;
                Ok(match pieces.len() {
                    1 => Filter::Equal(attribute, pieces.remove(0)),
                    2 if pieces.iter().all(String::is_empty) => Filter::Present(attribute),
                    _ => {
                        let last = pieces.pop().filter(|s| !s.is_empty());
                        let initial = Some(pieces.remove(0)).filter(|s| !s.is_empty());
                        if pieces.iter().any(String::is_empty) {
                            return Err(self.error("expected text between '*'s of a substring filter"));
                        }
                        Filter::Substring { attribute, initial, any: pieces, last }
                    }
                })
            }
            _ => Err(self.error("expected '=', '>=', '<=', '~=' or ':' after the attribute")),
        }
    }

    /// `:rule:=value` after the attribute.
    fn extensible(&mut self, attribute: String) -> Result<Filter, FilterError> {
        self.expect(':')?;
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
            self.at += 1;
        }
        let rule: String = self.chars[start..self.at].iter().collect();
        let rule = match rule.as_str() {
            BIT_AND => BitRule::And,
            BIT_OR => BitRule::Or,
            _ => {
                self.at = start;
                return Err(
                    self.error(&format!("expected the matching rule {BIT_AND} (bitwise AND) or {BIT_OR} (bitwise OR)"))
                );
            }
        };
        self.expect(':')?;
        self.expect('=')?;
        let text = self.value(false)?.remove(0);
        let value = text.parse::<u64>().map_err(|_| self.error("expected a number for a bitwise match"))?;
        Ok(Filter::Bitwise { attribute, rule, value })
    }

    /// An assertion value up to ')', unescaped; split at unescaped '*' when `stars`. An
    /// escape is exactly two hex digits; the bytes of a piece are UTF-8 (RFC 4515 §3).
    fn value(&mut self, stars: bool) -> Result<Vec<String>, FilterError> {
        let mut pieces: Vec<Vec<u8>> = vec![Vec::new()];
        let mut starts = vec![self.at];
        loop {
            match self.peek() {
                None => return Err(self.error("expected ')' to close the filter")),
                Some(')') => break,
                Some('(') => return Err(self.error("'(' must be escaped as \\28 in a value")),
                Some('*') if stars => {
                    self.at += 1;
                    pieces.push(Vec::new());
                    starts.push(self.at);
                }
                Some('*') => return Err(self.error("'*' must be escaped as \\2a here")),
                Some('\\') => {
                    let hex =
                        self.chars.get(self.at + 1..self.at + 3).filter(|h| h.iter().all(char::is_ascii_hexdigit));
                    let Some(hex) = hex.map(|h| h.iter().collect::<String>()) else {
                        return Err(self.error("expected two hex digits after '\\' (e.g. \\2a for '*')"));
                    };
                    let byte = u8::from_str_radix(&hex, 16).expect("two hex digits");
                    pieces.last_mut().expect("never empty").push(byte);
                    self.at += 3;
                }
                Some(c) => {
                    let mut buf = [0; 4];
                    pieces.last_mut().expect("never empty").extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    self.at += 1;
                }
            }
        }
        pieces
            .into_iter()
            .zip(starts)
            .map(|(bytes, at)| {
                String::from_utf8(bytes).map_err(|_| FilterError {
                    at,
                    message: "the escaped bytes of this value are not UTF-8 (RFC 4515: \\c3\\a9 is 'é')".into(),
                })
            })
            .collect()
    }
}

/// Escapes a value for filter text (RFC 4515 §3).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '*' | '(' | ')' | '\\' | '\0' => out.push_str(&format!("\\{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::And(list) | Filter::Or(list) => {
                write!(f, "({}", if matches!(self, Filter::And(_)) { '&' } else { '|' })?;
                for x in list {
                    write!(f, "{x}")?;
                }
                write!(f, ")")
            }
            Filter::Not(x) => write!(f, "(!{x})"),
            Filter::Equal(a, v) => write!(f, "({a}={})", escape(v)),
            Filter::GreaterOrEqual(a, v) => write!(f, "({a}>={})", escape(v)),
            Filter::LessOrEqual(a, v) => write!(f, "({a}<={})", escape(v)),
            Filter::Approx(a, v) => write!(f, "({a}~={})", escape(v)),
            Filter::Present(a) => write!(f, "({a}=*)"),
            Filter::Substring { attribute, initial, any, last } => {
                write!(f, "({attribute}={}*", initial.as_deref().map(escape).unwrap_or_default())?;
                for piece in any {
                    write!(f, "{}*", escape(piece))?;
                }
                write!(f, "{})", last.as_deref().map(escape).unwrap_or_default())
            }
            Filter::Bitwise { attribute, rule, value } => {
                let rule = if *rule == BitRule::And { BIT_AND } else { BIT_OR };
                write!(f, "({attribute}:{rule}:={value})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn entry(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    fn evaluate(filter: &str, e: &BTreeMap<String, Vec<String>>, logic: Logic) -> Truth {
        let f = Filter::parse(filter).unwrap();
        f.evaluate(&|a| Cow::Borrowed(e.get(a).map_or(&[][..], |v| v.as_slice())), logic)
    }

    fn matches(filter: &str, e: &BTreeMap<String, Vec<String>>) -> bool {
        evaluate(filter, e, Logic::ThreeValued) == Truth::True
    }

    #[test]
    fn exchange_qbdg_filters_exchange2003_2() {
        let alice = entry(&[
            ("objectcategory", "person"),
            ("department", "Sales"),
            ("title", "Senior Account Manager"),
            ("useraccountcontrol", "512"),
            ("mail", "alice@contoso.com"),
        ]);
        let disabled = entry(&[("objectcategory", "person"), ("department", "sales"), ("useraccountcontrol", "514")]);
        let all_sales = "(&(objectCategory=person)(department=Sales)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))";
        assert!(matches(all_sales, &alice));
        assert!(!matches(all_sales, &disabled), "disabled accounts (bit 2) are left out");
        assert!(matches("(title=*account*)", &alice));
        assert!(matches("(title=senior*manager)", &alice));
        assert!(!matches("(title=junior*)", &alice));
        assert!(matches("(|(department=Marketing)(mail=*@contoso.com))", &alice));
        assert!(matches("(userAccountControl>=500)", &alice), "an Integer attribute compares as a number");
        assert!(!matches("(userAccountControl<=99)", &alice));
        assert!(matches("(mail=*)", &alice));
        assert!(!matches("(telephoneNumber=*)", &alice));
        assert!(matches("(userAccountControl:1.2.840.113556.1.4.804:=6)", &disabled));
    }

    /// [MS-ADTS] §3.1.1.2.2.4.13 and §6.5.1: String(Unicode) values compare by sort keys
    /// that ignore case, kana type, nonspacing marks and width, for equality and substrings
    /// alike; spaces are not ignored.
    #[test]
    fn unicode_strings_compare_as_ad_sort_keys_do_ms_adts_6_5() {
        let montreal = entry(&[("l", "Montréal"), ("company", "Contoso"), ("department", "Sales Dept")]);
        assert!(matches("(l=MONTRÉAL)", &montreal), "case across Unicode");
        assert!(matches("(l=montreal)", &montreal), "diacritics are nonspacing marks, ignored");
        assert!(matches("(l=*RÉAL)", &montreal) && matches("(l=mont*)", &montreal));
        assert!(matches("(company=ＣＯＮＴＯＳＯ)", &montreal), "width");
        assert!(matches("(l=STRASSE)", &entry(&[("l", "Straße")])), "ß is SS in upper case");
        assert!(matches("(description=カタカナ)", &entry(&[("description", "かたかな")])), "kana type");
        let istanbul = entry(&[("l", "İstanbul"), ("title", "\u{212A}elvin")]);
        assert!(matches("(l=*İ*)", &istanbul) && matches("(l=istanbul)", &istanbul), "no panic, dot above ignored");
        assert!(matches("(title=*k*)", &istanbul), "the Kelvin sign is K");
        assert!(!matches("(department=Sales  Dept)", &montreal), "repeated spaces count");
        assert!(!matches("(department= Sales Dept)", &montreal), "a leading space counts");
        assert!(matches("(department=sales dept)", &montreal));
        // A number in a string attribute is text.
        let numbers = |v| entry(&[("extensionattribute1", v)]);
        assert!(matches("(extensionAttribute1>=500)", &numbers("99")));
        assert!(!matches("(extensionAttribute1>=500)", &numbers("1000")));
    }

    /// RFC 4515 §3: an escape is exactly two hex digits, one byte; a value's bytes are UTF-8.
    #[test]
    fn escapes_are_utf8_bytes_rfc4515() {
        let montreal = entry(&[("l", "Montréal")]);
        assert!(matches("(l=montr\\c3\\a9al)", &montreal));
        assert_eq!(Filter::parse("(l=\\c3\\a9)").unwrap(), Filter::Equal("l".into(), "é".into()));
        assert!(Filter::parse("(l=\\+5)").unwrap_err().message.contains("two hex digits"));
        assert!(Filter::parse("(l=\\c3)").unwrap_err().message.contains("not UTF-8"));
        assert!(Filter::parse("(l=a*\\e9*b)").unwrap_err().message.contains("not UTF-8"));
        let f = Filter::parse("(cn=a\\2ab\\28c\\29\\5c)").unwrap();
        assert_eq!(f, Filter::Equal("cn".into(), "a*b(c)\\".into()));
        assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
    }

    /// [MS-ADTS] §3.1.1.2.2.4: Integer, Bool, DN and OID rules; §3.1.1.3.1.3.1: `~=` is
    /// `=`, and what a rule cannot decide is Undefined — FALSE on Windows 2000, kept
    /// through `!` on Windows Server 2003.
    #[test]
    fn each_syntax_has_its_rule_ms_adts_3_1_1_2_2_4() {
        let bob = entry(&[
            ("useraccountcontrol", "512"),
            ("manager", "CN=alice,OU=Staff,DC=Contoso,DC=com"),
            ("objectcategory", "person"),
            ("objectclass", "user"),
            ("msexchhidefromaddresslists", "FALSE"),
            ("title", "Senior Account Manager"),
        ]);
        assert!(matches("(manager=cn=Alice, ou=staff, dc=contoso, dc=com)", &bob), "DNs normalized");
        assert!(matches("(objectCategory=Person)", &bob), "a class's name for its category");
        assert!(matches("(objectCategory=CN=Person,CN=Schema,CN=Configuration,DC=contoso,DC=com)", &bob));
        assert!(matches("(objectClass=USER)", &bob));
        assert!(matches("(msExchHideFromAddressLists=FALSE)", &bob));
        assert!(!matches("(title~=senioraccount manager)", &bob), "no approximation is performed");
        assert!(matches("(title~=senior account manager)", &bob));
        for undefined in [
            "(userAccountControl>=abc)",
            "(userAccountControl=5*)",
            "(manager>=CN=a)",
            "(title:1.2.840.113556.1.4.803:=2)",
        ] {
            assert_eq!(evaluate(undefined, &bob, Logic::ThreeValued), Truth::Undefined, "{undefined}");
            let negated = format!("(!{undefined})");
            assert_eq!(evaluate(&negated, &bob, Logic::ThreeValued), Truth::Undefined, "{negated}");
            assert_eq!(evaluate(&negated, &bob, Logic::TwoValued), Truth::True, "Windows 2000: {negated}");
        }
        assert_eq!(evaluate("(|(userAccountControl>=abc)(objectClass=user))", &bob, Logic::ThreeValued), Truth::True);
        assert_eq!(evaluate("(&(userAccountControl>=abc)(objectClass=group))", &bob, Logic::ThreeValued), Truth::False);
        assert_eq!(
            Filter::parse("(&(department=x)(!(canonicalName=*)))").unwrap().constructed_attribute(),
            Some("canonicalname")
        );
        assert_eq!(Filter::parse("(department=x)").unwrap().constructed_attribute(), None);
    }

    #[test]
    fn dns_normalize_as_rfc2253_reads_them() {
        let n = |s: &str| normalize_dn(s);
        assert_eq!(n("OU=Staff, DC=contoso, DC=com"), n("ou=staff,dc=Contoso,dc=COM"));
        assert_eq!(n("OU = Staff ,DC=contoso;DC=com"), n("OU=Staff,DC=contoso,DC=com"));
        assert_ne!(n("OU=Staff,DC=contoso,DC=com"), n("OU=Sales,DC=contoso,DC=com"));
        assert_eq!(
            n("CN=Smith\\, John,OU=Staff,DC=contoso,DC=com").unwrap().matches(',').count(),
            4,
            "an escaped comma is kept"
        );
        for bad in ["", "Staff", "OU=,DC=com", "=x,DC=com", "OU=Staff,,DC=com", "OU=a\\"] {
            assert_eq!(n(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn malformed_filters_say_where_and_what() {
        for (text, at, what) in [
            ("(department=Sales", 17, "expected ')'"),
            ("department=Sales", 0, "expected '('"),
            ("(&)", 2, "at least one"),
            ("(=x)", 1, "attribute name"),
            ("(a=b)(c=d)", 5, "end of the filter"),
            ("(a=\\zz)", 3, "two hex digits"),
            ("(a:1.2.3:=4)", 3, "matching rule"),
            ("(a>=x*)", 5, "escaped as \\2a"),
            ("(a=b**c)", 7, "text between"),
        ] {
            let e = Filter::parse(text).unwrap_err();
            assert_eq!(e.at, at, "{text}: {e}");
            assert!(e.message.contains(what), "{text}: {e}");
        }
        let deep = format!("{}(a=b){}", "(!".repeat(70), ")".repeat(70));
        assert!(Filter::parse(&deep).unwrap_err().message.contains("nest"));
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof!["[a-zA-Z0-9 *()\\\\]{1,6}", "\\PC{1,6}"]
    }

    fn piece() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z]{1,3}", "\\PC{1,3}"].prop_filter("a piece has no '*'", |p| !p.contains('*'))
    }

    fn filter() -> impl Strategy<Value = Filter> {
        let attr = prop_oneof![
            Just("l".to_string()),
            Just("useraccountcontrol".to_string()),
            Just("manager".to_string()),
            "[a-z][a-z0-9]{0,5}"
        ];
        let leaf = prop_oneof![
            (attr.clone(), value()).prop_map(|(a, v)| Filter::Equal(a, v)),
            (attr.clone(), value()).prop_map(|(a, v)| Filter::GreaterOrEqual(a, v)),
            (attr.clone(), value()).prop_map(|(a, v)| Filter::LessOrEqual(a, v)),
            (attr.clone(), value()).prop_map(|(a, v)| Filter::Approx(a, v)),
            attr.clone().prop_map(Filter::Present),
            (
                attr.clone(),
                proptest::option::of(piece()),
                proptest::collection::vec(piece(), 0..3),
                proptest::option::of(piece())
            )
                .prop_filter("a substring filter has a piece", |(_, i, a, l)| i.is_some()
                    || !a.is_empty()
                    || l.is_some())
                .prop_map(|(attribute, initial, any, last)| Filter::Substring {
                    attribute,
                    initial,
                    any,
                    last
                }),
            (attr, any::<bool>(), any::<u32>()).prop_map(|(attribute, and, v)| Filter::Bitwise {
                attribute,
                rule: if and { BitRule::And } else { BitRule::Or },
                value: u64::from(v),
            }),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 1..4).prop_map(Filter::And),
                proptest::collection::vec(inner.clone(), 1..4).prop_map(Filter::Or),
                inner.prop_map(|f| Filter::Not(Box::new(f))),
            ]
        })
    }

    proptest! {
        /// Printing then parsing gives the same filter (Unicode values included), and `!`
        /// swaps TRUE and FALSE and keeps Undefined.
        #[test]
        fn print_parse_round_trip(f in filter(), v in value()) {
            let text = f.to_string();
            prop_assert_eq!(Filter::parse(&text).unwrap(), f.clone());
            let e: BTreeMap<String, Vec<String>> = [("l".to_string(), vec![v.clone()]), ("useraccountcontrol".to_string(), vec!["7".to_string()])].into();
            let look = |a: &str| Cow::Borrowed(e.get(a).map_or(&[][..], |x| x.as_slice()));
            let negated = Filter::Not(Box::new(f.clone())).evaluate(&look, Logic::ThreeValued);
            let expected = match f.evaluate(&look, Logic::ThreeValued) {
                Truth::True => Truth::False,
                Truth::False => Truth::True,
                Truth::Undefined => Truth::Undefined,
            };
            prop_assert_eq!(negated, expected);
        }

        /// Issue 13: evaluating any filter against any Unicode values never panics, in
        /// either logic.
        #[test]
        fn evaluation_never_panics(f in filter(), values in proptest::collection::vec("\\PC{0,8}", 0..4)) {
            let look = |_: &str| Cow::Borrowed(values.as_slice());
            let _ = f.evaluate(&look, Logic::ThreeValued);
            let _ = f.evaluate(&look, Logic::TwoValued);
        }

        /// A key is its own key, and a value's substring (at character boundaries) is a
        /// substring match of the value, whatever its letters.
        #[test]
        fn keys_and_substrings_agree(value in "\\PC{1,12}", start in 0usize..12, len in 1usize..6) {
            prop_assert_eq!(unicode_key(&unicode_key(&value)), unicode_key(&value));
            let chars: Vec<char> = value.chars().collect();
            let start = start.min(chars.len() - 1);
            let piece: String = chars[start..(start + len).min(chars.len())].iter().collect();
            let entry: BTreeMap<String, Vec<String>> = [("l".to_string(), vec![value.clone()])].into();
            let look = |a: &str| Cow::Borrowed(entry.get(a).map_or(&[][..], |x| x.as_slice()));
            let f = Filter::Substring { attribute: "l".into(), initial: None, any: vec![piece.clone()], last: None };
            prop_assume!(!unicode_key(&piece).is_empty());
            prop_assert!(f.matches(&look, Logic::ThreeValued), "{:?} in {:?}", piece, value);
            // The same letters in the other case (one letter for one: a full mapping can
            // add letters, as ᾀ's subscript iota becoming a capital Ι).
            let other_case: String = value
                .chars()
                .map(|c| {
                    let mut u = if c.is_uppercase() { c.to_lowercase().collect::<Vec<_>>() } else { c.to_uppercase().collect() };
                    if u.len() == 1 { u.remove(0) } else { c }
                })
                .collect();
            let f = Filter::Equal("l".into(), other_case.clone());
            prop_assert!(f.matches(&look, Logic::ThreeValued), "{:?} as {:?}", value, other_case);
        }

        /// Arbitrary text never panics the parser.
        #[test]
        fn any_text_parses_or_errs(text in "[()&|!=*~<>:a-z0-9\\\\.é]{0,30}") {
            let _ = Filter::parse(&text);
        }
    }
}
