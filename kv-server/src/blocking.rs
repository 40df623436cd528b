//! Blocking work (fsync rounds, snapshot files, RocksDB compactions) kept
//! off the async workers: on tokio's blocking pool in keeld, inline in the
//! simulator, which has no threads and must run it at a point the seed
//! decides.

use std::io;

/// Runs `work` where blocking is allowed and answers its result.
#[cfg(not(madsim))]
pub async fn run<F, T>(work: F) -> io::Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)
}

/// Runs `work` inline (the simulator's disk never blocks).
#[cfg(madsim)]
#[allow(clippy::unused_async)]
pub async fn run<F, T>(work: F) -> io::Result<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Ok(work())
}
