//! `GET /exec/{namespace}/{pod}/{container}?command=..&stdin&stdout&stderr&tty`:
//! a command run in the running container over a WebSocket, with
//! Kubernetes' channel protocol (channel.rs).
//!
//! ```text
//!   client ─ws─► inbound loop: stdin ─► the command (pipe or pty master)
//!                              resize ─► TIOCSWINSZ on the pty
//!                              close stdin (v5) ─► end of file
//!   the command's stdout, stderr ─► one pump each ─► outbound queue ─► writer ─ws─► client
//!   the command exits ─► pumps drained ─► Status on channel 3 ─► close (1000)
//!   the client goes away ─► the command is killed
//! ```

use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use super::channel::{self, Inbound, ERROR, PROTOCOLS, STDERR, STDIN, STDOUT, V5};
use super::{find, Refusal, ServerState};

/// Messages queued for the client at most: a pump waits when the client
/// reads slower than the command writes.
const OUTBOUND_MESSAGES_MAX: usize = 16;

/// The most one message carries of the command's output.
const OUTPUT_READ_MAX: usize = 32 * 1024;

/// What the query asks to run, and with which streams.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "the query's own flags, one each"
)]
pub(super) struct ExecOptions {
    /// The program and its arguments (`command`, repeated).
    pub argv: Vec<String>,
    /// Send the client's stdin to the command.
    pub stdin: bool,
    /// Send the command's stdout to the client.
    pub stdout: bool,
    /// Send its stderr (not with a terminal, which has one output).
    pub stderr: bool,
    /// Run it on a terminal.
    pub tty: bool,
}

impl ExecOptions {
    /// Reads the query (`1` or `true`: kube-apiserver sends the first,
    /// kubectl the second). `Err` is a 400's message.
    pub(super) fn from_query(query: &[(String, String)]) -> Result<Self, String> {
        let flag = |name: &str| {
            query.iter().any(|(key, value)| {
                key == name && matches!(value.as_str(), "1" | "true" | "True" | "TRUE" | "t" | "T")
            })
        };
        let argv: Vec<String> = query
            .iter()
            .filter(|(key, _)| key == "command")
            .map(|(_, value)| value.clone())
            .collect();
        let tty = flag("tty");
        let options = Self {
            stdin: flag("stdin"),
            stdout: flag("stdout"),
            // The kubelet ignores stderr on a terminal.
            stderr: flag("stderr") && !tty,
            tty,
            argv,
        };
        if options.argv.is_empty() {
            return Err("you must specify at least one command for the container".into());
        }
        if !(options.stdin || options.stdout || options.stderr) {
            return Err("you must specify at least 1 of stdin, stdout, stderr".into());
        }
        Ok(options)
    }
}

/// The handler.
pub(super) async fn exec(
    State(state): State<ServerState>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(query): Query<Vec<(String, String)>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match answer(&state, &namespace, &pod, &container, &query, upgrade).await {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(),
    }
}

