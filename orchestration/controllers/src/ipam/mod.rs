//! Node IPAM's range allocator (`pkg/controller/nodeipam/ipam/cidrset/`
//! and `range_allocator.go`, Kubernetes 1.33): the cluster CIDR cut into
//! blocks of the node mask size, one per node.
//!
//! ```text
//!   CidrSet::new(10.244.0.0/16, 24) ─► 256 blocks, a used-bit each
//!   occupy(node's spec.podCIDR)      ─► marks what existing nodes hold
//!   allocate_next()                  ─► the next free block after the last
//!                                       one given (wrapping), as cidrset's
//!                                       nextCandidate does
//!   release(cidr)                    ─► free again when its node goes
//! ```
//!
//! Blocks are handed out round-robin, not lowest-first: a released block
//! is reused only after the others, which keeps a deleted node's pod
//! addresses from going at once to a new node. IPv4 and IPv6 both work;
//! one set is one family (dual stack uses two).

pub mod run;

#[cfg(test)]
mod tests;

use std::net::IpAddr;

use keel_api::k8s_openapi::api::core::v1::Node;

/// The node mask size kube-controller-manager uses for IPv4 when
/// `--node-cidr-mask-size` is not given.
pub const NODE_MASK_SIZE_IPV4_DEFAULT: u8 = 24;
/// The same for IPv6.
pub const NODE_MASK_SIZE_IPV6_DEFAULT: u8 = 64;
/// A node mask may be at most this much longer than the cluster's
/// (`clusterSubnetMaxDiff`: 65 536 blocks, one bit each).
pub const SUBNET_MAX_DIFF: u8 = 16;

/// Why a CIDR set could not be made or used; the messages are
/// `cidr_set.go`'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Every block is taken (`ErrCIDRRangeNoCIDRsRemaining`).
    #[error("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range")]
    Full,
    /// The node mask is too long for the cluster CIDR (`ErrCIDRSetSubNetTooBig`).
    #[error("New CIDR set failed; the node CIDR size is too big")]
    SubnetTooBig,
    /// The node mask is longer than the address (`ErrSubNetMaskSizeInvalid`).
    #[error("SubNetMask is invalid, should be lower or equal to 32 for IPv4 and to 128 for IPv6")]
    MaskInvalid,
    /// The text is not a CIDR.
    #[error("invalid CIDR address: {0}")]
    Parse(String),
    /// The CIDR is outside the cluster CIDR.
    #[error("cidr {cidr} is out the range of cluster cidr {cluster}")]
    OutOfRange {
        /// The CIDR given.
        cidr: String,
        /// The cluster CIDR.
        cluster: String,
    },
}

/// A CIDR: an address (masked) and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The first address, as a 128-bit number (IPv4 in the low 32 bits).
    base: u128,
    /// The prefix length.
    prefix: u8,
    /// Whether it is IPv6.
    v6: bool,
}

impl Cidr {
    /// Parses "10.244.0.0/16" or "fd00::/48"; the address is masked.
    pub fn parse(text: &str) -> Result<Self, CidrError> {
        let bad = || CidrError::Parse(text.to_owned());
        let (ip, prefix) = text.split_once('/').ok_or_else(bad)?;
        let ip: IpAddr = ip.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let (value, v6) = match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), false),
            IpAddr::V6(v6) => (u128::from(v6), true),
        };
        let bits = if v6 { 128 } else { 32 };
        if prefix > bits {
            return Err(bad());
        }
        Ok(Self {
            base: value & mask(prefix, bits),
            prefix,
            v6,
        })
    }

    fn bits(self) -> u8 {
        if self.v6 {
            128
        } else {
            32
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = if self.v6 {
            IpAddr::from(self.base.to_be_bytes())
        } else {
            IpAddr::from((self.base as u32).to_be_bytes())
        };
        write!(f, "{ip}/{}", self.prefix)
    }
}

/// The netmask of `prefix` bits in an address of `bits` bits.
fn mask(prefix: u8, bits: u8) -> u128 {
    let all = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    if prefix == 0 {
        0
    } else {
        all & !((1u128 << (bits - prefix)) - 1)
    }
}

/// The blocks of one cluster CIDR and which are in use (`CidrSet`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrSet {
    cluster: Cidr,
    node_prefix: u8,
    used: Vec<bool>,
    used_count: usize,
    next_candidate: usize,
}

