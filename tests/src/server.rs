//! A single-node server (etcd or keeld) as a child process on loopback.
//!
//! ```text
//!   Server::start(flavor) ──► tempdir/ ── data/        the --data-dir
//!        │                            └─ server.log  stdout+stderr, appended
//!        │                                           across restarts
//!        ├─ kill()     SIGKILL + wait: a crash, nothing flushed on the way out
//!        ├─ restart()  same flags, ports and data dir; waits until it serves
//!        └─ Drop       kill(); prints the log's tail if the test is panicking
//! ```
//!
//! Both flavors get the same etcd flags (`--name --data-dir
//! --listen-client-urls --advertise-client-urls --listen-peer-urls
//! --initial-advertise-peer-urls --initial-cluster`), plus whatever the test
//! adds ([`Server::start_with_args`]). "Serving" means `etcdctl endpoint
//! health` succeeds: a linearizable get and an alarm list.

use std::fmt;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::etcdctl::Etcdctl;
use crate::{binaries, ports};

/// How long a server may take to start serving.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Attempts at a first start: a port can be taken between the allocator's
/// check and the server's bind (another process on the machine).
const START_ATTEMPTS_MAX: usize = 3;
/// The log's last bytes shown in failure messages.
const LOG_TAIL_BYTES: usize = 16 * 1024;
/// The member name every test server gets.
const MEMBER_NAME: &str = "keel-test";

/// Which server implementation a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// etcd 3.4 from Debian's `etcd-server`: the reference.
    Etcd,
    /// keel's server, built by this workspace.
    Keeld,
}

impl Flavor {
    /// The server binary.
    pub fn binary(self) -> PathBuf {
        match self {
            Self::Etcd => binaries::etcd(),
            Self::Keeld => binaries::keeld(),
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Etcd => "etcd",
            Self::Keeld => "keeld",
        })
    }
}

/// A running (or killed) single-node server. Killed on drop.
pub struct Server {
    flavor: Flavor,
    dir: TempDir,
    client_port: u16,
    peer_port: u16,
    extra_args: Vec<String>,
    child: Option<Child>,
    /// Set once a failure message has shown the log, so Drop does not
    /// print it a second time.
    log_shown: bool,
    /// The log's length when the current process was started: where its
    /// own lines begin.
    log_offset: usize,
}

impl Server {
    /// Starts a fresh single-node server and waits until it serves.
    ///
    /// Panics, printing the server's log, if it does not.
    #[track_caller]
    pub fn start(flavor: Flavor) -> Self {
        Self::start_with_args(flavor, &[])
    }

