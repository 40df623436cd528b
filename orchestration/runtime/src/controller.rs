//! The controller runner: an informer's events become keys in a
//! [`WorkQueue`], and up to N workers reconcile them, in the shape of
//! kube-runtime's `Controller` (runtime/src/controller/mod.rs: watcher →
//! reflector → scheduler → runner) and client-go's worker loop.
//!
//! ```text
//!   informer task ── Event ──► trigger (bounded channel) ──┐
//!     Added/Modified/Deleted: that key                     ▼
//!     Listed: every key in the cache             driver: WorkQueue (pure), tokio clock
//!                                                  pop due keys while workers < N
//!   reconcile(key, object or None) ◄── spawned ────┘       ▲
//!     Ok(Action::Done | RequeueAfter(d)) / Err ── outcome ─┘ done(key, outcome, now)
//! ```
//!
//! The reconcile gets the key and the cached object (`None` once it is
//! deleted); it reads anything else from caches the caller shares with it.
//! A key never runs in two workers at once; an event for a running key runs
//! it once more after. An error (or a panic) retries after the queue's
//! backoff. When the queue is full, the event's key is dropped and, once
//! there is room, every cached key is added again: a level-driven
//! controller loses no work by reconciling too much. `stop` stops taking
//! keys; the run ends when the reconciles under way have ended.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::index::ObjectKey;
use crate::informer::{Cache, Event, Informer};
use crate::queue::{Outcome, QueueOptions, WorkQueue};

/// Keys waiting between the informer task and the driver. The informer
/// waits when the driver is this far behind (the watch underneath buffers
/// meanwhile); the driver only moves keys into the queue, so it rarely is.
pub const TRIGGERS_BUFFERED_MAX: usize = 1024;
/// The first pause after the informer failed (keel unreachable, say).
pub const INFORMER_RETRY_FIRST: Duration = Duration::from_millis(100);
/// The longest pause between the informer's attempts to list again.
pub const INFORMER_RETRY_MAX: Duration = Duration::from_secs(30);
/// Workers when not told otherwise: kube-controller-manager's default for
/// most controllers (`--concurrent-deployment-syncs` and friends are 5).
pub const WORKERS_DEFAULT: usize = 5;

/// What a reconcile asks for when it succeeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing until the object changes.
    Done,
    /// Reconcile again after this long (sooner if the object changes).
    RequeueAfter(Duration),
}

/// How a controller runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControllerOptions {
    /// How many reconciles run at once (of different keys).
    pub workers: usize,
    /// The work queue's bound, backoff and jitter seed.
    pub queue: QueueOptions,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        Self {
            workers: WORKERS_DEFAULT,
            queue: QueueOptions::default(),
        }
    }
}

/// What makes keys due.
enum Trigger {
    /// One object changed.
    Key(ObjectKey),
    /// The cache was listed: every key.
    All,
}

/// A reconcile under way, answering its key and how it went.
type Running = Pin<Box<dyn Future<Output = (ObjectKey, Outcome)> + Send>>;

/// Runs a controller over `informer` until `stop` resolves: every change
/// of an object is reconciled by `reconcile(key, object)`, as the module
/// doc says. Call it within a Tokio runtime.
pub async fn run<F, Fut, E>(
    informer: Informer,
    reconcile: F,
    options: ControllerOptions,
    stop: impl Future<Output = ()> + Send,
) where
    F: Fn(ObjectKey, Option<Value>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    assert!(options.workers > 0, "a controller has at least one worker");
    let cache = informer.cache();
    let (triggers, mut triggered) = mpsc::channel(TRIGGERS_BUFFERED_MAX);
    let follow = tokio::spawn(follow(informer, triggers));
    let reconcile = std::sync::Arc::new(reconcile);
    let mut driver = Driver {
        queue: WorkQueue::new(options.queue),
        cache,
        origin: Instant::now(),
        resync_owed: false,
    };
    let mut running: FuturesUnordered<Running> = FuturesUnordered::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        while running.len() < options.workers {
            let Some(key) = driver.queue.pop(driver.now()) else {
                break;
            };
            let object = driver.cache.get_key(&key);
            running.push(start(&reconcile, key, object));
        }
        let wake = driver
            .queue
            .next_due()
            .filter(|_| running.len() < options.workers)
            .map(|due| driver.origin + due);
        tokio::select! {
            // In this order, so one seed replays one schedule.
            biased;
            () = &mut stop => break,
            Some((key, outcome)) = running.next(), if !running.is_empty() => {
                driver.done(&key, outcome);
            }
            trigger = triggered.recv() => {
                let Some(trigger) = trigger else {
                    tracing::error!("the informer task ended; the controller stops");
                    break;
                };
                driver.trigger(trigger);
            }
            () = sleep_until(wake), if wake.is_some() => {}
        }
    }
    follow.abort();
    while let Some((key, outcome)) = running.next().await {
        driver.done(&key, outcome);
    }
}

