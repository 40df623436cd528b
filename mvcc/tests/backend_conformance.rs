//! Both backends pass the one conformance suite in `backend::conformance`.
#![cfg(not(madsim))] // RocksDB is not built under the simulator.

use keel_mvcc::backend::conformance::{run, Harness};
use keel_mvcc::backend::{Backend, MemoryBackend, RocksBackend, RocksOptions, Table, WriteBatch};

struct Memory;

impl Harness for Memory {
    type Backend = MemoryBackend;
    fn fresh(&mut self) -> MemoryBackend {
        MemoryBackend::new()
    }
    fn reopen(&mut self, backend: MemoryBackend) -> MemoryBackend {
        // Clones share storage: dropping the old handle and keeping a clone
        // is the memory backend's close and reopen.
        backend.clone()
    }
}

#[derive(Default)]
struct Rocks {
    dirs: Vec<tempfile::TempDir>,
}

impl Harness for Rocks {
    type Backend = RocksBackend;
    fn fresh(&mut self) -> RocksBackend {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = RocksBackend::open(dir.path(), &RocksOptions::default()).expect("open");
        self.dirs.push(dir);
        backend
    }
    fn reopen(&mut self, backend: RocksBackend) -> RocksBackend {
        drop(backend);
        let dir = self.dirs.last().expect("a fresh backend came first");
        RocksBackend::open(dir.path(), &RocksOptions::default()).expect("reopen")
    }
}

#[test]
fn memory_backend_conforms() {
    run(&mut Memory);
}

#[test]
fn rocksdb_backend_conforms() {
    run(&mut Rocks::default());
}

/// RocksDB's `visit_all` reads a snapshot: a write made while the visit is
/// under way completes without waiting for it, and the visit does not see it.
#[test]
fn rocksdb_visit_all_lets_writers_go_on_unseen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let backend = RocksBackend::open(dir.path(), &RocksOptions::default()).expect("open");
    let mut batch = WriteBatch::new();
    for n in 0..100u32 {
        batch.put(
            Table::Versions,
            format!("k{n:03}").into_bytes(),
            b"old".to_vec(),
        );
    }
    backend.write(batch).expect("write");
    let mut seen = Vec::new();
    let mut wrote = false;
    std::thread::scope(|scope| {
        backend
            .visit_all(&mut |table, key, value| {
                if !wrote {
                    wrote = true;
                    // Another thread writes while this visit holds its
                    // snapshot; joining proves the write did not wait.
                    scope
                        .spawn(|| {
                            let mut batch = WriteBatch::new();
                            batch.put(Table::Versions, b"k000".to_vec(), b"new".to_vec());
                            batch.put(Table::Versions, b"k050".to_vec(), b"new".to_vec());
                            batch.put(Table::Versions, b"zzz".to_vec(), b"new".to_vec());
                            backend.write(batch).expect("concurrent write");
                        })
                        .join()
                        .expect("the writer thread");
                }
                seen.push((table, key.to_vec(), value.to_vec()));
                true
            })
            .expect("visit_all");
    });
    assert_eq!(
        seen.len(),
        100,
        "the key written during the visit is not seen"
    );
    assert!(
        seen.iter().all(|(_, _, value)| value == b"old"),
        "no new value is seen"
    );
    assert_eq!(
        backend.get(Table::Versions, b"k050").expect("get"),
        Some(b"new".to_vec()),
        "the write landed"
    );
}
