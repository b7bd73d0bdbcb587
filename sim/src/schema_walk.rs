//! A scenario's JSON walked against the scenario JSON Schema (`orgsim schema`), so every
//! structural problem in a file is found in one pass: unknown fields, values of the wrong
//! kind, missing fields, unknown `kind`s and enum values, malformed durations, bandwidths
//! and timestamps (checked by their own parsers), integers out of their type's range and
//! lists of the wrong length. Typed deserialization stops at the first of these; the
//! walker goes on.
//!
//! A problem also says, where it can, how to repair the document so that the loader's
//! checks of names, references and ranges can still run on the rest: drop an unknown
//! field or an optional member with a bad value (its default takes its place), rename a
//! misspelled field to the one it is closest to when that one is absent, put a neutral
//! value in place of a malformed required duration, bandwidth or timestamp, or the
//! closest `kind` in place of a misspelled one. Any other problem (a required field of
//! the wrong type or missing) stops the loader after this pass: dropping a whole section
//! would make the later checks report the names it defined as missing.
//!
//! The schema is the one serde's types generate (schemars), so the walker and the typed
//! loader read the same format; a test holds them to agree on every scenario and on
//! mutations of them.

use crate::json_location::JsonPath;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// One structural problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub path: JsonPath,
    /// What was expected, and what was found.
    pub message: String,
    /// How to leave a readable document, if there is a way.
    pub repair: Option<Repair>,
}

/// A change that makes a problem go away without touching the rest of the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repair {
    /// Remove this member (its default takes its place).
    Drop(JsonPath),
    /// Give this member the key it is closest to.
    Rename(JsonPath, String),
    /// Put a value that reads in place of this one.
    Replace(JsonPath, Value),
}

impl Repair {
    /// What it changes.
    pub fn path(&self) -> &JsonPath {
        match self {
            Repair::Drop(p) | Repair::Rename(p, _) | Repair::Replace(p, _) => p,
        }
    }
}

/// A value that reads in place of a malformed one of this parsed type at `path`: the
/// longest run for the run's `duration` (so no step is after its end), zero for other
/// durations.
fn placeholder(name: &str, path: &JsonPath) -> Value {
    let longest = crate::units::Duration::from_ms(crate::scenario::bounds::DURATION_MS_MAX);
    match name {
        "Duration" if path.to_string() == "duration" => Value::from(longest.to_string()),
        "Duration" => Value::from("0s"),
        "Bandwidth" => Value::from("1Gbps"),
        _ => Value::from("2004-03-01T00:00:00Z"),
    }
}

/// A parser of a string grammar: the error says what was expected.
type Parser = fn(&str) -> Result<(), String>;

/// Types whose strings have a grammar (schema name, parser, what it takes): checked by
/// the parser the loader uses.
const PARSED: [(&str, Parser, &str); 3] = [
    (
        "Duration",
        |t| crate::units::Duration::parse(t).map(drop),
        "a duration like \"90s\", \"15m\", \"2h\" or \"1d4h\"",
    ),
    (
        "Bandwidth",
        |t| crate::units::Bandwidth::parse(t).map(drop),
        "a bandwidth like \"64kbps\", \"1.544Mbps\" or \"1Gbps\"",
    ),
    ("Timestamp", |t| crate::units::Timestamp::parse(t).map(drop), "a UTC instant like \"2004-03-01T00:00:00Z\""),
];

/// Every structural problem of a scenario document, in the order the walk meets them.
pub fn problems(document: &Value) -> Vec<Problem> {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    let schema = SCHEMA.get_or_init(crate::scenario::json_schema);
    problems_against(schema, document)
}

/// Every problem of `document` against `schema` (a schema with its `$defs`).
pub fn problems_against(schema: &Value, document: &Value) -> Vec<Problem> {
    let empty = Map::new();
    let defs = schema.get("$defs").and_then(Value::as_object).unwrap_or(&empty);
    let mut walker = Walker { defs, out: Vec::new() };
    walker.walk(schema, document, &JsonPath::root());
    walker.out
}

