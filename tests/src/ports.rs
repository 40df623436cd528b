//! Loopback ports for test servers.
//!
//! Binding `127.0.0.1:0` and releasing the port is the usual trick, but the
//! kernel hands out the same ephemeral range for *outgoing* connections, and
//! every etcdctl run opens some: a released ephemeral port can be taken as a
//! source port before the server binds it. So ports come from a range below
//! Linux's default ephemeral range (`32768..=60999`), are checked free by a
//! bind, and are never handed out twice by one process. Each process starts
//! at a different point of the range (from its pid), so two test binaries
//! running at once rarely probe the same ports; a server that still loses a
//! race is restarted on new ports by [`crate::Server`].

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// First port handed out (inclusive).
pub const PORT_RANGE_START: u16 = 20_000;
/// One past the last port handed out: stays below the ephemeral range.
pub const PORT_RANGE_END: u16 = 32_000;

/// Ports this process has handed out; never reused, there are plenty.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
/// Probes made so far; the next candidate is derived from it.
static PROBES: AtomicU32 = AtomicU32::new(0);

/// A loopback port that was free a moment ago and that this process has not
/// handed out before.
///
/// Panics when the whole range is taken (thousands of live servers).
pub fn free_port() -> u16 {
    let span = u32::from(PORT_RANGE_END - PORT_RANGE_START);
    // A prime stride spreads processes with neighbouring pids apart.
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let probe = PROBES.fetch_add(1, Ordering::Relaxed);
        let offset = (start + probe) % span;
        let port = PORT_RANGE_START + offset as u16;
        let mut handed_out = HANDED_OUT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if handed_out.contains(&port) {
            continue;
        }
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            handed_out.insert(port);
            return port;
        }
    }
    panic!("no free loopback port in {PORT_RANGE_START}..{PORT_RANGE_END}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_in_range() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let distinct: BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        assert!(ports
            .iter()
            .all(|port| (PORT_RANGE_START..PORT_RANGE_END).contains(port)));
    }
}
