//! The README's "Run a real node" commands, run as written in a fresh directory: the
//! node founds its own cluster and leads, and the example command commits.
#![cfg(not(madsim))]

use std::process::Command;

use psionic_tests::node_binary;

/// The first `sh` block after `heading` in `text`.
fn sh_block_after(text: &str, heading: &str) -> String {
    let section = &text[text.find(heading).expect("the heading")..];
    let start = section.find("```sh\n").expect("an sh block") + "```sh\n".len();
    let end = section[start..].find("```").expect("the block's end");
    section[start..start + end].to_owned()
}

#[test]
fn the_readme_node_founds_its_cluster_and_commits_the_example_command() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let block = sh_block_after(&readme, "## Run a real node");
    let build = "cargo build --release -p psionic-net\n";
    let run = "target/release/psionic-node run --config n1.toml\n";
    assert!(block.starts_with(build), "the block builds the binary first:\n{block}");
    assert!(block.contains(run), "the block runs the node:\n{block}");
    // The binary is already built (by this test, in its own profile); the node runs in
    // the background until the block's last command is done.
    let script = block.replacen(build, "", 1).replacen(
        run,
        "target/release/psionic-node run --config n1.toml > node.out 2> node.err &\nNODE=$!\n\
         for _ in $(seq 100); do curl -sf http://127.0.0.1:7480/v1/status > /dev/null && break; sleep 0.1; done\n",
        1,
    ) + "\nkill -TERM $NODE\nwait $NODE\n";
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("target/release")).unwrap();
    std::os::unix::fs::symlink(node_binary(), dir.path().join("target/release/psionic-node")).unwrap();
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("\"outcome\":\"committed\""),
        "the example command commits: {stdout}"
    );
    assert!(stdout.contains("psionic_term"), "the metrics are served: {stdout}");
}

#[test]
fn the_readme_serves_the_test_model_with_its_two_commands() {
    use std::io::BufRead as _;

    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let block = sh_block_after(&readme, "## Serve a model");
    let lines: Vec<&str> = block.lines().collect();
    let [make, demo] = lines[..] else {
        panic!("two commands:\n{block}")
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("target/release")).unwrap();
    std::os::unix::fs::symlink(node_binary(), dir.path().join("target/release/psionic-node")).unwrap();
    let made = Command::new("bash")
        .args(["-euo", "pipefail", "-c", make])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let digest = String::from_utf8_lossy(&made.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    // The demo runs until Ctrl-C: `exec` makes the shell the demo, so it gets the signal.
    let mut running = Command::new("bash")
        .args(["-c", &format!("exec {demo}")])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let mut lines = std::io::BufReader::new(running.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.starts_with("running");
        seen.push(line);
        if done {
            break;
        }
    }
    let pid = running.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(running.wait().unwrap().success(), "{rest:?}");
    let served = seen
        .iter()
        .find(|line| line.starts_with("served"))
        .unwrap_or_else(|| panic!("{seen:#?}"));
    assert!(
        served.contains(&digest) && served.contains("\"hello cluster\" -> "),
        "{served}"
    );
    assert!(
        seen.iter()
            .any(|line| line.starts_with("serve     curl") && line.contains(&digest)),
        "{seen:#?}"
    );
}
