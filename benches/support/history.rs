//! Building benchmark stores: `docs` documents, each edited `rounds` times, in batches of
//! 10,000 edits (one commit each), then a checkpoint.

use settee::{Body, DocId, Op, RevId, Store};

/// Write the history into `store`; `body(i, round)` is document `i`'s body at `round`.
pub fn write_history(store: &mut Store, docs: u64, rounds: u64, body: &dyn Fn(u64, u64) -> Body) {
    let mut revs: Vec<Option<RevId>> = vec![None; docs as usize];
    for round in 0..rounds {
        for chunk in (0..docs).collect::<Vec<_>>().chunks(10_000) {
            let ops = chunk
                .iter()
                .map(|&i| {
                    let b = body(i, round);
                    let base = revs[i as usize].clone();
                    revs[i as usize] = Some(RevId::for_edit(base.as_ref(), false, &b.id));
                    Op::Edit {
                        id: DocId::parse(&format!("pkg-{i:07}")).unwrap(),
                        base,
                        deleted: false,
                        body: b,
                    }
                })
                .collect();
            for r in store.write(ops).unwrap() {
                r.unwrap();
            }
        }
    }
    store.checkpoint().unwrap();
}
