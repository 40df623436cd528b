//! The Lock and Election services: the server-side versions of the
//! recipes in [`crate::concurrency`], for callers that prefer one RPC
//! (etcd's `v3lock` and `v3election` gRPC services; keeld serves both).
//!
//! Lock and Campaign wait by design, so they take their own deadline
//! instead of [`ClientOptions::request_timeout`](crate::ClientOptions).

use std::time::Duration;

use futures::{Stream, StreamExt};
use keel_proto::v3electionpb::{
    election_client::ElectionClient, CampaignRequest, CampaignResponse, LeaderKey, LeaderRequest,
    LeaderResponse, ProclaimRequest, ProclaimResponse, ResignRequest, ResignResponse,
};
use keel_proto::v3lockpb::{
    lock_client::LockClient, LockRequest, LockResponse, UnlockRequest, UnlockResponse,
};

use crate::client::Client;
use crate::error::{Error, Safety};

impl Client {
    /// Waits up to `wait` for the lock `name`, held on lease `lease`; the
    /// answer's key is the lock's ownership key (pass it to
    /// [`Client::unlock`]).
    pub async fn lock(
        &self,
        name: impl Into<Vec<u8>>,
        lease: i64,
        wait: Duration,
    ) -> Result<LockResponse, Error> {
        let request = LockRequest {
            name: name.into(),
            lease,
        };
        self.call_within(wait, Safety::Mutating, |channel| {
            let request = request.clone();
            async move { Ok(LockClient::new(channel).lock(request).await?.into_inner()) }
        })
        .await
    }

    /// Releases the lock held with ownership key `key`.
    pub async fn unlock(&self, key: impl Into<Vec<u8>>) -> Result<UnlockResponse, Error> {
        let request = UnlockRequest { key: key.into() };
        self.call(Safety::Mutating, |channel| {
            let request = request.clone();
            async move { Ok(LockClient::new(channel).unlock(request).await?.into_inner()) }
        })
        .await
    }

    /// Waits up to `wait` to lead election `name` with `value`, on lease
    /// `lease`; the answer's leader key proves leadership to
    /// [`Client::proclaim`] and [`Client::resign`].
    pub async fn campaign(
        &self,
        name: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
        lease: i64,
        wait: Duration,
    ) -> Result<CampaignResponse, Error> {
        let request = CampaignRequest {
            name: name.into(),
            lease,
            value: value.into(),
        };
        self.call_within(wait, Safety::Mutating, |channel| {
            let request = request.clone();
            async move {
                Ok(ElectionClient::new(channel)
                    .campaign(request)
                    .await?
                    .into_inner())
            }
        })
        .await
    }

    /// Changes the leader's value.
    pub async fn proclaim(
        &self,
        leader: LeaderKey,
        value: impl Into<Vec<u8>>,
    ) -> Result<ProclaimResponse, Error> {
        let request = ProclaimRequest {
            leader: Some(leader),
            value: value.into(),
        };
        self.call(Safety::Mutating, |channel| {
            let request = request.clone();
            async move {
                Ok(ElectionClient::new(channel)
                    .proclaim(request)
                    .await?
                    .into_inner())
            }
        })
        .await
    }

    /// The current leader of election `name`.
    pub async fn election_leader(&self, name: impl Into<Vec<u8>>) -> Result<LeaderResponse, Error> {
        let request = LeaderRequest { name: name.into() };
        self.call(Safety::Idempotent, |channel| {
            let request = request.clone();
            async move {
                Ok(ElectionClient::new(channel)
                    .leader(request)
                    .await?
                    .into_inner())
            }
        })
        .await
    }

    /// Every leader of election `name` from now on, as the server reports
    /// them. Not resumed after a disconnect: use
    /// [`Election::observe`](crate::Election::observe) for that.
    pub async fn election_observe(
        &self,
        name: impl Into<Vec<u8>>,
    ) -> Result<impl Stream<Item = Result<LeaderResponse, Error>>, Error> {
        let request = LeaderRequest { name: name.into() };
        let leaders = self
            .call(Safety::Idempotent, |channel| {
                let request = request.clone();
                async move {
                    Ok(ElectionClient::new(channel)
                        .observe(request)
                        .await?
                        .into_inner())
                }
            })
            .await?;
        Ok(leaders.map(|leader| leader.map_err(|status| Error::Server { status })))
    }

    /// Gives up the leadership `leader` proves.
    pub async fn resign(&self, leader: LeaderKey) -> Result<ResignResponse, Error> {
        let request = ResignRequest {
            leader: Some(leader),
        };
        self.call(Safety::Mutating, |channel| {
            let request = request.clone();
            async move {
                Ok(ElectionClient::new(channel)
                    .resign(request)
                    .await?
                    .into_inner())
            }
        })
        .await
    }
}
