// PouchDB (pouchdb-node) as the client of `settee serve`: replication both ways (documents,
// deletions, conflicts, _local checkpoints), live sync, allDocs, changes (longpoll and
// live), bulkGet, revsDiff and get with open_revs. Every wait is bounded.
//
// usage: node pouchdb.js POUCHDB_NODE_DIR URL TMPDIR
// Prints one JSON line of what it checked; exits 1 naming the first check that failed.
'use strict';
const [pouchDir, url, tmp] = process.argv.slice(2);
const PouchDB = require(pouchDir);
const assert = require('assert');

const local = new PouchDB(tmp + '/local');
const remote = new PouchDB(url);
const checked = [];

function check(name, fn) {
  return Promise.resolve().then(fn).then(() => checked.push(name), (e) => {
    e.message = name + ': ' + e.message;
    throw e;
  });
}

async function until(what, fn, ms = 15000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await fn()) return;
    } catch (e) {
      if (e.status !== 404) throw e;
    }
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// JSON with object members sorted: member order is not part of a document's value.
function stable(v) {
  if (Array.isArray(v)) return '[' + v.map(stable).join(',') + ']';
  if (v && typeof v === 'object') {
    return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + stable(v[k])).join(',') + '}';
  }
  return JSON.stringify(v);
}

// Every document's leaves with their histories, for comparing two databases.
async function trees(db) {
  const ids = new Set();
  const changes = await db.changes({ since: 0, style: 'all_docs' });
  for (const row of changes.results) ids.add(row.id);
  const out = {};
  for (const id of [...ids].sort()) {
    const leaves = await db.get(id, { open_revs: 'all', revs: true });
    out[id] = leaves
      .map((l) => stable(l.ok))
      .sort();
  }
  return out;
}

