//! Power-loss crash tests: the store writes through a simulated disk ([`sim::SimDisk`])
//! that loses power at a random operation, and the store is then opened from what the disk
//! had made durable (unsynced writes dropped, kept, torn or zeroed; unsynced directory
//! entries kept or not). Unlike a SIGKILL, which leaves the page cache intact, this catches
//! a missing or misplaced fsync.
//!
//! Each workload runs once without a cut to record the logical state after each step
//! (documents' leaves and winner bodies, tracked `_local` bodies) and to count the disk
//! operations; then it runs again many times, cut at a random operation. After each crash
//! the image must open (as a reader and as a writer, showing the same state), hold every
//! step that returned `Ok` and nothing half-made of the step in flight, pass `verify`, and
//! take a new write.
//!
//! Seeded: the seed is printed; `SETTEE_POWERLOSS_SEED=<n>` replays it.

mod sim;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{json, Value};
use settee::blob::Compression;
use settee::disk::Disk;
use settee::replicate::{replicate, Options as ReplicateOptions};
use settee::transport::local::LocalStore;
use settee::{Body, DocId, Op, OpenOptions, Store};

use sim::{Rng, SimDisk};

/// The logical content of a store: per id, a description of its leaves and winner body
/// (documents) or its body (tracked `_local` ids). `None`: no store at all.
type State = Option<BTreeMap<String, String>>;

fn describe(store: &Store, locals: &[String]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for d in store.docs(None, None) {
        let (id, doc) = d.unwrap();
        let leaves: Vec<String> = doc
            .leaves
            .iter()
            .map(|l| format!("{}{}", l.rev, if l.deleted { " deleted" } else { "" }))
            .collect();
        let body = store.get_winner(&id).unwrap().map(|(_, b)| Value::Object(b));
        // A document naming a blob (the `blobs` workload): whether the blob reads back whole.
        let blob = body.as_ref().and_then(|b| b["blob"].as_str()).map(|hex| {
            match store.verify_blob(&settee::ObjectId::from_hex(hex.as_bytes()).unwrap()) {
                Ok(Some(info)) => format!(" blob {} bytes, sound", info.len),
                Ok(None) => " blob absent".into(),
                Err(e) => format!(" blob damaged: {e}"),
            }
        });
        out.insert(
            id.to_string(),
            format!("{leaves:?} {}{}", body.unwrap_or(Value::Null), blob.unwrap_or_default()),
        );
    }
    for id in locals {
        if let Some(body) = store.get_local(&DocId::parse_local(id).unwrap()).unwrap() {
            out.insert(id.clone(), Value::Object(body).to_string());
        }
    }
    out
}

/// What a run records: the state before the first step and after each acknowledged one,
/// and whether each step is a single commit.
#[derive(Default)]
struct Record {
    states: Vec<State>,
    atomic: Vec<bool>,
}

/// What a workload gets: where the store is, the disk to write through, its random choices.
struct Ctx {
    disk: Arc<dyn Disk>,
    root: PathBuf,
    /// A directory outside the simulated disk (a replication source lives there).
    aux: PathBuf,
    rng: Rng,
    /// `_local` ids the workload wrote.
    locals: Vec<String>,
    record: Record,
    /// Whether to record states (the reference run) or only count steps.
    reference: bool,
    acked: usize,
}

impl Ctx {
    /// The step just taken returned `Ok`: it is acknowledged.
    fn ack(&mut self, store: &Store, atomic: bool) {
        self.acked += 1;
        if self.reference {
            self.record.states.push(Some(describe(store, &self.locals)));
            self.record.atomic.push(atomic);
        }
    }

    fn open(&self) -> settee::Result<Store> {
        Store::open_on(self.disk.clone(), &self.root, OpenOptions { write: true, wait_for_lock: LOCK_WAIT })
    }
}

/// How long this test's writers wait for the writer lock. Nothing else writes its stores,
/// but other tests of this process start child processes, and a child holds copies of the
/// parent's open files from its fork until its exec: a lock just let go can stay taken for
/// that moment, and a writer that does not wait would fail.
const LOCK_WAIT: Option<std::time::Duration> = Some(std::time::Duration::from_secs(10));

