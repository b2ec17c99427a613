//! Churn on an unreliable network, as MIT 6.824 lab 2C tests it: nodes crash, restart
//! and are cut off at random while every live node is asked to propose, with loss, and
//! (in the last test) packets held back and delivered twice. Whatever any node applied
//! agrees everywhere, and every acknowledged proposal survives.
//!
//! proves: F3, F5

mod harness;

use harness::checks::{
    agreed_history, assert_acknowledged_entries_kept, assert_live_nodes_converged, assert_no_safety_alarm, commit_one,
};
use harness::{Harness, mesh_configs};
use psionic_core::RefusalKind;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

const SERVERS: usize = 5;

/// Asks every live node to propose (followers refuse at once).
fn propose_everywhere(harness: &mut Harness) {
    for index in 0..SERVERS {
        if !harness.down.contains(&index) {
            let _ = harness.propose_on(index);
        }
    }
}

/// True with probability `per_mille` / 1000.
fn chance(rng: &mut ChaCha8Rng, per_mille: u32) -> bool {
    rng.next_u32() % 1_000 < per_mille
}

/// Heals, restarts every crashed node and commits one more proposal on all of them.
fn restore_everyone(harness: &mut Harness) {
    harness.heal();
    for index in 0..SERVERS {
        if harness.down.contains(&index) {
            harness.reboot(index);
        }
    }
    commit_one(harness, SERVERS, 20_000);
}

/// The checks every churn test ends with; returns how many proposals were acknowledged.
fn assert_churn_safe(harness: &Harness) -> usize {
    assert_no_safety_alarm(harness);
    assert!(agreed_history(harness).len() >= 20, "too little was committed");
    let acknowledged = assert_acknowledged_entries_kept(harness);
    assert_live_nodes_converged(harness);
    acknowledged
}

#[test]
fn unreliable_churn_crashes_restarts_and_cuts_keep_every_acknowledged_proposal() {
    // 6.824 TestUnreliableChurn2C; Raft §5.4 (safety) and §5.5 (crashes).
    let mut harness = Harness::new(mesh_configs(SERVERS), 401);
    harness.loss_ppm = 100_000;
    let mut rng = ChaCha8Rng::seed_from_u64(401);
    let (mut crashes, mut cuts) = (0, 0);
    for _ in 0..60 {
        let index = rng.next_u32() as usize % SERVERS;
        if chance(&mut rng, 200) {
            harness.isolate(index);
            cuts += 1;
        }
        let index = rng.next_u32() as usize % SERVERS;
        if chance(&mut rng, 500) {
            if harness.down.contains(&index) {
                harness.reboot(index);
            }
            harness.reconnect(index);
        }
        let index = rng.next_u32() as usize % SERVERS;
        if chance(&mut rng, 200) && !harness.down.contains(&index) {
            harness.crash(index);
            crashes += 1;
        }
        for _ in 0..7 {
            propose_everywhere(&mut harness);
            harness.run_until_ms(harness.now.as_millis() + 100);
        }
    }
    harness.loss_ppm = 0;
    restore_everyone(&mut harness);
    assert!(crashes >= 5 && cuts >= 5, "{crashes} crashes, {cuts} cuts");
    assert!(harness.faults.lost > 100, "{:?}", harness.faults);
    assert!(assert_churn_safe(&harness) >= 20);
}

#[test]
fn reordered_duplicated_and_lost_packets_never_make_nodes_disagree() {
    // Raft §2 (safety despite packet loss, duplication and reordering), with the
    // leader cut off now and then, so that late packets of old terms arrive.
    let mut harness = Harness::new(mesh_configs(SERVERS), 402);
    harness.loss_ppm = 50_000;
    harness.reorder_ppm = 100_000;
    harness.duplicate_ppm = 100_000;
    let mut rng = ChaCha8Rng::seed_from_u64(402);
    for round in 0..60 {
        if round % 10 == 5
            && let Some(leader) = harness.leaders().first().copied()
        {
            harness.isolate(leader);
        }
        if round % 10 == 8 {
            harness.heal();
        }
        for _ in 0..3 {
            propose_everywhere(&mut harness);
            harness.run_until_ms(harness.now.as_millis() + 50 + rng.next_u64() % 100);
        }
    }
    restore_everyone(&mut harness);
    let faults = harness.faults;
    assert!(
        faults.lost > 100 && faults.reordered > 100 && faults.duplicated > 100,
        "{faults:?}"
    );
    let refused = |kind| -> u64 { harness.nodes.iter().map(|node| node.refusals().get(kind)).sum() };
    assert!(
        refused(RefusalKind::Replay) > 0,
        "duplicates reached the nodes and were refused"
    );
    assert!(
        refused(RefusalKind::StaleTerm) > 0,
        "frames of an older term arrived late"
    );
    assert!(assert_churn_safe(&harness) >= 20);
}
