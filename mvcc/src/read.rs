//! Reads at a revision: the scan that finds each key's newest version at or
//! below the revision, and etcd's Range rules (limit, filters, sort, count)
//! on top of it.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::backend::{Backend, ScanStep, Table};
use crate::encoding::{
    after_key, decode_version, decode_version_key, range_start, version_seek_key, Version,
};
use crate::error::MvccError;
use crate::range_bounds::KeyRange;
use crate::types::{KeyValue, RangeRequest, RangeResponse, SortOrder, SortTarget};

/// Older versions of one key stepped over with `next` before a scan seeks
/// past them instead. A seek costs a few `next`s in RocksDB; keys with long
/// uncompacted histories are the case the seek is for.
const OLDER_VERSIONS_STEPPED_MAX: usize = 4;

/// Keys changed by the running transaction and not yet written: `None` is a
/// deletion. A read at the transaction's own revision sees these.
pub type Overlay = BTreeMap<Vec<u8>, Option<KeyValue>>;

/// Calls `visit` with every live key in `range` at revision `at`, in key
/// order, until it returns false. Values are left empty unless `with_value`.
pub fn scan_latest<B: Backend>(
    backend: &B,
    range: &KeyRange,
    at: i64,
    with_value: bool,
    visit: &mut dyn FnMut(KeyValue) -> bool,
) -> Result<(), MvccError> {
    let mut failure = None;
    // The raw prefix (escaped key and terminator) of the key whose newest
    // visible version was handled, while stepping over its older versions.
    let mut done_prefix: Vec<u8> = Vec::new();
    let mut stepped = 0;
    backend.scan(
        Table::Versions,
        &range_start(&range.start),
        &mut |raw_key, raw_value| {
            if raw_key.len() > 16
                && !done_prefix.is_empty()
                && raw_key[..raw_key.len() - 16] == done_prefix[..]
            {
                stepped += 1;
                if stepped <= OLDER_VERSIONS_STEPPED_MAX {
                    return ScanStep::Next;
                }
                let (key, _) = match decode_version_key(raw_key) {
                    Ok(decoded) => decoded,
                    Err(error) => {
                        failure = Some(error);
                        return ScanStep::Stop;
                    }
                };
                return ScanStep::Seek(after_key(&key));
            }
            let (key, revision) = match decode_version_key(raw_key) {
                Ok(decoded) => decoded,
                Err(error) => {
                    failure = Some(error);
                    return ScanStep::Stop;
                }
            };
            if range.is_past_end(&key) {
                return ScanStep::Stop;
            }
            if revision.main > at {
                return ScanStep::Seek(version_seek_key(&key, at));
            }
            done_prefix.clear();
            done_prefix.extend_from_slice(&raw_key[..raw_key.len() - 16]);
            stepped = 0;
            match decode_version(key, revision.main, raw_value, with_value) {
                Ok(Version::Live(kv)) => {
                    if !visit(kv) {
                        return ScanStep::Stop;
                    }
                }
                Ok(Version::Tombstone) => {}
                Err(error) => {
                    failure = Some(error);
                    return ScanStep::Stop;
                }
            }
            ScanStep::Next
        },
    )?;
    match failure {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}

/// The newest live version of `key` at revision `at`.
pub fn get_latest<B: Backend>(
    backend: &B,
    key: &[u8],
    at: i64,
) -> Result<Option<KeyValue>, MvccError> {
    let mut found = None;
    scan_latest(backend, &KeyRange::new(key, b""), at, true, &mut |kv| {
        found = Some(kv);
        false
    })?;
    Ok(found)
}

/// The live keys of `range` at `at` (with the overlay applied when given):
/// the first `fetch_max` of them (all when 0) and how many there are.
pub fn collect<B: Backend>(
    backend: &B,
    range: &KeyRange,
    at: i64,
    fetch_max: usize,
    with_value: bool,
    overlay: Option<&Overlay>,
) -> Result<(Vec<KeyValue>, usize), MvccError> {
    let wanted = |kvs: &Vec<KeyValue>| fetch_max == 0 || kvs.len() < fetch_max;
    let Some(overlay) = overlay.filter(|overlay| !overlay.is_empty()) else {
        let mut kvs = Vec::new();
        let mut count = 0;
        scan_latest(backend, range, at, with_value, &mut |kv| {
            count += 1;
            if wanted(&kvs) {
                kvs.push(kv);
            }
            true
        })?;
        return Ok((kvs, count));
    };
    // Reads that see their own transaction's writes are rare and small:
    // merge the whole range, then cut.
    let mut merged = BTreeMap::new();
    scan_latest(backend, range, at, with_value, &mut |kv| {
        merged.insert(kv.key.clone(), kv);
        true
    })?;
    for (key, change) in overlay.range(range.start.clone()..) {
        if range.is_past_end(key) {
            break;
        }
        match change {
            Some(kv) => {
                let mut kv = kv.clone();
                if !with_value {
                    kv.value.clear();
                }
                merged.insert(key.clone(), kv);
            }
            None => {
                merged.remove(key);
            }
        }
    }
    let count = merged.len();
    let mut kvs = Vec::new();
    for kv in merged.into_values() {
        if !wanted(&kvs) {
            break;
        }
        kvs.push(kv);
    }
    Ok((kvs, count))
}

/// Where a read lands: `requested` (0 or less for `current`), checked
/// against the current and compacted revisions the way etcd checks it.
pub fn read_revision(requested: i64, current: i64, compacted: i64) -> Result<i64, MvccError> {
    if requested > current {
        return Err(MvccError::FutureRevision);
    }
    let at = if requested <= 0 { current } else { requested };
    if at < compacted {
        return Err(MvccError::Compacted);
    }
    Ok(at)
}

/// etcd's Range over a resolved revision `at`; `current` goes in the
/// response header.
pub fn range<B: Backend>(
    backend: &B,
    request: &RangeRequest,
    at: i64,
    current: i64,
    overlay: Option<&Overlay>,
) -> Result<RangeResponse, MvccError> {
    let filtered = request.min_mod_revision != 0
        || request.max_mod_revision != 0
        || request.min_create_revision != 0
        || request.max_create_revision != 0;
    // Sorting and filtering need every key first; otherwise fetch one past
    // the limit to learn whether there is more.
    let fetch_max = if request.sort_order != SortOrder::None || filtered || request.limit <= 0 {
        0
    } else {
        request.limit as usize + 1
    };
    let with_value =
        !request.count_only && (!request.keys_only || request.sort_target == SortTarget::Value);
    let range = KeyRange::new(&request.key, &request.range_end);
    let (mut kvs, count) = if request.count_only {
        let (_, count) = collect(backend, &range, at, 1, false, overlay)?;
        (Vec::new(), count)
    } else {
        collect(backend, &range, at, fetch_max, with_value, overlay)?
    };

    kvs.retain(|kv| {
        (request.max_mod_revision == 0 || kv.mod_revision <= request.max_mod_revision)
            && (request.min_mod_revision == 0 || kv.mod_revision >= request.min_mod_revision)
            && (request.max_create_revision == 0
                || kv.create_revision <= request.max_create_revision)
            && (request.min_create_revision == 0
                || kv.create_revision >= request.min_create_revision)
    });
    sort(&mut kvs, request.sort_order, request.sort_target);

    let mut more = false;
    if request.limit > 0 && kvs.len() > request.limit as usize {
        kvs.truncate(request.limit as usize);
        more = true;
    }
    if request.keys_only {
        for kv in &mut kvs {
            kv.value.clear();
        }
    }
    Ok(RangeResponse {
        revision: current,
        kvs,
        more,
        count: count as i64,
    })
}

/// etcd's sort: a target other than the key with no order means ascending.
/// Ties keep key order (etcd leaves them unspecified).
fn sort(kvs: &mut [KeyValue], order: SortOrder, target: SortTarget) {
    let order = match (order, target) {
        (SortOrder::None | SortOrder::Ascend, SortTarget::Key) => return,
        (SortOrder::None, _) => SortOrder::Ascend,
        (order, _) => order,
    };
    let compare = |a: &KeyValue, b: &KeyValue| -> Ordering {
        match target {
            SortTarget::Key => a.key.cmp(&b.key),
            SortTarget::Version => a.version.cmp(&b.version),
            SortTarget::Create => a.create_revision.cmp(&b.create_revision),
            SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
            SortTarget::Value => a.value.cmp(&b.value),
        }
    };
    match order {
        SortOrder::Descend => kvs.sort_by(|a, b| compare(b, a)),
        _ => kvs.sort_by(compare),
    }
}
