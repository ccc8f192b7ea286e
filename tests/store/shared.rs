//! One store written and read through many handles at once: writers take turns per commit,
//! every handle sees the others' commits, MVCC holds across them.

use std::collections::HashSet;

use serde_json::json;
use settee::store::OpenOptions;
use settee::{ErrorKind, Seq, Store};

use crate::*;

fn writer(t: &TestStore) -> Store {
    let wait = Some(std::time::Duration::from_secs(30));
    Store::open(&t.root(), OpenOptions { write: true, wait_for_lock: wait }).unwrap()
}

#[test]
fn writers_take_turns_and_each_sees_the_others_commits() {
    let mut t = TestStore::new();
    let mut other = writer(&t);
    let mut reader = t.reader();
    let r1 = put(&mut t.store, "x", None, json!({"v": 1})).unwrap();
    // the other handle, opened before, updates from the rev it was not there to see
    let r2 = put(&mut other, "x", Some(&r1), json!({"v": 2})).unwrap();
    // and the first one's stale rev is a conflict, not an overwrite
    let e = put(&mut t.store, "x", Some(&r1), json!({"v": 3})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    let r3 = put(&mut t.store, "x", Some(&r2), json!({"v": 3})).unwrap();
    put(&mut other, "y", None, json!({"v": 1})).unwrap();
    // every commit got its own sequence, whichever handle made it
    assert_eq!(t.store.doc_ref(&id("x")).unwrap().unwrap().seq, Seq(3));
    // a reader sees nothing new until it refreshes, then all of it
    assert_eq!(winner_body(&reader, "x"), None);
    assert!(reader.refresh().unwrap());
    assert!(!reader.refresh().unwrap(), "nothing changed since");
    assert_eq!(leaves(&reader, "x"), vec![r3.to_string()]);
    assert_eq!(winner_body(&reader, "y"), Some(json!({"v": 1})));
    assert_eq!(reader.last_seq(), Seq(4));
    let seqs: Vec<u64> = reader.changes(Seq(0)).map(|c| c.unwrap().seq.0).collect();
    assert_eq!(seqs, vec![3, 4]);
}

/// A snapshot answers from the commit it was taken at while its handle commits, checkpoints,
/// compacts and refreshes, and threads read it at once; the handle's next snapshot has
/// everything. (The handle copies its view before changing it while a snapshot is alive.)
#[test]
fn a_snapshot_keeps_its_view_while_the_handle_moves_on() {
    let mut t = TestStore::new();
    let r1 = put(&mut t.store, "x", None, json!({"v": 1})).unwrap();
    let first = t.store.snapshot();
    let r2 = put(&mut t.store, "x", Some(&r1), json!({"v": 2})).unwrap();
    put(&mut t.store, "y", None, json!({"v": 1})).unwrap();
    let second = t.store.snapshot();
    t.store.checkpoint().unwrap();
    for i in 0..50 {
        put(&mut t.store, &format!("z{i:02}"), None, json!({"i": i})).unwrap();
    }
    t.store.compact(&settee::compact::Options { full: true, ..Default::default() }).unwrap();
    let mut reader = t.reader();
    let before_refresh = reader.snapshot();
    put(&mut t.store, "x", Some(&r2), json!({"v": 3})).unwrap();
    reader.refresh().unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                assert_eq!(winner_body(&first, "x"), Some(json!({"v": 1})));
                assert_eq!((winner_body(&first, "y"), first.last_seq()), (None, Seq(1)));
                assert_eq!(leaves(&second, "x"), vec![r2.to_string()]);
                let seqs: Vec<u64> = second.changes(Seq(0)).map(|c| c.unwrap().seq.0).collect();
                assert_eq!(seqs, vec![2, 3]);
                assert_eq!(winner_body(&before_refresh, "x"), Some(json!({"v": 2})));
                assert_eq!(before_refresh.last_seq(), Seq(53));
            });
        }
    });
    let now = reader.snapshot();
    assert_eq!((winner_body(&now, "x"), now.last_seq()), (Some(json!({"v": 3})), Seq(54)));
    assert_eq!(winner_body(&now, "z49"), Some(json!({"i": 49})));
    assert!(reader.verify().unwrap().is_empty());
}

