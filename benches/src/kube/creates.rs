//! Pod creates through the front (`POST /api/v1/namespaces/<ns>/pods`),
//! driven two ways:
//!
//! - **closed loop** ([`closed_loop`]): `clients` connections, each with
//!   one create in flight and the next sent as soon as it is answered, for
//!   a fixed time: the front's throughput, and latency at that load;
//! - **open loop** ([`open_loop`]): creates scheduled at fixed times
//!   (`rate` per second) whether or not earlier ones are answered, each on
//!   an idle connection (opened when none is idle), latency counted from
//!   the *scheduled* time, so that a stall shows in every create it delays
//!   instead of hiding behind a client that waited (coordinated omission).
//!
//! ```text
//!   closed: client k ─► create k, k+K, k+2K ... ─► load::drive's Report
//!   open:   i = 0, 1, 2 ... at start + i / rate ─► task: idle connection ─► create ─► done − scheduled
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "a load generator measures wall-clock latency"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tonic::Status;

use super::http::{Answer, Connection};
use super::pod::pod_body;
use crate::load::{self, Caller, LoadOptions, Percentiles, Report};

/// Creates an open-loop run keeps in flight at most (so as many
/// connections): far above what 100 creates/s at a few ms each needs,
/// low enough that a front stalled for seconds does not make the
/// benchmark open thousands of sockets.
pub const OPEN_LOOP_IN_FLIGHT_MAX: usize = 256;

/// Connections an open-loop run opens before its first create, so that
/// connecting is not timed in the first creates.
const OPEN_LOOP_CONNECTIONS_WARM: usize = 8;

/// The collection path of pods in `namespace`.
pub fn pods_path(namespace: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/pods")
}

/// Sends the create of pod `name` in `namespace` on `connection`: an
/// error is the connection's (it is not to be used again); the front's
/// refusals are answers (see [`Answer::expect`]).
pub async fn create_pod(
    connection: &mut Connection,
    namespace: &str,
    name: &str,
) -> Result<Answer, String> {
    connection
        .call(
            Method::POST,
            &pods_path(namespace),
            pod_body(namespace, name),
        )
        .await
}

/// One closed-loop client: creates pod `<prefix>-<n>` for request `n`, on
/// its own keep-alive connection (reopened after a transport error).
struct PodCreator {
    address: String,
    namespace: String,
    prefix: String,
    connection: Option<Connection>,
}

impl PodCreator {
    async fn create(&mut self, n: u64) -> Result<(), String> {
        let mut connection = match self.connection.take() {
            Some(connection) => connection,
            None => Connection::open(&self.address).await?,
        };
        let name = format!("{}-{n}", self.prefix);
        let answer = create_pod(&mut connection, &self.namespace, &name).await?;
        self.connection = Some(connection);
        answer.expect(StatusCode::CREATED).map(drop)
    }
}

impl Caller for PodCreator {
    async fn call(&mut self, n: u64) -> Result<(), Status> {
        // load::drive counts failures as tonic statuses; the HTTP error
        // rides in the message.
        self.create(n).await.map_err(Status::unknown)
    }
}