type Workload = fn(&mut Ctx) -> settee::Result<()>;

fn body(v: Value) -> Body {
    match v {
        Value::Object(m) => Body::from_map(&m),
        _ => unreachable!("bodies are objects"),
    }
}

fn edit(id: &str, base: Option<settee::RevId>, deleted: bool, v: Value) -> Op {
    Op::Edit { id: DocId::parse(id).unwrap(), base, deleted, body: body(v) }
}

/// A write batch that must succeed as a whole (no per-document refusal).
fn write(store: &mut Store, ops: Vec<Op>) -> settee::Result<()> {
    for r in store.write(ops)? {
        r.map_err(|e| panic!("a workload write was refused: {e}")).unwrap();
    }
    Ok(())
}

/// The winning revision of `id`, unless it is deleted (a new edit then starts afresh).
fn winner(store: &Store, id: &str) -> Option<settee::RevId> {
    let doc = store.doc_ref(&DocId::parse(id).unwrap()).unwrap()?;
    doc.winner().filter(|w| !w.deleted).map(|w| w.rev.clone())
}

/// `n` random edits of documents `doc-*`: new ones, updates, deletions, now and then a
/// large body (pack bytes across many sectors).
fn random_edits(store: &Store, rng: &mut Rng, n: usize, prefix: &str) -> Vec<Op> {
    let mut ops = Vec::new();
    let mut taken = std::collections::BTreeSet::new();
    for _ in 0..n {
        let id = format!("{prefix}{:03}", rng.below(40));
        if !taken.insert(id.clone()) {
            continue;
        }
        let base = winner(store, &id);
        let deleted = base.is_some() && rng.chance(5);
        let pad = if rng.chance(6) { "x".repeat(rng.below(20_000) as usize) } else { String::new() };
        ops.push(edit(&id, base, deleted, json!({"n": rng.next() % 1000, "pad": pad})));
    }
    ops
}

fn puts(ctx: &mut Ctx) -> settee::Result<()> {
    let mut store = Store::init_on(ctx.disk.clone(), &ctx.root)?;
    ctx.ack(&store, true);
    for _ in 0..30 {
        match ctx.rng.below(6) {
            0 => {
                let id = format!("_local/l{}", ctx.rng.below(3));
                if !ctx.locals.contains(&id) {
                    ctx.locals.push(id.clone());
                }
                let v = json!({"at": ctx.rng.next() % 100});
                store.put_local(&DocId::parse_local(&id).unwrap(), v.as_object().unwrap())?;
            }
            1 if !ctx.locals.is_empty() => {
                let id = &ctx.locals[ctx.rng.below(ctx.locals.len() as u64) as usize];
                store.remove_local(&DocId::parse_local(id).unwrap())?;
            }
            _ => {
                let n = 1 + ctx.rng.below(4) as usize;
                let ops = random_edits(&store, &mut ctx.rng, n, "doc-");
                write(&mut store, ops)?;
            }
        }
        ctx.ack(&store, true);
    }
    Ok(())
}

/// Blobs written as an attachment's are (small, a chunk and a half, repeats), each then
/// named by a commit: the blob must be durable before the commit that references it.
fn blobs(ctx: &mut Ctx) -> settee::Result<()> {
    let mut store = Store::init_on(ctx.disk.clone(), &ctx.root)?;
    ctx.ack(&store, true);
    for i in 0..8 {
        let len = match ctx.rng.below(3) {
            0 => ctx.rng.below(200),
            1 => ctx.rng.below(20_000),
            _ => (3 << 19) + ctx.rng.below(1000),
        };
        // Half the time the bytes of an earlier blob again (the file exists already).
        let seed = if i > 0 && ctx.rng.chance(2) { ctx.rng.below(i) } else { i };
        let bytes: Vec<u8> = (0..len).map(|k| (k.wrapping_mul(seed + 7) >> 3) as u8).collect();
        let compression = if ctx.rng.chance(2) { Compression::Sample } else { Compression::Never };
        let known = ctx.rng.chance(2).then_some(len);
        let info = store.write_blob(&mut &bytes[..], known, compression)?;
        write(
            &mut store,
            vec![edit(&format!("att-{i}"), None, false, json!({"blob": info.id.to_string()}))],
        )?;
        ctx.ack(&store, true);
    }
    Ok(())
}

