//! Addresses of simulated nodes and their pods.
//!
//! Nodes take `100.64.0.0/10` (shared address space, never routed here):
//! node `i` is `100.64.0.0 + i + 1`. A pod takes an address in its node's
//! `spec.podCIDR` when the node IPAM controller has given one, else in the
//! node's own `/24` of `10.128.0.0/9` (room for 32,768 nodes; beyond that
//! the ranges wrap and addresses repeat, which nothing simulated minds).
//! Within a range, addresses are handed out in turn, skipping the
//! network and broadcast addresses, and wrap once the range is used up.

use std::net::Ipv4Addr;

const NODE_BASE: u32 = u32::from_be_bytes([100, 64, 0, 0]);
const NODE_RANGE_SIZE: u32 = 1 << 22;
const POD_FALLBACK_BASE: u32 = u32::from_be_bytes([10, 128, 0, 0]);
const POD_FALLBACK_NODES: u32 = 1 << 15;

/// Node `index`'s InternalIP.
pub fn node_address(index: u32) -> String {
    Ipv4Addr::from(NODE_BASE + (index % (NODE_RANGE_SIZE - 2)) + 1).to_string()
}

/// The `count`th (from 1) pod address of node `index`, in `pod_cidr`
/// (an IPv4 CIDR) when it has one.
pub fn pod_address(pod_cidr: Option<&str>, index: u32, count: u32) -> String {
    let (base, prefix) = pod_cidr
        .and_then(parse_cidr)
        .unwrap_or((POD_FALLBACK_BASE + (index % POD_FALLBACK_NODES) * 256, 24));
    let size = 1_u64 << (32 - u32::from(prefix));
    let usable = size.saturating_sub(2).max(1);
    let offset = u32::try_from(u64::from(count.max(1) - 1) % usable + 1).expect("below 2^32");
    Ipv4Addr::from(base.wrapping_add(offset)).to_string()
}

/// An IPv4 CIDR's network address and prefix length.
fn parse_cidr(cidr: &str) -> Option<(u32, u8)> {
    let (address, prefix) = cidr.split_once('/')?;
    let address: Ipv4Addr = address.parse().ok()?;
    let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 30)?;
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Some((u32::from(address) & mask, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_count_up_from_the_shared_range() {
        assert_eq!(node_address(0), "100.64.0.1");
        assert_eq!(node_address(300), "100.64.1.45");
    }

    #[test]
    fn pods_take_their_nodes_pod_cidr() {
        assert_eq!(pod_address(Some("10.244.3.0/24"), 7, 1), "10.244.3.1");
        assert_eq!(pod_address(Some("10.244.3.0/24"), 7, 254), "10.244.3.254");
        // Used up: it wraps, skipping the broadcast and network addresses.
        assert_eq!(pod_address(Some("10.244.3.0/24"), 7, 255), "10.244.3.1");
    }

    #[test]
    fn without_a_pod_cidr_each_node_has_its_own_24() {
        assert_eq!(pod_address(None, 0, 1), "10.128.0.1");
        assert_eq!(pod_address(None, 258, 2), "10.129.2.2");
        assert_eq!(pod_address(Some("not a cidr"), 0, 1), "10.128.0.1");
    }
}
