//! openraft's runtime under `--cfg madsim`: tasks, timers and randomness
//! from the simulator, so one seed replays a whole cluster.
//!
//! The channels are tokio's (runtime-agnostic, FIFO) except the watch
//! channel. `tokio::sync::watch` parks each waiting receiver on one of
//! several `Notify`s chosen by tokio's thread-local random generator, which
//! is seeded afresh from a process-wide counter: when one send wakes several
//! receivers (a commit reaching every replication task), the order they wake
//! in, and with it the whole simulated schedule, differs between two runs of
//! one seed in one process (what `MADSIM_TEST_CHECK_DETERMINISM` does).
//! [`SimWatch`] parks every receiver on one `Notify`, which wakes them in the
//! order they began to wait.

use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use openraft::rt::watch::{RecvError, SendError};
use openraft::rt::{AsyncRuntime, OptionalSend, OptionalSync, Watch, WatchReceiver, WatchSender};
use parking_lot::{RwLock, RwLockReadGuard};
use rand::SeedableRng;

/// The simulator as an openraft runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimRuntime;

/// [`AsyncRuntime::timeout`]'s future: the wrapped future, unless the
/// simulated deadline passes first.
pub struct SimTimeout<T> {
    future: Pin<Box<T>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

/// [`SimTimeout`]'s error: the deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl<T: Future> Future for SimTimeout<T> {
    type Output = Result<T::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(output) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A simulated instant (madsim's clock behind `std::time::Instant`).
pub type SimInstant = std::time::Instant;

impl AsyncRuntime for SimRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = tokio::task::JoinHandle<T>;
    type Sleep = tokio::time::Sleep;
    type Instant = SimInstant;
    type TimeoutError = Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = SimTimeout<T>;
    type ThreadLocalRng = rand::rngs::SmallRng;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        tokio::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        tokio::time::sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        SimTimeout {
            future: Box::pin(future),
            sleep: Box::pin(tokio::time::sleep(duration)),
        }
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        SimTimeout {
            future: Box::pin(future),
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        join_error.is_panic()
    }

    /// Seeded from the simulator's generator, so election timeouts follow
    /// the run's seed.
    fn thread_rng() -> Self::ThreadLocalRng {
        rand::rngs::SmallRng::seed_from_u64(madsim::rand::random::<u64>())
    }

    type Mpsc = openraft_rt_tokio::TokioMpsc;
    type Watch = SimWatch;
    type Oneshot = openraft_rt_tokio::TokioOneshot;
    type Mutex<T: OptionalSend + 'static> = openraft_rt_tokio::TokioMutex<T>;

    fn new(_threads: usize) -> Self {
        Self
    }

    fn block_on<F, T>(&mut self, future: F) -> T
    where
        F: Future<Output = T>,
    {
        madsim::runtime::Runtime::new().block_on(future)
    }

    /// The simulator has no threads: the function runs inline.
    #[allow(clippy::manual_async_fn)]
    fn spawn_blocking<F, T>(f: F) -> impl Future<Output = Result<T, std::io::Error>> + Send
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        async move { Ok(f()) }
    }
}

/// A watch channel whose receivers wake in the order they began waiting.
pub struct SimWatch;

struct WatchShared<T> {
    value: RwLock<T>,
    /// Bumped by every change that notifies, while the value is locked.
    version: AtomicU64,
    senders: AtomicUsize,
    receivers: AtomicUsize,
    changed: tokio::sync::Notify,
}

impl<T> WatchShared<T> {
    fn subscribe(self: &Arc<Self>) -> SimWatchReceiver<T> {
        self.receivers.fetch_add(1, Ordering::SeqCst);
        SimWatchReceiver {
            shared: Arc::clone(self),
            seen: self.version.load(Ordering::SeqCst),
        }
    }