/// `document` with every problem's repair made; `None` when a problem has none (the
/// document cannot be read past it). Deeper changes go first, and a rename after the
/// other changes at its depth, so every change finds its member where it was.
pub fn repaired(document: &Value, problems: &[Problem]) -> Option<Value> {
    let mut repairs: Vec<&Repair> = problems.iter().map(|p| p.repair.as_ref()).collect::<Option<_>>()?;
    repairs.sort_by_key(|r| (std::cmp::Reverse(r.path().0.len()), matches!(r, Repair::Rename(..))));
    let mut out = document.clone();
    for repair in repairs {
        apply(&mut out, repair);
    }
    Some(out)
}

fn apply(document: &mut Value, repair: &Repair) {
    use crate::json_location::Segment;
    let Some((last, parents)) = repair.path().0.split_last() else { return };
    let mut at = document;
    for segment in parents {
        let next = match segment {
            Segment::Key(k) => at.get_mut(k.as_str()),
            Segment::Index(i) => at.get_mut(*i),
        };
        match next {
            Some(v) => at = v,
            None => return, // already gone with an ancestor
        }
    }
    match (last, repair) {
        (Segment::Key(k), Repair::Drop(_)) => {
            at.as_object_mut().map(|o| o.remove(k));
        }
        (Segment::Key(k), Repair::Rename(_, to)) => {
            if let Some(object) = at.as_object_mut() {
                if let Some(v) = object.remove(k) {
                    object.insert(to.clone(), v);
                }
            }
        }
        (Segment::Key(k), Repair::Replace(_, v)) => {
            if let Some(slot) = at.get_mut(k.as_str()) {
                *slot = v.clone();
            }
        }
        (Segment::Index(i), Repair::Replace(_, v)) => {
            if let Some(slot) = at.get_mut(*i) {
                *slot = v.clone();
            }
        }
        (Segment::Index(_), Repair::Drop(_) | Repair::Rename(..)) => {}
    }
}

struct Walker<'s> {
    defs: &'s Map<String, Value>,
    out: Vec<Problem>,
}

impl<'s> Walker<'s> {
    fn problem(&mut self, path: &JsonPath, message: String) {
        self.out.push(Problem { path: path.clone(), message, repair: None });
    }

    fn repairable(&mut self, path: &JsonPath, message: String, repair: Repair) {
        self.out.push(Problem { path: path.clone(), message, repair: Some(repair) });
    }

    fn def(&self, reference: &str) -> Option<(&'s str, &'s Value)> {
        let name = reference.strip_prefix("#/$defs/")?;
        self.defs.get_key_value(name).map(|(k, v)| (k.as_str(), v))
    }

