//! keel's Rust client and the `keelctl` CLI (filled by the client issue).
//!
//! The library will connect to several endpoints, fail over on connection
//! loss and "no leader", retry only what is safe, report unknown outcomes as
//! such, resume watches from the last seen revision, keep leases alive, and
//! provide session, mutex, election and informer recipes. `keelctl` will
//! mirror etcdctl's commands, flags and output formats.
