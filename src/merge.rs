//! Three-way merge and diff of JSON document bodies, field by field along JSON paths.
//!
//! Owns: `merge3` (reconcile two edits of a common base, reporting every clash), `diff`
//! (what changed between two bodies) and `path_string` (how a JSON path is printed).
//! Pure: no I/O, inputs are never modified.
//! Invariants:
//! 1. A key's merged value depends only on its three values (base, ours, theirs); absence is a
//!    value, so a deletion on one side wins over "left alone" on the other.
//! 2. Objects changed on both sides are merged key by key (an absent base is an empty object);
//!    arrays are whole values, except that when both sides only appended to the base array the
//!    result is the base, then ours' appended items, then theirs' (once if the same).
//! 3. `merge3(b, x, b)`, `merge3(b, b, x)` and `merge3(b, x, x)` are all `Ok(x)`.
//! 4. Swapping ours and theirs clashes at the same paths; when both succeed the results are
//!    equal up to object key order and the order of the two appended array tails.
//! 5. Result key order: ours' keys in ours' order, then keys only in theirs in theirs' order.
//! 6. Clashes and diff entries are sorted by path, and no path appears twice.

use serde_json::{Map, Value};

/// One step of a JSON path: an object key or an array index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A JSON path: object keys and array indices from the root.
pub type Path = Vec<Step>;

/// Prints a path as `address.lines[2]`; the empty path is `(root)`.
///
/// A key is printed quoted, as a JSON string in brackets (`["a.b"]`), when it is empty, is
/// `(root)`, or contains `.`, `[`, `]`, `"`, `\`, whitespace or a control character, so the
/// printed form is unambiguous.
pub fn path_string(path: &[Step]) -> String {
    if path.is_empty() {
        return "(root)".to_owned();
    }
    let mut out = String::new();
    for (i, step) in path.iter().enumerate() {
        match step {
            Step::Index(n) => {
                out.push('[');
                out.push_str(&n.to_string());
                out.push(']');
            }
            Step::Key(key) if needs_quoting(key) => {
                out.push('[');
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(']');
            }
            Step::Key(key) => {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(key);
            }
        }
    }
    out
}

fn needs_quoting(key: &str) -> bool {
    key.is_empty()
        || key == "(root)"
        || key
            .chars()
            .any(|c| matches!(c, '.' | '[' | ']' | '"' | '\\') || c.is_whitespace() || c.is_control())
}

/// What happened at one path between an old and a new body.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Added(Value),
    Removed(Value),
    Changed { from: Value, to: Value },
}

