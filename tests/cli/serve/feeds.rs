//! `_changes`: the normal feed's options, and feeds that wait (longpoll, continuous,
//! eventsource) woken by commits of this server and of other processes.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{get, post, put, Server};
use crate::TestEnv;

fn ids(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().unwrap_or("-").to_string())
        .collect()
}

#[test]
fn the_normal_feed_takes_couchdb_options() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let url = |p: &str| server.url(&format!("/db/{p}"));
    for (id, n) in [("a", 1), ("b", 2), ("c", 3)] {
        put(&url(id), &format!(r#"{{"n":{n}}}"#)).expect(201);
    }
    let a = get(&url("a")).expect(200);
    put(&url("a"), &json!({"_rev": a["_rev"], "n": 10}).to_string()).expect(201);
    put(&url("b?new_edits=false"), r#"{"_rev":"1-zzzz","n":20}"#).expect(201);
    let c = get(&url("c")).expect(200);
    super::delete(&url(&format!("c?rev={}", c["_rev"].as_str().expect("rev")))).expect(200);
    put(&url("_design/d"), "{}").expect(201);

    let all = get(&url("_changes")).expect(200);
    assert_eq!(ids(&all), ["a", "b", "c", "_design/d"]);
    assert_eq!(all["last_seq"], 7);
    assert_eq!(all["results"][0]["seq"], 4);
    assert_eq!(all["results"][1]["changes"].as_array().map(Vec::len), Some(1));
    assert_eq!(all["results"][2]["deleted"], true);
    let styled = get(&url("_changes?style=all_docs")).expect(200);
    assert_eq!(styled["results"][1]["changes"].as_array().map(Vec::len), Some(2));
    let docs = get(&url("_changes?include_docs=true&conflicts=true")).expect(200);
    assert_eq!(
        docs["results"][0]["doc"],
        json!({"_id": "a", "_rev": docs["results"][0]["changes"][0]["rev"], "n": 10})
    );
    assert!(docs["results"][1]["doc"]["_conflicts"].is_array());
    assert_eq!(docs["results"][2]["doc"]["_deleted"], true);
    let limited = get(&url("_changes?limit=2")).expect(200);
    assert_eq!((ids(&limited).len(), limited["last_seq"].as_u64()), (2, Some(5)));
    assert_eq!(ids(&get(&url("_changes?since=5")).expect(200)), ["c", "_design/d"]);
    assert_eq!(ids(&get(&url("_changes?since=\"5\"")).expect(200)), ["c", "_design/d"]);
    let now = get(&url("_changes?since=now")).expect(200);
    assert_eq!((ids(&now).len(), now["last_seq"].as_u64()), (0, Some(7)));
    assert_eq!(ids(&get(&url("_changes?descending=true&limit=2")).expect(200)), ["_design/d", "c"]);
    assert_eq!(ids(&get(&url(r#"_changes?filter=_doc_ids&doc_ids=["c","a"]"#)).expect(200)), ["a", "c"]);
    let posted = post(&url("_changes?filter=_doc_ids"), r#"{"doc_ids":["b"]}"#).expect(200);
    assert_eq!(ids(&posted), ["b"]);
    let selected = post(&url("_changes?filter=_selector"), r#"{"selector":{"n":{"$gte":10}}}"#).expect(200);
    assert_eq!(ids(&selected), ["a", "b"]);
    assert_eq!(ids(&get(&url("_changes?filter=_design")).expect(200)), ["_design/d"]);
    get(&url("_changes?since=yesterday")).error(400, "bad_request");
    get(&url("_changes?feed=sometimes")).error(400, "bad_request");
    get(&url("_changes?filter=_doc_ids")).error(400, "bad_request");
    post(&url("_changes?filter=_selector"), r#"{"selector":{"n":{"$nope":1}}}"#).error(400, "bad_request");
    assert_eq!(server.stop(), 0);
}

#[test]
fn longpoll_is_woken_by_a_commit_of_another_process_and_times_out_without_one() {
    let env = TestEnv::new();
    env.put("first", "{}");
    let server = Server::start(&env, &["db=."]);
    let url = server.url("/db/_changes?feed=longpoll&since=now&include_docs=true");
    let started = Instant::now();
    let waiting = std::thread::spawn(move || get(&url));
    std::thread::sleep(Duration::from_millis(400));
    env.put("later", r#"{"by":"cli"}"#);
    let reply = waiting.join().expect("the longpoll thread").expect(200);
    assert_eq!(ids(&reply), ["later"]);
    assert_eq!(reply["results"][0]["doc"]["by"], "cli");
    assert_eq!(reply["last_seq"], 2);
    assert!(started.elapsed() < Duration::from_secs(10));

    let started = Instant::now();
    let empty = get(&server.url("/db/_changes?feed=longpoll&since=2&timeout=300")).expect(200);
    assert_eq!((ids(&empty).len(), empty["last_seq"].as_u64()), (0, Some(2)));
    assert!(started.elapsed() < Duration::from_secs(5));
    // A longpoll with rows already there answers at once.
    assert_eq!(ids(&get(&server.url("/db/_changes?feed=longpoll&since=0")).expect(200)), ["first", "later"]);
    assert_eq!(server.stop(), 0);
}

#[test]
fn continuous_and_eventsource_feeds_stream_rows_heartbeats_and_the_last_seq() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let url = |p: &str| server.url(&format!("/db/{p}"));
    put(&url("a"), "{}").expect(201);
    let feed_url = url("_changes?feed=continuous&timeout=1500&heartbeat=200");
    let feed = std::thread::spawn(move || get(&feed_url));
    std::thread::sleep(Duration::from_millis(300));
    put(&url("b"), "{}").expect(201);
    let reply = feed.join().expect("feed thread");
    assert_eq!(reply.status, 200);
    let lines: Vec<&str> = reply.body.lines().collect();
    let rows: Vec<Value> = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len(), 3, "{lines:?}");
    assert_eq!((rows[0]["id"].as_str(), rows[1]["id"].as_str()), (Some("a"), Some("b")));
    assert_eq!(rows[2], json!({"last_seq": 2}));
    assert!(lines.iter().any(|l| l.is_empty()), "heartbeats are blank lines: {lines:?}");

    let limited = get(&url("_changes?feed=continuous&limit=1"));
    let lines: Vec<Value> =
        limited.body.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(lines.len(), 2, "{limited:?}");
    assert_eq!((lines[0]["id"].as_str(), &lines[1]), (Some("a"), &json!({"last_seq": 1})));

    let events = get(&url("_changes?feed=eventsource&timeout=300"));
    assert!(events.content_type.starts_with("text/event-stream"));
    assert!(events.body.starts_with("data: {\"seq\":1,\"id\":\"a\""), "{}", events.body);
    assert!(events.body.contains("\nid: 2\n\n"), "{}", events.body);
    assert_eq!(server.stop(), 0);
}

#[test]
fn a_stop_signal_ends_waiting_feeds_and_the_server_exits_0() {
    let env = TestEnv::new();
    let server = Server::start(&env, &["db=."]);
    let url = server.url("/db/_changes?feed=continuous&heartbeat=100");
    let feed = std::thread::spawn(move || get(&url));
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(server.stop(), 0);
    assert!(started.elapsed() < Duration::from_secs(5), "stopped in {:?}", started.elapsed());
    let reply = feed.join().expect("feed thread");
    assert!(reply.body.ends_with("{\"last_seq\":0}\n"), "{:?}", reply.body);
}
