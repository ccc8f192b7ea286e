// PouchDB's own replicator (pouchdb-node, default settings) for benches/http.rs:
//   node pouchdb_bench.js load DIR FILE   bulkDocs the JSON lines of FILE into LevelDB at DIR
//   node pouchdb_bench.js push DIR URL    replicate DIR -> URL
//   node pouchdb_bench.js pull URL DIR    replicate URL -> DIR
// Prints one JSON line: {"seconds": S, "docs_read": N, "docs_written": M}.
const fs = require('fs');
const readline = require('readline');
const PouchDB = require('pouchdb-node');

async function load(dir, file) {
  const db = new PouchDB(dir);
  const lines = readline.createInterface({ input: fs.createReadStream(file) });
  let batch = [];
  let bytes = 0;
  for await (const line of lines) {
    if (!line.trim()) continue;
    batch.push(JSON.parse(line));
    bytes += line.length;
    if (batch.length === 1000 || bytes > 8 * 1024 * 1024) {
      await db.bulkDocs(batch);
      batch = [];
      bytes = 0;
    }
  }
  if (batch.length) await db.bulkDocs(batch);
  await db.close();
  return { seconds: 0, docs_read: 0, docs_written: 0 };
}

async function replicate(from, to) {
  const started = process.hrtime.bigint();
  const result = await PouchDB.replicate(from, to);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { seconds, docs_read: result.docs_read, docs_written: result.docs_written };
}

async function main() {
  const [command, a, b] = process.argv.slice(2);
  let out;
  if (command === 'load') out = await load(a, b);
  else if (command === 'push') out = await replicate(new PouchDB(a), b);
  else if (command === 'pull') out = await replicate(a, new PouchDB(b));
  else throw new Error('unknown command ' + command);
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write('pouchdb bench failed: ' + (e && e.stack ? e.stack : JSON.stringify(e)) + '\n');
  process.exit(1);
});
