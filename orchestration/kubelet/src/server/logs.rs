//! `GET /containerLogs/{namespace}/{pod}/{container}`: a container run's
//! CRI log file as `kubectl logs` prints it; with `follow`, new lines as
//! they are written until the run has ended and its file is drained, or
//! the client has gone.

use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::cri::{self, LogFormatter, LogOptions};
use super::{find, Refusal, ServerState};
use crate::runtime::{ContainerId, ContainerRuntime, State as RunState};

/// How often a followed file is read again when it had nothing new: a
/// line shows within this, and an idle follow costs a read (and a look at
/// the runtime's state) this often.
const FOLLOW_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The most a followed file is read at once: the output is sent in pieces
/// of about this size, however fast the container writes.
const FOLLOW_READ_MAX: u64 = 1024 * 1024;

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
    let data = tokio::fs::read(&path)
        .await
        .map_err(|error| Refusal::Internal(format!("reading {}: {error}", path.display())))?;
    let start = options
        .tail_lines
        .map_or(0, |lines| cri::tail_start(&data, lines));
    let mut formatter = LogFormatter::new(&options);
    let mut out = Vec::new();
    let consumed = start + formatter.write_entries(&data[start..], &mut out);
    // A previous run has ended: there is nothing to follow.
    if !options.follow || options.previous || formatter.is_done() {
        return Ok(plain_text(Body::from(out)));
    }
    let follower = Follower {
        runtime: state.runtime.clone(),
        id: ContainerId::new(&files.uid, container, attempt),
        path,
        file: None,
        offset: consumed as u64,
        pending: Vec::new(),
        formatter,
        first: Some(out),
        finishing: false,
    };
    let chunks = futures::stream::unfold(follower, |mut follower| async move {
        let chunk = follower.next_chunk().await?;
        Some((Ok::<_, std::io::Error>(chunk), follower))
    });
    Ok(plain_text(Body::from_stream(chunks)))
}

fn plain_text(body: Body) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}

/// A followed log file: read from `offset` on, until the run has ended
/// and the file is drained. Dropped (the client gone) it stops.
struct Follower {
    runtime: Arc<dyn ContainerRuntime>,
    /// The run whose file this is.
    id: ContainerId,
    path: PathBuf,
    /// Opened at the first read after the initial one.
    file: Option<tokio::fs::File>,
    /// Where the next read begins.
    offset: u64,
    /// The start of an entry still being written (no `\n` yet).
    pending: Vec<u8>,
    formatter: LogFormatter,
    /// What the initial read printed, sent first.
    first: Option<Vec<u8>>,
    /// The run has ended: one last read, then the end.
    finishing: bool,
}

impl Follower {
    /// The next piece of output; `None` at the end.
    async fn next_chunk(&mut self) -> Option<Vec<u8>> {
        if let Some(first) = self.first.take().filter(|first| !first.is_empty()) {
            return Some(first);
        }
        loop {
            if self.formatter.is_done() {
                return None;
            }
            let out = self.read_new().await.ok()?;
            if !out.is_empty() {
                return Some(out);
            }
            if self.finishing {
                return None;
            }
            if self.is_running().await {
                tokio::time::sleep(FOLLOW_POLL_INTERVAL).await;
            } else {
                // Whatever it wrote before it ended is in the file now.
                self.finishing = true;
            }
        }
    }

    /// What the entries written since the last read print.
    async fn read_new(&mut self) -> std::io::Result<Vec<u8>> {
        if self.file.is_none() {
            let mut file = tokio::fs::File::open(&self.path).await?;
            file.seek(SeekFrom::Start(self.offset)).await?;
            self.file = Some(file);
        }
        let Some(file) = self.file.as_mut() else {
            unreachable!("opened above");
        };
        let read = file
            .take(FOLLOW_READ_MAX)
            .read_to_end(&mut self.pending)
            .await?;
        self.offset += read as u64;
        let mut out = Vec::new();
        let consumed = self.formatter.write_entries(&self.pending, &mut out);
        self.pending.drain(..consumed);
        Ok(out)
    }

    /// Whether the run still runs (a run the runtime no longer knows has
    /// ended).
    async fn is_running(&self) -> bool {
        self.runtime.recover().await.is_ok_and(|known| {
            known.iter().any(|known| {
                known.spec.id == self.id && matches!(known.state, RunState::Running { .. })
            })
        })
    }
}
