//! Bugs the simulation found, each kept as the run that found it: a named
//! test on the seed and plan that failed, whatever seeds a sweep is told to
//! run. Each test's first comment tells the story; docs/testing.md lists
//! them under "What it has found".
#![cfg(madsim)]

use keel_sim::{Nemesis, Plan};

/// Runs `plan` on `seed` exactly, and fails with the simulation's report if
/// any check fails.
fn replay(seed: u64, plan: Plan) {
    keel_sim::init_logging();
    let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    match runtime.block_on(keel_sim::run(plan)) {
        Ok(summary) => {
            eprintln!("seed {seed}, {plan:?}: {summary:?}");
            assert!(
                summary.succeeded > 50,
                "too few operations succeeded: {summary:?}"
            );
        }
        Err(failure) => panic!("{failure}"),
    }
}

#[test]
fn a_restarted_leader_never_reuses_its_term_mixed_5_seed_103() {
    // Replicas diverged: two members hashed revision 545 differently, one
    // holding k2=c5-103 at revision 231 and the other k2=c4-104. The Raft
    // checker, run first since, names the cause: two different entries
    // applied at index 374 in term 2. The leader of term 2 had sent entry
    // 374 to its followers before fsyncing it (Raft allows that), a quorum
    // of followers committed it, and the leader was killed. openraft's
    // default `enable_leader_restore` let it come back as leader of term 2
    // straight from its persisted committed vote, with a log that ended at
    // 373; it appended a new proposal at 374 under the same term, and the
    // followers, seeing log id (term 2, index 374) already in their logs,
    // kept theirs. Log ids stopped naming one entry. keeld now turns leader
    // restore off: a restarted leader campaigns in a new term, as in etcd.
    replay(103, Plan::new(5, Nemesis::Mixed));
}

#[test]
fn reads_wait_for_what_a_restarted_leader_had_committed_compaction_3_seed_1() {
    // A linearizable read after a leader's restart returned revision 278
    // after revision 280 had been acknowledged. The leader had resumed its
    // leadership in the same term (the leader restore above), with a commit
    // index lagging what its previous life had committed, and answered a
    // ReadIndex round with it. keeld's read index never falls below the
    // last log index a member started with (Node::read_index); with leader
    // restore off, a restarted leader also has to win a new term and commit
    // in it before it serves reads.
    replay(1, Plan::new(3, Nemesis::Compaction));
}
