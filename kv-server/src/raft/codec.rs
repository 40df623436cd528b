//! Encodings between openraft's types and bytes: log entries (as
//! `keelpb.Entry`), votes and log ids (as `keelpb.Vote` / `keelpb.LogId`),
//! and the raft index ↔ raft-log record index mapping.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use keel_proto::keelpb;
use keel_raft_log::{Record, RecordId};
use openraft::entry::RaftEntry;
use openraft::{EntryPayload, Membership};
use prost::Message;

use super::{Entry, LogId, Member, Proposal, StoredMembership, Vote};

/// raft-log record index of raft index `index` (openraft counts from 0,
/// raft-log from 1).
pub fn record_index(index: u64) -> u64 {
    index + 1
}

/// Raft index of raft-log record index `record` (`record >= 1`).
pub fn raft_index(record: u64) -> u64 {
    record - 1
}

/// A raft-log record id for a log id.
pub fn record_id(log_id: &LogId) -> RecordId {
    RecordId {
        index: record_index(log_id.index),
        term: log_id.leader_id.term,
    }
}

/// The log id of a raft-log record id.
pub fn log_id_of_record(id: RecordId) -> LogId {
    LogId::new_term_index(id.term, raft_index(id.index))
}

fn invalid(what: &str, detail: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what}: {detail}"))
}

/// `keelpb.LogId` of a log id.
pub fn log_id_to_pb(log_id: &LogId) -> keelpb::LogId {
    keelpb::LogId {
        term: log_id.leader_id.term,
        leader_node_id: 0,
        index: log_id.index,
    }
}

/// The log id of a `keelpb.LogId`.
pub fn log_id_from_pb(pb: &keelpb::LogId) -> LogId {
    LogId::new_term_index(pb.term, pb.index)
}

/// Encodes a log id.
pub fn encode_log_id(log_id: &LogId) -> Vec<u8> {
    log_id_to_pb(log_id).encode_to_vec()
}

/// Decodes [`encode_log_id`]'s bytes.
pub fn decode_log_id(bytes: &[u8]) -> io::Result<LogId> {
    let pb = keelpb::LogId::decode(bytes).map_err(|e| invalid("log id", e))?;
    Ok(log_id_from_pb(&pb))
}

/// `keelpb.Vote` of a vote.
pub fn vote_to_pb(vote: &Vote) -> keelpb::Vote {
    let leader = vote.leader_id();
    keelpb::Vote {
        term: leader.term,
        node_id: leader.voted_for,
        committed: vote.is_committed(),
    }
}

/// The vote of a `keelpb.Vote`.
pub fn vote_from_pb(pb: &keelpb::Vote) -> Vote {
    if pb.committed {
        Vote::new_committed(pb.term, pb.node_id)
    } else {
        Vote::new(pb.term, pb.node_id)
    }
}

/// Encodes a vote.
pub fn encode_vote(vote: &Vote) -> Vec<u8> {
    vote_to_pb(vote).encode_to_vec()
}

/// Decodes [`encode_vote`]'s bytes.
pub fn decode_vote(bytes: &[u8]) -> io::Result<Vote> {
    let pb = keelpb::Vote::decode(bytes).map_err(|e| invalid("vote", e))?;
    Ok(vote_from_pb(&pb))
}

/// `keelpb.Membership` of a membership.
pub fn membership_to_pb(membership: &Membership<u64, Member>) -> keelpb::Membership {
    keelpb::Membership {
        configs: membership
            .get_joint_config()
            .iter()
            .map(|config| keelpb::NodeIdSet {
                node_ids: config.iter().copied().collect(),
            })
            .collect(),
        nodes: membership
            .nodes()
            .map(|(id, member)| {
                (
                    *id,
                    keelpb::Node {
                        name: member.name.clone(),
                        peer_urls: member.peer_urls.clone(),
                        client_urls: member.client_urls.clone(),
                    },
                )
            })
            .collect(),
    }
}

/// The membership of a `keelpb.Membership`.
pub fn membership_from_pb(pb: &keelpb::Membership) -> io::Result<Membership<u64, Member>> {
    let configs: Vec<BTreeSet<u64>> = pb
        .configs
        .iter()
        .map(|set| set.node_ids.iter().copied().collect())
        .collect();
    let nodes: BTreeMap<u64, Member> = pb
        .nodes
        .iter()
        .map(|(id, node)| {
            (
                *id,
                Member {
                    name: node.name.clone(),
                    peer_urls: node.peer_urls.clone(),
                    client_urls: node.client_urls.clone(),
                },
            )
        })
        .collect();
    Membership::new(configs, nodes).map_err(|e| invalid("membership", e))
}

/// `keelpb.StoredMembership` of a stored membership.
pub fn stored_membership_to_pb(stored: &StoredMembership) -> keelpb::StoredMembership {
    keelpb::StoredMembership {
        log_id: stored.log_id().as_ref().map(log_id_to_pb),
        membership: Some(membership_to_pb(stored.membership())),
    }
}

