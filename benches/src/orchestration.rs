//! What the orchestration benchmarks (`schedule`, `rollout`) share about
//! the cluster they drive: the connection to keel, the wait for the
//! simulated nodes to be Ready and for the scheduler's and controllers'
//! elections to have a leader, and whether an object's condition holds.
//!
//! ```text
//!   connect(urls) ─► Client, Store
//!   wait_for_ready_nodes: list nodes every NODES_POLL ─► count Ready = True ≥ N
//!   wait_for_leaders: /keel/elections/<name>/ holds a candidate, for each name
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark waits on the wall clock"
)]

use std::time::{Duration, Instant};

use keel_api::k8s_openapi::api::core::v1::Node;
use keel_api::resources::of;
use keel_client::{Client, ClientOptions, GetOptions};
use keel_runtime::election::ELECTIONS_PREFIX;
use keel_runtime::{ListOptions, Store};
use serde_json::Value;

/// How often the nodes are listed while waiting for them.
const NODES_POLL: Duration = Duration::from_millis(500);
/// How often the elections are read while waiting for their leaders.
const LEADERS_POLL: Duration = Duration::from_millis(200);

/// A client of keel at `endpoints` (comma-separated URLs) and a store
/// over it.
pub async fn connect(endpoints: &str) -> Result<(Client, Store), String> {
    let client = Client::connect(
        endpoints.split(',').map(str::to_owned).collect::<Vec<_>>(),
        ClientOptions::new(),
    )
    .await
    .map_err(|e| format!("connecting to {endpoints}: {e}"))?;
    let store = Store::new(client.clone());
    Ok((client, store))
}

/// Waits until at least `count` nodes are Ready, for at most `wait`.
pub async fn wait_for_ready_nodes(
    store: &Store,
    count: usize,
    wait: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + wait;
    loop {
        let list = store
            .list(of::<Node>(), "", &ListOptions::default())
            .await
            .map_err(|e| format!("listing the nodes: {e}"))?;
        let ready = list
            .items
            .iter()
            .filter(|node| condition_is_true(node, "Ready"))
            .count();
        if ready >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {ready} of {count} nodes were Ready after {wait:?} ({} registered)",
                list.items.len()
            ));
        }
        tokio::time::sleep(NODES_POLL).await;
    }
}

/// Waits until each election of `names` ("kube-scheduler") has a
/// candidate, which leads at once when it is the only one, for at most
/// `wait`.
pub async fn wait_for_leaders(
    client: &Client,
    names: &[&str],
    wait: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + wait;
    for name in names {
        let prefix = format!("{ELECTIONS_PREFIX}{name}/");
        loop {
            let answer = client
                .get(
                    prefix.as_str(),
                    Some(GetOptions::new().with_prefix().with_count_only()),
                )
                .await
                .map_err(|e| format!("reading the election {name}: {e}"))?;
            if answer.count > 0 {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the election {name} had no candidate after {wait:?}"
                ));
            }
            tokio::time::sleep(LEADERS_POLL).await;
        }
    }
    Ok(())
}

/// Whether `object`'s `status.conditions` holds `kind` with status "True"
/// (a node's or a pod's Ready).
pub fn condition_is_true(object: &Value, kind: &str) -> bool {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|condition| {
            condition.get("type").and_then(Value::as_str) == Some(kind)
                && condition.get("status").and_then(Value::as_str) == Some("True")
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_condition_holds_only_with_status_true() {
        let node = |status: &str| {
            json!({"status": {"conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": status}]}})
        };
        assert!(condition_is_true(&node("True"), "Ready"));
        assert!(!condition_is_true(&node("Unknown"), "Ready"));
        assert!(!condition_is_true(&node("True"), "PodScheduled"));
        assert!(!condition_is_true(&json!({"status": {}}), "Ready"));
    }
}
