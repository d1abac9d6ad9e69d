"""``minikube8s get`` prints what the real ``kubectl get`` (1.33) prints: same columns, rows and
layout, for pods, replication controllers, services and nodes, in every output form.

Both read the same server-side Tables; what is compared here is the CLI's side of it: column
selection (-o wide), spacing (kubectl's tabwriter), kind prefixes for several kinds,
NAMESPACE for -A, LABELS for --show-labels, -L columns, and -o yaml|json|name|jsonpath. AGE
is computed by the server at each request, so two runs a second apart may differ there: the
comparison is exact when AGE agrees and column by column otherwise.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from tests.compat.kubectl import Kubectl
from tests.fixtures.apiserver import ApiServerProcess

from .conftest import EXAMPLES, Minikube8s

NS = "cmp"

NODE = """apiVersion: v1
kind: Node
metadata:
  name: {name}
  labels:
    kubernetes.io/hostname: {name}
    node-role.kubernetes.io/control-plane: ""
"""


def _patch_status(url: str, path: str, status: dict[str, object]) -> None:
    req = urllib.request.Request(f"{url}{path}/status", method="PATCH",
                                 data=json.dumps({"status": status}).encode(),
                                 headers={"Content-Type": "application/merge-patch+json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


@pytest.fixture(scope="module")
def objects(mk: Minikube8s, apiserver: ApiServerProcess) -> None:
    """Pods (pending and one made Running by hand), RCs, services, and two nodes."""
    mk("create", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n")
    mk("run-container", "nginx", "--image=nginx", "--port=80", "--port=443", "--replicas=6",
       "-n", NS)
    mk("create", "-n", NS, "-f", str(EXAMPLES / "v1" / "nginx-rc.yaml"))
    mk("expose", "rc", "nginx", "--port=80", "--target-port=80", "--service-name=nginx-http",
       "-n", NS)
    mk("create", "-n", NS, "-f", str(EXAMPLES / "v1" / "nginx-service.yaml"))
    mk("create", "-n", NS, "-f", str(EXAMPLES / "v1" / "pod.yaml"))
    for name in ("192.168.0.10", "192.168.0.11"):
        mk("create", "-f", "-", input=NODE.format(name=name))
        _patch_status(apiserver.url, f"/api/v1/nodes/{name}", {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                            "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": name}],
            "nodeInfo": {"kubeletVersion": "v0.17.0", "osImage": "Ubuntu 14.10",
                         "kernelVersion": "3.16.0", "containerRuntimeVersion": "docker://1.6",
                         "machineID": "", "systemUUID": "", "bootID": "",
                         "kubeProxyVersion": "", "operatingSystem": "linux",
                         "architecture": "amd64"}})
    # Bound by hand (no kubelet runs on these nodes), so the scheduler leaves it alone.
    mk("create", "-n", NS, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
        "spec": {"nodeName": "192.168.0.11", "containers": [
            {"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}}))
    # A selector-less service with hand-made endpoints (the endpoints controller leaves
    # those alone), so the ep table has a row with addresses either way.
    mk("create", "-n", NS, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "external-db"},
        "spec": {"ports": [{"port": 80}]}}))
    mk("create", "-n", NS, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "external-db"},
        "subsets": [{"addresses": [{"ip": "172.16.58.4"}, {"ip": "172.16.62.6"}],
                     "ports": [{"port": 80, "protocol": "TCP"}]}]}))
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    mk("create", "-n", NS, "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "web.1"},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": NS},
        "reason": "Scheduled", "message": "Successfully assigned web to 192.168.0.11",
        "type": "Normal", "source": {"component": "default-scheduler"}, "count": 1,
        "firstTimestamp": now, "lastTimestamp": now}))
    _patch_status(apiserver.url, f"/api/v1/namespaces/{NS}/pods/web", {
        "phase": "Running", "podIP": "172.16.58.4", "hostIP": "192.168.0.11",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "web", "ready": True, "restartCount": 2,
                               "image": "nginx", "imageID": "", "started": True,
                               "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]})


def _blocks(out: str) -> list[list[str]]:
    return [b.splitlines() for b in out.strip("\n").split("\n\n")]


def _cells(block: list[str]) -> tuple[list[str], list[list[str]]]:
    """Cut each line at the header's column starts (columns are >= 3 spaces apart)."""
    header = block[0]
    starts = [0] + [m.start() for m in re.finditer(r"(?<=  )\S", header)]
    bounds = [*starts[1:], None]

    def cut(line: str) -> list[str]:
        return [line[a:b].strip() for a, b in zip(starts, bounds, strict=True)]

    return cut(header), [cut(line) for line in block[1:]]


