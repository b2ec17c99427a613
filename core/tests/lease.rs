//! The leader's lease ends before another leader can be elected: a deposed leader
//! never reports itself effective once a newer leader exists.
//!
//! proves: F5

mod harness;

use harness::{Harness, consensus_configs};

#[test]
fn a_cut_off_leader_is_never_effective_once_a_new_leader_exists() {
    for seed in 0..20 {
        let mut harness = Harness::new(consensus_configs(3, 3), 60 + seed);
        let old = harness.await_leader(3_000);
        harness.run_until_ms(harness.now.as_millis() + 1_000);
        assert!(
            harness.nodes[old].consensus().coordinator_view(harness.now).effective,
            "a leader hearing its quorum is effective"
        );
        harness.isolate(old);
        let mut new_leader_seen = false;
        for _ in 0..300 {
            harness.run_until_ms(harness.now.as_millis() + 10);
            let newer = (0..3).any(|index| index != old && harness.nodes[index].consensus().is_leader());
            new_leader_seen |= newer;
            if new_leader_seen {
                let view = harness.nodes[old].consensus().coordinator_view(harness.now);
                assert!(
                    !view.effective,
                    "seed {seed}: the old leader claims an effective lease at {} after a new leader was elected",
                    harness.now
                );
            }
        }
        assert!(new_leader_seen, "seed {seed}: the majority elected a new leader");
    }
}