/// Sleeps until `wake` (forever without one; the select guards that).
async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(wake) => tokio::time::sleep_until(wake).await,
        None => std::future::pending().await,
    }
}

/// Starts one reconcile as a task of its own, so workers run in parallel.
fn start<F, Fut, E>(reconcile: &std::sync::Arc<F>, key: ObjectKey, object: Option<Value>) -> Running
where
    F: Fn(ObjectKey, Option<Value>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let reconcile = std::sync::Arc::clone(reconcile);
    let task_key = key.clone();
    let task = tokio::spawn(async move { reconcile(task_key, object).await });
    Box::pin(async move {
        let outcome = match task.await {
            Ok(Ok(Action::Done)) => Outcome::Done,
            Ok(Ok(Action::RequeueAfter(delay))) => Outcome::RequeueAfter(delay),
            Ok(Err(error)) => {
                tracing::warn!(%key, %error, "reconcile failed; retrying after a backoff");
                Outcome::Failed
            }
            Err(error) => {
                tracing::error!(%key, %error, "reconcile panicked; retrying after a backoff");
                Outcome::Failed
            }
        };
        (key, outcome)
    })
}

/// The driver's state: the queue, the cache to read objects and keys
/// from, and its clock.
struct Driver {
    queue: WorkQueue<ObjectKey>,
    cache: Cache,
    /// Time zero of the queue's clock.
    origin: Instant,
    /// A key was refused by the full queue: every key is owed a reconcile
    /// once there is room.
    resync_owed: bool,
}

impl Driver {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn trigger(&mut self, trigger: Trigger) {
        match trigger {
            Trigger::Key(key) => self.add(key),
            Trigger::All => self.add_all(),
        }
    }

    fn add(&mut self, key: ObjectKey) {
        if self.queue.add(key, self.now()).is_err() && !self.resync_owed {
            tracing::warn!(
                keys_max = self.queue.keys_max(),
                "the work queue is full; every object is reconciled once there is room"
            );
            self.resync_owed = true;
        }
    }

    fn add_all(&mut self) {
        let now = self.now();
        self.resync_owed = false;
        for key in self.cache.keys() {
            if self.queue.add(key, now).is_err() {
                self.resync_owed = true;
                return;
            }
        }
    }

    fn done(&mut self, key: &ObjectKey, outcome: Outcome) {
        self.queue.done(key, outcome, self.now());
        if self.resync_owed && self.queue.len() < self.queue.keys_max() {
            self.add_all();
        }
    }
}

/// The informer task: tells the driver which keys changed, lists again
/// after errors with a growing pause, and ends when the driver is gone.
async fn follow(mut informer: Informer, triggers: mpsc::Sender<Trigger>) {
    let mut pause = INFORMER_RETRY_FIRST;
    loop {
        let trigger = match informer.next().await {
            Ok(Event::Listed { .. }) => Trigger::All,
            Ok(event) => Trigger::Key(event.key().expect("an object event has a key")),
            Err(error) => {
                tracing::warn!(%error, ?pause, "the informer failed; listing again after a pause");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(INFORMER_RETRY_MAX);
                continue;
            }
        };
        pause = INFORMER_RETRY_FIRST;
        if triggers.send(trigger).await.is_err() {
            return;
        }
    }
}
