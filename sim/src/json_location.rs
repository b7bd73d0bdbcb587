//! Finds where a JSON path's value starts in a file's text, so that errors found after
//! parsing (a dangling name, a cost out of range) still say `FILE:LINE:COL`.

use std::fmt;

/// One step of a JSON path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// A path into a JSON document, displayed as `topology.servers[2].name`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JsonPath(pub Vec<Segment>);

impl JsonPath {
    /// The root.
    pub fn root() -> Self {
        JsonPath(Vec::new())
    }

    /// This path plus a member.
    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Key(key.to_string()));
        p
    }

    /// This path plus an element.
    pub fn index(&self, index: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Segment::Index(index));
        p
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return write!(f, "(root)");
        }
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Segment::Key(k) if i == 0 => write!(f, "{k}")?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// 1-based line and column of the value at `path`, or of the deepest ancestor present.
pub fn locate(text: &str, path: &JsonPath) -> (usize, usize) {
    let bytes = text.as_bytes();
    let mut scanner = Scanner { bytes, pos: 0 };
    let offset = scanner.find(&path.0);
    line_column(text, offset)
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |n| before[n + 1..].chars().count()) + 1;
    (line, column)
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn skip_ws(&mut self) {
        while self.pos < self.bytes.len() && self.bytes[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// Offset of the value at `path` starting here (or the best ancestor).
    fn find(&mut self, path: &[Segment]) -> usize {
        self.skip_ws();
        let start = self.pos;
        let Some((first, rest)) = path.split_first() else {
            return start;
        };
        match (self.peek(), first) {
            (Some(b'{'), Segment::Key(wanted)) => {
                self.pos += 1;
                loop {
                    self.skip_ws();
                    if self.peek() != Some(b'"') {
                        return start;
                    }
                    let key = self.string();
                    self.skip_ws();
                    if self.peek() != Some(b':') {
                        return start;
                    }
                    self.pos += 1;
                    if key.as_deref() == Some(wanted.as_str()) {
                        return self.find(rest);
                    }
                    self.skip_value();
                    self.skip_ws();
                    if self.peek() != Some(b',') {
                        return start;
                    }
                    self.pos += 1;
                }
            }
            (Some(b'['), Segment::Index(wanted)) => {
                self.pos += 1;
                for i in 0.. {
                    self.skip_ws();
                    if self.peek() == Some(b']') || self.peek().is_none() {
                        return start;
                    }
                    if i == *wanted {
                        return self.find(rest);
                    }
                    self.skip_value();
                    self.skip_ws();
                    if self.peek() != Some(b',') {
                        return start;
                    }
                    self.pos += 1;
                }
                start
            }
            _ => start,
        }
    }

    /// Reads a string token; `None` if it has escapes we do not decode (never a key here).
    fn string(&mut self) -> Option<String> {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.pos += 1;
        let begin = self.pos;
        let mut plain = true;
        while let Some(c) = self.peek() {
            match c {
                b'\\' => {
                    plain = false;
                    self.pos += 2;
                }
                b'"' => {
                    let s = std::str::from_utf8(&self.bytes[begin..self.pos]).ok().map(str::to_string);
                    self.pos += 1;
                    return if plain { s } else { None };
                }
                _ => self.pos += 1,
            }
        }
        None
    }

    fn skip_value(&mut self) {
        self.skip_ws();
        match self.peek() {
            Some(b'"') => {
                self.string();
            }
            Some(b'{') | Some(b'[') => {
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    match c {
                        b'"' => {
                            self.string();
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.pos += 1;
                                return;
                            }
                        }
                        _ => {}
                    }
                    self.pos += 1;
                }
            }
            _ => {
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace() {
                        return;
                    }
                    self.pos += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values() {
        let text = "{\n  \"a\": {\"b\": [1, {\"c\": \"x\\\"y\"}, 3]},\n  \"d\": [\n    10,\n    20\n  ]\n}";
        let p = JsonPath::root().key("d").index(1);
        assert_eq!(p.to_string(), "d[1]");
        assert_eq!(locate(text, &p), (5, 5));
        assert_eq!(locate(text, &JsonPath::root().key("a").key("b").index(2)), (2, 33));
        // Missing pieces fall back to the deepest ancestor found.
        assert_eq!(locate(text, &JsonPath::root().key("d").index(7)), (3, 8));
        assert_eq!(locate(text, &JsonPath::root().key("zz")), (1, 1));
    }
}
