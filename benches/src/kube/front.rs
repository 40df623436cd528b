//! The system `keel-bench kube` measures: a one-member keeld and, as its
//! own process, the Kubernetes HTTP front (`keel apiserver`) against it,
//! so that the front's memory and CPU are read apart from keeld's.
//!
//! ```text
//!   keel-bench ──HTTP/1.1──► keel apiserver (pid: front) ──gRPC──► keeld (pid: keeld)
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "real server processes on the real file system and clock"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};

use super::http::Connection;
use crate::procfs::{self, Sample};
use crate::servers::{free_port, Kind, Server};

/// How long the front may take to answer after it starts.
const READY_WAIT: Duration = Duration::from_secs(60);

/// The programs the benchmark starts.
#[derive(Debug, Clone)]
pub struct FrontBinaries {
    /// `keeld`.
    pub keeld: PathBuf,
    /// `keel` (its `apiserver` command).
    pub keel: PathBuf,
}

/// A keeld and a front on it, both stopped when dropped.
pub struct Front {
    /// The front's process; declared first so that it stops before keeld.
    process: Child,
    keeld: Server,
    address: String,
}

impl Front {
    /// Starts keeld with its data under `dir/keeld`, then the front with
    /// its output in `dir/front.log`, and waits until the front answers
    /// for the `default` namespace (which it creates when it starts).
    pub async fn start(binaries: &FrontBinaries, dir: &Path) -> Result<Self, String> {
        let keeld = Server::start(Kind::Keeld, &binaries.keeld, &dir.join("keeld")).await?;
        let port = free_port().map_err(|e| e.to_string())?;
        let address = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join("front.log")).map_err(|e| e.to_string())?;
        let process = Command::new(&binaries.keel)
            .arg("apiserver")
            .arg(format!("--endpoints=http://{}", keeld.endpoint()))
            .arg(format!("--listen={address}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binaries.keel.display()))?;
        let mut started = Self {
            process,
            keeld,
            address,
        };
        started.wait_ready().await?;
        Ok(started)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_WAIT;
        loop {
            if let Ok(Some(status)) = self.process.try_wait() {
                return Err(format!("the front exited during start: {status}"));
            }
            if let Ok(mut connection) = Connection::open(&self.address).await {
                let answer = connection
                    .call(Method::GET, "/api/v1/namespaces/default", Vec::new())
                    .await;
                if answer.is_ok_and(|answer| answer.status == StatusCode::OK) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("the front did not serve within {READY_WAIT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `host:port` the front listens on.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The front's and keeld's figures now.
    pub fn sample(&self) -> Result<Samples, String> {
        Ok(Samples {
            front: procfs::sample(self.process.id())?,
            keeld: procfs::sample(self.keeld.pid())?,
        })
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Both processes' figures at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Samples {
    /// The front (`keel apiserver`).
    pub front: Sample,
    /// keeld.
    pub keeld: Sample,
}

impl Samples {
    /// CPU each process used from `earlier` to `self`.
    pub fn cpu_since(&self, earlier: &Self) -> (Duration, Duration) {
        (
            self.front.cpu.saturating_sub(earlier.front.cpu),
            self.keeld.cpu.saturating_sub(earlier.keeld.cpu),
        )
    }
}