AGE = re.compile(r"^(\d+[smhdy])+$|^<unknown>$")
AGE_COLUMNS = ("AGE", "LAST SEEN")


def assert_same(mine: str, theirs: str) -> None:
    if mine == theirs:
        return
    ours, kube = _blocks(mine), _blocks(theirs)
    assert len(ours) == len(kube), f"minikube8s:\n{mine}\nkubectl:\n{theirs}"
    age_differs = False
    for a, b in zip(ours, kube, strict=True):
        ha, ra = _cells(a)
        hb, rb = _cells(b)
        assert ha == hb, f"minikube8s:\n{mine}\nkubectl:\n{theirs}"
        assert len(ra) == len(rb), f"minikube8s:\n{mine}\nkubectl:\n{theirs}"
        # Ages are read a moment apart, so a second may tick between the two reads.
        ages = [i for i, h in enumerate(ha) if h in AGE_COLUMNS]
        for x, y in zip(ra, rb, strict=True):
            for i in ages:
                assert AGE.match(x[i]) and AGE.match(y[i]), (x, y)
                age_differs |= x[i] != y[i]
            x = [c for i, c in enumerate(x) if i not in ages]
            y = [c for i, c in enumerate(y) if i not in ages]
            assert x == y, f"minikube8s:\n{mine}\nkubectl:\n{theirs}"
    # Same cells but different text only if AGE (and so a column width) differed.
    assert age_differs, f"layout differs\nminikube8s:\n{mine!r}\nkubectl:\n{theirs!r}"


def _settled(out: str) -> list[str]:
    """The listing with ages taken out, to tell whether the objects changed between reads."""
    return re.sub(r"\b(\d+[smhdy])+\b", "", out).split()


def compare(mk: Minikube8s, kubectl: Kubectl, *args: str) -> str:
    # The control plane keeps writing while we read (the scheduler retries the node-less
    # pods and says so in events; the node controller marks the hand-made nodes Unknown), so
    # two reads can see different objects. Compare reads taken while the listing stood still:
    # kubectl's reads just before and just after ours agree. The comparison itself is exact.
    for attempt in range(6):
        before = kubectl(*args)
        mine = mk(*args)
        theirs = kubectl(*args)
        if _settled(before.out) == _settled(theirs.out):
            break
        assert attempt < 5, f"the listing never stood still:\n{before}\n{theirs}"
        time.sleep(1)
    assert mine.err == theirs.err, f"{mine}\n{theirs}"
    if "--no-headers" in args and mine.out != theirs.out:
        # no header to find the AGE column by: it is the last one here
        assert [x.split()[:-1] for x in mine.out.splitlines()] == \
            [x.split()[:-1] for x in theirs.out.splitlines()], f"{mine}\n{theirs}"
        return mine.out
    assert_same(mine.out, theirs.out)
    return mine.out


GETS = [
    ("pods",), ("rc",), ("svc",), ("nodes",),
    ("pods", "-o", "wide"), ("rc", "-o", "wide"), ("svc", "-o", "wide"), ("nodes", "-o", "wide"),
    ("pods", "--show-labels"), ("rc", "--show-labels"), ("services", "--show-labels"),
    ("no", "--show-labels"),
    ("pods,rc,svc",), ("rc,services",), ("po,rc,svc", "-o", "wide"),
    ("rc", "nginx"), ("rc", "nginx", "nginx-controller"), ("pod/web", "svc/nginx"),
    ("pods", "-l", "app=web"), ("rc", "-l", "run-container=nginx"), ("pods", "-L", "app,tier"),
    ("svc", "--no-headers"),
    ("node", "192.168.0.10"), ("all",), ("ns",), ("events",), ("ep",),
]


@pytest.mark.parametrize("args", GETS, ids=lambda a: " ".join(a))
def test_tables_match_kubectl(mk: Minikube8s, kubectl: Kubectl, objects: None,
                              args: tuple[str, ...]) -> None:
    extra = ("-n", NS) if args[0] not in ("nodes", "no", "node") else ()
    out = compare(mk, kubectl, "get", *args, *extra)
    assert out.strip()


