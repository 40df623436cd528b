//! Running `etcdctl` (API v3) against one endpoint.
//!
//! ```no_run
//! # use keel_tests::{Etcdctl, Flavor, Server};
//! let server = Server::start(Flavor::Etcd);
//! let ctl: Etcdctl = server.etcdctl();
//! ctl.run(&["put", "k", "v"]).assert_stdout("OK\n");
//! let out = ctl.run(&["get", "k", "--rev", "1000"]);
//! out.assert_server_error("OutOfRange", "etcdserver: mvcc: required revision is a future revision");
//! ```
//!
//! What etcdctl 3.4 prints, and where:
//! - results go to stdout, except `endpoint health` in the simple format,
//!   which writes its verdict to **stderr**;
//! - a failed call prints `Error: <message>` as the last stderr line and
//!   exits 1 for server errors (3 for unparsable txn input, 4 for
//!   unsupported output formats and bad sort flags, 128 for bad flag
//!   combinations);
//! - a failed gRPC call also logs one JSON line from clientv3's retry
//!   interceptor whose `error` is `rpc error: code = <Code> desc = <message>`:
//!   that is how a test sees the gRPC status code. [`Output::grpc_error`]
//!   parses it.

use std::fmt;
use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::binaries;

/// How long one etcdctl run may take before it is killed. etcdctl's own
/// `--command-timeout` (5 s) bounds normal commands; this is the safety net.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// An etcdctl bound to one endpoint (`host:port`, no scheme).
#[derive(Clone, Debug)]
pub struct Etcdctl {
    endpoint: String,
    timeout: Duration,
    /// Run keelctl instead of etcdctl: the same flags, the same output.
    keelctl: bool,
}

/// Why etcdctl could not be run to completion.
#[derive(Debug)]
pub enum EtcdctlError {
    /// Spawning or talking to the process failed.
    Io(std::io::Error),
    /// The process ran past its timeout and was killed; what it printed so
    /// far is kept.
    TimedOut(Output),
}

impl fmt::Display for EtcdctlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(error) => write!(f, "running etcdctl: {error}"),
            Self::TimedOut(output) => write!(f, "etcdctl timed out and was killed\n{output}"),
        }
    }
}

impl std::error::Error for EtcdctlError {}

impl From<std::io::Error> for EtcdctlError {
    fn from(error: std::io::Error) -> Self {
        Self::Io(error)
    }
}

impl Etcdctl {
    /// An etcdctl for `endpoint` (`127.0.0.1:2379`), with [`DEFAULT_TIMEOUT`].
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            timeout: DEFAULT_TIMEOUT,
            keelctl: false,
        }
    }

    /// keelctl for `endpoint`, run the same way: its golden tests give it
    /// etcdctl's arguments and expect etcdctl's output.
    pub fn keelctl(endpoint: impl Into<String>) -> Self {
        Self {
            keelctl: true,
            ..Self::new(endpoint)
        }
    }

    /// The same etcdctl with another per-run timeout.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The endpoint every run is pointed at.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs `etcdctl --endpoints=<endpoint> <args>` with no stdin.
    ///
    /// Panics if etcdctl cannot be started or times out: the test cannot go
    /// on. A non-zero exit is not a panic; look at the [`Output`].
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Output {
        self.try_run(args, None)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// Runs etcdctl with `stdin` fed to it (txn scripts, values for `put`).
    #[track_caller]
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.try_run(args, Some(stdin))
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// Runs etcdctl and reports a timeout or spawn failure as an error, for
    /// callers that expect them (a server being killed meanwhile).
    #[allow(
        clippy::disallowed_methods,
        reason = "test support: a wall-clock timeout on a child process"
    )]
    pub fn try_run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Output, EtcdctlError> {
        let mut command = self.command(args);
        command
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn()?;
        let stdin_pipe = child.stdin.take();
        let mut stdout_pipe = child.stdout.take().expect("stdout is piped");
        let mut stderr_pipe = child.stderr.take().expect("stderr is piped");
        let deadline = Instant::now() + self.timeout;

        std::thread::scope(|scope| {
            if let (Some(mut pipe), Some(data)) = (stdin_pipe, stdin) {
                // etcdctl may exit before reading everything (bad input):
                // a broken pipe is not the test's failure.
                scope.spawn(move || {
                    let _ = pipe.write_all(data);
                });
            }
            let stdout_reader = scope.spawn(move || read_all(&mut stdout_pipe));
            let stderr_reader = scope.spawn(move || read_all(&mut stderr_pipe));

            let mut pause = Duration::from_millis(1);
            let exit = loop {
                if let Some(status) = child.try_wait()? {
                    break Some(status);
                }
                if Instant::now() >= deadline {
                    child.kill()?;
                    break None;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            };
            let status = match exit {
                Some(status) => status,
                None => child.wait()?,
            };
            let output = Output {
                command: self.command_line(args),
                status,
                stdout: String::from_utf8_lossy(&stdout_reader.join().expect("reader"))
                    .into_owned(),
                stderr: String::from_utf8_lossy(&stderr_reader.join().expect("reader"))
                    .into_owned(),
            };
            match exit {
                Some(_) => Ok(output),
                None => Err(EtcdctlError::TimedOut(output)),
            }
        })
    }

    /// `etcdctl --endpoints=<endpoint> <args>` with etcdctl's API set to
    /// v3 and none of the caller's other `ETCDCTL_*` settings; the caller
    /// sets up the pipes.
    pub(crate) fn command(&self, args: &[&str]) -> Command {
        let (program, environment) = if self.keelctl {
            (binaries::keelctl(), "KEELCTL_")
        } else {
            (binaries::etcdctl(), "ETCDCTL_")
        };
        let mut command = Command::new(program);
        // The caller's ETCDCTL_* (KEELCTL_*) settings (endpoints, output
        // format, ...) must not leak into the run.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with(environment) {
                command.env_remove(key);
            }
        }
        command
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", self.endpoint))
            .args(args);
        command
    }

    /// The command line of a run, for failure messages.
    pub(crate) fn command_line(&self, args: &[&str]) -> String {
        let program = if self.keelctl { "keelctl" } else { "etcdctl" };
        format!("{program} --endpoints={} {}", self.endpoint, args.join(" "))
    }

    /// The response header of a linearizable `get` of a key no test uses:
    /// the server's current revision and ids.
    #[track_caller]
    pub fn header(&self) -> Header {
        let out = self.run(&["get", "keel-tests/header-probe", "-w", "json"]);
        Header::from_json(&out.assert_success().json()["header"])
    }

    /// The server's current revision.
    #[track_caller]
    pub fn revision(&self) -> i64 {
        self.header().revision
    }
}

