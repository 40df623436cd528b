//! The nemeses: faults injected into a running cluster in rounds (a fault
//! for 0.5 to 3 s, then a pause of 0.5 to 2 s to recover), until the heal
//! time. Each ends its own fault before it returns; the run then heals
//! everything (must-heal).

use std::sync::Arc;
use std::time::Duration;

use keel_client::Client;
use madsim::rand::seq::SliceRandom;
use madsim::rand::Rng;
use madsim::runtime::NodeHandle;
use tokio::sync::Mutex;

use crate::cluster::{client_options, Cluster};
use crate::recorder::Recorder;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nemesis {
    /// No faults: the baseline.
    None,
    /// Kill members (one, a majority or all at once, as a power cut:
    /// unsynced bytes are lost) and restart them.
    KillRestart,
    /// Pause members (SIGSTOP) and resume them.
    Pause,
    /// Cut the leader off from every other member.
    IsolateLeader,
    /// Split the members into a minority and a majority.
    MinorityMajority,
    /// Each member reaches only its two neighbours on a ring.
    MajoritiesRing,
    /// Drop what one member sends (the leader, or another) but not what it
    /// receives.
    OneWay,
    /// Lose 5% of messages and delay each by 1 to 60 ms.
    LossLatency,
    /// Move leadership to another member.
    LeaderTransfer,
    /// Add a member as a learner, promote it, remove another.
    Membership,
    /// Keep a member down while the others write past their snapshot and
    /// log retention, so it catches up by a snapshot install.
    SnapshotInstall,
    /// Compact history every second while members are killed and
    /// restarted.
    Compaction,
    /// Each round, one of the faults above (but membership).
    Mixed,
}

impl Nemesis {
    /// Every nemesis, for sweeps.
    pub const ALL: [Nemesis; 13] = [
        Nemesis::None,
        Nemesis::KillRestart,
        Nemesis::Pause,
        Nemesis::IsolateLeader,
        Nemesis::MinorityMajority,
        Nemesis::MajoritiesRing,
        Nemesis::OneWay,
        Nemesis::LossLatency,
        Nemesis::LeaderTransfer,
        Nemesis::Membership,
        Nemesis::SnapshotInstall,
        Nemesis::Compaction,
        Nemesis::Mixed,
    ];
}

/// Member slots a nemesis needs beyond the founders.
pub fn spares(nemesis: Nemesis) -> usize {
    usize::from(nemesis == Nemesis::Membership)
}

type Shared = Arc<Mutex<Cluster>>;

fn millis(range: std::ops::Range<u64>) -> Duration {
    Duration::from_millis(madsim::rand::thread_rng().gen_range(range))
}

/// Runs `nemesis` until `heal_ns`; answers the members that should run
/// once healed (the founders, changed by membership changes).
pub async fn run(
    nemesis: Nemesis,
    cluster: Shared,
    client_node: &NodeHandle,
    recorder: Arc<Recorder>,
    heal_ns: u64,
) -> Vec<usize> {
    let mut members: Vec<usize> = (0..cluster.lock().await.founders).collect();
    if nemesis == Nemesis::Compaction {
        let endpoints = cluster.lock().await.endpoints();
        client_node.spawn(compact_until(endpoints, Arc::clone(&recorder), heal_ns));
    }
    // Let the cluster elect its first leader and the workload start.
    tokio::time::sleep(Duration::from_secs(2)).await;
    while recorder.now_ns() < heal_ns {
        let kind = match nemesis {
            // The faults of ALL from KillRestart to LeaderTransfer.
            Nemesis::Mixed => *Nemesis::ALL[1..=8]
                .choose(&mut madsim::rand::thread_rng())
                .unwrap_or(&Nemesis::None),
            Nemesis::Compaction => Nemesis::KillRestart,
            other => other,
        };
        round(kind, &cluster, client_node, &mut members).await;
        tokio::time::sleep(millis(500..2000)).await;
    }
    members
}

