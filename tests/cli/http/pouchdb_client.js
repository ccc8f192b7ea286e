// PouchDB itself (pouchdb-node, LevelDB in a local folder) as the other client of a server,
// driven by the HTTP transport's tests: `node pouchdb_client.js COMMAND DBDIR URL [IDS]`.
//   write      put three documents locally, then replicate them to URL with PouchDB's own replicator
//   edit-sync  edit "shared" locally, then sync both ways with URL (PouchDB.sync)
//   read       sync both ways with URL
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