fn read_all(pipe: &mut impl Read) -> Vec<u8> {
    let mut bytes = Vec::new();
    // A read error leaves what was read: the test asserts on it anyway.
    let _ = pipe.read_to_end(&mut bytes);
    bytes
}

/// What one etcdctl run printed and how it exited.
#[derive(Debug, Clone)]
pub struct Output {
    /// The command line, for failure messages.
    pub command: String,
    /// The exit status.
    pub status: ExitStatus,
    /// Everything printed on stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything printed on stderr (lossy UTF-8).
    pub stderr: String,
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.command)?;
        writeln!(f, "exit: {}", self.status)?;
        writeln!(f, "--- stdout ---\n{}", truncated(&self.stdout))?;
        write!(f, "--- stderr ---\n{}", truncated(&self.stderr))
    }
}

/// Long outputs (a 1.5 MB value, check perf's progress bar) would drown a
/// failure message: keep their beginning and their end.
pub(crate) fn truncated(text: &str) -> String {
    const SHOWN_CHARS_EACH_END: usize = 2_000;
    let chars = text.chars().count();
    if chars <= 2 * SHOWN_CHARS_EACH_END {
        return text.to_owned();
    }
    let head: String = text.chars().take(SHOWN_CHARS_EACH_END).collect();
    let tail: String = text.chars().skip(chars - SHOWN_CHARS_EACH_END).collect();
    format!("{head}\n[... {} bytes in all ...]\n{tail}", text.len())
}

