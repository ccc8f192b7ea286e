//! Random edit and replication schedules over a few replicas, for the convergence
//! properties: the store-to-store one (tests/store/replication.rs) and the one over HTTP
//! against `settee serve` (tests/cli/serve/convergence.rs).
//!
//! An `Action` names replicas and documents by small numbers; each property maps them onto
//! its own replicas (`store % n`) and document ids (`doc{d}`).

use quickcheck::{Arbitrary, Gen};

/// How many documents a schedule edits.
pub const DOCS: u8 = 4;

#[derive(Clone, Debug)]
pub enum Action {
    Put {
        store: u8,
        doc: u8,
        n: u8,
    },
    Delete {
        store: u8,
        doc: u8,
    },
    /// Resolve a conflict by hand: tombstone every live leaf but the winner.
    Resolve {
        store: u8,
        doc: u8,
    },
    Pull {
        to: u8,
        from: u8,
    },
    Sync {
        a: u8,
        b: u8,
    },
}

impl Arbitrary for Action {
    fn arbitrary(g: &mut Gen) -> Action {
        let s = || u8::arbitrary(&mut Gen::new(8)) % 5;
        let (store, doc) = (s(), u8::arbitrary(g) % DOCS);
        match u8::arbitrary(g) % 8 {
            0..=2 => Action::Put { store, doc, n: u8::arbitrary(g) % 3 },
            3 => Action::Delete { store, doc },
            4 => Action::Resolve { store, doc },
            5 | 6 => Action::Pull { to: s(), from: s() },
            _ => Action::Sync { a: s(), b: s() },
        }
    }
}
