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
//! backoff.
//!
//! When the queue is full, the event's key is refused, and every cached
//! key is owed a reconcile instead: a level-driven controller loses no work
//! by reconciling too much. The owed keys go into the queue in key order as
//! it has room, resuming where the last refusal stopped them (so the first
//! keys cannot starve the rest); a key refused meanwhile makes the pass
//! start over once it ends. A list (`Listed`) is paid the same way.
//!
//! `stop` stops taking keys; the run ends when the reconciles under way
//! have ended.

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
use crate::shared::SharedInformer;

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
    let cache = informer.cache();
    let (triggers, triggered) = mpsc::channel(TRIGGERS_BUFFERED_MAX);
    let follow = tokio::spawn(follow(informer, triggers));
    drive(cache, triggered, vec![follow], reconcile, options, stop).await;
}

/// Maps an object of another resource to the keys of the controller's own
/// objects that it concerns (a pod to its ReplicaSet).
pub type Mapper = Box<dyn Fn(&Value) -> Vec<ObjectKey> + Send + Sync>;

/// A controller over shared informers: its own objects (the primary
/// resource) and the objects of other resources whose changes concern
/// some of them, in the shape of kube-rs's `Controller::owns` and
/// `watches`. Each change of a related object is mapped to keys of the
/// primary; a Modified one is mapped from both its old and new state, so
/// a pod that changes owners wakes both.
pub struct Controller {
    cache: Cache,
    sources: Vec<(mpsc::Receiver<Event>, Option<Mapper>)>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Controller")
            .field("sources", &self.sources.len())
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A controller of `primary`'s objects.
    pub fn new(primary: &SharedInformer) -> Self {
        Self {
            cache: primary.cache(),
            sources: vec![(primary.subscribe(), None)],
        }
    }

    /// Also reconciles the keys `map` answers for each changed object of
    /// `related`.
    #[must_use]
    pub fn watches(
        mut self,
        related: &SharedInformer,
        map: impl Fn(&Value) -> Vec<ObjectKey> + Send + Sync + 'static,
    ) -> Self {
        self.sources
            .push((related.subscribe(), Some(Box::new(map))));
        self
    }

    /// Also reconciles the controller (in `metadata.ownerReferences`, of
    /// `kind`) of each changed object of `owned`: a ReplicaSet owns its
    /// pods.
    #[must_use]
    pub fn owns(self, owned: &SharedInformer, kind: &'static str) -> Self {
        self.watches(owned, move |object| {
            controller_key(object, kind).into_iter().collect()
        })
    }

    /// Runs until `stop` resolves, as [`run`] does.
    pub async fn run<F, Fut, E>(
        self,
        reconcile: F,
        options: ControllerOptions,
        stop: impl Future<Output = ()> + Send,
    ) where
        F: Fn(ObjectKey, Option<Value>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Action, E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let (triggers, triggered) = mpsc::channel(TRIGGERS_BUFFERED_MAX);
        let tasks = self
            .sources
            .into_iter()
            .map(|(events, map)| tokio::spawn(forward(events, map, triggers.clone())))
            .collect();
        drop(triggers);
        drive(self.cache, triggered, tasks, reconcile, options, stop).await;
    }
}

/// The key of `object`'s controller of `kind`, in its namespace.
pub fn controller_key(object: &Value, kind: &str) -> Option<ObjectKey> {
    let owner = object
        .pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|owner| owner.get("controller").and_then(Value::as_bool) == Some(true))?;
    (owner.get("kind")?.as_str()? == kind).then(|| {
        let namespace = object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("");
        ObjectKey::new(
            namespace,
            owner.get("name").and_then(Value::as_str).unwrap_or(""),
        )
    })
}

