//! Mango selectors: the subset of CouchDB's `_find` selector language that filters
//! replication (`--selector JSON`).
//!
//! Owns: parsing a selector into a normalized tree, matching it against a document as
//! replicated, the JSON collation its comparisons use, and its canonical JSON (an input to
//! replication ids).
//!
//! Syntax (CouchDB's):
//! - `{"type": "card"}` is an implicit `$eq`. Several keys in one object are an implicit
//!   `$and`, at the top level and inside a field (`{"age": {"$gt": 1, "$lt": 9}}`).
//! - Field paths are dotted (`"address.city"`); `\` makes the next character literal, so
//!   `\.` is a dot inside a name, `\\` a backslash and a leading `\$` starts a name with `$`.
//!   An object whose keys do not start with `$` names nested fields:
//!   `{"address": {"city": "Paris"}}` is `{"address.city": "Paris"}`, and one object may mix
//!   both kinds of key (`{"a": {"$exists": true, "b": 1}}`). `{"f": {}}` is
//!   `{"f": {"$eq": {}}}`; compare with a non-empty object literal through `$eq`. An all-digit
//!   segment also indexes into an array (`"tags.0"`).
//! - Operators: `$eq $ne $gt $gte $lt $lte` (any JSON argument), `$in $nin` (an array),
//!   `$exists` (a boolean), `$and $or` (an array of selectors; inside a field, of conditions
//!   on that field, where a bare value means `$eq`), `$not` (an object: a selector, or
//!   conditions on the field it sits in). Any other `$` key (`$regex`, `$nor`, ...) is an
//!   error naming it, as are an empty field name and a comparison with no field.
//!
//! Semantics (CouchDB's `mango_selector`, except where noted):
//! - An absent field satisfies `$exists: false` and nothing else: `$ne` and `$nin` do not
//!   match it ("the field exists and is not equal", as CouchDB behaves); write
//!   `{"$or": [{"f": {"$exists": false}}, {"f": {"$ne": x}}]}` for "absent or different".
//!   A path that runs through a scalar or past an array's end is absent (CouchDB fails even
//!   `$exists: false` there).
//! - `$not` is pushed to the leaves as CouchDB normalizes it (De Morgan for `$and`/`$or`;
//!   `$eq`/`$ne`, `$lt`/`$gte`, `$lte`/`$gt`, `$in`/`$nin`, `$exists: b`/`$exists: !b`
//!   swap), so `{"$not": {"f": 1}}` is `{"f": {"$ne": 1}}` and likewise skips documents
//!   without `f`.
//! - Comparisons use CouchDB's collation across types: null < false < true < numbers <
//!   strings < arrays < objects, so `{"f": {"$gt": null}}` matches every non-null `f`.
//!   Numbers compare by their exact values (`1` equals `1.0`; integers of any size are
//!   compared exactly, also with doubles). Strings compare by Unicode code point, not
//!   by CouchDB's ICU collation (here `"B" < "a"`). Arrays compare element by element, then
//!   by length. Objects compare as their entries sorted by key (key, then value), then by
//!   size: key order never matters (CouchDB compares entries in stored order).
//! - `$eq` is equality under that collation: an array field equals only an equal array.
//!   `$in` on an array field matches when any element equals any argument (the array as a
//!   whole is not compared), as in CouchDB; `$nin` is its negation on a present field.
//! - `{}` and `{"$and": []}` match every document; `{"$or": []}` matches none.
//! - `_id`, `_rev` and `_deleted` are ordinary fields of the document as replicated.
//!
//! Invariants:
//! 1. A parsed `Selector` holds no `$not`. `$and`/`$or` children are flattened (no `$and`
//!    directly in an `$and`, nor `$or` in an `$or`), sorted by their canonical JSON and
//!    deduplicated, and a lone child stands for itself. Literal arguments are in normal form
//!    (object keys sorted, numbers in the canonical form of `crate::number`, integral floats
//!    within ±2^53 written as integers); `$in`/`$nin`
//!    arguments are sorted by collation and deduplicated. Inputs that differ only in key
//!    order, or in the order of `$and`/`$or`/`$in` elements, parse to equal selectors.
//! 2. `canonical` is a selector in that form: parsing it gives back an equal `Selector`, so
//!    equal selectors, and only they, have equal canonical text.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use crate::number::Integer;

/// A parsed, normalized Mango selector.
#[derive(Clone, Debug, PartialEq)]
pub struct Selector {
    root: Node,
}

/// Why a selector was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid selector: {0}")]
pub struct Error(pub String);

impl Selector {
    /// Parses a selector; `value` must be a JSON object.
    pub fn parse(value: &Value) -> Result<Selector, Error> {
        match value {
            Value::Object(map) => Ok(Selector { root: parse_object(map, &[])? }),
            other => Err(Error(format!("a selector must be a JSON object, not {}", describe(other)))),
        }
    }

