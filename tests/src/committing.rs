//! A client that keeps committing through a node while an operator drill runs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use psionic_core::state::ClusterCommand;
use psionic_core::{NodeStatus, RefusalKind};

use crate::wait_until;

/// A client committing policy writes through `api` until stopped; what it saw.
#[derive(Debug)]
pub struct Client {
    stop: Arc<AtomicBool>,
    committed: Arc<AtomicU64>,
    failures: Arc<Mutex<Vec<String>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Client {
    /// Starts committing through `api`.
    pub fn start(api: std::net::SocketAddr) -> Self {
        let (stop, committed, failures) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(Mutex::new(Vec::new())),
        );
        let thread = {
            let (stop, committed, failures) = (stop.clone(), committed.clone(), failures.clone());
            std::thread::spawn(move || {
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let policy = ClusterCommand::SetPolicy {
                        name: format!("rotation-{}", n % 8),
                        document: vec![1],
                    };
                    match crate::client(api).command(&policy) {
                        Ok(answer) if answer.status == 200 => committed.fetch_add(1, Ordering::Relaxed),
                        answer => {
                            failures.lock().unwrap().push(format!("{answer:?}"));
                            0
                        }
                    };
                }
            })
        };
        Self {
            stop,
            committed,
            failures,
            thread,
        }
    }

    /// Commands committed so far.
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// Waits until more than five more commands committed.
    pub fn await_progress(&self, what: &str) {
        let before = self.committed();
        wait_until(Duration::from_secs(10), what, || self.committed() > before + 5);
    }

    /// Stops; the commands committed, and every failure seen.
    pub fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        let failures = self.failures.lock().unwrap().clone();
        (self.committed.load(Ordering::Relaxed), failures)
    }
}

/// How many frames of `kind` the node whose status is `status` refused.
pub fn refusals(status: &NodeStatus, kind: RefusalKind) -> u64 {
    status.refusals.get(kind)
}
