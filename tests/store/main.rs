//! Library integration tests: the store through its public API, on real files.

mod attachments;
mod basics;
mod blobs;
mod compaction;
mod durability;
mod model;
mod numbers;
mod powerloss;
mod replicated;
mod replication;
mod shared;

use serde_json::{json, Map, Value};
use settee::store::OpenOptions;
use settee::{Body, DocId, Op, RevHash, RevId, Store};

pub struct TestStore {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl Default for TestStore {
    fn default() -> Self {
        TestStore::new()
    }
}

impl TestStore {
    pub fn new() -> TestStore {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::init(&dir.path().join(".settee")).unwrap();
        TestStore { dir, store }
    }

    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join(".settee")
    }

    /// Close and open again (as a new writer).
    pub fn reopen(&mut self) {
        let root = self.root();
        // Drop the old store first so its lock is released.
        let placeholder = Store::open(&root, OpenOptions::default()).unwrap();
        drop(std::mem::replace(&mut self.store, placeholder));
        self.store = Store::open(&root, OpenOptions { write: true, wait_for_lock: None }).unwrap();
    }

    /// Drop the writer (releasing the lock), keeping a reader in its place.
    pub fn release_writer(&mut self) {
        let reader = self.reader();
        drop(std::mem::replace(&mut self.store, reader));
    }

    pub fn reader(&self) -> Store {
        Store::open(&self.root(), OpenOptions::default()).unwrap()
    }
}

pub fn id(s: &str) -> DocId {
    DocId::parse(s).unwrap()
}

pub fn rev(s: &str) -> RevId {
    RevId::parse(s).unwrap()
}

pub fn body(v: Value) -> Body {
    match v {
        Value::Object(m) => Body::from_map(&m),
        _ => panic!("not an object"),
    }
}

pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

/// Interactive write of one document.
pub fn put(store: &mut Store, doc: &str, base: Option<&RevId>, v: Value) -> settee::Result<RevId> {
    let op = Op::Edit { id: id(doc), base: base.cloned(), deleted: false, body: body(v) };
    store.write(vec![op]).unwrap().remove(0).map(|w| w.rev)
}

pub fn delete(store: &mut Store, doc: &str, base: &RevId) -> settee::Result<RevId> {
    let op = Op::Edit { id: id(doc), base: Some(base.clone()), deleted: true, body: Body::empty() };
    store.write(vec![op]).unwrap().remove(0).map(|w| w.rev)
}

/// A replicated write of `ids` (newest first) ending at position `start`.
pub fn replicate(
    store: &mut Store,
    doc: &str,
    start: u64,
    ids: &[&str],
    deleted: bool,
    v: Value,
) -> settee::Written {
    let hashes: Vec<RevHash> = ids.iter().map(|h| RevHash::parse(h).unwrap()).collect();
    let op = Op::Replicate {
        id: id(doc),
        rev: RevId::new(start, hashes[0].clone()),
        ancestry: hashes[1..].to_vec(),
        deleted,
        body: body(v),
    };
    store.write(vec![op]).unwrap().remove(0).unwrap()
}

/// Leaves of a document, winner first, as strings.
pub fn leaves(store: &settee::Snapshot, doc: &str) -> Vec<String> {
    store
        .doc_ref(&id(doc))
        .unwrap()
        .map(|d| d.leaves.iter().map(|l| l.rev.to_string()).collect())
        .unwrap_or_default()
}

pub fn winner_body(store: &settee::Snapshot, doc: &str) -> Option<Value> {
    store.get_winner(&id(doc)).unwrap().map(|(_, b)| Value::Object(b))
}

pub fn sample() -> Value {
    json!({"name": "left-pad", "version": "1.3.0"})
}