async fn answer(
    state: &ServerState,
    namespace: &str,
    pod: &str,
    container: &str,
    query: &[(String, String)],
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Refusal> {
    let options = ExecOptions::from_query(query).map_err(Refusal::BadQuery)?;
    // Before the upgrade's checks: kubectl retries a failed WebSocket
    // upgrade with SPDY, and both should tell what is missing.
    let id = find::running_container(state, namespace, pod, container).await?;
    let upgrade = upgrade.map_err(|rejection| Refusal::NotWebSocket(rejection.to_string()))?;
    let requested: Vec<String> = upgrade
        .requested_protocols()
        .filter_map(|protocol| protocol.to_str().ok().map(str::to_owned))
        .collect();
    if !requested
        .iter()
        .any(|protocol| PROTOCOLS.contains(&protocol.as_str()))
    {
        return Err(Refusal::Protocols(requested));
    }
    let command = state
        .runtime
        .exec(&id, &options.argv, options.tty)
        .map_err(|error| Refusal::Internal(error.to_string()))?;
    Ok(upgrade
        .protocols(PROTOCOLS)
        .on_upgrade(move |socket| session(socket, command, options)))
}

/// One exec, from the upgrade to the close.
async fn session(socket: WebSocket, command: Command, options: ExecOptions) {
    let v5 = socket.protocol().is_some_and(|protocol| protocol == V5);
    let (sink, inbound) = socket.split();
    let (outbound, queued) = mpsc::channel(OUTBOUND_MESSAGES_MAX);
    let writer = tokio::spawn(write_messages(sink, queued));
    // As the kubelet: an empty message on the first stream the client
    // reads tells it the session is up.
    let first = [(options.stdout, STDOUT), (options.stderr, STDERR)]
        .into_iter()
        .find_map(|(open, channel)| open.then_some(channel))
        .unwrap_or(ERROR);
    let _ = outbound.send(binary(first, b"")).await;
    let status = match Process::spawn(command, &options) {
        Ok(process) => process.run(inbound, &outbound, v5, &options.argv).await,
        Err(error) => Some(channel::failure_status(&error.to_string())),
    };
    // None: the client has gone, there is no one to tell.
    if let Some(status) = status {
        let _ = outbound
            .send(binary(ERROR, status.to_string().as_bytes()))
            .await;
        let _ = outbound
            .send(Message::Close(Some(CloseFrame {
                code: close_code::NORMAL,
                reason: "".into(),
            })))
            .await;
    }
    drop(outbound);
    let _ = writer.await;
}

fn binary(channel: u8, data: &[u8]) -> Message {
    Message::Binary(channel::frame(channel, data).into())
}

/// Sends the queued messages, in order, until the queue is closed or the
/// client is gone.
async fn write_messages(
    mut sink: SplitSink<WebSocket, Message>,
    mut queued: mpsc::Receiver<Message>,
) {
    while let Some(message) = queued.recv().await {
        if sink.send(message).await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

/// Reads one output of the command into messages on `channel` until its
/// end (a terminal's end is EIO once the command has exited).
async fn pump(
    channel: u8,
    mut output: Box<dyn AsyncRead + Send + Unpin>,
    outbound: mpsc::Sender<Message>,
) {
    let mut buffer = vec![0; OUTPUT_READ_MAX];
    while let Ok(read @ 1..) = output.read(&mut buffer).await {
        if outbound
            .send(binary(channel, &buffer[..read]))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// The command running, with its streams.
struct Process {
    /// Killed when dropped (the client gone).
    child: Child,
    stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    outputs: Vec<(u8, Box<dyn AsyncRead + Send + Unpin>)>,
    /// The terminal's master side, for resizes.
    terminal: Option<OwnedFd>,
}

impl Process {
    /// Starts `command` with pipes, or on a new terminal.
    fn spawn(mut command: Command, options: &ExecOptions) -> std::io::Result<Self> {
        command.kill_on_drop(true);
        if options.tty {
            return Self::spawn_on_terminal(command, options);
        }
        let piped = |wanted: bool| {
            if wanted {
                Stdio::piped()
            } else {
                Stdio::null()
            }
        };
        command
            .stdin(piped(options.stdin))
            .stdout(piped(options.stdout))
            .stderr(piped(options.stderr));
        let mut child = command.spawn()?;
        let stdin = child
            .stdin
            .take()
            .map(|stdin| Box::new(stdin) as Box<dyn AsyncWrite + Send + Unpin>);
        let mut outputs: Vec<(u8, Box<dyn AsyncRead + Send + Unpin>)> = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            outputs.push((STDOUT, Box::new(stdout)));
        }
        if let Some(stderr) = child.stderr.take() {
            outputs.push((STDERR, Box::new(stderr)));
        }
        Ok(Self {
            child,
            stdin,
            outputs,
            terminal: None,
        })
    }

    /// Starts `command` with a new terminal's slave side as its stdin,
    /// stdout and stderr.
    fn spawn_on_terminal(mut command: Command, options: &ExecOptions) -> std::io::Result<Self> {
        let terminal = nix::pty::openpty(None, None).map_err(std::io::Error::from)?;
        let slave = terminal.slave;
        command
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave));
        let child = command.spawn()?;
        // The command holds the slave side now: ours closes with the
        // Command, so that the master reads EIO once the command is gone.
        drop(command);
        let master = terminal.master;
        let open = |fd: &OwnedFd| -> std::io::Result<tokio::fs::File> {
            Ok(tokio::fs::File::from_std(std::fs::File::from(
                fd.try_clone()?,
            )))
        };
        let stdin: Option<Box<dyn AsyncWrite + Send + Unpin>> = if options.stdin {
            Some(Box::new(open(&master)?))
        } else {
            None
        };
        let mut outputs: Vec<(u8, Box<dyn AsyncRead + Send + Unpin>)> = Vec::new();
        if options.stdout {
            outputs.push((STDOUT, Box::new(open(&master)?)));
        }
        Ok(Self {
            child,
            stdin,
            outputs,
            terminal: Some(master),
        })
    }

    /// Relays the session until the command exits (its Status) or the
    /// client goes away (`None`, the command killed).
    async fn run(
        mut self,
        mut inbound: SplitStream<WebSocket>,
        outbound: &mpsc::Sender<Message>,
        v5: bool,
        argv: &[String],
    ) -> Option<Value> {
        let pumps: Vec<_> = std::mem::take(&mut self.outputs)
            .into_iter()
            .map(|(channel, output)| tokio::spawn(pump(channel, output, outbound.clone())))
            .collect();
        let mut stdin = self.stdin.take();
        let exit = loop {
            tokio::select! {
                exit = self.child.wait() => break exit,
                message = inbound.next() => match message {
                    Some(Ok(Message::Binary(data))) => {
                        take(channel::inbound(&data, v5), &mut stdin, self.terminal.as_ref()).await;
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return None,
                    // Text is not part of the protocol; pings are answered
                    // by the WebSocket itself.
                    Some(Ok(_)) => {}
                },
            }
        };
        drop(stdin);
        for pump in pumps {
            let _ = pump.await;
        }
        Some(match exit {
            Ok(status) => {
                let code = status
                    .code()
                    .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
                channel::exit_status(argv, code)
            }
            Err(error) => channel::failure_status(&error.to_string()),
        })
    }
}

/// Does what a message from the client asks; `terminal` is the pty's
/// master side, if the command runs on one.
async fn take(
    inbound: Inbound<'_>,
    stdin: &mut Option<Box<dyn AsyncWrite + Send + Unpin>>,
    terminal: Option<&OwnedFd>,
) {
    match inbound {
        Inbound::Stdin(data) => {
            if let Some(writer) = stdin.as_mut() {
                let written = writer.write_all(data).await.and(writer.flush().await);
                if written.is_err() {
                    // The command closed its stdin: the rest is dropped.
                    *stdin = None;
                }
            }
        }
        Inbound::Close(STDIN) => *stdin = None,
        Inbound::Resize { width, height } => {
            if let Some(terminal) = terminal {
                let size = rustix::termios::Winsize {
                    ws_row: height,
                    ws_col: width,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                // A size the terminal refuses leaves the old one.
                let _ = rustix::termios::tcsetwinsize(terminal, size);
            }
        }
        Inbound::Close(_) | Inbound::Ignored => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn options_from_the_query() {
        let options = ExecOptions::from_query(&query(&[
            ("command", "sh"),
            ("command", "-c"),
            ("command", "echo hi"),
            ("stdin", "true"),
            ("stdout", "1"),
            ("stderr", "1"),
            ("tty", "true"),
        ]))
        .unwrap();
        assert_eq!(options.argv, ["sh", "-c", "echo hi"]);
        assert!(options.stdin && options.stdout && options.tty);
        // No stderr on a terminal.
        assert!(!options.stderr);
        assert_eq!(
            ExecOptions::from_query(&query(&[("stdout", "1")])),
            Err("you must specify at least one command for the container".into())
        );
        assert_eq!(
            ExecOptions::from_query(&query(&[("command", "ls"), ("stdout", "0")])),
            Err("you must specify at least 1 of stdin, stdout, stderr".into())
        );
    }
}
