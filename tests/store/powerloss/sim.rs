//! A simulated disk that loses power: it passes every write through to the real files (so
//! the store reads what it wrote), keeps a model of what a power loss would leave, fails
//! every operation from the K-th on, and then builds that image in a fresh directory.
//!
//! The model, after the contract in `settee::disk`:
//! - per file (an inode: hard links share one), its bytes as of its last `sync_data` or
//!   `sync_all`, plus the writes and cuts since, in order;
//! - per directory, its entries as of its last `sync_dir`, and its entries now.
//!
//! The image keeps each file's synced bytes and, at random for each later write or cut: all
//! of it, none, a prefix of it, or zeros in its place; and, for each name whose entry changed
//! since its directory's last sync, at random the synced entry or the current one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use settee::disk::{Disk, File};

/// A small, seeded random number generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

#[derive(Clone, Debug)]
enum Change {
    Write { at: u64, bytes: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Default)]
struct Node {
    synced: Vec<u8>,
    since: Vec<Change>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    File(usize),
    Dir,
}

#[derive(Debug, Default)]
struct Dir {
    synced: BTreeMap<OsString, Entry>,
    now: BTreeMap<OsString, Entry>,
}

#[derive(Debug, Default)]
struct State {
    nodes: Vec<Node>,
    dirs: HashMap<PathBuf, Dir>,
    ops: u64,
    /// The operation that meets the power loss (`u64::MAX`: none).
    cut_at: u64,
}

/// The simulated disk over the real directory `base`.
#[derive(Debug)]
pub struct SimDisk(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    base: PathBuf,
    state: Mutex<State>,
}

impl Inner {
    /// Count one operation; fail it if the power is off.
    fn tick(&self) -> io::Result<std::sync::MutexGuard<'_, State>> {
        let mut state = self.state.lock().unwrap();
        state.ops += 1;
        if state.ops > state.cut_at {
            return Err(power_loss());
        }
        Ok(state)
    }
}

fn power_loss() -> io::Error {
    io::Error::other("simulated power loss")
}

impl SimDisk {
    /// Model `base` (which must exist) and everything under it as durable; lose power at
    /// operation `cut_at` (0-based), or never.
    pub fn new(base: &Path, cut_at: Option<u64>) -> Arc<SimDisk> {
        let mut state = State { cut_at: cut_at.unwrap_or(u64::MAX), ..State::default() };
        scan(&mut state, base);
        Arc::new(SimDisk(Arc::new(Inner { base: base.into(), state: Mutex::new(state) })))
    }

    /// Operations counted so far (those that met the power loss included).
    pub fn ops(&self) -> u64 {
        self.0.state.lock().unwrap().ops
    }

    /// Whether the power is off.
    pub fn lost_power(&self) -> bool {
        let s = self.0.state.lock().unwrap();
        s.ops > s.cut_at
    }

    fn split(&self, path: &Path) -> io::Result<(PathBuf, OsString)> {
        let base = &self.0.base;
        match (path.parent(), path.file_name()) {
            (Some(dir), Some(name)) if path.starts_with(base) && path != base => {
                Ok((dir.into(), name.into()))
            }
            _ => Err(io::Error::other(format!("{} is outside the simulated disk", path.display()))),
        }
    }

    /// Build what a power loss now would leave, under `into` (which must exist).
    pub fn materialise(&self, rng: &mut Rng, into: &Path) {
        let state = self.0.state.lock().unwrap();
        let mut contents: HashMap<usize, Vec<u8>> = HashMap::new();
        build(&state, &mut Some(rng), &self.0.base, into, &mut contents);
    }

    /// Build what a power loss now would leave if nothing unsynced reached the disk.
    pub fn materialise_synced(&self, into: &Path) {
        let state = self.0.state.lock().unwrap();
        build(&state, &mut None, &self.0.base, into, &mut HashMap::new());
    }
}

fn scan(state: &mut State, dir: &Path) {
    let mut entries = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let path = e.path();
        if e.file_type().unwrap().is_dir() {
            scan(state, &path);
            entries.insert(e.file_name(), Entry::Dir);
        } else {
            state.nodes.push(Node { synced: std::fs::read(&path).unwrap(), since: Vec::new() });
            entries.insert(e.file_name(), Entry::File(state.nodes.len() - 1));
        }
    }
    state.dirs.insert(dir.into(), Dir { synced: entries.clone(), now: entries });
}

/// The bytes a power loss leaves of `node` (without `rng`: the synced ones).
fn image_of(node: &Node, rng: &mut Option<&mut Rng>) -> Vec<u8> {
    let mut bytes = node.synced.clone();
    let Some(rng) = rng else { return bytes };
    // Often everything or nothing since the sync reaches the disk; otherwise each change
    // on its own.
    let mode = rng.below(4);
    for change in &node.since {
        let fate = match mode {
            0 => 0,
            1 => 1,
            _ => rng.below(4),
        };
        match (change, fate) {
            (_, 0) => {}
            (Change::SetLen(len), _) => bytes.resize(*len as usize, 0),
            (Change::Write { at, bytes: w }, fate) => {
                let kept = match fate {
                    1 => w.len(),
                    _ => rng.below(w.len() as u64 + 1) as usize,
                };
                let at = *at as usize;
                if bytes.len() < at + kept {
                    bytes.resize(at + kept, 0);
                }
                if fate == 3 {
                    // The length grew but the pages never reached the disk.
                    bytes[at..at + kept].fill(0);
                } else {
                    bytes[at..at + kept].copy_from_slice(&w[..kept]);
                }
            }
        }
    }
    bytes
}

