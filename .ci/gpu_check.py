"""Checks psionic-node against a real NVIDIA GPU; called by .ci/gpu-check.

inventory NODE: the CUDA inventory psionic-node reads beside nvidia-smi's view (UUID,
name, total memory, compute capability, CUDA version, free memory); fails on any
disagreement.
live NODE: a one-node cluster on loopback with a 1 s device probe; its committed CUDA
readiness must name the GPUs and its free-memory telemetry must follow an allocation
made by another process (PyTorch, when present) and its release; SIGTERM stops it
cleanly.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

MIB = 1 << 20
GIB = 1 << 30


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def nvidia_smi():
    fields = "uuid,name,memory.total,memory.reserved,memory.free,compute_cap"
    out = subprocess.check_output(
        ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"], text=True
    )
    gpus = {}
    for line in out.strip().splitlines():
        uuid, name, total, reserved, free, cap = [part.strip() for part in line.split(",")]
        # The driver's own reservation is not allocatable: the CUDA total excludes it.
        usable = int(total) - int(reserved)
        gpus[uuid] = {"name": name, "total_mib": usable, "free_mib": int(free), "cap": cap}
    banner = subprocess.check_output(["nvidia-smi"], text=True)
    cuda = re.search(r"CUDA Version:\s*([0-9.]+)", banner)
    return gpus, cuda.group(1) if cuda else None


def inventory(node):
    started = time.monotonic()
    ours = json.loads(subprocess.check_output([node, "devices", "--json"], text=True))
    probe_ms = (time.monotonic() - started) * 1000
    if ours.get("cuda") != "ready":
        fail(f"psionic-node says CUDA is not ready: {ours}")
    gpus, cuda_version = nvidia_smi()
    devices = ours["inventory"]["devices"]
    if sorted(d["uuid"] for d in devices) != sorted(gpus):
        fail(f"UUIDs differ: ours {[d['uuid'] for d in devices]}, nvidia-smi {sorted(gpus)}")
    version = ours["inventory"]["driver_version"]
    ours_version = f"{version // 1000}.{version % 1000 // 10}"
    if cuda_version and ours_version != cuda_version:
        fail(f"CUDA version: ours {ours_version}, nvidia-smi {cuda_version}")
    for device in devices:
        theirs = gpus[device["uuid"]]
        cap = "{}.{}".format(*device["compute_capability"])
        total_mib = device["total_memory_bytes"] // MIB
        free_gap_mib = theirs["free_mib"] - device["free_memory_bytes"] // MIB
        print(
            f"{device['uuid']}  {device['name']}  total {total_mib} MiB (nvidia-smi total - reserved {theirs['total_mib']})"
            f"  free {device['free_memory_bytes'] // MIB} MiB (nvidia-smi {theirs['free_mib']})"
            f"  cc {cap} (nvidia-smi {theirs['cap']})"
        )
        if device["name"] != theirs["name"]:
            fail(f"name: ours {device['name']!r}, nvidia-smi {theirs['name']!r}")
        if abs(total_mib - theirs["total_mib"]) > 64:
            fail(f"total memory: ours {total_mib} MiB, nvidia-smi {theirs['total_mib']} MiB")
        if cap != theirs["cap"]:
            fail(f"compute capability: ours {cap}, nvidia-smi {theirs['cap']}")
        # Our probe holds a context while it reads, which nvidia-smi's reading does not.
        if not 0 <= free_gap_mib <= 2048:
            fail(f"free memory: ours {device['free_memory_bytes'] // MIB} MiB, nvidia-smi {theirs['free_mib']} MiB")
    print(f"same {len(devices)} GPU(s); CUDA {ours_version}; one probe (process start included) {probe_ms:.0f} ms")


OPERATOR_TOKEN = "the gpu check's operator token"


def write_private(path, text):
    with open(path, "w") as file:
        file.write(text)
    os.chmod(path, 0o600)


def start_node(node, workdir, artifacts=""):
    out = subprocess.check_output([node, "init", "--data-dir", f"{workdir}/n1"], text=True)
    node_id = re.search(r"node_id\s+([0-9a-f]{32})", out).group(1)
    write_private(f"{workdir}/token", "the gpu check's admission token\n")
    write_private(f"{workdir}/operator-token", OPERATOR_TOKEN)
    config = f"""data_dir = "n1"