    fn walk(&mut self, schema: &'s Value, value: &Value, path: &JsonPath) {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            return self.walk_ref(reference, value, path);
        }
        if let Some(expected) = schema.get("const") {
            if value != expected {
                self.problem(path, format!("expected {expected}, found {}", found(value)));
            }
            return;
        }
        if let Some(branches) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array) {
            return self.walk_choice(schema, branches, value, path);
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
            return self.walk_enum(&allowed.iter().collect::<Vec<_>>(), value, path);
        }
        if !type_accepts(schema, value) {
            return self.problem(path, format!("expected {}, found {}", describe(schema, self.defs), found(value)));
        }
        match value {
            Value::Object(members) => self.walk_object(schema, members, path),
            Value::Array(items) => self.walk_array(schema, items, path),
            Value::Number(_) => self.check_number(schema, value, path),
            Value::String(text) if schema.get("format").and_then(Value::as_str) == Some("ipv4") => {
                if text.parse::<std::net::Ipv4Addr>().is_err() {
                    let message = format!("expected an IPv4 address like \"192.0.2.7\", found {}", found(value));
                    self.repairable(path, message, Repair::Replace(path.clone(), Value::from("192.0.2.1")));
                }
            }
            Value::String(_) | Value::Bool(_) | Value::Null => {}
        }
    }

    fn walk_ref(&mut self, reference: &str, value: &Value, path: &JsonPath) {
        let Some((name, def)) = self.def(reference) else {
            return self.problem(path, format!("the schema refers to {reference}, which it lacks (a bug in orgsim)"));
        };
        let Some((_, parse, expected)) = PARSED.iter().find(|(n, _, _)| *n == name) else {
            return self.walk(def, value, path);
        };
        match value.as_str() {
            Some(text) => {
                if let Err(message) = parse(text) {
                    self.repairable(path, message, Repair::Replace(path.clone(), placeholder(name, path)));
                }
            }
            None => self.problem(path, format!("expected {expected}, found {}", found(value))),
        }
    }

    /// One of a fixed list of values: an enum whose variants are documented (a `oneOf`
    /// of `const`s) or not (an `enum`).
    fn walk_enum(&mut self, allowed: &[&Value], value: &Value, path: &JsonPath) {
        if allowed.contains(&value) {
            return;
        }
        let list = allowed.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let guess = value.as_str().and_then(|v| suggest(v, allowed.iter().filter_map(|c| c.as_str())));
        let hint = guess.map(|h| format!(" (did you mean {h:?}?)")).unwrap_or_default();
        let message = format!("expected one of {}, found {}{}", list.join(", "), found(value), hint);
        match guess {
            Some(g) => self.repairable(path, message, Repair::Replace(path.clone(), Value::from(g))),
            None => self.problem(path, message),
        }
    }

    /// `oneOf` / `anyOf`: string enums, tagged unions (one `const` member names the
    /// variant), and the rest (`Option`s, untagged unions).
    fn walk_choice(&mut self, schema: &Value, branches: &'s [Value], value: &Value, path: &JsonPath) {
        let consts: Option<Vec<&Value>> = branches.iter().map(|b| b.get("const")).collect();
        if let Some(consts) = consts {
            return self.walk_enum(&consts, value, path);
        }
        if let Some(tag) = discriminator(branches) {
            return self.walk_tagged(tag, branches, value, path);
        }
        let fitting: Vec<&'s Value> = branches.iter().filter(|b| self.could_be(b, value)).collect();
        match fitting.as_slice() {
            [] => self.problem(path, format!("expected {}, found {}", describe(schema, self.defs), found(value))),
            [only] => self.walk(only, value, path),
            [first, rest @ ..] => {
                // Several branches take this kind of value: the first one it fits wins.
                let mut trial = Walker { defs: self.defs, out: Vec::new() };
                trial.walk(first, value, path);
                for branch in rest {
                    if trial.out.is_empty() {
                        break;
                    }
                    let mut other = Walker { defs: self.defs, out: Vec::new() };
                    other.walk(branch, value, path);
                    if other.out.is_empty() {
                        trial = other;
                    }
                }
                self.out.extend(trial.out);
            }
        }
    }

    fn walk_tagged(&mut self, tag: &str, branches: &'s [Value], value: &Value, path: &JsonPath) {
        let kinds: Vec<&str> = branches.iter().filter_map(|b| b["properties"][tag]["const"].as_str()).collect();
        let listed = || kinds.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ");
        let Some(object) = value.as_object() else {
            return self.problem(path, format!("expected an object with a {tag:?}, found {}", found(value)));
        };
        let Some(kind) = object.get(tag) else {
            return self.problem(path, format!("missing field `{tag}` (one of {})", listed()));
        };
        if let Some(branch) = branches.iter().find(|b| b["properties"][tag]["const"] == *kind) {
            return self.walk(branch, value, path);
        }
        let guess = kind.as_str().and_then(|k| suggest(k, kinds.iter().copied()));
        let hint = guess.map(|h| format!(" (did you mean {h:?}?)")).unwrap_or_default();
        let at = path.key(tag);
        let message = format!("unknown {tag} {}{hint}, expected one of {}", found(kind), listed());
        // The closest kind stands in if the rest of the entry reads as one (its own
        // problems repaired): they are reported with it.
        let trial = guess.map(|g| {
            let mut fixed = object.clone();
            fixed.insert(tag.to_string(), Value::from(g));
            let branch = branches.iter().find(|b| b["properties"][tag]["const"] == g).expect("a listed kind");
            let mut trial = Walker { defs: self.defs, out: Vec::new() };
            trial.walk(branch, &Value::Object(fixed), path);
            (g, trial.out)
        });
        match trial.filter(|(_, out)| out.iter().all(|p| p.repair.is_some())) {
            Some((g, out)) => {
                self.repairable(&at, message, Repair::Replace(at.clone(), Value::from(g)));
                self.out.extend(out);
            }
            None => self.problem(&at, message),
        }
    }

    /// Whether `value` is of a JSON type `branch` takes (after following `$ref`s).
    fn could_be(&self, branch: &Value, value: &Value) -> bool {
        if let Some((_, def)) = branch.get("$ref").and_then(Value::as_str).and_then(|r| self.def(r)) {
            return self.could_be(def, value);
        }
        if let Some(c) = branch.get("const") {
            return c == value;
        }
        if let Some(branches) = branch.get("oneOf").or_else(|| branch.get("anyOf")).and_then(Value::as_array) {
            return branches.iter().any(|b| self.could_be(b, value));
        }
        type_accepts(branch, value)
    }

    fn walk_object(&mut self, schema: &'s Value, members: &Map<String, Value>, path: &JsonPath) {
        static EMPTY: OnceLock<Map<String, Value>> = OnceLock::new();
        let properties =
            schema.get("properties").and_then(Value::as_object).unwrap_or_else(|| EMPTY.get_or_init(Map::new));
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map_or(Vec::new(), |r| r.iter().filter_map(Value::as_str).collect());
        let mut renamed: Vec<&str> = Vec::new();
        for (key, member) in members {
            let at = path.key(key);
            let before = self.out.len();
            let optional = match (properties.get(key), schema.get("additionalProperties")) {
                (Some(property), _) => {
                    self.walk(property, member, &at);
                    !required.contains(&key.as_str())
                }
                (None, Some(Value::Bool(false))) => {
                    let Some(target) = self.unknown_field(properties, members, &mut renamed, key, &at) else {
                        continue;
                    };
                    let before = self.out.len();
                    self.walk(&properties[target], member, &at);
                    self.default_for(before, &at, !required.contains(&target));
                    continue;
                }
                (None, Some(entry)) if entry.is_object() => {
                    self.walk(entry, member, &at);
                    true // a map entry
                }
                (None, _) => continue,
            };
            self.default_for(before, &at, optional);
        }
        for field in required {
            if !members.contains_key(field) && !renamed.contains(&field) {
                self.problem(path, format!("missing field `{field}`"));
            }
        }
    }

    /// The problems since `before` that are about the value of the member at `at`: if the
    /// member is optional, its default takes its place.
    fn default_for(&mut self, before: usize, at: &JsonPath, optional: bool) {
        if optional {
            for p in self.out[before..].iter_mut().filter(|p| p.path == *at) {
                p.repair = Some(Repair::Drop(at.clone()));
            }
        }
    }

    /// An unknown member: dropped, or renamed to the field it is closest to when that one
    /// is absent (returned, so that its value is checked as that field's).
    fn unknown_field(
        &mut self,
        properties: &'s Map<String, Value>,
        members: &Map<String, Value>,
        renamed: &mut Vec<&'s str>,
        key: &str,
        at: &JsonPath,
    ) -> Option<&'s str> {
        let guess = suggest(key, properties.keys().map(String::as_str));
        let hint = guess.map(|h| format!(" (did you mean `{h}`?)")).unwrap_or_default();
        let known = properties.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
        let message = format!("unknown field `{key}`{hint}, expected one of {known}");
        let target = guess.filter(|g| !members.contains_key(*g) && !renamed.contains(g));
        match target {
            Some(t) => {
                renamed.push(t);
                self.repairable(at, message, Repair::Rename(at.clone(), t.to_string()));
            }
            None => self.repairable(at, message, Repair::Drop(at.clone())),
        }
        target
    }

    fn walk_array(&mut self, schema: &'s Value, items: &[Value], path: &JsonPath) {
        let (min, max) =
            (schema.get("minItems").and_then(Value::as_u64), schema.get("maxItems").and_then(Value::as_u64));
        let n = items.len() as u64;
        match (min, max) {
            (Some(lo), Some(hi)) if lo == hi && n != lo => {
                self.problem(path, format!("expected a list of exactly {lo}, found {n}"))
            }
            (Some(lo), _) if n < lo => self.problem(path, format!("expected a list of at least {lo}, found {n}")),
            (_, Some(hi)) if n > hi => self.problem(path, format!("expected a list of at most {hi}, found {n}")),
            _ => {}
        }
        if let Some(item) = schema.get("items").filter(|i| i.is_object()) {
            for (i, v) in items.iter().enumerate() {
                self.walk(item, v, &path.index(i));
            }
        }
    }

    fn check_number(&mut self, schema: &Value, value: &Value, path: &JsonPath) {
        let (lo, hi) = bounds(schema);
        let in_range = match (value.as_u64(), value.as_i64(), value.as_f64()) {
            (Some(u), _, _) => lo.is_none_or(|lo| u as f64 >= lo) && hi.is_none_or(|hi| u as f64 <= hi),
            (None, Some(i), _) => lo.is_none_or(|lo| i as f64 >= lo) && hi.is_none_or(|hi| i as f64 <= hi),
            (None, None, Some(f)) => lo.is_none_or(|lo| f >= lo) && hi.is_none_or(|hi| f <= hi),
            _ => true,
        };
        if !in_range {
            let what = describe(schema, self.defs);
            let range = match (lo, hi) {
                (Some(lo), Some(hi)) => format!(" from {lo} to {hi}"),
                (Some(lo), None) => format!(" of at least {lo}"),
                (None, Some(hi)) => format!(" of at most {hi}"),
                (None, None) => String::new(),
            };
            // The nearest bound reads in its place.
            let v = value.as_f64().unwrap_or(0.0);
            let nearest = if lo.is_some_and(|lo| v < lo) { lo } else { hi }.unwrap_or(0.0);
            // An integer written where a fractional bound is nearest takes the bound as
            // is (0 for a service time from 0.01).
            let nearest = match value.is_f64() || nearest.fract() != 0.0 {
                true => Value::from(nearest),
                false => Value::from(nearest as i64),
            };
            self.repairable(
                path,
                format!("expected {what}{range}, found {value}"),
                Repair::Replace(path.clone(), nearest),
            );
        }
    }
}

