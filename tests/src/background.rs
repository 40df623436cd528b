//! etcdctl commands that run until they are stopped (`watch`, `lease
//! keep-alive`, `lock`, `elect`), as background processes a test talks to
//! while other etcdctl runs write.
//!
//! ```text
//!  Etcdctl::spawn(args) ──► Background
//!     stdin  ◄── write_line(), close_stdin()
//!     stdout ──► reader thread ─┐  one bounded channel of lines;
//!     stderr ──► reader thread ─┘  read_stdout(n) / expect_stdout(text) /
//!                                  expect_stderr(text) wait for them, each
//!                                  up to LINE_TIMEOUT, then panic
//!     assert_no_stdout_for(d)     nothing printed for a while (a waiter)
//!     terminate()  SIGTERM, as Ctrl-C would: etcdctl's own clean shutdown
//!     kill()       SIGKILL: a crash, nothing cleaned up
//!     wait()       until it exits by itself (EOF on stdin, a cancelled watch)
//!                  └─► all three return the whole run as an Output
//!     Drop         SIGKILL + reap: no test leaves an etcdctl behind
//! ```
//!
//! Every wait is bounded: a line that does not come, or a process that does
//! not exit, fails the test with what it printed so far.

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use crate::etcdctl::{truncated, Etcdctl, Output};

/// How long an expected line may take to come. Generous: etcdctl's start,
/// a lease's keep-alive period or a lock's hand-over on a loaded machine.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a stopped (or stopping) process may take to exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the pipes' last bytes once the process has exited:
/// a child etcdctl started (`lock name -- cmd`) may hold them open.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Lines read but not yet taken by the test; a reader blocks when the
/// channel is full, and etcdctl then blocks on its pipe.
const CHANNEL_CAPACITY: usize = 1024;

/// One of the process's output streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output: what etcdctl prints as results.
    Stdout,
    /// Standard error: errors and clientv3's logs.
    Stderr,
}

impl Stream {
    fn index(self) -> usize {
        match self {
            Self::Stdout => 0,
            Self::Stderr => 1,
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        })
    }
}

/// An etcdctl running in the background with piped stdin, stdout and
/// stderr. Killed (SIGKILL) and reaped on drop.
pub struct Background {
    command: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<(Stream, String)>,
    /// Lines received from each stream that the test has not taken yet.
    pending: [VecDeque<String>; 2],
    /// Everything received from each stream so far, taken or not.
    received: [String; 2],
    /// Both readers have hit end of file.
    closed: bool,
    /// The exit status, once reaped.
    status: Option<ExitStatus>,
}

impl Etcdctl {
    /// Starts `etcdctl --endpoints=<endpoint> <args>` in the background,
    /// with stdin, stdout and stderr piped.
    ///
    /// Panics if etcdctl cannot be started.
    #[track_caller]
    pub fn spawn(&self, args: &[&str]) -> Background {
        let mut command = self.command(args);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Background::start(self.command_line(args), command)
            .unwrap_or_else(|error| panic!("starting etcdctl {args:?}: {error}"))
    }
}

impl Background {
    /// Starts any program in the background (an example, a second server),
    /// with stdin, stdout and stderr piped.
    ///
    /// Panics if it cannot be started.
    #[track_caller]
    pub fn spawn_program(program: &std::path::Path, args: &[&str]) -> Self {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let command_line = format!("{} {}", program.display(), args.join(" "));
        Self::start(command_line, command)
            .unwrap_or_else(|error| panic!("starting {}: {error}", program.display()))
    }