/// Turns one source's events into triggers: the primary's as they are, a
/// related resource's through its mapper (its lists say nothing of the
/// primary's keys, and the differences before them were mapped already).
async fn forward(
    mut events: mpsc::Receiver<Event>,
    map: Option<Mapper>,
    triggers: mpsc::Sender<Trigger>,
) {
    while let Some(event) = events.recv().await {
        let keys = match (&map, event) {
            (None, Event::Listed { .. }) => {
                if triggers.send(Trigger::All).await.is_err() {
                    return;
                }
                continue;
            }
            (None, event) => vec![event.key().expect("an object event has a key")],
            (Some(_), Event::Listed { .. }) => continue,
            (Some(map), Event::Added(object) | Event::Deleted(object)) => map(&object),
            (Some(map), Event::Modified { old, new }) => {
                let mut keys = map(&old);
                keys.extend(map(&new));
                keys.sort();
                keys.dedup();
                keys
            }
        };
        for key in keys {
            if triggers.send(Trigger::Key(key)).await.is_err() {
                return;
            }
        }
    }
}

/// The runner's loop over the triggers the `tasks` send; the tasks are
/// stopped when it ends.
async fn drive<F, Fut, E>(
    cache: Cache,
    mut triggered: mpsc::Receiver<Trigger>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    reconcile: F,
    options: ControllerOptions,
    stop: impl Future<Output = ()> + Send,
) where
    F: Fn(ObjectKey, Option<Value>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Action, E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    assert!(options.workers > 0, "a controller has at least one worker");
    let reconcile = std::sync::Arc::new(reconcile);
    let mut driver = Driver::new(WorkQueue::new(options.queue), cache);
    let origin = Instant::now();
    let mut running: FuturesUnordered<Running> = FuturesUnordered::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        while running.len() < options.workers {
            let Some(key) = driver.queue.pop(origin.elapsed()) else {
                break;
            };
            let object = driver.cache.get_key(&key);
            running.push(start(&reconcile, key, object));
        }
        let wake = driver
            .queue
            .next_due()
            .filter(|_| running.len() < options.workers)
            .map(|due| origin + due);
        tokio::select! {
            // In this order, so one seed replays one schedule.
            biased;
            () = &mut stop => break,
            Some((key, outcome)) = running.next(), if !running.is_empty() => {
                driver.done(&key, outcome, origin.elapsed());
            }
            trigger = triggered.recv() => {
                let Some(trigger) = trigger else {
                    tracing::error!("the informer tasks ended; the controller stops");
                    break;
                };
                driver.trigger(trigger, origin.elapsed());
            }
            () = sleep_until(wake), if wake.is_some() => {}
        }
    }
    for task in tasks {
        task.abort();
    }
    while let Some((key, outcome)) = running.next().await {
        driver.done(&key, outcome, origin.elapsed());
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

/// Keys copied out of the cache at a time while a resync adds them.
const RESYNC_KEYS_PER_READ: usize = 256;

/// The driver's state: the queue and the cache to read objects and keys
/// from. Time is passed in.
struct Driver {
    queue: WorkQueue<ObjectKey>,
    cache: Cache,
    /// Every cached key from this one on is owed a reconcile (after a key
    /// was refused by the full queue, or a list): the queue takes them as
    /// it has room, in key order, resuming here.
    resync_from: Option<ObjectKey>,
    /// A key was refused while a resync was under way, perhaps one it had
    /// passed: once it ends, it starts over from the first key.
    resync_again: bool,
}

impl Driver {
    fn new(queue: WorkQueue<ObjectKey>, cache: Cache) -> Self {
        Self {
            queue,
            cache,
            resync_from: None,
            resync_again: false,
        }
    }

    fn trigger(&mut self, trigger: Trigger, now: Duration) {
        match trigger {
            Trigger::Key(key) => {
                if self.queue.add(key, now).is_err() {
                    if self.resync_from.is_none() {
                        tracing::warn!(
                            keys_max = self.queue.keys_max(),
                            "the work queue is full; every object is reconciled as there is room"
                        );
                    }
                    self.owe_every_key();
                }
            }
            Trigger::All => self.owe_every_key(),
        }
        self.resync(now);
    }

    fn owe_every_key(&mut self) {
        if self.resync_from.is_some() {
            self.resync_again = true;
        } else {
            // The least key there is.
            self.resync_from = Some(ObjectKey::default());
        }
    }

    /// Adds owed keys while the queue has room.
    fn resync(&mut self, now: Duration) {
        while let Some(from) = self.resync_from.take() {
            let keys = self.cache.keys_from(&from, RESYNC_KEYS_PER_READ);
            let read_all = keys.len() < RESYNC_KEYS_PER_READ;
            let mut last = None;
            for key in keys {
                if self.queue.add(key.clone(), now).is_err() {
                    self.resync_from = Some(key);
                    return;
                }
                last = Some(key);
            }
            self.resync_from = match last {
                Some(last) if !read_all => Some(successor(last)),
                _ if self.resync_again => {
                    self.resync_again = false;
                    Some(ObjectKey::default())
                }
                _ => None,
            };
        }
    }

    fn done(&mut self, key: &ObjectKey, outcome: Outcome, now: Duration) {
        self.queue.done(key, outcome, now);
        self.resync(now);
    }
}

/// The least key after `key`: keys do not hold NUL, so nothing sorts
/// between `key` and `key` + NUL.
fn successor(mut key: ObjectKey) -> ObjectKey {
    key.name.push('\0');
    key
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A driver over a cache of `names` in "default", its queue holding at
    /// most `keys_max` keys.
    fn driver(names: &[&str], keys_max: usize) -> Driver {
        let cache = Cache::default();
        for name in names {
            let object = json!({"metadata": {"namespace": "default", "name": name}});
            cache
                .write()
                .objects
                .put(ObjectKey::new("default", *name), object);
        }
        let queue = WorkQueue::new(QueueOptions {
            keys_max,
            ..QueueOptions::default()
        });
        Driver::new(queue, cache)
    }

    /// Runs the driver's queue dry (one worker, every reconcile done at
    /// once), answering the names in the order they were reconciled.
    fn drain(driver: &mut Driver) -> Vec<String> {
        let mut order = Vec::new();
        while let Some(key) = driver.queue.pop(Duration::ZERO) {
            driver.done(&key, Outcome::Done, Duration::ZERO);
            order.push(key.name);
        }
        order
    }

    #[test]
    fn a_list_reconciles_every_key_through_a_small_queue() {
        let names: Vec<String> = (0..600).map(|index| format!("o{index:03}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut driver = driver(&names, 3);
        driver.trigger(Trigger::All, Duration::ZERO);
        assert_eq!(driver.queue.len(), 3);
        assert_eq!(drain(&mut driver), names, "each once, in key order");
        assert!(driver.resync_from.is_none());
    }

    #[test]
    fn keys_refused_by_a_full_queue_are_reconciled_later() {
        let mut driver = driver(&["a", "b", "c", "d", "e"], 2);
        for name in ["a", "b", "c", "d", "e"] {
            driver.trigger(
                Trigger::Key(ObjectKey::new("default", name)),
                Duration::ZERO,
            );
        }
        let order = drain(&mut driver);
        let reconciled: std::collections::BTreeSet<&str> =
            order.iter().map(String::as_str).collect();
        assert_eq!(
            reconciled,
            ["a", "b", "c", "d", "e"].into(),
            "none is lost: {order:?}"
        );
        assert!(driver.resync_from.is_none() && !driver.resync_again);
    }

    #[test]
    fn a_key_refused_behind_the_resync_is_reached_by_another_lap() {
        let mut driver = driver(&["a", "b", "c", "d"], 2);
        driver.trigger(Trigger::All, Duration::ZERO);
        // The resync stands at "c"; "a" is popped and done, then changes
        // again while the queue is full of "b" and "c".
        let first = driver.queue.pop(Duration::ZERO).unwrap();
        driver.done(&first, Outcome::Done, Duration::ZERO);
        assert_eq!(driver.queue.len(), 2);
        driver.trigger(Trigger::Key(ObjectKey::new("default", "a")), Duration::ZERO);
        let order = drain(&mut driver);
        assert!(
            order.iter().any(|name| name == "a"),
            "\"a\" again: {order:?}"
        );
        assert!(order.iter().any(|name| name == "d"), "{order:?}");
    }
}
