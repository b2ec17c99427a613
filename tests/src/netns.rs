//! A small lab of Linux network namespaces, one per node, joined by veth pairs to a
//! bridge in a hub namespace, with the test's own (root) namespace on the bridge too
//! so it can reach every node's operator API. Every address is inside 10.77.0.0/16
//! on links the lab creates; the lab is removed when dropped. Faults are the kernel's:
//! nftables rules inside a node's namespace cut its links.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static LABS: AtomicU32 = AtomicU32::new(0);

/// The lab's namespaces and links.
#[derive(Debug)]
pub struct Lab {
    /// Short unique tag (in every name the lab creates).
    tag: String,
    /// Third octet of the lab's /24.
    subnet: u8,
    hub: String,
    nodes: Vec<String>,
}

/// Runs `ip`/`nft` with `args`; the error says what failed.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|error| format!("{program}: {error}"))?;
    match output.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

/// Runs `args` inside namespace `ns`.
fn run_in(ns: &str, program: &str, args: &[&str]) -> Result<(), String> {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    run("ip", &all)
}

/// The tag of a lab of process `pid`: its pid in hex, `s`, its serial (at most 9
/// characters, so every interface name stays within 15).
fn tag_of(pid: u32, serial: u32) -> String {
    format!("{pid:x}s{serial}")
}

/// Removes what labs of processes that are gone left behind (a run killed before its
/// labs were dropped).
fn sweep_stale() {
    let Ok(listed) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    for ns in text.lines().filter_map(|line| line.split_whitespace().next()) {
        let Some(tag) = ns.strip_prefix("pshub") else { continue };
        let alive = tag
            .split_once('s')
            .and_then(|(pid, _)| u32::from_str_radix(pid, 16).ok())
            .is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let prefix = format!("psn{tag}n");
            for stale in text.lines().filter_map(|line| line.split_whitespace().next()) {
                if stale.starts_with(&prefix) {
                    let _ = run("ip", &["netns", "del", stale]);
                }
            }
            let _ = run("ip", &["netns", "del", ns]);
            let _ = run("ip", &["link", "del", &format!("psr{tag}")]);
        }
    }
}

/// A /24 of 10.77.0.0/16 no interface of this namespace uses, from `start` on.
fn free_subnet(start: u32) -> Option<u8> {
    let output = Command::new("ip").args(["-o", "-4", "addr", "show"]).output().ok()?;
    let used = String::from_utf8_lossy(&output.stdout).into_owned();
    (0..250)
        .map(|step| ((start + step) % 250 + 1) as u8)
        .find(|subnet| !used.contains(&format!("10.77.{subnet}.")))
}

impl Lab {
    /// A lab of `nodes` namespaces; `Err` only where none can be made here (not root,
    /// no `ip` or `nft`): a failure past that point panics.
    pub fn create(nodes: usize) -> Result<Self, String> {
        run("nft", &["--version"]).map_err(|error| format!("nftables is missing ({error})"))?;
        sweep_stale();
        let serial = LABS.fetch_add(1, Ordering::Relaxed);
        let tag = tag_of(std::process::id(), serial);
        let subnet = free_subnet(std::process::id() + serial).expect("a free /24 in 10.77.0.0/16");
        let hub = format!("pshub{tag}");
        run("ip", &["netns", "add", &hub]).map_err(|error| format!("no network namespaces ({error})"))?;
        let mut lab = Self {
            hub,
            tag,
            subnet,
            nodes: Vec::new(),
        };
        if let Err(error) = lab.build(nodes) {
            panic!("the lab could not be built: {error}");
        }
        Ok(lab)
    }

