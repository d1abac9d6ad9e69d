"""Start-up benchmark (issue 8): time to a working one-node cluster and its memory.

``minikube8s --role ai`` is started as a subprocess on 127.0.0.1 (fresh data dir, embedded
SQLite store, ``--disable proxy`` so nothing touches the host's nftables) and timed from
``Popen`` to

- **API answering**: the first ``/readyz`` that returns 200;
- **node Ready**: the node object's Ready condition True (kubelet started, runtime up,
  registered, first heartbeat);

then its RSS (VmRSS from /proc) **idle** (2 s after Ready) and **with 1,000 pods** (one
ReplicationController of 1,000 replicas on the hollow runtime, waited until all are Running; a
node's podCIDR is a /24, so 250 run on this node's kubelet and the rest on ``minikube8s
hollow-nodes`` in a second process, whose RSS is shown apart). Each figure is printed beside
the floor: ``python -c "import aiohttp, aiodocker, yaml"`` (wall time and peak RSS), what any
asyncio Docker-driving Python program pays before doing anything. With the Docker runtime the
time to Ready is measured too when dockerd answers on /var/run/docker.sock, else that row says
skipped.

Anchors: time to a working cluster k3d 19.9 s, kind 33.0 s, minikube 50.8 s (minikube's own
benchmark); k3s server 512-1,600 MB and the k0s controller 510 MB with no pods. Targets: <= 2 s
to Ready, <= 80 MB RSS idle. A report, not a pass/fail; copy the table into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

PY = sys.executable
PER_NODE = 250
"""Pods per node: a node's podCIDR is a /24 (253 addresses)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def floor() -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of importing aiohttp, aiodocker and yaml."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([PY, "-c", "import aiohttp, aiodocker, yaml"])
    _, status, usage = os.wait4(proc.pid, 0)
    took = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit("the floor's imports failed")
    return took, usage.ru_maxrss / 1024


def get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body = r.read()
    return json.loads(body) if body[:1] in (b"{", b"[") else body.decode()


def post(url: str, obj: dict[str, Any]) -> None:
    req = urllib.request.Request(url, data=json.dumps(obj).encode(),
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()


def node_ready(base: str) -> bool:
    try:
        nodes = get(f"{base}/api/v1/nodes")["items"]
    except (urllib.error.URLError, OSError, ValueError):
        return False
    for n in nodes:
        for c in (n.get("status") or {}).get("conditions") or []:
            if c.get("type") == "Ready" and c.get("status") == "True":
                return True
    return False


class Node:
    def __init__(self, runtime: str, *, max_pods: int = 110) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="mk8s-bench-startup-"))
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.argv = [PY, "-m", "minikube8s", "--role", "ai", "--runtime", runtime,
                     "--data-dir", str(self.dir / "data"), "--insecure-port", str(self.port),
                     "--secure-port", "0", "--bind-address", "127.0.0.1",
                     "--node-ip", "127.0.0.1", "--node-name", "bench-node",
                     "--kubelet-port", str(free_port()), "--disable", "proxy",
                     "--max-pods", str(max_pods), "--log-level", "WARNING"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 60.0) -> tuple[float, float]:
        """Seconds from Popen to API answering and to node Ready."""
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                     stderr=open(self.dir / "log", "wb"))
        api_at = 0.0
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"node exited {self.proc.returncode}; see {self.dir / 'log'}")
            if not api_at:
                try:
                    if get(f"{self.base}/readyz", timeout=1.0) == "ok":
                        api_at = time.perf_counter() - t0
                except (urllib.error.URLError, OSError, ValueError):
                    pass
            if api_at and node_ready(self.base):
                return api_at, time.perf_counter() - t0
            time.sleep(0.01)
        raise SystemExit(f"node not Ready in {timeout}s; see {self.dir / 'log'}")

    def running_pods(self) -> int:
        pods = get(f"{self.base}/api/v1/pods", timeout=30)["items"]
        return sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def docker_answers() -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(2)
            s.connect("/var/run/docker.sock")
            s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
            return b"OK" in s.recv(4096)
    except OSError:
        return False


