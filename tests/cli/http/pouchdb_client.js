// PouchDB itself (pouchdb-node, LevelDB in a local folder) as the other client of a server,
// driven by the HTTP transport's tests: `node pouchdb_client.js COMMAND DBDIR URL [IDS]`.
//   write      put three documents locally, then replicate them to URL with PouchDB's own replicator
//   edit-sync  edit "shared" locally, then sync both ways with URL (PouchDB.sync)
//   read       sync both ways with URL
//   put-attachment   putAttachment "pouch.bin" (bytes 0..199) on "album", replicate to URL
//   get-attachments  sync with URL, then print album's attachments as base64 (getAttachment)
// Every command ends by printing, as one JSON line, the documents IDS (comma-separated)
// as PouchDB reads them with their conflicts.
const PouchDB = require('pouchdb-node');

async function main() {
  const [command, dir, url, ids] = process.argv.slice(2);
  const local = new PouchDB(dir);
  if (command === 'write') {
    await local.bulkDocs([
      { _id: 'p1', from: 'pouchdb', n: 1 },
      { _id: 'p2', from: 'pouchdb', list: [1, 2, 3], nested: { 'ünï': '☃' } },
      { _id: 'shared', v: 0 },
    ]);
    await PouchDB.replicate(local, url);
  } else if (command === 'edit-sync') {
    const doc = await local.get('shared');
    doc.v = 'pouchdb';
    await local.put(doc);
    await PouchDB.sync(local, url);
  } else if (command === 'read') {
    await PouchDB.sync(local, url);
  } else if (command === 'put-attachment') {
    const bytes = Buffer.from(Array.from({ length: 200 }, (_, i) => i));
    await local.putAttachment('album', 'pouch.bin', bytes, 'application/octet-stream');
    await PouchDB.replicate(local, url);
    await local.close();
    process.stdout.write(JSON.stringify({ put: true }) + '\n');
    return;
  } else if (command === 'get-attachments') {
    await PouchDB.sync(local, url);
    const doc = await local.get('album');
    const out = {};
    for (const name of Object.keys(doc._attachments || {})) {
      const blob = await local.getAttachment('album', name);
      out[name] = blob.toString('base64');
    }
    await local.close();
    process.stdout.write(JSON.stringify(out) + '\n');
    return;
  } else {
    throw new Error('unknown command ' + command);
  }
  const out = {};
  for (const id of (ids || '').split(',').filter(Boolean)) {
    try {
      out[id] = await local.get(id, { conflicts: true });
    } catch (e) {
      out[id] = { error: e.name || String(e) };
    }
  }
  await local.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write('pouchdb client failed: ' + (e && e.stack ? e.stack : JSON.stringify(e)) + '\n');
  process.exit(1);
});
