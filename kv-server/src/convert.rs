//! Mapping between etcd's protobuf messages and the mvcc engine's types.
//!
//! Requests go from protobuf to mvcc (checking the enum fields etcd checks),
//! responses from mvcc to protobuf. Response headers are filled by the
//! caller, which knows the cluster, member and term.

use keel_mvcc as mvcc;
use keel_proto::{etcdserverpb as pb, mvccpb};

/// A request field that does not map onto the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// `sort_order` or `sort_target` is not one of etcd's values.
    #[error("invalid sort option")]
    InvalidSortOption,
    /// A compare's `result` is not one of etcd's values.
    #[error("invalid compare result")]
    InvalidCompareResult,
    /// A compare's `target` is not one of etcd's values.
    #[error("invalid compare target")]
    InvalidCompareTarget,
    /// A `RequestOp` carries no request.
    #[error("empty request op")]
    EmptyRequestOp,
}

/// An mvcc range request from etcd's.
pub fn range_request(request: &pb::RangeRequest) -> Result<mvcc::RangeRequest, ConvertError> {
    let sort_order = match pb::range_request::SortOrder::try_from(request.sort_order) {
        Ok(pb::range_request::SortOrder::None) => mvcc::SortOrder::None,
        Ok(pb::range_request::SortOrder::Ascend) => mvcc::SortOrder::Ascend,
        Ok(pb::range_request::SortOrder::Descend) => mvcc::SortOrder::Descend,
        Err(_) => return Err(ConvertError::InvalidSortOption),
    };
    let sort_target = match pb::range_request::SortTarget::try_from(request.sort_target) {
        Ok(pb::range_request::SortTarget::Key) => mvcc::SortTarget::Key,
        Ok(pb::range_request::SortTarget::Version) => mvcc::SortTarget::Version,
        Ok(pb::range_request::SortTarget::Create) => mvcc::SortTarget::Create,
        Ok(pb::range_request::SortTarget::Mod) => mvcc::SortTarget::Mod,
        Ok(pb::range_request::SortTarget::Value) => mvcc::SortTarget::Value,
        Err(_) => return Err(ConvertError::InvalidSortOption),
    };
    Ok(mvcc::RangeRequest {
        key: request.key.clone(),
        range_end: request.range_end.clone(),
        limit: request.limit,
        revision: request.revision,
        sort_order,
        sort_target,
        keys_only: request.keys_only,
        count_only: request.count_only,
        min_mod_revision: request.min_mod_revision,
        max_mod_revision: request.max_mod_revision,
        min_create_revision: request.min_create_revision,
        max_create_revision: request.max_create_revision,
    })
}

/// An mvcc put from etcd's.
pub fn put_request(request: &pb::PutRequest) -> mvcc::PutRequest {
    mvcc::PutRequest {
        key: request.key.clone(),
        value: request.value.clone(),
        lease: request.lease,
        prev_kv: request.prev_kv,
        ignore_value: request.ignore_value,
        ignore_lease: request.ignore_lease,
    }
}

/// An mvcc deletion from etcd's.
pub fn delete_range_request(request: &pb::DeleteRangeRequest) -> mvcc::DeleteRangeRequest {
    mvcc::DeleteRangeRequest {
        key: request.key.clone(),
        range_end: request.range_end.clone(),
        prev_kv: request.prev_kv,
    }
}

fn compare(compare: &pb::Compare) -> Result<mvcc::Compare, ConvertError> {
    use pb::compare::{CompareResult as R, CompareTarget as T, TargetUnion as U};
    let result = match R::try_from(compare.result) {
        Ok(R::Equal) => mvcc::CompareResult::Equal,
        Ok(R::Greater) => mvcc::CompareResult::Greater,
        Ok(R::Less) => mvcc::CompareResult::Less,
        Ok(R::NotEqual) => mvcc::CompareResult::NotEqual,
        Err(_) => return Err(ConvertError::InvalidCompareResult),
    };
    // etcd reads the operand of the named target; an operand of another
    // kind (or none) reads as zero or the empty value.
    let union = compare.target_union.as_ref();
    let int = |pick: fn(&U) -> Option<i64>| union.and_then(pick).unwrap_or(0);
    let target = match T::try_from(compare.target) {
        Ok(T::Version) => mvcc::CompareTarget::Version(int(|u| match u {
            U::Version(v) => Some(*v),
            _ => None,
        })),
        Ok(T::Create) => mvcc::CompareTarget::Create(int(|u| match u {
            U::CreateRevision(v) => Some(*v),
            _ => None,
        })),
        Ok(T::Mod) => mvcc::CompareTarget::Mod(int(|u| match u {
            U::ModRevision(v) => Some(*v),
            _ => None,
        })),
        Ok(T::Lease) => mvcc::CompareTarget::Lease(int(|u| match u {
            U::Lease(v) => Some(*v),
            _ => None,
        })),
        Ok(T::Value) => mvcc::CompareTarget::Value(match union {
            Some(U::Value(value)) => value.clone(),
            _ => Vec::new(),
        }),
        Err(_) => return Err(ConvertError::InvalidCompareTarget),
    };
    Ok(mvcc::Compare {
        result,
        target,
        key: compare.key.clone(),
        range_end: compare.range_end.clone(),
    })
}

