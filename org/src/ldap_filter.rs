//! LDAP search filters as RFC 4515 writes them, parsed and evaluated for real: what a
//! query-based distribution group holds (EXCHANGE2003.md §2: membership is an LDAP filter
//! evaluated at send time against a global catalog; a malformed filter is NDR 5.2.4).
//!
//! Supported: `&`, `|`, `!`, equality, `>=`, `<=`, `~=`, presence (`attr=*`), substrings
//! (`attr=in*any*fin`), value escapes (`\2a`), and the extensible matches Active
//! Directory filters use — the bitwise rules `1.2.840.113556.1.4.803` (AND) and
//! `.804` (OR), as in `(!(userAccountControl:1.2.840.113556.1.4.803:=2))`. Matching is
//! case-insensitive (caseIgnoreMatch); `>=`/`<=` compare numbers as numbers. Left out:
//! other matching rules (refused with an error) and `:dn:` components.

use std::fmt;

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
    /// `attr~=value`.
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

    /// Whether an entry matches; `values(attr)` gives an attribute's values (lower-case
    /// attribute names).
    pub fn matches<'v>(&self, values: &dyn Fn(&str) -> &'v [String]) -> bool {
        match self {
            Filter::And(list) => list.iter().all(|f| f.matches(values)),
            Filter::Or(list) => list.iter().any(|f| f.matches(values)),
            Filter::Not(f) => !f.matches(values),
            Filter::Equal(a, v) => values(a).iter().any(|x| x.eq_ignore_ascii_case(v)),
            Filter::Approx(a, v) => {
                let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
                values(a).iter().any(|x| squash(x) == squash(v))
            }
            Filter::GreaterOrEqual(a, v) => values(a).iter().any(|x| compare(x, v) != std::cmp::Ordering::Less),
            Filter::LessOrEqual(a, v) => values(a).iter().any(|x| compare(x, v) != std::cmp::Ordering::Greater),
            Filter::Present(a) => !values(a).is_empty(),
            Filter::Substring { attribute, initial, any, last } => {
                values(attribute).iter().any(|x| substring_match(&x.to_lowercase(), initial, any, last))
            }
            Filter::Bitwise { attribute, rule, value } => values(attribute).iter().any(|x| match x.parse::<i64>() {
                Ok(n) => {
                    let n = n as u64;
                    match rule {
                        BitRule::And => n & value == *value,
                        BitRule::Or => n & value != 0,
                    }
                }
                Err(_) => false,
            }),
        }
    }
}

/// Numbers compare as numbers, anything else case-insensitively.
fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<i64>(), b.parse::<i64>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

fn substring_match(value: &str, initial: &Option<String>, any: &[String], last: &Option<String>) -> bool {
    let mut rest = value;
    if let Some(i) = initial {
        match rest.strip_prefix(i.to_lowercase().as_str()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    for piece in any {
        match rest.find(piece.to_lowercase().as_str()) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    last.as_ref().is_none_or(|f| rest.ends_with(f.to_lowercase().as_str()))
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

    /// An assertion value up to ')', unescaped; split at unescaped '*' when `stars`.
    fn value(&mut self, stars: bool) -> Result<Vec<String>, FilterError> {
        let mut pieces = vec![String::new()];
        loop {
            match self.peek() {
                None => return Err(self.error("expected ')' to close the filter")),
                Some(')') => return Ok(pieces),
                Some('(') => return Err(self.error("'(' must be escaped as \\28 in a value")),
                Some('*') if stars => {
                    self.at += 1;
                    pieces.push(String::new());
                }
                Some('*') => return Err(self.error("'*' must be escaped as \\2a here")),
                Some('\\') => {
                    let hex: String =
                        self.chars.get(self.at + 1..self.at + 3).map(|h| h.iter().collect()).unwrap_or_default();
                    let byte = u8::from_str_radix(&hex, 16)
                        .map_err(|_| self.error("expected two hex digits after '\\' (e.g. \\2a for '*')"))?;
                    pieces.last_mut().expect("never empty").push(char::from(byte));
                    self.at += 3;
                }
                Some(c) => {
                    pieces.last_mut().expect("never empty").push(c);
                    self.at += 1;
                }
            }
        }
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

    fn matches(filter: &str, e: &BTreeMap<String, Vec<String>>) -> bool {
        let f = Filter::parse(filter).unwrap();
        f.matches(&|a| e.get(a).map_or(&[][..], |v| v.as_slice()))
    }

    #[test]
    fn exchange_qbdg_filters_exchange2003_2() {
        let alice = entry(&[
            ("objectcategory", "user"),
            ("department", "Sales"),
            ("title", "Senior Account Manager"),
            ("useraccountcontrol", "512"),
            ("mail", "alice@contoso.com"),
        ]);
        let disabled = entry(&[("objectcategory", "user"), ("department", "sales"), ("useraccountcontrol", "514")]);
        let all_sales = "(&(objectCategory=user)(department=Sales)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))";
        assert!(matches(all_sales, &alice));
        assert!(!matches(all_sales, &disabled), "disabled accounts (bit 2) are left out");
        assert!(matches("(title=*account*)", &alice));
        assert!(matches("(title=senior*manager)", &alice));
        assert!(!matches("(title=junior*)", &alice));
        assert!(matches("(|(department=Marketing)(mail=*@contoso.com))", &alice));
        assert!(matches("(userAccountControl>=500)", &alice), "numbers compare as numbers");
        assert!(!matches("(userAccountControl<=99)", &alice));
        assert!(matches("(mail=*)", &alice));
        assert!(!matches("(telephoneNumber=*)", &alice));
        assert!(matches("(title~=senioraccount manager)", &alice));
        assert!(matches("(userAccountControl:1.2.840.113556.1.4.804:=6)", &disabled));
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

    #[test]
    fn escapes_round_trip() {
        let f = Filter::parse("(cn=a\\2ab\\28c\\29\\5c)").unwrap();
        assert_eq!(f, Filter::Equal("cn".into(), "a*b(c)\\".into()));
        assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
    }

    fn value() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9 *()\\\\]{1,6}"
    }

    fn filter() -> impl Strategy<Value = Filter> {
        let attr = "[a-z][a-z0-9]{0,5}";
        let leaf = prop_oneof![
            (attr, value()).prop_map(|(a, v)| Filter::Equal(a, v)),
            (attr, value()).prop_map(|(a, v)| Filter::GreaterOrEqual(a, v)),
            (attr, value()).prop_map(|(a, v)| Filter::Approx(a, v)),
            attr.prop_map(Filter::Present),
            (
                attr,
                proptest::option::of("[a-z]{1,3}"),
                proptest::collection::vec("[a-z]{1,3}", 0..3),
                proptest::option::of("[a-z]{1,3}")
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
        /// Printing then parsing gives the same filter, and `!` negates evaluation.
        #[test]
        fn print_parse_round_trip(f in filter(), v in value()) {
            let text = f.to_string();
            prop_assert_eq!(Filter::parse(&text).unwrap(), f.clone());
            let e: BTreeMap<String, Vec<String>> = [("a".to_string(), vec![v.clone()]), ("b".to_string(), vec!["7".to_string()])].into();
            let look = |a: &str| e.get(a).map_or(&[][..], |x| x.as_slice());
            prop_assert_eq!(Filter::Not(Box::new(f.clone())).matches(&look), !f.matches(&look));
        }

        /// Arbitrary text never panics the parser.
        #[test]
        fn any_text_parses_or_errs(text in "[()&|!=*~<>:a-z0-9\\\\.]{0,30}") {
            let _ = Filter::parse(&text);
        }
    }
}
