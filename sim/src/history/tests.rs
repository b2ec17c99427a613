//! Histories whose verdicts are known, the register ones of Herlihy and Wing's paper
//! among them.

use super::{KeyValue, KvInput, KvOutput, Operation, Verdict, check};

type Op = Operation<KvInput, KvOutput>;

fn write(client: u64, key: &str, value: &str, call_us: u64, return_us: Option<u64>) -> Op {
    Operation {
        client,
        call_us,
        returned: return_us.map(|at| (at, KvOutput::Written)),
        input: KvInput::Write {
            key: key.into(),
            value: Some(value.into()),
        },
    }
}

fn read(client: u64, key: &str, value: Option<&str>, call_us: u64, return_us: u64) -> Op {
    Operation {
        client,
        call_us,
        returned: Some((return_us, KvOutput::Value(value.map(str::to_owned)))),
        input: KvInput::Read { key: key.into() },
    }
}

fn linearizable(history: &[Op]) -> bool {
    check::<KeyValue>(history) == Verdict::Linearizable
}

#[test]
fn sequential_writes_and_reads_of_what_was_written_are_linearizable() {
    let history = [
        write(1, "p", "a", 0, Some(10)),
        read(2, "p", Some("a"), 20, 30),
        write(1, "p", "b", 40, Some(50)),
        read(2, "p", Some("b"), 60, 70),
    ];
    assert!(linearizable(&history));
}

#[test]
fn a_read_overlapping_a_write_may_see_either_value() {
    for seen in [None, Some("a")] {
        let history = [write(1, "p", "a", 0, Some(100)), read(2, "p", seen, 10, 20)];
        assert!(linearizable(&history), "read {seen:?}");
    }
}

#[test]
fn a_read_after_a_write_returned_that_misses_it_is_stale() {
    let history = [
        write(3, "q", "x", 0, Some(5)),
        write(1, "p", "a", 0, Some(10)),
        read(2, "p", None, 20, 30),
        read(3, "q", Some("x"), 20, 30),
    ];
    let Verdict::NotLinearizable { key, minimal } = check::<KeyValue>(&history) else {
        panic!("a stale read");
    };
    assert_eq!(key, "p");
    assert_eq!(
        minimal,
        vec![history[1].clone(), history[2].clone()],
        "the write and the read"
    );
}

#[test]
fn herlihy_and_wing_two_writes_then_reads_in_the_wrong_order() {
    // Figure 1 of "Linearizability: a correctness condition for concurrent objects":
    // once both writes returned, reads cannot see 2 and then 1.
    let history = [
        write(1, "r", "1", 0, Some(10)),
        write(2, "r", "2", 5, Some(15)),
        read(3, "r", Some("2"), 20, 25),
        read(3, "r", Some("1"), 30, 35),
    ];
    assert!(!linearizable(&history));
    let overlapping_reads = [
        write(1, "r", "1", 0, Some(10)),
        write(2, "r", "2", 5, Some(15)),
        read(3, "r", Some("2"), 8, 25),
        read(4, "r", Some("1"), 9, 12),
    ];
    assert!(
        linearizable(&overlapping_reads),
        "reads overlapping the writes may see 1, then 2"
    );
}

#[test]
fn a_write_whose_outcome_is_unknown_may_have_happened_or_not() {
    for seen in [None, Some("a")] {
        let history = [write(1, "p", "a", 0, None), read(2, "p", seen, 50, 60)];
        assert!(linearizable(&history), "read {seen:?}");
    }
    let flip_flop = [
        write(1, "p", "a", 0, None),
        read(2, "p", Some("a"), 50, 60),
        read(2, "p", None, 70, 80),
    ];
    assert!(!linearizable(&flip_flop), "once seen it stays");
}

#[test]
fn a_long_concurrent_history_is_checked_quickly() {
    let mut history = Vec::new();
    for round in 0..60u64 {
        let at = round * 100;
        history.push(write(1, "p", &round.to_string(), at, Some(at + 150)));
        history.push(read(2, "p", Some(&round.to_string()), at + 120, at + 140));
        history.push(read(3, "p", Some(&round.to_string()), at + 130, at + 160));
    }
    let started = std::time::Instant::now();
    assert!(linearizable(&history));
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
