//! Finds where a JSON path's value starts in a file's text, so that errors found after
//! parsing (a dangling name, a cost out of range) still say `FILE:LINE:COL`.
//!
//! A [`Locator`] reads each object or list of the text at most once, the first time an
//! error points inside it, and finds lines by binary search: a file with twenty thousand
//! errors is located in one pass, not one pass per error.

use std::collections::BTreeMap;
use std::fmt;

/// One step of a JSON path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
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
    Locator::new(text).locate(path)
}

/// Where the values of one text are, learnt as errors ask.
pub struct Locator<'t> {
    text: &'t str,
    /// Byte offset of each line's start.
    line_starts: Vec<usize>,
    /// The children of each container read so far, by the container's offset.
    children: BTreeMap<usize, Children>,
}

/// Where a container's members or elements start.
enum Children {
    Object(BTreeMap<String, usize>),
    Array(Vec<usize>),
    /// Not a container (or not one the path can enter).
    Leaf,
}

impl<'t> Locator<'t> {
    /// A locator for `text`.
    pub fn new(text: &'t str) -> Self {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        Locator { text, line_starts, children: BTreeMap::new() }
    }

    /// 1-based line and column of the value at `path`, or of the deepest ancestor present.
    pub fn locate(&mut self, path: &JsonPath) -> (usize, usize) {
        let mut scanner = Scanner { bytes: self.text.as_bytes(), pos: 0 };
        scanner.skip_ws();
        let mut at = scanner.pos;
        for segment in &path.0 {
            let children = self.children.entry(at).or_insert_with(|| read_children(self.text.as_bytes(), at));
            let next = match (children, segment) {
                (Children::Object(members), Segment::Key(k)) => members.get(k).copied(),
                (Children::Array(elements), Segment::Index(i)) => elements.get(*i).copied(),
                _ => None,
            };
            match next {
                Some(offset) => at = offset,
                None => break,
            }
        }
        self.line_column(at)
    }

    fn line_column(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self.line_starts[line - 1];
        (line, self.text[start..offset].chars().count() + 1)
    }
}

/// The members or elements of the container at `at`, each where its value starts.
fn read_children(bytes: &[u8], at: usize) -> Children {
    let mut s = Scanner { bytes, pos: at };
    match s.peek() {
        Some(b'{') => {
            s.pos += 1;
            let mut members = BTreeMap::new();
            loop {
                s.skip_ws();
                if s.peek() != Some(b'"') {
                    return Children::Object(members);
                }
                let key = s.string();
                s.skip_ws();
                if s.peek() != Some(b':') {
                    return Children::Object(members);
                }
                s.pos += 1;
                s.skip_ws();
                if let Some(key) = key {
                    members.entry(key).or_insert(s.pos);
                }
                s.skip_value();
                s.skip_ws();
                if s.peek() != Some(b',') {
                    return Children::Object(members);
                }
                s.pos += 1;
            }
        }
        Some(b'[') => {
            s.pos += 1;
            let mut elements = Vec::new();
            loop {
                s.skip_ws();
                if s.peek() == Some(b']') || s.peek().is_none() {
                    return Children::Array(elements);
                }
                elements.push(s.pos);
                s.skip_value();
                s.skip_ws();
                if s.peek() != Some(b',') {
                    return Children::Array(elements);
                }
                s.pos += 1;
            }
        }
        _ => Children::Leaf,
    }
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
        // One locator answers many paths, and agrees with itself.
        let mut locator = Locator::new(text);
        assert_eq!(locator.locate(&p), (5, 5));
        assert_eq!(locator.locate(&JsonPath::root().key("d").index(0)), (4, 5));
        assert_eq!(locator.locate(&JsonPath::root().key("a").key("b").index(1).key("c")), (2, 24));
    }
}
