//! Pod networking: a network namespace per pod, a veth into the node's
//! bridge, an address from the node's `spec.podCIDR`.
