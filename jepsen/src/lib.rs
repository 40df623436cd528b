//! keel's correctness checkers, shared by the deterministic simulation
//! (`tests/sim`) and the jepsen harness against real clusters.
//!
//! A run records a [`history`]: client operations with real-time intervals
//! and outcomes (ok, unknown, failed), the watch streams, every Raft
//! metrics change and applied entry, and HashKV samples. Each checker reads
//! it and either accepts it or returns a [`Violation`] naming the property
//! and the smallest set of offending operations it could find:
//!
//! ```text
//!   history ─┬─ linearizability   Wing–Gong search, Lowe's memo, over model::EtcdModel
//!            │                    (per-key projections first: small witnesses), after
//!            │                    resolve settled the unknown writes the watches show
//!            ├─ watch             ordered, unique, atomic, reliable, resumable,
//!            │                    prev_kv, progress never ahead, agrees with acked writes
//!            ├─ agreement         HashKV equal at equal revisions
//!            ├─ raft              one leader per term, log matching, no lost commits,
//!            │                    term / vote / commit never going back
//!            └─ liveness          a write succeeds soon after the faults heal
//! ```
//!
//! Checkers are pure functions over plain data: no clocks, no I/O, no
//! randomness, so a saved history always gets the same verdict.

pub mod agreement;
pub mod history;
pub mod linearizability;
pub mod liveness;
pub mod model;
pub mod raft;
pub mod resolve;
pub mod watch;

use std::fmt;

/// A property a history breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The property, e.g. `linearizability` or `watch: reliable`.
    pub property: String,
    /// What is wrong, in one sentence.
    pub message: String,
    /// The operations, events or observations that show it, fewest first.
    pub offending: Vec<String>,
}

impl Violation {
    /// A violation of `property`.
    pub fn new(property: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            property: property.into(),
            message: message.into(),
            offending: Vec::new(),
        }
    }

    /// Adds the things that show it.
    #[must_use]
    pub fn with_offending<I, T>(mut self, offending: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: ToString,
    {
        self.offending
            .extend(offending.into_iter().map(|o| o.to_string()));
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "property violated: {}: {}", self.property, self.message)?;
        if !self.offending.is_empty() {
            write!(f, "\noffending ({}):", self.offending.len())?;
            for line in &self.offending {
                write!(f, "\n  {line}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}
