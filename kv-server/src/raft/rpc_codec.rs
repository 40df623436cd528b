//! openraft's RPC messages ↔ keel's peer protocol (`proto/keel/raft.proto`),
//! both ways: the sending side turns openraft's requests into `keelpb`
//! messages and the answers back, the receiving side the reverse. Every
//! conversion from the wire is checked: a message missing a required part
//! is an error, never a default.

use std::io;

use keel_proto::keelpb;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendError, VoteRequest,
    VoteResponse,
};

use super::codec::{
    entry_from_pb, entry_to_pb, log_id_from_pb, log_id_to_pb, stored_membership_from_pb,
    stored_membership_to_pb, vote_from_pb, vote_to_pb,
};
use super::{LogId, SnapshotMeta, TypeConfig, Vote};

fn missing(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{what} is missing"))
}

fn vote_of(pb: Option<&keelpb::Vote>, what: &str) -> io::Result<Vote> {
    pb.map(vote_from_pb).ok_or_else(|| missing(what))
}

fn log_id_of(pb: Option<&keelpb::LogId>) -> Option<LogId> {
    pb.map(log_id_from_pb)
}

/// `keelpb.VoteRequest` of openraft's.
pub fn vote_request_to_pb(request: &VoteRequest<TypeConfig>) -> keelpb::VoteRequest {
    keelpb::VoteRequest {
        vote: Some(vote_to_pb(&request.vote)),
        last_log_id: request.last_log_id.as_ref().map(log_id_to_pb),
        leadership_transfer: request.leadership_transfer,
    }
}

/// openraft's VoteRequest of a `keelpb.VoteRequest`.
pub fn vote_request_from_pb(pb: &keelpb::VoteRequest) -> io::Result<VoteRequest<TypeConfig>> {
    let mut request = VoteRequest::new(
        vote_of(pb.vote.as_ref(), "vote request's vote")?,
        log_id_of(pb.last_log_id.as_ref()),
    );
    request.leadership_transfer = pb.leadership_transfer;
    Ok(request)
}

/// `keelpb.VoteResponse` of openraft's.
pub fn vote_response_to_pb(response: &VoteResponse<TypeConfig>) -> keelpb::VoteResponse {
    keelpb::VoteResponse {
        vote: Some(vote_to_pb(&response.vote)),
        vote_granted: response.vote_granted,
        last_log_id: response.last_log_id.as_ref().map(log_id_to_pb),
    }
}

/// openraft's VoteResponse of a `keelpb.VoteResponse`.
pub fn vote_response_from_pb(pb: &keelpb::VoteResponse) -> io::Result<VoteResponse<TypeConfig>> {
    Ok(VoteResponse::new(
        vote_of(pb.vote.as_ref(), "vote response's vote")?,
        log_id_of(pb.last_log_id.as_ref()),
        pb.vote_granted,
    ))
}

/// `keelpb.AppendEntriesRequest` of openraft's.
pub fn append_request_to_pb(
    request: &AppendEntriesRequest<TypeConfig>,
) -> keelpb::AppendEntriesRequest {
    keelpb::AppendEntriesRequest {
        vote: Some(vote_to_pb(&request.vote)),
        prev_log_id: request.prev_log_id.as_ref().map(log_id_to_pb),
        entries: request.entries.iter().map(entry_to_pb).collect(),
        leader_commit: request.leader_commit.as_ref().map(log_id_to_pb),
    }
}

/// openraft's AppendEntriesRequest of a `keelpb.AppendEntriesRequest`.
pub fn append_request_from_pb(
    pb: &keelpb::AppendEntriesRequest,
) -> io::Result<AppendEntriesRequest<TypeConfig>> {
    Ok(AppendEntriesRequest {
        vote: vote_of(pb.vote.as_ref(), "append request's vote")?,
        prev_log_id: log_id_of(pb.prev_log_id.as_ref()),
        entries: pb
            .entries
            .iter()
            .map(entry_from_pb)
            .collect::<io::Result<_>>()?,
        leader_commit: log_id_of(pb.leader_commit.as_ref()),
    })
}

