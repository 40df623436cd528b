//! The conformance suite every [`Backend`] must pass. An implementation's
//! tests call [`run`] with a [`Harness`] that makes fresh backends and
//! reopens them; each check panics with a message naming what broke.

use super::{Backend, ScanStep, Table, WriteBatch};

/// Makes backends for the suite.
pub trait Harness {
    /// The backend under test.
    type Backend: Backend;
    /// A new, empty backend.
    fn fresh(&mut self) -> Self::Backend;
    /// Closes `backend` and opens the same storage again.
    fn reopen(&mut self, backend: Self::Backend) -> Self::Backend;
}

/// Runs every check.
pub fn run<H: Harness>(harness: &mut H) {
    get_put_delete(harness);
    batch_is_ordered_and_last_write_wins(harness);
    tables_are_independent(harness);
    scan_orders_seeks_and_stops(harness);
    visit_all_sees_every_table_in_order(harness);
    reopen_keeps_everything(harness);
}

fn collect<B: Backend>(backend: &B, table: Table, from: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    backend
        .scan(table, from, &mut |key, value| {
            out.push((key.to_vec(), value.to_vec()));
            ScanStep::Next
        })
        .expect("scan");
    out
}

fn put_all<B: Backend>(backend: &B, table: Table, pairs: &[(&[u8], &[u8])]) {
    let mut batch = WriteBatch::new();
    for (key, value) in pairs {
        batch.put(table, key.to_vec(), value.to_vec());
    }
    backend.write(batch).expect("write");
}

fn visit_all_sees_every_table_in_order<H: Harness>(harness: &mut H) {
    let backend = harness.fresh();
    put_all(&backend, Table::Meta, &[(b"m", b"1")]);
    put_all(&backend, Table::Versions, &[(b"b", b"2"), (b"a", b"1")]);
    put_all(&backend, Table::Revisions, &[(b"r", b"3")]);
    let mut seen = Vec::new();
    backend
        .visit_all(&mut |table, key, value| {
            seen.push((table, key.to_vec(), value.to_vec()));
            true
        })
        .expect("visit_all");
    let mut expected = Vec::new();
    for table in Table::ALL {
        for (key, value) in collect(&backend, table, b"") {
            expected.push((table, key, value));
        }
    }
    assert_eq!(seen.len(), 4, "every entry once: {seen:?}");
    assert_eq!(seen, expected, "Table::ALL order, key order within a table");
    let mut visited = 0;
    backend
        .visit_all(&mut |_, _, _| {
            visited += 1;
            visited < 2
        })
        .expect("visit_all");
    assert_eq!(visited, 2, "the visit stops when the visitor says so");
}

fn get_put_delete<H: Harness>(harness: &mut H) {
    let backend = harness.fresh();
    assert_eq!(
        backend.get(Table::Versions, b"k").expect("get"),
        None,
        "fresh backend is empty"
    );
    put_all(&backend, Table::Versions, &[(b"k", b"v1")]);
    assert_eq!(
        backend.get(Table::Versions, b"k").expect("get"),
        Some(b"v1".to_vec())
    );
    put_all(&backend, Table::Versions, &[(b"k", b"v2")]);
    assert_eq!(
        backend.get(Table::Versions, b"k").expect("get"),
        Some(b"v2".to_vec()),
        "put overwrites"
    );
    let mut batch = WriteBatch::new();
    batch.delete(Table::Versions, b"k".to_vec());
    batch.delete(Table::Versions, b"absent".to_vec());
    backend.write(batch).expect("delete");
    assert_eq!(
        backend.get(Table::Versions, b"k").expect("get"),
        None,
        "delete removes"
    );
    // Empty keys and values are legal bytes.
    put_all(&backend, Table::Meta, &[(b"", b"")]);
    assert_eq!(
        backend.get(Table::Meta, b"").expect("get"),
        Some(Vec::new())
    );
}

