//! Each endpoint's statuses and bodies, as CouchDB gives them.

use serde_json::{json, Value};

use super::{call, delete, get, post, put, Server};
use crate::TestEnv;

fn rev_of(v: &Value) -> String {
    v["rev"].as_str().unwrap_or_else(|| panic!("no rev in {v}")).to_string()
}

#[test]
fn server_endpoints_welcome_list_and_identify() {
    let env = TestEnv::new();
    env.put("here", r#"{"in":"the current directory's store"}"#);
    let server = Server::start(&env, &[]);
    let welcome = get(&server.url("/")).expect(200);
    assert_eq!(welcome["couchdb"], "Welcome");
    assert_eq!(welcome["vendor"]["name"], "settee");
    assert_eq!(welcome["version"], env!("CARGO_PKG_VERSION"));
    // With no argument, the store of the current directory, under the name the server
    // gives it (asked, not recomputed here).
    let all = get(&server.url("/_all_dbs")).expect(200);
    let [name] = all.as_array().map(Vec::as_slice).unwrap_or_default() else { panic!("one database: {all}") };
    let name = name.as_str().expect("a name");
    assert!(name.starts_with(|c: char| c.is_ascii_lowercase()), "{name}");
    assert_eq!(get(&server.url(&format!("/{name}/here"))).expect(200)["in"], "the current directory's store");
    let uuids = get(&server.url("/_uuids?count=3")).expect(200);
    let uuids = uuids["uuids"].as_array().expect("uuids");
    assert_eq!(uuids.len(), 3);
    assert!(uuids.iter().all(|u| u.as_str().is_some_and(|u| u.len() == 32)));
    assert_ne!(uuids[0], uuids[1]);
    get(&server.url("/_uuids?count=5000")).error(400, "bad_request");
    let session = get(&server.url("/_session")).expect(200);
    assert_eq!(session["ok"], true);
    assert_eq!(session["userCtx"]["roles"], json!(["_admin"]));
    get(&server.url("/_nope")).error(400, "bad_request");
    call("POST", &server.url("/"), Some("{}"), &[]).error(405, "method_not_allowed");
    assert_eq!(server.stop(), 0);
}

#[test]
fn databases_are_created_and_deleted_only_in_the_data_directory() {
    let env = TestEnv::new();
    let data = env.path().join("data");
    let server =
        Server::start(&env, &["--data-dir", data.to_str().expect("utf-8"), "--allow-delete", "main=."]);
    let info = get(&server.url("/main")).expect(200);
    assert_eq!(info["db_name"], "main");
    assert_eq!((info["doc_count"].as_u64(), info["update_seq"].as_u64()), (Some(0), Some(0)));
    assert!(info["instance_start_time"].is_string());

    put(&server.url("/cards"), "").expect(201);
    assert!(data.join("cards/.settee").is_dir());
    put(&server.url("/cards"), "").error(412, "file_exists");
    put(&server.url("/main"), "").error(412, "file_exists");
    for bad in ["/Cards", "/1x", "/a.b", "/%2E%2E", "/a%2Fb"] {
        put(&server.url(bad), "").error(400, "illegal_database_name");
    }
    assert_eq!(get(&server.url("/_all_dbs")).expect(200), json!(["cards", "main"]));
    put(&server.url("/cards/x"), r#"{"a":1}"#).expect(201);
    assert_eq!(get(&server.url("/cards")).expect(200)["doc_count"], 1);
    get(&server.url("/nosuch")).error(404, "not_found");
    get(&server.url("/nosuch/doc")).error(404, "not_found");

    delete(&server.url("/main")).error(403, "forbidden");
    delete(&server.url("/cards")).expect(200);
    assert!(!data.join("cards").exists());
    get(&server.url("/cards")).error(404, "not_found");
    assert_eq!(server.stop(), 0);

    // Without --data-dir nothing is created; without --allow-delete nothing removed.
    let server = Server::start(&env, &["main=."]);
    put(&server.url("/other"), "").error(403, "forbidden");
    delete(&server.url("/main")).error(403, "forbidden");
    assert_eq!(server.stop(), 0);
}

#[test]
fn documents_are_written_read_and_deleted_with_couchdb_statuses() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let doc = |path: &str| server.url(&format!("/db/{path}"));

    let created = put(&doc("a"), r#"{"n":1}"#).expect(201);
    assert_eq!((created["ok"].as_bool(), created["id"].as_str()), (Some(true), Some("a")));
    let rev1 = rev_of(&created);
    let got = get(&doc("a"));
    assert_eq!(got.etag.as_deref(), Some(format!("\"{rev1}\"").as_str()));
    assert_eq!(got.json(), json!({"_id": "a", "_rev": rev1, "n": 1}));
    // The CLI reads what HTTP wrote, and the other way round.
    assert_eq!(env.get_json(&["a"])["n"], 1);

    put(&doc("a"), r#"{"n":2}"#).error(409, "conflict");
    put(&doc("a"), r#"{"_rev":"1-0123456789abcdef0123456789abcdef","n":2}"#).error(409, "conflict");
    let rev2 = rev_of(&put(&doc(&format!("a?rev={rev1}")), r#"{"n":2}"#).expect(201));
    put(&doc(&format!("a?rev={rev1}")), &format!(r#"{{"_rev":"{rev2}","n":3}}"#)).error(400, "bad_request");
    let rev3 = rev_of(
        &call("PUT", &doc("a"), Some(r#"{"n":3}"#), &[("if-match", &format!("\"{rev2}\""))]).expect(201),
    );
    assert_eq!(get(&doc(&format!("a?rev={rev1}"))).expect(200)["n"], 1);
    let with_history = get(&doc("a?revs=true&revs_info=true")).expect(200);
    assert_eq!(with_history["_revisions"]["start"], 3);
    assert_eq!(with_history["_revisions"]["ids"].as_array().map(Vec::len), Some(3));
    assert_eq!(with_history["_revs_info"][0], json!({"rev": rev3, "status": "available"}));
    assert_eq!(get(&doc(&format!("a?rev={rev1}&latest=true"))).expect(200)["_rev"], rev3.as_str());

    // A conflict made by replicated writes, then read with its options.
    put(&doc("c?new_edits=false"), r#"{"_rev":"1-aaaa","v":"a"}"#).expect(201);
    put(&doc("c?new_edits=false"), r#"{"_revisions":{"start":2,"ids":["bbbb","aaaa"]},"v":"b"}"#).expect(201);
    put(
        &doc("c?new_edits=false"),
        r#"{"_revisions":{"start":2,"ids":["cccc","aaaa"]},"v":"c","_deleted":true}"#,
    )
    .expect(201);
    put(&doc("c?new_edits=false"), r#"{"_revisions":{"start":2,"ids":["0000","aaaa"]},"v":"0"}"#).expect(201);
    let c = get(&doc("c?conflicts=true&deleted_conflicts=true")).expect(200);
    assert_eq!((c["_rev"].as_str(), c["v"].as_str()), (Some("2-bbbb"), Some("b")));
    assert_eq!(c["_conflicts"], json!(["2-0000"]));
    assert_eq!(c["_deleted_conflicts"], json!(["2-cccc"]));
    let meta = get(&doc("c?meta=true")).expect(200);
    assert!(meta["_revs_info"].is_array() && meta["_conflicts"].is_array());
    let all = get(&doc("c?open_revs=all")).expect(200);
    let mut revs: Vec<&str> =
        all.as_array().expect("array").iter().filter_map(|r| r["ok"]["_rev"].as_str()).collect();
    revs.sort_unstable();
    assert_eq!(revs, ["2-0000", "2-bbbb", "2-cccc"]);
    let some = get(&doc(r#"c?open_revs=["2-bbbb","9-zzzz"]&revs=true"#)).expect(200);
    assert_eq!(some[0]["ok"]["_revisions"], json!({"start": 2, "ids": ["bbbb", "aaaa"]}));
    assert_eq!(some[1], json!({"missing": "9-zzzz"}));
    get(&doc("c?open_revs=nonsense")).error(400, "bad_request");

    // Deletion: a revision is needed, and the deleted document reads as CouchDB's 404.
    delete(&doc("a")).error(409, "conflict");
    delete(&doc("nosuch?rev=1-abc")).error(404, "not_found");
    let gone = call("DELETE", &doc(&format!("a?rev={rev3}")), None, &[]).expect(200);
    assert_eq!(gone["ok"], true);
    let reason = get(&doc("a")).error(404, "not_found");
    assert_eq!(reason, "deleted");
    assert_eq!(get(&doc("nosuch")).error(404, "not_found"), "missing");
    let tomb = get(&doc(&format!("a?rev={}", rev_of(&gone)))).expect(200);
    assert_eq!(tomb["_deleted"], true);
    // A deleted document is written again without a revision.
    put(&doc("a"), r#"{"back":true}"#).expect(201);

    // POST /db: the body's _id, or a new one.
    let posted = post(&server.url("/db"), r#"{"p":1}"#).expect(201);
    assert_eq!(posted["id"].as_str().map(str::len), Some(32));
    assert_eq!(post(&server.url("/db"), r#"{"_id":"named","p":2}"#).expect(201)["id"], "named");
    // Ids: %2F is part of an id; design documents are documents.
    put(&doc("a%2Fb"), "{}").expect(201);
    assert_eq!(get(&doc("a%2Fb")).expect(200)["_id"], "a/b");
    put(&doc("_design/app"), r#"{"views":{}}"#).expect(201);
    assert_eq!(get(&doc("_design%2Fapp")).expect(200)["_id"], "_design/app");
    assert_eq!(env.get_json(&["_design/app"])["views"], json!({}));

    // Bad requests.
    put(&doc("b"), "{not json").error(400, "bad_request");
    put(&doc("b"), "[1,2]").error(400, "bad_request");
    put(&doc("b"), r#"{"_rev":"bad-"}"#).error(400, "bad_request");
    put(&doc("b"), r#"{"_foo":1}"#).error(400, "bad_request");
    get(&doc("b?rev=nonsense")).error(400, "bad_request");
    get(&doc("b?revs=maybe")).error(400, "bad_request");
    put(&doc("_other"), "{}").error(400, "bad_request");
    put(&doc("%01ctl"), "{}").error(400, "bad_request");
    put(&doc("b"), r#"{"_attachments":{"f.txt":{"data":"not base64!","content_type":"text/plain"}}}"#)
        .error(400, "bad_request");
    put(&doc("b"), r#"{"_attachments":{"f.txt":{"content_type":"text/plain"}}}"#).error(400, "bad_request");
    get(&doc("a/file.txt")).error(404, "not_found");
    call("PATCH", &doc("a"), Some("{}"), &[]).error(405, "method_not_allowed");
    post(&server.url("/db"), "{}").expect(201);
    call("POST", &server.url("/db"), Some("{}"), &[("content-type", "text/plain")])
        .error(415, "bad_content_type");
    get(&doc("b")).error(404, "not_found");
    assert_eq!(server.stop(), 0);
    env.settee(["fsck"]).succeeded();
}

#[test]
fn bulk_docs_bulk_get_and_revs_diff() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let url = |p: &str| server.url(&format!("/db/{p}"));

    let rows =
        post(&url("_bulk_docs"), r#"{"docs":[{"_id":"a","n":1},{"_id":"b","n":2},{"n":3},{"_id":"_bad"}]}"#)
            .expect(201);
    let rows = rows.as_array().expect("array").clone();
    assert_eq!(rows.len(), 4);
    assert_eq!((rows[0]["ok"].as_bool(), rows[0]["id"].as_str()), (Some(true), Some("a")));
    assert_eq!(rows[2]["id"].as_str().map(str::len), Some(32));
    assert_eq!(rows[3]["error"], "bad_request");
    let rev_a = rev_of(&rows[0]);
    let again = post(
        &url("_bulk_docs"),
        &format!(r#"{{"docs":[{{"_id":"a","n":9}},{{"_id":"a","_rev":"{rev_a}","n":10}},{{"_id":"b","_deleted":true}}]}}"#),
    )
    .expect(201);
    assert_eq!(again[0]["error"], "conflict");
    assert_eq!(again[0]["reason"], "Document update conflict.");
    assert_eq!(again[1]["ok"], true);
    assert_eq!(again[2]["error"], "conflict");

    // new_edits=false: histories merged as given, nothing but refusals returned.
    let replicated = post(
        &url("_bulk_docs"),
        r#"{"new_edits":false,"docs":[
            {"_id":"r","_rev":"3-cc","_revisions":{"start":3,"ids":["cc","bb","aa"]},"v":3},
            {"_id":"r","_rev":"2-xx","_revisions":{"start":2,"ids":["xx","aa"]},"v":2},
            {"_id":"s","_rev":"1-s1","_deleted":true},
            {"_id":"t"}
        ]}"#,
    )
    .expect(201);
    let replicated = replicated.as_array().expect("array").clone();
    assert_eq!(replicated.len(), 1, "{replicated:?}");
    assert_eq!(replicated[0]["id"], "t");
    let leaves = get(&url("r?open_revs=all&revs=true")).expect(200);
    assert_eq!(leaves.as_array().map(Vec::len), Some(2));
    post(&url("_bulk_docs"), r#"{"docs":{}}"#).error(400, "bad_request");
    post(&url("_bulk_docs"), r#"{"docs":[],"new_edits":"no"}"#).error(400, "bad_request");
    call("GET", &url("_bulk_docs"), None, &[]).error(405, "method_not_allowed");

    let got = post(
        &url("_bulk_get?revs=true&latest=true"),
        r#"{"docs":[{"id":"r","rev":"2-xx"},{"id":"r","rev":"1-aa"},{"id":"a"},{"id":"nope"},{"id":"r","rev":"9-zz"}]}"#,
    )
    .expect(200);
    let results = got["results"].as_array().expect("results");
    assert_eq!(results.len(), 5);
    assert_eq!(results[0]["docs"][0]["ok"]["_revisions"], json!({"start": 2, "ids": ["xx", "aa"]}));
    // latest=true: an inner revision gives the leaves below it.
    assert_eq!(results[1]["docs"].as_array().map(Vec::len), Some(2));
    assert_eq!(results[2]["docs"][0]["ok"]["n"], 10);
    assert_eq!(results[3]["docs"][0]["error"]["error"], "not_found");
    assert_eq!(results[4]["docs"][0]["error"]["rev"], "9-zz");
    let plain = post(&url("_bulk_get"), r#"{"docs":[{"id":"r","rev":"3-cc"}]}"#).expect(200);
    assert!(plain["results"][0]["docs"][0]["ok"].get("_revisions").is_none());
    post(&url("_bulk_get"), r#"{"nodocs":1}"#).error(400, "bad_request");

    let diff = post(&url("_revs_diff"), r#"{"r":["3-cc","4-dd","2-yy"],"new":["1-n"]}"#).expect(200);
    assert_eq!(diff["r"]["missing"], json!(["4-dd", "2-yy"]));
    assert_eq!(diff["new"], json!({"missing": ["1-n"]}));
    assert!(diff["r"]["possible_ancestors"].as_array().is_some_and(|a| a.contains(&json!("3-cc"))));
    assert_eq!(post(&url("_revs_diff"), r#"{"r":["3-cc"]}"#).expect(200), json!({}));
    post(&url("_revs_diff"), r#"{"r":["junk"]}"#).error(400, "bad_request");
    post(&url("_revs_diff"), r#"{"r":"3-cc"}"#).error(400, "bad_request");
    assert_eq!(server.stop(), 0);
}

#[test]
fn all_docs_takes_couchdb_options() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let url = |p: &str| server.url(&format!("/db/{p}"));
    let docs: Vec<Value> = (0..30).map(|i| json!({"_id": format!("d{i:02}"), "i": i})).collect();
    post(&url("_bulk_docs"), &json!({ "docs": docs }).to_string()).expect(201);
    let d05 = get(&url("d05")).expect(200);
    delete(&url(&format!("d05?rev={}", d05["_rev"].as_str().expect("rev")))).expect(200);
    put(&url("d07?new_edits=false"), r#"{"_rev":"9-ffff","i":"other"}"#).expect(201);

    let ids = |v: &Value| -> Vec<String> {
        v["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["id"].as_str().unwrap_or("-").to_string())
            .collect()
    };
    let all = get(&url("_all_docs")).expect(200);
    assert_eq!(all["total_rows"], 29);
    assert_eq!(ids(&all).len(), 29);
    assert!(all["rows"][0].get("doc").is_none());
    let page = get(&url(r#"_all_docs?startkey="d03"&endkey="d08"&include_docs=true"#)).expect(200);
    assert_eq!(ids(&page), ["d03", "d04", "d06", "d07", "d08"]);
    assert_eq!(page["rows"][0]["doc"]["i"], 3);
    assert_eq!(page["rows"][0]["value"]["rev"], page["rows"][0]["doc"]["_rev"]);
    let excl = get(&url(r#"_all_docs?start_key="d03"&end_key="d06"&inclusive_end=false"#)).expect(200);
    assert_eq!(ids(&excl), ["d03", "d04"]);
    assert_eq!(ids(&get(&url("_all_docs?limit=3&skip=2")).expect(200)), ["d02", "d03", "d04"]);
    assert_eq!(ids(&get(&url("_all_docs?descending=true&limit=2")).expect(200)), ["d29", "d28"]);
    let desc = get(&url(r#"_all_docs?descending=true&startkey="d08"&endkey="d03"&skip=1"#)).expect(200);
    assert_eq!(ids(&desc), ["d07", "d06", "d04", "d03"]);
    assert_eq!(ids(&get(&url(r#"_all_docs?key="d09""#)).expect(200)), ["d09"]);
    let conflicts = get(&url(r#"_all_docs?key="d07"&include_docs=true&conflicts=true"#)).expect(200);
    assert_eq!(conflicts["rows"][0]["doc"]["_rev"], "9-ffff");
    assert!(conflicts["rows"][0]["doc"]["_conflicts"].is_array());
    let keys = get(&url(r#"_all_docs?keys=["d09","zz","d05"]&include_docs=true"#)).expect(200);
    assert_eq!(keys["rows"][0]["doc"]["i"], 9);
    assert_eq!(keys["rows"][1], json!({"key": "zz", "error": "not_found"}));
    assert_eq!(keys["rows"][2]["value"]["deleted"], true);
    assert_eq!(keys["rows"][2]["doc"], Value::Null);
    let posted = post(&url("_all_docs"), r#"{"keys":["d01","d02"]}"#).expect(200);
    assert_eq!(ids(&posted), ["d01", "d02"]);
    assert_eq!(get(&url("_all_docs?update_seq=true")).expect(200)["update_seq"], 32);
    get(&url("_all_docs?startkey=d03")).error(400, "bad_request");
    get(&url("_all_docs?limit=-1")).error(400, "bad_request");
    post(&url("_all_docs"), r#"{"keys":"d01"}"#).error(400, "bad_request");
    assert_eq!(server.stop(), 0);
}

#[test]
fn local_documents_and_maintenance_endpoints() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let url = |p: &str| server.url(&format!("/db/{p}"));
    get(&url("_local/cp")).error(404, "not_found");
    let w = put(&url("_local/cp"), r#"{"last_seq":5}"#).expect(201);
    assert_eq!((w["id"].as_str(), w["rev"].as_str()), (Some("_local/cp"), Some("0-1")));
    assert_eq!(put(&url("_local%2Fcp"), r#"{"last_seq":6,"_rev":"0-1"}"#).expect(201)["rev"], "0-2");
    assert_eq!(get(&url("_local/cp")).expect(200), json!({"_id": "_local/cp", "_rev": "0-2", "last_seq": 6}));
    assert!(env.settee(["local", "get", "cp"]).succeeded().contains("6"));
    // _local documents are not in _all_docs or _changes.
    assert_eq!(get(&url("_all_docs")).expect(200)["total_rows"], 0);
    assert_eq!(get(&url("_changes")).expect(200)["results"], json!([]));
    delete(&url("_local/cp")).expect(200);
    delete(&url("_local/cp")).error(404, "not_found");
    put(&url("_local/cp"), "[]").error(400, "bad_request");

    assert_eq!(post(&url("_ensure_full_commit"), "").expect(201)["ok"], true);
    assert_eq!(post(&url("_compact"), "").expect(202), json!({"ok": true}));
    assert_eq!(get(&url("_security")).expect(200), json!({}));
    assert_eq!(get(&url("_revs_limit")).expect(200), json!(1000));
    post(&url("_find"), "{}").error(501, "not_implemented");
    assert_eq!(server.stop(), 0);
}

#[test]
fn design_document_code_is_a_404_or_a_501_never_a_crash() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let url = |p: &str| server.url(&format!("/db/{p}"));
    put(
        &url("_design/app"),
        r#"{"views":{"v":{"map":"function(d){emit(d._id)}"}},"filters":{"f":"function(){return true}"},"shows":{"s":"x"}}"#,
    )
    .expect(201);
    get(&url("_design/app/_view/v")).error(501, "not_implemented");
    get(&url("_design/app/_view/missing")).error(404, "not_found");
    get(&url("_design/nope/_view/v")).error(404, "not_found");
    get(&url("_design/app/_show/s")).error(501, "not_implemented");
    post(&url("_design/app/_update/u"), "{}").error(404, "not_found");
    get(&url("_design/app/_list/l/v")).error(404, "not_found");
    get(&url("_design/app/_info")).error(501, "not_implemented");
    get(&url("_changes?filter=app/f")).error(501, "not_implemented");
    get(&url("_changes?filter=app/g")).error(404, "not_found");
    get(&url("_changes?filter=nope/f")).error(404, "not_found");
    get(&url("_changes?filter=_view&view=app/v")).error(501, "not_implemented");
    get(&url("_changes?filter=bogus")).error(400, "bad_request");
    // Still serving.
    assert_eq!(get(&url("_design/app")).expect(200)["filters"]["f"], "function(){return true}");
    assert_eq!(server.stop(), 0);
}

#[test]
fn many_clients_at_once_write_and_read_consistently() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let base = server.url("/db");
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let base = base.clone();
            std::thread::spawn(move || {
                for i in 0..40 {
                    let id = format!("t{t}-{i}");
                    let w = put(&format!("{base}/{id}"), &format!(r#"{{"t":{t},"i":{i}}}"#)).expect(201);
                    let r = get(&format!("{base}/{id}")).expect(200);
                    assert_eq!(r["_rev"], w["rev"], "a client reads its own write");
                }
                let rows: Vec<Value> = (0..25).map(|i| json!({"_id": format!("bulk{t}-{i}")})).collect();
                let out =
                    post(&format!("{base}/_bulk_docs"), &json!({ "docs": rows }).to_string()).expect(201);
                assert!(out.as_array().is_some_and(|a| a.iter().all(|r| r["ok"] == true)));
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a client thread");
    }
    let info = get(&base).expect(200);
    assert_eq!(info["doc_count"], 8 * 65);
    assert_eq!(info["update_seq"], 8 * 65);
    assert_eq!(
        get(&format!("{base}/_changes")).expect(200)["results"].as_array().map(Vec::len),
        Some(8 * 65)
    );
    assert_eq!(server.stop(), 0);
    assert_eq!(env.settee(["--json", "stats"]).json()["documents"], 8 * 65);
    env.settee(["fsck"]).succeeded();
}

#[test]
fn cors_answers_preflights_and_head_reads_like_get() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=.", "--cors", "http://app.example"]);
    let origin = ("origin", "http://app.example");
    let pre = call(
        "OPTIONS",
        &server.url("/db/x"),
        None,
        &[
            origin,
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "content-type"),
        ],
    );
    assert_eq!(pre.status, 200, "{pre:?}");
    assert_eq!(pre.header("access-control-allow-origin"), Some("http://app.example"));
    assert!(pre.header("access-control-allow-methods").is_some_and(|m| m.contains("PUT")));
    let written = call("PUT", &server.url("/db/x"), Some("{}"), &[origin]);
    assert_eq!(written.status, 201);
    assert_eq!(written.header("access-control-allow-origin"), Some("http://app.example"));
    let other = call("GET", &server.url("/db/x"), None, &[("origin", "http://evil.example")]);
    assert_eq!(other.header("access-control-allow-origin"), None);
    let head = call("HEAD", &server.url("/db/x"), None, &[]);
    assert_eq!((head.status, head.body.as_str()), (200, ""));
    assert_eq!(head.etag, written.etag);
    assert_eq!(call("HEAD", &server.url("/db/nope"), None, &[]).status, 404);
    assert_eq!(server.stop(), 0);
    // Without --cors there are no CORS headers.
    let plain = Server::start(&env, &["db=."]);
    assert_eq!(call("GET", &plain.url("/db/x"), None, &[origin]).header("access-control-allow-origin"), None);
    assert_eq!(plain.stop(), 0);
}