operator_token_file = "operator-token"
namespace = "gpu-check"
cluster_genesis = "gpu-check"
role = "both"
discovery_bind = "127.0.0.1:0"
operator_bind = "127.0.0.1:0"
[trust]
posture = "trusted-lan"
admission_token_file = "token"
[devices]
probe_interval_ms = 1000
[consensus]
initial_voters = [{{ node_id = "{node_id}", role = "both" }}]
{artifacts}"""
    with open(f"{workdir}/node.toml", "w") as file:
        file.write(config)
    log = open(f"{workdir}/node.log", "w")
    print(f"node log: {workdir}/node.log")
    command = [node, "run", "--config", f"{workdir}/node.toml"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    listening = json.loads(process.stdout.readline())
    return process, node_id, listening["operator_addr"]


def member(api, node_id):
    with urllib.request.urlopen(f"http://{api}/v1/members", timeout=5) as answer:
        members = json.load(answer)
    return next(m for m in members if m["node_id"] == node_id)


def wait_for(what, check, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found is not None:
            return found
        time.sleep(0.2)
    fail(f"timed out waiting for {what}")


def committed_cuda(api, node_id):
    cuda = member(api, node_id)["backends"].get("cuda", {})
    return cuda.get("ready")


def free_bytes(api, node_id):
    telemetry = member(api, node_id).get("telemetry")
    return telemetry["free_memory_bytes"][0] if telemetry and telemetry["free_memory_bytes"] else None


def follow_an_allocation(api, node_id):
    try:
        import torch
    except ImportError:
        print("no PyTorch here: the allocation check is skipped")
        return
    before = wait_for("free-memory telemetry", lambda: free_bytes(api, node_id))
    held = torch.empty(16 * GIB, dtype=torch.uint8, device="cuda:0")
    started = time.monotonic()
    low = wait_for("telemetry to see 16 GiB taken", lambda: (f if (f := free_bytes(api, node_id)) <= before - 15 * GIB else None))
    seen_ms = (time.monotonic() - started) * 1000
    del held
    torch.cuda.empty_cache()
    after = wait_for("telemetry to see 16 GiB released", lambda: (f if (f := free_bytes(api, node_id)) >= before - GIB else None))
    print(f"free memory telemetry: {before // MIB} MiB, {low // MIB} MiB with 16 GiB held (seen after {seen_ms:.0f} ms), {after // MIB} MiB released")


def live(node):
    workdir = tempfile.mkdtemp(prefix="psionic-gpu-check-")
    process, node_id, api = start_node(node, workdir)
    try:
        ready = wait_for("CUDA readiness committed", lambda: committed_cuda(api, node_id))
        print("committed cuda readiness:", json.dumps(ready["devices"]))
        gpus, _ = nvidia_smi()
        if sorted(d["uuid"] for d in ready["devices"]) != sorted(gpus):
            fail(f"committed devices {ready['devices']} are not nvidia-smi's {sorted(gpus)}")
        follow_an_allocation(api, node_id)
    finally:
        process.terminate()
        code = process.wait(timeout=20)
    if code != 0:
        fail(f"psionic-node run exited {code} on SIGTERM")
    print("node stopped cleanly on SIGTERM")


def post(api, path, body):
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {OPERATOR_TOKEN}"}
    request = urllib.request.Request(f"http://{api}{path}", data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.load(answer)


def resident(api, node_id, digest):
    residency = member(api, node_id).get("artifacts", {}).get(digest)
    return residency if residency == "resident" or (isinstance(residency, dict) and "resident" in residency) else None


def find_list(value, key):
    """The first list under `key` anywhere in `value`."""
    if isinstance(value, dict):
        if isinstance(value.get(key), list):
            return value[key]
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            if (found := find_list(item, key)) is not None:
                return found
    return None


def serve(node):
    """The test model served on CUDA and on the CPU by one node: CUDA committed ready
    with the executor's profile, the same greedy tokens from both, evidence naming
    each backend."""
    workdir = tempfile.mkdtemp(prefix="psionic-gpu-serve-")
    made = subprocess.check_output([node, "model", "make-test", "--out", f"{workdir}/models/test"], text=True)
    digest = re.search(r"[0-9a-f]{64}", made).group(0)
    artifacts = '[artifacts]\ndir = "models"\nscan_interval_ms = 1000\n'
    process, node_id, api = start_node(node, workdir, artifacts)
    try:
        ready = wait_for("CUDA ready with a profile", lambda: (r if (r := committed_cuda(api, node_id)) and r.get("profile", {}).get("lanes") else None), 60)
        print("cuda profile:", json.dumps(ready["profile"]))
        wait_for("the test model resident", lambda: resident(api, node_id, digest), 60)
        answers = {}
        for backend in ["cuda", "cpu"]:
            body = {"model": digest, "backends": [backend], "prompt": "The cluster elects", "max_tokens": 32, "wait": True}
            started = time.monotonic()
            answer = post(api, "/v1/requests", body)
            elapsed_ms = (time.monotonic() - started) * 1000
            text = json.dumps(answer)
            if f'"{backend}"' not in text:
                fail(f"the {backend} answer does not name its backend: {text[:400]}")
            tokens = find_list(answer, "tokens")
            if tokens is None:
                fail(f"the {backend} answer holds no tokens: {text[:400]}")
            print(f"{backend}: {len(tokens)} tokens in {elapsed_ms:.0f} ms")
            answers[backend] = tokens
        if answers["cuda"] != answers["cpu"]:
            fail(f"greedy tokens differ: cuda {answers['cuda']} cpu {answers['cpu']}")
        print("cuda and cpu answered the same 32 greedy tokens")
    finally:
        process.terminate()
        process.wait(timeout=20)


if __name__ == "__main__":
    {"inventory": inventory, "live": live, "serve": serve}[sys.argv[1]](sys.argv[2])
