//! A 1 GiB attachment through the binary with bounded memory: `attach`, `attachment -o`,
//! `bundle create` and `clone` of the bundle, each with its peak memory checked against the
//! issue's bound (64 MiB above a small command's peak), and the bytes checked by MD5 at
//! every step. Release builds only (it moves several GiB through the disk).

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use md5::Digest as _;

use crate::rng::noise;
use crate::*;

const LEN: u64 = 1 << 30;
/// The bound above a small command's peak.
const BOUND_MIB: u64 = 64;

/// Run `settee ARGS` in `env` and return its peak resident memory in MiB, read from
/// `/proc/PID/status` (`VmHWM`, the high-water mark of its own address space since its
/// `exec`) every few milliseconds while it runs; the last reading before it exits is
/// taken, so growth in its last milliseconds could be missed, never invented.
fn peak_mib(env: &TestEnv, args: &[&str]) -> u64 {
    let mut child = env
        .command()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let exit = loop {
        if let Ok(text) = std::fs::read_to_string(&status) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            peak_kib = peak_kib.max(hwm.unwrap_or(0));
        }
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        std::thread::sleep(Duration::from_millis(3));
    };
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(exit.success(), "settee {args:?}: {stderr}");
    assert!(peak_kib > 0, "no reading of settee {args:?}'s memory");
    peak_kib / 1024
}

/// CouchDB's `md5-<base64>` of a file's bytes, read in pieces.
fn file_digest(path: &std::path::Path) -> String {
    let mut file = std::fs::File::open(path).unwrap();
    let mut md5 = md5::Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
    }
    format!("md5-{}", base64::engine::general_purpose::STANDARD.encode(md5.finalize()))
}

#[test]
#[cfg_attr(debug_assertions, ignore = "1 GiB through the disk: release builds only")]
fn a_1_gib_attachment_is_attached_read_bundled_and_cloned_in_bounded_memory() {
    let env = TestEnv::new();
    let source = env.path().join("big.bin");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&source).unwrap());
        for i in 0..LEN >> 20 {
            out.write_all(&noise(1 << 20, 1000 + i)).unwrap();
        }
        out.flush().unwrap();
    }
    let digest = file_digest(&source);
    std::fs::write(env.path().join("small.txt"), b"a small attachment").unwrap();
    let baseline = peak_mib(&env, &["attach", "small", "note.txt", "small.txt"]);
    let bound = baseline + BOUND_MIB;

    let attach = peak_mib(&env, &["attach", "big", "data.bin", "big.bin"]);
    assert!(attach < bound, "attach: {attach} MiB, bound {bound} MiB");
    std::fs::remove_file(&source).unwrap();
    let doc = env.get_json(&["big"]);
    assert_eq!(doc["_attachments"]["data.bin"]["digest"], digest.as_str());
    assert_eq!(doc["_attachments"]["data.bin"]["length"], LEN);

    let read = peak_mib(&env, &["attachment", "big", "data.bin", "-o", "out.bin"]);
    assert!(read < bound, "attachment: {read} MiB, bound {bound} MiB");
    assert_eq!(file_digest(&env.path().join("out.bin")), digest);
    std::fs::remove_file(env.path().join("out.bin")).unwrap();

    let bundle = peak_mib(&env, &["bundle", "create", "big.bundle"]);
    assert!(bundle < bound, "bundle create: {bundle} MiB, bound {bound} MiB");
    let clone = peak_mib(&env, &["clone", "big.bundle", "copy"]);
    assert!(clone < bound, "clone of the bundle: {clone} MiB, bound {bound} MiB");
    std::fs::remove_file(env.path().join("big.bundle")).unwrap();
    let copy = env.path().join("copy");
    let out = env
        .command()
        .current_dir(&copy)
        .args(["attachment", "big", "data.bin", "-o", "back.bin"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(file_digest(&copy.join("back.bin")), digest);
}