    /// `doc` is the document as replicated: its body fields plus `_id`, `_rev`, and
    /// `_deleted: true` for tombstones.
    pub fn matches(&self, doc: &Map<String, Value>) -> bool {
        self.root.matches(doc)
    }

    /// Canonical JSON of the parsed selector (stable key order), for replication ids.
    pub fn canonical(&self) -> String {
        self.root.to_json().to_string()
    }
}

/// The normalized tree: no `$not`, see invariant 1.
#[derive(Clone, Debug, PartialEq)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Field { path: Vec<String>, cond: Cond },
}

/// A condition on the value at one field path.
#[derive(Clone, Debug, PartialEq)]
enum Cond {
    Eq(Value),
    Ne(Value),
    Gt(Value),
    Gte(Value),
    Lt(Value),
    Lte(Value),
    /// Sorted by collation, without duplicates.
    In(Vec<Value>),
    /// Sorted by collation, without duplicates.
    Nin(Vec<Value>),
    Exists(bool),
}

impl Node {
    fn matches(&self, doc: &Map<String, Value>) -> bool {
        match self {
            Node::And(children) => children.iter().all(|c| c.matches(doc)),
            Node::Or(children) => children.iter().any(|c| c.matches(doc)),
            Node::Field { path, cond } => cond.eval(lookup(doc, path)),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Node::And(children) if children.is_empty() => Value::Object(Map::new()),
            Node::And(children) => {
                single("$and".to_owned(), Value::Array(children.iter().map(Node::to_json).collect()))
            }
            Node::Or(children) => {
                single("$or".to_owned(), Value::Array(children.iter().map(Node::to_json).collect()))
            }
            Node::Field { path, cond } => {
                single(escape_path(path), single(cond.name().to_owned(), cond.arg()))
            }
        }
    }
}

impl Cond {
    fn name(&self) -> &'static str {
        match self {
            Cond::Eq(_) => "$eq",
            Cond::Ne(_) => "$ne",
            Cond::Gt(_) => "$gt",
            Cond::Gte(_) => "$gte",
            Cond::Lt(_) => "$lt",
            Cond::Lte(_) => "$lte",
            Cond::In(_) => "$in",
            Cond::Nin(_) => "$nin",
            Cond::Exists(_) => "$exists",
        }
    }

    fn arg(&self) -> Value {
        match self {
            Cond::Eq(v) | Cond::Ne(v) | Cond::Gt(v) | Cond::Gte(v) | Cond::Lt(v) | Cond::Lte(v) => v.clone(),
            Cond::In(vs) | Cond::Nin(vs) => Value::Array(vs.clone()),
            Cond::Exists(b) => Value::Bool(*b),
        }
    }

    /// The complementary condition on a present field.
    fn negate(self) -> Cond {
        match self {
            Cond::Eq(v) => Cond::Ne(v),
            Cond::Ne(v) => Cond::Eq(v),
            Cond::Gt(v) => Cond::Lte(v),
            Cond::Gte(v) => Cond::Lt(v),
            Cond::Lt(v) => Cond::Gte(v),
            Cond::Lte(v) => Cond::Gt(v),
            Cond::In(vs) => Cond::Nin(vs),
            Cond::Nin(vs) => Cond::In(vs),
            Cond::Exists(b) => Cond::Exists(!b),
        }
    }

    /// `value` is the field's value, `None` when the field is absent.
    fn eval(&self, value: Option<&Value>) -> bool {
        let Some(v) = value else {
            return matches!(self, Cond::Exists(false));
        };
        match self {
            Cond::Eq(a) => collate(v, a) == Ordering::Equal,
            Cond::Ne(a) => collate(v, a) != Ordering::Equal,
            Cond::Gt(a) => collate(v, a) == Ordering::Greater,
            Cond::Gte(a) => collate(v, a) != Ordering::Less,
            Cond::Lt(a) => collate(v, a) == Ordering::Less,
            Cond::Lte(a) => collate(v, a) != Ordering::Greater,
            Cond::In(set) => in_set(v, set),
            Cond::Nin(set) => !in_set(v, set),
            Cond::Exists(b) => *b,
        }
    }
}

/// CouchDB's `$in`: an array field matches when one of its elements is in `set`.
fn in_set(value: &Value, set: &[Value]) -> bool {
    let contains = |v: &Value| set.binary_search_by(|a| collate(a, v)).is_ok();
    match value {
        Value::Array(items) => items.iter().any(contains),
        other => contains(other),
    }
}

fn lookup<'a>(doc: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut current = doc.get(first)?;
    for segment in rest {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(array_index(segment)?)?,
            _ => return None,
        };
    }
    Some(current)
}

fn array_index(segment: &str) -> Option<usize> {
    if segment.bytes().all(|b| b.is_ascii_digit()) {
        segment.parse().ok()
    } else {
        None
    }
}