fn import_line(i: u64, rng: &mut Rng) -> String {
    let words: Vec<String> = (0..8).map(|_| format!("w{}", rng.below(500))).collect();
    json!({"_id": format!("pkg-{i:05}"), "name": format!("pkg-{i}"), "keywords": words, "n": i}).to_string()
}

fn import(ctx: &mut Ctx) -> settee::Result<()> {
    let mut store = ctx.open()?;
    let mut n = 0;
    for _ in 0..4 {
        let mut ops = Vec::new();
        for _ in 0..700 {
            n += 1;
            let line = import_line(n, &mut ctx.rng);
            ops.push(settee::import::parse_line(line.as_bytes(), n, false).unwrap().0);
        }
        write(&mut store, ops)?;
        ctx.ack(&store, true);
    }
    Ok(())
}

fn checkpoints(ctx: &mut Ctx) -> settee::Result<()> {
    let mut store = ctx.open()?;
    for round in 0..3 {
        let ops = random_edits(&store, &mut ctx.rng, 12, "doc-");
        write(&mut store, ops)?;
        ctx.ack(&store, true);
        if round == 1 {
            ctx.locals.push("_local/cp".into());
            store.put_local(
                &DocId::parse_local("_local/cp").unwrap(),
                json!({"round": round}).as_object().unwrap(),
            )?;
            ctx.ack(&store, true);
        }
        store.checkpoint()?;
        ctx.ack(&store, true);
    }
    Ok(())
}

fn compaction(ctx: &mut Ctx) -> settee::Result<()> {
    let mut store = ctx.open()?;
    let full = settee::compact::Options { full: true, ..Default::default() };
    store.compact(&full)?;
    ctx.ack(&store, true);
    let ops = random_edits(&store, &mut ctx.rng, 10, "doc-");
    write(&mut store, ops)?;
    ctx.ack(&store, true);
    store.compact(&settee::compact::Options::default())?;
    ctx.ack(&store, true);
    let ops = random_edits(&store, &mut ctx.rng, 10, "doc-");
    write(&mut store, ops)?;
    ctx.ack(&store, true);
    store.compact(&full)?;
    ctx.ack(&store, true);
    Ok(())
}

fn replication_options() -> ReplicateOptions {
    ReplicateOptions { batch_size: 40, checkpoint_interval: std::time::Duration::ZERO, ..Default::default() }
}

fn replication(ctx: &mut Ctx) -> settee::Result<()> {
    let mut store = ctx.open()?;
    let mut source =
        Store::open(&ctx.aux.join(".settee"), OpenOptions { write: true, wait_for_lock: LOCK_WAIT })?;
    replicate(
        &mut LocalStore::new(&mut source),
        &mut LocalStore::new(&mut store),
        &replication_options(),
        &mut (),
    )?;
    ctx.ack(&store, false);
    let ops = random_edits(&store, &mut ctx.rng, 5, "doc-");
    write(&mut store, ops)?;
    ctx.ack(&store, true);
    Ok(())
}

/// A writer opening a store whose last commit was torn keeps the cut bytes in the
/// quarantine, then cuts them; then it writes on.
fn recovery(ctx: &mut Ctx) -> settee::Result<()> {
    let mut store = ctx.open()?;
    ctx.ack(&store, true);
    let ops = random_edits(&store, &mut ctx.rng, 3, "doc-");
    write(&mut store, ops)?;
    ctx.ack(&store, true);
    Ok(())
}

/// A store whose last commit lost its journal record's last bytes (a torn write).
fn torn_template() -> tempfile::TempDir {
    let dir = template(filled(20, 1, 4));
    let root = dir.path().join(".settee");
    let mut store = Store::open(&root, OpenOptions { write: true, wait_for_lock: LOCK_WAIT }).unwrap();
    let ops = random_edits(&store, &mut Rng::new(5), 6, "doc-");
    write(&mut store, ops).unwrap();
    let journal = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("journal-"))
        .unwrap();
    let len = std::fs::metadata(&journal).unwrap().len();
    drop(store);
    std::fs::OpenOptions::new().write(true).open(&journal).unwrap().set_len(len - 5).unwrap();
    dir
}

