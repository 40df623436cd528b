//! What the simulation suite sees inside its members (`--cfg madsim`
//! only): each start, and every entry a state machine applies, for the Raft
//! invariant checkers (log matching, committed entries never lost).
//!
//! Like [`crate::bugs`], the observer is per thread, the thread the
//! simulated cluster runs on.

use std::cell::RefCell;
use std::sync::Arc;

use crate::node::Node;

/// Receives what members do. Every method has a default that ignores it.
pub trait Observer: Send + Sync {
    /// A member started (its Raft is running; it may not serve clients yet).
    fn started(&self, _node: &Arc<Node>) {}
    /// Member `member_id` applied the entry `(term, index)`, whose contents
    /// hash to `digest`.
    fn applied(&self, _member_id: u64, _index: u64, _term: u64, _digest: u64) {}
    /// Member `member_id`'s state machine now holds everything through
    /// `(term, index)` from a snapshot (installed from the leader, or found
    /// at start).
    fn snapshot_installed(&self, _member_id: u64, _index: u64, _term: u64) {}
}

thread_local! {
    static OBSERVER: RefCell<Option<Arc<dyn Observer>>> = const { RefCell::new(None) };
}

/// Makes `observer` see the members this thread runs (or none).
pub fn set_observer(observer: Option<Arc<dyn Observer>>) {
    OBSERVER.with(|current| *current.borrow_mut() = observer);
}

/// Calls `report` with the observer, if there is one.
pub(crate) fn report(report: impl FnOnce(&dyn Observer)) {
    let observer = OBSERVER.with(|current| current.borrow().clone());
    if let Some(observer) = observer {
        report(&*observer);
    }
}