async function main() {
  // Documents made locally: plain, updated, deleted, and a conflict (two branches).
  const docs = [];
  for (let i = 0; i < 60; i++) docs.push({ _id: 'doc' + String(i).padStart(3, '0'), n: i, tags: ['a', i] });
  await local.bulkDocs(docs);
  const d1 = await local.get('doc001');
  await local.put({ ...d1, n: 1001 });
  const d2 = await local.get('doc002');
  await local.remove(d2);
  await local.bulkDocs(
    [
      { _id: 'clash', _rev: '2-aaa', _revisions: { start: 2, ids: ['aaa', 'root'] }, side: 'a' },
      { _id: 'clash', _rev: '2-bbb', _revisions: { start: 2, ids: ['bbb', 'root'] }, side: 'b' },
    ],
    { new_edits: false },
  );
  await local.put({ _id: '_design/app', views: { byN: { map: 'function (d) { emit(d.n); }' } } });

  let push;
  await check('push', async () => {
    push = await local.replicate.to(remote);
    assert.strictEqual(push.ok, true);
    assert.strictEqual(push.doc_write_failures, 0);
    assert.ok(push.docs_written >= 63, 'docs_written ' + push.docs_written);
  });
  await check('push again moves nothing (_local checkpoint)', async () => {
    const again = await local.replicate.to(remote);
    assert.strictEqual(again.docs_written, 0);
    assert.strictEqual(again.docs_read, 0);
  });
  await check('info', async () => {
    const info = await remote.info();
    assert.strictEqual(info.doc_count, 61);
    assert.strictEqual(info.doc_del_count, 1);
  });
  await check('allDocs', async () => {
    const all = await remote.allDocs({ include_docs: true, startkey: 'doc001', endkey: 'doc005' });
    assert.deepStrictEqual(all.rows.map((r) => r.id), ['doc001', 'doc003', 'doc004', 'doc005']);
    assert.strictEqual(all.rows[0].doc.n, 1001);
    const keys = await remote.allDocs({ keys: ['doc002', 'nope', 'doc003'] });
    assert.strictEqual(keys.rows[0].value.deleted, true);
    assert.strictEqual(keys.rows[1].error, 'not_found');
    const desc = await remote.allDocs({ descending: true, limit: 2, skip: 1 });
    assert.deepStrictEqual(desc.rows.map((r) => r.id), ['doc058', 'doc057']);
  });
  await check('get with open_revs and conflicts', async () => {
    const leaves = await remote.get('clash', { open_revs: 'all' });
    assert.deepStrictEqual(leaves.map((l) => l.ok._rev).sort(), ['2-aaa', '2-bbb']);
    const winner = await remote.get('clash', { conflicts: true });
    assert.strictEqual(winner._rev, '2-bbb');
    assert.deepStrictEqual(winner._conflicts, ['2-aaa']);
    const some = await remote.get('clash', { open_revs: ['2-aaa', '3-zzz'] });
    assert.strictEqual(some.length, 2);
    assert.ok(some.some((r) => r.missing === '3-zzz'));
  });
  await check('bulkGet', async () => {
    const got = await remote.bulkGet({ docs: [{ id: 'doc003' }, { id: 'clash', rev: '2-aaa' }, { id: 'nope' }], revs: true });
    assert.strictEqual(got.results.length, 3);
    assert.strictEqual(got.results[0].docs[0].ok.n, 3);
    assert.strictEqual(got.results[1].docs[0].ok.side, 'a');
    assert.deepStrictEqual(got.results[1].docs[0].ok._revisions, { start: 2, ids: ['aaa', 'root'] });
    assert.ok(got.results[2].docs[0].error);
  });
  await check('revsDiff', async () => {
    const diff = await remote.revsDiff({ clash: ['2-aaa', '3-ccc'], fresh: ['1-x'] });
    assert.deepStrictEqual(diff.clash.missing, ['3-ccc']);
    assert.deepStrictEqual(diff.fresh.missing, ['1-x']);
  });
  await check('changes', async () => {
    const c = await remote.changes({ since: 0, style: 'all_docs' });
    assert.strictEqual(c.results.length, 62);
    const clash = c.results.find((r) => r.id === 'clash');
    assert.strictEqual(clash.changes.length, 2);
    assert.ok(c.results.find((r) => r.id === 'doc002').deleted);
    const limited = await remote.changes({ since: 0, limit: 5 });
    assert.strictEqual(limited.results.length, 5);
    const rest = await remote.changes({ since: limited.last_seq });
    assert.strictEqual(rest.results.length, 57);
    const ids = await remote.changes({ doc_ids: ['doc004', 'doc010'] });
    assert.deepStrictEqual(ids.results.map((r) => r.id).sort(), ['doc004', 'doc010']);
    const sel = await remote.changes({ filter: '_selector', selector: { n: { $gt: 57 } } });
    assert.deepStrictEqual(sel.results.map((r) => r.id).sort(), ['doc001', 'doc058', 'doc059']);
  });
  await check('changes longpoll wakes on a write', async () => {
    const info = await remote.info();
    const waiting = new Promise((resolve, reject) => {
      const feed = remote
        .changes({ since: info.update_seq, live: true, include_docs: true, timeout: false, heartbeat: 1000 })
        .on('change', (ch) => {
          feed.cancel();
          resolve(ch);
        })
        .on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 300));
    await remote.put({ _id: 'woken', by: 'longpoll' });
    const ch = await Promise.race([waiting, new Promise((_, rej) => setTimeout(() => rej(new Error('no change')), 10000))]);
    assert.strictEqual(ch.id, 'woken');
    assert.strictEqual(ch.doc.by, 'longpoll');
  });
  await check('pull brings remote writes, deletions and conflicts', async () => {
    const r3 = await remote.get('doc003');
    await remote.put({ ...r3, n: 3003 });
    const r4 = await remote.get('doc004');
    await remote.remove(r4);
    await remote.bulkDocs([{ _id: 'clash', _rev: '3-ccc', _revisions: { start: 3, ids: ['ccc', 'aaa', 'root'] }, side: 'c' }], { new_edits: false });
    const pull = await local.replicate.from(remote);
    assert.strictEqual(pull.ok, true);
    assert.strictEqual(pull.docs_written, 4);
    assert.strictEqual((await local.get('doc003')).n, 3003);
    await assert.rejects(local.get('doc004'), (e) => e.status === 404);
    const leaves = await local.get('clash', { open_revs: 'all' });
    assert.deepStrictEqual(leaves.map((l) => l.ok._rev).sort(), ['2-bbb', '3-ccc']);
  });
  await check('live sync picks up writes on either side', async () => {
    const sync = local.sync(remote, { live: true, retry: true });
    try {
      await remote.put({ _id: 'from-remote', v: 1 });
      await until('from-remote to reach local', async () => (await local.get('from-remote')).v === 1);
      await local.put({ _id: 'from-local', v: 2 });
      await until('from-local to reach remote', async () => (await remote.get('from-local')).v === 2);
      const fl = await remote.get('from-local');
      await remote.put({ ...fl, v: 3 });
      await until('the edit to reach local', async () => (await local.get('from-local')).v === 3);
    } finally {
      sync.cancel();
    }
  });
  await check('trees identical', async () => {
    const [a, b] = [await trees(local), await trees(remote)];
    assert.deepStrictEqual(Object.keys(b), Object.keys(a));
    for (const id of Object.keys(a)) assert.deepStrictEqual(b[id], a[id], id);
  });
  console.log(JSON.stringify({ ok: true, checked }));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error('pouchdb check failed: ' + (e && e.stack ? e.stack : e));
    process.exit(1);
  },
);