/// `keelpb.AppendEntriesResponse` of openraft's.
pub fn append_response_to_pb(
    response: &AppendEntriesResponse<TypeConfig>,
) -> keelpb::AppendEntriesResponse {
    use keelpb::append_entries_response::Outcome;
    let outcome = match response {
        AppendEntriesResponse::Success => Outcome::Success(keelpb::AppendSuccess {}),
        AppendEntriesResponse::PartialSuccess(matching) => {
            Outcome::PartialSuccess(keelpb::AppendPartialSuccess {
                matching: matching.as_ref().map(log_id_to_pb),
            })
        }
        AppendEntriesResponse::Conflict => Outcome::Conflict(keelpb::AppendConflict {}),
        AppendEntriesResponse::HigherVote(vote) => Outcome::HigherVote(vote_to_pb(vote)),
    };
    keelpb::AppendEntriesResponse {
        outcome: Some(outcome),
    }
}

/// openraft's AppendEntriesResponse of a `keelpb.AppendEntriesResponse`.
pub fn append_response_from_pb(
    pb: &keelpb::AppendEntriesResponse,
) -> io::Result<AppendEntriesResponse<TypeConfig>> {
    use keelpb::append_entries_response::Outcome;
    Ok(
        match pb
            .outcome
            .as_ref()
            .ok_or_else(|| missing("append outcome"))?
        {
            Outcome::Success(_) => AppendEntriesResponse::Success,
            Outcome::PartialSuccess(partial) => {
                AppendEntriesResponse::PartialSuccess(log_id_of(partial.matching.as_ref()))
            }
            Outcome::Conflict(_) => AppendEntriesResponse::Conflict,
            Outcome::HigherVote(vote) => AppendEntriesResponse::HigherVote(vote_from_pb(vote)),
        },
    )
}

/// `keelpb.StreamAppendResponse` of one openraft stream-append result.
pub fn stream_result_to_pb(
    result: &Result<Option<LogId>, StreamAppendError<TypeConfig>>,
) -> keelpb::StreamAppendResponse {
    use keelpb::stream_append_response::{Outcome, Success};
    let outcome = match result {
        Ok(matched) => Outcome::Success(Success {
            matched: matched.as_ref().map(log_id_to_pb),
        }),
        Err(StreamAppendError::Conflict(log_id)) => Outcome::Conflict(log_id_to_pb(log_id)),
        Err(StreamAppendError::HigherVote(vote)) => Outcome::HigherVote(vote_to_pb(vote)),
    };
    keelpb::StreamAppendResponse {
        outcome: Some(outcome),
    }
}

/// One openraft stream-append result of a `keelpb.StreamAppendResponse`.
pub fn stream_result_from_pb(
    pb: &keelpb::StreamAppendResponse,
) -> io::Result<Result<Option<LogId>, StreamAppendError<TypeConfig>>> {
    use keelpb::stream_append_response::Outcome;
    Ok(
        match pb
            .outcome
            .as_ref()
            .ok_or_else(|| missing("stream append outcome"))?
        {
            Outcome::Success(success) => Ok(log_id_of(success.matched.as_ref())),
            Outcome::Conflict(log_id) => Err(StreamAppendError::Conflict(log_id_from_pb(log_id))),
            Outcome::HigherVote(vote) => Err(StreamAppendError::HigherVote(vote_from_pb(vote))),
        },
    )
}

/// `keelpb.SnapshotMeta` of openraft's.
pub fn snapshot_meta_to_pb(meta: &SnapshotMeta) -> keelpb::SnapshotMeta {
    keelpb::SnapshotMeta {
        last_log_id: meta.last_log_id.as_ref().map(log_id_to_pb),
        last_membership: Some(stored_membership_to_pb(&meta.last_membership)),
        snapshot_id: meta.last_log_id.as_ref().map_or_else(String::new, |id| {
            format!("{}-{}", id.index, id.leader_id.term)
        }),
    }
}

/// openraft's SnapshotMeta of a `keelpb.SnapshotMeta`.
pub fn snapshot_meta_from_pb(pb: &keelpb::SnapshotMeta) -> io::Result<SnapshotMeta> {
    Ok(SnapshotMeta {
        last_log_id: log_id_of(pb.last_log_id.as_ref()),
        last_membership: stored_membership_from_pb(
            pb.last_membership
                .as_ref()
                .ok_or_else(|| missing("snapshot membership"))?,
        )?,
    })
}

/// `keelpb.InstallSnapshotResponse` of openraft's.
pub fn snapshot_response_to_pb(
    response: &SnapshotResponse<TypeConfig>,
) -> keelpb::InstallSnapshotResponse {
    keelpb::InstallSnapshotResponse {
        vote: Some(vote_to_pb(&response.vote)),
    }
}