/// The member every branch of a tagged union fixes with a `const`, if there is one.
fn discriminator(branches: &[Value]) -> Option<&str> {
    let first = branches.first()?.get("properties")?.as_object()?;
    let (tag, _) = first.iter().find(|(_, p)| p.get("const").is_some())?;
    branches.iter().all(|b| b["properties"][tag.as_str()].get("const").is_some()).then_some(tag.as_str())
}

/// The inclusive numeric bounds of a schema: its `minimum`/`maximum`, narrowed by the
/// range of its integer `format`.
fn bounds(schema: &Value) -> (Option<f64>, Option<f64>) {
    let by_format = match schema.get("format").and_then(Value::as_str) {
        Some("uint8") => (Some(0.0), Some(f64::from(u8::MAX))),
        Some("uint16") => (Some(0.0), Some(f64::from(u16::MAX))),
        Some("uint32") => (Some(0.0), Some(f64::from(u32::MAX))),
        Some("uint64") | Some("uint") => (Some(0.0), Some(u64::MAX as f64)),
        Some("int32") => (Some(f64::from(i32::MIN)), Some(f64::from(i32::MAX))),
        _ => (None, None),
    };
    let min = schema.get("minimum").and_then(Value::as_f64);
    let max = schema.get("maximum").and_then(Value::as_f64);
    let lo = [by_format.0, min].into_iter().flatten().reduce(f64::max);
    let hi = [by_format.1, max].into_iter().flatten().reduce(f64::min);
    (lo, hi)
}

