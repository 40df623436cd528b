//! `etcdserverpb.Maintenance`: Status, Hash, HashKV, Alarm, Defragment and
//! Snapshot. MoveLeader and Downgrade need more than one member and answer
//! `Unimplemented` until clusters grow.

use openraft::type_config::async_runtime::WatchReceiver;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::Stream;
use keel_proto::etcdserverpb::{self as pb, maintenance_server::Maintenance};
use keel_proto::keelpb;
use keel_raft_log::DiskFile;
use prost::Message;
use tonic::{Request, Response, Status};

use super::ETCD_API_VERSION;
use crate::error::EtcdError;
use crate::forward;
use crate::node::Node;
use crate::raft::snapshot;
use crate::raft::state_machine::Outcome;

/// Bytes per `SnapshotResponse` message.
const SNAPSHOT_CHUNK: usize = 32 << 10;
/// Chunks read ahead of a slow snapshot download.
#[cfg(not(madsim))]
const SNAPSHOT_CHUNKS_BUFFERED: usize = 4;

/// The Maintenance service.
#[derive(Debug, Clone)]
pub struct MaintenanceApi {
    node: Arc<Node>,
    /// Tags the files of concurrent Snapshot calls apart.
    snapshots: Arc<AtomicU64>,
}

impl MaintenanceApi {
    /// The service over `node`.
    pub fn new(node: Arc<Node>) -> Self {
        Self {
            node,
            snapshots: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The active alarms, as the last applied entry recorded them.
    fn alarms(&self) -> Result<Vec<pb::AlarmMember>, EtcdError> {
        let state = match self
            .node
            .store()
            .applied_metadata()
            .map_err(|e| EtcdError::Internal(e.to_string()))?
        {
            Some(bytes) => keelpb::AppliedState::decode(&bytes[..])
                .map_err(|e| EtcdError::Internal(e.to_string()))?,
            None => keelpb::AppliedState::default(),
        };
        Ok(state.alarms)
    }
}

/// Activates or deactivates an alarm, proposed by this member.
pub async fn alarm_here(
    node: &Node,
    request: pb::AlarmRequest,
) -> Result<pb::AlarmResponse, EtcdError> {
    match node
        .propose(keelpb::command::Request::Alarm(request))
        .await?
    {
        Outcome::Alarms(alarms) => Ok(pb::AlarmResponse {
            header: Some(node.current_header()),
            alarms,
        }),
        Outcome::Kv(_) => Err(EtcdError::Internal(
            "an alarm was answered by the store".into(),
        )),
    }
}

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<pb::SnapshotResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Maintenance for MaintenanceApi {
    async fn alarm(
        &self,
        request: Request<pb::AlarmRequest>,
    ) -> Result<Response<pb::AlarmResponse>, Status> {
        use pb::alarm_request::AlarmAction;
        self.node.refuse_learner()?;
        let request = request.into_inner();
        let alarms = match AlarmAction::try_from(request.action) {
            Ok(AlarmAction::Get) => {
                self.node.linearizable_barrier().await?;
                self.alarms()?
                    .into_iter()
                    .filter(|a| {
                        (request.member_id == 0 || a.member_id == request.member_id)
                            && (request.alarm == pb::AlarmType::None as i32
                                || a.alarm == request.alarm)
                    })
                    .collect()
            }
            Ok(AlarmAction::Activate | AlarmAction::Deactivate) => {
                let node = &self.node;
                return Ok(Response::new(
                    forward::on_leader(node, forward::ALARM, request, |r| alarm_here(node, r))
                        .await?,
                ));
            }
            Err(_) => return Err(Status::invalid_argument("etcdserver: unknown alarm action")),
        };
        Ok(Response::new(pb::AlarmResponse {
            header: Some(self.node.current_header()),
            alarms,
        }))
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let metrics = self.node.raft().metrics().borrow_watched().clone();
        let store = self.node.store();
        let db_size = store.backend().size_bytes() as i64;
        let errors = self
            .alarms()?
            .into_iter()
            .map(|a| {
                let name = pb::AlarmType::try_from(a.alarm).map_or("UNKNOWN", |t| t.as_str_name());
                format!("memberID:{} alarm:{name} ", a.member_id)
            })
            .collect();
        Ok(Response::new(pb::StatusResponse {
            header: Some(self.node.current_header()),
            version: ETCD_API_VERSION.to_string(),
            db_size,
            leader: metrics.current_leader.unwrap_or(0),
            raft_index: metrics.last_log_index.map_or(0, |i| i + 1),
            raft_term: metrics.current_term,
            raft_applied_index: metrics.last_applied.map_or(0, |id| id.index + 1),
            errors,
            db_size_in_use: db_size,
            is_learner: self.node.is_learner(),
            storage_version: String::new(),
            db_size_quota: self.node.options().quota_backend_bytes as i64,
            downgrade_info: None,
        }))
    }

    async fn defragment(
        &self,
        _request: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        self.node.refuse_learner()?;
        // RocksDB reclaims space by a manual compaction that runs beside
        // reads and writes (etcd's bbolt defragmentation blocks them). The
        // call returns when it is done, as etcd's does; it waits on a
        // blocking thread, not on one of the server's async workers.
        let store = Arc::clone(self.node.store());
        crate::blocking::run(move || store.backend().defragment())
            .await
            .map_err(|e| EtcdError::Internal(e.to_string()))?
            .map_err(|e| EtcdError::Internal(e.to_string()))?;
        Ok(Response::new(pb::DefragmentResponse {
            header: Some(self.node.current_header()),
        }))
    }

    async fn hash(
        &self,
        _request: Request<pb::HashRequest>,
    ) -> Result<Response<pb::HashResponse>, Status> {
        self.node.refuse_learner()?;
        let hash = self.node.store().hash_kv(0).map_err(EtcdError::from)?;
        Ok(Response::new(pb::HashResponse {
            header: Some(self.node.header(hash.revision)),
            hash: hash.hash,
        }))
    }

    async fn hash_kv(
        &self,
        request: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        self.node.refuse_learner()?;
        let request = request.into_inner();
        let hash = self
            .node
            .store()
            .hash_kv(request.revision)
            .map_err(EtcdError::from)?;
        Ok(Response::new(pb::HashKvResponse {
            header: Some(self.node.header(hash.revision)),
            hash: hash.hash,
            compact_revision: hash.compact_revision,
            hash_revision: hash.hash_revision,
        }))
    }

    type SnapshotStream = SnapshotStream;

    async fn snapshot(
        &self,
        _request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        self.node.refuse_learner()?;
        // Write a fresh snapshot file beside the Raft snapshots, then stream
        // it; the file is removed once streamed.
        let dir = self
            .node
            .options()
            .data_dir
            .join("member")
            .join("snap")
            .join("client");
        let store = Arc::clone(self.node.store());
        let disk = Arc::clone(self.node.disk());
        let tag = format!("client-{}-", self.snapshots.fetch_add(1, Ordering::Relaxed));
        let written = crate::blocking::run(move || {
            snapshot::write(&store, &disk, &dir, &tag).map(|(file, _)| file)
        })
        .await
        .map_err(|e| EtcdError::Internal(e.to_string()))?
        .map_err(|e| EtcdError::Internal(e.to_string()))?;
        let file = written
            .disk
            .open(&written.path, false)
            .map_err(|e| EtcdError::Internal(e.to_string()))?;
        let total = file
            .byte_len()
            .map_err(|e| EtcdError::Internal(e.to_string()))?;
        let header = self.node.current_header();
        // The simulator streams inline, so there the channel holds the
        // whole file (its snapshots are small).
        #[cfg(madsim)]
        let buffered = usize::try_from(total).unwrap_or(0) / SNAPSHOT_CHUNK + 2;
        #[cfg(not(madsim))]
        let buffered = SNAPSHOT_CHUNKS_BUFFERED;
        let (sender, receiver) = tokio::sync::mpsc::channel(buffered);
        #[cfg(not(madsim))]
        tokio::task::spawn_blocking(move || stream_file(&*file, total, &header, &sender, &written));
        #[cfg(madsim)]
        stream_file(&*file, total, &header, &sender, &written);
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

    async fn move_leader(
        &self,
        request: Request<pb::MoveLeaderRequest>,
    ) -> Result<Response<pb::MoveLeaderResponse>, Status> {
        self.node.refuse_learner()?;
        let node = &self.node;
        let target = request.into_inner().target_id;
        // As in etcd: asked of the leader, for a voter.
        if !node.is_leader() {
            return Err(EtcdError::NotLeader.into());
        }
        let voter = crate::api::cluster::members(node)
            .iter()
            .any(|member| member.id == target && !member.is_learner);
        if !voter {
            return Err(EtcdError::BadLeaderTransferee.into());
        }
        if target != node.member_id() {
            node.raft()
                .trigger()
                .transfer_leader(target)
                .await
                .map_err(|_| EtcdError::Stopped)?;
            let moved = node
                .raft()
                .wait(Some(node.request_timeout()))
                .metrics(|m| m.current_leader == Some(target), "leadership moved")
                .await;
            if moved.is_err() {
                return Err(EtcdError::TimeoutLeaderTransfer.into());
            }
        }
        Ok(Response::new(pb::MoveLeaderResponse {
            header: Some(node.current_header()),
        }))
    }

    async fn downgrade(
        &self,
        _request: Request<pb::DowngradeRequest>,
    ) -> Result<Response<pb::DowngradeResponse>, Status> {
        Err(Status::unimplemented(
            "keel does not support cluster downgrades",
        ))
    }
}

/// Sends `file` in chunks, then etcdctl's integrity trailer (padding and a
/// sha256, see [`snapshot::trailer`]) as etcd does: the digest goes alone in
/// the last message, with `remaining_bytes` 0. Removes the file at the end.
fn stream_file(
    file: &dyn DiskFile,
    len: u64,
    header: &pb::ResponseHeader,
    sender: &tokio::sync::mpsc::Sender<Result<pb::SnapshotResponse, Status>>,
    written: &snapshot::SnapshotFile,
) {
    let padding = snapshot::trailer::padding(len);
    let total = len + padding.len() as u64;
    let mut hasher = snapshot::trailer::Hasher::default();
    let mut offset = 0;
    let mut first = true;
    let send = |blob: Vec<u8>, remaining_bytes: u64, first: bool| {
        let message = pb::SnapshotResponse {
            header: first.then_some(*header),
            remaining_bytes,
            blob,
            version: ETCD_API_VERSION.to_string(),
        };
        sender.blocking_send(Ok(message)).is_ok()
    };
    let mut streamed = true;
    while offset < total {
        let size = (total - offset).min(SNAPSHOT_CHUNK as u64) as usize;
        let mut blob = vec![0; size];
        // The file's bytes, then the padding.
        let from_file = len.saturating_sub(offset).min(size as u64) as usize;
        if let Err(error) = file.read_exact_at(offset, &mut blob[..from_file]) {
            let _ = sender.blocking_send(Err(Status::internal(format!(
                "reading the snapshot: {error}"
            ))));
            streamed = false;
            break;
        }
        let padding_at = (offset + from_file as u64).saturating_sub(len) as usize;
        let padding_part = &padding[padding_at..padding_at + (size - from_file)];
        blob[from_file..].copy_from_slice(padding_part);
        hasher.update(&blob);
        offset += size as u64;
        if !send(blob, total - offset, first) {
            streamed = false;
            break;
        }
        first = false;
    }
    if streamed {
        send(hasher.finish(), 0, first);
    }
    let _ = written.disk.remove(&written.path);
}
