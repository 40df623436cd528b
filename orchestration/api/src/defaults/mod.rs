//! Defaulting as kube-apiserver's `SetDefaults_*` functions do it for
//! Kubernetes 1.33 (`pkg/apis/core/v1/defaults.go`, `pkg/apis/apps/v1`,
//! `pkg/apis/batch/v1`, and the `+default` markers of k8s.io/api): pure
//! functions over k8s-openapi's types, run on every object before it is
//! validated and stored.
//!
//! ```text
//!   Pod ────────────────► pod::pod (requests from limits, service links,
//!                         │           host ports under hostNetwork)
//!   Deployment ─┐         ▼
//!   ReplicaSet ─┼─ template ─► pod::spec (dnsPolicy, restartPolicy, grace
//!   DaemonSet  ─┤              period, scheduler; containers, probes,
//!   Job        ─┘              volumes)
//!   Service, Namespace, Node, Secret, Endpoints ─► core
//! ```
//!
//! Templates get the spec's defaults and not the Pod-only ones, as in
//! Kubernetes. What kube-apiserver adds at create time rather than by
//! defaulting (uid, generation, status, admission's tolerations) is not
//! here. Not yet done: rounding quantities up to milli precision.

pub mod core;
pub mod pod;
pub mod workloads;

/// Sets `field` to `value` when it is missing or empty, as Go's defaulters
/// treat an empty string as unset.
fn or_default_str(field: &mut Option<String>, value: &str) {
    if field.as_deref().is_none_or(str::is_empty) {
        *field = Some(value.to_owned());
    }
}
