//! The generated clients and servers talk to each other: a unary call and a
//! bidirectional stream, over real loopback TCP with tonic, and over madsim's
//! simulated network when built with `RUSTFLAGS="--cfg madsim"` (the variant
//! the simulation suite relies on).
//!
//! It doubles as the smallest example of implementing a generated service.

use std::pin::Pin;

use keel_proto::etcdserverpb::kv_client::KvClient;
use keel_proto::etcdserverpb::kv_server::{Kv, KvServer};
use keel_proto::etcdserverpb::watch_client::WatchClient;
use keel_proto::etcdserverpb::watch_server::{Watch, WatchServer};
use keel_proto::etcdserverpb::{
    watch_request, CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse,
    PutRequest, PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
    WatchCreateRequest, WatchRequest, WatchResponse,
};
use keel_proto::mvccpb::KeyValue;
use tonic::codegen::tokio_stream::{self, Stream, StreamExt};
use tonic::{Code, Request, Response, Status, Streaming};

/// A KV service that answers Range with the requested key repeated `limit`
/// times and refuses everything else.
struct EchoKv;

#[tonic::async_trait]
impl Kv for EchoKv {
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let request = request.into_inner();
        let kv = KeyValue {
            key: request.key,
            ..Default::default()
        };
        Ok(Response::new(RangeResponse {
            kvs: vec![kv; request.limit as usize],
            count: request.limit,
            ..Default::default()
        }))
    }

    async fn put(&self, _: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        Err(Status::unimplemented("put"))
    }

    async fn delete_range(
        &self,
        _: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        Err(Status::unimplemented("delete_range"))
    }

    async fn txn(&self, _: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        Err(Status::unimplemented("txn"))
    }

    async fn compact(
        &self,
        _: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        Err(Status::unimplemented("compact"))
    }
}

/// A Watch service that acknowledges every create request with `created`
/// and the requested watch ID.
struct EchoWatch;

type WatchResponseStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Watch for EchoWatch {
    type WatchStream = WatchResponseStream;

    async fn watch(
        &self,
        request: Request<Streaming<WatchRequest>>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let responses = request.into_inner().map(|request| {
            let request = request?;
            match request.request_union {
                Some(watch_request::RequestUnion::CreateRequest(create)) => Ok(WatchResponse {
                    watch_id: create.watch_id,
                    created: true,
                    ..Default::default()
                }),
                _ => Err(Status::invalid_argument("only create requests")),
            }
        });
        Ok(Response::new(Box::pin(responses)))
    }
}

fn create_request(watch_id: i64) -> WatchRequest {
    WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(
            WatchCreateRequest {
                key: b"k".to_vec(),
                watch_id,
                ..Default::default()
            },
        )),
    }
}

/// Calls both services through the generated clients.
async fn exercise(endpoint: String) {
    let mut kv = KvClient::connect(endpoint.clone())
        .await
        .expect("connect the KV client");
    let range = kv
        .range(RangeRequest {
            key: b"k".to_vec(),
            limit: 2,
            ..Default::default()
        })
        .await
        .expect("Range succeeds")
        .into_inner();
    assert_eq!(range.count, 2);
    assert_eq!(range.kvs.len(), 2);
    assert_eq!(range.kvs[0].key, b"k");

    let refused = kv
        .put(PutRequest::default())
        .await
        .expect_err("Put is refused");
    assert_eq!(refused.code(), Code::Unimplemented);

    let mut watch = WatchClient::connect(endpoint)
        .await
        .expect("connect the Watch client");
    let requests = tokio_stream::iter(vec![create_request(7), create_request(8)]);
    let mut responses = watch
        .watch(requests)
        .await
        .expect("Watch opens")
        .into_inner();
    for expected_watch_id in [7, 8] {
        let response = responses
            .next()
            .await
            .expect("one response per create request")
            .expect("the response is not an error");
        assert!(response.created);
        assert_eq!(response.watch_id, expected_watch_id);
    }
}

#[cfg(not(madsim))]
#[tokio::test]
async fn generated_client_and_server_agree_over_tcp() {
    use tonic::transport::server::TcpIncoming;
    use tonic::transport::Server;

    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = incoming.local_addr().unwrap();
    let server = tokio::spawn(
        Server::builder()
            .add_service(KvServer::new(EchoKv))
            .add_service(WatchServer::new(EchoWatch))
            .serve_with_incoming(incoming),
    );
    exercise(format!("http://{address}")).await;
    server.abort();
}

#[cfg(madsim)]
#[tokio::test]
async fn generated_client_and_server_agree_in_simulation() {
    use std::net::SocketAddr;
    use std::time::Duration;
    use tonic::transport::Server;

    let handle = madsim::runtime::Handle::current();
    let server_address: SocketAddr = "10.0.0.1:2379".parse().unwrap();
    let server_node = handle
        .create_node()
        .name("server")
        .ip(server_address.ip())
        .build();
    let client_node = handle
        .create_node()
        .name("client")
        .ip("10.0.0.2".parse().unwrap())
        .build();
    server_node.spawn(async move {
        Server::builder()
            .add_service(KvServer::new(EchoKv))
            .add_service(WatchServer::new(EchoWatch))
            .serve(server_address)
            .await
            .unwrap();
    });
    client_node
        .spawn(async move {
            // Let the server bind before the first connect.
            madsim::time::sleep(Duration::from_millis(100)).await;
            exercise(format!("http://{server_address}")).await;
        })
        .await
        .unwrap();
}