    /// Marks a change made under `guard` and wakes every waiting receiver.
    fn publish(&self, guard: parking_lot::RwLockWriteGuard<'_, T>) {
        self.version.fetch_add(1, Ordering::SeqCst);
        drop(guard);
        self.changed.notify_waiters();
    }
}

/// [`SimWatch`]'s sender.
pub struct SimWatchSender<T>(Arc<WatchShared<T>>);

/// [`SimWatch`]'s receiver.
pub struct SimWatchReceiver<T> {
    shared: Arc<WatchShared<T>>,
    /// The version this receiver has seen.
    seen: u64,
}

impl<T> Clone for SimWatchSender<T> {
    fn clone(&self) -> Self {
        self.0.senders.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(&self.0))
    }
}

impl<T> Drop for SimWatchSender<T> {
    fn drop(&mut self) {
        if self.0.senders.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The last sender is gone: waiting receivers see it closed.
            self.0.changed.notify_waiters();
        }
    }
}

impl<T> Clone for SimWatchReceiver<T> {
    fn clone(&self) -> Self {
        self.shared.receivers.fetch_add(1, Ordering::SeqCst);
        Self {
            shared: Arc::clone(&self.shared),
            seen: self.seen,
        }
    }
}

impl<T> Drop for SimWatchReceiver<T> {
    fn drop(&mut self) {
        self.shared.receivers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Watch for SimWatch {
    type Sender<T: OptionalSend + OptionalSync> = SimWatchSender<T>;
    type Receiver<T: OptionalSend + OptionalSync> = SimWatchReceiver<T>;
    type Ref<'a, T: OptionalSend + 'a> = RwLockReadGuard<'a, T>;

    fn channel<T: OptionalSend + OptionalSync>(init: T) -> (Self::Sender<T>, Self::Receiver<T>) {
        let shared = Arc::new(WatchShared {
            value: RwLock::new(init),
            version: AtomicU64::new(0),
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(0),
            changed: tokio::sync::Notify::new(),
        });
        let receiver = shared.subscribe();
        (SimWatchSender(shared), receiver)
    }
}

impl<T: OptionalSend + OptionalSync> WatchSender<SimWatch, T> for SimWatchSender<T> {
    fn send(&self, value: T) -> Result<(), SendError<T>> {
        if self.0.receivers.load(Ordering::SeqCst) == 0 {
            return Err(SendError(value));
        }
        let mut guard = self.0.value.write();
        *guard = value;
        self.0.publish(guard);
        Ok(())
    }

    fn send_if_modified<F>(&self, modify: F) -> bool
    where
        F: FnOnce(&mut T) -> bool,
    {
        let mut guard = self.0.value.write();
        let modified = modify(&mut guard);
        if modified {
            self.0.publish(guard);
        }
        modified
    }

    fn borrow_watched(&self) -> RwLockReadGuard<'_, T> {
        self.0.value.read()
    }

    fn subscribe(&self) -> SimWatchReceiver<T> {
        self.0.subscribe()
    }
}

impl<T: OptionalSend + OptionalSync> WatchReceiver<SimWatch, T> for SimWatchReceiver<T> {
    async fn changed(&mut self) -> Result<(), RecvError> {
        loop {
            // Enlist before looking, so a send between the look and the
            // wait still wakes this receiver.
            let mut notified = pin!(self.shared.changed.notified());
            notified.as_mut().enable();
            let version = self.shared.version.load(Ordering::SeqCst);
            if version != self.seen {
                self.seen = version;
                return Ok(());
            }
            if self.shared.senders.load(Ordering::SeqCst) == 0 {
                return Err(RecvError(()));
            }
            notified.await;
        }
    }

    fn borrow_watched(&self) -> RwLockReadGuard<'_, T> {
        self.shared.value.read()
    }

    fn borrow_and_update(&mut self) -> RwLockReadGuard<'_, T> {
        let guard = self.shared.value.read();
        self.seen = self.shared.version.load(Ordering::SeqCst);
        guard
    }
}