/// openraft's SnapshotResponse of a `keelpb.InstallSnapshotResponse`.
pub fn snapshot_response_from_pb(
    pb: &keelpb::InstallSnapshotResponse,
) -> io::Result<SnapshotResponse<TypeConfig>> {
    Ok(SnapshotResponse::new(vote_of(
        pb.vote.as_ref(),
        "snapshot response's vote",
    )?))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use keel_proto::keelpb::command::Request;
    use openraft::entry::RaftEntry;
    use openraft::{EntryPayload, Membership};

    use super::*;
    use crate::raft::{Entry, Member, Proposal, StoredMembership};

    fn sample_entries() -> Vec<Entry> {
        let members: BTreeMap<u64, Member> = [(7, Member::default()), (9, Member::default())]
            .into_iter()
            .collect();
        let membership = Membership::new(vec![[7u64, 9].into()], members).unwrap();
        vec![
            Entry::new(LogId::new_term_index(3, 10), EntryPayload::Blank),
            Entry::new(
                LogId::new_term_index(3, 11),
                EntryPayload::Normal(Proposal(keelpb::Command {
                    leader_time_ms: 5,
                    request: Some(Request::LeaseRevoke(
                        keel_proto::etcdserverpb::LeaseRevokeRequest { id: 4 },
                    )),
                })),
            ),
            Entry::new(
                LogId::new_term_index(3, 12),
                EntryPayload::Membership(membership),
            ),
        ]
    }

    #[test]
    fn requests_and_responses_round_trip() {
        let vote = Vote::new_committed(3, 7);
        let mut vote_request =
            VoteRequest::new(Vote::new(4, 9), Some(LogId::new_term_index(3, 12)));
        vote_request.leadership_transfer = true;
        assert_eq!(
            vote_request_from_pb(&vote_request_to_pb(&vote_request)).unwrap(),
            vote_request
        );
        let vote_response = VoteResponse::new(vote, None, false);
        assert_eq!(
            vote_response_from_pb(&vote_response_to_pb(&vote_response)).unwrap(),
            vote_response
        );
        let append = AppendEntriesRequest {
            vote,
            prev_log_id: Some(LogId::new_term_index(2, 9)),
            entries: sample_entries(),
            leader_commit: None,
        };
        let back = append_request_from_pb(&append_request_to_pb(&append)).unwrap();
        assert_eq!(back.vote, append.vote);
        assert_eq!(back.prev_log_id, append.prev_log_id);
        assert_eq!(back.entries, append.entries);
        assert_eq!(back.leader_commit, None);
        for response in [
            AppendEntriesResponse::Success,
            AppendEntriesResponse::PartialSuccess(Some(LogId::new_term_index(3, 11))),
            AppendEntriesResponse::PartialSuccess(None),
            AppendEntriesResponse::Conflict,
            AppendEntriesResponse::HigherVote(Vote::new(5, 9)),
        ] {
            assert_eq!(
                append_response_from_pb(&append_response_to_pb(&response)).unwrap(),
                response
            );
        }
        for result in [
            Ok(Some(LogId::new_term_index(3, 12))),
            Ok(None),
            Err(StreamAppendError::Conflict(LogId::new_term_index(2, 9))),
            Err(StreamAppendError::HigherVote(Vote::new(5, 9))),
        ] {
            assert_eq!(
                stream_result_from_pb(&stream_result_to_pb(&result)).unwrap(),
                result
            );
        }
        let meta = SnapshotMeta {
            last_log_id: Some(LogId::new_term_index(3, 12)),
            last_membership: StoredMembership::default(),
        };
        assert_eq!(
            snapshot_meta_from_pb(&snapshot_meta_to_pb(&meta)).unwrap(),
            meta
        );
    }

    #[test]
    fn messages_missing_a_required_part_are_refused() {
        assert!(vote_request_from_pb(&keelpb::VoteRequest::default()).is_err());
        assert!(append_request_from_pb(&keelpb::AppendEntriesRequest::default()).is_err());
        assert!(append_response_from_pb(&keelpb::AppendEntriesResponse::default()).is_err());
        assert!(stream_result_from_pb(&keelpb::StreamAppendResponse::default()).is_err());
        assert!(snapshot_meta_from_pb(&keelpb::SnapshotMeta::default()).is_err());
    }
}
