//! The `v3lockpb.Lock` and `v3electionpb.Election` services, which etcdctl
//! does not call (its `lock` and `elect` run the recipes client-side; the
//! etcdctl suite covers those). Every case runs against etcd 3.4, which
//! serves both on its client port, and against keeld.
//!
//! - a lock is held by one lease at a time; a waiter gets it when the
//!   holder unlocks, with a key created later: the create revision is a
//!   fencing token that only grows;
//! - an election has one leader; Leader and Observe report it and its
//!   proclaimed values; a stale leader key cannot proclaim; a resign hands
//!   leadership to the next campaigner.
#![allow(clippy::unwrap_used, reason = "tests")]

use std::time::Duration;

use keel_proto::etcdserverpb::{
    kv_client::KvClient, lease_client::LeaseClient, LeaseGrantRequest, RangeRequest,
};
use keel_proto::v3electionpb::{
    election_client::ElectionClient, CampaignRequest, LeaderKey, LeaderRequest, ProclaimRequest,
    ResignRequest,
};
use keel_proto::v3lockpb::{lock_client::LockClient, LockRequest, UnlockRequest};
use keel_tests::{Flavor, Server};
use tonic::transport::Channel;

/// How long a waiter may take to get what was handed over.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a waiter is watched to show it does not get ahead of a holder.
const STILL_WAITING: Duration = Duration::from_millis(1500);

async fn channel(server: &Server) -> Channel {
    Channel::from_shared(format!("http://{}", server.endpoint()))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

async fn lease(channel: &Channel) -> i64 {
    LeaseClient::new(channel.clone())
        .lease_grant(LeaseGrantRequest { ttl: 60, id: 0 })
        .await
        .unwrap()
        .into_inner()
        .id
}

async fn lock_handover(flavor: Flavor) {
    let server = Server::start(flavor);
    let channel = channel(&server).await;
    let (first_lease, second_lease) = (lease(&channel).await, lease(&channel).await);
    let mut locks = LockClient::new(channel.clone());
    let first = locks
        .lock(LockRequest {
            name: b"door".to_vec(),
            lease: first_lease,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.key, format!("door/{first_lease:x}").into_bytes());
    let first_revision = create_revision(&channel, &first.key).await;
    assert_eq!(
        first.header.unwrap().revision,
        first_revision,
        "a free lock is taken at its key's revision"
    );

    let mut second_client = LockClient::new(channel.clone());
    let waiter = tokio::spawn(async move {
        second_client
            .lock(LockRequest {
                name: b"door".to_vec(),
                lease: second_lease,
            })
            .await
            .map(tonic::Response::into_inner)
    });
    tokio::time::sleep(STILL_WAITING).await;
    assert!(
        !waiter.is_finished(),
        "the second locker waits for the first"
    );

    locks
        .unlock(UnlockRequest {
            key: first.key.clone(),
        })
        .await
        .unwrap();
    let second = tokio::time::timeout(HANDOVER_TIMEOUT, waiter)
        .await
        .expect("the waiter gets the lock")
        .unwrap()
        .unwrap();
    assert_eq!(second.key, format!("door/{second_lease:x}").into_bytes());
    let second_revision = create_revision(&channel, &second.key).await;
    assert!(
        second_revision > first_revision,
        "fencing tokens grow: {second_revision} after {first_revision}"
    );
    assert!(second.header.unwrap().revision > first_revision);
}

async fn create_revision(channel: &Channel, key: &[u8]) -> i64 {
    KvClient::new(channel.clone())
        .range(RangeRequest {
            key: key.to_vec(),
            ..RangeRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .kvs[0]
        .create_revision
}

async fn election(flavor: Flavor) {
    let server = Server::start(flavor);
    let channel = channel(&server).await;
    let (first_lease, second_lease) = (lease(&channel).await, lease(&channel).await);
    let mut elections = ElectionClient::new(channel.clone());
    let no_leader = elections
        .leader(LeaderRequest {
            name: b"chair".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(no_leader.message(), "election: no leader");

    let leader = elections
        .campaign(CampaignRequest {
            name: b"chair".to_vec(),
            lease: first_lease,
            value: b"alice".to_vec(),
        })
        .await
        .unwrap()
        .into_inner()
        .leader
        .unwrap();
    assert_eq!(leader.name, b"chair");
    assert_eq!(leader.key, format!("chair/{first_lease:x}").into_bytes());
    assert_eq!(leader.lease, first_lease);

    let mut observer = elections
        .observe(LeaderRequest {
            name: b"chair".to_vec(),
        })
        .await
        .unwrap()
        .into_inner();
    let observed = observer.message().await.unwrap().unwrap().kv.unwrap();
    assert_eq!(observed.value, b"alice");

    elections
        .proclaim(ProclaimRequest {
            leader: Some(leader.clone()),
            value: b"alice, again".to_vec(),
        })
        .await
        .unwrap();
    let observed = observer.message().await.unwrap().unwrap().kv.unwrap();
    assert_eq!(observed.value, b"alice, again");
    let current = elections
        .leader(LeaderRequest {
            name: b"chair".to_vec(),
        })
        .await
        .unwrap()
        .into_inner()
        .kv
        .unwrap();
    assert_eq!(current.value, b"alice, again");

    let stale = LeaderKey {
        rev: leader.rev - 1,
        ..leader.clone()
    };
    let refused = elections
        .proclaim(ProclaimRequest {
            leader: Some(stale),
            value: b"mallory".to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.message(), "election: not leader");

    let mut second_client = ElectionClient::new(channel.clone());
    let waiter = tokio::spawn(async move {
        second_client
            .campaign(CampaignRequest {
                name: b"chair".to_vec(),
                lease: second_lease,
                value: b"bob".to_vec(),
            })
            .await
            .map(tonic::Response::into_inner)
    });
    tokio::time::sleep(STILL_WAITING).await;
    assert!(!waiter.is_finished(), "bob waits while alice leads");

    elections
        .resign(ResignRequest {
            leader: Some(leader.clone()),
        })
        .await
        .unwrap();
    let next = tokio::time::timeout(HANDOVER_TIMEOUT, waiter)
        .await
        .expect("bob is elected")
        .unwrap()
        .unwrap()
        .leader
        .unwrap();
    assert_eq!(next.key, format!("chair/{second_lease:x}").into_bytes());
    assert!(next.rev > leader.rev, "leadership's fencing token grows");
    let observed = tokio::time::timeout(HANDOVER_TIMEOUT, observer.message())
        .await
        .expect("the observer sees the new leader")
        .unwrap()
        .unwrap()
        .kv
        .unwrap();
    assert_eq!(observed.value, b"bob");
}

#[test]
fn etcd_lock_hands_over_with_growing_fencing_tokens() {
    keel_tests::runtime().block_on(lock_handover(Flavor::Etcd));
}

#[test]
fn keeld_lock_hands_over_with_growing_fencing_tokens() {
    keel_tests::runtime().block_on(lock_handover(Flavor::Keeld));
}

#[test]
fn etcd_election_has_one_leader_at_a_time() {
    keel_tests::runtime().block_on(election(Flavor::Etcd));
}

#[test]
fn keeld_election_has_one_leader_at_a_time() {
    keel_tests::runtime().block_on(election(Flavor::Keeld));
}
