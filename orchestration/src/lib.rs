//! A thin Kubernetes-like orchestration layer on keel (filled by a later
//! issue).
//!
//! Objects will be JSON under `/registry/<plural>/<namespace>/<name>`, with
//! `resourceVersion` = the key's mod_revision and every update a
//! mod_revision-guarded Txn. A scheduler, controllers and a kubelet will be
//! separate clients of keel's watch streams, never part of the store.