    /// [`Server::start`] with more flags (`--max-txn-ops`, `4`, ...).
    #[track_caller]
    pub fn start_with_args(flavor: Flavor, extra_args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("keel-{flavor}-"))
            .tempdir()
            .expect("a temporary directory for the server");
        Self::start_in(flavor, dir, extra_args)
    }

    /// [`Server::start_with_args`] in `dir`, whose `data` subdirectory (the
    /// `--data-dir`) the caller may have filled already (a restored
    /// snapshot).
    #[track_caller]
    pub fn start_in(flavor: Flavor, dir: tempfile::TempDir, extra_args: &[&str]) -> Self {
        let prefilled = dir.path().join("data").exists();
        let mut server = Self {
            flavor,
            dir,
            client_port: 0,
            peer_port: 0,
            extra_args: extra_args.iter().map(|&arg| arg.to_owned()).collect(),
            child: None,
            log_shown: false,
            log_offset: 0,
        };
        for attempt in 1..=START_ATTEMPTS_MAX {
            server.client_port = ports::free_port();
            server.peer_port = ports::free_port();
            match server.spawn_and_wait() {
                Ok(()) => return server,
                Err(error)
                    if attempt < START_ATTEMPTS_MAX && !prefilled && server.lost_port_race() =>
                {
                    eprintln!("{flavor} lost a port race ({error}), retrying on new ports");
                    // The member's identity was derived from the old ports.
                    let _ = std::fs::remove_dir_all(server.data_dir());
                }
                Err(error) => server.fail(&error),
            }
        }
        unreachable!("the last attempt either returns or fails")
    }

    /// Kills the server with SIGKILL, as `kill -9` would, and reaps it.
    /// Nothing it has not made durable survives. A no-op if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error means it has already exited: reaping is all that is left.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data dir, flags and ports (the
    /// member's identity depends on them), killing it first if it still
    /// runs, and waits until it serves. Panics with the log if it does not.
    #[track_caller]
    pub fn restart(&mut self) {
        self.kill();
        if let Err(error) = self.spawn_and_wait() {
            self.fail(&error);
        }
    }

    /// Whether the child process is still alive.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The server's pid while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Which implementation this is.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The client endpoint as etcdctl takes it: `127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.client_port)
    }

    /// The client URL: `http://127.0.0.1:<port>`.
    pub fn client_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// The peer URL: `http://127.0.0.1:<port>`.
    pub fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }

    /// An etcdctl pointed at this server.
    pub fn etcdctl(&self) -> Etcdctl {
        Etcdctl::new(self.endpoint())
    }

    /// The server's `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The temporary directory holding the data dir and the log; removed on
    /// drop. Tests may put their own files (snapshots) here.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The file the server's stdout and stderr go to.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The server's whole log so far.
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The command line the server runs with.
    pub fn args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--name={MEMBER_NAME}"),
            format!("--data-dir={}", self.data_dir().display()),
            format!("--listen-client-urls={}", self.client_url()),
            format!("--advertise-client-urls={}", self.client_url()),
            format!("--listen-peer-urls={}", self.peer_url()),
            format!("--initial-advertise-peer-urls={}", self.peer_url()),
            format!("--initial-cluster={MEMBER_NAME}={}", self.peer_url()),
        ];
        args.extend(self.extra_args.iter().cloned());
        args
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "test support: the server's log file and a wall-clock start timeout"
    )]
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|error| format!("opening {}: {error}", self.log_path().display()))?;
        self.log_offset = self.log().len();
        let log_for_stderr = log.try_clone().map_err(|error| error.to_string())?;
        let binary = self.flavor.binary();
        let child = Command::new(&binary)
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr)
            .spawn()
            .map_err(|error| format!("spawning {}: {error}", binary.display()))?;
        self.child = Some(child);

        let probe = self.etcdctl().with_timeout(Duration::from_secs(10));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if !self.is_running() {
                self.kill();
                return Err(format!("{} exited before serving", self.flavor));
            }
            let health = probe.try_run(
                &[
                    "--dial-timeout=1s",
                    "--command-timeout=2s",
                    "endpoint",
                    "health",
                ],
                None,
            );
            if health.is_ok_and(|output| output.success()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(format!(
                    "{} did not serve within {START_TIMEOUT:?}",
                    self.flavor
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the last start failed because a port was taken (Go says
    /// "address already in use", Rust "Address already in use").
    fn lost_port_race(&self) -> bool {
        let log = self.log();
        log.get(self.log_offset..)
            .unwrap_or_default()
            .to_lowercase()
            .contains("address already in use")
    }

    #[track_caller]
    fn fail(&mut self, error: &str) -> ! {
        self.log_shown = true;
        panic!(
            "{error}\ncommand: {} {}\n--- {} (tail) ---\n{}",
            self.flavor.binary().display(),
            self.args().join(" "),
            self.log_path().display(),
            self.log_tail()
        )
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let mut start = log.len().saturating_sub(LOG_TAIL_BYTES);
        while !log.is_char_boundary(start) {
            start += 1;
        }
        log[start..].to_owned()
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("flavor", &self.flavor)
            .field("endpoint", &self.endpoint())
            .field("dir", &self.dir.path())
            .field("pid", &self.pid())
            .finish_non_exhaustive()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() && !self.log_shown && self.log_path().exists() {
            eprintln!(
                "--- {} log of the failed test ({}, tail) ---\n{}",
                self.flavor,
                self.log_path().display(),
                self.log_tail()
            );
        }
    }
}