/// The quarantine's promise: bytes a writer cut are durable in `quarantine/`, with a note,
/// before the cut is. `start` is the store the run began with, `image` what a crash left.
fn quarantine_kept(what: &str, start: &Path, image: &Path) {
    let journal_len = |root: &Path| -> u64 {
        std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().starts_with("journal-"))
            .map(|e| e.metadata().unwrap().len())
            .sum()
    };
    let (before, after) = (journal_len(&start.join(".settee")), journal_len(&image.join(".settee")));
    if after < before {
        let notes = settee::store::recovery::notes(&image.join(".settee"));
        assert_eq!(notes.len(), 1, "{what}: the journal was cut but the quarantine has notes {notes:?}");
        for cut in notes[0]["cut"].as_array().unwrap() {
            let kept = Path::new(cut["kept_in"].as_str().unwrap()).file_name().unwrap();
            let kept = image.join(".settee").join("quarantine").join(kept);
            let len = std::fs::metadata(&kept).map(|m| m.len()).unwrap_or(0);
            assert_eq!(Some(len), cut["bytes"].as_u64(), "{what}: {} is not kept whole", kept.display());
        }
    }
}

/// A store at `dir/.settee` built on the real disk by `fill`.
fn template(fill: impl FnOnce(&mut Store)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::init(&dir.path().join(".settee")).unwrap();
    fill(&mut store);
    drop(store);
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn filled(docs: usize, rounds: usize, seed: u64) -> impl FnOnce(&mut Store) {
    move |store: &mut Store| {
        let mut rng = Rng::new(seed);
        for round in 0..rounds {
            let ops = (0..docs)
                .map(|i| {
                    let id = format!("doc-{i:03}");
                    edit(&id, winner(store, &id), false, json!({"round": round, "r": rng.next() % 100}))
                })
                .collect();
            write(store, ops).unwrap();
            store.checkpoint().unwrap();
            if round == 0 {
                store.compact(&settee::compact::Options { full: true, ..Default::default() }).unwrap();
            }
        }
    }
}

/// One workload: its starting store (none: the workload creates it), its replication
/// source, and how many crashes to simulate.
struct Case {
    name: &'static str,
    run: Workload,
    start: Option<tempfile::TempDir>,
    source: Option<tempfile::TempDir>,
    /// A check of the image before it is opened, given the starting store.
    extra: Option<fn(&str, &Path, &Path)>,
    crashes: usize,
}

/// Run `case` once without a cut, then `case.crashes` times with one; returns the number of
/// crashes simulated.
fn crash_many(case: &Case, seed: u64) -> usize {
    let fresh = |scratch: &Path| {
        let base = scratch.join("work");
        match &case.start {
            Some(t) => copy_dir(t.path(), &base),
            None => std::fs::create_dir_all(&base).unwrap(),
        }
        let aux = scratch.join("aux");
        if let Some(s) = &case.source {
            copy_dir(s.path(), &aux);
        }
        (base, aux)
    };
    let run = |disk: Arc<SimDisk>, base: &Path, aux: PathBuf, reference: bool| {
        let mut ctx = Ctx {
            disk: disk.clone(),
            root: base.join(".settee"),
            aux,
            rng: Rng::new(seed),
            locals: Vec::new(),
            record: Record::default(),
            reference,
            acked: 0,
        };
        let start = if case.start.is_some() {
            // What a reader sees: the state before any step (a torn tail is not in it).
            let store = Store::open(&ctx.root, OpenOptions::default()).unwrap();
            Some(describe(&store, &[]))
        } else {
            None
        };
        ctx.record.states.push(start);
        let result = (case.run)(&mut ctx);
        (result, ctx)
    };

    let scratch = tempfile::tempdir().unwrap();
    let (base, aux) = fresh(scratch.path());
    let disk = SimDisk::new(&base, None);
    let (result, reference) = run(disk.clone(), &base, aux, true);
    result.unwrap_or_else(|e| panic!("{}: the run without a cut failed: {e}", case.name));
    let total = disk.ops();
    let record = reference.record;

    let mut rng = Rng::new(seed ^ 0x5eed);
    for crash in 0..case.crashes {
        let cut = rng.below(total);
        let scratch = tempfile::tempdir().unwrap();
        let (base, aux) = fresh(scratch.path());
        let disk = SimDisk::new(&base, Some(cut));
        let (result, ctx) = run(disk.clone(), &base, aux, false);
        if let Err(e) = &result {
            assert!(disk.lost_power(), "{}: failed before the cut: {e}", case.name);
        }
        let image = scratch.path().join("image");
        std::fs::create_dir(&image).unwrap();
        disk.materialise(&mut rng, &image);
        let what = format!("{} crash {crash} (seed {seed}, cut at operation {cut} of {total})", case.name);
        check(&what, &image, &record, ctx.acked, &ctx.locals, case);
    }
    case.crashes
}

/// The image at `image` holds every acknowledged step and nothing half-made.
fn check(what: &str, image: &Path, record: &Record, acked: usize, locals: &[String], case: &Case) {
    let root = image.join(".settee");
    if let (Some(extra), Some(start)) = (case.extra, &case.start) {
        extra(what, start.path(), image);
    }
    let before = &record.states[acked];
    let after = record.states.get(acked + 1);
    let atomic = record.atomic.get(acked).copied().unwrap_or(true);
    let allowed = |state: &State| -> bool {
        if state == before || after == Some(state) {
            return true;
        }
        // A step of several commits (replication) may have made some of them durable.
        let (Some(now), Some(Some(b)), Some(Some(a)), false) = (state, Some(before), after, atomic) else {
            return false;
        };
        let ids = now.keys().chain(b.keys()).chain(a.keys());
        ids.into_iter().all(|id| now.get(id) == b.get(id) || now.get(id) == a.get(id))
    };
    let reader = match Store::open(&root, OpenOptions::default()) {
        Ok(s) => s,
        Err(settee::Error::NoStore { .. }) if before.is_none() => {
            // Init never returned: no store is a possible outcome.
            assert!(allowed(&None), "{what}: no store");
            return;
        }
        Err(e) => panic!("{what}: the store does not open: {e}"),
    };
    let seen = Some(describe(&reader, locals));
    assert!(allowed(&seen), "{what}: a reader sees other documents:\n{}", differences(&seen, before, after));
    drop(reader);
    let mut store = Store::open(&root, OpenOptions { write: true, wait_for_lock: LOCK_WAIT })
        .unwrap_or_else(|e| panic!("{what}: the store does not open for writing: {e}"));
    let written = Some(describe(&store, locals));
    assert_eq!(written, seen, "{what}: the writer sees other documents than a reader");
    let findings = store.verify().unwrap();
    assert!(findings.is_empty(), "{what}: verify finds {findings:?}");
    if let Some(template) = &case.source {
        // Replication resumes from whatever checkpoint log survived and completes.
        let copy = tempfile::tempdir().unwrap();
        copy_dir(template.path(), copy.path());
        let mut source =
            Store::open(&copy.path().join(".settee"), OpenOptions { write: true, wait_for_lock: LOCK_WAIT })
                .unwrap();
        replicate(
            &mut LocalStore::new(&mut source),
            &mut LocalStore::new(&mut store),
            &replication_options(),
            &mut (),
        )
        .unwrap_or_else(|e| panic!("{what}: replication after the crash fails: {e}"));
        let theirs = describe(&source, &[]);
        let ours = describe(&store, &[]);
        for (id, state) in &theirs {
            assert_eq!(ours.get(id), Some(state), "{what}: {id} differs after replicating again");
        }
    }
    write(&mut store, vec![edit("after-crash", None, false, json!({"ok": true}))]).unwrap();
    drop(store);
    let store = Store::open(&root, OpenOptions::default()).unwrap();
    assert!(winner(&store, "after-crash").is_some(), "{what}: a write after the crash is lost");
}

/// The ids whose state in `seen` is neither the acknowledged one nor the one in flight,
/// one line each (at most 10, descriptions shortened).
fn differences(seen: &State, before: &State, after: Option<&State>) -> String {
    let empty = BTreeMap::new();
    let map = |s: Option<&State>| s.and_then(Option::as_ref).unwrap_or(&empty).clone();
    let (seen, before, after) = (map(Some(seen)), map(Some(before)), map(after));
    let short = |v: Option<&String>| match v {
        Some(v) if v.len() > 120 => format!("{}... ({} chars)", &v[..100], v.len()),
        Some(v) => v.clone(),
        None => "absent".into(),
    };
    let ids: std::collections::BTreeSet<&String> =
        seen.keys().chain(before.keys()).chain(after.keys()).collect();
    ids.into_iter()
        .filter(|id| seen.get(*id) != before.get(*id) && seen.get(*id) != after.get(*id))
        .take(10)
        .map(|id| {
            let (s, b, a) = (short(seen.get(id)), short(before.get(id)), short(after.get(id)));
            format!("  {id}: {s}\n    acknowledged: {b}\n    in flight: {a}")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn seed() -> u64 {
    match std::env::var("SETTEE_POWERLOSS_SEED") {
        Ok(s) => s.parse().expect("SETTEE_POWERLOSS_SEED is a number"),
        Err(_) => {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
        }
    }
}

#[test]
fn every_acknowledged_write_survives_a_power_loss() {
    let seed = seed();
    eprintln!("power-loss test: seed {seed} (SETTEE_POWERLOSS_SEED={seed} replays it)");
    let cases = [
        Case { name: "puts", run: puts, start: None, source: None, extra: None, crashes: 120 },
        Case { name: "blobs", run: blobs, start: None, source: None, extra: None, crashes: 60 },
        Case {
            name: "import",
            run: import,
            start: Some(template(|_| {})),
            source: None,
            extra: None,
            crashes: 50,
        },
        Case {
            name: "checkpoints",
            run: checkpoints,
            start: Some(template(filled(60, 1, 1))),
            source: None,
            extra: None,
            crashes: 100,
        },
        Case {
            name: "compaction",
            run: compaction,
            start: Some(template(filled(60, 3, 2))),
            source: None,
            extra: None,
            crashes: 80,
        },
        Case {
            name: "replication",
            run: replication,
            start: Some(template(filled(5, 1, 3))),
            source: Some(template(|s| {
                let ops =
                    (0..200).map(|i| edit(&format!("src-{i:03}"), None, false, json!({"i": i}))).collect();
                write(s, ops).unwrap();
            })),
            extra: None,
            crashes: 60,
        },
        Case {
            name: "recovery",
            run: recovery,
            start: Some(torn_template()),
            source: None,
            extra: Some(quarantine_kept),
            crashes: 40,
        },
    ];
    let mut total = 0;
    for case in &cases {
        let started = std::time::Instant::now();
        let n = crash_many(case, seed);
        eprintln!("power-loss test: {}: {n} crashes in {:.1?}", case.name, started.elapsed());
        total += n;
    }
    eprintln!("power-loss test: {total} simulated crashes");
    assert!(total >= 510, "only {total} crashes simulated");
}

/// postmortem: the power-loss test cut a writer's open of a store with a torn last commit:
/// the journal's cut was durable, but the quarantine holding the cut bytes was not, for
/// `quarantine/` itself had been created without a sync of the store's directory, and the
/// power loss took it (the files in it were synced, their directory's name was not).
#[test]
fn regression_the_quarantine_is_durable_before_the_cut() {
    let start = torn_template();
    let scratch = tempfile::tempdir().unwrap();
    let base = scratch.path().join("work");
    copy_dir(start.path(), &base);
    let disk = SimDisk::new(&base, None);
    let store = Store::open_on(
        disk.clone(),
        &base.join(".settee"),
        OpenOptions { write: true, wait_for_lock: LOCK_WAIT },
    )
    .unwrap();
    assert!(store.recovery().is_some_and(|r| r.bytes() > 0), "the template has a torn tail to cut");
    drop(store);
    let image = scratch.path().join("image");
    std::fs::create_dir(&image).unwrap();
    disk.materialise_synced(&image);
    quarantine_kept("the synced image", start.path(), &image);
}
