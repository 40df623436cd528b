//! The client runtime of keel's orchestration components: how the HTTP
//! front, and later the scheduler, controllers and kubelet, read and write
//! Kubernetes objects in keel, directly over `keel-client`.
//!
//! ```text
//!   component ──► Store ──► keel-client ──► keel
//!                  │  create: Txn[mod_revision = 0] put
//!                  │  update/delete: Txn[mod_revision = read] put/delete
//!                  └─ objects as keel-api keeps them (/registry/..., JSON)
//! ```
//!
//! - [`store`]: get, list (at a revision, paginated), create, update,
//!   update by a function with retries, delete, and watch (Kubernetes'
//!   ADDED, MODIFIED, DELETED from keel's events).

pub mod store;

pub use store::{Deleted, List, ListOptions, ObjectEvent, ObjectWatch, Store, StoreError};
