//! `GET /containerLogs/{namespace}/{pod}/{container}`: a container run's
//! CRI log file as `kubectl logs` prints it; with `follow`, new lines as
//! they are written until the run has ended and its file is drained, or
//! the client has gone.

use std::io::SeekFrom;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::cri::{self, LogFormatter, LogOptions};
use super::{find, Refusal, ServerState};
use crate::runtime::ContainerId;

/// How often a followed file is read again when it had nothing new: a
/// line shows within this, and an idle follow costs a read this often.
/// The run's end is heard at once, from the runtime's wait.
const FOLLOW_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The most of a log file read at once: the output is sent in pieces of
/// about this size (the whole file is read only to find where its last
/// lines begin, for `tailLines`).
const READ_MAX: u64 = 1024 * 1024;

/// The handler.
pub(super) async fn container_logs(
    State(state): State<ServerState>,
    Path((namespace, pod, container)): Path<(String, String, String)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    match answer(&state, &namespace, &pod, &container, &query).await {
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
) -> Result<Response, Refusal> {
    let options = LogOptions::from_query(query, Timestamp::now()).map_err(Refusal::BadQuery)?;
    let files = find::log_files(state, namespace, pod, container).await?;
    // log_files answers at least one attempt.
    let current = files.attempts[files.attempts.len() - 1];
    let attempt = if options.previous {
        files
            .attempts
            .iter()
            .rev()
            .find(|attempt| **attempt < current)
            .copied()
            .ok_or_else(|| Refusal::NoPrevious {
                pod: pod.to_owned(),
                container: container.to_owned(),
            })?
    } else {
        current
    };
    let path = files.path(attempt);
    let unreadable =
        |error: std::io::Error| Refusal::Internal(format!("reading {}: {error}", path.display()));
    // The last lines are found from the whole file (as written so far).
    let start = match options.tail_lines {
        Some(lines) => {
            let data = tokio::fs::read(&path).await.map_err(unreadable)?;
            cri::tail_start(&data, lines)
        }
        None => 0,
    };
    let mut file = tokio::fs::File::open(&path).await.map_err(unreadable)?;
    file.seek(SeekFrom::Start(start as u64))
        .await
        .map_err(unreadable)?;
    // A previous run has ended: there is nothing to follow.
    let follow = options.follow && !options.previous;
    let (ended_tx, ended) = watch::channel(false);
    let waiter = follow.then(|| {
        let runtime = state.runtime.clone();
        let id = ContainerId::new(&files.uid, container, attempt);
        // A run the runtime no longer knows has ended too.
        tokio::spawn(async move {
            drop(runtime.wait(&id).await);
            ended_tx.send_replace(true);
        })
    });
    let log = LogStream {
        file,
        pending: Vec::new(),
        formatter: LogFormatter::new(&options),
        follow,
        ended,
        waiter,
        finishing: false,
    };
    let chunks = futures::stream::unfold(log, |mut log| async move {
        let chunk = log.next_chunk().await?;
        Some((Ok::<_, std::io::Error>(chunk), log))
    });
    Ok(plain_text(Body::from_stream(chunks)))
}

fn plain_text(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

/// A log file read a piece at a time, to its end; followed, until the
/// run has ended and the file is drained. Dropped (the client gone) it
/// stops.
struct LogStream {
    /// Open where the next read begins.
    file: tokio::fs::File,
    /// The start of an entry still being written (no `\n` yet).
    pending: Vec<u8>,
    formatter: LogFormatter,
    /// Wait for more at the end of the file while the run runs.
    follow: bool,
    /// Turns true when the run has ended.
    ended: watch::Receiver<bool>,
    /// The task that waits for the run's end (when following).
    waiter: Option<JoinHandle<()>>,
    /// The run has ended: read to the end once more, then stop.
    finishing: bool,
}

impl LogStream {
    /// The next piece of output; `None` at the end.
    async fn next_chunk(&mut self) -> Option<Vec<u8>> {
        loop {
            if self.formatter.is_done() {
                return None;
            }
            let (read, out) = self.read_more().await.ok()?;
            if !out.is_empty() {
                return Some(out);
            }
            if read > 0 {
                // Lines that print nothing (before sinceTime), or half of one.
                continue;
            }
            if !self.follow || self.finishing {
                return None;
            }
            if *self.ended.borrow() {
                // Whatever it wrote before it ended is in the file now.
                self.finishing = true;
            } else {
                tokio::select! {
                    () = tokio::time::sleep(FOLLOW_POLL_INTERVAL) => {}
                    changed = self.ended.changed() => self.finishing = changed.is_err(),
                }
            }
        }
    }

    /// Reads at most READ_MAX more of the file: how much, and what the
    /// whole entries read print.
    async fn read_more(&mut self) -> std::io::Result<(usize, Vec<u8>)> {
        let read = (&mut self.file)
            .take(READ_MAX)
            .read_to_end(&mut self.pending)
            .await?;
        let mut out = Vec::new();
        let consumed = self.formatter.write_entries(&self.pending, &mut out);
        self.pending.drain(..consumed);
        Ok((read, out))
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        if let Some(waiter) = &self.waiter {
            waiter.abort();
        }
    }
}