fn build(
    state: &State,
    rng: &mut Option<&mut Rng>,
    dir: &Path,
    into: &Path,
    contents: &mut HashMap<usize, Vec<u8>>,
) {
    let Some(d) = state.dirs.get(dir) else { return };
    let names: BTreeSet<&OsString> = d.synced.keys().chain(d.now.keys()).collect();
    for name in names {
        let (synced, now) = (d.synced.get(name), d.now.get(name));
        let keep_synced = match rng {
            Some(rng) => rng.chance(2),
            None => true,
        };
        let entry = if synced == now || keep_synced { synced } else { now };
        match entry {
            None => {}
            Some(Entry::Dir) => {
                std::fs::create_dir(into.join(name)).unwrap();
                build(state, rng, &dir.join(name), &into.join(name), contents);
            }
            Some(Entry::File(n)) => {
                let bytes = contents.entry(*n).or_insert_with(|| image_of(&state.nodes[*n], rng));
                std::fs::write(into.join(name), bytes).unwrap();
            }
        }
    }
}

impl Disk for SimDisk {
    fn create(&self, path: &Path, exclusive: bool) -> io::Result<Box<dyn File>> {
        let mut state = self.0.tick()?;
        let (dir, name) = self.split(path)?;
        let real = settee::disk::RealDisk.create(path, exclusive)?;
        let d = state.dirs.get(&dir).ok_or_else(|| io::Error::other("directory not modelled"))?;
        let node = match d.now.get(&name) {
            Some(Entry::File(n)) => {
                let n = *n;
                state.nodes[n].since.push(Change::SetLen(0));
                n
            }
            _ => {
                state.nodes.push(Node::default());
                let n = state.nodes.len() - 1;
                state.dirs.get_mut(&dir).unwrap().now.insert(name, Entry::File(n));
                n
            }
        };
        drop(state);
        Ok(Box::new(SimFile { disk: self.0.clone(), node, real }))
    }

    fn open(&self, path: &Path) -> io::Result<Box<dyn File>> {
        let state = self.0.tick()?;
        let (dir, name) = self.split(path)?;
        let node = match state.dirs.get(&dir).and_then(|d| d.now.get(&name)) {
            Some(Entry::File(n)) => *n,
            _ => return Err(io::Error::new(io::ErrorKind::NotFound, "no such file in the model")),
        };
        let real = settee::disk::RealDisk.open(path)?;
        drop(state);
        Ok(Box::new(SimFile { disk: self.0.clone(), node, real }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.0.tick()?;
        let (from_dir, from_name) = self.split(from)?;
        let (to_dir, to_name) = self.split(to)?;
        std::fs::rename(from, to)?;
        let entry = state.dirs.get_mut(&from_dir).unwrap().now.remove(&from_name).unwrap();
        state.dirs.get_mut(&to_dir).unwrap().now.insert(to_name, entry);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.0.tick()?;
        let (dir, name) = self.split(path)?;
        std::fs::remove_file(path)?;
        state.dirs.get_mut(&dir).unwrap().now.remove(&name);
        Ok(())
    }

    fn hard_link(&self, original: &Path, link: &Path) -> io::Result<()> {
        let mut state = self.0.tick()?;
        let (from_dir, from_name) = self.split(original)?;
        let (to_dir, to_name) = self.split(link)?;
        std::fs::hard_link(original, link)?;
        let entry = state.dirs[&from_dir].now[&from_name];
        state.dirs.get_mut(&to_dir).unwrap().now.insert(to_name, entry);
        Ok(())
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.0.tick()?;
        self.split(path)?;
        std::fs::create_dir_all(path)?;
        let mut missing: Vec<&Path> = path.ancestors().take_while(|p| !state.dirs.contains_key(*p)).collect();
        missing.reverse();
        for p in missing {
            let (dir, name) = self.split(p)?;
            state.dirs.get_mut(&dir).unwrap().now.insert(name, Entry::Dir);
            state.dirs.insert(p.into(), Dir::default());
        }
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut state = self.0.tick()?;
        if Some(path) == self.0.base.parent() {
            // Outside the model (the parent of the store's work tree): nothing to do.
            return Ok(());
        }
        let d = state.dirs.get_mut(path).ok_or_else(|| io::Error::other("directory not modelled"))?;
        d.synced = d.now.clone();
        Ok(())
    }
}

/// A file of the simulated disk.
#[derive(Debug)]
struct SimFile {
    disk: Arc<Inner>,
    node: usize,
    real: Box<dyn File>,
}

impl File for SimFile {
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut state = self.disk.tick()?;
        self.real.write_all_at(buf, offset)?;
        state.nodes[self.node].since.push(Change::Write { at: offset, bytes: buf.to_vec() });
        Ok(())
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.real.read_exact_at(buf, offset)
    }

    fn size(&self) -> io::Result<u64> {
        self.real.size()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut state = self.disk.tick()?;
        self.real.set_len(len)?;
        state.nodes[self.node].since.push(Change::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut state = self.disk.tick()?;
        let node = &mut state.nodes[self.node];
        for change in std::mem::take(&mut node.since) {
            match change {
                Change::SetLen(len) => node.synced.resize(len as usize, 0),
                Change::Write { at, bytes } => {
                    let (at, end) = (at as usize, at as usize + bytes.len());
                    if node.synced.len() < end {
                        node.synced.resize(end, 0);
                    }
                    node.synced[at..end].copy_from_slice(&bytes);
                }
            }
        }
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }
}
