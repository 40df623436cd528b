//! Shared test plumbing: store factories for each backend and request
//! builders that read like etcdctl.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use keel_mvcc::backend::{Backend, MemoryBackend, RocksBackend, RocksOptions};
use keel_mvcc::{
    Command, CommandResponse, DeleteRangeRequest, DeleteRangeResponse, KeyValue, Limits,
    PutRequest, PutResponse, RangeRequest, Store, TxnRequest, TxnResponse,
};

/// Makes stores over one backend kind and reopens them.
pub trait Factory {
    type B: Backend;
    fn open(&mut self) -> Store<Self::B>;
    fn reopen(&mut self, store: Store<Self::B>) -> Store<Self::B>;
}

#[derive(Default)]
pub struct Memory {
    current: MemoryBackend,
}

impl Factory for Memory {
    type B = MemoryBackend;
    fn open(&mut self) -> Store<MemoryBackend> {
        self.current = MemoryBackend::new();
        Store::open(self.current.clone(), Limits::default()).unwrap()
    }
    fn reopen(&mut self, store: Store<MemoryBackend>) -> Store<MemoryBackend> {
        drop(store);
        Store::open(self.current.clone(), Limits::default()).unwrap()
    }
}

#[derive(Default)]
pub struct Rocks {
    dirs: Vec<tempfile::TempDir>,
}

impl Factory for Rocks {
    type B = RocksBackend;
    fn open(&mut self) -> Store<RocksBackend> {
        let dir = tempfile::tempdir().unwrap();
        let backend = RocksBackend::open(dir.path(), &RocksOptions::default()).unwrap();
        self.dirs.push(dir);
        Store::open(backend, Limits::default()).unwrap()
    }
    fn reopen(&mut self, store: Store<RocksBackend>) -> Store<RocksBackend> {
        drop(store);
        let dir = self.dirs.last().unwrap();
        let backend = RocksBackend::open(dir.path(), &RocksOptions::default()).unwrap();
        Store::open(backend, Limits::default()).unwrap()
    }
}

/// Expands each named test function into one test per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $( #[test] fn $name() { super::$name(&mut $crate::common::Memory::default()); } )*
        }
        mod rocksdb {
            $( #[test] fn $name() { super::$name(&mut $crate::common::Rocks::default()); } )*
        }
    };
}

/// Creates lease `id` (puts may only attach existing leases).
pub fn grant<B: Backend>(store: &Store<B>, id: i64) {
    let grant = keel_mvcc::LeaseGrant { id, ttl_secs: 60 };
    store.apply(&Command::LeaseGrant(grant), b"meta").unwrap();
}

pub fn put<B: Backend>(store: &Store<B>, key: &str, value: &str) -> PutResponse {
    put_req(
        store,
        PutRequest {
            key: key.into(),
            value: value.into(),
            ..PutRequest::default()
        },
    )
    .unwrap()
}

pub fn put_req<B: Backend>(
    store: &Store<B>,
    request: PutRequest,
) -> Result<PutResponse, keel_mvcc::MvccError> {
    match store.apply(&Command::Put(request), b"meta")? {
        CommandResponse::Put(response) => Ok(response),
        other => panic!("unexpected {other:?}"),
    }
}

pub fn delete<B: Backend>(
    store: &Store<B>,
    key: &str,
    end: &str,
    prev_kv: bool,
) -> DeleteRangeResponse {
    let request = DeleteRangeRequest {
        key: key.into(),
        range_end: end.into(),
        prev_kv,
    };
    match store
        .apply(&Command::DeleteRange(request), b"meta")
        .unwrap()
    {
        CommandResponse::DeleteRange(response) => response,
        other => panic!("unexpected {other:?}"),
    }
}

pub fn txn<B: Backend>(
    store: &Store<B>,
    request: TxnRequest,
) -> Result<TxnResponse, keel_mvcc::MvccError> {
    match store.apply(&Command::Txn(request), b"meta")? {
        CommandResponse::Txn(response) => Ok(response),
        other => panic!("unexpected {other:?}"),
    }
}

pub fn get<B: Backend>(store: &Store<B>, key: &str) -> Option<KeyValue> {
    let response = store
        .range(&RangeRequest {
            key: key.into(),
            ..RangeRequest::default()
        })
        .unwrap();
    response.kvs.into_iter().next()
}

pub fn get_at<B: Backend>(store: &Store<B>, key: &str, revision: i64) -> Option<KeyValue> {
    let request = RangeRequest {
        key: key.into(),
        revision,
        ..RangeRequest::default()
    };
    store.range(&request).unwrap().kvs.into_iter().next()
}

pub fn keys(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    *end.last_mut().unwrap() += 1;
    end
}
