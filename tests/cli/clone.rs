//! Clone: a new store appears whole or not at all, and an interrupted clone can run again.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::*;

/// A store of `n` documents, imported in one go.
fn source(n: usize) -> TestEnv {
    let env = TestEnv::new();
    let mut input = String::new();
    for i in 0..n {
        input.push_str(&format!("{{\"_id\":\"doc{i:06}\",\"i\":{i},\"text\":\"document number {i}\"}}\n"));
    }
    env.settee_stdin(["import", "-"], &input).ok();
    env
}

fn export(env: &TestEnv, dir: &std::path::Path) -> String {
    let out = env.command().args(["export", "--all-leaves"]).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_clone_killed_at_any_moment_can_be_run_again() {
    let src = source(3000);
    let expected = export(&src, src.path());
    let dst = TestEnv::bare();
    let copy = dst.path().join("copy");
    let mut interrupted = 0;
    for delay_ms in [0u64, 1, 2, 3, 4, 6, 8, 12, 16, 25, 40, 60, 90, 140] {
        let mut child = dst
            .command()
            .args(["clone", src.store_dir().to_str().unwrap(), "copy"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let start = Instant::now();
        let mut finished = false;
        while start.elapsed() < Duration::from_millis(delay_ms) {
            if child.try_wait().unwrap().is_some() {
                finished = true;
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        if !finished {
            // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
            unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        }
        let status = child.wait().unwrap();
        // A kill that lands after the rename finds the clone complete: `.settee` is either
        // absent or whole, which the checks below verify either way.
        if status.code().is_none() && !copy.join(".settee").exists() {
            interrupted += 1;
        }
        assert!(
            !copy.join(".settee").exists() || copy.join(".settee/manifest").exists(),
            "a clone killed after {delay_ms} ms left a .settee without a manifest"
        );
        if !copy.join(".settee").exists() {
            // run it again, into the same directory, without any cleanup by hand; a kill
            // during the replication log's write on the source left an unacknowledged commit
            // there, which this run cuts with a warning
            let again = dst.settee(["clone", src.store_dir().to_str().unwrap(), "copy"]);
            assert_eq!(again.code, crate::OK, "{}", again.stderr);
            assert!(
                again.stderr.is_empty()
                    || again
                        .stderr
                        .starts_with("warning: cut an interrupted commit that was never acknowledged"),
                "{}",
                again.stderr
            );
        }
        assert!(!copy.join(".settee-clone").exists(), "the building directory is gone");
        assert_eq!(export(&dst, &copy), expected, "after a kill at {delay_ms} ms");
        let fsck = dst.command().arg("fsck").current_dir(&copy).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&fsck.stdout), "ok\n");
        std::fs::remove_dir_all(&copy).unwrap();
    }
    assert!(interrupted >= 5, "only {interrupted} kills landed before a clone finished");
}

#[test]
fn a_clone_replaces_what_an_interrupted_clone_left() {
    let src = source(20);
    let dst = TestEnv::bare();
    // what a clone killed in its first milliseconds leaves: a half-made store, no manifest
    let left = dst.path().join("copy/.settee-clone");
    std::fs::create_dir_all(left.join("packs")).unwrap();
    std::fs::write(left.join("config"), b"{\"format\":1}").unwrap();
    dst.settee(["clone", src.store_dir().to_str().unwrap(), "copy"]).ok();
    assert!(!left.exists());
    assert_eq!(export(&dst, &dst.path().join("copy")), export(&src, src.path()));
    // a second clone into the same place is refused: the store is there now
    let msg = dst.settee(["clone", src.store_dir().to_str().unwrap(), "copy"]).fails(USAGE);
    assert!(msg.contains("exists already"), "{msg}");
}

#[test]
fn a_failed_clone_leaves_nothing_behind() {
    let src = source(20);
    // the source is locked by a writer: the clone fails after it created its store
    let holder = settee::store::lock::Lock::acquire(&src.store_dir(), None).unwrap();
    let dst = TestEnv::bare();
    dst.settee(["--no-wait", "clone", src.store_dir().to_str().unwrap(), "copy"]).fails(ERROR);
    assert!(!dst.path().join("copy").exists(), "the directory the clone made is removed");
    std::fs::create_dir(dst.path().join("mine")).unwrap();
    dst.settee(["--no-wait", "clone", src.store_dir().to_str().unwrap(), "mine"]).fails(ERROR);
    assert!(dst.path().join("mine").is_dir(), "a directory that was there stays");
    assert_eq!(std::fs::read_dir(dst.path().join("mine")).unwrap().count(), 0);
    drop(holder);
    dst.settee(["clone", src.store_dir().to_str().unwrap(), "mine"]).ok();
}
