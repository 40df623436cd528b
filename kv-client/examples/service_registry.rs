//! Service registration and discovery on leases and a prefix watch, the way
//! services find each other through etcd (or keel).
//!
//! ```sh
//! # a service registers itself under services/<name>, on a lease it keeps alive
//! cargo run -p keel-client --example service_registry -- register web-1 10.0.0.7:8080 --ttl 5
//! # a client lists what is registered, then follows every change
//! cargo run -p keel-client --example service_registry -- discover
//! ```
//!
//! `discover` prints `up <name> <address>` and `down <name>` lines. When a
//! service dies (kill -9, a crash, a lost machine), its keep-alives stop,
//! its lease expires within the TTL, and the server deletes its key: every
//! `discover` sees `down <name>` without the service saying goodbye.

use std::time::Duration;

use clap::{Parser, Subcommand};
use keel_proto::etcdserverpb::{
    kv_client::KvClient, lease_client::LeaseClient, watch_client::WatchClient,
    watch_request::RequestUnion, LeaseGrantRequest, LeaseKeepAliveRequest, PutRequest,
    RangeRequest, WatchCreateRequest, WatchRequest,
};
use keel_proto::mvccpb::event::EventType;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

/// Where registrations live.
const PREFIX: &str = "services/";

#[derive(Parser)]
#[command(about = "Register a service on a lease, or discover services with a prefix watch")]
struct Cli {
    /// `host:port` of a keel (or etcd) client URL.
    #[arg(long, default_value = "127.0.0.1:2379", global = true)]
    endpoint: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Register `name` at `address` and keep the registration alive until
    /// killed.
    Register {
        /// The service's name.
        name: String,
        /// Where it serves.
        address: String,
        /// Seconds the registration outlives the service's last keep-alive.
        #[arg(long, default_value_t = 5)]
        ttl: i64,
    },
    /// Print the registered services, then every change, until killed.
    Discover,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let cli = Cli::parse();
    let channel = Channel::from_shared(format!("http://{}", cli.endpoint))?
        .connect()
        .await?;
    match cli.command {
        Command::Register { name, address, ttl } => register(channel, &name, &address, ttl).await,
        Command::Discover => discover(channel).await,
    }
}

async fn register(channel: Channel, name: &str, address: &str, ttl: i64) -> Result<(), Error> {
    let mut leases = LeaseClient::new(channel.clone());
    let lease = leases
        .lease_grant(LeaseGrantRequest { ttl, id: 0 })
        .await?
        .into_inner();
    KvClient::new(channel)
        .put(PutRequest {
            key: format!("{PREFIX}{name}").into_bytes(),
            value: address.as_bytes().to_vec(),
            lease: lease.id,
            ..PutRequest::default()
        })
        .await?;
    println!(
        "registered {name} on lease {:x} (TTL {}s)",
        lease.id, lease.ttl
    );
    // Keep-alives every third of the TTL, as etcd's clients send them.
    let (requests, outgoing) = tokio::sync::mpsc::channel(1);
    let mut answers = leases
        .lease_keep_alive(ReceiverStream::new(outgoing))
        .await?
        .into_inner();
    let period = Duration::from_millis((lease.ttl.max(1) as u64 * 1000) / 3);
    loop {
        requests
            .send(LeaseKeepAliveRequest { id: lease.id })
            .await?;
        match answers.message().await? {
            Some(answer) if answer.ttl > 0 => {}
            _ => return Err(format!("lease {:x} is gone", lease.id).into()),
        }
        tokio::time::sleep(period).await;
    }
}

async fn discover(channel: Channel) -> Result<(), Error> {
    let range_end = prefix_end(PREFIX.as_bytes());
    let listed = KvClient::new(channel.clone())
        .range(RangeRequest {
            key: PREFIX.as_bytes().to_vec(),
            range_end: range_end.clone(),
            ..RangeRequest::default()
        })
        .await?
        .into_inner();
    for kv in &listed.kvs {
        println!(
            "up {} {}",
            name_of(&kv.key),
            String::from_utf8_lossy(&kv.value)
        );
    }
    // Everything after the listing, so no change is missed or seen twice.
    let revision = listed.header.map_or(0, |header| header.revision);
    let create = WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: PREFIX.as_bytes().to_vec(),
            range_end,
            start_revision: revision + 1,
            ..WatchCreateRequest::default()
        })),
    };
    let (requests, outgoing) = tokio::sync::mpsc::channel(1);
    requests.send(create).await?;
    let mut responses = WatchClient::new(channel)
        .watch(ReceiverStream::new(outgoing))
        .await?
        .into_inner();
    while let Some(response) = responses.message().await? {
        for event in response.events {
            let Some(kv) = event.kv else { continue };
            if event.r#type == EventType::Delete as i32 {
                println!("down {}", name_of(&kv.key));
            } else {
                println!(
                    "up {} {}",
                    name_of(&kv.key),
                    String::from_utf8_lossy(&kv.value)
                );
            }
        }
    }
    drop(requests);
    Err("the watch ended".into())
}

fn name_of(key: &[u8]) -> String {
    String::from_utf8_lossy(&key[PREFIX.len().min(key.len())..]).into_owned()
}

/// etcd's end of the prefix range: the last byte incremented.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}