/// Creates pods named `<prefix>-<n>` in `namespace` from `clients`
/// connections for `warmup + duration`, and reports the counted window.
pub async fn closed_loop(
    address: &str,
    namespace: &str,
    prefix: &str,
    clients: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<Report, String> {
    let mut creators = Vec::with_capacity(clients);
    for _ in 0..clients.max(1) {
        creators.push(PodCreator {
            address: address.to_string(),
            namespace: namespace.to_string(),
            prefix: prefix.to_string(),
            connection: Some(Connection::open(address).await?),
        });
    }
    let options = LoadOptions {
        endpoint: address.to_string(),
        conns: clients,
        clients,
        warmup,
        duration,
    };
    load::drive(creators, &options).await
}

/// When create `index` of an open loop at `rate_per_sec` is due, from the
/// start of the run.
pub fn scheduled_offset(index: u64, rate_per_sec: f64) -> Duration {
    Duration::from_secs_f64(index as f64 / rate_per_sec)
}

/// What an open-loop run measured.
#[derive(Debug, Clone)]
pub struct OpenLoopReport {
    /// The offered rate.
    pub rate_per_sec: f64,
    /// Creates scheduled.
    pub scheduled: u64,
    /// Creates answered 201.
    pub created: u64,
    /// Creates that failed.
    pub errors: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// From each successful create's scheduled time to its answer.
    pub latency: Percentiles,
    /// The largest delay between a create's scheduled time and its send
    /// (waiting for this process's scheduler, or for a connection): if it
    /// is large, the benchmark rather than the front was late.
    pub send_delay_max: Duration,
    /// The most creates in flight at once.
    pub in_flight_max: usize,
    /// Connections opened in all.
    pub connections: usize,
}

/// The open loop's shared state: idle connections and counters.
struct Pool {
    address: String,
    idle: Mutex<Vec<Connection>>,
    opened: AtomicUsize,
    in_flight: AtomicUsize,
    in_flight_max: AtomicUsize,
}

impl Pool {
    async fn take(&self) -> Result<Connection, String> {
        let idle = self.idle.lock().expect("the pool's lock").pop();
        if let Some(connection) = idle {
            return Ok(connection);
        }
        self.opened.fetch_add(1, Ordering::Relaxed);
        Connection::open(&self.address).await
    }

    fn give_back(&self, connection: Connection) {
        self.idle.lock().expect("the pool's lock").push(connection);
    }
}

/// Offers `rate_per_sec` creates of pods `<prefix>-<i>` in `namespace`
/// for `duration`, each sent at its scheduled time on an idle connection.
pub async fn open_loop(
    address: &str,
    namespace: &str,
    prefix: &str,
    rate_per_sec: f64,
    duration: Duration,
) -> Result<OpenLoopReport, String> {
    let pool = Arc::new(Pool {
        address: address.to_string(),
        idle: Mutex::new(Vec::new()),
        opened: AtomicUsize::new(OPEN_LOOP_CONNECTIONS_WARM),
        in_flight: AtomicUsize::new(0),
        in_flight_max: AtomicUsize::new(0),
    });
    for _ in 0..OPEN_LOOP_CONNECTIONS_WARM {
        pool.give_back(Connection::open(address).await?);
    }
    let permits = Arc::new(Semaphore::new(OPEN_LOOP_IN_FLIGHT_MAX));
    let scheduled = (rate_per_sec * duration.as_secs_f64()).round() as u64;
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for index in 0..scheduled {
        let due = start + scheduled_offset(index, rate_per_sec);
        tokio::time::sleep_until(due.into()).await;
        let permit = Arc::clone(&permits)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let pool = Arc::clone(&pool);
        let (namespace, name) = (namespace.to_string(), format!("{prefix}-{index}"));
        tasks.spawn(async move {
            let in_flight = pool.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
            pool.in_flight_max.fetch_max(in_flight, Ordering::Relaxed);
            let outcome = async {
                let mut connection = pool.take().await?;
                let sent = Instant::now();
                let answer = create_pod(&mut connection, &namespace, &name).await?;
                pool.give_back(connection);
                answer.expect(StatusCode::CREATED)?;
                Ok::<_, String>(sent)
            }
            .await;
            pool.in_flight.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
            outcome.map(|sent| (sent - due, due.elapsed()))
        });
    }
    let (mut latencies, mut send_delay_max) = (Vec::new(), Duration::ZERO);
    let (mut errors, mut first_error) = (0, None);
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(|e| e.to_string())? {
            Ok((send_delay, latency)) => {
                send_delay_max = send_delay_max.max(send_delay);
                latencies.push(latency);
            }
            Err(error) => {
                errors += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    Ok(OpenLoopReport {
        rate_per_sec,
        scheduled,
        created: latencies.len() as u64,
        errors,
        first_error,
        latency: Percentiles::of(&mut latencies),
        send_delay_max,
        in_flight_max: pool.in_flight_max.load(Ordering::Relaxed),
        connections: pool.opened.load(Ordering::Relaxed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_are_due_at_even_intervals() {
        assert_eq!(scheduled_offset(0, 100.0), Duration::ZERO);
        assert_eq!(scheduled_offset(1, 100.0), Duration::from_millis(10));
        assert_eq!(scheduled_offset(250, 100.0), Duration::from_millis(2500));
        assert_eq!(scheduled_offset(3, 0.5), Duration::from_secs(6));
    }

    #[test]
    fn pods_live_under_their_namespace() {
        assert_eq!(pods_path("default"), "/api/v1/namespaces/default/pods");
    }
}
