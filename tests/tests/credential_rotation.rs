//! The runbook's operator-credential rotation drill, run as written against a node
//! that a client keeps committing to: no request fails during the rotation, the new
//! token works from the first SIGHUP and the old one is refused from the second.
//!
//! proves: F11, F12
#![cfg(not(madsim))]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use psionic_core::state::ClusterCommand;
use psionic_net::api::Client;
use psionic_tests::runbook::{run_as_written, runbook_blocks};
use psionic_tests::{NodeProcess, init_node, node_cli, wait_until, write_token, write_voter_config};

#[test]
fn a_client_keeps_committing_while_its_credential_is_rotated() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let credentials = dir.join("credentials.toml");
    let old_token = dir.join("deploy-2026a.token");
    let (code, out, err) = node_cli(&[
        "credential",
        "add",
        "--file",
        credentials.to_str().unwrap(),
        "--id",
        "deploy-2026a",
        "--scope",
        "operate",
        "--token-out",
        old_token.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    write_token(&dir.join("token"), "the lab's admission token, 2026\n");
    let id = init_node(&dir.join("n1"));
    let config = write_voter_config(dir, "n1", &[], "token", std::slice::from_ref(&id));
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen(
        "[trust]",
        "operator_credentials_file = \"credentials.toml\"\n\n[trust]",
        1,
    );
    std::fs::write(&config, text).unwrap();
    let node = NodeProcess::start(&config).unwrap();
    let api = node.listening.operator_addr;
    let read = |path: &std::path::Path| std::fs::read_to_string(path).unwrap().trim().to_owned();
    let policy = |n: u64| ClusterCommand::SetPolicy {
        name: format!("rotation-{n}"),
        document: vec![1],
    };
    // The status a command committed with `token` is answered with (0: no answer).
    let status_as = move |token: &str, n: u64| {
        let answer = Client::new(api).with_bearer(token).command(&policy(n));
        answer.map_or(0, |answer| answer.status)
    };
    wait_until(Duration::from_secs(20), "the old token commits", || {
        status_as(&read(&old_token), 0) == 200
    });

    let token = Arc::new(Mutex::new(read(&old_token)));
    let (stop, committed, failures) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let client = {
        let (token, stop, committed, failures) = (token.clone(), stop.clone(), committed.clone(), failures.clone());
        std::thread::spawn(move || {
            let mut n = 1;
            while !stop.load(Ordering::Relaxed) {
                let bearer = token.lock().unwrap().clone();
                let answer = Client::new(api).with_bearer(&bearer).command(&policy(n));
                match answer {
                    Ok(answer) if answer.status == 200 => {
                        committed.fetch_add(1, Ordering::Relaxed);
                    }
                    answer => failures.lock().unwrap().push(format!("{answer:?}")),
                }
                n += 1;
            }
        })
    };
    let blocks = runbook_blocks("## Rotate an operator credential");
    let pid = node.pid().to_string();
    run_as_written(dir, &blocks[0].replace("<pid>", &pid));
    let new_token = read(&dir.join("deploy-2026b.token"));
    wait_until(Duration::from_secs(10), "the new token commits", || {
        status_as(&new_token, 0) == 200
    });
    *token.lock().unwrap() = new_token;
    run_as_written(dir, &blocks[1].replace("<pid>", &pid));
    wait_until(Duration::from_secs(10), "the old token is refused", || {
        status_as(&read(&old_token), 0) == 401
    });
    let before = committed.load(Ordering::Relaxed);
    wait_until(Duration::from_secs(10), "the client commits after the rotation", || {
        committed.load(Ordering::Relaxed) > before + 5
    });
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    assert!(failures.lock().unwrap().is_empty(), "{:?}", failures.lock().unwrap());
}
