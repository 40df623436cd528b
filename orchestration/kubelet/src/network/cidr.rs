//! The node's pod range (`spec.podCIDR`) and the choice of a pod's
//! address in it: plain functions over plain data, no I/O.
//!
//! ```text
//!   10.244.0.0/24:  .0 network   .1 gateway (the bridge)   .2 ... .254 pods   .255 broadcast
//! ```

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

/// The widest prefix that still leaves one pod address: a /30 holds the
/// network address, the gateway, one pod and the broadcast address.
pub const PREFIX_LEN_MAX: u8 = 30;

/// Why a pod CIDR was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not `a.b.c.d/n`.
    #[error("not an IPv4 CIDR of the form a.b.c.d/n")]
    Syntax,
    /// An IPv6 range: pods get IPv4 addresses only.
    #[error("an IPv6 range; only IPv4 pod ranges are supported")]
    Ipv6,
    /// The prefix length is not a number from 0 to 32.
    #[error("prefix length {0:?} is not a number from 0 to 32")]
    PrefixLen(String),
    /// Too small for a gateway and one pod.
    #[error("a /{0} is too small: a pod range needs a /{PREFIX_LEN_MAX} or wider (network, gateway, one pod, broadcast)")]
    TooSmall(u8),
    /// The address has bits set past the prefix.
    #[error("host bits are set; did you mean {0}?")]
    HostBits(String),
}

/// An IPv4 pod range: the bridge takes its first host address as the
/// pods' gateway, pods take the addresses after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodCidr {
    network: Ipv4Addr,
    prefix_len: u8,
}

impl PodCidr {
    /// Parses `a.b.c.d/n` (IPv4, host bits clear, n at most
    /// [`PREFIX_LEN_MAX`]).
    pub fn parse(text: &str) -> Result<Self, CidrError> {
        let (address, prefix_len) = text.trim().split_once('/').ok_or(CidrError::Syntax)?;
        let address: IpAddr = address.parse().map_err(|_| CidrError::Syntax)?;
        let IpAddr::V4(address) = address else {
            return Err(CidrError::Ipv6);
        };
        let prefix_len: u8 = match prefix_len.parse() {
            Ok(length) if length <= 32 => length,
            _ => return Err(CidrError::PrefixLen(prefix_len.to_owned())),
        };
        if prefix_len > PREFIX_LEN_MAX {
            return Err(CidrError::TooSmall(prefix_len));
        }
        let network = Ipv4Addr::from(address.to_bits() & mask(prefix_len));
        if network != address {
            return Err(CidrError::HostBits(format!("{network}/{prefix_len}")));
        }
        Ok(Self {
            network,
            prefix_len,
        })
    }

    /// The prefix length (24 for a /24).
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// The first host address, the bridge's: the pods' gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network.to_bits() + 1)
    }

    /// How many pods the range holds (all but network, gateway and
    /// broadcast).
    pub fn pod_capacity(&self) -> u32 {
        let size = 1_u64 << (32 - u32::from(self.prefix_len));
        // At most a /0: 2^32 - 3 fits in a u32.
        u32::try_from(size - 3).expect("a range holds fewer than 2^32 addresses")
    }

    /// Whether `address` is one of the range's pod addresses.
    pub fn holds_pod_address(&self, address: Ipv4Addr) -> bool {
        let first = self.gateway().to_bits() + 1;
        let offset = address.to_bits().wrapping_sub(first);
        address.to_bits() >= first && offset < self.pod_capacity()
    }

    /// The lowest pod address not in `used`, or `None` when every one is.
    pub fn lowest_free(&self, used: &BTreeSet<Ipv4Addr>) -> Option<Ipv4Addr> {
        let first = self.gateway().to_bits() + 1;
        (0..self.pod_capacity())
            .map(|offset| Ipv4Addr::from(first + offset))
            .find(|address| !used.contains(address))
    }
}

impl std::fmt::Display for PodCidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

/// The netmask of a prefix length, as bits.
fn mask(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slash_24_has_gateway_dot_1_and_pods_from_dot_2() {
        let cidr = PodCidr::parse("10.244.0.0/24").unwrap();
        assert_eq!(cidr.gateway(), Ipv4Addr::new(10, 244, 0, 1));
        assert_eq!(cidr.pod_capacity(), 253);
        assert_eq!(cidr.prefix_len(), 24);
        assert_eq!(cidr.to_string(), "10.244.0.0/24");
        assert_eq!(
            cidr.lowest_free(&BTreeSet::new()),
            Some(Ipv4Addr::new(10, 244, 0, 2))
        );
        assert!(cidr.holds_pod_address(Ipv4Addr::new(10, 244, 0, 254)));
        assert!(!cidr.holds_pod_address(Ipv4Addr::new(10, 244, 0, 255)));
        assert!(!cidr.holds_pod_address(Ipv4Addr::new(10, 244, 0, 1)));
        assert!(!cidr.holds_pod_address(Ipv4Addr::new(10, 244, 1, 2)));
    }

    #[test]
    fn the_lowest_free_address_fills_holes_first() {
        let cidr = PodCidr::parse("10.1.0.0/29").unwrap();
        let used: BTreeSet<_> = [2, 4].map(|last| Ipv4Addr::new(10, 1, 0, last)).into();
        assert_eq!(cidr.lowest_free(&used), Some(Ipv4Addr::new(10, 1, 0, 3)));
        let full: BTreeSet<_> = (2..=6).map(|last| Ipv4Addr::new(10, 1, 0, last)).collect();
        assert_eq!(cidr.lowest_free(&full), None);
    }

    #[test]
    fn a_slash_30_holds_one_pod() {
        let cidr = PodCidr::parse("10.2.0.4/30").unwrap();
        assert_eq!(cidr.pod_capacity(), 1);
        assert_eq!(
            cidr.lowest_free(&BTreeSet::new()),
            Some(Ipv4Addr::new(10, 2, 0, 6))
        );
    }

    #[test]
    fn bad_ranges_are_refused_with_a_reason() {
        assert_eq!(PodCidr::parse("10.0.0.0"), Err(CidrError::Syntax));
        assert_eq!(PodCidr::parse("banana/24"), Err(CidrError::Syntax));
        assert_eq!(PodCidr::parse("fd00::/64"), Err(CidrError::Ipv6));
        assert_eq!(
            PodCidr::parse("10.0.0.0/33"),
            Err(CidrError::PrefixLen("33".into()))
        );
        assert_eq!(
            PodCidr::parse("10.0.0.0/x"),
            Err(CidrError::PrefixLen("x".into()))
        );
        assert_eq!(PodCidr::parse("10.0.0.0/31"), Err(CidrError::TooSmall(31)));
        assert_eq!(PodCidr::parse("10.0.0.0/32"), Err(CidrError::TooSmall(32)));
        assert_eq!(
            PodCidr::parse("10.244.0.5/24"),
            Err(CidrError::HostBits("10.244.0.0/24".into()))
        );
    }

    #[test]
    fn a_slash_0_does_not_overflow() {
        let cidr = PodCidr::parse("0.0.0.0/0").unwrap();
        assert_eq!(cidr.pod_capacity(), u32::MAX - 2);
        assert!(cidr.holds_pod_address(Ipv4Addr::new(255, 255, 255, 254)));
    }
}