impl Output {
    /// The exit code, `None` if a signal ended the process.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Whether etcdctl exited 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Asserts exit 0 and an empty stderr.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.success(), "etcdctl failed\n{self}");
        assert!(
            self.stderr.is_empty(),
            "etcdctl succeeded but wrote to stderr\n{self}"
        );
        self
    }

    /// Asserts exit 0, an empty stderr and exactly `expected` on stdout.
    #[track_caller]
    pub fn assert_stdout(&self, expected: &str) -> &Self {
        self.assert_success();
        assert_eq!(self.stdout, expected, "unexpected stdout\n{self}");
        self
    }

    /// The message of the last `Error: <message>` line on stderr.
    pub fn error_message(&self) -> Option<&str> {
        self.stderr
            .lines()
            .rev()
            .find_map(|line| line.strip_prefix("Error: "))
    }

    /// The gRPC status of a failed call, `(code, message)`, as clientv3's
    /// retry interceptor logged it: `rpc error: code = OutOfRange desc = ...`.
    pub fn grpc_error(&self) -> Option<(String, String)> {
        self.stderr.lines().find_map(|line| {
            let log: Value = serde_json::from_str(line).ok()?;
            let error = log.get("error")?.as_str()?;
            let rest = error.strip_prefix("rpc error: code = ")?;
            let (code, message) = rest.split_once(" desc = ")?;
            Some((code.to_owned(), message.to_owned()))
        })
    }

    /// Asserts that the server refused the request: exit 1, gRPC `code`, and
    /// etcdctl's last line `Error: <message>`.
    #[track_caller]
    pub fn assert_server_error(&self, code: &str, message: &str) -> &Self {
        assert_eq!(self.code(), Some(1), "expected exit 1\n{self}");
        assert_eq!(
            self.error_message(),
            Some(message),
            "unexpected error\n{self}"
        );
        let expected = Some((code.to_owned(), message.to_owned()));
        assert_eq!(
            self.grpc_error(),
            expected,
            "unexpected gRPC status\n{self}"
        );
        assert!(
            self.stdout.is_empty(),
            "nothing should reach stdout\n{self}"
        );
        self
    }

    /// [`Output::assert_server_error`] for commands that wrap the server's
    /// message in their own words (`lease grant` prints `Error: failed to
    /// grant lease (<message>)`): exit 1, gRPC `code` and `message` in the
    /// retry interceptor's log, and `Error: <error>` as the last line.
    #[track_caller]
    pub fn assert_wrapped_server_error(&self, code: &str, message: &str, error: &str) -> &Self {
        assert_eq!(self.code(), Some(1), "expected exit 1\n{self}");
        assert_eq!(
            self.error_message(),
            Some(error),
            "unexpected error\n{self}"
        );
        let expected = Some((code.to_owned(), message.to_owned()));
        assert_eq!(
            self.grpc_error(),
            expected,
            "unexpected gRPC status\n{self}"
        );
        assert!(
            self.stdout.is_empty(),
            "nothing should reach stdout\n{self}"
        );
        self
    }

    /// Asserts that etcdctl itself refused: `exit_code`, nothing on stdout,
    /// and exactly `stderr` on stderr.
    #[track_caller]
    pub fn assert_client_error(&self, exit_code: i32, stderr: &str) -> &Self {
        assert_eq!(self.code(), Some(exit_code), "unexpected exit code\n{self}");
        assert_eq!(self.stderr, stderr, "unexpected stderr\n{self}");
        assert!(
            self.stdout.trim().is_empty(),
            "nothing should reach stdout\n{self}"
        );
        self
    }

    /// stdout parsed as JSON (`-w json`); panics with the output if it is not.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|error| panic!("stdout is not JSON: {error}\n{self}"))
    }
}

/// etcd's `ResponseHeader` as etcdctl's JSON prints it (numbers, not strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The cluster id.
    pub cluster_id: u64,
    /// The id of the member that answered.
    pub member_id: u64,
    /// The store's revision when the request was served.
    pub revision: i64,
    /// The raft term.
    pub raft_term: u64,
}

impl Header {
    /// Reads a `{"cluster_id", "member_id", "revision", "raft_term"}` object,
    /// asserting that each is a number and that there is nothing else.
    #[track_caller]
    pub fn from_json(value: &Value) -> Self {
        let object = value
            .as_object()
            .unwrap_or_else(|| panic!("header is not an object: {value}"));
        for key in object.keys() {
            assert!(
                ["cluster_id", "member_id", "revision", "raft_term"].contains(&key.as_str()),
                "unexpected header field {key:?} in {value}"
            );
        }
        let unsigned = |key: &str| {
            value[key]
                .as_u64()
                .unwrap_or_else(|| panic!("header.{key} is not an unsigned number: {value}"))
        };
        Self {
            cluster_id: unsigned("cluster_id"),
            member_id: unsigned("member_id"),
            revision: value["revision"]
                .as_i64()
                .unwrap_or_else(|| panic!("header.revision is not a number: {value}")),
            raft_term: unsigned("raft_term"),
        }
    }

    /// This header with another revision, as JSON, for exact comparisons.
    pub fn json_at(&self, revision: i64) -> Value {
        serde_json::json!({
            "cluster_id": self.cluster_id,
            "member_id": self.member_id,
            "revision": revision,
            "raft_term": self.raft_term,
        })
    }

    /// This header with another revision as etcdctl's `-w fields` prints it.
    pub fn fields_at(&self, revision: i64) -> String {
        format!(
            "\"ClusterID\" : {}\n\"MemberID\" : {}\n\"Revision\" : {revision}\n\"RaftTerm\" : {}\n",
            self.cluster_id, self.member_id, self.raft_term
        )
    }
}
