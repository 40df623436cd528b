//! HashKV agreement: members that report the same revision (and the same
//! compacted revision) must report the same hash of their key space. A
//! difference means two replicas applied different histories — a lost or
//! reordered write, or a divergent apply.

use std::collections::BTreeMap;

use crate::history::HashKvSample;
use crate::Violation;

/// Checks that samples at equal `(revision, compact_revision)` agree.
pub fn check(samples: &[HashKvSample]) -> Result<(), Violation> {
    let mut first: BTreeMap<(i64, i64), &HashKvSample> = BTreeMap::new();
    for sample in samples {
        let at = (sample.revision, sample.compact_revision);
        match first.get(&at) {
            Some(earlier) if earlier.hash != sample.hash => {
                return Err(Violation::new(
                    "hashkv agreement",
                    format!(
                        "members {} and {} hash revision {} (compacted at {}) differently",
                        earlier.member, sample.member, sample.revision, sample.compact_revision
                    ),
                )
                .with_offending([format!("{earlier:?}"), format!("{sample:?}")]));
            }
            Some(_) => {}
            None => {
                first.insert(at, sample);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(member: u64, revision: i64, hash: u32) -> HashKvSample {
        HashKvSample {
            member,
            revision,
            compact_revision: 0,
            hash,
        }
    }

    #[test]
    fn equal_hashes_at_one_revision_agree() {
        assert!(check(&[sample(1, 9, 7), sample(2, 9, 7), sample(3, 9, 7)]).is_ok());
    }

    #[test]
    fn different_revisions_are_not_compared() {
        assert!(check(&[sample(1, 9, 7), sample(2, 10, 8)]).is_ok());
    }

    #[test]
    fn a_replica_that_diverged_is_caught() {
        let violation = check(&[sample(1, 9, 7), sample(2, 9, 7), sample(3, 9, 6)])
            .expect_err("member 3 disagrees");
        assert_eq!(violation.property, "hashkv agreement");
        assert_eq!(violation.offending.len(), 2);
        assert!(violation.message.contains("members 1 and 3"));
    }
}