/// One round of `kind`: inject, hold, end.
async fn round(
    kind: Nemesis,
    cluster: &Shared,
    client_node: &NodeHandle,
    members: &mut Vec<usize>,
) {
    let mut rng = madsim::rand::thread_rng();
    match kind {
        Nemesis::None => tokio::time::sleep(millis(500..3000)).await,
        Nemesis::KillRestart => {
            let count = match rng.gen_range(0..10) {
                0..=5 => 1,
                6..=8 => members.len() / 2 + 1,
                _ => members.len(),
            };
            let victims: Vec<usize> = members.choose_multiple(&mut rng, count).copied().collect();
            let mut guard = cluster.lock().await;
            for &victim in &victims {
                guard.kill(victim);
            }
            drop(guard);
            tokio::time::sleep(millis(200..3000)).await;
            let mut guard = cluster.lock().await;
            for &victim in &victims {
                guard.restart(victim);
            }
        }
        Nemesis::Pause => {
            let victim = *members.choose(&mut rng).unwrap_or(&0);
            cluster.lock().await.pause(victim);
            tokio::time::sleep(millis(500..3000)).await;
            cluster.lock().await.resume(victim);
        }
        Nemesis::IsolateLeader => {
            let leader = leader_via(cluster, client_node).await;
            let guard = cluster.lock().await;
            if let Some(leader) = leader.filter(|l| members.contains(l)) {
                let rest: Vec<usize> = members.iter().copied().filter(|&m| m != leader).collect();
                guard.partition(&[vec![leader], rest]);
            }
            drop(guard);
            hold_then_heal(cluster).await;
        }
        Nemesis::MinorityMajority => {
            let mut shuffled = members.clone();
            shuffled.shuffle(&mut rng);
            let minority = shuffled.split_off(shuffled.len() / 2 + 1);
            cluster.lock().await.partition(&[shuffled, minority]);
            hold_then_heal(cluster).await;
        }
        Nemesis::MajoritiesRing => {
            let mut ring = members.clone();
            ring.shuffle(&mut rng);
            cluster.lock().await.majorities_ring(&ring);
            hold_then_heal(cluster).await;
        }
        Nemesis::OneWay => {
            let leader = leader_via(cluster, client_node).await;
            let from = leader
                .filter(|l| members.contains(l) && rng.gen_bool(0.7))
                .unwrap_or_else(|| *members.choose(&mut rng).unwrap_or(&0));
            let guard = cluster.lock().await;
            for &to in members.iter().filter(|&&m| m != from) {
                guard.clog(from, to);
            }
            drop(guard);
            hold_then_heal(cluster).await;
        }
        Nemesis::LossLatency => {
            cluster
                .lock()
                .await
                .degrade_network(0.05, Duration::from_millis(1)..Duration::from_millis(60));
            hold_then_heal(cluster).await;
        }
        Nemesis::LeaderTransfer => {
            transfer_leader(cluster, client_node, members).await;
            tokio::time::sleep(millis(500..2000)).await;
        }
        Nemesis::Membership => change_membership(cluster, client_node, members).await,
        Nemesis::SnapshotInstall => {
            let leader = leader_via(cluster, client_node).await;
            let follower = members.iter().copied().find(|&m| Some(m) != leader);
            if let Some(follower) = follower {
                cluster.lock().await.kill(follower);
                // Long enough for the others to write past a snapshot and
                // its catch-up entries.
                tokio::time::sleep(millis(4000..6000)).await;
                cluster.lock().await.restart(follower);
            }
        }
        Nemesis::Compaction | Nemesis::Mixed => {}
    }
}

/// Holds a network fault for a while, then ends it.
async fn hold_then_heal(cluster: &Shared) {
    tokio::time::sleep(millis(500..3000)).await;
    cluster.lock().await.heal_network();
}

/// The leader, asked from the client's node.
async fn leader_via(cluster: &Shared, client_node: &NodeHandle) -> Option<usize> {
    let cluster = Arc::clone(cluster);
    client_node
        .spawn(async move { cluster.lock().await.leader().await })
        .await
        .ok()
        .flatten()
}

/// Asks the leader to hand leadership to a random other member.
async fn transfer_leader(cluster: &Shared, client_node: &NodeHandle, members: &[usize]) {
    let Some(leader) = leader_via(cluster, client_node).await else {
        return;
    };
    let others: Vec<usize> = members.iter().copied().filter(|&m| m != leader).collect();
    let Some(&target) = others.choose(&mut madsim::rand::thread_rng()) else {
        return;
    };
    let cluster = Arc::clone(cluster);
    let _ = client_node
        .spawn(async move {
            let guard = cluster.lock().await;
            let target_id = guard.members[target].member_id;
            if let Ok(client) = guard.client_of(leader).await {
                drop(guard);
                if let Err(error) = client.move_leader(target_id).await {
                    tracing::info!(%error, "leader transfer refused");
                }
            }
        })
        .await;
}

/// Adds the spare member as a learner, promotes it once it has caught up,
/// and removes one founder that does not lead. Once per run.
async fn change_membership(cluster: &Shared, client_node: &NodeHandle, members: &mut Vec<usize>) {
    let spare = cluster.lock().await.founders;
    if members.contains(&spare) {
        tokio::time::sleep(millis(500..3000)).await;
        return;
    }
    let leader = leader_via(cluster, client_node).await;
    let endpoints = cluster.lock().await.endpoints();
    let shared = Arc::clone(cluster);
    let added = client_node
        .spawn(async move {
            let client = Client::connect(endpoints, client_options()).await.ok()?;
            shared.lock().await.add_learner(&client, spare).await.ok()?;
            Some(client)
        })
        .await
        .ok()
        .flatten();
    let Some(client) = added else {
        return;
    };
    members.push(spare);
    let (spare_id, removed) = {
        let guard = cluster.lock().await;
        let removed = members
            .iter()
            .copied()
            .find(|&m| m != spare && Some(m) != leader)
            .map(|m| (m, guard.members[m].member_id));
        (guard.members[spare].member_id, removed)
    };
    let removed_ok = client_node
        .spawn(async move {
            // Promotion waits until the learner has caught up.
            let mut promoted = false;
            for _ in 0..40 {
                if client.member_promote(spare_id).await.is_ok() {
                    promoted = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            if !promoted {
                return None;
            }
            let (index, id) = removed?;
            client.member_remove(id).await.ok().map(|_| index)
        })
        .await
        .ok()
        .flatten();
    if let Some(index) = removed_ok {
        members.retain(|&m| m != index);
        cluster.lock().await.kill(index);
    }
}

/// Compacts to 30 revisions behind the current one every second.
async fn compact_until(endpoints: Vec<String>, recorder: Arc<Recorder>, stop_ns: u64) {
    let Ok(client) = Client::connect(endpoints, client_options()).await else {
        return;
    };
    while recorder.now_ns() < stop_ns {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Ok(status) = client.status().await else {
            continue;
        };
        let revision = status.header.map_or(0, |h| h.revision) - 30;
        if revision > 1 {
            let _ = client.compact(revision, false).await;
        }
    }
}
