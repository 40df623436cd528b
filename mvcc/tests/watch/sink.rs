//! A sink the tests control: a bounded queue they drain by hand.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use keel_mvcc::watch::{Offer, WatchMessage, WatchSink};
use parking_lot::Mutex;

/// A bounded queue of messages; full at `capacity`.
pub struct TestSink {
    capacity: usize,
    queue: Mutex<VecDeque<WatchMessage>>,
    closed: AtomicBool,
}

impl TestSink {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity,
            queue: Mutex::new(VecDeque::new()),
            closed: AtomicBool::new(false),
        })
    }

    /// Takes up to `count` queued messages.
    pub fn drain(&self, count: usize) -> Vec<WatchMessage> {
        let mut queue = self.queue.lock();
        let count = count.min(queue.len());
        queue.drain(..count).collect()
    }

    /// Takes every queued message.
    pub fn drain_all(&self) -> Vec<WatchMessage> {
        self.drain(usize::MAX)
    }

    pub fn len(&self) -> usize {
        self.queue.lock().len()
    }

    /// Makes every later offer answer `Closed`.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}

impl WatchSink for TestSink {
    fn offer(&self, message: WatchMessage) -> Offer {
        if self.closed.load(Ordering::SeqCst) {
            return Offer::Closed;
        }
        let mut queue = self.queue.lock();
        if queue.len() >= self.capacity {
            return Offer::Full;
        }
        queue.push_back(message);
        Offer::Sent
    }

    fn has_room(&self) -> bool {
        self.queue.lock().len() < self.capacity
    }
}
