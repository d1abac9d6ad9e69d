"""kubectl get -w sees changes made by another client (kubectl scale)."""

from __future__ import annotations

import queue
import subprocess
import threading
import time

from .conftest import MANIFESTS
from .kubectl import Kubectl


def _reader(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line.rstrip("\n"))


def _wait_for(lines: queue.Queue[str], seen: list[str], pred: object, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(line)
        if callable(pred) and pred(line):
            return line
    raise AssertionError(f"watch output never matched; got {seen!r}")


def test_get_watch_sees_scale(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "-n", ns, "-f", str(MANIFESTS / "rc.yaml"))
    proc = kubectl.popen("get", "-n", ns, "rc", "shop", "-w")
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_reader, args=(proc, lines), daemon=True).start()
    seen: list[str] = []
    try:
        head = _wait_for(lines, seen, lambda ln: ln.split()[:1] == ["NAME"], 15)
        assert head.split()[:5] == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
        _wait_for(lines, seen, lambda ln: ln.split()[:2] == ["shop", "2"], 15)
        kubectl("scale", "-n", ns, "rc", "shop", "--replicas=7")
        _wait_for(lines, seen, lambda ln: ln.split()[:2] == ["shop", "7"], 15)
        kubectl("label", "-n", ns, "rc", "shop", "seen=yes")
        # Still open: a later change shows up too, and the process has not exited.
        kubectl("scale", "-n", ns, "rc", "shop", "--replicas=3")
        _wait_for(lines, seen, lambda ln: ln.split()[:2] == ["shop", "3"], 15)
        assert proc.poll() is None, (proc.returncode, seen)
    finally:
        proc.kill()
        proc.wait()
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "error" not in err.lower(), err


def test_get_watch_all_namespaces_pods(kubectl: Kubectl, ns: str) -> None:
    proc = kubectl.popen("get", "pods", "-A", "-w", "--output-watch-events")
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_reader, args=(proc, lines), daemon=True).start()
    seen: list[str] = []
    try:
        # No pod anywhere yet: kubectl prints its header with the first event.
        kubectl("create", "-n", ns, "-f", str(MANIFESTS / "pod.yaml"))
        _wait_for(lines, seen, lambda ln: ln.split()[:3] == ["ADDED", ns, "web"], 15)
        assert seen[0].split()[:3] == ["EVENT", "NAMESPACE", "NAME"], seen
        kubectl("delete", "-n", ns, "pod", "web", "--grace-period=0", "--force")
        _wait_for(lines, seen, lambda ln: ln.split()[:3] == ["DELETED", ns, "web"], 15)
    finally:
        proc.kill()
        proc.wait()
