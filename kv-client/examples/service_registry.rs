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

use clap::{Parser, Subcommand};
use keel_client::{Client, ClientOptions, Informer, PutOptions, Session, Update};

/// Where registrations live.
const PREFIX: &str = "services/";

#[derive(Parser)]
#[command(about = "Register a service on a lease, or discover services with a prefix watch")]
struct Cli {
    /// `host:port` of a keel (or etcd) client URL; repeat it, or separate
    /// with commas, for every member of a cluster.
    #[arg(
        long,
        default_value = "127.0.0.1:2379",
        value_delimiter = ',',
        global = true
    )]
    endpoint: Vec<String>,
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
    let client = Client::connect(cli.endpoint, ClientOptions::new()).await?;
    match cli.command {
        Command::Register { name, address, ttl } => register(&client, &name, &address, ttl).await,
        Command::Discover => discover(&client).await,
    }
}

async fn register(client: &Client, name: &str, address: &str, ttl: i64) -> Result<(), Error> {
    // A session is a lease that keel-client keeps alive in the background.
    let mut session = Session::new(client, ttl).await?;
    let on_lease = PutOptions::new().with_lease(session.lease_id());
    client
        .put(format!("{PREFIX}{name}"), address, Some(on_lease))
        .await?;
    println!(
        "registered {name} on lease {:x} (TTL {ttl}s)",
        session.lease_id()
    );
    session.lost().await;
    Err(format!("lease {:x} is gone", session.lease_id()).into())
}

async fn discover(client: &Client) -> Result<(), Error> {
    // An informer lists the prefix, then watches from the revision after
    // the listing, so no change is missed or seen twice.
    let mut informer = Informer::start(client, PREFIX).await?;
    for kv in informer.cache().values() {
        print_up(&kv.key, &kv.value);
    }
    loop {
        match informer.next().await? {
            Update::Changed { changes, .. } => {
                for change in changes {
                    match change {
                        keel_client::Change::Put { current, .. } => {
                            print_up(&current.key, &current.value);
                        }
                        keel_client::Change::Deleted { key, .. } => {
                            println!("down {}", name_of(&key));
                        }
                    }
                }
            }
            // History was compacted while the watch was away: say what is
            // up now.
            Update::Relisted { .. } => {
                for kv in informer.cache().values() {
                    print_up(&kv.key, &kv.value);
                }
            }
            Update::Progress { .. } => {}
        }
    }
}

fn print_up(key: &[u8], value: &[u8]) {
    println!("up {} {}", name_of(key), String::from_utf8_lossy(value));
}

fn name_of(key: &[u8]) -> String {
    String::from_utf8_lossy(&key[PREFIX.len().min(key.len())..]).into_owned()
}