/// The stored membership of a `keelpb.StoredMembership`.
pub fn stored_membership_from_pb(pb: &keelpb::StoredMembership) -> io::Result<StoredMembership> {
    let membership = match &pb.membership {
        Some(membership) => membership_from_pb(membership)?,
        None => Membership::default(),
    };
    Ok(StoredMembership::new(
        pb.log_id.as_ref().map(log_id_from_pb),
        membership,
    ))
}

/// `keelpb.Entry` of a log entry.
pub fn entry_to_pb(entry: &Entry) -> keelpb::Entry {
    use keelpb::entry::Payload;
    let payload = match &entry.payload {
        EntryPayload::Blank => Payload::Blank(keelpb::Blank {}),
        EntryPayload::Normal(proposal) => Payload::Normal(proposal.0.encode_to_vec()),
        EntryPayload::Membership(membership) => Payload::Membership(membership_to_pb(membership)),
    };
    keelpb::Entry {
        log_id: Some(log_id_to_pb(&entry.log_id)),
        payload: Some(payload),
    }
}

/// The log entry of a `keelpb.Entry`.
pub fn entry_from_pb(pb: &keelpb::Entry) -> io::Result<Entry> {
    use keelpb::entry::Payload;
    let log_id = pb
        .log_id
        .as_ref()
        .map(log_id_from_pb)
        .ok_or_else(|| invalid("entry", "no log id"))?;
    let payload = match &pb.payload {
        Some(Payload::Blank(_)) => EntryPayload::Blank,
        Some(Payload::Normal(bytes)) => EntryPayload::Normal(Proposal(
            keelpb::Command::decode(&bytes[..]).map_err(|e| invalid("command", e))?,
        )),
        Some(Payload::Membership(membership)) => {
            EntryPayload::Membership(membership_from_pb(membership)?)
        }
        None => return Err(invalid("entry", "no payload")),
    };
    Ok(Entry::new(log_id, payload))
}

/// The raft-log record of a log entry.
pub fn entry_to_record(entry: &Entry) -> Record {
    Record {
        index: record_index(entry.log_id.index),
        term: entry.log_id.leader_id.term,
        payload: entry_to_pb(entry).encode_to_vec(),
    }
}

/// The log entry of a raft-log record, checked against the record's index
/// and term.
pub fn entry_from_record(record: &Record) -> io::Result<Entry> {
    let pb = keelpb::Entry::decode(&record.payload[..]).map_err(|e| invalid("entry", e))?;
    let entry = entry_from_pb(&pb)?;
    if record_index(entry.log_id.index) != record.index
        || entry.log_id.leader_id.term != record.term
    {
        return Err(invalid(
            "entry",
            format!(
                "record {}/{} holds log id {}",
                record.index, record.term, entry.log_id
            ),
        ));
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_through_records() {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            7,
            Member {
                name: "a".into(),
                peer_urls: vec!["http://127.0.0.1:2380".into()],
                client_urls: vec!["http://127.0.0.1:2379".into()],
            },
        );
        let membership = Membership::new(vec![BTreeSet::from([7])], nodes).unwrap();
        let entries = [
            Entry::new(
                LogId::new_term_index(1, 0),
                EntryPayload::Membership(membership),
            ),
            Entry::new(LogId::new_term_index(1, 1), EntryPayload::Blank),
            Entry::new(
                LogId::new_term_index(2, 2),
                EntryPayload::Normal(Proposal(keelpb::Command {
                    leader_time_ms: 5,
                    request: Some(keelpb::command::Request::Put(
                        keel_proto::etcdserverpb::PutRequest {
                            key: b"k".to_vec(),
                            value: b"v".to_vec(),
                            ..Default::default()
                        },
                    )),
                })),
            ),
        ];
        for entry in &entries {
            let record = entry_to_record(entry);
            assert_eq!(record.index, entry.log_id.index + 1);
            let back = entry_from_record(&record).unwrap();
            assert_eq!(format!("{back:?}"), format!("{entry:?}"));
        }
        let mut wrong = entry_to_record(&entries[1]);
        wrong.index += 1;
        assert!(
            entry_from_record(&wrong).is_err(),
            "index mismatch detected"
        );
    }

    #[test]
    fn votes_and_log_ids_round_trip() {
        for vote in [Vote::new(3, 9), Vote::new_committed(4, 1)] {
            assert_eq!(decode_vote(&encode_vote(&vote)).unwrap(), vote);
        }
        let log_id = LogId::new_term_index(5, 77);
        assert_eq!(decode_log_id(&encode_log_id(&log_id)).unwrap(), log_id);
        assert_eq!(log_id_of_record(record_id(&log_id)), log_id);
    }
}
