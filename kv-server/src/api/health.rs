//! `grpc.health.v1.Health` on the client port: SERVING while the member
//! knows a leader, NOT_SERVING otherwise. The service name may be empty
//! (the whole server) or any of the etcd services keel serves.

use openraft::type_config::async_runtime::WatchReceiver;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use keel_proto::grpc::health::v1::health_check_response::ServingStatus;
use keel_proto::grpc::health::v1::health_server::Health;
use keel_proto::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse};
use tonic::{Request, Response, Status};

use crate::node::Node;

/// Services a health check may name.
const SERVICES: &[&str] = &[
    "",
    "etcdserverpb.KV",
    "etcdserverpb.Maintenance",
    "grpc.health.v1.Health",
];

/// How often a Watch re-checks the status.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// The health service.
#[derive(Debug, Clone)]
pub struct HealthApi {
    node: Arc<Node>,
}

impl HealthApi {
    /// The service over `node`.
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }
}

fn status_of(node: &Node) -> ServingStatus {
    if node
        .raft()
        .metrics()
        .borrow_watched()
        .current_leader
        .is_some()
    {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

fn check_service(service: &str) -> Result<(), Status> {
    if SERVICES.contains(&service) {
        Ok(())
    } else {
        Err(Status::not_found(format!("unknown service {service:?}")))
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for HealthApi {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        check_service(&request.get_ref().service)?;
        Ok(Response::new(HealthCheckResponse {
            status: status_of(&self.node) as i32,
        }))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let service = request.into_inner().service;
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        if check_service(&service).is_err() {
            // The protocol says: an unknown service is reported, not refused,
            // since it may be registered later.
            let _ = sender
                .send(Ok(HealthCheckResponse {
                    status: ServingStatus::ServiceUnknown as i32,
                }))
                .await;
            return Ok(Response::new(Box::pin(
                tokio_stream::wrappers::ReceiverStream::new(receiver),
            )));
        }
        let node = Arc::clone(&self.node);
        tokio::spawn(async move {
            let mut last = None;
            loop {
                let status = status_of(&node);
                if last != Some(status) {
                    let message = HealthCheckResponse {
                        status: status as i32,
                    };
                    if sender.send(Ok(message)).await.is_err() {
                        return;
                    }
                    last = Some(status);
                }
                tokio::select! {
                    // In this order, so one seed replays one schedule (tokio picks a random order otherwise).
                    biased;
                    () = tokio::time::sleep(WATCH_INTERVAL) => {}
                    () = sender.closed() => return,
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }
}
