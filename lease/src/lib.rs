//! keel's lessor (filled by the Watch/Lease issue).
//!
//! It will hold the lease table, TTLs and the expiry queue as plain logic
//! with time from a clock seam: grant (server- or client-chosen IDs, the
//! minimum TTL, the max-TTL error), revoke (deleting every attached key in
//! one revision), keep-alive (served by the leader, never logged),
//! time-to-live, list, and key attachment on put. Expiry is decided by the
//! leader alone and proposed as a revoke through Raft; remaining TTLs are
//! checkpointed so they survive restarts and leader changes.
