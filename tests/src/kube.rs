//! What the tests of keel's Kubernetes side share: `keel up` on free
//! ports, and kubectl aimed at it.
//!
//! ```text
//!   KeelUp::start(dir, extra flags) ── the `keel up` binary ──► kubeconfig, API and etcd URLs
//!   Kubectl { program, flags to reach a server, a cache dir of its own }
//!        └─► ok(args) → stdout · fails(args) → stderr · spawn(args) → Background
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "tests wait in real time and write manifests"
)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::binaries::keel;
use crate::ports::free_port;
use crate::{Background, Stream};

/// `keel up`'s flags for the front alone: no controllers and no
/// scheduler, so that only requests change objects.
pub const FRONT_ONLY: &[&str] = &["--controllers=", "--scheduler=false"];

/// How long `keel up` may take to serve the Kubernetes API.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// `keel up` running on free loopback ports.
pub struct KeelUp {
    /// The running `keel up`, and what it printed.
    pub process: Background,
    /// keeld's client URL (etcd's API).
    pub etcd_url: String,
    /// The kubeconfig it wrote, which points at its HTTP front.
    pub kubeconfig: PathBuf,
}

impl KeelUp {
    /// Starts `keel up` with its data in `dir`; answers once the front
    /// accepts connections.
    pub fn start(dir: &Path) -> Self {
        Self::start_with(dir, &[])
    }

    /// [`KeelUp::start`] with `extra` flags (short timings, say). Without a
    /// `--kubelet=` among them, it runs no kubelet.
    pub fn start_with(dir: &Path, extra: &[&str]) -> Self {
        Self::start_on(dir, "127.0.0.1", extra)
    }

    /// [`KeelUp::start_with`], with keeld's client URL on `client_host`
    /// (an address a kubelet on another machine reaches); the front
    /// stays on loopback.
    pub fn start_on(dir: &Path, client_host: &str, extra: &[&str]) -> Self {
        let [client, peer, front] = [free_port(), free_port(), free_port()];
        let etcd_url = format!("http://{client_host}:{client}");
        let args = [
            "up".to_owned(),
            format!("--data-dir={}", dir.display()),
            format!("--client-url={etcd_url}"),
            format!("--peer-url=http://127.0.0.1:{peer}"),
            format!("--listen=127.0.0.1:{front}"),
        ];
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        // No kubelet unless the test asks for one (`--kubelet=true`): it
        // needs root, and would be a real node beside simulated ones.
        if !extra.iter().any(|arg| arg.starts_with("--kubelet=")) {
            args.push("--kubelet=false");
        }
        args.extend_from_slice(extra);
        let mut process = Background::spawn_program(&keel(), &args);
        let banner = process.next_line(Stream::Stdout, START_DEADLINE);
        assert!(
            banner
                .as_deref()
                .is_some_and(|line| line.starts_with("keel is up: ")),
            "{banner:?}\n{process}"
        );
        let export = process
            .next_line(Stream::Stdout, START_DEADLINE)
            .expect("keel up prints the kubeconfig to export");
        let kubeconfig = PathBuf::from(
            export
                .trim_end()
                .strip_prefix("export KUBECONFIG=")
                .expect("an export line"),
        );
        // The banner comes once the front listens; checking costs little.
        let deadline = Instant::now() + START_DEADLINE;
        while TcpStream::connect(("127.0.0.1", front)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the front did not listen on {front}\n{process}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            process,
            etcd_url,
            kubeconfig,
        }
    }

    /// Stops it as Ctrl-C would; it must exit cleanly.
    pub fn stop(self) {
        let output = self.process.terminate();
        assert!(output.status.success(), "{output}");
    }
}

/// Writes `text` to `dir/name`; answers the path.
pub fn write_manifest(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("the manifest is written");
    path.to_str().expect("a UTF-8 path").to_owned()
}

/// One kubectl binary aimed at one server. It runs with a home and a
/// cache directory of its own per binary: kubectl caches discovery and
/// OpenAPI there, and versions must not read each other's.
#[derive(Clone)]
pub struct Kubectl {
    program: PathBuf,
    /// `--kubeconfig=...`, `--server=...`, `--cache-dir=...`.
    flags: Vec<String>,
    home: PathBuf,
}

impl Kubectl {
    /// `program` run with `connection` (its flags to reach the server) and
    /// its caches under `scratch`.
    pub fn new(program: PathBuf, connection: &[String], scratch: &Path) -> Self {
        let home = scratch.join(program.to_string_lossy().replace('/', "_"));
        std::fs::create_dir_all(&home).expect("kubectl's home is made");
        let mut flags = connection.to_vec();
        flags.push(format!("--cache-dir={}", home.join("cache").display()));
        Self {
            program,
            flags,
            home,
        }
    }

    /// `program` aimed at `up` through the kubeconfig it wrote.
    pub fn for_keel_up(program: PathBuf, up: &KeelUp, scratch: &Path) -> Self {
        Self::new(
            program,
            &[format!("--kubeconfig={}", up.kubeconfig.display())],
            scratch,
        )
    }

    /// Runs it to its end with `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.program)
            .args(&self.flags)
            .args(args)
            .env("HOME", &self.home)
            .env_remove("KUBECONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("kubectl runs")
    }

    /// Its stdout and stderr; the run must succeed.
    #[track_caller]
    pub fn ok_with_stderr(&self, args: &[&str]) -> (String, String) {
        let output = self.run(args);
        let stderr = String::from_utf8(output.stderr).expect("UTF-8 stderr");
        assert!(output.status.success(), "{self} {args:?}: {stderr}");
        (
            String::from_utf8(output.stdout).expect("UTF-8 stdout"),
            stderr,
        )
    }

    /// Its stdout; the run must succeed.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with_stderr(args).0
    }

    /// Its stderr; the run must fail.
    #[track_caller]
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            !output.status.success(),
            "{self} {args:?} succeeded: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        String::from_utf8(output.stderr).expect("UTF-8 stderr")
    }

    /// Starts it in the background with `args` (a watch), with the flags
    /// but not the home: the cache directory is a flag.
    pub fn spawn(&self, args: &[&str]) -> Background {
        let mut all: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        Background::spawn_program(&self.program, &all)
    }
}

impl std::fmt::Display for Kubectl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.program.display())
    }
}
