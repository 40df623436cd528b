//! Finding a pod's containers and log files from what the node has: the
//! runtime's containers (`recover()`) and the logs directory, since the
//! endpoint does not read pods from keel.

use std::path::PathBuf;

use jiff::Timestamp;

use super::{Refusal, ServerState};
use crate::runtime::{ContainerId, Known, State};

/// When a container's run started.
fn started_at(known: &Known) -> Timestamp {
    match known.state {
        State::Running { started_at } | State::Exited { started_at, .. } => started_at,
    }
}

/// The runtime's containers of pod `namespace/pod`, or a 500.
async fn runs_of(state: &ServerState, namespace: &str, pod: &str) -> Result<Vec<Known>, Refusal> {
    let known = state
        .runtime
        .recover()
        .await
        .map_err(|error| Refusal::Internal(error.to_string()))?;
    Ok(known
        .into_iter()
        .filter(|known| known.spec.pod.namespace == namespace && known.spec.pod.name == pod)
        .collect())
}

/// The running container `container` of pod `namespace/pod` (its latest
/// run), as the kubelet finds it for exec.
pub(super) async fn running_container(
    state: &ServerState,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Result<ContainerId, Refusal> {
    let runs = runs_of(state, namespace, pod).await?;
    if runs.is_empty() {
        return Err(Refusal::PodNotFound);
    }
    runs.iter()
        .filter(|known| known.spec.name == container)
        .filter(|known| matches!(known.state, State::Running { .. }))
        .max_by_key(|known| known.spec.attempt)
        .map(|known| known.spec.id.clone())
        .ok_or_else(|| Refusal::ContainerNotRunning(container.to_owned()))
}

/// A container's log files: one per run, by attempt.
#[derive(Debug, Clone)]
pub(super) struct LogFiles {
    /// The pod's uid.
    pub uid: String,
    /// `<root>/logs/<ns>_<pod>_<uid>/<container>`.
    pub dir: PathBuf,
    /// The attempts with a log file, in order.
    pub attempts: Vec<u32>,
}

impl LogFiles {
    /// The log file of run `attempt`.
    pub fn path(&self, attempt: u32) -> PathBuf {
        self.dir.join(format!("{attempt}.log"))
    }
}

/// The pod's uid: the one of its latest run the runtime knows, else the
/// newest logs directory of a pod of that namespace and name.
async fn pod_uid(
    state: &ServerState,
    namespace: &str,
    pod: &str,
) -> Result<Option<String>, Refusal> {
    let runs = runs_of(state, namespace, pod).await?;
    if let Some(latest) = runs.iter().max_by_key(|known| started_at(known)) {
        return Ok(Some(latest.spec.pod.uid.clone()));
    }
    // Namespaces and pod names have no `_`, uids neither: the prefix is
    // unambiguous.
    let prefix = format!("{namespace}_{pod}_");
    let Ok(mut entries) = tokio::fs::read_dir(state.root_dir.join("logs")).await else {
        return Ok(None);
    };
    let mut newest: Option<(std::time::SystemTime, String)> = None;
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(uid) = name.strip_prefix(&prefix) else {
            continue;
        };
        let modified = entry
            .metadata()
            .await
            .and_then(|metadata| metadata.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        if newest.as_ref().is_none_or(|(time, _)| modified > *time) {
            newest = Some((modified, uid.to_owned()));
        }
    }
    Ok(newest.map(|(_, uid)| uid))
}

/// The log files of container `container` of pod `namespace/pod`; a 400
/// saying it is waiting to start when it has none yet.
pub(super) async fn log_files(
    state: &ServerState,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Result<LogFiles, Refusal> {
    let waiting = || Refusal::WaitingToStart {
        pod: pod.to_owned(),
        container: container.to_owned(),
    };
    let uid = pod_uid(state, namespace, pod).await?.ok_or_else(waiting)?;
    let dir = state
        .root_dir
        .join("logs")
        .join(format!("{namespace}_{pod}_{uid}"))
        .join(container);
    let mut attempts = Vec::new();
    if let Ok(mut entries) = tokio::fs::read_dir(&dir).await {
        while let Ok(Some(entry)) = entries.next_entry().await {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(attempt) = name
                .strip_suffix(".log")
                .and_then(|number| number.parse::<u32>().ok())
            {
                attempts.push(attempt);
            }
        }
    }
    if attempts.is_empty() {
        return Err(waiting());
    }
    attempts.sort_unstable();
    Ok(LogFiles { uid, dir, attempts })
}
