"""Everything in examples/ runs: each manifest is created with the bundled CLI on a real cluster
(control plane + three hollow nodes, tests/fixtures/cluster.py) and must come up: replication
controllers reach their replicas Ready, pods Running, services get a portal IP from the seed's
PORTAL_NET and endpoints for their ready pods. A new example is picked up automatically; a YAML
file without ``kind`` (a node configuration, say) is not a manifest and is left out.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.cluster import Cluster

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PORTAL_NET = ipaddress.ip_network("192.168.3.0/24")


def manifests() -> dict[Path, list[Path]]:
    """Directory -> the manifests in it."""
    found: dict[Path, list[Path]] = {}
    for path in sorted(EXAMPLES.rglob("*.y*ml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        if docs and all("kind" in d for d in docs):
            found.setdefault(path.parent, []).append(path)
    return found


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def wait_for(check: Any, *, timeout: float = 60, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


EXAMPLE_DIRS = manifests()


@pytest.mark.parametrize("directory", list(EXAMPLE_DIRS),
                         ids=lambda d: str(d.relative_to(EXAMPLES)))
def test_example_runs(directory: Path, hollow_cluster: Cluster) -> None:
    ns = "ex-" + "-".join(directory.relative_to(EXAMPLES).parts).replace("_", "-").lower()
    args = [a for path in EXAMPLE_DIRS[directory] for a in ("-f", str(path))]
    out = subprocess.run(
        [sys.executable, "-m", "minikube8s", "create", *args, "-n", ns,
         "-s", hollow_cluster.url],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    api = f"{hollow_cluster.url}/api/v1/namespaces/{ns}"
    for path in EXAMPLE_DIRS[directory]:
        for doc in yaml.safe_load_all(path.read_text()):
            check_up(api, doc)


def check_up(api: str, doc: dict[str, Any]) -> None:
    kind, name = doc["kind"], doc["metadata"]["name"]
    if kind == "ReplicationController":
        want = doc["spec"].get("replicas", 1)
        wait_for(lambda: get(f"{api}/replicationcontrollers/{name}")["status"]
                 .get("readyReplicas", 0) == want,
                 what=f"rc {name} to have {want} ready replicas")
    elif kind == "Pod":
        wait_for(lambda: get(f"{api}/pods/{name}")["status"].get("phase") == "Running",
                 what=f"pod {name} Running")
    elif kind == "Service":
        svc = get(f"{api}/services/{name}")
        assert ipaddress.ip_address(svc["spec"]["clusterIP"]) in PORTAL_NET
        if svc["spec"].get("selector"):
            wait_for(lambda: any(s.get("addresses") for s in
                                 get(f"{api}/endpoints/{name}").get("subsets") or []),
                     what=f"endpoints of service {name}")
    else:
        get(f"{api}/{kind.lower()}s/{name}")