/// Parses the object `map` found at `path` (empty: the top level).
fn parse_object(map: &Map<String, Value>, path: &[String]) -> Result<Node, Error> {
    if map.is_empty() {
        return Ok(if path.is_empty() {
            Node::And(Vec::new())
        } else {
            field(path, Cond::Eq(Value::Object(Map::new())))
        });
    }
    let mut parts = Vec::with_capacity(map.len());
    for (key, arg) in map {
        if key.starts_with('$') {
            parts.push(parse_operator(key, arg, path)?);
        } else {
            let mut sub = path.to_vec();
            sub.extend(parse_path(key)?);
            parts.push(parse_condition(arg, &sub)?);
        }
    }
    Ok(and(parts))
}

/// Parses a selector (at the top level) or a condition on the field at `path`.
fn parse_condition(value: &Value, path: &[String]) -> Result<Node, Error> {
    match value {
        Value::Object(map) => parse_object(map, path),
        other if path.is_empty() => {
            Err(Error(format!("expected a selector object, found {}", describe(other))))
        }
        other => Ok(field(path, Cond::Eq(normal_form(other)?))),
    }
}

fn parse_operator(op: &str, arg: &Value, path: &[String]) -> Result<Node, Error> {
    let leaf = |cond: Cond| {
        if path.is_empty() {
            Err(Error(format!("operator {op} must be applied to a field")))
        } else {
            Ok(field(path, cond))
        }
    };
    match op {
        "$and" | "$or" => {
            let Value::Array(items) = arg else {
                return Err(Error(format!("{op} takes an array, not {}", describe(arg))));
            };
            let children = items.iter().map(|item| parse_condition(item, path)).collect::<Result<_, _>>()?;
            Ok(if op == "$and" { and(children) } else { or(children) })
        }
        "$not" => match arg {
            Value::Object(map) => Ok(negate(parse_object(map, path)?)),
            other => Err(Error(format!("$not takes an object, not {}", describe(other)))),
        },
        "$eq" => leaf(Cond::Eq(normal_form(arg)?)),
        "$ne" => leaf(Cond::Ne(normal_form(arg)?)),
        "$gt" => leaf(Cond::Gt(normal_form(arg)?)),
        "$gte" => leaf(Cond::Gte(normal_form(arg)?)),
        "$lt" => leaf(Cond::Lt(normal_form(arg)?)),
        "$lte" => leaf(Cond::Lte(normal_form(arg)?)),
        "$in" | "$nin" => {
            let Value::Array(items) = arg else {
                return Err(Error(format!("{op} takes an array, not {}", describe(arg))));
            };
            let set = value_set(items)?;
            leaf(if op == "$in" { Cond::In(set) } else { Cond::Nin(set) })
        }
        "$exists" => match arg {
            Value::Bool(b) => leaf(Cond::Exists(*b)),
            other => Err(Error(format!("$exists takes a boolean, not {}", describe(other)))),
        },
        _ => Err(Error(format!("unknown or unsupported operator {op}"))),
    }
}

fn field(path: &[String], cond: Cond) -> Node {
    Node::Field { path: path.to_vec(), cond }
}

fn negate(node: Node) -> Node {
    match node {
        Node::And(children) => or(children.into_iter().map(negate).collect()),
        Node::Or(children) => and(children.into_iter().map(negate).collect()),
        Node::Field { path, cond } => Node::Field { path, cond: cond.negate() },
    }
}

fn and(children: Vec<Node>) -> Node {
    combine(children, true)
}

fn or(children: Vec<Node>) -> Node {
    combine(children, false)
}