/// Whether the schema's `type` (one or a list) takes this JSON value; a schema with no
/// `type` takes anything.
fn type_accepts(schema: &Value, value: &Value) -> bool {
    let accepts = |t: &str| match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        _ => false,
    };
    match schema.get("type") {
        None => true,
        Some(Value::String(t)) => accepts(t),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).any(accepts),
        Some(_) => false,
    }
}

/// What a schema takes, in words: "a string", "an integer", "a duration like …".
fn describe(schema: &Value, defs: &Map<String, Value>) -> String {
    if let Some(name) = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/$defs/")) {
        if let Some((_, _, expected)) = PARSED.iter().find(|(n, _, _)| *n == name) {
            return (*expected).to_string();
        }
        return defs.get(name).map_or_else(|| "a value".into(), |d| describe(d, defs));
    }
    if let Some(c) = schema.get("const") {
        return c.to_string();
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        return format!("one of {}", allowed.iter().map(Value::to_string).collect::<Vec<_>>().join(", "));
    }
    if let Some(branches) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array) {
        let mut words: Vec<String> = Vec::new();
        for w in branches.iter().map(|b| describe(b, defs)) {
            if !words.contains(&w) {
                words.push(w);
            }
        }
        return words.join(" or ");
    }
    let word = |t: &str| match t {
        "object" => "an object",
        "array" => "a list",
        "string" => "a string",
        "boolean" => "true or false",
        "null" => "null",
        "integer" => "an integer",
        "number" => "a number",
        _ => "a value",
    };
    match schema.get("type") {
        Some(Value::String(t)) if t == "array" => match schema.get("items") {
            Some(items) if items.is_object() => format!("a list of {}", plural(&describe(items, defs))),
            _ => "a list".into(),
        },
        Some(Value::String(t)) => word(t).into(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).map(word).collect::<Vec<_>>().join(" or "),
        _ => "a value".into(),
    }
}

