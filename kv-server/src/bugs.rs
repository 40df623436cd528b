//! Bugs the simulation suite injects on purpose, to prove its checkers
//! catch them. They exist only under `--cfg madsim`: in keeld,
//! [`is_injected`] is a constant `false` and the code behind it is gone.
//!
//! The switch is per thread: the simulator runs a whole cluster on the
//! thread of the test that built it, so two tests running side by side do
//! not see each other's bugs.

/// A deliberate bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bug {
    /// The log store tells openraft an append is durable before its fsync
    /// (etcd 3.5's lost-writes class of bug): a member that crashes before
    /// the fsync forgets entries it voted for or acknowledged.
    AckBeforeFsync,
    /// Linearizable reads skip the ReadIndex round and read the local
    /// store, so a follower or a deposed leader answers stale values.
    LocalLinearizableReads,
}

#[cfg(madsim)]
thread_local! {
    static INJECTED: std::cell::RefCell<Vec<Bug>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether `bug` is injected (always `false` outside the simulator).
#[cfg(not(madsim))]
#[inline]
pub fn is_injected(_bug: Bug) -> bool {
    false
}

/// Whether `bug` is injected on this thread.
#[cfg(madsim)]
pub fn is_injected(bug: Bug) -> bool {
    INJECTED.with(|injected| injected.borrow().contains(&bug))
}

/// Injects `bugs` (replacing what was injected) on this thread.
#[cfg(madsim)]
pub fn inject(bugs: &[Bug]) {
    INJECTED.with(|injected| *injected.borrow_mut() = bugs.to_vec());
}

/// How long one simulated fsync takes: 0.2 to 2 ms, drawn from the run's
/// seed, so crashes land between appends and their fsyncs.
#[cfg(madsim)]
pub fn sim_fsync_latency() -> std::time::Duration {
    use madsim::rand::Rng;
    std::time::Duration::from_micros(madsim::rand::thread_rng().gen_range(200..2000))
}
