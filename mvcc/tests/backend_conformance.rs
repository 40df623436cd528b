//! Both backends pass the one conformance suite in `backend::conformance`.
#![cfg(not(madsim))] // RocksDB is not built under the simulator.

use keel_mvcc::backend::conformance::{run, Harness};
use keel_mvcc::backend::{MemoryBackend, RocksBackend, RocksOptions};

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
