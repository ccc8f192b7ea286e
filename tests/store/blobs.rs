//! Blobs: attachment bytes streamed in and out of `blobs/`, named by content, stored once,
//! compressed only when it pays, and never returned wrong.

use std::io::Read;

use md5::Digest as _;
use quickcheck::{QuickCheck, TestResult};
use settee::blob::{self, Compression};
use settee::ErrorKind;

use crate::TestStore;

#[path = "../support/rng.rs"]
mod rng;

/// `len` pseudo-random (incompressible) bytes from `seed`, generated as they are read.
struct Noise {
    rng: rng::Rng,
    left: u64,
}

impl Noise {
    fn new(seed: u64, left: u64) -> Noise {
        Noise { rng: rng::Rng(seed | 1), left }
    }
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize / 8 * 8;
        let n = if n == 0 { (buf.len() as u64).min(self.left) as usize } else { n };
        for chunk in buf[..n].chunks_mut(8) {
            let word = self.rng.next().to_be_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn noise(seed: u64, len: u64) -> Vec<u8> {
    let mut v = Vec::new();
    Noise::new(seed, len).read_to_end(&mut v).unwrap();
    v
}

fn read_all(t: &TestStore, id: &settee::ObjectId) -> settee::Result<Vec<u8>> {
    let mut reader = t.store.open_blob(id)?.expect("blob present");
    let mut out = Vec::new();
    reader.copy_to(&mut out)?;
    Ok(out)
}

fn md5(bytes: &[u8]) -> [u8; 16] {
    md5::Md5::digest(bytes).into()
}

fn blob_files(t: &TestStore) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> =
        std::fs::read_dir(t.root().join("blobs")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

#[test]
fn round_trip_across_chunks_with_and_without_a_known_length() {
    let t = TestStore::new();
    let chunk = u64::from(blob::CHUNK_LEN);
    for (i, len) in [0, 1, 5, chunk - 1, chunk, chunk + 1, 3 * chunk + 12345].into_iter().enumerate() {
        let bytes = noise(i as u64, len);
        for known in [Some(len), None] {
            let info = t.store.write_blob(&mut &bytes[..], known, Compression::Sample).unwrap();
            assert_eq!(info.id, blob::id_of(&bytes), "len {len}");
            assert_eq!(info.len, len);
            assert_eq!(info.md5, md5(&bytes));
            assert_eq!(read_all(&t, &info.id).unwrap(), bytes, "len {len}");
            assert_eq!(t.store.verify_blob(&info.id).unwrap(), Some(info));
        }
    }
    // Each distinct content once, and no temporary file left behind.
    assert_eq!(blob_files(&t).len(), 7);
    assert_eq!(t.store.blob_stats().unwrap().blobs, 7);
}

#[test]
fn the_same_bytes_are_stored_once() {
    let t = TestStore::new();
    let bytes = noise(7, 1 << 20);
    let first = t.store.write_blob(&mut &bytes[..], None, Compression::Sample).unwrap();
    for _ in 0..5 {
        assert_eq!(t.store.write_blob(&mut &bytes[..], Some(1 << 20), Compression::Never).unwrap(), first);
    }
    let stats = t.store.blob_stats().unwrap();
    assert_eq!(stats.blobs, 1);
    assert!(stats.bytes < (1 << 20) + 1024, "{} bytes for one 1 MiB blob", stats.bytes);
}

#[test]
fn compressed_only_when_it_pays() {
    let t = TestStore::new();
    let text = "settee keeps attachments once. ".repeat(100_000).into_bytes();
    let random = noise(3, text.len() as u64);
    let size = |id: &settee::ObjectId| std::fs::metadata(blob::path(&t.root(), id)).unwrap().len();
    for c in [Compression::Always, Compression::Sample] {
        let info = t.store.write_blob(&mut &text[..], None, c).unwrap();
        assert!(size(&info.id) < text.len() as u64 / 10, "{c:?}: {} bytes", size(&info.id));
        assert_eq!(read_all(&t, &info.id).unwrap(), text);
    }
    for c in [Compression::Always, Compression::Sample, Compression::Never] {
        let info = t.store.write_blob(&mut &random[..], None, c).unwrap();
        // Raw chunks: the header and 12 bytes per chunk more than the content.
        assert!(size(&info.id) <= random.len() as u64 + 48 + 12 * 4, "{c:?}: {} bytes", size(&info.id));
        assert_eq!(read_all(&t, &info.id).unwrap(), random);
    }
    let info = t.store.write_blob(&mut &text[..], None, Compression::Never).unwrap();
    assert!(size(&info.id) > text.len() as u64, "Never stores raw");
}

#[test]
fn a_flipped_byte_is_an_error_never_wrong_bytes() {
    let t = TestStore::new();
    let chunk = blob::CHUNK_LEN as usize;
    for compression in [Compression::Never, Compression::Always] {
        let mut bytes = noise(11, 3 * chunk as u64);
        bytes[..chunk].fill(b'a'); // a compressible first chunk
        let info = t.store.write_blob(&mut &bytes[..], None, compression).unwrap();
        let path = blob::path(&t.root(), &info.id);
        let sound = std::fs::read(&path).unwrap();
        for at in [3, 20, 30, 45, 50, 60, sound.len() / 2, sound.len() - 1] {
            let mut damaged = sound.clone();
            damaged[at] ^= 0x10;
            std::fs::write(&path, &damaged).unwrap();
            let err = t.store.verify_blob(&info.id).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Corrupt, "flip at {at}: {err}");
            // Streaming: what was handed out before the error is a prefix of the blob.
            if let Ok(Some(mut reader)) = t.store.open_blob(&info.id) {
                let mut out = Vec::new();
                let result = reader.copy_to(&mut out);
                assert!(result.is_err(), "flip at {at} read back without an error");
                assert_eq!(out[..], bytes[..out.len()], "flip at {at} gave wrong bytes");
            }
        }
        std::fs::write(&path, &sound).unwrap();
        assert_eq!(read_all(&t, &info.id).unwrap(), bytes);
        // A truncated file and trailing garbage are damage too.
        std::fs::write(&path, &sound[..sound.len() - 1]).unwrap();
        assert_eq!(t.store.verify_blob(&info.id).unwrap_err().kind(), ErrorKind::Corrupt);
        let mut longer = sound.clone();
        longer.push(0);
        std::fs::write(&path, &longer).unwrap();
        assert_eq!(t.store.verify_blob(&info.id).unwrap_err().kind(), ErrorKind::Corrupt);
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn a_length_other_than_announced_is_refused_and_leaves_nothing() {
    let t = TestStore::new();
    let bytes = noise(5, 100);
    for announced in [99, 101, 0] {
        let err = t.store.write_blob(&mut &bytes[..], Some(announced), Compression::Sample).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
    assert_eq!(blob_files(&t), Vec::<std::path::PathBuf>::new());
    assert!(t.store.open_blob(&blob::id_of(&bytes)).unwrap().is_none());
}

/// A large blob hashes its MD5 on a second thread while the caller goes on: a reader or
/// writer given up halfway stops it cleanly, and a read through `Read` in small pieces
/// sees every byte in order.
#[test]
fn large_blobs_abandoned_halfway_or_read_in_small_pieces() {
    let t = TestStore::new();
    let chunk = u64::from(blob::CHUNK_LEN);
    let bytes = noise(11, 6 * chunk + 77);
    let info = t.store.write_blob(&mut &bytes[..], None, Compression::Never).unwrap();
    assert_eq!((info.id, info.md5), (blob::id_of(&bytes), md5(&bytes)));

    let mut writer = t.store.blob_writer(Some(8 * chunk), Compression::Never).unwrap();
    writer.write(&bytes[..(5 * chunk) as usize]).unwrap();
    drop(writer);
    assert_eq!(blob_files(&t).len(), 1, "an abandoned writer left its temporary file");

    let mut reader = t.store.open_blob(&info.id).unwrap().unwrap();
    assert_eq!(reader.next_chunk().unwrap(), &bytes[..chunk as usize]);
    assert_eq!(reader.next_chunk().unwrap(), &bytes[chunk as usize..2 * chunk as usize]);
    drop(reader);

    let mut reader = t.store.open_blob(&info.id).unwrap().unwrap();
    let mut out = Vec::new();
    let mut piece = [0u8; 100_003];
    loop {
        let n = reader.read(&mut piece).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&piece[..n]);
    }
    assert!(out == bytes, "bytes read in pieces differ");
}

#[test]
fn a_read_only_handle_writes_no_blob_and_an_older_store_gains_the_directory() {
    let mut t = TestStore::new();
    let reader = t.reader();
    assert_eq!(
        reader.write_blob(&mut &b"x"[..], None, Compression::Sample).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    // A store made before blobs existed has no `blobs/`: readers find no blob, the first
    // writer open makes the directory.
    std::fs::remove_dir(t.root().join("blobs")).unwrap();
    let old = t.reader();
    assert!(old.open_blob(&blob::id_of(b"x")).unwrap().is_none());
    assert_eq!(old.blob_stats().unwrap(), settee::store::BlobStats::default());
    t.reopen();
    let info = t.store.write_blob(&mut &b"x"[..], None, Compression::Sample).unwrap();
    assert_eq!(read_all(&t, &info.id).unwrap(), b"x");
}

#[test]
fn digest_matches_couchdb() {
    let t = TestStore::new();
    let info =
        t.store.write_blob(&mut &b"This is a base64 encoded text"[..], None, Compression::Always).unwrap();
    // CouchDB's inline-attachment example (data "VGhpcyBpcyBhIGJhc2U2NCBlbmNvZGVkIHRleHQ=")
    // reports this digest; Python's hashlib and base64 agree.
    assert_eq!(info.digest(), "md5-aEI7pOYCRBLTRQvvqYrrJQ==");
}

#[test]
fn random_blobs_round_trip() {
    fn prop(seed: u64, len: u32, run: u8, known: bool) -> TestResult {
        let len = u64::from(len % (3 * blob::CHUNK_LEN));
        let mut bytes = noise(seed, len);
        // Runs of one byte make some chunks compressible and others not.
        let run = usize::from(run) * 4096;
        for piece in bytes.chunks_mut(run.max(1) * 3).step_by(2) {
            piece.fill(run as u8);
        }
        let t = TestStore::new();
        let info = t.store.write_blob(&mut &bytes[..], known.then_some(len), Compression::Sample).unwrap();
        let back = read_all(&t, &info.id).unwrap();
        TestResult::from_bool(back == bytes && info.md5 == md5(&bytes) && info.id == blob::id_of(&bytes))
    }
    QuickCheck::new().tests(24).quickcheck(prop as fn(u64, u32, u8, bool) -> TestResult);
}

/// 1 GiB streamed in and out: memory stays bounded (the bench `blobs` measures the peak
/// RSS; here a process-wide high-water mark would include the other tests).
#[test]
#[cfg_attr(debug_assertions, ignore = "1 GiB: release builds only")]
fn a_1_gib_blob_is_written_and_read_back_streamed() {
    let t = TestStore::new();
    let len = 1u64 << 30;
    let info = t.store.write_blob(&mut Noise::new(42, len), Some(len), Compression::Sample).unwrap();
    assert_eq!(info.len, len);
    let mut reader = t.store.open_blob(&info.id).unwrap().unwrap();
    let mut expected = Noise::new(42, len);
    let mut want = vec![0u8; blob::CHUNK_LEN as usize];
    let mut total = 0u64;
    loop {
        let got = reader.next_chunk().unwrap();
        if got.is_empty() {
            break;
        }
        expected.read_exact(&mut want[..got.len()]).unwrap();
        assert!(got == &want[..got.len()], "bytes differ in the chunk at {total}");
        total += got.len() as u64;
    }
    assert_eq!(total, len);
    let size = std::fs::metadata(blob::path(&t.root(), &info.id)).unwrap().len();
    assert!(size < len + len / 1000, "{size} bytes on disk for 1 GiB of noise");
}

#[test]
fn verify_names_a_damaged_blob() {
    let t = TestStore::new();
    let info = t.store.write_blob(&mut &noise(9, 5000)[..], None, Compression::Never).unwrap();
    assert_eq!(t.store.verify().unwrap(), vec![]);
    let path = blob::path(&t.root(), &info.id);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 4;
    std::fs::write(&path, bytes).unwrap();
    let findings = t.store.verify().unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].place, format!("blob {}", info.id));
}

#[test]
fn a_writer_open_removes_temporary_files_of_gone_writers_only() {
    let mut t = TestStore::new();
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let gone = child.id();
    child.wait().unwrap();
    let dir = t.root().join("blobs");
    let stale = dir.join(format!("tmp-{gone}-0"));
    let live = dir.join(format!("tmp-{}-999", std::process::id()));
    std::fs::write(&stale, b"half a blob").unwrap();
    std::fs::write(&live, b"a blob being written").unwrap();
    t.reopen();
    assert!(!stale.exists(), "a dead writer's temporary file is left");
    assert!(live.exists(), "a live writer's temporary file was removed");
    std::fs::remove_file(&live).unwrap();
}