/// Builds a normalized `$and` (`is_and`) or `$or` of normalized children (invariant 1).
fn combine(children: Vec<Node>, is_and: bool) -> Node {
    let mut flat = Vec::with_capacity(children.len());
    for child in children {
        match child {
            Node::And(inner) if is_and => flat.extend(inner),
            Node::Or(inner) if !is_and => flat.extend(inner),
            other => flat.push(other),
        }
    }
    let mut keyed: Vec<(String, Node)> = flat.into_iter().map(|n| (n.to_json().to_string(), n)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.dedup_by(|a, b| a.0 == b.0);
    let mut nodes: Vec<Node> = keyed.into_iter().map(|(_, n)| n).collect();
    if nodes.len() == 1 {
        if let Some(only) = nodes.pop() {
            return only;
        }
    }
    if is_and {
        Node::And(nodes)
    } else {
        Node::Or(nodes)
    }
}

/// `$in`/`$nin` arguments: normal form, sorted by collation (ties by text), deduplicated.
fn value_set(items: &[Value]) -> Result<Vec<Value>, Error> {
    let mut keyed: Vec<(Value, String)> = items
        .iter()
        .map(|v| {
            let v = normal_form(v)?;
            let text = v.to_string();
            Ok((v, text))
        })
        .collect::<Result<_, Error>>()?;
    keyed.sort_by(|a, b| collate(&a.0, &b.0).then_with(|| a.1.cmp(&b.1)));
    keyed.dedup_by(|a, b| collate(&a.0, &b.0) == Ordering::Equal);
    Ok(keyed.into_iter().map(|(v, _)| v).collect())
}

/// Splits a dotted field name; `\` makes the next character literal.
fn parse_path(key: &str) -> Result<Vec<String>, Error> {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.push(chars.next().unwrap_or('\\')),
            '.' => segments.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    segments.push(current);
    if segments.iter().any(String::is_empty) {
        return Err(Error(format!("empty field name in {key:?}")));
    }
    Ok(segments)
}

/// The inverse of `parse_path`.
fn escape_path(path: &[String]) -> String {
    let mut out = String::new();
    for (i, segment) in path.iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        for (j, c) in segment.chars().enumerate() {
            if c == '\\' || c == '.' || (i == 0 && j == 0 && c == '$') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

fn single(key: String, value: Value) -> Value {
    let mut map = Map::new();
    map.insert(key, value);
    Value::Object(map)
}

/// A literal in normal form: object keys sorted by code point, numbers in canonical form
/// (`crate::number`), integral floats within ±2^53 as integers. Equal to the input under
/// `collate`. A number beyond the range of a double is an error.
fn normal_form(value: &Value) -> Result<Value, Error> {
    Ok(match value {
        Value::Number(n) => Value::Number(normal_number(n)?),
        Value::Array(items) => Value::Array(items.iter().map(normal_form).collect::<Result<_, _>>()?),
        Value::Object(map) => Value::Object(
            sorted_entries(map)
                .into_iter()
                .map(|(k, v)| Ok((k.clone(), normal_form(v)?)))
                .collect::<Result<_, Error>>()?,
        ),
        other => other.clone(),
    })
}

const MAX_SAFE_FLOAT_INT: f64 = 9_007_199_254_740_992.0;

fn normal_number(n: &Number) -> Result<Number, Error> {
    let mut n = n.clone();
    crate::number::canonicalize(&mut n).map_err(|e| Error(e.to_string()))?;
    Ok(match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() <= MAX_SAFE_FLOAT_INT => Number::from(f as i64),
        _ => n,
    })
}

/// CouchDB's collation order of JSON types.
fn type_rank(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(false) => 1,
        Value::Bool(true) => 2,
        Value::Number(_) => 3,
        Value::String(_) => 4,
        Value::Array(_) => 5,
        Value::Object(_) => 6,
    }
}

/// Total order on JSON values: see the module doc.
fn collate(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Array(xs), Value::Array(ys)) => xs
            .iter()
            .zip(ys)
            .map(|(x, y)| collate(x, y))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| xs.len().cmp(&ys.len())),
        (Value::Object(xs), Value::Object(ys)) => {
            let (xs_sorted, ys_sorted) = (sorted_entries(xs), sorted_entries(ys));
            xs_sorted
                .iter()
                .zip(&ys_sorted)
                .map(|((kx, vx), (ky, vy))| kx.cmp(ky).then_with(|| collate(vx, vy)))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| xs.len().cmp(&ys.len()))
        }
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

fn sorted_entries(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|p, q| p.0.cmp(q.0));
    entries
}

/// An integer in the i64 or u64 range.
fn integer_value(n: &Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
}

/// Exact comparison of JSON numbers: integers (of any size) as integers, never rounded
/// through f64, and floats as the doubles they stand for.
fn compare_numbers(x: &Number, y: &Number) -> Ordering {
    match (integer_value(x), integer_value(y)) {
        (Some(i), Some(j)) => return i.cmp(&j),
        (Some(i), None) if y.is_f64() => return compare_int_float(i, y.as_f64().unwrap_or(0.0)),
        (None, Some(j)) if x.is_f64() => return compare_int_float(j, x.as_f64().unwrap_or(0.0)).reverse(),
        _ => {}
    }
    // An integer beyond the 64-bit range on either side, or two floats.
    match (Integer::parse(x.as_str()), Integer::parse(y.as_str())) {
        (Some(i), Some(j)) => i.cmp_exact(j),
        (Some(i), None) => i.cmp_f64(y.as_f64().unwrap_or(0.0)),
        (None, Some(j)) => j.cmp_f64(x.as_f64().unwrap_or(0.0)).reverse(),
        (None, None) => {
            let (f, g) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            f.partial_cmp(&g).unwrap_or(Ordering::Equal)
        }
    }
}