/// The changes from `old` to `new`, sorted by path.
///
/// Objects present on both sides are compared key by key; any other pair of values (arrays
/// included) is compared as whole values and reported as `Changed` if they differ.
pub fn diff(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<(Path, Change)> {
    let mut out = Vec::new();
    diff_maps(old, new, &mut Vec::new(), &mut out);
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    out
}

fn diff_maps(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    path: &mut Path,
    out: &mut Vec<(Path, Change)>,
) {
    for (key, from) in old {
        path.push(Step::Key(key.clone()));
        match new.get(key) {
            None => out.push((path.clone(), Change::Removed(from.clone()))),
            Some(to) => match (from, to) {
                (Value::Object(a), Value::Object(b)) => diff_maps(a, b, path, out),
                _ if from == to => {}
                _ => out.push((path.clone(), Change::Changed { from: from.clone(), to: to.clone() })),
            },
        }
        path.pop();
    }
    for (key, to) in new {
        if !old.contains_key(key) {
            path.push(Step::Key(key.clone()));
            out.push((path.clone(), Change::Added(to.clone())));
            path.pop();
        }
    }
}

/// A path where ours and theirs made incompatible changes; `None` means absent.
#[derive(Clone, Debug, PartialEq)]
pub struct Clash {
    pub path: Path,
    pub base: Option<Value>,
    pub ours: Option<Value>,
    pub theirs: Option<Value>,
}

/// Merges `ours` and `theirs`, two edits of `base`, field by field.
///
/// For each key, with values `b`, `o`, `t` (each possibly absent): equal sides are taken; a
/// side equal to the base takes the other side; two objects (base an object or absent) are
/// merged recursively; two arrays that both only appended to the base array become the base,
/// ours' tail, then theirs' tail (once if the tails are equal); anything else is a clash.
/// Returns every clash, sorted by path.
pub fn merge3(
    base: &Map<String, Value>,
    ours: &Map<String, Value>,
    theirs: &Map<String, Value>,
) -> Result<Map<String, Value>, Vec<Clash>> {
    let mut clashes = Vec::new();
    let merged = merge_maps(base, ours, theirs, &mut Vec::new(), &mut clashes);
    if clashes.is_empty() {
        Ok(merged)
    } else {
        clashes.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        Err(clashes)
    }
}

fn merge_maps(
    base: &Map<String, Value>,
    ours: &Map<String, Value>,
    theirs: &Map<String, Value>,
    path: &mut Path,
    clashes: &mut Vec<Clash>,
) -> Map<String, Value> {
    let mut merged = Map::new();
    let keys = ours.keys().chain(theirs.keys().filter(|key| !ours.contains_key(*key)));
    for key in keys {
        path.push(Step::Key(key.clone()));
        if let Some(value) = merge_value(base.get(key), ours.get(key), theirs.get(key), path, clashes) {
            merged.insert(key.clone(), value);
        }
        path.pop();
    }
    merged
}

/// The merged value at `path` (`None`: absent). On a clash, records it and returns `None`;
/// the caller discards the merged body then.
fn merge_value(
    b: Option<&Value>,
    o: Option<&Value>,
    t: Option<&Value>,
    path: &mut Path,
    clashes: &mut Vec<Clash>,
) -> Option<Value> {
    if o == t {
        return o.cloned();
    }
    if o == b {
        return t.cloned();
    }
    if t == b {
        return o.cloned();
    }
    match (b, o, t) {
        (None, Some(Value::Object(om)), Some(Value::Object(tm))) => {
            return Some(Value::Object(merge_maps(&Map::new(), om, tm, path, clashes)));
        }
        (Some(Value::Object(bm)), Some(Value::Object(om)), Some(Value::Object(tm))) => {
            return Some(Value::Object(merge_maps(bm, om, tm, path, clashes)));
        }
        (Some(Value::Array(ba)), Some(Value::Array(oa)), Some(Value::Array(ta)))
            if oa.starts_with(ba) && ta.starts_with(ba) =>
        {
            let mut merged = oa.clone();
            if oa[ba.len()..] != ta[ba.len()..] {
                merged.extend_from_slice(&ta[ba.len()..]);
            }
            return Some(Value::Array(merged));
        }
        _ => {}
    }
    clashes.push(Clash { path: path.clone(), base: b.cloned(), ours: o.cloned(), theirs: t.cloned() });
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn obj(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn key(k: &str) -> Step {
        Step::Key(k.to_owned())
    }

    fn keys(map: &Map<String, Value>) -> Vec<&str> {
        map.keys().map(String::as_str).collect()
    }

    #[test]
    fn different_fields_merge_without_clash() {
        let base = obj(json!({"a": 1, "b": 2, "c": 3}));
        let ours = obj(json!({"a": 10, "b": 2, "c": 3}));
        let theirs = obj(json!({"a": 1, "b": 20, "c": 3, "d": 4}));
        let merged = merge3(&base, &ours, &theirs).unwrap();
        assert_eq!(Value::Object(merged.clone()), json!({"a": 10, "b": 20, "c": 3, "d": 4}));
        assert_eq!(keys(&merged), ["a", "b", "c", "d"]);
    }

    #[test]
    fn same_field_changed_differently_clashes() {
        let base = obj(json!({"a": 1, "b": 2}));
        let ours = obj(json!({"a": 10, "b": 2}));
        let theirs = obj(json!({"a": 11, "b": 2}));
        let clashes = merge3(&base, &ours, &theirs).unwrap_err();
        assert_eq!(
            clashes,
            vec![Clash {
                path: vec![key("a")],
                base: Some(json!(1)),
                ours: Some(json!(10)),
                theirs: Some(json!(11)),
            }]
        );
        assert_eq!(path_string(&clashes[0].path), "a");
    }

    #[test]
    fn same_change_on_both_sides_is_no_clash() {
        let base = obj(json!({"a": 1, "b": [1]}));
        let both = obj(json!({"a": 2, "b": [1, 2], "c": {"x": null}}));
        assert_eq!(merge3(&base, &both, &both), Ok(both.clone()));
    }

    #[test]
    fn nested_objects_merge_and_clash_by_path() {
        let base = obj(json!({"address": {"street": "Main", "city": "X", "zip": "1"}}));
        let ours = obj(json!({"address": {"street": "High", "city": "X", "zip": "1"}}));
        let theirs = obj(json!({"address": {"street": "Main", "city": "Y", "zip": "1"}}));
        assert_eq!(
            merge3(&base, &ours, &theirs).map(Value::Object),
            Ok(json!({"address": {"street": "High", "city": "Y", "zip": "1"}}))
        );

        let theirs = obj(json!({"address": {"street": "Low", "city": "Y", "zip": "2"}}));
        let clashes = merge3(&base, &ours, &theirs).unwrap_err();
        assert_eq!(clashes.len(), 1);
        assert_eq!(path_string(&clashes[0].path), "address.street");
    }

    #[test]
    fn objects_added_on_both_sides_merge_against_empty_base() {
        let base = obj(json!({}));
        let ours = obj(json!({"meta": {"x": 1, "same": true}}));
        let theirs = obj(json!({"meta": {"y": 2, "same": true}}));
        let merged = merge3(&base, &ours, &theirs).unwrap();
        assert_eq!(Value::Object(merged.clone()), json!({"meta": {"x": 1, "same": true, "y": 2}}));
        assert_eq!(keys(merged["meta"].as_object().unwrap()), ["x", "same", "y"]);
    }

    #[test]
    fn all_clashes_are_reported_sorted() {
        let base = obj(json!({"z": 1, "a": {"q": 1, "p": 1}}));
        let ours = obj(json!({"z": 2, "a": {"q": 2, "p": 2}}));
        let theirs = obj(json!({"z": 3, "a": {"q": 3, "p": 3}}));
        let clashes = merge3(&base, &ours, &theirs).unwrap_err();
        let paths: Vec<String> = clashes.iter().map(|c| path_string(&c.path)).collect();
        assert_eq!(paths, ["a.p", "a.q", "z"]);
    }

    #[test]
    fn deletion_against_unchanged_deletes() {
        let base = obj(json!({"a": 1, "b": 2}));
        let ours = obj(json!({"a": 1, "b": 2}));
        let theirs = obj(json!({"b": 2}));
        assert_eq!(merge3(&base, &ours, &theirs).map(Value::Object), Ok(json!({"b": 2})));
        assert_eq!(merge3(&base, &theirs, &ours).map(Value::Object), Ok(json!({"b": 2})));
    }

    #[test]
    fn deletion_against_change_clashes() {
        let base = obj(json!({"a": {"x": 1}}));
        let ours = obj(json!({}));
        let theirs = obj(json!({"a": {"x": 2}}));
        let clashes = merge3(&base, &ours, &theirs).unwrap_err();
        assert_eq!(
            clashes,
            vec![Clash {
                path: vec![key("a")],
                base: Some(json!({"x": 1})),
                ours: None,
                theirs: Some(json!({"x": 2})),
            }]
        );
    }

    #[test]
    fn both_appended_concatenates_ours_then_theirs() {
        let base = obj(json!({"tags": ["a"]}));
        let ours = obj(json!({"tags": ["a", "b", "c"]}));
        let theirs = obj(json!({"tags": ["a", "d"]}));
        assert_eq!(
            merge3(&base, &ours, &theirs).map(Value::Object),
            Ok(json!({"tags": ["a", "b", "c", "d"]}))
        );
        assert_eq!(
            merge3(&base, &theirs, &ours).map(Value::Object),
            Ok(json!({"tags": ["a", "d", "b", "c"]}))
        );
    }

    #[test]
    fn one_appended_other_unchanged_appends() {
        let base = obj(json!({"tags": ["a"]}));
        let ours = obj(json!({"tags": ["a", "b"]}));
        assert_eq!(merge3(&base, &ours, &base).map(Value::Object), Ok(json!({"tags": ["a", "b"]})));
        assert_eq!(merge3(&base, &base, &ours).map(Value::Object), Ok(json!({"tags": ["a", "b"]})));
    }

    #[test]
    fn both_modified_an_element_clashes() {
        let base = obj(json!({"tags": ["a", "b"]}));
        let ours = obj(json!({"tags": ["a", "x"]}));
        let theirs = obj(json!({"tags": ["a", "y"]}));
        let clashes = merge3(&base, &ours, &theirs).unwrap_err();
        assert_eq!(clashes.len(), 1);
        assert_eq!(path_string(&clashes[0].path), "tags");

        // One side appended, the other rewrote an element: not append-only, so a clash.
        let ours = obj(json!({"tags": ["a", "b", "c"]}));
        assert!(merge3(&base, &ours, &theirs).is_err());
        // Arrays with no common base array are not concatenated.
        let base = obj(json!({}));
        let ours = obj(json!({"tags": ["a"]}));
        let theirs = obj(json!({"tags": ["b"]}));
        assert!(merge3(&base, &ours, &theirs).is_err());
    }

    #[test]
    fn added_on_both_sides_with_different_values_clashes() {
        let base = obj(json!({}));
        let ours = obj(json!({"n": 1}));
        let theirs = obj(json!({"n": "one"}));
        let clashes = merge3(&base, &ours, &theirs).unwrap_err();
        assert_eq!(
            clashes,
            vec![Clash {
                path: vec![key("n")],
                base: None,
                ours: Some(json!(1)),
                theirs: Some(json!("one"))
            }]
        );
        // An object on one side and a scalar on the other: a clash too.
        let theirs = obj(json!({"n": {"v": 1}}));
        assert!(merge3(&base, &ours, &theirs).is_err());
    }

    #[test]
    fn objects_over_a_scalar_base_clash() {
        let base = obj(json!({"n": 5}));
        let ours = obj(json!({"n": {"a": 1}}));
        let theirs = obj(json!({"n": {"b": 1}}));
        assert!(merge3(&base, &ours, &theirs).is_err());
    }

    #[test]
    fn merged_key_order_is_ours_then_theirs_only() {
        let base = obj(json!({"a": 1, "b": 1}));
        let ours = obj(json!({"b": 1, "x": 1, "a": 1}));
        let theirs = obj(json!({"y": 1, "a": 1, "b": 1, "z": 1}));
        let merged = merge3(&base, &ours, &theirs).unwrap();
        assert_eq!(keys(&merged), ["b", "x", "a", "y", "z"]);
    }

    #[test]
    fn diff_added_removed_changed() {
        let old = obj(json!({"a": 1, "b": 2, "c": 3}));
        let new = obj(json!({"a": 1, "b": 20, "d": 4}));
        assert_eq!(
            diff(&old, &new),
            vec![
                (vec![key("b")], Change::Changed { from: json!(2), to: json!(20) }),
                (vec![key("c")], Change::Removed(json!(3))),
                (vec![key("d")], Change::Added(json!(4))),
            ]
        );
    }

    #[test]
    fn diff_recurses_into_objects_only() {
        let old = obj(json!({"address": {"city": "X", "zip": "1"}, "lines": [1, 2], "k": {"o": 1}}));
        let new = obj(json!({"address": {"city": "Y", "street": "S"}, "lines": [1, 3], "k": 7}));
        let got: Vec<(String, Change)> =
            diff(&old, &new).into_iter().map(|(p, c)| (path_string(&p), c)).collect();
        assert_eq!(
            got,
            vec![
                ("address.city".to_owned(), Change::Changed { from: json!("X"), to: json!("Y") }),
                ("address.street".to_owned(), Change::Added(json!("S"))),
                ("address.zip".to_owned(), Change::Removed(json!("1"))),
                ("k".to_owned(), Change::Changed { from: json!({"o": 1}), to: json!(7) }),
                ("lines".to_owned(), Change::Changed { from: json!([1, 2]), to: json!([1, 3]) }),
            ]
        );
    }

    #[test]
    fn diff_ignores_key_order() {
        let old = obj(json!({"a": 1, "b": {"x": 1, "y": 2}}));
        let new = obj(json!({"b": {"y": 2, "x": 1}, "a": 1}));
        assert!(diff(&old, &new).is_empty());
    }

    #[test]
    fn path_string_prints_and_quotes() {
        assert_eq!(path_string(&[]), "(root)");
        assert_eq!(path_string(&[key("address"), key("lines"), Step::Index(2)]), "address.lines[2]");
        assert_eq!(path_string(&[key("a"), Step::Index(0), key("b")]), "a[0].b");
        assert_eq!(path_string(&[key("a.b")]), r#"["a.b"]"#);
        assert_eq!(path_string(&[key("x"), key("a.b"), key("c")]), r#"x["a.b"].c"#);
        assert_eq!(path_string(&[key("x"), key("")]), r#"x[""]"#);
        assert_eq!(path_string(&[key("a[0]")]), r#"["a[0]"]"#);
        assert_eq!(path_string(&[key(r#"q"t"#)]), r#"["q\"t"]"#);
        assert_eq!(path_string(&[key("(root)")]), r#"["(root)"]"#);
        assert_eq!(path_string(&[key("two words")]), r#"["two words"]"#);
        assert_eq!(path_string(&[Step::Index(3)]), "[3]");
    }
}

#[cfg(test)]
mod proptests {
    //! Properties over small random objects: keys from a 4-letter alphabet, small scalars,
    //! nesting to depth 2. `Triple` derives ours and theirs from the base by random edits
    //! (keep, delete, replace, recurse, append, add) so merges often succeed.

    use quickcheck::{quickcheck, Arbitrary, Gen};
    use serde_json::{Map, Value};

    use super::*;

    const KEYS: [&str; 4] = ["a", "b", "c", "d"];

    fn pick(g: &mut Gen, n: usize) -> usize {
        usize::arbitrary(g) % n.max(1)
    }

    fn gen_value(g: &mut Gen, depth: u32) -> Value {
        match pick(g, if depth == 0 { 4 } else { 6 }) {
            0 => Value::Null,
            1 => Value::Bool(bool::arbitrary(g)),
            2 => Value::from(pick(g, 4)),
            3 => Value::String(["x", "y", "z"][pick(g, 3)].to_owned()),
            4 => Value::Array((0..pick(g, 3)).map(|_| gen_value(g, depth - 1)).collect()),
            _ => Value::Object(gen_map(g, depth - 1)),
        }
    }

    /// A random object; keys are inserted in random order.
    fn gen_map(g: &mut Gen, depth: u32) -> Map<String, Value> {
        let mut map = Map::new();
        for _ in 0..pick(g, 6) {
            let key = KEYS[pick(g, KEYS.len())];
            if !map.contains_key(key) {
                map.insert(key.to_owned(), gen_value(g, depth));
            }
        }
        map
    }

    /// A random edit of `base`.
    fn mutate(g: &mut Gen, base: &Map<String, Value>, depth: u32) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in base {
            match (pick(g, 8), value) {
                (0, _) => {}
                (1, _) => {
                    out.insert(key.clone(), gen_value(g, depth));
                }
                (2, Value::Object(inner)) if depth > 0 => {
                    out.insert(key.clone(), Value::Object(mutate(g, inner, depth - 1)));
                }
                (3, Value::Array(items)) if depth > 0 => {
                    let mut items = items.clone();
                    items.extend((0..1 + pick(g, 2)).map(|_| gen_value(g, depth - 1)));
                    out.insert(key.clone(), Value::Array(items));
                }
                _ => {
                    out.insert(key.clone(), value.clone());
                }
            }
        }
        if pick(g, 3) == 0 {
            let key = KEYS[pick(g, KEYS.len())];
            if !out.contains_key(key) {
                out.insert(key.to_owned(), gen_value(g, depth));
            }
        }
        if pick(g, 4) == 0 && !out.is_empty() {
            // Reorder: move the first key to the end.
            let first = out.keys().next().cloned();
            if let Some((k, v)) = first.and_then(|k| out.remove_entry(&k)) {
                out.insert(k, v);
            }
        }
        out
    }

    #[derive(Clone, Debug)]
    struct Obj(Map<String, Value>);

    impl Arbitrary for Obj {
        fn arbitrary(g: &mut Gen) -> Obj {
            Obj(gen_map(g, 2))
        }

        fn shrink(&self) -> Box<dyn Iterator<Item = Obj>> {
            let map = self.0.clone();
            Box::new(map.clone().into_iter().map(move |(k, _)| {
                let mut smaller = map.clone();
                smaller.shift_remove(&k);
                Obj(smaller)
            }))
        }
    }

    #[derive(Clone, Debug)]
    struct Triple {
        base: Map<String, Value>,
        ours: Map<String, Value>,
        theirs: Map<String, Value>,
    }

    impl Arbitrary for Triple {
        fn arbitrary(g: &mut Gen) -> Triple {
            let base = gen_map(g, 2);
            let ours = if pick(g, 5) == 0 { gen_map(g, 2) } else { mutate(g, &base, 2) };
            let theirs = mutate(g, &base, 2);
            Triple { base, ours, theirs }
        }
    }

    fn key_order(map: &Map<String, Value>) -> Vec<String> {
        map.keys().cloned().collect()
    }

    /// Sorts object keys and array items (by their printed form), so values that differ only
    /// in key order or item order become equal.
    fn normalize(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), normalize(v))).collect())
            }
            Value::Array(items) => {
                let mut items: Vec<Value> = items.iter().map(normalize).collect();
                items.sort_by_cached_key(Value::to_string);
                Value::Array(items)
            }
            other => other.clone(),
        }
    }

    quickcheck! {
        fn merge_with_theirs_unchanged_is_ours(b: Obj, x: Obj) -> bool {
            merge3(&b.0, &x.0, &b.0).is_ok_and(|m| m == x.0 && key_order(&m) == key_order(&x.0))
        }

        fn merge_with_ours_unchanged_is_theirs(b: Obj, x: Obj) -> bool {
            merge3(&b.0, &b.0, &x.0) == Ok(x.0)
        }

        fn merge_of_same_edit_is_that_edit(b: Obj, x: Obj) -> bool {
            merge3(&b.0, &x.0, &x.0).is_ok_and(|m| m == x.0 && key_order(&m) == key_order(&x.0))
        }

        fn edited_triples_with_unchanged_side(t: Triple) -> bool {
            merge3(&t.base, &t.ours, &t.base) == Ok(t.ours.clone())
                && merge3(&t.base, &t.base, &t.theirs) == Ok(t.theirs.clone())
        }

        fn merge_is_symmetric(t: Triple) -> bool {
            match (merge3(&t.base, &t.ours, &t.theirs), merge3(&t.base, &t.theirs, &t.ours)) {
                (Ok(a), Ok(b)) => {
                    let mut ka = key_order(&a);
                    let mut kb = key_order(&b);
                    ka.sort();
                    kb.sort();
                    ka == kb && normalize(&Value::Object(a)) == normalize(&Value::Object(b))
                }
                (Err(a), Err(b)) => {
                    a.len() == b.len()
                        && a.iter().zip(&b).all(|(x, y)| {
                            x.path == y.path && x.base == y.base && x.ours == y.theirs && x.theirs == y.ours
                        })
                }
                _ => false,
            }
        }

        fn clashes_are_sorted_and_distinct(t: Triple) -> bool {
            merge3(&t.base, &t.ours, &t.theirs)
                .err()
                .is_none_or(|c| !c.is_empty() && c.windows(2).all(|w| w[0].path < w[1].path))
        }

        fn diff_of_same_is_empty(a: Obj) -> bool {
            diff(&a.0, &a.0).is_empty()
        }

        fn diff_is_empty_exactly_when_equal(a: Obj, b: Obj) -> bool {
            diff(&a.0, &b.0).is_empty() == (a.0 == b.0)
        }

        fn diff_is_sorted_and_distinct(t: Triple) -> bool {
            diff(&t.base, &t.ours).windows(2).all(|w| w[0].0 < w[1].0)
        }
    }
}
