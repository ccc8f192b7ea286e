//! Numbers come back exactly as written: `put` then `get` (pretty and `--json`), `export`
//! and `import`, for the numbers issue 12 reported; other spellings of a number come back
//! in its canonical form, with the revision ids settee gave them before numbers were kept
//! exactly; a number beyond the doubles is a one-line error that writes nothing.

use crate::{assert_text, TestEnv, ERROR, NOT_FOUND};

/// Canonical numbers as users write them, each printed back exactly.
const EXACT: &[&str] = &[
    "-31.651909739158846",
    "12345678901234567890123",
    "-98765432109876543210987654321",
    "18446744073709551616",
    "0.30000000000000004",
    "1.7976931348623157e+308",
    "5e-324",
    "1e+22",
    "100000.0",
    "-0.0",
];

#[test]
fn put_then_get_prints_each_number_as_written() {
    let env = TestEnv::new();
    for (i, number) in EXACT.iter().enumerate() {
        let id = format!("n{i}");
        let rev = env.put(&id, &format!(r#"{{"lat":{number}}}"#));
        assert_text!(
            env.settee(["get", &id]).ok(),
            format!("{{\n  \"_id\": \"{id}\",\n  \"_rev\": \"{rev}\",\n  \"lat\": {number}\n}}\n")
        );
        assert_text!(
            env.settee(["get", "--json", &id]).ok(),
            format!("{{\"_id\":\"{id}\",\"_rev\":\"{rev}\",\"lat\":{number}}}\n")
        );
    }
}

#[test]
fn export_and_import_keep_every_number() {
    let env = TestEnv::new();
    let body = format!(
        "{{{}}}",
        EXACT.iter().enumerate().map(|(i, n)| format!("\"f{i}\":{n}")).collect::<Vec<_>>().join(",")
    );
    let rev = env.put("a", &body);
    let exported = env.settee(["export"]).ok().to_string();
    assert_text!(exported, format!("{{\"_id\":\"a\",\"_rev\":\"{rev}\",{}\n", &body[1..]));
    // Imported elsewhere, as written (a new edit: the same revision id) and as exported.
    let other = TestEnv::new();
    other.write_file("in.ndjson", &format!("{{\"_id\":\"b\",{}\n", &body[1..]));
    other.settee(["import", "in.ndjson"]).ok();
    assert_text!(
        other.settee(["get", "--json", "b"]).ok(),
        format!("{{\"_id\":\"b\",\"_rev\":\"{rev}\",{}\n", &body[1..])
    );
    other.write_file("out.ndjson", &exported);
    other.settee(["import", "--no-new-edits", "out.ndjson"]).ok();
    assert_text!(other.settee(["get", "--json", "a"]).ok(), exported);
}

/// Other spellings become the canonical text, and documents get the revision ids the
/// settee before this change gave them (commit 8b05d92).
#[test]
fn other_spellings_come_back_canonical_with_their_old_revision_ids() {
    let env = TestEnv::new();
    let rev = env.put("a", r#"{"a":1E5,"b":-0,"c":1.50,"d":1e22,"e":0.000001}"#);
    assert_eq!(rev, "1-4288fa7c31bf5cdb497cd97b7d2945aa");
    assert_text!(
        env.settee(["get", "--json", "a"]).ok(),
        format!("{{\"_id\":\"a\",\"_rev\":\"{rev}\",\"a\":100000.0,\"b\":-0.0,\"c\":1.5,\"d\":1e+22,\"e\":1e-6}}\n")
    );
    let pinned = r#"{"int":42,"neg":-7,"u64max":18446744073709551615,"i64min":-9223372036854775808,"half":1.5,"big":1e+22,"tiny":1e-7,"zero":0.0,"negzero":-0.0,"pi":3.141592653589793,"fixed":100000.0,"sub":5e-324,"max":1.7976931348623157e+308,"list":[0,1,-2.5,0.1,{"x":123456789.125}]}"#;
    assert_eq!(env.put("pinned", pinned), "1-f6e6329b7fad7cb7c5a75a0e84a381b4");
}

#[test]
fn a_number_beyond_the_doubles_is_refused_and_nothing_is_written() {
    let env = TestEnv::new();
    let msg = env.settee_stdin(["put", "x"], r#"{"ok":1,"far":[-1e400]}"#).fails(ERROR);
    assert_eq!(
        msg,
        "invalid document x: number -1e+400 is out of range (beyond ±1.7976931348623157e+308, the largest double)"
    );
    env.settee(["get", "x"]).fails(NOT_FOUND);
    // In an import, the line is named and the others are written.
    env.write_file(
        "in.ndjson",
        "{\"_id\":\"a\",\"n\":1}\n{\"_id\":\"b\",\"n\":1e400}\n{\"_id\":\"c\",\"n\":2}\n",
    );
    let out = env.settee(["import", "in.ndjson"]);
    assert_eq!(out.code, ERROR);
    assert!(out.stderr.contains("error: line 2: number 1e+400 is out of range"), "{}", out.stderr);
    env.settee(["get", "a"]).ok();
    env.settee(["get", "c"]).ok();
    env.settee(["get", "b"]).fails(NOT_FOUND);
}
