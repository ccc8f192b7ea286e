// PouchDB (pouchdb-node) writing and reading attachments through `settee serve`:
// putAttachment / getAttachment / removeAttachment on the server, then documents with
// attachments (text, binary, one shared by two documents, one kept through a body-only edit)
// replicated PouchDB -> settee serve -> another PouchDB, their bytes and digests compared.
// Every wait is bounded.
//
// usage: node pouchdb-attachments.js POUCHDB_NODE_DIR URL TMPDIR
// Prints one JSON line of what it checked; exits 1 naming the first check that failed.
// Writes TMPDIR/big.bin, the bytes of d2's attachment, for the caller to compare.
'use strict';
const [pouchDir, url, tmp] = process.argv.slice(2);
const PouchDB = require(pouchDir);
const assert = require('assert');
const fs = require('fs');

const source = new PouchDB(tmp + '/source');
const remote = new PouchDB(url);
const copy = new PouchDB(tmp + '/copy');
const checked = [];

function check(name, fn) {
  return Promise.resolve().then(fn).then(() => checked.push(name), (e) => {
    e.message = name + ': ' + e.message;
    throw e;
  });
}

// Bytes that do not compress and are not text.
function bytes(n, seed) {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    b[i] = x >> 16;
  }
  return b;
}

// A document's attachments with their bytes: name -> {content_type, digest, length, data}.
async function attachments(db, id) {
  const doc = await db.get(id, { attachments: true, binary: true });
  const out = {};
  for (const [name, a] of Object.entries(doc._attachments || {})) {
    out[name] = { content_type: a.content_type, digest: a.digest, length: a.data.length, data: a.data.toString('base64') };
  }
  return { rev: doc._rev, atts: out };
}

async function main() {
  const hello = Buffer.from('hello from pouch\n');
  const blob = bytes(100 * 1024, 7);
  let rev;
  await check('putAttachment creates the document', async () => {
    const r = await remote.putAttachment('pa', 'hello.txt', hello, 'text/plain');
    assert.ok(r.ok);
    assert.ok(r.rev.startsWith('1-'), r.rev);
    rev = r.rev;
  });
  await check('getAttachment gives the bytes back', async () => {
    const back = await remote.getAttachment('pa', 'hello.txt');
    assert.ok(back.equals(hello));
    const doc = await remote.get('pa');
    assert.strictEqual(doc._attachments['hello.txt'].content_type, 'text/plain');
    assert.strictEqual(doc._attachments['hello.txt'].length, hello.length);
    assert.ok(doc._attachments['hello.txt'].stub);
  });
  await check('a second attachment, binary', async () => {
    const r = await remote.putAttachment('pa', 'bin.dat', rev, blob, 'application/octet-stream');
    rev = r.rev;
    const back = await remote.getAttachment('pa', 'bin.dat');
    assert.ok(back.equals(blob));
    await assert.rejects(remote.putAttachment('pa', 'x.txt', '1-stale', hello, 'text/plain'), (e) => e.status === 409);
  });
  await check('removeAttachment keeps the other one', async () => {
    const r = await remote.removeAttachment('pa', 'hello.txt', rev);
    assert.ok(r.rev.startsWith('3-'), r.rev);
    const doc = await remote.get('pa');
    assert.deepStrictEqual(Object.keys(doc._attachments), ['bin.dat']);
    await assert.rejects(remote.getAttachment('pa', 'hello.txt'), (e) => e.status === 404);
  });

  const shared = Buffer.from('the same bytes in two documents');
  const big = bytes(300 * 1024, 11);
  await source.put({ _id: 'd1', kind: 'text', _attachments: { 'a.txt': { content_type: 'text/plain', data: shared } } });
  await source.put({ _id: 'd2', kind: 'binary', _attachments: { 'big.bin': { content_type: 'application/octet-stream', data: big } } });
  await source.put({ _id: 'd4', kind: 'shared', _attachments: { 'same.txt': { content_type: 'text/plain', data: shared } } });
  const d3 = await source.put({
    _id: 'd3',
    _attachments: {
      'one.txt': { content_type: 'text/plain', data: Buffer.from('one') },
      'two.json': { content_type: 'application/json', data: Buffer.from('{"two":2}') },
    },
  });
  // A body-only edit: the attachments stay as stubs.
  const d3doc = await source.get('d3');
  await source.put({ ...d3doc, edited: true, _rev: d3.rev });

  await check('push to settee serve', async () => {
    const push = await source.replicate.to(remote);
    assert.strictEqual(push.ok, true);
    assert.strictEqual(push.doc_write_failures, 0, JSON.stringify(push.errors));
    assert.strictEqual(push.docs_written, 4);
  });
  await check('settee serve holds the same bytes and digests', async () => {
    for (const id of ['d1', 'd2', 'd3', 'd4']) {
      assert.deepStrictEqual(await attachments(remote, id), await attachments(source, id), id);
    }
    const one = await remote.getAttachment('d3', 'one.txt');
    assert.strictEqual(one.toString(), 'one');
    assert.strictEqual((await remote.get('d3')).edited, true);
  });
  await check('pull into another PouchDB', async () => {
    const pull = await copy.replicate.from(remote);
    assert.strictEqual(pull.ok, true);
    assert.strictEqual(pull.doc_write_failures, 0, JSON.stringify(pull.errors));
    assert.strictEqual(pull.docs_written, 5);
  });
  await check('the copy is identical, bytes and digests', async () => {
    for (const id of ['d1', 'd2', 'd3', 'd4', 'pa']) {
      assert.deepStrictEqual(await attachments(copy, id), await attachments(remote, id), id);
    }
    const pa = await copy.getAttachment('pa', 'bin.dat');
    assert.ok(pa.equals(blob));
  });
  await check('an edit on settee serve travels back with its attachments', async () => {
    const d2 = await remote.get('d2');
    await remote.put({ ...d2, kind: 'edited on the server' });
    const pull = await copy.replicate.from(remote);
    assert.strictEqual(pull.docs_written, 1);
    assert.deepStrictEqual(await attachments(copy, 'd2'), await attachments(remote, 'd2'));
    assert.strictEqual((await copy.get('d2')).kind, 'edited on the server');
  });
  fs.writeFileSync(tmp + '/big.bin', big);
  console.log(JSON.stringify({ ok: true, checked }));
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error('pouchdb check failed: ' + (e && e.stack ? e.stack : e));
    process.exit(1);
  },
);
