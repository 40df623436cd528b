//! The clock seam: the server takes time only from here, so the simulator
//! can substitute its own.

/// A source of time.
pub trait Clock: Send + Sync + 'static {
    /// Wall-clock milliseconds since the Unix epoch (stamped on proposals).
    fn now_ms(&self) -> i64;

    /// Milliseconds on a clock that never goes back, from an arbitrary
    /// origin (lease expiry is measured on it).
    fn monotonic_ms(&self) -> u64;
}

/// The operating system's clocks. The monotonic one is tokio's, which the
/// simulator replaces with its own.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: tokio::time::Instant,
}

impl SystemClock {
    /// A clock whose monotonic origin is now.
    pub fn new() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods, reason = "this is the clock seam")]
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as i64)
    }

    fn monotonic_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }
}
