//! The RFC 4515 string form of a filter: parsed (with AD's bitwise rules and `\XX`
//! escapes) and written back.

use super::*;

pub(super) struct Parser {
    pub(super) chars: Vec<char>,
    pub(super) at: usize,
}

impl Parser {
    pub(super) fn error(&self, message: &str) -> FilterError {
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

    pub(super) fn filter(&mut self, depth: usize) -> Result<Filter, FilterError> {
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