impl CidrSet {
    /// The blocks of `/node_mask_size` in `cluster_cidr`.
    pub fn new(cluster_cidr: &str, node_mask_size: u8) -> Result<Self, CidrError> {
        let cluster = Cidr::parse(cluster_cidr)?;
        if node_mask_size > cluster.bits() {
            return Err(CidrError::MaskInvalid);
        }
        if node_mask_size < cluster.prefix || node_mask_size - cluster.prefix > SUBNET_MAX_DIFF {
            return Err(CidrError::SubnetTooBig);
        }
        let blocks = 1usize << (node_mask_size - cluster.prefix);
        Ok(Self {
            cluster,
            node_prefix: node_mask_size,
            used: vec![false; blocks],
            used_count: 0,
            next_candidate: 0,
        })
    }

    /// How many blocks there are.
    pub fn capacity(&self) -> usize {
        self.used.len()
    }

    /// How many blocks are in use.
    pub fn used(&self) -> usize {
        self.used_count
    }

    fn block(&self, index: usize) -> Cidr {
        let shift = self.cluster.bits() - self.node_prefix;
        Cidr {
            base: self.cluster.base | ((index as u128) << shift),
            prefix: self.node_prefix,
            v6: self.cluster.v6,
        }
    }

    /// Takes the next free block after the last one given, wrapping
    /// (`AllocateNext`).
    pub fn allocate_next(&mut self) -> Result<String, CidrError> {
        if self.used_count == self.used.len() {
            return Err(CidrError::Full);
        }
        let count = self.used.len();
        let index = (0..count)
            .map(|i| (self.next_candidate + i) % count)
            .find(|i| !self.used[*i])
            .expect("a block is free: used_count < capacity");
        self.used[index] = true;
        self.used_count += 1;
        self.next_candidate = (index + 1) % count;
        Ok(self.block(index).to_string())
    }

    /// The indices of the blocks `cidr` covers (`getBeginningAndEndIndices`).
    fn indices(&self, text: &str) -> Result<std::ops::RangeInclusive<usize>, CidrError> {
        let cidr = Cidr::parse(text)?;
        let out_of_range = || CidrError::OutOfRange {
            cidr: text.to_owned(),
            cluster: self.cluster.to_string(),
        };
        if cidr.v6 != self.cluster.v6 {
            return Err(out_of_range());
        }
        let bits = self.cluster.bits();
        // Inside the cluster CIDR, or containing it.
        let prefix = cidr.prefix.max(self.cluster.prefix);
        let inside = cidr.base & mask(self.cluster.prefix, bits) == self.cluster.base
            || self.cluster.base & mask(cidr.prefix, bits) == cidr.base;
        if !inside {
            return Err(out_of_range());
        }
        let shift = bits - self.node_prefix;
        let offset = |address: u128| {
            (((address ^ self.cluster.base) >> shift) as usize).min(self.used.len() - 1)
        };
        if prefix == self.cluster.prefix {
            return Ok(0..=self.used.len() - 1);
        }
        let last = cidr.base | !mask(cidr.prefix, bits) & mask(bits, bits);
        Ok(offset(cidr.base & mask(self.node_prefix, bits))
            ..=offset(last & mask(self.node_prefix, bits)))
    }

    /// Marks `cidr` (a node's podCIDR) as in use (`Occupy`); it may already be.
    pub fn occupy(&mut self, cidr: &str) -> Result<(), CidrError> {
        for i in self.indices(cidr)? {
            if !self.used[i] {
                self.used[i] = true;
                self.used_count += 1;
            }
        }
        Ok(())
    }

    /// Frees `cidr` (`Release`).
    pub fn release(&mut self, cidr: &str) -> Result<(), CidrError> {
        for i in self.indices(cidr)? {
            if self.used[i] {
                self.used[i] = false;
                self.used_count -= 1;
            }
        }
        Ok(())
    }
}

/// A node's pod CIDRs: `spec.podCIDRs`, else `spec.podCIDR`.
pub fn node_pod_cidrs(node: &Node) -> Vec<String> {
    let spec = node.spec.as_ref();
    match spec
        .and_then(|s| s.pod_cidrs.clone())
        .filter(|c| !c.is_empty())
    {
        Some(cidrs) => cidrs,
        None => spec
            .and_then(|s| s.pod_cidr.clone())
            .filter(|c| !c.is_empty())
            .into_iter()
            .collect(),
    }
}

/// What the range allocator does for a node that has no pod CIDR yet
/// (`AllocateOrOccupyCIDR`): take a block and set both `spec.podCIDR`
/// and `spec.podCIDRs`. Returns `None` if the node has one (the adapter
/// then [`CidrSet::occupy`]s it, as at start-up for every node).
pub fn assign(set: &mut CidrSet, node: &Node) -> Option<Result<String, CidrError>> {
    node_pod_cidrs(node).is_empty().then(|| set.allocate_next())
}
