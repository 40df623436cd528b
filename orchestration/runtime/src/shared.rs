//! One informer, many listeners: the objects of a resource are listed,
//! watched and cached once per process, and every controller that cares
//! about them subscribes to its events (client-go's shared informer
//! factory; kube-rs shares a reflector's store the same way).
//!
//! ```text
//!   SharedInformer::start ─► task: Informer::next ─┬─► subscriber 1 (bounded channel)
//!       cache() ◄── one Cache, read by all         ├─► subscriber 2
//!                                                  └─► ...
//!   subscribe() ─► a channel whose first event is Listed (reconcile all)
//! ```
//!
//! A subscriber that falls [`SUBSCRIBER_EVENTS_BUFFERED_MAX`] events
//! behind makes the task wait for it (the watch underneath buffers
//! meanwhile), so no event is lost and memory stays bounded; a subscriber
//! that is gone is dropped. A subscriber that joins late learns of the
//! objects already cached by its first event, `Listed`.

use std::sync::{Arc, Mutex};

use keel_api::ResourceInfo;
use keel_client::Client;
use tokio::sync::mpsc;

use crate::controller::{INFORMER_RETRY_FIRST, INFORMER_RETRY_MAX};
use crate::informer::{Cache, Event, Informer, InformerError};

/// Events a subscriber may hold before the informer waits for it: a
/// controller's driver only turns events into keys, so it is rarely
/// behind; a burst of a relist's differences waits here.
pub const SUBSCRIBER_EVENTS_BUFFERED_MAX: usize = 1024;

type Subscribers = Arc<Mutex<Vec<mpsc::Sender<Event>>>>;

/// An informer followed by a task of its own, its cache shared and its
/// events told to every subscriber. Dropping it stops the task.
#[derive(Debug)]
pub struct SharedInformer {
    resource: &'static ResourceInfo,
    cache: Cache,
    subscribers: Subscribers,
    task: tokio::task::JoinHandle<()>,
}

impl SharedInformer {
    /// Lists `resource`'s objects in `namespace` (all if empty) and
    /// follows them. Call it within a Tokio runtime.
    pub async fn start(
        client: &Client,
        resource: &'static ResourceInfo,
        namespace: &str,
    ) -> Result<Self, InformerError> {
        let mut informer = Informer::start(client, resource, namespace).await?;
        // Each subscriber hears of the first list by its own `Listed`.
        informer.discard_pending();
        let cache = informer.cache();
        let subscribers = Subscribers::default();
        let task = tokio::spawn(follow(informer, Arc::clone(&subscribers)));
        Ok(Self {
            resource,
            cache,
            subscribers,
            task,
        })
    }

    /// The shared cache.
    pub fn cache(&self) -> Cache {
        self.cache.clone()
    }

    /// The resource informed of.
    pub fn resource(&self) -> &'static ResourceInfo {
        self.resource
    }

    /// A new subscriber's events, from a `Listed` of what is cached now.
    pub fn subscribe(&self) -> mpsc::Receiver<Event> {
        let (sender, receiver) = mpsc::channel(SUBSCRIBER_EVENTS_BUFFERED_MAX);
        let listed = Event::Listed {
            revision: self.cache.revision(),
        };
        // A fresh channel has room for one event.
        sender
            .try_send(listed)
            .expect("a new channel takes its first event");
        self.subscribers
            .lock()
            .expect("no subscriber panics holding the lock")
            .push(sender);
        receiver
    }
}

impl Drop for SharedInformer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Tells every informer event to every subscriber, listing again after
/// errors with a growing pause.
async fn follow(mut informer: Informer, subscribers: Subscribers) {
    let mut pause = INFORMER_RETRY_FIRST;
    loop {
        let event = match informer.next().await {
            Ok(event) => event,
            Err(error) => {
                tracing::warn!(resource = %informer.resource().qualified(), %error, ?pause,
                               "a shared informer failed; listing again after a pause");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(INFORMER_RETRY_MAX);
                continue;
            }
        };
        pause = INFORMER_RETRY_FIRST;
        let senders = subscribers
            .lock()
            .expect("no subscriber panics holding the lock")
            .clone();
        for sender in senders {
            if sender.send(event.clone()).await.is_err() {
                subscribers
                    .lock()
                    .expect("no subscriber panics holding the lock")
                    .retain(|kept| !kept.same_channel(&sender));
            }
        }
    }
}