/// `i` is an i64 or u64; `f` is finite (JSON has no NaN or infinity).
fn compare_int_float(i: i128, f: f64) -> Ordering {
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    if f.is_nan() {
        return Ordering::Equal;
    }
    if f >= TWO_POW_64 {
        return Ordering::Less;
    }
    if f <= -TWO_POW_64 {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    // Exact: `whole` is integral and within ±2^64.
    i.cmp(&(whole as i128)).then(if f > whole {
        Ordering::Less
    } else if f < whole {
        Ordering::Greater
    } else {
        Ordering::Equal
    })
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(v: Value) -> Selector {
        Selector::parse(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
    }

    fn doc(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    /// Asserts which of `docs` match `selector`, and that its canonical form agrees.
    fn check(selector: Value, docs: &[(Value, bool)]) {
        let s = sel(selector.clone());
        let round: Value = serde_json::from_str(&s.canonical()).unwrap();
        let reparsed = sel(round);
        assert_eq!(reparsed, s, "canonical of {selector} reparses differently");
        for (d, expected) in docs {
            let d = doc(d.clone());
            assert_eq!(s.matches(&d), *expected, "{selector} on {d:?}");
            assert_eq!(reparsed.matches(&d), *expected, "canonical {} on {d:?}", s.canonical());
        }
    }

    fn err(v: Value) -> String {
        match Selector::parse(&v) {
            Ok(s) => panic!("{v} parsed as {}", s.canonical()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn implicit_and_explicit_eq() {
        check(
            json!({"type": "card"}),
            &[(json!({"type": "card"}), true), (json!({"type": "deck"}), false), (json!({}), false)],
        );
        check(json!({"n": {"$eq": 1}}), &[(json!({"n": 1.0}), true), (json!({"n": 2}), false)]);
        check(
            json!({"o": {"$eq": {"a": 1, "b": [1, 2]}}}),
            &[
                (json!({"o": {"b": [1, 2], "a": 1}}), true),
                (json!({"o": {"a": 1}}), false),
                (json!({"o": {"a": 1, "b": [2, 1]}}), false),
            ],
        );
        // An array equals only an equal array, not one of its elements.
        check(
            json!({"tags": ["a", "b"]}),
            &[
                (json!({"tags": ["a", "b"]}), true),
                (json!({"tags": "a"}), false),
                (json!({"tags": ["a"]}), false),
            ],
        );
        check(
            json!({"v": null}),
            &[(json!({"v": null}), true), (json!({}), false), (json!({"v": false}), false)],
        );
        check(
            json!({"m": {}}),
            &[(json!({"m": {}}), true), (json!({"m": {"a": 1}}), false), (json!({}), false)],
        );
    }

    #[test]
    fn ne_requires_the_field() {
        check(
            json!({"type": {"$ne": "card"}}),
            &[
                (json!({"type": "deck"}), true),
                (json!({"type": null}), true),
                (json!({"type": "card"}), false),
                (json!({"other": 1}), false),
            ],
        );
        check(
            json!({"_deleted": {"$ne": true}}),
            &[(json!({"_deleted": true}), false), (json!({"_id": "a"}), false)],
        );
    }

    #[test]
    fn ordering_operators() {
        let docs = |v: i64| json!({"n": v});
        check(json!({"n": {"$gt": 5}}), &[(docs(6), true), (docs(5), false), (docs(4), false)]);
        check(json!({"n": {"$gte": 5}}), &[(docs(6), true), (docs(5), true), (docs(4), false)]);
        check(json!({"n": {"$lt": 5}}), &[(docs(6), false), (docs(5), false), (docs(4), true)]);
        check(json!({"n": {"$lte": 5}}), &[(docs(6), false), (docs(5), true), (docs(4), true)]);
        check(json!({"n": {"$gt": 5}}), &[(json!({}), false), (json!({"n": 5.5}), true)]);
        check(
            json!({"s": {"$gte": "b", "$lt": "c"}}),
            &[
                (json!({"s": "b"}), true),
                (json!({"s": "bzz"}), true),
                (json!({"s": "c"}), false),
                (json!({"s": "a"}), false),
            ],
        );
    }

    #[test]
    fn collation_across_types() {
        let ordered = [
            json!(null),
            json!(false),
            json!(true),
            json!(-1e300),
            json!(i64::MIN),
            json!(-1),
            json!(0),
            json!(0.5),
            json!(1),
            json!(1.5),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(1e20),
            json!(""),
            json!("B"),
            json!("a"),
            json!("ab"),
            json!("é"),
            json!([]),
            json!([null]),
            json!(["a"]),
            json!(["a", 1]),
            json!(["b"]),
            json!({}),
            json!({"a": 1}),
            json!({"a": 1, "b": 0}),
            json!({"a": 2}),
            json!({"b": 0}),
        ];
        for (i, x) in ordered.iter().enumerate() {
            for (j, y) in ordered.iter().enumerate() {
                assert_eq!(collate(x, y), i.cmp(&j), "{x} vs {y}");
            }
        }
        assert_eq!(collate(&json!(1), &json!(1.0)), Ordering::Equal);
        assert_eq!(collate(&json!({"a": 1, "b": 2}), &json!({"b": 2, "a": 1})), Ordering::Equal);
        assert_eq!(collate(&json!(u64::MAX), &json!(18_446_744_073_709_551_615.0)), Ordering::Less);

        let all = [
            json!({"f": null}),
            json!({"f": false}),
            json!({"f": true}),
            json!({"f": 0}),
            json!({"f": ""}),
            json!({"f": []}),
            json!({"f": {}}),
        ];
        let expect = |s: Value, pattern: [bool; 7]| {
            let cases: Vec<(Value, bool)> = all.iter().cloned().zip(pattern).collect();
            check(s, &cases);
        };
        expect(json!({"f": {"$gt": null}}), [false, true, true, true, true, true, true]);
        expect(json!({"f": {"$lt": 0}}), [true, true, true, false, false, false, false]);
        expect(json!({"f": {"$gte": "", "$lt": []}}), [false, false, false, false, true, false, false]);
        expect(json!({"f": {"$gt": true, "$lte": []}}), [false, false, false, true, true, true, false]);
    }

    #[test]
    fn in_and_nin() {
        check(
            json!({"c": {"$in": ["red", 2]}}),
            &[
                (json!({"c": "red"}), true),
                (json!({"c": 2.0}), true),
                (json!({"c": "blue"}), false),
                (json!({"c": ["blue", "red"]}), true),
                (json!({"c": ["blue"]}), false),
                (json!({"c": []}), false),
                (json!({}), false),
            ],
        );
        check(
            json!({"c": {"$nin": ["red", 2]}}),
            &[
                (json!({"c": "red"}), false),
                (json!({"c": "blue"}), true),
                (json!({"c": ["blue", "red"]}), false),
                (json!({"c": ["blue"]}), true),
                (json!({"c": []}), true),
                (json!({}), false),
            ],
        );
        // An array argument matches an array element, not the field as a whole.
        check(json!({"c": {"$in": [["a"]]}}), &[(json!({"c": ["a"]}), false), (json!({"c": [["a"]]}), true)]);
        check(json!({"c": {"$in": []}}), &[(json!({"c": 1}), false)]);
    }

    #[test]
    fn exists() {
        check(
            json!({"a": {"$exists": true}}),
            &[(json!({"a": null}), true), (json!({"a": 0}), true), (json!({"b": 1}), false)],
        );
        check(
            json!({"a": {"$exists": false}}),
            &[(json!({"a": null}), false), (json!({"b": 1}), true), (json!({}), true)],
        );
        check(
            json!({"a.b": {"$exists": false}}),
            &[(json!({"a": 5}), true), (json!({"a": {}}), true), (json!({"a": {"b": null}}), false)],
        );
        check(
            json!({"_deleted": {"$exists": false}}),
            &[(json!({"_id": "x"}), true), (json!({"_deleted": true}), false)],
        );
    }

    #[test]
    fn dotted_and_nested_fields() {
        let docs = [
            (json!({"address": {"city": "Paris", "zip": "75001"}}), true),
            (json!({"address": {"city": "Lyon"}}), false),
            (json!({"address": "Paris"}), false),
            (json!({"address.city": "Paris"}), false),
            (json!({}), false),
        ];
        check(json!({"address.city": "Paris"}), &docs);
        check(json!({"address": {"city": "Paris"}}), &docs);
        check(json!({"address": {"city": {"$eq": "Paris"}}}), &docs);
        assert_eq!(sel(json!({"address": {"city": "Paris"}})), sel(json!({"address.city": "Paris"})));
        assert_eq!(sel(json!({"a": {"b": {"c.d": 1}}})), sel(json!({"a.b.c.d": 1})));
        // Mixed operator and field keys.
        check(
            json!({"a": {"$exists": true, "b": 1}}),
            &[(json!({"a": {"b": 1}}), true), (json!({"a": {"b": 2}}), false)],
        );
        // Array indexes, escaped dots and dollars.
        check(
            json!({"tags.1": "x"}),
            &[(json!({"tags": ["w", "x"]}), true), (json!({"tags": ["x"]}), false)],
        );
        check(json!({"a\\.b": 1}), &[(json!({"a.b": 1}), true), (json!({"a": {"b": 1}}), false)]);
        check(
            json!({"\\$x.y\\\\": 1}),
            &[(json!({"$x": {"y\\": 1}}), true), (json!({"$x": {"y": 1}}), false)],
        );
        check(json!({"k": {"\\$v": 1}}), &[(json!({"k": {"$v": 1}}), true)]);
    }

    #[test]
    fn implicit_and() {
        let s = json!({"type": "card", "age": {"$gt": 1, "$lt": 9}});
        check(
            s,
            &[
                (json!({"type": "card", "age": 5}), true),
                (json!({"type": "card", "age": 9}), false),
                (json!({"type": "card", "age": 1}), false),
                (json!({"type": "deck", "age": 5}), false),
                (json!({"type": "card"}), false),
            ],
        );
        check(
            json!({"$and": [{"a": 1}, {"b": {"$and": [{"$gte": 2}, 3]}}]}),
            &[(json!({"a": 1, "b": 3}), true), (json!({"a": 1, "b": 2}), false)],
        );
        check(json!({}), &[(json!({}), true), (json!({"a": 1}), true)]);
        check(json!({"$and": []}), &[(json!({}), true)]);
    }

    #[test]
    fn or() {
        check(
            json!({"$or": [{"type": "card"}, {"n": {"$gt": 10}}]}),
            &[
                (json!({"type": "card"}), true),
                (json!({"n": 11}), true),
                (json!({"type": "deck", "n": 1}), false),
                (json!({}), false),
            ],
        );
        check(
            json!({"n": {"$or": [1, {"$gt": 10}]}}),
            &[
                (json!({"n": 1}), true),
                (json!({"n": 12}), true),
                (json!({"n": 5}), false),
                (json!({}), false),
            ],
        );
        check(json!({"$or": []}), &[(json!({}), false), (json!({"a": 1}), false)]);
    }

    #[test]
    fn not() {
        check(
            json!({"$not": {"type": "card"}}),
            &[(json!({"type": "deck"}), true), (json!({"type": "card"}), false), (json!({}), false)],
        );
        assert_eq!(sel(json!({"$not": {"type": "card"}})), sel(json!({"type": {"$ne": "card"}})));
        check(
            json!({"n": {"$not": {"$gt": 3}}}),
            &[(json!({"n": 3}), true), (json!({"n": 4}), false), (json!({}), false)],
        );
        check(json!({"$not": {"a": {"$exists": true}}}), &[(json!({}), true), (json!({"a": null}), false)]);
        check(json!({"$not": {"$not": {"a": 1}}}), &[(json!({"a": 1}), true), (json!({"a": 2}), false)]);
        // De Morgan: not (a = 1 and b = 2) is (a != 1 or b != 2), each needing its field.
        check(
            json!({"$not": {"a": 1, "b": 2}}),
            &[
                (json!({"a": 1, "b": 2}), false),
                (json!({"a": 1, "b": 3}), true),
                (json!({"b": 3}), true),
                (json!({}), false),
            ],
        );
        check(
            json!({"$not": {"$or": [{"c": {"$in": [1, 2]}}, {"d": {"$lte": 0}}]}}),
            &[(json!({"c": 3, "d": 1}), true), (json!({"c": 1, "d": 1}), false), (json!({"c": 3}), false)],
        );
        check(json!({"$not": {}}), &[(json!({}), false)]);
    }

    #[test]
    fn errors() {
        assert_eq!(err(json!(["a"])), "invalid selector: a selector must be a JSON object, not an array");
        assert!(err(json!("x")).contains("JSON object"));
        assert!(err(json!({"a": {"$regex": "^x"}})).contains("$regex"));
        assert!(err(json!({"$foo": 1})).contains("$foo"));
        assert!(err(json!({"a": {"$nor": []}})).contains("$nor"));
        assert!(err(json!({"a": {"b": {"$elemMatch": {}}}})).contains("$elemMatch"));
        assert!(err(json!({"a": {"$in": 1}})).contains("$in takes an array"));
        assert!(err(json!({"a": {"$nin": {"x": 1}}})).contains("$nin takes an array"));
        assert!(err(json!({"a": {"$exists": "yes"}})).contains("$exists takes a boolean"));
        assert!(err(json!({"$and": {"a": 1}})).contains("$and takes an array"));
        assert!(err(json!({"$or": "a"})).contains("$or takes an array"));
        assert!(err(json!({"$and": [{"a": 1}, 2]})).contains("expected a selector object"));
        assert!(err(json!({"$not": [{"a": 1}]})).contains("$not takes an object"));
        assert!(err(json!({"a": {"$not": 1}})).contains("$not takes an object"));
        assert!(err(json!({"$gt": 1})).contains("$gt must be applied to a field"));
        assert!(err(json!({"": 1})).contains("empty field name"));
        assert!(err(json!({"a..b": 1})).contains("empty field name"));
        assert!(err(json!({"a.": 1})).contains("empty field name"));
        assert!(err(json!({"a": {"": 1}})).contains("empty field name"));
    }

    #[test]
    fn canonical_is_stable_across_key_orders() {
        let pairs = [
            (
                r#"{"type":"card","age":{"$gt":1,"$lt":9},"o":{"$eq":{"x":1,"y":[{"q":1,"p":2}]}}}"#,
                r#"{"o":{"$eq":{"y":[{"p":2,"q":1}],"x":1}},"age":{"$lt":9,"$gt":1},"type":"card"}"#,
            ),
            (
                r#"{"$or":[{"a":1},{"b":2}],"c":{"$in":[3,1,2,1]}}"#,
                r#"{"c":{"$in":[2,1,3]},"$or":[{"b":2},{"a":1}]}"#,
            ),
            (r#"{"address":{"city":"Paris","zip":1}}"#, r#"{"address.zip":1,"address.city":"Paris"}"#),
            (r#"{"$and":[{"a":1},{"$and":[{"b":2},{"a":1}]}]}"#, r#"{"b":2,"a":1.0}"#),
            (
                r#"{"$not":{"a":1,"b":{"$exists":true}}}"#,
                r#"{"$or":[{"b":{"$exists":false}},{"a":{"$ne":1}}]}"#,
            ),
        ];
        for (left, right) in pairs {
            let (l, r) =
                (sel(serde_json::from_str(left).unwrap()), sel(serde_json::from_str(right).unwrap()));
            assert_eq!(l, r, "{left} vs {right}");
            assert_eq!(l.canonical(), r.canonical());
            let reparsed = sel(serde_json::from_str(&l.canonical()).unwrap());
            assert_eq!(reparsed.canonical(), l.canonical());
        }
        assert_eq!(
            sel(json!({"b": 1, "a": {"$in": [2, 1]}})).canonical(),
            r#"{"$and":[{"a":{"$in":[1,2]}},{"b":{"$eq":1}}]}"#
        );
        assert_eq!(sel(json!({})).canonical(), "{}");
        assert_eq!(sel(json!({"a\\.b": {"c": true}})).canonical(), r#"{"a\\.b.c":{"$eq":true}}"#);
        assert_ne!(sel(json!({"a": 1})).canonical(), sel(json!({"a": "1"})).canonical());
        assert_ne!(sel(json!({"a": 1})).canonical(), sel(json!({"a": {"$gte": 1}})).canonical());
    }

    fn parsed(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// Literals are read as documents are: spellings of one number are one selector, and
    /// the canonical text of numbers that were kept exactly before is what it was.
    #[test]
    fn number_literals_take_their_canonical_form() {
        for (left, right) in [
            (r#"{"a":1.50}"#, r#"{"a":1.5}"#),
            (r#"{"a":1E5}"#, r#"{"a":100000}"#),
            (r#"{"a":-0}"#, r#"{"a":0}"#),
            (r#"{"a":{"$in":[25E-1,2.50,1e-7]}}"#, r#"{"a":{"$in":[2.5,0.0000001]}}"#),
        ] {
            assert_eq!(sel(parsed(left)), sel(parsed(right)), "{left} vs {right}");
        }
        assert_eq!(sel(parsed(r#"{"a":1e22}"#)).canonical(), r#"{"a":{"$eq":1e+22}}"#);
        assert_eq!(
            sel(parsed(r#"{"a":-31.651909739158846}"#)).canonical(),
            r#"{"a":{"$eq":-31.651909739158846}}"#
        );
        assert_eq!(
            sel(parsed(r#"{"a":{"$gt":12345678901234567890123}}"#)).canonical(),
            r#"{"a":{"$gt":12345678901234567890123}}"#
        );
        assert!(Selector::parse(&parsed(r#"{"a":1e400}"#)).unwrap_err().to_string().contains("out of range"));
        assert!(Selector::parse(&parsed(r#"{"a":{"$in":[1,-1e400]}}"#)).is_err());
    }

    /// Integers beyond 64 bits compare exactly with each other and with doubles.
    #[test]
    fn integers_of_any_size_compare_exactly() {
        let big = "12345678901234567890123";
        let ordered = [
            "-1e+300",
            "-123456789012345678901234567890",
            "-12345678901234567890123",
            "-1.2345678901234568e+22",
            "-18446744073709551616",
            "-9223372036854775808",
            "0",
            "18446744073709551615",
            "18446744073709551616",
            "1.2345678901234566e+22",
            "12345678901234567741439",
            "1.2345678901234568e+22",
            "12345678901234567741440",
            big,
            "12345678901234567890124",
            "1.234567890123457e+22",
            "123456789012345678901234567890",
            "1e+300",
        ];
        for (i, x) in ordered.iter().enumerate() {
            for (j, y) in ordered.iter().enumerate() {
                let expected = match (x, y) {
                    // The double 1.2345678901234568e+22 is exactly 12345678901234567741440.
                    (&"1.2345678901234568e+22", &"12345678901234567741440")
                    | (&"12345678901234567741440", &"1.2345678901234568e+22") => Ordering::Equal,
                    _ => i.cmp(&j),
                };
                assert_eq!(collate(&parsed(x), &parsed(y)), expected, "{x} vs {y}");
            }
        }
        check(
            parsed(&format!(r#"{{"n":{{"$gt":{big}}}}}"#)),
            &[
                (parsed(r#"{"n":12345678901234567890124}"#), true),
                (parsed(&format!(r#"{{"n":{big}}}"#)), false),
                (parsed(r#"{"n":1.234567890123457e22}"#), true),
                (parsed(r#"{"n":1.2345678901234568e22}"#), false),
            ],
        );
    }
}