    fn start(command_line: String, mut command: Command) -> std::io::Result<Self> {
        let mut child = command.spawn()?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, lines) = mpsc::sync_channel(CHANNEL_CAPACITY);
        let started = spawn_reader(Stream::Stdout, stdout, sender.clone())
            .and_then(|()| spawn_reader(Stream::Stderr, stderr, sender));
        if let Err(error) = started {
            let _ = child.kill();
            let _ = child.wait();
            return Err(error);
        }
        Ok(Self {
            command: command_line,
            child,
            stdin,
            lines,
            pending: [VecDeque::new(), VecDeque::new()],
            received: [String::new(), String::new()],
            closed: false,
            status: None,
        })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status.is_none()
    }

    /// Everything `stream` has printed so far that the readers have
    /// delivered, whether the test has taken it or not.
    pub fn received(&mut self, stream: Stream) -> &str {
        self.receive_ready();
        &self.received[stream.index()]
    }

    /// Writes `line` and a newline to etcdctl's stdin (`watch -i` reads
    /// its commands from there).
    #[track_caller]
    pub fn write_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is still open");
        let written = stdin
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| stdin.flush());
        if let Err(error) = written {
            panic!("writing {line:?} to etcdctl's stdin: {error}\n{self}");
        }
    }

    /// Closes etcdctl's stdin: it reads end of file.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// The next line `stream` prints, with its `\n` (a last line without
    /// one comes as it is), waiting up to `timeout`. `None` if none came in
    /// time or the stream has ended.
    #[allow(
        clippy::disallowed_methods,
        reason = "test support: a wall-clock deadline on a child's output"
    )]
    pub fn next_line(&mut self, stream: Stream, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.pending[stream.index()].pop_front() {
                return Some(line);
            }
            if self.closed {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((from, line)) => self.store(from, line),
                Err(RecvTimeoutError::Disconnected) => self.closed = true,
                Err(RecvTimeoutError::Timeout) => return None,
            }
        }
    }

    /// The next `count` lines of `stream`, joined, each waited for up to
    /// [`LINE_TIMEOUT`]. Panics with the transcript if they do not all come.
    #[track_caller]
    pub fn read_lines(&mut self, stream: Stream, count: usize) -> String {
        let mut text = String::new();
        for index in 0..count {
            match self.next_line(stream, LINE_TIMEOUT) {
                Some(line) => text.push_str(&line),
                None => panic!(
                    "expected {count} more {stream} lines, got {index} \
                     ({text:?}) within {LINE_TIMEOUT:?} each\n{self}"
                ),
            }
        }
        text
    }

    /// The next `count` stdout lines, joined: [`Background::read_lines`].
    #[track_caller]
    pub fn read_stdout(&mut self, count: usize) -> String {
        self.read_lines(Stream::Stdout, count)
    }

    /// Asserts that the next lines on stdout are exactly `expected` (as
    /// many lines as it has, each waited for up to [`LINE_TIMEOUT`]).
    #[track_caller]
    pub fn expect_stdout(&mut self, expected: &str) {
        self.expect(Stream::Stdout, expected);
    }

    /// Asserts that the next lines on stderr are exactly `expected`.
    #[track_caller]
    pub fn expect_stderr(&mut self, expected: &str) {
        self.expect(Stream::Stderr, expected);
    }

    #[track_caller]
    fn expect(&mut self, stream: Stream, expected: &str) {
        let count = expected.split_inclusive('\n').count();
        let got = self.read_lines(stream, count);
        assert_eq!(got, expected, "unexpected {stream} lines\n{self}");
    }

    /// Asserts that nothing comes on stdout for `quiet` (a lock or election
    /// waiter that must not have won yet). Lines on stderr are kept.
    #[track_caller]
    pub fn assert_no_stdout_for(&mut self, quiet: Duration) {
        if let Some(line) = self.next_line(Stream::Stdout, quiet) {
            panic!("expected no output for {quiet:?}, got {line:?}\n{self}");
        }
    }

    /// Asserts that nothing the test has not taken is left on stdout, not
    /// waiting for more.
    #[track_caller]
    pub fn assert_stdout_taken(&mut self) {
        self.receive_ready();
        let left = &self.pending[Stream::Stdout.index()];
        assert!(left.is_empty(), "unexpected stdout lines {left:?}\n{self}");
    }

    /// Sends SIGTERM, as Ctrl-C or a service manager would: etcdctl's lock
    /// and elect handle it (unlock, resign); watch and keep-alive die of it.
    /// Waits up to [`EXIT_TIMEOUT`] for the exit and returns the whole run.
    #[track_caller]
    pub fn terminate(mut self) -> Output {
        if self.is_running() {
            let pid = self.pid().to_string();
            // std has no SIGTERM; the shell's kill builtin does.
            let sent = Command::new("sh")
                .args(["-c", "kill -TERM \"$1\"", "sh", &pid])
                .stdin(Stdio::null())
                .status();
            match sent {
                Ok(status) if status.success() => {}
                // It exited meanwhile: wait() reaps it.
                Ok(_) if !self.is_running() => {}
                other => panic!("sending SIGTERM to {pid}: {other:?}\n{self}"),
            }
        }
        self.wait()
    }

    /// Kills the process with SIGKILL (nothing cleaned up: a lock holder's
    /// key stays until its lease expires) and returns the whole run.
    #[track_caller]
    pub fn kill(mut self) -> Output {
        // An error means it has already exited: wait() reaps it.
        let _ = self.child.kill();
        self.wait()
    }

    /// Waits up to [`EXIT_TIMEOUT`] for the process to exit by itself and
    /// returns the whole run: everything it printed, taken or not. Panics,
    /// killing it, if it does not exit in time.
    #[allow(
        clippy::disallowed_methods,
        reason = "test support: a wall-clock deadline on a child process"
    )]
    #[track_caller]
    pub fn wait(mut self) -> Output {
        self.close_stdin();
        let deadline = Instant::now() + EXIT_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        while self.is_running() {
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("etcdctl did not exit within {EXIT_TIMEOUT:?}\n{self}");
            }
            // Keep the pipes flowing: a process blocked on a full pipe
            // never exits.
            self.receive_for(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
        let status = self.status.expect("reaped");
        // The rest of what it printed, unless a child of its own holds the
        // pipes open.
        let drain_deadline = Instant::now() + DRAIN_TIMEOUT;
        while !self.closed && Instant::now() < drain_deadline {
            self.receive_for(drain_deadline.saturating_duration_since(Instant::now()));
        }
        Output {
            command: self.command.clone(),
            status,
            stdout: self.received[Stream::Stdout.index()].clone(),
            stderr: self.received[Stream::Stderr.index()].clone(),
        }
    }

    /// Takes whatever lines the readers have already delivered.
    fn receive_ready(&mut self) {
        while !self.closed {
            match self.lines.try_recv() {
                Ok((from, line)) => self.store(from, line),
                Err(mpsc::TryRecvError::Disconnected) => self.closed = true,
                Err(mpsc::TryRecvError::Empty) => return,
            }
        }
    }

    /// Waits up to `timeout` for one line, then takes what else is ready.
    fn receive_for(&mut self, timeout: Duration) {
        if self.closed {
            return;
        }
        match self.lines.recv_timeout(timeout) {
            Ok((from, line)) => self.store(from, line),
            Err(RecvTimeoutError::Disconnected) => self.closed = true,
            Err(RecvTimeoutError::Timeout) => {}
        }
        self.receive_ready();
    }

    fn store(&mut self, stream: Stream, line: String) {
        self.received[stream.index()].push_str(&line);
        self.pending[stream.index()].push_back(line);
    }
}

/// Reads `pipe` line by line into `sender` until end of file (or the test
/// hanging up), on a thread of its own.
fn spawn_reader(
    stream: Stream,
    pipe: impl Read + Send + 'static,
    sender: SyncSender<(Stream, String)>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("etcdctl-{stream}"))
        .spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    // End of file, or a read error: the transcript shows
                    // what came before.
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line).into_owned();
                        if sender.send((stream, text)).is_err() {
                            return; // The Background is gone.
                        }
                    }
                }
            }
        })
        .map(drop)
}

impl fmt::Display for Background {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {} &", self.command)?;
        match self.status {
            Some(status) => writeln!(f, "exit: {status}")?,
            None => writeln!(f, "(still running as pid {})", self.child.id())?,
        }
        writeln!(
            f,
            "--- stdout so far ---\n{}",
            truncated(&self.received[Stream::Stdout.index()])
        )?;
        write!(
            f,
            "--- stderr so far ---\n{}",
            truncated(&self.received[Stream::Stderr.index()])
        )
    }
}

impl fmt::Debug for Background {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Background")
            .field("command", &self.command)
            .field("pid", &self.child.id())
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if self.status.is_none() {
            // An error means it has already exited; wait() reaps it.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