#[test]
fn handles_catch_up_across_checkpoints_and_compaction() {
    let mut t = TestStore::new();
    let mut other = writer(&t);
    let mut reader = t.reader();
    let mut revs = Vec::new();
    for i in 0..40 {
        revs.push(put(&mut t.store, &format!("d{i:02}"), None, json!({"i": i})).unwrap());
    }
    t.store.checkpoint().unwrap();
    for (i, r) in revs.iter_mut().enumerate().take(20) {
        *r = put(&mut t.store, &format!("d{i:02}"), Some(r), json!({"i": i, "again": true})).unwrap();
    }
    t.store.compact(&settee::compact::Options { full: true, ..Default::default() }).unwrap();
    // the other writer's view predates both; its write is checked against the new files
    let e = put(&mut other, "d00", None, json!({})).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict);
    put(&mut other, "d00", Some(&revs[0]), json!({"by": "other"})).unwrap();
    reader.refresh().unwrap();
    assert_eq!(winner_body(&reader, "d00"), Some(json!({"by": "other"})));
    assert_eq!(winner_body(&reader, "d39"), Some(json!({"i": 39})));
    assert_eq!(reader.last_seq(), Seq(61));
    assert!(reader.verify().unwrap().is_empty());
}

#[test]
fn threads_with_their_own_handles_all_commit() {
    let t = TestStore::new();
    let threads = 4;
    let per = 40;
    let written: Vec<Vec<(String, u64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|n| {
                let mut store = writer(&t);
                s.spawn(move || {
                    (0..per)
                        .map(|i| {
                            let doc = format!("t{n}-{i}");
                            let op =
                                Op::Edit { id: id(&doc), base: None, deleted: false, body: body(json!({})) };
                            let w = store.write(vec![op]).unwrap().remove(0).unwrap();
                            (doc, w.seq.unwrap().0)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let seqs: HashSet<u64> = written.iter().flatten().map(|(_, s)| *s).collect();
    assert_eq!(seqs.len(), threads * per, "every commit has its own sequence");
    let reader = t.reader();
    assert_eq!(reader.last_seq(), Seq((threads * per) as u64));
    for (doc, seq) in written.iter().flatten() {
        assert_eq!(reader.doc_ref(&id(doc)).unwrap().unwrap().seq, Seq(*seq), "{doc}");
    }
}

/// A writer that died in the middle of a commit leaves a torn record and pack bytes; the
/// next writer to take the lock, even one opened before, keeps them in the quarantine,
/// cuts them and commits after the last whole record.
#[test]
fn the_next_writer_cuts_what_a_crashed_writer_left() {
    let mut t = TestStore::new();
    let mut other = writer(&t);
    put(&mut t.store, "a", None, sample()).unwrap();
    let root = t.root();
    let manifest = settee::manifest::Manifest::load(&root).unwrap();
    let journal = root.join(manifest.journal_name());
    let pack = root.join("packs").join(manifest.active.unwrap().file_name());
    let append = |path: &std::path::Path, bytes: &[u8]| {
        use std::io::Write;
        std::fs::OpenOptions::new().append(true).open(path).unwrap().write_all(bytes).unwrap();
    };
    append(&pack, &[7u8; 100]);
    append(&journal, &[0, 0, 1, 0, 1, 2]);
    put(&mut other, "b", None, sample()).unwrap();
    assert!(root.join(settee::store::recovery::QUARANTINE_DIR).is_dir());
    drop(other);
    t.release_writer();
    let store = t.reader();
    assert!(store.recovery().is_none(), "{:?}", store.recovery().map(|r| r.describe()));
    assert_eq!(leaves(&store, "a").len(), 1);
    assert_eq!(leaves(&store, "b").len(), 1);
    assert!(store.verify().unwrap().is_empty());
}

/// A handle waiting for the next sequence is woken by a commit through another handle of
/// this process, and gives up after its timeout when nothing comes.
#[test]
fn waiting_for_a_sequence_ends_with_the_commit_or_the_timeout() {
    let t = TestStore::new();
    let mut reader = t.reader();
    let short = std::time::Duration::from_millis(60);
    assert!(!reader.wait_for_seq(Seq(0), short).unwrap(), "nothing was committed");
    let mut other = writer(&t);
    let started = std::time::Instant::now();
    let woke = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            put(&mut other, "a", None, sample()).unwrap();
        });
        reader.wait_for_seq(Seq(0), std::time::Duration::from_secs(20)).unwrap()
    });
    assert!(woke && started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!((reader.last_seq(), leaves(&reader, "a").len()), (Seq(1), 1));
    // a sequence already passed needs no wait
    assert!(reader.wait_for_seq(Seq(0), short).unwrap());
}

/// Writes from many handles that share commits are still decided one after another: of
/// updates from the same revision exactly one wins, and each writer reads its own write.
#[test]
fn grouped_writes_keep_mvcc_and_read_their_own_writes() {
    let mut t = TestStore::new();
    let base = put(&mut t.store, "hot", None, json!({"n": 0})).unwrap();
    let outcomes: Vec<(bool, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|n| {
                let mut store = writer(&t);
                let base = base.clone();
                s.spawn(move || {
                    let mine = put(&mut store, &format!("own{n}"), None, json!({"n": n})).unwrap();
                    let reads_own = leaves(&store, &format!("own{n}")) == vec![mine.to_string()];
                    let won = match put(&mut store, "hot", Some(&base), json!({"by": n})) {
                        Ok(_) => true,
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::Conflict);
                            false
                        }
                    };
                    (won, reads_own)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|(won, _)| *won).count(), 1);
    assert!(outcomes.iter().all(|(_, reads_own)| *reads_own));
    t.store.refresh().unwrap();
    assert_eq!(t.store.last_seq(), Seq(1 + 8 + 1));
    assert_eq!(leaves(&t.store, "hot").len(), 1);
}

/// Handles served by another's commit take the commit from memory when their view sits
/// where it began (`store/group.rs`, invariant 3): each reads its own writes at once, and a
/// refresh then continues from where that left the view to exactly what a fresh reader
/// sees (a wrong journal length or a record applied twice would break the replay or the
/// sequences).
#[test]
fn served_handles_reach_the_view_a_fresh_reader_has() {
    let t = TestStore::new();
    let (threads, per) = (8, 60);
    let stores: Vec<Store> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|n| {
                let mut store = writer(&t);
                s.spawn(move || {
                    for i in 0..per {
                        let doc = format!("t{n}-{i}");
                        let op = Op::Edit { id: id(&doc), base: None, deleted: false, body: body(json!({})) };
                        let w = store.write(vec![op]).unwrap().remove(0).unwrap();
                        let seen = store.doc_ref(&id(&doc)).unwrap().map(|d| d.seq);
                        assert_eq!(seen, w.seq, "{doc} read back after its write");
                        assert!(store.last_seq() >= w.seq.unwrap());
                    }
                    store
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let reader = t.reader();
    assert_eq!(reader.last_seq(), Seq((threads * per) as u64));
    for mut store in stores {
        store.refresh().unwrap();
        assert_eq!(store.last_seq(), reader.last_seq());
        for k in 0..threads * per {
            let doc = id(&format!("t{}-{}", k / per, k % per));
            let seq = |s: &Store| s.doc_ref(&doc).unwrap().map(|d| d.seq);
            assert_eq!(seq(&store), seq(&reader), "{doc}");
        }
    }
    assert!(reader.verify().unwrap().is_empty());
}

/// A handle keeps its append handles across the commits others make, and moves them to
/// where those commits left the journal and the pack, with the dictionary another handle
/// trained meanwhile: every body any of them wrote reads back, and the store verifies.
#[test]
fn handles_append_after_each_others_commits_and_dictionary() {
    let mut t = TestStore::new();
    let mut other = writer(&t);
    let value = |n: usize, i: usize| {
        let words: Vec<String> = (0..12).map(|w| format!("word{}", (i * 7919 + w * 31) % 997)).collect();
        json!({"n": n, "i": i, "text": words.join(" ")})
    };
    let mut written = Vec::new();
    for n in 0..6 {
        // Past a megabyte of objects, the pack trains its dictionary (in whichever handle
        // writes then); each handle's next commit follows the other's.
        let store = if n % 2 == 0 { &mut t.store } else { &mut other };
        let ops = (0..4_000).map(|i| Op::Edit {
            id: id(&format!("b{n}-{i}")),
            base: None,
            deleted: false,
            body: body(value(n, i)),
        });
        for w in store.write(ops.collect()).unwrap() {
            written.push(w.unwrap().id);
        }
        put(store, &format!("single-{n}"), None, value(n, 0)).unwrap();
    }
    let reader = t.reader();
    for (k, doc) in written.iter().enumerate() {
        let (n, i) = (k / 4_000, k % 4_000);
        assert_eq!(winner_body(&reader, doc.as_str()), Some(value(n, i)), "{doc}");
    }
    assert!(reader.verify().unwrap().is_empty());
}

/// While another writer keeps the lock, handles of one process writing at once each fail
/// as locked within their own wait, with nothing written; once it is let go, the same
/// handles commit again (a leader that could not take the lock left the queue usable).
#[test]
fn grouped_writers_fail_alone_when_the_lock_stays_busy_and_go_on_after() {
    use settee::store::lock::Lock;
    use std::time::{Duration, Instant};
    let t = TestStore::new();
    let root = t.root();
    let wait = Duration::from_millis(300);
    let mut stores: Vec<Store> = (0..4)
        .map(|_| Store::open(&root, OpenOptions { write: true, wait_for_lock: Some(wait) }).unwrap())
        .collect();
    let held = Lock::acquire(&root, None).unwrap();
    let started = Instant::now();
    let refused: Vec<ErrorKind> = std::thread::scope(|s| {
        let writers: Vec<_> = stores
            .iter_mut()
            .enumerate()
            .map(|(n, store)| {
                let op = Op::Edit {
                    id: id(&format!("first-{n}")),
                    base: None,
                    deleted: false,
                    body: body(json!({})),
                };
                s.spawn(move || store.write(vec![op]).unwrap_err().kind())
            })
            .collect();
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(refused, vec![ErrorKind::Locked; 4]);
    assert!(started.elapsed() < wait * 2, "each waited about its own wait: {:?}", started.elapsed());
    drop(held);
    std::thread::scope(|s| {
        for (n, store) in stores.iter_mut().enumerate() {
            s.spawn(move || put(store, &format!("second-{n}"), None, json!({})).unwrap());
        }
    });
    let reader = t.reader();
    let ids: Vec<String> = reader.changes(Seq(0)).map(|c| c.unwrap().id.to_string()).collect();
    let mut ids = ids;
    ids.sort();
    assert_eq!(ids, (0..4).map(|n| format!("second-{n}")).collect::<Vec<_>>());
}

/// A writer that waits gets the lock from one that keeps taking it back (as an importer
/// does, batch after batch): it waits for about one of the other's holds, not until the
/// other stops. (When waiters only polled `LOCK`, the one letting it go took it back
/// before any poll came, and the waiter timed out.)
#[test]
fn a_waiting_writer_gets_its_turn_from_one_that_keeps_taking_the_lock() {
    use settee::store::lock::Lock;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    let t = TestStore::new();
    let root = t.root();
    let stop = AtomicBool::new(false);
    let hold = Duration::from_millis(20);
    std::thread::scope(|s| {
        let hog = s.spawn(|| {
            let mut holds = 0;
            while !stop.load(Ordering::Relaxed) {
                let lock = Lock::acquire(&root, Some(Duration::from_secs(60))).unwrap();
                std::thread::sleep(hold);
                drop(lock);
                holds += 1;
            }
            holds
        });
        std::thread::sleep(5 * hold);
        let mut waits = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let lock = Lock::acquire(&root, Some(Duration::from_secs(10)));
            waits.push((started.elapsed(), lock.is_ok()));
        }
        // Stop the other writer before asserting, so a failure does not hang the scope.
        stop.store(true, Ordering::Relaxed);
        for (waited, got) in waits {
            assert!(got, "never got the lock in {waited:?}");
            assert!(
                waited < Duration::from_secs(2),
                "waited {waited:?} for a writer holding {hold:?} at a time"
            );
        }
        assert!(hog.join().unwrap() >= 5, "the other writer kept its turns too");
    });
}

/// Generations written by [`child_writes_generations`]: each is one commit of `DOCS` documents.
const GENERATIONS: u64 = 120;
const DOCS: usize = 40;
/// Set (to the store's root) in the child process that writes the generations.
const WRITER_ENV: &str = "SETTEE_TEST_GENERATIONS_ROOT";

/// The writer half of [`a_reader_never_sees_part_of_another_process_commit`], run in a child
/// process (this test binary again); does nothing when run as an ordinary test. Generation
/// `g` updates every document to `{"gen": g}` in one commit; a checkpoint every 25
/// generations moves the readers to new files as well.
#[test]
fn child_writes_generations() {
    let Ok(root) = std::env::var(WRITER_ENV) else { return };
    let wait = Some(std::time::Duration::from_secs(30));
    let mut store =
        Store::open(std::path::Path::new(&root), OpenOptions { write: true, wait_for_lock: wait }).unwrap();
    let mut revs: Vec<Option<settee::RevId>> = (0..DOCS)
        .map(|d| store.get_winner(&id(&format!("doc-{d:02}"))).unwrap().map(|(rev, _)| rev))
        .collect();
    for g in 1..=GENERATIONS {
        let ops = (0..DOCS)
            .map(|d| settee::Op::Edit {
                id: id(&format!("doc-{d:02}")),
                base: revs[d].clone(),
                deleted: false,
                body: body(json!({"gen": g, "doc": d})),
            })
            .collect();
        // One write, one commit (split in two, the parent sees half generations and fails).
        let written = store.write(ops).unwrap();
        for (d, w) in written.into_iter().enumerate() {
            revs[d] = Some(w.unwrap().rev);
        }
        if g % 25 == 0 {
            store.checkpoint().unwrap();
        }
    }
}

/// A reader never sees part of a commit made by another process: while a child process
/// commits generations of 40 documents (all carrying the generation's number), this process
/// refreshes a read-only handle and reads every document from one snapshot, over and over;
/// each read finds all 40 at one generation, and generations only move forward.
#[test]
fn a_reader_never_sees_part_of_another_process_commit() {
    use std::time::{Duration, Instant};
    let t = TestStore::new();
    for d in 0..DOCS {
        put(&mut writer(&t), &format!("doc-{d:02}"), None, json!({"gen": 0, "doc": d})).unwrap();
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "shared::child_writes_generations", "--test-threads=1", "--quiet"])
        .env(WRITER_ENV, t.root())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = t.reader();
    let (mut seen, mut last) = (std::collections::BTreeSet::new(), 0);
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut exited = None;
    while last < GENERATIONS && Instant::now() < deadline {
        reader.refresh().unwrap();
        let view = reader.snapshot();
        let gens: Vec<u64> = (0..DOCS)
            .map(|d| winner_body(&view, &format!("doc-{d:02}")).unwrap()["gen"].as_u64().unwrap())
            .collect();
        assert!(gens.iter().all(|&g| g == gens[0]), "a read saw part of a commit: {gens:?}");
        assert!(gens[0] >= last, "went back from generation {last} to {}", gens[0]);
        last = gens[0];
        seen.insert(last);
        if exited.is_none() {
            exited = child.try_wait().unwrap();
        } else if last < GENERATIONS {
            // The writer is done: one more refresh must see its last commit.
            assert_eq!(exited.map(|s| s.success()), Some(true), "the writer failed");
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "the writer failed: {status}");
    assert_eq!(last, GENERATIONS, "the reader never saw the last generation");
    // Not a timing assertion about the machine: with 120 commits, the reader sees some of
    // the ones in between (or the check above would be empty).
    assert!(seen.len() > 2, "the reads did not overlap the writes: {seen:?}");
}

/// Set (to the store's root) in the child process of [`a_waiter_wakes_soon_after_another_process_commits`].
const SLOW_WRITER_ENV: &str = "SETTEE_TEST_SLOW_WRITER_ROOT";
const SLOW_PUTS: usize = 20;

fn micros_now() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    u64::try_from(since.as_micros()).unwrap()
}

/// The writer half of [`a_waiter_wakes_soon_after_another_process_commits`], run in a child
/// process; does nothing when run as an ordinary test. Puts `w00`.. one at a time, apart,
/// each carrying the time just before its write.
#[test]
fn child_puts_slowly() {
    let Ok(root) = std::env::var(SLOW_WRITER_ENV) else { return };
    let wait = Some(std::time::Duration::from_secs(30));
    let mut store =
        Store::open(std::path::Path::new(&root), OpenOptions { write: true, wait_for_lock: wait }).unwrap();
    for i in 0..SLOW_PUTS {
        std::thread::sleep(std::time::Duration::from_millis(80));
        put(&mut store, &format!("w{i:02}"), None, json!({"at": micros_now()})).unwrap();
    }
}

/// A handle waiting for the next sequence is woken soon after another process commits, not
/// at its next look at the files: the median delay from the start of a put in a child
/// process to the waiter here having it is under 50 ms (a waiter that only looked every
/// second, as it does for safety while the directory is watched, would take about 500 ms).
#[test]
fn a_waiter_wakes_soon_after_another_process_commits() {
    use std::time::{Duration, Instant};
    let t = TestStore::new();
    let mut reader = t.reader();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "shared::child_puts_slowly", "--test-threads=1", "--quiet"])
        .env(SLOW_WRITER_ENV, t.root())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut delays = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while delays.len() < SLOW_PUTS && Instant::now() < deadline {
        let seen = reader.last_seq();
        if !reader.wait_for_seq(seen, Duration::from_secs(5)).unwrap() {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            continue;
        }
        let now = micros_now();
        for change in reader.changes(seen) {
            let change = change.unwrap();
            let at = winner_body(&reader, change.id.as_str()).unwrap()["at"].as_u64().unwrap();
            delays.push(Duration::from_micros(now.saturating_sub(at)));
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "the writer failed: {status}");
    assert_eq!(delays.len(), SLOW_PUTS, "the waiter missed commits");
    delays.sort();
    let median = delays[SLOW_PUTS / 2];
    assert!(median < Duration::from_millis(50), "median wake {median:?}, all: {delays:?}");
}

/// Set (to the store's root) in the child process of [`a_put_gets_in_between_a_bulk_write`].
const BULK_ENV: &str = "SETTEE_TEST_BULK_ROOT";
const BULK_DOCS: usize = 60_000;

/// The writer half of [`a_put_gets_in_between_a_bulk_write`], run in a child process; does
/// nothing when run as an ordinary test: a put of `started`, then one bulk write.
#[test]
fn child_writes_in_bulk() {
    let Ok(root) = std::env::var(BULK_ENV) else { return };
    let wait = Some(std::time::Duration::from_secs(30));
    let mut store =
        Store::open(std::path::Path::new(&root), OpenOptions { write: true, wait_for_lock: wait }).unwrap();
    put(&mut store, "started", None, sample()).unwrap();
    let ops = (0..BULK_DOCS)
        .map(|i| settee::Op::Edit {
            id: id(&format!("bulk-{i:06}")),
            base: None,
            deleted: false,
            body: body(json!({"i": i})),
        })
        .collect();
    assert!(store.write_bulk(ops).unwrap().iter().all(|r| r.is_ok()));
}

/// A put from another process while a bulk write (an import's batch) holds the lock waits
/// for one of the bulk write's commits of at most 1,000 documents, not for the whole of it:
/// it is committed in between, with a sequence below the bulk write's last.
#[test]
fn a_put_gets_in_between_a_bulk_write() {
    use settee::store::lock::{Lock, FILE_NAME};
    use std::time::{Duration, Instant};
    let t = TestStore::new();
    let root = t.root();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "shared::child_writes_in_bulk", "--test-threads=1", "--quiet"])
        .env(BULK_ENV, &root)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut store = writer(&t);
    let deadline = Instant::now() + Duration::from_secs(60);
    while leaves(&store, "started").is_empty() && Instant::now() < deadline {
        store.refresh().unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    // `started` is readable before its commit lets the lock go: see the lock free once,
    // then held: by the bulk write, from its start to its end unless it lets it go.
    while Lock::try_acquire(&root, FILE_NAME).unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    while Lock::try_acquire(&root, FILE_NAME).unwrap().is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let rev = put(&mut store, "between", None, sample()).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "the bulk writer failed: {status}");
    store.refresh().unwrap();
    let seq = store.doc_ref(&id("between")).unwrap().unwrap().seq;
    assert_eq!(leaves(&store, "between"), vec![rev.to_string()]);
    assert_eq!(store.last_seq(), Seq(BULK_DOCS as u64 + 2));
    assert!(
        seq.0 > 1 && seq.0 < BULK_DOCS as u64 + 2,
        "the put waited for the whole bulk write (seq {seq:?} of {:?})",
        store.last_seq()
    );
}
