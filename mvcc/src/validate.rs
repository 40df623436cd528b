//! Checks a request can be judged on alone, before it reaches consensus:
//! empty keys, `ignore_*` misuse, the max-ops rule and the duplicate-key rule.
//! They follow etcd's `v3rpc` checks, in etcd's order.

use std::collections::HashSet;

use crate::error::MvccError;
use crate::range_bounds::KeyRange;
use crate::types::{
    Command, DeleteRangeRequest, Limits, PutRequest, RangeRequest, RequestOp, TxnRequest,
};

/// Checks a command the way etcd checks it before proposing.
pub fn validate_command(command: &Command, limits: Limits) -> Result<(), MvccError> {
    match command {
        Command::Put(put) => validate_put(put),
        Command::DeleteRange(delete) => validate_delete(delete),
        Command::Txn(txn) => validate_txn(txn, limits),
        Command::Compact(_)
        | Command::LeaseGrant(_)
        | Command::LeaseRevoke(_)
        | Command::LeaseCheckpoint(_) => Ok(()),
    }
}

/// Checks a read.
pub fn validate_range(range: &RangeRequest) -> Result<(), MvccError> {
    if range.key.is_empty() {
        return Err(MvccError::EmptyKey);
    }
    Ok(())
}

fn validate_put(put: &PutRequest) -> Result<(), MvccError> {
    if put.key.is_empty() {
        return Err(MvccError::EmptyKey);
    }
    if put.ignore_value && !put.value.is_empty() {
        return Err(MvccError::ValueProvided);
    }
    if put.ignore_lease && put.lease != 0 {
        return Err(MvccError::LeaseProvided);
    }
    Ok(())
}

fn validate_delete(delete: &DeleteRangeRequest) -> Result<(), MvccError> {
    if delete.key.is_empty() {
        return Err(MvccError::EmptyKey);
    }
    Ok(())
}

/// etcd's `checkTxnRequest` followed by `checkIntervals` on both branches.
pub fn validate_txn(txn: &TxnRequest, limits: Limits) -> Result<(), MvccError> {
    check_txn_shape(txn, limits)?;
    check_intervals(&txn.success)?;
    check_intervals(&txn.failure)?;
    Ok(())
}

fn check_txn_shape(txn: &TxnRequest, limits: Limits) -> Result<(), MvccError> {
    let widest = txn
        .compare
        .len()
        .max(txn.success.len())
        .max(txn.failure.len());
    if widest > limits.max_txn_ops {
        return Err(MvccError::TooManyOps);
    }
    if txn.compare.iter().any(|compare| compare.key.is_empty()) {
        return Err(MvccError::EmptyKey);
    }
    for op in txn.success.iter().chain(&txn.failure) {
        match op {
            RequestOp::Range(range) => validate_range(range)?,
            RequestOp::Put(put) => validate_put(put)?,
            RequestOp::DeleteRange(delete) => validate_delete(delete)?,
            RequestOp::Txn(nested) => check_txn_shape(nested, limits)?,
        }
    }
    Ok(())
}

