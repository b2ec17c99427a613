//! The load generator: `wrk` with keep-alive connections, its report parsed.

use std::process::Command;
use std::time::Duration;

/// What one `wrk` run measured.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// A request `wrk` repeats: a GET of `path`, or a POST of a JSON `body` to it.
pub struct Request {
    pub url: String,
    pub post_json: Option<String>,
}

/// Whether `wrk` is on the PATH.
pub fn available() -> bool {
    Command::new("wrk").arg("--version").output().is_ok()
}

/// Runs `wrk` with `connections` connections for `duration`; panics if any answer was
/// not a success (a refused or timed-out read would make the rate meaningless).
pub fn run(request: &Request, connections: u32, duration: Duration) -> Load {
    let threads = connections.min(2);
    let script = request.post_json.as_ref().map(|body| {
        let path = std::env::temp_dir().join(format!("psionic-wrk-{}.lua", std::process::id()));
        let lua = format!(
            "wrk.method = \"POST\"\nwrk.body = '{body}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
        );
        std::fs::write(&path, lua).expect("temp dir writable");
        path
    });
    let mut command = Command::new("wrk");
    command.args([
        format!("-t{threads}"),
        format!("-c{connections}"),
        format!("-d{}s", duration.as_secs()),
        "--latency".to_owned(),
    ]);
    if let Some(script) = &script {
        command.arg("-s").arg(script);
    }
    let output = command.arg(&request.url).output().expect("wrk runs");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "wrk failed: {report}");
    assert!(
        !report.contains("Non-2xx") && !report.contains("Socket errors"),
        "some answers to {} were not successes:\n{report}",
        request.url
    );
    parse(&report).unwrap_or_else(|| panic!("unreadable wrk report:\n{report}"))
}

fn parse(report: &str) -> Option<Load> {
    let mut requests_per_s = None;
    let (mut p50_ms, mut p99_ms) = (None, None);
    for line in report.lines() {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Requests/sec:"), Some(rate)) => requests_per_s = rate.parse().ok(),
            (Some("50%"), Some(latency)) => p50_ms = millis(latency),
            (Some("99%"), Some(latency)) => p99_ms = millis(latency),
            _ => {}
        }
    }
    Some(Load {
        requests_per_s: requests_per_s?,
        p50_ms: p50_ms?,
        p99_ms: p99_ms?,
    })
}

/// `wrk`'s latency (`812.00us`, `1.42ms`, `1.01s`) in milliseconds.
fn millis(latency: &str) -> Option<f64> {
    let (number, scale) = if let Some(us) = latency.strip_suffix("us") {
        (us, 0.001)
    } else if let Some(ms) = latency.strip_suffix("ms") {
        (ms, 1.0)
    } else if let Some(s) = latency.strip_suffix('s') {
        (s, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|value| value * scale)
}
