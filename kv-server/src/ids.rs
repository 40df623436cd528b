//! Member and cluster IDs, derived the way etcd derives them, so a keel
//! cluster started with the same flags as an etcd cluster reports the same
//! IDs.
//!
//! - member ID: the first 8 bytes (big-endian) of
//!   SHA-1(sorted peer URLs joined with nothing ‖ cluster token);
//! - cluster ID: the first 8 bytes of SHA-1 of the sorted member IDs, each
//!   as 8 big-endian bytes.

use sha1::{Digest, Sha1};

fn first_u64(hash: &[u8]) -> u64 {
    u64::from_be_bytes(hash[..8].try_into().expect("a SHA-1 hash has 20 bytes"))
}

/// A member's ID from its advertised peer URLs and the cluster token.
pub fn member_id(peer_urls: &[String], cluster_token: &str) -> u64 {
    let mut urls = peer_urls.to_vec();
    urls.sort();
    let mut hasher = Sha1::new();
    hasher.update(urls.concat().as_bytes());
    hasher.update(cluster_token.as_bytes());
    first_u64(&hasher.finalize())
}

/// A cluster's ID from its members' IDs.
pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let mut hasher = Sha1::new();
    for id in ids {
        hasher.update(id.to_be_bytes());
    }
    first_u64(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_etcd_for_its_default_single_member() {
        // etcd 3.4 with no flags (peer URL http://localhost:2380, token
        // etcd-cluster) reports member 8e9e05c52164694d and cluster
        // cdf818194e3a8c32.
        let member = member_id(&["http://localhost:2380".to_string()], "etcd-cluster");
        assert_eq!(format!("{member:x}"), "8e9e05c52164694d");
        assert_eq!(format!("{:x}", cluster_id(&[member])), "cdf818194e3a8c32");
    }

    #[test]
    fn peer_url_order_does_not_matter() {
        let a = member_id(&["http://b:2380".into(), "http://a:2380".into()], "t");
        let b = member_id(&["http://a:2380".into(), "http://b:2380".into()], "t");
        assert_eq!(a, b);
        assert_ne!(a, member_id(&["http://a:2380".into()], "t"));
    }
}