def test_all_namespaces_match_kubectl(mk: Minikube8s, kubectl: Kubectl, objects: None) -> None:
    out = compare(mk, kubectl, "get", "svc", "-A")
    assert out.startswith("NAMESPACE ")
    compare(mk, kubectl, "get", "rc", "--all-namespaces", "-o", "wide")


@pytest.mark.parametrize("fmt", ["yaml", "json", "name"])
@pytest.mark.parametrize("what", [("rc",), ("svc", "nginx"), ("pods",), ("nodes",),
                                  ("pods,rc",)], ids=lambda a: " ".join(a))
def test_object_output_matches_kubectl(mk: Minikube8s, kubectl: Kubectl, objects: None,
                                       what: tuple[str, ...], fmt: str) -> None:
    extra = ("-n", NS) if what[0] != "nodes" else ()
    mine = mk("get", *what, *extra, "-o", fmt)
    theirs = kubectl("get", *what, *extra, "-o", fmt)
    assert mine.out == theirs.out


@pytest.mark.parametrize("template", [
    "{.items[*].metadata.name}",
    '{range .items[*]}{.metadata.name}{"\\t"}{.spec.replicas}{"\\n"}{end}',
    "{.items[0].spec.template.spec.containers[*].ports[*].containerPort}",
    '{.items[?(@.metadata.name=="nginx")].spec.selector}',
    "{.items[-1:].metadata.name}",
    "{..image}",
])
def test_jsonpath_matches_kubectl(mk: Minikube8s, kubectl: Kubectl, objects: None,
                                  template: str) -> None:
    mine = mk("get", "rc", "-n", NS, "-o", f"jsonpath={template}")
    theirs = kubectl("get", "rc", "-n", NS, "-o", f"jsonpath={template}")
    assert mine.out == theirs.out


def test_empty_and_missing_match_kubectl(mk: Minikube8s, kubectl: Kubectl,
                                         objects: None) -> None:
    mine, theirs = mk("get", "pods", "-l", "app=none", "-n", NS), kubectl(
        "get", "pods", "-l", "app=none", "-n", NS)
    assert (mine.out, mine.err) == (theirs.out, theirs.err)
    mine, theirs = mk.fail("get", "rc", "nginx", "nope", "-n", NS), kubectl.fail(
        "get", "rc", "nginx", "nope", "-n", NS)
    assert mine.err == theirs.err
    assert_same(mine.out, theirs.out)


def _describe_parts(out: str) -> tuple[str, list[list[str]]]:
    """Everything before Events verbatim; event rows as cells with their AGE masked."""
    head, sep, events = out.partition("\nEvents:")
    rows = [re.split(r"\s{2,}", line.strip()) for line in events.splitlines()[1:]]
    masked = [[("AGE" if i == 2 and AGE.match(c.split(" ")[0]) else c)
               for i, c in enumerate(r)] for r in rows]
    return head + sep + (events.splitlines()[0] if events else ""), masked


@pytest.mark.parametrize("what", [("pod", "web"), ("rc", "nginx"), ("rc", "nginx-controller"),
                                  ("svc", "nginx"), ("svc", "nginx-http"),
                                  ("node", "192.168.0.10")],
                         ids=lambda a: " ".join(a))
def test_describe_matches_kubectl(mk: Minikube8s, kubectl: Kubectl, objects: None,
                                  what: tuple[str, ...]) -> None:
    extra = ("-n", NS) if what[0] != "node" else ()
    mine = mk("describe", *what, *extra).out
    theirs = kubectl("describe", *what, *extra).out
    if mine != theirs:
        assert _describe_parts(mine) == _describe_parts(theirs), \
            f"minikube8s:\n{mine}\nkubectl:\n{theirs}"


@pytest.mark.parametrize("spec", [
    "NAME:.metadata.name,NODE:.spec.nodeName,IMAGES:.spec.containers[*].image",
    "N:metadata.name,LABELS:.metadata.labels,NOPE:.spec.nope",
])
def test_custom_columns_match_kubectl(mk: Minikube8s, kubectl: Kubectl, objects: None,
                                      spec: str) -> None:
    for extra in ((), ("--no-headers",)):
        args = ("get", "pods", "-n", NS, "-o", f"custom-columns={spec}", *extra)
        assert mk(*args).out == kubectl(*args).out
