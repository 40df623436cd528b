//! The servers `keel-bench compare` measures: an etcd and a keeld, each a
//! one-member cluster in a fresh data directory on the same disk, started
//! with the same flags and killed when dropped.

#![allow(
    clippy::disallowed_methods,
    reason = "real server processes on the real file system and clock"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keel_proto::etcdserverpb::{kv_client::KvClient, RangeRequest};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// etcd (Debian's `etcd-server`, 3.4).
    Etcd,
    /// keel's `keeld`.
    Keeld,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Etcd => "etcd",
            Self::Keeld => "keeld",
        })
    }
}

/// A running server process.
pub struct Server {
    kind: Kind,
    child: Child,
    endpoint: String,
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Server {
    /// Starts `binary` as a `kind` server with its data in `dir/data` and
    /// its output in `dir/server.log`, and waits until it answers a range.
    /// Both kinds get the same flags: etcd's defaults (an fsync per write
    /// batch in both), an 8 GiB quota so a long run does not fill it, and
    /// no auto-compaction.
    pub async fn start(kind: Kind, binary: &Path, dir: &Path) -> Result<Self, String> {
        let client_port = free_port().map_err(|e| e.to_string())?;
        let peer_port = free_port().map_err(|e| e.to_string())?;
        let client_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(dir.join("server.log")).map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .arg("--name=bench")
            .arg(format!("--data-dir={}", dir.join("data").display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=bench={peer_url}"))
            .arg(format!("--quota-backend-bytes={}", 8u64 << 30))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let mut server = Self {
            kind,
            child,
            endpoint: format!("127.0.0.1:{client_port}"),
        };
        server.wait_ready().await?;
        Ok(server)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("{} exited during start: {status}", self.kind));
            }
            let url = format!("http://{}", self.endpoint);
            if let Ok(mut kv) = KvClient::connect(url).await {
                let probe = RangeRequest {
                    key: b"ready".to_vec(),
                    ..RangeRequest::default()
                };
                if kv.range(probe).await.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("{} did not serve within 60 s", self.kind));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `host:port` of its client URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Which server it is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Its process ID, to read its RSS and CPU time from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// etcdctl's `check perf --load=s` verdict, one line per criterion.
#[derive(Debug, Clone)]
pub struct CheckPerf {
    /// "PASS: Throughput is 150 writes/s" or its FAIL line.
    pub throughput: String,
    /// The slowest-request line.
    pub slowest: String,
    /// The stddev line.
    pub stddev: String,
    /// "PASS" or "FAIL".
    pub verdict: String,
}

/// Runs `etcdctl check perf --load=s` against `server` (about 60 s).
pub fn check_perf(etcdctl: &Path, server: &Server) -> Result<CheckPerf, String> {
    let out = Command::new(etcdctl)
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", server.endpoint()))
        .args(["check", "perf", "--load=s"])
        .output()
        .map_err(|e| format!("running {}: {e}", etcdctl.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.split(['\n', '\r']).map(str::trim).collect();
    // The first report line can follow the progress bar's last redraw with
    // no line break ("59 / 60   98.33%PASS: Throughput is ..."): a report
    // line is found where its marker starts, not at a line start.
    let find = |markers: &[&str]| {
        lines
            .iter()
            .rev()
            .find_map(|line| {
                markers
                    .iter()
                    .find_map(|marker| line.find(marker).map(|at| line[at..].to_string()))
            })
            .ok_or_else(|| format!("check perf printed no {markers:?} line:\n{stdout}"))
    };
    Ok(CheckPerf {
        throughput: find(&["PASS: Throughput", "FAIL: Throughput"])?,
        slowest: find(&["PASS: Slowest", "Slowest"])?,
        stddev: find(&["PASS: Stddev", "Stddev"])?,
        verdict: lines
            .iter()
            .rfind(|line| **line == "PASS" || **line == "FAIL")
            .map(|line| (*line).to_string())
            .ok_or_else(|| format!("check perf printed no verdict:\n{stdout}"))?,
    })
}

/// The programs a comparison runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// etcd.
    pub etcd: PathBuf,
    /// keeld.
    pub keeld: PathBuf,
    /// etcdctl.
    pub etcdctl: PathBuf,
}

impl Binaries {
    /// The server binary of `kind`.
    pub fn server(&self, kind: Kind) -> &Path {
        match kind {
            Kind::Etcd => &self.etcd,
            Kind::Keeld => &self.keeld,
        }
    }
}
