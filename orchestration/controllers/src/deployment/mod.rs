//! The Deployment controller's decisions (`pkg/controller/deployment/`):
//! roll a Deployment's pods from one template to the next through
//! ReplicaSets, one per template version, within maxSurge and
//! maxUnavailable, and report progress in its status.
//!
//! ```text
//!   Deployment + its ReplicaSets + pods + now
//!        │ reconcile_deployment
//!        ▼
//!   DeploymentPlan: ReplicaSet writes (adopt, release, create, scale, delete),
//!                   revision annotation, status, events, requeue
//! ```
//!
//! - [`spec`]: what is read from the Deployment's spec.
//! - [`fenceposts`]: maxSurge and maxUnavailable as numbers of pods.
//! - [`hash`]: the pod-template-hash label and ReplicaSet name suffix.
//! - [`revisions`]: revisions, annotations, templates compared.
//! - [`new_replica_set`]: the new ReplicaSet found or created.
//! - [`rolling`]: the RollingUpdate strategy.
//! - [`recreate`]: the Recreate strategy.
//! - [`scale`]: proportional scaling mid-rollout or paused.
//! - [`status`]: the status counts and the Available and Progressing
//!   conditions.
//! - [`plan`]: the plan and the sync's working copy.
//! - [`reconcile`]: one sync, from the caches to a plan.
//! - [`run`]: the controller at work (the adapter).

pub mod fenceposts;
pub mod hash;
pub mod new_replica_set;
pub mod plan;
pub mod reconcile;
pub mod recreate;
pub mod revisions;
pub mod rolling;
pub mod run;
pub mod scale;
pub mod spec;
pub mod status;

pub use plan::{DeploymentAction, DeploymentEvent, DeploymentPlan};
pub use reconcile::{reconcile_deployment, status_after_create_conflict, DeploymentInput};