def rc(replicas: int) -> dict[str, Any]:
    labels = {"app": "bench"}
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": "bench"},
            "spec": {"replicas": replicas, "selector": labels,
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


class Rows:
    def append(self, row: tuple[str, str, str]) -> None:
        print("| " + " | ".join(row) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="start-ups per runtime (median shown)")
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--pods-timeout", type=float, default=900.0)
    args = ap.parse_args()

    floors = [floor() for _ in range(args.runs)]
    floor_t = statistics.median(f[0] for f in floors)
    floor_rss = statistics.median(f[1] for f in floors)

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, median of {args.runs} "
          f"start-ups; this script's peak RSS {peak} MB")
    print()
    print("| Measure | minikube8s | floor (`import aiohttp, aiodocker, yaml`) |")
    print("|---|---|---|", flush=True)
    rows = Rows()
    hollow: list[tuple[float, float]] = []
    for _ in range(args.runs):
        n = Node("hollow")
        try:
            hollow.append(n.start())
        finally:
            n.stop()
    api_t = statistics.median(h[0] for h in hollow)
    ready_t = statistics.median(h[1] for h in hollow)
    rows.append(("API answering, hollow runtime", f"{api_t:.2f} s", f"{floor_t:.2f} s"))
    rows.append(("node Ready, hollow runtime", f"{ready_t:.2f} s", f"{floor_t:.2f} s"))

    if docker_answers():
        dock: list[tuple[float, float]] = []
        for _ in range(args.runs):
            n = Node("docker")
            try:
                dock.append(n.start())
            finally:
                n.stop()
        rows.append(("node Ready, Docker runtime",
                     f"{statistics.median(d[1] for d in dock):.2f} s", f"{floor_t:.2f} s"))
    else:
        rows.append(("node Ready, Docker runtime", "skipped (no dockerd)", ""))

    n = Node("hollow", max_pods=PER_NODE)
    extra: subprocess.Popen[bytes] | None = None
    try:
        n.start()
        assert n.proc is not None
        time.sleep(2.0)
        idle = rss_mb(n.proc.pid)
        rows.append(("RSS idle", f"{idle:.0f} MB", f"{floor_rss:.0f} MB"))
        others = max(0, -(-(args.pods - PER_NODE) // PER_NODE))
        if others:
            # A node's podCIDR is a /24 (253 pod IPs), so the rest run on hollow kubelets in a
            # second process, as the scale benchmark does; the RSS below is the ai process's.
            extra = subprocess.Popen(
                [PY, "-m", "minikube8s", "hollow-nodes", "--count", str(others), "--server",
                 n.base, "--pods", str(PER_NODE), "--node-ip", "127.0.0.1", "--log-level",
                 "WARNING"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.perf_counter() + 60
            while time.perf_counter() < deadline:
                if len(get(f"{n.base}/api/v1/nodes")["items"]) >= others + 1:
                    break
                time.sleep(0.2)
        t0 = time.perf_counter()
        post(f"{n.base}/api/v1/namespaces/default/replicationcontrollers", rc(args.pods))
        deadline = t0 + args.pods_timeout
        running = 0
        while time.perf_counter() < deadline:
            running = n.running_pods()
            if running >= args.pods:
                break
            time.sleep(1.0)
        took = time.perf_counter() - t0
        time.sleep(2.0)
        busy = rss_mb(n.proc.pid)
        mine = sum(1 for p in get(f"{n.base}/api/v1/pods", timeout=30)["items"]
                   if (p.get("spec") or {}).get("nodeName") == "bench-node")
        rows.append((f"RSS with {running:,} pods Running ({mine} on its own kubelet; "
                     f"all Running {took:.1f} s after the RC)",
                     f"{busy:.0f} MB", f"{floor_rss:.0f} MB"))
        if extra is not None:
            rows.append((f"RSS of the hollow-nodes process ({others} nodes)",
                         f"{rss_mb(extra.pid):.0f} MB", ""))
    finally:
        if extra is not None:
            extra.terminate()
            extra.wait(timeout=30)
        n.stop()



if __name__ == "__main__":
    main()