/// "a string" → "strings", for "a list of strings".
fn plural(one: &str) -> String {
    let bare = one.strip_prefix("an ").or_else(|| one.strip_prefix("a ")).unwrap_or(one);
    match bare.split_once(' ') {
        None => format!("{bare}s"),
        Some(_) => format!("({one})"),
    }
}

/// A value as an error shows what it found.
fn found(value: &Value) -> String {
    match value {
        Value::Object(_) => "an object".into(),
        Value::Array(_) => "a list".into(),
        Value::String(s) if s.chars().count() > 60 => format!("{:?}…", s.chars().take(60).collect::<String>()),
        other => other.to_string(),
    }
}

/// The closest of `known` to a mistyped `word`, if any is close (Jaro–Winkler
/// similarity above 0.8, as close as a typo usually is).
fn suggest<'k>(word: &str, known: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    let best = known
        .map(|k| (strsim::jaro_winkler(&word.to_lowercase(), &k.to_lowercase()), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))?;
    Some(best.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(document: Value) -> Vec<String> {
        problems(&document).into_iter().map(|p| format!("{}: {}", p.path, p.message)).collect()
    }

    #[test]
    fn every_problem_in_one_pass() {
        let found = messages(json!({
            "name": "x",
            "duration": "1 day",
            "colour": 3,
            "topology": {"forest": 7},
            "timeline": [{"kind": "link_dwon", "at": "2h", "link": "L"}, {"kind": "link_up", "at": "2hours", "link": "L"}],
        }));
        assert!(
            found.contains(
                &"duration: expected a duration like \"90s\", \"15m\", \"2h\" or \"1d4h\", found \"1 day\"".into()
            ),
            "{found:#?}"
        );
        assert!(found.iter().any(|m| m.starts_with("colour: unknown field `colour`, expected one of")), "{found:#?}");
        assert!(found.contains(&"topology.forest: expected a string, found 7".into()), "{found:#?}");
        assert!(
            found
                .iter()
                .any(|m| m.starts_with("timeline[0].kind: unknown kind \"link_dwon\" (did you mean \"link_down\"?)")),
            "{found:#?}"
        );
        assert!(found.iter().any(|m| m.starts_with("timeline[1].at: expected a duration")), "{found:#?}");
        assert!(found.iter().any(|m| m == "topology: missing field `domains`"), "{found:#?}");
    }

    #[test]
    fn typos_get_a_suggestion_and_ranges_are_named() {
        let found =
            messages(json!({"name": "x", "durtion": "1d", "topology": {}, "checks": {"invariants": ["no_los"]}}));
        assert!(
            found.iter().any(|m| m.starts_with("durtion: unknown field `durtion` (did you mean `duration`?)")),
            "{found:#?}"
        );
        assert!(
            found.iter().any(|m| m.starts_with("checks.invariants[0]: expected one of \"no_loss\"")
                && m.contains("(did you mean \"no_loss\"?)")),
            "{found:#?}"
        );
        let schema =
            json!({"type": "object", "properties": {"n": {"type": "integer", "format": "uint16", "minimum": 0}}});
        let found = problems_against(&schema, &json!({"n": 70000}));
        assert_eq!(found[0].message, "expected an integer from 0 to 65535, found 70000");
    }

    #[test]
    fn an_enum_without_documented_variants_is_checked_too() {
        // schemars writes `enum` (not a `oneOf` of `const`s) when no variant has a doc
        // comment: a cluster's `windows` of "" passed the walker while serde refused it.
        let schema = json!({"type": "object", "properties": {"windows": {"$ref": "#/$defs/V"}},
            "$defs": {"V": {"type": "string", "enum": ["2000", "2003"]}}});
        let found = problems_against(&schema, &json!({"windows": ""}));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].message, r#"expected one of "2000", "2003", found """#);
        let found = problems_against(&schema, &json!({"windows": "2030"}));
        assert!(found[0].message.ends_with(r#"(did you mean "2003"?)"#), "{found:#?}");
        assert!(problems_against(&schema, &json!({"windows": "2003"})).is_empty());
        assert_eq!(describe(&schema["$defs"]["V"], &Map::new()), r#"one of "2000", "2003""#);
    }

    #[test]
    fn optional_members_can_be_dropped_and_required_ones_cannot() {
        let document = json!({"name": "x", "colour": 3, "start": "monday", "topology": {"forest": 7}});
        let found = problems(&document);
        let repair = |path: &str| found.iter().find(|p| p.path.to_string() == path).and_then(|p| p.repair.clone());
        assert_eq!(repair("colour"), Some(Repair::Drop(JsonPath::root().key("colour"))));
        assert_eq!(repair("start"), Some(Repair::Drop(JsonPath::root().key("start"))));
        assert_eq!(repair("topology.forest"), None, "a required string of the wrong type: {found:#?}");
        assert_eq!(repaired(&document, &found), None);
        // Inside a list entry: a neutral duration, the closest kind, a misspelled field
        // renamed to the absent one it is closest to.
        let steps = json!({"name": "x", "description": "", "duration": "2days", "topology": {}, "recipients": {},
            "timeline": [{"kind": "link_dwon", "at": "2x", "lnk": "L"}]});
        let found: Vec<Problem> = problems(&steps)
            .into_iter()
            .filter(|p| p.path.to_string().starts_with("timeline") || p.path.to_string() == "duration")
            .collect();
        let fixed = repaired(&steps, &found).expect("repairable");
        assert_eq!(fixed["duration"], json!("400d"));
        assert_eq!(fixed["timeline"][0], json!({"kind": "link_down", "at": "0s", "link": "L"}), "{found:#?}");
        assert!(!found.iter().any(|p| p.message == "missing field `link`"), "the rename stands for it: {found:#?}");
    }
}

/// The walker and the typed loader read the same format: on every scenario file, and on
/// random mutations of them, the walker finds a problem whenever serde refuses the
/// document and none when serde reads it, but for ranges narrower than their type's
/// (which only the walker knows); and a repaired document is one serde reads.
#[cfg(test)]
mod agreement {
    use super::*;
    use crate::scenario::Scenario;
    use proptest::prelude::*;

    fn scenarios() -> Vec<Value> {
        // scenarios/ and the capacity cases under it.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let mut files: Vec<_> = [dir.clone(), dir.join("capacity")]
            .iter()
            .flat_map(|d| std::fs::read_dir(d).expect("scenarios/").map(|e| e.expect("entry").path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| serde_json::from_str(&std::fs::read_to_string(f).expect("readable")).expect("JSON"))
            .collect()
    }

    fn serde_reads(document: &Value) -> bool {
        serde_json::from_value::<Scenario>(document.clone()).is_ok()
    }

    /// Every value in the document with its path, in a fixed order.
    fn places(v: &Value, path: JsonPath, out: &mut Vec<JsonPath>) {
        out.push(path.clone());
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| places(v, path.key(k), out)),
            Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| places(v, path.index(i), out)),
            _ => {}
        }
    }

    fn at_mut<'v>(v: &'v mut Value, path: &JsonPath) -> &'v mut Value {
        use crate::json_location::Segment;
        path.0.iter().fold(v, |v, s| match s {
            Segment::Key(k) => &mut v[k.as_str()],
            Segment::Index(i) => &mut v[*i],
        })
    }

    /// One edit of the kinds typos make: a member gone, an unknown member, a value of
    /// another type, another string, another number.
    fn mutate(document: &mut Value, place: usize, kind: u8, noise: u64) {
        let mut all = Vec::new();
        places(document, JsonPath::root(), &mut all);
        let path = all[place % all.len()].clone();
        let words = ["", "2h", "2 h", "-1", "link_dwon", "x", "15m", "1.5Mbps", "2003sp2", "EX-HUB1", "5.1.1"];
        let numbers = [Value::from(0), Value::from(-3), Value::from(1.5), Value::from(70_000), Value::from(u64::MAX)];
        let target = at_mut(document, &path);
        match kind % 5 {
            0 => {
                if let Some((last, parent)) = path.0.split_last() {
                    let parent = at_mut(document, &JsonPath(parent.to_vec()));
                    match (last, parent) {
                        (crate::json_location::Segment::Key(k), Value::Object(m)) => {
                            m.remove(k);
                        }
                        (crate::json_location::Segment::Index(i), Value::Array(a)) => {
                            a.remove(*i);
                        }
                        _ => {}
                    }
                }
            }
            1 => {
                if let Value::Object(m) = target {
                    m.insert(format!("colour{}", noise % 3), Value::from(1));
                }
            }
            2 => {
                *target = match target {
                    Value::String(_) => Value::from(7),
                    Value::Number(_) => Value::from("seven"),
                    Value::Bool(_) | Value::Null => Value::Array(Vec::new()),
                    Value::Array(_) | Value::Object(_) => Value::from(true),
                }
            }
            3 => {
                if target.is_string() {
                    *target = Value::from(words[(noise % words.len() as u64) as usize]);
                }
            }
            _ => {
                if target.is_number() {
                    *target = numbers[(noise % numbers.len() as u64) as usize].clone();
                }
            }
        }
    }

    #[test]
    fn every_scenario_file_reads_without_a_problem() {
        for document in scenarios() {
            assert_eq!(problems(&document), Vec::new(), "{}", document["name"]);
            assert!(serde_reads(&document));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]
        #[test]
        fn walker_and_serde_agree(file in 0usize..64, edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u64>()), 1..4)) {
            let all = scenarios();
            let mut document = all[file % all.len()].clone();
            for (place, kind, noise) in edits {
                mutate(&mut document, place, kind, noise);
            }
            let found = problems(&document);
            // A range the schema narrows below its type's (a count from 1) binds the
            // walker only: serde takes any value of the type, the walker puts the nearest
            // bound in its place.
            let only_ranges = found.iter().all(|p| {
                let found_number = p.message.rsplit(", found ").next().is_some_and(|v| v.parse::<f64>().is_ok());
                let bounded = [" from ", " of at least ", " of at most "].iter().any(|b| p.message.contains(b));
                found_number && bounded
            });
            if serde_reads(&document) {
                prop_assert!(found.is_empty() || only_ranges, "{:#?}", found);
            } else {
                prop_assert!(!found.is_empty(), "serde refuses what the walker passes");
            }
            if let Some(fixed) = repaired(&document, &found) {
                prop_assert!(serde_reads(&fixed), "repaired but unreadable: {:#?}", found);
                prop_assert_eq!(problems(&fixed), Vec::new());
            }
        }
    }
}
