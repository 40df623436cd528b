//! Reading changes back from the store's change log (the `revisions`
//! table) for watchers that are catching up.

use std::sync::Arc;

use crate::backend::{Backend, ScanStep, Table};
use crate::encoding::{
    decode_change, decode_revision_key, decode_version, decode_version_key, key_prefix,
    revision_key, version_key, ChangeKind, Version,
};
use crate::error::MvccError;
use crate::store::Store;
use crate::types::{Event, EventKind, KeyValue, Revision};

/// A run of history: every change from the window's start revision through
/// `through`, in order.
#[derive(Debug, Default)]
pub struct Window {
    /// The changes, in revision order.
    pub events: Vec<Arc<Event>>,
    /// Every change at or below this revision is in `events` (from the
    /// window's start on).
    pub through: i64,
}

/// Outcome of a history read.
#[derive(Debug)]
pub enum Read {
    /// The window was read.
    Window(Window),
    /// A compaction removed part of what was being read: the reader must
    /// look at the compacted revision again.
    Compacted,
}

/// Reads the changes from revision `from` on, stopping after the revision
/// at which `events_max` events or `bytes_max` bytes of values are
/// reached (a revision is never cut). With `with_prev`, each event carries
/// the key's previous state where history still holds it.
pub fn read<B: Backend>(
    store: &Store<B>,
    from: i64,
    events_max: usize,
    bytes_max: usize,
    with_prev: bool,
) -> Result<Read, MvccError> {
    let current = store.current_revision();
    let backend = store.backend();
    let mut changes: Vec<(Revision, ChangeKind, Vec<u8>)> = Vec::new();
    let mut through = current;
    let mut failure = None;
    backend.scan(
        Table::Revisions,
        &revision_key(Revision { main: from, sub: 0 }),
        &mut |raw_key, raw_value| {
            let decoded = decode_revision_key(raw_key).and_then(|revision| {
                let (kind, key) = decode_change(raw_value)?;
                Ok((revision, kind, key.to_vec()))
            });
            match decoded {
                Ok((revision, _, _)) if revision.main > current => ScanStep::Stop,
                Ok((revision, kind, key)) => {
                    let last_main = changes.last().map(|(last, _, _)| last.main);
                    if changes.len() >= events_max && last_main != Some(revision.main) {
                        through = last_main.unwrap_or(from - 1);
                        return ScanStep::Stop;
                    }
                    changes.push((revision, kind, key));
                    ScanStep::Next
                }
                Err(error) => {
                    failure = Some(error);
                    ScanStep::Stop
                }
            }
        },
    )?;
    if let Some(error) = failure {
        return Err(error.into());
    }
    let mut events = Vec::with_capacity(changes.len());
    let mut bytes = 0;
    for (index, (revision, kind, key)) in changes.iter().enumerate() {
        if bytes >= bytes_max && index > 0 && changes[index - 1].0.main != revision.main {
            through = changes[index - 1].0.main;
            break;
        }
        let Some(event) = event_at(backend, *revision, *kind, key, with_prev)? else {
            return Ok(Read::Compacted);
        };
        bytes += event.kv.value.len() + event.prev_kv.as_ref().map_or(0, |kv| kv.value.len());
        events.push(Arc::new(event));
    }
    // A compaction that began while this ran may have removed versions the
    // reads above wanted; what lies at or above the compacted revision is
    // intact (a compaction keeps each key's newest version at or below it).
    if from < store.compacted_revision() {
        return Ok(Read::Compacted);
    }
    Ok(Read::Window(Window { events, through }))
}

/// The event of one change-log entry; `None` if its version is gone.
fn event_at<B: Backend>(
    backend: &B,
    revision: Revision,
    kind: ChangeKind,
    key: &[u8],
    with_prev: bool,
) -> Result<Option<Event>, MvccError> {
    let kv = match kind {
        ChangeKind::Put => {
            let Some(bytes) = backend.get(Table::Versions, &version_key(key, revision))? else {
                return Ok(None);
            };
            match decode_version(key.to_vec(), revision.main, &bytes, true)? {
                Version::Live(kv) => kv,
                Version::Tombstone => {
                    return Err(crate::backend::BackendError::Corrupt(format!(
                        "change log says put at {revision:?}, versions say tombstone"
                    ))
                    .into())
                }
            }
        }
        ChangeKind::Delete => KeyValue {
            key: key.to_vec(),
            mod_revision: revision.main,
            ..KeyValue::default()
        },
    };
    let prev_kv = if with_prev {
        version_before(backend, key, revision)?
    } else {
        None
    };
    Ok(Some(Event {
        kind: match kind {
            ChangeKind::Put => EventKind::Put,
            ChangeKind::Delete => EventKind::Delete,
        },
        kv,
        prev_kv,
    }))
}

/// The key's live state just before `revision`, if history holds it.
fn version_before<B: Backend>(
    backend: &B,
    key: &[u8],
    revision: Revision,
) -> Result<Option<KeyValue>, MvccError> {
    let prefix = key_prefix(key);
    let mut found = None;
    let mut failure = None;
    // Newer versions sort first, so the entry after `revision`'s own is
    // the one before it in time.
    backend.scan(
        Table::Versions,
        &version_key(key, revision),
        &mut |raw_key, raw_value| {
            if raw_key.len() != prefix.len() + 16 || !raw_key.starts_with(&prefix) {
                return ScanStep::Stop;
            }
            match decode_version_key(raw_key) {
                Ok((_, at)) if at >= revision => ScanStep::Next,
                Ok((decoded_key, at)) => {
                    match decode_version(decoded_key, at.main, raw_value, true) {
                        Ok(Version::Live(kv)) => found = Some(kv),
                        Ok(Version::Tombstone) => {}
                        Err(error) => failure = Some(error),
                    }
                    ScanStep::Stop
                }
                Err(error) => {
                    failure = Some(error);
                    ScanStep::Stop
                }
            }
        },
    )?;
    match failure {
        Some(error) => Err(error.into()),
        None => Ok(found),
    }
}