    fn build(&mut self, nodes: usize) -> Result<(), String> {
        let hub = self.hub.clone();
        run_in(&hub, "ip", &["link", "add", "br0", "type", "bridge"])?;
        run_in(&hub, "ip", &["link", "set", "br0", "up"])?;
        // The test's own namespace joins the bridge at .254.
        let root = format!("psr{}", self.tag);
        let root_peer = format!("psh{}", self.tag);
        run(
            "ip",
            &["link", "add", &root, "type", "veth", "peer", "name", &root_peer],
        )?;
        run("ip", &["link", "set", &root_peer, "netns", &hub])?;
        run_in(&hub, "ip", &["link", "set", &root_peer, "master", "br0", "up"])?;
        run(
            "ip",
            &["addr", "add", &format!("10.77.{}.254/24", self.subnet), "dev", &root],
        )?;
        run("ip", &["link", "set", &root, "up"])?;
        for index in 0..nodes {
            let ns = format!("psn{}n{index}", self.tag);
            run("ip", &["netns", "add", &ns])?;
            self.nodes.push(ns.clone());
            let (inside, outside) = (format!("psv{}n{index}", self.tag), format!("psb{}n{index}", self.tag));
            run_in(&ns, "ip", &["link", "set", "lo", "up"])?;
            run_in(
                &ns,
                "ip",
                &["link", "add", &inside, "type", "veth", "peer", "name", &outside],
            )?;
            run_in(&ns, "ip", &["link", "set", &outside, "netns", &hub])?;
            run_in(&hub, "ip", &["link", "set", &outside, "master", "br0", "up"])?;
            run_in(
                &ns,
                "ip",
                &["addr", "add", &format!("{}/24", self.addr(index)), "dev", &inside],
            )?;
            run_in(&ns, "ip", &["link", "set", &inside, "up"])?;
        }
        Ok(())
    }

    /// Node `index`'s address.
    pub fn addr(&self, index: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, self.subnet, index as u8 + 1)
    }

    /// Node `index`'s namespace.
    pub fn namespace(&self, index: usize) -> &str {
        &self.nodes[index]
    }

    /// Drops every packet between node `index` and the other nodes, both ways (the
    /// test's own address stays reachable).
    pub fn isolate(&self, index: usize) -> Result<(), String> {
        let others: Vec<String> = (0..self.nodes.len())
            .filter(|other| *other != index)
            .map(|other| self.addr(other).to_string())
            .collect();
        let set = format!("{{ {} }}", others.join(", "));
        let ns = self.namespace(index);
        run_in(ns, "nft", &["add", "table", "inet", "psionic"])?;
        for (chain, hook, field) in [("in", "input", "saddr"), ("out", "output", "daddr")] {
            let spec = format!("{{ type filter hook {hook} priority 0 ; }}");
            run_in(ns, "nft", &["add", "chain", "inet", "psionic", chain, &spec])?;
            run_in(
                ns,
                "nft",
                &["add", "rule", "inet", "psionic", chain, "ip", field, &set, "drop"],
            )?;
        }
        Ok(())
    }

    /// Drops every packet node `index` receives from node `from` (one way: what it
    /// sends still arrives).
    pub fn deafen(&self, index: usize, from: usize) -> Result<(), String> {
        let ns = self.namespace(index);
        let source = self.addr(from).to_string();
        run_in(ns, "nft", &["add", "table", "inet", "psionic"])?;
        let spec = "{ type filter hook input priority 0 ; }";
        run_in(ns, "nft", &["add", "chain", "inet", "psionic", "in", spec])?;
        run_in(
            ns,
            "nft",
            &["add", "rule", "inet", "psionic", "in", "ip", "saddr", &source, "drop"],
        )
    }

    /// Removes node `index`'s rules.
    pub fn heal(&self, index: usize) -> Result<(), String> {
        run_in(self.namespace(index), "nft", &["delete", "table", "inet", "psionic"])
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.nodes.iter().chain([&self.hub]) {
            let _ = run("ip", &["netns", "del", ns]);
        }
        let _ = run("ip", &["link", "del", &format!("psr{}", self.tag)]);
    }
}