fn request_op(op: &pb::RequestOp) -> Result<mvcc::RequestOp, ConvertError> {
    use pb::request_op::Request;
    Ok(match &op.request {
        Some(Request::RequestRange(range)) => mvcc::RequestOp::Range(range_request(range)?),
        Some(Request::RequestPut(put)) => mvcc::RequestOp::Put(put_request(put)),
        Some(Request::RequestDeleteRange(delete)) => {
            mvcc::RequestOp::DeleteRange(delete_range_request(delete))
        }
        Some(Request::RequestTxn(txn)) => mvcc::RequestOp::Txn(txn_request(txn)?),
        None => return Err(ConvertError::EmptyRequestOp),
    })
}

/// An mvcc transaction from etcd's.
pub fn txn_request(request: &pb::TxnRequest) -> Result<mvcc::TxnRequest, ConvertError> {
    Ok(mvcc::TxnRequest {
        compare: request
            .compare
            .iter()
            .map(compare)
            .collect::<Result<_, _>>()?,
        success: request
            .success
            .iter()
            .map(request_op)
            .collect::<Result<_, _>>()?,
        failure: request
            .failure
            .iter()
            .map(request_op)
            .collect::<Result<_, _>>()?,
    })
}

/// etcd's key-value of an mvcc one.
pub fn key_value(kv: mvcc::KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

fn header(revision: i64) -> pb::ResponseHeader {
    pb::ResponseHeader {
        revision,
        ..pb::ResponseHeader::default()
    }
}

/// etcd's range response of an mvcc one (header: revision only).
pub fn range_response(response: mvcc::RangeResponse) -> pb::RangeResponse {
    pb::RangeResponse {
        header: Some(header(response.revision)),
        kvs: response.kvs.into_iter().map(key_value).collect(),
        more: response.more,
        count: response.count,
    }
}

/// etcd's put response of an mvcc one (header: revision only).
pub fn put_response(response: mvcc::PutResponse) -> pb::PutResponse {
    pb::PutResponse {
        header: Some(header(response.revision)),
        prev_kv: response.prev_kv.map(key_value),
    }
}

/// etcd's delete response of an mvcc one (header: revision only).
pub fn delete_range_response(response: mvcc::DeleteRangeResponse) -> pb::DeleteRangeResponse {
    pb::DeleteRangeResponse {
        header: Some(header(response.revision)),
        deleted: response.deleted,
        prev_kvs: response.prev_kvs.into_iter().map(key_value).collect(),
    }
}

/// etcd's txn response of an mvcc one. Nested responses carry headers with
/// their revision as etcd's do; the caller fills the outer header.
pub fn txn_response(response: mvcc::TxnResponse) -> pb::TxnResponse {
    use pb::response_op::Response;
    pb::TxnResponse {
        header: Some(header(response.revision)),
        succeeded: response.succeeded,
        responses: response
            .responses
            .into_iter()
            .map(|op| pb::ResponseOp {
                response: Some(match op {
                    mvcc::ResponseOp::Range(r) => Response::ResponseRange(range_response(r)),
                    mvcc::ResponseOp::Put(r) => Response::ResponsePut(put_response(r)),
                    mvcc::ResponseOp::DeleteRange(r) => {
                        Response::ResponseDeleteRange(delete_range_response(r))
                    }
                    mvcc::ResponseOp::Txn(r) => Response::ResponseTxn(txn_response(r)),
                }),
            })
            .collect(),
    }
}

/// The mvcc command a logged `keelpb.Command` asks for, or `None` for
/// requests the store does not handle (alarms).
pub fn command(
    command: &keel_proto::keelpb::Command,
) -> Result<Option<mvcc::Command>, ConvertError> {
    use keel_proto::keelpb::command::Request;
    Ok(match &command.request {
        Some(Request::Put(put)) => Some(mvcc::Command::Put(put_request(put))),
        Some(Request::DeleteRange(delete)) => {
            Some(mvcc::Command::DeleteRange(delete_range_request(delete)))
        }
        Some(Request::Txn(txn)) => Some(mvcc::Command::Txn(txn_request(txn)?)),
        Some(Request::Compaction(compaction)) => Some(mvcc::Command::Compact(compaction.revision)),
        Some(Request::LeaseGrant(grant)) => Some(mvcc::Command::LeaseGrant(mvcc::LeaseGrant {
            id: grant.id,
            ttl_secs: grant.ttl,
        })),
        Some(Request::LeaseRevoke(revoke)) => Some(mvcc::Command::LeaseRevoke(revoke.id)),
        Some(Request::LeaseCheckpoint(checkpoint)) => Some(mvcc::Command::LeaseCheckpoint(
            checkpoint
                .checkpoints
                .iter()
                .map(|c| mvcc::LeaseCheckpoint {
                    id: c.id,
                    remaining_ttl_secs: c.remaining_ttl,
                })
                .collect(),
        )),
        Some(Request::Alarm(_)) | None => None,
    })
}
