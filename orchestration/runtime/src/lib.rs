//! The client runtime of keel's orchestration components: how the HTTP
//! front, the scheduler, controllers and kubelet read, watch and write
//! Kubernetes objects in keel, directly over `keel-client`.
//!
//! ```text
//!   component ──► Store ──► keel-client ──► keel
//!                  │  create: Txn[mod_revision = 0] put
//!                  │  update/delete: Txn[mod_revision = read] put/delete
//!                  └─ objects as keel-api keeps them (/registry/..., JSON)
//!
//!   keel ─ list + watch ─► Informer ─► Cache (IndexedObjects: by namespace,
//!                             │         node, owner, label)
//!                             └─ Event ─► controller::run: WorkQueue ─► N × reconcile(key)
//!
//!   LeaderElector: one of several copies acts (keel-client's Election on a session lease)
//! ```
//!
//! - [`store`]: get, list (at a revision, paginated), create, update,
//!   update by a function with retries, update of the status, delete as
//!   the registry does it, and watch (Kubernetes' ADDED, MODIFIED, DELETED
//!   from keel's events).
//! - [`informer`]: the objects of one resource, decoded and cached, told
//!   as added / modified / deleted / listed events.
//! - [`index`]: the cache's indexes (pure data).
//! - [`queue`]: the controller's work queue: dedupe, one run per key at a
//!   time, backoff with jitter, delays, a bound (pure data over time
//!   passed in).
//! - [`shared`]: one informer per resource and process, its cache shared
//!   and its events told to every subscriber.
//! - [`controller`]: the runner ([`controller::run`], or [`Controller`]
//!   over shared informers, with related resources mapped to its keys):
//!   informer events into the queue, N workers.
//! - [`election`]: leader election: campaign, learn of the loss, resign.
//! - [`events`]: core/v1 Events as client-go's recorder makes and folds
//!   them (pure); [`recorder`] writes them, never holding up a reconcile.

pub mod controller;
pub mod election;
pub mod events;
pub mod index;
pub mod informer;
pub mod queue;
pub mod recorder;
pub mod shared;
pub mod store;

pub use controller::{Action, Controller, ControllerOptions};
pub use election::{ElectionError, LeaderElector};
pub use index::{Index, IndexedObjects, ObjectKey};
pub use informer::{Cache, Event, Informer, InformerError};
pub use queue::{Backoff, JitterRng, Outcome, QueueFull, QueueOptions, WorkQueue};
pub use recorder::Recorder;
pub use shared::SharedInformer;
pub use store::{Deleted, List, ListOptions, ObjectEvent, ObjectWatch, Part, Store, StoreError};
