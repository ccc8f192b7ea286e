//! Data comes back exactly as written: random documents (doubles of every kind, integers
//! beyond 64 bits, any Unicode in strings and keys, nesting up to the parser's limit) go
//! through `put`/`get`, `import`, export and import (winners, and every leaf with its
//! history), a bundle and a store-to-store clone, and every copy holds the same values,
//! number text included, under the same revision ids.
//!
//! The documents are written with their numbers spelled in several ways; what must come
//! back is each number's canonical text, computed here without settee: an integer's own
//! digits, and for a double the text serde_json writes for that `f64`.

use quickcheck::{Arbitrary, Gen, QuickCheck};
use serde_json::{Map, Number, Value};
use settee::replicate::{replicate, Options};
use settee::store::{GetOptions, OpenRevs};
use settee::transport::bundle::BundleSource;
use settee::transport::local::LocalStore;
use settee::{Incoming, Seq};

use crate::*;

/// Containers a document may nest, its own object included: serde_json's parser (used for
/// input and for stored bodies alike) refuses the 128th level.
const MAX_DEPTH: usize = 127;

/// A JSON value as written (`text`) and as it must come back (`value`).
#[derive(Clone, Debug)]
struct Written {
    text: String,
    value: Value,
}

fn number(text: &str) -> Number {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// A double that is interesting to store: any bit pattern, or one near zero, the
/// subnormal/normal boundary, the largest doubles, or a power of ten.
fn double(g: &mut Gen) -> f64 {
    let f = match u8::arbitrary(g) % 6 {
        0 => f64::from_bits(u64::arbitrary(g)),
        1 => f64::from_bits(u64::from(u32::arbitrary(g)) % 0x10_0000), // subnormal or zero
        2 => f64::from_bits(0x0010_0000_0000_0000 + u64::from(u16::arbitrary(g)) - 0x8000),
        3 => f64::from_bits(0x7fef_ffff_ffff_ffff - u64::from(u16::arbitrary(g))),
        4 => 10f64.powi(i32::from(i8::arbitrary(g)) % 40) * f64::from(u8::arbitrary(g) % 10),
        _ => f64::from(i32::arbitrary(g)) / 1024.0,
    };
    let f = if bool::arbitrary(g) { -f } else { f };
    if f.is_finite() {
        f
    } else {
        -31.651909739158846
    }
}

/// A number: a double or an integer (of up to 60 digits), spelled one of several ways.
fn gen_number(g: &mut Gen) -> Written {
    if bool::arbitrary(g) {
        let f = double(g);
        let canonical = Number::from_f64(f).unwrap();
        let text = match u8::arbitrary(g) % 5 {
            0 => format!("{f:e}"),
            1 => format!("{f:E}"),
            // The exact decimal value, which must round to `f` itself.
            2 if f.abs() < 1e30 => format!("{f:.1074}"),
            _ => canonical.to_string(),
        };
        return Written { text, value: Value::Number(canonical) };
    }
    let len = 1 + usize::arbitrary(g) % 60;
    let mut digits: String = (0..len).map(|_| char::from(b'0' + u8::arbitrary(g) % 10)).collect();
    digits = digits.trim_start_matches('0').to_owned();
    if digits.is_empty() {
        // Zero; `-0` is the double negative zero.
        return if bool::arbitrary(g) {
            Written { text: "-0".into(), value: Value::Number(Number::from_f64(-0.0).unwrap()) }
        } else {
            Written { text: "0".into(), value: Value::Number(number("0")) }
        };
    }
    let text = if bool::arbitrary(g) { format!("-{digits}") } else { digits };
    Written { value: Value::Number(number(&text)), text }
}

/// A string of any Unicode, with the characters JSON escapes or that are easy to get wrong.
fn gen_string(g: &mut Gen) -> String {
    const TRICKY: &[&str] =
        &["\"", "\\", "\n", "\u{0}", "\u{1f}", "\u{7f}", "\u{2028}", "é", "\u{1F600}", "/"];
    let mut s = String::arbitrary(g);
    for _ in 0..u8::arbitrary(g) % 3 {
        s.push_str(TRICKY[usize::arbitrary(g) % TRICKY.len()]);
    }
    s
}

fn string(s: &str) -> Written {
    Written { text: serde_json::to_string(s).unwrap(), value: Value::String(s.to_owned()) }
}

fn object(members: Vec<(String, Written)>) -> Written {
    let mut text = String::from("{");
    let mut value = Map::new();
    for (key, member) in members {
        if value.contains_key(&key) {
            continue;
        }
        if text.len() > 1 {
            text.push(',');
        }
        text.push_str(&serde_json::to_string(&key).unwrap());
        text.push(':');
        text.push_str(&member.text);
        value.insert(key, member.value);
    }
    text.push('}');
    Written { text, value: Value::Object(value) }
}

fn array(items: Vec<Written>) -> Written {
    let text = format!("[{}]", items.iter().map(|i| i.text.as_str()).collect::<Vec<_>>().join(","));
    Written { text, value: Value::Array(items.into_iter().map(|i| i.value).collect()) }
}

/// A value nested in at most `depth` more containers.
fn gen_value(g: &mut Gen, depth: usize) -> Written {
    let kinds = if depth == 0 { 4 } else { 6 };
    match u8::arbitrary(g) % kinds {
        0 => Written { text: "null".into(), value: Value::Null },
        1 => {
            let b = bool::arbitrary(g);
            Written { text: b.to_string(), value: Value::Bool(b) }
        }
        2 => gen_number(g),
        3 => string(&gen_string(g)),
        4 => array((0..usize::arbitrary(g) % 4).map(|_| gen_value(g, depth - 1)).collect()),
        _ => object((0..usize::arbitrary(g) % 4).map(|_| (gen_string(g), gen_value(g, depth - 1))).collect()),
    }
}

/// A chain of `levels` containers around a small value.
fn nested(g: &mut Gen, levels: usize) -> Written {
    let mut inner = gen_number(g);
    for level in 0..levels {
        inner = if level % 2 == 0 { array(vec![inner]) } else { object(vec![(gen_string(g), inner)]) };
    }
    inner
}

/// A document's body: top-level keys never start with `_` (those are CouchDB's members).
#[derive(Clone, Debug)]
struct Doc {
    members: Vec<(String, Written)>,
}

impl Arbitrary for Doc {
    fn arbitrary(g: &mut Gen) -> Doc {
        let mut members: Vec<(String, Written)> =
            (0..usize::arbitrary(g) % 8).map(|_| (format!("k{}", gen_string(g)), gen_value(g, 3))).collect();
        if u8::arbitrary(g) % 4 == 0 {
            // Deep nesting, up to the limit: the body's object is the first level.
            let levels = 1 + usize::arbitrary(g) % (MAX_DEPTH - 1);
            members.push(("deep".into(), nested(g, levels)));
        }
        Doc { members }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Doc>> {
        let members = self.members.clone();
        Box::new((0..members.len()).map(move |i| {
            let mut fewer = members.clone();
            fewer.remove(i);
            Doc { members: fewer }
        }))
    }
}

impl Doc {
    /// The document's line: `_id` first, then the members as written.
    fn line(&self, id: &str) -> String {
        let mut members = vec![("_id".to_string(), string(id))];
        members.extend(self.members.iter().cloned());
        object(members).text
    }

    /// What the body must read back as.
    fn expected(&self) -> Map<String, Value> {
        match object(self.members.clone()).value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }
}

/// Every live document's winner: revision and body.
fn winners(store: &Store) -> Vec<(String, String, Map<String, Value>)> {
    store
        .docs(None, None)
        .map(|d| {
            let (id, _) = d.unwrap();
            let (rev, body) = store.get_winner(&id).unwrap().unwrap();
            (id.to_string(), rev.to_string(), body)
        })
        .collect()
}

/// Load NDJSON `text` into `store` through the import pipeline.
fn import(store: &mut Store, text: String, replicated: bool) {
    let options = settee::import::Options { replicated, chunk_lines: 3, workers: 2, ..Default::default() };
    let input: Box<dyn std::io::Read + Send> = Box::new(std::io::Cursor::new(text.into_bytes()));
    for chunk in settee::import::parse_lines(input, &options, |_| {}) {
        let ops =
            chunk.unwrap().lines.into_iter().map(|(n, op)| op.unwrap_or_else(|e| panic!("line {n}: {e}")));
        for result in store.write(ops.collect()).unwrap() {
            result.unwrap();
        }
    }
}

fn round_trip(bodies: Vec<Doc>) -> bool {
    let mut a = TestStore::new();
    // put: each line parsed as `settee put` parses it.
    let mut expected = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let doc_id = format!("d{i:03}");
        let doc = Incoming::from_slice(body.line(&doc_id).as_bytes(), &doc_id).unwrap();
        let op =
            Op::Edit { id: id(&doc_id), base: None, deleted: false, body: settee::Body::from_map(&doc.body) };
        let rev = a.store.write(vec![op]).unwrap().remove(0).unwrap().rev;
        expected.push((doc_id, rev.to_string(), body.expected()));
    }
    // get
    assert_eq!(winners(&a.store), expected, "get");

    // import of the lines as written (`settee import`): the same revisions as `put`
    let written: String =
        bodies.iter().enumerate().map(|(i, b)| b.line(&format!("d{i:03}")) + "\n").collect();
    let mut loaded = TestStore::new();
    import(&mut loaded.store, written, false);
    assert_eq!(winners(&loaded.store), expected, "import");

    // export (winners, as `settee export` writes them) and import (with `--no-new-edits`,
    // which keeps their revisions)
    let mut lines = String::new();
    for d in a.store.docs(None, None) {
        let (doc_id, doc) = d.unwrap();
        let mut out = Vec::new();
        assert!(a.store.write_winner_json(&doc_id, &doc, &mut out).unwrap());
        lines.push_str(std::str::from_utf8(&out).unwrap());
        lines.push('\n');
    }
    let mut imported = TestStore::new();
    import(&mut imported.store, lines, true);
    assert_eq!(winners(&imported.store), expected, "export and import");

    // export of every leaf with its history (`--all-leaves`), imported as replicated
    let all = GetOptions { open_revs: Some(OpenRevs::All), revs: true, ..GetOptions::default() };
    let mut lines = String::new();
    for d in a.store.docs(None, None) {
        let (doc_id, _) = d.unwrap();
        let Value::Array(leaves) = a.store.get(&doc_id, &all).unwrap() else { panic!("open_revs") };
        for leaf in leaves {
            lines.push_str(&serde_json::to_string(&leaf["ok"]).unwrap());
            lines.push('\n');
        }
    }
    let mut replicated = TestStore::new();
    import(&mut replicated.store, lines, true);
    assert_eq!(winners(&replicated.store), expected, "export --all-leaves and import --no-new-edits");

    // a bundle, fetched into an empty store
    let path = a.dir.path().join("all.bundle");
    settee::bundle::create(&a.store, &path, Seq(0)).unwrap();
    let mut from_bundle = TestStore::new();
    let mut source = BundleSource::new(settee::bundle::Bundle::open(&path).unwrap());
    replicate(&mut source, &mut LocalStore::new(&mut from_bundle.store), &Options::default(), &mut ())
        .unwrap();
    assert_eq!(winners(&from_bundle.store), expected, "bundle");

    // a clone of the store, reopened from disk
    let mut clone = TestStore::new();
    replicate(
        &mut LocalStore::new(&mut a.store),
        &mut LocalStore::new(&mut clone.store),
        &Options::default(),
        &mut (),
    )
    .unwrap();
    clone.reopen();
    assert_eq!(winners(&clone.store), expected, "clone");
    true
}

#[test]
fn random_documents_come_back_exactly_as_written() {
    // SETTEE_NUMBER_CASES raises the number of cases for a longer hunt.
    let cases = std::env::var("SETTEE_NUMBER_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(40);
    QuickCheck::new().tests(cases).max_tests(cases * 10).quickcheck(round_trip as fn(Vec<Doc>) -> bool);
}

/// The two reports that started this: a decimal the old parser misrounded and an integer
/// beyond 64 bits, with a document nested to the limit, through every path.
#[test]
fn the_reported_numbers_and_the_deepest_document_round_trip() {
    let mut g = Gen::new(10);
    let lat =
        Written { text: "-31.651909739158846".into(), value: Value::Number(number("-31.651909739158846")) };
    let big = Written {
        text: "12345678901234567890123".into(),
        value: Value::Number(number("12345678901234567890123")),
    };
    let deep = nested(&mut g, MAX_DEPTH - 1);
    assert!(round_trip(vec![
        Doc { members: vec![("lat".into(), lat)] },
        Doc { members: vec![("n".into(), big)] },
        Doc { members: vec![("deep".into(), deep)] },
    ]));
    // One level more is refused on the way in, with the document named.
    let deeper = Doc { members: vec![("deep".into(), nested(&mut g, MAX_DEPTH))] };
    let err = Incoming::from_slice(deeper.line("x").as_bytes(), "x").unwrap_err();
    assert!(err.to_string().contains("invalid document x"), "{err}");
}
