//! The CIDR set's tables; expectations from cidrset/cidr_set_test.go and
//! range_allocator_test.go (Kubernetes 1.33).

use keel_api::k8s_openapi::api::core::v1::Node;
use serde_json::json;

use super::*;

#[test]
fn nodes_get_consecutive_blocks_of_the_cluster_cidr() {
    let mut set = CidrSet::new("10.244.0.0/16", NODE_MASK_SIZE_IPV4_DEFAULT).expect("valid");
    assert_eq!(set.capacity(), 256);
    assert_eq!(set.allocate_next().as_deref(), Ok("10.244.0.0/24"));
    assert_eq!(set.allocate_next().as_deref(), Ok("10.244.1.0/24"));
    assert_eq!(set.used(), 2);
}

#[test]
fn existing_nodes_blocks_are_skipped_and_released_ones_come_round_again() {
    let mut set = CidrSet::new("10.244.0.0/22", 24).expect("valid");
    set.occupy("10.244.1.0/24").expect("inside");
    assert_eq!(set.allocate_next().as_deref(), Ok("10.244.0.0/24"));
    assert_eq!(
        set.allocate_next().as_deref(),
        Ok("10.244.2.0/24"),
        "1 is taken"
    );
    set.release("10.244.0.0/24").expect("inside");
    assert_eq!(
        set.allocate_next().as_deref(),
        Ok("10.244.3.0/24"),
        "round-robin"
    );
    assert_eq!(
        set.allocate_next().as_deref(),
        Ok("10.244.0.0/24"),
        "wrapped to the freed one"
    );
    assert_eq!(
        set.allocate_next().map_err(|e| e.to_string()),
        Err("CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range".to_owned())
    );
    // Occupying twice counts once.
    set.release("10.244.3.0/24").expect("inside");
    set.occupy("10.244.3.0/24").expect("inside");
    set.occupy("10.244.3.0/24").expect("inside");
    assert_eq!(set.used(), 4);
}

#[test]
fn bad_sets_and_foreign_cidrs_are_refused() {
    assert_eq!(CidrSet::new("10.0.0.0/8", 25), Err(CidrError::SubnetTooBig));
    assert_eq!(CidrSet::new("10.0.0.0/24", 33), Err(CidrError::MaskInvalid));
    assert_eq!(
        CidrSet::new("10.0.0.0/24", 16),
        Err(CidrError::SubnetTooBig)
    );
    assert!(matches!(
        CidrSet::new("10.0.0.0", 24),
        Err(CidrError::Parse(_))
    ));
    let mut set = CidrSet::new("10.244.0.0/16", 24).expect("valid");
    assert_eq!(
        set.occupy("10.245.0.0/24").map_err(|e| e.to_string()),
        Err("cidr 10.245.0.0/24 is out the range of cluster cidr 10.244.0.0/16".to_owned())
    );
    // A wider CIDR covering a range of blocks.
    set.occupy("10.244.4.0/23").expect("inside");
    assert_eq!(set.used(), 2);
}

#[test]
fn ipv6_blocks() {
    let mut set = CidrSet::new("fd00:10:244::/56", 64).expect("valid");
    assert_eq!(set.capacity(), 256);
    assert_eq!(set.allocate_next().as_deref(), Ok("fd00:10:244::/64"));
    assert_eq!(set.allocate_next().as_deref(), Ok("fd00:10:244:1::/64"));
}

#[test]
fn only_nodes_without_a_pod_cidr_are_assigned() {
    let mut set = CidrSet::new("10.244.0.0/16", 24).expect("valid");
    let bare: Node = serde_json::from_value(json!({"metadata": {"name": "n1"}})).expect("node");
    assert_eq!(
        assign(&mut set, &bare),
        Some(Ok("10.244.0.0/24".to_owned()))
    );
    let given: Node = serde_json::from_value(json!({"metadata": {"name": "n2"},
        "spec": {"podCIDR": "10.244.7.0/24", "podCIDRs": ["10.244.7.0/24"]}}))
    .expect("node");
    assert_eq!(assign(&mut set, &given), None);
    assert_eq!(node_pod_cidrs(&given), ["10.244.7.0/24"]);
}