/// The keys a branch puts and the ranges it deletes, including nested
/// transactions, after checking that no put collides with another put or
/// with a deletion. Puts in the `success` and `failure` branches of one
/// nested transaction may share keys: only one branch runs.
fn check_intervals(ops: &[RequestOp]) -> Result<(HashSet<Vec<u8>>, Vec<KeyRange>), MvccError> {
    let mut deletes: Vec<KeyRange> = ops
        .iter()
        .filter_map(|op| match op {
            RequestOp::DeleteRange(delete) => Some(KeyRange::new(&delete.key, &delete.range_end)),
            _ => None,
        })
        .collect();
    let mut puts: HashSet<Vec<u8>> = HashSet::new();
    let collides =
        |key: &[u8], deletes: &[KeyRange]| deletes.iter().any(|range| range.contains(key));

    for op in ops {
        let RequestOp::Txn(nested) = op else { continue };
        let (puts_then, deletes_then) = check_intervals(&nested.success)?;
        let (puts_else, deletes_else) = check_intervals(&nested.failure)?;
        for key in &puts_then {
            if puts.contains(key) || collides(key, &deletes) {
                return Err(MvccError::DuplicateKey);
            }
            puts.insert(key.clone());
        }
        for key in puts_else {
            let clash = puts.contains(&key) && !puts_then.contains(&key);
            if clash || collides(&key, &deletes) {
                return Err(MvccError::DuplicateKey);
            }
            puts.insert(key);
        }
        deletes.extend(deletes_then);
        deletes.extend(deletes_else);
    }

    for op in ops {
        let RequestOp::Put(put) = op else { continue };
        if puts.contains(&put.key) || collides(&put.key, &deletes) {
            return Err(MvccError::DuplicateKey);
        }
        puts.insert(put.key.clone());
    }
    Ok((puts, deletes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Compare, CompareResult, CompareTarget};

    fn put(key: &str) -> RequestOp {
        RequestOp::Put(PutRequest {
            key: key.into(),
            ..PutRequest::default()
        })
    }

    fn delete(key: &str, end: &str) -> RequestOp {
        RequestOp::DeleteRange(DeleteRangeRequest {
            key: key.into(),
            range_end: end.into(),
            prev_kv: false,
        })
    }

    fn txn(success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
        TxnRequest {
            compare: vec![],
            success,
            failure,
        }
    }

    fn check(request: TxnRequest) -> Result<(), MvccError> {
        validate_command(&Command::Txn(request), Limits::default())
    }

    #[test]
    fn duplicate_puts_and_put_delete_overlaps_are_refused() {
        assert!(matches!(
            check(txn(vec![put("a"), put("a")], vec![])),
            Err(MvccError::DuplicateKey)
        ));
        assert!(matches!(
            check(txn(vec![put("b"), delete("a", "c")], vec![])),
            Err(MvccError::DuplicateKey)
        ));
        // A delete of exactly the key (empty range_end) collides too.
        assert!(matches!(
            check(txn(vec![delete("a", ""), put("a")], vec![])),
            Err(MvccError::DuplicateKey)
        ));
        // "\0" as range_end reaches every later key.
        assert!(matches!(
            check(txn(vec![delete("a", "\0"), put("zz")], vec![])),
            Err(MvccError::DuplicateKey)
        ));
        // Deletes may overlap each other; puts outside every delete are fine.
        check(txn(
            vec![delete("a", "c"), delete("b", "d"), put("d")],
            vec![],
        ))
        .unwrap();
        // Success and failure are separate worlds.
        check(txn(vec![put("a")], vec![put("a")])).unwrap();
    }

    #[test]
    fn nested_transactions_follow_etcds_interval_rules() {
        // The two branches of one nested txn may put the same key.
        let nested = RequestOp::Txn(txn(vec![put("a")], vec![put("a")]));
        check(txn(vec![nested.clone()], vec![])).unwrap();
        // But not a key the outer level puts, nor one it deletes.
        assert!(matches!(
            check(txn(vec![nested.clone(), put("a")], vec![])),
            Err(MvccError::DuplicateKey)
        ));
        assert!(matches!(
            check(txn(vec![delete("a", "b"), nested.clone()], vec![])),
            Err(MvccError::DuplicateKey)
        ));
        // A key put only in a nested else-branch clashes with another nested txn's then-branch.
        let else_only = RequestOp::Txn(txn(vec![], vec![put("k")]));
        let then_only = RequestOp::Txn(txn(vec![put("k")], vec![]));
        assert!(matches!(
            check(txn(vec![then_only, else_only], vec![])),
            Err(MvccError::DuplicateKey)
        ));
        // A nested delete collides with an outer put.
        let nested_delete = RequestOp::Txn(txn(vec![delete("a", "")], vec![]));
        assert!(matches!(
            check(txn(vec![nested_delete, put("a")], vec![])),
            Err(MvccError::DuplicateKey)
        ));
    }

    #[test]
    fn max_ops_counts_the_widest_of_compares_success_and_failure() {
        let limits = Limits { max_txn_ops: 2 };
        let many = txn(vec![put("a"), put("b"), put("c")], vec![]);
        assert!(matches!(
            validate_command(&Command::Txn(many), limits),
            Err(MvccError::TooManyOps)
        ));
        let compare = Compare {
            result: CompareResult::Equal,
            target: CompareTarget::Version(0),
            key: b"k".to_vec(),
            range_end: vec![],
        };
        let guarded = TxnRequest {
            compare: vec![compare.clone(), compare.clone(), compare],
            success: vec![],
            failure: vec![],
        };
        assert!(matches!(
            validate_command(&Command::Txn(guarded), limits),
            Err(MvccError::TooManyOps)
        ));
        let nested_wide = txn(
            vec![RequestOp::Txn(txn(
                vec![put("a"), put("b"), put("c")],
                vec![],
            ))],
            vec![],
        );
        assert!(matches!(
            validate_command(&Command::Txn(nested_wide), limits),
            Err(MvccError::TooManyOps)
        ));
        validate_command(&Command::Txn(txn(vec![put("a"), put("b")], vec![])), limits).unwrap();
    }

    #[test]
    fn empty_keys_and_ignore_flags_are_refused() {
        let limits = Limits::default();
        let empty = PutRequest::default();
        assert!(matches!(
            validate_command(&Command::Put(empty), limits),
            Err(MvccError::EmptyKey)
        ));
        let value = PutRequest {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
            ignore_value: true,
            ..PutRequest::default()
        };
        assert!(matches!(
            validate_command(&Command::Put(value), limits),
            Err(MvccError::ValueProvided)
        ));
        let lease = PutRequest {
            key: b"k".to_vec(),
            lease: 5,
            ignore_lease: true,
            ..PutRequest::default()
        };
        assert!(matches!(
            validate_command(&Command::Put(lease), limits),
            Err(MvccError::LeaseProvided)
        ));
        let nested_empty = txn(vec![RequestOp::Range(RangeRequest::default())], vec![]);
        assert!(matches!(check(nested_empty), Err(MvccError::EmptyKey)));
    }
}
