"""Two network namespaces for proxy tests: a "node" and a "container" behind it.

``Pair`` builds, on this machine only (root needed):

- ``<prefix>-node`` with ``lo`` up and veth ``px0`` at 10.77.0.1/24 (the node IP), its default
  route pointing at the container namespace (so a portal IP is routable from the node, as on a
  real node with a default route; a packet no rule catches dies in the container namespace);
- ``<prefix>-ctr`` with ``lo`` up and ``px1`` at 10.77.0.2/24, default route via the node, as a
  container behind its bridge;
- ip_forward off in both (a new namespace may copy the host's), so nothing is ever routed on.

No interface of either namespace reaches the root namespace: every address used by the tests
exists only inside them. ``run``/``popen`` execute a command inside one (``nsenter --net``);
``close`` kills what still runs in them and deletes both, also after a failed set-up.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence

NODE_IP = "10.77.0.1"
CTR_IP = "10.77.0.2"
_counter = itertools.count(1)


def missing_prerequisite() -> str:
    if os.geteuid() != 0:
        return "needs root (network namespaces, nftables)"
    for tool in ("ip", "nsenter", "curl", "nft"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return ""


def _sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {res.stderr.strip()}")
    return res


class Pair:
    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix or f"mk8s-px{os.getpid()}-{next(_counter)}"
        self.node = f"{self.prefix}-node"
        self.ctr = f"{self.prefix}-ctr"
        self._made: list[str] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        for ns in (self.node, self.ctr):
            _sh("ip", "netns", "add", ns)
            self._made.append(ns)
            _sh("ip", "-n", ns, "link", "set", "lo", "up")
        _sh("ip", "link", "add", "px0", "netns", self.node, "type", "veth",
            "peer", "name", "px1", "netns", self.ctr)
        _sh("ip", "-n", self.node, "addr", "add", f"{NODE_IP}/24", "dev", "px0")
        _sh("ip", "-n", self.ctr, "addr", "add", f"{CTR_IP}/24", "dev", "px1")
        _sh("ip", "-n", self.node, "link", "set", "px0", "up")
        _sh("ip", "-n", self.ctr, "link", "set", "px1", "up")
        _sh("ip", "-n", self.node, "route", "add", "default", "via", CTR_IP)
        _sh("ip", "-n", self.ctr, "route", "add", "default", "via", NODE_IP)
        for ns in (self.node, self.ctr):
            self.run(ns, ["sysctl", "-qw", "net.ipv4.ip_forward=0"])

    @staticmethod
    def nsenter(ns: str) -> list[str]:
        return ["nsenter", f"--net=/var/run/netns/{ns}"]

    def run(self, ns: str, argv: Sequence[str], *, check: bool = True, timeout: float = 30,
            stdin: str = "") -> subprocess.CompletedProcess[str]:
        res = subprocess.run([*self.nsenter(ns), *argv], input=stdin, capture_output=True,
                             text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise RuntimeError(f"[{ns}] {' '.join(argv)} -> {res.returncode}: "
                               f"{res.stderr.strip()[-2000:]}")
        return res

    def popen(self, ns: str, argv: Sequence[str], **kw: object) -> subprocess.Popen[str]:
        return subprocess.Popen([*self.nsenter(ns), *argv], text=True, **kw)  # type: ignore[call-overload, no-any-return]

    def curl(self, ns: str, url: str, *, timeout: float = 5) -> subprocess.CompletedProcess[str]:
        """curl inside ``ns``; returncode 7 = refused, 56 = reset, 28 = timed out."""
        return self.run(ns, ["curl", "-sS", "--max-time", str(timeout), url], check=False,
                        timeout=timeout + 5)

    def nft_table(self, table: str = "minikube8s") -> str:
        """``nft list table ip <table>`` in the node namespace ("" when absent)."""
        res = self.run(self.node, ["nft", "list", "table", "ip", table], check=False)
        return res.stdout if res.returncode == 0 else ""

    def close(self) -> None:
        for ns in reversed(self._made):
            pids = _sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            if pids:
                time.sleep(0.2)
            _sh("ip", "netns", "del", ns, check=False)
        self._made.clear()
