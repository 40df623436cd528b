//! The client's watch streams: opening one with its watchers, and reading
//! its events into a [`Ledger`].

#![allow(
    clippy::disallowed_methods,
    reason = "receipt times are wall-clock times of a real network client"
)]

use std::collections::HashMap;
use std::time::Instant;

use keel_proto::etcdserverpb::{
    watch_client::WatchClient, watch_request::RequestUnion, WatchCreateRequest, WatchRequest,
    WatchResponse,
};
// tonic re-exports tokio-stream for its generated code; using it here spares
// the crate a dependency of its own.
use tokio::sync::{mpsc, watch};
use tonic::codegen::tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

use super::ledger::{Ledger, Window};
use super::micros_since;

/// Watch requests queued towards one stream. Only the create requests go
/// through it, at the start; a short queue is enough for the feeding task
/// to stay ahead of the connection.
const WATCH_REQUESTS_BUFFERED_MAX: usize = 16;

/// One open watch stream whose watchers have all been created.
pub struct OpenStream {
    /// Kept to hold the stream open: etcd ends a watch stream when its
    /// client closes the request side.
    _requests: mpsc::Sender<WatchRequest>,
    responses: Streaming<WatchResponse>,
    /// The server's watch ID of each watcher → its number in the stream.
    watchers: HashMap<i64, usize>,
}

/// The end of a key prefix: the range `[prefix, end)` holds exactly the
/// keys that start with `prefix` (etcd's `GetPrefixRangeEnd`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // All 0xff (or empty): every key from the prefix on.
    vec![0]
}

impl OpenStream {
    /// Opens a stream on `channel` with `watchers` watchers of `prefix`
    /// (server-chosen IDs, from the next revision) and waits until the
    /// server has confirmed every one.
    pub async fn open(channel: Channel, watchers: usize, prefix: &[u8]) -> Result<Self, String> {
        let (requests, queue) = mpsc::channel(WATCH_REQUESTS_BUFFERED_MAX);
        let create = WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
                key: prefix.to_vec(),
                range_end: prefix_end(prefix),
                ..WatchCreateRequest::default()
            })),
        };
        // etcd sends the response headers with its first answer, so the
        // creates must flow while the call below waits for them.
        let feeder = {
            let requests = requests.clone();
            tokio::spawn(async move {
                for _ in 0..watchers {
                    if requests.send(create.clone()).await.is_err() {
                        return Err("the watch stream closed while creating".to_string());
                    }
                }
                Ok(())
            })
        };
        let mut responses = WatchClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .watch(ReceiverStream::new(queue))
            .await
            .map_err(|status| format!("opening a watch stream: {status}"))?
            .into_inner();
        let mut ids = HashMap::with_capacity(watchers);
        while ids.len() < watchers {
            let response = responses
                .message()
                .await
                .map_err(|status| format!("creating watchers: {status}"))?
                .ok_or("the watch stream ended while creating watchers")?;
            if response.canceled {
                return Err(format!("a watch was refused: {}", response.cancel_reason));
            }
            // Events before every watcher exists can only be someone
            // else's writes: the write phase has not started.
            if response.created {
                let number = ids.len();
                if ids.insert(response.watch_id, number).is_some() {
                    return Err(format!("watch ID {} created twice", response.watch_id));
                }
            }
        }
        feeder.await.map_err(|e| e.to_string())??;
        Ok(Self {
            _requests: requests,
            responses,
            watchers: ids,
        })
    }

    /// How many watchers the stream has.
    pub fn watchers(&self) -> usize {
        self.watchers.len()
    }

    /// Reads events into a ledger over `window` until `stop` turns true,
    /// stamping each with its response's receipt time (µs since `origin`).
    /// Sends one message on `complete` when every watcher has every revision
    /// of the window; reading goes on, so late duplicates are still seen.
    pub async fn read(
        mut self,
        window: Window,
        origin: Instant,
        mut stop: watch::Receiver<bool>,
        complete: mpsc::Sender<()>,
    ) -> Result<Ledger, String> {
        let mut ledger = Ledger::new(self.watchers.len(), window);
        let mut reported = false;
        loop {
            let response = tokio::select! {
                biased;
                changed = stop.wait_for(|stop| *stop) => {
                    changed.map_err(|e| e.to_string())?;
                    return Ok(ledger);
                }
                response = self.responses.message() => response,
            };
            let response = response
                .map_err(|status| format!("reading watch events: {status}"))?
                .ok_or("the server ended a watch stream")?;
            let micros = micros_since(origin);
            if response.canceled {
                return Err(format!(
                    "the server canceled watch {} (compact revision {}): {}",
                    response.watch_id, response.compact_revision, response.cancel_reason
                ));
            }
            let watcher = self.watchers.get(&response.watch_id).copied();
            for event in &response.events {
                match (watcher, &event.kv) {
                    (Some(watcher), Some(kv)) => {
                        ledger.record(watcher, kv.mod_revision, micros);
                    }
                    _ => ledger.record_unexpected(),
                }
            }
            if !reported && ledger.is_complete() {
                reported = true;
                // The receiver counts completions; it outlives every reader.
                let _ = complete.send(()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_bound_exactly_the_prefixed_keys() {
        assert_eq!(prefix_end(b"bench/watch/"), b"bench/watch0".to_vec());
        assert_eq!(prefix_end(b"a\xff\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff"), vec![0]);
        assert_eq!(prefix_end(b""), vec![0]);
    }
}