fn batch_is_ordered_and_last_write_wins<H: Harness>(harness: &mut H) {
    let backend = harness.fresh();
    let mut batch = WriteBatch::new();
    batch.put(Table::Versions, b"a".to_vec(), b"1".to_vec());
    batch.delete(Table::Versions, b"a".to_vec());
    batch.put(Table::Versions, b"b".to_vec(), b"1".to_vec());
    batch.put(Table::Versions, b"b".to_vec(), b"2".to_vec());
    backend.write(batch).expect("write");
    assert_eq!(
        backend.get(Table::Versions, b"a").expect("get"),
        None,
        "delete after put in one batch"
    );
    assert_eq!(
        backend.get(Table::Versions, b"b").expect("get"),
        Some(b"2".to_vec()),
        "last put wins"
    );
}

fn tables_are_independent<H: Harness>(harness: &mut H) {
    let backend = harness.fresh();
    for (index, table) in Table::ALL.iter().enumerate() {
        put_all(&backend, *table, &[(b"same", &[index as u8])]);
    }
    for (index, table) in Table::ALL.iter().enumerate() {
        assert_eq!(
            backend.get(*table, b"same").expect("get"),
            Some(vec![index as u8]),
            "{table:?}"
        );
        assert_eq!(
            collect(&backend, *table, b"").len(),
            1,
            "{table:?} holds one entry"
        );
    }
}

fn scan_orders_seeks_and_stops<H: Harness>(harness: &mut H) {
    let backend = harness.fresh();
    let keys: Vec<Vec<u8>> = vec![
        b"\x00".to_vec(),
        b"a".to_vec(),
        b"a\x00".to_vec(),
        b"ab".to_vec(),
        b"b".to_vec(),
        b"\xff\xff".to_vec(),
    ];
    let mut batch = WriteBatch::new();
    for key in keys.iter().rev() {
        batch.put(Table::Versions, key.clone(), key.clone());
    }
    backend.write(batch).expect("write");
    let all: Vec<Vec<u8>> = collect(&backend, Table::Versions, b"")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(all, keys, "scan is in byte order");
    let from: Vec<Vec<u8>> = collect(&backend, Table::Versions, b"a\x00")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        from,
        keys[2..].to_vec(),
        "scan starts at the first key >= from"
    );
    assert!(
        collect(&backend, Table::Versions, b"\xff\xff\x00").is_empty(),
        "scan past the end is empty"
    );

    let mut visited = Vec::new();
    backend
        .scan(Table::Versions, b"", &mut |key, _| {
            visited.push(key.to_vec());
            match key {
                b"a" => ScanStep::Seek(b"b".to_vec()),
                b"b" => ScanStep::Stop,
                _ => ScanStep::Next,
            }
        })
        .expect("scan");
    assert_eq!(
        visited,
        vec![b"\x00".to_vec(), b"a".to_vec(), b"b".to_vec()],
        "seek skips, stop stops"
    );

    let mut visited = Vec::new();
    backend
        .scan(Table::Versions, b"", &mut |key, _| {
            visited.push(key.to_vec());
            if key == b"ab" {
                ScanStep::Seek(b"zzz".to_vec())
            } else {
                ScanStep::Next
            }
        })
        .expect("scan");
    assert_eq!(
        visited.last().map(Vec::as_slice),
        Some(&b"\xff\xff"[..]),
        "seek between keys lands on the next"
    );
}

fn reopen_keeps_everything<H: Harness>(harness: &mut H) {
    let backend = harness.fresh();
    put_all(&backend, Table::Versions, &[(b"k1", b"v1"), (b"k2", b"v2")]);
    put_all(&backend, Table::Meta, &[(b"m", b"meta")]);
    let mut batch = WriteBatch::new();
    batch.delete(Table::Versions, b"k1".to_vec());
    backend.write(batch).expect("write");
    let backend = harness.reopen(backend);
    assert_eq!(
        backend.get(Table::Versions, b"k1").expect("get"),
        None,
        "deletes survive reopen"
    );
    assert_eq!(
        backend.get(Table::Versions, b"k2").expect("get"),
        Some(b"v2".to_vec()),
        "puts survive reopen"
    );
    assert_eq!(
        backend.get(Table::Meta, b"m").expect("get"),
        Some(b"meta".to_vec())
    );
    assert!(backend.size_bytes() > 0, "a non-empty backend has a size");
    backend.defragment().expect("defragment");
    assert_eq!(
        backend.get(Table::Versions, b"k2").expect("get"),
        Some(b"v2".to_vec()),
        "defragment keeps data"
    );
}
