//! The kubelet at work against keel and the runtime.

pub mod containers;
